//! `kms audit`: checking the hash chain of the audit trail, and searching its records.

use anyhow::bail;
use clap::Subcommand;
use kms_service::audit::{AuditEvent, Verification};

use super::Invocation;
use super::render::audit_records;

#[derive(Subcommand, Debug)]
pub(super) enum AuditCommand {
    /// Walk the hash chain; fails (status 1) at the first edited, removed or reordered record.
    Verify,
    /// Print audit records, oldest first, filtered by any of the options.
    Query(QueryArgs),
}

#[derive(clap::Args, Debug)]
pub(super) struct QueryArgs {
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
}

impl QueryArgs {
    fn matches(&self, e: &AuditEvent) -> bool {
        self.key
            .as_deref()
            .is_none_or(|k| e.key_arn.as_deref().is_some_and(|arn| arn.ends_with(k)))
            && self.principal.as_deref().is_none_or(|p| e.principal == p)
            && self.operation.as_deref().is_none_or(|o| e.operation == o)
            && self.outcome.as_deref().is_none_or(|o| e.outcome == o)
            && self.since.is_none_or(|t| e.time >= t)
            && self.until.is_none_or(|t| e.time < t)
    }
}

fn parse_time(s: &str) -> Result<u64, String> {
    humantime::parse_rfc3339_weak(s)
        .map_err(|e| format!("'{s}' is not an RFC 3339 time: {e}"))?
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .map_err(|e| e.to_string())
}

pub(super) fn audit(kms: &Invocation, command: AuditCommand) -> anyhow::Result<()> {
    match command {
        AuditCommand::Verify => verify(kms),
        AuditCommand::Query(args) => query(kms, &args),
    }
}

fn verify(kms: &Invocation) -> anyhow::Result<()> {
    match kms.service.verify_audit()? {
        Verification::Intact { records } => {
            println!("audit trail intact: {records} records");
            Ok(())
        }
        Verification::Broken { seq, reason } => {
            bail!("audit trail broken at record {seq}: {reason}")
        }
    }
}

fn query(kms: &Invocation, args: &QueryArgs) -> anyhow::Result<()> {
    let mut matches = Vec::new();
    let mut after = 0;
    loop {
        let batch = kms.service.lookup_audit_events(&kms.me, after, 1000)?;
        let Some((last, _)) = batch.last() else { break };
        after = *last;
        matches.extend(batch.into_iter().filter(|(_, e)| args.matches(e)));
    }
    if let Some(limit) = args.limit {
        let skip = matches.len().saturating_sub(limit);
        matches.drain(..skip);
    }
    audit_records(kms.out, &matches)
}
