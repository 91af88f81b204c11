//! The table of authorization cases: each names a key policy (or the default), the caller's
//! identity policies and tags, the key's grants and condition keys, the request, and the expected
//! decision with its reason. Most policies are AWS's own examples from the KMS developer guide
//! (default and console key policies, cross-account use, condition keys, ABAC); the rest cover
//! each part of the evaluation order.

use std::sync::Arc;

use super::policy::PolicyDocument;
use super::*;
use kms_core::CallSource;
use kms_vault::{GrantConstraints, GrantRecord};

const OWNER: &str = "111122223333";
const KEY_ARN: &str = "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const NOW: u64 = 1_790_000_000; // 2026-09-21

struct Case {
    name: &'static str,
    key_policy: Option<&'static str>,
    identity_policies: Vec<&'static str>,
    principal_tags: Vec<(&'static str, &'static str)>,
    caller: &'static str,
    via_service: Option<&'static str>,
    source_ip: Option<&'static str>,
    action: &'static str,
    context: Vec<(&'static str, &'static str)>,
    key_tags: Vec<(&'static str, &'static str)>,
    /// Condition keys of the key besides its spec, usage and tags (`kms:ResourceAliases`).
    key_conditions: Vec<(&'static str, Vec<&'static str>)>,
    request_conditions: Vec<(&'static str, Vec<&'static str>)>,
    grants: Vec<GrantRecord>,
    expect: Result<Basis, Denial>,
}

impl Default for Case {
    fn default() -> Self {
        Case {
            name: "",
            key_policy: None,
            identity_policies: Vec::new(),
            principal_tags: Vec::new(),
            caller: "arn:aws:iam::111122223333:user/alice",
            via_service: None,
            source_ip: None,
            action: "kms:Encrypt",
            context: Vec::new(),
            key_tags: Vec::new(),
            key_conditions: Vec::new(),
            request_conditions: Vec::new(),
            grants: Vec::new(),
            expect: Err(Denial::NoKeyPolicyAllow),
        }
    }
}

fn grant(
    id: &str,
    grantee: &str,
    ops: &[&str],
    constraints: Option<GrantConstraints>,
) -> GrantRecord {
    GrantRecord {
        grant_id: id.into(),
        key_id: kms_core::types::KeyId::random(),
        region: "us-east-1".into(),
        name: None,
        grantee_principal: grantee.into(),
        retiring_principal: None,
        operations: ops.iter().map(|s| s.to_string()).collect(),
        constraints,
        issuing_principal: format!("arn:aws:iam::{OWNER}:root"),
        issuing_account: OWNER.into(),
        created_at: 0,
    }
}

fn equals(pairs: &[(&str, &str)]) -> Option<GrantConstraints> {
    Some(GrantConstraints {
        encryption_context_equals: Some(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ),
        ..Default::default()
    })
}

