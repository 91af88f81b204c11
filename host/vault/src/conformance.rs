//! The store specification, written once over `&dyn Store` and run against every backend by
//! [`store_conformance_tests!`], so that the backends cannot drift apart. Each function checks one
//! behaviour on an empty store; the macro turns each into a `#[test]` of the same name. A function
//! left out of the macro's list is dead code, which the build refuses (`-D warnings`).

use crate::store::{
    AliasRecord, ImportedMaterial, KeyRecord, RotationSchedule, SealedVersion, Store,
    StoredAuditRecord, Swap,
};
use kms_core::error::KmsError;
use kms_core::types::{KeyId, KeyState, Origin, RotationType, Tag};

/// Generates one `#[test]` per behaviour, each calling `$run` with that behaviour; `$run`
/// hands the behaviour a fresh, empty store of the backend under test.
macro_rules! store_conformance_tests {
    ($run:path) => {
        $crate::conformance::store_conformance_tests!(@each $run;
            meta_is_none_until_set,
            set_meta_replaces_the_previous_value,
            inserted_key_and_first_version_read_back,
            missing_key_and_version_read_as_none,
            key_count_follows_inserts_and_deletes,
            insert_key_fails_for_existing_key,
            insert_key_refuses_a_version_of_another_key,
            keys_after_pages_in_ascending_key_id_order,
            update_key_replaces_the_record,
            update_key_over_a_stale_revision_writes_nothing,
            add_version_over_a_stale_revision_writes_nothing,
            delete_key_over_a_stale_revision_keeps_the_key,
            update_keys_writes_all_or_nothing,
            update_key_fails_for_missing_key,
            add_version_replaces_the_record_and_adds_the_version,
            add_version_fails_for_missing_key_and_writes_nothing,
            add_version_fails_for_existing_version_and_keeps_the_record,
            add_version_refuses_a_version_of_another_key,
            key_without_material_is_inserted_with_no_versions,
            replace_versions_erases_and_restores_material_with_the_record,
            replace_versions_over_a_stale_revision_writes_nothing,
            material_expiry_puts_the_key_on_the_due_list,
            versions_are_listed_oldest_first,
            versions_keep_their_rotation_type,
            delete_key_removes_its_versions_and_aliases,
            delete_key_fails_for_missing_key,
            keys_due_lists_keys_due_at_or_before_now,
            keys_due_follows_record_updates,
            add_version_moves_the_next_rotation_off_the_due_list,
            inserted_alias_reads_back,
            insert_alias_fails_for_existing_name,
            insert_alias_fails_for_missing_key,
            update_alias_repoints_and_keeps_the_creation_time,
            update_alias_fails_for_missing_alias,
            update_alias_fails_for_missing_target_key,
            delete_alias_removes_only_that_alias,
            delete_alias_fails_for_missing_alias,
            aliases_after_pages_in_name_order,
            aliases_after_filters_by_key,
            audit_records_read_back_in_sequence,
            last_audit_is_none_for_an_empty_trail,
            append_audit_refuses_a_sequence_gap,
            an_audit_batch_is_appended_whole_with_its_head_or_not_at_all,
            append_audit_refuses_a_repeated_sequence,
            plugins_read_back_by_scope_sorted_by_name,
            put_plugin_replaces_the_same_name,
            put_plugin_fails_for_missing_key,
            delete_plugin_removes_only_that_plugin,
            delete_key_removes_its_plugins,
            accounts_and_principals_read_back,
            insert_principal_needs_its_account_and_a_free_arn,
            update_and_delete_principal,
            access_keys_follow_their_principal,
            access_keys_stop_at_the_maximum_per_principal,
            access_key_status_changes,
            grants_read_back_by_key_and_retiring_principal,
            grant_writes_fail_for_missing_key_or_grant,
            delete_key_removes_its_grants,
            regions_are_separate_namespaces,
            replicas_share_versions_until_the_last_is_deleted,
            insert_replica_needs_the_id_elsewhere_and_a_free_region,
            key_last_use_is_none_until_recorded,
            record_key_uses_keeps_the_latest_use_of_each_key,
            the_generation_moves_with_every_change_and_only_then,
            custom_key_stores_read_back_by_region,
            custom_key_store_names_are_unique_in_a_region,
            custom_key_store_writes_are_compare_and_swap,
        );
    };
    (@each $run:path; $($behaviour:ident),+ $(,)?) => {
        $(
            #[test]
            fn $behaviour() {
                $run($crate::conformance::$behaviour);
            }
        )+
    };
}
pub(crate) use store_conformance_tests;

const T0: u64 = 1_750_000_000;
/// The region of the fixtures' keys.
pub(crate) const R: &str = "eu-west-1";
const DAY: u64 = 86_400;

/// An enabled symmetric key with a description, a tag and a rotation schedule, so that every
/// kind of field makes the round trip.
pub(crate) fn key_record(key_id: KeyId) -> KeyRecord {
    KeyRecord {
        description: "orders database".into(),
        rotation: Some(RotationSchedule {
            period_days: 365,
            next_rotation_at: T0 + 365 * DAY,
        }),
        tags: vec![tag("team", "payments"), tag("env", "prod")],
        ..KeyRecord::new_symmetric(key_id, "111122223333", R, T0)
    }
}

/// A stand-in for sealed material: stores never look inside it.
pub(crate) fn sealed_version(key_id: KeyId, version: u32) -> SealedVersion {
    SealedVersion {
        key_id,
        version,
        material_id: format!("{version:064x}"),
        created_at: T0 + u64::from(version),
        rotation_type: None,
        sealed_material: vec![version as u8; 60],
    }
}

pub(crate) fn audit_record(seq: u64) -> StoredAuditRecord {
    StoredAuditRecord {
        seq,
        event_json: format!("{{\"seq\":{seq}}}"),
        hash: [seq as u8; 32],
    }
}

fn tag(key: &str, value: &str) -> Tag {
    Tag {
        tag_key: key.into(),
        tag_value: value.into(),
    }
}

fn alias(name: &str, key_id: KeyId) -> AliasRecord {
    AliasRecord {
        region: R.into(),
        name: name.into(),
        key_id,
        created_at: T0,
        updated_at: T0,
    }
}

fn missing_key(id: KeyId) -> KmsError {
    KmsError::key_not_found(id)
}

/// Inserts `key` with its first version and hands it back.
fn stored(store: &dyn Store, key: KeyRecord) -> KeyRecord {
    store
        .insert_key(&key, Some(&sealed_version(key.key_id, 1)))
        .unwrap();
    key
}

fn stored_key(store: &dyn Store) -> KeyRecord {
    stored(store, key_record(KeyId::random()))
}

fn rotated(key: &KeyRecord, version: u32) -> KeyRecord {
    KeyRecord {
        current_version: version,
        ..key.clone()
    }
}

fn scheduled(state: KeyState, deletion_date: Option<u64>, next_rotation: Option<u64>) -> KeyRecord {
    KeyRecord {
        state,
        deletion_date,
        rotation: next_rotation.map(|at| RotationSchedule {
            period_days: 90,
            next_rotation_at: at,
        }),
        ..key_record(KeyId::random())
    }
}

fn alias_names(aliases: Vec<AliasRecord>) -> Vec<String> {
    aliases.into_iter().map(|a| a.name).collect()
}

fn plugin(scope: super::PluginScope, name: &str, setting: &str) -> super::PluginAttachment {
    super::PluginAttachment {
        scope,
        name: name.to_string(),
        component: vec![0, 97, 115, 109, 13, 0, 1, 0],
        digest: "ab".repeat(32),
        config: [("mode".to_string(), setting.to_string())].into(),
        attached_at: T0,
    }
}

fn plugin_names(store: &dyn Store, scope: &super::PluginScope) -> Vec<String> {
    store
        .plugins(scope)
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect()
}

pub(crate) fn plugins_read_back_by_scope_sorted_by_name(store: &dyn Store) {
    use super::PluginScope;
    let key = stored_key(store);
    let on_key = PluginScope::of_key(&key);
    let on_account = PluginScope::Account("111122223333".into());
    store
        .put_plugin(&plugin(on_key.clone(), "zeta", "a"))
        .unwrap();
    store
        .put_plugin(&plugin(on_key.clone(), "alpha", "b"))
        .unwrap();
    store
        .put_plugin(&plugin(on_account.clone(), "guard", "c"))
        .unwrap();
    assert_eq!(plugin_names(store, &on_key), ["alpha", "zeta"]);
    assert_eq!(
        store.plugins(&on_account).unwrap(),
        [plugin(on_account.clone(), "guard", "c")]
    );
    assert!(
        store
            .plugins(&PluginScope::Account("444455556666".into()))
            .unwrap()
            .is_empty()
    );
}

