//! The `kms` command line: parses arguments, calls the service façade, prints the answer. Command
//! names mirror `aws kms`; `--output json` prints the AWS-shaped response. No KMS logic lives here:
//! each command is one small function beside its arguments, in the module of its family, and
//! [`dispatch`] is the table from command to function.

mod aliases;
mod asymmetric;
mod audit;
mod components;
mod crypto;
mod envelope;
mod files;
mod grants;
mod home;
mod identity;
mod import;
mod key_stores;
mod keys;
mod plugin_dev;
mod policies;
mod render;
mod rotation;
mod run;
mod serve;
mod xks_proxy;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};

use kms_core::KmsError;
use kms_core::types::{EncryptionContext, Tag};
use kms_service::{CallSource, Caller, Service};

#[derive(Parser, Debug)]
#[command(
    name = "kms",
    version,
    about = "A self-hostable key management service modelled on AWS KMS"
)]
struct Cli {
    /// Directory holding the vault and root key (default ~/.kms).
    #[arg(long, env = "KMS_HOME", global = true)]
    home: Option<PathBuf>,
    /// The SQLite vault file (default $KMS_HOME/vault.db).
    #[arg(long, env = "KMS_VAULT", global = true)]
    vault: Option<PathBuf>,
    /// Keep the vault in a PostgreSQL database instead of the SQLite file, shared by every
    /// node of a cluster: postgres://USER:PASSWORD@HOST:PORT/DATABASE (libpq's URL; add
    /// ?options=-csearch_path%3DSCHEMA for a schema of its own). `kms init --store URL` once,
    /// then every node with the same root key.
    #[arg(long, env = "KMS_STORE", global = true, value_name = "URL",
          conflicts_with = "vault", value_parser = parse_store_url)]
    store: Option<String>,
    /// The root key file (default $KMS_HOME/root.key). The KMS_ROOT_KEY environment variable
    /// (64 hex characters) takes precedence.
    #[arg(long, env = "KMS_ROOT_KEY_FILE", global = true)]
    root_key_file: Option<PathBuf>,
    /// Output format: text (for people; a single value as it is), json (the AWS-shaped
    /// response), table or yaml.
    #[arg(long, value_enum, default_value_t = Output::Text, global = true)]
    output: Output,
    /// A JMESPath expression applied to the response before it is printed, as the aws CLI's
    /// --query: `--query KeyMetadata.KeyId` prints just the key id.
    #[arg(long, global = true, value_name = "JMESPATH", value_parser = render::parse_query)]
    query: Option<String>,
    /// Act as this principal (an account root, user or role ARN) instead of the vault
    /// account's root: its key policies, identity policies and grants then decide.
    #[arg(long = "as", env = "KMS_PRINCIPAL", global = true, value_name = "ARN")]
    as_principal: Option<String>,
    /// Act through this AWS service (kms:ViaService), e.g. s3.us-east-1.amazonaws.com.
    #[arg(long, global = true)]
    via_service: Option<String>,
    /// The region to act in: each region has its own keys, aliases and grants (default: the
    /// vault's home region, which `kms init --region` sets; us-east-1 unless told otherwise).
    #[arg(long, env = "KMS_REGION", global = true)]
    region: Option<String>,
    #[command(subcommand)]
    command: Command,
}

