//! Entry point for the `policy` fuzz target in `fuzz/` and the corpus replay in
//! `tests/tests/fuzz_corpus.rs`: a policy document as a caller sends it (CreateKey,
//! PutKeyPolicy, PutPrincipalPolicy), parsed and evaluated for a request. Hidden from the
//! documentation; nothing else uses it.

use crate::policy::{PolicyDocument, RequestContext, substitute, wildcard_match};

/// A policy document, a NUL byte, then the request it is evaluated for, one line each: the
/// principal's ARN, the action, the resource, the calling service (empty for none), then
/// condition keys as `key=value,value…`. Whatever the key-policy or identity-policy parser
/// accepts, the general parser accepts too; a value without wildcards matches itself.
pub fn policy(data: &[u8]) {
    let (text, request) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let text = String::from_utf8_lossy(text);
    let request = String::from_utf8_lossy(request);
    let mut lines = request.lines();
    let mut next = || lines.next().unwrap_or_default().to_string();
    let principal_arn = next();
    let mut ctx = RequestContext {
        principal_account: principal_arn
            .strip_prefix("arn:aws:iam::")
            .and_then(|rest| rest.split(':').next())
            .unwrap_or_default()
            .to_string(),
        principal_arn,
        action: next(),
        resource: next(),
        service: Some(next()).filter(|s| !s.is_empty()),
        keys: Default::default(),
        ambiguous: Default::default(),
    };
    for line in lines {
        let (key, values) = line.split_once('=').unwrap_or((line, ""));
        let values: Vec<&str> = values.split(',').filter(|v| !v.is_empty()).collect();
        ctx = ctx.with(key, &values);
        for value in &values {
            let _ = substitute(value, &ctx);
            if !value.contains(['*', '?']) {
                assert!(
                    wildcard_match(value, value, false),
                    "{value} matches itself"
                );
            }
            assert!(wildcard_match("*", value, true), "* matches {value}");
        }
    }
    let key_policy = PolicyDocument::parse_key_policy(&text);
    let identity_policy = PolicyDocument::parse_identity_policy(&text);
    let Ok(document) = PolicyDocument::parse(&text) else {
        assert!(key_policy.is_err() && identity_policy.is_err());
        return;
    };
    let _ = (
        document.uses_variables(),
        document.reads_condition_key("aws:SourceIp"),
    );
    let _ = document.evaluate(&ctx, true);
    let _ = document.evaluate(&ctx, false);
}

/// Seeds of [`policy`]: AWS's default key policy, a key policy with conditions of each family
/// and policy variables, and an identity policy, each with a request that reads them.
pub fn policy_seeds() -> Vec<Vec<u8>> {
    let alice = "arn:aws:iam::111122223333:user/alice\nkms:Decrypt\narn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab\n\n";
    let policies = [
        r#"{"Version":"2012-10-17","Id":"key-default-1","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}"#,
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"c","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:user/alice","111122223333"]},"Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*"],"Resource":"*","Condition":{"StringEquals":{"kms:EncryptionContext:tenant":"${aws:PrincipalTag/tenant}"},"ForAnyValue:StringLike":{"kms:EncryptionContextKeys":["app*","t?nant"]},"IpAddress":{"aws:SourceIp":"192.0.2.0/24"},"DateLessThan":{"aws:CurrentTime":"2030-01-01T00:00:00Z"},"NumericLessThanEquals":{"aws:EpochTime":"1900000000"},"Bool":{"kms:GrantIsForAWSResource":"true"},"Null":{"kms:ViaService":"true"}}},{"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:role/admin"},"NotAction":"kms:Describe*","NotResource":"arn:aws:kms:*:111122223333:key/${aws:username}","Condition":{"StringNotEqualsIfExists":{"kms:CallerAccount":"111122223333"},"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:user/*"}}}]}"#,
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:*","Resource":"arn:aws:kms:us-east-1:111122223333:key/*","Condition":{"ForAllValues:StringEquals":{"kms:GrantOperations":["Decrypt","Encrypt"]},"StringEqualsIgnoreCase":{"aws:ResourceTag/team":"${aws:PrincipalTag/team, 'blue'}"}}}}"#,
    ];
    let conditions = "kms:EncryptionContext:tenant=acme\nkms:EncryptionContextKeys=tenant,app\naws:PrincipalTag/tenant=acme\naws:SourceIp=192.0.2.7\naws:CurrentTime=2026-01-01T00:00:00Z\naws:EpochTime=1767225600\naws:username=alice\nkms:GrantOperations=Decrypt";
    policies
        .iter()
        .map(|policy| format!("{policy}\0{alice}{conditions}").into_bytes())
        .collect()
}
