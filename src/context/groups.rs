//! Forward secrecy settings: the key-exchange group list from
//! `tls_eecdh_auto_curves` + `tls_ffdhe_auto_groups` with Postfix's
//! warnings and fallbacks, and the DH parameters for TLS 1.2 DHE ciphers
//! (`smtpd_tls_dh1024_param_file`).

use openssl::ssl::{Ssl, SslContextBuilder};

use crate::config::params::{split_list, split_list_colon};
use crate::config::release::Release;
use crate::config::settings::Groups;
use crate::logging::{clear_openssl_errors, Diag};

/// What ended up configured as the group list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupChoice {
    /// This colon-separated list, in preference order.
    List(String),
    /// OpenSSL's built-in default list.
    OpenSslDefault,
}

/// What became of one configured group name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEntry {
    /// The name as configured.
    pub name: String,
    /// `used` (as OpenSSL's short name), `unknown`, `unsupported` or `duplicate`.
    pub status: String,
}

/// A throw-away session of the context being built on which each name is
/// tried alone, as Postfix does (the context itself is left alone, and no
/// second OpenSSL context is made).
fn probe(b: &SslContextBuilder) -> Option<Ssl> {
    let probe = crate::sys::ssl::scratch_session(b);
    clear_openssl_errors();
    probe
}

/// Whether `nid` alone is a group this OpenSSL can use.
fn nid_usable(probe: &mut Option<Ssl>, nid: i32) -> bool {
    let ok = probe
        .as_mut()
        .is_some_and(|s| crate::sys::ssl::set1_groups(s, &[nid]));
    clear_openssl_errors();
    ok
}

/// Whether `name` alone is a group list this OpenSSL accepts.
fn name_usable(probe: &mut Option<Ssl>, name: &str) -> bool {
    let ok = probe
        .as_mut()
        .is_some_and(|s| crate::sys::ssl::set1_groups_list(s, name));
    clear_openssl_errors();
    ok
}

/// Names resolved to NIDs as Postfix 3.7 to 3.9 do (NIST name, then short
/// name, then long name; case-sensitive): the usable NIDs in order
/// (duplicates kept: OpenSSL refuses them later), what became of each
/// name, and how many known names were not usable groups. `unknown` is the
/// warning for a name without a NID.
fn resolve_nids(
    b: &SslContextBuilder,
    list: &str,
    unknown: &dyn Fn(&str) -> String,
    diag: &mut Diag,
) -> (Vec<i32>, Vec<GroupEntry>, usize) {
    let mut probe = probe(b);
    let (mut nids, mut entries, mut unsupported) = (Vec::new(), Vec::new(), 0);
    for name in split_list(list) {
        let status = match crate::sys::x509::group_name_to_nid(name) {
            None => {
                diag.warn(unknown(name));
                "unknown to this OpenSSL".to_string()
            }
            Some(nid) if !nid_usable(&mut probe, nid) => {
                unsupported += 1;
                "unsupported as a key exchange group".to_string()
            }
            Some(nid) => {
                let short = crate::sys::x509::nid_short_name(nid).unwrap_or_default();
                let status = if nids.contains(&nid) {
                    "duplicate".to_string()
                } else {
                    format!("used as {short}")
                };
                nids.push(nid);
                status
            }
        };
        entries.push(GroupEntry {
            name: name.to_string(),
            status,
        });
    }
    (nids, entries, unsupported)
}

/// The colon-separated short names of `nids`.
fn nid_names(nids: &[i32]) -> String {
    nids.iter()
        .filter_map(|n| crate::sys::x509::nid_short_name(*n))
        .collect::<Vec<_>>()
        .join(":")
}

/// Postfix 3.10 and later: each name (commas, white space or `:` between
/// them) tried alone by name, kept as written when OpenSSL accepts it and
/// it was not seen before (case-insensitively); the others dropped
/// silently.
fn resolve_names(b: &SslContextBuilder, list: &str) -> (Vec<String>, Vec<GroupEntry>) {
    let mut probe = probe(b);
    let (mut names, mut entries) = (Vec::<String>::new(), Vec::new());
    for name in split_list_colon(list) {
        let status = if !name_usable(&mut probe, name) {
            "unknown to this OpenSSL".to_string()
        } else if names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            "duplicate".to_string()
        } else {
            names.push(name.to_string());
            format!("used as {name}")
        };
        entries.push(GroupEntry {
            name: name.to_string(),
            status,
        });
    }
    (names, entries)
}

