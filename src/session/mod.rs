//! One TLS session on a socket the caller owns and has already used for
//! plain SMTP: the STARTTLS handshake with a timeout, then read, write and
//! stop. The descriptor is switched to non-blocking mode while the session
//! exists, restored afterwards, and never closed.

mod info;
pub mod pktdump;

use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::Duration;

use openssl::ssl::{ErrorCode, Ssl, SslRef};

use crate::config::level::Level;
use crate::config::loglevel::mask;
use crate::context::exdata::{self, SessionShared, VerifyRecord};
use crate::context::{Context, Role};
use crate::error::{Error, ErrorKind, Result};
use crate::logging::{clear_openssl_errors, drain_openssl_errors, Logger};
use crate::report::summary::{self, Facts};
use crate::report::tlsrpt;
use crate::sys::ssl::{self, Progress};
use crate::sys::wait::{self, Deadline, Timeout, WaitError, Want};
use crate::sys::{errors, x509};
use crate::verify::trust::{self, PeerPolicy, Tlsa};

/// Where a session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Created; no handshake byte sent yet.
    New,
    /// Handshake started (non-blocking mode may be mid-way).
    Handshaking,
    /// Handshake done; data may flow.
    Established,
    /// The handshake or I/O failed; only free is useful.
    Failed,
    /// close_notify sent (and the session is over).
    Closed,
}

/// A TLS session on a caller-owned descriptor.
pub struct Session {
    ctx: Arc<Context>,
    /// Created when the handshake starts (the level picks the profile).
    ssl: Option<Ssl>,
    fd: RawFd,
    saved_flags: libc::c_int,
    label: String,
    label_lower: String,
    /// Client: what the caller said about the peer (level, names, TLSA).
    policy: PeerPolicy,
    /// Client: the caller's server id (session cache key base).
    serverid: Option<String>,
    /// The level in effect once the handshake started.
    level: Level,
    /// Log mask of this session (the context's, plus `untrusted` where
    /// authentication is required).
    log_mask: u32,
    /// What the OpenSSL callbacks see (made when the handshake starts).
    shared: Option<Arc<SessionShared>>,
    state: State,
    facts: Option<Facts>,
    /// The fingerprints in `facts` are filled (they are computed lazily).
    fingerprints_filled: bool,
    peer_closed: bool,
    truncated: bool,
    flags_restored: bool,
    /// How the handshake ended, once it has: every later handshake call
    /// returns exactly this (a failure or `NotVerified` never turns into
    /// success).
    handshake_outcome: Option<Result<()>>,
    /// The first failure that ended the session, quoted by later calls.
    failure: Option<Error>,
    /// The descriptor's registration (one live session per socket).
    claim: wait::FdClaim,
    /// Run on the OpenSSL session right after it is made.
    ssl_setup: Option<SslSetup>,
    /// This session's own cipher policy, replacing parts of the profile's.
    ciphers: SessionCiphers,
    /// Client: this session's fingerprint digest (`None`: the context's).
    digest: Option<openssl::hash::MessageDigest>,
    /// Client: this session's CA file and directory, and the trust store
    /// read from them.
    ca: SessionCa,
    /// This session's own keys and certificates (chain files it named).
    chains: Option<(String, Vec<crate::context::certs::KeyChain>)>,
    /// The cipher list in effect, once the handshake started.
    cipher_list: String,
    /// A setting OpenSSL refused when the handshake started: Postfix's
    /// warning line and OpenSSL's queued errors, logged as Postfix does
    /// (the warning, then one `TLS library problem:` line each).
    refused: Option<(String, Vec<crate::sys::errors::OpensslError>)>,
    /// Client: the level checks TLSA records (TLSRPT policy type tlsa).
    tlsa_policy: bool,
    /// Client: the TLSRPT facts, once the handshake has ended.
    tlsrpt: Option<tlsrpt::Report>,
}

/// A session's own CA file and directory (`None`: not set) and the store
/// read from both.
#[derive(Default)]
struct SessionCa {
    file: Option<String>,
    dir: Option<String>,
    store: Option<Arc<openssl::x509::store::X509Store>>,
}

/// What a session replaces of its profile's cipher policy (a Postfix
/// policy table's `protocols=`, `ciphers=`, `exclude=`); the exclusions
/// the level implies (`eNULL`, `aNULL`) always stay.
#[derive(Debug, Clone, Default)]
struct SessionCiphers {
    /// Protocol list text and range.
    protocols: Option<(String, crate::config::grades::ProtocolRange)>,
    /// Grade name and grade.
    grade: Option<(String, crate::config::grades::Grade)>,
    /// Exclusion list (Postfix syntax).
    exclusions: Option<String>,
}

/// A host's own settings of an OpenSSL session, applied right after it is
/// made ([`Session::set_ssl_setup`]); `Err` fails the handshake.
pub type SslSetup = Box<dyn FnOnce(&mut SslRef) -> std::result::Result<(), String> + Send>;

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("fd", &self.fd)
            .field("label", &self.label)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// How an OpenSSL I/O call ended after waiting for readiness as needed.
enum Step {
    /// It succeeded.
    Done,
    /// It failed: its return value, `SSL_get_error` code and errno.
    Failed(libc::c_int, ErrorCode, i32),
}

