//! The LD_PRELOAD build: this library sits in front of Debian's
//! libpostfix-tls.so in every daemon master(8) starts. It replaces only
//! the calls smtpd(8) and smtp(8) make for a TLS session; Debian's library
//! keeps everything else (DANE data, tlsmgr, the tlsproxy client side).
//! In tlsproxy(8), which drives OpenSSL's `SSL *` itself, every call is
//! passed on to Debian's library.

use std::ffi::{c_int, c_void, CStr};

use crate::abi::{ClientInitProps, ClientStartProps, ServerInitProps, ServerStartProps};
use crate::pf;

/// Processes where Debian's library does all the work.
pub fn foreign_process() -> bool {
    crate::tlsproxy_process()
}

fn next_or_warn(name: &CStr) -> Option<*mut c_void> {
    let f = pf::next(name);
    if f.is_none() {
        pf::warn(&format!(
            "{}: Debian's libpostfix-tls.so is not loaded in this process",
            name.to_string_lossy()
        ));
    }
    f
}

macro_rules! forward {
    ($fname:ident, $sym:literal, ($($a:ident: $t:ty),*) -> $r:ty, $fail:expr) => {
        /// Pass the call on to Debian's library.
        ///
        /// # Safety
        /// As the C function.
        pub unsafe fn $fname($($a: $t),*) -> $r {
            match next_or_warn($sym) {
                Some(f) => {
                    let f: unsafe extern "C" fn($($t),*) -> $r = std::mem::transmute(f);
                    f($($a),*)
                }
                None => $fail,
            }
        }
    };
}

forward!(forward_server_init, c"tls_server_init", (p: *const ServerInitProps) -> *mut c_void, std::ptr::null_mut());
forward!(forward_server_start, c"tls_server_start", (p: *const ServerStartProps) -> *mut c_void, std::ptr::null_mut());
forward!(forward_client_init, c"tls_client_init", (p: *const ClientInitProps) -> *mut c_void, std::ptr::null_mut());
forward!(forward_client_start, c"tls_client_start", (p: *const ClientStartProps) -> *mut c_void, std::ptr::null_mut());
forward!(forward_session_stop, c"tls_session_stop", (a: *mut c_void, s: *mut c_void, t: c_int, f: c_int, c: *mut c_void) -> (), ());
forward!(forward_free_app_context, c"tls_free_app_context", (a: *mut c_void) -> (), ());
forward!(forward_update_app_logmask, c"tls_update_app_logmask", (a: *mut c_void, m: c_int) -> (), ());
