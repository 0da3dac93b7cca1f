//! The sandbox's state: stored rules with their per-rule traps, login bookkeeping, summary
//! cursors and the statistics tests assert on.
//!
//! Everything sits behind short-lived `std::sync::Mutex` locks (never held across an
//! `.await`), so handlers stay simple and tests can inspect or edit the state at any time
//! through [`SandboxState`]'s public methods.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use rand::RngCore as _;
use serde_json::{json, Value};

use super::accounts::{check_login, Account};
use super::clock::now_epoch_secs;
use super::faults::Faults;
use super::org::Directory;
use super::SandboxConfig;

/// Failed logins after which Atlassian puts an account behind a CAPTCHA.
pub(crate) const LOCKOUT_AFTER: u32 = 3;
/// Atlassian's summary cursors expire after about an hour.
const CURSOR_TTL: Duration = Duration::from_secs(3600);
/// What a masked or redacted hidden value reads as.
pub(crate) const MASK: &str = "***";

/// Per-rule server behaviours that punish careless clients (see the module doc of
/// the crate root).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleTraps {
    pub mask_hidden: bool,
    pub foreign_connections: bool,
    pub check_component_ids: bool,
    pub edit_after_reads: Option<u32>,
    /// After the Nth GET of the rule, another writer saves the copy it read at start over
    /// it (the rule as loaded): a late overwrite a final read-back must catch.
    pub revert_after_reads: Option<u32>,
    /// Not a trap: which product's automation API serves the rule (`jira`, the default,
    /// or `confluence`: a rule file's `"sandbox": {"product": "confluence"}`).
    pub product: &'static str,
}

/// Counters the tests assert on. Endpoint keys: `GET tenant_info`, `GET myself`,
/// `GET rule/summary`, `POST rule/summary`, `GET rule`, `PUT rule`, `PUT rule/state`, `other`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SandboxStats {
    /// Every request received, faulted or not.
    pub total_requests: u64,
    pub per_endpoint: BTreeMap<String, u64>,
    /// `PUT rule/{uuid}` requests received per uuid (including rejected and faulted ones).
    pub puts_per_rule: BTreeMap<String, u64>,
    /// `/rest/api/3/myself` attempts per lower-cased email.
    pub myself_attempts: BTreeMap<String, LoginAttempts>,
    /// Current-user attempts through the gateway form (`/ex/{product}/{cloudId}/...`) and
    /// Confluence's endpoint, per lower-cased email.
    pub gateway_attempts: BTreeMap<String, LoginAttempts>,
    /// API tokens deleted through the org admin API, by token id.
    pub revoked_token_ids: Vec<String>,
    /// 429 answers sent by the rate limiter.
    pub rate_limited: u64,
    /// Sum of the three fault counters below.
    pub faults_injected: u64,
    /// Injected 500/503 answers.
    pub server_errors: u64,
    /// Connections closed without an answer, before handling.
    pub dropped_connections: u64,
    /// PUTs applied whose answer was then dropped.
    pub lost_puts: u64,
}

impl SandboxStats {
    pub fn endpoint(&self, key: &str) -> u64 {
        self.per_endpoint.get(key).copied().unwrap_or(0)
    }

    pub fn puts(&self, uuid: &str) -> u64 {
        self.puts_per_rule.get(uuid).copied().unwrap_or(0)
    }

    pub fn myself(&self, email: &str) -> LoginAttempts {
        self.myself_attempts
            .get(&email.to_ascii_lowercase())
            .copied()
            .unwrap_or_default()
    }

