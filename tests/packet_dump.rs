//! Loglevel 3 and 4 packet dumps (spec §3.2): the dump format against what
//! real Postfix 3.7.11 logged (tests/captures/3.7.11/L3-tls13.txt, made
//! by tests/captures.rs: both posttls-finger's and smtpd's dumps), and
//! which reads and writes are dumped: the handshake's at level 3, also
//! the session's at level 4.

mod common;

use common::pair::{run, settings};
use mtatls::unstable::dump_lines;

/// Whether `line` is a dump header in Postfix's shape, "read from BIO
/// [BUF] (LEN bytes => RET)" or "... => N (0xN))" (pointers and 0x value
/// in upper-case hex); its byte count when data moved.
fn header(line: &str) -> Option<Option<usize>> {
    let rest = line
        .strip_prefix("read from ")
        .or_else(|| line.strip_prefix("write to "))?;
    let upper_hex = |t: &str| {
        !t.is_empty()
            && t.bytes()
                .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
    };
    let (bio, rest) = rest.split_once(" [")?;
    let (buf, rest) = rest.split_once("] (")?;
    let (len, got) = rest.split_once(" bytes => ")?;
    if !upper_hex(bio) || !upper_hex(buf) || len.parse::<usize>().is_err() {
        return None;
    }
    let got = got.strip_suffix(')')?;
    match got.split_once(" (0x") {
        Some((n, hex)) => {
            let n: usize = n.parse().ok()?;
            let hex = hex.strip_suffix(')')?;
            (upper_hex(hex) && usize::from_str_radix(hex, 16).ok()? == n && n > 0)
                .then_some(Some(n))
        }
        None => (got.parse::<isize>().ok()? <= 0).then_some(None),
    }
}

/// The bytes a dump shows (trailing spaces/NULs come back as NULs).
fn bytes_of(dump: &[String], total: usize) -> Vec<u8> {
    let mut data = Vec::new();
    for line in dump.iter().filter(|l| !l.ends_with("<SPACES/NULLS>")) {
        let hex = &line[5..(5 + 48).min(line.len())];
        data.extend(
            hex.split([' ', '|'])
                .filter(|h| h.len() == 2)
                .map(|h| u8::from_str_radix(h, 16).unwrap()),
        );
    }
    data.resize(total, 0);
    data
}

/// Every dump in `lines` (after a header): (total bytes, dump lines).
fn dumps(lines: &[String]) -> Vec<(usize, Vec<String>)> {
    let is_dump = |l: &str| {
        l.len() > 5
            && l.as_bytes()[..4]
                .iter()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            && matches!(l.as_bytes()[4], b' ' | b'|')
    };
    let mut out = vec![];
    for (i, l) in lines.iter().enumerate() {
        if let Some(Some(n)) = header(l) {
            let dump: Vec<String> = lines[i + 1..]
                .iter()
                .take_while(|l| is_dump(l))
                .cloned()
                .collect();
            out.push((n, dump));
        }
    }
    out
}

#[test]
fn dump_format_is_postfixs() {
    let text =
        std::fs::read_to_string(common::root().join("tests/captures/3.7.11/L3-tls13.txt")).unwrap();
    let lines: Vec<String> = text
        .lines()
        .filter_map(|l| {
            l.strip_prefix("posttls-finger: ")
                .or_else(|| {
                    l.split_once("postfix/smtpd[")
                        .and_then(|(_, r)| r.split_once("]: "))
                        .map(|(_, r)| r)
                })
                .map(str::to_string)
        })
        .collect();
    let found = dumps(&lines);
    assert!(
        found.len() >= 20,
        "only {} dumps in the capture",
        found.len()
    );
    for (n, dump) in &found {
        assert_eq!(
            &dump_lines(&bytes_of(dump, *n)),
            dump,
            "a dump of {n} bytes"
        );
    }
    // And the header lines have Postfix's shape, also for EAGAIN.
    assert!(lines
        .iter()
        .filter(|l| l.starts_with("read from") || l.starts_with("write to"))
        .all(|l| header(l).is_some()));
    assert!(lines.iter().any(|l| l.ends_with(" (5 bytes => -1)")));
}

fn client_log(level: &str) -> (Vec<String>, Vec<String>) {
    let pki = common::pki::pki();
    let server = settings(&[
        ("smtpd_tls_security_level", "may"),
        ("smtpd_tls_chain_files", &pki.path("rsa.pem")),
        ("smtpd_tls_loglevel", level),
    ]);
    let client = settings(&[
        ("smtp_tls_security_level", "may"),
        ("smtp_tls_loglevel", level),
    ]);
    let (s, c) = run(server, client, |_| Ok(()));
    assert!(c.summary.is_some() && s.summary.is_some(), "{:#?}", c.log);
    (c.log, s.log)
}

#[test]
fn loglevel_3_dumps_the_handshake_and_4_the_session() {
    for level in ["3", "4"] {
        let (client, server) = client_log(level);
        // The client's first write is its ClientHello record, dumped whole.
        let (n, first) = dumps(&client).into_iter().next().expect("a dump");
        let hello = bytes_of(&first, n);
        assert_eq!(&hello[..3], [0x16, 0x03, 0x01], "{first:#?}");
        assert_eq!(usize::from(hello[3]) << 8 | usize::from(hello[4]), n - 5);
        assert_eq!(dump_lines(&hello), first);
        // The server reads the record header first, as Postfix shows.
        assert!(
            server
                .iter()
                .any(|l| l.starts_with("read from ") && l.ends_with(" (5 bytes => 5 (0x5))")),
            "{server:#?}"
        );
        // After the handshake: level 3 dumps nothing more, level 4 the
        // close_notify the client sends when it stops.
        let summary = client
            .iter()
            .position(|l| l.contains("TLS connection established to "))
            .expect("summary");
        let later = client[summary..]
            .iter()
            .filter(|l| header(l).is_some())
            .count();
        assert_eq!(
            later > 0,
            level == "4",
            "level {level}: {:#?}",
            &client[summary..]
        );
    }
}

#[test]
fn loglevel_2_dumps_nothing() {
    let (client, server) = client_log("2");
    assert!(
        !client.iter().chain(&server).any(|l| header(l).is_some()),
        "{client:#?}"
    );
}
