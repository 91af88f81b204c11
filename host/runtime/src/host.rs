//! The host side of `kms:vault`: each import implemented on the service façade, with key and
//! data-key handles kept in the instance's [`ResourceTable`].
//!
//! Every call on a handle is checked again, against the capability set (selectors are matched
//! against the key's current aliases and tags) and, through the façade, against the key's state
//! and the principal's authorization. Refusals that happen here, before the façade is reached,
//! are audited here.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

use super::bindings::{config, data_keys, keys, log, reveal, types as wit};
use super::capability::{Capabilities, KeyOperation};
use kms_core::error::{KmsError, KmsResult};
use kms_core::types::{
    DataKeySpec, EncryptionAlgorithm, EncryptionContext, KeyId, KeySpec, KeyState, KeyUsage,
    MacAlgorithmSpec, MessageType, Origin, SigningAlgorithmSpec,
};
use kms_service::{
    Accept, Admission, CallSource, Caller, DataKey, DecryptRequest, EncryptRequest,
    GenerateDataKeyRequest, GenerateMacRequest, KeyFacts, KeyMetadata, KeyRequest,
    ReEncryptRequest, Service, SignRequest, VerifyMacRequest, VerifyRequest,
};

/// A guest's handle on a KMS key: only the key's id; what it may do is decided at each call.
#[derive(Debug)]
pub struct KeyHandle {
    key_id: KeyId,
}

/// A data key held in the host for a guest: the façade's [`DataKey`], whose plaintext never
/// crosses into the guest unless the instance was granted `reveal`, with how old it is and how
/// much it has sealed.
#[derive(Debug)]
pub struct DataKeyHandle {
    key: DataKey,
    created: Instant,
    seals: u64,
}

/// Per-instance bounds the host enforces in its own calls (the engine enforces memory, CPU and
/// argument sizes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostLimits {
    /// Key and data-key handles an instance may hold at once.
    pub max_handles: usize,
    /// Log lines an instance may write; later lines are dropped and counted.
    pub max_log_lines: u32,
    /// Longest log line kept, in bytes; longer lines are cut.
    pub max_log_line_bytes: usize,
    /// Seals under one data key, kept well below the AES-GCM random-nonce bound of 2^32.
    pub max_seals_per_data_key: u64,
    /// Largest plaintext one `data-key.seal` takes, in bytes.
    pub max_seal_bytes: usize,
}

impl Default for HostLimits {
    fn default() -> Self {
        HostLimits {
            max_handles: 256,
            max_log_lines: 1000,
            max_log_line_bytes: 1024,
            max_seals_per_data_key: 1 << 30,
            max_seal_bytes: 1 << 20,
        }
    }
}

/// How severe a guest's log line is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Tracing.
    Trace,
    /// Debugging.
    Debug,
    /// Normal operation.
    Info,
    /// Recovered problems.
    Warn,
    /// Failures.
    Error,
}

/// One diagnostic line from a guest, tagged by the host (a guest cannot pass for another).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuestLogLine {
    /// Severity.
    pub level: LogLevel,
    /// The instance's principal.
    pub principal: String,
    /// SHA-256 of the component, hex.
    pub component_digest: String,
    /// The message, control characters removed and length capped.
    pub message: String,
}

/// Where guests' diagnostic lines go. Not the audit trail.
pub trait GuestLog: Send + Sync {
    /// Takes one line.
    fn log(&self, line: GuestLogLine);
}

/// Writes guests' lines to standard error.
#[derive(Clone, Copy, Debug, Default)]
pub struct StderrLog;

impl GuestLog for StderrLog {
    fn log(&self, line: GuestLogLine) {
        let digest = line.component_digest.get(..12).unwrap_or("");
        eprintln!(
            "[guest {:?} {} {digest}] {}",
            line.level, line.principal, line.message
        );
    }
}

/// Keeps guests' lines in memory (tests, embedders that forward them elsewhere).
#[derive(Debug, Default)]
pub struct MemoryLog(Mutex<Vec<GuestLogLine>>);

impl MemoryLog {
    /// The lines so far.
    pub fn lines(&self) -> Vec<GuestLogLine> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl GuestLog for MemoryLog {
    fn log(&self, line: GuestLogLine) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(line);
    }
}

/// The host state of one instance's `kms:vault` imports: who it runs as, what it may do, and its
/// settings. Build one with [`KmsCtx::builder`]; store it in the embedder's store data beside a
/// [`ResourceTable`] and expose both through [`KmsView`].
pub struct KmsCtx {
    service: Arc<Service>,
    caller: Caller,
    capabilities: Capabilities,
    config: BTreeMap<String, String>,
    limits: HostLimits,
    diagnostics: Diagnostics,
    open_handles: usize,
}

/// A guest's diagnostic log: tags, cleans, caps and counts its lines.
pub(crate) struct Diagnostics {
    log: Arc<dyn GuestLog>,
    lines: u32,
    dropped: u64,
}

impl Diagnostics {
    pub(crate) fn new(log: Arc<dyn GuestLog>) -> Self {
        Diagnostics {
            log,
            lines: 0,
            dropped: 0,
        }
    }

