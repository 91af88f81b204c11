//! Issue 13, finding 8: every condition key of [`Operation::condition_keys`]'s table reaches the
//! policies, with the value the request carries. For each request below, and each key it
//! carries, an identity policy that denies the action under that key and the carried value
//! refuses the request, and the same policy naming another value lets it through. A key that
//! the host never set would leave the first Deny dead; one set with the wrong value would trip
//! the second. A last test checks that every (operation, key) pair of the table has a case here.

use std::sync::Arc;

use super::*;
use kms_core::Operation;
use kms_core::types::{
    DataKeyPairSpec, DataKeySpec, EncapsulationAlgorithmSpec, EncryptionAlgorithm, ExpirationModel,
    KeyAgreementAlgorithmSpec, KeySpec, KeyUsage, MacAlgorithmSpec, MessageType, Origin,
    SigningAlgorithmSpec, Tag, WrappingAlgorithmSpec, WrappingKeySpec,
};
use kms_vault::GrantConstraints;

const START: u64 = 1_700_000_000;
const ALICE: &str = "arn:aws:iam::111122223333:user/alice";
const BOB: &str = "arn:aws:iam::111122223333:user/bob";

/// A fresh service whose principal alice may do anything in KMS but what one Deny statement
/// refuses; the account root sets up what alice's request needs.
struct Bench {
    service: Service,
    clock: Arc<ManualClock>,
    root: Caller,
    alice: Caller,
}

impl Bench {
    fn new(deny: serde_json::Value) -> Bench {
        let clock = Arc::new(ManualClock::new(START));
        let service = Service::in_memory_with_clock(clock.clone()).unwrap();
        let root = Caller::account_root(service.account());
        assert_eq!(service.account(), "111122223333");
        service
            .create_principal(
                &root,
                CreatePrincipalRequest {
                    arn: ALICE.into(),
                    tags: vec![tag("team", "blue")],
                },
            )
            .unwrap();
        let policy = serde_json::json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "kms:*", "Resource": "*"}, deny]});
        service
            .put_principal_policy(
                &root,
                PutPrincipalPolicyRequest {
                    arn: ALICE.into(),
                    policy_name: "kms".into(),
                    policy_document: policy.to_string(),
                },
            )
            .unwrap();
        Bench {
            service,
            clock,
            root,
            alice: Caller::principal(ALICE).unwrap(),
        }
    }

    /// A key made by the root.
    fn key(&self, spec: KeySpec, usage: KeyUsage) -> String {
        self.key_with(CreateKeyRequest {
            key_spec: Some(spec),
            key_usage: Some(usage),
            ..Default::default()
        })
    }

    fn key_with(&self, req: CreateKeyRequest) -> String {
        self.service
            .create_key(&self.root, req)
            .unwrap()
            .key_metadata
            .key_id
    }

    fn symmetric(&self) -> String {
        self.key(KeySpec::SymmetricDefault, KeyUsage::EncryptDecrypt)
    }

    /// `key` under the alias `alias/app`, returned.
    fn aliased(&self, key: &str) -> &'static str {
        self.service
            .create_alias(
                &self.root,
                AliasRequest {
                    alias_name: "alias/app".into(),
                    target_key_id: key.into(),
                },
            )
            .unwrap();
        "alias/app"
    }

    fn encrypted(&self, key: &str, context: &[(&str, &str)]) -> Vec<u8> {
        self.service
            .encrypt(
                &self.root,
                EncryptRequest::new(key, b"data".to_vec()).with_context(ctx(context)),
            )
            .unwrap()
            .ciphertext_blob
    }
}

fn tag(key: &str, value: &str) -> Tag {
    Tag {
        tag_key: key.into(),
        tag_value: value.into(),
    }
}

fn ctx(pairs: &[(&str, &str)]) -> EncryptionContext {
    EncryptionContext::from_pairs(pairs.iter().copied()).unwrap()
}

fn done<T>(result: KmsResult<T>) -> KmsResult<()> {
    result.map(drop)
}

/// One condition key a request carries: the key as a policy names it, the operator that
/// compares it, the value the request carries and another one.
type Carried = (&'static str, &'static str, &'static str, &'static str);

/// One request alice makes, and the condition keys it carries.
struct Request {
    operation: Operation,
    call: fn(&Bench) -> KmsResult<()>,
    carries: &'static [Carried],
}

const SAME: &str = "StringEquals";
const ANY: &str = "ForAnyValue:StringEquals";
const NUM: &str = "NumericEquals";
const BOOL: &str = "Bool";

/// The keys every request for a symmetric encryption carries by naming its key by alias with
/// the context `Tenant=a`.
macro_rules! symmetric_keys {
    ($($more:expr),* $(,)?) => {
        &[
            ("kms:EncryptionAlgorithm", SAME, "SYMMETRIC_DEFAULT", "RSAES_OAEP_SHA_256"),
            ("kms:EncryptionContext:Tenant", SAME, "a", "b"),
            ("kms:EncryptionContextKeys", ANY, "Tenant", "Other"),
            ("kms:RequestAlias", SAME, "alias/app", "alias/other"),
            $($more),*
        ]
    };
}

