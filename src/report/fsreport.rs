//! The forward-secrecy report of a context: for each cipher policy the
//! context can use, the protocol range, the TLS 1.2-and-older suites OpenSSL
//! will offer in preference order (as `openssl ciphers -v` describes them),
//! marked forward-secret or not, the TLS 1.3 suites, the key-exchange
//! groups and what became of each configured name, the DH parameters, and
//! a verdict naming the parameter to change for every path to a session
//! without forward secrecy. As text and as JSON.

use std::fmt::Write;

use crate::context::groups::{DhChoice, GroupChoice};
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
    /// The key exchange is ephemeral (ECDHE, DHE, or any TLS 1.3 suite).
    pub forward_secret: bool,
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
    /// TLS 1.2 DHE parameters: source and bits (server).
    pub dh: Option<(String, u32)>,
    /// Problems: each a path to a session without forward secrecy, or a
    /// weakness of it, with the parameter to change. Empty: all good.
    pub problems: Vec<String>,
}

fn field<'a>(desc: &'a str, key: &str) -> &'a str {
    desc.split_whitespace()
        .find_map(|w| w.strip_prefix(key))
        .unwrap_or("")
}

/// The suites of a profile's OpenSSL context, in order.
fn suites(
    profile: &Profile,
    has_ec_groups: bool,
    role: Role,
    key_types: &[&str],
) -> (Vec<Suite>, Vec<Suite>) {
    let (mut legacy, mut tls13) = (Vec::new(), Vec::new());
    {
        for c in ssl::ctx_ciphers(&profile.ssl) {
            let desc = ssl::cipher_description(c);
            let name = desc.split_whitespace().next().unwrap_or("").to_string();
            let protocol = desc.split_whitespace().nth(1).unwrap_or("").to_string();
            let forward_secret = matches!(
                ssl::cipher_kx_nid(c),
                kx::ECDHE | kx::DHE | kx::ECDHE_PSK | kx::DHE_PSK | kx::ANY
            );
            let au = field(&desc, "Au=").to_string();
            let kx = field(&desc, "Kx=").to_string();
            let mut unusable = String::new();
            if kx.contains("PSK") || au.contains("PSK") {
                unusable = "needs a pre-shared key (none configured)".into();
            } else if kx.contains("SRP") {
                unusable = "needs SRP (not configured)".into();
            } else if kx == "ECDH" && !has_ec_groups {
                unusable = "no elliptic-curve group configured".into();
            } else if role == Role::Server
                && !matches!(au.as_str(), "None" | "any")
                && !key_types.contains(&au.as_str())
            {
                unusable = format!("no {au} server key");
            }
            let suite = Suite {
                name,
                protocol: protocol.clone(),
                kx,
                au,
                enc: field(&desc, "Enc=").to_string(),
                mac: field(&desc, "Mac=").to_string(),
                forward_secret,
                unusable,
            };
            if protocol == "TLSv1.3" {
                tls13.push(suite);
            } else {
                legacy.push(suite);
            }
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
    // OpenSSL 3.0's default list (used when none is configured) has EC curves.
    let has_ec = groups.is_empty() || groups.iter().any(|g| !g.starts_with("ffdhe"));
    let key_types: Vec<&str> = ctx.key_types.iter().map(String::as_str).collect();
    let mut problems = Vec::new();
    let mut policies = Vec::new();
    for p in ctx.profiles() {
        let levels = match p.policy {
            Policy::Server => "server".to_string(),
            Policy::Opportunistic => "may".to_string(),
            Policy::Encrypt => "encrypt".to_string(),
            Policy::Authenticated => "fingerprint, dane, dane-only, verify, secure".to_string(),
        };
        let (mut legacy, tls13) = suites(p, has_ec, ctx.role, &key_types);
        let legacy_allowed = p.protocols.iter().any(|v| *v != "TLSv1.3");
        if !legacy_allowed {
            for s in &mut legacy {
                if s.unusable.is_empty() {
                    s.unusable = "TLS 1.2 and older are not enabled".into();
                }
            }
        }
        let bad: Vec<&str> = legacy
            .iter()
            .filter(|s| !s.forward_secret && s.unusable.is_empty())
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
            problems.push(format!(
                "DH parameters in {source} have {bits} bits (weak): use smtpd_tls_dh1024_param_file = auto or a group of 2048 bits or more"
            ));
        }
    }
    if !groups.is_empty() && !has_ec {
        problems.push(
            "no elliptic-curve group is configured (tls_eecdh_auto_curves is empty): TLS 1.2 ECDHE suites cannot be used, and TLS 1.3 uses the slower FFDHE groups".to_string(),
        );
    }
    FsReport {
        role: ctx.prefix.clone(),
        policies,
        groups,
        group_config: ctx
            .group_entries
            .iter()
            .map(|g| (g.name.clone(), g.status.clone()))
            .collect(),
        dh,
        problems,
    }
}

impl FsReport {
    /// The report of `ctx`.
    pub fn of(ctx: &Context) -> FsReport {
        report(ctx)
    }

    /// Whether every negotiable session is forward-secret.
    pub fn all_forward_secret(&self) -> bool {
        !self
            .problems
            .iter()
            .any(|p| p.contains("without forward secrecy"))
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
            let _ = writeln!(t, "  TLS 1.3 suites (always forward-secret):");
            for s in &p.tls13 {
                let _ = writeln!(t, "    {:<30} Enc={}", s.name, s.enc);
            }
            let _ = writeln!(t, "  TLS 1.2 and older, in preference order:");
            for s in &p.legacy {
                let fs = if s.forward_secret { "FS   " } else { "NO-FS" };
                let note = if s.unusable.is_empty() {
                    String::new()
                } else {
                    format!("  (not negotiable: {})", s.unusable)
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
                        "{{\"name\":{},\"protocol\":{},\"kx\":{},\"au\":{},\"enc\":{},\"mac\":{},\"forward_secret\":{},\"negotiable\":{},\"unusable\":{}}}",
                        js(&s.name), js(&s.protocol), js(&s.kx), js(&s.au), js(&s.enc), js(&s.mac),
                        s.forward_secret, s.unusable.is_empty(), js(&s.unusable)
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
        format!(
            "{{\"role\":{},\"policies\":[{}],\"groups\":[{}],\"group_config\":[{}],\"dh\":{},\"problems\":[{}],\"all_forward_secret\":{},\"verdict\":{}}}",
            js(&self.role),
            policies.join(","),
            groups.join(","),
            config.join(","),
            dh,
            problems.join(","),
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
