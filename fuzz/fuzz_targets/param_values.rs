//! Parameter values set one by one with Params::set, then a server
//! ("smtpd") and a client ("smtp") context built from them. Errors are
//! fine; panics, hangs and runaway memory are not.
//!
//! Input: lines. `name = value` sets a known parameter by name; any other
//! line sets parameter number (first byte % PARAMS.len()) to the rest of
//! the line. Before the input, smtpd_tls_security_level = may and
//! smtpd_tls_chain_files = a self-signed RSA chain (made once).
//!
//! File parameters never name arbitrary paths (a fuzzer would find
//! /dev/zero): their values are lists of fixture names, `@rsa` `@rsa-key`
//! `@rsa-cert` `@ec` `@ec-key` `@ec-cert` `@ca` `@ta` `@dh` `@junk`
//! `@empty` `@missing` `@capath`, plus `none` and `auto`; other tokens are
//! dropped, and so is any `$` expansion in them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mtatls::unstable::{lookup, split_list, PARAMS};
use mtatls::Params;

#[path = "common/mod.rs"]
mod common;

const FILE_SUFFIXES: &[&str] = &[
    "_chain_files",
    "_cert_file",
    "_key_file",
    "_eccert_file",
    "_eckey_file",
    "_dcert_file",
    "_dkey_file",
    "_CAfile",
    "_CApath",
    "_trust_anchor_file",
    "_param_file",
    "_cache_database",
    "_sni_maps",
];

const FIXTURES: &[&str] = &[
    "rsa", "rsa-key", "rsa-cert", "ec", "ec-key", "ec-cert", "ca", "ta", "dh", "junk", "empty",
    "missing", "capath",
];

fn is_file_param(name: &str) -> bool {
    FILE_SUFFIXES.iter().any(|s| name.ends_with(s))
}

/// A file parameter's value with only fixture paths left in it.
fn sanitize_files(value: &str) -> String {
    let files = common::files();
    let mut out = Vec::new();
    for token in split_list(value) {
        if token == "none" || token == "auto" {
            out.push(token.to_string());
        } else if let Some(name) = token.strip_prefix('@') {
            let name = name.trim_end_matches(".pem");
            if FIXTURES.contains(&name) {
                let file = if name == "capath" {
                    name.to_string()
                } else {
                    format!("{name}.pem")
                };
                out.push(files.path(&file));
            }
        }
    }
    out.join(", ")
}

fuzz_target!(|data: &[u8]| {
    let files = common::files();
    let text = String::from_utf8_lossy(data);
    let mut p = Params::new();
    p.set("smtpd_tls_security_level", "may").unwrap();
    p.set("smtpd_tls_chain_files", &files.path("rsa.pem"))
        .unwrap();
    for line in text.split('\n').take(64) {
        let (name, value) = match line.split_once('=') {
            Some((n, v)) if lookup(n.trim()).is_some() => (n.trim().to_string(), v),
            _ => {
                let Some(first) = line.chars().next() else {
                    continue;
                };
                let def = &PARAMS[first as usize % PARAMS.len()];
                (def.name.to_string(), &line[first.len_utf8()..])
            }
        };
        let value = if is_file_param(&name) {
            sanitize_files(value)
        } else {
            // Fixed bug (fuzz/artifacts-found/param_values-nul-in-cipher-list):
            // a NUL byte in a cipher list made Context::new panic; values
            // with NUL are now refused by Params::set, and fuzzed as they are.
            value.to_string()
        };
        if let Err(e) = p.set(&name, &value) {
            assert!(!e.message().is_empty());
        }
    }
    for prefix in ["smtpd", "smtp"] {
        match mtatls::Context::with_hooks(&p, prefix, &mtatls::Hooks::with_logger(common::discard_logger())) {
            Ok(ctx) => {
                let _ = (ctx.profile(ctx.level()), ctx.log_mask(), mtatls::FsReport::of(&ctx));
            }
            Err(e) => assert!(!e.message().is_empty(), "{prefix}: empty error"),
        }
    }
});
