//! Building a context from typed [`Settings`]: the OpenSSL contexts of each
//! cipher policy, keys and certificates, trust store, groups and DH,
//! tickets, caches and SNI, with Postfix's warnings in Postfix's order.

use std::sync::Arc;

use openssl::hash::MessageDigest;
use openssl::ssl::{
    SslContext, SslContextBuilder, SslMethod, SslOptions, SslSessionCacheMode, SslVerifyMode,
};
use openssl::x509::X509Name;

use super::certs::{self, KeyChain};
use super::ciphers;
use super::groups::{self, GroupChoice};
use super::{Context, Hooks, Profile};
use crate::config::grades::protocol_name;
use crate::config::level::Level;
use crate::config::loglevel::{mask, parse_log_mask};
use crate::config::settings::{CipherPolicy, Credentials, Policy, Role, Settings};
use crate::error::{Error, ErrorKind, Result};
use crate::logging::{self, Diag};
use crate::sys::ssl;

/// What a profile records of its policy, besides the OpenSSL context.
struct PolicyInfo {
    settings: CipherPolicy,
    grade: String,
    cipher_list: String,
    protocols: Vec<&'static str>,
    params: [String; 3],
}

impl PolicyInfo {
    fn into_profile(self, ssl: super::ProfileSsl) -> Profile {
        Profile {
            policy: self.settings.policy,
            settings: self.settings,
            ssl,
            grade: self.grade,
            cipher_list: self.cipher_list,
            protocols: self.protocols,
            params: self.params,
        }
    }
}

struct Builder<'a> {
    settings: &'a Settings,
    diag: Diag<'a>,
    /// `SSL_OP_*` bits, computed (and warned about) once.
    option_bits: Option<u64>,
}

impl Builder<'_> {
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
                let s = self.settings;
                let b = ciphers::option_bits(&s.disable_workarounds, &s.ssl_options, &mut |w| {
                    self.diag.warn(w)
                });
                self.option_bits = Some(b);
                b
            }
        };
        // Keep OpenSSL's own defaults (no compression, middlebox
        // compatibility); remove only the work-arounds the user disabled.
        let all = SslOptions::ALL.bits();
        b.clear_options(SslOptions::from_bits_retain(all & !bits));
        let mut options = SslOptions::from_bits_retain(bits);
        if self.settings.release.disables_renegotiation() {
            options |= SslOptions::NO_RENEGOTIATION;
        }
        b.set_options(options);
        let release = if self.settings.release_buffers {
            ssl::MODE_RELEASE_BUFFERS
        } else {
            0
        };
        ssl::ctx_set_mode(&mut b, release | ssl::MODE_ACCEPT_MOVING_WRITE_BUFFER);
        Ok(b)
    }

    /// Protocols and cipher list of one policy (`extra`: exclusions the
    /// situation adds, such as `aNULL` when client certificates are asked).
    fn apply_policy(
        &mut self,
        b: &mut SslContextBuilder,
        policy: &CipherPolicy,
        extra: &[&str],
    ) -> Result<PolicyInfo> {
        ciphers::apply_protocols(&policy.protocols, b)?;
        let info = policy_info(policy, extra);
        let list = &info.cipher_list;
        if b.set_cipher_list(list).is_err() {
            let grade = &policy.grade;
            return Err(Error::new(
                ErrorKind::Context,
                format!(
                    "{} = {}: error setting cipher grade: \"{}\" (cipher list \"{list}\")",
                    grade.param, grade.text, grade.text
                ),
            )
            .with_detail(&logging::openssl_reasons()));
        }
        Ok(info)
    }

    /// Keys and certificates of this role, read now.
    fn credentials(&mut self, c: &Credentials) -> Result<Vec<KeyChain>> {
        if !c.chain_files.trim().is_empty() {
            for legacy in &c.legacy_also_set {
                self.diag.warn(format!(
                    "both {} and {legacy} are set: using only {}",
                    c.chain_param, c.chain_param
                ));
            }
            let files = c.chain_file_list();
            return certs::load_chain_files(&files, &c.chain_files, &mut |w| self.diag.warn(w))
                .map_err(|e| {
                    Error::new(
                        e.kind(),
                        format!(
                            "{}: error loading private keys and certificates from: {}: disabling TLS support",
                            e.message(),
                            c.chain_files
                        ),
                    )
                });
        }
        let mut out = Vec::new();
        for pair in &c.legacy {
            out.push(certs::load_pair(
                &pair.cert,
                &pair.key,
                pair.kind,
                &mut |w| self.diag.warn(w),
            )?);
        }
        Ok(out)
    }
}

