//! The storage seam: what a vault backend must keep, and nothing about who is calling. Backends
//! hold only sealed key material; records are plain metadata. Each method is atomic: a backend
//! either applies all of it or none of it.

use serde::{Deserialize, Serialize};

use super::custom_key_store::CustomKeyStoreStore;
use super::identity::{AccessKeyRecord, AccountRecord, GrantRecord, PrincipalRecord};
use super::key_usage::KeyUsageStore;
use kms_core::error::{KmsError, KmsResult, Missing};
use kms_core::types::{
    ImportState, KeyId, KeyMaterialState, KeySpec, KeyState, KeyUsage, Origin, RotationType, Tag,
};

/// Everything the vault keeps about a KMS key except its key material.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// The key id.
    pub key_id: KeyId,
    /// The 12-digit account that owns the key.
    pub account: String,
    /// The region the key lives in.
    pub region: String,
    /// Free-form description (0–8192 characters).
    pub description: String,
    /// The type of key material.
    pub key_spec: KeySpec,
    /// What the key may be used for.
    pub key_usage: KeyUsage,
    /// Where the key material came from.
    pub origin: Origin,
    /// Lifecycle state.
    pub state: KeyState,
    /// Creation time, seconds since the Unix epoch.
    pub created_at: u64,
    /// When a key pending deletion will be deleted (seconds since the epoch).
    pub deletion_date: Option<u64>,
    /// The waiting period that was requested for the pending deletion, in days.
    pub pending_window_days: Option<u32>,
    /// Automatic rotation, when enabled.
    pub rotation: Option<RotationSchedule>,
    /// How many on-demand rotations this key has had (AWS caps it).
    pub on_demand_rotations: u32,
    /// Time the last on-demand rotation started.
    pub last_on_demand_rotation: Option<u64>,
    /// The backing-key version new ciphertexts are made with.
    pub current_version: u32,
    /// Tags, in insertion order, keys unique.
    pub tags: Vec<Tag>,
    /// The key policy document; `None` is AWS's default policy (the account root may do
    /// everything, which delegates to the account's principals).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// For an AWS managed key (`alias/aws/<service>`), the service it belongs to; `None` for a
    /// customer managed key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_by: Option<String>,
    /// For a multi-Region key, the region of its primary key (this record's own region when it
    /// is the primary); `None` for a single-Region key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_region: Option<String>,
    /// For a key of EXTERNAL origin, every key material imported into it, by backing-key
    /// version. An entry outlives its material (deleted or expired): its id is the fingerprint
    /// that lets only the same material back in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub imported: Vec<ImportedMaterial>,
    /// For a key in a custom key store (origin `AWS_CLOUDHSM`), the store's id: its material
    /// lives there, not in the vault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_key_store_id: Option<String>,
    /// For a key in an external key store (origin `EXTERNAL_KEY_STORE`), the external key's id
    /// at the store's XKS proxy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xks_key_id: Option<String>,
    /// How many times the record has been written since it was created: the store writes a
    /// record only over the revision it was read at ([`Swap`]).
    #[serde(default)]
    pub revision: u64,
}

/// One key material of a key with imported material (ListKeyRotations shows each).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportedMaterial {
    /// The backing-key version the material is (and, imported again, will be again).
    pub version: u32,
    /// AWS's KeyMaterialId: a keyed fingerprint of the key id and the material.
    pub material_id: String,
    /// The caller's `KeyMaterialDescription`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether the material is in the vault now (`IMPORTED`) or was deleted or expired.
    pub imported: bool,
    /// When the material expires (seconds since the epoch); `None` if it does not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_to: Option<u64>,
    /// Imported with `NEW_KEY_MATERIAL` and not yet made current by RotateKeyOnDemand.
    #[serde(default)]
    pub pending_rotation: bool,
    /// When a rotation made this material current, and how (`None` for the first material).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<(RotationType, u64)>,
}

