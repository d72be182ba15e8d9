//! TLSRPT (RFC 8460): what Postfix 3.10 and later report to a TLSRPT
//! collector for one client session, as far as the TLS layer decides it.
//! The result type and failure-reason code follow the Postfix release
//! selected for the context (its rules of which verification error counts
//! and whether a host-name mismatch alone leaves the chain trusted), in
//! the order Postfix makes its reports (the first one counts):
//!
//! 1. unusable trust data found while the session was set up: every TLSA
//!    record (`tlsa-invalid`, `all-TLSA-records-unusable`), every
//!    fingerprint or every trust anchor (`validation-failure`,
//!    `all-fingerprints-unusable` / `all-trust-anchors-unusable`);
//! 2. a failed handshake (`validation-failure`, `tls-handshake-failure`);
//! 3. the verification error of a new session whose certificate did not
//!    match, when it is logged (levels that must match): an expired
//!    certificate (`certificate-expired`), an untrusted one
//!    (`certificate-not-trusted`), or `validation-failure` with OpenSSL's
//!    error text as the reason (spaces as `_`);
//! 4. a level that must match and did not: `certificate-host-mismatch`
//!    when the chain was trusted, else `certificate-not-trusted`;
//! 5. otherwise success.
//!
//! The host reports what happens outside TLS itself (a server that does
//! not offer STARTTLS: `starttls-not-supported`), the sending MTA's EHLO
//! reply, and the TLSRPT policy record of the next-hop domain.

use crate::context::exdata::VerifyRecord;
use crate::sys::x509::{self, codes as x};

/// An RFC 8460 result type, with libtlsrpt's numbers (0 for success).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum ResultType {
    /// The session met the policy.
    Success = 0,
    /// STARTTLS not offered or refused (reported by the host).
    StarttlsNotSupported = 201,
    /// The certificate's chain is trusted but no name matched.
    CertificateHostMismatch = 202,
    /// The certificate is not trusted.
    CertificateNotTrusted = 203,
    /// The certificate has expired.
    CertificateExpired = 204,
    /// Any other validation failure (see the reason).
    ValidationFailure = 205,
    /// MTA-STS: the policy could not be fetched.
    StsPolicyFetchError = 301,
    /// MTA-STS: the policy is invalid.
    StsPolicyInvalid = 302,
    /// MTA-STS: the policy host's certificate is invalid.
    StsWebpkiInvalid = 303,
    /// DANE: the TLSA records are invalid or unusable.
    TlsaInvalid = 304,
    /// DANE: DNSSEC validation failed.
    DnssecInvalid = 305,
    /// DANE: DANE was required but not available.
    DaneRequired = 306,
}

const TYPES: &[(ResultType, &str)] = &[
    (ResultType::Success, "success"),
    (ResultType::StarttlsNotSupported, "starttls-not-supported"),
    (
        ResultType::CertificateHostMismatch,
        "certificate-host-mismatch",
    ),
    (ResultType::CertificateNotTrusted, "certificate-not-trusted"),
    (ResultType::CertificateExpired, "certificate-expired"),
    (ResultType::ValidationFailure, "validation-failure"),
    (ResultType::StsPolicyFetchError, "sts-policy-fetch-error"),
    (ResultType::StsPolicyInvalid, "sts-policy-invalid"),
    (ResultType::StsWebpkiInvalid, "sts-webpki-invalid"),
    (ResultType::TlsaInvalid, "tlsa-invalid"),
    (ResultType::DnssecInvalid, "dnssec-invalid"),
    (ResultType::DaneRequired, "dane-required"),
];

impl ResultType {
    /// libtlsrpt's number (`tlsrpt_failure_t`; 0 for success).
    pub fn code(self) -> i32 {
        self as i32
    }

    /// The RFC 8460 name (`certificate-expired`; `success`).
    pub fn name(self) -> &'static str {
        TYPES
            .iter()
            .find(|(t, _)| *t == self)
            .map_or("", |(_, n)| n)
    }

    /// The type numbered `code`, if any.
    pub fn from_code(code: i32) -> Option<ResultType> {
        TYPES
            .iter()
            .find(|(t, _)| t.code() == code)
            .map(|(t, _)| *t)
    }
}

/// The TLSRPT policy type (libtlsrpt's `tlsrpt_policy_type_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum PolicyType {
    /// DANE: the session checked TLSA records.
    Tlsa = 1,
    /// MTA-STS (known to the host only).
    Sts = 2,
    /// Any other level.
    NoPolicyFound = 9,
}