pub(crate) fn put_plugin_replaces_the_same_name(store: &dyn Store) {
    let scope = super::PluginScope::Account("111122223333".into());
    store
        .put_plugin(&plugin(scope.clone(), "guard", "old"))
        .unwrap();
    store
        .put_plugin(&plugin(scope.clone(), "guard", "new"))
        .unwrap();
    assert_eq!(
        store.plugins(&scope).unwrap(),
        [plugin(scope.clone(), "guard", "new")]
    );
}

pub(crate) fn put_plugin_fails_for_missing_key(store: &dyn Store) {
    let id = KeyId::random();
    let scope = super::PluginScope::Key {
        region: R.into(),
        key_id: id,
    };
    assert_eq!(
        store
            .put_plugin(&plugin(scope.clone(), "p", "x"))
            .unwrap_err(),
        missing_key(id)
    );
    assert!(store.plugins(&scope).unwrap().is_empty());
}

pub(crate) fn delete_plugin_removes_only_that_plugin(store: &dyn Store) {
    let scope = super::PluginScope::Account("111122223333".into());
    store.put_plugin(&plugin(scope.clone(), "a", "x")).unwrap();
    store.put_plugin(&plugin(scope.clone(), "b", "x")).unwrap();
    store.delete_plugin(&scope, "a").unwrap();
    assert_eq!(plugin_names(store, &scope), ["b"]);
    assert!(matches!(
        store.delete_plugin(&scope, "a"),
        Err(KmsError::NotFound(_))
    ));
}

pub(crate) fn delete_key_removes_its_plugins(store: &dyn Store) {
    let doomed = stored_key(store);
    let kept = stored_key(store);
    let doomed_scope = super::PluginScope::of_key(&doomed);
    let kept_scope = super::PluginScope::of_key(&kept);
    store
        .put_plugin(&plugin(doomed_scope.clone(), "p", "x"))
        .unwrap();
    store
        .put_plugin(&plugin(kept_scope.clone(), "p", "x"))
        .unwrap();
    assert_eq!(store.delete_key(&doomed).unwrap(), Swap::Done);
    assert!(store.plugins(&doomed_scope).unwrap().is_empty());
    assert_eq!(plugin_names(store, &kept_scope), ["p"]);
}

pub(crate) fn meta_is_none_until_set(store: &dyn Store) {
    assert_eq!(store.meta("account").unwrap(), None);
    store.set_meta("account", "111122223333").unwrap();
    assert_eq!(
        store.meta("account").unwrap().as_deref(),
        Some("111122223333")
    );
}

pub(crate) fn set_meta_replaces_the_previous_value(store: &dyn Store) {
    store.set_meta("region", "eu-west-1").unwrap();
    store.set_meta("region", "us-east-2").unwrap();
    assert_eq!(store.meta("region").unwrap().as_deref(), Some("us-east-2"));
}

pub(crate) fn inserted_key_and_first_version_read_back(store: &dyn Store) {
    let key = stored_key(store);
    assert_eq!(store.key(R, &key.key_id).unwrap(), Some(key.clone()));
    assert_eq!(
        store.version(&key.key_id, 1).unwrap(),
        Some(sealed_version(key.key_id, 1))
    );
}

pub(crate) fn key_count_follows_inserts_and_deletes(store: &dyn Store) {
    assert_eq!(store.key_count(R).unwrap(), 0);
    let a = stored_key(store);
    stored_key(store);
    assert_eq!(store.key_count(R).unwrap(), 2);
    assert_eq!(store.delete_key(&a).unwrap(), Swap::Done);
    assert_eq!(store.key_count(R).unwrap(), 1);
}

pub(crate) fn missing_key_and_version_read_as_none(store: &dyn Store) {
    stored_key(store);
    let id = KeyId::random();
    assert_eq!(store.key(R, &id).unwrap(), None);
    assert_eq!(store.version(&id, 1).unwrap(), None);
    assert!(store.versions(&id).unwrap().is_empty());
}

pub(crate) fn insert_key_fails_for_existing_key(store: &dyn Store) {
    let key = stored_key(store);
    let again = KeyRecord {
        description: "impostor".into(),
        ..key.clone()
    };
    let other_material = SealedVersion {
        sealed_material: vec![0xee; 60],
        ..sealed_version(key.key_id, 1)
    };
    let err = store.insert_key(&again, Some(&other_material)).unwrap_err();
    assert!(matches!(err, KmsError::AlreadyExists(_)), "{err:?}");
    assert_eq!(store.key(R, &key.key_id).unwrap(), Some(key.clone()));
    assert_eq!(
        store.versions(&key.key_id).unwrap(),
        [sealed_version(key.key_id, 1)]
    );
}

pub(crate) fn insert_key_refuses_a_version_of_another_key(store: &dyn Store) {
    let key = key_record(KeyId::random());
    let other = KeyId::random();
    let err = store
        .insert_key(&key, Some(&sealed_version(other, 1)))
        .unwrap_err();
    assert!(matches!(err, KmsError::Internal(_)), "{err:?}");
    assert_eq!(store.key(R, &key.key_id).unwrap(), None);
    assert!(store.versions(&other).unwrap().is_empty());
}

pub(crate) fn keys_after_pages_in_ascending_key_id_order(store: &dyn Store) {
    // Fixed ids pin the edges of the order (digits before letters, all-zero, all-f).
    let fixed = [
        "ffffffff-ffff-4fff-bfff-ffffffffffff",
        "0000000a-0000-4000-8000-000000000000",
        "00000009-0000-4000-8000-000000000000",
        "00000000-0000-4000-8000-000000000000",
    ];
    let mut ids: Vec<KeyId> = fixed.iter().map(|s| s.parse().unwrap()).collect();
    ids.extend((0..5).map(|_| KeyId::random()));
    for id in &ids {
        stored(store, key_record(*id));
    }
    ids.sort();
    assert_eq!(store.keys_after(R, None, 3).unwrap().len(), 3);
    let mut listed = Vec::new();
    let mut after = None;
    loop {
        let page = store.keys_after(R, after.as_ref(), 3).unwrap();
        assert!(page.len() <= 3, "a page holds at most `limit` keys");
        let Some(last) = page.last() else { break };
        after = Some(last.key_id);
        listed.extend(page.iter().map(|k| k.key_id));
    }
    assert_eq!(listed, ids);
}

pub(crate) fn update_key_replaces_the_record(store: &dyn Store) {
    let key = stored_key(store);
    let updated = KeyRecord {
        description: "retired".into(),
        state: KeyState::Disabled,
        tags: vec![tag("env", "staging")],
        rotation: None,
        ..key.clone()
    };
    assert_eq!(store.update_key(&updated).unwrap(), Swap::Done);
    assert_eq!(
        store.key(R, &key.key_id).unwrap(),
        Some(KeyRecord {
            revision: 1,
            ..updated
        })
    );
}

pub(crate) fn update_key_over_a_stale_revision_writes_nothing(store: &dyn Store) {
    let key = stored_key(store);
    let first = KeyRecord {
        description: "first writer".into(),
        ..key.clone()
    };
    let second = KeyRecord {
        description: "second writer, who read before the first wrote".into(),
        ..key.clone()
    };
    assert_eq!(store.update_key(&first).unwrap(), Swap::Done);
    assert_eq!(store.update_key(&second).unwrap(), Swap::Stale);
    let stored = store.key(R, &key.key_id).unwrap().unwrap();
    assert_eq!(stored.description, "first writer");
    // Read again, the second writer's change applies over the first.
    let retried = KeyRecord {
        description: "second writer".into(),
        ..stored
    };
    assert_eq!(store.update_key(&retried).unwrap(), Swap::Done);
    assert_eq!(store.key(R, &key.key_id).unwrap().unwrap().revision, 2);
}

pub(crate) fn update_key_fails_for_missing_key(store: &dyn Store) {
    let key = key_record(KeyId::random());
    assert_eq!(store.update_key(&key).unwrap_err(), missing_key(key.key_id));
    assert_eq!(store.key(R, &key.key_id).unwrap(), None);
}

