//! Imported key material through the service façade: keys of EXTERNAL origin wait for their
//! material, the import token is bound to its key and lives 24 hours, only the key's own
//! material comes back after a deletion (crypto erasure) or an expiry, and imported symmetric
//! keys rotate onto NEW_KEY_MATERIAL.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kms_core::types::{ImportType, KeySpec, WrappingAlgorithmSpec, WrappingKeySpec};
use kms_crypto::asymmetric::KeyMaterial;
use kms_crypto::key_import::wrap_for_import;
use kms_service::{
    Caller, DeleteImportedKeyMaterialRequest, GetParametersForImportRequest,
    GetParametersForImportResponse, ImportKeyMaterialRequest, KeyMetadata, KeyRequest, KmsError,
    ManualClock, Service,
};
use kms_vault::{KeyStore, MemoryStore, RootKey, Vault};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

const START: u64 = 1_780_000_000;
const HOUR: u64 = 3600;

fn request<T: DeserializeOwned>(body: Value) -> T {
    serde_json::from_value(body).unwrap()
}

fn aws_type<T: std::fmt::Debug>(result: Result<T, KmsError>) -> &'static str {
    result.unwrap_err().aws_type()
}

struct World {
    clock: Arc<ManualClock>,
    service: Service,
    store: MemoryStore,
    admin: Caller,
}

fn world() -> World {
    let clock = Arc::new(ManualClock::new(START));
    let store = MemoryStore::new();
    let vault = Vault::create(
        Box::new(store.clone()),
        RootKey::generate().unwrap(),
        "111122223333",
        "us-east-1",
    )
    .unwrap();
    let service = Service::new(vault, clock.clone()).unwrap();
    let admin = Caller::account_root(service.account());
    World {
        clock,
        service,
        store,
        admin,
    }
}

impl World {
    fn create_external(&self, extra: Value) -> KeyMetadata {
        let mut body = json!({"Origin": "EXTERNAL"});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        self.service
            .create_key(&self.admin, request(body))
            .unwrap()
            .key_metadata
    }

    fn describe(&self, key: &str) -> KeyMetadata {
        self.service
            .describe_key(&self.admin, KeyRequest::new(key))
            .unwrap()
            .key_metadata
    }

    fn parameters(
        &self,
        key: &str,
        algorithm: WrappingAlgorithmSpec,
    ) -> GetParametersForImportResponse {
        self.service
            .get_parameters_for_import(
                &self.admin,
                GetParametersForImportRequest::new(key, algorithm, WrappingKeySpec::Rsa2048),
            )
            .unwrap()
    }

    /// Wraps `material` for `key` and imports it as material that does not expire.
    fn import(&self, key: &str, material: &[u8]) -> Result<String, KmsError> {
        self.import_with(key, material, |r| r)
    }

    fn import_with(
        &self,
        key: &str,
        material: &[u8],
        adjust: impl FnOnce(ImportKeyMaterialRequest) -> ImportKeyMaterialRequest,
    ) -> Result<String, KmsError> {
        let algorithm = WrappingAlgorithmSpec::RsaAesKeyWrapSha256;
        let parameters = self.parameters(key, algorithm);
        let blob = wrap_for_import(&parameters.public_key, algorithm, material).unwrap();
        let req = ImportKeyMaterialRequest::new(key, parameters.import_token, blob);
        self.service
            .import_key_material(&self.admin, adjust(req))
            .map(|r| r.key_material_id)
    }

    fn encrypt(&self, key: &str, text: &[u8]) -> Result<Vec<u8>, KmsError> {
        let plaintext = STANDARD.encode(text);
        self.service
            .encrypt(
                &self.admin,
                request(json!({"KeyId": key, "Plaintext": plaintext})),
            )
            .map(|r| r.ciphertext_blob)
    }

    fn decrypt(&self, blob: &[u8]) -> Result<Vec<u8>, KmsError> {
        let blob = STANDARD.encode(blob);
        self.service
            .decrypt(&self.admin, request(json!({"CiphertextBlob": blob})))
            .map(|r| r.plaintext.to_vec())
    }

    fn rotations(&self, key: &str) -> Vec<Value> {
        let listed = self
            .service
            .list_key_rotations(
                &self.admin,
                request(json!({"KeyId": key, "IncludeKeyMaterial": "ALL_KEY_MATERIAL"})),
            )
            .unwrap();
        let Value::Array(entries) = serde_json::to_value(listed).unwrap()["Rotations"].take()
        else {
            panic!("no rotations")
        };
        entries
    }

    fn stored_versions(&self, key: &str) -> usize {
        self.store.versions(&key.parse().unwrap()).unwrap().len()
    }
}