/// How a command prints its answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Output {
    /// For people: `Field: value` lines; a single value (after --query) as it is.
    Text,
    /// The AWS-shaped response as JSON.
    Json,
    /// The response as a table.
    Table,
    /// The response as YAML.
    Yaml,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create the root key file (mode 600) and an empty vault.
    Init(home::InitArgs),
    /// Create a KMS key: symmetric (the default), RSA, ECC, ML-DSA, HMAC or key agreement, of AWS
    /// or EXTERNAL origin, single- or multi-Region.
    CreateKey(keys::CreateKeyArgs),
    /// Print a key's policy.
    GetKeyPolicy(KeyArg),
    /// Replace a key's policy with a JSON document.
    PutKeyPolicy(policies::PutKeyPolicyArgs),
    /// List a key's policy names (always `default`).
    ListKeyPolicies(KeyArg),
    /// Show a key's metadata.
    DescribeKey(KeyArg),
    /// Replicate a multi-Region primary key into another region.
    ReplicateKey(keys::ReplicateKeyArgs),
    /// Make a multi-Region key's replica in another region its primary key.
    UpdatePrimaryRegion(keys::UpdatePrimaryRegionArgs),
    /// List keys.
    ListKeys(keys::ListKeysArgs),
    /// Replace a key's description.
    UpdateKeyDescription(keys::UpdateKeyDescriptionArgs),
    /// Enable a disabled key.
    EnableKey(KeyArg),
    /// Disable a key.
    DisableKey(KeyArg),
    /// Schedule a key's deletion after 7–30 days (default 30).
    ScheduleKeyDeletion(keys::ScheduleKeyDeletionArgs),
    /// Cancel a scheduled deletion; the key becomes Disabled.
    CancelKeyDeletion(KeyArg),
    /// Add or overwrite tags (key=value ...).
    TagResource(keys::TagResourceArgs),
    /// Remove tags by key.
    UntagResource(keys::UntagResourceArgs),
    /// List a key's tags.
    ListResourceTags(KeyArg),
    /// Create an alias (alias/...) for a key.
    CreateAlias(aliases::AliasArgs),
    /// Point an alias at another key.
    UpdateAlias(aliases::AliasArgs),
    /// Delete an alias.
    DeleteAlias(aliases::DeleteAliasArgs),
    /// List aliases.
    ListAliases(aliases::ListAliasesArgs),
    /// Encrypt up to 4096 bytes; prints the ciphertext blob in base64.
    Encrypt(crypto::EncryptArgs),
    /// Decrypt a ciphertext blob (raw or base64); prints the plaintext.
    Decrypt(crypto::DecryptArgs),
    /// Re-encrypt a ciphertext blob under another key without revealing the plaintext.
    ReEncrypt(crypto::ReEncryptArgs),
    /// Generate a data key: plaintext and encrypted copy.
    GenerateDataKey(crypto::DataKeyArgs),
    /// Generate a data key, encrypted copy only.
    GenerateDataKeyWithoutPlaintext(crypto::DataKeyArgs),
    /// Random bytes (1–1024), printed in base64.
    GenerateRandom(crypto::GenerateRandomArgs),
    /// Rotate a key automatically every N days (90–2560, default 365).
    EnableKeyRotation(rotation::EnableKeyRotationArgs),
    /// Stop automatic rotation.
    DisableKeyRotation(KeyArg),
    /// Show a key's rotation settings.
    GetKeyRotationStatus(KeyArg),
    /// Rotate a key now.
    RotateKeyOnDemand(KeyArg),
    /// List a key's completed rotations.
    ListKeyRotations(KeyArg),
    /// Show a key's last successful cryptographic use and since when uses are tracked.
    GetKeyLastUsage(KeyArg),
    /// The wrapping public key and import token for importing key material (24 hours).
    GetParametersForImport(import::GetParametersForImportArgs),
    /// Import key material into a key of EXTERNAL origin (wrapped here, or by openssl).
    ImportKeyMaterial(import::ImportKeyMaterialArgs),
    /// Delete a key's imported key material; the key waits for the same material again.
    DeleteImportedKeyMaterial(import::DeleteImportedKeyMaterialArgs),
    /// Check or search the audit trail.
    Audit {
        #[command(subcommand)]
        command: audit::AuditCommand,
    },
    /// Envelope-encrypt a file of any size (`-` for standard input/output).
    Seal(envelope::SealArgs),
    /// Decrypt an envelope made by `seal`; the output appears only if all of it authenticates.
    Open(envelope::OpenArgs),
    /// Sign a message (up to 4096 bytes), a digest or an ML-DSA mu; prints the signature.
    Sign(asymmetric::SignArgs),
    /// Verify a signature (raw or base64); fails with KMSInvalidSignatureException if it does not.
    Verify(asymmetric::VerifyArgs),
    /// Print a key pair's public key and algorithms (`--outfile` writes the DER).
    GetPublicKey(asymmetric::GetPublicKeyArgs),
    /// Compute the MAC of a message with an HMAC key; prints it.
    GenerateMac(crypto::GenerateMacArgs),
    /// Check a MAC (raw or base64); fails with KMSInvalidMacException if it does not match.
    VerifyMac(crypto::VerifyMacArgs),
    /// ECDH between a KEY_AGREEMENT key and a peer's public key (DER file, raw or base64).
    DeriveSharedSecret(asymmetric::DeriveSharedSecretArgs),
    /// A data key pair: the private key in plaintext and encrypted under a symmetric key.
    GenerateDataKeyPair(asymmetric::DataKeyPairArgs),
    /// A data key pair whose private key is returned only encrypted.
    GenerateDataKeyPairWithoutPlaintext(asymmetric::DataKeyPairArgs),
    /// Print a completion script for SHELL (bash, zsh, fish, elvish, powershell), e.g.
    /// `kms completions bash > ~/.local/share/bash-completion/completions/kms`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// List the stock components compiled into kms (name them stock:NAME wherever a component
    /// is asked for), or write them out as files with --write.
    Components(components::ComponentsArgs),
    /// Run a tenant application component (world kms:vault/tenant-command) in a fresh sandboxed
    /// instance and print what its `run` returns. Arguments after `--` are passed to it.
    Run(run::RunArgs),
    /// Serve the AWS KMS JSON API over HTTP (SigV4-authenticated) until interrupted.
    Serve(serve::ServeArgs),
    /// Manage accounts.
    Account {
        #[command(subcommand)]
        command: identity::AccountCommand,
    },
    /// Manage users and roles: tags and identity policies.
    Principal {
        #[command(subcommand)]
        command: identity::PrincipalCommand,
    },
    /// Manage principals' access keys (credentials for the HTTP API).
    AccessKey {
        #[command(subcommand)]
        command: identity::AccessKeyCommand,
    },
    /// Give a principal permission to use a key for some operations.
    CreateGrant(grants::CreateGrantArgs),
    /// List a key's grants.
    ListGrants(grants::ListGrantsArgs),
    /// List the grants a principal may retire.
    ListRetirableGrants(grants::ListRetirableGrantsArgs),
    /// Retire a grant, by token or by key and grant id.
    RetireGrant(grants::RetireGrantArgs),
    /// Revoke a grant.
    RevokeGrant(grants::RevokeGrantArgs),
    /// Report keys unused for N days, key policies open to anyone, principals with every KMS
    /// permission on keys they are not named to administer, and grants never used.
    Analyze(identity::AnalyzeArgs),
    /// Attach a policy plugin (world kms:vault/policy-plugin) to a key, or to the account as a
    /// guard-rail that can only deny.
    AttachPolicyPlugin(policies::AttachPolicyPluginArgs),
    /// Detach a policy plugin.
    DetachPolicyPlugin(policies::DetachPolicyPluginArgs),
    /// List the policy plugins of a key, or of the account.
    ListPolicyPlugins(policies::ListPolicyPluginsArgs),
    /// Register an HSM (a PKCS#11 module and token) that custom key stores may use under a
    /// CloudHSM-style cluster id (the account root's step, as creating the cluster is in AWS).
    RegisterHsmCluster(key_stores::RegisterHsmClusterArgs),
    /// Create a custom key store (AWS_CLOUDHSM) on a registered HSM.
    CreateCustomKeyStore(key_stores::CreateCustomKeyStoreArgs),
    /// Describe the region's custom key stores, or one.
    DescribeCustomKeyStores(key_stores::DescribeCustomKeyStoresArgs),
    /// Rename a custom key store, or change its PIN or HSM.
    UpdateCustomKeyStore(key_stores::UpdateCustomKeyStoreArgs),
    /// Delete a disconnected custom key store that holds no keys.
    DeleteCustomKeyStore(key_stores::CustomKeyStoreArg),
    /// Connect a custom key store (log in to its HSM).
    ConnectCustomKeyStore(key_stores::CustomKeyStoreArg),
    /// Disconnect a custom key store: its keys cannot be used until it is connected again.
    DisconnectCustomKeyStore(key_stores::CustomKeyStoreArg),
    /// Serve AWS's XKS Proxy API with this vault's keys as the external keys, for external key
    /// stores (of AWS KMS, or of another kms serve) to use.
    XksProxy(xks_proxy::XksProxyArgs),
    /// Policy plugin authors' tools, with no vault: evaluate a plugin on a request, or run a
    /// table of requests with expected verdicts.
    Plugin {
        #[command(subcommand)]
        command: plugin_dev::PluginCommand,
    },
    /// Data-key wrapper authors' tools, with no vault: a seal/open round trip in a scratch KMS.
    Wrapper {
        #[command(subcommand)]
        command: plugin_dev::WrapperCommand,
    },
}

