//! A tenant application built with `std`, as third-party guests usually are: it imports WASI
//! interfaces (stdio, environment, clocks…) besides `kms:vault`. The host satisfies them with
//! functions that trap, so the guest runs as long as it does not touch them.
//!
//! `run encrypt KEY` encrypts through `kms:vault`; `run print` writes to stdout and `run time`
//! reads the wall clock, both of which must trap in the stock runtime. `run seal-file PATH KEY`
//! reads a file through WASI and encrypts its contents under KEY, bound to the context
//! `path=PATH`, returning the ciphertext in hex: it runs only where the embedder links real WASI
//! and preopens a directory holding PATH.

use std::alloc::{Layout, alloc, realloc};

mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit",
        world: "kms:vault/tenant-command",
    });
}

use bindings::kms::vault::keys;

struct StdApp;

impl bindings::exports::kms::vault::app::Guest for StdApp {
    fn run(args: Vec<String>) -> Result<String, String> {
        match args.first().map(String::as_str) {
            Some("encrypt") => {
                let name = args.get(1).ok_or("which key?")?;
                let key = keys::open(name).map_err(|e| format!("{e:?}"))?;
                let blob = key
                    .encrypt(b"from std", &[])
                    .map_err(|e| format!("{e:?}"))?;
                Ok(format!("{} byte ciphertext", blob.len()))
            }
            Some("seal-file") => {
                let path = args.get(1).ok_or("which file?")?;
                let name = args.get(2).ok_or("which key?")?;
                let contents = std::fs::read(path).map_err(|e| format!("reading {path}: {e}"))?;
                let key = keys::open(name).map_err(|e| format!("{e:?}"))?;
                let blob = key
                    .encrypt(&contents, &[("path".to_string(), path.clone())])
                    .map_err(|e| format!("{e:?}"))?;
                Ok(hex(&blob))
            }
            Some("print") => {
                println!("hello from the sandbox");
                Ok("printed".into())
            }
            Some("time") => Ok(format!("{:?}", std::time::SystemTime::now())),
            other => Err(format!("unknown command {other:?}")),
        }
    }
}

/// Lower-case hex, so that a ciphertext fits `run`'s string result.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The canonical ABI's allocator (wit-bindgen's is not linked in this workspace, whose other
/// guests are `no_std` and bring their own).
///
/// # Safety
/// Called by the host as the canonical ABI specifies.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cabi_realloc(
    old_ptr: *mut u8,
    old_len: usize,
    align: usize,
    new_len: usize,
) -> *mut u8 {
    if old_len == 0 {
        if new_len == 0 {
            return align as *mut u8;
        }
        // SAFETY: the canonical ABI passes a power-of-two alignment and a non-zero size.
        return unsafe { alloc(Layout::from_size_align_unchecked(new_len, align)) };
    }
    // SAFETY: `old_ptr` was allocated here with this size and alignment.
    unsafe {
        realloc(
            old_ptr,
            Layout::from_size_align_unchecked(old_len, align),
            new_len,
        )
    }
}

bindings::export!(StdApp with_types_in bindings);
