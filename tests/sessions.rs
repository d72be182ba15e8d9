//! Sessions beyond the first handshake: server tickets (TLS 1.3 and 1.2)
//! with in-process or host-installed keys, the client session cache keyed
//! by server id (memory or the host's store), resumption turned off, the
//! resumed-session log lines, and truncation as a fact.

mod common;

use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::pki::pki;
use mtatls::ErrorKind;
use mtatls::Facts;
use mtatls::Timeout;
use mtatls::{Context, Params, Session};
use mtatls::{Hooks, SessionStore, TicketKey};
use mtatls::{Logger, Severity};

type Log = Arc<Mutex<Vec<String>>>;

fn context(
    role: &str,
    settings: &[(&str, &str)],
    log: &Log,
    store: Option<Arc<dyn SessionStore>>,
) -> Arc<Context> {
    let mut p = Params::new();
    let l = log.clone();
    let hooks = Hooks::with_logger(Logger::with_sink(Arc::new(move |sev, line: &str| {
        let prefix = if sev == Severity::Warning {
            "warning: "
        } else {
            ""
        };
        l.lock().unwrap().push(format!("{prefix}{line}"));
    })))
    .session_store(store);
    for (n, v) in settings {
        p.set(n, v).unwrap();
    }
    Arc::new(Context::with_hooks(&p, role, &hooks).unwrap())
}

fn server_ctx(extra: &[(&str, &str)], log: &Log) -> Arc<Context> {
    let chain = pki().path("rsa.pem");
    let mut s = vec![
        ("smtpd_tls_security_level", "may"),
        ("smtpd_tls_loglevel", "2"),
        ("smtpd_tls_chain_files", chain.as_str()),
    ];
    s.extend_from_slice(extra);
    context("smtpd", &s, log, None)
}

fn client_ctx(
    extra: &[(&str, &str)],
    log: &Log,
    store: Option<Arc<dyn SessionStore>>,
) -> Arc<Context> {
    let mut s = vec![
        ("smtp_tls_security_level", "may"),
        ("smtp_tls_loglevel", "cache,summary"),
    ];
    s.extend_from_slice(extra);
    context("smtp", &s, log, store)
}

/// One connection: handshake on both sides, one line from the server read
/// by the client (so TLS 1.3 tickets arrive), orderly stop.
fn connect(server: &Arc<Context>, client: &Arc<Context>) -> (Facts, Facts, String) {
    let (s, c, summary, _) = connect_tlsrpt(server, client);
    (s, c, summary)
}

/// `connect`, with the client's TLSRPT facts.
fn connect_tlsrpt(
    server: &Arc<Context>,
    client: &Arc<Context>,
) -> (Facts, Facts, String, Option<mtatls::TlsrptReport>) {
    let (a, b) = UnixStream::pair().unwrap();
    let sctx = server.clone();
    let srv = std::thread::spawn(move || {
        let mut s = Session::new(sctx, a.as_raw_fd(), "localhost[127.0.0.1]").unwrap();
        s.handshake(Some(Timeout::After(Duration::from_secs(10))))
            .unwrap();
        s.write(b"250 ok\r\n", None).unwrap();
        let mut buf = [0u8; 16];
        let _ = s.read(&mut buf, Some(Timeout::After(Duration::from_secs(10))));
        let f = s.facts().unwrap().clone();
        s.stop(None).unwrap();
        drop(s);
        drop(a);
        f
    });
    let mut c = Session::new(
        client.clone(),
        b.as_raw_fd(),
        "mail.example.test[127.0.0.1]:25",
    )
    .unwrap();
    c.set_serverid("[mail.example.test]:25").unwrap();
    c.handshake(Some(Timeout::After(Duration::from_secs(10))))
        .unwrap();
    let mut buf = [0u8; 16];
    let n = c
        .read(&mut buf, Some(Timeout::After(Duration::from_secs(10))))
        .unwrap();
    assert_eq!(&buf[..n], b"250 ok\r\n");
    let summary = c.summary().unwrap();
    let cf = c.facts().unwrap().clone();
    let report = c.tlsrpt().cloned();
    c.stop(None).unwrap();
    drop(c);
    drop(b);
    (srv.join().unwrap(), cf, summary, report)
}

