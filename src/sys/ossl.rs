//! The few OpenSSL 3 calls that neither the `openssl` crate nor
//! `openssl-sys` declares, plus tiny safe helpers over raw handles.
//! Everything here links against the same system libssl/libcrypto.

#![allow(non_camel_case_types)]

use std::ffi::{CStr, CString};

use foreign_types::ForeignTypeRef;
use libc::{c_char, c_int, c_long, c_uchar, c_uint, c_ulong, c_void, size_t};
use openssl_sys::{BIO, EVP_MD, EVP_PKEY, SSL, SSL_CIPHER, SSL_CTX, X509};

/// `X509_PUBKEY` (opaque).
pub enum X509_PUBKEY {}

/// Info callback type of `SSL_set_info_callback`.
pub type InfoCallback = unsafe extern "C" fn(ssl: *const SSL, where_: c_int, ret: c_int);

/// `BIO_TYPE_DESCRIPTOR`: the BIO has a file descriptor.
pub const BIO_TYPE_DESCRIPTOR: c_int = 0x0100;
/// `BIO_TYPE_SOURCE_SINK`: the BIO is at the end of a chain.
pub const BIO_TYPE_SOURCE_SINK: c_int = 0x0400;
/// `BIO_C_GET_FD` (`BIO_get_fd`).
pub const BIO_C_GET_FD: c_int = 105;
/// `BIO_CTRL_GET_CLOSE`.
pub const BIO_CTRL_GET_CLOSE: c_int = 8;
/// `BIO_CTRL_SET_CLOSE`.
pub const BIO_CTRL_SET_CLOSE: c_int = 9;
/// `BIO_CTRL_DUP`.
pub const BIO_CTRL_DUP: c_int = 12;

/// `write` of a `BIO_METHOD`.
pub type BioWrite = unsafe extern "C" fn(*mut BIO, *const c_char, c_int) -> c_int;
/// `read` of a `BIO_METHOD`.
pub type BioRead = unsafe extern "C" fn(*mut BIO, *mut c_char, c_int) -> c_int;
/// `ctrl` of a `BIO_METHOD`.
pub type BioCtrl = unsafe extern "C" fn(*mut BIO, c_int, c_long, *mut c_void) -> c_long;
/// `create` / `destroy` of a `BIO_METHOD`.
pub type BioLife = unsafe extern "C" fn(*mut BIO) -> c_int;

