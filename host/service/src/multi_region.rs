//! Multi-Region keys: ReplicateKey, UpdatePrimaryRegion and what DescribeKey tells of them.
//!
//! Related multi-Region keys share one `mrk-` key id and, through it, their backing-key versions:
//! a ciphertext made with any of them decrypts with any other. Each has its own record in its
//! region, so its description, policy, tags, grants, aliases and key state are its own. What AWS
//! shares is shared here: the key material, the key spec and usage, the origin and the automatic
//! rotation, which only the primary key sets and whose rotations reach every replica.

use super::*;
use kms_core::types::Tag;

impl Service {
    /// Whether `record` is a multi-Region primary key.
    pub(super) fn is_primary(record: &KeyRecord) -> bool {
        record.primary_region.as_deref() == Some(record.region.as_str())
    }

    /// Refuses rotation settings and on-demand rotation of a replica: only the primary rotates.
    pub(super) fn require_not_replica(&self, record: &KeyRecord) -> KmsResult<()> {
        match &record.primary_region {
            Some(primary) if *primary != record.region => {
                Err(KmsError::UnsupportedOperation(format!(
                    "{} is a multi-Region replica key; rotate its primary key in {primary}",
                    self.key_arn(&record.key_id)
                )))
            }
            _ => Ok(()),
        }
    }

    /// DescribeKey's `MultiRegionConfiguration` of `record`, `None` for a single-Region key.
    pub(super) fn multi_region_configuration(
        &self,
        record: &KeyRecord,
    ) -> KmsResult<Option<MultiRegionConfiguration>> {
        let Some(primary_region) = &record.primary_region else {
            return Ok(None);
        };
        let related = self.shared.vault.store().related_keys(&record.key_id)?;
        let entry = |r: &KeyRecord| MultiRegionKey {
            arn: r.arn(),
            region: r.region.clone(),
        };
        let primary = related
            .iter()
            .find(|r| r.region == *primary_region)
            .map(entry)
            .unwrap_or_else(|| MultiRegionKey {
                // The primary was deleted; its ARN still names it.
                arn: Arn::kms_key(primary_region, &record.account, &record.key_id).to_string(),
                region: primary_region.clone(),
            });
        Ok(Some(MultiRegionConfiguration {
            multi_region_key_type: if Self::is_primary(record) {
                "PRIMARY"
            } else {
                "REPLICA"
            }
            .into(),
            primary_key: primary,
            replica_keys: related
                .iter()
                .filter(|r| r.region != *primary_region)
                .map(entry)
                .collect(),
        }))
    }

    /// The related keys of a multi-Region primary other than itself.
    pub(super) fn replicas_of(&self, primary: &KeyRecord) -> KmsResult<Vec<KeyRecord>> {
        Ok(self
            .shared
            .vault
            .store()
            .related_keys(&primary.key_id)?
            .into_iter()
            .filter(|r| r.region != primary.region)
            .collect())
    }

    /// After a rotation of a multi-Region primary key: every replica makes new ciphertexts with
    /// the new material too.
    pub(super) fn share_rotation(&self, primary: &KeyRecord) -> KmsResult<()> {
        if !Self::is_primary(primary) {
            return Ok(());
        }
        // All replicas move in one write, so none is left behind.
        self.until_applied(
            || self.key_arn(&primary.key_id),
            || {
                let mut replicas = self.replicas_of(primary)?;
                for r in &mut replicas {
                    r.current_version = r.current_version.max(primary.current_version);
                }
                let store = self.shared.vault.store();
                Ok((store.update_keys(&replicas)? == Swap::Done).then_some(()))
            },
        )
    }