/// The one argument of the commands that take nothing but a key (id, ARN or alias).
#[derive(clap::Args, Debug)]
struct KeyArg {
    #[command(flatten)]
    key: KeyId,
}

/// A command's KMS key, given as its first argument or, as the aws CLI names it, with --key-id.
#[derive(clap::Args, Debug)]
#[group(required = true, multiple = false)]
struct KeyId {
    /// The KMS key: key id, key ARN, alias name (alias/NAME) or alias ARN.
    #[arg(value_name = "KEY_ID")]
    key: Option<String>,
    /// The KMS key, named as the aws CLI names it (instead of the first argument).
    #[arg(long = "key-id", value_name = "KEY_ID")]
    key_id: Option<String>,
}

impl From<KeyId> for String {
    fn from(key: KeyId) -> String {
        key.get()
    }
}

impl From<&KeyId> for String {
    fn from(key: &KeyId) -> String {
        key.as_str().to_string()
    }
}

impl KeyId {
    /// The key, however it was given (clap requires exactly one form).
    fn get(self) -> String {
        self.key.or(self.key_id).unwrap_or_default()
    }

    fn as_str(&self) -> &str {
        self.key.as_deref().or(self.key_id.as_deref()).unwrap_or("")
    }
}

/// Parses an AWS enum value (`RSA_2048`, `ECDSA_SHA_256`, …).
fn parse_aws<T: std::str::FromStr<Err = KmsError>>(s: &str) -> Result<T, String> {
    s.parse().map_err(|e: KmsError| e.message().to_string())
}

