//! Client and server contexts built from typed settings: protocols,
//! cipher grades, key-exchange groups, DH parameters, certificates and
//! trust store, tickets, caches and SNI, every file read now. A context is
//! immutable afterwards and may be shared between threads.

mod build;
pub mod cache;
pub mod certs;
pub(crate) mod ciphers;
pub mod dane;
pub mod exdata;
pub mod groups;
pub mod selfsigned;
pub mod sni;
pub mod tickets;
pub mod verify_callback;

use std::sync::Arc;

use openssl::hash::MessageDigest;
use openssl::ssl::SslContext;

use crate::config::level::Level;
use crate::config::params::Params;
use crate::config::release::Release;
use crate::config::settings::{CipherPolicy, Cipherlists, Settings};

/// Trust stores read from CA files sessions named, by path.
pub(crate) type CaStores = crate::sys::sync::PMutex<
    std::collections::HashMap<String, Arc<openssl::x509::store::X509Store>>,
>;
pub use crate::config::settings::{Policy, Role};
use crate::error::Result;
use crate::logging::Logger;
use groups::{DhChoice, GroupChoice};

/// What a host plugs into the contexts it builds: where log lines go, a
/// store for the client session cache, and an SNI selector. None of it is
/// a parameter value; each is handed to the context builder.
#[derive(Clone, Default)]
pub struct Hooks {
    /// Where lines go (default: stderr).
    pub logger: Logger,
    /// Client: the session store (default: process memory).
    pub session_store: Option<Arc<dyn cache::SessionStore>>,
    /// Client: the session cache's name in log lines ("looking for
    /// session ... in NAME cache"; default: the role prefix, `smtp`).
    pub cache_name: Option<String>,
    /// Server: picks the `tls_server_sni_maps` entry for a name (default:
    /// Postfix's lookup).
    pub sni_selector: Option<Arc<sni::SniSelector>>,
}

impl Hooks {
    /// Hooks that send lines to `logger` and keep the other defaults.
    pub fn with_logger(logger: Logger) -> Hooks {
        Hooks {
            logger,
            ..Hooks::default()
        }
    }

    /// The same hooks with the client session cache in `store`.
    pub fn session_store(mut self, store: Option<Arc<dyn cache::SessionStore>>) -> Hooks {
        self.session_store = store;
        self
    }

    /// The same hooks with `selector` picking SNI table entries.
    pub fn sni_selector(mut self, selector: Option<Arc<sni::SniSelector>>) -> Hooks {
        self.sni_selector = selector;
        self
    }
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks")
            .field("logger", &self.logger)
            .field("session_store", &self.session_store.is_some())
            .field("sni_selector", &self.sni_selector.is_some())
            .field("cache_name", &self.cache_name)
            .finish()
    }
}

/// One OpenSSL context with the cipher policy it was built for.
pub struct Profile {
    /// The policy class.
    pub policy: Policy,
    /// The OpenSSL context ([`Profile::ssl`]).
    pub(crate) ssl: ProfileSsl,
    /// The cipher grade name in effect.
    pub grade: String,
    /// The cipher list given to OpenSSL (logged at loglevel 2).
    pub cipher_list: String,
    /// Protocol versions the profile allows and this OpenSSL can speak
    /// (`TLSv1.2`, ...), lowest first.
    pub protocols: Vec<&'static str>,
    /// The parameters that set this profile's protocols, grade and exclusions.
    pub params: [String; 3],
    /// The policy's settings (a session may replace protocols, grade or
    /// exclusions; implied exclusions always stay).
    pub(crate) settings: CipherPolicy,
}

/// How a deferred profile context is made.
pub(crate) type MakeSsl = Box<dyn Fn() -> Result<SslContext> + Send + Sync>;

/// The OpenSSL context of a profile: made with the context, or, for a
/// policy every setting of which was checked (and warned about) when the
/// context was made, at the first session that needs it.
pub(crate) enum ProfileSsl {
    /// Made with the context.
    Ready(SslContext),
    /// Made at first use.
    Deferred {
        made: crate::sys::sync::PLazy<std::result::Result<SslContext, String>>,
        make: MakeSsl,
    },
}

