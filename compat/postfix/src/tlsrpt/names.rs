//! The RFC 8460 names smtp(8) accepts in a TLS policy (`policy_type=`,
//! `policy_failure=`) and their libtlsrpt codes: the 3.10+ exports
//! `tlsrpt_policy_type_mapping`, `tlsrpt_policy_failure_mapping`,
//! `valid_tlsrpt_policy_*` and (with TLSRPT) `convert_tlsrpt_policy_*`.
//! Without TLSRPT the codes are 0, as in Postfix built without it.

#![allow(non_upper_case_globals)]

use std::ffi::{c_char, c_int, CStr};

use crate::globals::exports::NameCode;

/// A `NAME_CODE` table ending with `{0, -1}`.
#[repr(transparent)]
pub struct Table<const N: usize>(pub [NameCode; N]);
// SAFETY: immutable static data.
unsafe impl<const N: usize> Sync for Table<N> {}

const fn code(with_tlsrpt: c_int) -> c_int {
    if cfg!(feature = "tlsrpt") {
        with_tlsrpt
    } else {
        0
    }
}

#[no_mangle]
pub static tlsrpt_policy_type_mapping: Table<3> = Table([
    NameCode {
        name: c"sts".as_ptr(),
        code: code(2),
    },
    NameCode {
        name: c"no-policy-found".as_ptr(),
        code: code(9),
    },
    NameCode {
        name: std::ptr::null(),
        code: -1,
    },
]);

#[no_mangle]
pub static tlsrpt_policy_failure_mapping: Table<5> = Table([
    NameCode {
        name: c"sts-policy-fetch-error".as_ptr(),
        code: code(301),
    },
    NameCode {
        name: c"sts-policy-invalid".as_ptr(),
        code: code(302),
    },
    NameCode {
        name: c"sts-webpki-invalid".as_ptr(),
        code: code(303),
    },
    NameCode {
        name: c"validation-failure".as_ptr(),
        code: code(205),
    },
    NameCode {
        name: std::ptr::null(),
        code: -1,
    },
]);

/// Postfix's `name_code(table, NAME_CODE_FLAG_NONE, name)`: the code of
/// the entry named `name` (case-insensitive), else the terminator's.
fn name_code<const N: usize>(table: &Table<N>, name: *const c_char) -> c_int {
    let mut last = -1;
    for e in &table.0 {
        if e.name.is_null() {
            last = e.code;
            break;
        }
        if !name.is_null() {
            // SAFETY: both are NUL-terminated strings.
            let (a, b) = unsafe { (CStr::from_ptr(e.name), CStr::from_ptr(name)) };
            if a.to_bytes().eq_ignore_ascii_case(b.to_bytes()) {
                return e.code;
            }
        }
    }
    last
}

/// `int valid_tlsrpt_policy_type(const char *)`.
#[no_mangle]
pub extern "C" fn valid_tlsrpt_policy_type(name: *const c_char) -> c_int {
    (name_code(&tlsrpt_policy_type_mapping, name) >= 0) as c_int
}

/// `int valid_tlsrpt_policy_failure(const char *)`.
#[no_mangle]
pub extern "C" fn valid_tlsrpt_policy_failure(name: *const c_char) -> c_int {
    (name_code(&tlsrpt_policy_failure_mapping, name) >= 0) as c_int
}

/// `tlsrpt_policy_type_t convert_tlsrpt_policy_type(const char *)`.
#[cfg(feature = "tlsrpt")]
#[no_mangle]
pub extern "C" fn convert_tlsrpt_policy_type(name: *const c_char) -> c_int {
    name_code(&tlsrpt_policy_type_mapping, name)
}

/// `tlsrpt_failure_t convert_tlsrpt_policy_failure(const char *)`.
#[cfg(feature = "tlsrpt")]
#[no_mangle]
pub extern "C" fn convert_tlsrpt_policy_failure(name: *const c_char) -> c_int {
    name_code(&tlsrpt_policy_failure_mapping, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(valid_tlsrpt_policy_type(c"STS".as_ptr()), 1);
        assert_eq!(valid_tlsrpt_policy_type(c"tlsa".as_ptr()), 0);
        assert_eq!(
            valid_tlsrpt_policy_failure(c"validation-failure".as_ptr()),
            1
        );
        assert_eq!(valid_tlsrpt_policy_failure(c"nope".as_ptr()), 0);
        assert_eq!(std::mem::size_of_val(&tlsrpt_policy_type_mapping), 48);
        assert_eq!(std::mem::size_of_val(&tlsrpt_policy_failure_mapping), 80);
    }
}
