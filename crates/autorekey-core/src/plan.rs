//! Plan: decide what a rotation changes in a rule, make that change, and show it redacted.
//!
//! Pure functions over rule JSON, like [`crate::detect`], so the rules that make a rotation
//! safe are tested without a network:
//!
//! - only the credential text changes: the rewrite edits the bytes of each selected finding
//!   in place (by JSON pointer and span), so key order, unknown fields, header schema shape
//!   and the `Hidden` flag are untouched;
//! - a rule holding a masked `***` value anywhere is never rewritten;
//! - what a person reads (the diff, the plan file) never holds a secret: every literal
//!   credential is replaced by `<user · fingerprint>` before rendering.
//!
//! The plan file records what was decided (rule ids, pointers, fingerprints and a hash of
//! each rule as read) so `apply` can carry out exactly that later, with no secret stored.
//! Its hashes (each rule's and the seal) are HMAC-SHA256 under the fingerprint key: a
//! plain hash of a rule beside its redacted copy would let anyone test guesses of a weak
//! secret it hides, and a plan applies where the key it was made with is used.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::detect::{self, Encoding, Finding, Location, Status};
pub use crate::outcome::LeftAlone;
use crate::secret::{Credential, Fingerprint, Token};

/// Which credentials a rotation replaces: Basic credentials of one account, optionally only
/// the old tokens with the given fingerprint prefixes.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Selector {
    pub account: String,
    #[serde(default)]
    pub fingerprints: Vec<String>,
    /// A migration to another account (`rotate --to-account`): the credential is rewritten
    /// with that account's email, and with `--rewrite-urls` the request URL too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migrate: Option<Migration>,
    /// The old tokens confirmed as the account's ([`ownership`]), by identity
    /// ([`Token::identity`]: compared within this run, never shown or stored). `None` only
    /// while the rules are first read, to find the candidates; a rotation rewrites a value
    /// only once this says it is the account's token, because anyone who may edit a rule can
    /// plant `base64(email:anything)` in it.
    #[serde(skip)]
    pub confirmed: Option<std::collections::BTreeSet<Fingerprint>>,
}

/// Where a migration moves the selected credentials: to another account (typically a
/// service account's scoped token) and, optionally, to the gateway address form scoped
/// tokens need.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Migration {
    pub to_account: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<crate::gateway::UrlRewrite>,
}

impl Selector {
    pub fn new(account: impl Into<String>, fingerprints: Vec<String>) -> Self {
        Selector {
            account: account.into(),
            fingerprints,
            migrate: None,
            confirmed: None,
        }
    }

    /// This selector, rewriting only the old tokens `confirmed` (identities).
    pub fn with_confirmed(&self, confirmed: std::collections::BTreeSet<Fingerprint>) -> Self {
        Selector {
            confirmed: Some(confirmed),
            ..self.clone()
        }
    }

    /// Whether the old tokens were confirmed (a selector fit to write with).
    pub fn is_confirmed(&self) -> bool {
        self.confirmed.is_some()
    }

    /// The account the new token belongs to: the migration's target, else the same one.
    pub fn new_owner(&self) -> &str {
        self.migrate
            .as_ref()
            .map_or(self.account.as_str(), |m| m.to_account.as_str())
    }

    /// The finding names this account (case-insensitively) and, if fingerprints were given,
    /// one of them. Masked or dynamic values of the account are not rewritable and so do not
    /// match; [`plan_rule`] reports them separately.
    pub fn matches(&self, f: &Finding) -> bool {
        self.is_account(f) && self.fingerprint_selected(f) && self.confirms(f)
    }

    /// The finding's token is confirmed as the account's, or confirmation is still to come.
    pub fn confirms(&self, f: &Finding) -> bool {
        self.confirmed
            .as_ref()
            .is_none_or(|set| token_identity(f).is_some_and(|id| set.contains(&id)))
    }

    /// A rewritable literal credential of this account, whatever its fingerprint.
    pub fn is_account(&self, f: &Finding) -> bool {
        is_rewritable_of(f, &self.account)
    }

