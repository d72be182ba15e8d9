//! `mtatls_ctx`: an immutable, shareable client or server context.

use std::ffi::c_char;
use std::sync::Arc;

use super::params::{mtatls_params, with_params};
use super::{arg_str, ffi_guard, mtatls_result};
use crate::context::Context;
use mtatls_result::*;

/// A client (`smtp`, `lmtp`) or server (`smtpd`) TLS context. Immutable
/// once built and safe to use from several threads at once. Sessions keep
/// it alive: freeing it while sessions exist is fine.
pub struct mtatls_ctx {
    pub(crate) inner: Arc<Context>,
}

/// Build a context from `params` for role prefix `role` (`"smtp"` or
/// `"lmtp"`: client; `"smtpd"`: server), reading every certificate, key,
/// CA and DH file now (Postfix loads them before dropping privileges).
/// On success `*out` gets a context to free with `mtatls_ctx_free`; on
/// failure `*out` is untouched and `mtatls_params_error(params)` says why
/// (naming the parameter, file and OpenSSL reason). Warnings Postfix would
/// log (unknown group names, bad DH file, ...) go to the log callback.
///
/// - NULL: any pointer NULL: `MTATLS_RESULT_NULL_PARAMETER`; `*out` is
///   untouched on failure.
/// - Returns: `MTATLS_RESULT_OK`, `MTATLS_RESULT_NULL_PARAMETER` (`params` or
///   a pointer argument NULL), `MTATLS_RESULT_BAD_STATE` (called from inside
///   one of `params`'s own callbacks), `MTATLS_RESULT_PANIC` (internal error;
///   `params` is unusable), `MTATLS_RESULT_INVALID_ARGUMENT` (unknown role),
///   `MTATLS_RESULT_UNKNOWN_PARAMETER`, `MTATLS_RESULT_INVALID_VALUE`,
///   `MTATLS_RESULT_STRICT`, `MTATLS_RESULT_CERTIFICATE`,
///   `MTATLS_RESULT_CA_STORE`, `MTATLS_RESULT_CONTEXT`, `MTATLS_RESULT_POLICY`
///   (TLS turned off); the text is `mtatls_params_error(params)`.
/// - Memory: the values are copied; `params` may be freed afterwards. `*out`
///   is owned by the caller (`mtatls_ctx_free`).
/// - Blocking: reads every certificate, key, CA and DH file (local I/O).
/// - Threads: not thread-safe: one thread at a time per `params`. The new
///   context is thread-safe.
#[no_mangle]
pub extern "C" fn mtatls_ctx_new(
    params: *mut mtatls_params,
    role: *const c_char,
    out: *mut *mut mtatls_ctx,
) -> mtatls_result {
    ffi_guard!(poison: params, MTATLS_RESULT_PANIC, {
        // SAFETY: arguments are valid per the contract.
        unsafe {
            with_params(params, |p| {
                let role = arg_str(role, "role")?;
                if out.is_null() {
                    return Err(crate::error::Error::new(crate::error::ErrorKind::NullParameter, "out is NULL"));
                }
                let ctx = Context::with_hooks(&p.params, role, &p.hooks)?;
                *out = Box::into_raw(Box::new(mtatls_ctx {
                    inner: Arc::new(ctx),
                }));
                Ok(())
            })
        }
    })
}

/// Release the caller's reference to a context. NULL is ignored. Call at
/// most once per object, after no other thread uses this handle.
///
/// - NULL: NULL is ignored.
/// - Returns: nothing.
/// - Memory: releases the caller's reference; sessions keep the context alive.
///   Call at most once.
/// - Blocking: no.
/// - Threads: after no other thread uses this handle.
#[no_mangle]
pub extern "C" fn mtatls_ctx_free(ctx: *mut mtatls_ctx) {
    ffi_guard!((), {
        if !ctx.is_null() {
            // SAFETY: ctx came from mtatls_ctx_new and is freed once.
            drop(unsafe { Box::from_raw(ctx) });
        }
    })
}

fn ctx_flag(ctx: *const mtatls_ctx, f: impl FnOnce(&Context) -> bool) -> bool {
    // SAFETY: ctx is NULL or valid per the contract.
    unsafe { ctx.as_ref() }.is_some_and(|c| f(&c.inner))
}

/// Server: whether Received: headers should carry the TLS comment
/// (`smtpd_tls_received_header`). False for NULL or a client context.
///
/// - NULL: NULL gives false.
/// - Returns: the flag.
/// - Memory: nothing is kept.
/// - Blocking: no.
/// - Threads: thread-safe.
#[no_mangle]
pub extern "C" fn mtatls_ctx_received_header(ctx: *const mtatls_ctx) -> bool {
    ffi_guard!(false, { ctx_flag(ctx, |c| c.received_header) })
}

/// Whether TLS starts on connect (SMTPS): `smtpd_tls_wrappermode` for a
/// server context, `smtp_tls_wrappermode` (or `lmtp_`) for a client one.
/// False for NULL.
///
/// - NULL: NULL gives false.
/// - Returns: the flag.
/// - Memory: nothing is kept.
/// - Blocking: no.
/// - Threads: thread-safe.
#[no_mangle]
pub extern "C" fn mtatls_ctx_wrappermode(ctx: *const mtatls_ctx) -> bool {
    ffi_guard!(false, { ctx_flag(ctx, |c| c.wrappermode) })
}