    pub(crate) fn write(
        &mut self,
        limits: &HostLimits,
        caller: &Caller,
        level: log::Level,
        message: &str,
    ) {
        if self.lines >= limits.max_log_lines {
            self.dropped += 1;
            return;
        }
        self.lines += 1;
        let mut clean: String = message.chars().filter(|c| !c.is_control()).collect();
        if clean.len() > limits.max_log_line_bytes {
            let mut cut = limits.max_log_line_bytes;
            while !clean.is_char_boundary(cut) {
                cut -= 1;
            }
            clean.truncate(cut);
            clean.push('…');
        }
        let component_digest = match &caller.source {
            CallSource::Guest { component_digest } => component_digest.clone(),
            _ => String::new(),
        };
        self.log.log(GuestLogLine {
            level: match level {
                log::Level::Trace => LogLevel::Trace,
                log::Level::Debug => LogLevel::Debug,
                log::Level::Info => LogLevel::Info,
                log::Level::Warn => LogLevel::Warn,
                log::Level::Error => LogLevel::Error,
            },
            principal: caller.principal.clone(),
            component_digest,
            message: clean,
        });
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.dropped
    }
}

impl fmt::Debug for KmsCtx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KmsCtx")
            .field("caller", &self.caller)
            .field("capabilities", &self.capabilities)
            .field("config", &self.config)
            .field("limits", &self.limits)
            .field("open_handles", &self.open_handles)
            .finish_non_exhaustive()
    }
}

impl KmsCtx {
    /// A builder over `service` for an instance acting for `caller`, that grants nothing and
    /// logs to standard error. There is no default principal: an embedder names who the guest
    /// acts for, and every host call is authorized for that principal.
    pub fn builder(service: Arc<Service>, caller: Caller) -> KmsCtxBuilder {
        KmsCtxBuilder {
            ctx: KmsCtx {
                service,
                caller,
                capabilities: Capabilities::default(),
                config: BTreeMap::new(),
                limits: HostLimits::default(),
                diagnostics: Diagnostics::new(Arc::new(StderrLog)),
                open_handles: 0,
            },
            digest: String::new(),
        }
    }

    /// The caller every host call of this instance runs as.
    pub fn caller(&self) -> &Caller {
        &self.caller
    }

    /// The instance's capability set.
    pub fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    /// Log lines the instance wrote beyond its allowance.
    pub fn dropped_log_lines(&self) -> u64 {
        self.diagnostics.dropped()
    }

    /// Key and data-key handles the instance holds now.
    pub fn open_handles(&self) -> usize {
        self.open_handles
    }
}

/// Builds a [`KmsCtx`], in the style of wasmtime's `WasiCtxBuilder`.
pub struct KmsCtxBuilder {
    ctx: KmsCtx,
    digest: String,
}

impl KmsCtxBuilder {
    /// The SHA-256 (hex) of the component, recorded in every audit record the instance causes.
    pub fn component_digest(mut self, digest: impl Into<String>) -> Self {
        self.digest = digest.into();
        self
    }

    /// What the instance may do.
    pub fn capabilities(mut self, capabilities: Capabilities) -> Self {
        self.ctx.capabilities = capabilities;
        self
    }

    /// A setting the component reads through `kms:vault/config`.
    pub fn config(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.ctx.config.insert(name.into(), value.into());
        self
    }

    /// Every setting at once, replacing earlier ones.
    pub fn configs(mut self, config: BTreeMap<String, String>) -> Self {
        self.ctx.config = config;
        self
    }

    /// The host-side limits.
    pub fn limits(mut self, limits: HostLimits) -> Self {
        self.ctx.limits = limits;
        self
    }

    /// Where the instance's log lines go.
    pub fn log(mut self, log: Arc<dyn GuestLog>) -> Self {
        self.ctx.diagnostics = Diagnostics::new(log);
        self
    }

    /// The context.
    pub fn build(mut self) -> KmsCtx {
        self.ctx.caller.source = CallSource::Guest {
            component_digest: self.digest,
        };
        self.ctx
    }
}

/// What the `kms:vault` host functions work on: the context and the instance's resource table.
pub struct KmsCtxView<'a> {
    /// The instance's context.
    pub ctx: &'a mut KmsCtx,
    /// The table holding the instance's key and data-key handles.
    pub table: &'a mut ResourceTable,
}

/// Implemented by an embedder's store data to give `kms:vault` its state, as wasmtime-wasi's
/// `WasiView` does for WASI.
pub trait KmsView: Send {
    /// The `kms:vault` state of this store.
    fn kms(&mut self) -> KmsCtxView<'_>;
}

/// The [`HasData`] marker for [`KmsCtxView`].
pub struct HasKms;

impl HasData for HasKms {
    type Data<'a> = KmsCtxView<'a>;
}

