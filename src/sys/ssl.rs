//! Safe wrappers of the `SSL` / `SSL_CTX` calls the `openssl` crate does
//! not offer: options and modes, DANE, host checks, the handshake and
//! record I/O steps, signatures and groups, keys and chains, the cipher
//! list, and OpenSSL's state-machine (info) callback.

use std::ffi::CStr;

use foreign_types::{ForeignType, ForeignTypeRef};
use libc::{c_int, c_long, c_ulong, c_void};
use openssl::pkey::{PKey, PKeyRef, Private, Public};
use openssl::ssl::{ErrorCode, SslContextBuilder, SslContextRef, SslRef};
use openssl::stack::Stack;
use openssl::x509::{X509Ref, X509};

use super::ossl;

// ---- options and modes ----

/// `SSL_OP_IGNORE_UNEXPECTED_EOF`.
pub const OP_IGNORE_UNEXPECTED_EOF: u64 = openssl_sys::SSL_OP_IGNORE_UNEXPECTED_EOF;

/// Set `SSL_OP_*` bits on one session.
pub fn set_options(ssl: &mut SslRef, bits: u64) {
    // SAFETY: ssl is a live SSL.
    unsafe { ossl::SSL_set_options(ssl.as_ptr(), bits) };
}

/// Clear `SSL_OP_*` bits on one session.
pub fn clear_options(ssl: &mut SslRef, bits: u64) {
    // SAFETY: ssl is a live SSL.
    unsafe { ossl::SSL_clear_options(ssl.as_ptr(), bits) };
}

/// OpenSSL's security level of one session.
pub fn set_security_level(ssl: &mut SslRef, level: i32) {
    // SAFETY: ssl is a live SSL.
    unsafe { openssl_sys::SSL_set_security_level(ssl.as_ptr(), level) };
}

/// `SSL_MODE_RELEASE_BUFFERS`.
pub const MODE_RELEASE_BUFFERS: c_long = ossl::SSL_MODE_RELEASE_BUFFERS;
/// `SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER`.
pub const MODE_ACCEPT_MOVING_WRITE_BUFFER: c_long = ossl::SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER;

/// Set `SSL_MODE_*` bits on a context.
pub fn ctx_set_mode(ctx: &mut SslContextBuilder, mode: c_long) {
    ossl::ctx_set_mode(ctx, mode);
}

/// Session lifetime of a context, in seconds (clamped to OpenSSL's range).
pub fn ctx_set_timeout(ctx: &mut SslContextBuilder, seconds: u64) {
    let t = seconds.min(i32::MAX as u64) as c_long;
    // SAFETY: ctx wraps a live SSL_CTX.
    unsafe { ossl::SSL_CTX_set_timeout(ctx.as_ptr(), t) };
}

/// Number of TLS 1.3 tickets a server sends per handshake.
pub fn ctx_set_num_tickets(ctx: &mut SslContextBuilder, n: usize) {
    // SAFETY: ctx wraps a live SSL_CTX.
    unsafe { openssl_sys::SSL_CTX_set_num_tickets(ctx.as_ptr(), n) };
}

/// Let `ctx` use the trust store of `from` (shared, reference-counted).
pub fn ctx_share_cert_store(ctx: &mut SslContextBuilder, from: &SslContextBuilder) {
    // SAFETY: both contexts are live; set1 takes its own reference to the
    // store, so it outlives `from` if need be.
    unsafe {
        let store = openssl_sys::SSL_CTX_get_cert_store(from.as_ptr());
        if !store.is_null() {
            ossl::SSL_CTX_set1_cert_store(ctx.as_ptr(), store);
        }
    }
}

/// Let `ctx` use `store` as its trust store (shared, reference-counted).
pub fn ctx_use_cert_store(ctx: &mut SslContextBuilder, store: &openssl::x509::store::X509StoreRef) {
    // SAFETY: both are live; set1 takes its own reference to the store.
    unsafe { ossl::SSL_CTX_set1_cert_store(ctx.as_ptr(), store.as_ptr()) };
}

/// OpenSSL's NIDs for "no authentication" and for TLS 1.3's
/// protocol-independent key exchange (obj_mac.h).
const NID_AUTH_NULL: c_int = 1053;
const NID_KX_ANY: c_int = 1063;

/// One suite of a cipher configuration: its ID and what the exclusions
/// [`CipherConfig::without`] knows about match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Suite {
    id: u32,
    /// No encryption (OpenSSL's `eNULL`).
    null_encryption: bool,
    /// No authentication (OpenSSL's `aNULL`).
    null_authentication: bool,
    /// A TLS 1.3 suite (set by `SSL_CTX_set_ciphersuites`, which a cipher
    /// list never changes).
    tls13: bool,
}

