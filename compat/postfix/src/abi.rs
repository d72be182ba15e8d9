//! The structures Postfix passes to and reads from libpostfix-tls.so, laid
//! out as on x86-64, for each series whose layout differs (from each
//! release's src/tls/tls.h, src/tls/tls_proxy.h and src/dns/dns.h). Every
//! variant is compiled and its sizes and offsets checked at compile time;
//! the `pf3x` features choose the ones this build uses (the type aliases
//! below). Layouts change only at x.y.0 releases.

#![allow(non_camel_case_types, non_snake_case)]

use std::ffi::{c_char, c_int, c_void};
use std::mem::{offset_of, size_of};

pub type Str = *const c_char;

/// `TLS_SERVER_INIT_PROPS` (160 bytes).
#[repr(C)]
pub struct ServerInitProps {
    pub log_param: Str,
    pub log_level: Str,
    pub verifydepth: c_int,
    pub cache_type: Str,
    pub set_sessid: c_int,
    pub chain_files: Str,
    pub cert_file: Str,
    pub key_file: Str,
    pub dcert_file: Str,
    pub dkey_file: Str,
    pub eccert_file: Str,
    pub eckey_file: Str,
    pub CAfile: Str,
    pub CApath: Str,
    pub protocols: Str,
    pub eecdh_grade: Str,
    pub dh1024_param_file: Str,
    pub dh512_param_file: Str,
    pub ask_ccert: c_int,
    pub mdalg: Str,
}

/// `TLS_SERVER_START_PROPS` of 3.7 and 3.8 (72 bytes).
#[repr(C)]
pub struct ServerStartProps37 {
    pub ctx: *mut c_void,
    pub stream: *mut c_void,
    pub fd: c_int,
    pub timeout: c_int,
    pub requirecert: c_int,
    pub serverid: Str,
    pub namaddr: Str,
    pub cipher_grade: Str,
    pub cipher_exclusions: Str,
    pub mdalg: Str,
}

/// `TLS_SERVER_START_PROPS` of 3.9 and later (72 bytes: `enable_rpk`
/// takes the padding after `requirecert`'s old place).
#[repr(C)]
pub struct ServerStartProps39 {
    pub ctx: *mut c_void,
    pub stream: *mut c_void,
    pub fd: c_int,
    pub timeout: c_int,
    pub enable_rpk: c_int,
    pub requirecert: c_int,
    pub serverid: Str,
    pub namaddr: Str,
    pub cipher_grade: Str,
    pub cipher_exclusions: Str,
    pub mdalg: Str,
}

/// `TLS_CLIENT_INIT_PROPS` (112 bytes).
#[repr(C)]
pub struct ClientInitProps {
    pub log_param: Str,
    pub log_level: Str,
    pub verifydepth: c_int,
    pub cache_type: Str,
    pub chain_files: Str,
    pub cert_file: Str,
    pub key_file: Str,
    pub dcert_file: Str,
    pub dkey_file: Str,
    pub eccert_file: Str,
    pub eckey_file: Str,
    pub CAfile: Str,
    pub CApath: Str,
    pub mdalg: Str,
}

/// `ARGV` (24 bytes).
#[repr(C)]
pub struct Argv {
    pub len: isize,
    pub argc: isize,
    pub argv: *mut *mut c_char,
}

/// `TLS_CLIENT_START_PROPS` of 3.7 and 3.8 (128 bytes).
#[repr(C)]
pub struct ClientStartProps37 {
    pub ctx: *mut c_void,
    pub stream: *mut c_void,
    pub fd: c_int,
    pub timeout: c_int,
    pub tls_level: c_int,
    pub nexthop: Str,
    pub host: Str,
    pub namaddr: Str,
    pub sni: Str,
    pub serverid: Str,
    pub helo: Str,
    pub protocols: Str,
    pub cipher_grade: Str,
    pub cipher_exclusions: Str,
    pub matchargv: *const Argv,
    pub mdalg: Str,
    pub dane: *const Dane,
}

