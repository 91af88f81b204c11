//! The component runtime: runs tenants' WebAssembly components (tenant applications, data-key
//! wrappers, policy plugins) against the shared keys, through the one service façade.
//!
//! - Each component is parsed first (its world and size checked against [`ComponentLimits`]),
//!   then compiled once on the runtime's compile thread under a deadline, cached by SHA-256 in a
//!   bounded cache, and pre-instantiated; every request or session gets a fresh instance in a
//!   fresh [`Store`], from wasmtime's pooling allocator, and no instance ever serves two tenants.
//!   Policy plugins run in an engine and pool of their own.
//! - An instance reaches keys only through `kms:vault` host calls, checked against its
//!   [`Capabilities`] and against the normal authorization of its principal.
//! - No ambient authority: the linker defines `kms:vault` and nothing else. WASI imports (from
//!   guests built with `std`) are satisfied by functions that trap; any other unknown import, or
//!   `reveal` without the grant, makes the host refuse the component.
//! - Limits per instance: linear memory across all its memories
//!   ([`RuntimeConfig::max_memory_bytes`]), core instances, memories and tables
//!   ([`InstanceCounts`]), time per call (epoch interruption), data copied into one host call
//!   (hostcall fuel) and open handles. A guest that exceeds one traps; the call fails with [`RunError::Trapped`], the event is audited, and
//!   the host serves everyone else as before.
//!
//! ```no_run
//! use std::sync::Arc;
//! use kms_service::{Caller, Service};
//! use kms_runtime::{Capabilities, Runtime, RuntimeConfig, Tenant};
//!
//! # fn main() -> anyhow::Result<()> {
//! let service = Arc::new(Service::in_memory()?);
//! let runtime = Runtime::new(Arc::clone(&service), RuntimeConfig::default())?;
//! let app = runtime.load(&std::fs::read("tenant_app.wasm")?)?;
//! let tenant = Tenant::new(
//!     Caller::account_root(service.account()),
//!     "alias/app=all".parse::<kms_runtime::KeyGrant>().map(|g| Capabilities::builder().grant(g).build())?,
//! );
//! let report = runtime.run(&app, &tenant, &["alias/app".into()])?;
//! println!("{report:?}");
//! # Ok(())
//! # }
//! ```
#![deny(unsafe_code)]
#![warn(missing_docs)]

// Generated code lifts and lowers values with `unsafe`; nothing else in the crate may. Its docs
// are the WIT's, which the contract test checks; the generator's helpers carry none.
#[allow(unsafe_code, missing_docs)]
pub mod bindings;
pub mod capability;
mod compile;
mod config;
mod ctx;
mod data_keys;
mod handles;
mod keys;
mod limits;
mod linker;
mod log;
mod plugins;
mod reveal;
mod types;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use wasmtime::component::{Component, InstancePre, Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Trap};

pub use capability::{
    Capabilities, CapabilitiesBuilder, KeyGrant, KeyOperation, KeySelector, Operations,
};
pub use compile::ComponentLimits;
pub use ctx::{HasKms, HostLimits, KmsCtx, KmsCtxBuilder, KmsCtxView, KmsView};
pub use handles::{DataKeyHandle, KeyHandle};
pub use limits::InstanceCounts;
pub use linker::{add_plugin_imports_to_linker, add_reveal_to_linker, add_to_linker};
pub use log::{GuestLog, GuestLogLine, LogLevel, MemoryLog, StderrLog};
pub use plugins::PluginRunner;

use bindings::command::TenantCommandWithRevealPre;
use bindings::wrapper::DataKeyWrapperPre;
use compile::{Compiler, Lru, World};
use kms_core::error::KmsError;
use kms_core::types::EncryptionContext;
use kms_service::{Caller, Service};
use limits::InstanceLimiter;
use types::{from_wit_error, to_wit_context};

/// The `kms:vault` package prefix of every import the host provides.
const VAULT: &str = "kms:vault/";