pub(crate) fn add_version_replaces_the_record_and_adds_the_version(store: &dyn Store) {
    let key = stored_key(store);
    let after_rotation = KeyRecord {
        on_demand_rotations: 1,
        last_on_demand_rotation: Some(T0 + 10),
        ..rotated(&key, 2)
    };
    let v2 = SealedVersion {
        rotation_type: Some(RotationType::OnDemand),
        ..sealed_version(key.key_id, 2)
    };
    assert_eq!(store.add_version(&after_rotation, &v2).unwrap(), Swap::Done);
    assert_eq!(
        store.key(R, &key.key_id).unwrap(),
        Some(KeyRecord {
            revision: 1,
            ..after_rotation
        })
    );
    assert_eq!(store.version(&key.key_id, 2).unwrap(), Some(v2));
}

pub(crate) fn add_version_over_a_stale_revision_writes_nothing(store: &dyn Store) {
    let key = stored_key(store);
    let disabled = KeyRecord {
        state: KeyState::Disabled,
        ..key.clone()
    };
    assert_eq!(store.update_key(&disabled).unwrap(), Swap::Done);
    let swap = store
        .add_version(&rotated(&key, 2), &sealed_version(key.key_id, 2))
        .unwrap();
    assert_eq!(swap, Swap::Stale);
    assert_eq!(store.versions(&key.key_id).unwrap().len(), 1);
    let stored = store.key(R, &key.key_id).unwrap().unwrap();
    assert_eq!(
        (stored.state, stored.current_version),
        (KeyState::Disabled, 1)
    );
}

pub(crate) fn add_version_fails_for_missing_key_and_writes_nothing(store: &dyn Store) {
    let key = key_record(KeyId::random());
    let err = store
        .add_version(&rotated(&key, 2), &sealed_version(key.key_id, 2))
        .unwrap_err();
    assert_eq!(err, missing_key(key.key_id));
    assert_eq!(store.key(R, &key.key_id).unwrap(), None);
    assert!(store.versions(&key.key_id).unwrap().is_empty());
}

pub(crate) fn add_version_fails_for_existing_version_and_keeps_the_record(store: &dyn Store) {
    let key = stored_key(store);
    let replacement = SealedVersion {
        sealed_material: vec![0xee; 60],
        ..sealed_version(key.key_id, 1)
    };
    let changed = KeyRecord {
        description: "must not be written".into(),
        ..key.clone()
    };
    let err = store.add_version(&changed, &replacement).unwrap_err();
    assert!(matches!(err, KmsError::Internal(_)), "{err:?}");
    assert_eq!(store.key(R, &key.key_id).unwrap(), Some(key.clone()));
    assert_eq!(
        store.versions(&key.key_id).unwrap(),
        [sealed_version(key.key_id, 1)]
    );
}

pub(crate) fn add_version_refuses_a_version_of_another_key(store: &dyn Store) {
    let key = stored_key(store);
    let other = stored_key(store);
    let err = store
        .add_version(&rotated(&key, 2), &sealed_version(other.key_id, 2))
        .unwrap_err();
    assert!(matches!(err, KmsError::Internal(_)), "{err:?}");
    assert_eq!(store.key(R, &key.key_id).unwrap(), Some(key.clone()));
    assert_eq!(store.versions(&other.key_id).unwrap().len(), 1);
}

pub(crate) fn versions_are_listed_oldest_first(store: &dyn Store) {
    let key = stored_key(store);
    let other = stored_key(store);
    // Out of order, and 10 after 3 so that a text sort would show.
    for version in [3, 10, 2] {
        let current = store.key(R, &key.key_id).unwrap().unwrap();
        let swap = store
            .add_version(
                &rotated(&current, version),
                &sealed_version(key.key_id, version),
            )
            .unwrap();
        assert_eq!(swap, Swap::Done);
    }
    let listed: Vec<u32> = store
        .versions(&key.key_id)
        .unwrap()
        .iter()
        .map(|v| v.version)
        .collect();
    assert_eq!(listed, [1, 2, 3, 10]);
    assert_eq!(store.versions(&other.key_id).unwrap().len(), 1);
}

pub(crate) fn versions_keep_their_rotation_type(store: &dyn Store) {
    let key = stored_key(store);
    for (version, rotation_type) in [(2, RotationType::Automatic), (3, RotationType::OnDemand)] {
        let sealed = SealedVersion {
            rotation_type: Some(rotation_type),
            ..sealed_version(key.key_id, version)
        };
        let current = store.key(R, &key.key_id).unwrap().unwrap();
        assert_eq!(
            store
                .add_version(&rotated(&current, version), &sealed)
                .unwrap(),
            Swap::Done
        );
    }
    let types: Vec<Option<RotationType>> = store
        .versions(&key.key_id)
        .unwrap()
        .iter()
        .map(|v| v.rotation_type)
        .collect();
    assert_eq!(
        types,
        [
            None,
            Some(RotationType::Automatic),
            Some(RotationType::OnDemand)
        ]
    );
}

pub(crate) fn delete_key_removes_its_versions_and_aliases(store: &dyn Store) {
    let doomed = stored_key(store);
    let kept = stored_key(store);
    let swap = store
        .add_version(&rotated(&doomed, 2), &sealed_version(doomed.key_id, 2))
        .unwrap();
    assert_eq!(swap, Swap::Done);
    for (name, key) in [
        ("alias/doomed-a", &doomed),
        ("alias/doomed-b", &doomed),
        ("alias/kept", &kept),
    ] {
        store.insert_alias(&alias(name, key.key_id)).unwrap();
    }
    let doomed = store.key(R, &doomed.key_id).unwrap().unwrap();
    assert_eq!(store.delete_key(&doomed).unwrap(), Swap::Done);
    assert_eq!(store.key(R, &doomed.key_id).unwrap(), None);
    assert!(store.versions(&doomed.key_id).unwrap().is_empty());
    assert_eq!(
        alias_names(store.aliases_after(R, None, None, 10).unwrap()),
        ["alias/kept"]
    );
    assert_eq!(store.key(R, &kept.key_id).unwrap(), Some(kept.clone()));
    assert_eq!(store.versions(&kept.key_id).unwrap().len(), 1);
}

pub(crate) fn delete_key_fails_for_missing_key(store: &dyn Store) {
    let id = KeyId::random();
    assert_eq!(
        store.delete_key(&key_record(id)).unwrap_err(),
        missing_key(id)
    );
}

pub(crate) fn delete_key_over_a_stale_revision_keeps_the_key(store: &dyn Store) {
    let pending = stored(store, scheduled(KeyState::PendingDeletion, Some(T0), None));
    // The deletion is cancelled after the scheduler read the record, before it deleted.
    let cancelled = KeyRecord {
        state: KeyState::Disabled,
        deletion_date: None,
        ..pending.clone()
    };
    assert_eq!(store.update_key(&cancelled).unwrap(), Swap::Done);
    assert_eq!(store.delete_key(&pending).unwrap(), Swap::Stale);
    let kept = store.key(R, &pending.key_id).unwrap().unwrap();
    assert_eq!(kept.state, KeyState::Disabled);
    assert_eq!(store.versions(&pending.key_id).unwrap().len(), 1);
}

pub(crate) fn keys_due_lists_keys_due_at_or_before_now(store: &dyn Store) {
    let now = T0 + 1000;
    let pending = |date| scheduled(KeyState::PendingDeletion, Some(date), None);
    let enabled = |at| scheduled(KeyState::Enabled, None, at);
    let deleting_now = stored(store, pending(now)).key_id;
    let rotating_overdue = stored(store, enabled(Some(now - 1))).key_id;
    stored(store, pending(now + 1));
    stored(store, enabled(Some(now + 1)));
    stored(store, enabled(None));
    // A disabled key's rotation waits until it is enabled again.
    stored(store, scheduled(KeyState::Disabled, None, Some(now - 1)));
    let mut due = store.keys_due(now).unwrap();
    due.sort();
    let mut expected = vec![
        (R.to_string(), deleting_now),
        (R.to_string(), rotating_overdue),
    ];
    expected.sort();
    assert_eq!(due, expected);
}

pub(crate) fn keys_due_follows_record_updates(store: &dyn Store) {
    let key = stored(store, scheduled(KeyState::Enabled, None, Some(T0)));
    assert_eq!(store.keys_due(T0).unwrap(), [(R.to_string(), key.key_id)]);
    let disabled = KeyRecord {
        state: KeyState::Disabled,
        ..key.clone()
    };
    assert_eq!(store.update_key(&disabled).unwrap(), Swap::Done);
    assert!(store.keys_due(T0).unwrap().is_empty());
    let pending = KeyRecord {
        state: KeyState::PendingDeletion,
        deletion_date: Some(T0 + 7 * DAY),
        ..store.key(R, &key.key_id).unwrap().unwrap()
    };
    assert_eq!(store.update_key(&pending).unwrap(), Swap::Done);
    assert!(store.keys_due(T0).unwrap().is_empty());
    assert_eq!(
        store.keys_due(T0 + 7 * DAY).unwrap(),
        [(R.to_string(), key.key_id)]
    );
}

