//! [`AutomationClient`]: the rule-management calls autorekey makes, and nothing else.
//!
//! Each method is one documented endpoint with its failure modes decided here, so the command
//! layer never sees HTTP: pagination follows `links.next` in both documented forms and stops on
//! a repeated link; rule reads always ask for unredacted values (`redactSensitiveFields=false`)
//! and check the envelope's shape; a write reports a lost answer instead of guessing, follows
//! no redirect, and masks the caller's secrets (the body's credentials) in any quoted server
//! text. Retries live in `fetch/transport.rs`, the rules for where a credential may go in
//! [`super::policy`].
//!
//! The client is cheap to clone (an `Arc` inside) so concurrent reads can share it.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION, LOCATION};
use reqwest::redirect;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use url::Url;

use super::breaker::{CircuitBreaker, Verdict};
use super::credential::CheckCache;
use super::error::FetchError;
use super::limiter::ConcurrencyStats;
use super::pacer::PaceStats;
use super::policy::{check_site_url, display_url, is_loopback, require_same_origin, HostPolicy};
use super::retry::{RateLimitInfo, RetryPolicy};
use super::transport::{Answer, Safety, SiteLimit, Transport, DEFAULT_MAX_BODY};
use crate::rule::Rule;
use crate::secret::{Credential, Masker, Token};

/// Sent with every request, so an Atlassian admin can tell these calls apart in audit logs.
const USER_AGENT: &str = concat!("autorekey/", env!("CARGO_PKG_VERSION"));
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest page the summary endpoint accepts.
pub(super) const PAGE_LIMIT: u32 = 100;
/// Stops a server that hands out fresh cursors forever (a million rules at 100 a page).
const MAX_PAGES: usize = 10_000;
const MAX_REDIRECTS: usize = 5;

/// Everything the client needs. [`ClientConfig::new`] fills in the defaults.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The Jira site, e.g. `https://acme.atlassian.net/`.
    pub site: Url,
    /// The Automation API base; `None` discovers it from the site's cloud id.
    pub api_base: Option<Url>,
    /// `jira` or `confluence`.
    pub product: String,
    /// The admin's login (email).
    pub login: String,
    pub token: Token,
    /// Most requests in flight at once, over every call of the client (default 8).
    pub concurrency: usize,
    /// Check the rule list of a bulk read against a second listing (the search by state),
    /// as the live API skips and repeats rules between pages (default on; off only where
    /// the extra requests are not wanted, such as scripted tests of other behaviour).
    pub list_twice: bool,
    /// Time-out of one request attempt, body included (default 30 s).
    pub timeout: Duration,
    pub retry: RetryPolicy,
    /// Most bytes read of one answer's body (default 32 MiB).
    pub max_body: u64,
    /// Atlassian's API gateway (`https://api.atlassian.com/`), where scoped and
    /// service-account tokens log in (`/ex/{product}/{cloudId}/...`). Only the sandbox and
    /// tests point it elsewhere, and only at a loopback address (see `settings`).
    pub gateway: Url,
    /// The site's limiter and pacer, shared with its other products' clients; `None`: this
    /// client's own.
    pub site_limit: Option<SiteLimit>,
}

pub use autorekey_core::gateway::ATLASSIAN_GATEWAY;

impl ClientConfig {
    pub fn new(site: Url, login: impl Into<String>, token: Token) -> Self {
        ClientConfig {
            site,
            api_base: None,
            product: "jira".into(),
            login: login.into(),
            token,
            concurrency: 8,
            list_twice: true,
            timeout: Duration::from_secs(30),
            retry: RetryPolicy::default().no_delay_from_env(),
            max_body: DEFAULT_MAX_BODY,
            gateway: Url::parse(ATLASSIAN_GATEWAY).expect("a valid constant URL"),
            site_limit: None,
        }
    }
}

