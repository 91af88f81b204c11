//! The fuzz targets' only code of their own: the runtime's capability grammar
//! (`host/runtime/src/capability.rs`), compiled here from its source file. It needs nothing of
//! wasmtime, and building the whole runtime with coverage instrumentation would cost minutes.
//! Every other target calls a host crate's hidden `fuzzing` module.

#[allow(dead_code)]
#[path = "../../host/runtime/src/capability.rs"]
pub mod capability;
