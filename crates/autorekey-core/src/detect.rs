//! Detect: walk one automation rule and find every credential embedded in it.
//!
//! This is the pure heart of `scan` and `rotate`: a function from rule JSON to findings, with
//! no I/O, so it is tested exhaustively without a network. It is shaped around two facts of
//! the rule document:
//!
//! - Components nest through both `children` and `conditions`, to any depth, from the
//!   `trigger` and from each entry of `components`; the walk follows both and builds the
//!   human-readable path an admin sees (`If/else > block 1 > Send web request`).
//! - A credential can sit in a web request header (schema 1 string or schema 2
//!   `keyOrValue`), a URL's userinfo or query, a request body, a "Create variable" value
//!   (also as `email:token` in clear), a lookup table, or an incoming webhook's token. Some
//!   values cannot be inspected: the server's `***` mask, a hidden value left out, a
//!   managed-secret key name, a smart value. Those are reported with a status saying so,
//!   never silently skipped.
//! - A Basic value is decoded as leniently as Atlassian's servers decode it (spare bits,
//!   any padding, either alphabet, whitespace, the line end `echo | base64` adds), and
//!   free text is also read as a relay would decode it, form- or JSON-escaped
//!   (`detect::views`): a value those servers accept and this tool missed would be a token
//!   still in use that a rotation leaves behind and a revoke then breaks.
//! - Admins also put credentials where no field is meant for them: the loose pass then
//!   looks at every string of every component, and at the rule's own fields, for raw
//!   Atlassian tokens, bare `base64(email:token)` values, `{{secrets.NAME}}` references and
//!   webhook URLs whose path is a secret.
//!
//! Every literal finding records the JSON pointer of the string that holds it and the byte
//! span of the encoded credential inside that string, so the rewriter in [`crate::plan`] can
//! replace exactly those bytes and nothing else.

use std::ops::Range;
use std::sync::OnceLock;

use base64::Engine as _;
use regex::Regex;
use serde::Serialize;
use serde_json::Value;

use crate::secret::{Credential, Fingerprint, Token};

/// The value the Automation API puts in place of a hidden field.
pub const MASK: &str = "***";

/// Where in a component the credential was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Location {
    Header,
    Url,
    Body,
    Variable,
    LookupTable,
    WebhookToken,
    /// Any other string field of a component (an action type this tool does not know).
    Field,
}

impl Location {
    /// The word every output writes (CSV, JSON and the table): the serde name.
    pub fn as_str(self) -> &'static str {
        match self {
            Location::Header => "header",
            Location::Url => "url",
            Location::Body => "body",
            Location::Variable => "variable",
            Location::LookupTable => "lookup_table",
            Location::WebhookToken => "webhook_token",
            Location::Field => "field",
        }
    }
}

/// The authentication scheme, lower-case. `token` is a bare secret with no scheme word.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scheme {
    Basic,
    Bearer,
    Token,
    /// The scheme cannot be known (masked or dynamic value).
    Unknown,
    #[serde(untagged)]
    Other(String),
}

impl Scheme {
    /// The word every output writes: the serde name, or the scheme word as the rule wrote it.
    pub fn as_str(&self) -> &str {
        match self {
            Scheme::Basic => "basic",
            Scheme::Bearer => "bearer",
            Scheme::Token => "token",
            Scheme::Unknown => "unknown",
            Scheme::Other(word) => word,
        }
    }
}

/// Whether the value could be inspected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The credential is written out in the rule: it can be fingerprinted and rewritten.
    Literal,
    /// The server answered `***` (or an export left the hidden value out).
    Masked,
    /// A schema 2 header naming a managed secret key: the rule holds no credential.
    SecretRef,
    /// A smart value (`{{...}}`) computed when the rule runs.
    Dynamic,
    /// An author's placeholder (`YOUR_TOKEN`, `<your-token>`, `${TOKEN}`, `REPLACE_ME`,
    /// `xxxx…`): where a credential goes, but no credential. Shown, never rotated, never
    /// counted as one (the `placeholder` module).
    Placeholder,
}

impl Status {
    /// The word every output writes (CSV, JSON, the table and the summary's counts): the
    /// serde name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Literal => "literal",
            Status::Masked => "masked",
            Status::SecretRef => "secret_ref",
            Status::Dynamic => "dynamic",
            Status::Placeholder => "placeholder",
        }
    }
}

/// How the credential is encoded inside its string, so a rewrite keeps the same form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// `base64(user:token)` after a `Basic` scheme word; the span covers the base64 text.
    Base64Basic,
    /// `scheme://user:token@host`; the span covers the percent-encoded token.
    UrlUserinfo,
    /// `user:token` written out in clear (typically a "Create variable" value that a smart
    /// value base64-encodes later); the span covers the token.
    PlainPair,
    /// [`Encoding::Base64Basic`] in a form-encoded body (`authorization=Basic%20…`): the
    /// span covers the encoded text, and the new value is written percent-encoded.
    Base64BasicForm,
    /// [`Encoding::PlainPair`] in a form-encoded body: the new token is written
    /// percent-encoded.
    PlainPairForm,
    /// The token itself (Bearer, query parameters, webhook tokens); the span covers it.
    Raw,
    /// Nothing to rewrite (masked, managed secret, smart value).
    None,
}

