//! Session facts and the two texts Postfix writes from them: the
//! "... TLS connection established ..." summary line and the
//! Received: header TLS comment, as Postfix writes them. Formatting is pure: facts in,
//! text out.

/// Certificate status bits, as Postfix's `peer_status`.
pub mod status {
    /// The peer sent a certificate.
    pub const PRESENT: u32 = 1;
    /// Unused (Postfix's ALTNAME).
    pub const ALTNAME: u32 = 2;
    /// The chain verified against the trust store.
    pub const TRUSTED: u32 = 4;
    /// The peer's identity matched the policy.
    pub const MATCHED: u32 = 8;
    /// Trusted and matched: the connection is authenticated.
    pub const SECURED: u32 = 16;
    /// The peer sent an RFC 7250 raw public key instead of a certificate
    /// (Postfix's `TLS_CRED_FLAG_RPK`; then `PRESENT` is not set).
    pub const RPK: u32 = 32;
}

/// The four outcomes Postfix logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Trust {
    /// No peer certificate (nor raw public key).
    Anonymous = 0,
    /// A certificate that did not verify.
    Untrusted = 1,
    /// A certificate that verified, without a name match required.
    Trusted = 2,
    /// Verified and matched (client only).
    Verified = 3,
}

impl Trust {
    /// The status word from `peer_status` bits (first rule that applies).
    pub fn from_status(bits: u32) -> Trust {
        if bits & (status::PRESENT | status::RPK) == 0 {
            Trust::Anonymous
        } else if bits & status::SECURED != 0 {
            Trust::Verified
        } else if bits & status::TRUSTED != 0 {
            Trust::Trusted
        } else {
            Trust::Untrusted
        }
    }

    /// The word Postfix prints.
    pub fn word(self) -> &'static str {
        match self {
            Trust::Anonymous => "Anonymous",
            Trust::Untrusted => "Untrusted",
            Trust::Trusted => "Trusted",
            Trust::Verified => "Verified",
        }
    }
}

/// A signature made during the handshake: algorithm, key detail, digest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Signature {
    /// `RSA-PSS`, `ECDSA`, `ED25519`, ... (empty: none).
    pub name: String,
    /// Curve of an EC key (`prime256v1`), else empty.
    pub curve: String,
    /// Key bits (RSA), else 0.
    pub bits: i32,
    /// Digest short name (`SHA256`), empty when none.
    pub digest: String,
}

/// Everything known about an established session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// True on the server side.
    pub am_server: bool,
    /// The peer label, lower-cased (`host[addr]:port` or `host[addr]`).
    pub peer_label: String,
    /// SNI name matched by the server (empty: none).
    pub peer_sni: String,
    /// `TLSv1.3`, `TLSv1.2`, ...
    pub protocol: String,
    /// OpenSSL cipher name.
    pub cipher_name: String,
    /// Effective cipher bits.
    pub cipher_usebits: i32,
    /// Algorithm cipher bits.
    pub cipher_algbits: i32,
    /// Key exchange as the emulated Postfix release's library records it:
    /// up to 3.9 `X25519`, `X448`, `ECDHE`, `DHE` or a provider's key
    /// type; from 3.10 on (TLS 1.3) the negotiated group's TLS name
    /// (`x25519`, `secp256r1`, `ffdhe2048`, `X25519MLKEM768`).
    pub kex_name: String,
    /// Curve of an ECDHE exchange.
    pub kex_curve: String,
    /// Bits of a DHE exchange.
    pub kex_bits: i32,
    /// The client's handshake signature (if it used a certificate). A
    /// resumed TLS 1.3 session has none from Postfix 3.7.13, 3.8.8, 3.9.2
    /// and 3.10.0 on; before, the key of the session's certificate,
    /// without a digest.
    pub client_sig: Signature,
    /// The server's handshake signature (resumed sessions: as
    /// `client_sig`; before the releases named there, the server's
    /// current key).
    pub server_sig: Signature,
    /// Peer certificate subject CN ("" if none).
    pub peer_cn: String,
    /// Peer certificate issuer CN, or O ("" if none).
    pub issuer_cn: String,
    /// Peer certificate fingerprint, colon hex ("" if no certificate).
    pub peer_cert_fprint: String,
    /// Peer public-key fingerprint, colon hex ("" if no certificate or
    /// raw public key).
    pub peer_pkey_fprint: String,
    /// The server's credential was a raw public key (Postfix's `stoc_rpk`).
    pub stoc_rpk: bool,
    /// The client's credential was a raw public key (`ctos_rpk`).
    pub ctos_rpk: bool,
    /// `status::*` bits.
    pub peer_status: u32,
    /// The key exchange gives forward secrecy.
    pub forward_secret: bool,
    /// The key exchange as mtatls's forward-secrecy line names it, in every
    /// release (`X25519`, `ECDHE (prime256v1)`, `DHE (2048 bits)`, a
    /// provider's group); empty without an ephemeral key exchange.
    pub forward_secrecy_kex: String,
    /// The session was resumed.
    pub reused: bool,
}