    /// A rewritable literal credential of the account the credentials go to: the same
    /// account, or the `--to-account` of a migration.
    pub fn is_new_owner(&self, f: &Finding) -> bool {
        is_rewritable_of(f, self.new_owner())
    }

    /// By the fingerprint the inventory shows for that place, plain or keyed, and only that
    /// one: a saved plan can then be checked against its own selector. A token shown both
    /// ways is still never half-rotated: the other places count as the old token elsewhere.
    fn fingerprint_selected(&self, f: &Finding) -> bool {
        self.fingerprints.is_empty() || f.fingerprint().is_some_and(|fp| self.selects(&fp))
    }

    /// Whether `--fingerprint` selects `fp`: none was given, or one is a prefix of it (of
    /// its own kind, plain or keyed).
    pub fn selects(&self, fp: &Fingerprint) -> bool {
        self.fingerprints.is_empty() || self.fingerprints.iter().any(|p| fp.matches_prefix(p))
    }
}

/// A literal credential of `user` in a form a rotation rewrites.
fn is_rewritable_of(f: &Finding, user: &str) -> bool {
    let rewritable = matches!(
        f.encoding,
        Encoding::Base64Basic
            | Encoding::Base64BasicForm
            | Encoding::UrlUserinfo
            | Encoding::PlainPair
            | Encoding::PlainPairForm
    );
    let theirs = f
        .user
        .as_deref()
        .is_some_and(|u| u.eq_ignore_ascii_case(user));
    rewritable && f.status == Status::Literal && theirs
}

/// One credential to replace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedChange {
    pub pointer: String,
    pub component_path: String,
    pub component_id: Option<String>,
    pub location: Location,
    pub old_fingerprint: Fingerprint,
}

/// What a rotation would do to one rule.
#[derive(Clone, Debug)]
pub enum RuleDecision {
    /// Nothing of the account's in this rule.
    Untouched,
    LeftAlone(LeftAlone),
    Rewrite(Vec<Finding>),
}

/// How the hidden values at `pointers` show: `***` where the site masked them, `""` (or
/// nothing) where an export left them out.
fn hidden_shown(rule: &Value, pointers: &[String]) -> crate::outcome::Hidden {
    use crate::outcome::Hidden;
    let mask = |p: &String| {
        rule.pointer(p)
            .and_then(Value::as_str)
            .is_some_and(|v| v.trim() == detect::MASK)
    };
    match (pointers.iter().any(mask), pointers.iter().all(mask)) {
        (_, true) => Hidden::Mask,
        (false, _) => Hidden::Empty,
        (true, false) => Hidden::Both,
    }
}

/// Decide what to do with one rule.
pub fn plan_rule(rule: &Value, selector: &Selector, new_token: Option<&Token>) -> RuleDecision {
    let all = detect::detect(rule);
    let copies = unrewritable(&all, selector);
    // A hidden header exported as "" is masked too: re-importing it would lose the value.
    let mut masked = detect::masked_pointers(rule);
    masked.extend(
        all.iter()
            .filter(|f| f.status == Status::Masked && !masked.contains(&f.pointer))
            .map(|f| f.pointer.clone())
            .collect::<Vec<_>>(),
    );
    // The masked places of the one notion of "cannot read" (an incoming webhook's own
    // token is never an account's API token); the others are the census's.
    let may_hide: Vec<String> = all
        .iter()
        .filter(|f| f.status == Status::Masked && f.may_hide_token_of(Some(&selector.account)))
        .map(|f| f.pointer.clone())
        .collect();
    // The new token counts whatever `--fingerprint` selects, and under the account it goes
    // to: a rule already rotated (or migrated) to it is "already current", not "untouched",
    // on a rerun and in the final check.
    // Compared as tokens: one token may show a plain fingerprint in one place and a keyed
    // one in another.
    let holds_new = |f: &Finding| new_token.is_some() && f.token.as_ref() == new_token;
    let current =
        |f: &Finding| holds_new(f) && (selector.is_account(f) || selector.is_new_owner(f));
    let findings: Vec<Finding> = all
        .into_iter()
        .filter(|f| selector.matches(f) || current(f))
        .collect();
    if findings.is_empty() {
        return if may_hide.is_empty() {
            RuleDecision::Untouched
        } else {
            let shown = hidden_shown(rule, &may_hide);
            RuleDecision::LeftAlone(LeftAlone::MayHoldMasked {
                pointers: may_hide,
                shown,
            })
        };
    }
    if !masked.is_empty() {
        let shown = hidden_shown(rule, &masked);
        return RuleDecision::LeftAlone(LeftAlone::MaskedValue {
            pointers: masked,
            shown,
        });
    }
    let stale: Vec<Finding> = findings.into_iter().filter(|f| !holds_new(f)).collect();
    if stale.is_empty() {
        return RuleDecision::LeftAlone(LeftAlone::AlreadyCurrent);
    }
    let old: Vec<Fingerprint> = stale.iter().filter_map(token_identity).collect();
    let elsewhere: Vec<String> = copies
        .into_iter()
        .filter(|copy| old.contains(&copy.identity))
        .map(|copy| copy.pointer)
        .collect();
    if !elsewhere.is_empty() {
        return RuleDecision::LeftAlone(LeftAlone::OldTokenElsewhere {
            pointers: elsewhere,
        });
    }
    RuleDecision::Rewrite(stale)
}

