//! Server session tickets (RFC 5077): keys made in-process and rotated
//! every `smtpd_tls_session_cache_timeout` (the previous key still
//! decrypts for one more period, as Postfix does), or installed by the
//! host (one key shared by several processes or hosts).

use std::ffi::CString;
use std::sync::Arc;

use once_cell::sync::Lazy;
use openssl::ex_data::Index;
use openssl::ssl::{SslContext, SslContextRef, SslRef};

use crate::config::loglevel::mask;
use crate::context::exdata;
use crate::sys::sync::PMutex;
use crate::sys::tickets::{set_ticket_handler, zeroize, TicketHandler, TicketUse};
use crate::sys::wait::unix_time;

/// Length of a ticket key in the host format: 16-byte key name, 32 bytes
/// of cipher key (the cipher uses as many as it needs), 32 bytes of
/// HMAC-SHA256 key.
pub const TICKET_KEY_LEN: usize = 80;

/// One session ticket key.
#[derive(Clone)]
pub struct TicketKey {
    /// Sent in the clear in each ticket to find the key again.
    pub name: [u8; 16],
    /// Cipher key (first `key_len` bytes used).
    pub cipher_key: [u8; 32],
    /// HMAC-SHA256 key.
    pub hmac_key: [u8; 32],
    /// When the key stops encrypting new tickets (Unix seconds); it still
    /// decrypts for one more lifetime after that.
    pub expires: u64,
}

impl TicketKey {
    /// A key from the 80-byte host format.
    pub fn from_bytes(bytes: &[u8], expires: u64) -> Option<TicketKey> {
        if bytes.len() != TICKET_KEY_LEN {
            return None;
        }
        let mut k = TicketKey {
            name: [0; 16],
            cipher_key: [0; 32],
            hmac_key: [0; 32],
            expires,
        };
        k.name.copy_from_slice(&bytes[..16]);
        k.cipher_key.copy_from_slice(&bytes[16..48]);
        k.hmac_key.copy_from_slice(&bytes[48..80]);
        Some(k)
    }

    fn random(expires: u64) -> Option<TicketKey> {
        let mut bytes = [0u8; TICKET_KEY_LEN];
        openssl::rand::rand_bytes(&mut bytes).ok()?;
        TicketKey::from_bytes(&bytes, expires)
    }
}

impl Drop for TicketKey {
    fn drop(&mut self) {
        // Best effort: do not leave key material in freed memory.
        zeroize(&mut self.cipher_key);
        zeroize(&mut self.hmac_key);
    }
}

struct KeyRing {
    /// Newest first; at most two are kept (current and previous).
    keys: Vec<TicketKey>,
    /// The host installs keys; no automatic rotation.
    external: bool,
}

/// The ticket keys of one server context (shared by its threads).
pub struct TicketKeys {
    cipher: CString,
    lifetime: u64,
    ring: PMutex<KeyRing>,
}

impl TicketKeys {
    /// Keys for `cipher` (an OpenSSL cipher name) living `lifetime` seconds.
    pub fn new(cipher: &str, lifetime: u64) -> Option<TicketKeys> {
        Some(TicketKeys {
            cipher: CString::new(cipher).ok()?,
            lifetime: lifetime.max(1),
            ring: PMutex::new(KeyRing {
                keys: Vec::new(),
                external: false,
            }),
        })
    }

    /// How long a key encrypts new tickets (`smtpd_tls_session_cache_timeout`).
    pub fn lifetime(&self) -> u64 {
        self.lifetime
    }

    /// Install a key from the host (it becomes the current key; automatic
    /// rotation stops: the host rotates from now on).
    pub fn install(&self, key: TicketKey) {
        let mut ring = self.ring.lock();
        ring.external = true;
        ring.keys.retain(|k| k.name != key.name);
        ring.keys.insert(0, key);
        ring.keys.truncate(2);
    }

    /// The key to encrypt a new ticket with, rotating an expired one.
    fn current(&self, now: u64) -> Option<TicketKey> {
        let mut ring = self.ring.lock();
        let expired = ring.keys.first().is_none_or(|k| k.expires <= now);
        if expired && !ring.external {
            let key = TicketKey::random(now + self.lifetime)?;
            ring.keys.insert(0, key);
            ring.keys.truncate(2);
        }
        ring.keys.first().cloned()
    }

    /// The key named `name` if it may still decrypt, and whether it is the
    /// current one.
    fn find(&self, name: &[u8], now: u64) -> Option<(TicketKey, bool)> {
        let ring = self.ring.lock();
        ring.keys
            .iter()
            .enumerate()
            .find(|(_, k)| k.name == name && k.expires.saturating_add(self.lifetime) > now)
            .map(|(i, k)| (k.clone(), i == 0 && k.expires > now))
    }
}

