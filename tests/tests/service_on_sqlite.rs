//! The service façade over a real SQLite vault file: state survives a close and reopen, deletions
//! and rotations that fell due while the vault was closed are applied when it opens, the audit
//! trail detects tampering, and the file never holds key material in the clear.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kms_core::types::{KeyState, Tag};
use kms_service::audit::{AuditLog, Verification};
use kms_service::{
    AliasRequest, CreateKeyRequest, DecryptRequest, EnableKeyRotationRequest, EncryptRequest,
    KeyRequest, ListForKeyRequest, ManualClock, ScheduleKeyDeletionRequest, TagResourceRequest,
};
use kms_service::{Caller, EncryptionContext, KeyId, KmsError, Service};
use kms_vault::{KeyStore, RootKey, SqliteStore, Vault};

const START: u64 = 1_750_000_000;
const DAY: u64 = 86_400;

struct Files {
    _dir: tempfile::TempDir,
    vault: PathBuf,
    root: RootKey,
}

fn files() -> Files {
    let dir = tempfile::tempdir().unwrap();
    let vault = dir.path().join("vault.db");
    let root = RootKey::create_file(&dir.path().join("root.key")).unwrap();
    let store = SqliteStore::open(&vault).unwrap();
    Vault::create(Box::new(store), root.clone(), "111122223333", "eu-west-1").unwrap();
    Files {
        _dir: dir,
        vault,
        root,
    }
}

fn open(files: &Files, clock: &Arc<ManualClock>) -> Service {
    let store = SqliteStore::open(&files.vault).unwrap();
    let vault = Vault::open(Box::new(store), files.root.clone()).unwrap();
    Service::new(vault, clock.clone()).unwrap()
}

/// The vault file seen directly, with its root key.
fn files_vault(files: &Files) -> Vault {
    Vault::open(
        Box::new(SqliteStore::open(&files.vault).unwrap()),
        files.root.clone(),
    )
    .unwrap()
}

fn me() -> Caller {
    Caller::account_root("111122223333")
}

fn create_key(service: &Service) -> String {
    service
        .create_key(&me(), CreateKeyRequest::default())
        .unwrap()
        .key_metadata
        .key_id
}

fn context() -> EncryptionContext {
    EncryptionContext::from_pairs([("app", "billing")]).unwrap()
}

#[test]
fn keys_versions_aliases_and_tags_survive_a_reopen() {
    let files = files();
    let clock = Arc::new(ManualClock::new(START));
    let (key, blob_v1, blob_v2) = {
        let service = open(&files, &clock);
        let key = create_key(&service);
        service
            .create_alias(
                &me(),
                AliasRequest {
                    alias_name: "alias/billing".into(),
                    target_key_id: key.clone(),
                },
            )
            .unwrap();
        service
            .tag_resource(
                &me(),
                TagResourceRequest {
                    key_id: key.clone(),
                    tags: vec![Tag {
                        tag_key: "team".into(),
                        tag_value: "payments".into(),
                    }],
                },
            )
            .unwrap();
        let encrypt = |text: &[u8]| {
            service
                .encrypt(
                    &me(),
                    EncryptRequest::new("alias/billing", text.to_vec()).with_context(context()),
                )
                .unwrap()
                .ciphertext_blob
        };
        let v1 = encrypt(b"one");
        service
            .rotate_key_on_demand(&me(), KeyRequest::new(&key))
            .unwrap();
        let v2 = encrypt(b"two");
        (key, v1, v2)
    };

    let service = open(&files, &clock);
    let meta = service
        .describe_key(&me(), KeyRequest::new("alias/billing"))
        .unwrap()
        .key_metadata;
    assert_eq!(meta.key_id, key);
    assert!(
        meta.arn
            .starts_with("arn:aws:kms:eu-west-1:111122223333:key/")
    );
    let tags = service
        .list_resource_tags(&me(), ListForKeyRequest::new(&key))
        .unwrap()
        .tags;
    assert_eq!(tags.len(), 1);
    assert_eq!(
        service
            .list_key_rotations(&me(), ListForKeyRequest::new(&key))
            .unwrap()
            .rotations
            .len(),
        1
    );
    for (blob, text) in [(blob_v1, b"one"), (blob_v2, b"two")] {
        let out = service
            .decrypt(&me(), DecryptRequest::new(blob).with_context(context()))
            .unwrap();
        assert_eq!(out.plaintext.as_slice(), text);
    }
}