/// A literal token the selector does not rewrite, and where it is.
#[derive(Clone, Debug)]
pub struct Unrewritable {
    /// [`token_identity`]: compared with old tokens, never shown.
    pub identity: Fingerprint,
    /// The fingerprint outputs show.
    pub shown: Fingerprint,
    pub pointer: String,
}

/// Which token a finding holds, whatever fingerprint it is shown with, for comparisons
/// within this run only ([`Token::identity`]: never shown, never stored).
pub fn token_identity(f: &Finding) -> Option<Fingerprint> {
    f.token.as_ref().map(Token::identity)
}

/// Literal tokens that the selector does not rewrite: a Bearer value, a raw token, another
/// user's credential. If one of them is an old token of the account, rewriting the rest
/// would leave a half-rotated rule; [`plan_rule`] checks that within a rule, and
/// [`Census::guard`] across rules once every old token is known.
pub fn unrewritable(findings: &[Finding], selector: &Selector) -> Vec<Unrewritable> {
    findings
        .iter()
        .filter(|f| f.status == Status::Literal && !selector.matches(f))
        .filter_map(|f| {
            Some(Unrewritable {
                identity: token_identity(f)?,
                shown: f.fingerprint()?,
                pointer: f.pointer.clone(),
            })
        })
        .collect()
}

pub fn planned_changes(findings: &[Finding]) -> Vec<PlannedChange> {
    findings
        .iter()
        .filter_map(|f| {
            Some(PlannedChange {
                pointer: f.pointer.clone(),
                component_path: f.component_path.clone(),
                component_id: f.component_id.clone(),
                location: f.location,
                old_fingerprint: f.fingerprint()?,
            })
        })
        .collect()
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RewriteError {
    #[error("the rule has no string at {0}")]
    MissingPointer(String),
    #[error("the credential at {0} is not where it was detected")]
    SpanMismatch(String),
    #[error("the finding at {0} cannot be rewritten")]
    NotRewritable(String),
    #[error(
        "the credential at {0} names its user outside the token (a URL's user part or a clear \
         user:token), which a move to another account cannot rewrite safely: change it by hand"
    )]
    NotMigratable(String),
}

/// A copy of `rule` with each finding's credential replaced by the same user's new token,
/// in the same encoding. Nothing else in the rule is touched.
pub fn rewrite(
    rule: &Value,
    findings: &[Finding],
    new_token: &Token,
) -> Result<Value, RewriteError> {
    rewrite_with(rule, findings, new_token, None)
}

