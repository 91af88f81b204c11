//! The vault on a real SQLite file, through the public `kms_vault` API: everything written
//! survives a close and reopen, only the right root key opens it, a failed write leaves nothing
//! behind, and the file on disk never holds key material in the clear.

use std::path::PathBuf;

use kms_core::types::{KeySpec, RotationType, Tag};
use kms_service::{KeyId, KmsError};
use kms_vault::{
    AliasRecord, KeyRecord, RootKey, RotationSchedule, SealedVersion, SqliteStore, Swap, Vault,
};

const T0: u64 = 1_750_000_000;
const DAY: u64 = 86_400;
const ACCOUNT: &str = "111122223333";
const REGION: &str = "eu-west-1";
/// A root key whose bytes the tests know, so they can look for them in the file too.
const ROOT_HEX: &str = "6b6d732d746573742d726f6f742d6b65792d6e6f742d666f722d70726f642121";

struct VaultFile {
    dir: tempfile::TempDir,
    path: PathBuf,
}

impl VaultFile {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vault.db");
        let store = SqliteStore::open(&path).unwrap();
        Vault::create(Box::new(store), root(), ACCOUNT, REGION).unwrap();
        VaultFile { dir, path }
    }

    fn open(&self) -> Vault {
        self.open_with(root()).unwrap()
    }

    fn open_with(&self, root: RootKey) -> Result<Vault, KmsError> {
        Vault::open(Box::new(SqliteStore::open(&self.path).unwrap()), root)
    }

    /// The vault file and whichever of its `-wal` / `-shm` siblings exist, with their bytes.
    fn files_on_disk(&self) -> Vec<(PathBuf, Vec<u8>)> {
        ["vault.db", "vault.db-wal", "vault.db-shm"]
            .iter()
            .map(|name| self.dir.path().join(name))
            .filter(|path| path.exists())
            .map(|path| {
                let bytes = std::fs::read(&path).unwrap();
                (path, bytes)
            })
            .collect()
    }

    /// Rows in `key_versions`, counted behind the store's back.
    fn version_rows(&self) -> i64 {
        rusqlite::Connection::open(&self.path)
            .unwrap()
            .query_row("SELECT COUNT(*) FROM key_versions", [], |r| r.get(0))
            .unwrap()
    }
}

fn root() -> RootKey {
    RootKey::from_hex(ROOT_HEX).unwrap()
}

fn key_record(key_id: KeyId, tags: &[(&str, &str)]) -> KeyRecord {
    KeyRecord {
        description: format!("key {key_id}"),
        rotation: Some(RotationSchedule {
            period_days: 365,
            next_rotation_at: T0 + 365 * DAY,
        }),
        tags: tags
            .iter()
            .map(|(k, v)| Tag {
                tag_key: (*k).into(),
                tag_value: (*v).into(),
            })
            .collect(),
        ..KeyRecord::new_symmetric(key_id, ACCOUNT, REGION, T0)
    }
}

/// Creates a key with freshly generated, sealed material, as CreateKey does.
fn create_key(vault: &Vault, tags: &[(&str, &str)]) -> KeyRecord {
    let record = key_record(KeyId::random(), tags);
    let first = vault
        .new_version(&record.key_id, KeySpec::SymmetricDefault, 1, T0, None)
        .unwrap();
    vault.store().insert_key(&record, Some(&first)).unwrap();
    record
}

/// Adds a backing-key version, as RotateKeyOnDemand does.
fn rotate(vault: &Vault, key: &KeyRecord) -> KeyRecord {
    let version = key.current_version + 1;
    let rotated = KeyRecord {
        current_version: version,
        on_demand_rotations: key.on_demand_rotations + 1,
        last_on_demand_rotation: Some(T0 + u64::from(version)),
        ..key.clone()
    };
    let sealed = vault
        .new_version(
            &key.key_id,
            KeySpec::SymmetricDefault,
            version,
            T0 + u64::from(version),
            Some(RotationType::OnDemand),
        )
        .unwrap();
    assert_eq!(
        vault.store().add_version(&rotated, &sealed).unwrap(),
        Swap::Done
    );
    // As stored: one revision on.
    KeyRecord {
        revision: rotated.revision + 1,
        ..rotated
    }
}

