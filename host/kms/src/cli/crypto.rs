//! Commands that use symmetric keys: encrypt, decrypt and re-encrypt, data keys, random bytes,
//! and MACs with HMAC keys.

use std::path::PathBuf;

use super::files::{Blob, blob_or_file, blob_or_input, parse_blob};
use super::render::{emit_blob, emit_raw, print};
use super::{ContextPairs, Invocation, KeyId, context_of, parse_aws, parse_context};
use kms_core::types::{DataKeySpec, EncryptionAlgorithm, MacAlgorithmSpec};
use kms_service as svc;

#[derive(clap::Args, Debug)]
pub(super) struct EncryptArgs {
    #[command(flatten)]
    key: KeyId,
    /// Read the plaintext from this file (default: standard input).
    #[arg(long, conflicts_with = "plaintext")]
    plaintext_file: Option<PathBuf>,
    /// The plaintext as the aws CLI takes it: base64, or fileb://PATH.
    #[arg(long, value_name = "BLOB", value_parser = parse_blob)]
    plaintext: Option<Blob>,
    /// The encryption context: key=value[,key=value...] (the aws CLI's shorthand) or a JSON
    /// object such as '{"tenant":"acme"}'; repeatable.
    #[arg(long = "encryption-context", visible_alias = "context", value_name = "CONTEXT", value_parser = parse_context)]
    context: Vec<ContextPairs>,
    /// RSAES_OAEP_SHA_1 or RSAES_OAEP_SHA_256 for RSA keys.
    #[arg(long, value_parser = parse_aws::<EncryptionAlgorithm>)]
    encryption_algorithm: Option<EncryptionAlgorithm>,
    /// Write the raw ciphertext blob to this file instead.
    #[arg(long = "outfile", alias = "out", value_name = "FILE")]
    out: Option<PathBuf>,
}

pub(super) fn encrypt(kms: &Invocation, args: EncryptArgs) -> anyhow::Result<()> {
    let plaintext = blob_or_input(args.plaintext, args.plaintext_file.as_deref())?;
    let req = svc::EncryptRequest {
        grant_tokens: Vec::new(),
        dry_run: false,
        key_id: args.key.get(),
        plaintext: plaintext.into(),
        encryption_context: context_of(args.context)?,
        encryption_algorithm: args.encryption_algorithm,
    };
    let resp = kms.service.encrypt(&kms.me, req)?;
    emit_blob(kms.out, args.out.as_deref(), &resp, &resp.ciphertext_blob)
}

#[derive(clap::Args, Debug)]
pub(super) struct DecryptArgs {
    /// Read the blob (raw or base64) from this file (default: standard input).
    #[arg(long, conflicts_with = "ciphertext_blob")]
    ciphertext_file: Option<PathBuf>,
    /// The blob as the aws CLI takes it: base64, or fileb://PATH.
    #[arg(long, value_name = "BLOB", value_parser = parse_blob)]
    ciphertext_blob: Option<Blob>,
    /// The key the blob must be encrypted under (required for asymmetric keys, else checked if given).
    #[arg(long)]
    key_id: Option<String>,
    /// The encryption context: key=value[,key=value...] (the aws CLI's shorthand) or a JSON
    /// object such as '{"tenant":"acme"}'; repeatable.
    #[arg(long = "encryption-context", visible_alias = "context", value_name = "CONTEXT", value_parser = parse_context)]
    context: Vec<ContextPairs>,
    /// RSAES_OAEP_SHA_1 or RSAES_OAEP_SHA_256 for RSA keys (which need --key-id too).
    #[arg(long, value_parser = parse_aws::<EncryptionAlgorithm>)]
    encryption_algorithm: Option<EncryptionAlgorithm>,
    /// Write the plaintext to this file instead.
    #[arg(long = "outfile", alias = "out", value_name = "FILE")]
    out: Option<PathBuf>,
}

