//! Shared by the fuzz targets: a logger that drops every line, fixture
//! files made once per process (a self-signed RSA chain made by mtatls,
//! an ECDSA chain, DH parameters, junk), and descriptor checks.
#![allow(dead_code)]

use std::os::fd::RawFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use mtatls::Logger;

/// A logger that discards every line (formatting still runs).
pub fn discard_logger() -> Logger {
    Logger::with_sink(Arc::new(|_, _| {}))
}

/// libFuzzer's extra counters (Linux): a byte array in this section is
/// treated like coverage counters, cleared before every run.
const EXTRA_LEN: usize = 1 << 12;
#[used]
#[link_section = "__libfuzzer_extra_counters"]
static EXTRA: [std::sync::atomic::AtomicU8; EXTRA_LEN] =
    [const { std::sync::atomic::AtomicU8::new(0) }; EXTRA_LEN];

/// Count `text` as a coverage feature.
pub fn feature(text: &str) {
    // FNV-1a.
    let mut h: u32 = 0x811c_9dc5;
    for b in text.bytes() {
        h = (h ^ b as u32).wrapping_mul(0x0100_0193);
    }
    let c = &EXTRA[h as usize % EXTRA_LEN];
    c.store(
        c.load(std::sync::atomic::Ordering::Relaxed).wrapping_add(1),
        std::sync::atomic::Ordering::Relaxed,
    );
}

/// A logger that drops every line but turns each into a coverage
/// feature. The system OpenSSL is not instrumented, so libFuzzer cannot
/// see how far a handshake got; the lines a failed handshake always logs
/// (even at loglevel 0) name OpenSSL's reason and source file:line, which
/// tells inputs that fail at different places apart.
pub fn feature_logger() -> Logger {
    Logger::with_sink(Arc::new(|_, line: &str| feature(line)))
}

/// Fixture files, made once per process in a fresh directory under
/// `$TMPDIR` (fuzz/run.sh points `TMPDIR` at its own scratch space).
pub struct Files {
    pub dir: PathBuf,
}

impl Files {
    /// The path of fixture `name` (see [`files`] for the list).
    pub fn path(&self, name: &str) -> String {
        self.dir.join(name).to_string_lossy().into_owned()
    }
}

fn write(dir: &Path, name: &str, data: &[u8]) {
    std::fs::write(dir.join(name), data).expect("write fixture");
}

/// PEM blocks of `pem` whose type line contains `kind`.
fn pem_blocks(pem: &str, kind: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in pem.lines() {
        if line.starts_with("-----BEGIN ") {
            inside = line.contains(kind);
        }
        if inside {
            out.push_str(line);
            out.push('\n');
        }
        if line.starts_with("-----END ") {
            inside = false;
        }
    }
    out
}

/// Fixture files, made on first use:
/// `rsa.pem` (key then self-signed cert, from mtatls::context::selfsigned),
/// `rsa-key.pem`, `rsa-cert.pem`, `ec.pem` (ECDSA P-256 key then cert),
/// `ec-key.pem`, `ec-cert.pem`, `ca.pem` (both certs), `ta.pem` (a cert
/// and a public key), `dh.pem` (2048-bit DH parameters), `junk.pem`
/// (a broken PEM block), `empty.pem`, `capath/` (an empty directory);
/// `missing.pem` is never created.
pub fn files() -> &'static Files {
    static FILES: OnceLock<Files> = OnceLock::new();
    FILES.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("mtatls-fuzz-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("capath")).expect("fixture dir");
        let rsa = dir.join("rsa.pem");
        mtatls::write_self_signed("fuzz.example", &rsa).expect("self-signed cert");
        let rsa_pem = std::fs::read_to_string(&rsa).expect("read rsa.pem");
        let rsa_key = pem_blocks(&rsa_pem, "PRIVATE KEY");
        let rsa_cert = pem_blocks(&rsa_pem, "CERTIFICATE");
        write(&dir, "rsa-key.pem", rsa_key.as_bytes());
        write(&dir, "rsa-cert.pem", rsa_cert.as_bytes());

        let (ec_key, ec_cert, ec_pub) = ec_chain();
        write(&dir, "ec-key.pem", ec_key.as_bytes());
        write(&dir, "ec-cert.pem", ec_cert.as_bytes());
        write(&dir, "ec.pem", format!("{ec_key}{ec_cert}").as_bytes());
        write(&dir, "ca.pem", format!("{rsa_cert}{ec_cert}").as_bytes());
        write(&dir, "ta.pem", format!("{rsa_cert}{ec_pub}").as_bytes());
        let dh = openssl::dh::Dh::get_2048_256()
            .and_then(|d| d.params_to_pem())
            .expect("dh params");
        write(&dir, "dh.pem", &dh);
        write(
            &dir,
            "junk.pem",
            b"-----BEGIN CERTIFICATE-----\nTUlJQm9vb29vb28=\n-----END CERTIFICATE-----\n",
        );
        write(&dir, "empty.pem", b"");
        Files { dir }
    })
}