fn requests() -> Vec<Request> {
    vec![
        Request {
            operation: Operation::Encrypt,
            call: |b| {
                let alias = b.aliased(&b.symmetric());
                done(
                    b.service.encrypt(
                        &b.alice,
                        EncryptRequest::new(alias, b"data".to_vec())
                            .with_context(ctx(&[("Tenant", "a")])),
                    ),
                )
            },
            carries: symmetric_keys!(),
        },
        Request {
            operation: Operation::Encrypt,
            call: |b| {
                let key = b.key(KeySpec::Rsa2048, KeyUsage::EncryptDecrypt);
                done(b.service.encrypt(
                    &b.alice,
                    EncryptRequest {
                        encryption_algorithm: Some(EncryptionAlgorithm::RsaesOaepSha256),
                        ..EncryptRequest::new(key, b"data".to_vec())
                    },
                ))
            },
            carries: &[(
                "kms:EncryptionAlgorithm",
                SAME,
                "RSAES_OAEP_SHA_256",
                "RSAES_OAEP_SHA_1",
            )],
        },
        Request {
            operation: Operation::Decrypt,
            call: |b| {
                let alias = b.aliased(&b.symmetric());
                let blob = b.encrypted(alias, &[("Tenant", "a")]);
                done(
                    b.service.decrypt(
                        &b.alice,
                        DecryptRequest::new(blob)
                            .with_context(ctx(&[("Tenant", "a")]))
                            .with_key(alias),
                    ),
                )
            },
            carries: symmetric_keys!(),
        },
        Request {
            operation: Operation::Decrypt,
            call: |b| {
                let alias = b.aliased(&b.key(KeySpec::Rsa2048, KeyUsage::EncryptDecrypt));
                let blob = b
                    .service
                    .encrypt(
                        &b.root,
                        EncryptRequest {
                            encryption_algorithm: Some(EncryptionAlgorithm::RsaesOaepSha1),
                            ..EncryptRequest::new(alias, b"data".to_vec())
                        },
                    )
                    .unwrap()
                    .ciphertext_blob;
                done(b.service.decrypt(
                    &b.alice,
                    DecryptRequest {
                        encryption_algorithm: Some(EncryptionAlgorithm::RsaesOaepSha1),
                        ..DecryptRequest::new(blob).with_key(alias)
                    },
                ))
            },
            carries: &[
                (
                    "kms:EncryptionAlgorithm",
                    SAME,
                    "RSAES_OAEP_SHA_1",
                    "RSAES_OAEP_SHA_256",
                ),
                ("kms:RequestAlias", SAME, "alias/app", "alias/other"),
            ],
        },
        Request {
            operation: Operation::GenerateDataKey,
            call: |b| {
                let alias = b.aliased(&b.symmetric());
                done(
                    b.service.generate_data_key(
                        &b.alice,
                        GenerateDataKeyRequest::new(alias, DataKeySpec::Aes256)
                            .with_context(ctx(&[("Tenant", "a")])),
                    ),
                )
            },
            carries: symmetric_keys!(),
        },
        Request {
            operation: Operation::GenerateDataKeyWithoutPlaintext,
            call: |b| {
                let alias = b.aliased(&b.symmetric());
                done(
                    b.service.generate_data_key_without_plaintext(
                        &b.alice,
                        GenerateDataKeyRequest::new(alias, DataKeySpec::Aes256)
                            .with_context(ctx(&[("Tenant", "a")])),
                    ),
                )
            },
            carries: symmetric_keys!(),
        },
        Request {
            operation: Operation::GenerateDataKeyPair,
            call: |b| {
                let alias = b.aliased(&b.symmetric());
                done(b.service.generate_data_key_pair(
                    &b.alice,
                    GenerateDataKeyPairRequest {
                        key_id: alias.into(),
                        key_pair_spec: Some(DataKeyPairSpec::EccNistP256),
                        encryption_context: ctx(&[("Tenant", "a")]),
                        ..Default::default()
                    },
                ))
            },
            carries: symmetric_keys!(("kms:DataKeyPairSpec", SAME, "ECC_NIST_P256", "RSA_2048")),
        },
        Request {
            operation: Operation::GenerateDataKeyPairWithoutPlaintext,
            call: |b| {
                let alias = b.aliased(&b.symmetric());
                done(b.service.generate_data_key_pair_without_plaintext(
                    &b.alice,
                    GenerateDataKeyPairRequest {
                        key_id: alias.into(),
                        key_pair_spec: Some(DataKeyPairSpec::EccNistP256),
                        encryption_context: ctx(&[("Tenant", "a")]),
                        ..Default::default()
                    },
                ))
            },
            carries: symmetric_keys!(("kms:DataKeyPairSpec", SAME, "ECC_NIST_P256", "RSA_2048")),
        },
        Request {
            operation: Operation::ReEncryptFrom,
            call: re_encrypt_by_aliases,
            carries: &[
                (
                    "kms:EncryptionAlgorithm",
                    SAME,
                    "SYMMETRIC_DEFAULT",
                    "RSAES_OAEP_SHA_256",
                ),
                ("kms:EncryptionContext:Tenant", SAME, "a", "b"),
                ("kms:EncryptionContextKeys", ANY, "Tenant", "Stage"),
                ("kms:RequestAlias", SAME, "alias/from", "alias/to"),
                ("kms:ReEncryptOnSameKey", BOOL, "false", "true"),
            ],
        },
        Request {
            operation: Operation::ReEncryptTo,
            call: re_encrypt_by_aliases,
            carries: &[
                (
                    "kms:EncryptionAlgorithm",
                    SAME,
                    "SYMMETRIC_DEFAULT",
                    "RSAES_OAEP_SHA_256",
                ),
                ("kms:EncryptionContext:Tenant", SAME, "b", "a"),
                ("kms:EncryptionContextKeys", ANY, "Stage", "Other"),
                ("kms:RequestAlias", SAME, "alias/to", "alias/from"),
                ("kms:ReEncryptOnSameKey", BOOL, "false", "true"),
            ],
        },
        Request {
            operation: Operation::ReEncryptFrom,
            call: re_encrypt_on_the_same_key,
            carries: &[("kms:ReEncryptOnSameKey", BOOL, "true", "false")],
        },
        Request {
            operation: Operation::ReEncryptTo,
            call: re_encrypt_on_the_same_key,
            carries: &[("kms:ReEncryptOnSameKey", BOOL, "true", "false")],
        },
        Request {
            operation: Operation::ReEncryptFrom,
            call: |b| {
                // An RSA source: the request names its key (here by alias) and algorithm.
                let alias = b.aliased(&b.key(KeySpec::Rsa2048, KeyUsage::EncryptDecrypt));
                let blob = b
                    .service
                    .encrypt(
                        &b.root,
                        EncryptRequest {
                            encryption_algorithm: Some(EncryptionAlgorithm::RsaesOaepSha256),
                            ..EncryptRequest::new(alias, b"data".to_vec())
                        },
                    )
                    .unwrap()
                    .ciphertext_blob;
                let destination = b.symmetric();
                done(b.service.re_encrypt(
                    &b.alice,
                    ReEncryptRequest {
                        ciphertext_blob: blob,
                        source_key_id: Some(alias.into()),
                        source_encryption_algorithm: Some(EncryptionAlgorithm::RsaesOaepSha256),
                        destination_key_id: destination,
                        ..Default::default()
                    },
                ))
            },
            carries: &[
                (
                    "kms:EncryptionAlgorithm",
                    SAME,
                    "RSAES_OAEP_SHA_256",
                    "SYMMETRIC_DEFAULT",
                ),
                ("kms:RequestAlias", SAME, "alias/app", "alias/other"),
                ("kms:ReEncryptOnSameKey", BOOL, "false", "true"),
            ],
        },
        Request {
            operation: Operation::Sign,
            call: |b| {
                let alias = b.aliased(&b.key(KeySpec::EccNistP256, KeyUsage::SignVerify));
                done(b.service.sign(
                    &b.alice,
                    SignRequest {
                        key_id: alias.into(),
                        message: b"message".to_vec(),
                        signing_algorithm: Some(SigningAlgorithmSpec::EcdsaSha256),
                        ..Default::default()
                    },
                ))
            },
            carries: SIGNATURE_KEYS,
        },
        Request {
            operation: Operation::Verify,
            call: |b| {
                let alias = b.aliased(&b.key(KeySpec::EccNistP256, KeyUsage::SignVerify));
                let sign = SignRequest {
                    key_id: alias.into(),
                    message: b"message".to_vec(),
                    signing_algorithm: Some(SigningAlgorithmSpec::EcdsaSha256),
                    ..Default::default()
                };
                let signature = b.service.sign(&b.root, sign).unwrap().signature;
                done(b.service.verify(
                    &b.alice,
                    VerifyRequest {
                        key_id: alias.into(),
                        message: b"message".to_vec(),
                        signature,
                        signing_algorithm: Some(SigningAlgorithmSpec::EcdsaSha256),
                        ..Default::default()
                    },
                ))
            },
            carries: SIGNATURE_KEYS,
        },
        Request {
            operation: Operation::Sign,
            call: |b| {
                let alias = b.aliased(&b.key(KeySpec::EccNistP256, KeyUsage::SignVerify));
                done(b.service.sign(
                    &b.alice,
                    SignRequest {
                        key_id: alias.into(),
                        message: vec![7; 32],
                        message_type: Some(MessageType::Digest),
                        signing_algorithm: Some(SigningAlgorithmSpec::EcdsaSha256),
                        ..Default::default()
                    },
                ))
            },
            carries: &[("kms:MessageType", SAME, "DIGEST", "RAW")],
        },
        Request {
            operation: Operation::GenerateMac,
            call: |b| {
                let alias = b.aliased(&b.key(KeySpec::Hmac256, KeyUsage::GenerateVerifyMac));
                done(b.service.generate_mac(
                    &b.alice,
                    GenerateMacRequest {
                        key_id: alias.into(),
                        message: b"message".to_vec(),
                        mac_algorithm: Some(MacAlgorithmSpec::HmacSha256),
                        ..Default::default()
                    },
                ))
            },
            carries: MAC_KEYS,
        },
        Request {
            operation: Operation::VerifyMac,
            call: |b| {
                let alias = b.aliased(&b.key(KeySpec::Hmac256, KeyUsage::GenerateVerifyMac));
                let generate = GenerateMacRequest {
                    key_id: alias.into(),
                    message: b"message".to_vec(),
                    mac_algorithm: Some(MacAlgorithmSpec::HmacSha256),
                    ..Default::default()
                };
                let mac = b.service.generate_mac(&b.root, generate).unwrap().mac;
                done(b.service.verify_mac(
                    &b.alice,
                    VerifyMacRequest {
                        key_id: alias.into(),
                        message: b"message".to_vec(),
                        mac,
                        mac_algorithm: Some(MacAlgorithmSpec::HmacSha256),
                        ..Default::default()
                    },
                ))
            },
            carries: MAC_KEYS,
        },
        Request {
            operation: Operation::DeriveSharedSecret,
            call: |b| {
                let alias = b.aliased(&b.key(KeySpec::EccNistP256, KeyUsage::KeyAgreement));
                let peer = b.key(KeySpec::EccNistP256, KeyUsage::KeyAgreement);
                let public_key = b
                    .service
                    .get_public_key(&b.root, KeyRequest::new(&peer))
                    .unwrap()
                    .public_key;
                done(b.service.derive_shared_secret(
                    &b.alice,
                    DeriveSharedSecretRequest {
                        key_id: alias.into(),
                        key_agreement_algorithm: Some(KeyAgreementAlgorithmSpec::Ecdh),
                        public_key,
                        ..Default::default()
                    },
                ))
            },
            carries: &[
                ("kms:KeyAgreementAlgorithm", SAME, "ECDH", "OTHER"),
                ("kms:RequestAlias", SAME, "alias/app", "alias/other"),
            ],
        },
        Request {
            operation: Operation::GetPublicKey,
            call: |b| {
                let alias = b.aliased(&b.key(KeySpec::EccNistP256, KeyUsage::SignVerify));
                done(b.service.get_public_key(&b.alice, KeyRequest::new(alias)))
            },
            carries: ALIAS_ONLY,
        },
        Request {
            operation: Operation::DescribeKey,
            call: |b| {
                let alias = b.aliased(&b.symmetric());
                done(b.service.describe_key(&b.alice, KeyRequest::new(alias)))
            },
            carries: ALIAS_ONLY,
        },
        Request {
            operation: Operation::Encapsulate,
            call: |b| {
                let alias = b.aliased(&b.key(KeySpec::MlKem512, KeyUsage::EncapsulateDecapsulate));
                done(b.service.encapsulate(
                    &b.alice,
                    EncapsulateRequest {
                        key_id: alias.into(),
                        encapsulation_algorithm: Some(EncapsulationAlgorithmSpec::MlKem),
                        ..Default::default()
                    },
                ))
            },
            carries: ALIAS_ONLY,
        },
        Request {
            operation: Operation::Decapsulate,
            call: |b| {
                let alias = b.aliased(&b.key(KeySpec::MlKem512, KeyUsage::EncapsulateDecapsulate));
                let encapsulate = EncapsulateRequest {
                    key_id: alias.into(),
                    encapsulation_algorithm: Some(EncapsulationAlgorithmSpec::MlKem),
                    ..Default::default()
                };
                let ciphertext = b
                    .service
                    .encapsulate(&b.root, encapsulate)
                    .unwrap()
                    .shared_secret_ciphertext_blob;
                done(b.service.decapsulate(
                    &b.alice,
                    DecapsulateRequest {
                        key_id: alias.into(),
                        shared_secret_ciphertext_blob: ciphertext,
                        encapsulation_algorithm: Some(EncapsulationAlgorithmSpec::MlKem),
                        ..Default::default()
                    },
                ))
            },
            carries: ALIAS_ONLY,
        },
        Request {
            operation: Operation::CreateGrant,
            call: |b| {
                let key = b.symmetric();
                done(b.service.create_grant(
                    &b.alice,
                    CreateGrantRequest {
                        key_id: key,
                        grantee_principal: BOB.into(),
                        retiring_principal: Some(ALICE.into()),
                        operations: vec!["Encrypt".into(), "Decrypt".into()],
                        constraints: Some(GrantConstraints {
                            encryption_context_subset: Some(
                                [("Tenant".to_string(), "a".to_string())].into(),
                            ),
                            ..Default::default()
                        }),
                        ..Default::default()
                    },
                ))
            },
            carries: &[
                ("kms:EncryptionContext:Tenant", SAME, "a", "b"),
                ("kms:EncryptionContextKeys", ANY, "Tenant", "Other"),
                (
                    "kms:GrantConstraintType",
                    SAME,
                    "EncryptionContextSubset",
                    "EncryptionContextEquals",
                ),
                ("kms:GrantIsForAWSResource", BOOL, "false", "true"),
                ("kms:GrantOperations", ANY, "Decrypt", "Sign"),
                ("kms:GranteePrincipal", SAME, BOB, ALICE),
                ("kms:RetiringPrincipal", SAME, ALICE, BOB),
            ],
        },
        Request {
            operation: Operation::RetireGrant,
            call: |b| {
                let key = b.symmetric();
                let grant = b
                    .service
                    .create_grant(
                        &b.root,
                        CreateGrantRequest {
                            key_id: key.clone(),
                            grantee_principal: ALICE.into(),
                            operations: vec!["Encrypt".into(), "RetireGrant".into()],
                            constraints: Some(GrantConstraints {
                                encryption_context_equals: Some(
                                    [("Tenant".to_string(), "a".to_string())].into(),
                                ),
                                ..Default::default()
                            }),
                            ..Default::default()
                        },
                    )
                    .unwrap();
                done(b.service.retire_grant(
                    &b.alice,
                    RetireGrantRequest {
                        key_id: Some(key),
                        grant_id: Some(grant.grant_id),
                        ..Default::default()
                    },
                ))
            },
            carries: &[
                ("kms:EncryptionContext:Tenant", SAME, "a", "b"),
                ("kms:EncryptionContextKeys", ANY, "Tenant", "Other"),
                (
                    "kms:GrantConstraintType",
                    SAME,
                    "EncryptionContextEquals",
                    "EncryptionContextSubset",
                ),
            ],
        },
        Request {
            operation: Operation::ListGrants,
            call: |b| {
                let key = b.symmetric();
                done(b.service.list_grants(
                    &b.alice,
                    ListGrantsRequest {
                        key_id: key,
                        ..Default::default()
                    },
                ))
            },
            carries: &[("kms:GrantIsForAWSResource", BOOL, "false", "true")],
        },
        Request {
            operation: Operation::RevokeGrant,
            call: |b| {
                let key = b.symmetric();
                let grant = b
                    .service
                    .create_grant(
                        &b.root,
                        CreateGrantRequest {
                            key_id: key.clone(),
                            grantee_principal: BOB.into(),
                            operations: vec!["Encrypt".into()],
                            ..Default::default()
                        },
                    )
                    .unwrap();
                done(b.service.revoke_grant(
                    &b.alice,
                    RevokeGrantRequest {
                        key_id: key,
                        grant_id: grant.grant_id,
                        ..Default::default()
                    },
                ))
            },
            carries: &[("kms:GrantIsForAWSResource", BOOL, "false", "true")],
        },
        Request {
            // CreateKey with every default: the keys hold the defaults AWS evaluates.
            operation: Operation::CreateKey,
            call: |b| {
                done(b.service.create_key(
                    &b.alice,
                    CreateKeyRequest {
                        tags: vec![tag("project", "alpha")],
                        bypass_policy_lockout_safety_check: Some(false),
                        ..Default::default()
                    },
                ))
            },
            carries: &[
                ("kms:KeySpec", SAME, "SYMMETRIC_DEFAULT", "RSA_2048"),
                (
                    "kms:CustomerMasterKeySpec",
                    SAME,
                    "SYMMETRIC_DEFAULT",
                    "RSA_2048",
                ),
                ("kms:KeyUsage", SAME, "ENCRYPT_DECRYPT", "SIGN_VERIFY"),
                (
                    "kms:CustomerMasterKeyUsage",
                    SAME,
                    "ENCRYPT_DECRYPT",
                    "SIGN_VERIFY",
                ),
                ("kms:KeyOrigin", SAME, "AWS_KMS", "EXTERNAL"),
                ("kms:MultiRegion", BOOL, "false", "true"),
                ("aws:RequestTag/project", SAME, "alpha", "beta"),
                ("aws:TagKeys", ANY, "project", "team"),
                ("kms:BypassPolicyLockoutSafetyCheck", BOOL, "false", "true"),
            ],
        },
        Request {
            operation: Operation::CreateKey,
            call: |b| {
                done(b.service.create_key(
                    &b.alice,
                    CreateKeyRequest {
                        key_spec: Some(KeySpec::EccNistP256),
                        key_usage: Some(KeyUsage::SignVerify),
                        origin: Some(Origin::AwsKms),
                        multi_region: Some(true),
                        ..Default::default()
                    },
                ))
            },
            carries: &[
                ("kms:KeySpec", SAME, "ECC_NIST_P256", "SYMMETRIC_DEFAULT"),
                ("kms:KeyUsage", SAME, "SIGN_VERIFY", "ENCRYPT_DECRYPT"),
                ("kms:MultiRegion", BOOL, "true", "false"),
                ("kms:MultiRegionKeyType", SAME, "PRIMARY", "REPLICA"),
            ],
        },
        Request {
            operation: Operation::CreateKey,
            call: |b| {
                done(b.service.create_key(
                    &b.alice,
                    CreateKeyRequest {
                        origin: Some(Origin::External),
                        ..Default::default()
                    },
                ))
            },
            carries: &[("kms:KeyOrigin", SAME, "EXTERNAL", "AWS_KMS")],
        },
        Request {
            operation: Operation::DisableKey,
            call: |b| {
                let key = b.symmetric();
                b.clock.advance_days(40);
                done(b.service.disable_key(&b.alice, KeyRequest::new(key)))
            },
            carries: &[("kms:TrailingDaysWithoutKeyUsage", NUM, "40", "10")],
        },
        Request {
            operation: Operation::ScheduleKeyDeletion,
            call: |b| {
                let key = b.symmetric();
                b.clock.advance_days(40);
                done(b.service.schedule_key_deletion(
                    &b.alice,
                    ScheduleKeyDeletionRequest {
                        key_id: key,
                        pending_window_in_days: None,
                    },
                ))
            },
            carries: &[
                ("kms:TrailingDaysWithoutKeyUsage", NUM, "40", "10"),
                ("kms:ScheduleKeyDeletionPendingWindowInDays", NUM, "30", "7"),
            ],
        },
        Request {
            operation: Operation::TagResource,
            call: |b| {
                let key = b.symmetric();
                done(b.service.tag_resource(
                    &b.alice,
                    TagResourceRequest {
                        key_id: key,
                        tags: vec![tag("project", "alpha")],
                    },
                ))
            },
            carries: &[
                ("aws:RequestTag/project", SAME, "alpha", "beta"),
                ("aws:TagKeys", ANY, "project", "team"),
            ],
        },
        Request {
            operation: Operation::UntagResource,
            call: |b| {
                let key = b.symmetric();
                done(b.service.untag_resource(
                    &b.alice,
                    UntagResourceRequest {
                        key_id: key,
                        tag_keys: vec!["project".into()],
                    },
                ))
            },
            carries: &[("aws:TagKeys", ANY, "project", "team")],
        },
        Request {
            operation: Operation::EnableKeyRotation,
            call: |b| {
                let key = b.symmetric();
                done(b.service.enable_key_rotation(
                    &b.alice,
                    EnableKeyRotationRequest {
                        key_id: key,
                        rotation_period_in_days: None,
                    },
                ))
            },
            carries: &[("kms:RotationPeriodInDays", NUM, "365", "180")],
        },
        Request {
            operation: Operation::ReplicateKey,
            call: |b| {
                let key = b.key_with(CreateKeyRequest {
                    multi_region: Some(true),
                    ..Default::default()
                });
                done(b.service.replicate_key(
                    &b.alice,
                    ReplicateKeyRequest {
                        key_id: key,
                        replica_region: "us-west-2".into(),
                        ..Default::default()
                    },
                ))
            },
            carries: &[("kms:ReplicaRegion", SAME, "us-west-2", "eu-west-1")],
        },
        Request {
            operation: Operation::UpdatePrimaryRegion,
            call: |b| {
                let key = b.key_with(CreateKeyRequest {
                    multi_region: Some(true),
                    ..Default::default()
                });
                b.service
                    .replicate_key(
                        &b.root,
                        ReplicateKeyRequest {
                            key_id: key.clone(),
                            replica_region: "us-west-2".into(),
                            ..Default::default()
                        },
                    )
                    .unwrap();
                done(b.service.update_primary_region(
                    &b.alice,
                    UpdatePrimaryRegionRequest {
                        key_id: key,
                        primary_region: "us-west-2".into(),
                    },
                ))
            },
            carries: &[("kms:PrimaryRegion", SAME, "us-west-2", "eu-west-1")],
        },
        Request {
            operation: Operation::PutKeyPolicy,
            call: |b| {
                let key = b.symmetric();
                done(b.service.put_key_policy(
                    &b.alice,
                    PutKeyPolicyRequest {
                        key_id: key,
                        policy: authz::default_key_policy("111122223333"),
                        bypass_policy_lockout_safety_check: Some(true),
                        ..Default::default()
                    },
                ))
            },
            carries: &[("kms:BypassPolicyLockoutSafetyCheck", BOOL, "true", "false")],
        },
        Request {
            operation: Operation::GetParametersForImport,
            call: |b| {
                let key = b.key_with(CreateKeyRequest {
                    origin: Some(Origin::External),
                    ..Default::default()
                });
                done(b.service.get_parameters_for_import(
                    &b.alice,
                    GetParametersForImportRequest::new(
                        key,
                        WrappingAlgorithmSpec::RsaesOaepSha256,
                        WrappingKeySpec::Rsa2048,
                    ),
                ))
            },
            carries: &[
                (
                    "kms:WrappingAlgorithm",
                    SAME,
                    "RSAES_OAEP_SHA_256",
                    "RSAES_OAEP_SHA_1",
                ),
                ("kms:WrappingKeySpec", SAME, "RSA_2048", "RSA_4096"),
            ],
        },
        Request {
            // Refused after authorization (the token is no token): what matters is whether
            // authorization refused it first.
            operation: Operation::ImportKeyMaterial,
            call: |b| {
                let key = b.key_with(CreateKeyRequest {
                    origin: Some(Origin::External),
                    ..Default::default()
                });
                done(b.service.import_key_material(
                    &b.alice,
                    ImportKeyMaterialRequest {
                        key_id: key,
                        import_token: vec![1; 64],
                        encrypted_key_material: vec![2; 256],
                        valid_to: Some(START + 30 * SECONDS_PER_DAY),
                        expiration_model: Some(ExpirationModel::KeyMaterialExpires),
                        import_type: None,
                        key_material_description: None,
                        key_material_id: None,
                    },
                ))
            },
            carries: &[
                (
                    "kms:ExpirationModel",
                    SAME,
                    "KEY_MATERIAL_EXPIRES",
                    "KEY_MATERIAL_DOES_NOT_EXPIRE",
                ),
                ("kms:ValidTo", NUM, "1702592000", "1702592001"),
            ],
        },
    ]
}

