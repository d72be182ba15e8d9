//! TLSRPT (RFC 8460) in Postfix 3.10 and later: what the TLS engine of
//! smtp(8) reports itself through the `TLSRPT_WRAPPER` that smtp passes in
//! `TLS_CLIENT_START_PROPS.tlsrpt` (smtp reports the rest, from
//! `TLS_SESS_STATE.rpt_reported` and `peer_status`), and, with the release's
//! libtlsrpt (feature `tlsrpt`, full library only), the `trw_*` functions
//! themselves ([`wrapper`]).
//!
//! The engine's reports, as in Postfix's tls_client.c and tls_verify.c:
//! - unusable TLSA records / fingerprints / trust anchors (before the
//!   warning that says so);
//! - a certificate verification error of a new session at a level that
//!   must match (after the "certificate verification failed" line),
//!   classified by the error closest to the leaf that Postfix's
//!   verification callback keeps (recorded here by a wrapper around the
//!   callback of mtatls, with that release's priority rules);
//! - a failed handshake.
//!
//! The reports go through the process's `trw_report_failure` (ours in the
//! full library, Postfix's own under LD_PRELOAD).

use std::cell::{Cell, RefCell};
use std::ffi::{c_char, c_int, c_void, CString};

use crate::pf;

// RFC 8460 result types (libtlsrpt's tlsrpt_failure_t), and which one
// each verification error is: the core library's classification
// (mtatls's report::tlsrpt), shared with its mtatls_session_tlsrpt_* API.
use mtatls::unstable::{tlsrpt_reason, tlsrpt_unusable_type, tlsrpt_verify_error};
pub const VALIDATION_FAILURE: c_int = mtatls::TlsrptResult::ValidationFailure as c_int;

// X509_V_ERR_* codes the verification record needs.
const X509_V_ERR_UNSPECIFIED: c_int = 1;
const X509_V_ERR_HOSTNAME_MISMATCH: c_int = 62;

type VerifyCb = unsafe extern "C" fn(c_int, *mut openssl_sys::X509_STORE_CTX) -> c_int;

extern "C" {
    fn SSL_get_verify_callback(ssl: *const openssl_sys::SSL) -> Option<VerifyCb>;
    fn SSL_get_verify_mode(ssl: *const openssl_sys::SSL) -> c_int;
    fn SSL_set_verify(ssl: *mut openssl_sys::SSL, mode: c_int, cb: Option<VerifyCb>);
    fn X509_STORE_CTX_get_error(ctx: *mut openssl_sys::X509_STORE_CTX) -> c_int;
    fn X509_STORE_CTX_set_error(ctx: *mut openssl_sys::X509_STORE_CTX, err: c_int);
    fn X509_STORE_CTX_get_error_depth(ctx: *mut openssl_sys::X509_STORE_CTX) -> c_int;
}

/// The client session being started on this thread (smtp runs one at a
/// time): its TLSRPT wrapper, the forced failure of an external policy,
/// and the verification error Postfix would keep.
struct Armed {
    trw: *mut c_void,
    ffail: Option<String>,
    /// mtatls's verification callback, called first by [`verify_wrapper`].
    original: Option<VerifyCb>,
    /// (depth, X509 error) closest to the leaf, by the release's rules.
    error: Option<(c_int, c_int)>,
}

thread_local!(static ARMED: RefCell<Option<Armed>> = const { RefCell::new(None) });
thread_local!(static IN_FILTER: Cell<bool> = const { Cell::new(false) });

/// Start watching a client session: `trw` is the session's
/// `TLSRPT_WRAPPER *` (NULL: nothing to report, but the verification
/// error is still recorded), `ffail` an external policy's forced failure
/// type.
pub fn arm(trw: *mut c_void, ffail: Option<String>) {
    ARMED.with(|a| {
        *a.borrow_mut() = Some(Armed {
            trw,
            ffail,
            original: None,
            error: None,
        })
    });
}

/// Stop watching (the start call is over).
pub fn disarm() {
    ARMED.with(|a| *a.borrow_mut() = None);
}

fn armed() -> bool {
    ARMED.with(|a| a.borrow().is_some())
}

fn trw() -> *mut c_void {
    ARMED.with(|a| a.borrow().as_ref().map_or(std::ptr::null_mut(), |a| a.trw))
}

