//! How an embedder adds `kms:vault` to its own wasmtime [`Linker`], next to WASI: everything a
//! guest may import, with `reveal` apart because only granted tenants get it, and the smaller
//! set a policy plugin may import.

use wasmtime::component::Linker;

use crate::bindings::{config, data_keys, keys, log, reveal, types};
use crate::ctx::{HasKms, KmsView};

/// Adds `kms:vault/keys`, `data-keys`, `log`, `config` and `types` to `linker`: everything a
/// guest may import except `reveal`.
///
/// ```no_run
/// use std::sync::Arc;
/// use kms_service::{Caller, Service};
/// use kms_runtime::{Capabilities, KeyOperation, KeySelector, KmsCtx, KmsCtxView, KmsView};
/// use wasmtime::component::{Component, Linker, ResourceTable};
/// use wasmtime::{Engine, Store};
///
/// // The plugin platform's own store data, with `kms:vault` state beside its own.
/// struct PluginState {
///     kms: KmsCtx,
///     table: ResourceTable,
/// }
///
/// impl KmsView for PluginState {
///     fn kms(&mut self) -> KmsCtxView<'_> {
///         KmsCtxView { ctx: &mut self.kms, table: &mut self.table }
///     }
/// }
///
/// # fn main() -> anyhow::Result<()> {
/// let service = Arc::new(Service::in_memory()?);
/// let engine = Engine::default();
/// let mut linker = Linker::<PluginState>::new(&engine);
/// kms_runtime::add_to_linker(&mut linker)?;
///
/// let capabilities = Capabilities::builder()
///     .allow(KeySelector::Alias("alias/orders".into()), [KeyOperation::Encrypt])
///     .build();
/// let component = Component::from_file(&engine, "plugin.wasm")?;
/// let kms = KmsCtx::builder(service, Caller::principal("arn:aws:iam::111122223333:role/plugin")?)
///     .capabilities(capabilities)
///     .build();
/// let mut store = Store::new(&engine, PluginState { kms, table: ResourceTable::new() });
/// let _instance = linker.instantiate(&mut store, &component)?;
/// # Ok(())
/// # }
/// ```
pub fn add_to_linker<T: KmsView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    types::add_to_linker::<T, HasKms>(linker, T::kms)?;
    keys::add_to_linker::<T, HasKms>(linker, T::kms)?;
    data_keys::add_to_linker::<T, HasKms>(linker, T::kms)?;
    log::add_to_linker::<T, HasKms>(linker, T::kms)?;
    config::add_to_linker::<T, HasKms>(linker, T::kms)?;
    Ok(())
}

/// Adds `kms:vault/reveal`. An instance still needs `reveal` in its capability set to use it.
pub fn add_reveal_to_linker<T: KmsView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    reveal::add_to_linker::<T, HasKms>(linker, T::kms)
}

/// Adds only what a policy plugin may import: `log`, `config` and `types`.
pub fn add_plugin_imports_to_linker<T: KmsView + 'static>(
    linker: &mut Linker<T>,
) -> wasmtime::Result<()> {
    types::add_to_linker::<T, HasKms>(linker, T::kms)?;
    log::add_to_linker::<T, HasKms>(linker, T::kms)?;
    config::add_to_linker::<T, HasKms>(linker, T::kms)?;
    Ok(())
}