extern "C" {
    pub fn BIO_get_new_index() -> c_int;
    pub fn BIO_method_type(b: *const BIO) -> c_int;
    pub fn BIO_meth_set_write(m: *mut openssl_sys::BIO_METHOD, f: Option<BioWrite>) -> c_int;
    pub fn BIO_meth_set_read(m: *mut openssl_sys::BIO_METHOD, f: Option<BioRead>) -> c_int;
    pub fn BIO_meth_set_ctrl(m: *mut openssl_sys::BIO_METHOD, f: Option<BioCtrl>) -> c_int;
    pub fn BIO_meth_set_create(m: *mut openssl_sys::BIO_METHOD, f: Option<BioLife>) -> c_int;
    pub fn BIO_meth_set_destroy(m: *mut openssl_sys::BIO_METHOD, f: Option<BioLife>) -> c_int;
    pub fn ERR_error_string_n(e: c_ulong, buf: *mut c_char, len: size_t);
    pub fn SSL_set_info_callback(ssl: *mut SSL, cb: Option<InfoCallback>);
    pub fn SSL_alert_type_string_long(value: c_int) -> *const c_char;
    pub fn SSL_want(ssl: *const SSL) -> c_int;
    pub fn SSL_CTX_set_timeout(ctx: *mut SSL_CTX, t: c_long) -> c_long;
    pub fn ERR_peek_error() -> c_ulong;
    pub fn SSL_set_options(s: *mut SSL, op: u64) -> u64;
    pub fn SSL_clear_options(s: *mut SSL, op: u64) -> u64;
    pub fn SSL_group_to_name(s: *mut SSL, id: c_int) -> *const c_char;
    pub fn EVP_PKEY_get_group_name(
        pkey: *const EVP_PKEY,
        name: *mut c_char,
        name_sz: size_t,
        gname_len: *mut size_t,
    ) -> c_int;
    pub fn SSL_CTX_get_ciphers(ctx: *const SSL_CTX) -> *mut openssl_sys::stack_st_SSL_CIPHER;
    pub fn SSL_get_ciphers(s: *const SSL) -> *mut openssl_sys::stack_st_SSL_CIPHER;
    pub fn SSL_CIPHER_get_id(c: *const openssl_sys::SSL_CIPHER) -> u32;
    pub fn SSL_CIPHER_get_auth_nid(c: *const openssl_sys::SSL_CIPHER) -> c_int;
    pub fn CONF_modules_load_file(
        filename: *const c_char,
        appname: *const c_char,
        flags: c_ulong,
    ) -> c_int;
    pub fn NCONF_load(
        conf: *mut openssl_sys::CONF,
        file: *const c_char,
        eline: *mut c_long,
    ) -> c_int;
    pub fn OSSL_PROVIDER_do_all(
        ctx: *mut openssl_sys::OSSL_LIB_CTX,
        cb: Option<unsafe extern "C" fn(*mut openssl_sys::OSSL_PROVIDER, *mut c_void) -> c_int>,
        cbdata: *mut c_void,
    ) -> c_int;
    pub fn OSSL_PROVIDER_get_capabilities(
        prov: *const openssl_sys::OSSL_PROVIDER,
        capability: *const c_char,
        cb: Option<unsafe extern "C" fn(*const openssl_sys::OSSL_PARAM, *mut c_void) -> c_int>,
        arg: *mut c_void,
    ) -> c_int;
    pub fn OSSL_PARAM_get_int(p: *const openssl_sys::OSSL_PARAM, val: *mut c_int) -> c_int;
    pub fn OSSL_PARAM_get_uint(p: *const openssl_sys::OSSL_PARAM, val: *mut c_uint) -> c_int;
    pub fn SSL_CTX_set_tlsext_ticket_key_evp_cb(
        ctx: *mut SSL_CTX,
        cb: Option<
            unsafe extern "C" fn(
                *mut SSL,
                *mut c_uchar,
                *mut c_uchar,
                *mut openssl_sys::EVP_CIPHER_CTX,
                *mut openssl_sys::EVP_MAC_CTX,
                c_int,
            ) -> c_int,
        >,
    ) -> c_int;
    pub fn OSSL_PARAM_construct_utf8_string(
        key: *const c_char,
        buf: *mut c_char,
        bsize: size_t,
    ) -> openssl_sys::OSSL_PARAM;
    pub fn SSL_SESSION_is_resumable(s: *const openssl_sys::SSL_SESSION) -> c_int;
    pub fn SSL_set_read_ahead(s: *mut openssl_sys::SSL, yes: c_int);
    pub fn SSL_SESSION_dup(s: *const openssl_sys::SSL_SESSION) -> *mut openssl_sys::SSL_SESSION;
    pub fn SSL_CTX_dane_enable(ctx: *mut SSL_CTX) -> c_int;
    pub fn SSL_CTX_dane_mtype_set(
        ctx: *mut SSL_CTX,
        md: *const EVP_MD,
        mtype: u8,
        ord: u8,
    ) -> c_int;
    pub fn SSL_dane_enable(s: *mut SSL, basedomain: *const c_char) -> c_int;
    pub fn SSL_dane_tlsa_add(
        s: *mut SSL,
        usage: u8,
        selector: u8,
        mtype: u8,
        data: *const c_uchar,
        dlen: size_t,
    ) -> c_int;
    pub fn SSL_get0_dane_authority(
        s: *mut SSL,
        mcert: *mut *mut X509,
        mspki: *mut *mut EVP_PKEY,
    ) -> c_int;
    pub fn SSL_get0_dane_tlsa(
        s: *mut SSL,
        usage: *mut u8,
        selector: *mut u8,
        mtype: *mut u8,
        data: *mut *const c_uchar,
        dlen: *mut size_t,
    ) -> c_int;
    pub fn SSL_add1_host(s: *mut SSL, hostname: *const c_char) -> c_int;
    pub fn SSL_dane_set_flags(s: *mut SSL, flags: c_ulong) -> c_ulong;
    pub fn SSL_set1_host(s: *mut SSL, hostname: *const c_char) -> c_int;
    pub fn SSL_set_hostflags(s: *mut SSL, flags: c_uint);
    pub fn SSL_get0_peername(s: *mut SSL) -> *const c_char;
    pub fn X509_NAME_oneline(
        name: *const openssl_sys::X509_NAME,
        buf: *mut c_char,
        size: c_int,
    ) -> *mut c_char;
    pub fn EVP_CIPHER_get_mode(cipher: *const openssl_sys::EVP_CIPHER) -> c_int;
    pub fn EVP_CIPHER_get_iv_length(cipher: *const openssl_sys::EVP_CIPHER) -> c_int;
    pub fn EVP_CIPHER_get_key_length(cipher: *const openssl_sys::EVP_CIPHER) -> c_int;
    pub fn SSL_CTX_set1_cert_store(ctx: *mut SSL_CTX, store: *mut openssl_sys::X509_STORE);
    pub fn SSL_get0_peer_certificate(ssl: *const SSL) -> *mut X509;
    pub fn SSL_get_peer_signature_type_nid(ssl: *const SSL, pnid: *mut c_int) -> c_int;
    pub fn SSL_get_signature_type_nid(ssl: *const SSL, pnid: *mut c_int) -> c_int;
    pub fn SSL_CIPHER_get_kx_nid(c: *const SSL_CIPHER) -> c_int;
    pub fn SSL_CTX_use_cert_and_key(
        ctx: *mut SSL_CTX,
        x509: *mut X509,
        pkey: *mut EVP_PKEY,
        chain: *mut openssl_sys::stack_st_X509,
        override_: c_int,
    ) -> c_int;
    pub fn SSL_certs_clear(ssl: *mut SSL);
    pub fn SSL_use_cert_and_key(
        ssl: *mut SSL,
        x509: *mut X509,
        pkey: *mut EVP_PKEY,
        chain: *mut openssl_sys::stack_st_X509,
        override_: c_int,
    ) -> c_int;
    pub fn PEM_read_bio(
        bp: *mut BIO,
        name: *mut *mut c_char,
        header: *mut *mut c_char,
        data: *mut *mut c_uchar,
        len: *mut c_long,
    ) -> c_int;
    pub fn X509_get_X509_PUBKEY(x: *const X509) -> *mut X509_PUBKEY;
    pub fn i2d_X509_PUBKEY(a: *const X509_PUBKEY, out: *mut *mut c_uchar) -> c_int;
    pub fn X509_pubkey_digest(
        x: *const X509,
        md: *const EVP_MD,
        out: *mut c_uchar,
        len: *mut c_uint,
    ) -> c_int;
    pub fn EC_curve_nist2nid(name: *const c_char) -> c_int;
    pub fn OBJ_ln2nid(s: *const c_char) -> c_int;
    pub fn EVP_PKEY_get0_type_name(key: *const EVP_PKEY) -> *const c_char;
    pub fn CRYPTO_free(ptr: *mut c_void, file: *const c_char, line: c_int);
    pub fn OpenSSL_version(t: c_int) -> *const c_char;
    pub fn OpenSSL_version_num() -> c_ulong;
}

