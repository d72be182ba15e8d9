//! The rest of Debian's exports (full replacement only), so that every
//! program linking libpostfix-tls.so starts (they are all BIND_NOW):
//! tlsmgr's PRNG and cache functions, tlsproxy's and the connection
//! cache's `tls_proxy_*` functions, posttls-finger's fingerprint helpers,
//! postconf's version functions, and Debian's internal helpers. What needs
//! OpenSSL's own `SSL *` in `TLS_SESS_STATE.con` (tlsproxy, connection
//! reuse) fails with a warning that says why.

#![allow(clippy::missing_safety_doc)]

use std::ffi::{c_char, c_int, c_long, c_void};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use foreign_types::ForeignTypeRef;
use openssl::hash::MessageDigest;
use openssl::x509::X509Ref;

use crate::abi::{self, ClientParams, SessState};
use crate::pf::{self, str_or_empty};
use crate::sess;

const NULL: *mut c_void = std::ptr::null_mut();

extern "C" {
    fn RAND_seed(buf: *const c_void, num: c_int);
}

/// A warning, once per process and subject.
fn warn_once(flag: &AtomicBool, text: &str) {
    if !flag.swap(true, Ordering::Relaxed) {
        pf::warn(text);
    }
}

const NO_SSL: &str = "needs OpenSSL's SSL object in TLS_SESS_STATE.con, which this TLS library (mtatls) does not expose";

macro_rules! internal {
    ($name:literal) => {{
        static ONCE: AtomicBool = AtomicBool::new(false);
        warn_once(&ONCE, concat!($name, ": internal function of Debian's libpostfix-tls, not provided by this TLS library (mtatls)"));
    }};
}

// --- init, versions --------------------------------------------------

#[no_mangle]
pub extern "C" fn tls_pre_jail_init(_role: c_int) {
    crate::guard("tls_pre_jail_init", (), || {
        crate::globals::get();
    })
}

#[no_mangle]
pub extern "C" fn tls_param_init() {
    crate::guard("tls_param_init", (), || {
        crate::globals::get();
    })
}

/// OpenSSL initialised with `tls_config_file` and `tls_config_name`, as
/// Postfix's does: 1, or 0 (with the warning) when the configuration
/// cannot be loaded.
#[no_mangle]
pub extern "C" fn tls_library_init() -> c_int {
    crate::guard("tls_library_init", 0, || {
        let g = crate::globals::get();
        match mtatls::unstable::init_openssl_config(&g.cnf_file, &g.cnf_name) {
            Ok(()) => 1,
            Err(e) => {
                pf::warn(&e);
                0
            }
        }
    })
}

#[no_mangle]
pub extern "C" fn tls_check_version() {}

#[no_mangle]
pub extern "C" fn tls_compile_version() -> *const c_char {
    concat!(env!("POSTFIX_TLS_OPENSSL_TEXT"), "\0")
        .as_ptr()
        .cast()
}

#[no_mangle]
pub extern "C" fn tls_run_version() -> *const c_char {
    // SAFETY: OpenSSL_version returns a static string.
    unsafe { openssl_sys::OpenSSL_version(openssl_sys::OPENSSL_VERSION) }
}

struct PtrArray([*const c_char; 4]);
// SAFETY: immutable static data.
unsafe impl Sync for PtrArray {}
static PKEY_ALGORITHMS: PtrArray = PtrArray([
    c"dsa".as_ptr(),
    c"ecdsa".as_ptr(),
    c"rsa".as_ptr(),
    std::ptr::null(),
]);

#[no_mangle]
pub extern "C" fn tls_pkey_algorithms() -> *const *const c_char {
    PKEY_ALGORITHMS.0.as_ptr()
}

#[no_mangle]
pub extern "C" fn tls_bug_bits() -> c_long {
    openssl::ssl::SslOptions::ALL.bits() as c_long
}

#[no_mangle]
pub extern "C" fn tls_print_errors() {
    for e in mtatls::unstable::drain_openssl_errors() {
        pf::warn(&format!("TLS library problem: {}", e.postfix_format()));
    }
}

// --- summary, contexts -------------------------------------------------

