//! Client and server contexts built from Postfix parameters: protocols,
//! cipher grades, key-exchange groups, DH parameters, certificates and
//! trust store, every file read now. A context is immutable afterwards and
//! may be shared between threads.

pub mod certs;
pub mod exdata;
pub mod groups;
pub mod resume;
pub mod selfsigned;
pub mod sni;

use foreign_types::ForeignType;
use openssl::hash::MessageDigest;
use openssl::ssl::{
    SslContext, SslContextBuilder, SslMethod, SslOptions, SslSessionCacheMode, SslVerifyMode,
};
use openssl::x509::X509Name;

use crate::config::grades::{self, parse_grade, parse_protocols, Grade};
use crate::config::level::{parse_server_level, Level};
use crate::config::params::{split_list, Params};
use crate::error::{Error, ErrorKind, Result};
use crate::logging::{self, mask, Diag, Logger};
use crate::sys::ossl;
use certs::KeyChain;
use groups::{DhChoice, GroupChoice};

/// Which side of the connection a context serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The SMTP/LMTP client (parameter prefix `smtp` or `lmtp`).
    Client,
    /// The SMTP server (parameter prefix `smtpd`).
    Server,
}

/// The cipher policy classes a client context prepares, by level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Level `may`: `*_tls_protocols`, `*_tls_ciphers`.
    Opportunistic,
    /// Level `encrypt`: mandatory settings, `eNULL` excluded.
    Encrypt,
    /// Levels above `encrypt`: mandatory settings, `aNULL` excluded.
    Authenticated,
    /// The server's one policy.
    Server,
}

/// One OpenSSL context with the cipher policy it was built for.
pub struct Profile {
    /// The policy class.
    pub policy: Policy,
    /// The OpenSSL context.
    pub ssl: SslContext,
    /// The cipher grade name in effect.
    pub grade: String,
    /// The cipher list given to OpenSSL (logged at loglevel 2).
    pub cipher_list: String,
    /// Protocol versions the profile allows (`TLSv1.2`, ...), lowest first.
    pub protocols: Vec<&'static str>,
    /// The parameters that set this profile's protocols, grade and exclusions.
    pub params: [String; 3],
}

/// An immutable TLS context for one role.
pub struct Context {
    /// Client or server.
    pub role: Role,
    /// `smtp`, `lmtp` or `smtpd`.
    pub prefix: String,
    /// Where lines go.
    pub logger: Logger,
    /// Postfix log mask from `*_tls_loglevel`.
    pub log_mask: u32,
    /// Server: the effective level. Client: the default level of sessions.
    pub level: Level,
    /// Server: TLS is mandatory (`encrypt` or wrapper mode).
    pub mandatory: bool,
    /// Server: client certificates are requested.
    pub ask_ccert: bool,
    /// Server: `smtpd_tls_received_header`.
    pub received_header: bool,
    /// Server: `smtpd_tls_wrappermode`.
    pub wrappermode: bool,
    /// Handshake timeout in seconds (`*_starttls_timeout`).
    pub handshake_timeout: u64,
    /// Default read/write timeout in seconds.
    pub io_timeout: u64,
    /// `tls_fast_shutdown_enable`.
    pub fast_shutdown: bool,
    /// Fingerprint digest (`*_tls_fingerprint_digest`).
    pub digest: MessageDigest,
    /// `tls_legacy_public_key_fingerprints`.
    pub legacy_pkey_fingerprints: bool,
    /// The key-exchange groups in use.
    pub groups: GroupChoice,
    /// Server: authentication types of the configured keys, as OpenSSL's
    /// cipher descriptions name them (`RSA`, `ECDSA`, `DSS`).
    pub key_types: Vec<String>,
    /// What became of each configured group name.
    pub group_entries: Vec<groups::GroupEntry>,
    /// Server: where TLS 1.2 DHE parameters come from.
    pub dh: Option<DhChoice>,
    /// Client: `*_tls_fingerprint_cert_match`.
    pub fingerprint_match: String,
    /// Client: `*_tls_verify_cert_match`.
    pub verify_match: String,
    /// Client: `*_tls_secure_cert_match`.
    pub secure_match: String,
    /// Client: trust anchors from `*_tls_trust_anchor_file` as DANE TA
    /// associations (selector, DER data); empty when the file is not set.
    pub trust_anchors: Vec<(u8, Vec<u8>)>,
    /// Chain depth limit given to OpenSSL (`*_verifydepth` + 1).
    pub verify_depth: u32,
    /// Server: a trusted client certificate is required (`smtpd_tls_req_ccert`
    /// with mandatory TLS).
    pub require_client_cert: bool,
    /// Server: session ticket keys (tickets on).
    pub tickets: Option<std::sync::Arc<crate::context::resume::TicketKeys>>,
    /// Client: `*_tls_servername` (empty, `hostname`, `nexthop` or a name).
    pub servername: String,
    /// Server: names in `tls_server_sni_maps` (0: no SNI table).
    pub sni_names: usize,
    /// Client: the session cache (`*_tls_session_cache_timeout` > 0).
    pub cache: Option<std::sync::Arc<crate::context::resume::ClientCache>>,
    profiles: Vec<Profile>,
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

/// A ticket cipher Postfix accepts: CBC mode, 16-byte IV, 16..32-byte key.
fn usable_ticket_cipher(name: &str) -> bool {
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

/// The role a parameter prefix selects.
pub fn role_of(prefix: &str) -> Result<Role> {
    match prefix {
        "smtp" | "lmtp" => Ok(Role::Client),
        "smtpd" => Ok(Role::Server),
        _ => Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("unknown role prefix \"{prefix}\": expected smtp, lmtp or smtpd"),
        )),
    }
}