/// One entry of `GET rule/summary`. Every field but `uuid` may be missing or `null`: the live
/// API has been seen to send `null` labels, names, states and scopes, and one odd entry must
/// not abort the listing of a whole site.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleSummary {
    pub uuid: String,
    /// As listed, with any credential in it redacted: names reach outcomes and `Debug`.
    #[serde(default, deserialize_with = "redacted_name")]
    pub name: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub state: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub author_account_id: Option<String>,
    #[serde(default)]
    pub actor_account_id: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub labels: Vec<Value>,
    /// Scopes; a `null` entry is dropped rather than failing the page.
    #[serde(
        default,
        rename = "ruleScopeARIs",
        deserialize_with = "strings_skipping_null"
    )]
    pub rule_scope_aris: Vec<String>,
    /// Epoch seconds with a fraction, or whatever the server sends: kept as is.
    #[serde(default)]
    pub created: Option<Value>,
    #[serde(default)]
    pub updated: Option<Value>,
}

/// `null` reads as the type's default (an empty name, an empty list).
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

fn redacted_name<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let name: String = null_as_default(d)?;
    Ok(crate::detect::redacted_name(&name))
}

fn strings_skipping_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let items: Vec<Option<String>> = null_as_default(d)?;
    Ok(items.into_iter().flatten().collect())
}

/// What became of a rule write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// The server answered 2xx.
    Written,
    /// The request went out but no usable answer came back (I/O error, time-out, or a gateway
    /// 502/504): the rule may or may not have been written. Read it back before deciding.
    AnswerLost,
}

#[derive(Deserialize)]
struct SummaryPage {
    #[serde(default, deserialize_with = "null_as_default")]
    links: Links,
    #[serde(default, deserialize_with = "null_as_default")]
    data: Vec<RuleSummary>,
}

#[derive(Deserialize, Default)]
struct Links {
    next: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TenantInfo {
    cloud_id: String,
}

/// The Automation API client. See the module documentation.
#[derive(Debug, Clone)]
pub struct AutomationClient {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) transport: Transport,
    pub(crate) hosts: HostPolicy,
    pub(crate) admin: Credential,
    admin_auth: HeaderValue,
    api_base: Url,
    pub(crate) concurrency: usize,
    pub(crate) list_twice: bool,
    pub(crate) checked: Mutex<CheckCache>,
    pub(crate) product: String,
    pub(crate) gateway: Url,
    /// The site's cloud id: found while discovering the API base, else asked when first
    /// needed (a scoped token's check goes through `/ex/{product}/{cloudId}`).
    pub(crate) cloud_id: tokio::sync::OnceCell<String>,
}

impl AutomationClient {
    /// Validates the configuration against the host policy, builds the HTTP client and, when
    /// `api_base` is `None`, discovers the cloud id (`GET {site}/_edge/tenant_info`, no
    /// credential sent) to use the site form of the base:
    /// `{site}/gateway/api/automation/public/{product}/{cloudId}/rest/v1/`.
    pub async fn connect(config: ClientConfig) -> Result<Self, FetchError> {
        check_site_url(&config.site)?;
        if !matches!(config.product.as_str(), "jira" | "confluence") {
            return Err(FetchError::Config(format!(
                "product must be `jira` or `confluence`, not `{}`",
                config.product
            )));
        }
        let hosts = HostPolicy::new(config.site.clone());
        let http = build_http(&hosts, config.timeout, policy_redirects(&hosts))?;
        let writes = build_http(&hosts, config.timeout, redirect::Policy::none())?;
        let cloud_id = tokio::sync::OnceCell::new();
        let admin = Credential::new(config.login.clone(), config.token.clone());
        // Every secret this client has been given or has checked (the admin's, new tokens,
        // the credentials of rules being written): masked out of every server text, from
        // the first answer on (tenant_info's error too).
        let mut masker = Masker::new();
        masker.add_credential(&admin);
        let masker = Arc::new(RwLock::new(masker));
        let api_base = match &config.api_base {
            Some(base) => with_trailing_slash(base.clone()),
            None => {
                let policy = config.retry.clone().first_contact();
                let first = Transport::new(http.clone(), writes.clone(), policy, 1)
                    .with_max_body(config.max_body)
                    .with_masker(Arc::clone(&masker));
                let id = tenant_cloud_id(&first, &config.site).await?;
                let base = site_api_base(&config, &id)?;
                let _ = cloud_id.set(id);
                base
            }
        };
        let mut transport = Transport::new(http, writes, config.retry.clone(), config.concurrency)
            .with_max_body(config.max_body)
            .with_masker(masker);
        if let Some(limit) = &config.site_limit {
            transport = transport.with_site_limit(limit);
        }
        hosts.require(&api_base)?;
        hosts.require_api_base(&api_base)?;
        let gateway = gateway_for(&config);
        hosts.require(&gateway)?;
        let admin_auth = basic_auth(&admin)?;
        Ok(AutomationClient {
            inner: Arc::new(Inner {
                transport,
                hosts,
                admin,
                admin_auth,
                api_base,
                concurrency: config.concurrency.max(1),
                list_twice: config.list_twice,
                checked: Mutex::new(CheckCache::default()),
                product: config.product.clone(),
                gateway,
                cloud_id,
            }),
        })
    }

