//! Load generator for `kms serve`: signed Encrypt and Decrypt requests (alternating, 1 KiB of
//! plaintext) over keep-alive connections on loopback, from 1, 4 and 16 client connections at
//! once. Prints requests per second with p50 and p99 latency, next to the same Encrypt+Decrypt
//! called natively through the façade in the same run (the baseline), for an in-memory vault and
//! for the SQLite vault file. Rate quotas are lifted for the measurement.
//!
//! `cargo bench -p kms --bench http_load` (`-- --quick` for a short run). Clients and server
//! share the machine's cores, and each request is signed by the client (SigV4), as real clients do.

#[path = "../tests/common/http.rs"]
mod http;
mod util;

use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use kms_server::{Server, ServerConfig};
use kms_service::{Caller, Service};
use kms_service::{
    CreateKeyRequest, CreatePrincipalRequest, DecryptRequest, EncryptRequest,
    PutPrincipalPolicyRequest, SystemClock,
};
use kms_vault::{RootKey, SqliteStore, Vault};

const REGION: &str = "us-east-1";

struct Credentials {
    key_id: String,
    secret: String,
}

/// A user allowed everything, with an access key; and a key to use.
fn set_up(service: &Service) -> (Credentials, String) {
    let root = Caller::account_root(service.account());
    let arn = format!("arn:aws:iam::{}:user/load", service.account());
    service
        .create_principal(
            &root,
            CreatePrincipalRequest {
                arn: arn.clone(),
                tags: Vec::new(),
            },
        )
        .unwrap();
    service
        .put_principal_policy(
            &root,
            PutPrincipalPolicyRequest {
                arn: arn.clone(),
                policy_name: "all".into(),
                policy_document:
                    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#
                        .into(),
            },
        )
        .unwrap();
    let created = service.create_access_key(&root, &arn).unwrap();
    let key = service
        .create_key(&root, CreateKeyRequest::default())
        .unwrap()
        .key_metadata
        .key_id;
    (
        Credentials {
            key_id: created.access_key_id,
            secret: created.secret_access_key.to_string(),
        },
        key,
    )
}

/// Latencies of one run, sorted.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Runs `connections` clients for `budget`; returns (requests/s, sorted latencies, errors).
fn load(
    addr: SocketAddr,
    credentials: &Credentials,
    key: &str,
    connections: usize,
    budget: Duration,
) -> (f64, Vec<Duration>, usize) {
    let plaintext = B64.encode(vec![0x5au8; 1024]);
    let encrypt = format!(
        r#"{{"KeyId":"{key}","Plaintext":"{plaintext}","EncryptionContext":{{"bench":"http"}}}}"#
    );
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let workers: Vec<_> = (0..connections)
        .map(|_| {
            let stop = Arc::clone(&stop);
            let encrypt = encrypt.clone();
            let (key_id, secret) = (credentials.key_id.clone(), credentials.secret.clone());
            std::thread::spawn(move || {
                let mut connection = http::Connection::open(addr).unwrap();
                let host = addr.to_string();
                let mut latencies = Vec::new();
                let mut errors = 0;
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    let headers = http::signed_headers(
                        &host,
                        "Encrypt",
                        encrypt.as_bytes(),
                        &key_id,
                        &secret,
                        REGION,
                        http::now(),
                    );
                    let sealed = connection
                        .request("POST", "/", &headers, encrypt.as_bytes())
                        .unwrap();
                    latencies.push(t.elapsed());
                    if sealed.status != 200 {
                        errors += 1;
                        continue;
                    }
                    let blob = sealed.json()["CiphertextBlob"]
                        .as_str()
                        .unwrap()
                        .to_string();
                    let decrypt = format!(
                        r#"{{"CiphertextBlob":"{blob}","EncryptionContext":{{"bench":"http"}}}}"#
                    );
                    let t = Instant::now();
                    let headers = http::signed_headers(
                        &host,
                        "Decrypt",
                        decrypt.as_bytes(),
                        &key_id,
                        &secret,
                        REGION,
                        http::now(),
                    );
                    let opened = connection
                        .request("POST", "/", &headers, decrypt.as_bytes())
                        .unwrap();
                    latencies.push(t.elapsed());
                    if opened.status != 200 {
                        errors += 1;
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    std::thread::sleep(budget);
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    let mut errors = 0;
    for worker in workers {
        let (latencies, e) = worker.join().unwrap();
        all.extend(latencies);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    (all.len() as f64 / elapsed, all, errors)
}

fn bench_vault(name: &str, service: Service, budget: Duration) {
    let (credentials, key) = set_up(&service);
    let service = Arc::new(service);
    // Baseline: the same Encrypt + Decrypt pair through the façade, no HTTP, no signing.
    let root = Caller::account_root(service.account());
    let context = kms_service::EncryptionContext::from_pairs([("bench", "http")]).unwrap();
    let native_pairs = util::ops_per_second(budget, || {
        let sealed = service
            .encrypt(
                &root,
                EncryptRequest::new(&key, vec![0x5a; 1024]).with_context(context.clone()),
            )
            .unwrap();
        black_box(
            service
                .decrypt(
                    &root,
                    DecryptRequest::new(sealed.ciphertext_blob).with_context(context.clone()),
                )
                .unwrap(),
        );
    });
    let native = native_pairs * 2.0;
    println!("{name}: native façade Encrypt/Decrypt (1 KiB): {native:.0} requests/s (baseline)");

    let mut config = ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..Default::default()
    };
    for class in ["symmetric", "rsa", "ecc", "hmac", "management"] {
        config.rates.set(&format!("{class}=1000000000")).unwrap();
    }
    let server = Server::bind(Arc::clone(&service), config).unwrap();
    let addr = server.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let serving = std::thread::spawn(move || {
        server
            .run(async move {
                let _ = stop_rx.await;
            })
            .unwrap();
    });
    // Warm up.
    load(addr, &credentials, &key, 1, budget / 10);
    for connections in [1, 4, 16] {
        let (rate, latencies, errors) = load(addr, &credentials, &key, connections, budget);
        println!(
            "{name}: HTTP Encrypt/Decrypt, {connections:>2} connection(s): {rate:>7.0} requests/s ({:.2}x native), p50 {:>6.0} µs, p99 {:>6.0} µs{}",
            rate / native,
            percentile(&latencies, 0.50).as_secs_f64() * 1e6,
            percentile(&latencies, 0.99).as_secs_f64() * 1e6,
            if errors > 0 {
                format!(", {errors} errors")
            } else {
                String::new()
            }
        );
    }
    let _ = stop_tx.send(());
    serving.join().unwrap();
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let budget = Duration::from_millis(if quick { 500 } else { 3000 });
    println!(
        "kms serve load ({} s per figure; client and server share {} cores)\n",
        budget.as_secs_f64(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    bench_vault("in-memory", Service::in_memory().unwrap(), budget);
    let dir = tempfile::tempdir().unwrap();
    let root = RootKey::generate().unwrap();
    let vault = Vault::create(
        Box::new(SqliteStore::open(&dir.path().join("vault.db")).unwrap()),
        root,
        "111122223333",
        REGION,
    )
    .unwrap();
    bench_vault(
        "sqlite",
        Service::new(vault, Arc::new(SystemClock)).unwrap(),
        budget,
    );
}
