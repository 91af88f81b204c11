//! `kms:vault` beside real WASI in one linker, as a plugin platform runs guests built with `std`:
//! the guest reads a file through a read-only preopen and seals it through `kms:vault`, and the
//! platform opens the ciphertext through the service façade. Once with wasmtime's synchronous
//! API, once in async stores on tokio, as most platforms run wasmtime.
//!
//! The stock `Runtime` gives such guests trapping WASI stand-ins; here the platform links WASI
//! itself, which is its choice to make.

use std::path::Path;
use std::sync::Arc;

use kms_core::types::EncryptionContext;
use kms_guest_components as stock;
use kms_runtime::bindings::command::TenantCommandWithReveal;
use kms_runtime::{Capabilities, KmsCtx, KmsCtxView, KmsView};
use kms_service::{Caller, DecryptRequest, Service};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxView, WasiView};

/// Where the platform mounts the tenant's directory inside the guest.
const GUEST_DIR: &str = "/data";

/// The platform's store data: WASI and `kms:vault` state side by side, sharing one resource
/// table as they share one instance.
struct PlatformState {
    wasi: WasiCtx,
    kms: KmsCtx,
    table: ResourceTable,
}

impl WasiView for PlatformState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl KmsView for PlatformState {
    fn kms(&mut self) -> KmsCtxView<'_> {
        KmsCtxView {
            ctx: &mut self.kms,
            table: &mut self.table,
        }
    }
}

/// A temporary directory holding one file, `name`, with `contents`.
fn directory_with(name: &str, contents: &[u8]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(name), contents).unwrap();
    dir
}

/// One guest's state: `dir` preopened read-only at [`GUEST_DIR`] (WASI's builder grants no other
/// directory, no environment and no network unless asked), and every operation on `alias/app`
/// for the account root.
fn platform_state(service: &Arc<Service>, component: &[u8], dir: &Path) -> PlatformState {
    let mut wasi = WasiCtx::builder();
    wasi.preopened_dir(dir, GUEST_DIR, FsPerms::ReadOnly)
        .unwrap();
    let kms = KmsCtx::builder(Arc::clone(service), Caller::account_root(service.account()))
        .component_digest(hex::encode(kms_crypto::sha256(component)))
        .capabilities(
            Capabilities::builder()
                .grant("alias/app=all".parse().unwrap())
                .build(),
        )
        .build();
    PlatformState {
        wasi: wasi.build(),
        kms,
        table: ResourceTable::new(),
    }
}

/// The arguments of std-app's `seal-file` for `file` in the preopened directory.
fn seal_file_args(file: &str) -> Vec<String> {
    vec![
        "seal-file".into(),
        format!("{GUEST_DIR}/{file}"),
        "alias/app".into(),
    ]
}

/// Opens the guest's hex ciphertext through the façade, under the context the guest bound it to.
fn decrypt_through_service(service: &Service, hex_blob: &str, guest_path: &str) -> Vec<u8> {
    let blob = hex::decode(hex_blob).unwrap();
    let context = EncryptionContext::from_pairs([("path", guest_path)]).unwrap();
    service
        .decrypt(
            &Caller::account_root(service.account()),
            DecryptRequest::new(blob).with_context(context),
        )
        .unwrap()
        .plaintext
        .to_vec()
}

/// The successful `Encrypt` calls the audit trail holds from the guest with these bytes.
fn guest_encrypts(service: &Service, component: &[u8]) -> usize {
    let source = format!("guest:{}", hex::encode(kms_crypto::sha256(component)));
    kms_integration_tests::audit_events(service)
        .iter()
        .filter(|(_, e)| e.operation == "Encrypt" && e.source == source && e.outcome == "Success")
        .count()
}