    pub fn gateway(&self, email: &str) -> LoginAttempts {
        self.gateway_attempts
            .get(&email.to_ascii_lowercase())
            .copied()
            .unwrap_or_default()
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoginAttempts {
    pub ok: u64,
    pub failed: u64,
}

struct StoredRule {
    envelope: Value,
    traps: RuleTraps,
    reads: u32,
    /// The rule as loaded, kept only for the `revert_after_reads` trap.
    loaded: Option<Value>,
}

#[derive(Clone)]
pub(crate) struct Cursor {
    pub offset: usize,
    pub limit: usize,
    pub state: Option<String>,
    issued: Instant,
}

/// The result of authenticating one request.
pub(crate) enum Auth<'a> {
    Missing,
    /// Locked out (CAPTCHA) after too many failures: even a right token fails.
    Denied,
    Failed,
    Valid(&'a Account),
    /// A right scoped token whose scopes do not cover the call (`401 scope does not match`).
    ScopeMismatch,
}

/// Which address a login came through, which decides what a scoped token may do.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Via {
    /// The site's own current-user endpoint: classic tokens only.
    Site,
    /// The gateway form: classic tokens (UNVERIFIED: assumed accepted) and scoped tokens,
    /// which need `read:jira-user` (or its granular set) for the current user.
    Gateway,
    /// The rule-management API: classic tokens only; scoped ones get "scope does not match".
    Automation,
}

/// A credential that names a real, unrevoked token.
enum Known<'a> {
    Classic(&'a Account),
    Scoped(&'a Account, bool),
}

/// Shared state of a running sandbox.
pub struct SandboxState {
    pub(crate) cloud_id: String,
    pub(crate) base_url: String,
    pub(crate) absolute_next_links: bool,
    /// See [`super::SandboxConfig::list_drift`].
    pub(crate) list_drift: usize,
    /// See [`super::SandboxConfig::list_skip_at`].
    pub(crate) list_skip_at: Option<usize>,
    pub(crate) accounts: Vec<Account>,
    pub(crate) directory: Directory,
    /// Token ids deleted through the org admin API: shared by the sites of one org (a
    /// revoked token stops working on every site of it).
    revoked_ids: Revocations,
    /// What the org admin API's workspaces list answers: every site of the org, each
    /// product apart (see [`SandboxState::workspace_entries`]).
    workspaces: Mutex<Vec<Value>>,
    /// `lastActiveAt` set by a test since start, by token id (`None`: never used).
    last_active: Mutex<HashMap<String, Option<String>>>,
    pub(crate) faults: Faults,
    rules: Mutex<Vec<StoredRule>>,
    /// Where each rule sits in `rules`. Rules are never added or removed after start, so
    /// the index is built once; a lookup must not scan 10,000 rules under the lock.
    index: HashMap<String, usize>,
    failures: Mutex<HashMap<String, u32>>,
    cursors: Mutex<HashMap<String, Cursor>>,
    stats: Mutex<SandboxStats>,
}

/// Revoked org token ids, shared by the sites of one org.
#[derive(Clone, Default)]
pub struct Revocations(std::sync::Arc<Mutex<std::collections::HashSet<String>>>);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panicking test thread must not wedge the server for the others.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl SandboxState {
    /// The state of a site at `base_url` run by `config`, serving `rules` (checked, their
    /// traps resolved).
    pub(crate) fn new(
        config: SandboxConfig,
        base_url: String,
        rules: Vec<(Value, RuleTraps)>,
    ) -> Self {
        let rules: Vec<StoredRule> = rules
            .into_iter()
            .map(|(envelope, traps)| StoredRule {
                loaded: traps.revert_after_reads.map(|_| envelope.clone()),
                envelope,
                traps,
                reads: 0,
            })
            .collect();
        let index = rules
            .iter()
            .enumerate()
            .map(|(i, r)| (rule_uuid(&r.envelope), i))
            .collect();
        SandboxState {
            index,
            // Before the moves out of `config` below.
            faults: Faults::new(&config),
            cloud_id: config
                .cloud_id
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            base_url,
            absolute_next_links: config.absolute_next_links,
            list_drift: config.list_drift,
            list_skip_at: config.list_skip_at,
            accounts: config.accounts,
            directory: config.directory,
            revoked_ids: config.revocations.unwrap_or_default(),
            workspaces: Mutex::default(),
            last_active: Mutex::default(),
            rules: Mutex::new(rules),
            failures: Mutex::default(),
            cursors: Mutex::default(),
            stats: Mutex::default(),
        }
    }

    /// The stored envelope `{"rule":..,"connections":..}` as it is now (unmasked).
    pub fn rule(&self, uuid: &str) -> Option<Value> {
        self.with_rule(uuid, |r| r.envelope.clone())
    }

    /// Rule uuids in listing order.
    pub fn rule_uuids(&self) -> Vec<String> {
        lock(&self.rules)
            .iter()
            .map(|r| rule_uuid(&r.envelope))
            .collect()
    }

    pub fn stats(&self) -> SandboxStats {
        lock(&self.stats).clone()
    }

    /// Simulates another admin editing the rule: `f` gets the stored envelope, then
    /// `rule.updated` moves to now. Does nothing for an unknown uuid.
    pub fn edit_rule(&self, uuid: &str, f: impl FnOnce(&mut Value)) {
        self.with_rule(uuid, |r| {
            f(&mut r.envelope);
            r.envelope["rule"]["updated"] = now_epoch_secs();
        });
    }

    fn with_rule<T>(&self, uuid: &str, f: impl FnOnce(&mut StoredRule) -> T) -> Option<T> {
        let i = *self.index.get(uuid)?;
        lock(&self.rules).get_mut(i).map(f)
    }

    pub(crate) fn record(&self, f: impl FnOnce(&mut SandboxStats)) {
        f(&mut lock(&self.stats));
    }

    /// Checks a Basic credential that came `via` an address, applying Atlassian's lockout,
    /// and counts current-user attempts when `myself` is set. A scoped token right for its
    /// account but refused for its scope is not a failed login.
    pub(crate) fn authenticate_via(
        &self,
        basic: Option<(String, String)>,
        myself: bool,
        via: Via,
    ) -> Auth<'_> {
        let Some((email, token)) = basic else {
            return Auth::Missing;
        };
        let key = email.to_ascii_lowercase();
        let mut failures = lock(&self.failures);
        let count = failures.entry(key.clone()).or_insert(0);
        let outcome = if *count >= LOCKOUT_AFTER {
            Auth::Denied
        } else {
            match (self.known(&email, &token), via) {
                (Some(Known::Classic(account)), _) => Auth::Valid(account),
                (Some(Known::Scoped(account, true)), Via::Gateway) => Auth::Valid(account),
                (Some(Known::Scoped(..)), Via::Gateway | Via::Automation) => Auth::ScopeMismatch,
                (Some(Known::Scoped(..)), Via::Site) | (None, _) => Auth::Failed,
            }
        };
        match outcome {
            Auth::Valid(_) | Auth::ScopeMismatch => *count = 0,
            Auth::Failed => *count += 1,
            _ => {}
        }
        if myself {
            self.record(|s| {
                let counts = match via {
                    Via::Gateway => &mut s.gateway_attempts,
                    _ => &mut s.myself_attempts,
                };
                let entry = counts.entry(key).or_default();
                match outcome {
                    Auth::Valid(_) => entry.ok += 1,
                    _ => entry.failed += 1,
                }
            });
        }
        outcome
    }

    fn known(&self, email: &str, token: &str) -> Option<Known<'_>> {
        let revoked = self
            .directory
            .org_token_of(token)
            .is_some_and(|t| self.is_revoked(&t.id));
        if revoked {
            return None;
        }
        if let Some(account) = check_login(&self.accounts, email, token) {
            return Some(Known::Classic(account));
        }
        let scoped = self.directory.scoped(email, token)?;
        let account = self
            .accounts
            .iter()
            .find(|a| a.email.eq_ignore_ascii_case(email))?;
        Some(Known::Scoped(account, scoped.read_me))
    }