fn aes_key(byte: u8) -> Vec<u8> {
    vec![byte; 32]
}

#[test]
fn external_key_waits_for_its_material() {
    let w = world();
    let key = w.create_external(json!({}));
    assert_eq!(key.key_state.as_aws_str(), "PendingImport");
    assert_eq!(key.origin.as_aws_str(), "EXTERNAL");
    assert!(!key.enabled);
    assert_eq!(key.current_key_material_id, None);
    assert_eq!(key.expiration_model, None);
    assert_eq!(w.stored_versions(&key.key_id), 0);
    assert_eq!(
        aws_type(w.encrypt(&key.key_id, b"x")),
        "KMSInvalidStateException"
    );
    assert_eq!(
        aws_type(w.service.enable_key(&w.admin, KeyRequest::new(&key.key_id))),
        "KMSInvalidStateException"
    );
    // Managing it is allowed, as in AWS.
    w.service
        .update_key_description(
            &w.admin,
            request(json!({"KeyId": key.key_id, "Description": "awaiting material"})),
        )
        .unwrap();
}

#[test]
fn create_key_refuses_external_where_aws_does_and_multi_region_for_now() {
    let w = world();
    for spec in ["ECC_NIST_EDWARDS25519", "ML_KEM_768"] {
        let usage = if spec == "ML_KEM_768" {
            "ENCAPSULATE_DECAPSULATE"
        } else {
            "SIGN_VERIFY"
        };
        let body = json!({"Origin": "EXTERNAL", "KeySpec": spec, "KeyUsage": usage});
        assert_eq!(
            aws_type(w.service.create_key(&w.admin, request(body))),
            "UnsupportedOperationException",
            "{spec}"
        );
    }
    let body = json!({"Origin": "EXTERNAL", "MultiRegion": true});
    assert_eq!(
        aws_type(w.service.create_key(&w.admin, request(body))),
        "UnsupportedOperationException"
    );
}

#[test]
fn parameters_are_for_external_keys_and_last_24_hours() {
    let w = world();
    let key = w.create_external(json!({}));
    let parameters = w.parameters(&key.key_id, WrappingAlgorithmSpec::RsaesOaepSha256);
    assert_eq!(parameters.key_id, key.arn);
    assert_eq!(parameters.parameters_valid_to, START + 24 * HOUR);
    assert!(parameters.public_key.starts_with(&[0x30, 0x82]));

    let generated = w
        .service
        .create_key(&w.admin, Default::default())
        .unwrap()
        .key_metadata;
    let req = GetParametersForImportRequest::new(
        &generated.key_id,
        WrappingAlgorithmSpec::RsaesOaepSha256,
        WrappingKeySpec::Rsa2048,
    );
    assert_eq!(
        aws_type(w.service.get_parameters_for_import(&w.admin, req)),
        "UnsupportedOperationException"
    );
    let retired = request(
        json!({"KeyId": key.key_id, "WrappingAlgorithm": "RSAES_PKCS1_V1_5", "WrappingKeySpec": "RSA_2048"}),
    );
    assert_eq!(
        aws_type(w.service.get_parameters_for_import(&w.admin, retired)),
        "ValidationException"
    );
    // RSA private keys are too long for RSAES-OAEP: AWS offers only RSA_AES_KEY_WRAP for them.
    let rsa = w.create_external(json!({"KeySpec": "RSA_2048", "KeyUsage": "SIGN_VERIFY"}));
    let req = GetParametersForImportRequest::new(
        &rsa.key_id,
        WrappingAlgorithmSpec::RsaesOaepSha1,
        WrappingKeySpec::Rsa4096,
    );
    assert_eq!(
        aws_type(w.service.get_parameters_for_import(&w.admin, req)),
        "UnsupportedOperationException"
    );
}

#[test]
fn every_wrapping_algorithm_imports_symmetric_material() {
    let w = world();
    for algorithm in WrappingAlgorithmSpec::ALL {
        let key = w.create_external(json!({}));
        let parameters = w.parameters(&key.key_id, *algorithm);
        let blob = wrap_for_import(&parameters.public_key, *algorithm, &aes_key(7)).unwrap();
        let req = ImportKeyMaterialRequest::new(&key.key_id, parameters.import_token, blob);
        let imported = w.service.import_key_material(&w.admin, req).unwrap();
        assert_eq!(imported.key_id, key.arn);
        assert_eq!(imported.key_material_id.len(), 64);
        let described = w.describe(&key.key_id);
        assert_eq!(described.key_state.as_aws_str(), "Enabled", "{algorithm}");
        assert_eq!(
            described.current_key_material_id,
            Some(imported.key_material_id)
        );
        assert_eq!(
            described.expiration_model.map(|m| m.as_aws_str()),
            Some("KEY_MATERIAL_DOES_NOT_EXPIRE")
        );
        let blob = w.encrypt(&key.key_id, b"imported").unwrap();
        assert_eq!(w.decrypt(&blob).unwrap(), b"imported");
    }
}

