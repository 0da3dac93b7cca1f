//! The loose pass: credentials that hide in any string, whatever field holds them.
//!
//! The structured rules in [`super`] know where a web request keeps its credential. Admins
//! put them elsewhere too: a raw `ATATT3…` token in a body or a Slack message, a bare
//! `base64(email:token)` in a "Create variable" that a header later uses as
//! `Basic {{auth}}`, a `{{secrets.NAME}}` reference under a header name that says nothing, a
//! Teams or Slack webhook URL whose path is its secret. This pass runs over every string of
//! a component's value (and of the rule's own fields) after the structured rules, and adds
//! only what does not overlap something they already found in the same string, so nothing
//! is reported twice and no structured finding changes.
//!
//! Each string is also read as a relay decodes it, form- or JSON-escaped ([`super::views`]),
//! and the pass is linear in the strings of a component and, within one string, in its
//! candidates (up to a logarithm): a rule of 80,000 strings is read as fast as 80,000
//! rules of one.
//!
//! Each pattern is narrow on purpose: a false positive in a rotation tool is a rule "left
//! alone" for nothing. Legacy 24-character tokens are plain lowercase words to a regex, so
//! they count only beside an email address.

use std::ops::Range;
use std::sync::OnceLock;

use regex::Regex;
use serde_json::Value;

use super::{
    escape_pointer, views, wrapped_basic, Ctx, Encoding, Finding, Location, Scheme, Status,
};

/// How far (bytes) a legacy token may sit from the email it belongs to.
const LEGACY_NEAR: usize = 48;

/// Scan every string below a component's `value` (at `ctx.pointer`); `from` is where this
/// component's findings start in `out`, the ones a new finding must not overlap.
pub(super) fn scan(
    ctx: &Ctx,
    value: &Value,
    location: Location,
    from: usize,
    out: &mut Vec<Finding>,
) {
    let mut path = Vec::new();
    let mut pass = Pass::new(ctx, from, out);
    pass.walk(value, (&ctx.pointer, &mut path), (location, None));
}

/// [`scan`] over the fields of an object (the rule's own), except `skip`: no structured
/// finding is there for a new one to overlap.
pub(super) fn scan_fields(
    ctx: &Ctx,
    fields: &serde_json::Map<String, Value>,
    skip: &[&str],
    out: &mut Vec<Finding>,
) {
    let mut path = Vec::new();
    let mut pass = Pass::new(ctx, out.len(), out);
    for (key, value) in fields.iter().filter(|(k, _)| !skip.contains(&k.as_str())) {
        path.push(Step::Key(key));
        pass.walk(value, ("", &mut path), (Location::Field, None));
        path.pop();
    }
}

/// One step below the scanned value: pointers are built only for strings that hold
/// something, since a 50 MB export has millions of strings and almost none do.
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// What the structured rules already found in one string: a loose finding must not
/// overlap it.
#[derive(Default)]
struct Taken {
    spans: Vec<Range<usize>>,
    /// A smart value is reported there (`Basic {{secrets.x}}`): it covers the string.
    dynamic: bool,
}

/// One loose pass over a component (or the rule's own fields).
///
/// The structured findings are indexed by pointer once, when the pass starts, so each
/// string costs one look-up however many findings the component has: a component of
/// 80,000 strings that each hold something is read in linear time. The pass's own
/// findings need no index: each string is visited once, and only its own visit adds
/// findings at its pointer.
struct Pass<'c, 'o> {
    ctx: &'c Ctx,
    taken: std::collections::HashMap<String, Taken>,
    out: &'o mut Vec<Finding>,
}

impl<'c, 'o> Pass<'c, 'o> {
    fn new(ctx: &'c Ctx, from: usize, out: &'o mut Vec<Finding>) -> Self {
        let mut taken = std::collections::HashMap::<String, Taken>::with_capacity(out.len() - from);
        for f in &out[from..] {
            let t = taken.entry(f.pointer.clone()).or_default();
            match &f.span {
                Some(span) => t.spans.push(span.clone()),
                None => t.dynamic = true,
            }
        }
        Pass { ctx, taken, out }
    }

