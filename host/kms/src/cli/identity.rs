//! Commands for identities and access analysis: `account`, `principal`, `access-key` and
//! `analyze`. Each calls the service façade and prints its answer.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;
use serde::Serialize;

use super::files::read_policy;
use super::render::print;
use super::{Invocation, parse_pair, tags_of};
use kms_service as svc;
use kms_vault::AccessKeyStatus;

#[derive(Subcommand, Debug)]
pub(super) enum AccountCommand {
    /// Record another account, whose principals may then be created and granted access.
    Create {
        /// The 12-digit account id.
        account_id: String,
        /// A friendly name for the account.
        #[arg(long, default_value = "")]
        name: String,
    },
    /// List the accounts.
    List,
}

#[derive(Subcommand, Debug)]
pub(super) enum PrincipalCommand {
    /// Create a user or role (arn:aws:iam::<account>:user/<name> or :role/<name>).
    Create {
        /// The new principal's ARN: arn:aws:iam::ACCOUNT:user/NAME or ...:role/NAME.
        arn: String,
        /// Tag as key=value (repeatable): aws:PrincipalTag/<key> in policies.
        #[arg(long = "tag", value_parser = parse_pair)]
        tags: Vec<(String, String)>,
    },
    /// Show a principal: tags and policy names.
    Show {
        /// The principal's ARN.
        arn: String,
    },
    /// List an account's principals (default: the vault's account).
    List {
        /// The 12-digit account (default: the vault's account).
        #[arg(long)]
        account: Option<String>,
    },
    /// Delete a principal and its access keys.
    Delete {
        /// The principal's ARN.
        arn: String,
    },
    /// Add or replace tags.
    Tag {
        /// The principal's ARN.
        arn: String,
        /// Tags as KEY=VALUE, one or more: aws:PrincipalTag/KEY in policies.
        #[arg(required = true, value_parser = parse_pair)]
        tags: Vec<(String, String)>,
    },
    /// Remove tags by key.
    Untag {
        /// The principal's ARN.
        arn: String,
        /// The tag keys to remove, one or more.
        #[arg(required = true)]
        tag_keys: Vec<String>,
    },
    /// Attach (or replace) an identity policy from a JSON file.
    PutPolicy {
        /// The principal's ARN.
        arn: String,
        /// The policy's name (one principal's policies have distinct names).
        #[arg(long)]
        name: String,
        /// The identity policy: a JSON document in this file.
        #[arg(long)]
        policy_file: PathBuf,
    },
    /// Print an identity policy.
    GetPolicy {
        /// The principal's ARN.
        arn: String,
        /// The policy's name.
        #[arg(long)]
        name: String,
    },
    /// Remove an identity policy.
    DeletePolicy {
        /// The principal's ARN.
        arn: String,
        /// The policy's name.
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand, Debug)]
pub(super) enum AccessKeyCommand {
    /// Create an access key for a principal; the secret is printed only now.
    Create {
        /// The principal's ARN (a user or role).
        principal: String,
    },
    /// List a principal's access keys (never their secrets).
    List {
        /// The principal's ARN.
        principal: String,
    },
    /// Make an access key usable again.
    Activate {
        /// The access key's id (AKIA...).
        access_key_id: String,
    },
    /// Stop an access key from signing requests.
    Deactivate {
        /// The access key's id (AKIA...).
        access_key_id: String,
    },
    /// Delete an access key.
    Delete {
        /// The access key's id (AKIA...).
        access_key_id: String,
    },
}

pub(super) fn account(kms: &Invocation, command: AccountCommand) -> anyhow::Result<()> {
    let (service, me, out) = (&kms.service, &kms.me, kms.out);
    match command {
        AccountCommand::Create { account_id, name } => print(
            out,
            &service.create_account(me, svc::CreateAccountRequest { account_id, name })?,
        ),
        AccountCommand::List => print(out, &Listed::new(service.list_accounts(me)?)),
    }
}

/// A list printed under one field, as AWS shapes its list responses.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Listed<T: Serialize> {
    items: Vec<T>,
}

