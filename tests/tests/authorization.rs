//! Authorization through the service façade: principals and their identity policies and tags,
//! cross-account use, grants (constraints, tokens, retiring, revoking, idempotency, narrowing),
//! AWS managed keys, and the audit records each decision leaves.

use kms_core::types::{DataKeySpec, Tag};
use kms_service::audit::AuditEvent;
use kms_service::{Caller, EncryptionContext, KmsError, Service};
use kms_service::{
    CreateAccountRequest, CreateGrantRequest, CreateKeyRequest, CreatePrincipalRequest,
    DecryptRequest, EncryptRequest, GenerateDataKeyRequest, KeyRequest, ListGrantsRequest,
    ListRetirableGrantsRequest, PutKeyPolicyRequest, PutPrincipalPolicyRequest, RetireGrantRequest,
    RevokeGrantRequest, ScheduleKeyDeletionRequest, TagResourceRequest,
};
use kms_vault::{AccessKeyStatus, GrantConstraints};

const OWNER: &str = "111122223333";
const OTHER: &str = "444455556666";

fn root() -> Caller {
    Caller::account_root(OWNER)
}

fn principal(arn: &str) -> Caller {
    Caller::principal(arn).unwrap()
}

fn alice() -> Caller {
    principal("arn:aws:iam::111122223333:user/alice")
}

fn bob() -> Caller {
    principal("arn:aws:iam::111122223333:user/bob")
}

fn eve() -> Caller {
    principal("arn:aws:iam::444455556666:user/eve")
}

fn tag(k: &str, v: &str) -> Tag {
    Tag {
        tag_key: k.into(),
        tag_value: v.into(),
    }
}

/// A service with accounts OWNER and OTHER and principals alice, bob (OWNER) and eve (OTHER),
/// none holding any identity policy.
fn service() -> Service {
    service_and_vault().0
}

/// [`service`], and its storage and root key seen directly.
fn service_and_vault() -> (Service, kms_vault::Vault) {
    let (service, vault) = kms_integration_tests::in_memory_service();
    service
        .create_account(
            &root(),
            CreateAccountRequest {
                account_id: OTHER.into(),
                name: "partner".into(),
            },
        )
        .unwrap();
    for (who, tags) in [
        (alice(), vec![tag("Project", "Alpha")]),
        (bob(), vec![tag("Project", "Beta")]),
        (eve(), vec![]),
    ] {
        service
            .create_principal(
                &root(),
                CreatePrincipalRequest {
                    arn: who.principal.clone(),
                    tags,
                },
            )
            .unwrap();
    }
    (service, vault)
}

fn give(service: &Service, who: &Caller, name: &str, document: serde_json::Value) {
    service
        .put_principal_policy(
            &root(),
            PutPrincipalPolicyRequest {
                arn: who.principal.clone(),
                policy_name: name.into(),
                policy_document: document.to_string(),
            },
        )
        .unwrap();
}

