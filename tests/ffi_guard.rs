//! No panic may cross into C: every `extern "C" fn` defined in the crate
//! either runs its body inside `ffi_guard!` (exported functions) or catches
//! unwinding itself (callbacks OpenSSL calls).

use std::path::Path;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The text of the function body that starts after `start` (the first `{`
/// at or after it, up to its matching `}`).
fn body_after(text: &str, start: usize) -> &str {
    let open = start + text[start..].find('{').expect("function body");
    let mut depth = 0;
    for (i, c) in text[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return &text[open + 1..open + i];
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced braces");
}

#[test]
fn every_extern_c_fn_is_guarded() {
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut exported = 0;
    let mut problems = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let mut pos = 0;
        while let Some(i) = text[pos..].find("extern \"C\" fn ") {
            let at = pos + i;
            pos = at + 1;
            // Skip declarations inside `extern "C" { ... }` blocks and
            // function-pointer types: a definition has a body before `;`.
            let rest = &text[at..];
            let brace = rest.find('{');
            let semi = rest.find(';');
            if brace.is_none() || semi.is_some_and(|s| s < brace.unwrap()) {
                continue;
            }
            let name: String = rest["extern \"C\" fn ".len()..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if name.is_empty() {
                continue;
            }
            let body = body_after(&text, at).trim_start();
            let guarded = body.starts_with("ffi_guard!(");
            let catches = body.contains("catch_unwind");
            if name.starts_with("mtatls_") {
                exported += 1;
                if !guarded {
                    problems.push(format!("{}: {name} lacks ffi_guard!", f.display()));
                }
            } else if !guarded && !catches {
                problems.push(format!(
                    "{}: callback {name} does not catch panics",
                    f.display()
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(exported >= 20, "found only {exported} exported functions");
}