struct Builder<'a> {
    params: &'a Params,
    prefix: &'a str,
    diag: Diag<'a>,
    /// `SSL_OP_*` bits, computed (and warned about) once.
    option_bits: Option<u64>,
}

impl Builder<'_> {
    fn get(&self, suffix: &str) -> Result<String> {
        self.params.get(&format!("{}_{suffix}", self.prefix))
    }

    fn get_bool(&self, suffix: &str) -> Result<bool> {
        self.params.get_bool(&format!("{}_{suffix}", self.prefix))
    }

    /// A fresh OpenSSL context with the options every Postfix context has.
    fn base(&mut self, role: Role) -> Result<SslContextBuilder> {
        let method = match role {
            Role::Client => SslMethod::tls_client(),
            Role::Server => SslMethod::tls_server(),
        };
        let mut b = SslContext::builder(method).map_err(|e| {
            Error::new(
                ErrorKind::Context,
                format!("cannot create an OpenSSL context: {e}"),
            )
        })?;
        b.set_security_level(0);
        let bits = match self.option_bits {
            Some(b) => b,
            None => {
                let b = grades::option_bits(self.params, &mut |w| self.diag.warn(w))?;
                self.option_bits = Some(b);
                b
            }
        };
        // Keep OpenSSL's own defaults (no compression, middlebox
        // compatibility); remove only the work-arounds the user disabled.
        let all = SslOptions::ALL.bits();
        b.clear_options(SslOptions::from_bits_retain(all & !bits));
        b.set_options(SslOptions::from_bits_retain(bits) | SslOptions::NO_RENEGOTIATION);
        let release = if self.params.get_bool("mtatls_release_buffers")? {
            ossl::SSL_MODE_RELEASE_BUFFERS
        } else {
            0
        };
        ossl::ctx_set_mode(&mut b, release | ossl::SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
        Ok(b)
    }

    /// Protocols and cipher list for one policy.
    fn apply_policy(
        &mut self,
        b: &mut SslContextBuilder,
        protocols_param: &str,
        grade_param: &str,
        exclusions: &[String],
    ) -> Result<(String, String, Vec<&'static str>)> {
        let protocols = self.params.get(protocols_param)?;
        let range = parse_protocols(&protocols)
            .map_err(|why| Error::invalid(protocols_param, &protocols, why))?;
        range.apply(protocols_param, &protocols, b)?;
        let allowed = range
            .allowed()
            .into_iter()
            .map(grades::protocol_name)
            .collect();
        let grade_name = self.params.get(grade_param)?;
        let grade: Grade = parse_grade(&grade_name).ok_or_else(|| {
            Error::invalid(
                grade_param,
                &grade_name,
                format!("invalid cipher grade: \"{grade_name}\""),
            )
        })?;
        let excl: Vec<&str> = exclusions.iter().map(String::as_str).collect();
        let list = grades::cipher_list(self.params, grade, &excl)?;
        if b.set_cipher_list(&list).is_err() {
            return Err(Error::new(
                ErrorKind::Context,
                format!(
                    "{grade_param} = {grade_name}: error setting cipher grade: \"{grade_name}\" (cipher list \"{list}\")"
                ),
            )
            .with_detail(&logging::openssl_reasons()));
        }
        Ok((grade_name.to_ascii_lowercase(), list, allowed))
    }

    /// Keys and certificates of this role, read now.
    fn credentials(&mut self, role: Role) -> Result<Vec<KeyChain>> {
        let chain_files = self.get("tls_chain_files")?;
        if !chain_files.trim().is_empty() {
            for legacy in ["tls_cert_file", "tls_eccert_file", "tls_dcert_file"] {
                let value = self.get(legacy)?;
                let unset = value.is_empty() || (role == Role::Server && value == "none");
                if !unset {
                    let (chain, legacy) = (
                        format!("{}_tls_chain_files", self.prefix),
                        format!("{}_{legacy}", self.prefix),
                    );
                    self.diag.warn(format!(
                        "both {chain} and {legacy} are set: using only {chain}"
                    ));
                }
            }
            let files: Vec<&str> = split_list(&chain_files).collect();
            return certs::load_chain_files(&files, &chain_files, &mut |w| self.diag.warn(w)).map_err(|e| {
                Error::new(
                    e.kind(),
                    format!(
                        "{}: error loading private keys and certificates from: {chain_files}: disabling TLS support",
                        e.message()
                    ),
                )
            });
        }
        let mut out = Vec::new();
        for (cert_suffix, key_suffix, kind) in [
            ("tls_cert_file", "tls_key_file", "RSA"),
            ("tls_dcert_file", "tls_dkey_file", "DSA"),
            ("tls_eccert_file", "tls_eckey_file", "ECDSA"),
        ] {
            let cert = self.get(cert_suffix)?;
            if cert.is_empty() || (role == Role::Server && kind == "RSA" && cert == "none") {
                continue;
            }
            let mut key = self.get(key_suffix)?;
            if key.is_empty() {
                key = cert.clone();
            }
            out.push(certs::load_pair(&cert, &key, kind, &mut |w| {
                self.diag.warn(w)
            })?);
        }
        Ok(out)
    }
}

