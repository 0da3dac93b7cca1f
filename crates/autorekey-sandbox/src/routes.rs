//! Request handling: routing by path, the fault gate, authentication and the handlers of
//! each endpoint, answering with the body shapes and headers a Jira Cloud site uses.
//!
//! Routing is done by hand on path segments rather than with a router because the same API
//! lives under two base forms (`/gateway/api/automation/...` and `/automation/...`), two
//! versions (`v1`, `latest`) and any product/cloud id, and every miss must still answer in
//! Atlassian's error shape.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION};
use hyper::{HeaderMap, Method, Request, Response, StatusCode};
use serde_json::{json, Value};

use super::clock::iso8601;
use super::faults::{Budget, Gate, RateLimited};
use super::org::{self, OrgRoute};
use super::store::{Auth, PutRejection, SandboxState, Via};

/// Atlassian's import limit; larger bodies are refused as unparseable.
const MAX_BODY: usize = 5 * 1024 * 1024;

pub(crate) type Answer = Response<Full<Bytes>>;

/// Returned to hyper to close the connection without an answer.
#[derive(Debug)]
pub(crate) struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by the sandbox fault injector")
    }
}

impl std::error::Error for Dropped {}

enum Route {
    TenantInfo,
    Myself(LoginRoute),
    Api(ApiRoute),
    Org(OrgRoute),
    Unknown,
}

/// A current-user endpoint: Jira's `/rest/api/3/myself` or Confluence's
/// `/wiki/rest/api/user/current`, on the site or in the gateway form for a cloud id.
struct LoginRoute {
    gateway_cloud: Option<String>,
    confluence: bool,
}

struct ApiRoute {
    /// Path up to and including `rest/v1/`, for absolute `next` links.
    prefix: String,
    /// `jira` or `confluence`: each product's API serves its own rules.
    product: String,
    cloud_id: String,
    op: ApiOp,
}

enum ApiOp {
    Summary,
    Rule(String),
    RuleState(String),
    Unknown,
}

fn route(path: &str) -> Route {
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segs.as_slice() {
        ["_edge", "tenant_info"] => Route::TenantInfo,
        ["rest", "api", "3", "myself"] => login(None, false),
        ["wiki", "rest", "api", "user", "current"] => login(None, true),
        ["ex", "jira", cloud, "rest", "api", "3", "myself"] => login(Some(cloud), false),
        ["ex", "confluence", cloud, "wiki", "rest", "api", "user", "current"] => {
            login(Some(cloud), true)
        }
        ["gateway", "api", rest @ ..] => api_route(rest, "/gateway/api"),
        rest => org::route(rest).map_or_else(|| api_route(rest, ""), Route::Org),
    }
}

fn login(cloud: Option<&str>, confluence: bool) -> Route {
    Route::Myself(LoginRoute {
        gateway_cloud: cloud.map(str::to_owned),
        confluence,
    })
}

fn api_route(segs: &[&str], base: &str) -> Route {
    let ["automation", "public", product, cloud, "rest", version, rest @ ..] = segs else {
        return Route::Unknown;
    };
    if !matches!(*product, "jira" | "confluence") || !matches!(*version, "v1" | "latest") {
        return Route::Unknown;
    }
    let op = match rest {
        ["rule", "summary"] => ApiOp::Summary,
        ["rule", uuid] => ApiOp::Rule((*uuid).to_owned()),
        ["rule", uuid, "state"] => ApiOp::RuleState((*uuid).to_owned()),
        _ => ApiOp::Unknown,
    };
    Route::Api(ApiRoute {
        prefix: format!("{base}/automation/public/{product}/{cloud}/rest/{version}/"),
        product: (*product).to_owned(),
        cloud_id: (*cloud).to_owned(),
        op,
    })
}

