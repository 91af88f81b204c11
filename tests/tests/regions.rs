//! Regions and multi-Region keys through the service façade: each region its own namespace of
//! keys, aliases, grants and quotas over one vault; related multi-Region keys sharing material
//! and id but nothing else; rotation reaching replicas; AWS's deletion and primary rules.

use std::sync::Arc;

use kms_service::{
    Caller, KeyRequest, KmsError, ManualClock, ResourceLimits, Service, UpdatePrimaryRegionRequest,
};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

const START: u64 = 1_780_000_000;

fn request<T: DeserializeOwned>(body: Value) -> T {
    serde_json::from_value(body).unwrap()
}

struct World {
    clock: Arc<ManualClock>,
    east: Service,
    west: Service,
    admin: Caller,
}

fn world() -> World {
    let clock = Arc::new(ManualClock::new(START));
    let east = Service::in_memory_with_clock(clock.clone()).unwrap();
    let west = east.in_region("eu-west-1").unwrap();
    let admin = Caller::account_root(east.account());
    World {
        clock,
        east,
        west,
        admin,
    }
}

impl World {
    fn create(&self, svc: &Service, body: Value) -> kms_service::KeyMetadata {
        svc.create_key(&self.admin, request(body))
            .unwrap()
            .key_metadata
    }

    fn describe(&self, svc: &Service, key: &str) -> Result<kms_service::KeyMetadata, KmsError> {
        svc.describe_key(&self.admin, KeyRequest::new(key))
            .map(|r| r.key_metadata)
    }

    fn encrypt(&self, svc: &Service, key: &str, text: &[u8]) -> Vec<u8> {
        use base64::Engine;
        let plaintext = base64::engine::general_purpose::STANDARD.encode(text);
        svc.encrypt(
            &self.admin,
            request(json!({"KeyId": key, "Plaintext": plaintext})),
        )
        .unwrap()
        .ciphertext_blob
    }

    fn decrypt(&self, svc: &Service, blob: &[u8]) -> Result<Vec<u8>, KmsError> {
        use base64::Engine;
        let blob = base64::engine::general_purpose::STANDARD.encode(blob);
        svc.decrypt(&self.admin, request(json!({"CiphertextBlob": blob})))
            .map(|r| r.plaintext.to_vec())
    }

    fn replicate(&self, key: &str, region: &str, extra: Value) -> Result<Value, KmsError> {
        let mut body = json!({"KeyId": key, "ReplicaRegion": region});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        self.east
            .replicate_key(&self.admin, request(body))
            .map(|r| serde_json::to_value(r).unwrap())
    }
}

fn aws_type<T: std::fmt::Debug>(result: Result<T, KmsError>) -> &'static str {
    result.unwrap_err().aws_type()
}

