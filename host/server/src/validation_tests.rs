use serde_json::json;

use super::*;

fn faults(operation: &str, body: Value) -> Vec<String> {
    match Model::kms().check(operation, &body) {
        Err(Rejection::Validation(faults)) => faults,
        other => panic!("expected validation faults, got {other:?}"),
    }
}

#[test]
fn the_bundled_model_has_the_56_operations_and_every_pattern_compiles() {
    let model = Model::kms();
    assert_eq!(model.inputs.len(), 56);
    assert!(model.knows("GetKeyLastUsage") && model.knows("Decapsulate"));
    assert_eq!(model.uncompiled_patterns(), Vec::<(String, String)>::new());
    // Every shape a shape refers to exists, so a walk never looks up a missing one.
    for shape in model.shapes.values() {
        let refs = shape.members.0.iter().map(|(_, r)| r);
        for r in refs
            .chain(&shape.member)
            .chain(&shape.key)
            .chain(&shape.value)
        {
            assert!(model.shapes.contains_key(&r.shape), "{}", r.shape);
        }
    }
}

#[test]
fn a_value_outside_an_enum_names_the_enum() {
    let faults = faults("CreateKey", json!({"KeySpec": "AES_999"}));
    assert_eq!(faults.len(), 1);
    assert!(
        faults[0].starts_with(
            "Value 'AES_999' at 'keySpec' failed to satisfy constraint: Member must satisfy enum \
             value set: [RSA_2048, RSA_3072, RSA_4096, ECC_NIST_P256,"
        ),
        "{}",
        faults[0]
    );
    assert!(faults[0].ends_with("]"));
}

#[test]
fn a_string_too_long_names_the_maximum() {
    let faults = faults(
        "CreateKey",
        json!({"Description": "d".repeat(8193), "KeyUsage": "ENCRYPT_DECRYPT"}),
    );
    assert_eq!(
        faults,
        [format!(
            "Value '{}' at 'description' failed to satisfy constraint: Member must have length \
             less than or equal to 8192",
            "d".repeat(8193)
        )]
    );
}

#[test]
fn a_string_too_short_names_the_minimum() {
    assert_eq!(
        faults("DescribeKey", json!({"KeyId": ""})),
        [
            "Value '' at 'keyId' failed to satisfy constraint: Member must have length greater than \
             or equal to 1"
        ]
    );
}

#[test]
fn a_string_that_breaks_the_pattern_names_the_pattern() {
    assert_eq!(
        faults(
            "CreateAlias",
            json!({"AliasName": "alias/has space", "TargetKeyId": "k"})
        ),
        [
            "Value 'alias/has space' at 'aliasName' failed to satisfy constraint: Member must \
             satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$"
        ]
    );
}

#[test]
fn patterns_match_the_whole_value_with_javas_ascii_classes() {
    // PolicyNameType is `[\w]+`: Java's \w is ASCII and matches() anchors both ends.
    assert!(
        Model::kms()
            .check(
                "GetKeyPolicy",
                &json!({"KeyId": "k", "PolicyName": "default"})
            )
            .is_ok()
    );
    assert_eq!(
        faults(
            "GetKeyPolicy",
            json!({"KeyId": "k", "PolicyName": "défault"})
        )
        .len(),
        1
    );
    assert_eq!(
        faults(
            "GetKeyPolicy",
            json!({"KeyId": "k", "PolicyName": "default!"})
        )
        .len(),
        1
    );
}

#[test]
fn a_number_out_of_range_names_the_bound() {
    assert_eq!(
        faults("GenerateRandom", json!({"NumberOfBytes": 0})),
        [
            "Value '0' at 'numberOfBytes' failed to satisfy constraint: Member must have value \
             greater than or equal to 1"
        ]
    );
    assert_eq!(
        faults("ListKeys", json!({"Limit": 1001})),
        [
            "Value '1001' at 'limit' failed to satisfy constraint: Member must have value less \
             than or equal to 1000"
        ]
    );
}

#[test]
fn a_missing_required_member_is_null() {
    assert_eq!(
        faults("Encrypt", json!({"Plaintext": "eA=="})),
        ["Value null at 'keyId' failed to satisfy constraint: Member must not be null"]
    );
}

#[test]
fn a_list_too_long_is_shown_as_java_prints_it() {
    let tokens: Vec<String> = (0..11).map(|i| format!("t{i}")).collect();
    assert_eq!(
        faults("DescribeKey", json!({"KeyId": "k", "GrantTokens": tokens})),
        [
            "Value '[t0, t1, t2, t3, t4, t5, t6, t7, t8, t9, t10]' at 'grantTokens' failed to \
             satisfy constraint: Member must have length less than or equal to 10"
        ]
    );
}

#[test]
fn list_members_are_named_by_position_and_structure_members_by_name() {
    assert_eq!(
        faults(
            "TagResource",
            json!({"KeyId": "k", "Tags": [{"TagKey": "a", "TagValue": "b"}, {"TagKey": "", "TagValue": "c"}]})
        ),
        [
            "Value '' at 'tags.2.member.tagKey' failed to satisfy constraint: Member must have \
             length greater than or equal to 1"
        ]
    );
    assert_eq!(
        faults(
            "CreateGrant",
            json!({"KeyId": "k", "GranteePrincipal": "p", "Operations": ["Encrypt", "Fly"]})
        )[0]
        .split(" failed")
        .next(),
        Some("Value 'Fly' at 'operations.2.member'")
    );
}

