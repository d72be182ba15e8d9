//! The Postfix release whose behaviour is emulated: the parameter
//! `mtatls_postfix_release` (`x.y.z`, or `x.y` for that series' newest
//! known patch release), the per-series thresholds at which Postfix
//! changed its TLS log text and behaviour, and the parameter defaults
//! (`postconf -d`) that differ from the 3.8.5 ones of the parameter table.
//!
//! Postfix backports fixes to every supported stable series at once,
//! under different patch numbers, so releases are not ordered across
//! series: 3.7.13 has what 3.8.8 and 3.9.2 have, which 3.8.5 lacks. Every
//! behaviour is therefore a threshold per series ("3.8.x from 3.8.8 on"),
//! never a comparison of two version numbers. docs/releases.md lists each
//! behaviour with the releases that introduced it and how it was captured.

use crate::error::{Error, ErrorKind, Result};

/// The parameter that selects the release.
pub const RELEASE_PARAM: &str = "mtatls_postfix_release";

/// The series this library knows, oldest first, with the newest patch
/// release of each whose behaviour was checked (the Postfix tags of
/// 2026-08-09). A later patch of a known series behaves as that newest
/// known one: patch releases change behaviour only where the table of
/// thresholds says so, and a change made after these releases is unknown
/// to this library.
pub const SERIES: [((u8, u8), u16); 5] = [
    ((3, 7), 22),
    ((3, 8), 20),
    ((3, 9), 14),
    ((3, 10), 13),
    ((3, 11), 6),
];

/// First patch release of each series (3.7, 3.8, 3.9, 3.10, 3.11, in
/// [`SERIES`] order) that has a behaviour; `None`: no release of that
/// series has it.
pub type Since = [Option<u16>; 5];

/// Only from 3.8.0 on (every later series).
const FROM_3_8: Since = [None, Some(0), Some(0), Some(0), Some(0)];
/// Only from 3.9.0 on.
const FROM_3_9: Since = [None, None, Some(0), Some(0), Some(0)];
/// Only from 3.10.0 on.
const FROM_3_10: Since = [None, None, None, Some(0), Some(0)];
/// Only from 3.11.0 on.
const FROM_3_11: Since = [None, None, None, None, Some(0)];
/// The 20250212 fixes: 3.7.13, 3.8.8, 3.9.2, 3.10.0.
const FIXES_20250212: Since = [Some(13), Some(8), Some(2), Some(0), Some(0)];
/// Empty `tls_eecdh_auto_curves` allowed: 3.7.13, and every 3.8+ release.
const EMPTY_EECDH: Since = [Some(13), Some(0), Some(0), Some(0), Some(0)];
/// The 20250730 trust fix: 3.10.4 and 3.11.0 (not backported further).
const MISMATCH_TRUSTED: Since = [None, None, None, Some(4), Some(0)];

/// A Postfix release: series (major, minor) and patch level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Release {
    series: (u8, u8),
    patch: u16,
}

impl Default for Release {
    fn default() -> Self {
        Release::DEFAULT
    }
}

impl std::fmt::Display for Release {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.series.0, self.series.1, self.patch)
    }
}

impl Release {
    /// Postfix 3.8.5, the release of the reference document: the default.
    pub const DEFAULT: Release = Release {
        series: (3, 8),
        patch: 5,
    };

    /// The release `x.y.z` (not checked against [`SERIES`]; see
    /// [`Release::parse`]).
    pub const fn new(major: u8, minor: u8, patch: u16) -> Release {
        Release {
            series: (major, minor),
            patch,
        }
    }

