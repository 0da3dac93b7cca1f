//! Which fingerprint a finding is shown with: plain for Atlassian account credentials,
//! keyed for every other secret.
//!
//! A plain fingerprint (12 hex of SHA-256) is the same on every machine, so an admin can
//! match a token from a password manager with `autorekey fingerprint`; that is safe only
//! for secrets too random to guess, which Atlassian API tokens are (ATATT3… about 192
//! characters, 24 random characters for legacy ones, and Atlassian refuses account
//! passwords over Basic). Anything else found in a rule may be a human-chosen password, for
//! which 48 bits of an unkeyed hash are a dictionary oracle, so it is keyed.
//!
//! The decision is pure (the finding's token shape, scheme, location and target host) and
//! made here only, for every kind of finding the detector makes now or later: a new
//! detection is keyed unless it is an Atlassian-shaped token or a credential sent to an
//! Atlassian host.
//!
//! The same facts (scheme, user, location, target host) also say whether a Basic value
//! may log in to Atlassian as an account autorekey cannot name
//! ([`Finding::unattributable_basic_to_atlassian`]), the one question `revoke` and the
//! rotation's verdict ask of it; it lives here beside the host rule it shares.

use crate::secret::{Fingerprint, FingerprintKind};

use super::{Finding, Location, Scheme, Status};

/// Hosts that receive Atlassian account credentials.
const ATLASSIAN_DOMAINS: [&str; 3] = ["atlassian.net", "atlassian.com", "jira.com"];

impl Finding {
    /// Plain for an Atlassian API token wherever it is, and for a Basic (user and token) or
    /// Bearer credential sent to an Atlassian host or the site itself (`{{baseUrl}}`, or a
    /// request whose URL the rule does not say); keyed for the rest: webhook tokens, query
    /// and header secrets, any credential sent to a host that is not Atlassian's, and any
    /// credential whose destination is not known from the rule (a variable, a lookup table,
    /// a field of an unknown action): a `Basic` value in a variable may wrap a password
    /// for anything, and a plain hash of it beside its user would be a guessing oracle.
    pub fn fingerprint_kind(&self) -> FingerprintKind {
        let target = self.target_url.as_deref();
        // A header or the URL authenticates the request to its host; a body goes to that
        // host as data (a relay's body is the relay's). A variable has no request yet.
        let known_to_atlassian = match self.location {
            Location::Header | Location::Url => sends_to_atlassian(target),
            Location::Body => target.is_some() && sends_to_atlassian(target),
            _ => false,
        };
        if self
            .token
            .as_ref()
            .is_some_and(|t| is_atlassian_token(t.expose()))
            || (self.is_account_scheme() && known_to_atlassian)
        {
            FingerprintKind::Plain
        } else {
            FingerprintKind::Keyed
        }
    }

    /// Whether this may be an Atlassian account's credential, failing closed: an
    /// Atlassian-shaped token, or a Basic (with a user) or Bearer credential unless a rule
    /// sends it to a host that is not Atlassian's (one whose destination the rule does not
    /// say may well end up at Atlassian). What `revoke` must count as a possible use of the
    /// account's token; broader than the plain fingerprint, which needs a known Atlassian
    /// destination.
    pub fn may_be_atlassian_credential(&self) -> bool {
        let target = self.target_url.as_deref();
        let sent_elsewhere = matches!(self.location, Location::Header | Location::Url)
            && !sends_to_atlassian(target);
        self.token
            .as_ref()
            .is_some_and(|t| is_atlassian_token(t.expose()))
            || (self.is_account_scheme()
                && !sent_elsewhere
                && self.location != Location::WebhookToken)
    }

    fn is_account_scheme(&self) -> bool {
        match self.scheme {
            Scheme::Basic => self.user.is_some(),
            Scheme::Bearer => true,
            _ => false,
        }
    }

    /// A Basic value that may log in to Atlassian but names no account autorekey can
    /// check: it does not decode to `user:token` (so its token is unknown), or its user is
    /// no email (Atlassian's users are). Sent to an Atlassian host or the site, or, in a
    /// body or a variable, to wherever the rule passes it on. It may be any account's
    /// token, the one about to be revoked included: `revoke` and the verdict hold on it.
    pub fn unattributable_basic_to_atlassian(&self) -> bool {
        let named = self.user.as_deref().is_some_and(super::loose::is_email);
        let authenticates_request = matches!(self.location, Location::Header | Location::Url);
        let to_atlassian = !authenticates_request || sends_to_atlassian(self.target_url.as_deref());
        self.status == Status::Literal && self.scheme == Scheme::Basic && !named && to_atlassian
    }

