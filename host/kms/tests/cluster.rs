//! Three `kms serve` nodes on one PostgreSQL vault behave as one KMS: a key made on one is used
//! on the others at once; disabling a key, scheduling its deletion, changing its policy,
//! revoking a grant or deactivating an access key on one node is refused on the others within
//! the documented bound (measured and printed); concurrent writers on two nodes lose nothing;
//! a node killed under load loses no acknowledged request while the others keep serving, and
//! the cluster's one audit chain verifies. A node given another root key does not start.
//!
//! They need a PostgreSQL server (`KMS_TEST_POSTGRES`, which `.ci/run` starts and sets); without
//! one they are skipped with a note.

mod common;

use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use common::{Client, Serving, admin_credentials, kms, ok, serve_with_env};
use kms_vault::postgres_testing::{ScratchSchema, test_server};

/// How soon a change on one node is refused on every other, as the README documents it.
const BOUND: Duration = Duration::from_secs(1);

/// Nodes on one scratch schema, sharing the home that `kms init --store` made (its root key and
/// the administrator's credentials).
struct Cluster {
    /// Dropped (with everything in it) after the nodes.
    _scratch: ScratchSchema,
    /// The URL the nodes use: the scratch schema's, or a relay's in front of it.
    url: String,
    home: tempfile::TempDir,
    nodes: Vec<Serving>,
}

impl Cluster {
    fn start(nodes: usize) -> Option<Cluster> {
        let scratch = ScratchSchema::create(&test_server()?).unwrap();
        let url = scratch.url().to_string();
        Some(Self::start_at(scratch, url, nodes))
    }

    /// `nodes` nodes on `scratch`, reaching it at `url`.
    fn start_at(scratch: ScratchSchema, url: String, nodes: usize) -> Cluster {
        let home = tempfile::tempdir().unwrap();
        ok(kms(home.path(), &["init", "--store", &url]));
        let mut cluster = Cluster {
            _scratch: scratch,
            url,
            home,
            nodes: Vec::new(),
        };
        for _ in 0..nodes {
            let node = cluster.node(&[]);
            cluster.nodes.push(node);
        }
        cluster
    }

    /// Starts one more node (not added to `nodes`) with `env` added.
    fn node(&self, env: &[(&str, &std::ffi::OsStr)]) -> Serving {
        let args = [
            "--store",
            self.url.as_str(),
            "--rate",
            "management=1000000",
            "--rate",
            "symmetric=1000000",
        ];
        serve_with_env(self.home.path(), &args, Stdio::null(), env)
    }

    /// The administrator's client of node `n`.
    fn admin(&self, n: usize) -> Client {
        let (key_id, secret) = admin_credentials(self.home.path());
        Client::new(self.nodes[n].addr, &key_id, &secret)
    }

    /// Runs the CLI on the shared vault.
    fn cli(&self, args: &[&str]) -> String {
        let mut all = vec!["--store", self.url.as_str()];
        all.extend_from_slice(args);
        ok(kms(self.home.path(), &all))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            let _ = node.child.kill();
            let _ = node.child.wait();
        }
    }
}

/// The answer of a request that must succeed.
fn answer(client: &mut Client, operation: &str, body: &str) -> serde_json::Value {
    let response = client.call(operation, body).expect("the node answers");
    assert_eq!(
        response.status,
        200,
        "{operation} {body}: {}",
        String::from_utf8_lossy(&response.body)
    );
    response.json()
}

