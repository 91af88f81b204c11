//! `kms_service`: the KMS service façade. Every KMS operation, once, as
//! `caller + request -> response or KmsError`. Every front door (the `kms` command line, the Rust
//! embedding API, guest host calls and the HTTP API) calls these methods and nothing else. Each
//! operation resolves the key, asks `authz`, enforces the key state machine, uses `vault` and
//! `crypto`, and records the call, whatever its outcome, in the audit trail.
//!
//! ```
//! use kms_service::{Caller, EncryptionContext, Service};
//! use kms_service::{CreateKeyRequest, DecryptRequest, EncryptRequest};
//!
//! let service = Service::in_memory().unwrap();
//! let admin = Caller::account_root(service.account());
//! let key = service.create_key(&admin, CreateKeyRequest::default()).unwrap().key_metadata;
//! let context = EncryptionContext::from_pairs([("tenant", "acme")]).unwrap();
//! let sealed = service
//!     .encrypt(&admin, EncryptRequest::new(&key.key_id, b"hello".to_vec()).with_context(context.clone()))
//!     .unwrap();
//! let opened = service
//!     .decrypt(&admin, DecryptRequest::new(sealed.ciphertext_blob).with_context(context))
//!     .unwrap();
//! assert_eq!(opened.plaintext.as_slice(), b"hello");
//! ```
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod audit;
pub mod envelope;
#[doc(hidden)]
pub mod fuzzing;

mod aliases;
mod analyze;
mod api;
mod asymmetric_ops;
mod audit_api;
mod authorization;
mod clock;
mod crypto_ops;
mod custom_key_stores;
mod encapsulation;
mod grants;
mod guest;
mod identities;
mod import;
mod key_policies;
mod key_usage;
mod keys;
mod managed;
mod metrics;
mod multi_region;
mod plugins;
mod rotation;
mod xks;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

pub use aliases::validate_alias_name;
pub use analyze::{AnalyzeResponse, BroadPrincipal, OpenStatement, UnusedGrant, UnusedKey};
pub use api::*;
pub use asymmetric_ops::{
    DeriveSharedSecretRequest, DeriveSharedSecretResponse, GenerateDataKeyPairRequest,
    GenerateDataKeyPairResponse, GenerateMacRequest, GenerateMacResponse, GetPublicKeyResponse,
    SignRequest, SignResponse, VerifyMacRequest, VerifyMacResponse, VerifyRequest, VerifyResponse,
    usages_of,
};
pub use audit::Durability;
pub use audit_api::{
    AuditEventEntry, LookupAuditEventsRequest, LookupAuditEventsResponse, VerifyAuditTrailRequest,
    VerifyAuditTrailResponse,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use crypto_ops::Accept;
pub use custom_key_stores::{
    CreateCustomKeyStoreRequest, CreateCustomKeyStoreResponse, CustomKeyStoreRequest,
    CustomKeyStoresListEntry, DescribeCustomKeyStoresRequest, DescribeCustomKeyStoresResponse,
    HsmCluster, MAX_CUSTOM_KEY_STORES, UpdateCustomKeyStoreRequest, XksCredential,
    XksProxyConfiguration,
};
pub use encapsulation::{
    DecapsulateRequest, DecapsulateResponse, EncapsulateRequest, EncapsulateResponse,
};
pub use grants::{
    CreateGrantRequest, CreateGrantResponse, GrantListEntry, ListGrantsRequest, ListGrantsResponse,
    ListRetirableGrantsRequest, RetireGrantRequest, RevokeGrantRequest,
};
pub use guest::{Admission, DataKey, GuestRefusals, KeyFacts, MAX_REFUSAL_REASON_BYTES};
pub use identities::{
    AccessKeyCreated, AccessKeyEntry, AccountEntry, CreateAccountRequest, CreatePrincipalRequest,
    Credential, MAX_ACCESS_KEYS, MAX_IDENTITY_POLICIES, PrincipalEntry, PutPrincipalPolicyRequest,
    validate_identity_policy,
};
pub use import::{
    DeleteImportedKeyMaterialRequest, GetParametersForImportRequest,
    GetParametersForImportResponse, IMPORT_PARAMETERS_VALID_SECONDS, ImportKeyMaterialRequest,
    KeyMaterialResponse,
};
pub use key_policies::{
    GetKeyPolicyResponse, KeyPolicyRequest, ListKeyPoliciesResponse, PutKeyPolicyRequest,
};
pub use key_usage::{GetKeyLastUsageResponse, KEY_USAGE_FLUSH_SECONDS, KeyLastUsageData};
pub use managed::{MANAGED_KEY_ROTATION_DAYS, MANAGED_KEY_SERVICES, managed_key_policy};
pub use multi_region::{
    MultiRegionConfiguration, MultiRegionKey, ReplicateKeyRequest, ReplicateKeyResponse,
    UpdatePrimaryRegionRequest,
};
pub use plugins::{
    AttachPolicyPluginRequest, ListPolicyPluginsResponse, MAX_PLUGIN_BYTES, PolicyPluginEntry,
    PolicyPluginScopeRequest, component_digest,
};
pub use rotation::MAX_ON_DEMAND_ROTATIONS;
pub use xks::{ExternalLayer, XksClient, XksFailure, XksKeyMetadata, XksProxy, XksRequestMeta};

use authorization::{RequestFacts, Resource};
use kms_core::ConditionKey;
use kms_core::arn::{Arn, KeyReference, KeyTarget};
use kms_core::error::Missing;
pub use kms_core::{CallSource, Caller, EncryptionContext, KeyId, KmsError, KmsResult, Operation};

use crate::audit::{AuditEvent, AuditLog};
use kms_authz as authz;

use kms_core::types::{KeyState, RotationType};
use kms_vault::{KeyRecord, MemoryStore, RootKey, SqliteStore, Swap, Vault};

pub(crate) const SECONDS_PER_DAY: u64 = 86_400;

/// How many times a read-modify-write is tried before concurrent writers are given up on.
const MAX_WRITE_ATTEMPTS: usize = 64;

/// Default account of a vault created without one (AWS's documentation account).
pub const DEFAULT_ACCOUNT: &str = "111122223333";
/// Default region of a vault created without one.
pub const DEFAULT_REGION: &str = "us-east-1";
/// How often, at most, operations sweep for keys due for deletion or rotation.
const SWEEP_INTERVAL_SECONDS: u64 = 60;

/// Resource quotas, answered with LimitExceededException when a request would pass them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResourceLimits {
    /// KMS keys in the vault's account (AWS: 100,000 per region).
    pub keys: u64,
    /// Aliases per KMS key (AWS: 50).
    pub aliases_per_key: usize,
    /// Grants per KMS key (AWS: 50,000).
    pub grants_per_key: usize,
}