/// What a profile of `policy` records (`extra`: exclusions the situation
/// adds), computed without touching an OpenSSL context.
fn policy_info(policy: &CipherPolicy, extra: &[&str]) -> PolicyInfo {
    let protocols = policy
        .protocols
        .value
        .allowed()
        .into_iter()
        .filter(|v| ciphers::runtime_supports(*v))
        .map(protocol_name)
        .collect();
    let mut with_extra = policy.clone();
    with_extra
        .implied
        .extend(extra.iter().map(|e| e.to_string()));
    let cipher_list = with_extra.cipher_list();
    PolicyInfo {
        settings: with_extra,
        grade: policy.grade.text.to_ascii_lowercase(),
        cipher_list,
        protocols,
        params: policy.params(),
    }
}

/// How a client policy relates to the first policy's OpenSSL context.
enum Fit {
    /// OpenSSL ends up configured the same: the policy uses that context.
    Same(PolicyInfo),
    /// The same protocol versions and a cipher list OpenSSL accepts, with
    /// other suites: every setting of a context of its own has now been
    /// checked, so that context can be made at its first session.
    Checked(PolicyInfo),
    /// Anything else: a context of its own, made now (so that a refused
    /// setting is reported exactly as it always was).
    Own,
}

/// Client: how `policy` fits the OpenSSL context `first` (being built for
/// the policy `made_for`): the same protocol versions, and a cipher list
/// that leaves the same suites in the same order at the same security
/// level, or other suites. A list that is `made_for`'s followed only by
/// exclusions the configuration of `first` can answer for (the `eNULL`
/// and `aNULL` the client levels imply) is worked out from `first`'s
/// suites; any other is tried on a throw-away session of `first`. The
/// context itself is not touched.
fn fit(first: &SslContextBuilder, made_for: &CipherPolicy, policy: &CipherPolicy) -> Fit {
    if policy.protocols.value.allowed() != made_for.protocols.value.allowed() {
        return Fit::Own;
    }
    let info = policy_info(policy, &[]);
    let first_config = ssl::ctx_cipher_config(first);
    let derived = info
        .cipher_list
        .strip_prefix(made_for.cipher_list().as_str())
        .and_then(appended_exclusions)
        .and_then(|tokens| first_config.without(&tokens));
    let (accepted, same) = match derived {
        Some(config) => (true, config == first_config),
        None => {
            let Some(mut probe) = ssl::scratch_session(first) else {
                logging::clear_openssl_errors();
                return Fit::Own;
            };
            let accepted = std::ffi::CString::new(info.cipher_list.as_str())
                .ok()
                .is_some_and(|l| ssl::set_cipher_list(&mut probe, &l));
            let same = accepted && ssl::cipher_config(&probe) == first_config;
            logging::clear_openssl_errors();
            (accepted, same)
        }
    };
    match (accepted, same) {
        (true, true) => Fit::Same(info),
        (true, false) => Fit::Checked(info),
        _ => Fit::Own,
    }
}

/// The tokens of `rest` when it is a run of `:!TOKEN` exclusions (an
/// empty `rest` has none); `None` otherwise. Which tokens can be worked
/// out is [`ssl::CipherConfig::without`]'s to say.
fn appended_exclusions(rest: &str) -> Option<Vec<&str>> {
    if rest.is_empty() {
        return Some(Vec::new());
    }
    Some(rest.strip_prefix(":!")?.split(":!").collect())
}