/// [`rewrite`], or with a migration: each credential becomes the target account's (only a
/// Basic value, which holds the user inside the rewritten bytes, can be moved), and with
/// its URL rewrite, the request URL of each web request that sends one moves from the
/// site's REST address to the gateway form. Nothing else in the rule is touched.
pub fn rewrite_with(
    rule: &Value,
    findings: &[Finding],
    new_token: &Token,
    migration: Option<&Migration>,
) -> Result<Value, RewriteError> {
    let mut out = replace_credentials(rule, findings, new_token, migration)?;
    hide_rewritten_headers(&mut out, findings);
    if let Some(urls) = migration.and_then(|m| m.urls.as_ref()) {
        for pointer in request_url_pointers(findings) {
            if let Some(Value::String(url)) = out.pointer_mut(&pointer) {
                if let Some(moved) = urls.rewrite(url) {
                    *url = moved;
                }
            }
        }
    }
    Ok(out)
}

/// Tick the UI's "Hidden" box (`headerSecure: true`) on each schema-1 `Authorization`
/// header a rotation rewrote, as an admin typing the new token by hand would: the new token
/// is then not shown to everyone who may view the rule. A header already hidden stays so;
/// schema 2's `secret` flag means "a managed secret's name", not "hidden", and is left alone.
fn hide_rewritten_headers(rule: &mut Value, findings: &[Finding]) {
    for f in findings.iter().filter(|f| in_authorization_header(f)) {
        let Some(parent) = f.pointer.strip_suffix("/value") else {
            continue;
        };
        if let Some(Value::Object(header)) = rule.pointer_mut(parent) {
            if header.get("value").is_some_and(Value::is_string) {
                header.insert("headerSecure".into(), Value::Bool(true));
            }
        }
    }
}

/// A finding in a header named `Authorization` (any case, spaces aside): the header whose
/// Hidden box a rewrite ticks.
fn in_authorization_header(f: &Finding) -> bool {
    let name = f.header_name.as_deref().map(str::trim);
    f.location == Location::Header && name.is_some_and(|n| n.eq_ignore_ascii_case("authorization"))
}

/// The JSON pointers of the request URLs (`.../value/url`) of the web requests that send
/// these findings' credentials, each once. A component's `value` holds its settings and
/// its children sit beside it, so the first `/value/` of a pointer is the component's own.
fn request_url_pointers(findings: &[Finding]) -> std::collections::BTreeSet<String> {
    findings
        .iter()
        .filter(|f| {
            matches!(
                f.location,
                Location::Header | Location::Url | Location::Body
            )
        })
        .filter_map(|f| {
            let at = f.pointer.find("/value/")?;
            Some(format!("{}/value/url", &f.pointer[..at]))
        })
        .collect()
}

fn replace_credentials(
    rule: &Value,
    findings: &[Finding],
    new_token: &Token,
    migration: Option<&Migration>,
) -> Result<Value, RewriteError> {
    let mut out = rule.clone();
    for (pointer, mut group) in group_by_pointer(findings) {
        // Replace from the end of the string so earlier spans stay valid.
        group.sort_by_key(|f| std::cmp::Reverse(f.span.as_ref().map_or(0, |s| s.start)));
        let Some(Value::String(text)) = out.pointer_mut(&pointer) else {
            return Err(RewriteError::MissingPointer(pointer));
        };
        for f in group {
            let (Some(span), Some(user)) = (f.span.clone(), f.user.as_ref()) else {
                return Err(RewriteError::NotRewritable(pointer.clone()));
            };
            let user = match migration {
                Some(m) if !m.to_account.eq_ignore_ascii_case(user) => {
                    if !matches!(
                        f.encoding,
                        Encoding::Base64Basic | Encoding::Base64BasicForm
                    ) {
                        return Err(RewriteError::NotMigratable(pointer.clone()));
                    }
                    &m.to_account
                }
                _ => user,
            };
            if text.get(span.clone()).is_none() {
                return Err(RewriteError::SpanMismatch(pointer.clone()));
            }
            let replacement = encode(f.encoding, user, new_token)
                .ok_or_else(|| RewriteError::NotRewritable(pointer.clone()))?;
            text.replace_range(span, &replacement);
        }
    }
    Ok(out)
}

