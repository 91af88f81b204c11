//! A test-only, in-memory [`Store`]. Clones share the same data, so a test can "reopen" a vault by
//! handing a clone to a new [`Vault`](super::Vault). Nothing survives the process. Its tests hold
//! the conformance suite (`conformance.rs`) too, like every backend.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::custom_key_store::{self as cks, CustomKeyStoreRecord, CustomKeyStoreStore};
use super::identity::{
    AccessKeyRecord, AccessKeyStatus, AccountRecord, GrantRecord, PrincipalRecord,
};
use super::key_usage::{KeyLastUse, KeyUsageStore};
use super::store::{
    self, AliasRecord, AliasStore, AuditStore, GrantStore, IdentityStore, KeyRecord, KeyStore,
    MetaStore, PluginAttachment, PluginScope, PluginStore, SealedVersion, StoredAuditRecord, Swap,
    check_same_key,
};
use kms_core::error::{KmsError, KmsResult};
use kms_core::types::KeyId;

/// Everything the store holds. One lock over all of it makes every method atomic.
#[derive(Default)]
struct Data {
    meta: BTreeMap<String, String>,
    keys: BTreeMap<(String, KeyId), KeyRecord>,
    versions: BTreeMap<(KeyId, u32), SealedVersion>,
    aliases: BTreeMap<(String, String), AliasRecord>,
    audit: Vec<StoredAuditRecord>,
    plugins: BTreeMap<(PluginScope, String), PluginAttachment>,
    accounts: BTreeMap<String, AccountRecord>,
    principals: BTreeMap<String, PrincipalRecord>,
    access_keys: BTreeMap<String, AccessKeyRecord>,
    grants: BTreeMap<String, GrantRecord>,
    key_uses: BTreeMap<(String, KeyId), KeyLastUse>,
    custom_key_stores: BTreeMap<(String, String), CustomKeyStoreRecord>,
}

fn oldest_first(mut grants: Vec<GrantRecord>) -> Vec<GrantRecord> {
    grants.sort_by(|a, b| (a.created_at, &a.grant_id).cmp(&(b.created_at, &b.grant_id)));
    grants
}

/// An in-memory vault backend, for tests only: nothing is persisted and nothing is sealed beyond
/// what the [`Vault`](super::Vault) seals. Clones share one set of data.
///
/// ```
/// use kms_vault::{MemoryStore, MetaStore};
/// let store = MemoryStore::new();
/// let reopened = store.clone();
/// store.set_meta("region", "eu-west-1").unwrap();
/// assert_eq!(reopened.meta("region").unwrap().as_deref(), Some("eu-west-1"));
/// ```
#[derive(Clone, Default)]
pub struct MemoryStore(Arc<Mutex<Data>>);

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MemoryStore")
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn data(&self) -> MutexGuard<'_, Data> {
        // Every method checks before it changes anything, so a panic cannot leave data half-written.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Whether a compare-and-swap write of `key` is stale: the stored record has moved past the
/// revision `key` was read at. `NotFound` if the key is gone.
fn stale(data: &Data, key: &KeyRecord) -> KmsResult<bool> {
    match data.keys.get(&at(key)) {
        None => Err(KmsError::key_not_found(key.key_id)),
        Some(stored) => Ok(stored.revision != key.revision),
    }
}

/// Where a key record is kept: its region and id.
fn at(key: &KeyRecord) -> (String, KeyId) {
    (key.region.clone(), key.key_id)
}

/// Whether any region holds a key with this id (related multi-Region keys share one).
fn id_in_use(data: &Data, key_id: &KeyId) -> bool {
    data.keys.keys().any(|(_, id)| id == key_id)
}

/// `key` as stored by a write that applied: one revision on.
fn next_revision(key: &KeyRecord) -> KeyRecord {
    KeyRecord {
        revision: key.revision + 1,
        ..key.clone()
    }
}

impl MetaStore for MemoryStore {
    fn meta(&self, name: &str) -> KmsResult<Option<String>> {
        Ok(self.data().meta.get(name).cloned())
    }

