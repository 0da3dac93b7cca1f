//! A local stand-in for a Jira Cloud site's Automation rule-management API, faithful
//! enough that a rotation rehearsed against it goes the same way on a real site.
//!
//! One loopback port serves:
//! - `GET /_edge/tenant_info` (no auth, never faulted);
//! - `GET /rest/api/3/myself` with Atlassian's 401 headers and CAPTCHA lockout after
//!   three failed logins for an email (even a right token then fails, until restart), and
//!   the same check in the gateway form `/ex/jira/{cloudId}/rest/api/3/myself` (routed by
//!   path on this port, standing in for api.atlassian.com), where scoped tokens log in
//!   while the site refuses them; Confluence's `/wiki/rest/api/user/current` in both forms;
//! - an organization's admin API (token expiry dates, last activity, revocation) when the
//!   accounts file has an `"org"` (see `org`);
//! - the rule-management API under both base forms (`/gateway/api/automation/...` and
//!   `/automation/...`), `rest/v1` and `rest/latest`: rule summaries (GET and POST, opaque
//!   expiring cursors), `GET`/`PUT rule/{uuid}` and `PUT rule/{uuid}/state`, with the
//!   documented error shapes (see `../shared/docs/automation-api.md` beside the repository).
//!
//! Traps, switchable per rule, make careless clients lose data here as they would on a real
//! site: `mask_hidden` (GET answers `***` for hidden values and a PUT of `***` stores it),
//! `foreign_connections` (a PUT carrying `connections` disables the rule),
//! `check_component_ids` (on by default), `edit_after_reads` (someone else edits the rule
//! after its Nth read) and `revert_after_reads` (someone else saves the rule as loaded over
//! it after its Nth read). A rule file sets its traps with a top-level `"sandbox"` key,
//! e.g. `{"rule":..,"connections":..,"sandbox":{"mask_hidden":true,"edit_after_reads":2}}`;
//! [`Sandbox::start`] strips it, so it is never served. The config's `trap_*` fields add
//! to what files say. The same key says which product's API serves the rule
//! (`"product": "confluence"`; Jira's when absent: each product has its own rules, as on a
//! real site) and, for a sandbox of several sites ([`Sandbox::start_sites`]), which site
//! holds it (`"site": 2`; every site when absent).
//!
//! Load and faults (latency, token-bucket rate limit with Jira's 429 headers, 500/503,
//! dropped connections, PUTs applied whose answer is lost) are drawn from an RNG seeded by
//! [`SandboxConfig::seed`], so a sequential client meets the same faults on every run.

// The other crates' modules this one uses, by the names the code has always used.
use autorekey_client as fetch;
use autorekey_core::secret;
use autorekey_files as files;

mod accounts;
pub mod bundled;
mod clock;
mod faults;
mod generate;
mod load;
mod org;
mod routes;
mod server;
mod store;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use accounts::{load_accounts_file, private_dir, write_accounts_file, Account};
pub use generate::generate_rules;
pub use load::load_rules_dir;
pub use org::{load_directory, Directory, Org, OrgToken, ScopedToken};
pub use store::{LoginAttempts, Revocations, RuleTraps, SandboxState, SandboxStats};

/// Which rules a command-line trap applies to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum RuleSelection {
    #[default]
    None,
    All,
    Rules(BTreeSet<String>),
}

impl RuleSelection {
    pub fn contains(&self, uuid: &str) -> bool {
        match self {
            RuleSelection::None => false,
            RuleSelection::All => true,
            RuleSelection::Rules(set) => set.contains(uuid),
        }
    }

    /// From flag values: rule uuids, or `all` for every rule.
    pub fn from_values(values: &[String]) -> Self {
        if values.iter().any(|v| v.eq_ignore_ascii_case("all")) {
            RuleSelection::All
        } else if values.is_empty() {
            RuleSelection::None
        } else {
            RuleSelection::Rules(values.iter().cloned().collect())
        }
    }
}

/// Which answers carry `X-RateLimit-*` headers under a rate limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum RateLimitHeaders {
    // Help given as `help =`: clap drops the period closing a one-line doc comment.
    #[default]
    #[value(
        help = "Every answer: `Limit` and `Remaining`, and `NearLimit: true` when less than 20 % of the bucket is left; a 429 also carries `Reset` and `Retry-After`."
    )]
    Always,
    #[value(
        name = "on-429",
        help = "Only 429 answers, as Jira Cloud does: a client learns nothing before its first 429."
    )]
    On429,
    #[value(
        help = "None at all: a 429 carries `Retry-After` only, so the rate can only be observed."
    )]
    Never,
}