    pub fn api_base(&self) -> &Url {
        &self.inner.api_base
    }

    pub fn site(&self) -> &Url {
        self.inner.hosts.site()
    }

    /// `jira` or `confluence`.
    pub fn product(&self) -> &str {
        &self.inner.product
    }

    /// Atlassian's API gateway (`https://api.atlassian.com/` outside tests).
    pub fn gateway(&self) -> &Url {
        &self.inner.gateway
    }

    /// The site's cloud id, asked of `/_edge/tenant_info` once (no credential sent) unless
    /// connecting already found it.
    pub async fn cloud_id(&self) -> Result<String, FetchError> {
        let site = self.site().clone();
        let transport = &self.inner.transport;
        self.inner
            .cloud_id
            .get_or_try_init(|| tenant_cloud_id(transport, &site))
            .await
            .cloned()
    }

    /// The most recent `X-RateLimit-*` headers seen, for a verbose summary.
    pub fn last_rate_limit(&self) -> Option<RateLimitInfo> {
        self.inner.transport.last_rate_limit()
    }

    /// What the adaptive concurrency limit has done so far, over every request of this
    /// client (reads and writes alike).
    pub fn concurrency_stats(&self) -> ConcurrencyStats {
        self.inner.transport.limiter.stats()
    }

    /// What the rate pacer has learned and done so far, over every request of this client.
    pub fn pace_stats(&self) -> PaceStats {
        self.inner.transport.pacer.stats()
    }

    /// Every rule summary, following `links.next` until it is `null`. A next link may be a bare
    /// query string (appended to `rule/summary`) or an absolute URL, which must pass the host
    /// policy. A link seen twice is an error, not an endless loop. Duplicate uuids are dropped.
    ///
    /// To read every rule, [`Self::read_all_rules`] is faster: it reads while it lists.
    pub async fn list_summaries(&self) -> Result<Vec<RuleSummary>, FetchError> {
        let mut pager = Pager::sized(self, ListingForm::Get, PAGE_LIMIT);
        let mut summaries = Vec::new();
        while let Some(page) = pager.next_page(self, None).await? {
            summaries.extend(page);
        }
        Ok(summaries)
    }

    /// `GET rule/{uuid}?redactSensitiveFields=false`: the envelope `{"rule": {...},
    /// "connections": [...]}` exactly as sent, read as a [`Rule`] (an answer with no `rule`
    /// object is an error).
    pub async fn get_rule(&self, uuid: &str) -> Result<Rule, FetchError> {
        self.get_rule_limited(uuid, None).await
    }

