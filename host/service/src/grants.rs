//! Grants: CreateGrant, ListGrants, ListRetirableGrants, RetireGrant, RevokeGrant, and the grant
//! tokens CreateGrant returns. Grants take effect at once here (one vault, no replication lag),
//! so a grant token is accepted as soon as it is issued; tokens are still checked, because a
//! token this service did not issue is an error in AWS too.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use super::*;
use authorization::condition;
use kms_authz::Basis;
use kms_core::types::{KeySpec, KeyUsage};
use kms_vault::{GrantConstraints, GrantRecord};

/// Most grant tokens one request may carry.
const MAX_GRANT_TOKENS: usize = 10;
const MAX_GRANT_TOKEN_LEN: usize = 8192;

/// CreateGrant request.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateGrantRequest {
    /// The key (id or ARN).
    pub key_id: String,
    /// Who receives the permissions.
    pub grantee_principal: String,
    /// Who may retire the grant.
    #[serde(default)]
    pub retiring_principal: Option<String>,
    /// The operations allowed.
    pub operations: Vec<String>,
    /// Encryption-context constraints.
    #[serde(default)]
    pub constraints: Option<GrantConstraints>,
    /// Grant tokens that allow this request.
    #[serde(default)]
    pub grant_tokens: Vec<String>,
    /// A name that makes retries idempotent.
    #[serde(default)]
    pub name: Option<String>,
    /// Check permissions only.
    #[serde(default)]
    pub dry_run: bool,
}

/// CreateGrant response.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateGrantResponse {
    /// A token usable in `GrantTokens` at once.
    pub grant_token: String,
    /// The grant id.
    pub grant_id: String,
}

/// ListGrants request.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListGrantsRequest {
    /// The key.
    pub key_id: String,
    /// Page size (1–100, default 50).
    #[serde(default)]
    pub limit: Option<u32>,
    /// The `NextMarker` of a previous page.
    #[serde(default)]
    pub marker: Option<String>,
    /// Only this grant.
    #[serde(default)]
    pub grant_id: Option<String>,
    /// Only grants for this grantee.
    #[serde(default)]
    pub grantee_principal: Option<String>,
}

/// ListRetirableGrants request.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListRetirableGrantsRequest {
    /// The retiring principal.
    pub retiring_principal: String,
    /// Page size (1–100, default 50).
    #[serde(default)]
    pub limit: Option<u32>,
    /// The `NextMarker` of a previous page.
    #[serde(default)]
    pub marker: Option<String>,
}

/// One grant, as listed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GrantListEntry {
    /// The key's ARN.
    pub key_id: String,
    /// The grant id.
    pub grant_id: String,
    /// The grant's name, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Creation time, seconds since the epoch.
    pub creation_date: u64,
    /// Who received the permissions.
    pub grantee_principal: String,
    /// Who may retire it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retiring_principal: Option<String>,
    /// The account that created it, as its root ARN.
    pub issuing_account: String,
    /// The operations allowed.
    pub operations: Vec<String>,
    /// Encryption-context constraints.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub constraints: Option<GrantConstraints>,
}

/// ListGrants and ListRetirableGrants response.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListGrantsResponse {
    /// This page of grants.
    pub grants: Vec<GrantListEntry>,
    /// Marker for the next page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
    /// Whether there are more.
    pub truncated: bool,
}

/// RetireGrant request: a grant token, or a key and grant id.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RetireGrantRequest {
    /// The grant's token.
    #[serde(default)]
    pub grant_token: Option<String>,
    /// The key (ARN or id), with `grant_id`.
    #[serde(default)]
    pub key_id: Option<String>,
    /// The grant id, with `key_id`.
    #[serde(default)]
    pub grant_id: Option<String>,
    /// Check permissions only.
    #[serde(default)]
    pub dry_run: bool,
}

/// RevokeGrant request.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RevokeGrantRequest {
    /// The key.
    pub key_id: String,
    /// The grant id.
    pub grant_id: String,
    /// Check permissions only.
    #[serde(default)]
    pub dry_run: bool,
}

