//! Commands over grants: giving a principal the use of a key for some operations, listing,
//! retiring and revoking grants.

use kms_service as svc;
use kms_vault::GrantConstraints;

use super::render::print;
use super::{ContextPairs, Invocation, KeyId, parse_context};

/// Arguments of `create-grant`.
#[derive(clap::Args, Debug)]
pub(super) struct CreateGrantArgs {
    #[command(flatten)]
    key: KeyId,
    /// Who receives the permissions (principal ARN, account id or service principal).
    #[arg(long)]
    grantee_principal: String,
    /// Operations, comma separated (Encrypt,Decrypt,GenerateDataKey,…).
    #[arg(long, value_delimiter = ',', required = true)]
    operations: Vec<String>,
    /// Who may retire the grant.
    #[arg(long)]
    retiring_principal: Option<String>,
    /// A name that makes retries return the same grant.
    #[arg(long)]
    name: Option<String>,
    /// EncryptionContextEquals constraint: key=value[,key=value...] or JSON (repeatable).
    #[arg(long = "context-equals", value_name = "CONTEXT", value_parser = parse_context)]
    context_equals: Vec<ContextPairs>,
    /// EncryptionContextSubset constraint: key=value[,key=value...] or JSON (repeatable).
    #[arg(long = "context-subset", value_name = "CONTEXT", value_parser = parse_context)]
    context_subset: Vec<ContextPairs>,
}

pub(super) fn create_grant(kms: &Invocation, args: CreateGrantArgs) -> anyhow::Result<()> {
    let map = |given: Vec<ContextPairs>| {
        let pairs: Vec<_> = given.into_iter().flat_map(|p| p.0).collect();
        (!pairs.is_empty()).then(|| pairs.into_iter().collect())
    };
    let constraints = GrantConstraints {
        encryption_context_equals: map(args.context_equals),
        encryption_context_subset: map(args.context_subset),
    };
    let req = svc::CreateGrantRequest {
        key_id: args.key.get(),
        grantee_principal: args.grantee_principal,
        retiring_principal: args.retiring_principal,
        operations: args.operations,
        constraints: Some(constraints),
        name: args.name,
        ..Default::default()
    };
    print(kms.out, &kms.service.create_grant(&kms.me, req)?)
}

#[derive(clap::Args, Debug)]
pub(super) struct ListGrantsArgs {
    #[command(flatten)]
    key: KeyId,
    /// Only this grant.
    #[arg(long)]
    grant_id: Option<String>,
    /// Only the grants to this principal (ARN).
    #[arg(long)]
    grantee_principal: Option<String>,
}

pub(super) fn list_grants(kms: &Invocation, args: ListGrantsArgs) -> anyhow::Result<()> {
    let req = svc::ListGrantsRequest {
        key_id: args.key.get(),
        grant_id: args.grant_id,
        grantee_principal: args.grantee_principal,
        limit: Some(100),
        marker: None,
    };
    print(kms.out, &kms.service.list_grants(&kms.me, req)?)
}

#[derive(clap::Args, Debug)]
pub(super) struct ListRetirableGrantsArgs {
    /// The principal (ARN) whose retirable grants to list.
    retiring_principal: String,
}

pub(super) fn list_retirable_grants(
    kms: &Invocation,
    args: ListRetirableGrantsArgs,
) -> anyhow::Result<()> {
    let req = svc::ListRetirableGrantsRequest {
        retiring_principal: args.retiring_principal,
        limit: Some(100),
        marker: None,
    };
    print(kms.out, &kms.service.list_retirable_grants(&kms.me, req)?)
}

#[derive(clap::Args, Debug)]
pub(super) struct RetireGrantArgs {
    /// The grant token CreateGrant returned (or give the key and --grant-id).
    #[arg(long, conflicts_with_all = ["key", "grant_id"])]
    grant_token: Option<String>,
    /// The key of the grant (with --grant-id): key id or key ARN.
    #[arg(
        long = "key-id",
        visible_alias = "key",
        value_name = "KEY_ID",
        requires = "grant_id"
    )]
    key: Option<String>,
    /// The grant's id (with the key).
    #[arg(long, requires = "key")]
    grant_id: Option<String>,
}

pub(super) fn retire_grant(kms: &Invocation, args: RetireGrantArgs) -> anyhow::Result<()> {
    let req = svc::RetireGrantRequest {
        grant_token: args.grant_token,
        key_id: args.key,
        grant_id: args.grant_id,
        dry_run: false,
    };
    Ok(kms.service.retire_grant(&kms.me, req)?)
}

#[derive(clap::Args, Debug)]
pub(super) struct RevokeGrantArgs {
    /// The key of the grant: key id or key ARN.
    #[arg(required_unless_present = "key_id", conflicts_with = "key_id")]
    key: Option<String>,
    /// The grant's id.
    #[arg(
        value_name = "GRANT_ID",
        required_unless_present = "grant_id_option",
        conflicts_with = "grant_id_option"
    )]
    grant_id: Option<String>,
    /// The key, as the aws CLI names it.
    #[arg(long = "key-id", value_name = "KEY_ID")]
    key_id: Option<String>,
    /// The grant's id, as the aws CLI names it.
    #[arg(long = "grant-id", value_name = "GRANT_ID")]
    grant_id_option: Option<String>,
}

pub(super) fn revoke_grant(kms: &Invocation, args: RevokeGrantArgs) -> anyhow::Result<()> {
    let req = svc::RevokeGrantRequest {
        key_id: args.key.or(args.key_id).unwrap_or_default(),
        grant_id: args.grant_id.or(args.grant_id_option).unwrap_or_default(),
        dry_run: false,
    };
    Ok(kms.service.revoke_grant(&kms.me, req)?)
}
