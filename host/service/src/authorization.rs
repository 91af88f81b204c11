//! The service's side of authorization: gathering what `authz` decides on (the key policy, the
//! caller's identity policies and tags, the key's grants and condition keys), running policy
//! plugins, and caching parsed policy documents.

use super::*;
use kms_authz::policy::PolicyDocument;
use kms_authz::{Basis, Identity, PluginVerdict, PolicyRequest};
use kms_vault::{PluginAttachment, PluginScope};

/// What a request says about itself beyond its key, for condition keys.
#[derive(Clone, Copy, Default)]
pub(super) struct RequestFacts<'a> {
    /// The request's encryption context.
    pub context: &'a [(String, String)],
    /// The alias the request named its key by (`kms:RequestAlias`).
    pub alias: Option<&'a str>,
    /// Further condition keys of the request (`kms:GrantOperations`, …).
    pub conditions: &'a [(String, Vec<String>)],
}

impl<'a> RequestFacts<'a> {
    pub(super) fn of(note: &'a AuditNote) -> Self {
        RequestFacts {
            context: note.encryption_context.as_deref().unwrap_or(&[]),
            alias: note.request_alias.as_deref(),
            conditions: &note.conditions,
        }
    }
}

/// Distinct policy documents kept parsed; past this the cache starts over.
const MAX_CACHED_POLICIES: usize = 1024;

/// What an action is authorized on: the one argument that tells [`Service::authorize`] which
/// rules decide.
pub(super) enum Resource<'a> {
    /// A key, with what the request says about itself: the key policy, the caller's identity
    /// policies and the key's grants, then every policy plugin of the key and of its account.
    Key(&'a KeyRecord, RequestFacts<'a>),
    /// A key whose policy plugins are being managed: decided without the plugins, so that a
    /// broken or hostile plugin can always be detached.
    KeyWithoutPlugins(&'a KeyRecord),
    /// The KMS resources of the vault's account as a whole (CreateKey, ListKeys, …): the
    /// account root, or an identity policy of the account.
    Account,
    /// Every resource of the caller's own account (GenerateRandom, ListRetirableGrants): the
    /// account root, or an identity policy allowing the action on `"*"`.
    CallerAccount,
    /// An IAM or Organizations resource (a principal's ARN, an account) of `account`: the
    /// vault account's root always; otherwise the caller's account root or identity policies.
    Identity {
        /// The resource's ARN.
        arn: &'a str,
        /// The account the resource belongs to.
        account: &'a str,
    },
}

impl Service {
    /// The one authorization entry point: is `caller` allowed `action` on `resource`? Answers
    /// what allowed it, or the AccessDeniedException that names why not. Plugin verdicts are
    /// audited as they are given; the caller audits the operation itself.
    pub(super) fn authorize(
        &self,
        caller: &Caller,
        action: &str,
        resource: Resource<'_>,
    ) -> KmsResult<Basis> {
        let by_identity = |resource: &str, account: &str| {
            let identity = self.identity_of(caller)?;
            authz::decide_account_action(
                caller,
                action,
                resource,
                account,
                identity.as_ref(),
                self.now(),
            )
            .map(|()| Basis::Identity)
        };
        match resource {
            Resource::Key(record, facts) => {
                self.authorize_with_plugins(caller, action, record, &facts)
            }
            Resource::KeyWithoutPlugins(record) => self
                .policy_decision(caller, action, record, &RequestFacts::default())
                .map_err(|refusal| refusal.error),
            Resource::Account => by_identity(
                &Arn::kms(self.region.as_str(), self.shared.vault.account(), "*").to_string(),
                self.shared.vault.account(),
            ),
            Resource::CallerAccount => by_identity("*", &caller.account),
            Resource::Identity { arn, account } => {
                if caller.principal == authz::root_arn(self.shared.vault.account()) {
                    return Ok(Basis::Identity);
                }
                by_identity(arn, account)
            }
        }
    }

    /// Authorizes `caller` for `action` on `record`: the policies and grants, then every policy
    /// plugin attached to the key or its account, each verdict audited. Answers what allowed it.
    fn authorize_with_plugins(
        &self,
        caller: &Caller,
        action: &str,
        record: &KeyRecord,
        facts: &RequestFacts<'_>,
    ) -> KmsResult<Basis> {
        let key_arn = self.key_arn(&record.key_id);
        let decision = self.policy_decision(caller, action, record, facts);
        let store = self.shared.vault.store();
        let key_plugins = store.plugins(&PluginScope::of_key(record))?;
        let account_plugins = store.plugins(&PluginScope::Account(record.account.clone()))?;
        if key_plugins.is_empty() && account_plugins.is_empty() {
            return decision.map_err(|refusal| refusal.error);
        }
        let request = PolicyRequest {
            principal: caller.principal.clone(),
            account: caller.account.clone(),
            action: action.to_string(),
            key_arn: key_arn.clone(),
            key_tags: record
                .tags
                .iter()
                .map(|t| (t.tag_key.clone(), t.tag_value.clone()))
                .collect(),
            encryption_context: facts.context.to_vec(),
            via_service: caller.via_service.clone(),
            time: self.now(),
        };
        let engine = self.policy_engine();
        let decide = |plugins: &[PluginAttachment]| -> KmsResult<Vec<_>> {
            let mut verdicts = Vec::with_capacity(plugins.len());
            for plugin in plugins {
                let verdict = engine.evaluate(plugin, &request);
                self.record_plugin_verdict(caller, plugin, &request, &verdict)?;
                verdicts.push(verdict);
            }
            Ok(verdicts)
        };
        let mut key_verdicts = decide(&key_plugins)?;
        let account_verdicts = decide(&account_plugins)?;
        if record.managed_by.is_some() {
            // Nobody may widen access to an AWS managed key: a key plugin may only deny.
            for verdict in &mut key_verdicts {
                if *verdict == PluginVerdict::Allow {
                    *verdict = PluginVerdict::Abstain;
                }
            }
        }
        let key_pairs: Vec<_> = key_plugins.iter().zip(key_verdicts).collect();
        let account_pairs: Vec<_> = account_plugins.iter().zip(account_verdicts).collect();
        let basis = decision.as_ref().ok().cloned();
        authz::combine(
            decision.map(|_| ()),
            &key_pairs,
            &account_pairs,
            action,
            &key_arn,
            &caller.principal,
        )?;
        Ok(basis.unwrap_or(Basis::PolicyPlugin))
    }

