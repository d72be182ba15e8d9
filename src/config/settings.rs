//! One role's settings, read from the parameters once, expanded and
//! validated, as typed values: what the context builders take. Below this
//! module nothing looks a parameter up by name; a value keeps the name of
//! the parameter it came from for the messages that name it. Postfix's
//! warn-and-continue cases are left to the builders (they log them in
//! Postfix's order); only what Postfix refuses is an error here.

use crate::config::grades::{parse_grade, parse_protocols, Grade, ProtocolRange};
use crate::config::level::{parse_server_level, Level};
use crate::config::params::{split_list, split_list_colon, Params};
use crate::config::release::Release;
use crate::error::{Error, ErrorKind, Result};

/// Which side of the connection a context serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The SMTP/LMTP client (parameter prefix `smtp` or `lmtp`).
    Client,
    /// The SMTP server (parameter prefix `smtpd`).
    Server,
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

/// A value with the parameter it came from and its text as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named<T> {
    /// The parameter's name (`smtpd_tls_protocols`).
    pub param: String,
    /// The expanded text.
    pub text: String,
    /// The parsed value.
    pub value: T,
}

/// The cipher policy classes a context prepares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Client level `may`: `*_tls_protocols`, `*_tls_ciphers`.
    Opportunistic,
    /// Client level `encrypt`: mandatory settings, `eNULL` excluded.
    Encrypt,
    /// Client levels above `encrypt`: mandatory settings, `aNULL` excluded.
    Authenticated,
    /// The server's one policy.
    Server,
}

/// Protocols, grade and exclusions of one cipher policy.
#[derive(Debug, Clone)]
pub struct CipherPolicy {
    /// The policy class.
    pub policy: Policy,
    /// The protocol range.
    pub protocols: Named<ProtocolRange>,
    /// The cipher grade.
    pub grade: Named<Grade>,
    /// The OpenSSL cipher list of the grade (`tls_*_cipherlist`).
    pub grade_list: String,
    /// Exclusion lists, in order (each token becomes `:!TOKEN`).
    pub exclusions: Vec<String>,
    /// Exclusions the policy class itself implies (`eNULL` at level
    /// `encrypt`, `aNULL` above it), after the configured ones; a
    /// session's own exclusions never remove them.
    pub implied: Vec<String>,
    /// The exclusion parameter named in reports.
    pub exclusion_param: String,
}

impl CipherPolicy {
    /// The OpenSSL cipher string: the grade's list, then each exclusion
    /// token as `:!TOKEN`, as Postfix builds it.
    pub fn cipher_list(&self) -> String {
        let mut list = self.grade_list.clone();
        for excl in self.exclusions.iter().chain(&self.implied) {
            for token in split_list_colon(excl) {
                list.push_str(":!");
                list.push_str(token);
            }
        }
        list
    }

    /// The three parameters behind this policy: protocols, grade, exclusions.
    pub fn params(&self) -> [String; 3] {
        [
            self.protocols.param.clone(),
            self.grade.param.clone(),
            self.exclusion_param.clone(),
        ]
    }
}

/// The OpenSSL cipher string of `grade` (its list from `params`) with
/// `exclusions`, as [`CipherPolicy::cipher_list`] builds it.
pub fn cipher_list(params: &Params, grade: Grade, exclusions: &[&str]) -> Result<String> {
    let policy = CipherPolicy {
        policy: Policy::Server,
        protocols: Named {
            param: String::new(),
            text: String::new(),
            value: parse_protocols("").map_err(|why| Error::new(ErrorKind::InvalidValue, why))?,
        },
        grade: Named {
            param: String::new(),
            text: String::new(),
            value: grade,
        },
        grade_list: params.get(grade.list_param(params.release().legacy_grades_use_medium()))?,
        exclusions: exclusions.iter().map(|e| e.to_string()).collect(),
        implied: Vec::new(),
        exclusion_param: String::new(),
    };
    Ok(policy.cipher_list())
}

/// A legacy certificate/key file pair (`*_tls_cert_file`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyPair {
    /// The certificate file.
    pub cert: String,
    /// The key file (the certificate file when empty).
    pub key: String,
    /// `RSA`, `DSA` or `ECDSA`.
    pub kind: &'static str,
}

