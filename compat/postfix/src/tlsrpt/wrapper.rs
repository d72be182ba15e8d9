//! The `trw_*` functions of Postfix 3.10+ (its tlsrpt_wrapper.c): smtp(8)
//! collects one delivery's TLSRPT facts in a `TLSRPT_WRAPPER` (the policy,
//! the connection, the EHLO reply) and reports one success or one failure
//! per connection through libtlsrpt, the release's own (linked as Postfix's
//! library links it). Same calls to libtlsrpt in the same order, same log
//! lines and warnings.

use std::ffi::{c_char, c_int, c_void, CStr, CString};

use crate::pf;

#[allow(non_camel_case_types)]
type tlsrpt_connection_t = c_void;
#[allow(non_camel_case_types)]
type tlsrpt_dr_t = c_void;

const TLSRPT_NO_POLICY_FOUND: c_int = 9;
const TLSRPT_FINAL_SUCCESS: c_int = 0;
const TLSRPT_FINAL_FAILURE: c_int = 1;

// Linked by build.rs (the release's libtlsrpt).
extern "C" {
    fn tlsrpt_open(con: *mut *mut tlsrpt_connection_t, socketname: *const c_char) -> c_int;
    fn tlsrpt_close(con: *mut *mut tlsrpt_connection_t) -> c_int;
    fn tlsrpt_init_delivery_request(
        dr: *mut *mut tlsrpt_dr_t,
        con: *mut tlsrpt_connection_t,
        domainname: *const c_char,
        policyrecord: *const c_char,
    ) -> c_int;
    fn tlsrpt_cancel_delivery_request(dr: *mut *mut tlsrpt_dr_t) -> c_int;
    fn tlsrpt_finish_delivery_request(dr: *mut *mut tlsrpt_dr_t) -> c_int;
    fn tlsrpt_init_policy(
        dr: *mut tlsrpt_dr_t,
        policy_type: c_int,
        policydomainname: *const c_char,
    ) -> c_int;
    fn tlsrpt_finish_policy(dr: *mut tlsrpt_dr_t, final_result: c_int) -> c_int;
    fn tlsrpt_add_policy_string(dr: *mut tlsrpt_dr_t, policy_string: *const c_char) -> c_int;
    fn tlsrpt_add_mx_host_pattern(dr: *mut tlsrpt_dr_t, pattern: *const c_char) -> c_int;
    #[allow(clippy::too_many_arguments)]
    fn tlsrpt_add_delivery_request_failure(
        dr: *mut tlsrpt_dr_t,
        failure_code: c_int,
        sending_mta_ip: *const c_char,
        receiving_mx_hostname: *const c_char,
        receiving_mx_helo: *const c_char,
        receiving_ip: *const c_char,
        additional_information: *const c_char,
        failure_reason_code: *const c_char,
    ) -> c_int;
    fn tlsrpt_errno_from_error_code(errorcode: c_int) -> c_int;
    fn tlsrpt_error_code_is_internal(errorcode: c_int) -> c_int;
    fn tlsrpt_strerror(errorcode: c_int) -> *const c_char;
}

const FLAG_HAVE_TLS_POLICY: c_int = 1 << 0;
const FLAG_REPORTED: c_int = 1 << 3;
const MAGIC: u64 = 0x6d74_6174_6c73_5257; // "mtatlsRW"

/// Behind `TLSRPT_WRAPPER *`.
pub struct Wrapper {
    magic: u64,
    rpt_socket_name: CString,
    rpt_policy_domain: CString,
    rpt_policy_string: CString,
    skip_reused_hs: c_int,
    tls_policy_type: c_int,
    tls_policy_strings: Option<Vec<CString>>,
    tls_policy_domain: Option<CString>,
    mx_host_patterns: Option<Vec<CString>>,
    snd_mta_addr: Option<CString>,
    rcv_mta_name: Option<CString>,
    rcv_mta_addr: Option<CString>,
    rcv_mta_ehlo: Option<CString>,
    flags: c_int,
}

unsafe fn owned(p: *const c_char) -> Option<CString> {
    (!p.is_null()).then(|| CStr::from_ptr(p).to_owned())
}

/// A NULL-terminated `const char *const *` as owned strings.
unsafe fn owned_list(p: *const *const c_char) -> Option<Vec<CString>> {
    if p.is_null() {
        return None;
    }
    let mut out = vec![];
    let mut i = 0;
    while !(*p.add(i)).is_null() && i < 100_000 {
        out.push(CStr::from_ptr(*p.add(i)).to_owned());
        i += 1;
    }
    Some(out)
}

