//! Key policies through the service: the default policy, custom policies with conditions, explicit
//! denies, the lockout safety check and malformed documents.

use kms_core::types::Tag;
use kms_service::{Caller, EncryptionContext, KmsError, Service};
use kms_service::{CreateAccountRequest, CreatePrincipalRequest, PutPrincipalPolicyRequest};
use kms_service::{
    CreateKeyRequest, DecryptRequest, EncryptRequest, KeyPolicyRequest, ListKeysRequest,
    PutKeyPolicyRequest, ReplicateKeyRequest,
};

const ACCOUNT: &str = "111122223333";

fn principal(name: &str) -> Caller {
    Caller::principal(&format!("arn:aws:iam::{ACCOUNT}:{name}")).unwrap()
}

fn outsider() -> Caller {
    Caller::principal("arn:aws:iam::444455556666:user/eve").unwrap()
}

/// Stores `caller` (and its account) with one identity policy allowing `actions` on every key.
fn with_identity_policy(service: &Service, caller: &Caller, actions: &[&str]) {
    let operator = Caller::account_root(ACCOUNT);
    let _ = service.create_account(
        &operator,
        CreateAccountRequest {
            account_id: caller.account.clone(),
            name: String::new(),
        },
    );
    let _ = service.create_principal(
        &operator,
        CreatePrincipalRequest {
            arn: caller.principal.clone(),
            tags: Vec::new(),
        },
    );
    service
        .put_principal_policy(
            &operator,
            PutPrincipalPolicyRequest {
                arn: caller.principal.clone(),
                policy_name: "kms".into(),
                policy_document: serde_json::json!({
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]
                })
                .to_string(),
            },
        )
        .unwrap();
}

/// Admin may do everything; alice may encrypt for tenant acme; nobody may decrypt for tenant
/// blocked; eve (another account) may encrypt.
const POLICY: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "Admin", "Effect": "Allow",
     "Principal": {"AWS": "arn:aws:iam::111122223333:role/admin"},
     "Action": "kms:*", "Resource": "*"},
    {"Sid": "AliceEncrypts", "Effect": "Allow",
     "Principal": {"AWS": "arn:aws:iam::111122223333:user/alice"},
     "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "*",
     "Condition": {"StringEquals": {"kms:EncryptionContext:tenant": "acme"}}},
    {"Sid": "NoBlocked", "Effect": "Deny", "Principal": "*",
     "Action": "kms:*", "Resource": "*",
     "Condition": {"StringEquals": {"kms:EncryptionContext:tenant": "blocked"}}},
    {"Sid": "EveEncrypts", "Effect": "Allow",
     "Principal": {"AWS": "arn:aws:iam::444455556666:user/eve"},
     "Action": "kms:Encrypt", "Resource": "*"}
  ]
}"#;

fn context(tenant: &str) -> EncryptionContext {
    EncryptionContext::from_pairs([("tenant", tenant)]).unwrap()
}

fn encrypt(
    service: &Service,
    caller: &Caller,
    key: &str,
    tenant: &str,
) -> Result<Vec<u8>, KmsError> {
    service
        .encrypt(
            caller,
            EncryptRequest::new(key, b"x".to_vec()).with_context(context(tenant)),
        )
        .map(|r| r.ciphertext_blob)
}

fn key_with_policy(service: &Service, policy: &str) -> String {
    with_identity_policy(service, &principal("role/admin"), &["kms:CreateKey"]);
    service
        .create_key(
            &principal("role/admin"),
            CreateKeyRequest {
                policy: Some(policy.into()),
                ..CreateKeyRequest::default()
            },
        )
        .unwrap()
        .key_metadata
        .key_id
}