impl Encoding {
    /// The encoding of a value found through a view of its string: a form-encoded body
    /// keeps its form; JSON escapes need no keeping (see [`views::Form`]).
    fn in_form(self, form: views::Form) -> Encoding {
        match (self, form) {
            (Encoding::Base64Basic, views::Form::UrlEncoded) => Encoding::Base64BasicForm,
            (Encoding::PlainPair, views::Form::UrlEncoded) => Encoding::PlainPairForm,
            (encoding, _) => encoding,
        }
    }
}

/// One credential (or credential-shaped value that could not be inspected) in a rule.
#[derive(Clone)]
pub struct Finding {
    pub component_id: Option<String>,
    pub component_type: String,
    pub component_path: String,
    /// JSON pointer, relative to the rule object, of the string holding the credential.
    pub pointer: String,
    pub location: Location,
    pub header_name: Option<String>,
    pub scheme: Scheme,
    pub status: Status,
    /// The UI's "Hidden" box (`headerSecure`).
    pub hidden: bool,
    /// User name (usually an email) for Basic and URL credentials.
    pub user: Option<String>,
    /// The secret itself, for literal findings.
    pub token: Option<Token>,
    /// Byte range of the encoded credential inside the string at `pointer`.
    pub span: Option<Range<usize>>,
    pub encoding: Encoding,
    /// The URL of the web request the credential is sent to, when there is one.
    pub target_url: Option<String>,
}

/// By hand: `target_url` may carry `user:token@` or `?token=`, so only its host is shown.
impl std::fmt::Debug for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Finding")
            .field("component_path", &self.component_path)
            .field("pointer", &self.pointer)
            .field("location", &self.location)
            .field("scheme", &self.scheme)
            .field("status", &self.status)
            .field("user", &self.user)
            .field("token", &self.token)
            .field("span", &self.span)
            .field("encoding", &self.encoding)
            .field(
                "target_host",
                &self.target_url.as_deref().and_then(target_host),
            )
            .finish_non_exhaustive()
    }
}

impl Finding {
    /// The fingerprint every output shows: plain or keyed as [`Self::fingerprint_kind`]
    /// decides, keyed under this process's installed key.
    pub fn fingerprint(&self) -> Option<Fingerprint> {
        self.fingerprint_with(crate::secret::fingerprint_key::installed())
    }

    /// [`Self::fingerprint`] with the key given rather than installed.
    pub fn fingerprint_with(
        &self,
        key: Option<&crate::secret::FingerprintKey>,
    ) -> Option<Fingerprint> {
        let token = self.token.as_ref()?;
        Some(match self.fingerprint_kind() {
            crate::secret::FingerprintKind::Plain => token.fingerprint(),
            crate::secret::FingerprintKind::Keyed => Fingerprint::keyed(token.expose(), key),
        })
    }

    /// The Basic credential, when this finding is one that names a user.
    pub fn credential(&self) -> Option<Credential> {
        match (&self.user, &self.token, self.status) {
            (Some(user), Some(token), Status::Literal) => {
                Some(Credential::new(user.clone(), token.clone()))
            }
            _ => None,
        }
    }

    /// What every output shows instead of the value: `Basic <svc@corp.com · 3f9c0a1b2c4d>`.
    pub fn redacted_value(&self) -> String {
        let who = match (&self.user, self.fingerprint()) {
            (Some(u), Some(fp)) => format!("{u} · {fp}"),
            (None, Some(fp)) => fp.to_string(),
            _ => "?".to_string(),
        };
        format!("<{who}>")
    }

    /// Makes this finding the literal `token`, written at `span` of its string as `encoding`.
    fn literal(&mut self, token: impl Into<String>, span: Range<usize>, encoding: Encoding) {
        self.token = Some(Token::new(token));
        self.span = Some(span);
        self.encoding = encoding;
    }
}

/// The host of a web request's URL, without any userinfo; `{{baseUrl}}` stays as written.
/// The only part of a target URL that any output shows: the URL itself may carry
/// `user:token@` or `?token=`.
pub fn target_host(url: &str) -> Option<String> {
    let url = url.trim();
    if url.starts_with("{{") {
        return url.find("}}").map(|end| url[..end + 2].to_string());
    }
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
}