static TICKET_INDEX: Lazy<Option<Index<SslContext, Arc<TicketKeys>>>> =
    Lazy::new(|| SslContext::new_ex_index().ok());

/// Make the index now, while the context is built.
pub(crate) fn prepare() {
    Lazy::force(&TICKET_INDEX);
}

/// Attach `keys` to a server context being built and install the callback.
pub fn enable_tickets(b: &mut openssl::ssl::SslContextBuilder, keys: Arc<TicketKeys>) -> bool {
    let Some(index) = *TICKET_INDEX else {
        return false;
    };
    b.set_ex_data(index, keys);
    set_ticket_handler::<ContextTickets>(b)
}

/// The ticket keys of a server context, if tickets are on.
pub fn ticket_keys(ctx: &SslContextRef) -> Option<&Arc<TicketKeys>> {
    TICKET_INDEX.as_ref().and_then(|i| ctx.ex_data(*i))
}

/// Picks ticket keys from the context's [`TicketKeys`], logging at the
/// `cache` mask as Postfix does.
struct ContextTickets;

impl ContextTickets {
    fn log(ssl: &SslRef, what: &str, expires: u64) {
        if let Some(shared) = exdata::get(ssl) {
            if shared.log_mask & mask::CACHE != 0 {
                shared.logger.info(&format!(
                    "{}: {what} session ticket, key expiration: {expires}",
                    shared.label
                ));
            }
        }
    }

    fn material(keys: &TicketKeys, key: &TicketKey, renew: bool) -> TicketUse {
        TicketUse {
            cipher: keys.cipher.clone(),
            name: key.name,
            cipher_key: key.cipher_key,
            hmac_key: key.hmac_key,
            renew,
        }
    }
}

impl TicketHandler for ContextTickets {
    fn encrypt_key(ssl: &SslRef) -> Option<TicketUse> {
        let keys = ticket_keys(ssl.ssl_context())?;
        let key = keys.current(unix_time())?;
        Self::log(ssl, "Issuing", key.expires);
        // Before Postfix 3.11 issuing a ticket also marked the session.
        if let Some(shared) = exdata::get(ssl) {
            if !shared.release.ticket_mark_needs_decryption() {
                shared
                    .ticketed
                    .store(true, std::sync::atomic::Ordering::Relaxed);
            }
        }
        Some(Self::material(keys, &key, false))
    }

    fn decrypt_key(ssl: &SslRef, name: &[u8; 16]) -> Result<Option<TicketUse>, ()> {
        let keys = ticket_keys(ssl.ssl_context()).ok_or(())?;
        let Some((key, current)) = keys.find(name, unix_time()) else {
            return Ok(None);
        };
        Self::log(ssl, "Decrypting", key.expires);
        if let Some(shared) = exdata::get(ssl) {
            shared
                .ticketed
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(Some(Self::material(keys, &key, !current)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_rotate_and_the_previous_one_decrypts_for_one_period() {
        let keys = TicketKeys::new("aes-256-cbc", 100).unwrap();
        let k1 = keys.current(1000).unwrap();
        assert_eq!(k1.expires, 1100);
        assert_eq!(keys.current(1099).unwrap().name, k1.name);
        let k2 = keys.current(1100).unwrap();
        assert_ne!(k2.name, k1.name);
        assert_eq!(k2.expires, 1200);
        // The old key still decrypts (asking for a fresh ticket) ...
        let (found, current) = keys.find(&k1.name, 1150).unwrap();
        assert_eq!(found.name, k1.name);
        assert!(!current);
        assert!(keys.find(&k2.name, 1150).unwrap().1);
        // ... for one period after it stopped encrypting.
        assert!(keys.find(&k1.name, 1200).is_none());
        // A third key retires the first entirely.
        let k3 = keys.current(1200).unwrap();
        assert!(keys.find(&k1.name, 1200).is_none());
        assert!(keys.find(&k3.name, 1200).is_some());
    }

    #[test]
    fn host_keys_stop_automatic_rotation() {
        let keys = TicketKeys::new("aes-256-cbc", 100).unwrap();
        let host = TicketKey::from_bytes(&[7u8; TICKET_KEY_LEN], 500).unwrap();
        keys.install(host);
        // Even past its expiry the host's key stays current: the host rotates.
        assert_eq!(keys.current(600).unwrap().name, [7u8; 16]);
        assert!(TicketKey::from_bytes(&[0u8; 79], 1).is_none());
    }
}
