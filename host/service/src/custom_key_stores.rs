//! Custom key stores of type `AWS_CLOUDHSM`, over PKCS#11: the six operations AWS has for them,
//! the operator's registration of the HSMs a `CloudHsmClusterId` may name, and the tokens this
//! process is connected to. Keys in such a store (origin `AWS_CLOUDHSM`) are generated in the
//! token as non-extractable objects and every Encrypt, Decrypt and GenerateDataKey of them runs
//! inside it (`crypto_ops`).
//!
//! The connection state lives in the vault, so every node of a cluster sees it; each node opens
//! its own session to the token the first time it needs one while the store is `CONNECTED`.

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::*;
use kms_core::error::KeyStoreFault;
use kms_core::types::KeySpec;
use kms_vault::hsm::{HsmFailure, HsmToken};
use kms_vault::{ConnectionState, CustomKeyStoreRecord, CustomKeyStoreType};

/// Meta entries holding the registered HSMs, by cluster id.
const CLUSTER_META_PREFIX: &str = "cloudhsm_cluster/";
/// Stores a region may hold (AWS: 10 per account and region).
pub const MAX_CUSTOM_KEY_STORES: usize = 10;

/// An HSM the operator registered: the PKCS#11 module and token a `CloudHsmClusterId` names,
/// and the trust anchor certificate a custom key store on it must be created with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HsmCluster {
    /// `cluster-` and 11 to 16 letters or digits 2–7, as AWS's cluster ids.
    pub cluster_id: String,
    /// The PKCS#11 module (shared library) on every node.
    pub module: PathBuf,
    /// The token's label.
    pub token_label: String,
    /// The cluster's trust anchor certificate (PEM), which CreateCustomKeyStore must present.
    pub trust_anchor_certificate: String,
}

/// CreateCustomKeyStore.
#[derive(Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateCustomKeyStoreRequest {
    /// A name unique in the region.
    pub custom_key_store_name: String,
    /// The registered HSM.
    #[serde(default)]
    pub cloud_hsm_cluster_id: Option<String>,
    /// The HSM's trust anchor certificate (PEM).
    #[serde(default)]
    pub trust_anchor_certificate: Option<String>,
    /// The token user's PIN (AWS: the `kmsuser` password).
    #[serde(default)]
    pub key_store_password: Option<String>,
    /// `AWS_CLOUDHSM` (the default) or `EXTERNAL_KEY_STORE`.
    #[serde(default)]
    pub custom_key_store_type: Option<String>,
    /// An external store's XKS proxy: `https://host` (AWS's form), `https://host:port`, or
    /// `http://` on loopback.
    #[serde(default)]
    pub xks_proxy_uri_endpoint: Option<String>,
    /// The proxy's path prefix, ending in `/kms/xks/v1`.
    #[serde(default)]
    pub xks_proxy_uri_path: Option<String>,
    /// `PUBLIC_ENDPOINT` (`VPC_ENDPOINT_SERVICE` needs AWS's VPC and is refused).
    #[serde(default)]
    pub xks_proxy_connectivity: Option<String>,
    /// The credential requests to the proxy are signed with.
    #[serde(default)]
    pub xks_proxy_authentication_credential: Option<XksCredential>,
}

/// `XksProxyAuthenticationCredential`.
#[derive(Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct XksCredential {
    /// 20–30 characters of `A-Z2-7`.
    pub access_key_id: String,
    /// 43–64 characters of base64.
    pub raw_secret_access_key: String,
}

impl std::fmt::Debug for XksCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XksCredential")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for CreateCustomKeyStoreRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateCustomKeyStoreRequest")
            .field("custom_key_store_name", &self.custom_key_store_name)
            .field("cloud_hsm_cluster_id", &self.cloud_hsm_cluster_id)
            .field("custom_key_store_type", &self.custom_key_store_type)
            .finish_non_exhaustive()
    }
}

/// CreateCustomKeyStore's response.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateCustomKeyStoreResponse {
    /// The new store's id.
    pub custom_key_store_id: String,
}

/// A request naming one store (DeleteCustomKeyStore, ConnectCustomKeyStore,
/// DisconnectCustomKeyStore).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CustomKeyStoreRequest {
    /// The store's id.
    pub custom_key_store_id: String,
}

/// UpdateCustomKeyStore.
#[derive(Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateCustomKeyStoreRequest {
    /// The store's id.
    pub custom_key_store_id: String,
    /// A new name.
    #[serde(default)]
    pub new_custom_key_store_name: Option<String>,
    /// A new PIN.
    #[serde(default)]
    pub key_store_password: Option<String>,
    /// A related HSM (one with the same trust anchor).
    #[serde(default)]
    pub cloud_hsm_cluster_id: Option<String>,
    /// A new XKS proxy endpoint (the store must be disconnected).
    #[serde(default)]
    pub xks_proxy_uri_endpoint: Option<String>,
    /// A new XKS proxy path (the store must be disconnected).
    #[serde(default)]
    pub xks_proxy_uri_path: Option<String>,
    /// `PUBLIC_ENDPOINT`.
    #[serde(default)]
    pub xks_proxy_connectivity: Option<String>,
    /// A new credential (allowed while connected, as AWS's rotation needs).
    #[serde(default)]
    pub xks_proxy_authentication_credential: Option<XksCredential>,
}

