//! Plugin authors' workflow, with no vault: `kms plugin eval` runs a policy plugin on one
//! request written as JSON and prints its verdict; `kms plugin test CASES.json` runs a table of
//! requests with the verdicts expected, prints each mismatch as a diff and exits non-zero if any.
//! Both run the component in the same sandbox, with the same limits, as the host does when the
//! plugin is attached to a key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Subcommand;
use serde::{Deserialize, Serialize};

use super::files::read_component;
use super::render::print;
use super::{Output, parse_pair};
use kms_authz::{PluginVerdict, PolicyEngine, PolicyRequest};
use kms_runtime::{PluginRunner, RuntimeConfig};
use kms_vault::{PluginAttachment, PluginScope};

#[derive(Subcommand, Debug)]
pub(super) enum PluginCommand {
    /// Run a policy plugin on one request (JSON: Principal, Action, KeyArn, KeyTags,
    /// EncryptionContext, ViaService, Time) and print its verdict.
    Eval {
        /// The component (a .wasm file, or stock:NAME).
        #[arg(long)]
        component: PathBuf,
        /// The request: a JSON file, or the JSON itself.
        #[arg(long)]
        request: String,
        /// A setting the plugin reads through kms:vault/config, as name=value (repeatable).
        #[arg(long = "config", value_parser = parse_pair)]
        config: Vec<(String, String)>,
    },
    /// Run a table of requests with expected verdicts (CASES.json: Component, Config, Cases of
    /// Name, Request, Expect and optionally Reason and Config); exits 1 if a verdict differs.
    Test {
        /// The cases file.
        cases: PathBuf,
        /// The component, instead of the file's Component (resolved beside the file).
        #[arg(long)]
        component: Option<PathBuf>,
    },
}

/// Data-key wrapper authors' tool, with no vault.
#[derive(Subcommand, Debug)]
pub(super) enum WrapperCommand {
    /// Seal and open through a data-key wrapper in a scratch KMS: every plaintext must come back
    /// as it went in, a different encryption context must be refused, and so must a tampered
    /// envelope. Exits 1 if any check fails.
    Test {
        /// The component (a .wasm file, or stock:NAME).
        #[arg(long)]
        component: PathBuf,
        /// A plaintext to round-trip (repeatable; default: empty, 1 byte, 4 KiB and 1 MiB).
        #[arg(long = "plaintext")]
        plaintexts: Vec<String>,
        /// The encryption context, as name=value (repeatable).
        #[arg(long = "context", value_parser = parse_pair)]
        context: Vec<(String, String)>,
        /// A setting the wrapper reads through kms:vault/config, as name=value (repeatable).
        #[arg(long = "config", value_parser = parse_pair)]
        config: Vec<(String, String)>,
    },
}

/// A check that `open` refused: `opened` says what it did instead.
fn refused(
    answer: Result<Result<Vec<u8>, kms_core::KmsError>, kms_runtime::RunError>,
    opened: &str,
) -> Result<(), String> {
    match answer {
        Ok(Err(_)) => Ok(()),
        Ok(Ok(_)) => Err(opened.to_string()),
        Err(e) => Err(format!("the host stopped it: {e}")),
    }
}