fn text(s: &Option<CString>) -> String {
    s.as_ref().map_or_else(
        || "(Null)".to_string(),
        |c| c.to_string_lossy().into_owned(),
    )
}

fn ptr(s: &Option<CString>) -> *const c_char {
    s.as_ref().map_or(std::ptr::null(), |c| c.as_ptr())
}

/// The wrapper behind a pointer smtp got from [`trw_create`].
unsafe fn wrapper<'a>(p: *mut c_void) -> Option<&'a mut Wrapper> {
    let w = p.cast::<Wrapper>();
    (!w.is_null() && (*w).magic == MAGIC).then(|| &mut *w)
}

fn verbose() -> c_int {
    pf::msg_verbose()
}

/// `TLSRPT_WRAPPER *trw_create(const char *rpt_socket_name, const char
/// *rpt_policy_domain, const char *rpt_policy_string, int skip_reused_hs)`.
#[no_mangle]
pub unsafe extern "C" fn trw_create(
    socket: *const c_char,
    domain: *const c_char,
    policy: *const c_char,
    skip_reused_hs: c_int,
) -> *mut c_void {
    let s = |p| owned(p).unwrap_or_default();
    let w = Wrapper {
        magic: MAGIC,
        rpt_socket_name: s(socket),
        rpt_policy_domain: s(domain),
        rpt_policy_string: s(policy),
        skip_reused_hs,
        tls_policy_type: 0,
        tls_policy_strings: None,
        tls_policy_domain: None,
        mx_host_patterns: None,
        snd_mta_addr: None,
        rcv_mta_name: None,
        rcv_mta_addr: None,
        rcv_mta_ehlo: None,
        flags: 0,
    };
    if verbose() > 1 {
        pf::info(&format!(
            "trw_create(rpt_socket_name={}, rpt_policy_domain={}, rpt_policy_string={}, skip_reused_hs={skip_reused_hs})",
            w.rpt_socket_name.to_string_lossy(),
            w.rpt_policy_domain.to_string_lossy(),
            w.rpt_policy_string.to_string_lossy()
        ));
    }
    Box::into_raw(Box::new(w)).cast()
}

/// `void trw_free(TLSRPT_WRAPPER *)`.
#[no_mangle]
pub unsafe extern "C" fn trw_free(p: *mut c_void) {
    let Some(w) = wrapper(p) else { return };
    if verbose() > 1 {
        pf::info(&format!(
            "trw_free: rpt_socket_name={}, rpt_policy_domain={}, ...",
            w.rpt_socket_name.to_string_lossy(),
            w.rpt_policy_domain.to_string_lossy()
        ));
    }
    w.magic = 0;
    drop(Box::from_raw(p.cast::<Wrapper>()));
}

/// `void trw_set_tls_policy(TLSRPT_WRAPPER *, tlsrpt_policy_type_t, const
/// char *const *tls_policy_strings, const char *tls_policy_domain, const
/// char *const *mx_host_patterns)`: a new connection's policy; clears the
/// connection facts and the reported flag.
#[no_mangle]
pub unsafe extern "C" fn trw_set_tls_policy(
    p: *mut c_void,
    policy_type: c_int,
    strings: *const *const c_char,
    domain: *const c_char,
    patterns: *const *const c_char,
) {
    let Some(w) = wrapper(p) else { return };
    if verbose() > 1 {
        let first = |l: *const *const c_char| {
            if l.is_null() {
                "(Null)".to_string()
            } else {
                text(&owned(*l))
            }
        };
        pf::info(&format!(
            "trw_set_tls_policy(tlsrpt_policy_type_t={policy_type}, tls_policy_strings={}..., tls_policy_domain={}, mx_host_patterns={}...)",
            first(strings),
            text(&owned(domain)),
            first(patterns)
        ));
    }
    w.tls_policy_type = policy_type;
    w.tls_policy_domain = owned(domain).or_else(|| Some(w.rpt_policy_domain.clone()));
    if policy_type == TLSRPT_NO_POLICY_FOUND {
        w.tls_policy_strings = None;
        w.mx_host_patterns = None;
    } else {
        w.tls_policy_strings = owned_list(strings);
        w.mx_host_patterns = owned_list(patterns);
    }
    w.flags = FLAG_HAVE_TLS_POLICY;
    w.snd_mta_addr = None;
    w.rcv_mta_name = None;
    w.rcv_mta_addr = None;
    w.rcv_mta_ehlo = None;
}

