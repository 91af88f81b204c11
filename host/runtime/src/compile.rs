//! Compiling untrusted components under bounds. Before anything is compiled, the component is
//! parsed (not compiled) to check its world and to bound its input ([`ComponentLimits`]);
//! compilation then runs on one dedicated thread, one component at a time, under a deadline. What
//! compiled is cached by digest in a bounded cache; what failed to compile (or ran past the
//! deadline) is remembered by digest and refused at once when offered again.
//!
//! Cranelift cannot be interrupted: a compilation past its deadline is refused to its caller at
//! the deadline but runs on to its end on the compile thread, which meanwhile compiles nothing
//! else. Memory used while compiling is bounded only through the bounds on the input.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use wasmparser::{Encoding, Parser, Payload};
use wasmtime::Engine;
use wasmtime::component::Component;

use super::limits::InstanceCounts;
use super::{RunError, VAULT};

/// Bounds on a component the host will compile, checked by parsing it before any compilation.
///
/// The defaults are far above what our own components need (the largest stock component, a
/// guest built with `std`, is 94 KB with 285 functions, 65 KB of code and no body over 11 KB)
/// and far below what makes compilation costly (about 2 s of CPU per MB of code in a release
/// build, several times more in a debug build).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComponentLimits {
    /// Size of the component's binary.
    pub max_bytes: usize,
    /// Core modules it contains, nested components' included.
    pub max_modules: u32,
    /// Components nested in it.
    pub max_nested_components: u32,
    /// Functions defined by all its core modules together.
    pub max_functions: u32,
    /// Size of one function body.
    pub max_function_bytes: usize,
    /// Size of all function bodies together.
    pub max_code_bytes: usize,
    /// Wall-clock time one compilation may take before the component is refused (and
    /// remembered as refused).
    pub compile_time_limit: Duration,
    /// How long a compilation may wait for the compile thread before the caller is told to
    /// try again (not remembered).
    pub compile_queue_wait: Duration,
    /// Compilations that may wait for the compile thread; more are refused at once.
    pub compile_queue: usize,
    /// Compiled components kept (least recently used go first).
    pub cached_components: usize,
    /// Digests of refused components remembered (oldest go first).
    pub remembered_refusals: usize,
}

impl Default for ComponentLimits {
    fn default() -> Self {
        ComponentLimits {
            max_bytes: 10 << 20,
            max_modules: 32,
            max_nested_components: 32,
            max_functions: 20_000,
            max_function_bytes: 256 << 10,
            max_code_bytes: 4 << 20,
            compile_time_limit: Duration::from_secs(20),
            compile_queue_wait: Duration::from_secs(20),
            compile_queue: 16,
            cached_components: 64,
            remembered_refusals: 4096,
        }
    }
}

/// The world a component must have to be compiled for a use: what it may import from
/// `kms:vault` (WASI is always allowed: it only traps) and which exports it needs (any one).
pub(crate) struct World {
    /// `kms:vault` interfaces it may import.
    pub imports: &'static [&'static str],
    /// `kms:vault` interfaces of which it must export at least one.
    pub exports: &'static [&'static str],
    /// What the host calls such a component, in refusals.
    pub name: &'static str,
}

/// What parsing a component found: its top-level imports and exports, and its size.
#[derive(Debug, Default)]
struct Inspection {
    imports: Vec<String>,
    exports: Vec<String>,
    modules: u32,
    nested_components: u32,
    functions: u32,
    code_bytes: usize,
    memories: u32,
    tables: u32,
    core_instances: u32,
}

/// Parses `bytes` (without compiling) and checks it against `limits`, `counts` and `world`.
pub(crate) fn inspect(
    bytes: &[u8],
    limits: &ComponentLimits,
    counts: &InstanceCounts,
    world: &World,
) -> Result<(), RunError> {
    if bytes.len() > limits.max_bytes {
        return Err(RunError::TooCostly(format!(
            "it is {} bytes; the host compiles components of at most {} bytes",
            bytes.len(),
            limits.max_bytes
        )));
    }
    let found = parse(bytes, limits)?;
    let over = |what: &str, n: u32, max: u32| {
        (n > max).then(|| {
            RunError::TooCostly(format!(
                "it has {n} {what}; an instance may have at most {max}"
            ))
        })
    };
    if let Some(e) = over("linear memories", found.memories, counts.memories)
        .or_else(|| over("tables", found.tables, counts.tables))
        .or_else(|| {
            over(
                "core instances",
                found.core_instances,
                counts.core_instances,
            )
        })
    {
        return Err(e);
    }
    check_world(&found, world)
}