/// `TLS_CLIENT_START_PROPS` of 3.9 (128 bytes: `enable_rpk` before
/// `tls_level`).
#[repr(C)]
pub struct ClientStartProps39 {
    pub ctx: *mut c_void,
    pub stream: *mut c_void,
    pub fd: c_int,
    pub timeout: c_int,
    pub enable_rpk: c_int,
    pub tls_level: c_int,
    pub nexthop: Str,
    pub host: Str,
    pub namaddr: Str,
    pub sni: Str,
    pub serverid: Str,
    pub helo: Str,
    pub protocols: Str,
    pub cipher_grade: Str,
    pub cipher_exclusions: Str,
    pub matchargv: *const Argv,
    pub mdalg: Str,
    pub dane: *const Dane,
}

/// `TLS_CLIENT_START_PROPS` of 3.10 and later (144 bytes: the TLSRPT
/// wrapper and an external policy's forced failure type at the end).
#[repr(C)]
pub struct ClientStartProps310 {
    pub ctx: *mut c_void,
    pub stream: *mut c_void,
    pub fd: c_int,
    pub timeout: c_int,
    pub enable_rpk: c_int,
    pub tls_level: c_int,
    pub nexthop: Str,
    pub host: Str,
    pub namaddr: Str,
    pub sni: Str,
    pub serverid: Str,
    pub helo: Str,
    pub protocols: Str,
    pub cipher_grade: Str,
    pub cipher_exclusions: Str,
    pub matchargv: *const Argv,
    pub mdalg: Str,
    pub dane: *const Dane,
    /// `struct TLSRPT_WRAPPER *` (NULL: no TLSRPT for this session).
    pub tlsrpt: *mut c_void,
    pub ffail_type: *mut c_char,
}

/// `TLS_SESS_STATE` of 3.7 and 3.8 (264 bytes).
#[repr(C)]
pub struct SessState37 {
    pub peer_CN: *mut c_char,
    pub issuer_CN: *mut c_char,
    pub peer_sni: *mut c_char,
    pub peer_cert_fprint: *mut c_char,
    pub peer_pkey_fprint: *mut c_char,
    pub level: c_int,
    pub peer_status: c_int,
    pub protocol: Str,
    pub cipher_name: Str,
    pub cipher_usebits: c_int,
    pub cipher_algbits: c_int,
    pub kex_name: Str,
    pub kex_curve: Str,
    pub kex_bits: c_int,
    pub clnt_sig_name: Str,
    pub clnt_sig_curve: Str,
    pub clnt_sig_bits: c_int,
    pub clnt_sig_dgst: Str,
    pub srvr_sig_name: Str,
    pub srvr_sig_curve: Str,
    pub srvr_sig_bits: c_int,
    pub srvr_sig_dgst: Str,
    pub con: *mut c_void,
    pub cache_type: *mut c_char,
    pub ticketed: c_int,
    pub serverid: *mut c_char,
    pub namaddr: *mut c_char,
    pub log_mask: c_int,
    pub session_reused: c_int,
    pub am_server: c_int,
    pub mdalg: Str,
    pub stream: *mut c_void,
    pub dane: *const Dane,
    pub errorcert: *mut c_void,
    pub errordepth: c_int,
    pub errorcode: c_int,
    pub must_fail: c_int,
}