pub(super) fn wrapper(command: WrapperCommand) -> anyhow::Result<()> {
    let WrapperCommand::Test {
        component,
        plaintexts,
        context,
        config,
    } = command;
    let kms = kms_testkit::Scratch::new();
    kms.alias(
        "alias/wrapper-test",
        &kms.key(kms_testkit::KeySpec::SymmetricDefault),
    );
    let mut tenant = kms.tenant(kms.root(), &["alias/wrapper-test=all"]);
    for (name, value) in config {
        tenant = tenant.with_config(name, value);
    }
    let loaded = kms
        .load(&read_component(&component)?)
        .map_err(|e| anyhow::anyhow!("{} is not a data-key wrapper: {e}", component.display()))?;
    let mut session = kms
        .wrapper(&loaded, &tenant)
        .map_err(|e| anyhow::anyhow!("the wrapper does not start: {e}"))?;
    let context = kms_core::types::EncryptionContext::from_pairs(context.clone())?;
    let other = kms_core::types::EncryptionContext::from_pairs([("wrapper-test", "another")])?;
    let plaintexts: Vec<Vec<u8>> = if plaintexts.is_empty() {
        vec![
            Vec::new(),
            vec![0x5a],
            vec![0x42; 4096],
            vec![0x17; 1 << 20],
        ]
    } else {
        plaintexts.into_iter().map(String::into_bytes).collect()
    };
    let started = Instant::now();
    let mut failed = 0;
    let mut check = |name: String, outcome: Result<(), String>| match outcome {
        Ok(()) => println!("ok      {name}"),
        Err(why) => {
            failed += 1;
            println!("FAILED  {name}\n  {why}");
        }
    };
    for plaintext in &plaintexts {
        let what = format!("{} bytes", plaintext.len());
        let sealed = match session.seal("alias/wrapper-test", plaintext, &context) {
            Ok(Ok(sealed)) => sealed,
            Ok(Err(e)) => {
                check(format!("seal {what}"), Err(format!("refused: {e}")));
                continue;
            }
            Err(e) => {
                check(
                    format!("seal {what}"),
                    Err(format!("the host stopped it: {e}")),
                );
                break;
            }
        };
        check(
            format!("round trip of {what}"),
            match session.open(&sealed, &context) {
                Ok(Ok(opened)) if &opened == plaintext => Ok(()),
                Ok(Ok(opened)) => Err(format!(
                    "- sealed {} bytes\n  + opened {} other bytes",
                    plaintext.len(),
                    opened.len()
                )),
                Ok(Err(e)) => Err(format!("open refused: {e}")),
                Err(e) => Err(format!("the host stopped it: {e}")),
            },
        );
        check(
            format!("{what} with another context is refused"),
            refused(
                session.open(&sealed, &other),
                "opened under another encryption context",
            ),
        );
        let mut tampered = sealed.clone();
        if let Some(last) = tampered.last_mut() {
            *last ^= 1;
        }
        check(
            format!("{what} tampered is refused"),
            refused(
                session.open(&tampered, &context),
                "opened a tampered envelope",
            ),
        );
    }
    println!(
        "{failed} failed; {} plaintexts in {:.1} ms",
        plaintexts.len(),
        started.elapsed().as_secs_f64() * 1000.0
    );
    if failed > 0 {
        bail!("{failed} checks of the wrapper failed");
    }
    Ok(())
}

/// A request as authors write it; everything but the action has a default.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct RequestFile {
    #[serde(default = "default_principal")]
    principal: String,
    #[serde(default)]
    account: Option<String>,
    action: String,
    #[serde(default = "default_key_arn")]
    key_arn: String,
    #[serde(default)]
    key_tags: BTreeMap<String, String>,
    #[serde(default)]
    encryption_context: BTreeMap<String, String>,
    #[serde(default)]
    via_service: Option<String>,
    #[serde(default)]
    time: Option<u64>,
}

fn default_principal() -> String {
    "arn:aws:iam::111122223333:user/alice".into()
}

fn default_key_arn() -> String {
    "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab".into()
}