fn group_by_pointer(findings: &[Finding]) -> BTreeMap<String, Vec<&Finding>> {
    let mut groups: BTreeMap<String, Vec<&Finding>> = BTreeMap::new();
    for f in findings {
        groups.entry(f.pointer.clone()).or_default().push(f);
    }
    groups
}

/// The new value in the form the old one was found in. A Basic value is always written
/// canonical (padded standard base64 of `user:token`, no line end), whatever lenient
/// spelling it replaces; one found in a form-encoded body is then percent-encoded, since a
/// form reader takes a plain `+` for a space.
fn encode(encoding: Encoding, user: &str, token: &Token) -> Option<String> {
    let form = |text: &str| percent_encoding::utf8_percent_encode(text, FORM).to_string();
    match encoding {
        Encoding::Base64Basic => Some(Credential::new(user, token.clone()).basic_value()),
        Encoding::Base64BasicForm => {
            Some(form(&Credential::new(user, token.clone()).basic_value()))
        }
        Encoding::PlainPairForm => Some(form(token.expose())),
        Encoding::UrlUserinfo => {
            Some(percent_encoding::utf8_percent_encode(token.expose(), USERINFO).to_string())
        }
        Encoding::PlainPair => Some(token.expose().to_string()),
        Encoding::Raw | Encoding::None => None,
    }
}

/// Characters escaped in `application/x-www-form-urlencoded` text: all but alphanumerics
/// and `*-._` (the WHATWG URL standard's set, which browsers and most libraries use).
const FORM: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'*')
    .remove(b'-')
    .remove(b'.')
    .remove(b'_');

/// Characters escaped in a URL's userinfo: RFC 3986 allows unreserved characters and
/// sub-delims there as they are (current tokens contain `=`); `:`, `@`, `/`, `?`, `#`, `%`
/// and spaces would change the URL's meaning.
const USERINFO: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'!')
    .remove(b'$')
    .remove(b'&')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b'*')
    .remove(b'+')
    .remove(b',')
    .remove(b';')
    .remove(b'=');

/// A copy of `rule` in which every literal secret the detector knows is replaced by
/// `<user · fingerprint>`: the only form of a rule that may be shown or logged.
pub fn redact(rule: &Value) -> Value {
    let mut out = detect::redact_literals(rule);
    mask_secretish(&mut out);
    out
}

