//! Imported key material: GetParametersForImport, ImportKeyMaterial, DeleteImportedKeyMaterial,
//! and the expiry of imported material. A key of EXTERNAL origin starts without material; what
//! it remembers of each material it had is a keyed fingerprint (the KeyMaterialId), so that
//! after a deletion only the same material, under the same backing-key version, comes back.

use serde::{Deserialize, Deserializer, Serialize};
use zeroize::Zeroizing;

use super::*;
use crate::api::b64;
use kms_core::types::{
    ExpirationModel, ImportType, KeySpec, Origin, WrappingAlgorithmSpec, WrappingKeySpec,
};
use kms_crypto::SymmetricKey;
use kms_crypto::key_import::WrappingKey;
use kms_vault::ImportedMaterial;

/// How long the parameters of GetParametersForImport may be used: 24 hours, as in AWS.
pub const IMPORT_PARAMETERS_VALID_SECONDS: u64 = SECONDS_PER_DAY;
/// The furthest `ValidTo` may lie ahead: 365 days, as in AWS.
const MAX_VALID_TO_SECONDS: u64 = 365 * SECONDS_PER_DAY;
/// Leads every import token, naming its format.
const TOKEN_MAGIC: &[u8; 4] = b"KIT1";
/// Magic, expiry (u64, big-endian) and the wrapping algorithm's index.
const TOKEN_HEADER_LEN: usize = 4 + 8 + 1;

/// GetParametersForImport.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetParametersForImportRequest {
    /// The key of EXTERNAL origin (key id or key ARN).
    pub key_id: String,
    /// How the material will be wrapped (`AlgorithmSpec`).
    pub wrapping_algorithm: String,
    /// The RSA wrapping key's size (`WrappingKeySpec`).
    pub wrapping_key_spec: String,
}

impl GetParametersForImportRequest {
    /// A request for `key` with `algorithm` and a wrapping key of `spec`.
    pub fn new(
        key: impl Into<String>,
        algorithm: WrappingAlgorithmSpec,
        spec: WrappingKeySpec,
    ) -> Self {
        GetParametersForImportRequest {
            key_id: key.into(),
            wrapping_algorithm: algorithm.to_string(),
            wrapping_key_spec: spec.to_string(),
        }
    }
}

/// GetParametersForImport's response.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetParametersForImportResponse {
    /// The key ARN.
    pub key_id: String,
    /// Pass to ImportKeyMaterial with the material wrapped to `public_key`.
    #[serde(with = "b64")]
    pub import_token: Vec<u8>,
    /// The RSA wrapping public key, DER SubjectPublicKeyInfo.
    #[serde(with = "b64")]
    pub public_key: Vec<u8>,
    /// When the token and public key stop being accepted (seconds since the epoch).
    pub parameters_valid_to: u64,
}

/// ImportKeyMaterial.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImportKeyMaterialRequest {
    /// The key of EXTERNAL origin (key id or key ARN).
    pub key_id: String,
    /// GetParametersForImport's `ImportToken`.
    #[serde(with = "b64")]
    pub import_token: Vec<u8>,
    /// The key material wrapped to GetParametersForImport's `PublicKey`.
    #[serde(with = "b64")]
    pub encrypted_key_material: Vec<u8>,
    /// When the material expires; required with KEY_MATERIAL_EXPIRES, refused otherwise.
    #[serde(default, deserialize_with = "epoch_seconds")]
    pub valid_to: Option<u64>,
    /// Defaults to KEY_MATERIAL_EXPIRES, as in AWS.
    #[serde(default)]
    pub expiration_model: Option<ExpirationModel>,
    /// Defaults to EXISTING_KEY_MATERIAL.
    #[serde(default)]
    pub import_type: Option<ImportType>,
    /// A description of the material (ListKeyRotations shows it).
    #[serde(default)]
    pub key_material_description: Option<String>,
    /// For a reimport, the id of the material the key had (checked against the material).
    #[serde(default)]
    pub key_material_id: Option<String>,
}

