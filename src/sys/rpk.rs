//! RFC 7250 raw public keys: OpenSSL 3.2 added the certificate-type
//! negotiation (`SSL_set1_client_cert_type`, `SSL_set1_server_cert_type`),
//! the peer's key (`SSL_get0_peer_rpk`) and the negotiated types. Neither
//! the `openssl` crate nor `openssl-sys` declares them, so they are
//! declared here when the OpenSSL this library is compiled against is 3.2
//! or later (`cfg(mtatls_rpk)`, set by build.rs from openssl-sys's
//! version); with an older OpenSSL every call reports "not available".

use openssl::pkey::{PKey, Public};
use openssl::ssl::{SslContextBuilder, SslRef};
use openssl::x509::X509StoreContextRef;

/// `TLSEXT_cert_type_x509`.
pub const CERT_TYPE_X509: u8 = 0;
/// `TLSEXT_cert_type_rpk`.
pub const CERT_TYPE_RPK: u8 = 2;

/// The certificate types offered where raw public keys are enabled, in
/// Postfix's order: a raw public key preferred, X.509 still accepted.
const TYPES: [u8; 2] = [CERT_TYPE_RPK, CERT_TYPE_X509];

/// Whether this build can negotiate raw public keys (compiled against
/// OpenSSL 3.2 or later).
pub const fn available() -> bool {
    cfg!(mtatls_rpk)
}

#[cfg(mtatls_rpk)]
mod imp {
    use foreign_types::{ForeignType, ForeignTypeRef};
    use libc::{c_int, c_uchar, size_t};
    use openssl::pkey::{PKey, Public};
    use openssl::ssl::{SslContextBuilder, SslRef};
    use openssl::x509::X509StoreContextRef;
    use openssl_sys::{EVP_PKEY, SSL, SSL_CTX, X509_STORE_CTX};

    extern "C" {
        fn SSL_CTX_set1_client_cert_type(
            ctx: *mut SSL_CTX,
            val: *const c_uchar,
            len: size_t,
        ) -> c_int;
        fn SSL_CTX_set1_server_cert_type(
            ctx: *mut SSL_CTX,
            val: *const c_uchar,
            len: size_t,
        ) -> c_int;
        fn SSL_set1_client_cert_type(s: *mut SSL, val: *const c_uchar, len: size_t) -> c_int;
        fn SSL_set1_server_cert_type(s: *mut SSL, val: *const c_uchar, len: size_t) -> c_int;
        fn SSL_get0_peer_rpk(s: *const SSL) -> *mut EVP_PKEY;
        fn SSL_get_negotiated_client_cert_type(s: *const SSL) -> c_int;
        fn SSL_get_negotiated_server_cert_type(s: *const SSL) -> c_int;
        fn X509_STORE_CTX_get0_rpk(ctx: *const X509_STORE_CTX) -> *mut EVP_PKEY;
    }

    pub fn ctx_set_types(b: &mut SslContextBuilder, types: &[u8], client: bool) -> bool {
        // SAFETY: the builder's SSL_CTX is live; OpenSSL copies the list.
        unsafe {
            let f = if client {
                SSL_CTX_set1_client_cert_type
            } else {
                SSL_CTX_set1_server_cert_type
            };
            f(b.as_ptr(), types.as_ptr(), types.len()) == 1
        }
    }

    pub fn ssl_set_types(ssl: &mut SslRef, types: &[u8], client: bool) -> bool {
        // SAFETY: the SSL is live; OpenSSL copies the list.
        unsafe {
            let f = if client {
                SSL_set1_client_cert_type
            } else {
                SSL_set1_server_cert_type
            };
            f(ssl.as_ptr(), types.as_ptr(), types.len()) == 1
        }
    }

    pub fn peer_rpk(ssl: &SslRef) -> Option<PKey<Public>> {
        // SAFETY: the SSL is live; get0 borrows the key, which is up-ref'd
        // before it is wrapped in an owning PKey.
        unsafe {
            let p = SSL_get0_peer_rpk(ssl.as_ptr());
            if p.is_null() || openssl_sys::EVP_PKEY_up_ref(p) != 1 {
                return None;
            }
            Some(PKey::from_ptr(p))
        }
    }

    pub fn negotiated(ssl: &SslRef, client: bool) -> i32 {
        // SAFETY: plain queries on a live SSL.
        unsafe {
            if client {
                SSL_get_negotiated_client_cert_type(ssl.as_ptr())
            } else {
                SSL_get_negotiated_server_cert_type(ssl.as_ptr())
            }
        }
    }

    pub fn store_has_rpk(store: &X509StoreContextRef) -> bool {
        // SAFETY: the store context is live during the callback.
        unsafe { !X509_STORE_CTX_get0_rpk(store.as_ptr()).is_null() }
    }
}

/// Offer (and accept) a raw public key from the client, X.509 still
/// accepted, on every session of a context. `false`: not available or
/// OpenSSL refused.
pub fn ctx_enable_client_rpk(b: &mut SslContextBuilder) -> bool {
    #[cfg(mtatls_rpk)]
    return imp::ctx_set_types(b, &TYPES, true);
    #[cfg(not(mtatls_rpk))]
    {
        let _ = (b, TYPES);
        false
    }
}

/// Offer (and accept) a raw public key from the server on every session of
/// a context.
pub fn ctx_enable_server_rpk(b: &mut SslContextBuilder) -> bool {
    #[cfg(mtatls_rpk)]
    return imp::ctx_set_types(b, &TYPES, false);
    #[cfg(not(mtatls_rpk))]
    {
        let _ = b;
        false
    }
}

/// Client-to-server raw public keys for one session.
pub fn enable_client_rpk(ssl: &mut SslRef) -> bool {
    #[cfg(mtatls_rpk)]
    return imp::ssl_set_types(ssl, &TYPES, true);
    #[cfg(not(mtatls_rpk))]
    {
        let _ = ssl;
        false
    }
}

/// Server-to-client raw public keys for one session.
pub fn enable_server_rpk(ssl: &mut SslRef) -> bool {
    #[cfg(mtatls_rpk)]
    return imp::ssl_set_types(ssl, &TYPES, false);
    #[cfg(not(mtatls_rpk))]
    {
        let _ = ssl;
        false
    }
}

/// The raw public key the peer sent instead of a certificate, if any.
pub fn peer_rpk(ssl: &SslRef) -> Option<PKey<Public>> {
    #[cfg(mtatls_rpk)]
    return imp::peer_rpk(ssl);
    #[cfg(not(mtatls_rpk))]
    {
        let _ = ssl;
        None
    }
}

/// Whether the server's credential type negotiated for `ssl` is a raw
/// public key (`client`: the client's).
pub fn negotiated_rpk(ssl: &SslRef, client: bool) -> bool {
    #[cfg(mtatls_rpk)]
    return imp::negotiated(ssl, client) == i32::from(CERT_TYPE_RPK);
    #[cfg(not(mtatls_rpk))]
    {
        let _ = (ssl, client);
        false
    }
}

/// Whether the verification in progress is of a raw public key.
pub fn store_has_rpk(store: &X509StoreContextRef) -> bool {
    #[cfg(mtatls_rpk)]
    return imp::store_has_rpk(store);
    #[cfg(not(mtatls_rpk))]
    {
        let _ = store;
        false
    }
}