    fn set_meta(&self, name: &str, value: &str) -> KmsResult<()> {
        self.data().meta.insert(name.into(), value.into());
        Ok(())
    }
}

impl KeyStore for MemoryStore {
    fn insert_key(&self, key: &KeyRecord, first_version: Option<&SealedVersion>) -> KmsResult<()> {
        if let Some(first_version) = first_version {
            check_same_key(key, first_version)?;
        }
        let mut data = self.data();
        if id_in_use(&data, &key.key_id) {
            return Err(KmsError::AlreadyExists(format!(
                "Key '{}' already exists",
                key.key_id
            )));
        }
        data.keys.insert(at(key), key.clone());
        if let Some(first_version) = first_version {
            data.versions
                .insert((key.key_id, first_version.version), first_version.clone());
        }
        Ok(())
    }

    fn insert_replica(&self, key: &KeyRecord) -> KmsResult<()> {
        let mut data = self.data();
        if data.keys.contains_key(&at(key)) {
            return Err(KmsError::AlreadyExists(format!(
                "Key '{}' already exists in {}",
                key.key_id, key.region
            )));
        }
        if !id_in_use(&data, &key.key_id) {
            return Err(KmsError::key_not_found(key.key_id));
        }
        data.keys.insert(at(key), key.clone());
        Ok(())
    }

    fn key(&self, region: &str, key_id: &KeyId) -> KmsResult<Option<KeyRecord>> {
        Ok(self
            .data()
            .keys
            .get(&(region.to_string(), *key_id))
            .cloned())
    }

    fn related_keys(&self, key_id: &KeyId) -> KmsResult<Vec<KeyRecord>> {
        Ok(self
            .data()
            .keys
            .values()
            .filter(|r| r.key_id == *key_id)
            .cloned()
            .collect())
    }

    fn key_count(&self, region: &str) -> KmsResult<u64> {
        Ok(self.data().keys.keys().filter(|(r, _)| r == region).count() as u64)
    }

    fn keys_after(
        &self,
        region: &str,
        after: Option<&KeyId>,
        limit: usize,
    ) -> KmsResult<Vec<KeyRecord>> {
        let data = self.data();
        Ok(data
            .keys
            .iter()
            .filter(|((r, id), _)| r == region && after.is_none_or(|a| id > a))
            .take(limit)
            .map(|(_, r)| r.clone())
            .collect())
    }

    fn update_key(&self, key: &KeyRecord) -> KmsResult<Swap> {
        let mut data = self.data();
        if stale(&data, key)? {
            return Ok(Swap::Stale);
        }
        data.keys.insert(at(key), next_revision(key));
        Ok(Swap::Done)
    }

    fn update_keys(&self, keys: &[KeyRecord]) -> KmsResult<Swap> {
        let mut data = self.data();
        for key in keys {
            if stale(&data, key)? {
                return Ok(Swap::Stale);
            }
        }
        for key in keys {
            data.keys.insert(at(key), next_revision(key));
        }
        Ok(Swap::Done)
    }

    fn add_version(&self, key: &KeyRecord, version: &SealedVersion) -> KmsResult<Swap> {
        check_same_key(key, version)?;
        let mut data = self.data();
        if stale(&data, key)? {
            return Ok(Swap::Stale);
        }
        if data.versions.contains_key(&(key.key_id, version.version)) {
            return Err(KmsError::Internal(format!(
                "Key '{}' already has version {}",
                key.key_id, version.version
            )));
        }
        data.keys.insert(at(key), next_revision(key));
        data.versions
            .insert((key.key_id, version.version), version.clone());
        Ok(Swap::Done)
    }

    fn replace_versions(&self, key: &KeyRecord, versions: &[SealedVersion]) -> KmsResult<Swap> {
        for version in versions {
            check_same_key(key, version)?;
        }
        let mut data = self.data();
        if stale(&data, key)? {
            return Ok(Swap::Stale);
        }
        data.keys.insert(at(key), next_revision(key));
        data.versions.retain(|(id, _), _| *id != key.key_id);
        for version in versions {
            data.versions
                .insert((key.key_id, version.version), version.clone());
        }
        Ok(Swap::Done)
    }