/// `TLS_SESS_STATE` of 3.9 (272 bytes: whether each side sent a raw
/// public key, after `kex_bits`).
#[repr(C)]
pub struct SessState39 {
    pub peer_CN: *mut c_char,
    pub issuer_CN: *mut c_char,
    pub peer_sni: *mut c_char,
    pub peer_cert_fprint: *mut c_char,
    pub peer_pkey_fprint: *mut c_char,
    pub level: c_int,
    pub peer_status: c_int,
    pub protocol: Str,
    pub cipher_name: Str,
    pub cipher_usebits: c_int,
    pub cipher_algbits: c_int,
    pub kex_name: Str,
    pub kex_curve: Str,
    pub kex_bits: c_int,
    pub ctos_rpk: c_int,
    pub stoc_rpk: c_int,
    pub clnt_sig_name: Str,
    pub clnt_sig_curve: Str,
    pub clnt_sig_bits: c_int,
    pub clnt_sig_dgst: Str,
    pub srvr_sig_name: Str,
    pub srvr_sig_curve: Str,
    pub srvr_sig_bits: c_int,
    pub srvr_sig_dgst: Str,
    pub con: *mut c_void,
    pub cache_type: *mut c_char,
    pub ticketed: c_int,
    pub serverid: *mut c_char,
    pub namaddr: *mut c_char,
    pub log_mask: c_int,
    pub session_reused: c_int,
    pub am_server: c_int,
    pub mdalg: Str,
    pub stream: *mut c_void,
    pub dane: *const Dane,
    pub errorcert: *mut c_void,
    pub errordepth: c_int,
    pub errorcode: c_int,
    pub must_fail: c_int,
}

/// `TLS_SESS_STATE` of 3.10 (280 bytes: `rpt_reported` and `ffail_type`
/// in the private part, at the end).
#[repr(C)]
pub struct SessState310 {
    pub peer_CN: *mut c_char,
    pub issuer_CN: *mut c_char,
    pub peer_sni: *mut c_char,
    pub peer_cert_fprint: *mut c_char,
    pub peer_pkey_fprint: *mut c_char,
    pub level: c_int,
    pub peer_status: c_int,
    pub protocol: Str,
    pub cipher_name: Str,
    pub cipher_usebits: c_int,
    pub cipher_algbits: c_int,
    pub kex_name: Str,
    pub kex_curve: Str,
    pub kex_bits: c_int,
    pub ctos_rpk: c_int,
    pub stoc_rpk: c_int,
    pub clnt_sig_name: Str,
    pub clnt_sig_curve: Str,
    pub clnt_sig_bits: c_int,
    pub clnt_sig_dgst: Str,
    pub srvr_sig_name: Str,
    pub srvr_sig_curve: Str,
    pub srvr_sig_bits: c_int,
    pub srvr_sig_dgst: Str,
    pub con: *mut c_void,
    pub cache_type: *mut c_char,
    pub ticketed: c_int,
    pub serverid: *mut c_char,
    pub namaddr: *mut c_char,
    pub log_mask: c_int,
    pub session_reused: c_int,
    pub am_server: c_int,
    pub mdalg: Str,
    pub stream: *mut c_void,
    pub dane: *const Dane,
    pub errorcert: *mut c_void,
    pub errordepth: c_int,
    pub errorcode: c_int,
    pub must_fail: c_int,
    pub rpt_reported: c_int,
    pub ffail_type: *mut c_char,
}

/// `TLS_SESS_STATE` of 3.11 and later (288 bytes: `rpt_reported` became
/// public, after `srvr_sig_dgst`).
#[repr(C)]
pub struct SessState311 {
    pub peer_CN: *mut c_char,
    pub issuer_CN: *mut c_char,
    pub peer_sni: *mut c_char,
    pub peer_cert_fprint: *mut c_char,
    pub peer_pkey_fprint: *mut c_char,
    pub level: c_int,
    pub peer_status: c_int,
    pub protocol: Str,
    pub cipher_name: Str,
    pub cipher_usebits: c_int,
    pub cipher_algbits: c_int,
    pub kex_name: Str,
    pub kex_curve: Str,
    pub kex_bits: c_int,
    pub ctos_rpk: c_int,
    pub stoc_rpk: c_int,
    pub clnt_sig_name: Str,
    pub clnt_sig_curve: Str,
    pub clnt_sig_bits: c_int,
    pub clnt_sig_dgst: Str,
    pub srvr_sig_name: Str,
    pub srvr_sig_curve: Str,
    pub srvr_sig_bits: c_int,
    pub srvr_sig_dgst: Str,
    pub rpt_reported: c_int,
    pub con: *mut c_void,
    pub cache_type: *mut c_char,
    pub ticketed: c_int,
    pub serverid: *mut c_char,
    pub namaddr: *mut c_char,
    pub log_mask: c_int,
    pub session_reused: c_int,
    pub am_server: c_int,
    pub mdalg: Str,
    pub stream: *mut c_void,
    pub dane: *const Dane,
    pub errorcert: *mut c_void,
    pub errordepth: c_int,
    pub errorcode: c_int,
    pub must_fail: c_int,
    pub ffail_type: *mut c_char,
}

