//! The audit trail: an append-only, hash-chained record of every call, allowed, denied or failed.
//! Each record's hash covers the previous record's hash, its sequence number and its event, so an
//! edited, removed, reordered or truncated-in-the-middle record breaks the chain at that point.

use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::crypto;
use crate::error::{KmsError, KmsResult};
use crate::vault::{Store, StoredAuditRecord};

/// One audited call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Seconds since the epoch.
    pub time: u64,
    /// Unique id of the request.
    pub request_id: String,
    /// The operation, as AWS names it (`Encrypt`, `CreateKey`, …).
    pub operation: String,
    /// ARN of the calling principal.
    pub principal: String,
    /// Account of the calling principal.
    pub account: String,
    /// The front door: `cli`, `embedded`, `api`, `guest:<component digest>`, `kms` for the
    /// service's own scheduled work.
    pub source: String,
    /// ARN of the key involved, once known.
    pub key_arn: Option<String>,
    /// The encryption context of the request, if it had one (never secret).
    pub encryption_context: Option<Vec<(String, String)>>,
    /// `Success`, or the AWS exception name of the failure.
    pub outcome: String,
    /// The failure message, if it failed.
    pub error_message: Option<String>,
}

/// What [`AuditLog::verify`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verification {
    /// Every record chains to the one before.
    Intact {
        /// Number of records checked.
        records: u64,
    },
    /// The chain breaks at `seq`.
    Broken {
        /// First record whose sequence number or hash is wrong.
        seq: u64,
        /// What is wrong with it.
        reason: String,
    },
}

/// Appends events to and verifies the trail held by a [`Store`].
#[derive(Debug, Default)]
pub struct AuditLog {
    // Serialises appends from this process; the store's own sequence check catches other processes.
    append_lock: Mutex<()>,
}

const GENESIS: [u8; 32] = [0u8; 32];
const APPEND_ATTEMPTS: usize = 8;

impl AuditLog {
    /// An audit log writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `event`, returning its sequence number.
    pub fn append(&self, store: &dyn Store, event: &AuditEvent) -> KmsResult<u64> {
        let event_json = serde_json::to_string(event)
            .map_err(|e| KmsError::Internal(format!("cannot encode audit event: {e}")))?;
        let _guard = self.append_lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut last_err = None;
        for _ in 0..APPEND_ATTEMPTS {
            let (prev_seq, prev_hash) = match store.last_audit()? {
                Some(last) => (last.seq, last.hash),
                None => (0, GENESIS),
            };
            let seq = prev_seq + 1;
            let record = StoredAuditRecord {
                seq,
                hash: chain_hash(&prev_hash, seq, &event_json),
                event_json: event_json.clone(),
            };
            // Another process may have appended in between: then re-read the tail and retry.
            match store.append_audit(&record) {
                Ok(()) => return Ok(seq),
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| KmsError::Internal("audit append failed".into())))
    }

    /// Walks the whole trail and checks every link.
    pub fn verify(store: &dyn Store) -> KmsResult<Verification> {
        let mut prev_hash = GENESIS;
        let mut expected_seq = 1;
        loop {
            let batch = store.audit_after(expected_seq - 1, 1000)?;
            if batch.is_empty() {
                return Ok(Verification::Intact {
                    records: expected_seq - 1,
                });
            }
            for record in batch {
                if record.seq != expected_seq {
                    return Ok(Verification::Broken {
                        seq: expected_seq,
                        reason: format!("expected record {expected_seq}, found {}", record.seq),
                    });
                }
                let hash = chain_hash(&prev_hash, record.seq, &record.event_json);
                if !crypto::constant_time_eq(&hash, &record.hash) {
                    return Ok(Verification::Broken {
                        seq: record.seq,
                        reason: "hash does not match its content and predecessor".into(),
                    });
                }
                prev_hash = record.hash;
                expected_seq += 1;
            }
        }
    }

    /// Reads up to `limit` events after sequence number `after`.
    pub fn events_after(
        store: &dyn Store,
        after: u64,
        limit: usize,
    ) -> KmsResult<Vec<(u64, AuditEvent)>> {
        store
            .audit_after(after, limit)?
            .into_iter()
            .map(|r| {
                serde_json::from_str(&r.event_json)
                    .map(|e| (r.seq, e))
                    .map_err(|e| {
                        KmsError::Internal(format!("audit record {} is corrupt: {e}", r.seq))
                    })
            })
            .collect()
    }
}

fn chain_hash(prev: &[u8; 32], seq: u64, event_json: &str) -> [u8; 32] {
    crypto::sha256_parts(&[
        b"kms audit v1",
        prev,
        &seq.to_be_bytes(),
        event_json.as_bytes(),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vault::MemoryStore;

    fn event(op: &str) -> AuditEvent {
        AuditEvent {
            time: 1,
            request_id: "r".into(),
            operation: op.into(),
            principal: "arn:aws:iam::111122223333:root".into(),
            account: "111122223333".into(),
            source: "embedded".into(),
            key_arn: None,
            encryption_context: None,
            outcome: "Success".into(),
            error_message: None,
        }
    }

    #[test]
    fn appended_events_verify_and_read_back() {
        let store = MemoryStore::new();
        let log = AuditLog::new();
        assert_eq!(log.append(&store, &event("CreateKey")).unwrap(), 1);
        assert_eq!(log.append(&store, &event("Encrypt")).unwrap(), 2);
        assert_eq!(
            AuditLog::verify(&store).unwrap(),
            Verification::Intact { records: 2 }
        );
        let events = AuditLog::events_after(&store, 0, 10).unwrap();
        assert_eq!(events[1].1.operation, "Encrypt");
    }

    #[test]
    fn chain_hash_depends_on_predecessor_and_sequence() {
        let a = chain_hash(&GENESIS, 1, "{}");
        assert_ne!(a, chain_hash(&GENESIS, 2, "{}"));
        assert_ne!(a, chain_hash(&[1u8; 32], 1, "{}"));
        assert_ne!(a, chain_hash(&GENESIS, 1, "{ }"));
    }
}
