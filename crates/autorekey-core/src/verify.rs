//! `scan --verify`'s decisions: which credential is checked, once, where, and what a live
//! answer that only the gateway gave means for the rules that send it to the site.
//!
//! Why it is shaped so:
//! - Pure, so every case is a test: the command reads the rules, asks each site its cloud
//!   id and sends the checks; this module only decides. A credential goes only where the
//!   rules already send it (the site, its gateway address, another cloud id's gateway form,
//!   or an Atlassian host the host policy allows, given as `allows`), never to a place a
//!   rule does not name: a secret sent only elsewhere may not be an Atlassian one.
//! - One credential is checked once: it is keyed by its lower-cased user and the token's
//!   identity ([`VerifyKey`]), since one token may show a plain fingerprint in one rule and
//!   a keyed one in another, and an API token belongs to the account, not to a site, so one
//!   verdict settles it.

use std::collections::BTreeSet;

use url::Url;

use crate::detect::{Finding, Scheme, Status};
use crate::gateway::ATLASSIAN_GATEWAY;

/// One credential: lower-cased user and the token's identity
/// ([`crate::secret::Token::identity`]).
pub type VerifyKey = (String, String);

/// Where a credential may be checked (by the client's `verify`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum CheckAt {
    /// A site's origin: the classic form there and, when it is the configured site, the
    /// gateway form with its cloud id.
    Site(Url),
    /// The gateway form for this cloud id only (a rule calling
    /// `api.atlassian.com/ex/{product}/{cloudId}/...` of another site).
    Gateway(String),
}

/// Where a rule sends a credential, as far as `--verify` may rely on it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Target {
    /// `{{baseUrl}}`: the site itself.
    Site,
    /// An absolute URL's origin.
    Origin(String),
    /// The gateway form `{origin}/ex/{product}/{cloudId}/...` (on api.atlassian.com outside
    /// tests): a scoped or service-account token's address.
    Gateway { origin: String, cloud_id: String },
    /// Another smart value, no URL at all, or a URL that does not parse: unknown, so the
    /// credential is never sent anywhere on its account (it may not be an Atlassian one).
    Unknown,
}

impl Target {
    /// Where a rule's request URL (`None`: the finding has none) sends its credential.
    pub fn of(url: Option<&str>) -> Target {
        let Some(url) = url.map(str::trim_start) else {
            return Target::Unknown;
        };
        let base = url.strip_prefix("{{baseUrl}}");
        if base.is_some_and(|rest| rest.is_empty() || rest.starts_with('/')) {
            return Target::Site;
        }
        match Url::parse(url) {
            Ok(u) if !url.starts_with("{{") => {
                let origin = u.origin().ascii_serialization();
                match crate::gateway::cloud_id(&u) {
                    Some(cloud_id) => Target::Gateway { origin, cloud_id },
                    None => Target::Origin(origin),
                }
            }
            _ => Target::Unknown,
        }
    }

    /// In a scan of several sites, `{{baseUrl}}` is the rule's own site: named by its
    /// origin, so the check goes to that site.
    pub fn at_site(self, site: &Url) -> Target {
        match self {
            Target::Site => Target::Origin(site.origin().ascii_serialization()),
            other => other,
        }
    }
}

/// Only Basic credentials whose user is an email can be checked against `/myself`: the
/// credential's key and where its rule sends it.
pub fn verify_key(f: &Finding) -> Option<(VerifyKey, Target)> {
    if f.scheme != Scheme::Basic || f.status != Status::Literal {
        return None;
    }
    let user = f.user.clone().filter(|u| u.contains('@'))?;
    let fp = crate::plan::token_identity(f)?.to_string();
    Some((
        (user.to_ascii_lowercase(), fp),
        Target::of(f.target_url.as_deref()),
    ))
}

/// What decides where one site's client may check a credential.
pub struct Places<'a> {
    /// The configured site.
    pub site: &'a Url,
    /// The configured gateway (api.atlassian.com, or a sandbox standing in for it).
    pub gateway: &'a Url,
    /// The site's cloud id, when it could be read.
    pub own_cloud: Option<&'a str>,
}