/// Find every credential in a rule document (the object inside `{"rule": ...}`, in the
/// REST shape or the UI export shape).
pub fn detect(rule: &Value) -> Vec<Finding> {
    let mut findings = Vec::new();
    if let Some(trigger) = rule.get("trigger") {
        walk(
            trigger,
            "/trigger",
            &[component_label(trigger)],
            &mut findings,
        );
    }
    if let Some(Value::Array(components)) = rule.get("components") {
        walk_list(components, "/components", &[], &mut findings);
    }
    // The rule's own fields (name, description, fields nobody documented) are text too.
    if let Some(fields) = rule.as_object() {
        let ctx = Ctx {
            component_id: None,
            component_type: String::new(),
            component_path: RULE_DETAILS.to_string(),
            pointer: String::new(),
        };
        loose::scan_fields(&ctx, fields, &["trigger", "components"], &mut findings);
    }
    findings.iter_mut().for_each(mark_placeholder);
    findings
}

/// An author's placeholder found as a literal is no credential: it keeps its place in the
/// inventory and loses its token, so nothing counts, fingerprints or rewrites it.
fn mark_placeholder(f: &mut Finding) {
    let is_placeholder = f.status == Status::Literal
        && f.token
            .as_ref()
            .is_some_and(|t| placeholder::is_placeholder(t.expose()));
    if is_placeholder {
        f.status = Status::Placeholder;
        f.token = None;
        f.span = None;
        f.encoding = Encoding::None;
    }
}

/// The scheme of a webhook URL whose path is its secret (Slack, Teams, Discord): a secret,
/// but not an Atlassian one, so it is never verified or rotated.
pub const WEBHOOK_SCHEME: &str = "webhook";

/// Whether a token has the shape of an Atlassian API token (`ATATT3…`, `ATSTT…`).
pub fn looks_like_atlassian_token(token: &str) -> bool {
    token.starts_with("ATATT3") || token.starts_with("ATSTT")
}

/// The path shown for a credential in the rule's own fields rather than in a component.
pub const RULE_DETAILS: &str = "Rule details";

/// Every pointer in the rule whose string value is the server's mask. A rule holding one
/// must never be written back: the mask would overwrite the stored secret.
pub fn masked_pointers(rule: &Value) -> Vec<String> {
    let mut out = Vec::new();
    collect_masked(rule, String::new(), &mut out);
    out
}

fn collect_masked(v: &Value, ptr: String, out: &mut Vec<String>) {
    match v {
        Value::String(s) if s.trim() == MASK => out.push(ptr),
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                collect_masked(x, format!("{ptr}/{i}"), out);
            }
        }
        Value::Object(m) => {
            for (k, x) in m {
                collect_masked(x, format!("{ptr}/{}", escape_pointer(k)), out);
            }
        }
        _ => {}
    }
}

pub(crate) fn escape_pointer(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// Visit one component, then its `children` and `conditions`, building the human path.
fn walk(component: &Value, pointer: &str, path: &[String], out: &mut Vec<Finding>) {
    let Some(obj) = component.as_object() else {
        return;
    };
    let ctype = obj.get("type").and_then(Value::as_str).unwrap_or("");
    let ctx = Ctx {
        component_id: obj.get("id").map(id_string),
        component_type: ctype.to_string(),
        // Labels quote rule text (variable names, types): made one line here, once, for
        // every output that names the place (revoke's blockers, tables, summaries).
        component_path: crate::printable::printable(&path.join(" > ")).into_owned(),
        pointer: format!("{pointer}/value"),
    };
    if let Some(value) = obj.get("value") {
        inspect_value(&ctx, value, out);
    }
    for key in ["children", "conditions"] {
        if let Some(Value::Array(items)) = obj.get(key) {
            walk_list(items, &format!("{pointer}/{key}"), path, out);
        }
    }
}

/// Walk sibling components, labelling them as the UI would; siblings that share a label
/// get an ordinal (`Send web request (2nd)`) so an admin can tell them apart.
fn walk_list(items: &[Value], pointer: &str, parents: &[String], out: &mut Vec<Finding>) {
    let labels = sibling_labels(items);
    for (i, (item, label)) in items.iter().zip(labels).enumerate() {
        let mut path = parents.to_vec();
        path.push(label);
        walk(item, &format!("{pointer}/{i}"), &path, out);
    }
}

fn sibling_labels(items: &[Value]) -> Vec<String> {
    let mut blocks = 0;
    let mut labels: Vec<String> = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            if item.get("type").and_then(Value::as_str) != Some("jira.condition.if.block") {
                return component_label(item);
            }
            blocks += 1;
            let has_conditions = item
                .get("conditions")
                .and_then(Value::as_array)
                .is_some_and(|c| !c.is_empty());
            // The last block without conditions is the UI's "Else" branch.
            if blocks > 1 && i + 1 == items.len() && !has_conditions {
                "else".to_string()
            } else {
                format!("block {blocks}")
            }
        })
        .collect();
    let mut counts = std::collections::HashMap::<String, usize>::new();
    for label in &labels {
        *counts.entry(label.clone()).or_default() += 1;
    }
    let mut seen = std::collections::HashMap::<String, usize>::new();
    for label in &mut labels {
        if counts[label.as_str()] > 1 {
            let n = seen.entry(label.clone()).or_default();
            *n += 1;
            *label = format!("{label} ({})", ordinal(*n));
        }
    }
    labels
}

fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

fn id_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The name the Automation UI shows for a component, with the detail that tells instances
/// apart (a variable's name, a branch's target).
fn component_label(component: &Value) -> String {
    let ctype = component.get("type").and_then(Value::as_str).unwrap_or("");
    let value = component.get("value");
    let text = |ptr: &str| value.and_then(|v| v.pointer(ptr)).and_then(Value::as_str);
    let named = |what: &str, ptr: &str| match text(ptr) {
        Some(n) if !n.is_empty() => format!("{what} {n}"),
        _ => what.to_string(),
    };
    match ctype {
        "jira.issue.outgoing.webhook" => return "Send web request".into(),
        "jira.condition.container.block" => return "If/else".into(),
        "jira.create.variable" => return named("Create variable", "/name/value"),
        "jira.create.mapping-variable" => return named("Create lookup table", "/name/value"),
        "jira.issue.related" => {
            return match text("/relatedType") {
                Some(t) => format!("Branch: {}", branch_target(t)),
                None => "Branch".into(),
            }
        }
        _ => {}
    }
    if component.get("component").and_then(Value::as_str) == Some("TRIGGER") {
        return format!("Trigger: {}", trigger_name(ctype));
    }
    if is_web_request_shape(value) {
        return "Send web request".into();
    }
    if ctype.is_empty() {
        "component".into()
    } else {
        ctype.into()
    }
}

fn branch_target(related: &str) -> String {
    match related {
        "subtasks" => "Sub-tasks".into(),
        "parent" => "Parent".into(),
        "epic" | "stories" => "Stories (or other issues in Epic)".into(),
        "linked" => "Linked issues".into(),
        "jql" => "JQL".into(),
        other => other.into(),
    }
}

fn trigger_name(ctype: &str) -> &str {
    match ctype {
        "jira.incoming.webhook" | "jira.automation.webhook.trigger" => "Incoming webhook",
        "jira.manual.trigger.issue" => "Manual trigger",
        "jira.issue.event.trigger:created" => "Issue created",
        "jira.issue.event.trigger:transitioned" => "Issue transitioned",
        "jira.issue.field.changed" => "Field value changed",
        "jira.jql.scheduled" => "Scheduled",
        other => other,
    }
}

/// Recognise "Send web request" by shape as well as by type: Confluence's type name is not
/// documented, and an unknown type with a URL and headers is sending a request all the same.
fn is_web_request_shape(value: Option<&Value>) -> bool {
    value.is_some_and(|v| v.get("url").is_some() && v.get("headers").is_some_and(Value::is_array))
}

struct Ctx {
    component_id: Option<String>,
    component_type: String,
    component_path: String,
    /// Pointer of the component's `value`.
    pointer: String,
}

impl Ctx {
    fn finding(&self, pointer: String, location: Location) -> Finding {
        Finding {
            component_id: self.component_id.clone(),
            component_type: self.component_type.clone(),
            component_path: self.component_path.clone(),
            pointer,
            location,
            header_name: None,
            scheme: Scheme::Unknown,
            status: Status::Literal,
            hidden: false,
            user: None,
            token: None,
            span: None,
            encoding: Encoding::None,
            target_url: None,
        }
    }
}

/// The component's own rules first, then the loose pass over every string of its value for
/// what hides anywhere (raw tokens, bare Basic values, secret references, webhook URLs).
fn inspect_value(ctx: &Ctx, value: &Value, out: &mut Vec<Finding>) {
    let before = out.len();
    let web =
        is_web_request_shape(Some(value)) || ctx.component_type == "jira.issue.outgoing.webhook";
    let location = match ctx.component_type.as_str() {
        "jira.create.variable" => Location::Variable,
        "jira.create.mapping-variable" => Location::LookupTable,
        _ => Location::Field,
    };
    if web {
        inspect_web_request(ctx, value, out);
    } else {
        // An incoming webhook's own token, in a component that is not a variable.
        if let (Location::Field, Some(Value::String(tok))) = (location, value.get("webhookToken")) {
            webhook_token(ctx, tok, out);
        }
        scan_strings(ctx, value, &ctx.pointer, location, out);
    }
    loose::scan(ctx, value, location, before, out);
    if web {
        let target = value.get("url").and_then(Value::as_str);
        for f in &mut out[before..] {
            f.target_url = target.map(str::to_string);
        }
    }
}

fn webhook_token(ctx: &Ctx, tok: &str, out: &mut Vec<Finding>) {
    if tok.is_empty() {
        return;
    }
    let mut f = ctx.finding(
        format!("{}/webhookToken", ctx.pointer),
        Location::WebhookToken,
    );
    f.scheme = Scheme::Token;
    if tok.trim() == MASK {
        f.status = Status::Masked;
    } else {
        f.literal(tok, 0..tok.len(), Encoding::Raw);
    }
    out.push(f);
}