fn endpoint_key(method: &Method, route: &Route) -> &'static str {
    match (method.as_str(), route) {
        ("GET", Route::TenantInfo) => "GET tenant_info",
        ("GET", Route::Myself(_)) => "GET myself",
        (
            "GET",
            Route::Org(OrgRoute::List {
                service_accounts, ..
            }),
        ) => {
            if *service_accounts {
                "GET org service-account api-tokens"
            } else {
                "GET org api-tokens"
            }
        }
        ("DELETE", Route::Org(OrgRoute::Delete { .. })) => "DELETE api-token",
        ("POST", Route::Org(OrgRoute::Workspaces { .. })) => "POST org workspaces",
        (m, Route::Api(api)) => match (m, &api.op) {
            ("GET", ApiOp::Summary) => "GET rule/summary",
            ("POST", ApiOp::Summary) => "POST rule/summary",
            ("GET", ApiOp::Rule(_)) => "GET rule",
            ("PUT", ApiOp::Rule(_)) => "PUT rule",
            ("PUT", ApiOp::RuleState(_)) => "PUT rule/state",
            _ => "other",
        },
        _ => "other",
    }
}

/// The hyper service: every request of every connection comes through here.
pub(crate) async fn handle(
    state: Arc<SandboxState>,
    req: Request<Incoming>,
) -> Result<Answer, Dropped> {
    let (parts, body) = req.into_parts();
    let route = route(parts.uri.path());
    let key = endpoint_key(&parts.method, &route);
    state.record(|s| {
        s.total_requests += 1;
        *s.per_endpoint.entry(key.to_owned()).or_default() += 1;
        if let (
            Route::Api(ApiRoute {
                op: ApiOp::Rule(uuid),
                ..
            }),
            "PUT rule",
        ) = (&route, key)
        {
            *s.puts_per_rule.entry(uuid.clone()).or_default() += 1;
        }
    });
    let mut budget = None;
    if !matches!(route, Route::TenantInfo) {
        match gate(&state).await? {
            Ok(admitted) => budget = admitted,
            Err(answer) => return Ok(finish(answer, None)),
        }
    }
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return Ok(finish(unparseable(), budget)),
    };
    let request = Req {
        method: parts.method,
        query: parts.uri.query().unwrap_or("").to_owned(),
        headers: parts.headers,
        body,
    };
    let answer = match route {
        Route::TenantInfo => ok_json(json!({ "cloudId": state.cloud_id })),
        Route::Myself(login) => myself(&state, &request, &login),
        Route::Org(org) => org_call(&state, &request, &org),
        Route::Api(api) => api_call(&state, &request, &api)?,
        Route::Unknown => not_found("Not Found"),
    };
    Ok(finish(answer, budget))
}

/// Latency and the fault gate: `Ok` admits the request (with the rate limit's budget for
/// its answer's headers, if they are to be sent), `Err` is an answer that replaces the
/// handler's.
async fn gate(state: &SandboxState) -> Result<Result<Option<Budget>, Answer>, Dropped> {
    let latency = state.faults.latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match state.faults.admit() {
        Gate::Pass(budget) => Ok(Ok(budget)),
        Gate::RateLimited(limited) => {
            state.record(|s| s.rate_limited += 1);
            Ok(Err(too_many_requests(&limited)))
        }
        Gate::Drop => {
            state.record(|s| {
                s.dropped_connections += 1;
                s.faults_injected += 1;
            });
            Err(Dropped)
        }
        Gate::ServerError(status) => {
            state.record(|s| {
                s.server_errors += 1;
                s.faults_injected += 1;
            });
            Ok(Err(server_error(status)))
        }
    }
}

struct Req {
    method: Method,
    query: String,
    headers: HeaderMap,
    body: Bytes,
}

impl Req {
    /// A query parameter, read as Atlassian's links are meant: a `+` is itself (the cursors
    /// this sandbox issues hold some), not a form-encoded space.
    fn param(&self, name: &str) -> Option<String> {
        crate::fetch::client::query_value(&self.query, name)
    }

    /// `(email, token)` from `Authorization: Basic ...`, if well formed.
    fn basic(&self) -> Option<(String, String)> {
        let value = self.headers.get(AUTHORIZATION)?.to_str().ok()?;
        let (scheme, encoded) = value.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (email, token) = text.split_once(':')?;
        Some((email.to_owned(), token.to_owned()))
    }

