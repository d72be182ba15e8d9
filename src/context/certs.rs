//! Keys and certificates, read once when a context is built: Postfix's
//! chain files (`*_tls_chain_files`: key, certificate, chain, repeated per
//! algorithm), the legacy cert/key pairs, and the CA trust store.
//! PEM decoding is OpenSSL's (`PEM_read_bio`, `d2i_*`).

use std::path::Path;

use openssl::pkey::{Id, PKey, Private};
use openssl::ssl::SslContextBuilder;
use openssl::x509::X509;

use crate::error::{Error, ErrorKind, Result};
use crate::logging::openssl_reasons;
use crate::sys::ssl::{ctx_load_verify_locations, ctx_use_cert_and_key};
use crate::sys::x509::{decode_certificate, decode_private_key, pem_blocks};

/// One private key with its leaf certificate and chain.
pub struct KeyChain {
    /// The private key.
    pub key: PKey<Private>,
    /// The leaf certificate (matches `key`).
    pub cert: X509,
    /// Intermediate certificates, leaf's issuer first.
    pub chain: Vec<X509>,
}

/// A decoded PEM object.
enum PemObject {
    Key(PKey<Private>),
    Cert(X509),
    /// A DER SubjectPublicKeyInfo (`PUBLIC KEY`).
    PublicKey(Vec<u8>),
    Other(String),
}

fn cert_error(msg: String) -> Error {
    Error::new(ErrorKind::Certificate, msg)
}

/// Decode every PEM object of `data` (named `file` in messages), numbering
/// them from `first_index`.
fn read_pem_objects(
    data: &[u8],
    file: &str,
    first_index: usize,
) -> Result<Vec<(usize, PemObject)>> {
    let blocks = pem_blocks(data)
        .ok_or_else(|| cert_error(format!("error reading {file}: {}", openssl_reasons())))?;
    let mut out = Vec::new();
    for block in blocks {
        let index = first_index + out.len();
        let (type_name, encrypted, bytes) = (block.kind, block.encrypted, block.der);
        let object = match type_name.as_str() {
            "PRIVATE KEY" | "RSA PRIVATE KEY" | "EC PRIVATE KEY" | "DSA PRIVATE KEY" => {
                let key = if encrypted { None } else { decode_key(&bytes) };
                match key {
                    Some((key, used)) if used == bytes.len() => PemObject::Key(key),
                    Some(_) => {
                        return Err(cert_error(format!(
                            "error loading private key (PEM object number {index}) from {file}: excess data"
                        )))
                    }
                    None => {
                        return Err(cert_error(format!(
                            "error loading private key (PEM object number {index}) from {file}"
                        ))
                        .with_detail(&openssl_reasons()))
                    }
                }
            }
            "CERTIFICATE" | "X509 CERTIFICATE" => match decode_cert(&bytes) {
                Some((cert, used)) if used == bytes.len() => PemObject::Cert(cert),
                Some(_) => {
                    return Err(cert_error(format!(
                        "error loading certificate (PEM object number {index}) from {file}: excess data"
                    )))
                }
                None => {
                    return Err(cert_error(format!(
                        "error loading certificate (PEM object number {index}) from {file}"
                    ))
                    .with_detail(&openssl_reasons()))
                }
            },
            "PUBLIC KEY" => match PKey::public_key_from_der(&bytes) {
                Ok(_) => PemObject::PublicKey(bytes),
                Err(e) => {
                    return Err(cert_error(format!(
                        "error loading public key (PEM object number {index}) from {file}: {e}"
                    )))
                }
            },
            _ => PemObject::Other(type_name),
        };
        out.push((index, object));
    }
    Ok(out)
}

fn decode_key(der: &[u8]) -> Option<(PKey<Private>, usize)> {
    decode_private_key(der)
}

fn decode_cert(der: &[u8]) -> Option<(X509, usize)> {
    decode_certificate(der)
}

fn read_file(file: &str, what: &str) -> Result<Vec<u8>> {
    std::fs::read(Path::new(file)).map_err(|e| {
        cert_error(format!(
            "error opening {what}: {file}: {}",
            crate::text::os_error_text(&e)
        ))
    })
}

fn key_matches(key: &PKey<Private>, cert: &X509) -> bool {
    cert.public_key()
        .map(|pk| key.public_eq(&pk))
        .unwrap_or(false)
}