fn parse(bytes: &[u8], limits: &ComponentLimits) -> Result<Inspection, RunError> {
    let invalid = |e: wasmparser::BinaryReaderError| {
        RunError::Refused(format!("not a valid WebAssembly component: {e}"))
    };
    let too_many = |what: &str, max: String| {
        RunError::TooCostly(format!(
            "it has more than {max} {what}, the most the host compiles"
        ))
    };
    let mut found = Inspection::default();
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.map_err(invalid)? {
            Payload::Version { encoding, .. } => {
                if depth == 0 && encoding != Encoding::Component {
                    return Err(RunError::Refused(
                        "not a valid WebAssembly component: it is a core module".into(),
                    ));
                }
                if depth > 0 {
                    match encoding {
                        Encoding::Module => found.modules += 1,
                        Encoding::Component => found.nested_components += 1,
                    }
                }
                depth += 1;
                if found.modules > limits.max_modules {
                    return Err(too_many("core modules", limits.max_modules.to_string()));
                }
                if found.nested_components > limits.max_nested_components {
                    return Err(too_many(
                        "nested components",
                        limits.max_nested_components.to_string(),
                    ));
                }
            }
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::FunctionSection(functions) => {
                found.functions = found.functions.saturating_add(functions.count());
                if found.functions > limits.max_functions {
                    return Err(too_many("functions", limits.max_functions.to_string()));
                }
            }
            Payload::CodeSectionEntry(body) => {
                let size = body.range().len();
                if size > limits.max_function_bytes {
                    return Err(RunError::TooCostly(format!(
                        "a function body is {size} bytes; the host compiles bodies of at most {} bytes",
                        limits.max_function_bytes
                    )));
                }
                found.code_bytes = found.code_bytes.saturating_add(size);
                if found.code_bytes > limits.max_code_bytes {
                    return Err(too_many("bytes of code", limits.max_code_bytes.to_string()));
                }
            }
            Payload::MemorySection(memories) => found.memories += memories.count(),
            Payload::TableSection(tables) => found.tables += tables.count(),
            Payload::InstanceSection(instances) => {
                for instance in instances {
                    if let wasmparser::Instance::Instantiate { .. } = instance.map_err(invalid)? {
                        found.core_instances += 1;
                    }
                }
            }
            Payload::ComponentImportSection(imports) if depth == 1 => {
                for import in imports {
                    found
                        .imports
                        .push(import.map_err(invalid)?.name.name.to_string());
                }
            }
            Payload::ComponentExportSection(exports) if depth == 1 => {
                for export in exports {
                    found
                        .exports
                        .push(export.map_err(invalid)?.name.name.to_string());
                }
            }
            _ => {}
        }
    }
    Ok(found)
}

/// The `kms:vault` interface an import or export names (`keys` for `kms:vault/keys@0.2.0`).
fn vault_interface(name: &str) -> Option<&str> {
    name.strip_prefix(VAULT)
        .and_then(|rest| rest.split('@').next())
}

fn check_world(found: &Inspection, world: &World) -> Result<(), RunError> {
    for import in &found.imports {
        if import.starts_with("wasi:") {
            continue;
        }
        if !vault_interface(import).is_some_and(|i| world.imports.contains(&i)) {
            return Err(RunError::Refused(format!(
                "it imports {import}, which this host does not provide to a {}",
                world.name
            )));
        }
    }
    let exports_one = found
        .exports
        .iter()
        .filter_map(|e| vault_interface(e))
        .any(|e| world.exports.contains(&e));
    if !exports_one {
        let wanted: Vec<String> = world
            .exports
            .iter()
            .map(|e| format!("{VAULT}{e}"))
            .collect();
        return Err(RunError::Refused(format!(
            "it is not a {}: it exports none of {}",
            world.name,
            wanted.join(", ")
        )));
    }
    Ok(())
}

/// A bounded map from digest to value that forgets the least recently used entry when full.
pub(crate) struct Lru<V> {
    capacity: usize,
    tick: u64,
    entries: HashMap<String, (V, u64)>,
}

impl<V: Clone> Lru<V> {
    pub(crate) fn new(capacity: usize) -> Self {
        Lru {
            capacity: capacity.max(1),
            tick: 0,
            entries: HashMap::new(),
        }
    }

    pub(crate) fn get(&mut self, digest: &str) -> Option<V> {
        self.tick += 1;
        let tick = self.tick;
        self.entries.get_mut(digest).map(|(value, used)| {
            *used = tick;
            value.clone()
        })
    }

    pub(crate) fn insert(&mut self, digest: String, value: V) {
        if !self.entries.contains_key(&digest) && self.entries.len() >= self.capacity {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(d, _)| d.clone());
            if let Some(oldest) = oldest {
                self.entries.remove(&oldest);
            }
        }
        self.tick += 1;
        self.entries.insert(digest, (value, self.tick));
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }
}

/// Digests of components that failed to compile or ran past the deadline, with why; the oldest
/// is forgotten first.
struct Refusals {
    capacity: usize,
    order: VecDeque<String>,
    why: HashMap<String, RunError>,
}

impl Refusals {
    fn remember(&mut self, digest: String, error: RunError) {
        if self.why.insert(digest.clone(), error).is_none() {
            self.order.push_back(digest);
        }
        while self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.why.remove(&old);
            }
        }
    }
}

struct Job {
    bytes: Vec<u8>,
    /// Set by a caller that stopped waiting before the job started: skip it.
    abandoned: Arc<AtomicBool>,
    started: SyncSender<()>,
    done: SyncSender<wasmtime::Result<Component>>,
}

