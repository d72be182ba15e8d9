//! The committed C header must equal what the pinned cbindgen generates,
//! carry the crate's version, and declare every exported function with
//! documentation.
//!
//! Refresh after changing the C API: `MTATLS_UPDATE_HEADER=1 cargo test --test header`.

use std::ffi::CStr;

const GENERATED: &str = env!("MTATLS_GENERATED_HEADER");

fn committed_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("include/mtatls.h")
}

#[test]
fn committed_header_matches_cbindgen_output() {
    let generated = std::fs::read_to_string(GENERATED).expect("generated header");
    if std::env::var("MTATLS_UPDATE_HEADER").is_ok_and(|v| v == "1") {
        std::fs::write(committed_path(), &generated).expect("write include/mtatls.h");
    }
    let committed = std::fs::read_to_string(committed_path()).expect("include/mtatls.h");
    assert!(
        committed == generated,
        "include/mtatls.h differs from the cbindgen output {GENERATED}.\n\
         Refresh it with: MTATLS_UPDATE_HEADER=1 cargo test --test header"
    );
}

#[test]
fn version_macros_come_from_cargo_toml() {
    let h = std::fs::read_to_string(GENERATED).unwrap();
    for (name, value) in [
        (
            "MTATLS_VERSION_MAJOR",
            env!("CARGO_PKG_VERSION_MAJOR").to_string(),
        ),
        (
            "MTATLS_VERSION_MINOR",
            env!("CARGO_PKG_VERSION_MINOR").to_string(),
        ),
        (
            "MTATLS_VERSION_PATCH",
            env!("CARGO_PKG_VERSION_PATCH").to_string(),
        ),
        (
            "MTATLS_VERSION_STRING",
            format!("\"{}\"", env!("CARGO_PKG_VERSION")),
        ),
    ] {
        let line = format!("#define {name} {value}\n");
        assert!(h.contains(&line), "header lacks {line:?}");
    }
    let v = unsafe { CStr::from_ptr(mtatls::ffi::version::mtatls_version()) }
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        v.starts_with(&format!("mtatls {} (OpenSSL 3.", env!("CARGO_PKG_VERSION"))),
        "{v}"
    );
}

/// Every `mtatls_*` function in the header has a doc comment right above
/// it, and nothing without the prefix is declared.
#[test]
fn every_declaration_is_prefixed_and_documented() {
    // The generated header: the first test checks the committed one equals it.
    let h = std::fs::read_to_string(GENERATED).unwrap();
    let lines: Vec<&str> = h.lines().collect();
    let mut functions = 0;
    for (i, line) in lines.iter().enumerate() {
        let is_decl = line.contains('(')
            && !line.starts_with(' ')
            && !line.starts_with('#')
            && !line.starts_with('/')
            && !line.starts_with(" *")
            && !line.starts_with("typedef");
        if !is_decl {
            continue;
        }
        let name = line
            .split('(')
            .next()
            .unwrap()
            .split_whitespace()
            .last()
            .unwrap();
        let name = name.trim_start_matches('*');
        assert!(
            name.starts_with("mtatls_"),
            "unprefixed declaration: {line}"
        );
        assert!(
            i > 0 && lines[i - 1].trim_end().ends_with("*/"),
            "{name} has no doc comment"
        );
        functions += 1;
    }
    assert!(functions >= 20, "found only {functions} functions");
    for line in &lines {
        if let Some(rest) = line.strip_prefix("#define ") {
            let name = rest.split_whitespace().next().unwrap();
            assert!(
                name.starts_with("MTATLS_"),
                "macro without MTATLS_ prefix: {name}"
            );
        }
    }
}
