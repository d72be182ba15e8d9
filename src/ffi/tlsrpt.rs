//! The TLSRPT (RFC 8460) facts of a client session for C hosts: the
//! result type and failure-reason code Postfix 3.10 and later report for
//! the same session, the receiving MX, and the policy in force. The host
//! hands them to its TLSRPT library (libtlsrpt's
//! `tlsrpt_add_delivery_request_failure` / `tlsrpt_finish_policy`) with
//! what it knows itself (the EHLO reply, the next hop's TLSRPT record).

use std::ffi::{c_char, c_int};

use super::ffi_guard;
use super::session::{mtatls_session, readable, text_out};
use crate::report::tlsrpt::{PolicyType, Report, ResultType};
use crate::session::Session;

/// TLSRPT result: the session met its policy.
pub const MTATLS_TLSRPT_SUCCESS: c_int = 0;
/// TLSRPT failure `starttls-not-supported` (the host's to report).
pub const MTATLS_TLSRPT_STARTTLS_NOT_SUPPORTED: c_int = 201;
/// TLSRPT failure `certificate-host-mismatch`.
pub const MTATLS_TLSRPT_CERTIFICATE_HOST_MISMATCH: c_int = 202;
/// TLSRPT failure `certificate-not-trusted`.
pub const MTATLS_TLSRPT_CERTIFICATE_NOT_TRUSTED: c_int = 203;
/// TLSRPT failure `certificate-expired`.
pub const MTATLS_TLSRPT_CERTIFICATE_EXPIRED: c_int = 204;
/// TLSRPT failure `validation-failure`.
pub const MTATLS_TLSRPT_VALIDATION_FAILURE: c_int = 205;
/// TLSRPT failure `sts-policy-fetch-error` (the host's to report).
pub const MTATLS_TLSRPT_STS_POLICY_FETCH_ERROR: c_int = 301;
/// TLSRPT failure `sts-policy-invalid` (the host's to report).
pub const MTATLS_TLSRPT_STS_POLICY_INVALID: c_int = 302;
/// TLSRPT failure `sts-webpki-invalid` (the host's to report).
pub const MTATLS_TLSRPT_STS_WEBPKI_INVALID: c_int = 303;
/// TLSRPT failure `tlsa-invalid`.
pub const MTATLS_TLSRPT_TLSA_INVALID: c_int = 304;
/// TLSRPT failure `dnssec-invalid` (the host's to report).
pub const MTATLS_TLSRPT_DNSSEC_INVALID: c_int = 305;
/// TLSRPT failure `dane-required` (the host's to report).
pub const MTATLS_TLSRPT_DANE_REQUIRED: c_int = 306;

/// TLSRPT policy type `tlsa` (a DANE level with TLSA records).
pub const MTATLS_TLSRPT_POLICY_TLSA: c_int = 1;
/// TLSRPT policy type `sts` (MTA-STS: known to the host only).
pub const MTATLS_TLSRPT_POLICY_STS: c_int = 2;
/// TLSRPT policy type `no-policy-found` (every other level).
pub const MTATLS_TLSRPT_POLICY_NO_POLICY_FOUND: c_int = 9;

/// The result names as C strings (the names of [`ResultType::name`]).
const NAMES: &[&std::ffi::CStr] = &[
    c"success",
    c"starttls-not-supported",
    c"certificate-host-mismatch",
    c"certificate-not-trusted",
    c"certificate-expired",
    c"validation-failure",
    c"sts-policy-fetch-error",
    c"sts-policy-invalid",
    c"sts-webpki-invalid",
    c"tlsa-invalid",
    c"dnssec-invalid",
    c"dane-required",
];

/// The session's TLSRPT facts, if it has them.
fn report_of<T>(session: *const mtatls_session, f: impl FnOnce(&Report) -> T) -> Option<T> {
    // SAFETY: session is NULL or valid per the caller's contract.
    unsafe { readable(session) }.and_then(|s| s.tlsrpt().map(f))
}

/// Copy a text of the session's TLSRPT facts into `buf`.
fn report_text(
    session: *const mtatls_session,
    buf: *mut c_char,
    len: usize,
    f: impl FnOnce(&Report) -> Option<String>,
) -> usize {
    text_out(session, buf, len, |s: &Session| s.tlsrpt().and_then(f))
}

