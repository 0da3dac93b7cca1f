//! Where a credential may be sent.
//!
//! autorekey carries an admin's token and, while checking, tokens found inside rules. Every URL
//! a request is about to go to passes through here first, so a pagination link, a redirect or
//! a URL typed by the user can never carry a credential to a host the admin did not mean. The
//! rules are deliberately few and strict:
//!
//! - TLS everywhere, except for loopback addresses (the sandbox and the tests run there);
//! - no user-info in a URL (`https://user:token@host`): it would leak into error messages;
//! - for credentials, only the configured site or Atlassian's own domains, on the default port;
//! - for the admin's credential, stricter still: the API base is the site's own origin or
//!   Atlassian's API gateway, and every URL the server hands back (pagination links,
//!   redirects) must keep the origin of the request it came from. Another loopback port or
//!   another `*.atlassian.net` site is a different origin, and is refused.

use std::net::IpAddr;

use url::{Host, Url};

use super::error::FetchError;

/// The Atlassian domains a credential may be sent to besides the configured site.
const ATLASSIAN_SUFFIXES: [&str; 2] = [".atlassian.net", ".atlassian.com"];
/// Atlassian's API gateway, where the documented Automation API base lives.
const API_GATEWAY: &str = "api.atlassian.com";

/// Accepts a site URL the admin configured: `https`, or `http` on a loopback host only; no
/// user-info. Returns [`FetchError::Policy`] saying why otherwise.
pub fn check_site_url(url: &Url) -> Result<(), FetchError> {
    if url.host().is_none() {
        return Err(refusal(url, "it has no host"));
    }
    if has_userinfo(url) {
        return Err(FetchError::Policy(
            "refusing a URL with a user name or password in it; pass credentials separately".into(),
        ));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        "http" => Err(refusal(
            url,
            "plain http is allowed only for loopback addresses",
        )),
        _ => Err(refusal(url, "only https URLs are supported")),
    }
}

/// Decides which URLs may receive a credential, given the site the admin configured.
#[derive(Clone, Debug)]
pub struct HostPolicy {
    site: Url,
}

impl HostPolicy {
    pub fn new(site: Url) -> Self {
        HostPolicy { site }
    }

    /// The configured site.
    pub fn site(&self) -> &Url {
        &self.site
    }

    /// True for the configured site's origin, and for `*.atlassian.net`, `*.atlassian.com`
    /// (which includes `api.atlassian.com`) over https on port 443. Plain http is allowed only
    /// for loopback hosts, and only when the configured site is itself on loopback (a sandbox
    /// or a test): a real site's credentials have no business on this machine's ports.
    pub fn allows(&self, url: &Url) -> bool {
        if has_userinfo(url) || url.host().is_none() {
            return false;
        }
        if same_origin(url, &self.site) && check_site_url(url).is_ok() {
            return true;
        }
        if is_loopback(url) {
            return is_loopback(&self.site) && matches!(url.scheme(), "http" | "https");
        }
        https_443(url, is_atlassian_domain)
    }

    /// The Automation API base the admin's credential may be sent to: the site's own origin,
    /// or Atlassian's API gateway (`https://api.atlassian.com`), the documented base.
    pub fn require_api_base(&self, base: &Url) -> Result<(), FetchError> {
        let gateway = https_443(base, |h| h.eq_ignore_ascii_case(API_GATEWAY));
        if !has_userinfo(base) && (same_origin(base, &self.site) || gateway) {
            Ok(())
        } else {
            Err(refusal(
                base,
                "the API base must be on the site itself or https://api.atlassian.com",
            ))
        }
    }

    /// [`Self::allows`] as a `Result`, for call sites that stop on refusal.
    pub fn require(&self, url: &Url) -> Result<(), FetchError> {
        if self.allows(url) {
            Ok(())
        } else {
            Err(refusal(
                url,
                "a credential may go only to the configured site or Atlassian's own hosts",
            ))
        }
    }
}

