//! Policy plugins: each decision runs in a fresh instance of the plugin's component (from the
//! pooling allocator), with its own memory and time limits, importing nothing but `log` and
//! `config`. A plugin that cannot answer — it traps, runs out of time or memory, or does not
//! load — yields [`PluginVerdict::Failed`], which authorization counts as a deny.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Engine, Store};

use super::bindings::plugin::PolicyPluginPre;
use super::bindings::plugin::exports::kms::vault::policy::{Decision, Request};
use super::bindings::{config, log, types as wit};
use super::ctx::HostLimits;
use super::log::Diagnostics;
use super::{
    GuestComponent, GuestLog, MemoryLimiter, RunError, RuntimeConfig, StderrLog, check_imports,
    classify, compile, new_engine,
};
use kms_authz::{PluginVerdict, PolicyEngine, PolicyRequest};
use kms_service::{CallSource, Caller};
use kms_vault::PluginAttachment;

/// The store data of one plugin decision.
pub struct PluginState {
    caller: Caller,
    config: std::collections::BTreeMap<String, String>,
    limits: HostLimits,
    diagnostics: Diagnostics,
    limiter: MemoryLimiter,
}

impl wit::Host for PluginState {}

impl log::Host for PluginState {
    fn log(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        self.diagnostics
            .write(&self.limits, &self.caller, level, &message);
        Ok(())
    }
}

impl config::Host for PluginState {
    fn get(&mut self, name: String) -> wasmtime::Result<Option<String>> {
        Ok(self.config.get(&name).cloned())
    }

