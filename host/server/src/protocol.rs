//! The AWS JSON 1.1 protocol of KMS: `X-Amz-Target: TrentService.<Operation>` names the
//! operation, the body is its request as JSON (blobs in base64), the answer is its response as
//! JSON or `{"__type": "<Exception>", "message": "…"}` with AWS's status code.

use serde::Serialize;
use serde::de::DeserializeOwned;

use kms_core::Operation;
use kms_core::error::KmsError;
use kms_service::{self as svc, Caller, Service};

use crate::validation::Model;

/// The `X-Amz-Target` prefix of KMS.
pub const TARGET_PREFIX: &str = "TrentService.";

/// A failed request: the AWS exception name, its message and the HTTP status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// `NotFoundException`, `ThrottlingException`, …
    pub aws_type: String,
    /// The message.
    pub message: String,
    /// The HTTP status: 400 for the caller's errors, 500 for the service's.
    pub status: u16,
    /// Whether the service never saw the request (unreadable body, unknown operation), so that
    /// the front door must audit it itself.
    pub unaudited: bool,
}

impl ApiError {
    /// An error of the caller's making (status 400).
    pub fn client(aws_type: &str, message: impl Into<String>) -> Self {
        ApiError {
            aws_type: aws_type.into(),
            message: message.into(),
            status: 400,
            unaudited: true,
        }
    }

    /// The JSON body.
    pub fn body(&self) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({"__type": self.aws_type, "message": self.message}))
            .unwrap_or_default()
    }
}

impl From<KmsError> for ApiError {
    fn from(error: KmsError) -> Self {
        let status = match error {
            KmsError::Internal(_) => 500,
            _ => 400,
        };
        ApiError {
            aws_type: error.aws_type().to_string(),
            message: error.message().to_string(),
            status,
            unaudited: false,
        }
    }
}

/// Reads the request body of `operation`: malformed JSON or a value of the wrong JSON type is a
/// SerializationException; a value that breaks the model's constraints (enum, length, pattern,
/// range, a missing required member) a ValidationException listing every fault, as AWS answers.
fn parse<T: DeserializeOwned>(operation: Operation, body: &[u8]) -> Result<T, ApiError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    let unreadable = |e: serde_json::Error| {
        ApiError::client(
            "SerializationException",
            format!("The request body could not be read: {e}"),
        )
    };
    let value: serde_json::Value = serde_json::from_slice(body).map_err(unreadable)?;
    Model::kms()
        .check(operation.name(), &value)
        .map_err(|rejection| ApiError::client(rejection.aws_type(), rejection.message()))?;
    T::deserialize(&value).map_err(|e| {
        let text = e.to_string();
        if text.starts_with("missing field") {
            // Only for this service's own operations, which AWS's model does not describe.
            ApiError::client(
                "ValidationException",
                format!("1 validation error detected: {text}"),
            )
        } else {
            unreadable(e)
        }
    })
}

fn reply<T: Serialize>(result: Result<T, KmsError>) -> Result<Vec<u8>, ApiError> {
    let value = result?;
    serde_json::to_vec(&value).map_err(|e| {
        ApiError::from(KmsError::Internal(format!(
            "cannot encode the response: {e}"
        )))
    })
}

/// Operations that answer nothing but success: AWS sends an empty JSON object.
fn empty(result: Result<(), KmsError>) -> Result<Vec<u8>, ApiError> {
    result?;
    Ok(b"{}".to_vec())
}

/// The operation an `X-Amz-Target` names, if this service serves it.
pub fn served(name: &str) -> Option<Operation> {
    name.parse::<Operation>().ok().filter(|op| op.served())
}

macro_rules! operations {
    ($($op:ident => $method:ident ($req:ty) $wrap:ident),+ $(,)?) => {
        /// Runs `operation` with the JSON `body` for `caller`. The match is exhaustive: an
        /// operation added to [`Operation`] does not compile until it has its line here.
        pub fn dispatch(
            service: &Service,
            caller: &Caller,
            operation: &str,
            body: &[u8],
        ) -> Result<Vec<u8>, ApiError> {
            let unknown = || {
                ApiError::client(
                    "UnknownOperationException",
                    format!("Operation '{operation}' is not supported by this service"),
                )
            };
            match served(operation).ok_or_else(unknown)? {
                $(Operation::$op => $wrap(service.$method(caller, parse::<$req>(Operation::$op, body)?)),)+
                Operation::ReEncryptFrom | Operation::ReEncryptTo => Err(unknown()),
            }
        }
    };
}

