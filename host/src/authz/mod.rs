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
    default: KmsResult<()>,
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
    if allowed_by_key_plugin {
        return Ok(());
    }
    default
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

    fn denied() -> KmsResult<()> {
        Err(KmsError::AccessDenied("no policy allows it".into()))
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