/// Configure the group list on `b` exactly as the release in `groups`
/// does, logging its warnings through `diag`. Never fails: the worst case
/// is OpenSSL's defaults.
pub fn configure_groups(
    b: &mut SslContextBuilder,
    groups: &Groups,
    diag: &mut Diag,
) -> (GroupChoice, Vec<GroupEntry>) {
    let mut report = Vec::new();
    let choice = if groups.release.has_ffdhe_groups() {
        auto_groups(b, groups, diag, &mut report)
    } else {
        eecdh_curves_37(b, &groups.eecdh, diag, &mut report)
    };
    (choice, report)
}

/// Postfix 3.7: `tls_eecdh_auto_curves` only, "ECDHE curve" warnings, no
/// fallback to Postfix's defaults.
fn eecdh_curves_37(
    b: &mut SslContextBuilder,
    eecdh: &str,
    diag: &mut Diag,
    report: &mut Vec<GroupEntry>,
) -> GroupChoice {
    let unknown = |name: &str| format!("ignoring unknown ECDHE curve \"{name}\"");
    let (nids, entries, unsupported) = resolve_nids(b, eecdh, &unknown, diag);
    *report = entries;
    if nids.is_empty() {
        if unsupported > 0 {
            diag.warn("none of the configured ECDHE curves are supported".to_string());
        }
        return GroupChoice::OpenSslDefault;
    }
    if !crate::sys::ssl::ctx_set1_groups(b, &nids) {
        diag.warn("failed to configure ECDHE curves".to_string());
        diag.openssl_errors();
        return GroupChoice::OpenSslDefault;
    }
    GroupChoice::List(nid_names(&nids))
}

/// Why one attempt at a group list failed.
enum Failed {
    /// No usable group: Postfix may retry with its defaults.
    NoGroup,
    /// OpenSSL refused the list: OpenSSL's defaults.
    NoRetry,
}

/// One attempt (Postfix's `setup_auto_groups`) with the lists `eecdh` and
/// `ffdhe`; `origin` is "configured" or "Postfix default".
fn setup_auto_groups(
    b: &mut SslContextBuilder,
    origin: &str,
    list: &str,
    release: &Release,
    diag: &mut Diag,
    report: &mut Option<Vec<GroupEntry>>,
) -> Result<GroupChoice, Failed> {
    let empty = if release.group_list_by_name() {
        split_list_colon(list).next().is_none()
    } else {
        split_list(list).next().is_none()
    };
    if empty {
        diag.warn(format!(
            "no {origin} key exchange group - OpenSSL requires at least one"
        ));
        return Err(Failed::NoGroup);
    }
    let (joined, ok) = if release.group_list_by_name() {
        let (names, entries) = resolve_names(b, list);
        report.get_or_insert(entries);
        if names.is_empty() {
            diag.warn(format!(
                "none of the {origin} key exchange groups are supported"
            ));
            return Err(Failed::NoGroup);
        }
        let joined = names.join(":");
        let ok = b.set_groups_list(&joined).is_ok();
        (joined, ok)
    } else {
        let unknown = |name: &str| format!("ignoring unknown key exchange group \"{name}\"");
        let (nids, entries, _) = resolve_nids(b, list, &unknown, diag);
        report.get_or_insert(entries);
        if nids.is_empty() {
            diag.warn(format!(
                "none of the {origin} key exchange groups are supported"
            ));
            return Err(Failed::NoGroup);
        }
        (nid_names(&nids), crate::sys::ssl::ctx_set1_groups(b, &nids))
    };
    if !ok {
        diag.warn(format!("failed to set up the {origin} key exchange groups"));
        diag.openssl_errors();
        return Err(Failed::NoRetry);
    }
    Ok(GroupChoice::List(joined))
}

/// Postfix 3.8 and later (`tls_auto_groups`): both lists as one, the
/// configured ones first, then Postfix's defaults, then OpenSSL's.
fn auto_groups(
    b: &mut SslContextBuilder,
    groups: &Groups,
    diag: &mut Diag,
    report: &mut Vec<GroupEntry>,
) -> GroupChoice {
    let release = &groups.release;
    let (mut eecdh, mut ffdhe) = (groups.eecdh.as_str(), groups.ffdhe.as_str());
    if eecdh.is_empty() && ffdhe.is_empty() && release.empty_group_lists_are_silent() {
        return GroupChoice::OpenSslDefault;
    }
    let mut origin = "configured";
    let mut entries = None;
    loop {
        let list = format!("{eecdh} {ffdhe}");
        let result = setup_auto_groups(b, origin, &list, release, diag, &mut entries);
        if let Some(e) = entries.take() {
            if origin == "configured" {
                *report = e;
            }
        }
        match result {
            Ok(choice) => return choice,
            Err(Failed::NoGroup)
                if eecdh != groups.default_eecdh || ffdhe != groups.default_ffdhe =>
            {
                diag.warn("using Postfix default key exchange groups instead".to_string());
                origin = "Postfix default";
                eecdh = &groups.default_eecdh;
                ffdhe = &groups.default_ffdhe;
            }
            Err(_) => {
                diag.warn("using OpenSSL default key exchange groups instead".to_string());
                return GroupChoice::OpenSslDefault;
            }
        }
    }
}