pub(crate) fn add_version_moves_the_next_rotation_off_the_due_list(store: &dyn Store) {
    let key = stored(store, scheduled(KeyState::Enabled, None, Some(T0)));
    let after_rotation = KeyRecord {
        rotation: Some(RotationSchedule {
            period_days: 90,
            next_rotation_at: T0 + 90 * DAY,
        }),
        ..rotated(&key, 2)
    };
    let swap = store
        .add_version(&after_rotation, &sealed_version(key.key_id, 2))
        .unwrap();
    assert_eq!(swap, Swap::Done);
    assert!(store.keys_due(T0).unwrap().is_empty());
    assert_eq!(
        store.keys_due(T0 + 90 * DAY).unwrap(),
        [(R.to_string(), key.key_id)]
    );
}

pub(crate) fn inserted_alias_reads_back(store: &dyn Store) {
    let key = stored_key(store);
    let orders = AliasRecord {
        updated_at: T0 + 5,
        ..alias("alias/orders", key.key_id)
    };
    store.insert_alias(&orders).unwrap();
    assert_eq!(store.alias(R, "alias/orders").unwrap(), Some(orders));
    assert_eq!(store.alias(R, "alias/other").unwrap(), None);
}

pub(crate) fn insert_alias_fails_for_existing_name(store: &dyn Store) {
    let first = stored_key(store);
    let second = stored_key(store);
    store
        .insert_alias(&alias("alias/orders", first.key_id))
        .unwrap();
    let err = store
        .insert_alias(&alias("alias/orders", second.key_id))
        .unwrap_err();
    assert_eq!(
        err,
        KmsError::AlreadyExists("An alias with the name alias/orders already exists".into())
    );
    assert_eq!(
        store.alias(R, "alias/orders").unwrap().unwrap().key_id,
        first.key_id
    );
}

pub(crate) fn insert_alias_fails_for_missing_key(store: &dyn Store) {
    let id = KeyId::random();
    let err = store.insert_alias(&alias("alias/orphan", id)).unwrap_err();
    assert_eq!(err, missing_key(id));
    assert_eq!(store.alias(R, "alias/orphan").unwrap(), None);
}

pub(crate) fn update_alias_repoints_and_keeps_the_creation_time(store: &dyn Store) {
    let first = stored_key(store);
    let second = stored_key(store);
    store
        .insert_alias(&alias("alias/orders", first.key_id))
        .unwrap();
    store
        .update_alias(&AliasRecord {
            region: R.into(),
            name: "alias/orders".into(),
            key_id: second.key_id,
            created_at: T0 + 99,
            updated_at: T0 + 60,
        })
        .unwrap();
    assert_eq!(
        store.alias(R, "alias/orders").unwrap(),
        Some(AliasRecord {
            region: R.into(),
            name: "alias/orders".into(),
            key_id: second.key_id,
            created_at: T0,
            updated_at: T0 + 60,
        })
    );
}

pub(crate) fn update_alias_fails_for_missing_alias(store: &dyn Store) {
    let key = stored_key(store);
    let err = store
        .update_alias(&alias("alias/missing", key.key_id))
        .unwrap_err();
    assert!(matches!(err, KmsError::NotFound(_)), "{err:?}");
    assert_eq!(store.alias(R, "alias/missing").unwrap(), None);
}

pub(crate) fn update_alias_fails_for_missing_target_key(store: &dyn Store) {
    let key = stored_key(store);
    store
        .insert_alias(&alias("alias/orders", key.key_id))
        .unwrap();
    let gone = KeyId::random();
    let err = store
        .update_alias(&alias("alias/orders", gone))
        .unwrap_err();
    assert_eq!(err, missing_key(gone));
    assert_eq!(
        store.alias(R, "alias/orders").unwrap().unwrap().key_id,
        key.key_id
    );
}

pub(crate) fn delete_alias_removes_only_that_alias(store: &dyn Store) {
    let key = stored_key(store);
    for name in ["alias/a", "alias/b"] {
        store.insert_alias(&alias(name, key.key_id)).unwrap();
    }
    store.delete_alias(R, "alias/a").unwrap();
    assert_eq!(store.alias(R, "alias/a").unwrap(), None);
    assert!(store.alias(R, "alias/b").unwrap().is_some());
    assert_eq!(store.key(R, &key.key_id).unwrap(), Some(key.clone()));
}

pub(crate) fn delete_alias_fails_for_missing_alias(store: &dyn Store) {
    let err = store.delete_alias(R, "alias/missing").unwrap_err();
    assert!(matches!(err, KmsError::NotFound(_)), "{err:?}");
}

pub(crate) fn aliases_after_pages_in_name_order(store: &dyn Store) {
    let key = stored_key(store);
    for name in ["alias/b", "alias/a-1", "alias/B", "alias/c", "alias/a"] {
        store.insert_alias(&alias(name, key.key_id)).unwrap();
    }
    let mut listed = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store.aliases_after(R, after.as_deref(), None, 2).unwrap();
        assert!(page.len() <= 2, "a page holds at most `limit` aliases");
        let Some(last) = page.last() else { break };
        after = Some(last.name.clone());
        listed.extend(alias_names(page));
    }
    // Byte order, as AWS lists them: upper case before lower case.
    assert_eq!(
        listed,
        ["alias/B", "alias/a", "alias/a-1", "alias/b", "alias/c"]
    );
}

pub(crate) fn aliases_after_filters_by_key(store: &dyn Store) {
    let first = stored_key(store);
    let second = stored_key(store);
    for (name, key) in [
        ("alias/a", &first),
        ("alias/b", &second),
        ("alias/c", &first),
        ("alias/d", &first),
    ] {
        store.insert_alias(&alias(name, key.key_id)).unwrap();
    }
    let page = store
        .aliases_after(R, None, Some(&first.key_id), 2)
        .unwrap();
    assert_eq!(alias_names(page), ["alias/a", "alias/c"]);
    let page = store
        .aliases_after(R, Some("alias/c"), Some(&first.key_id), 2)
        .unwrap();
    assert_eq!(alias_names(page), ["alias/d"]);
    let page = store
        .aliases_after(R, None, Some(&second.key_id), 10)
        .unwrap();
    assert_eq!(alias_names(page), ["alias/b"]);
}

pub(crate) fn audit_records_read_back_in_sequence(store: &dyn Store) {
    for seq in 1..=5 {
        store.append_audit(&audit_record(seq)).unwrap();
    }
    assert_eq!(store.last_audit().unwrap(), Some(audit_record(5)));
    assert_eq!(
        store.audit_after(0, 2).unwrap(),
        [audit_record(1), audit_record(2)]
    );
    assert_eq!(
        store.audit_after(3, 10).unwrap(),
        [audit_record(4), audit_record(5)]
    );
    assert!(store.audit_after(5, 10).unwrap().is_empty());
}

pub(crate) fn last_audit_is_none_for_an_empty_trail(store: &dyn Store) {
    assert_eq!(store.last_audit().unwrap(), None);
    assert!(store.audit_after(0, 10).unwrap().is_empty());
}

pub(crate) fn append_audit_refuses_a_sequence_gap(store: &dyn Store) {
    assert!(store.append_audit(&audit_record(2)).is_err(), "starts at 1");
    store.append_audit(&audit_record(1)).unwrap();
    let err = store.append_audit(&audit_record(3)).unwrap_err();
    assert!(matches!(err, KmsError::Internal(_)), "{err:?}");
    assert_eq!(store.audit_after(0, 10).unwrap(), [audit_record(1)]);
}

pub(crate) fn an_audit_batch_is_appended_whole_with_its_head_or_not_at_all(store: &dyn Store) {
    store.append_audit(&audit_record(1)).unwrap();
    let gap = [audit_record(3), audit_record(4)];
    assert!(store.append_audit_batch(&gap, Some("head 4")).is_err());
    // A batch whose second record breaks the sequence writes none of it.
    let broken = [audit_record(2), audit_record(4)];
    assert!(store.append_audit_batch(&broken, Some("head 4")).is_err());
    assert_eq!(store.audit_after(0, 10).unwrap(), [audit_record(1)]);
    assert_eq!(store.meta(super::AUDIT_HEAD_META).unwrap(), None);
    let batch = [audit_record(2), audit_record(3), audit_record(4)];
    store.append_audit_batch(&batch, Some("head 4")).unwrap();
    assert_eq!(store.audit_after(1, 10).unwrap(), batch);
    assert_eq!(
        store.meta(super::AUDIT_HEAD_META).unwrap().as_deref(),
        Some("head 4")
    );
}

