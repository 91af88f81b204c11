//! Key rotation: Enable/DisableKeyRotation, GetKeyRotationStatus, RotateKeyOnDemand,
//! ListKeyRotations. A rotation adds a backing-key version; the key id, aliases and tags stay, new
//! ciphertexts use the new version and every earlier ciphertext still decrypts.

use super::*;
use kms_core::types::{ExpirationModel, IncludeKeyMaterial, KeyMaterialState, KeySpec, Origin};
use kms_vault::RotationSchedule;

const DEFAULT_ROTATION_PERIOD_DAYS: u32 = 365;
const MIN_ROTATION_PERIOD_DAYS: u32 = 90;
const MAX_ROTATION_PERIOD_DAYS: u32 = 2560;
/// AWS's lifetime cap on on-demand rotations per key.
pub const MAX_ON_DEMAND_ROTATIONS: u32 = 10;

impl Service {
    /// Refuses rotation of keys whose material this vault cannot rotate.
    fn require_rotatable(&self, record: &KeyRecord) -> KmsResult<()> {
        if record.key_spec != KeySpec::SymmetricDefault || record.origin != Origin::AwsKms {
            return Err(KmsError::UnsupportedOperation(format!(
                "{} cannot be rotated: only SYMMETRIC_DEFAULT keys with AWS_KMS origin rotate",
                self.key_arn(&record.key_id)
            )));
        }
        Ok(())
    }

    /// EnableKeyRotation: rotate automatically every `RotationPeriodInDays` (90–2560, default 365).
    pub fn enable_key_rotation(
        &self,
        caller: &Caller,
        req: EnableKeyRotationRequest,
    ) -> KmsResult<()> {
        self.audited(caller, "EnableKeyRotation", |note| {
            let period_days = req
                .rotation_period_in_days
                .unwrap_or(DEFAULT_ROTATION_PERIOD_DAYS);
            if !(MIN_ROTATION_PERIOD_DAYS..=MAX_ROTATION_PERIOD_DAYS).contains(&period_days) {
                return Err(KmsError::invalid("RotationPeriodInDays", format!(
                    "RotationPeriodInDays {period_days} is out of range; it must be between {MIN_ROTATION_PERIOD_DAYS} and {MAX_ROTATION_PERIOD_DAYS}"
                )));
            }
            note.condition(ConditionKey::RotationPeriodInDays, [period_days]);
            self.update_record(caller, note, &req.key_id, "kms:EnableKeyRotation", |r| {
                self.require_enabled(r)?;
                self.require_rotatable(r)?;
                self.require_not_replica(r)?;
                r.rotation = Some(RotationSchedule {
                    period_days,
                    next_rotation_at: self.now() + u64::from(period_days) * SECONDS_PER_DAY,
                });
                Ok(())
            })
        })
    }

    /// DisableKeyRotation.
    pub fn disable_key_rotation(&self, caller: &Caller, req: KeyRequest) -> KmsResult<()> {
        self.audited(caller, "DisableKeyRotation", |note| {
            self.update_record(caller, note, &req.key_id, "kms:DisableKeyRotation", |r| {
                self.require_enabled(r)?;
                self.require_rotatable(r)?;
                self.require_not_replica(r)?;
                r.rotation = None;
                Ok(())
            })
        })
    }

    /// GetKeyRotationStatus.
    pub fn get_key_rotation_status(
        &self,
        caller: &Caller,
        req: KeyRequest,
    ) -> KmsResult<KeyRotationStatusResponse> {
        self.audited(caller, "GetKeyRotationStatus", |note| {
            let record = self.key_for(caller, note, &req.key_id, "kms:GetKeyRotationStatus")?;
            self.require_not_pending_deletion(&record)?;
            // A replica's rotation is its primary's.
            let record = match &record.primary_region {
                Some(primary) if *primary != record.region => self
                    .shared
                    .vault
                    .store()
                    .key(primary, &record.key_id)?
                    .unwrap_or(record),
                _ => record,
            };
            Ok(KeyRotationStatusResponse {
                key_rotation_enabled: record.rotation.is_some(),
                key_id: self.key_arn(&record.key_id),
                rotation_period_in_days: record.rotation.as_ref().map(|r| r.period_days),
                next_rotation_date: record.rotation.as_ref().map(|r| r.next_rotation_at),
                on_demand_rotation_start_date: record.last_on_demand_rotation,
            })
        })
    }