impl Context {
    /// Build the context for role prefix `smtp`, `lmtp` or `smtpd`.
    pub fn new(params: &Params, prefix: &str) -> Result<Context> {
        openssl_sys::init();
        let version_warning =
            ossl::check_runtime_version().map_err(|e| Error::new(ErrorKind::Context, e))?;
        let role = role_of(prefix)?;
        let logger = params.logger().clone();
        let strict = params.strict()?;
        let mut bld = Builder {
            params,
            prefix,
            diag: Diag::new(&logger, strict),
            option_bits: None,
        };
        if let Some(w) = version_warning {
            bld.diag.warn(w);
        }
        let loglevel_param = format!("{prefix}_tls_loglevel");
        let log_mask = match logging::parse_log_mask(&loglevel_param, &params.get(&loglevel_param)?)
        {
            Ok(m) => m,
            Err(w) => {
                bld.diag.warn(w);
                0
            }
        };
        if log_mask & mask::VERBOSE != 0 {
            logger.info(match role {
                Role::Server => "initializing the server-side TLS engine",
                Role::Client => "initializing the client-side TLS engine",
            });
        }
        let digest_param = format!("{prefix}_tls_fingerprint_digest");
        let digest_name = params.get(&digest_param)?;
        let digest = MessageDigest::from_name(&digest_name).ok_or_else(|| {
            Error::invalid(
                &digest_param,
                &digest_name,
                format!("Digest algorithm \"{digest_name}\" not found"),
            )
        })?;
        let config_file = params.get("tls_config_file")?;
        if config_file.starts_with('/') {
            ossl::load_config_file(&config_file, &params.get("tls_config_name")?).map_err(|e| {
                Error::new(ErrorKind::Context, format!("{e}: disabling TLS support"))
            })?;
        }
        let ctx = match role {
            Role::Server => Self::build_server(&mut bld, params, log_mask, digest)?,
            Role::Client => Self::build_client(&mut bld, params, log_mask, digest)?,
        };
        bld.diag.finish()?;
        Ok(ctx)
    }

