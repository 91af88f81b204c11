//! Table-driven policy cases: AWS KMS documentation examples and each operator family, with the
//! expected decision for each request.

use super::*;

const ACCOUNT: &str = "111122223333";
const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

fn request(principal: &str, action: &str) -> RequestContext {
    RequestContext {
        principal_arn: principal.to_string(),
        principal_account: principal
            .strip_prefix("arn:aws:iam::")
            .and_then(|r| r.split(':').next())
            .unwrap_or(ACCOUNT)
            .to_string(),
        service: None,
        action: action.to_string(),
        resource: KEY.to_string(),
        ..Default::default()
    }
}

fn alice() -> RequestContext {
    request("arn:aws:iam::111122223333:user/alice", "kms:Encrypt")
}

fn decide(policy: &str, ctx: &RequestContext) -> Decision {
    PolicyDocument::parse(policy)
        .unwrap_or_else(|e| panic!("{e}: {policy}"))
        .evaluate(ctx, true)
}

/// One statement with a condition block, allowing kms:* on * to alice.
fn allow_if(condition: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"c","Effect":"Allow",
        "Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:user/alice"}},"Action":"kms:*","Resource":"*",
        "Condition":{condition}}}]}}"#
    )
}

#[test]
fn the_default_key_policy_gives_the_account_root_everything() {
    let policy = r#"{"Version":"2012-10-17","Id":"key-default-1","Statement":[{
        "Sid":"Enable IAM User Permissions","Effect":"Allow",
        "Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}"#;
    let root = request("arn:aws:iam::111122223333:root", "kms:ScheduleKeyDeletion");
    assert_eq!(
        decide(policy, &root),
        Decision::Allow(Some("Enable IAM User Permissions".into()))
    );
    // For everyone else in the account, the root ARN delegates to their identity policies.
    assert_eq!(
        decide(policy, &alice()),
        Decision::AllowIfIdentityAllows(Some("Enable IAM User Permissions".into()))
    );
    let outsider = request("arn:aws:iam::444455556666:root", "kms:Encrypt");
    assert_eq!(decide(policy, &outsider), Decision::NotApplicable);
}

#[test]
fn an_account_principal_delegates_an_allow_but_applies_a_deny_to_everyone() {
    let allow = r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"kms:*","Resource":"*"}}"#;
    assert_eq!(
        decide(allow, &alice()),
        Decision::AllowIfIdentityAllows(None)
    );
    let deny = r#"{"Statement":[
        {"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"},
        {"Sid":"no","Effect":"Deny","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:Decrypt","Resource":"*"}]}"#;
    let decrypt = request("arn:aws:iam::111122223333:user/alice", "kms:Decrypt");
    assert_eq!(decide(deny, &decrypt), Decision::Deny(Some("no".into())));
    let outsider = request("arn:aws:iam::444455556666:user/eve", "kms:Decrypt");
    assert_eq!(decide(deny, &outsider), Decision::Allow(None));
    // A named user is allowed directly, whatever the account statement says.
    let both = r#"{"Statement":[
        {"Sid":"acct","Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"kms:*","Resource":"*"},
        {"Sid":"alice","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kms:Encrypt","Resource":"*"}]}"#;
    assert_eq!(
        decide(both, &alice()),
        Decision::Allow(Some("alice".into()))
    );
}

#[test]
fn actions_match_with_wildcards_case_insensitively() {
    let policy = r#"{"Statement":{"Effect":"Allow","Principal":"*",
        "Action":["kms:Encrypt","kms:GenerateDataKey*","KMS:describe?ey"],"Resource":"*"}}"#;
    for (action, allowed) in [
        ("kms:Encrypt", true),
        ("kms:encrypt", true),
        ("kms:GenerateDataKeyWithoutPlaintext", true),
        ("kms:GenerateDataKey", true),
        ("kms:DescribeKey", true),
        ("kms:Decrypt", false),
        ("kms:EncryptX", false),
    ] {
        let ctx = request("arn:aws:iam::111122223333:user/a", action);
        assert_eq!(
            decide(policy, &ctx) != Decision::NotApplicable,
            allowed,
            "{action}"
        );
    }
}

