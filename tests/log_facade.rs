//! Rust hosts receive the library's lines through the `log` facade
//! (`Context::new`), with Postfix's text unchanged; the library never
//! installs a logger of its own.

use std::sync::Mutex;

use log::{Level, Log, Metadata, Record};

struct Collect(Mutex<Vec<(Level, String, String)>>);

impl Log for Collect {
    fn enabled(&self, _: &Metadata) -> bool {
        true
    }
    fn log(&self, r: &Record) {
        self.0
            .lock()
            .unwrap()
            .push((r.level(), r.target().to_string(), r.args().to_string()));
    }
    fn flush(&self) {}
}

static LOGGER: Collect = Collect(Mutex::new(Vec::new()));

#[test]
fn records_reach_the_hosts_logger() {
    // The library has not installed a logger: the host's can be set.
    log::set_logger(&LOGGER).expect("no logger installed before the host's");
    log::set_max_level(log::LevelFilter::Info);
    let mut p = mtatls::Params::new();
    p.set("smtp_tls_security_level", "may").unwrap();
    p.set("smtp_tls_loglevel", "2").unwrap();
    p.set("tls_eecdh_auto_curves", "X25519 no-such-curve")
        .unwrap();
    mtatls::Context::new(&p, "smtp").unwrap();
    let got = LOGGER.0.lock().unwrap().clone();
    assert!(
        got.contains(&(
            Level::Info,
            "mtatls".into(),
            "initializing the client-side TLS engine".into()
        )),
        "{got:?}"
    );
    assert!(
        got.contains(&(
            Level::Warn,
            "mtatls".into(),
            "ignoring unknown key exchange group \"no-such-curve\"".into()
        )),
        "{got:?}"
    );
}
