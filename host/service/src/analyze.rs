//! `Analyze`: a report on access that deserves a second look, built from the vault and the
//! audit trail: keys unused for some days, key policies that allow anyone without a condition,
//! principals that hold every KMS permission on a key without being named its administrator, and
//! grants that were never used.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use super::*;
use crate::audit::AuditLog;
use kms_authz::Basis;
use kms_authz::policy::{Effect, Principals};

/// Actions that together stand for "every KMS permission": using the key and administering it.
const FULL_ACCESS_PROBE: &[&str] = &[
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:CreateGrant",
    "kms:PutKeyPolicy",
    "kms:ScheduleKeyDeletion",
    "kms:DisableKey",
];

/// Audit records read per page while scanning the trail.
const AUDIT_PAGE: usize = 1000;

/// A key no one has used for the period.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UnusedKey {
    /// The key's ARN.
    pub key_arn: String,
    /// When it was created.
    pub creation_date: u64,
    /// Its last successful use, if any.
    pub last_used_date: Option<u64>,
}

/// A key policy statement that allows anyone, with no condition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct OpenStatement {
    /// The key's ARN.
    pub key_arn: String,
    /// The statement's Sid, if any.
    pub sid: Option<String>,
    /// Its actions.
    pub actions: Vec<String>,
}

/// A principal with every KMS permission on a key whose policy does not name it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct BroadPrincipal {
    /// The principal's ARN.
    pub principal: String,
    /// The key's ARN.
    pub key_arn: String,
    /// The identity policy that gives it.
    pub through_policy: String,
}

/// A principal whose identity policy makes it an administrator of everything.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Administrator {
    /// The principal's ARN.
    pub principal: String,
    /// The identity policy that makes it one.
    pub through_policy: String,
}

/// A grant that has not allowed a single call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UnusedGrant {
    /// The key's ARN.
    pub key_arn: String,
    /// The grant id.
    pub grant_id: String,
    /// Who received it.
    pub grantee_principal: String,
    /// When it was created.
    pub creation_date: u64,
}

/// The Analyze report.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AnalyzeResponse {
    /// Keys unused for the period (created before it began).
    pub unused_keys: Vec<UnusedKey>,
    /// Key policy statements that allow anyone without a condition.
    pub open_policy_statements: Vec<OpenStatement>,
    /// Principals with every KMS permission on keys they are not named to administer.
    pub broad_principals: Vec<BroadPrincipal>,
    /// The account's administrators: principals whose identity policy allows every action
    /// (`*` or `kms:*`) on every resource without a condition, as `kms init` makes `user/admin`.
    /// Listed once each, not as a finding on every key.
    pub administrators: Vec<Administrator>,
    /// Grants never used.
    pub unused_grants: Vec<UnusedGrant>,
}

impl Service {
    /// Analyze: the report, for a caller allowed to list the account's keys.
    pub fn analyze(&self, caller: &Caller, unused_days: u32) -> KmsResult<AnalyzeResponse> {
        self.audited(caller, "Analyze", |_| {
            self.authorize(caller, "kms:ListKeys", Resource::Account)?;
            self.build_report(unused_days)
        })
    }