/// Client: what every profile context gets after its protocols, ciphers,
/// groups and trust store: keys and certificates, raw public keys, the
/// verification callback and depth, the session cache, and DANE for the
/// authenticated policy.
struct ClientFinish<'a> {
    chains: &'a [KeyChain],
    chain_files: &'a str,
    mtypes: &'a [super::dane::MatchingType],
    rpk: bool,
    verify_depth: u32,
    cache: bool,
}

impl ClientFinish<'_> {
    fn apply(
        &self,
        b: &mut SslContextBuilder,
        policy: &CipherPolicy,
        diag: &mut Diag,
    ) -> Result<()> {
        certs::install(b, self.chains, self.chain_files)?;
        if self.rpk && !self.chains.is_empty() {
            // As Postfix 3.9+: a client with a key of its own may send it
            // alone to a server that asks for a raw public key.
            ctx_enable_rpk(b, true, diag);
        }
        b.set_verify_depth(self.verify_depth);
        b.set_verify_callback(SslVerifyMode::NONE, super::verify_callback::record);
        if self.cache {
            b.set_session_cache_mode(
                SslSessionCacheMode::CLIENT | SslSessionCacheMode::NO_INTERNAL,
            );
            b.set_new_session_callback(super::cache::on_new_client_session);
        } else {
            b.set_session_cache_mode(SslSessionCacheMode::OFF);
        }
        if policy.policy == Policy::Authenticated {
            enable_dane(b, self.mtypes, diag)?;
        }
        Ok(())
    }
}

/// Client: the maker of a deferred profile context (see [`Fit::Checked`]):
/// the same steps as a context made with the others, on the first
/// context's trust store, with its warnings dropped (each was logged when
/// the context was made, from the same settings on the same OpenSSL).
fn deferred_maker(
    settings: &Settings,
    policy: &CipherPolicy,
    groups: &GroupChoice,
    first: &SslContext,
    chains: &Arc<Vec<KeyChain>>,
    mtypes: &[super::dane::MatchingType],
    finish: &ClientFinish,
) -> super::MakeSsl {
    let settings = settings.clone();
    let policy = policy.clone();
    let groups = groups.clone();
    let first = first.clone();
    let chains = chains.clone();
    let mtypes = mtypes.to_vec();
    let (rpk, verify_depth, cache) = (finish.rpk, finish.verify_depth, finish.cache);
    Box::new(move || {
        let logger = crate::logging::Logger::with_sink(Arc::new(|_, _: &str| {}));
        let mut bld = Builder {
            settings: &settings,
            diag: Diag::new(&logger, false),
            option_bits: None,
        };
        let mut b = bld.base(Role::Client)?;
        bld.apply_policy(&mut b, &policy, &[])?;
        set_chosen_groups(&mut b, &groups)?;
        ssl::ctx_use_cert_store(&mut b, first.cert_store());
        let finish = ClientFinish {
            chains: &chains,
            chain_files: &settings.credentials.chain_files,
            mtypes: &mtypes,
            rpk,
            verify_depth,
            cache,
        };
        finish.apply(&mut b, &policy, &mut bld.diag)?;
        Ok(b.build())
    })
}

/// Client: give another profile context the groups the first one chose
/// (nothing to do when OpenSSL's defaults were kept).
fn set_chosen_groups(b: &mut SslContextBuilder, groups: &GroupChoice) -> Result<()> {
    if let GroupChoice::List(list) = groups {
        b.set_groups_list(list).map_err(|e| {
            Error::new(
                ErrorKind::Context,
                format!("cannot set key exchange groups {list}: {e}"),
            )
        })?;
    }
    Ok(())
}

