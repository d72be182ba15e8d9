//! A client and a server session of the library over a Unix socketpair,
//! each on its own thread, through the Rust API (the C harnesses cover
//! the C API): build both contexts, run both handshakes, collect results.

#![allow(dead_code)]

use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mtatls::Facts;
use mtatls::Timeout;
use mtatls::{Context, Error, Params, Session};
use mtatls::{Hooks, Logger, Severity};

/// Peer label the server logs.
pub const SERVER_LABEL: &str = "localhost[127.0.0.1]";
/// Peer label the client logs.
pub const CLIENT_LABEL: &str = "mail.example.test[127.0.0.1]:25";

/// What one side saw.
#[derive(Debug, Default)]
pub struct Side {
    /// Context or session setup error.
    pub setup_error: Option<Error>,
    /// Handshake result (None: not attempted).
    pub handshake: Option<Result<(), Error>>,
    pub summary: Option<String>,
    pub received: Option<String>,
    pub facts: Option<Facts>,
    /// Log lines, warnings prefixed with "warning: ".
    pub log: Vec<String>,
}

impl Side {
    /// The handshake error text, or "" on success.
    pub fn error_text(&self) -> String {
        match (&self.setup_error, &self.handshake) {
            (Some(e), _) => e.message().to_string(),
            (None, Some(Err(e))) => e.message().to_string(),
            _ => String::new(),
        }
    }

    /// Whether some log line equals `line`.
    pub fn logged(&self, line: &str) -> bool {
        self.log.iter().any(|l| l == line)
    }
}

fn params(settings: &[(&str, String)], log: Arc<Mutex<Vec<String>>>) -> (Params, Hooks) {
    let mut p = Params::new();
    let hooks = Hooks::with_logger(Logger::with_sink(Arc::new(move |sev, line: &str| {
        let prefix = if sev == Severity::Warning {
            "warning: "
        } else {
            ""
        };
        log.lock().unwrap().push(format!("{prefix}{line}"));
    })));
    for (name, value) in settings {
        p.set(name, value)
            .unwrap_or_else(|e| panic!("{name} = {value}: {e}"));
    }
    (p, hooks)
}

fn run_side(
    role: &str,
    settings: Vec<(&'static str, String)>,
    stream: UnixStream,
    label: &str,
    configure: impl FnOnce(&mut Session) -> Result<(), Error>,
) -> Side {
    let log = Arc::new(Mutex::new(Vec::new()));
    let (p, hooks) = params(&settings, log.clone());
    let mut side = Side::default();
    let result = Context::with_hooks(&p, role, &hooks).and_then(|ctx| {
        let mut s = Session::new(Arc::new(ctx), stream.as_raw_fd(), label)?;
        configure(&mut s)?;
        Ok(s)
    });
    match result {
        Err(e) => side.setup_error = Some(e),
        Ok(mut s) => {
            let hs = s.handshake(Some(Timeout::After(Duration::from_secs(10))));
            side.summary = s.summary();
            side.received = s.received_comment();
            side.facts = s.facts().cloned();
            if hs.is_ok() || s.facts().is_some() {
                let _ = s.stop(Some(Timeout::After(Duration::from_secs(5))));
            }
            side.handshake = Some(hs);
        }
    }
    // Let the peer see the end at once if we stopped early.
    let _ = stream.shutdown(std::net::Shutdown::Both);
    side.log = log.lock().unwrap().clone();
    side
}

/// Run a server with `server` settings and a client with `client`
/// settings; `configure` sets up the client session (level, names, ...).
pub fn run(
    server: Vec<(&'static str, String)>,
    client: Vec<(&'static str, String)>,
    configure: impl FnOnce(&mut Session) -> Result<(), Error> + Send + 'static,
) -> (Side, Side) {
    let (a, b) = UnixStream::pair().expect("socketpair");
    let srv = std::thread::spawn(move || run_side("smtpd", server, a, SERVER_LABEL, |_| Ok(())));
    let cli = std::thread::spawn(move || run_side("smtp", client, b, CLIENT_LABEL, configure));
    let client = cli.join().expect("client thread");
    let server = srv.join().expect("server thread");
    (server, client)
}

/// Shorthand for settings.
pub fn settings(pairs: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    pairs.iter().map(|(n, v)| (*n, v.to_string())).collect()
}
