//! Custom key stores: where the key material of some KMS keys lives instead of the vault — an HSM
//! (type `AWS_CLOUDHSM`, a PKCS#11 token standing in for a CloudHSM cluster) or an external key
//! manager (type `EXTERNAL_KEY_STORE`). The vault keeps each store's settings, its secret sealed
//! under the root key, and its connection state, per region.

use serde::{Deserialize, Serialize};

use kms_core::error::{KeyStoreFault, KmsError, KmsResult};

use super::store::Swap;

/// The kind of a custom key store, as AWS names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CustomKeyStoreType {
    /// Keys inside an HSM cluster the customer owns.
    #[serde(rename = "AWS_CLOUDHSM")]
    AwsCloudHsm,
    /// Keys inside an external key manager, reached through an XKS proxy.
    #[serde(rename = "EXTERNAL_KEY_STORE")]
    ExternalKeyStore,
}

impl CustomKeyStoreType {
    /// AWS's name.
    pub fn as_aws_str(self) -> &'static str {
        match self {
            CustomKeyStoreType::AwsCloudHsm => "AWS_CLOUDHSM",
            CustomKeyStoreType::ExternalKeyStore => "EXTERNAL_KEY_STORE",
        }
    }
}

/// Whether the service is connected to a custom key store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConnectionState {
    /// Connected: its keys may be used.
    Connected,
    /// ConnectCustomKeyStore is under way.
    Connecting,
    /// Never connected, or disconnected.
    Disconnected,
    /// DisconnectCustomKeyStore is under way.
    Disconnecting,
    /// The last connection attempt failed; `connection_error_code` says why.
    Failed,
}

impl ConnectionState {
    /// AWS's name.
    pub fn as_aws_str(self) -> &'static str {
        match self {
            ConnectionState::Connected => "CONNECTED",
            ConnectionState::Connecting => "CONNECTING",
            ConnectionState::Disconnected => "DISCONNECTED",
            ConnectionState::Disconnecting => "DISCONNECTING",
            ConnectionState::Failed => "FAILED",
        }
    }
}

/// Where an external key store's XKS proxy is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct XksProxySettings {
    /// `https://host` (AWS), or here also `https://host:port`, or `http://` on loopback.
    pub uri_endpoint: String,
    /// The path prefix ending in `/kms/xks/v1`.
    pub uri_path: String,
    /// `PUBLIC_ENDPOINT`.
    pub connectivity: String,
    /// The access key id of the credential requests are signed with.
    pub access_key_id: String,
}

/// One custom key store.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomKeyStoreRecord {
    /// `cks-` and 17 hex digits.
    pub id: String,
    /// The region the store belongs to.
    pub region: String,
    /// The account that owns it.
    pub account: String,
    /// Its name, unique in its region.
    pub name: String,
    /// What kind of store it is.
    pub store_type: CustomKeyStoreType,
    /// For an HSM store, the registered cluster (token) it uses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_hsm_cluster_id: Option<String>,
    /// For an HSM store, the trust anchor certificate it was created with (PEM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust_anchor_certificate: Option<String>,
    /// The store's secret (an HSM store's `kmsuser` password, the token's user PIN), sealed
    /// under the root key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed_secret: Option<Vec<u8>>,
    /// Whether the service is connected.
    pub connection_state: ConnectionState,
    /// Why the last connection failed, as AWS names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_error_code: Option<String>,
    /// For an external key store, where its XKS proxy is and whose credential signs to it (the
    /// credential's secret is `sealed_secret`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xks: Option<XksProxySettings>,
    /// When it was created, seconds since the epoch.
    pub created_at: u64,
    /// Writes since creation: writes are compare-and-swap on it.
    #[serde(default)]
    pub revision: u64,
}

impl std::fmt::Debug for CustomKeyStoreRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CustomKeyStoreRecord")
            .field("id", &self.id)
            .field("region", &self.region)
            .field("name", &self.name)
            .field("store_type", &self.store_type)
            .field("cloud_hsm_cluster_id", &self.cloud_hsm_cluster_id)
            .field("connection_state", &self.connection_state)
            .field("connection_error_code", &self.connection_error_code)
            .field("revision", &self.revision)
            .finish_non_exhaustive()
    }
}

/// Custom key stores, per region. Names are unique in a region; writes are compare-and-swap on
/// [`CustomKeyStoreRecord::revision`].
pub trait CustomKeyStoreStore: Send + Sync {
    /// Adds a store; `AlreadyExists` if its region holds one of its name or id.
    fn insert_custom_key_store(&self, store: &CustomKeyStoreRecord) -> KmsResult<()>;
    /// Reads a store of a region.
    fn custom_key_store(&self, region: &str, id: &str) -> KmsResult<Option<CustomKeyStoreRecord>>;
    /// The stores of a region, by id.
    fn custom_key_stores(&self, region: &str) -> KmsResult<Vec<CustomKeyStoreRecord>>;
    /// Replaces a store's record if the stored one still has `store.revision`; `AlreadyExists`
    /// if it is renamed to a name its region holds, `NotFound` if it is gone.
    fn update_custom_key_store(&self, store: &CustomKeyStoreRecord) -> KmsResult<Swap>;
    /// Deletes a store if the stored one still has `store.revision`; `NotFound` if it is gone.
    fn delete_custom_key_store(&self, store: &CustomKeyStoreRecord) -> KmsResult<Swap>;
}

/// The error for a store that does not exist.
pub fn store_not_found(id: &str) -> KmsError {
    KmsError::KeyStore(
        KeyStoreFault::NotFound,
        format!("Custom key store '{id}' does not exist"),
    )
}

/// The error for a name another store of the region has.
pub(super) fn name_in_use(name: &str) -> KmsError {
    KmsError::KeyStore(
        KeyStoreFault::NameInUse,
        format!("A custom key store named '{name}' already exists"),
    )
}
