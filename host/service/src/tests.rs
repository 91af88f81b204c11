//! Behaviour of the façade, one rule per test: key resolution, the key state machine, encryption
//! context binding, data keys, rotation, aliases, tags, pagination, authorization and auditing.

use std::sync::Arc;

use super::*;
use crate::audit::{AuditLog, Verification};
use kms_core::types::{
    DataKeyPairSpec, DataKeySpec, EncapsulationAlgorithmSpec, EncryptionAlgorithm, KeySpec,
    KeyUsage, MessageType, Origin, SigningAlgorithmSpec, Tag,
};
use kms_crypto::blob;

struct Fixture {
    service: Service,
    clock: Arc<ManualClock>,
    me: Caller,
}

const START: u64 = 1_700_000_000;

fn fixture() -> Fixture {
    let clock = Arc::new(ManualClock::new(START));
    let service = Service::in_memory_with_clock(clock.clone()).unwrap();
    let me = Caller::account_root(service.account());
    Fixture { service, clock, me }
}

impl Fixture {
    fn key(&self) -> String {
        self.service
            .create_key(&self.me, CreateKeyRequest::default())
            .unwrap()
            .key_metadata
            .key_id
    }

    fn state(&self, key: &str) -> KeyState {
        self.service
            .describe_key(&self.me, KeyRequest::new(key))
            .unwrap()
            .key_metadata
            .key_state
    }

    fn encrypt(&self, key: &str, plaintext: &[u8]) -> KmsResult<Vec<u8>> {
        self.service
            .encrypt(&self.me, EncryptRequest::new(key, plaintext.to_vec()))
            .map(|r| r.ciphertext_blob)
    }

    fn decrypt(&self, blob: &[u8]) -> KmsResult<Vec<u8>> {
        self.service
            .decrypt(&self.me, DecryptRequest::new(blob.to_vec()))
            .map(|r| r.plaintext.to_vec())
    }

    fn schedule_deletion(
        &self,
        key: &str,
        days: Option<u32>,
    ) -> KmsResult<ScheduleKeyDeletionResponse> {
        self.service.schedule_key_deletion(
            &self.me,
            ScheduleKeyDeletionRequest {
                key_id: key.into(),
                pending_window_in_days: days,
            },
        )
    }

    fn alias(&self, name: &str, key: &str) -> KmsResult<()> {
        self.service.create_alias(
            &self.me,
            AliasRequest {
                alias_name: name.into(),
                target_key_id: key.into(),
            },
        )
    }

    fn enable_rotation(&self, key: &str, days: Option<u32>) -> KmsResult<()> {
        self.service.enable_key_rotation(
            &self.me,
            EnableKeyRotationRequest {
                key_id: key.into(),
                rotation_period_in_days: days,
            },
        )
    }

    fn rotations(&self, key: &str) -> Vec<RotationListEntry> {
        self.service
            .list_key_rotations(&self.me, ListForKeyRequest::new(key))
            .unwrap()
            .rotations
    }
}

fn ctx(pairs: &[(&str, &str)]) -> EncryptionContext {
    EncryptionContext::from_pairs(pairs.iter().copied()).unwrap()
}

macro_rules! assert_err {
    ($result:expr, $variant:path) => {
        match $result {
            Err($variant(_)) => {}
            other => panic!(
                "expected {}, got {:?}",
                stringify!($variant),
                other.map(|_| ())
            ),
        }
    };
}

// ---- CreateKey and key resolution ----

#[test]
fn create_key_makes_an_enabled_symmetric_key_in_the_callers_account() {
    let f = fixture();
    let meta = f
        .service
        .create_key(
            &f.me,
            CreateKeyRequest {
                description: Some("orders".into()),
                ..Default::default()
            },
        )
        .unwrap()
        .key_metadata;
    assert_eq!(meta.key_state, KeyState::Enabled);
    assert!(meta.enabled);
    assert_eq!(meta.key_spec, KeySpec::SymmetricDefault);
    assert_eq!(meta.description, "orders");
    assert_eq!(meta.creation_date, START);
    assert_eq!(
        meta.arn,
        format!("arn:aws:kms:us-east-1:111122223333:key/{}", meta.key_id)
    );
    assert_eq!(meta.current_key_material_id.map(|id| id.len()), Some(64));
}

#[test]
fn create_key_takes_encrypt_decrypt_as_the_default_usage_whatever_the_spec() {
    let f = fixture();
    let rsa = CreateKeyRequest {
        key_spec: Some(KeySpec::Rsa2048),
        ..Default::default()
    };
    let meta = f.service.create_key(&f.me, rsa).unwrap().key_metadata;
    assert_eq!(meta.key_usage, KeyUsage::EncryptDecrypt);
    assert_eq!(
        meta.encryption_algorithms,
        [
            EncryptionAlgorithm::RsaesOaepSha1,
            EncryptionAlgorithm::RsaesOaepSha256
        ]
    );
    // An HMAC key has no ENCRYPT_DECRYPT usage: it must name GENERATE_VERIFY_MAC.
    let hmac = CreateKeyRequest {
        key_spec: Some(KeySpec::Hmac256),
        ..Default::default()
    };
    assert_err!(f.service.create_key(&f.me, hmac), KmsError::Validation);
    // A key of an HSM store names the store.
    let custom_key_store = CreateKeyRequest {
        origin: Some(Origin::AwsCloudhsm),
        ..Default::default()
    };
    assert_err!(
        f.service.create_key(&f.me, custom_key_store),
        KmsError::Validation
    );
    let external_key_store = CreateKeyRequest {
        origin: Some(Origin::ExternalKeyStore),
        ..Default::default()
    };
    assert_err!(
        f.service.create_key(&f.me, external_key_store),
        KmsError::Validation
    );
}

#[test]
fn create_key_refuses_an_overlong_description_and_stores_nothing() {
    let f = fixture();
    let req = CreateKeyRequest {
        description: Some("d".repeat(8193)),
        ..Default::default()
    };
    assert_err!(f.service.create_key(&f.me, req), KmsError::Validation);
    let keys = f
        .service
        .list_keys(&f.me, ListKeysRequest::default())
        .unwrap()
        .keys;
    assert!(keys.is_empty());
}

#[test]
fn keys_resolve_by_id_arn_alias_name_and_alias_arn() {
    let f = fixture();
    let key = f.key();
    f.alias("alias/orders", &key).unwrap();
    let arn = f.service.key_arn(&key.parse().unwrap());
    let alias_arn = "arn:aws:kms:us-east-1:111122223333:alias/orders";
    for reference in [key.as_str(), arn.as_str(), "alias/orders", alias_arn] {
        let meta = f
            .service
            .describe_key(&f.me, KeyRequest::new(reference))
            .unwrap();
        assert_eq!(meta.key_metadata.key_id, key, "via {reference}");
    }
}

#[test]
fn unknown_keys_are_not_found() {
    let f = fixture();
    for reference in [
        "1234abcd-12ab-34cd-56ef-1234567890ab",
        "not-a-key-id",
        "alias/missing",
        "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    ] {
        assert_err!(
            f.service.describe_key(&f.me, KeyRequest::new(reference)),
            KmsError::NotFound
        );
    }
}

#[test]
fn malformed_arns_are_invalid_arn() {
    let f = fixture();
    assert_err!(
        f.service
            .describe_key(&f.me, KeyRequest::new("arn:aws:s3:::bucket")),
        KmsError::InvalidArn
    );
    assert_err!(
        f.service.describe_key(&f.me, KeyRequest::new("")),
        KmsError::Validation
    );
}

// ---- Encrypt / Decrypt and encryption context ----

#[test]
fn encrypt_then_decrypt_returns_the_plaintext_and_key_arn() {
    let f = fixture();
    let key = f.key();
    let out = f
        .service
        .encrypt(
            &f.me,
            EncryptRequest::new(&key, b"secret".to_vec()).with_context(ctx(&[("a", "1")])),
        )
        .unwrap();
    let back = f
        .service
        .decrypt(
            &f.me,
            DecryptRequest::new(out.ciphertext_blob).with_context(ctx(&[("a", "1")])),
        )
        .unwrap();
    assert_eq!(back.plaintext.as_slice(), b"secret");
    assert_eq!(back.key_id, out.key_id);
    assert!(back.key_id.ends_with(&key));
}

