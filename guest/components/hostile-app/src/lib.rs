//! A tenant application that attacks the host on request, for the sandbox tests. Each command is
//! one attack; the host must stop, deny and audit it and go on serving.
//!
//! | command | attack |
//! |---|---|
//! | `spin` | loops forever |
//! | `grow` | allocates memory without bound |
//! | `open KEY` | opens a key (outside its capability, in the tests) |
//! | `keep KEY` / `use-kept` | opens a key and keeps the handle; later encrypts with it |
//! | `reuse-dropped KEY` | drops a handle and calls through its stale index |
//! | `huge-arg KEY MIB` | passes a MIB-mebibyte plaintext to `encrypt` |
//! | `handles KEY N` | opens N handles and keeps them all |
//! | `decrypt-data-key KEY` | tries `keys.decrypt` on a wrapped data key, without `reveal` |
//! | `dump-after-seal KEY` | seals with a data key, then returns the wrapped key and its whole linear memory, as hex |
//! | `public-key KEY` | asks a key for its public half (a symmetric key, in the tests, which has none to give) |
//! | `encrypt KEY N` | encrypts 4 KiB N times (the benchmark's guest side) |
//! | `open-many KEY N` | asks to open KEY N times, keeping nothing; reports how many were refused |
//! | `decrypt HEX` | decrypts the ciphertext HEX with no encryption context |
#![no_std]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use kms_guest::types::DataKeySpec;
use kms_guest::{EncryptionContext, InstanceState, data_keys, keys};

mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit",
        world: "kms:vault/tenant-command",
        with: {
            "kms:vault/types@0.2.0": kms_guest::types,
            "kms:vault/keys@0.2.0": kms_guest::keys,
            "kms:vault/data-keys@0.2.0": kms_guest::data_keys,
            "kms:vault/log@0.2.0": kms_guest::log,
        },
    });
}

static KEPT: InstanceState<Vec<keys::Key>> = InstanceState::new(Vec::new());

fn arg(args: &[String], at: usize) -> Result<&str, String> {
    args.get(at)
        .map(String::as_str)
        .ok_or_else(|| format!("argument {at} is missing"))
}

fn number(args: &[String], at: usize) -> Result<usize, String> {
    arg(args, at)?
        .parse()
        .map_err(|_| format!("argument {at} is not a number"))
}

fn open(name: &str) -> Result<keys::Key, String> {
    keys::open(name).map_err(|e| format!("{e}"))
}

struct HostileApp;