    /// The account id of an email: the account's, or the stable one the sandbox derives.
    pub(crate) fn account_id_of(&self, email: &str) -> String {
        self.accounts
            .iter()
            .find(|a| a.email.eq_ignore_ascii_case(email))
            .map_or_else(
                || super::accounts::account_id_for(email),
                |a| a.account_id.clone(),
            )
    }

    pub(crate) fn is_revoked(&self, token_id: &str) -> bool {
        lock(&self.revoked_ids.0).contains(token_id)
    }

    /// Simulates the org token `token_id` being used at `at` (`None`: never used): the org
    /// API lists it with that `lastActiveAt` from now on.
    pub fn set_last_active(&self, token_id: &str, at: Option<std::time::SystemTime>) {
        let at = at.map(super::clock::iso8601);
        lock(&self.last_active).insert(token_id.to_owned(), at);
    }

    /// The `lastActiveAt` the org API lists for `token`.
    pub(crate) fn last_active_of(&self, token: &super::org::OrgToken) -> Option<String> {
        match lock(&self.last_active).get(&token.id) {
            Some(set) => set.clone(),
            None => token.last_active_at.clone(),
        }
    }

    /// Revokes an org token as an org admin does in admin.atlassian.com (a service
    /// account's one token, say): the lists stop showing it and its secret stops working,
    /// while no API call is counted (`revoked_token_ids` and `DELETE api-token` stay as
    /// they were), so a test can tell a person's revoke from autorekey's.
    pub fn revoke_in_admin_ui(&self, token_id: &str) {
        lock(&self.revoked_ids.0).insert(token_id.to_owned());
    }

