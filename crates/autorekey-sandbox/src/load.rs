//! Loading rules from disk: GET envelopes and Automation UI exports, in one API shape.
//!
//! An export differs from what the API serves (`idUuid`, `actor.value`,
//! `ruleScope.resources`, millisecond times); converting here lets one sandbox serve both
//! kinds of file exactly as a real site would serve the rules they came from. Unknown
//! fields are kept, because a faithful round trip of fields nobody documented is part of
//! what the sandbox tests.

use std::fs;
use std::io;
use std::path::Path;

use serde_json::{json, Map, Value};

fn bad(path: &Path, what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}: {what}", path.display()),
    )
}

/// Reads every `*.json` in `path` (not recursive), in file-name order. Each file is a GET
/// envelope `{"rule":..,"connections":..}` (an optional `"sandbox"` trap key is kept for
/// [`super::Sandbox::start`] to strip) or a UI export `{"cloud":..,"rules":[..]}`.
pub fn load_rules_dir(path: &Path) -> io::Result<Vec<Value>> {
    let mut files: Vec<_> = fs::read_dir(path)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        })
        .collect();
    files.sort();
    let mut rules = Vec::new();
    for file in files {
        rules.extend(load_file(&file)?);
    }
    Ok(rules)
}

fn load_file(path: &Path) -> io::Result<Vec<Value>> {
    use crate::files::{read_text_capped, Links, DOCUMENT_FILE_CAP};
    let text = read_text_capped(path, DOCUMENT_FILE_CAP, Links::Follow)?;
    let doc: Value = serde_json::from_str(&text).map_err(|e| {
        bad(
            path,
            &format!("invalid JSON at line {}, column {}", e.line(), e.column()),
        )
    })?;
    if doc.get("rule").is_some_and(Value::is_object) {
        let mut envelope = doc;
        if envelope.get("connections").is_none() {
            envelope["connections"] = json!([]);
        }
        return Ok(vec![envelope]);
    }
    match doc.get("rules").and_then(Value::as_array) {
        Some(rules) => rules
            .iter()
            .map(|r| match r {
                Value::Object(rule) => {
                    Ok(json!({ "rule": from_export(rule.clone()), "connections": [] }))
                }
                _ => Err(bad(path, "an exported rule is not an object")),
            })
            .collect(),
        None => Err(bad(
            path,
            "neither a rule envelope {\"rule\":..} nor a UI export {\"rules\":[..]}",
        )),
    }
}

/// Converts one exported rule to the API shape, keeping fields it does not know and the
/// order of the fields it renames.
fn from_export(rule: Map<String, Value>) -> Value {
    let converted = rule
        .into_iter()
        .map(|(key, value)| match (key.as_str(), value) {
            ("idUuid", v) => ("uuid".to_owned(), v),
            ("actor", Value::Object(actor)) => {
                let renamed = actor
                    .into_iter()
                    .map(|(k, v)| (if k == "value" { "actor".to_owned() } else { k }, v));
                ("actor".to_owned(), Value::Object(renamed.collect()))
            }
            ("ruleScope", Value::Object(mut scope)) if scope.contains_key("resources") => (
                "ruleScopeARIs".to_owned(),
                scope.shift_remove("resources").unwrap_or_default(),
            ),
            ("created" | "updated", Value::Number(ms)) => {
                let secs = ms
                    .as_f64()
                    .map_or(Value::Number(ms.clone()), |ms| json!(ms.round() / 1000.0));
                (key, secs)
            }
            (_, v) => (key, v),
        })
        .collect();
    Value::Object(converted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_rule_becomes_api_shape() {
        let rule = json!({"idUuid": "u1", "id": 7, "actor": {"type": "ACCOUNT_ID", "value": "a"},
            "ruleScope": {"resources": ["ari:x"]}, "created": 1743568964174u64, "checksum": "c"});
        let converted = from_export(rule.as_object().unwrap().clone());
        let keys: Vec<_> = converted.as_object().unwrap().keys().cloned().collect();
        assert_eq!(
            keys,
            [
                "uuid",
                "id",
                "actor",
                "ruleScopeARIs",
                "created",
                "checksum"
            ]
        );
        assert_eq!(
            converted,
            json!({"uuid": "u1", "id": 7, "actor": {"type": "ACCOUNT_ID", "actor": "a"},
                "ruleScopeARIs": ["ari:x"], "created": 1743568964.174, "checksum": "c"})
        );
    }
}