impl Profile {
    /// The OpenSSL context of this profile (made now if it was deferred;
    /// an error only if OpenSSL cannot make it, since its settings were
    /// checked when the context was made).
    pub fn ssl(&self) -> Result<&SslContext> {
        match &self.ssl {
            ProfileSsl::Ready(c) => Ok(c),
            ProfileSsl::Deferred { made, make } => made
                .get_or_init(|| make().map_err(|e| e.to_string()))
                .as_ref()
                .map_err(|why| {
                    crate::error::Error::new(crate::error::ErrorKind::Context, why.clone())
                }),
        }
    }
}

/// An immutable TLS context for one role.
pub struct Context {
    pub(crate) role: Role,
    /// `smtp`, `lmtp` or `smtpd`.
    pub(crate) prefix: String,
    /// The Postfix release emulated (`mtatls_postfix_release`).
    pub(crate) release: Release,
    pub(crate) logger: Logger,
    /// Postfix log mask from `*_tls_loglevel`.
    pub(crate) log_mask: u32,
    /// Server: the effective level. Client: the default level of sessions.
    pub(crate) level: Level,
    /// Server: TLS is mandatory (`encrypt` or wrapper mode).
    pub(crate) mandatory: bool,
    /// Server: client certificates are requested.
    pub(crate) ask_ccert: bool,
    /// Server: `smtpd_tls_received_header`.
    pub(crate) received_header: bool,
    /// Server: `smtpd_tls_wrappermode`.
    pub(crate) wrappermode: bool,
    /// Client: `*_tlsrpt_skip_reused_handshakes`.
    pub(crate) tlsrpt_skip_reused: bool,
    /// Handshake timeout in seconds (`*_starttls_timeout`).
    pub(crate) handshake_timeout: u64,
    /// Default read/write timeout in seconds.
    pub(crate) io_timeout: u64,
    /// `tls_fast_shutdown_enable`.
    pub(crate) fast_shutdown: bool,
    /// `mtatls_read_ahead`.
    pub(crate) read_ahead: bool,
    /// Fingerprint digest (`*_tls_fingerprint_digest`).
    pub(crate) digest: MessageDigest,
    /// That digest as configured (`sha256`), for the Received: comment.
    pub(crate) digest_name: String,
    /// `tls_legacy_public_key_fingerprints`.
    pub(crate) legacy_pkey_fingerprints: bool,
    /// The key-exchange groups in use.
    pub(crate) groups: GroupChoice,
    /// Server: authentication types of the configured keys, as OpenSSL's
    /// cipher descriptions name them (`RSA`, `ECDSA`, `DSS`).
    pub(crate) key_types: Vec<String>,
    /// Server: the security bits of the first key of each of `key_types`
    /// (RSA-2048: 112), in the same order.
    pub(crate) key_security_bits: Vec<u32>,
    /// What became of each configured group name.
    pub(crate) group_entries: Vec<groups::GroupEntry>,
    /// Server: where TLS 1.2 DHE parameters come from.
    pub(crate) dh: Option<DhChoice>,
    /// Client: `*_tls_fingerprint_cert_match`.
    pub(crate) fingerprint_match: String,
    /// Client: `*_tls_verify_cert_match`.
    pub(crate) verify_match: String,
    /// Client: `*_tls_secure_cert_match`.
    pub(crate) secure_match: String,
    /// Client: trust anchors from `*_tls_trust_anchor_file` as DANE TA
    /// associations (selector, DER data); empty when the file is not set.
    pub(crate) trust_anchors: Vec<(u8, Vec<u8>)>,
    /// The grades' cipher lists, for sessions that pick another grade.
    pub(crate) cipherlists: Cipherlists,
    /// `tls_append_default_CA`, for a session's own CA file.
    pub(crate) append_default_ca: bool,
    /// CA stores of the files sessions named, each read once.
    pub(crate) ca_stores: CaStores,
    /// Chain depth limit given to OpenSSL (`*_verifydepth` + 1).
    pub(crate) verify_depth: u32,
    /// Server: a trusted client certificate is required (`smtpd_tls_req_ccert`
    /// with mandatory TLS).
    pub(crate) require_client_cert: bool,
    /// Server: session ticket keys (tickets on).
    pub(crate) tickets: Option<Arc<tickets::TicketKeys>>,
    /// Client: `*_tls_servername` (empty, `hostname`, `nexthop` or a name).
    pub(crate) servername: String,
    /// Server: names in `tls_server_sni_maps` (0: no SNI table).
    pub(crate) sni_names: usize,
    /// Client: the session cache (`*_tls_session_cache_timeout` > 0).
    pub(crate) cache: Option<Arc<cache::ClientCache>>,
    /// RFC 7250 raw public keys are negotiated at all: the release has
    /// them (3.9 and later) and this build's OpenSSL can (3.2 and later).
    /// A server then always sends one to a client that asks; a client
    /// with a key offers its own.
    pub(crate) rpk: bool,
    /// `*_tls_enable_rpk` in effect (with `rpk`): a server asks clients
    /// for a raw public key, a client asks servers at levels `may`,
    /// `encrypt` and `fingerprint`.
    pub(crate) enable_rpk: bool,
    pub(crate) profiles: Vec<Profile>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("role", &self.role)
            .field("prefix", &self.prefix)
            .field("level", &self.level)
            .finish_non_exhaustive()
    }
}