/// The operations a grant may allow on a key of this spec and usage.
fn operations_for(spec: KeySpec, usage: KeyUsage) -> Vec<Operation> {
    use Operation::*;
    let mut ops = vec![CreateGrant, RetireGrant, DescribeKey];
    ops.extend(match (usage, spec) {
        (KeyUsage::EncryptDecrypt, KeySpec::SymmetricDefault) => Operation::grantable_operations()
            .filter(|op| op.takes_context())
            .collect(),
        (KeyUsage::EncryptDecrypt, _) => {
            vec![Decrypt, Encrypt, ReEncryptFrom, ReEncryptTo, GetPublicKey]
        }
        (KeyUsage::SignVerify, _) => vec![Sign, Verify, GetPublicKey],
        (KeyUsage::GenerateVerifyMac, _) => vec![GenerateMac, VerifyMac],
        (KeyUsage::KeyAgreement, _) => vec![DeriveSharedSecret, GetPublicKey],
        (KeyUsage::EncapsulateDecapsulate, _) => vec![Encapsulate, Decapsulate, GetPublicKey],
    });
    ops
}

/// The id of a named grant: a digest of its key, name, principals, operations (sorted) and
/// constraints, which CreateGrant retried with the same parameters finds again.
fn named_grant_id(
    key_id: &KeyId,
    name: &str,
    req: &CreateGrantRequest,
    operations: &[String],
    constraints: &Option<GrantConstraints>,
) -> KmsResult<String> {
    let mut sorted = operations.to_vec();
    sorted.sort();
    let constraints = serde_json::to_string(constraints)
        .map_err(|e| KmsError::Internal(format!("cannot encode grant constraints: {e}")))?;
    Ok(hex::encode(kms_crypto::sha256_parts(&[
        b"kms named grant id v1",
        key_id.as_bytes(),
        name.as_bytes(),
        req.grantee_principal.as_bytes(),
        req.retiring_principal.as_deref().unwrap_or("").as_bytes(),
        sorted.join(",").as_bytes(),
        constraints.as_bytes(),
    ])))
}

fn validate_grant_name(name: &str) -> KmsResult<()> {
    let ok = (1..=256).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ":/_-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(KmsError::invalid(
            "Name",
            format!("Name '{name}' must be 1 to 256 letters, digits or :/_-"),
        ))
    }
}