pub(super) fn decrypt(kms: &Invocation, args: DecryptArgs) -> anyhow::Result<()> {
    let req = svc::DecryptRequest {
        grant_tokens: Vec::new(),
        dry_run: false,
        ciphertext_blob: blob_or_file(args.ciphertext_blob, args.ciphertext_file.as_deref())?,
        encryption_context: context_of(args.context)?,
        key_id: args.key_id,
        encryption_algorithm: args.encryption_algorithm,
    };
    let resp = kms.service.decrypt(&kms.me, req)?;
    emit_raw(kms.out, args.out.as_deref(), &resp, &resp.plaintext)
}

#[derive(clap::Args, Debug)]
pub(super) struct ReEncryptArgs {
    /// The key to encrypt under: key id, key ARN, alias name or alias ARN.
    #[arg(long)]
    destination_key_id: String,
    /// Read the ciphertext blob (raw or base64) from this file (default: standard input).
    #[arg(long, conflicts_with = "ciphertext_blob")]
    ciphertext_file: Option<PathBuf>,
    /// The blob as the aws CLI takes it: base64, or fileb://PATH.
    #[arg(long, value_name = "BLOB", value_parser = parse_blob)]
    ciphertext_blob: Option<Blob>,
    /// The key the blob is encrypted under (required for asymmetric keys, else checked if given).
    #[arg(long)]
    source_key_id: Option<String>,
    /// The encryption context the blob was encrypted with (key=value[,key=value...] or JSON).
    #[arg(long = "source-encryption-context", visible_alias = "source-context", value_name = "CONTEXT", value_parser = parse_context)]
    source_context: Vec<ContextPairs>,
    /// The encryption context to encrypt under the destination key (key=value[,...] or JSON).
    #[arg(long = "destination-encryption-context", visible_alias = "destination-context", value_name = "CONTEXT", value_parser = parse_context)]
    destination_context: Vec<ContextPairs>,
}

pub(super) fn re_encrypt(kms: &Invocation, args: ReEncryptArgs) -> anyhow::Result<()> {
    let req = svc::ReEncryptRequest {
        ciphertext_blob: blob_or_file(args.ciphertext_blob, args.ciphertext_file.as_deref())?,
        source_encryption_context: context_of(args.source_context)?,
        source_key_id: args.source_key_id,
        destination_key_id: args.destination_key_id,
        destination_encryption_context: context_of(args.destination_context)?,
        ..Default::default()
    };
    let resp = kms.service.re_encrypt(&kms.me, req)?;
    emit_blob(kms.out, None, &resp, &resp.ciphertext_blob)
}

#[derive(clap::Args, Debug)]
pub(super) struct DataKeyArgs {
    #[command(flatten)]
    key: KeyId,
    /// AES_256 (the default) or AES_128.
    #[arg(long, conflicts_with = "number_of_bytes")]
    key_spec: Option<String>,
    /// A data key of this many bytes (1-1024) instead of a --key-spec.
    #[arg(long)]
    number_of_bytes: Option<u32>,
    /// The encryption context: key=value[,key=value...] (the aws CLI's shorthand) or a JSON
    /// object such as '{"tenant":"acme"}'; repeatable.
    #[arg(long = "encryption-context", visible_alias = "context", value_name = "CONTEXT", value_parser = parse_context)]
    context: Vec<ContextPairs>,
}

impl DataKeyArgs {
    /// The request; with neither `--key-spec` nor `--number-of-bytes`, an AES-256 key.
    fn request(self) -> anyhow::Result<svc::GenerateDataKeyRequest> {
        let key_spec = self
            .key_spec
            .map(|s| s.parse::<DataKeySpec>())
            .transpose()?;
        let key_spec = if key_spec.is_none() && self.number_of_bytes.is_none() {
            Some(DataKeySpec::Aes256)
        } else {
            key_spec
        };
        Ok(svc::GenerateDataKeyRequest {
            grant_tokens: Vec::new(),
            dry_run: false,
            key_id: self.key.get(),
            key_spec,
            number_of_bytes: self.number_of_bytes,
            encryption_context: context_of(self.context)?,
        })
    }
}