/// Refuses `url` unless it has the origin (scheme, host, port) of `from`, the URL whose
/// answer named it: a pagination link or redirect never moves a credential elsewhere.
pub fn require_same_origin(url: &Url, from: &Url) -> Result<(), FetchError> {
    if same_origin(url, from) && !has_userinfo(url) {
        Ok(())
    } else {
        Err(refusal(
            url,
            "the server pointed to another origin; the credential stays with the site it was sent to",
        ))
    }
}

/// A URL as it may appear in a message: user-info and query (cursors) removed. An address
/// without a host (`user:password@host` typed without a scheme parses so) is not shown at
/// all: what looks like its scheme and path is the user name and password.
pub fn display_url(url: &Url) -> String {
    if url.host().is_none() || url.cannot_be_a_base() {
        return "an address without a host".to_owned();
    }
    let mut shown = url.clone();
    // Both setters fail only for URLs that cannot carry user-info; nothing to strip then.
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_query(None);
    shown.set_fragment(None);
    shown.to_string()
}

fn refusal(url: &Url, why: &str) -> FetchError {
    FetchError::Policy(format!("refusing {}: {why}", display_url(url)))
}

fn has_userinfo(url: &Url) -> bool {
    !url.username().is_empty() || url.password().is_some()
}

fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host() == b.host()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// `https` on port 443, to a host `host` accepts.
fn https_443(url: &Url, host: impl FnOnce(&str) -> bool) -> bool {
    url.scheme() == "https"
        && url.port_or_known_default() == Some(443)
        && url.host_str().is_some_and(host)
}

/// A host under `suffix` (`.atlassian.net`), not the suffix itself.
fn is_under(host: &str, suffix: &str) -> bool {
    host.len() > suffix.len() && host.ends_with(suffix)
}

pub(crate) fn is_atlassian_domain(host: &str) -> bool {
    ATLASSIAN_SUFFIXES
        .iter()
        .any(|suffix| is_under(host, suffix))
}

/// An Atlassian Cloud site's own address: `https://NAME.atlassian.net` on port 443. A site
/// the admin did not name (one an org's workspaces list gives) must be one: a listed host
/// is server text, and the admin's credentials go only to Atlassian's hosts and the sites
/// the admin configured.
pub fn is_atlassian_site(url: &Url) -> bool {
    https_443(url, |h| is_under(h, ".atlassian.net"))
}

