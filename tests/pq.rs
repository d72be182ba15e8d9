//! Post-quantum hybrid key exchange with the `vendored` feature (OpenSSL
//! 3.5 or later from source), per `mtatls_postfix_release`: Postfix 3.10
//! and later take X25519MLKEM768 in `tls_eecdh_auto_curves` by name (3.11
//! with OpenSSL 3.5 has it in its default, `?X25519MLKEM768:DEFAULT`), and
//! name the key exchange by the group; 3.8 resolves names to NIDs and so
//! ignores it with a warning; with both lists empty (3.8.8: silently
//! OpenSSL's defaults, X25519MLKEM768 first) a 3.8 client, which has no
//! server key to describe, logs no key exchange at all. The
//! forward-secrecy report lists the group.
//! Run: `cargo test --features vendored --test pq` (CI does).
#![cfg(feature = "vendored")]

mod common;

use common::pair::{run, settings};
use common::pki::pki;

/// (server summary, client summary, client warnings) with `groups` and
/// the release on both sides.
fn handshake(
    release: &'static str,
    groups: &[(&'static str, &'static str)],
) -> (String, String, Vec<String>) {
    let mut server = settings(&[
        ("mtatls_postfix_release", release),
        ("smtpd_tls_security_level", "may"),
        ("smtpd_tls_chain_files", &pki().path("rsa.pem")),
    ]);
    server.extend(settings(groups));
    let mut client = settings(&[
        ("mtatls_postfix_release", release),
        ("smtp_tls_security_level", "may"),
    ]);
    client.extend(settings(groups));
    let (s, c) = run(server, client, |_| Ok(()));
    let warnings = c
        .log
        .iter()
        .filter(|l| l.starts_with("warning: "))
        .cloned()
        .collect();
    (
        s.summary.unwrap_or_default(),
        c.summary.unwrap_or_default(),
        warnings,
    )
}

const CIPHER: &str = ": TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)";
const SIG: &str = "server-signature RSA-PSS (2048 bits) server-digest SHA256";

#[test]
fn x25519mlkem768_is_negotiated_and_logged() {
    let version = mtatls::unstable::runtime_version();
    assert!(
        !version.starts_with("OpenSSL 3.0") && !version.starts_with("OpenSSL 3.1"),
        "{version}"
    );
    let named = format!("{CIPHER} key-exchange X25519MLKEM768 {SIG}");
    for (release, groups) in [
        (
            "3.10.0",
            &[
                ("tls_eecdh_auto_curves", "X25519MLKEM768 X25519"),
                ("tls_ffdhe_auto_groups", ""),
            ][..],
        ),
        (
            "3.11.6",
            &[("tls_eecdh_auto_curves", ""), ("tls_ffdhe_auto_groups", "")][..],
        ),
        // 3.11 with OpenSSL 3.5: `?X25519MLKEM768:DEFAULT` by default.
        ("3.11.6", &[][..]),
    ] {
        let (server, client, warnings) = handshake(release, groups);
        for line in [&server, &client] {
            assert!(line.ends_with(&named), "{release} {groups:?}: {line}");
        }
        assert!(warnings.is_empty(), "{release} {groups:?}: {warnings:?}");
    }
    // 3.10's own default list has no hybrid group.
    let (_, client, _) = handshake("3.10.13", &[]);
    assert!(
        client.ends_with(&format!("{CIPHER} key-exchange x25519 {SIG}")),
        "{client}"
    );
}

#[test]
fn older_releases_handle_the_hybrid_group_as_they_do() {
    // 3.8: names are resolved to NIDs; the hybrid group has none.
    let (server, client, warnings) = handshake(
        "3.8.5",
        &[
            ("tls_eecdh_auto_curves", "X25519MLKEM768 X25519"),
            ("tls_ffdhe_auto_groups", ""),
        ],
    );
    assert_eq!(
        warnings,
        vec!["warning: ignoring unknown key exchange group \"X25519MLKEM768\""]
    );
    for line in [&server, &client] {
        assert!(
            line.ends_with(&format!("{CIPHER} key-exchange X25519 {SIG}")),
            "{line}"
        );
    }
    // 3.8.8, both lists empty: OpenSSL's defaults, the hybrid group first.
    // The client has no server key to describe: no key exchange item; the
    // server names the client's key by the provider's type.
    let (server, client, warnings) = handshake(
        "3.8.8",
        &[("tls_eecdh_auto_curves", ""), ("tls_ffdhe_auto_groups", "")],
    );
    assert!(warnings.is_empty(), "{warnings:?}");
    assert!(client.ends_with(&format!("{CIPHER} {SIG}")), "{client}");
    assert!(
        server.ends_with(&format!("{CIPHER} key-exchange X25519MLKEM768 {SIG}")),
        "{server}"
    );
}

