//! mtatls: Postfix-compatible STARTTLS for C mail servers, over the
//! system OpenSSL 3, with a C ABI (see `include/mtatls.h`).
//!
//! The crate is layered; each folder is one layer and imports only point
//! down (`tests/layers.rs` checks it). From the top:
//!
//! - `ffi`: the C ABI, nothing else;
//! - `session`: a TLS session on a caller's socket (handshake, I/O, stop);
//! - `verify`: security levels applied to a session, the trust decision;
//! - `report`: the facts of a session and Postfix's text for them;
//! - `context`: building client and server contexts from settings;
//! - `config`: parameter values by Postfix name, typed and validated;
//! - `logging`: where lines go;
//! - `sys`: the OpenSSL and OS layer (with `ffi`, the only modules that
//!   allow `unsafe_code`, each in its own `mod.rs`);
//! - `text`: hex and error-text helpers;
//! - `error`: the error type.
//!
//! See docs/architecture.md for the data flow and where to add things.

// Denied crate-wide; only `sys` and `ffi` allow it (tests/layers.rs).
#![deny(unsafe_code)]
#![warn(missing_docs)]

/// cbindgen:ignore
mod config;
/// cbindgen:ignore
mod context;
/// cbindgen:ignore
mod error;
pub mod ffi;
/// cbindgen:ignore
mod logging;
/// cbindgen:ignore
mod report;
/// cbindgen:ignore
mod session;
/// cbindgen:ignore
mod sys;
/// cbindgen:ignore
mod text;
/// cbindgen:ignore
pub mod unstable;
/// cbindgen:ignore
mod verify;

// The public interface is:
pub use config::level::Level;
pub use config::params::Params;
pub use config::release::Release;
pub use config::settings::Role;
pub use context::cache::SessionStore;
pub use context::selfsigned::{self_signed_pem, write_self_signed};
pub use context::sni::SniSelector;
pub use context::tickets::{TicketKey, TicketKeys, TICKET_KEY_LEN};
pub use context::{init_openssl, Context, Hooks};
pub use error::{Error, ErrorKind, Result};
pub use logging::{Logger, Severity};
pub use report::fsreport::FsReport;
pub use report::summary::{Facts, Signature, Trust};
pub use report::tlsrpt::{
    PolicyType as TlsrptPolicyType, Report as TlsrptReport, ResultType as TlsrptResult,
};
pub use session::{Session, State};
pub use sys::wait::Timeout;
pub use verify::trust::Tlsa;
