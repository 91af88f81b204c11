//! Aliases: CreateAlias, UpdateAlias, DeleteAlias, ListAliases, with AWS's naming rules.

use super::*;
use kms_vault::AliasRecord;

/// Checks an alias name: `alias/` then 1–250 of `a-zA-Z0-9/_-`, never under `alias/aws/`.
///
/// ```
/// use kms_service::validate_alias_name;
/// assert!(validate_alias_name("alias/orders-2024").is_ok());
/// assert!(validate_alias_name("orders").is_err());
/// assert!(validate_alias_name("alias/aws/s3").is_err());
/// ```
pub fn validate_alias_name(name: &str) -> KmsResult<()> {
    let Some(rest) = name.strip_prefix("alias/") else {
        return Err(KmsError::InvalidAliasName(format!(
            "Alias name '{name}' must begin with 'alias/'"
        )));
    };
    if rest.is_empty() || name.len() > 256 {
        return Err(KmsError::InvalidAliasName(format!(
            "Alias name '{name}' must be between 7 and 256 characters including 'alias/'"
        )));
    }
    if !rest
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'/' || b == b'_' || b == b'-')
    {
        return Err(KmsError::InvalidAliasName(format!(
            "Alias name '{name}' may contain only letters, digits, '/', '_' and '-' after 'alias/'"
        )));
    }
    if rest.starts_with("aws/") {
        return Err(KmsError::InvalidAliasName(format!(
            "Alias name '{name}' uses the prefix 'alias/aws/', which is reserved for AWS managed keys"
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

    /// The key an alias may target: by id or ARN only (not another alias), and not pending deletion.
    fn alias_target(
        &self,
        caller: &Caller,
        note: &mut AuditNote,
        target: &str,
    ) -> KmsResult<KeyRecord> {
        let is_alias = KeyReference::parse(target).is_ok_and(|r| r.alias_name().is_some());
        if is_alias {
            return Err(KmsError::invalid(
                "TargetKeyId",
                format!("TargetKeyId '{target}' must be a key id or key ARN, not an alias"),
            ));
        }
        let record = self.key_for(caller, note, target, "kms:CreateAlias")?;
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

    /// CreateAlias.
    pub fn create_alias(&self, caller: &Caller, req: AliasRequest) -> KmsResult<()> {
        self.audited(caller, "CreateAlias", |note| {
            validate_alias_name(&req.alias_name)?;
            let record = self.alias_target(caller, note, &req.target_key_id)?;
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

    /// UpdateAlias: points an existing alias at another key of the same type and usage.
    pub fn update_alias(&self, caller: &Caller, req: AliasRequest) -> KmsResult<()> {
        self.audited(caller, "UpdateAlias", |note| {
            validate_alias_name(&req.alias_name)?;
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
            let target = self.alias_target(caller, note, &req.target_key_id)?;
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

    /// DeleteAlias: the key itself is untouched.
    pub fn delete_alias(&self, caller: &Caller, req: DeleteAliasRequest) -> KmsResult<()> {
        self.audited(caller, "DeleteAlias", |note| {
            validate_alias_name(&req.alias_name)?;
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