/// `TLS_TLSA` (24 bytes): one TLSA record in a singly linked list.
#[repr(C)]
pub struct Tlsa {
    pub usage: u8,
    pub selector: u8,
    pub mtype: u8,
    pub length: u16,
    pub data: *mut u8,
    pub next: *mut Tlsa,
}

/// `TLS_DANE` (40 bytes).
#[repr(C)]
pub struct Dane {
    pub tlsa: *mut Tlsa,
    pub base_domain: *mut c_char,
    pub flags: c_int,
    pub expires: libc::time_t,
    pub refs: c_int,
}

/// `TLS_CLIENT_PARAMS` of 3.7 (144 bytes).
#[repr(C)]
pub struct ClientParams37 {
    pub cnf_file: Str,
    pub cnf_name: Str,
    pub high_clist: Str,
    pub medium_clist: Str,
    pub low_clist: Str,
    pub export_clist: Str,
    pub null_clist: Str,
    pub eecdh_auto: Str,
    pub eecdh_strong: Str,
    pub eecdh_ultra: Str,
    pub bug_tweaks: Str,
    pub ssl_options: Str,
    pub dane_digests: Str,
    pub mgr_service: Str,
    pub tkt_cipher: Str,
    pub daemon_rand_bytes: c_int,
    pub append_def_CA: c_int,
    pub bc_pkey_fprint: c_int,
    pub preempt_clist: c_int,
    pub multi_wildcard: c_int,
}

/// `TLS_CLIENT_PARAMS` of 3.8 to 3.10 (136 bytes: no low/export lists,
/// an FFDHE group list).
#[repr(C)]
pub struct ClientParams38 {
    pub cnf_file: Str,
    pub cnf_name: Str,
    pub high_clist: Str,
    pub medium_clist: Str,
    pub null_clist: Str,
    pub eecdh_auto: Str,
    pub eecdh_strong: Str,
    pub eecdh_ultra: Str,
    pub ffdhe_auto: Str,
    pub bug_tweaks: Str,
    pub ssl_options: Str,
    pub dane_digests: Str,
    pub mgr_service: Str,
    pub tkt_cipher: Str,
    pub daemon_rand_bytes: c_int,
    pub append_def_CA: c_int,
    pub bc_pkey_fprint: c_int,
    pub preempt_clist: c_int,
    pub multi_wildcard: c_int,
}

/// `TLS_CLIENT_PARAMS` of 3.11 and later (128 bytes: no legacy public key
/// fingerprint switch; the members stay `int`).
#[repr(C)]
pub struct ClientParams311 {
    pub cnf_file: Str,
    pub cnf_name: Str,
    pub high_clist: Str,
    pub medium_clist: Str,
    pub null_clist: Str,
    pub eecdh_auto: Str,
    pub eecdh_strong: Str,
    pub eecdh_ultra: Str,
    pub ffdhe_auto: Str,
    pub bug_tweaks: Str,
    pub ssl_options: Str,
    pub dane_digests: Str,
    pub mgr_service: Str,
    pub tkt_cipher: Str,
    pub daemon_rand_bytes: c_int,
    pub append_def_CA: c_int,
    pub preempt_clist: c_int,
    pub multi_wildcard: c_int,
}

