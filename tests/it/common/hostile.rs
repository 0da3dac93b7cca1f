//! A small scripted server speaking just enough of the Automation API for `scan`, `rotate`
//! and `restore`, for what the sandbox does not do on purpose (echo tokens back, hide an
//! email, answer with another rule, refuse with 401), and the sites built on it.

use crate::common;
use crate::common::{autorekey, fake_token, Planted};
use crate::rotate_support::ownership::basic;
use crate::rotate_support::*;
use autorekey::secret::Token;
use axum::body::Body;
use axum::http::{Request, Response};
use serde_json::{json, Value};
use std::sync::Arc;

// ------------------------------------------------------------------ a scripted server

/// What the scripted site answers: `(status, headers, body)` for a method, path,
/// Authorization header and request body.
pub(crate) type Script =
    dyn Fn(&str, &str, &str, &str) -> (u16, Vec<(String, String)>, String) + Send + Sync;

/// A scripted site on loopback, on its own runtime, for the binary to talk to.
pub(crate) struct Scripted {
    pub(crate) base: String,
    pub(crate) _rt: tokio::runtime::Runtime,
}

impl Scripted {
    pub(crate) fn start(
        script: impl Fn(&str, &str, &str) -> (u16, Vec<(String, String)>, String)
            + Send
            + Sync
            + 'static,
    ) -> Scripted {
        Scripted::with_bodies(move |method, path, auth, _| script(method, path, auth))
    }

    /// [`Scripted::start`] for a script that reads what is sent (a PUT's rule).
    pub(crate) fn with_bodies(
        script: impl Fn(&str, &str, &str, &str) -> (u16, Vec<(String, String)>, String)
            + Send
            + Sync
            + 'static,
    ) -> Scripted {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let script: Arc<Script> = Arc::new(script);
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let base = format!("http://{}/", listener.local_addr().unwrap());
        let app = axum::Router::new().fallback(move |request: Request<Body>| {
            let script = Arc::clone(&script);
            async move {
                let auth = request
                    .headers()
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                let (method, path) = (request.method().clone(), request.uri().path().to_owned());
                let sent = axum::body::to_bytes(request.into_body(), usize::MAX)
                    .await
                    .unwrap_or_default();
                let sent = String::from_utf8_lossy(&sent);
                let (status, headers, body) = script(method.as_str(), &path, &auth, &sent);
                let mut answer = Response::builder()
                    .status(status)
                    .header("content-type", "application/json");
                for (name, value) in headers {
                    answer = answer.header(name, value);
                }
                answer.body(Body::from(body)).unwrap()
            }
        });
        rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
        Scripted { base, _rt: rt }
    }

    /// The binary pointed at this site as `admin` with `token`.
    pub(crate) fn cmd(&self, admin: &str, token: &str) -> assert_cmd::Command {
        let mut cmd = autorekey();
        cmd.env("AUTOREKEY_SITE", &self.base)
            .env("AUTOREKEY_LOGIN", admin)
            .env("AUTOREKEY_API_TOKEN", token)
            .args(["--api-base", &format!("{}api/", self.base)]);
        cmd
    }
}

pub(crate) fn ok(body: Value) -> (u16, Vec<(String, String)>, String) {
    (200, Vec::new(), body.to_string())
}

/// One planted fixture rule (svc-jira's Basic header), its summary page and its old token.
pub(crate) fn one_rule() -> (Value, String, String) {
    let path = common::fixtures_dir().join("rules/01-triage-ack-comment-basic-v1.json");
    let rule: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let planted = Planted::new(copies_of(&rule, 1));
    let envelope = planted.rules[0].clone();
    let old = planted.fresh(SVC_JIRA_OLD_FIXTURE);
    let uuid = envelope["rule"]["uuid"].as_str().unwrap().to_owned();
    (envelope, uuid, old)
}

/// The admin's and the checked token's `/myself`, the rule list and the rule; `other`
/// answers the rest (the PUT).
pub(crate) fn rule_site(
    admin: (&'static str, String),
    new: (String, Value),
    envelope: Value,
    other: impl Fn(&str, &str) -> (u16, Vec<(String, String)>, String) + Send + Sync + 'static,
) -> Scripted {
    let uuid = envelope["rule"]["uuid"].as_str().unwrap().to_owned();
    let admin_auth = basic(admin.0, &admin.1);
    let new_auth = new.0;
    Scripted::start(move |method, path, auth| match (method, path) {
        ("GET", "/rest/api/3/myself") if auth == admin_auth => {
            ok(json!({"accountId": "acc-admin", "emailAddress": admin.0}))
        }
        ("GET", "/rest/api/3/myself") if auth == new_auth => ok(new.1.clone()),
        ("GET", "/rest/api/3/myself") => (401, Vec::new(), String::new()),
        ("GET", "/api/rule/summary") => ok(json!({"links": {"next": null}, "data": [
            {"uuid": uuid, "name": envelope["rule"]["name"], "state": "ENABLED"}]})),
        ("GET", p) if p == format!("/api/rule/{uuid}") => ok(envelope.clone()),
        (method, path) => other(method, path),
    })
}

pub(crate) const HOSTILE_ADMIN: &str = "admin@hostile.example";

/// A backup of `envelope` (svc-jira's rotation of `site`), in a private folder.
pub(crate) fn backup_of(
    site: &Scripted,
    envelope: &Value,
) -> (tempfile::TempDir, std::path::PathBuf) {
    let root = tempfile::tempdir().unwrap();
    let manifest = autorekey::backup::Manifest {
        site: site.base.clone(),
        product: "jira".into(),
        account: SVC_JIRA.into(),
        new_fingerprint: Token::new(fake_token()).fingerprint().to_string(),
        started_at: autorekey::backup::now_rfc3339(),
        tool: "autorekey test".into(),
        targets: Vec::new(),
    };
    let run = autorekey::backup::BackupRun::create(&root.path().join("backups"), &manifest)
        .expect("a backup run");
    let uuid = envelope["rule"]["uuid"].as_str().unwrap();
    run.save(uuid, envelope).expect("save the rule");
    let dir = run.dir().to_path_buf();
    (root, dir)
}

pub(crate) fn logins(admin_token: &str, new_token: &str) -> [(String, &'static str); 2] {
    [
        (basic(HOSTILE_ADMIN, admin_token), HOSTILE_ADMIN),
        (basic(SVC_JIRA, new_token), SVC_JIRA),
    ]
}
