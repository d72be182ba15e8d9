//! What the real Postfix release under test writes where releases
//! differ: the forms the interop tests expect, per release. Written from
//! the releases' own behaviour (tests/captures/<release>/ and
//! docs/releases.md), independently of the library's `Release`, so that a
//! mistake there is not repeated here. Postfix backports fixes to every
//! stable series at once under different patch numbers: each behaviour is
//! a threshold per series, not one version number.

#![allow(dead_code)]

use super::postfix::Release;

/// The series known, oldest first.
const SERIES: [(u32, u32); 5] = [(3, 7), (3, 8), (3, 9), (3, 10), (3, 11)];

/// First patch of each series (3.7 ... 3.11) with a behaviour; `None`:
/// none of that series has it.
type Since = [Option<u32>; 5];

const FROM_3_8: Since = [None, Some(0), Some(0), Some(0), Some(0)];
const FROM_3_9: Since = [None, None, Some(0), Some(0), Some(0)];
const FROM_3_10: Since = [None, None, None, Some(0), Some(0)];
const FROM_3_11: Since = [None, None, None, None, Some(0)];
/// HISTORY 20250212 (resumed signatures, empty curve lists).
const FIX_20250212: Since = [Some(13), Some(8), Some(2), Some(0), Some(0)];
/// HISTORY 20250728/20250730 (Trusted despite a name mismatch).
const FIX_20250730: Since = [None, None, None, Some(4), Some(0)];

/// The release under test's forms.
#[derive(Debug, Clone)]
pub struct Forms {
    series: (u32, u32),
    patch: u32,
}

impl Forms {
    pub fn of(release: &Release) -> Forms {
        let (ma, mi, pa) = release.numbers();
        Forms {
            series: (ma, mi),
            patch: pa,
        }
    }

    fn since(&self, first: Since) -> bool {
        match SERIES.iter().position(|s| *s == self.series) {
            Some(i) => first[i].is_some_and(|p| self.patch >= p),
            None => panic!("Postfix {:?} is not a series the tests know", self.series),
        }
    }

    /// `key-exchange` names the negotiated group (3.10+).
    pub fn names_groups(&self) -> bool {
        self.since(FROM_3_10)
    }

    /// The key-exchange item's text for a TLS group (`x25519`,
    /// `secp256r1`, `secp384r1`, `x448`, `ffdhe2048`, `ffdhe3072`).
    pub fn kex(&self, group: &str) -> String {
        if self.names_groups() {
            return group.to_string();
        }
        match group {
            "x25519" => "X25519".into(),
            "x448" => "X448".into(),
            "secp256r1" => "ECDHE (prime256v1)".into(),
            "secp384r1" => "ECDHE (secp384r1)".into(),
            "secp521r1" => "ECDHE (secp521r1)".into(),
            "ffdhe2048" => "DHE (2048 bits)".into(),
            "ffdhe3072" => "DHE (3072 bits)".into(),
            other => panic!("no old form known for group {other}"),
        }
    }

    /// "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)
    /// key-exchange X25519" (x25519 from 3.10 on).
    pub fn t13(&self) -> String {
        format!(
            "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange {}",
            self.kex("x25519")
        )
    }

    /// What follows the key exchange of a resumed TLS 1.3 session:
    /// nothing from 3.7.13, 3.8.8, 3.9.2, 3.10.0 on; before, `sigs` (the
    /// signature items without digests).
    pub fn resumed_sigs(&self, sigs: &str) -> String {
        if self.since(FIX_20250212) || sigs.is_empty() {
            String::new()
        } else {
            format!(" {sigs}")
        }
    }

    /// The word for a PKI-valid server certificate whose name did not
    /// match: `Trusted` from 3.10.4 and 3.11.0 on, `Untrusted` before.
    pub fn mismatch_status(&self) -> &'static str {
        if self.since(FIX_20250730) {
            "Trusted"
        } else {
            "Untrusted"
        }
    }

    /// An empty `tls_eecdh_auto_curves` is accepted (3.7.13+, 3.8+).
    pub fn empty_eecdh_allowed(&self) -> bool {
        self.since([Some(13), Some(0), Some(0), Some(0), Some(0)])
    }

    /// `tls_ffdhe_auto_groups` exists (3.8+): FFDHE in TLS 1.3.
    pub fn ffdhe_groups(&self) -> bool {
        self.since(FROM_3_8)
    }

    /// Both group lists empty are silent (3.7.13, 3.8.8, 3.9.2, 3.10.0).
    pub fn empty_groups_silent(&self) -> bool {
        self.since(FIX_20250212)
    }

    /// Group lists by name (3.10+): unknown names dropped silently.
    pub fn groups_by_name(&self) -> bool {
        self.since(FROM_3_10)
    }

    /// The peer certificate line of 3.9+ (`issuer=`, `cert fingerprint=`).
    pub fn peer_line_v39(&self) -> bool {
        self.since(FROM_3_9)
    }

    /// "re-using session with untrusted peer credential" (3.9+) or
    /// "... untrusted certificate".
    pub fn reusing_untrusted(&self) -> &'static str {
        if self.since(FROM_3_9) {
            "re-using session with untrusted peer credential, look for details earlier in the log"
        } else {
            "re-using session with untrusted certificate, look for details earlier in the log"
        }
    }

    /// A client saves only the first ticket of a connection (3.11+).
    pub fn saves_first_ticket_only(&self) -> bool {
        self.since(FROM_3_11)
    }

    /// The warning for an unknown group name (none from 3.10 on).
    pub fn unknown_group_warning(&self, name: &str) -> Option<String> {
        if self.groups_by_name() {
            None
        } else if self.ffdhe_groups() {
            Some(format!(
                "warning: ignoring unknown key exchange group \"{name}\""
            ))
        } else {
            Some(format!("warning: ignoring unknown ECDHE curve \"{name}\""))
        }
    }
}
