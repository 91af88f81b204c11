//! The vault owns key records, backing-key versions, aliases and tags, and seals key material at
//! rest under a root key. It checks nothing about who is calling: that is `authz`'s job, and the
//! `service` façade composes the two. Backends implement [`Store`].
#![deny(unsafe_code)]
#![warn(missing_docs)]

mod cached;
#[cfg(test)]
mod conformance;
mod custom_key_store;
#[cfg(feature = "pkcs11")]
pub mod hsm;
mod identity;
mod key_usage;
mod memory;
#[cfg(feature = "postgres")]
mod postgres;
mod root_key;
mod sqlite;
mod store;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub use cached::{CacheStats, CachedStore, DEFAULT_REFRESH};
pub use custom_key_store::{
    ConnectionState, CustomKeyStoreRecord, CustomKeyStoreStore, CustomKeyStoreType,
    XksProxySettings, store_not_found as custom_key_store_not_found,
};
pub use identity::{
    AccessKeyRecord, AccessKeyStatus, AccountRecord, GrantConstraints, GrantRecord, PrincipalRecord,
};
pub use key_usage::{KeyLastUse, KeyUsageStore};
pub use kms_core::arn::{PrincipalKind, parse_principal_arn, validate_account, validate_region};
pub use memory::MemoryStore;
#[cfg(feature = "postgres")]
pub use postgres::{PostgresStore, redacted as redact_url, testing as postgres_testing};
pub use root_key::RootKey;
pub use sqlite::SqliteStore;
pub use store::{
    AUDIT_HEAD_META, AliasRecord, AliasStore, AuditBatch, AuditStore, AuditTail, ChangeFeed,
    GrantStore, IdentityStore, ImportedMaterial, KeyRecord, KeyStore, MetaStore, PluginAttachment,
    PluginScope, PluginStore, RotationSchedule, SealedVersion, Store, StoredAuditRecord, Swap,
};

use kms_core::error::{KmsError, KmsResult};
use kms_core::types::{KeyId, KeySpec, RotationType};
use kms_crypto as crypto;
use kms_crypto::asymmetric::KeyMaterial;

/// Meta entry holding a value sealed under the root key, to tell a wrong root key at open time.
const META_ROOT_CHECK: &str = "root_key_check";
const ROOT_CHECK_PLAINTEXT: &[u8] = b"kms vault root key check v1";
/// Meta entries naming the vault's account and region.
pub const META_ACCOUNT: &str = "account";
/// See [`META_ACCOUNT`].
pub const META_REGION: &str = "region";