    /// The one notion of "cannot read": this place may hold an API token of `account` (of
    /// any account when `None`), and autorekey cannot read which. A masked value (`***`,
    /// or a hidden one left out), a managed secret or a smart value used as Basic auth or
    /// with no scheme it can see and sent to Atlassian, or a Basic value that names no
    /// account ([`Self::unattributable_basic_to_atlassian`]); never an incoming webhook's
    /// own token, nor a value written beside another user. Asked by `scan --fail-on
    /// unreadable`, by `scan --account` (it keeps these places) and by the rotation's
    /// verdict (`plan::Census`, `plan::plan_rule`): each says the same of the same rule.
    pub fn may_hide_token_of(&self, account: Option<&str>) -> bool {
        if self.location == Location::WebhookToken {
            return false;
        }
        if self.unattributable_basic_to_atlassian() {
            return true;
        }
        let owner_may_be = match (self.user.as_deref(), account) {
            (Some(user), Some(account)) => user.trim().eq_ignore_ascii_case(account.trim()),
            _ => true,
        };
        let unreadable = match self.status {
            Status::Masked => true,
            Status::SecretRef | Status::Dynamic => {
                matches!(self.scheme, Scheme::Basic | Scheme::Unknown)
                    && sends_to_atlassian(self.target_url.as_deref())
            }
            Status::Literal | Status::Placeholder => false,
        };
        unreadable && owner_may_be
    }
}

/// One fingerprint per token among `findings`, in first-seen order: the plain one if any
/// of its findings shows it plain (the same output shows it anyway), else the keyed one.
/// For lists that name tokens rather than places, such as the old tokens to revoke.
pub fn one_per_token<'a>(findings: impl IntoIterator<Item = &'a Finding>) -> Vec<Fingerprint> {
    shown_per_token(findings)
        .into_iter()
        .map(|(_, shown)| shown)
        .collect()
}

/// [`one_per_token`] with each token's identity ([`crate::secret::Token::identity`]: never
/// shown), for comparing the tokens with others of this run whatever form each place shows.
pub fn shown_per_token<'a>(
    findings: impl IntoIterator<Item = &'a Finding>,
) -> Vec<(Fingerprint, Fingerprint)> {
    let mut seen: Vec<(Fingerprint, Fingerprint)> = Vec::new();
    for f in findings {
        let (Some(token), Some(shown)) = (f.token.as_ref(), f.fingerprint()) else {
            continue;
        };
        let identity = token.identity();
        match seen.iter_mut().find(|(id, _)| *id == identity) {
            Some((_, kept)) => kept.prefer_plain(shown),
            None => seen.push((identity, shown)),
        }
    }
    seen
}

/// A current Atlassian API token (ATATT3…) or scoped/service token (ATSTT…) of the length
/// and alphabet that make it random by construction: the prefix alone is typed by anyone.
/// Length varies, so only a generous floor is required.
pub(super) fn is_atlassian_token(t: &str) -> bool {
    super::looks_like_atlassian_token(t)
        && t.len() >= 64
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'='))
}

/// Whether a credential sent to `url` may go to Atlassian: an Atlassian host (any
/// subdomain of atlassian.net, atlassian.com or jira.com, in any case, with or without a
/// trailing dot), the site itself (a smart value such as `{{baseUrl}}`), or a destination
/// the rule does not say or that names no host (taken as the site). The one answer for
/// every question of the kind: which fingerprint a place shows, and whether a value
/// autorekey cannot read may be the account's token (`plan::Census`).
pub fn sends_to_atlassian(url: Option<&str>) -> bool {
    let Some(url) = url.map(str::trim) else {
        return true;
    };
    if url.starts_with("{{") {
        return true;
    }
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(is_atlassian_host))
        .unwrap_or(true)
}

