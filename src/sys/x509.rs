//! Safe wrappers for certificates, keys, names and PEM/DER decoding the
//! `openssl` crate does not offer in the form Postfix needs.

use std::ffi::CStr;

use foreign_types::{ForeignType, ForeignTypeRef};
use libc::{c_char, c_int, c_long};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::x509::{X509NameEntryRef, X509Ref, X509};

use super::ossl;

pub use ossl::{group_name_to_nid, name_oneline, nid_short_name, pkey_group_name, pkey_type_name};

/// One PEM object: its type line (`CERTIFICATE`, `PRIVATE KEY`, ...),
/// whether its header says it is encrypted, and its DER body.
#[derive(Debug, Clone)]
pub struct PemBlock {
    /// The word(s) after `-----BEGIN `.
    pub kind: String,
    /// The block has `Proc-Type`/`DEK-Info` headers (an encrypted key).
    pub encrypted: bool,
    /// The decoded body.
    pub der: Vec<u8>,
}

/// Every PEM block of `data`, in order, as OpenSSL's PEM reader sees them
/// (text between blocks is skipped). `None` when OpenSSL cannot even
/// allocate a reader.
pub fn pem_blocks(data: &[u8]) -> Option<Vec<PemBlock>> {
    let bio = ossl::MemBio::new(data)?;
    let mut out = Vec::new();
    // Bounded by the input: every iteration consumes at least one block.
    loop {
        let mut name: *mut c_char = std::ptr::null_mut();
        let mut header: *mut c_char = std::ptr::null_mut();
        let mut der: *mut u8 = std::ptr::null_mut();
        let mut len: c_long = 0;
        // SAFETY: bio is live; out-pointers are valid; OpenSSL allocates
        // name/header/data, which are copied and freed below.
        let ok =
            unsafe { ossl::PEM_read_bio(bio.as_ptr(), &mut name, &mut header, &mut der, &mut len) };
        if ok == 0 {
            // End of data (PEM_R_NO_START_LINE) is the normal way out.
            // SAFETY: clears this thread's queue only.
            unsafe { openssl_sys::ERR_clear_error() };
            break;
        }
        // SAFETY: on success all three pointers are valid allocations.
        let block = unsafe {
            let b = PemBlock {
                kind: CStr::from_ptr(name).to_string_lossy().into_owned(),
                encrypted: !header.is_null() && *header != 0,
                der: std::slice::from_raw_parts(der, len.max(0) as usize).to_vec(),
            };
            ossl::CRYPTO_free(name.cast(), c"x509.rs".as_ptr(), 0);
            ossl::CRYPTO_free(header.cast(), c"x509.rs".as_ptr(), 0);
            ossl::CRYPTO_free(der.cast(), c"x509.rs".as_ptr(), 0);
            b
        };
        out.push(block);
    }
    Some(out)
}

/// A DER private key (PKCS#8 or traditional) and how many bytes it used.
pub fn decode_private_key(der: &[u8]) -> Option<(PKey<Private>, usize)> {
    let mut p = der.as_ptr();
    // SAFETY: p walks within der; OpenSSL never reads past len.
    unsafe {
        let key =
            openssl_sys::d2i_AutoPrivateKey(std::ptr::null_mut(), &mut p, der.len() as c_long);
        if key.is_null() {
            return None;
        }
        Some((PKey::from_ptr(key), p.offset_from(der.as_ptr()) as usize))
    }
}

/// A DER certificate and how many bytes it used.
pub fn decode_certificate(der: &[u8]) -> Option<(X509, usize)> {
    let mut p = der.as_ptr();
    // SAFETY: as above.
    unsafe {
        let cert = openssl_sys::d2i_X509(std::ptr::null_mut(), &mut p, der.len() as c_long);
        if cert.is_null() {
            return None;
        }
        Some((X509::from_ptr(cert), p.offset_from(der.as_ptr()) as usize))
    }
}