impl RequestFile {
    fn policy_request(self) -> PolicyRequest {
        let account = self.account.unwrap_or_else(|| {
            self.principal
                .split(':')
                .nth(4)
                .unwrap_or_default()
                .to_string()
        });
        PolicyRequest {
            principal: self.principal,
            account,
            action: self.action,
            key_arn: self.key_arn,
            key_tags: self.key_tags.into_iter().collect(),
            encryption_context: self.encryption_context.into_iter().collect(),
            via_service: self.via_service,
            time: self.time.unwrap_or_else(now),
        }
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// A table of cases.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct CasesFile {
    #[serde(default)]
    component: Option<PathBuf>,
    #[serde(default)]
    config: BTreeMap<String, String>,
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct Case {
    name: String,
    request: RequestFile,
    /// `Allow`, `Deny`, `Abstain` or `Failed`.
    expect: String,
    /// A part of the reason a `Deny` or `Failed` must give.
    #[serde(default)]
    reason: Option<String>,
    /// Settings for this case, over the file's `Config`.
    #[serde(default)]
    config: BTreeMap<String, String>,
}

/// A verdict as printed.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Verdict {
    verdict: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

fn verdict(answer: &PluginVerdict) -> Verdict {
    match answer {
        PluginVerdict::Allow => Verdict {
            verdict: "Allow",
            reason: None,
        },
        PluginVerdict::Deny(reason) => Verdict {
            verdict: "Deny",
            reason: Some(reason.clone()),
        },
        PluginVerdict::Abstain => Verdict {
            verdict: "Abstain",
            reason: None,
        },
        PluginVerdict::Failed(why) => Verdict {
            verdict: "Failed",
            reason: Some(why.clone()),
        },
    }
}

/// The plugin as the host runs it when attached to a key.
fn attachment(
    component: &Path,
    config: BTreeMap<String, String>,
) -> anyhow::Result<PluginAttachment> {
    let bytes = read_component(component)?;
    Ok(PluginAttachment {
        scope: PluginScope::Account("111122223333".into()),
        name: component.display().to_string(),
        digest: kms_service::component_digest(&bytes),
        component: bytes,
        config,
        attached_at: now(),
    })
}

fn runner() -> anyhow::Result<PluginRunner> {
    // Every case is a fresh decision: nothing remembered from the one before.
    let config = RuntimeConfig {
        plugin_verdict_cache: 0,
        ..RuntimeConfig::default()
    };
    PluginRunner::new(config).map_err(|e| anyhow::anyhow!("cannot start the runtime: {e:#}"))
}

/// A JSON argument: a file's contents, or the JSON itself.
fn json_arg(value: &str) -> anyhow::Result<String> {
    if value.trim_start().starts_with('{') {
        return Ok(value.to_string());
    }
    std::fs::read_to_string(value).with_context(|| format!("cannot read {value}"))
}

pub(super) fn plugin(command: PluginCommand, out: Output) -> anyhow::Result<()> {
    match command {
        PluginCommand::Eval {
            component,
            request,
            config,
        } => {
            let request: RequestFile = serde_json::from_str(&json_arg(&request)?)
                .context("the request is not a policy request (Principal, Action, KeyArn, …)")?;
            let plugin = attachment(&component, config.into_iter().collect())?;
            let answer = runner()?.evaluate(&plugin, &request.policy_request());
            print(out, &verdict(&answer))
        }
        PluginCommand::Test { cases, component } => test(&cases, component.as_deref()),
    }
}

fn test(cases_path: &Path, component: Option<&Path>) -> anyhow::Result<()> {
    let file: CasesFile = serde_json::from_str(
        &std::fs::read_to_string(cases_path)
            .with_context(|| format!("cannot read {}", cases_path.display()))?,
    )
    .with_context(|| format!("{} is not a table of cases", cases_path.display()))?;
    let component = match (component, &file.component) {
        (Some(c), _) => c.to_path_buf(),
        (None, Some(c)) if c.to_string_lossy().starts_with("stock:") => c.clone(),
        (None, Some(c)) => cases_path.parent().unwrap_or(Path::new(".")).join(c),
        (None, None) => bail!("no component: give --component or the file's Component"),
    };
    let plugin = attachment(&component, file.config.clone())?;
    let runner = runner()?;
    let started = Instant::now();
    let mut failed = 0;
    for case in &file.cases {
        let answer = if case.config.is_empty() {
            runner.evaluate(&plugin, &case.request.clone().policy_request())
        } else {
            let mut configured = plugin.clone();
            configured.config.extend(case.config.clone());
            runner.evaluate(&configured, &case.request.clone().policy_request())
        };
        let answer = verdict(&answer);
        let verdict_ok = answer.verdict.eq_ignore_ascii_case(&case.expect);
        let reason_ok = case
            .reason
            .as_deref()
            .is_none_or(|wanted| answer.reason.as_deref().is_some_and(|r| r.contains(wanted)));
        if verdict_ok && reason_ok {
            println!("ok      {}", case.name);
            continue;
        }
        failed += 1;
        println!("FAILED  {}", case.name);
        let wanted = case
            .reason
            .as_deref()
            .map(|r| format!(" (reason containing \"{r}\")"))
            .unwrap_or_default();
        println!("  - expected: {}{wanted}", case.expect);
        println!(
            "  + got:      {}{}",
            answer.verdict,
            answer
                .reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        );
    }
    let passed = file.cases.len() - failed;
    println!(
        "{passed} passed, {failed} failed, {} cases in {:.1} ms",
        file.cases.len(),
        started.elapsed().as_secs_f64() * 1000.0
    );
    if failed > 0 {
        bail!("{failed} of {} cases got another verdict", file.cases.len());
    }
    Ok(())
}