    /// `PUT rule/{uuid}` with `body` (the caller builds `{"rule": ...}`). Retried only on 429,
    /// or 503 with `Retry-After`, or when the connection could not be made; see [`PutOutcome`]
    /// for a lost answer. An `Err` from a 4xx means the rule was not written; a
    /// [`FetchError::Server`] does not prove that, so read back then too.
    ///
    /// `secrets` are the credentials `body` carries (new tokens, their `Basic` values, other
    /// users' credentials): a server may echo the body in its error text, so each is added
    /// to the client's [`Masker`] (see [`Self::also_mask`]) before any of it is quoted.
    ///
    /// A redirect (3xx) is never followed and is an [`FetchError::InvalidResponse`]: a 307/308
    /// was not applied, but a 303 conventionally means it was, so read back after one too.
    pub async fn put_rule(
        &self,
        uuid: &str,
        body: &Value,
        secrets: &[String],
    ) -> Result<PutOutcome, FetchError> {
        let url = self.rule_url(uuid)?;
        let exchange = self
            .inner
            .transport
            .exchange(
                || self.admin_request(reqwest::Method::PUT, &url).json(body),
                Safety::Write,
                None,
            )
            .await;
        match exchange.result {
            Ok(answer) if answer.status.is_success() => Ok(PutOutcome::Written),
            Ok(answer) if matches!(answer.status.as_u16(), 502 | 504) => Ok(PutOutcome::AnswerLost),
            Ok(answer) if answer.status.is_redirection() => Err(redirected_write(&url, &answer)),
            Ok(answer) => {
                self.also_mask(secrets);
                Err(answer.into_error(exchange.attempts, &self.masker()))
            }
            Err(err) if err.is_connect() => Err(FetchError::from_reqwest(err)),
            Err(_) => Ok(PutOutcome::AnswerLost),
        }
    }

    pub(super) async fn get_rule_limited(
        &self,
        uuid: &str,
        breaker: Option<&CircuitBreaker>,
    ) -> Result<Rule, FetchError> {
        let mut url = self.rule_url(uuid)?;
        url.query_pairs_mut()
            .append_pair("redactSensitiveFields", "false");
        let envelope: Value = self.read_json_limited(&url, None, breaker).await?;
        let rule = Rule::from_envelope(envelope)
            .map_err(|_| {
                FetchError::InvalidResponse(format!(
                    "rule {uuid}: the answer has no \"rule\" object"
                ))
            })?
            .with_name_cleaned(&self.masker());
        // The answer is judged, shown, backed up and written as the rule asked for: one
        // carrying another id (or none) would stand in for it, and the rule asked for would
        // never be looked at while the verdict counts it as read.
        if rule.uuid() != uuid {
            return Err(FetchError::InvalidResponse(format!(
                "the site answered with another rule ({})",
                crate::printable::printable(if rule.uuid().is_empty() {
                    "no id"
                } else {
                    rule.uuid()
                })
            )));
        }
        Ok(rule)
    }

    /// A read under the retry policy: a GET, or with `search` the read-only
    /// `POST rule/summary` (safe to repeat, so it retries like a GET). Within a bulk read
    /// (`breaker`), the final outcome feeds the circuit breaker, and once it is open nothing
    /// more is sent: a site-down failure then reads as [`FetchError::SiteUnavailable`].
    async fn read_json_limited<T: DeserializeOwned>(
        &self,
        url: &Url,
        search: Option<&Value>,
        breaker: Option<&CircuitBreaker>,
    ) -> Result<T, FetchError> {
        let Some(breaker) = breaker else {
            return self.read_json_once(url, search, None).await;
        };
        if breaker.is_open() {
            return Err(breaker.unavailable());
        }
        let result = self.read_json_once(url, search, Some(breaker)).await;
        breaker.record(Verdict::of(&result), result.as_ref().err());
        match result {
            Err(err) if err.is_site_down() && breaker.is_open() => Err(breaker.unavailable()),
            other => other,
        }
    }

    async fn read_json_once<T: DeserializeOwned>(
        &self,
        url: &Url,
        search: Option<&Value>,
        breaker: Option<&CircuitBreaker>,
    ) -> Result<T, FetchError> {
        let request = || match search {
            Some(body) => self.admin_request(reqwest::Method::POST, url).json(body),
            None => self.admin_request(reqwest::Method::GET, url),
        };
        let exchange = self
            .inner
            .transport
            .exchange(request, Safety::Repeatable, breaker)
            .await;
        // Two statements: the masker's read guard is not to be taken twice at once.
        let answer = exchange.success(&self.masker())?;
        answer.json(&self.masker())
    }