    /// After a replica is deleted: a primary waiting in `PendingReplicaDeletion` whose last
    /// replica this was starts its own waiting period.
    pub(super) fn release_waiting_primary(&self, replica: &KeyRecord) -> KmsResult<()> {
        let Some(primary_region) = &replica.primary_region else {
            return Ok(());
        };
        if *primary_region == replica.region {
            return Ok(());
        }
        let here = self.in_region(primary_region)?;
        let Some(primary) = self
            .shared
            .vault
            .store()
            .key(primary_region, &replica.key_id)?
        else {
            return Ok(());
        };
        if primary.state != KeyState::PendingReplicaDeletion
            || !here.replicas_of(&primary)?.is_empty()
        {
            return Ok(());
        }
        let now = self.now();
        here.modify_key(&replica.key_id, |r| {
            if r.state == KeyState::PendingReplicaDeletion {
                r.state = KeyState::PendingDeletion;
                let days = r.pending_window_days.unwrap_or(30);
                r.deletion_date = Some(now + u64::from(days) * SECONDS_PER_DAY);
            }
            Ok(())
        })
    }

    /// ReplicateKey: a replica of this region's multi-Region primary key in `ReplicaRegion`, with
    /// its own policy, description and tags. Needs `kms:ReplicateKey` on the primary and
    /// `kms:CreateKey` in the replica's region.
    pub fn replicate_key(
        &self,
        caller: &Caller,
        req: ReplicateKeyRequest,
    ) -> KmsResult<ReplicateKeyResponse> {
        self.audited(caller, "ReplicateKey", |note| {
            note.condition(ConditionKey::ReplicaRegion, [&req.replica_region]);
            let primary = self.key_for(caller, note, &req.key_id, "kms:ReplicateKey")?;
            self.require_primary(&primary, "ReplicateKey")?;
            let there = self.in_region(&req.replica_region)?;
            // The replica is a new key of that region: CreateKey there reads what it would be.
            let mut replica_note = AuditNote::default();
            replica_note.new_key(super::keys::NewKey {
                key_spec: primary.key_spec,
                key_usage: primary.key_usage,
                origin: primary.origin,
                multi_region_key_type: Some("REPLICA"),
                tags: &req.tags,
                bypass_policy_lockout_safety_check: req.bypass_policy_lockout_safety_check,
            });
            there.authorize(
                caller,
                "kms:CreateKey",
                Resource::NewKey(&replica_note.conditions),
            )?;
            let description = req
                .description
                .unwrap_or_else(|| primary.description.clone());
            super::keys::validate_description(&description)?;
            let tags = super::keys::new_tags(&req.tags)?;
            there.require_room_for_a_key()?;
            let now = self.now();
            let mut replica = KeyRecord {
                region: there.region.clone(),
                description,
                tags,
                state: KeyState::Enabled,
                created_at: now,
                deletion_date: None,
                pending_window_days: None,
                // Automatic rotation is the primary's; its rotations reach the replica.
                rotation: None,
                on_demand_rotations: 0,
                last_on_demand_rotation: None,
                policy: None,
                managed_by: None,
                revision: 0,
                ..primary.clone()
            };
            if let Some(policy) = &req.policy {
                replica.policy = Some(there.checked_key_policy(
                    caller,
                    &replica,
                    policy,
                    req.bypass_policy_lockout_safety_check.unwrap_or(false),
                )?);
            }
            self.shared.vault.store().insert_replica(&replica)?;
            Ok(ReplicateKeyResponse {
                replica_policy: there.policy_text(&replica),
                replica_tags: replica.tags.clone(),
                replica_key_metadata: there.metadata(&replica)?,
            })
        })
    }