/// TLSRPT of resumed sessions, per release default of
/// `smtp_tlsrpt_skip_reused_handshakes`: 3.10 skips them; 3.11 reports
/// them from compatibility_level 3.11 on (below it, skips them as 3.10);
/// set explicitly, as set. New sessions are always reported.
#[test]
fn tlsrpt_resumed_sessions_per_release() {
    for (release, extra, reported) in [
        ("3.10.13", None, false),
        ("3.11.6", Some(("compatibility_level", "3.11")), true),
        ("3.11.6", Some(("compatibility_level", "3.6")), false),
        (
            "3.11.6",
            Some(("smtp_tlsrpt_skip_reused_handshakes", "yes")),
            false,
        ),
        (
            "3.10.13",
            Some(("smtp_tlsrpt_skip_reused_handshakes", "no")),
            true,
        ),
    ] {
        let (slog, clog) = (Log::default(), Log::default());
        let server = server_ctx(&[("mtatls_postfix_release", release)], &slog);
        let mut settings = vec![("mtatls_postfix_release", release)];
        settings.extend(extra);
        let client = client_ctx(&settings, &clog, None);
        let (_, first, _, report) = connect_tlsrpt(&server, &client);
        assert!(!first.reused);
        let report = report.expect("a new session's TLSRPT facts");
        assert_eq!(report.result, mtatls::TlsrptResult::Success);
        assert_eq!(report.receiving_mx_host, "mail.example.test");
        assert_eq!(report.receiving_ip, "127.0.0.1");
        let (_, second, _, report) = connect_tlsrpt(&server, &client);
        assert!(second.reused, "{release} {extra:?}: not resumed");
        assert_eq!(
            report.is_some(),
            reported,
            "{release} {extra:?}: {report:?}"
        );
    }
}

#[test]
fn tls13_tickets_resume_and_log_as_postfix() {
    // The resumed session's summary, as each release writes it: before
    // 3.8.8 with the session certificate's key and no digest; then the
    // key exchange only; from 3.10 on named by the group.
    for (release, tail) in [
        (
            "3.8.5",
            "key-exchange X25519 server-signature RSA-PSS (2048 bits)",
        ),
        (
            "3.7.12",
            "key-exchange X25519 server-signature RSA-PSS (2048 bits)",
        ),
        ("3.8.8", "key-exchange X25519"),
        ("3.7.13", "key-exchange X25519"),
        ("3.11.6", "key-exchange x25519"),
    ] {
        tls13_tickets_resume(release, tail);
    }
}

fn tls13_tickets_resume(release: &str, tail: &str) {
    let (slog, clog) = (Log::default(), Log::default());
    let server = server_ctx(&[("mtatls_postfix_release", release)], &slog);
    let client = client_ctx(&[("mtatls_postfix_release", release)], &clog, None);
    let (s1, c1, _) = connect(&server, &client);
    assert!(!s1.reused && !c1.reused);
    let (s2, c2, summary) = connect(&server, &client);
    assert!(
        s2.reused && c2.reused,
        "second connection not resumed: {:#?}",
        clog.lock().unwrap()
    );
    assert_eq!(
        summary,
        format!("Untrusted TLS connection established to mail.example.test[127.0.0.1]:25: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) {tail}"),
        "{release}"
    );
    let slog = slog.lock().unwrap().clone();
    let server_summary = format!(
        "Anonymous TLS connection established from localhost[127.0.0.1]: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) {tail}"
    );
    assert!(slog.contains(&server_summary), "{release}: {slog:#?}");
    let issuing = slog
        .iter()
        .filter(|l| l.starts_with("localhost[127.0.0.1]: Issuing session ticket, key expiration: "))
        .count();
    // One ticket per full handshake, as Postfix issues.
    assert!(issuing >= 1, "{slog:#?}");
    assert!(slog.iter().any(
        |l| l.starts_with("localhost[127.0.0.1]: Decrypting session ticket, key expiration: ")
    ));
    assert!(slog.contains(
        &"localhost[127.0.0.1]: Reusing old session (RFC 5077 session ticket)".to_string()
    ));
    let clog = clog.lock().unwrap().clone();
    let key_lines: Vec<&String> = clog
        .iter()
        .filter(|l| l.contains("[mail.example.test]:25&"))
        .collect();
    assert!(key_lines.iter().any(
        |l| l.starts_with("looking for session [mail.example.test]:25&")
            && l.ends_with(" in smtp cache")
    ));
    assert!(key_lines
        .iter()
        .any(|l| l.starts_with("save session [mail.example.test]:25&")
            && l.ends_with(" to smtp cache")));
    assert!(key_lines.iter().any(
        |l| l.starts_with("reloaded session [mail.example.test]:25&")
            && l.ends_with(" from smtp cache")
    ));
    assert!(clog.contains(&"mail.example.test[127.0.0.1]:25: Reusing old session".to_string()));
}

