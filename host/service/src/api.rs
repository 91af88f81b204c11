//! Requests and responses of the service façade, shaped and named as the AWS KMS JSON API shapes
//! them (PascalCase fields, base64 blobs, epoch-second dates), so that every front door can
//! (de)serialize them directly.

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use kms_core::types::{
    DataKeySpec, EncapsulationAlgorithmSpec, EncryptionAlgorithm, EncryptionContext,
    ExpirationModel, ImportState, IncludeKeyMaterial, KeyAgreementAlgorithmSpec, KeyMaterialState,
    KeySpec, KeyState, KeyUsage, MacAlgorithmSpec, Origin, RotationType, SigningAlgorithmSpec, Tag,
};

/// Base64 (standard alphabet, padded) for blob fields, as the AWS JSON protocol carries them.
pub(crate) mod b64 {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer, T: AsRef<[u8]>>(bytes: &T, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes.as_ref()))
    }

    pub fn deserialize<'de, D: Deserializer<'de>, T: From<Vec<u8>>>(d: D) -> Result<T, D::Error> {
        let text = zeroize::Zeroizing::new(String::deserialize(d)?);
        STANDARD
            .decode(text.as_bytes())
            .map(T::from)
            .map_err(|_| serde::de::Error::custom("invalid base64 blob"))
    }
}

/// Secret bytes in a request or response (plaintexts, data keys, shared secrets): zeroized when
/// dropped, and never printed — `Debug` shows only the length, so a request or response logged
/// with `{:?}` leaks nothing.
///
/// ```
/// use kms_service::SecretBytes;
/// let secret = SecretBytes::from(b"attack at dawn".to_vec());
/// assert_eq!(format!("{secret:?}"), "SecretBytes(14 bytes)");
/// assert_eq!(&secret[..6], b"attack");
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl std::fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretBytes({} bytes)", self.0.len())
    }
}

impl std::ops::Deref for SecretBytes {
    type Target = Vec<u8>;
    fn deref(&self) -> &Vec<u8> {
        &self.0
    }
}

impl AsRef<[u8]> for SecretBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl From<Vec<u8>> for SecretBytes {
    fn from(bytes: Vec<u8>) -> Self {
        SecretBytes(Zeroizing::new(bytes))
    }
}

impl From<Zeroizing<Vec<u8>>> for SecretBytes {
    fn from(bytes: Zeroizing<Vec<u8>>) -> Self {
        SecretBytes(bytes)
    }
}

/// CreateKey.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CreateKeyRequest {
    /// Description, 0–8192 characters.
    pub description: Option<String>,
    /// Defaults to ENCRYPT_DECRYPT.
    pub key_usage: Option<KeyUsage>,
    /// Defaults to SYMMETRIC_DEFAULT.
    pub key_spec: Option<KeySpec>,
    /// Defaults to AWS_KMS.
    pub origin: Option<Origin>,
    /// Tags to attach.
    pub tags: Vec<Tag>,
    /// A multi-Region primary key (`mrk-` id), which ReplicateKey copies to other regions.
    pub multi_region: Option<bool>,
    /// The key policy; AWS's default policy when absent.
    #[serde(default)]
    pub policy: Option<String>,
    /// Skips the check that the caller could change `policy` later.
    #[serde(default)]
    pub bypass_policy_lockout_safety_check: Option<bool>,
    /// Create the key in this custom key store (with Origin AWS_CLOUDHSM or
    /// EXTERNAL_KEY_STORE).
    #[serde(default)]
    pub custom_key_store_id: Option<String>,
    /// For Origin EXTERNAL_KEY_STORE, the external key at the store's XKS proxy.
    #[serde(default)]
    pub xks_key_id: Option<String>,
}