impl bindings::exports::kms::vault::app::Guest for HostileApp {
    fn run(args: Vec<String>) -> Result<String, String> {
        let context = EncryptionContext::new();
        match arg(&args, 0)? {
            "spin" => {
                let mut n = args.len() as u64;
                loop {
                    n = core::hint::black_box(n.wrapping_mul(6364136223846793005).wrapping_add(1));
                }
            }
            "grow" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(core::hint::black_box(vec![1u8; 1 << 20]));
                }
            }
            "open" => open(arg(&args, 1)?).map(|_| String::from("opened")),
            "keep" => {
                let key = open(arg(&args, 1)?)?;
                KEPT.with(|kept| kept.push(key));
                Ok(String::from("kept"))
            }
            "use-kept" => KEPT.with(|kept| {
                let key = kept.last().ok_or("no key kept")?;
                key.encrypt(b"after", &context)
                    .map(|_| String::from("encrypted"))
                    .map_err(|e| format!("{e}"))
            }),
            "reuse-dropped" => {
                let key = open(arg(&args, 1)?)?;
                let stale = key.handle();
                drop(key);
                // SAFETY (of the guest's own bindings): deliberately wrong; the host must refuse
                // a handle index the guest no longer owns.
                let forged = unsafe { keys::Key::from_handle(stale) };
                forged
                    .encrypt(b"stale", &context)
                    .map(|_| String::from("encrypted through a dropped handle"))
                    .map_err(|e| format!("{e}"))
            }
            "huge-arg" => {
                let key = open(arg(&args, 1)?)?;
                let huge = vec![0x41u8; number(&args, 2)? << 20];
                key.encrypt(&huge, &context)
                    .map(|_| String::from("encrypted"))
                    .map_err(|e| format!("{e}"))
            }
            "handles" => {
                let name = arg(&args, 1)?;
                let wanted = number(&args, 2)?;
                let mut held = Vec::new();
                for _ in 0..wanted {
                    match keys::open(name) {
                        Ok(key) => held.push(key),
                        Err(e) => return Err(format!("after {} handles: {e}", held.len())),
                    }
                }
                Ok(format!("{} handles", held.len()))
            }
            "decrypt-data-key" => {
                let key = open(arg(&args, 1)?)?;
                let wrapped = key
                    .generate_data_key_without_plaintext(DataKeySpec::Aes256, &context)
                    .map_err(|e| format!("{e}"))?;
                keys::decrypt(&wrapped, &context)
                    .map(|d| format!("revealed {} bytes", d.plaintext.len()))
                    .map_err(|e| format!("{e}"))
            }
            "launder-data-key" => {
                // A data key re-encrypted to an RSA key, whose ciphertexts carry no kind byte.
                let key = open(arg(&args, 1)?)?;
                let rsa = open(arg(&args, 2)?)?;
                let wrapped = key
                    .generate_data_key_without_plaintext(DataKeySpec::Aes256, &context)
                    .map_err(|e| format!("{e}"))?;
                keys::re_encrypt(&wrapped, &context, &rsa, &context)
                    .map(|blob| format!("laundered into {} bytes", blob.len()))
                    .map_err(|e| format!("{e}"))
            }
            "dump-after-seal" => {
                let key = open(arg(&args, 1)?)?;
                let data_key = data_keys::generate(&key, DataKeySpec::Aes256, &context)
                    .map_err(|e| format!("{e}"))?;
                let sealed = data_key
                    .seal(&[0x5a; 4096], b"")
                    .map_err(|e| format!("{e}"))?;
                let opened = data_key.open(&sealed, b"").map_err(|e| format!("{e}"))?;
                core::hint::black_box((&sealed, &opened, &data_key));
                let wrapped = data_key.wrapped();
                let memory = linear_memory();
                Ok(format!(
                    "{} {}",
                    kms_guest::hex(&wrapped),
                    kms_guest::hex(&memory)
                ))
            }
            "public-key" => open(arg(&args, 1)?)?
                .public_key()
                .map(|der| format!("{} byte public key", der.len()))
                .map_err(|e| format!("{e}")),
            "encrypt" => {
                let key = open(arg(&args, 1)?)?;
                let rounds = number(&args, 2)?;
                let block = vec![0x42u8; 4096];
                for _ in 0..rounds {
                    key.encrypt(&block, &context).map_err(|e| format!("{e}"))?;
                }
                Ok(format!("{rounds} encryptions"))
            }
            "open-many" => {
                let name = arg(&args, 1)?;
                let times = number(&args, 2)?;
                let refused = (0..times).filter(|_| keys::open(name).is_err()).count();
                Ok(format!("{refused} of {times} refused"))
            }
            "decrypt" => {
                let ciphertext = unhex(arg(&args, 1)?)?;
                keys::decrypt(&ciphertext, &context)
                    .map(|d| format!("decrypted {} bytes", d.plaintext.len()))
                    .map_err(|e| format!("{e}"))
            }
            other => Err(format!("unknown command {other}")),
        }
    }
}

fn unhex(text: &str) -> Result<Vec<u8>, String> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        _ => Err(String::from("not lowercase hex")),
    };
    text.as_bytes()
        .chunks(2)
        .map(|pair| match pair {
            [hi, lo] => Ok(digit(*hi)? << 4 | digit(*lo)?),
            _ => Err(String::from("odd number of hex digits")),
        })
        .collect()
}

/// A copy of this instance's whole linear memory, as any code inside it could read it.
fn linear_memory() -> Vec<u8> {
    let len = core::arch::wasm32::memory_size(0) * 65536;
    // Address 0 is the null pointer, which Rust may not read; it holds no data.
    let mut copy = Vec::with_capacity(len);
    copy.push(0);
    for address in 1..len {
        // SAFETY: every address below `memory_size` is in bounds of linear memory; volatile so
        // the reads are not optimised away.
        copy.push(unsafe { core::ptr::read_volatile(address as *const u8) });
    }
    copy
}

bindings::export!(HostileApp with_types_in bindings);
