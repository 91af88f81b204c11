//! Where the vault lives (`--home`, `--vault`, `--root-key-file`), creating it (`kms init`: the
//! root key, an empty vault, an administrator with an access key) and opening the service over
//! it for every other command.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use serde::Serialize;
use zeroize::Zeroizing;

use super::render::print;
use super::{Cli, Output, identity};
use kms_core::KmsError;
use kms_service::{self as svc, CallSource, Caller, Service};
use kms_vault::{PostgresStore, RootKey, SqliteStore, Store, Vault};

#[derive(clap::Args, Debug)]
pub(super) struct InitArgs {
    /// 12-digit account id that owns the vault's keys.
    #[arg(long, default_value = svc::DEFAULT_ACCOUNT)]
    account: String,
}

impl Default for InitArgs {
    /// What `kms init` does with no options (and `kms serve` on its first run).
    fn default() -> Self {
        InitArgs {
            account: svc::DEFAULT_ACCOUNT.into(),
        }
    }
}

/// The files of one vault.
pub(super) struct Paths {
    /// The directory holding them, and the administrator's credentials file.
    pub(super) home: PathBuf,
    /// The SQLite vault.
    pub(super) vault: PathBuf,
    /// The PostgreSQL database holding the vault instead, when `--store` names one.
    pub(super) store: Option<String>,
    /// The root key, unless `KMS_ROOT_KEY` gives it.
    root_key: PathBuf,
}

impl Paths {
    /// The paths the options and environment name, defaulting to `~/.kms`.
    pub(super) fn of(cli: &Cli) -> anyhow::Result<Self> {
        let home = match &cli.home {
            Some(h) => h.clone(),
            None => {
                let user_home = std::env::var_os("HOME")
                    .context("HOME is not set; pass --home or set KMS_HOME")?;
                PathBuf::from(user_home).join(".kms")
            }
        };
        Ok(Paths {
            vault: cli.vault.clone().unwrap_or_else(|| home.join("vault.db")),
            store: cli.store.clone(),
            root_key: cli
                .root_key_file
                .clone()
                .unwrap_or_else(|| home.join("root.key")),
            home,
        })
    }

    /// The vault's store: the PostgreSQL database `--store` names, or the SQLite file.
    fn open_store(&self) -> anyhow::Result<Box<dyn Store>> {
        Ok(match &self.store {
            Some(url) => Box::new(PostgresStore::open(url)?),
            None => Box::new(SqliteStore::open(&self.vault)?),
        })
    }

    /// Where the vault is, for people: the file, or the database URL without its password.
    fn describe_store(&self) -> String {
        match &self.store {
            Some(url) => kms_vault::redact_url(url),
            None => self.vault.display().to_string(),
        }
    }

    /// Where `kms init` writes the administrator's access key.
    pub(super) fn credentials(&self) -> PathBuf {
        self.home.join("credentials")
    }
}

fn root_key_from_env() -> anyhow::Result<Option<RootKey>> {
    match std::env::var("KMS_ROOT_KEY") {
        Ok(hex) => Ok(Some(RootKey::from_hex(&Zeroizing::new(hex))?)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(e) => bail!("KMS_ROOT_KEY: {e}"),
    }
}

/// The service over an existing vault, with policy plugins run when a key has any.
pub(super) fn open_service(paths: &Paths) -> anyhow::Result<Service> {
    if paths.store.is_none() && !paths.vault.exists() {
        return Err(KmsError::InvalidState(format!(
            "There is no vault at {}; run `kms init` first",
            paths.vault.display()
        ))
        .into());
    }
    let store = paths.open_store()?;
    if !Vault::is_initialised(store.as_ref())? {
        let init = if paths.store.is_some() {
            "kms init --store URL` once (one node, not each)"
        } else {
            "kms init`"
        };
        return Err(KmsError::InvalidState(format!(
            "There is no vault in {}; run `{init} first",
            paths.describe_store()
        ))
        .into());
    }
    let root = match root_key_from_env()? {
        Some(root) => root,
        None => RootKey::load_file(&paths.root_key)?,
    };
    // Vault::open refuses a root key other than the one the vault was made with: a node
    // given the wrong one never starts.
    let vault = Vault::open(store, root)?;
    let service = Service::new(vault, Arc::new(svc::SystemClock))?;
    service.set_policy_engine(kms_runtime::PluginRunner::lazy_default());
    service.set_xks_client(Arc::new(
        kms_server::xks::HttpXksClient::new(xks_timeout()?),
    ));
    Ok(service)
}

/// `kms init`: the home directory (owner-only), the root key (kept if one exists), an empty
/// vault and its administrator, a user allowed everything with an access key for the HTTP API.
/// `region` (the global `--region`) becomes the vault's home region.
pub(super) fn init(
    paths: &Paths,
    args: &InitArgs,
    region: Option<&str>,
    out: Output,
) -> anyhow::Result<()> {
    let account = args.account.as_str();
    let region = region.unwrap_or(svc::DEFAULT_REGION);
    kms_vault::validate_account(account)?;
    kms_vault::validate_region(region)?;
    if !paths.home.exists() {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder
            .create(&paths.home)
            .with_context(|| format!("cannot create {}", paths.home.display()))?;
    }
    let (root, root_source) = match root_key_from_env()? {
        Some(root) => (root, "KMS_ROOT_KEY".to_string()),
        None if paths.root_key.exists() => (
            RootKey::load_file(&paths.root_key)?,
            format!("{} (existing)", paths.root_key.display()),
        ),
        None => (
            RootKey::create_file(&paths.root_key)?,
            paths.root_key.display().to_string(),
        ),
    };
    let vault = Vault::create(paths.open_store()?, root.clone(), account, region)?;
    let service = Service::new(vault, Arc::new(svc::SystemClock))?;
    let operator = Caller::account_root(account).via(CallSource::Cli);
    let admin = format!("arn:aws:iam::{account}:user/admin");
    service.create_principal(
        &operator,
        svc::CreatePrincipalRequest {
            arn: admin.clone(),
            tags: Vec::new(),
        },
    )?;
    service.put_principal_policy(
        &operator,
        svc::PutPrincipalPolicyRequest {
            arn: admin.clone(),
            policy_name: "AdministratorAccess".into(),
            policy_document: identity::ADMINISTRATOR_POLICY.into(),
        },
    )?;
    let key = service.create_access_key(&operator, &admin)?;
    let credentials = paths.credentials();
    identity::write_credentials_file(&credentials, &key)?;
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Initialised {
        vault: String,
        root_key: String,
        root_key_fingerprint: String,
        account: String,
        region: String,
        administrator: String,
        administrator_access_key_id: String,
        credentials_file: String,
    }
    print(
        out,
        &Initialised {
            vault: paths.describe_store(),
            root_key: root_source,
            root_key_fingerprint: root.fingerprint(),
            account: account.into(),
            region: region.into(),
            administrator: admin,
            administrator_access_key_id: key.access_key_id.clone(),
            credentials_file: credentials.display().to_string(),
        },
    )
}

/// How long a call to an external key store's XKS proxy may take: AWS's 250 ms unless
/// `KMS_XKS_TIMEOUT_MS` says otherwise.
fn xks_timeout() -> anyhow::Result<std::time::Duration> {
    match std::env::var("KMS_XKS_TIMEOUT_MS") {
        Ok(ms) => Ok(std::time::Duration::from_millis(
            ms.parse()
                .context("KMS_XKS_TIMEOUT_MS must be a number of milliseconds")?,
        )),
        Err(_) => Ok(kms_server::xks::DEFAULT_TIMEOUT),
    }
}
