//! A self-signed RSA-2048 certificate made on the spot, for servers
//! started without any certificate configured (demos, tests).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use openssl::x509::extension::{BasicConstraints, SubjectAlternativeName};
use openssl::x509::{X509Builder, X509NameBuilder};

use crate::error::{Error, ErrorKind, Result};

fn ossl_err(e: openssl::error::ErrorStack) -> Error {
    Error::new(
        ErrorKind::Certificate,
        format!("cannot make a self-signed certificate: {e}"),
    )
}

/// PEM text of a new RSA-2048 key followed by a self-signed certificate
/// for `common_name` (also its DNS subjectAltName), valid for one year.
pub fn self_signed_pem(common_name: &str) -> Result<Vec<u8>> {
    if common_name.is_empty() || common_name.len() > 64 {
        return Err(Error::new(
            ErrorKind::InvalidValue,
            format!(
                "self-signed certificate: bad common name \"{common_name}\" (1 to 64 characters)"
            ),
        ));
    }
    let key = PKey::from_rsa(Rsa::generate(2048).map_err(ossl_err)?).map_err(ossl_err)?;
    let mut name = X509NameBuilder::new().map_err(ossl_err)?;
    name.append_entry_by_text("CN", common_name)
        .map_err(ossl_err)?;
    let name = name.build();
    let mut b = X509Builder::new().map_err(ossl_err)?;
    b.set_version(2).map_err(ossl_err)?;
    let mut serial = BigNum::new().map_err(ossl_err)?;
    serial
        .rand(64, MsbOption::MAYBE_ZERO, false)
        .map_err(ossl_err)?;
    let serial = serial.to_asn1_integer().map_err(ossl_err)?;
    b.set_serial_number(&serial).map_err(ossl_err)?;
    b.set_subject_name(&name).map_err(ossl_err)?;
    b.set_issuer_name(&name).map_err(ossl_err)?;
    b.set_pubkey(&key).map_err(ossl_err)?;
    let not_before = Asn1Time::days_from_now(0).map_err(ossl_err)?;
    let not_after = Asn1Time::days_from_now(365).map_err(ossl_err)?;
    b.set_not_before(&not_before).map_err(ossl_err)?;
    b.set_not_after(&not_after).map_err(ossl_err)?;
    b.append_extension(
        BasicConstraints::new()
            .critical()
            .build()
            .map_err(ossl_err)?,
    )
    .map_err(ossl_err)?;
    let san = SubjectAlternativeName::new()
        .dns(common_name)
        .build(&b.x509v3_context(None, None))
        .map_err(ossl_err)?;
    b.append_extension(san).map_err(ossl_err)?;
    b.sign(&key, MessageDigest::sha256()).map_err(ossl_err)?;
    let mut pem = key.private_key_to_pem_pkcs8().map_err(ossl_err)?;
    pem.extend(b.build().to_pem().map_err(ossl_err)?);
    Ok(pem)
}

/// Write [`self_signed_pem`] to `path` (created with mode 0600, replaced
/// if it exists), ready for `smtpd_tls_chain_files`.
pub fn write_self_signed(common_name: &str, path: &Path) -> Result<()> {
    let pem = self_signed_pem(common_name)?;
    let io_err = |e: std::io::Error| {
        Error::new(
            ErrorKind::Certificate,
            format!(
                "cannot write {}: {}",
                path.display(),
                crate::certs::strip_os_error(&e)
            ),
        )
    };
    let _ = std::fs::remove_file(path);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io_err)?;
    f.write_all(&pem).map_err(io_err)?;
    Ok(())
}