fn allow_all_kms(service: &Service, who: &Caller) {
    give(
        service,
        who,
        "all-kms",
        serde_json::json!({"Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}),
    );
}

fn new_key(service: &Service, tags: Vec<Tag>) -> String {
    service
        .create_key(
            &root(),
            CreateKeyRequest {
                tags,
                ..Default::default()
            },
        )
        .unwrap()
        .key_metadata
        .arn
}

fn ctx(pairs: &[(&str, &str)]) -> EncryptionContext {
    EncryptionContext::from_pairs(pairs.iter().copied()).unwrap()
}

fn encrypt(
    service: &Service,
    who: &Caller,
    key: &str,
    context: &[(&str, &str)],
) -> Result<Vec<u8>, KmsError> {
    service
        .encrypt(
            who,
            EncryptRequest::new(key, b"secret".to_vec()).with_context(ctx(context)),
        )
        .map(|r| r.ciphertext_blob)
}

fn events(service: &Service) -> Vec<AuditEvent> {
    kms_integration_tests::audit_events(service)
        .into_iter()
        .map(|(_, e)| e)
        .collect()
}

fn denied(result: Result<impl std::fmt::Debug, KmsError>) -> String {
    match result {
        Err(KmsError::AccessDenied(m)) => m,
        other => panic!("expected AccessDenied, got {other:?}"),
    }
}

#[test]
fn identity_policies_and_principal_tags_decide_under_the_default_key_policy() {
    let service = service();
    let key = new_key(&service, vec![tag("Project", "Alpha")]);
    let why = denied(encrypt(&service, &alice(), &key, &[]));
    assert!(why.contains("user/alice") && why.contains("kms:Encrypt") && why.contains(&key));
    // ABAC: the key's Project tag must equal the caller's.
    let abac = serde_json::json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "*",
        "Condition": {"StringEquals": {"aws:ResourceTag/Project": "${aws:PrincipalTag/Project}"}}}]});
    give(&service, &alice(), "abac", abac.clone());
    give(&service, &bob(), "abac", abac);
    let blob = encrypt(&service, &alice(), &key, &[]).unwrap();
    denied(encrypt(&service, &bob(), &key, &[]));
    // Retagging the principal moves its access.
    service
        .tag_principal(&root(), &bob().principal, vec![tag("Project", "Alpha")])
        .unwrap();
    service.decrypt(&bob(), DecryptRequest::new(blob)).unwrap();
    // An explicit deny in a second identity policy wins.
    give(
        &service,
        &bob(),
        "deny",
        serde_json::json!({"Version": "2012-10-17", "Statement": [{
            "Sid": "NoEncrypt", "Effect": "Deny", "Action": "kms:Encrypt", "Resource": "*"}]}),
    );
    let why = denied(encrypt(&service, &bob(), &key, &[]));
    assert!(
        why.contains("explicit deny") && why.contains("'deny'"),
        "{why}"
    );
    service
        .delete_principal_policy(&root(), &bob().principal, "deny")
        .unwrap();
    encrypt(&service, &bob(), &key, &[]).unwrap();
}

#[test]
fn identity_management_is_authorized_and_validated() {
    let service = service();
    // Alice may not manage identities until a policy lets her, and then only her account's.
    denied(service.create_principal(
        &alice(),
        CreatePrincipalRequest {
            arn: "arn:aws:iam::111122223333:role/app".into(),
            tags: vec![],
        },
    ));
    give(
        &service,
        &alice(),
        "iam",
        serde_json::json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": ["iam:CreateRole", "iam:PutRolePolicy"], "Resource": "*"}]}),
    );
    service
        .create_principal(
            &alice(),
            CreatePrincipalRequest {
                arn: "arn:aws:iam::111122223333:role/app".into(),
                tags: vec![],
            },
        )
        .unwrap();
    denied(service.create_principal(
        &alice(),
        CreatePrincipalRequest {
            arn: "arn:aws:iam::444455556666:role/app".into(),
            tags: vec![],
        },
    ));
    // Malformed input is refused with typed errors and changes nothing.
    let bad_policy = service.put_principal_policy(
        &root(),
        PutPrincipalPolicyRequest {
            arn: alice().principal,
            policy_name: "bad".into(),
            policy_document: r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}]}"#.into(),
        },
    );
    assert_eq!(
        bad_policy.unwrap_err().aws_type(),
        "MalformedPolicyDocumentException"
    );
    assert_eq!(
        service
            .get_principal(&root(), &alice().principal)
            .unwrap()
            .policy_names,
        ["iam"]
    );
    let unknown_account = service.create_principal(
        &root(),
        CreatePrincipalRequest {
            arn: "arn:aws:iam::999999999999:user/x".into(),
            tags: vec![],
        },
    );
    assert!(matches!(unknown_account, Err(KmsError::NotFound(_))));
    let bad_arn = service.create_principal(
        &root(),
        CreatePrincipalRequest {
            arn: "arn:aws:iam::111122223333:group/x".into(),
            tags: vec![],
        },
    );
    assert!(matches!(bad_arn, Err(KmsError::Validation(_))));
    let listed: Vec<_> = service
        .list_principals(&root(), OWNER)
        .unwrap()
        .into_iter()
        .map(|p| p.arn)
        .collect();
    assert_eq!(
        listed,
        [
            "arn:aws:iam::111122223333:role/app",
            "arn:aws:iam::111122223333:user/alice",
            "arn:aws:iam::111122223333:user/bob"
        ]
    );
}