/// The suites in `stack`, in order.
///
/// # Safety
/// `stack` is NULL or a live stack of SSL_CIPHERs.
unsafe fn suites(stack: *mut openssl_sys::stack_st_SSL_CIPHER) -> Vec<Suite> {
    if stack.is_null() {
        return Vec::new();
    }
    let n = openssl_sys::OPENSSL_sk_num(stack.cast());
    (0..n)
        .filter_map(|i| {
            let c =
                openssl_sys::OPENSSL_sk_value(stack.cast(), i) as *const openssl_sys::SSL_CIPHER;
            (!c.is_null()).then(|| Suite {
                id: ossl::SSL_CIPHER_get_id(c),
                null_encryption: openssl_sys::SSL_CIPHER_get_cipher_nid(c) == 0,
                null_authentication: ossl::SSL_CIPHER_get_auth_nid(c) == NID_AUTH_NULL,
                tls13: ossl::SSL_CIPHER_get_kx_nid(c) == NID_KX_ANY,
            })
        })
        .collect()
}

/// What a cipher list leaves configured: the suites offered, in order,
/// and the security level (a list may set it with `@SECLEVEL`).
#[derive(Debug, PartialEq, Eq)]
pub struct CipherConfig {
    suites: Vec<Suite>,
    security_level: c_int,
}

impl CipherConfig {
    /// The configuration the same list followed by `:!TOKEN` for each of
    /// `exclusions` leaves, worked out without OpenSSL parsing the list
    /// again: a `!` rule at the end of a list only removes the suites it
    /// matches, and changes neither the order nor the security level.
    /// Only `eNULL` and `aNULL` (the exclusions client levels imply) are
    /// known here; `None` for any other token, and when no suite below TLS
    /// 1.3 would be left (OpenSSL refuses such a list).
    pub fn without(&self, exclusions: &[&str]) -> Option<CipherConfig> {
        let (mut no_enull, mut no_anull) = (false, false);
        for token in exclusions {
            match *token {
                "eNULL" => no_enull = true,
                "aNULL" => no_anull = true,
                _ => return None,
            }
        }
        let suites: Vec<Suite> = self
            .suites
            .iter()
            .filter(|s| !(no_enull && s.null_encryption || no_anull && s.null_authentication))
            .copied()
            .collect();
        suites.iter().any(|s| !s.tls13).then_some(CipherConfig {
            suites,
            security_level: self.security_level,
        })
    }
}

/// The cipher configuration of a context being built.
pub fn ctx_cipher_config(ctx: &SslContextBuilder) -> CipherConfig {
    // SAFETY: ctx is live; the stack belongs to it and is only read.
    unsafe {
        CipherConfig {
            suites: suites(ossl::SSL_CTX_get_ciphers(ctx.as_ptr())),
            security_level: openssl_sys::SSL_CTX_get_security_level(ctx.as_ptr()),
        }
    }
}

/// The cipher configuration of a session.
pub fn cipher_config(ssl: &SslRef) -> CipherConfig {
    // SAFETY: ssl is live; the stack belongs to it (or its context) and
    // is only read.
    unsafe {
        CipherConfig {
            suites: suites(ossl::SSL_get_ciphers(ssl.as_ptr())),
            security_level: openssl_sys::SSL_get_security_level(ssl.as_ptr()),
        }
    }
}

/// Load the trust store from a CA file and/or directory (`None`: unused).
/// False when OpenSSL refuses (its reasons are in the error queue).
pub fn ctx_load_verify_locations(
    ctx: &mut SslContextBuilder,
    file: Option<&CStr>,
    dir: Option<&CStr>,
) -> bool {
    // SAFETY: ctx is live; the strings outlive the call.
    unsafe {
        openssl_sys::SSL_CTX_load_verify_locations(
            ctx.as_ptr(),
            file.map_or(std::ptr::null(), CStr::as_ptr),
            dir.map_or(std::ptr::null(), CStr::as_ptr),
        ) == 1
    }
}

/// `SSL_CTRL_SET_GROUPS` from `<openssl/ssl.h>`.
const SSL_CTRL_SET_GROUPS: c_int = 91;

/// Set a context's key-exchange groups by NID (`SSL_CTX_set1_groups`), in
/// order. False when OpenSSL refuses (an unsupported NID, a duplicate).
pub fn ctx_set1_groups(ctx: &mut SslContextBuilder, nids: &[c_int]) -> bool {
    if nids.is_empty() {
        return false;
    }
    // SAFETY: ctx is live; OpenSSL copies the array during the call.
    unsafe {
        openssl_sys::SSL_CTX_ctrl(
            ctx.as_ptr(),
            SSL_CTRL_SET_GROUPS,
            nids.len() as c_long,
            nids.as_ptr() as *mut c_void,
        ) == 1
    }
}

/// A throw-away session of the context being built, to try settings on
/// without touching the context (the session holds its own reference to
/// the context). None when OpenSSL cannot allocate one.
pub fn scratch_session(ctx: &SslContextBuilder) -> Option<openssl::ssl::Ssl> {
    // SAFETY: ctx is live; SSL_new takes its own reference to it, and the
    // new session is owned by the returned Ssl (freed when it drops).
    unsafe {
        let p = openssl_sys::SSL_new(ctx.as_ptr());
        (!p.is_null()).then(|| openssl::ssl::Ssl::from_ptr(p))
    }
}

