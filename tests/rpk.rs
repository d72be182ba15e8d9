//! RFC 7250 raw public keys (`smtp_tls_enable_rpk`,
//! `smtpd_tls_enable_rpk`, Postfix 3.9 and later), library to library
//! over a socketpair.
//!
//! With an OpenSSL of 3.2 or later (the `vendored` feature builds 3.6):
//! negotiation in both directions, matching by public-key fingerprint and
//! by DANE-EE(3) SPKI(1) records, and the lines and facts. The expected
//! lines are derived from Postfix 3.11.6's source, not captured from a
//! running Postfix (no Postfix here is built against OpenSSL 3.2+):
//! `tls_client.c` (`raw public key fingerprint=`, then the match line of
//! `tls_dane.c`: `Matched fingerprint:` / `Matched DANE raw public
//! key:`), `tls_server.c` (the same fingerprint line), `tls_misc.c` (the
//! summary's ` (CURVE raw public key)` / ` (N bit raw public key)`) and
//! `smtpd.c` (`(Client RPK DIGEST digest FP)` in Received:).
//!
//! With an older OpenSSL (the system's 3.0): `*_tls_enable_rpk = yes` is
//! a warning naming the parameter (an error under `mtatls_strict`), and
//! certificates are used (Postfix ignores the setting silently).
//!
//! Run: `cargo test --features vendored rpk` (every test's name has
//! `rpk`).

mod common;

use common::pair::{run, settings, Side, CLIENT_LABEL, SERVER_LABEL};
use common::pki::{colon_hex, pki};
use mtatls::unstable::status;

/// TLS 1.3 with a fixed group, so that the lines do not depend on the
/// OpenSSL's default groups.
const GROUPS: [(&str, &str); 2] = [
    ("tls_eecdh_auto_curves", "X25519"),
    ("tls_ffdhe_auto_groups", ""),
];
const TLS13: &str = "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange x25519";