/// `void tls_log_summary(TLS_ROLE, TLS_USAGE, TLS_SESS_STATE *)`.
#[no_mangle]
pub unsafe extern "C" fn tls_log_summary(role: c_int, usage: c_int, ctx: *const SessState) {
    let Some(s) = ctx.as_ref() else { return };
    crate::guard("tls_log_summary", (), || {
        let sig = |n: abi::Str, c: abi::Str, b: c_int, d: abi::Str| mtatls::Signature {
            name: str_or_empty(n),
            curve: str_or_empty(c),
            bits: b,
            digest: str_or_empty(d),
        };
        let facts = mtatls::Facts {
            am_server: role == 1,
            peer_label: str_or_empty(s.namaddr),
            peer_sni: if role == 1 {
                str_or_empty(s.peer_sni)
            } else {
                String::new()
            },
            protocol: str_or_empty(s.protocol),
            cipher_name: str_or_empty(s.cipher_name),
            cipher_usebits: s.cipher_usebits,
            cipher_algbits: s.cipher_algbits,
            kex_name: str_or_empty(s.kex_name),
            kex_curve: str_or_empty(s.kex_curve),
            kex_bits: s.kex_bits,
            client_sig: sig(
                s.clnt_sig_name,
                s.clnt_sig_curve,
                s.clnt_sig_bits,
                s.clnt_sig_dgst,
            ),
            server_sig: sig(
                s.srvr_sig_name,
                s.srvr_sig_curve,
                s.srvr_sig_bits,
                s.srvr_sig_dgst,
            ),
            peer_status: s.peer_status as u32,
            ..Default::default()
        };
        let mut line = mtatls::unstable::summary_line(&facts);
        if usage == 1 {
            line = line.replacen(" TLS connection established ", " TLS connection reused ", 1);
        }
        pf::info(&line);
    })
}

#[no_mangle]
pub unsafe extern "C" fn tls_free_context(ctx: *mut c_void) {
    if ctx.is_null() {
        return;
    }
    if sess::is_ours(ctx) {
        crate::guard("tls_free_context", (), || sess::free_state(ctx));
    } else {
        pf::warn(
            "tls_free_context: the TLS session context does not come from this library; not freed",
        );
    }
}

#[no_mangle]
pub extern "C" fn tls_alloc_app_context(_ssl_ctx: *mut c_void, _log_mask: c_int) -> *mut c_void {
    internal!("tls_alloc_app_context");
    NULL
}

#[no_mangle]
pub extern "C" fn tls_alloc_sess_context(_log_mask: c_int, _namaddr: *const c_char) -> *mut c_void {
    internal!("tls_alloc_sess_context");
    NULL
}

#[no_mangle]
pub extern "C" fn tls_server_post_accept(_ctx: *mut c_void) -> *mut c_void {
    pf::warn(&format!("tls_server_post_accept: tlsproxy(8) {NO_SSL}"));
    NULL
}

#[no_mangle]
pub extern "C" fn tls_client_post_connect(_ctx: *mut c_void, _props: *const c_void) -> *mut c_void {
    pf::warn(&format!("tls_client_post_connect: tlsproxy(8) {NO_SSL}"));
    NULL
}

#[no_mangle]
pub unsafe extern "C" fn tls_stream_start(stream: *mut c_void, ctx: *mut c_void) {
    if sess::is_ours(ctx) {
        sess::hook(stream, ctx);
    } else {
        pf::warn("tls_stream_start: the TLS session context does not come from this library");
    }
}

#[no_mangle]
pub unsafe extern "C" fn tls_stream_stop(stream: *mut c_void) {
    sess::unhook(stream);
}

// --- certificates and digests (posttls-finger -P) ----------------------

fn digest(mdalg: *const c_char) -> Option<MessageDigest> {
    // SAFETY: NULL or a C string from the caller.
    MessageDigest::from_name(&unsafe { str_or_empty(mdalg) })
}

#[no_mangle]
pub unsafe extern "C" fn tls_cert_fprint(cert: *mut c_void, mdalg: *const c_char) -> *mut c_char {
    let (false, Some(md)) = (cert.is_null(), digest(mdalg)) else {
        return std::ptr::null_mut();
    };
    let cert = X509Ref::from_ptr(cert.cast());
    pf::strdup(&mtatls::unstable::cert_fingerprint(cert, md))
}

/// `char *tls_pkey_fprint(X509 *, const char *mdalg)` (3.7, 3.8): the
/// digest of the certificate's public key.
#[cfg(not(feature = "pf39"))]
#[no_mangle]
pub unsafe extern "C" fn tls_pkey_fprint(cert: *mut c_void, mdalg: *const c_char) -> *mut c_char {
    let (false, Some(md)) = (cert.is_null(), digest(mdalg)) else {
        return std::ptr::null_mut();
    };
    let cert = X509Ref::from_ptr(cert.cast());
    let legacy = crate::globals::get().bc_pkey_fprint;
    pf::strdup(&mtatls::unstable::pkey_fingerprint(cert, md, legacy))
}

