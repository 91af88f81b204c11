//! `kms run`: a tenant application component run once, in a fresh sandboxed instance, for a
//! principal and with the capabilities the operator grants on the command line.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use kms_runtime::{Capabilities, KeyGrant, Runtime, RuntimeConfig, Tenant};
use kms_service::{CallSource, Caller};

use super::files::read_component;
use super::{Invocation, parse_pair};

#[derive(clap::Args, Debug)]
pub(super) struct RunArgs {
    /// The component: a .wasm file, or stock:NAME for a stock component compiled into `kms`
    /// (`kms components` lists them).
    component: PathBuf,
    /// The principal it acts for (default: the account's root).
    #[arg(long)]
    principal: Option<String>,
    /// A grant SELECTOR=OPERATIONS, repeatable. Selectors: alias/NAME, alias/PATH/*,
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
}

impl RunArgs {
    /// Who the component runs for: the principal, the granted capabilities, the settings.
    fn tenant(&self, account: &str) -> anyhow::Result<Tenant> {
        let caller = match &self.principal {
            Some(arn) => Caller::principal(arn)?.via(CallSource::Cli),
            None => Caller::account_root(account),
        };
        let mut capabilities = Capabilities::builder();
        for grant in &self.grants {
            capabilities = capabilities.grant(grant.parse::<KeyGrant>()?);
        }
        if self.reveal {
            capabilities = capabilities.allow_reveal();
        }
        if self.random {
            capabilities = capabilities.allow_random();
        }
        let mut tenant = Tenant::new(caller, capabilities.build());
        tenant.config = self.config.iter().cloned().collect();
        Ok(tenant)
    }
}

pub(super) fn run(kms: &Invocation, args: RunArgs) -> anyhow::Result<()> {
    let tenant = args.tenant(kms.service.account())?;
    let bytes = read_component(&args.component)?;
    let runtime = Runtime::new(
        Arc::clone(&kms.service),
        RuntimeConfig {
            call_time_limit: Duration::from_millis(args.time_limit_ms),
            max_memory_bytes: args.memory_mib << 20,
            // One instance, once: a pool would only cost its set-up.
            pooling: false,
            ..RuntimeConfig::default()
        },
    )?;
    let loaded = runtime.load(&bytes)?;
    match runtime.run(&loaded, &tenant, &args.args)? {
        Ok(report) => {
            println!("{report}");
            Ok(())
        }
        Err(message) => bail!("the component failed: {message}"),
    }
}