    /// Parse `x.y.z` or `x.y` (that series' newest known patch release),
    /// 3.7 to 3.11. Anything else is an `InvalidValue` error naming the
    /// parameter and the value.
    pub fn parse(text: &str) -> Result<Release> {
        let text = text.trim();
        let bad = |why: &str| {
            Error::new(
                ErrorKind::InvalidValue,
                format!("{RELEASE_PARAM} = {text}: {why}"),
            )
        };
        let parts: Vec<&str> = text.split('.').collect();
        let number = |s: &str| -> Option<u32> {
            let digits = !s.is_empty() && s.len() <= 5 && s.bytes().all(|b| b.is_ascii_digit());
            let canonical = s == "0" || !s.starts_with('0');
            if digits && canonical {
                s.parse().ok()
            } else {
                None
            }
        };
        let numbers: Option<Vec<u32>> = parts.iter().map(|p| number(p)).collect();
        let numbers =
            match numbers {
                Some(n) if n.len() == 2 || n.len() == 3 => n,
                _ => return Err(bad(
                    "not a Postfix release number (x.y.z, or x.y for the newest patch of a series)",
                )),
            };
        let (major, minor) = (numbers[0], numbers[1]);
        let Some(&(series, newest)) = SERIES
            .iter()
            .find(|((ma, mi), _)| u32::from(*ma) == major && u32::from(*mi) == minor)
        else {
            let first = SERIES[0].0;
            let last = SERIES[SERIES.len() - 1].0;
            let why = if (major, minor) < (u32::from(first.0), u32::from(first.1)) {
                format!(
                    "Postfix releases before {}.{} are not emulated",
                    first.0, first.1
                )
            } else {
                format!(
                    "Postfix {major}.{minor} is newer than this library knows (the newest is {}.{})",
                    last.0, last.1
                )
            };
            return Err(bad(&why));
        };
        let patch = match numbers.get(2) {
            Some(&p) => u16::try_from(p).map_err(|_| bad("patch level out of range"))?,
            None => newest,
        };
        Ok(Release { series, patch })
    }

    /// (major, minor).
    pub fn series(&self) -> (u8, u8) {
        self.series
    }

    /// The patch level.
    pub fn patch(&self) -> u16 {
        self.patch
    }

    /// Whether this release has a behaviour that arrived in each series
    /// at the patch release `since` names.
    pub fn has(&self, since: Since) -> bool {
        let index = SERIES.iter().position(|(s, _)| *s == self.series);
        match index.and_then(|i| since[i]) {
            Some(first) => self.patch >= first,
            None => false,
        }
    }

    // --- key exchange groups (tls_eecdh_auto_curves, tls_ffdhe_auto_groups)

    /// 3.8.0+: `tls_ffdhe_auto_groups` exists, both lists make one group
    /// list, and the warnings speak of "key exchange group"s (3.7: EC
    /// curves only, "ECDHE curve" warnings).
    pub fn has_ffdhe_groups(&self) -> bool {
        self.has(FROM_3_8)
    }

    /// An empty `tls_eecdh_auto_curves` is allowed (3.7.0 to 3.7.12 refuse
    /// it: "bad string length 0 < 1").
    pub fn empty_eecdh_curves_allowed(&self) -> bool {
        self.has(EMPTY_EECDH)
    }

    /// `tls_eecdh_strong_curve` and `tls_eecdh_ultra_curve` may be empty
    /// (3.7.13, 3.8.8, 3.9.2, 3.10.0).
    pub fn empty_strong_ultra_curves_allowed(&self) -> bool {
        self.has(FIXES_20250212)
    }

    /// Both group lists empty: OpenSSL's default groups, silently (3.7.13,
    /// 3.8.8, 3.9.2, 3.10.0; before, 3.8 and 3.9 warn "no configured key
    /// exchange group" and fall back to Postfix's defaults).
    pub fn empty_group_lists_are_silent(&self) -> bool {
        self.has(FIXES_20250212)
    }

    /// 3.10.0+: group names are checked one by one by name (OpenSSL's
    /// case-insensitive lookup, aliases, `:` as a separator), unknown ones
    /// dropped silently and duplicates removed case-insensitively; before,
    /// names are resolved to NIDs with a warning for each unknown one.
    pub fn group_list_by_name(&self) -> bool {
        self.has(FROM_3_10)
    }

    // --- the summary line and the Received: comment

    /// 3.10.0+: `key-exchange` names the negotiated TLS group (`x25519`,
    /// `secp256r1`, `ffdhe2048`, `X25519MLKEM768`) with no suffix; before,
    /// the peer's ephemeral key (`X25519`, `ECDHE (prime256v1)`, `DHE (2048
    /// bits)`).
    pub fn kex_uses_group_name(&self) -> bool {
        self.has(FROM_3_10)
    }

