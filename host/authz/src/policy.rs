//! The IAM JSON policy language, as AWS KMS reads key policies and identity policies: parsing
//! with AWS's `MalformedPolicyDocumentException` for what it refuses, and the evaluation of one
//! document against one request.
//!
//! No well-kept crate evaluates IAM JSON faithfully (see DESIGN.md), so this is written here from
//! AWS's IAM reference: `Effect`, `Principal`/`NotPrincipal`, `Action`/`NotAction` and
//! `Resource`/`NotResource` with `*` and `?` wildcards, and `Condition` with the String, Numeric,
//! Date, Bool, Arn, IpAddress, Null operator families, their `…IfExists` forms and the
//! `ForAnyValue:`/`ForAllValues:` set qualifiers. Condition keys are case-insensitive, as in IAM.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use serde_json::Value;

use kms_core::error::{KmsError, KmsResult};

/// The largest policy document AWS KMS accepts, in bytes.
pub const MAX_POLICY_BYTES: usize = 32 * 1024;

/// Allow or Deny.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// The statement grants.
    Allow,
    /// The statement refuses, and wins over every allow.
    Deny,
}

/// Who a statement is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principals {
    /// `"*"` or `{"AWS": "*"}`: anyone.
    Anyone,
    /// `{"AWS": [...], "Service": [...]}`: principal ARNs, account ids and service names.
    Listed {
        /// ARNs (`arn:aws:iam::111122223333:role/x`) or account ids (`111122223333`).
        aws: Vec<String>,
        /// Service principals (`logs.amazonaws.com`).
        service: Vec<String>,
    },
}

/// How a condition compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operator {
    /// `StringEquals`.
    StringEquals,
    /// `StringNotEquals`.
    StringNotEquals,
    /// `StringEqualsIgnoreCase`.
    StringEqualsIgnoreCase,
    /// `StringNotEqualsIgnoreCase`.
    StringNotEqualsIgnoreCase,
    /// `StringLike` (`*` and `?` wildcards).
    StringLike,
    /// `StringNotLike`.
    StringNotLike,
    /// `NumericEquals`.
    NumericEquals,
    /// `NumericNotEquals`.
    NumericNotEquals,
    /// `NumericLessThan`.
    NumericLessThan,
    /// `NumericLessThanEquals`.
    NumericLessThanEquals,
    /// `NumericGreaterThan`.
    NumericGreaterThan,
    /// `NumericGreaterThanEquals`.
    NumericGreaterThanEquals,
    /// `DateEquals` (ISO 8601 or epoch seconds).
    DateEquals,
    /// `DateNotEquals`.
    DateNotEquals,
    /// `DateLessThan`.
    DateLessThan,
    /// `DateLessThanEquals`.
    DateLessThanEquals,
    /// `DateGreaterThan`.
    DateGreaterThan,
    /// `DateGreaterThanEquals`.
    DateGreaterThanEquals,
    /// `Bool`.
    Bool,
    /// `ArnEquals`.
    ArnEquals,
    /// `ArnNotEquals`.
    ArnNotEquals,
    /// `ArnLike`.
    ArnLike,
    /// `ArnNotLike`.
    ArnNotLike,
    /// `IpAddress` (CIDR blocks).
    IpAddress,
    /// `NotIpAddress`.
    NotIpAddress,
    /// `Null`: whether the key is absent (`true`) or present (`false`).
    Null,
}

