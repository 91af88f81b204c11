//! Authorization: may this caller perform this action on this key? Decided as AWS KMS decides
//! it (see [`decide`]): an explicit deny in any policy wins; then the key policy, which may allow
//! the caller itself or delegate to the identity policies of the caller's account; then grants;
//! otherwise the request is refused. Cross-account use needs both the key policy and an identity
//! policy in the caller's account, or a grant.
//!
//! Policy plugins (WebAssembly components exporting `kms:vault/policy`) join the decision through
//! [`PolicyEngine`] and [`combine`]: a plugin attached to a key may allow or deny requests on it;
//! one attached to an account is a guard-rail that may only deny. An explicit deny always wins, and
//! a plugin that fails (traps, runs out of time or memory) counts as a deny.
#![deny(unsafe_code)]
#![warn(missing_docs)]

#[doc(hidden)]
pub mod fuzzing;
pub mod policy;

use std::sync::Arc;

use kms_core::error::{KmsError, KmsResult};
use kms_core::{Caller, ConditionKey, Operation};
use kms_vault::{GrantRecord, PluginAttachment};
use policy::{Decision, PolicyDocument, RequestContext};

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

    /// Checks that `component` can be run as a policy plugin, before it is attached:
    /// `ValidationException` for something that is not one, `LimitExceededException` for one
    /// costlier to compile than the engine allows, `ThrottlingException` when it cannot be
    /// checked now.
    fn check(&self, component: &[u8]) -> KmsResult<()>;

    /// Decisions made so far by running a plugin in a fresh instance, and decisions answered
    /// with a remembered verdict (for metrics); an engine that keeps no count answers zeros.
    fn decisions(&self) -> (u64, u64) {
        (0, 0)
    }
}

/// The engine of a service that has none installed: every plugin fails, so a key guarded by a
/// plugin refuses every request (fail closed) until the component runtime installs its engine.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoPolicyEngine;

impl PolicyEngine for NoPolicyEngine {
    fn evaluate(&self, _: &PluginAttachment, _: &PolicyRequest) -> PluginVerdict {
        PluginVerdict::Failed("no policy plugin engine is installed".into())
    }

    fn check(&self, _: &[u8]) -> KmsResult<()> {
        Err(KmsError::invalid(
            "Component",
            "Component cannot be checked: no policy plugin engine is installed".into(),
        ))
    }
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

/// What authorization is told about the key of one request.
pub struct KeyRequestFacts<'a> {
    /// The key's ARN.
    pub key_arn: &'a str,
    /// The account that owns the key.
    pub key_account: &'a str,
    /// The key policy, or `None` for the default policy.
    pub policy: Option<&'a PolicyDocument>,
    /// Condition keys of the key: `kms:KeySpec`, `aws:ResourceTag/…`, `kms:ResourceAliases`, …
    pub key_conditions: Vec<(String, Vec<String>)>,
    /// The request's encryption context.
    pub encryption_context: &'a [(String, String)],
    /// Seconds since the epoch.
    pub now: u64,
}

/// What authorization knows about a stored principal: its tags and identity policies.
#[derive(Clone, Debug, Default)]
pub struct Identity {
    /// `aws:PrincipalTag/<key>` values.
    pub tags: Vec<(String, String)>,
    /// Identity policies by name, parsed.
    pub policies: Vec<(String, Arc<PolicyDocument>)>,
    /// The user name (`aws:username`), for users.
    pub username: Option<String>,
}

/// One request on one key, with everything that decides it.
pub struct Request<'a> {
    /// Who is calling.
    pub caller: &'a Caller,
    /// The action, `kms:Encrypt`.
    pub action: &'a str,
    /// The key.
    pub key: &'a KeyRequestFacts<'a>,
    /// The caller's stored identity; `None` for an account root or an unknown principal.
    pub identity: Option<&'a Identity>,
    /// The key's grants.
    pub grants: &'a [GrantRecord],
    /// Condition keys of the request itself (`kms:RequestAlias`, `kms:GrantOperations`, …).
    pub request_conditions: &'a [(String, Vec<String>)],
}

/// Why a request was allowed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Basis {
    /// A key policy statement (its Sid) names the caller.
    KeyPolicy(Option<String>),
    /// The key policy delegates to the caller's account (its Sid) and the identity policy named
    /// here allows.
    IdentityPolicy {
        /// The key policy statement that delegates or allows.
        key_statement: Option<String>,
        /// The identity policy that allows.
        policy: String,
    },
    /// The key policy delegates to the caller's account and the caller is that account's root,
    /// which holds every permission of its account.
    AccountRoot(Option<String>),
    /// A grant (its id) allows the operation.
    Grant(String),
    /// The policies did not allow, but a policy plugin attached to the key did.
    PolicyPlugin,
    /// An action not about one key (CreateKey, ListKeys, identity management …), allowed to
    /// the caller's account root or by one of its identity policies.
    Identity,
}