    /// `at`: the base pointer and the steps below it. `place`: the default location, and
    /// the `name` of the nearest object holding one (a header's name, for findings in its
    /// value).
    fn walk<'a>(
        &mut self,
        value: &'a Value,
        at: (&str, &mut Vec<Step<'a>>),
        place: (Location, Option<&'a str>),
    ) {
        let (base, path) = at;
        match value {
            Value::String(text) => {
                let found = candidates_in_views(text);
                if found.is_empty() {
                    return;
                }
                let mut ptr = base.to_string();
                for step in path.iter() {
                    match step {
                        Step::Key(k) => ptr.push_str(&format!("/{}", escape_pointer(k))),
                        Step::Index(i) => ptr.push_str(&format!("/{i}")),
                    }
                }
                let before = self.out.len();
                self.add_new(found, &ptr, place.0);
                for f in &mut self.out[before..] {
                    if f.location == Location::Header {
                        f.header_name = place.1.map(str::to_string);
                    }
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    path.push(Step::Index(i));
                    self.walk(item, (base, &mut *path), place);
                    path.pop();
                }
            }
            Value::Object(fields) => {
                let name = fields.get("name").and_then(Value::as_str).or(place.1);
                for (key, item) in fields {
                    path.push(Step::Key(key));
                    self.walk(item, (base, &mut *path), (place.0, name));
                    path.pop();
                }
            }
            _ => {}
        }
    }
}

/// What the loose pass sees in one string, before it is placed.
enum Candidate {
    /// `base64(email:token)`: (span, user, token, how it is written).
    Basic(Range<usize>, String, String, Encoding),
    /// A webhook URL's secret path.
    Webhook(Range<usize>, String),
    /// A raw Atlassian token.
    Raw(Range<usize>, String),
    /// A legacy token (the token, its span, the email beside it).
    Legacy(String, Range<usize>, String),
    /// `{{secrets.NAME}}`.
    SecretRef,
}

/// What one pass over a string's bytes says may be in it, so that the patterns run only
/// where they can match: most strings of a rule (ids, types, words, URLs without secrets)
/// hold nothing, and a 50 MB export has millions of them.
#[derive(Default)]
struct Hints {
    /// Longest run of base64 characters.
    base64_run: usize,
    /// Longest run of characters a token is made of (`A-Za-z0-9_=-`).
    token_run: usize,
    at: bool,
    braces: bool,
    scheme: bool,
}

impl Hints {
    fn of(text: &str) -> Hints {
        let mut h = Hints::default();
        let (mut b64, mut tok, mut prev) = (0usize, 0usize, 0u8);
        for &b in text.as_bytes() {
            let alnum = b.is_ascii_alphanumeric();
            b64 = if alnum || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_') {
                b64 + 1
            } else {
                0
            };
            tok = if alnum || b == b'_' || b == b'=' || b == b'-' {
                tok + 1
            } else {
                0
            };
            h.base64_run = h.base64_run.max(b64);
            h.token_run = h.token_run.max(tok);
            h.at |= b == b'@';
            h.braces |= b == b'{' && prev == b'{';
            h.scheme |= b == b'/' && prev == b'/';
            prev = b;
        }
        h
    }
}

impl Candidate {
    fn span_mut(&mut self) -> Option<&mut Range<usize>> {
        match self {
            Candidate::Basic(span, ..)
            | Candidate::Webhook(span, _)
            | Candidate::Raw(span, _)
            | Candidate::Legacy(_, span, _) => Some(span),
            Candidate::SecretRef => None,
        }
    }
}

/// [`candidates`] in `text` as it stands and as a relay reads it ([`super::views`]), placed
/// on the raw bytes; of readings of the same place, the widest.
fn candidates_in_views(text: &str) -> Vec<Candidate> {
    // The shortest candidate is `{{secrets.x}}`.
    if text.len() < 13 {
        return Vec::new();
    }
    let mut all = Vec::new();
    for view in views::of(text) {
        for mut c in candidates(view.text()) {
            let span = c.span_mut().map(|span| {
                *span = view.raw_span(span);
                span.clone()
            });
            if let Candidate::Basic(.., encoding) = &mut c {
                *encoding = encoding.in_form(view.form);
            }
            all.push((span, c));
        }
    }
    views::widest_first(all, |a, b| {
        matches!((a, b), (Candidate::SecretRef, Candidate::SecretRef))
    })
}