    fn json_body(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

fn myself(state: &SandboxState, req: &Req, login: &LoginRoute) -> Answer {
    let via = match &login.gateway_cloud {
        Some(cloud) if *cloud != state.cloud_id => return not_found("Site not found"),
        Some(_) => Via::Gateway,
        None => Via::Site,
    };
    let denied_reason = match state.authenticate_via(req.basic(), true, via) {
        Auth::Valid(account) if login.confluence => {
            return ok_json(json!({
                "type": "known",
                "accountId": account.account_id,
                "accountType": "atlassian",
                "email": account.email,
                "publicName": account.display_name(),
                "displayName": account.display_name(),
            }))
        }
        Auth::Valid(account) => {
            let mut answer = ok_json(json!({
                "self": format!("{}/rest/api/3/user?accountId={}", state.base_url, account.account_id),
                "accountId": account.account_id,
                "accountType": "atlassian",
                "emailAddress": account.email,
                "displayName": account.display_name(),
                "active": true,
                "timeZone": "Etc/UTC",
                "locale": "en_US",
            }));
            set(&mut answer, "x-seraph-loginreason", "OK");
            set(&mut answer, "x-aaccountid", &account.account_id);
            return answer;
        }
        Auth::ScopeMismatch => return scope_mismatch(),
        Auth::Denied => Some("CAPTCHA_CHALLENGE"),
        Auth::Missing | Auth::Failed => None,
    };
    if via == Via::Gateway {
        // The gateway answers in its own shape, without Jira's login headers.
        return unauthorized("Unauthorized");
    }
    let message = "You are not authenticated. Authentication required to perform this operation.";
    let mut answer = json_answer(
        StatusCode::UNAUTHORIZED,
        json!({ "errorMessages": [message], "errors": {} }),
    );
    set(
        &mut answer,
        "www-authenticate",
        "Basic realm=\"protected-area\"",
    );
    match denied_reason {
        Some(reason) => {
            set(&mut answer, "x-seraph-loginreason", "AUTHENTICATION_DENIED");
            set(&mut answer, "x-authentication-denied-reason", reason);
        }
        None if req.basic().is_some() => {
            set(&mut answer, "x-seraph-loginreason", "AUTHENTICATED_FAILED")
        }
        None => {}
    }
    answer
}

/// As Atlassian's gateway answers a valid token without the call's scope: the message, and
/// the header that marks a scope failure whatever the message says.
fn scope_mismatch() -> Answer {
    let mut answer = unauthorized("Unauthorized; scope does not match");
    set(
        &mut answer,
        "x-failure-category",
        "FAILURE_CLIENT_SCOPE_CHECK",
    );
    answer
}

/// The org admin API: the org's API key as a Bearer token, then list or delete.
fn org_call(state: &SandboxState, req: &Req, route: &OrgRoute) -> Answer {
    let Some(org) = &state.directory.org else {
        return not_found("Not Found");
    };
    let bearer = req
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("Bearer "));
    if bearer.map(str::trim) != Some(org.api_key.expose()) {
        return org_answer(org::error(401, "Unauthorized"));
    }
    let account_id = |email: &str| state.account_id_of(email);
    let answer = match (&req.method, route) {
        (
            &Method::GET,
            OrgRoute::List {
                service_accounts: true,
                ..
            },
        ) if !org.service_account_scope => {
            org::error(403, "The API key lacks read:service-accounts-tokens:admin")
        }
        (
            &Method::GET,
            OrgRoute::List {
                org_id,
                service_accounts,
            },
        ) if *org_id == org.id => org::list(
            org,
            *service_accounts,
            &|id| state.is_revoked(id),
            &|t| state.last_active_of(t),
            &account_id,
            req.param("cursor").as_deref(),
        ),
        (&Method::POST, OrgRoute::Workspaces { org_id }) if *org_id == org.id => {
            org::workspaces_page(&state.workspaces(), req.json_body().as_ref())
        }
        (
            &Method::DELETE,
            OrgRoute::Delete {
                account_id: owner,
                token_id,
            },
        ) => {
            // It must exist, belong to the account and not be revoked yet.
            let token = org
                .tokens
                .iter()
                .find(|t| t.id == *token_id && account_id(&t.email) == *owner);
            match token {
                Some(token) if state.revoke(&token.id) => org::OrgAnswer::NoContent,
                _ => org::error(404, "API token not found"),
            }
        }
        (&Method::GET, OrgRoute::List { .. }) | (&Method::POST, OrgRoute::Workspaces { .. }) => {
            org::error(404, "Organization not found")
        }
        _ => org::error(405, "Method Not Allowed"),
    };
    org_answer(answer)
}

fn org_answer(answer: org::OrgAnswer) -> Answer {
    match answer {
        org::OrgAnswer::NoContent => empty(StatusCode::NO_CONTENT),
        org::OrgAnswer::Json(status, body) => json_answer(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            body,
        ),
    }
}

/// The rule-management API. `Err`: a PUT applied whose answer the lost-answer fault drops.
fn api_call(state: &SandboxState, req: &Req, api: &ApiRoute) -> Result<Answer, Dropped> {
    match state.authenticate_via(req.basic(), false, Via::Automation) {
        Auth::Valid(account) if account.admin => {}
        Auth::ScopeMismatch => return Ok(scope_mismatch()),
        Auth::Valid(_) => {
            let title = "User is not authenticated, or user is not a global admin";
            return Ok(error(StatusCode::FORBIDDEN, title));
        }
        _ => return Ok(unauthorized("Unauthorized")),
    }
    if api.cloud_id != state.cloud_id {
        return Ok(not_found("Site not found"));
    }
    if let ApiOp::Rule(uuid) | ApiOp::RuleState(uuid) = &api.op {
        // Another product's rule is not there, as on a real site.
        if state.product_of(uuid).is_some_and(|p| p != api.product) {
            return Ok(rule_not_found());
        }
    }
    Ok(match (&req.method, &api.op) {
        (&Method::GET, ApiOp::Summary) => summary_get(state, req, api),
        (&Method::POST, ApiOp::Summary) => summary_post(state, req, api),
        (&Method::GET, ApiOp::Rule(uuid)) => get_rule(state, req, uuid),
        (&Method::PUT, ApiOp::Rule(uuid)) => put_rule(state, req, uuid)?,
        (&Method::PUT, ApiOp::RuleState(uuid)) => put_state(state, req, uuid),
        (_, ApiOp::Unknown) => not_found("Not Found"),
        _ => error(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed"),
    })
}

/// A page request after its form (query or body) was read.
struct PageRequest {
    cursor: Option<String>,
    limit: Option<usize>,
    state: Option<String>,
    default_limit: usize,
    /// The GET form, whose pages drift when the site is told to (`list_drift`).
    drifts: bool,
}

/// A `limit` outside 1..=100.
struct BadLimit;

impl From<BadLimit> for Answer {
    fn from(_: BadLimit) -> Answer {
        bad_request("limit must be between 1 and 100", "limit")
    }
}

fn parse_limit(raw: Option<&Value>) -> Result<Option<usize>, BadLimit> {
    let Some(raw) = raw.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let n = match raw {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    match n {
        Some(n @ 1..=100) => Ok(Some(n as usize)),
        _ => Err(BadLimit),
    }
}

fn summary_get(state: &SandboxState, req: &Req, api: &ApiRoute) -> Answer {
    let limit = match parse_limit(req.param("limit").map(Value::String).as_ref()) {
        Ok(limit) => limit,
        Err(bad) => return bad.into(),
    };
    let page = PageRequest {
        cursor: req.param("cursor").filter(|c| !c.is_empty()),
        limit,
        state: None,
        default_limit: 100,
        drifts: true,
    };
    summary_page(state, page, api)
}

fn summary_post(state: &SandboxState, req: &Req, api: &ApiRoute) -> Answer {
    let body = if req.body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        match req.json_body().filter(Value::is_object) {
            Some(body) => body,
            None => return unparseable(),
        }
    };
    let limit = match parse_limit(body.get("limit")) {
        Ok(limit) => limit,
        Err(bad) => return bad.into(),
    };
    let rule_state = match body.get("state") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s == "ENABLED" || s == "DISABLED" => Some(s.clone()),
        Some(_) => return bad_request("state must be ENABLED or DISABLED", "state"),
    };
    let page = PageRequest {
        cursor: body["cursor"]
            .as_str()
            .filter(|c| !c.is_empty())
            .map(str::to_owned),
        limit,
        state: rule_state,
        default_limit: 50,
        drifts: false,
    };
    summary_page(state, page, api)
}

fn summary_page(state: &SandboxState, page: PageRequest, api: &ApiRoute) -> Answer {
    let (offset, limit, filter) = match &page.cursor {
        Some(token) => match state.cursor(token) {
            Some(c) => (c.offset, page.limit.unwrap_or(c.limit), c.state),
            None => return bad_request("The cursor is invalid or has expired", "cursor"),
        },
        None => (0, page.limit.unwrap_or(page.default_limit), page.state),
    };
    let shown = if page.drifts {
        drifted(offset, limit, state.list_drift)
    } else {
        offset
    };
    let skips = state.list_skip_at.is_some_and(|at| at == 0 || at == limit);
    let shown = shown + usize::from(skips && offset == limit);
    let (data, total) = state.summaries(&api.product, filter.as_deref(), shown, limit);
    let link = |at: usize| {
        let cursor = state.issue_cursor(at, limit, filter.clone());
        format!("?cursor={cursor}&limit={limit}")
    };
    let next = (offset + limit < total).then(|| {
        let query = link(offset + limit);
        if state.absolute_next_links {
            format!("{}{}rule/summary{query}", state.base_url, api.prefix)
        } else {
            query
        }
    });
    let prev = (offset > 0).then(|| link(offset.saturating_sub(limit)));
    ok_json(json!({
        "links": { "self": link(offset), "next": next, "prev": prev },
        "data": data,
    }))
}

/// Where a drifting page really starts: page p (p >= 1) starts `drift` rules late when p is
/// odd (the rules between are never shown) and `drift` early when p is even (repeating the
/// end of the page before). Cursors keep the true offsets, so the listing still ends.
fn drifted(offset: usize, limit: usize, drift: usize) -> usize {
    match offset / limit.max(1) {
        0 => offset,
        p if p % 2 == 1 => offset + drift,
        _ => offset.saturating_sub(drift),
    }
}

fn get_rule(state: &SandboxState, req: &Req, uuid: &str) -> Answer {
    let redact = match req.param("redactSensitiveFields").as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            return bad_request(
                "redactSensitiveFields must be true or false",
                "redactSensitiveFields",
            )
        }
    };
    match state.read_rule(uuid, redact) {
        Some(envelope) => ok_json(envelope),
        None => rule_not_found(),
    }
}