#[test]
fn deletions_and_rotations_that_fell_due_while_closed_apply_on_open() {
    let files = files();
    let clock = Arc::new(ManualClock::new(START));
    let (doomed, rotating) = {
        let service = open(&files, &clock);
        let doomed = create_key(&service);
        let rotating = create_key(&service);
        service
            .schedule_key_deletion(
                &me(),
                ScheduleKeyDeletionRequest {
                    key_id: doomed.clone(),
                    pending_window_in_days: Some(7),
                },
            )
            .unwrap();
        service
            .enable_key_rotation(
                &me(),
                EnableKeyRotationRequest {
                    key_id: rotating.clone(),
                    rotation_period_in_days: Some(90),
                },
            )
            .unwrap();
        (doomed, rotating)
    };
    clock.advance(91 * DAY);
    let service = open(&files, &clock);
    // Looked at directly in the store: the open itself did the work, not a later lookup.
    let store = SqliteStore::open(&files.vault).unwrap();
    drop(service);
    assert!(
        store
            .key(
                kms_service::DEFAULT_REGION,
                &doomed.parse::<KeyId>().unwrap()
            )
            .unwrap()
            .is_none()
    );
    let versions = store.versions(&rotating.parse::<KeyId>().unwrap()).unwrap();
    assert_eq!(versions.len(), 2);
}

#[test]
fn a_disabled_key_stays_disabled_after_reopen() {
    let files = files();
    let clock = Arc::new(ManualClock::new(START));
    let key = {
        let service = open(&files, &clock);
        let key = create_key(&service);
        service.disable_key(&me(), KeyRequest::new(&key)).unwrap();
        key
    };
    let service = open(&files, &clock);
    let meta = service.describe_key(&me(), KeyRequest::new(&key)).unwrap();
    assert_eq!(meta.key_metadata.key_state, KeyState::Disabled);
    let err = service
        .encrypt(&me(), EncryptRequest::new(&key, b"x".to_vec()))
        .unwrap_err();
    assert!(matches!(err, KmsError::Disabled(_)));
}

/// Edits the vault file behind the service's back, as someone with access to the file would.
fn tamper(vault: &Path, sql: &str) {
    rusqlite::Connection::open(vault)
        .unwrap()
        .execute_batch(sql)
        .unwrap();
}

/// A vault whose audit trail holds 4 intact records (CreateKey and three Encrypts).
fn audited_vault() -> Files {
    let files = files();
    let clock = Arc::new(ManualClock::new(START));
    let service = open(&files, &clock);
    let key = create_key(&service);
    for _ in 0..3 {
        service
            .encrypt(&me(), EncryptRequest::new(&key, b"x".to_vec()))
            .unwrap();
    }
    assert_eq!(
        service.verify_audit().unwrap(),
        Verification::Intact { records: 4 }
    );
    files
}

fn verify(files: &Files) -> Verification {
    let store = SqliteStore::open(&files.vault).unwrap();
    let vault = Vault::open(Box::new(store), files.root.clone()).unwrap();
    AuditLog::keyed(vault.audit_key())
        .verify_trail(vault.store())
        .unwrap()
}

#[test]
fn audit_verification_detects_an_edited_record() {
    let files = audited_vault();
    tamper(
        &files.vault,
        "UPDATE audit_log SET event = replace(event, 'Success', 'Failure') WHERE seq = 2",
    );
    assert!(matches!(
        verify(&files),
        Verification::Broken { seq: 2, .. }
    ));
}

#[test]
fn audit_verification_detects_a_removed_record() {
    let files = audited_vault();
    tamper(&files.vault, "DELETE FROM audit_log WHERE seq = 2");
    assert!(matches!(
        verify(&files),
        Verification::Broken { seq: 2, .. }
    ));
}

