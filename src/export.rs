//! Rule files on disk, for `scan --from-file` and the offline `rotate --from-file ... --write
//! ...`: one loader, so both commands read the same files the same way.
//!
//! Accepted shapes, as real files come: a bare rule object (the Cloud REST rule body, or Data
//! Center's rule JSON: it has a `trigger` or `components`); an API envelope `{"rule": ...}`;
//! the UI export `{"cloud": ..., "rules": [...]}`; a page `{"data": [...]}` or
//! `{"values": [...]}`; an array of any of these; several of them one per line (NDJSON);
//! with or without a UTF-8 byte order mark. Anything else is an error naming what was found,
//! never "0 rules": a file read silently as nothing would hide the credentials in it.
//!
//! Reading streams: each rule is handed to a callback as soon as it is parsed and dropped
//! after, so a 50 MB export is scanned in memory proportional to its largest rule, not the
//! whole file. Writing (the offline rotation) needs the whole document and keeps it, since
//! every field must go back out exactly as it came in; it classifies with the same
//! functions ([`is_envelope`], [`list_key`], [`is_rule_like`]).

use std::fmt;
use std::io::{BufRead, BufReader};
use std::path::Path;

use serde::de::{DeserializeSeed, Error as _, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer as _};
use serde_json::{Map, Value};

/// Keys under which a file lists rules: the UI export, and paged API answers.
pub const LIST_KEYS: [&str; 3] = ["rules", "data", "values"];

/// File name extensions a directory scan reads (compared case-insensitively).
pub const RULE_FILE_EXTENSIONS: [&str; 3] = ["json", "ndjson", "jsonl"];

const NOT_RULES: &str = "a JSON object that is not a rule (no `trigger` or `components`), \
    an envelope `{\"rule\": ...}`, or a list under `rules`, `data` or `values`";

/// Whether a directory scan reads this file (by its extension, in any case).
pub fn is_rule_file_name(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
        RULE_FILE_EXTENSIONS
            .iter()
            .any(|x| e.eq_ignore_ascii_case(x))
    })
}

/// `{"rule": {...}}`, the API's envelope.
pub fn is_envelope(v: &Value) -> bool {
    v.get("rule").is_some_and(Value::is_object)
}

/// The key of an object's list of rules, if it has one.
pub fn list_key(obj: &Map<String, Value>) -> Option<&'static str> {
    LIST_KEYS
        .into_iter()
        .find(|k| obj.get(*k).is_some_and(Value::is_array))
}

/// A rule object standing alone: what a top-level object must look like to count as one.
/// (Inside a list any object is taken as a rule: lists of summaries carry no components.)
pub fn is_rule_like(obj: &Map<String, Value>) -> bool {
    obj.get("trigger").is_some_and(Value::is_object)
        || obj.get("components").is_some_and(Value::is_array)
}

/// Call `each` with every rule in the file (the rule object itself, not its envelope), in
/// order. Returns the number of rules read.
pub fn for_each_rule(path: &Path, mut each: impl FnMut(Value)) -> std::io::Result<usize> {
    let file = crate::files::open_regular(path, crate::files::Links::Follow)?;
    let mut reader = BufReader::with_capacity(1 << 16, file);
    skip_bom(&mut reader)?;
    let mut count = 0usize;
    let mut sink = |v: Value| {
        count += 1;
        each(v)
    };
    let mut de = serde_json::Deserializer::from_reader(reader);
    let mut documents = 0usize;
    // One document, or several one per line (NDJSON). An export's list streams through the
    // visitor rather than being collected.
    loop {
        match (&mut de).deserialize_any(TopVisitor { sink: &mut sink }) {
            Ok(()) => documents += 1,
            Err(e) if e.is_eof() && documents == 0 => return Err(invalid("the file is empty")),
            Err(e) => return Err(invalid(e)),
        }
        if de.end().is_ok() {
            break;
        }
    }
    Ok(count)
}