/// Adds `kms:vault/keys`, `data-keys`, `log`, `config` and `types` to `linker`: everything a
/// guest may import except `reveal`.
///
/// ```no_run
/// use std::sync::Arc;
/// use kms_service::{Caller, Service};
/// use kms_runtime::{Capabilities, KeyOperation, KeySelector, KmsCtx, KmsCtxView, KmsView};
/// use wasmtime::component::{Component, Linker, ResourceTable};
/// use wasmtime::{Engine, Store};
///
/// // The plugin platform's own store data, with `kms:vault` state beside its own.
/// struct PluginState {
///     kms: KmsCtx,
///     table: ResourceTable,
/// }
///
/// impl KmsView for PluginState {
///     fn kms(&mut self) -> KmsCtxView<'_> {
///         KmsCtxView { ctx: &mut self.kms, table: &mut self.table }
///     }
/// }
///
/// # fn main() -> anyhow::Result<()> {
/// let service = Arc::new(Service::in_memory()?);
/// let engine = Engine::default();
/// let mut linker = Linker::<PluginState>::new(&engine);
/// kms_runtime::add_to_linker(&mut linker)?;
///
/// let capabilities = Capabilities::builder()
///     .allow(KeySelector::Alias("alias/orders".into()), [KeyOperation::Encrypt])
///     .build();
/// let component = Component::from_file(&engine, "plugin.wasm")?;
/// let kms = KmsCtx::builder(service, Caller::principal("arn:aws:iam::111122223333:role/plugin")?)
///     .capabilities(capabilities)
///     .build();
/// let mut store = Store::new(&engine, PluginState { kms, table: ResourceTable::new() });
/// let _instance = linker.instantiate(&mut store, &component)?;
/// # Ok(())
/// # }
/// ```
pub fn add_to_linker<T: KmsView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, HasKms>(linker, T::kms)?;
    keys::add_to_linker::<T, HasKms>(linker, T::kms)?;
    data_keys::add_to_linker::<T, HasKms>(linker, T::kms)?;
    log::add_to_linker::<T, HasKms>(linker, T::kms)?;
    config::add_to_linker::<T, HasKms>(linker, T::kms)?;
    Ok(())
}

/// Adds `kms:vault/reveal`. An instance still needs `reveal` in its capability set to use it.
pub fn add_reveal_to_linker<T: KmsView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    reveal::add_to_linker::<T, HasKms>(linker, T::kms)
}

/// Adds only what a policy plugin may import: `log`, `config` and `types`.
pub fn add_plugin_imports_to_linker<T: KmsView + 'static>(
    linker: &mut Linker<T>,
) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, HasKms>(linker, T::kms)?;
    log::add_to_linker::<T, HasKms>(linker, T::kms)?;
    config::add_to_linker::<T, HasKms>(linker, T::kms)?;
    Ok(())
}

/// A host call's two outcomes: `Err` traps the guest; the inner `Err` is the WIT `kms-error`.
type HostResult<T> = wasmtime::Result<Result<T, wit::KmsError>>;

/// The WIT error for a façade error. The WIT has fewer cases than AWS's exception list; request
/// errors all become `validation`.
pub(crate) fn to_wit_error(error: KmsError) -> wit::KmsError {
    use wit::KmsError as W;
    match error {
        KmsError::NotFound(m) => W::NotFound(m),
        KmsError::Disabled(m) => W::Disabled(m),
        KmsError::InvalidState(m) => W::InvalidState(m),
        KmsError::InvalidCiphertext(m) => W::InvalidCiphertext(m),
        KmsError::IncorrectKey(m) => W::IncorrectKey(m),
        KmsError::InvalidKeyUsage(m) => W::InvalidKeyUsage(m),
        KmsError::Validation(m)
        | KmsError::InvalidAliasName(m)
        | KmsError::InvalidArn(m)
        | KmsError::InvalidMarker(m)
        | KmsError::AlreadyExists(m)
        | KmsError::Tag(m)
        | KmsError::UnsupportedOperation(m)
        | KmsError::MalformedPolicyDocument(m)
        | KmsError::InvalidGrantToken(m)
        | KmsError::InvalidGrantId(m)
        | KmsError::DryRunOperation(m) => W::Validation(m),
        KmsError::LimitExceeded(m) => W::LimitExceeded(m),
        KmsError::AccessDenied(m) => W::AccessDenied(m),
        KmsError::Throttling(m) => W::Throttled(m),
        KmsError::InvalidSignature(_) => W::InvalidSignature,
        KmsError::InvalidMac(_) => W::InvalidMac,
        KmsError::Internal(m) => W::Internal(m),
    }
}

fn done<T>(result: KmsResult<T>) -> HostResult<T> {
    Ok(result.map_err(to_wit_error))
}

fn context(pairs: Vec<(String, String)>) -> KmsResult<EncryptionContext> {
    EncryptionContext::from_pairs(pairs)
}

/// The refusal of a new handle to an instance that holds `max` already.
fn handle_limit(max: usize) -> KmsError {
    KmsError::LimitExceeded(format!(
        "This instance already holds {max} handles, its limit; drop some first"
    ))
}

