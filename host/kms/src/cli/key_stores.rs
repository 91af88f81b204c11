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
    /// AWS_CLOUDHSM (default: keys inside a registered HSM) or EXTERNAL_KEY_STORE (keys
    /// doubly encrypted with an external key manager behind an XKS proxy).
    #[arg(long, default_value = "AWS_CLOUDHSM")]
    custom_key_store_type: String,
    /// AWS_CLOUDHSM: the registered HSM (`kms register-hsm-cluster`).
    #[arg(long)]
    cloud_hsm_cluster_id: Option<String>,
    /// AWS_CLOUDHSM: the HSM's trust anchor certificate, file://PATH or the PEM text.
    #[arg(long, value_name = "PEM")]
    trust_anchor_certificate: Option<String>,
    /// AWS_CLOUDHSM: the token user's PIN (7 to 32 characters; AWS: the kmsuser password).
    #[arg(long, env = "KMS_KEY_STORE_PASSWORD", hide_env_values = true)]
    key_store_password: Option<String>,
    /// EXTERNAL_KEY_STORE: the proxy, https://HOST[:PORT] (or http:// on loopback).
    #[arg(long)]
    xks_proxy_uri_endpoint: Option<String>,
    /// EXTERNAL_KEY_STORE: the proxy's path, [/PREFIX]/kms/xks/v1.
    #[arg(long)]
    xks_proxy_uri_path: Option<String>,
    /// EXTERNAL_KEY_STORE: PUBLIC_ENDPOINT.
    #[arg(long, default_value = "PUBLIC_ENDPOINT")]
    xks_proxy_connectivity: String,
    /// EXTERNAL_KEY_STORE: the credential the proxy accepts, as the aws CLI's shorthand
    /// AccessKeyId=ID,RawSecretAccessKey=SECRET (or in KMS_XKS_PROXY_CREDENTIAL).
    #[arg(long, env = "KMS_XKS_PROXY_CREDENTIAL", hide_env_values = true, value_parser = parse_credential)]
    xks_proxy_authentication_credential: Option<Credential>,
}

/// `AccessKeyId=…,RawSecretAccessKey=…`.
#[derive(Clone, Debug)]
pub(super) struct Credential {
    access_key_id: String,
    secret: String,
}

fn parse_credential(s: &str) -> Result<Credential, String> {
    let mut id = None;
    let mut secret = None;
    for pair in s.split(',') {
        match pair.split_once('=') {
            Some(("AccessKeyId", v)) => id = Some(v.to_string()),
            Some(("RawSecretAccessKey", v)) => secret = Some(v.to_string()),
            _ => return Err("expected AccessKeyId=ID,RawSecretAccessKey=SECRET".into()),
        }
    }
    match (id, secret) {
        (Some(access_key_id), Some(secret)) => Ok(Credential {
            access_key_id,
            secret,
        }),
        _ => Err("expected AccessKeyId=ID,RawSecretAccessKey=SECRET".into()),
    }
}

pub(super) fn create_custom_key_store(
    kms: &Invocation,
    args: CreateCustomKeyStoreArgs,
) -> anyhow::Result<()> {
    let req = svc::CreateCustomKeyStoreRequest {
        custom_key_store_name: args.custom_key_store_name,
        custom_key_store_type: Some(args.custom_key_store_type),
        cloud_hsm_cluster_id: args.cloud_hsm_cluster_id,
        trust_anchor_certificate: args
            .trust_anchor_certificate
            .as_deref()
            .map(certificate_arg)
            .transpose()?,
        key_store_password: args.key_store_password,
        xks_proxy_uri_endpoint: args.xks_proxy_uri_endpoint,
        xks_proxy_uri_path: args.xks_proxy_uri_path,
        xks_proxy_connectivity: Some(args.xks_proxy_connectivity),
        xks_proxy_authentication_credential: args.xks_proxy_authentication_credential.map(|c| {
            svc::XksCredential {
                access_key_id: c.access_key_id,
                raw_secret_access_key: c.secret,
            }
        }),
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
        ..Default::default()
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