#[test]
fn decrypt_fails_with_incorrect_encryption_context() {
    let f = fixture();
    let key = f.key();
    let blob = f
        .service
        .encrypt(
            &f.me,
            EncryptRequest::new(&key, b"x".to_vec()).with_context(ctx(&[("tenant", "a")])),
        )
        .unwrap()
        .ciphertext_blob;
    for wrong in [
        ctx(&[]),
        ctx(&[("tenant", "b")]),
        ctx(&[("tenant", "a"), ("extra", "1")]),
        ctx(&[("Tenant", "a")]),
    ] {
        let req = DecryptRequest::new(blob.clone()).with_context(wrong);
        assert_err!(f.service.decrypt(&f.me, req), KmsError::InvalidCiphertext);
    }
}

#[test]
fn empty_encryption_context_keys_and_values_are_refused_by_every_operation_that_takes_one() {
    let f = fixture();
    let key = f.key();
    let blob = f.encrypt(&key, b"x").unwrap();
    for bad in [
        ctx(&[("", "v")]),
        ctx(&[("k", "")]),
        ctx(&[("a", "1"), ("b", "")]),
    ] {
        let refused = |result: KmsResult<()>| match result {
            Err(KmsError::Validation(invalid)) => {
                assert_eq!(invalid.parameter, "EncryptionContext");
                assert_eq!(invalid.problem, "Invalid EncryptionContext");
            }
            other => panic!("expected ValidationException, got {other:?}"),
        };
        let encrypt = EncryptRequest::new(&key, b"x".to_vec()).with_context(bad.clone());
        refused(f.service.encrypt(&f.me, encrypt).map(drop));
        let decrypt = DecryptRequest::new(blob.clone()).with_context(bad.clone());
        refused(f.service.decrypt(&f.me, decrypt).map(drop));
        let data_key =
            GenerateDataKeyRequest::new(&key, DataKeySpec::Aes256).with_context(bad.clone());
        refused(
            f.service
                .generate_data_key(&f.me, data_key.clone())
                .map(drop),
        );
        refused(
            f.service
                .generate_data_key_without_plaintext(&f.me, data_key)
                .map(drop),
        );
        for (source, destination) in [(bad.clone(), ctx(&[])), (ctx(&[]), bad.clone())] {
            let re_encrypt = ReEncryptRequest {
                ciphertext_blob: blob.clone(),
                source_encryption_context: source,
                destination_key_id: key.clone(),
                destination_encryption_context: destination,
                ..Default::default()
            };
            refused(f.service.re_encrypt(&f.me, re_encrypt).map(drop));
        }
    }
}

#[test]
fn encryption_context_order_does_not_matter() {
    let f = fixture();
    let key = f.key();
    let blob = f
        .service
        .encrypt(
            &f.me,
            EncryptRequest::new(&key, b"x".to_vec()).with_context(ctx(&[("a", "1"), ("b", "2")])),
        )
        .unwrap()
        .ciphertext_blob;
    let req = DecryptRequest::new(blob).with_context(ctx(&[("b", "2"), ("a", "1")]));
    assert!(f.service.decrypt(&f.me, req).is_ok());
}

#[test]
fn encrypt_accepts_1_to_4096_bytes_only() {
    let f = fixture();
    let key = f.key();
    assert!(f.encrypt(&key, &[1u8; 4096]).is_ok());
    assert!(f.encrypt(&key, &[1u8]).is_ok());
    assert_err!(f.encrypt(&key, &[]), KmsError::Validation);
    assert_err!(f.encrypt(&key, &[1u8; 4097]), KmsError::Validation);
}

#[test]
fn encrypt_refuses_asymmetric_algorithms_for_symmetric_keys() {
    let f = fixture();
    let key = f.key();
    let mut req = EncryptRequest::new(&key, b"x".to_vec());
    req.encryption_algorithm = Some(kms_core::types::EncryptionAlgorithm::RsaesOaepSha256);
    assert_err!(f.service.encrypt(&f.me, req), KmsError::InvalidKeyUsage);
}

#[test]
fn decrypt_with_the_right_key_id_succeeds_and_with_another_fails_as_incorrect_key() {
    let f = fixture();
    let (a, b) = (f.key(), f.key());
    f.alias("alias/a", &a).unwrap();
    let blob = f.encrypt(&a, b"x").unwrap();
    assert!(
        f.service
            .decrypt(&f.me, DecryptRequest::new(blob.clone()).with_key("alias/a"))
            .is_ok()
    );
    assert_err!(
        f.service
            .decrypt(&f.me, DecryptRequest::new(blob).with_key(&b)),
        KmsError::IncorrectKey
    );
}

#[test]
fn tampered_and_foreign_ciphertexts_are_invalid_ciphertext() {
    let f = fixture();
    let key = f.key();
    let blob = f.encrypt(&key, b"hello").unwrap();
    for i in 0..blob.len() {
        let mut bad = blob.clone();
        bad[i] ^= 0x01;
        assert_err!(f.decrypt(&bad), KmsError::InvalidCiphertext);
    }
    assert_err!(
        f.decrypt(&blob[..blob.len() - 1]),
        KmsError::InvalidCiphertext
    );
    let other = fixture();
    let foreign = other.encrypt(&other.key(), b"hello").unwrap();
    assert_err!(f.decrypt(&foreign), KmsError::InvalidCiphertext);
    assert_err!(f.decrypt(&[]), KmsError::Validation);
}

// ---- ReEncrypt ----

#[test]
fn re_encrypt_moves_a_ciphertext_to_another_key_and_context() {
    let f = fixture();
    let (a, b) = (f.key(), f.key());
    let blob = f
        .service
        .encrypt(
            &f.me,
            EncryptRequest::new(&a, b"moved".to_vec()).with_context(ctx(&[("v", "1")])),
        )
        .unwrap()
        .ciphertext_blob;
    let out = f
        .service
        .re_encrypt(
            &f.me,
            ReEncryptRequest {
                ciphertext_blob: blob,
                source_encryption_context: ctx(&[("v", "1")]),
                destination_key_id: b.clone(),
                destination_encryption_context: ctx(&[("v", "2")]),
                ..Default::default()
            },
        )
        .unwrap();
    assert!(out.source_key_id.ends_with(&a));
    assert!(out.key_id.ends_with(&b));
    let back = f
        .service
        .decrypt(
            &f.me,
            DecryptRequest::new(out.ciphertext_blob).with_context(ctx(&[("v", "2")])),
        )
        .unwrap();
    assert_eq!(back.plaintext.as_slice(), b"moved");
    assert!(back.key_id.ends_with(&b));
}

#[test]
fn re_encrypt_fails_with_the_wrong_source_context() {
    let f = fixture();
    let (a, b) = (f.key(), f.key());
    let blob = f
        .service
        .encrypt(
            &f.me,
            EncryptRequest::new(&a, b"x".to_vec()).with_context(ctx(&[("v", "1")])),
        )
        .unwrap()
        .ciphertext_blob;
    let req = ReEncryptRequest {
        ciphertext_blob: blob,
        destination_key_id: b,
        ..Default::default()
    };
    assert_err!(
        f.service.re_encrypt(&f.me, req),
        KmsError::InvalidCiphertext
    );
}

// ---- Data keys and random ----

#[test]
fn generate_data_key_returns_a_key_whose_blob_decrypts_to_it() {
    let f = fixture();
    let key = f.key();
    for (spec, len) in [(DataKeySpec::Aes128, 16), (DataKeySpec::Aes256, 32)] {
        let out = f
            .service
            .generate_data_key(
                &f.me,
                GenerateDataKeyRequest::new(&key, spec).with_context(ctx(&[("f", "x")])),
            )
            .unwrap();
        assert_eq!(out.plaintext.len(), len);
        let back = f
            .service
            .decrypt(
                &f.me,
                DecryptRequest::new(out.ciphertext_blob).with_context(ctx(&[("f", "x")])),
            )
            .unwrap();
        assert_eq!(back.plaintext, out.plaintext);
    }
}