    /// UpdatePrimaryRegion: makes the replica in `PrimaryRegion` the primary key and this
    /// region's primary one of its replicas. Needs `kms:UpdatePrimaryRegion` on both.
    pub fn update_primary_region(
        &self,
        caller: &Caller,
        req: UpdatePrimaryRegionRequest,
    ) -> KmsResult<()> {
        self.audited(caller, "UpdatePrimaryRegion", |note| {
            note.condition(ConditionKey::PrimaryRegion, [&req.primary_region]);
            let primary = self.key_for(caller, note, &req.key_id, "kms:UpdatePrimaryRegion")?;
            self.require_primary(&primary, "UpdatePrimaryRegion")?;
            let arn = self.key_arn(&primary.key_id);
            let there = self.in_region(&req.primary_region)?;
            if there.region == self.region {
                return Err(KmsError::invalid(
                    "PrimaryRegion",
                    format!("{arn} is already the primary key in {}", self.region),
                ));
            }
            let replica = there.stored_key(&primary.key_id)?;
            there.authorize(
                caller,
                "kms:UpdatePrimaryRegion",
                Resource::Key(&replica, RequestFacts::of(note)),
            )?;
            there.require_not_pending_deletion(&replica)?;
            // Every related record changes in one write; the rotation schedule moves with the
            // primary role.
            let new_primary = there.region.clone();
            let store = self.shared.vault.store();
            self.until_applied(
                || arn.clone(),
                || {
                    let mut related = store.related_keys(&primary.key_id)?;
                    let current = related.iter().find(|r| r.region == self.region);
                    if !current.is_some_and(Self::is_primary) {
                        return Err(KmsError::UnsupportedOperation(format!(
                            "{arn} stopped being the primary key meanwhile"
                        )));
                    }
                    let rotation = current.and_then(|r| r.rotation.clone());
                    for r in &mut related {
                        r.rotation = (r.region == new_primary)
                            .then(|| rotation.clone())
                            .flatten();
                        r.primary_region = Some(new_primary.clone());
                    }
                    Ok((store.update_keys(&related)? == Swap::Done).then_some(()))
                },
            )
        })
    }

    /// Refuses `operation` on anything but an Enabled or Disabled multi-Region primary key.
    fn require_primary(&self, record: &KeyRecord, operation: &str) -> KmsResult<()> {
        let arn = self.key_arn(&record.key_id);
        if record.primary_region.is_none() {
            return Err(KmsError::UnsupportedOperation(format!(
                "{arn} is not a multi-Region key"
            )));
        }
        if !Self::is_primary(record) {
            return Err(KmsError::UnsupportedOperation(format!(
                "{arn} is a replica key; call {operation} on its primary key"
            )));
        }
        self.require_not_pending_deletion(record)
    }

    /// The key policy document of `record`, as GetKeyPolicy returns it.
    fn policy_text(&self, record: &KeyRecord) -> String {
        record
            .policy
            .clone()
            .unwrap_or_else(|| authz::default_key_policy(&record.account))
    }
}

/// The request of ReplicateKey.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReplicateKeyRequest {
    /// The multi-Region primary key.
    pub key_id: String,
    /// The region to make the replica in.
    pub replica_region: String,
    /// The replica's key policy; AWS's default policy when absent.
    #[serde(default)]
    pub policy: Option<String>,
    /// Skips the check that the caller could change `policy` later.
    #[serde(default)]
    pub bypass_policy_lockout_safety_check: Option<bool>,
    /// The replica's description; the primary's when absent.
    #[serde(default)]
    pub description: Option<String>,
    /// The replica's tags (tags are never copied from the primary).
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// The response of ReplicateKey.
#[derive(Clone, Debug, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReplicateKeyResponse {
    /// The new replica's metadata.
    pub replica_key_metadata: KeyMetadata,
    /// The replica's key policy.
    pub replica_policy: String,
    /// The replica's tags.
    pub replica_tags: Vec<Tag>,
}

/// The request of UpdatePrimaryRegion.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdatePrimaryRegionRequest {
    /// The current multi-Region primary key.
    pub key_id: String,
    /// The region of the replica that becomes the primary key.
    pub primary_region: String,
}

/// DescribeKey's view of a multi-Region key and its related keys.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MultiRegionConfiguration {
    /// `PRIMARY` or `REPLICA`.
    pub multi_region_key_type: String,
    /// The primary key.
    pub primary_key: MultiRegionKey,
    /// Every replica key.
    pub replica_keys: Vec<MultiRegionKey>,
}

/// One related multi-Region key: its ARN and region.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MultiRegionKey {
    /// The key's ARN.
    pub arn: String,
    /// Its region.
    pub region: String,
}
