//! The C ABI. Everything C sees is defined under this module; nothing
//! below it knows about C. Conventions (see DESIGN.md): `mtatls_` names,
//! opaque handles, results as `mtatls_result`, detail text kept on the
//! object, NULL checked everywhere, and every exported body inside
//! [`ffi_guard!`] so that no panic crosses into C.

#![allow(unsafe_code)]
#![allow(non_camel_case_types)]
// These functions are called from C, whose callers cannot mark anything
// `unsafe`; each one checks its pointers for NULL and documents what it
// requires of the rest.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

use std::ffi::{c_char, CStr, CString};

pub mod ctx;
pub mod params;
pub mod result;
pub mod session;
pub mod tlsrpt;
pub mod version;

pub use result::mtatls_result;

/// Run an exported function's body, turning a panic into `$on_panic`.
/// With `poison: ptr`, a panic also marks that handle unusable.
macro_rules! ffi_guard {
    (poison: $obj:expr, $on_panic:expr, $body:block) => {{
        let obj_ptr = $obj;
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| $body)) {
            Ok(v) => v,
            Err(_) => {
                $crate::ffi::Poison::poison(obj_ptr);
                $on_panic
            }
        }
    }};
    ($on_panic:expr, $body:block) => {{
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| $body)) {
            Ok(v) => v,
            Err(_) => $on_panic,
        }
    }};
}
pub(crate) use ffi_guard;

/// Handles that remember a panic and refuse further use.
pub(crate) trait Poison {
    /// Mark the handle behind this pointer (if any) as poisoned.
    fn poison(self);
}

/// Text kept on a handle for `mtatls_*_error()`; never contains NUL.
#[derive(Debug, Default)]
pub(crate) struct ErrorText(Option<CString>);

impl ErrorText {
    pub(crate) fn clear(&mut self) {
        self.0 = None;
    }

    pub(crate) fn set(&mut self, text: &str) {
        self.0 = Some(to_cstring(text));
    }

    pub(crate) fn as_ptr(&self) -> *const c_char {
        match &self.0 {
            Some(c) => c.as_ptr(),
            None => c"".as_ptr(),
        }
    }
}

/// A C string for text that might (in theory) hold NUL bytes.
pub(crate) fn to_cstring(text: &str) -> CString {
    CString::new(text.replace('\0', "?")).unwrap_or_default()
}

/// Borrow a NUL-terminated UTF-8 argument; `what` names it in the error.
///
/// # Safety
/// `p` must be NULL or point to a NUL-terminated string.
pub(crate) unsafe fn arg_str<'a>(
    p: *const c_char,
    what: &str,
) -> Result<&'a str, crate::error::Error> {
    if p.is_null() {
        return Err(crate::error::Error::new(
            crate::error::ErrorKind::NullParameter,
            format!("{what} is NULL"),
        ));
    }
    // SAFETY: guaranteed by the caller.
    unsafe { CStr::from_ptr(p) }.to_str().map_err(|_| {
        crate::error::Error::new(
            crate::error::ErrorKind::InvalidArgument,
            format!("{what} is not valid UTF-8"),
        )
    })
}

/// Copy `text` into a caller buffer snprintf-style: at most `len - 1`
/// bytes plus NUL; returns the full length (excluding NUL).
///
/// # Safety
/// `buf` must be NULL or writable for `len` bytes.
pub(crate) unsafe fn copy_out(text: &str, buf: *mut c_char, len: usize) -> usize {
    let bytes = text.as_bytes();
    if !buf.is_null() && len > 0 {
        let n = bytes.len().min(len - 1);
        // SAFETY: buf has room for len bytes; n < len.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf.cast::<u8>(), n);
            *buf.add(n) = 0;
        }
    }
    bytes.len()
}

/// Timeout argument of blocking calls: the role's default.
pub const MTATLS_TIMEOUT_DEFAULT: i32 = -1;
/// Timeout argument of blocking calls: do not wait; return
/// `MTATLS_RESULT_WANT_READ` / `MTATLS_RESULT_WANT_WRITE` instead.
pub const MTATLS_TIMEOUT_NONBLOCK: i32 = 0;

/// Log callback severity of a warning (syslog `LOG_WARNING`); Postfix
/// prefixes such lines with `warning: `.
pub const MTATLS_LOG_WARNING: i32 = 4;
/// Log callback severity of an informational line (syslog `LOG_INFO`).
pub const MTATLS_LOG_INFO: i32 = 6;

/// `timeout_seconds` argument → session timeout (`None`: default).
pub(crate) fn timeout_arg(seconds: i32) -> Option<crate::sys::wait::Timeout> {
    match seconds {
        s if s < 0 => None,
        0 => Some(crate::sys::wait::Timeout::NonBlocking),
        s => Some(crate::sys::wait::Timeout::After(
            std::time::Duration::from_secs(s as u64),
        )),
    }
}
