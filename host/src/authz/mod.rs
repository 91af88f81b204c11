//! Authorization: may this caller perform this action on this key? For now the rule is the one
//! AWS applies to a key with the default key policy and no grants: principals of the key's own
//! account may use and manage it; principals of any other account may not. Key policies, grants,
//! identity policies extend this one decision point later.
//!
//! Policy plugins (WebAssembly components exporting `kms:vault/policy`) join the decision through
//! [`PolicyEngine`]: a plugin attached to a key may allow or deny requests on it; one attached to
//! an account is a guard-rail that may only deny. An explicit deny always wins, and a plugin that
//! fails (traps, runs out of time or memory) counts as a deny.

pub mod policy;

use crate::error::{KmsError, KmsResult};
use crate::service::Caller;
use crate::vault::PluginAttachment;

/// Decides whether `caller` may perform `action` (e.g. `kms:Encrypt`) on the resource `arn`
/// owned by `owner_account`.
///
/// ```
/// use kms_host::{authz, Caller};
/// let arn = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
/// assert!(authz::authorize(&Caller::account_root("111122223333"), "kms:Encrypt", arn, "111122223333").is_ok());
/// assert!(authz::authorize(&Caller::account_root("444455556666"), "kms:Encrypt", arn, "111122223333").is_err());
/// ```
pub fn authorize(caller: &Caller, action: &str, arn: &str, owner_account: &str) -> KmsResult<()> {
    if caller.account == owner_account {
        return Ok(());
    }
    Err(KmsError::AccessDenied(format!(
        "User: {} is not authorized to perform: {action} on resource: {arn} because no resource-based policy allows the {action} action",
        caller.principal
    )))
}

/// The request a policy plugin decides: what `kms:vault/policy.request` carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyRequest {
    /// ARN of the calling principal.
    pub principal: String,
    /// The principal's account.
    pub account: String,
    /// The action, as IAM names it (`kms:Encrypt`).
    pub action: String,
    /// ARN of the key the request acts on.
    pub key_arn: String,
    /// The key's tags, sorted by tag key.
    pub key_tags: Vec<(String, String)>,
    /// The request's encryption context, sorted by key.
    pub encryption_context: Vec<(String, String)>,
    /// The AWS service acting for the principal, if any.
    pub via_service: Option<String>,
    /// When the request was made, seconds since the epoch.
    pub time: u64,
}

/// What one plugin answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PluginVerdict {
    /// One allow statement; never overrides a deny.
    Allow,
    /// An explicit deny, with the plugin's reason (audited, not shown to the caller).
    Deny(String),
    /// No opinion.
    Abstain,
    /// The plugin could not answer (trapped, timed out, ran out of memory, failed to load):
    /// counted as a deny, so that authorization fails closed.
    Failed(String),
}

impl PluginVerdict {
    /// The outcome recorded in the audit trail.
    pub fn audit_outcome(&self) -> &'static str {
        match self {
            PluginVerdict::Allow => "Allow",
            PluginVerdict::Deny(_) => "Deny",
            PluginVerdict::Abstain => "Abstain",
            PluginVerdict::Failed(_) => "DenyPluginFailed",
        }
    }
}

/// Runs policy plugins. The service holds one; the component runtime provides the real one.
pub trait PolicyEngine: Send + Sync {
    /// Asks `plugin` to decide `request`. Never panics: any failure is [`PluginVerdict::Failed`].
    fn evaluate(&self, plugin: &PluginAttachment, request: &PolicyRequest) -> PluginVerdict;

    /// Checks that `component` can be run as a policy plugin, before it is attached.
    fn check(&self, component: &[u8]) -> Result<(), String>;
}

