//! Custom key stores (AWS_CLOUDHSM, over PKCS#11): registering the HSMs a store may use, and the
//! six AWS operations, with the aws CLI's option names.

use std::path::PathBuf;

use anyhow::Context;

use super::Invocation;
use super::render::print;
use kms_service as svc;

#[derive(clap::Args, Debug)]
pub(super) struct RegisterHsmClusterArgs {
    /// The id custom key stores name the HSM by: cluster- and 11 to 16 letters or digits 2-7
    /// (e.g. cluster-1a23b4cdefg), as AWS's CloudHSM cluster ids.
    #[arg(long)]
    cluster_id: String,
    /// The PKCS#11 module (shared library), at this path on every node, e.g.
    /// /usr/lib/softhsm/libsofthsm2.so.
    #[arg(long)]
    module: PathBuf,
    /// The label of the token the keys live in.
    #[arg(long)]
    token_label: String,
    /// The HSM's trust anchor certificate (PEM file), which CreateCustomKeyStore must present.
    #[arg(long, value_name = "PEM")]
    trust_anchor_certificate: PathBuf,
}

pub(super) fn register_hsm_cluster(
    kms: &Invocation,
    args: RegisterHsmClusterArgs,
) -> anyhow::Result<()> {
    let anchor = std::fs::read_to_string(&args.trust_anchor_certificate)
        .with_context(|| format!("cannot read {}", args.trust_anchor_certificate.display()))?;
    let cluster = svc::HsmCluster {
        cluster_id: args.cluster_id,
        module: args.module,
        token_label: args.token_label,
        trust_anchor_certificate: anchor,
    };
    kms.service.register_hsm_cluster(&kms.me, cluster.clone())?;
    print(kms.out, &cluster)
}

/// A certificate given as the aws CLI takes it: `file://PATH`, or the PEM text itself.
fn certificate_arg(value: &str) -> anyhow::Result<String> {
    match value.strip_prefix("file://") {
        Some(path) => std::fs::read_to_string(path).with_context(|| format!("cannot read {path}")),
        None => Ok(value.to_string()),
    }
}

#[derive(clap::Args, Debug)]
pub(super) struct CreateCustomKeyStoreArgs {
    /// A name unique in the region.
    #[arg(long)]
    custom_key_store_name: String,
    /// The registered HSM (`kms register-hsm-cluster`).
    #[arg(long)]
    cloud_hsm_cluster_id: String,
    /// The HSM's trust anchor certificate: file://PATH or the PEM text.
    #[arg(long, value_name = "PEM")]
    trust_anchor_certificate: String,
    /// The token user's PIN (7 to 32 characters; AWS: the kmsuser password).
    #[arg(long, env = "KMS_KEY_STORE_PASSWORD", hide_env_values = true)]
    key_store_password: String,
}

pub(super) fn create_custom_key_store(
    kms: &Invocation,
    args: CreateCustomKeyStoreArgs,
) -> anyhow::Result<()> {
    let req = svc::CreateCustomKeyStoreRequest {
        custom_key_store_name: args.custom_key_store_name,
        cloud_hsm_cluster_id: Some(args.cloud_hsm_cluster_id),
        trust_anchor_certificate: Some(certificate_arg(&args.trust_anchor_certificate)?),
        key_store_password: Some(args.key_store_password),
        custom_key_store_type: None,
    };
    print(kms.out, &kms.service.create_custom_key_store(&kms.me, req)?)
}

#[derive(clap::Args, Debug)]
pub(super) struct DescribeCustomKeyStoresArgs {
    /// Only this store.
    #[arg(long, conflicts_with = "custom_key_store_name")]
    custom_key_store_id: Option<String>,
    /// Only the store of this name.
    #[arg(long)]
    custom_key_store_name: Option<String>,
}

pub(super) fn describe_custom_key_stores(
    kms: &Invocation,
    args: DescribeCustomKeyStoresArgs,
) -> anyhow::Result<()> {
    let req = svc::DescribeCustomKeyStoresRequest {
        custom_key_store_id: args.custom_key_store_id,
        custom_key_store_name: args.custom_key_store_name,
        limit: Some(1000),
        marker: None,
    };
    print(
        kms.out,
        &kms.service.describe_custom_key_stores(&kms.me, req)?,
    )
}

#[derive(clap::Args, Debug)]
pub(super) struct UpdateCustomKeyStoreArgs {
    /// The store.
    #[arg(long)]
    custom_key_store_id: String,
    /// A new name.
    #[arg(long)]
    new_custom_key_store_name: Option<String>,
    /// A new PIN (the store must be disconnected).
    #[arg(long, env = "KMS_KEY_STORE_PASSWORD", hide_env_values = true)]
    key_store_password: Option<String>,
    /// A related registered HSM, one with the same trust anchor (the store must be
    /// disconnected).
    #[arg(long)]
    cloud_hsm_cluster_id: Option<String>,
}

pub(super) fn update_custom_key_store(
    kms: &Invocation,
    args: UpdateCustomKeyStoreArgs,
) -> anyhow::Result<()> {
    let req = svc::UpdateCustomKeyStoreRequest {
        custom_key_store_id: args.custom_key_store_id,
        new_custom_key_store_name: args.new_custom_key_store_name,
        key_store_password: args.key_store_password,
        cloud_hsm_cluster_id: args.cloud_hsm_cluster_id,
    };
    Ok(kms.service.update_custom_key_store(&kms.me, req)?)
}

#[derive(clap::Args, Debug)]
pub(super) struct CustomKeyStoreArg {
    /// The store (cks-…).
    #[arg(long)]
    custom_key_store_id: String,
}

impl CustomKeyStoreArg {
    fn request(self) -> svc::CustomKeyStoreRequest {
        svc::CustomKeyStoreRequest {
            custom_key_store_id: self.custom_key_store_id,
        }
    }
}

pub(super) fn delete_custom_key_store(
    kms: &Invocation,
    arg: CustomKeyStoreArg,
) -> anyhow::Result<()> {
    Ok(kms
        .service
        .delete_custom_key_store(&kms.me, arg.request())?)
}

pub(super) fn connect_custom_key_store(
    kms: &Invocation,
    arg: CustomKeyStoreArg,
) -> anyhow::Result<()> {
    Ok(kms
        .service
        .connect_custom_key_store(&kms.me, arg.request())?)
}

pub(super) fn disconnect_custom_key_store(
    kms: &Invocation,
    arg: CustomKeyStoreArg,
) -> anyhow::Result<()> {
    Ok(kms
        .service
        .disconnect_custom_key_store(&kms.me, arg.request())?)
}