/// `void trw_set_tcp_connection(TLSRPT_WRAPPER *, const char *snd_mta_addr,
/// const char *rcv_mta_name, const char *rcv_mta_addr)`.
#[no_mangle]
pub unsafe extern "C" fn trw_set_tcp_connection(
    p: *mut c_void,
    snd: *const c_char,
    name: *const c_char,
    addr: *const c_char,
) {
    let Some(w) = wrapper(p) else { return };
    let any = !snd.is_null() || !name.is_null() || !addr.is_null();
    if verbose() > 1 && any {
        pf::info(&format!(
            "trw_set_tcp_connection(snd_mta_addr={}, rcv_mta_name={}, rcv_mta_addr={})",
            text(&owned(snd)),
            text(&owned(name)),
            text(&owned(addr))
        ));
    }
    if any && (w.flags & FLAG_HAVE_TLS_POLICY == 0 || w.flags & FLAG_REPORTED != 0) {
        pf::warn("trw_set_tcp_connection: missing trw_set_tls_policy call");
        return;
    }
    w.snd_mta_addr = owned(snd);
    w.rcv_mta_name = owned(name);
    w.rcv_mta_addr = owned(addr);
}

/// `void trw_set_ehlo_resp(TLSRPT_WRAPPER *, const char *rcv_mta_ehlo)`.
#[no_mangle]
pub unsafe extern "C" fn trw_set_ehlo_resp(p: *mut c_void, ehlo: *const c_char) {
    let Some(w) = wrapper(p) else { return };
    if verbose() > 1 && !ehlo.is_null() {
        pf::info(&format!(
            "trw_set_ehlo_resp(rcv_mta_ehlo={})",
            text(&owned(ehlo))
        ));
    }
    if !ehlo.is_null() && (w.flags & FLAG_HAVE_TLS_POLICY == 0 || w.flags & FLAG_REPORTED != 0) {
        pf::warn("trw_set_ehlo_resp: missing trw_set_tls_policy call");
        return;
    }
    w.rcv_mta_ehlo = owned(ehlo);
}

/// Log a libtlsrpt result as Postfix does; 0 or -1 (errno set for libc
/// errors).
fn munge(code: c_int) -> c_int {
    if code == 0 {
        return 0;
    }
    // SAFETY: libtlsrpt's pure functions on an error code; tlsrpt_strerror
    // returns a static string.
    unsafe {
        let why = || CStr::from_ptr(tlsrpt_strerror(code)).to_string_lossy();
        if tlsrpt_error_code_is_internal(code) != 0 {
            pf::warn(&format!(
                "Could not report TLS handshake result to tlsrpt library: {} (error {code})",
                why()
            ));
        } else {
            let err = tlsrpt_errno_from_error_code(code);
            let text = std::io::Error::from_raw_os_error(err).to_string();
            let text = text.split(" (os error").next().unwrap_or("");
            pf::warn(&format!(
                "Could not report TLS handshake result to tlsrpt library: {text} (errno {err})"
            ));
            if verbose() != 0 {
                pf::warn(&format!(
                    "Error location in tlsrpt library: {} (error {code})",
                    why()
                ));
            }
            *libc::__errno_location() = err;
        }
    }
    -1
}

fn failure_name(t: c_int) -> String {
    match t {
        201 => "starttls_not_supported",
        202 => "certificate_host_mismatch",
        203 => "certificate_not_trusted",
        204 => "certificate_expired",
        205 => "validation_failure",
        301 => "sts_policy_fetch_error",
        302 => "sts_policy_invalid",
        303 => "sts_webpki_invalid",
        304 => "tlsa_invalid",
        305 => "dnssec_invalid",
        306 => "dane_required",
        901 => "unfinished_policY",
        _ => {
            pf::warn(&format!("unknown tlsrpt_failure_t value {t}"));
            return format!("failure_type_{t}");
        }
    }
    .to_string()
}

