//! Nothing reaches the host as a crash, a hang or a leak: stalled and
//! abusive peers end within the timeout with an error naming the peer and
//! the caller's descriptor open; 10,000 handshakes keep RSS and the fd
//! count flat; every parameter survives hostile values; no downgrade.

mod common;

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::pki::pki;
use mtatls::Logger;
use mtatls::Timeout;
use mtatls::{Context, ErrorKind, Hooks, Params, Session};

fn quiet_params(settings: &[(&str, &str)]) -> Params {
    let mut p = Params::new();
    for (n, v) in settings {
        p.set(n, v).unwrap();
    }
    p
}

/// Lines go nowhere.
fn quiet() -> Hooks {
    Hooks::with_logger(Logger::with_sink(Arc::new(|_, _: &str| {})))
}

fn server() -> Arc<Context> {
    let chain = pki().path("ecdsa.pem");
    let p = quiet_params(&[
        ("smtpd_tls_security_level", "may"),
        ("smtpd_tls_chain_files", chain.as_str()),
    ]);
    Arc::new(Context::with_hooks(&p, "smtpd", &quiet()).unwrap())
}

fn client() -> Arc<Context> {
    Arc::new(
        Context::with_hooks(
            &quiet_params(&[("smtp_tls_security_level", "may")]),
            "smtp",
            &quiet(),
        )
        .unwrap(),
    )
}

fn fd_open(fd: i32) -> bool {
    // SAFETY: F_GETFD on any integer is harmless.
    unsafe { libc::fcntl(fd, libc::F_GETFD) != -1 }
}

/// Run a server handshake against a peer scripted by `peer` (which gets
/// the other end of a socketpair); returns the error and how long it took.
fn server_against(
    peer: impl FnOnce(UnixStream) + Send + 'static,
    timeout: u64,
) -> (mtatls::Error, Duration) {
    let (a, b) = UnixStream::pair().unwrap();
    let t = std::thread::spawn(move || peer(b));
    let mut s = Session::new(server(), a.as_raw_fd(), "abuser.example[192.0.2.66]").unwrap();
    let start = Instant::now();
    let e = s
        .handshake(Some(Timeout::After(Duration::from_secs(timeout))))
        .expect_err("an abusive peer must not complete a handshake");
    let took = start.elapsed();
    drop(s);
    assert!(fd_open(a.as_raw_fd()), "the caller's descriptor was closed");
    drop(a);
    t.join().unwrap();
    (e, took)
}

#[test]
fn silent_peer_times_out_on_time() {
    let (e, took) = server_against(
        |b| {
            std::thread::sleep(Duration::from_millis(2500));
            drop(b);
        },
        2,
    );
    assert_eq!(e.kind(), ErrorKind::Timeout);
    assert_eq!(
        e.message(),
        "SSL_accept error from abuser.example[192.0.2.66]: Connection timed out"
    );
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_millis(2600),
        "{took:?}"
    );
}

#[test]
fn peer_stopping_mid_handshake_times_out() {
    let (e, took) = server_against(
        |mut b| {
            // A real ClientHello from our own client, then silence.
            let (x, mut y) = UnixStream::pair().unwrap();
            let c = client();
            let t = std::thread::spawn(move || {
                let mut s = Session::new(c, x.as_raw_fd(), "x").unwrap();
                let _ = s.handshake(Some(Timeout::After(Duration::from_secs(1))));
            });
            let mut hello = vec![0u8; 4096];
            let n = y.read(&mut hello).unwrap();
            b.write_all(&hello[..n]).unwrap();
            t.join().unwrap();
            std::thread::sleep(Duration::from_millis(2500));
        },
        2,
    );
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(e
        .message()
        .starts_with("SSL_accept error from abuser.example[192.0.2.66]"));
    assert!(took < Duration::from_millis(2600), "{took:?}");
}

