//! Policy plugins: each decision runs in a fresh instance of the plugin's component (from the
//! pooling allocator), with its own memory and time limits, importing nothing but `log` and
//! `config`. A plugin that cannot answer — it traps, runs out of time or memory, or does not
//! load — yields [`PluginVerdict::Failed`], which authorization counts as a deny.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Engine, Store};

use super::bindings::plugin::PolicyPluginPre;
use super::bindings::plugin::exports::kms::vault::policy::{Decision, Request};
use super::bindings::{config, log, types as wit};
use super::compile::{self, Compiler, Lru, World};
use super::ctx::HostLimits;
use super::limits::InstanceLimiter;
use super::log::Diagnostics;
use super::{GuestLog, RunError, RuntimeConfig, StderrLog, classify, new_engine};
use kms_authz::{PluginVerdict, PolicyEngine, PolicyRequest};
use kms_core::error::{KmsError, KmsResult};
use kms_service::{CallSource, Caller};
use kms_vault::PluginAttachment;

/// The store data of one plugin decision.
pub struct PluginState {
    caller: Caller,
    config: std::collections::BTreeMap<String, String>,
    limits: HostLimits,
    diagnostics: Diagnostics,
    limiter: InstanceLimiter,
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
    compiler: Compiler,
    /// Plugins that compiled and link, by digest; bounded.
    pres: Mutex<Lru<PolicyPluginPre<PluginState>>>,
    /// Verdicts by the digest of everything they are a function of; bounded.
    verdicts: Mutex<Lru<Decision>>,
    /// Decisions made by running a plugin, and decisions answered from `verdicts`.
    decisions_run: AtomicU64,
    decisions_remembered: AtomicU64,
    log: Arc<dyn GuestLog>,
}

/// What a policy plugin may import and must export.
const PLUGIN_WORLD: World = World {
    imports: &["types", "log", "config"],
    exports: &["policy"],
    name: "policy plugin",
};

/// The engine used when plugins must run before any runtime was set up, or when none could be:
/// every plugin then fails, which denies (fail closed).
struct Unavailable(String);

impl PolicyEngine for Unavailable {
    fn evaluate(&self, _: &PluginAttachment, _: &PolicyRequest) -> PluginVerdict {
        PluginVerdict::Failed(format!("no policy engine: {}", self.0))
    }

    fn check(&self, _: &[u8]) -> KmsResult<()> {
        Err(KmsError::Internal(format!("no policy engine: {}", self.0)))
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

    fn check(&self, component: &[u8]) -> KmsResult<()> {
        self.engine().check(component)
    }

    fn decisions(&self) -> (u64, u64) {
        match self.0.get() {
            Some(engine) => engine.decisions(),
            None => (0, 0),
        }
    }
}

impl PluginRunner {
    /// A runner with its own engine and pool, configured by `config`.
    pub fn new(config: RuntimeConfig) -> wasmtime::Result<Self> {
        Self::with_log(config, Arc::new(StderrLog))
    }

    /// [`new`](Self::new) with plugins' log lines going to `log`.
    pub(crate) fn with_log(
        config: RuntimeConfig,
        log: Arc<dyn GuestLog>,
    ) -> wasmtime::Result<Self> {
        let engine = new_engine(
            &config,
            config.plugin_pool_instances,
            config.plugin_memory_bytes,
        )?;
        Self::with_engine(engine, config, log)
    }

    /// An engine for a service that runs plugins only now and then (the `kms` command line):
    /// the runner, with its wasmtime engine, is built on the first plugin evaluation; if no
    /// engine can be built, every plugin fails (deny).
    pub fn lazy_default() -> Arc<dyn PolicyEngine> {
        Arc::new(LazyRunner(std::sync::OnceLock::new()))
    }

    fn with_engine(
        engine: Engine,
        config: RuntimeConfig,
        log: Arc<dyn GuestLog>,
    ) -> wasmtime::Result<Self> {
        let mut linker = Linker::new(&engine);
        wit::add_to_linker::<PluginState, HasSelf<PluginState>>(&mut linker, |s| s)?;
        log::add_to_linker::<PluginState, HasSelf<PluginState>>(&mut linker, |s| s)?;
        config::add_to_linker::<PluginState, HasSelf<PluginState>>(&mut linker, |s| s)?;
        let compiler = Compiler::new(engine.clone(), config.components.clone())?;
        Ok(PluginRunner {
            inner: Arc::new(Inner {
                engine,
                linker,
                compiler,
                pres: Mutex::new(Lru::new(config.components.cached_components)),
                verdicts: Mutex::new(Lru::new(config.plugin_verdict_cache)),
                decisions_run: AtomicU64::new(0),
                decisions_remembered: AtomicU64::new(0),
                config,
                log,
            }),
        })
    }

