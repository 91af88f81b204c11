//! Shared helpers for the integration tests.

use kms_service::audit::AuditEvent;
use kms_service::{Caller, Service};

/// Every record of the audit trail, in order, read through the façade as the account root.
pub fn audit_events(service: &Service) -> Vec<(u64, AuditEvent)> {
    let root = Caller::account_root(service.account());
    let mut events = Vec::new();
    loop {
        let after = events.last().map_or(0, |(seq, _)| *seq);
        let page = service.lookup_audit_events(&root, after, 1000).unwrap();
        if page.is_empty() {
            return events;
        }
        events.extend(page);
    }
}

/// A service on an in-memory vault, and a second handle on the same storage and root key: what
/// someone holding the vault's storage and its root key would see, for tests that check what is
/// (and is not) stored. The service itself hands out neither.
pub fn in_memory_service() -> (Service, kms_vault::Vault) {
    use kms_vault::{MemoryStore, RootKey, Vault};
    let store = MemoryStore::new();
    let root = RootKey::generate().unwrap();
    let vault = Vault::create(
        Box::new(store.clone()),
        root.clone(),
        kms_service::DEFAULT_ACCOUNT,
        kms_service::DEFAULT_REGION,
    )
    .unwrap();
    let service = Service::new(vault, std::sync::Arc::new(kms_service::SystemClock)).unwrap();
    (service, Vault::open(Box::new(store), root).unwrap())
}

/// A service on an in-memory vault with one symmetric key, named `alias`.
pub fn service_with_alias(alias: &str) -> std::sync::Arc<Service> {
    let service = std::sync::Arc::new(Service::in_memory().unwrap());
    let admin = Caller::account_root(service.account());
    let key = service
        .create_key(&admin, kms_service::CreateKeyRequest::default())
        .unwrap()
        .key_metadata
        .key_id;
    service
        .create_alias(
            &admin,
            kms_service::AliasRequest {
                alias_name: alias.into(),
                target_key_id: key,
            },
        )
        .unwrap();
    service
}

/// Components generated in the tests, for attacks a component built by our toolchain cannot make:
/// extra core modules appended to a real component (which keeps its world), many memories, large
/// code.
pub mod generated {
    use wasm_encoder::{
        CodeSection, ComponentSection, ExportKind, ExportSection, Function, FunctionSection,
        InstanceSection, MemorySection, MemoryType, Module, ModuleArg, ModuleSection, StartSection,
        TypeSection,
    };

    /// A WebAssembly page.
    pub const PAGE: u64 = 64 << 10;

    /// `component` with `modules` appended as core modules that it instantiates (after its own
    /// instances, with no imports): its imports and exports stay as they were, and instantiating
    /// it runs each module's start function.
    pub fn with_core_modules(component: &[u8], modules: &[Module]) -> Vec<u8> {
        let mut bytes = component.to_vec();
        let first = top_level_core_modules(component);
        let mut instances = InstanceSection::new();
        for (i, module) in modules.iter().enumerate() {
            ModuleSection(module).append_to_component(&mut bytes);
            let index = first + u32::try_from(i).unwrap();
            instances.instantiate(index, std::iter::empty::<(&str, ModuleArg)>());
        }
        instances.append_to_component(&mut bytes);
        bytes
    }

    /// `component` with `modules` appended as core modules it defines but never instantiates:
    /// they cost compilation only.
    pub fn with_unused_core_modules(component: &[u8], modules: &[Module]) -> Vec<u8> {
        let mut bytes = component.to_vec();
        for module in modules {
            ModuleSection(module).append_to_component(&mut bytes);
        }
        bytes
    }

    /// A core module with `memories` memories (empty at first) whose start function grows each
    /// of them by `grow_bytes`.
    pub fn growing_memories(memories: u32, grow_bytes: u64) -> Module {
        let mut types = TypeSection::new();
        types.ty().function([], []);
        let mut functions = FunctionSection::new();
        functions.function(0);
        let mut memory = MemorySection::new();
        for _ in 0..memories {
            memory.memory(MemoryType {
                minimum: 0,
                maximum: None,
                memory64: false,
                shared: false,
                page_size_log2: None,
            });
        }
        let mut body = Function::new([]);
        let pages = i32::try_from(grow_bytes.div_ceil(PAGE)).unwrap();
        for m in 0..memories {
            body.instructions().i32_const(pages).memory_grow(m).drop();
        }
        body.instructions().end();
        let mut code = CodeSection::new();
        code.function(&body);
        let mut module = Module::new();
        module
            .section(&types)
            .section(&functions)
            .section(&memory)
            .section(&StartSection { function_index: 0 })
            .section(&code);
        module
    }

    /// A core module of `functions` exported functions, each a body of about `body_bytes`
    /// bytes of arithmetic: code that is valid and costs the compiler in proportion to its size.
    pub fn large_code(functions: u32, body_bytes: usize) -> Module {
        let mut types = TypeSection::new();
        types
            .ty()
            .function([wasm_encoder::ValType::I32], [wasm_encoder::ValType::I32]);
        let mut section = FunctionSection::new();
        let mut exports = ExportSection::new();
        let mut code = CodeSection::new();
        // `local.get 0; i32.const 7; i32.add; local.set 0` is 7 bytes.
        let steps = body_bytes / 7;
        for f in 0..functions {
            section.function(0);
            exports.export(&format!("f{f}"), ExportKind::Func, f);
            let mut body = Function::new([]);
            let mut sink = body.instructions();
            for _ in 0..steps {
                sink.local_get(0).i32_const(7).i32_add().local_set(0);
            }
            sink.local_get(0).end();
            code.function(&body);
        }
        let mut module = Module::new();
        module
            .section(&types)
            .section(&section)
            .section(&exports)
            .section(&code);
        module
    }

    /// How many core modules the component defines at its top level (section id 1).
    fn top_level_core_modules(component: &[u8]) -> u32 {
        let mut at = 8;
        let mut modules = 0;
        while at < component.len() {
            let id = component[at];
            let (size, next) = leb128(component, at + 1);
            if id == 1 {
                modules += 1;
            }
            at = next + size;
        }
        modules
    }

    fn leb128(bytes: &[u8], mut at: usize) -> (usize, usize) {
        let (mut value, mut shift) = (0usize, 0);
        loop {
            let byte = bytes[at];
            at += 1;
            value |= usize::from(byte & 0x7f) << shift;
            shift += 7;
            if byte < 0x80 {
                return (value, at);
            }
        }
    }
}