    fn entries(&mut self) -> wasmtime::Result<Vec<(String, String)>> {
        Ok(self
            .config
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
}

/// Runs policy plugins; the service's [`PolicyEngine`]. Cheap to clone.
#[derive(Clone)]
pub struct PluginRunner {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    config: RuntimeConfig,
    linker: Linker<PluginState>,
    compiled: Mutex<HashMap<String, GuestComponent>>,
    pres: Mutex<HashMap<String, PolicyPluginPre<PluginState>>>,
    log: Arc<dyn GuestLog>,
}

/// The engine used when plugins must run before any runtime was set up, or when none could be:
/// every plugin then fails, which denies (fail closed).
struct Unavailable(String);

impl PolicyEngine for Unavailable {
    fn evaluate(&self, _: &PluginAttachment, _: &PolicyRequest) -> PluginVerdict {
        PluginVerdict::Failed(format!("no policy engine: {}", self.0))
    }

    fn check(&self, _: &[u8]) -> Result<(), String> {
        Err(format!("no policy engine: {}", self.0))
    }
}

/// See [`PluginRunner::lazy_default`].
struct LazyRunner(std::sync::OnceLock<Arc<dyn PolicyEngine>>);

impl LazyRunner {
    fn engine(&self) -> &dyn PolicyEngine {
        self.0
            .get_or_init(|| match PluginRunner::new(RuntimeConfig::default()) {
                Ok(runner) => Arc::new(runner),
                Err(e) => Arc::new(Unavailable(format!("{e:#}"))),
            })
            .as_ref()
    }
}

impl PolicyEngine for LazyRunner {
    fn evaluate(&self, plugin: &PluginAttachment, request: &PolicyRequest) -> PluginVerdict {
        self.engine().evaluate(plugin, request)
    }

    fn check(&self, component: &[u8]) -> Result<(), String> {
        self.engine().check(component)
    }
}

impl PluginRunner {
    /// A runner with its own engine, configured by `config`.
    pub fn new(config: RuntimeConfig) -> wasmtime::Result<Self> {
        let engine = new_engine(&config)?;
        Self::with_engine(engine, config, Arc::new(StderrLog))
    }

    /// An engine for a service that runs plugins only now and then (the `kms` command line):
    /// the runner, with its wasmtime engine, is built on the first plugin evaluation; if no
    /// engine can be built, every plugin fails (deny).
    pub fn lazy_default() -> Arc<dyn PolicyEngine> {
        Arc::new(LazyRunner(std::sync::OnceLock::new()))
    }

    pub(crate) fn with_engine(
        engine: Engine,
        config: RuntimeConfig,
        log: Arc<dyn GuestLog>,
    ) -> wasmtime::Result<Self> {
        let mut linker = Linker::new(&engine);
        wit::add_to_linker::<PluginState, HasSelf<PluginState>>(&mut linker, |s| s)?;
        log::add_to_linker::<PluginState, HasSelf<PluginState>>(&mut linker, |s| s)?;
        config::add_to_linker::<PluginState, HasSelf<PluginState>>(&mut linker, |s| s)?;
        Ok(PluginRunner {
            inner: Arc::new(Inner {
                engine,
                config,
                linker,
                compiled: Mutex::new(HashMap::new()),
                pres: Mutex::new(HashMap::new()),
                log,
            }),
        })
    }

    /// The pre-instantiated plugin, compiled and linked once per distinct component. `digest` is
    /// the one recorded when the plugin was attached: a hit skips hashing the bytes again, and a
    /// miss checks it against the bytes, so altered bytes are never run under another's digest.
    fn pre(
        &self,
        digest: Option<&str>,
        bytes: &[u8],
    ) -> Result<PolicyPluginPre<PluginState>, RunError> {
        if let Some(digest) = digest
            && let Some(pre) = self
                .inner
                .pres
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(digest)
        {
            return Ok(pre.clone());
        }
        let component = compile(&self.inner.engine, &self.inner.compiled, bytes)?;
        let digest_now = component.digest().to_string();
        if digest.is_some_and(|d| d != digest_now) {
            return Err(RunError::Refused(format!(
                "the plugin's bytes no longer match the digest recorded when it was attached ({digest_now})"
            )));
        }
        let digest = digest_now;
        check_imports(&component, &["types", "log", "config"])?;
        let mut linker = self.inner.linker.clone();
        if component.imports().iter().any(|i| i.starts_with("wasi:")) {
            linker
                .define_unknown_imports_as_traps(&component.inner.component)
                .map_err(|e| RunError::Refused(format!("{e:#}")))?;
        }
        let pre = linker
            .instantiate_pre(&component.inner.component)
            .and_then(PolicyPluginPre::new)
            .map_err(|e| RunError::Refused(format!("not a policy plugin: {e:#}")))?;
        self.inner
            .pres
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(digest, pre.clone());
        Ok(pre)
    }

    fn decide(
        &self,
        plugin: &PluginAttachment,
        request: &PolicyRequest,
    ) -> Result<Decision, RunError> {
        let pre = self.pre(Some(&plugin.digest), &plugin.component)?;
        let config = &self.inner.config;
        let caller = Caller {
            principal: request.principal.clone(),
            account: request.account.clone(),
            source: CallSource::Guest {
                component_digest: plugin.digest.clone(),
            },
            via_service: request.via_service.clone(),
        };
        let mut store = Store::new(
            &self.inner.engine,
            PluginState {
                caller,
                config: plugin.config.clone(),
                limits: config.host.clone(),
                diagnostics: Diagnostics::new(Arc::clone(&self.inner.log)),
                limiter: MemoryLimiter {
                    max_memory: config.plugin_memory_bytes,
                    exceeded: false,
                },
            },
        );
        store.limiter(|state| &mut state.limiter);
        store.epoch_deadline_trap();
        store.set_epoch_deadline(config.ticks(config.plugin_time_limit));
        store.set_hostcall_fuel(config.max_argument_bytes);
        let wit_request = Request {
            principal: request.principal.clone(),
            account: request.account.clone(),
            action: request.action.clone(),
            key_id: request.key_arn.clone(),
            key_tags: request.key_tags.clone(),
            encryption_context: request.encryption_context.clone(),
            via_service: request.via_service.clone(),
            time: request.time,
        };
        pre.instantiate(&mut store)
            .and_then(|instance| {
                instance
                    .kms_vault_policy()
                    .call_evaluate(&mut store, &wit_request)
            })
            .map_err(|e| {
                let (reason, detail) = classify(&e, store.data().limiter.exceeded);
                RunError::Trapped { reason, detail }
            })
    }
}

impl PolicyEngine for PluginRunner {
    fn evaluate(&self, plugin: &PluginAttachment, request: &PolicyRequest) -> PluginVerdict {
        match self.decide(plugin, request) {
            Ok(Decision::Allow) => PluginVerdict::Allow,
            Ok(Decision::Deny(reason)) => PluginVerdict::Deny(reason),
            Ok(Decision::Abstain) => PluginVerdict::Abstain,
            Err(error) => PluginVerdict::Failed(error.to_string()),
        }
    }

    fn check(&self, component: &[u8]) -> Result<(), String> {
        self.pre(None, component)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}