impl ImportKeyMaterialRequest {
    /// A request importing `encrypted_key_material` into `key` with the `import_token` of its
    /// parameters, material that does not expire.
    pub fn new(
        key: impl Into<String>,
        import_token: Vec<u8>,
        encrypted_key_material: Vec<u8>,
    ) -> Self {
        ImportKeyMaterialRequest {
            key_id: key.into(),
            import_token,
            encrypted_key_material,
            valid_to: None,
            expiration_model: Some(ExpirationModel::KeyMaterialDoesNotExpire),
            import_type: None,
            key_material_description: None,
            key_material_id: None,
        }
    }

    /// The same request for material that expires at `valid_to`.
    pub fn expiring_at(mut self, valid_to: u64) -> Self {
        self.expiration_model = Some(ExpirationModel::KeyMaterialExpires);
        self.valid_to = Some(valid_to);
        self
    }

    /// The same request with `import_type`.
    pub fn with_import_type(mut self, import_type: ImportType) -> Self {
        self.import_type = Some(import_type);
        self
    }
}

/// ImportKeyMaterial's and DeleteImportedKeyMaterial's response.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyMaterialResponse {
    /// The key ARN.
    pub key_id: String,
    /// The id of the material imported or deleted.
    pub key_material_id: String,
}

/// DeleteImportedKeyMaterial.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteImportedKeyMaterialRequest {
    /// The key of EXTERNAL origin (key id or key ARN).
    pub key_id: String,
    /// The material to delete; the current material when absent.
    #[serde(default)]
    pub key_material_id: Option<String>,
}

impl DeleteImportedKeyMaterialRequest {
    /// A request deleting the current material of `key`.
    pub fn new(key: impl Into<String>) -> Self {
        DeleteImportedKeyMaterialRequest {
            key_id: key.into(),
            key_material_id: None,
        }
    }
}

/// A JSON timestamp as AWS's JSON protocol sends it: seconds since the epoch, possibly with a
/// fraction (dropped).
fn epoch_seconds<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let Some(seconds) = Option::<f64>::deserialize(d)? else {
        return Ok(None);
    };
    if !(0.0..=u64::MAX as f64).contains(&seconds) {
        return Err(serde::de::Error::custom("timestamp out of range"));
    }
    Ok(Some(seconds as u64))
}

/// The key specs whose material may be imported. AWS takes symmetric, HMAC, RSA, ECDSA and
/// ML-DSA material; Ed25519 and ML-KEM keys are made by KMS only.
pub(crate) fn importable(spec: KeySpec) -> bool {
    !matches!(
        spec,
        KeySpec::EccNistEdwards25519 | KeySpec::MlKem512 | KeySpec::MlKem768 | KeySpec::MlKem1024
    )
}

/// A wrapping algorithm of the request, refusing the two AWS's model lists that this service
/// does not offer, as AWS does outside China and since it retired PKCS#1 v1.5 wrapping.
fn wrapping_algorithm(name: &str) -> KmsResult<WrappingAlgorithmSpec> {
    match name {
        "RSAES_PKCS1_V1_5" | "SM2PKE" => Err(KmsError::invalid(
            "WrappingAlgorithm",
            format!(
                "WrappingAlgorithm {name} is not supported; use RSAES_OAEP_SHA_256 or RSA_AES_KEY_WRAP_SHA_256"
            ),
        )),
        other => other.parse(),
    }
}

fn wrapping_key_spec(name: &str) -> KmsResult<WrappingKeySpec> {
    match name {
        "SM2" => Err(KmsError::invalid(
            "WrappingKeySpec",
            "WrappingKeySpec SM2 is supported only in China Regions".into(),
        )),
        other => other.parse(),
    }
}

impl Service {
    /// Refuses import operations on a key whose material KMS made.
    fn require_external(&self, record: &KeyRecord) -> KmsResult<()> {
        if record.origin != Origin::External {
            return Err(KmsError::UnsupportedOperation(format!(
                "{} has origin {}; key material can be imported only into keys of origin EXTERNAL",
                self.key_arn(&record.key_id),
                record.origin
            )));
        }
        Ok(())
    }

