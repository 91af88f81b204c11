//! AWS's input validation, driven by the KMS service model (botocore's `service-2.json`, copied
//! into `model/`): before an operation runs, its request body is checked against the operation's
//! input shape — JSON types, required members, enums, lengths, patterns, ranges — and answered as
//! AWS answers: a `SerializationException` for a value of the wrong JSON type, a
//! `ValidationException` listing every broken constraint for the rest.

use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use regex::Regex;
use serde::Deserialize;
use serde_json::Value;

/// The model's text: AWS KMS from botocore 1.44.8 (Apache-2.0), documentation removed.
const MODEL_JSON: &str = include_str!("../model/kms-2014-11-01.json");

/// Why a request body was refused before its operation ran.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// A value of the wrong JSON type (a number where the model has a string, …): AWS's
    /// `SerializationException`, with what was found where.
    Serialization(String),
    /// Broken constraints, each in AWS's words (`Value 'X' at 'keySpec' failed to satisfy
    /// constraint: …`), in the order of the model's members.
    Validation(Vec<String>),
}

impl Rejection {
    /// The AWS exception name.
    pub fn aws_type(&self) -> &'static str {
        match self {
            Rejection::Serialization(_) => "SerializationException",
            Rejection::Validation(_) => "ValidationException",
        }
    }

    /// The message, for validation errors as AWS words it: `1 validation error detected: …` or
    /// `2 validation errors detected: …; …`.
    pub fn message(&self) -> String {
        match self {
            Rejection::Serialization(message) => message.clone(),
            Rejection::Validation(faults) => {
                let plural = if faults.len() == 1 { "" } else { "s" };
                format!(
                    "{} validation error{plural} detected: {}",
                    faults.len(),
                    faults.join("; ")
                )
            }
        }
    }
}

/// The KMS service model: each operation's input shape and every shape's constraints, with the
/// model's patterns compiled once.
///
/// ```
/// use kms_server::validation::{Model, Rejection};
/// let model = Model::kms();
/// let body = serde_json::json!({"KeySpec": "AES_999"});
/// let Err(Rejection::Validation(faults)) = model.check("CreateKey", &body) else { panic!() };
/// assert!(faults[0].starts_with("Value 'AES_999' at 'keySpec' failed to satisfy constraint"));
/// ```
pub struct Model {
    inputs: HashMap<String, String>,
    shapes: HashMap<String, Shape>,
    patterns: HashMap<String, Result<Regex, String>>,
}

impl fmt::Debug for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Model")
            .field("operations", &self.inputs.len())
            .field("shapes", &self.shapes.len())
            .finish()
    }
}

#[derive(Deserialize)]
struct RawModel {
    operations: HashMap<String, RawOperation>,
    shapes: HashMap<String, Shape>,
}

#[derive(Deserialize)]
struct RawOperation {
    input: Option<ShapeRef>,
}

#[derive(Deserialize)]
struct ShapeRef {
    shape: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Structure,
    String,
    Blob,
    Integer,
    Long,
    Boolean,
    Timestamp,
    List,
    Map,
}

#[derive(Deserialize)]
struct Shape {
    #[serde(rename = "type")]
    kind: Kind,
    #[serde(default)]
    members: Members,
    #[serde(default)]
    required: Vec<String>,
    min: Option<i64>,
    max: Option<i64>,
    pattern: Option<String>,
    #[serde(rename = "enum")]
    values: Option<Vec<String>>,
    #[serde(default)]
    sensitive: bool,
    member: Option<ShapeRef>,
    key: Option<ShapeRef>,
    value: Option<ShapeRef>,
}

/// A structure's members in the model's order (a JSON object read in document order), so that
/// faults are listed in the order AWS's documentation lists the members.
#[derive(Default)]
struct Members(Vec<(String, ShapeRef)>);

