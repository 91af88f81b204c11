//! Key lifecycle and metadata: CreateKey, DescribeKey, ListKeys, UpdateKeyDescription,
//! Enable/DisableKey, Schedule/CancelKeyDeletion and tagging.

use super::*;
use kms_core::types::{ExpirationModel, KeySpec, KeyUsage, Origin, Tag};

const MAX_DESCRIPTION_CHARS: usize = 8192;
const MAX_TAGS_PER_KEY: usize = 50;
const DEFAULT_PENDING_WINDOW_DAYS: u32 = 30;

pub(super) fn validate_description(description: &str) -> KmsResult<()> {
    if description.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(KmsError::invalid(
            "Description",
            format!("Description must be at most {MAX_DESCRIPTION_CHARS} characters"),
        ));
    }
    Ok(())
}

/// The tags of a new resource: each valid, no key twice.
pub(super) fn new_tags(tags: &[Tag]) -> KmsResult<Vec<Tag>> {
    let mut merged = Vec::new();
    merge_tags(&mut merged, tags)?;
    if merged.len() != tags.len() {
        return Err(KmsError::Tag("Tags contain duplicate tag keys".into()));
    }
    Ok(merged)
}

/// Adds or overwrites `new` tags in `tags`, keeping insertion order.
pub(super) fn merge_tags(tags: &mut Vec<Tag>, new: &[Tag]) -> KmsResult<()> {
    for tag in new {
        tag.validate()?;
        match tags.iter_mut().find(|t| t.tag_key == tag.tag_key) {
            Some(existing) => existing.tag_value = tag.tag_value.clone(),
            None => tags.push(tag.clone()),
        }
    }
    if tags.len() > MAX_TAGS_PER_KEY {
        return Err(KmsError::LimitExceeded(format!(
            "A key can have at most {MAX_TAGS_PER_KEY} tags"
        )));
    }
    Ok(())
}

/// The properties of a key about to be made, as CreateKey's condition keys present them.
pub(super) struct NewKey<'a> {
    pub key_spec: KeySpec,
    pub key_usage: KeyUsage,
    pub origin: Origin,
    /// `PRIMARY` or `REPLICA` for a multi-Region key.
    pub multi_region_key_type: Option<&'static str>,
    pub tags: &'a [Tag],
    pub bypass_policy_lockout_safety_check: Option<bool>,
}

impl AuditNote {
    /// Notes the condition keys of the key a request would make: its spec, usage and origin
    /// (the defaults when the request names none, as AWS evaluates them), whether it is
    /// multi-Region and which kind, its tags, and `kms:BypassPolicyLockoutSafetyCheck` when
    /// the request has it.
    pub(super) fn new_key(&mut self, key: NewKey<'_>) {
        self.condition(ConditionKey::KeySpec, [key.key_spec]);
        self.condition(ConditionKey::CustomerMasterKeySpec, [key.key_spec]);
        self.condition(ConditionKey::KeyUsage, [key.key_usage]);
        self.condition(ConditionKey::CustomerMasterKeyUsage, [key.key_usage]);
        self.condition(ConditionKey::KeyOrigin, [key.origin]);
        self.condition(
            ConditionKey::MultiRegion,
            [key.multi_region_key_type.is_some()],
        );
        if let Some(kind) = key.multi_region_key_type {
            self.condition(ConditionKey::MultiRegionKeyType, [kind]);
        }
        self.request_tags(key.tags);
        if let Some(bypass) = key.bypass_policy_lockout_safety_check {
            self.condition(ConditionKey::BypassPolicyLockoutSafetyCheck, [bypass]);
        }
    }
}

impl Service {
    /// Refuses EnableKey and DisableKey on a key awaiting imported material, as AWS does.
    fn require_has_material(&self, record: &KeyRecord) -> KmsResult<()> {
        if record.state == KeyState::PendingImport {
            return Err(KmsError::InvalidState(format!(
                "{} is pending import.",
                self.key_arn(&record.key_id)
            )));
        }
        Ok(())
    }

