//! Peer verification: security levels applied to a session (names,
//! fingerprints, DANE, trust anchors) and the trust decision.

pub mod trust;
