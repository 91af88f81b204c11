//! The audit trail: an append-only, hash-chained record of every call, allowed, denied or failed.
//! Each record's hash covers the previous record's hash, its sequence number and its event, so an
//! edited, removed, reordered or truncated-in-the-middle record breaks the chain at that point.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use serde::{Deserialize, Serialize};

use kms_core::error::{KmsError, KmsResult};
use kms_crypto as crypto;
use kms_vault::{AUDIT_HEAD_META, AuditBatch, AuditTail, Store, StoredAuditRecord};

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
/// Appends are group-committed: concurrent requests queue their records and every record
/// waiting is written as one batch (one transaction, one sync). A request that waits for its
/// record and finds no write under way writes the batch itself; records of requests that do not
/// wait ([`deferring`](Self::deferring)) are written by a writer thread
/// ([`start_writer`](Self::start_writer)), each batch while the next one gathers. A request returns only once the
/// batch holding its own record is durable, or, inside [`deferring`](Self::deferring), hands
/// back a [`Durability`] to wait on (asynchronously, so that an HTTP front door's workers serve
/// other connections meanwhile).
pub struct AuditLog {
    inner: Arc<Inner>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// What the log, its writer thread and the [`Durability`] of requests share.
/// [`Histogram`](kms_core::metrics::Histogram) of batch sizes.
struct BatchSizes(kms_core::metrics::Histogram);

impl Default for BatchSizes {
    fn default() -> Self {
        BatchSizes(kms_core::metrics::Histogram::new(
            kms_core::metrics::DOUBLING,
        ))
    }
}

/// [`Histogram`](kms_core::metrics::Histogram) of sync latencies.
struct SyncSeconds(kms_core::metrics::Histogram);

impl Default for SyncSeconds {
    fn default() -> Self {
        SyncSeconds(kms_core::metrics::Histogram::new(
            kms_core::metrics::LATENCY_SECONDS,
        ))
    }
}

#[derive(Default)]
struct Inner {
    queue: Mutex<Queue>,
    /// Signalled whenever a batch is written, and when the log closes.
    written: Condvar,
    /// Records and batches this writer made durable.
    records_written: AtomicU64,
    batches_written: AtomicU64,
    key: Option<zeroize::Zeroizing<[u8; 32]>>,
    /// The sequence number and hash of the last record this log wrote: where the next batch
    /// chains on, unless another process appended meanwhile (then the store refuses the batch
    /// and the tail is read again).
    tail: Mutex<AuditTail>,
    /// Records per durable batch.
    batch_sizes: BatchSizes,
    /// How long each batch took to become durable, in seconds.
    sync_seconds: SyncSeconds,
    /// Whether the last batch failed to be written: the trail is not writable now.
    last_write_failed: std::sync::atomic::AtomicBool,
}

/// What runs once a record is durable, with its sequence number (noting a key's use, say).
pub type AfterWrite = Box<dyn FnOnce(u64) + Send>;

/// A record waiting to be written.
struct Waiting {
    event_json: String,
    then: Option<AfterWrite>,
}

/// The records waiting to be written, and what became of those written.
#[derive(Default)]
struct Queue {
    /// Records in arrival order: `events[i]` is ticket `first_ticket + i`.
    events: Vec<Waiting>,
    first_ticket: u64,
    /// Whether a batch is being written (appends from this process are written one batch at a
    /// time; the store's sequence check catches other processes).
    writing: bool,
    /// Whether a writer thread writes what deferred appends queue.
    dedicated: bool,
    /// Set when the log is dropped: the writer writes what is queued and stops.
    closed: bool,
    /// Whether the writer thread waits for records (and must be woken for a new one).
    writer_idle: bool,
    /// The sequence number (or the failure) of each written ticket, until its request takes it.
    outcomes: HashMap<u64, KmsResult<u64>>,
    /// Tickets whose request stopped waiting (its client went away): their outcomes are not kept.
    abandoned: std::collections::HashSet<u64>,
    /// Requests waiting asynchronously, by the highest ticket they wait for.
    wakers: Vec<(u64, Waker)>,
}

/// Records written by one sync at most; more waiting make the next batch.
const MAX_BATCH: usize = 512;

/// The batch being written: if the writer unwinds before it is done, every request of the batch
/// is answered with a failure and the next batch can be written, instead of all waiting forever.
struct Writing<'a> {
    log: &'a Inner,
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
        let end = self.first_ticket + self.records as u64;
        for (i, ticket) in (self.first_ticket..end).enumerate() {
            if queue.abandoned.remove(&ticket) {
                continue;
            }
            let seq = outcome
                .as_ref()
                .map(|first| first + i as u64)
                .map_err(Clone::clone);
            queue.outcomes.insert(ticket, seq);
        }
        queue.writing = false;
        let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut queue.wakers)
            .into_iter()
            .partition(|(ticket, _)| *ticket < end);
        queue.wakers = waiting;
        drop(queue);
        for (_, waker) in ready {
            waker.wake();
        }
        self.log.written.notify_all();
    }
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("keyed", &self.inner.key.is_some())
            .finish()
    }
}