fn inspect_web_request(ctx: &Ctx, value: &Value, out: &mut Vec<Finding>) {
    let target = value.get("url").and_then(Value::as_str).map(str::to_string);
    let url_hidden = value.get("urlSecure").and_then(Value::as_bool) == Some(true);
    let masked = |url: &str| url.trim() == MASK || (url_hidden && url.trim().is_empty());
    match &target {
        Some(url) if !masked(url) => inspect_url(ctx, url, out),
        // A URL the server masked, or a hidden one left out, may hold `user:token@`.
        Some(_) | None if url_hidden || target.as_deref().is_some_and(masked) => {
            let mut f = ctx.finding(format!("{}/url", ctx.pointer), Location::Url);
            f.hidden = true;
            f.status = Status::Masked;
            out.push(f);
        }
        _ => {}
    }
    if let Some(Value::Array(headers)) = value.get("headers") {
        for (i, h) in headers.iter().enumerate() {
            inspect_header(ctx, h, &format!("{}/headers/{i}", ctx.pointer), out);
        }
    }
    for key in ["customBody", "body"] {
        if let Some(Value::String(body)) = value.get(key) {
            let ptr = format!("{}/{key}", ctx.pointer);
            scan_text(ctx, body, ptr, Location::Body, out);
        }
    }
    // Any other field (one Atlassian adds later, or a hand-edited rule) is scanned as text.
    if let Some(fields) = value.as_object() {
        for (key, field) in fields {
            if !WEB_REQUEST_FIELDS.contains(&key.as_str()) {
                let ptr = format!("{}/{}", ctx.pointer, escape_pointer(key));
                scan_strings(ctx, field, &ptr, Location::Field, out);
            }
        }
    }
}

/// The web request fields inspected above with their own rules.
const WEB_REQUEST_FIELDS: [&str; 4] = ["url", "headers", "customBody", "body"];

/// Header names whose value is a secret even without a scheme word.
fn is_secret_header_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "auth", "token", "api-key", "apikey", "api_key", "secret", "password",
    ]
    .iter()
    .any(|k| n.contains(k))
}

fn inspect_header(ctx: &Ctx, header: &Value, ptr: &str, out: &mut Vec<Finding>) {
    let name = header.get("name").and_then(Value::as_str).unwrap_or("");
    let hidden = header.get("headerSecure").and_then(Value::as_bool) == Some(true);
    // Schema 1 holds the value as a string; schema 2 as {"keyOrValue", "secret"}.
    let value = header.get("value");
    let (text, text_ptr, secret_ref) = match (value, value.and_then(|v| v.get("keyOrValue"))) {
        (Some(Value::String(s)), _) => (s.as_str(), format!("{ptr}/value"), false),
        (Some(Value::Object(o)), Some(Value::String(s))) => (
            s.as_str(),
            format!("{ptr}/value/keyOrValue"),
            o.get("secret").and_then(Value::as_bool) == Some(true),
        ),
        // A value missing or null reads as empty: under a hidden header, whoever produced
        // the rule left it out (masked below), and writing the rule would drop it.
        _ => ("", format!("{ptr}/value"), false),
    };
    let mut f = ctx.finding(text_ptr, Location::Header);
    f.header_name = Some(name.to_string());
    f.hidden = hidden;
    if secret_ref {
        f.status = Status::SecretRef;
        out.push(f);
        return;
    }
    let trimmed = text.trim();
    if trimmed == MASK || (hidden && trimmed.is_empty()) {
        // `""` is how a UI export writes a hidden header: the value is not in the file.
        f.status = Status::Masked;
        out.push(f);
        return;
    }
    if !parse_auth_value(text, &mut f) {
        return;
    }
    // A value with no scheme word is a secret only under a secret-sounding header name:
    // `Content-Type: application/json` is not a credential.
    if f.scheme == Scheme::Token && !is_secret_header_name(name) {
        return;
    }
    if f.status == Status::Dynamic && f.scheme == Scheme::Unknown && !is_secret_header_name(name) {
        return;
    }
    // Another rule's incoming-webhook secret, as the newer webhook URLs take it: keyed and
    // never rotated, like the trigger's own `webhookToken`, and labelled as such.
    if name.trim().eq_ignore_ascii_case(AUTOMATION_WEBHOOK_HEADER) && f.scheme == Scheme::Token {
        f.scheme = Scheme::Other(WEBHOOK_SCHEME.into());
    }
    out.push(f);
}

/// The header that carries an Automation incoming webhook's secret (newer webhook URLs).
const AUTOMATION_WEBHOOK_HEADER: &str = "X-Automation-Webhook-Token";

