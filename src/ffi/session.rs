//! `mtatls_session`: one TLS session on a socket the caller owns.

use std::cell::{Cell, RefCell};
use std::ffi::{c_char, c_int};

use super::ctx::mtatls_ctx;
use super::{
    arg_str, copy_out, ffi_guard, mtatls_result, timeout_arg, to_cstring, ErrorText, Poison,
};
use crate::error::{Error, ErrorKind};
use crate::report::summary::{Facts, Trust};
use crate::session::Session;
use mtatls_result::*;

/// The peer sent a certificate.
pub const MTATLS_CERT_PRESENT: u32 = 1;
/// The peer certificate chain verified against the trust store.
pub const MTATLS_CERT_TRUSTED: u32 = 4;
/// The peer certificate matched the security level's identity check.
pub const MTATLS_CERT_MATCHED: u32 = 8;
/// Trusted and matched: the peer is authenticated.
pub const MTATLS_CERT_SECURED: u32 = 16;
/// The peer sent an RFC 7250 raw public key instead of a certificate
/// (Postfix 3.9 and later, OpenSSL 3.2 and later; `MTATLS_CERT_PRESENT`
/// is then not set).
pub const MTATLS_CERT_RPK: u32 = 32;

/// The four outcomes Postfix logs, as in "Untrusted TLS connection ...".
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum mtatls_trust {
    /// No peer certificate.
    MTATLS_TRUST_ANONYMOUS = 0,
    /// A certificate that did not verify.
    MTATLS_TRUST_UNTRUSTED = 1,
    /// A certificate that verified (no name match required).
    MTATLS_TRUST_TRUSTED = 2,
    /// Verified and matched (client only).
    MTATLS_TRUST_VERIFIED = 3,
}

/// Facts of an established session. Strings are never NULL ("" when not
/// applicable) and are borrowed from the session: valid until it is freed.
/// Key-exchange and signature fields are filled for TLS 1.2 as well, but
/// Postfix's summary line shows them for TLS 1.3 only.
#[repr(C)]
pub struct mtatls_session_facts {
    /// `TLSv1.3`, `TLSv1.2`, ...
    pub protocol: *const c_char,
    /// OpenSSL cipher name, e.g. `TLS_AES_256_GCM_SHA384`.
    pub cipher_name: *const c_char,
    /// Effective cipher key bits.
    pub cipher_usebits: c_int,
    /// Cipher algorithm key bits.
    pub cipher_algbits: c_int,
    /// `X25519`, `X448`, `ECDHE`, `DHE` or a provider's group name, from
    /// the peer's ephemeral key; a TLS 1.2 server (where OpenSSL keeps no
    /// key) gives the group it chose (DHE: the size of its DH group).
    /// Empty for a resumed TLS 1.2 session and a static key exchange.
    /// (Postfix's summary has no key exchange for TLS 1.2.)
    pub kex_name: *const c_char,
    /// ECDHE curve (`prime256v1`), else "".
    pub kex_curve: *const c_char,
    /// DHE group bits, else 0.
    pub kex_bits: c_int,
    /// Client signature algorithm ("" if the client used no certificate).
    pub clnt_sig_name: *const c_char,
    /// Client key curve, else "".
    pub clnt_sig_curve: *const c_char,
    /// Client key bits, else 0.
    pub clnt_sig_bits: c_int,
    /// Client signature digest (`SHA256`), else "".
    pub clnt_sig_dgst: *const c_char,
    /// Server signature algorithm (`RSA-PSS`, `ECDSA`, `ED25519`, ...).
    pub srvr_sig_name: *const c_char,
    /// Server key curve, else "".
    pub srvr_sig_curve: *const c_char,
    /// Server key bits, else 0.
    pub srvr_sig_bits: c_int,
    /// Server signature digest, else "".
    pub srvr_sig_dgst: *const c_char,
    /// Peer certificate subject CN ("" if none).
    pub peer_cn: *const c_char,
    /// Peer certificate issuer CN, or O ("" if none).
    pub issuer_cn: *const c_char,
    /// Peer certificate fingerprint, colon hex ("" if no certificate).
    pub peer_cert_fprint: *const c_char,
    /// Peer public-key fingerprint, colon hex ("" if no certificate).
    pub peer_pkey_fprint: *const c_char,
    /// Server: SNI name matched; "" otherwise.
    pub peer_sni: *const c_char,
    /// The peer label as logged (lower case).
    pub peer_label: *const c_char,
    /// `MTATLS_CERT_*` bits.
    pub peer_status: u32,
    /// The outcome word of the summary line.
    pub trust: mtatls_trust,
    /// The key exchange gives forward secrecy (ECDHE/DHE, all of TLS 1.3).
    pub forward_secret: bool,
    /// The session was resumed.
    pub reused: bool,
    /// This is the server side.
    pub am_server: bool,
}

/// C view of the facts plus the strings it points into.
struct CFacts {
    view: mtatls_session_facts,
    _strings: Vec<std::ffi::CString>,
}

impl CFacts {
    fn new(f: &Facts) -> CFacts {
        let mut strings = Vec::new();
        let mut s = |text: &str| {
            let c = to_cstring(text);
            let p = c.as_ptr();
            strings.push(c);
            p
        };
        let view = mtatls_session_facts {
            protocol: s(&f.protocol),
            cipher_name: s(&f.cipher_name),
            cipher_usebits: f.cipher_usebits,
            cipher_algbits: f.cipher_algbits,
            kex_name: s(&f.kex_name),
            kex_curve: s(&f.kex_curve),
            kex_bits: f.kex_bits,
            clnt_sig_name: s(&f.client_sig.name),
            clnt_sig_curve: s(&f.client_sig.curve),
            clnt_sig_bits: f.client_sig.bits,
            clnt_sig_dgst: s(&f.client_sig.digest),
            srvr_sig_name: s(&f.server_sig.name),
            srvr_sig_curve: s(&f.server_sig.curve),
            srvr_sig_bits: f.server_sig.bits,
            srvr_sig_dgst: s(&f.server_sig.digest),
            peer_cn: s(&f.peer_cn),
            issuer_cn: s(&f.issuer_cn),
            peer_cert_fprint: s(&f.peer_cert_fprint),
            peer_pkey_fprint: s(&f.peer_pkey_fprint),
            peer_sni: s(&f.peer_sni),
            peer_label: s(&f.peer_label),
            peer_status: f.peer_status,
            trust: match f.trust() {
                Trust::Anonymous => mtatls_trust::MTATLS_TRUST_ANONYMOUS,
                Trust::Untrusted => mtatls_trust::MTATLS_TRUST_UNTRUSTED,
                Trust::Trusted => mtatls_trust::MTATLS_TRUST_TRUSTED,
                Trust::Verified => mtatls_trust::MTATLS_TRUST_VERIFIED,
            },
            forward_secret: f.forward_secret,
            reused: f.reused,
            am_server: f.am_server,
        };
        CFacts {
            view,
            _strings: strings,
        }
    }
}

