//! Commands that use key pairs: sign and verify, the public key, ECDH key agreement, and data
//! key pairs.

use std::path::PathBuf;

use super::files::{read_blob, read_input, write_bytes};
use super::render::{emit_blob, print};
use super::{ContextPairs, Invocation, context_of, parse_aws, parse_context};
use kms_core::types::{
    DataKeyPairSpec, KeyAgreementAlgorithmSpec, MessageType, SigningAlgorithmSpec,
};
use kms_service as svc;

/// The message of Sign and Verify.
#[derive(clap::Args, Debug)]
pub(super) struct MessageArgs {
    /// Read the message from this file (default: standard input).
    #[arg(long)]
    message_file: Option<PathBuf>,
    /// RAW (default), DIGEST or EXTERNAL_MU.
    #[arg(long, value_parser = parse_aws::<MessageType>)]
    message_type: Option<MessageType>,
}

#[derive(clap::Args, Debug)]
pub(super) struct SignArgs {
    /// The asymmetric SIGN_VERIFY key: key id, key ARN, alias name or alias ARN.
    key: String,
    #[command(flatten)]
    message: MessageArgs,
    /// The signing algorithm: ECDSA_SHA_256/384/512, RSASSA_PSS_SHA_256/384/512, RSASSA_PKCS1_V1_5_SHA_256/384/512, ML_DSA_SHAKE_256, ED25519_SHA_512 ...
    #[arg(long, value_parser = parse_aws::<SigningAlgorithmSpec>)]
    signing_algorithm: SigningAlgorithmSpec,
    /// Write the raw signature to this file instead.
    #[arg(long)]
    out: Option<PathBuf>,
}

pub(super) fn sign(kms: &Invocation, args: SignArgs) -> anyhow::Result<()> {
    let req = svc::SignRequest {
        grant_tokens: Vec::new(),
        dry_run: false,
        key_id: args.key,
        message: read_input(args.message.message_file.as_deref())?.to_vec(),
        message_type: args.message.message_type,
        signing_algorithm: Some(args.signing_algorithm),
    };
    let resp = kms.service.sign(&kms.me, req)?;
    emit_blob(kms.out, args.out.as_deref(), &resp, &resp.signature)
}

#[derive(clap::Args, Debug)]
pub(super) struct VerifyArgs {
    /// The asymmetric SIGN_VERIFY key: key id, key ARN, alias name or alias ARN.
    key: String,
    #[command(flatten)]
    message: MessageArgs,
    /// The signing algorithm the signature was made with (as for `kms sign`).
    #[arg(long, value_parser = parse_aws::<SigningAlgorithmSpec>)]
    signing_algorithm: SigningAlgorithmSpec,
    /// The signature to check: a file, raw or base64.
    #[arg(long)]
    signature_file: PathBuf,
}

pub(super) fn verify(kms: &Invocation, args: VerifyArgs) -> anyhow::Result<()> {
    let req = svc::VerifyRequest {
        grant_tokens: Vec::new(),
        dry_run: false,
        key_id: args.key,
        message: read_input(args.message.message_file.as_deref())?.to_vec(),
        message_type: args.message.message_type,
        signature: read_blob(Some(&args.signature_file))?,
        signing_algorithm: Some(args.signing_algorithm),
    };
    print(kms.out, &kms.service.verify(&kms.me, req)?)
}

#[derive(clap::Args, Debug)]
pub(super) struct GetPublicKeyArgs {
    /// The asymmetric key: key id, key ARN, alias name or alias ARN.
    key: String,
    /// Also write the public key (DER SubjectPublicKeyInfo) to this file.
    #[arg(long)]
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
    /// The KEY_AGREEMENT key: key id, key ARN, alias name or alias ARN.
    key: String,
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
        key_id: args.key,
        key_agreement_algorithm: Some(KeyAgreementAlgorithmSpec::Ecdh),
        public_key: read_blob(Some(&args.public_key_file))?,
    };
    let resp = kms.service.derive_shared_secret(&kms.me, req)?;
    emit_blob(kms.out, None, &resp, &resp.shared_secret)
}

#[derive(clap::Args, Debug)]
pub(super) struct DataKeyPairArgs {
    /// The symmetric key that encrypts the private key: key id, key ARN, alias name or alias ARN.
    key: String,
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
            key_id: self.key,
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
