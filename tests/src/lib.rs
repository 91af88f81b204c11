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