/// Everything a sandbox run can be told. `Default` is a quiet, empty site: no rules, no
/// accounts, no faults, component-id checks on. Rules hold tokens, so `Debug` counts them.
#[derive(Clone)]
pub struct SandboxConfig {
    /// Loopback port; 0 picks a free one.
    pub port: u16,
    /// GET envelopes `{"rule":..,"connections":..,"sandbox"?:..}`, in listing order.
    pub rules: Vec<Value>,
    pub accounts: Vec<Account>,
    /// Scoped tokens and the organization (token expiry dates, revocation).
    pub directory: Directory,
    /// The site's cloud id; a random UUID when `None`.
    pub cloud_id: Option<String>,
    /// Added to every request except `tenant_info`.
    pub latency: Duration,
    /// Token bucket (burst = one second's worth, at least 1); beyond it, 429.
    pub rate_limit_per_sec: Option<f64>,
    /// Which answers carry the `X-RateLimit-*` headers.
    pub rate_limit_headers: RateLimitHeaders,
    /// Share (0..=1) of requests answered 500 or 503 (503 with `Retry-After`).
    pub error_rate: f64,
    /// Share (0..=1) of requests whose connection is closed without an answer.
    pub drop_rate: f64,
    /// Share (0..=1) of successful rule PUTs applied but whose answer is lost.
    pub lost_put_rate: f64,
    /// Seed of the fault RNG.
    pub seed: u64,
    /// Serve `links.next` in the older form: an absolute URL to the summary endpoint.
    pub absolute_next_links: bool,
    /// `GET rule/summary` pages drift as the live API's have been measured to: every odd
    /// page starts this many rules late (skipping them), every even page this many early
    /// (repeating them). The search (`POST rule/summary`) lists correctly. 0: no drift.
    pub list_drift: usize,
    /// Both listing forms (GET and the search) skip the first rule of their second page
    /// when paged this many rules a page, as a site whose pages shift at a boundary would:
    /// the two listings agree and both miss that rule. `Some(0)`: at every page size (each
    /// size skips a different rule, so no two sizes agree). `None`: no skip.
    pub list_skip_at: Option<usize>,
    pub trap_mask_hidden: RuleSelection,
    pub trap_foreign_connections: RuleSelection,
    /// Rule uuid -> N: after the Nth GET of that rule, another admin edits it.
    pub trap_edit_after_reads: BTreeMap<String, u32>,
    /// Rule uuid -> N: after the Nth GET of that rule, another writer saves the rule as it
    /// was loaded over it (a late overwrite with a stale copy).
    pub trap_revert_after_reads: BTreeMap<String, u32>,
    /// Refuse PUTs whose component ids differ from the stored rule's (default on; a rule
    /// file's `"sandbox": {"check_component_ids": false}` also turns it off for that rule).
    pub check_component_ids: bool,
    /// Another site's revocations to share (sites of one org, see [`Sandbox::start_sites`]).
    pub revocations: Option<Revocations>,
}

impl std::fmt::Debug for SandboxConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxConfig")
            .field("port", &self.port)
            .field("rules", &self.rules.len())
            .field("accounts", &self.accounts)
            .field("latency", &self.latency)
            .field("rate_limit_per_sec", &self.rate_limit_per_sec)
            .field("rate_limit_headers", &self.rate_limit_headers)
            .field("error_rate", &self.error_rate)
            .field("drop_rate", &self.drop_rate)
            .field("lost_put_rate", &self.lost_put_rate)
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            port: 0,
            rules: Vec::new(),
            accounts: Vec::new(),
            directory: Directory::default(),
            cloud_id: None,
            latency: Duration::ZERO,
            rate_limit_per_sec: None,
            rate_limit_headers: RateLimitHeaders::Always,
            error_rate: 0.0,
            drop_rate: 0.0,
            lost_put_rate: 0.0,
            seed: 0,
            absolute_next_links: false,
            list_drift: 0,
            list_skip_at: None,
            trap_mask_hidden: RuleSelection::None,
            trap_foreign_connections: RuleSelection::None,
            trap_edit_after_reads: BTreeMap::new(),
            trap_revert_after_reads: BTreeMap::new(),
            check_component_ids: true,
            revocations: None,
        }
    }
}

