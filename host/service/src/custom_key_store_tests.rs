//! Custom key stores on a real PKCS#11 token (SoftHSM2 in CI; skipped with a note without one):
//! the life of an HSM store and of a key in it, and AWS's errors on the way.

use std::sync::Arc;

use super::*;
use kms_core::error::KeyStoreFault;
use kms_core::types::{DataKeySpec, Origin};
use kms_vault::hsm::HsmToken;
use kms_vault::hsm::testing::{TestToken, test_token};

const ANCHOR: &str =
    "-----BEGIN CERTIFICATE-----\nMIIBkTCB+wIJAKHHIG...test+anchor\n-----END CERTIFICATE-----\n";

struct Fixture {
    service: Service,
    clock: Arc<ManualClock>,
    root: Caller,
    token: TestToken,
}

fn fixture() -> Option<Fixture> {
    let token = test_token()?;
    let clock = Arc::new(ManualClock::new(1_700_000_000));
    let service = Service::in_memory_with_clock(clock.clone()).unwrap();
    let root = Caller::account_root(service.account());
    Some(Fixture {
        service,
        clock,
        root,
        token,
    })
}

fn fault_of(err: KmsError) -> KeyStoreFault {
    match err {
        KmsError::KeyStore(fault, _) => fault,
        other => panic!("not a custom key store error: {other:?}"),
    }
}

impl Fixture {
    fn register(&self, cluster_id: &str, anchor: &str) {
        self.service
            .register_hsm_cluster(
                &self.root,
                HsmCluster {
                    cluster_id: cluster_id.into(),
                    module: self.token.module.clone(),
                    token_label: self.token.label.clone(),
                    trust_anchor_certificate: anchor.into(),
                },
            )
            .unwrap();
    }

    fn create_store(&self, name: &str, cluster_id: &str, pin: &str) -> KmsResult<String> {
        self.service
            .create_custom_key_store(
                &self.root,
                CreateCustomKeyStoreRequest {
                    custom_key_store_name: name.into(),
                    cloud_hsm_cluster_id: Some(cluster_id.into()),
                    trust_anchor_certificate: Some(ANCHOR.into()),
                    key_store_password: Some(pin.into()),
                    ..Default::default()
                },
            )
            .map(|r| r.custom_key_store_id)
    }

    fn store(&self, id: &str) -> CustomKeyStoresListEntry {
        self.service
            .describe_custom_key_stores(
                &self.root,
                DescribeCustomKeyStoresRequest {
                    custom_key_store_id: Some(id.into()),
                    ..Default::default()
                },
            )
            .unwrap()
            .custom_key_stores
            .remove(0)
    }

    fn connect(&self, id: &str) -> KmsResult<()> {
        self.service.connect_custom_key_store(
            &self.root,
            CustomKeyStoreRequest {
                custom_key_store_id: id.into(),
            },
        )
    }

    fn disconnect(&self, id: &str) {
        self.service
            .disconnect_custom_key_store(
                &self.root,
                CustomKeyStoreRequest {
                    custom_key_store_id: id.into(),
                },
            )
            .unwrap();
    }

    fn key_in(&self, store: &str) -> KmsResult<KeyMetadata> {
        self.service
            .create_key(
                &self.root,
                CreateKeyRequest {
                    origin: Some(Origin::AwsCloudhsm),
                    custom_key_store_id: Some(store.into()),
                    ..Default::default()
                },
            )
            .map(|r| r.key_metadata)
    }

    fn encrypt(&self, key: &str) -> KmsResult<Vec<u8>> {
        self.service
            .encrypt(
                &self.root,
                EncryptRequest::new(key, b"held by the HSM".to_vec()),
            )
            .map(|r| r.ciphertext_blob)
    }

    fn decrypt(&self, blob: &[u8]) -> KmsResult<Vec<u8>> {
        self.service
            .decrypt(&self.root, DecryptRequest::new(blob.to_vec()))
            .map(|r| r.plaintext.to_vec())
    }
}