/// Load Postfix chain files: all files as one PEM stream of
/// `key, cert, [chain...], key, cert, ...`. `origin` is the parameter value.
pub fn load_chain_files(
    files: &[&str],
    origin: &str,
    warn: &mut dyn FnMut(String),
) -> Result<Vec<KeyChain>> {
    let mut objects = Vec::new();
    let mut first = 1;
    for file in files {
        let data = read_file(file, "chain file")?;
        let objs = read_pem_objects(&data, file, first)?;
        first += objs.len();
        objects.extend(objs.into_iter().map(|(i, o)| (i, o, *file)));
    }
    if objects.is_empty() {
        return Err(cert_error(format!("No PEM data in {origin}")));
    }
    let mut chains: Vec<KeyChain> = Vec::new();
    let mut pending_key: Option<(usize, &str, PKey<Private>)> = None;
    for (index, object, file) in objects {
        match object {
            PemObject::Other(t) => warn(format!("loading {file}: ignoring PEM type: {t}")),
            PemObject::PublicKey(_) => {
                warn(format!("loading {file}: ignoring PEM type: PUBLIC KEY"))
            }
            PemObject::Key(key) => {
                if let Some((kidx, kfile, _)) = pending_key {
                    return Err(cert_error(format!(
                        "error loading certificate chain: key at index {kidx} in {kfile} not followed by a certificate"
                    )));
                }
                pending_key = Some((index, file, key));
            }
            PemObject::Cert(cert) => match pending_key.take() {
                Some((kidx, kfile, key)) => {
                    if !key_matches(&key, &cert) {
                        return Err(cert_error(format!(
                            "error loading certificate chain: key at index {kidx} in {kfile} does not match the certificate"
                        )));
                    }
                    chains.push(KeyChain {
                        key,
                        cert,
                        chain: Vec::new(),
                    });
                }
                None => match chains.last_mut() {
                    Some(last) => last.chain.push(cert),
                    None => {
                        return Err(cert_error(format!(
                            "error loading chain from {file}: key not first"
                        )))
                    }
                },
            },
        }
    }
    if let Some((kidx, kfile, _)) = pending_key {
        return Err(cert_error(format!(
            "No certs for key at index {kidx} in {kfile}"
        )));
    }
    Ok(chains)
}

/// Load one legacy pair (`*_tls_cert_file` / `*_tls_key_file`). `kind` is
/// `RSA`, `ECDSA` or `DSA`. The same file for both is read in "mixed" mode.
pub fn load_pair(
    cert_file: &str,
    key_file: &str,
    kind: &str,
    warn: &mut dyn FnMut(String),
) -> Result<KeyChain> {
    if cert_file == key_file {
        let data = read_file(cert_file, "certificate file")?;
        let mut key: Option<(usize, PKey<Private>)> = None;
        let mut certs = Vec::new();
        for (index, object) in read_pem_objects(&data, cert_file, 1)? {
            match object {
                PemObject::Key(k) => match &key {
                    Some((first, _)) => warn(format!(
                        "ignoring 2nd key at index {index} in {cert_file} after 1st at {first}"
                    )),
                    None => key = Some((index, k)),
                },
                PemObject::Cert(c) => certs.push(c),
                PemObject::PublicKey(_) => warn(format!(
                    "loading {cert_file}: ignoring PEM type: PUBLIC KEY"
                )),
                PemObject::Other(t) => warn(format!("loading {cert_file}: ignoring PEM type: {t}")),
            }
        }
        let Some((_, key)) = key else {
            return Err(cert_error(format!("No private key found in {cert_file}")));
        };
        if certs.is_empty() {
            return Err(cert_error(format!(
                "cannot get {kind} certificate from file \"{cert_file}\": disabling TLS support"
            )));
        }
        let cert = certs.remove(0);
        if !key_matches(&key, &cert) {
            return Err(cert_error(format!(
                "{kind} private key in {key_file} does not match public key in {cert_file}: disabling TLS support"
            )));
        }
        return Ok(KeyChain {
            key,
            cert,
            chain: certs,
        });
    }
    let cert_data = read_file(cert_file, "certificate file").map_err(|_| {
        cert_error(format!(
            "cannot get {kind} certificate from file \"{cert_file}\": disabling TLS support"
        ))
    })?;
    let mut certs = X509::stack_from_pem(&cert_data).unwrap_or_default();
    if certs.is_empty() {
        openssl_reasons();
        return Err(cert_error(format!(
            "cannot get {kind} certificate from file \"{cert_file}\": disabling TLS support"
        )));
    }
    let no_key = || {
        cert_error(format!(
            "cannot get {kind} private key from file \"{key_file}\": disabling TLS support"
        ))
    };
    let key_data = read_file(key_file, "key file").map_err(|_| no_key())?;
    let key = PKey::private_key_from_pem(&key_data).map_err(|_| no_key())?;
    let cert = certs.remove(0);
    if !key_matches(&key, &cert) {
        return Err(cert_error(format!(
            "{kind} private key in {key_file} does not match public key in {cert_file}: disabling TLS support"
        )));
    }
    Ok(KeyChain {
        key,
        cert,
        chain: certs,
    })
}

