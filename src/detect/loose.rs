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
//! Each pattern is narrow on purpose: a false positive in a rotation tool is a rule "left
//! alone" for nothing. Legacy 24-character tokens are plain lowercase words to a regex, so
//! they count only beside an email address.

use std::ops::Range;
use std::sync::OnceLock;

use regex::Regex;
use serde_json::Value;

use super::{decode_basic, escape_pointer, Ctx, Encoding, Finding, Location, Scheme, Status};
use crate::secret::Token;

/// How far (bytes) a legacy token may sit from the email it belongs to.
const LEGACY_NEAR: usize = 48;

/// Scan every string below `value` (at `ptr`); `from` is where this component's findings
/// start in `out`, the ones a new finding must not overlap.
pub(super) fn scan(
    ctx: &Ctx,
    value: &Value,
    ptr: &str,
    location: Location,
    from: usize,
    out: &mut Vec<Finding>,
) {
    walk(ctx, value, ptr, (location, None), from, out);
}

/// `place`: the default location, and the `name` of the nearest object holding one (a
/// header's name, for findings in its value).
fn walk(
    ctx: &Ctx,
    value: &Value,
    ptr: &str,
    place: (Location, Option<&str>),
    from: usize,
    out: &mut Vec<Finding>,
) {
    match value {
        Value::String(text) => {
            let before = out.len();
            scan_string(ctx, text, ptr, place.0, from, out);
            for f in &mut out[before..] {
                if f.location == Location::Header {
                    f.header_name = place.1.map(str::to_string);
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                walk(ctx, item, &format!("{ptr}/{i}"), place, from, out);
            }
        }
        Value::Object(fields) => {
            let name = fields.get("name").and_then(Value::as_str).or(place.1);
            for (key, item) in fields {
                let child = format!("{ptr}/{}", escape_pointer(key));
                walk(ctx, item, &child, (place.0, name), from, out);
            }
        }
        _ => {}
    }
}

fn scan_string(
    ctx: &Ctx,
    text: &str,
    ptr: &str,
    location: Location,
    from: usize,
    out: &mut Vec<Finding>,
) {
    if text.len() < 8 {
        return;
    }
    let here: Vec<&Finding> = out[from..].iter().filter(|f| f.pointer == ptr).collect();
    let taken: Vec<Range<usize>> = here.iter().filter_map(|f| f.span.clone()).collect();
    // A smart value already reported for this string (`Basic {{secrets.x}}`) covers it.
    let dynamic_known = here.iter().any(|f| f.span.is_none());
    let location = location_of(ptr, location);
    let mut found: Vec<Finding> = Vec::new();
    let add = |f: Finding, found: &mut Vec<Finding>| {
        let overlaps = |r: &Range<usize>| {
            f.span
                .as_ref()
                .is_some_and(|s| s.start < r.end && r.start < s.end)
        };
        let clash = taken.iter().any(overlaps)
            || found.iter().any(|g| g.span.as_ref().is_some_and(overlaps));
        if !clash {
            found.push(f);
        }
    };
    for (span, user, token) in base64_pairs(text) {
        let mut f = literal(ctx, ptr, location, span, token, Encoding::Base64Basic);
        f.scheme = Scheme::Basic;
        f.user = Some(user);
        add(f, &mut found);
    }
    // Cheap substring checks first: most strings hold none of these, and a 50 MB export
    // has millions of strings.
    let maybe_webhook = text.contains("hooks.slack.com")
        || text.contains("office.com/webhook")
        || text.contains("/api/webhooks/");
    let webhooks = if maybe_webhook {
        webhook_urls(text)
    } else {
        Vec::new()
    };
    for (span, secret) in webhooks {
        let mut f = literal(ctx, ptr, location, span, secret, Encoding::Raw);
        f.scheme = Scheme::Other(super::WEBHOOK_SCHEME.into());
        add(f, &mut found);
    }
    let maybe_token = text.contains("ATATT3") || text.contains("ATSTT");
    for m in atlassian_token_pattern().find_iter(if maybe_token { text } else { "" }) {
        let f = literal(
            ctx,
            ptr,
            location,
            m.range(),
            m.as_str().into(),
            Encoding::Raw,
        );
        add(f, &mut found);
    }
    for (span, user) in legacy_tokens(text) {
        let token = text[span.clone()].to_string();
        let mut f = literal(ctx, ptr, location, span, token, Encoding::Raw);
        f.user = Some(user);
        add(f, &mut found);
    }
    if !dynamic_known && text.contains("secrets.") && secret_ref_pattern().is_match(text) {
        let mut f = ctx.finding(ptr.to_string(), location);
        f.status = Status::Dynamic;
        found.push(f);
    }
    out.extend(found);
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

fn literal(
    ctx: &Ctx,
    ptr: &str,
    location: Location,
    span: Range<usize>,
    token: String,
    encoding: Encoding,
) -> Finding {
    let mut f = ctx.finding(ptr.to_string(), location);
    f.scheme = Scheme::Token;
    f.token = Some(Token::new(token));
    f.span = Some(span);
    f.encoding = encoding;
    f
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

/// Standalone base64 runs that decode to `email:token`: (span, user, token).
fn base64_pairs(text: &str) -> Vec<(Range<usize>, String, String)> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| Regex::new(r"[A-Za-z0-9+/]{16,}={0,2}").expect("static pattern"));
    let bytes = text.as_bytes();
    let b64_char = |b: u8| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=';
    re.find_iter(text)
        .filter(|m| {
            let before = m.start().checked_sub(1).map(|i| bytes[i]);
            let after = bytes.get(m.end()).copied();
            !before.is_some_and(b64_char) && !after.is_some_and(b64_char)
        })
        .filter_map(|m| {
            let (user, token) = decode_basic(m.as_str())?;
            let tokenish = token.len() >= 8 && !token.chars().any(char::is_whitespace);
            (is_email(&user) && tokenish).then(|| (m.range(), user, token))
        })
        .collect()
}

/// Webhook URLs whose path is their secret: (span of the secret part, the secret).
fn webhook_urls(text: &str) -> Vec<(Range<usize>, String)> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        Regex::new(concat!(
            r"https?://(?:",
            r"hooks\.slack\.com/(?:services|workflows|triggers)/",
            r"|[A-Za-z0-9-]+\.webhook\.office\.com/webhookb2/",
            r"|outlook\.office(?:365)?\.com/webhook/",
            r"|(?:canary\.|ptb\.)?discord(?:app)?\.com/api/webhooks/",
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
            let near = emails.iter().find(|(r, _)| {
                r.end <= m.start() && m.start() - r.end <= LEGACY_NEAR
                    || m.end() <= r.start && r.start - m.end() <= LEGACY_NEAR
            })?;
            Some((m.range(), near.1.to_string()))
        })
        .collect()
}
