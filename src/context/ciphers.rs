//! Applying cipher-policy settings to an OpenSSL context: the protocol
//! range (minimum, maximum and `SSL_OP_NO_*` holes) and the `SSL_OP_*`
//! bits of `tls_disable_workarounds` / `tls_ssl_options`.

use openssl::ssl::{SslContextBuilder, SslOptions, SslVersion};

use crate::config::grades::{
    parse_option_names, ProtocolRange, MANAGED_BITS, SSL_OPTIONS, WORKAROUNDS,
};
use crate::config::settings::Named;

/// Apply a protocol range to a context: minimum and maximum version plus `SSL_OP_NO_*`
/// for any excluded version in between. Errors when nothing is left.
pub fn apply_protocols(
    protocols: &Named<ProtocolRange>,
    b: &mut SslContextBuilder,
) -> crate::error::Result<()> {
    let (param, value) = (protocols.param.as_str(), protocols.text.as_str());
    let allowed = protocols.value.allowed();
    let (Some(&lo), Some(&hi)) = (allowed.first(), allowed.last()) else {
        return Err(crate::error::Error::invalid(
            param,
            value,
            "the list leaves no TLS protocol version enabled",
        ));
    };
    let to_version = |v: u16| match v {
        0x0300 => SslVersion::SSL3,
        0x0301 => SslVersion::TLS1,
        0x0302 => SslVersion::TLS1_1,
        0x0303 => SslVersion::TLS1_2,
        _ => SslVersion::TLS1_3,
    };
    let fail = |what: &str| {
        crate::error::Error::new(
            crate::error::ErrorKind::Context,
            format!("{param} = {value}: error setting {what} TLS version"),
        )
        .with_detail(&crate::logging::openssl_reasons())
    };
    b.set_min_proto_version(Some(to_version(lo)))
        .map_err(|_| fail("minimum"))?;
    b.set_max_proto_version(Some(to_version(hi)))
        .map_err(|_| fail("maximum"))?;
    let mut holes = SslOptions::empty();
    for (v, opt) in [
        (0x0301, SslOptions::NO_TLSV1),
        (0x0302, SslOptions::NO_TLSV1_1),
        (0x0303, SslOptions::NO_TLSV1_2),
    ] {
        if v > lo && v < hi && !allowed.contains(&v) {
            holes |= opt;
        }
    }
    b.set_options(holes);
    Ok(())
}

/// Whether this process's OpenSSL can speak protocol `version` (`0x0300`
/// SSLv3 ... `0x0304` TLSv1.3) at all: OpenSSL 3 is usually built without
/// SSLv3, and a build may lack others. Probed once per version: a client
/// limited to that version must get as far as sending its hello.
pub fn runtime_supports(version: u16) -> bool {
    static KNOWN: std::sync::Mutex<Vec<(u16, bool)>> = std::sync::Mutex::new(Vec::new());
    let mut known = KNOWN.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, yes)) = known.iter().find(|(v, _)| *v == version) {
        return *yes;
    }
    let yes = probe_version(version);
    crate::logging::clear_openssl_errors();
    known.push((version, yes));
    yes
}

/// A stream that takes every write and has nothing to read yet.
struct HelloSink;

impl std::io::Read for HelloSink {
    fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
        Err(std::io::ErrorKind::WouldBlock.into())
    }
}

impl std::io::Write for HelloSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn probe_version(version: u16) -> bool {
    use openssl::ssl::{HandshakeError, Ssl, SslContext, SslMethod};
    let v = match version {
        0x0300 => SslVersion::SSL3,
        0x0301 => SslVersion::TLS1,
        0x0302 => SslVersion::TLS1_1,
        0x0303 => SslVersion::TLS1_2,
        0x0304 => SslVersion::TLS1_3,
        _ => return false,
    };
    let Ok(mut b) = SslContext::builder(SslMethod::tls_client()) else {
        return false;
    };
    b.set_security_level(0);
    if b.set_min_proto_version(Some(v)).is_err()
        || b.set_max_proto_version(Some(v)).is_err()
        || b.set_cipher_list("ALL:@SECLEVEL=0").is_err()
    {
        return false;
    }
    let ctx = b.build();
    let Ok(ssl) = Ssl::new(&ctx) else {
        return false;
    };
    // "No protocols available" fails at once; a usable version waits for
    // the server's answer after its hello.
    matches!(ssl.connect(HelloSink), Err(HandshakeError::WouldBlock(_)))
}

/// The `SSL_OP_*` bits to set from `tls_disable_workarounds` and
/// `tls_ssl_options`: `SSL_OP_ALL` minus disabled work-arounds, plus the
/// allowed extra options. Unknown names go to `warn` and are ignored.
pub fn option_bits(
    disable_workarounds: &str,
    ssl_options: &str,
    warn: &mut dyn FnMut(String),
) -> u64 {
    let all = SslOptions::ALL.bits();
    let disable = parse_option_names(
        "tls_disable_workarounds",
        disable_workarounds,
        WORKAROUNDS,
        warn,
    );
    let extra = parse_option_names("tls_ssl_options", ssl_options, SSL_OPTIONS, warn);
    (all & !disable) | (extra & !all & !MANAGED_BITS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::grades::parse_protocols;

    fn named(param: &str, text: &str) -> Named<ProtocolRange> {
        Named {
            param: param.into(),
            text: text.into(),
            value: parse_protocols(text).unwrap(),
        }
    }

    #[test]
    fn protocol_holes_become_options() {
        let mut b = openssl::ssl::SslContext::builder(openssl::ssl::SslMethod::tls()).unwrap();
        apply_protocols(&named("p", "TLSv1.1 TLSv1.3"), &mut b).unwrap();
        assert!(b.options().contains(SslOptions::NO_TLSV1_2));
        assert_eq!(b.min_proto_version(), Some(SslVersion::TLS1_1));
        assert_eq!(b.max_proto_version(), Some(SslVersion::TLS1_3));
        let e = apply_protocols(&named("smtpd_tls_protocols", ">=TLSv1.3 <=TLSv1.2"), &mut b)
            .unwrap_err();
        assert_eq!(
            e.message(),
            "smtpd_tls_protocols = >=TLSv1.3 <=TLSv1.2: the list leaves no TLS protocol version enabled"
        );
    }

    #[test]
    fn option_names() {
        let mut warnings = Vec::new();
        let all = SslOptions::ALL.bits();
        assert_eq!(option_bits("", "", &mut |w| warnings.push(w)), all);
        let bits = option_bits(
            "tlsext_padding, BOGUS",
            "NO_TICKET 0x400000 prioritize_chacha",
            &mut |w| warnings.push(w),
        );
        assert_eq!(bits, (all & !(1 << 4)) | (1 << 14) | (1 << 21));
        assert_eq!(
            warnings,
            vec!["unknown tls_disable_workarounds value \"BOGUS\" in \"tlsext_padding, BOGUS\""]
        );
    }
}
