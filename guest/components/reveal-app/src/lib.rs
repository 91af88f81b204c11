//! A tenant application granted `reveal`: the host must refuse to instantiate it for a tenant
//! whose grant lacks `reveal`, and serve it for one that has it. Its commands exercise the calls
//! that hand secrets to a guest: revealed data keys, data key pairs, ML-KEM and ECDH.
#![no_std]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use kms_guest::types::{DataKeyPairSpec, DataKeySpec, MessageType, SigningAlgorithm};
use kms_guest::{EncryptionContext, data_keys, hex, keys, reveal};

mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit",
        world: "kms:vault/tenant-command-with-reveal",
        with: {
            "kms:vault/types@0.2.0": kms_guest::types,
            "kms:vault/keys@0.2.0": kms_guest::keys,
            "kms:vault/data-keys@0.2.0": kms_guest::data_keys,
            "kms:vault/log@0.2.0": kms_guest::log,
            "kms:vault/reveal@0.2.0": kms_guest::reveal,
        },
    });
}

fn err(e: impl core::fmt::Display) -> String {
    format!("{e}")
}

fn unhex(text: &str) -> Result<Vec<u8>, String> {
    if text.len() % 2 != 0 {
        return Err(format!("'{text}' is not hex"));
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).map_err(err))
        .collect()
}

fn arg<'a>(args: &'a [String], i: usize, what: &str) -> Result<&'a str, String> {
    args.get(i)
        .map(String::as_str)
        .ok_or_else(|| format!("missing {what}"))
}

fn pair_spec(name: &str) -> Result<DataKeyPairSpec, String> {
    Ok(match name {
        "RSA_2048" => DataKeyPairSpec::Rsa2048,
        "ECC_NIST_P256" => DataKeyPairSpec::EccNistP256,
        "ECC_NIST_EDWARDS25519" => DataKeyPairSpec::EccNistEdwards25519,
        "ML_KEM_768" => DataKeyPairSpec::MlKem768,
        other => return Err(format!("unknown key pair spec {other}")),
    })
}

/// `kem KEY`: encapsulates to the ML-KEM key and decapsulates again; both secrets must agree.
fn kem(key: &str) -> Result<String, String> {
    let key = keys::open(key).map_err(err)?;
    let encapsulated = key.encapsulate().map_err(err)?;
    let secret = key.decapsulate(&encapsulated.ciphertext).map_err(err)?;
    if secret != encapsulated.shared_secret {
        return Err("decapsulate recovered another secret".into());
    }
    Ok(format!(
        "kem ok: {} byte secret, {} byte ciphertext",
        secret.len(),
        encapsulated.ciphertext.len()
    ))
}

/// `pair KEY SPEC`: a data key pair without plaintext and one revealed; the revealed private
/// key's ciphertext decrypts (this instance has `reveal`) to the revealed private key.
fn pair(key: &str, spec: &str) -> Result<String, String> {
    let key = keys::open(key).map_err(err)?;
    let spec = pair_spec(spec)?;
    let context = EncryptionContext::new().with("purpose", "pair");
    let hidden = key
        .generate_data_key_pair_without_plaintext(spec, &context)
        .map_err(err)?;
    let shown = reveal::generate_data_key_pair(&key, spec, &context).map_err(err)?;
    let decrypted = keys::decrypt(&shown.private_key_ciphertext, &context).map_err(err)?;
    if decrypted.plaintext != shown.private_key_plaintext {
        return Err("the private key ciphertext does not hold the private key".into());
    }
    Ok(format!(
        "pair ok: public {} and {} bytes, private {} bytes",
        hidden.public_key.len(),
        shown.public_key.len(),
        shown.private_key_plaintext.len()
    ))
}

struct RevealApp;

impl bindings::exports::kms::vault::app::Guest for RevealApp {
    /// `run [key]`: generates an AES-256 data key under `key` and reveals its plaintext; returns
    /// the key length and its hex bytes. Other commands:
    /// `kem KEY`, `decapsulate KEY HEX`, `ecdh KEY PEER_PUBLIC_KEY_HEX`, `pair KEY SPEC`,
    /// `ed25519 KEY MESSAGE` (the signature, hex), `unwrap-reveal WRAPPED_HEX [NAME=VALUE…]`
    /// (unwraps a data key under that encryption context and reveals it; its length).
    fn run(args: Vec<String>) -> Result<String, String> {
        match args.first().map(String::as_str) {
            Some("kem") => kem(arg(&args, 1, "key")?),
            Some("decapsulate") => {
                let key = keys::open(arg(&args, 1, "key")?).map_err(err)?;
                let secret = key
                    .decapsulate(&unhex(arg(&args, 2, "ciphertext")?)?)
                    .map_err(err)?;
                Ok(hex(&secret))
            }
            Some("ecdh") => {
                let key = keys::open(arg(&args, 1, "key")?).map_err(err)?;
                let secret = key
                    .derive_shared_secret(&unhex(arg(&args, 2, "public key")?)?)
                    .map_err(err)?;
                Ok(hex(&secret))
            }
            Some("pair") => pair(arg(&args, 1, "key")?, arg(&args, 2, "spec")?),
            Some("unwrap-reveal") => {
                let wrapped = unhex(arg(&args, 1, "wrapped data key")?)?;
                let mut context = EncryptionContext::new();
                for pair in &args[2..] {
                    let (name, value) = pair.split_once('=').ok_or("context pairs are NAME=VALUE")?;
                    context = context.with(name, value);
                }
                let data_key = data_keys::unwrap(&wrapped, &context).map_err(err)?;
                let plaintext = reveal::export_plaintext(&data_key).map_err(err)?;
                Ok(format!("revealed {} bytes", plaintext.len()))
            }
            Some("ed25519") => {
                let key = keys::open(arg(&args, 1, "key")?).map_err(err)?;
                let message = arg(&args, 2, "message")?.as_bytes();
                let algorithm = SigningAlgorithm::Ed25519Sha512;
                let signature = key
                    .sign(message, MessageType::Raw, algorithm)
                    .map_err(err)?;
                key.verify(message, MessageType::Raw, &signature, algorithm)
                    .map_err(err)?;
                Ok(hex(&signature))
            }
            other => {
                let key = keys::open(other.unwrap_or("alias/app")).map_err(err)?;
                let data_key =
                    data_keys::generate(&key, DataKeySpec::Aes256, &EncryptionContext::new())
                        .map_err(err)?;
                let plaintext = reveal::export_plaintext(&data_key).map_err(err)?;
                Ok(format!("{} {}", plaintext.len(), hex(&plaintext)))
            }
        }
    }
}

bindings::export!(RevealApp with_types_in bindings);