/// The AWS exception a request was refused with; `None` when it succeeded.
fn refusal(client: &mut Client, operation: &str, body: &str) -> Option<String> {
    let response = client.call(operation, body).expect("the node answers");
    if response.status == 200 {
        return None;
    }
    let kind = response.json()["__type"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    Some(kind.rsplit('#').next().unwrap_or_default().to_string())
}

/// Asks every client in turn to encrypt under `key` until each has refused with `expected`;
/// answers how long the slowest took from now (when the change was just acknowledged).
fn encrypt_refused(clients: &mut [Client], key: &str, expected: &str) -> Duration {
    let since = Instant::now();
    let body = encrypt_body(key);
    let mut slowest = Duration::ZERO;
    for client in clients.iter_mut() {
        loop {
            match refusal(client, "Encrypt", &body) {
                Some(kind) if kind == expected => break,
                Some(other) => panic!("Encrypt refused with {other}, not {expected}"),
                None => {
                    assert!(
                        since.elapsed() < 10 * BOUND,
                        "Encrypt still allowed {:?} after the change",
                        since.elapsed()
                    );
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
        slowest = slowest.max(since.elapsed());
    }
    slowest
}

fn key_body(key: &str) -> String {
    format!(r#"{{"KeyId":"{key}"}}"#)
}

fn encrypt_body(key: &str) -> String {
    format!(
        r#"{{"KeyId":"{key}","Plaintext":"{}"}}"#,
        B64.encode(b"cluster")
    )
}

#[test]
fn state_changes_on_one_node_are_refused_on_the_others_within_the_bound() {
    let Some(cluster) = Cluster::start(3) else {
        return;
    };
    let mut a = cluster.admin(0);
    let mut others = [cluster.admin(1), cluster.admin(2)];
    let key = answer(&mut a, "CreateKey", "{}")["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_string();
    // Made on A, used on B and C at once.
    let blob = answer(&mut others[0], "Encrypt", &encrypt_body(&key))["CiphertextBlob"]
        .as_str()
        .unwrap()
        .to_string();
    let opened = answer(
        &mut others[1],
        "Decrypt",
        &format!(r#"{{"CiphertextBlob":"{blob}"}}"#),
    );
    assert_eq!(
        opened["Plaintext"].as_str(),
        Some(B64.encode(b"cluster").as_str())
    );
    let mut measured = Vec::new();

    answer(&mut a, "DisableKey", &key_body(&key));
    let took = encrypt_refused(&mut others, &key, "DisabledException");
    measured.push(("DisableKey", took));
    answer(&mut a, "EnableKey", &key_body(&key));

    answer(
        &mut a,
        "ScheduleKeyDeletion",
        &format!(r#"{{"KeyId":"{key}","PendingWindowInDays":7}}"#),
    );
    let took = encrypt_refused(&mut others, &key, "KMSInvalidStateException");
    measured.push(("ScheduleKeyDeletion", took));
    answer(&mut a, "CancelKeyDeletion", &key_body(&key));
    answer(&mut a, "EnableKey", &key_body(&key));

    // A principal of its own, with a grant, for the last three changes.
    let bob = "arn:aws:iam::111122223333:user/bob";
    cluster.cli(&["principal", "create", bob]);
    let created: serde_json::Value =
        serde_json::from_str(&cluster.cli(&["access-key", "create", bob, "--output", "json"]))
            .unwrap();
    let (bob_key, bob_secret) = (
        created["AccessKeyId"].as_str().unwrap().to_string(),
        created["SecretAccessKey"].as_str().unwrap().to_string(),
    );
    let grant = answer(
        &mut a,
        "CreateGrant",
        &format!(r#"{{"KeyId":"{key}","GranteePrincipal":"{bob}","Operations":["Encrypt"]}}"#),
    )["GrantId"]
        .as_str()
        .unwrap()
        .to_string();
    let mut bobs: Vec<Client> = cluster.nodes[1..]
        .iter()
        .map(|node| Client::new(node.addr, &bob_key, &bob_secret))
        .collect();
    for client in &mut bobs {
        answer(client, "Encrypt", &encrypt_body(&key));
    }
    answer(
        &mut a,
        "RevokeGrant",
        &format!(r#"{{"KeyId":"{key}","GrantId":"{grant}"}}"#),
    );
    let took = encrypt_refused(&mut bobs, &key, "AccessDeniedException");
    measured.push(("RevokeGrant", took));

    // Bob's key signs again (a grant back), then the key is deactivated on the vault.
    answer(
        &mut a,
        "CreateGrant",
        &format!(r#"{{"KeyId":"{key}","GranteePrincipal":"{bob}","Operations":["Encrypt"]}}"#),
    );
    for client in &mut bobs {
        let since = Instant::now();
        while refusal(client, "Encrypt", &encrypt_body(&key)).is_some() {
            assert!(since.elapsed() < 10 * BOUND, "the new grant never arrived");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    cluster.cli(&["access-key", "deactivate", &bob_key]);
    let took = encrypt_refused(&mut bobs, &key, "UnrecognizedClientException");
    measured.push(("access-key deactivate", took));

    // The administrator loses Encrypt through the key policy.
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Root", "Effect": "Allow",
             "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
             "Action": "kms:*", "Resource": "*"},
            {"Sid": "NoEncrypt", "Effect": "Deny",
             "Principal": {"AWS": "arn:aws:iam::111122223333:user/admin"},
             "Action": "kms:Encrypt", "Resource": "*"}
        ]
    });
    answer(
        &mut a,
        "PutKeyPolicy",
        &serde_json::json!({"KeyId": key, "PolicyName": "default", "Policy": policy.to_string()})
            .to_string(),
    );
    let took = encrypt_refused(&mut others, &key, "AccessDeniedException");
    measured.push(("PutKeyPolicy", took));

    for (change, took) in &measured {
        println!(
            "{change} on node A refused on nodes B and C after {:.1} ms",
            took.as_secs_f64() * 1000.0
        );
        assert!(
            *took <= BOUND,
            "{change} took {took:?} to reach the other nodes; the bound is {BOUND:?}"
        );
    }
}

#[test]
fn two_nodes_changing_one_key_at_once_lose_nothing() {
    let Some(cluster) = Cluster::start(2) else {
        return;
    };
    let mut a = cluster.admin(0);
    let key = answer(&mut a, "CreateKey", "{}")["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_string();
    let writers: Vec<_> = (0..2)
        .map(|n| {
            let mut client = cluster.admin(n);
            let key = key.clone();
            std::thread::spawn(move || {
                for i in 0..20 {
                    answer(
                        &mut client,
                        "TagResource",
                        &format!(
                            r#"{{"KeyId":"{key}","Tags":[{{"TagKey":"node{n}-{i}","TagValue":"v"}}]}}"#
                        ),
                    );
                    if i % 4 == 0 {
                        answer(&mut client, "RotateKeyOnDemand", &key_body(&key));
                    }
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    let tags = answer(&mut a, "ListResourceTags", &key_body(&key));
    assert_eq!(tags["Tags"].as_array().unwrap().len(), 40, "{tags}");
    let rotations = answer(
        &mut a,
        "ListKeyRotations",
        &format!(r#"{{"KeyId":"{key}","Limit":1000}}"#),
    );
    assert_eq!(rotations["Rotations"].as_array().unwrap().len(), 10);
}

#[test]
fn a_node_killed_under_load_loses_nothing_and_the_others_keep_serving() {
    let Some(mut cluster) = Cluster::start(3) else {
        return;
    };
    let mut a = cluster.admin(0);
    let key = answer(&mut a, "CreateKey", "{}")["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_string();
    let stop = Arc::new(AtomicBool::new(false));
    let killed = Arc::new(AtomicBool::new(false));
    // (node, request id, ciphertext, plaintext) of every acknowledged Encrypt.
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let clients: Vec<_> = (0..6)
        .map(|c| {
            let node = c % 3;
            let mut client = cluster.admin(node);
            let (key, stop, killed, acknowledged) = (
                key.clone(),
                stop.clone(),
                killed.clone(),
                acknowledged.clone(),
            );
            std::thread::spawn(move || {
                let mut after_kill = 0;
                for i in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let plaintext = B64.encode(format!("client {c} request {i}"));
                    let body = format!(r#"{{"KeyId":"{key}","Plaintext":"{plaintext}"}}"#);
                    let was_killed = killed.load(Ordering::Relaxed);
                    match client.acknowledged("Encrypt", &body) {
                        Some((id, json)) => {
                            let blob = json["CiphertextBlob"].as_str().unwrap().to_string();
                            acknowledged
                                .lock()
                                .unwrap()
                                .push((node, id, blob, plaintext));
                            if was_killed {
                                after_kill += 1;
                            }
                        }
                        None if node == 0 => {
                            // Node A is gone; its client stops.
                            assert!(killed.load(Ordering::Relaxed), "node A failed a request");
                            break;
                        }
                        None => panic!("node {node} failed a request (killed: {was_killed})"),
                    }
                }
                after_kill
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    let node = &mut cluster.nodes[0];
    killed.store(true, Ordering::Relaxed);
    node.child.kill().unwrap();
    node.child.wait().unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    stop.store(true, Ordering::Relaxed);
    let served_after: Vec<usize> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    for (c, served) in served_after.iter().enumerate() {
        if c % 3 != 0 {
            assert!(
                *served > 0,
                "client {c} of a surviving node was served nothing"
            );
        }
    }

    let acknowledged = acknowledged.lock().unwrap();
    let by_a = acknowledged.iter().filter(|(node, ..)| *node == 0).count();
    println!(
        "{} Encrypt requests acknowledged ({by_a} by the killed node); after the kill the \
         surviving nodes' clients were served {:?}",
        acknowledged.len(),
        served_after
    );
    assert!(by_a > 0, "node A acknowledged nothing before it was killed");
    let mut b = cluster.admin(1);
    for (_, _, blob, plaintext) in acknowledged.iter() {
        let opened = answer(
            &mut b,
            "Decrypt",
            &format!(r#"{{"CiphertextBlob":"{blob}"}}"#),
        );
        assert_eq!(opened["Plaintext"].as_str(), Some(plaintext.as_str()));
    }
    let records: serde_json::Value = serde_json::from_str(&cluster.cli(&[
        "audit",
        "query",
        "--operation",
        "Encrypt",
        "--output",
        "json",
    ]))
    .unwrap();
    let audited: std::collections::BTreeSet<&str> = records
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["requestID"].as_str())
        .collect();
    let missing: Vec<_> = acknowledged
        .iter()
        .filter(|(_, id, ..)| !audited.contains(id.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "acknowledged without an audit record: {missing:?}"
    );
    let verified = cluster.cli(&["audit", "verify"]);
    assert!(verified.contains("intact"), "{verified}");
}

#[test]
fn serve_on_a_database_without_a_vault_says_to_init_it() {
    let Some(server) = test_server() else {
        return;
    };
    let scratch = ScratchSchema::create(&server).unwrap();
    let home = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kms"))
        .args(["serve", "--listen", "127.0.0.1:0", "--store", scratch.url()])
        .env("KMS_HOME", home.path())
        .env_remove("KMS_ROOT_KEY")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("kms init"), "{stderr}");
}

#[test]
fn a_node_with_another_root_key_does_not_start() {
    let Some(cluster) = Cluster::start(0) else {
        return;
    };
    let other = "11".repeat(32);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kms"))
        .args(["serve", "--listen", "127.0.0.1:0", "--store", &cluster.url])
        .env("KMS_HOME", cluster.home.path())
        .env("KMS_ROOT_KEY", &other)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("root key does not match"), "{stderr}");
}

/// A TCP relay between nodes and the database that can cut every connection and refuse new
/// ones, as a network partition or a database restart does.
struct Relay {
    addr: std::net::SocketAddr,
    cut: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<std::net::TcpStream>>>,
}

impl Relay {
    fn start(to: std::net::SocketAddr) -> Relay {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let relay = Relay {
            addr: listener.local_addr().unwrap(),
            cut: Arc::new(AtomicBool::new(false)),
            open: Arc::new(Mutex::new(Vec::new())),
        };
        let (cut, open) = (relay.cut.clone(), relay.open.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if cut.load(Ordering::SeqCst) {
                    continue; // dropped: the connection is closed at once
                }
                let Ok(server) = std::net::TcpStream::connect(to) else {
                    continue;
                };
                let mut open = open.lock().unwrap();
                for (mut from, mut into) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server.try_clone().unwrap(), client.try_clone().unwrap()),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut into);
                        let _ = into.shutdown(std::net::Shutdown::Both);
                    });
                }
                open.extend([client, server]);
            }
        });
        relay
    }

    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for stream in self.open.lock().unwrap().drain(..) {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }

    fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

#[test]
fn a_node_rides_out_a_database_outage() {
    let Some(server) = test_server() else {
        return;
    };
    let scratch = ScratchSchema::create(&server).unwrap();
    // The database's host:port in the URL, replaced by the relay's.
    let authority = scratch
        .url()
        .split_once("://")
        .and_then(|(_, rest)| rest.split('/').next())
        .map(|a| a.rsplit('@').next().unwrap().to_string())
        .unwrap();
    let database = std::net::ToSocketAddrs::to_socket_addrs(authority.as_str())
        .unwrap()
        .next()
        .unwrap();
    let relay = Relay::start(database);
    let url = scratch
        .url()
        .replacen(&authority, &relay.addr.to_string(), 1);
    let cluster = Cluster::start_at(scratch, url, 1);
    let mut client = cluster.admin(0);
    let key = answer(&mut client, "CreateKey", "{}")["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_string();
    answer(&mut client, "Encrypt", &encrypt_body(&key));

    relay.cut();
    // Nothing can be audited: nothing is acknowledged, and the node answers at once.
    for _ in 0..3 {
        let started = Instant::now();
        assert_eq!(
            refusal(&mut client, "Encrypt", &encrypt_body(&key)).as_deref(),
            Some("KMSInternalException")
        );
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
    }

    relay.restore();
    let started = Instant::now();
    while refusal(&mut client, "Encrypt", &encrypt_body(&key)).is_some() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the node did not recover once the database was back"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Its caches follow changes again: the change feed reconnected, or the poll caught up.
    cluster.cli(&["disable-key", &key]);
    encrypt_refused(std::slice::from_mut(&mut client), &key, "DisabledException");
    let verified = cluster.cli(&["audit", "verify"]);
    assert!(verified.contains("intact"), "{verified}");
}