static TRW_REPORT_FAILURE: pf::Sym = pf::Sym::new(c"trw_report_failure");
static TRW_IS_REPORTED: pf::Sym = pf::Sym::new(c"trw_is_reported");
static TRW_IS_SKIP_REUSED_HS: pf::Sym = pf::Sym::new(c"trw_is_skip_reused_hs");
static CONVERT_FAILURE: pf::Sym = pf::Sym::new(c"convert_tlsrpt_policy_failure");

/// `trw_report_failure(trw, type, NULL, reason)` of the process.
fn report(failure: c_int, reason: Option<&str>) {
    let t = trw();
    let Some(f) = TRW_REPORT_FAILURE.get() else {
        return;
    };
    if t.is_null() {
        return;
    }
    let reason = reason.and_then(|r| CString::new(r).ok());
    // SAFETY: the process's trw_report_failure(TLSRPT_WRAPPER *,
    // tlsrpt_failure_t, const char *, const char *) with the wrapper smtp
    // passed for this session.
    unsafe {
        let f: unsafe extern "C" fn(*mut c_void, c_int, *const c_char, *const c_char) -> c_int =
            std::mem::transmute(f);
        f(
            t,
            failure,
            std::ptr::null(),
            reason.as_ref().map_or(std::ptr::null(), |r| r.as_ptr()),
        );
    }
}

fn trw_flag(sym: &pf::Sym) -> bool {
    let t = trw();
    match (t.is_null(), sym.get()) {
        (false, Some(f)) => {
            // SAFETY: int trw_is_*(const TLSRPT_WRAPPER *) of the process.
            unsafe {
                let f: unsafe extern "C" fn(*const c_void) -> c_int = std::mem::transmute(f);
                f(t) != 0
            }
        }
        _ => false,
    }
}

/// `TLS_SESS_STATE.rpt_reported` of an established session: the engine
/// reported, or a resumed session's handshake is not to be reported.
pub fn rpt_reported(reused: bool) -> bool {
    if !armed() {
        return false;
    }
    !trw().is_null() && (trw_flag(&TRW_IS_REPORTED) || (reused && trw_flag(&TRW_IS_SKIP_REUSED_HS)))
}

/// The handshake failed (after its error lines).
pub fn handshake_failed() {
    report(VALIDATION_FAILURE, Some(tlsrpt_reason::HANDSHAKE_FAILURE));
}

/// The engine's report for a verification error (tls_log_verify_error):
/// (failure type, reason), None when Postfix reports nothing there.
pub fn classify(code: c_int) -> Option<(c_int, Option<String>)> {
    tlsrpt_verify_error(code).map(|(t, reason)| (t.code(), reason))
}

/// Keep the verification error Postfix's callback would keep: the one
/// closest to the leaf; from 3.10.4 and 3.11.0 a host name mismatch also
/// yields to any other error.
fn update_error(depth: c_int, code: c_int) {
    let hostname_last = crate::release::has(&["3.10.4", "3.11.0"]);
    ARMED.with(|a| {
        let mut a = a.borrow_mut();
        let Some(a) = a.as_mut() else { return };
        if let Some((d, c)) = a.error {
            let keep = if hostname_last {
                (d <= depth && c != X509_V_ERR_HOSTNAME_MISMATCH)
                    || code == X509_V_ERR_HOSTNAME_MISMATCH
            } else {
                d <= depth
            };
            if keep {
                return;
            }
        }
        a.error = Some((depth, code));
    });
}

/// The verification callback of an armed session: an external policy's
/// forced failure first (at depth 0, as Postfix's `must_fail`), then
/// mtatls's callback, then Postfix's error record.
unsafe extern "C" fn verify_wrapper(ok: c_int, store: *mut openssl_sys::X509_STORE_CTX) -> c_int {
    let r = std::panic::catch_unwind(|| {
        let depth = X509_STORE_CTX_get_error_depth(store);
        let forced = ARMED.with(|a| a.borrow().as_ref().is_some_and(|a| a.ffail.is_some()));
        let mut ok = ok;
        if forced && depth == 0 {
            X509_STORE_CTX_set_error(store, X509_V_ERR_UNSPECIFIED);
            ok = 0;
        }
        let before = X509_STORE_CTX_get_error(store);
        let original = ARMED.with(|a| a.borrow().as_ref().and_then(|a| a.original));
        let r = match original {
            Some(f) => f(ok, store),
            None => 1,
        };
        let code = X509_STORE_CTX_get_error(store);
        if ok == 0 || code != before {
            update_error(depth, code);
        }
        r
    });
    r.unwrap_or(1)
}

