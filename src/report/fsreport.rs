//! The forward-secrecy report of a context: for each cipher policy the
//! context can use, the protocol range, the TLS 1.2-and-older suites OpenSSL
//! will offer in preference order (as `openssl ciphers -v` describes them),
//! marked forward-secret or not (a suite without encryption never is), the
//! DH group size each DHE suite gets, the TLS 1.3 suites (when TLS 1.3 is
//! enabled), the key-exchange groups with what each can be used for (EC
//! curves for TLS 1.2 ECDHE, FFDHE groups and hybrid KEMs for TLS 1.3
//! only) and what became of each configured name, the DH parameters, and
//! a verdict naming the parameter to change for every path to a session
//! without forward secrecy; warnings for weak forward secrecy. As text and
//! as JSON.

use std::fmt::Write;

use crate::context::groups::{auto_dh_bits, group_kinds, DhChoice, GroupChoice, GroupKind};
use crate::context::{Context, Policy, Profile, Role};
use crate::sys::ssl::{self, kx};

/// One cipher suite as the report shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suite {
    /// OpenSSL name.
    pub name: String,
    /// Lowest protocol it needs (`TLSv1.2`, `SSLv3`, `TLSv1.3`).
    pub protocol: String,
    /// Key exchange (`ECDH`, `DH`, `RSA`, `any`, ...).
    pub kx: String,
    /// Authentication (`RSA`, `ECDSA`, `None`, `any`, ...).
    pub au: String,
    /// Encryption (`AESGCM(256)`, ...).
    pub enc: String,
    /// MAC (`AEAD`, `SHA384`, ...).
    pub mac: String,
    /// The key exchange is ephemeral (ECDHE, DHE, or any TLS 1.3 suite)
    /// and the suite encrypts: a suite without encryption (eNULL) has no
    /// secrecy to keep, forward or otherwise.
    pub forward_secret: bool,
    /// The suite encrypts (false for eNULL suites).
    pub encrypted: bool,
    /// Server, DHE suites: the size of the DH group it gets (0: not DHE,
    /// or a client, which gets the server's choice).
    pub dh_bits: u32,
    /// Why the suite cannot be negotiated here ("" if it can).
    pub unusable: String,
}

/// One cipher policy of the context (the server has one; a client one per
/// class of security levels).
#[derive(Debug, Clone)]
pub struct PolicyReport {
    /// `server`, or the client levels using it.
    pub levels: String,
    /// Cipher grade.
    pub grade: String,
    /// OpenSSL cipher string.
    pub cipher_list: String,
    /// Allowed protocol versions, lowest first.
    pub protocols: Vec<String>,
    /// TLS 1.2-and-older suites, in preference order.
    pub legacy: Vec<Suite>,
    /// TLS 1.3 suites.
    pub tls13: Vec<Suite>,
    /// Parameters that set protocols, grade and exclusions.
    pub params: [String; 3],
}

/// The whole report.
#[derive(Debug, Clone)]
pub struct FsReport {
    /// `smtp`, `lmtp` or `smtpd`.
    pub role: String,
    /// Per policy.
    pub policies: Vec<PolicyReport>,
    /// Groups in effect, in order (empty: OpenSSL's defaults).
    pub groups: Vec<String>,
    /// Configured group names and what became of each.
    pub group_config: Vec<(String, String)>,
    /// Each group in effect and what it can be used for (EC curve, FFDHE,
    /// hybrid KEM, ...); empty with OpenSSL's defaults.
    pub group_kinds: Vec<(String, String)>,
    /// TLS 1.2 DHE parameters: source and bits (server).
    pub dh: Option<(String, u32)>,
    /// Problems: each a path to a session without forward secrecy (or
    /// without encryption), or a setting that leaves suites unusable, with
    /// the parameter to change. Empty: all good.
    pub problems: Vec<String>,
    /// Weaknesses of forward secrecy that do not remove it (a DH group
    /// under 2048 bits), with the parameter to change.
    pub warnings: Vec<String>,
}

fn field<'a>(desc: &'a str, key: &str) -> &'a str {
    desc.split_whitespace()
        .find_map(|w| w.strip_prefix(key))
        .unwrap_or("")
}