/// The key-exchange groups of one session, by NID (as
/// [`ctx_set1_groups`] for a context). False when OpenSSL refuses.
pub fn set1_groups(ssl: &mut SslRef, nids: &[c_int]) -> bool {
    if nids.is_empty() {
        return false;
    }
    // SAFETY: ssl is live; OpenSSL copies the array during the call.
    unsafe {
        openssl_sys::SSL_ctrl(
            ssl.as_ptr(),
            SSL_CTRL_SET_GROUPS,
            nids.len() as c_long,
            nids.as_ptr() as *mut c_void,
        ) == 1
    }
}

/// The key-exchange groups of one session, by name, as OpenSSL's group
/// list syntax has them. False when OpenSSL refuses.
pub fn set1_groups_list(ssl: &mut SslRef, list: &str) -> bool {
    let Ok(list) = std::ffi::CString::new(list) else {
        return false;
    };
    // SAFETY: ssl is live; OpenSSL parses the string during the call.
    unsafe { openssl_sys::SSL_set1_groups_list(ssl.as_ptr(), list.as_ptr()) == 1 }
}

/// OpenSSL chooses TLS 1.2 DHE parameters itself. False on failure.
pub fn ctx_set_dh_auto(ctx: &mut SslContextBuilder) -> bool {
    // SAFETY: ctx wraps a live SSL_CTX.
    unsafe { openssl_sys::SSL_CTX_set_dh_auto(ctx.as_ptr(), 1) == 1 }
}

/// Decode PEM DH parameters the way Postfix 3.7 reads
/// `smtpd_tls_dh1024_param_file` with OpenSSL 3: an `OSSL_DECODER` for
/// input type PEM, key type DH, domain parameters. The parameters and
/// their size in bits; `None`: nothing decoded, OpenSSL's reasons are on
/// its error queue (as Postfix logs them).
pub fn decode_dh_params_pem(data: &[u8]) -> Option<(PKey<openssl::pkey::Params>, u32)> {
    let mut pkey: *mut openssl_sys::EVP_PKEY = std::ptr::null_mut();
    // SAFETY: the strings are static C strings; pkey is written by the
    // decoder on success only; the context is freed below.
    let dctx = unsafe {
        openssl_sys::OSSL_DECODER_CTX_new_for_pkey(
            &mut pkey,
            c"PEM".as_ptr(),
            std::ptr::null(),
            c"DH".as_ptr(),
            openssl_sys::OSSL_KEYMGMT_SELECT_DOMAIN_PARAMETERS,
            std::ptr::null_mut(),
            std::ptr::null(),
        )
    };
    if dctx.is_null() {
        return None;
    }
    let mut input = data.as_ptr();
    let mut left: libc::size_t = data.len();
    // SAFETY: dctx is live; input/left describe `data`, which outlives the
    // call (the decoder only reads it).
    let ok = unsafe { openssl_sys::OSSL_DECODER_from_data(dctx, &mut input, &mut left) };
    // SAFETY: dctx came from OSSL_DECODER_CTX_new_for_pkey and is freed once.
    unsafe { openssl_sys::OSSL_DECODER_CTX_free(dctx) };
    if pkey.is_null() {
        return None;
    }
    // SAFETY: the decoder gave us one reference to a new key; reading its
    // size only reads it.
    let (key, bits) = unsafe { (PKey::from_ptr(pkey), openssl_sys::EVP_PKEY_bits(pkey)) };
    (ok == 1).then_some((key, bits.max(0) as u32))
}

/// Use `key` (DH parameters) for TLS 1.2 DHE. False on failure.
pub fn ctx_set_tmp_dh(ctx: &mut SslContextBuilder, key: PKey<openssl::pkey::Params>) -> bool {
    // SAFETY: set0 takes ownership of the key on success only.
    let ok = unsafe { openssl_sys::SSL_CTX_set0_tmp_dh_pkey(ctx.as_ptr(), key.as_ptr()) } == 1;
    if ok {
        std::mem::forget(key);
    }
    ok
}

fn chain_stack(chain: &[X509]) -> Option<Stack<X509>> {
    let mut stack = Stack::<X509>::new().ok()?;
    for c in chain {
        stack.push(c.clone()).ok()?;
    }
    Some(stack)
}

/// Install a key with its leaf and chain in its algorithm's slot of a
/// context. False when OpenSSL refuses (reasons in the error queue).
pub fn ctx_use_cert_and_key(
    ctx: &mut SslContextBuilder,
    cert: &X509Ref,
    key: &PKeyRef<Private>,
    chain: &[X509],
) -> bool {
    let Some(stack) = chain_stack(chain) else {
        return false;
    };
    // SAFETY: all handles are live; OpenSSL takes its own references.
    unsafe {
        ossl::SSL_CTX_use_cert_and_key(ctx.as_ptr(), cert.as_ptr(), key.as_ptr(), stack.as_ptr(), 0)
            == 1
    }
}