/// Compiles components for one engine on one dedicated thread, one at a time, under the
/// deadline of [`ComponentLimits`]. Cheap to share.
pub(crate) struct Compiler {
    engine: Engine,
    limits: ComponentLimits,
    jobs: Mutex<SyncSender<Job>>,
    refusals: Mutex<Refusals>,
}

impl Compiler {
    pub(crate) fn new(engine: Engine, limits: ComponentLimits) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::sync_channel(limits.compile_queue.max(1));
        let thread_engine = engine.clone();
        std::thread::Builder::new()
            .name("kms-compile".into())
            .spawn(move || compile_thread(&thread_engine, &queue))?;
        Ok(Compiler {
            refusals: Mutex::new(Refusals {
                capacity: limits.remembered_refusals.max(1),
                order: VecDeque::new(),
                why: HashMap::new(),
            }),
            engine,
            limits,
            jobs: Mutex::new(jobs),
        })
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }

    pub(crate) fn limits(&self) -> &ComponentLimits {
        &self.limits
    }

    /// Compiles `bytes` (whose digest is `digest`) on the compile thread. A component refused
    /// before is refused again without compiling.
    pub(crate) fn compile(&self, digest: &str, bytes: &[u8]) -> Result<Component, RunError> {
        if let Some(earlier) = self
            .refusals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .why
            .get(digest)
        {
            return Err(earlier.clone());
        }
        let (started_tx, started) = mpsc::sync_channel(1);
        let (done_tx, done) = mpsc::sync_channel(1);
        let abandoned = Arc::new(AtomicBool::new(false));
        let job = Job {
            bytes: bytes.to_vec(),
            abandoned: Arc::clone(&abandoned),
            started: started_tx,
            done: done_tx,
        };
        let busy = || {
            RunError::Busy(format!(
                "the host is compiling other components; try again (it compiles one at a time, \
                 and at most {} wait)",
                self.limits.compile_queue
            ))
        };
        match self
            .jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .try_send(job)
        {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(busy()),
            Err(TrySendError::Disconnected(_)) => {
                return Err(RunError::Busy("the compile thread has stopped".into()));
            }
        }
        if started
            .recv_timeout(self.limits.compile_queue_wait)
            .is_err()
        {
            abandoned.store(true, Ordering::SeqCst);
            // It may have started just now; then it counts as started.
            if started.try_recv().is_err() {
                return Err(busy());
            }
        }
        let began = Instant::now();
        let outcome = match done.recv_timeout(self.limits.compile_time_limit) {
            Ok(Ok(component)) => return Ok(component),
            Ok(Err(e)) => RunError::Refused(format!("not a valid WebAssembly component: {e:#}")),
            Err(RecvTimeoutError::Timeout) => RunError::TooCostly(format!(
                "compiling it took longer than {} ms (stopped waiting after {} ms)",
                self.limits.compile_time_limit.as_millis(),
                began.elapsed().as_millis()
            )),
            Err(RecvTimeoutError::Disconnected) => {
                RunError::Busy("the compile thread has stopped".into())
            }
        };
        if !matches!(outcome, RunError::Busy(_)) {
            self.refusals
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remember(digest.to_string(), outcome.clone());
        }
        Err(outcome)
    }
}

fn compile_thread(engine: &Engine, queue: &Receiver<Job>) {
    while let Ok(job) = queue.recv() {
        if job.abandoned.load(Ordering::SeqCst) {
            continue;
        }
        if job.started.send(()).is_err() {
            continue;
        }
        let compiled = Component::new(engine, &job.bytes);
        // The caller may have stopped waiting (deadline): the result is dropped.
        let _ = job.done.send(compiled);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_forgets_the_least_recently_used_entry_when_full() {
        let mut cache = Lru::new(2);
        cache.insert("a".into(), 1);
        cache.insert("b".into(), 2);
        assert_eq!(cache.get("a"), Some(1));
        cache.insert("c".into(), 3);
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get("b"), None);
        assert_eq!(cache.get("a"), Some(1));
        assert_eq!(cache.get("c"), Some(3));
    }

    #[test]
    fn refusals_are_remembered_up_to_their_capacity() {
        let mut refusals = Refusals {
            capacity: 2,
            order: VecDeque::new(),
            why: HashMap::new(),
        };
        for digest in ["a", "b", "c"] {
            refusals.remember(digest.into(), RunError::Refused(digest.into()));
        }
        assert!(!refusals.why.contains_key("a"));
        assert!(refusals.why.contains_key("b") && refusals.why.contains_key("c"));
    }

    #[test]
    fn a_core_module_is_not_a_component() {
        // The smallest core module: magic and version 1.
        let module = b"\0asm\x01\0\0\0";
        let world = World {
            imports: &[],
            exports: &["app"],
            name: "tenant application",
        };
        let err = inspect(
            module,
            &ComponentLimits::default(),
            &InstanceCounts::default(),
            &world,
        )
        .unwrap_err();
        assert!(err.to_string().contains("core module"), "{err}");
    }
}