#[test]
fn generate_data_key_takes_number_of_bytes_from_1_to_1024() {
    let f = fixture();
    let key = f.key();
    let req = |n| GenerateDataKeyRequest {
        key_id: key.clone(),
        number_of_bytes: Some(n),
        ..Default::default()
    };
    assert_eq!(
        f.service
            .generate_data_key(&f.me, req(1))
            .unwrap()
            .plaintext
            .len(),
        1
    );
    assert_eq!(
        f.service
            .generate_data_key(&f.me, req(1024))
            .unwrap()
            .plaintext
            .len(),
        1024
    );
    assert_err!(
        f.service.generate_data_key(&f.me, req(0)),
        KmsError::Validation
    );
    assert_err!(
        f.service.generate_data_key(&f.me, req(1025)),
        KmsError::Validation
    );
}

#[test]
fn generate_data_key_needs_exactly_one_of_key_spec_and_number_of_bytes() {
    let f = fixture();
    let key = f.key();
    let both = GenerateDataKeyRequest {
        key_id: key.clone(),
        key_spec: Some(DataKeySpec::Aes256),
        number_of_bytes: Some(32),
        ..Default::default()
    };
    let neither = GenerateDataKeyRequest {
        key_id: key,
        ..Default::default()
    };
    assert_err!(
        f.service.generate_data_key(&f.me, both),
        KmsError::Validation
    );
    assert_err!(
        f.service.generate_data_key(&f.me, neither),
        KmsError::Validation
    );
}

#[test]
fn generate_data_key_without_plaintext_returns_only_the_blob() {
    let f = fixture();
    let key = f.key();
    let out = f
        .service
        .generate_data_key_without_plaintext(
            &f.me,
            GenerateDataKeyRequest::new(&key, DataKeySpec::Aes256),
        )
        .unwrap();
    let json = serde_json::to_value(&out).unwrap();
    assert!(json.get("Plaintext").is_none());
    assert_eq!(f.decrypt(&out.ciphertext_blob).unwrap().len(), 32);
}

#[test]
fn generate_random_returns_1_to_1024_fresh_bytes() {
    let f = fixture();
    let req = |n| GenerateRandomRequest {
        number_of_bytes: Some(n),
    };
    let a = f.service.generate_random(&f.me, req(32)).unwrap().plaintext;
    let b = f.service.generate_random(&f.me, req(32)).unwrap().plaintext;
    assert_eq!(a.len(), 32);
    assert_ne!(a, b);
    assert_eq!(
        f.service
            .generate_random(&f.me, req(1024))
            .unwrap()
            .plaintext
            .len(),
        1024
    );
    assert_err!(
        f.service.generate_random(&f.me, req(0)),
        KmsError::Validation
    );
    assert_err!(
        f.service.generate_random(&f.me, req(1025)),
        KmsError::Validation
    );
    assert_err!(
        f.service
            .generate_random(&f.me, GenerateRandomRequest::default()),
        KmsError::Validation
    );
}

// ---- Key state machine ----

#[test]
fn disable_and_enable_move_between_enabled_and_disabled() {
    let f = fixture();
    let key = f.key();
    f.service.disable_key(&f.me, KeyRequest::new(&key)).unwrap();
    assert_eq!(f.state(&key), KeyState::Disabled);
    f.service.disable_key(&f.me, KeyRequest::new(&key)).unwrap();
    assert_eq!(f.state(&key), KeyState::Disabled);
    f.service.enable_key(&f.me, KeyRequest::new(&key)).unwrap();
    assert_eq!(f.state(&key), KeyState::Enabled);
    f.service.enable_key(&f.me, KeyRequest::new(&key)).unwrap();
    assert_eq!(f.state(&key), KeyState::Enabled);
}

#[test]
fn a_disabled_key_refuses_cryptography_with_disabled_exception() {
    let f = fixture();
    let key = f.key();
    let blob = f.encrypt(&key, b"x").unwrap();
    f.service.disable_key(&f.me, KeyRequest::new(&key)).unwrap();
    assert_err!(f.encrypt(&key, b"x"), KmsError::Disabled);
    assert_err!(f.decrypt(&blob), KmsError::Disabled);
    assert_err!(
        f.service.generate_data_key(
            &f.me,
            GenerateDataKeyRequest::new(&key, DataKeySpec::Aes256)
        ),
        KmsError::Disabled
    );
    f.service.enable_key(&f.me, KeyRequest::new(&key)).unwrap();
    assert_eq!(f.decrypt(&blob).unwrap(), b"x");
}

#[test]
fn a_key_pending_deletion_refuses_cryptography_and_state_changes() {
    let f = fixture();
    let key = f.key();
    let blob = f.encrypt(&key, b"x").unwrap();
    f.schedule_deletion(&key, Some(7)).unwrap();
    assert_eq!(f.state(&key), KeyState::PendingDeletion);
    assert_err!(f.encrypt(&key, b"x"), KmsError::InvalidState);
    assert_err!(f.decrypt(&blob), KmsError::InvalidState);
    assert_err!(
        f.service.enable_key(&f.me, KeyRequest::new(&key)),
        KmsError::InvalidState
    );
    assert_err!(
        f.service.disable_key(&f.me, KeyRequest::new(&key)),
        KmsError::InvalidState
    );
    assert_err!(f.schedule_deletion(&key, Some(7)), KmsError::InvalidState);
    assert_err!(
        f.service.update_key_description(
            &f.me,
            UpdateKeyDescriptionRequest {
                key_id: key.clone(),
                description: "x".into()
            }
        ),
        KmsError::InvalidState
    );
    assert_err!(f.alias("alias/late", &key), KmsError::InvalidState);
}

#[test]
fn schedule_key_deletion_accepts_7_to_30_days_and_defaults_to_30() {
    let f = fixture();
    let key = f.key();
    assert_err!(f.schedule_deletion(&key, Some(6)), KmsError::Validation);
    assert_err!(f.schedule_deletion(&key, Some(31)), KmsError::Validation);
    assert_eq!(
        f.state(&key),
        KeyState::Enabled,
        "a refused request changes nothing"
    );
    let out = f.schedule_deletion(&key, None).unwrap();
    assert_eq!(out.pending_window_in_days, 30);
    assert_eq!(out.deletion_date, Some(START + 30 * SECONDS_PER_DAY));
    assert_eq!(out.key_state, KeyState::PendingDeletion);
}

#[test]
fn cancel_key_deletion_leaves_the_key_disabled() {
    let f = fixture();
    let key = f.key();
    f.schedule_deletion(&key, Some(7)).unwrap();
    f.service
        .cancel_key_deletion(&f.me, KeyRequest::new(&key))
        .unwrap();
    let meta = f
        .service
        .describe_key(&f.me, KeyRequest::new(&key))
        .unwrap()
        .key_metadata;
    assert_eq!(meta.key_state, KeyState::Disabled);
    assert_eq!(meta.deletion_date, None);
    assert_err!(
        f.service.cancel_key_deletion(&f.me, KeyRequest::new(&key)),
        KmsError::InvalidState
    );
}

#[test]
fn a_disabled_key_can_be_scheduled_for_deletion() {
    let f = fixture();
    let key = f.key();
    f.service.disable_key(&f.me, KeyRequest::new(&key)).unwrap();
    f.schedule_deletion(&key, Some(7)).unwrap();
    assert_eq!(f.state(&key), KeyState::PendingDeletion);
}

#[test]
fn a_key_is_deleted_with_its_aliases_once_the_waiting_period_has_passed() {
    let f = fixture();
    let key = f.key();
    f.alias("alias/doomed", &key).unwrap();
    f.schedule_deletion(&key, Some(7)).unwrap();
    f.clock.advance_days(7);
    assert_err!(
        f.service.describe_key(&f.me, KeyRequest::new(&key)),
        KmsError::NotFound
    );
    assert_err!(
        f.service
            .describe_key(&f.me, KeyRequest::new("alias/doomed")),
        KmsError::NotFound
    );
    let aliases = f
        .service
        .list_aliases(&f.me, ListAliasesRequest::default())
        .unwrap();
    assert!(aliases.aliases.is_empty());
}