    /// The metadata DescribeKey returns for `record`.
    pub(super) fn metadata(&self, record: &KeyRecord) -> KmsResult<KeyMetadata> {
        // A key of EXTERNAL origin names its current material whether or not it is in the
        // vault now; before its first import it has none.
        let (current_key_material_id, expiration) = if record.in_hsm() {
            // The material is in the HSM, which names it by the key and version.
            (
                Some(custom_key_stores::token_key_label(
                    &record.key_id,
                    record.current_version,
                )),
                None,
            )
        } else if record.origin == Origin::External {
            let current = record.imported_version(record.current_version);
            (
                current.map(|m| m.material_id.clone()),
                current.filter(|m| m.imported).map(|m| m.valid_to),
            )
        } else {
            let current = self
                .shared
                .vault
                .store()
                .version(&record.key_id, record.current_version)?
                .ok_or_else(|| {
                    KmsError::Internal(format!(
                        "Key {} has lost its current key material",
                        record.key_id
                    ))
                })?;
            (Some(current.material_id), None)
        };
        let algorithms = asymmetric_ops::algorithms_of(record.key_spec, record.key_usage);
        Ok(KeyMetadata {
            aws_account_id: record.account.clone(),
            key_id: record.key_id.to_string(),
            arn: self.key_arn(&record.key_id),
            creation_date: record.created_at,
            enabled: record.state == KeyState::Enabled,
            description: record.description.clone(),
            key_usage: record.key_usage,
            // A key whose custom key store is not connected cannot be used, as AWS shows.
            key_state: if record.state == KeyState::Enabled && !self.store_connected(record)? {
                KeyState::Unavailable
            } else {
                record.state
            },
            deletion_date: record.deletion_date,
            origin: record.origin,
            key_manager: if record.managed_by.is_some() {
                "AWS"
            } else {
                "CUSTOMER"
            }
            .into(),
            customer_master_key_spec: record.key_spec,
            key_spec: record.key_spec,
            encryption_algorithms: algorithms.encryption,
            signing_algorithms: algorithms.signing,
            mac_algorithms: algorithms.mac,
            key_agreement_algorithms: algorithms.key_agreement,
            encapsulation_algorithms: algorithms.encapsulation,
            multi_region: record.primary_region.is_some(),
            multi_region_configuration: self.multi_region_configuration(record)?,
            pending_deletion_window_in_days: record.pending_window_days,
            current_key_material_id,
            expiration_model: expiration.map(|valid_to| {
                if valid_to.is_some() {
                    ExpirationModel::KeyMaterialExpires
                } else {
                    ExpirationModel::KeyMaterialDoesNotExpire
                }
            }),
            valid_to: expiration.flatten(),
            custom_key_store_id: record.custom_key_store_id.clone(),
            cloud_hsm_cluster_id: self.cluster_of(record)?,
            xks_key_configuration: record
                .xks_key_id
                .as_ref()
                .map(|id| XksKeyConfiguration { id: id.clone() }),
        })
    }

