//! The hot path's records in memory: a [`Store`] in front of another that remembers what
//! requests read (key records, aliases, principals, access keys, grants, policy plugins), so that
//! a request reads nothing from disk once its records are known. Key material versions are kept
//! too (sealed, as the store holds them): an Encrypt names its version's material id.
//!
//! Every change made through the cache empties it before the change returns, so this process
//! sees its own changes at once. Changes made by another process (a `kms` command beside
//! `kms serve`, another node of a cluster) move the store's [generation](MetaStore::generation),
//! which a watcher thread reads every [`refresh`](CachedStore::with_refresh) interval, and at
//! once when the store's [change feed](MetaStore::change_feed) (PostgreSQL's `LISTEN`) tells of
//! a commit: such changes are seen within that interval, usually within milliseconds. Audit records and key usage pass straight through; they are written,
//! never read on the hot path. Everything that reaches the store behind is a blocking
//! [section](kms_core::blocking): a hit is not.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use kms_core::blocking::section;
use kms_core::error::KmsResult;
use kms_core::types::KeyId;

use super::custom_key_store::{CustomKeyStoreRecord, CustomKeyStoreStore};
use super::identity::{
    AccessKeyRecord, AccessKeyStatus, AccountRecord, GrantRecord, PrincipalRecord,
};
use super::key_usage::{KeyLastUse, KeyUsageStore};
use super::store::{
    AliasRecord, AliasStore, AuditBatch, AuditStore, AuditTail, ChangeFeed, GrantStore,
    IdentityStore, KeyRecord, KeyStore, MetaStore, PluginAttachment, PluginScope, PluginStore,
    SealedVersion, Store, StoredAuditRecord, Swap,
};

/// How often the watcher reads the store's generation unless told otherwise: the bound on how
/// long another process's change (a key disabled, an access key deactivated) takes to reach this
/// one.
pub const DEFAULT_REFRESH: Duration = Duration::from_millis(100);

/// Entries each cached kind holds at most (see [`Bounded`]).
const CAPACITY: usize = 16_384;

/// A map that holds at most about `2 × capacity` entries: when the young half fills, it becomes
/// the old half and the previous old half is dropped; a hit in the old half moves back to the
/// young one. What is in use stays; what is not ages out, with no bookkeeping per read.
struct Bounded<K, V> {
    young: HashMap<K, V>,
    old: HashMap<K, V>,
    capacity: usize,
}

impl<K: Hash + Eq, V: Clone> Bounded<K, V> {
    fn new(capacity: usize) -> Self {
        Bounded {
            young: HashMap::new(),
            old: HashMap::new(),
            capacity,
        }
    }

    fn get(&mut self, key: &K) -> Option<V> {
        if let Some(value) = self.young.get(key) {
            return Some(value.clone());
        }
        let (key, value) = self.old.remove_entry(key)?;
        let found = value.clone();
        self.insert(key, value);
        Some(found)
    }

    fn insert(&mut self, key: K, value: V) {
        if self.young.len() >= self.capacity {
            self.old = std::mem::take(&mut self.young);
        }
        self.young.insert(key, value);
    }

    fn clear(&mut self) {
        self.young.clear();
        self.old.clear();
    }

    fn len(&self) -> usize {
        self.young.len() + self.old.len()
    }
}

/// The cached records, each kind in its own map.
struct Maps {
    keys: Bounded<(String, KeyId), Option<KeyRecord>>,
    versions: Bounded<(KeyId, u32), Option<SealedVersion>>,
    aliases: Bounded<(String, String), Option<AliasRecord>>,
    principals: Bounded<String, Option<PrincipalRecord>>,
    access_keys: Bounded<String, Option<AccessKeyRecord>>,
    grants: Bounded<(String, KeyId), Arc<[GrantRecord]>>,
    plugins: Bounded<PluginScope, Arc<[PluginAttachment]>>,
    custom_key_stores: Bounded<(String, String), Option<CustomKeyStoreRecord>>,
}

impl Maps {
    fn new(capacity: usize) -> Self {
        Maps {
            keys: Bounded::new(capacity),
            versions: Bounded::new(capacity),
            aliases: Bounded::new(capacity),
            principals: Bounded::new(capacity),
            access_keys: Bounded::new(capacity),
            grants: Bounded::new(capacity),
            plugins: Bounded::new(capacity),
            custom_key_stores: Bounded::new(capacity),
        }
    }