operations! {
    CreateKey => create_key(svc::CreateKeyRequest) reply,
    DescribeKey => describe_key(svc::KeyRequest) reply,
    ListKeys => list_keys(svc::ListKeysRequest) reply,
    UpdateKeyDescription => update_key_description(svc::UpdateKeyDescriptionRequest) empty,
    EnableKey => enable_key(svc::KeyRequest) empty,
    DisableKey => disable_key(svc::KeyRequest) empty,
    ScheduleKeyDeletion => schedule_key_deletion(svc::ScheduleKeyDeletionRequest) reply,
    CancelKeyDeletion => cancel_key_deletion(svc::KeyRequest) reply,
    TagResource => tag_resource(svc::TagResourceRequest) empty,
    UntagResource => untag_resource(svc::UntagResourceRequest) empty,
    ListResourceTags => list_resource_tags(svc::ListForKeyRequest) reply,
    CreateAlias => create_alias(svc::AliasRequest) empty,
    UpdateAlias => update_alias(svc::AliasRequest) empty,
    DeleteAlias => delete_alias(svc::DeleteAliasRequest) empty,
    ListAliases => list_aliases(svc::ListAliasesRequest) reply,
    Encrypt => encrypt(svc::EncryptRequest) reply,
    Decrypt => decrypt(svc::DecryptRequest) reply,
    ReEncrypt => re_encrypt(svc::ReEncryptRequest) reply,
    GenerateDataKey => generate_data_key(svc::GenerateDataKeyRequest) reply,
    GenerateDataKeyWithoutPlaintext => generate_data_key_without_plaintext(svc::GenerateDataKeyRequest) reply,
    GenerateDataKeyPair => generate_data_key_pair(svc::GenerateDataKeyPairRequest) reply,
    GenerateDataKeyPairWithoutPlaintext => generate_data_key_pair_without_plaintext(svc::GenerateDataKeyPairRequest) reply,
    GenerateRandom => generate_random(svc::GenerateRandomRequest) reply,
    Sign => sign(svc::SignRequest) reply,
    Verify => verify(svc::VerifyRequest) reply,
    GetPublicKey => get_public_key(svc::KeyRequest) reply,
    GenerateMac => generate_mac(svc::GenerateMacRequest) reply,
    VerifyMac => verify_mac(svc::VerifyMacRequest) reply,
    DeriveSharedSecret => derive_shared_secret(svc::DeriveSharedSecretRequest) reply,
    Encapsulate => encapsulate(svc::EncapsulateRequest) reply,
    Decapsulate => decapsulate(svc::DecapsulateRequest) reply,
    EnableKeyRotation => enable_key_rotation(svc::EnableKeyRotationRequest) empty,
    DisableKeyRotation => disable_key_rotation(svc::KeyRequest) empty,
    GetKeyRotationStatus => get_key_rotation_status(svc::KeyRequest) reply,
    RotateKeyOnDemand => rotate_key_on_demand(svc::KeyRequest) reply,
    ReplicateKey => replicate_key(svc::ReplicateKeyRequest) reply,
    UpdatePrimaryRegion => update_primary_region(svc::UpdatePrimaryRegionRequest) empty,
    ListKeyRotations => list_key_rotations(svc::ListForKeyRequest) reply,
    GetKeyPolicy => get_key_policy(svc::KeyPolicyRequest) reply,
    PutKeyPolicy => put_key_policy(svc::PutKeyPolicyRequest) empty,
    ListKeyPolicies => list_key_policies(svc::KeyPolicyRequest) reply,
    CreateGrant => create_grant(svc::CreateGrantRequest) reply,
    ListGrants => list_grants(svc::ListGrantsRequest) reply,
    ListRetirableGrants => list_retirable_grants(svc::ListRetirableGrantsRequest) reply,
    RetireGrant => retire_grant(svc::RetireGrantRequest) empty,
    RevokeGrant => revoke_grant(svc::RevokeGrantRequest) empty,
    GetKeyLastUsage => get_key_last_usage(svc::KeyRequest) reply,
    GetParametersForImport => get_parameters_for_import(svc::GetParametersForImportRequest) reply,
    ImportKeyMaterial => import_key_material(svc::ImportKeyMaterialRequest) reply,
    DeleteImportedKeyMaterial => delete_imported_key_material(svc::DeleteImportedKeyMaterialRequest) reply,
    AttachPolicyPlugin => attach_policy_plugin(svc::AttachPolicyPluginRequest) reply,
    DetachPolicyPlugin => detach_policy_plugin(svc::PolicyPluginScopeRequest) empty,
    ListPolicyPlugins => list_policy_plugins(svc::PolicyPluginScopeRequest) reply,
    LookupAuditEvents => lookup_audit_events_page(svc::LookupAuditEventsRequest) reply,
    VerifyAuditTrail => verify_audit_trail(svc::VerifyAuditTrailRequest) reply,
    CreateCustomKeyStore => create_custom_key_store(svc::CreateCustomKeyStoreRequest) reply,
    DescribeCustomKeyStores => describe_custom_key_stores(svc::DescribeCustomKeyStoresRequest) reply,
    UpdateCustomKeyStore => update_custom_key_store(svc::UpdateCustomKeyStoreRequest) empty,
    DeleteCustomKeyStore => delete_custom_key_store(svc::CustomKeyStoreRequest) empty,
    ConnectCustomKeyStore => connect_custom_key_store(svc::CustomKeyStoreRequest) empty,
    DisconnectCustomKeyStore => disconnect_custom_key_store(svc::CustomKeyStoreRequest) empty,
}