const SIGNATURE_KEYS: &[Carried] = &[
    ("kms:MessageType", SAME, "RAW", "DIGEST"),
    (
        "kms:SigningAlgorithm",
        SAME,
        "ECDSA_SHA_256",
        "ECDSA_SHA_384",
    ),
    ("kms:RequestAlias", SAME, "alias/app", "alias/other"),
];

const MAC_KEYS: &[Carried] = &[
    ("kms:MacAlgorithm", SAME, "HMAC_SHA_256", "HMAC_SHA_512"),
    ("kms:RequestAlias", SAME, "alias/app", "alias/other"),
];

const ALIAS_ONLY: &[Carried] = &[("kms:RequestAlias", SAME, "alias/app", "alias/other")];

/// ReEncrypt from the key `alias/from` under the context `Tenant=a` to the key `alias/to` under
/// `Tenant=b, Stage=test`: each side carries its own alias and context.
fn re_encrypt_by_aliases(b: &Bench) -> KmsResult<()> {
    for alias in ["alias/from", "alias/to"] {
        let key = b.symmetric();
        b.service
            .create_alias(
                &b.root,
                AliasRequest {
                    alias_name: alias.into(),
                    target_key_id: key,
                },
            )
            .unwrap();
    }
    let blob = b.encrypted("alias/from", &[("Tenant", "a")]);
    done(b.service.re_encrypt(
        &b.alice,
        ReEncryptRequest {
            ciphertext_blob: blob,
            source_encryption_context: ctx(&[("Tenant", "a")]),
            source_key_id: Some("alias/from".into()),
            destination_key_id: "alias/to".into(),
            destination_encryption_context: ctx(&[("Tenant", "b"), ("Stage", "test")]),
            ..Default::default()
        },
    ))
}