/// Every candidate in `text`.
fn candidates(text: &str) -> Vec<Candidate> {
    let mut found = Vec::new();
    let hints = Hints::of(text);
    if hints.base64_run >= 16 {
        found.extend(
            base64_pairs(text).into_iter().map(|(span, user, token)| {
                Candidate::Basic(span, user, token, Encoding::Base64Basic)
            }),
        );
    }
    let maybe_webhook = text.contains("/rest/cb-automation/")
        || hints.scheme
            && (text.contains("hooks.slack.com")
                || text.contains("office.com/webhook")
                || text.contains("/api/webhooks/")
                || text.contains("/hooks/")
                || text.contains("/automation/webhooks/"));
    if maybe_webhook {
        found.extend(
            webhook_urls(text)
                .into_iter()
                .map(|(span, secret)| Candidate::Webhook(span, secret)),
        );
    }
    if hints.token_run >= 21 && (text.contains("ATATT3") || text.contains("ATSTT")) {
        found.extend(
            atlassian_token_pattern()
                .find_iter(text)
                .map(|m| Candidate::Raw(m.range(), m.as_str().to_string())),
        );
    }
    if hints.at && hints.token_run >= 24 {
        found.extend(
            legacy_tokens(text)
                .into_iter()
                .map(|(span, user)| Candidate::Legacy(text[span.clone()].to_string(), span, user)),
        );
    }
    if hints.braces && text.contains("secrets.") && secret_ref_pattern().is_match(text) {
        found.push(Candidate::SecretRef);
    }
    found
}

impl Pass<'_, '_> {
    /// Adds the candidates of the string at `ptr` that overlap nothing found there already.
    fn add_new(&mut self, found: Vec<Candidate>, ptr: &str, location: Location) {
        let none = Taken::default();
        let here = self.taken.get(ptr).unwrap_or(&none);
        let mut taken = views::Spans::default();
        for span in &here.spans {
            taken.add(span.clone());
        }
        #[cfg(test)]
        STEPS.with(|steps| steps.set(steps.get() + here.spans.len() + found.len()));
        let location = location_of(ptr, location);
        for candidate in found {
            let mut f = self.ctx.finding(ptr.to_string(), location);
            let (span, token, encoding, scheme) = match candidate {
                Candidate::SecretRef if here.dynamic => continue,
                Candidate::SecretRef => {
                    f.status = Status::Dynamic;
                    self.out.push(f);
                    continue;
                }
                Candidate::Basic(span, user, token, encoding) => {
                    f.user = Some(user);
                    (span, token, encoding, Scheme::Basic)
                }
                Candidate::Webhook(span, secret) => {
                    let scheme = Scheme::Other(super::WEBHOOK_SCHEME.into());
                    (span, secret, Encoding::Raw, scheme)
                }
                Candidate::Raw(span, token) => (span, token, Encoding::Raw, Scheme::Token),
                Candidate::Legacy(token, span, user) => {
                    f.user = Some(user);
                    (span, token, Encoding::Raw, Scheme::Token)
                }
            };
            if taken.overlaps(&span) {
                continue;
            }
            taken.add(span.clone());
            f.scheme = scheme;
            f.literal(token, span, encoding);
            self.out.push(f);
        }
    }
}

#[cfg(test)]
thread_local! {
    /// Ranges taken and candidates placed: the look-ups [`Pass::add_new`] makes, each one
    /// into a [`views::Spans`].
    static STEPS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Where a string sits in a web request, by its pointer; `default` elsewhere.
fn location_of(ptr: &str, default: Location) -> Location {
    if ptr.ends_with("/url") {
        Location::Url
    } else if ptr.contains("/headers/") {
        Location::Header
    } else if ptr.ends_with("/customBody") || ptr.ends_with("/body") {
        Location::Body
    } else {
        default
    }
}

/// `user@domain.tld`, as the user of a credential.
pub(super) fn is_email(user: &str) -> bool {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$").expect("static pattern")
    })
    .is_match(user)
}

fn atlassian_token_pattern() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    // Current API tokens (`ATATT3…`) and service-account / scoped ones (`ATSTT…`): about
    // 190 characters, but Atlassian says the length varies, so only a floor is set.
    RE.get_or_init(|| Regex::new(r"\b(?:ATATT3|ATSTT)[A-Za-z0-9_=-]{16,}").expect("static pattern"))
}

