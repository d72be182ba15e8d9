//! The OpenSSL and operating-system layer: declarations the `openssl`
//! crate lacks, the socket BIO, descriptors and waiting, mutexes.

pub mod bio;
pub mod ossl;
pub mod sync;
pub mod wait;