fn with_groups(mut s: Vec<(&'static str, String)>) -> Vec<(&'static str, String)> {
    s.extend(settings(&GROUPS));
    s
}

fn server_settings(extra: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    let chain = pki().path("ecdsa.pem");
    let mut s = settings(&[
        ("mtatls_postfix_release", "3.11.6"),
        ("smtpd_tls_security_level", "may"),
        ("smtpd_tls_chain_files", &chain),
        ("smtpd_tls_loglevel", "1"),
    ]);
    s.extend(settings(extra));
    with_groups(s)
}

fn client_settings(extra: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    let mut s = settings(&[
        ("mtatls_postfix_release", "3.11.6"),
        ("smtp_tls_security_level", "may"),
        ("smtp_tls_loglevel", "routine,certmatch"),
    ]);
    s.extend(settings(extra));
    with_groups(s)
}

fn ok(side: &Side, who: &str) {
    assert!(
        side.setup_error.is_none() && matches!(side.handshake, Some(Ok(()))),
        "{who}: {} (log {:?})",
        side.error_text(),
        side.log
    );
}

/// The SHA-256 public-key fingerprint of `name`'s key, as Postfix logs it.
fn spki(name: &str) -> String {
    pki().spki_sha256(name)
}

fn no_warnings(side: &Side, who: &str) {
    let warnings: Vec<&String> = side
        .log
        .iter()
        .filter(|l| l.starts_with("warning: "))
        .collect();
    assert!(warnings.is_empty(), "{who}: {warnings:?}");
}

/// Whether this build can negotiate raw public keys. The `vendored`
/// build (OpenSSL 3.6) must; a build against an older system OpenSSL
/// (Debian 12's 3.0) skips these tests with a message (its behaviour is
/// `rpk_enable_names_the_parameter_without_openssl_3_2`'s), unless
/// `MTATLS_REQUIRE_RPK` is set.
fn rpk_or_skip(test: &str) -> bool {
    if mtatls::unstable::raw_public_keys_available() {
        return true;
    }
    let why = format!(
        "{test}: this build's OpenSSL ({}) has no raw public keys (3.2 or later: `--features vendored`)",
        mtatls::unstable::runtime_version()
    );
    if cfg!(feature = "vendored") || std::env::var_os("MTATLS_REQUIRE_RPK").is_some() {
        panic!("{why}");
    }
    eprintln!("skipped: {why}");
    false
}

/// Server to client, fingerprint level: a client with
/// `smtp_tls_enable_rpk = yes` gets the server's key alone and matches it
/// by its public-key fingerprint; a certificate fingerprint no longer
/// matches (the trap postconf(5) warns about).
#[test]
fn rpk_server_to_client_fingerprint() {
    if !rpk_or_skip("rpk_server_to_client_fingerprint") {
        return;
    }
    let fp = spki("ecdsa");
    let hex = fp.replace(':', "");
    let (server, client) = run(
        server_settings(&[]),
        client_settings(&[("smtp_tls_enable_rpk", "yes")]),
        {
            let fp = fp.clone();
            move |s| {
                s.set_level("fingerprint")?;
                s.set_match(&fp)
            }
        },
    );
    ok(&server, "server");
    ok(&client, "client");
    no_warnings(&server, "server");
    no_warnings(&client, "client");
    let sig = "server-signature ECDSA (prime256v1 raw public key) server-digest SHA256";
    assert_eq!(
        client.log,
        vec![
            format!("{CLIENT_LABEL}: raw public key fingerprint={fp}"),
            format!("{CLIENT_LABEL}: Matched fingerprint: {hex}"),
            format!("Verified TLS connection established to {CLIENT_LABEL}: {TLS13} {sig}"),
        ]
    );
    assert_eq!(
        server.summary.as_deref(),
        Some(
            format!("Anonymous TLS connection established from {SERVER_LABEL}: {TLS13} {sig}")
                .as_str()
        )
    );
    let facts = client.facts.as_ref().unwrap();
    assert_eq!(
        facts.peer_status,
        status::RPK | status::TRUSTED | status::MATCHED | status::SECURED
    );
    assert!(facts.stoc_rpk && !facts.ctos_rpk);
    assert_eq!(facts.peer_pkey_fprint, fp);
    assert_eq!(
        (facts.peer_cn.as_str(), facts.peer_cert_fprint.as_str()),
        ("", "")
    );
    assert!(server.facts.as_ref().unwrap().stoc_rpk);

    // Loglevel 2: OpenSSL's one verification callback for the key.
    let (_, client) = run(
        server_settings(&[]),
        client_settings(&[("smtp_tls_enable_rpk", "yes"), ("smtp_tls_loglevel", "2")]),
        {
            let fp = fp.clone();
            move |s| {
                s.set_level("fingerprint")?;
                s.set_match(&fp)
            }
        },
    );
    ok(&client, "client at loglevel 2");
    let verify_lines: Vec<&String> = client
        .log
        .iter()
        .filter(|l| l.contains(" verify="))
        .collect();
    assert_eq!(
        verify_lines,
        vec![&format!("{CLIENT_LABEL}: verify=1 raw public key")],
        "{:?}",
        client.log
    );

    // The certificate's fingerprint cannot match a raw public key.
    let cert_fp = pki().cert_sha256("ecdsa");
    let (_, client) = run(
        server_settings(&[]),
        client_settings(&[("smtp_tls_enable_rpk", "yes")]),
        move |s| {
            s.set_level("fingerprint")?;
            s.set_match(&cert_fp)
        },
    );
    let line = format!(
        "server certificate verification failed for {CLIENT_LABEL}: num=65:no matching DANE TLSA records"
    );
    assert!(client.logged(&line), "{:?}", client.log);
    assert_eq!(
        client.error_text(),
        format!("Server certificate not verified: {line}")
    );
    assert_eq!(client.facts.as_ref().unwrap().peer_status, status::RPK);

    // Without smtp_tls_enable_rpk the certificate comes, and its
    // fingerprint matches as before.
    let cert_fp = pki().cert_sha256("ecdsa");
    let (_, client) = run(server_settings(&[]), client_settings(&[]), move |s| {
        s.set_level("fingerprint")?;
        s.set_match(&cert_fp)
    });
    ok(&client, "client without enable_rpk");
    let facts = client.facts.as_ref().unwrap();
    assert_eq!(
        facts.peer_status & (status::PRESENT | status::RPK),
        status::PRESENT
    );
    assert!(!facts.stoc_rpk);
    assert!(
        client
            .summary
            .as_deref()
            .unwrap()
            .ends_with("server-signature ECDSA (prime256v1) server-digest SHA256"),
        "{:?}",
        client.summary
    );
}

/// `may` with `smtp_tls_enable_rpk = yes`: the key alone, untrusted (no
/// records to match), as Postfix's heuristic for opportunistic TLS.
#[test]
fn rpk_server_to_client_may_is_untrusted() {
    if !rpk_or_skip("rpk_server_to_client_may_is_untrusted") {
        return;
    }
    let (_, client) = run(
        server_settings(&[]),
        client_settings(&[
            ("smtp_tls_enable_rpk", "yes"),
            ("smtp_tls_loglevel", "routine,peercert,untrusted"),
        ]),
        |_| Ok(()),
    );
    ok(&client, "client");
    let fp = spki("ecdsa");
    assert_eq!(
        client.log,
        vec![
            format!("{CLIENT_LABEL}: raw public key fingerprint={fp}"),
            format!("server certificate verification failed for {CLIENT_LABEL}: num=95:Raw public key untrusted, no trusted keys configured"),
            format!("Untrusted TLS connection established to {CLIENT_LABEL}: {TLS13} server-signature ECDSA (prime256v1 raw public key) server-digest SHA256"),
        ]
    );
    assert_eq!(client.facts.as_ref().unwrap().peer_status, status::RPK);
}

/// DANE with only DANE-EE(3) SPKI(1) records asks for a raw public key
/// whatever `smtp_tls_enable_rpk` says; any other usable record keeps
/// certificates.
#[test]
fn rpk_dane_ee_spki_records_ask_for_a_raw_key() {
    if !rpk_or_skip("rpk_dane_ee_spki_records_ask_for_a_raw_key") {
        return;
    }
    let digest = pki().spki_digest("ecdsa", openssl::hash::MessageDigest::sha256());
    let hex = colon_hex(&digest).replace(':', "");
    let tlsa = |usage: u8, selector: u8, data: Vec<u8>| mtatls::Tlsa {
        usage,
        selector,
        mtype: 1,
        data,
    };
    let d = digest.clone();
    let (_, client) = run(server_settings(&[]), client_settings(&[]), move |s| {
        s.set_peer_names("mail.example.test", "example.test")?;
        s.set_level("dane")?;
        s.add_tlsa(tlsa(3, 1, d))
    });
    ok(&client, "client");
    no_warnings(&client, "client");
    let fp = spki("ecdsa");
    assert_eq!(
        client.log,
        vec![
            format!("{CLIENT_LABEL}: raw public key fingerprint={fp}"),
            format!("{CLIENT_LABEL}: Matched DANE raw public key: 3 1 1 {hex}"),
            format!("Verified TLS connection established to {CLIENT_LABEL}: {TLS13} server-signature ECDSA (prime256v1 raw public key) server-digest SHA256"),
        ]
    );

    // A DANE-TA(2) record beside it needs the certificate chain.
    let inter = openssl::hash::hash(
        openssl::hash::MessageDigest::sha256(),
        &pki().cert("inter").to_der().unwrap(),
    )
    .unwrap()
    .to_vec();
    let d = digest.clone();
    let (_, client) = run(server_settings(&[]), client_settings(&[]), move |s| {
        s.set_peer_names("mail.example.test", "example.test")?;
        s.set_level("dane")?;
        s.add_tlsa(tlsa(2, 0, inter))?;
        s.add_tlsa(tlsa(3, 1, d))
    });
    ok(&client, "client with a TA record");
    let facts = client.facts.as_ref().unwrap();
    assert_eq!(facts.peer_status & status::RPK, 0, "{:?}", client.log);
    assert!(facts.peer_status & status::PRESENT != 0);
    assert!(!facts.stoc_rpk);

    // Releases before 3.9 know nothing of raw public keys.
    let d = digest.clone();
    let mut old = client_settings(&[("smtp_tls_enable_rpk", "yes")]);
    old.push(("mtatls_postfix_release", "3.8.5".to_string()));
    let (_, client) = run(server_settings(&[]), old, move |s| {
        s.set_peer_names("mail.example.test", "example.test")?;
        s.set_level("dane")?;
        s.add_tlsa(tlsa(3, 1, d))
    });
    ok(&client, "3.8.5 client");
    assert!(
        client.logged("warning: unused parameter: smtp_tls_enable_rpk=yes"),
        "{:?}",
        client.log
    );
    assert_eq!(client.facts.as_ref().unwrap().peer_status & status::RPK, 0);
}

/// Client to server: a server with `smtpd_tls_enable_rpk = yes` that asks
/// for client certificates gets the client's key alone; it logs the
/// key's fingerprint, and the Received: comment names it.
#[test]
fn rpk_client_to_server() {
    if !rpk_or_skip("rpk_client_to_server") {
        return;
    }
    let client_chain = pki().path("client.pem");
    let (server, client) = run(
        server_settings(&[
            ("smtpd_tls_enable_rpk", "yes"),
            ("smtpd_tls_ask_ccert", "yes"),
            ("smtpd_tls_CAfile", &pki().path("ca-bundle.pem")),
            ("smtpd_tls_loglevel", "routine,peercert"),
        ]),
        client_settings(&[("smtp_tls_chain_files", &client_chain)]),
        |_| Ok(()),
    );
    ok(&server, "server");
    ok(&client, "client");
    no_warnings(&server, "server");
    let fp = spki("client");
    let client_sig = "client-signature RSA-PSS (2048 bit raw public key) client-digest SHA256";
    assert_eq!(
        server.log,
        vec![
            format!("{SERVER_LABEL}: raw public key fingerprint={fp}"),
            format!("Untrusted TLS connection established from {SERVER_LABEL}: {TLS13} server-signature ECDSA (prime256v1) server-digest SHA256 {client_sig}"),
        ]
    );
    let facts = server.facts.as_ref().unwrap();
    assert_eq!(facts.peer_status, status::RPK);
    assert!(facts.ctos_rpk && !facts.stoc_rpk);
    assert_eq!(facts.peer_pkey_fprint, fp);
    assert_eq!(
        server.received.as_deref().unwrap(),
        format!(
            "\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)\n\t key-exchange x25519 server-signature ECDSA (prime256v1) server-digest SHA256\n\t {client_sig})\n\t(Client RPK sha256 digest {fp})"
        )
    );
    let cfacts = client.facts.as_ref().unwrap();
    assert!(cfacts.ctos_rpk, "{:?}", client.log);

    // Without smtpd_tls_enable_rpk the client's certificate comes.
    let (server, _) = run(
        server_settings(&[
            ("smtpd_tls_ask_ccert", "yes"),
            ("smtpd_tls_CAfile", &pki().path("ca-bundle.pem")),
        ]),
        client_settings(&[("smtp_tls_chain_files", &client_chain)]),
        |_| Ok(()),
    );
    ok(&server, "server without enable_rpk");
    let facts = server.facts.as_ref().unwrap();
    assert_eq!(
        facts.peer_status & (status::PRESENT | status::RPK),
        status::PRESENT
    );
    assert!(!facts.ctos_rpk);
}

/// Without raw public keys in this build's OpenSSL (older than 3.2, the
/// system's 3.0), `*_tls_enable_rpk = yes` is a warning naming the
/// parameter and certificates are used; `mtatls_strict = yes` makes it
/// an error. With them, no such warning.
#[test]
fn rpk_enable_names_the_parameter_without_openssl_3_2() {
    let available = mtatls::unstable::raw_public_keys_available();
    let version = mtatls::unstable::runtime_version();
    // The vendored build (3.6) has them, the system's 3.0 has not.
    let minor: u32 = version
        .strip_prefix("OpenSSL 3.")
        .and_then(|v| v.split('.').next())
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    assert_eq!(available, minor >= 2, "{version}");
    for (role, param) in [
        ("smtpd", "smtpd_tls_enable_rpk"),
        ("smtp", "smtp_tls_enable_rpk"),
    ] {
        for strict in ["no", "yes"] {
            let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
            let sink = log.clone();
            let hooks = mtatls::Hooks::with_logger(mtatls::Logger::with_sink(std::sync::Arc::new(
                move |_, line: &str| sink.lock().unwrap().push(line.to_string()),
            )));
            let mut p = mtatls::Params::new();
            for (n, v) in [
                ("mtatls_postfix_release", "3.11.6"),
                ("mtatls_strict", strict),
                ("smtpd_tls_security_level", "may"),
                ("smtpd_tls_chain_files", &pki().path("ecdsa.pem")),
                ("smtp_tls_security_level", "may"),
                (param, "yes"),
            ] {
                p.set(n, v).unwrap();
            }
            let result = mtatls::Context::with_hooks(&p, role, &hooks);
            let lines = log.lock().unwrap().clone();
            let text = format!(
                "{param} = yes: raw public keys (RFC 7250) need OpenSSL 3.2 or later, and this library is built with OpenSSL 3.{minor}."
            );
            if available {
                assert!(result.is_ok(), "{role} strict={strict}: {result:?}");
                assert!(
                    !lines.iter().any(|l| l.contains("raw public keys")),
                    "{lines:?}"
                );
            } else if strict == "yes" {
                let e = result.unwrap_err();
                assert!(e.message().contains(&text), "{role}: {e}");
            } else {
                assert!(result.is_ok(), "{role}: {result:?}");
                assert!(
                    lines.iter().any(|l| l.starts_with(&text)
                        && l.ends_with("; the setting is ignored and certificates are used")),
                    "{role}: {lines:?}"
                );
            }
        }
    }
}

/// The posttls-finger of a Postfix built against OpenSSL 3.2 or later
/// (`scripts/build-posttls-finger-rpk.sh`, directory in
/// `MTATLS_RPK_POSTTLS_FINGER`). None: skipped with a message, or a
/// failure when `MTATLS_REQUIRE_RPK_PEER` is set.
fn rpk_posttls_finger(test: &str) -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("MTATLS_RPK_POSTTLS_FINGER").map(std::path::PathBuf::from);
    let why = match &dir {
        Some(d) if d.join("posttls-finger").is_file() => return dir,
        Some(d) => format!("{test}: no posttls-finger in {}", d.display()),
        None => format!(
            "{test}: MTATLS_RPK_POSTTLS_FINGER is not set (a posttls-finger built against OpenSSL 3.2+ by scripts/build-posttls-finger-rpk.sh)"
        ),
    };
    if std::env::var_os("MTATLS_REQUIRE_RPK_PEER").is_some() {
        panic!("{why}");
    }
    eprintln!("skipped (real peers): {why}");
    None
}