/// What the suites of a profile can use: EC curves for ECDHE, the DH
/// parameters, the server's keys.
struct SuiteEnv<'a> {
    has_ec_groups: bool,
    role: Role,
    key_types: &'a [&'a str],
    key_security_bits: &'a [u32],
    dh: Option<&'a DhChoice>,
}

impl SuiteEnv<'_> {
    /// The DH group size a server's DHE suite gets (0: unknown).
    fn dh_bits(&self, au: &str, strength_bits: i32) -> u32 {
        if self.role != Role::Server {
            return 0;
        }
        match self.dh {
            Some(DhChoice::File(_, bits)) => *bits,
            Some(DhChoice::Auto) | None => {
                let anonymous = matches!(au, "None" | "PSK");
                let key_bits = self
                    .key_types
                    .iter()
                    .position(|k| *k == au)
                    .and_then(|i| self.key_security_bits.get(i).copied())
                    .unwrap_or(0);
                if !anonymous && key_bits == 0 {
                    return 0;
                }
                // Postfix's contexts, and so mtatls's, have security level 0.
                auto_dh_bits(anonymous, strength_bits, key_bits, 0)
            }
        }
    }
}

/// The suites of a profile's OpenSSL context, in order.
fn suites(profile: &Profile, env: &SuiteEnv) -> (Vec<Suite>, Vec<Suite>) {
    let (mut legacy, mut tls13) = (Vec::new(), Vec::new());
    let ciphers = profile
        .ssl()
        .map(|c| ssl::ctx_ciphers(c))
        .unwrap_or_default();
    for c in ciphers {
        let desc = ssl::cipher_description(c);
        let name = desc.split_whitespace().next().unwrap_or("").to_string();
        let protocol = desc.split_whitespace().nth(1).unwrap_or("").to_string();
        let enc = field(&desc, "Enc=").to_string();
        let encrypted = enc != "None";
        let kx_nid = ssl::cipher_kx_nid(c);
        let forward_secret = encrypted
            && matches!(
                kx_nid,
                kx::ECDHE | kx::DHE | kx::ECDHE_PSK | kx::DHE_PSK | kx::ANY
            );
        let au = field(&desc, "Au=").to_string();
        let kx = field(&desc, "Kx=").to_string();
        let dh_bits = if matches!(kx_nid, kx::DHE | kx::DHE_PSK) {
            env.dh_bits(&au, c.bits().secret)
        } else {
            0
        };
        let mut unusable = String::new();
        if kx.contains("PSK") || au.contains("PSK") {
            unusable = "needs a pre-shared key (none configured)".into();
        } else if kx.contains("SRP") {
            unusable = "needs SRP (not configured)".into();
        } else if kx == "ECDH" && !env.has_ec_groups {
            unusable = "no elliptic-curve group configured".into();
        } else if env.role == Role::Server
            && !matches!(au.as_str(), "None" | "any")
            && !env.key_types.contains(&au.as_str())
        {
            unusable = format!("no {au} server key");
        }
        let suite = Suite {
            name,
            protocol: protocol.clone(),
            kx,
            au,
            enc,
            mac: field(&desc, "Mac=").to_string(),
            forward_secret,
            encrypted,
            dh_bits,
            unusable,
        };
        if protocol == "TLSv1.3" {
            tls13.push(suite);
        } else {
            legacy.push(suite);
        }
    }
    (legacy, tls13)
}