/// `DANE_FLAG_NO_DANE_EE_NAMECHECKS`.
pub const DANE_FLAG_NO_DANE_EE_NAMECHECKS: c_ulong = 1;
/// `X509_V_ERR_UNSPECIFIED`.
pub const X509_V_ERR_UNSPECIFIED: c_int = 1;
/// `X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS`.
pub const X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS: c_uint = 0x4;
/// Private DANE matching type Postfix uses for fingerprints: the
/// configured fingerprint digest.
pub const DANE_MTYPE_FINGERPRINT: u8 = 255;

/// `EVP_CIPH_CBC_MODE`.
pub const EVP_CIPH_CBC_MODE: c_int = 0x2;

/// `NID_kx_ecdhe`: ECDHE key exchange (TLS <= 1.2 cipher property).
pub const NID_KX_ECDHE: c_int = 1038;
/// `NID_kx_dhe`.
pub const NID_KX_DHE: c_int = 1039;
/// `NID_kx_ecdhe_psk`.
pub const NID_KX_ECDHE_PSK: c_int = 1040;
/// `NID_kx_dhe_psk`.
pub const NID_KX_DHE_PSK: c_int = 1041;
/// `NID_kx_any`: TLS 1.3 suites (key exchange chosen separately).
pub const NID_KX_ANY: c_int = 1063;