/// A TLS session on one connection. Use from one thread at a time.
pub struct mtatls_session {
    /// Borrowed mutably for the length of each call: a call made from
    /// inside one of this session's callbacks (log, session cache, SNI)
    /// finds it borrowed and is refused with `MTATLS_RESULT_BAD_STATE`.
    inner: RefCell<Session>,
    error: RefCell<ErrorText>,
    /// Made on the first `mtatls_session_get_facts`; boxed, so the
    /// pointer handed out stays put until the session is freed.
    facts: RefCell<Option<Box<CFacts>>>,
    poisoned: Cell<bool>,
}

impl Poison for *mut mtatls_session {
    fn poison(self) {
        // SAFETY: a non-NULL pointer here came from mtatls_session_new.
        if let Some(s) = unsafe { self.as_ref() } {
            s.poisoned.set(true);
            if let Ok(mut e) = s.error.try_borrow_mut() {
                e.set("mtatls: internal error (panic); this session can no longer be used");
            }
        }
    }
}

/// The session behind `s` for reading, unless NULL, poisoned or busy.
///
/// # Safety
/// `s` must be NULL or a pointer from `mtatls_session_new` not yet freed.
pub(super) unsafe fn readable<'a>(s: *const mtatls_session) -> Option<std::cell::Ref<'a, Session>> {
    // SAFETY: guaranteed by the caller; only shared references are made.
    let handle = unsafe { s.as_ref() }?;
    if handle.poisoned.get() {
        return None;
    }
    handle.inner.try_borrow().ok()
}

/// Run `f` on a live, unpoisoned session, keeping its error text. A call
/// from inside one of the session's callbacks is refused with
/// `MTATLS_RESULT_BAD_STATE`.
///
/// # Safety
/// `s` must be NULL or a pointer from `mtatls_session_new` not yet freed.
unsafe fn with_session(
    s: *mut mtatls_session,
    f: impl FnOnce(&mut Session) -> Result<(), Error>,
) -> mtatls_result {
    // SAFETY: guaranteed by the caller; only shared references are made.
    let Some(handle) = (unsafe { s.as_ref() }) else {
        return MTATLS_RESULT_NULL_PARAMETER;
    };
    if handle.poisoned.get() {
        return MTATLS_RESULT_PANIC;
    }
    let Ok(mut session) = handle.inner.try_borrow_mut() else {
        if let Ok(mut e) = handle.error.try_borrow_mut() {
            e.set(super::params::REENTERED);
        }
        return MTATLS_RESULT_BAD_STATE;
    };
    if let Ok(mut e) = handle.error.try_borrow_mut() {
        e.clear();
    }
    let result = f(&mut session);
    drop(session);
    let mut error = handle.error.borrow_mut();
    match result {
        Ok(()) => {
            error.clear();
            MTATLS_RESULT_OK
        }
        Err(e) => {
            error.set(e.message());
            e.kind().into()
        }
    }
}

/// Start a TLS session on connected socket `fd` for the peer labelled
/// `peer_label` as Postfix logs it (`host[addr]:port` for a client,
/// `host[addr]` for a server). The caller keeps owning `fd`: the library
/// sets it non-blocking while the session exists, restores its flags on
/// `mtatls_session_stop`/`_free`, and never closes it (free the session
/// before closing `fd`). The session keeps `ctx` alive. On success `*out`
/// gets a session to free with `mtatls_session_free`; on failure
/// `mtatls_result_name` and the return value say why (there is no object
/// to hold the text: it is logged instead).
///
/// - NULL: `ctx`, `peer_label` or `out` NULL: `MTATLS_RESULT_NULL_PARAMETER`;
///   `*out` is untouched on failure.
/// - Returns: `MTATLS_RESULT_OK`, `MTATLS_RESULT_NULL_PARAMETER`,
///   `MTATLS_RESULT_INVALID_ARGUMENT` (bad descriptor, label not UTF-8),
///   `MTATLS_RESULT_BAD_STATE` (the socket already has a live session),
///   `MTATLS_RESULT_PANIC`.
/// - Memory: `peer_label` is copied; the session holds a reference to `ctx`;
///   `*out` is owned by the caller (`mtatls_session_free`). `fd` stays the
///   caller's.
/// - Blocking: no.
/// - Threads: thread-safe (a new object; `ctx` may be shared).
#[no_mangle]
pub extern "C" fn mtatls_session_new(
    ctx: *const mtatls_ctx,
    fd: c_int,
    peer_label: *const c_char,
    out: *mut *mut mtatls_session,
) -> mtatls_result {
    ffi_guard!(MTATLS_RESULT_PANIC, {
        // SAFETY: ctx is NULL or valid per the contract.
        let Some(ctx) = (unsafe { ctx.as_ref() }) else {
            return MTATLS_RESULT_NULL_PARAMETER;
        };
        if out.is_null() {
            return MTATLS_RESULT_NULL_PARAMETER;
        }
        // SAFETY: peer_label is a C string per the contract.
        let label = match unsafe { arg_str(peer_label, "peer label") } {
            Ok(l) => l,
            Err(e) => return e.kind().into(),
        };
        match Session::new(ctx.inner.clone(), fd, label) {
            Ok(session) => {
                let handle = Box::new(mtatls_session {
                    inner: RefCell::new(session),
                    error: RefCell::new(ErrorText::default()),
                    facts: RefCell::new(None),
                    poisoned: Cell::new(false),
                });
                // SAFETY: out is non-NULL and writable.
                unsafe { *out = Box::into_raw(handle) };
                MTATLS_RESULT_OK
            }
            Err(e) => {
                ctx.inner.logger.warn(e.message());
                e.kind().into()
            }
        }
    })
}

/// Free a session (no close_notify is sent: call `mtatls_session_stop`
/// first for an orderly close). The socket is not closed; its file status
/// flags are restored. NULL is ignored. Call at most once per object.
/// Called from inside one of the session's own callbacks it does nothing:
/// the session is in use.
///
/// - NULL: NULL is ignored.
/// - Returns: nothing.
/// - Memory: frees the session and restores `fd`'s flags; never closes `fd`.
///   Call at most once; inside one of the session's own callbacks it does
///   nothing.
/// - Blocking: no.
/// - Threads: one thread at a time per session (different sessions, also of
///   one context, may run in parallel).
#[no_mangle]
pub extern "C" fn mtatls_session_free(session: *mut mtatls_session) {
    ffi_guard!((), {
        // SAFETY: session is NULL or came from mtatls_session_new.
        let busy = unsafe { session.as_ref() }.is_some_and(|h| h.inner.try_borrow_mut().is_err());
        if !session.is_null() && !busy {
            // SAFETY: session came from mtatls_session_new and is freed once.
            drop(unsafe { Box::from_raw(session) });
        }
    })
}