    /// Marks an org token revoked; false when it already was.
    pub(crate) fn revoke(&self, token_id: &str) -> bool {
        let fresh = lock(&self.revoked_ids.0).insert(token_id.to_owned());
        if fresh {
            self.record(|s| s.revoked_token_ids.push(token_id.to_owned()));
        }
        fresh
    }

    /// The org's revocations, to share with another site of the same org.
    pub fn revocations(&self) -> Revocations {
        self.revoked_ids.clone()
    }

    /// This site's workspaces as the org admin API lists them: its Jira, and its
    /// Confluence when any rule is Confluence's.
    pub fn workspace_entries(&self) -> Vec<Value> {
        let confluence = lock(&self.rules)
            .iter()
            .any(|r| r.traps.product == "confluence");
        let mut products = vec![("jira", "jira-software")];
        if confluence {
            products.push(("confluence", "confluence"));
        }
        products
            .into_iter()
            .map(|(product, type_key)| {
                json!({
                    "id": format!("{}-{product}", self.cloud_id),
                    "type": "workspace",
                    "attributes": {
                        "name": format!("{} {product}", self.base_url),
                        "typeKey": type_key,
                        "type": type_key,
                        "status": "online",
                        "hostUrl": self.base_url,
                    },
                })
            })
            .collect()
    }

    /// What the workspaces list answers from now on (every site of the org).
    pub fn set_workspaces(&self, entries: Vec<Value>) {
        *lock(&self.workspaces) = entries;
    }

    pub(crate) fn workspaces(&self) -> Vec<Value> {
        lock(&self.workspaces).clone()
    }

    /// The product whose API serves the rule, if there is such a rule.
    pub(crate) fn product_of(&self, uuid: &str) -> Option<&'static str> {
        self.with_rule(uuid, |r| r.traps.product)
    }

    /// Summaries of `product`'s rules matching `state`, from `offset`, at most `limit`,
    /// plus the total number of matches.
    pub(crate) fn summaries(
        &self,
        product: &str,
        state: Option<&str>,
        offset: usize,
        limit: usize,
    ) -> (Vec<Value>, usize) {
        let rules = lock(&self.rules);
        let matching: Vec<&StoredRule> = rules
            .iter()
            .filter(|r| r.traps.product == product)
            .filter(|r| state.is_none_or(|s| r.envelope["rule"]["state"] == s))
            .collect();
        let page = matching
            .iter()
            .skip(offset)
            .take(limit)
            .map(|r| summary_of(&r.envelope["rule"]))
            .collect();
        (page, matching.len())
    }

    /// Issues an opaque cursor for a page position.
    pub(crate) fn issue_cursor(
        &self,
        offset: usize,
        limit: usize,
        state: Option<String>,
    ) -> String {
        let mut raw = [0u8; 18];
        rand::thread_rng().fill_bytes(&mut raw);
        // Standard base64, and always a `+` in it: a real cursor may hold one, and a client
        // that reads it back as a form-encoded space must fail here, not only sometimes.
        let token = format!(
            "{}+",
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(raw)
        );
        let mut cursors = lock(&self.cursors);
        cursors.retain(|_, c| c.issued.elapsed() < CURSOR_TTL);
        let cursor = Cursor {
            offset,
            limit,
            state,
            issued: Instant::now(),
        };
        cursors.insert(token.clone(), cursor);
        token
    }

    /// A cursor this server issued less than an hour ago.
    pub(crate) fn cursor(&self, token: &str) -> Option<Cursor> {
        lock(&self.cursors)
            .get(token)
            .filter(|c| c.issued.elapsed() < CURSOR_TTL)
            .cloned()
    }

    /// `GET rule/{uuid}`: the envelope to serve (masked as the traps and `redact` say),
    /// counting the read and applying an `edit_after_reads` edit once the count is reached.
    pub(crate) fn read_rule(&self, uuid: &str, redact: bool) -> Option<Value> {
        self.with_rule(uuid, |r| {
            r.reads += 1;
            let mut served = r.envelope.clone();
            if redact || r.traps.mask_hidden {
                mask_hidden_values(&mut served["rule"]);
            }
            if r.traps.edit_after_reads == Some(r.reads) {
                edit_by_someone_else(&mut r.envelope["rule"]);
            }
            if r.traps.revert_after_reads == Some(r.reads) {
                if let Some(loaded) = &r.loaded {
                    r.envelope = loaded.clone();
                }
            }
            served
        })
    }

    /// `PUT rule/{uuid}` after the body passed parsing and the read-only check.
    pub(crate) fn write_rule(&self, uuid: &str, body: Value) -> Option<Result<(), PutRejection>> {
        self.with_rule(uuid, |stored| apply_put(stored, body))
    }

    /// `PUT rule/{uuid}/state`.
    pub(crate) fn set_state(&self, uuid: &str, state: &str) -> bool {
        self.with_rule(uuid, |r| {
            r.envelope["rule"]["state"] = json!(state);
            r.envelope["rule"]["updated"] = now_epoch_secs();
        })
        .is_some()
    }
}

