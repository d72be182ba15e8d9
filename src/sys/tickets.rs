//! OpenSSL's session-ticket key callback: the cipher and HMAC set-up for
//! each ticket a server issues or decrypts, with the keys chosen by a
//! [`TicketHandler`] of the layer above.

use std::ffi::CString;

use foreign_types::ForeignTypeRef;
use libc::{c_int, c_uchar};
use openssl::ssl::{SslContextBuilder, SslRef};

use super::ossl;

/// Overwrite `bytes` with zeros in a way the compiler keeps (key material
/// must not linger in freed memory).
pub fn zeroize(bytes: &mut [u8]) {
    for b in bytes.iter_mut() {
        // SAFETY: writing through a valid &mut u8.
        unsafe { std::ptr::write_volatile(b, 0) };
    }
}

/// The key material for one ticket.
pub struct TicketUse {
    /// OpenSSL name of the ticket cipher (CBC mode, 16-byte IV).
    pub cipher: CString,
    /// Sent in the clear in each ticket to find the key again.
    pub name: [u8; 16],
    /// Cipher key (the cipher uses as many bytes as it needs).
    pub cipher_key: [u8; 32],
    /// HMAC-SHA256 key.
    pub hmac_key: [u8; 32],
    /// Decrypting: the ticket is good, but a fresh one should be issued.
    pub renew: bool,
}

impl Drop for TicketUse {
    fn drop(&mut self) {
        zeroize(&mut self.cipher_key);
        zeroize(&mut self.hmac_key);
    }
}

/// Chooses ticket keys for a server context.
pub trait TicketHandler {
    /// The key to encrypt a new ticket with; `None` fails the handshake's
    /// ticket (OpenSSL then sends none).
    fn encrypt_key(ssl: &SslRef) -> Option<TicketUse>;
    /// The key named `name`; `Ok(None)` when unknown or retired (a full
    /// handshake follows), `Err` on an internal failure.
    #[allow(clippy::result_unit_err)]
    fn decrypt_key(ssl: &SslRef, name: &[u8; 16]) -> Result<Option<TicketUse>, ()>;
}

unsafe extern "C" fn ticket_trampoline<H: TicketHandler>(
    ssl: *mut openssl_sys::SSL,
    key_name: *mut c_uchar,
    iv: *mut c_uchar,
    cctx: *mut openssl_sys::EVP_CIPHER_CTX,
    hctx: *mut openssl_sys::EVP_MAC_CTX,
    enc: c_int,
) -> c_int {
    std::panic::catch_unwind(|| {
        // SAFETY: OpenSSL passes live objects and 16-byte name/IV buffers.
        unsafe { ticket::<H>(ssl, key_name, iv, cctx, hctx, enc) }
    })
    .unwrap_or(-1)
}

/// # Safety
/// The arguments are those OpenSSL passes to the ticket key callback.
unsafe fn ticket<H: TicketHandler>(
    ssl: *mut openssl_sys::SSL,
    key_name: *mut c_uchar,
    iv: *mut c_uchar,
    cctx: *mut openssl_sys::EVP_CIPHER_CTX,
    hctx: *mut openssl_sys::EVP_MAC_CTX,
    enc: c_int,
) -> c_int {
    // SAFETY: as the function's contract says.
    unsafe {
        let ssl_ref = SslRef::from_ptr(ssl);
        let (key, status) = if enc == 1 {
            let Some(key) = H::encrypt_key(ssl_ref) else {
                return -1;
            };
            let cipher = openssl_sys::EVP_get_cipherbyname(key.cipher.as_ptr());
            if cipher.is_null() {
                return -1;
            }
            let iv_len = ossl::EVP_CIPHER_get_iv_length(cipher).clamp(0, 16) as usize;
            if openssl::rand::rand_bytes(std::slice::from_raw_parts_mut(iv, iv_len)).is_err() {
                return -1;
            }
            std::ptr::copy_nonoverlapping(key.name.as_ptr(), key_name, 16);
            if openssl_sys::EVP_EncryptInit_ex(
                cctx,
                cipher,
                std::ptr::null_mut(),
                key.cipher_key.as_ptr(),
                iv,
            ) != 1
            {
                return -1;
            }
            (key, 1)
        } else {
            let mut name = [0u8; 16];
            std::ptr::copy_nonoverlapping(key_name, name.as_mut_ptr(), 16);
            let key = match H::decrypt_key(ssl_ref, &name) {
                Ok(Some(key)) => key,
                // Unknown or retired key: a full handshake, then a new ticket.
                Ok(None) => return 0,
                Err(()) => return -1,
            };
            let cipher = openssl_sys::EVP_get_cipherbyname(key.cipher.as_ptr());
            if cipher.is_null() {
                return -1;
            }
            if openssl_sys::EVP_DecryptInit_ex(
                cctx,
                cipher,
                std::ptr::null_mut(),
                key.cipher_key.as_ptr(),
                iv,
            ) != 1
            {
                return -1;
            }
            // 2: valid, but issue a fresh ticket under the current key.
            let status = if key.renew { 2 } else { 1 };
            (key, status)
        };
        let mut hmac_key = key.hmac_key;
        let params = [
            ossl::OSSL_PARAM_construct_utf8_string(
                c"digest".as_ptr(),
                c"SHA256".as_ptr() as *mut _,
                0,
            ),
            openssl_sys::OSSL_PARAM_construct_octet_string(
                c"key".as_ptr(),
                hmac_key.as_mut_ptr().cast(),
                hmac_key.len(),
            ),
            openssl_sys::OSSL_PARAM_construct_end(),
        ];
        let ok = openssl_sys::EVP_MAC_CTX_set_params(hctx, params.as_ptr()) == 1;
        zeroize(&mut hmac_key);
        if ok {
            status
        } else {
            -1
        }
    }
}

/// Let `H` choose the ticket keys of the server context being built.
/// False when OpenSSL refuses the callback.
pub fn set_ticket_handler<H: TicketHandler>(b: &mut SslContextBuilder) -> bool {
    // SAFETY: b wraps a live SSL_CTX; the trampoline catches panics.
    unsafe {
        ossl::SSL_CTX_set_tlsext_ticket_key_evp_cb(b.as_ptr(), Some(ticket_trampoline::<H>)) == 1
    }
}
