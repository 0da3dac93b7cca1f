//! Rule files on disk: the Automation UI's export (`{"cloud": ..., "rules": [...]}`) and
//! files of REST envelopes (`{"rule": ..., "connections": ...}`, one, an array, or one per
//! line), for `scan --from-file` and the offline `rotate --from-file ... --write ...`.
//!
//! Reading streams: each rule is handed to a callback as soon as it is parsed and dropped
//! after, so a 50 MB export is scanned in memory proportional to its largest rule, not the
//! whole file. Writing (the offline rotation) needs the whole document and keeps it, since
//! every field must go back out exactly as it came in.

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserializer as _;
use serde_json::Value;

/// Call `each` with every rule in the file (the rule object itself, not its envelope), in
/// order. Returns the number of rules read.
pub fn for_each_rule(path: &Path, mut each: impl FnMut(Value)) -> std::io::Result<usize> {
    let file = crate::files::open_regular(path, crate::files::Links::Follow)?;
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let first = first_significant_byte(&mut reader)?;
    let mut count = 0usize;
    let mut sink = |v: Value| {
        count += 1;
        each(v)
    };
    match first {
        Some(b'[') => {
            let mut de = serde_json::Deserializer::from_reader(reader);
            de.deserialize_seq(RuleSeq(&mut sink)).map_err(invalid)?;
        }
        Some(b'{') => {
            // One document, or several envelopes one per line (JSON Lines). An export's
            // `rules` array streams through the visitor rather than being collected.
            let mut de = serde_json::Deserializer::from_reader(reader);
            loop {
                let mut envelope_rule = None;
                (&mut de)
                    .deserialize_map(TopVisitor {
                        rules: &mut sink,
                        envelope_rule: &mut envelope_rule,
                    })
                    .map_err(invalid)?;
                if let Some(rule) = envelope_rule {
                    sink(rule);
                }
                if de.end().is_ok() {
                    break;
                }
            }
        }
        Some(_) => return Err(invalid("expected a JSON object or array")),
        None => return Err(invalid("the file is empty")),
    }
    Ok(count)
}

fn first_significant_byte(reader: &mut BufReader<File>) -> std::io::Result<Option<u8>> {
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(None);
        }
        match buf.iter().position(|b| !b.is_ascii_whitespace()) {
            Some(i) => {
                let b = buf[i];
                reader.consume(i);
                return Ok(Some(b));
            }
            None => {
                let n = buf.len();
                reader.consume(n);
            }
        }
    }
}

fn invalid(e: impl fmt::Display) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("not a rule file: {e}"),
    )
}

/// A top-level object: an envelope yields its `rule`; an export streams its `rules` array
/// through [`RuleSeq`]; other keys are skipped without being built.
struct TopVisitor<'a, F: FnMut(Value)> {
    rules: &'a mut F,
    envelope_rule: &'a mut Option<Value>,
}

impl<'de, F: FnMut(Value)> Visitor<'de> for TopVisitor<'_, F> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a rule envelope or a UI export")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "rules" => map.next_value_seed(RuleSeq(&mut *self.rules))?,
                "rule" => *self.envelope_rule = Some(map.next_value()?),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// A JSON array of rules or envelopes, handed over one element at a time.
struct RuleSeq<'a, F: FnMut(Value)>(&'a mut F);

impl<'de, F: FnMut(Value)> DeserializeSeed<'de> for RuleSeq<'_, F> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, F: FnMut(Value)> Visitor<'de> for RuleSeq<'_, F> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of rules")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(item) = seq.next_element::<Value>()? {
            (self.0)(unwrap_envelope(item));
        }
        Ok(())
    }
}

/// An array element may be a bare rule or an envelope `{"rule": ...}`.
fn unwrap_envelope(mut item: Value) -> Value {
    match item.get_mut("rule") {
        Some(rule) if rule.is_object() => rule.take(),
        _ => item,
    }
}

/// The identity of a rule in either shape: REST `uuid` or export `idUuid`.
pub fn rule_uuid(rule: &Value) -> String {
    ["uuid", "idUuid", "id"]
        .iter()
        .find_map(|k| match rule.get(*k) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        })
        .unwrap_or_default()
}

