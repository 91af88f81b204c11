//! Issue 13, finding 9: CreateAlias, UpdateAlias and DeleteAlias are authorized on the alias
//! (its ARN, by the account's identity policies, as AWS does) as well as on every key they
//! touch, so an identity policy can say which alias names a principal may manage.

use super::*;
use kms_core::types::Tag;

const ACCOUNT: &str = "111122223333";
const ALICE: &str = "arn:aws:iam::111122223333:user/alice";

/// A service, its root, and alice, who holds no identity policy yet.
fn setup() -> (Service, Caller, Caller) {
    let service = Service::in_memory().unwrap();
    assert_eq!(service.account(), ACCOUNT);
    let root = Caller::account_root(ACCOUNT);
    service
        .create_principal(
            &root,
            CreatePrincipalRequest {
                arn: ALICE.into(),
                tags: Vec::<Tag>::new(),
            },
        )
        .unwrap();
    (service, root, Caller::principal(ALICE).unwrap())
}

/// Gives alice one identity policy of these statements.
fn give(service: &Service, root: &Caller, statements: serde_json::Value) {
    let policy = serde_json::json!({"Version": "2012-10-17", "Statement": statements});
    service
        .put_principal_policy(
            root,
            PutPrincipalPolicyRequest {
                arn: ALICE.into(),
                policy_name: "aliases".into(),
                policy_document: policy.to_string(),
            },
        )
        .unwrap();
}

/// Allows alice `action` on exactly `resources`.
fn allow(service: &Service, root: &Caller, action: &str, resources: &[String]) {
    give(
        service,
        root,
        serde_json::json!([{"Effect": "Allow", "Action": action, "Resource": resources}]),
    );
}

fn key(service: &Service, root: &Caller) -> String {
    service
        .create_key(root, CreateKeyRequest::default())
        .unwrap()
        .key_metadata
        .key_id
}

fn alias(name: &str, key: &str) -> AliasRequest {
    AliasRequest {
        alias_name: name.into(),
        target_key_id: key.into(),
    }
}

fn alias_arn(name: &str) -> String {
    format!("arn:aws:kms:us-east-1:{ACCOUNT}:{name}")
}

fn key_arn(key: &str) -> String {
    format!("arn:aws:kms:us-east-1:{ACCOUNT}:key/{key}")
}

/// An AccessDeniedException naming `resource`.
fn denied_on(result: KmsResult<()>, resource: &str) {
    match result {
        Err(KmsError::AccessDenied(message)) => {
            assert!(message.contains(resource), "{message} names not {resource}")
        }
        other => panic!("expected AccessDeniedException on {resource}, got {other:?}"),
    }
}

#[test]
fn an_identity_policy_restricts_the_alias_names_a_principal_may_create() {
    let (service, root, alice) = setup();
    allow(
        &service,
        &root,
        "kms:CreateAlias",
        &[
            format!("arn:aws:kms:*:{ACCOUNT}:alias/tenant-a/*"),
            format!("arn:aws:kms:*:{ACCOUNT}:key/*"),
        ],
    );
    let key = key(&service, &root);
    service
        .create_alias(&alice, alias("alias/tenant-a/orders", &key))
        .unwrap();
    denied_on(
        service.create_alias(&alice, alias("alias/tenant-b/orders", &key)),
        &alias_arn("alias/tenant-b/orders"),
    );
    // Nothing was made for the refused name.
    let names: Vec<String> = service
        .list_aliases(&root, ListAliasesRequest::default())
        .unwrap()
        .aliases
        .into_iter()
        .map(|a| a.alias_name)
        .collect();
    assert_eq!(names, ["alias/tenant-a/orders"]);
}

#[test]
fn create_alias_needs_the_permission_on_the_key_too() {
    let (service, root, alice) = setup();
    allow(
        &service,
        &root,
        "kms:CreateAlias",
        &[format!("arn:aws:kms:*:{ACCOUNT}:alias/*")],
    );
    let key = key(&service, &root);
    denied_on(
        service.create_alias(&alice, alias("alias/app", &key)),
        &key_arn(&key),
    );
}

#[test]
fn a_key_policy_cannot_allow_an_alias_only_identity_policies_can() {
    // The key policy names alice for CreateAlias; she holds no identity policy, and an alias
    // has no key policy of its own.
    let (service, root, alice) = setup();
    let policy = serde_json::json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")},
         "Action": "kms:*", "Resource": "*"},
        {"Effect": "Allow", "Principal": {"AWS": ALICE},
         "Action": "kms:CreateAlias", "Resource": "*"}]});
    let key = service
        .create_key(
            &root,
            CreateKeyRequest {
                policy: Some(policy.to_string()),
                ..Default::default()
            },
        )
        .unwrap()
        .key_metadata
        .key_id;
    denied_on(
        service.create_alias(&alice, alias("alias/app", &key)),
        &alias_arn("alias/app"),
    );
    // The account root needs no identity policy for it.
    service
        .create_alias(&root, alias("alias/app", &key))
        .unwrap();
}

#[test]
fn update_alias_needs_the_permission_on_the_alias_the_old_key_and_the_new_key() {
    for withheld in 0..=3 {
        let (service, root, alice) = setup();
        let (old, new) = (key(&service, &root), key(&service, &root));
        service
            .create_alias(&root, alias("alias/app", &old))
            .unwrap();
        let mut resources = vec![alias_arn("alias/app"), key_arn(&old), key_arn(&new)];
        let missing = (withheld < resources.len()).then(|| resources.remove(withheld));
        allow(&service, &root, "kms:UpdateAlias", &resources);
        let result = service.update_alias(&alice, alias("alias/app", &new));
        match missing {
            Some(resource) => denied_on(result, &resource),
            None => result.unwrap(),
        }
    }
}

#[test]
fn delete_alias_needs_the_permission_on_the_alias_and_its_key() {
    for withheld in 0..=2 {
        let (service, root, alice) = setup();
        let key = key(&service, &root);
        service
            .create_alias(&root, alias("alias/app", &key))
            .unwrap();
        let mut resources = vec![alias_arn("alias/app"), key_arn(&key)];
        let missing = (withheld < resources.len()).then(|| resources.remove(withheld));
        allow(&service, &root, "kms:DeleteAlias", &resources);
        let result = service.delete_alias(
            &alice,
            DeleteAliasRequest {
                alias_name: "alias/app".into(),
            },
        );
        match missing {
            Some(resource) => denied_on(result, &resource),
            None => result.unwrap(),
        }
    }
}

#[test]
fn an_identity_policy_deny_on_an_alias_protects_it() {
    let (service, root, alice) = setup();
    give(
        &service,
        &root,
        serde_json::json!([
            {"Effect": "Allow", "Action": "kms:*", "Resource": "*"},
            {"Effect": "Deny", "Action": ["kms:UpdateAlias", "kms:DeleteAlias"],
             "Resource": format!("arn:aws:kms:*:{ACCOUNT}:alias/protected")}]),
    );
    let (key_a, key_b) = (key(&service, &root), key(&service, &root));
    service
        .create_alias(&alice, alias("alias/protected", &key_a))
        .unwrap();
    denied_on(
        service.update_alias(&alice, alias("alias/protected", &key_b)),
        &alias_arn("alias/protected"),
    );
    denied_on(
        service.delete_alias(
            &alice,
            DeleteAliasRequest {
                alias_name: "alias/protected".into(),
            },
        ),
        &alias_arn("alias/protected"),
    );
}
