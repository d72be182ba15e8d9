//! Post-quantum hybrid key exchange with the `vendored` feature (OpenSSL
//! 3.5 or later from source): X25519MLKEM768 named in
//! `tls_eecdh_auto_curves`, or left to OpenSSL's defaults when both group
//! parameters are empty; the summary names the provider's group, as
//! Postfix 3.10 does, and the forward-secrecy report lists it.
//! Run: `cargo test --features vendored --test pq` (CI does).
#![cfg(feature = "vendored")]

mod common;

use common::pair::{run, settings};
use common::pki::pki;

fn handshake(groups: &[(&'static str, &'static str)]) -> (String, String) {
    let mut server = settings(&[
        ("smtpd_tls_security_level", "may"),
        ("smtpd_tls_chain_files", &pki().path("rsa.pem")),
    ]);
    server.extend(settings(groups));
    let mut client = settings(&[("smtp_tls_security_level", "may")]);
    client.extend(settings(groups));
    let (s, c) = run(server, client, |_| Ok(()));
    (s.summary.unwrap_or_default(), c.summary.unwrap_or_default())
}

#[test]
fn x25519mlkem768_is_negotiated_and_logged() {
    let version = mtatls::unstable::runtime_version();
    assert!(
        !version.starts_with("OpenSSL 3.0") && !version.starts_with("OpenSSL 3.1"),
        "{version}"
    );
    for groups in [
        &[
            ("tls_eecdh_auto_curves", "X25519MLKEM768 X25519"),
            ("tls_ffdhe_auto_groups", ""),
        ][..],
        &[("tls_eecdh_auto_curves", ""), ("tls_ffdhe_auto_groups", "")][..],
    ] {
        let (server, client) = handshake(groups);
        for line in [&server, &client] {
            assert!(
                line.contains(": TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519MLKEM768 server-signature RSA-PSS (2048 bits) server-digest SHA256"),
                "{groups:?}: {line}"
            );
        }
    }
}

#[test]
fn report_lists_the_hybrid_group() {
    let mut p = mtatls::Params::new();
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
    let groups = [
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