fn data_key_request(
    key_id: &KeyId,
    spec: wit::DataKeySpec,
    encryption_context: EncryptionContext,
) -> GenerateDataKeyRequest {
    let mut req = GenerateDataKeyRequest::new(key_id.to_string(), DataKeySpec::Aes256)
        .with_context(encryption_context);
    match spec {
        wit::DataKeySpec::Aes128 => req.key_spec = Some(DataKeySpec::Aes128),
        wit::DataKeySpec::Aes256 => req.key_spec = Some(DataKeySpec::Aes256),
        wit::DataKeySpec::NumberOfBytes(n) => {
            req.key_spec = None;
            req.number_of_bytes = Some(n);
        }
    }
    req
}

impl KmsCtxView<'_> {
    fn caller(&self) -> &Caller {
        &self.ctx.caller
    }

    /// Audits a refusal made here; a failure to audit becomes the error the guest sees.
    fn refuse(&self, operation: &str, key_arn: Option<String>, error: KmsError) -> KmsError {
        match self
            .ctx
            .service
            .record_refusal(&self.ctx.caller, operation, key_arn, &error)
        {
            Ok(()) => error,
            Err(audit_failure) => audit_failure,
        }
    }

    /// Reserves a handle slot, or refuses with `limit-exceeded`.
    fn reserve_handle(&self, operation: &str, key_arn: Option<String>) -> KmsResult<()> {
        if self.ctx.open_handles >= self.ctx.limits.max_handles {
            return Err(self.refuse(
                operation,
                key_arn,
                handle_limit(self.ctx.limits.max_handles),
            ));
        }
        Ok(())
    }

    /// The key behind a handle, checked against the capability set for `op` now.
    fn checked_key(
        &self,
        handle: &Resource<KeyHandle>,
        op: KeyOperation,
    ) -> wasmtime::Result<KmsResult<KeyFacts>> {
        let key_id = self.table.get(handle)?.key_id;
        Ok(self.check_capability(&key_id.to_string(), op))
    }

    fn check_capability(&self, key: &str, op: KeyOperation) -> KmsResult<KeyFacts> {
        // A handle's key is checked again on every call: selectors follow aliases and tags.
        let facts = self.ctx.service.key_facts(key)?;
        if self.ctx.capabilities.allowed(&facts).contains(op) {
            Ok(facts)
        } else {
            let arn = facts.arn.clone();
            Err(self.refuse(
                op.aws_operation(),
                Some(arn.clone()),
                KmsError::AccessDenied(format!(
                    "This component's capability set does not allow {op} on {arn}"
                )),
            ))
        }
    }

    /// The key a ciphertext names, if the capability set allows `op` on it; otherwise the same
    /// `invalid-ciphertext` as any undecryptable blob (the façade audits why).
    fn ciphertext_key(&self, ciphertext: &[u8], op: KeyOperation) -> KmsResult<KeyFacts> {
        let capabilities = &self.ctx.capabilities;
        self.ctx
            .service
            .ciphertext_key(self.caller(), op.aws_operation(), ciphertext, |facts| {
                if capabilities.allowed(facts).contains(op) {
                    Ok(())
                } else {
                    Err(format!(
                        "the ciphertext's key {} is outside this component's capability set for {op}",
                        facts.arn
                    ))
                }
            })
    }

    fn push_data_key(&mut self, key: DataKey) -> wasmtime::Result<Resource<DataKeyHandle>> {
        let handle = self.table.push(DataKeyHandle {
            key,
            created: Instant::now(),
            seals: 0,
        })?;
        self.ctx.open_handles += 1;
        Ok(handle)
    }

    fn describe(&self, key_id: &KeyId) -> KmsResult<KeyMetadata> {
        self.ctx
            .service
            .describe_key(self.caller(), KeyRequest::new(key_id.to_string()))
            .map(|r| r.key_metadata)
    }
}