    fn clear(&mut self) {
        self.keys.clear();
        self.versions.clear();
        self.aliases.clear();
        self.principals.clear();
        self.access_keys.clear();
        self.grants.clear();
        self.plugins.clear();
        self.custom_key_stores.clear();
    }

    fn len(&self) -> usize {
        self.keys.len()
            + self.versions.len()
            + self.aliases.len()
            + self.principals.len()
            + self.access_keys.len()
            + self.grants.len()
            + self.plugins.len()
            + self.custom_key_stores.len()
    }
}

/// What the cache and its watcher share.
struct Shared {
    inner: Box<dyn Store>,
    maps: Mutex<Maps>,
    /// Moves on every time the maps are emptied. A read that missed remembers its answer only if
    /// this did not move while it read the store, so an answer read before a change is never
    /// kept after it.
    epoch: AtomicU64,
    /// The store's generation when the watcher last looked.
    seen: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
    /// Set when no watcher could be started: then nothing is kept, since another process's
    /// change would never be seen.
    bypass: AtomicBool,
}

impl Shared {
    fn maps(&self) -> MutexGuard<'_, Maps> {
        // The maps are only ever added to or emptied, never left half-changed.
        self.maps.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Empties the cache: everything is read from the store again.
    fn invalidate(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.maps().clear();
    }

    /// Reads the store's generation and empties the cache if it moved.
    fn refresh(&self) -> KmsResult<()> {
        if let Some(generation) = self.inner.generation()?
            && self.seen.swap(generation, Ordering::AcqRel) != generation
        {
            self.invalidate();
        }
        Ok(())
    }

    fn cached<K, V>(
        &self,
        map: impl Fn(&mut Maps) -> &mut Bounded<K, V>,
        key: K,
        load: impl FnOnce() -> KmsResult<V>,
    ) -> KmsResult<V>
    where
        K: Hash + Eq,
        V: Clone,
    {
        if self.bypass.load(Ordering::Relaxed) {
            return section(load);
        }
        if let Some(hit) = map(&mut self.maps()).get(&key) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(hit);
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let epoch = self.epoch.load(Ordering::Acquire);
        let value = section(load)?;
        let mut maps = self.maps();
        // Checked under the lock that `invalidate` empties the maps under: an emptying that
        // began after this read has not happened yet, and will remove what is put here.
        if self.epoch.load(Ordering::Acquire) == epoch {
            map(&mut maps).insert(key, value.clone());
        }
        Ok(value)
    }

    /// Runs a change, then empties the cache whatever its outcome: a failed or stale write may
    /// mean another process changed the record, which the caller will read again.
    fn changed<T>(&self, write: impl FnOnce(&dyn Store) -> KmsResult<T>) -> KmsResult<T> {
        let out = section(|| write(self.inner.as_ref()));
        self.invalidate();
        out
    }
}

/// Counters of a [`CachedStore`], for benchmarks and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Reads answered from memory.
    pub hits: u64,
    /// Reads that went to the store.
    pub misses: u64,
    /// Times the cache was emptied (by a change here, or by another process's).
    pub invalidations: u64,
    /// Records held now.
    pub entries: usize,
}

/// A [`Store`] that remembers the hot path's records; see the [module docs](self).
///
/// ```
/// use kms_vault::{CachedStore, IdentityStore, MemoryStore};
/// let store = CachedStore::new(Box::new(MemoryStore::new()));
/// assert!(store.access_key("AKIAEXAMPLE").unwrap().is_none());
/// assert!(store.access_key("AKIAEXAMPLE").unwrap().is_none());
/// assert_eq!((store.stats().misses, store.stats().hits), (1, 1));
/// ```
///
/// Clones share one cache and one store.
#[derive(Clone)]
pub struct CachedStore {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for CachedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedStore")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl CachedStore {
    /// A cache in front of `inner`, watching its generation every [`DEFAULT_REFRESH`].
    pub fn new(inner: Box<dyn Store>) -> Self {
        Self::with_refresh(inner, DEFAULT_REFRESH)
    }

