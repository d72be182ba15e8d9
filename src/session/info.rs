//! OpenSSL's state-machine lines of loglevel 2 (`SSL_accept:...`,
//! `SSL3 alert write:...`), as Postfix logs them.

use openssl::ssl::SslRef;

use crate::context::exdata;
use crate::sys::ssl::{InfoEvent, InfoHandler};

/// Writes a session's state lines to its logger.
pub(crate) struct StateLines;

impl InfoHandler for StateLines {
    fn on_info(ssl: &SslRef, event: InfoEvent) {
        let Some(shared) = exdata::get(ssl) else {
            return;
        };
        let line = match event {
            InfoEvent::Loop { side, state } => format!("{side}:{state}"),
            InfoEvent::Alert {
                read,
                kind,
                description,
            } => format!(
                "SSL3 alert {}:{kind}:{description}",
                if read { "read" } else { "write" }
            ),
            InfoEvent::Exit {
                side,
                failed,
                state,
            } => format!(
                "{side}:{} in {state}",
                if failed { "failed" } else { "error" }
            ),
        };
        shared.logger.info(&line);
    }
}