/// Drops a UTF-8 byte order mark, which editors on Windows put in front of JSON files.
fn skip_bom(reader: &mut impl BufRead) -> std::io::Result<()> {
    let buf = reader.fill_buf()?;
    if buf.starts_with(b"\xEF\xBB\xBF") {
        reader.consume(3);
    }
    Ok(())
}

fn invalid(e: impl fmt::Display) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("not a rule file: {e}"),
    )
}

/// What a JSON value is, for an error message (never its content: it may be a secret).
fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// One element of a list: an envelope gives its rule, a nested export or page its rules,
/// any other object is a rule. Anything else is an error.
fn expand(item: Value, sink: &mut dyn FnMut(Value)) -> Result<(), String> {
    match item {
        Value::Object(mut obj) => {
            if obj.get("rule").is_some_and(Value::is_object) {
                sink(obj.remove("rule").unwrap_or_default());
            } else if let Some(key) = list_key(&obj) {
                if let Some(Value::Array(items)) = obj.remove(key) {
                    for item in items {
                        expand(item, sink)?;
                    }
                }
            } else {
                sink(Value::Object(obj));
            }
            Ok(())
        }
        Value::Array(items) => items.into_iter().try_for_each(|i| expand(i, sink)),
        other => Err(format!(
            "a list holds {} where a rule object was expected",
            kind_of(&other)
        )),
    }
}

/// A top-level document: an array streams element by element; an object streams its list
/// (if it has one) and keeps its other keys, to tell an envelope or a bare rule at the end.
struct TopVisitor<'a> {
    sink: &'a mut dyn FnMut(Value),
}

impl<'de> Visitor<'de> for TopVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a rule, a rule envelope, a UI export, or a list of them")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        RuleSeq(self.sink).visit_seq(seq)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut rest = Map::new();
        let mut listed = false;
        while let Some(key) = map.next_key::<String>()? {
            if LIST_KEYS.contains(&key.as_str()) && !listed {
                // A list streams; anything else under that name is kept as a field.
                if let Some(value) = map.next_value_seed(ListOrValue(&mut *self.sink))? {
                    rest.insert(key, value);
                } else {
                    listed = true;
                }
            } else {
                let value: Value = map.next_value()?;
                rest.insert(key, value);
            }
        }
        if listed {
            return Ok(());
        }
        if rest.get("rule").is_some_and(Value::is_object) {
            (self.sink)(rest.remove("rule").unwrap_or_default());
            return Ok(());
        }
        if is_rule_like(&rest) {
            (self.sink)(Value::Object(rest));
            return Ok(());
        }
        Err(A::Error::custom(format!("expected {NOT_RULES}")))
    }

    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<(), E> {
        Err(E::custom(
            "expected a JSON object or array, found a boolean",
        ))
    }
    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<(), E> {
        Err(E::custom("expected a JSON object or array, found a number"))
    }
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<(), E> {
        Err(E::custom("expected a JSON object or array, found a number"))
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<(), E> {
        Err(E::custom("expected a JSON object or array, found a number"))
    }
    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<(), E> {
        Err(E::custom("expected a JSON object or array, found a string"))
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        Err(E::custom("expected a JSON object or array, found null"))
    }
}

/// The value under a list key: an array is streamed (`None`), anything else kept (`Some`).
struct ListOrValue<'a>(&'a mut dyn FnMut(Value));