/// Client: certificate checks by OpenSSL's DANE code on sessions of `b`
/// that ask for them (fingerprints, TLSA records and trust anchors):
/// matching types 1 and 2 and their preference from `tls_dane_digests`,
/// the private type 255 = the fingerprint digest, as in Postfix, and the
/// private types of a session's own fingerprint digest. Sessions that do
/// not enable DANE themselves are not affected.
fn enable_dane(
    b: &mut SslContextBuilder,
    mtypes: &[super::dane::MatchingType],
    diag: &mut Diag,
) -> Result<()> {
    if !ssl::ctx_dane_enable(b) || !ssl::ctx_dane_session_digests(b) {
        return Err(Error::new(
            ErrorKind::Context,
            "cannot enable DANE certificate validation",
        )
        .with_detail(&logging::openssl_reasons()));
    }
    for t in mtypes {
        if !ssl::ctx_dane_mtype_set(b, t.digest, t.mtype, t.ordinal) {
            diag.warn(format!(
                "tls_dane_digests: error configuring matching type {}",
                t.mtype
            ));
            diag.openssl_errors();
        }
    }
    Ok(())
}

/// Build the context of `settings`, with the host's `hooks`.
pub(super) fn build(settings: &Settings, hooks: &Hooks) -> Result<Context> {
    // OpenSSL's configuration file first: nothing may touch OpenSSL before.
    crate::sys::init::init_openssl(&settings.openssl_config.file, &settings.openssl_config.name)
        .map_err(|e| Error::new(ErrorKind::Context, e))?;
    // Process-wide state is made now, before threads share the context.
    super::exdata::prepare();
    super::tickets::prepare();
    super::sni::prepare();
    crate::sys::bio::prepare();
    crate::sys::version::runtime_version();
    let version_warning =
        crate::sys::version::check_runtime_version(settings.release.accepts_newer_openssl_minor())
            .map_err(|e| Error::new(ErrorKind::Context, e))?;
    let logger = hooks.logger.clone();
    let mut bld = Builder {
        settings,
        diag: Diag::new(&logger, settings.strict),
        option_bits: None,
    };
    if let Some(w) = version_warning {
        bld.diag.warn(w);
    }
    // Names mtatls does not know that look like TLS parameters: one line
    // each, in postconf's words.
    for (name, value) in &settings.unused {
        bld.diag.warn(format!("unused parameter: {name}={value}"));
    }
    let log_mask = match parse_log_mask(&settings.loglevel.param, &settings.loglevel.text) {
        Ok(m) => m,
        Err(w) => {
            bld.diag.warn(w);
            0
        }
    };
    if log_mask & mask::VERBOSE != 0 {
        logger.info(match settings.role {
            Role::Server => "initializing the server-side TLS engine",
            Role::Client => "initializing the client-side TLS engine",
        });
    }
    let digest_name = &settings.digest.text;
    let digest = MessageDigest::from_name(digest_name).ok_or_else(|| {
        Error::invalid(
            &settings.digest.param,
            digest_name,
            format!("Digest algorithm \"{digest_name}\" not found"),
        )
    })?;
    check_rpk_support(settings, &mut bld.diag);
    let ctx = common(settings, logger.clone(), log_mask, digest);
    let ctx = match settings.role {
        Role::Server => build_server(&mut bld, ctx, hooks)?,
        Role::Client => build_client(&mut bld, ctx, hooks)?,
    };
    bld.diag.finish()?;
    Ok(ctx)
}

fn common(
    s: &Settings,
    logger: crate::logging::Logger,
    log_mask: u32,
    digest: MessageDigest,
) -> Context {
    Context {
        role: s.role,
        prefix: s.prefix.clone(),
        release: s.release,
        logger,
        log_mask,
        level: Level::None,
        mandatory: false,
        ask_ccert: false,
        received_header: false,
        wrappermode: false,
        tlsrpt_skip_reused: false,
        handshake_timeout: s.handshake_timeout,
        io_timeout: s.io_timeout,
        fast_shutdown: s.fast_shutdown,
        read_ahead: s.read_ahead,
        digest,
        digest_name: s.digest.text.clone(),
        legacy_pkey_fingerprints: s.legacy_pkey_fingerprints,
        groups: GroupChoice::OpenSslDefault,
        group_entries: Vec::new(),
        key_types: Vec::new(),
        key_security_bits: Vec::new(),
        dh: None,
        fingerprint_match: String::new(),
        verify_match: String::new(),
        secure_match: String::new(),
        trust_anchors: Vec::new(),
        cipherlists: s.cipherlists.clone(),
        append_default_ca: s.trust.append_default,
        ca_stores: Default::default(),
        verify_depth: s.trust.verify_depth,
        require_client_cert: false,
        tickets: None,
        servername: String::new(),
        sni_names: 0,
        cache: None,
        rpk: s.release.has_raw_public_keys() && crate::sys::rpk::available(),
        enable_rpk: s.enable_rpk && crate::sys::rpk::available(),
        profiles: Vec::new(),
    }
}

