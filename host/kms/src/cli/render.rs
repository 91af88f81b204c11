//! How answers are printed: `--output json` prints the AWS-shaped response as pretty JSON; text
//! renders it for people, one `Field: value` line per field, nested objects indented, lists of
//! records as numbered blocks, `…Date` fields as RFC 3339, and binary results in base64; `table`
//! and `yaml` print the same response as a table or as YAML. `--query` (JMESPath, as the aws CLI's)
//! picks out part of the response first; text prints a single value as it is, so that
//! `KEY=$(kms create-key --query KeyMetadata.KeyId)` works.

use std::fmt::Write as _;
use std::io::{self, IsTerminal as _, Write as _};
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Serialize;
use serde_json::Value;

use super::Output;
use super::files::write_bytes;
use kms_service::audit::AuditEvent;

/// The `--query` of this run, checked when the command line was parsed.
static QUERY: OnceLock<String> = OnceLock::new();

/// Checks a `--query` expression.
pub(super) fn parse_query(expression: &str) -> Result<String, String> {
    jmespath::compile(expression)
        .map(|_| expression.to_string())
        .map_err(|e| format!("not a JMESPath expression: {e}"))
}

/// Sets the `--query` every printed response goes through.
pub(super) fn set_query(expression: &str) {
    let _ = QUERY.set(expression.to_string());
}

/// `value` as JSON, through `--query` if one was given.
fn queried(value: &impl Serialize) -> anyhow::Result<Value> {
    let json = serde_json::to_value(value)?;
    let Some(expression) = QUERY.get() else {
        return Ok(json);
    };
    let compiled = jmespath::compile(expression)?;
    let found = compiled
        .search(json)
        .map_err(|e| anyhow::anyhow!("--query {expression}: {e}"))?;
    Ok(serde_json::to_value(&*found)?)
}

/// Whether a command prints its whole response (through [`print`]) rather than its own text
/// form: any format but text, or text with a `--query` to apply.
fn whole_response(out: Output) -> bool {
    out != Output::Text || QUERY.get().is_some()
}

/// Prints a response in the chosen format, after `--query`.
pub(super) fn print(out: Output, value: &impl Serialize) -> anyhow::Result<()> {
    let json = queried(value)?;
    let text = match out {
        Output::Json => serde_json::to_string_pretty(&json)?,
        Output::Text if QUERY.get().is_some() => plain(&json),
        Output::Text => text(&json),
        Output::Table => table(&json),
        Output::Yaml => yaml(&json),
    };
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "{}", text.trim_end())?;
    Ok(())
}

/// What a query picked, as text: a value as it is, a list one value per line, anything else
/// rendered for people.
fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Array(items) if items.iter().all(|i| !i.is_object() && !i.is_array()) => {
            items.iter().map(plain).collect::<Vec<_>>().join("\n")
        }
        Value::Bool(_) | Value::Number(_) => value.to_string(),
        other => text(other),
    }
}

/// A response as tables, as the aws CLI draws them: an object's scalar fields as `field | value`
/// rows, each list of records as rows under its fields' names, nested parts as tables of their
/// own titled by their field.
pub fn table(value: &Value) -> String {
    let mut out = String::new();
    tables(&mut out, None, value);
    out.trim_end().to_string()
}

