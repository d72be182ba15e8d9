//! A test PKI made at run time with (real) OpenSSL: a root CA, an
//! intermediate, leaves for RSA, ECDSA and Ed25519 with subjectAltNames, a
//! wildcard leaf, an expired and a not-yet-valid leaf, a leaf for another
//! name, a self-signed leaf, a leaf from an untrusted CA, and client
//! certificates. Written as Postfix chain files (key, leaf, intermediate).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::extension::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
};
use openssl::x509::{X509Builder, X509NameBuilder, X509};

/// The names every good server leaf carries.
pub const SERVER_NAME: &str = "mail.example.test";
/// Second name on good server leaves.
pub const SERVER_ALT_NAME: &str = "mx.example.test";

/// Key types of leaves.
#[derive(Clone, Copy)]
pub enum Alg {
    Rsa,
    Ecdsa,
    Ed25519,
}

fn key(alg: Alg) -> PKey<Private> {
    match alg {
        Alg::Rsa => PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap(),
        Alg::Ecdsa => {
            let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
            PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap()
        }
        Alg::Ed25519 => PKey::generate_ed25519().unwrap(),
    }
}

/// A certificate with its key.
pub struct Issued {
    pub key: PKey<Private>,
    pub cert: X509,
}

/// Validity window in days relative to now.
#[derive(Clone, Copy)]
pub struct Window(pub i64, pub i64);

const VALID: Window = Window(-1, 365);

fn time(days: i64) -> Asn1Time {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        + days * 86400;
    Asn1Time::from_unix(secs).unwrap()
}

struct Spec<'a> {
    cn: &'a str,
    sans: &'a [&'a str],
    ca: bool,
    client: bool,
    window: Window,
}

fn issue(spec: &Spec, alg: Alg, issuer: Option<&Issued>) -> Issued {
    let key = key(alg);
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("O", "mtatls-test").unwrap();
    name.append_entry_by_text("CN", spec.cn).unwrap();
    let name = name.build();
    let mut b = X509Builder::new().unwrap();
    b.set_version(2).unwrap();
    let mut serial = BigNum::new().unwrap();
    serial.rand(64, MsbOption::MAYBE_ZERO, false).unwrap();
    b.set_serial_number(&serial.to_asn1_integer().unwrap())
        .unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(issuer.map_or(&*name, |i| i.cert.subject_name()))
        .unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&time(spec.window.0)).unwrap();
    b.set_not_after(&time(spec.window.1)).unwrap();
    if spec.ca {
        b.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
            .unwrap();
        b.append_extension(
            KeyUsage::new()
                .critical()
                .key_cert_sign()
                .crl_sign()
                .build()
                .unwrap(),
        )
        .unwrap();
    } else {
        b.append_extension(BasicConstraints::new().critical().build().unwrap())
            .unwrap();
        let mut eku = ExtendedKeyUsage::new();
        if spec.client {
            eku.client_auth();
        } else {
            eku.server_auth();
        }
        b.append_extension(eku.build().unwrap()).unwrap();
    }
    if !spec.sans.is_empty() {
        let mut san = SubjectAlternativeName::new();
        for n in spec.sans {
            san.dns(n);
        }
        let ext = san
            .build(&b.x509v3_context(issuer.map(|i| &*i.cert), None))
            .unwrap();
        b.append_extension(ext).unwrap();
    }
    let (sign_key, md) = match issuer {
        Some(i) => (&i.key, MessageDigest::sha256()),
        None => (&key, MessageDigest::sha256()),
    };
    let md = if matches!(alg, Alg::Ed25519) && issuer.is_none() {
        MessageDigest::null()
    } else {
        md
    };
    b.sign(sign_key, md).unwrap();
    Issued {
        key,
        cert: b.build(),
    }
}

/// The test PKI, written to a directory.
pub struct Pki {
    pub dir: PathBuf,
}

impl Pki {
    /// Path of a file in the PKI directory.
    pub fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    /// Certificate of `name` (a `*.crt` stem).
    pub fn cert(&self, name: &str) -> X509 {
        X509::from_pem(&std::fs::read(self.dir.join(format!("{name}.crt"))).unwrap()).unwrap()
    }

    /// SHA-256 certificate fingerprint of `name`, colon hex.
    pub fn cert_sha256(&self, name: &str) -> String {
        colon_hex(&self.cert(name).digest(MessageDigest::sha256()).unwrap())
    }

    /// SHA-256 public-key (SPKI) fingerprint of `name`, colon hex.
    pub fn spki_sha256(&self, name: &str) -> String {
        colon_hex(&self.spki_digest(name, MessageDigest::sha256()))
    }

