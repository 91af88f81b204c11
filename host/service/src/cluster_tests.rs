//! Several services on one PostgreSQL vault, as the nodes of a cluster are: scheduled work
//! (deletions and rotations that fall due) is done once, whichever nodes sweep at the same time.
//! Skipped, with a note, where no server is given (`KMS_TEST_POSTGRES`); CI always runs them.

use std::sync::{Arc, Barrier};

use super::*;
use crate::audit::{AuditLog, Verification};
use kms_vault::PostgresStore;
use kms_vault::postgres_testing::{ScratchSchema, test_server};

const START: u64 = 1_700_000_000;
const NODES: usize = 3;

/// `NODES` services over one fresh schema, each with its own connections and caches, on one
/// clock; `None` without a server.
fn cluster() -> Option<(ScratchSchema, Arc<ManualClock>, Vec<Service>)> {
    let scratch = ScratchSchema::create(&test_server()?).unwrap();
    let clock = Arc::new(ManualClock::new(START));
    let root = RootKey::generate().unwrap();
    let first = Vault::create(
        Box::new(PostgresStore::open(scratch.url()).unwrap()),
        root.clone(),
        DEFAULT_ACCOUNT,
        DEFAULT_REGION,
    )
    .unwrap();
    let mut nodes = vec![Service::new(first, clock.clone()).unwrap()];
    for _ in 1..NODES {
        let store = PostgresStore::open(scratch.url()).unwrap();
        let vault = Vault::open(Box::new(store), root.clone()).unwrap();
        nodes.push(Service::new(vault, clock.clone()).unwrap());
    }
    Some((scratch, clock, nodes))
}

/// How many records of `operation` the trail holds.
fn audited(scratch: &ScratchSchema, operation: &str) -> usize {
    let store = PostgresStore::open(scratch.url()).unwrap();
    AuditLog::events_after(&store, 0, 100_000)
        .unwrap()
        .into_iter()
        .filter(|(_, event)| event.operation == operation)
        .count()
}

/// Every node sweeps at the same moment.
fn sweep_together(nodes: &[Service]) {
    let barrier = Barrier::new(nodes.len());
    std::thread::scope(|scope| {
        for node in nodes {
            let barrier = &barrier;
            scope.spawn(move || {
                barrier.wait();
                node.run_maintenance().unwrap();
            });
        }
    });
}

#[test]
fn due_deletions_and_rotations_are_done_once_by_the_whole_cluster() {
    let Some((scratch, clock, nodes)) = cluster() else {
        return;
    };
    let me = Caller::account_root(nodes[0].account());
    let create = |node: &Service| {
        node.create_key(&me, CreateKeyRequest::default())
            .unwrap()
            .key_metadata
            .key_id
    };
    let doomed: Vec<String> = (0..4).map(|i| create(&nodes[i % NODES])).collect();
    let rotating: Vec<String> = (0..4).map(|i| create(&nodes[i % NODES])).collect();
    for key in &doomed {
        nodes[1]
            .schedule_key_deletion(
                &me,
                ScheduleKeyDeletionRequest {
                    key_id: key.clone(),
                    pending_window_in_days: Some(7),
                },
            )
            .unwrap();
    }
    for key in &rotating {
        nodes[2]
            .enable_key_rotation(
                &me,
                EnableKeyRotationRequest {
                    key_id: key.clone(),
                    rotation_period_in_days: Some(90),
                },
            )
            .unwrap();
    }
    clock.advance_days(91);
    for _ in 0..3 {
        sweep_together(&nodes);
    }
    assert_eq!(audited(&scratch, "DeleteKey"), doomed.len());
    assert_eq!(audited(&scratch, "RotateKey"), rotating.len());
    for node in &nodes {
        let listed = node
            .list_keys(&me, ListKeysRequest::default())
            .unwrap()
            .keys;
        assert_eq!(
            listed.len(),
            rotating.len(),
            "the deleted keys are gone everywhere"
        );
        for key in &rotating {
            // One automatic rotation: two backing versions, whichever node asks.
            let versions = node
                .shared
                .vault
                .store()
                .versions(&key.parse().unwrap())
                .unwrap();
            assert_eq!(versions.len(), 2, "{key}");
        }
    }
    for node in &nodes {
        assert!(
            matches!(node.verify_audit().unwrap(), Verification::Intact { .. }),
            "one chain, whichever node checks it"
        );
    }
}