fn tables(out: &mut String, title: Option<&str>, value: &Value) {
    let cell = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let nested = |v: &Value| matches!(v, Value::Object(_) | Value::Array(_));
    match value {
        Value::Object(map) => {
            let rows: Vec<Vec<String>> = map
                .iter()
                .filter(|(_, v)| !nested(v))
                .map(|(k, v)| vec![k.clone(), cell(v)])
                .collect();
            if !rows.is_empty() {
                grid(out, title, &rows, false);
            }
            for (k, v) in map.iter().filter(|(_, v)| nested(v)) {
                let title = title.map_or_else(|| k.clone(), |t| format!("{t}.{k}"));
                tables(out, Some(&title), v);
            }
        }
        Value::Array(items) if !items.is_empty() && items.iter().all(Value::is_object) => {
            let mut columns: Vec<String> = Vec::new();
            for key in items
                .iter()
                .flat_map(|i| i.as_object().into_iter().flat_map(|o| o.keys()))
            {
                if !columns.contains(key) {
                    columns.push(key.clone());
                }
            }
            let mut rows = vec![columns.clone()];
            rows.extend(
                items
                    .iter()
                    .map(|item| columns.iter().map(|c| cell(&item[c.as_str()])).collect()),
            );
            grid(out, title, &rows, true);
        }
        Value::Array(items) => {
            let rows: Vec<Vec<String>> = items.iter().map(|i| vec![cell(i)]).collect();
            grid(out, title, &rows, false);
        }
        other => grid(out, title, &[vec![cell(other)]], false),
    }
}

/// Draws one table, its first row a header if `header`.
fn grid(out: &mut String, title: Option<&str>, rows: &[Vec<String>], header: bool) {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let rule = format!(
        "+{}+",
        widths
            .iter()
            .map(|w| "-".repeat(w + 2))
            .collect::<Vec<_>>()
            .join("+")
    );
    if let Some(title) = title {
        let _ = writeln!(out, "{title}");
    }
    let _ = writeln!(out, "{rule}");
    for (i, row) in rows.iter().enumerate() {
        let cells: Vec<String> = (0..columns)
            .map(|c| {
                let s = row.get(c).map(String::as_str).unwrap_or("");
                format!(" {s}{} ", " ".repeat(widths[c] - s.chars().count()))
            })
            .collect();
        let _ = writeln!(out, "|{}|", cells.join("|"));
        if i == 0 && header {
            let _ = writeln!(out, "{rule}");
        }
    }
    let _ = writeln!(out, "{rule}");
}

/// A response as YAML (block style; strings plain where YAML reads them back as the same
/// string, double-quoted otherwise).
pub fn yaml(value: &Value) -> String {
    fn scalar(v: &Value) -> String {
        match v {
            Value::String(s) if plain_safe(s) => s.clone(),
            Value::String(s) => Value::String(s.clone()).to_string(),
            Value::Null => "null".into(),
            other => other.to_string(),
        }
    }
    fn plain_safe(s: &str) -> bool {
        const RESERVED: [&str; 11] = [
            "true", "false", "null", "yes", "no", "on", "off", "y", "n", "~", "",
        ];
        let first_ok = s
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '/' || c == '_');
        first_ok
            && !RESERVED.contains(&s.to_ascii_lowercase().as_str())
            && s.parse::<f64>().is_err()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-./@+=,".contains(c) || c == ':')
            && !s.contains(": ")
            && !s.ends_with(':')
    }
    fn block(out: &mut String, v: &Value, indent: usize) {
        let pad = "  ".repeat(indent);
        match v {
            Value::Object(map) if !map.is_empty() => {
                for (k, item) in map {
                    let key = scalar(&Value::String(k.clone()));
                    match item {
                        Value::Object(m) if !m.is_empty() => {
                            let _ = writeln!(out, "{pad}{key}:");
                            block(out, item, indent + 1);
                        }
                        Value::Array(a) if !a.is_empty() => {
                            let _ = writeln!(out, "{pad}{key}:");
                            block(out, item, indent);
                        }
                        _ => {
                            let _ = writeln!(out, "{pad}{key}: {}", flow(item));
                        }
                    }
                }
            }
            Value::Array(items) if !items.is_empty() => {
                for item in items {
                    match item {
                        Value::Object(m) if !m.is_empty() => {
                            let mut inner = String::new();
                            block(&mut inner, item, indent + 1);
                            let inner = inner.trim_start();
                            let _ = write!(out, "{pad}- {inner}");
                        }
                        Value::Array(a) if !a.is_empty() => {
                            let _ = writeln!(out, "{pad}-");
                            block(out, item, indent + 1);
                        }
                        _ => {
                            let _ = writeln!(out, "{pad}- {}", flow(item));
                        }
                    }
                }
            }
            other => {
                let _ = writeln!(out, "{pad}{}", flow(other));
            }
        }
    }
    fn flow(v: &Value) -> String {
        match v {
            Value::Object(_) => "{}".into(),
            Value::Array(_) => "[]".into(),
            other => scalar(other),
        }
    }
    let mut out = String::new();
    block(&mut out, value, 0);
    out
}