#[test]
fn not_action_not_principal_and_not_resource_invert_their_match() {
    let policy = r#"{"Statement":[{"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:role/admin"},
        "NotAction":["kms:Encrypt","kms:Decrypt"],"Resource":"*"},
        {"Effect":"Allow","Principal":"*","Action":"kms:*","NotResource":"arn:aws:kms:*:*:key/other"}]}"#;
    let admin = request("arn:aws:iam::111122223333:role/admin", "kms:DisableKey");
    assert_eq!(decide(policy, &admin), Decision::Allow(None));
    let user_disable = request("arn:aws:iam::111122223333:user/u", "kms:DisableKey");
    assert_eq!(decide(policy, &user_disable), Decision::Deny(None));
    let user_encrypt = request("arn:aws:iam::111122223333:user/u", "kms:Encrypt");
    assert_eq!(decide(policy, &user_encrypt), Decision::Allow(None));
}

#[test]
fn an_explicit_deny_wins_over_an_allow() {
    let policy = r#"{"Statement":[
        {"Sid":"a","Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"},
        {"Sid":"d","Effect":"Deny","Principal":"*","Action":"kms:Decrypt","Resource":"*"}]}"#;
    let decrypt = request("arn:aws:iam::111122223333:user/u", "kms:Decrypt");
    assert_eq!(decide(policy, &decrypt), Decision::Deny(Some("d".into())));
    assert_eq!(decide(policy, &alice()), Decision::Allow(Some("a".into())));
}

