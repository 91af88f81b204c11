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

/// A store that notes the name of every call made to it, in order, then passes it to a memory
/// store: for tests that check that two requests do the same work.
pub mod recording {
    use std::sync::{Arc, Mutex};

    use kms_core::error::KmsResult;
    use kms_core::types::KeyId;
    use kms_vault::{
        AccessKeyRecord, AccessKeyStatus, AccountRecord, AliasRecord, AliasStore, AuditStore,
        CustomKeyStoreRecord, CustomKeyStoreStore, GrantRecord, GrantStore, IdentityStore,
        KeyLastUse, KeyRecord, KeyStore, KeyUsageStore, MemoryStore, MetaStore, PluginAttachment,
        PluginScope, PluginStore, PrincipalRecord, SealedVersion, StoredAuditRecord, Swap,
    };

    /// The calls made to a [`RecordingStore`], by method name.
    #[derive(Clone, Default)]
    pub struct Calls(Arc<Mutex<Vec<&'static str>>>);

    impl Calls {
        /// The calls made since the last `take`.
        pub fn take(&self) -> Vec<&'static str> {
            std::mem::take(&mut *self.0.lock().unwrap())
        }
    }

    /// A memory store that notes every call in its [`Calls`]; its clones share both.
    #[derive(Clone)]
    pub struct RecordingStore {
        inner: MemoryStore,
        calls: Calls,
    }

    impl RecordingStore {
        /// A new, empty store, and where its calls are noted.
        pub fn new() -> (Self, Calls) {
            let calls = Calls::default();
            let store = RecordingStore {
                inner: MemoryStore::new(),
                calls: calls.clone(),
            };
            (store, calls)
        }

        fn note(&self, call: &'static str) {
            self.calls.0.lock().unwrap().push(call);
        }
    }

    /// A service on a recording store, a second handle on its storage (as
    /// [`in_memory_service`](super::in_memory_service) gives), and the store's calls.
    pub fn service() -> (kms_service::Service, kms_vault::Vault, Calls) {
        let (store, calls) = RecordingStore::new();
        let root = kms_vault::RootKey::generate().unwrap();
        let vault = kms_vault::Vault::create(
            Box::new(store.clone()),
            root.clone(),
            kms_service::DEFAULT_ACCOUNT,
            kms_service::DEFAULT_REGION,
        )
        .unwrap();
        let service =
            kms_service::Service::new(vault, std::sync::Arc::new(kms_service::SystemClock))
                .unwrap();
        let seen = kms_vault::Vault::open(Box::new(store), root).unwrap();
        (service, seen, calls)
    }

    impl MetaStore for RecordingStore {
        fn meta(&self, name: &str) -> KmsResult<Option<String>> {
            self.note("meta");
            self.inner.meta(name)
        }
        fn set_meta(&self, name: &str, value: &str) -> KmsResult<()> {
            self.note("set_meta");
            self.inner.set_meta(name, value)
        }
    }