    fn version(&self, key_id: &KeyId, version: u32) -> KmsResult<Option<SealedVersion>> {
        Ok(self.data().versions.get(&(*key_id, version)).cloned())
    }

    fn versions(&self, key_id: &KeyId) -> KmsResult<Vec<SealedVersion>> {
        Ok(self
            .data()
            .versions
            .range((*key_id, 0)..=(*key_id, u32::MAX))
            .map(|(_, v)| v.clone())
            .collect())
    }

    fn delete_key(&self, key: &KeyRecord) -> KmsResult<Swap> {
        let key_id = &key.key_id;
        let mut data = self.data();
        if stale(&data, key)? {
            return Ok(Swap::Stale);
        }
        let region = &key.region;
        data.keys.remove(&at(key));
        data.aliases
            .retain(|(r, _), a| r != region || a.key_id != *key_id);
        data.grants
            .retain(|_, g| g.region != *region || g.key_id != *key_id);
        let scope = PluginScope::of_key(key);
        data.plugins.retain(|(s, _), _| *s != scope);
        // Material belongs to the key id, which related multi-Region keys share.
        if !id_in_use(&data, key_id) {
            data.versions.retain(|(id, _), _| id != key_id);
        }
        Ok(Swap::Done)
    }

    fn keys_due(&self, now: u64) -> KmsResult<Vec<(String, KeyId)>> {
        Ok(self
            .data()
            .keys
            .values()
            .filter(|r| r.due_at().is_some_and(|t| t <= now))
            .map(at)
            .collect())
    }
}

impl AliasStore for MemoryStore {
    fn insert_alias(&self, alias: &AliasRecord) -> KmsResult<()> {
        let mut data = self.data();
        let slot = (alias.region.clone(), alias.name.clone());
        if data.aliases.contains_key(&slot) {
            return Err(KmsError::AlreadyExists(format!(
                "An alias with the name {} already exists",
                alias.name
            )));
        }
        if !data
            .keys
            .contains_key(&(alias.region.clone(), alias.key_id))
        {
            return Err(KmsError::key_not_found(alias.key_id));
        }
        data.aliases.insert(slot, alias.clone());
        Ok(())
    }

    fn update_alias(&self, alias: &AliasRecord) -> KmsResult<()> {
        let mut data = self.data();
        let target_exists = data
            .keys
            .contains_key(&(alias.region.clone(), alias.key_id));
        let slot = data
            .aliases
            .get_mut(&(alias.region.clone(), alias.name.clone()))
            .ok_or_else(|| KmsError::alias_not_found(&alias.name))?;
        if !target_exists {
            return Err(KmsError::key_not_found(alias.key_id));
        }
        // The creation time is the alias's, not the caller's to change.
        slot.key_id = alias.key_id;
        slot.updated_at = alias.updated_at;
        Ok(())
    }

    fn delete_alias(&self, region: &str, name: &str) -> KmsResult<()> {
        self.data()
            .aliases
            .remove(&(region.to_string(), name.to_string()))
            .map(|_| ())
            .ok_or_else(|| KmsError::alias_not_found(name))
    }

    fn alias(&self, region: &str, name: &str) -> KmsResult<Option<AliasRecord>> {
        Ok(self
            .data()
            .aliases
            .get(&(region.to_string(), name.to_string()))
            .cloned())
    }

    fn aliases_after(
        &self,
        region: &str,
        after: Option<&str>,
        key_id: Option<&KeyId>,
        limit: usize,
    ) -> KmsResult<Vec<AliasRecord>> {
        Ok(self
            .data()
            .aliases
            .values()
            .filter(|a| a.region == region)
            .filter(|a| after.is_none_or(|after| a.name.as_str() > after))
            .filter(|a| key_id.is_none_or(|k| a.key_id == *k))
            .take(limit)
            .cloned()
            .collect())
    }
}

impl AuditStore for MemoryStore {
    fn append_audit(&self, record: &StoredAuditRecord) -> KmsResult<()> {
        let mut data = self.data();
        let last = data.audit.last().map_or(0, |r| r.seq);
        if record.seq != last + 1 {
            return Err(KmsError::Internal(format!(
                "Audit record {} does not follow {last}",
                record.seq
            )));
        }
        data.audit.push(record.clone());
        Ok(())
    }

