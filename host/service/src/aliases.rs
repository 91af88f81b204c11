//! Aliases: CreateAlias, UpdateAlias, DeleteAlias, ListAliases, with AWS's naming rules.

use super::*;
use kms_vault::AliasRecord;

/// The pattern AWS's model gives alias names (`AliasNameType`).
const ALIAS_NAME_PATTERN: &str = "^[a-zA-Z0-9:/_-]+$";

/// Checks an alias name as AWS does for CreateAlias, UpdateAlias and DeleteAlias: the model's
/// constraints first (1–256 characters of `a-zA-Z0-9:/_-`, else `ValidationException` in the
/// words the HTTP API uses), then the naming rules (`alias/` then at least one character, no
/// `:`, else `InvalidAliasNameException`), and last the reserved `alias/aws/` prefix, which only
/// AWS may change (`NotAuthorizedException`).
///
/// ```
/// use kms_service::validate_alias_name;
/// assert!(validate_alias_name("alias/orders-2024").is_ok());
/// let refused = |name| validate_alias_name(name).unwrap_err().aws_type();
/// assert_eq!(refused("orders"), "InvalidAliasNameException");
/// assert_eq!(refused("alias/has space"), "ValidationException");
/// assert_eq!(refused("alias/aws/s3"), "NotAuthorizedException");
/// ```
pub fn validate_alias_name(name: &str) -> KmsResult<()> {
    let model_fault = if name.is_empty() {
        Some("Member must have length greater than or equal to 1".to_string())
    } else if name.len() > 256 {
        Some("Member must have length less than or equal to 256".to_string())
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/_-:".contains(&b))
    {
        Some(format!(
            "Member must satisfy regular expression pattern: {ALIAS_NAME_PATTERN}"
        ))
    } else {
        None
    };
    if let Some(fault) = model_fault {
        return Err(KmsError::invalid(
            "AliasName",
            format!(
                "1 validation error detected: Value '{name}' at 'aliasName' failed to satisfy \
                 constraint: {fault}"
            ),
        ));
    }
    let Some(rest) = name.strip_prefix("alias/") else {
        return Err(KmsError::InvalidAliasName(format!(
            "Alias name '{name}' must begin with 'alias/'"
        )));
    };
    if rest.is_empty() || rest.contains(':') {
        return Err(KmsError::InvalidAliasName(format!(
            "Alias name '{name}' must have 1 to 250 of the characters a-z, A-Z, 0-9, '/', '_' \
             and '-' after 'alias/'"
        )));
    }
    if rest.starts_with("aws/") {
        return Err(KmsError::NotAuthorized(format!(
            "Alias name '{name}' uses the prefix 'alias/aws/', which is reserved for AWS managed \
             keys"
        )));
    }
    Ok(())
}

impl Service {
    /// The stored alias `name`, or AWS's NotFoundException naming its ARN.
    fn existing_alias(&self, name: &str) -> KmsResult<AliasRecord> {
        self.shared
            .vault
            .store()
            .alias(&self.region, name)?
            .ok_or_else(|| KmsError::alias_not_found(self.alias_arn(name)))
    }

    /// The key an alias may target: by id or ARN only (not another alias), and not pending
    /// deletion, authorized for `action` (CreateAlias's or UpdateAlias's: AWS checks each on the
    /// target's key policy).
    fn alias_target(
        &self,
        caller: &Caller,
        note: &mut AuditNote,
        target: &str,
        action: &str,
    ) -> KmsResult<KeyRecord> {
        let is_alias = KeyReference::parse(target).is_ok_and(|r| r.alias_name().is_some());
        if is_alias {
            return Err(KmsError::invalid(
                "TargetKeyId",
                format!("TargetKeyId '{target}' must be a key id or key ARN, not an alias"),
            ));
        }
        let record = self.key_for(caller, note, target, action)?;
        self.require_not_pending_deletion(&record)?;
        let limit = self.resource_limits().aliases_per_key;
        let aliases = self.shared.vault.store().aliases_after(
            &self.region,
            None,
            Some(&record.key_id),
            limit + 1,
        )?;
        if aliases.len() >= limit {
            return Err(KmsError::LimitExceeded(format!(
                "{} already has {limit} aliases, the most a key may have",
                self.key_arn(&record.key_id)
            )));
        }
        Ok(record)
    }

    /// CreateAlias: needs `kms:CreateAlias` on the alias (its ARN, decided by the account's
    /// identity policies, as AWS decides it) and on the key.
    pub fn create_alias(&self, caller: &Caller, req: AliasRequest) -> KmsResult<()> {
        self.audited(caller, "CreateAlias", |note| {
            validate_alias_name(&req.alias_name)?;
            self.authorize(caller, "kms:CreateAlias", Resource::Alias(&req.alias_name))?;
            let record = self.alias_target(caller, note, &req.target_key_id, "kms:CreateAlias")?;
            let now = self.now();
            self.shared.vault.store().insert_alias(&AliasRecord {
                region: self.region.clone(),
                name: req.alias_name.clone(),
                key_id: record.key_id,
                created_at: now,
                updated_at: now,
            })
        })
    }

    /// UpdateAlias: points an existing alias at another key of the same type and usage. Needs
    /// `kms:UpdateAlias` on the alias, on the key it points at now and on the new key.
    pub fn update_alias(&self, caller: &Caller, req: AliasRequest) -> KmsResult<()> {
        self.audited(caller, "UpdateAlias", |note| {
            validate_alias_name(&req.alias_name)?;
            self.authorize(caller, "kms:UpdateAlias", Resource::Alias(&req.alias_name))?;
            let existing = self.existing_alias(&req.alias_name)?;
            let current = self
                .shared
                .vault
                .store()
                .key(&self.region, &existing.key_id)?;
            if let Some(current) = &current {
                let basis = self.authorize(
                    caller,
                    "kms:UpdateAlias",
                    Resource::Key(current, RequestFacts::of(note)),
                )?;
                note.allowed_by(basis);
            }
            let target = self.alias_target(caller, note, &req.target_key_id, "kms:UpdateAlias")?;
            if let Some(current) = current
                && (current.key_spec != target.key_spec || current.key_usage != target.key_usage)
            {
                return Err(KmsError::invalid(
                    "TargetKeyId",
                    format!(
                        "Alias {} points at a {} key with usage {}; the new target must match",
                        req.alias_name, current.key_spec, current.key_usage
                    ),
                ));
            }
            self.shared.vault.store().update_alias(&AliasRecord {
                key_id: target.key_id,
                updated_at: self.now(),
                ..existing
            })
        })
    }

    /// DeleteAlias: the key itself is untouched. Needs `kms:DeleteAlias` on the alias and on
    /// its key.
    pub fn delete_alias(&self, caller: &Caller, req: DeleteAliasRequest) -> KmsResult<()> {
        self.audited(caller, "DeleteAlias", |note| {
            validate_alias_name(&req.alias_name)?;
            self.authorize(caller, "kms:DeleteAlias", Resource::Alias(&req.alias_name))?;
            let existing = self.existing_alias(&req.alias_name)?;
            note.key(self.key_arn(&existing.key_id));
            if let Some(record) = self
                .shared
                .vault
                .store()
                .key(&self.region, &existing.key_id)?
            {
                let basis = self.authorize(
                    caller,
                    "kms:DeleteAlias",
                    Resource::Key(&record, RequestFacts::of(note)),
                )?;
                note.allowed_by(basis);
            }
            self.shared
                .vault
                .store()
                .delete_alias(&self.region, &req.alias_name)
        })
    }

    /// ListAliases: all aliases of the account, or of one key, in name order.
    pub fn list_aliases(
        &self,
        caller: &Caller,
        req: ListAliasesRequest,
    ) -> KmsResult<ListAliasesResponse> {
        self.audited(caller, "ListAliases", |note| {
            let limit = page_limit(req.limit, 50, 100)?;
            let after = match req.marker.as_deref() {
                None => None,
                Some(m) => {
                    let position = decode_marker(m)?;
                    if !position.starts_with("alias/") {
                        return Err(KmsError::invalid_marker(m));
                    }
                    Some(position)
                }
            };
            let key_filter = match req.key_id.as_deref() {
                Some(key) => Some(self.key_for(caller, note, key, "kms:ListAliases")?.key_id),
                None => None,
            };
            if caller.account != self.shared.vault.account() {
                return Ok(ListAliasesResponse {
                    aliases: Vec::new(),
                    next_marker: None,
                    truncated: false,
                });
            }
            if key_filter.is_none() {
                self.authorize(caller, "kms:ListAliases", Resource::Account)?;
            }
            let mut aliases = self.shared.vault.store().aliases_after(
                &self.region,
                after.as_deref(),
                key_filter.as_ref(),
                limit + 1,
            )?;
            let truncated = aliases.len() > limit;
            aliases.truncate(limit);
            let next_marker = truncated
                .then(|| aliases.last().map(|a| encode_marker(&a.name)))
                .flatten();
            Ok(ListAliasesResponse {
                aliases: aliases
                    .into_iter()
                    .map(|a| AliasListEntry {
                        alias_arn: self.alias_arn(&a.name),
                        alias_name: a.name,
                        target_key_id: a.key_id.to_string(),
                        creation_date: a.created_at,
                        last_updated_date: a.updated_at,
                    })
                    .collect(),
                next_marker,
                truncated,
            })
        })
    }
}
