//! The fuzz targets of `fuzz/` (one libFuzzer binary per parser that reads untrusted bytes),
//! seen from the workspace: on every `cargo test` each target replays its committed corpus
//! (`fuzz/corpus/<target>/`), and one test builds the targets with coverage instrumentation —
//! stable rustc flags only, no nightly — and runs each under libFuzzer for a few seconds
//! (`KMS_FUZZ_SECONDS`, default 4; 0 skips it).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// What a fuzz target runs on each input.
type Target = fn(&[u8]);

/// Every fuzz target, by the name of its binary in `fuzz/`, and the function it runs.
const TARGETS: &[(&str, Target)] = &[
    ("names", kms_core::fuzzing::names),
    ("blob", kms_crypto::fuzzing::blob),
    ("key_material", kms_crypto::fuzzing::key_material),
    ("public_keys", kms_crypto::fuzzing::public_keys),
    ("sigv4", kms_server::fuzzing::sigv4),
    ("http_request", kms_server::fuzzing::http_request),
    ("policy", kms_authz::fuzzing::policy),
    ("decrypt", kms_service::fuzzing::decrypt),
    ("import", kms_service::fuzzing::import),
    ("guest_calls", kms_service::fuzzing::guest_calls),
    ("capabilities", kms_runtime::capability::fuzzing::grants),
];

/// The seeds each target's corpus starts from, made by the code under test.
fn seeds(target: &str) -> Vec<Vec<u8>> {
    match target {
        "names" => kms_core::fuzzing::names_seeds(),
        "blob" => kms_crypto::fuzzing::blob_seeds(),
        "key_material" => kms_crypto::fuzzing::key_material_seeds(),
        "public_keys" => kms_crypto::fuzzing::public_keys_seeds(),
        "sigv4" => kms_server::fuzzing::sigv4_seeds(),
        "http_request" => kms_server::fuzzing::http_request_seeds(),
        "policy" => kms_authz::fuzzing::policy_seeds(),
        "decrypt" => kms_service::fuzzing::decrypt_seeds(),
        "import" => kms_service::fuzzing::import_seeds(),
        "guest_calls" => kms_service::fuzzing::guest_calls_seeds(),
        "capabilities" => kms_runtime::capability::fuzzing::grants_seeds(),
        other => panic!("no seeds for {other}"),
    }
}

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = fuzz_dir().join("corpus").join(target);
    let mut files: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("a directory entry").path();
            let bytes = std::fs::read(&path).expect("a corpus file");
            (path, bytes)
        })
        .collect();
    files.sort();
    files
}

#[test]
fn every_fuzz_target_is_listed_here_and_has_a_corpus() {
    let mut binaries: Vec<String> = std::fs::read_dir(fuzz_dir().join("fuzz_targets"))
        .expect("fuzz/fuzz_targets")
        .map(|e| e.expect("an entry").path())
        .filter_map(|p| Some(p.file_stem()?.to_str()?.to_string()))
        .collect();
    binaries.sort();
    let mut listed: Vec<String> = TARGETS.iter().map(|(name, _)| name.to_string()).collect();
    listed.sort();
    assert_eq!(binaries, listed);
    for (target, _) in TARGETS {
        assert!(!corpus(target).is_empty(), "fuzz/corpus/{target} is empty");
    }
}

#[test]
fn the_committed_corpus_replays_through_every_target() {
    let mut replayed = 0;
    for (target, run) in TARGETS {
        for (path, bytes) in corpus(target) {
            if let Err(panic) = std::panic::catch_unwind(|| run(&bytes)) {
                std::panic::resume_unwind(Box::new(format!(
                    "{target} fails on {}: {panic:?}",
                    path.display()
                )));
            }
            replayed += 1;
        }
    }
    println!(
        "replayed {replayed} corpus inputs through {} targets",
        TARGETS.len()
    );
}

#[test]
fn the_seeds_made_by_the_code_run_through_every_target() {
    for (target, run) in TARGETS {
        for seed in seeds(target) {
            run(&seed);
        }
    }
}

/// The committed seeds were made in another process: the fixture's fixed root key, clock and
/// key material must make its blobs decrypt and its import tokens import here too, or the
/// fuzzers would never get past authentication of their seeds.
#[test]
fn committed_seeds_decrypt_and_import_in_this_process() {
    use kms_core::fuzzing::Input;
    use kms_service::fuzzing::{EXTERNAL, Fixture};
    let read = |target: &str| {
        std::fs::read(fuzz_dir().join("corpus").join(target).join("seed-00"))
            .expect("a committed seed")
    };
    let decrypt = read("decrypt");
    let mut input = Input::new(&decrypt);
    input.take(4);
    let context = kms_core::EncryptionContext::from_pairs(input.pairs(8)).expect("a context");
    let fixture = Fixture::new();
    let request = kms_service::DecryptRequest::new(input.rest().to_vec()).with_context(context);
    let plaintext = fixture
        .service
        .decrypt(&fixture.root, request)
        .expect("decrypts")
        .plaintext;
    assert_eq!(plaintext.as_slice(), b"attack at dawn");

    let import = read("import");
    let mut input = Input::new(&import);
    let (key_id, ..) = EXTERNAL[usize::from(input.byte())];
    input.byte();
    let token = input.long().to_vec();
    let request = kms_service::ImportKeyMaterialRequest::new(key_id, token, input.rest().to_vec());
    fixture
        .service
        .import_key_material(&fixture.root, request)
        .expect("imports");
}