/// An ECDSA P-256 key, a self-signed certificate for it, and its public key (PEM).
fn ec_chain() -> (String, String, String) {
    use openssl::asn1::Asn1Time;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::hash::MessageDigest;
    use openssl::nid::Nid;
    use openssl::pkey::PKey;
    use openssl::x509::{X509Builder, X509NameBuilder};

    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    let key = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "ec.fuzz.example").unwrap();
    let name = name.build();
    let mut b = X509Builder::new().unwrap();
    b.set_version(2).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(365).unwrap())
        .unwrap();
    b.sign(&key, MessageDigest::sha256()).unwrap();
    let s = |v: Vec<u8>| String::from_utf8(v).unwrap();
    (
        s(key.private_key_to_pem_pkcs8().unwrap()),
        s(b.build().to_pem().unwrap()),
        s(key.public_key_to_pem().unwrap()),
    )
}

/// `fcntl(fd, F_GETFD)`: `Some(flags)` while `fd` is open.
pub fn fd_flags(fd: RawFd) -> Option<libc::c_int> {
    // SAFETY: F_GETFD only queries the descriptor table.
    let r = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    (r != -1).then_some(r)
}

/// `fcntl(fd, F_GETFL)`: the file status flags (O_NONBLOCK...).
pub fn status_flags(fd: RawFd) -> libc::c_int {
    // SAFETY: F_GETFL only queries the descriptor.
    unsafe { libc::fcntl(fd, libc::F_GETFL) }
}

/// Feed `data` as the peer's whole byte stream to a session of `ctx` on a
/// socketpair (written, then shut down for writing, so the session sees
/// EOF after it), run handshake / read / write / stop with 1 s budgets,
/// and check the descriptor is still open with its status flags restored.
pub fn handshake_on_socketpair(ctx: &Arc<mtatls::Context>, data: &[u8], label: &str) {
    use std::io::Write;
    use std::net::Shutdown;
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;
    use std::time::Duration;

    use mtatls::State;
    use mtatls::Timeout;

    let (mut peer, ours) = UnixStream::pair().expect("socketpair");
    peer.set_nonblocking(true).expect("nonblocking");
    let mut off = 0;
    while off < data.len() {
        match peer.write(&data[off..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => off += n,
        }
    }
    peer.shutdown(Shutdown::Write).expect("shutdown");
    let fd = ours.as_raw_fd();
    let before = status_flags(fd);
    let budget = Some(Timeout::After(Duration::from_secs(1)));
    {
        let mut s = mtatls::Session::new(ctx.clone(), fd, label).expect("session on a live fd");
        let hs = s.handshake(budget);
        if let Err(e) = &hs {
            feature(e.message());
        }
        if s.state() == State::Established {
            let _ = (s.summary(), s.received_comment(), s.facts().is_some());
            let mut buf = [0u8; 512];
            let _ = s.read(&mut buf, budget);
            let _ = s.write(b"250 2.0.0 Ok\r\n", budget);
        } else {
            assert!(hs.is_err(), "handshake Ok but state {:?}", s.state());
        }
        let _ = s.stop(budget);
        // Every call after stop must be a clean error.
        assert!(s.handshake(budget).is_err() || s.state() == State::Established);
        let mut buf = [0u8; 16];
        let _ = s.read(&mut buf, Some(Timeout::NonBlocking));
    }
    assert!(
        fd_flags(fd).is_some(),
        "the session closed the caller's descriptor"
    );
    assert_eq!(status_flags(fd), before, "file status flags not restored");
    drop(peer);
}