impl ImportedMaterial {
    /// `IMPORTED` or `PENDING_IMPORT`.
    pub fn import_state(&self) -> ImportState {
        if self.imported {
            ImportState::Imported
        } else {
            ImportState::PendingImport
        }
    }

    /// The material's place among the key's materials.
    pub fn material_state(&self, current_version: u32) -> KeyMaterialState {
        if self.pending_rotation {
            KeyMaterialState::PendingRotation
        } else if self.version == current_version {
            KeyMaterialState::Current
        } else {
            KeyMaterialState::NonCurrent
        }
    }
}

/// Automatic rotation settings of a key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RotationSchedule {
    /// Days between automatic rotations (90–2560).
    pub period_days: u32,
    /// When the next automatic rotation is due, seconds since the epoch.
    pub next_rotation_at: u64,
}

impl KeyRecord {
    /// A new, enabled SYMMETRIC_DEFAULT / ENCRYPT_DECRYPT key with AWS_KMS origin, its first
    /// backing-key version current, no rotation schedule and no tags: what CreateKey makes.
    pub fn new_symmetric(key_id: KeyId, account: &str, region: &str, created_at: u64) -> Self {
        KeyRecord {
            key_id,
            account: account.to_string(),
            region: region.to_string(),
            description: String::new(),
            key_spec: KeySpec::SymmetricDefault,
            key_usage: KeyUsage::EncryptDecrypt,
            origin: Origin::AwsKms,
            state: KeyState::Enabled,
            created_at,
            deletion_date: None,
            pending_window_days: None,
            rotation: None,
            on_demand_rotations: 0,
            last_on_demand_rotation: None,
            current_version: 1,
            tags: Vec::new(),
            policy: None,
            managed_by: None,
            primary_region: None,
            imported: Vec::new(),
            custom_key_store_id: None,
            xks_key_id: None,
            revision: 0,
        }
    }

    /// Whether the key's material lives inside the HSM of a custom key store (origin
    /// `AWS_CLOUDHSM`), rather than in the vault.
    pub fn in_hsm(&self) -> bool {
        self.origin == Origin::AwsCloudhsm
    }

    /// The key's ARN.
    pub fn arn(&self) -> String {
        kms_core::arn::Arn::kms_key(&self.region, &self.account, &self.key_id).to_string()
    }

    /// The earliest time at which this key needs maintenance (deletion, automatic rotation or
    /// expiry of imported material). Backends index this so that due keys are found without a
    /// scan.
    pub fn due_at(&self) -> Option<u64> {
        // Disabled keys are not rotated; their schedule resumes when they are enabled again.
        let lifecycle = match self.state {
            KeyState::PendingDeletion => self.deletion_date,
            KeyState::Enabled => self.rotation.as_ref().map(|r| r.next_rotation_at),
            _ => None,
        };
        // Imported material expires whatever the key's state.
        lifecycle.into_iter().chain(self.material_expiry()).min()
    }

    /// When the first of the key's imported materials that are in the vault expires.
    pub fn material_expiry(&self) -> Option<u64> {
        self.imported
            .iter()
            .filter(|m| m.imported)
            .filter_map(|m| m.valid_to)
            .min()
    }

    /// The imported material of backing-key version `version`, if the key has imported material.
    pub fn imported_version(&self, version: u32) -> Option<&ImportedMaterial> {
        self.imported.iter().find(|m| m.version == version)
    }
}

/// One version of a key's backing material, sealed under the vault's root key.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedVersion {
    /// The key this version belongs to.
    pub key_id: KeyId,
    /// Version number: 1 for the material made at creation, then one more per rotation.
    pub version: u32,
    /// Public identifier of this key material (64 hex characters), as AWS's KeyMaterialId.
    pub material_id: String,
    /// When this version was created, seconds since the epoch.
    pub created_at: u64,
    /// `None` for the original material, otherwise how the rotation was triggered.
    pub rotation_type: Option<RotationType>,
    /// The key material sealed with AES-256-GCM under the root key.
    pub sealed_material: Vec<u8>,
}