/// The same for one session, replacing what the context gave it (SNI).
pub fn use_cert_and_key(
    ssl: &mut SslRef,
    cert: &X509Ref,
    key: &PKeyRef<Private>,
    chain: &[X509],
) -> bool {
    let Some(stack) = chain_stack(chain) else {
        return false;
    };
    // SAFETY: all handles are live; OpenSSL takes its own references.
    unsafe {
        ossl::SSL_use_cert_and_key(ssl.as_ptr(), cert.as_ptr(), key.as_ptr(), stack.as_ptr(), 1)
            == 1
    }
}

// ---- DANE and host checks ----

/// Private DANE matching type Postfix uses for fingerprints: the
/// configured fingerprint digest.
pub const DANE_MTYPE_FINGERPRINT: u8 = ossl::DANE_MTYPE_FINGERPRINT;
/// Private DANE matching types for a session's own fingerprint digest
/// (when it is not the context's, which is [`DANE_MTYPE_FINGERPRINT`]).
pub const SESSION_DIGEST_MTYPES: &[(&str, u8)] = &[
    ("md5", 249),
    ("sha1", 250),
    ("sha224", 251),
    ("sha256", 252),
    ("sha384", 253),
    ("sha512", 254),
];

/// The private DANE matching type of digest `name` for a session (by
/// OpenSSL's name), if the context registered one.
pub fn session_digest_mtype(name: &str) -> Option<u8> {
    let md = openssl::hash::MessageDigest::from_name(name)?;
    SESSION_DIGEST_MTYPES
        .iter()
        .find(|(n, _)| {
            openssl::hash::MessageDigest::from_name(n).is_some_and(|m| m.type_() == md.type_())
        })
        .map(|(_, t)| *t)
}

/// Register [`SESSION_DIGEST_MTYPES`] on a DANE-enabled context. False
/// when OpenSSL refuses one (a digest this OpenSSL lacks is skipped).
pub fn ctx_dane_session_digests(ctx: &mut SslContextBuilder) -> bool {
    SESSION_DIGEST_MTYPES.iter().all(|(name, mtype)| {
        match openssl::hash::MessageDigest::from_name(name) {
            // SAFETY: ctx wraps a live, DANE-enabled SSL_CTX; md is static.
            Some(md) => unsafe {
                ossl::SSL_CTX_dane_mtype_set(ctx.as_ptr(), md.as_ptr(), *mtype, 1) > 0
            },
            None => true,
        }
    })
}

/// Drop every key and certificate the session got from its context.
pub fn clear_certs(ssl: &mut SslRef) {
    // SAFETY: ssl is live; only the session's own copies are freed.
    unsafe { ossl::SSL_certs_clear(ssl.as_ptr()) }
}

/// Verify this session's peer with `store` (shared, counted) instead of
/// the context's trust store. False when OpenSSL refuses.
pub fn set_verify_store(ssl: &mut SslRef, store: &openssl::x509::store::X509StoreRef) -> bool {
    const SSL_CTRL_SET_VERIFY_CERT_STORE: c_int = 106;
    // SAFETY: ssl and store are live; with larg 1 (set1) OpenSSL takes its
    // own reference to the store.
    unsafe {
        openssl_sys::SSL_ctrl(
            ssl.as_ptr(),
            SSL_CTRL_SET_VERIFY_CERT_STORE,
            1,
            store.as_ptr().cast(),
        ) == 1
    }
}

/// Replace this session's cipher list (OpenSSL syntax). False when
/// OpenSSL refuses it (reasons in the error queue).
pub fn set_cipher_list(ssl: &mut SslRef, list: &CStr) -> bool {
    // SAFETY: ssl is live; OpenSSL copies the list.
    unsafe { openssl_sys::SSL_set_cipher_list(ssl.as_ptr(), list.as_ptr()) == 1 }
}

/// Limit this session to protocol versions `lo..=hi` (wire numbers, such
/// as 0x0303) with the `SSL_OP_NO_*` bits `holes` in between. False when
/// OpenSSL refuses a bound.
pub fn set_protocol_range(ssl: &mut SslRef, lo: u16, hi: u16, holes: u64) -> bool {
    let all = openssl_sys::SSL_OP_NO_TLSv1
        | openssl_sys::SSL_OP_NO_TLSv1_1
        | openssl_sys::SSL_OP_NO_TLSv1_2;
    // SAFETY: ssl is live; plain setters.
    unsafe {
        let ok = openssl_sys::SSL_set_min_proto_version(ssl.as_ptr(), lo as c_int) == 1
            && openssl_sys::SSL_set_max_proto_version(ssl.as_ptr(), hi as c_int) == 1;
        ossl::SSL_clear_options(ssl.as_ptr(), all);
        ossl::SSL_set_options(ssl.as_ptr(), holes);
        ok
    }
}

/// The `SSL_OP_NO_*` bit that turns off protocol `version` (TLS 1.0, 1.1
/// or 1.2) between the bounds; 0 for others.
pub fn protocol_hole_bit(version: u16) -> u64 {
    match version {
        0x0301 => openssl_sys::SSL_OP_NO_TLSv1,
        0x0302 => openssl_sys::SSL_OP_NO_TLSv1_1,
        0x0303 => openssl_sys::SSL_OP_NO_TLSv1_2,
        _ => 0,
    }
}