/// Prints one binary result: raw to `file` if given, the whole response with `--output json`,
/// else base64 on a line.
pub(super) fn emit_blob(
    out: Output,
    file: Option<&Path>,
    response: &impl Serialize,
    bytes: &[u8],
) -> anyhow::Result<()> {
    match (file, out) {
        (Some(path), _) => write_bytes(Some(path), bytes),
        (None, _) if whole_response(out) => print(out, response),
        (None, _) => write_bytes(None, format!("{}\n", B64.encode(bytes)).as_bytes()),
    }
}

/// Prints one binary result that people read as it is (a plaintext): raw to `file` if given,
/// the whole response with `--output json`, else raw on standard output, unless that is a
/// terminal and the bytes are not text (a data key, say): then base64, with a note saying so.
pub(super) fn emit_raw(
    out: Output,
    file: Option<&Path>,
    response: &impl Serialize,
    bytes: &[u8],
) -> anyhow::Result<()> {
    match (file, out) {
        (Some(path), _) => write_bytes(Some(path), bytes),
        (None, _) if whole_response(out) => print(out, response),
        (None, _) if io::stdout().is_terminal() && !is_text(bytes) => {
            eprintln!(
                "(binary plaintext of {} bytes, shown in base64; --outfile FILE writes the raw bytes, \
                 and so does redirecting standard output)",
                bytes.len()
            );
            write_bytes(None, format!("{}\n", B64.encode(bytes)).as_bytes())
        }
        (None, _) => write_bytes(None, bytes),
    }
}

/// Whether a terminal shows `bytes` as they are: UTF-8 without control characters other than
/// line breaks and tabs (no escape sequences that would drive the terminal).
pub(super) fn is_text(bytes: &[u8]) -> bool {
    std::str::from_utf8(bytes).is_ok_and(|s| {
        s.chars()
            .all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t'))
    })
}

/// Prints audit records, each with its sequence number: as CloudTrail events through [`print`],
/// or one line per record.
pub(super) fn audit_records(out: Output, records: &[(u64, AuditEvent)]) -> anyhow::Result<()> {
    if whole_response(out) {
        let records: Vec<Value> = records
            .iter()
            .map(|(seq, e)| cloudtrail_event(*seq, e))
            .collect();
        return print(out, &records);
    }
    for (seq, e) in records {
        let when = humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(e.time));
        println!(
            "#{seq} {when} {} {} {} {} {}",
            e.operation,
            e.outcome,
            e.principal,
            e.key_arn.as_deref().unwrap_or("-"),
            e.source
        );
    }
    Ok(())
}