fn material(vault: &Vault, key_id: &KeyId, version: u32) -> Vec<u8> {
    vault
        .material(key_id, version)
        .unwrap()
        .expose_secret()
        .to_vec()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn hex(bytes: &[u8], upper: bool) -> String {
    bytes
        .iter()
        .map(|b| {
            if upper {
                format!("{b:02X}")
            } else {
                format!("{b:02x}")
            }
        })
        .collect()
}

/// Asserts that none of `files` holds any of `secrets`, raw or hex-encoded.
fn assert_no_secret_in(files: &[(PathBuf, Vec<u8>)], secrets: &[Vec<u8>]) {
    for (path, bytes) in files {
        for secret in secrets {
            assert!(
                !contains(bytes, secret),
                "raw key bytes found in {}",
                path.display()
            );
            for upper in [false, true] {
                assert!(
                    !contains(bytes, hex(secret, upper).as_bytes()),
                    "hex-encoded key bytes found in {}",
                    path.display()
                );
            }
        }
    }
}

#[test]
fn a_reopened_vault_has_every_key_version_alias_and_tag() {
    let file = VaultFile::new();
    let (keys, versions, aliases, materials) = {
        let vault = file.open();
        let billing = create_key(&vault, &[("team", "billing"), ("env", "prod")]);
        let billing = rotate(&vault, &billing);
        let orders = create_key(&vault, &[("team", "orders")]);
        let untagged = create_key(&vault, &[]);
        let aliases = vec![
            AliasRecord {
                region: REGION.into(),
                name: "alias/billing".into(),
                key_id: billing.key_id,
                created_at: T0,
                updated_at: T0 + 30,
            },
            AliasRecord {
                region: REGION.into(),
                name: "alias/orders".into(),
                key_id: orders.key_id,
                created_at: T0,
                updated_at: T0,
            },
        ];
        for alias in &aliases {
            vault.store().insert_alias(alias).unwrap();
        }
        let keys = vec![billing, orders, untagged];
        let versions: Vec<Vec<SealedVersion>> = keys
            .iter()
            .map(|k| vault.store().versions(&k.key_id).unwrap())
            .collect();
        let materials: Vec<Vec<u8>> = versions
            .iter()
            .flatten()
            .map(|v| material(&vault, &v.key_id, v.version))
            .collect();
        (keys, versions, aliases, materials)
    };

    let vault = file.open();
    assert_eq!((vault.account(), vault.region()), (ACCOUNT, REGION));
    let store = vault.store();
    let mut expected_keys = keys.clone();
    expected_keys.sort_by_key(|k| k.key_id);
    assert_eq!(store.keys_after(REGION, None, 100).unwrap(), expected_keys);
    for (key, versions) in keys.iter().zip(&versions) {
        assert_eq!(store.key(REGION, &key.key_id).unwrap().as_ref(), Some(key));
        assert_eq!(&store.versions(&key.key_id).unwrap(), versions);
    }
    assert_eq!(versions[0].len(), 2, "the rotation survived");
    assert_eq!(
        versions[0][1].rotation_type,
        Some(RotationType::OnDemand),
        "and kept its type"
    );
    assert_eq!(
        store.aliases_after(REGION, None, None, 100).unwrap(),
        aliases
    );
    let reopened_materials: Vec<Vec<u8>> = versions
        .iter()
        .flatten()
        .map(|v| material(&vault, &v.key_id, v.version))
        .collect();
    assert_eq!(
        reopened_materials, materials,
        "the same key material unseals"
    );
}

#[test]
fn reopening_with_a_different_root_key_is_access_denied() {
    let file = VaultFile::new();
    create_key(&file.open(), &[]);
    let err = file.open_with(RootKey::generate().unwrap()).unwrap_err();
    assert!(matches!(err, KmsError::AccessDenied(_)), "{err:?}");
}

#[test]
fn the_vault_file_alone_reveals_no_key_bytes() {
    let file = VaultFile::new();
    let mut secrets = vec![hex_decode(ROOT_HEX)];
    let mut sealed = Vec::new();
    let open_files = {
        let vault = file.open();
        for _ in 0..6 {
            let key = rotate(&vault, &create_key(&vault, &[("team", "payments")]));
            for version in vault.store().versions(&key.key_id).unwrap() {
                secrets.push(material(&vault, &key.key_id, version.version));
                sealed.push(version.sealed_material);
            }
        }
        // While the vault is open, recent writes sit in the write-ahead log.
        file.files_on_disk()
    };
    let closed_files = file.files_on_disk();

    for files in [&open_files, &closed_files] {
        let all: Vec<u8> = files.iter().flat_map(|(_, b)| b.clone()).collect();
        // The scan would find the keys if they were there: their sealed form is.
        assert!(
            sealed.iter().all(|s| contains(&all, s)),
            "every sealed version is in the files read"
        );
        assert_no_secret_in(files, &secrets);
    }
}

#[test]
fn add_version_for_a_missing_key_leaves_no_orphan_version() {
    let file = VaultFile::new();
    let vault = file.open();
    let kept = create_key(&vault, &[]);
    let missing = key_record(KeyId::random(), &[]);
    let sealed = vault
        .new_version(&missing.key_id, KeySpec::SymmetricDefault, 1, T0, None)
        .unwrap();
    let err = vault.store().add_version(&missing, &sealed).unwrap_err();
    assert_eq!(err, KmsError::key_not_found(missing.key_id));
    drop(vault);

    let vault = file.open();
    assert!(vault.store().versions(&missing.key_id).unwrap().is_empty());
    assert_eq!(vault.store().key(REGION, &missing.key_id).unwrap(), None);
    assert_eq!(vault.store().versions(&kept.key_id).unwrap().len(), 1);
    assert_eq!(file.version_rows(), 1, "no orphan row anywhere");
}

#[test]
fn a_rotation_that_fails_midway_keeps_the_old_record() {
    // The record update runs first and succeeds; the version insert then fails (version 1 exists).
    // The rollback must undo the record update too.
    let file = VaultFile::new();
    let vault = file.open();
    let key = create_key(&vault, &[("team", "billing")]);
    let half_rotated = KeyRecord {
        description: "this update must not survive".into(),
        ..key.clone()
    };
    let clash = vault
        .new_version(&key.key_id, KeySpec::SymmetricDefault, 1, T0 + 1, None)
        .unwrap();
    assert!(vault.store().add_version(&half_rotated, &clash).is_err());
    drop(vault);

    let vault = file.open();
    assert_eq!(
        vault.store().key(REGION, &key.key_id).unwrap(),
        Some(key.clone())
    );
    let versions = vault.store().versions(&key.key_id).unwrap();
    assert_eq!(versions.len(), 1);
    assert_ne!(versions[0].sealed_material, clash.sealed_material);
    assert_eq!(file.version_rows(), 1);
}

#[test]
fn an_alias_for_a_missing_key_writes_nothing() {
    let file = VaultFile::new();
    let vault = file.open();
    let gone = KeyId::random();
    let err = vault
        .store()
        .insert_alias(&AliasRecord {
            region: REGION.into(),
            name: "alias/orphan".into(),
            key_id: gone,
            created_at: T0,
            updated_at: T0,
        })
        .unwrap_err();
    assert!(matches!(err, KmsError::NotFound(_)), "{err:?}");
    drop(vault);

    let vault = file.open();
    assert_eq!(vault.store().alias(REGION, "alias/orphan").unwrap(), None);
    assert!(
        vault
            .store()
            .aliases_after(REGION, None, None, 100)
            .unwrap()
            .is_empty()
    );
}

fn hex_decode(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}