impl Facts {
    /// The trust outcome.
    pub fn trust(&self) -> Trust {
        Trust::from_status(self.peer_status)
    }

    fn is_tls13(&self) -> bool {
        self.protocol == "TLSv1.3"
    }

    /// ` key-exchange KEX[ (DETAIL)]`, or empty.
    fn kex_item(&self) -> String {
        if self.kex_name.is_empty() {
            return String::new();
        }
        format!(
            " key-exchange {}{}",
            self.kex_name,
            detail(&self.kex_curve, self.kex_bits)
        )
    }
}

fn detail(curve: &str, bits: i32) -> String {
    if !curve.is_empty() {
        format!(" ({curve})")
    } else if bits > 0 {
        format!(" ({bits} bits)")
    } else {
        String::new()
    }
}

/// A signature key's detail: ` (CURVE)` or ` (N bits)`, and for a raw
/// public key ` (CURVE raw public key)`, ` (N bit raw public key)` or
/// (`bare`: the summary line; the Received: comment has no such case)
/// ` (raw public key)`.
fn sig_detail(sig: &Signature, rpk: bool, bare: bool) -> String {
    match (rpk, sig.curve.is_empty(), sig.bits > 0) {
        (false, _, _) => detail(&sig.curve, sig.bits),
        (true, false, _) => format!(" ({} raw public key)", sig.curve),
        (true, true, true) => format!(" ({} bit raw public key)", sig.bits),
        (true, true, false) if bare => " (raw public key)".to_string(),
        (true, true, false) => String::new(),
    }
}

/// ` WHO-signature NAME[ (DETAIL)][ WHO-digest D]`, or empty (`rpk`: the
/// key was sent as a raw public key; `bare`: see [`sig_detail`]).
fn sig_item(who: &str, sig: &Signature, rpk: bool, bare: bool) -> String {
    if sig.name.is_empty() {
        return String::new();
    }
    let mut s = format!(
        " {who}-signature {}{}",
        sig.name,
        sig_detail(sig, rpk, bare)
    );
    if !sig.digest.is_empty() {
        s.push_str(&format!(" {who}-digest {}", sig.digest));
    }
    s
}

/// The summary line.
pub fn summary_line(f: &Facts) -> String {
    let mut line = format!(
        "{} TLS connection established {} {}",
        f.trust().word(),
        if f.am_server { "from" } else { "to" },
        f.peer_label
    );
    if f.am_server && !f.peer_sni.is_empty() {
        line.push_str(" to ");
        line.push_str(&f.peer_sni);
    }
    line.push_str(&format!(
        ": {} with cipher {} ({}/{} bits)",
        f.protocol, f.cipher_name, f.cipher_usebits, f.cipher_algbits
    ));
    if f.is_tls13() {
        line.push_str(&f.kex_item());
        line.push_str(&sig_item("server", &f.server_sig, f.stoc_rpk, true));
        line.push_str(&sig_item("client", &f.client_sig, f.ctos_rpk, true));
    }
    line
}

