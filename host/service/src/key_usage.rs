//! GetKeyLastUsage: the last successful cryptographic use of each key, and since when uses are
//! tracked. Uses are noted in memory as their audit records are written and reach the store in
//! batches — at most every [`KEY_USAGE_FLUSH_SECONDS`], on [`Service::flush_key_usage`] and
//! when the service's last regional view is dropped — so a request costs no extra durable
//! write. A crash loses at most the uses of the last interval: GetKeyLastUsage may then name an
//! earlier use (the audit trail, which is written before every response, still has every call).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use super::*;
use kms_vault::KeyLastUse;

/// How often, at most, noted key uses are written to the store.
pub const KEY_USAGE_FLUSH_SECONDS: u64 = 30;

/// The vault setting that holds when this vault began tracking key uses (seconds since the epoch).
const TRACKING_START_META: &str = "key_usage_tracking_start";

/// GetKeyLastUsage's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetKeyLastUsageResponse {
    /// The key id.
    pub key_id: String,
    /// The last successful cryptographic use; an empty object if there was none since
    /// `tracking_start_date`.
    pub key_last_usage: KeyLastUsageData,
    /// Since when uses of this key are tracked: when this vault began tracking, or when the key
    /// was created, whichever is later (seconds since the epoch).
    pub tracking_start_date: u64,
    /// When the key was created (seconds since the epoch).
    pub key_creation_date: u64,
}

/// The last successful cryptographic use of a key, as AWS's `KeyLastUsageData`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyLastUsageData {
    /// The operation (`Encrypt`, `Sign`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    /// When (seconds since the epoch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<u64>,
    /// The call's record in the audit trail: its sequence number (AWS: the CloudTrail event id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloud_trail_event_id: Option<String>,
    /// The call's request id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kms_request_id: Option<String>,
}

impl From<KeyLastUse> for KeyLastUsageData {
    fn from(used: KeyLastUse) -> Self {
        KeyLastUsageData {
            operation: Some(used.operation),
            timestamp: Some(used.at),
            cloud_trail_event_id: Some(used.audit_seq.to_string()),
            kms_request_id: Some(used.request_id),
        }
    }
}

/// Key uses noted since the last write to the store, and when that write was.
#[derive(Debug, Default)]
pub(crate) struct KeyUsageTracker {
    pending: Mutex<BTreeMap<(String, KeyId), KeyLastUse>>,
    last_flush: AtomicU64,
}

impl KeyUsageTracker {
    fn pending(&self) -> std::sync::MutexGuard<'_, BTreeMap<(String, KeyId), KeyLastUse>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn note(&self, used: KeyLastUse) {
        let mut pending = self.pending();
        let slot = (used.region.clone(), used.key_id);
        let stored = pending.get(&slot);
        if stored.is_none_or(|stored| used.is_later_than(stored)) {
            pending.insert(slot, used);
        }
    }

    fn pending_use(&self, region: &str, key_id: &KeyId) -> Option<KeyLastUse> {
        self.pending().get(&(region.to_string(), *key_id)).cloned()
    }
}

/// Whether a successful call of `operation` counts as a use of its key: the cryptographic
/// operations AWS tracks (GetPublicKey is not one).
fn tracked(operation: &str) -> bool {
    operation
        .parse::<Operation>()
        .is_ok_and(|op| op.cryptographic() && op != Operation::GetPublicKey)
}