#[test]
fn megabyte_of_garbage_is_a_protocol_error() {
    let (e, took) = server_against(
        |mut b| {
            let garbage: Vec<u8> = (0..1_048_576u32).map(|i| (i * 7 + 3) as u8).collect();
            let _ = b.write_all(&garbage);
        },
        10,
    );
    assert_eq!(e.kind(), ErrorKind::Handshake);
    assert!(
        e.message()
            .starts_with("SSL_accept error from abuser.example[192.0.2.66]: -1: error:"),
        "{e}"
    );
    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[test]
fn a_record_header_then_close_is_lost_connection_or_error() {
    let (e, _) = server_against(
        |mut b| {
            // A TLS handshake record header promising 512 bytes, then close.
            b.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01]).unwrap();
        },
        5,
    );
    assert!(
        matches!(e.kind(), ErrorKind::PeerClosed | ErrorKind::Handshake),
        "{:?} {e}",
        e.kind()
    );
    assert!(e.message().contains("abuser.example[192.0.2.66]"));
}

/// A peer that closes in the middle of a record after the handshake.
#[test]
fn close_mid_record_after_handshake() {
    let (a, b) = UnixStream::pair().unwrap();
    let s_ctx = server();
    let t = std::thread::spawn(move || {
        let mut s = Session::new(s_ctx, a.as_raw_fd(), "peer[192.0.2.1]").unwrap();
        s.handshake(None).unwrap();
        // Write one TLS record's header only, through the raw socket.
        let mut raw = a.try_clone().unwrap();
        raw.write_all(&[0x17, 0x03, 0x03, 0x40, 0x00, 0xaa, 0xbb])
            .unwrap();
        drop(s);
        drop(raw);
        drop(a);
    });
    let mut c = Session::new(client(), b.as_raw_fd(), "peer[192.0.2.1]:25").unwrap();
    c.handshake(None).unwrap();
    t.join().unwrap();
    let mut buf = [0u8; 64];
    let start = Instant::now();
    match c.read(&mut buf, Some(Timeout::After(Duration::from_secs(3)))) {
        Ok(0) => assert!(c.truncated()),
        Ok(n) => panic!("read {n} bytes from a truncated record"),
        Err(e) => assert!(e.message().contains("peer[192.0.2.1]:25"), "{e}"),
    }
    assert!(start.elapsed() < Duration::from_secs(3));
    // No retry in the clear: the failed or closed session stays unusable.
    assert!(c.write(b"MAIL FROM:<a@b>\r\n", None).is_err() || c.truncated());
    assert!(fd_open(b.as_raw_fd()));
}

fn rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// 10,000 sequential handshakes in one process: RSS and the number of open
/// descriptors stay flat (after a warm-up that fills caches and pools).
#[test]
fn ten_thousand_handshakes_keep_memory_and_fds_flat() {
    let (s_ctx, c_ctx) = (server(), client());
    let one = |s_ctx: &Arc<Context>, c_ctx: &Arc<Context>| {
        let (a, b) = UnixStream::pair().unwrap();
        let s_ctx = s_ctx.clone();
        let t = std::thread::spawn(move || {
            let mut s = Session::new(s_ctx, a.as_raw_fd(), "c[127.0.0.1]").unwrap();
            s.handshake(None).unwrap();
            s.write(b"ok", None).unwrap();
            let _ = s.stop(None);
        });
        let mut c = Session::new(c_ctx.clone(), b.as_raw_fd(), "s[127.0.0.1]:25").unwrap();
        c.handshake(None).unwrap();
        let mut buf = [0u8; 8];
        let _ = c.read(&mut buf, None);
        let _ = c.stop(None);
        t.join().unwrap();
    };
    for _ in 0..1000 {
        one(&s_ctx, &c_ctx);
    }
    let (rss0, fds0) = (rss_kb(), fd_count());
    for _ in 0..9000 {
        one(&s_ctx, &c_ctx);
    }
    let (rss1, fds1) = (rss_kb(), fd_count());
    eprintln!("RSS {rss0} kB -> {rss1} kB, fds {fds0} -> {fds1}");
    assert!(fds1 <= fds0 + 2, "descriptors leak: {fds0} -> {fds1}");
    assert!(rss1 <= rss0 + 2048, "memory grows: {rss0} kB -> {rss1} kB");
}

