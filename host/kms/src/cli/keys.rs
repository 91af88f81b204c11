//! Commands over KMS keys themselves: creating, describing and listing them, their description,
//! enabling and disabling, scheduled deletion, and tags.

use std::path::PathBuf;

use super::files::read_policy;
use super::render::print;
use super::{Invocation, KeyArg, KeyId, parse_aws, parse_pair, tags_of};
use kms_core::types::{KeySpec, KeyUsage, Origin};
use kms_service as svc;

#[derive(clap::Args, Debug)]
pub(super) struct CreateKeyArgs {
    /// A description of the key (up to 8192 characters).
    #[arg(long)]
    description: Option<String>,
    /// Tag as key=value (repeatable).
    #[arg(long = "tag", value_parser = parse_pair)]
    tags: Vec<(String, String)>,
    /// SYMMETRIC_DEFAULT (default), RSA_2048/3072/4096, ECC_NIST_P256/P384/P521,
    /// ECC_SECG_P256K1, HMAC_224/256/384/512, ML_DSA_44/65/87.
    #[arg(long, value_parser = parse_aws::<KeySpec>)]
    key_spec: Option<KeySpec>,
    /// ENCRYPT_DECRYPT (default), SIGN_VERIFY, GENERATE_VERIFY_MAC, KEY_AGREEMENT.
    #[arg(long, value_parser = parse_aws::<KeyUsage>)]
    key_usage: Option<KeyUsage>,
    /// A key policy document (JSON) instead of the default policy.
    #[arg(long)]
    policy_file: Option<PathBuf>,
    /// Skip the check that you could change the policy later.
    #[arg(long)]
    bypass_policy_lockout_safety_check: bool,
    /// A multi-Region primary key (id mrk-…), which `replicate-key` copies to other regions.
    #[arg(long)]
    multi_region: bool,
    /// AWS_KMS (default), EXTERNAL (a key without material, for `import-key-material`) or
    /// AWS_CLOUDHSM (with --custom-key-store-id, which implies it).
    #[arg(long, value_parser = parse_aws::<Origin>)]
    origin: Option<Origin>,
    /// Create the key in this custom key store (cks-…), which must be connected: inside its HSM,
    /// or (with --xks-key-id) doubly encrypted with its external key manager.
    #[arg(long)]
    custom_key_store_id: Option<String>,
    /// For a key in an external key store: the external key's id at the XKS proxy (implies
    /// --origin EXTERNAL_KEY_STORE).
    #[arg(long, requires = "custom_key_store_id")]
    xks_key_id: Option<String>,
}

pub(super) fn create_key(kms: &Invocation, args: CreateKeyArgs) -> anyhow::Result<()> {
    let req = svc::CreateKeyRequest {
        description: args.description,
        key_spec: args.key_spec,
        key_usage: args.key_usage,
        policy: args.policy_file.as_deref().map(read_policy).transpose()?,
        bypass_policy_lockout_safety_check: args.bypass_policy_lockout_safety_check.then_some(true),
        tags: tags_of(args.tags),
        multi_region: Some(args.multi_region),
        origin: match (&args.custom_key_store_id, &args.xks_key_id, args.origin) {
            (Some(_), Some(_), None) => Some(Origin::ExternalKeyStore),
            (Some(_), None, None) => Some(Origin::AwsCloudhsm),
            (_, _, origin) => origin,
        },
        custom_key_store_id: args.custom_key_store_id,
        xks_key_id: args.xks_key_id,
    };
    print(kms.out, &kms.service.create_key(&kms.me, req)?)
}

#[derive(clap::Args, Debug)]
pub(super) struct ReplicateKeyArgs {
    #[command(flatten)]
    key: KeyId,
    /// The region to make the replica in.
    #[arg(long)]
    replica_region: String,
    /// A description of the replica (up to 8192 characters).
    #[arg(long)]
    description: Option<String>,
    /// Tag as key=value (repeatable); tags are not copied from the primary.
    #[arg(long = "tag", value_parser = parse_pair)]
    tags: Vec<(String, String)>,
    /// A key policy document (JSON) for the replica instead of the default policy.
    #[arg(long)]
    policy_file: Option<PathBuf>,
}