impl Session {
    /// A session on `fd` (already connected, plain SMTP done up to
    /// STARTTLS) for the peer labelled `label` (`host[addr]:port` or
    /// `host[addr]`). A client session starts at the context's level;
    /// change it and describe the peer with the setters before the handshake.
    pub fn new(ctx: Arc<Context>, fd: RawFd, label: &str) -> Result<Session> {
        let saved_flags = wait::get_flags(fd).map_err(|errno| {
            Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "bad file descriptor {fd} for {label}: {}",
                    wait::strerror(errno)
                ),
            )
        })?;
        let claim = wait::FdClaim::take(fd).ok_or_else(|| {
            Error::new(
                ErrorKind::BadState,
                format!(
                    "file descriptor {fd} for {label}: its socket already has a live TLS session"
                ),
            )
        })?;
        wait::set_flags(fd, saved_flags | libc::O_NONBLOCK);
        Ok(Session {
            level: ctx.level,
            log_mask: ctx.log_mask,
            ctx,
            ssl: None,
            fd,
            saved_flags,
            label: label.to_string(),
            label_lower: label.to_lowercase(),
            policy: PeerPolicy::default(),
            serverid: None,
            shared: None,
            state: State::New,
            facts: None,
            fingerprints_filled: false,
            peer_closed: false,
            truncated: false,
            flags_restored: false,
            handshake_outcome: None,
            failure: None,
            claim,
            ssl_setup: None,
            ciphers: SessionCiphers::default(),
            digest: None,
            ca: SessionCa::default(),
            chains: None,
            cipher_list: String::new(),
            refused: None,
            tlsa_policy: false,
            tlsrpt: None,
        })
    }

    /// The OpenSSL session, once the handshake has started (for hosts that
    /// need OpenSSL calls of their own, such as a Postfix ABI shim).
    pub fn ssl(&self) -> Option<&openssl::ssl::SslRef> {
        self.ssl.as_deref()
    }

    /// The context this session was made from.
    pub fn context(&self) -> &Context {
        &self.ctx
    }

    /// The session's state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The security level in effect (server: the context's).
    pub fn level(&self) -> Level {
        self.level
    }

    /// The facts, once the handshake is done (the peer fingerprints are
    /// computed on the first call).
    pub fn facts(&mut self) -> Option<&Facts> {
        let digest = self.fingerprint_digest();
        if !self.fingerprints_filled {
            if let (Some(facts), Some(ssl)) = (self.facts.as_mut(), self.ssl.as_ref()) {
                crate::report::facts::fill_fingerprints(facts, ssl, &self.ctx, digest);
                self.fingerprints_filled = true;
            }
        }
        self.facts.as_ref()
    }

    /// The peer's certificates once the handshake completed, leaf first:
    /// as the peer sent them, or (`verified`) the chain verification
    /// built, up to the trust anchor: empty unless verification succeeded
    /// (a chain OpenSSL built for an untrusted peer is not reported).
    pub fn peer_certificates(&self, verified: bool) -> Vec<openssl::x509::X509> {
        let Some(ssl) = self.ssl.as_ref().filter(|_| self.facts.is_some()) else {
            return Vec::new();
        };
        if verified {
            if ssl.verify_result() != openssl::x509::X509VerifyResult::OK {
                return Vec::new();
            }
            return ssl
                .verified_chain()
                .map(|c| c.iter().map(|x| x.to_owned()).collect())
                .unwrap_or_default();
        }
        let mut out: Vec<openssl::x509::X509> = Vec::new();
        if let Some(leaf) = ssl.peer_certificate() {
            out.push(leaf);
        }
        // A resumed session has the leaf only, whichever cache kept it (a
        // saved session holds no chain; the in-process cache's objects
        // would, and are not to differ from DER).
        if let Some(chain) = ssl.peer_cert_chain().filter(|_| !ssl.session_reused()) {
            for c in chain {
                // A client's chain starts with the leaf; a server's does not.
                let dup = out
                    .first()
                    .is_some_and(|leaf| leaf.to_der().ok() == c.to_der().ok());
                if !dup || out.len() > 1 {
                    out.push(c.to_owned());
                }
            }
        }
        out
    }

    /// The peer closed the connection (with or without close_notify).
    pub fn peer_closed(&self) -> bool {
        self.peer_closed
    }

    /// The peer closed without close_notify (possible truncation).
    pub fn truncated(&self) -> bool {
        self.truncated
    }

    /// The Postfix summary line, once established.
    pub fn summary(&self) -> Option<String> {
        self.facts.as_ref().map(summary::summary_line)
    }

    /// The Received: header TLS comment, once established; a
    /// server's only (a client writes no Received: header).
    pub fn received_comment(&self) -> Option<String> {
        if self.ctx.role != Role::Server {
            return None;
        }
        self.facts
            .as_ref()
            .map(|f| summary::received_comment(f, self.ctx.ask_ccert, &self.ctx.digest_name))
    }

    fn logger(&self) -> &Logger {
        &self.ctx.logger
    }

    fn dir(&self) -> &'static str {
        if self.ctx.role == Role::Server {
            "from"
        } else {
            "to"
        }
    }

    /// Per-session settings are for clients, before the handshake.
    fn check_settable(&self, what: &str) -> Result<()> {
        if self.ctx.role != Role::Client {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("{what}: only client sessions have a per-session peer policy"),
            ));
        }
        self.check_before_handshake(what)
    }

    /// Client: the security level for this session (Postfix names: `may`,
    /// `encrypt`, `fingerprint`, `dane`, `dane-only`, `verify`, `secure`).
    ///
    /// Also `halfdane`: DANE where the MX lookup was not DNSSEC-secure;
    /// a match makes the peer Trusted (not Verified), as Postfix logs it.
    pub fn set_level(&mut self, level: &str) -> Result<()> {
        self.check_settable("set_level")?;
        let parsed = if level.eq_ignore_ascii_case("halfdane") {
            Level::HalfDane
        } else {
            Level::parse_client(level).map_err(|why| {
                Error::new(ErrorKind::InvalidValue, format!("{}: {why}", self.label))
            })?
        };
        self.policy.level = Some(parsed);
        self.level = parsed;
        Ok(())
    }

    /// Client: the server's host name (MX name) and the destination
    /// domain, for `hostname` / `nexthop` / `dot-nexthop` match strategies.
    pub fn set_peer_names(&mut self, host: &str, nexthop: &str) -> Result<()> {
        self.check_settable("set_peer_names")?;
        self.policy.host = host.to_string();
        self.policy.nexthop = nexthop.to_string();
        Ok(())
    }

    /// Client: a match list replacing the level's parameter (names for
    /// `verify`/`secure`, fingerprints for `fingerprint`).
    pub fn set_match(&mut self, list: &str) -> Result<()> {
        self.check_settable("set_match")?;
        self.policy.matches = Some(list.to_string());
        Ok(())
    }

    /// Client: add a TLSA record for `dane` / `dane-only`.
    pub fn add_tlsa(&mut self, record: Tlsa) -> Result<()> {
        self.check_settable("add_tlsa")?;
        self.policy.tlsa.push(record);
        Ok(())
    }

    /// Client: the server id that keys the session cache (Postfix's
    /// `serverid`, e.g. `[mx.example.net]:25`); without it, no resumption.
    pub fn set_serverid(&mut self, serverid: &str) -> Result<()> {
        self.check_settable("set_serverid")?;
        self.serverid = Some(serverid.to_string());
        Ok(())
    }

    /// Client: the SNI name to send, replacing `*_tls_servername` (same
    /// syntax: `hostname`, `nexthop`, a name, or empty for none).
    pub fn set_servername(&mut self, request: &str) -> Result<()> {
        self.check_settable("set_servername")?;
        self.policy.servername = Some(request.to_string());
        Ok(())
    }

    /// Client: the TLSA base domain (default: the host name).
    pub fn set_tlsa_base(&mut self, base: &str) -> Result<()> {
        self.check_settable("set_tlsa_base")?;
        self.policy.tlsa_base = base.to_string();
        Ok(())
    }

    /// Before the handshake, either role: the protocols of this session
    /// (Postfix's syntax, e.g. `>=TLSv1.2`), replacing the level's
    /// `*_tls_protocols` / `*_tls_mandatory_protocols`.
    pub fn set_protocols(&mut self, list: &str) -> Result<()> {
        self.check_before_handshake("set_protocols")?;
        let range = crate::config::grades::parse_protocols(list)
            .map_err(|why| Error::new(ErrorKind::InvalidValue, format!("{}: {why}", self.label)))?;
        if range.allowed().is_empty() {
            return Err(Error::new(
                ErrorKind::InvalidValue,
                format!(
                    "{}: protocols \"{list}\": the list leaves no TLS protocol version enabled",
                    self.label
                ),
            ));
        }
        self.ciphers.protocols = Some((list.to_string(), range));
        Ok(())
    }

    /// Before the handshake, either role: the cipher grade of this session
    /// (`high`, `medium`, `low`, `export`, `null`), replacing the level's.
    pub fn set_cipher_grade(&mut self, grade: &str) -> Result<()> {
        self.check_before_handshake("set_cipher_grade")?;
        let g = crate::config::grades::parse_grade(grade).ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidValue,
                format!("{}: invalid cipher grade: \"{grade}\"", self.label),
            )
        })?;
        self.ciphers.grade = Some((grade.to_ascii_lowercase(), g));
        Ok(())
    }

    /// Before the handshake, either role: the cipher exclusions of this
    /// session (Postfix's syntax: `aNULL, RC4`), replacing the configured
    /// ones; what the level implies (`eNULL`, `aNULL`) stays excluded.
    pub fn set_exclusions(&mut self, list: &str) -> Result<()> {
        self.check_before_handshake("set_exclusions")?;
        crate::config::grades::check_exclusions(list)
            .map_err(|why| Error::new(ErrorKind::InvalidValue, format!("{}: {why}", self.label)))?;
        self.ciphers.exclusions = Some(list.to_string());
        Ok(())
    }

    /// Client, before the handshake: the digest of fingerprints for this
    /// session (`sha256`, `sha1`, `sha512`, ...), replacing
    /// `*_tls_fingerprint_digest`: the `fingerprint` level matches with
    /// it and the facts report it.
    pub fn set_fingerprint_digest(&mut self, name: &str) -> Result<()> {
        self.check_settable("set_fingerprint_digest")?;
        let bad = || {
            Error::new(
                ErrorKind::InvalidValue,
                format!("{}: Digest algorithm \"{name}\" not found", self.label),
            )
        };
        let md = openssl::hash::MessageDigest::from_name(name).ok_or_else(bad)?;
        if md.type_() == self.ctx.digest.type_() {
            self.policy.fingerprint_mtype = None;
        } else {
            self.policy.fingerprint_mtype = Some(ssl::session_digest_mtype(name).ok_or_else(bad)?);
        }
        self.digest = Some(md);
        Ok(())
    }

    /// Client, before the handshake: verify the server with the CA
    /// certificates of `path` (PEM) instead of `*_tls_CAfile` /
    /// `*_tls_CApath` (with the directory [`Session::set_ca_path`] names,
    /// and the system's with `tls_append_default_CA`). The file is read
    /// now (once per context and path: mind a chroot).
    pub fn set_ca_file(&mut self, path: &str) -> Result<()> {
        self.check_settable("set_ca_file")?;
        let store = self.ctx.ca_store(Some(path), self.ca.dir.as_deref())?;
        self.ca.file = Some(path.to_string());
        self.ca.store = Some(store);
        Ok(())
    }

    /// Client, before the handshake: verify the server with the CA
    /// directory `path` (PEM files named by subject hash, as `openssl
    /// rehash` makes them) instead of `*_tls_CAfile` / `*_tls_CApath`
    /// (with the file [`Session::set_ca_file`] names). The directory must
    /// exist now; its files are read when a verification needs them.
    pub fn set_ca_path(&mut self, path: &str) -> Result<()> {
        self.check_settable("set_ca_path")?;
        let store = self.ctx.ca_store(self.ca.file.as_deref(), Some(path))?;
        self.ca.dir = Some(path.to_string());
        self.ca.store = Some(store);
        Ok(())
    }

    /// Before the handshake, either role: this session's own private keys
    /// and certificates, from `files` (a list as `*_tls_chain_files`: each
    /// key followed by its certificate and chain), replacing the
    /// context's: a client's certificate for this delivery, a server's
    /// for this listener. Read now.
    pub fn set_chain_files(&mut self, files: &str) -> Result<()> {
        self.check_before_handshake("set_chain_files")?;
        let list: Vec<&str> = crate::config::params::split_list(files).collect();
        let chains = crate::context::certs::load_chain_files(&list, files, &mut |w| {
            self.ctx.logger.warn(&w)
        })
        .map_err(|e| {
            Error::new(
                e.kind(),
                format!(
                    "{}: {}: error loading private keys and certificates from: {files}",
                    self.label,
                    e.message()
                ),
            )
        })?;
        self.chains = Some((files.to_string(), chains));
        Ok(())
    }

    /// Before the handshake, either role: the log level of this session in
    /// `*_tls_loglevel` syntax (`0`..`4`, or Postfix's keywords such as
    /// `routine,certmatch`), replacing the context's. An unknown keyword
    /// is an error naming it.
    pub fn set_loglevel(&mut self, value: &str) -> Result<()> {
        self.check_before_handshake("set_loglevel")?;
        let param = format!("{}_tls_loglevel", self.ctx.prefix);
        let mask = crate::config::loglevel::parse_log_mask(&param, value)
            .map_err(|why| Error::new(ErrorKind::InvalidValue, format!("{}: {why}", self.label)))?;
        self.log_mask = mask;
        Ok(())
    }

    /// Client, before the handshake: the trust anchors of `path` (PEM
    /// certificates or public keys; a list of files, as
    /// `*_tls_trust_anchor_file`), for the
    /// `verify` and `secure` levels of this session. Read now.
    pub fn set_trust_anchor_file(&mut self, path: &str) -> Result<()> {
        self.check_settable("set_trust_anchor_file")?;
        let anchors =
            crate::context::certs::load_trust_anchor_files(path, &mut |w| self.ctx.logger.warn(&w))
                .map_err(|e| Error::new(e.kind(), format!("{}: {}", self.label, e.message())))?;
        self.policy.trust_anchors = Some(anchors);
        Ok(())
    }

    /// Either role: settings are taken before the handshake starts.
    fn check_before_handshake(&self, what: &str) -> Result<()> {
        if self.state != State::New {
            return Err(Error::new(
                ErrorKind::BadState,
                format!(
                    "{what}: the handshake with {} has already started",
                    self.label
                ),
            ));
        }
        Ok(())
    }

    /// Apply this session's own cipher policy to `ssl` (made from the
    /// profile of the level in effect); the list in effect.
    fn apply_ciphers(&mut self, ssl: &mut SslRef) -> Result<String> {
        let profile = self.ctx.profile(self.level);
        let c = &self.ciphers;
        let mut list = profile.cipher_list.clone();
        if c.grade.is_some() || c.exclusions.is_some() {
            let mut policy = profile.settings.clone();
            if let Some((_, g)) = &c.grade {
                policy.grade_list = self.ctx.cipherlists.of(*g).to_string();
            }
            if let Some(e) = &c.exclusions {
                // What the level implies is excluded once: a host that
                // passes the level's own exclusions (as smtpd does) does
                // not get them twice.
                let named: Vec<&str> = crate::config::params::split_list_colon(e).collect();
                policy.implied.retain(|i| !named.contains(&i.as_str()));
                policy.exclusions = vec![e.clone()];
            }
            list = policy.cipher_list();
            let ok = std::ffi::CString::new(list.as_str())
                .ok()
                .is_some_and(|l| ssl::set_cipher_list(ssl, &l));
            if !ok {
                let grade = c.grade.as_ref().map_or(profile.grade.as_str(), |(n, _)| n);
                let line = format!("{}: error setting cipher grade: \"{grade}\"", self.label);
                return Err(self.refused(line, &format!("cipher list \"{list}\"")));
            }
        }
        if let Some((text, range)) = &c.protocols {
            let allowed = range.allowed();
            let (Some(&lo), Some(&hi)) = (allowed.first(), allowed.last()) else {
                return Err(Error::new(
                    ErrorKind::InvalidValue,
                    format!("{}: protocols \"{text}\": no version left", self.label),
                ));
            };
            let holes = [0x0301u16, 0x0302, 0x0303]
                .iter()
                .filter(|v| **v > lo && **v < hi && !allowed.contains(v))
                .fold(0u64, |bits, v| bits | ssl::protocol_hole_bit(*v));
            if !ssl::set_protocol_range(ssl, lo, hi, holes) {
                let line = format!(
                    "{}: error setting TLS protocols \"{text}\": aborting TLS session",
                    self.label
                );
                return Err(self.refused(line, ""));
            }
        }
        if let Some(store) = &self.ca.store {
            if !ssl::set_verify_store(ssl, store) {
                return Err(Error::new(
                    ErrorKind::CaStore,
                    format!(
                        "{}: cannot use the CA file \"{}\" / directory \"{}\"",
                        self.label,
                        self.ca.file.as_deref().unwrap_or(""),
                        self.ca.dir.as_deref().unwrap_or("")
                    ),
                )
                .with_detail(&crate::logging::openssl_reasons()));
            }
        }
        if let Some((files, chains)) = &self.chains {
            ssl::clear_certs(ssl);
            for kc in chains {
                if !ssl::use_cert_and_key(ssl, &kc.cert, &kc.key, &kc.chain) {
                    return Err(Error::new(
                        ErrorKind::Certificate,
                        format!(
                            "{}: cannot use the keys and certificates of {files}",
                            self.label
                        ),
                    )
                    .with_detail(&crate::logging::openssl_reasons()));
                }
            }
        }
        Ok(list)
    }

    /// OpenSSL refused a setting of this session: the error (Postfix's
    /// `line`, `context`, OpenSSL's reasons) and, for the log, the line and
    /// the queued errors.
    fn refused(&mut self, line: String, context: &str) -> Error {
        let queue = crate::logging::drain_openssl_errors();
        let reasons: Vec<String> = queue.iter().map(|e| e.short()).collect();
        let mut e = Error::new(ErrorKind::Policy, line.clone());
        if !context.is_empty() {
            e = e.with_detail(context);
        }
        let e = e.with_detail(&reasons.join("; "));
        self.refused = Some((line, queue));
        e
    }

    /// The fingerprint digest of this session.
    fn fingerprint_digest(&self) -> openssl::hash::MessageDigest {
        self.digest.unwrap_or(self.ctx.digest)
    }

    /// Client: trust anchors for this session (selector, DER data, as DANE
    /// TA associations), replacing `*_tls_trust_anchor_file`'s, as a
    /// Postfix policy table's `tafile=` does.
    pub fn set_trust_anchors(&mut self, anchors: Vec<(u8, Vec<u8>)>) -> Result<()> {
        self.check_settable("set_trust_anchors")?;
        self.policy.trust_anchors = Some(anchors);
        Ok(())
    }

    /// Before the handshake: the Postfix log mask of this session,
    /// replacing the context's (`*_tls_loglevel`), as Postfix passes a log
    /// level with each session it starts.
    pub fn set_log_mask(&mut self, log_mask: u32) -> Result<()> {
        if self.state != State::New {
            return Err(Error::new(
                ErrorKind::BadState,
                format!(
                    "set_log_mask: the handshake with {} has already started",
                    self.label
                ),
            ));
        }
        self.log_mask = log_mask;
        Ok(())
    }

    /// Before the handshake: a function run on the OpenSSL session right
    /// after it is made (for hosts that need OpenSSL settings of their
    /// own, such as an ABI shim's message callback). Its error fails the
    /// handshake.
    pub fn set_ssl_setup(&mut self, setup: SslSetup) -> Result<()> {
        if self.state != State::New {
            return Err(Error::new(
                ErrorKind::BadState,
                format!(
                    "set_ssl_setup: the handshake with {} has already started",
                    self.label
                ),
            ));
        }
        self.ssl_setup = Some(setup);
        Ok(())
    }

    fn timeout_or(&self, timeout: Option<Timeout>, default_secs: u64) -> Timeout {
        timeout.unwrap_or(Timeout::After(Duration::from_secs(default_secs)))
    }

    fn check_usable(&self, what: &str) -> Result<()> {
        let why = match self.state {
            State::Established => return Ok(()),
            State::Failed => "has failed",
            State::Closed => "is closed",
            State::New | State::Handshaking => "has no completed handshake yet",
        };
        let mut message = format!("{what}: the TLS session with {} {why}", self.label);
        if let Some(failure) = &self.failure {
            message.push_str(": ");
            message.push_str(failure.message());
        }
        Err(Error::new(ErrorKind::BadState, message))
    }

    /// Remember `e` as what ended the session (the first one counts).
    fn fail(&mut self, e: Error) -> Error {
        self.state = State::Failed;
        if self.failure.is_none() {
            self.failure = Some(e.clone());
        }
        e
    }

    /// Call `op` on the SSL until it succeeds, waiting for the socket as
    /// OpenSSL asks, within `deadline`.
    fn drive(
        &mut self,
        deadline: &Deadline,
        mut op: impl FnMut(&mut SslRef) -> Progress,
    ) -> Result<std::result::Result<Step, WaitError>> {
        let fd = self.fd;
        let Some(ssl) = self.ssl.as_mut() else {
            return Err(Error::new(
                ErrorKind::BadState,
                format!("no TLS session with {} yet", self.label),
            ));
        };
        loop {
            let p = op(ssl);
            if p.done() {
                return Ok(Ok(Step::Done));
            }
            let want = match p.code {
                ErrorCode::WANT_READ => Want::Read,
                ErrorCode::WANT_WRITE => Want::Write,
                _ => return Ok(Ok(Step::Failed(p.ret, p.code, p.errno))),
            };
            if let Err(e) = deadline.wait(fd, want) {
                return Ok(Err(e));
            }
        }
    }

    /// `SERVERID&HEX`: the server id plus a digest of everything that must
    /// match for a cached session to be reused (as Postfix's serverid
    /// digest: OpenSSL version, protocols, cipher list, level, names,
    /// TLSA data).
    fn cache_key(&self, serverid: &str) -> String {
        let profile = self.ctx.profile(self.level);
        let mut text = format!(
            "{}\0{}\0{:?}\0{}\0{}\0{:?}\0{:?}",
            crate::sys::version::runtime_version(),
            self.cipher_list,
            profile.policy,
            self.level,
            self.policy.matches.as_deref().unwrap_or(""),
            self.policy.host,
            self.policy.nexthop,
        );
        text.push_str(
            self.policy
                .servername
                .as_deref()
                .unwrap_or(&self.ctx.servername),
        );
        // What this session set of its own must match too.
        if let Some((p, _)) = &self.ciphers.protocols {
            text.push_str(&format!("\0protocols={p}"));
        }
        if let Some(path) = &self.ca.file {
            text.push_str(&format!("\0CAfile={path}"));
        }
        if let Some(path) = &self.ca.dir {
            text.push_str(&format!("\0CApath={path}"));
        }
        if let Some((files, _)) = &self.chains {
            text.push_str(&format!("\0chains={files}"));
        }
        if let Some(t) = self.policy.fingerprint_mtype {
            text.push_str(&format!("\0digest={t}"));
        }
        if self.ctx.rpk && self.ctx.enable_rpk {
            // A session that asked for a raw public key (Postfix 3.9+
            // digests `enable_rpk` too).
            text.push_str("\0rpk");
        }
        if let Some(anchors) = &self.policy.trust_anchors {
            text.push_str(&format!("\0anchors={anchors:?}"));
        }
        if self.level.must_match() {
            let mut tlsa: Vec<String> = self
                .policy
                .tlsa
                .iter()
                .map(|t| format!("{} {} {} {:?}", t.usage, t.selector, t.mtype, t.data))
                .collect();
            tlsa.sort();
            text.push_str(&tlsa.join("\0"));
        }
        let digest = openssl::sha::sha256(text.as_bytes());
        format!("{serverid}&{}", crate::text::hex(&digest))
    }

    /// Create the OpenSSL session for the level in effect and apply the
    /// peer policy (first handshake call).
    fn start(&mut self) -> Result<()> {
        if self.ctx.role == Role::Client && self.level == Level::None {
            return Err(Error::new(
                ErrorKind::Policy,
                format!(
                    "{}: TLS security level is none ({}_tls_security_level): TLS is not used",
                    self.label, self.ctx.prefix
                ),
            ));
        }
        let profile_ssl = self.ctx.profile(self.level).ssl().map_err(|e| {
            Error::new(
                ErrorKind::Context,
                format!(
                    "{}: cannot make the OpenSSL context of this security level: {}",
                    self.label,
                    e.message()
                ),
            )
        })?;
        let mut ssl = Ssl::new(profile_ssl).map_err(|e| {
            Error::new(
                ErrorKind::Context,
                format!("Could not allocate 'TLScontext->con' with SSL_new(): {e}"),
            )
        })?;
        self.cipher_list = self.apply_ciphers(&mut ssl)?;
        if let Some(setup) = self.ssl_setup.take() {
            setup(&mut ssl)
                .map_err(|why| Error::new(ErrorKind::Context, format!("{}: {why}", self.label)))?;
        }
        let require_cert = self.ctx.role == Role::Server && self.ctx.require_client_cert;
        if self.level.must_match() && self.ctx.role == Role::Client || require_cert {
            self.log_mask |= mask::UNTRUSTED;
        }
        if require_cert {
            ssl::set_security_level(&mut ssl, 1);
        }
        let mut record = VerifyRecord {
            depth_limit: self.ctx.verify_depth as i32,
            ..VerifyRecord::default()
        };
        if self.ctx.role == Role::Server {
            trust::prepare_server(&mut ssl, &self.ctx);
        }
        if self.ctx.role == Role::Client {
            self.tlsa_policy =
                matches!(self.level, Level::Dane | Level::DaneOnly | Level::HalfDane)
                    && !self.policy.tlsa.is_empty();
            let prepared = trust::prepare_client(
                &mut ssl,
                &self.ctx,
                &self.policy,
                self.level,
                &self.label_lower,
                &mut record,
            )?;
            self.level = prepared.level;
        }
        let cache_key = match (&self.ctx.cache, &self.serverid) {
            (Some(cache), Some(id)) => {
                let key = self.cache_key(id);
                cache.load(&mut ssl, &key, self.log_mask, &self.ctx.logger);
                Some(key)
            }
            _ => None,
        };
        let shared = Arc::new(SessionShared {
            release: self.ctx.release,
            logger: self.ctx.logger.clone(),
            label: self.label_lower.clone(),
            log_mask: self.log_mask,
            verify: std::sync::Mutex::new(record),
            cache: self.ctx.cache.clone(),
            cache_key,
            ticketed: std::sync::atomic::AtomicBool::new(false),
            sni: std::sync::Mutex::new(None),
        });
        exdata::attach(&mut ssl, shared.clone());
        self.shared = Some(shared);
        if self.log_mask & mask::DEBUG != 0 {
            ssl::set_info_handler::<info::StateLines>(&mut ssl);
        }
        // The BIO never closes the caller's descriptor and writes with
        // MSG_NOSIGNAL (no SIGPIPE in the host).
        if !crate::sys::bio::attach(&mut ssl, self.fd, self.claim.is_socket()) {
            return Err(Error::new(
                ErrorKind::Context,
                format!("cannot attach a socket BIO {} {}", self.dir(), self.label),
            )
            .with_detail(&crate::logging::openssl_reasons()));
        }
        if self.log_mask & (mask::TLSPKTS | mask::ALLPKTS) != 0 {
            if let Some(shared) = &self.shared {
                crate::session::pktdump::start(&ssl, shared);
            }
        }
        match self.ctx.role {
            Role::Server => ssl.set_accept_state(),
            Role::Client => ssl.set_connect_state(),
        }
        // As Postfix: a peer hanging up during the handshake is "lost
        // connection", not an OpenSSL error. (Cleared once established, so
        // that a close without close_notify is seen as truncation.)
        ssl::set_options(&mut ssl, ssl::OP_IGNORE_UNEXPECTED_EOF);
        if self.log_mask & mask::VERBOSE != 0 {
            self.logger().info(&format!(
                "setting up TLS connection {} {}",
                self.dir(),
                self.label
            ));
            self.logger().info(&format!(
                "{}: TLS cipher list \"{}\"",
                self.label, self.cipher_list
            ));
        }
        self.ssl = Some(ssl);
        Ok(())
    }

    /// Run the handshake. `timeout` `None` means `*_starttls_timeout`.
    /// A handshake that completes but fails the level's authentication
    /// returns a `NotVerified` error; the session is still established.
    pub fn handshake(&mut self, timeout: Option<Timeout>) -> Result<()> {
        if let Some(outcome) = &self.handshake_outcome {
            return outcome.clone();
        }
        let result = self.handshake_step(timeout);
        let unfinished = matches!(
            &result,
            Err(e) if matches!(
                e.kind(),
                ErrorKind::WantRead | ErrorKind::WantWrite | ErrorKind::Interrupted | ErrorKind::BadState
            )
        );
        if !unfinished {
            self.handshake_outcome = Some(result.clone());
            self.tlsrpt = self.tlsrpt_report();
        }
        result
    }

    /// Client: the TLSRPT facts of the finished handshake (see
    /// [`crate::report::tlsrpt`]); `None` for a server session, before the
    /// handshake has ended, or when it never started (the session's setup
    /// failed: Postfix reports nothing then).
    pub fn tlsrpt(&self) -> Option<&tlsrpt::Report> {
        self.tlsrpt.as_ref()
    }

    fn tlsrpt_report(&self) -> Option<tlsrpt::Report> {
        if self.ctx.role != Role::Client {
            return None;
        }
        let ssl = self.ssl.as_ref()?;
        let record = self
            .shared
            .as_ref()
            .and_then(|s| s.verify.lock().ok().map(|r| r.clone()))
            .unwrap_or_default();
        let outcome = match (&self.facts, self.state) {
            (Some(f), State::Established | State::Closed) => {
                let bit = |b| f.peer_status & b != 0;
                tlsrpt::Outcome::Established {
                    must_match: self.level.must_match(),
                    matched: bit(summary::status::MATCHED),
                    trusted: bit(summary::status::TRUSTED),
                    present: bit(summary::status::PRESENT),
                    reused: ssl.session_reused(),
                    untrusted_logged: self.log_mask & mask::UNTRUSTED != 0,
                    record: &record,
                }
            }
            _ => tlsrpt::Outcome::HandshakeFailed,
        };
        // A resumed session with nothing reported before its handshake
        // is not reported when *_tlsrpt_skip_reused_handshakes says so.
        if record.unusable.is_none()
            && self.ctx.tlsrpt_skip_reused
            && matches!(outcome, tlsrpt::Outcome::Established { reused: true, .. })
        {
            return None;
        }
        let (result, reason) = tlsrpt::classify(record.unusable, outcome);
        let (host, mut receiving_ip) = tlsrpt::split_label(&self.label);
        let (local, peer) = wait::socket_addrs(self.fd);
        if receiving_ip.is_empty() {
            receiving_ip = peer.map(|a| a.ip().to_string()).unwrap_or_default();
        }
        let (policy_type, policy_domain, policy_strings) = if self.tlsa_policy {
            let base = if self.policy.tlsa_base.is_empty() {
                &self.policy.host
            } else {
                &self.policy.tlsa_base
            };
            let strings = self
                .policy
                .tlsa
                .iter()
                .filter_map(|t| tlsrpt::tlsa_policy_string(t.usage, t.selector, t.mtype, &t.data))
                .collect();
            (tlsrpt::PolicyType::Tlsa, base.clone(), strings)
        } else {
            let domain = if self.policy.nexthop.is_empty() {
                &self.policy.host
            } else {
                &self.policy.nexthop
            };
            (tlsrpt::PolicyType::NoPolicyFound, domain.clone(), vec![])
        };
        Some(tlsrpt::Report {
            result,
            reason,
            additional_info: None,
            receiving_mx_host: host,
            receiving_ip,
            sending_ip: local.map(|a| a.ip().to_string()).unwrap_or_default(),
            policy_type,
            policy_domain,
            policy_strings,
        })
    }

    /// One handshake call; its outcome is made sticky by [`Session::handshake`].
    fn handshake_step(&mut self, timeout: Option<Timeout>) -> Result<()> {
        match self.state {
            // Only reached without a recorded outcome: stopped mid-way.
            State::Established | State::Failed | State::Closed => {
                let mut message = format!("handshake: the TLS session with {} is over", self.label);
                if let Some(failure) = &self.failure {
                    message.push_str(": ");
                    message.push_str(failure.message());
                }
                return Err(Error::new(ErrorKind::BadState, message));
            }
            State::New => {
                clear_openssl_errors();
                if let Err(e) = self.start() {
                    match self.refused.take() {
                        Some((line, queue)) => {
                            self.logger().warn(&line);
                            for q in &queue {
                                self.logger()
                                    .warn(&format!("TLS library problem: {}", q.postfix_format()));
                            }
                        }
                        None => self.logger().warn(e.message()),
                    }
                    return Err(self.fail(e));
                }
                self.state = State::Handshaking;
            }
            State::Handshaking => {}
        }
        let deadline = Deadline::start(self.timeout_or(timeout, self.ctx.handshake_timeout));
        match self.drive(&deadline, ssl::do_handshake)? {
            Ok(Step::Done) => match self.established() {
                Some(e) => Err(e),
                None => Ok(()),
            },
            Ok(Step::Failed(r, _, errno)) => Err(self.handshake_failed(r, errno)),
            Err(WaitError::WouldBlock(Want::Read)) => {
                Err(Error::new(ErrorKind::WantRead, "handshake wants to read"))
            }
            Err(WaitError::WouldBlock(Want::Write)) => {
                Err(Error::new(ErrorKind::WantWrite, "handshake wants to write"))
            }
            Err(WaitError::Interrupted) => Err(interrupted("handshake")),
            Err(WaitError::TimedOut) => Err(self.handshake_failed(-1, libc::ETIMEDOUT)),
            Err(WaitError::Os(e)) => Err(self.handshake_failed(-1, e)),
        }
    }

    /// Log and describe a failed handshake as Postfix does.
    fn handshake_failed(&mut self, ret: libc::c_int, errno: i32) -> Error {
        if let Some(shared) = &self.shared {
            if let (Some(cache), Some(key)) = (&shared.cache, &shared.cache_key) {
                cache.remove(key, self.log_mask, &self.ctx.logger);
            }
        }
        let op = match self.ctx.role {
            Role::Server => format!("SSL_accept error from {}", self.label),
            Role::Client => format!("SSL_connect error to {}", self.label),
        };
        let queue = drain_openssl_errors();
        let (line, kind, detail) = if !queue.is_empty() {
            let reasons: Vec<String> = queue.iter().map(|e| e.short()).collect();
            (
                format!("{op}: {ret}"),
                ErrorKind::Handshake,
                reasons.join("; "),
            )
        } else if errno != 0 {
            let kind = if errno == libc::ETIMEDOUT {
                ErrorKind::Timeout
            } else {
                ErrorKind::Io
            };
            (
                format!("{op}: {}", wait::strerror(errno)),
                kind,
                String::new(),
            )
        } else {
            (
                format!("{op}: lost connection"),
                ErrorKind::PeerClosed,
                String::new(),
            )
        };
        self.logger().info(&line);
        for e in &queue {
            self.logger()
                .warn(&format!("TLS library problem: {}", e.postfix_format()));
        }
        self.fail(Error::new(kind, line).with_detail(&detail))
    }

    /// Collect the facts, decide trust, log as Postfix does; the error the
    /// caller must act on if authentication failed.
    fn established(&mut self) -> Option<Error> {
        let ssl = self.ssl.as_mut()?;
        if self.log_mask & mask::TLSPKTS != 0 && self.log_mask & mask::ALLPKTS == 0 {
            crate::session::pktdump::stop(ssl);
        }
        ssl::clear_options(ssl, ssl::OP_IGNORE_UNEXPECTED_EOF);
        // Read-ahead from here on (see docs/architecture.md, "Reading
        // ahead"): the TLS stream owns the socket's input until the
        // connection ends; during the handshake every read stops at a
        // record's end, so a failed handshake leaves what follows on the
        // socket. Not with full packet dumps (Postfix's reads, as logged),
        // nor with `mtatls_read_ahead = no`.
        if self.ctx.read_ahead && self.log_mask & mask::ALLPKTS == 0 {
            ssl::set_read_ahead(ssl, true);
        }
        let ssl = self.ssl.as_ref()?;
        let am_server = self.ctx.role == Role::Server;
        let mut facts = crate::report::facts::collect(ssl, &self.ctx, am_server, &self.label_lower);
        facts.peer_sni = if am_server {
            self.shared
                .as_ref()
                .and_then(|s| s.sni.lock().ok().and_then(|n| n.clone()))
                .unwrap_or_default()
        } else {
            ssl.servername(openssl::ssl::NameType::HOST_NAME)
                .unwrap_or_default()
                .to_string()
        };
        if ssl.session_reused() && self.log_mask & mask::CACHE != 0 {
            let ticketed = self
                .shared
                .as_ref()
                .is_some_and(|s| s.ticketed.load(std::sync::atomic::Ordering::Relaxed));
            self.logger().info(&format!(
                "{}: Reusing old session{}",
                self.label_lower,
                if am_server && ticketed {
                    " (RFC 5077 session ticket)"
                } else {
                    ""
                }
            ));
        }
        let record = self
            .shared
            .as_ref()
            .and_then(|s| s.verify.lock().ok().map(|r| r.clone()))
            .unwrap_or_default();
        let decision = trust::decide(
            ssl,
            &self.ctx,
            &mut facts,
            self.level,
            &record,
            am_server && self.ctx.require_client_cert,
            self.log_mask,
        );
        // The client logs its peer's certificate also for `certmatch`.
        let peer_mask = if am_server {
            mask::PEERCERT | mask::VERBOSE
        } else {
            mask::PEERCERT | mask::CERTMATCH | mask::VERBOSE
        };
        let present = facts.peer_status & summary::status::PRESENT != 0;
        let rpk = facts.peer_status & summary::status::RPK != 0;
        let peer_lines = self.log_mask & peer_mask != 0 && (present || rpk);
        if peer_lines {
            crate::report::facts::fill_fingerprints(
                &mut facts,
                ssl,
                &self.ctx,
                self.digest.unwrap_or(self.ctx.digest),
            );
            self.fingerprints_filled = true;
        }
        if am_server && present && self.log_mask & mask::VERBOSE != 0 {
            // The server also shows the client certificate's names in full.
            if let Some(cert) = ssl.peer_certificate() {
                self.logger().info(&format!(
                    "subject={}",
                    x509::name_oneline(cert.subject_name())
                ));
                self.logger().info(&format!(
                    "issuer={}",
                    x509::name_oneline(cert.issuer_name())
                ));
            }
        }
        if peer_lines {
            self.logger()
                .info(&crate::report::cert::peer_line(&facts, self.ctx.release));
        }
        if self.log_mask & mask::FORWARD_SECRECY != 0 {
            let kex = if facts.forward_secrecy_kex.is_empty() {
                "none (static key exchange)"
            } else {
                &facts.forward_secrecy_kex
            };
            self.logger().info(&format!(
                "{}: forward secrecy: {}, key-exchange {kex}",
                self.label_lower,
                if facts.forward_secret { "yes" } else { "no" }
            ));
        }
        for line in &decision.late_lines {
            self.logger().info(line);
        }
        if self.log_mask & mask::SUMMARY != 0 {
            self.logger().info(&summary::summary_line(&facts));
        }
        self.facts = Some(facts);
        self.state = State::Established;
        decision.error
    }

    /// Describe a failed SSL_read/SSL_write; logs OpenSSL's reasons. A
    /// peer that has gone (close_notify seen, EPIPE, ECONNRESET) is
    /// `PeerClosed`.
    fn io_failed(&mut self, what: &str, code: ErrorCode, errno: i32) -> Error {
        let queue = drain_openssl_errors();
        let shut_down = queue
            .iter()
            .any(|e| e.reason == errors::SSL_R_PROTOCOL_IS_SHUTDOWN);
        if !shut_down {
            for e in &queue {
                self.logger()
                    .warn(&format!("TLS library problem: {}", e.postfix_format()));
            }
        }
        let prefix = format!("TLS {what} error {} {}", self.dir(), self.label);
        let e = if shut_down {
            self.peer_closed = true;
            Error::new(
                ErrorKind::PeerClosed,
                format!("{prefix}: the peer has closed the TLS session"),
            )
        } else if !queue.is_empty() {
            let reasons: Vec<String> = queue.iter().map(|e| e.short()).collect();
            Error::new(
                ErrorKind::Handshake,
                format!("{prefix}: {}", reasons.join("; ")),
            )
        } else if code == ErrorCode::SYSCALL && (errno == libc::EPIPE || errno == libc::ECONNRESET)
        {
            self.peer_closed = true;
            Error::new(
                ErrorKind::PeerClosed,
                format!("{prefix}: {}", wait::strerror(errno)),
            )
        } else if code == ErrorCode::SYSCALL && errno != 0 {
            let kind = if errno == libc::ETIMEDOUT {
                ErrorKind::Timeout
            } else {
                ErrorKind::Io
            };
            Error::new(kind, format!("{prefix}: {}", wait::strerror(errno)))
        } else {
            Error::new(ErrorKind::PeerClosed, format!("{prefix}: lost connection"))
        };
        self.fail(e)
    }

    /// A wait that did not end in readiness, as the error of call `what`.
    fn wait_error(&mut self, what: &str, e: WaitError) -> Error {
        match e {
            WaitError::WouldBlock(Want::Read) => {
                Error::new(ErrorKind::WantRead, format!("{what} wants to read"))
            }
            WaitError::WouldBlock(Want::Write) => {
                Error::new(ErrorKind::WantWrite, format!("{what} wants to write"))
            }
            WaitError::Interrupted => interrupted(what),
            WaitError::TimedOut => self.io_failed(what, ErrorCode::SYSCALL, libc::ETIMEDOUT),
            WaitError::Os(errno) => self.io_failed(what, ErrorCode::SYSCALL, errno),
        }
    }

    /// Read up to `buf.len()` bytes; `Ok(0)` when the peer closed the
    /// connection. `timeout` `None` means the role's I/O timeout.
    pub fn read(&mut self, buf: &mut [u8], timeout: Option<Timeout>) -> Result<usize> {
        self.check_usable("read")?;
        if self.peer_closed || buf.is_empty() {
            return Ok(0);
        }
        let deadline = Deadline::start(self.timeout_or(timeout, self.ctx.io_timeout));
        let mut n: libc::size_t = 0;
        let step = self.drive(&deadline, |ssl| ssl::read(ssl, buf, &mut n))?;
        match step {
            Ok(Step::Done) => Ok(n),
            Ok(Step::Failed(_, ErrorCode::ZERO_RETURN, _)) => {
                self.peer_closed = true;
                Ok(0)
            }
            Ok(Step::Failed(_, code, errno))
                if (code == ErrorCode::SSL && errors::unexpected_eof_pending())
                    || (code == ErrorCode::SYSCALL && errno == 0) =>
            {
                clear_openssl_errors();
                self.peer_closed = true;
                self.truncated = true;
                Ok(0)
            }
            Ok(Step::Failed(_, code, errno)) => Err(self.io_failed("read", code, errno)),
            Err(e) => Err(self.wait_error("read", e)),
        }
    }

    /// Write all of `data`. In non-blocking mode a "want" error means:
    /// call again with the same data.
    pub fn write(&mut self, data: &[u8], timeout: Option<Timeout>) -> Result<usize> {
        self.check_usable("write")?;
        if data.is_empty() {
            return Ok(0);
        }
        if self.peer_closed {
            return Err(Error::new(
                ErrorKind::PeerClosed,
                format!(
                    "TLS write error {} {}: the peer has closed the connection",
                    self.dir(),
                    self.label
                ),
            ));
        }
        let deadline = Deadline::start(self.timeout_or(timeout, self.ctx.io_timeout));
        let mut n: libc::size_t = 0;
        let step = self.drive(&deadline, |ssl| ssl::write(ssl, data, &mut n))?;
        match step {
            Ok(Step::Done) => Ok(n),
            Ok(Step::Failed(_, code, errno)) => Err(self.io_failed("write", code, errno)),
            Err(e) => Err(self.wait_error("write", e)),
        }
    }

    /// Send close_notify (and, with `tls_fast_shutdown_enable = no`, wait
    /// for the peer's). A session that never finished its handshake or has
    /// failed sends nothing. The descriptor stays open.
    pub fn stop(&mut self, timeout: Option<Timeout>) -> Result<()> {
        if self.state == State::Established {
            let deadline = Deadline::start(self.timeout_or(timeout, self.ctx.io_timeout));
            let fast = self.ctx.fast_shutdown;
            // SSL_shutdown returns 0 after sending ours; with a slow
            // shutdown, call again until the peer's close_notify (1).
            let step = self.drive(&deadline, |ssl| {
                let first = ssl::shutdown(ssl);
                match first.ret {
                    0 if fast => ssl::Progress { ret: 1, ..first },
                    0 => ssl::shutdown(ssl),
                    _ => first,
                }
            })?;
            match step {
                Err(WaitError::WouldBlock(Want::Read)) => {
                    return Err(Error::new(ErrorKind::WantRead, "shutdown wants to read"))
                }
                Err(WaitError::WouldBlock(Want::Write)) => {
                    return Err(Error::new(ErrorKind::WantWrite, "shutdown wants to write"))
                }
                Err(WaitError::Interrupted) => return Err(interrupted("shutdown")),
                // A peer that is gone or slow does not make stop fail.
                _ => clear_openssl_errors(),
            };
        }
        self.state = State::Closed;
        self.restore_flags();
        Ok(())
    }

    /// Give the descriptor back its original file status flags.
    fn restore_flags(&mut self) {
        if !self.flags_restored {
            wait::set_flags(self.fd, self.saved_flags);
            self.flags_restored = true;
        }
    }
}

fn interrupted(what: &str) -> Error {
    Error::new(
        ErrorKind::Interrupted,
        format!("{what}: interrupted by a signal"),
    )
}

impl Drop for Session {
    fn drop(&mut self) {
        self.restore_flags();
        clear_openssl_errors();
    }
}