/// Parse a whole header value into `f`, a literal so far: its scheme and the encoded
/// credential, `Scheme credentials` with any case and spacing. False when it is blank.
fn parse_auth_value(text: &str, f: &mut Finding) -> bool {
    let trimmed_start = text.len() - text.trim_start().len();
    let body = text.trim();
    if body.is_empty() {
        return false;
    }
    let (word, rest_offset) = match body.find(char::is_whitespace) {
        Some(i) => (&body[..i], i),
        None => ("", 0),
    };
    let rest = body[rest_offset..].trim_start();
    let rest_start = trimmed_start
        + (body.len() - body[rest_offset..].len())
        + (body[rest_offset..].len() - rest.len());
    let scheme = match word.to_ascii_lowercase().as_str() {
        "basic" => Scheme::Basic,
        "bearer" => Scheme::Bearer,
        "" => Scheme::Unknown,
        // A scheme is a short word (Token, Digest, SSWS): anything longer, or with digits,
        // may be a token itself and must not be shown as a scheme name.
        w if w.len() <= 20
            && w.chars().all(|c| c.is_ascii_alphabetic() || c == '-')
            && !rest.is_empty() =>
        {
            Scheme::Other(w.to_string())
        }
        _ => Scheme::Unknown,
    };
    let (cred, cred_start) = if scheme == Scheme::Unknown {
        (body, trimmed_start)
    } else {
        (rest, rest_start)
    };
    f.scheme = scheme;
    if cred.contains("{{") {
        f.status = Status::Dynamic;
        return true;
    }
    let span = cred_start..cred_start + cred.len();
    let basic = match f.scheme {
        Scheme::Basic => decode_basic(cred),
        // A bare `base64(email:token)` (no scheme word) is a Basic credential all the same.
        Scheme::Unknown => decode_basic(cred).filter(|(user, _)| loose::is_email(user)),
        _ => None,
    };
    match basic {
        Some((user, token)) => {
            f.scheme = Scheme::Basic;
            f.user = Some(user);
            f.literal(token, span, Encoding::Base64Basic);
        }
        // A placeholder left to fill in: shown as one, no server takes it for anyone.
        None if f.scheme == Scheme::Basic && placeholder::is_basic_placeholder(cred) => {
            f.status = Status::Placeholder;
        }
        // Not decodable: still a secret, fingerprinted as it stands (with no scheme word,
        // a bare token).
        None => {
            if f.scheme == Scheme::Unknown {
                f.scheme = Scheme::Token;
            }
            f.literal(cred, span, Encoding::Raw);
        }
    }
    true
}

/// Base64 as the servers a rule's request reaches decode it: padding or none, and a last
/// symbol whose spare bits are not zero (Java's decoder, which Atlassian's runs on, and
/// every common library accept both). Two alphabets, standard then URL-safe; one value
/// mixing them is no base64 any decoder agrees on.
const LENIENT: base64::engine::GeneralPurposeConfig = base64::engine::GeneralPurposeConfig::new()
    .with_decode_allow_trailing_bits(true)
    .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent);
const LENIENT_ENGINES: [base64::engine::GeneralPurpose; 2] = [
    base64::engine::GeneralPurpose::new(&base64::alphabet::STANDARD, LENIENT),
    base64::engine::GeneralPurpose::new(&base64::alphabet::URL_SAFE, LENIENT),
];

/// Decode `base64(user:token)` as leniently as Atlassian does, so that every value a server
/// accepts is read as the credential it spells, never taken for some other secret: missing
/// or extra padding, spare bits, whitespace anywhere (a value wrapped by `base64`), the
/// URL-safe alphabet, and one line end after the pair (`echo "email:token" | base64`):
/// the token is the text before it.
pub fn decode_basic(b64: &str) -> Option<(String, String)> {
    let compact: String = b64.chars().filter(|c| !c.is_whitespace()).collect();
    let unpadded = compact.trim_end_matches('=');
    let bytes = LENIENT_ENGINES
        .iter()
        .find_map(|engine| engine.decode(unpadded).ok())?;
    let text = String::from_utf8(bytes).ok()?;
    let pair = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(&text);
    let (user, token) = pair.split_once(':')?;
    let printable = |s: &str| !s.is_empty() && s.chars().all(|c| !c.is_control());
    (printable(user) && printable(token)).then(|| (user.to_string(), token.to_string()))
}