#[test]
fn tls12_tickets_resume() {
    let (slog, clog) = (Log::default(), Log::default());
    let server = server_ctx(&[("smtpd_tls_protocols", "<=TLSv1.2")], &slog);
    let client = client_ctx(&[("smtp_tls_exclude_ciphers", "aNULL")], &clog, None);
    let (_, c1, _) = connect(&server, &client);
    assert_eq!(c1.kex_name, "X25519", "{c1:?}");
    let (s2, c2, summary) = connect(&server, &client);
    assert!(s2.reused && c2.reused);
    // A resumed TLS 1.2 session makes no key exchange: none is reported
    // (OpenSSL still names the group the hello messages agreed on).
    assert_eq!((s2.kex_name.as_str(), c2.kex_name.as_str()), ("", ""));
    assert!(
        summary.ends_with("TLSv1.2 with cipher ECDHE-RSA-AES256-GCM-SHA384 (256/256 bits)"),
        "{summary}"
    );
    assert!(slog.lock().unwrap().contains(
        &"localhost[127.0.0.1]: Reusing old session (RFC 5077 session ticket)".to_string()
    ));
}

#[test]
fn zero_cache_timeout_disables_resumption() {
    let (slog, clog) = (Log::default(), Log::default());
    for (server_extra, client_extra) in [
        (&[("smtpd_tls_session_cache_timeout", "0")][..], &[][..]),
        (&[][..], &[("smtp_tls_session_cache_timeout", "0")][..]),
    ] {
        let server = server_ctx(server_extra, &slog);
        let client = client_ctx(client_extra, &clog, None);
        connect(&server, &client);
        let (s2, c2, _) = connect(&server, &client);
        assert!(!s2.reused && !c2.reused);
    }
}

/// Tickets made by one server process resume on another that shares the
/// host-installed key (as Postfix's tlsmgr lets smtpd processes do).
#[test]
fn host_installed_ticket_keys_are_shared_between_servers() {
    let (slog, clog) = (Log::default(), Log::default());
    let a = server_ctx(&[], &slog);
    let b = server_ctx(&[], &slog);
    let key_bytes: Vec<u8> = (0..80u8).collect();
    let expires = mtatls::unstable::unix_time() + 3600;
    for s in [&a, &b] {
        s.ticket_keys()
            .as_ref()
            .unwrap()
            .install(TicketKey::from_bytes(&key_bytes, expires).unwrap());
    }
    let client = client_ctx(&[], &clog, None);
    connect(&a, &client);
    let (s2, c2, _) = connect(&b, &client);
    assert!(s2.reused && c2.reused, "{:#?}", slog.lock().unwrap());
    let expected =
        format!("localhost[127.0.0.1]: Decrypting session ticket, key expiration: {expires}");
    assert!(slog.lock().unwrap().contains(&expected));
    // A server with another key cannot decrypt: full handshake.
    let c = server_ctx(&[], &slog);
    let (s3, _, _) = connect(&c, &client);
    assert!(!s3.reused);
}

/// The host's session store (get/put/remove) instead of memory.
#[derive(Default)]
struct Recording {
    map: Mutex<std::collections::HashMap<String, Vec<u8>>>,
    calls: Mutex<Vec<String>>,
}

impl SessionStore for Recording {
    fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.calls.lock().unwrap().push("get".into());
        self.map.lock().unwrap().get(key).cloned()
    }
    fn put(&self, key: &str, der: &[u8], expires: u64) {
        assert!(expires > mtatls::unstable::unix_time());
        self.calls.lock().unwrap().push("put".into());
        self.map.lock().unwrap().insert(key.into(), der.to_vec());
    }
    fn remove(&self, key: &str) {
        self.calls.lock().unwrap().push("remove".into());
        self.map.lock().unwrap().remove(key);
    }
}