impl Places<'_> {
    /// Where this site's client checks a credential the rules send to `targets`: the site
    /// when any rule sends it there (or to the site's own gateway address), else another
    /// cloud id's gateway form, else an origin that `allows` (the host policy) lets a
    /// credential go to; `None`: nowhere.
    pub fn check_at(
        &self,
        targets: &BTreeSet<Target>,
        allows: impl Fn(&Url) -> bool,
    ) -> Option<CheckAt> {
        let own = Target::Origin(self.site.origin().ascii_serialization());
        // The check goes to the configured gateway whatever origin the rule names, so a
        // rule naming api.atlassian.com counts even when a sandbox stands in for it.
        let gateways = [
            self.gateway.origin().ascii_serialization(),
            ATLASSIAN_GATEWAY.trim_end_matches('/').to_owned(),
        ];
        let ours = |t: &Target| match t {
            Target::Site => true,
            Target::Gateway { origin, cloud_id } => {
                gateways.contains(origin) && self.own_cloud == Some(cloud_id.as_str())
            }
            other => *other == own,
        };
        if targets.iter().any(ours) {
            return Some(CheckAt::Site(self.site.clone()));
        }
        let other_cloud = targets.iter().find_map(|t| match t {
            Target::Gateway { origin, cloud_id } if gateways.contains(origin) => {
                Some(cloud_id.clone())
            }
            _ => None,
        });
        if let Some(cloud_id) = other_cloud {
            return Some(CheckAt::Gateway(cloud_id));
        }
        targets
            .iter()
            .filter_map(|t| match t {
                Target::Origin(origin) => Url::parse(origin).ok(),
                _ => None,
            })
            .find(|u| allows(u))
            .map(CheckAt::Site)
    }
}

/// Which client checks a credential, and where, from each client's site and answer of
/// [`Places::check_at`]: one whose own site a rule sends it to, else the first that may
/// check it somewhere (an API token belongs to the account, not to a site, so one verdict
/// settles it).
pub fn check_where<'u, C>(
    places: impl IntoIterator<Item = (C, &'u Url, Option<CheckAt>)>,
) -> Option<(C, CheckAt)> {
    let mut first = None;
    for (client, site, at) in places {
        match at {
            Some(CheckAt::Site(url)) if url == *site => return Some((client, CheckAt::Site(url))),
            Some(at) if first.is_none() => first = Some((client, at)),
            _ => {}
        }
    }
    first
}

