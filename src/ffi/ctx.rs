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
                    return Err(crate::Error::new(crate::ErrorKind::NullParameter, "out is NULL"));
                }
                let ctx = Context::new(&p.inner, role)?;
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
#[no_mangle]
pub extern "C" fn mtatls_ctx_received_header(ctx: *const mtatls_ctx) -> bool {
    ffi_guard!(false, { ctx_flag(ctx, |c| c.received_header) })
}

/// Server: whether TLS starts on connect (`smtpd_tls_wrappermode`, SMTPS).
/// False for NULL or a client context.
#[no_mangle]
pub extern "C" fn mtatls_ctx_wrappermode(ctx: *const mtatls_ctx) -> bool {
    ffi_guard!(false, { ctx_flag(ctx, |c| c.wrappermode) })
}

/// Whether TLS is mandatory: server level `encrypt` or wrapper mode;
/// client default level above `may`. False for NULL.
#[no_mangle]
pub extern "C" fn mtatls_ctx_tls_required(ctx: *const mtatls_ctx) -> bool {
    ffi_guard!(false, {
        ctx_flag(ctx, |c| match c.role {
            crate::context::Role::Server => c.mandatory,
            crate::context::Role::Client => c.level.required(),
        })
    })
}