    fn append_audit_batch(
        &self,
        records: &[StoredAuditRecord],
        head: Option<&str>,
    ) -> KmsResult<()> {
        let mut data = self.data();
        let last = data.audit.last().map_or(0, |r| r.seq);
        for (i, record) in records.iter().enumerate() {
            if record.seq != last + 1 + i as u64 {
                return Err(KmsError::Internal(format!(
                    "Audit record {} does not follow {}",
                    record.seq,
                    last + i as u64
                )));
            }
        }
        data.audit.extend_from_slice(records);
        if let Some(head) = head {
            data.meta
                .insert(store::AUDIT_HEAD_META.to_string(), head.to_string());
        }
        Ok(())
    }

    fn last_audit(&self) -> KmsResult<Option<StoredAuditRecord>> {
        Ok(self.data().audit.last().cloned())
    }

    fn audit_after(&self, after: u64, limit: usize) -> KmsResult<Vec<StoredAuditRecord>> {
        Ok(self
            .data()
            .audit
            .iter()
            .filter(|r| r.seq > after)
            .take(limit)
            .cloned()
            .collect())
    }
}

impl PluginStore for MemoryStore {
    fn put_plugin(&self, plugin: &PluginAttachment) -> KmsResult<()> {
        let mut data = self.data();
        if let PluginScope::Key { region, key_id } = &plugin.scope
            && !data.keys.contains_key(&(region.clone(), *key_id))
        {
            return Err(KmsError::key_not_found(key_id));
        }
        data.plugins
            .insert((plugin.scope.clone(), plugin.name.clone()), plugin.clone());
        Ok(())
    }

    fn delete_plugin(&self, scope: &PluginScope, name: &str) -> KmsResult<()> {
        self.data()
            .plugins
            .remove(&(scope.clone(), name.to_string()))
            .map(|_| ())
            .ok_or_else(|| store::missing_plugin(scope, name))
    }

    fn plugins(&self, scope: &PluginScope) -> KmsResult<Vec<PluginAttachment>> {
        Ok(self
            .data()
            .plugins
            .iter()
            .filter(|((s, _), _)| s == scope)
            .map(|(_, p)| p.clone())
            .collect())
    }
}

impl IdentityStore for MemoryStore {
    fn insert_account(&self, account: &AccountRecord) -> KmsResult<()> {
        let mut data = self.data();
        if data.accounts.contains_key(&account.account_id) {
            return Err(KmsError::AlreadyExists(format!(
                "Account {} already exists",
                account.account_id
            )));
        }
        data.accounts
            .insert(account.account_id.clone(), account.clone());
        Ok(())
    }

    fn accounts(&self) -> KmsResult<Vec<AccountRecord>> {
        Ok(self.data().accounts.values().cloned().collect())
    }

    fn insert_principal(&self, principal: &PrincipalRecord) -> KmsResult<()> {
        let mut data = self.data();
        if !data.accounts.contains_key(&principal.account) {
            return Err(KmsError::account_not_found(&principal.account));
        }
        if data.principals.contains_key(&principal.arn) {
            return Err(KmsError::AlreadyExists(format!(
                "The principal '{}' already exists",
                principal.arn
            )));
        }
        data.principals
            .insert(principal.arn.clone(), principal.clone());
        Ok(())
    }

    fn update_principal(&self, principal: &PrincipalRecord) -> KmsResult<Swap> {
        let mut data = self.data();
        let slot = data
            .principals
            .get_mut(&principal.arn)
            .ok_or_else(|| KmsError::principal_not_found(&principal.arn))?;
        if slot.revision != principal.revision {
            return Ok(Swap::Stale);
        }
        *slot = PrincipalRecord {
            revision: principal.revision + 1,
            ..principal.clone()
        };
        Ok(Swap::Done)
    }