#[test]
fn report_lists_the_hybrid_group() {
    let mut p = mtatls::Params::new();
    p.set("mtatls_postfix_release", "3.11.6").unwrap();
    p.set("smtp_tls_security_level", "may").unwrap();
    p.set("tls_eecdh_auto_curves", "X25519MLKEM768 X25519 bogus")
        .unwrap();
    let hooks = mtatls::Hooks::with_logger(mtatls::Logger::with_sink(std::sync::Arc::new(
        |_, _: &str| {},
    )));
    let r = mtatls::FsReport::of(&mtatls::Context::with_hooks(&p, "smtp", &hooks).unwrap());
    assert_eq!(r.groups[0], "X25519MLKEM768");
    assert_eq!(
        r.group_config[0],
        (
            "X25519MLKEM768".to_string(),
            "used as X25519MLKEM768".to_string()
        )
    );
    assert_eq!(r.group_config[2].1, "unknown to this OpenSSL");
    assert!(r
        .to_text()
        .contains("key exchange groups: X25519MLKEM768 X25519"));
}

/// Issue 17, fix 2c: a hybrid KEM is TLS 1.3 only, and an FFDHE group is
/// no EC curve: with only `X25519MLKEM768` and `ffdhe2048` configured, no
/// TLS 1.2 ECDHE suite can be negotiated. The report says so (and names
/// what each group is), and real TLS 1.2 handshakes agree: a client
/// offering only ECDHE suites gets "no shared cipher", one offering DHE
/// gets DHE; TLS 1.3 uses the hybrid group.
#[test]
fn hybrid_kem_and_ffdhe_leave_tls12_without_ecdhe() {
    // Provider-only groups by name, as Postfix 3.10 and later take them
    // (3.8.5, the default, drops a name OpenSSL has no NID for).
    let groups = [
        ("mtatls_postfix_release", "3.11.6"),
        ("tls_eecdh_auto_curves", "X25519MLKEM768"),
        ("tls_ffdhe_auto_groups", "ffdhe2048"),
    ];
    let mut p = mtatls::Params::new();
    p.set("smtpd_tls_security_level", "may").unwrap();
    p.set("smtpd_tls_chain_files", &pki().path("rsa.pem"))
        .unwrap();
    for (n, v) in groups {
        p.set(n, v).unwrap();
    }
    let hooks = mtatls::Hooks::with_logger(mtatls::Logger::with_sink(std::sync::Arc::new(
        |_, _: &str| {},
    )));
    let r = mtatls::FsReport::of(&mtatls::Context::with_hooks(&p, "smtpd", &hooks).unwrap());
    assert_eq!(
        r.group_kinds,
        [
            (
                "X25519MLKEM768".to_string(),
                "hybrid or post-quantum KEM (TLS 1.3 only)".to_string()
            ),
            (
                "ffdhe2048".to_string(),
                "finite-field DH (TLS 1.3 only; TLS 1.2 DHE uses the DH parameters)".to_string()
            ),
        ]
    );
    let suite = |name: &str| {
        r.policies[0]
            .legacy
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("{name} missing"))
            .clone()
    };
    assert_eq!(
        suite("ECDHE-RSA-AES256-GCM-SHA384").unusable,
        "no elliptic-curve group configured"
    );
    assert_eq!(suite("DHE-RSA-AES256-GCM-SHA384").unusable, "");
    assert!(
        r.problems.iter().any(|p| p.starts_with(
            "no elliptic-curve group is configured for TLS 1.2 ECDHE (tls_eecdh_auto_curves has none; X25519MLKEM768 is TLS 1.3 only)"
        )),
        "{:#?}",
        r.problems
    );

    let mut server = settings(&[
        ("smtpd_tls_security_level", "may"),
        ("smtpd_tls_chain_files", &pki().path("rsa.pem")),
    ]);
    server.extend(settings(&groups));
    for (exclude, want) in [
        ("aNULL, kRSA, kDHE", None),
        ("aNULL, kRSA, kECDHE", Some("DHE-RSA-AES256-GCM-SHA384")),
    ] {
        let client = settings(&[
            ("smtp_tls_security_level", "may"),
            ("smtp_tls_protocols", "<=TLSv1.2"),
            ("smtp_tls_exclude_ciphers", exclude),
        ]);
        let (s, c) = run(server.clone(), client, |_| Ok(()));
        match want {
            Some(cipher) => assert!(
                c.summary
                    .as_deref()
                    .is_some_and(|l| l.contains(&format!("TLSv1.2 with cipher {cipher} "))),
                "{exclude}: {:#?}",
                c.log
            ),
            None => assert!(
                c.summary.is_none() && s.log.iter().any(|l| l.contains("no shared cipher")),
                "{exclude}: server {:#?}\nclient {:#?}",
                s.log,
                c.log
            ),
        }
    }
    let mut client = settings(&[("smtp_tls_security_level", "may")]);
    client.extend(settings(&groups));
    let (_, c) = run(server, client, |_| Ok(()));
    assert!(
        c.summary.as_deref().is_some_and(
            |l| l.contains("TLSv1.3 with cipher") && l.contains("key-exchange X25519MLKEM768")
        ),
        "{:?}",
        c.summary
    );
}