/// Writes each target's seeds into its corpus (`seed-<n>`), replacing the previous ones:
/// `cargo test -p kms-integration-tests --test fuzz_targets -- --ignored write_seed_corpus`.
#[test]
#[ignore = "writes fuzz/corpus; run by hand when a format changes"]
fn write_seed_corpus() {
    for (target, _) in TARGETS {
        let dir = fuzz_dir().join("corpus").join(target);
        std::fs::create_dir_all(&dir).expect("a corpus directory");
        for (path, _) in corpus(target) {
            if path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("seed-"))
            {
                std::fs::remove_file(path).expect("an old seed removed");
            }
        }
        for (n, seed) in seeds(target).into_iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{n:02}")), seed).expect("a seed written");
        }
    }
}

/// The coverage instrumentation libFuzzer needs, with flags stable rustc takes (what
/// `cargo fuzz` passes, less the nightly-only sanitizer), and `--cfg fuzzing` as it sets.
const INSTRUMENTATION: &str = "-Cpasses=sancov-module \
    -Cllvm-args=-sanitizer-coverage-level=4 \
    -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
    -Cllvm-args=-sanitizer-coverage-pc-table \
    -Cllvm-args=-sanitizer-coverage-trace-compares \
    --cfg fuzzing";

fn host_triple() -> String {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = Command::new(rustc).arg("-vV").output().expect("rustc -vV");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("rustc names its host")
        .to_string()
}

/// The last value libFuzzer printed for `field` (`cov:`, `ft:`, `stat::number_of_executed_units:`).
fn last_figure(log: &str, field: &str) -> String {
    log.lines()
        .rev()
        .find_map(|line| {
            let (_, after) = line.split_once(field)?;
            after.split_whitespace().next().map(str::to_string)
        })
        .unwrap_or_else(|| "?".into())
}

#[test]
fn each_fuzz_target_runs_under_libfuzzer_without_a_crash() {
    let seconds: u64 = std::env::var("KMS_FUZZ_SECONDS")
        .ok()
        .map(|s| s.parse().expect("KMS_FUZZ_SECONDS is a number of seconds"))
        .unwrap_or(4);
    if seconds == 0 {
        println!("KMS_FUZZ_SECONDS=0: the fuzz targets were not run");
        return;
    }
    let target_root = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let target_dir = target_root.join("fuzz");
    let triple = host_triple();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let started = Instant::now();
    let status = Command::new(cargo)
        .current_dir(fuzz_dir())
        .args([
            "build",
            "--release",
            "--locked",
            "--bins",
            "--target",
            &triple,
        ])
        .arg("--target-dir")
        .arg(&target_dir)
        .env("RUSTFLAGS", INSTRUMENTATION)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .status()
        .expect("cargo runs");
    assert!(
        status.success(),
        "building the fuzz targets failed (cargo's message is above; if it says fuzz/Cargo.lock \
         needs to be updated, a dependency of the host crates changed: run `cargo update -w` in \
         fuzz/ and commit the lock file)"
    );
    // Written to stderr directly, not through the test harness's captured output, so that every
    // run (CI's included) shows what was fuzzed.
    let mut report = std::io::stderr();
    let _ = writeln!(
        report,
        "built the fuzz targets in {:.0?}",
        started.elapsed()
    );
    let binaries = target_dir.join(&triple).join("release");
    let runs = target_dir.join("runs");
    let mut failed = Vec::new();
    for (target, _) in TARGETS {
        // New inputs go to a scratch corpus; the committed one is only read.
        let scratch = runs.join(target);
        std::fs::create_dir_all(&scratch).expect("a scratch corpus");
        let output = Command::new(binaries.join(target))
            .arg(&scratch)
            .arg(fuzz_dir().join("corpus").join(target))
            .arg(format!("-max_total_time={seconds}"))
            .arg("-timeout=10")
            .arg("-rss_limit_mb=2048")
            .arg("-print_final_stats=1")
            .arg(format!("-artifact_prefix={}/{target}-", runs.display()))
            .output()
            .expect("the fuzz target runs");
        let log = String::from_utf8_lossy(&output.stderr);
        let _ = writeln!(
            report,
            "fuzz target {target}: {seconds} s, {} runs, cov {}, ft {}: {}",
            last_figure(&log, "stat::number_of_executed_units:"),
            last_figure(&log, "cov: "),
            last_figure(&log, "ft: "),
            if output.status.success() {
                "no crash"
            } else {
                "FAILED"
            }
        );
        if !output.status.success() {
            let tail: Vec<&str> = log.lines().rev().take(60).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            eprintln!(
                "{target} failed; its input is under {}:\n{}",
                runs.display(),
                tail.join("\n")
            );
            failed.push(*target);
        }
    }
    assert!(failed.is_empty(), "fuzz targets that failed: {failed:?}");
}