    fn delete_principal(&self, arn: &str) -> KmsResult<()> {
        let mut data = self.data();
        data.principals
            .remove(arn)
            .ok_or_else(|| KmsError::principal_not_found(arn))?;
        data.access_keys.retain(|_, k| k.principal_arn != arn);
        Ok(())
    }

    fn principal(&self, arn: &str) -> KmsResult<Option<PrincipalRecord>> {
        Ok(self.data().principals.get(arn).cloned())
    }

    fn principals(&self, account: &str) -> KmsResult<Vec<PrincipalRecord>> {
        Ok(self
            .data()
            .principals
            .values()
            .filter(|p| p.account == account)
            .cloned()
            .collect())
    }

    fn insert_access_key(&self, key: &AccessKeyRecord, max_per_principal: usize) -> KmsResult<()> {
        let mut data = self.data();
        if !data.principals.contains_key(&key.principal_arn) {
            return Err(KmsError::principal_not_found(&key.principal_arn));
        }
        let held = data
            .access_keys
            .values()
            .filter(|k| k.principal_arn == key.principal_arn)
            .count();
        if held >= max_per_principal {
            return Err(store::too_many_access_keys(
                &key.principal_arn,
                max_per_principal,
            ));
        }
        if data.access_keys.contains_key(&key.access_key_id) {
            return Err(KmsError::AlreadyExists(format!(
                "The access key '{}' already exists",
                key.access_key_id
            )));
        }
        data.access_keys
            .insert(key.access_key_id.clone(), key.clone());
        Ok(())
    }

    fn set_access_key_status(&self, access_key_id: &str, status: AccessKeyStatus) -> KmsResult<()> {
        let mut data = self.data();
        let slot = data
            .access_keys
            .get_mut(access_key_id)
            .ok_or_else(|| KmsError::access_key_not_found(access_key_id))?;
        slot.status = status;
        Ok(())
    }

    fn delete_access_key(&self, access_key_id: &str) -> KmsResult<()> {
        self.data()
            .access_keys
            .remove(access_key_id)
            .map(|_| ())
            .ok_or_else(|| KmsError::access_key_not_found(access_key_id))
    }

    fn access_key(&self, access_key_id: &str) -> KmsResult<Option<AccessKeyRecord>> {
        Ok(self.data().access_keys.get(access_key_id).cloned())
    }

    fn access_keys(&self, principal_arn: &str) -> KmsResult<Vec<AccessKeyRecord>> {
        let mut keys: Vec<_> = self
            .data()
            .access_keys
            .values()
            .filter(|k| k.principal_arn == principal_arn)
            .cloned()
            .collect();
        keys.sort_by(|a, b| {
            (a.created_at, &a.access_key_id).cmp(&(b.created_at, &b.access_key_id))
        });
        Ok(keys)
    }
}

impl GrantStore for MemoryStore {
    fn insert_grant(&self, grant: &GrantRecord) -> KmsResult<()> {
        let mut data = self.data();
        if !data
            .keys
            .contains_key(&(grant.region.clone(), grant.key_id))
        {
            return Err(KmsError::key_not_found(grant.key_id));
        }
        if data.grants.contains_key(&grant.grant_id) {
            return Err(KmsError::AlreadyExists(format!(
                "Grant '{}' already exists",
                grant.grant_id
            )));
        }
        data.grants.insert(grant.grant_id.clone(), grant.clone());
        Ok(())
    }

    fn delete_grant(&self, grant_id: &str) -> KmsResult<()> {
        self.data()
            .grants
            .remove(grant_id)
            .map(|_| ())
            .ok_or_else(|| KmsError::grant_not_found(grant_id))
    }

    fn grant(&self, grant_id: &str) -> KmsResult<Option<GrantRecord>> {
        Ok(self.data().grants.get(grant_id).cloned())
    }

    fn grants(&self, region: &str, key_id: &KeyId) -> KmsResult<Vec<GrantRecord>> {
        Ok(oldest_first(
            self.data()
                .grants
                .values()
                .filter(|g| g.region == region && g.key_id == *key_id)
                .cloned()
                .collect(),
        ))
    }