/// Limits and sizing of a [`Runtime`].
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// Linear memory one tenant instance may grow to, in bytes: all its memories together.
    pub max_memory_bytes: usize,
    /// Wall-clock time one call into a tenant instance may take, host calls included.
    pub call_time_limit: Duration,
    /// Linear memory one policy-plugin instance may grow to, in bytes: all its memories
    /// together.
    pub plugin_memory_bytes: usize,
    /// Time one policy decision may take.
    pub plugin_time_limit: Duration,
    /// Bytes a guest may pass into one host call (lists and strings together).
    pub max_argument_bytes: usize,
    /// Host-side limits: handles, log lines, data-key seals.
    pub host: HostLimits,
    /// Bounds on the components the runtime compiles: size, code, compile time, cache.
    pub components: ComponentLimits,
    /// Core instances, memories and tables one component instance may create.
    pub instance_counts: InstanceCounts,
    /// Whether instances come from wasmtime's pooling allocator (fast) or are allocated on
    /// demand.
    pub pooling: bool,
    /// Tenant instances the pool holds at once (when pooling).
    pub pool_instances: u32,
    /// Policy-plugin instances their own pool holds at once (when pooling): plugins never
    /// compete with tenants' sessions for slots.
    pub plugin_pool_instances: u32,
    /// Policy decisions remembered (0: none). A plugin imports nothing that observes the world,
    /// so its verdict is a function of its component, its configuration and the request's facts
    /// (the time to the second among them): the same facts get the remembered verdict without
    /// running the plugin again.
    pub plugin_verdict_cache: usize,
    /// How often the epoch advances; call time limits are rounded up to whole ticks.
    pub epoch_tick: Duration,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            max_memory_bytes: 64 << 20,
            call_time_limit: Duration::from_secs(2),
            plugin_memory_bytes: 16 << 20,
            plugin_time_limit: Duration::from_millis(100),
            max_argument_bytes: 2 << 20,
            host: HostLimits::default(),
            components: ComponentLimits::default(),
            instance_counts: InstanceCounts::default(),
            pooling: true,
            pool_instances: 128,
            plugin_pool_instances: 64,
            plugin_verdict_cache: 4096,
            epoch_tick: Duration::from_millis(5),
        }
    }
}

impl RuntimeConfig {
    fn ticks(&self, limit: Duration) -> u64 {
        let tick = self.epoch_tick.as_nanos().max(1);
        u64::try_from(limit.as_nanos().div_ceil(tick))
            .unwrap_or(u64::MAX)
            .max(1)
    }
}

/// Why a guest call was stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrapReason {
    /// It ran past its time limit.
    TimeLimit,
    /// It tried to grow its linear memory past its limit.
    MemoryLimit,
    /// It passed more data into one host call than allowed.
    ArgumentLimit,
    /// It tried to create more core instances, memories or tables than one instance may.
    InstanceLimit,
    /// It used a handle it does not own (dropped, forged, of the wrong type).
    InvalidHandle,
    /// It trapped by itself (a panic, `unreachable`, an out-of-bounds access).
    GuestFault,
}

impl TrapReason {
    /// The name recorded in the audit trail.
    pub fn as_str(self) -> &'static str {
        match self {
            TrapReason::TimeLimit => "TimeLimit",
            TrapReason::MemoryLimit => "MemoryLimit",
            TrapReason::ArgumentLimit => "ArgumentLimit",
            TrapReason::InstanceLimit => "InstanceLimit",
            TrapReason::InvalidHandle => "InvalidHandle",
            TrapReason::GuestFault => "GuestFault",
        }
    }
}

impl fmt::Display for TrapReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why running a component failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    /// The host will not run this component for this tenant (it is not a valid component, has
    /// the wrong exports, or imports something the tenant is not granted).
    #[error("component refused: {0}")]
    Refused(String),
    /// The guest was stopped; the instance is dead.
    #[error("guest stopped ({reason}): {detail}")]
    Trapped {
        /// Why.
        reason: TrapReason,
        /// wasmtime's description.
        detail: String,
    },
    /// A session whose instance trapped earlier was called again.
    #[error("the instance trapped earlier and cannot be used; start a new session")]
    Dead,
    /// The component is refused because it is costlier to compile than the host allows: over a
    /// bound of [`ComponentLimits`], or its compilation ran past the deadline (then its digest
    /// is remembered and it is refused at once when offered again).
    #[error("component refused: {0}")]
    TooCostly(String),
    /// The compiler is busy with other components; try again later. Nothing is remembered.
    #[error("component not compiled now: {0}")]
    Busy(String),
    /// The host failed (e.g. the event could not be audited).
    #[error("host failure: {0}")]
    Host(KmsError),
}