/// Why a PUT was refused after parsing.
pub(crate) enum PutRejection {
    ComponentIds,
}

fn apply_put(stored: &mut StoredRule, mut body: Value) -> Result<(), PutRejection> {
    let mut incoming = body["rule"].take();
    if stored.traps.check_component_ids {
        let mut old = component_ids(&mut stored.envelope["rule"]);
        let mut new = component_ids(&mut incoming);
        old.sort();
        new.sort();
        if new.windows(2).any(|pair| pair[0] == pair[1]) || new != old {
            return Err(PutRejection::ComponentIds);
        }
    }
    let sent_connections = body
        .get_mut("connections")
        .map(Value::take)
        .filter(|c| !c.is_null());
    let old_rule = &stored.envelope["rule"];
    let mut rule = serde_json::Map::new();
    // Server-owned fields keep their stored values; `state` survives a PUT that omits it.
    for key in ["uuid", "created"] {
        if let Some(v) = old_rule.get(key) {
            rule.insert(key.into(), v.clone());
        }
    }
    if let Value::Object(fields) = incoming {
        rule.extend(fields);
    }
    if !rule.contains_key("state") {
        if let Some(v) = old_rule.get("state") {
            rule.insert("state".into(), v.clone());
        }
    }
    rule.insert("updated".into(), now_epoch_secs());
    if let Some(connections) = sent_connections {
        if stored.traps.foreign_connections {
            // Connections owned by someone else: Jira keeps the rule but switches it off.
            rule.insert("state".into(), json!("DISABLED"));
        } else {
            stored.envelope["connections"] = connections;
        }
    }
    stored.envelope["rule"] = Value::Object(rule);
    Ok(())
}