/// Parses a `key=value` pair (tags, encryption context, settings).
/// `--store`: a PostgreSQL URL (the SQLite file is `--vault`).
fn parse_store_url(s: &str) -> Result<String, String> {
    if s.starts_with("postgres://") || s.starts_with("postgresql://") {
        Ok(s.to_string())
    } else {
        Err(
            "--store takes a PostgreSQL URL, postgres://USER:PASSWORD@HOST:PORT/DATABASE \
             (the SQLite vault file is --vault)"
                .into(),
        )
    }
}

fn parse_pair(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("expected key=value, got '{s}'"))
}

/// Pairs of an encryption context, as one `--encryption-context` option gave them.
#[derive(Clone, Debug, PartialEq, Eq)]
struct ContextPairs(Vec<(String, String)>);

/// Parses an encryption context as the aws CLI takes it: its shorthand
/// `tenant=acme,env=prod` (two pairs), or a JSON object of strings `{"tenant":"acme"}`.
fn parse_context(s: &str) -> Result<ContextPairs, String> {
    if s.trim_start().starts_with('{') {
        let object: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(s).map_err(|e| format!("not a JSON object of strings: {e}"))?;
        return object
            .into_iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(v) => Ok((k, v)),
                other => Err(format!("the value of '{k}' must be a string, not {other}")),
            })
            .collect::<Result<_, _>>()
            .map(ContextPairs);
    }
    s.split(',')
        .map(|pair| {
            pair.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| {
                    format!(
                        "expected key=value[,key=value...] or a JSON object, got '{pair}' \
                         (a value that contains ',' needs the JSON form: '{{\"key\":\"a,b\"}}')"
                    )
                })
        })
        .collect::<Result<_, _>>()
        .map(ContextPairs)
}