impl Default for AuditLog {
    fn default() -> Self {
        Self::from_inner(Inner::default())
    }
}

impl Drop for AuditLog {
    /// Stops the writer thread once it has written everything queued.
    fn drop(&mut self) {
        self.inner.queue().closed = true;
        self.inner.written.notify_all();
        let writer = self.writer.get_mut().unwrap_or_else(|p| p.into_inner());
        // Dropped by the writer itself (the last handle on the service was released by what
        // ran after a write): it stops by itself once the queue is empty.
        if let Some(writer) = writer.take()
            && writer.thread().id() != std::thread::current().id()
        {
            let _ = writer.join();
        }
    }
}

const GENESIS: [u8; 32] = [0u8; 32];
const APPEND_ATTEMPTS: usize = 8;

/// Tickets of appends not yet waited for, with the log each belongs to.
type Tickets = Vec<(Arc<Inner>, u64)>;

thread_local! {
    /// Inside [`AuditLog::deferring`]: the tickets this thread's appends took.
    static DEFERRED: RefCell<Option<Tickets>> = const { RefCell::new(None) };
}

impl AuditLog {
    /// An unkeyed audit log writer (plain SHA-256 chain, no anchor).
    pub fn new() -> Self {
        Self::default()
    }

    /// A keyed audit log writer: HMAC chain and anchored head under `key`.
    pub fn keyed(key: [u8; 32]) -> Self {
        Self::from_inner(Inner {
            key: Some(zeroize::Zeroizing::new(key)),
            ..Inner::default()
        })
    }

    fn from_inner(inner: Inner) -> Self {
        AuditLog {
            inner: Arc::new(inner),
            writer: Mutex::new(None),
        }
    }