    /// Refuses import into a key that is being deleted.
    fn require_importable_state(&self, record: &KeyRecord) -> KmsResult<()> {
        match record.state {
            KeyState::Enabled | KeyState::Disabled | KeyState::PendingImport => Ok(()),
            state => Err(KmsError::InvalidState(format!(
                "{} is {state}.",
                self.key_arn(&record.key_id)
            ))),
        }
    }

    /// The key that seals import tokens, derived from the root key.
    fn import_token_key(&self) -> KmsResult<SymmetricKey> {
        let key = Zeroizing::new(self.shared.vault.derived_key(b"kms import token key v1"));
        SymmetricKey::from_slice(key.as_slice())
    }

    /// What an import token is bound to besides its own header: the region and key.
    fn import_token_aad(&self, key_id: &KeyId, header: &[u8]) -> Vec<u8> {
        let mut aad = b"kms import token v1\0".to_vec();
        aad.extend_from_slice(self.region.as_bytes());
        aad.push(0);
        aad.extend_from_slice(key_id.to_string().as_bytes());
        aad.push(0);
        aad.extend_from_slice(header);
        aad
    }

    /// GetParametersForImport: a fresh RSA wrapping key pair and an import token that carries
    /// its private key, sealed under a key derived from the root key and bound to this key, its
    /// region, the wrapping algorithm and an expiry 24 hours ahead. Nothing is stored.
    pub fn get_parameters_for_import(
        &self,
        caller: &Caller,
        req: GetParametersForImportRequest,
    ) -> KmsResult<GetParametersForImportResponse> {
        self.audited(caller, "GetParametersForImport", |note| {
            let algorithm = wrapping_algorithm(&req.wrapping_algorithm)?;
            let spec = wrapping_key_spec(&req.wrapping_key_spec)?;
            note.condition(ConditionKey::WrappingAlgorithm, [algorithm]);
            note.condition(ConditionKey::WrappingKeySpec, [spec]);
            let record = self.key_for(caller, note, &req.key_id, "kms:GetParametersForImport")?;
            self.require_external(&record)?;
            self.require_importable_state(&record)?;
            let key_wrap = matches!(
                algorithm,
                WrappingAlgorithmSpec::RsaAesKeyWrapSha1
                    | WrappingAlgorithmSpec::RsaAesKeyWrapSha256
            );
            let rsa = matches!(
                record.key_spec,
                KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096
            );
            if rsa && !key_wrap {
                return Err(KmsError::UnsupportedOperation(format!(
                    "{algorithm} cannot wrap {} private keys; use RSA_AES_KEY_WRAP_SHA_256",
                    record.key_spec
                )));
            }
            let wrapping = WrappingKey::generate(spec)?;
            let valid_to = self.now() + IMPORT_PARAMETERS_VALID_SECONDS;
            let mut token = Vec::with_capacity(TOKEN_HEADER_LEN + 3000);
            token.extend_from_slice(TOKEN_MAGIC);
            token.extend_from_slice(&valid_to.to_be_bytes());
            let index = WrappingAlgorithmSpec::ALL
                .iter()
                .position(|a| *a == algorithm)
                .unwrap_or_default();
            token.push(index as u8);
            let aad = self.import_token_aad(&record.key_id, &token);
            let sealed = self
                .import_token_key()?
                .seal(&wrapping.to_pkcs8_der()?, &aad)?;
            token.extend_from_slice(&sealed);
            Ok(GetParametersForImportResponse {
                key_id: self.key_arn(&record.key_id),
                import_token: token,
                public_key: wrapping.public_key_der()?,
                parameters_valid_to: valid_to,
            })
        })
    }