/// ReEncrypt with the key the ciphertext is already under.
fn re_encrypt_on_the_same_key(b: &Bench) -> KmsResult<()> {
    let key = b.symmetric();
    let blob = b.encrypted(&key, &[]);
    done(b.service.re_encrypt(
        &b.alice,
        ReEncryptRequest {
            ciphertext_blob: blob,
            destination_key_id: key,
            ..Default::default()
        },
    ))
}

/// The Deny statement on `action` under `operator` `key` = `value`.
fn deny(action: &str, operator: &str, key: &str, value: &str) -> serde_json::Value {
    serde_json::json!({"Sid": "guard", "Effect": "Deny", "Action": action, "Resource": "*",
        "Condition": {operator: {key: value}}})
}

fn refused_by_the_guard(result: &KmsResult<()>) -> bool {
    matches!(result, Err(KmsError::AccessDenied(m)) if m.contains("statement 'guard'"))
}

/// Requests on keys, for the condition keys of the key itself and of the caller, which every
/// request on a key carries.
fn key_and_caller_requests() -> Vec<Request> {
    vec![
        Request {
            operation: Operation::DescribeKey,
            call: |b| {
                let key = b.key_with(CreateKeyRequest {
                    key_spec: Some(KeySpec::EccNistP256),
                    key_usage: Some(KeyUsage::SignVerify),
                    multi_region: Some(true),
                    tags: vec![tag("project", "alpha")],
                    ..Default::default()
                });
                b.aliased(&key);
                done(b.service.describe_key(&b.alice, KeyRequest::new(key)))
            },
            carries: &[
                ("kms:KeySpec", SAME, "ECC_NIST_P256", "SYMMETRIC_DEFAULT"),
                (
                    "kms:CustomerMasterKeySpec",
                    SAME,
                    "ECC_NIST_P256",
                    "SYMMETRIC_DEFAULT",
                ),
                ("kms:KeyUsage", SAME, "SIGN_VERIFY", "ENCRYPT_DECRYPT"),
                (
                    "kms:CustomerMasterKeyUsage",
                    SAME,
                    "SIGN_VERIFY",
                    "ENCRYPT_DECRYPT",
                ),
                ("kms:KeyOrigin", SAME, "AWS_KMS", "EXTERNAL"),
                ("kms:MultiRegion", BOOL, "true", "false"),
                ("kms:MultiRegionKeyType", SAME, "PRIMARY", "REPLICA"),
                ("kms:ResourceAliases", ANY, "alias/app", "alias/other"),
                ("aws:ResourceTag/project", SAME, "alpha", "beta"),
                ("kms:CallerAccount", SAME, "111122223333", "444455556666"),
                ("aws:PrincipalArn", SAME, ALICE, BOB),
                ("aws:PrincipalAccount", SAME, "111122223333", "444455556666"),
                ("aws:PrincipalTag/team", SAME, "blue", "red"),
                ("aws:PrincipalType", SAME, "User", "Account"),
                ("aws:username", SAME, "alice", "bob"),
            ],
        },
        Request {
            operation: Operation::DescribeKey,
            call: |b| {
                let key = b.key_with(CreateKeyRequest {
                    multi_region: Some(true),
                    ..Default::default()
                });
                let replica = ReplicateKeyRequest {
                    key_id: key.clone(),
                    replica_region: "us-west-2".into(),
                    ..Default::default()
                };
                b.service.replicate_key(&b.root, replica).unwrap();
                let west = b.service.in_region("us-west-2").unwrap();
                done(west.describe_key(&b.alice, KeyRequest::new(key)))
            },
            carries: &[("kms:MultiRegionKeyType", SAME, "REPLICA", "PRIMARY")],
        },
        Request {
            operation: Operation::DescribeKey,
            call: |b| {
                let key = b.symmetric();
                let via = b.alice.clone().via_service("ec2.us-east-1.amazonaws.com");
                done(b.service.describe_key(&via, KeyRequest::new(key)))
            },
            carries: &[(
                "kms:ViaService",
                SAME,
                "ec2.us-east-1.amazonaws.com",
                "s3.us-east-1.amazonaws.com",
            )],
        },
    ]
}