    fn common(
        role: Role,
        prefix: &str,
        params: &Params,
        logger: Logger,
        log_mask: u32,
        digest: MessageDigest,
    ) -> Result<Context> {
        let (handshake_param, io_param) = match role {
            Role::Server => (
                "smtpd_starttls_timeout".to_string(),
                "smtpd_timeout".to_string(),
            ),
            Role::Client => (
                format!("{prefix}_starttls_timeout"),
                format!("{prefix}_data_xfer_timeout"),
            ),
        };
        Ok(Context {
            role,
            prefix: prefix.to_string(),
            logger,
            log_mask,
            level: Level::None,
            mandatory: false,
            ask_ccert: false,
            received_header: false,
            wrappermode: false,
            handshake_timeout: params.get_time(&handshake_param)?,
            io_timeout: params.get_time(&io_param)?,
            fast_shutdown: params.get_bool("tls_fast_shutdown_enable")?,
            digest,
            legacy_pkey_fingerprints: params.get_bool("tls_legacy_public_key_fingerprints")?,
            groups: GroupChoice::OpenSslDefault,
            group_entries: Vec::new(),
            key_types: Vec::new(),
            dh: None,
            fingerprint_match: String::new(),
            verify_match: String::new(),
            secure_match: String::new(),
            trust_anchors: Vec::new(),
            verify_depth: 10,
            require_client_cert: false,
            tickets: None,
            servername: String::new(),
            sni_names: 0,
            cache: None,
            profiles: Vec::new(),
        })
    }

