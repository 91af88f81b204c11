//! The component author's example (`examples/purpose-guard`), used as its author would: its own
//! `cargo test`, which builds its policy plugin and runs it in scratch KMSs with kms-testkit, then
//! `kms plugin test` on its table of cases. The project is a workspace of its own; it builds into
//! this build's target directory, reusing what it shares with the host.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn example() -> PathBuf {
    repository().join("examples/purpose-guard")
}

/// The target directory of this build, which the example shares.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repository().join("target"))
}

#[test]
fn the_example_projects_own_tests_pass_and_its_cases_run_through_kms_plugin_test() {
    let mut report = std::io::stderr();
    let started = Instant::now();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(example())
        .args(["test", "--locked"])
        .env("CARGO_TARGET_DIR", target_dir())
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .output()
        .expect("cargo runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the example's cargo test failed (if cargo says examples/purpose-guard/Cargo.lock needs \
         to be updated, a dependency of the host crates changed: run `cargo update -w` there and \
         commit the lock file):\n{stdout}\n{stderr}"
    );
    let passed: usize = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("test result: ok. "))
        .filter_map(|l| l.split(' ').next()?.parse::<usize>().ok())
        .sum();
    assert!(passed >= 6, "the example ran {passed} tests:\n{stdout}");
    let _ = writeln!(
        report,
        "examples/purpose-guard: cargo test passed {passed} tests in {:.1?} (build included)",
        started.elapsed()
    );

    // The component its tests built, through the author's command-line workflow.
    let component = target_dir().join("kms-testkit/wasm32-wasip2/release/purpose_guard.wasm");
    assert!(component.exists(), "{} was not built", component.display());
    let cases = example().join("cases.json");
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_kms"))
        .arg("plugin")
        .arg("test")
        .arg(&cases)
        .arg("--component")
        .arg(&component)
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary = stdout.lines().last().unwrap_or_default();
    let count: usize = summary
        .split(", ")
        .nth(2)
        .and_then(|s| s.split(' ').next()?.parse().ok())
        .unwrap_or_default();
    assert!(count >= 20, "{summary}");
    assert!(
        summary.starts_with(&format!("{count} passed, 0 failed")),
        "{summary}"
    );
    let _ = writeln!(
        report,
        "kms plugin test {}: {summary}; the whole command took {elapsed:.1?}",
        cases.display()
    );

    // A wrong expectation fails the run and shows the difference.
    let mut table: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cases).unwrap()).unwrap();
    table["Cases"][0]["Expect"] = "Deny".into();
    let wrong = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(wrong.path(), table.to_string()).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_kms"))
        .args(["plugin", "test"])
        .arg(wrong.path())
        .arg("--component")
        .arg(&component)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("FAILED  decrypt for billing\n  - expected: Deny\n  + got:      Allow"),
        "{stdout}"
    );
}