    fn admin_request(&self, method: reqwest::Method, url: &Url) -> reqwest::RequestBuilder {
        self.inner
            .transport
            .client_for(&method)
            .request(method, url.clone())
            .header(AUTHORIZATION, self.inner.admin_auth.clone())
    }

    /// The masker, for cleaning one error's text (held only while cleaning it).
    pub fn masker(&self) -> std::sync::RwLockReadGuard<'_, Masker> {
        self.inner.transport.masker()
    }

    /// Adds `secrets` (tokens, `Basic` values) to what every later error masks: call it with
    /// a new token as soon as it is known, so no server text can echo it back.
    pub fn also_mask(&self, secrets: &[String]) {
        let mut masker = self.masker_mut();
        for secret in secrets {
            masker.add(secret);
        }
    }

    /// The masker, to add what every later error masks (a credential being checked).
    pub(crate) fn masker_mut(&self) -> std::sync::RwLockWriteGuard<'_, Masker> {
        self.inner.transport.masker_mut()
    }

    fn summary_url(&self, query: &str) -> Url {
        let mut url = self.endpoint(&["rule", "summary"]);
        url.set_query(Some(query));
        url
    }

    /// `rule/{uuid}`. The path builder would silently drop a `.` or `..` segment and address
    /// another endpoint, so those (and an empty id) are refused.
    fn rule_url(&self, uuid: &str) -> Result<Url, FetchError> {
        if matches!(uuid.trim(), "" | "." | "..") {
            return Err(FetchError::Policy(format!(
                "refusing rule id `{uuid}`: it is not a rule id"
            )));
        }
        Ok(self.endpoint(&["rule", uuid]))
    }

    /// The base plus path segments, each percent-encoded (a uuid cannot smuggle in `../`).
    fn endpoint(&self, segments: &[&str]) -> Url {
        let mut url = self.inner.api_base.clone();
        url.set_query(None);
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    fn resolve_next(&self, link: &str) -> Result<Url, FetchError> {
        let url = match link.strip_prefix('?') {
            Some(query) => self.summary_url(query),
            None => self
                .summary_url("")
                .join(link)
                .map_err(|_| FetchError::InvalidResponse("unreadable next-page link".into()))?,
        };
        self.inner.hosts.require(&url)?;
        require_same_origin(&url, &self.inner.api_base)?;
        Ok(url)
    }
}

/// The two ways to list a site's rules. The live API has been measured to skip and repeat
/// rules between pages of one listing, so a bulk read lists both ways and compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListingForm {
    /// `GET rule/summary?limit=100`.
    Get,
    /// `POST rule/summary` with `{"state": ...}`: the search, one state at a time.
    Search(&'static str),
}

/// The rule states the search lists; together they cover every rule but odd ones.
pub const SEARCH_STATES: [&str; 2] = ["ENABLED", "DISABLED"];

/// Walks the summary pages one at a time: follows `links.next` in both forms, refuses a
/// repeated link or an endless list, and drops uuids already seen (counting them). Shared by
/// [`AutomationClient::list_summaries`] and the pipelined read, so both page the same way.
pub(super) struct Pager {
    form: ListingForm,
    /// Rules a page (the search's body says it on every page; GET's links carry it).
    limit: u32,
    /// The next page, or why there cannot be one (kept until the page holding the bad link
    /// has been handed over, so its rules are not lost). For the search, the cursor rides in
    /// this URL's query and is moved into the body.
    next: Option<Result<Url, FetchError>>,
    seen_links: HashSet<String>,
    seen_rules: HashSet<String>,
    /// Rules a later page listed again.
    pub(super) repeated: usize,
    /// How many rules each page but the last held: the page size the server really used,
    /// whatever was asked (a server that ignores `limit` makes reads "at other page sizes"
    /// repeats of one read, which prove nothing).
    pub(super) full_pages: std::collections::BTreeSet<usize>,
}