/// Runs std-app with `args` in a fresh instance through the synchronous API, WASI and
/// `kms:vault` in one linker.
fn run_sync(state: PlatformState, component: &[u8], args: &[String]) -> Result<String, String> {
    let engine = Engine::default();
    let mut linker = Linker::<PlatformState>::new(&engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker).unwrap();
    kms_runtime::add_to_linker(&mut linker).unwrap();
    let component = Component::new(&engine, component).unwrap();
    let mut store = Store::new(&engine, state);
    let app = TenantCommandWithReveal::instantiate(&mut store, &component, &linker).unwrap();
    app.kms_vault_app().call_run(&mut store, args).unwrap()
}

#[test]
fn a_std_guest_seals_a_file_it_reads_through_a_wasi_preopen() {
    let service = kms_integration_tests::service_with_alias("alias/app");
    let contents = b"card numbers, one per line\n4111111111111111\n";
    let dir = directory_with("secret.txt", contents);
    let bytes = stock::bytes(stock::STD_APP);

    let sealed = run_sync(
        platform_state(&service, &bytes, dir.path()),
        &bytes,
        &seal_file_args("secret.txt"),
    )
    .unwrap();

    assert_eq!(
        decrypt_through_service(&service, &sealed, "/data/secret.txt"),
        contents
    );
    assert_eq!(guest_encrypts(&service, &bytes), 1);
}

#[test]
fn a_std_guest_reads_nothing_outside_its_preopen() {
    let service = kms_integration_tests::service_with_alias("alias/app");
    let preopened = directory_with("secret.txt", b"granted");
    let elsewhere = directory_with("other.txt", b"not granted");
    let bytes = stock::bytes(stock::STD_APP);
    let outside = elsewhere.path().join("other.txt");

    let refused = run_sync(
        platform_state(&service, &bytes, preopened.path()),
        &bytes,
        &[
            "seal-file".into(),
            outside.display().to_string(),
            "alias/app".into(),
        ],
    )
    .unwrap_err();

    assert!(refused.starts_with("reading "), "{refused}");
    assert_eq!(guest_encrypts(&service, &bytes), 0);
}

/// wasmtime 48 has no engine-wide async switch (`Config::async_support` is a deprecated no-op):
/// a store requires `*_async` calls once it instantiates a component with async imports, here
/// WASI's, and the synchronous `kms:vault` host functions run inside those calls unchanged. The
/// futures are `Send`, so the platform spawns one task per request on a multi-threaded runtime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kms_vault_host_calls_work_in_async_stores_beside_async_wasi() {
    let service = kms_integration_tests::service_with_alias("alias/app");
    let bytes = Arc::new(stock::bytes(stock::STD_APP));
    let engine = Engine::default();
    let mut linker = Linker::<PlatformState>::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).unwrap();
    kms_runtime::add_to_linker(&mut linker).unwrap();
    let component = Component::new(&engine, bytes.as_slice()).unwrap();
    let pre = linker.instantiate_pre(&component).unwrap();

    let requests: Vec<_> = (0..3)
        .map(|n| {
            let contents = format!("tenant request {n}").into_bytes();
            let dir = directory_with("request.txt", &contents);
            let state = platform_state(&service, &bytes, dir.path());
            let (engine, pre) = (engine.clone(), pre.clone());
            let task = tokio::spawn(async move {
                let mut store = Store::new(&engine, state);
                let instance = pre.instantiate_async(&mut store).await.unwrap();
                let app = TenantCommandWithReveal::new(&mut store, &instance).unwrap();
                let args = seal_file_args("request.txt");
                let (sealed,) = app
                    .kms_vault_app()
                    .func_run()
                    .call_async(&mut store, (&args,))
                    .await
                    .unwrap();
                sealed
            });
            (contents, dir, task)
        })
        .collect();

    for (contents, _dir, task) in requests {
        let sealed = task.await.unwrap().unwrap();
        assert_eq!(
            decrypt_through_service(&service, &sealed, "/data/request.txt"),
            contents
        );
    }
    assert_eq!(guest_encrypts(&service, &bytes), 3);
}