/// Client, before the handshake: the security level of this session, by
/// Postfix name (`may`, `encrypt`, `fingerprint`, `dane`, `dane-only`,
/// `verify`, `secure`), as Postfix's policy code sets it per delivery;
/// default `smtp_tls_security_level`. `MTATLS_RESULT_INVALID_VALUE` for an
/// unknown name, `MTATLS_RESULT_INVALID_ARGUMENT` on a server session,
/// `MTATLS_RESULT_BAD_STATE` once the handshake has started.
///
/// - NULL: any pointer NULL: `MTATLS_RESULT_NULL_PARAMETER`.
/// - Returns: `MTATLS_RESULT_OK`, `MTATLS_RESULT_NULL_PARAMETER` (`session` or
///   a pointer argument NULL), `MTATLS_RESULT_BAD_STATE` (called from inside
///   one of the session's own callbacks, or the handshake has started),
///   `MTATLS_RESULT_PANIC` (internal error; the session is unusable),
///   `MTATLS_RESULT_INVALID_ARGUMENT` (a server session, or text not UTF-8),
///   `MTATLS_RESULT_INVALID_VALUE` (unknown level).
/// - Memory: `level` is copied.
/// - Blocking: no.
/// - Threads: one thread at a time per session (different sessions, also of
///   one context, may run in parallel).
#[no_mangle]
pub extern "C" fn mtatls_session_set_level(
    session: *mut mtatls_session,
    level: *const c_char,
) -> mtatls_result {
    ffi_guard!(poison: session, MTATLS_RESULT_PANIC, {
        // SAFETY: arguments are valid per the contract.
        unsafe { with_session(session, |s| s.set_level(arg_str(level, "level")?)) }
    })
}

/// Client, before the handshake: the server's host name (the MX name:
/// `hostname` in match lists, default TLSA base domain) and the
/// destination domain (`nexthop`, `dot-nexthop`). Either may be "".
///
/// - NULL: any pointer NULL: `MTATLS_RESULT_NULL_PARAMETER`.
/// - Returns: `MTATLS_RESULT_OK`, `MTATLS_RESULT_NULL_PARAMETER` (`session` or
///   a pointer argument NULL), `MTATLS_RESULT_BAD_STATE` (called from inside
///   one of the session's own callbacks, or the handshake has started),
///   `MTATLS_RESULT_PANIC` (internal error; the session is unusable),
///   `MTATLS_RESULT_INVALID_ARGUMENT` (a server session, or text not UTF-8).
/// - Memory: `host` and `nexthop` are copied.
/// - Blocking: no.
/// - Threads: one thread at a time per session (different sessions, also of
///   one context, may run in parallel).
#[no_mangle]
pub extern "C" fn mtatls_session_set_peer_names(
    session: *mut mtatls_session,
    host: *const c_char,
    nexthop: *const c_char,
) -> mtatls_result {
    ffi_guard!(poison: session, MTATLS_RESULT_PANIC, {
        // SAFETY: arguments are valid per the contract.
        unsafe {
            with_session(session, |s| {
                s.set_peer_names(arg_str(host, "host")?, arg_str(nexthop, "nexthop")?)
            })
        }
    })
}

/// Client, before the handshake: a match list for this session, replacing
/// `smtp_tls_verify_cert_match` / `smtp_tls_secure_cert_match` (names and
/// strategies: `hostname`, `nexthop`, `dot-nexthop`, `name`, `.domain`) or
/// `smtp_tls_fingerprint_cert_match` (fingerprints) at the matching
/// level, like a Postfix policy table's `match=`. Separators: comma, white
/// space or `|`.
///
/// - NULL: any pointer NULL: `MTATLS_RESULT_NULL_PARAMETER`.
/// - Returns: `MTATLS_RESULT_OK`, `MTATLS_RESULT_NULL_PARAMETER` (`session` or
///   a pointer argument NULL), `MTATLS_RESULT_BAD_STATE` (called from inside
///   one of the session's own callbacks, or the handshake has started),
///   `MTATLS_RESULT_PANIC` (internal error; the session is unusable),
///   `MTATLS_RESULT_INVALID_ARGUMENT` (a server session, or text not UTF-8).
/// - Memory: `list` is copied.
/// - Blocking: no.
/// - Threads: one thread at a time per session (different sessions, also of
///   one context, may run in parallel).
#[no_mangle]
pub extern "C" fn mtatls_session_set_match(
    session: *mut mtatls_session,
    list: *const c_char,
) -> mtatls_result {
    ffi_guard!(poison: session, MTATLS_RESULT_PANIC, {
        // SAFETY: arguments are valid per the contract.
        unsafe { with_session(session, |s| s.set_match(arg_str(list, "match list")?)) }
    })
}

/// Client, before the handshake: add a TLSA record (RFC 6698: usage 0-3,
/// selector 0-1, matching type 0-2, `len` bytes of association data) for
/// the `dane` / `dane-only` levels. Records OpenSSL cannot use are skipped
/// when the handshake starts (Postfix's fall-backs apply when none is left).
///
/// - NULL: `session` or `data` NULL: `MTATLS_RESULT_NULL_PARAMETER`.
/// - Returns: `MTATLS_RESULT_OK`, `MTATLS_RESULT_NULL_PARAMETER` (`session` or
///   a pointer argument NULL), `MTATLS_RESULT_BAD_STATE` (called from inside
///   one of the session's own callbacks, or the handshake has started),
///   `MTATLS_RESULT_PANIC` (internal error; the session is unusable),
///   `MTATLS_RESULT_INVALID_ARGUMENT` (a server session, or text not UTF-8).
/// - Memory: the `len` bytes of `data` are copied.
/// - Blocking: no.
/// - Threads: one thread at a time per session (different sessions, also of
///   one context, may run in parallel).
#[no_mangle]
pub extern "C" fn mtatls_session_add_tlsa(
    session: *mut mtatls_session,
    usage: u8,
    selector: u8,
    mtype: u8,
    data: *const u8,
    len: usize,
) -> mtatls_result {
    ffi_guard!(poison: session, MTATLS_RESULT_PANIC, {
        // SAFETY: arguments are valid per the contract.
        unsafe {
            with_session(session, |s| {
                if data.is_null() {
                    return Err(Error::new(ErrorKind::NullParameter, "TLSA data is NULL"));
                }
                let bytes = std::slice::from_raw_parts(data, len).to_vec();
                s.add_tlsa(crate::verify::trust::Tlsa {
                    usage,
                    selector,
                    mtype,
                    data: bytes,
                })
            })
        }
    })
}