/// `char *tls_pkey_fprint(EVP_PKEY *, const char *mdalg)` (3.9+): the
/// digest of the key's DER SubjectPublicKeyInfo.
#[cfg(feature = "pf39")]
#[no_mangle]
pub unsafe extern "C" fn tls_pkey_fprint(key: *mut c_void, mdalg: *const c_char) -> *mut c_char {
    let (false, Some(md)) = (key.is_null(), digest(mdalg)) else {
        return std::ptr::null_mut();
    };
    let key = openssl::pkey::PKeyRef::<openssl::pkey::Public>::from_ptr(key.cast());
    match key
        .public_key_to_der()
        .and_then(|der| openssl::hash::hash(md, &der))
    {
        Ok(d) => pf::strdup(&mtatls::unstable::colon_hex(&d)),
        Err(_) => std::ptr::null_mut(),
    }
}

#[no_mangle]
pub unsafe extern "C" fn tls_digest_encode(buf: *const u8, len: c_int) -> *mut c_char {
    if buf.is_null() || len < 0 {
        return pf::strdup("");
    }
    pf::strdup(&mtatls::unstable::colon_hex(std::slice::from_raw_parts(
        buf,
        len as usize,
    )))
}

#[no_mangle]
pub unsafe extern "C" fn tls_digest_byname(
    name: *const c_char,
    ctxp: *mut *mut c_void,
) -> *const c_void {
    if name.is_null() {
        return std::ptr::null();
    }
    let md = openssl_sys::EVP_get_digestbyname(name);
    if !md.is_null() && !ctxp.is_null() {
        let c = openssl_sys::EVP_MD_CTX_new();
        if !c.is_null() && openssl_sys::EVP_DigestInit_ex(c, md, std::ptr::null_mut()) == 1 {
            *ctxp = c.cast();
        } else {
            openssl_sys::EVP_MD_CTX_free(c);
            *ctxp = NULL;
            return std::ptr::null();
        }
    }
    md.cast()
}

#[no_mangle]
pub unsafe extern "C" fn tls_validate_digest(name: *const c_char) -> c_int {
    (!name.is_null() && !openssl_sys::EVP_get_digestbyname(name).is_null()) as c_int
}

#[no_mangle]
pub unsafe extern "C" fn tls_peer_CN(cert: *mut c_void, ctx: *const SessState) -> *mut c_char {
    if cert.is_null() {
        return pf::strdup("");
    }
    let label = ctx
        .as_ref()
        .map(|s| str_or_empty(s.namaddr))
        .unwrap_or_default();
    pf::strdup(&mtatls::unstable::peer_cn(
        X509Ref::from_ptr(cert.cast()),
        &label,
        &pf::logger(),
    ))
}

#[no_mangle]
pub unsafe extern "C" fn tls_issuer_CN(cert: *mut c_void, ctx: *const SessState) -> *mut c_char {
    if cert.is_null() {
        return pf::strdup("");
    }
    let label = ctx
        .as_ref()
        .map(|s| str_or_empty(s.namaddr))
        .unwrap_or_default();
    pf::strdup(&mtatls::unstable::issuer_cn(
        X509Ref::from_ptr(cert.cast()),
        &label,
        &pf::logger(),
    ))
}

#[no_mangle]
pub unsafe extern "C" fn tls_proto_mask_lims(
    plist: *const c_char,
    floor: *mut c_int,
    ceiling: *mut c_int,
) -> c_int {
    let text = str_or_empty(plist);
    match mtatls::unstable::parse_protocols(&text) {
        Ok(r) => {
            if let Some(f) = floor.as_mut() {
                *f = r.floor.map_or(0, c_int::from);
            }
            if let Some(c) = ceiling.as_mut() {
                *c = r.ceiling.map_or(0, c_int::from);
            }
            r.excluded as c_int
        }
        Err(_) => !0,
    }
}

// --- DANE internals ------------------------------------------------------

#[no_mangle]
pub unsafe extern "C" fn tlsa_prepend(
    head: *mut abi::Tlsa,
    usage: u8,
    selector: u8,
    mtype: u8,
    data: *const u8,
    len: u16,
) -> *mut abi::Tlsa {
    let data = if data.is_null() {
        &[][..]
    } else {
        std::slice::from_raw_parts(data, len as usize)
    };
    crate::dane::prepend(head, usage, selector, mtype, data)
}

