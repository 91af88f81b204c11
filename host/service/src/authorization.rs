//! The service's side of authorization: gathering what `authz` decides on (the key policy, the
//! caller's identity policies and tags, the key's grants and condition keys), running policy
//! plugins, and caching parsed policy documents.

use super::*;
use kms_authz::policy::PolicyDocument;
use kms_authz::{Basis, Identity, PluginVerdict, PolicyRequest};
use kms_core::ConditionKey;
use kms_vault::{PluginAttachment, PluginScope};

/// What a request says about itself beyond its key, for condition keys. Which of these an
/// action carries is [`Operation::condition_keys`]'s to say; authorization sets no other.
#[derive(Clone, Copy, Default)]
pub(super) struct RequestFacts<'a> {
    /// The request's encryption context (`kms:EncryptionContext:<key>`,
    /// `kms:EncryptionContextKeys`; grant constraints are checked against it too).
    pub context: &'a [(String, String)],
    /// The alias the request named its key by (`kms:RequestAlias`).
    pub alias: Option<&'a str>,
    /// Further condition keys of the request's parameters (`kms:GrantOperations`, …).
    pub conditions: &'a [(String, Vec<String>)],
}

/// Condition keys with their values, as authorization takes them.
pub(super) type Conditions = Vec<(String, Vec<String>)>;