    fn build_server(
        bld: &mut Builder,
        params: &Params,
        log_mask: u32,
        digest: MessageDigest,
    ) -> Result<Context> {
        let mut ctx = Self::common(
            Role::Server,
            "smtpd",
            params,
            bld.diag.logger().clone(),
            log_mask,
            digest,
        )?;
        let level_value = params.get("smtpd_tls_security_level")?;
        let (mut level, warning) = parse_server_level(&level_value)
            .map_err(|why| Error::invalid("smtpd_tls_security_level", &level_value, why))?;
        if let Some(w) = warning {
            bld.diag.warn(w);
        }
        if level_value.is_empty() {
            level = if params.get_bool("smtpd_enforce_tls")? {
                Level::Encrypt
            } else if params.get_bool("smtpd_use_tls")? {
                Level::May
            } else {
                Level::None
            };
        }
        ctx.wrappermode = params.get_bool("smtpd_tls_wrappermode")?;
        if level == Level::None && !ctx.wrappermode {
            return Err(Error::new(
                ErrorKind::Policy,
                "TLS is turned off: smtpd_tls_security_level is none (set it to may or encrypt, or smtpd_tls_wrappermode = yes)",
            ));
        }
        ctx.level = level;
        ctx.mandatory = level == Level::Encrypt || ctx.wrappermode;
        ctx.received_header = params.get_bool("smtpd_tls_received_header")?;
        let req_ccert = params.get_bool("smtpd_tls_req_ccert")?;
        if req_ccert && !ctx.mandatory {
            bld.diag
                .warn("Can't require client certs unless TLS is required".to_string());
        }
        let mut ask_ccert = params.get_bool("smtpd_tls_ask_ccert")? || (req_ccert && ctx.mandatory);

        let mut b = bld.base(Role::Server)?;
        let mut exclusions = vec![params.get("smtpd_tls_exclude_ciphers")?];
        if ctx.mandatory {
            exclusions.push(params.get("smtpd_tls_mandatory_exclude_ciphers")?);
        }
        let chains = bld.credentials(Role::Server)?;
        let certless = chains.is_empty() && params.get("smtpd_tls_cert_file")? == "none";
        if chains.is_empty() && !certless {
            return Err(Error::new(
                ErrorKind::Certificate,
                "No server certs available. TLS won't be enabled (set smtpd_tls_chain_files or smtpd_tls_cert_file)",
            ));
        }
        for kc in &chains {
            let t = match kc.key.id() {
                openssl::pkey::Id::RSA | openssl::pkey::Id::RSA_PSS => "RSA",
                openssl::pkey::Id::DSA => "DSS",
                _ => "ECDSA",
            };
            if !ctx.key_types.iter().any(|k| k == t) {
                ctx.key_types.push(t.to_string());
            }
        }
        if ask_ccert && chains.is_empty() {
            bld.diag
                .warn("Need a server cert to request client certs".to_string());
            ask_ccert = false;
        }
        if ask_ccert {
            exclusions.push("aNULL".to_string());
        }
        let (protocols_param, grade_param) = if ctx.mandatory {
            (
                "smtpd_tls_mandatory_protocols",
                "smtpd_tls_mandatory_ciphers",
            )
        } else {
            ("smtpd_tls_protocols", "smtpd_tls_ciphers")
        };
        let (grade, cipher_list, protocols) =
            bld.apply_policy(&mut b, protocols_param, grade_param, &exclusions)?;
        if params.get_bool("tls_preempt_cipherlist")? {
            b.set_options(SslOptions::CIPHER_SERVER_PREFERENCE);
        }
        (ctx.groups, ctx.group_entries) = groups::configure_groups(&mut b, params, &mut bld.diag)?;
        ctx.dh = Some(groups::configure_dh(&mut b, params, &mut bld.diag)?);
        certs::install(&mut b, &chains, &params.get("smtpd_tls_chain_files")?)?;
        let ca_file = params.get("smtpd_tls_CAfile")?;
        certs::load_trust(
            &mut b,
            &ca_file,
            &params.get("smtpd_tls_CApath")?,
            params.get_bool("tls_append_default_CA")?,
        )?;
        ctx.verify_depth = params
            .get_int("smtpd_tls_ccert_verifydepth")?
            .saturating_add(1)
            .min(100) as u32;
        b.set_verify_depth(ctx.verify_depth);
        // Session resumption: a session-id context is required whenever
        // client certificates may be asked for; tickets follow the timeout.
        b.set_session_id_context(b"smtpd").map_err(|e| {
            Error::new(
                ErrorKind::Context,
                format!("cannot set session id context: {e}"),
            )
        })?;
        let cache_timeout = params.get_time("smtpd_tls_session_cache_timeout")?;
        let mut ticket_cipher = params.get("tls_session_ticket_cipher")?;
        if !ticket_cipher.is_empty() && !usable_ticket_cipher(&ticket_cipher) {
            bld.diag.warn(format!(
                "tls_session_ticket_cipher: invalid value: {ticket_cipher}; session tickets disabled"
            ));
            ticket_cipher.clear();
        }
        if cache_timeout == 0 {
            b.set_options(SslOptions::NO_TICKET);
            b.set_session_cache_mode(SslSessionCacheMode::OFF);
        } else {
            // SAFETY: b wraps a live SSL_CTX.
            unsafe {
                ossl::SSL_CTX_set_timeout(
                    b.as_ptr(),
                    cache_timeout.saturating_mul(2).min(i32::MAX as u64) as libc::c_long,
                )
            };
            if ticket_cipher.is_empty() {
                b.set_options(SslOptions::NO_TICKET);
            } else {
                let keys = crate::context::resume::TicketKeys::new(&ticket_cipher, cache_timeout)
                    .map(std::sync::Arc::new);
                match keys {
                    Some(k) if crate::context::resume::enable_tickets(&mut b, k.clone()) => {
                        ctx.tickets = Some(k)
                    }
                    _ => {
                        bld.diag.warn(
                            "cannot set up session tickets; session tickets disabled".to_string(),
                        );
                        bld.diag.openssl_errors();
                        b.set_options(SslOptions::NO_TICKET);
                    }
                }
            }
            if !params.get_bool("smtpd_tls_always_issue_session_ids")? {
                b.set_session_cache_mode(SslSessionCacheMode::OFF);
            }
        }
        // One TLS 1.3 ticket per handshake, as Postfix (OpenSSL sends two).
        // SAFETY: b wraps a live SSL_CTX.
        unsafe { openssl_sys::SSL_CTX_set_num_tickets(b.as_ptr(), 1) };
        ctx.require_client_cert = req_ccert && ctx.mandatory && ask_ccert;
        if ask_ccert {
            b.set_verify_callback(
                SslVerifyMode::PEER | SslVerifyMode::CLIENT_ONCE,
                crate::verify::trust::verify_callback,
            );
            if !ca_file.is_empty() {
                if let Ok(names) = X509Name::load_client_ca_file(&ca_file) {
                    b.set_client_ca_list(names);
                }
                logging::drain_openssl_errors();
            }
        } else {
            b.set_verify(SslVerifyMode::NONE);
        }
        let sni_maps = params.get("tls_server_sni_maps")?;
        if !sni_maps.trim().is_empty() {
            let table = crate::context::sni::load_table(
                sni_maps.trim(),
                params.sni_selector().cloned(),
                &mut |w| bld.diag.warn(w),
            )?;
            ctx.sni_names = table.len();
            crate::context::sni::enable(&mut b, std::sync::Arc::new(table))?;
        }
        ctx.ask_ccert = ask_ccert;
        let exclusion_param = if ctx.mandatory {
            "smtpd_tls_mandatory_exclude_ciphers"
        } else {
            "smtpd_tls_exclude_ciphers"
        };
        ctx.profiles.push(Profile {
            policy: Policy::Server,
            ssl: b.build(),
            grade,
            cipher_list,
            protocols,
            params: [
                protocols_param.into(),
                grade_param.into(),
                exclusion_param.into(),
            ],
        });
        Ok(ctx)
    }