#[test]
fn condition_operators_decide_as_iam_does() {
    type Case = (
        &'static str,
        &'static [(&'static str, &'static [&'static str])],
        bool,
    );
    let cases: &[Case] = &[
        // AWS docs: kms:EncryptionContext:<key> with StringEquals.
        (
            r#"{"StringEquals":{"kms:EncryptionContext:Department":"IT"}}"#,
            &[("kms:EncryptionContext:Department", &["IT"])],
            true,
        ),
        (
            r#"{"StringEquals":{"kms:EncryptionContext:Department":"IT"}}"#,
            &[("kms:EncryptionContext:Department", &["HR"])],
            false,
        ),
        (
            r#"{"StringEquals":{"kms:EncryptionContext:Department":"IT"}}"#,
            &[],
            false,
        ),
        // Condition keys are case-insensitive; values are not.
        (
            r#"{"StringEquals":{"KMS:ENCRYPTIONCONTEXT:department":"IT"}}"#,
            &[("kms:EncryptionContext:Department", &["IT"])],
            true,
        ),
        (
            r#"{"StringEquals":{"kms:EncryptionContext:Department":"IT"}}"#,
            &[("kms:EncryptionContext:Department", &["it"])],
            false,
        ),
        (
            r#"{"StringEqualsIgnoreCase":{"kms:EncryptionContext:Department":"IT"}}"#,
            &[("kms:EncryptionContext:Department", &["it"])],
            true,
        ),
        (
            r#"{"StringNotEquals":{"kms:CallerAccount":"111122223333"}}"#,
            &[("kms:CallerAccount", &["444455556666"])],
            true,
        ),
        (
            r#"{"StringNotEquals":{"kms:CallerAccount":"111122223333"}}"#,
            &[("kms:CallerAccount", &["111122223333"])],
            false,
        ),
        // A negated operator holds when the key is absent.
        (
            r#"{"StringNotEquals":{"kms:ViaService":"ec2.us-east-1.amazonaws.com"}}"#,
            &[],
            true,
        ),
        (
            r#"{"StringLike":{"kms:RequestAlias":"alias/finance-*"}}"#,
            &[("kms:RequestAlias", &["alias/finance-key"])],
            true,
        ),
        (
            r#"{"StringLike":{"kms:RequestAlias":"alias/finance-?"}}"#,
            &[("kms:RequestAlias", &["alias/finance-key"])],
            false,
        ),
        (
            r#"{"StringNotLike":{"kms:RequestAlias":"alias/finance-*"}}"#,
            &[("kms:RequestAlias", &["alias/hr"])],
            true,
        ),
        // Multiple values in the policy: any of them.
        (
            r#"{"StringEquals":{"kms:KeySpec":["RSA_2048","RSA_3072"]}}"#,
            &[("kms:KeySpec", &["RSA_3072"])],
            true,
        ),
        // AWS docs: ForAnyValue / ForAllValues with kms:EncryptionContextKeys.
        (
            r#"{"ForAnyValue:StringEquals":{"kms:EncryptionContextKeys":"AppName"}}"#,
            &[("kms:EncryptionContextKeys", &["AppName", "FilePath"])],
            true,
        ),
        (
            r#"{"ForAnyValue:StringEquals":{"kms:EncryptionContextKeys":"AppName"}}"#,
            &[("kms:EncryptionContextKeys", &["FilePath"])],
            false,
        ),
        (
            r#"{"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["AppName","FilePath"]}}"#,
            &[("kms:EncryptionContextKeys", &["AppName"])],
            true,
        ),
        (
            r#"{"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["AppName","FilePath"]}}"#,
            &[("kms:EncryptionContextKeys", &["AppName", "Other"])],
            false,
        ),
        // ForAllValues holds vacuously for an absent key, which is why AWS pairs it with Null.
        (
            r#"{"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":"AppName"}}"#,
            &[],
            true,
        ),
        (
            r#"{"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":"AppName"},"Null":{"kms:EncryptionContextKeys":"false"}}"#,
            &[],
            false,
        ),
        // Null.
        (
            r#"{"Null":{"kms:EncryptionContextKeys":"true"}}"#,
            &[],
            true,
        ),
        (
            r#"{"Null":{"kms:EncryptionContextKeys":"true"}}"#,
            &[("kms:EncryptionContextKeys", &["a"])],
            false,
        ),
        // Bool, AWS docs: kms:GrantIsForAWSResource.
        (
            r#"{"Bool":{"kms:GrantIsForAWSResource":"true"}}"#,
            &[("kms:GrantIsForAWSResource", &["true"])],
            true,
        ),
        (
            r#"{"Bool":{"kms:GrantIsForAWSResource":"true"}}"#,
            &[("kms:GrantIsForAWSResource", &["false"])],
            false,
        ),
        (
            r#"{"Bool":{"kms:GrantIsForAWSResource":true}}"#,
            &[("kms:GrantIsForAWSResource", &["true"])],
            true,
        ),
        // …IfExists holds when the key is absent, and compares when present.
        (
            r#"{"StringEqualsIfExists":{"kms:ViaService":"s3.us-east-1.amazonaws.com"}}"#,
            &[],
            true,
        ),
        (
            r#"{"StringEqualsIfExists":{"kms:ViaService":"s3.us-east-1.amazonaws.com"}}"#,
            &[("kms:ViaService", &["ec2.us-east-1.amazonaws.com"])],
            false,
        ),
        // Numeric.
        (
            r#"{"NumericLessThanEquals":{"kms:ScheduleKeyDeletionPendingWindowInDays":"14"}}"#,
            &[("kms:ScheduleKeyDeletionPendingWindowInDays", &["7"])],
            true,
        ),
        (
            r#"{"NumericLessThanEquals":{"kms:ScheduleKeyDeletionPendingWindowInDays":"14"}}"#,
            &[("kms:ScheduleKeyDeletionPendingWindowInDays", &["30"])],
            false,
        ),
        (
            r#"{"NumericGreaterThan":{"kms:RotationPeriodInDays":"90"}}"#,
            &[("kms:RotationPeriodInDays", &["365"])],
            true,
        ),
        (
            r#"{"NumericEquals":{"kms:RotationPeriodInDays":"90"}}"#,
            &[("kms:RotationPeriodInDays", &["ninety"])],
            false,
        ),
        (
            r#"{"NumericNotEquals":{"kms:RotationPeriodInDays":"90"}}"#,
            &[("kms:RotationPeriodInDays", &["91"])],
            true,
        ),
        // Dates, ISO 8601 or epoch seconds.
        (
            r#"{"DateLessThan":{"aws:CurrentTime":"2030-01-01T00:00:00Z"}}"#,
            &[("aws:CurrentTime", &["2026-11-23T10:00:00Z"])],
            true,
        ),
        (
            r#"{"DateGreaterThan":{"aws:CurrentTime":"2030-01-01T00:00:00Z"}}"#,
            &[("aws:CurrentTime", &["2026-11-23T10:00:00Z"])],
            false,
        ),
        (
            r#"{"DateGreaterThanEquals":{"aws:EpochTime":"1700000000"}}"#,
            &[("aws:EpochTime", &["1795400000"])],
            true,
        ),
        // ARNs.
        (
            r#"{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::111122223333:role/app-*"}}"#,
            &[(
                "aws:PrincipalArn",
                &["arn:aws:iam::111122223333:role/app-web"],
            )],
            true,
        ),
        (
            r#"{"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::111122223333:role/app"}}"#,
            &[(
                "aws:PrincipalArn",
                &["arn:aws:iam::111122223333:role/app-web"],
            )],
            false,
        ),
        (
            r#"{"ArnNotLike":{"aws:PrincipalArn":"arn:aws:iam::*:role/admin"}}"#,
            &[("aws:PrincipalArn", &["arn:aws:iam::111122223333:role/app"])],
            true,
        ),
        // IP addresses, v4 and v6.
        (
            r#"{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}"#,
            &[("aws:SourceIp", &["203.0.113.77"])],
            true,
        ),
        (
            r#"{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}"#,
            &[("aws:SourceIp", &["198.51.100.1"])],
            false,
        ),
        (
            r#"{"NotIpAddress":{"aws:SourceIp":["203.0.113.0/24","2001:db8::/32"]}}"#,
            &[("aws:SourceIp", &["2001:db8::1"])],
            false,
        ),
        (
            r#"{"IpAddress":{"aws:SourceIp":"2001:db8::/32"}}"#,
            &[("aws:SourceIp", &["2001:db8:ffff::9"])],
            true,
        ),
        // ABAC: resource and principal tags.
        (
            r#"{"StringEquals":{"aws:ResourceTag/Project":"Alpha"}}"#,
            &[("aws:ResourceTag/Project", &["Alpha"])],
            true,
        ),
        (
            r#"{"StringEquals":{"aws:ResourceTag/Project":"Alpha"}}"#,
            &[("aws:ResourceTag/Project", &["Beta"])],
            false,
        ),
        // Several operators and keys in one block: all must hold.
        (
            r#"{"StringEquals":{"kms:CallerAccount":"111122223333","kms:ViaService":"s3.us-east-1.amazonaws.com"}}"#,
            &[("kms:CallerAccount", &["111122223333"])],
            false,
        ),
        (
            r#"{"StringEquals":{"kms:CallerAccount":"111122223333"},"Bool":{"aws:SecureTransport":"true"}}"#,
            &[
                ("kms:CallerAccount", &["111122223333"]),
                ("aws:SecureTransport", &["true"]),
            ],
            true,
        ),
    ];
    for (condition, keys, expected) in cases {
        let mut ctx = alice();
        for (key, values) in keys.iter() {
            ctx = ctx.with(key, values);
        }
        let decision = decide(&allow_if(condition), &ctx);
        assert_eq!(
            decision == Decision::Allow(Some("c".into())),
            *expected,
            "{condition} with {keys:?} gave {decision:?}"
        );
    }
}