fn put_rule(state: &SandboxState, req: &Req, uuid: &str) -> Result<Answer, Dropped> {
    let Some(body) = req
        .json_body()
        .filter(|b| b.get("rule").is_some_and(Value::is_object))
    else {
        return Ok(unparseable());
    };
    let read_only: Vec<Value> = ["uuid", "created", "updated"]
        .into_iter()
        .filter(|k| body["rule"].get(*k).is_some())
        .map(|k| {
            error_entry(
                400,
                "INVALID_INPUT",
                "Read-only field",
                Some(&format!("rule.{k}")),
                Some(&format!("{k} is read-only and must not be sent")),
            )
        })
        .collect();
    if !read_only.is_empty() {
        let body = json!({ "errors": read_only });
        return Ok(json_answer(StatusCode::BAD_REQUEST, body));
    }
    match state.write_rule(uuid, body) {
        None => Ok(rule_not_found()),
        Some(Err(PutRejection::ComponentIds)) => {
            let title = "Component ids do not match the existing rule or there are duplicate ids";
            Ok(error(StatusCode::BAD_REQUEST, title))
        }
        Some(Ok(())) if state.faults.lose_put() => {
            state.record(|s| {
                s.lost_puts += 1;
                s.faults_injected += 1;
            });
            Err(Dropped)
        }
        Some(Ok(())) => Ok(ok_json(json!({ "ruleUuid": uuid }))),
    }
}