/// Where a role's keys and certificates come from.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// `*_tls_chain_files` (empty: the legacy pairs are used).
    pub chain_files: String,
    /// The chain-file parameter's name.
    pub chain_param: String,
    /// Legacy pairs that are set.
    pub legacy: Vec<LegacyPair>,
    /// Legacy certificate parameters set next to chain files (warned about).
    pub legacy_also_set: Vec<String>,
    /// Server: `smtpd_tls_cert_file = none` (no certificate at all).
    pub cert_file_none: bool,
}

impl Credentials {
    /// The chain files, one per entry.
    pub fn chain_file_list(&self) -> Vec<&str> {
        split_list(&self.chain_files).collect()
    }
}

/// CA trust settings.
#[derive(Debug, Clone, Default)]
pub struct Trust {
    /// `*_tls_CAfile`.
    pub ca_file: String,
    /// `*_tls_CApath`.
    pub ca_path: String,
    /// `tls_append_default_CA`.
    pub append_default: bool,
    /// Chain depth limit given to OpenSSL (`*_verifydepth` + 1).
    pub verify_depth: u32,
}

/// The key-exchange group lists.
#[derive(Debug, Clone, Default)]
pub struct Groups {
    /// `tls_eecdh_auto_curves`.
    pub eecdh: String,
    /// `tls_ffdhe_auto_groups` (always empty for Postfix 3.7, which has
    /// no such parameter).
    pub ffdhe: String,
    /// Their defaults (Postfix falls back to them).
    pub default_eecdh: String,
    /// The default of `tls_ffdhe_auto_groups`.
    pub default_ffdhe: String,
    /// The release whose rules apply (names, warnings, fallbacks).
    pub release: Release,
}

/// The OpenSSL cipher lists of the grades (`tls_*_cipherlist`).
#[derive(Debug, Clone, Default)]
pub struct Cipherlists {
    /// `tls_high_cipherlist`.
    pub high: String,
    /// `tls_medium_cipherlist` (also the `low` and `export` grades).
    pub medium: String,
    /// `tls_null_cipherlist`.
    pub null: String,
}

impl Cipherlists {
    /// The list of `grade`.
    pub fn of(&self, grade: Grade) -> &str {
        match grade {
            Grade::High => &self.high,
            Grade::Null => &self.null,
            Grade::Medium | Grade::Low | Grade::Export => &self.medium,
        }
    }
}

/// `tls_config_file` / `tls_config_name`.
#[derive(Debug, Clone, Default)]
pub struct OpensslConfig {
    /// `default`, `none` or an absolute path.
    pub file: String,
    /// The application name in it.
    pub name: String,
}

/// Server-only settings.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// The effective level (`smtpd_tls_security_level`, or the obsolete
    /// `smtpd_use_tls` / `smtpd_enforce_tls`).
    pub level: Level,
    /// Postfix's warning for a client-only level given to the server.
    pub level_warning: Option<String>,
    /// `smtpd_tls_wrappermode`.
    pub wrappermode: bool,
    /// TLS is mandatory (`encrypt` or wrapper mode).
    pub mandatory: bool,
    /// `smtpd_tls_received_header`.
    pub received_header: bool,
    /// `smtpd_tls_ask_ccert`.
    pub ask_ccert: bool,
    /// `smtpd_tls_req_ccert`.
    pub req_ccert: bool,
    /// The cipher policy (mandatory or opportunistic parameters).
    pub policy: CipherPolicy,
    /// `smtpd_tls_dh1024_param_file`.
    pub dh_file: String,
    /// `smtpd_tls_session_cache_timeout`, seconds.
    pub cache_timeout: u64,
    /// `tls_session_ticket_cipher`.
    pub ticket_cipher: String,
    /// `smtpd_tls_always_issue_session_ids`.
    pub always_issue_session_ids: bool,
    /// `tls_server_sni_maps`.
    pub sni_maps: String,
}