/// One report: open, delivery request, the policy, its strings and
/// patterns, the failure if any, finish (or cancel), close.
unsafe fn send(w: &Wrapper, failure: Option<(c_int, *const c_char, *const c_char)>) -> c_int {
    let mut con: *mut tlsrpt_connection_t = std::ptr::null_mut();
    let mut res = tlsrpt_open(&mut con, w.rpt_socket_name.as_ptr());
    if res != 0 {
        return res;
    }
    let mut dr: *mut tlsrpt_dr_t = std::ptr::null_mut();
    res = tlsrpt_init_delivery_request(
        &mut dr,
        con,
        w.rpt_policy_domain.as_ptr(),
        w.rpt_policy_string.as_ptr(),
    );
    if res == 0 {
        res = tlsrpt_init_policy(dr, w.tls_policy_type, ptr(&w.tls_policy_domain));
        if res == 0 {
            for s in w.tls_policy_strings.iter().flatten() {
                if res != 0 {
                    break;
                }
                res = tlsrpt_add_policy_string(dr, s.as_ptr());
            }
            for s in w.mx_host_patterns.iter().flatten() {
                if res != 0 {
                    break;
                }
                res = tlsrpt_add_mx_host_pattern(dr, s.as_ptr());
            }
            if let (0, Some((t, info, reason))) = (res, failure) {
                res = tlsrpt_add_delivery_request_failure(
                    dr,
                    t,
                    ptr(&w.snd_mta_addr),
                    ptr(&w.rcv_mta_name),
                    ptr(&w.rcv_mta_ehlo),
                    ptr(&w.rcv_mta_addr),
                    info,
                    reason,
                );
            }
            if res == 0 {
                let outcome = if failure.is_some() {
                    TLSRPT_FINAL_FAILURE
                } else {
                    TLSRPT_FINAL_SUCCESS
                };
                res = tlsrpt_finish_policy(dr, outcome);
            }
        }
        if res == 0 {
            res = tlsrpt_finish_delivery_request(&mut dr);
        } else {
            tlsrpt_cancel_delivery_request(&mut dr);
        }
    }
    tlsrpt_close(&mut con);
    res
}

/// `int trw_report_failure(TLSRPT_WRAPPER *, tlsrpt_failure_t, const char
/// *additional_info, const char *failure_reason)`: one-shot; a later
/// report of the same connection is skipped.
#[no_mangle]
pub unsafe extern "C" fn trw_report_failure(
    p: *mut c_void,
    failure: c_int,
    info: *const c_char,
    reason: *const c_char,
) -> c_int {
    let Some(w) = wrapper(p) else { return 0 };
    if verbose() > 1 {
        pf::info(&format!(
            "trw_report_failure(failure_type={failure}, additional_info={}, failure_reason={})",
            text(&owned(info)),
            text(&owned(reason))
        ));
    }
    if w.flags & FLAG_HAVE_TLS_POLICY == 0 {
        pf::warn("trw_report_failure: missing trw_set_tls_policy call");
        return 0;
    }
    if w.flags & FLAG_REPORTED != 0 {
        if verbose() != 0 {
            pf::info("trw_report_failure: success or failure already reported");
        }
        return 0;
    }
    w.flags |= FLAG_REPORTED;
    let reason_text = owned(reason);
    pf::info(&format!(
        "TLSRPT: status=failure, domain={}, receiving_mx={}[{}], failure_type={}{}",
        w.rpt_policy_domain.to_string_lossy(),
        text(&w.rcv_mta_name),
        text(&w.rcv_mta_addr),
        failure_name(failure),
        reason_text
            .as_ref()
            .map(|r| format!(", failure_reason={}", r.to_string_lossy()))
            .unwrap_or_default()
    ));
    munge(send(w, Some((failure, info, reason))))
}

/// `int trw_report_success(TLSRPT_WRAPPER *)`.
#[no_mangle]
pub unsafe extern "C" fn trw_report_success(p: *mut c_void) -> c_int {
    let Some(w) = wrapper(p) else { return 0 };
    if verbose() > 1 {
        pf::info("trw_report_success");
    }
    if w.flags & FLAG_HAVE_TLS_POLICY == 0 {
        pf::warn("trw_report_success: missing trw_set_tls_policy call");
        return 0;
    }
    if w.flags & FLAG_REPORTED != 0 {
        pf::warn("trw_report_success: success or failure was already reported");
        return 0;
    }
    w.flags |= FLAG_REPORTED;
    // Postfix prints these two with a plain %s: glibc's "(null)".
    let plain = |s: &Option<CString>| {
        s.as_ref().map_or_else(
            || "(null)".to_string(),
            |c| c.to_string_lossy().into_owned(),
        )
    };
    pf::info(&format!(
        "TLSRPT: status=success, domain={}, receiving_mx={}[{}]",
        w.rpt_policy_domain.to_string_lossy(),
        plain(&w.rcv_mta_name),
        plain(&w.rcv_mta_addr)
    ));
    munge(send(w, None))
}

/// `int trw_is_reported(const TLSRPT_WRAPPER *)`.
#[no_mangle]
pub unsafe extern "C" fn trw_is_reported(p: *mut c_void) -> c_int {
    wrapper(p).map_or(0, |w| w.flags & FLAG_REPORTED)
}

/// `int trw_is_skip_reused_hs(const TLSRPT_WRAPPER *)`.
#[no_mangle]
pub unsafe extern "C" fn trw_is_skip_reused_hs(p: *mut c_void) -> c_int {
    wrapper(p).map_or(0, |w| w.skip_reused_hs)
}