/// Build the report of `ctx`.
pub fn report(ctx: &Context) -> FsReport {
    let groups: Vec<String> = match &ctx.groups {
        GroupChoice::List(l) => l.split(':').map(str::to_string).collect(),
        GroupChoice::OpenSslDefault => Vec::new(),
    };
    let kinds = group_kinds(&groups);
    // OpenSSL's default list (used when none is configured) has EC curves;
    // a configured list needs one the providers describe as usable for
    // TLS 1.2 ECDHE (not FFDHE, not a TLS 1.3-only hybrid KEM).
    let has_ec = groups.is_empty() || kinds.contains(&GroupKind::EcCurve);
    let key_types: Vec<&str> = ctx.key_types.iter().map(String::as_str).collect();
    let env = SuiteEnv {
        has_ec_groups: has_ec,
        role: ctx.role,
        key_types: &key_types,
        key_security_bits: &ctx.key_security_bits,
        dh: ctx.dh.as_ref(),
    };
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    let mut policies = Vec::new();
    for p in ctx.profiles() {
        let levels = match p.policy {
            Policy::Server => "server".to_string(),
            Policy::Opportunistic => "may".to_string(),
            Policy::Encrypt => "encrypt".to_string(),
            Policy::Authenticated => "fingerprint, dane, dane-only, verify, secure".to_string(),
        };
        let (mut legacy, mut tls13) = suites(p, &env);
        if p.protocols.is_empty() {
            problems.push(format!(
                "{levels}: {} enables no protocol version this OpenSSL ({}) supports: no TLS session can be made",
                p.params[0],
                crate::sys::version::runtime_version()
            ));
        }
        let legacy_allowed = p.protocols.iter().any(|v| *v != "TLSv1.3");
        if !legacy_allowed {
            for s in &mut legacy {
                if s.unusable.is_empty() {
                    s.unusable = "TLS 1.2 and older are not enabled".into();
                }
            }
        }
        if !p.protocols.contains(&"TLSv1.3") {
            for s in &mut tls13 {
                if s.unusable.is_empty() {
                    s.unusable = "TLS 1.3 is not enabled".into();
                }
            }
        }
        let negotiable = |s: &&Suite| s.unusable.is_empty();
        let clear: Vec<&str> = legacy
            .iter()
            .filter(negotiable)
            .filter(|s| !s.encrypted)
            .map(|s| s.name.as_str())
            .collect();
        if !clear.is_empty() {
            problems.push(format!(
                "{levels}: cipher suites without encryption can be negotiated (eNULL: the session is readable by anyone on the path, so it has no secrecy, forward or otherwise): {}; exclude them with {} = eNULL (or use another grade than {} = null)",
                clear.join(" "),
                p.params[2],
                p.params[1]
            ));
        }
        let bad: Vec<&str> = legacy
            .iter()
            .filter(negotiable)
            .filter(|s| s.encrypted && !s.forward_secret)
            .map(|s| s.name.as_str())
            .collect();
        if !bad.is_empty() {
            problems.push(format!(
                "{levels}: cipher suites without forward secrecy can be negotiated: {}; exclude them with {} = kRSA (or raise {} = >=TLSv1.3)",
                bad.join(" "),
                p.params[2],
                p.params[0]
            ));
        }
        // Weak DH groups, by size, for the suites that get them.
        let mut weak: Vec<(u32, Vec<&str>)> = Vec::new();
        for s in legacy.iter().filter(negotiable) {
            if s.dh_bits > 0 && s.dh_bits < 2048 {
                match weak.iter_mut().find(|(b, _)| *b == s.dh_bits) {
                    Some((_, names)) => names.push(&s.name),
                    None => weak.push((s.dh_bits, vec![&s.name])),
                }
            }
        }
        for (bits, names) in weak {
            let source = match &ctx.dh {
                Some(DhChoice::File(path, _)) => format!("the DH parameters in {path}"),
                _ => "OpenSSL's automatic DH parameters".to_string(),
            };
            warnings.push(format!(
                "{levels}: {source} give these DHE suites a {bits}-bit DH group (weak): {}; set smtpd_tls_dh1024_param_file to a group of 2048 bits or more, or exclude the suites with {}",
                names.join(" "),
                p.params[2]
            ));
        }
        policies.push(PolicyReport {
            levels,
            grade: p.grade.clone(),
            cipher_list: p.cipher_list.clone(),
            protocols: p.protocols.iter().map(|v| v.to_string()).collect(),
            legacy,
            tls13,
            params: p.params.clone(),
        });
    }
    let dh = ctx.dh.as_ref().map(|d| match d {
        DhChoice::Auto => (
            "auto (OpenSSL chooses by key and cipher strength)".to_string(),
            0,
        ),
        DhChoice::File(path, bits) => (path.clone(), *bits),
    });
    if let Some((source, bits)) = &dh {
        if *bits > 0 && *bits < 2048 {
            warnings.push(format!(
                "DH parameters in {source} have {bits} bits (weak): use smtpd_tls_dh1024_param_file = auto or a group of 2048 bits or more"
            ));
        }
    }
    if !has_ec {
        let tls13_only: Vec<&str> = groups
            .iter()
            .zip(&kinds)
            .filter(|(_, k)| matches!(k, GroupKind::Kem | GroupKind::Tls13Only))
            .map(|(g, _)| g.as_str())
            .collect();
        problems.push(format!(
            "no elliptic-curve group is configured for TLS 1.2 ECDHE (tls_eecdh_auto_curves has none{}): TLS 1.2 ECDHE suites cannot be used{}",
            if tls13_only.is_empty() {
                String::new()
            } else {
                format!(
                    "; {} {} TLS 1.3 only",
                    tls13_only.join(" and "),
                    if tls13_only.len() == 1 { "is" } else { "are" }
                )
            },
            if kinds.iter().all(|k| *k == GroupKind::Ffdhe) {
                ", and TLS 1.3 uses the slower FFDHE groups"
            } else {
                ""
            }
        ));
    }
    FsReport {
        role: ctx.prefix.clone(),
        policies,
        group_kinds: groups
            .iter()
            .zip(&kinds)
            .map(|(g, k)| (g.clone(), k.describe().to_string()))
            .collect(),
        groups,
        group_config: ctx
            .group_entries
            .iter()
            .map(|g| (g.name.clone(), g.status.clone()))
            .collect(),
        dh,
        problems,
        warnings,
    }
}

