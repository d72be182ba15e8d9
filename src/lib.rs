//! mtatls: Postfix-compatible STARTTLS for C mail servers, over the
//! system OpenSSL 3, with a C ABI (see `include/mtatls.h`).

/// cbindgen:ignore
pub mod config;
/// cbindgen:ignore
pub mod context;
/// cbindgen:ignore
pub mod error;
pub mod ffi;
/// cbindgen:ignore
pub mod logging;
/// cbindgen:ignore
pub mod report;
/// cbindgen:ignore
pub mod session;
/// cbindgen:ignore
pub mod sys;
/// cbindgen:ignore
pub mod verify;

pub use config::params::Params;
pub use context::{Context, Role};
pub use error::{Error, ErrorKind, Result};
pub use session::Session;