/// A compiled component, ready to instantiate many times.
#[derive(Clone)]
pub struct GuestComponent {
    inner: Arc<Compiled>,
}

struct Compiled {
    digest: String,
    component: Component,
    imports: Vec<String>,
    exports: Vec<String>,
    command: OnceLock<Result<TenantCommandWithRevealPre<GuestState>, String>>,
    wrapper: OnceLock<Result<DataKeyWrapperPre<GuestState>, String>>,
}

impl fmt::Debug for GuestComponent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuestComponent")
            .field("digest", &self.inner.digest)
            .field("imports", &self.inner.imports)
            .field("exports", &self.inner.exports)
            .finish()
    }
}

impl GuestComponent {
    /// SHA-256 of the component's bytes, hex: how the audit trail names it.
    pub fn digest(&self) -> &str {
        &self.inner.digest
    }

    /// The component's imports (`kms:vault/keys@0.2.0`, …), sorted.
    pub fn imports(&self) -> &[String] {
        &self.inner.imports
    }

    /// The component's exports, sorted.
    pub fn exports(&self) -> &[String] {
        &self.inner.exports
    }

    fn imports_reveal(&self) -> bool {
        self.inner
            .imports
            .iter()
            .any(|i| i.starts_with("kms:vault/reveal"))
    }
}

/// Who a component runs for: the principal, its capability set and its settings.
#[derive(Clone, Debug)]
pub struct Tenant {
    /// The principal every host call is authorized for.
    pub caller: Caller,
    /// What the instance may do; narrows the principal's own rights.
    pub capabilities: Capabilities,
    /// Settings the component reads through `kms:vault/config`.
    pub config: BTreeMap<String, String>,
}

impl Tenant {
    /// A tenant with no settings.
    pub fn new(caller: Caller, capabilities: Capabilities) -> Self {
        Tenant {
            caller,
            capabilities,
            config: BTreeMap::new(),
        }
    }

    /// This tenant with a setting.
    pub fn with_config(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.config.insert(name.into(), value.into());
        self
    }
}

/// Store data of every instance the runtime creates.
pub struct GuestState {
    kms: KmsCtx,
    table: ResourceTable,
    limiter: InstanceLimiter,
}

impl KmsView for GuestState {
    fn kms(&mut self) -> KmsCtxView<'_> {
        KmsCtxView {
            ctx: &mut self.kms,
            table: &mut self.table,
        }
    }
}

/// Names a failed call: time, memory, arguments, handles, or the guest's own fault.
fn classify(error: &wasmtime::Error, memory_exceeded: bool) -> (TrapReason, String) {
    let detail = format!("{error:#}");
    let reason = if memory_exceeded {
        TrapReason::MemoryLimit
    } else if let Some(trap) = error.downcast_ref::<Trap>() {
        match trap {
            Trap::Interrupt | Trap::OutOfFuel => TrapReason::TimeLimit,
            _ => TrapReason::GuestFault,
        }
    } else if detail.contains("resource limit exceeded") {
        TrapReason::InstanceLimit
    } else if detail.contains("fuel allocated for hostcalls") {
        TrapReason::ArgumentLimit
    } else if detail.contains("handle index") || detail.contains("resource") {
        TrapReason::InvalidHandle
    } else {
        TrapReason::GuestFault
    };
    (reason, detail)
}

/// Advances `engine`'s epoch every `tick` until the engine is dropped.
fn start_epoch_ticker(engine: &Engine, tick: Duration) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("kms-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(tick);
            }
        })
        .expect("spawning the epoch thread");
}