/// In the session's SSL setup (right after SSL_new): put the recording
/// wrapper around the verification callback mtatls's context gave it.
///
/// # Safety
/// `ssl` is the session's live SSL, not yet in a handshake.
pub unsafe fn wrap_verify(ssl: *mut openssl_sys::SSL) {
    if !armed() {
        return;
    }
    let original = SSL_get_verify_callback(ssl);
    ARMED.with(|a| {
        if let Some(a) = a.borrow_mut().as_mut() {
            a.original = original;
        }
    });
    SSL_set_verify(ssl, SSL_get_verify_mode(ssl), Some(verify_wrapper));
}

/// The engine's warnings of unusable trust data, and the report Postfix
/// makes just before each.
fn unusable_report(line: &str) -> Option<(c_int, &'static str)> {
    let reason = if line.ends_with(": all TLSA records unusable, fallback to unauthenticated TLS")
        || line.ends_with(": all TLSA records unusable")
    {
        tlsrpt_reason::TLSA_UNUSABLE
    } else if line.ends_with(": all fingerprints unusable") {
        tlsrpt_reason::FINGERPRINTS_UNUSABLE
    } else if line.ends_with(": all trust anchors unusable") {
        tlsrpt_reason::TRUST_ANCHORS_UNUSABLE
    } else {
        return None;
    };
    Some((tlsrpt_unusable_type(reason).code(), reason))
}

/// Every line the library logs, on its way to Postfix's msg_info/msg_warn
/// (`emit`): TLSRPT reports go before or after the lines Postfix puts them
/// with; an external policy's forced failure is logged as Postfix does.
pub fn filter(warning: bool, line: &str, emit: &dyn Fn(&str)) {
    if !armed() || IN_FILTER.with(|f| f.replace(true)) {
        return emit(line);
    }
    if warning {
        if let Some((failure, reason)) = unusable_report(line) {
            report(failure, Some(reason));
        }
        emit(line);
    } else if let Some(at) = line.find("certificate verification failed for ") {
        let label_start = at + "certificate verification failed for ".len();
        let ffail = ARMED.with(|a| a.borrow().as_ref().and_then(|a| a.ffail.clone()));
        let error = recorded_error();
        match ffail {
            Some(kind) => {
                // tls_log_verify_error with ffail_type: this line instead
                // of the error's, and the policy's failure type.
                let label = line[label_start..]
                    .split(": ")
                    .next()
                    .unwrap_or_default()
                    .to_string();
                emit(&format!(
                    "certificate verification failed for {label}: external policy failure ({kind})"
                ));
                if let Some(t) = convert_failure(&kind) {
                    report(t, None);
                }
            }
            None => {
                emit(line);
                if let Some((failure, reason)) = error.and_then(|(_, code)| classify(code)) {
                    report(failure, reason.as_deref());
                }
            }
        }
    } else {
        emit(line);
    }
    IN_FILTER.with(|f| f.set(false));
}

/// `convert_tlsrpt_policy_failure` of the process.
fn convert_failure(kind: &str) -> Option<c_int> {
    let f = CONVERT_FAILURE.get()?;
    let c = CString::new(kind).ok()?;
    // SAFETY: tlsrpt_failure_t convert_tlsrpt_policy_failure(const char *).
    let t = unsafe {
        let f: unsafe extern "C" fn(*const c_char) -> c_int = std::mem::transmute(f);
        f(c.as_ptr())
    };
    (t >= 0).then_some(t)
}

/// The verification error Postfix would have recorded for the session
/// being started (depth, X509 error), if any: with Postfix's callback it
/// is also what `SSL_get_verify_result` returns.
pub fn recorded_error() -> Option<(c_int, c_int)> {
    ARMED.with(|a| a.borrow().as_ref().and_then(|a| a.error))
}

#[cfg(all(feature = "tlsrpt", not(feature = "preload")))]
pub mod wrapper;

#[cfg(not(feature = "preload"))]
pub mod names;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_errors_as_postfix_reports_them() {
        assert_eq!(classify(0), None);
        assert_eq!(classify(62), None);
        assert_eq!(classify(65), None);
        assert_eq!(classify(27), Some((203, None)));
        assert_eq!(classify(10), Some((204, None)));
        assert_eq!(
            classify(18),
            Some((205, Some("self-signed_certificate".to_string())))
        );
        assert_eq!(
            classify(20),
            Some((
                205,
                Some("unable_to_get_local_issuer_certificate".to_string())
            ))
        );
        assert_eq!(
            classify(19),
            Some((
                205,
                Some("self-signed_certificate_in_certificate_chain".to_string())
            ))
        );
    }
}