#[test]
fn each_region_is_its_own_namespace_of_keys_aliases_and_quotas() {
    let w = world();
    let east_key = w.create(&w.east, json!({}));
    let west_key = w.create(&w.west, json!({}));
    assert!(
        east_key
            .arn
            .starts_with("arn:aws:kms:us-east-1:111122223333:key/")
    );
    assert!(
        west_key
            .arn
            .starts_with("arn:aws:kms:eu-west-1:111122223333:key/")
    );
    // A key is found only in its own region, by id and by ARN.
    assert_eq!(
        aws_type(w.describe(&w.east, &west_key.key_id)),
        "NotFoundException"
    );
    assert_eq!(
        aws_type(w.describe(&w.east, &west_key.arn)),
        "NotFoundException"
    );
    assert_eq!(
        w.describe(&w.west, &west_key.arn).unwrap().key_id,
        west_key.key_id
    );
    let listed = |svc: &Service| -> Vec<String> {
        svc.list_keys(&w.admin, request(json!({})))
            .unwrap()
            .keys
            .into_iter()
            .map(|k| k.key_id)
            .collect()
    };
    assert_eq!(listed(&w.east), [east_key.key_id.as_str()]);
    assert_eq!(listed(&w.west), [west_key.key_id.as_str()]);
    // One alias name in both regions, each naming its region's key.
    for (svc, key) in [(&w.east, &east_key), (&w.west, &west_key)] {
        svc.create_alias(
            &w.admin,
            request(json!({"AliasName": "alias/app", "TargetKeyId": key.key_id})),
        )
        .unwrap();
    }
    assert_eq!(
        w.describe(&w.east, "alias/app").unwrap().key_id,
        east_key.key_id
    );
    assert_eq!(
        w.describe(&w.west, "alias/app").unwrap().key_id,
        west_key.key_id
    );
    // Ciphertexts decrypt only in the region of their (single-Region) key.
    let blob = w.encrypt(&w.west, "alias/app", b"hola");
    assert_eq!(w.decrypt(&w.west, &blob).unwrap(), b"hola");
    assert!(w.decrypt(&w.east, &blob).is_err());
    // Quotas count per region.
    w.east.set_resource_limits(ResourceLimits {
        keys: 1,
        ..ResourceLimits::default()
    });
    assert_eq!(
        aws_type(w.east.create_key(&w.admin, request(json!({})))),
        "LimitExceededException"
    );
    w.create(&w.east.in_region("ap-south-1").unwrap(), json!({}));
    // Audit records name the region the call was made in.
    let events = kms_integration_tests::audit_events(&w.east);
    assert!(events.iter().any(|(_, e)| e.region == "eu-west-1"));
    assert!(events.iter().any(|(_, e)| e.region == "ap-south-1"));
}

#[test]
fn a_malformed_region_is_refused() {
    let w = world();
    assert_eq!(aws_type(w.east.in_region("EU_WEST")), "ValidationException");
}