impl Operator {
    fn parse(name: &str) -> Option<Self> {
        use Operator::*;
        Some(match name {
            "StringEquals" => StringEquals,
            "StringNotEquals" => StringNotEquals,
            "StringEqualsIgnoreCase" => StringEqualsIgnoreCase,
            "StringNotEqualsIgnoreCase" => StringNotEqualsIgnoreCase,
            "StringLike" => StringLike,
            "StringNotLike" => StringNotLike,
            "NumericEquals" => NumericEquals,
            "NumericNotEquals" => NumericNotEquals,
            "NumericLessThan" => NumericLessThan,
            "NumericLessThanEquals" => NumericLessThanEquals,
            "NumericGreaterThan" => NumericGreaterThan,
            "NumericGreaterThanEquals" => NumericGreaterThanEquals,
            "DateEquals" => DateEquals,
            "DateNotEquals" => DateNotEquals,
            "DateLessThan" => DateLessThan,
            "DateLessThanEquals" => DateLessThanEquals,
            "DateGreaterThan" => DateGreaterThan,
            "DateGreaterThanEquals" => DateGreaterThanEquals,
            "Bool" => Bool,
            "ArnEquals" => ArnEquals,
            "ArnNotEquals" => ArnNotEquals,
            "ArnLike" => ArnLike,
            "ArnNotLike" => ArnNotLike,
            "IpAddress" => IpAddress,
            "NotIpAddress" => NotIpAddress,
            "Null" => Null,
            _ => return None,
        })
    }

    /// Negated operators hold for a request value that matches none of the policy's values.
    fn negated(self) -> bool {
        use Operator::*;
        matches!(
            self,
            StringNotEquals
                | StringNotEqualsIgnoreCase
                | StringNotLike
                | NumericNotEquals
                | DateNotEquals
                | ArnNotEquals
                | ArnNotLike
                | NotIpAddress
        )
    }

    /// The positive form of a negated operator.
    fn positive(self) -> Self {
        use Operator::*;
        match self {
            StringNotEquals => StringEquals,
            StringNotEqualsIgnoreCase => StringEqualsIgnoreCase,
            StringNotLike => StringLike,
            NumericNotEquals => NumericEquals,
            DateNotEquals => DateEquals,
            ArnNotEquals => ArnEquals,
            ArnNotLike => ArnLike,
            NotIpAddress => IpAddress,
            other => other,
        }
    }
}

/// `ForAnyValue:` or `ForAllValues:`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetQualifier {
    /// Some request value satisfies the operator (never when there are none).
    ForAnyValue,
    /// Every request value satisfies the operator (always when there are none).
    ForAllValues,
}

/// One `"Operator": {"key": values}` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Condition {
    /// The comparison.
    pub operator: Operator,
    /// A set qualifier, if any.
    pub qualifier: Option<SetQualifier>,
    /// The `…IfExists` form: true when the key is absent.
    pub if_exists: bool,
    /// The condition key, lower-cased (IAM keys are case-insensitive).
    pub key: String,
    /// The policy's values.
    pub values: Vec<String>,
}

/// One statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement {
    /// Its Sid, if any.
    pub sid: Option<String>,
    /// Allow or Deny.
    pub effect: Effect,
    /// `Principal` (`None` in identity policies, which have none).
    pub principal: Option<Principals>,
    /// `NotPrincipal`.
    pub not_principal: Option<Principals>,
    /// `Action` patterns.
    pub action: Option<Vec<String>>,
    /// `NotAction` patterns.
    pub not_action: Option<Vec<String>>,
    /// `Resource` patterns.
    pub resource: Option<Vec<String>>,
    /// `NotResource` patterns.
    pub not_resource: Option<Vec<String>>,
    /// Every condition must hold.
    pub conditions: Vec<Condition>,
}

/// A parsed policy document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyDocument {
    /// `Version` (`2012-10-17` when given).
    pub version: Option<String>,
    /// The statements.
    pub statements: Vec<Statement>,
}

fn malformed(message: impl Into<String>) -> KmsError {
    KmsError::MalformedPolicyDocument(message.into())
}

