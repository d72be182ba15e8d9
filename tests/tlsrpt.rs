//! TLSRPT (RFC 8460) from a C client on mtatls, compared with Postfix.
//!
//! `tlsrpt_client_reports_like_postfix`: for each scenario, real Postfix
//! (3.10 or later, built with libtlsrpt; CI: 3.11.6) delivers one message
//! with `smtp_tlsrpt_enable = yes` to a real Postfix smtpd, and
//! mtatls-finger (built with its `-Q`/`-q` TLSRPT options, linked with the
//! same libtlsrpt) connects to the same smtpd with the same policy and
//! reports what the library classified (`mtatls_session_tlsrpt_*`); each
//! side reports to its own real tlsrpt-collectd. The rows both collectors
//! stored (`finalresults` and `failures`: policy, result type, reason,
//! sending and receiving addresses, MX name, EHLO reply) must be the same,
//! and the RFC 8460 result each scenario calls for:
//!
//! | domain | server | policy | result |
//! |---|---|---|---|
//! | ok | CA-issued leaf | secure, its name | success |
//! | mismatch | CA-issued leaf | secure, next hop | certificate-host-mismatch |
//! | expired | expired CA-issued leaf | secure, its name | certificate-expired |
//! | untrusted | leaf of an unknown CA | secure, its name | validation-failure, unable_to_get_local_issuer_certificate |
//! | fingerprint | CA-issued leaf | fingerprint, another one | certificate-not-trusted |
//! | dane | CA-issued leaf | dane, TLSA 3 1 1 of another key | certificate-not-trusted, policy tlsa |
//! | nostarttls | no STARTTLS offered | encrypt | starttls-not-supported (reported by the finger itself, as by smtp) |
//!
//! Postfix finds each next hop's MX, A, TLSRPT TXT and TLSA records in
//! DNS: a DNS server of the test's own on a loopback address answers them
//! as DNSSEC-validated (AD), and the client instance's master(8) (and the
//! finger) run in a mount namespace whose /etc/resolv.conf names it.
//!
//! Needs: the release (`MTATLS_PF_ROOT`, with libtlsrpt in
//! `$MTATLS_PF_ROOT/tlsrpt` or `$MTATLS_LIBTLSRPT`: include/tlsrpt.h and
//! lib/libtlsrpt.so), tlsrpt-collectd (`$MTATLS_TLSRPT_COLLECTD` or PATH),
//! unshare, python3, root. Skipped with the reason printed when one is
//! missing; a failure under MTATLS_REQUIRE_TLSRPT=1 (and, for the tools,
//! MTATLS_REQUIRE_PEERS=1).

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::peers::wait_for;
use common::postfix::{self, Release, Role};
use common::tlsrpt::{
    collectd, collectd_log, namespaced, namespaced_daemons, tlsrpt_rows, tool, DnsServer, Zone,
};