    /// A cache in front of `inner` whose watcher reads the store's generation every `refresh`.
    /// A store with no generation (one only this process reaches) gets no watcher.
    pub fn with_refresh(inner: Box<dyn Store>, refresh: Duration) -> Self {
        // A store whose generation cannot be read now is watched all the same.
        let seen = inner.generation();
        let watched = !matches!(seen, Ok(None));
        let seen = seen.ok().flatten();
        let shared = Arc::new(Shared {
            inner,
            maps: Mutex::new(Maps::new(CAPACITY)),
            epoch: AtomicU64::new(0),
            seen: AtomicU64::new(seen.unwrap_or(0)),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            bypass: AtomicBool::new(false),
        });
        if watched && watch(Arc::downgrade(&shared), refresh).is_err() {
            shared.bypass.store(true, Ordering::Relaxed);
        }
        CachedStore { shared }
    }

    /// Reads the store's generation now and forgets everything if another process changed the
    /// store; what the watcher does every interval.
    pub fn refresh(&self) -> KmsResult<()> {
        self.shared.refresh()
    }

    /// A number that moves on whenever the cache is emptied: caches built on top of this one
    /// (opened access-key secrets, say) keep an entry only while it stays the same.
    pub fn epoch(&self) -> u64 {
        self.shared.epoch.load(Ordering::Acquire)
    }

    /// Hits, misses, emptyings and entries so far.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.shared.hits.load(Ordering::Relaxed),
            misses: self.shared.misses.load(Ordering::Relaxed),
            invalidations: self.shared.epoch.load(Ordering::Relaxed),
            entries: self.shared.maps().len(),
        }
    }

    /// The policy plugins of `scope`, shared rather than copied (a component is large).
    pub fn plugins_shared(&self, scope: &PluginScope) -> KmsResult<Arc<[PluginAttachment]>> {
        self.shared.cached(
            |m| &mut m.plugins,
            scope.clone(),
            || Ok(self.shared.inner.plugins(scope)?.into()),
        )
    }

    /// The grants of a key, shared rather than copied.
    pub fn grants_shared(&self, region: &str, key_id: &KeyId) -> KmsResult<Arc<[GrantRecord]>> {
        self.shared.cached(
            |m| &mut m.grants,
            (region.to_string(), *key_id),
            || Ok(self.shared.inner.grants(region, key_id)?.into()),
        )
    }

    fn inner(&self) -> &dyn Store {
        self.shared.inner.as_ref()
    }
}

/// Reads the generation of the store behind `shared` every `refresh`, and at once when the
/// store's [change feed](MetaStore::change_feed) tells of a change, until the cache is dropped.
fn watch(shared: Weak<Shared>, refresh: Duration) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("kms-cache-watch".into())
        .spawn(move || {
            let mut feed: Option<Box<dyn ChangeFeed>> = None;
            let mut feed_wanted = true;
            loop {
                if feed.is_none() && feed_wanted {
                    let Some(shared) = shared.upgrade() else {
                        return;
                    };
                    match shared.inner.change_feed() {
                        Ok(Some(opened)) => feed = Some(opened),
                        // A store without a feed is only polled.
                        Ok(None) => feed_wanted = false,
                        // Opened again after the next interval; polling covers the gap.
                        Err(_) => {}
                    }
                }
                match feed.as_mut() {
                    Some(open) => {
                        if open.wait(refresh).is_err() {
                            feed = None;
                            std::thread::sleep(refresh);
                        }
                    }
                    None => std::thread::sleep(refresh),
                }
                let Some(shared) = shared.upgrade() else {
                    return;
                };
                // A store that cannot be read now is read again next time; meanwhile nothing
                // is kept that the missed change could have made stale.
                if shared.refresh().is_err() {
                    shared.invalidate();
                }
            }
        })
        .map(drop)
}

impl MetaStore for CachedStore {
    fn meta(&self, name: &str) -> KmsResult<Option<String>> {
        section(|| self.inner().meta(name))
    }

    fn generation(&self) -> KmsResult<Option<u64>> {
        section(|| self.inner().generation())
    }

    fn set_meta(&self, name: &str, value: &str) -> KmsResult<()> {
        section(|| self.inner().set_meta(name, value))
    }

