//! Components for tests: your own, built from its cargo project for `wasm32-wasip2` from inside
//! your test, and ones that trap at their first call, for testing how your components and
//! policies fare when a component they depend on fails.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// The target components are built for.
///
/// ```
/// assert_eq!(kms_testkit::TARGET, "wasm32-wasip2");
/// ```
pub const TARGET: &str = "wasm32-wasip2";

/// The `kms:vault` WIT package the host is built from, file by file (name, text): what a
/// component's `wit_bindgen::generate!` reads (`kms components --wit DIR` writes it out).
///
/// ```
/// let (_, worlds) = kms_testkit::WIT.iter().find(|(name, _)| *name == "worlds.wit").unwrap();
/// assert!(worlds.contains("world policy-plugin"));
/// ```
pub const WIT: [(&str, &str); 10] = [
    ("app.wit", include_str!("../wit/app.wit")),
    ("config.wit", include_str!("../wit/config.wit")),
    ("data-keys.wit", include_str!("../wit/data-keys.wit")),
    ("envelope.wit", include_str!("../wit/envelope.wit")),
    ("keys.wit", include_str!("../wit/keys.wit")),
    ("log.wit", include_str!("../wit/log.wit")),
    ("policy.wit", include_str!("../wit/policy.wit")),
    ("reveal.wit", include_str!("../wit/reveal.wit")),
    ("types.wit", include_str!("../wit/types.wit")),
    ("worlds.wit", include_str!("../wit/worlds.wit")),
];

/// A component of the `kms:vault` world `world` (`policy-plugin`, `data-key-wrapper`,
/// `tenant-command`, …) that traps as soon as the host calls into it: a policy plugin that
/// fails, for instance, which the host answers by failing closed.
///
/// ```
/// use kms_testkit::{PluginVerdict, Scratch, trapping_component};
/// let kms = Scratch::new();
/// let plugin = trapping_component("policy-plugin").unwrap();
/// let verdict = kms.plugin_verdict(&plugin, &[], &kms_testkit::request("kms:Encrypt"));
/// assert!(matches!(verdict, PluginVerdict::Failed(_)), "{verdict:?}");
/// assert!(trapping_component("no-such-world").is_err());
/// ```
pub fn trapping_component(world: &str) -> Result<Vec<u8>, String> {
    use wit_parser::{LiftLowerAbi, ManglingAndAbi, Resolve, SourceMap};
    let mut sources = SourceMap::default();
    for (name, text) in WIT {
        sources.push_str(name, text);
    }
    let group = sources
        .parse()
        .map_err(|(_, e)| format!("the kms:vault WIT does not parse: {e}"))?;
    let mut resolve = Resolve::default();
    let package = resolve
        .push_group(group)
        .map_err(|e| format!("the kms:vault WIT does not resolve: {e}"))?;
    let world_id = resolve
        .select_world(&[package], Some(world))
        .map_err(|e| format!("no world {world:?} in kms:vault: {e}"))?;
    let mangling = ManglingAndAbi::Legacy(LiftLowerAbi::Sync);
    let mut module = wit_component::dummy_module(&resolve, world_id, mangling);
    wit_component::embed_component_metadata(
        &mut module,
        &resolve,
        world_id,
        wit_component::StringEncoding::UTF8,
        false,
    )
    .map_err(|e| format!("{e:#}"))?;
    wit_component::ComponentEncoder::default()
        .module(&module)
        .and_then(|encoder| encoder.validate(true).encode())
        .map_err(|e| format!("the trapping {world} component could not be made: {e:#}"))
}

// Components built in this process, by the canonical path of their cargo project.
static BUILT: Mutex<Option<HashMap<PathBuf, Vec<u8>>>> = Mutex::new(None);

/// Builds the component of the cargo project (or workspace member) at `project` — the
/// directory holding its `Cargo.toml`, a library with `crate-type = ["cdylib"]` — for
/// [`TARGET`] in release mode, and answers its bytes. Call it with
/// `env!("CARGO_MANIFEST_DIR")` from the component's own tests: `cargo test` then always runs
/// them against the component as it is now. The build goes to `kms-testkit/` in the
/// project's target directory (apart from the host build's, which it does not disturb), runs
/// once per test process, and installs the target with rustup when it is missing; a failed
/// build answers cargo's messages.
///
/// ```no_run
/// let kms = kms_testkit::Scratch::new();
/// let bytes = kms_testkit::build_component(env!("CARGO_MANIFEST_DIR")).unwrap();
/// let component = kms.load(&bytes).unwrap();
/// ```
pub fn build_component(project: impl AsRef<Path>) -> Result<Vec<u8>, String> {
    let project = project.as_ref();
    let project = project
        .canonicalize()
        .map_err(|e| format!("{}: {e}", project.display()))?;
    let mut built = BUILT.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(bytes) = built.get_or_insert_with(HashMap::new).get(&project) {
        return Ok(bytes.clone());
    }
    let bytes = build(&project)?;
    built
        .get_or_insert_with(HashMap::new)
        .insert(project, bytes.clone());
    Ok(bytes)
}

