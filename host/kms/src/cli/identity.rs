//! Commands for identities, grants and access analysis: `account`, `principal`, `access-key`,
//! the grant operations and `analyze`. Each calls the service façade and prints its answer.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;
use serde::Serialize;

use super::{Output, parse_pair, print, read_policy};
use kms_core::types::Tag;
use kms_service::{self as svc, Caller, Service};
use kms_vault::{AccessKeyStatus, GrantConstraints};

#[derive(Subcommand, Debug)]
pub(super) enum AccountCommand {
    /// Record another account, whose principals may then be created and granted access.
    Create {
        /// The 12-digit account id.
        account_id: String,
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
        arn: String,
        /// Tag as key=value (repeatable): aws:PrincipalTag/<key> in policies.
        #[arg(long = "tag", value_parser = parse_pair)]
        tags: Vec<(String, String)>,
    },
    /// Show a principal: tags and policy names.
    Show { arn: String },
    /// List an account's principals (default: the vault's account).
    List {
        #[arg(long)]
        account: Option<String>,
    },
    /// Delete a principal and its access keys.
    Delete { arn: String },
    /// Add or replace tags.
    Tag {
        arn: String,
        #[arg(required = true, value_parser = parse_pair)]
        tags: Vec<(String, String)>,
    },
    /// Remove tags by key.
    Untag {
        arn: String,
        #[arg(required = true)]
        tag_keys: Vec<String>,
    },
    /// Attach (or replace) an identity policy from a JSON file.
    PutPolicy {
        arn: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        policy_file: PathBuf,
    },
    /// Print an identity policy.
    GetPolicy {
        arn: String,
        #[arg(long)]
        name: String,
    },
    /// Remove an identity policy.
    DeletePolicy {
        arn: String,
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand, Debug)]
pub(super) enum AccessKeyCommand {
    /// Create an access key for a principal; the secret is printed only now.
    Create { principal: String },
    /// List a principal's access keys (never their secrets).
    List { principal: String },
    /// Make an access key usable again.
    Activate { access_key_id: String },
    /// Stop an access key from signing requests.
    Deactivate { access_key_id: String },
    /// Delete an access key.
    Delete { access_key_id: String },
}

/// Arguments of `create-grant`.
#[derive(clap::Args, Debug)]
pub(super) struct CreateGrantArgs {
    /// The key (id or ARN).
    key: String,
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
    /// EncryptionContextEquals pair key=value (repeatable).
    #[arg(long = "context-equals", value_parser = parse_pair)]
    context_equals: Vec<(String, String)>,
    /// EncryptionContextSubset pair key=value (repeatable).
    #[arg(long = "context-subset", value_parser = parse_pair)]
    context_subset: Vec<(String, String)>,
}

pub(super) fn account(
    service: &Service,
    me: &Caller,
    out: Output,
    command: AccountCommand,
) -> anyhow::Result<()> {
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

fn tags(pairs: Vec<(String, String)>) -> Vec<Tag> {
    pairs
        .into_iter()
        .map(|(tag_key, tag_value)| Tag { tag_key, tag_value })
        .collect()
}

pub(super) fn principal(
    service: &Service,
    me: &Caller,
    out: Output,
    command: PrincipalCommand,
) -> anyhow::Result<()> {
    match command {
        PrincipalCommand::Create { arn, tags: t } => print(
            out,
            &service.create_principal(me, svc::CreatePrincipalRequest { arn, tags: tags(t) })?,
        ),
        PrincipalCommand::Show { arn } => print(out, &service.get_principal(me, &arn)?),
        PrincipalCommand::List { account } => {
            let account = account.unwrap_or_else(|| service.account().to_string());
            print(out, &Listed::new(service.list_principals(me, &account)?))
        }
        PrincipalCommand::Delete { arn } => Ok(service.delete_principal(me, &arn)?),
        PrincipalCommand::Tag { arn, tags: t } => Ok(service.tag_principal(me, &arn, tags(t))?),
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

pub(super) fn access_key(
    service: &Service,
    me: &Caller,
    out: Output,
    command: AccessKeyCommand,
) -> anyhow::Result<()> {
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

pub(super) fn create_grant(
    service: &Service,
    me: &Caller,
    out: Output,
    args: CreateGrantArgs,
) -> anyhow::Result<()> {
    let map =
        |pairs: Vec<(String, String)>| (!pairs.is_empty()).then(|| pairs.into_iter().collect());
    let constraints = GrantConstraints {
        encryption_context_equals: map(args.context_equals),
        encryption_context_subset: map(args.context_subset),
    };
    print(
        out,
        &service.create_grant(
            me,
            svc::CreateGrantRequest {
                key_id: args.key,
                grantee_principal: args.grantee_principal,
                retiring_principal: args.retiring_principal,
                operations: args.operations,
                constraints: Some(constraints),
                name: args.name,
                ..Default::default()
            },
        )?,
    )
}

/// Writes the credentials of a new access key in the AWS shared-credentials format (owner-only),
/// for the aws CLI and SDKs (`AWS_SHARED_CREDENTIALS_FILE`).
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
        "[default]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
        created.access_key_id, *created.secret_access_key
    ));
    std::io::Write::write_all(&mut file, text.as_bytes())?;
    Ok(())
}

/// The identity policy `kms init` gives the administrator: everything.
pub(super) const ADMINISTRATOR_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"AdministratorAccess","Effect":"Allow","Action":"*","Resource":"*"}]}"#;