fn allow_identity(actions: &str) -> &'static str {
    Box::leak(
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":{actions},"Resource":"arn:aws:kms:*:111122223333:key/*"}}]}}"#
        )
        .into_boxed_str(),
    )
}

fn sid(s: &str) -> Option<String> {
    Some(s.to_string())
}

/// AWS's console default key policy: root, key administrators, key users, grants for AWS
/// resources.
const CONSOLE_POLICY: &str = r#"{
  "Id": "key-consolepolicy-3",
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
     "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"},
    {"Sid": "Allow access for Key Administrators", "Effect": "Allow",
     "Principal": {"AWS": "arn:aws:iam::111122223333:role/KMSAdminRole"},
     "Action": ["kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*",
                "kms:Update*", "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*",
                "kms:TagResource", "kms:UntagResource", "kms:ScheduleKeyDeletion",
                "kms:CancelKeyDeletion", "kms:RotateKeyOnDemand"],
     "Resource": "*"},
    {"Sid": "Allow use of the key", "Effect": "Allow",
     "Principal": {"AWS": "arn:aws:iam::111122223333:role/ExampleUserRole"},
     "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*",
                "kms:DescribeKey"],
     "Resource": "*"},
    {"Sid": "Allow attachment of persistent resources", "Effect": "Allow",
     "Principal": {"AWS": "arn:aws:iam::111122223333:role/ExampleUserRole"},
     "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
     "Resource": "*",
     "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}}
  ]
}"#;

/// AWS's cross-account example: the external account may use the key.
const CROSS_ACCOUNT_POLICY: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
     "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"},
    {"Sid": "Allow an external account to use this KMS key", "Effect": "Allow",
     "Principal": {"AWS": ["arn:aws:iam::444455556666:root"]},
     "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*",
                "kms:DescribeKey"],
     "Resource": "*"},
    {"Sid": "Allow a named external role", "Effect": "Allow",
     "Principal": {"AWS": "arn:aws:iam::444455556666:role/ExampleRole"},
     "Action": "kms:Sign", "Resource": "*"}
  ]
}"#;

fn policy_with(statement: &str) -> &'static str {
    Box::leak(
        format!(
            r#"{{"Version":"2012-10-17","Statement":[
            {{"Sid":"Root","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::111122223333:root"}},"Action":"kms:*","Resource":"*"}},
            {statement}]}}"#
        )
        .into_boxed_str(),
    )
}

fn cases() -> Vec<Case> {
    let alice = "arn:aws:iam::111122223333:user/alice";
    let user_role = "arn:aws:iam::111122223333:role/ExampleUserRole";
    let admin_role = "arn:aws:iam::111122223333:role/KMSAdminRole";
    let external_user = "arn:aws:iam::444455556666:user/bob";
    let external_role = "arn:aws:iam::444455556666:role/ExampleRole";
    vec![
        // The default key policy.
        Case {
            name: "default policy: the account root may do anything",
            caller: "arn:aws:iam::111122223333:root",
            action: "kms:ScheduleKeyDeletion",
            expect: Ok(Basis::KeyPolicy(sid(DEFAULT_POLICY_SID))),
            ..Default::default()
        },
        Case {
            name: "default policy delegates: a user needs an identity policy",
            expect: Err(Denial::NoIdentityPolicyAllow),
            ..Default::default()
        },
        Case {
            name: "default policy delegates: an identity policy allows",
            identity_policies: vec![allow_identity(r#"["kms:Encrypt","kms:Decrypt"]"#)],
            expect: Ok(Basis::IdentityPolicy {
                key_statement: sid(DEFAULT_POLICY_SID),
                policy: "p0".into(),
            }),
            ..Default::default()
        },
        Case {
            name: "default policy delegates: the identity policy covers other actions only",
            identity_policies: vec![allow_identity(r#""kms:Decrypt""#)],
            expect: Err(Denial::NoIdentityPolicyAllow),
            ..Default::default()
        },
        Case {
            name: "identity policy for another account's keys does not match this key",
            identity_policies: vec![
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"arn:aws:kms:*:999988887777:key/*"}]}"#,
            ],
            expect: Err(Denial::NoIdentityPolicyAllow),
            ..Default::default()
        },
        Case {
            name: "an explicit deny in an identity policy beats its own allow",
            identity_policies: vec![
                allow_identity(r#""kms:*""#),
                r#"{"Version":"2012-10-17","Statement":[{"Sid":"NoDeletion","Effect":"Deny","Action":"kms:ScheduleKeyDeletion","Resource":"*"}]}"#,
            ],
            action: "kms:ScheduleKeyDeletion",
            expect: Err(Denial::IdentityPolicyDeny {
                policy: "p1".into(),
                sid: sid("NoDeletion"),
            }),
            ..Default::default()
        },
        Case {
            name: "a principal of another account is refused by the default policy",
            caller: external_user,
            identity_policies: vec![allow_identity(r#""kms:*""#)],
            expect: Err(Denial::NoKeyPolicyAllow),
            ..Default::default()
        },
        // The console key policy.
        Case {
            name: "console policy: a key user may encrypt without an identity policy",
            key_policy: Some(CONSOLE_POLICY),
            caller: user_role,
            expect: Ok(Basis::KeyPolicy(sid("Allow use of the key"))),
            ..Default::default()
        },
        Case {
            name: "console policy: GenerateDataKey* covers GenerateDataKeyWithoutPlaintext",
            key_policy: Some(CONSOLE_POLICY),
            caller: user_role,
            action: "kms:GenerateDataKeyWithoutPlaintext",
            expect: Ok(Basis::KeyPolicy(sid("Allow use of the key"))),
            ..Default::default()
        },
        Case {
            name: "console policy: a key user may not schedule deletion",
            key_policy: Some(CONSOLE_POLICY),
            caller: user_role,
            action: "kms:ScheduleKeyDeletion",
            expect: Err(Denial::NoIdentityPolicyAllow),
            ..Default::default()
        },
        Case {
            name: "console policy: a key administrator may replace the policy",
            key_policy: Some(CONSOLE_POLICY),
            caller: admin_role,
            action: "kms:PutKeyPolicy",
            expect: Ok(Basis::KeyPolicy(sid("Allow access for Key Administrators"))),
            ..Default::default()
        },
        Case {
            name: "console policy: a key administrator may not decrypt",
            key_policy: Some(CONSOLE_POLICY),
            caller: admin_role,
            action: "kms:Decrypt",
            expect: Err(Denial::NoIdentityPolicyAllow),
            ..Default::default()
        },
        Case {
            name: "console policy: grants for AWS resources are allowed via a service",
            key_policy: Some(CONSOLE_POLICY),
            caller: user_role,
            action: "kms:CreateGrant",
            via_service: Some("ebs.us-west-2.amazonaws.com"),
            request_conditions: vec![("kms:GrantIsForAWSResource", vec!["true"])],
            expect: Ok(Basis::KeyPolicy(sid(
                "Allow attachment of persistent resources",
            ))),
            ..Default::default()
        },
        Case {
            name: "console policy: grants not for AWS resources are refused",
            key_policy: Some(CONSOLE_POLICY),
            caller: user_role,
            action: "kms:CreateGrant",
            request_conditions: vec![("kms:GrantIsForAWSResource", vec!["false"])],
            expect: Err(Denial::NoIdentityPolicyAllow),
            ..Default::default()
        },
        // Cross-account use.
        Case {
            name: "cross-account: key policy allows the account, identity policy allows the user",
            key_policy: Some(CROSS_ACCOUNT_POLICY),
            caller: external_user,
            identity_policies: vec![
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:Encrypt"],"Resource":"arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"}]}"#,
            ],
            expect: Ok(Basis::IdentityPolicy {
                key_statement: sid("Allow an external account to use this KMS key"),
                policy: "p0".into(),
            }),
            ..Default::default()
        },
        Case {
            name: "cross-account: key policy allows the account, but no identity policy",
            key_policy: Some(CROSS_ACCOUNT_POLICY),
            caller: external_user,
            expect: Err(Denial::NoIdentityPolicyAllow),
            ..Default::default()
        },
        Case {
            name: "cross-account: the external account's root needs no identity policy",
            key_policy: Some(CROSS_ACCOUNT_POLICY),
            caller: "arn:aws:iam::444455556666:root",
            action: "kms:Decrypt",
            expect: Ok(Basis::AccountRoot(sid(
                "Allow an external account to use this KMS key",
            ))),
            ..Default::default()
        },
        Case {
            name: "cross-account: a role named in the key policy still needs its own account's allow",
            key_policy: Some(CROSS_ACCOUNT_POLICY),
            caller: external_role,
            action: "kms:Sign",
            expect: Err(Denial::NoIdentityPolicyAllow),
            ..Default::default()
        },
        Case {
            name: "cross-account: both sides allow the named role",
            key_policy: Some(CROSS_ACCOUNT_POLICY),
            caller: external_role,
            action: "kms:Sign",
            identity_policies: vec![
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Sign","Resource":"*"}]}"#,
            ],
            expect: Ok(Basis::IdentityPolicy {
                key_statement: sid("Allow a named external role"),
                policy: "p0".into(),
            }),
            ..Default::default()
        },
        Case {
            name: "cross-account: an action the key policy does not give the account",
            key_policy: Some(CROSS_ACCOUNT_POLICY),
            caller: external_user,
            action: "kms:ScheduleKeyDeletion",
            identity_policies: vec![allow_identity(r#""kms:*""#)],
            expect: Err(Denial::NoKeyPolicyAllow),
            ..Default::default()
        },
        // Grants.
        Case {
            name: "a grant allows what no policy does",
            key_policy: Some(policy_with(
                r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/KMSAdminRole"},"Action":"kms:Describe*","Resource":"*"}"#,
            )),
            grants: vec![grant("g1", alice, &["Encrypt", "Decrypt"], None)],
            expect: Ok(Basis::Grant("g1".into())),
            ..Default::default()
        },
        Case {
            name: "a grant for another principal does not apply",
            grants: vec![grant("g1", user_role, &["Encrypt"], None)],
            expect: Err(Denial::NoIdentityPolicyAllow),
            ..Default::default()
        },
        Case {
            name: "a grant for other operations does not apply",
            grants: vec![grant("g1", alice, &["Decrypt"], None)],
            expect: Err(Denial::NoIdentityPolicyAllow),
            ..Default::default()
        },
        Case {
            name: "EncryptionContextEquals holds for exactly that context",
            context: vec![("Department", "IT")],
            grants: vec![grant(
                "g1",
                alice,
                &["Encrypt"],
                equals(&[("Department", "IT")]),
            )],
            expect: Ok(Basis::Grant("g1".into())),
            ..Default::default()
        },
        Case {
            name: "EncryptionContextEquals fails for a larger context",
            context: vec![("Department", "IT"), ("Project", "x")],
            grants: vec![grant(
                "g1",
                alice,
                &["Encrypt"],
                equals(&[("Department", "IT")]),
            )],
            expect: Err(Denial::NoIdentityPolicyAllow),
            ..Default::default()
        },
        Case {
            name: "EncryptionContextSubset allows a larger context",
            context: vec![("Department", "IT"), ("Project", "x")],
            grants: vec![grant(
                "g1",
                alice,
                &["Encrypt"],
                Some(GrantConstraints {
                    encryption_context_subset: Some(
                        [("Department".to_string(), "IT".to_string())].into(),
                    ),
                    ..Default::default()
                }),
            )],
            expect: Ok(Basis::Grant("g1".into())),
            ..Default::default()
        },
        Case {
            name: "constraints do not bind DescribeKey",
            action: "kms:DescribeKey",
            grants: vec![grant(
                "g1",
                alice,
                &["DescribeKey"],
                equals(&[("Department", "IT")]),
            )],
            expect: Ok(Basis::Grant("g1".into())),
            ..Default::default()
        },
        Case {
            name: "a grant to a principal of another account allows without its identity policy",
            caller: external_user,
            grants: vec![grant("g1", external_user, &["Encrypt"], None)],
            expect: Ok(Basis::Grant("g1".into())),
            ..Default::default()
        },
        Case {
            name: "an explicit deny in the key policy beats a grant",
            key_policy: Some(policy_with(
                r#"{"Sid":"DenyAlice","Effect":"Deny","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kms:*","Resource":"*"}"#,
            )),
            grants: vec![grant("g1", alice, &["Encrypt"], None)],
            expect: Err(Denial::KeyPolicyDeny(sid("DenyAlice"))),
            ..Default::default()
        },
        Case {
            name: "an identity deny beats a key policy statement naming the caller",
            key_policy: Some(policy_with(
                r#"{"Sid":"Alice","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kms:*","Resource":"*"}"#,
            )),
            identity_policies: vec![
                r#"{"Version":"2012-10-17","Statement":[{"Sid":"NoKms","Effect":"Deny","Action":"kms:*","Resource":"*"}]}"#,
            ],
            expect: Err(Denial::IdentityPolicyDeny {
                policy: "p0".into(),
                sid: sid("NoKms"),
            }),
            ..Default::default()
        },
        // Condition keys, from AWS's examples.
        Case {
            name: "kms:ViaService allows use through the named service",
            key_policy: Some(policy_with(
                r#"{"Sid":"ViaEc2","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*","Condition":{"StringEquals":{"kms:ViaService":["ec2.us-west-2.amazonaws.com","rds.us-west-2.amazonaws.com"]}}}"#,
            )),
            via_service: Some("ec2.us-west-2.amazonaws.com"),
            expect: Ok(Basis::KeyPolicy(sid("ViaEc2"))),
            ..Default::default()
        },
        Case {
            name: "kms:ViaService refuses direct use",
            key_policy: Some(policy_with(
                r#"{"Sid":"ViaEc2","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":["kms:Encrypt"],"Resource":"*","Condition":{"StringEquals":{"kms:ViaService":"ec2.us-west-2.amazonaws.com"}}}"#,
            )),
            expect: Err(Denial::NoIdentityPolicyAllow),
            ..Default::default()
        },
        Case {
            name: "kms:CallerAccount with Principal * admits the account's principals (AWS managed key)",
            key_policy: Some(
                r#"{"Version":"2012-10-17","Statement":[{"Sid":"ViaS3","Effect":"Allow","Principal":{"AWS":"*"},"Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:DescribeKey"],"Resource":"*","Condition":{"StringEquals":{"kms:CallerAccount":"111122223333","kms:ViaService":"s3.us-west-2.amazonaws.com"}}}]}"#,
            ),
            via_service: Some("s3.us-west-2.amazonaws.com"),
            action: "kms:GenerateDataKey",
            expect: Ok(Basis::KeyPolicy(sid("ViaS3"))),
            ..Default::default()
        },
        Case {
            name: "kms:CallerAccount refuses another account",
            key_policy: Some(
                r#"{"Version":"2012-10-17","Statement":[{"Sid":"ViaS3","Effect":"Allow","Principal":{"AWS":"*"},"Action":"kms:Encrypt","Resource":"*","Condition":{"StringEquals":{"kms:CallerAccount":"111122223333"}}}]}"#,
            ),
            caller: external_user,
            identity_policies: vec![allow_identity(r#""kms:*""#)],
            expect: Err(Denial::NoKeyPolicyAllow),
            ..Default::default()
        },
        Case {
            name: "kms:EncryptionContext:Department must be IT",
            key_policy: Some(policy_with(
                r#"{"Sid":"IT","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kms:Encrypt","Resource":"*","Condition":{"StringEquals":{"kms:EncryptionContext:Department":"IT"}}}"#,
            )),
            context: vec![("Department", "IT")],
            expect: Ok(Basis::KeyPolicy(sid("IT"))),
            ..Default::default()
        },
        Case {
            name: "kms:EncryptionContext:Department other than IT",
            key_policy: Some(policy_with(
                r#"{"Sid":"IT","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kms:Encrypt","Resource":"*","Condition":{"StringEquals":{"kms:EncryptionContext:Department":"IT"}}}"#,
            )),
            context: vec![("Department", "HR")],
            expect: Err(Denial::NoIdentityPolicyAllow),
            ..Default::default()
        },
        // Issue 13, finding 13: the context key in kms:EncryptionContext:<key> is read
        // case-insensitively (AWS: "the condition key ... is not case sensitive"), so two pairs
        // differing only in case are both values of one key; neither hides the other.
        Case {
            name: "kms:EncryptionContext:<key> names its key in any case",
            key_policy: Some(policy_with(
                r#"{"Sid":"IT","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kms:Encrypt","Resource":"*","Condition":{"StringEquals":{"kms:EncryptionContext:DEPARTMENT":"IT"}}}"#,
            )),
            context: vec![("department", "IT")],
            expect: Ok(Basis::KeyPolicy(sid("IT"))),
            ..Default::default()
        },
        Case {
            name: "a Deny on one context value sees it beside a pair differing only in case",
            key_policy: Some(policy_with(
                r#"{"Sid":"NotA","Effect":"Deny","Principal":"*","Action":"kms:Encrypt","Resource":"*","Condition":{"StringEquals":{"kms:EncryptionContext:Tenant":"a"}}}"#,
            )),
            caller: "arn:aws:iam::111122223333:root",
            context: vec![("Tenant", "a"), ("tenant", "b")],
            expect: Err(Denial::KeyPolicyDeny(sid("NotA"))),
            ..Default::default()
        },
        Case {
            name: "a negated Deny is not escaped by adding the allowed value in another case",
            key_policy: Some(policy_with(
                r#"{"Sid":"OnlyA","Effect":"Deny","Principal":"*","Action":"kms:Encrypt","Resource":"*","Condition":{"StringNotEquals":{"kms:EncryptionContext:tenant":"a"}}}"#,
            )),
            caller: "arn:aws:iam::111122223333:root",
            context: vec![("TENANT", "b"), ("tenant", "a")],
            expect: Err(Denial::KeyPolicyDeny(sid("OnlyA"))),
            ..Default::default()
        },
        Case {
            name: "an Allow on one context value needs every pair of that key to hold it",
            key_policy: Some(policy_with(
                r#"{"Sid":"B","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kms:Encrypt","Resource":"*","Condition":{"StringEquals":{"kms:EncryptionContext:tenant":"b"}}}"#,
            )),
            context: vec![("Tenant", "a"), ("tenant", "b")],
            expect: Err(Denial::NoIdentityPolicyAllow),
            ..Default::default()
        },
        Case {
            name: "resource tags differing only in case are both values of aws:ResourceTag",
            key_policy: Some(policy_with(
                r#"{"Sid":"Prod","Effect":"Deny","Principal":"*","Action":"kms:Encrypt","Resource":"*","Condition":{"StringEquals":{"aws:ResourceTag/stage":"prod"}}}"#,
            )),
            caller: "arn:aws:iam::111122223333:root",
            key_tags: vec![("Stage", "prod"), ("stage", "test")],
            expect: Err(Denial::KeyPolicyDeny(sid("Prod"))),
            ..Default::default()
        },
        Case {
            name: "kms:EncryptionContextKeys keeps each key's case for the operator",
            key_policy: Some(policy_with(
                r#"{"Sid":"Exact","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kms:Encrypt","Resource":"*","Condition":{"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":"tenant"},"StringEquals":{"kms:EncryptionContext:tenant":"a"}}}"#,
            )),
            context: vec![("Tenant", "a"), ("tenant", "a")],
            expect: Err(Denial::NoIdentityPolicyAllow),
            ..Default::default()
        },
        Case {
            name: "condition keys of parameters the action has not are absent",
            key_policy: Some(policy_with(
                r#"{"Sid":"Ctx","Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"kms:EncryptionContext:Department":"IT","kms:RequestAlias":"alias/finance-key"}}}"#,
            )),
            caller: "arn:aws:iam::111122223333:root",
            action: "kms:EnableKey",
            context: vec![("Department", "IT")],
            request_conditions: vec![("kms:RequestAlias", vec!["alias/finance-key"])],
            expect: Ok(Basis::KeyPolicy(sid("Root"))),
            ..Default::default()
        },
        Case {
            name: "ForAllValues on kms:EncryptionContextKeys refuses an extra key",
            key_policy: Some(policy_with(
                r#"{"Sid":"Keys","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kms:Encrypt","Resource":"*","Condition":{"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["AppName","FilePath"]},"Null":{"kms:EncryptionContextKeys":"false"}}}"#,
            )),
            context: vec![("AppName", "x"), ("Other", "y")],
            expect: Err(Denial::NoIdentityPolicyAllow),
            ..Default::default()
        },
        Case {
            name: "ForAnyValue:StringNotEquals denies a context with a key outside the list (issue 13)",
            key_policy: Some(policy_with(
                r#"{"Sid":"Alice","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kms:Encrypt","Resource":"*"},
                {"Sid":"OnlyTenant","Effect":"Deny","Principal":"*","Action":"kms:Encrypt","Resource":"*","Condition":{"ForAnyValue:StringNotEquals":{"kms:EncryptionContextKeys":["tenant"]}}}"#,
            )),
            context: vec![("tenant", "a"), ("extra", "b")],
            expect: Err(Denial::KeyPolicyDeny(sid("OnlyTenant"))),
            ..Default::default()
        },
        Case {
            name: "ForAnyValue:StringNotEquals lets a context with only the listed keys through",
            key_policy: Some(policy_with(
                r#"{"Sid":"Alice","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kms:Encrypt","Resource":"*"},
                {"Sid":"OnlyTenant","Effect":"Deny","Principal":"*","Action":"kms:Encrypt","Resource":"*","Condition":{"ForAnyValue:StringNotEquals":{"kms:EncryptionContextKeys":["tenant"]}}}"#,
            )),
            context: vec![("tenant", "a")],
            expect: Ok(Basis::KeyPolicy(sid("Alice"))),
            ..Default::default()
        },
        Case {
            name: "ForAllValues with Null=false requires a context and allows its keys",
            key_policy: Some(policy_with(
                r#"{"Sid":"Keys","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kms:Encrypt","Resource":"*","Condition":{"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["AppName","FilePath"]},"Null":{"kms:EncryptionContextKeys":"false"}}}"#,
            )),
            context: vec![("AppName", "x")],
            expect: Ok(Basis::KeyPolicy(sid("Keys"))),
            ..Default::default()
        },
        Case {
            name: "Null=false refuses a request without context",
            key_policy: Some(policy_with(
                r#"{"Sid":"Keys","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kms:Encrypt","Resource":"*","Condition":{"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["AppName"]},"Null":{"kms:EncryptionContextKeys":"false"}}}"#,
            )),
            expect: Err(Denial::NoIdentityPolicyAllow),
            ..Default::default()
        },
        Case {
            name: "kms:RequestAlias allows a request by that alias",
            key_policy: Some(policy_with(
                r#"{"Sid":"Alias","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kms:Encrypt","Resource":"*","Condition":{"StringEquals":{"kms:RequestAlias":"alias/finance-key"}}}"#,
            )),
            request_conditions: vec![("kms:RequestAlias", vec!["alias/finance-key"])],
            expect: Ok(Basis::KeyPolicy(sid("Alias"))),
            ..Default::default()
        },
        Case {
            name: "kms:RequestAlias refuses a request by key id",
            key_policy: Some(policy_with(
                r#"{"Sid":"Alias","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kms:Encrypt","Resource":"*","Condition":{"StringEquals":{"kms:RequestAlias":"alias/finance-key"}}}"#,
            )),
            expect: Err(Denial::NoIdentityPolicyAllow),
            ..Default::default()
        },
        Case {
            name: "ForAnyValue:StringLike kms:ResourceAliases (ABAC with aliases)",
            identity_policies: vec![
                r#"{"Version":"2012-10-17","Statement":[{"Sid":"ProjectAliases","Effect":"Allow","Action":"kms:Encrypt","Resource":"*","Condition":{"ForAnyValue:StringLike":{"kms:ResourceAliases":"alias/ProjectAlpha*"}}}]}"#,
            ],
            key_conditions: vec![(
                "kms:ResourceAliases",
                vec!["alias/other", "alias/ProjectAlpha-db"],
            )],
            expect: Ok(Basis::IdentityPolicy {
                key_statement: sid(DEFAULT_POLICY_SID),
                policy: "p0".into(),
            }),
            ..Default::default()
        },
        Case {
            name: "ABAC: resource tag must match the principal tag (policy variable)",
            identity_policies: vec![
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*","Condition":{"StringEquals":{"aws:ResourceTag/Project":"${aws:PrincipalTag/Project}"}}}]}"#,
            ],
            principal_tags: vec![("Project", "Alpha")],
            key_tags: vec![("Project", "Alpha")],
            expect: Ok(Basis::IdentityPolicy {
                key_statement: sid(DEFAULT_POLICY_SID),
                policy: "p0".into(),
            }),
            ..Default::default()
        },
        Case {
            name: "ABAC: a key of another project is refused",
            identity_policies: vec![
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*","Condition":{"StringEquals":{"aws:ResourceTag/Project":"${aws:PrincipalTag/Project}"}}}]}"#,
            ],
            principal_tags: vec![("Project", "Alpha")],
            key_tags: vec![("Project", "Beta")],
            expect: Err(Denial::NoIdentityPolicyAllow),
            ..Default::default()
        },
        Case {
            name: "ABAC: an untagged principal matches no tag",
            identity_policies: vec![
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*","Condition":{"StringEquals":{"aws:ResourceTag/Project":"${aws:PrincipalTag/Project}"}}}]}"#,
            ],
            key_tags: vec![("Project", "Alpha")],
            expect: Err(Denial::NoIdentityPolicyAllow),
            ..Default::default()
        },
        Case {
            name: "policy variable ${aws:username} in an encryption context condition",
            identity_policies: vec![
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*","Condition":{"StringEquals":{"kms:EncryptionContext:owner":"${aws:username}"}}}]}"#,
            ],
            action: "kms:Decrypt",
            context: vec![("owner", "alice")],
            expect: Ok(Basis::IdentityPolicy {
                key_statement: sid(DEFAULT_POLICY_SID),
                policy: "p0".into(),
            }),
            ..Default::default()
        },
        Case {
            name: "policy variables are literal text in the 2008 language",
            identity_policies: vec![
                r#"{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*","Condition":{"StringEquals":{"kms:EncryptionContext:owner":"${aws:username}"}}}]}"#,
            ],
            action: "kms:Decrypt",
            context: vec![("owner", "alice")],
            expect: Err(Denial::NoIdentityPolicyAllow),
            ..Default::default()
        },
        Case {
            name: "aws:SourceIp inside the range",
            identity_policies: vec![
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"192.0.2.0/24"}}}]}"#,
            ],
            source_ip: Some("192.0.2.17"),
            expect: Ok(Basis::IdentityPolicy {
                key_statement: sid(DEFAULT_POLICY_SID),
                policy: "p0".into(),
            }),
            ..Default::default()
        },
        Case {
            name: "aws:SourceIp outside the range",
            identity_policies: vec![
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"192.0.2.0/24"}}}]}"#,
            ],
            source_ip: Some("203.0.113.9"),
            expect: Err(Denial::NoIdentityPolicyAllow),
            ..Default::default()
        },
        Case {
            name: "a NotIpAddress deny applies to calls without an address",
            identity_policies: vec![
                allow_identity(r#""kms:*""#),
                r#"{"Version":"2012-10-17","Statement":[{"Sid":"OnlyOffice","Effect":"Deny","Action":"kms:*","Resource":"*","Condition":{"NotIpAddress":{"aws:SourceIp":"192.0.2.0/24"}}}]}"#,
            ],
            expect: Err(Denial::IdentityPolicyDeny {
                policy: "p1".into(),
                sid: sid("OnlyOffice"),
            }),
            ..Default::default()
        },
        Case {
            name: "kms:GrantOperations limits the operations a grant may give",
            key_policy: Some(policy_with(
                r#"{"Sid":"Grants","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kms:CreateGrant","Resource":"*","Condition":{"ForAllValues:StringEquals":{"kms:GrantOperations":["Encrypt","Decrypt"]}}}"#,
            )),
            action: "kms:CreateGrant",
            request_conditions: vec![("kms:GrantOperations", vec!["Decrypt"])],
            expect: Ok(Basis::KeyPolicy(sid("Grants"))),
            ..Default::default()
        },
        Case {
            name: "kms:GrantOperations refuses a wider grant",
            key_policy: Some(policy_with(
                r#"{"Sid":"Grants","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kms:CreateGrant","Resource":"*","Condition":{"ForAllValues:StringEquals":{"kms:GrantOperations":["Encrypt","Decrypt"]}}}"#,
            )),
            action: "kms:CreateGrant",
            request_conditions: vec![("kms:GrantOperations", vec!["Decrypt", "RetireGrant"])],
            expect: Err(Denial::NoIdentityPolicyAllow),
            ..Default::default()
        },
        Case {
            name: "kms:KeySpec and kms:KeyUsage deny",
            identity_policies: vec![
                allow_identity(r#""kms:*""#),
                r#"{"Version":"2012-10-17","Statement":[{"Sid":"NoRsaSign","Effect":"Deny","Action":"kms:Sign","Resource":"*","Condition":{"StringLike":{"kms:KeySpec":"RSA_*"},"StringEquals":{"kms:KeyUsage":"SIGN_VERIFY"}}}]}"#,
            ],
            action: "kms:Sign",
            expect: Err(Denial::IdentityPolicyDeny {
                policy: "p1".into(),
                sid: sid("NoRsaSign"),
            }),
            ..Default::default()
        },
        Case {
            name: "aws:CurrentTime: an allow that has expired",
            identity_policies: vec![
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"DateLessThan":{"aws:CurrentTime":"2026-01-01T00:00:00Z"}}}]}"#,
            ],
            expect: Err(Denial::NoIdentityPolicyAllow),
            ..Default::default()
        },
        Case {
            name: "aws:PrincipalArn ArnLike admits every role",
            key_policy: Some(policy_with(
                r#"{"Sid":"Roles","Effect":"Allow","Principal":{"AWS":"*"},"Action":"kms:Encrypt","Resource":"*","Condition":{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::111122223333:role/*"}}}"#,
            )),
            caller: user_role,
            expect: Ok(Basis::KeyPolicy(sid("Roles"))),
            ..Default::default()
        },
        Case {
            name: "aws:PrincipalArn ArnLike refuses a user",
            key_policy: Some(policy_with(
                r#"{"Sid":"Roles","Effect":"Allow","Principal":{"AWS":"*"},"Action":"kms:Encrypt","Resource":"*","Condition":{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::111122223333:role/*"}}}"#,
            )),
            expect: Err(Denial::NoIdentityPolicyAllow),
            ..Default::default()
        },
        Case {
            name: "NotAction deny leaves only the listed actions",
            key_policy: Some(policy_with(
                r#"{"Sid":"DecryptOnly","Effect":"Deny","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"NotAction":["kms:Decrypt","kms:DescribeKey"],"Resource":"*"}"#,
            )),
            identity_policies: vec![allow_identity(r#""kms:*""#)],
            expect: Err(Denial::KeyPolicyDeny(sid("DecryptOnly"))),
            ..Default::default()
        },
        Case {
            name: "NotPrincipal deny spares the named principal",
            key_policy: Some(policy_with(
                r#"{"Sid":"OnlyAlice","Effect":"Deny","NotPrincipal":{"AWS":["arn:aws:iam::111122223333:user/alice","arn:aws:iam::111122223333:root"]},"Action":"kms:Decrypt","Resource":"*"}"#,
            )),
            identity_policies: vec![allow_identity(r#""kms:Decrypt""#)],
            action: "kms:Decrypt",
            expect: Ok(Basis::IdentityPolicy {
                key_statement: sid("Root"),
                policy: "p0".into(),
            }),
            ..Default::default()
        },
        Case {
            name: "a service principal named by the key policy (CloudWatch Logs example)",
            key_policy: Some(policy_with(
                r#"{"Sid":"Logs","Effect":"Allow","Principal":{"Service":"logs.us-west-2.amazonaws.com"},"Action":["kms:Encrypt*","kms:Decrypt*","kms:GenerateDataKey*","kms:Describe*"],"Resource":"*","Condition":{"ArnLike":{"kms:EncryptionContext:aws:logs:arn":"arn:aws:logs:us-west-2:111122223333:*"}}}"#,
            )),
            caller: "logs.us-west-2.amazonaws.com@service",
            context: vec![(
                "aws:logs:arn",
                "arn:aws:logs:us-west-2:111122223333:log-group:app",
            )],
            expect: Ok(Basis::KeyPolicy(sid("Logs"))),
            ..Default::default()
        },
        Case {
            name: "another service principal is not named",
            key_policy: Some(policy_with(
                r#"{"Sid":"Logs","Effect":"Allow","Principal":{"Service":"logs.us-west-2.amazonaws.com"},"Action":"kms:Encrypt*","Resource":"*"}"#,
            )),
            caller: "sns.us-west-2.amazonaws.com@service",
            expect: Err(Denial::NoKeyPolicyAllow),
            ..Default::default()
        },
    ]
}

#[test]
fn every_case_gets_its_decision_and_reason() {
    let mut failures = Vec::new();
    let cases = cases();
    for case in &cases {
        let mut caller = match case.caller.strip_suffix("@service") {
            Some(service) => kms_core::Caller::service(service, OWNER).unwrap(),
            None => kms_core::Caller::principal(case.caller).unwrap(),
        };
        if let Some(ip) = case.source_ip {
            caller.source = CallSource::Api {
                source_ip: Some(ip.to_string()),
                request_id: None,
            };
        }
        caller.via_service = case.via_service.map(str::to_string);
        let key_policy = case.key_policy.map(|text| {
            PolicyDocument::parse(text).unwrap_or_else(|e| panic!("{}: {e}", case.name))
        });
        let identity = Identity {
            tags: case
                .principal_tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            policies: case
                .identity_policies
                .iter()
                .enumerate()
                .map(|(i, text)| {
                    let parsed = PolicyDocument::parse(text)
                        .unwrap_or_else(|e| panic!("{}: {e}", case.name));
                    (format!("p{i}"), Arc::new(parsed))
                })
                .collect(),
            username: case
                .caller
                .rsplit_once(":user/")
                .map(|(_, n)| n.to_string()),
        };
        let context: Vec<(String, String)> = case
            .context
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut key_conditions = vec![
            ("kms:KeySpec".to_string(), vec!["RSA_2048".to_string()]),
            ("kms:KeyUsage".to_string(), vec!["SIGN_VERIFY".to_string()]),
        ];
        key_conditions.extend(
            case.key_tags
                .iter()
                .map(|(k, v)| (format!("aws:ResourceTag/{k}"), vec![v.to_string()])),
        );
        key_conditions.extend(
            case.key_conditions
                .iter()
                .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect())),
        );
        let facts = KeyRequestFacts {
            key_arn: KEY_ARN,
            key_account: OWNER,
            policy: key_policy.as_ref(),
            key_conditions,
            encryption_context: &context,
            now: NOW,
        };
        let request_conditions: Vec<(String, Vec<String>)> = case
            .request_conditions
            .iter()
            .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
            .collect();
        let is_root = case.caller.ends_with(":root") || caller.is_service();
        let request = Request {
            caller: &caller,
            action: case.action,
            key: &facts,
            identity: (!is_root).then_some(&identity),
            grants: &case.grants,
            request_conditions: &request_conditions,
        };
        let got = decide(&request);
        if got != case.expect {
            failures.push(format!(
                "{}:\n   expected {:?}\n   got      {:?}",
                case.name, case.expect, got
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    assert!(cases.len() >= 50, "the table has {} cases", cases.len());
}