/// `*_tls_enable_rpk = yes` with an OpenSSL older than 3.2: Postfix
/// ignores the setting silently; mtatls says so, naming the parameter
/// (an error under `mtatls_strict = yes`). Certificates are used as
/// before, so nothing is weaker than configured; fingerprints of
/// certificates keep matching.
fn check_rpk_support(settings: &Settings, diag: &mut Diag) {
    if settings.enable_rpk && !crate::sys::rpk::available() {
        diag.warn(format!(
            "{}_tls_enable_rpk = yes: raw public keys (RFC 7250) need OpenSSL 3.2 or later, and this library is built with OpenSSL {}; the setting is ignored and certificates are used",
            settings.prefix,
            crate::sys::version::build_version_text()
        ));
    }
}

/// Offer raw public keys in the direction `client` (client to server)
/// or server to client on every session of `b`, with Postfix's warning if
/// OpenSSL refuses.
fn ctx_enable_rpk(b: &mut SslContextBuilder, client: bool, diag: &mut Diag) {
    let ok = if client {
        crate::sys::rpk::ctx_enable_client_rpk(b)
    } else {
        crate::sys::rpk::ctx_enable_server_rpk(b)
    };
    if !ok {
        diag.warn(if client {
            "Failed to enable client to server raw public key support".to_string()
        } else {
            "Failed to enable server to client raw public key support".to_string()
        });
        diag.openssl_errors();
    }
}