/// A string or a list of strings, as IAM allows in most places.
fn strings(value: &Value, what: &str) -> KmsResult<Vec<String>> {
    match value {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(s.clone()),
                Value::Bool(b) => Ok(b.to_string()),
                Value::Number(n) => Ok(n.to_string()),
                _ => Err(malformed(format!("{what} must hold strings"))),
            })
            .collect(),
        Value::Bool(b) => Ok(vec![b.to_string()]),
        Value::Number(n) => Ok(vec![n.to_string()]),
        _ => Err(malformed(format!(
            "{what} must be a string or a non-empty list of strings"
        ))),
    }
}

fn principals(value: &Value, what: &str) -> KmsResult<Principals> {
    match value {
        Value::String(s) if s == "*" => Ok(Principals::Anyone),
        Value::Object(map) => {
            let mut aws = Vec::new();
            let mut service = Vec::new();
            for (kind, v) in map {
                let list = strings(v, what)?;
                match kind.as_str() {
                    "AWS" => aws.extend(list),
                    "Service" => service.extend(list),
                    other => {
                        return Err(malformed(format!(
                            "{what} type '{other}' is not supported; use AWS or Service"
                        )));
                    }
                }
            }
            if aws.iter().any(|a| a == "*") {
                return Ok(Principals::Anyone);
            }
            for arn in &aws {
                let valid = kms_core::arn::validate_account(arn).is_ok()
                    || kms_core::arn::is_iam_principal_arn(arn);
                if !valid {
                    return Err(malformed(format!(
                        "{what} '{arn}' is not an account id or an IAM principal ARN"
                    )));
                }
            }
            Ok(Principals::Listed { aws, service })
        }
        _ => Err(malformed(format!(
            "{what} must be \"*\" or an object such as {{\"AWS\": \"arn:aws:iam::111122223333:root\"}}"
        ))),
    }
}

fn conditions(value: &Value) -> KmsResult<Vec<Condition>> {
    let Value::Object(operators) = value else {
        return Err(malformed("Condition must be an object of operators"));
    };
    let mut out = Vec::new();
    for (name, block) in operators {
        let (qualifier, rest) = if let Some(rest) = name.strip_prefix("ForAnyValue:") {
            (Some(SetQualifier::ForAnyValue), rest)
        } else if let Some(rest) = name.strip_prefix("ForAllValues:") {
            (Some(SetQualifier::ForAllValues), rest)
        } else {
            (None, name.as_str())
        };
        let (base, if_exists) = match rest.strip_suffix("IfExists") {
            Some(base) if base != "Null" => (base, true),
            _ => (rest, false),
        };
        let operator = Operator::parse(base)
            .ok_or_else(|| malformed(format!("'{name}' is not a condition operator")))?;
        let Value::Object(keys) = block else {
            return Err(malformed(format!(
                "{name} must map condition keys to values"
            )));
        };
        for (key, values) in keys {
            let values = strings(values, &format!("{name} {key}"))?;
            if operator == Operator::Bool || operator == Operator::Null {
                for v in &values {
                    if v != "true" && v != "false" {
                        return Err(malformed(format!(
                            "{name} {key} takes true or false, not '{v}'"
                        )));
                    }
                }
            }
            out.push(Condition {
                operator,
                qualifier,
                if_exists,
                key: key.to_ascii_lowercase(),
                values,
            });
        }
    }
    Ok(out)
}

