//! SNI. Client: the name `smtp_tls_servername` asks for.
//! Server: `tls_server_sni_maps`, a Postfix lookup table from server name
//! (or `.parent.domain`) to chain files; every chain is loaded when the
//! context is built, and the handshake switches to the matching one.

use std::collections::HashMap;
use std::sync::Arc;

use once_cell::sync::Lazy;
use openssl::ex_data::Index;
use openssl::ssl::{NameType, SniError, SslContext, SslContextBuilder, SslRef};

use crate::context::certs::{self, KeyChain};
use crate::context::exdata;
use crate::error::{Error, ErrorKind, Result};

/// Whether `name` is a valid host name as Postfix's `valid_hostname`
/// accepts it: dot-separated labels of letters, digits and hyphens (not at
/// either end of a label), at most 63 bytes each and 255 in all, not all
/// numeric.
pub fn valid_hostname(name: &str) -> bool {
    if name.is_empty() || name.len() > 255 || name.starts_with('.') || name.ends_with('.') {
        return false;
    }
    let labels: Vec<&str> = name.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    labels.iter().all(label_ok) && !labels.iter().all(|l| l.bytes().all(|b| b.is_ascii_digit()))
}

/// A host's own SNI lookup: given the requested server name, the key of
/// the `tls_server_sni_maps` entry to use, or `None` for the default chain.
pub type SniSelector = dyn Fn(&str) -> Option<String> + Send + Sync;

/// The server's SNI table: lower-case keys to key chains, and optionally
/// the host's selector that picks an entry instead of Postfix's lookup.
pub struct SniTable {
    entries: HashMap<String, Vec<KeyChain>>,
    selector: Option<Arc<SniSelector>>,
}

impl SniTable {
    /// The chains for `name`: with a host selector, the entry it names;
    /// otherwise the name itself, then each parent domain with a leading
    /// dot (`a.b.example` → `.b.example` → `.example`).
    pub fn lookup(&self, name: &str) -> Option<&[KeyChain]> {
        if let Some(select) = &self.selector {
            let key = select(name)?;
            return self
                .entries
                .get(&key.to_ascii_lowercase())
                .map(Vec::as_slice);
        }
        let name = name.to_ascii_lowercase();
        if let Some(c) = self.entries.get(&name) {
            return Some(c);
        }
        let mut rest = name.as_str();
        while let Some(i) = rest.find('.') {
            let parent = &rest[i..];
            if let Some(c) = self.entries.get(parent) {
                return Some(c);
            }
            rest = &rest[i + 1..];
        }
        None
    }

    /// Number of names in the table.
    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

/// Key and value pairs of a table: `texthash:/path` (also a bare path, and
/// `hash:`/`lmdb:`/`btree:`/`cdb:` tables, read from their source file), or
/// `inline:{ name = files, { name = files with spaces } }`.
fn table_entries(spec: &str) -> Result<Vec<(String, String)>> {
    let bad = |why: String| {
        Error::new(
            ErrorKind::InvalidValue,
            format!("tls_server_sni_maps = {spec}: {why}"),
        )
    };
    if let Some(body) = spec.strip_prefix("inline:") {
        let body = body.trim();
        let inner = body
            .strip_prefix('{')
            .and_then(|b| b.strip_suffix('}'))
            .ok_or_else(|| bad("inline table must be { name = value, ... }".into()))?;
        let mut out = Vec::new();
        for item in split_inline(inner) {
            let item = item.trim().trim_start_matches('{').trim_end_matches('}');
            if item.trim().is_empty() {
                continue;
            }
            let (k, v) = item
                .split_once('=')
                .ok_or_else(|| bad(format!("missing '=' in \"{item}\"")))?;
            out.push((k.trim().to_string(), v.trim().to_string()));
        }
        return Ok(out);
    }
    let path = match spec.split_once(':') {
        Some(("texthash" | "hash" | "lmdb" | "btree" | "cdb", p)) => p,
        Some((kind, _)) if !kind.contains('/') => {
            return Err(bad(format!(
                "unsupported table type \"{kind}\" (use texthash: or inline:)"
            )))
        }
        _ => spec,
    };
    let text = std::fs::read_to_string(path).map_err(|e| {
        bad(format!(
            "cannot read {path}: {}",
            crate::text::os_error_text(&e)
        ))
    })?;
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if line.starts_with(|c: char| c.is_ascii_whitespace()) {
            if let Some(last) = out.last_mut() {
                last.1.push(' ');
                last.1.push_str(trimmed);
                continue;
            }
        }
        let (k, v) = trimmed
            .split_once(|c: char| c.is_ascii_whitespace())
            .ok_or_else(|| bad(format!("{path}: no value for \"{trimmed}\"")))?;
        out.push((k.to_string(), v.trim().to_string()));
    }
    Ok(out)
}

/// Split inline table items on commas outside braces.
fn split_inline(text: &str) -> Vec<&str> {
    let mut items = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                items.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&text[start..]);
    items
}

