//! What a session was, in Postfix's words: the facts, the summary line
//! and Received: comment, certificate names and fingerprints, and the
//! forward-secrecy report of a context.

pub mod cert;
pub mod facts;
pub mod fsreport;
pub mod summary;
