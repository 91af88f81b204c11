//! Human-readable rendering of AWS-shaped JSON responses: one `Field: value` line per field,
//! nested objects indented, lists of records as numbered blocks, and `…Date` fields as RFC 3339.

use std::fmt::Write;
use std::time::{Duration, UNIX_EPOCH};

use serde_json::Value;

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
