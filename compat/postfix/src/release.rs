//! Which Postfix release runs this library: the ABI series it was built
//! for (the `pf3x` features, see [`crate::abi`]) must be the running
//! Postfix's, and patch-level behaviour follows the running `mail_version`.
//! The library's own release selector (`mtatls_postfix_release`) is set
//! from it when mtatls knows that parameter.

use std::sync::OnceLock;

use crate::abi::{BUILT_FOR, SERIES};
use crate::pf;

/// (major, minor, patch) of a release string ("3.11.6"); missing parts 0.
pub fn numbers(version: &str) -> (u32, u32, u32) {
    let mut n = version
        .split(|c: char| !c.is_ascii_digit())
        .map(|s| s.parse().unwrap_or(0));
    (
        n.next().unwrap_or(0),
        n.next().unwrap_or(0),
        n.next().unwrap_or(0),
    )
}

static VAR_MAIL_VERSION: pf::Sym = pf::Sym::new(c"var_mail_version");

/// The running Postfix's `mail_version` (None outside Postfix).
pub fn running() -> Option<&'static str> {
    static V: OnceLock<Option<String>> = OnceLock::new();
    V.get_or_init(|| {
        if let Some(p) = VAR_MAIL_VERSION.get() {
            // SAFETY: var_mail_version is a `char *` of libpostfix-global,
            // set by mail_params_init() before any TLS call.
            let s = unsafe { *(p as *const *const std::ffi::c_char) };
            // SAFETY: NULL or a string Postfix owns.
            if let Some(v) = unsafe { pf::opt_str(s) }.filter(|v| !v.is_empty()) {
                return Some(v);
            }
        }
        pf::conf_lookup("mail_version").filter(|v| !v.is_empty())
    })
    .as_deref()
}

/// The release whose behaviour applies: the running one, else the one
/// this library was built for.
pub fn current() -> &'static str {
    running().unwrap_or(BUILT_FOR)
}

/// Whether the release in effect is `at` or later in its series' terms:
/// `at` lists the first patch release per series ("3.8.8", "3.9.2", ...)
/// that has a behaviour; a series after every listed one has it, a series
/// before them does not.
pub fn has(at: &[&str]) -> bool {
    has_in(current(), at)
}

/// [`has`] for `version`.
pub fn has_in(version: &str, at: &[&str]) -> bool {
    let (ma, mi, pa) = numbers(version);
    let mut newest_listed = (0, 0);
    for first in at {
        let (fa, fi, fp) = numbers(first);
        if (fa, fi) == (ma, mi) {
            return pa >= fp;
        }
        newest_listed = newest_listed.max((fa, fi));
    }
    (ma, mi) > newest_listed
}

/// Whether the running Postfix is of the series this library implements
/// (its struct layouts and exports). Outside Postfix: true. On a
/// mismatch, a warning (once) says so and the caller refuses TLS.
pub fn matches(who: &str) -> bool {
    let Some(v) = running() else {
        return true;
    };
    let (ma, mi, _) = numbers(v);
    if format!("{ma}.{mi}") == SERIES {
        return true;
    }
    static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        pf::warn(&format!(
            "{who}: this libpostfix-tls.so implements the library of Postfix {SERIES} (built for {BUILT_FOR}), but this is Postfix {v}: TLS disabled; build it for this release (make -C compat/postfix PF_ROOT=...)"
        ));
    }
    false
}

/// The library's release selector, when mtatls knows it.
pub const SELECTOR: &str = "mtatls_postfix_release";

/// Set the release selector of an mtatls parameter set to the running
/// release, if the library has that parameter (else its built-in
/// behaviour, Debian's 3.7.11, applies).
pub fn select(params: &mut mtatls::Params) -> Result<(), String> {
    if mtatls::unstable::lookup(SELECTOR).is_none() {
        return Ok(());
    }
    params
        .set(SELECTOR, current())
        .map_err(|e| format!("{}: disabling TLS support", e.message()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_numbers() {
        assert_eq!(numbers("3.11.6"), (3, 11, 6));
        assert_eq!(numbers("3.10"), (3, 10, 0));
        assert_eq!(numbers("3.7.11-0+deb12u1"), (3, 7, 11));
        let strong_may_be_empty = ["3.7.13", "3.8.8", "3.9.2", "3.10.0"];
        assert!(!has_in("3.7.11", &strong_may_be_empty));
        assert!(!has_in("3.8.5", &strong_may_be_empty));
        assert!(has_in("3.8.8", &strong_may_be_empty));
        assert!(has_in("3.11.6", &strong_may_be_empty));
        assert!(!has_in("3.6.20", &strong_may_be_empty));
        assert!(has_in("3.10.0", &["3.10.0"]));
        assert!(!has_in("3.9.14", &["3.10.0"]));
    }
}