#[test]
fn a_key_survives_until_the_last_second_of_its_waiting_period() {
    let f = fixture();
    let key = f.key();
    f.schedule_deletion(&key, Some(7)).unwrap();
    f.clock.advance(7 * SECONDS_PER_DAY - 1);
    assert_eq!(f.state(&key), KeyState::PendingDeletion);
}

#[test]
fn due_deletions_are_swept_without_touching_the_key() {
    let f = fixture();
    let key = f.key();
    f.schedule_deletion(&key, Some(7)).unwrap();
    f.clock.advance_days(8);
    assert_eq!(f.service.run_maintenance().unwrap(), 1);
    let keys = f
        .service
        .list_keys(&f.me, ListKeysRequest::default())
        .unwrap()
        .keys;
    assert!(keys.is_empty());
    let id: KeyId = key.parse().unwrap();
    assert!(f.service.vault().store().versions(&id).unwrap().is_empty());
}

// ---- Rotation ----

#[test]
fn enable_key_rotation_accepts_90_to_2560_days_and_defaults_to_365() {
    let f = fixture();
    let key = f.key();
    assert_err!(f.enable_rotation(&key, Some(89)), KmsError::Validation);
    assert_err!(f.enable_rotation(&key, Some(2561)), KmsError::Validation);
    f.enable_rotation(&key, None).unwrap();
    let status = f
        .service
        .get_key_rotation_status(&f.me, KeyRequest::new(&key))
        .unwrap();
    assert!(status.key_rotation_enabled);
    assert_eq!(status.rotation_period_in_days, Some(365));
    assert_eq!(
        status.next_rotation_date,
        Some(START + 365 * SECONDS_PER_DAY)
    );
    f.service
        .disable_key_rotation(&f.me, KeyRequest::new(&key))
        .unwrap();
    let status = f
        .service
        .get_key_rotation_status(&f.me, KeyRequest::new(&key))
        .unwrap();
    assert!(!status.key_rotation_enabled);
}

#[test]
fn automatic_rotation_adds_a_version_when_due_and_old_ciphertexts_still_decrypt() {
    let f = fixture();
    let key = f.key();
    f.alias("alias/rotating", &key).unwrap();
    f.enable_rotation(&key, Some(90)).unwrap();
    let old = f.encrypt(&key, b"before").unwrap();
    f.clock.advance_days(90);
    let new = f.encrypt("alias/rotating", b"after").unwrap();
    assert_eq!(blob::parse_header(&old).unwrap().version, 1);
    assert_eq!(blob::parse_header(&new).unwrap().version, 2);
    assert_eq!(f.decrypt(&old).unwrap(), b"before");
    assert_eq!(f.decrypt(&new).unwrap(), b"after");
    let rotations = f.rotations(&key);
    assert_eq!(rotations.len(), 1);
    assert_eq!(rotations[0].rotation_type, Some(RotationType::Automatic));
    let status = f
        .service
        .get_key_rotation_status(&f.me, KeyRequest::new(&key))
        .unwrap();
    assert_eq!(
        status.next_rotation_date,
        Some(START + 180 * SECONDS_PER_DAY)
    );
}

#[test]
fn disabled_keys_are_not_rotated_automatically() {
    let f = fixture();
    let key = f.key();
    f.enable_rotation(&key, Some(90)).unwrap();
    f.service.disable_key(&f.me, KeyRequest::new(&key)).unwrap();
    f.clock.advance_days(100);
    f.service.run_maintenance().unwrap();
    assert!(f.rotations(&key).is_empty());
    f.service.enable_key(&f.me, KeyRequest::new(&key)).unwrap();
    f.service.run_maintenance().unwrap();
    assert_eq!(f.rotations(&key).len(), 1, "rotation resumes once enabled");
}

#[test]
fn rotate_on_demand_keeps_id_and_aliases_and_is_capped_at_ten() {
    let f = fixture();
    let key = f.key();
    f.alias("alias/od", &key).unwrap();
    let mut blobs = vec![f.encrypt(&key, b"v1").unwrap()];
    for i in 0..MAX_ON_DEMAND_ROTATIONS {
        f.service
            .rotate_key_on_demand(&f.me, KeyRequest::new("alias/od"))
            .unwrap();
        blobs.push(
            f.encrypt("alias/od", format!("v{}", i + 2).as_bytes())
                .unwrap(),
        );
    }
    assert_err!(
        f.service.rotate_key_on_demand(&f.me, KeyRequest::new(&key)),
        KmsError::LimitExceeded
    );
    for (i, blob) in blobs.iter().enumerate() {
        assert_eq!(f.decrypt(blob).unwrap(), format!("v{}", i + 1).as_bytes());
    }
    let rotations = f.rotations(&key);
    assert_eq!(rotations.len(), 10);
    assert!(
        rotations
            .iter()
            .all(|r| r.rotation_type == Some(RotationType::OnDemand))
    );
    let status = f
        .service
        .get_key_rotation_status(&f.me, KeyRequest::new(&key))
        .unwrap();
    assert_eq!(status.on_demand_rotation_start_date, Some(START));
}

#[test]
fn rotation_of_a_disabled_key_is_refused() {
    let f = fixture();
    let key = f.key();
    f.service.disable_key(&f.me, KeyRequest::new(&key)).unwrap();
    assert_err!(
        f.service.rotate_key_on_demand(&f.me, KeyRequest::new(&key)),
        KmsError::Disabled
    );
    assert_err!(f.enable_rotation(&key, None), KmsError::Disabled);
}

#[test]
fn list_key_rotations_pages_through_rotations() {
    let f = fixture();
    let key = f.key();
    for _ in 0..3 {
        f.service
            .rotate_key_on_demand(&f.me, KeyRequest::new(&key))
            .unwrap();
    }
    let first = f
        .service
        .list_key_rotations(
            &f.me,
            ListForKeyRequest {
                key_id: key.clone(),
                limit: Some(2),
                marker: None,
                include_key_material: None,
            },
        )
        .unwrap();
    assert_eq!(first.rotations.len(), 2);
    assert!(first.truncated);
    let second = f
        .service
        .list_key_rotations(
            &f.me,
            ListForKeyRequest {
                key_id: key,
                limit: Some(2),
                marker: first.next_marker,
                include_key_material: None,
            },
        )
        .unwrap();
    assert_eq!(second.rotations.len(), 1);
    assert!(!second.truncated);
}

// ---- Aliases ----

#[test]
fn alias_names_follow_aws_rules() {
    let f = fixture();
    let key = f.key();
    for bad in ["orders", "alias/", "alias/a:b"] {
        assert_err!(f.alias(bad, &key), KmsError::InvalidAliasName);
    }
    for bad in ["alias/has space", "alias/é", ""] {
        assert_err!(f.alias(bad, &key), KmsError::Validation);
    }
    assert_err!(
        f.alias(&format!("alias/{}", "a".repeat(251)), &key),
        KmsError::Validation
    );
    f.alias(&format!("alias/{}", "a".repeat(250)), &key)
        .unwrap();
}

#[test]
fn aliases_under_alias_aws_are_not_authorized_for_anyone() {
    let f = fixture();
    let key = f.key();
    assert_err!(f.alias("alias/aws/s3", &key), KmsError::NotAuthorized);
    let update = AliasRequest {
        alias_name: "alias/aws/s3".into(),
        target_key_id: key.clone(),
    };
    assert_err!(
        f.service.update_alias(&f.me, update),
        KmsError::NotAuthorized
    );
    let delete = DeleteAliasRequest {
        alias_name: "alias/aws/ebs".into(),
    };
    assert_err!(
        f.service.delete_alias(&f.me, delete),
        KmsError::NotAuthorized
    );
    let err = f.alias("alias/aws/s3", &key).unwrap_err();
    assert_eq!(err.aws_type(), "NotAuthorizedException");
}

