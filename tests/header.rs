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

/// Every function's comment in the header is a contract: what NULL does,
/// what it returns (for `mtatls_result` functions, the codes by name, each
/// one that exists), whether inputs are copied or borrowed and for how long
/// outputs stay valid, whether it blocks, and its thread-safety.
#[test]
fn every_function_states_its_contract() {
    let h = std::fs::read_to_string(committed_path()).unwrap();
    let codes: Vec<String> = h
        .lines()
        .filter_map(|l| l.trim().strip_prefix("MTATLS_RESULT_"))
        .map(|rest| {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                .collect();
            format!("MTATLS_RESULT_{name}")
        })
        .collect();
    assert!(codes.len() >= 20, "result codes not found: {codes:?}");
    let mut functions = 0;
    let mut problems = Vec::new();
    let mut comment = String::new();
    let mut in_comment = false;
    for line in h.lines() {
        let t = line.trim();
        if t.starts_with("/**") {
            in_comment = true;
            comment.clear();
        }
        if in_comment {
            comment.push_str(t.trim_start_matches(['/', '*']).trim());
            comment.push(' ');
            if t.ends_with("*/") {
                in_comment = false;
            }
            continue;
        }
        let Some(open) = t.find('(') else { continue };
        let head = &t[..open];
        let Some(name) = head.split_whitespace().last() else {
            continue;
        };
        let name = name.trim_start_matches('*');
        if !name.starts_with("mtatls_") || t.starts_with("typedef") {
            continue;
        }
        functions += 1;
        for label in ["NULL:", "Returns:", "Memory:", "Blocking:", "Threads:"] {
            if !comment.contains(label) {
                problems.push(format!("{name}: no \"{label}\" in its comment"));
            }
        }
        if head.starts_with("mtatls_result ") {
            let returns = comment
                .split("Returns:")
                .nth(1)
                .and_then(|r| r.split(" - ").next())
                .unwrap_or("");
            let named: Vec<&str> = returns
                .split(|c: char| !(c.is_ascii_uppercase() || c == '_'))
                .filter(|w| w.starts_with("MTATLS_RESULT_"))
                .collect();
            if !named.contains(&"MTATLS_RESULT_OK") {
                problems.push(format!("{name}: Returns: does not name MTATLS_RESULT_OK"));
            }
            if named.len() < 2 {
                problems.push(format!("{name}: Returns: names no failure code"));
            }
            for n in named {
                if !codes.iter().any(|c| c == n) {
                    problems.push(format!("{name}: Returns: names {n}, which does not exist"));
                }
            }
        }
        comment.clear();
    }
    assert!(functions >= 35, "found only {functions} functions");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