#[no_mangle]
pub unsafe extern "C" fn tls_tlsa_free(head: *mut abi::Tlsa) {
    crate::dane::free_list(head)
}

#[no_mangle]
pub extern "C" fn tls_dane_digest_init(_ctx: *mut c_void, _md: *const c_void) {
    internal!("tls_dane_digest_init");
}

#[no_mangle]
pub extern "C" fn tls_dane_enable(_ctx: *mut c_void) -> c_int {
    internal!("tls_dane_enable");
    -1
}

#[no_mangle]
pub extern "C" fn tls_dane_log(_ctx: *mut c_void) {}

// --- Debian-internal OpenSSL helpers -----------------------------------------

#[cfg(not(feature = "pf38"))]
#[no_mangle]
pub extern "C" fn tls_auto_eecdh_curves(_ctx: *mut c_void, _origin: *const c_char) {
    internal!("tls_auto_eecdh_curves");
}

/// 3.8+: `void tls_auto_groups(SSL_CTX *, const char *eecdh, const char
/// *ffdhe)`.
#[cfg(feature = "pf38")]
#[no_mangle]
pub extern "C" fn tls_auto_groups(_ctx: *mut c_void, _eecdh: *const c_char, _ffdhe: *const c_char) {
    internal!("tls_auto_groups");
}

/// 3.9+: `void tls_enable_client_rpk(SSL_CTX *, SSL *)`. Raw public keys
/// need OpenSSL 3.2; without them Postfix does nothing here either.
#[cfg(feature = "pf39")]
#[no_mangle]
pub extern "C" fn tls_enable_client_rpk(_ctx: *mut c_void, _ssl: *mut c_void) {}

/// 3.9+: `void tls_enable_server_rpk(SSL_CTX *, SSL *)`.
#[cfg(feature = "pf39")]
#[no_mangle]
pub extern "C" fn tls_enable_server_rpk(_ctx: *mut c_void, _ssl: *mut c_void) {}

#[no_mangle]
pub unsafe extern "C" fn tls_bio(
    _fd: c_int,
    _timeout: c_int,
    _ctx: *mut c_void,
    _hs: *mut c_void,
    _r: *mut c_void,
    _w: *mut c_void,
    _buf: *mut c_void,
    _num: c_int,
) -> c_int {
    internal!("tls_bio");
    *libc::__errno_location() = libc::ENOTSUP;
    -1
}

#[no_mangle]
pub extern "C" fn tls_bio_dump_cb(
    _bio: *mut c_void,
    _cmd: c_int,
    _argp: *const c_char,
    _len: usize,
    _argi: c_int,
    _argl: c_long,
    ret: c_int,
    _processed: *mut usize,
) -> c_long {
    ret as c_long
}

#[no_mangle]
pub extern "C" fn tls_ext_seed(_n: c_int) -> c_int {
    -1
}

#[no_mangle]
pub extern "C" fn tls_int_seed() {}

#[no_mangle]
pub extern "C" fn tls_get_signature_params(_ctx: *mut c_void) {}

#[no_mangle]
pub extern "C" fn tls_info_callback(_ssl: *const c_void, _where: c_int, _ret: c_int) {}

#[no_mangle]
pub extern "C" fn tls_load_pem_chain(
    _ssl: *mut c_void,
    _pem: *const c_char,
    _origin: *const c_char,
) -> c_int {
    internal!("tls_load_pem_chain");
    -1
}

#[no_mangle]
pub extern "C" fn tls_log_verify_error(_ctx: *mut c_void) {}

#[no_mangle]
pub extern "C" fn tls_serverid_digest(
    _ctx: *mut c_void,
    _props: *const c_void,
    _ciphers: *const c_char,
) -> *mut c_char {
    internal!("tls_serverid_digest");
    std::ptr::null_mut()
}

#[no_mangle]
pub extern "C" fn tls_session_activate(_data: *const c_char, _len: c_int) -> *mut c_void {
    NULL
}

#[no_mangle]
pub extern "C" fn tls_session_passivate(_session: *mut c_void) -> *mut c_void {
    NULL
}