    /// CreateKey: a new key of any spec AWS offers (AES-256-GCM, RSA, ECC, Ed25519, HMAC, ML-DSA,
    /// ML-KEM) in the caller's account.
    pub fn create_key(
        &self,
        caller: &Caller,
        req: CreateKeyRequest,
    ) -> KmsResult<KeyMetadataResponse> {
        self.audited(caller, "CreateKey", |note| {
            let key_spec = req.key_spec.unwrap_or(KeySpec::SymmetricDefault);
            // AWS's default usage, ENCRYPT_DECRYPT, whatever the spec: HMAC and ECC keys must
            // name theirs.
            let key_usage = req.key_usage.unwrap_or(KeyUsage::EncryptDecrypt);
            let origin = req.origin.unwrap_or(Origin::AwsKms);
            let multi_region = req.multi_region == Some(true);
            note.new_key(NewKey {
                key_spec,
                key_usage,
                origin,
                multi_region_key_type: multi_region.then_some("PRIMARY"),
                tags: &req.tags,
                bypass_policy_lockout_safety_check: req.bypass_policy_lockout_safety_check,
            });
            self.authorize(caller, "kms:CreateKey", Resource::NewKey(&note.conditions))?;
            let allowed = asymmetric_ops::usages_of(key_spec);
            if !allowed.contains(&key_usage) {
                let names: Vec<String> = allowed.iter().map(ToString::to_string).collect();
                return Err(KmsError::invalid(
                    "KeyUsage",
                    format!(
                        "KeyUsage {key_usage} is not compatible with KeySpec {key_spec}; use {}",
                        names.join(" or ")
                    ),
                ));
            }
            if req.xks_key_id.is_some() && origin != Origin::ExternalKeyStore {
                return Err(KmsError::invalid(
                    "XksKeyId",
                    "XksKeyId is for keys with Origin EXTERNAL_KEY_STORE".into(),
                ));
            }
            let store = match (&req.custom_key_store_id, origin) {
                (Some(id), Origin::AwsCloudhsm) => Some(self.store_for_new_key(
                    id,
                    kms_vault::CustomKeyStoreType::AwsCloudHsm,
                    key_spec,
                    multi_region,
                )?),
                (Some(id), Origin::ExternalKeyStore) => {
                    let store = self.store_for_new_key(
                        id,
                        kms_vault::CustomKeyStoreType::ExternalKeyStore,
                        key_spec,
                        multi_region,
                    )?;
                    let xks_key_id = req
                        .xks_key_id
                        .as_deref()
                        .ok_or_else(|| KmsError::required("XksKeyId"))?;
                    self.check_external_key(caller, &store, xks_key_id)?;
                    Some(store)
                }
                (Some(_), _) => {
                    return Err(KmsError::UnsupportedOperation(format!(
                        "A key in a custom key store has Origin AWS_CLOUDHSM or \
                         EXTERNAL_KEY_STORE, not {origin}"
                    )));
                }
                (None, Origin::AwsCloudhsm | Origin::ExternalKeyStore) => {
                    return Err(KmsError::required("CustomKeyStoreId"));
                }
                (None, _) => None,
            };
            match origin {
                Origin::AwsKms | Origin::AwsCloudhsm | Origin::ExternalKeyStore => {}
                Origin::External if !import::importable(key_spec) => {
                    return Err(KmsError::UnsupportedOperation(format!(
                        "Key material of {key_spec} keys cannot be imported; use Origin AWS_KMS"
                    )));
                }
                // Related multi-Region keys share their material by key id in this vault;
                // importing it into each of them separately is not supported yet.
                Origin::External if multi_region => {
                    return Err(KmsError::UnsupportedOperation(
                        "Multi-Region keys with imported key material are not supported by this vault"
                            .into(),
                    ));
                }
                Origin::External => {}
            }
            let description = req.description.unwrap_or_default();
            validate_description(&description)?;
            let tags = new_tags(&req.tags)?;

            let now = self.now();
            self.require_room_for_a_key()?;
            let key_id = if multi_region {
                KeyId::random_multi_region()
            } else {
                KeyId::random()
            };
            note.key(self.key_arn(&key_id));
            let mut record = KeyRecord {
                description,
                key_spec,
                key_usage,
                origin,
                tags,
                ..KeyRecord::new_symmetric(
                    key_id,
                    self.shared.vault.account(),
                    self.region.as_str(),
                    now,
                )
            };
            if multi_region {
                record.primary_region = Some(self.region.clone());
            }
            if let Some(policy) = &req.policy {
                record.policy = Some(self.checked_key_policy(
                    caller,
                    &record,
                    policy,
                    req.bypass_policy_lockout_safety_check.unwrap_or(false),
                )?);
            }
            let external = origin == Origin::ExternalKeyStore;
            if let Some(store) = store.as_ref().filter(|_| external) {
                // The KMS side of the double encryption is ordinary vault material.
                record.custom_key_store_id = Some(store.id.clone());
                record.xks_key_id = req.xks_key_id.clone();
                let first = self
                    .shared
                    .vault
                    .new_version(&key_id, key_spec, 1, now, None)?;
                self.shared.vault.store().insert_key(&record, Some(&first))?;
            } else if let Some(store) = store {
                // Generated inside the token, never extractable; the vault keeps no version.
                record.custom_key_store_id = Some(store.id.clone());
                let token = self.token_of(&record)?;
                let label = custom_key_stores::token_key_label(&key_id, 1);
                kms_core::blocking::section(|| token.generate_key(&label).map(drop))?;
                if let Err(e) = self.shared.vault.store().insert_key(&record, None) {
                    let _ = token.destroy_key(&label);
                    return Err(e);
                }
            } else if origin == Origin::External {
                record.state = KeyState::PendingImport;
                self.shared.vault.store().insert_key(&record, None)?;
            } else {
                let first = self
                    .shared
                    .vault
                    .new_version(&key_id, key_spec, 1, now, None)?;
                self.shared.vault.store().insert_key(&record, Some(&first))?;
            }
            Ok(KeyMetadataResponse {
                key_metadata: self.metadata(&record)?,
            })
        })
    }