pub(crate) fn append_audit_refuses_a_repeated_sequence(store: &dyn Store) {
    store.append_audit(&audit_record(1)).unwrap();
    store.append_audit(&audit_record(2)).unwrap();
    let rewrite = StoredAuditRecord {
        event_json: "{\"forged\":true}".into(),
        ..audit_record(2)
    };
    assert!(store.append_audit(&rewrite).is_err());
    assert_eq!(store.last_audit().unwrap(), Some(audit_record(2)));
}

pub(crate) fn account(id: &str) -> super::AccountRecord {
    super::AccountRecord {
        account_id: id.into(),
        name: format!("acct-{id}"),
        created_at: T0,
    }
}

pub(crate) fn principal(account: &str, name: &str) -> super::PrincipalRecord {
    super::PrincipalRecord {
        arn: format!("arn:aws:iam::{account}:user/{name}"),
        account: account.into(),
        kind: crate::PrincipalKind::User,
        name: name.into(),
        tags: vec![tag("team", "blue")],
        policies: [("p".to_string(), "{}".to_string())].into(),
        revision: 0,
        created_at: T0,
    }
}

pub(crate) fn access_key(id: &str, principal_arn: &str, at: u64) -> super::AccessKeyRecord {
    super::AccessKeyRecord {
        access_key_id: id.into(),
        principal_arn: principal_arn.into(),
        status: crate::AccessKeyStatus::Active,
        sealed_secret: vec![1, 2, 3, at as u8],
        created_at: at,
    }
}

pub(crate) fn grant(
    id: &str,
    key_id: KeyId,
    retiring: Option<&str>,
    at: u64,
) -> super::GrantRecord {
    super::GrantRecord {
        grant_id: id.into(),
        key_id,
        region: R.into(),
        name: Some("n".into()),
        grantee_principal: "arn:aws:iam::111122223333:user/a".into(),
        retiring_principal: retiring.map(Into::into),
        operations: vec!["Encrypt".into(), "Decrypt".into()],
        constraints: Some(crate::GrantConstraints {
            encryption_context_subset: Some([("k".to_string(), "v".to_string())].into()),
            ..Default::default()
        }),
        issuing_principal: "arn:aws:iam::111122223333:root".into(),
        issuing_account: "111122223333".into(),
        created_at: at,
    }
}

pub(crate) fn accounts_and_principals_read_back(store: &dyn Store) {
    store.insert_account(&account("222233334444")).unwrap();
    store.insert_account(&account("111122223333")).unwrap();
    assert_eq!(
        store.accounts().unwrap(),
        [account("111122223333"), account("222233334444")]
    );
    let bob = principal("111122223333", "bob");
    let alice = principal("111122223333", "alice");
    store.insert_principal(&bob).unwrap();
    store.insert_principal(&alice).unwrap();
    store
        .insert_principal(&principal("222233334444", "carol"))
        .unwrap();
    assert_eq!(store.principal(&bob.arn).unwrap(), Some(bob.clone()));
    assert_eq!(store.principals("111122223333").unwrap(), [alice, bob]);
    assert_eq!(
        store.principal("arn:aws:iam::111122223333:user/x").unwrap(),
        None
    );
}

pub(crate) fn insert_principal_needs_its_account_and_a_free_arn(store: &dyn Store) {
    let err = store
        .insert_principal(&principal("111122223333", "bob"))
        .unwrap_err();
    assert!(matches!(err, KmsError::NotFound(_)), "{err:?}");
    store.insert_account(&account("111122223333")).unwrap();
    let err = store.insert_account(&account("111122223333")).unwrap_err();
    assert!(matches!(err, KmsError::AlreadyExists(_)), "{err:?}");
    store
        .insert_principal(&principal("111122223333", "bob"))
        .unwrap();
    let mut again = principal("111122223333", "bob");
    again.tags.clear();
    let err = store.insert_principal(&again).unwrap_err();
    assert!(matches!(err, KmsError::AlreadyExists(_)), "{err:?}");
    assert_eq!(
        store.principal(&again.arn).unwrap(),
        Some(principal("111122223333", "bob"))
    );
}

pub(crate) fn update_and_delete_principal(store: &dyn Store) {
    store.insert_account(&account("111122223333")).unwrap();
    let mut bob = principal("111122223333", "bob");
    let err = store.update_principal(&bob).unwrap_err();
    assert!(matches!(err, KmsError::NotFound(_)), "{err:?}");
    store.insert_principal(&bob).unwrap();
    bob.policies
        .insert("second".into(), "{\"Statement\":[]}".into());
    assert_eq!(store.update_principal(&bob).unwrap(), Swap::Done);
    let stored = store.principal(&bob.arn).unwrap().unwrap();
    assert_eq!(
        stored,
        super::PrincipalRecord {
            revision: 1,
            ..bob.clone()
        }
    );
    // A writer who read bob before that update changes nothing.
    let stale = super::PrincipalRecord {
        tags: Vec::new(),
        ..bob.clone()
    };
    assert_eq!(store.update_principal(&stale).unwrap(), Swap::Stale);
    assert_eq!(store.principal(&bob.arn).unwrap(), Some(stored));
    store.delete_principal(&bob.arn).unwrap();
    assert_eq!(store.principal(&bob.arn).unwrap(), None);
    let err = store.delete_principal(&bob.arn).unwrap_err();
    assert!(matches!(err, KmsError::NotFound(_)), "{err:?}");
}

pub(crate) fn access_keys_stop_at_the_maximum_per_principal(store: &dyn Store) {
    store.insert_account(&account("111122223333")).unwrap();
    let (bob, eve) = (
        principal("111122223333", "bob"),
        principal("111122223333", "eve"),
    );
    store.insert_principal(&bob).unwrap();
    store.insert_principal(&eve).unwrap();
    for id in ["AKIA1", "AKIA2"] {
        store
            .insert_access_key(&access_key(id, &bob.arn, T0), 2)
            .unwrap();
    }
    let err = store
        .insert_access_key(&access_key("AKIA3", &bob.arn, T0), 2)
        .unwrap_err();
    assert!(matches!(err, KmsError::LimitExceeded(_)), "{err:?}");
    assert_eq!(store.access_key("AKIA3").unwrap(), None);
    // The maximum counts each principal's own keys.
    store
        .insert_access_key(&access_key("AKIA3", &eve.arn, T0), 2)
        .unwrap();
}

pub(crate) fn access_keys_follow_their_principal(store: &dyn Store) {
    store.insert_account(&account("111122223333")).unwrap();
    let bob = principal("111122223333", "bob");
    let err = store
        .insert_access_key(&access_key("AKIA1", &bob.arn, T0), 2)
        .unwrap_err();
    assert!(matches!(err, KmsError::NotFound(_)), "{err:?}");
    store.insert_principal(&bob).unwrap();
    store
        .insert_access_key(&access_key("AKIA2", &bob.arn, T0 + 5), 2)
        .unwrap();
    store
        .insert_access_key(&access_key("AKIA1", &bob.arn, T0), 2)
        .unwrap();
    let err = store
        .insert_access_key(&access_key("AKIA1", &bob.arn, T0), 3)
        .unwrap_err();
    assert!(matches!(err, KmsError::AlreadyExists(_)), "{err:?}");
    assert_eq!(
        store.access_key("AKIA2").unwrap(),
        Some(access_key("AKIA2", &bob.arn, T0 + 5))
    );
    assert_eq!(
        store.access_keys(&bob.arn).unwrap(),
        [
            access_key("AKIA1", &bob.arn, T0),
            access_key("AKIA2", &bob.arn, T0 + 5)
        ]
    );
    store.delete_access_key("AKIA1").unwrap();
    assert!(store.delete_access_key("AKIA1").is_err());
    store.delete_principal(&bob.arn).unwrap();
    assert_eq!(store.access_key("AKIA2").unwrap(), None);
}