/// One of Atlassian's domains or a subdomain of one.
pub fn is_atlassian_host(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    ATLASSIAN_DOMAINS
        .iter()
        .any(|d| host == *d || host.ends_with(&format!(".{d}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::detect;
    use crate::secret::{Credential, FingerprintKey, Token};
    use serde_json::{json, Value};

    fn fake(tag: &str) -> String {
        format!("FAKE-{tag}-{}", uuid::Uuid::new_v4().simple())
    }

    fn request(url: &str, headers: Value) -> Value {
        json!({"uuid": "r1", "name": "t", "trigger": {"id": "1", "component": "TRIGGER",
            "type": "jira.manual.trigger.issue", "value": {}},
            "components": [{"id": "2", "component": "ACTION",
            "type": "jira.issue.outgoing.webhook", "schemaVersion": 1,
            "value": {"url": url, "method": "POST", "headers": headers, "customBody": ""},
            "children": [], "conditions": []}]})
    }

    fn basic(user: &str, token: &str) -> Value {
        let value = Credential::new(user, Token::new(token)).basic_value();
        json!([{"name": "Authorization", "value": format!("Basic {value}")}])
    }

    fn key(text: &str) -> FingerprintKey {
        FingerprintKey::from_text(text).unwrap()
    }

    #[test]
    fn a_weak_url_password_to_another_host_is_keyed() {
        let rule = request("https://bob:hunter2@ci.example.org/job/x", json!([]));
        let f = detect(&rule);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].fingerprint_kind(), FingerprintKind::Keyed);
        let k = key("team-key-0123456789abcdef");
        let shown = f[0].fingerprint_with(Some(&k)).unwrap();
        assert_eq!(shown, Fingerprint::keyed("hunter2", Some(&k)));
        assert!(shown.as_str().starts_with("k:") && shown.as_str().len() == 14);
        assert!(!shown.as_str().contains(Fingerprint::of("hunter2").as_str()));
    }

    #[test]
    fn different_keys_give_different_fingerprints() {
        let rule = request("https://hooks.example.com/x?token=letmein", json!([]));
        let f = &detect(&rule)[0];
        let a = f
            .fingerprint_with(Some(&key("first-key-0123456789")))
            .unwrap();
        let b = f
            .fingerprint_with(Some(&key("second-key-0123456789")))
            .unwrap();
        assert_ne!(a, b);
        assert_eq!(
            f.fingerprint_with(None).unwrap().as_str(),
            "k:????????????",
            "no key: never the unkeyed hash"
        );
    }

    #[test]
    fn atlassian_credentials_keep_the_plain_fingerprint() {
        let tok = fake("svc");
        let k = key("team-key-0123456789abcdef");
        for url in [
            "https://acme.atlassian.net/rest/api/3/issue",
            "{{baseUrl}}/rest/api/3/issue",
            "https://API.Atlassian.com/ex/jira/1/rest/api/3/issue",
        ] {
            let f = &detect(&request(url, basic("svc@x.io", &tok)))[0];
            assert_eq!(f.fingerprint_kind(), FingerprintKind::Plain, "{url}");
            assert_eq!(
                f.fingerprint_with(Some(&k)),
                Some(Token::new(&tok).fingerprint())
            );
        }
        // An Atlassian token keeps it wherever it is sent: it is too random to guess.
        let atatt = format!("ATATT3xFfGF0{}", "Ab9_-".repeat(36));
        let f = &detect(&request(
            "https://relay.example.org/",
            basic("svc@x.io", &atatt),
        ))[0];
        assert_eq!(
            f.fingerprint_with(Some(&k)),
            Some(Token::new(&atatt).fingerprint())
        );
    }

    #[test]
    fn a_body_credential_is_plain_only_when_sent_to_atlassian() {
        let tok = fake("relay");
        let b64 = Credential::new("svc@x.io", Token::new(&tok)).basic_value();
        for (url, kind) in [
            ("https://relay.example.org/forward", FingerprintKind::Keyed),
            ("{{baseUrl}}/rest/api/3/issue", FingerprintKind::Plain),
        ] {
            let mut rule = request(url, json!([]));
            rule["components"][0]["value"]["customBody"] = json!(format!(
                "{{\"headers\":{{\"Authorization\":\"Basic {b64}\"}}}}"
            ));
            let f = &detect(&rule)[0];
            assert_eq!(f.location, Location::Body);
            assert_eq!(f.fingerprint_kind(), kind, "{url}");
        }
    }

    /// A `Basic` value in a variable goes nowhere the rule says: it may wrap a weak
    /// password (`summer2024`), so it is keyed unless its token is Atlassian-shaped.
    #[test]
    fn a_variable_credential_is_keyed_unless_atlassian_shaped() {
        let variable = |token: &str| {
            let b64 = Credential::new("svc@x.io", Token::new(token)).basic_value();
            json!({"uuid": "r1", "name": "t", "trigger": {"id": "1", "component": "TRIGGER",
                "type": "jira.manual.trigger.issue", "value": {}},
                "components": [{"id": "2", "component": "ACTION",
                "type": "jira.create.variable", "schemaVersion": 1,
                "value": {"name": {"type": "FREE", "value": "auth"},
                          "query": {"type": "SMART", "value": format!("Basic {b64}")}},
                "children": [], "conditions": []}]})
        };
        let k = key("team-key-0123456789abcdef");
        let f = &detect(&variable("summer2024"))[0];
        assert_eq!(f.location, Location::Variable);
        assert_eq!(f.fingerprint_kind(), FingerprintKind::Keyed);
        assert_eq!(
            f.fingerprint_with(Some(&k)),
            Some(Fingerprint::keyed("summer2024", Some(&k)))
        );
        let atatt = format!("ATATT3xFfGF0{}", "Ab9_-".repeat(36));
        let f = &detect(&variable(&atatt))[0];
        assert_eq!(f.fingerprint_kind(), FingerprintKind::Plain);
    }

    #[test]
    fn other_secrets_are_keyed() {
        let tok = fake("other");
        let cases = [
            request("https://ci.example.org/job", basic("deploy-bot", &tok)),
            request(
                "https://hooks.partner.example/v1",
                json!([{"name": "Authorization", "value": format!("Bearer {tok}")}]),
            ),
            request(
                "{{baseUrl}}/rest",
                json!([{"name": "X-Api-Key", "value": tok.clone()}]),
            ),
            // A look-alike of an Atlassian host is not one.
            request(
                "https://acme.atlassian.net.evil.example/",
                basic("svc@x.io", &tok),
            ),
        ];
        for rule in cases {
            let f = &detect(&rule)[0];
            assert_eq!(f.fingerprint_kind(), FingerprintKind::Keyed, "{f:?}");
        }
    }

    #[test]
    fn a_token_listed_once_shows_plain_if_it_shows_plain_anywhere() {
        let (tok, weak) = (fake("svc"), fake("weak"));
        let relay = detect(&request(
            "https://relay.example.org/",
            basic("svc@x.io", &tok),
        ));
        let site = detect(&request("{{baseUrl}}/x", basic("svc@x.io", &tok)));
        let other = detect(&request("https://ci.example.org/", basic("bot", &weak)));
        let all: Vec<&Finding> = relay.iter().chain(&site).chain(&other).collect();
        let listed = one_per_token(all);
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[0], Token::new(&tok).fingerprint());
        assert!(listed[1].is_keyed());
    }

    /// The one notion of "cannot read", place by place: what may hold an Atlassian
    /// account's token and cannot be read, for any account and for one.
    #[test]
    fn what_may_hide_an_accounts_token() {
        let tok = fake("svc");
        let header = |url: &str, value: &str| {
            request(url, json!([{"name": "Authorization", "value": value}]))
        };
        let site = "{{baseUrl}}/rest/api/3/issue";
        let other = "https://ci.example.org/job";
        let named = format!(
            "Basic {}",
            Credential::new("svc@x.io", Token::new(&tok)).basic_value()
        );
        let undecodable = format!("Basic {}.x", &named[6..14]);
        for (rule, any, svc, bob) in [
            (header(site, "***"), true, true, true),
            (header(other, "***"), true, true, true),
            (header(site, "Basic {{secrets.jira}}"), true, true, true),
            (header(site, "{{auth}}"), true, true, true),
            (header(other, "Basic {{secrets.jira}}"), false, false, false),
            (header(site, "Bearer {{secrets.gh}}"), false, false, false),
            (header(site, &undecodable), true, true, true),
            (header(site, &named), false, false, false),
            (
                header(site, "Bearer YOUR_GITHUB_PAT_WITH_REPO_SCOPE"),
                false,
                false,
                false,
            ),
        ] {
            let found = detect(&rule);
            assert_eq!(found.len(), 1, "{found:?}");
            let f = &found[0];
            assert_eq!(f.may_hide_token_of(None), any, "{f:?}");
            assert_eq!(f.may_hide_token_of(Some("SVC@x.io")), svc, "{f:?}");
            assert_eq!(f.may_hide_token_of(Some("bob@x.io")), bob, "{f:?}");
        }
        // An incoming webhook's own token, masked, is no account's.
        let mut hook = request(site, json!([]));
        hook["trigger"] = json!({"id": "1", "component": "TRIGGER",
            "type": "jira.automation.webhook.trigger", "value": {"webhookToken": "***"}});
        let found = detect(&hook);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(!found[0].may_hide_token_of(None));
    }
}