    fn change_feed(&self) -> KmsResult<Option<Box<dyn ChangeFeed>>> {
        section(|| self.inner().change_feed())
    }
}

impl KeyStore for CachedStore {
    fn insert_key(&self, key: &KeyRecord, first_version: Option<&SealedVersion>) -> KmsResult<()> {
        self.shared.changed(|s| s.insert_key(key, first_version))
    }

    fn insert_replica(&self, key: &KeyRecord) -> KmsResult<()> {
        self.shared.changed(|s| s.insert_replica(key))
    }

    fn key(&self, region: &str, key_id: &KeyId) -> KmsResult<Option<KeyRecord>> {
        self.shared.cached(
            |m| &mut m.keys,
            (region.to_string(), *key_id),
            || self.inner().key(region, key_id),
        )
    }

    fn related_keys(&self, key_id: &KeyId) -> KmsResult<Vec<KeyRecord>> {
        section(|| self.inner().related_keys(key_id))
    }

    fn key_count(&self, region: &str) -> KmsResult<u64> {
        section(|| self.inner().key_count(region))
    }

    fn keys_after(
        &self,
        region: &str,
        after: Option<&KeyId>,
        limit: usize,
    ) -> KmsResult<Vec<KeyRecord>> {
        section(|| self.inner().keys_after(region, after, limit))
    }

    fn update_key(&self, key: &KeyRecord) -> KmsResult<Swap> {
        self.shared.changed(|s| s.update_key(key))
    }

    fn update_keys(&self, keys: &[KeyRecord]) -> KmsResult<Swap> {
        self.shared.changed(|s| s.update_keys(keys))
    }

    fn add_version(&self, key: &KeyRecord, version: &SealedVersion) -> KmsResult<Swap> {
        self.shared.changed(|s| s.add_version(key, version))
    }

    fn replace_versions(&self, key: &KeyRecord, versions: &[SealedVersion]) -> KmsResult<Swap> {
        self.shared.changed(|s| s.replace_versions(key, versions))
    }

    fn version(&self, key_id: &KeyId, version: u32) -> KmsResult<Option<SealedVersion>> {
        self.shared.cached(
            |m| &mut m.versions,
            (*key_id, version),
            || self.inner().version(key_id, version),
        )
    }

    fn versions(&self, key_id: &KeyId) -> KmsResult<Vec<SealedVersion>> {
        section(|| self.inner().versions(key_id))
    }

    fn delete_key(&self, key: &KeyRecord) -> KmsResult<Swap> {
        self.shared.changed(|s| s.delete_key(key))
    }

    fn keys_due(&self, now: u64) -> KmsResult<Vec<(String, KeyId)>> {
        section(|| self.inner().keys_due(now))
    }
}

impl AliasStore for CachedStore {
    fn insert_alias(&self, alias: &AliasRecord) -> KmsResult<()> {
        self.shared.changed(|s| s.insert_alias(alias))
    }

    fn update_alias(&self, alias: &AliasRecord) -> KmsResult<()> {
        self.shared.changed(|s| s.update_alias(alias))
    }

    fn delete_alias(&self, region: &str, name: &str) -> KmsResult<()> {
        self.shared.changed(|s| s.delete_alias(region, name))
    }

    fn alias(&self, region: &str, name: &str) -> KmsResult<Option<AliasRecord>> {
        self.shared.cached(
            |m| &mut m.aliases,
            (region.to_string(), name.to_string()),
            || self.inner().alias(region, name),
        )
    }

    fn aliases_after(
        &self,
        region: &str,
        after: Option<&str>,
        key_id: Option<&KeyId>,
        limit: usize,
    ) -> KmsResult<Vec<AliasRecord>> {
        section(|| self.inner().aliases_after(region, after, key_id, limit))
    }
}

impl AuditStore for CachedStore {
    fn append_audit(&self, record: &StoredAuditRecord) -> KmsResult<()> {
        section(|| self.inner().append_audit(record))
    }

    fn append_audit_anchored(&self, record: &StoredAuditRecord, head: &str) -> KmsResult<()> {
        section(|| self.inner().append_audit_anchored(record, head))
    }

    fn append_audit_batch(
        &self,
        records: &[StoredAuditRecord],
        head: Option<&str>,
    ) -> KmsResult<()> {
        section(|| self.inner().append_audit_batch(records, head))
    }

