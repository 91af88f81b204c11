//! The embedding API as a plugin platform uses it: its own store data and linker, `kms:vault`
//! added in a few lines, then the platform instantiates and calls the component itself.

use std::sync::Arc;

use kms_guest_components as stock;
use kms_runtime::bindings::command::TenantCommandWithReveal;
use kms_runtime::{Capabilities, KmsCtx, KmsCtxView, KmsView, MemoryLog};
use kms_service::Caller;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, Store};

/// The platform's store data: its own state beside the `kms:vault` context.
struct PlatformState {
    requests_served: u32,
    kms: KmsCtx,
    table: ResourceTable,
}

impl KmsView for PlatformState {
    fn kms(&mut self) -> KmsCtxView<'_> {
        KmsCtxView {
            ctx: &mut self.kms,
            table: &mut self.table,
        }
    }
}

#[test]
fn a_platform_adds_kms_vault_to_its_own_linker() {
    let service = kms_integration_tests::service_with_alias("alias/app");
    let engine = Engine::default();
    let mut linker = Linker::<PlatformState>::new(&engine);
    kms_runtime::add_to_linker(&mut linker).unwrap();

    let bytes = stock::bytes(stock::TENANT_APP);
    let component = Component::new(&engine, &bytes).unwrap();
    let log = Arc::new(MemoryLog::default());
    let kms = KmsCtx::builder(
        Arc::clone(&service),
        Caller::account_root(service.account()),
    )
    .component_digest(hex::encode(kms_crypto::sha256(&bytes)))
    .capabilities(
        Capabilities::builder()
            .grant("alias/app=all".parse().unwrap())
            .build(),
    )
    .log(log.clone())
    .build();
    let mut store = Store::new(
        &engine,
        PlatformState {
            requests_served: 0,
            kms,
            table: ResourceTable::new(),
        },
    );
    let app = TenantCommandWithReveal::instantiate(&mut store, &component, &linker).unwrap();
    let report = app
        .kms_vault_app()
        .call_run(&mut store, &["alias/app".to_string()])
        .unwrap()
        .unwrap();
    store.data_mut().requests_served += 1;
    assert!(report.contains("data key seal/open: ok"), "{report}");
    assert_eq!(store.data().requests_served, 1);
    assert_eq!(log.lines().len(), 1);
    // The platform's guest calls are audited like any other, under the component's digest.
    let events = kms_integration_tests::audit_events(&service);
    assert!(events.iter().any(|(_, e)| e.operation == "Encrypt"
        && e.source.starts_with("guest:")
        && e.outcome == "Success"));
}

#[test]
fn without_reveal_in_the_linker_a_component_importing_it_does_not_link() {
    let service = kms_integration_tests::service_with_alias("alias/app");
    let engine = Engine::default();
    let mut linker = Linker::<PlatformState>::new(&engine);
    kms_runtime::add_to_linker(&mut linker).unwrap();
    let component = Component::new(&engine, stock::bytes(stock::REVEAL_APP)).unwrap();
    let mut store = Store::new(
        &engine,
        PlatformState {
            requests_served: 0,
            kms: KmsCtx::builder(
                Arc::clone(&service),
                Caller::account_root(service.account()),
            )
            .build(),
            table: ResourceTable::new(),
        },
    );
    let err = match linker.instantiate(&mut store, &component) {
        Ok(_) => panic!("a component importing reveal linked without it"),
        Err(err) => format!("{err:#}"),
    };
    assert!(err.contains("kms:vault/reveal"), "{err}");
}
