//! Paths of the guest components built from `guest/components` for wasm32-wasip2.
//!
//! The stock components (`DATA_KEY_WRAPPER`, `ABAC_POLICY`, `TENANT_APP`) are what operators
//! run; `HOSTILE_APP`, `HOSTILE_PLUGIN`, `REVEAL_APP` and `STD_APP` (a guest built with `std`,
//! which imports WASI) exist for the tests that attack the sandbox, and `STD_APP` also for the
//! tests that embed `kms:vault` beside real WASI.

include!(concat!(env!("OUT_DIR"), "/paths.rs"));

/// A stock component compiled into this crate ([`STOCK`]), for a binary that must run it after
/// `cargo install`, with no build tree beside it.
#[derive(Clone, Copy, Debug)]
pub struct StockComponent {
    /// Its name (`tenant-app`, ...).
    pub name: &'static str,
    /// The world it is built for (`kms:vault/tenant-command`, ...).
    pub world: &'static str,
    /// What it does, in a line.
    pub about: &'static str,
    /// The component.
    pub bytes: &'static [u8],
}

/// The stock component named `name`.
pub fn stock(name: &str) -> Option<&'static StockComponent> {
    STOCK.iter().find(|c| c.name == name)
}

/// Reads a component built by this crate.
pub fn bytes(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}
