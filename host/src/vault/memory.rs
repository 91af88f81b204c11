//! A test-only, in-memory [`Store`]. Clones share the same data, so a test can "reopen" a vault by
//! handing a clone to a new [`Vault`](super::Vault). Nothing survives the process.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::store::{AliasRecord, KeyRecord, SealedVersion, Store, StoredAuditRecord};
use crate::error::{KmsError, KmsResult};
use crate::types::KeyId;

#[derive(Default)]
struct Data {
    meta: BTreeMap<String, String>,
    keys: BTreeMap<KeyId, KeyRecord>,
    versions: BTreeMap<(KeyId, u32), SealedVersion>,
    aliases: BTreeMap<String, AliasRecord>,
    audit: Vec<StoredAuditRecord>,
}

/// An in-memory vault backend for tests.
#[derive(Clone, Default)]
pub struct MemoryStore(Arc<Mutex<Data>>);

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn data(&self) -> MutexGuard<'_, Data> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn missing_key(id: &KeyId) -> KmsError {
    KmsError::NotFound(format!("Key '{id}' does not exist"))
}

impl Store for MemoryStore {
    fn meta(&self, name: &str) -> KmsResult<Option<String>> {
        Ok(self.data().meta.get(name).cloned())
    }

    fn set_meta(&self, name: &str, value: &str) -> KmsResult<()> {
        self.data().meta.insert(name.into(), value.into());
        Ok(())
    }

    fn insert_key(&self, key: &KeyRecord, first_version: &SealedVersion) -> KmsResult<()> {
        let mut data = self.data();
        if data.keys.contains_key(&key.key_id) {
            return Err(KmsError::AlreadyExists(format!(
                "Key '{}' already exists",
                key.key_id
            )));
        }
        data.keys.insert(key.key_id, key.clone());
        data.versions
            .insert((key.key_id, first_version.version), first_version.clone());
        Ok(())
    }

    fn key(&self, key_id: &KeyId) -> KmsResult<Option<KeyRecord>> {
        Ok(self.data().keys.get(key_id).cloned())
    }

    fn keys_after(&self, after: Option<&KeyId>, limit: usize) -> KmsResult<Vec<KeyRecord>> {
        let data = self.data();
        Ok(data
            .keys
            .iter()
            .filter(|(id, _)| after.is_none_or(|a| *id > a))
            .take(limit)
            .map(|(_, r)| r.clone())
            .collect())
    }

    fn update_key(&self, key: &KeyRecord) -> KmsResult<()> {
        let mut data = self.data();
        let slot = data
            .keys
            .get_mut(&key.key_id)
            .ok_or_else(|| missing_key(&key.key_id))?;
        *slot = key.clone();
        Ok(())
    }

    fn add_version(&self, key: &KeyRecord, version: &SealedVersion) -> KmsResult<()> {
        let mut data = self.data();
        if !data.keys.contains_key(&key.key_id) {
            return Err(missing_key(&key.key_id));
        }
        if data.versions.contains_key(&(key.key_id, version.version)) {
            return Err(KmsError::Internal(format!(
                "Key '{}' already has version {}",
                key.key_id, version.version
            )));
        }
        data.keys.insert(key.key_id, key.clone());
        data.versions
            .insert((key.key_id, version.version), version.clone());
        Ok(())
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

    fn delete_key(&self, key_id: &KeyId) -> KmsResult<()> {
        let mut data = self.data();
        data.keys
            .remove(key_id)
            .ok_or_else(|| missing_key(key_id))?;
        data.versions.retain(|(id, _), _| id != key_id);
        data.aliases.retain(|_, a| a.key_id != *key_id);
        Ok(())
    }

    fn keys_due(&self, now: u64) -> KmsResult<Vec<KeyId>> {
        Ok(self
            .data()
            .keys
            .values()
            .filter(|r| r.due_at().is_some_and(|t| t <= now))
            .map(|r| r.key_id)
            .collect())
    }

    fn insert_alias(&self, alias: &AliasRecord) -> KmsResult<()> {
        let mut data = self.data();
        if !data.keys.contains_key(&alias.key_id) {
            return Err(missing_key(&alias.key_id));
        }
        if data.aliases.contains_key(&alias.name) {
            return Err(KmsError::AlreadyExists(format!(
                "An alias with the name {} already exists",
                alias.name
            )));
        }
        data.aliases.insert(alias.name.clone(), alias.clone());
        Ok(())
    }

    fn update_alias(&self, alias: &AliasRecord) -> KmsResult<()> {
        let mut data = self.data();
        if !data.keys.contains_key(&alias.key_id) {
            return Err(missing_key(&alias.key_id));
        }
        let slot = data
            .aliases
            .get_mut(&alias.name)
            .ok_or_else(|| KmsError::NotFound(format!("Alias {} is not found.", alias.name)))?;
        *slot = alias.clone();
        Ok(())
    }

    fn delete_alias(&self, name: &str) -> KmsResult<()> {
        self.data()
            .aliases
            .remove(name)
            .map(|_| ())
            .ok_or_else(|| KmsError::NotFound(format!("Alias {name} is not found.")))
    }

    fn alias(&self, name: &str) -> KmsResult<Option<AliasRecord>> {
        Ok(self.data().aliases.get(name).cloned())
    }

    fn aliases_after(
        &self,
        after: Option<&str>,
        key_id: Option<&KeyId>,
        limit: usize,
    ) -> KmsResult<Vec<AliasRecord>> {
        Ok(self
            .data()
            .aliases
            .values()
            .filter(|a| after.is_none_or(|after| a.name.as_str() > after))
            .filter(|a| key_id.is_none_or(|k| a.key_id == *k))
            .take(limit)
            .cloned()
            .collect())
    }

    fn append_audit(&self, record: &StoredAuditRecord) -> KmsResult<()> {
        let mut data = self.data();
        let last = data.audit.last().map_or(0, |r| r.seq);
        if record.seq != last + 1 {
            return Err(KmsError::Internal(format!(
                "audit record {} does not follow {last}",
                record.seq
            )));
        }
        data.audit.push(record.clone());
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
