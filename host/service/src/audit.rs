//! The audit trail: an append-only, hash-chained record of every call, allowed, denied or failed.
//! Each record's hash covers the previous record's hash, its sequence number and its event, so an
//! edited, removed, reordered or truncated-in-the-middle record breaks the chain at that point.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use kms_core::error::{KmsError, KmsResult};
use kms_crypto as crypto;
use kms_vault::{AUDIT_HEAD_META, Store, StoredAuditRecord};

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
    /// The region the request was made in (CloudTrail's `awsRegion`); empty in records written
    /// before regions were served.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub region: String,
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
    /// The grant that allowed the call, if a grant did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_id: Option<String>,
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
///
/// A keyed log (the service's, keyed from the root key, which lives outside the vault) chains
/// records with HMAC-SHA-256 instead of SHA-256, so that whoever can write the vault file still
/// cannot recompute the chain after an edit, and anchors the head: every append also records
/// the last sequence number and hash with their own MAC, so that removing records from the end
/// is detected too. (Restoring an older copy of the whole vault, anchor included, is not.)
///
/// Appends are group-committed: concurrent requests queue their records, one of them writes
/// every record waiting as one batch (one transaction, one sync), and each request returns only
/// once the batch holding its own record is durable.
#[derive(Default)]
pub struct AuditLog {
    queue: Mutex<Queue>,
    /// Signalled whenever a batch is written.
    written: Condvar,
    /// Records and batches this writer made durable.
    records_written: AtomicU64,
    batches_written: AtomicU64,
    key: Option<zeroize::Zeroizing<[u8; 32]>>,
}

/// The records waiting to be written, and what became of those written.
#[derive(Default)]
struct Queue {
    /// Encoded events in arrival order: `events[i]` is ticket `first_ticket + i`.
    events: Vec<String>,
    first_ticket: u64,
    /// Whether a request is writing a batch (appends from this process are written one batch
    /// at a time; the store's sequence check catches other processes).
    writing: bool,
    /// The sequence number (or the failure) of each written ticket, until its request takes it.
    outcomes: HashMap<u64, KmsResult<u64>>,
}

/// Records written by one sync at most; more waiting make the next batch.
const MAX_BATCH: usize = 512;

/// The batch a request took to write: if the writer unwinds before it is done, every request of
/// the batch is answered with a failure and the next can write, instead of all waiting forever.
struct Writing<'a> {
    log: &'a AuditLog,
    first_ticket: u64,
    records: usize,
    outcome: Option<KmsResult<u64>>,
}

impl Drop for Writing<'_> {
    fn drop(&mut self) {
        let outcome = self
            .outcome
            .take()
            .unwrap_or_else(|| Err(KmsError::Internal("the audit writer failed".into())));
        let mut queue = self.log.queue();
        for i in 0..self.records as u64 {
            let seq = outcome
                .as_ref()
                .map(|first| first + i)
                .map_err(Clone::clone);
            queue.outcomes.insert(self.first_ticket + i, seq);
        }
        queue.writing = false;
        self.log.written.notify_all();
    }
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("keyed", &self.key.is_some())
            .finish()
    }
}

const GENESIS: [u8; 32] = [0u8; 32];
const APPEND_ATTEMPTS: usize = 8;

impl AuditLog {
    /// An unkeyed audit log writer (plain SHA-256 chain, no anchor).
    pub fn new() -> Self {
        Self::default()
    }

    /// A keyed audit log writer: HMAC chain and anchored head under `key`.
    pub fn keyed(key: [u8; 32]) -> Self {
        AuditLog {
            key: Some(zeroize::Zeroizing::new(key)),
            ..AuditLog::default()
        }
    }