/// The encryption context of `--encryption-context` options, checked as the façade checks it.
fn context_of(given: Vec<ContextPairs>) -> anyhow::Result<EncryptionContext> {
    Ok(EncryptionContext::from_pairs(
        given.into_iter().flat_map(|p| p.0),
    )?)
}

/// Tags from `--tag` pairs.
fn tags_of(pairs: Vec<(String, String)>) -> Vec<Tag> {
    pairs
        .into_iter()
        .map(|(tag_key, tag_value)| Tag { tag_key, tag_value })
        .collect()
}

/// What a command runs with: the vault's service, who acts, and how to print.
struct Invocation {
    service: Arc<Service>,
    me: Caller,
    out: Output,
}

/// Runs the command line with the process's arguments and returns its exit code.
pub fn main() -> ExitCode {
    run(std::env::args_os())
}

/// Runs the command line with `args` (the first is the program name).
pub fn run(args: impl IntoIterator<Item = impl Into<OsString> + Clone>) -> ExitCode {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match execute(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            if let Some(kms) = err.downcast_ref::<KmsError>() {
                eprintln!("error: {}: {}", kms.aws_type(), kms.message());
            } else {
                eprintln!("error: {err:#}");
            }
            ExitCode::from(1)
        }
    }
}

/// Opens the vault (creating it first for `init`, and for a `serve` that finds none) and runs
/// the command as the chosen principal.
fn execute(cli: Cli) -> anyhow::Result<()> {
    let paths = home::Paths::of(&cli)?;
    if let Some(query) = &cli.query {
        render::set_query(query);
    }
    match cli.command {
        Command::Init(args) => return home::init(&paths, &args, cli.region.as_deref(), cli.output),
        Command::Components(args) => return components::components(cli.output, args),
        Command::Plugin { command } => return plugin_dev::plugin(command, cli.output),
        Command::Wrapper { command } => return plugin_dev::wrapper(command),
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut command, "kms", &mut script);
            return Ok(std::io::Write::write_all(&mut std::io::stdout(), &script)?);
        }
        _ => {}
    }
    if matches!(cli.command, Command::Serve(_)) {
        // Each request is answered as the principal whose access key signed it, as AWS does.
        if let Some(arn) = &cli.as_principal {
            anyhow::bail!(
                "kms serve answers each request as the principal whose access key signed it; \
                 --as {arn} (or KMS_PRINCIPAL) does not apply to it: unset it, and give that \
                 principal an access key (`kms access-key create {arn}`) to call as it"
            );
        }
        if cli.via_service.is_some() {
            anyhow::bail!(
                "--via-service does not apply to kms serve: each request is answered as the \
                 principal that signed it"
            );
        }
        if cli.output != Output::Text || cli.query.is_some() {
            anyhow::bail!(
                "kms serve prints its address and exports as text; --output {} and --query do \
                 not apply",
                format!("{:?}", cli.output).to_lowercase()
            );
        }
    }
    // `kms serve` works with no set-up: the first run initialises the vault. A shared vault is
    // initialised once, by `kms init --store`, not by whichever node starts first.
    if matches!(cli.command, Command::Serve(_)) && paths.store.is_none() && !paths.vault.exists() {
        eprintln!("kms serve: no vault yet; initialising one");
        home::init(
            &paths,
            &home::InitArgs::default(),
            cli.region.as_deref(),
            Output::Text,
        )?;
    }
    let mut service = home::open_service(&paths)?;
    if let Some(region) = &cli.region {
        service = service.in_region(region)?;
    }
    let mut me = match &cli.as_principal {
        Some(arn) => {
            let me = Caller::principal(arn)?;
            if !service.principal_exists(arn)? {
                anyhow::bail!(
                    "--as {arn}: no such principal in this vault (`kms principal list --account {}` \
                     shows its users and roles; `kms principal create` makes one)",
                    me.account
                );
            }
            me
        }
        None => Caller::account_root(service.account()),
    }
    .via(CallSource::Cli);
    me.via_service = cli.via_service;
    let kms = Invocation {
        service: Arc::new(service),
        me,
        out: cli.output,
    };
    dispatch(&kms, &paths, cli.command)
}