impl std::fmt::Debug for SealedVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedVersion")
            .field("key_id", &self.key_id)
            .field("version", &self.version)
            .field("material_id", &self.material_id)
            .field("created_at", &self.created_at)
            .field("rotation_type", &self.rotation_type)
            .finish_non_exhaustive()
    }
}

/// An alias: a friendly name (`alias/…`) pointing at one key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AliasRecord {
    /// The region the alias lives in: aliases are never shared between regions.
    pub region: String,
    /// Full alias name, starting with `alias/`.
    pub name: String,
    /// The key the alias points at.
    pub key_id: KeyId,
    /// Creation time, seconds since the epoch.
    pub created_at: u64,
    /// Last time the alias was pointed at a key, seconds since the epoch.
    pub updated_at: u64,
}

/// What a policy plugin is attached to.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PluginScope {
    /// One KMS key in one region: the plugin may allow or deny requests on it. Like key
    /// policies, plugins are never shared between related multi-Region keys.
    Key {
        /// The key's region.
        region: String,
        /// The key.
        key_id: KeyId,
    },
    /// Every key of an account: a guard-rail, which may only deny.
    Account(String),
}

impl PluginScope {
    /// The scope of the key `key`.
    pub fn of_key(key: &KeyRecord) -> Self {
        PluginScope::Key {
            region: key.region.clone(),
            key_id: key.key_id,
        }
    }

    /// The scope as stored: `key/<region>/<key id>` or `account/<account id>`.
    pub fn as_stored(&self) -> String {
        match self {
            PluginScope::Key { region, key_id } => format!("key/{region}/{key_id}"),
            PluginScope::Account(account) => format!("account/{account}"),
        }
    }

    /// Reads a stored scope back.
    pub fn from_stored(stored: &str) -> KmsResult<Self> {
        if let Some((region, id)) = stored.strip_prefix("key/").and_then(|s| s.split_once('/')) {
            return Ok(PluginScope::Key {
                region: region.to_string(),
                key_id: id.parse()?,
            });
        }
        if let Some(account) = stored.strip_prefix("account/") {
            return Ok(PluginScope::Account(account.to_string()));
        }
        Err(KmsError::Internal(format!(
            "'{stored}' is not a policy plugin scope"
        )))
    }
}

/// A policy plugin attached to a key or an account: the component itself (so every node sharing
/// the vault runs the same code), its digest and the operator's settings.
#[derive(Clone, PartialEq, Eq)]
pub struct PluginAttachment {
    /// Where the plugin applies.
    pub scope: PluginScope,
    /// The operator's name for the attachment, unique within its scope.
    pub name: String,
    /// The component's bytes (WebAssembly component binary).
    pub component: Vec<u8>,
    /// SHA-256 of `component`, hex.
    pub digest: String,
    /// Settings the plugin reads through `kms:vault/config`.
    pub config: std::collections::BTreeMap<String, String>,
    /// When it was attached, seconds since the epoch.
    pub attached_at: u64,
}

impl std::fmt::Debug for PluginAttachment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginAttachment")
            .field("scope", &self.scope)
            .field("name", &self.name)
            .field("digest", &self.digest)
            .field("component_len", &self.component.len())
            .field("config", &self.config)
            .field("attached_at", &self.attached_at)
            .finish()
    }
}

/// One entry of the hash-chained audit trail, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredAuditRecord {
    /// Position in the trail, from 1, without gaps.
    pub seq: u64,
    /// The event, serialized as JSON.
    pub event_json: String,
    /// SHA-256 over the previous record's hash, `seq` and `event_json`.
    pub hash: [u8; 32],
}