    /// A resumed TLS 1.3 session is summarised by its key exchange only
    /// (3.7.13, 3.8.8, 3.9.2, 3.10.0); before, by the signature keys that
    /// are known without their digests.
    pub fn resumed_tls13_omits_signatures(&self) -> bool {
        self.has(FIXES_20250212)
    }

    /// Keys of provider-only types (OpenSSL 3.5 hybrids) are named by the
    /// provider (3.7.13, 3.8.8, 3.9.2, 3.10.0); before, `EVP_PKEY_type`
    /// leaves them `UNDEF`.
    pub fn provider_key_names(&self) -> bool {
        self.has(FIXES_20250212)
    }

    // --- verification

    /// A PKI-valid server certificate that fails only the name check is
    /// `Trusted`, not `Untrusted`, and a hostname-mismatch error never
    /// hides another verification error (3.10.4, 3.11.0).
    pub fn hostname_mismatch_is_trusted(&self) -> bool {
        self.has(MISMATCH_TRUSTED)
    }

    /// 3.9.0+: the peer certificate line reads `subject_CN=..., issuer=...,
    /// cert fingerprint=..., pkey fingerprint=...` on both sides (before:
    /// `issuer_CN=` on the client, `fingerprint=`, `pkey_fingerprint=`).
    pub fn peer_cert_line_v39(&self) -> bool {
        self.has(FROM_3_9)
    }

    /// 3.9.0+: a client resuming a session whose certificate did not match
    /// logs "re-using session with untrusted peer credential" (before:
    /// "untrusted certificate").
    pub fn untrusted_peer_credential_text(&self) -> bool {
        self.has(FROM_3_9)
    }

    /// 3.9.0+: the verbose verification line without a certificate is
    /// `depth=N verify=V` (before: `... subject=<unknown>`).
    pub fn verify_line_omits_unknown_subject(&self) -> bool {
        self.has(FROM_3_9)
    }

    /// 3.9.0+: public-key fingerprints are always over the
    /// SubjectPublicKeyInfo (`tls_legacy_public_key_fingerprints` is
    /// ignored).
    pub fn ignores_legacy_pkey_fingerprints(&self) -> bool {
        self.has(FROM_3_9)
    }

    /// 3.9.0+: RFC 7250 raw public keys (`smtp_tls_enable_rpk`,
    /// `smtpd_tls_enable_rpk`; a server always sends one to a client that
    /// asks; the `raw public key` log text). Before, the parameters do not
    /// exist.
    pub fn has_raw_public_keys(&self) -> bool {
        self.has(FROM_3_9)
    }

    /// Whether this release has parameter `name` at all (`lmtp_` twins as
    /// their `smtp_` names): the ones a later release added are unknown
    /// names in earlier ones, as `postconf -d` of each shows.
    pub fn knows_param(&self, name: &str) -> bool {
        let name = match name.strip_prefix("lmtp_") {
            Some(rest) => format!("smtp_{rest}"),
            None => name.to_string(),
        };
        match name.as_str() {
            "smtp_tls_enable_rpk" | "smtpd_tls_enable_rpk" => self.has_raw_public_keys(),
            _ => true,
        }
    }

    // --- sessions

    /// 3.11.0+: a client stores, and logs "save session" for, only the
    /// first session ticket of a connection (before: every ticket).
    pub fn saves_first_ticket_only(&self) -> bool {
        self.has(FROM_3_11)
    }

    /// 3.11.0+: the server's "Reusing old session (RFC 5077 session
    /// ticket)" needs a ticket it decrypted (before: also one it issued).
    pub fn ticket_mark_needs_decryption(&self) -> bool {
        self.has(FROM_3_11)
    }

    // --- ciphers and OpenSSL

    /// 3.8.0+: the default cipher lists exclude legacy algorithms, the
    /// grades `low` and `export` use the medium list, and renegotiation is
    /// off (`SSL_OP_NO_RENEGOTIATION`).
    pub fn legacy_grades_use_medium(&self) -> bool {
        self.has(FROM_3_8)
    }