#[test]
fn related_multi_region_keys_share_material_and_id_but_nothing_else() {
    let w = world();
    let primary = w.create(
        &w.east,
        json!({"MultiRegion": true, "Description": "orders", "Tags": [{"TagKey": "t", "TagValue": "east"}]}),
    );
    assert!(primary.key_id.starts_with("mrk-"), "{}", primary.key_id);
    assert!(primary.multi_region);
    let config = primary.multi_region_configuration.clone().unwrap();
    assert_eq!(config.multi_region_key_type, "PRIMARY");
    assert!(config.replica_keys.is_empty());

    let policy = kms_authz::default_key_policy(w.east.account());
    let replica = w
        .replicate(
            &primary.key_id,
            "eu-west-1",
            json!({"Description": "orders (EU)", "Tags": [{"TagKey": "t", "TagValue": "west"}], "Policy": policy}),
        )
        .unwrap();
    let replica_meta = &replica["ReplicaKeyMetadata"];
    assert_eq!(replica_meta["KeyId"], primary.key_id.as_str());
    assert_eq!(
        replica_meta["Arn"],
        primary.arn.replace("us-east-1", "eu-west-1")
    );
    assert_eq!(replica_meta["Description"], "orders (EU)");
    assert_eq!(
        replica_meta["MultiRegionConfiguration"]["MultiRegionKeyType"],
        "REPLICA"
    );
    assert_eq!(
        replica["ReplicaTags"],
        json!([{"TagKey": "t", "TagValue": "west"}])
    );
    let from_primary = w.describe(&w.east, &primary.key_id).unwrap();
    let config = from_primary.multi_region_configuration.unwrap();
    assert_eq!(config.replica_keys.len(), 1);
    assert_eq!(config.replica_keys[0].region, "eu-west-1");
    assert_eq!(from_primary.description, "orders");

    // A ciphertext from either decrypts with the other.
    let east_blob = w.encrypt(&w.east, &primary.key_id, b"from the east");
    let west_blob = w.encrypt(&w.west, &primary.key_id, b"from the west");
    assert_eq!(w.decrypt(&w.west, &east_blob).unwrap(), b"from the east");
    assert_eq!(w.decrypt(&w.east, &west_blob).unwrap(), b"from the west");

    // State, aliases and rotation settings are not shared.
    w.west
        .disable_key(&w.admin, KeyRequest::new(&primary.key_id))
        .unwrap();
    assert!(w.describe(&w.east, &primary.key_id).unwrap().enabled);
    w.west
        .enable_key(&w.admin, KeyRequest::new(&primary.key_id))
        .unwrap();
    w.east
        .create_alias(
            &w.admin,
            request(json!({"AliasName": "alias/orders", "TargetKeyId": primary.key_id})),
        )
        .unwrap();
    assert_eq!(
        aws_type(w.describe(&w.west, "alias/orders")),
        "NotFoundException"
    );
    assert_eq!(
        aws_type(
            w.west
                .rotate_key_on_demand(&w.admin, KeyRequest::new(&primary.key_id))
        ),
        "UnsupportedOperationException"
    );
    assert_eq!(
        aws_type(
            w.west
                .enable_key_rotation(&w.admin, request(json!({"KeyId": primary.key_id})))
        ),
        "UnsupportedOperationException"
    );

    // The primary's rotation reaches the replica: both encrypt with the new material.
    let before = w
        .describe(&w.west, &primary.key_id)
        .unwrap()
        .current_key_material_id;
    w.east
        .rotate_key_on_demand(&w.admin, KeyRequest::new(&primary.key_id))
        .unwrap();
    let after_east = w
        .describe(&w.east, &primary.key_id)
        .unwrap()
        .current_key_material_id;
    let after_west = w
        .describe(&w.west, &primary.key_id)
        .unwrap()
        .current_key_material_id;
    assert_ne!(before, after_west);
    assert_eq!(after_east, after_west);
    let rotated = w.encrypt(&w.west, &primary.key_id, b"after rotation");
    assert_eq!(w.decrypt(&w.east, &rotated).unwrap(), b"after rotation");
    assert_eq!(w.decrypt(&w.west, &east_blob).unwrap(), b"from the east");
    // Automatic rotation set on the primary shows through the replica.
    w.east
        .enable_key_rotation(&w.admin, request(json!({"KeyId": primary.key_id})))
        .unwrap();
    let status = w
        .west
        .get_key_rotation_status(&w.admin, KeyRequest::new(&primary.key_id))
        .unwrap();
    assert!(status.key_rotation_enabled);
}

#[test]
fn replicate_key_follows_aws_rules() {
    let w = world();
    let single = w.create(&w.east, json!({}));
    assert_eq!(
        aws_type(w.replicate(&single.key_id, "eu-west-1", json!({}))),
        "UnsupportedOperationException"
    );
    let primary = w.create(&w.east, json!({"MultiRegion": true}));
    w.replicate(&primary.key_id, "eu-west-1", json!({}))
        .unwrap();
    assert_eq!(
        aws_type(w.replicate(&primary.key_id, "eu-west-1", json!({}))),
        "AlreadyExistsException"
    );
    assert_eq!(
        aws_type(w.replicate(&primary.key_id, "us-east-1", json!({}))),
        "AlreadyExistsException"
    );
    // A replica cannot be replicated; the replica's region must be well formed.
    let from_replica = w.west.replicate_key(
        &w.admin,
        request(json!({"KeyId": primary.key_id, "ReplicaRegion": "ap-south-1"})),
    );
    assert_eq!(aws_type(from_replica), "UnsupportedOperationException");
    assert_eq!(
        aws_type(w.replicate(&primary.key_id, "Nowhere", json!({}))),
        "ValidationException"
    );
    // A principal allowed ReplicateKey but not CreateKey in the replica's region is refused
    // (here: nobody but the root has any permission).
    let outsider = Caller::principal("arn:aws:iam::111122223333:user/nobody").unwrap();
    let refused = w.east.replicate_key(
        &outsider,
        request(json!({"KeyId": primary.key_id, "ReplicaRegion": "ap-south-1"})),
    );
    assert_eq!(aws_type(refused), "AccessDeniedException");
}