#[test]
fn the_default_policy_is_reported_and_lets_the_account_in() {
    let service = Service::in_memory().unwrap();
    let admin = Caller::account_root(ACCOUNT);
    let key = service
        .create_key(&admin, CreateKeyRequest::default())
        .unwrap()
        .key_metadata
        .key_id;
    let policy = service
        .get_key_policy(
            &admin,
            KeyPolicyRequest {
                key_id: key.clone(),
                policy_name: None,
            },
        )
        .unwrap();
    assert_eq!(policy.policy_name, "default");
    assert!(policy.policy.contains("arn:aws:iam::111122223333:root"));
    assert!(policy.policy.contains("\"kms:*\""));
    let names = service
        .list_key_policies(
            &admin,
            KeyPolicyRequest {
                key_id: key.clone(),
                policy_name: None,
            },
        )
        .unwrap();
    assert_eq!(names.policy_names, ["default"]);
    // The default policy delegates to the account's identity policies.
    let anyone = principal("user/anyone");
    let refused = encrypt(&service, &anyone, &key, "x").unwrap_err();
    assert!(
        refused.to_string().contains("no identity-based policy"),
        "{refused}"
    );
    with_identity_policy(&service, &anyone, &["kms:Encrypt"]);
    encrypt(&service, &anyone, &key, "x").unwrap();
    // Another account's identity policy cannot reach a key whose policy does not name it.
    with_identity_policy(&service, &outsider(), &["kms:*"]);
    assert!(matches!(
        encrypt(&service, &outsider(), &key, "x"),
        Err(KmsError::AccessDenied(_))
    ));
}

#[test]
fn a_custom_policy_decides_by_principal_action_and_context() {
    let service = Service::in_memory().unwrap();
    let key = key_with_policy(&service, POLICY);
    let alice = principal("user/alice");
    let blob = encrypt(&service, &alice, &key, "acme").unwrap();
    let refused = encrypt(&service, &alice, &key, "globex").unwrap_err();
    assert!(matches!(refused, KmsError::AccessDenied(_)), "{refused}");
    assert!(refused.to_string().contains("user/alice"), "{refused}");
    assert!(refused.to_string().contains("kms:Encrypt"), "{refused}");
    service
        .decrypt(
            &alice,
            DecryptRequest::new(blob).with_context(context("acme")),
        )
        .unwrap();
    // Bob is named nowhere; the admin statement names a role, not the account.
    assert!(matches!(
        encrypt(&service, &principal("user/bob"), &key, "acme"),
        Err(KmsError::AccessDenied(_))
    ));
    // Alice may not manage the key.
    assert!(matches!(
        service.disable_key(&alice, kms_service::KeyRequest::new(&key)),
        Err(KmsError::AccessDenied(_))
    ));
    // The explicit deny wins even over the admin's kms:*.
    let denied = encrypt(&service, &principal("role/admin"), &key, "blocked").unwrap_err();
    assert!(denied.to_string().contains("explicit deny"), "{denied}");
    assert!(denied.to_string().contains("NoBlocked"), "{denied}");
    // Another account's principal named in the policy needs its own account's permission too.
    let refused = encrypt(&service, &outsider(), &key, "acme").unwrap_err();
    assert!(
        refused.to_string().contains("no identity-based policy"),
        "{refused}"
    );
    with_identity_policy(&service, &outsider(), &["kms:Encrypt"]);
    encrypt(&service, &outsider(), &key, "acme").unwrap();
    // ListKeys is not a key operation: identity policies decide it.
    let bob = principal("user/bob");
    assert!(matches!(
        service.list_keys(&bob, ListKeysRequest::default()),
        Err(KmsError::AccessDenied(_))
    ));
    with_identity_policy(&service, &bob, &["kms:ListKeys"]);
    service.list_keys(&bob, ListKeysRequest::default()).unwrap();
}

#[test]
fn resource_tags_drive_abac_in_key_policies() {
    let service = Service::in_memory().unwrap();
    let policy = r#"{"Statement":[
        {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/admin"},"Action":"kms:*","Resource":"*"},
        {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kms:Encrypt","Resource":"*",
         "Condition":{"StringEquals":{"aws:ResourceTag/Project":"Alpha"}}}]}"#;
    let key = key_with_policy(&service, policy);
    let alice = principal("user/alice");
    assert!(encrypt(&service, &alice, &key, "x").is_err());
    service
        .tag_resource(
            &principal("role/admin"),
            kms_service::TagResourceRequest {
                key_id: key.clone(),
                tags: vec![Tag {
                    tag_key: "Project".into(),
                    tag_value: "Alpha".into(),
                }],
            },
        )
        .unwrap();
    encrypt(&service, &alice, &key, "x").unwrap();
}