    /// DescribeKey.
    pub fn describe_key(&self, caller: &Caller, req: KeyRequest) -> KmsResult<KeyMetadataResponse> {
        self.audited(caller, "DescribeKey", |note| {
            self.check_grant_tokens(&req.grant_tokens)?;
            let record = self.key_for(caller, note, &req.key_id, "kms:DescribeKey")?;
            Ok(KeyMetadataResponse {
                key_metadata: self.metadata(&record)?,
            })
        })
    }

    /// ListKeys: every key of the caller's account, in key-id order, a page at a time.
    pub fn list_keys(&self, caller: &Caller, req: ListKeysRequest) -> KmsResult<ListKeysResponse> {
        self.audited(caller, "ListKeys", |_| {
            self.maybe_sweep();
            let limit = page_limit(req.limit, 100, 1000)?;
            let after = match req.marker.as_deref() {
                None => None,
                Some(m) => Some(
                    decode_marker(m)?
                        .parse::<KeyId>()
                        .map_err(|_| KmsError::invalid_marker(m))?,
                ),
            };
            if caller.account != self.shared.vault.account() {
                return Ok(ListKeysResponse {
                    keys: Vec::new(),
                    next_marker: None,
                    truncated: false,
                });
            }
            self.authorize(caller, "kms:ListKeys", Resource::Account)?;
            let mut records =
                self.shared
                    .vault
                    .store()
                    .keys_after(&self.region, after.as_ref(), limit + 1)?;
            let truncated = records.len() > limit;
            records.truncate(limit);
            let next_marker = truncated
                .then(|| records.last().map(|r| encode_marker(&r.key_id.to_string())))
                .flatten();
            Ok(ListKeysResponse {
                keys: records
                    .iter()
                    .map(|r| KeyListEntry {
                        key_id: r.key_id.to_string(),
                        key_arn: self.key_arn(&r.key_id),
                    })
                    .collect(),
                next_marker,
                truncated,
            })
        })
    }

    /// Authorizes `action` on the key, then changes its record (see
    /// [`modify_key`](Service::modify_key)).
    pub(super) fn update_record<T>(
        &self,
        caller: &Caller,
        note: &mut AuditNote,
        key: &str,
        action: &str,
        change: impl FnMut(&mut KeyRecord) -> KmsResult<T>,
    ) -> KmsResult<T> {
        let key_id = self.key_for(caller, note, key, action)?.key_id;
        self.modify_key(&key_id, change)
    }

    /// UpdateKeyDescription.
    pub fn update_key_description(
        &self,
        caller: &Caller,
        req: UpdateKeyDescriptionRequest,
    ) -> KmsResult<()> {
        self.audited(caller, "UpdateKeyDescription", |note| {
            validate_description(&req.description)?;
            self.update_record(caller, note, &req.key_id, "kms:UpdateKeyDescription", |r| {
                self.require_not_pending_deletion(r)?;
                r.description.clone_from(&req.description);
                Ok(())
            })
        })
    }

    /// EnableKey: Disabled → Enabled (Enabled stays Enabled).
    pub fn enable_key(&self, caller: &Caller, req: KeyRequest) -> KmsResult<()> {
        self.audited(caller, "EnableKey", |note| {
            self.update_record(caller, note, &req.key_id, "kms:EnableKey", |r| {
                self.require_not_pending_deletion(r)?;
                self.require_has_material(r)?;
                r.state = KeyState::Enabled;
                Ok(())
            })
        })
    }

    /// DisableKey: Enabled → Disabled (Disabled stays Disabled).
    pub fn disable_key(&self, caller: &Caller, req: KeyRequest) -> KmsResult<()> {
        self.audited(caller, "DisableKey", |note| {
            self.update_record(caller, note, &req.key_id, "kms:DisableKey", |r| {
                self.require_not_pending_deletion(r)?;
                self.require_has_material(r)?;
                r.state = KeyState::Disabled;
                Ok(())
            })
        })
    }

