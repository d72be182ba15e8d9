//! The shape of the crate, checked: each top-level module of src/ is a
//! layer, and a layer may only use the layers below it (no circle, no
//! upward import); only the OpenSSL layer (`sys`) and the C ABI (`ffi`)
//! hold `unsafe` code or name `openssl_sys`, and every `unsafe` block
//! there says why it is sound.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Top to bottom. `lib.rs` and `unstable` (re-exports) sit above all.
const LAYERS: &[&str] = &[
    "ffi", "session", "verify", "report", "context", "config", "logging", "sys", "text", "error",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The top-level module a file of src/ belongs to.
fn module_of(path: &Path) -> String {
    let rel = path.strip_prefix(src()).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

/// Code without comments (so that doc text naming a module is no use).
fn code_of(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Top-level modules each file refers to as `crate::NAME`.
fn uses() -> BTreeMap<String, BTreeMap<String, Vec<String>>> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut out: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for f in files {
        let from = module_of(&f);
        let code = code_of(&std::fs::read_to_string(&f).unwrap());
        let mut rest = code.as_str();
        while let Some(i) = rest.find("crate::") {
            let after = &rest[i + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() && name != from {
                out.entry(from.clone())
                    .or_default()
                    .entry(name.clone())
                    .or_default()
                    .push(f.strip_prefix(src()).unwrap().display().to_string());
            }
            rest = &after[name.len()..];
        }
    }
    out
}

#[test]
fn every_module_is_a_known_layer() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    for f in files {
        let m = module_of(&f);
        assert!(
            LAYERS.contains(&m.as_str()) || m == "lib" || m == "unstable",
            "{}: top-level module `{m}` is in no layer of tests/layers.rs",
            f.display()
        );
    }
}

#[test]
fn imports_only_point_down() {
    let rank = |m: &str| LAYERS.iter().position(|l| *l == m);
    let mut problems = Vec::new();
    for (from, targets) in uses() {
        let Some(r_from) = rank(&from) else {
            continue; // lib.rs and unstable re-export from every layer
        };
        for (to, files) in targets {
            match rank(&to) {
                Some(r_to) if r_to > r_from => {}
                Some(_) => problems.push(format!("{from} -> {to} (in {})", files.join(", "))),
                None => problems.push(format!("{from} -> unknown module {to}")),
            }
        }
    }
    assert!(
        problems.is_empty(),
        "upward or circular imports:\n{}",
        problems.join("\n")
    );
}

#[test]
fn unsafe_only_in_sys_and_ffi() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut problems = Vec::new();
    let mut blocks = 0;
    for f in files {
        let m = module_of(&f);
        let text = std::fs::read_to_string(&f).unwrap();
        let code = code_of(&text);
        let boundary = m == "sys" || m == "ffi";
        if !boundary {
            if code.contains("unsafe ") || code.contains("unsafe{") {
                problems.push(format!("{}: `unsafe` outside sys/ and ffi/", f.display()));
            }
            if code.contains("openssl_sys") {
                problems.push(format!(
                    "{}: openssl_sys outside sys/ and ffi/",
                    f.display()
                ));
            }
            continue;
        }
        // Every `unsafe {` block (and `unsafe impl`) in the boundary has a
        // SAFETY: comment on one of the three lines before it (or on its
        // own line).
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let c = code_of(line);
            if c.contains("unsafe {") || c.contains("unsafe impl") {
                blocks += 1;
                let from = i.saturating_sub(3);
                if !lines[from..=i].iter().any(|l| l.contains("SAFETY")) {
                    problems.push(format!(
                        "{}:{}: unsafe without a SAFETY: comment",
                        f.display(),
                        i + 1
                    ));
                }
            }
        }
    }
    assert!(
        blocks > 50,
        "found only {blocks} unsafe blocks: is the scan broken?"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_crate_denies_unsafe_except_in_its_boundary() {
    let lib = std::fs::read_to_string(src().join("lib.rs")).unwrap();
    assert!(
        lib.contains("#![deny(unsafe_code)]"),
        "lib.rs must deny unsafe_code"
    );
    // Every allowance, in any form, anywhere under src/: only the first
    // inner attribute lines of sys/mod.rs and ffi/mod.rs.
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut allowed = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for line in text.lines().filter(|l| l.contains("allow(unsafe_code)")) {
            let rel = file.strip_prefix(src()).unwrap().display().to_string();
            allowed.push(format!("{rel}: {}", line.trim()));
        }
    }
    allowed.sort();
    assert_eq!(
        allowed,
        vec![
            "ffi/mod.rs: #![allow(unsafe_code)]",
            "sys/mod.rs: #![allow(unsafe_code)]"
        ],
        "only sys and ffi may allow unsafe_code"
    );
}
