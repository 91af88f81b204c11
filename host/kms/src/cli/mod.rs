//! The `kms` command line: parses arguments, calls the service façade, prints the answer. Command
//! names mirror `aws kms`; `--output json` prints the AWS-shaped response. No KMS logic lives here.

mod identity;
mod render;

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use clap::{Parser, Subcommand, ValueEnum};
use serde::Serialize;
use zeroize::Zeroizing;

use kms_core::KmsError;
use kms_core::types::{
    DataKeyPairSpec, DataKeySpec, EncryptionAlgorithm, EncryptionContext, KeySpec, KeyUsage,
    MacAlgorithmSpec, MessageType, SigningAlgorithmSpec, Tag,
};
use kms_runtime::{Capabilities, KeyGrant, Runtime, RuntimeConfig, Tenant};
use kms_service::envelope::{self, EnvelopeError};
use kms_service::{self as svc, CallSource, Caller, Service};
use kms_vault::{RootKey, SqliteStore, Vault};

/// Files larger than this get a progress bar on a terminal.
const PROGRESS_THRESHOLD: u64 = 8 << 20;

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
    /// The root key file (default $KMS_HOME/root.key). The KMS_ROOT_KEY environment variable
    /// (64 hex characters) takes precedence.
    #[arg(long, env = "KMS_ROOT_KEY_FILE", global = true)]
    root_key_file: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Text, global = true)]
    output: Output,
    /// Act as this principal (an account root, user or role ARN) instead of the vault
    /// account's root: its key policies, identity policies and grants then decide.
    #[arg(long = "as", env = "KMS_PRINCIPAL", global = true, value_name = "ARN")]
    as_principal: Option<String>,
    /// Act through this AWS service (kms:ViaService), e.g. s3.us-east-1.amazonaws.com.
    #[arg(long, global = true)]
    via_service: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Output {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create the root key file (mode 600) and an empty vault.
    Init {
        /// 12-digit account id that owns the vault's keys.
        #[arg(long, default_value = svc::DEFAULT_ACCOUNT)]
        account: String,
        /// Region of the vault's keys.
        #[arg(long, default_value = svc::DEFAULT_REGION)]
        region: String,
    },
    /// Create a symmetric AES-256-GCM key.
    CreateKey {
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
    },
    /// Print a key's policy.
    GetKeyPolicy { key: String },
    /// Replace a key's policy with a JSON document.
    PutKeyPolicy {
        key: String,
        #[arg(long)]
        policy_file: PathBuf,
        /// Skip the check that you could change the policy again.
        #[arg(long)]
        bypass_policy_lockout_safety_check: bool,
    },
    /// List a key's policy names (always `default`).
    ListKeyPolicies { key: String },
    /// Show a key's metadata.
    DescribeKey { key: String },
    /// List keys.
    ListKeys {
        #[arg(long)]
        limit: Option<u32>,
        #[arg(long)]
        marker: Option<String>,
        /// Follow markers and list every key.
        #[arg(long)]
        all: bool,
    },
    /// Replace a key's description.
    UpdateKeyDescription { key: String, description: String },
    /// Enable a disabled key.
    EnableKey { key: String },
    /// Disable a key.
    DisableKey { key: String },
    /// Schedule a key's deletion after 7–30 days (default 30).
    ScheduleKeyDeletion {
        key: String,
        #[arg(long)]
        pending_window_in_days: Option<u32>,
    },
    /// Cancel a scheduled deletion; the key becomes Disabled.
    CancelKeyDeletion { key: String },
    /// Add or overwrite tags (key=value ...).
    TagResource {
        key: String,
        #[arg(required = true, value_parser = parse_pair)]
        tags: Vec<(String, String)>,
    },
    /// Remove tags by key.
    UntagResource {
        key: String,
        #[arg(required = true)]
        tag_keys: Vec<String>,
    },
    /// List a key's tags.
    ListResourceTags { key: String },
    /// Create an alias (alias/...) for a key.
    CreateAlias { alias: String, key: String },
    /// Point an alias at another key.
    UpdateAlias { alias: String, key: String },
    /// Delete an alias.
    DeleteAlias { alias: String },
    /// List aliases.
    ListAliases {
        #[arg(long)]
        key_id: Option<String>,
        #[arg(long)]
        limit: Option<u32>,
        #[arg(long)]
        marker: Option<String>,
    },
    /// Encrypt up to 4096 bytes; prints the ciphertext blob in base64.
    Encrypt {
        key: String,
        /// Read the plaintext from this file (default: standard input).
        #[arg(long)]
        plaintext_file: Option<PathBuf>,
        #[arg(long = "context", value_parser = parse_pair)]
        context: Vec<(String, String)>,
        /// RSAES_OAEP_SHA_1 or RSAES_OAEP_SHA_256 for RSA keys.
        #[arg(long, value_parser = parse_aws::<EncryptionAlgorithm>)]
        encryption_algorithm: Option<EncryptionAlgorithm>,
        /// Write the raw ciphertext blob to this file instead.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Decrypt a ciphertext blob (raw or base64); prints the plaintext.
    Decrypt {
        /// Read the blob from this file (default: standard input).
        #[arg(long)]
        ciphertext_file: Option<PathBuf>,
        #[arg(long)]
        key_id: Option<String>,
        #[arg(long = "context", value_parser = parse_pair)]
        context: Vec<(String, String)>,
        /// RSAES_OAEP_SHA_1 or RSAES_OAEP_SHA_256 for RSA keys (which need --key-id too).
        #[arg(long, value_parser = parse_aws::<EncryptionAlgorithm>)]
        encryption_algorithm: Option<EncryptionAlgorithm>,
        /// Write the plaintext to this file instead.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Re-encrypt a ciphertext blob under another key without revealing the plaintext.
    ReEncrypt {
        #[arg(long)]
        destination_key_id: String,
        #[arg(long)]
        ciphertext_file: Option<PathBuf>,
        #[arg(long)]
        source_key_id: Option<String>,
        #[arg(long = "source-context", value_parser = parse_pair)]
        source_context: Vec<(String, String)>,
        #[arg(long = "destination-context", value_parser = parse_pair)]
        destination_context: Vec<(String, String)>,
    },
    /// Generate a data key: plaintext and encrypted copy.
    GenerateDataKey(DataKeyArgs),
    /// Generate a data key, encrypted copy only.
    GenerateDataKeyWithoutPlaintext(DataKeyArgs),
    /// Random bytes (1–1024), printed in base64.
    GenerateRandom { number_of_bytes: u32 },
    /// Rotate a key automatically every N days (90–2560, default 365).
    EnableKeyRotation {
        key: String,
        #[arg(long)]
        rotation_period_in_days: Option<u32>,
    },
    /// Stop automatic rotation.
    DisableKeyRotation { key: String },
    /// Show a key's rotation settings.
    GetKeyRotationStatus { key: String },
    /// Rotate a key now.
    RotateKeyOnDemand { key: String },
    /// List a key's completed rotations.
    ListKeyRotations { key: String },
    /// Check or search the audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Envelope-encrypt a file of any size (`-` for standard input/output).
    Seal {
        key: String,
        #[arg(value_name = "INPUT")]
        source: PathBuf,
        #[arg(value_name = "OUTPUT")]
        destination: PathBuf,
        #[arg(long = "context", value_parser = parse_pair)]
        context: Vec<(String, String)>,
        #[arg(long, default_value_t = envelope::DEFAULT_CHUNK_SIZE)]
        chunk_size: u32,
    },
    /// Decrypt an envelope made by `seal`; the output appears only if all of it authenticates.
    Open {
        #[arg(value_name = "INPUT")]
        source: PathBuf,
        #[arg(value_name = "OUTPUT")]
        destination: PathBuf,
        /// Pairs the envelope's encryption context must contain.
        #[arg(long = "context", value_parser = parse_pair)]
        context: Vec<(String, String)>,
    },
    /// Sign a message (up to 4096 bytes), a digest or an ML-DSA mu; prints the signature.
    Sign {
        key: String,
        #[command(flatten)]
        message: MessageArgs,
        #[arg(long, value_parser = parse_aws::<SigningAlgorithmSpec>)]
        signing_algorithm: SigningAlgorithmSpec,
        /// Write the raw signature to this file instead.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Verify a signature (raw or base64); fails with KMSInvalidSignatureException if it does not.
    Verify {
        key: String,
        #[command(flatten)]
        message: MessageArgs,
        #[arg(long, value_parser = parse_aws::<SigningAlgorithmSpec>)]
        signing_algorithm: SigningAlgorithmSpec,
        #[arg(long)]
        signature_file: PathBuf,
    },
    /// Print a key pair's public key and algorithms (`--out` writes the DER).
    GetPublicKey {
        key: String,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Compute the MAC of a message with an HMAC key; prints it.
    GenerateMac {
        key: String,
        /// Read the message from this file (default: standard input).
        #[arg(long)]
        message_file: Option<PathBuf>,
        #[arg(long, value_parser = parse_aws::<MacAlgorithmSpec>)]
        mac_algorithm: MacAlgorithmSpec,
    },
    /// Check a MAC (raw or base64); fails with KMSInvalidMacException if it does not match.
    VerifyMac {
        key: String,
        #[arg(long)]
        message_file: Option<PathBuf>,
        #[arg(long, value_parser = parse_aws::<MacAlgorithmSpec>)]
        mac_algorithm: MacAlgorithmSpec,
        #[arg(long)]
        mac_file: PathBuf,
    },
    /// ECDH between a KEY_AGREEMENT key and a peer's public key (DER file, raw or base64).
    DeriveSharedSecret {
        key: String,
        #[arg(long)]
        public_key_file: PathBuf,
    },
    /// A data key pair: the private key in plaintext and encrypted under a symmetric key.
    GenerateDataKeyPair(DataKeyPairArgs),
    /// A data key pair whose private key is returned only encrypted.
    GenerateDataKeyPairWithoutPlaintext(DataKeyPairArgs),
    /// Run a tenant application component (world kms:vault/tenant-command) in a fresh sandboxed
    /// instance and print what its `run` returns. Arguments after `--` are passed to it.
    Run {
        /// The component file (.wasm).
        component: PathBuf,
        /// The principal it acts for (default: the account's root).
        #[arg(long)]
        principal: Option<String>,
        /// A grant SELECTOR=OPERATIONS, repeatable. Selectors: alias/NAME, alias/PREFIX*,
        /// key/KEY-ID, tag:KEY:VALUE. Operations: all, or a comma list of describe, encrypt,
        /// decrypt, re-encrypt-from, re-encrypt-to, generate-data-key, sign, verify,
        /// get-public-key, generate-mac, verify-mac. Nothing is granted by default.
        #[arg(long = "allow", value_name = "GRANT")]
        grants: Vec<String>,
        /// Let it read data keys' plaintext (kms:vault/reveal).
        #[arg(long)]
        reveal: bool,
        /// Let it call generate-random.
        #[arg(long)]
        random: bool,
        /// A setting name=value it reads through kms:vault/config, repeatable.
        #[arg(long = "config", value_parser = parse_pair)]
        config: Vec<(String, String)>,
        /// Time limit of the call, in milliseconds.
        #[arg(long, default_value_t = 2000)]
        time_limit_ms: u64,
        /// Linear memory limit, in MiB.
        #[arg(long, default_value_t = 64)]
        memory_mib: usize,
        /// Arguments for the component.
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Serve the AWS KMS JSON API over HTTP (SigV4-authenticated) until interrupted.
    Serve {
        /// Address to listen on (loopback by default; port 0 picks a free one).
        #[arg(long, default_value = kms_server::DEFAULT_LISTEN)]
        listen: std::net::SocketAddr,
        /// A request-rate quota CLASS=PER_SECOND per account (classes: symmetric, rsa, ecc,
        /// hmac, management), repeatable.
        #[arg(long = "rate", value_name = "CLASS=RATE")]
        rates: Vec<String>,
        /// The largest request body accepted, in bytes.
        #[arg(long, default_value_t = 16 << 20)]
        max_body_bytes: usize,
        /// Allowed clock difference of signed requests, in seconds.
        #[arg(long, default_value_t = kms_server::sigv4::DEFAULT_MAX_SKEW_SECONDS)]
        max_skew_seconds: u64,
        /// How long a client may take to send a request's headers, in seconds.
        #[arg(long, default_value_t = 30)]
        header_timeout_seconds: u64,
        /// Resource quota: KMS keys in the account.
        #[arg(long, default_value_t = svc::ResourceLimits::default().keys)]
        max_keys: u64,
        /// Resource quota: aliases per KMS key.
        #[arg(long, default_value_t = svc::ResourceLimits::default().aliases_per_key)]
        max_aliases_per_key: usize,
        /// Resource quota: grants per KMS key.
        #[arg(long, default_value_t = svc::ResourceLimits::default().grants_per_key)]
        max_grants_per_key: usize,
    },
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
    CreateGrant(identity::CreateGrantArgs),
    /// List a key's grants.
    ListGrants {
        key: String,
        #[arg(long)]
        grant_id: Option<String>,
        #[arg(long)]
        grantee_principal: Option<String>,
    },
    /// List the grants a principal may retire.
    ListRetirableGrants { retiring_principal: String },
    /// Retire a grant, by token or by key and grant id.
    RetireGrant {
        #[arg(long, conflicts_with_all = ["key", "grant_id"])]
        grant_token: Option<String>,
        #[arg(long, requires = "grant_id")]
        key: Option<String>,
        #[arg(long, requires = "key")]
        grant_id: Option<String>,
    },
    /// Revoke a grant.
    RevokeGrant { key: String, grant_id: String },
    /// Report keys unused for N days, key policies open to anyone, principals with every KMS
    /// permission on keys they are not named to administer, and grants never used.
    Analyze {
        #[arg(long, default_value_t = 90)]
        unused_days: u32,
    },
    /// Attach a policy plugin (world kms:vault/policy-plugin) to a key, or to the account as a
    /// guard-rail that can only deny.
    AttachPolicyPlugin {
        #[command(flatten)]
        scope: PluginScopeArgs,
        /// The attachment's name.
        #[arg(long)]
        name: String,
        /// The component file (.wasm).
        component: PathBuf,
        /// A setting name=value the plugin reads through kms:vault/config, repeatable.
        #[arg(long = "config", value_parser = parse_pair)]
        config: Vec<(String, String)>,
    },
    /// Detach a policy plugin.
    DetachPolicyPlugin {
        #[command(flatten)]
        scope: PluginScopeArgs,
        /// The attachment's name.
        #[arg(long)]
        name: String,
    },
    /// List the policy plugins of a key, or of the account.
    ListPolicyPlugins {
        #[command(flatten)]
        scope: PluginScopeArgs,
    },
}

#[derive(Subcommand, Debug)]
enum AuditCommand {
    /// Walk the hash chain; fails (status 1) at the first edited, removed or reordered record.
    Verify,
    /// Print audit records, oldest first, filtered by any of the options.
    Query {
        /// Key id or ARN (matches the end of the record's key ARN).
        #[arg(long)]
        key: Option<String>,
        /// Principal ARN.
        #[arg(long)]
        principal: Option<String>,
        /// Operation (`Encrypt`, `CreateKey`, `EvaluatePolicyPlugin`, …).
        #[arg(long)]
        operation: Option<String>,
        /// Outcome (`Success`, `AccessDeniedException`, `GuestTrap`, …).
        #[arg(long)]
        outcome: Option<String>,
        /// Only records at or after this time (RFC 3339).
        #[arg(long, value_parser = parse_time)]
        since: Option<u64>,
        /// Only records before this time (RFC 3339).
        #[arg(long, value_parser = parse_time)]
        until: Option<u64>,
        /// At most this many records (the newest ones matching).
        #[arg(long)]
        limit: Option<usize>,
    },
}

fn parse_time(s: &str) -> Result<u64, String> {
    humantime::parse_rfc3339_weak(s)
        .map_err(|e| format!("'{s}' is not an RFC 3339 time: {e}"))?
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .map_err(|e| e.to_string())
}

/// The message of Sign and Verify.
#[derive(clap::Args, Debug)]
struct MessageArgs {
    /// Read the message from this file (default: standard input).
    #[arg(long)]
    message_file: Option<PathBuf>,
    /// RAW (default), DIGEST or EXTERNAL_MU.
    #[arg(long, value_parser = parse_aws::<MessageType>)]
    message_type: Option<MessageType>,
}

#[derive(clap::Args, Debug)]
struct DataKeyPairArgs {
    key: String,
    /// RSA_2048/3072/4096, ECC_NIST_P256/P384/P521 or ECC_SECG_P256K1.
    #[arg(long, value_parser = parse_aws::<DataKeyPairSpec>)]
    key_pair_spec: DataKeyPairSpec,
    #[arg(long = "context", value_parser = parse_pair)]
    context: Vec<(String, String)>,
}

/// Parses an AWS enum value (`RSA_2048`, `ECDSA_SHA_256`, …).
fn parse_aws<T: std::str::FromStr<Err = KmsError>>(s: &str) -> Result<T, String> {
    s.parse().map_err(|e: KmsError| e.message().to_string())
}

/// Which key a policy-plugin command is about; none means the account.
#[derive(clap::Args, Debug)]
struct PluginScopeArgs {
    /// The key (id, ARN, alias); leave out for the account's guard-rails.
    #[arg(long = "key")]
    key: Option<String>,
}

#[derive(clap::Args, Debug)]
struct DataKeyArgs {
    key: String,
    #[arg(long, conflicts_with = "number_of_bytes")]
    key_spec: Option<String>,
    #[arg(long)]
    number_of_bytes: Option<u32>,
    #[arg(long = "context", value_parser = parse_pair)]
    context: Vec<(String, String)>,
}

fn parse_pair(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("expected key=value, got '{s}'"))
}

fn audit(service: &Service, me: &Caller, out: Output, command: AuditCommand) -> anyhow::Result<()> {
    use kms_service::audit::Verification;
    match command {
        AuditCommand::Verify => match service.verify_audit()? {
            Verification::Intact { records } => {
                println!("audit trail intact: {records} records");
                Ok(())
            }
            Verification::Broken { seq, reason } => {
                bail!("audit trail broken at record {seq}: {reason}")
            }
        },
        AuditCommand::Query {
            key,
            principal,
            operation,
            outcome,
            since,
            until,
            limit,
        } => {
            let mut matches = Vec::new();
            let mut after = 0;
            loop {
                let batch = service.lookup_audit_events(me, after, 1000)?;
                let Some((last, _)) = batch.last() else { break };
                after = *last;
                matches.extend(batch.into_iter().filter(|(_, e)| {
                    key.as_deref()
                        .is_none_or(|k| e.key_arn.as_deref().is_some_and(|arn| arn.ends_with(k)))
                        && principal.as_deref().is_none_or(|p| e.principal == p)
                        && operation.as_deref().is_none_or(|o| e.operation == o)
                        && outcome.as_deref().is_none_or(|o| e.outcome == o)
                        && since.is_none_or(|t| e.time >= t)
                        && until.is_none_or(|t| e.time < t)
                }));
            }
            if let Some(limit) = limit {
                let skip = matches.len().saturating_sub(limit);
                matches.drain(..skip);
            }
            match out {
                Output::Json => {
                    let records: Vec<serde_json::Value> = matches
                        .iter()
                        .map(|(seq, e)| {
                            let mut v = serde_json::to_value(e).unwrap_or_default();
                            v["Seq"] = (*seq).into();
                            v
                        })
                        .collect();
                    println!("{}", serde_json::to_string_pretty(&records)?);
                }
                Output::Text => {
                    for (seq, e) in &matches {
                        let when = humantime::format_rfc3339_seconds(
                            std::time::UNIX_EPOCH + std::time::Duration::from_secs(e.time),
                        );
                        println!(
                            "#{seq} {when} {} {} {} {} {}",
                            e.operation,
                            e.outcome,
                            e.principal,
                            e.key_arn.as_deref().unwrap_or("-"),
                            e.source
                        );
                    }
                }
            }
            Ok(())
        }
    }
}

fn read_policy(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

fn data_key_pair_request(args: DataKeyPairArgs) -> anyhow::Result<svc::GenerateDataKeyPairRequest> {
    Ok(svc::GenerateDataKeyPairRequest {
        grant_tokens: Vec::new(),
        key_id: args.key,
        key_pair_spec: Some(args.key_pair_spec),
        encryption_context: context_of(args.context)?,
    })
}

/// Prints one binary result: raw to `file` if given, the whole response with `--output json`,
/// else base64 on a line.
fn emit_blob(
    out: Output,
    file: Option<&Path>,
    response: &impl Serialize,
    bytes: &[u8],
) -> anyhow::Result<()> {
    match (file, out) {
        (Some(path), _) => write_bytes(Some(path), bytes),
        (None, Output::Json) => print(out, response),
        (None, Output::Text) => write_bytes(None, format!("{}\n", B64.encode(bytes)).as_bytes()),
    }
}

/// The caller for an IAM principal ARN (`arn:aws:iam::<account>:…`).
fn principal_caller(arn: &str) -> anyhow::Result<Caller> {
    let account = arn
        .strip_prefix("arn:aws:iam::")
        .and_then(|rest| rest.split(':').next())
        .filter(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| {
            KmsError::Validation(format!(
                "'{arn}' is not an IAM principal ARN (arn:aws:iam::<12-digit account>:<name>)"
            ))
        })?;
    Ok(Caller {
        principal: arn.to_string(),
        account: account.to_string(),
        source: CallSource::Cli,
        via_service: None,
    })
}

fn context_of(pairs: Vec<(String, String)>) -> anyhow::Result<EncryptionContext> {
    Ok(EncryptionContext::from_pairs(pairs)?)
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

struct Paths {
    home: PathBuf,
    vault: PathBuf,
    root_key: PathBuf,
}

fn paths(cli: &Cli) -> anyhow::Result<Paths> {
    let home = match &cli.home {
        Some(h) => h.clone(),
        None => {
            let user_home =
                std::env::var_os("HOME").context("HOME is not set; pass --home or set KMS_HOME")?;
            PathBuf::from(user_home).join(".kms")
        }
    };
    Ok(Paths {
        vault: cli.vault.clone().unwrap_or_else(|| home.join("vault.db")),
        root_key: cli
            .root_key_file
            .clone()
            .unwrap_or_else(|| home.join("root.key")),
        home,
    })
}

fn root_key_from_env() -> anyhow::Result<Option<RootKey>> {
    match std::env::var("KMS_ROOT_KEY") {
        Ok(hex) => Ok(Some(RootKey::from_hex(&Zeroizing::new(hex))?)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(e) => bail!("KMS_ROOT_KEY: {e}"),
    }
}

fn open_service(paths: &Paths) -> anyhow::Result<Service> {
    if !paths.vault.exists() {
        return Err(KmsError::InvalidState(format!(
            "There is no vault at {}; run `kms init` first",
            paths.vault.display()
        ))
        .into());
    }
    let root = match root_key_from_env()? {
        Some(root) => root,
        None => RootKey::load_file(&paths.root_key)?,
    };
    let service = Service::open_sqlite(&paths.vault, root)?;
    service.set_policy_engine(kms_runtime::PluginRunner::lazy_default());
    Ok(service)
}

fn init(paths: &Paths, account: &str, region: &str, out: Output) -> anyhow::Result<()> {
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
    let store = SqliteStore::open(&paths.vault)?;
    let vault = Vault::create(Box::new(store), root.clone(), account, region)?;
    // The administrator: a user allowed everything, with an access key for the HTTP API.
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
    let credentials = paths.home.join("credentials");
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
            vault: paths.vault.display().to_string(),
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

fn serve(service: Service, config: kms_server::ServerConfig, paths: &Paths) -> anyhow::Result<()> {
    let region = service.region().to_string();
    let account = service.account().to_string();
    let server = kms_server::Server::bind(Arc::new(service), config)?;
    let addr = server.local_addr()?;
    let credentials = paths.home.join("credentials");
    {
        let mut stdout = io::stdout().lock();
        writeln!(
            stdout,
            "kms serve: listening on http://{addr} (account {account}, region {region})"
        )?;
        writeln!(stdout, "Point the aws CLI at it:")?;
        writeln!(
            stdout,
            "  AWS_SHARED_CREDENTIALS_FILE={} aws kms list-keys --endpoint-url http://{addr} --region {region}",
            credentials.display()
        )?;
        stdout.flush()?;
    }
    server.run(kms_server::shutdown_signal())?;
    eprintln!("kms serve: stopped");
    Ok(())
}

fn print(out: Output, value: &impl Serialize) -> anyhow::Result<()> {
    let json = serde_json::to_value(value)?;
    let text = match out {
        Output::Json => serde_json::to_string_pretty(&json)?,
        Output::Text => render::text(&json),
    };
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "{}", text.trim_end())?;
    Ok(())
}

/// Reads a whole (small) input: a file, or standard input.
fn read_input(file: Option<&Path>) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    let mut buf = Zeroizing::new(Vec::new());
    match file {
        Some(path) => {
            File::open(path)
                .with_context(|| format!("cannot open {}", path.display()))?
                .read_to_end(&mut buf)?;
        }
        None => {
            io::stdin().lock().read_to_end(&mut buf)?;
        }
    }
    Ok(buf)
}

/// A ciphertext blob given raw or in base64 (whitespace ignored).
fn read_blob(file: Option<&Path>) -> anyhow::Result<Vec<u8>> {
    let raw = read_input(file)?;
    if let Ok(text) = std::str::from_utf8(&raw) {
        let compact: String = text.split_whitespace().collect();
        if let Ok(decoded) = B64.decode(compact.as_bytes()) {
            return Ok(decoded);
        }
    }
    Ok(raw.to_vec())
}

fn write_bytes(out: Option<&Path>, bytes: &[u8]) -> anyhow::Result<()> {
    match out {
        Some(path) => atomic_write(path, |w| Ok(w.write_all(bytes)?)),
        None => {
            let mut stdout = io::stdout().lock();
            stdout.write_all(bytes)?;
            stdout.flush()?;
            Ok(())
        }
    }
}

/// Writes `path` through a temporary file in the same directory, renamed into place only if
/// `fill` succeeds; on failure the temporary file is removed and `path` is untouched.
fn atomic_write(
    path: &Path,
    fill: impl FnOnce(&mut BufWriter<File>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .context("the output path has no file name")?;
    let temp = dir.join(format!(
        ".{}.partial-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let file =
            File::create(&temp).with_context(|| format!("cannot create {}", temp.display()))?;
        let mut writer = BufWriter::new(file);
        fill(&mut writer)?;
        let file = writer.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(&temp, path).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

fn progress_bar(input: &Path) -> indicatif::ProgressBar {
    let len = std::fs::metadata(input).map(|m| m.len()).unwrap_or(0);
    if input == Path::new("-") || len < PROGRESS_THRESHOLD {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(len),
        indicatif::ProgressDrawTarget::stderr(),
    );
    if let Ok(style) = indicatif::ProgressStyle::default_bar()
        .template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
    {
        bar.set_style(style);
    }
    bar
}

fn open_reader(path: &Path) -> anyhow::Result<Box<dyn Read>> {
    if path == Path::new("-") {
        Ok(Box::new(io::stdin().lock()))
    } else {
        let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        Ok(Box::new(BufReader::with_capacity(1 << 20, file)))
    }
}

/// Runs a streaming envelope operation from `source` into `destination` (a file written
/// atomically, or stdout for `-`), with a progress bar for large files; prints its summary.
fn run_envelope(
    source: &Path,
    destination: &Path,
    op: impl FnOnce(&mut dyn Read, &mut dyn Write, &mut dyn FnMut(u64)) -> Result<String, EnvelopeError>,
) -> anyhow::Result<()> {
    let bar = progress_bar(source);
    let mut reader = open_reader(source)?;
    let mut progress = |done| bar.set_position(done);
    let summary = if destination == Path::new("-") {
        let mut stdout = io::stdout().lock();
        op(&mut reader, &mut stdout, &mut progress).map_err(envelope_error)?
    } else {
        let mut summary = String::new();
        atomic_write(destination, |w| {
            summary = op(&mut reader, w, &mut progress).map_err(envelope_error)?;
            Ok(())
        })?;
        summary
    };
    bar.finish_and_clear();
    eprintln!("{summary}");
    Ok(())
}

fn envelope_error(e: EnvelopeError) -> anyhow::Error {
    match e {
        EnvelopeError::Kms(kms) => kms.into(),
        other => anyhow::anyhow!(other),
    }
}

fn data_key_request(args: DataKeyArgs) -> anyhow::Result<svc::GenerateDataKeyRequest> {
    let key_spec = args
        .key_spec
        .map(|s| s.parse::<DataKeySpec>())
        .transpose()?;
    let key_spec = if key_spec.is_none() && args.number_of_bytes.is_none() {
        Some(DataKeySpec::Aes256)
    } else {
        key_spec
    };
    Ok(svc::GenerateDataKeyRequest {
        grant_tokens: Vec::new(),
        key_id: args.key,
        key_spec,
        number_of_bytes: args.number_of_bytes,
        encryption_context: context_of(args.context)?,
    })
}

fn execute(cli: Cli) -> anyhow::Result<()> {
    let paths = paths(&cli)?;
    let out = cli.output;
    if let Command::Init { account, region } = &cli.command {
        return init(&paths, account, region, out);
    }
    // `kms serve` works with no set-up: the first run initialises the vault.
    if matches!(cli.command, Command::Serve { .. }) && !paths.vault.exists() {
        eprintln!("kms serve: no vault yet; initialising one");
        init(
            &paths,
            svc::DEFAULT_ACCOUNT,
            svc::DEFAULT_REGION,
            Output::Text,
        )?;
    }
    let service = open_service(&paths)?;
    let mut me = match &cli.as_principal {
        Some(arn) => Caller::principal(arn)?,
        None => Caller::account_root(service.account()),
    }
    .via(CallSource::Cli);
    me.via_service = cli.via_service.clone();
    let me = &me;
    let key_req = |key: String| svc::KeyRequest::new(key);
    match cli.command {
        Command::Init { .. } => unreachable!("handled above"),
        Command::Serve {
            listen,
            rates,
            max_body_bytes,
            max_skew_seconds,
            header_timeout_seconds,
            max_keys,
            max_aliases_per_key,
            max_grants_per_key,
        } => {
            let mut config = kms_server::ServerConfig {
                listen,
                max_body_bytes,
                max_skew_seconds,
                header_timeout: std::time::Duration::from_secs(header_timeout_seconds.max(1)),
                ..Default::default()
            };
            for rate in &rates {
                config.rates.set(rate).map_err(anyhow::Error::msg)?;
            }
            service.set_resource_limits(svc::ResourceLimits {
                keys: max_keys,
                aliases_per_key: max_aliases_per_key,
                grants_per_key: max_grants_per_key,
            });
            serve(service, config, &paths)
        }
        Command::Account { command } => identity::account(&service, me, out, command),
        Command::Principal { command } => identity::principal(&service, me, out, command),
        Command::AccessKey { command } => identity::access_key(&service, me, out, command),
        Command::CreateGrant(args) => identity::create_grant(&service, me, out, args),
        Command::ListGrants {
            key,
            grant_id,
            grantee_principal,
        } => print(
            out,
            &service.list_grants(
                me,
                svc::ListGrantsRequest {
                    key_id: key,
                    grant_id,
                    grantee_principal,
                    limit: Some(100),
                    marker: None,
                },
            )?,
        ),
        Command::ListRetirableGrants { retiring_principal } => print(
            out,
            &service.list_retirable_grants(
                me,
                svc::ListRetirableGrantsRequest {
                    retiring_principal,
                    limit: Some(100),
                    marker: None,
                },
            )?,
        ),
        Command::RetireGrant {
            grant_token,
            key,
            grant_id,
        } => Ok(service.retire_grant(
            me,
            svc::RetireGrantRequest {
                grant_token,
                key_id: key,
                grant_id,
                dry_run: false,
            },
        )?),
        Command::RevokeGrant { key, grant_id } => Ok(service.revoke_grant(
            me,
            svc::RevokeGrantRequest {
                key_id: key,
                grant_id,
                dry_run: false,
            },
        )?),
        Command::Analyze { unused_days } => print(out, &service.analyze(me, unused_days)?),
        Command::CreateKey {
            description,
            tags,
            key_spec,
            key_usage,
            policy_file,
            bypass_policy_lockout_safety_check,
        } => print(
            out,
            &service.create_key(
                me,
                svc::CreateKeyRequest {
                    description,
                    key_spec,
                    key_usage,
                    policy: policy_file.as_deref().map(read_policy).transpose()?,
                    bypass_policy_lockout_safety_check: Some(bypass_policy_lockout_safety_check),
                    tags: tags
                        .into_iter()
                        .map(|(tag_key, tag_value)| Tag { tag_key, tag_value })
                        .collect(),
                    ..Default::default()
                },
            )?,
        ),
        Command::DescribeKey { key } => print(out, &service.describe_key(me, key_req(key))?),
        Command::GetKeyPolicy { key } => {
            let policy = service.get_key_policy(
                me,
                svc::KeyPolicyRequest {
                    key_id: key,
                    policy_name: None,
                },
            )?;
            match out {
                Output::Json => print(out, &policy),
                Output::Text => write_bytes(None, format!("{}\n", policy.policy).as_bytes()),
            }
        }
        Command::PutKeyPolicy {
            key,
            policy_file,
            bypass_policy_lockout_safety_check,
        } => Ok(service.put_key_policy(
            me,
            svc::PutKeyPolicyRequest {
                key_id: key,
                policy_name: None,
                policy: read_policy(&policy_file)?,
                bypass_policy_lockout_safety_check,
            },
        )?),
        Command::ListKeyPolicies { key } => print(
            out,
            &service.list_key_policies(
                me,
                svc::KeyPolicyRequest {
                    key_id: key,
                    policy_name: None,
                },
            )?,
        ),
        Command::ListKeys { limit, marker, all } => {
            let mut page = service.list_keys(me, svc::ListKeysRequest { limit, marker })?;
            if all {
                while page.truncated {
                    let next = service.list_keys(
                        me,
                        svc::ListKeysRequest {
                            limit,
                            marker: page.next_marker.take(),
                        },
                    )?;
                    page.keys.extend(next.keys);
                    page.truncated = next.truncated;
                    page.next_marker = next.next_marker;
                }
            }
            print(out, &page)
        }
        Command::UpdateKeyDescription { key, description } => {
            service.update_key_description(
                me,
                svc::UpdateKeyDescriptionRequest {
                    key_id: key,
                    description,
                },
            )?;
            Ok(())
        }
        Command::EnableKey { key } => Ok(service.enable_key(me, key_req(key))?),
        Command::DisableKey { key } => Ok(service.disable_key(me, key_req(key))?),
        Command::ScheduleKeyDeletion {
            key,
            pending_window_in_days,
        } => print(
            out,
            &service.schedule_key_deletion(
                me,
                svc::ScheduleKeyDeletionRequest {
                    key_id: key,
                    pending_window_in_days,
                },
            )?,
        ),
        Command::CancelKeyDeletion { key } => {
            print(out, &service.cancel_key_deletion(me, key_req(key))?)
        }
        Command::TagResource { key, tags } => Ok(service.tag_resource(
            me,
            svc::TagResourceRequest {
                key_id: key,
                tags: tags
                    .into_iter()
                    .map(|(tag_key, tag_value)| Tag { tag_key, tag_value })
                    .collect(),
            },
        )?),
        Command::UntagResource { key, tag_keys } => Ok(service.untag_resource(
            me,
            svc::UntagResourceRequest {
                key_id: key,
                tag_keys,
            },
        )?),
        Command::ListResourceTags { key } => print(
            out,
            &service.list_resource_tags(me, svc::ListForKeyRequest::new(key))?,
        ),
        Command::CreateAlias { alias, key } => Ok(service.create_alias(
            me,
            svc::AliasRequest {
                alias_name: alias,
                target_key_id: key,
            },
        )?),
        Command::UpdateAlias { alias, key } => Ok(service.update_alias(
            me,
            svc::AliasRequest {
                alias_name: alias,
                target_key_id: key,
            },
        )?),
        Command::DeleteAlias { alias } => {
            Ok(service.delete_alias(me, svc::DeleteAliasRequest { alias_name: alias })?)
        }
        Command::ListAliases {
            key_id,
            limit,
            marker,
        } => print(
            out,
            &service.list_aliases(
                me,
                svc::ListAliasesRequest {
                    key_id,
                    limit,
                    marker,
                },
            )?,
        ),
        Command::Encrypt {
            key,
            plaintext_file,
            context,
            encryption_algorithm,
            out: out_file,
        } => {
            let plaintext = read_input(plaintext_file.as_deref())?;
            let req = svc::EncryptRequest {
                grant_tokens: Vec::new(),
                key_id: key,
                plaintext,
                encryption_context: context_of(context)?,
                encryption_algorithm,
            };
            let resp = service.encrypt(me, req)?;
            match (out_file, out) {
                (Some(path), _) => write_bytes(Some(&path), &resp.ciphertext_blob),
                (None, Output::Json) => print(out, &resp),
                (None, Output::Text) => write_bytes(
                    None,
                    format!("{}\n", B64.encode(&resp.ciphertext_blob)).as_bytes(),
                ),
            }
        }
        Command::Decrypt {
            ciphertext_file,
            key_id,
            context,
            encryption_algorithm,
            out: out_file,
        } => {
            let req = svc::DecryptRequest {
                grant_tokens: Vec::new(),
                ciphertext_blob: read_blob(ciphertext_file.as_deref())?,
                encryption_context: context_of(context)?,
                key_id,
                encryption_algorithm,
            };
            let resp = service.decrypt(me, req)?;
            match (out_file, out) {
                (Some(path), _) => write_bytes(Some(&path), &resp.plaintext),
                (None, Output::Json) => print(out, &resp),
                (None, Output::Text) => write_bytes(None, &resp.plaintext),
            }
        }
        Command::ReEncrypt {
            destination_key_id,
            ciphertext_file,
            source_key_id,
            source_context,
            destination_context,
        } => {
            let resp = service.re_encrypt(
                me,
                svc::ReEncryptRequest {
                    ciphertext_blob: read_blob(ciphertext_file.as_deref())?,
                    source_encryption_context: context_of(source_context)?,
                    source_key_id,
                    destination_key_id,
                    destination_encryption_context: context_of(destination_context)?,
                    ..Default::default()
                },
            )?;
            match out {
                Output::Json => print(out, &resp),
                Output::Text => write_bytes(
                    None,
                    format!("{}\n", B64.encode(&resp.ciphertext_blob)).as_bytes(),
                ),
            }
        }
        Command::GenerateDataKey(args) => print(
            out,
            &service.generate_data_key(me, data_key_request(args)?)?,
        ),
        Command::GenerateDataKeyWithoutPlaintext(args) => print(
            out,
            &service.generate_data_key_without_plaintext(me, data_key_request(args)?)?,
        ),
        Command::GenerateRandom { number_of_bytes } => {
            let resp = service.generate_random(
                me,
                svc::GenerateRandomRequest {
                    number_of_bytes: Some(number_of_bytes),
                },
            )?;
            match out {
                Output::Json => print(out, &resp),
                Output::Text => write_bytes(
                    None,
                    format!("{}\n", B64.encode(&resp.plaintext)).as_bytes(),
                ),
            }
        }
        Command::EnableKeyRotation {
            key,
            rotation_period_in_days,
        } => Ok(service.enable_key_rotation(
            me,
            svc::EnableKeyRotationRequest {
                key_id: key,
                rotation_period_in_days,
            },
        )?),
        Command::DisableKeyRotation { key } => Ok(service.disable_key_rotation(me, key_req(key))?),
        Command::GetKeyRotationStatus { key } => {
            print(out, &service.get_key_rotation_status(me, key_req(key))?)
        }
        Command::RotateKeyOnDemand { key } => {
            print(out, &service.rotate_key_on_demand(me, key_req(key))?)
        }
        Command::ListKeyRotations { key } => print(
            out,
            &service.list_key_rotations(me, svc::ListForKeyRequest::new(key))?,
        ),
        Command::Audit { command } => audit(&service, me, out, command),
        Command::Seal {
            key,
            source,
            destination,
            context,
            chunk_size,
        } => {
            let context = context_of(context)?;
            run_envelope(&source, &destination, |reader, writer, progress| {
                let s = envelope::seal(
                    &service, me, &key, &context, reader, writer, chunk_size, progress,
                )?;
                Ok(format!(
                    "sealed {} bytes under {} into {} bytes",
                    s.plaintext_bytes, s.key_arn, s.envelope_bytes
                ))
            })
        }
        Command::Sign {
            key,
            message,
            signing_algorithm,
            out: out_file,
        } => {
            let resp = service.sign(
                me,
                svc::SignRequest {
                    grant_tokens: Vec::new(),
                    key_id: key,
                    message: read_input(message.message_file.as_deref())?.to_vec(),
                    message_type: message.message_type,
                    signing_algorithm: Some(signing_algorithm),
                },
            )?;
            emit_blob(out, out_file.as_deref(), &resp, &resp.signature)
        }
        Command::Verify {
            key,
            message,
            signing_algorithm,
            signature_file,
        } => print(
            out,
            &service.verify(
                me,
                svc::VerifyRequest {
                    grant_tokens: Vec::new(),
                    key_id: key,
                    message: read_input(message.message_file.as_deref())?.to_vec(),
                    message_type: message.message_type,
                    signature: read_blob(Some(&signature_file))?,
                    signing_algorithm: Some(signing_algorithm),
                },
            )?,
        ),
        Command::GetPublicKey { key, out: out_file } => {
            let resp = service.get_public_key(me, key_req(key))?;
            match out_file {
                Some(path) => write_bytes(Some(&path), &resp.public_key),
                None => print(out, &resp),
            }
        }
        Command::GenerateMac {
            key,
            message_file,
            mac_algorithm,
        } => {
            let resp = service.generate_mac(
                me,
                svc::GenerateMacRequest {
                    grant_tokens: Vec::new(),
                    key_id: key,
                    message: read_input(message_file.as_deref())?.to_vec(),
                    mac_algorithm: Some(mac_algorithm),
                },
            )?;
            emit_blob(out, None, &resp, &resp.mac)
        }
        Command::VerifyMac {
            key,
            message_file,
            mac_algorithm,
            mac_file,
        } => print(
            out,
            &service.verify_mac(
                me,
                svc::VerifyMacRequest {
                    grant_tokens: Vec::new(),
                    key_id: key,
                    message: read_input(message_file.as_deref())?.to_vec(),
                    mac: read_blob(Some(&mac_file))?,
                    mac_algorithm: Some(mac_algorithm),
                },
            )?,
        ),
        Command::DeriveSharedSecret {
            key,
            public_key_file,
        } => {
            let resp = service.derive_shared_secret(
                me,
                svc::DeriveSharedSecretRequest {
                    grant_tokens: Vec::new(),
                    key_id: key,
                    key_agreement_algorithm: Some(kms_core::types::KeyAgreementAlgorithmSpec::Ecdh),
                    public_key: read_blob(Some(&public_key_file))?,
                },
            )?;
            emit_blob(out, None, &resp, &resp.shared_secret)
        }
        Command::GenerateDataKeyPair(args) => print(
            out,
            &service.generate_data_key_pair(me, data_key_pair_request(args)?)?,
        ),
        Command::GenerateDataKeyPairWithoutPlaintext(args) => print(
            out,
            &service.generate_data_key_pair_without_plaintext(me, data_key_pair_request(args)?)?,
        ),
        Command::Run {
            component,
            principal,
            grants,
            reveal,
            random,
            config,
            time_limit_ms,
            memory_mib,
            args,
        } => {
            let caller = match principal {
                Some(arn) => principal_caller(&arn)?,
                None => Caller::account_root(service.account()),
            };
            let mut capabilities = Capabilities::builder();
            for grant in grants {
                capabilities = capabilities.grant(grant.parse::<KeyGrant>()?);
            }
            if reveal {
                capabilities = capabilities.allow_reveal();
            }
            if random {
                capabilities = capabilities.allow_random();
            }
            let mut tenant = Tenant::new(caller, capabilities.build());
            tenant.config = config.into_iter().collect();
            let bytes = std::fs::read(&component)
                .with_context(|| format!("reading {}", component.display()))?;
            let runtime = Runtime::new(
                Arc::new(service),
                RuntimeConfig {
                    call_time_limit: Duration::from_millis(time_limit_ms),
                    max_memory_bytes: memory_mib << 20,
                    pooling: false,
                    ..RuntimeConfig::default()
                },
            )?;
            let loaded = runtime.load(&bytes)?;
            match runtime.run(&loaded, &tenant, &args)? {
                Ok(report) => {
                    println!("{report}");
                    Ok(())
                }
                Err(message) => bail!("the component failed: {message}"),
            }
        }
        Command::AttachPolicyPlugin {
            scope,
            name,
            component,
            config,
        } => {
            let bytes = std::fs::read(&component)
                .with_context(|| format!("reading {}", component.display()))?;
            print(
                out,
                &service.attach_policy_plugin(
                    me,
                    svc::AttachPolicyPluginRequest {
                        key_id: scope.key,
                        plugin_name: name,
                        component: bytes,
                        config: config.into_iter().collect(),
                    },
                )?,
            )
        }
        Command::DetachPolicyPlugin { scope, name } => Ok(service.detach_policy_plugin(
            me,
            svc::PolicyPluginScopeRequest {
                key_id: scope.key,
                plugin_name: name,
            },
        )?),
        Command::ListPolicyPlugins { scope } => print(
            out,
            &service.list_policy_plugins(
                me,
                svc::PolicyPluginScopeRequest {
                    key_id: scope.key,
                    plugin_name: String::new(),
                },
            )?,
        ),
        Command::Open {
            source,
            destination,
            context,
        } => {
            let required = context_of(context)?;
            let required = (!required.is_empty()).then_some(required);
            run_envelope(&source, &destination, |reader, writer, progress| {
                let s = envelope::open(&service, me, required.as_ref(), reader, writer, progress)?;
                Ok(format!(
                    "opened {} bytes sealed under {}",
                    s.plaintext_bytes, s.key_arn
                ))
            })
        }
    }
}