/// One STARTTLS session of an mtatls server with `settings` on a
/// loopback TCP port, answering posttls-finger's EHLO and QUIT; returns
/// the port and the server's log lines once the session is over.
fn tcp_server(
    settings: Vec<(&'static str, String)>,
) -> (u16, std::thread::JoinHandle<Vec<String>>) {
    use std::io::{BufRead, BufReader, Write};
    use std::os::fd::AsRawFd;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        let hooks = mtatls::Hooks::with_logger(mtatls::Logger::with_sink(Arc::new(
            move |sev, line: &str| {
                let p = if sev == mtatls::Severity::Warning {
                    "warning: "
                } else {
                    ""
                };
                sink.lock().unwrap().push(format!("{p}{line}"));
            },
        )));
        let mut p = mtatls::Params::new();
        for (n, v) in &settings {
            p.set(n, v).unwrap();
        }
        let ctx = Arc::new(mtatls::Context::with_hooks(&p, "smtpd", &hooks).expect("context"));
        // Bounded: the peer connects at once or the test has failed.
        listener.set_nonblocking(true).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let mut sock = loop {
            match listener.accept() {
                Ok((s, _)) => break s,
                Err(_) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Err(e) => panic!("no connection: {e}"),
            }
        };
        sock.set_nonblocking(false).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let lines = || log.lock().unwrap().clone();
        sock.write_all(b"220 mail.example.test ESMTP\r\n").unwrap();
        let mut reader = BufReader::new(sock.try_clone().unwrap());
        for _ in 0..5 {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return lines();
            }
            let verb = line.to_ascii_uppercase();
            if verb.starts_with("EHLO") {
                sock.write_all(b"250-mail.example.test\r\n250 STARTTLS\r\n")
                    .unwrap();
            } else if verb.starts_with("STARTTLS") {
                sock.write_all(b"220 2.0.0 Ready to start TLS\r\n").unwrap();
                break;
            } else {
                sock.write_all(b"221 2.0.0 Bye\r\n").unwrap();
                return lines();
            }
        }
        let t = Some(mtatls::Timeout::After(Duration::from_secs(10)));
        let mut s = mtatls::Session::new(ctx, sock.as_raw_fd(), SERVER_LABEL).unwrap();
        if s.handshake(t).is_ok() {
            let mut buf = [0u8; 512];
            for _ in 0..5 {
                match s.read(&mut buf, t) {
                    Ok(n) if n > 0 => {
                        let ehlo = buf[..n].to_ascii_uppercase().starts_with(b"EHLO");
                        let reply: &[u8] = if ehlo {
                            b"250 mail.example.test\r\n"
                        } else {
                            b"221 2.0.0 Bye\r\n"
                        };
                        let _ = s.write(reply, t);
                        if !ehlo {
                            break;
                        }
                    }
                    _ => break,
                }
            }
            let _ = s.stop(t);
        }
        lines()
    });
    (port, handle)
}