impl FsReport {
    /// The report of `ctx`.
    pub fn of(ctx: &Context) -> FsReport {
        report(ctx)
    }

    /// Whether every negotiable session is forward-secret (and encrypted).
    pub fn all_forward_secret(&self) -> bool {
        !self.problems.iter().any(|p| {
            p.contains("without forward secrecy")
                || p.contains("without encryption")
                || p.contains("no TLS session can be made")
        })
    }

    /// The verdict line.
    pub fn verdict(&self) -> String {
        if self.all_forward_secret() {
            format!("{}: every negotiable session is forward-secret", self.role)
        } else {
            format!(
                "{}: some sessions can be negotiated without forward secrecy",
                self.role
            )
        }
    }

    /// Human-readable text.
    pub fn to_text(&self) -> String {
        let mut t = String::new();
        let _ = writeln!(t, "forward secrecy report for {}", self.role);
        for p in &self.policies {
            let _ = writeln!(
                t,
                "\n[{}] grade {}, protocols {}",
                p.levels,
                p.grade,
                p.protocols.join(" ")
            );
            let _ = writeln!(t, "  cipher list: {}", p.cipher_list);
            if p.protocols.iter().any(|v| v == "TLSv1.3") {
                let _ = writeln!(t, "  TLS 1.3 suites (always forward-secret):");
            } else {
                let _ = writeln!(
                    t,
                    "  TLS 1.3 suites (not negotiable: TLS 1.3 is not enabled by {}):",
                    p.params[0]
                );
            }
            for s in &p.tls13 {
                let _ = writeln!(t, "    {:<30} Enc={}", s.name, s.enc);
            }
            let _ = writeln!(t, "  TLS 1.2 and older, in preference order:");
            for s in &p.legacy {
                let fs = if !s.encrypted {
                    "NOENC"
                } else if s.forward_secret {
                    "FS   "
                } else {
                    "NO-FS"
                };
                let mut notes = Vec::new();
                if s.dh_bits > 0 {
                    notes.push(format!("DH {} bits", s.dh_bits));
                }
                if !s.unusable.is_empty() {
                    notes.push(format!("not negotiable: {}", s.unusable));
                }
                let note = if notes.is_empty() {
                    String::new()
                } else {
                    format!("  ({})", notes.join("; "))
                };
                let _ = writeln!(
                    t,
                    "    {fs} {:<30} {:<7} Kx={:<8} Au={:<6} Enc={:<24} Mac={}{note}",
                    s.name, s.protocol, s.kx, s.au, s.enc, s.mac
                );
            }
        }
        let _ = writeln!(
            t,
            "\nkey exchange groups: {}",
            if self.groups.is_empty() {
                "OpenSSL defaults".to_string()
            } else {
                self.groups.join(" ")
            }
        );
        for (name, kind) in &self.group_kinds {
            let _ = writeln!(t, "  {name}: {kind}");
        }
        if !self.group_config.is_empty() {
            let _ = writeln!(t, "configured group names:");
        }
        for (name, status) in &self.group_config {
            let _ = writeln!(t, "  {name}: {status}");
        }
        if let Some((source, bits)) = &self.dh {
            let bits = if *bits > 0 {
                format!(", {bits} bits")
            } else {
                String::new()
            };
            let _ = writeln!(t, "DH parameters (TLS 1.2 DHE): {source}{bits}");
        }
        let _ = writeln!(t);
        for p in &self.problems {
            let _ = writeln!(t, "problem: {p}");
        }
        for w in &self.warnings {
            let _ = writeln!(t, "warning: {w}");
        }
        let _ = writeln!(t, "verdict: {}", self.verdict());
        t
    }