/// The metadata of a KMS key, as DescribeKey returns it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyMetadata {
    /// The owning account.
    #[serde(rename = "AWSAccountId")]
    pub aws_account_id: String,
    /// The key id.
    pub key_id: String,
    /// The key ARN.
    pub arn: String,
    /// Creation time, seconds since the epoch.
    pub creation_date: u64,
    /// Whether the key state is Enabled.
    pub enabled: bool,
    /// Description.
    pub description: String,
    /// Key usage.
    pub key_usage: KeyUsage,
    /// Key state.
    pub key_state: KeyState,
    /// When a key pending deletion will be deleted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_date: Option<u64>,
    /// Origin of the key material.
    pub origin: Origin,
    /// Always CUSTOMER for keys created through CreateKey.
    pub key_manager: String,
    /// Deprecated twin of `key_spec`, still returned by AWS.
    pub customer_master_key_spec: KeySpec,
    /// Key spec.
    pub key_spec: KeySpec,
    /// Encryption algorithms the key supports (ENCRYPT_DECRYPT keys).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub encryption_algorithms: Vec<EncryptionAlgorithm>,
    /// Signing algorithms the key supports (SIGN_VERIFY keys).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub signing_algorithms: Vec<SigningAlgorithmSpec>,
    /// MAC algorithms the key supports (GENERATE_VERIFY_MAC keys).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mac_algorithms: Vec<MacAlgorithmSpec>,
    /// Key agreement algorithms the key supports (KEY_AGREEMENT keys).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub key_agreement_algorithms: Vec<KeyAgreementAlgorithmSpec>,
    /// Key encapsulation algorithms the key supports (ENCAPSULATE_DECAPSULATE keys).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub encapsulation_algorithms: Vec<EncapsulationAlgorithmSpec>,
    /// Whether it is a multi-Region key.
    pub multi_region: bool,
    /// For a multi-Region key, its primary and replica keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multi_region_configuration: Option<crate::MultiRegionConfiguration>,
    /// The waiting period of a pending deletion.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_deletion_window_in_days: Option<u32>,
    /// Identifier of the current backing-key material (none for a key that has never had
    /// imported material).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_key_material_id: Option<String>,
    /// For a key with imported material in the vault, whether it expires.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration_model: Option<ExpirationModel>,
    /// When the key's imported material expires.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_to: Option<u64>,
    /// The custom key store holding the key's material.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_key_store_id: Option<String>,
    /// The HSM of that store.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloud_hsm_cluster_id: Option<String>,
    /// For a key in an external key store, its external key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub xks_key_configuration: Option<XksKeyConfiguration>,
}

/// `XksKeyConfigurationType`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct XksKeyConfiguration {
    /// The external key's id at the proxy.
    pub id: String,
}

/// CreateKey's and DescribeKey's response.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyMetadataResponse {
    /// The key's metadata.
    pub key_metadata: KeyMetadata,
}

/// A request naming one key (DescribeKey, EnableKey, DisableKey, CancelKeyDeletion, rotation
/// status and on-demand rotation, DisableKeyRotation).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyRequest {
    /// Key id, key ARN, alias name or alias ARN.
    pub key_id: String,
    /// Grant tokens for grants not yet visible (accepted if this service issued them).
    #[serde(default)]
    pub grant_tokens: Vec<String>,
}

impl KeyRequest {
    /// A request for `key`.
    pub fn new(key: impl Into<String>) -> Self {
        KeyRequest {
            key_id: key.into(),
            grant_tokens: Vec::new(),
        }
    }
}

/// A response naming one key by ARN (CancelKeyDeletion, RotateKeyOnDemand).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyIdResponse {
    /// The key ARN.
    pub key_id: String,
}

/// ListKeys.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ListKeysRequest {
    /// 1–1000, default 100.
    pub limit: Option<u32>,
    /// The `NextMarker` of a previous page.
    pub marker: Option<String>,
}

/// One entry of ListKeys.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyListEntry {
    /// The key id.
    pub key_id: String,
    /// The key ARN.
    pub key_arn: String,
}

/// ListKeys' response.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListKeysResponse {
    /// This page of keys.
    pub keys: Vec<KeyListEntry>,
    /// Pass as `Marker` to get the next page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
    /// Whether more pages follow.
    pub truncated: bool,
}

/// UpdateKeyDescription.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateKeyDescriptionRequest {
    /// The key.
    pub key_id: String,
    /// The new description, 0–8192 characters.
    pub description: String,
}