impl Default for ResourceLimits {
    fn default() -> Self {
        ResourceLimits {
            keys: 100_000,
            aliases_per_key: 50,
            grants_per_key: 50_000,
        }
    }
}

/// The KMS service over one vault, seen from one region: every operation acts on that
/// region's keys, aliases and grants. [`in_region`](Self::in_region) gives the same service seen
/// from another region; all regions share the vault, the audit trail and the settings.
#[derive(Clone)]
pub struct Service {
    shared: Arc<Shared>,
    region: String,
}

/// What every region's view of the service shares.
struct Shared {
    vault: Vault,
    clock: Arc<dyn Clock>,
    audit: AuditLog,
    last_sweep: AtomicU64,
    policy_engine: RwLock<Option<Arc<dyn authz::PolicyEngine>>>,
    limits: RwLock<ResourceLimits>,
    // Key and identity policy documents already parsed, by their text.
    policies: Mutex<std::collections::HashMap<String, Arc<authz::policy::PolicyDocument>>>,
    // Key uses noted since they were last written to the store (GetKeyLastUsage).
    key_usage: key_usage::KeyUsageTracker,
    // The client that reaches external key stores' XKS proxies (`kms serve` installs it).
    xks_client: RwLock<Option<Arc<dyn xks::XksClient>>>,
    // Plugin verdicts given so far: allow, deny, abstain, failed.
    plugin_verdicts: [AtomicU64; 4],
    // The HSM tokens this process is logged in to, by custom key store id.
    hsm_tokens: Mutex<std::collections::HashMap<String, Arc<kms_vault::hsm::HsmToken>>>,
    // What a test runs before every call (fault injection); `interceptor_set` spares the
    // lock when there is none, as in production.
    interceptor: RwLock<Option<Arc<CallInterceptor>>>,
    interceptor_set: AtomicBool,
}

/// What [`Service::set_call_interceptor`] runs before every operation, with the operation's
/// name (`"Encrypt"`) and its caller: `Err` answers that error in place of the call (which is
/// audited with it), and the interceptor may change the vault through the service it is given
/// before answering `Ok` (disable the key the call is about to use). Fault injection for tests
/// (`kms-testkit`); production leaves it unset.
pub type CallInterceptor = dyn Fn(&Service, &Caller, &str) -> KmsResult<()> + Send + Sync;

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("vault", &self.shared.vault)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

/// Checks `Limit` of a List* request: `None` means `default`, otherwise 1..=`max`.
fn page_limit(limit: Option<u32>, default: u32, max: u32) -> KmsResult<usize> {
    match limit {
        None => Ok(default as usize),
        Some(n) if (1..=max).contains(&n) => Ok(n as usize),
        Some(n) => Err(KmsError::invalid(
            "Limit",
            format!("Limit {n} is out of range; it must be between 1 and {max}"),
        )),
    }
}