    fn build_report(&self, unused_days: u32) -> KmsResult<AnalyzeResponse> {
        let now = self.now();
        let cutoff = now.saturating_sub(u64::from(unused_days) * SECONDS_PER_DAY);
        let store = self.shared.vault.store();

        // One pass over the trail: last use per key, grants that allowed a call.
        let mut last_use: HashMap<String, u64> = HashMap::new();
        let mut used_grants: HashSet<String> = HashSet::new();
        let mut after = 0;
        loop {
            let page = AuditLog::events_after(store, after, AUDIT_PAGE)?;
            let Some((last_seq, _)) = page.last() else {
                break;
            };
            after = *last_seq;
            for (_, event) in page {
                if event.outcome != "Success" {
                    continue;
                }
                if let Some(grant) = event.grant_id {
                    used_grants.insert(grant);
                }
                if event
                    .operation
                    .parse::<Operation>()
                    .is_ok_and(Operation::cryptographic)
                    && let Some(arn) = event.key_arn
                {
                    let slot = last_use.entry(arn).or_default();
                    *slot = (*slot).max(event.time);
                }
            }
        }

        let principals = store.principals(self.shared.vault.account())?;
        let mut report = AnalyzeResponse::default();
        let mut administrators = HashSet::new();
        for principal in &principals {
            for (name, text) in &principal.policies {
                if self.allows_everything(text)? {
                    administrators.insert(principal.arn.as_str());
                    report.administrators.push(Administrator {
                        principal: principal.arn.clone(),
                        through_policy: name.clone(),
                    });
                    break;
                }
            }
        }
        let mut after_key = None;
        loop {
            let keys = store.keys_after(&self.region, after_key.as_ref(), 100)?;
            let Some(last) = keys.last() else { break };
            after_key = Some(last.key_id);
            for record in keys {
                let arn = self.key_arn(&record.key_id);
                let last_used = last_use.get(&arn).copied();
                if record.created_at < cutoff && last_used.is_none_or(|t| t < cutoff) {
                    report.unused_keys.push(UnusedKey {
                        key_arn: arn.clone(),
                        creation_date: record.created_at,
                        last_used_date: last_used,
                    });
                }
                if let Some(text) = &record.policy {
                    let document = self.parsed_policy(text, "key policy")?;
                    for statement in &document.statements {
                        if statement.effect == Effect::Allow
                            && statement.principal == Some(Principals::Anyone)
                            && statement.conditions.is_empty()
                        {
                            report.open_policy_statements.push(OpenStatement {
                                key_arn: arn.clone(),
                                sid: statement.sid.clone(),
                                actions: statement.action.clone().unwrap_or_default(),
                            });
                        }
                    }
                }
                for principal in &principals {
                    if administrators.contains(principal.arn.as_str()) {
                        continue;
                    }
                    if let Some(policy) = self.full_access_through_identity(principal, &record)? {
                        report.broad_principals.push(BroadPrincipal {
                            principal: principal.arn.clone(),
                            key_arn: arn.clone(),
                            through_policy: policy,
                        });
                    }
                }
                for grant in store.grants(&self.region, &record.key_id)? {
                    if !used_grants.contains(&grant.grant_id) {
                        report.unused_grants.push(UnusedGrant {
                            key_arn: arn.clone(),
                            grant_id: grant.grant_id,
                            grantee_principal: grant.grantee_principal,
                            creation_date: grant.created_at,
                        });
                    }
                }
            }
        }
        Ok(report)
    }

    /// The identity policy through which `principal` holds every probed permission on `record`,
    /// when the key policy does not name it for them.
    /// Whether an identity policy allows every action (`*` or `kms:*`) on every resource, with
    /// no condition.
    fn allows_everything(&self, text: &str) -> KmsResult<bool> {
        let document = self.parsed_policy(text, "identity policy")?;
        Ok(document.statements.iter().any(|statement| {
            let all = |patterns: &Option<Vec<String>>, wildcards: &[&str]| {
                patterns
                    .as_ref()
                    .is_some_and(|p| p.iter().any(|p| wildcards.contains(&p.as_str())))
            };
            statement.effect == Effect::Allow
                && statement.conditions.is_empty()
                && all(&statement.action, &["*", "kms:*"])
                && all(&statement.resource, &["*"])
        }))
    }

    fn full_access_through_identity(
        &self,
        principal: &kms_vault::PrincipalRecord,
        record: &KeyRecord,
    ) -> KmsResult<Option<String>> {
        let caller = Caller::principal(&principal.arn)?;
        let mut through = None;
        for action in FULL_ACCESS_PROBE {
            match self.policy_decision(&caller, action, record, &Default::default()) {
                Ok(Basis::IdentityPolicy { policy, .. }) => {
                    through.get_or_insert(policy);
                }
                // Named by the key policy for this action, or no access at all.
                Ok(_) | Err(_) => return Ok(None),
            }
        }
        Ok(through)
    }
}