/// Whether TLS is mandatory: server level `encrypt` or wrapper mode;
/// client default level above `may`. False for NULL.
///
/// - NULL: NULL gives false.
/// - Returns: the flag.
/// - Memory: nothing is kept.
/// - Blocking: no.
/// - Threads: thread-safe.
#[no_mangle]
pub extern "C" fn mtatls_ctx_tls_required(ctx: *const mtatls_ctx) -> bool {
    ffi_guard!(false, {
        ctx_flag(ctx, |c| match c.role {
            crate::context::Role::Server => c.mandatory,
            crate::context::Role::Client => c.level.required(),
        })
    })
}

/// Length in bytes of a session ticket key for `mtatls_ctx_set_ticket_key`.
pub const MTATLS_TICKET_KEY_LEN: usize = 80;
const _: () = assert!(MTATLS_TICKET_KEY_LEN == crate::context::tickets::TICKET_KEY_LEN);

/// Server: install a session ticket key, so that several processes or
/// hosts can resume each other's sessions (Postfix's tlsmgr shares keys
/// among smtpd processes). `key` holds `MTATLS_TICKET_KEY_LEN` (80) bytes:
/// a 16-byte key name (sent in the clear in each ticket), 32 bytes of
/// cipher key (`tls_session_ticket_cipher` uses the first bytes it needs),
/// 32 bytes of HMAC-SHA256 key, all from a good random source.
/// `expires`: Unix time after which the key no longer encrypts new tickets;
/// it still decrypts for one more `smtpd_tls_session_cache_timeout`.
/// The newest installed key encrypts; the one before it still decrypts.
/// Installing a key turns off the automatic in-process rotation: from then
/// on the host rotates. Thread-safe. `MTATLS_RESULT_BAD_STATE` if the
/// context issues no tickets (client, cache timeout 0, no ticket cipher).
///
/// - NULL: `ctx` or `key` NULL: `MTATLS_RESULT_NULL_PARAMETER`.
/// - Returns: `MTATLS_RESULT_OK`, `MTATLS_RESULT_NULL_PARAMETER`,
///   `MTATLS_RESULT_INVALID_ARGUMENT` (`len` is not `MTATLS_TICKET_KEY_LEN`),
///   `MTATLS_RESULT_BAD_STATE` (no tickets), `MTATLS_RESULT_PANIC`.
/// - Memory: the key bytes are copied; the caller may wipe them on return.
/// - Blocking: no.
/// - Threads: thread-safe.
#[no_mangle]
pub extern "C" fn mtatls_ctx_set_ticket_key(
    ctx: *const mtatls_ctx,
    key: *const u8,
    len: usize,
    expires: u64,
) -> mtatls_result {
    ffi_guard!(MTATLS_RESULT_PANIC, {
        // SAFETY: ctx is NULL or valid per the contract.
        let Some(ctx) = (unsafe { ctx.as_ref() }) else {
            return MTATLS_RESULT_NULL_PARAMETER;
        };
        if key.is_null() {
            return MTATLS_RESULT_NULL_PARAMETER;
        }
        let Some(tickets) = &ctx.inner.tickets else {
            return MTATLS_RESULT_BAD_STATE;
        };
        // SAFETY: key is readable for len bytes per the contract.
        let bytes = unsafe { std::slice::from_raw_parts(key, len) };
        match crate::context::tickets::TicketKey::from_bytes(bytes, expires) {
            Some(k) => {
                tickets.install(k);
                MTATLS_RESULT_OK
            }
            None => MTATLS_RESULT_INVALID_ARGUMENT,
        }
    })
}

/// Write the forward-secrecy report of `ctx` into `buf` snprintf-style and
/// return its full length (0 for NULL): for each cipher policy (the server's
/// one; the client's for `may`, for `encrypt`, and for the authenticated
/// levels) the protocol range, the TLS 1.2-and-older suites in preference
/// order marked forward-secret or not (as `openssl ciphers -v` describes
/// them), the TLS 1.3 suites, the key-exchange groups and what became of
/// each configured name, the DH parameters, every problem with the
/// parameter to change, and a verdict. `json`: false for text, true for
/// one JSON object with the same content.
///
/// - NULL: NULL `ctx` gives 0 (and "" in `buf`); `buf` may be NULL when `len`
///   is 0.
/// - Returns: the report's full length (excluding NUL).
/// - Memory: copied into `buf` (truncated, NUL-terminated).
/// - Blocking: no.
/// - Threads: thread-safe.
#[no_mangle]
pub extern "C" fn mtatls_ctx_fs_report(
    ctx: *const mtatls_ctx,
    json: bool,
    buf: *mut c_char,
    len: usize,
) -> usize {
    ffi_guard!(0, {
        // SAFETY: ctx is NULL or valid; buf is NULL or writable for len.
        unsafe {
            match ctx.as_ref() {
                Some(c) => {
                    let r = crate::report::fsreport::report(&c.inner);
                    let text = if json { r.to_json() } else { r.to_text() };
                    super::copy_out(&text, buf, len)
                }
                None => super::copy_out("", buf, len),
            }
        }
    })
}