/// Combines the default decision with the plugins' verdicts, as IAM combines statements: any
/// deny wins; otherwise the default allow or a key plugin's allow lets the request through.
/// Account plugins (guard-rails) cannot allow.
pub fn combine(
    default: Result<(), Refusal>,
    key_verdicts: &[(&PluginAttachment, PluginVerdict)],
    account_verdicts: &[(&PluginAttachment, PluginVerdict)],
    action: &str,
    key_arn: &str,
    principal: &str,
) -> KmsResult<()> {
    let denied_by = key_verdicts
        .iter()
        .chain(account_verdicts)
        .find(|(_, v)| matches!(v, PluginVerdict::Deny(_) | PluginVerdict::Failed(_)));
    if let Some((plugin, _)) = denied_by {
        return Err(KmsError::AccessDenied(format!(
            "User: {principal} is not authorized to perform: {action} on resource: {key_arn} with an explicit deny in policy plugin '{}'",
            plugin.name
        )));
    }
    let allowed_by_key_plugin = key_verdicts.iter().any(|(_, v)| *v == PluginVerdict::Allow);
    match default {
        Ok(()) => Ok(()),
        // A plugin's allow is one more allow statement: it cannot lift an explicit deny.
        Err(refusal) if refusal.explicit || !allowed_by_key_plugin => Err(refusal.error),
        Err(_) => Ok(()),
    }
}

/// Why the policies refused a request: an explicit deny (which nothing overrides) or no allow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The AccessDeniedException to answer.
    pub error: KmsError,
    /// Whether a Deny statement matched.
    pub explicit: bool,
}

/// What the key policy is asked about one request.
pub struct KeyRequestFacts<'a> {
    /// The key's ARN.
    pub key_arn: &'a str,
    /// The account that owns the key.
    pub key_account: &'a str,
    /// The key policy, or `None` for the default policy.
    pub policy: Option<&'a policy::PolicyDocument>,
    /// Condition keys of the key: `kms:KeySpec`, `aws:ResourceTag/…`, and so on.
    pub key_conditions: Vec<(String, Vec<String>)>,
    /// The request's encryption context.
    pub encryption_context: &'a [(String, String)],
    /// Seconds since the epoch.
    pub now: u64,
}

/// AWS's default key policy for a key of `account`.
pub fn default_key_policy(account: &str) -> String {
    format!(
        r#"{{
  "Version": "2012-10-17",
  "Id": "key-default-1",
  "Statement": [
    {{
      "Sid": "Enable IAM User Permissions",
      "Effect": "Allow",
      "Principal": {{"AWS": "arn:aws:iam::{account}:root"}},
      "Action": "kms:*",
      "Resource": "*"
    }}
  ]
}}"#
    )
}

/// Decides `action` on a key by its key policy. An allow that names the caller's account rather
/// than the caller delegates to the caller's identity policies; those are not modelled yet, so a
/// principal of the key's own account is taken to hold an identity policy allowing `kms:*`, and a
/// principal of any other account to hold none.
pub fn key_policy_decision(
    caller: &Caller,
    action: &str,
    key: &KeyRequestFacts<'_>,
) -> Result<(), Refusal> {
    let Some(document) = key.policy else {
        // The default policy's decision, without evaluating its one statement on every call.
        return if caller.account == key.key_account {
            Ok(())
        } else {
            Err(Refusal {
                error: not_authorized(
                    caller,
                    action,
                    key.key_arn,
                    "no resource-based policy allows the action",
                ),
                explicit: false,
            })
        };
    };
    let mut ctx = policy::RequestContext {
        principal_arn: caller.principal.clone(),
        principal_account: caller.account.clone(),
        service: None,
        action: action.to_string(),
        resource: key.key_arn.to_string(),
        keys: Default::default(),
    };
    let mut set = |name: &str, values: Vec<String>| {
        ctx.keys.insert(name.to_ascii_lowercase(), values);
    };
    set("kms:CallerAccount", vec![caller.account.clone()]);
    set("aws:PrincipalArn", vec![caller.principal.clone()]);
    set("aws:PrincipalAccount", vec![caller.account.clone()]);
    set("aws:CurrentTime", vec![rfc3339(key.now)]);
    set("aws:EpochTime", vec![key.now.to_string()]);
    for (name, values) in &key.key_conditions {
        set(name, values.clone());
    }
    if !key.encryption_context.is_empty() {
        set(
            "kms:EncryptionContextKeys",
            key.encryption_context
                .iter()
                .map(|(k, _)| k.clone())
                .collect(),
        );
        for (k, v) in key.encryption_context {
            set(&format!("kms:EncryptionContext:{k}"), vec![v.clone()]);
        }
    }
    match document.evaluate(&ctx, true) {
        policy::Decision::Allow(_) => Ok(()),
        policy::Decision::AllowIfIdentityAllows(_) if caller.account == key.key_account => Ok(()),
        policy::Decision::Deny(sid) => Err(Refusal {
            error: not_authorized(
                caller,
                action,
                key.key_arn,
                &format!(
                    "an explicit deny in the key policy{}",
                    sid.map(|s| format!(" (statement '{s}')"))
                        .unwrap_or_default()
                ),
            ),
            explicit: true,
        }),
        _ => Err(Refusal {
            error: not_authorized(
                caller,
                action,
                key.key_arn,
                "the key policy does not allow the action",
            ),
            explicit: false,
        }),
    }
}