#[test]
fn sensitive_and_blob_values_are_not_repeated() {
    assert_eq!(
        faults(
            "Encrypt",
            json!({"KeyId": "k", "Plaintext": STANDARD.encode([0u8; 4097])})
        ),
        [
            "Value at 'plaintext' failed to satisfy constraint: Member must have length less than \
             or equal to 4096"
        ]
    );
}

#[test]
fn several_faults_are_counted_and_joined() {
    let rejection = Model::kms()
        .check(
            "CreateKey",
            &json!({"KeySpec": "X", "KeyUsage": "Y", "Description": "d".repeat(8193)}),
        )
        .unwrap_err();
    let message = rejection.message();
    assert!(
        message.starts_with("3 validation errors detected: Value '"),
        "{message}"
    );
    assert_eq!(message.matches("; Value '").count(), 2, "{message}");
    assert_eq!(rejection.aws_type(), "ValidationException");
    let one = Rejection::Validation(vec!["Value null at 'keyId' …".into()]);
    assert_eq!(
        one.message(),
        "1 validation error detected: Value null at 'keyId' …"
    );
}

#[test]
fn a_value_of_the_wrong_json_type_is_a_serialization_error() {
    for body in [
        json!({"KeyId": 7}),
        json!({"KeyId": "k", "GrantTokens": "t"}),
        json!({"KeyId": "k", "GrantTokens": [1]}),
        json!(["KeyId"]),
    ] {
        let rejection = Model::kms().check("DescribeKey", &body).unwrap_err();
        assert_eq!(rejection.aws_type(), "SerializationException", "{body}");
    }
    let fraction = Model::kms().check("GenerateRandom", &json!({"NumberOfBytes": 1.5}));
    assert_eq!(fraction.unwrap_err().aws_type(), "SerializationException");
    let context = Model::kms().check(
        "Encrypt",
        &json!({"KeyId": "k", "Plaintext": "eA==", "EncryptionContext": {"a": 1}}),
    );
    assert_eq!(context.unwrap_err().aws_type(), "SerializationException");
}

#[test]
fn valid_bodies_nulls_and_unknown_members_pass() {
    let model = Model::kms();
    let body = json!({
        "KeyId": "alias/a", "Plaintext": "eA==", "EncryptionContext": {"a": "b"},
        "GrantTokens": ["t"], "EncryptionAlgorithm": "SYMMETRIC_DEFAULT", "DryRun": false,
        "Unknown": 1, "DryRunModifiers": null
    });
    assert_eq!(model.check("Encrypt", &body), Ok(()));
    assert_eq!(model.check("ListKeys", &json!({})), Ok(()));
    // This service's own operations are not in AWS's model and pass unchecked.
    assert_eq!(model.check("AttachPolicyPlugin", &json!({"x": 1})), Ok(()));
}

#[test]
fn java_patterns_become_anchored_ascii_patterns() {
    assert_eq!(java_to_rust(r"[\w]+"), r"^(?:[[0-9A-Za-z_]]+)$");
    assert_eq!(java_to_rust(r"^\d+\\w$"), r"^(?:^[0-9]+\\w$)$");
}

/// A small model with what the KMS model does not use: constrained map keys and values, a
/// required member of a nested structure, a `long`.
const SYNTHETIC: &str = r#"{
  "operations": {"Put": {"input": {"shape": "PutRequest"}}},
  "shapes": {
    "PutRequest": {"type": "structure", "required": ["Labels"], "members": {
      "Labels": {"shape": "Labels"}, "Owner": {"shape": "Owner"}, "Size": {"shape": "Size"}}},
    "Labels": {"type": "map", "key": {"shape": "Label"}, "value": {"shape": "Label"}, "max": 2},
    "Label": {"type": "string", "min": 1, "max": 3},
    "Owner": {"type": "structure", "required": ["Name"], "members": {"Name": {"shape": "Label"}}},
    "Size": {"type": "long", "min": 0, "max": 5000000000}
  }
}"#;

#[test]
fn map_keys_and_values_nested_required_members_and_longs_are_checked() {
    let model = Model::parse(SYNTHETIC).unwrap();
    let body = json!({"Labels": {"": "toolong"}, "Owner": {}, "Size": 6_000_000_000u64});
    let Err(Rejection::Validation(faults)) = model.check("Put", &body) else {
        panic!("expected faults")
    };
    assert_eq!(
        faults,
        [
            "Value '{=toolong}' at 'labels' failed to satisfy constraint: Map keys must satisfy \
             constraint: [Member must have length greater than or equal to 1]",
            "Value '{=toolong}' at 'labels' failed to satisfy constraint: Map value must satisfy \
             constraint: [Member must have length less than or equal to 3]",
            "Value null at 'owner.name' failed to satisfy constraint: Member must not be null",
            "Value '6000000000' at 'size' failed to satisfy constraint: Member must have value \
             less than or equal to 5000000000",
        ]
    );
    let too_many = json!({"Labels": {"a": "1", "b": "2", "c": "3"}});
    let Err(Rejection::Validation(faults)) = model.check("Put", &too_many) else {
        panic!("expected faults")
    };
    assert_eq!(
        faults,
        [
            "Value '{a=1, b=2, c=3}' at 'labels' failed to satisfy constraint: Member must have \
             length less than or equal to 2"
        ]
    );
    assert_eq!(
        model.check("Put", &json!({})),
        Err(Rejection::Validation(vec![
            "Value null at 'labels' failed to satisfy constraint: Member must not be null".into()
        ]))
    );
}