/// Replace what must not appear in a Received: comment: non-ASCII,
/// non-printable and `\` become `?`, an unbalanced `)` becomes `?`, and
/// every unclosed `(` gets its `)` at the end.
pub fn sanitize_comment(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    let mut depth = 0usize;
    for c in text.chars() {
        let c = if !c.is_ascii() || c.is_ascii_control() || c == '\\' {
            '?'
        } else {
            c
        };
        match c {
            '(' => {
                depth += 1;
                out.push(c);
            }
            ')' if depth == 0 => out.push('?'),
            ')' => {
                depth -= 1;
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out.extend(std::iter::repeat_n(')', depth));
    out
}

/// The Received: header TLS comment: the continuation lines
/// that follow `Received: from HELO (NAME [ADDR])`, each starting with a
/// TAB, joined by `\n`, without a trailing newline. `ccert_requested`
/// is whether the server asked for a client certificate
/// (`smtpd_tls_ask_ccert`); `digest` names `smtpd_tls_fingerprint_digest`
/// for a client's raw public key.
pub fn received_comment(f: &Facts, ccert_requested: bool, digest: &str) -> String {
    let mut lines: Vec<String> = Vec::new();
    let mut current = format!(
        "\t(using {} with cipher {} ({}/{} bits)",
        f.protocol, f.cipher_name, f.cipher_usebits, f.cipher_algbits
    );
    if f.is_tls13() {
        let kex = f.kex_item();
        let have_kex_line = !kex.is_empty();
        if have_kex_line {
            lines.push(std::mem::replace(&mut current, format!("\t{kex}")));
        }
        let server = sig_item("server", &f.server_sig, f.stoc_rpk, false);
        if !server.is_empty() {
            if have_kex_line {
                current.push_str(&server);
            } else {
                lines.push(std::mem::replace(&mut current, format!("\t{server}")));
            }
        }
        let client = sig_item("client", &f.client_sig, f.ctos_rpk, false);
        if !client.is_empty() {
            lines.push(std::mem::replace(&mut current, format!("\t{client}")));
        }
    }
    current.push(')');
    lines.push(current);
    lines.push(if f.peer_status & status::PRESENT != 0 {
        format!(
            "\t(Client CN \"{}\", Issuer \"{}\" ({}))",
            sanitize_comment(&f.peer_cn),
            sanitize_comment(&f.issuer_cn),
            if f.peer_status & status::TRUSTED != 0 {
                "verified OK"
            } else {
                "not verified"
            }
        )
    } else if f.peer_status & status::RPK != 0 {
        format!("\t(Client RPK {digest} digest {})", f.peer_pkey_fprint)
    } else if ccert_requested {
        "\t(Client did not present a certificate)".to_string()
    } else {
        "\t(No client certificate requested)".to_string()
    });
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Raw public keys, as Postfix 3.9+ writes them (tls_misc.c's summary,
    /// smtpd.c's Received: comment, which lacks the bare case).
    #[test]
    fn rpk_summary_and_received_forms() {
        let mut f = tls13_client();
        f.peer_status = status::RPK | status::TRUSTED | status::MATCHED | status::SECURED;
        f.stoc_rpk = true;
        let head = "Verified TLS connection established to mx1.example.net[192.0.2.25]:25: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 server-signature";
        assert_eq!(
            summary_line(&f),
            format!("{head} RSA-PSS (2048 bit raw public key) server-digest SHA256")
        );
        f.server_sig = Signature {
            name: "ECDSA".into(),
            curve: "prime256v1".into(),
            bits: 256,
            digest: "SHA256".into(),
        };
        assert_eq!(
            summary_line(&f),
            format!("{head} ECDSA (prime256v1 raw public key) server-digest SHA256")
        );
        f.server_sig = Signature {
            name: "ED25519".into(),
            ..Default::default()
        };
        assert_eq!(summary_line(&f), format!("{head} ED25519 (raw public key)"));
        f.peer_status = status::RPK;
        assert_eq!(f.trust(), Trust::Untrusted);
        // The server's view of a client's key.
        let mut srv = tls13_client();
        srv.am_server = true;
        srv.peer_status = status::RPK;
        srv.peer_pkey_fprint = "AB:CD".into();
        srv.ctos_rpk = true;
        srv.client_sig = Signature {
            name: "ED25519".into(),
            ..Default::default()
        };
        let rc = received_comment(&srv, true, "sha256");
        assert!(
            rc.ends_with("\n\t client-signature ED25519)\n\t(Client RPK sha256 digest AB:CD)"),
            "{rc}"
        );
        srv.client_sig.bits = 2048;
        srv.client_sig.name = "RSA-PSS".into();
        assert!(received_comment(&srv, false, "sha1").ends_with(
            "client-signature RSA-PSS (2048 bit raw public key))\n\t(Client RPK sha1 digest AB:CD)"
        ));
    }

    fn tls13_client() -> Facts {
        Facts {
            am_server: false,
            peer_label: "mx1.example.net[192.0.2.25]:25".into(),
            protocol: "TLSv1.3".into(),
            cipher_name: "TLS_AES_256_GCM_SHA384".into(),
            cipher_usebits: 256,
            cipher_algbits: 256,
            kex_name: "X25519".into(),
            server_sig: Signature {
                name: "RSA-PSS".into(),
                bits: 2048,
                digest: "SHA256".into(),
                ..Default::default()
            },
            peer_status: status::PRESENT,
            ..Default::default()
        }
    }

    #[test]
    fn spec_examples() {
        let f = tls13_client();
        assert_eq!(summary_line(&f), "Untrusted TLS connection established to mx1.example.net[192.0.2.25]:25: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256");

        let mut v = tls13_client();
        v.peer_status = status::PRESENT | status::TRUSTED | status::MATCHED | status::SECURED;
        v.kex_name = "ECDHE".into();
        v.kex_curve = "prime256v1".into();
        v.server_sig = Signature {
            name: "ECDSA".into(),
            curve: "prime256v1".into(),
            bits: 256,
            digest: "SHA256".into(),
        };
        assert_eq!(summary_line(&v), "Verified TLS connection established to mx1.example.net[192.0.2.25]:25: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange ECDHE (prime256v1) server-signature ECDSA (prime256v1) server-digest SHA256");

        let t12 = Facts {
            peer_label: "smtp.example.org[198.51.100.3]:25".into(),
            protocol: "TLSv1.2".into(),
            cipher_name: "ECDHE-RSA-AES256-GCM-SHA384".into(),
            cipher_usebits: 256,
            cipher_algbits: 256,
            kex_name: "ECDHE".into(),
            kex_curve: "X25519".into(),
            peer_status: status::PRESENT | status::TRUSTED,
            ..Default::default()
        };
        assert_eq!(summary_line(&t12), "Trusted TLS connection established to smtp.example.org[198.51.100.3]:25: TLSv1.2 with cipher ECDHE-RSA-AES256-GCM-SHA384 (256/256 bits)");

        let server = Facts {
            am_server: true,
            peer_label: "client.example.com[203.0.113.9]".into(),
            peer_sni: "mail.example.com".into(),
            protocol: "TLSv1.3".into(),
            cipher_name: "TLS_AES_128_GCM_SHA256".into(),
            cipher_usebits: 128,
            cipher_algbits: 128,
            kex_name: "DHE".into(),
            kex_bits: 2048,
            server_sig: Signature {
                name: "ED25519".into(),
                ..Default::default()
            },
            client_sig: Signature {
                name: "ECDSA".into(),
                curve: "prime256v1".into(),
                bits: 256,
                digest: "SHA256".into(),
            },
            peer_status: status::PRESENT,
            ..Default::default()
        };
        assert_eq!(summary_line(&server), "Untrusted TLS connection established from client.example.com[203.0.113.9] to mail.example.com: TLSv1.3 with cipher TLS_AES_128_GCM_SHA256 (128/128 bits) key-exchange DHE (2048 bits) server-signature ED25519 client-signature ECDSA (prime256v1) client-digest SHA256");
    }

    #[test]
    fn resumed_tls13_prints_what_the_facts_hold() {
        // 3.8.8+: the facts of a resumed session hold no signature.
        let mut f = tls13_client();
        f.reused = true;
        f.server_sig = Signature::default();
        assert!(summary_line(&f).ends_with("(256/256 bits) key-exchange X25519"));
        // Before: the session certificate's key, without a digest.
        f.server_sig = Signature {
            name: "ECDSA".into(),
            curve: "prime256v1".into(),
            bits: 256,
            digest: String::new(),
        };
        assert!(summary_line(&f)
            .ends_with("(256/256 bits) key-exchange X25519 server-signature ECDSA (prime256v1)"));
        // 3.10+: the group's name, no detail.
        f.kex_name = "x25519".into();
        f.server_sig = Signature::default();
        assert!(summary_line(&f).ends_with("(256/256 bits) key-exchange x25519"));
        f.am_server = true;
        f.peer_status = 0;
        assert_eq!(
            received_comment(&f, false, "sha256"),
            "\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)\n\t key-exchange x25519)\n\t(No client certificate requested)"
        );
    }

    #[test]
    fn received_comment_forms() {
        let mut f = tls13_client();
        f.am_server = true;
        f.peer_status = 0;
        assert_eq!(
            received_comment(&f, false, "sha256"),
            "\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)\n\t key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256)\n\t(No client certificate requested)"
        );
        f.client_sig = Signature {
            name: "ECDSA".into(),
            curve: "prime256v1".into(),
            bits: 256,
            digest: "SHA256".into(),
        };
        f.peer_status = status::PRESENT | status::TRUSTED;
        f.peer_cn = "client.example".into();
        f.issuer_cn = "Example CA".into();
        assert_eq!(
            received_comment(&f, true, "sha256"),
            "\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)\n\t key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256\n\t client-signature ECDSA (prime256v1) client-digest SHA256)\n\t(Client CN \"client.example\", Issuer \"Example CA\" (verified OK))"
        );
        let t12 = Facts {
            protocol: "TLSv1.2".into(),
            cipher_name: "ECDHE-RSA-AES256-GCM-SHA384".into(),
            cipher_usebits: 256,
            cipher_algbits: 256,
            kex_name: "ECDHE".into(),
            ..Default::default()
        };
        assert_eq!(
            received_comment(&t12, true, "sha256"),
            "\t(using TLSv1.2 with cipher ECDHE-RSA-AES256-GCM-SHA384 (256/256 bits))\n\t(Client did not present a certificate)"
        );
        let no_kex = Facts {
            protocol: "TLSv1.3".into(),
            cipher_name: "TLS_AES_128_GCM_SHA256".into(),
            cipher_usebits: 128,
            cipher_algbits: 128,
            server_sig: Signature {
                name: "ED25519".into(),
                ..Default::default()
            },
            ..Default::default()
        };
        assert_eq!(
            received_comment(&no_kex, false, "sha256"),
            "\t(using TLSv1.3 with cipher TLS_AES_128_GCM_SHA256 (128/128 bits)\n\t server-signature ED25519)\n\t(No client certificate requested)"
        );
    }

    #[test]
    fn comment_sanitizing() {
        assert_eq!(sanitize_comment("a\\b\u{e9}c\x07"), "a?b?c?");
        assert_eq!(sanitize_comment("x) (y"), "x? (y)");
        assert_eq!(sanitize_comment("((a)"), "((a))");
    }

    #[test]
    fn trust_words() {
        assert_eq!(Trust::from_status(0), Trust::Anonymous);
        assert_eq!(Trust::from_status(status::SECURED), Trust::Anonymous);
        assert_eq!(Trust::from_status(status::PRESENT), Trust::Untrusted);
        assert_eq!(
            Trust::from_status(status::PRESENT | status::TRUSTED),
            Trust::Trusted
        );
        assert_eq!(
            Trust::from_status(status::PRESENT | status::TRUSTED | status::SECURED),
            Trust::Verified
        );
    }
}
