//! A drop-in `libpostfix-tls.so` for Postfix 3.7 to 3.11 (Debian 12's
//! 3.7.11 by default), built on the mtatls crate: the unmodified `smtpd(8)`
//! and `smtp(8)` do their STARTTLS through Rust. One build per Postfix
//! series (the `pf3x` features, [`abi`]); patch-level behaviour follows
//! the running `mail_version` ([`release`]).
//!
//! Two builds from this crate:
//! - the full replacement (default features): every symbol Debian's
//!   library exports, loaded through
//!   `LD_LIBRARY_PATH`;
//! - `--features preload`: only what smtpd and smtp need, for
//!   `LD_PRELOAD` next to Debian's library (which keeps serving tlsmgr,
//!   tlsproxy and posttls-finger).
//!
//! Postfix's own util/global/dns functions are found at run time
//! ([`pf`]); nothing here references a Postfix symbol at link time.

// The `extern "C"` entry points are Postfix's functions: their safety
// contract is Postfix's ABI (its src/tls/tls.h), not repeated per
// function.
#![allow(clippy::missing_safety_doc)]

pub mod abi;
pub mod client;
#[cfg(not(feature = "preload"))]
pub mod dane;
pub mod globals;
pub mod misc;
pub mod pf;
#[cfg(feature = "preload")]
pub mod preload;
pub mod release;
pub mod server;
pub mod sess;
#[cfg(not(feature = "preload"))]
pub mod stubs;
#[cfg(feature = "pf310")]
pub mod tlsrpt;

use std::ffi::{c_int, c_void};

/// Run `f`, turning a panic into a warning and `fail` (a panic must never
/// unwind into Postfix).
pub fn guard<T>(what: &str, fail: T, f: impl FnOnce() -> T) -> T {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(_) => {
            pf::warn(&format!("{what}: internal error in the mtatls TLS library"));
            fail
        }
    }
}

/// Whether this process is tlsproxy(8), which drives OpenSSL's `SSL *` in
/// `TLS_SESS_STATE.con` itself.
pub fn tlsproxy_process() -> bool {
    pf::procname() == "tlsproxy"
}

/// `void tls_session_stop(TLS_APPL_STATE *, VSTREAM *, int timeout, int
/// failure, TLS_SESS_STATE *)`: close_notify unless `failure`, free the
/// context, give the stream back Postfix's dummy read/write functions.
#[no_mangle]
pub unsafe extern "C" fn tls_session_stop(
    app: *mut c_void,
    stream: *mut c_void,
    timeout: c_int,
    failure: c_int,
    sess: *mut c_void,
) {
    #[cfg(feature = "preload")]
    if !sess.is_null() && !sess::is_ours(sess) {
        return preload::forward_session_stop(app, stream, timeout, failure, sess);
    }
    let _ = app;
    guard("tls_session_stop", (), || {
        sess::session_stop(stream, timeout, failure, sess)
    })
}

/// `void tls_free_app_context(TLS_APPL_STATE *)`.
#[no_mangle]
pub unsafe extern "C" fn tls_free_app_context(app: *mut c_void) {
    if app.is_null() {
        return;
    }
    #[cfg(feature = "preload")]
    if !sess::is_our_app(app) {
        return preload::forward_free_app_context(app);
    }
    guard("tls_free_app_context", (), || sess::free_app(app))
}

/// `void tls_update_app_logmask(TLS_APPL_STATE *, int mask)`.
#[no_mangle]
pub unsafe extern "C" fn tls_update_app_logmask(app: *mut c_void, mask: c_int) {
    #[cfg(feature = "preload")]
    if !app.is_null() && !sess::is_our_app(app) {
        return preload::forward_update_app_logmask(app, mask);
    }
    if let Some(a) = sess::AppState::from_ptr(app, "tls_update_app_logmask") {
        a.set_log_mask(mask);
    }
}