fn build_server(bld: &mut Builder, mut ctx: Context, hooks: &Hooks) -> Result<Context> {
    let settings = bld.settings;
    let Some(srv) = settings.server.as_ref() else {
        return Err(Error::new(ErrorKind::Context, "no server settings"));
    };
    if let Some(w) = &srv.level_warning {
        bld.diag.warn(w.clone());
    }
    if srv.level == Level::None && !srv.wrappermode {
        return Err(Error::new(
            ErrorKind::Policy,
            "TLS is turned off: smtpd_tls_security_level is none (set it to may or encrypt, or smtpd_tls_wrappermode = yes)",
        ));
    }
    ctx.level = srv.level;
    ctx.wrappermode = srv.wrappermode;
    ctx.mandatory = srv.mandatory;
    ctx.received_header = srv.received_header;
    if srv.req_ccert && !ctx.mandatory {
        bld.diag
            .warn("Can't require client certs unless TLS is required".to_string());
    }
    let mut ask_ccert = srv.ask_ccert || (srv.req_ccert && ctx.mandatory);

    let mut b = bld.base(Role::Server)?;
    let chains = bld.credentials(&settings.credentials)?;
    let certless = chains.is_empty() && settings.credentials.cert_file_none;
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
            ctx.key_security_bits.push(kc.key.security_bits());
            ctx.key_types.push(t.to_string());
        }
    }
    if ask_ccert && chains.is_empty() {
        bld.diag
            .warn("Need a server cert to request client certs".to_string());
        ask_ccert = false;
    }
    let extra: &[&str] = if ask_ccert { &["aNULL"] } else { &[] };
    let info = bld.apply_policy(&mut b, &srv.policy, extra)?;
    if settings.preempt_cipherlist {
        b.set_options(SslOptions::CIPHER_SERVER_PREFERENCE);
    }
    (ctx.groups, ctx.group_entries) =
        groups::configure_groups(&mut b, &settings.groups, &mut bld.diag);
    ctx.dh = Some(groups::configure_dh(&mut b, &srv.dh_file, &mut bld.diag));
    certs::install(&mut b, &chains, &settings.credentials.chain_files)?;
    if ctx.rpk {
        // As Postfix 3.9+: a client that asks gets the key alone.
        ctx_enable_rpk(&mut b, false, &mut bld.diag);
    }
    let trust = &settings.trust;
    certs::load_trust(&mut b, &trust.ca_file, &trust.ca_path, trust.append_default)?;
    b.set_verify_depth(ctx.verify_depth);
    // Session resumption: a session-id context is required whenever
    // client certificates may be asked for; tickets follow the timeout.
    b.set_session_id_context(b"smtpd").map_err(|e| {
        Error::new(
            ErrorKind::Context,
            format!("cannot set session id context: {e}"),
        )
    })?;
    let cache_timeout = srv.cache_timeout;
    let mut ticket_cipher = srv.ticket_cipher.clone();
    if !ticket_cipher.is_empty() && !crate::sys::x509::usable_ticket_cipher(&ticket_cipher) {
        bld.diag.warn(format!(
            "tls_session_ticket_cipher: invalid value: {ticket_cipher}; session tickets disabled"
        ));
        ticket_cipher.clear();
    }
    if cache_timeout == 0 {
        b.set_options(SslOptions::NO_TICKET);
        b.set_session_cache_mode(SslSessionCacheMode::OFF);
    } else {
        ssl::ctx_set_timeout(&mut b, cache_timeout.saturating_mul(2));
        if ticket_cipher.is_empty() {
            b.set_options(SslOptions::NO_TICKET);
        } else {
            let keys = super::tickets::TicketKeys::new(&ticket_cipher, cache_timeout).map(Arc::new);
            match keys {
                Some(k) if super::tickets::enable_tickets(&mut b, k.clone()) => {
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
        if !srv.always_issue_session_ids {
            b.set_session_cache_mode(SslSessionCacheMode::OFF);
        }
    }
    // One TLS 1.3 ticket per handshake, as Postfix (OpenSSL sends two).
    ssl::ctx_set_num_tickets(&mut b, 1);
    ctx.require_client_cert = srv.req_ccert && ctx.mandatory && ask_ccert;
    if ask_ccert {
        b.set_verify_callback(
            SslVerifyMode::PEER | SslVerifyMode::CLIENT_ONCE,
            super::verify_callback::record,
        );
        if !trust.ca_file.is_empty() {
            if let Ok(names) = X509Name::load_client_ca_file(&trust.ca_file) {
                b.set_client_ca_list(names);
            }
            logging::clear_openssl_errors();
        }
    } else {
        b.set_verify(SslVerifyMode::NONE);
    }
    if !srv.sni_maps.trim().is_empty() {
        let table =
            super::sni::load_table(srv.sni_maps.trim(), hooks.sni_selector.clone(), &mut |w| {
                bld.diag.warn(w)
            })?;
        ctx.sni_names = table.len();
        super::sni::enable(&mut b, Arc::new(table))?;
    }
    ctx.ask_ccert = ask_ccert;
    ctx.profiles
        .push(info.into_profile(super::ProfileSsl::Ready(b.build())));
    Ok(ctx)
}

fn build_client(bld: &mut Builder, mut ctx: Context, hooks: &Hooks) -> Result<Context> {
    let settings = bld.settings;
    let Some(cli) = settings.client.as_ref() else {
        return Err(Error::new(ErrorKind::Context, "no client settings"));
    };
    ctx.level = cli.level;
    ctx.wrappermode = cli.wrappermode;
    ctx.tlsrpt_skip_reused = cli.tlsrpt_skip_reused;
    let chains = bld.credentials(&settings.credentials)?;
    ctx.fingerprint_match = cli.fingerprint_match.clone();
    ctx.verify_match = cli.verify_match.clone();
    ctx.secure_match = cli.secure_match.clone();
    ctx.servername = cli.servername.clone();
    if cli.cache_timeout > 0 {
        // In process: session objects; the host's store: DER.
        let backend = match &hooks.session_store {
            Some(s) => super::cache::Backend::Der(s.clone()),
            None => super::cache::Backend::Objects(super::cache::ObjectStore::default()),
        };
        ctx.cache = Some(Arc::new(super::cache::ClientCache {
            name: hooks
                .cache_name
                .clone()
                .unwrap_or_else(|| settings.prefix.clone()),
            timeout: cli.cache_timeout,
            backend,
        }));
    }
    if !cli.trust_anchor_file.is_empty() {
        ctx.trust_anchors =
            certs::load_trust_anchor_files(&cli.trust_anchor_file, &mut |w| bld.diag.warn(w))?;
    }
    // The DANE matching types of tls_dane_digests (warned about once).
    let mtypes = super::dane::matching_types(&settings.dane_digests, ctx.digest, &mut |w| {
        bld.diag.warn(w)
    });
    let trust = &settings.trust;
    let chains = Arc::new(chains);
    let finish = ClientFinish {
        chains: &chains,
        chain_files: &settings.credentials.chain_files,
        mtypes: &mtypes,
        rpk: ctx.rpk,
        verify_depth: ctx.verify_depth,
        cache: ctx.cache.is_some(),
    };
    // Policies whose OpenSSL settings come out the same (by default `may`
    // and `encrypt`: `!eNULL` removes nothing from the medium grade) share
    // one OpenSSL context. A policy with other suites but the same
    // protocols (by default the authenticated one, without anonymous
    // suites) gets a context of its own at its first session: its cipher
    // list is checked now, and everything else it gets is what the first
    // context got (its DANE set-up, with its warnings, too: the first
    // context is then DANE-enabled, which changes nothing for a session
    // that does not enable DANE itself). The first context stays a
    // builder until every policy has had its turn.
    enum Slot<'p> {
        First,
        Own(SslContext),
        Deferred(&'p CipherPolicy),
    }
    let mut first: Option<(SslContextBuilder, &CipherPolicy)> = None;
    let mut first_dane = false;
    let mut made: Vec<(PolicyInfo, Slot)> = Vec::new();
    for policy in &cli.policies {
        if let Some((b0, made_for)) = first.as_mut() {
            let fits = fit(b0, made_for, policy);
            if let Fit::Same(_) | Fit::Checked(_) = fits {
                if policy.policy == Policy::Authenticated && !first_dane {
                    enable_dane(b0, &mtypes, &mut bld.diag)?;
                    first_dane = true;
                }
            }
            match fits {
                Fit::Same(info) => {
                    made.push((info, Slot::First));
                    continue;
                }
                Fit::Checked(info) => {
                    made.push((info, Slot::Deferred(policy)));
                    continue;
                }
                Fit::Own => {}
            }
        }
        let mut b = bld.base(Role::Client)?;
        let info = bld.apply_policy(&mut b, policy, &[])?;
        match first.as_ref() {
            None => {
                (ctx.groups, ctx.group_entries) =
                    groups::configure_groups(&mut b, &settings.groups, &mut bld.diag);
                certs::load_trust(&mut b, &trust.ca_file, &trust.ca_path, trust.append_default)?;
            }
            Some((b0, _)) => {
                set_chosen_groups(&mut b, &ctx.groups)?;
                // One trust store for every profile (shared, counted).
                ssl::ctx_share_cert_store(&mut b, b0);
            }
        }
        finish.apply(&mut b, policy, &mut bld.diag)?;
        if first.is_none() {
            first_dane = policy.policy == Policy::Authenticated;
            first = Some((b, policy));
            made.push((info, Slot::First));
        } else {
            made.push((info, Slot::Own(b.build())));
        }
    }
    let Some((b0, _)) = first else {
        return Ok(ctx);
    };
    let first = b0.build();
    for (info, slot) in made {
        let ssl = match slot {
            Slot::First => super::ProfileSsl::Ready(first.clone()),
            Slot::Own(c) => super::ProfileSsl::Ready(c),
            Slot::Deferred(policy) => super::ProfileSsl::Deferred {
                made: crate::sys::sync::PLazy::new(),
                make: deferred_maker(
                    settings,
                    policy,
                    &ctx.groups,
                    &first,
                    &chains,
                    &mtypes,
                    &finish,
                ),
            },
        };
        ctx.profiles.push(info.into_profile(ssl));
    }
    Ok(ctx)
}