pub(crate) fn access_key_status_changes(store: &dyn Store) {
    store.insert_account(&account("111122223333")).unwrap();
    let bob = principal("111122223333", "bob");
    store.insert_principal(&bob).unwrap();
    store
        .insert_access_key(&access_key("AKIA1", &bob.arn, T0), 2)
        .unwrap();
    store
        .set_access_key_status("AKIA1", crate::AccessKeyStatus::Inactive)
        .unwrap();
    assert_eq!(
        store.access_key("AKIA1").unwrap().unwrap().status,
        crate::AccessKeyStatus::Inactive
    );
    let err = store
        .set_access_key_status("AKIA9", crate::AccessKeyStatus::Active)
        .unwrap_err();
    assert!(matches!(err, KmsError::NotFound(_)), "{err:?}");
}

pub(crate) fn grants_read_back_by_key_and_retiring_principal(store: &dyn Store) {
    let (k1, k2) = (stored_key(store), stored_key(store));
    let retiring = "arn:aws:iam::111122223333:role/r";
    store
        .insert_grant(&grant("b", k1.key_id, Some(retiring), T0 + 1))
        .unwrap();
    store
        .insert_grant(&grant("a", k1.key_id, None, T0 + 1))
        .unwrap();
    store
        .insert_grant(&grant("c", k1.key_id, None, T0))
        .unwrap();
    store
        .insert_grant(&grant("d", k2.key_id, Some(retiring), T0))
        .unwrap();
    let ids = |gs: Vec<super::GrantRecord>| gs.into_iter().map(|g| g.grant_id).collect::<Vec<_>>();
    assert_eq!(ids(store.grants(R, &k1.key_id).unwrap()), ["c", "a", "b"]);
    assert_eq!(ids(store.retirable_grants(retiring).unwrap()), ["d", "b"]);
    assert_eq!(
        store.grant("b").unwrap(),
        Some(grant("b", k1.key_id, Some(retiring), T0 + 1))
    );
    store.delete_grant("b").unwrap();
    assert_eq!(ids(store.grants(R, &k1.key_id).unwrap()), ["c", "a"]);
    assert_eq!(store.grant("b").unwrap(), None);
}

pub(crate) fn grant_writes_fail_for_missing_key_or_grant(store: &dyn Store) {
    let err = store
        .insert_grant(&grant("a", KeyId::random(), None, T0))
        .unwrap_err();
    assert!(matches!(err, KmsError::NotFound(_)), "{err:?}");
    let key = stored_key(store);
    store
        .insert_grant(&grant("a", key.key_id, None, T0))
        .unwrap();
    let err = store
        .insert_grant(&grant("a", key.key_id, None, T0))
        .unwrap_err();
    assert!(matches!(err, KmsError::AlreadyExists(_)), "{err:?}");
    let err = store.delete_grant("zzz").unwrap_err();
    assert!(matches!(err, KmsError::NotFound(_)), "{err:?}");
}

pub(crate) fn delete_key_removes_its_grants(store: &dyn Store) {
    let (k1, k2) = (stored_key(store), stored_key(store));
    store
        .insert_grant(&grant("a", k1.key_id, Some("r"), T0))
        .unwrap();
    store
        .insert_grant(&grant("b", k2.key_id, Some("r"), T0))
        .unwrap();
    assert_eq!(store.delete_key(&k1).unwrap(), Swap::Done);
    assert_eq!(store.grant("a").unwrap(), None);
    assert!(store.grants(R, &k1.key_id).unwrap().is_empty());
    assert_eq!(store.retirable_grants("r").unwrap().len(), 1);
}

/// `key` moved to another region.
fn in_region(key: &KeyRecord, region: &str) -> KeyRecord {
    KeyRecord {
        region: region.into(),
        ..key.clone()
    }
}

pub(crate) fn regions_are_separate_namespaces(store: &dyn Store) {
    let here = key_record(KeyId::random());
    let there = in_region(&key_record(KeyId::random()), "ap-south-1");
    store
        .insert_key(&here, Some(&sealed_version(here.key_id, 1)))
        .unwrap();
    store
        .insert_key(&there, Some(&sealed_version(there.key_id, 1)))
        .unwrap();
    assert_eq!(store.key("ap-south-1", &here.key_id).unwrap(), None);
    assert_eq!(store.key(R, &there.key_id).unwrap(), None);
    assert_eq!(
        (
            store.key_count(R).unwrap(),
            store.key_count("ap-south-1").unwrap()
        ),
        (1, 1)
    );
    assert_eq!(
        store.keys_after("ap-south-1", None, 10).unwrap(),
        std::slice::from_ref(&there)
    );
    // One alias name in two regions, each pointing at its own region's key.
    store
        .insert_alias(&alias("alias/app", here.key_id))
        .unwrap();
    let remote_alias = AliasRecord {
        region: "ap-south-1".into(),
        ..alias("alias/app", there.key_id)
    };
    store.insert_alias(&remote_alias).unwrap();
    assert_eq!(
        store.alias("ap-south-1", "alias/app").unwrap(),
        Some(remote_alias)
    );
    assert_eq!(
        store.alias(R, "alias/app").unwrap().unwrap().key_id,
        here.key_id
    );
    // An alias or grant cannot point across regions.
    let across = AliasRecord {
        region: "ap-south-1".into(),
        ..alias("alias/across", here.key_id)
    };
    assert!(matches!(
        store.insert_alias(&across),
        Err(KmsError::NotFound(_))
    ));
    let far_grant = super::GrantRecord {
        region: "ap-south-1".into(),
        ..grant("g", here.key_id, None, T0)
    };
    assert!(matches!(
        store.insert_grant(&far_grant),
        Err(KmsError::NotFound(_))
    ));
    store.delete_alias("ap-south-1", "alias/app").unwrap();
    assert!(store.alias(R, "alias/app").unwrap().is_some());
}

pub(crate) fn replicas_share_versions_until_the_last_is_deleted(store: &dyn Store) {
    let primary = key_record(KeyId::random_multi_region());
    store
        .insert_key(&primary, Some(&sealed_version(primary.key_id, 1)))
        .unwrap();
    let replica = in_region(&primary, "ap-south-1");
    store.insert_replica(&replica).unwrap();
    assert_eq!(
        store.key("ap-south-1", &primary.key_id).unwrap(),
        Some(replica.clone())
    );
    let mut related = store.related_keys(&primary.key_id).unwrap();
    related.sort_by(|a, b| a.region.cmp(&b.region));
    assert_eq!(related, [replica.clone(), primary.clone()]);
    // A version added through the primary is the replica's too.
    assert_eq!(
        store
            .add_version(&primary, &sealed_version(primary.key_id, 2))
            .unwrap(),
        Swap::Done
    );
    assert_eq!(store.versions(&replica.key_id).unwrap().len(), 2);
    // Grants and aliases are per region and go with their region's key.
    store
        .insert_grant(&grant("g", primary.key_id, None, T0))
        .unwrap();
    store
        .insert_alias(&alias("alias/p", primary.key_id))
        .unwrap();
    let primary = store.key(R, &primary.key_id).unwrap().unwrap();
    assert_eq!(store.delete_key(&primary).unwrap(), Swap::Done);
    assert_eq!(store.key(R, &primary.key_id).unwrap(), None);
    assert_eq!(store.alias(R, "alias/p").unwrap(), None);
    assert_eq!(store.grant("g").unwrap(), None);
    assert_eq!(store.versions(&replica.key_id).unwrap().len(), 2);
    assert_eq!(store.delete_key(&replica).unwrap(), Swap::Done);
    assert!(store.versions(&replica.key_id).unwrap().is_empty());
    assert!(store.related_keys(&replica.key_id).unwrap().is_empty());
}

pub(crate) fn insert_replica_needs_the_id_elsewhere_and_a_free_region(store: &dyn Store) {
    let primary = key_record(KeyId::random_multi_region());
    assert!(matches!(
        store.insert_replica(&in_region(&primary, "ap-south-1")),
        Err(KmsError::NotFound(_))
    ));
    store
        .insert_key(&primary, Some(&sealed_version(primary.key_id, 1)))
        .unwrap();
    assert!(matches!(
        store.insert_replica(&primary),
        Err(KmsError::AlreadyExists(_))
    ));
    // A second key with a taken id is refused in every region.
    let clash = in_region(&primary, "ap-south-1");
    assert!(matches!(
        store.insert_key(&clash, Some(&sealed_version(clash.key_id, 1))),
        Err(KmsError::AlreadyExists(_))
    ));
}

fn key_use(key_id: KeyId, operation: &str, at: u64, audit_seq: u64) -> crate::KeyLastUse {
    crate::KeyLastUse {
        key_id,
        region: R.into(),
        operation: operation.into(),
        at,
        audit_seq,
        request_id: format!("request-{audit_seq}"),
    }
}