/// One condition key of a request's parameters with its values, as authorization takes it.
pub(super) fn condition<T: ToString>(
    key: ConditionKey,
    values: impl IntoIterator<Item = T>,
) -> (String, Vec<String>) {
    (
        key.name().to_string(),
        values.into_iter().map(|v| v.to_string()).collect(),
    )
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
    /// The KMS resources of the vault's account as a whole (ListKeys, …): the account root, or
    /// an identity policy of the account.
    Account,
    /// A key about to be made (CreateKey, and ReplicateKey in the replica's region), with the
    /// condition keys of the key it would be (`kms:KeySpec`, `aws:RequestTag/<key>`, …): like
    /// [`Account`](Resource::Account), the account root or an identity policy decides.
    NewKey(&'a [(String, Vec<String>)]),
    /// An alias (CreateAlias, UpdateAlias, DeleteAlias authorize on it besides its keys): its
    /// ARN, `arn:aws:kms:<region>:<account>:alias/<name>`. An alias has no key policy: the
    /// vault account's root or an identity policy of that account decides, so an identity
    /// policy can say which alias names a principal may manage.
    Alias(&'a str),
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
        let by_identity = |resource: &str, account: &str, conditions: &[(String, Vec<String>)]| {
            let identity = self.identity_of(caller)?;
            authz::decide_account_action(
                caller,
                action,
                resource,
                account,
                identity.as_ref(),
                self.now(),
                conditions,
            )
            .map(|()| Basis::Identity)
        };
        let account_kms =
            || Arn::kms(self.region.as_str(), self.shared.vault.account(), "*").to_string();
        match resource {
            Resource::Key(record, facts) => {
                self.authorize_with_plugins(caller, action, record, &facts)
            }
            Resource::KeyWithoutPlugins(record) => self
                .policy_decision(caller, action, record, &RequestFacts::default())
                .map_err(|refusal| refusal.error),
            Resource::Account => by_identity(&account_kms(), self.shared.vault.account(), &[]),
            Resource::NewKey(conditions) => {
                by_identity(&account_kms(), self.shared.vault.account(), conditions)
            }
            Resource::Alias(name) => {
                by_identity(&self.alias_arn(name), self.shared.vault.account(), &[])
            }
            Resource::CallerAccount => by_identity("*", &caller.account, &[]),
            Resource::Identity { arn, account } => {
                if caller.principal == authz::root_arn(self.shared.vault.account()) {
                    return Ok(Basis::Identity);
                }
                by_identity(arn, account, &[])
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
        let records = self.shared.vault.records();
        let key_plugins = records.plugins_shared(&PluginScope::of_key(record))?;
        let account_plugins =
            records.plugins_shared(&PluginScope::Account(record.account.clone()))?;
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
        let (key_conditions, request_conditions) = if documents.is_empty() {
            Default::default()
        } else {
            self.condition_keys(action, record, facts, &documents)
                .map_err(internal)?
        };
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
            request_conditions: &request_conditions,
        };
        match authz::decide(&request) {
            Err(denial) if !denial.explicit() => {
                let grants = self
                    .shared
                    .vault
                    .records()
                    .grants_shared(&self.region, &record.key_id)
                    .map_err(internal)?;
                match authz::matching_grant(&grants, caller, action, facts.context) {
                    Some(grant) => Ok(Basis::Grant(grant.grant_id.clone())),
                    None => Err(denial.refusal(caller, action, &key_arn)),
                }
            }
            other => other.map_err(|d| d.refusal(caller, action, &key_arn)),
        }
    }

    /// The condition keys of a request on `record` that `documents` may read: the key's own
    /// (`kms:KeySpec`, `aws:ResourceTag/<key>`, `kms:ResourceAliases`, …, for every action on
    /// a key) and the request's (`facts`, with `kms:RequestAlias` and the key's
    /// `kms:TrailingDaysWithoutKeyUsage`; authz keeps those the action carries).
    fn condition_keys(
        &self,
        action: &str,
        record: &KeyRecord,
        facts: &RequestFacts<'_>,
        documents: &[&PolicyDocument],
    ) -> KmsResult<(Conditions, Conditions)> {
        let reads = |key: &str| documents.iter().any(|d| d.reads_condition_key(key));
        let spec = vec![record.key_spec.to_string()];
        let usage = vec![record.key_usage.to_string()];
        let mut key_conditions = vec![
            (ConditionKey::KeySpec.name().to_string(), spec.clone()),
            (ConditionKey::CustomerMasterKeySpec.name().to_string(), spec),
            (ConditionKey::KeyUsage.name().to_string(), usage.clone()),
            (
                ConditionKey::CustomerMasterKeyUsage.name().to_string(),
                usage,
            ),
            (
                ConditionKey::KeyOrigin.name().to_string(),
                vec![record.origin.to_string()],
            ),
            (
                ConditionKey::MultiRegion.name().to_string(),
                vec![record.primary_region.is_some().to_string()],
            ),
        ];
        if let Some(primary) = &record.primary_region {
            let kind = if *primary == record.region {
                "PRIMARY"
            } else {
                "REPLICA"
            };
            key_conditions.push((
                ConditionKey::MultiRegionKeyType.name().to_string(),
                vec![kind.to_string()],
            ));
        }
        for tag in &record.tags {
            key_conditions.push((
                format!("aws:ResourceTag/{}", tag.tag_key),
                vec![tag.tag_value.clone()],
            ));
        }
        if reads("kms:ResourceAliases") {
            let aliases = self.shared.vault.store().aliases_after(
                &self.region,
                None,
                Some(&record.key_id),
                1000,
            )?;
            key_conditions.push((
                "kms:ResourceAliases".into(),
                aliases.into_iter().map(|a| a.name).collect(),
            ));
        }
        let mut request_conditions = facts.conditions.to_vec();
        if let Some(alias) = facts.alias {
            request_conditions.push((
                ConditionKey::RequestAlias.name().to_string(),
                vec![alias.to_string()],
            ));
        }
        let trailing = ConditionKey::TrailingDaysWithoutKeyUsage;
        let carries = Operation::from_iam_action(action)
            .is_some_and(|op| op.condition_keys().contains(&trailing));
        if carries && reads(trailing.name()) {
            request_conditions.push((
                trailing.name().to_string(),
                vec![self.days_without_use(record)?.to_string()],
            ));
        }
        Ok((key_conditions, request_conditions))
    }

    /// Refuses `caller` when one of its identity policies explicitly denies `action` on
    /// `record`: all a policy can do to an action a grant decides (RetireGrant).
    pub(super) fn refuse_identity_denial(
        &self,
        caller: &Caller,
        action: &str,
        record: &KeyRecord,
        facts: &RequestFacts<'_>,
    ) -> KmsResult<()> {
        let Some(identity) = self.identity_of(caller)? else {
            return Ok(());
        };
        if identity.policies.is_empty() {
            return Ok(());
        }
        let key_arn = self.key_arn(&record.key_id);
        let documents: Vec<&PolicyDocument> = identity.policies.iter().map(|(_, d)| &**d).collect();
        let (key_conditions, request_conditions) =
            self.condition_keys(action, record, facts, &documents)?;
        let key = authz::KeyRequestFacts {
            key_arn: &key_arn,
            key_account: &record.account,
            policy: None,
            key_conditions,
            encryption_context: facts.context,
            now: self.now(),
        };
        let request = authz::Request {
            caller,
            action,
            key: &key,
            identity: Some(&identity),
            grants: &[],
            request_conditions: &request_conditions,
        };
        match authz::identity_denial(&request) {
            Some(denial) => Err(denial.refusal(caller, action, &key_arn).error),
            None => Ok(()),
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