    fn append_audit_chained(
        &self,
        hint: AuditTail,
        build: &dyn Fn(AuditTail) -> AuditBatch,
    ) -> KmsResult<AuditBatch> {
        section(|| self.inner().append_audit_chained(hint, build))
    }

    fn last_audit(&self) -> KmsResult<Option<StoredAuditRecord>> {
        section(|| self.inner().last_audit())
    }

    fn audit_after(&self, after: u64, limit: usize) -> KmsResult<Vec<StoredAuditRecord>> {
        section(|| self.inner().audit_after(after, limit))
    }
}

impl CustomKeyStoreStore for CachedStore {
    fn insert_custom_key_store(&self, store: &CustomKeyStoreRecord) -> KmsResult<()> {
        self.shared.changed(|s| s.insert_custom_key_store(store))
    }

    fn custom_key_store(&self, region: &str, id: &str) -> KmsResult<Option<CustomKeyStoreRecord>> {
        self.shared.cached(
            |m| &mut m.custom_key_stores,
            (region.to_string(), id.to_string()),
            || self.inner().custom_key_store(region, id),
        )
    }

    fn custom_key_stores(&self, region: &str) -> KmsResult<Vec<CustomKeyStoreRecord>> {
        section(|| self.inner().custom_key_stores(region))
    }

    fn update_custom_key_store(&self, store: &CustomKeyStoreRecord) -> KmsResult<Swap> {
        self.shared.changed(|s| s.update_custom_key_store(store))
    }

    fn delete_custom_key_store(&self, store: &CustomKeyStoreRecord) -> KmsResult<Swap> {
        self.shared.changed(|s| s.delete_custom_key_store(store))
    }
}

impl PluginStore for CachedStore {
    fn put_plugin(&self, plugin: &PluginAttachment) -> KmsResult<()> {
        self.shared.changed(|s| s.put_plugin(plugin))
    }

    fn delete_plugin(&self, scope: &PluginScope, name: &str) -> KmsResult<()> {
        self.shared.changed(|s| s.delete_plugin(scope, name))
    }

    fn plugins(&self, scope: &PluginScope) -> KmsResult<Vec<PluginAttachment>> {
        Ok(self.plugins_shared(scope)?.to_vec())
    }
}

impl IdentityStore for CachedStore {
    fn insert_account(&self, account: &AccountRecord) -> KmsResult<()> {
        self.shared.changed(|s| s.insert_account(account))
    }

    fn accounts(&self) -> KmsResult<Vec<AccountRecord>> {
        section(|| self.inner().accounts())
    }

    fn insert_principal(&self, principal: &PrincipalRecord) -> KmsResult<()> {
        self.shared.changed(|s| s.insert_principal(principal))
    }

    fn update_principal(&self, principal: &PrincipalRecord) -> KmsResult<Swap> {
        self.shared.changed(|s| s.update_principal(principal))
    }

    fn delete_principal(&self, arn: &str) -> KmsResult<()> {
        self.shared.changed(|s| s.delete_principal(arn))
    }

    fn principal(&self, arn: &str) -> KmsResult<Option<PrincipalRecord>> {
        self.shared.cached(
            |m| &mut m.principals,
            arn.to_string(),
            || self.inner().principal(arn),
        )
    }

    fn principals(&self, account: &str) -> KmsResult<Vec<PrincipalRecord>> {
        section(|| self.inner().principals(account))
    }

    fn insert_access_key(&self, key: &AccessKeyRecord, max_per_principal: usize) -> KmsResult<()> {
        self.shared
            .changed(|s| s.insert_access_key(key, max_per_principal))
    }

    fn set_access_key_status(&self, access_key_id: &str, status: AccessKeyStatus) -> KmsResult<()> {
        self.shared
            .changed(|s| s.set_access_key_status(access_key_id, status))
    }

    fn delete_access_key(&self, access_key_id: &str) -> KmsResult<()> {
        self.shared.changed(|s| s.delete_access_key(access_key_id))
    }

    fn access_key(&self, access_key_id: &str) -> KmsResult<Option<AccessKeyRecord>> {
        self.shared.cached(
            |m| &mut m.access_keys,
            access_key_id.to_string(),
            || self.inner().access_key(access_key_id),
        )
    }