/// `DANE_FLAG_NO_DANE_EE_NAMECHECKS`.
pub const DANE_FLAG_NO_DANE_EE_NAMECHECKS: c_ulong = ossl::DANE_FLAG_NO_DANE_EE_NAMECHECKS;
/// `X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS`.
pub const NO_PARTIAL_WILDCARDS: u32 = ossl::X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS;

/// Enable DANE on a context. False on failure.
pub fn ctx_dane_enable(ctx: &mut SslContextBuilder) -> bool {
    // SAFETY: ctx wraps a live SSL_CTX.
    unsafe { ossl::SSL_CTX_dane_enable(ctx.as_ptr()) > 0 }
}

/// Make TLSA matching type `mtype` mean digest `md` with preference
/// `ordinal` (higher preferred), or disable it (`None`). False on failure.
pub fn ctx_dane_mtype_set(
    ctx: &mut SslContextBuilder,
    md: Option<openssl::hash::MessageDigest>,
    mtype: u8,
    ordinal: u8,
) -> bool {
    let md = md.map_or(std::ptr::null(), |m| m.as_ptr());
    // SAFETY: ctx wraps a live, DANE-enabled SSL_CTX; md is NULL or a
    // static EVP_MD.
    unsafe { ossl::SSL_CTX_dane_mtype_set(ctx.as_ptr(), md, mtype, ordinal) > 0 }
}

/// Enable DANE on a session with `base` as the TLSA base domain (`None`:
/// no name from it). False on failure.
pub fn dane_enable(ssl: &mut SslRef, base: Option<&CStr>) -> bool {
    // SAFETY: ssl is live; its context was DANE-enabled; base outlives the call.
    unsafe { ossl::SSL_dane_enable(ssl.as_ptr(), base.map_or(std::ptr::null(), CStr::as_ptr)) > 0 }
}

/// Add one TLSA association; true when OpenSSL can use it.
pub fn dane_tlsa_add(ssl: &mut SslRef, usage: u8, selector: u8, mtype: u8, data: &[u8]) -> bool {
    // SAFETY: ssl is live; data is readable for its length.
    unsafe {
        ossl::SSL_dane_tlsa_add(
            ssl.as_ptr(),
            usage,
            selector,
            mtype,
            data.as_ptr(),
            data.len(),
        ) > 0
    }
}

/// Set DANE flags on a session.
pub fn dane_set_flags(ssl: &mut SslRef, flags: c_ulong) {
    // SAFETY: ssl is live and DANE-enabled.
    unsafe { ossl::SSL_dane_set_flags(ssl.as_ptr(), flags) };
}

/// The TLSA record that authenticated the peer, if one did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaneMatch {
    /// Chain depth of the matched certificate.
    pub depth: i32,
    /// The record's usage, selector and matching type.
    pub usage: u8,
    /// The record's selector.
    pub selector: u8,
    /// The record's matching type.
    pub mtype: u8,
    /// The record's data.
    pub data: Vec<u8>,
    /// A TA public key (not a certificate) was matched.
    pub spki: bool,
}

/// [`DaneMatch`] of a finished handshake.
pub fn dane_authority(ssl: &SslRef) -> Option<DaneMatch> {
    let mut mcert: *mut openssl_sys::X509 = std::ptr::null_mut();
    let mut mspki: *mut openssl_sys::EVP_PKEY = std::ptr::null_mut();
    // SAFETY: ssl is live; the returned pointers are borrowed.
    let depth = unsafe { ossl::SSL_get0_dane_authority(ssl.as_ptr(), &mut mcert, &mut mspki) };
    if depth < 0 {
        return None;
    }
    let (mut usage, mut selector, mut mtype) = (0u8, 0u8, 0u8);
    let mut data: *const u8 = std::ptr::null();
    let mut dlen: libc::size_t = 0;
    // SAFETY: as above; data is borrowed from the SSL and copied at once.
    unsafe {
        let ok = ossl::SSL_get0_dane_tlsa(
            ssl.as_ptr(),
            &mut usage,
            &mut selector,
            &mut mtype,
            &mut data,
            &mut dlen,
        );
        if ok < 0 || data.is_null() {
            return None;
        }
        Some(DaneMatch {
            depth,
            usage,
            selector,
            mtype,
            data: std::slice::from_raw_parts(data, dlen).to_vec(),
            spki: !mspki.is_null(),
        })
    }
}

/// Host-check flags of a session (`X509_CHECK_FLAG_*`).
pub fn set_hostflags(ssl: &mut SslRef, flags: u32) {
    // SAFETY: ssl is live.
    unsafe { ossl::SSL_set_hostflags(ssl.as_ptr(), flags) };
}