/// What a key-exchange group can be used for, as the providers describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupKind {
    /// An elliptic curve: TLS 1.2 ECDHE and TLS 1.3.
    EcCurve,
    /// A finite-field DH group: TLS 1.3 only (OpenSSL's TLS 1.2 DHE uses
    /// the DH parameters instead).
    Ffdhe,
    /// A hybrid or post-quantum key encapsulation: TLS 1.3 only.
    Kem,
    /// Another group usable with TLS 1.3 only.
    Tls13Only,
    /// No provider describes it.
    Unknown,
}

impl GroupKind {
    /// How the forward-secrecy report names the kind.
    pub fn describe(&self) -> &'static str {
        match self {
            GroupKind::EcCurve => "elliptic curve (TLS 1.2 ECDHE and TLS 1.3)",
            GroupKind::Ffdhe => {
                "finite-field DH (TLS 1.3 only; TLS 1.2 DHE uses the DH parameters)"
            }
            GroupKind::Kem => "hybrid or post-quantum KEM (TLS 1.3 only)",
            GroupKind::Tls13Only => "TLS 1.3 only",
            GroupKind::Unknown => "not described by this OpenSSL's providers",
        }
    }
}

/// The kind of each of `names` (OpenSSL's short names or TLS names).
pub fn group_kinds(names: &[String]) -> Vec<GroupKind> {
    let table = crate::sys::tlsgroups::tls_groups();
    names
        .iter()
        .map(|n| match table.iter().find(|g| g.named(n)) {
            None => GroupKind::Unknown,
            Some(g) if g.ecdhe_in_tls12() => GroupKind::EcCurve,
            Some(g) if g.ffdhe() => GroupKind::Ffdhe,
            Some(g) if g.is_kem => GroupKind::Kem,
            Some(_) => GroupKind::Tls13Only,
        })
        .collect()
}

/// Where the server's TLS 1.2 DHE parameters come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DhChoice {
    /// OpenSSL picks a group matching the cipher and key strength.
    Auto,
    /// Loaded from this file, with this many bits.
    File(String, u32),
}

/// The size in bits of the DH group OpenSSL's automatic selection
/// (`SSL_CTX_set_dh_auto`) uses for a TLS 1.2 DHE suite: from the suite's
/// strength when it is anonymous (or PSK-authenticated): 3072 bits for
/// 256-bit suites, otherwise 1024; else from the security bits of the
/// server key that signs (RSA-2048: 2048); never below the security level
/// (0 for the contexts mtatls builds, as Postfix's). The groups are
/// RFC 3526's (RFC 2409's for 1024 bits).
pub fn auto_dh_bits(
    anonymous: bool,
    cipher_strength_bits: i32,
    key_security_bits: u32,
    security_level: u32,
) -> u32 {
    let mut secbits = if anonymous {
        if cipher_strength_bits == 256 {
            128
        } else {
            80
        }
    } else {
        key_security_bits
    };
    let level_bits = [0, 80, 112, 128, 192, 256][security_level.min(5) as usize];
    secbits = secbits.max(level_bits);
    match secbits {
        192.. => 8192,
        152.. => 4096,
        128.. => 3072,
        112.. => 2048,
        _ => 1024,
    }
}

fn set_dh_auto(b: &mut SslContextBuilder, diag: &mut Diag) {
    if !crate::sys::ssl::ctx_set_dh_auto(b) {
        diag.warn("error configuring auto DH parameters".to_string());
        diag.openssl_errors();
    }
}