impl Pager {
    /// A listing `limit` rules a page: a re-read at another page size sees other page
    /// boundaries, where a listing that drifts at one size skips or repeats other rules.
    pub(super) fn sized(client: &AutomationClient, form: ListingForm, limit: u32) -> Self {
        let first = match form {
            ListingForm::Get => client.summary_url(&format!("limit={limit}")),
            ListingForm::Search(_) => client.summary_url(""),
        };
        Pager {
            form,
            limit,
            next: Some(Ok(first)),
            seen_links: HashSet::new(),
            seen_rules: HashSet::new(),
            repeated: 0,
            full_pages: std::collections::BTreeSet::new(),
        }
    }

    /// The next page's new summaries, or `None` after the last page.
    pub(super) async fn next_page(
        &mut self,
        client: &AutomationClient,
        breaker: Option<&CircuitBreaker>,
    ) -> Result<Option<Vec<RuleSummary>>, FetchError> {
        let Some(url) = self.next.take().transpose()? else {
            return Ok(None);
        };
        if !self.seen_links.insert(url.to_string()) {
            return Err(FetchError::InvalidResponse(
                "the rule list repeats a page (pagination loop); stopping".into(),
            ));
        }
        if self.seen_links.len() > MAX_PAGES {
            return Err(FetchError::InvalidResponse(format!(
                "the rule list goes on past {MAX_PAGES} pages; stopping"
            )));
        }
        let page: SummaryPage = match self.form {
            ListingForm::Get => client.read_json_limited(&url, None, breaker).await?,
            ListingForm::Search(state) => {
                let body = search_body(state, self.limit, &url);
                let endpoint = client.summary_url("");
                client
                    .read_json_limited(&endpoint, Some(&body), breaker)
                    .await?
            }
        };
        self.next = match page.links.next.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(link) => Some(client.resolve_next(link)),
        };
        let before = page.data.len();
        if self.next.is_some() {
            self.full_pages.insert(before);
        }
        let seen = &mut self.seen_rules;
        let fresh: Vec<RuleSummary> = page
            .data
            .into_iter()
            .filter(|s| seen.insert(s.uuid.clone()))
            .map(|mut s| {
                // A name is the server's text: it may hold a piece of a token it was sent.
                s.name = client.masker().clean(&s.name);
                s
            })
            .collect();
        self.repeated += before - fresh.len();
        Ok(Some(fresh))
    }
}

/// The search's body: the state, the page size, and the cursor of `next` (if any).
fn search_body(state: &str, limit: u32, next: &Url) -> Value {
    let mut body = serde_json::json!({"state": state, "limit": limit});
    if let Some(cursor) = next.query().and_then(|q| query_value(q, "cursor")) {
        body["cursor"] = Value::String(cursor);
    }
    body
}

