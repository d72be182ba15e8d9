//! A self-signed RSA-2048 certificate made on the spot, for servers
//! started without any certificate configured (demos, tests).

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
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

/// Write [`self_signed_pem`] to `path`, ready for `smtpd_tls_chain_files`:
/// a new file (mode 0600) when nothing is there, or a regular file
/// rewritten in place (and set to mode 0600). Anything else at `path` is
/// refused and left alone: a symbolic link is never followed or removed
/// (`O_NOFOLLOW`), a device, FIFO, socket or directory never opened for
/// writing.
pub fn write_self_signed(common_name: &str, path: &Path) -> Result<()> {
    let io_err = |e: std::io::Error| {
        Error::new(
            ErrorKind::Certificate,
            format!(
                "cannot write {}: {}",
                path.display(),
                crate::text::os_error_text(&e)
            ),
        )
    };
    let refuse = |what: &str| {
        Error::new(
            ErrorKind::InvalidArgument,
            format!(
                "self-signed certificate: {} is {what}: only a missing path or a regular file is written",
                path.display()
            ),
        )
    };
    let describe = |t: std::fs::FileType| {
        if t.is_symlink() {
            "a symbolic link"
        } else if t.is_dir() {
            "a directory"
        } else {
            "not a regular file"
        }
    };
    match std::fs::symlink_metadata(path) {
        Ok(md) if md.file_type().is_file() => {}
        Ok(md) => return Err(refuse(describe(md.file_type()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(e)),
    }
    let pem = self_signed_pem(common_name)?;
    // No O_TRUNC before the descriptor is known to be a regular file; no
    // waiting on a FIFO that appeared in between.
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                refuse("a symbolic link")
            } else {
                io_err(e)
            }
        })?;
    let md = f.metadata().map_err(io_err)?;
    if !md.file_type().is_file() {
        return Err(refuse(describe(md.file_type())));
    }
    f.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(io_err)?;
    f.set_len(0).map_err(io_err)?;
    f.write_all(&pem).map_err(io_err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> std::path::PathBuf {
        let d =
            std::env::temp_dir().join(format!("mtatls-selfsigned-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn writes_new_and_regular_files_only() {
        let d = scratch("kinds");
        let fresh = d.join("fresh.pem");
        write_self_signed("localhost", &fresh).unwrap();
        let md = std::fs::metadata(&fresh).unwrap();
        assert_eq!(md.permissions().mode() & 0o777, 0o600);
        // A regular file is rewritten in place, mode set to 0600.
        std::fs::write(&fresh, b"old").unwrap();
        std::fs::set_permissions(&fresh, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_self_signed("localhost", &fresh).unwrap();
        let text = std::fs::read_to_string(&fresh).unwrap();
        assert!(text.starts_with("-----BEGIN PRIVATE KEY-----"), "{text}");
        assert_eq!(
            std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777,
            0o600
        );
        // A symbolic link is neither followed nor removed.
        let target = d.join("admin-cert.pem");
        std::fs::write(&target, b"the administrator's certificate").unwrap();
        let link = d.join("link.pem");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let e = write_self_signed("localhost", &link).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        assert!(e.message().contains("is a symbolic link"), "{e}");
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(
            std::fs::read(&target).unwrap(),
            b"the administrator's certificate"
        );
        // A dangling link is not created through either.
        let dangling = d.join("dangling.pem");
        std::os::unix::fs::symlink(d.join("nowhere"), &dangling).unwrap();
        assert!(write_self_signed("localhost", &dangling).is_err());
        assert!(!d.join("nowhere").exists());
        // Directories and FIFOs are refused without being opened.
        let e = write_self_signed("localhost", &d).unwrap_err();
        assert!(e.message().contains("is a directory"), "{e}");
        let fifo = d.join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo");
        let e = write_self_signed("localhost", &fifo).unwrap_err();
        assert!(e.message().contains("not a regular file"), "{e}");
        let _ = std::fs::remove_dir_all(&d);
    }
}