#[test]
fn client_sessions_in_the_hosts_store_and_removed_after_failure() {
    let (slog, clog) = (Log::default(), Log::default());
    let store = Arc::new(Recording::default());
    let server = server_ctx(&[], &slog);
    let client = client_ctx(&[], &clog, Some(store.clone()));
    connect(&server, &client);
    let (_, c2, _) = connect(&server, &client);
    assert!(c2.reused);
    let calls = store.calls.lock().unwrap().clone();
    assert_eq!(calls[0], "get");
    assert!(calls.contains(&"put".to_string()));
    // A failed handshake removes the cached session.
    let (a, mut b) = UnixStream::pair().unwrap();
    let mut c = Session::new(
        client.clone(),
        a.as_raw_fd(),
        "mail.example.test[127.0.0.1]:25",
    )
    .unwrap();
    c.set_serverid("[mail.example.test]:25").unwrap();
    b.write_all(b"this is not TLS\r\n").unwrap();
    assert!(c
        .handshake(Some(Timeout::After(Duration::from_secs(5))))
        .is_err());
    assert_eq!(store.calls.lock().unwrap().last().unwrap(), "remove");
    assert!(store.map.lock().unwrap().is_empty());
    drop(c);
    drop((a, b));
    assert!(clog
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.starts_with("remove session [mail.example.test]:25&")
            && l.ends_with(" from client cache")));
}

/// A peer that closes without close_notify is a distinct fact (possible
/// SMTP truncation), unlike an orderly close.
#[test]
fn truncation_is_a_fact() {
    let (slog, clog) = (Log::default(), Log::default());
    let server = server_ctx(&[], &slog);
    let client = client_ctx(&[], &clog, None);
    for orderly in [true, false] {
        let (a, b) = UnixStream::pair().unwrap();
        let sctx = server.clone();
        let srv = std::thread::spawn(move || {
            let mut s = Session::new(sctx, a.as_raw_fd(), "localhost[127.0.0.1]").unwrap();
            s.handshake(None).unwrap();
            s.write(b"data\r\n", None).unwrap();
            if orderly {
                s.stop(None).unwrap();
            }
            drop(s);
            drop(a); // closes the socket, with or without close_notify
        });
        let mut c = Session::new(client.clone(), b.as_raw_fd(), "x[127.0.0.1]:25").unwrap();
        c.handshake(None).unwrap();
        let mut buf = [0u8; 64];
        let mut total = 0;
        for _ in 0..10 {
            let n = c
                .read(&mut buf, Some(Timeout::After(Duration::from_secs(5))))
                .unwrap();
            if n == 0 {
                break;
            }
            total += n;
        }
        assert_eq!(total, 6);
        assert!(c.peer_closed());
        assert_eq!(c.truncated(), !orderly, "orderly={orderly}");
        srv.join().unwrap();
    }
}

/// SNI: the client sends `smtp_tls_servername`; the server picks the chain
/// from `tls_server_sni_maps` (name, then parent domains) and logs
/// `... from LABEL to NAME`; unmatched names keep the default chain.
#[test]
fn sni_selects_the_chain() {
    let pki = pki();
    let table = format!(
        "inline:{{ mail.example.test = {}, .example.org = {} }}",
        pki.path("ecdsa.pem"),
        pki.path("ed25519.pem")
    );
    let slog = Log::default();
    let server = server_ctx(
        &[
            ("tls_server_sni_maps", table.as_str()),
            ("smtpd_tls_loglevel", "1"),
        ],
        &slog,
    );
    assert_eq!(server.sni_names(), 2);
    let run_with = |servername: &str| {
        let clog = Log::default();
        let client = client_ctx(&[("smtp_tls_servername", servername)], &clog, None);
        let (s, c, summary) = connect(&server, &client);
        let lines = clog.lock().unwrap().clone();
        (s, c, summary, lines)
    };
    let (s, c, _, _) = run_with("mail.example.test");
    assert_eq!(s.peer_sni, "mail.example.test");
    assert_eq!(c.server_sig.name, "ECDSA");
    assert!(slog.lock().unwrap().iter().any(|l| l.starts_with(
        "Anonymous TLS connection established from localhost[127.0.0.1] to mail.example.test: TLSv1.3 with cipher"
    )));
    let (s, c, _, _) = run_with("deep.mx.example.org");
    assert_eq!(s.peer_sni, "deep.mx.example.org");
    assert_eq!(c.server_sig.name, "ED25519");
    let (s, c, _, _) = run_with("other.example.test");
    assert_eq!(s.peer_sni, "");
    assert_eq!(c.server_sig.name, "RSA-PSS");
    assert!(slog.lock().unwrap().contains(
        &"TLS SNI other.example.test from localhost[127.0.0.1] not matched, using default chain"
            .to_string()
    ));
    // An invalid name on the client side: the session is refused.
    let clog = Log::default();
    let client = client_ctx(&[("smtp_tls_servername", "bad_name!")], &clog, None);
    let (a, _b) = UnixStream::pair().unwrap();
    let mut c = Session::new(client, a.as_raw_fd(), "x[127.0.0.1]:25").unwrap();
    let e = c
        .handshake(Some(Timeout::After(Duration::from_secs(2))))
        .unwrap_err();
    assert_eq!(e.kind(), mtatls::ErrorKind::Policy);
    assert_eq!(
        e.message(),
        "\"smtp_tls_servername = bad_name!\" specifies an invalid hostname"
    );
}