    fn key(&self) -> Option<&[u8; 32]> {
        self.inner.key()
    }

    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.inner.queue()
    }

    /// Hands every write to a thread of its own, writing to `store`: each batch is written
    /// while the next one gathers, and [`deferring`](Self::deferring) can defer.
    pub fn start_writer(&self, store: Box<dyn Store>) -> KmsResult<()> {
        let mut writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        if writer.is_some() {
            return Ok(());
        }
        let inner = Arc::clone(&self.inner);
        let thread = std::thread::Builder::new()
            .name("kms-audit-writer".into())
            .spawn(move || {
                let mut queue = inner.queue();
                loop {
                    if !queue.events.is_empty() && !queue.writing {
                        queue = inner.write_next(store.as_ref(), queue);
                    } else if queue.closed && queue.events.is_empty() && !queue.writing {
                        return;
                    } else {
                        queue.writer_idle = true;
                        queue = inner.written.wait(queue).unwrap_or_else(|p| p.into_inner());
                        queue.writer_idle = false;
                    }
                }
            })
            .map_err(|e| KmsError::Internal(format!("cannot start the audit writer: {e}")))?;
        self.queue().dedicated = true;
        *writer = Some(thread);
        Ok(())
    }

    /// Appends `event` and returns its sequence number once it is durable.
    pub fn append(&self, store: &dyn Store, event: &AuditEvent) -> KmsResult<u64> {
        let event_json = encode(event)?;
        let (ticket, _) = self.inner.enqueue(event_json, None);
        self.inner.wait(store, ticket)
    }

    /// Appends `event`; `then`, if any, runs with its sequence number once it is durable.
    /// Returns once it is durable, or at once inside [`deferring`](Self::deferring) with a writer
    /// thread: the record's ticket then joins the [`Durability`] that `deferring` answers.
    pub fn append_then(
        &self,
        store: &dyn Store,
        event: &AuditEvent,
        then: Option<AfterWrite>,
    ) -> KmsResult<()> {
        let event_json = encode(event)?;
        let (ticket, dedicated) = self.inner.enqueue(event_json, then);
        if dedicated && DEFERRED.with(|d| d.borrow().is_some()) {
            DEFERRED.with(|d| {
                if let Some(tickets) = d.borrow_mut().as_mut() {
                    tickets.push((Arc::clone(&self.inner), ticket));
                }
            });
            return Ok(());
        }
        self.inner.wait(store, ticket).map(drop)
    }

    /// Runs `f`, letting the appends it makes return before their records are durable; the
    /// [`Durability`] answered with its result is ready once they all are. Without a writer
    /// thread every append waits as usual and the `Durability` is ready at once.
    pub fn deferring<T>(f: impl FnOnce() -> T) -> (T, Durability) {
        let outer = DEFERRED.with(|d| d.borrow_mut().replace(Vec::new()));
        // Restores the enclosing scope even if `f` unwinds.
        struct Restore(Option<Option<Tickets>>);
        impl Drop for Restore {
            fn drop(&mut self) {
                if let Some(outer) = self.0.take() {
                    DEFERRED.with(|d| *d.borrow_mut() = outer);
                }
            }
        }
        let mut restore = Restore(Some(outer));
        let out = f();
        let tickets = DEFERRED.with(|d| d.borrow_mut().take()).unwrap_or_default();
        let outer = restore.0.take().flatten();
        DEFERRED.with(|d| *d.borrow_mut() = outer);
        (
            out,
            Durability {
                tickets,
                failed: None,
            },
        )
    }

    /// Appends the trail's metrics (batch sizes, sync latency) to `out`, Prometheus text.
    pub fn render_metrics(&self, out: &mut String) {
        use kms_core::metrics::header;
        header(
            out,
            "kms_audit_batch_records",
            "histogram",
            "Audit records made durable per batch (group commit).",
        );
        self.inner
            .batch_sizes
            .0
            .render("kms_audit_batch_records", "", out);
        header(
            out,
            "kms_audit_sync_seconds",
            "histogram",
            "Time for one batch of audit records to become durable.",
        );
        self.inner
            .sync_seconds
            .0
            .render("kms_audit_sync_seconds", "", out);
    }

    /// Whether the last batch could be written (the trail is writable).
    pub fn writable(&self) -> bool {
        !self.inner.last_write_failed.load(Ordering::Relaxed)
    }

    /// Records and batches written by this writer so far: their ratio is the group commit's
    /// average batch.
    pub fn written(&self) -> (u64, u64) {
        (
            self.inner.records_written.load(Ordering::Relaxed),
            self.inner.batches_written.load(Ordering::Relaxed),
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

/// The error of a call whose audit record could not be written: the caller is told the call
/// failed, whatever it did.
pub(crate) fn unaudited(e: KmsError) -> KmsError {
    KmsError::Internal(format!("the call could not be audited: {e}"))
}

fn encode(event: &AuditEvent) -> KmsResult<String> {
    serde_json::to_string(event)
        .map_err(|e| KmsError::Internal(format!("cannot encode audit event: {e}")))
}

impl Inner {
    fn key(&self) -> Option<&[u8; 32]> {
        self.key.as_deref()
    }

    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a record; answers its ticket and whether a writer thread writes this log.
    fn enqueue(&self, event_json: String, then: Option<AfterWrite>) -> (u64, bool) {
        let mut queue = self.queue();
        let ticket = queue.first_ticket + queue.events.len() as u64;
        queue.events.push(Waiting { event_json, then });
        // A busy writer takes this record with its next batch without being told.
        if queue.writer_idle {
            self.written.notify_all();
        }
        (ticket, queue.dedicated)
    }

    /// Waits until `ticket` is written, writing batches itself when no one else is: a request
    /// that waits anyway writes on its own thread rather than hand the write to the writer
    /// thread and back (two context switches, more than an in-memory write costs).
    fn wait(&self, store: &dyn Store, ticket: u64) -> KmsResult<u64> {
        let mut queue = self.queue();
        loop {
            if let Some(outcome) = queue.outcomes.remove(&ticket) {
                return outcome;
            }
            if queue.writing {
                queue = self.written.wait(queue).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            queue = self.write_next(store, queue);
        }
    }

    /// Writes the records waiting (up to [`MAX_BATCH`]) as one batch, runs what waits on them,
    /// then publishes their outcomes and wakes their requests.
    fn write_next<'a>(
        &'a self,
        store: &dyn Store,
        mut queue: MutexGuard<'a, Queue>,
    ) -> MutexGuard<'a, Queue> {
        let take = queue.events.len().min(MAX_BATCH);
        let batch: Vec<Waiting> = queue.events.drain(..take).collect();
        let mut writing = Writing {
            log: self,
            first_ticket: queue.first_ticket,
            records: take,
            outcome: None,
        };
        queue.first_ticket += take as u64;
        queue.writing = true;
        drop(queue);
        let (events, thens): (Vec<String>, Vec<Option<AfterWrite>>) =
            batch.into_iter().map(|w| (w.event_json, w.then)).unzip();
        let outcome = self.write_batch(store, &events);
        if let Ok(first) = outcome {
            for (seq, then) in (first..).zip(thens) {
                if let Some(then) = then {
                    then(seq);
                }
            }
        }
        writing.outcome = Some(outcome);
        drop(writing);
        self.queue()
    }

    /// Chains `batch` onto the stored trail and writes it in one change; returns the first
    /// record's sequence number.
    fn write_batch(&self, store: &dyn Store, batch: &[String]) -> KmsResult<u64> {
        let build = |tail: AuditTail| {
            let (tail_seq, mut prev_hash) = tail.unwrap_or((0, GENESIS));
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
            AuditBatch { records, head }
        };
        let mut last_err = None;
        let mut hint = *self.tail.lock().unwrap_or_else(|p| p.into_inner());
        for _ in 0..APPEND_ATTEMPTS {
            // Another process may have appended after the remembered tail: then the store
            // refuses the batch and it is built again on the stored tail. (A shared store
            // builds it on its locked tail at once.)
            let started = std::time::Instant::now();
            let appended = store.append_audit_chained(hint.take(), &build);
            self.last_write_failed
                .store(appended.is_err(), Ordering::Relaxed);
            match appended {
                Ok(written) => {
                    self.sync_seconds.0.observe(started.elapsed().as_secs_f64());
                    self.batch_sizes.0.observe(written.records.len() as f64);
                    let (Some(first), Some(last)) =
                        (written.records.first(), written.records.last())
                    else {
                        return Err(KmsError::Internal(
                            "an empty audit batch was written".into(),
                        ));
                    };
                    *self.tail.lock().unwrap_or_else(|p| p.into_inner()) =
                        Some((last.seq, last.hash));
                    self.records_written
                        .fetch_add(written.records.len() as u64, Ordering::Relaxed);
                    self.batches_written.fetch_add(1, Ordering::Relaxed);
                    return Ok(first.seq);
                }
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| KmsError::Internal("audit append failed".into())))
    }
}

/// The records a request appended inside [`AuditLog::deferring`]: ready once they are all
/// durable, or failed as a call that could not be audited (the first failure to write one of
/// them). Await it, or [`wait`](Self::wait).
#[must_use = "the records are not known to be durable until this is ready"]
pub struct Durability {
    tickets: Tickets,
    /// The first failure among the outcomes taken so far.
    failed: Option<KmsError>,
}

impl std::fmt::Debug for Durability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Durability")
            .field("records", &self.tickets.len())
            .finish()
    }
}