impl std::fmt::Debug for UpdateCustomKeyStoreRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpdateCustomKeyStoreRequest")
            .field("custom_key_store_id", &self.custom_key_store_id)
            .field("new_custom_key_store_name", &self.new_custom_key_store_name)
            .field("cloud_hsm_cluster_id", &self.cloud_hsm_cluster_id)
            .finish_non_exhaustive()
    }
}

/// DescribeCustomKeyStores.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DescribeCustomKeyStoresRequest {
    /// Only this store.
    pub custom_key_store_id: Option<String>,
    /// Only the store of this name.
    pub custom_key_store_name: Option<String>,
    /// 1–1000, default 100.
    pub limit: Option<u32>,
    /// The `NextMarker` of a previous page.
    pub marker: Option<String>,
}

/// One store, as DescribeCustomKeyStores shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CustomKeyStoresListEntry {
    /// Its id.
    pub custom_key_store_id: String,
    /// Its name.
    pub custom_key_store_name: String,
    /// Its HSM.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloud_hsm_cluster_id: Option<String>,
    /// The trust anchor it was created with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trust_anchor_certificate: Option<String>,
    /// `CONNECTED`, `DISCONNECTED`, `FAILED`, …
    pub connection_state: String,
    /// Why the last connection failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_error_code: Option<String>,
    /// Creation time, seconds since the epoch.
    pub creation_date: u64,
    /// `AWS_CLOUDHSM` or `EXTERNAL_KEY_STORE`.
    pub custom_key_store_type: String,
    /// An external store's proxy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub xks_proxy_configuration: Option<XksProxyConfiguration>,
}

/// `XksProxyConfigurationType`: where an external store's proxy is (never its secret).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct XksProxyConfiguration {
    /// `PUBLIC_ENDPOINT`.
    pub connectivity: String,
    /// The credential's access key id.
    pub access_key_id: String,
    /// The endpoint.
    pub uri_endpoint: String,
    /// The path prefix.
    pub uri_path: String,
}

/// DescribeCustomKeyStores' response.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeCustomKeyStoresResponse {
    /// This page of stores.
    pub custom_key_stores: Vec<CustomKeyStoresListEntry>,
    /// Pass as `Marker` to get the next page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
    /// Whether more pages follow.
    pub truncated: bool,
}

fn fault(fault: KeyStoreFault, message: String) -> KmsError {
    KmsError::KeyStore(fault, message)
}

/// AWS's cluster id pattern: `cluster-[2-7a-zA-Z]{11,16}`.
fn validate_cluster_id(id: &str) -> KmsResult<()> {
    let ok = id.strip_prefix("cluster-").is_some_and(|rest| {
        (11..=16).contains(&rest.len())
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphabetic() || (b'2'..=b'7').contains(&b))
    });
    if ok {
        Ok(())
    } else {
        Err(KmsError::invalid(
            "CloudHsmClusterId",
            format!("CloudHsmClusterId '{id}' must be cluster- and 11 to 16 letters or digits 2-7"),
        ))
    }
}

fn validate_store_name(name: &str) -> KmsResult<()> {
    if (1..=256).contains(&name.len()) {
        Ok(())
    } else {
        Err(KmsError::invalid(
            "CustomKeyStoreName",
            "CustomKeyStoreName must be 1 to 256 characters".into(),
        ))
    }
}

fn validate_password(password: &str) -> KmsResult<()> {
    if (7..=32).contains(&password.len()) {
        Ok(())
    } else {
        Err(KmsError::invalid(
            "KeyStorePassword",
            "KeyStorePassword must be 7 to 32 characters".into(),
        ))
    }
}

/// A certificate compared as its base64 body, whatever its line breaks.
fn certificate_body(pem: &str) -> Option<String> {
    let body = pem
        .trim()
        .strip_prefix("-----BEGIN CERTIFICATE-----")?
        .trim_end()
        .strip_suffix("-----END CERTIFICATE-----")?;
    let body: String = body.split_whitespace().collect();
    (!body.is_empty()).then_some(body)
}

/// The label of a key's material (one backing version) inside its token.
pub(crate) fn token_key_label(key_id: &KeyId, version: u32) -> String {
    format!("kms-key/{key_id}/{version}")
}