impl<'de> Deserialize<'de> for Members {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Members;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of members")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Members, A::Error> {
                let mut members = Vec::new();
                while let Some(entry) = map.next_entry::<String, ShapeRef>()? {
                    members.push(entry);
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

/// Patterns of AWS's model this service widens, with why. An XKS proxy that this service's own
/// `kms xks-proxy` (or any proxy on the operator's network) provides may listen on a port, and on
/// loopback in plain HTTP; AWS's pattern allows neither. The service still refuses plain HTTP
/// anywhere but loopback.
const WIDENED_PATTERNS: &[(&str, &str)] = &[(
    "XksProxyUriEndpointType",
    "^https?://[a-zA-Z0-9.-]+(:[0-9]{1,5})?$",
)];

impl Model {
    /// The model of AWS KMS this server speaks, read once.
    pub fn kms() -> &'static Model {
        static MODEL: OnceLock<Model> = OnceLock::new();
        MODEL.get_or_init(|| Model::parse(MODEL_JSON).expect("the bundled KMS model is valid"))
    }

    /// Reads a botocore service model.
    pub fn parse(json: &str) -> Result<Model, serde_json::Error> {
        let mut raw: RawModel = serde_json::from_str(json)?;
        for (shape, pattern) in WIDENED_PATTERNS {
            if let Some(shape) = raw.shapes.get_mut(*shape) {
                shape.pattern = Some((*pattern).to_string());
            }
        }
        let inputs = raw
            .operations
            .into_iter()
            .filter_map(|(name, op)| Some((name, op.input?.shape)))
            .collect();
        let patterns = raw
            .shapes
            .iter()
            .filter_map(|(name, shape)| {
                let pattern = shape.pattern.as_deref()?;
                let compiled = Regex::new(&java_to_rust(pattern)).map_err(|e| e.to_string());
                Some((name.clone(), compiled))
            })
            .collect();
        Ok(Model {
            inputs,
            shapes: raw.shapes,
            patterns,
        })
    }

    /// Whether the model has the operation (the plugin operations of this service are not AWS's).
    pub fn knows(&self, operation: &str) -> bool {
        self.inputs.contains_key(operation)
    }

    /// The operations whose request has the member `member` (`DryRun`, …), sorted.
    pub fn operations_with_member(&self, member: &str) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .inputs
            .iter()
            .filter(|(_, input)| {
                self.shapes
                    .get(*input)
                    .is_some_and(|shape| shape.members.0.iter().any(|(name, _)| name == member))
            })
            .map(|(operation, _)| operation.as_str())
            .collect();
        names.sort_unstable();
        names
    }

    /// The model's patterns the `regex` crate cannot compile, with why: their members are not
    /// checked against them. Empty for the bundled model (a test holds it so).
    pub fn uncompiled_patterns(&self) -> Vec<(String, String)> {
        let mut failed: Vec<(String, String)> = self
            .patterns
            .iter()
            .filter_map(|(shape, compiled)| Some((shape.clone(), compiled.as_ref().err()?.clone())))
            .collect();
        failed.sort();
        failed
    }

    /// Checks a request body (already read as JSON) against `operation`'s input shape. An
    /// operation the model does not know passes unchecked.
    pub fn check(&self, operation: &str, body: &Value) -> Result<(), Rejection> {
        let Some(input) = self.inputs.get(operation) else {
            return Ok(());
        };
        let mut walk = Walk {
            model: self,
            faults: Vec::new(),
        };
        walk.value(input, body, "")?;
        if walk.faults.is_empty() {
            Ok(())
        } else {
            Err(Rejection::Validation(walk.faults))
        }
    }
}

/// One pass over a body, gathering faults; a wrong JSON type ends it at once.
struct Walk<'m> {
    model: &'m Model,
    faults: Vec<String>,
}