/// Why a request was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Denial {
    /// A Deny statement of the key policy matched (its Sid).
    KeyPolicyDeny(Option<String>),
    /// A Deny statement of an identity policy matched.
    IdentityPolicyDeny {
        /// The identity policy.
        policy: String,
        /// The statement's Sid.
        sid: Option<String>,
    },
    /// The key policy neither allows the caller nor delegates to the caller's account, and no
    /// grant allows.
    NoKeyPolicyAllow,
    /// The key policy delegates (or, across accounts, allows), but no identity policy of the
    /// caller allows, and no grant allows.
    NoIdentityPolicyAllow,
}

impl Denial {
    /// Whether nothing can lift this refusal (a Deny statement matched).
    pub fn explicit(&self) -> bool {
        matches!(
            self,
            Denial::KeyPolicyDeny(_) | Denial::IdentityPolicyDeny { .. }
        )
    }

    /// The refusal to answer, naming the principal, the action and the key.
    pub fn refusal(&self, caller: &Caller, action: &str, key_arn: &str) -> Refusal {
        let sid = |s: &Option<String>| {
            s.as_ref()
                .map(|s| format!(" (statement '{s}')"))
                .unwrap_or_default()
        };
        let why = match self {
            Denial::KeyPolicyDeny(s) => format!("an explicit deny in the key policy{}", sid(s)),
            Denial::IdentityPolicyDeny { policy, sid: s } => format!(
                "an explicit deny in the identity-based policy '{policy}'{}",
                sid(s)
            ),
            Denial::NoKeyPolicyAllow => "no resource-based policy allows the action".into(),
            Denial::NoIdentityPolicyAllow => "no identity-based policy allows the action".into(),
        };
        Refusal {
            error: not_authorized(caller, action, key_arn, &why),
            explicit: self.explicit(),
        }
    }
}

pub use kms_core::arn::root_arn;

fn is_root(caller: &Caller) -> bool {
    caller.principal == root_arn(&caller.account)
}

/// The condition keys the documents of one request read: only these are built.
struct Needs {
    /// Lower-cased condition keys of every condition.
    keys: Vec<String>,
    /// A document uses policy variables, which may read any key.
    all: bool,
}

impl Needs {
    fn of<'d>(documents: impl Iterator<Item = &'d PolicyDocument>) -> Self {
        let mut needs = Needs {
            keys: Vec::new(),
            all: false,
        };
        for document in documents {
            needs.all |= document.uses_variables();
            for condition in document.statements.iter().flat_map(|s| &s.conditions) {
                if !needs.keys.contains(&condition.key) {
                    needs.keys.push(condition.key.clone());
                }
            }
        }
        needs
    }

    fn wants(&self, lower: &str) -> bool {
        self.all || self.keys.iter().any(|k| k == lower)
    }
}

/// The request context the documents of one request are evaluated against, with the condition
/// keys they read. Keys of the request's own parameters are set only for the actions that carry
/// them ([`Operation::condition_keys`]), as in AWS: a policy naming one on another action finds
/// it absent.
fn request_context(req: &Request<'_>, needs: &Needs) -> RequestContext {
    let caller = req.caller;
    let key = req.key;
    let mut ctx = RequestContext {
        principal_arn: caller.principal.clone(),
        principal_account: caller.account.clone(),
        service: caller.is_service().then(|| caller.principal.clone()),
        action: req.action.to_string(),
        resource: key.key_arn.to_string(),
        ..Default::default()
    };
    let mut set = |name: &str, values: &dyn Fn() -> Vec<String>| {
        if needs.wants(&name.to_ascii_lowercase()) {
            ctx.add(name, values());
        }
    };
    set("kms:CallerAccount", &|| vec![caller.account.clone()]);
    set("aws:PrincipalArn", &|| vec![caller.principal.clone()]);
    set("aws:PrincipalAccount", &|| vec![caller.account.clone()]);
    let principal_type = if is_root(caller) {
        "Account"
    } else if caller.is_service() {
        "AWSService"
    } else {
        "User"
    };
    set("aws:PrincipalType", &|| vec![principal_type.to_string()]);
    set("aws:CurrentTime", &|| vec![rfc3339(key.now)]);
    set("aws:EpochTime", &|| vec![key.now.to_string()]);
    if let Some(ip) = caller.source_ip() {
        set("aws:SourceIp", &|| vec![ip.to_string()]);
    }
    if let Some(service) = &caller.via_service {
        set("kms:ViaService", &|| vec![service.clone()]);
    }
    if let Some(identity) = req.identity {
        for (k, v) in &identity.tags {
            set(&format!("aws:PrincipalTag/{k}"), &|| vec![v.clone()]);
        }
        if let Some(name) = &identity.username {
            set("aws:username", &|| vec![name.clone()]);
        }
    }
    for (name, values) in &key.key_conditions {
        set(name, &|| values.clone());
    }
    let operation = Operation::from_iam_action(req.action);
    let carries =
        |key: ConditionKey| operation.is_some_and(|op| op.condition_keys().contains(&key));
    for (name, values) in req.request_conditions {
        if ConditionKey::of(name).is_some_and(carries) {
            set(name, &|| values.clone());
        }
    }
    if carries(ConditionKey::EncryptionContext) && !key.encryption_context.is_empty() {
        set(ConditionKey::EncryptionContextKeys.name(), &|| {
            key.encryption_context
                .iter()
                .map(|(k, _)| k.clone())
                .collect()
        });
        for (k, v) in key.encryption_context {
            set(&ConditionKey::EncryptionContext.with_suffix(k), &|| {
                vec![v.clone()]
            });
        }
    }
    ctx
}