pub(crate) fn rule_uuid(envelope: &Value) -> String {
    envelope["rule"]["uuid"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn summary_of(rule: &Value) -> Value {
    json!({
        "uuid": rule["uuid"],
        "name": rule["name"],
        "state": rule["state"],
        "description": rule["description"],
        "authorAccountId": rule["authorAccountId"],
        "actorAccountId": rule["actor"]["actor"],
        "labels": rule["labels"],
        "ruleScopeARIs": rule["ruleScopeARIs"],
        "created": rule["created"],
        "updated": rule["updated"],
    })
}

/// Calls `f` on every component of a rule: the trigger, each top-level component, and
/// everything nested through `children` and `conditions`, to any depth.
pub(crate) fn visit_components(rule: &mut Value, f: &mut impl FnMut(&mut Value)) {
    fn walk(c: &mut Value, f: &mut impl FnMut(&mut Value)) {
        f(c);
        for key in ["children", "conditions"] {
            if let Some(items) = c.get_mut(key).and_then(Value::as_array_mut) {
                items.iter_mut().for_each(|i| walk(i, f));
            }
        }
    }
    if let Some(trigger) = rule.get_mut("trigger").filter(|t| t.is_object()) {
        walk(trigger, f);
    }
    if let Some(items) = rule.get_mut("components").and_then(Value::as_array_mut) {
        items.iter_mut().for_each(|i| walk(i, f));
    }
}

/// Component ids in tree order, as their JSON text (ids may be strings or numbers);
/// a component without an id counts as `null`.
fn component_ids(rule: &mut Value) -> Vec<String> {
    let mut ids = Vec::new();
    visit_components(rule, &mut |c| {
        ids.push(c.get("id").unwrap_or(&Value::Null).to_string());
    });
    ids
}

/// Replaces hidden values with `***`: schema-1 headers with `headerSecure: true`, schema-2
/// headers with `secret: true` (whose value is a key name, masked all the same) and an
/// incoming-webhook trigger's `webhookToken`.
pub(crate) fn mask_hidden_values(rule: &mut Value) {
    visit_components(rule, &mut |c| {
        if let Some(headers) = c
            .pointer_mut("/value/headers")
            .and_then(Value::as_array_mut)
        {
            headers.iter_mut().for_each(mask_header);
        }
        if let Some(token) = c
            .pointer_mut("/value/webhookToken")
            .filter(|t| t.is_string())
        {
            *token = json!(MASK);
        }
    });
}

fn mask_header(header: &mut Value) {
    let secure = header.get("headerSecure") == Some(&Value::Bool(true));
    match header.get_mut("value") {
        Some(v @ Value::String(_)) if secure => *v = json!(MASK),
        Some(Value::Object(v)) if v.get("secret") == Some(&Value::Bool(true)) => {
            v.insert("keyOrValue".into(), json!(MASK));
        }
        _ => {}
    }
}

/// The edit `edit_after_reads` makes: visible in summary and rule, harmless to the logic.
fn edit_by_someone_else(rule: &mut Value) {
    let description = rule["description"].as_str().unwrap_or_default();
    rule["description"] = json!(format!("{description} (edited by another admin)").trim_start());
    match rule.get_mut("labels").and_then(Value::as_array_mut) {
        Some(labels) => labels.push(json!("edited-elsewhere")),
        None => rule["labels"] = json!(["edited-elsewhere"]),
    }
    rule["updated"] = now_epoch_secs();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_both_header_schemas_and_webhook_token() {
        let mut rule = json!({
            "trigger": {"id": "1", "value": {"webhookToken": "FAKE-hook"}},
            "components": [{"id": "2", "children": [{"id": "3", "value": {"headers": [
                {"name": "Authorization", "value": "Basic FAKE", "headerSecure": true},
                {"name": "X-Plain", "value": "visible", "headerSecure": false},
                {"name": "X-Key", "value": {"keyOrValue": "MY_KEY", "secret": true}},
                {"name": "X-Lit", "value": {"keyOrValue": "lit", "secret": false}}
            ]}}]}]
        });
        mask_hidden_values(&mut rule);
        assert_eq!(rule["trigger"]["value"]["webhookToken"], MASK);
        let headers = &rule["components"][0]["children"][0]["value"]["headers"];
        assert_eq!(headers[0]["value"], MASK);
        assert_eq!(headers[1]["value"], "visible");
        assert_eq!(headers[2]["value"]["keyOrValue"], MASK);
        assert_eq!(headers[3]["value"]["keyOrValue"], "lit");
    }

    #[test]
    fn component_ids_walk_children_and_conditions() {
        let mut rule = json!({"trigger": {"id": "t"}, "components": [
            {"id": 1, "conditions": [{"id": "c"}], "children": [{"id": "x"}, {}]}
        ]});
        assert_eq!(
            component_ids(&mut rule),
            ["\"t\"", "1", "\"x\"", "null", "\"c\""]
        );
    }
}