macro_rules! same_cases {
    ($(#[$meta:meta])* $name:ident: $from:ty => $to:ty { $($case:ident),+ $(,)? }) => {
        $(#[$meta])*
        fn $name(value: $from) -> $to {
            match value {
                $(<$from>::$case => <$to>::$case),+
            }
        }
    };
}

same_cases!(
    /// WIT signing algorithm to AWS's.
    from_wit_signing: wit::SigningAlgorithm => SigningAlgorithmSpec {
        RsassaPssSha256, RsassaPssSha384, RsassaPssSha512, RsassaPkcs1V15Sha256,
        RsassaPkcs1V15Sha384, RsassaPkcs1V15Sha512, EcdsaSha256, EcdsaSha384, EcdsaSha512,
        MlDsaShake256,
    }
);
same_cases!(
    /// AWS signing algorithm to WIT's.
    to_wit_signing: SigningAlgorithmSpec => wit::SigningAlgorithm {
        RsassaPssSha256, RsassaPssSha384, RsassaPssSha512, RsassaPkcs1V15Sha256,
        RsassaPkcs1V15Sha384, RsassaPkcs1V15Sha512, EcdsaSha256, EcdsaSha384, EcdsaSha512,
        MlDsaShake256,
    }
);
same_cases!(
    /// WIT MAC algorithm to AWS's.
    from_wit_mac: wit::MacAlgorithm => MacAlgorithmSpec { HmacSha224, HmacSha256, HmacSha384, HmacSha512 }
);
same_cases!(
    /// AWS MAC algorithm to WIT's.
    to_wit_mac: MacAlgorithmSpec => wit::MacAlgorithm { HmacSha224, HmacSha256, HmacSha384, HmacSha512 }
);
same_cases!(
    /// WIT message type to AWS's.
    from_wit_message_type: wit::MessageType => MessageType { Raw, Digest, ExternalMu }
);

fn wit_metadata(m: KeyMetadata) -> wit::KeyMetadata {
    wit::KeyMetadata {
        key_id: m.key_id,
        arn: m.arn,
        account_id: m.aws_account_id,
        description: m.description,
        key_spec: match m.key_spec {
            KeySpec::SymmetricDefault => wit::KeySpec::SymmetricDefault,
            KeySpec::Rsa2048 => wit::KeySpec::Rsa2048,
            KeySpec::Rsa3072 => wit::KeySpec::Rsa3072,
            KeySpec::Rsa4096 => wit::KeySpec::Rsa4096,
            KeySpec::EccNistP256 => wit::KeySpec::EccNistP256,
            KeySpec::EccNistP384 => wit::KeySpec::EccNistP384,
            KeySpec::EccNistP521 => wit::KeySpec::EccNistP521,
            KeySpec::EccSecgP256k1 => wit::KeySpec::EccSecgP256k1,
            KeySpec::Hmac224 => wit::KeySpec::Hmac224,
            KeySpec::Hmac256 => wit::KeySpec::Hmac256,
            KeySpec::Hmac384 => wit::KeySpec::Hmac384,
            KeySpec::Hmac512 => wit::KeySpec::Hmac512,
            KeySpec::MlDsa44 => wit::KeySpec::MlDsa44,
            KeySpec::MlDsa65 => wit::KeySpec::MlDsa65,
            KeySpec::MlDsa87 => wit::KeySpec::MlDsa87,
        },
        key_usage: match m.key_usage {
            KeyUsage::EncryptDecrypt => wit::KeyUsage::EncryptDecrypt,
            KeyUsage::SignVerify => wit::KeyUsage::SignVerify,
            KeyUsage::GenerateVerifyMac => wit::KeyUsage::GenerateVerifyMac,
            KeyUsage::KeyAgreement => wit::KeyUsage::KeyAgreement,
        },
        key_state: match m.key_state {
            KeyState::Enabled => wit::KeyState::Enabled,
            KeyState::Disabled => wit::KeyState::Disabled,
            KeyState::PendingDeletion => wit::KeyState::PendingDeletion,
            KeyState::PendingImport => wit::KeyState::PendingImport,
            KeyState::Unavailable => wit::KeyState::Unavailable,
        },
        origin: match m.origin {
            Origin::AwsKms => wit::Origin::AwsKms,
            Origin::External => wit::Origin::External,
            Origin::AwsCloudhsm => wit::Origin::AwsCloudhsm,
            Origin::ExternalKeyStore => wit::Origin::ExternalKeyStore,
        },
        created_at: m.creation_date,
        deletion_date: m.deletion_date,
        enabled: m.enabled,
        encryption_algorithms: m
            .encryption_algorithms
            .iter()
            .map(|a| match a {
                EncryptionAlgorithm::SymmetricDefault => wit::EncryptionAlgorithm::SymmetricDefault,
                EncryptionAlgorithm::RsaesOaepSha1 => wit::EncryptionAlgorithm::RsaesOaepSha1,
                EncryptionAlgorithm::RsaesOaepSha256 => wit::EncryptionAlgorithm::RsaesOaepSha256,
            })
            .collect(),
        signing_algorithms: m
            .signing_algorithms
            .iter()
            .map(|a| to_wit_signing(*a))
            .collect(),
        mac_algorithms: m.mac_algorithms.iter().map(|a| to_wit_mac(*a)).collect(),
    }
}

impl wit::Host for KmsCtxView<'_> {}

impl keys::HostKey for KmsCtxView<'_> {
    fn metadata(&mut self, handle: Resource<KeyHandle>) -> HostResult<wit::KeyMetadata> {
        let facts = match self.checked_key(&handle, KeyOperation::Describe)? {
            Ok(facts) => facts,
            Err(e) => return done(Err(e)),
        };
        done(self.describe(&facts.key_id).map(wit_metadata))
    }

    fn encrypt(
        &mut self,
        handle: Resource<KeyHandle>,
        plaintext: Vec<u8>,
        encryption_context: wit::EncryptionContext,
    ) -> HostResult<Vec<u8>> {
        let facts = self.checked_key(&handle, KeyOperation::Encrypt)?;
        done(facts.and_then(|facts| {
            let req = EncryptRequest::new(facts.key_id.to_string(), plaintext)
                .with_context(context(encryption_context)?);
            self.ctx
                .service
                .encrypt(self.caller(), req)
                .map(|r| r.ciphertext_blob)
        }))
    }

    fn generate_data_key_without_plaintext(
        &mut self,
        handle: Resource<KeyHandle>,
        spec: wit::DataKeySpec,
        encryption_context: wit::EncryptionContext,
    ) -> HostResult<Vec<u8>> {
        let facts = self.checked_key(&handle, KeyOperation::GenerateDataKey)?;
        done(facts.and_then(|facts| {
            let req = data_key_request(&facts.key_id, spec, context(encryption_context)?);
            self.ctx
                .service
                .generate_data_key_without_plaintext(self.caller(), req)
                .map(|r| r.ciphertext_blob)
        }))
    }

    fn sign(
        &mut self,
        handle: Resource<KeyHandle>,
        message: Vec<u8>,
        message_type: wit::MessageType,
        algorithm: wit::SigningAlgorithm,
    ) -> HostResult<Vec<u8>> {
        let facts = self.checked_key(&handle, KeyOperation::Sign)?;
        done(facts.and_then(|facts| {
            let req = SignRequest {
                grant_tokens: Vec::new(),
                key_id: facts.key_id.to_string(),
                message,
                message_type: Some(from_wit_message_type(message_type)),
                signing_algorithm: Some(from_wit_signing(algorithm)),
            };
            self.ctx
                .service
                .sign(self.caller(), req)
                .map(|r| r.signature)
        }))
    }

    fn verify(
        &mut self,
        handle: Resource<KeyHandle>,
        message: Vec<u8>,
        message_type: wit::MessageType,
        signature: Vec<u8>,
        algorithm: wit::SigningAlgorithm,
    ) -> HostResult<()> {
        let facts = self.checked_key(&handle, KeyOperation::Verify)?;
        done(facts.and_then(|facts| {
            let req = VerifyRequest {
                grant_tokens: Vec::new(),
                key_id: facts.key_id.to_string(),
                message,
                message_type: Some(from_wit_message_type(message_type)),
                signature,
                signing_algorithm: Some(from_wit_signing(algorithm)),
            };
            self.ctx.service.verify(self.caller(), req).map(|_| ())
        }))
    }

    fn public_key(&mut self, handle: Resource<KeyHandle>) -> HostResult<Vec<u8>> {
        let facts = self.checked_key(&handle, KeyOperation::GetPublicKey)?;
        done(facts.and_then(|facts| {
            self.ctx
                .service
                .get_public_key(self.caller(), KeyRequest::new(facts.key_id.to_string()))
                .map(|r| r.public_key)
        }))
    }

    fn generate_mac(
        &mut self,
        handle: Resource<KeyHandle>,
        message: Vec<u8>,
        algorithm: wit::MacAlgorithm,
    ) -> HostResult<Vec<u8>> {
        let facts = self.checked_key(&handle, KeyOperation::GenerateMac)?;
        done(facts.and_then(|facts| {
            let req = GenerateMacRequest {
                grant_tokens: Vec::new(),
                key_id: facts.key_id.to_string(),
                message,
                mac_algorithm: Some(from_wit_mac(algorithm)),
            };
            self.ctx
                .service
                .generate_mac(self.caller(), req)
                .map(|r| r.mac)
        }))
    }

    fn verify_mac(
        &mut self,
        handle: Resource<KeyHandle>,
        message: Vec<u8>,
        mac: Vec<u8>,
        algorithm: wit::MacAlgorithm,
    ) -> HostResult<()> {
        let facts = self.checked_key(&handle, KeyOperation::VerifyMac)?;
        done(facts.and_then(|facts| {
            let req = VerifyMacRequest {
                grant_tokens: Vec::new(),
                key_id: facts.key_id.to_string(),
                message,
                mac,
                mac_algorithm: Some(from_wit_mac(algorithm)),
            };
            self.ctx.service.verify_mac(self.caller(), req).map(|_| ())
        }))
    }

    fn drop(&mut self, handle: Resource<KeyHandle>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        self.ctx.open_handles = self.ctx.open_handles.saturating_sub(1);
        Ok(())
    }
}

impl keys::Host for KmsCtxView<'_> {
    fn open(&mut self, name: String) -> HostResult<Resource<KeyHandle>> {
        let capabilities = &self.ctx.capabilities;
        let limits = &self.ctx.limits;
        let open_handles = self.ctx.open_handles;
        let opened = self.ctx.service.open_key(self.caller(), &name, |facts| {
            if capabilities.allowed(facts).is_empty() {
                Admission::OutsideCapability
            } else if open_handles >= limits.max_handles {
                Admission::Refuse(handle_limit(limits.max_handles))
            } else {
                Admission::Admit
            }
        });
        match opened {
            Ok(facts) => {
                let handle = self.table.push(KeyHandle {
                    key_id: facts.key_id,
                })?;
                self.ctx.open_handles += 1;
                done(Ok(handle))
            }
            Err(e) => done(Err(e)),
        }
    }

    fn decrypt(
        &mut self,
        ciphertext: Vec<u8>,
        encryption_context: wit::EncryptionContext,
    ) -> HostResult<keys::Decrypted> {
        done((|| {
            let encryption_context = context(encryption_context)?;
            let facts = self.ciphertext_key(&ciphertext, KeyOperation::Decrypt)?;
            let accept = if self.ctx.capabilities.reveal() {
                Accept::Any
            } else {
                Accept::CiphertextOnly
            };
            let req = DecryptRequest::new(ciphertext)
                .with_context(encryption_context)
                .with_key(facts.key_id.to_string());
            let response = self
                .ctx
                .service
                .decrypt_accepting(self.caller(), req, accept)?;
            Ok(keys::Decrypted {
                key_id: response.key_id,
                plaintext: response.plaintext.to_vec(),
            })
        })())
    }

    fn re_encrypt(
        &mut self,
        ciphertext: Vec<u8>,
        source_context: wit::EncryptionContext,
        destination: Resource<KeyHandle>,
        destination_context: wit::EncryptionContext,
    ) -> HostResult<Vec<u8>> {
        let destination = self.checked_key(&destination, KeyOperation::ReEncryptTo)?;
        done((|| {
            let destination = destination?;
            let source = self.ciphertext_key(&ciphertext, KeyOperation::ReEncryptFrom)?;
            let req = ReEncryptRequest {
                grant_tokens: Vec::new(),
                ciphertext_blob: ciphertext,
                source_encryption_context: context(source_context)?,
                source_key_id: Some(source.key_id.to_string()),
                destination_key_id: destination.key_id.to_string(),
                destination_encryption_context: context(destination_context)?,
                source_encryption_algorithm: None,
                destination_encryption_algorithm: None,
            };
            self.ctx
                .service
                .re_encrypt(self.caller(), req)
                .map(|r| r.ciphertext_blob)
        })())
    }

    fn generate_random(&mut self, len: u32) -> HostResult<Vec<u8>> {
        if !self.ctx.capabilities.random() {
            let error = self.refuse(
                "GenerateRandom",
                None,
                KmsError::AccessDenied(
                    "This component's capability set does not allow generate-random".into(),
                ),
            );
            return done(Err(error));
        }
        let req = kms_service::GenerateRandomRequest {
            number_of_bytes: Some(len),
        };
        done(
            self.ctx
                .service
                .generate_random(self.caller(), req)
                .map(|r| r.plaintext.to_vec()),
        )
    }
}

