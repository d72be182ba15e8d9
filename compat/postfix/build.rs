// SONAME of the library: Debian's binaries NEED "libpostfix-tls.so"
// (unversioned). The LD_PRELOAD variant gets its own name.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CARGO_FEATURE_PRELOAD");
    let soname = if std::env::var_os("CARGO_FEATURE_PRELOAD").is_some() {
        "mtatls-postfix-preload.so"
    } else {
        "libpostfix-tls.so"
    };
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{soname}");
    // Postfix's binaries are BIND_NOW; so is this library.
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,now");
    println!(
        "cargo:rustc-env=POSTFIX_TLS_OPENSSL_TEXT={}",
        openssl_text()
    );
}

/// OPENSSL_VERSION_TEXT of the headers this build compiles against
/// (what Debian's tls_compile_version() reports), e.g.
/// "OpenSSL 3.0.19 27 Jan 2026".
fn openssl_text() -> String {
    for dir in [
        "/usr/include/x86_64-linux-gnu",
        "/usr/include",
        "/usr/local/include",
    ] {
        let path = format!("{dir}/openssl/opensslv.h");
        println!("cargo:rerun-if-changed={path}");
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let define = |name: &str| {
            text.lines().find_map(|l| {
                let l = l.trim_start_matches('#').trim();
                let rest = l.strip_prefix("define ")?.trim();
                let value = rest.strip_prefix(name)?.trim();
                value
                    .strip_prefix('"')?
                    .strip_suffix('"')
                    .map(str::to_string)
            })
        };
        if let (Some(v), Some(d)) = (
            define("OPENSSL_FULL_VERSION_STR"),
            define("OPENSSL_RELEASE_DATE"),
        ) {
            return format!("OpenSSL {v} {d}");
        }
    }
    "OpenSSL".to_string()
}
