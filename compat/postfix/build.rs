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
    // The Postfix release this build is for (tools/build sets it from the
    // tree's mail_version); the series comes from the pf3x features.
    println!("cargo:rerun-if-env-changed=POSTFIX_TLS_RELEASE");
    let feature = |f: &str| std::env::var_os(format!("CARGO_FEATURE_{f}")).is_some();
    let series = if feature("PF311") {
        "3.11"
    } else if feature("PF310") {
        "3.10"
    } else if feature("PF39") {
        "3.9"
    } else if feature("PF38") {
        "3.8"
    } else {
        "3.7"
    };
    let release = std::env::var("POSTFIX_TLS_RELEASE")
        .ok()
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| {
            if series == "3.7" {
                "3.7.11".to_string()
            } else {
                format!("{series}.0")
            }
        });
    if !release.starts_with(&format!("{series}.")) {
        panic!(
            "POSTFIX_TLS_RELEASE={release} does not belong to the series {series} of the features"
        );
    }
    println!("cargo:rustc-env=POSTFIX_TLS_RELEASE={release}");
    println!("cargo:rustc-env=POSTFIX_TLS_SERIES={series}");
    // TLSRPT (full library only): link the release's libtlsrpt, found where
    // the release's own libpostfix-tls finds it.
    println!("cargo:rerun-if-env-changed=POSTFIX_TLS_TLSRPT_LIBDIR");
    if feature("TLSRPT") && !feature("PRELOAD") {
        let dir = std::env::var("POSTFIX_TLS_TLSRPT_LIBDIR").unwrap_or_default();
        if dir.is_empty() {
            panic!("feature tlsrpt: set POSTFIX_TLS_TLSRPT_LIBDIR to the directory of libtlsrpt.so (tools/build does)");
        }
        println!("cargo:rustc-link-search=native={dir}");
        println!("cargo:rustc-link-lib=dylib=tlsrpt");
        println!("cargo:rustc-cdylib-link-arg=-Wl,-rpath,{dir}");
    }
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