/// A host's own SNI lookup picks the table entry (here: every name under
/// `.customer.test` gets the ECDSA chain of the `mail.example.test` entry).
#[test]
fn host_sni_selector_picks_the_entry() {
    let pki = pki();
    let table = format!("inline:{{ mail.example.test = {} }}", pki.path("ecdsa.pem"));
    let log = Log::default();
    let mut p = Params::new();
    for (n, v) in [
        ("smtpd_tls_security_level", "may"),
        ("smtpd_tls_chain_files", pki.path("rsa.pem").as_str()),
        ("tls_server_sni_maps", table.as_str()),
    ] {
        p.set(n, v).unwrap();
    }
    let hooks = Hooks::with_logger(Logger::with_sink(Arc::new(|_, _: &str| {}))).sni_selector(
        Some(Arc::new(|name: &str| {
            name.ends_with(".customer.test")
                .then(|| "mail.example.test".to_string())
        })),
    );
    let server = Arc::new(Context::with_hooks(&p, "smtpd", &hooks).unwrap());
    for (name, want) in [
        ("a.customer.test", "ECDSA"),
        ("mail.example.test", "RSA-PSS"),
    ] {
        let client = client_ctx(&[("smtp_tls_servername", name)], &log, None);
        let (s, c, _) = connect(&server, &client);
        assert_eq!(c.server_sig.name, want, "{name}");
        assert_eq!(s.peer_sni, if want == "ECDSA" { name } else { "" });
    }
}

/// The in-process client cache keeps session objects: a session expires
/// after `smtp_tls_session_cache_timeout` like a DER one (looked up, not
/// reloaded, a full handshake, saved again).
#[test]
fn in_process_cache_honours_the_timeout() {
    let (slog, clog) = (Log::default(), Log::default());
    let server = server_ctx(&[], &slog);
    let client = client_ctx(&[("smtp_tls_session_cache_timeout", "1s")], &clog, None);
    let (_, c1, _) = connect(&server, &client);
    assert!(!c1.reused);
    let (_, c2, _) = connect(&server, &client);
    assert!(c2.reused, "{:#?}", clog.lock().unwrap());
    // Saved at most a second ago with a lifetime of one second.
    std::thread::sleep(Duration::from_millis(2100));
    clog.lock().unwrap().clear();
    let (_, c3, _) = connect(&server, &client);
    assert!(!c3.reused, "an expired session was resumed");
    let lines = clog.lock().unwrap().clone();
    assert!(lines.iter().any(|l| l.starts_with("looking for session ")));
    assert!(
        !lines.iter().any(|l| l.starts_with("reloaded session ")),
        "{lines:#?}"
    );
    assert!(lines.iter().any(|l| l.starts_with("save session ")));
    let (_, c4, _) = connect(&server, &client);
    assert!(c4.reused);
}