#[test]
fn access_keys_resolve_to_their_principal_until_disabled_or_deleted() {
    let (service, vault) = service_and_vault();
    let created = service
        .create_access_key(&root(), &alice().principal)
        .unwrap();
    assert!(created.access_key_id.starts_with("AKIA"));
    assert_eq!(created.access_key_id.len(), 20);
    assert_eq!(created.secret_access_key.len(), 40);
    let credential = service.credential(&created.access_key_id).unwrap().unwrap();
    assert_eq!(credential.caller.principal, alice().principal);
    assert_eq!(
        credential.secret.as_slice(),
        created.secret_access_key.as_bytes()
    );
    // The secret is sealed in the store.
    let stored = vault
        .store()
        .access_key(&created.access_key_id)
        .unwrap()
        .unwrap();
    assert!(
        !stored
            .sealed_secret
            .windows(40)
            .any(|w| w == created.secret_access_key.as_bytes())
    );
    let listed = service
        .list_access_keys(&root(), &alice().principal)
        .unwrap();
    assert_eq!(listed.len(), 1);
    service
        .create_access_key(&root(), &alice().principal)
        .unwrap();
    let third = service.create_access_key(&root(), &alice().principal);
    assert!(matches!(third, Err(KmsError::LimitExceeded(_))));
    // Bob cannot read or change alice's keys.
    denied(service.list_access_keys(&bob(), &alice().principal));
    service
        .update_access_key(&root(), &created.access_key_id, AccessKeyStatus::Inactive)
        .unwrap();
    assert!(
        service
            .credential(&created.access_key_id)
            .unwrap()
            .is_none()
    );
    service
        .delete_access_key(&root(), &created.access_key_id)
        .unwrap();
    assert!(
        service
            .credential(&created.access_key_id)
            .unwrap()
            .is_none()
    );
    assert!(
        service
            .credential("AKIANOSUCHKEY0000000")
            .unwrap()
            .is_none()
    );
}

#[test]
fn cross_account_use_needs_the_key_policy_and_the_callers_identity_policy() {
    let service = service();
    let key = new_key(&service, vec![]);
    allow_all_kms(&service, &eve());
    // The default policy does not name the other account.
    let why = denied(encrypt(&service, &eve(), &key, &[]));
    assert!(why.contains("no resource-based policy"), "{why}");
    let policy = serde_json::json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "Root", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
         "Action": "kms:*", "Resource": "*"},
        {"Sid": "Partner", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::444455556666:root"},
         "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "*"}]});
    service
        .put_key_policy(
            &root(),
            PutKeyPolicyRequest {
                key_id: key.clone(),
                policy_name: None,
                policy: policy.to_string(),
                bypass_policy_lockout_safety_check: None,
            },
        )
        .unwrap();
    let blob = encrypt(&service, &eve(), &key, &[]).unwrap();
    // Without eve's own identity policy, the key policy alone does not let her in.
    service
        .delete_principal_policy(&root(), &eve().principal, "all-kms")
        .unwrap();
    let why = denied(service.decrypt(&eve(), DecryptRequest::new(blob.clone())));
    assert!(why.contains("no identity-based policy"), "{why}");
    // The other account's root holds every permission of its account.
    service
        .decrypt(&Caller::account_root(OTHER), DecryptRequest::new(blob))
        .unwrap();
    // Actions the key policy does not give the account stay refused.
    allow_all_kms(&service, &eve());
    denied(service.schedule_key_deletion(
        &eve(),
        ScheduleKeyDeletionRequest {
            key_id: key,
            pending_window_in_days: Some(7),
        },
    ));
}