#[test]
fn import_token_is_bound_to_its_key_and_expires_after_24_hours() {
    let w = world();
    let key = w.create_external(json!({}));
    let other = w.create_external(json!({}));
    let algorithm = WrappingAlgorithmSpec::RsaesOaepSha256;
    let parameters = w.parameters(&other.key_id, algorithm);
    let blob = wrap_for_import(&parameters.public_key, algorithm, &aes_key(1)).unwrap();
    let import = |token: Vec<u8>, blob: Vec<u8>| {
        w.service.import_key_material(
            &w.admin,
            ImportKeyMaterialRequest::new(&key.key_id, token, blob),
        )
    };
    assert_eq!(
        aws_type(import(parameters.import_token.clone(), blob.clone())),
        "InvalidImportTokenException"
    );
    let mut altered = parameters.import_token.clone();
    *altered.last_mut().unwrap() ^= 1;
    assert_eq!(
        aws_type(w.service.import_key_material(
            &w.admin,
            ImportKeyMaterialRequest::new(&other.key_id, altered, blob.clone()),
        )),
        "InvalidImportTokenException"
    );
    assert_eq!(
        aws_type(import(b"not a token".to_vec(), blob.clone())),
        "InvalidImportTokenException"
    );

    let parameters = w.parameters(&key.key_id, algorithm);
    let blob = wrap_for_import(&parameters.public_key, algorithm, &aes_key(1)).unwrap();
    w.clock.advance(24 * HOUR);
    assert_eq!(
        aws_type(import(parameters.import_token, blob)),
        "ExpiredImportTokenException"
    );
}

#[test]
fn badly_wrapped_or_wrong_material_is_refused_with_awss_exceptions() {
    let w = world();
    let key = w.create_external(json!({}));
    let algorithm = WrappingAlgorithmSpec::RsaAesKeyWrapSha256;
    let parameters = w.parameters(&key.key_id, algorithm);
    let mut blob = wrap_for_import(&parameters.public_key, algorithm, &aes_key(1)).unwrap();
    *blob.last_mut().unwrap() ^= 1;
    let req = ImportKeyMaterialRequest::new(&key.key_id, parameters.import_token.clone(), blob);
    assert_eq!(
        aws_type(w.service.import_key_material(&w.admin, req)),
        "InvalidCiphertextException"
    );
    // 16 bytes are no SYMMETRIC_DEFAULT key.
    assert_eq!(
        aws_type(w.import(&key.key_id, &[1; 16])),
        "IncorrectKeyMaterialException"
    );
    assert_eq!(
        w.describe(&key.key_id).key_state.as_aws_str(),
        "PendingImport"
    );
}

#[test]
fn valid_to_follows_the_expiration_model() {
    let w = world();
    let key = w.create_external(json!({}));
    let expires = |r: ImportKeyMaterialRequest| ImportKeyMaterialRequest {
        expiration_model: None,
        ..r
    };
    assert_eq!(
        aws_type(w.import_with(&key.key_id, &aes_key(1), expires)),
        "ValidationException"
    );
    let both = |r: ImportKeyMaterialRequest| ImportKeyMaterialRequest {
        valid_to: Some(START + HOUR),
        ..r
    };
    assert_eq!(
        aws_type(w.import_with(&key.key_id, &aes_key(1), both)),
        "ValidationException"
    );
    let too_far = |r: ImportKeyMaterialRequest| r.expiring_at(START + 366 * 24 * HOUR);
    assert_eq!(
        aws_type(w.import_with(&key.key_id, &aes_key(1), too_far)),
        "ValidationException"
    );
}

