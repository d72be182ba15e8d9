//! Not part of the stable interface. What the Postfix ABI shim
//! (compat/postfix), the fuzz targets and the tests need beyond the public
//! API: value parsers, Postfix's text formatters, OpenSSL helpers and
//! per-session hooks. Anything here may change in any release; hosts use
//! the items at the crate root.

pub use crate::config::grades::{
    check_exclusions, parse_grade, parse_protocols, protocol_name, Grade, ProtocolRange,
};
pub use crate::config::level::parse_server_level;
pub use crate::config::loglevel::{mask, parse_log_mask};
pub use crate::config::params::{
    lookup, parse_bool, parse_int, parse_time, split_list, Kind, ParamDef, MAX_TIME_SECONDS, PARAMS,
};
pub use crate::config::release::{DefaultChange, Since, DEFAULT_CHANGES, RELEASE_PARAM, SERIES};
pub use crate::config::settings::{cipher_list, Named, Policy, Settings};
pub use crate::context::cache::{Backend, ClientCache, MemoryStore, ObjectStore};
pub use crate::context::ciphers::apply_protocols;
pub use crate::context::exdata::VerifyRecord;
pub use crate::context::Profile;
pub use crate::logging::{drain_openssl_errors, openssl_reasons, OpensslError};
pub use crate::report::cert::{
    cert_fingerprint, colon_hex, hex, issuer_cn, peer_cn, pkey_fingerprint,
};
pub use crate::report::facts::collect as collect_facts;
pub use crate::report::summary::{received_comment, sanitize_comment, status, summary_line};
pub use crate::report::tlsrpt::{
    reason as tlsrpt_reason, unusable_type as tlsrpt_unusable_type,
    verify_error as tlsrpt_verify_error,
};
pub use crate::session::pktdump::dump_lines;
pub use crate::session::SslSetup;
pub use crate::sys::init::init_openssl as init_openssl_config;
pub use crate::sys::rpk::available as raw_public_keys_available;
pub use crate::sys::version::runtime_version;
pub use crate::sys::wait::{unix_time, Deadline, WaitError, Want};
pub use crate::sys::x509::name_oneline;
pub use crate::text::{decode_hex, decode_hex_colons};
pub use crate::verify::trust::{decide, parse_fingerprint, prepare_client, Decision, PeerPolicy};
