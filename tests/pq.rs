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