// The layouts of this build's series.
#[cfg(not(feature = "pf39"))]
pub type ServerStartProps = ServerStartProps37;
#[cfg(feature = "pf39")]
pub type ServerStartProps = ServerStartProps39;
#[cfg(not(feature = "pf39"))]
pub type ClientStartProps = ClientStartProps37;
#[cfg(all(feature = "pf39", not(feature = "pf310")))]
pub type ClientStartProps = ClientStartProps39;
#[cfg(feature = "pf310")]
pub type ClientStartProps = ClientStartProps310;
#[cfg(not(feature = "pf39"))]
pub type SessState = SessState37;
#[cfg(all(feature = "pf39", not(feature = "pf310")))]
pub type SessState = SessState39;
#[cfg(all(feature = "pf310", not(feature = "pf311")))]
pub type SessState = SessState310;
#[cfg(feature = "pf311")]
pub type SessState = SessState311;
#[cfg(not(feature = "pf38"))]
pub type ClientParams = ClientParams37;
#[cfg(all(feature = "pf38", not(feature = "pf311")))]
pub type ClientParams = ClientParams38;
#[cfg(feature = "pf311")]
pub type ClientParams = ClientParams311;

/// The series this build implements ("3.7" ... "3.11").
pub const SERIES: &str = env!("POSTFIX_TLS_SERIES");
/// The release it was built for (tools/build: the tree's mail_version).
pub const BUILT_FOR: &str = env!("POSTFIX_TLS_RELEASE");

/// `DNS_RR` of libpostfix-dns (what `tls_dane_resolve` gets from smtp):
/// offsets of the fields read here. 3.7 keeps the data inline after
/// `data_len`; 3.8 added SRV fields (moving `next`) and made `data` a
/// pointer.
pub mod dns_rr {
    pub const QNAME: usize = 0;
    pub const RNAME: usize = 8;
    pub const TYPE: usize = 16;
    pub const TTL: usize = 20;
    pub const DNSSEC_VALID: usize = 24;
    #[cfg(not(feature = "pf38"))]
    pub const NEXT: usize = 32;
    #[cfg(feature = "pf38")]
    pub const NEXT: usize = 40;
    #[cfg(not(feature = "pf38"))]
    pub const DATA_LEN: usize = 40;
    #[cfg(feature = "pf38")]
    pub const DATA_LEN: usize = 48;
    /// 3.7: the data itself is here; 3.8+: a pointer to it.
    #[cfg(not(feature = "pf38"))]
    pub const DATA: usize = 48;
    #[cfg(feature = "pf38")]
    pub const DATA: usize = 56;
    pub const DATA_IS_POINTER: bool = cfg!(feature = "pf38");
    /// `DNS_NOTFOUND` (3.8 inserted a code before it).
    pub const NOTFOUND: i32 = if cfg!(feature = "pf38") { -7 } else { -6 };
}

/// `VSTREAM` offsets this library touches: `buf.flags` and `fd`.
pub const VSTREAM_FLAGS: usize = 0;
pub const VSTREAM_FD: usize = 64;
/// `VSTREAM_FLAG_DEADLINE`: the timeout is a budget for the whole call.
pub const VSTREAM_FLAG_DEADLINE: c_int = 0x2000;

/// Security levels (`TLS_LEV_*`).
pub mod level {
    pub const INVALID: i32 = -2;
    pub const NOTFOUND: i32 = -1;
    pub const NONE: i32 = 0;
    pub const MAY: i32 = 1;
    pub const ENCRYPT: i32 = 2;
    pub const FPRINT: i32 = 3;
    pub const HALF_DANE: i32 = 4;
    pub const DANE: i32 = 5;
    pub const DANE_ONLY: i32 = 6;
    pub const VERIFY: i32 = 7;
    pub const SECURE: i32 = 8;

