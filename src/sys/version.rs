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

/// Whether the OpenSSL loaded now is `major.minor` or later.
pub fn runtime_at_least(major: u64, minor: u64) -> bool {
    // SAFETY: a plain query.
    let (ma, mi, _) = version_parts(unsafe { OpenSSL_version_num() } as u64);
    (ma, mi) >= (major, minor)
}

/// The version of the OpenSSL this library was compiled against
/// (`3.0.19`), or `unknown`.
pub fn build_version_text() -> String {
    match u64::from_str_radix(env!("MTATLS_OPENSSL_BUILD_VERSION"), 16) {
        Ok(v) if v != 0 => {
            let (ma, mi, pa) = version_parts(v);
            format!("{ma}.{mi}.{pa}")
        }
        _ => "unknown".to_string(),
    }
}

/// Compare the run-time OpenSSL with the one this library was compiled
/// against: `Err` (Postfix's text) when the major version differs or the
/// run-time library is older (refused: this library needs what it was
/// built with); `Ok(Some(warning))` when only the minor version differs
/// and Postfix would warn about it (`newer_minor_ok`: Postfix 3.10 and
/// later accept a newer minor version silently); `Ok(None)` otherwise.
pub fn compare_versions(
    build: u64,
    run: u64,
    newer_minor_ok: bool,
) -> std::result::Result<Option<String>, String> {
    let (b, r) = (version_parts(build), version_parts(run));
    let text = |(ma, mi, pa): (u64, u64, u64)| format!("{ma}.{mi}.{pa}");
    let message = format!(
        "run-time library vs. compile-time header version mismatch: OpenSSL {} may not be compatible with OpenSSL {}",
        text(r),
        text(b)
    );
    if r.0 != b.0 || (r.1, r.2) < (b.1, b.2) {
        Err(message)
    } else if r.1 != b.1 && !newer_minor_ok {
        Ok(Some(message))
    } else {
        Ok(None)
    }
}

/// [`compare_versions`] for this build and the OpenSSL loaded now.
pub fn check_runtime_version(newer_minor_ok: bool) -> std::result::Result<Option<String>, String> {
    let build = u64::from_str_radix(env!("MTATLS_OPENSSL_BUILD_VERSION"), 16).unwrap_or(0);
    if build == 0 {
        return Ok(None);
    }
    // SAFETY: a plain query.
    compare_versions(
        build,
        unsafe { OpenSSL_version_num() } as u64,
        newer_minor_ok,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_rules_follow_postfix() {
        let v = |ma: u64, mi: u64, pa: u64| (ma << 28) | (mi << 20) | (pa << 4);
        for newer_ok in [false, true] {
            assert_eq!(
                compare_versions(v(3, 0, 19), v(3, 0, 19), newer_ok),
                Ok(None)
            );
            assert_eq!(
                compare_versions(v(3, 0, 2), v(3, 0, 19), newer_ok),
                Ok(None)
            );
            assert!(compare_versions(v(3, 2, 1), v(3, 0, 19), newer_ok).is_err());
            assert!(compare_versions(v(3, 0, 0), v(4, 0, 0), newer_ok).is_err());
            assert_eq!(check_runtime_version(newer_ok), Ok(None));
        }
        // A newer minor version: Postfix up to 3.9 warns, 3.10 and later not.
        assert!(compare_versions(v(3, 0, 19), v(3, 2, 1), false)
            .unwrap()
            .is_some());
        assert_eq!(compare_versions(v(3, 0, 19), v(3, 2, 1), true), Ok(None));
        assert_eq!(
            compare_versions(v(3, 0, 19), v(3, 0, 2), false),
            Err("run-time library vs. compile-time header version mismatch: OpenSSL 3.0.2 may not be compatible with OpenSSL 3.0.19".into())
        );
    }
}