/// A whole rule file held in memory, for the offline rewrite: rules are edited in place and
/// the document written back with every other byte of structure kept.
pub struct Document {
    pub root: Value,
}

impl Document {
    pub fn read(path: &Path) -> std::io::Result<Document> {
        use crate::files::{read_text_capped, Links, DOCUMENT_FILE_CAP};
        let text = read_text_capped(path, DOCUMENT_FILE_CAP, Links::Follow)?;
        let root: Value = serde_json::from_str(&text).map_err(invalid)?;
        Ok(Document { root })
    }

    /// JSON pointers of every rule object in the document.
    pub fn rule_pointers(&self) -> Vec<String> {
        match &self.root {
            Value::Array(items) => (0..items.len())
                .map(|i| envelope_pointer(&items[i], format!("/{i}")))
                .collect(),
            Value::Object(obj) if obj.contains_key("rules") => obj["rules"]
                .as_array()
                .map(|rules| {
                    (0..rules.len())
                        .map(|i| envelope_pointer(&rules[i], format!("/rules/{i}")))
                        .collect()
                })
                .unwrap_or_default(),
            Value::Object(obj) if obj.contains_key("rule") => vec!["/rule".to_string()],
            _ => Vec::new(),
        }
    }

    /// Drop every rule whose pointer is not in `kept`, so a rewritten export holds only the
    /// rules to import. Returns how many rules are left.
    pub fn keep_only(&mut self, kept: &[String]) -> usize {
        let keep = |base: String| {
            kept.iter()
                .any(|k| *k == base || k.starts_with(&format!("{base}/")))
        };
        let list = match &mut self.root {
            Value::Array(items) => Some((items, String::new())),
            Value::Object(obj) => match obj.get_mut("rules") {
                Some(Value::Array(items)) => Some((items, "/rules".to_string())),
                _ => None,
            },
            _ => None,
        };
        match list {
            Some((items, prefix)) => {
                let mut i = 0;
                items.retain(|_| {
                    i += 1;
                    keep(format!("{prefix}/{}", i - 1))
                });
                items.len()
            }
            None => usize::from(kept.iter().any(|k| k == "/rule")),
        }
    }

    /// Compact JSON: the Automation import takes files up to 5 MB.
    pub fn to_compact(&self) -> String {
        let mut s = serde_json::to_string(&self.root).unwrap_or_default();
        s.push('\n');
        s
    }
}

fn envelope_pointer(item: &Value, base: String) -> String {
    if item.get("rule").is_some_and(Value::is_object) {
        format!("{base}/rule")
    } else {
        base
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file_with(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    fn names(text: &str) -> Vec<String> {
        let f = file_with(text);
        let mut out = Vec::new();
        for_each_rule(f.path(), |r| {
            out.push(r["name"].as_str().unwrap().to_string())
        })
        .unwrap();
        out
    }

    #[test]
    fn reads_every_supported_shape() {
        assert_eq!(
            names(r#"{"cloud":true,"rules":[{"name":"a"},{"name":"b"}]}"#),
            ["a", "b"]
        );
        assert_eq!(names(r#"  {"rule":{"name":"a"},"connections":[]}"#), ["a"]);
        assert_eq!(
            names("{\"rule\":{\"name\":\"a\"}}\n{\"rule\":{\"name\":\"b\"}}\n"),
            ["a", "b"]
        );
        assert_eq!(names(r#"[{"rule":{"name":"a"}},{"name":"b"}]"#), ["a", "b"]);
    }

    #[test]
    fn refuses_what_is_not_a_rule_file() {
        for bad in ["", "  ", "42", "{\"rules\": [1,", "not json"] {
            let f = file_with(bad);
            assert!(for_each_rule(f.path(), |_| {}).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn document_finds_rule_pointers() {
        let f = file_with(r#"{"cloud":true,"rules":[{"name":"a"},{"rule":{"name":"b"}}]}"#);
        let doc = Document::read(f.path()).unwrap();
        assert_eq!(doc.rule_pointers(), ["/rules/0", "/rules/1/rule"]);
        assert_eq!(rule_uuid(&serde_json::json!({"idUuid": "x"})), "x");
    }
}