/// Each command to the function that carries it out.
fn dispatch(kms: &Invocation, paths: &home::Paths, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Init(_)
        | Command::Components(_)
        | Command::Completions { .. }
        | Command::Plugin { .. }
        | Command::Wrapper { .. } => {
            unreachable!("`init`, `components` and `completions` run before the vault is opened")
        }
        Command::CreateKey(args) => keys::create_key(kms, args),
        Command::DescribeKey(args) => keys::describe_key(kms, args),
        Command::ReplicateKey(args) => keys::replicate_key(kms, args),
        Command::UpdatePrimaryRegion(args) => keys::update_primary_region(kms, args),
        Command::GetKeyLastUsage(args) => keys::get_key_last_usage(kms, args),
        Command::GetParametersForImport(args) => import::get_parameters_for_import(kms, args),
        Command::ImportKeyMaterial(args) => import::import_key_material(kms, args),
        Command::DeleteImportedKeyMaterial(args) => import::delete_imported_key_material(kms, args),
        Command::ListKeys(args) => keys::list_keys(kms, args),
        Command::UpdateKeyDescription(args) => keys::update_key_description(kms, args),
        Command::EnableKey(args) => keys::enable_key(kms, args),
        Command::DisableKey(args) => keys::disable_key(kms, args),
        Command::ScheduleKeyDeletion(args) => keys::schedule_key_deletion(kms, args),
        Command::CancelKeyDeletion(args) => keys::cancel_key_deletion(kms, args),
        Command::TagResource(args) => keys::tag_resource(kms, args),
        Command::UntagResource(args) => keys::untag_resource(kms, args),
        Command::ListResourceTags(args) => keys::list_resource_tags(kms, args),
        Command::GetKeyPolicy(args) => policies::get_key_policy(kms, args),
        Command::PutKeyPolicy(args) => policies::put_key_policy(kms, args),
        Command::ListKeyPolicies(args) => policies::list_key_policies(kms, args),
        Command::AttachPolicyPlugin(args) => policies::attach_policy_plugin(kms, args),
        Command::RegisterHsmCluster(args) => key_stores::register_hsm_cluster(kms, args),
        Command::XksProxy(args) => xks_proxy::xks_proxy(kms, args),
        Command::CreateCustomKeyStore(args) => key_stores::create_custom_key_store(kms, args),
        Command::DescribeCustomKeyStores(args) => key_stores::describe_custom_key_stores(kms, args),
        Command::UpdateCustomKeyStore(args) => key_stores::update_custom_key_store(kms, args),
        Command::DeleteCustomKeyStore(arg) => key_stores::delete_custom_key_store(kms, arg),
        Command::ConnectCustomKeyStore(arg) => key_stores::connect_custom_key_store(kms, arg),
        Command::DisconnectCustomKeyStore(arg) => key_stores::disconnect_custom_key_store(kms, arg),
        Command::DetachPolicyPlugin(args) => policies::detach_policy_plugin(kms, args),
        Command::ListPolicyPlugins(args) => policies::list_policy_plugins(kms, args),
        Command::CreateAlias(args) => aliases::create_alias(kms, args),
        Command::UpdateAlias(args) => aliases::update_alias(kms, args),
        Command::DeleteAlias(args) => aliases::delete_alias(kms, args),
        Command::ListAliases(args) => aliases::list_aliases(kms, args),
        Command::Encrypt(args) => crypto::encrypt(kms, args),
        Command::Decrypt(args) => crypto::decrypt(kms, args),
        Command::ReEncrypt(args) => crypto::re_encrypt(kms, args),
        Command::GenerateDataKey(args) => crypto::generate_data_key(kms, args),
        Command::GenerateDataKeyWithoutPlaintext(args) => {
            crypto::generate_data_key_without_plaintext(kms, args)
        }
        Command::GenerateRandom(args) => crypto::generate_random(kms, args),
        Command::GenerateMac(args) => crypto::generate_mac(kms, args),
        Command::VerifyMac(args) => crypto::verify_mac(kms, args),
        Command::Sign(args) => asymmetric::sign(kms, args),
        Command::Verify(args) => asymmetric::verify(kms, args),
        Command::GetPublicKey(args) => asymmetric::get_public_key(kms, args),
        Command::DeriveSharedSecret(args) => asymmetric::derive_shared_secret(kms, args),
        Command::GenerateDataKeyPair(args) => asymmetric::generate_data_key_pair(kms, args),
        Command::GenerateDataKeyPairWithoutPlaintext(args) => {
            asymmetric::generate_data_key_pair_without_plaintext(kms, args)
        }
        Command::EnableKeyRotation(args) => rotation::enable_key_rotation(kms, args),
        Command::DisableKeyRotation(args) => rotation::disable_key_rotation(kms, args),
        Command::GetKeyRotationStatus(args) => rotation::get_key_rotation_status(kms, args),
        Command::RotateKeyOnDemand(args) => rotation::rotate_key_on_demand(kms, args),
        Command::ListKeyRotations(args) => rotation::list_key_rotations(kms, args),
        Command::Seal(args) => envelope::seal(kms, args),
        Command::Open(args) => envelope::open(kms, args),
        Command::Audit { command } => audit::audit(kms, command),
        Command::Account { command } => identity::account(kms, command),
        Command::Principal { command } => identity::principal(kms, command),
        Command::AccessKey { command } => identity::access_key(kms, command),
        Command::Analyze(args) => identity::analyze(kms, args),
        Command::CreateGrant(args) => grants::create_grant(kms, args),
        Command::ListGrants(args) => grants::list_grants(kms, args),
        Command::ListRetirableGrants(args) => grants::list_retirable_grants(kms, args),
        Command::RetireGrant(args) => grants::retire_grant(kms, args),
        Command::RevokeGrant(args) => grants::revoke_grant(kms, args),
        Command::Run(args) => run::run(kms, args),
        Command::Serve(args) => serve::serve(kms, args, paths),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every command and every argument says what it is in `--help`.
    #[test]
    fn every_command_and_argument_is_described() {
        fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            let path = format!("{path} {}", command.get_name());
            if command.get_about().is_none() {
                missing.push(format!("{path}: the command"));
            }
            for arg in command.get_arguments() {
                let id = arg.get_id().as_str();
                if matches!(id, "help" | "version") || arg.is_global_set() && path != " kms" {
                    continue;
                }
                if arg
                    .get_help()
                    .is_none_or(|h| h.to_string().trim().is_empty())
                {
                    missing.push(format!("{path}: {id}"));
                }
            }
            for sub in command.get_subcommands() {
                walk(sub, &path, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&<Cli as clap::CommandFactory>::command(), "", &mut missing);
        assert!(missing.is_empty(), "undescribed:\n{}", missing.join("\n"));
    }

    #[test]
    fn an_encryption_context_is_read_as_the_aws_cli_reads_it() {
        let pairs = |s: &str| parse_context(s).map(|p| p.0);
        let owned = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(
            pairs("tenant=acme,env=prod"),
            Ok(owned(&[("tenant", "acme"), ("env", "prod")]))
        );
        assert_eq!(pairs("url=a=b"), Ok(owned(&[("url", "a=b")])));
        assert_eq!(
            pairs(r#"{"tenant":"acme","note":"a,b"}"#),
            Ok(owned(&[("note", "a,b"), ("tenant", "acme")]))
        );
        assert!(pairs("tenant").unwrap_err().contains("key=value"));
        assert!(pairs("a=1,b").unwrap_err().contains("JSON form"));
        assert!(
            pairs(r#"{"a":1}"#)
                .unwrap_err()
                .contains("must be a string")
        );
        assert!(pairs("{not json").unwrap_err().contains("JSON object"));
    }
}