    fn access_keys(&self, principal_arn: &str) -> KmsResult<Vec<AccessKeyRecord>> {
        section(|| self.inner().access_keys(principal_arn))
    }
}

impl GrantStore for CachedStore {
    fn insert_grant(&self, grant: &GrantRecord) -> KmsResult<()> {
        self.shared.changed(|s| s.insert_grant(grant))
    }

    fn delete_grant(&self, grant_id: &str) -> KmsResult<()> {
        self.shared.changed(|s| s.delete_grant(grant_id))
    }

    fn grant(&self, grant_id: &str) -> KmsResult<Option<GrantRecord>> {
        section(|| self.inner().grant(grant_id))
    }

    fn grants(&self, region: &str, key_id: &KeyId) -> KmsResult<Vec<GrantRecord>> {
        Ok(self.grants_shared(region, key_id)?.to_vec())
    }

    fn retirable_grants(&self, principal: &str) -> KmsResult<Vec<GrantRecord>> {
        section(|| self.inner().retirable_grants(principal))
    }
}

impl KeyUsageStore for CachedStore {
    fn record_key_uses(&self, uses: &[KeyLastUse]) -> KmsResult<()> {
        section(|| self.inner().record_key_uses(uses))
    }

    fn key_last_use(&self, region: &str, key_id: &KeyId) -> KmsResult<Option<KeyLastUse>> {
        section(|| self.inner().key_last_use(region, key_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::{R, access_key, account, key_record, principal, sealed_version};
    use crate::{MemoryStore, SqliteStore};
    use kms_core::types::KeyState;

    fn run_over_file(test: fn(&dyn Store)) {
        let dir = tempfile::tempdir().unwrap();
        let file = SqliteStore::open(&dir.path().join("vault.db")).unwrap();
        test(&CachedStore::new(Box::new(file)));
    }

    fn run_over_memory(test: fn(&dyn Store)) {
        test(&CachedStore::new(Box::new(MemoryStore::new())));
    }

    /// The cache keeps every promise of the store it stands in front of.
    mod over_a_file {
        crate::conformance::store_conformance_tests!(super::run_over_file);
    }

    mod over_memory {
        crate::conformance::store_conformance_tests!(super::run_over_memory);
    }

    /// Two stores on one file, as `kms serve` and a `kms` command are; the first one cached,
    /// with a watcher too slow to matter so that the test calls `refresh` itself.
    fn two_processes() -> (tempfile::TempDir, CachedStore, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vault.db");
        let cached = CachedStore::with_refresh(
            Box::new(SqliteStore::open(&path).unwrap()),
            Duration::from_secs(3600),
        );
        let other = SqliteStore::open(&path).unwrap();
        (dir, cached, other)
    }

    #[test]
    fn reads_are_answered_from_memory_once_known() {
        let (_dir, cached, _other) = two_processes();
        let id = KeyId::random();
        cached
            .insert_key(&key_record(id), Some(&sealed_version(id, 1)))
            .unwrap();
        for _ in 0..3 {
            assert_eq!(cached.key(R, &id).unwrap(), Some(key_record(id)));
            // An Encrypt names its version's material id.
            assert_eq!(cached.version(&id, 1).unwrap(), Some(sealed_version(id, 1)));
        }
        let stats = cached.stats();
        assert_eq!((stats.misses, stats.hits), (2, 4), "{stats:?}");
    }

    #[test]
    fn a_change_made_here_is_seen_at_once() {
        let (_dir, cached, _other) = two_processes();
        let id = KeyId::random();
        cached
            .insert_key(&key_record(id), Some(&sealed_version(id, 1)))
            .unwrap();
        let key = cached.key(R, &id).unwrap().unwrap();
        let disabled = KeyRecord {
            state: KeyState::Disabled,
            ..key
        };
        assert_eq!(cached.update_key(&disabled).unwrap(), Swap::Done);
        assert_eq!(
            cached.key(R, &id).unwrap().unwrap().state,
            KeyState::Disabled
        );
    }

    #[test]
    fn another_processs_change_is_seen_after_a_refresh_and_not_lost_before() {
        let (_dir, cached, other) = two_processes();
        let id = KeyId::random();
        other
            .insert_key(&key_record(id), Some(&sealed_version(id, 1)))
            .unwrap();
        let key = cached.key(R, &id).unwrap().unwrap();
        assert_eq!(key.state, KeyState::Enabled);
        let disabled = KeyRecord {
            state: KeyState::Disabled,
            ..key.clone()
        };
        assert_eq!(other.update_key(&disabled).unwrap(), Swap::Done);
        // Until the generation is read, the remembered record answers...
        assert_eq!(
            cached.key(R, &id).unwrap().unwrap().state,
            KeyState::Enabled
        );
        // ...but a write over it is refused as stale and empties the cache, so a
        // read-modify-write never overwrites what the other process did.
        assert_eq!(cached.update_key(&key).unwrap(), Swap::Stale);
        assert_eq!(
            cached.key(R, &id).unwrap().unwrap().state,
            KeyState::Disabled
        );

        let enabled = cached.key(R, &id).unwrap().unwrap();
        let enabled = KeyRecord {
            state: KeyState::Enabled,
            ..enabled
        };
        assert_eq!(other.update_key(&enabled).unwrap(), Swap::Done);
        cached.refresh().unwrap();
        assert_eq!(
            cached.key(R, &id).unwrap().unwrap().state,
            KeyState::Enabled
        );
    }

    #[test]
    fn the_watcher_sees_another_processs_change_within_its_interval() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vault.db");
        let refresh = Duration::from_millis(20);
        let cached =
            CachedStore::with_refresh(Box::new(SqliteStore::open(&path).unwrap()), refresh);
        let other = SqliteStore::open(&path).unwrap();
        let bob = principal("111122223333", "bob");
        other.insert_account(&account("111122223333")).unwrap();
        other.insert_principal(&bob).unwrap();
        other
            .insert_access_key(&access_key("AKIAWATCHED", &bob.arn, 0), 2)
            .unwrap();
        assert_eq!(
            cached.access_key("AKIAWATCHED").unwrap().unwrap().status,
            AccessKeyStatus::Active
        );
        other
            .set_access_key_status("AKIAWATCHED", AccessKeyStatus::Inactive)
            .unwrap();
        // Not a timing assertion: the change must arrive, however slowly this machine runs.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while cached.access_key("AKIAWATCHED").unwrap().unwrap().status != AccessKeyStatus::Inactive
        {
            assert!(
                std::time::Instant::now() < deadline,
                "the change never arrived"
            );
            std::thread::sleep(refresh / 4);
        }
    }

    #[test]
    fn an_answer_read_before_an_emptying_is_not_kept_after_it() {
        let (_dir, cached, _other) = two_processes();
        let id = KeyId::random();
        let shared = &cached.shared;
        // A read that misses, during which the cache is emptied (a change, here or elsewhere).
        let read = shared
            .cached(
                |m| &mut m.keys,
                (R.to_string(), id),
                || {
                    shared.invalidate();
                    Ok(Some(key_record(id)))
                },
            )
            .unwrap();
        assert_eq!(read, Some(key_record(id)));
        assert_eq!(cached.stats().entries, 0, "a stale answer was kept");
    }

    #[test]
    fn a_store_without_a_generation_is_not_watched() {
        let cached = CachedStore::new(Box::new(MemoryStore::new()));
        assert_eq!(cached.generation().unwrap(), None);
        cached.refresh().unwrap();
        assert_eq!(cached.stats().invalidations, 0);
    }

    #[test]
    fn bounded_maps_keep_what_is_used_and_drop_the_rest() {
        let mut map = Bounded::new(2);
        map.insert(1, "one");
        map.insert(2, "two");
        map.insert(3, "three"); // 1 and 2 age into the old half
        assert_eq!(map.get(&1), Some("one")); // used: back into the young half
        map.insert(4, "four"); // the young half {3, 1} fills and ages; 2 is dropped
        map.insert(5, "five");
        assert_eq!(map.get(&2), None);
        assert_eq!(map.get(&1), Some("one"));
        assert!(map.len() <= 4);
        for i in 0..1000 {
            map.insert(i, "many");
        }
        assert!(map.len() <= 4, "{} entries", map.len());
    }
}