fn not_authorized(caller: &Caller, action: &str, key_arn: &str, why: &str) -> KmsError {
    KmsError::AccessDenied(format!(
        "User: {} is not authorized to perform: {action} on resource: {key_arn} because {why}",
        caller.principal
    ))
}

fn rfc3339(secs: u64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plugin(name: &str) -> PluginAttachment {
        PluginAttachment {
            scope: crate::vault::PluginScope::Account("111122223333".into()),
            name: name.into(),
            component: Vec::new(),
            digest: String::new(),
            config: Default::default(),
            attached_at: 0,
        }
    }

    fn denied() -> Result<(), Refusal> {
        Err(Refusal {
            error: KmsError::AccessDenied("no policy allows it".into()),
            explicit: false,
        })
    }

    #[test]
    fn a_key_plugin_allow_cannot_lift_an_explicit_deny() {
        let a = plugin("a");
        let explicit = Err(Refusal {
            error: KmsError::AccessDenied("explicit".into()),
            explicit: true,
        });
        assert!(
            combine(
                explicit,
                &[(&a, PluginVerdict::Allow)],
                &[],
                "kms:Encrypt",
                "k",
                "p"
            )
            .is_err()
        );
    }

    #[test]
    fn any_deny_or_failure_wins_over_every_allow() {
        let (a, b) = (plugin("a"), plugin("b"));
        for bad in [
            PluginVerdict::Deny("no".into()),
            PluginVerdict::Failed("trap".into()),
        ] {
            let key = [(&a, PluginVerdict::Allow), (&b, bad.clone())];
            let err = combine(Ok(()), &key, &[], "kms:Encrypt", "k", "p").unwrap_err();
            assert!(err.to_string().contains("policy plugin 'b'"), "{err}");
            let account = [(&b, bad)];
            assert!(
                combine(
                    Ok(()),
                    &[(&a, PluginVerdict::Allow)],
                    &account,
                    "kms:Encrypt",
                    "k",
                    "p"
                )
                .is_err()
            );
        }
    }

    #[test]
    fn a_key_plugin_allow_grants_what_the_default_refuses() {
        let a = plugin("a");
        assert!(
            combine(
                denied(),
                &[(&a, PluginVerdict::Allow)],
                &[],
                "kms:Encrypt",
                "k",
                "p"
            )
            .is_ok()
        );
        assert!(
            combine(
                denied(),
                &[(&a, PluginVerdict::Abstain)],
                &[],
                "kms:Encrypt",
                "k",
                "p"
            )
            .is_err()
        );
    }

    #[test]
    fn an_account_plugin_allow_is_only_an_abstention() {
        let a = plugin("a");
        assert!(
            combine(
                denied(),
                &[],
                &[(&a, PluginVerdict::Allow)],
                "kms:Encrypt",
                "k",
                "p"
            )
            .is_err()
        );
        assert!(
            combine(
                Ok(()),
                &[],
                &[(&a, PluginVerdict::Allow)],
                "kms:Encrypt",
                "k",
                "p"
            )
            .is_ok()
        );
    }

    #[test]
    fn denial_names_principal_action_and_resource() {
        let err = authorize(
            &Caller::account_root("444455556666"),
            "kms:Decrypt",
            "arn:aws:kms:us-east-1:111122223333:key/k",
            "111122223333",
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("arn:aws:iam::444455556666:root"), "{msg}");
        assert!(msg.contains("kms:Decrypt"), "{msg}");
        assert!(msg.contains("key/k"), "{msg}");
    }
}