/// Values under secret-sounding keys inside text (a JSON body's `"client_secret": "..."`,
/// a form's `password=...`) are not credentials autorekey knows, but a diff line shows the
/// whole string: they are masked for display, the same on both sides of a diff.
fn mask_secretish(v: &mut Value) {
    static RES: std::sync::OnceLock<[regex::Regex; 2]> = std::sync::OnceLock::new();
    const KEY: &str = r"(?:password|passwd|pwd|pass|secret|token|api[_-]?key|access[_-]?key|cookie|private[_-]?key|authorization|auth|credentials?|signature)[A-Za-z_-]*";
    let res = RES.get_or_init(|| {
        // A quoted value is masked up to its closing quote (it may hold spaces); an
        // unquoted one up to the next separator. A value holding `<` is left as it is: it
        // is a `<user · fingerprint>` placeholder, which is what a diff must show.
        let quoted = format!(r#"(?i)({KEY}"?\s*[:=]\s*")([^"<]+)(")"#);
        let bare = format!(r#"(?i)({KEY}\s*[:=]\s*)([^"&\s,}}<][^"&\s,}}]*)"#);
        [
            regex::Regex::new(&quoted).expect("static pattern"),
            regex::Regex::new(&bare).expect("static pattern"),
        ]
    });
    match v {
        Value::String(s) => {
            for re in res {
                if re.is_match(s) {
                    *s = re.replace_all(s, "${1}****${3}").into_owned();
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(mask_secretish),
        Value::Object(m) => m.values_mut().for_each(mask_secretish),
        _ => {}
    }
}

/// A unified diff of the rule before and after, both redacted, for a person to approve.
/// Server-owned fields are left out: they are never written, so they are not a change.
pub fn redacted_diff(before: &Value, after: &Value, label: &str) -> String {
    let headers = (format!("{label} (as read)"), format!("{label} (rotated)"));
    redacted_diff_between(before, after, &headers)
}

/// [`redacted_diff`] with its own header lines (old, new).
pub fn redacted_diff_between(before: &Value, after: &Value, headers: &(String, String)) -> String {
    let a = pretty(&redact(&crate::rule::without_read_only(before)));
    let b = pretty(&redact(&crate::rule::without_read_only(after)));
    let diff = similar::TextDiff::from_lines(&a, &b);
    let text = diff
        .unified_diff()
        .context_radius(2)
        .header(&headers.0, &headers.1)
        .to_string();
    scrub(text, &[before, after])
}

/// `v` as pretty JSON and one line end: a side of a diff, a plan file's text.
fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s
}

/// Belt and braces: if any secret the detector knows still appears in `text` (in clear or as
/// its Basic encoding), replace it. Redaction above should already have done so.
pub fn scrub(mut text: String, rules: &[&Value]) -> String {
    for form in secret_forms(rules) {
        if text.contains(&form) {
            text = text.replace(&form, "****");
        }
    }
    text
}

pub use crate::detect::secret_forms;

/// Pointers at which `actual` differs from `expected`, ignoring the fields the server owns
/// at the top level. Empty means the write landed exactly as intended.
pub fn differences(expected: &Value, actual: &Value) -> Vec<String> {
    let mut out = Vec::new();
    diff_values(expected, actual, String::new(), &mut out);
    out.retain(|p| {
        !crate::rule::READ_ONLY_FIELDS
            .iter()
            .any(|f| p == &format!("/{f}"))
    });
    out
}

fn diff_values(a: &Value, b: &Value, ptr: String, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, va) in x {
                let p = format!("{ptr}/{}", detect::escape_pointer(k));
                match y.get(k) {
                    Some(vb) => diff_values(va, vb, p, out),
                    None => out.push(p),
                }
            }
            for k in y.keys().filter(|k| !x.contains_key(*k)) {
                out.push(format!("{ptr}/{}", detect::escape_pointer(k)));
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                diff_values(va, vb, format!("{ptr}/{i}"), out);
            }
        }
        _ if a == b => {}
        _ => out.push(ptr),
    }
}

/// The saved plan: what `rotate --out` writes and `apply` carries out. It holds no secret:
/// fingerprints identify the old and new tokens, and `rule_hash` the rule as it was read.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PlanFile {
    pub version: u32,
    pub site: String,
    pub product: String,
    pub selector: Selector,
    pub new_fingerprint: Fingerprint,
    pub created_at: u64,
    pub rules: Vec<PlannedRule>,
    /// False when the plan was made over a rule list the site's two listings disagreed on:
    /// `apply` must not then call the old token safe to revoke. Written only when false, so
    /// plans over a complete list read (and hash) as before.
    #[serde(default = "complete", skip_serializing_if = "is_complete")]
    pub list_complete: bool,
    /// The old tokens the plan replaces, each with how it was confirmed as the account's
    /// ([`ownership`]). `apply` rewrites no other, and checks a login again. A plan from
    /// before confirmations has none: `apply` then confirms every old token afresh.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub confirmed: Vec<ownership::Confirmed>,
}

fn complete() -> bool {
    true
}

fn is_complete(list_complete: &bool) -> bool {
    *list_complete
}

/// Version 2: the file carries `sha256`, the hash of its canonical content (HMAC-SHA256
/// under the fingerprint key; the field keeps its name).
pub const PLAN_VERSION: u32 = 2;

/// Why a plan file cannot be carried out as it is.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanFileError {
    #[error("not an autorekey plan ({0})")]
    NotAPlan(String),
    #[error("the plan has version {0}, this autorekey reads version {PLAN_VERSION}")]
    Version(String),
    #[error("the plan has no integrity hash (sha256)")]
    Unsealed,
    #[error("the plan was changed after it was saved, or saved under another fingerprint key: its content no longer matches its sha256")]
    Changed,
    #[error("the plan contradicts itself: {0}")]
    Inconsistent(String),
}