/// Client, before the handshake: the server id that keys the session
/// cache (Postfix's `serverid`, e.g. `[mx.example.net]:25`). Without it the
/// session is neither looked up nor saved. The cache key adds a digest of
/// everything that must match for reuse (protocols, ciphers, level, names,
/// TLSA records), as Postfix does.
///
/// - NULL: any pointer NULL: `MTATLS_RESULT_NULL_PARAMETER`.
/// - Returns: `MTATLS_RESULT_OK`, `MTATLS_RESULT_NULL_PARAMETER` (`session` or
///   a pointer argument NULL), `MTATLS_RESULT_BAD_STATE` (called from inside
///   one of the session's own callbacks, or the handshake has started),
///   `MTATLS_RESULT_PANIC` (internal error; the session is unusable),
///   `MTATLS_RESULT_INVALID_ARGUMENT` (a server session, or text not UTF-8).
/// - Memory: `serverid` is copied.
/// - Blocking: no.
/// - Threads: one thread at a time per session (different sessions, also of
///   one context, may run in parallel).
#[no_mangle]
pub extern "C" fn mtatls_session_set_serverid(
    session: *mut mtatls_session,
    serverid: *const c_char,
) -> mtatls_result {
    ffi_guard!(poison: session, MTATLS_RESULT_PANIC, {
        // SAFETY: arguments are valid per the contract.
        unsafe { with_session(session, |s| s.set_serverid(arg_str(serverid, "server id")?)) }
    })
}

/// Client, before the handshake: the SNI name to send, replacing
/// `smtp_tls_servername` for this session (same syntax: `hostname`,
/// `nexthop`, a literal name, or "" for none). DANE levels always send the
/// TLSA base domain. An invalid name makes the handshake fail with
/// `MTATLS_RESULT_POLICY`, as Postfix defers such a delivery.
///
/// - NULL: any pointer NULL: `MTATLS_RESULT_NULL_PARAMETER`.
/// - Returns: `MTATLS_RESULT_OK`, `MTATLS_RESULT_NULL_PARAMETER` (`session` or
///   a pointer argument NULL), `MTATLS_RESULT_BAD_STATE` (called from inside
///   one of the session's own callbacks, or the handshake has started),
///   `MTATLS_RESULT_PANIC` (internal error; the session is unusable),
///   `MTATLS_RESULT_INVALID_ARGUMENT` (a server session, or text not UTF-8).
/// - Memory: `name` is copied.
/// - Blocking: no.
/// - Threads: one thread at a time per session (different sessions, also of
///   one context, may run in parallel).
#[no_mangle]
pub extern "C" fn mtatls_session_set_servername(
    session: *mut mtatls_session,
    name: *const c_char,
) -> mtatls_result {
    ffi_guard!(poison: session, MTATLS_RESULT_PANIC, {
        // SAFETY: arguments are valid per the contract.
        unsafe {
            with_session(session, |s| {
                let name = arg_str(name, "server name")?;
                super::params::test_panic_hook(name);
                s.set_servername(name)
            })
        }
    })
}

/// Client, before the handshake: the TLSA base domain (default: the host
/// name given to `mtatls_session_set_peer_names`).
///
/// - NULL: any pointer NULL: `MTATLS_RESULT_NULL_PARAMETER`.
/// - Returns: `MTATLS_RESULT_OK`, `MTATLS_RESULT_NULL_PARAMETER` (`session` or
///   a pointer argument NULL), `MTATLS_RESULT_BAD_STATE` (called from inside
///   one of the session's own callbacks, or the handshake has started),
///   `MTATLS_RESULT_PANIC` (internal error; the session is unusable),
///   `MTATLS_RESULT_INVALID_ARGUMENT` (a server session, or text not UTF-8).
/// - Memory: `base` is copied.
/// - Blocking: no.
/// - Threads: one thread at a time per session (different sessions, also of
///   one context, may run in parallel).
#[no_mangle]
pub extern "C" fn mtatls_session_set_tlsa_base(
    session: *mut mtatls_session,
    base: *const c_char,
) -> mtatls_result {
    ffi_guard!(poison: session, MTATLS_RESULT_PANIC, {
        // SAFETY: arguments are valid per the contract.
        unsafe { with_session(session, |s| s.set_tlsa_base(arg_str(base, "TLSA base domain")?)) }
    })
}

/// Before the handshake, either role: the TLS protocols of this session in
/// Postfix's syntax (`>=TLSv1.2`, `!SSLv3, !TLSv1`, `TLSv1.2 TLSv1.3`),
/// replacing `*_tls_protocols` / `*_tls_mandatory_protocols`, as a Postfix
/// policy table's `protocols=` does.
///
/// - NULL: any pointer NULL: `MTATLS_RESULT_NULL_PARAMETER`.
/// - Returns: `MTATLS_RESULT_OK`, `MTATLS_RESULT_NULL_PARAMETER`,
///   `MTATLS_RESULT_BAD_STATE` (the handshake has started, or called from
///   a callback), `MTATLS_RESULT_INVALID_ARGUMENT` (text not
///   UTF-8),
///   `MTATLS_RESULT_INVALID_VALUE` (not a protocol list, or none left), `MTATLS_RESULT_PANIC`.
/// - Memory: `protocols` is copied.
/// - Blocking: no.
/// - Threads: one thread at a time per session (different sessions, also of
///   one context, may run in parallel). Nothing shared with other sessions of the
///   context is changed.
#[no_mangle]
pub extern "C" fn mtatls_session_set_protocols(
    session: *mut mtatls_session,
    protocols: *const c_char,
) -> mtatls_result {
    ffi_guard!(poison: session, MTATLS_RESULT_PANIC, {
        // SAFETY: arguments are valid per the contract.
        unsafe { with_session(session, |s| s.set_protocols(arg_str(protocols, "protocol list")?)) }
    })
}

/// Before the handshake, either role: the cipher grade of this session
/// (`high`, `medium`, `low`, `export`, `null`), replacing the level's
/// `*_tls_ciphers` / `*_tls_mandatory_ciphers`. The exclusions the level
/// implies (`eNULL` at `encrypt`, `aNULL` above) stay.
///
/// - NULL: any pointer NULL: `MTATLS_RESULT_NULL_PARAMETER`.
/// - Returns: `MTATLS_RESULT_OK`, `MTATLS_RESULT_NULL_PARAMETER`,
///   `MTATLS_RESULT_BAD_STATE` (the handshake has started, or called from
///   a callback), `MTATLS_RESULT_INVALID_ARGUMENT` (text not
///   UTF-8),
///   `MTATLS_RESULT_INVALID_VALUE` (unknown grade); an OpenSSL refusal
///   of the resulting list fails the handshake with `MTATLS_RESULT_POLICY`, `MTATLS_RESULT_PANIC`.
/// - Memory: `grade` is copied.
/// - Blocking: no.
/// - Threads: one thread at a time per session (different sessions, also of
///   one context, may run in parallel). Nothing shared with other sessions of the
///   context is changed.
#[no_mangle]
pub extern "C" fn mtatls_session_set_cipher_grade(
    session: *mut mtatls_session,
    grade: *const c_char,
) -> mtatls_result {
    ffi_guard!(poison: session, MTATLS_RESULT_PANIC, {
        // SAFETY: arguments are valid per the contract.
        unsafe { with_session(session, |s| s.set_cipher_grade(arg_str(grade, "cipher grade")?)) }
    })
}

