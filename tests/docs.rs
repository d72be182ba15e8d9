//! The parameter table of docs/parameters.md is generated from the code's own table
//! (`mtatls::unstable::PARAMS`) and must not drift from it.
//! Refresh: `MTATLS_UPDATE_DOCS=1 cargo test --test docs`.

const BEGIN: &str = "<!-- parameters: generated from src/config/params.rs, do not edit -->\n";
const END: &str = "<!-- parameters: end -->\n";

/// A default as the table shows it.
fn shown(value: &str) -> String {
    if value.is_empty() {
        "(empty)".to_string()
    } else {
        format!("`{}`", value)
    }
}

fn table() -> String {
    let mut t = String::from(
        "| Parameter | Default (3.8.5) | Other releases | Meaning |\n| --- | --- | --- | --- |\n",
    );
    for p in mtatls::unstable::PARAMS {
        let default = shown(p.default);
        let others: Vec<String> = mtatls::unstable::DEFAULT_CHANGES
            .iter()
            .filter(|c| c.name == p.name)
            .map(|c| format!("{}: {}", c.releases, shown(c.value)))
            .collect();
        let others = others.join("; ").replace('|', "\\|");
        let name = if p.name.starts_with("smtp_") {
            format!("`{}` (also `lmtp_{}`)", p.name, &p.name[5..])
        } else {
            format!("`{}`", p.name)
        };
        t.push_str(&format!(
            "| {name} | {default} | {others} | {} |\n",
            p.doc.replace('|', "\\|")
        ));
    }
    t
}

#[test]
fn parameter_table_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/parameters.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let start = readme
        .find(BEGIN)
        .expect("docs/parameters.md lacks the parameters begin marker")
        + BEGIN.len();
    let end = readme[start..]
        .find(END)
        .expect("docs/parameters.md lacks the parameters end marker")
        + start;
    let want = table();
    if std::env::var("MTATLS_UPDATE_DOCS").is_ok_and(|v| v == "1") && readme[start..end] != want {
        let updated = format!("{}{}{}", &readme[..start], want, &readme[end..]);
        std::fs::write(&path, updated).unwrap();
        return;
    }
    assert!(
        readme[start..end] == want,
        "docs/parameters.md's parameter table differs from src/config/params.rs; refresh with MTATLS_UPDATE_DOCS=1 cargo test --test docs"
    );
}