impl<'m> Walk<'m> {
    fn shape(&self, name: &str) -> &'m Shape {
        // The model refers only to shapes it defines; the bundled one is checked by a test.
        &self.model.shapes[name]
    }

    fn fault(&mut self, shown: Option<String>, path: &str, constraint: impl fmt::Display) {
        let value = match shown {
            Some(text) => format!("Value '{text}' at"),
            None => "Value at".to_string(),
        };
        self.faults.push(format!(
            "{value} '{path}' failed to satisfy constraint: {constraint}"
        ));
    }

    fn value(&mut self, shape_name: &str, value: &Value, path: &str) -> Result<(), Rejection> {
        if value.is_null() {
            return Ok(());
        }
        let shape = self.shape(shape_name);
        let wrong = |expected: &str| {
            Rejection::Serialization(format!(
                "Expected {expected} at '{}', found {}",
                if path.is_empty() { "<body>" } else { path },
                json_kind(value)
            ))
        };
        match shape.kind {
            Kind::Structure => {
                let object = value.as_object().ok_or_else(|| wrong("an object"))?;
                for required in &shape.required {
                    if object.get(required).is_none_or(Value::is_null) {
                        let at = join(path, &lower_camel(required));
                        self.faults.push(format!(
                            "Value null at '{at}' failed to satisfy constraint: Member must not be null"
                        ));
                    }
                }
                for (name, member) in &shape.members.0 {
                    if let Some(field) = object.get(name) {
                        self.value(&member.shape, field, &join(path, &lower_camel(name)))?;
                    }
                }
            }
            Kind::String => {
                let text = value.as_str().ok_or_else(|| wrong("a string"))?;
                let shown = (!shape.sensitive).then(|| text.to_string());
                for constraint in self.string_faults(shape_name, text) {
                    self.fault(shown.clone(), path, constraint);
                }
            }
            Kind::Blob => {
                let text = value.as_str().ok_or_else(|| wrong("a base64 string"))?;
                let bytes = STANDARD.decode(text).map_err(|_| {
                    Rejection::Serialization(format!("The value at '{path}' is not valid base64"))
                })?;
                // AWS shows a Java buffer's address for blobs; the value is left out instead.
                for constraint in length_faults(shape, bytes.len()) {
                    self.fault(None, path, constraint);
                }
            }
            Kind::Integer | Kind::Long => {
                let number = value
                    .as_i64()
                    .filter(|n| !matches!(shape.kind, Kind::Integer) || i32::try_from(*n).is_ok())
                    .ok_or_else(|| wrong("an integer"))?;
                if let Some(min) = shape.min.filter(|min| number < *min) {
                    self.fault(
                        Some(number.to_string()),
                        path,
                        format!("Member must have value greater than or equal to {min}"),
                    );
                }
                if let Some(max) = shape.max.filter(|max| number > *max) {
                    self.fault(
                        Some(number.to_string()),
                        path,
                        format!("Member must have value less than or equal to {max}"),
                    );
                }
            }
            Kind::Boolean => {
                value.as_bool().ok_or_else(|| wrong("a boolean"))?;
            }
            Kind::Timestamp => {
                if !(value.is_number() || value.is_string()) {
                    return Err(wrong("a timestamp"));
                }
            }
            Kind::List => {
                let items = value.as_array().ok_or_else(|| wrong("a list"))?;
                let member = shape.member.as_ref().map(|m| m.shape.clone());
                let shown = member.as_deref().and_then(|m| self.java_list(m, items));
                for constraint in length_faults(shape, items.len()) {
                    self.fault(shown.clone(), path, constraint);
                }
                if let Some(member) = member {
                    for (index, item) in items.iter().enumerate() {
                        self.value(&member, item, &format!("{path}.{}.member", index + 1))?;
                    }
                }
            }
            Kind::Map => {
                let entries = value.as_object().ok_or_else(|| wrong("a map"))?;
                let key_shape = shape.key.as_ref().map(|k| k.shape.clone());
                let value_shape = shape.value.as_ref().map(|v| v.shape.clone());
                let mut key_faults = Vec::new();
                let mut value_faults = Vec::new();
                for (key, item) in entries {
                    if let Some(key_shape) = &key_shape {
                        key_faults.extend(self.string_faults(key_shape, key));
                    }
                    if let Some(value_shape) = &value_shape {
                        let text = item.as_str().ok_or_else(|| wrong("a map of strings"))?;
                        value_faults.extend(self.string_faults(value_shape, text));
                    }
                }
                let shown = java_map(entries);
                for constraint in length_faults(shape, entries.len()) {
                    self.fault(Some(shown.clone()), path, constraint);
                }
                for (side, faults) in [("keys", key_faults), ("value", value_faults)] {
                    if !faults.is_empty() {
                        let mut faults: Vec<String> = faults;
                        faults.dedup();
                        self.fault(
                            Some(shown.clone()),
                            path,
                            format!(
                                "Map {side} must satisfy constraint: [{}]",
                                faults.join(", ")
                            ),
                        );
                    }
                }
            }
        }
        Ok(())
    }

    /// The constraints a string breaks: its enum, then its pattern, then its length (the order
    /// AWS lists them in).
    fn string_faults(&self, shape_name: &str, text: &str) -> Vec<String> {
        let shape = self.shape(shape_name);
        let mut faults = Vec::new();
        if let Some(values) = shape
            .values
            .as_ref()
            .filter(|v| !v.iter().any(|v| v == text))
        {
            faults.push(format!(
                "Member must satisfy enum value set: [{}]",
                values.join(", ")
            ));
        }
        if let (Some(pattern), Some(Ok(regex))) = (
            shape.pattern.as_deref(),
            self.model.patterns.get(shape_name),
        ) && !regex.is_match(text)
        {
            faults.push(format!(
                "Member must satisfy regular expression pattern: {pattern}"
            ));
        }
        // Java counts a string's length in UTF-16 code units.
        faults.extend(length_faults(shape, text.encode_utf16().count()));
        faults
    }

    /// A list as Java prints it (`[a, b]`), for lists of strings; other lists are not shown.
    fn java_list(&self, member: &str, items: &[Value]) -> Option<String> {
        let shape = self.shape(member);
        if !matches!(shape.kind, Kind::String) || shape.sensitive {
            return None;
        }
        let texts: Option<Vec<&str>> = items.iter().map(Value::as_str).collect();
        Some(format!("[{}]", texts?.join(", ")))
    }
}

