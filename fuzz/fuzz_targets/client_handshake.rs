//! A client session fed the server's bytes: the input is everything the
//! server sends (ServerHello, Certificate, ServerKeyExchange... or a
//! HelloRetryRequest), followed by EOF. The context is built once: level
//! may, log lines discarded (but each counted as a coverage feature: see
//! common::feature_logger). Inputs of even length run at loglevel 0, odd
//! ones at loglevel 2 (OpenSSL state and alert lines through
//! session::info_callback). Errors are fine; panics, hangs, a closed
//! descriptor or unrestored flags are not.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use mtatls::Params;

#[path = "common/mod.rs"]
mod common;

fn make(loglevel: &str) -> Arc<mtatls::Context> {
    let mut p = Params::new();
    p.set("smtp_tls_security_level", "may").unwrap();
    p.set("smtp_tls_loglevel", loglevel).unwrap();
    Arc::new(mtatls::Context::with_hooks(&p, "smtp", &mtatls::Hooks::with_logger(common::feature_logger())).expect("client context"))
}

fn context(data: &[u8]) -> &'static Arc<mtatls::Context> {
    static CTX: OnceLock<[Arc<mtatls::Context>; 2]> = OnceLock::new();
    &CTX.get_or_init(|| [make("0"), make("2")])[data.len() % 2]
}

fuzz_target!(|data: &[u8]| {
    common::handshake_on_socketpair(context(data), data, "mx1.example.net[192.0.2.25]:25");
});