/// Before the handshake, either role: the cipher exclusions of this
/// session (Postfix's syntax, e.g. `aNULL, RC4`), replacing the configured
/// `*_tls_exclude_ciphers` (and mandatory) ones; the exclusions the level
/// implies stay.
///
/// - NULL: any pointer NULL: `MTATLS_RESULT_NULL_PARAMETER`.
/// - Returns: `MTATLS_RESULT_OK`, `MTATLS_RESULT_NULL_PARAMETER`,
///   `MTATLS_RESULT_BAD_STATE` (the handshake has started, or called from
///   a callback), `MTATLS_RESULT_INVALID_ARGUMENT` (text not
///   UTF-8),
///   `MTATLS_RESULT_INVALID_VALUE` (a token starting with `! + - @`), `MTATLS_RESULT_PANIC`.
/// - Memory: `list` is copied.
/// - Blocking: no.
/// - Threads: one thread at a time per session (different sessions, also of
///   one context, may run in parallel). Nothing shared with other sessions of the
///   context is changed.
#[no_mangle]
pub extern "C" fn mtatls_session_set_exclusions(
    session: *mut mtatls_session,
    list: *const c_char,
) -> mtatls_result {
    ffi_guard!(poison: session, MTATLS_RESULT_PANIC, {
        // SAFETY: arguments are valid per the contract.
        unsafe { with_session(session, |s| s.set_exclusions(arg_str(list, "exclusion list")?)) }
    })
}

/// Client, before the handshake: the fingerprint digest of this session
/// (`sha256`, `sha1`, `sha512`, ...), replacing
/// `smtp_tls_fingerprint_digest`: level `fingerprint` matches with it and
/// the facts report fingerprints made with it.
///
/// - NULL: any pointer NULL: `MTATLS_RESULT_NULL_PARAMETER`.
/// - Returns: `MTATLS_RESULT_OK`, `MTATLS_RESULT_NULL_PARAMETER`,
///   `MTATLS_RESULT_BAD_STATE` (the handshake has started, or called from
///   a callback), `MTATLS_RESULT_INVALID_ARGUMENT` (a server session, text not
///   UTF-8),
///   `MTATLS_RESULT_INVALID_VALUE` (a digest OpenSSL or this library
///   cannot use for matching), `MTATLS_RESULT_PANIC`.
/// - Memory: `digest` is copied.
/// - Blocking: no.
/// - Threads: one thread at a time per session (different sessions, also of
///   one context, may run in parallel). Nothing shared with other sessions of the
///   context is changed.
#[no_mangle]
pub extern "C" fn mtatls_session_set_fingerprint_digest(
    session: *mut mtatls_session,
    digest: *const c_char,
) -> mtatls_result {
    ffi_guard!(poison: session, MTATLS_RESULT_PANIC, {
        // SAFETY: arguments are valid per the contract.
        unsafe { with_session(session, |s| s.set_fingerprint_digest(arg_str(digest, "digest name")?)) }
    })
}

/// Client, before the handshake: verify the server with the CA
/// certificates of the PEM file `path` instead of `smtp_tls_CAfile` /
/// `smtp_tls_CApath` (plus the system's with `tls_append_default_CA`). The
/// file is read now, once per context and path (mind a chroot).
///
/// - NULL: any pointer NULL: `MTATLS_RESULT_NULL_PARAMETER`.
/// - Returns: `MTATLS_RESULT_OK`, `MTATLS_RESULT_NULL_PARAMETER`,
///   `MTATLS_RESULT_BAD_STATE` (the handshake has started, or called from
///   a callback), `MTATLS_RESULT_INVALID_ARGUMENT` (a server session, text not
///   UTF-8),
///   `MTATLS_RESULT_CA_STORE` (the file cannot be read or holds no
///   certificate), `MTATLS_RESULT_PANIC`.
/// - Memory: `path` is copied; the store read is kept by the context.
/// - Blocking: reads the file (local I/O).
/// - Threads: one thread at a time per session (different sessions, also of
///   one context, may run in parallel). Nothing shared with other sessions of the
///   context is changed.
#[no_mangle]
pub extern "C" fn mtatls_session_set_ca_file(
    session: *mut mtatls_session,
    path: *const c_char,
) -> mtatls_result {
    ffi_guard!(poison: session, MTATLS_RESULT_PANIC, {
        // SAFETY: arguments are valid per the contract.
        unsafe { with_session(session, |s| s.set_ca_file(arg_str(path, "CA file")?)) }
    })
}

/// Client, before the handshake: the trust anchors of the PEM files `path`
/// (one file or a list, certificates or public keys, as
/// `smtp_tls_trust_anchor_file`) for the
/// `verify` and `secure` levels of this session, as a Postfix policy
/// table's `tafile=`. Read now.
///
/// - NULL: any pointer NULL: `MTATLS_RESULT_NULL_PARAMETER`.
/// - Returns: `MTATLS_RESULT_OK`, `MTATLS_RESULT_NULL_PARAMETER`,
///   `MTATLS_RESULT_BAD_STATE` (the handshake has started, or called from
///   a callback), `MTATLS_RESULT_INVALID_ARGUMENT` (a server session, text not
///   UTF-8),
///   `MTATLS_RESULT_CERTIFICATE` (the file cannot be read or parsed), `MTATLS_RESULT_PANIC`.
/// - Memory: `path` is copied.
/// - Blocking: reads the file (local I/O).
/// - Threads: one thread at a time per session (different sessions, also of
///   one context, may run in parallel). Nothing shared with other sessions of the
///   context is changed.
#[no_mangle]
pub extern "C" fn mtatls_session_set_trust_anchor_file(
    session: *mut mtatls_session,
    path: *const c_char,
) -> mtatls_result {
    ffi_guard!(poison: session, MTATLS_RESULT_PANIC, {
        // SAFETY: arguments are valid per the contract.
        unsafe { with_session(session, |s| s.set_trust_anchor_file(arg_str(path, "trust anchor file")?)) }
    })
}

/// Client, before the handshake: verify the server with the CA directory
/// `path` (PEM files named by subject hash, as `openssl rehash` makes them)
/// instead of `smtp_tls_CAfile` / `smtp_tls_CApath`, together with the
/// file `mtatls_session_set_ca_file` names. The directory must exist now;
/// its files are read when a verification needs them.
///
/// - NULL: any pointer NULL: `MTATLS_RESULT_NULL_PARAMETER`.
/// - Returns: `MTATLS_RESULT_OK`, `MTATLS_RESULT_NULL_PARAMETER`,
///   `MTATLS_RESULT_BAD_STATE` (the handshake has started, or called from
///   a callback), `MTATLS_RESULT_INVALID_ARGUMENT` (a server session, text not
///   UTF-8), `MTATLS_RESULT_CA_STORE` (not a directory), `MTATLS_RESULT_PANIC`.
/// - Memory: `path` is copied; the store is kept by the context.
/// - Blocking: looks the directory up (local I/O).
/// - Threads: one thread at a time per session (different sessions, also of
///   one context, may run in parallel). Nothing shared with other sessions of the
///   context is changed.
#[no_mangle]
pub extern "C" fn mtatls_session_set_ca_path(
    session: *mut mtatls_session,
    path: *const c_char,
) -> mtatls_result {
    ffi_guard!(poison: session, MTATLS_RESULT_PANIC, {
        // SAFETY: arguments are valid per the contract.
        unsafe { with_session(session, |s| s.set_ca_path(arg_str(path, "CA directory")?)) }
    })
}