pub(super) fn replicate_key(kms: &Invocation, args: ReplicateKeyArgs) -> anyhow::Result<()> {
    let req = svc::ReplicateKeyRequest {
        key_id: args.key.get(),
        replica_region: args.replica_region,
        description: args.description,
        tags: tags_of(args.tags),
        policy: args.policy_file.as_deref().map(read_policy).transpose()?,
        bypass_policy_lockout_safety_check: None,
    };
    print(kms.out, &kms.service.replicate_key(&kms.me, req)?)
}

#[derive(clap::Args, Debug)]
pub(super) struct UpdatePrimaryRegionArgs {
    #[command(flatten)]
    key: KeyId,
    /// The region of the replica that becomes the primary key.
    #[arg(long)]
    primary_region: String,
}

pub(super) fn update_primary_region(
    kms: &Invocation,
    args: UpdatePrimaryRegionArgs,
) -> anyhow::Result<()> {
    let req = svc::UpdatePrimaryRegionRequest {
        key_id: args.key.get(),
        primary_region: args.primary_region,
    };
    kms.service.update_primary_region(&kms.me, req)?;
    Ok(())
}

pub(super) fn describe_key(kms: &Invocation, args: KeyArg) -> anyhow::Result<()> {
    let req = svc::KeyRequest::new(args.key);
    print(kms.out, &kms.service.describe_key(&kms.me, req)?)
}

pub(super) fn get_key_last_usage(kms: &Invocation, args: KeyArg) -> anyhow::Result<()> {
    let req = svc::KeyRequest::new(args.key);
    print(kms.out, &kms.service.get_key_last_usage(&kms.me, req)?)
}

#[derive(clap::Args, Debug)]
pub(super) struct ListKeysArgs {
    /// At most this many keys in this page (1-1000).
    #[arg(long)]
    limit: Option<u32>,
    /// Start after the previous page: its NextMarker.
    #[arg(long)]
    marker: Option<String>,
    /// Follow markers and list every key.
    #[arg(long)]
    all: bool,
}

pub(super) fn list_keys(kms: &Invocation, args: ListKeysArgs) -> anyhow::Result<()> {
    let ListKeysArgs { limit, marker, all } = args;
    let mut page = kms
        .service
        .list_keys(&kms.me, svc::ListKeysRequest { limit, marker })?;
    if all {
        while page.truncated {
            let marker = page.next_marker.take();
            let next = kms
                .service
                .list_keys(&kms.me, svc::ListKeysRequest { limit, marker })?;
            page.keys.extend(next.keys);
            page.truncated = next.truncated;
            page.next_marker = next.next_marker;
        }
    }
    print(kms.out, &page)
}

#[derive(clap::Args, Debug)]
pub(super) struct UpdateKeyDescriptionArgs {
    /// The KMS key: key id, key ARN, alias name (alias/NAME) or alias ARN.
    #[arg(required_unless_present = "key_id", conflicts_with = "key_id")]
    key: Option<String>,
    /// The new description (up to 8192 characters).
    #[arg(
        value_name = "DESCRIPTION",
        required_unless_present = "description_option",
        conflicts_with = "description_option"
    )]
    description: Option<String>,
    /// The key, as the aws CLI names it.
    #[arg(long = "key-id", value_name = "KEY_ID")]
    key_id: Option<String>,
    /// The description, as the aws CLI names it.
    #[arg(long = "description", value_name = "DESCRIPTION")]
    description_option: Option<String>,
}

pub(super) fn update_key_description(
    kms: &Invocation,
    args: UpdateKeyDescriptionArgs,
) -> anyhow::Result<()> {
    let req = svc::UpdateKeyDescriptionRequest {
        key_id: args.key.or(args.key_id).unwrap_or_default(),
        description: args
            .description
            .or(args.description_option)
            .unwrap_or_default(),
    };
    Ok(kms.service.update_key_description(&kms.me, req)?)
}

pub(super) fn enable_key(kms: &Invocation, args: KeyArg) -> anyhow::Result<()> {
    Ok(kms
        .service
        .enable_key(&kms.me, svc::KeyRequest::new(args.key))?)
}

pub(super) fn disable_key(kms: &Invocation, args: KeyArg) -> anyhow::Result<()> {
    Ok(kms
        .service
        .disable_key(&kms.me, svc::KeyRequest::new(args.key))?)
}

#[derive(clap::Args, Debug)]
pub(super) struct ScheduleKeyDeletionArgs {
    #[command(flatten)]
    key: KeyId,
    /// Days to wait before deleting it (7-30).
    #[arg(long)]
    pending_window_in_days: Option<u32>,
}