    impl KeyStore for RecordingStore {
        fn insert_key(
            &self,
            key: &KeyRecord,
            first_version: Option<&SealedVersion>,
        ) -> KmsResult<()> {
            self.note("insert_key");
            self.inner.insert_key(key, first_version)
        }
        fn insert_replica(&self, key: &KeyRecord) -> KmsResult<()> {
            self.note("insert_replica");
            self.inner.insert_replica(key)
        }
        fn key(&self, region: &str, key_id: &KeyId) -> KmsResult<Option<KeyRecord>> {
            self.note("key");
            self.inner.key(region, key_id)
        }
        fn related_keys(&self, key_id: &KeyId) -> KmsResult<Vec<KeyRecord>> {
            self.note("related_keys");
            self.inner.related_keys(key_id)
        }
        fn key_count(&self, region: &str) -> KmsResult<u64> {
            self.note("key_count");
            self.inner.key_count(region)
        }
        fn keys_after(
            &self,
            region: &str,
            after: Option<&KeyId>,
            limit: usize,
        ) -> KmsResult<Vec<KeyRecord>> {
            self.note("keys_after");
            self.inner.keys_after(region, after, limit)
        }
        fn update_key(&self, key: &KeyRecord) -> KmsResult<Swap> {
            self.note("update_key");
            self.inner.update_key(key)
        }
        fn update_keys(&self, keys: &[KeyRecord]) -> KmsResult<Swap> {
            self.note("update_keys");
            self.inner.update_keys(keys)
        }
        fn add_version(&self, key: &KeyRecord, version: &SealedVersion) -> KmsResult<Swap> {
            self.note("add_version");
            self.inner.add_version(key, version)
        }
        fn replace_versions(&self, key: &KeyRecord, versions: &[SealedVersion]) -> KmsResult<Swap> {
            self.note("replace_versions");
            self.inner.replace_versions(key, versions)
        }
        fn version(&self, key_id: &KeyId, version: u32) -> KmsResult<Option<SealedVersion>> {
            self.note("version");
            self.inner.version(key_id, version)
        }
        fn versions(&self, key_id: &KeyId) -> KmsResult<Vec<SealedVersion>> {
            self.note("versions");
            self.inner.versions(key_id)
        }
        fn delete_key(&self, key: &KeyRecord) -> KmsResult<Swap> {
            self.note("delete_key");
            self.inner.delete_key(key)
        }
        fn keys_due(&self, now: u64) -> KmsResult<Vec<(String, KeyId)>> {
            self.note("keys_due");
            self.inner.keys_due(now)
        }
    }

    impl AliasStore for RecordingStore {
        fn insert_alias(&self, alias: &AliasRecord) -> KmsResult<()> {
            self.note("insert_alias");
            self.inner.insert_alias(alias)
        }
        fn update_alias(&self, alias: &AliasRecord) -> KmsResult<()> {
            self.note("update_alias");
            self.inner.update_alias(alias)
        }
        fn delete_alias(&self, region: &str, name: &str) -> KmsResult<()> {
            self.note("delete_alias");
            self.inner.delete_alias(region, name)
        }
        fn alias(&self, region: &str, name: &str) -> KmsResult<Option<AliasRecord>> {
            self.note("alias");
            self.inner.alias(region, name)
        }
        fn aliases_after(
            &self,
            region: &str,
            after: Option<&str>,
            key_id: Option<&KeyId>,
            limit: usize,
        ) -> KmsResult<Vec<AliasRecord>> {
            self.note("aliases_after");
            self.inner.aliases_after(region, after, key_id, limit)
        }
    }

    impl AuditStore for RecordingStore {
        fn append_audit(&self, record: &StoredAuditRecord) -> KmsResult<()> {
            self.note("append_audit");
            self.inner.append_audit(record)
        }
        fn append_audit_anchored(&self, record: &StoredAuditRecord, head: &str) -> KmsResult<()> {
            self.note("append_audit_anchored");
            self.inner.append_audit_anchored(record, head)
        }
        fn last_audit(&self) -> KmsResult<Option<StoredAuditRecord>> {
            self.note("last_audit");
            self.inner.last_audit()
        }
        fn audit_after(&self, after: u64, limit: usize) -> KmsResult<Vec<StoredAuditRecord>> {
            self.note("audit_after");
            self.inner.audit_after(after, limit)
        }
    }

    impl CustomKeyStoreStore for RecordingStore {
        fn insert_custom_key_store(&self, store: &CustomKeyStoreRecord) -> KmsResult<()> {
            self.note("insert_custom_key_store");
            self.inner.insert_custom_key_store(store)
        }
        fn custom_key_store(
            &self,
            region: &str,
            id: &str,
        ) -> KmsResult<Option<CustomKeyStoreRecord>> {
            self.note("custom_key_store");
            self.inner.custom_key_store(region, id)
        }
        fn custom_key_stores(&self, region: &str) -> KmsResult<Vec<CustomKeyStoreRecord>> {
            self.note("custom_key_stores");
            self.inner.custom_key_stores(region)
        }
        fn update_custom_key_store(&self, store: &CustomKeyStoreRecord) -> KmsResult<Swap> {
            self.note("update_custom_key_store");
            self.inner.update_custom_key_store(store)
        }
        fn delete_custom_key_store(&self, store: &CustomKeyStoreRecord) -> KmsResult<Swap> {
            self.note("delete_custom_key_store");
            self.inner.delete_custom_key_store(store)
        }
    }