impl Service {
    /// Registers (or replaces) an HSM that custom key stores may name by `cluster_id`: the
    /// operator's step before CreateCustomKeyStore (AWS: creating the CloudHSM cluster). Only
    /// the account's root may.
    pub fn register_hsm_cluster(&self, caller: &Caller, cluster: HsmCluster) -> KmsResult<()> {
        self.audited(caller, "RegisterHsmCluster", |_| {
            if caller.principal != kms_core::arn::root_arn(self.shared.vault.account()) {
                return Err(KmsError::AccessDenied(format!(
                    "Only the account's root ({}) registers HSMs",
                    kms_core::arn::root_arn(self.shared.vault.account())
                )));
            }
            validate_cluster_id(&cluster.cluster_id)?;
            if cluster.token_label.is_empty() || cluster.token_label.len() > 32 {
                return Err(KmsError::invalid(
                    "TokenLabel",
                    "A PKCS#11 token label is 1 to 32 characters".into(),
                ));
            }
            if certificate_body(&cluster.trust_anchor_certificate).is_none() {
                return Err(KmsError::invalid(
                    "TrustAnchorCertificate",
                    "The trust anchor must be a PEM certificate".into(),
                ));
            }
            let json = serde_json::to_string(&cluster)
                .map_err(|e| KmsError::Internal(format!("cannot encode an HSM: {e}")))?;
            self.shared.vault.store().set_meta(
                &format!("{CLUSTER_META_PREFIX}{}", cluster.cluster_id),
                &json,
            )
        })
    }

    /// The registered HSM `cluster_id`.
    pub fn hsm_cluster(&self, cluster_id: &str) -> KmsResult<Option<HsmCluster>> {
        self.shared
            .vault
            .store()
            .meta(&format!("{CLUSTER_META_PREFIX}{cluster_id}"))?
            .map(|json| {
                serde_json::from_str(&json).map_err(|e| {
                    KmsError::Internal(format!("The registration of {cluster_id} is corrupt: {e}"))
                })
            })
            .transpose()
    }

    fn registered_cluster(&self, cluster_id: &str) -> KmsResult<HsmCluster> {
        validate_cluster_id(cluster_id)?;
        self.hsm_cluster(cluster_id)?.ok_or_else(|| {
            fault(
                KeyStoreFault::ClusterNotFound,
                format!("No HSM is registered as {cluster_id} (`kms hsm register` registers one)"),
            )
        })
    }

    /// The store `id` of this region.
    fn key_store(&self, id: &str) -> KmsResult<CustomKeyStoreRecord> {
        self.shared
            .vault
            .store()
            .custom_key_store(&self.region, id)?
            .ok_or_else(|| kms_vault::custom_key_store_not_found(id))
    }

    /// CreateCustomKeyStore: an `AWS_CLOUDHSM` store on a registered HSM, `DISCONNECTED`.
    pub fn create_custom_key_store(
        &self,
        caller: &Caller,
        req: CreateCustomKeyStoreRequest,
    ) -> KmsResult<CreateCustomKeyStoreResponse> {
        self.audited(caller, "CreateCustomKeyStore", |_| {
            self.authorize(caller, "kms:CreateCustomKeyStore", Resource::Account)?;
            validate_store_name(&req.custom_key_store_name)?;
            match req.custom_key_store_type.as_deref() {
                None | Some("AWS_CLOUDHSM") => {}
                Some("EXTERNAL_KEY_STORE") => return self.create_external_key_store(caller, &req),
                Some(other) => {
                    return Err(KmsError::invalid(
                        "CustomKeyStoreType",
                        format!(
                            "CustomKeyStoreType '{other}' is not AWS_CLOUDHSM or EXTERNAL_KEY_STORE"
                        ),
                    ));
                }
            }
            let cluster_id = req
                .cloud_hsm_cluster_id
                .as_deref()
                .ok_or_else(|| KmsError::required("CloudHsmClusterId"))?;
            let anchor = req
                .trust_anchor_certificate
                .as_deref()
                .ok_or_else(|| KmsError::required("TrustAnchorCertificate"))?;
            let password = Zeroizing::new(
                req.key_store_password
                    .clone()
                    .ok_or_else(|| KmsError::required("KeyStorePassword"))?,
            );
            validate_password(&password)?;
            let cluster = self.registered_cluster(cluster_id)?;
            if certificate_body(anchor) != certificate_body(&cluster.trust_anchor_certificate) {
                return Err(fault(
                    KeyStoreFault::IncorrectTrustAnchor,
                    format!("The trust anchor certificate is not the one of {cluster_id}"),
                ));
            }
            let stores = self.shared.vault.store().custom_key_stores(&self.region)?;
            require_free_name(&stores, &req.custom_key_store_name)?;
            if let Some(user) = stores
                .iter()
                .find(|s| s.cloud_hsm_cluster_id.as_deref() == Some(cluster_id))
            {
                return Err(fault(
                    KeyStoreFault::ClusterInUse,
                    format!("{cluster_id} is the HSM of custom key store {}", user.id),
                ));
            }
            if stores.len() >= MAX_CUSTOM_KEY_STORES {
                return Err(KmsError::LimitExceeded(format!(
                    "A region holds at most {MAX_CUSTOM_KEY_STORES} custom key stores"
                )));
            }
            let id = new_store_id()?;
            let record = CustomKeyStoreRecord {
                sealed_secret: Some(
                    self.shared
                        .vault
                        .seal_key_store_secret(&id, password.as_bytes())?,
                ),
                id: id.clone(),
                region: self.region.clone(),
                account: self.shared.vault.account().to_string(),
                name: req.custom_key_store_name.clone(),
                store_type: CustomKeyStoreType::AwsCloudHsm,
                cloud_hsm_cluster_id: Some(cluster_id.to_string()),
                trust_anchor_certificate: Some(anchor.to_string()),
                connection_state: ConnectionState::Disconnected,
                connection_error_code: None,
                xks: None,
                created_at: self.now(),
                revision: 0,
            };
            self.shared.vault.store().insert_custom_key_store(&record)?;
            Ok(CreateCustomKeyStoreResponse {
                custom_key_store_id: id,
            })
        })
    }