    /// Opens an import token of `key_id`: its wrapping algorithm and wrapping key.
    /// `InvalidImportToken` for a token that is not ours, was altered or is another key's,
    /// `ExpiredImportToken` once its 24 hours are over.
    fn open_import_token(
        &self,
        key_id: &KeyId,
        token: &[u8],
    ) -> KmsResult<(WrappingAlgorithmSpec, WrappingKey)> {
        let invalid = || {
            KmsError::InvalidImportToken(format!(
                "The import token is not valid for {}",
                self.key_arn(key_id)
            ))
        };
        if token.len() <= TOKEN_HEADER_LEN || !token.starts_with(TOKEN_MAGIC) {
            return Err(invalid());
        }
        let (header, sealed) = token.split_at(TOKEN_HEADER_LEN);
        let aad = self.import_token_aad(key_id, header);
        let der = self
            .import_token_key()?
            .open(sealed, &aad)
            .map_err(|_| invalid())?;
        let valid_to = u64::from_be_bytes(header[4..12].try_into().map_err(|_| invalid())?);
        if self.now() >= valid_to {
            return Err(KmsError::ExpiredImportToken(format!(
                "The import token for {} expired; call GetParametersForImport again",
                self.key_arn(key_id)
            )));
        }
        let algorithm = *WrappingAlgorithmSpec::ALL
            .get(usize::from(header[12]))
            .ok_or_else(invalid)?;
        Ok((algorithm, WrappingKey::from_pkcs8_der(&der)?))
    }

    /// The `ValidTo` of an import: `None` for material that does not expire.
    fn imported_material_expiry(&self, req: &ImportKeyMaterialRequest) -> KmsResult<Option<u64>> {
        let model = req
            .expiration_model
            .unwrap_or(ExpirationModel::KeyMaterialExpires);
        match (model, req.valid_to) {
            (ExpirationModel::KeyMaterialDoesNotExpire, None) => Ok(None),
            (ExpirationModel::KeyMaterialDoesNotExpire, Some(_)) => Err(KmsError::invalid(
                "ValidTo",
                "ValidTo must be omitted when ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE"
                    .into(),
            )),
            (ExpirationModel::KeyMaterialExpires, None) => Err(KmsError::invalid(
                "ValidTo",
                "ValidTo is required when ExpirationModel is KEY_MATERIAL_EXPIRES".into(),
            )),
            (ExpirationModel::KeyMaterialExpires, Some(valid_to)) => {
                let now = self.now();
                if valid_to <= now || valid_to > now + MAX_VALID_TO_SECONDS {
                    return Err(KmsError::invalid(
                        "ValidTo",
                        "ValidTo must be in the future and at most 365 days from now".into(),
                    ));
                }
                Ok(Some(valid_to))
            }
        }
    }