/// The Basic credential whose base64 starts at `first` in free text: the run itself or, if
/// `base64` wrapped it, the run and the lines after it, the longest that decodes. Lines
/// are joined only as a wrapper cuts them, so that a word after the value is never taken
/// into it: across a line end, every line but the last as long as the first, which is as
/// wide as wrappers make them (64 for OpenSSL, 76 for `base64` and MIME: 60 to 76) and
/// unpadded; every line a whole number of 4-character groups that ends the line (or the
/// value: a quote, a separator); and the lines joined are an encoder's output, with no
/// spare bits. (span, user, token).
///
/// Why so strict: a rotation writes a canonical value, which may happen to be as wide as a
/// wrapped line, and the text after the old value stays. A word on the next line that no
/// wrapper writes (`ICa=a`, `ICa=é`, `ICa=` with spare bits) must stay a word, or the
/// rewritten rule reads as holding a token neither old nor new. A line a wrapper could
/// have written (`SGk=`) is still joined: that text is a wrapped value. Real new tokens
/// (`ATATT3…`, about 190 characters) make values far wider than any wrapped line.
pub(crate) fn wrapped_basic(
    text: &str,
    first: Range<usize>,
) -> Option<(Range<usize>, String, String)> {
    static NEXT: OnceLock<Regex> = OnceLock::new();
    let next = NEXT.get_or_init(|| {
        // The line's run ends where a value ends (as in `scan_pairs`): not a prefix of a word.
        Regex::new(r#"^[ \t]*\r?\n[ \t]*([A-Za-z0-9+/_-]+={0,2})(?:[\s"',;)\]}&<]|$)"#)
            .expect("static pattern")
    });
    let (start, width) = (first.start, first.len());
    let mut ends = vec![first.end];
    let mut line = first;
    // A bound on the lines joined: a 200-character token wraps into 4 lines of 76.
    while line.len() == width
        && (60..=76).contains(&width)
        && width % 4 == 0
        && !text[line.clone()].contains('=')
        && ends.len() < 16
    {
        let Some(m) = next.captures(&text[line.end..]).and_then(|c| c.get(1)) else {
            break;
        };
        if m.len() > width || m.len() % 4 != 0 {
            break;
        }
        line = line.end + m.start()..line.end + m.end();
        ends.push(line.end);
    }
    let joined = |end: usize| end != ends[0];
    ends.iter().rev().find_map(|&end| {
        let b64 = &text[start..end];
        if joined(end) && !is_encoder_output(b64) {
            return None;
        }
        let (user, token) = decode_basic(b64)?;
        Some((start..end, user, token))
    })
}

/// Whether base64 text (whitespace and padding aside) could be an encoder's output: its
/// last symbol has no spare bits set. Lenient decoding accepts them in one value an admin
/// edited; a wrapper never writes them.
fn is_encoder_output(b64: &str) -> bool {
    const EXACT: base64::engine::GeneralPurposeConfig = base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent);
    const ENGINES: [base64::engine::GeneralPurpose; 2] = [
        base64::engine::GeneralPurpose::new(&base64::alphabet::STANDARD, EXACT),
        base64::engine::GeneralPurpose::new(&base64::alphabet::URL_SAFE, EXACT),
    ];
    let compact: String = b64.chars().filter(|c| !c.is_whitespace()).collect();
    let unpadded = compact.trim_end_matches('=');
    ENGINES.iter().any(|engine| engine.decode(unpadded).is_ok())
}

fn inspect_url(ctx: &Ctx, url: &str, out: &mut Vec<Finding>) {
    let ptr = format!("{}/url", ctx.pointer);
    if let Some((user, token, span)) = url_userinfo(url) {
        let mut f = ctx.finding(ptr.clone(), Location::Url);
        f.scheme = Scheme::Basic;
        if token.contains("{{") {
            f.status = Status::Dynamic;
        } else {
            f.user = Some(user);
            f.literal(token, span, Encoding::UrlUserinfo);
        }
        out.push(f);
    }
    for (span, value) in secret_query_params(url) {
        let mut f = ctx.finding(ptr.clone(), Location::Url);
        f.scheme = Scheme::Token;
        if value.contains("{{") {
            f.status = Status::Dynamic;
        } else {
            f.literal(value, span, Encoding::Raw);
        }
        out.push(f);
    }
}

/// `scheme://user:token@host/...`: the decoded user and token, and the token's byte span.
fn url_userinfo(url: &str) -> Option<(String, String, Range<usize>)> {
    let start = url.find("://")? + 3;
    let authority_end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| start + i);
    let at = url[start..authority_end].rfind('@')? + start;
    let colon = url[start..at].find(':')? + start;
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let user = decode(&url[start..colon]);
    let token = decode(&url[colon + 1..at]);
    (!user.is_empty() && !token.is_empty()).then_some((user, token, colon + 1..at))
}

/// Query parameters whose name says they carry a secret (`?token=`, `api_key=`, ...).
fn secret_query_params(url: &str) -> Vec<(Range<usize>, String)> {
    let Some(q) = url.find('?') else {
        return Vec::new();
    };
    let end = url[q..].find('#').map_or(url.len(), |i| q + i);
    let mut out = Vec::new();
    let mut pos = q + 1;
    for pair in url[q + 1..end].split('&') {
        if let Some((k, v)) = pair.split_once('=') {
            let key = k.to_ascii_lowercase();
            let secretish = [
                "token",
                "apikey",
                "api_key",
                "access_token",
                "password",
                "secret",
            ]
            .iter()
            .any(|s| key == *s || key.ends_with(&format!("_{s}")));
            if secretish && !v.is_empty() {
                let vstart = pos + k.len() + 1;
                let decoded = percent_encoding::percent_decode_str(v)
                    .decode_utf8_lossy()
                    .into_owned();
                out.push((vstart..vstart + v.len(), decoded));
            }
        }
        pos += pair.len() + 1;
    }
    out
}