    fn retirable_grants(&self, principal: &str) -> KmsResult<Vec<GrantRecord>> {
        Ok(oldest_first(
            self.data()
                .grants
                .values()
                .filter(|g| g.retiring_principal.as_deref() == Some(principal))
                .cloned()
                .collect(),
        ))
    }
}

impl KeyUsageStore for MemoryStore {
    fn record_key_uses(&self, uses: &[KeyLastUse]) -> KmsResult<()> {
        let mut data = self.data();
        for key_use in uses {
            let slot = (key_use.region.clone(), key_use.key_id);
            let stored = data.key_uses.get(&slot);
            if stored.is_none_or(|stored| key_use.is_later_than(stored)) {
                data.key_uses.insert(slot, key_use.clone());
            }
        }
        Ok(())
    }

    fn key_last_use(&self, region: &str, key_id: &KeyId) -> KmsResult<Option<KeyLastUse>> {
        Ok(self
            .data()
            .key_uses
            .get(&(region.to_string(), *key_id))
            .cloned())
    }
}

/// Whether another store of `store`'s region has its name.
fn name_taken(data: &Data, store: &CustomKeyStoreRecord) -> bool {
    data.custom_key_stores
        .values()
        .any(|s| s.region == store.region && s.name == store.name && s.id != store.id)
}

impl CustomKeyStoreStore for MemoryStore {
    fn insert_custom_key_store(&self, store: &CustomKeyStoreRecord) -> KmsResult<()> {
        let mut data = self.data();
        let slot = (store.region.clone(), store.id.clone());
        if data.custom_key_stores.contains_key(&slot) {
            return Err(KmsError::AlreadyExists(format!(
                "Custom key store '{}' already exists",
                store.id
            )));
        }
        if name_taken(&data, store) {
            return Err(cks::name_in_use(&store.name));
        }
        data.custom_key_stores.insert(slot, store.clone());
        Ok(())
    }

    fn custom_key_store(&self, region: &str, id: &str) -> KmsResult<Option<CustomKeyStoreRecord>> {
        Ok(self
            .data()
            .custom_key_stores
            .get(&(region.to_string(), id.to_string()))
            .cloned())
    }

    fn custom_key_stores(&self, region: &str) -> KmsResult<Vec<CustomKeyStoreRecord>> {
        Ok(self
            .data()
            .custom_key_stores
            .values()
            .filter(|s| s.region == region)
            .cloned()
            .collect())
    }

    fn update_custom_key_store(&self, store: &CustomKeyStoreRecord) -> KmsResult<Swap> {
        let mut data = self.data();
        let slot = (store.region.clone(), store.id.clone());
        match data.custom_key_stores.get(&slot) {
            None => return Err(cks::store_not_found(&store.id)),
            Some(stored) if stored.revision != store.revision => return Ok(Swap::Stale),
            Some(_) => {}
        }
        if name_taken(&data, store) {
            return Err(cks::name_in_use(&store.name));
        }
        let next = CustomKeyStoreRecord {
            revision: store.revision + 1,
            ..store.clone()
        };
        data.custom_key_stores.insert(slot, next);
        Ok(Swap::Done)
    }

    fn delete_custom_key_store(&self, store: &CustomKeyStoreRecord) -> KmsResult<Swap> {
        let mut data = self.data();
        let slot = (store.region.clone(), store.id.clone());
        match data.custom_key_stores.get(&slot) {
            None => Err(cks::store_not_found(&store.id)),
            Some(stored) if stored.revision != store.revision => Ok(Swap::Stale),
            Some(_) => {
                data.custom_key_stores.remove(&slot);
                Ok(Swap::Done)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;
    use crate::conformance::{key_record, sealed_version};

    fn run(test: fn(&dyn Store)) {
        test(&MemoryStore::new());
    }

    crate::conformance::store_conformance_tests!(run);

    #[test]
    fn clones_share_one_set_of_data() {
        let store = MemoryStore::new();
        let reopened = store.clone();
        let id = KeyId::random();
        store
            .insert_key(&key_record(id), Some(&sealed_version(id, 1)))
            .unwrap();
        assert_eq!(
            reopened.key(crate::conformance::R, &id).unwrap(),
            Some(key_record(id))
        );
    }
}