/// The id of the request `caller` makes: the front door's (an HTTP request's), else a new one.
fn request_id_of(caller: &Caller) -> String {
    match &caller.source {
        CallSource::Api {
            request_id: Some(id),
            ..
        } => id.clone(),
        _ => uuid::Uuid::new_v4().to_string(),
    }
}

/// An opaque pagination marker wrapping `position`.
fn encode_marker(position: &str) -> String {
    URL_SAFE_NO_PAD.encode(position)
}

/// The position inside a marker this service issued.
fn decode_marker(marker: &str) -> KmsResult<String> {
    URL_SAFE_NO_PAD
        .decode(marker)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| KmsError::invalid_marker(marker))
}

/// A marker holding a numeric offset (for lists that are small and belong to one key).
fn decode_offset_marker(marker: Option<&str>) -> KmsResult<usize> {
    match marker {
        None => Ok(0),
        Some(m) => decode_marker(m)?
            .parse()
            .map_err(|_| KmsError::invalid_marker(m)),
    }
}

/// Cuts `items` (already starting at `offset`) into one page with its marker.
fn paginate_by_offset<T>(
    mut items: Vec<T>,
    offset: usize,
    limit: usize,
) -> (Vec<T>, Option<String>) {
    let more = items.len() > limit;
    items.truncate(limit);
    let marker = more.then(|| encode_marker(&(offset + limit).to_string()));
    (items, marker)
}

/// The alias name a key reference uses, if it is an alias name or alias ARN.
fn request_alias(key: &str) -> Option<&str> {
    KeyReference::parse(key).ok()?.alias_name()
}

/// What an operation tells the audit trail about itself while it runs.
#[derive(Default)]
struct AuditNote {
    key_arn: Option<String>,
    encryption_context: Option<Vec<(String, String)>>,
    /// The alias the request named its key by, for `kms:RequestAlias`.
    request_alias: Option<String>,
    /// Condition keys of the request's parameters, for the policies
    /// ([`Operation`](kms_core::Operation)'s table says which an action carries).
    conditions: Vec<(String, Vec<String>)>,
    /// The grant that allowed the call, if one did.
    grant_id: Option<String>,
    /// A second key the call used besides `key_arn` (ReEncrypt's destination), for
    /// GetKeyLastUsage.
    also_used: Option<KeyId>,
    /// The request only asks whether it would succeed: `key_to_use` answers
    /// `DryRunOperationException` once the key is authorized and fit for the call, before
    /// anything is used.
    dry_run: bool,
}

impl AuditNote {
    /// Notes what allowed the call: the audit trail names the grant, when one did.
    fn allowed_by(&mut self, basis: authz::Basis) {
        if let authz::Basis::Grant(id) = basis {
            self.grant_id = Some(id);
        }
    }

    /// Ends a dry run, once the call's key is authorized, before the key is used.
    fn end_dry_run(&self) -> KmsResult<()> {
        if self.dry_run {
            return Err(grants::dry_run_succeeded());
        }
        Ok(())
    }

    fn key(&mut self, arn: String) {
        self.key_arn = Some(arn);
    }

    /// Notes a condition key of the request's parameters (`kms:SigningAlgorithm`, …).
    fn condition<T: ToString>(&mut self, key: ConditionKey, values: impl IntoIterator<Item = T>) {
        self.conditions.push(authorization::condition(key, values));
    }

    /// Notes the tags of a request (`aws:RequestTag/<key>` per tag, `aws:TagKeys`).
    fn request_tags(&mut self, tags: &[kms_core::types::Tag]) {
        for tag in tags {
            self.conditions.push((
                ConditionKey::RequestTag.with_suffix(&tag.tag_key),
                vec![tag.tag_value.clone()],
            ));
        }
        self.tag_keys(tags.iter().map(|t| t.tag_key.as_str()));
    }

    /// Notes the tag keys a request names (`aws:TagKeys`), when it names any.
    fn tag_keys<'k>(&mut self, keys: impl IntoIterator<Item = &'k str>) {
        let keys: Vec<&str> = keys.into_iter().collect();
        if !keys.is_empty() {
            self.condition(ConditionKey::TagKeys, keys);
        }
    }

    /// Notes the encryption context the request carries, refusing one with an empty key or
    /// value first: every operation that takes a context passes it here, so every front door
    /// gets AWS's `ValidationException` for it.
    fn context(&mut self, context: &EncryptionContext) -> KmsResult<()> {
        context.require_no_empty_pairs()?;
        if !context.is_empty() {
            self.encryption_context = Some(
                context
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            );
        }
        Ok(())
    }
}