    impl PluginStore for RecordingStore {
        fn put_plugin(&self, plugin: &PluginAttachment) -> KmsResult<()> {
            self.note("put_plugin");
            self.inner.put_plugin(plugin)
        }
        fn delete_plugin(&self, scope: &PluginScope, name: &str) -> KmsResult<()> {
            self.note("delete_plugin");
            self.inner.delete_plugin(scope, name)
        }
        fn plugins(&self, scope: &PluginScope) -> KmsResult<Vec<PluginAttachment>> {
            self.note("plugins");
            self.inner.plugins(scope)
        }
    }

    impl IdentityStore for RecordingStore {
        fn insert_account(&self, account: &AccountRecord) -> KmsResult<()> {
            self.note("insert_account");
            self.inner.insert_account(account)
        }
        fn accounts(&self) -> KmsResult<Vec<AccountRecord>> {
            self.note("accounts");
            self.inner.accounts()
        }
        fn insert_principal(&self, principal: &PrincipalRecord) -> KmsResult<()> {
            self.note("insert_principal");
            self.inner.insert_principal(principal)
        }
        fn update_principal(&self, principal: &PrincipalRecord) -> KmsResult<Swap> {
            self.note("update_principal");
            self.inner.update_principal(principal)
        }
        fn delete_principal(&self, arn: &str) -> KmsResult<()> {
            self.note("delete_principal");
            self.inner.delete_principal(arn)
        }
        fn principal(&self, arn: &str) -> KmsResult<Option<PrincipalRecord>> {
            self.note("principal");
            self.inner.principal(arn)
        }
        fn principals(&self, account: &str) -> KmsResult<Vec<PrincipalRecord>> {
            self.note("principals");
            self.inner.principals(account)
        }
        fn insert_access_key(
            &self,
            key: &AccessKeyRecord,
            max_per_principal: usize,
        ) -> KmsResult<()> {
            self.note("insert_access_key");
            self.inner.insert_access_key(key, max_per_principal)
        }
        fn set_access_key_status(
            &self,
            access_key_id: &str,
            status: AccessKeyStatus,
        ) -> KmsResult<()> {
            self.note("set_access_key_status");
            self.inner.set_access_key_status(access_key_id, status)
        }
        fn delete_access_key(&self, access_key_id: &str) -> KmsResult<()> {
            self.note("delete_access_key");
            self.inner.delete_access_key(access_key_id)
        }
        fn access_key(&self, access_key_id: &str) -> KmsResult<Option<AccessKeyRecord>> {
            self.note("access_key");
            self.inner.access_key(access_key_id)
        }
        fn access_keys(&self, principal_arn: &str) -> KmsResult<Vec<AccessKeyRecord>> {
            self.note("access_keys");
            self.inner.access_keys(principal_arn)
        }
    }

    impl GrantStore for RecordingStore {
        fn insert_grant(&self, grant: &GrantRecord) -> KmsResult<()> {
            self.note("insert_grant");
            self.inner.insert_grant(grant)
        }
        fn delete_grant(&self, grant_id: &str) -> KmsResult<()> {
            self.note("delete_grant");
            self.inner.delete_grant(grant_id)
        }
        fn grant(&self, grant_id: &str) -> KmsResult<Option<GrantRecord>> {
            self.note("grant");
            self.inner.grant(grant_id)
        }
        fn grants(&self, region: &str, key_id: &KeyId) -> KmsResult<Vec<GrantRecord>> {
            self.note("grants");
            self.inner.grants(region, key_id)
        }
        fn retirable_grants(&self, principal: &str) -> KmsResult<Vec<GrantRecord>> {
            self.note("retirable_grants");
            self.inner.retirable_grants(principal)
        }
    }

    impl KeyUsageStore for RecordingStore {
        fn record_key_uses(&self, uses: &[KeyLastUse]) -> KmsResult<()> {
            self.note("record_key_uses");
            self.inner.record_key_uses(uses)
        }
        fn key_last_use(&self, region: &str, key_id: &KeyId) -> KmsResult<Option<KeyLastUse>> {
            self.note("key_last_use");
            self.inner.key_last_use(region, key_id)
        }
    }
}