/// Reasons of the reports made while a session is set up.
pub mod reason {
    /// Every TLSA record was unusable.
    pub const TLSA_UNUSABLE: &str = "all-TLSA-records-unusable";
    /// Every fingerprint was unusable.
    pub const FINGERPRINTS_UNUSABLE: &str = "all-fingerprints-unusable";
    /// Every trust anchor was unusable.
    pub const TRUST_ANCHORS_UNUSABLE: &str = "all-trust-anchors-unusable";
    /// The handshake failed.
    pub const HANDSHAKE_FAILURE: &str = "tls-handshake-failure";
}

/// The type of the report made for unusable trust data with reason
/// `reason` (one of [`reason`]'s `*_UNUSABLE`).
pub fn unusable_type(reason: &str) -> ResultType {
    if reason == reason::TLSA_UNUSABLE {
        ResultType::TlsaInvalid
    } else {
        ResultType::ValidationFailure
    }
}

/// The TLSRPT facts of one finished client session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Success or the failure type.
    pub result: ResultType,
    /// The failure-reason code (`None` for none).
    pub reason: Option<String>,
    /// Additional information (Postfix never sends any: always `None`).
    pub additional_info: Option<String>,
    /// The receiving MX host name (the peer label's host part).
    pub receiving_mx_host: String,
    /// The receiving address (the label's, else the socket's peer).
    pub receiving_ip: String,
    /// The sending address (the socket's local address; "" if unknown).
    pub sending_ip: String,
    /// The policy in force.
    pub policy_type: PolicyType,
    /// The policy domain: the TLSA base domain for [`PolicyType::Tlsa`],
    /// else the next-hop domain.
    pub policy_domain: String,
    /// For [`PolicyType::Tlsa`]: each usable TLSA record as Postfix
    /// reports it (`3 1 1 HEX`, upper case).
    pub policy_strings: Vec<String>,
}

/// Postfix's report for verification error `code` of a new session
/// (`tls_log_verify_error`): the type and reason, or `None` where the
/// TLS engine reports nothing (smtp decides later from the trust bits).
pub fn verify_error(code: i32) -> Option<(ResultType, Option<String>)> {
    Some(match code {
        x::X509_V_ERR_CERT_UNTRUSTED => (ResultType::CertificateNotTrusted, None),
        x::X509_V_ERR_CERT_HAS_EXPIRED | x::X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD => {
            (ResultType::CertificateExpired, None)
        }
        x::X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT
        | x::X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
        | x::X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN
        | x::X509_V_ERR_CERT_NOT_YET_VALID
        | x::X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD
        | x::X509_V_ERR_INVALID_PURPOSE
        | x::X509_V_ERR_CERT_CHAIN_TOO_LONG => (
            ResultType::ValidationFailure,
            Some(x509::verify_error_text(code).replace(' ', "_")),
        ),
        _ => return None,
    })
}

/// How a client session ended, as far as TLSRPT cares.
#[derive(Debug, Clone, Copy)]
pub enum Outcome<'a> {
    /// The handshake failed.
    HandshakeFailed,
    /// The handshake completed.
    Established {
        /// The level requires a matching certificate.
        must_match: bool,
        /// The certificate matched the level's requirement.
        matched: bool,
        /// The chain was trusted (`TRUSTED` of the peer status).
        trusted: bool,
        /// A certificate was presented.
        present: bool,
        /// A resumed session (its verification error is not looked at).
        reused: bool,
        /// Verification errors are logged (`untrusted` in the log mask).
        untrusted_logged: bool,
        /// The verification record.
        record: &'a VerifyRecord,
    },
}

/// The result type and reason of a session that ended in `outcome`,
/// where `unusable` is the reason of the report made while it was set up
/// (unusable trust data, see [`reason`]), if any.
pub fn classify(unusable: Option<&str>, outcome: Outcome<'_>) -> (ResultType, Option<String>) {
    if let Some(r) = unusable {
        return (unusable_type(r), Some(r.to_string()));
    }
    match outcome {
        Outcome::HandshakeFailed => (
            ResultType::ValidationFailure,
            Some(reason::HANDSHAKE_FAILURE.to_string()),
        ),
        Outcome::Established {
            must_match,
            matched,
            trusted,
            present,
            reused,
            untrusted_logged,
            record,
        } => {
            if present && !matched && !reused && untrusted_logged && record.depth.is_some() {
                if let Some(found) = verify_error(record.code) {
                    return found;
                }
            }
            if must_match && !matched {
                if trusted {
                    (ResultType::CertificateHostMismatch, None)
                } else {
                    (ResultType::CertificateNotTrusted, None)
                }
            } else {
                (ResultType::Success, None)
            }
        }
    }
}

/// The host and address of a peer label (`host[addr]:port`,
/// `host[addr]`, or a bare host): the address is "" when the label has
/// none.
pub fn split_label(label: &str) -> (String, String) {
    match (label.find('['), label.rfind(']')) {
        (Some(open), Some(close)) if open < close => (
            label[..open].to_string(),
            label[open + 1..close].to_string(),
        ),
        _ => (label.to_string(), String::new()),
    }
}