impl Service {
    /// What to run once the record of `event` is written, as record `audit_seq`: note that the
    /// call used the key its event names (and `also_used`, ReEncrypt's destination), and write
    /// the noted uses to the store if the last write is [`KEY_USAGE_FLUSH_SECONDS`] old. `None`
    /// for a call that is not a successful cryptographic one. The note does not keep the service
    /// alive, and a failed write is not the caller's failure: the uses stay noted and the next
    /// write carries them.
    pub(crate) fn key_use_note(
        &self,
        event: &AuditEvent,
        also_used: Option<KeyId>,
    ) -> Option<audit::AfterWrite> {
        if event.outcome != "Success" || !tracked(&event.operation) {
            return None;
        }
        let named = event
            .key_arn
            .as_deref()
            .and_then(|arn| arn.rsplit_once(":key/"))
            .and_then(|(_, id)| id.parse::<KeyId>().ok());
        let keys: Vec<KeyId> = named.into_iter().chain(also_used).collect();
        let shared = Arc::downgrade(&self.shared);
        let region = self.region.clone();
        let (operation, at, request_id) = (
            event.operation.clone(),
            event.time,
            event.request_id.clone(),
        );
        Some(Box::new(move |audit_seq| {
            let Some(shared) = shared.upgrade() else {
                return;
            };
            for key_id in keys {
                shared.key_usage.note(KeyLastUse {
                    key_id,
                    region: region.clone(),
                    operation: operation.clone(),
                    at,
                    audit_seq,
                    request_id: request_id.clone(),
                });
            }
            let last = shared.key_usage.last_flush.load(Ordering::Relaxed);
            if at.saturating_sub(last) >= KEY_USAGE_FLUSH_SECONDS {
                let _ = shared.flush_key_usage();
            }
        }))
    }

    /// Writes the key uses noted since the last write to the store, in one batch. Called every
    /// [`KEY_USAGE_FLUSH_SECONDS`] by the operations themselves and when the service is dropped;
    /// a server calls it at shutdown too.
    ///
    /// ```
    /// use kms_service::{Caller, CreateKeyRequest, EncryptRequest, KeyRequest, Service};
    /// let service = Service::in_memory().unwrap();
    /// let me = Caller::account_root(service.account());
    /// let key = service.create_key(&me, CreateKeyRequest::default()).unwrap().key_metadata.key_id;
    /// service.encrypt(&me, EncryptRequest::new(&key, b"x".to_vec())).unwrap();
    /// service.flush_key_usage().unwrap();
    /// let usage = service.get_key_last_usage(&me, KeyRequest::new(&key)).unwrap();
    /// assert_eq!(usage.key_last_usage.operation.as_deref(), Some("Encrypt"));
    /// ```
    pub fn flush_key_usage(&self) -> KmsResult<()> {
        self.shared.flush_key_usage()
    }

    /// When this vault began tracking key uses: set once, the first time a service opens it.
    pub(crate) fn start_key_usage_tracking(&self) -> KmsResult<()> {
        let store = self.shared.vault.store();
        if store.meta(TRACKING_START_META)?.is_none() {
            store.set_meta(TRACKING_START_META, &self.now().to_string())?;
        }
        self.shared
            .key_usage
            .last_flush
            .store(self.now(), Ordering::Relaxed);
        Ok(())
    }

    fn key_usage_tracking_start(&self) -> KmsResult<u64> {
        let stored = self.shared.vault.store().meta(TRACKING_START_META)?;
        stored
            .map(|s| {
                s.parse().map_err(|_| {
                    KmsError::Internal(format!(
                        "the vault setting {TRACKING_START_META} is corrupt"
                    ))
                })
            })
            .unwrap_or(Ok(0))
    }

    /// GetKeyLastUsage: the last successful cryptographic use of a key (by key id or key ARN;
    /// AWS takes no alias here), and since when its uses are tracked.
    pub fn get_key_last_usage(
        &self,
        caller: &Caller,
        req: KeyRequest,
    ) -> KmsResult<GetKeyLastUsageResponse> {
        self.audited(caller, "GetKeyLastUsage", |note| {
            // AWS's errors for this operation are NotFoundException and InvalidArnException
            // only: an alias name names no key here, and an alias ARN is no key ARN.
            if request_alias(&req.key_id).is_some() {
                return Err(if req.key_id.starts_with("arn:") {
                    KmsError::InvalidArn(format!(
                        "GetKeyLastUsage takes a key ARN, not the alias ARN '{}'",
                        req.key_id
                    ))
                } else {
                    KmsError::key_not_found(&req.key_id)
                });
            }
            let record = self.key_for(caller, note, &req.key_id, "kms:GetKeyLastUsage")?;
            Ok(GetKeyLastUsageResponse {
                key_id: record.key_id.to_string(),
                key_last_usage: self
                    .last_use(&record.key_id)?
                    .map(KeyLastUsageData::from)
                    .unwrap_or_default(),
                tracking_start_date: self.tracked_since(&record)?,
                key_creation_date: record.created_at,
            })
        })
    }