/// Load `tls_server_sni_maps`: every name's chain files, now.
pub fn load_table(
    spec: &str,
    selector: Option<Arc<SniSelector>>,
    warn: &mut dyn FnMut(String),
) -> Result<SniTable> {
    let mut entries = HashMap::new();
    for (name, files) in table_entries(spec)? {
        let list: Vec<&str> = crate::config::params::split_list(&files).collect();
        let chains = certs::load_chain_files(&list, &files, warn).map_err(|e| {
            Error::new(
                e.kind(),
                format!("tls_server_sni_maps: {name}: {}: error loading private keys and certificates from: {files}", e.message()),
            )
        })?;
        entries.insert(name.to_ascii_lowercase(), chains);
    }
    Ok(SniTable { entries, selector })
}

static SNI_INDEX: Lazy<Option<Index<SslContext, Arc<SniTable>>>> =
    Lazy::new(|| SslContext::new_ex_index().ok());

/// Make the index now, while the context is built.
pub(crate) fn prepare() {
    Lazy::force(&SNI_INDEX);
}

/// Install the SNI table and its callback on a server context.
pub fn enable(b: &mut SslContextBuilder, table: Arc<SniTable>) -> Result<()> {
    let index = SNI_INDEX
        .ok_or_else(|| Error::new(ErrorKind::Context, "cannot allocate SNI ex_data index"))?;
    b.set_ex_data(index, table);
    b.set_servername_callback(|ssl, _alert| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| on_servername(ssl)))
            .unwrap_or(Err(SniError::ALERT_FATAL))
    });
    Ok(())
}

fn on_servername(ssl: &mut SslRef) -> std::result::Result<(), SniError> {
    let Some(name) = ssl.servername(NameType::HOST_NAME).map(str::to_string) else {
        return Err(SniError::NOACK);
    };
    let shared = exdata::get(ssl).cloned();
    let label = shared.as_ref().map(|s| s.label.clone()).unwrap_or_default();
    let info = |line: String| {
        if let Some(s) = &shared {
            s.logger.info(&line);
        }
    };
    if !valid_hostname(&name) {
        if let Some(s) = &shared {
            s.logger
                .warn(&format!("TLS SNI from {label} is invalid: {name}"));
        }
        return Err(SniError::NOACK);
    }
    let Some(index) = *SNI_INDEX else {
        return Err(SniError::NOACK);
    };
    let Some(table) = ssl.ssl_context().ex_data(index).cloned() else {
        return Err(SniError::NOACK);
    };
    let Some(chains) = table.lookup(&name) else {
        info(format!(
            "TLS SNI {name} from {label} not matched, using default chain"
        ));
        return Err(SniError::NOACK);
    };
    for kc in chains {
        let ok = crate::sys::ssl::use_cert_and_key(ssl, &kc.cert, &kc.key, &kc.chain);
        if !ok {
            crate::logging::clear_openssl_errors();
            if let Some(s) = &shared {
                s.logger.warn(&format!(
                    "{label}: error loading SNI key and certificate for {name}"
                ));
            }
            return Err(SniError::ALERT_FATAL);
        }
    }
    if let Some(s) = &shared {
        if let Ok(mut sni) = s.sni.lock() {
            *sni = Some(name.to_ascii_lowercase());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostnames() {
        for ok in ["mail.example.com", "a", "x-1.example", "1a.example"] {
            assert!(valid_hostname(ok), "{ok}");
        }
        for bad in [
            "",
            ".example",
            "example.",
            "a..b",
            "-a.example",
            "a-.example",
            "a_b.example",
            "127.0.0.1",
            "a b",
        ] {
            assert!(!valid_hostname(bad), "{bad}");
        }
        assert!(!valid_hostname(&format!("{}.example", "a".repeat(64))));
    }

    #[test]
    fn inline_tables_parse() {
        let e =
            table_entries("inline:{ mail.example.com = /a.pem /b.pem, { .example.org = /c.pem } }")
                .unwrap();
        assert_eq!(
            e,
            vec![
                ("mail.example.com".to_string(), "/a.pem /b.pem".to_string()),
                (".example.org".to_string(), "/c.pem".to_string())
            ]
        );
        assert!(table_entries("pcre:/etc/x")
            .unwrap_err()
            .message()
            .contains("unsupported table type \"pcre\""));
        assert!(table_entries("inline:{ novalue }").is_err());
    }

    #[test]
    fn parent_domain_lookup() {
        let mut entries = HashMap::new();
        entries.insert("mail.example.com".to_string(), Vec::new());
        entries.insert(".example.org".to_string(), Vec::new());
        let t = SniTable {
            entries,
            selector: None,
        };
        assert!(t.lookup("MAIL.example.com").is_some());
        assert!(t.lookup("a.b.example.org").is_some());
        assert!(t.lookup("example.org").is_none());
        assert!(t.lookup("other.example.com").is_none());
    }
}
