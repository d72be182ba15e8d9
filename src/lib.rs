//! mtatls: Postfix-compatible STARTTLS for C mail servers, over the
//! system OpenSSL 3, with a C ABI (see `include/mtatls.h`).
//!
//! Data flows one way: parameters ([`params`]) → context ([`context`]) →
//! session ([`session`]) → facts and Postfix log text ([`summary`]).
//! The C API lives in [`ffi`]; nothing else knows about C.

/// cbindgen:ignore
pub mod certs;
/// cbindgen:ignore
pub mod context;
/// cbindgen:ignore
pub mod error;
/// cbindgen:ignore
pub mod exdata;
/// cbindgen:ignore
pub mod facts;
pub mod ffi;
/// cbindgen:ignore
pub mod fsreport;
/// cbindgen:ignore
pub mod grades;
/// cbindgen:ignore
pub mod groups;
/// cbindgen:ignore
pub mod level;
/// cbindgen:ignore
pub mod log;
/// cbindgen:ignore
pub mod ossl;
/// cbindgen:ignore
pub mod params;
pub mod pktdump;
/// cbindgen:ignore
pub mod resume;
/// cbindgen:ignore
pub mod selfsigned;
/// cbindgen:ignore
pub mod session;
/// cbindgen:ignore
pub mod sni;
/// cbindgen:ignore
pub mod sockbio;
/// cbindgen:ignore
pub mod summary;
/// cbindgen:ignore
pub mod sync;
/// cbindgen:ignore
pub mod trust;
/// cbindgen:ignore
pub mod verify;
/// cbindgen:ignore
pub mod wait;

pub use context::{Context, Role};
pub use error::{Error, ErrorKind, Result};
pub use params::Params;
pub use session::Session;
