//! SigV4 signing keys kept per access key, day, region and service, so that a request signed with
//! a known key costs one HMAC rather than five and reads no access key from the vault. An entry
//! holds only while the vault's record cache has not been emptied since it was made
//! ([`Service::records_epoch`]): deactivating or deleting an access key, here or in another
//! process, empties that cache, and the next request looks the key up again.

use std::collections::HashMap;
use std::sync::Mutex;

use kms_service::{Caller, Service};
use zeroize::Zeroizing;

use crate::sigv4::{self, Scope};

/// Scopes remembered at most; when full, all are dropped and derived again as requests come.
const CAPACITY: usize = 4096;

struct Entry {
    epoch: u64,
    caller: Caller,
    key: Zeroizing<[u8; 32]>,
}

/// The cache; see the [module docs](self).
#[derive(Default)]
pub(crate) struct SigningKeys {
    entries: Mutex<HashMap<(String, String, String, String), Entry>>,
}

impl SigningKeys {
    /// The caller and signing key of `scope`'s active access key, from memory when the vault
    /// has not changed since they were derived; `None` for an unknown or inactive key.
    pub(crate) fn get(
        &self,
        service: &Service,
        scope: &Scope<'_>,
    ) -> Option<(Caller, Zeroizing<[u8; 32]>)> {
        let id = (
            scope.access_key_id.to_string(),
            scope.date.to_string(),
            scope.region.to_string(),
            scope.service.to_string(),
        );
        // Read before the lookup: if the vault changes meanwhile, the entry made here is
        // already out of date when it is next read, and is made again.
        let epoch = service.records_epoch();
        if let Some(entry) = self.entries().get(&id).filter(|e| e.epoch == epoch) {
            return Some((entry.caller.clone(), entry.key.clone()));
        }
        let credential = service.credential(scope.access_key_id).ok().flatten()?;
        let key = sigv4::signing_key(&credential.secret, scope.date, scope.region, scope.service);
        let mut entries = self.entries();
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(
            id,
            Entry {
                epoch,
                caller: credential.caller.clone(),
                key: key.clone(),
            },
        );
        Some((credential.caller, key))
    }

    fn entries(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<(String, String, String, String), Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}
