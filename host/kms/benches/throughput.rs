//! Throughput of the service façade against raw AES-256-GCM, measured in the same run.
//!
//! Run with `cargo bench -p kms --bench throughput` (add `-- --quick` for a shorter run).
//! Prints Encrypt/Decrypt operations per second through the façade (in-memory store and the
//! SQLite vault file), envelope sealing/opening throughput in GB/s, and each next to the raw
//! AES-256-GCM figure of the same crate, as a ratio.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kms_crypto::SymmetricKey;
use kms_service::{Caller, EncryptionContext, Service, envelope};
use kms_service::{CreateKeyRequest, DecryptRequest, EncryptRequest, SystemClock};
use kms_vault::{RootKey, SqliteStore, Vault};

/// Runs `op` repeatedly for about `budget` and returns operations per second.
fn ops_per_second(budget: Duration, mut op: impl FnMut()) -> f64 {
    // Warm-up: caches, lazy initialisation, CPU frequency.
    let warm = Instant::now();
    while warm.elapsed() < budget / 10 {
        op();
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < budget {
        for _ in 0..16 {
            op();
        }
        n += 16;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// How a figure relates to the raw AES-256-GCM baseline.
enum Versus {
    /// This figure is the baseline.
    IsBaseline,
    /// Compare with this many raw operations per second on the same payload size.
    Raw(f64),
    /// No raw figure for this payload size was measured.
    Nothing,
}

fn report(name: &str, ops: f64, bytes_per_op: usize, versus: Versus) {
    let gbps = ops * bytes_per_op as f64 / 1e9;
    let ratio = match versus {
        Versus::IsBaseline => "(baseline)".to_string(),
        Versus::Raw(base) => format!("{:>6.3}x raw", ops / base),
        Versus::Nothing => String::new(),
    };
    println!("{name:<52} {ops:>12.0} ops/s {gbps:>8.3} GB/s   {ratio}");
}

/// Encrypt of 32 bytes on the memory store, allowed by each path of the evaluation order, next
/// to the account root under the default key policy (no document is evaluated at all).
fn authorization_paths(budget: Duration) {
    use kms_service::{
        CreateGrantRequest, CreatePrincipalRequest, PutKeyPolicyRequest, PutPrincipalPolicyRequest,
    };
    let service = Service::in_memory().unwrap();
    let root = Caller::account_root(service.account());
    let key = service
        .create_key(&root, CreateKeyRequest::default())
        .unwrap()
        .key_metadata
        .key_id;
    let user = |name: &str| {
        let arn = format!("arn:aws:iam::{}:user/{name}", service.account());
        service
            .create_principal(
                &root,
                CreatePrincipalRequest {
                    arn: arn.clone(),
                    tags: Vec::new(),
                },
            )
            .unwrap();
        Caller::principal(&arn).unwrap()
    };
    let by_identity = user("identity");
    service
        .put_principal_policy(
            &root,
            PutPrincipalPolicyRequest {
                arn: by_identity.principal.clone(),
                policy_name: "kms".into(),
                policy_document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}]}"#.into(),
            },
        )
        .unwrap();
    let by_grant = user("grantee");
    service
        .create_grant(
            &root,
            CreateGrantRequest {
                key_id: key.clone(),
                grantee_principal: by_grant.principal.clone(),
                operations: vec!["Encrypt".into()],
                ..Default::default()
            },
        )
        .unwrap();
    let encrypt_as = |who: &Caller| {
        ops_per_second(budget, || {
            black_box(
                service
                    .encrypt(who, EncryptRequest::new(&key, vec![0x5a; 32]))
                    .unwrap(),
            );
        })
    };
    let as_root = encrypt_as(&root);
    let line = |name: &str, ops: f64| {
        println!(
            "{name:<52} {ops:>12.0} ops/s   {:>6.3}x root",
            ops / as_root
        )
    };
    line("Encrypt 32 B as the account root (default policy)", as_root);
    line(
        "Encrypt 32 B by identity policy (default policy)",
        encrypt_as(&by_identity),
    );
    line("Encrypt 32 B by grant", encrypt_as(&by_grant));
    let named = user("named");
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[
        {{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{0}:root"}},"Action":"kms:*","Resource":"*"}},
        {{"Effect":"Allow","Principal":{{"AWS":"{1}"}},"Action":"kms:Encrypt","Resource":"*",
          "Condition":{{"StringEquals":{{"kms:CallerAccount":"{0}"}}}}}}]}}"#,
        service.account(),
        named.principal
    );
    service
        .put_key_policy(
            &root,
            PutKeyPolicyRequest {
                key_id: key.clone(),
                policy_name: None,
                policy,
                bypass_policy_lockout_safety_check: None,
            },
        )
        .unwrap();
    line(
        "Encrypt 32 B by a key policy statement with a condition",
        encrypt_as(&named),
    );
}

fn facade_ops(label: &str, service: &Service, budget: Duration, raw_4k: f64) {
    let me = Caller::account_root(service.account());
    let key = service
        .create_key(&me, CreateKeyRequest::default())
        .unwrap()
        .key_metadata
        .key_id;
    let context = EncryptionContext::from_pairs([("tenant", "bench")]).unwrap();
    for size in [32usize, 4096] {
        let plaintext = vec![0x5au8; size];
        let encrypt = ops_per_second(budget, || {
            black_box(
                service
                    .encrypt(
                        &me,
                        EncryptRequest::new(&key, plaintext.clone()).with_context(context.clone()),
                    )
                    .unwrap(),
            );
        });
        let blob = service
            .encrypt(
                &me,
                EncryptRequest::new(&key, plaintext.clone()).with_context(context.clone()),
            )
            .unwrap()
            .ciphertext_blob;
        let decrypt = ops_per_second(budget, || {
            black_box(
                service
                    .decrypt(
                        &me,
                        DecryptRequest::new(blob.clone()).with_context(context.clone()),
                    )
                    .unwrap(),
            );
        });
        let base = || {
            if size == 4096 {
                Versus::Raw(raw_4k)
            } else {
                Versus::Nothing
            }
        };
        report(&format!("{label} Encrypt {size} B"), encrypt, size, base());
        report(&format!("{label} Decrypt {size} B"), decrypt, size, base());
    }
}