const WAIT: Duration = Duration::from_secs(30);

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn temp_dir(what: &str) -> TempDir {
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!(
        "mtatls-tlsrpt-{what}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).expect("mkdir");
    chmod(&d, 0o755);
    TempDir(d)
}

fn chmod(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).expect("chmod");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Skip (printed) or, when `required`, fail.
fn skip(why: &str, required: bool) {
    assert!(
        !required,
        "TLSRPT comparison required but impossible: {why}"
    );
    eprintln!("SKIPPED (TLSRPT): {why}");
}

/// The release and its libtlsrpt directory, or why not.
fn release_with_tlsrpt() -> Result<(Release, PathBuf), String> {
    let r = Release::selected()?;
    if r.numbers() < (3, 10, 0) {
        return Err(format!(
            "{} has no TLSRPT (3.10 and later; set MTATLS_PF_ROOT=/opt/postfix-3.11.6)",
            r.describe()
        ));
    }
    let dir = match std::env::var_os("MTATLS_LIBTLSRPT").filter(|v| !v.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => r
            .root
            .as_ref()
            .map(|root| root.join("tlsrpt"))
            .ok_or("no libtlsrpt directory (MTATLS_LIBTLSRPT)")?,
    };
    for f in ["include/tlsrpt.h", "lib/libtlsrpt.so"] {
        if !dir.join(f).is_file() {
            return Err(format!(
                "no {} (libtlsrpt as build-postfix.sh installs it)",
                dir.join(f).display()
            ));
        }
    }
    if let Some(why) = postfix::cannot_run() {
        return Err(why);
    }
    Ok((r, dir))
}

/// One scenario: the next-hop domain, the server it goes to, Postfix's
/// policy-table entry, the finger's level options and match arguments,
/// and the RFC 8460 result (type, reason, policy type).
struct Case {
    domain: String,
    server: usize,
    policy: String,
    finger: Vec<String>,
    want: (u16, Option<&'static str>, u8),
}

#[test]
fn tlsrpt_client_reports_like_postfix() {
    let strict = common::required("MTATLS_REQUIRE_TLSRPT");
    let (release, libtlsrpt) = match release_with_tlsrpt() {
        Ok(x) => x,
        Err(why) => return skip(&why, strict),
    };
    let missing: Vec<&str> = [
        (
            "MTATLS_TLSRPT_COLLECTD",
            "tlsrpt-collectd",
            "tlsrpt-collectd (pip install tlsrpt-reporter)",
        ),
        ("", "unshare", "unshare (util-linux)"),
        ("", "python3", "python3"),
    ]
    .iter()
    .filter(|(var, name, _)| tool(var, name).is_none())
    .map(|(_, _, why)| *why)
    .collect();
    if !missing.is_empty() {
        return skip(
            &format!("missing: {}", missing.join(", ")),
            strict || common::required("MTATLS_REQUIRE_PEERS"),
        );
    }
    let finger = common::finger_with_tlsrpt(&libtlsrpt);

    // Certificates: the harness's, and the test PKI's leaves and root.
    let certs = temp_dir("certs");
    postfix::make_certs(&certs.0);
    let pki = common::pki::pki();
    for f in ["rsa.pem", "expired.pem", "untrusted.pem", "root.pem"] {
        let to = certs.0.join(f);
        fs::copy(pki.path(f), &to).expect("copy PKI file");
        chmod(&to, if f == "root.pem" { 0o644 } else { 0o600 });
    }
    let name = common::pki::SERVER_NAME;
    let other_fp = common::pki::colon_hex(&openssl::sha::sha256(b"another certificate"));
    let other_key = openssl::sha::sha256(b"another key");

    let dir = temp_dir("run");
    let tld = "tlsrpt.test";
    let d = |s: &str| format!("{s}.{tld}");
    let record = |dom: &str| format!("v=TLSRPTv1; rua=mailto:tlsrpt@{dom}");
    let cafile = certs.0.join("root.pem").display().to_string();
    let secure = |m: Option<&str>| {
        let mut a = vec!["-l".into(), "secure".into(), "-F".into(), cafile.clone()];
        a.extend(m.map(str::to_string));
        a
    };
    let cases = vec![
        Case {
            domain: d("ok"),
            server: 0,
            policy: format!("secure match={name}"),
            finger: secure(Some(name)),
            want: (0, None, 9),
        },
        Case {
            domain: d("mismatch"),
            server: 0,
            policy: "secure".into(),
            finger: secure(None),
            want: (202, None, 9),
        },
        Case {
            domain: d("expired"),
            server: 1,
            policy: format!("secure match={name}"),
            finger: secure(Some(name)),
            want: (204, None, 9),
        },
        Case {
            domain: d("untrusted"),
            server: 2,
            policy: format!("secure match={name}"),
            finger: secure(Some(name)),
            want: (205, Some("unable_to_get_local_issuer_certificate"), 9),
        },
        Case {
            domain: d("fingerprint"),
            server: 0,
            policy: format!("fingerprint match={other_fp}"),
            finger: vec!["-l".into(), "fingerprint".into(), other_fp.clone()],
            want: (203, None, 9),
        },
        Case {
            domain: d("dane"),
            server: 0,
            policy: "dane".into(),
            finger: vec![
                "-l".into(),
                "dane".into(),
                "-D".into(),
                format!(
                    "3:1:1:{}",
                    common::pki::colon_hex(&other_key).replace(':', "")
                ),
            ],
            want: (203, None, 1),
        },
        Case {
            domain: d("nostarttls"),
            server: 3,
            policy: "encrypt".into(),
            finger: vec!["-l".into(), "encrypt".into()],
            want: (201, None, 9),
        },
    ];
    let dns = DnsServer::start(
        cases
            .iter()
            .map(|c| Zone {
                domain: c.domain.clone(),
                record: record(&c.domain),
                tlsa: if c.want.2 == 1 {
                    vec![(3, 1, 1, other_key.to_vec())]
                } else {
                    vec![]
                },
            })
            .collect(),
    );
    let resolv = dns.resolv_conf(&dir.0);

    let domains: Vec<&str> = cases.iter().map(|c| c.domain.as_str()).collect();
    // The last one offers no STARTTLS.
    let servers: Vec<postfix::Instance> = [
        ("rsa", "may"),
        ("expired", "may"),
        ("untrusted", "may"),
        ("rsa", "none"),
    ]
    .iter()
    .map(|(leaf, level)| {
        postfix::Instance::start(
            &release,
            Role::Server { port: free_port() },
            &certs.0,
            &[
                format!("smtpd_tls_chain_files=DIR/tls/{leaf}.pem"),
                format!("smtpd_tls_security_level={level}"),
                format!("virtual_mailbox_domains=peers.test {}", domains.join(" ")),
            ],
        )
    })
    .collect();
    let port = |c: &Case| servers[c.server].port();

    // Postfix's smtp, on its own library, to the first collector.
    let (own_collector, own_sock, own_db) = collectd(&dir.0, "postfix");
    let transport: Vec<String> = cases
        .iter()
        .map(|c| format!("{}=smtp:{}:{}", c.domain, c.domain, port(c)))
        .collect();
    let policies: Vec<String> = cases
        .iter()
        .map(|c| format!("{{{}:{}={}}}", c.domain, port(c), c.policy))
        .collect();
    let params = vec![
        "relayhost=".into(),
        format!("transport_maps=inline:{{{}}}", transport.join(", ")),
        "smtp_tls_security_level=may".into(),
        format!("smtp_tls_CAfile={cafile}"),
        "smtp_dns_support_level=dnssec".into(),
        format!("smtp_tls_policy_maps=inline:{{{}}}", policies.join(", ")),
        "smtp_tlsrpt_enable=yes".into(),
        format!("smtp_tlsrpt_socket_name={}", own_sock.display()),
        "smtp_tlsrpt_skip_reused_handshakes=no".into(),
        "smtp_tls_session_cache_database=".into(),
        "daemon_directory=DIR/libexec".into(),
        // One delivery attempt each within the test.
        "queue_run_delay=300s".into(),
        "minimal_backoff_time=300s".into(),
        "maximal_backoff_time=600s".into(),
    ];
    let real_dir = release.daemon_dir.clone();
    let client = postfix::Instance::start_prepared(
        &release,
        Role::Client {
            relay_port: servers[0].port(),
        },
        &certs.0,
        &params,
        |d| namespaced_daemons(&d.join("libexec"), &real_dir, &resolv),
    );
    let mut postfix_lines = vec![];
    for (i, c) in cases.iter().enumerate() {
        let tag = format!("tlsrpt-{}-{i}", std::process::id());
        let from = client.log_len();
        client.sendmail(
            "sender@client.peers.test",
            &format!("user@{}", c.domain),
            &tag,
        );
        let qid = client
            .queue_id(&tag, WAIT)
            .unwrap_or_else(|| panic!("{tag} not picked up:\n{}", client.log()));
        let sent = client.outcome(&qid, Duration::from_secs(60));
        assert_eq!(
            sent,
            Some(c.want.0 == 0),
            "Postfix's delivery to {}:\n{}",
            c.domain,
            client.log()
        );
        let lines: Vec<String> = client
            .program_lines("smtp", from)
            .into_iter()
            .filter(|l| l.starts_with("TLSRPT: "))
            .collect();
        assert_eq!(
            lines.len(),
            1,
            "Postfix's TLSRPT line for {}:\n{}",
            c.domain,
            client.log()
        );
        postfix_lines.push(lines[0].clone());
    }
    let total = |rows: &[String]| -> usize {
        rows.iter()
            .filter(|r| r.starts_with("finalresults"))
            .filter_map(|r| {
                let w: Vec<&str> = r.trim_end_matches(')').rsplit(", ").collect();
                w.get(1)?.parse::<usize>().ok()
            })
            .sum()
    };
    let stored = |db: &Path, who: &str, log: &dyn Fn() -> String| -> Vec<String> {
        wait_for(WAIT, || {
            let rows = tlsrpt_rows(db);
            (total(&rows) >= cases.len()).then_some(rows)
        })
        .unwrap_or_else(|| {
            panic!(
                "{who}: tlsrpt-collectd did not store {} reports: {:?}\n{}",
                cases.len(),
                tlsrpt_rows(db),
                log()
            )
        })
    };
    let postfix_rows = stored(&own_db, "Postfix", &|| {
        format!("{}\n{}", collectd_log(&dir.0, "postfix"), client.log())
    });
    drop(client);
    drop(own_collector);

    // mtatls-finger with the same policies, to the second collector.
    let (ours_collector, ours_sock, ours_db) = collectd(&dir.0, "mtatls");
    let mut finger_lines = vec![];
    for c in &cases {
        let mut cmd: Vec<String> = vec![finger.display().to_string(), "-c".into()];
        cmd.extend(release.mtatls_options());
        cmd.extend([
            "-Q".into(),
            ours_sock.display().to_string(),
            "-q".into(),
            format!("{}:{}", c.domain, record(&c.domain)),
            "-L".into(),
            "1".into(),
        ]);
        let (level, rest) = c.finger.split_at(2);
        cmd.extend(level.iter().cloned());
        // Options before the destination, match arguments after it.
        let (opts, matches): (Vec<&String>, Vec<&String>) = {
            let mut opts = vec![];
            let mut matches = vec![];
            let mut it = rest.iter().peekable();
            while let Some(a) = it.next() {
                if a.starts_with('-') {
                    opts.push(a);
                    opts.extend(it.next());
                } else {
                    matches.push(a);
                }
            }
            (opts, matches)
        };
        cmd.extend(opts.into_iter().cloned());
        cmd.push(format!("mx.{}:{}", c.domain, port(c)));
        cmd.extend(matches.into_iter().cloned());
        let o = common::run_bounded(
            namespaced(&resolv, &cmd).stdin(Stdio::null()),
            Duration::from_secs(60),
        );
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert_eq!(
            o.status.success(),
            c.want.0 == 0,
            "mtatls-finger for {}: {cmd:?}\n{err}",
            c.domain
        );
        let lines: Vec<String> = err
            .lines()
            .filter_map(|l| l.strip_prefix("mtatls-finger: "))
            .filter(|l| l.starts_with("TLSRPT: ") || l.contains("tlsrpt library"))
            .map(str::to_string)
            .collect();
        assert_eq!(
            lines.len(),
            1,
            "finger's TLSRPT line for {}:\n{err}",
            c.domain
        );
        finger_lines.push(lines[0].clone());
    }
    let ours_rows = stored(&ours_db, "mtatls-finger", &|| {
        collectd_log(&dir.0, "mtatls")
    });
    drop(ours_collector);
    drop(servers);
    drop(dns);

    // The same log lines (the port aside: both name the MX and address).
    assert_eq!(
        finger_lines, postfix_lines,
        "TLSRPT log lines: mtatls-finger (left) vs Postfix (right)"
    );
    // The same stored reports.
    assert_eq!(
        ours_rows, postfix_rows,
        "tlsrpt-collectd rows: mtatls-finger (left) vs Postfix {} (right)",
        release.version
    );
    // Each scenario's RFC 8460 result.
    for c in &cases {
        let (code, reason, policy_type) = c.want;
        let final_row = postfix_rows
            .iter()
            .find(|r| r.starts_with(&format!("finalresults ('{}'", c.domain)))
            .unwrap_or_else(|| panic!("no finalresults for {}: {postfix_rows:#?}", c.domain));
        assert!(
            final_row.contains(&format!("\"policy-type\": {policy_type}"))
                && final_row.ends_with(&format!(", 1, {})", (code != 0) as u8)),
            "{}: {final_row}",
            c.domain
        );
        let failures: Vec<&String> = postfix_rows
            .iter()
            .filter(|r| r.starts_with(&format!("failures ('{}'", c.domain)))
            .collect();
        if code == 0 {
            assert!(failures.is_empty(), "{}: {failures:?}", c.domain);
            continue;
        }
        assert_eq!(failures.len(), 1, "{}: {postfix_rows:#?}", c.domain);
        let f = failures[0];
        assert!(
            f.contains(&format!("\"c\": {code}"))
                && f.contains(&format!("\"n\": \"mx.{}\"", c.domain))
                && f.contains("\"r\": \"127.0.0.1\"")
                && f.contains("\"s\": \"127.0.0.1\""),
            "{}: {f}",
            c.domain
        );
        match reason {
            Some(r) => assert!(f.contains(&format!("\"f\": \"{r}\"")), "{}: {f}", c.domain),
            None => assert!(!f.contains("\"f\":"), "{}: {f}", c.domain),
        }
    }
    eprintln!(
        "ok: TLSRPT, mtatls-finger and Postfix {} stored the same reports:",
        release.version
    );
    for r in &ours_rows {
        eprintln!("    {r}");
    }
}
