//! The independent judge of a rotation: what a rule must hold after its account's
//! credentials were rotated, computed by plain text substitution, never by the planner.
//!
//! Why it is shaped so: a test that asks `plan::decide` what the rewrite should be passes
//! any bug the planner and the binary share. The judge knows only the encodings a person
//! types into a rule (`base64(email:token)`, padded or not, standard or URL-safe, and the
//! raw token in a URL or a body) and swaps each old credential of the account for the new
//! one in every string, then ticks the Hidden box on each `Authorization` header whose value
//! changed (what autorekey promises to do, written down here as an expectation). Anything
//! else the binary changes is a difference the rotation tests report.
//!
//! The old credentials are found the simple way: every run of base64 characters in the
//! rule that decodes to `email:secret` for the account (the email compared without case,
//! kept as written). A credential of the account that is not base64 (a raw token with no
//! email beside it) is not the account's by any evidence the judge accepts, and stays.

use std::collections::BTreeSet;

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde_json::Value;

use crate::common::map_strings;

/// The four spellings of base64 a person may paste (with or without padding, standard or
/// URL-safe); decoding accepts the same four.
const ENGINES: [&base64::engine::GeneralPurpose; 4] =
    [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD];

/// `rule` with every credential of `account` moved to `new`, or `None` when it holds none
/// (or only `new` already).
pub fn judged_rewrite(rule: &Value, account: &str, new: &str) -> Option<Value> {
    let mut found = Vec::new();
    visit_strings(rule, &mut |s| found.extend(credentials_in(s, account)));
    found.retain(|(_, secret)| secret != new);
    if found.is_empty() {
        return None;
    }
    let emails: BTreeSet<String> = found.iter().filter_map(|(e, _)| e.clone()).collect();
    let olds: BTreeSet<String> = found.into_iter().map(|(_, secret)| secret).collect();
    let mut after = rule.clone();
    map_strings(&mut after, &|s| substitute(s, &emails, &olds, new));
    hide_changed_authorization_headers(rule, &mut after);
    (after != *rule).then_some(after)
}

/// Every `(email as written, secret)` of `account` in `text`: base64 runs that decode to
/// `email:secret`, and a URL's `email:secret@` (the `@` of the email typed as `%40`).
fn credentials_in(text: &str, account: &str) -> Vec<(Option<String>, String)> {
    let mut found = basic_credentials_in(text, account);
    found.extend(url_credentials_in(text, account));
    found
}

fn url_credentials_in(text: &str, account: &str) -> Vec<(Option<String>, String)> {
    text.split("://")
        .skip(1)
        .filter_map(|rest| {
            let authority = rest.split(['/', '?', '#']).next()?;
            let (userinfo, _host) = authority.rsplit_once('@')?;
            let (user, secret) = userinfo.split_once(':')?;
            let email = user.replace("%40", "@");
            (email.eq_ignore_ascii_case(account) && !secret.is_empty())
                .then(|| (None, secret.to_owned()))
        })
        .collect()
}

fn basic_credentials_in(text: &str, account: &str) -> Vec<(Option<String>, String)> {
    let is_b64 = |c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '-' | '_' | '=');
    text.split(|c: char| !is_b64(c))
        .filter(|run| run.len() >= 8)
        .filter_map(|run| {
            ENGINES.iter().find_map(|engine| {
                let bytes = engine.decode(run).ok()?;
                let pair = String::from_utf8(bytes).ok()?;
                let (email, secret) = pair.split_once(':')?;
                (email.eq_ignore_ascii_case(account) && !secret.is_empty())
                    .then(|| (Some(email.to_owned()), secret.to_owned()))
            })
        })
        .collect()
}

/// `text` with each old secret's Basic encodings (under each spelling of the email), then
/// the raw secret, replaced by the new one's.
fn substitute(text: &str, emails: &BTreeSet<String>, olds: &BTreeSet<String>, new: &str) -> String {
    let mut text = text.to_owned();
    for old in olds {
        for (email, engine) in emails.iter().flat_map(|e| ENGINES.map(|g| (e, g))) {
            let from = engine.encode(format!("{email}:{old}"));
            text = text.replace(&from, &engine.encode(format!("{email}:{new}")));
        }
        text = text.replace(old.as_str(), new);
    }
    text
}

/// `headerSecure: true` on each header named Authorization whose value the rotation changed.
fn hide_changed_authorization_headers(before: &Value, after: &mut Value) {
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            let authorization = a
                .get("name")
                .and_then(Value::as_str)
                .is_some_and(|n| n.trim().eq_ignore_ascii_case("authorization"));
            let changed =
                b.get("value").is_some_and(Value::is_string) && b.get("value") != a.get("value");
            if authorization && changed {
                a.insert("headerSecure".into(), Value::Bool(true));
            }
            for (key, value) in a.iter_mut() {
                if let Some(old) = b.get(key) {
                    hide_changed_authorization_headers(old, value);
                }
            }
        }
        (Value::Array(b), Value::Array(a)) => {
            for (old, new) in b.iter().zip(a.iter_mut()) {
                hide_changed_authorization_headers(old, new);
            }
        }
        _ => {}
    }
}

fn visit_strings(value: &Value, f: &mut impl FnMut(&str)) {
    match value {
        Value::String(s) => f(s),
        Value::Array(items) => items.iter().for_each(|v| visit_strings(v, f)),
        Value::Object(map) => map.values().for_each(|v| visit_strings(v, f)),
        _ => {}
    }
}