/// Replace (`first`) or extend the names the peer certificate must match.
/// False when OpenSSL refuses the name.
pub fn add_host(ssl: &mut SslRef, name: &CStr, first: bool) -> bool {
    // SAFETY: ssl is live; OpenSSL copies the name.
    unsafe {
        if first {
            ossl::SSL_set1_host(ssl.as_ptr(), name.as_ptr()) == 1
        } else {
            ossl::SSL_add1_host(ssl.as_ptr(), name.as_ptr()) == 1
        }
    }
}

/// The name the peer certificate matched, after a successful check.
pub fn peername(ssl: &SslRef) -> Option<String> {
    // SAFETY: ssl is live; the name is borrowed from it and copied at once.
    unsafe {
        let p = ossl::SSL_get0_peername(ssl.as_ptr());
        (!p.is_null()).then(|| CStr::from_ptr(p).to_string_lossy().into_owned())
    }
}

// ---- the handshake and record I/O steps ----

/// What one call returned: OpenSSL's return value, the thread's errno
/// right after it (cleared before), and for a failure its
/// `SSL_get_error` code.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// `> 0`: done.
    pub ret: c_int,
    /// Why it did not finish (meaningful when `ret <= 0`).
    pub code: ErrorCode,
    /// errno as the call left it (0 when it set none).
    pub errno: i32,
}

impl Progress {
    /// The call finished (`ret > 0`).
    pub fn done(&self) -> bool {
        self.ret > 0
    }
}

/// Run one OpenSSL call on `ssl` with errno cleared, and describe it.
fn call(ssl: &mut SslRef, f: impl FnOnce(*mut openssl_sys::SSL) -> c_int) -> Progress {
    super::wait::set_errno(0);
    let ret = f(ssl.as_ptr());
    let errno = super::wait::errno();
    let code = if ret > 0 {
        ErrorCode::from_raw(0)
    } else {
        // SAFETY: ssl is live; SSL_get_error only reads its state.
        ErrorCode::from_raw(unsafe { openssl_sys::SSL_get_error(ssl.as_ptr(), ret) })
    };
    Progress { ret, code, errno }
}

/// One `SSL_do_handshake` call.
pub fn do_handshake(ssl: &mut SslRef) -> Progress {
    // SAFETY: ssl is live and has a BIO.
    call(ssl, |p| unsafe { openssl_sys::SSL_do_handshake(p) })
}

/// One `SSL_read_ex` into `buf`; `n` gets the bytes read.
pub fn read(ssl: &mut SslRef, buf: &mut [u8], n: &mut usize) -> Progress {
    // SAFETY: buf is writable for its length; n is a valid out-pointer.
    call(ssl, |p| unsafe {
        openssl_sys::SSL_read_ex(p, buf.as_mut_ptr().cast(), buf.len(), n)
    })
}

/// One `SSL_write_ex` of `data`; `n` gets the bytes written.
pub fn write(ssl: &mut SslRef, data: &[u8], n: &mut usize) -> Progress {
    // SAFETY: data is readable for its length; n is a valid out-pointer.
    call(ssl, |p| unsafe {
        openssl_sys::SSL_write_ex(p, data.as_ptr().cast(), data.len(), n)
    })
}

/// One `SSL_shutdown`: 0 after sending ours, 1 once the peer's came too.
pub fn shutdown(ssl: &mut SslRef) -> Progress {
    // SAFETY: ssl is live.
    call(ssl, |p| unsafe { openssl_sys::SSL_shutdown(p) })
}

// ---- what a finished handshake negotiated ----

/// The peer's certificate, borrowed from the session.
pub fn peer_certificate(ssl: &SslRef) -> Option<&X509Ref> {
    // SAFETY: ssl is live; get0 returns a pointer borrowed from it (valid
    // as long as the session), or NULL.
    unsafe {
        let p = ossl::SSL_get0_peer_certificate(ssl.as_ptr());
        (!p.is_null()).then(|| X509Ref::from_ptr(p))
    }
}

/// The peer's ephemeral key of the key exchange, if it sent one.
pub fn peer_tmp_key(ssl: &SslRef) -> Option<PKey<Public>> {
    let mut raw: *mut openssl_sys::EVP_PKEY = std::ptr::null_mut();
    // SAFETY: ssl is live; on success we own one reference to the key.
    let ok = unsafe { openssl_sys::SSL_get_peer_tmp_key(ssl.as_ptr(), &mut raw) };
    if ok <= 0 || raw.is_null() {
        return None;
    }
    // SAFETY: raw is a live key we own.
    Some(unsafe { PKey::from_ptr(raw) })
}

/// Signature type NID of the peer's handshake signature.
pub fn peer_signature_type_nid(ssl: &SslRef) -> Option<i32> {
    let mut nid = 0;
    // SAFETY: ssl is live; the call writes one int.
    (unsafe { ossl::SSL_get_peer_signature_type_nid(ssl.as_ptr(), &mut nid) } == 1 && nid != 0)
        .then_some(nid)
}

/// Signature type NID of our own handshake signature.
pub fn own_signature_type_nid(ssl: &SslRef) -> Option<i32> {
    let mut nid = 0;
    // SAFETY: ssl is live; the call writes one int.
    (unsafe { ossl::SSL_get_signature_type_nid(ssl.as_ptr(), &mut nid) } == 1 && nid != 0)
        .then_some(nid)
}

