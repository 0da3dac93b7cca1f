//! A rule as autorekey handles it, whatever shape it arrived in.
//!
//! Rules reach autorekey as the API's envelope (`{"rule": {...}, "connections": [...]}`),
//! as entries of a UI export (`idUuid`), or as bare rule objects (a terraform golden file,
//! Data Center). Every stage used to index `envelope["rule"]` and guess the id on its own;
//! now one type reads every shape once, and the rest of the pipeline works on [`Rule`]:
//!
//! - its identity (`uuid`, the name with any pasted credential redacted and made printable,
//!   `state`) is read here, once, the same way for every command;
//! - the body keeps every byte of structure (key order, unknown fields), since a write sends
//!   it back whole;
//! - `connections` are kept only to compare a read-back and to back the rule up as read:
//!   they are never sent ([`Rule::put_body`]; the API disables a rule whose connections the
//!   caller does not own).
//!
//! A rule holds whatever secrets its author typed, so its `Debug` shows only its identity.
//! The sandbox, a stand-in for the server, keeps speaking raw JSON on purpose: sharing this
//! parser with the client would let one bug hide on both sides of the wire.

use serde_json::Value;

/// Fields the server owns: never sent in a PUT, and expected to change on a write.
pub const READ_ONLY_FIELDS: [&str; 3] = ["uuid", "created", "updated"];

#[derive(Clone, PartialEq)]
pub struct Rule {
    uuid: String,
    name: String,
    state: String,
    body: Value,
    connections: Option<Value>,
}

impl std::fmt::Debug for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rule")
            .field("uuid", &self.uuid)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// An API answer that is not an envelope around a rule object.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the answer holds no rule object")]
pub struct NotARule;

impl Rule {
    /// The API's envelope, `{"rule": {...}, "connections": [...]}`.
    pub fn from_envelope(mut envelope: Value) -> Result<Rule, NotARule> {
        let Some(obj) = envelope.as_object_mut() else {
            return Err(NotARule);
        };
        let body = obj.shift_remove("rule").filter(Value::is_object);
        let connections = obj.shift_remove("connections");
        Ok(Rule::with_connections(body.ok_or(NotARule)?, connections))
    }

    /// A rule object with no envelope: an export entry or a bare rule.
    pub fn from_body(body: Value) -> Rule {
        Rule::with_connections(body, None)
    }

    fn with_connections(body: Value, connections: Option<Value>) -> Rule {
        let text = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or("");
        Rule {
            uuid: uuid_of(&body),
            name: own_secrets_hidden(display_name(text("name")), &body),
            state: crate::printable::printable(text("state")).into_owned(),
            connections,
            body,
        }
    }

    /// The same rule (identity, connections) with another body: a rewrite of it.
    pub fn rewritten(&self, body: Value) -> Rule {
        Rule {
            body,
            ..self.clone()
        }
    }

    pub fn uuid(&self) -> &str {
        &self.uuid
    }

    /// The name, safe to show: a credential pasted into it is redacted, and control
    /// characters are escaped.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The same rule with its name cleaned by `masker` (the client's: every secret it was
    /// given or checked). The name is the server's text: it may hold a piece of the admin's
    /// or the new token, which the rule itself does not.
    pub fn with_name_cleaned(mut self, masker: &crate::secret::Masker) -> Rule {
        self.name = masker.clean(&self.name);
        self
    }

    pub fn state(&self) -> &str {
        &self.state
    }

    /// The rule object, as read.
    pub fn body(&self) -> &Value {
        &self.body
    }

    pub fn connections(&self) -> Option<&Value> {
        self.connections.as_ref()
    }

    /// The envelope as the API served it: what a backup keeps.
    pub fn envelope(&self) -> Value {
        let mut envelope = serde_json::json!({ "rule": self.body });
        if let Some(c) = &self.connections {
            envelope["connections"] = c.clone();
        }
        envelope
    }

    /// The body of `PUT rule/{uuid}`: the rule without its read-only fields and without
    /// `connections` (echoing connections owned by someone else makes the server disable
    /// the rule).
    pub fn put_body(&self) -> Value {
        serde_json::json!({ "rule": without_read_only(&self.body) })
    }

    /// HMAC-SHA256 of the body as read, under the fingerprint key: how a write, and
    /// `apply`, tell whether the rule changed since it was planned. Keyed because a plan
    /// file carries it: a plain hash of a body beside the redacted body lets anyone test
    /// guesses of a hidden secret (`summer2024`) offline.
    pub fn hash(&self) -> String {
        hash_of(&self.body)
    }
}

/// A rule body without the fields the server owns (what a write sends, what a diff shows).
pub fn without_read_only(body: &Value) -> Value {
    let mut body = body.clone();
    if let Some(obj) = body.as_object_mut() {
        for key in READ_ONLY_FIELDS {
            obj.shift_remove(key);
        }
    }
    body
}

/// [`Rule::hash`] of a rule body.
pub fn hash_of(body: &Value) -> String {
    let bytes = zeroize::Zeroizing::new(serde_json::to_vec(body).unwrap_or_default());
    crate::secret::fingerprint_key::keyed_digest(&bytes)
}