fn scheme_pattern() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        // `=` may sit inside a token, not only at the end: current Atlassian tokens end in
        // `=` and 8 hex digits.
        Regex::new(r"(?i)\b(basic|bearer)\s+(\{\{[^}]*\}\}|[A-Za-z0-9+/._~=-]{8,})")
            .expect("static pattern")
    })
}

fn pair_pattern() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        // No `/` in the token (so `git@host:org/repo` is not a pair) and at least 20
        // characters: Atlassian tokens are 24 (legacy) or about 192, while times (`:30`),
        // ports and paths are short.
        Regex::new(r"([A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}):([A-Za-z0-9+._~=-]{20,})")
            .expect("static pattern")
    })
}

/// `email:token` written in clear, standing alone: it must start where a value starts
/// (not after `:` or `/`, as inside a URL's `user:token@host`) and end where a value ends.
/// Each finding comes with the range it was read from.
fn scan_pairs(
    ctx: &Ctx,
    text: &str,
    ptr: &str,
    location: Location,
) -> Vec<(Range<usize>, Finding)> {
    let starts_value =
        |c: Option<char>| c.is_none_or(|c| c.is_whitespace() || "\"'=([{,>".contains(c));
    let ends_value =
        |c: Option<char>| c.is_none_or(|c| c.is_whitespace() || "\"',;)]}&<".contains(c));
    let mut out = Vec::new();
    for caps in pair_pattern().captures_iter(text) {
        let (user, token) = (caps.get(1).expect("group 1"), caps.get(2).expect("group 2"));
        let before = text[..user.start()].chars().next_back();
        let after = text[token.end()..].chars().next();
        if !starts_value(before) || !ends_value(after) {
            continue;
        }
        let mut f = ctx.finding(ptr.to_string(), location);
        f.scheme = Scheme::Basic;
        f.user = Some(user.as_str().to_string());
        f.literal(token.as_str(), token.range(), Encoding::PlainPair);
        out.push((token.range(), f));
    }
    out
}

/// Find `Basic <base64>`, `Bearer <token>` and `email:token` inside free text (bodies,
/// variables, unknown fields), as it stands and as a relay reads it ([`views`]): form-
/// or JSON-escaped, each finding placed on the escaped bytes.
fn scan_text(ctx: &Ctx, text: &str, ptr: String, location: Location, out: &mut Vec<Finding>) {
    let mut found = Vec::new();
    for view in views::of(text) {
        for (at, mut f) in scan_view(ctx, view.text(), &ptr, location) {
            let at = view.raw_span(&at);
            if f.span.is_some() {
                f.span = Some(at.clone());
            }
            f.encoding = f.encoding.in_form(view.form);
            found.push((Some(at), f));
        }
    }
    out.extend(views::widest_first(found, |_, _| false));
}

/// [`scan_text`] over one view.
fn scan_view(ctx: &Ctx, text: &str, ptr: &str, location: Location) -> Vec<(Range<usize>, Finding)> {
    let mut out = scan_pairs(ctx, text, ptr, location);
    for caps in scheme_pattern().captures_iter(text) {
        let (word, cred) = (&caps[1], caps.get(2).expect("group 2"));
        let mut f = ctx.finding(ptr.to_string(), location);
        let is_basic = word.eq_ignore_ascii_case("basic");
        f.scheme = if is_basic {
            Scheme::Basic
        } else {
            Scheme::Bearer
        };
        let mut at = cred.range();
        if cred.as_str().starts_with("{{") {
            f.status = Status::Dynamic;
        } else if is_basic {
            // Free text says "basic" in prose too: only a decodable credential counts.
            let Some((span, user, token)) = wrapped_basic(text, cred.range()) else {
                continue;
            };
            at = span;
            f.user = Some(user);
            f.literal(token, at.clone(), Encoding::Base64Basic);
        } else {
            f.literal(cred.as_str(), cred.range(), Encoding::Raw);
        }
        out.push((at, f));
    }
    out
}

/// Scan every string below `value` as free text.
fn scan_strings(ctx: &Ctx, value: &Value, ptr: &str, location: Location, out: &mut Vec<Finding>) {
    match value {
        Value::String(s) => scan_text(ctx, s, ptr.to_string(), location, out),
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                scan_strings(ctx, x, &format!("{ptr}/{i}"), location, out);
            }
        }
        Value::Object(m) => {
            for (k, x) in m {
                if k == "webhookToken" {
                    continue;
                }
                scan_strings(
                    ctx,
                    x,
                    &format!("{ptr}/{}", escape_pointer(k)),
                    location,
                    out,
                );
            }
        }
        _ => {}
    }
}

mod fingerprint_kind;
mod loose;
mod placeholder;
mod redact;
mod views;
pub use fingerprint_kind::{is_atlassian_host, one_per_token, sends_to_atlassian, shown_per_token};
pub use redact::{masking_forms, redact_literals, redacted_name, secret_forms};

/// Test support for this crate's tests and the shell's (feature `test-support`).
#[cfg(any(test, feature = "test-support"))]
pub mod spellings;
#[cfg(test)]
mod tests;