fn statement(value: &Value, index: usize) -> KmsResult<Statement> {
    let Value::Object(map) = value else {
        return Err(malformed(format!("Statement {index} must be an object")));
    };
    const KNOWN: [&str; 10] = [
        "Sid",
        "Effect",
        "Principal",
        "NotPrincipal",
        "Action",
        "NotAction",
        "Resource",
        "NotResource",
        "Condition",
        "Id",
    ];
    if let Some(unknown) = map.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(malformed(format!(
            "Statement {index} has an unknown element '{unknown}'"
        )));
    }
    let effect = match map.get("Effect").and_then(Value::as_str) {
        Some("Allow") => Effect::Allow,
        Some("Deny") => Effect::Deny,
        _ => {
            return Err(malformed(format!(
                "Statement {index} needs an Effect of Allow or Deny"
            )));
        }
    };
    let list = |name: &str| map.get(name).map(|v| strings(v, name)).transpose();
    let (action, not_action) = (list("Action")?, list("NotAction")?);
    if action.is_some() == not_action.is_some() {
        return Err(malformed(format!(
            "Statement {index} needs exactly one of Action and NotAction"
        )));
    }
    let (resource, not_resource) = (list("Resource")?, list("NotResource")?);
    if resource.is_some() && not_resource.is_some() {
        return Err(malformed(format!(
            "Statement {index} cannot have both Resource and NotResource"
        )));
    }
    let principal = map
        .get("Principal")
        .map(|v| principals(v, "Principal"))
        .transpose()?;
    let not_principal = map
        .get("NotPrincipal")
        .map(|v| principals(v, "NotPrincipal"))
        .transpose()?;
    if principal.is_some() && not_principal.is_some() {
        return Err(malformed(format!(
            "Statement {index} cannot have both Principal and NotPrincipal"
        )));
    }
    Ok(Statement {
        sid: map.get("Sid").and_then(Value::as_str).map(str::to_string),
        effect,
        principal,
        not_principal,
        action,
        not_action,
        resource,
        not_resource,
        conditions: map
            .get("Condition")
            .map(conditions)
            .transpose()?
            .unwrap_or_default(),
    })
}

impl PolicyDocument {
    /// Parses a policy, refusing what AWS refuses with `MalformedPolicyDocumentException`.
    pub fn parse(text: &str) -> KmsResult<Self> {
        if text.is_empty() || text.len() > MAX_POLICY_BYTES {
            return Err(malformed(format!(
                "A policy is 1 to {MAX_POLICY_BYTES} bytes"
            )));
        }
        let value: Value = serde_json::from_str(text)
            .map_err(|e| malformed(format!("The policy is not valid JSON: {e}")))?;
        let Value::Object(map) = &value else {
            return Err(malformed("A policy must be a JSON object"));
        };
        let version = map.get("Version").map(|v| {
            v.as_str()
                .filter(|v| *v == "2012-10-17" || *v == "2008-10-17")
                .map(str::to_string)
                .ok_or_else(|| malformed("Version must be 2012-10-17 or 2008-10-17"))
        });
        let version = version.transpose()?;
        let statements = match map.get("Statement") {
            Some(Value::Array(items)) if !items.is_empty() => items
                .iter()
                .enumerate()
                .map(|(i, s)| statement(s, i))
                .collect::<KmsResult<Vec<_>>>()?,
            Some(single @ Value::Object(_)) => vec![statement(single, 0)?],
            _ => return Err(malformed("A policy needs a Statement")),
        };
        Ok(PolicyDocument {
            version,
            statements,
        })
    }
}

impl PolicyDocument {
    /// Parses a key policy (CreateKey, PutKeyPolicy, ReplicateKey): a resource policy, so every
    /// statement names who it is about with `Principal`, or, in a Deny, `NotPrincipal`. AWS
    /// requires "one or more principals" in each key policy statement and supports `NotPrincipal`
    /// only with `"Effect": "Deny"`; a statement without either would otherwise apply to
    /// everyone.
    pub fn parse_key_policy(text: &str) -> KmsResult<Self> {
        let document = Self::parse(text)?;
        for (index, statement) in document.statements.iter().enumerate() {
            match (&statement.principal, &statement.not_principal) {
                (None, None) => {
                    return Err(malformed(format!(
                        "Statement {index} of a key policy needs a Principal"
                    )));
                }
                (None, Some(_)) if statement.effect == Effect::Allow => {
                    return Err(malformed(format!(
                        "Statement {index} uses NotPrincipal with Allow; NotPrincipal is only supported with Deny"
                    )));
                }
                _ => {}
            }
        }
        Ok(document)
    }

