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