    fn key(&self) -> Option<&[u8; 32]> {
        self.key.as_deref()
    }

    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends `event` and returns its sequence number once it is durable. Requests appending
    /// at the same time share one write: whichever finds no write under way writes every
    /// record waiting, the others wait for it.
    pub fn append(&self, store: &dyn Store, event: &AuditEvent) -> KmsResult<u64> {
        let event_json = serde_json::to_string(event)
            .map_err(|e| KmsError::Internal(format!("cannot encode audit event: {e}")))?;
        let mut queue = self.queue();
        let ticket = queue.first_ticket + queue.events.len() as u64;
        queue.events.push(event_json);
        loop {
            if let Some(outcome) = queue.outcomes.remove(&ticket) {
                return outcome;
            }
            if queue.writing {
                queue = self.written.wait(queue).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            let take = queue.events.len().min(MAX_BATCH);
            let batch: Vec<String> = queue.events.drain(..take).collect();
            let mut writing = Writing {
                log: self,
                first_ticket: queue.first_ticket,
                records: take,
                outcome: None,
            };
            queue.first_ticket += take as u64;
            queue.writing = true;
            drop(queue);
            writing.outcome = Some(self.write_batch(store, &batch));
            drop(writing);
            queue = self.queue();
        }
    }

    /// Chains `batch` onto the stored trail and writes it in one change; returns the first
    /// record's sequence number.
    fn write_batch(&self, store: &dyn Store, batch: &[String]) -> KmsResult<u64> {
        let mut last_err = None;
        for _ in 0..APPEND_ATTEMPTS {
            let (tail_seq, mut prev_hash) = match store.last_audit()? {
                Some(last) => (last.seq, last.hash),
                None => (0, GENESIS),
            };
            let records: Vec<StoredAuditRecord> = (tail_seq + 1..)
                .zip(batch)
                .map(|(seq, event_json)| {
                    let hash = chain_hash(self.key(), &prev_hash, seq, event_json);
                    prev_hash = hash;
                    StoredAuditRecord {
                        seq,
                        hash,
                        event_json: event_json.clone(),
                    }
                })
                .collect();
            let head = match (self.key(), records.last()) {
                (Some(key), Some(last)) => Some(anchor(key, last.seq, &last.hash)),
                _ => None,
            };
            // Another process may have appended in between: then re-read the tail and retry.
            match store.append_audit_batch(&records, head.as_deref()) {
                Ok(()) => {
                    self.records_written
                        .fetch_add(records.len() as u64, Ordering::Relaxed);
                    self.batches_written.fetch_add(1, Ordering::Relaxed);
                    return Ok(tail_seq + 1);
                }
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| KmsError::Internal("audit append failed".into())))
    }

    /// Records and batches written by this writer so far: their ratio is the group commit's
    /// average batch.
    pub fn written(&self) -> (u64, u64) {
        (
            self.records_written.load(Ordering::Relaxed),
            self.batches_written.load(Ordering::Relaxed),
        )
    }

    /// Walks the whole trail and checks every link; a keyed log also checks its anchored head.
    pub fn verify_trail(&self, store: &dyn Store) -> KmsResult<Verification> {
        let key = self.key();
        let mut prev_hash = GENESIS;
        let mut expected_seq = 1;
        let mut hashes_seen = std::collections::HashMap::new();
        let anchored = match key {
            Some(_) => store.meta(AUDIT_HEAD_META)?,
            None => None,
        };
        let anchored_seq = anchored
            .as_deref()
            .and_then(|a| a.split(':').next())
            .and_then(|s| s.parse::<u64>().ok());
        loop {
            let batch = store.audit_after(expected_seq - 1, 1000)?;
            if batch.is_empty() {
                let records = expected_seq - 1;
                if let (Some(key), Some(head)) = (key, anchored.as_deref())
                    && let Some(broken) = check_anchor(key, head, records, &hashes_seen)
                {
                    return Ok(broken);
                }
                return Ok(Verification::Intact { records });
            }
            for record in batch {
                if record.seq != expected_seq {
                    return Ok(Verification::Broken {
                        seq: expected_seq,
                        reason: format!("expected record {expected_seq}, found {}", record.seq),
                    });
                }
                let hash = chain_hash(key, &prev_hash, record.seq, &record.event_json);
                if !crypto::constant_time_eq(&hash, &record.hash) {
                    return Ok(Verification::Broken {
                        seq: record.seq,
                        reason: "hash does not match its content and predecessor".into(),
                    });
                }
                if Some(record.seq) == anchored_seq {
                    hashes_seen.insert(record.seq, record.hash);
                }
                prev_hash = record.hash;
                expected_seq += 1;
            }
        }
    }

    /// [`verify_trail`](Self::verify_trail) of an unkeyed log.
    pub fn verify(store: &dyn Store) -> KmsResult<Verification> {
        AuditLog::new().verify_trail(store)
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

fn chain_hash(key: Option<&[u8; 32]>, prev: &[u8; 32], seq: u64, event_json: &str) -> [u8; 32] {
    match key {
        Some(key) => crypto::hmac_sha256_parts(
            key,
            &[
                b"kms audit v2",
                prev,
                &seq.to_be_bytes(),
                event_json.as_bytes(),
            ],
        ),
        None => crypto::sha256_parts(&[
            b"kms audit v1",
            prev,
            &seq.to_be_bytes(),
            event_json.as_bytes(),
        ]),
    }
}

/// `seq:hash:mac`, the anchored head after appending record `seq`.
fn anchor(key: &[u8; 32], seq: u64, hash: &[u8; 32]) -> String {
    let mac = crypto::hmac_sha256_parts(key, &[b"kms audit head v1", &seq.to_be_bytes(), hash]);
    format!("{seq}:{}:{}", hex::encode(hash), hex::encode(mac))
}

/// Checks the anchored head against a trail of `records` whose hash at the anchored sequence
/// number (if reached) is in `seen`.
fn check_anchor(
    key: &[u8; 32],
    head: &str,
    records: u64,
    seen: &std::collections::HashMap<u64, [u8; 32]>,
) -> Option<Verification> {
    let broken = |seq, reason: &str| {
        Some(Verification::Broken {
            seq,
            reason: reason.to_string(),
        })
    };
    let mut parts = head.split(':');
    let (Some(seq), Some(hash), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return broken(records + 1, "the anchored head is malformed");
    };
    let Ok(seq) = seq.parse::<u64>() else {
        return broken(records + 1, "the anchored head is malformed");
    };
    let Ok(hash) = <[u8; 32]>::try_from(hex::decode(hash).unwrap_or_default()) else {
        return broken(records + 1, "the anchored head is malformed");
    };
    if !crypto::constant_time_eq(anchor(key, seq, &hash).as_bytes(), head.as_bytes()) {
        return broken(seq, "the anchored head was altered");
    }
    if seq > records {
        return broken(
            records + 1,
            &format!(
                "records {} to {seq} are missing: the trail was truncated",
                records + 1
            ),
        );
    }
    // A head that lags behind the trail is what a crash between two steps leaves; the chain
    // still covers the newer records.
    match seen.get(&seq) {
        Some(found) if found == &hash => None,
        _ => broken(
            seq,
            "the anchored head does not match the record it anchors",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kms_vault::MemoryStore;

    fn event(op: &str) -> AuditEvent {
        AuditEvent {
            time: 1,
            request_id: "r".into(),
            operation: op.into(),
            principal: "arn:aws:iam::111122223333:root".into(),
            account: "111122223333".into(),
            region: "us-east-1".into(),
            source: "embedded".into(),
            key_arn: None,
            encryption_context: None,
            outcome: "Success".into(),
            error_message: None,
            grant_id: None,
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

    /// Requests that arrive while a batch is being written wait, and the next writer writes all
    /// of them with one store write.
    #[test]
    fn records_waiting_for_a_write_are_written_as_one_batch() {
        let store = MemoryStore::new();
        let log = AuditLog::keyed([7; 32]);
        // A write under way: every append now queues behind it.
        log.queue().writing = true;
        let seqs = std::thread::scope(|scope| {
            let appends: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| log.append(&store, &event("Encrypt")).unwrap()))
                .collect();
            while log.queue().events.len() < 8 {
                std::thread::yield_now();
            }
            log.queue().writing = false;
            log.written.notify_all();
            let mut seqs: Vec<u64> = appends.into_iter().map(|a| a.join().unwrap()).collect();
            seqs.sort();
            seqs
        });
        assert_eq!(seqs, (1..=8).collect::<Vec<_>>());
        assert_eq!(log.written(), (8, 1));
        assert_eq!(
            log.verify_trail(&store).unwrap(),
            Verification::Intact { records: 8 }
        );
    }

    /// Many writers at once on the SQLite vault: every record gets its own sequence number, the
    /// chain and its anchored head verify.
    #[test]
    fn concurrent_appends_to_a_vault_file_make_one_intact_chain() {
        let dir = tempfile::tempdir().unwrap();
        let store = kms_vault::SqliteStore::open(&dir.path().join("vault.db")).unwrap();
        let log = AuditLog::keyed([7; 32]);
        let mut seqs: Vec<u64> = std::thread::scope(|scope| {
            let threads: Vec<_> = (0..8)
                .map(|_| {
                    scope.spawn(|| {
                        (0..25)
                            .map(|_| log.append(&store, &event("Encrypt")).unwrap())
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            threads
                .into_iter()
                .flat_map(|t| t.join().unwrap())
                .collect()
        });
        seqs.sort();
        assert_eq!(seqs, (1..=200).collect::<Vec<_>>());
        assert_eq!(log.written().0, 200);
        assert_eq!(
            log.verify_trail(&store).unwrap(),
            Verification::Intact { records: 200 }
        );
    }

    /// A writer that fails answers every request of its batch with the failure and lets the
    /// next request write: nothing waits forever.
    #[test]
    fn a_failed_batch_fails_its_requests_and_the_next_append_succeeds() {
        let store = MemoryStore::new();
        let log = AuditLog::new();
        log.append(&store, &event("CreateKey")).unwrap();
        // A writer that took ticket 99 and unwound before writing.
        let drop_guard = Writing {
            log: &log,
            first_ticket: 99,
            records: 1,
            outcome: None,
        };
        log.queue().writing = true;
        drop(drop_guard);
        assert!(matches!(
            log.queue().outcomes.remove(&99),
            Some(Err(KmsError::Internal(_)))
        ));
        assert!(!log.queue().writing);
        assert_eq!(log.append(&store, &event("Encrypt")).unwrap(), 2);
    }

    #[test]
    fn chain_hash_depends_on_predecessor_and_sequence() {
        let a = chain_hash(None, &GENESIS, 1, "{}");
        assert_ne!(a, chain_hash(None, &GENESIS, 2, "{}"));
        assert_ne!(a, chain_hash(None, &[1u8; 32], 1, "{}"));
        assert_ne!(a, chain_hash(None, &GENESIS, 1, "{ }"));
    }
}
