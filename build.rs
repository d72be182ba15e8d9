// Generates the C header with a pinned cbindgen into OUT_DIR. The
// committed include/mtatls.h must equal it (tests/header.rs checks).
fn main() {
    let crate_dir = std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR");
    let out_dir = std::env::var("OUT_DIR").expect("OUT_DIR");
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").expect("version");
    let minor = std::env::var("CARGO_PKG_VERSION_MINOR").expect("version");
    let patch = std::env::var("CARGO_PKG_VERSION_PATCH").expect("version");
    let version = std::env::var("CARGO_PKG_VERSION").expect("version");
    let mut config =
        cbindgen::Config::from_file(format!("{crate_dir}/cbindgen.toml")).expect("cbindgen.toml");
    config.after_includes = Some(format!(
        "\n/* Version of the library this header belongs to. */\n\
         #define MTATLS_VERSION_MAJOR {major}\n\
         #define MTATLS_VERSION_MINOR {minor}\n\
         #define MTATLS_VERSION_PATCH {patch}\n\
         #define MTATLS_VERSION_STRING \"{version}\"\n"
    ));
    let out = format!("{out_dir}/mtatls.h");
    match cbindgen::Builder::new()
        .with_crate(&crate_dir)
        .with_config(config)
        .generate()
    {
        Ok(bindings) => {
            bindings.write_to_file(&out);
        }
        Err(e) => panic!("cbindgen failed: {e}"),
    }
    // The OpenSSL this build compiles against (openssl-sys's metadata),
    // for the run-time compatibility check.
    let ossl = std::env::var("DEP_OPENSSL_VERSION_NUMBER").unwrap_or_default();
    println!("cargo:rustc-env=MTATLS_OPENSSL_BUILD_VERSION={ossl}");
    // RFC 7250 raw public keys need OpenSSL 3.2 or later (the `vendored`
    // build has 3.6): `cfg(mtatls_rpk)` declares and uses its calls.
    println!("cargo:rustc-check-cfg=cfg(mtatls_rpk)");
    if u64::from_str_radix(&ossl, 16).is_ok_and(|v| v >= 0x3020_0000) {
        println!("cargo:rustc-cfg=mtatls_rpk");
    }
    // SONAME: 0.x releases promise no ABI stability across minor versions,
    // so the SONAME carries major.minor (libmtatls.so.0.1).
    let soname = if major == "0" {
        format!("libmtatls.so.0.{minor}")
    } else {
        format!("libmtatls.so.{major}")
    };
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{soname}");
    println!("cargo:rustc-env=MTATLS_SONAME={soname}");
    // The target the tests compile the C harnesses for (the cc crate).
    let target = std::env::var("TARGET").unwrap_or_default();
    println!("cargo:rustc-env=MTATLS_TARGET={target}");
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rustc-env=MTATLS_GENERATED_HEADER={out}");
}