fn grant_count(service: &Service, key: &str) -> usize {
    service
        .list_grants(
            &root(),
            ListGrantsRequest {
                key_id: key.to_string(),
                ..Default::default()
            },
        )
        .unwrap()
        .grants
        .len()
}

fn subset(pairs: &[(&str, &str)]) -> Option<GrantConstraints> {
    Some(GrantConstraints {
        encryption_context_subset: Some(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ),
        ..Default::default()
    })
}

#[test]
fn a_grant_allows_its_operations_under_its_constraints_and_is_audited() {
    let service = service();
    let key = new_key(&service, vec![]);
    denied(encrypt(&service, &alice(), &key, &[("dept", "it")]));
    let grant = service
        .create_grant(
            &root(),
            CreateGrantRequest {
                key_id: key.clone(),
                grantee_principal: alice().principal,
                retiring_principal: Some(bob().principal),
                operations: vec!["Encrypt".into(), "Decrypt".into()],
                constraints: subset(&[("dept", "it")]),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(grant.grant_id.len(), 64);
    // Usable at once, with or without the token.
    let blob = service
        .encrypt(
            &alice(),
            EncryptRequest {
                grant_tokens: vec![grant.grant_token.clone()],
                ..EncryptRequest::new(&key, b"x".to_vec())
                    .with_context(ctx(&[("dept", "it"), ("app", "pay")]))
            },
        )
        .unwrap()
        .ciphertext_blob;
    service
        .decrypt(
            &alice(),
            DecryptRequest::new(blob).with_context(ctx(&[("dept", "it"), ("app", "pay")])),
        )
        .unwrap();
    // Outside the constraint, or for an operation the grant does not name, it does not apply.
    denied(encrypt(&service, &alice(), &key, &[("dept", "hr")]));
    denied(encrypt(&service, &alice(), &key, &[]));
    denied(service.generate_data_key(
        &alice(),
        GenerateDataKeyRequest {
            key_id: key.clone(),
            key_spec: Some(DataKeySpec::Aes256),
            encryption_context: ctx(&[("dept", "it")]),
            ..Default::default()
        },
    ));
    // A forged token is refused.
    let mut forged = grant.grant_token.clone();
    forged.replace_range(0..1, if forged.starts_with('A') { "B" } else { "A" });
    let err = service
        .encrypt(
            &alice(),
            EncryptRequest {
                grant_tokens: vec![forged],
                ..EncryptRequest::new(&key, b"x".to_vec()).with_context(ctx(&[("dept", "it")]))
            },
        )
        .unwrap_err();
    assert_eq!(err.aws_type(), "InvalidGrantTokenException");
    // The audit trail names the grant on the calls it allowed.
    let used: Vec<_> = events(&service)
        .into_iter()
        .filter(|e| e.grant_id.as_deref() == Some(grant.grant_id.as_str()))
        .map(|e| e.operation)
        .collect();
    assert_eq!(used, ["Encrypt", "Decrypt"]);
    // Listing.
    let listed = service
        .list_grants(
            &root(),
            ListGrantsRequest {
                key_id: key.clone(),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(listed.grants.len(), 1);
    assert_eq!(
        listed.grants[0].issuing_account,
        "arn:aws:iam::111122223333:root"
    );
    assert_eq!(listed.grants[0].constraints, subset(&[("dept", "it")]));
    let retirable = service
        .list_retirable_grants(
            &root(),
            ListRetirableGrantsRequest {
                retiring_principal: bob().principal,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(retirable.grants[0].grant_id, grant.grant_id);
    // Another account's root cannot list the grants bob may retire; another region has none.
    let stranger = Caller::account_root("444455556666");
    denied(service.list_retirable_grants(
        &stranger,
        ListRetirableGrantsRequest {
            retiring_principal: bob().principal,
            ..Default::default()
        },
    ));
    let elsewhere = service
        .in_region("eu-west-1")
        .unwrap()
        .list_retirable_grants(
            &root(),
            ListRetirableGrantsRequest {
                retiring_principal: bob().principal,
                ..Default::default()
            },
        )
        .unwrap();
    assert!(elsewhere.grants.is_empty());
    // Alice may not retire it (no RetireGrant operation); bob, the retiring principal, may.
    denied(service.retire_grant(
        &alice(),
        RetireGrantRequest {
            grant_token: Some(grant.grant_token.clone()),
            ..Default::default()
        },
    ));
    service
        .retire_grant(
            &bob(),
            RetireGrantRequest {
                grant_token: Some(grant.grant_token.clone()),
                ..Default::default()
            },
        )
        .unwrap();
    denied(encrypt(&service, &alice(), &key, &[("dept", "it")]));
}

#[test]
fn create_grant_is_idempotent_by_name_and_grants_can_only_narrow() {
    let service = service();
    let key = new_key(&service, vec![]);
    let request = CreateGrantRequest {
        key_id: key.clone(),
        grantee_principal: alice().principal,
        operations: vec!["Encrypt".into(), "CreateGrant".into()],
        constraints: subset(&[("dept", "it")]),
        name: Some("app-encrypt".into()),
        ..Default::default()
    };
    let first = service.create_grant(&root(), request.clone()).unwrap();
    let again = service.create_grant(&root(), request.clone()).unwrap();
    assert_eq!(first.grant_id, again.grant_id);
    assert_ne!(first.grant_token, again.grant_token);
    let different = service
        .create_grant(
            &root(),
            CreateGrantRequest {
                operations: vec!["Encrypt".into()],
                ..request.clone()
            },
        )
        .unwrap();
    assert_ne!(first.grant_id, different.grant_id);
    // Alice, holding CreateGrant through the grant, may pass on Encrypt under the same or a
    // stricter constraint, but no more.
    let narrow = CreateGrantRequest {
        key_id: key.clone(),
        grantee_principal: bob().principal,
        operations: vec!["Encrypt".into()],
        constraints: subset(&[("dept", "it"), ("app", "pay")]),
        ..Default::default()
    };
    service.create_grant(&alice(), narrow.clone()).unwrap();
    denied(service.create_grant(
        &alice(),
        CreateGrantRequest {
            operations: vec!["Encrypt".into(), "Decrypt".into()],
            ..narrow.clone()
        },
    ));
    denied(service.create_grant(
        &alice(),
        CreateGrantRequest {
            constraints: None,
            ..narrow.clone()
        },
    ));
    // Bad operations, constraints on an HMAC key, aliases: typed errors, nothing created.
    let before = grant_count(&service, &key);
    for bad in [
        CreateGrantRequest {
            operations: vec!["Fly".into()],
            ..request.clone()
        },
        CreateGrantRequest {
            operations: vec!["Sign".into()],
            ..request.clone()
        },
        CreateGrantRequest {
            grantee_principal: "bob".into(),
            ..request.clone()
        },
        CreateGrantRequest {
            operations: vec![],
            ..request.clone()
        },
    ] {
        let err = service.create_grant(&root(), bad).unwrap_err();
        assert_eq!(err.aws_type(), "ValidationException", "{err}");
    }
    let dry = service.create_grant(
        &root(),
        CreateGrantRequest {
            dry_run: true,
            name: None,
            ..request.clone()
        },
    );
    assert_eq!(dry.unwrap_err().aws_type(), "DryRunOperationException");
    let after = grant_count(&service, &key);
    assert_eq!(before, after);
    // RevokeGrant is a key policy permission; alice has none.
    denied(service.revoke_grant(
        &alice(),
        RevokeGrantRequest {
            key_id: key.clone(),
            grant_id: first.grant_id.clone(),
            dry_run: false,
        },
    ));
    service
        .revoke_grant(
            &root(),
            RevokeGrantRequest {
                key_id: key.clone(),
                grant_id: first.grant_id.clone(),
                dry_run: false,
            },
        )
        .unwrap();
    let missing = service.revoke_grant(
        &root(),
        RevokeGrantRequest {
            key_id: key,
            grant_id: first.grant_id,
            dry_run: false,
        },
    );
    assert!(matches!(missing, Err(KmsError::NotFound(_))));
}

#[test]
fn a_grant_lets_another_account_in_without_its_identity_policy() {
    let service = service();
    let key = new_key(&service, vec![]);
    denied(encrypt(&service, &eve(), &key, &[]));
    service
        .create_grant(
            &root(),
            CreateGrantRequest {
                key_id: key.clone(),
                grantee_principal: eve().principal,
                operations: vec!["Encrypt".into()],
                ..Default::default()
            },
        )
        .unwrap();
    encrypt(&service, &eve(), &key, &[]).unwrap();
    // An explicit deny in the key policy still wins over the grant.
    let policy = serde_json::json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "Root", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
         "Action": "kms:*", "Resource": "*"},
        {"Sid": "NoPartner", "Effect": "Deny", "Principal": {"AWS": "444455556666"},
         "Action": "kms:*", "Resource": "*"}]});
    service
        .put_key_policy(
            &root(),
            PutKeyPolicyRequest {
                key_id: key.clone(),
                policy_name: None,
                policy: policy.to_string(),
                bypass_policy_lockout_safety_check: None,
            },
        )
        .unwrap();
    let why = denied(encrypt(&service, &eve(), &key, &[]));
    assert!(why.contains("NoPartner"), "{why}");
}

#[test]
fn aws_managed_keys_are_created_on_first_use_and_serve_only_their_service() {
    let service = service();
    allow_all_kms(&service, &alice());
    // Direct use does not create the key.
    let direct = encrypt(&service, &alice(), "alias/aws/s3", &[]);
    assert!(matches!(direct, Err(KmsError::NotFound(_))), "{direct:?}");
    let via_s3 = alice().via_service("s3.us-east-1.amazonaws.com");
    let blob = encrypt(&service, &via_s3, "alias/aws/s3", &[]).unwrap();
    service
        .decrypt(&via_s3, DecryptRequest::new(blob.clone()))
        .unwrap();
    // Another service, or none, may not use it, whatever the identity policy says.
    let why = denied(service.decrypt(&alice(), DecryptRequest::new(blob.clone())));
    assert!(why.contains("kms:Decrypt"), "{why}");
    denied(service.decrypt(
        &alice().via_service("ebs.us-east-1.amazonaws.com"),
        DecryptRequest::new(blob),
    ));
    // The account can see it; it is AWS managed and rotates yearly.
    let metadata = service
        .describe_key(&root(), KeyRequest::new("alias/aws/s3"))
        .unwrap()
        .key_metadata;
    assert_eq!(metadata.key_manager, "AWS");
    let rotation = service
        .get_key_rotation_status(&root(), KeyRequest::new(&metadata.key_id))
        .unwrap();
    assert!(rotation.key_rotation_enabled);
    assert_eq!(rotation.rotation_period_in_days, Some(365));
    // Nobody may change it: not the account root, not a principal with kms:*.
    for who in [root(), alice()] {
        denied(service.put_key_policy(
            &who,
            PutKeyPolicyRequest {
                key_id: metadata.key_id.clone(),
                policy_name: None,
                policy: kms_authz::default_key_policy(OWNER),
                bypass_policy_lockout_safety_check: Some(true),
            },
        ));
        denied(service.schedule_key_deletion(
            &who,
            ScheduleKeyDeletionRequest {
                key_id: metadata.key_id.clone(),
                pending_window_in_days: Some(7),
            },
        ));
        denied(service.disable_key(&who, KeyRequest::new(&metadata.key_id)));
        denied(service.tag_resource(
            &who,
            TagResourceRequest {
                key_id: metadata.key_id.clone(),
                tags: vec![tag("a", "b")],
            },
        ));
    }
    // DescribeKey creates the managed key of a service not used yet, as AWS does.
    let ebs = service
        .describe_key(&root(), KeyRequest::new("alias/aws/ebs"))
        .unwrap()
        .key_metadata;
    assert_eq!(ebs.key_manager, "AWS");
    assert_ne!(ebs.key_id, metadata.key_id);
    let created: Vec<_> = events(&service)
        .into_iter()
        .filter(|e| e.operation == "CreateKey" && e.principal.ends_with(".amazonaws.com"))
        .map(|e| e.principal)
        .collect();
    assert_eq!(created, ["s3.amazonaws.com", "ebs.amazonaws.com"]);
}

#[test]
fn every_decision_is_audited_with_principal_key_and_outcome() {
    let service = service();
    let key = new_key(&service, vec![]);
    let _ = encrypt(&service, &alice(), &key, &[("app", "pay")]);
    allow_all_kms(&service, &alice());
    encrypt(&service, &alice(), &key, &[("app", "pay")]).unwrap();
    let trail: Vec<_> = events(&service)
        .into_iter()
        .filter(|e| e.operation == "Encrypt")
        .collect();
    assert_eq!(trail.len(), 2);
    assert_eq!(trail[0].outcome, "AccessDeniedException");
    assert_eq!(trail[1].outcome, "Success");
    for e in &trail {
        assert_eq!(e.principal, alice().principal);
        assert_eq!(e.account, OWNER);
        assert_eq!(e.key_arn.as_deref(), Some(key.as_str()));
        assert_eq!(
            e.encryption_context.as_deref(),
            Some(&[("app".to_string(), "pay".to_string())][..])
        );
    }
    let management: Vec<_> = events(&service)
        .into_iter()
        .map(|e| e.operation)
        .filter(|op| op == "CreatePrincipal" || op == "PutPrincipalPolicy" || op == "CreateAccount")
        .collect();
    assert_eq!(
        management,
        [
            "CreateAccount",
            "CreatePrincipal",
            "CreatePrincipal",
            "CreatePrincipal",
            "PutPrincipalPolicy"
        ]
    );
    assert!(matches!(
        service.verify_audit().unwrap(),
        kms_service::audit::Verification::Intact { .. }
    ));
}

#[test]
fn alias_condition_keys_follow_the_request_and_the_keys_aliases() {
    let service = service();
    let key = new_key(&service, vec![]);
    for alias in ["alias/finance-key", "alias/ProjectAlpha-db"] {
        service
            .create_alias(
                &root(),
                kms_service::AliasRequest {
                    alias_name: alias.into(),
                    target_key_id: key.clone(),
                },
            )
            .unwrap();
    }
    // kms:RequestAlias: only requests naming the key by that alias.
    give(
        &service,
        &alice(),
        "by-alias",
        serde_json::json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "kms:Encrypt", "Resource": "*",
            "Condition": {"StringEquals": {"kms:RequestAlias": "alias/finance-key"}}}]}),
    );
    encrypt(&service, &alice(), "alias/finance-key", &[]).unwrap();
    let arn_form = key.replace(
        &format!("key/{}", key.rsplit('/').next().unwrap()),
        "alias/finance-key",
    );
    encrypt(&service, &alice(), &arn_form, &[]).unwrap();
    denied(encrypt(&service, &alice(), &key, &[]));
    denied(encrypt(&service, &alice(), "alias/ProjectAlpha-db", &[]));
    // kms:ResourceAliases: any request on a key that carries a matching alias.
    give(
        &service,
        &bob(),
        "by-resource-alias",
        serde_json::json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "kms:Encrypt", "Resource": "*",
            "Condition": {"ForAnyValue:StringLike": {"kms:ResourceAliases": "alias/ProjectAlpha*"}}}]}),
    );
    encrypt(&service, &bob(), &key, &[]).unwrap();
    service
        .delete_alias(
            &root(),
            kms_service::DeleteAliasRequest {
                alias_name: "alias/ProjectAlpha-db".into(),
            },
        )
        .unwrap();
    denied(encrypt(&service, &bob(), &key, &[]));
}