/// Every known parameter given hostile values: no panic, and the outcome
/// is either an error or a context (never a crash).
#[test]
fn hostile_values_for_every_parameter() {
    let long = "A".repeat(100_000);
    let values = [
        "",
        long.as_str(),
        "\u{fffd}\u{202e}é",
        "yes",
        "-1",
        "0",
        "99999999999999999999999",
        ">=TLSv1.3 <=TLSv1.2",
        "/nonexistent/file",
        "$undefined_parameter",
        "${a?{b}:{c}",
        "$(",
        "!RC4 +x -y @z",
        "\t \t",
    ];
    let chain = pki().path("rsa.pem");
    for def in mtatls::unstable::PARAMS {
        for v in values {
            for role in ["smtpd", "smtp"] {
                let mut p = quiet_params(&[
                    ("smtpd_tls_security_level", "may"),
                    ("smtpd_tls_chain_files", chain.as_str()),
                    ("smtp_tls_security_level", "may"),
                ]);
                if p.set(def.name, v).is_ok() {
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        Context::with_hooks(&p, role, &quiet())
                    }))
                    .unwrap_or_else(|_| {
                        panic!("{} = {v:?} panicked in Context::new({role})", def.name)
                    });
                }
            }
        }
    }
}

/// Garbage, empty and unreadable files for every file parameter: errors or
/// Postfix's warnings, never a panic, never a context with less than asked.
#[test]
fn bad_files_for_every_file_parameter() {
    let dir = common::scratch_dir("badfiles");
    let garbage = dir.join("garbage.pem");
    std::fs::write(
        &garbage,
        b"-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let empty = dir.join("empty.pem");
    std::fs::write(&empty, b"").unwrap();
    let directory = dir.display().to_string();
    let chain = pki().path("rsa.pem");
    for name in [
        "smtpd_tls_chain_files",
        "smtpd_tls_cert_file",
        "smtpd_tls_eccert_file",
        "smtpd_tls_CAfile",
        "smtpd_tls_CApath",
        "smtpd_tls_dh1024_param_file",
        "smtp_tls_chain_files",
        "smtp_tls_cert_file",
        "smtp_tls_CAfile",
        "smtp_tls_trust_anchor_file",
        "tls_server_sni_maps",
    ] {
        for file in [
            garbage.display().to_string(),
            empty.display().to_string(),
            directory.clone(),
            "/nonexistent".into(),
        ] {
            let role = if name.starts_with("smtp_") {
                "smtp"
            } else {
                "smtpd"
            };
            let mut p = quiet_params(&[
                ("smtpd_tls_security_level", "may"),
                ("smtp_tls_security_level", "may"),
            ]);
            // Legacy cert/key files are only read without chain files.
            match name {
                "smtpd_tls_chain_files" | "smtpd_tls_cert_file" => {}
                "smtpd_tls_eccert_file" => p.set("smtpd_tls_cert_file", &chain).unwrap(),
                _ => p.set("smtpd_tls_chain_files", &chain).unwrap(),
            }
            p.set(name, &file).unwrap();
            let r = Context::with_hooks(&p, role, &quiet());
            // Postfix only warns about DH files; a directory is a CApath; an
            // empty SNI table is just empty.
            let acceptable = name == "smtpd_tls_dh1024_param_file"
                || (name.ends_with("CApath") && file == directory)
                || (name == "tls_server_sni_maps" && file.ends_with("empty.pem"));
            if !acceptable {
                assert!(r.is_err(), "{name} = {file}: accepted");
            }
        }
    }
}

/// No downgrade: the mandatory policies exclude NULL ciphers (and the
/// authenticated ones anonymous ciphers too), and keep the protocol floor.
#[test]
fn mandatory_policies_never_allow_null_anonymous_or_lower_protocols() {
    let p = quiet_params(&[
        ("smtp_tls_security_level", "may"),
        ("smtp_tls_ciphers", "null"),
        ("smtp_tls_mandatory_protocols", ">=TLSv1.2"),
    ]);
    let ctx = Context::with_hooks(&p, "smtp", &quiet()).unwrap();
    let report = mtatls::FsReport::of(&ctx);
    for policy in &report.policies {
        let names: Vec<&str> = policy.legacy.iter().map(|s| s.name.as_str()).collect();
        match policy.levels.as_str() {
            "may" => {}
            "encrypt" => {
                assert!(!policy.cipher_list.is_empty() && policy.cipher_list.ends_with(":!eNULL"));
                assert!(
                    policy.legacy.iter().all(|s| !s.enc.starts_with("None")),
                    "{names:?}"
                );
                assert_eq!(policy.protocols, ["TLSv1.2", "TLSv1.3"]);
            }
            _ => {
                assert!(policy.cipher_list.ends_with(":!aNULL"));
                assert!(policy.legacy.iter().all(|s| s.au != "None"), "{names:?}");
                assert!(
                    policy.legacy.iter().all(|s| !s.enc.starts_with("None")),
                    "{names:?}"
                );
                assert_eq!(policy.protocols, ["TLSv1.2", "TLSv1.3"]);
            }
        }
    }
}

/// Client profiles share an OpenSSL context exactly when OpenSSL ends up
/// configured the same for them: by default `may` and `encrypt` (`!eNULL`
/// removes nothing from the medium grade) share one, and the
/// authenticated levels, without anonymous suites, have their own; other
/// mandatory exclusions or protocols get their own too (only the first
/// context is shared); excluding `aNULL`
/// everywhere leaves one context for all. Each profile's suites (as
/// OpenSSL reports them from its context) stay what its policy says.
#[test]
fn client_profiles_share_an_openssl_context_only_when_configured_the_same() {
    use mtatls::unstable::Policy;
    fn shape(settings: &[(&str, &str)]) -> (Vec<Vec<Policy>>, mtatls::FsReport) {
        let p = quiet_params(settings);
        let ctx = Context::with_hooks(&p, "smtp", &quiet()).unwrap();
        let mut groups: Vec<(&openssl::ssl::SslContextRef, Vec<Policy>)> = Vec::new();
        for prof in ctx.profiles() {
            let ssl: &openssl::ssl::SslContextRef = prof.ssl().unwrap();
            match groups.iter_mut().find(|(c, _)| std::ptr::eq(*c, ssl)) {
                Some((_, policies)) => policies.push(prof.policy),
                None => groups.push((ssl, vec![prof.policy])),
            }
        }
        let shape = groups.into_iter().map(|(_, p)| p).collect();
        (shape, mtatls::FsReport::of(&ctx))
    }
    fn anonymous(report: &mtatls::FsReport, levels: &str) -> bool {
        let policy = report.policies.iter().find(|p| p.levels == levels).unwrap();
        assert!(!policy.legacy.is_empty(), "{levels}: no suites");
        policy.legacy.iter().any(|s| s.au == "None")
    }
    use Policy::{Authenticated as A, Encrypt as E, Opportunistic as O};
    let auth = "fingerprint, dane, dane-only, verify, secure";

    let (groups, report) = shape(&[("smtp_tls_security_level", "may")]);
    assert_eq!(groups, [vec![O, E], vec![A]]);
    assert!(anonymous(&report, "may") && anonymous(&report, "encrypt"));
    assert!(!anonymous(&report, auth));

    // (The medium and high grades leave the same suites in OpenSSL 3,
    // which has no MEDIUM suites by default: they would share.)
    let (groups, report) = shape(&[("smtp_tls_mandatory_exclude_ciphers", "CHACHA20")]);
    assert_eq!(groups, [vec![O], vec![E], vec![A]]);
    let chacha = |levels: &str| {
        let p = report.policies.iter().find(|p| p.levels == levels).unwrap();
        p.legacy.iter().any(|s| s.name.contains("CHACHA20"))
    };
    assert!(chacha("may") && !chacha("encrypt") && !chacha(auth));

    let (groups, report) = shape(&[("smtp_tls_mandatory_protocols", ">=TLSv1.3")]);
    assert_eq!(groups, [vec![O], vec![E], vec![A]]);
    let protocols = |levels: &str| {
        let p = report.policies.iter().find(|p| p.levels == levels).unwrap();
        p.protocols.clone()
    };
    assert_eq!(protocols("encrypt"), ["TLSv1.3"]);
    assert_ne!(protocols("may"), protocols("encrypt"));

    let (groups, report) = shape(&[("smtp_tls_exclude_ciphers", "aNULL")]);
    assert_eq!(groups, [vec![O, E, A]]);
    assert!(!anonymous(&report, "may") && !anonymous(&report, auth));
}