/// The TLSRPT result of a client session whose handshake has ended
/// (successfully, unverified, or failed): `MTATLS_TLSRPT_SUCCESS` (0) or
/// a failure type (`MTATLS_TLSRPT_*`, libtlsrpt's `tlsrpt_failure_t`
/// numbers), as Postfix's smtp(8) of the selected release reports the same
/// session; -1 when there is nothing to report: a server session, a
/// handshake not yet ended, or one that never started (the session's
/// setup failed, e.g. `dane-only` without TLSA records).
///
/// - NULL: NULL `session` gives -1.
/// - Returns: the result type, or -1 (also for a poisoned session).
/// - Memory: nothing is kept.
/// - Blocking: no.
/// - Threads: one thread at a time per session.
#[no_mangle]
pub extern "C" fn mtatls_session_tlsrpt_result(session: *const mtatls_session) -> c_int {
    ffi_guard!(-1, {
        report_of(session, |r| r.result.code()).unwrap_or(-1)
    })
}

/// The RFC 8460 name of TLSRPT result `result` (`"certificate-expired"`,
/// `"success"` for 0); "" for a number that is no result type.
///
/// - NULL: no pointer arguments.
/// - Returns: a static string; never NULL.
/// - Memory: static (never freed).
/// - Blocking: no.
/// - Threads: thread-safe.
#[no_mangle]
pub extern "C" fn mtatls_tlsrpt_result_name(result: c_int) -> *const c_char {
    ffi_guard!(c"".as_ptr(), {
        let name = ResultType::from_code(result).map_or("", ResultType::name);
        NAMES
            .iter()
            .find(|n| n.to_bytes() == name.as_bytes())
            .map_or(c"".as_ptr(), |n| n.as_ptr())
    })
}

/// Write the TLSRPT failure-reason code of the session (Postfix's short
/// reason: `"self-signed_certificate"`, `"tls-handshake-failure"`,
/// `"all-TLSA-records-unusable"`, ...) into `buf` snprintf-style and
/// return its full length; 0 when the report has no reason (success, and
/// failures Postfix reports without one) or there is no report (see
/// `mtatls_session_tlsrpt_result`).
///
/// - NULL: NULL `session` gives 0; `buf` may be NULL when `len` is 0.
/// - Returns: the text's full length, or 0.
/// - Memory: copied into `buf` (truncated, NUL-terminated).
/// - Blocking: no.
/// - Threads: one thread at a time per session.
#[no_mangle]
pub extern "C" fn mtatls_session_tlsrpt_reason(
    session: *const mtatls_session,
    buf: *mut c_char,
    len: usize,
) -> usize {
    ffi_guard!(0, { report_text(session, buf, len, |r| r.reason.clone()) })
}

/// Write the TLSRPT additional information of the session into `buf`
/// snprintf-style and return its full length; 0 when there is none
/// (Postfix sends none for any session, and neither does this library).
///
/// - NULL: NULL `session` gives 0; `buf` may be NULL when `len` is 0.
/// - Returns: the text's full length, or 0.
/// - Memory: copied into `buf` (truncated, NUL-terminated).
/// - Blocking: no.
/// - Threads: one thread at a time per session.
#[no_mangle]
pub extern "C" fn mtatls_session_tlsrpt_additional_info(
    session: *const mtatls_session,
    buf: *mut c_char,
    len: usize,
) -> usize {
    ffi_guard!(0, {
        report_text(session, buf, len, |r| r.additional_info.clone())
    })
}

/// Write the receiving MX host name of the session's TLSRPT report (the
/// host part of the peer label, `host` of `host[addr]:port`) into `buf`
/// snprintf-style and return its full length; 0 without a report.
///
/// - NULL: NULL `session` gives 0; `buf` may be NULL when `len` is 0.
/// - Returns: the text's full length, or 0.
/// - Memory: copied into `buf` (truncated, NUL-terminated).
/// - Blocking: no.
/// - Threads: one thread at a time per session.
#[no_mangle]
pub extern "C" fn mtatls_session_tlsrpt_receiving_mx(
    session: *const mtatls_session,
    buf: *mut c_char,
    len: usize,
) -> usize {
    ffi_guard!(0, {
        report_text(session, buf, len, |r| Some(r.receiving_mx_host.clone()))
    })
}

/// Write the receiving IP address of the session's TLSRPT report (the
/// peer label's address, else the socket's peer address) into `buf`
/// snprintf-style and return its full length; 0 without a report or an
/// address.
///
/// - NULL: NULL `session` gives 0; `buf` may be NULL when `len` is 0.
/// - Returns: the text's full length, or 0.
/// - Memory: copied into `buf` (truncated, NUL-terminated).
/// - Blocking: no.
/// - Threads: one thread at a time per session.
#[no_mangle]
pub extern "C" fn mtatls_session_tlsrpt_receiving_ip(
    session: *const mtatls_session,
    buf: *mut c_char,
    len: usize,
) -> usize {
    ffi_guard!(0, {
        report_text(session, buf, len, |r| Some(r.receiving_ip.clone()))
    })
}