pub use ossl::{
    negotiated_group_name, negotiated_group_nid, own_signature_digest_nid,
    peer_signature_digest_nid,
};

/// Key-exchange NIDs of TLS 1.2 cipher suites (`SSL_CIPHER_get_kx_nid`).
pub mod kx {
    pub use super::ossl::{NID_KX_ANY as ANY, NID_KX_DHE as DHE, NID_KX_DHE_PSK as DHE_PSK};
    pub use super::ossl::{NID_KX_ECDHE as ECDHE, NID_KX_ECDHE_PSK as ECDHE_PSK};
}

/// Key-exchange NID of a cipher suite.
pub fn cipher_kx_nid(cipher: &openssl::ssl::SslCipherRef) -> i32 {
    // SAFETY: cipher is a live, static SSL_CIPHER.
    unsafe { ossl::SSL_CIPHER_get_kx_nid(cipher.as_ptr()) }
}

/// `SSL_CIPHER_description` of a suite, trimmed.
pub fn cipher_description(cipher: &openssl::ssl::SslCipherRef) -> String {
    let mut buf = [0 as libc::c_char; 256];
    // SAFETY: buf is writable for its length; OpenSSL NUL-terminates.
    unsafe {
        openssl_sys::SSL_CIPHER_description(cipher.as_ptr(), buf.as_mut_ptr(), buf.len() as c_int);
        CStr::from_ptr(buf.as_ptr())
            .to_string_lossy()
            .trim()
            .to_string()
    }
}

/// The cipher suites a context offers, in preference order.
pub fn ctx_ciphers(ctx: &SslContextRef) -> Vec<&openssl::ssl::SslCipherRef> {
    let mut out = Vec::new();
    // SAFETY: the stack belongs to the live context and holds static
    // SSL_CIPHERs; nothing is freed here.
    unsafe {
        let stack = ossl::SSL_CTX_get_ciphers(ctx.as_ptr());
        if stack.is_null() {
            return out;
        }
        let n = openssl_sys::OPENSSL_sk_num(stack.cast());
        for i in 0..n {
            let c = openssl_sys::OPENSSL_sk_value(stack.cast(), i) as *mut openssl_sys::SSL_CIPHER;
            if !c.is_null() {
                out.push(openssl::ssl::SslCipherRef::from_ptr(c));
            }
        }
    }
    out
}

/// Whether `session` can be resumed (`SSL_SESSION_is_resumable`).
pub fn session_is_resumable(session: &openssl::ssl::SslSessionRef) -> bool {
    // SAFETY: session is live.
    unsafe { ossl::SSL_SESSION_is_resumable(session.as_ptr()) == 1 }
}

/// A private copy of `session` (certificates shared by reference), so
/// that what one connection does to its session (OpenSSL marks it not
/// resumable after a fatal alert) does not reach another. None when out
/// of memory.
pub fn session_dup(session: &openssl::ssl::SslSessionRef) -> Option<openssl::ssl::SslSession> {
    // SAFETY: session is live; SSL_SESSION_dup returns a new object with
    // one reference (or NULL), which from_ptr takes over.
    unsafe {
        let p = ossl::SSL_SESSION_dup(session.as_ptr());
        (!p.is_null()).then(|| openssl::ssl::SslSession::from_ptr(p))
    }
}

/// Let the record layer read as much as the socket holds (whole flights,
/// several records per `read(2)`) instead of a record header, then its
/// body. Bytes read ahead stay in the session until it is freed.
pub fn set_read_ahead(ssl: &mut SslRef, on: bool) {
    // SAFETY: ssl is live; a plain flag.
    unsafe { ossl::SSL_set_read_ahead(ssl.as_ptr(), on as c_int) }
}

/// Offer `session` for resumption. False when OpenSSL refuses it.
pub fn set_session(ssl: &mut SslRef, session: &openssl::ssl::SslSessionRef) -> bool {
    // SAFETY: the session was made by a context of the same kind (a client
    // context of this library); OpenSSL takes its own reference.
    unsafe { ssl.set_session(session) }.is_ok()
}

// ---- OpenSSL's state-machine callback ----

/// What OpenSSL's info callback reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InfoEvent {
    /// A state change: `SSL_connect`/`SSL_accept` and the state's long name.
    Loop {
        /// `SSL_connect`, `SSL_accept` or `undefined`.
        side: &'static str,
        /// The state's long name.
        state: String,
    },
    /// An alert other than close_notify was read or written.
    Alert {
        /// True when read (from the peer).
        read: bool,
        /// `warning` / `fatal`.
        kind: String,
        /// The alert's description.
        description: String,
    },
    /// The handshake function returned a failure (`failed`) or an error
    /// other than waiting for I/O (`error`).
    Exit {
        /// `SSL_connect`, `SSL_accept` or `undefined`.
        side: &'static str,
        /// True for `failed in`, false for `error in`.
        failed: bool,
        /// The state's long name.
        state: String,
    },
}