#[test]
fn a_deny_under_each_condition_key_refuses_the_value_the_request_carries_and_no_other() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for request in requests().into_iter().chain(key_and_caller_requests()) {
        let action = request.operation.iam_action();
        for &(key, operator, carried, other) in request.carries {
            let refused = (request.call)(&Bench::new(deny(action, operator, key, carried)));
            if !refused_by_the_guard(&refused) {
                failures.push(format!(
                    "{action} {operator} {key} = {carried}: not refused ({refused:?})"
                ));
            }
            let allowed = (request.call)(&Bench::new(deny(action, operator, key, other)));
            if matches!(allowed, Err(KmsError::AccessDenied(_))) {
                failures.push(format!(
                    "{action} {operator} {key} = {other}: refused ({allowed:?})"
                ));
            }
            checked += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} condition keys failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_condition_key_of_every_operation_has_a_case() {
    let requests = requests();
    let mut missing = Vec::new();
    for &operation in Operation::ALL {
        for &key in operation.condition_keys() {
            let covered = requests.iter().any(|r| {
                r.operation == operation
                    && r.carries
                        .iter()
                        .any(|(name, ..)| ConditionKey::of(name) == Some(key))
            });
            if !covered {
                missing.push(format!("{operation} {key}"));
            }
        }
    }
    assert!(missing.is_empty(), "no case for: {}", missing.join(", "));
}

#[test]
fn trailing_days_without_key_usage_count_from_the_last_use() {
    let b = Bench::new(deny(
        "kms:DisableKey",
        "NumericLessThan",
        "kms:TrailingDaysWithoutKeyUsage",
        "30",
    ));
    let key = b.symmetric();
    b.clock.advance_days(35);
    b.encrypted(&key, &[]);
    b.clock.advance_days(10);
    let refused = done(b.service.disable_key(&b.alice, KeyRequest::new(&key)));
    assert!(refused_by_the_guard(&refused), "{refused:?}");
    b.clock.advance_days(20);
    b.service
        .disable_key(&b.alice, KeyRequest::new(&key))
        .unwrap();
}

#[test]
fn bypass_policy_lockout_safety_check_is_absent_when_the_request_leaves_it_out() {
    // AWS's example: allow PutKeyPolicy only when the request has no such parameter.
    let b = Bench::new(deny(
        "kms:PutKeyPolicy",
        "Null",
        "kms:BypassPolicyLockoutSafetyCheck",
        "false",
    ));
    let key = b.symmetric();
    let put = |bypass| PutKeyPolicyRequest {
        key_id: key.clone(),
        policy: authz::default_key_policy("111122223333"),
        bypass_policy_lockout_safety_check: bypass,
        ..Default::default()
    };
    b.service.put_key_policy(&b.alice, put(None)).unwrap();
    let refused = b.service.put_key_policy(&b.alice, put(Some(false)));
    assert!(refused_by_the_guard(&refused), "{refused:?}");
}

#[test]
fn a_key_an_operation_does_not_carry_is_absent_from_it() {
    // kms:RequestAlias is for cryptographic operations, DescribeKey and GetPublicKey only.
    let b = Bench::new(deny("kms:*", SAME, "kms:RequestAlias", "alias/app"));
    let alias = b.aliased(&b.symmetric());
    b.service
        .disable_key(&b.alice, KeyRequest::new(alias))
        .unwrap();
    let refused = done(b.service.describe_key(&b.alice, KeyRequest::new(alias)));
    assert!(refused_by_the_guard(&refused), "{refused:?}");
}
