//! Key policies: GetKeyPolicy, PutKeyPolicy, ListKeyPolicies, and the policy given at CreateKey,
//! with AWS's lockout safety check.

use serde::{Deserialize, Serialize};

use super::*;
use kms_authz::policy::PolicyDocument;

/// The only key policy name AWS KMS has.
const DEFAULT_POLICY_NAME: &str = "default";

/// GetKeyPolicy and ListKeyPolicies.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyPolicyRequest {
    /// The key.
    pub key_id: String,
    /// `default`, the only name (optional).
    #[serde(default)]
    pub policy_name: Option<String>,
}

/// GetKeyPolicy's response.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetKeyPolicyResponse {
    /// The policy document.
    pub policy: String,
    /// `default`.
    pub policy_name: String,
}

/// PutKeyPolicy.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutKeyPolicyRequest {
    /// The key.
    pub key_id: String,
    /// `default` (optional).
    #[serde(default)]
    pub policy_name: Option<String>,
    /// The new policy document.
    pub policy: String,
    /// Skips the check that the caller could change the policy again. Left out (`None`), the
    /// request carries no `kms:BypassPolicyLockoutSafetyCheck`, as in AWS.
    #[serde(default)]
    pub bypass_policy_lockout_safety_check: Option<bool>,
}

/// ListKeyPolicies' response.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListKeyPoliciesResponse {
    /// Always `["default"]`.
    pub policy_names: Vec<String>,
    /// Always false.
    pub truncated: bool,
}

fn check_policy_name(name: Option<&str>) -> KmsResult<()> {
    match name {
        None | Some(DEFAULT_POLICY_NAME) => Ok(()),
        Some(other) => Err(KmsError::invalid(
            "PolicyName",
            format!("PolicyName '{other}' is not valid; the only key policy name is 'default'"),
        )),
    }
}

impl Service {
    /// Parses `policy` for `record` and, unless bypassed, refuses one under which `caller` could
    /// never change the policy again (AWS's lockout safety check).
    pub(super) fn checked_key_policy(
        &self,
        caller: &Caller,
        record: &KeyRecord,
        policy: &str,
        bypass_lockout_check: bool,
    ) -> KmsResult<String> {
        PolicyDocument::parse_key_policy(policy)?;
        if !bypass_lockout_check {
            let candidate = KeyRecord {
                policy: Some(policy.to_string()),
                ..record.clone()
            };
            if self
                .policy_decision(caller, "kms:PutKeyPolicy", &candidate, &Default::default())
                .is_err()
            {
                return Err(KmsError::MalformedPolicyDocument(
                    "The new key policy will not allow you to update the key policy in the future"
                        .into(),
                ));
            }
        }
        Ok(policy.to_string())
    }

    /// GetKeyPolicy: the stored policy, or the default one.
    pub fn get_key_policy(
        &self,
        caller: &Caller,
        req: KeyPolicyRequest,
    ) -> KmsResult<GetKeyPolicyResponse> {
        self.audited(caller, "GetKeyPolicy", |note| {
            check_policy_name(req.policy_name.as_deref())?;
            let record = self.key_for(caller, note, &req.key_id, "kms:GetKeyPolicy")?;
            Ok(GetKeyPolicyResponse {
                policy: record
                    .policy
                    .unwrap_or_else(|| authz::default_key_policy(&record.account)),
                policy_name: DEFAULT_POLICY_NAME.into(),
            })
        })
    }

    /// PutKeyPolicy.
    pub fn put_key_policy(&self, caller: &Caller, req: PutKeyPolicyRequest) -> KmsResult<()> {
        self.audited(caller, "PutKeyPolicy", |note| {
            check_policy_name(req.policy_name.as_deref())?;
            if let Some(bypass) = req.bypass_policy_lockout_safety_check {
                note.condition(ConditionKey::BypassPolicyLockoutSafetyCheck, [bypass]);
            }
            self.update_record(caller, note, &req.key_id, "kms:PutKeyPolicy", |record| {
                self.require_not_pending_deletion(record)?;
                let policy = self.checked_key_policy(
                    caller,
                    record,
                    &req.policy,
                    req.bypass_policy_lockout_safety_check == Some(true),
                )?;
                record.policy = Some(policy);
                Ok(())
            })
        })
    }

    /// ListKeyPolicies: a key has exactly one policy, `default`.
    pub fn list_key_policies(
        &self,
        caller: &Caller,
        req: KeyPolicyRequest,
    ) -> KmsResult<ListKeyPoliciesResponse> {
        self.audited(caller, "ListKeyPolicies", |note| {
            self.key_for(caller, note, &req.key_id, "kms:ListKeyPolicies")?;
            Ok(ListKeyPoliciesResponse {
                policy_names: vec![DEFAULT_POLICY_NAME.into()],
                truncated: false,
            })
        })
    }
}