/// The DER SubjectPublicKeyInfo of `cert`.
pub fn spki_der(cert: &X509Ref) -> Option<Vec<u8>> {
    // SAFETY: X509_get_X509_PUBKEY returns an internal pointer of the live
    // cert; i2d allocates the DER, which we copy and free with CRYPTO_free.
    unsafe {
        let pk = ossl::X509_get_X509_PUBKEY(cert.as_ptr());
        if pk.is_null() {
            return None;
        }
        let mut out: *mut u8 = std::ptr::null_mut();
        let len = ossl::i2d_X509_PUBKEY(pk, &mut out);
        if len <= 0 || out.is_null() {
            return None;
        }
        let v = std::slice::from_raw_parts(out, len as usize).to_vec();
        ossl::CRYPTO_free(out.cast(), c"x509.rs".as_ptr(), 0);
        Some(v)
    }
}

/// Digest of the bare public-key bits (`X509_pubkey_digest`, Postfix's
/// legacy public-key fingerprint).
pub fn pubkey_bits_digest(cert: &X509Ref, md: MessageDigest) -> Option<Vec<u8>> {
    let mut buf = [0u8; 64];
    let mut len: libc::c_uint = 0;
    // SAFETY: cert and md are live; buf holds EVP_MAX_MD_SIZE bytes.
    let ok =
        unsafe { ossl::X509_pubkey_digest(cert.as_ptr(), md.as_ptr(), buf.as_mut_ptr(), &mut len) };
    (ok == 1).then(|| buf[..len as usize].to_vec())
}

/// A name entry's value as UTF-8 bytes, or `Err(ASN.1 type)` when OpenSSL
/// cannot decode it.
pub fn entry_utf8(entry: &X509NameEntryRef) -> Result<Vec<u8>, c_int> {
    let data = entry.data();
    let mut out: *mut u8 = std::ptr::null_mut();
    // SAFETY: data is a live ASN1_STRING; on success OpenSSL allocates
    // `len` bytes (plus NUL) that we copy and free.
    unsafe {
        let len = openssl_sys::ASN1_STRING_to_UTF8(&mut out, data.as_ptr());
        if len < 0 || out.is_null() {
            return Err(openssl_sys::ASN1_STRING_type(data.as_ptr()));
        }
        let bytes = std::slice::from_raw_parts(out, len as usize).to_vec();
        ossl::CRYPTO_free(out.cast(), c"x509.rs".as_ptr(), 0);
        Ok(bytes)
    }
}

/// OpenSSL's text for an `X509_V_ERR_*` code.
pub fn verify_error_text(code: c_int) -> String {
    // SAFETY: X509_verify_cert_error_string returns a static string.
    unsafe { CStr::from_ptr(openssl_sys::X509_verify_cert_error_string(code as c_long)) }
        .to_string_lossy()
        .into_owned()
}

/// `X509_V_ERR_UNSPECIFIED`.
pub const V_ERR_UNSPECIFIED: c_int = ossl::X509_V_ERR_UNSPECIFIED;

/// The verification result for code `code` (any `X509_V_ERR_*` value).
pub fn verify_result(code: c_int) -> openssl::x509::X509VerifyResult {
    // SAFETY: any integer is a valid (possibly unknown) verify result code;
    // OpenSSL only formats it.
    unsafe { openssl::x509::X509VerifyResult::from_raw(code) }
}

/// A cipher Postfix accepts for session tickets: CBC mode, 16-byte IV,
/// 16..32-byte key.
pub fn usable_ticket_cipher(name: &str) -> bool {
    let Ok(c) = std::ffi::CString::new(name) else {
        return false;
    };
    // SAFETY: c is a valid C string; the result is a static cipher or NULL.
    unsafe {
        let cipher = openssl_sys::EVP_get_cipherbyname(c.as_ptr());
        !cipher.is_null()
            && ossl::EVP_CIPHER_get_mode(cipher) == ossl::EVP_CIPH_CBC_MODE
            && ossl::EVP_CIPHER_get_iv_length(cipher) == 16
            && (16..=32).contains(&ossl::EVP_CIPHER_get_key_length(cipher))
    }
}

/// `X509_V_ERR_*` codes Postfix gives its own wording.
pub mod codes {
    pub use openssl_sys::{
        X509_V_ERR_CERT_CHAIN_TOO_LONG, X509_V_ERR_CERT_HAS_EXPIRED, X509_V_ERR_CERT_NOT_YET_VALID,
        X509_V_ERR_CERT_UNTRUSTED, X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT,
        X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD, X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD,
        X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_INVALID_PURPOSE,
        X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT,
        X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
    };
}