impl Durability {
    /// Takes the outcomes that have arrived; `None` while some have not (then `waker` is woken
    /// when the next one arrives).
    fn take_ready(&mut self, waker: Option<&Waker>) -> Option<KmsResult<()>> {
        while let Some((log, ticket)) = self.tickets.last() {
            let mut queue = log.queue();
            match queue.outcomes.remove(ticket) {
                Some(outcome) => {
                    drop(queue);
                    if let Err(e) = outcome {
                        self.failed.get_or_insert(e);
                    }
                    self.tickets.pop();
                }
                None => {
                    if let Some(waker) = waker {
                        queue.wakers.push((*ticket, waker.clone()));
                    }
                    return None;
                }
            }
        }
        Some(self.failed.take().map_or(Ok(()), |e| Err(unaudited(e))))
    }

    /// Blocks until every record is durable.
    pub fn wait(mut self) -> KmsResult<()> {
        while let Some((log, ticket)) = self.tickets.pop() {
            let mut queue = log.queue();
            loop {
                if let Some(outcome) = queue.outcomes.remove(&ticket) {
                    if let Err(e) = outcome {
                        self.failed.get_or_insert(e);
                    }
                    break;
                }
                queue = log.written.wait(queue).unwrap_or_else(|p| p.into_inner());
            }
        }
        self.failed.take().map_or(Ok(()), |e| Err(unaudited(e)))
    }
}

impl Future for Durability {
    type Output = KmsResult<()>;