#[test]
fn alias_names_are_unique() {
    let f = fixture();
    let (a, b) = (f.key(), f.key());
    f.alias("alias/one", &a).unwrap();
    assert_err!(f.alias("alias/one", &b), KmsError::AlreadyExists);
}

#[test]
fn an_alias_cannot_target_another_alias() {
    let f = fixture();
    let key = f.key();
    f.alias("alias/one", &key).unwrap();
    assert_err!(f.alias("alias/two", "alias/one"), KmsError::Validation);
}

#[test]
fn update_alias_repoints_and_delete_alias_removes_only_the_alias() {
    let f = fixture();
    let (a, b) = (f.key(), f.key());
    f.alias("alias/current", &a).unwrap();
    f.service
        .update_alias(
            &f.me,
            AliasRequest {
                alias_name: "alias/current".into(),
                target_key_id: b.clone(),
            },
        )
        .unwrap();
    let meta = f
        .service
        .describe_key(&f.me, KeyRequest::new("alias/current"))
        .unwrap();
    assert_eq!(meta.key_metadata.key_id, b);
    f.service
        .delete_alias(
            &f.me,
            DeleteAliasRequest {
                alias_name: "alias/current".into(),
            },
        )
        .unwrap();
    assert_err!(
        f.service
            .describe_key(&f.me, KeyRequest::new("alias/current")),
        KmsError::NotFound
    );
    assert_eq!(f.state(&b), KeyState::Enabled);
    assert_err!(
        f.service.delete_alias(
            &f.me,
            DeleteAliasRequest {
                alias_name: "alias/current".into()
            }
        ),
        KmsError::NotFound
    );
}