/// An audit record in the shape of a CloudTrail event of AWS KMS (the field names CloudTrail
/// uses, times in ISO 8601, the encryption context as an object), so that tools and habits made
/// for CloudTrail read it; what CloudTrail has no field for is in `additionalEventData`.
pub(super) fn cloudtrail_event(seq: u64, e: &AuditEvent) -> Value {
    let time = humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(e.time));
    let identity_type = if e.principal.ends_with(":root") {
        "Root"
    } else if e.principal.contains(":role/") {
        "AssumedRole"
    } else if e.principal.contains(":user/") {
        "IAMUser"
    } else if e.principal.ends_with(".amazonaws.com") {
        "AWSService"
    } else {
        "Unknown"
    };
    let mut event = serde_json::json!({
        "eventVersion": "1.08",
        "eventTime": time.to_string(),
        "eventSource": "kms.amazonaws.com",
        "eventName": e.operation,
        "awsRegion": e.region,
        "userIdentity": {
            "type": identity_type,
            "arn": e.principal,
            "accountId": e.account,
        },
        "requestID": e.request_id,
        "eventType": "AwsApiCall",
        "recipientAccountId": e.account,
        "additionalEventData": {
            "sequence": seq,
            "source": e.source,
        },
    });
    if let Some(ip) = e.source.strip_prefix("api:") {
        event["sourceIPAddress"] = ip.into();
    } else if e.source == "kms" {
        event["sourceIPAddress"] = "AWS Internal".into();
    }
    let mut parameters = serde_json::Map::new();
    if let Some(arn) = &e.key_arn {
        parameters.insert("keyId".into(), arn.clone().into());
        event["resources"] = serde_json::json!([{
            "accountId": e.account,
            "type": "AWS::KMS::Key",
            "ARN": arn,
        }]);
    }
    if let Some(context) = &e.encryption_context {
        let context: serde_json::Map<String, Value> = context
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        parameters.insert("encryptionContext".into(), context.into());
    }
    event["requestParameters"] = if parameters.is_empty() {
        Value::Null
    } else {
        parameters.into()
    };
    if e.outcome != "Success" {
        event["errorCode"] = e.outcome.clone().into();
        if let Some(message) = &e.error_message {
            event["errorMessage"] = message.clone().into();
        }
    }
    if let Some(grant) = &e.grant_id {
        event["additionalEventData"]["grantId"] = grant.clone().into();
    }
    event
}

/// Renders a response for people.
pub fn text(value: &Value) -> String {
    let mut out = String::new();
    render(&mut out, value, 0, "");
    out
}

fn scalar(name: &str, value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) if name.ends_with("Date") => n
            .as_u64()
            .map(|secs| {
                humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs))
                    .to_string()
            })
            .unwrap_or_else(|| n.to_string()),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

fn render(out: &mut String, value: &Value, indent: usize, name: &str) {
    let pad = "  ".repeat(indent);
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match v {
                    Value::Object(_) => {
                        let _ = writeln!(out, "{pad}{key}:");
                        render(out, v, indent + 1, key);
                    }
                    Value::Array(items) if items.iter().any(|i| i.is_object()) => {
                        let _ = writeln!(out, "{pad}{key}: {}", items.len());
                        for (i, item) in items.iter().enumerate() {
                            let _ = writeln!(out, "{pad}  [{}]", i + 1);
                            render(out, item, indent + 2, key);
                        }
                    }
                    Value::Array(items) => {
                        let list: Vec<String> = items.iter().map(|i| scalar(key, i)).collect();
                        let _ = writeln!(out, "{pad}{key}: {}", list.join(", "));
                    }
                    _ => {
                        let _ = writeln!(out, "{pad}{key}: {}", scalar(key, v));
                    }
                }
            }
        }
        other => {
            let _ = writeln!(out, "{pad}{}", scalar(name, other));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_text_without_control_characters_goes_raw_to_a_terminal() {
        assert!(is_text(b"launch codes\n\tindented\r\n"));
        assert!(is_text("caf\u{e9}".as_bytes()));
        assert!(!is_text(&[0xff, 0xfe, 0x00]));
        assert!(
            !is_text(b"\x1b]0;owned\x07"),
            "an escape sequence drives the terminal"
        );
        assert!(!is_text(b"nul\0inside"));
    }

    #[test]
    fn dates_render_as_rfc3339_and_lists_as_blocks() {
        let value = serde_json::json!({
            "KeyId": "k",
            "CreationDate": 0,
            "Keys": [{"KeyId": "a"}, {"KeyId": "b"}],
            "Algorithms": ["SYMMETRIC_DEFAULT"],
        });
        let text = text(&value);
        assert!(
            text.contains("CreationDate: 1970-01-01T00:00:00Z"),
            "{text}"
        );
        assert!(text.contains("Keys: 2\n  [1]\n    KeyId: a"), "{text}");
        assert!(text.contains("Algorithms: SYMMETRIC_DEFAULT"), "{text}");
    }
}