fn secret_ref_pattern() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"\{\{\s*secrets\.[A-Za-z0-9_.-]+\s*\}\}").expect("static pattern")
    })
}

/// Standalone base64 runs (or lines of one, as `base64` wraps it) that decode to
/// `email:token`: (span, user, token).
fn base64_pairs(text: &str) -> Vec<(Range<usize>, String, String)> {
    static RE: OnceLock<Regex> = OnceLock::new();
    // Both alphabets: a run cut at a URL-safe `-` or `_` would decode to a token that
    // does not exist.
    let re = RE.get_or_init(|| Regex::new(r"[A-Za-z0-9+/_-]{16,}={0,2}").expect("static pattern"));
    let bytes = text.as_bytes();
    let b64_char =
        |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_');
    re.find_iter(text)
        .filter(|m| {
            let before = m.start().checked_sub(1).map(|i| bytes[i]);
            let after = bytes.get(m.end()).copied();
            !before.is_some_and(b64_char) && !after.is_some_and(b64_char)
        })
        .filter_map(|m| {
            // Whole in either alphabet; else a standard-alphabet piece between `-`/`_`
            // (`token-<base64>`), as found before the URL-safe alphabet was read.
            let pieces = m.as_str().split(['-', '_']).scan(m.start(), |at, piece| {
                let range = *at..*at + piece.len();
                *at = range.end + 1;
                Some(range)
            });
            std::iter::once(m.range())
                .chain(pieces.filter(|r| r.len() >= 16 && r.len() < m.len()))
                .find_map(|range| {
                    let (span, user, token) = wrapped_basic(text, range)?;
                    let tokenish = token.len() >= 8 && !token.chars().any(char::is_whitespace);
                    (is_email(&user) && tokenish).then_some((span, user, token))
                })
        })
        .collect()
}

/// Webhook URLs whose path is their secret: (span of the secret part, the secret).
///
/// Besides chat services, Jira Automation's own incoming webhooks, which one rule calls to
/// start another: Cloud `https://automation.atlassian.com/pro/hooks/<secret>`, the newer
/// `https://api-private.atlassian.com/automation/webhooks/<product>/a/<id>/<secret>`, and
/// Data Center `{base}/rest/cb-automation/latest/hooks/<secret>` on any host (a smart
/// value such as `{{baseUrl}}` included). That secret is the trigger's `webhookToken` of
/// the other rule: a literal, keyed like it, and never rotated.
fn webhook_urls(text: &str) -> Vec<(Range<usize>, String)> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        Regex::new(concat!(
            r"(?i:https?://|\{\{[A-Za-z0-9_.]+\}\})(?:",
            r"hooks\.slack\.com/(?:services|workflows|triggers)/",
            r"|[A-Za-z0-9-]+\.webhook\.office\.com/webhookb2/",
            r"|outlook\.office(?:365)?\.com/webhook/",
            r"|(?:canary\.|ptb\.)?discord(?:app)?\.com/api/webhooks/",
            r"|automation\.atlassian\.com/pro/hooks/",
            r"|[A-Za-z0-9.-]*/automation/webhooks/[a-z]+/a/[A-Za-z0-9_-]+/",
            r"|[^\s/?#\x22']*(?:/[^\s/?#\x22']+)*?/rest/cb-automation/latest/hooks/",
            r")([A-Za-z0-9@/_.%-]{16,})"
        ))
        .expect("static pattern")
    });
    re.captures_iter(text)
        .filter_map(|c| c.get(1))
        .map(|m| (m.range(), m.as_str().to_string()))
        .collect()
}

