//! The state every `kms:vault` host call works on: [`KmsCtx`] (who the instance runs as, what it
//! may do, its settings and limits), the [`KmsView`] an embedder's store data implements, and the
//! checks that every interface shares (capability, handle limit, refusals audited here).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use wasmtime::component::{HasData, Resource, ResourceTable};

use crate::bindings::types as wit;
use crate::capability::{Capabilities, KeyOperation};
use crate::handles::KeyHandle;
use crate::log::{Diagnostics, GuestLog, StderrLog};
use crate::types::to_wit_error;
use kms_core::error::{KmsError, KmsResult};
use kms_service::{CallSource, Caller, GuestRefusals, KeyFacts, Service};

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
    /// Refusals (a key outside the capability, a handle limit, …) the audit trail records one
    /// by one per instance; later ones are counted into one record when the instance ends.
    pub max_audited_refusals: u32,
}

impl Default for HostLimits {
    fn default() -> Self {
        HostLimits {
            max_handles: 256,
            max_log_lines: 1000,
            max_log_line_bytes: 1024,
            max_seals_per_data_key: 1 << 30,
            max_seal_bytes: 1 << 20,
            max_audited_refusals: 16,
        }
    }
}

/// The host state of one instance's `kms:vault` imports: who it runs as, what it may do, and its
/// settings. Build one with [`KmsCtx::builder`]; store it in the embedder's store data beside a
/// [`ResourceTable`] and expose both through [`KmsView`].
pub struct KmsCtx {
    pub(crate) service: Arc<Service>,
    pub(crate) caller: Caller,
    pub(crate) capabilities: Capabilities,
    pub(crate) config: BTreeMap<String, String>,
    pub(crate) limits: HostLimits,
    pub(crate) diagnostics: Diagnostics,
    pub(crate) open_handles: usize,
    pub(crate) refusals: GuestRefusals,
}

impl Drop for KmsCtx {
    /// The instance is over: the refusals it made past those recorded one by one get their
    /// one record. A failure to audit here has no caller to fail; it is written to standard
    /// error.
    fn drop(&mut self) {
        if let Err(e) = self
            .service
            .record_suppressed_refusals(&self.caller, &mut self.refusals)
        {
            eprintln!("kms: the refusals of a guest instance could not be audited: {e}");
        }
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

/// Whether an instance holding `open_handles` may hold one more: `LimitExceeded` when it holds
/// its most.
pub(crate) fn handle_slot(limits: &HostLimits, open_handles: usize) -> KmsResult<()> {
    let max = limits.max_handles;
    if open_handles >= max {
        return Err(KmsError::LimitExceeded(format!(
            "This instance already holds {max} handles, its limit; drop some first"
        )));
    }
    Ok(())
}

impl KmsCtx {
    /// Whether the instance may hold one more handle: `LimitExceeded` when it holds its most.
    pub(crate) fn handle_slot(&self) -> KmsResult<()> {
        handle_slot(&self.limits, self.open_handles)
    }

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
                refusals: GuestRefusals::new(HostLimits::default().max_audited_refusals),
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
        self.ctx.refusals = GuestRefusals::new(limits.max_audited_refusals);
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

/// A host call's two outcomes: `Err` traps the guest; the inner `Err` is the WIT `kms-error`.
pub(crate) type HostResult<T> = wasmtime::Result<Result<T, wit::KmsError>>;

/// A façade result as a host call's: a failure reaches the guest as its `kms-error`.
pub(crate) fn done<T>(result: KmsResult<T>) -> HostResult<T> {
    Ok(result.map_err(to_wit_error))
}

impl KmsCtxView<'_> {
    pub(crate) fn caller(&self) -> &Caller {
        &self.ctx.caller
    }

    /// Audits (or counts) a refusal made here; a failure to audit becomes the error the guest
    /// sees.
    pub(crate) fn refuse(
        &mut self,
        operation: &str,
        key_arn: Option<String>,
        error: KmsError,
    ) -> KmsError {
        let ctx = &mut *self.ctx;
        match ctx
            .service
            .record_refusal(&ctx.caller, &mut ctx.refusals, operation, key_arn, &error)
        {
            Ok(()) => error,
            Err(audit_failure) => audit_failure,
        }
    }

    /// Reserves a handle slot, or refuses with `limit-exceeded`.
    pub(crate) fn reserve_handle(
        &mut self,
        operation: &str,
        key_arn: Option<String>,
    ) -> KmsResult<()> {
        self.ctx
            .handle_slot()
            .map_err(|error| self.refuse(operation, key_arn, error))
    }

    /// The key behind a handle, checked against the capability set for `op` now.
    pub(crate) fn checked_key(
        &mut self,
        handle: &Resource<KeyHandle>,
        op: KeyOperation,
    ) -> wasmtime::Result<KmsResult<KeyFacts>> {
        let key_id = self.table.get(handle)?.key_id;
        Ok(self.check_capability(&key_id.to_string(), op))
    }

    fn check_capability(&mut self, key: &str, op: KeyOperation) -> KmsResult<KeyFacts> {
        // A handle's key is checked again on every call: selectors follow aliases and tags.
        let facts = self.ctx.service.key_facts(key)?;
        if self.ctx.capabilities.allowed(&facts).contains(op) {
            Ok(facts)
        } else {
            let arn = facts.arn.clone();
            Err(self.refuse(
                op.operation().name(),
                Some(arn.clone()),
                KmsError::AccessDenied(format!(
                    "This component's capability set does not allow {op} on {arn}"
                )),
            ))
        }
    }

    /// The key a ciphertext names, if the capability set allows `op` on it; otherwise the same
    /// `invalid-ciphertext` as any undecryptable blob (the façade audits why).
    pub(crate) fn ciphertext_key(
        &mut self,
        ciphertext: &[u8],
        op: KeyOperation,
    ) -> KmsResult<KeyFacts> {
        let ctx = &mut *self.ctx;
        let capabilities = &ctx.capabilities;
        ctx.service.ciphertext_key(
            &ctx.caller,
            &mut ctx.refusals,
            op.operation().name(),
            ciphertext,
            capabilities.selects_by_tag(),
            |facts| {
                if capabilities.allowed(facts).contains(op) {
                    Ok(())
                } else {
                    Err(format!(
                        "the ciphertext's key {} is outside this component's capability set for {op}",
                        facts.arn
                    ))
                }
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