impl Service {
    /// A service over `vault`, telling time by `clock`. Applies deletions and rotations that fell
    /// due while the vault was closed.
    pub fn new(vault: Vault, clock: Arc<dyn Clock>) -> KmsResult<Self> {
        let audit_key = vault.audit_key();
        let region = vault.region().to_string();
        let shared = Shared {
            vault,
            clock,
            audit: AuditLog::keyed(audit_key),
            last_sweep: AtomicU64::new(0),
            policy_engine: RwLock::new(None),
            policies: Mutex::new(std::collections::HashMap::new()),
            limits: RwLock::new(ResourceLimits::default()),
            key_usage: Default::default(),
            xks_client: RwLock::new(None),
            plugin_verdicts: Default::default(),
            hsm_tokens: Mutex::new(std::collections::HashMap::new()),
            interceptor: RwLock::new(None),
            interceptor_set: Default::default(),
        };
        shared
            .audit
            .start_writer(Box::new(shared.vault.records().clone()))?;
        let service = Service {
            shared: Arc::new(shared),
            region,
        };
        service.ensure_own_account()?;
        service.start_key_usage_tracking()?;
        service.run_maintenance()?;
        Ok(service)
    }

    /// A service over a fresh in-memory vault (account [`DEFAULT_ACCOUNT`], region
    /// [`DEFAULT_REGION`], random root key): for tests and examples.
    pub fn in_memory() -> KmsResult<Self> {
        Self::in_memory_with_clock(Arc::new(SystemClock))
    }

    /// [`in_memory`](Self::in_memory) with a clock of the caller's choosing.
    pub fn in_memory_with_clock(clock: Arc<dyn Clock>) -> KmsResult<Self> {
        let vault = Vault::create(
            Box::new(MemoryStore::new()),
            RootKey::generate()?,
            DEFAULT_ACCOUNT,
            DEFAULT_REGION,
        )?;
        Self::new(vault, clock)
    }

    /// A service over the SQLite vault file at `path`, which must have been initialised.
    pub fn open_sqlite(path: &Path, root: RootKey) -> KmsResult<Self> {
        let store = SqliteStore::open(path)?;
        Self::new(Vault::open(Box::new(store), root)?, Arc::new(SystemClock))
    }

    /// Verifies the audit trail: its keyed hash chain and its anchored head.
    pub fn verify_audit(&self) -> KmsResult<crate::audit::Verification> {
        self.shared.audit.verify_trail(self.shared.vault.store())
    }

    /// Audit records and batches this process has made durable: every batch is one sync, so
    /// records per batch is what group commit saves.
    pub fn audit_written(&self) -> (u64, u64) {
        self.shared.audit.written()
    }

    /// Up to `limit` (at most 1000) audit records after sequence number `after`, in order: the
    /// way to read the trail. Allowed to the account root and to principals whose identity
    /// policy allows `cloudtrail:LookupEvents`; a refusal is itself audited.
    ///
    /// ```
    /// use kms_service::{Caller, CreateKeyRequest, Service};
    /// let service = Service::in_memory().unwrap();
    /// let admin = Caller::account_root(service.account());
    /// service.create_key(&admin, CreateKeyRequest::default()).unwrap();
    /// let events = service.lookup_audit_events(&admin, 0, 10).unwrap();
    /// assert_eq!(events[0].1.operation, "CreateKey");
    /// ```
    pub fn lookup_audit_events(
        &self,
        caller: &Caller,
        after: u64,
        limit: usize,
    ) -> KmsResult<Vec<(u64, AuditEvent)>> {
        if let Err(refusal) = self.authorize(caller, "cloudtrail:LookupEvents", Resource::Account) {
            self.record(caller, "LookupEvents", AuditNote::default(), Some(&refusal))?;
            return Err(refusal);
        }
        AuditLog::events_after(self.shared.vault.store(), after, limit.clamp(1, 1000))
    }

    /// The account that owns this service's keys.
    pub fn account(&self) -> &str {
        self.shared.vault.account()
    }

    /// The region this view of the service acts in.
    pub fn region(&self) -> &str {
        self.region.as_str()
    }

    /// The vault's home region: the region of [`Service::new`]'s view, for callers that name
    /// none.
    pub fn home_region(&self) -> &str {
        self.shared.vault.region()
    }