/// ScheduleKeyDeletion.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ScheduleKeyDeletionRequest {
    /// The key.
    pub key_id: String,
    /// 7–30 days, default 30.
    #[serde(default)]
    pub pending_window_in_days: Option<u32>,
}

/// ScheduleKeyDeletion's response.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ScheduleKeyDeletionResponse {
    /// The key ARN.
    pub key_id: String,
    /// When the key will be deleted; `None` for a multi-Region primary key that waits for its
    /// replicas to be deleted first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_date: Option<u64>,
    /// PendingDeletion, or PendingReplicaDeletion for a primary key that still has replicas.
    pub key_state: KeyState,
    /// The waiting period.
    pub pending_window_in_days: u32,
}

/// TagResource.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagResourceRequest {
    /// The key.
    pub key_id: String,
    /// Tags to add or overwrite.
    pub tags: Vec<Tag>,
}

/// UntagResource.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UntagResourceRequest {
    /// The key.
    pub key_id: String,
    /// Keys of the tags to remove.
    pub tag_keys: Vec<String>,
}

/// ListResourceTags, ListKeyRotations: a key plus paging.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListForKeyRequest {
    /// The key.
    pub key_id: String,
    /// Page size.
    #[serde(default)]
    pub limit: Option<u32>,
    /// The `NextMarker` of a previous page.
    #[serde(default)]
    pub marker: Option<String>,
    /// ListKeyRotations only: every material or only rotations (the default).
    #[serde(default)]
    pub include_key_material: Option<IncludeKeyMaterial>,
}

impl ListForKeyRequest {
    /// First page for `key`.
    pub fn new(key: impl Into<String>) -> Self {
        ListForKeyRequest {
            key_id: key.into(),
            ..Default::default()
        }
    }
}

/// ListResourceTags' response.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListResourceTagsResponse {
    /// This page of tags.
    pub tags: Vec<Tag>,
    /// Pass as `Marker` to get the next page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
    /// Whether more pages follow.
    pub truncated: bool,
}

/// CreateAlias and UpdateAlias.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AliasRequest {
    /// `alias/…`.
    pub alias_name: String,
    /// The key the alias points (or will point) at.
    pub target_key_id: String,
}

/// DeleteAlias.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteAliasRequest {
    /// `alias/…`.
    pub alias_name: String,
}

/// ListAliases.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ListAliasesRequest {
    /// Only aliases of this key.
    pub key_id: Option<String>,
    /// 1–100, default 50.
    pub limit: Option<u32>,
    /// The `NextMarker` of a previous page.
    pub marker: Option<String>,
}

/// One alias in ListAliases.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AliasListEntry {
    /// `alias/…`.
    pub alias_name: String,
    /// The alias ARN.
    pub alias_arn: String,
    /// The key id it points at.
    pub target_key_id: String,
    /// Creation time.
    pub creation_date: u64,
    /// Last time it was pointed at a key.
    pub last_updated_date: u64,
}

/// ListAliases' response.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListAliasesResponse {
    /// This page of aliases.
    pub aliases: Vec<AliasListEntry>,
    /// Pass as `Marker` to get the next page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
    /// Whether more pages follow.
    pub truncated: bool,
}

/// Encrypt.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EncryptRequest {
    /// The key.
    pub key_id: String,
    /// 1–4096 bytes.
    #[serde(with = "b64")]
    pub plaintext: SecretBytes,
    /// Bound to the ciphertext as associated data.
    #[serde(default)]
    pub encryption_context: EncryptionContext,
    /// Must be SYMMETRIC_DEFAULT for symmetric keys.
    #[serde(default)]
    pub encryption_algorithm: Option<EncryptionAlgorithm>,
    /// Grant tokens for grants not yet visible (accepted if this service issued them).
    #[serde(default)]
    pub grant_tokens: Vec<String>,
    /// Check permissions only: answer `DryRunOperationException` once authorized, do nothing.
    #[serde(default)]
    pub dry_run: bool,
}

impl EncryptRequest {
    /// Encrypt `plaintext` under `key` with an empty context.
    pub fn new(key: impl Into<String>, plaintext: Vec<u8>) -> Self {
        EncryptRequest {
            key_id: key.into(),
            plaintext: plaintext.into(),
            ..Default::default()
        }
    }

