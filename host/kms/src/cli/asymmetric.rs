//! Commands that use key pairs: sign and verify, the public key, ECDH key agreement, and data
//! key pairs.

use std::path::PathBuf;

use super::files::{Blob, blob_or_file, blob_or_input, parse_blob, read_blob, write_bytes};
use super::render::{emit_blob, print};
use super::{ContextPairs, Invocation, KeyId, context_of, parse_aws, parse_context};
use kms_core::types::{
    DataKeyPairSpec, KeyAgreementAlgorithmSpec, MessageType, SigningAlgorithmSpec,
};
use kms_service as svc;

/// The message of Sign and Verify.
#[derive(clap::Args, Debug)]
pub(super) struct MessageArgs {
    /// Read the message from this file (default: standard input).
    #[arg(long, conflicts_with = "message")]
    message_file: Option<PathBuf>,
    /// The message as the aws CLI takes it: base64, or fileb://PATH.
    #[arg(long, value_name = "BLOB", value_parser = parse_blob)]
    message: Option<Blob>,
    /// RAW (default), DIGEST or EXTERNAL_MU.
    #[arg(long, value_parser = parse_aws::<MessageType>)]
    message_type: Option<MessageType>,
}

#[derive(clap::Args, Debug)]
pub(super) struct SignArgs {
    #[command(flatten)]
    key: KeyId,
    #[command(flatten)]
    message: MessageArgs,
    /// The signing algorithm: ECDSA_SHA_256/384/512, RSASSA_PSS_SHA_256/384/512, RSASSA_PKCS1_V1_5_SHA_256/384/512, ML_DSA_SHAKE_256, ED25519_SHA_512 ...
    #[arg(long, value_parser = parse_aws::<SigningAlgorithmSpec>)]
    signing_algorithm: SigningAlgorithmSpec,
    /// Write the raw signature to this file instead.
    #[arg(long = "outfile", alias = "out", value_name = "FILE")]
    out: Option<PathBuf>,
}

pub(super) fn sign(kms: &Invocation, args: SignArgs) -> anyhow::Result<()> {
    let req = svc::SignRequest {
        grant_tokens: Vec::new(),
        dry_run: false,
        key_id: args.key.get(),
        message: blob_or_input(args.message.message, args.message.message_file.as_deref())?
            .to_vec(),
        message_type: args.message.message_type,
        signing_algorithm: Some(args.signing_algorithm),
    };
    let resp = kms.service.sign(&kms.me, req)?;
    emit_blob(kms.out, args.out.as_deref(), &resp, &resp.signature)
}

#[derive(clap::Args, Debug)]
pub(super) struct VerifyArgs {
    #[command(flatten)]
    key: KeyId,
    #[command(flatten)]
    message: MessageArgs,
    /// The signing algorithm the signature was made with (as for `kms sign`).
    #[arg(long, value_parser = parse_aws::<SigningAlgorithmSpec>)]
    signing_algorithm: SigningAlgorithmSpec,
    /// The signature to check: a file, raw or base64.
    #[arg(
        long,
        required_unless_present = "signature",
        conflicts_with = "signature"
    )]
    signature_file: Option<PathBuf>,
    /// The signature as the aws CLI takes it: base64, or fileb://PATH.
    #[arg(long, value_name = "BLOB", value_parser = parse_blob)]
    signature: Option<Blob>,
}

pub(super) fn verify(kms: &Invocation, args: VerifyArgs) -> anyhow::Result<()> {
    let req = svc::VerifyRequest {
        grant_tokens: Vec::new(),
        dry_run: false,
        key_id: args.key.get(),
        message: blob_or_input(args.message.message, args.message.message_file.as_deref())?
            .to_vec(),
        message_type: args.message.message_type,
        signature: blob_or_file(args.signature, args.signature_file.as_deref())?,
        signing_algorithm: Some(args.signing_algorithm),
    };
    print(kms.out, &kms.service.verify(&kms.me, req)?)
}

#[derive(clap::Args, Debug)]
pub(super) struct GetPublicKeyArgs {
    #[command(flatten)]
    key: KeyId,
    /// Also write the public key (DER SubjectPublicKeyInfo) to this file.
    #[arg(long = "outfile", alias = "out", value_name = "FILE")]
    out: Option<PathBuf>,
}

pub(super) fn get_public_key(kms: &Invocation, args: GetPublicKeyArgs) -> anyhow::Result<()> {
    let resp = kms
        .service
        .get_public_key(&kms.me, svc::KeyRequest::new(args.key))?;
    match args.out {
        Some(path) => write_bytes(Some(&path), &resp.public_key),
        None => print(kms.out, &resp),
    }
}

#[derive(clap::Args, Debug)]
pub(super) struct DeriveSharedSecretArgs {
    #[command(flatten)]
    key: KeyId,
    /// The peer's public key: a DER SubjectPublicKeyInfo file, raw or base64.
    #[arg(long)]
    public_key_file: PathBuf,
}

pub(super) fn derive_shared_secret(
    kms: &Invocation,
    args: DeriveSharedSecretArgs,
) -> anyhow::Result<()> {
    let req = svc::DeriveSharedSecretRequest {
        grant_tokens: Vec::new(),
        dry_run: false,
        key_id: args.key.get(),
        key_agreement_algorithm: Some(KeyAgreementAlgorithmSpec::Ecdh),
        public_key: read_blob(Some(&args.public_key_file))?,
    };
    let resp = kms.service.derive_shared_secret(&kms.me, req)?;
    emit_blob(kms.out, None, &resp, &resp.shared_secret)
}

#[derive(clap::Args, Debug)]
pub(super) struct DataKeyPairArgs {
    #[command(flatten)]
    key: KeyId,
    /// RSA_2048/3072/4096, ECC_NIST_P256/P384/P521 or ECC_SECG_P256K1.
    #[arg(long, value_parser = parse_aws::<DataKeyPairSpec>)]
    key_pair_spec: DataKeyPairSpec,
    /// The encryption context: key=value[,key=value...] (the aws CLI's shorthand) or a JSON
    /// object such as '{"tenant":"acme"}'; repeatable.
    #[arg(long = "encryption-context", visible_alias = "context", value_name = "CONTEXT", value_parser = parse_context)]
    context: Vec<ContextPairs>,
}

impl DataKeyPairArgs {
    fn request(self) -> anyhow::Result<svc::GenerateDataKeyPairRequest> {
        Ok(svc::GenerateDataKeyPairRequest {
            grant_tokens: Vec::new(),
            dry_run: false,
            key_id: self.key.get(),
            key_pair_spec: Some(self.key_pair_spec),
            encryption_context: context_of(self.context)?,
        })
    }
}

pub(super) fn generate_data_key_pair(
    kms: &Invocation,
    args: DataKeyPairArgs,
) -> anyhow::Result<()> {
    let req = args.request()?;
    print(kms.out, &kms.service.generate_data_key_pair(&kms.me, req)?)
}

pub(super) fn generate_data_key_pair_without_plaintext(
    kms: &Invocation,
    args: DataKeyPairArgs,
) -> anyhow::Result<()> {
    let req = args.request()?;
    print(
        kms.out,
        &kms.service
            .generate_data_key_pair_without_plaintext(&kms.me, req)?,
    )
}