    /// The last successful cryptographic use of a key of this region: the later of the one
    /// written to the store and one noted since.
    fn last_use(&self, key_id: &KeyId) -> KmsResult<Option<KeyLastUse>> {
        let stored = self
            .shared
            .vault
            .store()
            .key_last_use(&self.region, key_id)?;
        let pending = self.shared.key_usage.pending_use(&self.region, key_id);
        Ok(match (stored, pending) {
            (Some(stored), Some(pending)) if !pending.is_later_than(&stored) => Some(stored),
            (stored, None) => stored,
            (_, pending) => pending,
        })
    }

    /// Since when uses of `record` are tracked: when the vault began, or its creation.
    fn tracked_since(&self, record: &KeyRecord) -> KmsResult<u64> {
        Ok(self.key_usage_tracking_start()?.max(record.created_at))
    }

    /// `kms:TrailingDaysWithoutKeyUsage`: whole days since the key's last successful
    /// cryptographic use, or, if it has none, since its uses are tracked (GetKeyLastUsage's
    /// `TrackingStartDate`): a key unused for 90 days reads 90.
    pub(super) fn days_without_use(&self, record: &KeyRecord) -> KmsResult<u64> {
        let since = match self.last_use(&record.key_id)? {
            Some(used) => used.at,
            None => self.tracked_since(record)?,
        };
        Ok(self.now().saturating_sub(since) / SECONDS_PER_DAY)
    }
}

impl Shared {
    /// [`Service::flush_key_usage`], for every regional view at once.
    fn flush_key_usage(&self) -> KmsResult<()> {
        let batch: Vec<KeyLastUse> = std::mem::take(&mut *self.key_usage.pending())
            .into_values()
            .collect();
        self.key_usage
            .last_flush
            .store(self.clock.now(), Ordering::Relaxed);
        if batch.is_empty() {
            return Ok(());
        }
        self.vault.store().record_key_uses(&batch).inspect_err(|_| {
            // Kept for the next write; a use noted meanwhile that is later wins.
            for used in batch.clone() {
                self.key_usage.note(used);
            }
        })
    }
}