fn put_state(state: &SandboxState, req: &Req, uuid: &str) -> Answer {
    let Some(body) = req.json_body() else {
        return unparseable();
    };
    let value = match body.get("value").and_then(Value::as_str) {
        Some(v @ ("ENABLED" | "DISABLED")) => v,
        _ => return bad_request("value must be ENABLED or DISABLED", "value"),
    };
    if state.set_state(uuid, value) {
        empty(StatusCode::OK)
    } else {
        rule_not_found()
    }
}

// ---- answers -------------------------------------------------------------------------

fn error_entry(
    status: u16,
    code: &str,
    title: &str,
    field: Option<&str>,
    detail: Option<&str>,
) -> Value {
    let mut e = json!({
        "id": uuid::Uuid::new_v4().to_string(),
        "status": status.to_string(),
        "code": code,
        "title": title,
    });
    if let Some(detail) = detail {
        e["detail"] = json!(detail);
    }
    if let Some(field) = field {
        e["field"] = json!(field);
    }
    e
}

/// An answer with one error, its `code` the status's name (`NOT_FOUND`).
fn error(status: StatusCode, title: &str) -> Answer {
    let reason = status.canonical_reason().unwrap_or("Server Error");
    let code = reason.to_ascii_uppercase().replace(' ', "_");
    let entry = error_entry(status.as_u16(), &code, title, None, None);
    json_answer(status, json!({ "errors": [entry] }))
}