#[test]
fn deleted_material_is_erased_and_only_the_same_material_brings_the_data_back() {
    let w = world();
    let key = w.create_external(json!({}));
    let material_id = w.import(&key.key_id, &aes_key(9)).unwrap();
    let blob = w.encrypt(&key.key_id, b"before deletion").unwrap();
    assert_eq!(w.stored_versions(&key.key_id), 1);

    let deleted = w
        .service
        .delete_imported_key_material(&w.admin, DeleteImportedKeyMaterialRequest::new(&key.key_id))
        .unwrap();
    assert_eq!(deleted.key_material_id, material_id);
    assert_eq!(w.stored_versions(&key.key_id), 0);
    let described = w.describe(&key.key_id);
    assert_eq!(described.key_state.as_aws_str(), "PendingImport");
    assert_eq!(described.current_key_material_id, Some(material_id.clone()));
    assert_eq!(aws_type(w.decrypt(&blob)), "KMSInvalidStateException");

    // Other material of the right shape is not this key's.
    assert_eq!(
        aws_type(w.import(&key.key_id, &aes_key(8))),
        "IncorrectKeyMaterialException"
    );
    let claims_other_id = |r: ImportKeyMaterialRequest| ImportKeyMaterialRequest {
        key_material_id: Some("0".repeat(64)),
        ..r
    };
    assert_eq!(
        aws_type(w.import_with(&key.key_id, &aes_key(9), claims_other_id)),
        "IncorrectKeyMaterialException"
    );

    // The same material, under the same backing-key version: the old ciphertext decrypts.
    assert_eq!(w.import(&key.key_id, &aes_key(9)).unwrap(), material_id);
    assert_eq!(w.describe(&key.key_id).key_state.as_aws_str(), "Enabled");
    assert_eq!(w.decrypt(&blob).unwrap(), b"before deletion");
}

#[test]
fn expired_material_is_deleted_at_valid_to() {
    let w = world();
    let key = w.create_external(json!({}));
    let valid_to = START + 2 * HOUR;
    w.import_with(&key.key_id, &aes_key(3), |r| r.expiring_at(valid_to))
        .unwrap();
    let described = w.describe(&key.key_id);
    assert_eq!(described.valid_to, Some(valid_to));
    assert_eq!(
        described.expiration_model.map(|m| m.as_aws_str()),
        Some("KEY_MATERIAL_EXPIRES")
    );
    let blob = w.encrypt(&key.key_id, b"short-lived").unwrap();

    w.clock.advance(2 * HOUR);
    assert_eq!(w.service.run_maintenance().unwrap(), 1);
    assert_eq!(w.stored_versions(&key.key_id), 0);
    let described = w.describe(&key.key_id);
    assert_eq!(described.key_state.as_aws_str(), "PendingImport");
    assert_eq!(described.valid_to, None);
    assert_eq!(aws_type(w.decrypt(&blob)), "KMSInvalidStateException");
    let events = w.service.lookup_audit_events(&w.admin, 0, 100).unwrap();
    assert!(
        events
            .iter()
            .any(|(_, e)| e.operation == "DeleteExpiredKeyMaterial")
    );

    w.import(&key.key_id, &aes_key(3)).unwrap();
    assert_eq!(w.decrypt(&blob).unwrap(), b"short-lived");
}

#[test]
fn asymmetric_and_hmac_material_imports_as_pkcs8_and_raw_bytes() {
    let w = world();
    for (spec, usage) in [
        (KeySpec::EccNistP256, "SIGN_VERIFY"),
        (KeySpec::Rsa2048, "SIGN_VERIFY"),
        (KeySpec::EccNistP384, "KEY_AGREEMENT"),
        (KeySpec::EccSecgP256k1, "SIGN_VERIFY"),
    ] {
        let key = w.create_external(json!({"KeySpec": spec.as_aws_str(), "KeyUsage": usage}));
        let material = KeyMaterial::generate(spec).unwrap();
        w.import(&key.key_id, &material.to_sealable().unwrap())
            .unwrap();
        let public = w
            .service
            .get_public_key(&w.admin, KeyRequest::new(&key.key_id))
            .unwrap();
        assert_eq!(
            public.public_key,
            material.public_key_der().unwrap(),
            "{spec}"
        );
        // Another key's material of the same spec is refused.
        w.service
            .delete_imported_key_material(
                &w.admin,
                DeleteImportedKeyMaterialRequest::new(&key.key_id),
            )
            .unwrap();
        let other = KeyMaterial::generate(spec).unwrap();
        assert_eq!(
            aws_type(w.import(&key.key_id, &other.to_sealable().unwrap())),
            "IncorrectKeyMaterialException",
            "{spec}"
        );
    }
    let hmac = w.create_external(json!({"KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"}));
    w.import(&hmac.key_id, &[5; 32]).unwrap();
    let mac = w
        .service
        .generate_mac(
            &w.admin,
            request(json!({"KeyId": hmac.key_id, "Message": STANDARD.encode(b"m"), "MacAlgorithm": "HMAC_SHA_256"})),
        )
        .unwrap();
    assert_eq!(mac.mac.len(), 32);
}