    /// RotateKeyOnDemand: adds a backing-key version now, whatever the automatic schedule.
    pub fn rotate_key_on_demand(
        &self,
        caller: &Caller,
        req: KeyRequest,
    ) -> KmsResult<KeyIdResponse> {
        self.audited(caller, "RotateKeyOnDemand", |note| {
            let key_id = self
                .key_for(caller, note, &req.key_id, "kms:RotateKeyOnDemand")?
                .key_id;
            self.until_applied(
                || self.key_arn(&key_id),
                || {
                    let mut record = self.stored_key(&key_id)?;
                    self.require_enabled(&record)?;
                    let imported = record.origin == Origin::External
                        && record.key_spec == KeySpec::SymmetricDefault;
                    if !imported {
                        self.require_rotatable(&record)?;
                    }
                    self.require_not_replica(&record)?;
                    if record.on_demand_rotations >= MAX_ON_DEMAND_ROTATIONS {
                        return Err(KmsError::LimitExceeded(format!(
                            "{} has had the maximum of {MAX_ON_DEMAND_ROTATIONS} on-demand rotations",
                            self.key_arn(&key_id)
                        )));
                    }
                    let now = self.now();
                    let swap = if imported {
                        self.rotate_onto_imported_material(&mut record, now)?
                    } else {
                        self.add_backing_version(&mut record, RotationType::OnDemand, now)?
                    };
                    Ok((swap == Swap::Done).then(|| KeyIdResponse {
                        key_id: self.key_arn(&key_id),
                    }))
                },
            )
        })
    }

    /// ListKeyRotations: completed rotations, oldest first.
    pub fn list_key_rotations(
        &self,
        caller: &Caller,
        req: ListForKeyRequest,
    ) -> KmsResult<ListKeyRotationsResponse> {
        self.audited(caller, "ListKeyRotations", |note| {
            let limit = page_limit(req.limit, 100, 1000)?;
            let offset = decode_offset_marker(req.marker.as_deref())?;
            let record = self.key_for(caller, note, &req.key_id, "kms:ListKeyRotations")?;
            let all = req.include_key_material == Some(IncludeKeyMaterial::AllKeyMaterial);
            let rotations: Vec<RotationListEntry> = if record.origin == Origin::External {
                if record.key_spec != KeySpec::SymmetricDefault {
                    self.require_rotatable(&record)?;
                }
                self.imported_rotations(&record, all)
            } else {
                self.require_rotatable(&record)?;
                self.generated_rotations(&record, all)?
            };
            let rotations: Vec<RotationListEntry> = rotations.into_iter().skip(offset).collect();
            let (rotations, next_marker) = paginate_by_offset(rotations, offset, limit);
            Ok(ListKeyRotationsResponse {
                truncated: next_marker.is_some(),
                rotations,
                next_marker,
            })
        })
    }
}

impl Service {
    /// The rotations (with `all`, every material) of a key whose material KMS made.
    fn generated_rotations(
        &self,
        record: &KeyRecord,
        all: bool,
    ) -> KmsResult<Vec<RotationListEntry>> {
        let arn = self.key_arn(&record.key_id);
        Ok(self
            .shared
            .vault
            .store()
            .versions(&record.key_id)?
            .into_iter()
            .filter(|v| all || v.rotation_type.is_some())
            .map(|v| RotationListEntry {
                key_id: arn.clone(),
                key_material_state: all.then_some(if v.version == record.current_version {
                    KeyMaterialState::Current
                } else {
                    KeyMaterialState::NonCurrent
                }),
                rotation_date: v.rotation_type.map(|_| v.created_at),
                rotation_type: v.rotation_type,
                key_material_id: v.material_id,
                key_material_description: None,
                import_state: None,
                expiration_model: None,
                valid_to: None,
            })
            .collect())
    }

    /// The rotations (with `all`, every material, pending ones included) of a key with
    /// imported material, with their import state and expiry.
    fn imported_rotations(&self, record: &KeyRecord, all: bool) -> Vec<RotationListEntry> {
        let arn = self.key_arn(&record.key_id);
        record
            .imported
            .iter()
            .filter(|m| all || m.rotation.is_some())
            .map(|m| RotationListEntry {
                key_id: arn.clone(),
                key_material_id: m.material_id.clone(),
                key_material_description: m.description.clone(),
                import_state: Some(m.import_state()),
                key_material_state: Some(m.material_state(record.current_version)),
                expiration_model: m.imported.then_some(if m.valid_to.is_some() {
                    ExpirationModel::KeyMaterialExpires
                } else {
                    ExpirationModel::KeyMaterialDoesNotExpire
                }),
                valid_to: m.valid_to,
                rotation_date: m.rotation.map(|(_, at)| at),
                rotation_type: m.rotation.map(|(kind, _)| kind),
            })
            .collect()
    }
}