    /// The same service seen from `region`: its keys, aliases, grants and quotas are that
    /// region's; the vault, audit trail, principals and settings are shared.
    ///
    /// ```
    /// use kms_service::{Caller, CreateKeyRequest, KeyRequest, Service};
    /// let east = Service::in_memory().unwrap();
    /// let west = east.in_region("us-west-2").unwrap();
    /// let admin = Caller::account_root(east.account());
    /// let key = west.create_key(&admin, CreateKeyRequest::default()).unwrap().key_metadata;
    /// assert!(key.arn.starts_with("arn:aws:kms:us-west-2:"));
    /// assert!(west.describe_key(&admin, KeyRequest::new(&key.key_id)).is_ok());
    /// assert!(east.describe_key(&admin, KeyRequest::new(&key.key_id)).is_err());
    /// ```
    pub fn in_region(&self, region: &str) -> KmsResult<Service> {
        kms_vault::validate_region(region)?;
        Ok(Service {
            shared: Arc::clone(&self.shared),
            region: region.to_string(),
        })
    }

    /// The vault underneath, for this crate's tests only.
    #[cfg(test)]
    pub(crate) fn vault(&self) -> &Vault {
        &self.shared.vault
    }

    fn now(&self) -> u64 {
        self.shared.clock.now()
    }

    /// Sets the resource quotas.
    pub fn set_resource_limits(&self, limits: ResourceLimits) {
        *self
            .shared
            .limits
            .write()
            .unwrap_or_else(|p| p.into_inner()) = limits;
    }

    /// Installs (or with `None` removes) the [`CallInterceptor`] every operation of every
    /// region of this service passes first.
    pub fn set_call_interceptor(&self, interceptor: Option<Arc<CallInterceptor>>) {
        let mut slot = self
            .shared
            .interceptor
            .write()
            .unwrap_or_else(|p| p.into_inner());
        self.shared
            .interceptor_set
            .store(interceptor.is_some(), Ordering::Release);
        *slot = interceptor;
    }

    /// What the interceptor, if any, answers for `operation` by `caller`.
    fn intercept(&self, caller: &Caller, operation: &str) -> KmsResult<()> {
        if !self.shared.interceptor_set.load(Ordering::Acquire) {
            return Ok(());
        }
        let interceptor = self
            .shared
            .interceptor
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        match interceptor {
            Some(interceptor) => interceptor(self, caller, operation),
            None => Ok(()),
        }
    }

