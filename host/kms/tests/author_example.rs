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

/// One step of the README's walk-through: commands, or a file to write.
enum Step {
    Commands(String),
    File { path: String, text: String },
}

/// The walk-through in README.md's "Testing your components", in order: its `sh` blocks and
/// the blocks that name a file (```` ```rust file=src/lib.rs ````).
fn walkthrough() -> Vec<Step> {
    let readme = std::fs::read_to_string(repository().join("README.md")).unwrap();
    let start = readme
        .find("### Testing your components\n")
        .expect("README.md has its section");
    let section = &readme[start..];
    let section = &section[..section[4..].find("\n### ").map_or(section.len(), |i| i + 4)];
    let mut steps = Vec::new();
    let mut lines = section.lines();
    while let Some(line) = lines.next() {
        let Some(info) = line.strip_prefix("```") else {
            continue;
        };
        let body: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
        let text = body.join("\n") + "\n";
        if let Some(path) = info
            .split_whitespace()
            .find_map(|w| w.strip_prefix("file="))
        {
            steps.push(Step::File {
                path: path.to_string(),
                text,
            });
        } else if info.starts_with("sh") {
            steps.push(Step::Commands(text));
        }
    }
    steps
}

/// The profile settings of this repository's build, so that the walk-through's project reuses
/// what the host's build made (the README's project leaves them out; they change no result).
fn host_profiles() -> String {
    let manifest = std::fs::read_to_string(repository().join("Cargo.toml")).unwrap();
    let start = manifest.find("[profile.dev]").unwrap();
    let end = manifest.find("[profile.release]").unwrap();
    manifest[start..end].to_string()
}

#[test]
fn the_readme_walks_an_author_from_an_empty_directory_to_a_passing_test() {
    let steps = walkthrough();
    let files: Vec<&str> = steps
        .iter()
        .filter_map(|s| match s {
            Step::File { path, .. } => Some(path.as_str()),
            Step::Commands(_) => None,
        })
        .collect();
    assert_eq!(
        files,
        ["Cargo.toml", "src/lib.rs", "tests/guard.rs", "cases.json"]
    );
    let scratch = tempfile::tempdir().unwrap();
    let bin = scratch.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_kms"), bin.join("kms")).unwrap();
    let mut path = std::ffi::OsString::from(&bin);
    if let Some(cargo) = std::env::var_os("CARGO").map(PathBuf::from) {
        path.push(":");
        path.push(cargo.parent().unwrap());
    }
    path.push(":");
    path.push(std::env::var_os("PATH").unwrap_or_default());

    let mut script = String::from("set -euo pipefail\n");
    let mut prepared = false;
    for step in &steps {
        match step {
            Step::Commands(commands) => script.push_str(commands),
            Step::File { path, text } => {
                if !prepared {
                    // Not the reader's steps, only this build's: the project shares this
                    // build's target directory, dependency versions and profile settings.
                    script.push_str(&format!(
                        "ln -s '{}' target\ncp '{}' Cargo.lock\nmkdir -p .cargo\n\
                         cat > .cargo/config.toml <<'KMS_WALKTHROUGH_EOF'\n{}KMS_WALKTHROUGH_EOF\n",
                        target_dir().display(),
                        example().join("Cargo.lock").display(),
                        host_profiles()
                    ));
                    prepared = true;
                }
                let text = text.replace("/path/to/kms", &repository().display().to_string());
                script.push_str(&format!(
                    "mkdir -p \"$(dirname '{path}')\"\ncat > '{path}' <<'KMS_WALKTHROUGH_EOF'\n{text}KMS_WALKTHROUGH_EOF\n"
                ));
            }
        }
    }
    let started = Instant::now();
    let output = Command::new("bash")
        .args(["-c", &script])
        .current_dir(scratch.path())
        .env("PATH", path)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the README's walk-through failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("test decrypt_needs_a_purpose ... ok"),
        "{stdout}"
    );
    assert!(stdout.contains("3 passed, 0 failed"), "{stdout}");
    let _ = writeln!(
        std::io::stderr(),
        "README.md's walk-through: from an empty directory to a passing test in {:.1?}",
        started.elapsed()
    );
}

/// The kit and the crates under it package for crates.io: each names its dependencies with a
/// version, and carries what it compiles (the WIT the runtime and the kit read is inside each
/// package, not only beside it in this repository). `cargo package` without `--no-verify`
/// also builds each from its packaged sources (a few minutes: it is not run here).
#[test]
fn the_test_kit_and_the_crates_under_it_package_for_crates_io() {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let scratch = tempfile::tempdir().unwrap();
    let mut command = Command::new(cargo);
    command
        .current_dir(repository())
        .args(["package", "--no-verify", "--allow-dirty"]);
    for crate_name in [
        "kms-core",
        "kms-crypto",
        "kms-vault",
        "kms-authz",
        "kms-service",
        "kms-runtime",
        "kms-testkit",
    ] {
        command.args(["-p", crate_name]);
    }
    let output = command
        .env("CARGO_TARGET_DIR", scratch.path())
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let listed = Command::new("tar")
        .arg("tzf")
        .arg(scratch.path().join("package/kms-testkit-0.1.0.crate"))
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout);
    for file in [
        "src/lib.rs",
        "src/faults.rs",
        "src/components.rs",
        "wit/worlds.wit",
        "README.md",
    ] {
        assert!(
            listed.contains(&format!("kms-testkit-0.1.0/{file}\n")),
            "{file} is not in the package:\n{listed}"
        );
    }
}
