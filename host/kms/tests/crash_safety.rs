//! Crash safety, measured: `kms serve` is killed with SIGKILL while clients create keys, rotate,
//! tag and encrypt; after each kill the audit chain must verify, and after the restart every
//! acknowledged request must be durable: its key exists, its tag is there, its rotation counted,
//! its ciphertext decrypts to what was sent, and its request id is in the audit trail.
//!
//! The same rounds run a second time as power losses: the server runs with a preloaded library
//! (`power_loss/synced_only.c`) that keeps, beside each vault file, a copy holding only what was
//! synced; after the kill each file is replaced by that copy, the worst a disk may keep when the
//! power goes. SIGKILL alone leaves unsynced writes in the page cache, so only this shows that a
//! response waits for its own records to be synced.
//!
//! `KMS_CRASH_ROUNDS` runs more rounds than the suite's default (each round continues on the same
//! vault, so recovery after recovery is exercised too).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use common::{Client, Serving, admin_credentials, kms, ok, serve_with_env};

/// Client threads hammering the server while it is killed.
const CLIENTS: usize = 3;
/// Tags written to one key at most (AWS allows 50).
const TAGS_PER_KEY: usize = 40;
/// On-demand rotations of one key at most (AWS allows 10 over a key's life).
const ROTATIONS_PER_KEY: usize = 10;

/// A running `kms serve` on `home`, and the administrator's credentials.
struct Server {
    child: Child,
    addr: SocketAddr,
    key_id: String,
    secret: String,
}

impl Server {
    fn start(home: &Path) -> Server {
        Self::start_with(home, &[])
    }

    fn start_with(home: &Path, env: &[(&str, &std::ffi::OsStr)]) -> Server {
        // The check reads back every acknowledged effect at once: AWS's request quotas would
        // throttle it.
        let rates = [
            "--rate",
            "management=1000000",
            "--rate",
            "symmetric=1000000",
        ];
        let Serving { child, addr, .. } = serve_with_env(home, &rates, Stdio::null(), env);
        let (key_id, secret) = admin_credentials(home);
        Server {
            child,
            addr,
            key_id,
            secret,
        }
    }

    fn client(&self) -> Client {
        Client::new(self.addr, &self.key_id, &self.secret)
    }

    /// SIGKILL: no drain, no shutdown hook, no flush.
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Everything the server acknowledged, across every round.
#[derive(Default)]
struct Ledger {
    keys: BTreeSet<String>,
    /// (key, tag key, tag value)
    tags: Vec<(String, String, String)>,
    /// On-demand rotations acknowledged per key.
    rotations: BTreeMap<String, usize>,
    /// (ciphertext, plaintext)
    ciphertexts: Vec<(String, String)>,
    request_ids: BTreeSet<String>,
}

/// A small deterministic generator, so a failing round can be replayed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % bound
    }
}