/// A TLSA record as a TLSRPT policy string (`3 1 1 HEX`), or `None` for
/// one Postfix leaves out (PKIX usages 0 and 1, matching type 255).
pub fn tlsa_policy_string(usage: u8, selector: u8, mtype: u8, data: &[u8]) -> Option<String> {
    if usage < 2 || mtype == 255 {
        return None;
    }
    Some(format!(
        "{usage} {selector} {mtype} {}",
        crate::text::hex(data).to_ascii_uppercase()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tlsrpt_verify_errors_as_postfix_reports_them() {
        assert_eq!(verify_error(0), None);
        assert_eq!(verify_error(62), None);
        assert_eq!(verify_error(65), None);
        assert_eq!(
            verify_error(27),
            Some((ResultType::CertificateNotTrusted, None))
        );
        assert_eq!(
            verify_error(10),
            Some((ResultType::CertificateExpired, None))
        );
        for (code, text) in [
            (18, "self-signed_certificate"),
            (20, "unable_to_get_local_issuer_certificate"),
            (19, "self-signed_certificate_in_certificate_chain"),
            (9, "certificate_is_not_yet_valid"),
            (26, "unsuitable_certificate_purpose"),
            (22, "certificate_chain_too_long"),
        ] {
            assert_eq!(
                verify_error(code),
                Some((ResultType::ValidationFailure, Some(text.to_string()))),
                "{code}"
            );
        }
    }

    #[test]
    fn tlsrpt_classification_order() {
        let mismatch = VerifyRecord {
            depth: Some(0),
            code: 62,
            ..VerifyRecord::default()
        };
        let expired = VerifyRecord {
            depth: Some(0),
            code: 10,
            ..VerifyRecord::default()
        };
        let est = |record, matched, trusted, reused| Outcome::Established {
            must_match: true,
            matched,
            trusted,
            present: true,
            reused,
            untrusted_logged: true,
            record,
        };
        assert_eq!(
            classify(None, est(&mismatch, false, true, false)),
            (ResultType::CertificateHostMismatch, None)
        );
        assert_eq!(
            classify(None, est(&mismatch, false, false, false)),
            (ResultType::CertificateNotTrusted, None)
        );
        assert_eq!(
            classify(None, est(&expired, false, false, false)),
            (ResultType::CertificateExpired, None)
        );
        // A resumed session: smtp's report only.
        assert_eq!(
            classify(None, est(&expired, false, false, true)),
            (ResultType::CertificateNotTrusted, None)
        );
        assert_eq!(
            classify(None, est(&VerifyRecord::default(), true, true, false)),
            (ResultType::Success, None)
        );
        assert_eq!(
            classify(None, Outcome::HandshakeFailed),
            (
                ResultType::ValidationFailure,
                Some("tls-handshake-failure".into())
            )
        );
        assert_eq!(
            classify(Some(reason::TLSA_UNUSABLE), Outcome::HandshakeFailed),
            (
                ResultType::TlsaInvalid,
                Some("all-TLSA-records-unusable".into())
            )
        );
        // Not a level that must match: success, unless the admin logs
        // untrusted certificates (Postfix's quirk).
        let may = |untrusted_logged| Outcome::Established {
            must_match: false,
            matched: false,
            trusted: false,
            present: true,
            reused: false,
            untrusted_logged,
            record: &expired,
        };
        assert_eq!(classify(None, may(false)), (ResultType::Success, None));
        assert_eq!(
            classify(None, may(true)),
            (ResultType::CertificateExpired, None)
        );
    }

    #[test]
    fn tlsrpt_names_labels_and_policy_strings() {
        for (t, _) in TYPES {
            assert_eq!(ResultType::from_code(t.code()), Some(*t));
        }
        assert_eq!(ResultType::CertificateExpired.name(), "certificate-expired");
        assert_eq!(ResultType::from_code(200), None);
        assert_eq!(
            split_label("mx.example.com[192.0.2.1]:25"),
            ("mx.example.com".into(), "192.0.2.1".into())
        );
        assert_eq!(
            split_label("mx[2001:db8::1]:25"),
            ("mx".into(), "2001:db8::1".into())
        );
        assert_eq!(split_label("mx"), ("mx".into(), String::new()));
        assert_eq!(
            tlsa_policy_string(3, 1, 1, &[0xab, 0x01]),
            Some("3 1 1 AB01".into())
        );
        assert_eq!(tlsa_policy_string(1, 1, 1, &[0xab]), None);
        assert_eq!(tlsa_policy_string(3, 1, 255, &[0xab]), None);
    }
}