impl PlanFile {
    /// The file's text: the plan, with `sha256` over its canonical form (keys sorted, no
    /// whitespace), so any edit to what it says (a rule, a pointer, a fingerprint, the
    /// site) is detected by [`PlanFile::from_sealed_json`].
    pub fn to_sealed_json(&self) -> String {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        let hash = canonical_hash(&value);
        if let Some(obj) = value.as_object_mut() {
            obj.insert("sha256".into(), Value::String(hash));
        }
        pretty(&value)
    }

    /// A plan read back from its file, refused if it changed since it was saved or does
    /// not hold together (a planned credential outside the plan's own selector).
    pub fn from_sealed_json(text: &str) -> Result<PlanFile, PlanFileError> {
        let not_a_plan = |e: serde_json::Error| {
            PlanFileError::NotAPlan(format!("line {}, column {}", e.line(), e.column()))
        };
        let mut value: Value = serde_json::from_str(text).map_err(not_a_plan)?;
        let obj = value
            .as_object_mut()
            .ok_or_else(|| PlanFileError::NotAPlan("not a JSON object".into()))?;
        match obj.get("version") {
            Some(v) if v.as_u64() == Some(u64::from(PLAN_VERSION)) => {}
            Some(v) => return Err(PlanFileError::Version(v.to_string())),
            None => return Err(PlanFileError::NotAPlan("no version".into())),
        }
        let Some(Value::String(stored)) = obj.shift_remove("sha256") else {
            return Err(PlanFileError::Unsealed);
        };
        if stored != canonical_hash(&value) {
            return Err(PlanFileError::Changed);
        }
        let plan: PlanFile = serde_json::from_value(value).map_err(not_a_plan)?;
        plan.check_consistent()?;
        Ok(plan)
    }

    fn check_consistent(&self) -> Result<(), PlanFileError> {
        // These are quoted whole in apply's messages and errors: a plan from elsewhere must
        // not be able to start a line of its own there.
        let quoted = [
            ("site", self.site.as_str()),
            ("product", self.product.as_str()),
            ("account", self.selector.account.as_str()),
            ("new fingerprint", self.new_fingerprint.as_str()),
        ];
        for (what, text) in quoted {
            if crate::printable::printable(text) != text {
                return Err(PlanFileError::Inconsistent(format!(
                    "its {what} holds control characters"
                )));
            }
        }
        for rule in &self.rules {
            for change in &rule.changes {
                if !self.selector.selects(&change.old_fingerprint) {
                    return Err(PlanFileError::Inconsistent(format!(
                        "rule {} plans to replace {}, which its --fingerprint selection excludes",
                        rule.uuid, change.old_fingerprint
                    )));
                }
            }
        }
        Ok(())
    }
}

/// HMAC-SHA256 of [`canonical_bytes`] under the fingerprint key: someone who can write the
/// plan but lacks the key cannot reseal it, and a plan applies only where the key it was
/// made with is used.
fn canonical_hash(value: &Value) -> String {
    crate::secret::fingerprint_key::keyed_digest(&canonical_bytes(value))
}

/// `value` as compact JSON with every object's keys sorted.
fn canonical_bytes(value: &Value) -> Vec<u8> {
    let mut sorted = value.clone();
    sorted.sort_all_objects();
    serde_json::to_vec(&sorted).unwrap_or_default()
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PlannedRule {
    pub uuid: String,
    pub name: String,
    pub rule_hash: String,
    pub changes: Vec<PlannedChange>,
}

mod census;
pub mod ownership;
mod planner;
pub mod review;

pub use census::{AccountToken, Census, RuleCopies};
pub use planner::{decide, decide_planned, final_check, replan, Plan, Planner, Rewrite};

#[cfg(test)]
mod encoding_tests;
#[cfg(test)]
mod migrate_tests;
#[cfg(test)]
mod planner_tests;
#[cfg(test)]
mod tests;
