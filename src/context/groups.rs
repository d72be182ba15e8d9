//! Forward secrecy settings: the key-exchange group list from
//! `tls_eecdh_auto_curves` + `tls_ffdhe_auto_groups` with Postfix's
//! warnings and fallbacks, and the DH parameters for TLS 1.2 DHE ciphers
//! (`smtpd_tls_dh1024_param_file`).

use openssl::ssl::{SslContext, SslContextBuilder, SslMethod};

use crate::config::params::split_list;
use crate::config::settings::Groups;
use crate::logging::{drain_openssl_errors, Diag};

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

/// Resolve the names of `list`, keeping those this OpenSSL can use as a
/// key-exchange group (short names, in order, duplicates dropped).
fn usable_groups(list: &str, diag: &mut Diag) -> (Vec<String>, Vec<GroupEntry>) {
    let mut probe = SslContext::builder(SslMethod::tls()).ok();
    let mut names = Vec::new();
    let mut entries = Vec::new();
    for name in split_list(list) {
        let mut entry = |status: String| {
            entries.push(GroupEntry {
                name: name.to_string(),
                status,
            })
        };
        let Some(nid) = crate::sys::x509::group_name_to_nid(name) else {
            // Provider-only groups (e.g. X25519MLKEM768 in OpenSSL 3.5)
            // have no NID: ask OpenSSL whether it knows the name itself.
            let known = probe
                .as_mut()
                .is_some_and(|b| b.set_groups_list(name).is_ok());
            drain_openssl_errors();
            if known && !names.iter().any(|n| n == name) {
                entry(format!("used as {name}"));
                names.push(name.to_string());
            } else if known {
                entry("duplicate".into());
            } else {
                diag.warn(format!("ignoring unknown key exchange group \"{name}\""));
                entry("unknown to this OpenSSL".into());
            }
            continue;
        };
        let Some(short) = crate::sys::x509::nid_short_name(nid) else {
            entry("unsupported as a key exchange group".into());
            continue;
        };
        let usable = probe
            .as_mut()
            .is_some_and(|b| b.set_groups_list(&short).is_ok());
        drain_openssl_errors();
        if !usable {
            entry("unsupported as a key exchange group".into());
        } else if names.contains(&short) {
            entry("duplicate".into());
        } else {
            entry(format!("used as {short}"));
            names.push(short);
        }
    }
    (names, entries)
}

/// Configure the group list on `b` exactly as Postfix 3.8 does, logging its
/// warnings through `diag`. Never fails: the worst case is OpenSSL's defaults.
pub fn configure_groups(
    b: &mut SslContextBuilder,
    groups: &Groups,
    diag: &mut Diag,
) -> (GroupChoice, Vec<GroupEntry>) {
    let mut report = Vec::new();
    let choice = configure_groups_inner(b, groups, diag, &mut report);
    (choice, report)
}

fn configure_groups_inner(
    b: &mut SslContextBuilder,
    groups: &Groups,
    diag: &mut Diag,
    report: &mut Vec<GroupEntry>,
) -> GroupChoice {
    let (eecdh, ffdhe) = (&groups.eecdh, &groups.ffdhe);
    if eecdh.trim().is_empty() && ffdhe.trim().is_empty() {
        return GroupChoice::OpenSslDefault;
    }
    let (default_eecdh, default_ffdhe) = (&groups.default_eecdh, &groups.default_ffdhe);
    let mut attempts = vec![("configured", format!("{eecdh} {ffdhe}"))];
    if eecdh != default_eecdh || ffdhe != default_ffdhe {
        attempts.push((
            "Postfix default",
            format!("{default_eecdh} {default_ffdhe}"),
        ));
    }
    for (i, (origin, list)) in attempts.iter().enumerate() {
        let (names, entries) = usable_groups(list, diag);
        if i == 0 {
            *report = entries.clone();
        }
        if names.is_empty() {
            if entries.is_empty() {
                diag.warn(format!(
                    "no {origin} key exchange group - OpenSSL requires at least one"
                ));
            } else {
                diag.warn(format!(
                    "none of the {origin} key exchange groups are supported"
                ));
            }
        } else {
            let joined = names.join(":");
            if b.set_groups_list(&joined).is_ok() {
                return GroupChoice::List(joined);
            }
            diag.warn(format!("failed to set up the {origin} key exchange groups"));
            diag.openssl_errors();
        }
        if i + 1 < attempts.len() {
            diag.warn("using Postfix default key exchange groups instead".to_string());
        }
    }
    diag.warn("using OpenSSL default key exchange groups instead".to_string());
    GroupChoice::OpenSslDefault
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

    fn run(eecdh: &str, ffdhe: &str) -> (GroupChoice, Vec<String>) {
        let groups = Groups {
            eecdh: eecdh.into(),
            ffdhe: ffdhe.into(),
            default_eecdh: "X25519 X448 prime256v1 secp521r1 secp384r1".into(),
            default_ffdhe: "ffdhe2048 ffdhe3072".into(),
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

    #[test]
    fn default_list() {
        let (c, w) = run(
            "X25519 X448 prime256v1 secp521r1 secp384r1",
            "ffdhe2048 ffdhe3072",
        );
        assert_eq!(
            c,
            GroupChoice::List(
                "X25519:X448:prime256v1:secp521r1:secp384r1:ffdhe2048:ffdhe3072".into()
            )
        );
        assert!(w.is_empty());
    }

    #[test]
    fn nist_and_long_names_resolve() {
        let (c, _) = run("P-256 P-384", "");
        assert_eq!(c, GroupChoice::List("prime256v1:secp384r1".into()));
    }

    #[test]
    fn unknown_names_warn_and_fallbacks_apply() {
        let (c, w) = run("bogus1 X25519", "");
        assert_eq!(c, GroupChoice::List("X25519".into()));
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

    #[test]
    fn empty_lists() {
        assert_eq!(run("", "").0, GroupChoice::OpenSslDefault);
        let (c, w) = run("", "ffdhe2048");
        assert_eq!(c, GroupChoice::List("ffdhe2048".into()));
        assert!(w.is_empty());
    }
}