#[test]
fn imported_keys_refuse_automatic_rotation() {
    let w = world();
    let key = w.create_external(json!({}));
    w.import(&key.key_id, &aes_key(1)).unwrap();
    assert_eq!(
        aws_type(
            w.service
                .enable_key_rotation(&w.admin, request(json!({"KeyId": key.key_id})))
        ),
        "UnsupportedOperationException"
    );
    // On-demand rotation needs new material first.
    assert_eq!(
        aws_type(
            w.service
                .rotate_key_on_demand(&w.admin, KeyRequest::new(&key.key_id))
        ),
        "KMSInvalidStateException"
    );
}

#[test]
fn imported_symmetric_key_rotates_onto_new_key_material() {
    let w = world();
    let key = w.create_external(json!({}));
    let first = w.import(&key.key_id, &aes_key(1)).unwrap();
    let old_blob = w.encrypt(&key.key_id, b"first material").unwrap();
    // The key's own material is not new.
    let new = |r: ImportKeyMaterialRequest| r.with_import_type(ImportType::NewKeyMaterial);
    assert_eq!(
        aws_type(w.import_with(&key.key_id, &aes_key(1), new)),
        "IncorrectKeyMaterialException"
    );
    let second = w.import_with(&key.key_id, &aes_key(2), new).unwrap();
    assert_ne!(first, second);
    assert_eq!(
        w.describe(&key.key_id).current_key_material_id,
        Some(first.clone())
    );
    let states: Vec<(String, String)> = w
        .rotations(&key.key_id)
        .iter()
        .map(|r| {
            (
                r["KeyMaterialId"].as_str().unwrap().to_string(),
                r["KeyMaterialState"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        states,
        [
            (first.clone(), "CURRENT".to_string()),
            (second.clone(), "PENDING_ROTATION".to_string())
        ]
    );

    w.service
        .rotate_key_on_demand(&w.admin, KeyRequest::new(&key.key_id))
        .unwrap();
    assert_eq!(
        w.describe(&key.key_id).current_key_material_id,
        Some(second.clone())
    );
    let rotations = w.rotations(&key.key_id);
    assert_eq!(rotations[0]["KeyMaterialState"], "NON_CURRENT");
    assert_eq!(rotations[1]["KeyMaterialState"], "CURRENT");
    assert_eq!(rotations[1]["RotationType"], "ON_DEMAND");
    assert_eq!(rotations[1]["ImportState"], "IMPORTED");
    let new_blob = w.encrypt(&key.key_id, b"second material").unwrap();
    assert_eq!(w.decrypt(&old_blob).unwrap(), b"first material");
    assert_eq!(w.decrypt(&new_blob).unwrap(), b"second material");

    // Deleting the earlier material makes the key wait for it; reimporting it by id restores it.
    w.service
        .delete_imported_key_material(
            &w.admin,
            request(json!({"KeyId": key.key_id, "KeyMaterialId": first})),
        )
        .unwrap();
    assert_eq!(
        w.describe(&key.key_id).key_state.as_aws_str(),
        "PendingImport"
    );
    assert_eq!(w.stored_versions(&key.key_id), 1);
    let by_id = |r: ImportKeyMaterialRequest| ImportKeyMaterialRequest {
        key_material_id: Some(first.clone()),
        ..r
    };
    w.import_with(&key.key_id, &aes_key(1), by_id).unwrap();
    assert_eq!(w.describe(&key.key_id).key_state.as_aws_str(), "Enabled");
    assert_eq!(w.decrypt(&old_blob).unwrap(), b"first material");
}

#[test]
fn import_operations_are_authorized_and_audited() {
    let w = world();
    let key = w.create_external(json!({}));
    w.import(&key.key_id, &aes_key(4)).unwrap();
    w.service
        .delete_imported_key_material(&w.admin, DeleteImportedKeyMaterialRequest::new(&key.key_id))
        .unwrap();
    let operations: Vec<String> = w
        .service
        .lookup_audit_events(&w.admin, 0, 100)
        .unwrap()
        .into_iter()
        .map(|(_, e)| e.operation)
        .collect();
    for operation in [
        "GetParametersForImport",
        "ImportKeyMaterial",
        "DeleteImportedKeyMaterial",
    ] {
        assert!(operations.iter().any(|o| o == operation), "{operation}");
    }
    // A principal of another account may do none of it.
    let stranger = Caller::account_root("444455556666");
    let req = GetParametersForImportRequest::new(
        &key.arn,
        WrappingAlgorithmSpec::RsaesOaepSha256,
        WrappingKeySpec::Rsa2048,
    );
    assert!(w.service.get_parameters_for_import(&stranger, req).is_err());
}
