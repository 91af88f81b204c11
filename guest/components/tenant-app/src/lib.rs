//! Example tenant application (`kms run`): encrypts and decrypts with a KMS key, seals and opens
//! bulk data with a data key it never sees, re-encrypts, and signs or MACs where the keys it is
//! given allow. It returns a report of what it did.
//!
//! `run [encrypt-key] [sign-key] [mac-key]` — the encryption key defaults to `alias/app`; the
//! other two are optional.
#![no_std]

extern crate alloc;

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use kms_guest::types::{DataKeySpec, KeyUsage, MacAlgorithm, MessageType, SigningAlgorithm};
use kms_guest::{EncryptionContext, KmsError, data_keys, keys, log};

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

fn fail(step: &str) -> impl FnOnce(KmsError) -> String + '_ {
    move |e| format!("{step}: {e}")
}

fn encrypt_round_trip(key: &keys::Key, report: &mut Vec<String>) -> Result<(), String> {
    let context = EncryptionContext::new().with("app", "tenant-app");
    let secret = b"the tenant's secret";
    let blob = key.encrypt(secret, &context).map_err(fail("encrypt"))?;
    let decrypted = keys::decrypt(&blob, &context).map_err(fail("decrypt"))?;
    if decrypted.plaintext != secret {
        return Err("decrypt returned other bytes than were encrypted".into());
    }
    report.push(format!(
        "encrypt/decrypt: ok ({} byte ciphertext)",
        blob.len()
    ));

    let wrong = EncryptionContext::new().with("app", "someone-else");
    match keys::decrypt(&blob, &wrong) {
        Err(KmsError::InvalidCiphertext(_)) => {
            report.push("decrypt with another context: refused".into())
        }
        other => return Err(format!("decrypt with another context answered {other:?}")),
    }

    let re_encrypted =
        keys::re_encrypt(&blob, &context, key, &context).map_err(fail("re-encrypt"))?;
    let again = keys::decrypt(&re_encrypted, &context).map_err(fail("decrypt re-encrypted"))?;
    if again.plaintext != secret {
        return Err("re-encrypt changed the plaintext".into());
    }
    report.push("re-encrypt: ok".into());
    Ok(())
}

fn data_key_round_trip(key: &keys::Key, report: &mut Vec<String>) -> Result<(), String> {
    let context = EncryptionContext::new().with("app", "tenant-app");
    let data_key = data_keys::generate(key, DataKeySpec::Aes256, &context)
        .map_err(fail("generate data key"))?;
    let bulk: Vec<u8> = (0..10_240u32).map(|i| (i % 251) as u8).collect();
    let sealed = data_key.seal(&bulk, b"bulk").map_err(fail("seal"))?;
    let wrapped = data_key.wrapped();
    drop(data_key);
    let unwrapped = data_keys::unwrap(&wrapped, &context).map_err(fail("unwrap"))?;
    let opened = unwrapped.open(&sealed, b"bulk").map_err(fail("open"))?;
    if opened != bulk {
        return Err("the data key opened other bytes than it sealed".into());
    }
    report.push(format!(
        "data key seal/open: ok ({} bytes, {} byte wrapped key)",
        bulk.len(),
        wrapped.len()
    ));
    Ok(())
}

fn sign_round_trip(name: &str, report: &mut Vec<String>) -> Result<(), String> {
    let key = keys::open(name).map_err(fail("open signing key"))?;
    let usage = key
        .metadata()
        .map_err(fail("describe signing key"))?
        .key_usage;
    if usage != KeyUsage::SignVerify {
        report.push(format!("sign: skipped, {name} is not a signing key"));
        return Ok(());
    }
    let message = b"release-1.2.3.tar.gz";
    let algorithm = SigningAlgorithm::EcdsaSha256;
    let signature = key
        .sign(message, MessageType::Raw, algorithm)
        .map_err(fail("sign"))?;
    key.verify(message, MessageType::Raw, &signature, algorithm)
        .map_err(fail("verify"))?;
    report.push(format!(
        "sign/verify: ok ({} byte signature)",
        signature.len()
    ));
    Ok(())
}

fn mac_round_trip(name: &str, report: &mut Vec<String>) -> Result<(), String> {
    let key = keys::open(name).map_err(fail("open MAC key"))?;
    let usage = key.metadata().map_err(fail("describe MAC key"))?.key_usage;
    if usage != KeyUsage::GenerateVerifyMac {
        report.push(format!("mac: skipped, {name} is not an HMAC key"));
        return Ok(());
    }
    let message = b"session=42";
    let mac = key
        .generate_mac(message, MacAlgorithm::HmacSha256)
        .map_err(fail("generate mac"))?;
    key.verify_mac(message, &mac, MacAlgorithm::HmacSha256)
        .map_err(fail("verify mac"))?;
    report.push(format!("generate/verify mac: ok ({} byte MAC)", mac.len()));
    Ok(())
}

struct TenantApp;

/// A key state as AWS names it (`KeyState` in DescribeKey).
fn state_name(state: kms_guest::types::KeyState) -> &'static str {
    use kms_guest::types::KeyState;
    match state {
        KeyState::Enabled => "Enabled",
        KeyState::Disabled => "Disabled",
        KeyState::PendingDeletion => "PendingDeletion",
        KeyState::PendingImport => "PendingImport",
        KeyState::PendingReplicaDeletion => "PendingReplicaDeletion",
        KeyState::Unavailable => "Unavailable",
    }
}

impl bindings::exports::kms::vault::app::Guest for TenantApp {
    fn run(args: Vec<String>) -> Result<String, String> {
        let encrypt_key = args
            .first()
            .cloned()
            .unwrap_or_else(|| "alias/app".to_string());
        log::log(
            log::Level::Info,
            &format!("tenant-app starting with {encrypt_key}"),
        );
        let key = keys::open(&encrypt_key).map_err(fail("open"))?;
        let metadata = key.metadata().map_err(fail("describe"))?;
        let mut report = vec![format!(
            "key {}: {}",
            metadata.arn,
            state_name(metadata.key_state)
        )];
        encrypt_round_trip(&key, &mut report)?;
        data_key_round_trip(&key, &mut report)?;
        if let Some(name) = args.get(1) {
            sign_round_trip(name, &mut report)?;
        }
        if let Some(name) = args.get(2) {
            mac_round_trip(name, &mut report)?;
        }
        Ok(report.join("\n"))
    }
}

bindings::export!(TenantApp with_types_in bindings);