/// The grant that allows this request, if any: one for the caller, naming the operation, whose
/// constraints the request's encryption context satisfies.
pub fn matching_grant<'g>(
    grants: &'g [GrantRecord],
    caller: &Caller,
    action: &str,
    context: &[(String, String)],
) -> Option<&'g GrantRecord> {
    let operation = Operation::from_iam_action(action)?;
    // Constraints bind only operations that take an encryption context (AWS: they do not apply
    // to DescribeKey, CreateGrant, RetireGrant).
    let takes_context = operation.takes_context();
    grants.iter().find(|g| {
        g.grantee_principal == caller.principal
            && g.operations.iter().any(|o| o == operation.name())
            && (!takes_context || g.constraints.as_ref().is_none_or(|c| c.allow(context)))
    })
}

/// Decides one request on a key, as AWS KMS does: an explicit deny in the key policy or an
/// identity policy wins; then an allow in the key policy that names the caller (same account);
/// then the key policy's delegation to the caller's account together with an identity policy
/// that allows (required across accounts); then a grant; otherwise no.
pub fn decide(req: &Request<'_>) -> Result<Basis, Denial> {
    let caller = req.caller;
    let key = req.key;
    let same_account = caller.account == key.key_account;
    let identity_documents = req
        .identity
        .into_iter()
        .flat_map(|identity| identity.policies.iter().map(|(_, d)| &**d));
    let evaluate_documents = key.policy.is_some()
        || req
            .identity
            .is_some_and(|identity| !identity.policies.is_empty());
    let ctx = evaluate_documents.then(|| {
        request_context(
            req,
            &Needs::of(key.policy.into_iter().chain(identity_documents)),
        )
    });

    let key_decision = match (key.policy, &ctx) {
        (Some(document), Some(ctx)) => document.evaluate(ctx, true),
        // The default policy: one statement allowing the account root `kms:*`.
        _ if same_account && is_root(caller) => {
            Decision::Allow(Some(DEFAULT_POLICY_SID.to_string()))
        }
        _ if same_account => Decision::AllowIfIdentityAllows(Some(DEFAULT_POLICY_SID.to_string())),
        _ => Decision::NotApplicable,
    };
    // A service principal holds no identity policies: a statement delegating to an account's
    // identity policies says nothing about it.
    let key_decision = match key_decision {
        Decision::AllowIfIdentityAllows(_) if caller.is_service() => Decision::NotApplicable,
        other => other,
    };
    if let Decision::Deny(sid) = key_decision {
        return Err(Denial::KeyPolicyDeny(sid));
    }

    let mut identity_allow = None;
    if let (Some(identity), Some(ctx)) = (req.identity, &ctx) {
        for (name, document) in &identity.policies {
            match document.evaluate(ctx, false) {
                Decision::Deny(sid) => {
                    return Err(Denial::IdentityPolicyDeny {
                        policy: name.clone(),
                        sid,
                    });
                }
                Decision::Allow(_) | Decision::AllowIfIdentityAllows(_) => {
                    identity_allow.get_or_insert_with(|| name.clone());
                }
                Decision::NotApplicable => {}
            }
        }
    }

    let delegated_basis = |sid: Option<String>| match &identity_allow {
        _ if is_root(caller) => Some(Basis::AccountRoot(sid)),
        Some(policy) => Some(Basis::IdentityPolicy {
            key_statement: sid,
            policy: policy.clone(),
        }),
        None => None,
    };
    let by_policy = match &key_decision {
        // Within the account, a statement naming the caller suffices; across accounts, the
        // caller's account must also allow it.
        Decision::Allow(sid) if same_account => Some(Basis::KeyPolicy(sid.clone())),
        Decision::Allow(sid) | Decision::AllowIfIdentityAllows(sid) => delegated_basis(sid.clone()),
        _ => None,
    };
    if let Some(basis) = by_policy {
        return Ok(basis);
    }
    if let Some(grant) = matching_grant(req.grants, caller, req.action, key.encryption_context) {
        return Ok(Basis::Grant(grant.grant_id.clone()));
    }
    match key_decision {
        Decision::NotApplicable => Err(Denial::NoKeyPolicyAllow),
        _ => Err(Denial::NoIdentityPolicyAllow),
    }
}

