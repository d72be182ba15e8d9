//! The Python binding's pytest suite (examples/python), run against the
//! library this build made. Skipped without pytest; required when
//! MTATLS_REQUIRE_PYTHON=1 (CI).

mod common;

use std::process::Command;
use std::time::Duration;

#[test]
fn python_binding_pytest_suite() {
    let have_pytest = Command::new("python3")
        .args(["-c", "import pytest"])
        .status()
        .is_ok_and(|s| s.success());
    if !have_pytest {
        assert!(
            !common::required("MTATLS_REQUIRE_PYTHON"),
            "pytest is required but missing"
        );
        eprintln!("SKIPPED: pytest not installed (pip install pytest)");
        return;
    }
    common::c_binaries();
    let lib = common::profile_dir().join("libmtatls.so");
    let out = common::run_bounded(
        Command::new("python3")
            .args([
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "examples/python",
            ])
            .current_dir(common::root())
            .env("MTATLS_LIB", &lib),
        Duration::from_secs(300),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "pytest failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(" passed"), "{stdout}");
}