#[test]
fn audit_verification_detects_reordered_records() {
    let files = audited_vault();
    tamper(
        &files.vault,
        "UPDATE audit_log SET seq = -1 WHERE seq = 2;
         UPDATE audit_log SET seq = 2 WHERE seq = 3;
         UPDATE audit_log SET seq = 3 WHERE seq = -1;",
    );
    assert!(matches!(
        verify(&files),
        Verification::Broken { seq: 2, .. }
    ));
}

#[test]
fn audit_verification_detects_a_truncated_tail() {
    let files = audited_vault();
    tamper(&files.vault, "DELETE FROM audit_log WHERE seq >= 3");
    match verify(&files) {
        Verification::Broken { seq: 3, reason } => {
            assert!(reason.contains("truncated"), "{reason}")
        }
        other => panic!("truncation went unnoticed: {other:?}"),
    }
}

#[test]
fn audit_verification_detects_a_rolled_back_or_forged_anchor() {
    let files = audited_vault();
    // Pointing the anchor at an earlier record (with the hash it really has) needs the MAC.
    let conn = rusqlite::Connection::open(&files.vault).unwrap();
    let hash: Vec<u8> = conn
        .query_row("SELECT hash FROM audit_log WHERE seq = 2", [], |r| r.get(0))
        .unwrap();
    let forged = format!("2:{}:{}", hex::encode(&hash), "00".repeat(32));
    conn.execute(
        "UPDATE meta SET value = ?1 WHERE name = 'audit_head'",
        [forged],
    )
    .unwrap();
    conn.execute("DELETE FROM audit_log WHERE seq > 2", [])
        .unwrap();
    drop(conn);
    assert!(matches!(verify(&files), Verification::Broken { .. }));
}

#[test]
fn an_edit_with_a_recomputed_sha256_chain_is_still_detected() {
    // Someone who can write the vault file recomputes the chain the way an unkeyed log would:
    // the keyed chain does not accept it.
    let files = audited_vault();
    let conn = rusqlite::Connection::open(&files.vault).unwrap();
    let events: Vec<(i64, String)> = conn
        .prepare("SELECT seq, event FROM audit_log ORDER BY seq")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut prev = [0u8; 32];
    for (seq, event) in events {
        let event = event.replace("Success", "Failure");
        let hash = kms_crypto::sha256_parts(&[
            b"kms audit v1",
            &prev,
            &(seq as u64).to_be_bytes(),
            event.as_bytes(),
        ]);
        conn.execute(
            "UPDATE audit_log SET event = ?1, hash = ?2 WHERE seq = ?3",
            rusqlite::params![event, hash.as_slice(), seq],
        )
        .unwrap();
        prev = hash;
    }
    drop(conn);
    assert!(matches!(
        verify(&files),
        Verification::Broken { seq: 1, .. }
    ));
}