/// Before the handshake, either role: this session's own private keys and
/// certificates, from `files` (a list as `smtp_tls_chain_files` /
/// `smtpd_tls_chain_files`: each key followed by its certificate and
/// chain), replacing the context's: a client certificate for one
/// delivery, a server certificate for one listener. Read now.
///
/// - NULL: any pointer NULL: `MTATLS_RESULT_NULL_PARAMETER`.
/// - Returns: `MTATLS_RESULT_OK`, `MTATLS_RESULT_NULL_PARAMETER`,
///   `MTATLS_RESULT_BAD_STATE` (the handshake has started, or called from
///   a callback), `MTATLS_RESULT_INVALID_ARGUMENT` (text not UTF-8),
///   `MTATLS_RESULT_CERTIFICATE` (a file cannot be read, holds no PEM
///   data, or a key does not match its certificate), `MTATLS_RESULT_PANIC`.
/// - Memory: `files` is copied; the keys read are freed with the session.
/// - Blocking: reads the files (local I/O).
/// - Threads: one thread at a time per session (different sessions, also of
///   one context, may run in parallel). Nothing shared with other sessions of the
///   context is changed.
#[no_mangle]
pub extern "C" fn mtatls_session_set_chain_files(
    session: *mut mtatls_session,
    files: *const c_char,
) -> mtatls_result {
    ffi_guard!(poison: session, MTATLS_RESULT_PANIC, {
        // SAFETY: arguments are valid per the contract.
        unsafe { with_session(session, |s| s.set_chain_files(arg_str(files, "chain files")?)) }
    })
}

/// Before the handshake, either role: this session's log level in
/// `smtp_tls_loglevel` syntax (`0` to `4`, or keywords such as
/// `routine,certmatch`), replacing the context's.
///
/// - NULL: any pointer NULL: `MTATLS_RESULT_NULL_PARAMETER`.
/// - Returns: `MTATLS_RESULT_OK`, `MTATLS_RESULT_NULL_PARAMETER`,
///   `MTATLS_RESULT_BAD_STATE` (the handshake has started, or called from
///   a callback), `MTATLS_RESULT_INVALID_VALUE` (an unknown keyword, named
///   in `mtatls_session_error`), `MTATLS_RESULT_INVALID_ARGUMENT` (text not
///   UTF-8), `MTATLS_RESULT_PANIC`.
/// - Memory: `loglevel` is not kept.
/// - Blocking: no.
/// - Threads: one thread at a time per session (different sessions, also of
///   one context, may run in parallel). Nothing shared with other sessions of the
///   context is changed.
#[no_mangle]
pub extern "C" fn mtatls_session_set_loglevel(
    session: *mut mtatls_session,
    loglevel: *const c_char,
) -> mtatls_result {
    ffi_guard!(poison: session, MTATLS_RESULT_PANIC, {
        // SAFETY: arguments are valid per the contract.
        unsafe { with_session(session, |s| s.set_loglevel(arg_str(loglevel, "log level")?)) }
    })
}

/// Run the TLS handshake (after the plain-text STARTTLS exchange).
/// `timeout_seconds`: `MTATLS_TIMEOUT_DEFAULT` (-1) uses
/// `smtpd_starttls_timeout` / `smtp_starttls_timeout`; `MTATLS_TIMEOUT_NONBLOCK`
/// (0) returns `MTATLS_RESULT_WANT_READ`/`_WANT_WRITE` instead of waiting
/// (call again when the socket is ready); N > 0 waits at most N seconds
/// in total. On success the summary line has been logged (loglevel >= 1).
/// `MTATLS_RESULT_NOT_VERIFIED`: the handshake completed (summary logged,
/// facts available) but the peer failed the level's authentication; the
/// session can still carry QUIT before `mtatls_session_stop`.
/// On failure Postfix's `SSL_accept error from ...` / `SSL_connect error
/// to ...` lines are logged and `mtatls_session_error` has the reason.
///
/// - NULL: `session` NULL: `MTATLS_RESULT_NULL_PARAMETER`.
/// - Returns: `MTATLS_RESULT_OK`, `MTATLS_RESULT_NOT_VERIFIED`,
///   `MTATLS_RESULT_HANDSHAKE`, `MTATLS_RESULT_TIMEOUT`,
///   `MTATLS_RESULT_PEER_CLOSED`, `MTATLS_RESULT_IO`, `MTATLS_RESULT_POLICY`
///   (level `none`, invalid SNI name), `MTATLS_RESULT_CONTEXT`,
///   `MTATLS_RESULT_WANT_READ`, `MTATLS_RESULT_WANT_WRITE`,
///   `MTATLS_RESULT_INTERRUPTED`, `MTATLS_RESULT_BAD_STATE` (stopped mid-way,
///   or called from a callback), `MTATLS_RESULT_NULL_PARAMETER`,
///   `MTATLS_RESULT_PANIC`. Once finished, every later call returns the same
///   result and text.
/// - Memory: nothing is kept from the arguments.
/// - Blocking: up to `timeout_seconds` (default `*_starttls_timeout`); never
///   with `MTATLS_TIMEOUT_NONBLOCK`.
/// - Threads: one thread at a time per session (different sessions, also of
///   one context, may run in parallel).
#[no_mangle]
pub extern "C" fn mtatls_session_handshake(
    session: *mut mtatls_session,
    timeout_seconds: c_int,
) -> mtatls_result {
    ffi_guard!(poison: session, MTATLS_RESULT_PANIC, {
        // SAFETY: session is NULL or valid per the contract.
        unsafe { with_session(session, |s| s.handshake(timeout_arg(timeout_seconds))) }
    })
}