/// `SSL_ST_CONNECT`: the info callback runs inside SSL_connect.
pub const SSL_ST_CONNECT: c_int = 0x1000;
/// `SSL_ST_ACCEPT`: the info callback runs inside SSL_accept.
pub const SSL_ST_ACCEPT: c_int = 0x2000;
/// `SSL_CB_LOOP`: a state change.
pub const SSL_CB_LOOP: c_int = 0x01;
/// `SSL_CB_EXIT`: the handshake function returned.
pub const SSL_CB_EXIT: c_int = 0x02;
/// `SSL_CB_READ`: the alert was read.
pub const SSL_CB_READ: c_int = 0x04;
/// `SSL_CB_ALERT`: an alert was read or written.
pub const SSL_CB_ALERT: c_int = 0x4000;
/// `SSL_NOTHING` result of `SSL_want`.
pub const SSL_NOTHING: c_int = 1;
/// `SSL3_AD_CLOSE_NOTIFY`.
pub const SSL3_AD_CLOSE_NOTIFY: c_int = 0;
/// `SSL_R_PROTOCOL_IS_SHUTDOWN`: a write after the peer's close_notify.
pub const SSL_R_PROTOCOL_IS_SHUTDOWN: c_int = 207;
/// `SSL_R_UNEXPECTED_EOF_WHILE_READING`.
pub const SSL_R_UNEXPECTED_EOF_WHILE_READING: c_int = 294;

/// `SSL_CTRL_GET_PEER_SIGNATURE_NID` from `<openssl/ssl.h>`.
const SSL_CTRL_GET_PEER_SIGNATURE_NID: c_int = 108;
/// `SSL_CTRL_GET_SIGNATURE_NID` from `<openssl/ssl.h>`.
const SSL_CTRL_GET_SIGNATURE_NID: c_int = 132;
/// `SSL_CTRL_MODE` from `<openssl/ssl.h>`.
const SSL_CTRL_MODE: c_int = 33;
/// `SSL_MODE_RELEASE_BUFFERS`.
pub const SSL_MODE_RELEASE_BUFFERS: c_long = 0x10;
/// `SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER`.
pub const SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER: c_long = 0x2;

/// Digest NID of the peer's handshake signature (`SSL_get_peer_signature_nid`).
pub fn peer_signature_digest_nid(ssl: &openssl::ssl::SslRef) -> Option<c_int> {
    let mut nid: c_int = 0;
    // SAFETY: ssl is a live SSL*; the ctrl writes one int.
    let ok = unsafe {
        openssl_sys::SSL_ctrl(
            ssl.as_ptr(),
            SSL_CTRL_GET_PEER_SIGNATURE_NID,
            0,
            &mut nid as *mut c_int as *mut c_void,
        )
    };
    (ok > 0 && nid != 0).then_some(nid)
}

/// Digest NID of our own handshake signature (`SSL_get_signature_nid`).
pub fn own_signature_digest_nid(ssl: &openssl::ssl::SslRef) -> Option<c_int> {
    let mut nid: c_int = 0;
    // SAFETY: as above.
    let ok = unsafe {
        openssl_sys::SSL_ctrl(
            ssl.as_ptr(),
            SSL_CTRL_GET_SIGNATURE_NID,
            0,
            &mut nid as *mut c_int as *mut c_void,
        )
    };
    (ok > 0 && nid != 0).then_some(nid)
}

/// `SSL_CTRL_GET_NEGOTIATED_GROUP`.
const SSL_CTRL_GET_NEGOTIATED_GROUP: c_int = 134;

/// The provider's name of the negotiated key-exchange group (e.g.
/// `X25519MLKEM768`), for groups that have no ephemeral key to describe.
pub fn negotiated_group_name(ssl: &openssl::ssl::SslRef) -> String {
    // SAFETY: ssl is live; the name is a static string or NULL.
    unsafe {
        let id = openssl_sys::SSL_ctrl(
            ssl.as_ptr(),
            SSL_CTRL_GET_NEGOTIATED_GROUP,
            0,
            std::ptr::null_mut(),
        );
        if id <= 0 {
            return String::new();
        }
        let p = SSL_group_to_name(ssl.as_ptr(), id as c_int);
        if p.is_null() {
            String::new()
        } else {
            CStr::from_ptr(p).to_string_lossy().into_owned()
        }
    }
}

/// `TLSEXT_nid_unknown`: set in a group "NID" that is really an unknown
/// TLS group id.
const TLSEXT_NID_UNKNOWN: libc::c_long = 0x0100_0000;

/// The NID of the negotiated key-exchange group (`SSL_get_negotiated_group`),
/// when there is one and OpenSSL has a NID for it. For a TLS 1.2 server this
/// is the ECDHE curve it chose; OpenSSL keeps no key to describe it.
pub fn negotiated_group_nid(ssl: &openssl::ssl::SslRef) -> Option<c_int> {
    // SAFETY: ssl is live; the control only reads the SSL.
    let id = unsafe {
        openssl_sys::SSL_ctrl(
            ssl.as_ptr(),
            SSL_CTRL_GET_NEGOTIATED_GROUP,
            0,
            std::ptr::null_mut(),
        )
    };
    (id > 0 && id & TLSEXT_NID_UNKNOWN == 0).then_some(id as c_int)
}