    /// DescribeCustomKeyStores: the region's stores, or the one named by id or name.
    pub fn describe_custom_key_stores(
        &self,
        caller: &Caller,
        req: DescribeCustomKeyStoresRequest,
    ) -> KmsResult<DescribeCustomKeyStoresResponse> {
        self.audited(caller, "DescribeCustomKeyStores", |_| {
            self.authorize(caller, "kms:DescribeCustomKeyStores", Resource::Account)?;
            let limit = page_limit(req.limit, 100, 1000)?;
            let offset = decode_offset_marker(req.marker.as_deref())?;
            let mut stores = self.shared.vault.store().custom_key_stores(&self.region)?;
            if let Some(id) = &req.custom_key_store_id {
                stores.retain(|s| &s.id == id);
                if stores.is_empty() {
                    return Err(kms_vault::custom_key_store_not_found(id));
                }
            }
            if let Some(name) = &req.custom_key_store_name {
                stores.retain(|s| &s.name == name);
                if stores.is_empty() {
                    return Err(fault(
                        KeyStoreFault::NotFound,
                        format!("No custom key store is named '{name}'"),
                    ));
                }
            }
            let entries: Vec<_> = stores.iter().skip(offset).map(list_entry).collect();
            let (custom_key_stores, next_marker) = paginate_by_offset(entries, offset, limit);
            Ok(DescribeCustomKeyStoresResponse {
                truncated: next_marker.is_some(),
                custom_key_stores,
                next_marker,
            })
        })
    }

    /// UpdateCustomKeyStore: a new name, PIN or related HSM, while `DISCONNECTED`.
    pub fn update_custom_key_store(
        &self,
        caller: &Caller,
        req: UpdateCustomKeyStoreRequest,
    ) -> KmsResult<()> {
        self.change_key_store(
            caller,
            "UpdateCustomKeyStore",
            &req.custom_key_store_id,
            |store| {
                if let Some(name) = &req.new_custom_key_store_name {
                    validate_store_name(name)?;
                }
                if let Some(password) = &req.key_store_password {
                    validate_password(password)?;
                }
                if (req.key_store_password.is_some() || req.cloud_hsm_cluster_id.is_some())
                    && store.connection_state != ConnectionState::Disconnected
                {
                    return Err(wrong_state(store, "disconnect it to change its password or HSM"));
                }
                if let Some(name) = &req.new_custom_key_store_name {
                    store.name = name.clone();
                }
                if let Some(password) = &req.key_store_password {
                    store.sealed_secret = Some(
                        self.shared
                            .vault
                            .seal_key_store_secret(&store.id, password.as_bytes())?,
                    );
                }
                let proxy_moved = req.xks_proxy_uri_endpoint.is_some()
                    || req.xks_proxy_uri_path.is_some()
                    || req.xks_proxy_connectivity.is_some();
                if proxy_moved || req.xks_proxy_authentication_credential.is_some() {
                    let Some(mut settings) = store.xks.clone() else {
                        return Err(KmsError::invalid(
                            "XksProxyUriEndpoint",
                            format!("Custom key store {} is not an external key store", store.id),
                        ));
                    };
                    if proxy_moved && store.connection_state != ConnectionState::Disconnected {
                        return Err(wrong_state(store, "disconnect it to move its proxy"));
                    }
                    if let Some(endpoint) = &req.xks_proxy_uri_endpoint {
                        settings.uri_endpoint = validate_xks_endpoint(endpoint)?;
                    }
                    if let Some(path) = &req.xks_proxy_uri_path {
                        settings.uri_path = validate_xks_path(path)?;
                    }
                    if let Some(connectivity) = &req.xks_proxy_connectivity {
                        settings.connectivity = validate_xks_connectivity(connectivity)?;
                    }
                    if let Some(credential) = &req.xks_proxy_authentication_credential {
                        validate_xks_credential(credential)?;
                        settings.access_key_id = credential.access_key_id.clone();
                        store.sealed_secret = Some(self.shared.vault.seal_key_store_secret(
                            &store.id,
                            credential.raw_secret_access_key.as_bytes(),
                        )?);
                    }
                    store.xks = Some(settings);
                    self.xks_health(caller, "UpdateCustomKeyStore", store)
                        .map_err(|f| Self::xks_store_error(&f))?;
                }
                if let Some(cluster_id) = &req.cloud_hsm_cluster_id {
                    let cluster = self.registered_cluster(cluster_id)?;
                    let related = store.trust_anchor_certificate.as_deref().and_then(certificate_body)
                        == certificate_body(&cluster.trust_anchor_certificate);
                    if !related {
                        return Err(fault(
                            KeyStoreFault::ClusterNotRelated,
                            format!(
                                "{cluster_id} does not share the trust anchor of custom key store {}",
                                store.id
                            ),
                        ));
                    }
                    store.cloud_hsm_cluster_id = Some(cluster_id.clone());
                }
                Ok(true)
            },
        )
    }

