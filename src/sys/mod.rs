//! The OpenSSL and operating-system layer, and with `ffi/` the only place
//! with `unsafe`: declarations the `openssl` crate lacks, safe wrappers of
//! `SSL`, `SSL_CTX`, X.509 and BIO calls, the error queue, the ticket
//! callback, the socket BIO, descriptors and waiting, mutexes, the TLS
//! groups the providers offer.

#![allow(unsafe_code)]

pub mod bio;
pub mod errors;
pub mod init;
pub mod ossl;
pub mod rpk;
pub mod ssl;
pub mod sync;
pub mod tickets;
pub mod tlsgroups;
pub mod version;
pub mod wait;
pub mod x509;
