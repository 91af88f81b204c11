//! Commands over who may use a key: its key policy, and the policy plugins attached to it or to
//! the account as guard-rails.

use std::path::PathBuf;

use super::files::{read_component, read_policy, write_bytes};
use super::render::print;
use super::{Invocation, KeyArg, KeyId, Output, parse_pair};
use kms_service as svc;

pub(super) fn get_key_policy(kms: &Invocation, args: KeyArg) -> anyhow::Result<()> {
    let req = svc::KeyPolicyRequest {
        key_id: args.key.get(),
        policy_name: None,
    };
    let policy = kms.service.get_key_policy(&kms.me, req)?;
    match kms.out {
        Output::Json | Output::Table | Output::Yaml => print(kms.out, &policy),
        Output::Text => write_bytes(None, format!("{}\n", policy.policy).as_bytes()),
    }
}

#[derive(clap::Args, Debug)]
pub(super) struct PutKeyPolicyArgs {
    #[command(flatten)]
    key: KeyId,
    /// The key policy: a JSON document in this file.
    #[arg(long)]
    policy_file: PathBuf,
    /// Skip the check that you could change the policy again.
    #[arg(long)]
    bypass_policy_lockout_safety_check: bool,
}

pub(super) fn put_key_policy(kms: &Invocation, args: PutKeyPolicyArgs) -> anyhow::Result<()> {
    let req = svc::PutKeyPolicyRequest {
        key_id: args.key.get(),
        policy_name: None,
        policy: read_policy(&args.policy_file)?,
        bypass_policy_lockout_safety_check: args.bypass_policy_lockout_safety_check.then_some(true),
    };
    Ok(kms.service.put_key_policy(&kms.me, req)?)
}

pub(super) fn list_key_policies(kms: &Invocation, args: KeyArg) -> anyhow::Result<()> {
    let req = svc::KeyPolicyRequest {
        key_id: args.key.get(),
        policy_name: None,
    };
    print(kms.out, &kms.service.list_key_policies(&kms.me, req)?)
}

/// Which key a policy-plugin command is about; none means the account.
#[derive(clap::Args, Debug)]
pub(super) struct PluginScopeArgs {
    /// The key (id, ARN, alias); leave out for the account's guard-rails.
    #[arg(long = "key-id", visible_alias = "key", value_name = "KEY_ID")]
    key: Option<String>,
}

#[derive(clap::Args, Debug)]
pub(super) struct AttachPolicyPluginArgs {
    #[command(flatten)]
    scope: PluginScopeArgs,
    /// The attachment's name.
    #[arg(long)]
    name: String,
    /// The component: a .wasm file, or stock:NAME for a stock component compiled into `kms`
    /// (`kms components` lists them).
    component: PathBuf,
    /// A setting name=value the plugin reads through kms:vault/config, repeatable.
    #[arg(long = "config", value_parser = parse_pair)]
    config: Vec<(String, String)>,
}

pub(super) fn attach_policy_plugin(
    kms: &Invocation,
    args: AttachPolicyPluginArgs,
) -> anyhow::Result<()> {
    let req = svc::AttachPolicyPluginRequest {
        key_id: args.scope.key,
        plugin_name: args.name,
        component: read_component(&args.component)?,
        config: args.config.into_iter().collect(),
    };
    print(kms.out, &kms.service.attach_policy_plugin(&kms.me, req)?)
}

#[derive(clap::Args, Debug)]
pub(super) struct DetachPolicyPluginArgs {
    #[command(flatten)]
    scope: PluginScopeArgs,
    /// The attachment's name.
    #[arg(long)]
    name: String,
}

pub(super) fn detach_policy_plugin(
    kms: &Invocation,
    args: DetachPolicyPluginArgs,
) -> anyhow::Result<()> {
    let req = svc::PolicyPluginScopeRequest {
        key_id: args.scope.key,
        plugin_name: args.name,
    };
    Ok(kms.service.detach_policy_plugin(&kms.me, req)?)
}

#[derive(clap::Args, Debug)]
pub(super) struct ListPolicyPluginsArgs {
    #[command(flatten)]
    scope: PluginScopeArgs,
}

pub(super) fn list_policy_plugins(
    kms: &Invocation,
    args: ListPolicyPluginsArgs,
) -> anyhow::Result<()> {
    let req = svc::PolicyPluginScopeRequest {
        key_id: args.scope.key,
        plugin_name: String::new(),
    };
    print(kms.out, &kms.service.list_policy_plugins(&kms.me, req)?)
}