/// A vault backend: one trait per record type, all of them together. Implementations:
/// [`SqliteStore`](super::SqliteStore) (the embedded default), `PostgresStore` (shared by
/// several nodes; feature `postgres`) and [`MemoryStore`](super::MemoryStore) (tests); the conformance suite in `conformance.rs` runs
/// against each.
///
/// Every method is atomic. None relies on a lock held by its caller: a read-modify-write
/// reads a record, changes it and writes it back with a compare-and-swap on the record's
/// revision ([`Swap::Stale`] when another writer came first, and the caller starts over), so
/// that several threads, processes or nodes may share one store.
pub trait Store:
    MetaStore
    + CustomKeyStoreStore
    + KeyStore
    + AliasStore
    + AuditStore
    + PluginStore
    + IdentityStore
    + GrantStore
    + KeyUsageStore
{
}

impl<T> Store for T where
    T: MetaStore
        + CustomKeyStoreStore
        + KeyStore
        + AliasStore
        + AuditStore
        + PluginStore
        + IdentityStore
        + GrantStore
        + KeyUsageStore
{
}

/// The outcome of a compare-and-swap write.
#[must_use = "a stale write changed nothing; read the record again and retry"]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Swap {
    /// The record was as the writer read it; the write applied and the revision moved on.
    Done,
    /// Another writer changed the record since it was read; nothing was written.
    Stale,
}

/// Vault-wide settings (root key check value, account id, region …).
pub trait MetaStore: Send + Sync {
    /// A vault-wide setting (root key check value, account id, region …).
    fn meta(&self, name: &str) -> KmsResult<Option<String>>;
    /// The store's generation, for a store that other processes may change too: a counter that
    /// moves on, in the same transaction, with every change to keys, versions, aliases,
    /// plugins, accounts, principals, access keys or grants (not with audit records, key usage
    /// or meta). Caches compare it to see another process's changes. `None` for a store only
    /// this process can reach (the in-memory one), whose changes all pass through its caches.
    fn generation(&self) -> KmsResult<Option<u64>> {
        Ok(None)
    }
    /// Sets a vault-wide setting.
    fn set_meta(&self, name: &str, value: &str) -> KmsResult<()>;
    /// A feed that tells of other processes' changes as they commit (PostgreSQL's
    /// `LISTEN/NOTIFY`), so that caches need not wait for their next look at the
    /// [generation](Self::generation). `None` where the store has none; a missed notice is
    /// caught by that next look all the same.
    fn change_feed(&self) -> KmsResult<Option<Box<dyn ChangeFeed>>> {
        Ok(None)
    }
}

/// Notices of changes committed to a shared store, from [`MetaStore::change_feed`].
pub trait ChangeFeed: Send {
    /// Waits up to `timeout` for a notice: `true` when one (or more) arrived, `false` when the
    /// time ran out. An error means the feed is broken; open another.
    fn wait(&mut self, timeout: std::time::Duration) -> KmsResult<bool>;
}

/// Audit records chained onto a trail's tail, with the trail's anchored head after them: what
/// [`AuditStore::append_audit_chained`] asks its caller to build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditBatch {
    /// Consecutive records, the first one after the tail.
    pub records: Vec<StoredAuditRecord>,
    /// The anchored head after the last record, for a keyed trail.
    pub head: Option<String>,
}

/// The last record of an audit trail as the next one chains onto it: its sequence number and
/// hash; `None` for an empty trail.
pub type AuditTail = Option<(u64, [u8; 32])>;