/// A live token (`live`) that only the gateway took (`checked_by` is a gateway-form
/// address), sent by some rule to the site itself: that rule's requests fail, though the
/// token is alive.
pub fn sent_to_site_but_gateway_only(
    live: bool,
    checked_by: Option<&Url>,
    site: &Url,
    targets: &BTreeSet<Target>,
) -> bool {
    let own = Target::Origin(site.origin().ascii_serialization());
    live && checked_by.is_some_and(|u| crate::gateway::cloud_id(u).is_some())
        && targets.iter().any(|t| *t == Target::Site || *t == own)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLOUD: &str = "5b1e2c7a-0d4f";
    const OTHER: &str = "9c0d1e2f-3a4b";

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    fn targets(urls: &[Option<&str>]) -> BTreeSet<Target> {
        urls.iter().map(|u| Target::of(*u)).collect()
    }

    fn gateway(cloud: &str) -> String {
        format!("https://api.atlassian.com/ex/jira/{cloud}/rest/api/3/myself")
    }

    #[test]
    fn a_rule_url_says_where_its_credential_goes_and_an_unknown_one_nowhere() {
        assert_eq!(
            Target::of(Some(" {{baseUrl}}/rest/api/3/issue")),
            Target::Site
        );
        assert_eq!(Target::of(Some("{{baseUrl}}")), Target::Site);
        assert_eq!(Target::of(Some("{{baseUrlX}}/rest")), Target::Unknown);
        assert_eq!(Target::of(Some("{{issue.url}}")), Target::Unknown);
        assert_eq!(Target::of(Some("not a url")), Target::Unknown);
        assert_eq!(Target::of(None), Target::Unknown);
        assert_eq!(
            Target::of(Some("https://Acme.atlassian.net/rest/api/3/issue?x=1")),
            Target::Origin("https://acme.atlassian.net".into())
        );
        assert_eq!(
            Target::of(Some(&gateway(CLOUD))),
            Target::Gateway {
                origin: "https://api.atlassian.com".into(),
                cloud_id: CLOUD.into()
            }
        );
        let site = url("https://b.atlassian.net/");
        assert_eq!(
            Target::Site.at_site(&site),
            Target::Origin("https://b.atlassian.net".into())
        );
        assert_eq!(Target::Unknown.at_site(&site), Target::Unknown);
    }

    #[test]
    fn a_credential_is_checked_at_its_own_site_else_another_cloud_else_an_allowed_host() {
        let (site, gw) = (
            url("https://acme.atlassian.net/"),
            url("https://api.atlassian.com/"),
        );
        let places = Places {
            site: &site,
            gateway: &gw,
            own_cloud: Some(CLOUD),
        };
        let atlassian = |u: &Url| u.host_str().is_some_and(|h| h.ends_with(".atlassian.net"));
        let at = |urls: &[Option<&str>]| places.check_at(&targets(urls), atlassian);
        let own = Some(CheckAt::Site(site.clone()));
        assert_eq!(at(&[Some("{{baseUrl}}/rest")]), own);
        assert_eq!(at(&[Some("https://acme.atlassian.net/rest")]), own);
        assert_eq!(
            at(&[Some(&gateway(CLOUD))]),
            own,
            "the site's own gateway form"
        );
        assert_eq!(
            at(&[Some(&gateway(OTHER)), Some("https://x.atlassian.net/")]),
            Some(CheckAt::Gateway(OTHER.into()))
        );
        assert_eq!(
            at(&[Some("https://x.atlassian.net/rest")]),
            Some(CheckAt::Site(url("https://x.atlassian.net")))
        );
        assert_eq!(at(&[Some("https://api.github.com/repos")]), None);
        assert_eq!(at(&[Some("{{webhookUrl}}"), None]), None);
        // Without its cloud id, the site's gateway form is another cloud's.
        let unknown_cloud = Places {
            own_cloud: None,
            ..places
        };
        assert_eq!(
            unknown_cloud.check_at(&targets(&[Some(&gateway(CLOUD))]), atlassian),
            Some(CheckAt::Gateway(CLOUD.into()))
        );
    }

    #[test]
    fn the_client_whose_own_site_is_named_checks_else_the_first_that_can() {
        let (a, b) = (url("https://a.example/"), url("https://b.example/"));
        let gw = CheckAt::Gateway(CLOUD.into());
        let own_b = CheckAt::Site(b.clone());
        assert_eq!(
            check_where([("a", &a, Some(gw.clone())), ("b", &b, Some(own_b.clone()))]),
            Some(("b", own_b.clone()))
        );
        assert_eq!(
            check_where([("a", &a, None), ("b", &b, Some(gw.clone()))]),
            Some(("b", gw.clone()))
        );
        // Another site's origin is no client's own: the first that may check it does.
        assert_eq!(
            check_where([("a", &a, Some(own_b.clone())), ("c", &a, Some(gw))]),
            Some(("a", own_b))
        );
        assert_eq!(check_where([("a", &a, None)]), None);
    }

    #[test]
    fn a_live_token_only_the_gateway_took_is_flagged_where_a_rule_sends_it_to_the_site() {
        let site = url("https://acme.atlassian.net/");
        let by_gateway = url(&gateway(CLOUD));
        let classic = url("https://acme.atlassian.net/rest/api/3/myself");
        let to_site = targets(&[Some("{{baseUrl}}/rest")]);
        let to_origin = targets(&[Some("https://acme.atlassian.net/rest")]);
        let to_gateway = targets(&[Some(&gateway(CLOUD))]);
        let flag = |live, by: Option<&Url>, t: &BTreeSet<Target>| {
            sent_to_site_but_gateway_only(live, by, &site, t)
        };
        assert!(flag(true, Some(&by_gateway), &to_site));
        assert!(flag(true, Some(&by_gateway), &to_origin));
        assert!(
            !flag(true, Some(&by_gateway), &to_gateway),
            "rules use the gateway"
        );
        assert!(!flag(true, Some(&classic), &to_site), "the site took it");
        assert!(!flag(false, Some(&by_gateway), &to_site), "dead is dead");
        assert!(!flag(true, None, &to_site));
    }

    #[test]
    fn only_a_literal_basic_credential_of_an_email_user_is_checked_once_by_identity() {
        use crate::secret::{Credential, Token};
        let token = format!("FAKE-{}", uuid::Uuid::new_v4().simple());
        let rule = |auth: String| {
            serde_json::json!({"components": [{"component": "ACTION",
                "type": "jira.issue.outgoing.webhook", "value": {
                "url": "{{baseUrl}}/rest/api/3/issue", "method": "POST",
                "headers": [{"name": "Authorization", "value": auth}]}}]})
        };
        let basic = |user: &str| {
            let value = Credential::new(user, Token::new(token.as_str())).basic_value();
            rule(format!("Basic {value}"))
        };
        let key = |rule: serde_json::Value| {
            let found = crate::detect::detect(&rule);
            assert_eq!(found.len(), 1, "{found:?}");
            verify_key(&found[0])
        };
        let (id, target) = key(basic("Alice@Acme.example")).expect("a Basic email credential");
        assert_eq!(id.0, "alice@acme.example");
        assert_eq!(id.1, Token::new(token.as_str()).identity().to_string());
        assert_eq!(target, Target::Site);
        assert_eq!(
            key(basic("deploy-bot")),
            None,
            "no email: no /myself to ask"
        );
        assert_eq!(key(rule(format!("Bearer {token}"))), None);
        assert_eq!(key(rule("***".into())), None);
    }
}