fn cargo() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    // What the test's own build was given is not for the component's (the target directory
    // is: the component's build goes beside the test's).
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_WRAPPER",
        "CARGO_LLVM_COV",
    ] {
        command.env_remove(var);
    }
    command
}

/// Runs `command`, answering its standard output, or its messages when it fails.
fn output_of(command: &mut Command, what: &str) -> Result<Vec<u8>, String> {
    let out = command
        .output()
        .map_err(|e| format!("{what}: cargo could not be run: {e}"))?;
    if out.status.success() {
        return Ok(out.stdout);
    }
    Err(format!(
        "{what} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    ))
}

fn build(project: &Path) -> Result<Vec<u8>, String> {
    let manifest = project.join("Cargo.toml");
    let metadata = output_of(
        cargo()
            .args([
                "metadata",
                "--no-deps",
                "--format-version",
                "1",
                "--manifest-path",
            ])
            .arg(&manifest),
        "cargo metadata",
    )?;
    let metadata: serde_json::Value =
        serde_json::from_slice(&metadata).map_err(|e| format!("cargo metadata: {e}"))?;
    let package = metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| {
            p["manifest_path"]
                .as_str()
                .and_then(|m| Path::new(m).canonicalize().ok())
                .is_some_and(|m| m == manifest)
        })
        .ok_or_else(|| format!("{} is not a package's manifest", manifest.display()))?;
    let name = package["name"].as_str().unwrap_or_default().to_string();
    let library = package["targets"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| {
            t["crate_types"]
                .as_array()
                .is_some_and(|types| types.iter().any(|k| k == "cdylib"))
        })
        .and_then(|t| t["name"].as_str())
        .ok_or_else(|| {
            format!(
                "package {name} has no library with crate-type = [\"cdylib\"]: a component is \
                 built from one"
            )
        })?
        .replace('-', "_");
    let target_dir = PathBuf::from(
        metadata["target_directory"]
            .as_str()
            .ok_or("cargo metadata names no target directory")?,
    )
    .join("kms-testkit");
    ensure_target()?;
    output_of(
        cargo()
            .args([
                "build",
                "--release",
                "--lib",
                "--target",
                TARGET,
                "--package",
                &name,
            ])
            .arg("--manifest-path")
            .arg(&manifest)
            .arg("--target-dir")
            .arg(&target_dir),
        &format!("building {name} for {TARGET}"),
    )?;
    let file = target_dir
        .join(TARGET)
        .join("release")
        .join(format!("{library}.wasm"));
    std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))
}

/// Installs the target's standard library with rustup when it is missing.
fn ensure_target() -> Result<(), String> {
    if target_installed() {
        return Ok(());
    }
    let added = Command::new("rustup")
        .args(["target", "add", TARGET])
        .status()
        .is_ok_and(|s| s.success());
    if added && target_installed() {
        Ok(())
    } else {
        Err(format!(
            "the Rust target {TARGET} is not installed and `rustup target add {TARGET}` failed; \
             install it (`rustup target add {TARGET}`) and run the tests again"
        ))
    }
}

fn target_installed() -> bool {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    Command::new(rustc)
        .args(["--print", "target-libdir", "--target", TARGET])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
        .is_some_and(|dir| {
            std::fs::read_dir(dir).is_ok_and(|entries| {
                entries
                    .flatten()
                    .any(|e| e.file_name().to_string_lossy().starts_with("libcore-"))
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The WIT compiled into the kit is the whole package the host is built from.
    #[test]
    fn the_kit_carries_every_wit_file() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("wit");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".wit"))
            .collect();
        on_disk.sort();
        let carried: Vec<&str> = WIT.iter().map(|(n, _)| *n).collect();
        assert_eq!(on_disk, carried);
    }

    #[test]
    fn a_project_without_a_component_library_is_refused_with_the_reason() {
        let err = build_component(env!("CARGO_MANIFEST_DIR")).unwrap_err();
        assert!(err.contains("cdylib"), "{err}");
    }
}