    /// The pre-instantiated plugin, compiled and linked once per distinct component (while it
    /// stays in the bounded cache). `digest` is the one recorded when the plugin was attached: a
    /// hit skips hashing the bytes again, and a miss checks it against the bytes, so altered
    /// bytes are never run under another's digest. The plugin's world and size are checked
    /// before anything is compiled.
    fn pre(
        &self,
        digest: Option<&str>,
        bytes: &[u8],
    ) -> Result<PolicyPluginPre<PluginState>, RunError> {
        let cached = |d: &str| {
            self.inner
                .pres
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(d)
        };
        if let Some(pre) = digest.and_then(cached) {
            return Ok(pre);
        }
        let digest_now = kms_service::component_digest(bytes);
        if digest.is_some_and(|d| d != digest_now) {
            return Err(RunError::Refused(format!(
                "the plugin's bytes no longer match the digest recorded when it was attached ({digest_now})"
            )));
        }
        if let Some(pre) = cached(&digest_now) {
            return Ok(pre);
        }
        let config = &self.inner.config;
        compile::inspect(
            bytes,
            &config.components,
            &config.instance_counts,
            &PLUGIN_WORLD,
        )?;
        let component = self.inner.compiler.compile(&digest_now, bytes)?;
        let mut linker = self.inner.linker.clone();
        let imports_wasi = component
            .component_type()
            .imports(&self.inner.engine)
            .any(|(name, _)| name.starts_with("wasi:"));
        if imports_wasi {
            linker
                .define_unknown_imports_as_traps(&component)
                .map_err(|e| RunError::Refused(format!("{e:#}")))?;
        }
        let pre = linker
            .instantiate_pre(&component)
            .and_then(PolicyPluginPre::new)
            .map_err(|e| RunError::Refused(format!("not a policy plugin: {e:#}")))?;
        self.inner
            .pres
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(digest_now, pre.clone());
        Ok(pre)
    }

    /// The plugin's decision: remembered if the same plugin, configuration and facts were
    /// decided before, else run and (if it answered) remembered. Failures are never
    /// remembered, so a plugin that ran out of time may answer next time.
    fn decide(
        &self,
        plugin: &PluginAttachment,
        request: &PolicyRequest,
    ) -> Result<Decision, RunError> {
        // A run compiles the plugin the first time and may last until its deadline: a
        // blocking section, where a remembered verdict is not.
        let run = || kms_core::blocking::section(|| self.run(plugin, request));
        if self.inner.config.plugin_verdict_cache == 0 {
            return run();
        }
        let facts = facts_digest(plugin, request);
        let verdicts = || {
            self.inner
                .verdicts
                .lock()
                .unwrap_or_else(|p| p.into_inner())
        };
        if let Some(decision) = verdicts().get(&facts) {
            self.inner
                .decisions_remembered
                .fetch_add(1, Ordering::Relaxed);
            return Ok(decision);
        }
        let decision = run()?;
        verdicts().insert(facts, decision.clone());
        Ok(decision)
    }

    /// Decisions made so far by running a plugin, and decisions answered with a remembered
    /// verdict.
    pub fn decisions(&self) -> (u64, u64) {
        (
            self.inner.decisions_run.load(Ordering::Relaxed),
            self.inner.decisions_remembered.load(Ordering::Relaxed),
        )
    }

    /// Runs the plugin in a fresh instance.
    fn run(
        &self,
        plugin: &PluginAttachment,
        request: &PolicyRequest,
    ) -> Result<Decision, RunError> {
        self.inner.decisions_run.fetch_add(1, Ordering::Relaxed);
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
                limiter: InstanceLimiter::new(config.plugin_memory_bytes, config.instance_counts),
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

/// SHA-256 of everything a verdict is a function of: the plugin's digest and configuration and
/// every fact of the request, each length-prefixed so that no two different sets of facts
/// encode alike.
fn facts_digest(plugin: &PluginAttachment, request: &PolicyRequest) -> String {
    let mut encoded = Vec::with_capacity(512);
    let mut field = |bytes: &[u8]| {
        encoded.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
        encoded.extend_from_slice(bytes);
    };
    field(plugin.digest.as_bytes());
    field(&(plugin.config.len() as u64).to_be_bytes());
    for (name, value) in &plugin.config {
        field(name.as_bytes());
        field(value.as_bytes());
    }
    field(request.principal.as_bytes());
    field(request.account.as_bytes());
    field(request.action.as_bytes());
    field(request.key_arn.as_bytes());
    for pairs in [&request.key_tags, &request.encryption_context] {
        field(&(pairs.len() as u64).to_be_bytes());
        for (k, v) in pairs {
            field(k.as_bytes());
            field(v.as_bytes());
        }
    }
    match &request.via_service {
        Some(service) => {
            field(b"via");
            field(service.as_bytes());
        }
        None => field(b"direct"),
    }
    field(&request.time.to_be_bytes());
    kms_service::component_digest(&encoded)
}

impl PolicyEngine for PluginRunner {
    fn decisions(&self) -> (u64, u64) {
        PluginRunner::decisions(self)
    }

    fn evaluate(&self, plugin: &PluginAttachment, request: &PolicyRequest) -> PluginVerdict {
        match self.decide(plugin, request) {
            Ok(Decision::Allow) => PluginVerdict::Allow,
            Ok(Decision::Deny(reason)) => PluginVerdict::Deny(reason),
            Ok(Decision::Abstain) => PluginVerdict::Abstain,
            Err(error) => PluginVerdict::Failed(error.to_string()),
        }
    }

    fn check(&self, component: &[u8]) -> KmsResult<()> {
        self.pre(None, component).map(|_| ()).map_err(|e| match e {
            RunError::TooCostly(why) => KmsError::LimitExceeded(format!(
                "Component is costlier to compile than this host allows: {why}"
            )),
            RunError::Busy(why) => {
                KmsError::Throttling(format!("Component could not be checked now: {why}"))
            }
            other => KmsError::invalid(
                "Component",
                format!("Component is not a policy plugin: {other}"),
            ),
        })
    }
}