    /// The resource quotas in force.
    pub fn resource_limits(&self) -> ResourceLimits {
        *self.shared.limits.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The service's time, seconds since the epoch (front doors check request times with it).
    pub fn now_seconds(&self) -> u64 {
        self.now()
    }

    /// The spec and usage of a key, without authorization: for a front door's rate limiting by
    /// key type. `None` when the reference resolves to no key.
    pub fn key_type(
        &self,
        key: &str,
    ) -> Option<(kms_core::types::KeySpec, kms_core::types::KeyUsage)> {
        let key_id = self.resolve_id(key).ok()?;
        let record = self
            .shared
            .vault
            .store()
            .key(&self.region, &key_id)
            .ok()??;
        Some((record.key_spec, record.key_usage))
    }

    /// Runs a read-modify-write until it applies. `attempt` reads what it changes and writes it
    /// back with a compare-and-swap; it answers `None` when the store said [`Swap::Stale`]
    /// (another thread, process or node wrote first), and then runs again on what that writer
    /// wrote. No lock is held. `what` names the record for the error after
    /// [`MAX_WRITE_ATTEMPTS`] lost races.
    fn until_applied<T>(
        &self,
        what: impl FnOnce() -> String,
        mut attempt: impl FnMut() -> KmsResult<Option<T>>,
    ) -> KmsResult<T> {
        for _ in 0..MAX_WRITE_ATTEMPTS {
            if let Some(out) = attempt()? {
                return Ok(out);
            }
        }
        Err(KmsError::Internal(format!(
            "{} is being changed by many writers at once; retry the request",
            what()
        )))
    }

    /// The stored record of `key_id`, read as it is now (no due work applied).
    fn stored_key(&self, key_id: &KeyId) -> KmsResult<KeyRecord> {
        self.shared
            .vault
            .store()
            .key(&self.region, key_id)?
            .ok_or_else(|| KmsError::key_not_found(self.key_arn(key_id)))
    }

    /// Changes a key record through [`until_applied`](Self::until_applied): `change` sees the
    /// latest record each time.
    fn modify_key<T>(
        &self,
        key_id: &KeyId,
        mut change: impl FnMut(&mut KeyRecord) -> KmsResult<T>,
    ) -> KmsResult<T> {
        self.until_applied(
            || self.key_arn(key_id),
            || {
                let mut record = self.stored_key(key_id)?;
                let out = change(&mut record)?;
                Ok((self.shared.vault.store().update_key(&record)? == Swap::Done).then_some(out))
            },
        )
    }

    /// The ARN of a key of this vault.
    pub fn key_arn(&self, key_id: &KeyId) -> String {
        Arn::kms_key(self.region.as_str(), self.shared.vault.account(), key_id).to_string()
    }

    fn alias_arn(&self, alias_name: &str) -> String {
        Arn::kms(
            self.region.as_str(),
            self.shared.vault.account(),
            alias_name,
        )
        .to_string()
    }

    /// Runs `op`, then records it in the audit trail with its outcome. If the record cannot be
    /// written, the call fails: nothing happens unaudited.
    fn audited<T>(
        &self,
        caller: &Caller,
        operation: &'static str,
        op: impl FnOnce(&mut AuditNote) -> KmsResult<T>,
    ) -> KmsResult<T> {
        let mut note = AuditNote::default();
        let result = self
            .intercept(caller, operation)
            .and_then(|()| op(&mut note));
        self.record(caller, operation, note, result.as_ref().err())?;
        result
    }

    fn record(
        &self,
        caller: &Caller,
        operation: &str,
        note: AuditNote,
        error: Option<&KmsError>,
    ) -> KmsResult<()> {
        self.append_event(
            caller,
            operation,
            note,
            error.map_or("Success", KmsError::aws_type),
            error.map(|e| e.message().to_string()),
        )
    }

    /// Appends one event to the audit trail; a failure to write it is an internal error.
    fn append_event(
        &self,
        caller: &Caller,
        operation: &str,
        note: AuditNote,
        outcome: &str,
        message: Option<String>,
    ) -> KmsResult<()> {
        let request_id = request_id_of(caller);
        let also_used = note.also_used;
        let event = AuditEvent {
            time: self.now(),
            request_id,
            operation: operation.to_string(),
            principal: caller.principal.clone(),
            account: caller.account.clone(),
            region: self.region.clone(),
            source: caller.source.audit_name(),
            key_arn: note.key_arn,
            encryption_context: note.encryption_context,
            grant_id: note.grant_id,
            outcome: outcome.to_string(),
            error_message: message,
        };
        let then = self.key_use_note(&event, also_used);
        self.shared
            .audit
            .append_then(self.shared.vault.store(), &event, then)
            .map_err(audit::unaudited)
    }

    /// Runs `f` (calls of this service, on this thread), letting their audit records be made
    /// durable after it returns: the answered [`Durability`] is ready once they are. A front
    /// door awaits it before it sends the answer, so that nothing is acknowledged before its
    /// record is durable, while its threads serve other requests meanwhile.
    pub fn deferring_durability<T>(&self, f: impl FnOnce() -> T) -> (T, Durability) {
        AuditLog::deferring(f)
    }

    /// Resolves a key id, key ARN, alias name or alias ARN to its key record, applying any deletion
    /// or automatic rotation that has fallen due.
    fn resolve(&self, key: &str) -> KmsResult<KeyRecord> {
        self.maybe_sweep();
        let key_id = self.resolve_id(key)?;
        let record = self.shared.vault.store().key(&self.region, &key_id)?;
        let record = match record {
            Some(record) => self.apply_due(record)?,
            None => None,
        };
        record.ok_or_else(|| KmsError::key_not_found(self.key_arn(&key_id)))
    }

    /// Resolves a key reference to an id without reading the key record. An ARN of another
    /// region or account names no key of this vault.
    fn resolve_id(&self, key: &str) -> KmsResult<KeyId> {
        let reference = KeyReference::parse(key)?;
        if let Some(arn) = reference.arn()
            && (arn.region() != self.region.as_str()
                || arn.account() != self.shared.vault.account())
        {
            return Err(KmsError::key_not_found(key));
        }
        match reference.target()? {
            KeyTarget::Key(id) => Ok(id),
            KeyTarget::Alias(alias) => self
                .shared
                .vault
                .store()
                .alias(&self.region, alias)?
                .map(|a| a.key_id)
                .ok_or_else(|| KmsError::alias_not_found(self.alias_arn(alias))),
        }
    }

    /// Sweeps for due keys at most once per [`SWEEP_INTERVAL_SECONDS`].
    fn maybe_sweep(&self) {
        let now = self.now();
        let last = self.shared.last_sweep.load(Ordering::Relaxed);
        if now >= last + SWEEP_INTERVAL_SECONDS
            && self
                .shared
                .last_sweep
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            // A failed sweep is retried at the next interval; the operation at hand does not
            // depend on it, because `resolve` applies due work to its own key anyway.
            let _ = kms_core::blocking::section(|| self.run_maintenance());
        }
    }

    /// Deletes every key whose waiting period has ended and rotates every key whose automatic
    /// rotation is due. Returns how many keys were acted on. Runs by itself as operations
    /// arrive; `kms serve` and embedders may also call it on a timer.
    pub fn run_maintenance(&self) -> KmsResult<usize> {
        let now = self.now();
        self.shared.last_sweep.store(now, Ordering::Relaxed);
        let due = self.shared.vault.store().keys_due(now)?;
        let mut acted = 0;
        for (region, key_id) in due {
            let here = self.in_region(&region)?;
            if let Some(record) = self.shared.vault.store().key(&region, &key_id)? {
                let before = record.clone();
                if here.apply_due(record)?.as_ref() != Some(&before) {
                    acted += 1;
                }
            }
        }
        Ok(acted)
    }