    /// Names, as `tls_level_lookup` accepts them and `str_tls_level`
    /// prints them.
    pub const NAMES: &[(&str, i32)] = &[
        ("none", NONE),
        ("may", MAY),
        ("encrypt", ENCRYPT),
        ("fingerprint", FPRINT),
        ("halfdane", HALF_DANE),
        ("dane", DANE),
        ("dane-only", DANE_ONLY),
        ("verify", VERIFY),
        ("secure", SECURE),
    ];
}

/// `TLS_LOG_*` bits (as compiled into posttls-finger).
pub mod logbits {
    pub const NONE: i32 = 1 << 0;
    pub const SUMMARY: i32 = 1 << 1;
    pub const UNTRUSTED: i32 = 1 << 2;
    pub const PEERCERT: i32 = 1 << 3;
    pub const CERTMATCH: i32 = 1 << 4;
    pub const VERBOSE: i32 = 1 << 5;
    pub const CACHE: i32 = 1 << 6;
    pub const DEBUG: i32 = 1 << 7;
    pub const TLSPKTS: i32 = 1 << 8;
    pub const ALLPKTS: i32 = 1 << 9;
    pub const DANE: i32 = 1 << 10;
}

macro_rules! check {
    ($t:ty, $size:expr, $( $f:ident = $o:expr ),* $(,)?) => {
        const _: () = {
            assert!(size_of::<$t>() == $size);
            $( assert!(offset_of!($t, $f) == $o); )*
        };
    };
}

check!(
    ServerInitProps,
    160,
    log_param = 0,
    log_level = 8,
    verifydepth = 16,
    cache_type = 24,
    set_sessid = 32,
    chain_files = 40,
    cert_file = 48,
    key_file = 56,
    dcert_file = 64,
    dkey_file = 72,
    eccert_file = 80,
    eckey_file = 88,
    CAfile = 96,
    CApath = 104,
    protocols = 112,
    eecdh_grade = 120,
    dh1024_param_file = 128,
    dh512_param_file = 136,
    ask_ccert = 144,
    mdalg = 152
);
check!(
    ServerStartProps37,
    72,
    ctx = 0,
    stream = 8,
    fd = 16,
    timeout = 20,
    requirecert = 24,
    serverid = 32,
    namaddr = 40,
    cipher_grade = 48,
    cipher_exclusions = 56,
    mdalg = 64
);
check!(
    ClientInitProps,
    112,
    log_param = 0,
    log_level = 8,
    verifydepth = 16,
    cache_type = 24,
    chain_files = 32,
    cert_file = 40,
    key_file = 48,
    dcert_file = 56,
    dkey_file = 64,
    eccert_file = 72,
    eckey_file = 80,
    CAfile = 88,
    CApath = 96,
    mdalg = 104
);
check!(
    ClientStartProps37,
    128,
    ctx = 0,
    stream = 8,
    fd = 16,
    timeout = 20,
    tls_level = 24,
    nexthop = 32,
    host = 40,
    namaddr = 48,
    sni = 56,
    serverid = 64,
    helo = 72,
    protocols = 80,
    cipher_grade = 88,
    cipher_exclusions = 96,
    matchargv = 104,
    mdalg = 112,
    dane = 120
);
check!(Argv, 24, len = 0, argc = 8, argv = 16);
check!(
    SessState37,
    264,
    peer_CN = 0,
    issuer_CN = 8,
    peer_sni = 16,
    peer_cert_fprint = 24,
    peer_pkey_fprint = 32,
    level = 40,
    peer_status = 44,
    protocol = 48,
    cipher_name = 56,
    cipher_usebits = 64,
    cipher_algbits = 68,
    kex_name = 72,
    kex_curve = 80,
    kex_bits = 88,
    clnt_sig_name = 96,
    clnt_sig_curve = 104,
    clnt_sig_bits = 112,
    clnt_sig_dgst = 120,
    srvr_sig_name = 128,
    srvr_sig_curve = 136,
    srvr_sig_bits = 144,
    srvr_sig_dgst = 152,
    con = 160,
    cache_type = 168,
    ticketed = 176,
    serverid = 184,
    namaddr = 192,
    log_mask = 200,
    session_reused = 204,
    am_server = 208,
    mdalg = 216,
    stream = 224,
    dane = 232,
    errorcert = 240,
    errordepth = 248,
    errorcode = 252,
    must_fail = 256
);
check!(
    Tlsa,
    24,
    usage = 0,
    selector = 1,
    mtype = 2,
    length = 4,
    data = 8,
    next = 16
);
check!(
    Dane,
    40,
    tlsa = 0,
    base_domain = 8,
    flags = 16,
    expires = 24,
    refs = 32
);
check!(
    ClientParams37,
    144,
    cnf_file = 0,
    cnf_name = 8,
    high_clist = 16,
    tkt_cipher = 112,
    daemon_rand_bytes = 120,
    append_def_CA = 124,
    bc_pkey_fprint = 128,
    preempt_clist = 132,
    multi_wildcard = 136
);