/// The pair a GenerateDataKeyPair* request asks for, for rate limiting by cost. Read leniently:
/// a body that does not parse is refused later by [`dispatch`].
pub fn key_pair_spec_of(
    operation: Operation,
    body: &[u8],
) -> Option<kms_core::types::DataKeyPairSpec> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct PairField {
        key_pair_spec: Option<String>,
    }
    if !matches!(
        operation,
        Operation::GenerateDataKeyPair | Operation::GenerateDataKeyPairWithoutPlaintext
    ) {
        return None;
    }
    let field: PairField = serde_json::from_slice(body).ok()?;
    field.key_pair_spec?.parse().ok()
}

/// The key a request names (`KeyId`, or `DestinationKeyId` for ReEncrypt), for rate limiting by
/// key type. Read leniently: a body that does not parse is refused later by [`dispatch`].
pub fn key_of(operation: Operation, body: &[u8]) -> Option<String> {
    /// Only the two fields; serde skips the rest without building values for them.
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct KeyFields {
        key_id: Option<String>,
        destination_key_id: Option<String>,
    }
    let fields: KeyFields = serde_json::from_slice(body).ok()?;
    if operation == Operation::ReEncrypt {
        fields.destination_key_id
    } else {
        fields.key_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A body for each operation whose AWS request has `DryRun`, set to true, naming keys fit
    /// for it; `None` for an operation the model gives `DryRun` that has no case yet.
    fn dry_run_body(operation: &str, keys: &DryRunKeys) -> Option<serde_json::Value> {
        use serde_json::json;
        let b64 = |bytes: &[u8]| {
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, bytes)
        };
        let body = match operation {
            "Encrypt" => json!({"KeyId": keys.symmetric, "Plaintext": b64(b"x")}),
            "Decrypt" => json!({"CiphertextBlob": b64(&keys.ciphertext)}),
            "ReEncrypt" => {
                json!({"CiphertextBlob": b64(&keys.ciphertext), "DestinationKeyId": keys.symmetric})
            }
            "GenerateDataKey" | "GenerateDataKeyWithoutPlaintext" => {
                json!({"KeyId": keys.symmetric, "KeySpec": "AES_256"})
            }
            "GenerateDataKeyPair" | "GenerateDataKeyPairWithoutPlaintext" => {
                json!({"KeyId": keys.symmetric, "KeyPairSpec": "ECC_NIST_P256"})
            }
            "Sign" => {
                json!({"KeyId": keys.signing, "Message": b64(b"m"), "SigningAlgorithm": "ECDSA_SHA_256"})
            }
            "Verify" => {
                json!({"KeyId": keys.signing, "Message": b64(b"m"), "Signature": b64(&[0; 64]),
                "SigningAlgorithm": "ECDSA_SHA_256"})
            }
            "GenerateMac" => {
                json!({"KeyId": keys.mac, "Message": b64(b"m"), "MacAlgorithm": "HMAC_SHA_256"})
            }
            "VerifyMac" => json!({"KeyId": keys.mac, "Message": b64(b"m"), "Mac": b64(&[0; 32]),
                "MacAlgorithm": "HMAC_SHA_256"}),
            "DeriveSharedSecret" => {
                json!({"KeyId": keys.agreement, "KeyAgreementAlgorithm": "ECDH",
                "PublicKey": b64(&keys.agreement_public)})
            }
            "Encapsulate" => json!({"KeyId": keys.kem, "EncapsulationAlgorithm": "ML_KEM"}),
            "Decapsulate" => json!({"KeyId": keys.kem, "EncapsulationAlgorithm": "ML_KEM",
                "SharedSecretCiphertextBlob": b64(&[0; 768])}),
            "CreateGrant" => json!({"KeyId": keys.symmetric, "GranteePrincipal": keys.principal,
                "Operations": ["Decrypt"]}),
            "RetireGrant" | "RevokeGrant" => {
                json!({"KeyId": keys.symmetric, "GrantId": keys.grant_id})
            }
            _ => return None,
        };
        let mut body = body;
        body["DryRun"] = json!(true);
        Some(body)
    }

    struct DryRunKeys {
        symmetric: String,
        ciphertext: Vec<u8>,
        signing: String,
        mac: String,
        agreement: String,
        agreement_public: Vec<u8>,
        kem: String,
        principal: String,
        grant_id: String,
    }

    fn call(
        service: &Service,
        caller: &Caller,
        operation: &str,
        body: serde_json::Value,
    ) -> Result<serde_json::Value, ApiError> {
        let answer = dispatch(
            service,
            caller,
            operation,
            &serde_json::to_vec(&body).unwrap(),
        )?;
        Ok(serde_json::from_slice(&answer).unwrap())
    }

    fn new_key(service: &Service, caller: &Caller, spec: &str, usage: &str) -> String {
        let made = call(
            service,
            caller,
            "CreateKey",
            serde_json::json!({"KeySpec": spec, "KeyUsage": usage}),
        );
        made.unwrap()["KeyMetadata"]["KeyId"]
            .as_str()
            .unwrap()
            .to_string()
    }

    #[test]
    fn every_operation_with_dry_run_answers_dry_run_operation_and_does_nothing() {
        use serde_json::json;
        let service = Service::in_memory().unwrap();
        let me = Caller::account_root(service.account());
        let symmetric = new_key(&service, &me, "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT");
        let encrypted = call(
            &service,
            &me,
            "Encrypt",
            json!({"KeyId": symmetric, "Plaintext": "eA=="}),
        )
        .unwrap();
        let agreement = new_key(&service, &me, "ECC_NIST_P256", "KEY_AGREEMENT");
        let public = call(&service, &me, "GetPublicKey", json!({"KeyId": agreement})).unwrap();
        let grant = call(&service, &me, "CreateGrant", json!({"KeyId": symmetric,
            "GranteePrincipal": me.principal, "RetiringPrincipal": me.principal, "Operations": ["Decrypt"]})).unwrap();
        let keys = DryRunKeys {
            ciphertext: base64::Engine::decode(
                &base64::engine::general_purpose::STANDARD,
                encrypted["CiphertextBlob"].as_str().unwrap(),
            )
            .unwrap(),
            symmetric: symmetric.clone(),
            signing: new_key(&service, &me, "ECC_NIST_P256", "SIGN_VERIFY"),
            mac: new_key(&service, &me, "HMAC_256", "GENERATE_VERIFY_MAC"),
            agreement_public: base64::Engine::decode(
                &base64::engine::general_purpose::STANDARD,
                public["PublicKey"].as_str().unwrap(),
            )
            .unwrap(),
            agreement,
            kem: new_key(&service, &me, "ML_KEM_512", "ENCAPSULATE_DECAPSULATE"),
            principal: me.principal.clone(),
            grant_id: grant["GrantId"].as_str().unwrap().to_string(),
        };
        let grants = || {
            call(&service, &me, "ListGrants", json!({"KeyId": symmetric})).unwrap()["Grants"]
                .clone()
        };
        let last_use =
            |key: &str| call(&service, &me, "GetKeyLastUsage", json!({"KeyId": key})).unwrap();
        let (grants_before, use_before) = (grants(), last_use(&symmetric));
        let operations = Model::kms().operations_with_member("DryRun");
        assert!(operations.len() >= 17, "{operations:?}");
        for operation in operations {
            let body = dry_run_body(operation, &keys).unwrap_or_else(|| {
                panic!("{operation} has DryRun in AWS's model but no case here")
            });
            let answer = call(&service, &me, operation, body);
            assert_eq!(
                answer.map_err(|e| e.aws_type),
                Err("DryRunOperationException".to_string()),
                "{operation}"
            );
        }
        assert_eq!(
            grants(),
            grants_before,
            "no grant created, retired or revoked"
        );
        assert_eq!(last_use(&symmetric), use_before, "no key use noted");
    }

    #[test]
    fn every_aws_operation_of_the_model_is_served() {
        let model = crate::validation::Model::kms();
        let aws_served = Operation::ALL
            .iter()
            .filter(|op| op.served() && model.knows(op.name()))
            .count();
        assert_eq!(aws_served, 56);
        for op in ["CreateCustomKeyStore", "ConnectCustomKeyStore"] {
            assert!(served(op).is_some(), "{op}");
        }
    }

    #[test]
    fn bodies_are_read_with_aws_errors() {
        let bad: Result<svc::KeyRequest, _> = parse(Operation::DescribeKey, b"{not json");
        assert_eq!(bad.unwrap_err().aws_type, "SerializationException");
        let wrong_type: Result<svc::KeyRequest, _> =
            parse(Operation::DescribeKey, br#"{"KeyId": 7}"#);
        assert_eq!(wrong_type.unwrap_err().aws_type, "SerializationException");
        let missing: Result<svc::KeyRequest, _> = parse(Operation::DescribeKey, b"{}");
        let missing = missing.unwrap_err();
        assert_eq!(missing.aws_type, "ValidationException");
        assert_eq!(
            missing.message,
            "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: \
             Member must not be null"
        );
        let empty_body: Result<svc::ListKeysRequest, _> = parse(Operation::ListKeys, b"");
        assert!(empty_body.is_ok());
    }

    #[test]
    fn unknown_operations_are_named() {
        let service = Service::in_memory().unwrap();
        let caller = Caller::account_root(svc::DEFAULT_ACCOUNT);
        let err = dispatch(&service, &caller, "Fly", b"{}").unwrap_err();
        assert_eq!(err.aws_type, "UnknownOperationException");
        assert!(err.message.contains("Fly"));
    }

    #[test]
    fn every_served_operation_reaches_the_service() {
        let service = Service::in_memory().unwrap();
        let caller = Caller::account_root(svc::DEFAULT_ACCOUNT);
        for op in Operation::ALL {
            let answer = dispatch(&service, &caller, op.name(), b"{}");
            let unknown = matches!(&answer, Err(e) if e.aws_type == "UnknownOperationException");
            assert_eq!(unknown, !op.served(), "{op}");
        }
    }

    #[test]
    fn internal_errors_are_status_500_and_the_rest_400() {
        assert_eq!(ApiError::from(KmsError::Internal("x".into())).status, 500);
        assert_eq!(ApiError::from(KmsError::key_not_found("x")).status, 400);
        let body: serde_json::Value =
            serde_json::from_slice(&ApiError::client("NotFoundException", "gone").body()).unwrap();
        assert_eq!(body["__type"], "NotFoundException");
        assert_eq!(body["message"], "gone");
    }

    #[test]
    fn the_key_of_a_request_is_found_for_rate_limiting() {
        assert_eq!(
            key_of(
                Operation::Encrypt,
                br#"{"KeyId":"alias/a","Plaintext":"eA=="}"#
            )
            .as_deref(),
            Some("alias/a")
        );
        assert_eq!(
            key_of(Operation::ReEncrypt, br#"{"DestinationKeyId":"k"}"#).as_deref(),
            Some("k")
        );
        assert_eq!(
            key_of(Operation::Decrypt, br#"{"CiphertextBlob":"eA=="}"#),
            None
        );
    }
}
