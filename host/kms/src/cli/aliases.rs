//! Commands over aliases: the `alias/…` names that point at keys.

use super::Invocation;
use super::render::print;
use kms_service as svc;

#[derive(clap::Args, Debug)]
pub(super) struct AliasArgs {
    /// The alias: alias/NAME (names under alias/aws/ are AWS's).
    alias: String,
    /// The key it names: key id or key ARN.
    key: String,
}

impl AliasArgs {
    fn request(self) -> svc::AliasRequest {
        svc::AliasRequest {
            alias_name: self.alias,
            target_key_id: self.key,
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
    alias: String,
}

pub(super) fn delete_alias(kms: &Invocation, args: DeleteAliasArgs) -> anyhow::Result<()> {
    let req = svc::DeleteAliasRequest {
        alias_name: args.alias,
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