#[test]
fn a_negated_operator_under_for_any_value_matches_a_request_value_outside_the_policy() {
    // Issue 13, finding 2: `extra` is not `tenant`, so some request value satisfies
    // StringNotEquals and the Deny applies.
    let policy = r#"{"Version":"2012-10-17","Statement":[
        {"Sid":"all","Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"},
        {"Sid":"only-tenant","Effect":"Deny","Principal":"*","Action":"kms:Encrypt","Resource":"*",
         "Condition":{"ForAnyValue:StringNotEquals":{"kms:EncryptionContextKeys":["tenant"]}}}]}"#;
    let ctx = alice().with("kms:EncryptionContextKeys", &["tenant", "extra"]);
    assert_eq!(
        decide(policy, &ctx),
        Decision::Deny(Some("only-tenant".into()))
    );
    let ctx = alice().with("kms:EncryptionContextKeys", &["tenant"]);
    assert_eq!(decide(policy, &ctx), Decision::Allow(Some("all".into())));
}

/// One operator with the policy's values, two request values that satisfy its positive form
/// and two that do not.
struct SetCase {
    operator: &'static str,
    policy: &'static [&'static str],
    matching: [&'static str; 2],
    other: [&'static str; 2],
}

const SET_CASES: &[SetCase] = &[
    SetCase {
        operator: "StringEquals",
        policy: &["tenant", "app"],
        matching: ["tenant", "app"],
        other: ["extra", "TENANT"],
    },
    SetCase {
        operator: "StringEqualsIgnoreCase",
        policy: &["tenant"],
        matching: ["TENANT", "Tenant"],
        other: ["extra", "tenants"],
    },
    SetCase {
        operator: "StringLike",
        policy: &["key1*"],
        matching: ["key1:hr", "key1:legal"],
        other: ["key2:audit", "xkey1"],
    },
    SetCase {
        operator: "NumericEquals",
        policy: &["7", "14"],
        matching: ["7", "14.0"],
        other: ["30", "1"],
    },
    SetCase {
        operator: "NumericLessThan",
        policy: &["10"],
        matching: ["7", "9.5"],
        other: ["10", "30"],
    },
    SetCase {
        operator: "NumericLessThanEquals",
        policy: &["10"],
        matching: ["10", "7"],
        other: ["11", "30"],
    },
    SetCase {
        operator: "NumericGreaterThan",
        policy: &["10"],
        matching: ["11", "30"],
        other: ["10", "7"],
    },
    SetCase {
        operator: "NumericGreaterThanEquals",
        policy: &["10"],
        matching: ["10", "30"],
        other: ["9", "7"],
    },
    SetCase {
        operator: "DateEquals",
        policy: &["2026-11-23T10:00:00Z"],
        matching: ["2026-11-23T10:00:00Z", "1795428000"],
        other: ["2030-01-01T00:00:00Z", "1700000000"],
    },
    SetCase {
        operator: "DateLessThan",
        policy: &["2030-01-01T00:00:00Z"],
        matching: ["2026-11-23T10:00:00Z", "1700000000"],
        other: ["2030-01-01T00:00:00Z", "2031-05-05T00:00:00Z"],
    },
    SetCase {
        operator: "DateLessThanEquals",
        policy: &["2030-01-01T00:00:00Z"],
        matching: ["2030-01-01T00:00:00Z", "1700000000"],
        other: ["2030-01-01T00:00:01Z", "2031-05-05T00:00:00Z"],
    },
    SetCase {
        operator: "DateGreaterThan",
        policy: &["2026-11-23T10:00:00Z"],
        matching: ["2030-01-01T00:00:00Z", "1795428001"],
        other: ["2026-11-23T10:00:00Z", "1700000000"],
    },
    SetCase {
        operator: "DateGreaterThanEquals",
        policy: &["2026-11-23T10:00:00Z"],
        matching: ["2026-11-23T10:00:00Z", "2030-01-01T00:00:00Z"],
        other: ["1795427999", "1700000000"],
    },
    SetCase {
        operator: "Bool",
        policy: &["true"],
        matching: ["true", "TRUE"],
        other: ["false", "False"],
    },
    SetCase {
        operator: "ArnEquals",
        policy: &[
            "arn:aws:iam::111122223333:role/app",
            "arn:aws:iam::111122223333:role/web",
        ],
        matching: [
            "arn:aws:iam::111122223333:role/app",
            "arn:aws:iam::111122223333:role/web",
        ],
        other: [
            "arn:aws:iam::111122223333:role/app-web",
            "arn:aws:iam::444455556666:role/app",
        ],
    },
    SetCase {
        operator: "ArnLike",
        policy: &["arn:aws:iam::*:role/app-*"],
        matching: [
            "arn:aws:iam::111122223333:role/app-web",
            "arn:aws:iam::444455556666:role/app-db",
        ],
        other: [
            "arn:aws:iam::111122223333:role/admin",
            "arn:aws:iam::111122223333:user/app-x",
        ],
    },
    SetCase {
        operator: "IpAddress",
        policy: &["203.0.113.0/24", "2001:db8::/32"],
        matching: ["203.0.113.77", "2001:db8::1"],
        other: ["198.51.100.1", "2001:db9::1"],
    },
];

/// The negated form of each positive operator that has one.
fn negation(operator: &str) -> Option<String> {
    match operator {
        "Bool"
        | "NumericLessThan"
        | "NumericLessThanEquals"
        | "NumericGreaterThan"
        | "NumericGreaterThanEquals"
        | "DateLessThan"
        | "DateLessThanEquals"
        | "DateGreaterThan"
        | "DateGreaterThanEquals" => None,
        "IpAddress" => Some("NotIpAddress".into()),
        other => Some(
            other
                .replacen("Equals", "NotEquals", 1)
                .replacen("Like", "NotLike", 1),
        ),
    }
}

/// The request's values of the condition key, by shape; `None` is an absent key.
fn shapes(case: &SetCase) -> [(&'static str, Option<Vec<&'static str>>); 7] {
    let ([m1, m2], [o1, o2]) = (case.matching, case.other);
    [
        ("absent", None),
        ("empty", Some(vec![])),
        ("one matching", Some(vec![m1])),
        ("one other", Some(vec![o1])),
        ("several matching", Some(vec![m1, m2])),
        ("several other", Some(vec![o1, o2])),
        ("mixed", Some(vec![m1, o2])),
    ]
}

/// IAM's answers, shape by shape in the order of [`shapes`], for a set operator over a positive
/// operator and over its negation. ForAnyValue never holds without values, ForAllValues always
/// does; a negated operator is applied per request value before quantifying.
const ANY_POSITIVE: [bool; 7] = [false, false, true, false, true, false, true];
const ALL_POSITIVE: [bool; 7] = [true, true, true, false, true, false, false];
const ANY_NEGATED: [bool; 7] = [false, false, false, true, false, true, true];
const ALL_NEGATED: [bool; 7] = [true, true, false, true, false, true, false];

#[test]
fn set_operators_follow_iam_for_every_operator_its_negation_and_absent_keys() {
    let mut checked = 0;
    for case in SET_CASES {
        let mut forms = vec![(case.operator.to_string(), ANY_POSITIVE, ALL_POSITIVE)];
        if let Some(negated) = negation(case.operator) {
            forms.push((negated, ANY_NEGATED, ALL_NEGATED));
        }
        for (operator, any, all) in forms {
            for (qualifier, expected) in [("ForAnyValue", any), ("ForAllValues", all)] {
                let condition = serde_json::json!({
                    format!("{qualifier}:{operator}"): {"test:Values": case.policy}
                })
                .to_string();
                for ((shape, values), expected) in shapes(case).into_iter().zip(expected) {
                    let mut ctx = alice();
                    if let Some(values) = &values {
                        ctx = ctx.with("test:Values", values);
                    }
                    let decision = decide(&allow_if(&condition), &ctx);
                    assert_eq!(
                        decision == Decision::Allow(Some("c".into())),
                        expected,
                        "{condition} with {shape} {values:?}"
                    );
                    checked += 1;
                }
            }
        }
    }
    // 17 operators, 8 of them with a negation, two set operators, seven shapes.
    assert_eq!(checked, (17 + 8) * 2 * 7);
}

#[test]
fn if_exists_and_null_under_set_operators() {
    type Case = (&'static str, Option<&'static [&'static str]>, bool);
    let cases: &[Case] = &[
        // …IfExists is applied per value, so it does not rescue ForAnyValue from an absent key.
        (
            r#"{"ForAnyValue:StringEqualsIfExists":{"aws:TagKeys":"team"}}"#,
            None,
            false,
        ),
        (
            r#"{"ForAnyValue:StringNotEqualsIfExists":{"aws:TagKeys":"team"}}"#,
            None,
            false,
        ),
        (
            r#"{"ForAllValues:StringNotEqualsIfExists":{"aws:TagKeys":"team"}}"#,
            None,
            true,
        ),
        (
            r#"{"ForAnyValue:StringNotEqualsIfExists":{"aws:TagKeys":"team"}}"#,
            Some(&["team", "cost"]),
            true,
        ),
        // Null false is how a policy stops ForAllValues holding for an absent key or an empty set.
        (
            r#"{"ForAllValues:StringNotLike":{"aws:TagKeys":"key1*"},"Null":{"aws:TagKeys":"false"}}"#,
            None,
            false,
        ),
        (
            r#"{"ForAllValues:StringNotLike":{"aws:TagKeys":"key1*"},"Null":{"aws:TagKeys":"false"}}"#,
            Some(&[]),
            false,
        ),
        (
            r#"{"ForAllValues:StringNotLike":{"aws:TagKeys":"key1*"},"Null":{"aws:TagKeys":"false"}}"#,
            Some(&["key2:audit"]),
            true,
        ),
        // Without a set operator: an absent key makes negated and …IfExists operators hold.
        (r#"{"StringNotEquals":{"aws:TagKeys":"team"}}"#, None, true),
        (
            r#"{"StringEqualsIfExists":{"aws:TagKeys":"team"}}"#,
            Some(&[]),
            true,
        ),
        (r#"{"StringEquals":{"aws:TagKeys":"team"}}"#, None, false),
        // …and on several values a negated operator holds only when every value satisfies it.
        (
            r#"{"StringNotEquals":{"aws:TagKeys":"team"}}"#,
            Some(&["team", "cost"]),
            false,
        ),
        (
            r#"{"StringEquals":{"aws:TagKeys":"team"}}"#,
            Some(&["team", "cost"]),
            true,
        ),
    ];
    for (condition, values, expected) in cases {
        let mut ctx = alice();
        if let Some(values) = values {
            ctx = ctx.with("aws:TagKeys", values);
        }
        let decision = decide(&allow_if(condition), &ctx);
        assert_eq!(
            decision == Decision::Allow(Some("c".into())),
            *expected,
            "{condition} with {values:?}"
        );
    }
}

#[test]
fn a_key_policy_names_a_principal_in_every_statement() {
    let statement = |effect: &str, who: &str| {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[
            {{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::111122223333:root"}},"Action":"kms:*","Resource":"*"}},
            {{"Effect":"{effect}",{who}"Action":"kms:Decrypt","Resource":"*"}}]}}"#
        )
    };
    for (effect, who, accepted) in [
        ("Allow", r#""Principal":"*","#, true),
        ("Deny", r#""Principal":{"AWS":"111122223333"},"#, true),
        (
            "Deny",
            r#""NotPrincipal":{"AWS":"arn:aws:iam::111122223333:root"},"#,
            true,
        ),
        ("Allow", "", false),
        ("Deny", "", false),
        (
            "Allow",
            r#""NotPrincipal":{"AWS":"arn:aws:iam::111122223333:root"},"#,
            false,
        ),
    ] {
        let text = statement(effect, who);
        assert!(PolicyDocument::parse(&text).is_ok(), "{text}");
        match PolicyDocument::parse_key_policy(&text) {
            Ok(_) => assert!(accepted, "{text} was accepted"),
            Err(err) => {
                assert!(!accepted, "{text}: {err}");
                assert_eq!(err.aws_type(), "MalformedPolicyDocumentException");
                assert!(err.message().contains("Statement 1"), "{err}");
            }
        }
    }
}

#[test]
fn an_identity_policy_names_no_principal() {
    let without = r#"{"Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*"}}"#;
    assert!(PolicyDocument::parse_identity_policy(without).is_ok());
    for who in [
        r#""Principal":"*""#,
        r#""NotPrincipal":{"AWS":"111122223333"}"#,
    ] {
        let with =
            format!(r#"{{"Statement":{{"Effect":"Deny",{who},"Action":"kms:*","Resource":"*"}}}}"#);
        let err = PolicyDocument::parse_identity_policy(&with).unwrap_err();
        assert_eq!(err.aws_type(), "MalformedPolicyDocumentException", "{with}");
    }
}

#[test]
fn a_key_policy_allow_without_a_principal_applies_to_nobody() {
    // Issue 13, finding 3: such a statement is refused when a key policy is set; one stored
    // before that must not open the key to every account.
    let policy = PolicyDocument {
        version: Some("2012-10-17".into()),
        statements: vec![Statement {
            sid: Some("open".into()),
            effect: Effect::Allow,
            principal: None,
            not_principal: None,
            action: Some(vec!["kms:*".into()]),
            not_action: None,
            resource: Some(vec!["*".into()]),
            not_resource: None,
            conditions: Vec::new(),
        }],
    };
    let outsider = request("arn:aws:iam::444455556666:user/eve", "kms:Decrypt");
    assert_eq!(policy.evaluate(&outsider, true), Decision::NotApplicable);
    assert_eq!(policy.evaluate(&alice(), true), Decision::NotApplicable);
    // Failing closed: the same statement as a Deny binds everyone.
    let mut deny = policy.clone();
    deny.statements[0].effect = Effect::Deny;
    assert_eq!(
        deny.evaluate(&outsider, true),
        Decision::Deny(Some("open".into()))
    );
    // Identity policies name no principal and are evaluated without one.
    assert_eq!(
        policy.evaluate(&alice(), false),
        Decision::Allow(Some("open".into()))
    );
}

#[test]
fn service_principals_match_the_calling_service() {
    let policy = r#"{"Statement":{"Effect":"Allow","Principal":{"Service":"logs.amazonaws.com"},
        "Action":"kms:GenerateDataKey*","Resource":"*"}}"#;
    let mut ctx = request("arn:aws:iam::111122223333:root", "kms:GenerateDataKey");
    assert_eq!(decide(policy, &ctx), Decision::NotApplicable);
    ctx.service = Some("logs.amazonaws.com".into());
    assert_eq!(decide(policy, &ctx), Decision::Allow(None));
}

#[test]
fn identity_policies_are_evaluated_without_a_principal() {
    let policy = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow",
        "Action":["kms:Encrypt","kms:Decrypt"],"Resource":"arn:aws:kms:us-east-1:111122223333:key/*"}}"#;
    let doc = PolicyDocument::parse(policy).unwrap();
    assert_eq!(doc.evaluate(&alice(), false), Decision::Allow(None));
    let mut elsewhere = alice();
    elsewhere.resource = "arn:aws:kms:eu-west-1:111122223333:key/x".into();
    assert_eq!(doc.evaluate(&elsewhere, false), Decision::NotApplicable);
}

#[test]
fn malformed_documents_are_refused_with_the_aws_exception() {
    for (policy, why) in [
        ("", "1 to"),
        ("not json", "not valid JSON"),
        ("[]", "JSON object"),
        (r#"{"Version":"2012-10-17"}"#, "needs a Statement"),
        (r#"{"Version":"2019-01-01","Statement":[]}"#, "Version"),
        (r#"{"Statement":[]}"#, "needs a Statement"),
        (
            r#"{"Statement":[{"Effect":"Maybe","Action":"kms:*","Resource":"*"}]}"#,
            "Effect",
        ),
        (
            r#"{"Statement":[{"Effect":"Allow","Resource":"*"}]}"#,
            "Action and NotAction",
        ),
        (
            r#"{"Statement":[{"Effect":"Allow","Action":"a","NotAction":"b"}]}"#,
            "Action and NotAction",
        ),
        (
            r#"{"Statement":[{"Effect":"Allow","Action":"a","Resource":"*","NotResource":"x"}]}"#,
            "Resource and NotResource",
        ),
        (
            r#"{"Statement":[{"Effect":"Allow","Action":"a","Condition":{"StringSorta":{"k":"v"}}}]}"#,
            "not a condition operator",
        ),
        (
            r#"{"Statement":[{"Effect":"Allow","Action":"a","Condition":{"Bool":{"k":"yes"}}}]}"#,
            "true or false",
        ),
        (
            r#"{"Statement":[{"Effect":"Allow","Action":"a","Principal":{"Federated":"x"}}]}"#,
            "not supported",
        ),
        (
            r#"{"Statement":[{"Effect":"Allow","Action":"a","Principal":{"AWS":"bob"}}]}"#,
            "not an account id",
        ),
        (
            r#"{"Statement":[{"Effect":"Allow","Action":"a","Colour":"blue"}]}"#,
            "unknown element",
        ),
        (
            r#"{"Statement":[{"Effect":"Allow","Action":[]}]}"#,
            "non-empty list",
        ),
    ] {
        let err = PolicyDocument::parse(policy).unwrap_err();
        assert_eq!(
            err.aws_type(),
            "MalformedPolicyDocumentException",
            "{policy}"
        );
        assert!(err.message().contains(why), "{policy}: {err}");
    }
    let huge = format!(
        r#"{{"Statement":[{{"Effect":"Allow","Action":"kms:*","Resource":"*","Sid":"{}"}}]}}"#,
        "x".repeat(MAX_POLICY_BYTES)
    );
    assert!(PolicyDocument::parse(&huge).is_err());
}

#[test]
fn wildcards_backtrack_correctly() {
    for (pattern, text, expected) in [
        ("*", "", true),
        ("a*b*c", "aXXbYYc", true),
        ("a*b*c", "aXXbYY", false),
        ("*abc", "ababc", true),
        ("a?c", "abc", true),
        ("a?c", "ac", false),
        ("**", "anything", true),
        ("alias/*/prod", "alias/team/x/prod", true),
    ] {
        assert_eq!(
            wildcard_match(pattern, text, false),
            expected,
            "{pattern} ~ {text}"
        );
    }
}

/// Found by the `policy` fuzz target: a `*` of the pattern facing a `*` of the text was taken as
/// that literal character, so the rest of the text had nothing left to match.
#[test]
fn a_wildcard_stays_a_wildcard_where_the_text_has_the_same_character() {
    for (pattern, text) in [("*", "*x"), ("a*", "a*b"), ("a?c*", "a?c*d"), ("*", "**")] {
        assert!(wildcard_match(pattern, text, false), "{pattern} ~ {text}");
    }
}

/// The same fault let a caller slip past a Deny with StringLike by putting a `*` in the
/// encryption context where the policy's pattern has one.
#[test]
fn a_string_like_deny_applies_to_a_context_value_with_an_asterisk() {
    let policy = r#"{"Version":"2012-10-17","Statement":[
        {"Sid":"all","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kms:*","Resource":"*"},
        {"Sid":"secret","Effect":"Deny","Principal":"*","Action":"kms:Decrypt","Resource":"*",
         "Condition":{"StringLike":{"kms:EncryptionContext:label":"secret*"}}}]}"#;
    let ctx = request("arn:aws:iam::111122223333:user/alice", "kms:Decrypt")
        .with("kms:EncryptionContext:label", &["secret*plans"]);
    assert_eq!(decide(policy, &ctx), Decision::Deny(Some("secret".into())));
}