/// Run posttls-finger `options` against an mtatls server with `server`
/// settings, `matches` after the destination; its lines (prefix dropped,
/// its peer label replaced by the pair harness's) and the server's.
fn finger_rpk(
    dir: &std::path::Path,
    server: Vec<(&'static str, String)>,
    options: &[&str],
    matches: &[&str],
) -> (Vec<String>, Vec<String>) {
    let (port, handle) = tcp_server(server);
    let mut cmd = std::process::Command::new("timeout");
    cmd.arg("60")
        .arg(dir.join("posttls-finger"))
        .args([
            "-c",
            "-o",
            "tls_eecdh_auto_curves=X25519",
            "-o",
            "tls_ffdhe_auto_groups=",
        ])
        .args(options)
        .arg(format!("[127.0.0.1]:{port}"))
        .args(matches)
        .env("MAIL_CONFIG", dir.join("etc"))
        .stdin(std::process::Stdio::null());
    let out = cmd.output().expect("posttls-finger");
    let label = format!("127.0.0.1[127.0.0.1]:{port}");
    let lines = String::from_utf8_lossy(&out.stderr)
        .lines()
        .chain(String::from_utf8_lossy(&out.stdout).lines())
        .filter_map(|l| l.strip_prefix("posttls-finger: "))
        .map(|l| l.replace(&label, CLIENT_LABEL))
        .collect();
    (lines, handle.join().expect("server thread"))
}

/// Against real Postfix 3.11.6 (posttls-finger built with OpenSSL 3.6):
/// as client, posttls-finger `-x` (its `smtp_tls_enable_rpk`) and the
/// mtatls client write the same lines for the same server key (fingerprint
/// match, `may` untrusted, a certificate fingerprint that cannot match);
/// as server, mtatls with `smtpd_tls_enable_rpk` takes posttls-finger's
/// key (`-H`), and both summaries describe the signatures alike.
#[test]
fn rpk_like_real_posttls_finger() {
    if !rpk_or_skip("rpk_like_real_posttls_finger") {
        return;
    }
    let Some(dir) = rpk_posttls_finger("rpk_like_real_posttls_finger") else {
        return;
    };
    let fp = spki("ecdsa");
    let cert_fp = pki().cert_sha256("ecdsa");
    for (loglevel, level, matches, compare) in [
        ("routine,certmatch", "fingerprint", Some(fp.clone()), 3),
        ("routine,peercert,untrusted", "may", None, 3),
        // posttls-finger goes on (Untrusted); the smtp client stops.
        ("routine,certmatch", "fingerprint", Some(cert_fp.clone()), 2),
    ] {
        let options = ["-x", "-L", loglevel, "-l", level];
        let m: Vec<&str> = matches.iter().map(String::as_str).collect();
        let (theirs, _) = finger_rpk(&dir, server_settings(&[]), &options, &m);
        let (_, ours) = run(
            server_settings(&[]),
            client_settings(&[
                ("smtp_tls_enable_rpk", "yes"),
                ("smtp_tls_loglevel", loglevel),
            ]),
            move |s| {
                s.set_level(level)?;
                match &matches {
                    Some(list) => s.set_match(list),
                    None => Ok(()),
                }
            },
        );
        let ours: Vec<String> = ours.log.iter().take(compare).cloned().collect();
        let theirs: Vec<String> = theirs.into_iter().take(compare).collect();
        assert_eq!(ours, theirs, "{loglevel} at {level}");
        assert_eq!(ours.len(), compare, "{ours:?}");
    }

    // mtatls as the server of a posttls-finger that sends its key.
    let (theirs, ours) = finger_rpk(
        &dir,
        server_settings(&[
            ("smtpd_tls_enable_rpk", "yes"),
            ("smtpd_tls_ask_ccert", "yes"),
            ("smtpd_tls_CAfile", &pki().path("ca-bundle.pem")),
            ("smtpd_tls_loglevel", "routine,peercert"),
        ]),
        &[
            "-L",
            "routine",
            "-l",
            "may",
            "-H",
            &pki().path("client.pem"),
        ],
        &[],
    );
    let tail = |line: &str| line.split_once(": ").map(|(_, t)| t.to_string());
    let their_summary = theirs
        .iter()
        .find(|l| l.contains(" TLS connection established "));
    let our_summary = ours
        .iter()
        .find(|l| l.contains(" TLS connection established "));
    assert_eq!(
        our_summary.and_then(|l| tail(l)),
        their_summary.and_then(|l| tail(l)),
        "ours {ours:?}, theirs {theirs:?}"
    );
    assert!(
        our_summary
            .unwrap()
            .ends_with("client-signature RSA-PSS (2048 bit raw public key) client-digest SHA256"),
        "{our_summary:?}"
    );
    assert_eq!(
        ours[0],
        format!(
            "{SERVER_LABEL}: raw public key fingerprint={}",
            spki("client")
        )
    );
}
