//! Importing key material: the wrapping parameters, the import itself (from material this
//! command wraps locally through the crypto seam, or from material wrapped elsewhere, as with
//! `openssl`), and crypto erasure.

use std::path::PathBuf;

use super::files::{read_blob, read_input, write_bytes};
use super::render::print;
use super::{Invocation, KeyId, parse_aws};
use kms_core::types::{ExpirationModel, ImportType, WrappingAlgorithmSpec, WrappingKeySpec};
use kms_crypto::key_import::wrap_for_import;
use kms_service as svc;

#[derive(clap::Args, Debug)]
pub(super) struct GetParametersForImportArgs {
    #[command(flatten)]
    key: KeyId,
    /// RSAES_OAEP_SHA_1, RSAES_OAEP_SHA_256, RSA_AES_KEY_WRAP_SHA_1 or RSA_AES_KEY_WRAP_SHA_256.
    #[arg(long, value_parser = parse_aws::<WrappingAlgorithmSpec>)]
    wrapping_algorithm: WrappingAlgorithmSpec,
    /// RSA_2048, RSA_3072 or RSA_4096.
    #[arg(long, value_parser = parse_aws::<WrappingKeySpec>)]
    wrapping_key_spec: WrappingKeySpec,
    /// Write the wrapping public key (DER) here.
    #[arg(long)]
    public_key_out: Option<PathBuf>,
    /// Write the import token (raw bytes) here.
    #[arg(long)]
    import_token_out: Option<PathBuf>,
}

pub(super) fn get_parameters_for_import(
    kms: &Invocation,
    args: GetParametersForImportArgs,
) -> anyhow::Result<()> {
    let req = svc::GetParametersForImportRequest::new(
        args.key,
        args.wrapping_algorithm,
        args.wrapping_key_spec,
    );
    let resp = kms.service.get_parameters_for_import(&kms.me, req)?;
    if let Some(path) = &args.public_key_out {
        write_bytes(Some(path), &resp.public_key)?;
    }
    if let Some(path) = &args.import_token_out {
        write_bytes(Some(path), &resp.import_token)?;
    }
    print(kms.out, &resp)
}

#[derive(clap::Args, Debug)]
pub(super) struct ImportKeyMaterialArgs {
    #[command(flatten)]
    key: KeyId,
    /// The plaintext key material (32 raw bytes, HMAC bytes or a PKCS#8 DER private key):
    /// this command gets fresh parameters and wraps it itself.
    #[arg(long, conflicts_with_all = ["encrypted_key_material_file", "import_token_file"])]
    key_material_file: Option<PathBuf>,
    /// How to wrap --key-material-file (default RSA_AES_KEY_WRAP_SHA_256, RSA_4096).
    #[arg(long, value_parser = parse_aws::<WrappingAlgorithmSpec>)]
    wrapping_algorithm: Option<WrappingAlgorithmSpec>,
    /// Material already wrapped (raw or base64) to the public key of --import-token-file's
    /// parameters, as `openssl pkeyutl` does.
    #[arg(long, requires = "import_token_file")]
    encrypted_key_material_file: Option<PathBuf>,
    /// The import token of get-parameters-for-import (raw or base64).
    #[arg(long, requires = "encrypted_key_material_file")]
    import_token_file: Option<PathBuf>,
    /// When the material expires (seconds since the epoch); without it, it does not.
    #[arg(long)]
    valid_to: Option<u64>,
    /// EXISTING_KEY_MATERIAL (default) or NEW_KEY_MATERIAL (for rotate-key-on-demand).
    #[arg(long, value_parser = parse_aws::<ImportType>)]
    import_type: Option<ImportType>,
    /// A description of the material.
    #[arg(long)]
    key_material_description: Option<String>,
    /// For a reimport: the id of the material the key had.
    #[arg(long)]
    key_material_id: Option<String>,
}

pub(super) fn import_key_material(
    kms: &Invocation,
    args: ImportKeyMaterialArgs,
) -> anyhow::Result<()> {
    let (import_token, encrypted_key_material) = match (
        &args.key_material_file,
        &args.encrypted_key_material_file,
        &args.import_token_file,
    ) {
        (Some(material), None, None) => {
            let material = read_input(Some(material))?;
            let algorithm = args
                .wrapping_algorithm
                .unwrap_or(WrappingAlgorithmSpec::RsaAesKeyWrapSha256);
            let parameters = kms.service.get_parameters_for_import(
                &kms.me,
                svc::GetParametersForImportRequest::new(
                    &args.key,
                    algorithm,
                    WrappingKeySpec::Rsa4096,
                ),
            )?;
            let wrapped = wrap_for_import(&parameters.public_key, algorithm, &material)?;
            (parameters.import_token, wrapped)
        }
        (None, Some(wrapped), Some(token)) => (read_blob(Some(token))?, read_blob(Some(wrapped))?),
        _ => anyhow::bail!(
            "give --key-material-file, or --encrypted-key-material-file with --import-token-file"
        ),
    };
    let req = svc::ImportKeyMaterialRequest {
        valid_to: args.valid_to,
        expiration_model: Some(if args.valid_to.is_some() {
            ExpirationModel::KeyMaterialExpires
        } else {
            ExpirationModel::KeyMaterialDoesNotExpire
        }),
        import_type: args.import_type,
        key_material_description: args.key_material_description,
        key_material_id: args.key_material_id,
        ..svc::ImportKeyMaterialRequest::new(args.key, import_token, encrypted_key_material)
    };
    print(kms.out, &kms.service.import_key_material(&kms.me, req)?)
}

#[derive(clap::Args, Debug)]
pub(super) struct DeleteImportedKeyMaterialArgs {
    #[command(flatten)]
    key: KeyId,
    /// The material to delete (default: the current one).
    #[arg(long)]
    key_material_id: Option<String>,
}

pub(super) fn delete_imported_key_material(
    kms: &Invocation,
    args: DeleteImportedKeyMaterialArgs,
) -> anyhow::Result<()> {
    let req = svc::DeleteImportedKeyMaterialRequest {
        key_id: args.key.get(),
        key_material_id: args.key_material_id,
    };
    print(
        kms.out,
        &kms.service.delete_imported_key_material(&kms.me, req)?,
    )
}