    /// Parses an identity policy (attached to a user or role), whose statements never name a
    /// principal: the principal is the one the policy is attached to.
    pub fn parse_identity_policy(text: &str) -> KmsResult<Self> {
        let document = Self::parse(text)?;
        if let Some(index) = document
            .statements
            .iter()
            .position(|s| s.principal.is_some() || s.not_principal.is_some())
        {
            return Err(malformed(format!(
                "Statement {index}: an identity-based policy must not name a Principal or NotPrincipal"
            )));
        }
        Ok(document)
    }
}

/// What one request looks like to a policy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestContext {
    /// The caller's ARN.
    pub principal_arn: String,
    /// The caller's account.
    pub principal_account: String,
    /// The service principal making the request, for `{"Service": …}` principals.
    pub service: Option<String>,
    /// The action, `kms:Encrypt`.
    pub action: String,
    /// The key ARN.
    pub resource: String,
    /// Condition keys (lower-cased) and their values; a key absent here is absent.
    pub keys: BTreeMap<String, Vec<String>>,
    /// Single-valued keys that hold several values because request entries whose names differ
    /// only in case name the same condition key (`kms:EncryptionContext:Tenant` for the context
    /// keys `Tenant` and `tenant`, `aws:ResourceTag/team` for the tags `Team` and `team`).
    pub ambiguous: BTreeSet<String>,
}

impl RequestContext {
    /// Adds values to a condition key (its name is lower-cased). IAM reads condition key names
    /// case-insensitively, so names differing only in case are one key: their values are kept
    /// together, never one overwriting the other, and the key is marked ambiguous.
    pub fn add(&mut self, key: &str, values: Vec<String>) {
        let lower = key.to_ascii_lowercase();
        match self.keys.get_mut(&lower) {
            Some(existing) => {
                existing.extend(values);
                self.ambiguous.insert(lower);
            }
            None => {
                self.keys.insert(lower, values);
            }
        }
    }

    /// [`add`](Self::add), in a builder's form.
    pub fn with(mut self, key: &str, values: &[&str]) -> Self {
        self.add(key, values.iter().map(|v| v.to_string()).collect());
        self
    }
}

/// What a document says about a request, strongest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// A matching Deny statement (its Sid).
    Deny(Option<String>),
    /// A matching Allow statement that names the caller, and no matching Deny.
    Allow(Option<String>),
    /// A matching Allow statement that names the caller's account: allowed if the caller's own
    /// identity policies allow too (how the default key policy delegates to IAM).
    AllowIfIdentityAllows(Option<String>),
    /// No statement matches.
    NotApplicable,
}

/// `*` and `?` wildcards; `case_insensitive` for actions.
pub fn wildcard_match(pattern: &str, text: &str, case_insensitive: bool) -> bool {
    let norm = |s: &str| {
        if case_insensitive {
            s.to_ascii_lowercase()
        } else {
            s.to_string()
        }
    };
    let (p, t) = (norm(pattern), norm(text));
    let (p, t): (Vec<char>, Vec<char>) = (p.chars().collect(), t.chars().collect());
    // Iterative matching with backtracking to the last `*`.
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        // A `*` of the pattern is a wildcard first, even where the text has a `*` too.
        if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// How a statement's principal names the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PrincipalMatch {
    /// By ARN, as a service, or as anyone.
    Exact,
    /// Through its account (an account id or the account's root ARN): for an Allow, the account
    /// delegates to the caller's identity policies; a Deny applies to everyone in the account.
    Account,
}

fn principal_match(principals: &Principals, ctx: &RequestContext) -> Option<PrincipalMatch> {
    match principals {
        Principals::Anyone => Some(PrincipalMatch::Exact),
        Principals::Listed { aws, service } => {
            let root = format!("arn:aws:iam::{}:root", ctx.principal_account);
            if aws.contains(&ctx.principal_arn)
                || ctx
                    .service
                    .as_ref()
                    .is_some_and(|s| service.iter().any(|x| x == s))
            {
                return Some(PrincipalMatch::Exact);
            }
            let names_account = aws
                .iter()
                .any(|p| *p == ctx.principal_account || *p == root);
            if names_account {
                return Some(if ctx.principal_arn == root {
                    PrincipalMatch::Exact
                } else {
                    PrincipalMatch::Account
                });
            }
            None
        }
    }
}