/// The identity of a rule object in either shape: REST `uuid` or export `idUuid` (or a
/// numeric `id`, as Data Center writes it).
pub fn uuid_of(body: &Value) -> String {
    ["uuid", "idUuid", "id"]
        .iter()
        .find_map(|k| match body.get(*k) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        })
        .unwrap_or_default()
}

/// `name` with any piece of a credential the rule itself holds masked (`****`), in any
/// form the [`Masker`](crate::secret::Masker) knows (percent-encoded, base64 of
/// `email:token`, cut): the detector redacts only what it recognises by shape, and a bare
/// legacy token typed into the name looks like any word. A name that still decodes to one
/// is not shown at all.
/// Only forms of 8 characters or more count ([`crate::detect::masking_forms`]).
fn own_secrets_hidden(name: String, body: &Value) -> String {
    let forms = crate::detect::masking_forms(&[body]);
    if forms.is_empty() {
        return name;
    }
    let mut masker = crate::secret::Masker::new();
    forms.iter().for_each(|form| masker.add(form));
    // `clean` cuts a name of megabytes before it decodes it every way.
    match masker.clean(&name) {
        withheld if withheld == crate::secret::WITHHELD => {
            "(name hidden: it holds a credential)".to_owned()
        }
        masked => masked,
    }
}

/// A rule name as every output shows it: a credential pasted into it redacted (a name
/// reaches tables, prompts, journals and plan files), control characters escaped.
pub fn display_name(raw: &str) -> String {
    crate::printable::printable(&crate::detect::redacted_name(raw)).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shape_gives_the_same_identity() {
        let body = serde_json::json!({"uuid": "u1", "name": "N\u{1b}[2J", "state": "ENABLED"});
        let from_api =
            Rule::from_envelope(serde_json::json!({"rule": body, "connections": [{"id": 1}]}))
                .unwrap();
        let bare = Rule::from_body(body.clone());
        assert_eq!((from_api.uuid(), from_api.state()), ("u1", "ENABLED"));
        assert_eq!(from_api.name(), bare.name());
        assert!(!from_api.name().contains('\u{1b}'));
        assert_eq!(from_api.hash(), bare.hash());
        assert_eq!(from_api.envelope()["connections"][0]["id"], 1);
        assert!(bare.envelope().get("connections").is_none());
        let export = Rule::from_body(serde_json::json!({"idUuid": "x", "name": "E"}));
        assert_eq!(export.uuid(), "x");
        assert_eq!(Rule::from_body(serde_json::json!({"id": 7})).uuid(), "7");
        assert_eq!(
            Rule::from_envelope(serde_json::json!({"rule": "text"})),
            Err(NotARule)
        );
        assert_eq!(Rule::from_envelope(serde_json::json!([])), Err(NotARule));
    }

    #[test]
    fn the_put_body_drops_read_only_fields_and_connections() {
        let rule = Rule::from_envelope(serde_json::json!({
            "rule": {"uuid": "u", "created": 1, "updated": 2, "name": "n", "x": true},
            "connections": [{"id": "c"}]}))
        .unwrap();
        assert_eq!(
            rule.put_body(),
            serde_json::json!({"rule": {"name": "n", "x": true}})
        );
    }

    #[test]
    fn the_rules_own_token_is_masked_in_its_name_whatever_its_shape() {
        let token = format!("{}", uuid::Uuid::new_v4().simple());
        let header = |v: String| serde_json::json!({"name": "Authorization", "value": v});
        let basic =
            crate::secret::Credential::new("a@b.example", crate::secret::Token::new(&token))
                .basic_value();
        let rule = |name: String| {
            Rule::from_body(
                serde_json::json!({"uuid": "u", "name": name, "components": [
                {"type": "jira.issue.outgoing.webhook", "component": "ACTION",
                 "value": {"url": "https://x.example", "headers": [header(format!("Basic {basic}"))]}}]}),
            )
        };
        for name in [
            format!("sync {token}"),
            format!("sync {}", token.to_uppercase()),
        ] {
            let shown = rule(name).name().to_owned();
            assert!(!shown.to_lowercase().contains(&token), "{shown}");
            assert!(shown.starts_with("sync "), "{shown}");
        }
        assert_eq!(rule("plain".into()).name(), "plain");
        // A short password masks nothing in an ordinary name.
        let short = Rule::from_body(
            serde_json::json!({"uuid": "u", "name": "Bypass", "components": [
            {"type": "jira.issue.outgoing.webhook", "component": "ACTION", "value": {
                "url": "https://x.example", "headers": [header(format!("Basic {}",
                    crate::secret::Credential::new("a@b.example", crate::secret::Token::new("pass"))
                        .basic_value()))]}}]}),
        );
        assert_eq!(short.name(), "Bypass");
    }

    #[test]
    fn debug_shows_no_body_and_a_pasted_token_never_shows_in_the_name() {
        let token = format!("ATATT3xFfGF0{}", "A1b2C3d4".repeat(20));
        let rule = Rule::from_body(serde_json::json!({
            "uuid": "u", "name": format!("relay {token}"), "secret": token}));
        let shown = format!("{rule:?}");
        assert!(!shown.contains(&token), "{shown}");
        assert!(!rule.name().contains(&token));
    }
}
