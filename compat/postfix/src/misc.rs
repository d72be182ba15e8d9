//! Small public functions: security level names, TLS log masks, and the
//! mapping between Postfix's `TLS_LOG_*` bits and mtatls's.

use std::ffi::{c_char, c_int, CStr};

use crate::abi::{level, logbits};
use crate::pf;

/// Postfix's loglevel words and their `TLS_LOG_*` bits.
const LOG_TABLE: &[(&str, i32)] = {
    use logbits::*;
    const L2: i32 = SUMMARY | VERBOSE | CACHE | DEBUG;
    const L3: i32 = L2 | TLSPKTS;
    const L4: i32 = L3 | ALLPKTS;
    &[
        ("0", NONE),
        ("none", NONE),
        ("1", SUMMARY),
        ("routine", SUMMARY),
        ("2", L2),
        ("debug", L2),
        ("3", L3),
        ("ssl-expert", L3),
        ("4", L4),
        ("ssl-developer", L4),
        ("5", L4),
        ("6", L4),
        ("7", L4),
        ("8", L4),
        ("9", L4),
        ("summary", SUMMARY),
        ("untrusted", UNTRUSTED),
        ("peercert", PEERCERT),
        ("certmatch", CERTMATCH),
        ("verbose", VERBOSE),
        ("cache", CACHE),
        ("dane", DANE),
        ("ssl-debug", DEBUG),
        ("ssl-handshake-packet-dump", TLSPKTS),
        ("ssl-session-packet-dump", TLSPKTS | ALLPKTS),
    ]
};

/// `tls_log_mask`: a loglevel string as `TLS_LOG_*` bits; an unknown word
/// is a warning and makes the result 0, as Postfix's name_mask_opt with
/// NAME_MASK_RETURN.
pub fn log_mask(param: &str, value: &str) -> i32 {
    let mut mask = 0;
    for word in value
        .split(|c: char| c == ',' || c.is_ascii_whitespace())
        .filter(|w| !w.is_empty())
    {
        match LOG_TABLE.iter().find(|(n, _)| n.eq_ignore_ascii_case(word)) {
            Some((_, bits)) => mask |= bits,
            None => {
                pf::warn(&format!("unknown {param} value \"{word}\" in \"{value}\""));
                return 0;
            }
        }
    }
    mask
}

/// Postfix `TLS_LOG_*` bits → mtatls `log::mask` bits.
pub fn to_mtatls_mask(pf_bits: i32) -> u32 {
    use mtatls::unstable::mask as m;
    let pairs = [
        (logbits::SUMMARY, m::SUMMARY),
        (logbits::UNTRUSTED, m::UNTRUSTED),
        (logbits::PEERCERT, m::PEERCERT),
        (logbits::CERTMATCH, m::CERTMATCH),
        (logbits::VERBOSE, m::VERBOSE),
        (logbits::CACHE, m::CACHE),
        (logbits::DEBUG, m::DEBUG),
        (logbits::TLSPKTS, m::TLSPKTS),
        (logbits::ALLPKTS, m::ALLPKTS),
        (logbits::DANE, m::DANE),
    ];
    pairs
        .iter()
        .filter(|(p, _)| pf_bits & p != 0)
        .fold(0, |acc, (_, m)| acc | m)
}

/// The name of a level, as `str_tls_level` prints it.
pub fn level_name(l: c_int) -> Option<&'static CStr> {
    Some(match l {
        level::NONE => c"none",
        level::MAY => c"may",
        level::ENCRYPT => c"encrypt",
        level::FPRINT => c"fingerprint",
        level::HALF_DANE => c"halfdane",
        level::DANE => c"dane",
        level::DANE_ONLY => c"dane-only",
        level::VERIFY => c"verify",
        level::SECURE => c"secure",
        _ => return None,
    })
}

/// `int tls_level_lookup(const char *name)`: case-insensitive; unknown
/// names and the output-only `halfdane` are `TLS_LEV_INVALID`.
#[cfg_attr(not(feature = "preload"), no_mangle)]
pub unsafe extern "C" fn tls_level_lookup(name: *const c_char) -> c_int {
    let Some(name) = pf::opt_str(name) else {
        return level::INVALID;
    };
    level::NAMES
        .iter()
        .find(|(n, l)| *l != level::HALF_DANE && n.eq_ignore_ascii_case(&name))
        .map_or(level::INVALID, |(_, l)| *l)
}

/// `const char *str_tls_level(int level)`: NULL if unknown.
#[cfg_attr(not(feature = "preload"), no_mangle)]
pub extern "C" fn str_tls_level(l: c_int) -> *const c_char {
    level_name(l).map_or(std::ptr::null(), CStr::as_ptr)
}

/// `int tls_log_mask(const char *log_param, const char *log_level)`.
#[cfg_attr(not(feature = "preload"), no_mangle)]
pub unsafe extern "C" fn tls_log_mask(param: *const c_char, value: *const c_char) -> c_int {
    log_mask(&pf::str_or_empty(param), &pf::str_or_empty(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_and_levels() {
        assert_eq!(log_mask("x", "1"), logbits::SUMMARY);
        assert_eq!(log_mask("x", "0"), logbits::NONE);
        assert_eq!(
            log_mask("x", "Summary, peercert"),
            logbits::SUMMARY | logbits::PEERCERT
        );
        assert_eq!(log_mask("x", "loud"), 0);
        assert_eq!(
            to_mtatls_mask(log_mask("x", "2")),
            mtatls::unstable::parse_log_mask("x", "2").unwrap()
        );
        assert_eq!(
            unsafe { tls_level_lookup(c"Secure".as_ptr()) },
            level::SECURE
        );
        assert_eq!(
            unsafe { tls_level_lookup(c"halfdane".as_ptr()) },
            level::INVALID
        );
        assert_eq!(unsafe { CStr::from_ptr(str_tls_level(4)) }, c"halfdane");
        assert!(str_tls_level(42).is_null());
    }
}