fn parse_number(s: &str) -> Option<f64> {
    s.trim().parse().ok()
}

/// ISO 8601 (`2026-11-23T10:00:00Z`) or epoch seconds.
fn parse_date(s: &str) -> Option<i64> {
    if let Ok(secs) = s.trim().parse::<i64>() {
        return Some(secs);
    }
    humantime::parse_rfc3339_weak(s.trim_end_matches('Z'))
        .ok()
        .or_else(|| humantime::parse_rfc3339(s).ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs() as i64)
}

fn cidr_contains(cidr: &str, ip: &str) -> bool {
    let Ok(ip) = ip.parse::<IpAddr>() else {
        return false;
    };
    let (net, bits) = match cidr.split_once('/') {
        Some((net, bits)) => (net, bits.parse::<u32>().ok()),
        None => (cidr, None),
    };
    let Ok(net) = net.parse::<IpAddr>() else {
        return false;
    };
    match (net, ip) {
        (IpAddr::V4(net), IpAddr::V4(ip)) => {
            let bits = bits.unwrap_or(32).min(32);
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(net) & mask == u32::from(ip) & mask
        }
        (IpAddr::V6(net), IpAddr::V6(ip)) => {
            let bits = bits.unwrap_or(128).min(128);
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(net) & mask == u128::from(ip) & mask
        }
        _ => false,
    }
}

/// Whether one request value satisfies a positive operator against one policy value.
fn value_matches(operator: Operator, policy: &str, request: &str) -> bool {
    use Operator::*;
    match operator {
        StringEquals | ArnEquals => policy == request,
        StringEqualsIgnoreCase => policy.eq_ignore_ascii_case(request),
        StringLike | ArnLike => wildcard_match(policy, request, false),
        NumericEquals
        | NumericLessThan
        | NumericLessThanEquals
        | NumericGreaterThan
        | NumericGreaterThanEquals => match (parse_number(request), parse_number(policy)) {
            (Some(r), Some(p)) => match operator {
                NumericEquals => r == p,
                NumericLessThan => r < p,
                NumericLessThanEquals => r <= p,
                NumericGreaterThan => r > p,
                _ => r >= p,
            },
            _ => false,
        },
        DateEquals
        | DateLessThan
        | DateLessThanEquals
        | DateGreaterThan
        | DateGreaterThanEquals => match (parse_date(request), parse_date(policy)) {
            (Some(r), Some(p)) => match operator {
                DateEquals => r == p,
                DateLessThan => r < p,
                DateLessThanEquals => r <= p,
                DateGreaterThan => r > p,
                _ => r >= p,
            },
            _ => false,
        },
        Bool => policy.eq_ignore_ascii_case(request),
        IpAddress => cidr_contains(policy, request),
        // Negated forms and Null never reach here.
        _ => false,
    }
}

/// Replaces the policy variables (`${aws:username}`, `${aws:PrincipalTag/team}`, `${key, 'default'}`,
/// and the escapes `${*}`, `${?}`, `${$}`) in `text` with the request's values. `None` when a
/// variable has no single value and no default: the value then matches nothing, as in IAM.
pub fn substitute(text: &str, ctx: &RequestContext) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}')?;
        let inner = after[..end].trim();
        match inner {
            "*" | "?" | "$" => out.push_str(inner),
            _ => {
                let (name, default) = match inner.split_once(',') {
                    Some((name, default)) => (
                        name.trim(),
                        Some(default.trim().trim_matches('\'').to_string()),
                    ),
                    None => (inner, None),
                };
                let value = match ctx.keys.get(&name.to_ascii_lowercase()) {
                    Some(values) if values.len() == 1 => Some(values[0].clone()),
                    _ => default,
                };
                out.push_str(&value?);
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Some(out)
}

/// The policy's values of `condition`, with policy variables replaced when `variables` holds.
fn policy_values<'a>(
    values: &'a [String],
    ctx: &RequestContext,
    variables: bool,
) -> std::borrow::Cow<'a, [String]> {
    if !variables || !values.iter().any(|v| v.contains("${")) {
        return std::borrow::Cow::Borrowed(values);
    }
    std::borrow::Cow::Owned(values.iter().filter_map(|v| substitute(v, ctx)).collect())
}