    /// DeleteCustomKeyStore: a `DISCONNECTED` store that holds no keys.
    pub fn delete_custom_key_store(
        &self,
        caller: &Caller,
        req: CustomKeyStoreRequest,
    ) -> KmsResult<()> {
        self.audited(caller, "DeleteCustomKeyStore", |_| {
            self.authorize(caller, "kms:DeleteCustomKeyStore", Resource::Account)?;
            loop {
                let store = self.key_store(&req.custom_key_store_id)?;
                if store.connection_state != ConnectionState::Disconnected {
                    return Err(wrong_state(&store, "disconnect it first"));
                }
                if self.keys_in_store(&store.id)? > 0 {
                    return Err(fault(
                        KeyStoreFault::HasKeys,
                        format!(
                            "Custom key store {} holds KMS keys; delete them first (keys pending \
                             deletion count until they are deleted)",
                            store.id
                        ),
                    ));
                }
                if self.shared.vault.store().delete_custom_key_store(&store)? == Swap::Done {
                    return Ok(());
                }
            }
        })
    }

    /// How many keys of this region are in the store `id`.
    fn keys_in_store(&self, id: &str) -> KmsResult<usize> {
        self.keys_matching(|k| k.custom_key_store_id.as_deref() == Some(id))
    }

    /// How many keys of this region `wanted` picks.
    pub(crate) fn keys_matching(&self, wanted: impl Fn(&KeyRecord) -> bool) -> KmsResult<usize> {
        let mut count = 0;
        let mut after = None;
        loop {
            let page = self
                .shared
                .vault
                .store()
                .keys_after(&self.region, after.as_ref(), 1000)?;
            count += page.iter().filter(|k| wanted(k)).count();
            match page.last() {
                Some(last) if page.len() == 1000 => after = Some(last.key_id),
                _ => return Ok(count),
            }
        }
    }

    /// ConnectCustomKeyStore: logs in to the store's token, or asks the XKS proxy's
    /// GetHealthStatus. The call succeeds whatever the HSM or proxy answers, as AWS's does; a
    /// failure leaves the store `FAILED` with its `ConnectionErrorCode`, and a `FAILED` store
    /// must be disconnected before it is connected again.
    pub fn connect_custom_key_store(
        &self,
        caller: &Caller,
        req: CustomKeyStoreRequest,
    ) -> KmsResult<()> {
        self.change_key_store(
            caller,
            "ConnectCustomKeyStore",
            &req.custom_key_store_id,
            |store| {
                match store.connection_state {
                    ConnectionState::Connected => return Ok(false),
                    ConnectionState::Failed | ConnectionState::Disconnecting => {
                        return Err(wrong_state(store, "disconnect it before connecting it"));
                    }
                    ConnectionState::Disconnected | ConnectionState::Connecting => {}
                }
                let failure = if store.store_type == CustomKeyStoreType::ExternalKeyStore {
                    self.xks_health(caller, "ConnectCustomKeyStore", store)
                        .err()
                        .map(|f| f.connection_error_code())
                } else {
                    match self.open_token(store) {
                        Ok(token) => {
                            self.connected_tokens().insert(store.id.clone(), token);
                            None
                        }
                        Err(failure) => Some(failure.connection_error_code()),
                    }
                };
                store.connection_state = match failure {
                    None => ConnectionState::Connected,
                    Some(_) => ConnectionState::Failed,
                };
                store.connection_error_code = failure.map(str::to_string);
                Ok(true)
            },
        )
    }

    /// DisconnectCustomKeyStore: its keys cannot be used until it is connected again.
    pub fn disconnect_custom_key_store(
        &self,
        caller: &Caller,
        req: CustomKeyStoreRequest,
    ) -> KmsResult<()> {
        self.change_key_store(
            caller,
            "DisconnectCustomKeyStore",
            &req.custom_key_store_id,
            |store| {
                self.connected_tokens().remove(&store.id);
                if store.connection_state == ConnectionState::Disconnected {
                    return Ok(false);
                }
                store.connection_state = ConnectionState::Disconnected;
                store.connection_error_code = None;
                Ok(true)
            },
        )
    }