impl data_keys::HostDataKey for KmsCtxView<'_> {
    fn wrapped(&mut self, handle: Resource<DataKeyHandle>) -> wasmtime::Result<Vec<u8>> {
        Ok(self.table.get(&handle)?.key.wrapped().to_vec())
    }

    fn age_ms(&mut self, handle: Resource<DataKeyHandle>) -> wasmtime::Result<u64> {
        let age = self.table.get(&handle)?.created.elapsed();
        Ok(u64::try_from(age.as_millis()).unwrap_or(u64::MAX))
    }

    fn seal(
        &mut self,
        handle: Resource<DataKeyHandle>,
        plaintext: Vec<u8>,
        aad: Vec<u8>,
    ) -> HostResult<Vec<u8>> {
        let limits = self.ctx.limits.clone();
        let key = self.table.get_mut(&handle)?;
        if plaintext.len() > limits.max_seal_bytes {
            return done(Err(KmsError::Validation(format!(
                "seal takes at most {} bytes at once; split the data into chunks",
                limits.max_seal_bytes
            ))));
        }
        if key.seals >= limits.max_seals_per_data_key {
            return done(Err(KmsError::LimitExceeded(format!(
                "This data key has sealed {} messages, its limit; generate a new one",
                key.seals
            ))));
        }
        let sealed = key.key.seal(&plaintext, &aad);
        if sealed.is_ok() {
            key.seals += 1;
        }
        done(sealed)
    }

    fn open(
        &mut self,
        handle: Resource<DataKeyHandle>,
        sealed: Vec<u8>,
        aad: Vec<u8>,
    ) -> HostResult<Vec<u8>> {
        let key = self.table.get(&handle)?;
        done(key.key.open(&sealed, &aad).map(|p| p.to_vec()))
    }

    fn drop(&mut self, handle: Resource<DataKeyHandle>) -> wasmtime::Result<()> {
        // The handle's plaintext is zeroized as it drops here.
        self.table.delete(handle)?;
        self.ctx.open_handles = self.ctx.open_handles.saturating_sub(1);
        Ok(())
    }
}