/// Initialise OpenSSL for this process with the OpenSSL configuration file
/// that `tls_config_file` and `tls_config_name` of `params` select, as
/// Postfix's `tls_library_init` does (building a context does this first).
/// Call it before anything else uses OpenSSL: the first configuration
/// applied is the process's, and a later different one is an error.
pub fn init_openssl(params: &Params) -> Result<()> {
    let file = params.get("tls_config_file")?;
    let name = params.get("tls_config_name")?;
    crate::sys::init::init_openssl(&file, &name)
        .map_err(|e| crate::error::Error::new(crate::error::ErrorKind::Context, e))
}

impl Context {
    /// Build the context for role prefix `smtp`, `lmtp` or `smtpd` from
    /// `params`, with no hooks but the `log` crate: its lines are `log`
    /// records of target `mtatls` ([`Logger::to_log_crate`]).
    pub fn new(params: &Params, prefix: &str) -> Result<Context> {
        Context::with_hooks(params, prefix, &Hooks::with_logger(Logger::to_log_crate()))
    }

    /// Build the context for role prefix `smtp`, `lmtp` or `smtpd` from
    /// `params` with the host's `hooks`. Every file is read now.
    pub fn with_hooks(params: &Params, prefix: &str, hooks: &Hooks) -> Result<Context> {
        let settings = Settings::read(params, prefix)?;
        build::build(&settings, hooks)
    }

    /// Client or server.
    pub fn role(&self) -> Role {
        self.role
    }

    /// `smtp`, `lmtp` or `smtpd`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The Postfix release whose behaviour this context reproduces
    /// (`mtatls_postfix_release`), e.g. "3.8.5".
    pub fn postfix_release(&self) -> String {
        self.release.to_string()
    }

    /// Where this context's lines go.
    pub fn logger(&self) -> &Logger {
        &self.logger
    }

    /// Postfix's log mask of `*_tls_loglevel`.
    pub fn log_mask(&self) -> u32 {
        self.log_mask
    }

    /// Server: the effective level; client: the default level of sessions.
    pub fn level(&self) -> Level {
        self.level
    }

    /// Server: TLS is mandatory (`encrypt` or wrapper mode).
    pub fn mandatory(&self) -> bool {
        self.mandatory
    }

    /// Server: `smtpd_tls_received_header`.
    pub fn received_header(&self) -> bool {
        self.received_header
    }