#[no_mangle]
pub extern "C" fn tls_set_ca_certificate_info(
    _ctx: *mut c_void,
    _file: *const c_char,
    _path: *const c_char,
) -> c_int {
    internal!("tls_set_ca_certificate_info");
    -1
}

#[no_mangle]
pub extern "C" fn tls_set_ciphers(
    _app: *mut c_void,
    _context: *const c_char,
    _grade: *const c_char,
    _excl: *const c_char,
) -> *const c_char {
    internal!("tls_set_ciphers");
    std::ptr::null()
}

#[no_mangle]
pub extern "C" fn tls_set_dh_from_file(_path: *const c_char) {
    internal!("tls_set_dh_from_file");
}

#[no_mangle]
pub extern "C" fn tls_set_my_certificate_key_info(
    _ctx: *mut c_void,
    _chain: *const c_char,
    _cert: *const c_char,
    _key: *const c_char,
    _dcert: *const c_char,
    _dkey: *const c_char,
    _eccert: *const c_char,
    _eckey: *const c_char,
) -> c_int {
    internal!("tls_set_my_certificate_key_info");
    -1
}

#[no_mangle]
pub extern "C" fn tls_tmp_dh(_ssl: *mut c_void, _export: c_int, _keylength: c_int) -> *mut c_void {
    NULL
}

#[no_mangle]
pub extern "C" fn tls_verify_certificate_callback(ok: c_int, _store: *mut c_void) -> c_int {
    ok
}

// --- tlsmgr client: no tlsmgr(8) contact; callers turn caching off ------

const MGR_FAIL: c_int = -2;

#[no_mangle]
pub extern "C" fn tls_mgr_seed(_buf: *mut c_void, _len: c_int) -> c_int {
    MGR_FAIL
}

#[no_mangle]
pub unsafe extern "C" fn tls_mgr_policy(
    _cache_type: *const c_char,
    cachable: *mut c_int,
    timeout: *mut c_int,
) -> c_int {
    if let Some(c) = cachable.as_mut() {
        *c = 0;
    }
    if let Some(t) = timeout.as_mut() {
        *t = 0;
    }
    MGR_FAIL
}

#[no_mangle]
pub extern "C" fn tls_mgr_lookup(
    _type: *const c_char,
    _id: *const c_char,
    _out: *mut c_void,
) -> c_int {
    MGR_FAIL
}

#[no_mangle]
pub extern "C" fn tls_mgr_update(
    _type: *const c_char,
    _id: *const c_char,
    _data: *const c_char,
    _len: isize,
) -> c_int {
    MGR_FAIL
}

#[no_mangle]
pub extern "C" fn tls_mgr_delete(_type: *const c_char, _id: *const c_char) -> c_int {
    MGR_FAIL
}

#[no_mangle]
pub extern "C" fn tls_mgr_key(_name: *mut u8, _timeout: c_int) -> *mut c_void {
    NULL
}

// --- tlsmgr(8) server side: entropy sources and the exchange file ------

/// `TLS_PRNG_SRC`: descriptor, name, timeout.
#[repr(C)]
pub struct PrngSrc {
    fd: c_int,
    name: *mut c_char,
    timeout: c_int,
}

unsafe fn prng_open(name: *const c_char, timeout: c_int, flags: c_int) -> *mut PrngSrc {
    if name.is_null() {
        *libc::__errno_location() = libc::EINVAL;
        return std::ptr::null_mut();
    }
    let fd = libc::open(name, flags | libc::O_CLOEXEC, 0o600);
    if fd < 0 {
        return std::ptr::null_mut();
    }
    let s = pf::alloc_zeroed(std::mem::size_of::<PrngSrc>()).cast::<PrngSrc>();
    (*s).fd = fd;
    (*s).name = pf::strdup(&str_or_empty(name));
    (*s).timeout = timeout;
    s
}

unsafe fn prng_close(s: *mut PrngSrc) -> c_int {
    let Some(src) = s.as_mut() else { return -1 };
    let r = libc::close(src.fd);
    pf::free(src.name.cast());
    pf::free(s.cast());
    r
}