/// What happens to a connection after its session was saved does not
/// reach the cache: a fatal alert makes OpenSSL mark the connection's
/// session not resumable, yet the next connection resumes (as it would
/// from DER); and a resumed session reports the leaf certificate only,
/// in memory as from the host's store.
#[test]
fn in_process_cache_is_isolated_from_the_connection() {
    for store in [false, true] {
        let (slog, clog) = (Log::default(), Log::default());
        let server = server_ctx(&[], &slog);
        let recording = Arc::new(Recording::default());
        let client = client_ctx(
            &[],
            &clog,
            store.then(|| recording.clone() as Arc<dyn SessionStore>),
        );
        let (a, b) = UnixStream::pair().unwrap();
        let sctx = server.clone();
        let srv = std::thread::spawn(move || {
            let mut s = Session::new(sctx, a.as_raw_fd(), "localhost[127.0.0.1]").unwrap();
            s.handshake(Some(Timeout::After(Duration::from_secs(10))))
                .unwrap();
            s.write(b"250 ok\r\n", None).unwrap();
            // A record the client cannot decrypt: it fails with a fatal alert.
            let mut bogus = vec![0x17, 0x03, 0x03, 0x00, 0x40];
            bogus.extend_from_slice(&[0x5a; 0x40]);
            (&a).write_all(&bogus).unwrap();
            let mut buf = [0u8; 64];
            let _ = s.read(&mut buf, Some(Timeout::After(Duration::from_secs(10))));
            drop(s);
            drop(a);
        });
        let mut c = Session::new(
            client.clone(),
            b.as_raw_fd(),
            "mail.example.test[127.0.0.1]:25",
        )
        .unwrap();
        c.set_serverid("[mail.example.test]:25").unwrap();
        c.handshake(Some(Timeout::After(Duration::from_secs(10))))
            .unwrap();
        let full_chain = c.peer_certificates(false).len();
        assert!(full_chain >= 2, "the server sends leaf and intermediate");
        let mut buf = [0u8; 16];
        let n = c
            .read(&mut buf, Some(Timeout::After(Duration::from_secs(10))))
            .unwrap();
        assert_eq!(&buf[..n], b"250 ok\r\n");
        assert!(c
            .read(&mut buf, Some(Timeout::After(Duration::from_secs(10))))
            .is_err());
        drop(c);
        drop(b);
        srv.join().unwrap();
        let lines = clog.lock().unwrap().clone();
        assert!(
            lines.iter().any(|l| l.starts_with("save session ")),
            "{lines:#?}"
        );
        // The next connection resumes, and reports the leaf only.
        let (_, c2, _) = connect(&server, &client);
        assert!(c2.reused, "store {store}: {:#?}", clog.lock().unwrap());
        let (sa, sb) = UnixStream::pair().unwrap();
        let sctx = server.clone();
        let srv = std::thread::spawn(move || {
            let mut s = Session::new(sctx, sa.as_raw_fd(), "localhost[127.0.0.1]").unwrap();
            s.handshake(Some(Timeout::After(Duration::from_secs(10))))
                .unwrap();
            s.stop(None).unwrap();
            drop(s);
            drop(sa);
        });
        let mut c = Session::new(
            client.clone(),
            sb.as_raw_fd(),
            "mail.example.test[127.0.0.1]:25",
        )
        .unwrap();
        c.set_serverid("[mail.example.test]:25").unwrap();
        c.handshake(Some(Timeout::After(Duration::from_secs(10))))
            .unwrap();
        assert!(c.facts().unwrap().reused);
        assert_eq!(c.peer_certificates(false).len(), 1, "store {store}");
        let _ = c.stop(None);
        drop(c);
        drop(sb);
        srv.join().unwrap();
    }
}

/// Reading ahead starts only once the handshake has completed: a failed
/// handshake reads each record up to its end and no further, so what the
/// peer sent after the record that ended the handshake (here plain text
/// after a fatal alert) is still on the socket for the host.
#[test]
fn failed_handshake_leaves_what_follows_on_the_socket() {
    use std::io::Read;
    let (slog, clog) = (Log::default(), Log::default());
    let _server = server_ctx(&[], &slog);
    let client = client_ctx(&[], &clog, None);
    let (a, mut b) = UnixStream::pair().unwrap();
    // A handshake_failure alert record, then plain text, before the client
    // reads anything: one read(2) could take both.
    let tail = b"421 4.7.0 plain text after the alert\r\n";
    b.write_all(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28])
        .unwrap();
    b.write_all(tail).unwrap();
    let mut c = Session::new(
        client.clone(),
        a.as_raw_fd(),
        "mail.example.test[127.0.0.1]:25",
    )
    .unwrap();
    assert!(c
        .handshake(Some(Timeout::After(Duration::from_secs(5))))
        .is_err());
    drop(c);
    a.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut got = vec![0u8; tail.len()];
    (&a).read_exact(&mut got).unwrap();
    assert_eq!(got, tail.to_vec(), "bytes after the alert were consumed");
}