/// A store with its root key: the only place where key material is sealed and unsealed.
///
/// Unsealed backing-key versions are cached (they are immutable), so the hot path of Encrypt and
/// Decrypt reads one key record and no key material from storage. Cached material is zeroized
/// when the vault is dropped.
pub struct Vault {
    store: CachedStore,
    root: RootKey,
    account: String,
    region: String,
    material_cache: Mutex<HashMap<(KeyId, u32), Arc<KeyMaterial>>>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("account", &self.account)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl Vault {
    /// Initialises a new, empty vault in `store`: records the account, the region and a check value
    /// for the root key. Refuses a store that already holds a vault.
    pub fn create(
        store: Box<dyn Store>,
        root: RootKey,
        account: &str,
        region: &str,
    ) -> KmsResult<Self> {
        validate_account(account)?;
        validate_region(region)?;
        if store.meta(META_ROOT_CHECK)?.is_some() {
            return Err(KmsError::AlreadyExists(
                "This vault is already initialised".into(),
            ));
        }
        let check = root
            .key()
            .seal(ROOT_CHECK_PLAINTEXT, META_ROOT_CHECK.as_bytes())?;
        store.set_meta(META_ACCOUNT, account)?;
        store.set_meta(META_REGION, region)?;
        store.set_meta(META_ROOT_CHECK, &hex::encode(check))?;
        Self::open(store, root)
    }

    /// Whether `store` holds a vault (`kms init` ran on it).
    pub fn is_initialised(store: &dyn Store) -> KmsResult<bool> {
        Ok(store.meta(META_ROOT_CHECK)?.is_some())
    }

    /// Opens an initialised vault, checking that `root` is the key it was sealed under.
    pub fn open(store: Box<dyn Store>, root: RootKey) -> KmsResult<Self> {
        let check = store.meta(META_ROOT_CHECK)?.ok_or_else(|| {
            KmsError::InvalidState("The vault is not initialised; run `kms init` first".into())
        })?;
        let check = hex::decode(check).map_err(|_| {
            KmsError::Internal("The vault's root key check value is corrupt".into())
        })?;
        match root.key().open(&check, META_ROOT_CHECK.as_bytes()) {
            Ok(plain) if plain.as_slice() == ROOT_CHECK_PLAINTEXT => {}
            _ => {
                return Err(KmsError::AccessDenied(
                    "The root key does not match this vault".into(),
                ));
            }
        }
        let account = store
            .meta(META_ACCOUNT)?
            .ok_or_else(|| KmsError::Internal("The vault has no account id".into()))?;
        let region = store
            .meta(META_REGION)?
            .ok_or_else(|| KmsError::Internal("The vault has no region".into()))?;
        Ok(Vault {
            store: CachedStore::new(store),
            root,
            account,
            region,
            material_cache: Mutex::new(HashMap::new()),
        })
    }

    /// The account that owns this vault's keys.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// The vault's home region: the one it was created for, which callers that name no region
    /// (the CLI without `--region`, embedders, guests) use. Every region is served.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The key that chains and anchors this vault's audit trail, derived from the root key (which
    /// lives outside the vault file).
    pub fn audit_key(&self) -> [u8; 32] {
        self.derived_key(b"kms audit chain key v1")
    }

    /// A key for one purpose (named by `label`), derived from the root key with HMAC-SHA-256.
    pub fn derived_key(&self, label: &[u8]) -> [u8; 32] {
        self.root.key().derive(label)
    }

    /// The backend, for reads and writes that involve no key material. Reads of the hot path's
    /// records come from memory (see [`CachedStore`]).
    pub fn store(&self) -> &dyn Store {
        &self.store
    }

    /// The record cache in front of the backend: shared plugin and grant lists, its epoch, its counters.
    pub fn records(&self) -> &CachedStore {
        &self.store
    }

    /// Seals freshly generated material of `spec` as a new version of `key_id`.
    pub fn new_version(
        &self,
        key_id: &KeyId,
        spec: KeySpec,
        version: u32,
        created_at: u64,
        rotation_type: Option<RotationType>,
    ) -> KmsResult<SealedVersion> {
        let material = KeyMaterial::generate(spec)?;
        let sealed_material = self
            .root
            .key()
            .seal_material(&material, &material_aad(key_id, version))?;
        let material_id = hex::encode(crypto::sha256_parts(&[
            b"kms key material id v1",
            key_id.as_bytes(),
            &version.to_be_bytes(),
            &sealed_material,
        ]));
        Ok(SealedVersion {
            key_id: *key_id,
            version,
            material_id,
            created_at,
            rotation_type,
            sealed_material,
        })
    }

    /// AWS's KeyMaterialId of imported `material` for `key_id`: a fingerprint of the key id and
    /// the material (in its canonical form), keyed by the root key so that it tells nothing
    /// about the material to whoever reads it. The same material gives the same id.
    pub fn imported_material_id(
        &self,
        key_id: &KeyId,
        material: &KeyMaterial,
    ) -> KmsResult<String> {
        let key = zeroize::Zeroizing::new(self.derived_key(b"kms imported key material id v1"));
        Ok(hex::encode(
            material.keyed_fingerprint(key.as_slice(), key_id.as_bytes())?,
        ))
    }

    /// Seals imported `material` as backing-key version `version` of `key_id`, whose id is
    /// [`imported_material_id`](Self::imported_material_id).
    pub fn seal_imported_version(
        &self,
        key_id: &KeyId,
        material: &KeyMaterial,
        version: u32,
        created_at: u64,
    ) -> KmsResult<SealedVersion> {
        let sealed_material = self
            .root
            .key()
            .seal_material(material, &material_aad(key_id, version))?;
        Ok(SealedVersion {
            key_id: *key_id,
            version,
            material_id: self.imported_material_id(key_id, material)?,
            created_at,
            rotation_type: None,
            sealed_material,
        })
    }

    /// A copy of the unsealed material of one backing-key version of a SYMMETRIC_DEFAULT key,
    /// for tests that look for key bytes where they must not be (feature `test-secrets`). The
    /// service uses [`key_material`](Self::key_material), whose handle performs operations and
    /// hands out no bytes. `InvalidCiphertext` if the version does not exist.
    #[cfg(feature = "test-secrets")]
    pub fn material(
        &self,
        key_id: &KeyId,
        version: u32,
    ) -> KmsResult<Arc<kms_crypto::SymmetricKey>> {
        let material = self.key_material(key_id, KeySpec::SymmetricDefault, version)?;
        Ok(Arc::new(material.symmetric()?.clone()))
    }

    /// The unsealed material of one backing-key version of a key of `spec`. `InvalidCiphertext`
    /// if the version does not exist.
    pub fn key_material(
        &self,
        key_id: &KeyId,
        spec: KeySpec,
        version: u32,
    ) -> KmsResult<Arc<KeyMaterial>> {
        if let Some(hit) = self.cache().get(&(*key_id, version)) {
            return Ok(hit.clone());
        }
        let sealed = self
            .store
            .version(key_id, version)?
            .ok_or_else(KmsError::invalid_ciphertext)?;
        let plain = self
            .root
            .key()
            .open(&sealed.sealed_material, &material_aad(key_id, version))
            .map_err(|_| {
                KmsError::Internal(format!(
                    "Key material of {key_id} version {version} failed to unseal: the vault is corrupt"
                ))
            })?;
        let material = Arc::new(KeyMaterial::from_sealed(spec, &plain)?);
        self.cache().insert((*key_id, version), material.clone());
        Ok(material)
    }

    /// Seals the secret of an access key under the root key, bound to its id and principal.
    pub fn seal_access_secret(
        &self,
        access_key_id: &str,
        principal_arn: &str,
        secret: &[u8],
    ) -> KmsResult<Vec<u8>> {
        self.root
            .key()
            .seal(secret, &access_secret_aad(access_key_id, principal_arn))
    }

    /// The secret of an access key.
    pub fn open_access_secret(
        &self,
        key: &AccessKeyRecord,
    ) -> KmsResult<zeroize::Zeroizing<Vec<u8>>> {
        self.root
            .key()
            .open(
                &key.sealed_secret,
                &access_secret_aad(&key.access_key_id, &key.principal_arn),
            )
            .map_err(|_| {
                KmsError::Internal(format!(
                    "The secret of access key {} failed to unseal: the vault is corrupt",
                    key.access_key_id
                ))
            })
    }

    /// Seals a custom key store's secret (an HSM user's PIN) under the root key, bound to the
    /// store.
    pub fn seal_key_store_secret(&self, store_id: &str, secret: &[u8]) -> KmsResult<Vec<u8>> {
        self.root
            .key()
            .seal(secret, &key_store_secret_aad(store_id))
    }

    /// The secret of a custom key store; `None` if it has none.
    pub fn open_key_store_secret(
        &self,
        store: &CustomKeyStoreRecord,
    ) -> KmsResult<Option<zeroize::Zeroizing<Vec<u8>>>> {
        let Some(sealed) = &store.sealed_secret else {
            return Ok(None);
        };
        self.root
            .key()
            .open(sealed, &key_store_secret_aad(&store.id))
            .map(Some)
            .map_err(|_| {
                KmsError::Internal(format!(
                    "The secret of custom key store {} failed to unseal: the vault is corrupt",
                    store.id
                ))
            })
    }

    /// Forgets cached material of a key (called when the key is deleted).
    pub fn evict(&self, key_id: &KeyId) {
        self.cache().retain(|(id, _), _| id != key_id);
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<(KeyId, u32), Arc<KeyMaterial>>> {
        // A panic while holding this lock cannot leave the map half-updated, so poison is harmless.
        self.material_cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Binds sealed material to its key and version, so rows cannot be swapped inside the store.
fn key_store_secret_aad(store_id: &str) -> Vec<u8> {
    format!("kms custom key store secret v1:{store_id}").into_bytes()
}

fn material_aad(key_id: &KeyId, version: u32) -> Vec<u8> {
    let mut aad = b"kms key material v1".to_vec();
    aad.extend_from_slice(key_id.as_bytes());
    aad.extend_from_slice(&version.to_be_bytes());
    aad
}

fn access_secret_aad(access_key_id: &str, principal_arn: &str) -> Vec<u8> {
    let mut aad = b"kms access key secret v1\0".to_vec();
    aad.extend_from_slice(access_key_id.as_bytes());
    aad.push(0);
    aad.extend_from_slice(principal_arn.as_bytes());
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vault() -> Vault {
        Vault::create(
            Box::new(MemoryStore::new()),
            RootKey::generate().unwrap(),
            "111122223333",
            "us-east-1",
        )
        .unwrap()
    }

    #[test]
    fn open_refuses_a_different_root_key() {
        let store = MemoryStore::new();
        Vault::create(
            Box::new(store.clone()),
            RootKey::generate().unwrap(),
            "111122223333",
            "eu-west-1",
        )
        .unwrap();
        let err = Vault::open(Box::new(store), RootKey::generate().unwrap()).unwrap_err();
        assert!(matches!(err, KmsError::AccessDenied(_)), "{err:?}");
    }

    #[test]
    fn open_refuses_an_uninitialised_store() {
        let err =
            Vault::open(Box::new(MemoryStore::new()), RootKey::generate().unwrap()).unwrap_err();
        assert!(matches!(err, KmsError::InvalidState(_)));
    }

    #[test]
    fn create_refuses_an_initialised_store() {
        let store = MemoryStore::new();
        let root = RootKey::generate().unwrap();
        Vault::create(
            Box::new(store.clone()),
            root.clone(),
            "111122223333",
            "us-east-1",
        )
        .unwrap();
        assert!(Vault::create(Box::new(store), root, "111122223333", "us-east-1").is_err());
    }

    #[test]
    fn sealed_material_unseals_only_for_its_own_key_and_version() {
        let v = vault();
        let id = KeyId::random();
        let sealed = v
            .new_version(&id, KeySpec::SymmetricDefault, 1, 0, None)
            .unwrap();
        assert!(
            v.root
                .key()
                .open(&sealed.sealed_material, &material_aad(&id, 1))
                .is_ok()
        );
        assert!(
            v.root
                .key()
                .open(&sealed.sealed_material, &material_aad(&id, 2))
                .is_err()
        );
        assert!(
            v.root
                .key()
                .open(&sealed.sealed_material, &material_aad(&KeyId::random(), 1))
                .is_err()
        );
    }
}
