//! Records of who may call, and of the grants that let them use keys: accounts, principals (with
//! their tags and identity policies), access keys, and grants. Plain data, like key records; the
//! only secret among them, an access key's secret, arrives already sealed under the root key.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use kms_core::arn::PrincipalKind;
use kms_core::types::{KeyId, Tag};

/// An account: a 12-digit id that owns principals (and, for the vault's own account, keys).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRecord {
    /// The 12-digit account id.
    pub account_id: String,
    /// A friendly name.
    pub name: String,
    /// Creation time, seconds since the epoch.
    pub created_at: u64,
}

/// A user or role of an account, with its tags and the identity policies attached to it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrincipalRecord {
    /// `arn:aws:iam::<account>:user/<name>` or `…:role/<name>`.
    pub arn: String,
    /// The account the principal belongs to.
    pub account: String,
    /// User or role.
    pub kind: PrincipalKind,
    /// The name (the last part of the ARN).
    pub name: String,
    /// Tags (`aws:PrincipalTag/<key>`), keys unique.
    pub tags: Vec<Tag>,
    /// Inline identity policies, by name: IAM JSON documents without `Principal`.
    pub policies: BTreeMap<String, String>,
    /// Creation time, seconds since the epoch.
    pub created_at: u64,
    /// How many times the record has been written since it was created; see
    /// [`KeyRecord::revision`](crate::KeyRecord::revision).
    #[serde(default)]
    pub revision: u64,
}

/// Whether an access key may sign requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AccessKeyStatus {
    /// Requests signed with it are accepted.
    Active,
    /// Requests signed with it are refused.
    Inactive,
}

/// An access key of a principal: the id is public, the secret is sealed under the root key.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessKeyRecord {
    /// The access key id (`AKIA…`, 20 characters).
    pub access_key_id: String,
    /// The principal the key signs for.
    pub principal_arn: String,
    /// Active or inactive.
    pub status: AccessKeyStatus,
    /// The secret access key, sealed with AES-256-GCM under the root key.
    pub sealed_secret: Vec<u8>,
    /// Creation time, seconds since the epoch.
    pub created_at: u64,
}

impl std::fmt::Debug for AccessKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKeyRecord")
            .field("access_key_id", &self.access_key_id)
            .field("principal_arn", &self.principal_arn)
            .field("status", &self.status)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

/// Conditions a grant puts on the encryption context of the requests it allows.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GrantConstraints {
    /// The request's context must be exactly this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_context_equals: Option<BTreeMap<String, String>>,
    /// The request's context must include every pair of this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_context_subset: Option<BTreeMap<String, String>>,
}

impl GrantConstraints {
    /// Whether a request with `context` satisfies the constraints.
    pub fn allow(&self, context: &[(String, String)]) -> bool {
        if let Some(equals) = &self.encryption_context_equals
            && (equals.len() != context.len()
                || !context.iter().all(|(k, v)| equals.get(k) == Some(v)))
        {
            return false;
        }
        if let Some(subset) = &self.encryption_context_subset
            && !subset
                .iter()
                .all(|(k, v)| context.iter().any(|(ck, cv)| ck == k && cv == v))
        {
            return false;
        }
        true
    }

    /// Whether these constraints are at least as strict as `other` (a grant created from a grant
    /// may only narrow the one it came from).
    pub fn at_least_as_strict_as(&self, other: &GrantConstraints) -> bool {
        let contains = |big: &BTreeMap<String, String>, small: &BTreeMap<String, String>| {
            small.iter().all(|(k, v)| big.get(k) == Some(v))
        };
        if let Some(theirs) = &other.encryption_context_equals {
            return self.encryption_context_equals.as_ref() == Some(theirs);
        }
        if let Some(theirs) = &other.encryption_context_subset {
            return match (
                &self.encryption_context_equals,
                &self.encryption_context_subset,
            ) {
                (Some(mine), _) | (None, Some(mine)) => contains(mine, theirs),
                (None, None) => false,
            };
        }
        true
    }
}

/// A grant: permission for one principal to perform some operations with one key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantRecord {
    /// The grant id (64 hex characters).
    pub grant_id: String,
    /// The key the grant is for.
    pub key_id: KeyId,
    /// The region of the key: grants are never shared between related multi-Region keys.
    #[serde(default)]
    pub region: String,
    /// The optional name that makes CreateGrant idempotent.
    pub name: Option<String>,
    /// The principal that receives the permissions.
    pub grantee_principal: String,
    /// The principal that may retire the grant, if any.
    pub retiring_principal: Option<String>,
    /// The operations allowed (`Encrypt`, `Decrypt`, …).
    pub operations: Vec<String>,
    /// Encryption-context constraints, if any.
    pub constraints: Option<GrantConstraints>,
    /// The principal that created the grant.
    pub issuing_principal: String,
    /// The account of the key the grant is for.
    pub issuing_account: String,
    /// Creation time, seconds since the epoch.
    pub created_at: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn ctx(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn equals_needs_exactly_the_context() {
        let c = GrantConstraints {
            encryption_context_equals: Some(map(&[("dept", "it")])),
            ..Default::default()
        };
        assert!(c.allow(&ctx(&[("dept", "it")])));
        assert!(!c.allow(&ctx(&[("dept", "it"), ("extra", "x")])));
        assert!(!c.allow(&ctx(&[("dept", "IT")])));
        assert!(!c.allow(&[]));
    }

    #[test]
    fn subset_needs_every_pair_and_allows_more() {
        let c = GrantConstraints {
            encryption_context_subset: Some(map(&[("dept", "it"), ("app", "pay")])),
            ..Default::default()
        };
        assert!(c.allow(&ctx(&[("app", "pay"), ("dept", "it"), ("extra", "x")])));
        assert!(!c.allow(&ctx(&[("dept", "it")])));
        assert!(!c.allow(&[]));
        let empty = GrantConstraints {
            encryption_context_subset: Some(BTreeMap::new()),
            ..Default::default()
        };
        assert!(empty.allow(&[]));
    }

    #[test]
    fn narrower_constraints_are_recognised() {
        let subset = GrantConstraints {
            encryption_context_subset: Some(map(&[("dept", "it")])),
            ..Default::default()
        };
        let wider_subset = GrantConstraints {
            encryption_context_subset: Some(map(&[("dept", "it"), ("app", "pay")])),
            ..Default::default()
        };
        let equals = GrantConstraints {
            encryption_context_equals: Some(map(&[("dept", "it")])),
            ..Default::default()
        };
        assert!(wider_subset.at_least_as_strict_as(&subset));
        assert!(equals.at_least_as_strict_as(&subset));
        assert!(!subset.at_least_as_strict_as(&wider_subset));
        assert!(!subset.at_least_as_strict_as(&equals));
        assert!(!GrantConstraints::default().at_least_as_strict_as(&subset));
        assert!(subset.at_least_as_strict_as(&GrantConstraints::default()));
    }
}
