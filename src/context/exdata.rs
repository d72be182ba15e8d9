//! What each OpenSSL `SSL` carries for the callbacks OpenSSL makes during
//! a handshake (state lines, certificate verification): the session's
//! logger and label, its log mask, and the verification record.

use std::sync::{Arc, Mutex};

use once_cell::sync::Lazy;
use openssl::ex_data::Index;
use openssl::ssl::{Ssl, SslRef};

use crate::logging::Logger;

/// The first certificate error closest to the leaf, as Postfix keeps it.
#[derive(Debug, Clone, Default)]
pub struct VerifyRecord {
    /// Depth of the recorded error; `None` when no error was seen.
    pub depth: Option<i32>,
    /// `X509_V_ERR_*` code.
    pub code: i32,
    /// Subject of the certificate at that depth (one-line form).
    pub subject: String,
    /// Issuer of the certificate at that depth (one-line form).
    pub issuer: String,
    /// Verification must fail whatever OpenSSL finds (trust setup failed).
    pub must_fail: bool,
    /// The chain-depth limit given to OpenSSL (for the "longer than" text).
    pub depth_limit: i32,
    /// TLSRPT: the failure-reason code of the report Postfix makes when
    /// the session's trust data (TLSA records, fingerprints, trust
    /// anchors) were all unusable.
    pub unusable: Option<&'static str>,
}

/// Per-session data reachable from an `SSL*`.
pub struct SessionShared {
    /// The Postfix release emulated.
    pub release: crate::config::release::Release,
    /// Where lines go.
    pub logger: Logger,
    /// The peer label, lower-cased, as verification lines print it.
    pub label: String,
    /// Postfix log mask in effect for this session.
    pub log_mask: u32,
    /// The verification record the callback fills.
    pub verify: Mutex<VerifyRecord>,
    /// Client: the session cache and this session's key in it.
    pub cache: Option<Arc<crate::context::cache::ClientCache>>,
    /// Client: the cache key (`SERVERID&HEX`).
    pub cache_key: Option<String>,
    /// Server: a session ticket was decrypted (before Postfix 3.11: or
    /// issued) for this session. Client (3.11 and later): a session was
    /// saved already.
    pub ticketed: std::sync::atomic::AtomicBool,
    /// Server: the SNI name matched in `tls_server_sni_maps`.
    pub sni: Mutex<Option<String>>,
}

static INDEX: Lazy<Option<Index<Ssl, Arc<SessionShared>>>> = Lazy::new(|| Ssl::new_ex_index().ok());

/// Make the index now (see [`crate::context`]'s build: global state is
/// made while the context is built, before threads share it).
pub(crate) fn prepare() {
    Lazy::force(&INDEX);
}

/// Attach `shared` to `ssl` (replacing what was there).
pub fn attach(ssl: &mut SslRef, shared: Arc<SessionShared>) {
    if let Some(index) = *INDEX {
        ssl.set_ex_data(index, shared);
    }
}

/// The data attached to `ssl`, if any.
pub fn get(ssl: &SslRef) -> Option<&Arc<SessionShared>> {
    INDEX.as_ref().and_then(|index| ssl.ex_data(*index))
}