impl data_keys::Host for KmsCtxView<'_> {
    fn generate(
        &mut self,
        key: Resource<KeyHandle>,
        spec: wit::DataKeySpec,
        encryption_context: wit::EncryptionContext,
    ) -> HostResult<Resource<DataKeyHandle>> {
        let facts = self.checked_key(&key, KeyOperation::GenerateDataKey)?;
        let generated = facts.and_then(|facts| {
            self.reserve_handle("GenerateDataKey", Some(facts.arn.clone()))?;
            let req = data_key_request(&facts.key_id, spec, context(encryption_context)?);
            self.ctx.service.generate_data_key_held(self.caller(), req)
        });
        match generated {
            Ok(key) => done(Ok(self.push_data_key(key)?)),
            Err(e) => done(Err(e)),
        }
    }

    fn unwrap(
        &mut self,
        wrapped: Vec<u8>,
        encryption_context: wit::EncryptionContext,
    ) -> HostResult<Resource<DataKeyHandle>> {
        let unwrapped = (|| {
            let encryption_context = context(encryption_context)?;
            let facts = self.ciphertext_key(&wrapped, KeyOperation::Decrypt)?;
            self.reserve_handle("Decrypt", Some(facts.arn.clone()))?;
            let req = DecryptRequest::new(wrapped)
                .with_context(encryption_context)
                .with_key(facts.key_id.to_string());
            self.ctx.service.unwrap_data_key(self.caller(), req)
        })();
        match unwrapped {
            Ok(key) => done(Ok(self.push_data_key(key)?)),
            Err(e) => done(Err(e)),
        }
    }
}

