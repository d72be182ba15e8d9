//! The key-exchange groups the loaded OpenSSL providers offer to TLS, as
//! they describe them (the `TLS-GROUP` capability): name, algorithm and
//! the protocol versions a group may be used with. OpenSSL's own rule for
//! TLS 1.2 ECDHE is that the group's algorithm is `EC`, `X25519` or `X448`
//! and its versions include TLS 1.2; FFDHE groups have algorithm `DH`;
//! hybrid and post-quantum KEMs (`X25519MLKEM768`, ...) are TLS 1.3 only.

use std::ffi::{c_void, CStr};

use libc::{c_char, c_int, c_uint};
use openssl_sys::{OSSL_PARAM, OSSL_PROVIDER};

use super::ossl::{
    OSSL_PARAM_get_int, OSSL_PARAM_get_uint, OSSL_PROVIDER_do_all, OSSL_PROVIDER_get_capabilities,
};

/// One group of the `TLS-GROUP` capability.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsGroup {
    /// The TLS name (`secp256r1`, `x25519`, `ffdhe2048`, `X25519MLKEM768`).
    pub name: String,
    /// OpenSSL's own name for it (`prime256v1`, `X25519`, ...).
    pub internal_name: String,
    /// The key algorithm (`EC`, `X25519`, `X448`, `DH`, a KEM's name).
    pub algorithm: String,
    /// Lowest TLS version it may be used with (0: any; -1: not in TLS).
    pub min_tls: i32,
    /// Highest TLS version (0: any; -1: not in TLS).
    pub max_tls: i32,
    /// A key encapsulation mechanism rather than a key agreement.
    pub is_kem: bool,
}

impl TlsGroup {
    /// Whether TLS 1.2 ECDHE can use it (OpenSSL's `tls_valid_group`).
    pub fn ecdhe_in_tls12(&self) -> bool {
        matches!(self.algorithm.as_str(), "EC" | "X25519" | "X448")
            && self.min_tls >= 0
            && self.max_tls >= 0
            && self.min_tls <= 0x0303
            && (self.max_tls == 0 || self.max_tls >= 0x0303)
    }

    /// Whether it is a finite-field DH group.
    pub fn ffdhe(&self) -> bool {
        self.algorithm == "DH"
    }

    /// Whether its name is `name` (either name, any case).
    pub fn named(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name) || self.internal_name.eq_ignore_ascii_case(name)
    }
}

/// A string parameter of a capability record ("" if absent).
///
/// # Safety
/// `params` is an OSSL_PARAM array terminated as OpenSSL's are.
unsafe fn text(params: *const OSSL_PARAM, key: &CStr) -> String {
    // SAFETY: per the function's contract; the pointer OpenSSL returns is
    // borrowed from the provider's static records.
    unsafe {
        let p = openssl_sys::OSSL_PARAM_locate_const(params, key.as_ptr());
        let mut s: *const c_char = std::ptr::null();
        if p.is_null() || openssl_sys::OSSL_PARAM_get_utf8_string_ptr(p, &mut s) != 1 || s.is_null()
        {
            return String::new();
        }
        CStr::from_ptr(s).to_string_lossy().into_owned()
    }
}

/// An int parameter (`default` if absent).
///
/// # Safety
/// As [`text`].
unsafe fn int(params: *const OSSL_PARAM, key: &CStr, default: i32) -> i32 {
    // SAFETY: per the function's contract; v is written by the call.
    unsafe {
        let p = openssl_sys::OSSL_PARAM_locate_const(params, key.as_ptr());
        let mut v: c_int = default;
        if p.is_null() || OSSL_PARAM_get_int(p, &mut v) != 1 {
            return default;
        }
        v
    }
}

/// An unsigned int parameter (0 if absent).
///
/// # Safety
/// As [`text`].
unsafe fn uint(params: *const OSSL_PARAM, key: &CStr) -> u32 {
    // SAFETY: per the function's contract; v is written by the call.
    unsafe {
        let p = openssl_sys::OSSL_PARAM_locate_const(params, key.as_ptr());
        let mut v: c_uint = 0;
        if p.is_null() || OSSL_PARAM_get_uint(p, &mut v) != 1 {
            return 0;
        }
        v
    }
}

unsafe extern "C" fn one_group(params: *const OSSL_PARAM, arg: *mut c_void) -> c_int {
    let _ = std::panic::catch_unwind(|| {
        // SAFETY: arg is the Vec given to OSSL_PROVIDER_get_capabilities
        // below; params is the provider's record for one group.
        unsafe {
            let out = &mut *(arg as *mut Vec<TlsGroup>);
            out.push(TlsGroup {
                name: text(params, c"tls-group-name"),
                internal_name: text(params, c"tls-group-name-internal"),
                algorithm: text(params, c"tls-group-alg"),
                min_tls: int(params, c"tls-min-tls", 0),
                max_tls: int(params, c"tls-max-tls", 0),
                is_kem: uint(params, c"tls-group-is-kem") != 0,
            });
        }
    });
    1
}

unsafe extern "C" fn one_provider(prov: *mut OSSL_PROVIDER, arg: *mut c_void) -> c_int {
    let _ = std::panic::catch_unwind(|| {
        // SAFETY: prov is a live provider OpenSSL passes; arg is the Vec of
        // `tls_groups`, passed on to the capability callback.
        unsafe {
            OSSL_PROVIDER_get_capabilities(prov, c"TLS-GROUP".as_ptr(), Some(one_group), arg);
        }
    });
    1
}

/// Every TLS group of the providers loaded now (the default provider when
/// none is loaded yet), in the providers' order.
pub fn tls_groups() -> Vec<TlsGroup> {
    let mut out: Vec<TlsGroup> = Vec::new();
    // SAFETY: the default library context; the callbacks only append to
    // `out`, which outlives the call.
    unsafe {
        OSSL_PROVIDER_do_all(
            std::ptr::null_mut(),
            Some(one_provider),
            &mut out as *mut Vec<TlsGroup> as *mut c_void,
        );
    }
    super::errors::clear_openssl_errors();
    out
}