    /// `smtpd_tls_wrappermode` / `smtp_tls_wrappermode` (SMTPS: TLS from
    /// the first byte).
    pub fn wrappermode(&self) -> bool {
        self.wrappermode
    }

    /// Server: client certificates are asked for.
    pub fn asks_client_certificates(&self) -> bool {
        self.ask_ccert
    }

    /// Server: the session ticket keys, when tickets are on.
    pub fn ticket_keys(&self) -> Option<&Arc<tickets::TicketKeys>> {
        self.tickets.as_ref()
    }

    /// Server: how many names `tls_server_sni_maps` lists (0: no SNI).
    pub fn sni_names(&self) -> usize {
        self.sni_names
    }

    /// The trust store of CA file `file` and CA directory `dir` (PEM, the
    /// directory hashed as by `openssl rehash`; plus the system's with
    /// `tls_append_default_CA`), read on first use and kept.
    pub(crate) fn ca_store(
        &self,
        file: Option<&str>,
        dir: Option<&str>,
    ) -> Result<Arc<openssl::x509::store::X509Store>> {
        use crate::error::{Error, ErrorKind};
        let key = format!("{}\0{}", file.unwrap_or(""), dir.unwrap_or(""));
        let mut stores = self.ca_stores.lock();
        if let Some(s) = stores.get(&key) {
            return Ok(s.clone());
        }
        let fail = |why: String| {
            Error::new(
                ErrorKind::CaStore,
                format!(
                    "cannot load Certification Authority data, CAfile=\"{}\", CApath=\"{}\": {why}",
                    file.unwrap_or(""),
                    dir.unwrap_or("")
                ),
            )
        };
        let mut b =
            openssl::x509::store::X509StoreBuilder::new().map_err(|e| fail(e.to_string()))?;
        if let Some(path) = file {
            if path.is_empty() || path.contains('\0') {
                return Err(fail("bad path".into()));
            }
            // A missing or unreadable file is named by the OS's own words.
            std::fs::File::open(path).map_err(|e| fail(crate::text::os_error_text(&e)))?;
            b.add_lookup(openssl::x509::store::X509Lookup::file())
                .and_then(|l| l.load_cert_file(path, openssl::ssl::SslFiletype::PEM))
                .map_err(|e| fail(e.to_string()))?;
        }
        if let Some(path) = dir {
            if path.is_empty() || path.contains('\0') {
                return Err(fail("bad path".into()));
            }
            let meta = std::fs::metadata(path).map_err(|e| fail(crate::text::os_error_text(&e)))?;
            if !meta.is_dir() {
                return Err(fail("not a directory".into()));
            }
            b.add_lookup(openssl::x509::store::X509Lookup::hash_dir())
                .and_then(|l| l.add_dir(path, openssl::ssl::SslFiletype::PEM))
                .map_err(|e| fail(e.to_string()))?;
        }
        if self.append_default_ca {
            b.set_default_paths().map_err(|e| fail(e.to_string()))?;
        }
        let store = Arc::new(b.build());
        stores.insert(key, store.clone());
        Ok(store)
    }

    /// Client: whether sessions are cached for resumption.
    pub fn has_session_cache(&self) -> bool {
        self.cache.is_some()
    }

    /// Client: the trust anchors of `*_tls_trust_anchor_file` (selector,
    /// DER data).
    pub fn trust_anchors(&self) -> &[(u8, Vec<u8>)] {
        &self.trust_anchors
    }

    /// Every profile (cipher policy) of the context.
    pub fn profiles(&self) -> &[Profile] {
        &self.profiles
    }

    /// The profile a session at `level` uses.
    pub fn profile(&self, level: Level) -> &Profile {
        let wanted = match self.role {
            Role::Server => Policy::Server,
            Role::Client if level <= Level::May => Policy::Opportunistic,
            Role::Client if level == Level::Encrypt => Policy::Encrypt,
            Role::Client => Policy::Authenticated,
        };
        self.profiles
            .iter()
            .find(|p| p.policy == wanted)
            .unwrap_or(&self.profiles[0])
    }
}