/// Set `SSL_MODE_*` bits on a context.
pub fn ctx_set_mode(ctx: &mut openssl::ssl::SslContextBuilder, mode: c_long) {
    // SAFETY: ctx wraps a live SSL_CTX*.
    unsafe {
        openssl_sys::SSL_CTX_ctrl(ctx.as_ptr(), SSL_CTRL_MODE, mode, std::ptr::null_mut());
    }
}

/// OpenSSL's short name for a NID (`OBJ_nid2sn`), if it has one.
pub fn nid_short_name(nid: c_int) -> Option<String> {
    // SAFETY: OBJ_nid2sn returns a static string or NULL.
    let p = unsafe { openssl_sys::OBJ_nid2sn(nid) };
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
}

/// Resolve a group or curve name as Postfix does: NIST name first
/// (`P-256`), then short name, then long name. `None` when unknown.
pub fn group_name_to_nid(name: &str) -> Option<c_int> {
    let c = CString::new(name).ok()?;
    // SAFETY: c is a valid C string for the duration of the calls.
    let nid = unsafe {
        let mut nid = EC_curve_nist2nid(c.as_ptr());
        if nid == 0 {
            nid = openssl_sys::OBJ_sn2nid(c.as_ptr());
        }
        if nid == 0 {
            nid = OBJ_ln2nid(c.as_ptr());
        }
        nid
    };
    (nid != 0).then_some(nid)
}

/// `X509_NAME_oneline` of a name, e.g. `/C=US/O=Example/CN=Example CA`
/// (at most 255 bytes, as Postfix prints it).
pub fn name_oneline(name: &openssl::x509::X509NameRef) -> String {
    let mut buf = [0 as c_char; 256];
    // SAFETY: buf is writable; OpenSSL NUL-terminates within size.
    unsafe {
        if X509_NAME_oneline(name.as_ptr(), buf.as_mut_ptr(), buf.len() as c_int).is_null() {
            return String::new();
        }
        CStr::from_ptr(buf.as_ptr()).to_string_lossy().into_owned()
    }
}

/// The group (curve) name of an EC or FFDHE key, e.g. `prime256v1`, read
/// without converting the key to a legacy object.
pub fn pkey_group_name<T>(pkey: &openssl::pkey::PKeyRef<T>) -> String {
    let mut buf = [0 as c_char; 64];
    let mut len: size_t = 0;
    // SAFETY: buf is writable for its size; OpenSSL NUL-terminates.
    unsafe {
        if EVP_PKEY_get_group_name(pkey.as_ptr(), buf.as_mut_ptr(), buf.len(), &mut len) != 1 {
            return String::new();
        }
        CStr::from_ptr(buf.as_ptr()).to_string_lossy().into_owned()
    }
}

/// The provider's type name of a key (`EVP_PKEY_get0_type_name`).
pub fn pkey_type_name<T>(pkey: &openssl::pkey::PKeyRef<T>) -> String {
    // SAFETY: pkey is live; the result is static or NULL.
    let p = unsafe { EVP_PKEY_get0_type_name(pkey.as_ptr()) };
    if p.is_null() {
        String::new()
    } else {
        // SAFETY: a non-NULL result is a static NUL-terminated string.
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }
}

/// A read-only memory BIO over a byte slice, freed on drop.
pub struct MemBio<'a> {
    bio: *mut BIO,
    _data: std::marker::PhantomData<&'a [u8]>,
}

impl<'a> MemBio<'a> {
    /// Wrap `data` (at most `i32::MAX` bytes); `None` if OpenSSL refuses.
    pub fn new(data: &'a [u8]) -> Option<MemBio<'a>> {
        let len = c_int::try_from(data.len()).ok()?;
        // SAFETY: data outlives the BIO (lifetime 'a); the BIO is read-only.
        let bio = unsafe { openssl_sys::BIO_new_mem_buf(data.as_ptr().cast(), len) };
        (!bio.is_null()).then_some(MemBio {
            bio,
            _data: std::marker::PhantomData,
        })
    }

    /// The raw BIO.
    pub fn as_ptr(&self) -> *mut BIO {
        self.bio
    }
}

impl Drop for MemBio<'_> {
    fn drop(&mut self) {
        // SAFETY: bio was created by BIO_new_mem_buf and is freed once.
        unsafe { openssl_sys::BIO_free_all(self.bio) };
    }
}