    /// JSON with the same content as [`FsReport::to_text`].
    pub fn to_json(&self) -> String {
        let suites = |list: &[Suite]| {
            let items: Vec<String> = list
                .iter()
                .map(|s| {
                    format!(
                        "{{\"name\":{},\"protocol\":{},\"kx\":{},\"au\":{},\"enc\":{},\"mac\":{},\"forward_secret\":{},\"encrypted\":{},\"dh_bits\":{},\"negotiable\":{},\"unusable\":{}}}",
                        js(&s.name), js(&s.protocol), js(&s.kx), js(&s.au), js(&s.enc), js(&s.mac),
                        s.forward_secret, s.encrypted, s.dh_bits, s.unusable.is_empty(), js(&s.unusable)
                    )
                })
                .collect();
            format!("[{}]", items.join(","))
        };
        let policies: Vec<String> = self
            .policies
            .iter()
            .map(|p| {
                format!(
                    "{{\"levels\":{},\"grade\":{},\"cipher_list\":{},\"protocols\":[{}],\"tls13_suites\":{},\"legacy_suites\":{}}}",
                    js(&p.levels),
                    js(&p.grade),
                    js(&p.cipher_list),
                    p.protocols.iter().map(|v| js(v)).collect::<Vec<_>>().join(","),
                    suites(&p.tls13),
                    suites(&p.legacy)
                )
            })
            .collect();
        let groups: Vec<String> = self.groups.iter().map(|g| js(g)).collect();
        let config: Vec<String> = self
            .group_config
            .iter()
            .map(|(n, s)| format!("{{\"name\":{},\"status\":{}}}", js(n), js(s)))
            .collect();
        let dh = match &self.dh {
            Some((source, bits)) => format!("{{\"source\":{},\"bits\":{bits}}}", js(source)),
            None => "null".into(),
        };
        let problems: Vec<String> = self.problems.iter().map(|p| js(p)).collect();
        let warnings: Vec<String> = self.warnings.iter().map(|w| js(w)).collect();
        let kinds: Vec<String> = self
            .group_kinds
            .iter()
            .map(|(n, k)| format!("{{\"name\":{},\"kind\":{}}}", js(n), js(k)))
            .collect();
        format!(
            "{{\"role\":{},\"policies\":[{}],\"groups\":[{}],\"group_kinds\":[{}],\"group_config\":[{}],\"dh\":{},\"problems\":[{}],\"warnings\":[{}],\"all_forward_secret\":{},\"verdict\":{}}}",
            js(&self.role),
            policies.join(","),
            groups.join(","),
            kinds.join(","),
            config.join(","),
            dh,
            problems.join(","),
            warnings.join(","),
            self.all_forward_secret(),
            js(&self.verdict())
        )
    }
}

/// A JSON string literal.
fn js(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