pub(super) fn generate_data_key(kms: &Invocation, args: DataKeyArgs) -> anyhow::Result<()> {
    let req = args.request()?;
    print(kms.out, &kms.service.generate_data_key(&kms.me, req)?)
}

pub(super) fn generate_data_key_without_plaintext(
    kms: &Invocation,
    args: DataKeyArgs,
) -> anyhow::Result<()> {
    let req = args.request()?;
    print(
        kms.out,
        &kms.service
            .generate_data_key_without_plaintext(&kms.me, req)?,
    )
}

#[derive(clap::Args, Debug)]
pub(super) struct GenerateRandomArgs {
    /// How many random bytes (1-1024).
    number_of_bytes: u32,
}

pub(super) fn generate_random(kms: &Invocation, args: GenerateRandomArgs) -> anyhow::Result<()> {
    let req = svc::GenerateRandomRequest {
        number_of_bytes: Some(args.number_of_bytes),
    };
    let resp = kms.service.generate_random(&kms.me, req)?;
    emit_blob(kms.out, None, &resp, &resp.plaintext)
}

#[derive(clap::Args, Debug)]
pub(super) struct GenerateMacArgs {
    #[command(flatten)]
    key: KeyId,
    /// Read the message from this file (default: standard input).
    #[arg(long, conflicts_with = "message")]
    message_file: Option<PathBuf>,
    /// The message as the aws CLI takes it: base64, or fileb://PATH.
    #[arg(long, value_name = "BLOB", value_parser = parse_blob)]
    message: Option<Blob>,
    /// HMAC_SHA_224, HMAC_SHA_256, HMAC_SHA_384 or HMAC_SHA_512 (the key's own).
    #[arg(long, value_parser = parse_aws::<MacAlgorithmSpec>)]
    mac_algorithm: MacAlgorithmSpec,
}

pub(super) fn generate_mac(kms: &Invocation, args: GenerateMacArgs) -> anyhow::Result<()> {
    let req = svc::GenerateMacRequest {
        grant_tokens: Vec::new(),
        dry_run: false,
        key_id: args.key.get(),
        message: blob_or_input(args.message, args.message_file.as_deref())?.to_vec(),
        mac_algorithm: Some(args.mac_algorithm),
    };
    let resp = kms.service.generate_mac(&kms.me, req)?;
    emit_blob(kms.out, None, &resp, &resp.mac)
}

#[derive(clap::Args, Debug)]
pub(super) struct VerifyMacArgs {
    #[command(flatten)]
    key: KeyId,
    /// The message the MAC is of, from this file (default: standard input).
    #[arg(long, conflicts_with = "message")]
    message_file: Option<PathBuf>,
    /// The message as the aws CLI takes it: base64, or fileb://PATH.
    #[arg(long, value_name = "BLOB", value_parser = parse_blob)]
    message: Option<Blob>,
    /// The MAC algorithm (the key's own, as for `kms generate-mac`).
    #[arg(long, value_parser = parse_aws::<MacAlgorithmSpec>)]
    mac_algorithm: MacAlgorithmSpec,
    /// The MAC to check: a file, raw or base64.
    #[arg(long, required_unless_present = "mac", conflicts_with = "mac")]
    mac_file: Option<PathBuf>,
    /// The MAC as the aws CLI takes it: base64, or fileb://PATH.
    #[arg(long, value_name = "BLOB", value_parser = parse_blob)]
    mac: Option<Blob>,
}

pub(super) fn verify_mac(kms: &Invocation, args: VerifyMacArgs) -> anyhow::Result<()> {
    let req = svc::VerifyMacRequest {
        grant_tokens: Vec::new(),
        dry_run: false,
        key_id: args.key.get(),
        message: blob_or_input(args.message, args.message_file.as_deref())?.to_vec(),
        mac: blob_or_file(args.mac, args.mac_file.as_deref())?,
        mac_algorithm: Some(args.mac_algorithm),
    };
    print(kms.out, &kms.service.verify_mac(&kms.me, req)?)
}