/// A cluster id of its own per test: tests share the token but not their registrations.
fn cluster_id() -> String {
    let mut bytes = [0u8; 6];
    kms_crypto::fill_random(&mut bytes).unwrap();
    let letters: String = bytes
        .iter()
        .flat_map(|b| [b'a' + b % 26, b'a' + (b / 26) % 26])
        .map(char::from)
        .collect();
    format!("cluster-{letters}")
}

#[test]
fn a_key_in_an_hsm_store_lives_and_works_inside_the_token() {
    let Some(f) = fixture() else {
        return;
    };
    let cluster = cluster_id();
    f.register(&cluster, ANCHOR);
    let store = f.create_store("hsm", &cluster, &f.token.pin).unwrap();
    assert!(store.starts_with("cks-") && store.len() == 21, "{store}");
    assert_eq!(f.store(&store).connection_state, "DISCONNECTED");
    // Keys go only into a connected store.
    assert_eq!(
        fault_of(f.key_in(&store).unwrap_err()),
        KeyStoreFault::InvalidState
    );
    f.connect(&store).unwrap();
    let entry = f.store(&store);
    assert_eq!(
        (entry.connection_state.as_str(), entry.connection_error_code),
        ("CONNECTED", None)
    );

    let key = f.key_in(&store).unwrap();
    assert_eq!(key.origin, Origin::AwsCloudhsm);
    assert_eq!(key.custom_key_store_id.as_deref(), Some(store.as_str()));
    assert_eq!(key.cloud_hsm_cluster_id.as_deref(), Some(cluster.as_str()));
    let blob = f.encrypt(&key.key_id).unwrap();
    assert_eq!(f.decrypt(&blob).unwrap(), b"held by the HSM");
    let data_key = f
        .service
        .generate_data_key(
            &f.root,
            GenerateDataKeyRequest {
                key_id: key.key_id.clone(),
                key_spec: Some(DataKeySpec::Aes256),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        f.decrypt(&data_key.ciphertext_blob).unwrap(),
        data_key.plaintext.to_vec()
    );
    // The material is the token's, and cannot leave it.
    let token = HsmToken::connect(&f.token.module, &f.token.label, &f.token.pin).unwrap();
    let label = custom_key_stores::token_key_label(&key.key_id.parse().unwrap(), 1);
    let protection = token.key(&label).unwrap().unwrap().protection().unwrap();
    assert!(protection.sensitive && !protection.extractable && protection.value_refused);

    // Disconnected: its keys are unavailable and refused as AWS refuses them.
    f.disconnect(&store);
    assert_eq!(f.store(&store).connection_state, "DISCONNECTED");
    assert!(matches!(
        f.encrypt(&key.key_id),
        Err(KmsError::InvalidState(_))
    ));
    assert!(matches!(f.decrypt(&blob), Err(KmsError::InvalidState(_))));
    let described = f
        .service
        .describe_key(&f.root, KeyRequest::new(&key.key_id))
        .unwrap()
        .key_metadata;
    assert_eq!(described.key_state, KeyState::Unavailable);
    f.connect(&store).unwrap();
    assert_eq!(f.decrypt(&blob).unwrap(), b"held by the HSM");

    // A store that holds a key is not deleted; the key's deletion erases it from the token.
    f.disconnect(&store);
    let delete = || {
        f.service.delete_custom_key_store(
            &f.root,
            CustomKeyStoreRequest {
                custom_key_store_id: store.clone(),
            },
        )
    };
    assert_eq!(fault_of(delete().unwrap_err()), KeyStoreFault::HasKeys);
    f.connect(&store).unwrap();
    f.service
        .schedule_key_deletion(
            &f.root,
            ScheduleKeyDeletionRequest {
                key_id: key.key_id.clone(),
                pending_window_in_days: Some(7),
            },
        )
        .unwrap();
    f.clock.advance_days(8);
    f.service.run_maintenance().unwrap();
    // Asked afresh (a token remembers the handles it has found).
    let fresh = HsmToken::connect(&f.token.module, &f.token.label, &f.token.pin).unwrap();
    assert!(fresh.key(&label).unwrap().is_none(), "erased from the HSM");
    // Connected stores are not deleted either.
    assert_eq!(fault_of(delete().unwrap_err()), KeyStoreFault::InvalidState);
    f.disconnect(&store);
    delete().unwrap();
}

#[test]
fn a_wrong_pin_fails_the_connection_with_its_code_until_disconnected_and_fixed() {
    let Some(f) = fixture() else {
        return;
    };
    let cluster = cluster_id();
    f.register(&cluster, ANCHOR);
    let store = f
        .create_store("wrong pin", &cluster, "not-the-pin")
        .unwrap();
    f.connect(&store).unwrap();
    let entry = f.store(&store);
    assert_eq!(entry.connection_state, "FAILED");
    assert_eq!(
        entry.connection_error_code.as_deref(),
        Some("INVALID_CREDENTIALS")
    );
    assert_eq!(
        fault_of(f.connect(&store).unwrap_err()),
        KeyStoreFault::InvalidState
    );
    // The password changes only while disconnected.
    let update = |pin: &str| {
        f.service.update_custom_key_store(
            &f.root,
            UpdateCustomKeyStoreRequest {
                custom_key_store_id: store.clone(),
                key_store_password: Some(pin.into()),
                ..Default::default()
            },
        )
    };
    assert_eq!(
        fault_of(update(&f.token.pin).unwrap_err()),
        KeyStoreFault::InvalidState
    );
    f.disconnect(&store);
    update(&f.token.pin).unwrap();
    f.connect(&store).unwrap();
    assert_eq!(f.store(&store).connection_state, "CONNECTED");
}

#[test]
fn creating_a_store_checks_the_cluster_its_anchor_and_the_name() {
    let Some(f) = fixture() else {
        return;
    };
    let cluster = cluster_id();
    let missing = f.create_store("a", &cluster, &f.token.pin).unwrap_err();
    assert_eq!(fault_of(missing), KeyStoreFault::ClusterNotFound);
    let other_anchor = ANCHOR.replace("test+anchor", "another+one");
    f.register(&cluster, &other_anchor);
    let wrong = f.create_store("a", &cluster, &f.token.pin).unwrap_err();
    assert_eq!(fault_of(wrong), KeyStoreFault::IncorrectTrustAnchor);
    f.register(&cluster, ANCHOR);
    f.create_store("a", &cluster, &f.token.pin).unwrap();
    let in_use = f.create_store("b", &cluster, &f.token.pin).unwrap_err();
    assert_eq!(fault_of(in_use), KeyStoreFault::ClusterInUse);
    let second = cluster_id();
    f.register(&second, ANCHOR);
    let taken = f.create_store("a", &second, &f.token.pin).unwrap_err();
    assert_eq!(fault_of(taken), KeyStoreFault::NameInUse);
    assert!(matches!(
        f.create_store("b", &second, "short"),
        Err(KmsError::Validation(_))
    ));
    // Registration is the account root's.
    let alice = Caller::principal("arn:aws:iam::111122223333:user/alice").unwrap();
    let refused = f.service.register_hsm_cluster(
        &alice,
        HsmCluster {
            cluster_id: cluster_id(),
            module: f.token.module.clone(),
            token_label: f.token.label.clone(),
            trust_anchor_certificate: ANCHOR.into(),
        },
    );
    assert!(matches!(refused, Err(KmsError::AccessDenied(_))));
    let unknown = f
        .service
        .describe_custom_key_stores(
            &f.root,
            DescribeCustomKeyStoresRequest {
                custom_key_store_id: Some("cks-00000000000000000".into()),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(fault_of(unknown), KeyStoreFault::NotFound);
}
