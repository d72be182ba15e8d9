//! What a session was, in Postfix's words: the facts, the summary line
//! and Received: comment, certificate names and fingerprints, and the
//! forward-secrecy report of a context, and a client session's TLSRPT
//! (RFC 8460) result.

pub mod cert;
pub mod facts;
pub mod fsreport;
pub mod summary;
pub mod tlsrpt;