fn bad_request(detail: &str, field: &str) -> Answer {
    let entry = error_entry(
        400,
        "BAD_REQUEST",
        "Invalid request",
        Some(field),
        Some(detail),
    );
    json_answer(StatusCode::BAD_REQUEST, json!({ "errors": [entry] }))
}

fn unparseable() -> Answer {
    error(
        StatusCode::BAD_REQUEST,
        "The request body could not be parsed",
    )
}

fn not_found(title: &str) -> Answer {
    error(StatusCode::NOT_FOUND, title)
}

fn rule_not_found() -> Answer {
    not_found("Rule not found")
}

fn server_error(status: u16) -> Answer {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut answer = error(status, status.canonical_reason().unwrap_or("Server Error"));
    if status == StatusCode::SERVICE_UNAVAILABLE {
        set(&mut answer, "retry-after", "1");
    }
    answer
}

fn too_many_requests(limited: &RateLimited) -> Answer {
    let mut answer = error(StatusCode::TOO_MANY_REQUESTS, "Rate limit exceeded");
    let reset = SystemTime::now() + Duration::from_secs(limited.retry_after_secs);
    set(
        &mut answer,
        "retry-after",
        &limited.retry_after_secs.to_string(),
    );
    if let Some(limit) = limited.limit {
        set(&mut answer, "x-ratelimit-limit", &limit.to_string());
        set(&mut answer, "x-ratelimit-remaining", "0");
        set(&mut answer, "x-ratelimit-reset", &iso8601(reset));
        set(&mut answer, "x-ratelimit-nearlimit", "true");
    }
    set(&mut answer, "ratelimit-reason", "jira-burst-based");
    answer
}

/// A 401 in the gateway's shape (`code`, `message`), without Jira's login headers.
fn unauthorized(message: &str) -> Answer {
    json_answer(
        StatusCode::UNAUTHORIZED,
        json!({ "code": 401, "message": message }),
    )
}

fn ok_json(body: Value) -> Answer {
    json_answer(StatusCode::OK, body)
}

fn json_answer(status: StatusCode, body: Value) -> Answer {
    let mut answer = Response::new(Full::new(Bytes::from(body.to_string())));
    *answer.status_mut() = status;
    set(
        &mut answer,
        "content-type",
        "application/json;charset=UTF-8",
    );
    answer
}

fn empty(status: StatusCode) -> Answer {
    let mut answer = Response::new(Full::new(Bytes::new()));
    *answer.status_mut() = status;
    answer
}

fn set(answer: &mut Answer, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        answer.headers_mut().insert(name, v);
    }
}

/// Headers every Atlassian edge answer carries, and the rate limit's budget where it is sent.
fn finish(mut answer: Answer, budget: Option<Budget>) -> Answer {
    let trace = uuid::Uuid::new_v4().simple().to_string();
    set(&mut answer, "server", "AtlassianEdge");
    set(&mut answer, "atl-traceid", &trace);
    set(&mut answer, "x-arequestid", &trace[..16]);
    set(&mut answer, "x-content-type-options", "nosniff");
    set(&mut answer, "x-xss-protection", "1; mode=block");
    set(
        &mut answer,
        "strict-transport-security",
        "max-age=63072000; includeSubDomains; preload",
    );
    set(
        &mut answer,
        "cache-control",
        "no-cache, no-store, no-transform",
    );
    set(&mut answer, "timing-allow-origin", "*");
    if let Some(budget) = budget {
        set(&mut answer, "x-ratelimit-limit", &budget.limit.to_string());
        set(
            &mut answer,
            "x-ratelimit-remaining",
            &budget.remaining.to_string(),
        );
        if budget.near_limit() {
            set(&mut answer, "x-ratelimit-nearlimit", "true");
        }
    }
    answer
}