    /// The decision of the key policy, identity policies and grants on `action` for `caller`,
    /// without plugins and without auditing: what [`authorize`](Self::authorize) starts from,
    /// and what `kms analyze` and PutKeyPolicy's lock-out check simulate.
    pub(super) fn policy_decision(
        &self,
        caller: &Caller,
        action: &str,
        record: &KeyRecord,
        facts: &RequestFacts<'_>,
    ) -> Result<Basis, authz::Refusal> {
        let key_arn = self.key_arn(&record.key_id);
        let internal = |error: KmsError| authz::Refusal {
            error,
            explicit: true,
        };
        let policy = record
            .policy
            .as_deref()
            .map(|text| self.parsed_policy(text, "key policy"))
            .transpose()
            .map_err(internal)?;
        let identity = self.identity_of(caller).map_err(internal)?;
        let documents: Vec<&PolicyDocument> = policy
            .as_deref()
            .into_iter()
            .chain(
                identity
                    .iter()
                    .flat_map(|i| i.policies.iter().map(|(_, d)| &**d)),
            )
            .collect();
        // The key's condition keys matter only to a policy document; the default has none.
        let mut key_conditions = Vec::new();
        if !documents.is_empty() {
            key_conditions.extend([
                ("kms:KeySpec".to_string(), vec![record.key_spec.to_string()]),
                (
                    "kms:KeyUsage".to_string(),
                    vec![record.key_usage.to_string()],
                ),
                ("kms:KeyOrigin".to_string(), vec![record.origin.to_string()]),
            ]);
            for tag in &record.tags {
                key_conditions.push((
                    format!("aws:ResourceTag/{}", tag.tag_key),
                    vec![tag.tag_value.clone()],
                ));
            }
            if documents
                .iter()
                .any(|d| d.reads_condition_key("kms:ResourceAliases"))
            {
                let aliases = self
                    .shared
                    .vault
                    .store()
                    .aliases_after(&self.region, None, Some(&record.key_id), 1000)
                    .map_err(internal)?;
                key_conditions.push((
                    "kms:ResourceAliases".into(),
                    aliases.into_iter().map(|a| a.name).collect(),
                ));
            }
            if let Some(alias) = facts.alias {
                key_conditions.push(("kms:RequestAlias".into(), vec![alias.to_string()]));
            }
        }
        let key = authz::KeyRequestFacts {
            key_arn: &key_arn,
            key_account: &record.account,
            policy: policy.as_deref(),
            key_conditions,
            encryption_context: facts.context,
            now: self.now(),
        };
        // Grants come last in the evaluation order, so they are read only when the policies
        // refuse without an explicit deny, and then only matched: the policies' answer stands.
        let request = authz::Request {
            caller,
            action,
            key: &key,
            identity: identity.as_ref(),
            grants: &[],
            request_conditions: facts.conditions,
        };
        match authz::decide(&request) {
            Err(denial) if !denial.explicit() => {
                let grants = self
                    .shared
                    .vault
                    .store()
                    .grants(&self.region, &record.key_id)
                    .map_err(internal)?;
                match authz::matching_grant(&grants, caller, action, facts.context) {
                    Some(grant) => Ok(Basis::Grant(grant.grant_id.clone())),
                    None => Err(denial.refusal(caller, action, &key_arn)),
                }
            }
            other => other.map_err(|d| d.refusal(caller, action, &key_arn)),
        }
    }

    /// The stored identity of `caller`: tags and parsed identity policies. `None` for an account
    /// root (which no identity policy governs) and for principals the vault does not know.
    pub(super) fn identity_of(&self, caller: &Caller) -> KmsResult<Option<Identity>> {
        if caller.principal == authz::root_arn(&caller.account) {
            return Ok(None);
        }
        let Some(record) = self.shared.vault.store().principal(&caller.principal)? else {
            return Ok(None);
        };
        let mut policies = Vec::with_capacity(record.policies.len());
        for (name, text) in &record.policies {
            policies.push((name.clone(), self.parsed_policy(text, "identity policy")?));
        }
        Ok(Some(Identity {
            tags: record
                .tags
                .into_iter()
                .map(|t| (t.tag_key, t.tag_value))
                .collect(),
            policies,
            username: (record.kind == kms_vault::PrincipalKind::User).then_some(record.name),
        }))
    }

    /// A policy document, parsed once per distinct text rather than on every request.
    pub(super) fn parsed_policy(&self, text: &str, what: &str) -> KmsResult<Arc<PolicyDocument>> {
        let mut cache = self
            .shared
            .policies
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(parsed) = cache.get(text) {
            return Ok(Arc::clone(parsed));
        }
        let parsed =
            Arc::new(PolicyDocument::parse(text).map_err(|e| {
                KmsError::Internal(format!("the stored {what} is unreadable: {e}"))
            })?);
        if cache.len() >= MAX_CACHED_POLICIES {
            cache.clear();
        }
        cache.insert(text.to_string(), Arc::clone(&parsed));
        Ok(parsed)
    }
}