/// Decides an action that is not about one key (CreateKey, ListKeys, ListRetirableGrants, the
/// identity operations, an alias …): only identity policies can allow it, within the caller's
/// own account. `request_conditions` are the condition keys of the request's parameters
/// (CreateKey's `kms:KeySpec`, `aws:RequestTag/<key>`, …).
pub fn decide_account_action(
    caller: &Caller,
    action: &str,
    resource: &str,
    account: &str,
    identity: Option<&Identity>,
    now: u64,
    request_conditions: &[(String, Vec<String>)],
) -> KmsResult<()> {
    let refuse = |why: &str| {
        Err(KmsError::AccessDenied(format!(
            "User: {} is not authorized to perform: {action} on resource: {resource} because {why}",
            caller.principal
        )))
    };
    if caller.account != account {
        return refuse("the resource belongs to another account");
    }
    let facts = KeyRequestFacts {
        key_arn: resource,
        key_account: account,
        policy: None,
        key_conditions: Vec::new(),
        encryption_context: &[],
        now,
    };
    let req = Request {
        caller,
        action,
        key: &facts,
        identity,
        grants: &[],
        request_conditions,
    };
    let mut allowed = is_root(caller);
    if let Some(identity) = identity {
        let ctx = request_context(
            &req,
            &Needs::of(identity.policies.iter().map(|(_, d)| &**d)),
        );
        for (name, document) in &identity.policies {
            match document.evaluate(&ctx, false) {
                Decision::Deny(sid) => {
                    let statement = sid
                        .map(|s| format!(" (statement '{s}')"))
                        .unwrap_or_default();
                    return refuse(&format!(
                        "an explicit deny in the identity-based policy '{name}'{statement}"
                    ));
                }
                Decision::NotApplicable => {}
                _ => allowed = true,
            }
        }
    }
    if allowed {
        Ok(())
    } else {
        refuse("no identity-based policy allows the action")
    }
}

/// The explicit deny of the caller's identity policies for this request, if one matches: what
/// decides an action that a grant, not a policy, allows (RetireGrant), where a policy can only
/// refuse.
pub fn identity_denial(req: &Request<'_>) -> Option<Denial> {
    let identity = req.identity?;
    let ctx = request_context(req, &Needs::of(identity.policies.iter().map(|(_, d)| &**d)));
    identity
        .policies
        .iter()
        .find_map(|(name, document)| match document.evaluate(&ctx, false) {
            Decision::Deny(sid) => Some(Denial::IdentityPolicyDeny {
                policy: name.clone(),
                sid,
            }),
            _ => None,
        })
}

/// The Sid of the default key policy's one statement.
pub const DEFAULT_POLICY_SID: &str = "Enable IAM User Permissions";

/// AWS's default key policy for a key of `account`.
pub fn default_key_policy(account: &str) -> String {
    format!(
        r#"{{
  "Version": "2012-10-17",
  "Id": "key-default-1",
  "Statement": [
    {{
      "Sid": "{DEFAULT_POLICY_SID}",
      "Effect": "Allow",
      "Principal": {{"AWS": "arn:aws:iam::{account}:root"}},
      "Action": "kms:*",
      "Resource": "*"
    }}
  ]
}}"#
    )
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
            scope: kms_vault::PluginScope::Account("111122223333".into()),
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
        let caller = Caller::account_root("444455556666");
        let refusal = Denial::NoKeyPolicyAllow.refusal(
            &caller,
            "kms:Decrypt",
            "arn:aws:kms:us-east-1:111122223333:key/k",
        );
        let msg = refusal.error.to_string();
        assert!(msg.contains("arn:aws:iam::444455556666:root"), "{msg}");
        assert!(msg.contains("kms:Decrypt"), "{msg}");
        assert!(msg.contains("key/k"), "{msg}");
        assert!(!refusal.explicit);
    }
}

#[cfg(test)]
#[path = "decision_tests.rs"]
mod decision_tests;
