//! Builds the guest components in `guest/components` for wasm32-wasip2 with the workspace's own
//! cargo, installing the target through rustup when it is missing, and tells the library where
//! each component landed.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";
const COMPONENTS: [&str; 7] = [
    "data-key-wrapper",
    "abac-policy",
    "tenant-app",
    "hostile-app",
    "hostile-plugin",
    "reveal-app",
    "std-app",
];

/// The components operators run, compiled into the crate (and so into `kms`): name, world,
/// and what it does.
const STOCK: [(&str, &str, &str); 3] = [
    (
        "tenant-app",
        "kms:vault/tenant-command",
        "a tenant application: encrypts, makes a data key, signs and MACs with the keys it is granted",
    ),
    (
        "data-key-wrapper",
        "kms:vault/data-key-wrapper",
        "seals and opens data under a data key it never sees",
    ),
    (
        "abac-policy",
        "kms:vault/policy-plugin",
        "a policy plugin: allows a call on a tenant's key only when the encryption context names the tenant the key is tagged with",
    ),
];

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let guest_dir = manifest_dir.parent().unwrap().to_path_buf();
    let workspace = guest_dir.join("components");
    for watched in [
        workspace.clone(),
        guest_dir.join("sdk"),
        guest_dir.parent().unwrap().join("wit"),
    ] {
        println!("cargo:rerun-if-changed={}", watched.display());
    }
    // The guests' paths are compiled into this crate: a build copied or moved to another
    // target directory must build them again there.
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_DIR");
    ensure_target();

    // A target directory of its own beside the host's, shared by every profile of the outer
    // build, so that the guests are built once and not once per `cargo test`/`bench` profile.
    let target_dir = match env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir).join("guest"),
        None => guest_dir.parent().unwrap().join("target").join("guest"),
    };
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    // From inside the guest workspace, so that its `.cargo/config.toml` applies.
    command
        .current_dir(&workspace)
        .arg("build")
        .arg("--manifest-path")
        .arg(workspace.join("Cargo.toml"))
        .args(["--profile", "guest", "--target", TARGET, "--workspace"])
        .arg("--target-dir")
        .arg(&target_dir);
    // Flags meant for the host build must not reach the guests.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_LLVM_COV",
        "CARGO_LLVM_COV_SHOW_ENV",
    ] {
        command.env_remove(var);
    }
    let status = command
        .status()
        .unwrap_or_else(|e| panic!("could not run cargo to build the guest components: {e}"));
    if !status.success() {
        panic!(
            "building the guest components in {} failed",
            workspace.display()
        );
    }

    let out_dir = target_dir.join(TARGET).join("guest");
    let mut paths = String::new();
    for name in COMPONENTS {
        let file = out_dir.join(format!("{}.wasm", name.replace('-', "_")));
        assert!(file.exists(), "{} was not built", file.display());
        let constant = name.replace('-', "_").to_uppercase();
        paths.push_str(&format!(
            "/// The `{name}` component, built for {TARGET}.\npub const {constant}: &str = {:?};\n",
            file.display().to_string()
        ));
    }
    paths.push_str(
        "/// The stock components, compiled in: name, the world each is built for, and its bytes.\n\
         pub const STOCK: &[StockComponent] = &[\n",
    );
    for (name, world, about) in STOCK {
        let file = out_dir.join(format!("{}.wasm", name.replace('-', "_")));
        paths.push_str(&format!(
            "    StockComponent {{ name: {name:?}, world: {world:?}, about: {about:?}, bytes: include_bytes!({:?}) }},\n",
            file.display().to_string()
        ));
    }
    paths.push_str("];\n");
    let generated = PathBuf::from(env::var("OUT_DIR").unwrap()).join("paths.rs");
    std::fs::write(generated, paths).unwrap();
}

/// Installs the wasm32-wasip2 standard library through rustup when it is missing.
fn ensure_target() {
    if target_installed() {
        return;
    }
    println!(
        "cargo:warning=installing the {TARGET} target with rustup (needed to build the guest components)"
    );
    let added = Command::new("rustup")
        .args(["target", "add", TARGET])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !added || !target_installed() {
        panic!(
            "the Rust target {TARGET} is not installed and `rustup target add {TARGET}` failed; \
             install it by hand (`rustup target add {TARGET}`) and build again"
        );
    }
}

fn target_installed() -> bool {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    Command::new(rustc)
        .args(["--print", "target-libdir", "--target", TARGET])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .is_some_and(|dir| has_core(Path::new(&dir)))
}

fn has_core(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("libcore-"))
    })
}