/// Read up to `len` bytes (at most 255) within the timeout, seed OpenSSL.
unsafe fn prng_read(s: *mut PrngSrc, len: usize) -> isize {
    let Some(src) = s.as_ref() else { return -1 };
    let mut buf = [0u8; 255];
    let want = len.min(buf.len());
    let mut p = libc::pollfd {
        fd: src.fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = if src.timeout > 0 {
        src.timeout * 1000
    } else {
        -1
    };
    if libc::poll(&mut p, 1, ms) <= 0 {
        *libc::__errno_location() = libc::ETIMEDOUT;
        return -1;
    }
    let n = libc::read(src.fd, buf.as_mut_ptr().cast(), want);
    if n > 0 {
        RAND_seed(buf.as_ptr().cast(), n as c_int);
    }
    n
}

#[no_mangle]
pub unsafe extern "C" fn tls_prng_dev_open(name: *const c_char, timeout: c_int) -> *mut PrngSrc {
    prng_open(name, timeout, libc::O_RDONLY)
}

#[no_mangle]
pub unsafe extern "C" fn tls_prng_dev_read(s: *mut PrngSrc, len: usize) -> isize {
    prng_read(s, len)
}

#[no_mangle]
pub unsafe extern "C" fn tls_prng_dev_close(s: *mut PrngSrc) -> c_int {
    prng_close(s)
}

#[no_mangle]
pub unsafe extern "C" fn tls_prng_file_open(name: *const c_char, timeout: c_int) -> *mut PrngSrc {
    prng_open(name, timeout, libc::O_RDONLY)
}

#[no_mangle]
pub unsafe extern "C" fn tls_prng_file_read(s: *mut PrngSrc, len: usize) -> isize {
    let Some(src) = s.as_ref() else { return -1 };
    let mut total = 0isize;
    let mut buf = [0u8; 4096];
    while (total as usize) < len {
        let want = (len - total as usize).min(buf.len());
        let n = libc::read(src.fd, buf.as_mut_ptr().cast(), want);
        if n <= 0 {
            break;
        }
        RAND_seed(buf.as_ptr().cast(), n as c_int);
        total += n;
    }
    total
}

#[no_mangle]
pub unsafe extern "C" fn tls_prng_file_close(s: *mut PrngSrc) -> c_int {
    prng_close(s)
}

/// EGD sockets are not supported: tlsmgr(8) warns and goes on with the
/// exchange file.
#[no_mangle]
pub unsafe extern "C" fn tls_prng_egd_open(_name: *const c_char, _timeout: c_int) -> *mut PrngSrc {
    pf::warn("tls_prng_egd_open: EGD entropy sources are not supported by this TLS library (mtatls); use tls_random_source = dev:/dev/urandom");
    *libc::__errno_location() = libc::ENOTSUP;
    std::ptr::null_mut()
}

#[no_mangle]
pub unsafe extern "C" fn tls_prng_egd_read(s: *mut PrngSrc, len: usize) -> isize {
    prng_read(s, len)
}

#[no_mangle]
pub unsafe extern "C" fn tls_prng_egd_close(s: *mut PrngSrc) -> c_int {
    prng_close(s)
}

/// `TLS_PRNG_SRC *tls_prng_exch_open(const char *name)`.
#[no_mangle]
pub unsafe extern "C" fn tls_prng_exch_open(name: *const c_char) -> *mut PrngSrc {
    prng_open(name, 0, libc::O_RDWR | libc::O_CREAT)
}

/// Mix the exchange file into OpenSSL's pool and write fresh bytes back,
/// under an exclusive lock.
#[no_mangle]
pub unsafe extern "C" fn tls_prng_exch_update(s: *mut PrngSrc) {
    let Some(src) = s.as_ref() else { return };
    const EXCH: usize = 1024;
    if libc::flock(src.fd, libc::LOCK_EX) != 0 {
        pf::warn(&format!(
            "cannot lock PRNG exchange file {}: {}",
            str_or_empty(src.name),
            std::io::Error::last_os_error()
        ));
        return;
    }
    let mut buf = [0u8; EXCH];
    libc::lseek(src.fd, 0, libc::SEEK_SET);
    let n = libc::read(src.fd, buf.as_mut_ptr().cast(), EXCH);
    if n > 0 {
        RAND_seed(buf.as_ptr().cast(), n as c_int);
    }
    if openssl_sys::RAND_bytes(buf.as_mut_ptr(), EXCH as c_int) == 1 {
        libc::lseek(src.fd, 0, libc::SEEK_SET);
        if libc::write(src.fd, buf.as_ptr().cast(), EXCH) != EXCH as isize {
            pf::warn(&format!(
                "cannot write PRNG exchange file {}: {}",
                str_or_empty(src.name),
                std::io::Error::last_os_error()
            ));
        }
    }
    libc::flock(src.fd, libc::LOCK_UN);
}

#[no_mangle]
pub unsafe extern "C" fn tls_prng_exch_close(s: *mut PrngSrc) {
    prng_close(s);
}

// --- tlsmgr(8) session cache: not provided; tickets keys are -------------

#[no_mangle]
pub unsafe extern "C" fn tls_scache_open(
    dbname: *const c_char,
    label: *const c_char,
    _verbose: c_int,
    _timeout: c_int,
) -> *mut c_void {
    pf::warn(&format!(
        "TLS {} session cache {}: not supported by this TLS library (mtatls): cache disabled",
        str_or_empty(label),
        str_or_empty(dbname)
    ));
    NULL
}

#[no_mangle]
pub extern "C" fn tls_scache_close(_cache: *mut c_void) {}

#[no_mangle]
pub extern "C" fn tls_scache_lookup(
    _cache: *mut c_void,
    _id: *const c_char,
    _out: *mut c_void,
) -> c_int {
    0
}

#[no_mangle]
pub extern "C" fn tls_scache_update(
    _cache: *mut c_void,
    _id: *const c_char,
    _data: *const c_char,
    _len: isize,
) -> c_int {
    0
}

#[no_mangle]
pub extern "C" fn tls_scache_delete(_cache: *mut c_void, _id: *const c_char) -> c_int {
    0
}

#[no_mangle]
pub extern "C" fn tls_scache_sequence(
    _cache: *mut c_void,
    _first_next: c_int,
    _out: *mut *mut c_char,
) -> c_int {
    0
}

/// `TLS_TICKET_KEY`: name[16], bits[32], hmac[32], time_t tout.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct TicketKey {
    name: [u8; 16],
    bits: [u8; 32],
    hmac: [u8; 32],
    tout: libc::time_t,
}