/// Configure DH parameters from `smtpd_tls_dh1024_param_file` (read now,
/// once). Problems are Postfix's warnings, then automatic selection.
pub fn configure_dh(b: &mut SslContextBuilder, dh_file: &str, diag: &mut Diag) -> DhChoice {
    let path = dh_file.to_string();
    if path.is_empty() || path == "auto" {
        set_dh_auto(b, diag);
        return DhChoice::Auto;
    }
    let data = match std::fs::read(&path) {
        Ok(d) => d,
        Err(e) => {
            diag.warn(format!(
                "error opening DH parameter file \"{path}\": {} -- using compiled-in defaults",
                crate::text::os_error_text(&e)
            ));
            set_dh_auto(b, diag);
            return DhChoice::Auto;
        }
    };
    // As Postfix 3.7 with OpenSSL 3: an OSSL_DECODER for PEM DH parameters
    // (its errors are the DECODER's, as Postfix logs them).
    let decoded = crate::sys::ssl::decode_dh_params_pem(&data);
    match decoded {
        Some((pkey, bits)) => {
            if crate::sys::ssl::ctx_set_tmp_dh(b, pkey) {
                DhChoice::File(path, bits)
            } else {
                diag.warn("error configuring explicit DH parameters".to_string());
                diag.openssl_errors();
                set_dh_auto(b, diag);
                DhChoice::Auto
            }
        }
        None => {
            diag.warn(format!(
                "error decoding DH parameters from file \"{path}\" -- using compiled-in defaults"
            ));
            diag.openssl_errors();
            set_dh_auto(b, diag);
            DhChoice::Auto
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logging::Logger;
    use openssl::ssl::{SslContext, SslMethod};

    fn run_as(release: &str, eecdh: &str, ffdhe: &str) -> (GroupChoice, Vec<String>) {
        let release = Release::parse(release).unwrap();
        let mut params = crate::config::params::Params::new();
        params
            .set(crate::config::release::RELEASE_PARAM, &release.to_string())
            .unwrap();
        let groups = Groups {
            eecdh: eecdh.into(),
            ffdhe: ffdhe.into(),
            default_eecdh: params.get("tls_eecdh_auto_curves").unwrap(),
            default_ffdhe: if release.has_ffdhe_groups() {
                params.get("tls_ffdhe_auto_groups").unwrap()
            } else {
                String::new()
            },
            release,
        };
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let l2 = lines.clone();
        let logger = Logger::with_sink(std::sync::Arc::new(move |_, line: &str| {
            l2.lock().unwrap().push(line.to_string())
        }));
        let mut diag = Diag::new(&logger, false);
        let mut b = SslContext::builder(SslMethod::tls()).unwrap();
        let (choice, _) = configure_groups(&mut b, &groups, &mut diag);
        let out = lines.lock().unwrap().clone();
        (choice, out)
    }

    fn run(eecdh: &str, ffdhe: &str) -> (GroupChoice, Vec<String>) {
        run_as("3.8.5", eecdh, ffdhe)
    }

    fn list(l: &str) -> GroupChoice {
        GroupChoice::List(l.into())
    }

    #[test]
    fn default_list() {
        let (c, w) = run(
            "X25519 X448 prime256v1 secp521r1 secp384r1",
            "ffdhe2048 ffdhe3072",
        );
        assert_eq!(
            c,
            list("X25519:X448:prime256v1:secp521r1:secp384r1:ffdhe2048:ffdhe3072")
        );
        assert!(w.is_empty());
    }

    #[test]
    fn nist_and_long_names_resolve() {
        let (c, _) = run("P-256 P-384", "");
        assert_eq!(c, list("prime256v1:secp384r1"));
    }

    #[test]
    fn unknown_names_warn_and_fallbacks_apply() {
        let (c, w) = run("bogus1 X25519", "");
        assert_eq!(c, list("X25519"));
        assert_eq!(w, vec!["ignoring unknown key exchange group \"bogus1\""]);

        let (c, w) = run("bogus1", "");
        assert!(matches!(c, GroupChoice::List(ref l) if l.starts_with("X25519:")));
        assert_eq!(
            w,
            vec![
                "ignoring unknown key exchange group \"bogus1\"",
                "none of the configured key exchange groups are supported",
                "using Postfix default key exchange groups instead",
            ]
        );
        // A known name that is not a usable group is skipped silently.
        let (c, w) = run("sha256", "");
        assert!(matches!(c, GroupChoice::List(_)));
        assert_eq!(
            w[0],
            "none of the configured key exchange groups are supported"
        );
    }

    /// The cases observed with the real releases (3.8.5 and 3.11.6 smtpd,
    /// and 3.7.11's documented behaviour), per release.
    #[test]
    fn warnings_per_release() {
        let mixed = "bogus X25519 secp256r1 P-384 x448";
        let (c, w) = run_as("3.8.5", mixed, "");
        assert_eq!(c, list("X25519:secp384r1"));
        assert_eq!(
            w,
            vec![
                "ignoring unknown key exchange group \"bogus\"",
                "ignoring unknown key exchange group \"secp256r1\"",
                "ignoring unknown key exchange group \"x448\"",
            ]
        );
        let (c, w) = run_as("3.11.6", mixed, "");
        assert_eq!(c, list("X25519:secp256r1:P-384:x448"));
        assert!(w.is_empty(), "{w:?}");
        let (c, w) = run_as("3.7.11", mixed, "");
        assert_eq!(c, list("X25519:secp384r1"));
        assert_eq!(
            w,
            vec![
                "ignoring unknown ECDHE curve \"bogus\"",
                "ignoring unknown ECDHE curve \"secp256r1\"",
                "ignoring unknown ECDHE curve \"x448\"",
            ]
        );

        // Nothing usable.
        let (c, w) = run_as("3.8.5", "bogus1 bogus2", "bogus3");
        assert!(matches!(c, GroupChoice::List(ref l) if l.starts_with("X25519:X448:")));
        assert_eq!(w.len(), 5, "{w:?}");
        assert_eq!(
            w[3],
            "none of the configured key exchange groups are supported"
        );
        assert_eq!(w[4], "using Postfix default key exchange groups instead");
        let (c, w) = run_as("3.11.6", "bogus1 bogus2", "bogus3");
        assert!(matches!(c, GroupChoice::List(ref l) if l.starts_with("X25519:X448:")));
        assert_eq!(
            w,
            vec![
                "none of the configured key exchange groups are supported",
                "using Postfix default key exchange groups instead",
            ]
        );
        let (c, w) = run_as("3.7.11", "bogus1 bogus2", "");
        assert_eq!(c, GroupChoice::OpenSslDefault);
        assert_eq!(
            w,
            vec![
                "ignoring unknown ECDHE curve \"bogus1\"",
                "ignoring unknown ECDHE curve \"bogus2\"",
            ]
        );
        // Known names that are no groups: 3.7 says so.
        let (c, w) = run_as("3.7.11", "sha256", "");
        assert_eq!(c, GroupChoice::OpenSslDefault);
        assert_eq!(w, vec!["none of the configured ECDHE curves are supported"]);

        // Duplicates: OpenSSL refuses the NID list; 3.10+ removes them.
        for v in ["3.8.5", "3.8.8", "3.9.14"] {
            let (c, w) = run_as(v, "X25519 X25519 prime256v1", "");
            assert_eq!(c, GroupChoice::OpenSslDefault, "{v}");
            assert_eq!(
                w,
                vec![
                    "failed to set up the configured key exchange groups",
                    "using OpenSSL default key exchange groups instead",
                ],
                "{v}"
            );
        }
        let (c, w) = run_as("3.7.11", "X25519 X25519 prime256v1", "");
        assert_eq!(c, GroupChoice::OpenSslDefault);
        assert_eq!(w, vec!["failed to configure ECDHE curves"]);
        let (c, w) = run_as("3.11.6", "x25519 X25519 prime256v1", "");
        assert_eq!(c, list("x25519:prime256v1"));
        assert!(w.is_empty(), "{w:?}");
        // 3.10+: `:` separates names too.
        assert_eq!(
            run_as("3.10.0", "X25519:secp256r1", "").0,
            list("X25519:secp256r1")
        );
        let (_, w) = run_as("3.9.0", "X25519:secp256r1", "");
        assert_eq!(
            w[0],
            "ignoring unknown key exchange group \"X25519:secp256r1\""
        );
    }

    #[test]
    fn empty_lists() {
        // Both empty: 3.8.5 warns and uses Postfix's defaults; 3.8.8 and
        // 3.10+ silently OpenSSL's.
        let (c, w) = run_as("3.8.5", "", "");
        assert!(matches!(c, GroupChoice::List(ref l) if l.starts_with("X25519:")));
        assert_eq!(
            w,
            vec![
                "no configured key exchange group - OpenSSL requires at least one",
                "using Postfix default key exchange groups instead",
            ]
        );
        for v in ["3.7.13", "3.8.8", "3.9.2", "3.10.0", "3.11.6"] {
            assert_eq!(
                run_as(v, "", ""),
                (GroupChoice::OpenSslDefault, vec![]),
                "{v}"
            );
        }
        let (c, w) = run("", "ffdhe2048");
        assert_eq!(c, list("ffdhe2048"));
        assert!(w.is_empty());
        // 3.7 has no FFDHE list: whatever was set is not used.
        let (c, w) = run_as("3.7.11", "X25519", "ffdhe2048");
        assert_eq!(c, list("X25519"));
        assert!(w.is_empty());
    }
}