/// Client-only settings (`smtp_*` or `lmtp_*`).
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// The default level of sessions.
    pub level: Level,
    /// `*_tls_fingerprint_cert_match`.
    pub fingerprint_match: String,
    /// `*_tls_verify_cert_match`.
    pub verify_match: String,
    /// `*_tls_secure_cert_match`.
    pub secure_match: String,
    /// `*_tls_servername`.
    pub servername: String,
    /// `*_tls_session_cache_timeout`, seconds (0: no cache).
    pub cache_timeout: u64,
    /// `*_tls_trust_anchor_file`.
    pub trust_anchor_file: String,
    /// `*_tls_wrappermode`.
    pub wrappermode: bool,
    /// `*_tlsrpt_skip_reused_handshakes`.
    pub tlsrpt_skip_reused: bool,
    /// The policies for `may`, `encrypt` and the authenticated levels.
    pub policies: Vec<CipherPolicy>,
}

/// Everything one role's context is built from.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Client or server.
    pub role: Role,
    /// `smtp`, `lmtp` or `smtpd`.
    pub prefix: String,
    /// The Postfix release emulated (`mtatls_postfix_release`).
    pub release: Release,
    /// `mtatls_strict`.
    pub strict: bool,
    /// `*_tls_loglevel` as configured (parsed by the builder, which warns).
    pub loglevel: Named<()>,
    /// `*_tls_fingerprint_digest` (a digest OpenSSL knows).
    pub digest: Named<()>,
    /// The OpenSSL configuration file.
    pub openssl_config: OpensslConfig,
    /// `tls_dane_digests` (clients: the DANE matching types).
    pub dane_digests: String,
    /// Names set that this library does not know but that look like TLS
    /// parameters of this role, with their values (warned about).
    pub unused: Vec<(String, String)>,
    /// Handshake timeout, seconds (`*_starttls_timeout`).
    pub handshake_timeout: u64,
    /// Read/write timeout, seconds (`smtpd_timeout`, `*_data_xfer_timeout`).
    pub io_timeout: u64,
    /// `tls_fast_shutdown_enable`.
    pub fast_shutdown: bool,
    /// `tls_legacy_public_key_fingerprints`.
    pub legacy_pkey_fingerprints: bool,
    /// `mtatls_release_buffers`.
    pub release_buffers: bool,
    /// `*_tls_enable_rpk` (`false` in releases before 3.9, which lack it).
    pub enable_rpk: bool,
    /// `mtatls_read_ahead`.
    pub read_ahead: bool,
    /// `tls_preempt_cipherlist`.
    pub preempt_cipherlist: bool,
    /// `tls_disable_workarounds`.
    pub disable_workarounds: String,
    /// `tls_ssl_options`.
    pub ssl_options: String,
    /// The key-exchange groups.
    pub groups: Groups,
    /// The grades' cipher lists (sessions may pick another grade).
    pub cipherlists: Cipherlists,
    /// Keys and certificates.
    pub credentials: Credentials,
    /// The CA trust store.
    pub trust: Trust,
    /// Server settings (role server).
    pub server: Option<ServerSettings>,
    /// Client settings (role client).
    pub client: Option<ClientSettings>,
}

/// Reads `prefix_*` names and the library-wide ones.
struct Reader<'a> {
    params: &'a Params,
    prefix: &'a str,
}