    /// Digest of the DER SubjectPublicKeyInfo of `name`.
    pub fn spki_digest(&self, name: &str, md: MessageDigest) -> Vec<u8> {
        let der = self
            .cert(name)
            .public_key()
            .unwrap()
            .public_key_to_der()
            .unwrap();
        openssl::hash::hash(md, &der).unwrap().to_vec()
    }
}

/// Upper-case colon hex.
pub fn colon_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn write(dir: &Path, name: &str, items: &[&Issued], extra: &[&X509]) {
    let mut pem = Vec::new();
    if let Some(first) = items.first() {
        pem.extend(first.key.private_key_to_pem_pkcs8().unwrap());
    }
    for i in items {
        pem.extend(i.cert.to_pem().unwrap());
    }
    for c in extra {
        pem.extend(c.to_pem().unwrap());
    }
    std::fs::write(dir.join(format!("{name}.pem")), pem).unwrap();
    std::fs::write(
        dir.join(format!("{name}.crt")),
        items[0].cert.to_pem().unwrap(),
    )
    .unwrap();
}

/// The PKI for this test process (made once).
pub fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let dir = super::scratch_dir("pki");
        let ca = |cn: &str, issuer: Option<&Issued>| {
            issue(
                &Spec {
                    cn,
                    sans: &[],
                    ca: true,
                    client: false,
                    window: Window(-30, 3650),
                },
                Alg::Rsa,
                issuer,
            )
        };
        let root = ca("Test Root CA", None);
        let inter = ca("Test Intermediate CA", Some(&root));
        let evil = ca("Evil CA", None);
        let good = [SERVER_NAME, SERVER_ALT_NAME];
        let leaf = |cn: &str, sans: &[&str], window: Window, alg: Alg, issuer: &Issued| {
            issue(
                &Spec {
                    cn,
                    sans,
                    ca: false,
                    client: false,
                    window,
                },
                alg,
                Some(issuer),
            )
        };
        std::fs::write(dir.join("root.pem"), root.cert.to_pem().unwrap()).unwrap();
        std::fs::write(dir.join("inter.crt"), inter.cert.to_pem().unwrap()).unwrap();
        let mut bundle = root.cert.to_pem().unwrap();
        bundle.extend(inter.cert.to_pem().unwrap());
        std::fs::write(dir.join("ca-bundle.pem"), bundle).unwrap();
        let i = &inter;
        for (name, item) in [
            ("rsa", leaf(SERVER_NAME, &good, VALID, Alg::Rsa, i)),
            ("ecdsa", leaf(SERVER_NAME, &good, VALID, Alg::Ecdsa, i)),
            ("ed25519", leaf(SERVER_NAME, &good, VALID, Alg::Ed25519, i)),
            (
                "wildcard",
                leaf("*.example.test", &["*.example.test"], VALID, Alg::Rsa, i),
            ),
            (
                "expired",
                leaf(SERVER_NAME, &good, Window(-60, -30), Alg::Rsa, i),
            ),
            (
                "notyet",
                leaf(SERVER_NAME, &good, Window(30, 60), Alg::Rsa, i),
            ),
            (
                "wrongname",
                leaf(
                    "other.example.org",
                    &["other.example.org"],
                    VALID,
                    Alg::Rsa,
                    i,
                ),
            ),
            ("client", {
                issue(
                    &Spec {
                        cn: "client.example.test",
                        sans: &["client.example.test"],
                        ca: false,
                        client: true,
                        window: VALID,
                    },
                    Alg::Rsa,
                    Some(i),
                )
            }),
        ] {
            write(&dir, name, &[&item], &[&inter.cert]);
        }
        let selfsigned = issue(
            &Spec {
                cn: SERVER_NAME,
                sans: &good,
                ca: false,
                client: false,
                window: VALID,
            },
            Alg::Rsa,
            None,
        );
        write(&dir, "selfsigned", &[&selfsigned], &[]);
        let untrusted = leaf(SERVER_NAME, &good, VALID, Alg::Rsa, &evil);
        // As a man in the middle would: a leaf from a CA nobody trusts.
        write(&dir, "untrusted", &[&untrusted], &[]);
        let selfclient = issue(
            &Spec {
                cn: "self.client.test",
                sans: &["self.client.test"],
                ca: false,
                client: true,
                window: VALID,
            },
            Alg::Rsa,
            None,
        );
        write(&dir, "selfclient", &[&selfclient], &[]);
        Pki { dir }
    })
}