/// Read up to `len` decrypted bytes into `buf`; `*nread` gets the count
/// (0 means the peer closed the connection). `timeout_seconds` as for
/// `mtatls_session_handshake` (default: `smtpd_timeout` /
/// `smtp_data_xfer_timeout`). Once established the session reads ahead
/// (several records per system call): with `MTATLS_TIMEOUT_NONBLOCK`,
/// wait for the socket only after `MTATLS_RESULT_WANT_READ`, since data
/// may be waiting inside the session.
///
/// - NULL: `session` or `nread` NULL, or `buf` NULL with `len > 0`:
///   `MTATLS_RESULT_NULL_PARAMETER`.
/// - Returns: `MTATLS_RESULT_OK`, `MTATLS_RESULT_BAD_STATE` (no completed
///   handshake, failed or closed session, or called from a callback),
///   `MTATLS_RESULT_HANDSHAKE`, `MTATLS_RESULT_TIMEOUT`,
///   `MTATLS_RESULT_PEER_CLOSED`, `MTATLS_RESULT_IO`,
///   `MTATLS_RESULT_WANT_READ`, `MTATLS_RESULT_WANT_WRITE`,
///   `MTATLS_RESULT_INTERRUPTED`, `MTATLS_RESULT_NULL_PARAMETER`,
///   `MTATLS_RESULT_PANIC`.
/// - Memory: writes at most `len` bytes into `buf`; nothing is kept.
/// - Blocking: up to `timeout_seconds` (default `smtpd_timeout` /
///   `*_data_xfer_timeout`); never with `MTATLS_TIMEOUT_NONBLOCK`.
/// - Threads: one thread at a time per session (different sessions, also of
///   one context, may run in parallel).
#[no_mangle]
pub extern "C" fn mtatls_session_read(
    session: *mut mtatls_session,
    buf: *mut u8,
    len: usize,
    timeout_seconds: c_int,
    nread: *mut usize,
) -> mtatls_result {
    ffi_guard!(poison: session, MTATLS_RESULT_PANIC, {
        // SAFETY: session is NULL or valid per the contract.
        unsafe {
            with_session(session, |s| {
                if nread.is_null() || (buf.is_null() && len > 0) {
                    return Err(Error::new(ErrorKind::NullParameter, "read: buf or nread is NULL"));
                }
                *nread = 0;
                let slice = if len == 0 { &mut [][..] } else { std::slice::from_raw_parts_mut(buf, len) };
                *nread = s.read(slice, timeout_arg(timeout_seconds))?;
                Ok(())
            })
        }
    })
}

/// Write all `len` bytes of `buf`; `*nwritten` gets `len` on success.
/// In non-blocking mode a `WANT_*` result means: call again with the same
/// arguments when the socket is ready.
///
/// - NULL: `session` or `nwritten` NULL, or `buf` NULL with `len > 0`:
///   `MTATLS_RESULT_NULL_PARAMETER`.
/// - Returns: `MTATLS_RESULT_OK`, `MTATLS_RESULT_BAD_STATE`,
///   `MTATLS_RESULT_HANDSHAKE`, `MTATLS_RESULT_TIMEOUT`,
///   `MTATLS_RESULT_PEER_CLOSED` (the peer closed or vanished; no SIGPIPE is
///   raised), `MTATLS_RESULT_IO`, `MTATLS_RESULT_WANT_READ`,
///   `MTATLS_RESULT_WANT_WRITE`, `MTATLS_RESULT_INTERRUPTED`,
///   `MTATLS_RESULT_NULL_PARAMETER`, `MTATLS_RESULT_PANIC`.
/// - Memory: the bytes are sent before the call returns OK; after a `WANT_*`
///   result call again with the same buffer.
/// - Blocking: up to `timeout_seconds` (as for reads).
/// - Threads: one thread at a time per session (different sessions, also of
///   one context, may run in parallel).
#[no_mangle]
pub extern "C" fn mtatls_session_write(
    session: *mut mtatls_session,
    buf: *const u8,
    len: usize,
    timeout_seconds: c_int,
    nwritten: *mut usize,
) -> mtatls_result {
    ffi_guard!(poison: session, MTATLS_RESULT_PANIC, {
        // SAFETY: session is NULL or valid per the contract.
        unsafe {
            with_session(session, |s| {
                if nwritten.is_null() || (buf.is_null() && len > 0) {
                    return Err(Error::new(ErrorKind::NullParameter, "write: buf or nwritten is NULL"));
                }
                *nwritten = 0;
                let slice = if len == 0 { &[][..] } else { std::slice::from_raw_parts(buf, len) };
                *nwritten = s.write(slice, timeout_arg(timeout_seconds))?;
                Ok(())
            })
        }
    })
}

/// End the session: send close_notify (and with
/// `tls_fast_shutdown_enable = no` wait for the peer's), unless the
/// handshake never completed or failed. Restores the socket's flags; the
/// socket stays open. `timeout_seconds` as for reads.
///
/// - NULL: `session` NULL: `MTATLS_RESULT_NULL_PARAMETER`.
/// - Returns: `MTATLS_RESULT_OK`, `MTATLS_RESULT_WANT_READ`,
///   `MTATLS_RESULT_WANT_WRITE`, `MTATLS_RESULT_INTERRUPTED`,
///   `MTATLS_RESULT_BAD_STATE` (called from a callback),
///   `MTATLS_RESULT_NULL_PARAMETER`, `MTATLS_RESULT_PANIC`; a peer that is
///   gone or slow does not make it fail.
/// - Memory: the socket stays open; its flags are restored.
/// - Blocking: up to `timeout_seconds` (as for reads) with
///   `tls_fast_shutdown_enable = no`; otherwise only to send close_notify.
/// - Threads: one thread at a time per session (different sessions, also of
///   one context, may run in parallel).
#[no_mangle]
pub extern "C" fn mtatls_session_stop(
    session: *mut mtatls_session,
    timeout_seconds: c_int,
) -> mtatls_result {
    ffi_guard!(poison: session, MTATLS_RESULT_PANIC, {
        // SAFETY: session is NULL or valid per the contract.
        unsafe { with_session(session, |s| s.stop(timeout_arg(timeout_seconds))) }
    })
}

/// The facts of the established session, or NULL before the handshake
/// has succeeded (or for NULL). Borrowed: valid until the session is freed.
///
/// - NULL: NULL `session` gives NULL.
/// - Returns: the facts, or NULL (no completed handshake, poisoned session, or
///   called from a callback).
/// - Memory: borrowed from the session: valid until it is freed.
/// - Blocking: no.
/// - Threads: one thread at a time per session (different sessions, also of
///   one context, may run in parallel).
#[no_mangle]
pub extern "C" fn mtatls_session_get_facts(
    session: *mut mtatls_session,
) -> *const mtatls_session_facts {
    ffi_guard!(poison: session, std::ptr::null(), {
        // SAFETY: session is NULL or valid per the contract.
        let Some(handle) = (unsafe { session.as_ref() }) else {
            return std::ptr::null();
        };
        if handle.poisoned.get() {
            return std::ptr::null();
        }
        let (Ok(mut inner), Ok(mut slot)) =
            (handle.inner.try_borrow_mut(), handle.facts.try_borrow_mut())
        else {
            return std::ptr::null();
        };
        let Some(facts) = inner.facts() else {
            return std::ptr::null();
        };
        let c = slot.get_or_insert_with(|| Box::new(CFacts::new(facts)));
        &c.view as *const mtatls_session_facts
    })
}