    /// The same request with an encryption context.
    pub fn with_context(mut self, context: EncryptionContext) -> Self {
        self.encryption_context = context;
        self
    }
}

/// Encrypt's response.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EncryptResponse {
    /// The ciphertext blob.
    #[serde(with = "b64")]
    pub ciphertext_blob: Vec<u8>,
    /// The ARN of the key used.
    pub key_id: String,
    /// The algorithm used.
    pub encryption_algorithm: EncryptionAlgorithm,
}

/// Decrypt.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DecryptRequest {
    /// The blob from Encrypt or GenerateDataKey*.
    #[serde(with = "b64")]
    pub ciphertext_blob: Vec<u8>,
    /// Must equal the context given at encryption.
    #[serde(default)]
    pub encryption_context: EncryptionContext,
    /// Optional: if given, must name the key the blob was encrypted under.
    #[serde(default)]
    pub key_id: Option<String>,
    /// Must be SYMMETRIC_DEFAULT for symmetric keys.
    #[serde(default)]
    pub encryption_algorithm: Option<EncryptionAlgorithm>,
    /// Grant tokens for grants not yet visible (accepted if this service issued them).
    #[serde(default)]
    pub grant_tokens: Vec<String>,
    /// Check permissions only: answer `DryRunOperationException` once authorized, do nothing.
    #[serde(default)]
    pub dry_run: bool,
}

impl DecryptRequest {
    /// Decrypt `blob` with an empty context.
    pub fn new(blob: Vec<u8>) -> Self {
        DecryptRequest {
            ciphertext_blob: blob,
            ..Default::default()
        }
    }

    /// The same request with an encryption context.
    pub fn with_context(mut self, context: EncryptionContext) -> Self {
        self.encryption_context = context;
        self
    }

    /// The same request, insisting on a key.
    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.key_id = Some(key.into());
        self
    }
}

/// Decrypt's response.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DecryptResponse {
    /// The ARN of the key that decrypted.
    pub key_id: String,
    /// The plaintext.
    #[serde(with = "b64")]
    pub plaintext: SecretBytes,
    /// The algorithm used.
    pub encryption_algorithm: EncryptionAlgorithm,
    /// The backing-key material that decrypted.
    pub key_material_id: String,
}

/// ReEncrypt.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReEncryptRequest {
    /// The blob to re-encrypt.
    #[serde(with = "b64")]
    pub ciphertext_blob: Vec<u8>,
    /// Its encryption context.
    #[serde(default)]
    pub source_encryption_context: EncryptionContext,
    /// Optional: if given, must name the source key.
    #[serde(default)]
    pub source_key_id: Option<String>,
    /// The key to re-encrypt under.
    pub destination_key_id: String,
    /// The context for the new ciphertext.
    #[serde(default)]
    pub destination_encryption_context: EncryptionContext,
    /// Must be SYMMETRIC_DEFAULT for symmetric keys.
    #[serde(default)]
    pub source_encryption_algorithm: Option<EncryptionAlgorithm>,
    /// Must be SYMMETRIC_DEFAULT for symmetric keys.
    #[serde(default)]
    pub destination_encryption_algorithm: Option<EncryptionAlgorithm>,
    /// Grant tokens for grants not yet visible (accepted if this service issued them).
    #[serde(default)]
    pub grant_tokens: Vec<String>,
    /// Check permissions only: answer `DryRunOperationException` once authorized, do nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// ReEncrypt's response.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReEncryptResponse {
    /// The new ciphertext blob.
    #[serde(with = "b64")]
    pub ciphertext_blob: Vec<u8>,
    /// ARN of the key that decrypted.
    pub source_key_id: String,
    /// ARN of the key that encrypted.
    pub key_id: String,
    /// Source algorithm.
    pub source_encryption_algorithm: EncryptionAlgorithm,
    /// Destination algorithm.
    pub destination_encryption_algorithm: EncryptionAlgorithm,
}