#[test]
fn the_vault_file_never_holds_key_material_in_the_clear() {
    let files = files();
    let clock = Arc::new(ManualClock::new(START));
    let mut secrets = Vec::new();
    {
        let service = open(&files, &clock);
        for _ in 0..5 {
            let key = create_key(&service);
            service
                .rotate_key_on_demand(&me(), KeyRequest::new(&key))
                .unwrap();
            let id: KeyId = key.parse().unwrap();
            for version in 1..=2 {
                let material = files_vault(&files).material(&id, version).unwrap();
                secrets.push(material.expose_secret().to_vec());
            }
        }
    }
    let mut bytes = Vec::new();
    let dir = files.vault.parent().unwrap();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with("vault.db") {
            bytes.extend(std::fs::read(&path).unwrap());
        }
    }
    assert!(bytes.len() > 4096, "the vault file was read");
    for secret in &secrets {
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_slice()),
            "raw key material found in the vault file"
        );
        let hex = hex_encode(secret);
        assert!(
            !bytes.windows(hex.len()).any(|w| w == hex.as_bytes()),
            "hex key material found in the vault file"
        );
    }
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Two services over one vault file stand for two processes (or nodes): each read-modify-write
/// is a compare-and-swap in the store, so neither loses the other's changes although no lock
/// is shared between them.
#[test]
fn concurrent_writers_sharing_a_vault_file_lose_no_update() {
    let files = files();
    let clock = Arc::new(ManualClock::new(START));
    let first = open(&files, &clock);
    let second = open(&files, &clock);
    let key = create_key(&first);
    let alice = "arn:aws:iam::111122223333:user/alice";
    first
        .create_principal(
            &me(),
            kms_service::CreatePrincipalRequest {
                arn: alice.into(),
                tags: Vec::new(),
            },
        )
        .unwrap();
    const WRITES: usize = 20;
    std::thread::scope(|scope| {
        for (writer, service) in [&first, &second].into_iter().enumerate() {
            let key = &key;
            scope.spawn(move || {
                for i in 0..WRITES {
                    let tag = || Tag {
                        tag_key: format!("writer{writer}-{i}"),
                        tag_value: "x".into(),
                    };
                    service
                        .tag_resource(
                            &me(),
                            TagResourceRequest {
                                key_id: key.clone(),
                                tags: vec![tag()],
                            },
                        )
                        .unwrap();
                    service.tag_principal(&me(), alice, vec![tag()]).unwrap();
                }
            });
        }
    });
    let key_tags = second
        .list_resource_tags(&me(), ListForKeyRequest::new(&key))
        .unwrap()
        .tags;
    assert_eq!(key_tags.len(), 2 * WRITES);
    let principal = first.get_principal(&me(), alice).unwrap();
    assert_eq!(principal.tags.len(), 2 * WRITES);
}

/// Imports 32 bytes of `material` into `key`, expiring at `valid_to` (or never).
fn import_symmetric(service: &Service, key: &str, material: &[u8], valid_to: Option<u64>) {
    use kms_core::types::{WrappingAlgorithmSpec, WrappingKeySpec};
    let algorithm = WrappingAlgorithmSpec::RsaesOaepSha256;
    let parameters = service
        .get_parameters_for_import(
            &me(),
            kms_service::GetParametersForImportRequest::new(
                key,
                algorithm,
                WrappingKeySpec::Rsa2048,
            ),
        )
        .unwrap();
    let blob = kms_crypto::key_import::wrap_for_import(&parameters.public_key, algorithm, material)
        .unwrap();
    let req = kms_service::ImportKeyMaterialRequest::new(key, parameters.import_token, blob);
    let req = match valid_to {
        Some(at) => req.expiring_at(at),
        None => req,
    };
    service.import_key_material(&me(), req).unwrap();
}

#[test]
fn imported_material_that_expired_while_closed_is_erased_from_the_file_on_open() {
    let files = files();
    let clock = Arc::new(ManualClock::new(START));
    let material = [0x42u8; 32];
    let (key, blob) = {
        let service = open(&files, &clock);
        let req = CreateKeyRequest {
            origin: Some(kms_core::types::Origin::External),
            ..Default::default()
        };
        let key = service.create_key(&me(), req).unwrap().key_metadata.key_id;
        import_symmetric(&service, &key, &material, Some(START + DAY));
        let blob = service
            .encrypt(&me(), EncryptRequest::new(&key, b"until tomorrow".to_vec()))
            .unwrap()
            .ciphertext_blob;
        (key, blob)
    };
    let id: KeyId = key.parse().unwrap();
    assert_eq!(files_vault(&files).store().versions(&id).unwrap().len(), 1);

    clock.advance(DAY);
    let service = open(&files, &clock);
    let record = files_vault(&files)
        .store()
        .key("eu-west-1", &id)
        .unwrap()
        .unwrap();
    assert_eq!(record.state, KeyState::PendingImport);
    let rows: i64 = rusqlite::Connection::open(&files.vault)
        .unwrap()
        .query_row(
            "SELECT COUNT(*) FROM key_versions WHERE key_id = ?1",
            [&key],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(rows, 0, "the expired material is gone from the vault file");
    let decrypt = || service.decrypt(&me(), DecryptRequest::new(blob.clone()));
    assert_eq!(
        decrypt().unwrap_err().aws_type(),
        "KMSInvalidStateException"
    );

    import_symmetric(&service, &key, &material, None);
    assert_eq!(decrypt().unwrap().plaintext.as_slice(), b"until tomorrow");
}