pub(crate) fn key_last_use_is_none_until_recorded(store: &dyn Store) {
    let key = stored_key(store);
    assert_eq!(store.key_last_use(R, &key.key_id).unwrap(), None);
    store.record_key_uses(&[]).unwrap();
    assert_eq!(store.key_last_use(R, &key.key_id).unwrap(), None);
}

pub(crate) fn record_key_uses_keeps_the_latest_use_of_each_key(store: &dyn Store) {
    let (a, b) = (KeyId::random(), KeyId::random());
    let first = key_use(a, "Encrypt", T0, 1);
    let later = key_use(a, "Decrypt", T0 + 5, 7);
    let other = key_use(b, "Sign", T0 + 1, 2);
    store
        .record_key_uses(&[first.clone(), other.clone()])
        .unwrap();
    store.record_key_uses(std::slice::from_ref(&later)).unwrap();
    assert_eq!(store.key_last_use(R, &a).unwrap(), Some(later.clone()));
    // An older batch (from a slower node) does not win over what is stored.
    store.record_key_uses(&[first]).unwrap();
    assert_eq!(store.key_last_use(R, &a).unwrap(), Some(later));
    // Within one second, the later audit record wins.
    let same_second = key_use(a, "GenerateMac", T0 + 5, 9);
    store
        .record_key_uses(std::slice::from_ref(&same_second))
        .unwrap();
    assert_eq!(
        store.key_last_use(R, &a).unwrap(),
        Some(same_second.clone())
    );
    assert_eq!(store.key_last_use(R, &b).unwrap(), Some(other));
    // A related key in another region (same id) has uses of its own.
    let elsewhere = crate::KeyLastUse {
        region: "ap-south-1".into(),
        ..key_use(a, "Decrypt", T0 + 50, 20)
    };
    store
        .record_key_uses(std::slice::from_ref(&elsewhere))
        .unwrap();
    assert_eq!(
        store.key_last_use("ap-south-1", &a).unwrap(),
        Some(elsewhere)
    );
    assert_eq!(store.key_last_use(R, &a).unwrap(), Some(same_second));
}

/// A key of EXTERNAL origin awaiting its material.
fn pending_import_key() -> KeyRecord {
    KeyRecord {
        origin: Origin::External,
        state: KeyState::PendingImport,
        rotation: None,
        ..key_record(KeyId::random())
    }
}

/// `key` with imported material as version 1, expiring at `valid_to`.
fn with_imported_material(key: &KeyRecord, imported: bool, valid_to: Option<u64>) -> KeyRecord {
    KeyRecord {
        state: if imported {
            KeyState::Enabled
        } else {
            KeyState::PendingImport
        },
        imported: vec![ImportedMaterial {
            version: 1,
            material_id: "ab".repeat(32),
            description: Some("from the HSM".into()),
            imported,
            valid_to,
            pending_rotation: false,
            rotation: None,
        }],
        ..key.clone()
    }
}

pub(crate) fn key_without_material_is_inserted_with_no_versions(store: &dyn Store) {
    let key = pending_import_key();
    store.insert_key(&key, None).unwrap();
    assert_eq!(store.key(R, &key.key_id).unwrap(), Some(key.clone()));
    assert!(store.versions(&key.key_id).unwrap().is_empty());
    assert_eq!(store.keys_due(u64::MAX).unwrap(), vec![]);
}

pub(crate) fn replace_versions_erases_and_restores_material_with_the_record(store: &dyn Store) {
    let key = pending_import_key();
    store.insert_key(&key, None).unwrap();
    let imported = with_imported_material(&key, true, None);
    let v1 = sealed_version(key.key_id, 1);
    let swap = store.replace_versions(&imported, std::slice::from_ref(&v1));
    assert_eq!(swap.unwrap(), Swap::Done);
    assert_eq!(store.versions(&key.key_id).unwrap(), vec![v1.clone()]);
    let stored = store.key(R, &key.key_id).unwrap().unwrap();
    assert_eq!(stored.revision, 1);
    assert_eq!(stored.imported, imported.imported);

    // Deleting the material: the record remembers its id, the store no longer has its bytes.
    let erased = with_imported_material(&stored, false, None);
    assert_eq!(store.replace_versions(&erased, &[]).unwrap(), Swap::Done);
    assert!(store.versions(&key.key_id).unwrap().is_empty());
    assert_eq!(store.version(&key.key_id, 1).unwrap(), None);
    let stored = store.key(R, &key.key_id).unwrap().unwrap();
    assert_eq!(stored.state, KeyState::PendingImport);
    assert!(!stored.imported[0].imported);

    // The same version number comes back.
    let again = with_imported_material(&stored, true, None);
    let swap = store.replace_versions(&again, std::slice::from_ref(&v1));
    assert_eq!(swap.unwrap(), Swap::Done);
    assert_eq!(store.version(&key.key_id, 1).unwrap(), Some(v1));
}

pub(crate) fn replace_versions_over_a_stale_revision_writes_nothing(store: &dyn Store) {
    let key = pending_import_key();
    store.insert_key(&key, None).unwrap();
    let described = KeyRecord {
        description: "another writer".into(),
        ..key.clone()
    };
    assert_eq!(store.update_key(&described).unwrap(), Swap::Done);
    let imported = with_imported_material(&key, true, None);
    let swap = store.replace_versions(&imported, &[sealed_version(key.key_id, 1)]);
    assert_eq!(swap.unwrap(), Swap::Stale);
    assert!(store.versions(&key.key_id).unwrap().is_empty());
    let stored = store.key(R, &key.key_id).unwrap().unwrap();
    assert_eq!(stored.state, KeyState::PendingImport);
    assert!(stored.imported.is_empty());
    let other = sealed_version(KeyId::random(), 1);
    let stored_imported = with_imported_material(&stored, true, None);
    assert!(store.replace_versions(&stored_imported, &[other]).is_err());
}

pub(crate) fn material_expiry_puts_the_key_on_the_due_list(store: &dyn Store) {
    let key = pending_import_key();
    store.insert_key(&key, None).unwrap();
    let expiring = with_imported_material(&key, true, Some(T0 + DAY));
    let swap = store.replace_versions(&expiring, &[sealed_version(key.key_id, 1)]);
    assert_eq!(swap.unwrap(), Swap::Done);
    assert_eq!(store.keys_due(T0).unwrap(), vec![]);
    assert_eq!(
        store.keys_due(T0 + DAY).unwrap(),
        vec![(R.to_string(), key.key_id)]
    );
    // Expired material is gone: nothing more is due.
    let stored = store.key(R, &key.key_id).unwrap().unwrap();
    let expired = with_imported_material(&stored, false, Some(T0 + DAY));
    assert_eq!(store.replace_versions(&expired, &[]).unwrap(), Swap::Done);
    assert_eq!(store.keys_due(u64::MAX).unwrap(), vec![]);
}

pub(crate) fn update_keys_writes_all_or_nothing(store: &dyn Store) {
    let primary = key_record(KeyId::random_multi_region());
    store
        .insert_key(&primary, Some(&sealed_version(primary.key_id, 1)))
        .unwrap();
    let replica = in_region(&primary, "ap-south-1");
    store.insert_replica(&replica).unwrap();
    let renamed = |r: &KeyRecord, d: &str| KeyRecord {
        description: d.into(),
        ..r.clone()
    };
    // One stale record and nothing is written, not even the fresh one.
    let moved_on = renamed(&replica, "changed meanwhile");
    assert_eq!(store.update_key(&moved_on).unwrap(), Swap::Done);
    assert_eq!(
        store
            .update_keys(&[renamed(&primary, "a"), renamed(&replica, "a")])
            .unwrap(),
        Swap::Stale
    );
    assert_eq!(
        store.key(R, &primary.key_id).unwrap(),
        Some(primary.clone())
    );
    // Read again, both are written, each one revision on.
    let replica = store.key("ap-south-1", &primary.key_id).unwrap().unwrap();
    assert_eq!(
        store
            .update_keys(&[renamed(&primary, "b"), renamed(&replica, "b")])
            .unwrap(),
        Swap::Done
    );
    for region in [R, "ap-south-1"] {
        let stored = store.key(region, &primary.key_id).unwrap().unwrap();
        assert_eq!(stored.description, "b", "{region}");
    }
    assert_eq!(store.key(R, &primary.key_id).unwrap().unwrap().revision, 1);
    // A record that is gone is NotFound.
    let ghost = in_region(&primary, "sa-east-1");
    assert!(matches!(
        store.update_keys(&[ghost]),
        Err(KmsError::NotFound(_))
    ));
}

