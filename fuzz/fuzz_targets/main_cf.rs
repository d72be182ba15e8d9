//! main.cf text (lossy UTF-8) through Params::load_str, then every known
//! parameter (and the lmtp_ twins with defaults of their own) read back
//! with `$name` expansion and validation. Errors are fine; panics, hangs
//! and runaway memory are not.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mtatls::unstable::{parse_bool, parse_int, parse_time, Kind, PARAMS};
use mtatls::Params;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut p = Params::new();
    let loaded = p.load_str(&text, "/etc/postfix/main.cf").is_ok();
    for def in PARAMS {
        check(&p, def.name, def.kind, loaded);
        // lmtp_ twins whose default differs (it refers to lmtp_ names).
        if def.default.contains("$smtp_") {
            let twin = format!("lmtp_{}", &def.name["smtp_".len()..]);
            check(&p, &twin, def.kind, loaded);
        }
    }
    // A second load on top of the first (later lines win) must behave too.
    let _ = p.load_str(&text, "main.cf");
});

fn check(p: &Params, name: &str, kind: Kind, loaded: bool) {
    match p.get(name) {
        Ok(value) => {
            // get() validated the value for its kind: the typed parsers
            // must agree.
            match kind {
                Kind::Bool => assert!(parse_bool(name, &value).is_ok(), "{name} = {value}"),
                Kind::Int => assert!(parse_int(name, &value).is_ok(), "{name} = {value}"),
                Kind::Time => assert!(parse_time(name, &value).is_ok(), "{name} = {value}"),
                _ => {}
            }
            // A value without '$' is returned as stored.
            if let Some(raw) = p.raw(name) {
                if !raw.contains('$') {
                    assert_eq!(raw, value, "{name}");
                }
            }
        }
        Err(e) => {
            assert!(!e.message().is_empty());
            // A value without '$' was validated when it was loaded: after
            // a successful load it cannot be refused now.
            if loaded && p.is_explicit(name) {
                if let Some(raw) = p.raw(name) {
                    assert!(
                        raw.contains('$'),
                        "{name} = {raw:?} loaded but refused: {e}"
                    );
                }
            }
        }
    }
}
