//! Commands over aliases: the `alias/…` names that point at keys.

use super::Invocation;
use super::render::print;
use kms_service as svc;

#[derive(clap::Args, Debug)]
pub(super) struct AliasArgs {
    /// The alias: alias/NAME (names under alias/aws/ are AWS's).
    #[arg(required_unless_present = "alias_name", conflicts_with = "alias_name")]
    alias: Option<String>,
    /// The key it names: key id or key ARN.
    #[arg(
        required_unless_present = "target_key_id",
        conflicts_with = "target_key_id"
    )]
    key: Option<String>,
    /// The alias, as the aws CLI names it (instead of the first argument).
    #[arg(long, value_name = "ALIAS")]
    alias_name: Option<String>,
    /// The key, as the aws CLI names it (instead of the second argument).
    #[arg(long, value_name = "KEY_ID")]
    target_key_id: Option<String>,
}

impl AliasArgs {
    fn request(self) -> svc::AliasRequest {
        svc::AliasRequest {
            alias_name: self.alias.or(self.alias_name).unwrap_or_default(),
            target_key_id: self.key.or(self.target_key_id).unwrap_or_default(),
        }
    }
}

pub(super) fn create_alias(kms: &Invocation, args: AliasArgs) -> anyhow::Result<()> {
    Ok(kms.service.create_alias(&kms.me, args.request())?)
}

pub(super) fn update_alias(kms: &Invocation, args: AliasArgs) -> anyhow::Result<()> {
    Ok(kms.service.update_alias(&kms.me, args.request())?)
}

#[derive(clap::Args, Debug)]
pub(super) struct DeleteAliasArgs {
    /// The alias to delete: alias/NAME.
    #[arg(required_unless_present = "alias_name", conflicts_with = "alias_name")]
    alias: Option<String>,
    /// The alias, as the aws CLI names it (instead of the argument).
    #[arg(long, value_name = "ALIAS")]
    alias_name: Option<String>,
}

pub(super) fn delete_alias(kms: &Invocation, args: DeleteAliasArgs) -> anyhow::Result<()> {
    let req = svc::DeleteAliasRequest {
        alias_name: args.alias.or(args.alias_name).unwrap_or_default(),
    };
    Ok(kms.service.delete_alias(&kms.me, req)?)
}

#[derive(clap::Args, Debug)]
pub(super) struct ListAliasesArgs {
    /// Only the aliases of this key (key id or key ARN).
    #[arg(long)]
    key_id: Option<String>,
    /// At most this many aliases in this page (1-100).
    #[arg(long)]
    limit: Option<u32>,
    /// Start after the previous page: its NextMarker.
    #[arg(long)]
    marker: Option<String>,
}

pub(super) fn list_aliases(kms: &Invocation, args: ListAliasesArgs) -> anyhow::Result<()> {
    let req = svc::ListAliasesRequest {
        key_id: args.key_id,
        limit: args.limit,
        marker: args.marker,
    };
    print(kms.out, &kms.service.list_aliases(&kms.me, req)?)
}