impl<'de> DeserializeSeed<'de> for ListOrValue<'_> {
    type Value = Option<Value>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Option<Value>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ListOrValue<'_> {
    type Value = Option<Value>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of rules or any JSON value")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Option<Value>, A::Error> {
        RuleSeq(self.0).visit_seq(seq).map(|()| None)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Option<Value>, A::Error> {
        Value::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(Some)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Option<Value>, E> {
        Ok(Some(Value::Bool(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Option<Value>, E> {
        Ok(Some(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Option<Value>, E> {
        Ok(Some(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Option<Value>, E> {
        Ok(Some(v.into()))
    }
    fn visit_str<E>(self, v: &str) -> Result<Option<Value>, E> {
        Ok(Some(v.into()))
    }
    fn visit_unit<E>(self) -> Result<Option<Value>, E> {
        Ok(Some(Value::Null))
    }
}

/// A JSON array of rules, envelopes or exports, handed over one element at a time.
struct RuleSeq<'a>(&'a mut dyn FnMut(Value));

impl<'de> Visitor<'de> for RuleSeq<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of rules")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(item) = seq.next_element::<Value>()? {
            expand(item, &mut *self.0).map_err(A::Error::custom)?;
        }
        Ok(())
    }
}

/// A whole rule file held in memory, for the offline rewrite: rules are edited in place and
/// the document written back with every other byte of structure kept.
pub struct Document {
    pub root: Value,
    pointers: Vec<String>,
}

impl Document {
    /// Reads one JSON document in any shape [`for_each_rule`] takes (NDJSON excepted: a
    /// rewritten file must be one document to import), refusing one that holds no rules.
    pub fn read(path: &Path) -> std::io::Result<Document> {
        use crate::files::{read_text_capped, Links, DOCUMENT_FILE_CAP};
        let text = read_text_capped(path, DOCUMENT_FILE_CAP, Links::Follow)?;
        let root: Value = serde_json::from_str(text.strip_prefix('\u{FEFF}').unwrap_or(&text)).map_err(|e| {
            if e.to_string().starts_with("trailing characters") {
                invalid("it holds several JSON documents (NDJSON): `scan` reads those, but a rewrite needs one document; wrap them in an array")
            } else {
                invalid(e)
            }
        })?;
        let pointers = rule_pointers_in(&root, String::new(), true).map_err(invalid)?;
        Ok(Document { root, pointers })
    }

    /// JSON pointers of every rule object in the document.
    pub fn rule_pointers(&self) -> Vec<String> {
        self.pointers.clone()
    }

    /// Drop every rule whose pointer is not in `kept` (and any list entry left with no rule),
    /// so a rewritten export holds only the rules to import. Returns how many rules are left.
    pub fn keep_only(&mut self, kept: &[String]) -> usize {
        retain_rules(&mut self.root, "", kept)
    }

    /// Compact JSON: the Automation import takes files up to 5 MB.
    pub fn to_compact(&self) -> String {
        let mut s = serde_json::to_string(&self.root).unwrap_or_default();
        s.push('\n');
        s
    }
}

/// Where the rules of `v` sit, classified as [`for_each_rule`] does.
fn rule_pointers_in(v: &Value, base: String, top: bool) -> Result<Vec<String>, String> {
    match v {
        Value::Array(items) => {
            let mut out = Vec::new();
            for (i, item) in items.iter().enumerate() {
                out.extend(rule_pointers_in(item, format!("{base}/{i}"), false)?);
            }
            Ok(out)
        }
        Value::Object(_) if is_envelope(v) => Ok(vec![format!("{base}/rule")]),
        Value::Object(obj) => match list_key(obj) {
            Some(key) => rule_pointers_in(&obj[key], format!("{base}/{key}"), false),
            None if !top || is_rule_like(obj) => Ok(vec![base]),
            None => Err(format!("expected {NOT_RULES}")),
        },
        other if top => Err(format!(
            "expected a JSON object or array, found {}",
            kind_of(other)
        )),
        other => Err(format!(
            "a list holds {} where a rule object was expected",
            kind_of(other)
        )),
    }
}

/// [`Document::keep_only`] below `v` (at pointer `base`); returns the rules left.
fn retain_rules(v: &mut Value, base: &str, kept: &[String]) -> usize {
    let is_kept = |p: String| usize::from(kept.contains(&p));
    if is_envelope(v) {
        return is_kept(format!("{base}/rule"));
    }
    match v {
        Value::Array(items) => {
            let (mut i, mut left) = (0, 0);
            items.retain_mut(|item| {
                let n = retain_rules(item, &format!("{base}/{i}"), kept);
                i += 1;
                left += n;
                n > 0
            });
            left
        }
        Value::Object(obj) => match list_key(obj) {
            Some(key) => retain_rules(&mut obj[key], &format!("{base}/{key}"), kept),
            None => is_kept(base.to_string()),
        },
        _ => 0,
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
        let bare = r#"{"name":"a","trigger":{"type":"t"},"components":[]}"#;
        for (text, want) in [
            (
                r#"{"cloud":true,"rules":[{"name":"a"},{"name":"b"}]}"#,
                vec!["a", "b"],
            ),
            (r#"  {"rule":{"name":"a"},"connections":[]}"#, vec!["a"]),
            (
                "{\"rule\":{\"name\":\"a\"}}\n{\"rule\":{\"name\":\"b\"}}\n",
                vec!["a", "b"],
            ),
            (r#"[{"rule":{"name":"a"}},{"name":"b"}]"#, vec!["a", "b"]),
            (bare, vec!["a"]),
            (&format!("\u{FEFF}{bare}"), vec!["a"]),
            (&format!("{bare}\n{bare}\n"), vec!["a", "a"]),
            (
                &format!("[{bare},{{\"rules\":[{{\"name\":\"b\"}}]}}]"),
                vec!["a", "b"],
            ),
            (r#"{"data":[{"name":"a"}],"links":{}}"#, vec!["a"]),
            (r#"{"values":[{"rule":{"name":"a"}}],"size":1}"#, vec!["a"]),
            (r#"{"cloud":true,"rules":[]}"#, vec![]),
        ] {
            assert_eq!(names(text), want, "{text}");
        }
    }

    #[test]
    fn refuses_what_is_not_a_rule_file() {
        for bad in [
            "",
            "  ",
            "\u{FEFF}",
            "42",
            "{\"rules\": [1,",
            "not json",
            r#"{"name":"only a name"}"#,
            r#"{"cloud":true,"rulez":[]}"#,
            r#"{"rules":[42]}"#,
            r#"[{"name":"a"}, "x"]"#,
        ] {
            let f = file_with(bad);
            let err = for_each_rule(f.path(), |_| {}).unwrap_err();
            assert!(
                err.to_string().starts_with("not a rule file"),
                "{bad:?}: {err}"
            );
        }
    }

    #[test]
    fn document_takes_the_same_shapes_and_keeps_only_chosen_rules() {
        let bare = r#"{"name":"a","trigger":{"type":"t"},"components":[]}"#;
        for (text, pointers) in [
            (bare.to_string(), vec![""]),
            (format!("\u{FEFF}{{\"rule\":{bare}}}"), vec!["/rule"]),
            (
                format!("{{\"values\":[{bare},{bare}]}}"),
                vec!["/values/0", "/values/1"],
            ),
            (
                format!("[{{\"rules\":[{bare}]}},{bare}]"),
                vec!["/0/rules/0", "/1"],
            ),
        ] {
            let f = file_with(&text);
            let doc = Document::read(f.path()).unwrap();
            assert_eq!(doc.rule_pointers(), pointers, "{text}");
        }
        let f = file_with(&format!(
            "[{{\"rules\":[{bare},{bare}]}},{bare},{{\"rules\":[{bare}]}}]"
        ));
        let mut doc = Document::read(f.path()).unwrap();
        assert_eq!(doc.keep_only(&["/0/rules/1".into()]), 1);
        assert_eq!(doc.root.as_array().unwrap().len(), 1);
        assert_eq!(doc.root[0]["rules"].as_array().unwrap().len(), 1);
        let f = file_with(r#"{"name":"no rules here"}"#);
        assert!(Document::read(f.path()).is_err());
        let f = file_with(&format!("{bare}\n{bare}\n"));
        let err = Document::read(f.path()).err().unwrap().to_string();
        assert!(err.contains("NDJSON"), "{err}");
    }

    #[test]
    fn document_finds_rule_pointers() {
        let f = file_with(r#"{"cloud":true,"rules":[{"name":"a"},{"rule":{"name":"b"}}]}"#);
        let doc = Document::read(f.path()).unwrap();
        assert_eq!(doc.rule_pointers(), ["/rules/0", "/rules/1/rule"]);
        assert_eq!(
            crate::rule::uuid_of(&serde_json::json!({"idUuid": "x"})),
            "x"
        );
    }
}