/// Once established the session reads ahead: records that arrive
/// together (pipelined replies, several per read(2)) all reach the host,
/// in order, with non-blocking calls that wait only after "want read".
#[test]
fn records_read_ahead_all_reach_the_host() {
    let (slog, clog) = (Log::default(), Log::default());
    let server = server_ctx(&[], &slog);
    let client = client_ctx(&[], &clog, None);
    let (a, b) = UnixStream::pair().unwrap();
    let sctx = server.clone();
    let lines: Vec<String> = (0..200).map(|i| format!("250-line {i:03}\r\n")).collect();
    let expected: String = lines.concat();
    let srv = std::thread::spawn(move || {
        let mut s = Session::new(sctx, a.as_raw_fd(), "localhost[127.0.0.1]").unwrap();
        s.handshake(Some(Timeout::After(Duration::from_secs(10))))
            .unwrap();
        // One record per line, written back to back.
        for l in &lines {
            s.write(l.as_bytes(), None).unwrap();
        }
        let mut buf = [0u8; 16];
        let _ = s.read(&mut buf, Some(Timeout::After(Duration::from_secs(10))));
        s.stop(None).unwrap();
        drop(s);
        drop(a);
    });
    let mut c = Session::new(
        client.clone(),
        b.as_raw_fd(),
        "mail.example.test[127.0.0.1]:25",
    )
    .unwrap();
    c.handshake(Some(Timeout::After(Duration::from_secs(10))))
        .unwrap();
    let mut got = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while got.len() < expected.len() {
        assert!(std::time::Instant::now() < deadline, "timed out");
        let mut buf = [0u8; 7]; // smaller than a record
        match c.read(&mut buf, Some(Timeout::NonBlocking)) {
            Ok(n) => {
                assert!(n > 0, "peer closed early");
                got.extend_from_slice(&buf[..n]);
            }
            Err(e) if e.kind() == ErrorKind::WantRead => {
                // Only now may the host wait for the socket.
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => panic!("read: {e}"),
        }
    }
    assert_eq!(String::from_utf8(got).unwrap(), expected);
    c.write(b"QUIT\r\n", None).unwrap();
    let _ = c.stop(None);
    drop(c);
    srv.join().unwrap();
    drop(b);
}

/// Bytes waiting on the socket, without taking them (MSG_PEEK, non-blocking).
fn peek_socket(fd: i32) -> isize {
    let mut buf = [0u8; 64];
    // SAFETY: recv into a live local buffer of the given size.
    unsafe {
        libc::recv(
            fd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    }
}

/// With read-ahead (the default) records that arrived together are taken
/// from the socket at once; with `mtatls_read_ahead = no` (what the Postfix
/// shim sets) the next record stays on the socket until read, so a host
/// that peeks at the socket for pipelined input (Postfix's "improper
/// command pipelining" check) sees it.
#[test]
fn read_ahead_off_leaves_the_next_record_on_the_socket() {
    for read_ahead in ["yes", "no"] {
        let (slog, clog) = (Log::default(), Log::default());
        let server = server_ctx(&[], &slog);
        let client = client_ctx(&[("mtatls_read_ahead", read_ahead)], &clog, None);
        let (a, b) = UnixStream::pair().unwrap();
        let sctx = server.clone();
        let (sent_tx, sent_rx) = std::sync::mpsc::channel();
        let srv = std::thread::spawn(move || {
            let mut s = Session::new(sctx, a.as_raw_fd(), "localhost[127.0.0.1]").unwrap();
            s.handshake(Some(Timeout::After(Duration::from_secs(10))))
                .unwrap();
            s.write(b"250-first\r\n", None).unwrap();
            s.write(b"250 second\r\n", None).unwrap();
            sent_tx.send(()).unwrap();
            let mut buf = [0u8; 16];
            let _ = s.read(&mut buf, Some(Timeout::After(Duration::from_secs(10))));
            s.stop(None).unwrap();
            drop(s);
            drop(a);
        });
        let mut c = Session::new(
            client.clone(),
            b.as_raw_fd(),
            "mail.example.test[127.0.0.1]:25",
        )
        .unwrap();
        c.handshake(Some(Timeout::After(Duration::from_secs(10))))
            .unwrap();
        sent_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        // TLS 1.3: the server's ticket record, then the two lines.
        let mut buf = [0u8; 64];
        let n = c
            .read(&mut buf, Some(Timeout::After(Duration::from_secs(10))))
            .unwrap();
        assert_eq!(&buf[..n], b"250-first\r\n");
        let waiting = peek_socket(b.as_raw_fd());
        if read_ahead == "no" {
            assert!(waiting > 0, "the second record is not on the socket");
        } else {
            assert!(
                waiting <= 0,
                "read-ahead left {waiting} bytes on the socket"
            );
        }
        let n = c
            .read(&mut buf, Some(Timeout::After(Duration::from_secs(10))))
            .unwrap();
        assert_eq!(&buf[..n], b"250 second\r\n");
        c.write(b"QUIT\r\n", None).unwrap();
        let _ = c.stop(None);
        drop(c);
        srv.join().unwrap();
        drop(b);
    }
}

/// The authenticated levels' OpenSSL context is made at their first
/// session (its suites differ from `may`'s: no anonymous ones), from
/// settings checked when the context was made: the warnings of those
/// settings are logged then, once, and not again at that session, which
/// verifies the server as it should; threads starting their first
/// sessions at once get the same context.
#[test]
fn deferred_profile_context_warns_only_at_creation() {
    let slog: Log = Default::default();
    let clog: Log = Default::default();
    let server = server_ctx(&[], &slog);
    let ca = pki().path("root.pem");
    let client = client_ctx(
        &[
            ("smtp_tls_security_level", "secure"),
            ("smtp_tls_CAfile", ca.as_str()),
            ("tls_disable_workarounds", "no_such_workaround"),
        ],
        &clog,
        None,
    );
    let warnings = |log: &Log| -> Vec<String> {
        log.lock()
            .unwrap()
            .iter()
            .filter(|l| l.starts_with("warning: "))
            .cloned()
            .collect()
    };
    let at_creation = warnings(&clog);
    assert_eq!(at_creation.len(), 1, "{at_creation:#?}");
    assert!(
        at_creation[0].contains("no_such_workaround"),
        "{at_creation:#?}"
    );
    let mut threads = Vec::new();
    for _ in 0..3 {
        let (server, client) = (server.clone(), client.clone());
        threads.push(std::thread::spawn(move || {
            let (a, b) = UnixStream::pair().unwrap();
            let srv = std::thread::spawn(move || {
                let mut s = Session::new(server, a.as_raw_fd(), "localhost[127.0.0.1]").unwrap();
                let r = s.handshake(Some(Timeout::After(Duration::from_secs(10))));
                if r.is_ok() {
                    let _ = s.stop(None);
                }
                drop(s);
                drop(a);
                r.is_ok()
            });
            let mut c =
                Session::new(client, b.as_raw_fd(), "mail.example.test[127.0.0.1]:25").unwrap();
            c.set_peer_names("mail.example.test", "example.test")
                .unwrap();
            c.handshake(Some(Timeout::After(Duration::from_secs(10))))
                .unwrap();
            let summary = c.summary().unwrap();
            c.stop(None).unwrap();
            drop(c);
            drop(b);
            assert!(srv.join().unwrap());
            summary
        }));
    }
    for t in threads {
        let summary = t.join().unwrap();
        assert!(
            summary.starts_with("Verified TLS connection established to mail.example.test"),
            "{summary}"
        );
    }
    assert_eq!(warnings(&clog), at_creation);
    let ours = client.profiles();
    assert_eq!(ours.len(), 3);
    let first: &openssl::ssl::SslContextRef = ours[0].ssl().unwrap();
    let verify: &openssl::ssl::SslContextRef = ours[2].ssl().unwrap();
    assert!(!std::ptr::eq(first, verify));
}