/// 127.0.0.0/8, `::1` and `localhost`. IPv4-mapped IPv6 forms are deliberately not loopback:
/// they are an unusual spelling and a refusal is the safe answer.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn site_urls_need_tls_unless_loopback() {
        for ok in [
            "https://acme.atlassian.net/",
            "https://jira.example.com",
            "http://127.0.0.1:8080/",
            "http://127.9.9.9/",
            "http://[::1]:3000/",
            "http://localhost:3000/",
        ] {
            assert!(check_site_url(&url(ok)).is_ok(), "{ok}");
        }
        for bad in [
            "http://acme.atlassian.net/",
            "http://10.0.0.1/",
            "http://[::ffff:127.0.0.1]/",
            "ftp://acme.atlassian.net/",
            "https://me:secret@acme.atlassian.net/",
        ] {
            let err = check_site_url(&url(bad)).unwrap_err();
            assert!(matches!(err, FetchError::Policy(_)), "{bad}");
            assert!(!err.to_string().contains("secret"), "{err}");
        }
    }

    #[test]
    fn credentials_go_to_the_site_or_atlassian_only() {
        let policy = HostPolicy::new(url("https://jira.corp.example/"));
        for ok in [
            "https://jira.corp.example/rest/api/3/myself",
            "https://acme.atlassian.net/x",
            "https://api.atlassian.com/automation/public/jira/1/rest/v1/",
            "https://x.atlassian.com:443/",
        ] {
            assert!(policy.allows(&url(ok)), "{ok}");
        }
        for bad in [
            "http://jira.corp.example/",
            "https://jira.corp.example:8443/",
            "https://atlassian.net/",
            "https://evilatlassian.net/",
            "https://acme.atlassian.net.evil.com/",
            "https://acme.atlassian.net:8443/",
            "http://acme.atlassian.net/",
            "https://u:p@acme.atlassian.net/",
            "http://127.0.0.1:9000/",
        ] {
            assert!(!policy.allows(&url(bad)), "{bad}");
        }
    }

    #[test]
    fn loopback_site_allows_other_loopback_ports() {
        let policy = HostPolicy::new(url("http://127.0.0.1:4000/"));
        assert!(policy.allows(&url("http://127.0.0.1:4000/rest")));
        assert!(policy.allows(&url("http://localhost:5000/")));
        assert!(!policy.allows(&url("http://10.1.1.1:4000/")));
        assert!(policy.allows(&url("https://acme.atlassian.net/")));
    }

    #[test]
    fn the_admin_credential_keeps_the_site_origin() {
        let policy = HostPolicy::new(url("http://127.0.0.1:4000/"));
        assert!(policy
            .require_api_base(&url("http://127.0.0.1:4000/api/"))
            .is_ok());
        assert!(policy
            .require_api_base(&url(
                "https://api.atlassian.com/automation/public/jira/x/rest/v1/"
            ))
            .is_ok());
        for bad in [
            "http://127.0.0.1:4001/api/",
            "http://localhost:4000/api/",
            "https://other.atlassian.net/gateway/api/",
            "http://api.atlassian.com/",
        ] {
            assert!(policy.require_api_base(&url(bad)).is_err(), "{bad}");
        }
        let from = url("https://acme.atlassian.net/gateway/api/rule/summary");
        assert!(require_same_origin(&url("https://acme.atlassian.net/x?c=1"), &from).is_ok());
        for bad in [
            "https://evil.atlassian.net/x",
            "https://acme.atlassian.net:8443/x",
            "http://acme.atlassian.net/x",
            "https://u:p@acme.atlassian.net/x",
        ] {
            assert!(require_same_origin(&url(bad), &from).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_spelling_of_another_host_in_a_next_link_is_refused() {
        let from = url("https://acme.atlassian.net/gateway/api/rule/summary?limit=100");
        let resolved = |link: &str| from.join(link).unwrap();
        for bad in [
            "//evil.example/rule/summary",
            "\\\\evil.example\\rule",
            "http:/evil.example/x",
            "https://acme.atlassian.net@evil.example/x",
            "https://me@acme.atlassian.net/x",
            "https://acme.atlassian.net./x",
            "https://acme.atlassian.net:8443/x",
            "https://acme.atl\u{430}ssian.net/x",
            "https://other.atlassian.net/x",
        ] {
            assert!(require_same_origin(&resolved(bad), &from).is_err(), "{bad}");
        }
        // The same origin, however spelled, is the same site.
        for same in [
            "https://ACME.Atlassian.NET:443/x?cursor=2",
            "?cursor=2",
            "rule/summary?cursor=2",
            "/gateway/api/rule/summary?cursor=2",
        ] {
            assert!(
                require_same_origin(&resolved(same), &from).is_ok(),
                "{same}"
            );
        }
    }

    #[test]
    fn an_address_without_a_host_is_never_shown() {
        // `user:password@host` without a scheme parses as scheme `user`, path `password@host`.
        let typed = url("admin:hunter2secret@acme.atlassian.net");
        let err = check_site_url(&typed).unwrap_err().to_string();
        assert!(!err.contains("hunter2") && !err.contains("admin"), "{err}");
    }

    #[test]
    fn display_url_strips_userinfo_and_query() {
        let shown = display_url(&url("https://me:pw@h.example/p?cursor=abc"));
        assert_eq!(shown, "https://h.example/p");
    }
}