/// Trust anchors from `smtp_tls_trust_anchor_file`: each certificate as a
/// DANE TA(2) full-certificate association (selector 0) and each public
/// key as an SPKI association (selector 1), with the DER data.
pub fn load_trust_anchors(file: &str, warn: &mut dyn FnMut(String)) -> Result<Vec<(u8, Vec<u8>)>> {
    let data = read_file(file, "trust anchor file")?;
    let mut anchors = Vec::new();
    for (_, object) in read_pem_objects(&data, file, 1)? {
        match object {
            PemObject::Cert(c) => {
                anchors.push((0, c.to_der().map_err(|e| cert_error(e.to_string()))?))
            }
            PemObject::PublicKey(der) => anchors.push((1, der)),
            PemObject::Key(_) => warn(format!("loading {file}: ignoring PEM type: PRIVATE KEY")),
            PemObject::Other(t) => warn(format!("loading {file}: ignoring PEM type: {t}")),
        }
    }
    if anchors.is_empty() {
        return Err(cert_error(format!(
            "error loading trust anchors from {file}: no certificates or public keys"
        )));
    }
    Ok(anchors)
}

/// Load the trust anchors of every file of `list` (a Postfix list, as
/// `*_tls_trust_anchor_file`), in order.
pub fn load_trust_anchor_files(
    list: &str,
    warn: &mut dyn FnMut(String),
) -> Result<Vec<(u8, Vec<u8>)>> {
    let mut anchors = Vec::new();
    for file in crate::config::params::split_list(list) {
        anchors.extend(load_trust_anchors(file, warn)?);
    }
    Ok(anchors)
}

/// Short algorithm name of a key, for messages.
pub fn key_algorithm(key: &PKey<Private>) -> &'static str {
    match key.id() {
        Id::RSA => "RSA",
        Id::RSA_PSS => "RSA-PSS",
        Id::EC => "ECDSA",
        Id::ED25519 => "Ed25519",
        Id::ED448 => "Ed448",
        Id::DSA => "DSA",
        _ => "other",
    }
}

/// Install each key with its own leaf and chain (one per algorithm slot).
pub fn install(b: &mut SslContextBuilder, chains: &[KeyChain], origin: &str) -> Result<()> {
    for kc in chains {
        if !ctx_use_cert_and_key(b, &kc.cert, &kc.key, &kc.chain) {
            return Err(cert_error(format!(
                "error loading private keys and certificates from: {origin}: cannot use the {} key",
                key_algorithm(&kc.key)
            ))
            .with_detail(&openssl_reasons()));
        }
    }
    Ok(())
}

/// Load the CA store from `ca_file` / `ca_path` (either may be empty; with
/// both empty nothing is loaded) and, if asked, the system default store.
pub fn load_trust(
    b: &mut SslContextBuilder,
    ca_file: &str,
    ca_path: &str,
    append_default: bool,
) -> Result<()> {
    if ca_file.is_empty() && ca_path.is_empty() {
        return Ok(());
    }
    let file = (!ca_file.is_empty()).then(|| std::ffi::CString::new(ca_file));
    let path = (!ca_path.is_empty()).then(|| std::ffi::CString::new(ca_path));
    let describe = || {
        let mut parts = Vec::new();
        if !ca_file.is_empty() {
            parts.push(format!("CAfile=\"{ca_file}\""));
        }
        if !ca_path.is_empty() {
            parts.push(format!("CApath=\"{ca_path}\""));
        }
        format!(
            "cannot load Certification Authority data, {}: disabling TLS support",
            parts.join(", ")
        )
    };
    let (Ok(file), Ok(path)) = (file.transpose(), path.transpose()) else {
        return Err(Error::new(ErrorKind::CaStore, describe()));
    };
    // OpenSSL only looks into CApath when verifying; check it now, so a
    // typo is an error at start and not a silently empty trust store.
    if !ca_path.is_empty() {
        if let Err(e) = std::fs::read_dir(ca_path) {
            return Err(Error::new(ErrorKind::CaStore, describe())
                .with_detail(&crate::text::os_error_text(&e)));
        }
    }
    if !ctx_load_verify_locations(b, file.as_deref(), path.as_deref()) {
        return Err(Error::new(ErrorKind::CaStore, describe()).with_detail(&openssl_reasons()));
    }
    if append_default {
        b.set_default_verify_paths()
            .map_err(|e| Error::new(ErrorKind::CaStore, describe()).with_detail(&e.to_string()))?;
    }
    Ok(())
}
