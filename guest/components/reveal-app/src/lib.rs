//! A tenant application that asks for a data key's plaintext through `reveal`. The host must
//! refuse to instantiate it for a tenant whose grant lacks `reveal`, and serve it for one that
//! has it.
#![no_std]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use kms_guest::types::DataKeySpec;
use kms_guest::{EncryptionContext, data_keys, keys, reveal};

mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit",
        world: "kms:vault/tenant-command-with-reveal",
        with: {
            "kms:vault/types@0.1.0": kms_guest::types,
            "kms:vault/keys@0.1.0": kms_guest::keys,
            "kms:vault/data-keys@0.1.0": kms_guest::data_keys,
            "kms:vault/log@0.1.0": kms_guest::log,
            "kms:vault/reveal@0.1.0": kms_guest::reveal,
        },
    });
}

struct RevealApp;

impl bindings::exports::kms::vault::app::Guest for RevealApp {
    /// `run [key]`: generates an AES-256 data key under `key` and reveals its plaintext; returns
    /// the key length and its hex bytes.
    fn run(args: Vec<String>) -> Result<String, String> {
        let key = args.first().map_or("alias/app", String::as_str);
        let key = keys::open(key).map_err(|e| format!("{e}"))?;
        let data_key = data_keys::generate(&key, DataKeySpec::Aes256, &EncryptionContext::new())
            .map_err(|e| format!("{e}"))?;
        let plaintext = reveal::export_plaintext(&data_key).map_err(|e| format!("{e}"))?;
        let hex: String = plaintext.iter().map(|b| format!("{b:02x}")).collect();
        Ok(format!("{} {hex}", plaintext.len()))
    }
}

bindings::export!(RevealApp with_types_in bindings);