    /// One change of a store's record: audited as `operation` and authorized by its IAM action,
    /// then `change` applied to the store read afresh until the compare-and-swap write lands
    /// (`change` answers whether there is anything to write).
    fn change_key_store(
        &self,
        caller: &Caller,
        operation: &'static str,
        id: &str,
        mut change: impl FnMut(&mut CustomKeyStoreRecord) -> KmsResult<bool>,
    ) -> KmsResult<()> {
        self.audited(caller, operation, |_| {
            self.authorize(caller, &format!("kms:{operation}"), Resource::Account)?;
            loop {
                let mut store = self.key_store(id)?;
                if !change(&mut store)? {
                    return Ok(());
                }
                if self.shared.vault.store().update_custom_key_store(&store)? == Swap::Done {
                    return Ok(());
                }
            }
        })
    }

    /// Logs in to the token of `store`'s HSM with its PIN.
    fn open_token(&self, store: &CustomKeyStoreRecord) -> Result<Arc<HsmToken>, HsmFailure> {
        let cluster_id = store.cloud_hsm_cluster_id.as_deref().unwrap_or_default();
        let cluster = match self.hsm_cluster(cluster_id) {
            Ok(Some(cluster)) => cluster,
            Ok(None) => return Err(HsmFailure::TokenNotFound(cluster_id.to_string())),
            Err(e) => return Err(HsmFailure::Token(e.to_string())),
        };
        let pin = match self.shared.vault.open_key_store_secret(store) {
            Ok(Some(pin)) => pin,
            Ok(None) => return Err(HsmFailure::InvalidCredentials),
            Err(e) => return Err(HsmFailure::Token(e.to_string())),
        };
        let pin = std::str::from_utf8(&pin).map_err(|_| HsmFailure::InvalidCredentials)?;
        kms_core::blocking::section(|| {
            HsmToken::connect(&cluster.module, &cluster.token_label, pin)
        })
    }