    fn poll(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<KmsResult<()>> {
        match self.take_ready(Some(context.waker())) {
            Some(outcome) => Poll::Ready(outcome),
            None => Poll::Pending,
        }
    }
}

impl Drop for Durability {
    /// A request that stops waiting (its client went away) leaves no outcome behind.
    fn drop(&mut self) {
        for (log, ticket) in self.tickets.drain(..) {
            let mut queue = log.queue();
            if queue.outcomes.remove(&ticket).is_none() {
                queue.abandoned.insert(ticket);
            }
        }
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
    use kms_vault::{AuditStore, MemoryStore};

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
            log.inner.written.notify_all();
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
            log: &log.inner,
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

    /// Runs `appends` deferred on a log with a writer thread over `store`; answers what ran
    /// after each write (the sequence numbers, in order) and the durability to wait on.
    fn deferred(
        log: &AuditLog,
        store: &MemoryStore,
        appends: usize,
    ) -> (Arc<Mutex<Vec<u64>>>, Durability) {
        let noted = Arc::new(Mutex::new(Vec::new()));
        let ((), durability) = AuditLog::deferring(|| {
            for _ in 0..appends {
                let noted = Arc::clone(&noted);
                log.append_then(
                    store,
                    &event("Encrypt"),
                    Some(Box::new(move |seq| noted.lock().unwrap().push(seq))),
                )
                .unwrap();
            }
        });
        (noted, durability)
    }

    #[test]
    fn deferred_appends_are_written_by_the_writer_and_ready_once_durable() {
        let store = MemoryStore::new();
        let log = AuditLog::keyed([7; 32]);
        log.start_writer(Box::new(store.clone())).unwrap();
        let (noted, durability) = deferred(&log, &store, 3);
        durability.wait().unwrap();
        // What waits on a record ran before its request learnt it was durable.
        assert_eq!(*noted.lock().unwrap(), [1, 2, 3]);
        assert_eq!(
            log.verify_trail(&store).unwrap(),
            Verification::Intact { records: 3 }
        );
    }

    #[test]
    fn a_deferred_durability_is_a_future_that_completes_when_written() {
        let store = MemoryStore::new();
        let log = AuditLog::new();
        log.start_writer(Box::new(store.clone())).unwrap();
        let (_, mut durability) = deferred(&log, &store, 2);
        let mut context = Context::from_waker(Waker::noop());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            if let Poll::Ready(outcome) = Pin::new(&mut durability).poll(&mut context) {
                outcome.unwrap();
                break;
            }
            assert!(std::time::Instant::now() < deadline, "never written");
            std::thread::yield_now();
        }
        assert_eq!(store.last_audit().unwrap().unwrap().seq, 2);
        assert!(log.queue().outcomes.is_empty() && log.queue().wakers.is_empty());
    }

    #[test]
    fn without_a_writer_thread_nothing_is_deferred() {
        let store = MemoryStore::new();
        let log = AuditLog::new();
        let (noted, durability) = deferred(&log, &store, 2);
        // Written before `deferring` returned.
        assert_eq!(*noted.lock().unwrap(), [1, 2]);
        assert_eq!(store.last_audit().unwrap().unwrap().seq, 2);
        durability.wait().unwrap();
    }

    #[test]
    fn a_request_that_stops_waiting_leaves_no_outcome_behind() {
        let store = MemoryStore::new();
        let log = AuditLog::new();
        log.start_writer(Box::new(store.clone())).unwrap();
        let (_, durability) = deferred(&log, &store, 4);
        drop(durability);
        // The records are written all the same; their outcomes are not kept for anyone.
        log.append(&store, &event("Decrypt")).unwrap();
        let queue = log.queue();
        assert!(queue.outcomes.is_empty(), "{:?}", queue.outcomes.keys());
        assert!(queue.abandoned.is_empty());
    }

    #[test]
    fn dropping_the_log_writes_what_is_queued_and_stops_the_writer() {
        let store = MemoryStore::new();
        let log = AuditLog::new();
        log.start_writer(Box::new(store.clone())).unwrap();
        let (_, durability) = deferred(&log, &store, 5);
        drop(log);
        durability.wait().unwrap();
        assert_eq!(store.last_audit().unwrap().unwrap().seq, 5);
    }

    #[test]
    fn chain_hash_depends_on_predecessor_and_sequence() {
        let a = chain_hash(None, &GENESIS, 1, "{}");
        assert_ne!(a, chain_hash(None, &GENESIS, 2, "{}"));
        assert_ne!(a, chain_hash(None, &[1u8; 32], 1, "{}"));
        assert_ne!(a, chain_hash(None, &GENESIS, 1, "{ }"));
    }
}