/// An engine with epoch interruption, no async and no multi-memory, and a pooling allocator of
/// `instances` component instances whose linear memory grows to `max_memory` bytes.
///
/// Every kind of slot is sized for `instances` instances each at its [`InstanceCounts`], and
/// the pool refuses a component needing more than those counts: one component instance can
/// take its share of core-instance, memory and table slots and no more.
fn new_engine(
    config: &RuntimeConfig,
    instances: u32,
    max_memory: usize,
) -> wasmtime::Result<Engine> {
    let mut wasm = Config::new();
    wasm.epoch_interruption(true);
    wasm.concurrency_support(false);
    // Components built by our toolchain have one memory per module; a module with several is
    // refused outright rather than only counted.
    wasm.wasm_multi_memory(false);
    // Compilation runs on one thread (the compile thread), so that compiling a large component
    // leaves the other cores to requests.
    wasm.parallel_compilation(false);
    if config.pooling {
        let counts = config.instance_counts;
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(instances)
            .total_core_instances(instances.saturating_mul(counts.core_instances))
            .total_memories(instances.saturating_mul(counts.memories))
            .total_tables(instances.saturating_mul(counts.tables))
            .max_core_instances_per_component(counts.core_instances)
            .max_memories_per_component(counts.memories)
            .max_tables_per_component(counts.tables)
            .max_memory_size(max_memory)
            // Reset the first 256 KiB of a slot (the 64 KiB shadow stack, data and first heap
            // pages of our guests) with memset rather than returning them to the kernel, which
            // costs page faults and TLB shootdowns on the next instance (measured: 30 → 23 µs
            // per plugin decision).
            .linear_memory_keep_resident(256 << 10)
            // Likewise a slot's tables (a few KiB of function references in our guests): reset
            // with memset rather than decommitted with madvise on every instance's drop.
            .table_keep_resident(64 << 10);
        wasm.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    let engine = Engine::new(&wasm)?;
    start_epoch_ticker(&engine, config.epoch_tick);
    Ok(engine)
}

/// What a component the runtime loads may import and must export: a tenant application, a
/// data-key wrapper or a policy plugin (loaded to inspect it). Starting a session checks the
/// exports of its world, and `reveal` against the tenant's grant.
const LOADABLE_WORLD: World = World {
    imports: &["types", "keys", "data-keys", "log", "config", "reveal"],
    exports: &["app", "envelope", "policy"],
    name: "kms:vault component",
};

/// Checks `bytes` against `world` and the limits without compiling, then compiles it (or finds
/// an earlier compilation of the same bytes in `cache`). Only what compiled is cached.
fn compile(
    compiler: &Compiler,
    cache: &Mutex<Lru<GuestComponent>>,
    counts: &InstanceCounts,
    world: &World,
    bytes: &[u8],
) -> Result<GuestComponent, RunError> {
    let digest = kms_service::component_digest(bytes);
    if let Some(found) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(&digest) {
        return Ok(found);
    }
    compile::inspect(bytes, compiler.limits(), counts, world)?;
    let component = compiler.compile(&digest, bytes)?;
    let engine = compiler.engine();
    let ty = component.component_type();
    let mut imports: Vec<String> = ty
        .imports(engine)
        .map(|(name, _)| name.to_string())
        .collect();
    let mut exports: Vec<String> = ty
        .exports(engine)
        .map(|(name, _)| name.to_string())
        .collect();
    imports.sort();
    exports.sort();
    let loaded = GuestComponent {
        inner: Arc::new(Compiled {
            digest: digest.clone(),
            component,
            imports,
            exports,
            command: OnceLock::new(),
            wrapper: OnceLock::new(),
        }),
    };
    cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(digest, loaded.clone());
    Ok(loaded)
}

/// A linker for `component`: `base` plus trapping stand-ins for any WASI import.
fn linker_for(
    base: &Linker<GuestState>,
    component: &GuestComponent,
) -> Result<Linker<GuestState>, RunError> {
    let mut linker = base.clone();
    if component.imports().iter().any(|i| i.starts_with("wasi:")) {
        linker
            .define_unknown_imports_as_traps(&component.inner.component)
            .map_err(|e| RunError::Refused(format!("{e:#}")))?;
    }
    Ok(linker)
}

/// Runs tenants' components against one [`Service`]. Cheap to clone; share one per process.
#[derive(Clone)]
pub struct Runtime {
    shared: Arc<Shared>,
}

struct Shared {
    engine: Engine,
    config: RuntimeConfig,
    service: Arc<Service>,
    linker: Linker<GuestState>,
    compiler: Compiler,
    compiled: Mutex<Lru<GuestComponent>>,
    log: Arc<dyn GuestLog>,
    plugins: PluginRunner,
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// A runtime over `service`, logging guests' lines to standard error. Its plugin runner
    /// also becomes the service's policy engine, so plugins attached to keys run with this
    /// runtime's limits (in an engine and pool of their own).
    pub fn new(service: Arc<Service>, config: RuntimeConfig) -> Result<Self, RunError> {
        Self::with_log(service, config, Arc::new(StderrLog))
    }

    /// [`new`](Self::new) with guests' log lines going to `log`.
    pub fn with_log(
        service: Arc<Service>,
        config: RuntimeConfig,
        log: Arc<dyn GuestLog>,
    ) -> Result<Self, RunError> {
        let engine = new_engine(&config, config.pool_instances, config.max_memory_bytes)
            .map_err(|e| RunError::Refused(format!("{e:#}")))?;
        let mut linker = Linker::new(&engine);
        add_to_linker(&mut linker)
            .and_then(|()| add_reveal_to_linker(&mut linker))
            .map_err(|e| RunError::Refused(format!("{e:#}")))?;
        // Plugins get an engine, and so a pool, of their own: a tenant holding every session
        // slot must not make plugin decisions fail (closed) for everyone.
        let plugins = PluginRunner::with_log(config.clone(), Arc::clone(&log))
            .map_err(|e| RunError::Refused(format!("{e:#}")))?;
        service.set_policy_engine(Arc::new(plugins.clone()));
        let compiler = Compiler::new(engine.clone(), config.components.clone())
            .map_err(|e| RunError::Refused(format!("starting the compile thread: {e}")))?;
        Ok(Runtime {
            shared: Arc::new(Shared {
                engine,
                compiled: Mutex::new(Lru::new(config.components.cached_components)),
                config,
                service,
                linker,
                compiler,
                log,
                plugins,
            }),
        })
    }

    /// The wasmtime engine (to precompile components or build an embedder's own linker).
    pub fn engine(&self) -> &Engine {
        &self.shared.engine
    }

    /// The runtime's limits.
    pub fn config(&self) -> &RuntimeConfig {
        &self.shared.config
    }

    /// The service the runtime's guests call.
    pub fn service(&self) -> &Arc<Service> {
        &self.shared.service
    }

    /// The policy-plugin runner of this runtime (with its own engine and pool).
    pub fn plugin_runner(&self) -> &PluginRunner {
        &self.shared.plugins
    }

    /// Compiles a component of a `kms:vault` world (once per distinct content, while it
    /// stays in the bounded cache). Its world and size are checked against
    /// [`RuntimeConfig::components`] before anything is compiled; compilation runs on the
    /// runtime's compile thread, one component at a time, under a deadline.
    pub fn load(&self, bytes: &[u8]) -> Result<GuestComponent, RunError> {
        let shared = &self.shared;
        compile(
            &shared.compiler,
            &shared.compiled,
            &shared.config.instance_counts,
            &LOADABLE_WORLD,
            bytes,
        )
    }

    fn store(&self, component: &GuestComponent, tenant: &Tenant) -> Store<GuestState> {
        let config = &self.shared.config;
        let kms = KmsCtx::builder(Arc::clone(&self.shared.service), tenant.caller.clone())
            .component_digest(component.digest())
            .capabilities(tenant.capabilities.clone())
            .configs(tenant.config.clone())
            .limits(config.host.clone())
            .log(Arc::clone(&self.shared.log))
            .build();
        let mut store = Store::new(
            &self.shared.engine,
            GuestState {
                kms,
                table: ResourceTable::new(),
                limiter: InstanceLimiter::new(config.max_memory_bytes, config.instance_counts),
            },
        );
        store.limiter(|state| &mut state.limiter);
        store.epoch_deadline_trap();
        store.set_epoch_deadline(config.ticks(config.call_time_limit));
        store.set_hostcall_fuel(config.max_argument_bytes);
        store
    }

    /// Refuses a component importing `reveal` for a tenant not granted it.
    fn check_reveal(&self, component: &GuestComponent, tenant: &Tenant) -> Result<(), RunError> {
        if component.imports_reveal() && !tenant.capabilities.reveal() {
            return Err(RunError::Refused(
                "it imports kms:vault/reveal, which this tenant is not granted".into(),
            ));
        }
        Ok(())
    }

    /// Audits a refusal or a trap; a failure to audit becomes the error.
    fn audit_failure(&self, caller: &Caller, operation: &str, error: RunError) -> RunError {
        let outcome = match &error {
            RunError::Refused(_) | RunError::TooCostly(_) => "ComponentRefused",
            RunError::Trapped { .. } => "GuestTrap",
            RunError::Dead | RunError::Busy(_) | RunError::Host(_) => return error,
        };
        let message = match &error {
            RunError::Trapped { reason, detail } => format!("{reason}: {detail}"),
            other => other.to_string(),
        };
        match self
            .shared
            .service
            .record_outcome(caller, operation, None, outcome, Some(message))
        {
            Ok(()) => error,
            Err(e) => RunError::Host(e),
        }
    }

    fn guest_caller(component: &GuestComponent, tenant: &Tenant) -> Caller {
        tenant.caller.clone().via(kms_service::CallSource::Guest {
            component_digest: component.digest().to_string(),
        })
    }

    /// A fresh instance of `component` for `tenant`: the component's imports checked once and
    /// pre-instantiated into `slot`, then a new store with the tenant's limits.
    fn start<P: Clone, I>(
        &self,
        component: &GuestComponent,
        tenant: &Tenant,
        slot: &OnceLock<Result<P, String>>,
        new_pre: fn(InstancePre<GuestState>) -> wasmtime::Result<P>,
        instantiate: fn(&P, &mut Store<GuestState>) -> wasmtime::Result<I>,
    ) -> Result<Session<I>, RunError> {
        let caller = Self::guest_caller(component, tenant);
        let audit = |e| self.audit_failure(&caller, "StartComponent", e);
        self.check_reveal(component, tenant).map_err(audit)?;
        let pre = slot
            .get_or_init(|| {
                linker_for(&self.shared.linker, component)
                    .and_then(|linker| {
                        linker
                            .instantiate_pre(&component.inner.component)
                            .and_then(new_pre)
                            .map_err(|e| RunError::Refused(format!("{e:#}")))
                    })
                    .map_err(|e| e.to_string())
            })
            .clone()
            .map_err(|e| audit(RunError::Refused(e)))?;
        let mut store = self.store(component, tenant);
        let instance = instantiate(&pre, &mut store).map_err(|e| {
            let (reason, detail) = classify(&e, store.data().limiter.exceeded);
            audit(RunError::Trapped { reason, detail })
        })?;
        Ok(Session {
            runtime: self.clone(),
            caller,
            store,
            instance,
            dead: false,
        })
    }

    /// Starts a session with a tenant application (world `tenant-command`): one fresh instance
    /// whose `run` may be called repeatedly.
    pub fn command(
        &self,
        component: &GuestComponent,
        tenant: &Tenant,
    ) -> Result<CommandSession, RunError> {
        self.start(
            component,
            tenant,
            &component.inner.command,
            TenantCommandWithRevealPre::new,
            |pre, store| pre.instantiate(store),
        )
    }

    /// Runs a tenant application once in a fresh instance and returns what its `run` returned.
    pub fn run(
        &self,
        component: &GuestComponent,
        tenant: &Tenant,
        args: &[String],
    ) -> Result<Result<String, String>, RunError> {
        self.command(component, tenant)?.run(args)
    }

    /// Starts a session with a data-key wrapper (world `data-key-wrapper`). The instance, and
    /// the data keys it caches, live as long as the session.
    pub fn wrapper(
        &self,
        component: &GuestComponent,
        tenant: &Tenant,
    ) -> Result<WrapperSession, RunError> {
        self.start(
            component,
            tenant,
            &component.inner.wrapper,
            DataKeyWrapperPre::new,
            |pre, store| pre.instantiate(store),
        )
    }
}

/// Runs one guest export under the store's limits; a trap kills the session and is audited.
///
/// `result_bytes` is how much the export may legitimately return: wasmtime counts the bytes of
/// an export's result against the same per-call hostcall fuel as a host call's arguments, so an
/// envelope of a large payload needs that much more. The allowance is proportional to what the
/// host itself handed the guest, and is reset after the call.
fn guarded<R>(
    runtime: &Runtime,
    caller: &Caller,
    store: &mut Store<GuestState>,
    dead: &mut bool,
    (export, result_bytes): (&str, usize),
    call: impl FnOnce(&mut Store<GuestState>) -> wasmtime::Result<R>,
) -> Result<R, RunError> {
    if *dead {
        return Err(RunError::Dead);
    }
    let config = &runtime.shared.config;
    store.set_epoch_deadline(config.ticks(config.call_time_limit));
    store.set_hostcall_fuel(config.max_argument_bytes.saturating_add(result_bytes));
    let outcome = call(store);
    store.set_hostcall_fuel(config.max_argument_bytes);
    match outcome {
        Ok(result) => Ok(result),
        Err(error) => {
            *dead = true;
            let (reason, detail) = classify(&error, store.data().limiter.exceeded);
            Err(runtime.audit_failure(caller, export, RunError::Trapped { reason, detail }))
        }
    }
}

/// A live instance of one component for one tenant; `I` is the world's bindings. A trap kills
/// it: every later call answers [`RunError::Dead`].
pub struct Session<I> {
    runtime: Runtime,
    caller: Caller,
    store: Store<GuestState>,
    instance: I,
    dead: bool,
}

impl<I> Session<I> {
    /// Key and data-key handles the instance holds now.
    pub fn open_handles(&self) -> usize {
        self.store.data().kms.open_handles()
    }

    /// Log lines dropped because the instance wrote more than its allowance.
    pub fn dropped_log_lines(&self) -> u64 {
        self.store.data().kms.dropped_log_lines()
    }
}

/// A live tenant-application instance.
pub type CommandSession = Session<bindings::command::TenantCommandWithReveal>;

/// A live data-key-wrapper instance.
pub type WrapperSession = Session<bindings::wrapper::DataKeyWrapper>;

impl CommandSession {
    /// Calls the application's `run`.
    pub fn run(&mut self, args: &[String]) -> Result<Result<String, String>, RunError> {
        let app = self.instance.kms_vault_app();
        guarded(
            &self.runtime,
            &self.caller,
            &mut self.store,
            &mut self.dead,
            ("kms:vault/app#run", 0),
            |store| app.call_run(store, args),
        )
    }
}

impl WrapperSession {
    /// The wrapper's `seal`: an envelope of `plaintext` under the KMS key `key`.
    pub fn seal(
        &mut self,
        key: &str,
        plaintext: &[u8],
        context: &EncryptionContext,
    ) -> Result<Result<Vec<u8>, KmsError>, RunError> {
        let envelope = self.instance.kms_vault_envelope();
        let context = to_wit_context(context);
        guarded(
            &self.runtime,
            &self.caller,
            &mut self.store,
            &mut self.dead,
            // The envelope: the payload, 28 bytes per 64 KiB chunk, and its header.
            (
                "kms:vault/envelope#seal",
                plaintext.len() + plaintext.len() / 2048 + (64 << 10),
            ),
            |store| envelope.call_seal(store, key, plaintext, &context),
        )
        .map(|r| r.map_err(from_wit_error))
    }

    /// The wrapper's `open`.
    pub fn open(
        &mut self,
        sealed: &[u8],
        context: &EncryptionContext,
    ) -> Result<Result<Vec<u8>, KmsError>, RunError> {
        let envelope = self.instance.kms_vault_envelope();
        let context = to_wit_context(context);
        guarded(
            &self.runtime,
            &self.caller,
            &mut self.store,
            &mut self.dead,
            ("kms:vault/envelope#open", sealed.len()),
            |store| envelope.call_open(store, sealed, &context),
        )
        .map(|r| r.map_err(from_wit_error))
    }
}