    fn connected_tokens(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Arc<HsmToken>>> {
        self.shared
            .hsm_tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// The token holding the material of `record`, a key in a custom key store: the store must
    /// be `CONNECTED` (`KMSInvalidStateException` otherwise, as AWS answers for a disconnected
    /// store's keys). A node that has no session yet (another node connected the store) opens
    /// one.
    pub(crate) fn token_of(&self, record: &KeyRecord) -> KmsResult<Arc<HsmToken>> {
        let id = record.custom_key_store_id.as_deref().unwrap_or_default();
        let store = match self.connected_store_of(record) {
            Ok(store) => store,
            Err(e) => {
                self.connected_tokens().remove(id);
                return Err(e);
            }
        };
        if let Some(token) = self.connected_tokens().get(id) {
            return Ok(token.clone());
        }
        let token = self.open_token(&store).map_err(|failure| {
            KmsError::InvalidState(format!(
                "{} is in custom key store {id}, whose HSM this node cannot reach: {failure}",
                self.key_arn(&record.key_id)
            ))
        })?;
        self.connected_tokens()
            .insert(id.to_string(), token.clone());
        Ok(token)
    }

    /// The store a new key of `spec` goes into: `CONNECTED`, and only for symmetric
    /// single-Region keys (what AWS allows in a CloudHSM key store).
    pub(crate) fn store_for_new_key(
        &self,
        id: &str,
        store_type: CustomKeyStoreType,
        spec: KeySpec,
        multi_region: bool,
    ) -> KmsResult<CustomKeyStoreRecord> {
        if spec != KeySpec::SymmetricDefault || multi_region {
            return Err(KmsError::UnsupportedOperation(
                "A custom key store holds single-Region SYMMETRIC_DEFAULT keys only".into(),
            ));
        }
        let store = self.key_store(id)?;
        if store.store_type != store_type {
            return Err(KmsError::UnsupportedOperation(format!(
                "Custom key store {id} is of type {}: its keys have Origin {}",
                store.store_type.as_aws_str(),
                match store.store_type {
                    CustomKeyStoreType::AwsCloudHsm => "AWS_CLOUDHSM",
                    CustomKeyStoreType::ExternalKeyStore => "EXTERNAL_KEY_STORE",
                }
            )));
        }
        if store.connection_state != ConnectionState::Connected {
            return Err(fault(
                KeyStoreFault::InvalidState,
                format!(
                    "Custom key store {id} is {}; connect it to create keys in it",
                    store.connection_state.as_aws_str()
                ),
            ));
        }
        Ok(store)
    }

    /// Destroys the material of a deleted key in its HSM, when its store is connected; as in
    /// AWS, a disconnected store's HSM keeps the material (the operator may delete it there).
    pub(crate) fn erase_from_hsm(&self, record: &KeyRecord) {
        if !record.in_hsm() {
            return;
        }
        if let Ok(token) = self.token_of(record) {
            for version in 1..=record.current_version {
                let label = token_key_label(&record.key_id, version);
                let _ = kms_core::blocking::section(|| token.destroy_key(&label));
            }
        }
    }

    /// The custom key store of `record`, which must be `CONNECTED`: its keys are refused with
    /// `KMSInvalidStateException` otherwise, as AWS refuses them.
    pub(crate) fn connected_store_of(&self, record: &KeyRecord) -> KmsResult<CustomKeyStoreRecord> {
        let id = record.custom_key_store_id.as_deref().unwrap_or_default();
        let store = self.key_store(id)?;
        if store.connection_state != ConnectionState::Connected {
            return Err(KmsError::InvalidState(format!(
                "{} is in custom key store {id}, which is {}",
                self.key_arn(&record.key_id),
                store.connection_state.as_aws_str()
            )));
        }
        Ok(store)
    }

    /// Whether `record`'s custom key store (if it is in one) is connected: a key in a store
    /// that is not shows as `Unavailable`.
    pub(crate) fn store_connected(&self, record: &KeyRecord) -> KmsResult<bool> {
        let Some(id) = &record.custom_key_store_id else {
            return Ok(true);
        };
        Ok(self
            .shared
            .vault
            .store()
            .custom_key_store(&record.region, id)?
            .is_some_and(|s| s.connection_state == ConnectionState::Connected))
    }

    /// The cluster id of `record`'s store, for DescribeKey.
    pub(crate) fn cluster_of(&self, record: &KeyRecord) -> KmsResult<Option<String>> {
        let Some(id) = &record.custom_key_store_id else {
            return Ok(None);
        };
        Ok(self
            .shared
            .vault
            .store()
            .custom_key_store(&record.region, id)?
            .and_then(|s| s.cloud_hsm_cluster_id))
    }
}

fn list_entry(store: &CustomKeyStoreRecord) -> CustomKeyStoresListEntry {
    CustomKeyStoresListEntry {
        custom_key_store_id: store.id.clone(),
        custom_key_store_name: store.name.clone(),
        cloud_hsm_cluster_id: store.cloud_hsm_cluster_id.clone(),
        trust_anchor_certificate: store.trust_anchor_certificate.clone(),
        connection_state: store.connection_state.as_aws_str().to_string(),
        connection_error_code: store.connection_error_code.clone(),
        creation_date: store.created_at,
        custom_key_store_type: store.store_type.as_aws_str().to_string(),
        xks_proxy_configuration: store.xks.as_ref().map(|x| XksProxyConfiguration {
            connectivity: x.connectivity.clone(),
            access_key_id: x.access_key_id.clone(),
            uri_endpoint: x.uri_endpoint.clone(),
            uri_path: x.uri_path.clone(),
        }),
    }
}

/// An XKS proxy endpoint: AWS's `https://host`, also with a port, or `http://` to a loopback
/// host (a proxy on this machine, as `kms serve` allows plain HTTP on loopback).
fn validate_xks_endpoint(endpoint: &str) -> KmsResult<String> {
    let bad = || {
        KmsError::invalid(
            "XksProxyUriEndpoint",
            format!(
                "XksProxyUriEndpoint '{endpoint}' must be https://HOST[:PORT] (or http:// to \
                 localhost or 127.0.0.1)"
            ),
        )
    };
    let (scheme, rest) = endpoint.split_once("://").ok_or_else(bad)?;
    let (host, port) = match rest.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (rest, None),
    };
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0));
    let loopback = host == "localhost" || host == "127.0.0.1";
    let scheme_ok = scheme == "https" || (scheme == "http" && loopback);
    if host_ok && port_ok && scheme_ok && (10..=128).contains(&endpoint.len()) {
        Ok(endpoint.to_string())
    } else {
        Err(bad())
    }
}

/// AWS's `XksProxyUriPath`: `[/prefix]/kms/xks/v<1-2 digits>`.
fn validate_xks_path(path: &str) -> KmsResult<String> {
    let version_ok = path
        .rsplit_once("/kms/xks/v")
        .is_some_and(|(prefix, version)| {
            (1..=2).contains(&version.len())
                && version.bytes().all(|b| b.is_ascii_digit())
                && (prefix.is_empty()
                    || (prefix.starts_with('/')
                        && prefix.len() > 1
                        && prefix
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"/_-".contains(&b))))
        });
    if version_ok && (10..=128).contains(&path.len()) {
        Ok(path.to_string())
    } else {
        Err(KmsError::invalid(
            "XksProxyUriPath",
            format!("XksProxyUriPath '{path}' must be [/PREFIX]/kms/xks/v1"),
        ))
    }
}

fn validate_xks_connectivity(connectivity: &str) -> KmsResult<String> {
    match connectivity {
        "PUBLIC_ENDPOINT" => Ok(connectivity.to_string()),
        "VPC_ENDPOINT_SERVICE" => Err(KmsError::UnsupportedOperation(
            "VPC_ENDPOINT_SERVICE connectivity needs an AWS VPC; use PUBLIC_ENDPOINT".into(),
        )),
        other => Err(KmsError::invalid(
            "XksProxyConnectivity",
            format!(
                "XksProxyConnectivity '{other}' is not PUBLIC_ENDPOINT or VPC_ENDPOINT_SERVICE"
            ),
        )),
    }
}