    /// 3.8.0+: `SSL_OP_NO_RENEGOTIATION` on every context.
    pub fn disables_renegotiation(&self) -> bool {
        self.has(FROM_3_8)
    }

    /// 3.10.0+: a run-time OpenSSL 3 with a newer minor version than the
    /// one built against is not warned about (before: any other minor
    /// version is).
    pub fn accepts_newer_openssl_minor(&self) -> bool {
        self.has(FROM_3_10)
    }

    /// 3.11.0+: `smtp_tlsrpt_skip_reused_handshakes` not set in main.cf
    /// is `yes` below compatibility level 3.11 (Postfix's "backwards-
    /// compatible default setting"), whatever its default says.
    pub fn tlsrpt_skip_reused_compat_break(&self) -> bool {
        self.has(FROM_3_11)
    }

    // --- parameter defaults

    /// The default of parameter `name` in this release when it differs
    /// from the parameter table's (Postfix 3.8.5's); `None`: the table's.
    pub fn default_of(&self, name: &str) -> Option<&'static str> {
        DEFAULT_CHANGES
            .iter()
            .find(|c| c.name == name && (c.applies)(self))
            .map(|c| c.value)
    }

    /// Whether parameter `name` must not be empty in this release
    /// (Postfix's "bad string length 0 < 1"); `None`: as the table says.
    pub fn requires_value(&self, name: &str) -> Option<bool> {
        match name {
            "tls_eecdh_auto_curves" => Some(!self.empty_eecdh_curves_allowed()),
            "tls_eecdh_strong_curve" | "tls_eecdh_ultra_curve" => {
                Some(!self.empty_strong_ultra_curves_allowed())
            }
            "tls_low_cipherlist" | "tls_export_cipherlist" => {
                Some(!self.legacy_grades_use_medium())
            }
            _ => None,
        }
    }
}

/// A parameter default that differs from the table's in some releases.
#[derive(Debug, Clone, Copy)]
pub struct DefaultChange {
    /// The parameter.
    pub name: &'static str,
    /// The releases, as docs/parameters.md says it.
    pub releases: &'static str,
    /// The default there.
    pub value: &'static str,
    applies: fn(&Release) -> bool,
}

fn is_3_7(r: &Release) -> bool {
    !r.has(FROM_3_8)
}

fn from_3_10(r: &Release) -> bool {
    r.has(FROM_3_10)
}

/// 3.11.0+ run with OpenSSL 3.5 or later: post-quantum hybrid groups
/// first (Postfix decides when it is compiled; this library, with the
/// OpenSSL it runs with).
fn from_3_11_pq(r: &Release) -> bool {
    r.has(FROM_3_11) && crate::sys::version::runtime_at_least(3, 5)
}

fn from_3_11(r: &Release) -> bool {
    r.has(FROM_3_11)
}