/// A running sandbox; stop it with [`Sandbox::shutdown`] (dropping it also stops it).
pub struct Sandbox {
    base_url: String,
    state: Arc<SandboxState>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Sandbox {
    /// Validates the config, binds `127.0.0.1:port` and starts serving.
    pub async fn start(config: SandboxConfig) -> io::Result<Sandbox> {
        check_rates(&config)?;
        let rules = prepare_rules(&config)?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", config.port)).await?;
        let base_url = format!("http://{}", listener.local_addr()?);
        let state = Arc::new(SandboxState::new(config, base_url.clone(), rules));
        state.set_workspaces(state.workspace_entries());
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(server::serve(listener, state.clone(), stopped));
        Ok(Sandbox {
            base_url,
            state,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// `sites` sites of one org from one config, on as many loopback ports (from `port` on,
    /// or free ones): each serves the rules whose file says `"sandbox": {"site": N}` for its
    /// number N (from 1) and the rules that name no site, has its own cloud id (the
    /// config's, if any, goes to the first), its own rate limit and faults, and the same
    /// accounts; revocations are the org's, seen by every site. Each lists every site of
    /// the org as its workspaces; the org admin API is asked of the first.
    pub async fn start_sites(config: SandboxConfig, sites: usize) -> io::Result<Vec<Sandbox>> {
        if sites == 0 {
            return Err(invalid("a sandbox needs at least one site".into()));
        }
        let mut started: Vec<Sandbox> = Vec::with_capacity(sites);
        for n in 1..=sites {
            let mut one = config.clone();
            one.rules
                .retain(|r| site_of_rule(r).is_none_or(|s| s == n as u64));
            if n > 1 {
                one.cloud_id = None;
                one.seed = config.seed.wrapping_add(n as u64);
                one.revocations = started.first().map(|s| s.state.revocations());
            }
            if config.port != 0 {
                one.port = config.port.checked_add(n as u16 - 1).ok_or_else(|| {
                    invalid(format!(
                        "ports from {} do not fit {sites} sites",
                        config.port
                    ))
                })?;
            }
            started.push(Sandbox::start(one).await?);
        }
        let all: Vec<Value> = started
            .iter()
            .flat_map(|s| s.state.workspace_entries())
            .collect();
        for site in &started {
            site.state.set_workspaces(all.clone());
        }
        Ok(started)
    }

    /// The site URL, e.g. `http://127.0.0.1:41234` (no trailing slash).
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    pub fn cloud_id(&self) -> &str {
        &self.state.cloud_id
    }

    pub fn state(&self) -> Arc<SandboxState> {
        self.state.clone()
    }

    /// Stops accepting, aborts open connections and waits for the server task.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

fn check_rates(config: &SandboxConfig) -> io::Result<()> {
    for (name, rate) in [
        ("error_rate", config.error_rate),
        ("drop_rate", config.drop_rate),
        ("lost_put_rate", config.lost_put_rate),
    ] {
        if !(0.0..=1.0).contains(&rate) {
            return Err(invalid(format!(
                "{name} must be between 0 and 1, not {rate}"
            )));
        }
    }
    match config.rate_limit_per_sec {
        Some(r) if !(r > 0.0 && r.is_finite()) => Err(invalid(format!(
            "rate limit must be a positive number, not {r}"
        ))),
        _ => Ok(()),
    }
}

/// Checks each envelope, strips its `"sandbox"` key and resolves its traps.
fn prepare_rules(config: &SandboxConfig) -> io::Result<Vec<(Value, RuleTraps)>> {
    let mut seen = HashSet::new();
    let mut prepared = Vec::with_capacity(config.rules.len());
    for (i, envelope) in config.rules.iter().enumerate() {
        let mut envelope = envelope.clone();
        let uuid = envelope["rule"]["uuid"]
            .as_str()
            .filter(|u| !u.is_empty())
            .ok_or_else(|| invalid(format!("rule #{} has no rule.uuid", i + 1)))?
            .to_owned();
        if !seen.insert(uuid.clone()) {
            return Err(invalid(format!("rule {uuid} appears twice")));
        }
        let file_traps = envelope
            .as_object_mut()
            .and_then(|o| o.shift_remove("sandbox"))
            .unwrap_or(Value::Null);
        match file_traps.get("product") {
            None | Some(Value::Null) => {}
            Some(Value::String(p)) if p == "jira" || p == "confluence" => {}
            Some(_) => {
                return Err(invalid(format!(
                    "rule {uuid}: sandbox.product must be \"jira\" or \"confluence\""
                )))
            }
        }
        if envelope.get("connections").is_none_or(Value::is_null) {
            envelope["connections"] = Value::Array(Vec::new());
        }
        let traps = resolve_traps(config, &uuid, &file_traps);
        prepared.push((envelope, traps));
    }
    Ok(prepared)
}

fn resolve_traps(config: &SandboxConfig, uuid: &str, file: &Value) -> RuleTraps {
    let flag = |key: &str| file.get(key).and_then(Value::as_bool);
    let count = |key: &str| {
        file.get(key)
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
    };
    RuleTraps {
        mask_hidden: flag("mask_hidden").unwrap_or(false) || config.trap_mask_hidden.contains(uuid),
        foreign_connections: flag("foreign_connections").unwrap_or(false)
            || config.trap_foreign_connections.contains(uuid),
        check_component_ids: config.check_component_ids
            && flag("check_component_ids").unwrap_or(true),
        edit_after_reads: config
            .trap_edit_after_reads
            .get(uuid)
            .copied()
            .or_else(|| count("edit_after_reads")),
        revert_after_reads: config
            .trap_revert_after_reads
            .get(uuid)
            .copied()
            .or_else(|| count("revert_after_reads")),
        product: match file.get("product").and_then(Value::as_str) {
            Some("confluence") => "confluence",
            _ => "jira",
        },
    }
}

/// The site (1, 2, ...) a rule file's `"sandbox": {"site": N}` gives its rule, for a
/// sandbox of several sites; `None`: every site serves it.
fn site_of_rule(envelope: &Value) -> Option<u64> {
    envelope.pointer("/sandbox/site").and_then(Value::as_u64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn debug_of_a_config_shows_no_rule_text() {
        let secret = format!("FAKE-{}", uuid::Uuid::new_v4().simple());
        let config = super::SandboxConfig {
            rules: vec![serde_json::json!({"rule": {"uuid": "u", "name": secret}})],
            ..Default::default()
        };
        let shown = format!("{config:?}");
        assert!(!shown.contains(&secret), "{shown}");
    }
}
