//! What the tests that drive the `kms` binary share: running it on a home of its own, and a
//! small HTTP client (`http`).

pub mod http;

use std::path::Path;
use std::process::{Command, Output};

/// Runs `kms` with `args` on the vault in `home`, deaf to the caller's own KMS environment.
pub fn kms(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kms"))
        .args(args)
        .env("KMS_HOME", home)
        .env_remove("KMS_VAULT")
        .env_remove("KMS_ROOT_KEY_FILE")
        .env_remove("KMS_ROOT_KEY")
        .env_remove("KMS_PRINCIPAL")
        .output()
        .unwrap()
}

/// What a `kms` run that must succeed printed.
pub fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}