#[test]
fn use_of_a_key_pending_deletion_is_refused_and_audited() {
    let service = service();
    let key = new_key(&service, vec![]);
    service
        .schedule_key_deletion(
            &root(),
            ScheduleKeyDeletionRequest {
                key_id: key.clone(),
                pending_window_in_days: Some(7),
            },
        )
        .unwrap();
    let err = encrypt(&service, &root(), &key, &[]).unwrap_err();
    assert_eq!(err.aws_type(), "KMSInvalidStateException");
    let last = events(&service).pop().unwrap();
    assert_eq!(last.operation, "Encrypt");
    assert_eq!(last.outcome, "KMSInvalidStateException");
    assert_eq!(last.key_arn.as_deref(), Some(key.as_str()));
    assert!(last.error_message.unwrap().contains("pending deletion"));
}

#[test]
fn update_alias_needs_update_alias_on_both_keys_not_create_alias() {
    let service = service();
    let create = |svc: &Service| {
        svc.create_key(&root(), CreateKeyRequest::default())
            .unwrap()
            .key_metadata
            .key_id
    };
    let (first, second) = (create(&service), create(&service));
    service
        .create_alias(
            &root(),
            kms_service::AliasRequest {
                alias_name: "alias/app".into(),
                target_key_id: first,
            },
        )
        .unwrap();
    let repoint = |who: &Caller| {
        service.update_alias(
            who,
            kms_service::AliasRequest {
                alias_name: "alias/app".into(),
                target_key_id: second.clone(),
            },
        )
    };
    // CreateAlias alone does not let alice repoint an alias.
    give(
        &service,
        &alice(),
        "create-only",
        serde_json::json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "kms:CreateAlias", "Resource": "*"}]}),
    );
    denied(repoint(&alice()));
    // UpdateAlias alone lets bob do it, on the current and the new key.
    give(
        &service,
        &bob(),
        "update-only",
        serde_json::json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "kms:UpdateAlias", "Resource": "*"}]}),
    );
    repoint(&bob()).unwrap();
}