    /// ImportKeyMaterial: unwraps the material with the token's wrapping key, checks it is a
    /// key of the key's spec and, once the key has had material, that it is the same material
    /// (its KeyMaterialId), then seals it as its backing-key version. A key whose every
    /// material is back becomes Enabled. `ImportType=NEW_KEY_MATERIAL` imports material for
    /// the next RotateKeyOnDemand of a symmetric key.
    pub fn import_key_material(
        &self,
        caller: &Caller,
        req: ImportKeyMaterialRequest,
    ) -> KmsResult<KeyMaterialResponse> {
        self.audited(caller, "ImportKeyMaterial", |note| {
            if let Some(model) = req.expiration_model {
                note.condition(ConditionKey::ExpirationModel, [model]);
            }
            if let Some(valid_to) = req.valid_to {
                note.condition(ConditionKey::ValidTo, [valid_to]);
            }
            let record = self.key_for(caller, note, &req.key_id, "kms:ImportKeyMaterial")?;
            self.require_external(&record)?;
            self.require_importable_state(&record)?;
            let valid_to = self.imported_material_expiry(&req)?;
            let import_type = req.import_type.unwrap_or(ImportType::ExistingKeyMaterial);
            let key_id = record.key_id;
            let arn = self.key_arn(&key_id);
            if import_type == ImportType::NewKeyMaterial {
                if record.key_spec != KeySpec::SymmetricDefault {
                    return Err(KmsError::UnsupportedOperation(format!(
                        "{arn} is a {} key: only SYMMETRIC_DEFAULT keys take NEW_KEY_MATERIAL",
                        record.key_spec
                    )));
                }
                if req.key_material_id.is_some() {
                    return Err(KmsError::invalid(
                        "KeyMaterialId",
                        "KeyMaterialId cannot be given with ImportType NEW_KEY_MATERIAL".into(),
                    ));
                }
            }
            let (algorithm, wrapping) = self.open_import_token(&key_id, &req.import_token)?;
            let material = wrapping.unwrap_key_material(
                algorithm,
                &req.encrypted_key_material,
                record.key_spec,
            )?;
            let material_id = self
                .shared
                .vault
                .imported_material_id(&key_id, &material)?;
            let incorrect = || {
                KmsError::IncorrectKeyMaterial(format!(
                    "The key material is not the key material of {arn}"
                ))
            };
            if req
                .key_material_id
                .as_ref()
                .is_some_and(|id| *id != material_id)
            {
                return Err(incorrect());
            }
            let now = self.now();
            self.until_applied(
                || arn.clone(),
                || {
                    let mut record = self.stored_key(&key_id)?;
                    self.require_importable_state(&record)?;
                    let version = match import_type {
                        ImportType::ExistingKeyMaterial => {
                            if record.imported.is_empty() {
                                record.imported.push(new_material(
                                    record.current_version,
                                    &material_id,
                                    false,
                                ));
                                record.current_version
                            } else {
                                record
                                    .imported
                                    .iter()
                                    .find(|m| m.material_id == material_id && !m.pending_rotation)
                                    .ok_or_else(incorrect)?
                                    .version
                            }
                        }
                        ImportType::NewKeyMaterial => {
                            if record.imported.is_empty() {
                                return Err(KmsError::invalid(
                                    "ImportType",
                                    format!("{arn} has no key material yet: import it with ImportType EXISTING_KEY_MATERIAL"),
                                ));
                            }
                            if record
                                .imported
                                .iter()
                                .any(|m| m.material_id == material_id && !m.pending_rotation)
                            {
                                return Err(KmsError::IncorrectKeyMaterial(format!(
                                    "The key material is already key material of {arn}; new key material must be new"
                                )));
                            }
                            // One material waits for rotation at a time: a new one replaces it.
                            record.imported.retain(|m| !m.pending_rotation);
                            let version =
                                record.imported.iter().map(|m| m.version).max().unwrap_or(0) + 1;
                            record
                                .imported
                                .push(new_material(version, &material_id, true));
                            version
                        }
                    };
                    let entry = record
                        .imported
                        .iter_mut()
                        .find(|m| m.version == version)
                        .ok_or_else(|| KmsError::Internal(format!("{arn} lost version {version}")))?;
                    entry.imported = true;
                    entry.valid_to = valid_to;
                    if req.key_material_description.is_some() {
                        entry.description.clone_from(&req.key_material_description);
                    }
                    if record.state == KeyState::PendingImport && !awaits_material(&record) {
                        record.state = KeyState::Enabled;
                    }
                    let mut versions = self.shared.vault.store().versions(&key_id)?;
                    versions.retain(|v| {
                        v.version != version && record.imported_version(v.version).is_some()
                    });
                    versions.push(
                        self.shared
                            .vault
                            .seal_imported_version(&key_id, &material, version, now)?,
                    );
                    let swap = self.shared.vault.store().replace_versions(&record, &versions)?;
                    self.shared.vault.evict(&key_id);
                    Ok((swap == Swap::Done).then(|| KeyMaterialResponse {
                        key_id: arn.clone(),
                        key_material_id: material_id.clone(),
                    }))
                },
            )
        })
    }