    /// Applies due work to one key: `None` if it was deleted.
    fn apply_due(&self, record: KeyRecord) -> KmsResult<Option<KeyRecord>> {
        let now = self.now();
        if record.due_at().is_none_or(|t| t > now) {
            return Ok(Some(record));
        }
        let key_id = record.key_id;
        self.until_applied(
            || self.key_arn(&key_id),
            || {
                // Read again: another thread, process or node may have done the work already.
                let Some(record) = self.shared.vault.store().key(&self.region, &key_id)? else {
                    return Ok(Some(None));
                };
                if record.due_at().is_none_or(|t| t > now) {
                    return Ok(Some(Some(record)));
                }
                self.apply_due_once(record, now)
            },
        )
    }

    /// One attempt at the due work on `record`: `None` when another writer changed the key
    /// first (nothing was done or audited), otherwise the key as it now is (`None` inside when
    /// it was deleted).
    fn apply_due_once(
        &self,
        mut record: KeyRecord,
        now: u64,
    ) -> KmsResult<Option<Option<KeyRecord>>> {
        let scheduler = Caller {
            principal: "kms.amazonaws.com".into(),
            account: record.account.clone(),
            source: CallSource::Scheduler,
            via_service: None,
        };
        let mut note = AuditNote::default();
        note.key(self.key_arn(&record.key_id));
        if record.state == KeyState::PendingDeletion
            && record.deletion_date.is_some_and(|at| at <= now)
        {
            let result = match self.shared.vault.store().delete_key(&record) {
                Ok(Swap::Stale) => return Ok(None),
                // Another node (or process) deleted it first, and audited that.
                Err(KmsError::NotFound(_)) => {
                    self.shared.vault.evict(&record.key_id);
                    return Ok(Some(None));
                }
                other => other.map(drop),
            };
            self.shared.vault.evict(&record.key_id);
            if result.is_ok() {
                self.erase_from_hsm(&record);
            }
            self.record(&scheduler, "DeleteKey", note, result.as_ref().err())?;
            result?;
            self.release_waiting_primary(&record)?;
            return Ok(Some(None));
        }
        if record.material_expiry().is_some_and(|at| at <= now) {
            // Expired imported material is deleted, as AWS does, and the key awaits it again.
            let expired = |m: &kms_vault::ImportedMaterial| m.valid_to.is_some_and(|at| at <= now);
            let result = match self.erase_material(&mut record, expired) {
                Ok(Swap::Stale) => return Ok(None),
                Err(KmsError::NotFound(_)) => return Ok(Some(None)),
                other => other.map(drop),
            };
            self.record(
                &scheduler,
                "DeleteExpiredKeyMaterial",
                note,
                result.as_ref().err(),
            )?;
            result?;
            return Ok(Some(Some(record)));
        }
        let rotation_due = record.state == KeyState::Enabled
            && record
                .rotation
                .as_ref()
                .is_some_and(|r| r.next_rotation_at <= now);
        if !rotation_due {
            return Ok(Some(Some(record)));
        }
        let result = match self.add_backing_version(&mut record, RotationType::Automatic, now) {
            Ok(Swap::Stale) => return Ok(None),
            // Deleted meanwhile by another node: nothing is left to rotate.
            Err(KmsError::NotFound(_)) => return Ok(Some(None)),
            other => other.map(drop),
        };
        self.record(&scheduler, "RotateKey", note, result.as_ref().err())?;
        result?;
        Ok(Some(Some(record)))
    }

    /// Adds a backing-key version to `record` and stores both, if the stored record is still
    /// the one `record` was read as ([`Swap::Stale`] otherwise, and nothing is stored).
    fn add_backing_version(
        &self,
        record: &mut KeyRecord,
        rotation_type: RotationType,
        now: u64,
    ) -> KmsResult<Swap> {
        let version = record.current_version + 1;
        let sealed = self.shared.vault.new_version(
            &record.key_id,
            record.key_spec,
            version,
            now,
            Some(rotation_type),
        )?;
        record.current_version = version;
        match rotation_type {
            RotationType::Automatic => {
                if let Some(rotation) = record.rotation.as_mut() {
                    rotation.next_rotation_at =
                        now + u64::from(rotation.period_days) * SECONDS_PER_DAY;
                }
            }
            RotationType::OnDemand => {
                record.on_demand_rotations += 1;
                record.last_on_demand_rotation = Some(now);
            }
        }
        let swap = self.shared.vault.store().add_version(record, &sealed)?;
        if swap == Swap::Done {
            record.revision += 1;
            self.share_rotation(record)?;
        }
        Ok(swap)
    }