impl<T: Serialize> Listed<T> {
    fn new(items: Vec<T>) -> Self {
        Listed { items }
    }
}

pub(super) fn principal(kms: &Invocation, command: PrincipalCommand) -> anyhow::Result<()> {
    let (service, me, out) = (&kms.service, &kms.me, kms.out);
    match command {
        PrincipalCommand::Create { arn, tags: t } => print(
            out,
            &service.create_principal(
                me,
                svc::CreatePrincipalRequest {
                    arn,
                    tags: tags_of(t),
                },
            )?,
        ),
        PrincipalCommand::Show { arn } => print(out, &service.get_principal(me, &arn)?),
        PrincipalCommand::List { account } => {
            let account = account.unwrap_or_else(|| service.account().to_string());
            print(out, &Listed::new(service.list_principals(me, &account)?))
        }
        PrincipalCommand::Delete { arn } => Ok(service.delete_principal(me, &arn)?),
        PrincipalCommand::Tag { arn, tags: t } => {
            Ok(service.tag_principal(me, &arn, tags_of(t))?)
        }
        PrincipalCommand::Untag { arn, tag_keys } => {
            Ok(service.untag_principal(me, &arn, &tag_keys)?)
        }
        PrincipalCommand::PutPolicy {
            arn,
            name,
            policy_file,
        } => Ok(service.put_principal_policy(
            me,
            svc::PutPrincipalPolicyRequest {
                arn,
                policy_name: name,
                policy_document: read_policy(&policy_file)?,
            },
        )?),
        PrincipalCommand::GetPolicy { arn, name } => {
            println!("{}", service.get_principal_policy(me, &arn, &name)?);
            Ok(())
        }
        PrincipalCommand::DeletePolicy { arn, name } => {
            Ok(service.delete_principal_policy(me, &arn, &name)?)
        }
    }
}

pub(super) fn access_key(kms: &Invocation, command: AccessKeyCommand) -> anyhow::Result<()> {
    let (service, me, out) = (&kms.service, &kms.me, kms.out);
    match command {
        AccessKeyCommand::Create { principal } => {
            print(out, &service.create_access_key(me, &principal)?)
        }
        AccessKeyCommand::List { principal } => {
            print(out, &Listed::new(service.list_access_keys(me, &principal)?))
        }
        AccessKeyCommand::Activate { access_key_id } => {
            Ok(service.update_access_key(me, &access_key_id, AccessKeyStatus::Active)?)
        }
        AccessKeyCommand::Deactivate { access_key_id } => {
            Ok(service.update_access_key(me, &access_key_id, AccessKeyStatus::Inactive)?)
        }
        AccessKeyCommand::Delete { access_key_id } => {
            Ok(service.delete_access_key(me, &access_key_id)?)
        }
    }
}

#[derive(clap::Args, Debug)]
pub(super) struct AnalyzeArgs {
    /// Report keys not used for this many days.
    #[arg(long, default_value_t = 90)]
    unused_days: u32,
}

pub(super) fn analyze(kms: &Invocation, args: AnalyzeArgs) -> anyhow::Result<()> {
    print(kms.out, &kms.service.analyze(&kms.me, args.unused_days)?)
}

/// The profile of the credentials file `kms init` writes: a named one, so that pointing the
/// aws CLI at the file (with `AWS_PROFILE`) never passes these keys off as a user's `default`.
pub(super) const PROFILE: &str = "kms-local";

/// Writes the credentials of a new access key in the AWS shared-credentials format (owner-only),
/// as profile [`PROFILE`], for the aws CLI and SDKs (`AWS_SHARED_CREDENTIALS_FILE`).
pub(super) fn write_credentials_file(
    path: &Path,
    created: &svc::AccessKeyCreated,
) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    let text = zeroize::Zeroizing::new(format!(
        "[{PROFILE}]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
        created.access_key_id, *created.secret_access_key
    ));
    std::io::Write::write_all(&mut file, text.as_bytes())?;
    Ok(())
}

/// The identity policy `kms init` gives the administrator: everything.
pub(super) const ADMINISTRATOR_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"AdministratorAccess","Effect":"Allow","Action":"*","Resource":"*"}]}"#;