const _: () = assert!(std::mem::size_of::<TicketKey>() == 88);

/// Current and previous ticket keys, as tlsmgr's cache keeps them.
static KEYS: Mutex<[Option<TicketKey>; 2]> = Mutex::new([None, None]);
static mut KEY_OUT: TicketKey = TicketKey {
    name: [0; 16],
    bits: [0; 32],
    hmac: [0; 32],
    tout: 0,
};

/// `TLS_TICKET_KEY *tls_scache_key(unsigned char *name, time_t now, int
/// timeout)`: the current key (name NULL), or the one named.
#[no_mangle]
pub unsafe extern "C" fn tls_scache_key(
    name: *const u8,
    now: libc::time_t,
    timeout: c_int,
) -> *mut TicketKey {
    let Ok(keys) = KEYS.lock() else {
        return std::ptr::null_mut();
    };
    let found = keys.iter().flatten().find(|k| {
        if name.is_null() {
            k.tout > now
        } else {
            std::slice::from_raw_parts(name, 16) == k.name && k.tout + timeout as libc::time_t > now
        }
    });
    match found {
        Some(k) => {
            KEY_OUT = *k;
            std::ptr::addr_of_mut!(KEY_OUT)
        }
        None => std::ptr::null_mut(),
    }
}

/// `TLS_TICKET_KEY *tls_scache_key_rotate(TLS_TICKET_KEY *newkey)`.
#[no_mangle]
pub unsafe extern "C" fn tls_scache_key_rotate(newkey: *const TicketKey) -> *mut TicketKey {
    let Some(k) = newkey.as_ref() else {
        return std::ptr::null_mut();
    };
    if let Ok(mut keys) = KEYS.lock() {
        keys[1] = keys[0];
        keys[0] = Some(*k);
    }
    KEY_OUT = *k;
    std::ptr::addr_of_mut!(KEY_OUT)
}

// --- tlsproxy(8) and connection reuse -----------------------------------

#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn tls_proxy_open(
    _service: *const c_char,
    _flags: c_int,
    _peer: *mut c_void,
    peer_addr: *const c_char,
    peer_port: *const c_char,
    _handshake_timeout: c_int,
    _session_timeout: c_int,
    _serverid: *const c_char,
    _tls_params: *mut c_void,
    _init_props: *mut c_void,
    _start_props: *mut c_void,
) -> *mut c_void {
    let (addr, port) = (str_or_empty(peer_addr), str_or_empty(peer_port));
    pf::warn(&format!(
        "tls_proxy_open: {addr}:{port}: TLS connection reuse (smtp_tls_connection_reuse = yes, posttls-finger -X) goes through tlsproxy(8), which {NO_SSL}; set smtp_tls_connection_reuse = no"
    ));
    NULL
}