/// One client's loop until the server stops answering: every acknowledged effect goes into the
/// ledger the moment its answer arrives.
fn hammer(mut client: Client, ledger: Arc<Mutex<Ledger>>, seed: u64, stop: Arc<AtomicBool>) {
    let mut random = Lcg(seed);
    // The keys this client created: tagged and rotated only by it, so the counts are its own.
    let mut mine: Vec<(String, usize, usize)> = Vec::new();
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let choice = if mine.is_empty() { 0 } else { random.next(10) };
        let answered = match choice {
            0 => client
                .acknowledged("CreateKey", r#"{"Description":"crash test"}"#)
                .map(|(id, json)| {
                    let key = json["KeyMetadata"]["KeyId"].as_str().unwrap().to_string();
                    mine.push((key.clone(), 0, 0));
                    let mut ledger = ledger.lock().unwrap();
                    ledger.keys.insert(key);
                    ledger.request_ids.insert(id);
                }),
            1..=2 => {
                let slot = random.next(mine.len() as u64) as usize;
                let (key, tags, _) = &mut mine[slot];
                if *tags >= TAGS_PER_KEY {
                    continue;
                }
                *tags += 1;
                let (tag_key, value) = (format!("t{seed}-{n}"), format!("v{n}"));
                let body = format!(
                    r#"{{"KeyId":"{key}","Tags":[{{"TagKey":"{tag_key}","TagValue":"{value}"}}]}}"#
                );
                let key = key.clone();
                client.acknowledged("TagResource", &body).map(|(id, _)| {
                    let mut ledger = ledger.lock().unwrap();
                    ledger.tags.push((key, tag_key, value));
                    ledger.request_ids.insert(id);
                })
            }
            3 => {
                let slot = random.next(mine.len() as u64) as usize;
                let (key, _, rotations) = &mut mine[slot];
                if *rotations >= ROTATIONS_PER_KEY {
                    continue;
                }
                *rotations += 1;
                let key = key.clone();
                client
                    .acknowledged("RotateKeyOnDemand", &format!(r#"{{"KeyId":"{key}"}}"#))
                    .map(|(id, _)| {
                        let mut ledger = ledger.lock().unwrap();
                        *ledger.rotations.entry(key).or_default() += 1;
                        ledger.request_ids.insert(id);
                    })
            }
            _ => {
                let slot = random.next(mine.len() as u64) as usize;
                let plaintext = B64.encode(format!("secret {seed} {n}"));
                let body = format!(
                    r#"{{"KeyId":"{}","Plaintext":"{plaintext}"}}"#,
                    mine[slot].0
                );
                client.acknowledged("Encrypt", &body).map(|(id, json)| {
                    let blob = json["CiphertextBlob"].as_str().unwrap().to_string();
                    let mut ledger = ledger.lock().unwrap();
                    ledger.ciphertexts.push((blob, plaintext));
                    ledger.request_ids.insert(id);
                })
            }
        };
        if answered.is_none() && !client.connected() {
            // The server is gone: what was in flight was never acknowledged.
            return;
        }
    }
}

/// The JSON answer of a check that must succeed.
fn answer(client: &mut Client, operation: &str, body: &str) -> serde_json::Value {
    let response = client
        .call(operation, body)
        .unwrap_or_else(|| panic!("{operation} {body}: the restarted server did not answer"));
    assert_eq!(
        response.status,
        200,
        "{operation} {body}: {}",
        String::from_utf8_lossy(&response.body)
    );
    response.json()
}

/// Checks that everything in `ledger` survived, through the restarted `server`.
fn check_durable(server: &Server, home: &Path, ledger: &Ledger) {
    let mut client = server.client();
    for key in &ledger.keys {
        let json = answer(
            &mut client,
            "DescribeKey",
            &format!(r#"{{"KeyId":"{key}"}}"#),
        );
        assert_eq!(json["KeyMetadata"]["KeyState"], "Enabled", "{key}");
    }
    let mut tags: BTreeMap<&str, BTreeMap<String, String>> = BTreeMap::new();
    for (key, tag_key, value) in &ledger.tags {
        let stored = tags.entry(key.as_str()).or_insert_with(|| {
            let json = answer(
                &mut client,
                "ListResourceTags",
                &format!(r#"{{"KeyId":"{key}"}}"#),
            );
            json["Tags"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| {
                    (
                        t["TagKey"].as_str().unwrap().to_string(),
                        t["TagValue"].as_str().unwrap().to_string(),
                    )
                })
                .collect()
        });
        assert_eq!(
            stored.get(tag_key),
            Some(value),
            "acknowledged tag {tag_key} of {key} is gone"
        );
    }
    for (key, acknowledged) in &ledger.rotations {
        let json = answer(
            &mut client,
            "ListKeyRotations",
            &format!(r#"{{"KeyId":"{key}","Limit":1000}}"#),
        );
        let on_demand = json["Rotations"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["RotationType"] == "ON_DEMAND")
            .count();
        assert!(
            on_demand >= *acknowledged,
            "{key}: {acknowledged} rotations acknowledged, {on_demand} stored"
        );
    }
    for (blob, plaintext) in &ledger.ciphertexts {
        let json = answer(
            &mut client,
            "Decrypt",
            &format!(r#"{{"CiphertextBlob":"{blob}"}}"#),
        );
        assert_eq!(json["Plaintext"].as_str(), Some(plaintext.as_str()));
    }
    let records = ok(kms(home, &["audit", "query", "--output", "json"]));
    let records: serde_json::Value = serde_json::from_str(&records).unwrap();
    let audited: BTreeSet<&str> = records
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["requestID"].as_str())
        .collect();
    let missing: Vec<_> = ledger
        .request_ids
        .iter()
        .filter(|id| !audited.contains(id.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "acknowledged requests without an audit record: {missing:?}"
    );
}

/// How a round ends.
enum Crash {
    /// SIGKILL: the page cache keeps whatever was written.
    Kill,
    /// SIGKILL, then every vault file replaced by what was synced of it; the library that keeps
    /// those copies is preloaded into the server.
    PowerLoss(PathBuf),
}

/// Builds the preloaded library that keeps what was synced (with the C compiler the Rust
/// toolchain links with).
fn synced_only_library() -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/power_loss/synced_only.c");
    let library = Path::new(env!("CARGO_TARGET_TMPDIR")).join("synced_only.so");
    let built = std::process::Command::new("cc")
        .args(["-shared", "-fPIC", "-O2", "-Wall", "-Werror", "-o"])
        .arg(&library)
        .arg(&source)
        .arg("-ldl")
        .output()
        .expect("cc, the C compiler Rust links with");
    assert!(
        built.status.success(),
        "building {}: {}",
        source.display(),
        String::from_utf8_lossy(&built.stderr)
    );
    library
}

/// What a disk that lost power keeps: each file as it was last synced. The shared-memory index
/// is never synced and is rebuilt from the log when the vault is next opened.
fn lose_power(home: &Path) {
    let mut copies = 0;
    for entry in std::fs::read_dir(home).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if let Some(original) = name.strip_suffix(".synced") {
            std::fs::rename(&path, home.join(original)).unwrap();
            copies += 1;
        }
    }
    assert!(
        copies >= 2,
        "the vault and its log were not followed ({copies} copies)"
    );
    let _ = std::fs::remove_file(home.join("vault.db-shm"));
}

/// Rounds of load, crash and restart on one vault; after each, every acknowledged request must
/// be durable and the audit chain must verify.
fn crash_rounds(crash: Crash) {
    let rounds: u64 = std::env::var("KMS_CRASH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(4);
    let home = tempfile::tempdir().unwrap();
    ok(kms(home.path(), &["init"]));
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let started = Instant::now();
    let mut random = Lcg(0x5eed);
    let prefix = home.path().as_os_str().to_owned();
    let env: Vec<(&str, &std::ffi::OsStr)> = match &crash {
        Crash::Kill => Vec::new(),
        Crash::PowerLoss(library) => vec![
            ("LD_PRELOAD", library.as_os_str()),
            ("SYNCED_ONLY_PREFIX", prefix.as_os_str()),
        ],
    };
    for round in 0..rounds {
        let server = Server::start_with(home.path(), &env);
        let stop = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = (0..CLIENTS as u64)
            .map(|c| {
                let (client, ledger, stop) = (server.client(), ledger.clone(), stop.clone());
                std::thread::spawn(move || hammer(client, ledger, round * 100 + c, stop))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(300 + random.next(900)));
        server.kill();
        stop.store(true, Ordering::Relaxed);
        for client in clients {
            client.join().unwrap();
        }
        if let Crash::PowerLoss(_) = crash {
            lose_power(home.path());
        }
        // Right after the crash, before anything repairs anything: the chain holds.
        ok(kms(home.path(), &["audit", "verify"]));
        let server = Server::start(home.path());
        let ledger = ledger.lock().unwrap();
        check_durable(&server, home.path(), &ledger);
        println!(
            "round {round}: crashed and restarted; durable so far: {} keys, {} tags, {} rotations, {} ciphertexts, {} request ids",
            ledger.keys.len(),
            ledger.tags.len(),
            ledger.rotations.values().sum::<usize>(),
            ledger.ciphertexts.len(),
            ledger.request_ids.len()
        );
        server.kill();
    }
    let ledger = ledger.lock().unwrap();
    assert!(
        !ledger.keys.is_empty() && !ledger.ciphertexts.is_empty() && !ledger.tags.is_empty(),
        "the clients got nothing acknowledged: the test proved nothing"
    );
    println!(
        "{rounds} rounds in {:.1} s: every acknowledged request durable, audit chain verified",
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn every_acknowledged_request_survives_sigkill_and_the_audit_chain_verifies() {
    crash_rounds(Crash::Kill);
}

#[cfg(target_os = "linux")]
#[test]
fn every_acknowledged_request_survives_a_power_loss_and_the_audit_chain_verifies() {
    crash_rounds(Crash::PowerLoss(synced_only_library()));
}