#[test]
fn managed_keys_are_made_only_for_aws_services_for_authorized_callers_within_quota() {
    let service = service();
    let keys = |svc: &Service| {
        svc.list_keys(&root(), kms_service::ListKeysRequest::default())
            .unwrap()
            .keys
            .len()
    };
    let describe = |who: &Caller, key: &str| service.describe_key(who, KeyRequest::new(key));
    // Names that are no AWS service's: not found, nothing made, whoever asks.
    for name in ["alias/aws/anything", "alias/aws/s3-but-not-really"] {
        assert_eq!(
            describe(&root(), name).unwrap_err().aws_type(),
            "NotFoundException"
        );
    }
    // Another account's principal, and a principal of the account without permission: nothing.
    assert_eq!(
        describe(&eve(), "alias/aws/s3").unwrap_err().aws_type(),
        "NotFoundException"
    );
    assert_eq!(
        describe(&alice(), "alias/aws/s3").unwrap_err().aws_type(),
        "NotFoundException"
    );
    assert_eq!(keys(&service), 0);
    // The account root may, once; the key counts against the quota.
    describe(&root(), "alias/aws/s3").unwrap();
    describe(&root(), "alias/aws/s3").unwrap();
    assert_eq!(keys(&service), 1);
    service.set_resource_limits(kms_service::ResourceLimits {
        keys: 1,
        ..Default::default()
    });
    assert_eq!(
        describe(&root(), "alias/aws/ebs").unwrap_err().aws_type(),
        "LimitExceededException"
    );
}