/// Legacy tokens (24 lowercase letters and digits, both present) within [`LEGACY_NEAR`]
/// bytes of an email address, standing alone: not inside a longer word, a URL's userinfo
/// (`user:token@host`) or an address. (span, the email).
fn legacy_tokens(text: &str) -> Vec<(Range<usize>, String)> {
    static RES: OnceLock<(Regex, Regex)> = OnceLock::new();
    let (token_re, email_re) = RES.get_or_init(|| {
        (
            Regex::new(r"[a-z0-9]{24}").expect("static pattern"),
            Regex::new(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}").expect("static pattern"),
        )
    });
    if !text.contains('@') {
        return Vec::new();
    }
    let emails: Vec<(Range<usize>, &str)> = email_re
        .find_iter(text)
        .map(|m| (m.range(), m.as_str()))
        .collect();
    if emails.is_empty() {
        return Vec::new();
    }
    let bytes = text.as_bytes();
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'@' || b == b'.' || b == b'%';
    token_re
        .find_iter(text)
        .filter(|m| {
            let before = m.start().checked_sub(1).map(|i| bytes[i]);
            let after = bytes.get(m.end()).copied();
            let s = m.as_str();
            !before.is_some_and(word)
                && !after.is_some_and(word)
                && s.bytes().any(|b| b.is_ascii_digit())
                && s.bytes().any(|b| b.is_ascii_lowercase())
        })
        .filter_map(|m| {
            // Emails come in text order and do not overlap: the nearest one before the
            // token and the nearest after are found by bisection, not by a walk of all.
            let after = emails.partition_point(|(r, _)| r.end <= m.start());
            let before = after.checked_sub(1).map(|i| &emails[i]);
            let next = emails.get(after).filter(|(r, _)| m.end() <= r.start);
            let near = before
                .filter(|(r, _)| m.start() - r.end <= LEGACY_NEAR)
                .or(next.filter(|(r, _)| r.start - m.end() <= LEGACY_NEAR))?;
            Some((m.range(), near.1.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// One component of 80,000 short strings that each hold something (issue 16): a pass
    /// that compared each string's candidates with every finding of the component before
    /// it made 3.2 billion comparisons (31 s a pass in a release build). The pass's work
    /// is counted, not timed: one look-up per string, plus the structured findings of that
    /// string only.
    #[test]
    fn a_component_of_80000_strings_is_read_in_linear_steps() {
        let n = 80_000;
        let strings: Vec<String> = (0..n).map(|i| format!("{{{{secrets.k{i}}}}}")).collect();
        let mut tokens: Vec<String> = (0..n / 4)
            .map(|i| format!("ATATT3xFfGF0{i:0>20}Zz"))
            .collect();
        tokens.push(format!("Bearer ATATT3xFfGF0{}", "Q".repeat(24)));
        let rule = json!({"components": [{"id": "1", "type": "x.future.action",
            "value": {"list": strings, "tokens": tokens}}]});
        STEPS.with(|steps| steps.set(0));
        let found = super::super::detect(&rule);
        let steps = STEPS.with(std::cell::Cell::get);
        let dynamic = found.iter().filter(|f| f.status == Status::Dynamic).count();
        let raw = found.iter().filter(|f| f.scheme == Scheme::Token).count();
        assert_eq!((dynamic, raw), (n, n / 4), "every string's finding, once");
        assert_eq!(found.len(), n + n / 4 + 1, "the Bearer value is found once");
        let strings_with_something = n + n / 4 + 1;
        assert!(
            steps <= 2 * strings_with_something,
            "{steps} steps for {strings_with_something} strings"
        );
    }

    /// The same inside one string: 20,000 raw tokens, and 20,000 legacy tokens each beside
    /// its own email. Each candidate costs one look-up of the ranges taken, and each legacy
    /// token a bisection of the emails, not a walk of all of them.
    #[test]
    fn one_string_of_40000_candidates_is_read_in_linear_steps() {
        let n = 20_000;
        let text: String = (0..n)
            .map(|i| format!("ATATT3xFfGF0{i:0>20}Zz u{i}@x.io a{i:0>23} "))
            .collect();
        let rule = json!({"components": [{"id": "1", "type": "x.future.action",
            "value": {"text": text}}]});
        STEPS.with(|steps| steps.set(0));
        let found = super::super::detect(&rule);
        let steps = STEPS.with(std::cell::Cell::get);
        assert_eq!(found.len(), 2 * n);
        let legacy = found.iter().filter(|f| f.user.is_some());
        assert!(legacy
            .enumerate()
            .all(|(i, f)| f.user.as_deref() == Some(format!("u{i}@x.io").as_str())));
        assert!(steps <= 2 * 2 * n, "{steps} steps for {} candidates", 2 * n);
    }
}