/// Key records and their backing-key versions. Writes of a record are compare-and-swap on
/// its [`KeyRecord::revision`], so that a read-modify-write never loses a concurrent one.
pub trait KeyStore: Send + Sync {
    /// Inserts a new key with its first backing-key version (none for a key awaiting imported
    /// material); `AlreadyExists` if any region holds a key with its id.
    fn insert_key(&self, key: &KeyRecord, first_version: Option<&SealedVersion>) -> KmsResult<()>;
    /// Inserts a replica of a multi-Region key in its region: a record whose id (and so whose
    /// backing-key versions) another region already holds. `AlreadyExists` if the region holds
    /// the id already, `NotFound` if no region does.
    fn insert_replica(&self, key: &KeyRecord) -> KmsResult<()>;
    /// Reads the record of a key in a region.
    fn key(&self, region: &str, key_id: &KeyId) -> KmsResult<Option<KeyRecord>>;
    /// Every record with this id, in any region: a key and, for a multi-Region key, its
    /// related keys.
    fn related_keys(&self, key_id: &KeyId) -> KmsResult<Vec<KeyRecord>>;
    /// How many keys a region holds.
    fn key_count(&self, region: &str) -> KmsResult<u64>;
    /// Up to `limit` keys of `region` with ids greater than `after`, in ascending key-id order.
    fn keys_after(
        &self,
        region: &str,
        after: Option<&KeyId>,
        limit: usize,
    ) -> KmsResult<Vec<KeyRecord>>;
    /// Replaces a key record (metadata, state, tags, rotation settings) if the stored one still
    /// has `key.revision`; the stored record's revision becomes one more.
    fn update_key(&self, key: &KeyRecord) -> KmsResult<Swap>;
    /// Replaces several key records as one change (related multi-Region keys): every record is
    /// written if every stored one still has its revision, none otherwise ([`Swap::Stale`]);
    /// `NotFound` if one is gone.
    fn update_keys(&self, keys: &[KeyRecord]) -> KmsResult<Swap>;
    /// Replaces a key record and adds a backing-key version, atomically (rotation), if the
    /// stored record still has `key.revision`.
    fn add_version(&self, key: &KeyRecord, version: &SealedVersion) -> KmsResult<Swap>;
    /// Replaces a key record and makes `versions` its backing-key versions, atomically, if the
    /// stored record still has `key.revision`: versions not in `versions` are deleted (crypto
    /// erasure of imported material), those in it are written, replacing any of the same number.
    fn replace_versions(&self, key: &KeyRecord, versions: &[SealedVersion]) -> KmsResult<Swap>;
    /// Reads one backing-key version. Versions belong to the key id: related multi-Region keys
    /// share them.
    fn version(&self, key_id: &KeyId, version: u32) -> KmsResult<Option<SealedVersion>>;
    /// Every backing-key version of a key, oldest first.
    fn versions(&self, key_id: &KeyId) -> KmsResult<Vec<SealedVersion>>;
    /// Deletes a key with its aliases and grants in its region, if the stored record still has
    /// `key.revision` (a key whose deletion was just cancelled is kept). Its backing-key versions
    /// and plugins go with the last region that holds its id.
    fn delete_key(&self, key: &KeyRecord) -> KmsResult<Swap>;
    /// Regions and ids of keys whose [`KeyRecord::due_at`] is at or before `now`.
    fn keys_due(&self, now: u64) -> KmsResult<Vec<(String, KeyId)>>;
}

/// Aliases, per region. Names are unique in a region: two writers cannot both create one.
pub trait AliasStore: Send + Sync {
    /// Creates an alias in `alias.region`; `AlreadyExists` if the name is taken there, `NotFound`
    /// if the region holds no key `alias.key_id`.
    fn insert_alias(&self, alias: &AliasRecord) -> KmsResult<()>;
    /// Repoints an existing alias (its key and `updated_at`; `created_at` is kept); `NotFound` if
    /// it does not exist.
    fn update_alias(&self, alias: &AliasRecord) -> KmsResult<()>;
    /// Deletes an alias; `NotFound` if it does not exist.
    fn delete_alias(&self, region: &str, name: &str) -> KmsResult<()>;
    /// Reads an alias of a region.
    fn alias(&self, region: &str, name: &str) -> KmsResult<Option<AliasRecord>>;
    /// Up to `limit` aliases of `region` with names greater than `after`, in ascending name
    /// order, optionally only those pointing at `key_id`.
    fn aliases_after(
        &self,
        region: &str,
        after: Option<&str>,
        key_id: Option<&KeyId>,
        limit: usize,
    ) -> KmsResult<Vec<AliasRecord>>;
}

