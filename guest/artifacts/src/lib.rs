//! Paths of the guest components built from `guest/components` for wasm32-wasip2.
//!
//! The stock components (`DATA_KEY_WRAPPER`, `ABAC_POLICY`, `TENANT_APP`) are what operators
//! run; `HOSTILE_APP`, `HOSTILE_PLUGIN`, `REVEAL_APP` and `STD_APP` (a guest built with `std`,
//! which imports WASI) exist for the tests that attack the sandbox, and `STD_APP` also for the
//! tests that embed `kms:vault` beside real WASI.

include!(concat!(env!("OUT_DIR"), "/paths.rs"));

/// Reads a component built by this crate.
pub fn bytes(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}