    /// ScheduleKeyDeletion: the key becomes PendingDeletion and is deleted, with all its key
    /// material and aliases, once the waiting period (7–30 days, default 30) has passed.
    pub fn schedule_key_deletion(
        &self,
        caller: &Caller,
        req: ScheduleKeyDeletionRequest,
    ) -> KmsResult<ScheduleKeyDeletionResponse> {
        self.audited(caller, "ScheduleKeyDeletion", |note| {
            let days = req
                .pending_window_in_days
                .unwrap_or(DEFAULT_PENDING_WINDOW_DAYS);
            if !(7..=30).contains(&days) {
                return Err(KmsError::invalid(
                    "PendingWindowInDays",
                    format!(
                        "PendingWindowInDays {days} is out of range; it must be between 7 and 30"
                    ),
                ));
            }
            note.condition(ConditionKey::ScheduleKeyDeletionPendingWindowInDays, [days]);
            self.update_record(caller, note, &req.key_id, "kms:ScheduleKeyDeletion", |r| {
                self.require_not_pending_deletion(r)?;
                // A multi-Region primary with replicas waits for them: its waiting period
                // starts when the last replica is deleted.
                let waits = Self::is_primary(r) && !self.replicas_of(r)?.is_empty();
                let deletion_date =
                    (!waits).then(|| self.now() + u64::from(days) * SECONDS_PER_DAY);
                r.state = if waits {
                    KeyState::PendingReplicaDeletion
                } else {
                    KeyState::PendingDeletion
                };
                r.deletion_date = deletion_date;
                r.pending_window_days = Some(days);
                Ok(ScheduleKeyDeletionResponse {
                    key_id: self.key_arn(&r.key_id),
                    deletion_date,
                    key_state: r.state,
                    pending_window_in_days: days,
                })
            })
        })
    }

    /// CancelKeyDeletion: PendingDeletion → Disabled, as AWS does.
    pub fn cancel_key_deletion(
        &self,
        caller: &Caller,
        req: KeyRequest,
    ) -> KmsResult<KeyIdResponse> {
        self.audited(caller, "CancelKeyDeletion", |note| {
            self.update_record(caller, note, &req.key_id, "kms:CancelKeyDeletion", |r| {
                if !matches!(
                    r.state,
                    KeyState::PendingDeletion | KeyState::PendingReplicaDeletion
                ) {
                    return Err(KmsError::InvalidState(format!(
                        "{} is not pending deletion.",
                        self.key_arn(&r.key_id)
                    )));
                }
                // A key without its imported material goes back to waiting for it, as in AWS.
                r.state = if import::awaits_material(r) {
                    KeyState::PendingImport
                } else {
                    KeyState::Disabled
                };
                r.deletion_date = None;
                r.pending_window_days = None;
                Ok(KeyIdResponse {
                    key_id: self.key_arn(&r.key_id),
                })
            })
        })
    }

    /// TagResource: adds tags, overwriting the values of existing tag keys.
    pub fn tag_resource(&self, caller: &Caller, req: TagResourceRequest) -> KmsResult<()> {
        self.audited(caller, "TagResource", |note| {
            if req.tags.is_empty() {
                return Err(KmsError::invalid("Tags", "Tags must not be empty".into()));
            }
            note.request_tags(&req.tags);
            self.update_record(caller, note, &req.key_id, "kms:TagResource", |r| {
                self.require_not_pending_deletion(r)?;
                merge_tags(&mut r.tags, &req.tags)
            })
        })
    }

    /// UntagResource: removes the named tags (absent ones are ignored, as AWS does).
    pub fn untag_resource(&self, caller: &Caller, req: UntagResourceRequest) -> KmsResult<()> {
        self.audited(caller, "UntagResource", |note| {
            if req.tag_keys.is_empty() {
                return Err(KmsError::invalid(
                    "TagKeys",
                    "TagKeys must not be empty".into(),
                ));
            }
            note.tag_keys(req.tag_keys.iter().map(String::as_str));
            self.update_record(caller, note, &req.key_id, "kms:UntagResource", |r| {
                self.require_not_pending_deletion(r)?;
                r.tags.retain(|t| !req.tag_keys.contains(&t.tag_key));
                Ok(())
            })
        })
    }

    /// ListResourceTags.
    pub fn list_resource_tags(
        &self,
        caller: &Caller,
        req: ListForKeyRequest,
    ) -> KmsResult<ListResourceTagsResponse> {
        self.audited(caller, "ListResourceTags", |note| {
            let limit = page_limit(req.limit, 50, 50)?;
            let offset = decode_offset_marker(req.marker.as_deref())?;
            let record = self.key_for(caller, note, &req.key_id, "kms:ListResourceTags")?;
            let tags: Vec<Tag> = record.tags.into_iter().skip(offset).collect();
            let (tags, next_marker) = paginate_by_offset(tags, offset, limit);
            Ok(ListResourceTagsResponse {
                truncated: next_marker.is_some(),
                tags,
                next_marker,
            })
        })
    }
}