/// Whether one request value satisfies `operator` against the policy's values: a positive
/// operator when some policy value matches it, a negated one when none does (IAM reads the
/// values of a negated operator with a logical NOR).
fn value_satisfies(operator: Operator, policy: &[String], request: &str) -> bool {
    let positive = operator.positive();
    let matches_some = policy.iter().any(|p| value_matches(positive, p, request));
    matches_some != operator.negated()
}

/// IAM's condition semantics, in one place:
///
/// - `Null` asks only whether the key is absent (an empty set counts as absent).
/// - A set operator applies the base operator, negation included, to each request value on its
///   own ([`value_satisfies`]) and then quantifies: `ForAnyValue:` holds when some request value
///   satisfies it, so never for an absent key or an empty set; `ForAllValues:` holds when every
///   request value does, so always for an absent key or an empty set. `…IfExists` changes
///   neither, since it too is applied per value.
/// - Without a set operator an absent key makes `…IfExists` and negated operators hold and every
///   other operator fail. AWS leaves a plain operator on a multivalued key undefined (it tells
///   policy authors to use a set operator); here a positive operator holds when some request
///   value satisfies it and a negated one when every value does, the reading that makes neither
///   an Allow nor a Deny broader than what the policy names.
///
/// - A single-valued key made ambiguous by names differing only in case
///   ([`RequestContext::ambiguous`]) is read each way and fails closed: without a set operator,
///   a Deny applies when the condition holds for any of its values, an Allow only when it
///   holds for all of them. So `{"Tenant": "a", "tenant": "b"}` meets neither a Deny on
///   `StringNotEquals kms:EncryptionContext:tenant a` nor an Allow on `StringEquals … b` by
///   hiding the other pair.
///
/// Sources: AWS IAM User Guide, "Single-valued vs. multivalued context keys", "Multivalued context
/// key examples" (`ForAllValues:StringNotLike` table) and "Conditions with multiple context keys
/// or values" (NOR for negated operators).
fn condition_holds(
    condition: &Condition,
    ctx: &RequestContext,
    variables: bool,
    effect: Effect,
) -> bool {
    let request: &[String] = ctx.keys.get(&condition.key).map_or(&[], Vec::as_slice);
    if condition.operator == Operator::Null {
        let wants_absent = condition.values.iter().any(|v| v == "true");
        return wants_absent == request.is_empty();
    }
    let policy = policy_values(&condition.values, ctx, variables);
    let satisfies = |value: &String| value_satisfies(condition.operator, &policy, value);
    match condition.qualifier {
        Some(SetQualifier::ForAnyValue) => request.iter().any(satisfies),
        Some(SetQualifier::ForAllValues) => request.iter().all(satisfies),
        None if request.is_empty() => condition.if_exists || condition.operator.negated(),
        None if ctx.ambiguous.contains(&condition.key) => match effect {
            Effect::Deny => request.iter().any(satisfies),
            Effect::Allow => request.iter().all(satisfies),
        },
        None if condition.operator.negated() => request.iter().all(satisfies),
        None => request.iter().any(satisfies),
    }
}