#[test]
fn list_aliases_filters_by_key_and_pages() {
    let f = fixture();
    let (a, b) = (f.key(), f.key());
    for name in ["alias/a1", "alias/a2", "alias/a3"] {
        f.alias(name, &a).unwrap();
    }
    f.alias("alias/b1", &b).unwrap();
    let of_b = f
        .service
        .list_aliases(
            &f.me,
            ListAliasesRequest {
                key_id: Some(b.clone()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(of_b.aliases.len(), 1);
    assert_eq!(of_b.aliases[0].target_key_id, b);
    let mut names = Vec::new();
    let mut marker = None;
    loop {
        let page = f
            .service
            .list_aliases(
                &f.me,
                ListAliasesRequest {
                    limit: Some(3),
                    marker: marker.take(),
                    ..Default::default()
                },
            )
            .unwrap();
        names.extend(page.aliases.into_iter().map(|a| a.alias_name));
        if !page.truncated {
            break;
        }
        marker = page.next_marker;
    }
    assert_eq!(names, ["alias/a1", "alias/a2", "alias/a3", "alias/b1"]);
}

// ---- ListKeys ----

#[test]
fn list_keys_pages_through_every_key_once() {
    let f = fixture();
    let mut created: Vec<String> = (0..5).map(|_| f.key()).collect();
    created.sort();
    let mut seen = Vec::new();
    let mut marker = None;
    let mut pages = 0;
    loop {
        let page = f
            .service
            .list_keys(
                &f.me,
                ListKeysRequest {
                    limit: Some(2),
                    marker: marker.take(),
                },
            )
            .unwrap();
        pages += 1;
        seen.extend(page.keys.into_iter().map(|k| k.key_id));
        if !page.truncated {
            assert!(page.next_marker.is_none());
            break;
        }
        marker = page.next_marker;
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, created);
}

#[test]
fn list_keys_rejects_bad_limits_and_markers() {
    let f = fixture();
    for limit in [0, 1001] {
        let req = ListKeysRequest {
            limit: Some(limit),
            marker: None,
        };
        assert_err!(f.service.list_keys(&f.me, req), KmsError::Validation);
    }
    let req = ListKeysRequest {
        limit: None,
        marker: Some("!!not-a-marker".into()),
    };
    assert_err!(f.service.list_keys(&f.me, req), KmsError::InvalidMarker);
}

// ---- Tags and description ----

#[test]
fn tags_are_added_overwritten_listed_and_removed() {
    let f = fixture();
    let key = f.key();
    let tag = |k: &str, v: &str| Tag {
        tag_key: k.into(),
        tag_value: v.into(),
    };
    f.service
        .tag_resource(
            &f.me,
            TagResourceRequest {
                key_id: key.clone(),
                tags: vec![tag("team", "a"), tag("env", "prod")],
            },
        )
        .unwrap();
    f.service
        .tag_resource(
            &f.me,
            TagResourceRequest {
                key_id: key.clone(),
                tags: vec![tag("team", "b")],
            },
        )
        .unwrap();
    let tags = f
        .service
        .list_resource_tags(&f.me, ListForKeyRequest::new(&key))
        .unwrap()
        .tags;
    assert_eq!(tags, vec![tag("team", "b"), tag("env", "prod")]);
    f.service
        .untag_resource(
            &f.me,
            UntagResourceRequest {
                key_id: key.clone(),
                tag_keys: vec!["team".into(), "absent".into()],
            },
        )
        .unwrap();
    let tags = f
        .service
        .list_resource_tags(&f.me, ListForKeyRequest::new(&key))
        .unwrap()
        .tags;
    assert_eq!(tags, vec![tag("env", "prod")]);
}

#[test]
fn invalid_or_too_many_tags_change_nothing() {
    let f = fixture();
    let key = f.key();
    let bad = TagResourceRequest {
        key_id: key.clone(),
        tags: vec![Tag {
            tag_key: "aws:reserved".into(),
            tag_value: "x".into(),
        }],
    };
    assert_err!(f.service.tag_resource(&f.me, bad), KmsError::Tag);
    let many = TagResourceRequest {
        key_id: key.clone(),
        tags: (0..51)
            .map(|i| Tag {
                tag_key: format!("k{i}"),
                tag_value: "v".into(),
            })
            .collect(),
    };
    assert_err!(f.service.tag_resource(&f.me, many), KmsError::LimitExceeded);
    let tags = f
        .service
        .list_resource_tags(&f.me, ListForKeyRequest::new(&key))
        .unwrap()
        .tags;
    assert!(tags.is_empty());
}

#[test]
fn update_key_description_replaces_the_description() {
    let f = fixture();
    let key = f.key();
    f.service
        .update_key_description(
            &f.me,
            UpdateKeyDescriptionRequest {
                key_id: key.clone(),
                description: "new".into(),
            },
        )
        .unwrap();
    let meta = f
        .service
        .describe_key(&f.me, KeyRequest::new(&key))
        .unwrap()
        .key_metadata;
    assert_eq!(meta.description, "new");
}

// ---- Authorization and audit ----

#[test]
fn principals_of_another_account_are_denied_and_named_in_the_error() {
    let f = fixture();
    let key = f.key();
    let stranger = Caller::account_root("444455556666");
    let err = f
        .service
        .encrypt(&stranger, EncryptRequest::new(&key, b"x".to_vec()))
        .unwrap_err();
    assert!(matches!(err, KmsError::AccessDenied(_)));
    assert!(err.message().contains("arn:aws:iam::444455556666:root"));
    assert!(err.message().contains("kms:Encrypt"));
    assert_err!(
        f.service.create_key(&stranger, CreateKeyRequest::default()),
        KmsError::AccessDenied
    );
    let listed = f
        .service
        .list_keys(&stranger, ListKeysRequest::default())
        .unwrap();
    assert!(listed.keys.is_empty());
}

#[test]
fn every_call_is_audited_with_its_outcome_and_the_chain_verifies() {
    let f = fixture();
    let key = f.key();
    f.encrypt(&key, b"x").unwrap();
    let _ = f.encrypt(&key, b"");
    let _ = f.service.describe_key(&f.me, KeyRequest::new("alias/nope"));
    let events = AuditLog::events_after(f.service.vault().store(), 0, 100).unwrap();
    let summary: Vec<(&str, &str)> = events
        .iter()
        .map(|(_, e)| (e.operation.as_str(), e.outcome.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            ("CreateKey", "Success"),
            ("Encrypt", "Success"),
            ("Encrypt", "ValidationException"),
            ("DescribeKey", "NotFoundException"),
        ]
    );
    let (_, encrypt) = &events[1];
    assert!(encrypt.key_arn.as_deref().unwrap().ends_with(&key));
    assert_eq!(encrypt.principal, "arn:aws:iam::111122223333:root");
    assert_eq!(encrypt.source, "embedded");
    assert_eq!(
        f.service.verify_audit().unwrap(),
        Verification::Intact { records: 4 }
    );
}

#[test]
fn use_of_a_key_pending_deletion_is_audited() {
    let f = fixture();
    let key = f.key();
    f.schedule_deletion(&key, Some(7)).unwrap();
    let _ = f.encrypt(&key, b"x");
    let events = AuditLog::events_after(f.service.vault().store(), 0, 100).unwrap();
    let (_, last) = events.last().unwrap();
    assert_eq!(last.operation, "Encrypt");
    assert_eq!(last.outcome, "KMSInvalidStateException");
    assert!(last.key_arn.as_deref().unwrap().ends_with(&key));
}

#[test]
fn scheduled_deletions_and_rotations_are_audited_as_the_service() {
    let f = fixture();
    let (a, b) = (f.key(), f.key());
    f.enable_rotation(&a, Some(90)).unwrap();
    f.schedule_deletion(&b, Some(7)).unwrap();
    f.clock.advance_days(90);
    f.service.run_maintenance().unwrap();
    let events = AuditLog::events_after(f.service.vault().store(), 0, 100).unwrap();
    let scheduled: Vec<&str> = events
        .iter()
        .filter(|(_, e)| e.source == "kms")
        .map(|(_, e)| e.operation.as_str())
        .collect();
    assert_eq!(scheduled.len(), 2);
    assert!(scheduled.contains(&"RotateKey") && scheduled.contains(&"DeleteKey"));
}

#[test]
fn responses_never_carry_key_material() {
    let f = fixture();
    let key = f.key();
    let id: KeyId = key.parse().unwrap();
    let material = f.service.vault().material(&id, 1).unwrap();
    let secret = material.expose_secret();
    let meta = serde_json::to_string(
        &f.service
            .describe_key(&f.me, KeyRequest::new(&key))
            .unwrap(),
    )
    .unwrap();
    assert!(!meta.contains(&hex::encode(secret)));
    let blob = f.encrypt(&key, b"x").unwrap();
    assert!(!blob.windows(secret.len()).any(|w| w == secret));
    assert!(!format!("{:?}", f.service).contains(&hex::encode(secret)));
}

#[test]
fn validation_errors_name_the_parameter_at_fault() {
    let service = Service::in_memory().unwrap();
    let root = Caller::account_root(service.account());
    let parameter_of = |err: KmsError| match err {
        KmsError::Validation(invalid) => invalid.parameter.into_owned(),
        other => panic!("{other:?} is not a ValidationException"),
    };
    let random = service
        .generate_random(
            &root,
            GenerateRandomRequest {
                number_of_bytes: Some(0),
            },
        )
        .unwrap_err();
    assert_eq!(parameter_of(random), "NumberOfBytes");
    let key = service
        .create_key(&root, CreateKeyRequest::default())
        .unwrap()
        .key_metadata
        .key_id;
    let window = service
        .schedule_key_deletion(
            &root,
            ScheduleKeyDeletionRequest {
                key_id: key,
                pending_window_in_days: Some(3),
            },
        )
        .unwrap_err();
    assert_eq!(parameter_of(window), "PendingWindowInDays");
    let unnamed = service
        .describe_key(&root, KeyRequest::new(""))
        .unwrap_err();
    assert_eq!(parameter_of(unnamed), "KeyId");
}

fn key_of(f: &Fixture, spec: KeySpec, usage: KeyUsage) -> KeyMetadata {
    f.service
        .create_key(
            &f.me,
            CreateKeyRequest {
                key_spec: Some(spec),
                key_usage: Some(usage),
                ..Default::default()
            },
        )
        .unwrap()
        .key_metadata
}

fn ed25519_sign(
    f: &Fixture,
    key: &str,
    algorithm: SigningAlgorithmSpec,
    message_type: MessageType,
    message: &[u8],
) -> KmsResult<Vec<u8>> {
    f.service
        .sign(
            &f.me,
            SignRequest {
                key_id: key.into(),
                message: message.to_vec(),
                message_type: Some(message_type),
                signing_algorithm: Some(algorithm),
                grant_tokens: Vec::new(),
                dry_run: false,
            },
        )
        .map(|r| r.signature)
}

#[test]
fn ed25519_keys_sign_raw_messages_and_prehashed_digests() {
    use SigningAlgorithmSpec as A;
    let f = fixture();
    let meta = key_of(&f, KeySpec::EccNistEdwards25519, KeyUsage::SignVerify);
    assert_eq!(
        meta.signing_algorithms,
        [A::Ed25519Sha512, A::Ed25519PhSha512]
    );
    let key = meta.key_id;
    let pure = ed25519_sign(&f, &key, A::Ed25519Sha512, MessageType::Raw, b"order 42").unwrap();
    let digest = [9u8; 64];
    let prehashed =
        ed25519_sign(&f, &key, A::Ed25519PhSha512, MessageType::Digest, &digest).unwrap();
    for (algorithm, message_type, message, signature) in [
        (A::Ed25519Sha512, MessageType::Raw, &b"order 42"[..], &pure),
        (
            A::Ed25519PhSha512,
            MessageType::Digest,
            &digest[..],
            &prehashed,
        ),
    ] {
        let verified = f
            .service
            .verify(
                &f.me,
                VerifyRequest {
                    key_id: key.clone(),
                    message: message.to_vec(),
                    message_type: Some(message_type),
                    signature: signature.clone(),
                    signing_algorithm: Some(algorithm),
                    grant_tokens: Vec::new(),
                    dry_run: false,
                },
            )
            .unwrap();
        assert!(verified.signature_valid);
    }
    // AWS pairs ED25519_SHA_512 with RAW and ED25519_PH_SHA_512 with DIGEST, never the other way.
    assert_err!(
        ed25519_sign(&f, &key, A::Ed25519Sha512, MessageType::Digest, &digest),
        KmsError::Validation
    );
    assert_err!(
        ed25519_sign(&f, &key, A::Ed25519PhSha512, MessageType::Raw, b"order 42"),
        KmsError::Validation
    );
    assert_err!(
        ed25519_sign(&f, &key, A::EcdsaSha256, MessageType::Raw, b"order 42"),
        KmsError::InvalidKeyUsage
    );
    let public = f
        .service
        .get_public_key(&f.me, KeyRequest::new(&key))
        .unwrap();
    assert_eq!(public.key_spec, KeySpec::EccNistEdwards25519);
    assert_eq!(public.public_key.len(), 44);
    // Ed25519 keys sign and verify only.
    let agreement = CreateKeyRequest {
        key_spec: Some(KeySpec::EccNistEdwards25519),
        key_usage: Some(KeyUsage::KeyAgreement),
        ..Default::default()
    };
    assert_err!(f.service.create_key(&f.me, agreement), KmsError::Validation);
}

fn encapsulate(f: &Fixture, key: &str, dry_run: bool) -> KmsResult<EncapsulateResponse> {
    f.service.encapsulate(
        &f.me,
        EncapsulateRequest {
            key_id: key.into(),
            encapsulation_algorithm: Some(EncapsulationAlgorithmSpec::MlKem),
            grant_tokens: Vec::new(),
            dry_run,
        },
    )
}

fn decapsulate(f: &Fixture, key: &str, ciphertext: &[u8], dry_run: bool) -> KmsResult<Vec<u8>> {
    f.service
        .decapsulate(
            &f.me,
            DecapsulateRequest {
                key_id: key.into(),
                shared_secret_ciphertext_blob: ciphertext.to_vec(),
                encapsulation_algorithm: Some(EncapsulationAlgorithmSpec::MlKem),
                grant_tokens: Vec::new(),
                dry_run,
            },
        )
        .map(|r| r.shared_secret.to_vec())
}

#[test]
fn ml_kem_keys_encapsulate_and_decapsulate_the_same_secret() {
    let f = fixture();
    for (spec, ciphertext_len) in [
        (KeySpec::MlKem512, 768),
        (KeySpec::MlKem768, 1088),
        (KeySpec::MlKem1024, 1568),
    ] {
        let meta = key_of(&f, spec, KeyUsage::EncapsulateDecapsulate);
        assert_eq!(
            meta.encapsulation_algorithms,
            [EncapsulationAlgorithmSpec::MlKem]
        );
        assert!(meta.signing_algorithms.is_empty() && meta.encryption_algorithms.is_empty());
        let key = meta.key_id;
        let sent = encapsulate(&f, &key, false).unwrap();
        assert_eq!(sent.shared_secret_ciphertext_blob.len(), ciphertext_len);
        assert_eq!(sent.shared_secret.len(), 32);
        assert!(sent.key_id.ends_with(&key));
        let received = decapsulate(&f, &key, &sent.shared_secret_ciphertext_blob, false).unwrap();
        assert_eq!(received, *sent.shared_secret);
        assert_err!(
            decapsulate(&f, &key, &sent.shared_secret_ciphertext_blob[1..], false),
            KmsError::InvalidCiphertext
        );
        let public = f
            .service
            .get_public_key(&f.me, KeyRequest::new(&key))
            .unwrap();
        assert_eq!(public.key_usage, KeyUsage::EncapsulateDecapsulate);
        assert_eq!(
            public.encapsulation_algorithms,
            [EncapsulationAlgorithmSpec::MlKem]
        );
    }
}

#[test]
fn ml_kem_keys_need_their_usage_and_serve_nothing_else() {
    let f = fixture();
    let default_usage = CreateKeyRequest {
        key_spec: Some(KeySpec::MlKem768),
        ..Default::default()
    };
    assert_err!(
        f.service.create_key(&f.me, default_usage),
        KmsError::Validation
    );
    let kem = key_of(&f, KeySpec::MlKem768, KeyUsage::EncapsulateDecapsulate).key_id;
    assert_err!(f.encrypt(&kem, b"x"), KmsError::InvalidKeyUsage);
    let symmetric = f.key();
    assert_err!(
        encapsulate(&f, &symmetric, false),
        KmsError::InvalidKeyUsage
    );
    assert_err!(
        decapsulate(&f, &symmetric, &[0; 1088], false),
        KmsError::InvalidKeyUsage
    );
}

#[test]
fn encapsulate_and_decapsulate_honour_dry_run_and_are_audited() {
    let f = fixture();
    let key = key_of(&f, KeySpec::MlKem512, KeyUsage::EncapsulateDecapsulate).key_id;
    assert_err!(encapsulate(&f, &key, true), KmsError::DryRunOperation);
    assert_err!(
        decapsulate(&f, &key, &[0; 768], true),
        KmsError::DryRunOperation
    );
    let sent = encapsulate(&f, &key, false).unwrap();
    decapsulate(&f, &key, &sent.shared_secret_ciphertext_blob, false).unwrap();
    let events = AuditLog::events_after(f.service.vault().store(), 0, 100).unwrap();
    let summary: Vec<(&str, &str)> = events
        .iter()
        .map(|(_, e)| (e.operation.as_str(), e.outcome.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            ("CreateKey", "Success"),
            ("Encapsulate", "DryRunOperationException"),
            ("Decapsulate", "DryRunOperationException"),
            ("Encapsulate", "Success"),
            ("Decapsulate", "Success"),
        ]
    );
    assert!(events[4].1.key_arn.as_deref().unwrap().ends_with(&key));
}

#[test]
fn data_key_pairs_of_ed25519_and_ml_kem_are_generated() {
    let f = fixture();
    let key = f.key();
    for spec in [
        DataKeyPairSpec::EccNistEdwards25519,
        DataKeyPairSpec::MlKem512,
        DataKeyPairSpec::MlKem1024,
    ] {
        let pair = f
            .service
            .generate_data_key_pair(
                &f.me,
                GenerateDataKeyPairRequest {
                    key_id: key.clone(),
                    key_pair_spec: Some(spec),
                    ..Default::default()
                },
            )
            .unwrap();
        let private = pair.private_key_plaintext.unwrap();
        assert_eq!(
            f.decrypt(&pair.private_key_ciphertext_blob).unwrap(),
            *private
        );
        assert!(!pair.public_key.is_empty());
    }
}

/// Issue 13, finding 3: AWS requires one or more principals in every key policy statement.
const POLICY_WITHOUT_PRINCIPAL: &str = r#"{"Version":"2012-10-17","Statement":[
    {"Sid":"Root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},
    {"Sid":"Everyone","Effect":"Allow","Action":"kms:Decrypt","Resource":"*"}]}"#;

#[test]
fn create_key_refuses_a_key_policy_statement_without_a_principal() {
    let f = fixture();
    for bypass in [false, true] {
        let err = f
            .service
            .create_key(
                &f.me,
                CreateKeyRequest {
                    policy: Some(POLICY_WITHOUT_PRINCIPAL.into()),
                    bypass_policy_lockout_safety_check: Some(bypass),
                    ..CreateKeyRequest::default()
                },
            )
            .unwrap_err();
        assert_eq!(err.aws_type(), "MalformedPolicyDocumentException");
    }
    let keys = f.service.list_keys(&f.me, ListKeysRequest::default());
    assert!(keys.unwrap().keys.is_empty());
}

#[test]
fn put_key_policy_refuses_a_statement_without_a_principal_and_keeps_the_old_policy() {
    let f = fixture();
    let key = f.key();
    let err = f
        .service
        .put_key_policy(
            &f.me,
            PutKeyPolicyRequest {
                key_id: key.clone(),
                policy_name: None,
                policy: POLICY_WITHOUT_PRINCIPAL.into(),
                bypass_policy_lockout_safety_check: Some(true),
            },
        )
        .unwrap_err();
    assert_eq!(err.aws_type(), "MalformedPolicyDocumentException");
    let kept = f
        .service
        .get_key_policy(
            &f.me,
            KeyPolicyRequest {
                key_id: key,
                policy_name: None,
            },
        )
        .unwrap()
        .policy;
    assert_eq!(kept, authz::default_key_policy(f.service.account()));
}

#[test]
fn decrypt_with_dry_run_returns_no_plaintext_and_notes_no_use() {
    let f = fixture();
    let key = f.key();
    let blob = f.encrypt(&key, b"secret").unwrap();
    let before = f
        .service
        .get_key_last_usage(&f.me, KeyRequest::new(&key))
        .unwrap()
        .key_last_usage;
    let dry = DecryptRequest {
        dry_run: true,
        ..DecryptRequest::new(blob)
    };
    assert_err!(f.service.decrypt(&f.me, dry), KmsError::DryRunOperation);
    let after = f
        .service
        .get_key_last_usage(&f.me, KeyRequest::new(&key))
        .unwrap()
        .key_last_usage;
    assert_eq!(after.operation, before.operation);
    let events = AuditLog::events_after(f.service.vault().store(), 0, 100).unwrap();
    let (_, last) = events
        .iter()
        .rfind(|(_, e)| e.operation == "Decrypt")
        .unwrap();
    assert_eq!(last.outcome, "DryRunOperationException");
}

#[test]
fn encrypt_sign_and_data_keys_with_dry_run_produce_nothing() {
    let f = fixture();
    let key = f.key();
    let encrypt = EncryptRequest {
        dry_run: true,
        ..EncryptRequest::new(&key, b"x".to_vec())
    };
    assert_err!(f.service.encrypt(&f.me, encrypt), KmsError::DryRunOperation);
    let data_key = GenerateDataKeyRequest {
        dry_run: true,
        ..GenerateDataKeyRequest::new(&key, DataKeySpec::Aes256)
    };
    assert_err!(
        f.service.generate_data_key(&f.me, data_key),
        KmsError::DryRunOperation
    );
    let pair = GenerateDataKeyPairRequest {
        key_id: key.clone(),
        key_pair_spec: Some(DataKeyPairSpec::EccNistP256),
        dry_run: true,
        ..Default::default()
    };
    assert_err!(
        f.service.generate_data_key_pair(&f.me, pair),
        KmsError::DryRunOperation
    );
    let signer = key_of(&f, KeySpec::EccNistP256, KeyUsage::SignVerify).key_id;
    let sign = SignRequest {
        key_id: signer,
        message: b"m".to_vec(),
        signing_algorithm: Some(SigningAlgorithmSpec::EcdsaSha256),
        dry_run: true,
        ..Default::default()
    };
    assert_err!(f.service.sign(&f.me, sign), KmsError::DryRunOperation);
}

#[test]
fn a_refused_dry_run_is_access_denied() {
    let f = fixture();
    let key = f.key();
    let blob = f.encrypt(&key, b"secret").unwrap();
    let stranger = Caller::account_root("444455556666");
    let dry = DecryptRequest {
        dry_run: true,
        ..DecryptRequest::new(blob)
    };
    assert_err!(f.service.decrypt(&stranger, dry), KmsError::AccessDenied);
}

#[test]
fn a_dry_run_on_a_disabled_key_answers_disabled_as_the_real_call_would() {
    let f = fixture();
    let key = f.key();
    let blob = f.encrypt(&key, b"secret").unwrap();
    f.service.disable_key(&f.me, KeyRequest::new(&key)).unwrap();
    let decrypt = DecryptRequest {
        dry_run: true,
        ..DecryptRequest::new(blob)
    };
    assert_err!(f.service.decrypt(&f.me, decrypt), KmsError::Disabled);
    let encrypt = EncryptRequest {
        dry_run: true,
        ..EncryptRequest::new(&key, b"x".to_vec())
    };
    assert_err!(f.service.encrypt(&f.me, encrypt), KmsError::Disabled);
}

/// A dry run answers what the real call would: a key of the wrong usage or an algorithm the key
/// does not support is refused as such, not reported as a call that would succeed.
#[test]
fn a_dry_run_refuses_a_key_or_algorithm_the_real_call_would_refuse() {
    let f = fixture();
    let symmetric = f.key();
    let signer = key_of(&f, KeySpec::EccNistP256, KeyUsage::SignVerify).key_id;
    let rsa = key_of(&f, KeySpec::Rsa2048, KeyUsage::EncryptDecrypt).key_id;
    let hmac = key_of(&f, KeySpec::Hmac256, KeyUsage::GenerateVerifyMac).key_id;
    let encrypt_with_a_signing_key = EncryptRequest {
        dry_run: true,
        ..EncryptRequest::new(&signer, b"x".to_vec())
    };
    assert_err!(
        f.service.encrypt(&f.me, encrypt_with_a_signing_key),
        KmsError::InvalidKeyUsage
    );
    let oaep_on_a_symmetric_key = EncryptRequest {
        dry_run: true,
        encryption_algorithm: Some(EncryptionAlgorithm::RsaesOaepSha256),
        ..EncryptRequest::new(&symmetric, b"x".to_vec())
    };
    assert_err!(
        f.service.encrypt(&f.me, oaep_on_a_symmetric_key),
        KmsError::InvalidKeyUsage
    );
    let data_key_under_rsa = GenerateDataKeyRequest {
        dry_run: true,
        ..GenerateDataKeyRequest::new(&rsa, DataKeySpec::Aes256)
    };
    assert_err!(
        f.service.generate_data_key(&f.me, data_key_under_rsa),
        KmsError::InvalidKeyUsage
    );
    let rsa_algorithm_on_ecdsa = SignRequest {
        key_id: signer.clone(),
        message: b"m".to_vec(),
        signing_algorithm: Some(SigningAlgorithmSpec::RsassaPssSha256),
        dry_run: true,
        ..Default::default()
    };
    assert_err!(
        f.service.sign(&f.me, rsa_algorithm_on_ecdsa),
        KmsError::InvalidKeyUsage
    );
    let wrong_mac = GenerateMacRequest {
        key_id: hmac,
        message: b"m".to_vec(),
        mac_algorithm: Some(kms_core::types::MacAlgorithmSpec::HmacSha512),
        dry_run: true,
        ..Default::default()
    };
    assert_err!(
        f.service.generate_mac(&f.me, wrong_mac),
        KmsError::InvalidKeyUsage
    );
}

/// ReEncrypt's dry run checks the destination as the real call would use it, not only the
/// permission to re-encrypt to it.
#[test]
fn a_re_encrypt_dry_run_refuses_a_destination_the_real_call_could_not_use() {
    let f = fixture();
    let source = f.key();
    let blob = f.encrypt(&source, b"secret").unwrap();
    let disabled = f.key();
    f.service
        .disable_key(&f.me, KeyRequest::new(&disabled))
        .unwrap();
    let signer = key_of(&f, KeySpec::EccNistP256, KeyUsage::SignVerify).key_id;
    let to = |destination: &str| ReEncryptRequest {
        ciphertext_blob: blob.clone(),
        destination_key_id: destination.to_string(),
        dry_run: true,
        ..Default::default()
    };
    assert_err!(
        f.service.re_encrypt(&f.me, to(&disabled)),
        KmsError::Disabled
    );
    assert_err!(
        f.service.re_encrypt(&f.me, to(&signer)),
        KmsError::InvalidKeyUsage
    );
    assert_err!(
        f.service.re_encrypt(&f.me, to(&source)),
        KmsError::DryRunOperation
    );
}

/// Issue 13: responses holding plaintext print its length, never its bytes.
#[test]
fn responses_holding_secrets_do_not_print_them() {
    let f = fixture();
    let key = f.key();
    let blob = f.encrypt(&key, b"TOPSECRET").unwrap();
    let response = f.service.decrypt(&f.me, DecryptRequest::new(blob)).unwrap();
    let printed = format!("{response:?}");
    assert!(printed.contains("SecretBytes(9 bytes)"), "{printed}");
    // The bytes of "TOPSECRET" appear neither as text nor as a list of numbers.
    assert!(
        !printed.contains("TOPSECRET") && !printed.contains("84, 79, 80"),
        "{printed}"
    );
    let random = f
        .service
        .generate_random(
            &f.me,
            GenerateRandomRequest {
                number_of_bytes: Some(32),
            },
        )
        .unwrap();
    assert_eq!(
        format!("{random:?}"),
        "GenerateRandomResponse { plaintext: SecretBytes(32 bytes) }"
    );
}

#[test]
fn a_call_interceptor_answers_in_place_of_the_call_and_the_refusal_is_audited() {
    let f = fixture();
    let key = f.key();
    let throttled = Arc::new(std::sync::atomic::AtomicU32::new(1));
    let left = throttled.clone();
    f.service
        .set_call_interceptor(Some(Arc::new(move |_, _, operation| {
            if operation == "Encrypt"
                && left
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok()
            {
                return Err(KmsError::Throttling("Rate exceeded".into()));
            }
            Ok(())
        })));
    assert!(matches!(
        f.encrypt(&key, b"x"),
        Err(KmsError::Throttling(_))
    ));
    // The next one runs: the interceptor answered only once.
    let blob = f.encrypt(&key, b"x").unwrap();
    let trail = f.service.lookup_audit_events(&f.me, 0, 1000).unwrap();
    let outcomes: Vec<_> = trail
        .iter()
        .filter(|(_, e)| e.operation == "Encrypt")
        .map(|(_, e)| e.outcome.as_str())
        .collect();
    assert_eq!(outcomes, ["ThrottlingException", "Success"]);

    // An interceptor may change the vault through the service before letting the call run:
    // the key is disabled just before the Decrypt that would have used it.
    let target = key.clone();
    f.service
        .set_call_interceptor(Some(Arc::new(move |service, _, operation| {
            if operation == "Decrypt" {
                let root = Caller::account_root(service.account());
                service.disable_key(&root, KeyRequest::new(&target))?;
            }
            Ok(())
        })));
    assert!(matches!(f.decrypt(&blob), Err(KmsError::Disabled(_))));
    f.service.set_call_interceptor(None);
    f.service.enable_key(&f.me, KeyRequest::new(&key)).unwrap();
    assert_eq!(f.decrypt(&blob).unwrap(), b"x");
}
