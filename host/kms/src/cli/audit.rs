//! `kms audit`: checking the hash chain of the audit trail, and searching its records.

use std::collections::BTreeSet;

use anyhow::bail;
use clap::Subcommand;
use kms_core::Operation;
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
    /// Key id, key ARN, alias name or alias ARN (an alias stands for the key it points to now).
    #[arg(long)]
    key: Option<String>,
    /// Principal ARN.
    #[arg(long)]
    principal: Option<String>,
    /// Operation, in any case (`Encrypt`, `encrypt`, `kms:Encrypt`, `CreateKey`,
    /// `EvaluatePolicyPlugin`, ...).
    #[arg(long)]
    operation: Option<String>,
    /// Outcome, in any case: `Success`, `Failure` (any failure), or an error code
    /// (`AccessDeniedException`, `GuestTrap`, ...).
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

/// What the records must match, resolved from [`QueryArgs`].
struct Filter<'a> {
    args: &'a QueryArgs,
    /// The key's id, once an alias is resolved.
    key: Option<String>,
    operation: Option<String>,
    outcome: Option<Outcome>,
}

enum Outcome {
    Success,
    Failure,
    /// An error code, compared without regard to case.
    Code(String),
}

impl Filter<'_> {
    fn matches(&self, e: &AuditEvent) -> bool {
        let args = self.args;
        self.key.as_deref().is_none_or(|k| {
            e.key_arn
                .as_deref()
                .is_some_and(|arn| arn == k || arn.ends_with(&format!("/{k}")))
        }) && args.principal.as_deref().is_none_or(|p| e.principal == p)
            && self
                .operation
                .as_deref()
                .is_none_or(|o| e.operation.eq_ignore_ascii_case(o))
            && self.outcome.as_ref().is_none_or(|o| match o {
                Outcome::Success => e.outcome == "Success",
                Outcome::Failure => e.outcome != "Success",
                Outcome::Code(code) => e.outcome.eq_ignore_ascii_case(code),
            })
            && args.since.is_none_or(|t| e.time >= t)
            && args.until.is_none_or(|t| e.time < t)
    }
}

/// Resolves an alias to its key's id (through DescribeKey, so as the caller may see it); a key
/// id or ARN stands as given.
fn resolve_key(kms: &Invocation, key: &str) -> anyhow::Result<String> {
    let is_alias = kms_core::arn::KeyReference::parse(key).is_ok_and(|r| r.alias_name().is_some());
    if !is_alias {
        return Ok(key.to_string());
    }
    let described = kms.service.describe_key(
        &kms.me,
        kms_service::KeyRequest {
            key_id: key.to_string(),
            ..Default::default()
        },
    )?;
    Ok(described.key_metadata.key_id)
}

impl QueryArgs {
    fn filter(&self, kms: &Invocation) -> anyhow::Result<Filter<'_>> {
        let outcome = self.outcome.as_deref().map(|o| {
            if o.eq_ignore_ascii_case("success") {
                Outcome::Success
            } else if o.eq_ignore_ascii_case("failure") || o.eq_ignore_ascii_case("failed") {
                Outcome::Failure
            } else {
                Outcome::Code(o.to_string())
            }
        });
        Ok(Filter {
            args: self,
            key: self
                .key
                .as_deref()
                .map(|k| resolve_key(kms, k))
                .transpose()?,
            operation: self
                .operation
                .as_deref()
                .map(|o| o.strip_prefix("kms:").unwrap_or(o).to_string()),
            outcome,
        })
    }
}

/// Refuses a filter value that names nothing: neither a value the trail holds (in any case) nor
/// one the service could write (an AWS operation; an error code).
fn check_known(
    what: &str,
    given: &str,
    seen: &BTreeSet<String>,
    known: impl Fn(&str) -> bool,
) -> anyhow::Result<()> {
    if known(given) || seen.iter().any(|s| s.eq_ignore_ascii_case(given)) {
        return Ok(());
    }
    let listed: Vec<&str> = seen.iter().map(String::as_str).collect();
    bail!(
        "unknown {what} '{given}': the trail holds {}",
        if listed.is_empty() {
            "no records yet".to_string()
        } else {
            listed.join(", ")
        }
    )
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
    let filter = args.filter(kms)?;
    let (mut operations, mut outcomes) = (BTreeSet::new(), BTreeSet::new());
    let mut matches = Vec::new();
    let mut after = 0;
    loop {
        let batch = kms.service.lookup_audit_events(&kms.me, after, 1000)?;
        let Some((last, _)) = batch.last() else { break };
        after = *last;
        for (seq, event) in batch {
            if !operations.contains(&event.operation) {
                operations.insert(event.operation.clone());
            }
            if !outcomes.contains(&event.outcome) {
                outcomes.insert(event.outcome.clone());
            }
            if filter.matches(&event) {
                matches.push((seq, event));
            }
        }
    }
    if let Some(operation) = &filter.operation {
        check_known("operation", operation, &operations, |o| {
            Operation::ALL
                .iter()
                .any(|known| known.to_string().eq_ignore_ascii_case(o))
        })?;
    }
    if let Some(Outcome::Code(code)) = &filter.outcome {
        check_known(
            "outcome (use Success, Failure or an error code)",
            code,
            &outcomes,
            |o| o.to_ascii_lowercase().ends_with("exception"),
        )?;
    }
    if let Some(limit) = args.limit {
        let skip = matches.len().saturating_sub(limit);
        matches.drain(..skip);
    }
    audit_records(kms.out, &matches)
}