impl Reader<'_> {
    fn name(&self, suffix: &str) -> String {
        format!("{}_{suffix}", self.prefix)
    }
    fn get(&self, name: &str) -> Result<String> {
        self.params.get(name)
    }
    fn own(&self, suffix: &str) -> Result<String> {
        self.params.get(&self.name(suffix))
    }
    fn own_bool(&self, suffix: &str) -> Result<bool> {
        self.params.get_bool(&self.name(suffix))
    }
    fn named(&self, name: String) -> Result<Named<()>> {
        Ok(Named {
            text: self.get(&name)?,
            param: name,
            value: (),
        })
    }

    fn policy(
        &self,
        policy: Policy,
        protocols_param: String,
        grade_param: String,
        exclusions: Vec<String>,
        implied: &[&str],
        exclusion_param: String,
    ) -> Result<CipherPolicy> {
        let text = self.get(&protocols_param)?;
        let range =
            parse_protocols(&text).map_err(|why| Error::invalid(&protocols_param, &text, why))?;
        let protocols = Named {
            param: protocols_param,
            text,
            value: range,
        };
        let text = self.get(&grade_param)?;
        let value = parse_grade(&text).ok_or_else(|| {
            Error::invalid(
                &grade_param,
                &text,
                format!("invalid cipher grade: \"{text}\""),
            )
        })?;
        let release = self.params.release();
        let grade_list = self.get(value.list_param(release.legacy_grades_use_medium()))?;
        Ok(CipherPolicy {
            policy,
            protocols,
            grade: Named {
                param: grade_param,
                text,
                value,
            },
            grade_list,
            exclusions,
            implied: implied.iter().map(|e| e.to_string()).collect(),
            exclusion_param,
        })
    }

    fn credentials(&self, role: Role) -> Result<Credentials> {
        let chain_param = self.name("tls_chain_files");
        let chain_files = self.get(&chain_param)?;
        let mut c = Credentials {
            chain_files: chain_files.clone(),
            chain_param,
            cert_file_none: role == Role::Server && self.own("tls_cert_file")? == "none",
            ..Credentials::default()
        };
        if !chain_files.trim().is_empty() {
            for legacy in ["tls_cert_file", "tls_eccert_file", "tls_dcert_file"] {
                let value = self.own(legacy)?;
                let unset = value.is_empty() || (role == Role::Server && value == "none");
                if !unset {
                    c.legacy_also_set.push(self.name(legacy));
                }
            }
            return Ok(c);
        }
        for (cert_suffix, key_suffix, kind) in [
            ("tls_cert_file", "tls_key_file", "RSA"),
            ("tls_dcert_file", "tls_dkey_file", "DSA"),
            ("tls_eccert_file", "tls_eckey_file", "ECDSA"),
        ] {
            let cert = self.own(cert_suffix)?;
            if cert.is_empty() || (role == Role::Server && kind == "RSA" && cert == "none") {
                continue;
            }
            let mut key = self.own(key_suffix)?;
            if key.is_empty() {
                key = cert.clone();
            }
            c.legacy.push(LegacyPair { cert, key, kind });
        }
        Ok(c)
    }

    fn server(&self) -> Result<ServerSettings> {
        let p = self.params;
        let level_value = p.get("smtpd_tls_security_level")?;
        let (mut level, level_warning) = parse_server_level(&level_value)
            .map_err(|why| Error::invalid("smtpd_tls_security_level", &level_value, why))?;
        if level_value.is_empty() {
            level = if p.get_bool("smtpd_enforce_tls")? {
                Level::Encrypt
            } else if p.get_bool("smtpd_use_tls")? {
                Level::May
            } else {
                Level::None
            };
        }
        let wrappermode = p.get_bool("smtpd_tls_wrappermode")?;
        let mandatory = level == Level::Encrypt || wrappermode;
        let mut exclusions = vec![p.get("smtpd_tls_exclude_ciphers")?];
        if mandatory {
            exclusions.push(p.get("smtpd_tls_mandatory_exclude_ciphers")?);
        }
        let (protocols, grade, exclusion) = if mandatory {
            (
                "smtpd_tls_mandatory_protocols",
                "smtpd_tls_mandatory_ciphers",
                "smtpd_tls_mandatory_exclude_ciphers",
            )
        } else {
            (
                "smtpd_tls_protocols",
                "smtpd_tls_ciphers",
                "smtpd_tls_exclude_ciphers",
            )
        };
        Ok(ServerSettings {
            level,
            level_warning,
            wrappermode,
            mandatory,
            received_header: p.get_bool("smtpd_tls_received_header")?,
            ask_ccert: p.get_bool("smtpd_tls_ask_ccert")?,
            req_ccert: p.get_bool("smtpd_tls_req_ccert")?,
            policy: self.policy(
                Policy::Server,
                protocols.into(),
                grade.into(),
                exclusions,
                &[],
                exclusion.into(),
            )?,
            dh_file: p.get("smtpd_tls_dh1024_param_file")?,
            cache_timeout: p.get_time("smtpd_tls_session_cache_timeout")?,
            ticket_cipher: p.get("tls_session_ticket_cipher")?,
            always_issue_session_ids: p.get_bool("smtpd_tls_always_issue_session_ids")?,
            sni_maps: p.get("tls_server_sni_maps")?,
        })
    }

    fn client(&self) -> Result<ClientSettings> {
        let level_param = self.name("tls_security_level");
        let level_value = self.get(&level_param)?;
        let level = if level_value.is_empty() {
            if self.own_bool("enforce_tls")? {
                if self.own_bool("tls_enforce_peername")? {
                    Level::Verify
                } else {
                    Level::Encrypt
                }
            } else if self.own_bool("use_tls")? {
                Level::May
            } else {
                Level::None
            }
        } else {
            Level::parse_client(&level_value)
                .map_err(|why| Error::invalid(&level_param, &level_value, why))?
        };
        let exclude = self.own("tls_exclude_ciphers")?;
        let mandatory_exclude = self.own("tls_mandatory_exclude_ciphers")?;
        let policies = vec![
            self.policy(
                Policy::Opportunistic,
                self.name("tls_protocols"),
                self.name("tls_ciphers"),
                vec![exclude.clone()],
                &[],
                self.name("tls_exclude_ciphers"),
            )?,
            self.policy(
                Policy::Encrypt,
                self.name("tls_mandatory_protocols"),
                self.name("tls_mandatory_ciphers"),
                vec![exclude.clone(), mandatory_exclude.clone()],
                &["eNULL"],
                self.name("tls_mandatory_exclude_ciphers"),
            )?,
            self.policy(
                Policy::Authenticated,
                self.name("tls_mandatory_protocols"),
                self.name("tls_mandatory_ciphers"),
                vec![exclude, mandatory_exclude],
                &["aNULL"],
                self.name("tls_mandatory_exclude_ciphers"),
            )?,
        ];
        Ok(ClientSettings {
            level,
            fingerprint_match: self.own("tls_fingerprint_cert_match")?,
            verify_match: self.own("tls_verify_cert_match")?,
            secure_match: self.own("tls_secure_cert_match")?,
            servername: self.own("tls_servername")?,
            cache_timeout: self
                .params
                .get_time(&self.name("tls_session_cache_timeout"))?,
            trust_anchor_file: self.own("tls_trust_anchor_file")?,
            wrappermode: self.own_bool("tls_wrappermode")?,
            tlsrpt_skip_reused: {
                let name = self.name("tlsrpt_skip_reused_handshakes");
                let compat_break = self.params.release().tlsrpt_skip_reused_compat_break()
                    && !self.params.is_explicit(&name)
                    && self.params.compatibility_level_below(3, 11)?;
                compat_break || self.own_bool("tlsrpt_skip_reused_handshakes")?
            },
            policies,
        })
    }
}