/// The hash-chained audit trail: appends are ordered by sequence number, without gaps.
pub trait AuditStore: Send + Sync + MetaStore {
    /// Appends to the audit trail. Fails (and writes nothing) unless `record.seq` is exactly one
    /// more than the last stored sequence number.
    fn append_audit(&self, record: &StoredAuditRecord) -> KmsResult<()>;
    /// Appends to the audit trail and records `head` (the trail's anchored head) under
    /// [`AUDIT_HEAD_META`], as one change where the backend can. The default does it in two.
    fn append_audit_anchored(&self, record: &StoredAuditRecord, head: &str) -> KmsResult<()> {
        self.append_audit(record)?;
        self.set_meta(AUDIT_HEAD_META, head)
    }
    /// Appends consecutive `records` (the first exactly one more than the last stored sequence
    /// number) and, if given, the trail's anchored `head`, as one durable change: the group
    /// commit of several requests' records with one sync. Fails and writes nothing when the
    /// first record does not follow the trail. The default appends one by one.
    fn append_audit_batch(
        &self,
        records: &[StoredAuditRecord],
        head: Option<&str>,
    ) -> KmsResult<()> {
        for record in records {
            self.append_audit(record)?;
        }
        match head {
            Some(head) => self.set_meta(AUDIT_HEAD_META, head),
            None => Ok(()),
        }
    }
    /// Chains a batch onto the trail and appends it as one durable change: `build` is handed
    /// the trail's tail and answers the records (and head) that follow it. Several processes or
    /// nodes appending at once each get the tail they append after. `hint` is the tail the
    /// caller believes current; the default builds on it (or on the stored last record), and
    /// fails, writing nothing, if another writer came first, so the caller retries with no
    /// hint. A shared backend holds the tail locked while `build` runs and never fails so.
    fn append_audit_chained(
        &self,
        hint: AuditTail,
        build: &dyn Fn(AuditTail) -> AuditBatch,
    ) -> KmsResult<AuditBatch> {
        let tail = match hint {
            Some(tail) => Some(tail),
            None => self.last_audit()?.map(|last| (last.seq, last.hash)),
        };
        let batch = build(tail);
        self.append_audit_batch(&batch.records, batch.head.as_deref())?;
        Ok(batch)
    }
    /// The last audit record, if any.
    fn last_audit(&self) -> KmsResult<Option<StoredAuditRecord>>;
    /// Up to `limit` audit records with `seq > after`, in order.
    fn audit_after(&self, after: u64, limit: usize) -> KmsResult<Vec<StoredAuditRecord>>;
}

/// Policy plugins attached to keys and accounts.
pub trait PluginStore: Send + Sync {
    /// Attaches a policy plugin, replacing the one of the same scope and name. A key scope must
    /// name an existing key (`NotFound` otherwise). Deleting the key removes its plugins.
    fn put_plugin(&self, plugin: &PluginAttachment) -> KmsResult<()>;
    /// Detaches a policy plugin; `NotFound` if there is none of that scope and name.
    fn delete_plugin(&self, scope: &PluginScope, name: &str) -> KmsResult<()>;
    /// The plugins attached to `scope`, sorted by name.
    fn plugins(&self, scope: &PluginScope) -> KmsResult<Vec<PluginAttachment>>;
}