/// GenerateDataKey and GenerateDataKeyWithoutPlaintext: exactly one of `key_spec` and
/// `number_of_bytes`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GenerateDataKeyRequest {
    /// The KMS key that encrypts the data key.
    pub key_id: String,
    /// AES_128 or AES_256.
    #[serde(default)]
    pub key_spec: Option<DataKeySpec>,
    /// 1–1024.
    #[serde(default)]
    pub number_of_bytes: Option<u32>,
    /// Bound to the encrypted data key.
    #[serde(default)]
    pub encryption_context: EncryptionContext,
    /// Grant tokens for grants not yet visible (accepted if this service issued them).
    #[serde(default)]
    pub grant_tokens: Vec<String>,
    /// Check permissions only: answer `DryRunOperationException` once authorized, do nothing.
    #[serde(default)]
    pub dry_run: bool,
}

impl GenerateDataKeyRequest {
    /// A data key of `spec` under `key`.
    pub fn new(key: impl Into<String>, spec: DataKeySpec) -> Self {
        GenerateDataKeyRequest {
            key_id: key.into(),
            key_spec: Some(spec),
            ..Default::default()
        }
    }

    /// The same request with an encryption context.
    pub fn with_context(mut self, context: EncryptionContext) -> Self {
        self.encryption_context = context;
        self
    }
}

/// GenerateDataKey's response.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GenerateDataKeyResponse {
    /// The data key encrypted under the KMS key.
    #[serde(with = "b64")]
    pub ciphertext_blob: Vec<u8>,
    /// The plaintext data key: use it, then forget it.
    #[serde(with = "b64")]
    pub plaintext: SecretBytes,
    /// ARN of the KMS key.
    pub key_id: String,
    /// The backing-key material that encrypted the data key.
    pub key_material_id: String,
}

/// GenerateDataKeyWithoutPlaintext's response.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GenerateDataKeyWithoutPlaintextResponse {
    /// The data key encrypted under the KMS key.
    #[serde(with = "b64")]
    pub ciphertext_blob: Vec<u8>,
    /// ARN of the KMS key.
    pub key_id: String,
    /// The backing-key material that encrypted the data key.
    pub key_material_id: String,
}

/// GenerateRandom.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GenerateRandomRequest {
    /// 1–1024.
    pub number_of_bytes: Option<u32>,
}

/// GenerateRandom's response.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GenerateRandomResponse {
    /// The random bytes.
    #[serde(with = "b64")]
    pub plaintext: SecretBytes,
}

/// EnableKeyRotation.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EnableKeyRotationRequest {
    /// The key.
    pub key_id: String,
    /// 90–2560, default 365.
    #[serde(default)]
    pub rotation_period_in_days: Option<u32>,
}

/// GetKeyRotationStatus' response.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyRotationStatusResponse {
    /// Whether automatic rotation is on.
    pub key_rotation_enabled: bool,
    /// The key ARN.
    pub key_id: String,
    /// Days between automatic rotations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation_period_in_days: Option<u32>,
    /// When the next automatic rotation is due.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_rotation_date: Option<u64>,
    /// When the last on-demand rotation started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_demand_rotation_start_date: Option<u64>,
}

/// One key material in ListKeyRotations: a completed rotation, or with `ALL_KEY_MATERIAL`
/// also the first material and imported material pending rotation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RotationListEntry {
    /// The key ARN.
    pub key_id: String,
    /// The material's id.
    pub key_material_id: String,
    /// The imported material's description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_material_description: Option<String>,
    /// For imported material, whether it is in the vault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub import_state: Option<ImportState>,
    /// CURRENT, NON_CURRENT or PENDING_ROTATION.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_material_state: Option<KeyMaterialState>,
    /// For imported material in the vault, whether it expires.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration_model: Option<ExpirationModel>,
    /// When imported material expires.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_to: Option<u64>,
    /// When the rotation that made the material current happened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation_date: Option<u64>,
    /// AUTOMATIC or ON_DEMAND.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation_type: Option<RotationType>,
}

/// ListKeyRotations' response.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListKeyRotationsResponse {
    /// This page of rotations, oldest first.
    pub rotations: Vec<RotationListEntry>,
    /// Pass as `Marker` to get the next page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
    /// Whether more pages follow.
    pub truncated: bool,
}