#[test]
fn update_primary_region_swaps_the_roles() {
    let w = world();
    let primary = w.create(&w.east, json!({"MultiRegion": true}));
    w.replicate(&primary.key_id, "eu-west-1", json!({}))
        .unwrap();
    let to_west = |svc: &Service, region: &str| {
        svc.update_primary_region(
            &w.admin,
            UpdatePrimaryRegionRequest {
                key_id: primary.key_id.clone(),
                primary_region: region.into(),
            },
        )
    };
    assert_eq!(
        aws_type(to_west(&w.east, "ap-south-1")),
        "NotFoundException"
    );
    assert_eq!(
        aws_type(to_west(&w.west, "us-east-1")),
        "UnsupportedOperationException"
    );
    to_west(&w.east, "eu-west-1").unwrap();
    let west = w.describe(&w.west, &primary.key_id).unwrap();
    let config = west.multi_region_configuration.unwrap();
    assert_eq!(config.multi_region_key_type, "PRIMARY");
    assert_eq!(config.primary_key.region, "eu-west-1");
    assert_eq!(config.replica_keys[0].region, "us-east-1");
    // Now the east key is the replica: it may no longer rotate, the west one may.
    assert_eq!(
        aws_type(
            w.east
                .rotate_key_on_demand(&w.admin, KeyRequest::new(&primary.key_id))
        ),
        "UnsupportedOperationException"
    );
    w.west
        .rotate_key_on_demand(&w.admin, KeyRequest::new(&primary.key_id))
        .unwrap();
}

#[test]
fn a_primary_with_replicas_waits_for_them_before_its_own_waiting_period() {
    let w = world();
    let primary = w.create(&w.east, json!({"MultiRegion": true}));
    w.replicate(&primary.key_id, "eu-west-1", json!({}))
        .unwrap();
    let scheduled = w
        .east
        .schedule_key_deletion(
            &w.admin,
            request(json!({"KeyId": primary.key_id, "PendingWindowInDays": 7})),
        )
        .unwrap();
    assert_eq!(scheduled.key_state.as_aws_str(), "PendingReplicaDeletion");
    assert_eq!(scheduled.deletion_date, None);
    // The primary waits however long it takes.
    w.clock.advance_days(60);
    w.east.run_maintenance().unwrap();
    assert_eq!(
        w.describe(&w.east, &primary.key_id)
            .unwrap()
            .key_state
            .as_aws_str(),
        "PendingReplicaDeletion"
    );
    assert_eq!(
        aws_type(w.decrypt(&w.east, &w.encrypt(&w.west, &primary.key_id, b"x"))),
        "KMSInvalidStateException"
    );
    // Once its last replica is deleted, the primary's own waiting period starts.
    w.west
        .schedule_key_deletion(
            &w.admin,
            request(json!({"KeyId": primary.key_id, "PendingWindowInDays": 7})),
        )
        .unwrap();
    w.clock.advance_days(7);
    w.east.run_maintenance().unwrap();
    assert_eq!(
        aws_type(w.describe(&w.west, &primary.key_id)),
        "NotFoundException"
    );
    let waiting = w.describe(&w.east, &primary.key_id).unwrap();
    assert_eq!(waiting.key_state.as_aws_str(), "PendingDeletion");
    assert_eq!(
        waiting.deletion_date,
        Some(kms_service::Clock::now(&*w.clock) + 7 * 86_400)
    );
    w.clock.advance_days(7);
    w.east.run_maintenance().unwrap();
    assert_eq!(
        aws_type(w.describe(&w.east, &primary.key_id)),
        "NotFoundException"
    );
}