/// Accounts, principals and access keys. Principal writes are compare-and-swap on
/// [`PrincipalRecord::revision`](super::PrincipalRecord::revision).
pub trait IdentityStore: Send + Sync {
    /// Adds an account; `AlreadyExists` if its id is taken.
    fn insert_account(&self, account: &AccountRecord) -> KmsResult<()>;
    /// Every account, by id.
    fn accounts(&self) -> KmsResult<Vec<AccountRecord>>;
    /// Adds a principal; `AlreadyExists` if its ARN is taken, `NotFound` if its account is not
    /// stored.
    fn insert_principal(&self, principal: &PrincipalRecord) -> KmsResult<()>;
    /// Replaces a principal's record (tags, policies) if the stored one still has
    /// `principal.revision`; `NotFound` if it does not exist.
    fn update_principal(&self, principal: &PrincipalRecord) -> KmsResult<Swap>;
    /// Deletes a principal and its access keys; `NotFound` if it does not exist.
    fn delete_principal(&self, arn: &str) -> KmsResult<()>;
    /// Reads a principal.
    fn principal(&self, arn: &str) -> KmsResult<Option<PrincipalRecord>>;
    /// The principals of `account`, by ARN.
    fn principals(&self, account: &str) -> KmsResult<Vec<PrincipalRecord>>;
    /// Adds an access key unless its principal holds `max_per_principal` already
    /// (`LimitExceeded`, decided atomically with the insert); `AlreadyExists` if its id is taken,
    /// `NotFound` if its principal is not stored.
    fn insert_access_key(&self, key: &AccessKeyRecord, max_per_principal: usize) -> KmsResult<()>;
    /// Changes an access key's status; `NotFound` if it does not exist.
    fn set_access_key_status(
        &self,
        access_key_id: &str,
        status: super::AccessKeyStatus,
    ) -> KmsResult<()>;
    /// Deletes an access key; `NotFound` if it does not exist.
    fn delete_access_key(&self, access_key_id: &str) -> KmsResult<()>;
    /// Reads an access key.
    fn access_key(&self, access_key_id: &str) -> KmsResult<Option<AccessKeyRecord>>;
    /// The access keys of a principal, by creation time.
    fn access_keys(&self, principal_arn: &str) -> KmsResult<Vec<AccessKeyRecord>>;
}

/// Grants on keys.
pub trait GrantStore: Send + Sync {
    /// Adds a grant; `NotFound` if its key does not exist in its region, `AlreadyExists` if its
    /// id is taken.
    /// Deleting the key removes its grants.
    fn insert_grant(&self, grant: &GrantRecord) -> KmsResult<()>;
    /// Deletes a grant; `NotFound` if it does not exist.
    fn delete_grant(&self, grant_id: &str) -> KmsResult<()>;
    /// Reads a grant.
    fn grant(&self, grant_id: &str) -> KmsResult<Option<GrantRecord>>;
    /// The grants of a key in a region, oldest first (ties by grant id).
    fn grants(&self, region: &str, key_id: &KeyId) -> KmsResult<Vec<GrantRecord>>;
    /// The grants `principal` may retire (as their retiring principal), oldest first.
    fn retirable_grants(&self, principal: &str) -> KmsResult<Vec<GrantRecord>>;
}

/// The error for a principal that already holds its most access keys.
pub(super) fn too_many_access_keys(arn: &str, max: usize) -> KmsError {
    KmsError::LimitExceeded(format!(
        "A principal holds at most {max} access keys; '{arn}' does"
    ))
}

/// The meta entry that holds the audit trail's anchored head.
pub const AUDIT_HEAD_META: &str = "audit_head";

/// The error for a plugin attachment that does not exist.
pub(super) fn missing_plugin(scope: &PluginScope, name: &str) -> KmsError {
    KmsError::NotFound(Missing::Plugin {
        scope: scope.as_stored(),
        name: name.into(),
    })
}

/// Refuses a version whose key id is not the record's: it would land under another key.
pub(super) fn check_same_key(key: &KeyRecord, version: &SealedVersion) -> KmsResult<()> {
    if key.key_id == version.key_id {
        Ok(())
    } else {
        Err(KmsError::Internal(format!(
            "A version of key '{}' cannot be stored under key '{}'",
            version.key_id, key.key_id
        )))
    }
}