/// Write the sending MTA's IP address of the session's TLSRPT report (the
/// socket's local address, as Postfix's `getsockname`) into `buf`
/// snprintf-style and return its full length; 0 without a report or an
/// address.
///
/// - NULL: NULL `session` gives 0; `buf` may be NULL when `len` is 0.
/// - Returns: the text's full length, or 0.
/// - Memory: copied into `buf` (truncated, NUL-terminated).
/// - Blocking: no.
/// - Threads: one thread at a time per session.
#[no_mangle]
pub extern "C" fn mtatls_session_tlsrpt_sending_ip(
    session: *const mtatls_session,
    buf: *mut c_char,
    len: usize,
) -> usize {
    ffi_guard!(0, {
        report_text(session, buf, len, |r| Some(r.sending_ip.clone()))
    })
}

/// The TLSRPT policy type of the session: `MTATLS_TLSRPT_POLICY_TLSA` for
/// a DANE level given TLSA records (also when they were all unusable),
/// else `MTATLS_TLSRPT_POLICY_NO_POLICY_FOUND` (an MTA-STS policy is the
/// host's to report); -1 without a report.
///
/// - NULL: NULL `session` gives -1.
/// - Returns: the policy type, or -1.
/// - Memory: nothing is kept.
/// - Blocking: no.
/// - Threads: one thread at a time per session.
#[no_mangle]
pub extern "C" fn mtatls_session_tlsrpt_policy_type(session: *const mtatls_session) -> c_int {
    ffi_guard!(-1, {
        report_of(session, |r| match r.policy_type {
            PolicyType::Tlsa => MTATLS_TLSRPT_POLICY_TLSA,
            PolicyType::Sts => MTATLS_TLSRPT_POLICY_STS,
            PolicyType::NoPolicyFound => MTATLS_TLSRPT_POLICY_NO_POLICY_FOUND,
        })
        .unwrap_or(-1)
    })
}

/// Write the TLSRPT policy domain of the session (the TLSA base domain
/// for a `tlsa` policy, else the next-hop domain of
/// `mtatls_session_set_peer_names`, or its host when the next hop is
/// empty) into `buf` snprintf-style and return its full length; 0
/// without a report.
///
/// - NULL: NULL `session` gives 0; `buf` may be NULL when `len` is 0.
/// - Returns: the text's full length, or 0.
/// - Memory: copied into `buf` (truncated, NUL-terminated).
/// - Blocking: no.
/// - Threads: one thread at a time per session.
#[no_mangle]
pub extern "C" fn mtatls_session_tlsrpt_policy_domain(
    session: *const mtatls_session,
    buf: *mut c_char,
    len: usize,
) -> usize {
    ffi_guard!(0, {
        report_text(session, buf, len, |r| Some(r.policy_domain.clone()))
    })
}

/// How many TLSRPT policy strings the session has: for a `tlsa` policy
/// one per TLSA record Postfix would list (usages 2 and 3), else 0.
///
/// - NULL: NULL `session` gives 0.
/// - Returns: the count; 0 without a report.
/// - Memory: nothing is kept.
/// - Blocking: no.
/// - Threads: one thread at a time per session.
#[no_mangle]
pub extern "C" fn mtatls_session_tlsrpt_policy_string_count(
    session: *const mtatls_session,
) -> usize {
    ffi_guard!(0, {
        report_of(session, |r| r.policy_strings.len()).unwrap_or(0)
    })
}

/// Write TLSRPT policy string `index` (from 0; see
/// `mtatls_session_tlsrpt_policy_string_count`), a TLSA record as Postfix
/// reports it (`"3 1 1 "` and the data in upper-case hex), into `buf`
/// snprintf-style and return its full length; 0 for a bad index or
/// without a report.
///
/// - NULL: NULL `session` gives 0; `buf` may be NULL when `len` is 0.
/// - Returns: the text's full length, or 0.
/// - Memory: copied into `buf` (truncated, NUL-terminated).
/// - Blocking: no.
/// - Threads: one thread at a time per session.
#[no_mangle]
pub extern "C" fn mtatls_session_tlsrpt_policy_string(
    session: *const mtatls_session,
    index: usize,
    buf: *mut c_char,
    len: usize,
) -> usize {
    ffi_guard!(0, {
        report_text(session, buf, len, |r| r.policy_strings.get(index).cloned())
    })
}