/// Encrypt of 32 bytes on the SQLite vault from several threads at once, against one thread in
/// the same run: every call waits for its audit record to be durable, and group commit makes
/// one sync serve every record waiting.
fn concurrent_encrypts(service: &Service, budget: Duration) {
    let me = Caller::account_root(service.account());
    let key = service
        .create_key(&me, CreateKeyRequest::default())
        .unwrap()
        .key_metadata
        .key_id;
    let mut single = 0.0;
    for threads in [1usize, 4, 16] {
        let (records_before, batches_before) = service.audit_written();
        let total: f64 = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    let (me, key) = (me.clone(), key.clone());
                    scope.spawn(move || {
                        ops_per_second(budget, || {
                            black_box(
                                service
                                    .encrypt(&me, EncryptRequest::new(&key, vec![7u8; 32]))
                                    .unwrap(),
                            );
                        })
                    })
                })
                .collect();
            workers.into_iter().map(|w| w.join().unwrap()).sum()
        });
        let (records, batches) = service.audit_written();
        let per_batch =
            (records - records_before) as f64 / (batches - batches_before).max(1) as f64;
        if threads == 1 {
            single = total;
        }
        println!(
            "façade (SQLite vault) Encrypt 32 B, {threads:>2} threads {total:>12.0} ops/s   {:>6.2}x 1 thread   {per_batch:>6.1} records per sync",
            total / single
        );
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let budget = Duration::from_millis(if quick { 300 } else { 2000 });
    println!("kms throughput ({} s per figure)\n", budget.as_secs_f64());

    // Baseline: AES-256-GCM of the same crate, through the crypto seam, no KMS around it.
    let key = SymmetricKey::generate().unwrap();
    let nonce = [7u8; 12];
    let block = vec![0x5au8; 4096];
    let raw_4k = ops_per_second(budget, || {
        black_box(
            key.seal_with_nonce(&nonce, black_box(&block), b"aad")
                .unwrap(),
        );
    });
    report(
        "raw AES-256-GCM seal 4 KiB",
        raw_4k,
        4096,
        Versus::IsBaseline,
    );
    let chunk = vec![0x5au8; envelope::DEFAULT_CHUNK_SIZE as usize];
    let raw_chunk = ops_per_second(budget, || {
        black_box(
            key.seal_with_nonce(&nonce, black_box(&chunk), b"aad")
                .unwrap(),
        );
    });
    report(
        "raw AES-256-GCM seal 64 KiB",
        raw_chunk,
        chunk.len(),
        Versus::IsBaseline,
    );
    println!();

    let memory = Service::in_memory().unwrap();
    facade_ops("façade (memory store)", &memory, budget, raw_4k);
    println!();

    authorization_paths(budget);
    println!();

    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("bench.db")).unwrap();
    let vault = Vault::create(
        Box::new(store),
        RootKey::generate().unwrap(),
        "111122223333",
        "us-east-1",
    )
    .unwrap();
    let sqlite = Service::new(vault, Arc::new(SystemClock)).unwrap();
    facade_ops("façade (SQLite vault)", &sqlite, budget, raw_4k);
    println!();
    concurrent_encrypts(&sqlite, budget);
    println!();

    // Envelope encryption of a large payload in memory (no disk I/O in the figure).
    let me = Caller::account_root(memory.account());
    let kms_key = memory
        .create_key(&me, CreateKeyRequest::default())
        .unwrap()
        .key_metadata
        .key_id;
    let payload = vec![0xa5u8; if quick { 16 << 20 } else { 64 << 20 }];
    let context = EncryptionContext::from_pairs([("file", "bench")]).unwrap();
    let mut sealed = Vec::with_capacity(payload.len() + payload.len() / 1000 + 4096);
    let seal_rate = ops_per_second(budget, || {
        sealed.clear();
        envelope::seal(
            &memory,
            &me,
            &kms_key,
            &context,
            &mut &payload[..],
            &mut sealed,
            envelope::DEFAULT_CHUNK_SIZE,
            &mut |_| {},
        )
        .unwrap();
    });
    let mut opened = Vec::with_capacity(payload.len());
    let open_rate = ops_per_second(budget, || {
        opened.clear();
        envelope::open(
            &memory,
            &me,
            None,
            &mut &sealed[..],
            &mut opened,
            &mut |_| {},
        )
        .unwrap();
    });
    assert_eq!(opened, payload);
    let mib = payload.len() >> 20;
    let raw_chunk_bytes = raw_chunk * chunk.len() as f64;
    println!(
        "envelope seal {mib} MiB (64 KiB chunks)                 {:>8.3} GB/s   {:>6.3}x raw",
        seal_rate * payload.len() as f64 / 1e9,
        seal_rate * payload.len() as f64 / raw_chunk_bytes
    );
    println!(
        "envelope open {mib} MiB (64 KiB chunks)                 {:>8.3} GB/s   {:>6.3}x raw",
        open_rate * payload.len() as f64 / 1e9,
        open_rate * payload.len() as f64 / raw_chunk_bytes
    );
}
