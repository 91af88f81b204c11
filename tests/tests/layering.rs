//! The host's crates are layers. Each may depend only on the layers below it (cargo refuses the
//! cycle an upward arrow would make, and this test names the rule outright); only `kms-crypto`
//! names a crypto crate; and a plugin platform that embeds `kms-runtime` compiles no HTTP
//! server and no command line.

use std::collections::BTreeMap;
use std::process::Command;

/// Each host crate and its layer: a crate may depend on crates of lower layers only.
/// `kms-runtime` and `kms-server` share a layer and so may not depend on each other.
const LAYERS: &[(&str, u8)] = &[
    ("kms-core", 0),
    ("kms-crypto", 1),
    ("kms-vault", 2),
    ("kms-authz", 3),
    ("kms-service", 4),
    ("kms-runtime", 5),
    ("kms-server", 5),
    ("kms", 6),
];

/// The crates that implement cryptographic primitives: only `kms-crypto` may use them.
const CRYPTO_CRATES: &[&str] = &[
    "aes-gcm",
    "aead-stream",
    "sha1",
    "sha2",
    "hmac",
    "rsa",
    "p256",
    "p384",
    "p521",
    "k256",
    "ml-dsa",
];

fn cargo(args: &[&str]) -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "cargo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 from cargo")
}

/// Each workspace package's name and the names of its normal and dev dependencies.
fn declared_dependencies() -> BTreeMap<String, Vec<(String, String)>> {
    let metadata: serde_json::Value = serde_json::from_str(&cargo(&[
        "metadata",
        "--format-version",
        "1",
        "--no-deps",
        "--offline",
    ]))
    .expect("cargo metadata is JSON");
    metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|package| {
            let deps = package["dependencies"]
                .as_array()
                .expect("dependencies")
                .iter()
                .map(|d| {
                    let kind = d["kind"].as_str().unwrap_or("normal").to_string();
                    (d["name"].as_str().expect("name").to_string(), kind)
                })
                .collect();
            (package["name"].as_str().expect("name").to_string(), deps)
        })
        .collect()
}

#[test]
fn host_crates_depend_only_on_the_layers_below_them() {
    let layer: BTreeMap<&str, u8> = LAYERS.iter().copied().collect();
    let packages = declared_dependencies();
    for (name, own) in LAYERS {
        let deps = packages
            .get(*name)
            .unwrap_or_else(|| panic!("{name} is not in the workspace"));
        for (dep, kind) in deps {
            if let Some(theirs) = layer.get(dep.as_str()) {
                assert!(
                    theirs < own,
                    "{name} (layer {own}) has a {kind} dependency on {dep} (layer {theirs})"
                );
            }
        }
    }
}

#[test]
fn only_the_crypto_crate_names_a_crypto_crate() {
    let packages = declared_dependencies();
    for (name, _) in LAYERS.iter().filter(|(n, _)| *n != "kms-crypto") {
        for (dep, kind) in &packages[*name] {
            assert!(
                !CRYPTO_CRATES.contains(&dep.as_str()),
                "{name} has a {kind} dependency on the crypto crate {dep}"
            );
        }
    }
}

#[test]
fn the_embedding_crate_compiles_no_http_server_and_no_command_line() {
    let tree = cargo(&[
        "tree",
        "-p",
        "kms-runtime",
        "-e",
        "normal",
        "--prefix",
        "none",
        "--offline",
    ]);
    let crates: Vec<&str> = tree
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    assert!(crates.contains(&"wasmtime"), "{tree}");
    for forbidden in [
        "hyper",
        "hyper-util",
        "tokio",
        "clap",
        "indicatif",
        "kms-server",
    ] {
        assert!(
            !crates.contains(&forbidden),
            "kms-runtime pulls in {forbidden}:\n{tree}"
        );
    }
}