pub(super) fn schedule_key_deletion(
    kms: &Invocation,
    args: ScheduleKeyDeletionArgs,
) -> anyhow::Result<()> {
    let req = svc::ScheduleKeyDeletionRequest {
        key_id: args.key.get(),
        pending_window_in_days: args.pending_window_in_days,
    };
    print(kms.out, &kms.service.schedule_key_deletion(&kms.me, req)?)
}

pub(super) fn cancel_key_deletion(kms: &Invocation, args: KeyArg) -> anyhow::Result<()> {
    let req = svc::KeyRequest::new(args.key);
    print(kms.out, &kms.service.cancel_key_deletion(&kms.me, req)?)
}

#[derive(clap::Args, Debug)]
pub(super) struct TagResourceArgs {
    /// The KMS key: key id, key ARN, alias name (alias/NAME) or alias ARN.
    #[arg(required_unless_present = "key_id", conflicts_with = "key_id")]
    key: Option<String>,
    /// Tags as KEY=VALUE, one or more (an existing key's value is replaced).
    #[arg(value_parser = parse_pair, required_unless_present = "aws_tags")]
    tags: Vec<(String, String)>,
    /// The key, as the aws CLI names it.
    #[arg(long = "key-id", value_name = "KEY_ID")]
    key_id: Option<String>,
    /// Tags as the aws CLI takes them: TagKey=KEY,TagValue=VALUE, one or more.
    #[arg(long = "tags", num_args = 1.., value_name = "TAG", value_parser = parse_aws_tag)]
    aws_tags: Vec<(String, String)>,
}

/// Parses a tag in the aws CLI's shorthand: `TagKey=team,TagValue=payments`.
fn parse_aws_tag(s: &str) -> Result<(String, String), String> {
    let mut key = None;
    let mut value = None;
    for part in s.split(',') {
        match part.split_once('=') {
            Some(("TagKey", k)) => key = Some(k.to_string()),
            Some(("TagValue", v)) => value = Some(v.to_string()),
            _ => {
                return Err(format!(
                    "expected TagKey=KEY,TagValue=VALUE as the aws CLI takes tags, got '{s}'"
                ));
            }
        }
    }
    match (key, value) {
        (Some(k), Some(v)) => Ok((k, v)),
        _ => Err(format!("expected TagKey=KEY,TagValue=VALUE, got '{s}'")),
    }
}

pub(super) fn tag_resource(kms: &Invocation, args: TagResourceArgs) -> anyhow::Result<()> {
    let req = svc::TagResourceRequest {
        key_id: args.key.or(args.key_id).unwrap_or_default(),
        tags: tags_of(args.tags.into_iter().chain(args.aws_tags).collect()),
    };
    Ok(kms.service.tag_resource(&kms.me, req)?)
}

#[derive(clap::Args, Debug)]
pub(super) struct UntagResourceArgs {
    /// The KMS key: key id, key ARN, alias name (alias/NAME) or alias ARN.
    #[arg(required_unless_present = "key_id", conflicts_with = "key_id")]
    key: Option<String>,
    /// The tag keys to remove, one or more.
    #[arg(required_unless_present = "aws_tag_keys")]
    tag_keys: Vec<String>,
    /// The key, as the aws CLI names it.
    #[arg(long = "key-id", value_name = "KEY_ID")]
    key_id: Option<String>,
    /// The tag keys, as the aws CLI names them.
    #[arg(long = "tag-keys", num_args = 1.., value_name = "TAG_KEY")]
    aws_tag_keys: Vec<String>,
}

pub(super) fn untag_resource(kms: &Invocation, args: UntagResourceArgs) -> anyhow::Result<()> {
    let req = svc::UntagResourceRequest {
        key_id: args.key.or(args.key_id).unwrap_or_default(),
        tag_keys: args.tag_keys.into_iter().chain(args.aws_tag_keys).collect(),
    };
    Ok(kms.service.untag_resource(&kms.me, req)?)
}

pub(super) fn list_resource_tags(kms: &Invocation, args: KeyArg) -> anyhow::Result<()> {
    let req = svc::ListForKeyRequest::new(args.key);
    print(kms.out, &kms.service.list_resource_tags(&kms.me, req)?)
}