check!(
    ServerStartProps39,
    72,
    enable_rpk = 24,
    requirecert = 28,
    serverid = 32,
    mdalg = 64
);
check!(
    ClientStartProps39,
    128,
    enable_rpk = 24,
    tls_level = 28,
    nexthop = 32,
    matchargv = 104,
    dane = 120
);
check!(
    ClientStartProps310,
    144,
    enable_rpk = 24,
    tls_level = 28,
    nexthop = 32,
    dane = 120,
    tlsrpt = 128,
    ffail_type = 136
);
macro_rules! check_sess {
    ($t:ty, $size:expr, $shift:expr, $( $f:ident = $o:expr ),* $(,)?) => {
        check!(
            $t,
            $size,
            level = 40,
            peer_status = 44,
            kex_bits = 88,
            ctos_rpk = 92,
            stoc_rpk = 96,
            clnt_sig_name = 104,
            srvr_sig_dgst = 160,
            con = 168 + $shift,
            cache_type = 176 + $shift,
            ticketed = 184 + $shift,
            serverid = 192 + $shift,
            namaddr = 200 + $shift,
            log_mask = 208 + $shift,
            session_reused = 212 + $shift,
            am_server = 216 + $shift,
            mdalg = 224 + $shift,
            stream = 232 + $shift,
            dane = 240 + $shift,
            errorcert = 248 + $shift,
            errordepth = 256 + $shift,
            errorcode = 260 + $shift,
            must_fail = 264 + $shift,
            $( $f = $o ),*
        );
    };
}
check_sess!(SessState39, 272, 0,);
check_sess!(SessState310, 280, 0, rpt_reported = 268, ffail_type = 272);
check_sess!(SessState311, 288, 8, rpt_reported = 168, ffail_type = 280);
check!(
    ClientParams38,
    136,
    null_clist = 32,
    ffdhe_auto = 64,
    tkt_cipher = 104,
    daemon_rand_bytes = 112,
    append_def_CA = 116,
    bc_pkey_fprint = 120,
    preempt_clist = 124,
    multi_wildcard = 128
);
check!(
    ClientParams311,
    128,
    ffdhe_auto = 64,
    daemon_rand_bytes = 112,
    append_def_CA = 116,
    preempt_clist = 120,
    multi_wildcard = 124
);

/// The descriptor of a VSTREAM (`vstream_fileno`).
///
/// # Safety
/// `stream` is a live VSTREAM.
pub unsafe fn stream_fd(stream: *mut c_void) -> c_int {
    *(stream.cast::<u8>().add(VSTREAM_FD).cast::<c_int>())
}

/// Whether the stream has a deadline (timeouts are a budget per call).
///
/// # Safety
/// `stream` is a live VSTREAM.
pub unsafe fn stream_has_deadline(stream: *mut c_void) -> bool {
    *(stream.cast::<u8>().add(VSTREAM_FLAGS).cast::<c_int>()) & VSTREAM_FLAG_DEADLINE != 0
}