#[test]
fn the_lockout_safety_check_refuses_a_policy_the_caller_could_not_change_again() {
    let service = Service::in_memory().unwrap();
    let key = key_with_policy(&service, POLICY);
    let admin = principal("role/admin");
    let alice_only = r#"{"Statement":[{"Effect":"Allow",
        "Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kms:*","Resource":"*"}]}"#;
    let put = |bypass| {
        service.put_key_policy(
            &admin,
            PutKeyPolicyRequest {
                key_id: key.clone(),
                policy_name: None,
                policy: alice_only.into(),
                bypass_policy_lockout_safety_check: Some(bypass),
            },
        )
    };
    let refused = put(false).unwrap_err();
    assert_eq!(refused.aws_type(), "MalformedPolicyDocumentException");
    // The old policy still applies.
    encrypt(&service, &admin, &key, "acme").unwrap();
    put(true).unwrap();
    // Now the admin is locked out, exactly as warned; alice holds the key.
    assert!(matches!(put(true), Err(KmsError::AccessDenied(_))));
    encrypt(&service, &principal("user/alice"), &key, "any").unwrap();
}

#[test]
fn malformed_policies_are_refused_and_nothing_is_created() {
    let service = Service::in_memory().unwrap();
    let admin = Caller::account_root(ACCOUNT);
    for policy in ["{}", "not json", r#"{"Statement":[{"Effect":"Allow"}]}"#] {
        let err = service
            .create_key(
                &admin,
                CreateKeyRequest {
                    policy: Some(policy.into()),
                    ..CreateKeyRequest::default()
                },
            )
            .unwrap_err();
        assert_eq!(
            err.aws_type(),
            "MalformedPolicyDocumentException",
            "{policy}"
        );
    }
    assert!(
        service
            .list_keys(&admin, ListKeysRequest::default())
            .unwrap()
            .keys
            .is_empty()
    );
    let key = service
        .create_key(&admin, CreateKeyRequest::default())
        .unwrap()
        .key_metadata
        .key_id;
    let wrong_name = service.get_key_policy(
        &admin,
        KeyPolicyRequest {
            key_id: key,
            policy_name: Some("other".into()),
        },
    );
    assert!(matches!(wrong_name, Err(KmsError::Validation(_))));
}

/// A statement naming no principal, which AWS refuses in a key policy (issue 13, finding 3):
/// accepted, it would let every account decrypt.
const ANYONE_BY_OMISSION: &str = r#"{"Version":"2012-10-17","Statement":[
    {"Sid":"Root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},
    {"Sid":"NoPrincipal","Effect":"Allow","Action":"kms:Decrypt","Resource":"*"}]}"#;

#[test]
fn a_key_policy_statement_without_a_principal_is_refused_by_create_put_and_replicate() {
    let service = Service::in_memory().unwrap();
    let root = Caller::account_root(ACCOUNT);
    let malformed = |result: Result<(), KmsError>| {
        assert_eq!(
            result.unwrap_err().aws_type(),
            "MalformedPolicyDocumentException"
        );
    };
    for bypass in [false, true] {
        malformed(
            service
                .create_key(
                    &root,
                    CreateKeyRequest {
                        policy: Some(ANYONE_BY_OMISSION.into()),
                        bypass_policy_lockout_safety_check: Some(bypass),
                        ..CreateKeyRequest::default()
                    },
                )
                .map(drop),
        );
    }
    let primary = service
        .create_key(
            &root,
            CreateKeyRequest {
                multi_region: Some(true),
                ..CreateKeyRequest::default()
            },
        )
        .unwrap()
        .key_metadata
        .key_id;
    malformed(service.put_key_policy(
        &root,
        PutKeyPolicyRequest {
            key_id: primary.clone(),
            policy_name: None,
            policy: ANYONE_BY_OMISSION.into(),
            bypass_policy_lockout_safety_check: Some(true),
        },
    ));
    malformed(
        service
            .replicate_key(
                &root,
                ReplicateKeyRequest {
                    key_id: primary.clone(),
                    replica_region: "eu-west-1".into(),
                    policy: Some(ANYONE_BY_OMISSION.into()),
                    bypass_policy_lockout_safety_check: Some(true),
                    ..ReplicateKeyRequest::default()
                },
            )
            .map(drop),
    );
    // Nothing was created or changed: one key, still under the default policy, and no one
    // outside the account can use it.
    let keys = service
        .list_keys(&root, ListKeysRequest::default())
        .unwrap();
    assert_eq!(keys.keys.len(), 1);
    let blob = encrypt(&service, &root, &primary, "any").unwrap();
    let eve = service.decrypt(
        &outsider(),
        DecryptRequest::new(blob).with_context(context("any")),
    );
    assert_eq!(eve.unwrap_err().aws_type(), "AccessDeniedException");
}