    /// DeleteImportedKeyMaterial: crypto erasure of one imported material (the current one
    /// unless `KeyMaterialId` names another). Its sealed bytes leave the store and the cache;
    /// the key keeps only the material's id and becomes PendingImport until the same material
    /// is imported again.
    pub fn delete_imported_key_material(
        &self,
        caller: &Caller,
        req: DeleteImportedKeyMaterialRequest,
    ) -> KmsResult<KeyMaterialResponse> {
        self.audited(caller, "DeleteImportedKeyMaterial", |note| {
            let record =
                self.key_for(caller, note, &req.key_id, "kms:DeleteImportedKeyMaterial")?;
            self.require_external(&record)?;
            let key_id = record.key_id;
            let arn = self.key_arn(&key_id);
            self.until_applied(
                || arn.clone(),
                || {
                    let mut record = self.stored_key(&key_id)?;
                    if record.state == KeyState::Unavailable {
                        return Err(KmsError::InvalidState(format!("{arn} is Unavailable.")));
                    }
                    let target = match &req.key_material_id {
                        Some(id) => record.imported.iter().find(|m| m.material_id == *id),
                        None => record.imported_version(record.current_version),
                    };
                    let Some(target) = target.cloned() else {
                        return Err(match &req.key_material_id {
                            Some(id) => KmsError::NotFound(Missing::Described(format!(
                                "Key material '{id}' is not key material of {arn}"
                            ))),
                            None => KmsError::InvalidState(format!("{arn} has no key material.")),
                        });
                    };
                    let swap = self.erase_material(&mut record, |m| m.version == target.version)?;
                    Ok((swap == Swap::Done).then(|| KeyMaterialResponse {
                        key_id: arn.clone(),
                        key_material_id: target.material_id.clone(),
                    }))
                },
            )
        })
    }

    /// Erases the imported materials `which` selects from the store and the material cache,
    /// keeping their ids; a key that lost material it needs becomes PendingImport (a key being
    /// deleted stays so). [`Swap::Stale`] if `record` is no longer the stored one.
    pub(crate) fn erase_material(
        &self,
        record: &mut KeyRecord,
        which: impl Fn(&ImportedMaterial) -> bool,
    ) -> KmsResult<Swap> {
        for material in record.imported.iter_mut().filter(|m| which(m)) {
            material.imported = false;
            material.valid_to = None;
        }
        if matches!(record.state, KeyState::Enabled | KeyState::Disabled) && awaits_material(record)
        {
            record.state = KeyState::PendingImport;
        }
        let mut versions = self.shared.vault.store().versions(&record.key_id)?;
        versions.retain(|v| {
            record
                .imported_version(v.version)
                .is_some_and(|m| m.imported)
        });
        let swap = self
            .shared
            .vault
            .store()
            .replace_versions(record, &versions)?;
        self.shared.vault.evict(&record.key_id);
        if swap == Swap::Done {
            record.revision += 1;
        }
        Ok(swap)
    }

    /// RotateKeyOnDemand of a key with imported material: the material imported with
    /// `NEW_KEY_MATERIAL` becomes current. [`Swap::Stale`] if `record` is no longer the stored
    /// one.
    pub(crate) fn rotate_onto_imported_material(
        &self,
        record: &mut KeyRecord,
        now: u64,
    ) -> KmsResult<Swap> {
        let arn = self.key_arn(&record.key_id);
        let pending = record
            .imported
            .iter_mut()
            .find(|m| m.pending_rotation && m.imported)
            .ok_or_else(|| {
                KmsError::InvalidState(format!(
                    "{arn} has no key material pending rotation; import it with ImportType NEW_KEY_MATERIAL first"
                ))
            })?;
        pending.pending_rotation = false;
        pending.rotation = Some((RotationType::OnDemand, now));
        record.current_version = pending.version;
        record.on_demand_rotations += 1;
        record.last_on_demand_rotation = Some(now);
        self.shared.vault.store().update_key(record)
    }
}

/// A material entry for `version` not yet in the vault.
fn new_material(version: u32, material_id: &str, pending_rotation: bool) -> ImportedMaterial {
    ImportedMaterial {
        version,
        material_id: material_id.to_string(),
        description: None,
        imported: false,
        valid_to: None,
        pending_rotation,
        rotation: None,
    }
}

/// Whether a key of EXTERNAL origin lacks material it needs: none yet, or a current or earlier
/// material deleted or expired (material pending rotation is not needed yet).
pub(crate) fn awaits_material(record: &KeyRecord) -> bool {
    record.origin == Origin::External
        && (record.imported.is_empty()
            || record
                .imported
                .iter()
                .any(|m| !m.pending_rotation && !m.imported))
}