/// The length constraints of a string, blob, list or map of `length` that it breaks.
fn length_faults(shape: &Shape, length: usize) -> Vec<String> {
    let length = i64::try_from(length).unwrap_or(i64::MAX);
    let mut faults = Vec::new();
    if let Some(min) = shape.min.filter(|min| length < *min) {
        faults.push(format!(
            "Member must have length greater than or equal to {min}"
        ));
    }
    if let Some(max) = shape.max.filter(|max| length > *max) {
        faults.push(format!(
            "Member must have length less than or equal to {max}"
        ));
    }
    faults
}

/// A map as Java prints it: `{k=v, k2=v2}`.
fn java_map(entries: &serde_json::Map<String, Value>) -> String {
    let shown: Vec<String> = entries
        .iter()
        .map(|(key, value)| format!("{key}={}", value.as_str().unwrap_or_default()))
        .collect();
    format!("{{{}}}", shown.join(", "))
}

/// AWS names members in messages with a lower-case first letter: `KeySpec` is `keySpec`.
fn lower_camel(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn join(path: &str, member: &str) -> String {
    if path.is_empty() {
        member.to_string()
    } else {
        format!("{path}.{member}")
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// A model pattern (Java syntax, matched against the whole value) as a `regex` pattern: anchored,
/// and with Java's ASCII meanings of `\w`, `\d` and `\s` (the `regex` crate's are Unicode).
fn java_to_rust(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('w') => out.push_str("[0-9A-Za-z_]"),
            Some('d') => out.push_str("[0-9]"),
            Some('s') => out.push_str(r"[\t\n\x0B\x0C\r ]"),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    format!("^(?:{out})$")
}

#[cfg(test)]
#[path = "validation_tests.rs"]
mod tests;