/// When the last regional view of the service goes — not each view: `kms serve` makes one per
/// request, and a write per request is what the batching avoids.
impl Drop for Shared {
    fn drop(&mut self) {
        // Best effort: a store that fails now loses at most the uses of the last interval.
        let _ = self.flush_key_usage();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kms_core::types::{KeySpec, KeyUsage};
    use kms_vault::KeyUsageStore;

    const START: u64 = 1_700_000_000;

    struct Fixture {
        service: Service,
        clock: Arc<ManualClock>,
        store: MemoryStore,
        me: Caller,
    }

    fn fixture() -> Fixture {
        let clock = Arc::new(ManualClock::new(START));
        let store = MemoryStore::new();
        let vault = Vault::create(
            Box::new(store.clone()),
            RootKey::generate().unwrap(),
            DEFAULT_ACCOUNT,
            DEFAULT_REGION,
        )
        .unwrap();
        let service = Service::new(vault, clock.clone()).unwrap();
        let me = Caller::account_root(service.account());
        Fixture {
            service,
            clock,
            store,
            me,
        }
    }

    impl Fixture {
        fn key(&self) -> String {
            self.service
                .create_key(&self.me, CreateKeyRequest::default())
                .unwrap()
                .key_metadata
                .key_id
        }

        fn usage(&self, key: &str) -> GetKeyLastUsageResponse {
            self.service
                .get_key_last_usage(&self.me, KeyRequest::new(key))
                .unwrap()
        }

        fn stored(&self, key: &str) -> Option<KeyLastUse> {
            self.store
                .key_last_use(crate::DEFAULT_REGION, &key.parse().unwrap())
                .unwrap()
        }
    }

    #[test]
    fn dropping_a_regional_view_writes_nothing() {
        // `kms serve` makes a view per request: dropping it must not cost a durable write.
        let f = fixture();
        let key = f.key();
        let view = f.service.in_region(crate::DEFAULT_REGION).unwrap();
        view.encrypt(&f.me, EncryptRequest::new(&key, b"x".to_vec()))
            .unwrap();
        drop(view);
        assert_eq!(f.stored(&key), None, "written with the next batch");
        f.service.flush_key_usage().unwrap();
        assert_eq!(f.stored(&key).unwrap().operation, "Encrypt");
    }

    #[test]
    fn an_unused_key_has_an_empty_last_usage_tracked_since_its_creation() {
        let f = fixture();
        f.clock.advance(100);
        let key = f.key();
        let usage = f.usage(&key);
        assert_eq!(usage.key_id, key);
        assert_eq!(usage.key_last_usage, KeyLastUsageData::default());
        assert_eq!(usage.key_creation_date, START + 100);
        assert_eq!(usage.tracking_start_date, START + 100);
        let json = serde_json::to_value(&usage).unwrap();
        assert_eq!(json["KeyLastUsage"], serde_json::json!({}));
    }

    #[test]
    fn the_last_successful_cryptographic_use_is_answered_with_its_audit_record() {
        let f = fixture();
        let key = f.key();
        let blob = f
            .service
            .encrypt(&f.me, EncryptRequest::new(&key, b"x".to_vec()))
            .unwrap()
            .ciphertext_blob;
        f.clock.advance(5);
        f.service.decrypt(&f.me, DecryptRequest::new(blob)).unwrap();
        // A failed call and a management call are no use of the key.
        f.service
            .decrypt(&f.me, DecryptRequest::new(vec![1, 2, 3]))
            .unwrap_err();
        f.service
            .describe_key(&f.me, KeyRequest::new(&key))
            .unwrap();
        let last = f.usage(&key).key_last_usage;
        assert_eq!(last.operation.as_deref(), Some("Decrypt"));
        assert_eq!(last.timestamp, Some(START + 5));
        let events = f.service.lookup_audit_events(&f.me, 0, 100).unwrap();
        let (seq, event) = events
            .iter()
            .find(|(_, e)| e.operation == "Decrypt" && e.outcome == "Success")
            .unwrap();
        assert_eq!(last.cloud_trail_event_id, Some(seq.to_string()));
        assert_eq!(
            last.kms_request_id.as_deref(),
            Some(event.request_id.as_str())
        );
    }

    #[test]
    fn uses_reach_the_store_in_batches_not_per_request() {
        let f = fixture();
        let key = f.key();
        f.service
            .encrypt(&f.me, EncryptRequest::new(&key, b"x".to_vec()))
            .unwrap();
        // Noted in memory only: answered, but not yet written.
        assert_eq!(
            f.usage(&key).key_last_usage.operation.as_deref(),
            Some("Encrypt")
        );
        assert_eq!(f.stored(&key), None);
        f.clock.advance(KEY_USAGE_FLUSH_SECONDS);
        f.service
            .generate_data_key(
                &f.me,
                GenerateDataKeyRequest::new(&key, kms_core::types::DataKeySpec::Aes256),
            )
            .unwrap();
        assert_eq!(f.stored(&key).unwrap().operation, "GenerateDataKey");
    }

    #[test]
    fn uses_noted_since_the_last_batch_are_written_when_the_service_closes() {
        let f = fixture();
        let key = f.key();
        f.service
            .encrypt(&f.me, EncryptRequest::new(&key, b"x".to_vec()))
            .unwrap();
        assert_eq!(f.stored(&key), None);
        let Fixture { service, store, .. } = f;
        drop(service);
        assert_eq!(
            store
                .key_last_use(crate::DEFAULT_REGION, &key.parse().unwrap())
                .unwrap()
                .unwrap()
                .operation,
            "Encrypt"
        );
    }

    #[test]
    fn re_encrypt_is_a_use_of_both_its_keys() {
        let f = fixture();
        let (source, destination) = (f.key(), f.key());
        let blob = f
            .service
            .encrypt(&f.me, EncryptRequest::new(&source, b"x".to_vec()))
            .unwrap()
            .ciphertext_blob;
        f.clock.advance(1);
        f.service
            .re_encrypt(
                &f.me,
                ReEncryptRequest {
                    ciphertext_blob: blob,
                    destination_key_id: destination.clone(),
                    ..Default::default()
                },
            )
            .unwrap();
        for key in [&source, &destination] {
            let last = f.usage(key).key_last_usage;
            assert_eq!(last.operation.as_deref(), Some("ReEncrypt"), "{key}");
            assert_eq!(last.timestamp, Some(START + 1));
        }
    }

    #[test]
    fn sign_and_verify_count_and_get_public_key_does_not() {
        let f = fixture();
        let signer = f
            .service
            .create_key(
                &f.me,
                CreateKeyRequest {
                    key_spec: Some(KeySpec::EccNistP256),
                    key_usage: Some(KeyUsage::SignVerify),
                    ..Default::default()
                },
            )
            .unwrap()
            .key_metadata
            .key_id;
        f.service
            .sign(
                &f.me,
                serde_json::from_value(serde_json::json!({
                    "KeyId": signer, "Message": "bXNn", "SigningAlgorithm": "ECDSA_SHA_256"
                }))
                .unwrap(),
            )
            .unwrap();
        f.service
            .get_public_key(&f.me, KeyRequest::new(&signer))
            .unwrap();
        assert_eq!(
            f.usage(&signer).key_last_usage.operation.as_deref(),
            Some("Sign")
        );
    }

    #[test]
    fn get_key_last_usage_takes_no_alias_and_is_authorized_and_audited() {
        let f = fixture();
        let key = f.key();
        f.service
            .create_alias(
                &f.me,
                AliasRequest {
                    alias_name: "alias/used".into(),
                    target_key_id: key.clone(),
                },
            )
            .unwrap();
        let err = f
            .service
            .get_key_last_usage(&f.me, KeyRequest::new("alias/used"))
            .unwrap_err();
        assert_eq!(err.aws_type(), "NotFoundException");
        let alias_arn = f
            .service
            .key_arn(&key.parse().unwrap())
            .replace(&format!("key/{key}"), "alias/used");
        let err = f
            .service
            .get_key_last_usage(&f.me, KeyRequest::new(alias_arn))
            .unwrap_err();
        assert_eq!(err.aws_type(), "InvalidArnException");
        let stranger = Caller::account_root("444455556666");
        let err = f
            .service
            .get_key_last_usage(
                &stranger,
                KeyRequest::new(f.service.key_arn(&key.parse().unwrap())),
            )
            .unwrap_err();
        assert!(
            matches!(err, KmsError::AccessDenied(_) | KmsError::NotFound(_)),
            "{err:?}"
        );
        f.usage(&key);
        let events = f.service.lookup_audit_events(&f.me, 0, 100).unwrap();
        let outcomes: Vec<&str> = events
            .iter()
            .filter(|(_, e)| e.operation == "GetKeyLastUsage")
            .map(|(_, e)| e.outcome.as_str())
            .collect();
        assert_eq!(outcomes.len(), 4, "{outcomes:?}");
        assert_eq!(outcomes.last(), Some(&"Success"));
    }
}