    fn build_client(
        bld: &mut Builder,
        params: &Params,
        log_mask: u32,
        digest: MessageDigest,
    ) -> Result<Context> {
        let prefix = bld.prefix.to_string();
        let mut ctx = Self::common(
            Role::Client,
            &prefix,
            params,
            bld.diag.logger().clone(),
            log_mask,
            digest,
        )?;
        let level_param = format!("{prefix}_tls_security_level");
        let level_value = params.get(&level_param)?;
        ctx.level = if level_value.is_empty() {
            if bld.get_bool("enforce_tls")? {
                if bld.get_bool("tls_enforce_peername")? {
                    Level::Verify
                } else {
                    Level::Encrypt
                }
            } else if bld.get_bool("use_tls")? {
                Level::May
            } else {
                Level::None
            }
        } else {
            Level::parse_client(&level_value)
                .map_err(|why| Error::invalid(&level_param, &level_value, why))?
        };
        let chains = bld.credentials(Role::Client)?;
        let exclude = bld.get("tls_exclude_ciphers")?;
        let mandatory_exclude = bld.get("tls_mandatory_exclude_ciphers")?;
        let ca_file = bld.get("tls_CAfile")?;
        let ca_path = bld.get("tls_CApath")?;
        let append_default = params.get_bool("tls_append_default_CA")?;
        ctx.verify_depth = params
            .get_int(&format!("{prefix}_tls_scert_verifydepth"))?
            .saturating_add(1)
            .min(100) as u32;
        ctx.fingerprint_match = bld.get("tls_fingerprint_cert_match")?;
        ctx.verify_match = bld.get("tls_verify_cert_match")?;
        ctx.secure_match = bld.get("tls_secure_cert_match")?;
        ctx.servername = bld.get("tls_servername")?;
        let cache_timeout = params.get_time(&format!("{prefix}_tls_session_cache_timeout"))?;
        if cache_timeout > 0 {
            let store: std::sync::Arc<dyn crate::context::resume::SessionStore> =
                match params.session_store() {
                    Some(s) => s.clone(),
                    None => std::sync::Arc::new(crate::context::resume::MemoryStore::default()),
                };
            ctx.cache = Some(std::sync::Arc::new(crate::context::resume::ClientCache {
                name: prefix.clone(),
                timeout: cache_timeout,
                store,
            }));
        }
        let ta_file = bld.get("tls_trust_anchor_file")?;
        if !ta_file.is_empty() {
            ctx.trust_anchors = certs::load_trust_anchors(&ta_file, &mut |w| bld.diag.warn(w))?;
        }
        let policies = [
            (
                Policy::Opportunistic,
                "tls_protocols",
                "tls_ciphers",
                vec![exclude.clone()],
            ),
            (
                Policy::Encrypt,
                "tls_mandatory_protocols",
                "tls_mandatory_ciphers",
                vec![
                    exclude.clone(),
                    mandatory_exclude.clone(),
                    "eNULL".to_string(),
                ],
            ),
            (
                Policy::Authenticated,
                "tls_mandatory_protocols",
                "tls_mandatory_ciphers",
                vec![exclude, mandatory_exclude, "aNULL".to_string()],
            ),
        ];
        let mut first_store: Option<*mut openssl_sys::X509_STORE> = None;
        for (policy, protocols, grade, exclusions) in policies {
            let mut b = bld.base(Role::Client)?;
            let profile_params = [
                format!("{prefix}_{protocols}"),
                format!("{prefix}_{grade}"),
                format!(
                    "{prefix}_{}",
                    if policy == Policy::Opportunistic {
                        "tls_exclude_ciphers"
                    } else {
                        "tls_mandatory_exclude_ciphers"
                    }
                ),
            ];
            let (grade, cipher_list, protocols) =
                bld.apply_policy(&mut b, &profile_params[0], &profile_params[1], &exclusions)?;
            match &ctx.profiles.first() {
                None => {
                    (ctx.groups, ctx.group_entries) =
                        groups::configure_groups(&mut b, params, &mut bld.diag)?;
                    certs::load_trust(&mut b, &ca_file, &ca_path, append_default)?;
                }
                Some(_) => {
                    if let GroupChoice::List(list) = &ctx.groups {
                        b.set_groups_list(list).map_err(|e| {
                            Error::new(
                                ErrorKind::Context,
                                format!("cannot set key exchange groups {list}: {e}"),
                            )
                        })?;
                    }
                    if let Some(store) = first_store {
                        // SAFETY: the store is owned by the first profile's
                        // context, which lives as long as this one; set1 adds
                        // a reference.
                        unsafe { ossl::SSL_CTX_set1_cert_store(b.as_ptr(), store) };
                    }
                }
            }
            certs::install(&mut b, &chains, &bld.get("tls_chain_files")?)?;
            b.set_verify_depth(ctx.verify_depth);
            b.set_verify_callback(SslVerifyMode::NONE, crate::verify::trust::verify_callback);
            if ctx.cache.is_some() {
                b.set_session_cache_mode(
                    SslSessionCacheMode::CLIENT | SslSessionCacheMode::NO_INTERNAL,
                );
                b.set_new_session_callback(crate::context::resume::on_new_client_session);
            } else {
                b.set_session_cache_mode(SslSessionCacheMode::OFF);
            }
            if policy == Policy::Authenticated {
                // Fingerprints, TLSA records and trust anchors are checked
                // by OpenSSL's DANE code; fingerprints use the private
                // matching type 255 = the fingerprint digest, as in Postfix.
                // SAFETY: b wraps a live SSL_CTX; digest is a static EVP_MD.
                let ok = unsafe {
                    ossl::SSL_CTX_dane_enable(b.as_ptr()) > 0
                        && ossl::SSL_CTX_dane_mtype_set(
                            b.as_ptr(),
                            ctx.digest.as_ptr(),
                            ossl::DANE_MTYPE_FINGERPRINT,
                            1,
                        ) > 0
                };
                if !ok {
                    return Err(Error::new(
                        ErrorKind::Context,
                        "cannot enable DANE certificate validation",
                    )
                    .with_detail(&logging::openssl_reasons()));
                }
            }
            let ssl = b.build();
            if first_store.is_none() {
                // SAFETY: SSL_CTX_get_cert_store returns the context's own store.
                first_store = Some(unsafe { openssl_sys::SSL_CTX_get_cert_store(ssl.as_ptr()) });
            }
            ctx.profiles.push(Profile {
                policy,
                ssl,
                grade,
                cipher_list,
                protocols,
                params: profile_params,
            });
        }
        Ok(ctx)
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