/// The value of `name` in a URL query, percent-decoded as in any URL but with a `+` kept
/// as a `+`: cursors are opaque (often base64, `+` included), and the form decoding that
/// reads a `+` as a space would hand the server a cursor it never issued.
pub fn query_value(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then(|| {
            percent_encoding::percent_decode_str(value)
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

/// The answer as `T`. serde's message can quote a piece of the body (`invalid type: string
/// "..."`), so it is cleaned like any server text.
pub(crate) fn parse_json<T: DeserializeOwned>(
    body: &[u8],
    masker: &Masker,
) -> Result<T, FetchError> {
    serde_json::from_slice(body).map_err(|err| {
        let why = super::error::truncate(&masker.clean(&err.to_string()));
        FetchError::InvalidResponse(format!("the answer is not the expected JSON ({why})"))
    })
}

/// `Authorization: Basic ...`, marked sensitive so it never shows in `Debug` output.
pub(crate) fn basic_auth(credential: &Credential) -> Result<HeaderValue, FetchError> {
    let header = zeroize::Zeroizing::new(format!("Basic {}", credential.basic_secret().as_str()));
    let mut value = HeaderValue::from_str(&header)
        .map_err(|_| FetchError::Config("the login cannot be sent in an HTTP header".into()))?;
    value.set_sensitive(true);
    Ok(value)
}

/// The error for a write answered with a redirect, naming both ends without user-info or query.
fn redirected_write(url: &Url, answer: &Answer) -> FetchError {
    let target = answer
        .headers
        .get(LOCATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|location| url.join(location).ok())
        .map_or_else(|| "an unreadable location".to_owned(), |t| display_url(&t));
    FetchError::InvalidResponse(format!(
        "the site redirected the write to {} ({}) to {target}; not followed",
        display_url(url),
        answer.status.as_u16()
    ))
}

/// Follows at most [`MAX_REDIRECTS`] redirects, each to a host the policy allows and on the
/// origin of the request redirected (a credential never follows a redirect elsewhere).
fn policy_redirects(hosts: &HostPolicy) -> redirect::Policy {
    let hosts = hosts.clone();
    redirect::Policy::custom(move |attempt| {
        let same_origin = attempt
            .previous()
            .last()
            .is_some_and(|from| require_same_origin(attempt.url(), from).is_ok());
        if attempt.previous().len() >= MAX_REDIRECTS || !same_origin || !hosts.allows(attempt.url())
        {
            attempt.stop()
        } else {
            attempt.follow()
        }
    })
}

pub(super) fn build_http(
    hosts: &HostPolicy,
    timeout: Duration,
    redirects: redirect::Policy,
) -> Result<reqwest::Client, FetchError> {
    let mut builder = reqwest::Client::builder();
    if is_loopback(hosts.site()) {
        // A proxy from the environment would see a loopback site's plain-http Basic header.
        builder = builder.no_proxy();
    }
    builder
        .user_agent(USER_AGENT)
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(timeout)
        .redirect(redirects)
        .default_headers(
            [(ACCEPT, HeaderValue::from_static("application/json"))]
                .into_iter()
                .collect(),
        )
        .build()
        .map_err(|err| {
            FetchError::Config(format!(
                "cannot build the HTTP client: {}",
                err.without_url()
            ))
        })
}

/// `GET {site}/_edge/tenant_info` (no credential sent): the site's cloud id, checked to be
/// safe to put in a path.
pub(crate) async fn tenant_cloud_id(
    transport: &Transport,
    site: &Url,
) -> Result<String, FetchError> {
    let url = join(site, "/_edge/tenant_info")?;
    let exchange = transport
        .exchange(|| transport.http.get(url.clone()), Safety::Repeatable, None)
        .await;
    let answer = exchange.success(&transport.masker())?;
    let info: TenantInfo = answer.json(&transport.masker())?;
    let id = info.cloud_id.trim();
    if !crate::gateway::is_cloud_id(id) {
        return Err(FetchError::InvalidResponse(
            "tenant_info did not give a usable cloudId".into(),
        ));
    }
    Ok(id.to_owned())
}

/// The site form of the Automation API base for a cloud id.
fn site_api_base(config: &ClientConfig, id: &str) -> Result<Url, FetchError> {
    join(
        &config.site,
        &format!(
            "/gateway/api/automation/public/{}/{id}/rest/v1/",
            config.product
        ),
    )
}

/// The gateway to use: as configured, except that a loopback site (the sandbox) left with
/// the default is its own gateway, since it serves the `/ex/...` form on the same port:
/// its tokens have no business at api.atlassian.com.
fn gateway_for(config: &ClientConfig) -> Url {
    let default = config.gateway.as_str() == ATLASSIAN_GATEWAY;
    if default && is_loopback(&config.site) {
        let mut site = config.site.clone();
        site.set_path("/");
        site.set_query(None);
        return site;
    }
    with_trailing_slash(config.gateway.clone())
}

pub(crate) fn join(base: &Url, path: &str) -> Result<Url, FetchError> {
    base.join(path)
        .map_err(|err| FetchError::Config(format!("cannot build a URL from the site: {err}")))
}

fn with_trailing_slash(mut url: Url) -> Url {
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    url
}