impl Settings {
    /// Read the settings of role prefix `smtp`, `lmtp` or `smtpd`.
    pub fn read(params: &Params, prefix: &str) -> Result<Settings> {
        let role = role_of(prefix)?;
        let r = Reader { params, prefix };
        let (handshake, io) = match role {
            Role::Server => ("smtpd_starttls_timeout".into(), "smtpd_timeout".into()),
            Role::Client => (r.name("starttls_timeout"), r.name("data_xfer_timeout")),
        };
        let release = params.release();
        let default_of = |name: &str| {
            if name == "tls_ffdhe_auto_groups" && !release.has_ffdhe_groups() {
                return String::new();
            }
            params.default_value(name).unwrap_or_default().to_string()
        };
        // Read (and so checked) as Postfix reads them, though unused.
        for name in [
            "tls_eecdh_strong_curve",
            "tls_eecdh_ultra_curve",
            "tls_low_cipherlist",
            "tls_export_cipherlist",
        ] {
            params.get(name)?;
        }
        let depth_param = match role {
            Role::Server => "smtpd_tls_ccert_verifydepth".to_string(),
            Role::Client => r.name("tls_scert_verifydepth"),
        };
        let ca_prefix = if role == Role::Server {
            "smtpd"
        } else {
            prefix
        };
        Ok(Settings {
            role,
            prefix: prefix.to_string(),
            release,
            strict: params.strict()?,
            loglevel: r.named(r.name("tls_loglevel"))?,
            digest: r.named(r.name("tls_fingerprint_digest"))?,
            openssl_config: OpensslConfig {
                file: params.get("tls_config_file")?,
                name: params.get("tls_config_name")?,
            },
            dane_digests: params.get("tls_dane_digests")?,
            unused: params.unused_tls_names(prefix),
            handshake_timeout: params.get_time(&handshake)?,
            io_timeout: params.get_time(&io)?,
            fast_shutdown: params.get_bool("tls_fast_shutdown_enable")?,
            legacy_pkey_fingerprints: params.get_bool("tls_legacy_public_key_fingerprints")?
                && !release.ignores_legacy_pkey_fingerprints(),
            release_buffers: params.get_bool("mtatls_release_buffers")?,
            enable_rpk: release.knows_param(&r.name("tls_enable_rpk"))
                && r.own_bool("tls_enable_rpk")?,
            read_ahead: params.get_bool("mtatls_read_ahead")?,
            preempt_cipherlist: params.get_bool("tls_preempt_cipherlist")?,
            disable_workarounds: params.get("tls_disable_workarounds")?,
            ssl_options: params.get("tls_ssl_options")?,
            groups: Groups {
                eecdh: params.get("tls_eecdh_auto_curves")?,
                ffdhe: if release.has_ffdhe_groups() {
                    params.get("tls_ffdhe_auto_groups")?
                } else {
                    String::new()
                },
                default_eecdh: default_of("tls_eecdh_auto_curves"),
                default_ffdhe: default_of("tls_ffdhe_auto_groups"),
                release,
            },
            cipherlists: Cipherlists {
                high: params.get("tls_high_cipherlist")?,
                medium: params.get("tls_medium_cipherlist")?,
                null: params.get("tls_null_cipherlist")?,
            },
            credentials: r.credentials(role)?,
            trust: Trust {
                ca_file: params.get(&format!("{ca_prefix}_tls_CAfile"))?,
                ca_path: params.get(&format!("{ca_prefix}_tls_CApath"))?,
                append_default: params.get_bool("tls_append_default_CA")?,
                verify_depth: params.get_int(&depth_param)?.saturating_add(1).min(100) as u32,
            },
            server: match role {
                Role::Server => Some(r.server()?),
                Role::Client => None,
            },
            client: match role {
                Role::Client => Some(r.client()?),
                Role::Server => None,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::grades::check_exclusions;

    #[test]
    fn grades_and_exclusions_build_postfix_strings() {
        assert_eq!(parse_grade("HIGH"), Some(Grade::High));
        assert_eq!(parse_grade("bogus"), None);
        let mut p = Params::new();
        p.set("smtpd_tls_security_level", "may").unwrap();
        p.set("smtpd_tls_exclude_ciphers", "RC4, aNULL").unwrap();
        let s = Settings::read(&p, "smtpd").unwrap();
        let mut policy = s.server.unwrap().policy;
        policy.exclusions.push(String::new());
        policy.exclusions.push("aNULL".into());
        assert_eq!(
            policy.cipher_list(),
            "aNULL:-aNULL:HIGH:MEDIUM:!SEED:!IDEA:!3DES:!RC2:!RC4:!RC5:!kDH:!kECDH:!aDSS:!MD5:+RC4:@STRENGTH:!RC4:!aNULL:!aNULL"
        );
        p.set("smtpd_tls_ciphers", "low").unwrap();
        let s = Settings::read(&p, "smtpd").unwrap();
        assert_eq!(
            s.server.unwrap().policy.grade_list,
            p.get("tls_medium_cipherlist").unwrap()
        );
        assert!(check_exclusions("kEDH+aRSA, RC4").is_ok());
        assert_eq!(
            check_exclusions("RC4 !aNULL"),
            Err("invalid unary '!+-@' in cipher exclusion: !aNULL".into())
        );
    }

    #[test]
    fn client_settings_name_their_parameters() {
        let mut p = Params::new();
        p.set("lmtp_tls_security_level", "encrypt").unwrap();
        let s = Settings::read(&p, "lmtp").unwrap();
        let c = s.client.unwrap();
        assert_eq!(c.level, Level::Encrypt);
        assert_eq!(
            c.policies[1].protocols.param,
            "lmtp_tls_mandatory_protocols"
        );
        assert_eq!(
            c.policies[2].exclusion_param,
            "lmtp_tls_mandatory_exclude_ciphers"
        );
        assert_eq!(s.loglevel.param, "lmtp_tls_loglevel");
        assert!(role_of("smtpx").is_err());
    }
}