/// A store other processes can change tells every change that caches depend on by moving its
/// generation; what caches never hold (audit, key usage, meta) leaves it where it is.
pub(crate) fn the_generation_moves_with_every_change_and_only_then(store: &dyn Store) {
    use super::{AccessKeyStatus, PluginScope};
    let Some(mut last) = store.generation().unwrap() else {
        return; // Only this process reaches the store: no generation to keep.
    };
    let mut moved = |what: &str, store: &dyn Store| {
        let now = store.generation().unwrap().unwrap();
        assert!(
            now > last,
            "{what} did not move the generation ({last} → {now})"
        );
        last = now;
    };
    let key = stored_key(store);
    moved("insert_key", store);
    assert_eq!(store.update_key(&key).unwrap(), Swap::Done);
    moved("update_key", store);
    let key = store.key(R, &key.key_id).unwrap().unwrap();
    let next = rotated(&key, 2);
    assert_eq!(
        store
            .add_version(&next, &sealed_version(key.key_id, 2))
            .unwrap(),
        Swap::Done
    );
    moved("add_version", store);
    let alias = AliasRecord {
        region: R.into(),
        name: "alias/generation".into(),
        key_id: key.key_id,
        created_at: T0,
        updated_at: T0,
    };
    store.insert_alias(&alias).unwrap();
    moved("insert_alias", store);
    store.update_alias(&alias).unwrap();
    moved("update_alias", store);
    store.delete_alias(R, &alias.name).unwrap();
    moved("delete_alias", store);
    let scope = PluginScope::of_key(&key);
    store.put_plugin(&plugin(scope.clone(), "p", "a")).unwrap();
    moved("put_plugin", store);
    store.delete_plugin(&scope, "p").unwrap();
    moved("delete_plugin", store);
    store.insert_account(&account("111122223333")).unwrap();
    moved("insert_account", store);
    let bob = principal("111122223333", "bob");
    store.insert_principal(&bob).unwrap();
    moved("insert_principal", store);
    assert_eq!(store.update_principal(&bob).unwrap(), Swap::Done);
    moved("update_principal", store);
    store
        .insert_access_key(&access_key("AKIA1", &bob.arn, T0), 2)
        .unwrap();
    moved("insert_access_key", store);
    store
        .set_access_key_status("AKIA1", AccessKeyStatus::Inactive)
        .unwrap();
    moved("set_access_key_status", store);
    store.delete_access_key("AKIA1").unwrap();
    moved("delete_access_key", store);
    store
        .insert_grant(&grant("g", key.key_id, None, T0))
        .unwrap();
    moved("insert_grant", store);
    store.delete_grant("g").unwrap();
    moved("delete_grant", store);

    let before = store.generation().unwrap();
    store.append_audit(&audit_record(1)).unwrap();
    store
        .append_audit_batch(&[audit_record(2), audit_record(3)], Some("head"))
        .unwrap();
    store
        .record_key_uses(&[key_use(key.key_id, "Encrypt", T0, 3)])
        .unwrap();
    store.set_meta("setting", "on").unwrap();
    assert_eq!(
        store.generation().unwrap(),
        before,
        "a write no cache reads moved it"
    );

    let hsm = custom_key_store(R, "cks-1", "hsm");
    store.insert_custom_key_store(&hsm).unwrap();
    moved("insert_custom_key_store", store);
    assert_eq!(store.update_custom_key_store(&hsm).unwrap(), Swap::Done);
    moved("update_custom_key_store", store);
    let hsm = store.custom_key_store(R, "cks-1").unwrap().unwrap();
    assert_eq!(store.delete_custom_key_store(&hsm).unwrap(), Swap::Done);
    moved("delete_custom_key_store", store);

    let key = store.key(R, &key.key_id).unwrap().unwrap();
    assert_eq!(store.delete_key(&key).unwrap(), Swap::Done);
    moved("delete_key", store);
    store.delete_principal(&bob.arn).unwrap();
    moved("delete_principal", store);
}

fn custom_key_store(region: &str, id: &str, name: &str) -> crate::CustomKeyStoreRecord {
    crate::CustomKeyStoreRecord {
        id: id.into(),
        region: region.into(),
        account: "111122223333".into(),
        name: name.into(),
        store_type: crate::CustomKeyStoreType::AwsCloudHsm,
        cloud_hsm_cluster_id: Some("cluster-234567abcde".into()),
        trust_anchor_certificate: Some("-----BEGIN CERTIFICATE-----".into()),
        sealed_secret: Some(vec![7; 40]),
        connection_state: crate::ConnectionState::Disconnected,
        connection_error_code: None,
        xks: None,
        created_at: T0,
        revision: 0,
    }
}

fn store_fault(err: KmsError) -> kms_core::error::KeyStoreFault {
    match err {
        KmsError::KeyStore(fault, _) => fault,
        other => panic!("not a custom key store error: {other:?}"),
    }
}

pub(crate) fn custom_key_stores_read_back_by_region(store: &dyn Store) {
    let second = custom_key_store(R, "cks-2", "second");
    let first = custom_key_store(R, "cks-1", "first");
    let elsewhere = custom_key_store("us-west-2", "cks-3", "first");
    for s in [&second, &first, &elsewhere] {
        store.insert_custom_key_store(s).unwrap();
    }
    assert_eq!(store.custom_key_stores(R).unwrap(), [first.clone(), second]);
    assert_eq!(store.custom_key_store(R, "cks-1").unwrap(), Some(first));
    assert_eq!(store.custom_key_store(R, "cks-3").unwrap(), None);
    assert_eq!(store.custom_key_stores("us-west-2").unwrap(), [elsewhere]);
    assert!(matches!(
        store.insert_custom_key_store(&custom_key_store(R, "cks-1", "other name")),
        Err(KmsError::AlreadyExists(_))
    ));
}

pub(crate) fn custom_key_store_names_are_unique_in_a_region(store: &dyn Store) {
    use kms_core::error::KeyStoreFault;
    store
        .insert_custom_key_store(&custom_key_store(R, "cks-1", "hsm"))
        .unwrap();
    let same_name = store
        .insert_custom_key_store(&custom_key_store(R, "cks-2", "hsm"))
        .unwrap_err();
    assert_eq!(store_fault(same_name), KeyStoreFault::NameInUse);
    store
        .insert_custom_key_store(&custom_key_store("us-west-2", "cks-2", "hsm"))
        .unwrap();
    store
        .insert_custom_key_store(&custom_key_store(R, "cks-3", "other"))
        .unwrap();
    let renamed = crate::CustomKeyStoreRecord {
        name: "hsm".into(),
        ..store.custom_key_store(R, "cks-3").unwrap().unwrap()
    };
    let taken = store.update_custom_key_store(&renamed).unwrap_err();
    assert_eq!(store_fault(taken), KeyStoreFault::NameInUse);
    assert_eq!(
        store.custom_key_store(R, "cks-3").unwrap().unwrap().name,
        "other"
    );
}

pub(crate) fn custom_key_store_writes_are_compare_and_swap(store: &dyn Store) {
    use kms_core::error::KeyStoreFault;
    let read = custom_key_store(R, "cks-1", "hsm");
    store.insert_custom_key_store(&read).unwrap();
    let connected = crate::CustomKeyStoreRecord {
        connection_state: crate::ConnectionState::Connected,
        ..read.clone()
    };
    assert_eq!(
        store.update_custom_key_store(&connected).unwrap(),
        Swap::Done
    );
    let stored = store.custom_key_store(R, "cks-1").unwrap().unwrap();
    assert_eq!(stored.revision, 1);
    assert_eq!(stored.connection_state, crate::ConnectionState::Connected);
    // Written over the revision it was read at, which has moved on.
    assert_eq!(store.update_custom_key_store(&read).unwrap(), Swap::Stale);
    assert_eq!(store.delete_custom_key_store(&read).unwrap(), Swap::Stale);
    assert_eq!(store.delete_custom_key_store(&stored).unwrap(), Swap::Done);
    assert_eq!(store.custom_key_store(R, "cks-1").unwrap(), None);
    let gone = store.delete_custom_key_store(&stored).unwrap_err();
    assert_eq!(store_fault(gone), KeyStoreFault::NotFound);
    let gone = store.update_custom_key_store(&stored).unwrap_err();
    assert_eq!(store_fault(gone), KeyStoreFault::NotFound);
}