/// AWS's rules: an access key id of 20–30 base32 letters, a secret of 43–64 base64 characters.
fn validate_xks_credential(credential: &XksCredential) -> KmsResult<()> {
    let id = &credential.access_key_id;
    let secret = &credential.raw_secret_access_key;
    if !(20..=30).contains(&id.len())
        || !id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
    {
        return Err(KmsError::invalid(
            "XksProxyAuthenticationCredential",
            "AccessKeyId must be 20 to 30 characters of A-Z and 2-7".into(),
        ));
    }
    if !(43..=64).contains(&secret.len())
        || !secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/+=".contains(&b))
    {
        return Err(KmsError::invalid(
            "XksProxyAuthenticationCredential",
            "RawSecretAccessKey must be 43 to 64 base64 characters".into(),
        ));
    }
    Ok(())
}

impl Service {
    /// CreateCustomKeyStore of type `EXTERNAL_KEY_STORE`: checked against the proxy's
    /// GetHealthStatus before it is stored, as AWS does for a public endpoint.
    fn create_external_key_store(
        &self,
        caller: &Caller,
        req: &CreateCustomKeyStoreRequest,
    ) -> KmsResult<CreateCustomKeyStoreResponse> {
        let endpoint = validate_xks_endpoint(
            req.xks_proxy_uri_endpoint
                .as_deref()
                .ok_or_else(|| KmsError::required("XksProxyUriEndpoint"))?,
        )?;
        let path = validate_xks_path(
            req.xks_proxy_uri_path
                .as_deref()
                .ok_or_else(|| KmsError::required("XksProxyUriPath"))?,
        )?;
        let connectivity = validate_xks_connectivity(
            req.xks_proxy_connectivity
                .as_deref()
                .ok_or_else(|| KmsError::required("XksProxyConnectivity"))?,
        )?;
        let credential = req
            .xks_proxy_authentication_credential
            .as_ref()
            .ok_or_else(|| KmsError::required("XksProxyAuthenticationCredential"))?;
        validate_xks_credential(credential)?;
        let stores = self.shared.vault.store().custom_key_stores(&self.region)?;
        require_free_name(&stores, &req.custom_key_store_name)?;
        if let Some(user) = stores.iter().find(|s| {
            s.xks
                .as_ref()
                .is_some_and(|x| x.uri_endpoint == endpoint && x.uri_path == path)
        }) {
            return Err(fault(
                KeyStoreFault::XksProxyUriInUse,
                format!(
                    "{endpoint}{path} is the proxy of custom key store {}",
                    user.id
                ),
            ));
        }
        if stores.len() >= MAX_CUSTOM_KEY_STORES {
            return Err(KmsError::LimitExceeded(format!(
                "A region holds at most {MAX_CUSTOM_KEY_STORES} custom key stores"
            )));
        }
        let id = new_store_id()?;
        let record = CustomKeyStoreRecord {
            sealed_secret: Some(
                self.shared
                    .vault
                    .seal_key_store_secret(&id, credential.raw_secret_access_key.as_bytes())?,
            ),
            id: id.clone(),
            region: self.region.clone(),
            account: self.shared.vault.account().to_string(),
            name: req.custom_key_store_name.clone(),
            store_type: CustomKeyStoreType::ExternalKeyStore,
            cloud_hsm_cluster_id: None,
            trust_anchor_certificate: None,
            connection_state: ConnectionState::Disconnected,
            connection_error_code: None,
            xks: Some(kms_vault::XksProxySettings {
                uri_endpoint: endpoint,
                uri_path: path,
                connectivity,
                access_key_id: credential.access_key_id.clone(),
            }),
            created_at: self.now(),
            revision: 0,
        };
        self.xks_health(caller, "CreateCustomKeyStore", &record)
            .map_err(|f| Self::xks_store_error(&f))?;
        self.shared.vault.store().insert_custom_key_store(&record)?;
        Ok(CreateCustomKeyStoreResponse {
            custom_key_store_id: id,
        })
    }
}

/// `CustomKeyStoreInvalidStateException` for `store`, in its state, saying what to do.
fn wrong_state(store: &CustomKeyStoreRecord, what_to_do: &str) -> KmsError {
    fault(
        KeyStoreFault::InvalidState,
        format!(
            "Custom key store {} is {}; {what_to_do}",
            store.id,
            store.connection_state.as_aws_str()
        ),
    )
}

/// `CustomKeyStoreNameInUseException` if a store of the region has `name`.
fn require_free_name(stores: &[CustomKeyStoreRecord], name: &str) -> KmsResult<()> {
    if stores.iter().any(|s| s.name == name) {
        return Err(fault(
            KeyStoreFault::NameInUse,
            format!("A custom key store named '{name}' already exists"),
        ));
    }
    Ok(())
}

/// A new store id: `cks-` and 17 hex digits, as AWS's.
fn new_store_id() -> KmsResult<String> {
    let mut id_bytes = [0u8; 9];
    kms_crypto::fill_random(&mut id_bytes)?;
    Ok(format!("cks-{}", &hex::encode(id_bytes)[..17]))
}