    /// Resolves the key a request names, notes it for the audit and authorizes the request on
    /// it (through [`authorize`](Self::authorize)): the common start of a key operation. A dry
    /// run ends here at the latest; operations with `DryRun` use [`key_to_use`](Self::key_to_use),
    /// which checks the key further first.
    fn key_for(
        &self,
        caller: &Caller,
        note: &mut AuditNote,
        key: &str,
        action: &str,
    ) -> KmsResult<KeyRecord> {
        let record = self.authorized_key(caller, note, key, action)?;
        note.end_dry_run()?;
        Ok(record)
    }

    /// The key a cryptographic operation uses: authorized, Enabled, and meeting `requires` (its
    /// usage, the algorithm the request asks for): everything the real call would refuse on
    /// before using the key. Only then does a dry run end (`DryRunOperationException`).
    fn key_to_use(
        &self,
        caller: &Caller,
        note: &mut AuditNote,
        key: &str,
        action: &str,
        requires: impl FnOnce(&KeyRecord) -> KmsResult<()>,
    ) -> KmsResult<KeyRecord> {
        let record = self.authorized_key(caller, note, key, action)?;
        self.require_enabled(&record)?;
        requires(&record)?;
        note.end_dry_run()?;
        Ok(record)
    }

    fn authorized_key(
        &self,
        caller: &Caller,
        note: &mut AuditNote,
        key: &str,
        action: &str,
    ) -> KmsResult<KeyRecord> {
        let record = self.resolve_creating_managed(caller, key, action)?;
        note.key(self.key_arn(&record.key_id));
        note.request_alias = request_alias(key).map(str::to_string);
        let basis = self.authorize(
            caller,
            action,
            Resource::Key(&record, RequestFacts::of(note)),
        )?;
        note.allowed_by(basis);
        Ok(record)
    }

    /// Resolves and authorizes like [`key_for`](Self::key_for), with the request's condition
    /// keys given rather than taken from the note: for a call that authorizes two keys, each
    /// with its own (ReEncrypt). The caller checks the key and ends a dry run.
    fn key_for_facts(
        &self,
        caller: &Caller,
        note: &mut AuditNote,
        key: &str,
        action: &str,
        facts: RequestFacts<'_>,
    ) -> KmsResult<KeyRecord> {
        let record = self.resolve_creating_managed(caller, key, action)?;
        note.key(self.key_arn(&record.key_id));
        let basis = self.authorize(caller, action, Resource::Key(&record, facts))?;
        note.allowed_by(basis);
        Ok(record)
    }

    /// Refuses a new key in this region once the region holds the most keys the quota allows.
    fn require_room_for_a_key(&self) -> KmsResult<()> {
        let limit = self.resource_limits().keys;
        if self.shared.vault.store().key_count(&self.region)? >= limit {
            return Err(KmsError::LimitExceeded(format!(
                "Account {} already has {limit} KMS keys in {}, the most it may have",
                self.shared.vault.account(),
                self.region
            )));
        }
        Ok(())
    }

    /// Refuses cryptographic use of a key that is not Enabled, with AWS's exception per state.
    fn require_enabled(&self, record: &KeyRecord) -> KmsResult<()> {
        let arn = self.key_arn(&record.key_id);
        match record.state {
            KeyState::Enabled => Ok(()),
            KeyState::Disabled => Err(KmsError::Disabled(format!("{arn} is disabled."))),
            KeyState::PendingDeletion => Err(KmsError::InvalidState(format!(
                "{arn} is pending deletion."
            ))),
            state => Err(KmsError::InvalidState(format!("{arn} is {state}."))),
        }
    }

    /// Refuses management of a key pending deletion (and other non-usable states). A key
    /// awaiting imported material may be managed, as in AWS.
    fn require_not_pending_deletion(&self, record: &KeyRecord) -> KmsResult<()> {
        match record.state {
            KeyState::Enabled | KeyState::Disabled | KeyState::PendingImport => Ok(()),
            state => Err(KmsError::InvalidState(format!(
                "{} is {}.",
                self.key_arn(&record.key_id),
                if state == KeyState::PendingDeletion {
                    "pending deletion".to_string()
                } else {
                    state.to_string()
                }
            ))),
        }
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod cluster_tests;

#[cfg(test)]
mod custom_key_store_tests;

#[cfg(test)]
#[path = "condition_key_tests.rs"]
mod condition_key_tests;

#[cfg(test)]
#[path = "alias_access_tests.rs"]
mod alias_access_tests;