/// Every default that differs from the parameter table's (Postfix 3.8.5's),
/// first match wins.
pub static DEFAULT_CHANGES: &[DefaultChange] = &[
    DefaultChange {
        name: "tls_high_cipherlist",
        releases: "3.7.x",
        value: "aNULL:-aNULL:HIGH:@STRENGTH",
        applies: is_3_7,
    },
    DefaultChange {
        name: "tls_medium_cipherlist",
        releases: "3.7.x",
        value: "aNULL:-aNULL:HIGH:MEDIUM:+RC4:@STRENGTH",
        applies: is_3_7,
    },
    DefaultChange {
        name: "tls_null_cipherlist",
        releases: "3.7.x",
        value: "eNULL:!aNULL",
        applies: is_3_7,
    },
    DefaultChange {
        name: "tls_low_cipherlist",
        releases: "3.7.x",
        value: "aNULL:-aNULL:HIGH:MEDIUM:LOW:+RC4:@STRENGTH",
        applies: is_3_7,
    },
    DefaultChange {
        name: "tls_export_cipherlist",
        releases: "3.7.x",
        value: "aNULL:-aNULL:HIGH:MEDIUM:LOW:EXPORT:+RC4:@STRENGTH",
        applies: is_3_7,
    },
    DefaultChange {
        name: "tls_ffdhe_auto_groups",
        releases: "3.7.x (no such parameter)",
        value: "",
        applies: is_3_7,
    },
    DefaultChange {
        name: "tls_ffdhe_auto_groups",
        releases: "3.11.0 and later, with OpenSSL 3.5 or later",
        value: "",
        applies: from_3_11_pq,
    },
    DefaultChange {
        name: "tls_eecdh_auto_curves",
        releases: "3.11.0 and later, with OpenSSL 3.5 or later",
        value: "?X25519MLKEM768:DEFAULT",
        applies: from_3_11_pq,
    },
    DefaultChange {
        name: "tls_eecdh_auto_curves",
        releases: "3.10.0 and later",
        value: "X25519 X448 prime256v1 secp384r1 secp521r1",
        applies: from_3_10,
    },
    DefaultChange {
        name: "smtp_tlsrpt_skip_reused_handshakes",
        releases: "3.11.0 and later (but `yes` when not set below compatibility_level 3.11)",
        value: "no",
        applies: from_3_11,
    },
    DefaultChange {
        name: "smtp_tlsrpt_skip_reused_handshakes",
        releases: "3.10.x",
        value: "yes",
        applies: from_3_10,
    },
    DefaultChange {
        name: "lmtp_tlsrpt_skip_reused_handshakes",
        releases: "3.11.0 and later",
        value: "no",
        applies: from_3_11,
    },
    DefaultChange {
        name: "lmtp_tlsrpt_skip_reused_handshakes",
        releases: "3.10.x",
        value: "yes",
        applies: from_3_10,
    },
    DefaultChange {
        name: "smtp_tls_security_level",
        releases: "3.11.0 and later, `smtp_` only (`may` from compatibility_level 3.11 on)",
        value: "${{$compatibility_level} <level {3.11} ? {} : {may}}",
        applies: from_3_11,
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    fn r(text: &str) -> Release {
        Release::parse(text).unwrap()
    }

    #[test]
    fn parses_releases_and_series() {
        assert_eq!(r("3.8.5"), Release::new(3, 8, 5));
        assert_eq!(r("3.7.11"), Release::new(3, 7, 11));
        assert_eq!(r("3.11.6"), Release::new(3, 11, 6));
        assert_eq!(r(" 3.10.0 "), Release::new(3, 10, 0));
        // x.y: the series' newest known patch release.
        assert_eq!(r("3.8"), Release::new(3, 8, 20));
        assert_eq!(r("3.7"), Release::new(3, 7, 22));
        assert_eq!(r("3.11"), Release::new(3, 11, 6));
        // A patch newer than known: accepted, behaves as the newest known.
        assert_eq!(r("3.11.9"), Release::new(3, 11, 9));
        assert!(r("3.11.9").kex_uses_group_name());
        assert_eq!(Release::default().to_string(), "3.8.5");
    }

    #[test]
    fn refuses_what_is_not_a_known_release() {
        for (bad, why) in [
            ("3.6.4", "Postfix releases before 3.7 are not emulated"),
            ("2.11.0", "Postfix releases before 3.7 are not emulated"),
            (
                "3.12.0",
                "Postfix 3.12 is newer than this library knows (the newest is 3.11)",
            ),
            (
                "4.0",
                "Postfix 4.0 is newer than this library knows (the newest is 3.11)",
            ),
        ] {
            let e = Release::parse(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidValue);
            assert_eq!(
                e.message(),
                format!("mtatls_postfix_release = {bad}: {why}")
            );
        }
        for bad in [
            "",
            "3",
            "3.",
            "3.8.",
            "3.8.x",
            "v3.8.5",
            "3.8.5.1",
            "3.08.5",
            "3.8.-1",
            "3.8.5-RC1",
            "3,8,5",
            "3.8.99999999",
            "+3.8.5",
            "3.8 5",
            "$release",
        ] {
            let e = Release::parse(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidValue, "{bad}");
            assert!(
                e.message()
                    .starts_with(&format!("mtatls_postfix_release = {}: ", bad.trim())),
                "{bad}: {e}"
            );
        }
        assert!(Release::parse("3.8.65535").is_ok());
        assert!(Release::parse("3.8.65536").is_err());
    }

    /// Each threshold at the boundary patch releases of every series.
    fn check(name: &str, query: fn(&Release) -> bool, without: &[&str], with: &[&str]) {
        for v in without {
            assert!(!query(&r(v)), "{name}: {v} must not have it");
        }
        for v in with {
            assert!(query(&r(v)), "{name}: {v} must have it");
        }
    }

    #[test]
    fn thresholds_from_3_8_0() {
        for (name, q) in [
            (
                "has_ffdhe_groups",
                Release::has_ffdhe_groups as fn(&Release) -> bool,
            ),
            (
                "legacy_grades_use_medium",
                Release::legacy_grades_use_medium,
            ),
            ("disables_renegotiation", Release::disables_renegotiation),
        ] {
            check(
                name,
                q,
                &["3.7.0", "3.7.11", "3.7.22", "3.7"],
                &["3.8.0", "3.8.5", "3.9.0", "3.10.0", "3.11.0"],
            );
        }
    }

    #[test]
    fn thresholds_from_3_9_0() {
        for (name, q) in [
            (
                "peer_cert_line_v39",
                Release::peer_cert_line_v39 as fn(&Release) -> bool,
            ),
            (
                "untrusted_peer_credential_text",
                Release::untrusted_peer_credential_text,
            ),
            (
                "verify_line_omits_unknown_subject",
                Release::verify_line_omits_unknown_subject,
            ),
            (
                "ignores_legacy_pkey_fingerprints",
                Release::ignores_legacy_pkey_fingerprints,
            ),
            ("has_raw_public_keys", Release::has_raw_public_keys),
            ("knows smtp_tls_enable_rpk", |r: &Release| {
                r.knows_param("smtp_tls_enable_rpk")
            }),
            ("knows lmtp_tls_enable_rpk", |r: &Release| {
                r.knows_param("lmtp_tls_enable_rpk")
            }),
            ("knows smtpd_tls_enable_rpk", |r: &Release| {
                r.knows_param("smtpd_tls_enable_rpk")
            }),
        ] {
            check(
                name,
                q,
                &["3.7.22", "3.8.0", "3.8.20", "3.8"],
                &["3.9.0", "3.9.14", "3.10.0", "3.11.0"],
            );
        }
    }

    #[test]
    fn thresholds_from_3_10_0() {
        for (name, q) in [
            (
                "kex_uses_group_name",
                Release::kex_uses_group_name as fn(&Release) -> bool,
            ),
            ("group_list_by_name", Release::group_list_by_name),
            (
                "accepts_newer_openssl_minor",
                Release::accepts_newer_openssl_minor,
            ),
        ] {
            check(
                name,
                q,
                &["3.7.22", "3.8.20", "3.9.0", "3.9.14", "3.9"],
                &["3.10.0", "3.10.13", "3.11.0", "3.11.6"],
            );
        }
    }

    #[test]
    fn thresholds_from_3_11_0() {
        for (name, q) in [
            (
                "saves_first_ticket_only",
                Release::saves_first_ticket_only as fn(&Release) -> bool,
            ),
            (
                "ticket_mark_needs_decryption",
                Release::ticket_mark_needs_decryption,
            ),
        ] {
            check(
                name,
                q,
                &["3.7.22", "3.8.20", "3.9.14", "3.10.0", "3.10.13", "3.10"],
                &["3.11.0", "3.11.6"],
            );
        }
    }

    #[test]
    fn thresholds_of_the_20250212_fixes() {
        for (name, q) in [
            (
                "resumed_tls13_omits_signatures",
                Release::resumed_tls13_omits_signatures as fn(&Release) -> bool,
            ),
            (
                "empty_strong_ultra_curves_allowed",
                Release::empty_strong_ultra_curves_allowed,
            ),
            (
                "empty_group_lists_are_silent",
                Release::empty_group_lists_are_silent,
            ),
            ("provider_key_names", Release::provider_key_names),
        ] {
            check(
                name,
                q,
                &[
                    "3.7.0", "3.7.11", "3.7.12", "3.8.0", "3.8.5", "3.8.7", "3.9.0", "3.9.1",
                ],
                &[
                    "3.7.13", "3.7.22", "3.8.8", "3.8.20", "3.9.2", "3.9.14", "3.10.0", "3.11.0",
                    "3.8",
                ],
            );
        }
        check(
            "empty_eecdh_curves_allowed",
            Release::empty_eecdh_curves_allowed,
            &["3.7.0", "3.7.11", "3.7.12"],
            &[
                "3.7.13", "3.7.22", "3.8.0", "3.8.5", "3.9.0", "3.10.0", "3.11.0",
            ],
        );
    }

    #[test]
    fn threshold_of_the_hostname_mismatch_fix() {
        check(
            "hostname_mismatch_is_trusted",
            Release::hostname_mismatch_is_trusted,
            &[
                "3.7.22", "3.8.20", "3.9.14", "3.10.0", "3.10.3", "3.7", "3.8", "3.9",
            ],
            &["3.10.4", "3.10.13", "3.11.0", "3.11.6", "3.10", "3.11"],
        );
    }

    #[test]
    fn defaults_per_release() {
        let d = |v: &str, name: &str| r(v).default_of(name);
        assert_eq!(
            d("3.7.11", "tls_medium_cipherlist"),
            Some("aNULL:-aNULL:HIGH:MEDIUM:+RC4:@STRENGTH")
        );
        assert_eq!(d("3.8.0", "tls_medium_cipherlist"), None);
        assert_eq!(d("3.11.6", "tls_medium_cipherlist"), None);
        assert_eq!(d("3.7.22", "tls_ffdhe_auto_groups"), Some(""));
        assert_eq!(d("3.9.14", "tls_eecdh_auto_curves"), None);
        let pq = crate::sys::version::runtime_at_least(3, 5);
        let eecdh_311 = if pq {
            "?X25519MLKEM768:DEFAULT"
        } else {
            "X25519 X448 prime256v1 secp384r1 secp521r1"
        };
        assert_eq!(
            d("3.10.0", "tls_eecdh_auto_curves"),
            Some("X25519 X448 prime256v1 secp384r1 secp521r1")
        );
        assert_eq!(d("3.11.0", "tls_eecdh_auto_curves"), Some(eecdh_311));
        assert_eq!(d("3.11.0", "tls_ffdhe_auto_groups"), pq.then_some(""));
        assert_eq!(d("3.10.13", "smtp_tls_security_level"), None);
        assert!(d("3.11.0", "smtp_tls_security_level")
            .unwrap()
            .contains("<level {3.11}"));
        assert_eq!(d("3.11.0", "lmtp_tls_security_level"), None);
        assert_eq!(d("3.8.5", "smtp_tlsrpt_skip_reused_handshakes"), None);
        assert_eq!(
            d("3.10.13", "smtp_tlsrpt_skip_reused_handshakes"),
            Some("yes")
        );
        assert_eq!(
            d("3.11.6", "smtp_tlsrpt_skip_reused_handshakes"),
            Some("no")
        );
        assert!(!r("3.10.13").tlsrpt_skip_reused_compat_break());
        assert!(r("3.11.0").tlsrpt_skip_reused_compat_break());
        assert_eq!(
            r("3.7.12").requires_value("tls_eecdh_auto_curves"),
            Some(true)
        );
        assert_eq!(
            r("3.7.13").requires_value("tls_eecdh_auto_curves"),
            Some(false)
        );
        assert_eq!(
            r("3.8.7").requires_value("tls_eecdh_strong_curve"),
            Some(true)
        );
        assert_eq!(
            r("3.8.8").requires_value("tls_eecdh_ultra_curve"),
            Some(false)
        );
        assert_eq!(r("3.7.11").requires_value("tls_low_cipherlist"), Some(true));
        assert_eq!(
            r("3.8.5").requires_value("tls_export_cipherlist"),
            Some(false)
        );
        assert_eq!(r("3.8.5").requires_value("smtpd_tls_loglevel"), None);
    }
}