impl reveal::Host for KmsCtxView<'_> {
    fn export_plaintext(&mut self, handle: Resource<DataKeyHandle>) -> HostResult<Vec<u8>> {
        let key = &self.table.get(&handle)?.key;
        done(
            self.ctx
                .service
                .reveal_data_key(&self.ctx.caller, key, self.ctx.capabilities.reveal())
                .map(|plaintext| plaintext.to_vec()),
        )
    }
}

impl log::Host for KmsCtxView<'_> {
    fn log(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        let ctx = &mut *self.ctx;
        ctx.diagnostics
            .write(&ctx.limits, &ctx.caller, level, &message);
        Ok(())
    }
}

impl config::Host for KmsCtxView<'_> {
    fn get(&mut self, name: String) -> wasmtime::Result<Option<String>> {
        Ok(self.ctx.config.get(&name).cloned())
    }

    fn entries(&mut self) -> wasmtime::Result<Vec<(String, String)>> {
        Ok(self
            .ctx
            .config
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller() -> Caller {
        Caller::account_root("111122223333").via(CallSource::Guest {
            component_digest: "ab".repeat(32),
        })
    }

    #[test]
    fn log_lines_are_tagged_cleaned_capped_and_rate_limited() {
        let sink = Arc::new(MemoryLog::default());
        let mut diagnostics = Diagnostics::new(sink.clone());
        let limits = HostLimits {
            max_log_lines: 3,
            max_log_line_bytes: 8,
            ..HostLimits::default()
        };
        diagnostics.write(
            &limits,
            &caller(),
            log::Level::Warn,
            "forged\n[guest Info other]\x1b[2J",
        );
        diagnostics.write(&limits, &caller(), log::Level::Info, "ééééé");
        diagnostics.write(&limits, &caller(), log::Level::Info, "short");
        for _ in 0..5 {
            diagnostics.write(&limits, &caller(), log::Level::Error, "flood");
        }
        let lines = sink.lines();
        assert_eq!(lines.len(), 3);
        assert_eq!(diagnostics.dropped(), 5);
        assert_eq!(lines[0].message, "forged[g…");
        assert_eq!(lines[0].level, LogLevel::Warn);
        assert_eq!(lines[0].component_digest, "ab".repeat(32));
        assert_eq!(lines[0].principal, "arn:aws:iam::111122223333:root");
        // Cut at a character boundary, never inside one.
        assert_eq!(lines[1].message, "éééé…");
        assert_eq!(lines[2].message, "short");
    }

    #[test]
    fn every_service_error_has_a_wit_case() {
        let cases = [
            (KmsError::NotFound("m".into()), "NotFound"),
            (KmsError::Disabled("m".into()), "Disabled"),
            (KmsError::InvalidState("m".into()), "InvalidState"),
            (KmsError::InvalidCiphertext("m".into()), "InvalidCiphertext"),
            (KmsError::IncorrectKey("m".into()), "IncorrectKey"),
            (KmsError::InvalidKeyUsage("m".into()), "InvalidKeyUsage"),
            (KmsError::InvalidArn("m".into()), "Validation"),
            (KmsError::AlreadyExists("m".into()), "Validation"),
            (KmsError::LimitExceeded("m".into()), "LimitExceeded"),
            (KmsError::AccessDenied("m".into()), "AccessDenied"),
            (KmsError::Throttling("m".into()), "Throttled"),
            (KmsError::InvalidSignature("m".into()), "InvalidSignature"),
            (KmsError::InvalidMac("m".into()), "InvalidMac"),
            (KmsError::Internal("m".into()), "Internal"),
        ];
        for (error, case) in cases {
            let wit = format!("{:?}", to_wit_error(error));
            assert!(
                wit.starts_with(&format!("KmsError::{case}")),
                "{wit} is not {case}"
            );
        }
    }

    #[test]
    fn the_builder_grants_nothing_and_records_the_guest_as_the_front_door() {
        let service = Arc::new(Service::in_memory().unwrap());
        let caller = Caller::account_root(service.account());
        let ctx = KmsCtx::builder(service, caller)
            .component_digest("cd")
            .build();
        assert_eq!(ctx.capabilities(), &Capabilities::default());
        assert_eq!(
            ctx.caller().source,
            CallSource::Guest {
                component_digest: "cd".into()
            }
        );
        assert_eq!(ctx.open_handles(), 0);
    }
}