/// A grantee or retiring principal: an IAM principal ARN, an account id, or a service principal.
fn validate_grant_principal(what: &str, principal: &str) -> KmsResult<()> {
    let ok = (1..=256).contains(&principal.len())
        && (kms_core::arn::is_iam_principal_arn(principal)
            || kms_vault::validate_account(principal).is_ok()
            || (principal.ends_with(".amazonaws.com")
                && principal
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-".contains(c))));
    if ok {
        Ok(())
    } else {
        Err(KmsError::invalid(
            what.to_string(),
            format!("{what} '{principal}' is not a principal ARN, account id or service principal"),
        ))
    }
}

fn validate_grant_id(grant_id: &str) -> KmsResult<()> {
    if grant_id.len() == 64 && grant_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(KmsError::InvalidGrantId(format!(
            "'{grant_id}' is not a grant id"
        )))
    }
}

fn entry(service: &Service, grant: GrantRecord) -> GrantListEntry {
    GrantListEntry {
        key_id: service.key_arn(&grant.key_id),
        grant_id: grant.grant_id,
        name: grant.name,
        creation_date: grant.created_at,
        grantee_principal: grant.grantee_principal,
        retiring_principal: grant.retiring_principal,
        issuing_account: authz::root_arn(&grant.issuing_account),
        operations: grant.operations,
        constraints: grant.constraints,
    }
}

pub(crate) fn dry_run_succeeded() -> KmsError {
    KmsError::DryRunOperation("The request would have succeeded, but the DryRun flag is set".into())
}

impl Service {
    /// A grant token for `grant_id`: the id, a nonce and a MAC under a key derived from the
    /// root key, so that tokens cannot be forged.
    fn grant_token(&self, grant_id: &str) -> KmsResult<String> {
        let nonce = kms_crypto::random_bytes(16)?;
        let tag = self.grant_token_tag(grant_id.as_bytes(), &nonce);
        let mut token = grant_id.as_bytes().to_vec();
        token.extend_from_slice(&nonce);
        token.extend_from_slice(&tag);
        Ok(URL_SAFE_NO_PAD.encode(token))
    }

    /// The MAC that binds a token's grant id and nonce to this vault.
    fn grant_token_tag(&self, grant_id: &[u8], nonce: &[u8]) -> [u8; 32] {
        kms_crypto::hmac_sha256_parts(
            &self.shared.vault.derived_key(b"kms grant token key v1"),
            &[grant_id, nonce],
        )
    }

    /// The grant id inside a token this service issued.
    fn grant_id_of_token(&self, token: &str) -> KmsResult<String> {
        let invalid = || KmsError::InvalidGrantToken("The grant token is not valid".into());
        if token.is_empty() || token.len() > MAX_GRANT_TOKEN_LEN {
            return Err(invalid());
        }
        let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
        if bytes.len() != 64 + 16 + 32 {
            return Err(invalid());
        }
        let (id, rest) = bytes.split_at(64);
        let (nonce, tag) = rest.split_at(16);
        if !kms_crypto::constant_time_eq(&self.grant_token_tag(id, nonce), tag) {
            return Err(invalid());
        }
        String::from_utf8(id.to_vec()).map_err(|_| invalid())
    }

    /// Checks the `GrantTokens` of a request: at most ten, each issued by this service.
    pub(super) fn check_grant_tokens(&self, tokens: &[String]) -> KmsResult<()> {
        if tokens.len() > MAX_GRANT_TOKENS {
            return Err(KmsError::invalid(
                "GrantTokens",
                format!("At most {MAX_GRANT_TOKENS} grant tokens may be given"),
            ));
        }
        for token in tokens {
            self.grant_id_of_token(token)?;
        }
        Ok(())
    }

    /// CreateGrant. A principal allowed CreateGrant only by a grant may pass on no more than
    /// that grant allows, under constraints at least as strict.
    pub fn create_grant(
        &self,
        caller: &Caller,
        req: CreateGrantRequest,
    ) -> KmsResult<CreateGrantResponse> {
        self.audited(caller, "CreateGrant", |note| {
            self.check_grant_tokens(&req.grant_tokens)?;
            validate_grant_principal("GranteePrincipal", &req.grantee_principal)?;
            if let Some(retiring) = &req.retiring_principal {
                validate_grant_principal("RetiringPrincipal", retiring)?;
            }
            if let Some(name) = &req.name {
                validate_grant_name(name)?;
            }
            if req.operations.is_empty() {
                return Err(KmsError::invalid(
                    "Operations",
                    "Operations must name at least one operation".into(),
                ));
            }
            let mut operations: Vec<String> = Vec::new();
            for op in &req.operations {
                if !op.parse::<Operation>().is_ok_and(Operation::grantable) {
                    let names: Vec<&str> =
                        Operation::grantable_operations().map(Operation::name).collect();
                    return Err(KmsError::invalid("Operations", format!(
                        "'{op}' is not a grant operation; use one of {}",
                        names.join(", ")
                    )));
                }
                if !operations.contains(op) {
                    operations.push(op.clone());
                }
            }
            let constraints = req.constraints.clone().filter(|c| {
                c.encryption_context_equals.is_some() || c.encryption_context_subset.is_some()
            });
            note.condition(ConditionKey::GrantOperations, &operations);
            note.condition(ConditionKey::GrantIsForAwsResource, [caller.via_service.is_some()]);
            note.condition(ConditionKey::GranteePrincipal, [&req.grantee_principal]);
            if let Some(retiring) = &req.retiring_principal {
                note.condition(ConditionKey::RetiringPrincipal, [retiring]);
            }
            let (constraint_types, constraint_context) = constraint_facts(constraints.as_ref());
            if !constraint_types.is_empty() {
                note.condition(ConditionKey::GrantConstraintType, constraint_types);
            }
            let record = self.resolve(&req.key_id)?;
            note.key(self.key_arn(&record.key_id));
            note.request_alias = request_alias(&req.key_id).map(str::to_string);
            if note.request_alias.is_some() {
                return Err(KmsError::invalid(
                    "KeyId",
                    "CreateGrant takes a key id or key ARN, not an alias".into(),
                ));
            }
            // The constraint's pairs are what kms:EncryptionContext:<key> reads here.
            let basis = self.authorize(
                caller,
                "kms:CreateGrant",
                Resource::Key(
                    &record,
                    RequestFacts {
                        context: &constraint_context,
                        alias: None,
                        conditions: &note.conditions,
                    },
                ),
            )?;
            self.require_not_pending_deletion(&record)?;
            let allowed = operations_for(record.key_spec, record.key_usage);
            if let Some(op) = operations
                .iter()
                .find(|op| !allowed.iter().any(|a| a.name() == op.as_str()))
            {
                return Err(KmsError::invalid("Operations", format!(
                    "The operation {op} is not valid for a {} {} key",
                    record.key_spec, record.key_usage
                )));
            }
            if constraints.is_some()
                && !(record.key_spec == KeySpec::SymmetricDefault
                    && record.key_usage == KeyUsage::EncryptDecrypt)
            {
                return Err(KmsError::invalid(
                    "Constraints",
                    "Encryption context constraints are allowed only in grants for symmetric \
                     encryption keys"
                        .into(),
                ));
            }
            if let Basis::Grant(parent_id) = &basis {
                let parent = self
                    .shared.vault
                    .store()
                    .grant(parent_id)?
                    .ok_or_else(|| KmsError::Internal("the allowing grant vanished".into()))?;
                let wider = operations.iter().any(|op| !parent.operations.contains(op));
                let looser = !constraints
                    .clone()
                    .unwrap_or_default()
                    .at_least_as_strict_as(&parent.constraints.clone().unwrap_or_default());
                if wider || looser {
                    return Err(KmsError::AccessDenied(format!(
                        "User: {} is not authorized to perform: kms:CreateGrant on resource: {} because grant {parent_id} allows only {} under its own constraints",
                        caller.principal,
                        self.key_arn(&record.key_id),
                        parent.operations.join(", ")
                    )));
                }
                note.grant_id = Some(parent_id.clone());
            }
            if req.dry_run {
                return Err(dry_run_succeeded());
            }
            if let Some(name) = &req.name {
                let mut wanted_ops = operations.clone();
                wanted_ops.sort();
                let existing = self.shared.vault.store().grants(&self.region, &record.key_id)?.into_iter().find(|g| {
                    let mut ops = g.operations.clone();
                    ops.sort();
                    g.name.as_deref() == Some(name)
                        && g.grantee_principal == req.grantee_principal
                        && g.retiring_principal == req.retiring_principal
                        && ops == wanted_ops
                        && g.constraints == constraints
                });
                if let Some(existing) = existing {
                    return Ok(CreateGrantResponse {
                        grant_token: self.grant_token(&existing.grant_id)?,
                        grant_id: existing.grant_id,
                    });
                }
            }
            let limit = self.resource_limits().grants_per_key;
            if self.shared.vault.store().grants(&self.region, &record.key_id)?.len() >= limit {
                return Err(KmsError::LimitExceeded(format!(
                    "{} already has {limit} grants, the most a key may have",
                    self.key_arn(&record.key_id)
                )));
            }
            // A named grant's id follows from its parameters, so that two identical requests at
            // once (in any process) make one grant: the second insert finds the first's id.
            let grant_id = match &req.name {
                Some(name) => named_grant_id(&record.key_id, name, &req, &operations, &constraints)?,
                None => hex::encode(kms_crypto::random_bytes(32)?.as_slice()),
            };
            let grant = GrantRecord {
                grant_id: grant_id.clone(),
                key_id: record.key_id,
                region: record.region.clone(),
                name: req.name,
                grantee_principal: req.grantee_principal,
                retiring_principal: req.retiring_principal,
                operations,
                constraints,
                issuing_principal: caller.principal.clone(),
                issuing_account: record.account.clone(),
                created_at: self.now(),
            };
            match self.shared.vault.store().insert_grant(&grant) {
                Err(KmsError::AlreadyExists(_)) if grant.name.is_some() => {}
                other => other?,
            }
            Ok(CreateGrantResponse {
                grant_token: self.grant_token(&grant_id)?,
                grant_id,
            })
        })
    }

    /// ListGrants: the grants of a key, optionally one grant or one grantee's.
    pub fn list_grants(
        &self,
        caller: &Caller,
        req: ListGrantsRequest,
    ) -> KmsResult<ListGrantsResponse> {
        self.audited(caller, "ListGrants", |note| {
            let limit = page_limit(req.limit, 50, 100)?;
            let offset = decode_offset_marker(req.marker.as_deref())?;
            if let Some(id) = &req.grant_id {
                validate_grant_id(id)?;
            }
            note.condition(
                ConditionKey::GrantIsForAwsResource,
                [caller.via_service.is_some()],
            );
            let record = self.key_for(caller, note, &req.key_id, "kms:ListGrants")?;
            let grants: Vec<_> = self
                .shared
                .vault
                .store()
                .grants(&self.region, &record.key_id)?
                .into_iter()
                .filter(|g| req.grant_id.as_ref().is_none_or(|id| *id == g.grant_id))
                .filter(|g| {
                    req.grantee_principal
                        .as_ref()
                        .is_none_or(|p| *p == g.grantee_principal)
                })
                .skip(offset)
                .map(|g| entry(self, g))
                .collect();
            let (grants, next_marker) = paginate_by_offset(grants, offset, limit);
            Ok(ListGrantsResponse {
                truncated: next_marker.is_some(),
                grants,
                next_marker,
            })
        })
    }

    /// ListRetirableGrants: every grant naming `RetiringPrincipal`, for a caller whose identity
    /// policies allow `kms:ListRetirableGrants`.
    pub fn list_retirable_grants(
        &self,
        caller: &Caller,
        req: ListRetirableGrantsRequest,
    ) -> KmsResult<ListGrantsResponse> {
        self.audited(caller, "ListRetirableGrants", |_| {
            let limit = page_limit(req.limit, 50, 100)?;
            let offset = decode_offset_marker(req.marker.as_deref())?;
            validate_grant_principal("RetiringPrincipal", &req.retiring_principal)?;
            self.authorize(caller, "kms:ListRetirableGrants", Resource::CallerAccount)?;
            // AWS: "You must specify a principal in your AWS account"; the grants are this
            // region's.
            let principal_account = req
                .retiring_principal
                .strip_prefix("arn:aws:iam::")
                .and_then(|rest| rest.split(':').next())
                .unwrap_or(&req.retiring_principal);
            if principal_account != caller.account {
                return Err(KmsError::AccessDenied(format!(
                    "ListRetirableGrants lists the grants of principals of your own account ({}), \
                     not of '{}'",
                    caller.account, req.retiring_principal
                )));
            }
            let grants: Vec<_> = self
                .shared
                .vault
                .store()
                .retirable_grants(&req.retiring_principal)?
                .into_iter()
                .filter(|g| g.region == self.region)
                .skip(offset)
                .map(|g| entry(self, g))
                .collect();
            let (grants, next_marker) = paginate_by_offset(grants, offset, limit);
            Ok(ListGrantsResponse {
                truncated: next_marker.is_some(),
                grants,
                next_marker,
            })
        })
    }

    /// RetireGrant: by the grant's retiring principal, by its grantee when the grant allows
    /// RetireGrant, or by the root of the account that owns the key. No policy decides it.
    pub fn retire_grant(&self, caller: &Caller, req: RetireGrantRequest) -> KmsResult<()> {
        self.audited(caller, "RetireGrant", |note| {
            let grant_id = match (&req.grant_token, &req.key_id, &req.grant_id) {
                (Some(token), _, _) => self.grant_id_of_token(token)?,
                (None, Some(_), Some(id)) => {
                    validate_grant_id(id)?;
                    id.clone()
                }
                _ => {
                    return Err(KmsError::invalid(
                        "GrantToken",
                        "RetireGrant needs GrantToken, or KeyId with GrantId".into(),
                    ));
                }
            };
            let missing = || KmsError::grant_not_found(&grant_id);
            let grant = self
                .shared
                .vault
                .store()
                .grant(&grant_id)?
                .filter(|g| g.region == self.region)
                .ok_or_else(missing)?;
            if let Some(key) = &req.key_id
                && self.resolve_id(key)? != grant.key_id
            {
                return Err(missing());
            }
            note.key(self.key_arn(&grant.key_id));
            let may = grant.retiring_principal.as_deref() == Some(caller.principal.as_str())
                || (grant.grantee_principal == caller.principal
                    && grant.operations.iter().any(|o| o == "RetireGrant"))
                || caller.principal == authz::root_arn(&grant.issuing_account);
            if !may {
                return Err(KmsError::AccessDenied(format!(
                    "User: {} is not authorized to perform: kms:RetireGrant on grant {grant_id}: only its retiring principal, its grantee (with RetireGrant) or the key's account may retire it",
                    caller.principal
                )));
            }
            // The grant decides; an identity policy can only refuse (AWS: "a policy alone
            // cannot allow"), reading the grant's constraints.
            if let Some(record) = self.shared.vault.store().key(&self.region, &grant.key_id)? {
                let (types, context) = constraint_facts(grant.constraints.as_ref());
                let conditions: Vec<_> = (!types.is_empty())
                    .then(|| condition(ConditionKey::GrantConstraintType, types))
                    .into_iter()
                    .collect();
                self.refuse_identity_denial(
                    caller,
                    "kms:RetireGrant",
                    &record,
                    &RequestFacts {
                        context: &context,
                        alias: None,
                        conditions: &conditions,
                    },
                )?;
            }
            if req.dry_run {
                return Err(dry_run_succeeded());
            }
            self.shared.vault.store().delete_grant(&grant_id)
        })
    }

    /// RevokeGrant: for principals the key policy or identity policies allow kms:RevokeGrant.
    pub fn revoke_grant(&self, caller: &Caller, req: RevokeGrantRequest) -> KmsResult<()> {
        self.audited(caller, "RevokeGrant", |note| {
            validate_grant_id(&req.grant_id)?;
            note.condition(
                ConditionKey::GrantIsForAwsResource,
                [caller.via_service.is_some()],
            );
            let record = self.key_for(caller, note, &req.key_id, "kms:RevokeGrant")?;
            let grant = self.shared.vault.store().grant(&req.grant_id)?;
            if grant.is_none_or(|g| g.key_id != record.key_id || g.region != record.region) {
                return Err(KmsError::NotFound(Missing::GrantOfKey {
                    grant_id: req.grant_id.clone(),
                    key_arn: self.key_arn(&record.key_id),
                }));
            }
            if req.dry_run {
                return Err(dry_run_succeeded());
            }
            self.shared.vault.store().delete_grant(&req.grant_id)
        })
    }
}

/// What a grant's constraints say to condition keys: their types (`kms:GrantConstraintType`)
/// and the encryption context pairs they name (`kms:EncryptionContext:<key>`).
fn constraint_facts(
    constraints: Option<&GrantConstraints>,
) -> (Vec<&'static str>, Vec<(String, String)>) {
    let mut types = Vec::new();
    let mut pairs = Vec::new();
    let Some(constraints) = constraints else {
        return (types, pairs);
    };
    for (kind, context) in [
        (
            "EncryptionContextEquals",
            &constraints.encryption_context_equals,
        ),
        (
            "EncryptionContextSubset",
            &constraints.encryption_context_subset,
        ),
    ] {
        if let Some(context) = context {
            types.push(kind);
            pairs.extend(context.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
    }
    (types, pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_operation_is_a_grant_operation() {
        for usage in [
            KeyUsage::EncryptDecrypt,
            KeyUsage::SignVerify,
            KeyUsage::GenerateVerifyMac,
            KeyUsage::KeyAgreement,
        ] {
            for spec in [KeySpec::SymmetricDefault, KeySpec::Rsa2048] {
                for op in operations_for(spec, usage) {
                    assert!(op.grantable(), "{op}");
                }
            }
        }
        assert!(
            operations_for(KeySpec::Rsa2048, KeyUsage::EncryptDecrypt)
                .contains(&Operation::GetPublicKey)
        );
        assert!(
            !operations_for(KeySpec::Rsa2048, KeyUsage::EncryptDecrypt)
                .contains(&Operation::GenerateDataKey)
        );
    }

    #[test]
    fn grant_principals_and_names_are_checked() {
        for good in [
            "arn:aws:iam::111122223333:role/app",
            "111122223333",
            "s3.amazonaws.com",
        ] {
            validate_grant_principal("GranteePrincipal", good).unwrap();
        }
        for bad in [
            "",
            "bob",
            "evil.example.com",
            "arn:aws:kms:us-east-1:1:key/x",
        ] {
            assert!(
                validate_grant_principal("GranteePrincipal", bad).is_err(),
                "{bad}"
            );
        }
        validate_grant_name("app:decrypt/v1_x-y").unwrap();
        assert!(validate_grant_name("has space").is_err());
        assert!(matches!(
            validate_grant_id("xyz"),
            Err(KmsError::InvalidGrantId(_))
        ));
    }
}