/// Receives a session's [`InfoEvent`]s.
pub trait InfoHandler {
    /// Called on the handshake's thread for each event.
    fn on_info(ssl: &SslRef, event: InfoEvent);
}

unsafe extern "C" fn info_trampoline<H: InfoHandler>(
    ssl: *const openssl_sys::SSL,
    where_: c_int,
    ret: c_int,
) {
    let _ = std::panic::catch_unwind(|| {
        // SAFETY: OpenSSL passes the live SSL the callback was set on.
        let ssl_ref = unsafe { SslRef::from_ptr(ssl as *mut openssl_sys::SSL) };
        let side = if where_ & ossl::SSL_ST_CONNECT != 0 {
            "SSL_connect"
        } else if where_ & ossl::SSL_ST_ACCEPT != 0 {
            "SSL_accept"
        } else {
            "undefined"
        };
        let event = if where_ & ossl::SSL_CB_LOOP != 0 {
            InfoEvent::Loop {
                side,
                state: ssl_ref.state_string_long().to_string(),
            }
        } else if where_ & ossl::SSL_CB_ALERT != 0 {
            if ret & 0xff == ossl::SSL3_AD_CLOSE_NOTIFY {
                return;
            }
            // SAFETY: both return static strings.
            let (kind, description) = unsafe {
                (
                    CStr::from_ptr(ossl::SSL_alert_type_string_long(ret)),
                    CStr::from_ptr(openssl_sys::SSL_alert_desc_string_long(ret)),
                )
            };
            InfoEvent::Alert {
                read: where_ & ossl::SSL_CB_READ != 0,
                kind: kind.to_string_lossy().into_owned(),
                description: description.to_string_lossy().into_owned(),
            }
        } else if where_ & ossl::SSL_CB_EXIT != 0 {
            // SAFETY: ssl is live.
            let waiting = unsafe { ossl::SSL_want(ssl) } != ossl::SSL_NOTHING;
            if ret == 0 || (ret < 0 && !waiting) {
                InfoEvent::Exit {
                    side,
                    failed: ret == 0,
                    state: ssl_ref.state_string_long().to_string(),
                }
            } else {
                return;
            }
        } else {
            return;
        };
        H::on_info(ssl_ref, event);
    });
}

/// Report `ssl`'s state changes, alerts and failures to `H`.
pub fn set_info_handler<H: InfoHandler>(ssl: &mut SslRef) {
    // SAFETY: ssl is live; the trampoline catches panics.
    unsafe { ossl::SSL_set_info_callback(ssl.as_ptr(), Some(info_trampoline::<H>)) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::ssl::{SslContext, SslMethod};

    /// What OpenSSL itself makes of `list`, on a throw-away session of a
    /// context configured with `base` (`None`: refused).
    fn parsed(b: &SslContextBuilder, list: &str) -> Option<CipherConfig> {
        let mut s = scratch_session(b)?;
        let l = std::ffi::CString::new(list).ok()?;
        let config = set_cipher_list(&mut s, &l).then(|| cipher_config(&s));
        crate::sys::errors::clear_openssl_errors();
        config
    }

    /// `CipherConfig::without` agrees with OpenSSL parsing the list with
    /// the exclusions appended, for Postfix's grade lists and lists where
    /// the exclusions remove suites or leave none below TLS 1.3.
    #[test]
    fn derived_exclusions_match_openssl() {
        let lists = [
            "aNULL:-aNULL:HIGH:MEDIUM:!SEED:!IDEA:!3DES:!RC2:!RC4:!RC5:!kDH:!kECDH:!aDSS:!MD5:+RC4:@STRENGTH",
            "aNULL:-aNULL:HIGH:!SEED:!IDEA:!3DES:!RC2:!RC4:!RC5:!kDH:!kECDH:!aDSS:!MD5:@STRENGTH",
            "eNULL:!kDH:!kECDH:!aDSS:!MD5:!aNULL",
            "ALL:eNULL:@SECLEVEL=0",
            "aNULL",
            "aNULL:eNULL",
            "HIGH:@SECLEVEL=2",
        ];
        let exclusions: [&[&str]; 4] = [&[], &["eNULL"], &["aNULL"], &["eNULL", "aNULL"]];
        let mut removed_some = false;
        for list in lists {
            let mut b = SslContext::builder(SslMethod::tls()).unwrap();
            if b.set_cipher_list(list).is_err() {
                crate::sys::errors::clear_openssl_errors();
                continue;
            }
            let base = ctx_cipher_config(&b);
            for excl in exclusions {
                let full: String = excl.iter().fold(list.to_string(), |l, t| l + ":!" + t);
                let derived = base.without(excl);
                assert_eq!(derived, parsed(&b, &full), "{full}");
                removed_some |= derived.is_some_and(|d| d.suites.len() < base.suites.len());
            }
        }
        assert!(removed_some, "no list had a suite the exclusions remove");
        assert_eq!(
            CipherConfig {
                suites: vec![],
                security_level: 1
            }
            .without(&["kRSA"]),
            None
        );
    }
}