#[no_mangle]
pub extern "C" fn tls_proxy_context_receive(_stream: *mut c_void) -> *mut c_void {
    pf::warn(&format!("tls_proxy_context_receive: tlsproxy(8) {NO_SSL}"));
    NULL
}

#[no_mangle]
pub unsafe extern "C" fn tls_proxy_context_free(ctx: *mut c_void) {
    if !ctx.is_null() && sess::is_ours(ctx) {
        sess::free_state(ctx);
    }
}

macro_rules! proxy_io {
    ($($name:ident),*) => {$(
        #[no_mangle]
        pub extern "C" fn $name(_fn: *mut c_void, _fp: *mut c_void, _flags: c_int, _ptr: *mut c_void) -> c_int {
            static ONCE: AtomicBool = AtomicBool::new(false);
            warn_once(&ONCE, &format!(concat!(stringify!($name), ": tlsproxy(8) and TLS connection reuse are not supported: {}"), NO_SSL));
            -1
        }
    )*};
}
proxy_io!(
    tls_proxy_context_print,
    tls_proxy_context_scan,
    tls_proxy_client_init_print,
    tls_proxy_client_init_scan,
    tls_proxy_client_param_print,
    tls_proxy_client_param_scan,
    tls_proxy_client_start_print,
    tls_proxy_client_start_scan,
    tls_proxy_server_init_print,
    tls_proxy_server_init_scan,
    tls_proxy_server_start_print,
    tls_proxy_server_start_scan
);

macro_rules! proxy_free {
    ($($name:ident),*) => {$(
        /// Frees what the `_scan` functions allocate; they never do here.
        #[no_mangle]
        pub extern "C" fn $name(_ptr: *mut c_void) {}
    )*};
}
proxy_free!(
    tls_proxy_client_init_free,
    tls_proxy_client_param_free,
    tls_proxy_client_start_free,
    tls_proxy_server_init_free,
    tls_proxy_server_start_free
);

#[no_mangle]
pub extern "C" fn tls_proxy_client_init_serialize(
    _fn: *mut c_void,
    _buf: *mut c_void,
    _props: *const c_void,
) -> *mut c_char {
    std::ptr::null_mut()
}

#[no_mangle]
pub extern "C" fn tls_proxy_client_param_serialize(
    _fn: *mut c_void,
    _buf: *mut c_void,
    _params: *const c_void,
) -> *mut c_char {
    std::ptr::null_mut()
}

/// `TLS_CLIENT_PARAMS *tls_proxy_client_param_from_config(TLS_CLIENT_PARAMS *)`:
/// the `tls_*` values in effect (pointers to this library's copies), in
/// the series' layout.
#[no_mangle]
pub unsafe extern "C" fn tls_proxy_client_param_from_config(
    p: *mut ClientParams,
) -> *mut ClientParams {
    use crate::globals::exports::*;
    crate::globals::get();
    if let Some(p) = p.as_mut() {
        p.cnf_file = var_tls_cnf_file;
        p.cnf_name = var_tls_cnf_name;
        p.high_clist = var_tls_high_clist;
        p.medium_clist = var_tls_medium_clist;
        #[cfg(not(feature = "pf38"))]
        {
            p.low_clist = var_tls_low_clist;
            p.export_clist = var_tls_export_clist;
        }
        #[cfg(feature = "pf38")]
        {
            p.ffdhe_auto = var_tls_ffdhe_auto;
        }
        p.null_clist = var_tls_null_clist;
        p.eecdh_auto = var_tls_eecdh_auto;
        p.eecdh_strong = var_tls_eecdh_strong;
        p.eecdh_ultra = var_tls_eecdh_ultra;
        p.bug_tweaks = var_tls_bug_tweaks;
        p.ssl_options = var_tls_ssl_options;
        p.dane_digests = var_tls_dane_digests;
        p.mgr_service = var_tls_mgr_service;
        p.tkt_cipher = var_tls_tkt_cipher;
        p.daemon_rand_bytes = var_tls_daemon_rand_bytes;
        p.append_def_CA = pf_int(var_tls_append_def_CA);
        #[cfg(not(feature = "pf311"))]
        {
            p.bc_pkey_fprint = var_tls_bc_pkey_fprint;
        }
        p.preempt_clist = pf_int(var_tls_preempt_clist);
        p.multi_wildcard = pf_int(var_tls_multi_wildcard);
    }
    p
}
