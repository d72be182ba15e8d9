//! The OpenSSL this process runs with: its version text and the check
//! against the version this library was built for.

use std::ffi::CStr;

use super::ossl::{OpenSSL_version, OpenSSL_version_num};

/// The runtime OpenSSL version text, e.g. `OpenSSL 3.0.19 27 Jan 2026`.
pub fn runtime_version() -> &'static str {
    static VERSION: once_cell::sync::Lazy<String> = once_cell::sync::Lazy::new(|| {
        // SAFETY: OpenSSL_version(OPENSSL_VERSION=0) returns a static string.
        let p = unsafe { OpenSSL_version(0) };
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    });
    &VERSION
}

/// `(major, minor, patch)` of an OpenSSL 3 version number (0xMNN00PP0).
fn version_parts(v: u64) -> (u64, u64, u64) {
    (v >> 28, (v >> 20) & 0xff, (v >> 4) & 0xff)
}

/// Compare the run-time OpenSSL with the one this library was compiled
/// against, as Postfix does: `Err` (Postfix's text) when the major version
/// differs or the run-time library is older; `Ok(Some(warning))` when only
/// the minor version differs; `Ok(None)` when they match.
pub fn compare_versions(build: u64, run: u64) -> std::result::Result<Option<String>, String> {
    let (b, r) = (version_parts(build), version_parts(run));
    let text = |(ma, mi, pa): (u64, u64, u64)| format!("{ma}.{mi}.{pa}");
    let message = format!(
        "run-time library vs. compile-time header version mismatch: OpenSSL {} may not be compatible with OpenSSL {}",
        text(r),
        text(b)
    );
    if r.0 != b.0 || (r.1, r.2) < (b.1, b.2) {
        Err(message)
    } else if r.1 != b.1 {
        Ok(Some(message))
    } else {
        Ok(None)
    }
}

/// [`compare_versions`] for this build and the OpenSSL loaded now.
pub fn check_runtime_version() -> std::result::Result<Option<String>, String> {
    let build = u64::from_str_radix(env!("MTATLS_OPENSSL_BUILD_VERSION"), 16).unwrap_or(0);
    if build == 0 {
        return Ok(None);
    }
    // SAFETY: a plain query.
    compare_versions(build, unsafe { OpenSSL_version_num() } as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_rules_follow_postfix() {
        let v = |ma: u64, mi: u64, pa: u64| (ma << 28) | (mi << 20) | (pa << 4);
        assert_eq!(compare_versions(v(3, 0, 19), v(3, 0, 19)), Ok(None));
        assert_eq!(compare_versions(v(3, 0, 2), v(3, 0, 19)), Ok(None));
        assert!(compare_versions(v(3, 0, 19), v(3, 2, 1)).unwrap().is_some());
        assert_eq!(
            compare_versions(v(3, 0, 19), v(3, 0, 2)),
            Err("run-time library vs. compile-time header version mismatch: OpenSSL 3.0.2 may not be compatible with OpenSSL 3.0.19".into())
        );
        assert!(compare_versions(v(3, 0, 0), v(4, 0, 0)).is_err());
        assert_eq!(check_runtime_version(), Ok(None));
    }
}