pub(super) fn text_out(
    session: *const mtatls_session,
    buf: *mut c_char,
    len: usize,
    f: impl FnOnce(&Session) -> Option<String>,
) -> usize {
    // SAFETY: session is NULL or valid; buf is NULL or writable for len.
    unsafe {
        match readable(session).and_then(|s| f(&s)) {
            Some(text) => copy_out(&text, buf, len),
            None => copy_out("", buf, len),
        }
    }
}

/// Write Postfix's summary line ("Untrusted TLS connection established
/// to ...: TLSv1.3 with cipher ...") into `buf` snprintf-style and return
/// its full length (excluding NUL); 0 before the handshake has succeeded.
///
/// - NULL: NULL `session` gives 0; `buf` may be NULL when `len` is 0.
/// - Returns: the line's full length; 0 before a completed handshake or for a
///   poisoned session.
/// - Memory: copied into `buf` (truncated, NUL-terminated).
/// - Blocking: no.
/// - Threads: one thread at a time per session (different sessions, also of
///   one context, may run in parallel).
#[no_mangle]
pub extern "C" fn mtatls_session_summary(
    session: *const mtatls_session,
    buf: *mut c_char,
    len: usize,
) -> usize {
    ffi_guard!(0, { text_out(session, buf, len, Session::summary) })
}

/// Write the Received: header TLS comment into `buf` snprintf-style and
/// return its full length; 0 before the handshake and for a client
/// session (only a server writes Received: headers). The text is the
/// continuation lines that follow `Received: from HELO (NAME [ADDR])`,
/// each starting with a TAB, separated by `\n`, without a final newline.
///
/// - NULL: NULL `session` gives 0; `buf` may be NULL when `len` is 0.
/// - Returns: the text's full length; 0 before a completed handshake, for a
///   client session or a poisoned one.
/// - Memory: copied into `buf` (truncated, NUL-terminated).
/// - Blocking: no.
/// - Threads: one thread at a time per session (different sessions, also of
///   one context, may run in parallel).
#[no_mangle]
pub extern "C" fn mtatls_session_received_comment(
    session: *const mtatls_session,
    buf: *mut c_char,
    len: usize,
) -> usize {
    ffi_guard!(0, {
        text_out(session, buf, len, Session::received_comment)
    })
}

/// The message of the last failed call on this session ("" after a
/// successful call or for NULL). Borrowed: valid until the next call on
/// the session or its free.
///
/// - NULL: NULL `session` gives "".
/// - Returns: the text; never NULL.
/// - Memory: borrowed from the session: valid until its next call or its free.
/// - Blocking: no.
/// - Threads: one thread at a time per session (different sessions, also of
///   one context, may run in parallel).
#[no_mangle]
pub extern "C" fn mtatls_session_error(session: *const mtatls_session) -> *const c_char {
    ffi_guard!(c"".as_ptr(), {
        // SAFETY: session is NULL or valid per the contract.
        match unsafe { session.as_ref() }.map(|s| s.error.try_borrow()) {
            Some(Ok(e)) => e.as_ptr(),
            _ => c"".as_ptr(),
        }
    })
}

/// Whether the peer closed the connection without close_notify
/// (possible truncation). False for NULL.
///
/// - NULL: NULL gives false.
/// - Returns: the flag (false for a poisoned session).
/// - Memory: nothing is kept.
/// - Blocking: no.
/// - Threads: one thread at a time per session (different sessions, also of
///   one context, may run in parallel).
#[no_mangle]
pub extern "C" fn mtatls_session_truncated(session: *const mtatls_session) -> bool {
    ffi_guard!(false, {
        // SAFETY: session is NULL or valid per the contract.
        unsafe { readable(session) }.is_some_and(|s| s.truncated())
    })
}

/// Format argument of `mtatls_session_peer_certificate`: PEM text.
pub const MTATLS_CERT_FORMAT_PEM: i32 = 0;
/// Format argument of `mtatls_session_peer_certificate`: DER bytes.
pub const MTATLS_CERT_FORMAT_DER: i32 = 1;

/// How many certificates `mtatls_session_peer_certificate` has for this
/// session: the chain the peer sent (leaf first), or with `verified` the
/// chain verification built (leaf to trust anchor; 0 unless the chain
/// verified: an untrusted peer's chain is never reported as verified).
///
/// - NULL: NULL `session` gives 0.
/// - Returns: the count; 0 before a completed handshake, for a poisoned
///   session, or a peer without certificate.
/// - Memory: nothing is kept.
/// - Blocking: no.
/// - Threads: one thread at a time per session.
#[no_mangle]
pub extern "C" fn mtatls_session_peer_certificate_count(
    session: *const mtatls_session,
    verified: bool,
) -> usize {
    ffi_guard!(0, {
        // SAFETY: session is NULL or valid per the contract.
        unsafe { readable(session) }.map_or(0, |s| s.peer_certificates(verified).len())
    })
}

/// Write certificate `index` (0: the leaf) of the peer's chain (see
/// `mtatls_session_peer_certificate_count`) into `buf`, as PEM text
/// (`MTATLS_CERT_FORMAT_PEM`, NUL-terminated when it fits) or DER bytes
/// (`MTATLS_CERT_FORMAT_DER`), and return its full length (excluding the
/// NUL); 0 when there is no such certificate. Call with `len` 0 to learn
/// the size.
///
/// - NULL: NULL `session` gives 0; `buf` may be NULL when `len` is 0.
/// - Returns: the length; 0 for a bad `index` or `format`, before a
///   completed handshake, or for a poisoned session.
/// - Memory: copied into `buf` (PEM truncated and NUL-terminated; DER
///   written only when it fits whole).
/// - Blocking: no.
/// - Threads: one thread at a time per session.
#[no_mangle]
pub extern "C" fn mtatls_session_peer_certificate(
    session: *const mtatls_session,
    verified: bool,
    index: usize,
    format: c_int,
    buf: *mut u8,
    len: usize,
) -> usize {
    ffi_guard!(0, {
        // SAFETY: session is NULL or valid per the contract.
        let Some(s) = (unsafe { readable(session) }) else {
            return 0;
        };
        let chain = s.peer_certificates(verified);
        let Some(cert) = chain.get(index) else {
            return 0;
        };
        match format {
            MTATLS_CERT_FORMAT_PEM => {
                let pem = cert.to_pem().unwrap_or_default();
                let text = String::from_utf8_lossy(&pem);
                // SAFETY: buf is NULL or writable for len bytes.
                unsafe { copy_out(&text, buf.cast(), len) }
            }
            MTATLS_CERT_FORMAT_DER => {
                let der = cert.to_der().unwrap_or_default();
                if !buf.is_null() && len >= der.len() {
                    // SAFETY: buf is writable for len >= der.len() bytes.
                    unsafe { std::ptr::copy_nonoverlapping(der.as_ptr(), buf, der.len()) };
                }
                der.len()
            }
            _ => 0,
        }
    })
}
