//! Version information.

use std::ffi::c_char;

use once_cell::sync::Lazy;

use super::{ffi_guard, to_cstring};

static VERSION: Lazy<std::ffi::CString> = Lazy::new(|| {
    to_cstring(&format!(
        "mtatls {} ({})",
        env!("CARGO_PKG_VERSION"),
        crate::sys::version::runtime_version()
    ))
});

/// The library version and the OpenSSL it runs with, e.g.
/// `"mtatls 0.1.0 (OpenSSL 3.0.19 27 Jan 2026)"`. Static; never NULL;
/// thread-safe.
///
/// - NULL: no pointer arguments.
/// - Returns: the static version string; never NULL.
/// - Memory: the string is static (never freed).
/// - Blocking: no.
/// - Threads: thread-safe.
#[no_mangle]
pub extern "C" fn mtatls_version() -> *const c_char {
    ffi_guard!(c"mtatls".as_ptr(), { VERSION.as_ptr() })
}