/// Whether a statement applies, and how its principal named the caller.
fn statement_applies(
    statement: &Statement,
    ctx: &RequestContext,
    check_principal: bool,
    variables: bool,
) -> Option<PrincipalMatch> {
    let mut how = PrincipalMatch::Exact;
    if check_principal {
        // A key policy statement naming no principal is refused when the policy is set; one
        // stored before that rule fails closed: its Allow grants nobody, its Deny binds everyone.
        if statement.principal.is_none()
            && statement.not_principal.is_none()
            && statement.effect == Effect::Allow
        {
            return None;
        }
        if let Some(p) = &statement.principal {
            how = principal_match(p, ctx)?;
        }
        if let Some(p) = &statement.not_principal
            && principal_match(p, ctx) == Some(PrincipalMatch::Exact)
        {
            return None;
        }
    }
    statement_matches_request(statement, ctx, variables).then_some(how)
}

fn statement_matches_request(statement: &Statement, ctx: &RequestContext, variables: bool) -> bool {
    let action_in = |patterns: &Vec<String>| {
        patterns
            .iter()
            .any(|p| wildcard_match(p, &ctx.action, true))
    };
    if let Some(actions) = &statement.action
        && !action_in(actions)
    {
        return false;
    }
    if let Some(actions) = &statement.not_action
        && action_in(actions)
    {
        return false;
    }
    let resource_in = |patterns: &Vec<String>| {
        policy_values(patterns, ctx, variables)
            .iter()
            .any(|p| wildcard_match(p, &ctx.resource, false))
    };
    if let Some(resources) = &statement.resource
        && !resource_in(resources)
    {
        return false;
    }
    if let Some(resources) = &statement.not_resource
        && resource_in(resources)
    {
        return false;
    }
    statement
        .conditions
        .iter()
        .all(|c| condition_holds(c, ctx, variables, statement.effect))
}

impl PolicyDocument {
    /// Whether the document uses policy variables (`${…}` in a condition value or a resource,
    /// in the 2012-10-17 language), which may read any condition key.
    pub fn uses_variables(&self) -> bool {
        self.version.as_deref() == Some("2012-10-17")
            && self.statements.iter().any(|s| {
                let in_values = s
                    .conditions
                    .iter()
                    .flat_map(|c| &c.values)
                    .chain(s.resource.iter().flatten())
                    .chain(s.not_resource.iter().flatten());
                in_values.into_iter().any(|v| v.contains("${"))
            })
    }

    /// Whether any condition of the document reads `key` (case-insensitive), so that costly
    /// condition keys are computed only for documents that use them.
    pub fn reads_condition_key(&self, key: &str) -> bool {
        let key = key.to_ascii_lowercase();
        self.statements
            .iter()
            .flat_map(|s| &s.conditions)
            .any(|c| c.key == key)
    }

    /// Evaluates the document for `ctx`: a matching Deny wins over any Allow. Key policies
    /// match principals; identity policies (which have none) pass `check_principal = false`.
    pub fn evaluate(&self, ctx: &RequestContext, check_principal: bool) -> Decision {
        let mut allowed = None;
        let mut delegated = None;
        // Policy variables exist only in the 2012-10-17 language.
        let variables = self.version.as_deref() == Some("2012-10-17");
        for statement in &self.statements {
            let Some(how) = statement_applies(statement, ctx, check_principal, variables) else {
                continue;
            };
            match (statement.effect, how) {
                (Effect::Deny, _) => return Decision::Deny(statement.sid.clone()),
                (Effect::Allow, PrincipalMatch::Exact) => {
                    allowed.get_or_insert(statement.sid.clone());
                }
                (Effect::Allow, PrincipalMatch::Account) => {
                    delegated.get_or_insert(statement.sid.clone());
                }
            }
        }
        match (allowed, delegated) {
            (Some(sid), _) => Decision::Allow(sid),
            (None, Some(sid)) => Decision::AllowIfIdentityAllows(sid),
            (None, None) => Decision::NotApplicable,
        }
    }
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
