//! The org's sites, from the organization admin API's workspaces list, for `scan --org`
//! without `--site`.
//!
//! `POST {gateway}/admin/v2/orgs/{orgId}/workspaces` (scope `read:workspaces:admin`, the
//! org key as Bearer) with the body `{"limit": 20}`, then `{"cursor": "<links.next>"}` alone
//! (a cursor may not come with any other property), answers
//! `{"data": [{"id", "type", "attributes": {"name", "typeKey", "type", "status", "hostUrl"}}],
//! "links": {"self", "prev", "next"}}`. How `typeKey` and `hostUrl` are spelled beyond that
//! is not documented, so both are read tolerantly: a host may come without its scheme
//! (`acme.atlassian.net`), a Jira workspace is any type key that starts with `jira`
//! (`jira-software`, `jira-servicedesk`, `jira-core`, `jira`), Confluence's is `confluence`.
//! Workspaces are grouped by host into sites, each with the products it has. A Jira or
//! Confluence workspace that cannot be used (no host, or one refused below) is kept as an
//! unread target with why: the scan names it and is incomplete, so an org's site is never
//! dropped in silence. Other products' workspaces (Loom, Bitbucket, ...) are only noted.
//!
//! A host is server text the admin's credentials will be sent to, so it must be a site's
//! address and nothing more (no path, user, query), https for a real org; an org served by
//! a loopback sandbox may list only loopback sites, and a real org none. The one path let
//! through is Confluence's base path, `/wiki`, which names the site itself.

use std::collections::HashSet;

use serde_json::{json, Value};
use url::Url;

use super::{OrgClient, MAX_PAGES};
use crate::client::join;
use crate::error::FetchError;
use crate::policy::{check_site_url, is_atlassian_site, is_loopback};
use crate::printable::cut;

/// Workspaces asked for per page.
const PAGE: u32 = 20;

/// The longest workspace name and host quoted (server text of any length).
const MAX_NAME: usize = 80;
const MAX_HOST: usize = 120;

/// The org's sites, and what of the list was not used.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Workspaces {
    /// Each site once, in listed order, with its products (`jira`, `confluence`, in that
    /// order).
    pub sites: Vec<(Url, Vec<&'static str>)>,
    /// Jira and Confluence workspaces that cannot be read, in listed order.
    pub unread: Vec<UnreadWorkspace>,
    /// One line per workspace of another product, left out (printable, cut).
    pub other_products: Vec<String>,
}

/// A Jira or Confluence workspace of the org that cannot be read: a target the scan could
/// not read. Every text is printable and cut.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnreadWorkspace {
    /// Its host as listed, or `workspace "NAME"` when none is.
    pub site: String,
    pub product: &'static str,
    /// Why, naming the workspace.
    pub why: String,
}

impl OrgClient {
    /// Every workspace of the org, grouped into sites (see the module doc).
    pub async fn list_workspaces(&self) -> Result<Workspaces, FetchError> {
        let url = join(
            &self.gateway,
            &format!("admin/v2/orgs/{}/workspaces", self.org_id),
        )?;
        let mut body = json!({ "limit": PAGE });
        let mut seen = HashSet::new();
        let mut found = Workspaces::default();
        loop {
            let page = self
                .read(|| self.transport.http.post(url.clone()).json(&body))
                .await?;
            let page = self.masker.clean(&page.to_string());
            let page: Value = serde_json::from_str(&page)
                .map_err(|_| FetchError::InvalidResponse("unreadable workspaces page".into()))?;
            let Some(data) = page.get("data").and_then(Value::as_array) else {
                return Err(FetchError::InvalidResponse(
                    "the workspaces answer has no data list".into(),
                ));
            };
            for entry in data {
                found.add(entry, is_loopback(&self.gateway));
            }
            let Some(cursor) = next_cursor(&page) else {
                return Ok(found);
            };
            if !seen.insert(cursor.clone()) || seen.len() > MAX_PAGES {
                return Err(FetchError::InvalidResponse(
                    "the workspaces list repeats a page or never ends; stopping".into(),
                ));
            }
            body = json!({ "cursor": cursor });
        }
    }
}

/// `links.next` as the cursor to send back: a bare cursor byte for byte, or the `cursor`
/// parameter of a URL or `?query` (the spelling is not documented).
fn next_cursor(page: &Value) -> Option<String> {
    let next = page.pointer("/links/next")?.as_str()?.trim();
    if next.is_empty() {
        return None;
    }
    let query = match next.split_once('?') {
        Some((_, query)) if next.starts_with('?') || next.contains("://") => query,
        _ => return Some(next.to_owned()),
    };
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "cursor")
        .map(|(_, v)| v.into_owned())
}

impl Workspaces {
    /// One entry of `data`: its site's product, or a line in `skipped`.
    fn add(&mut self, entry: &Value, sandbox: bool) {
        let attr = |k: &str| {
            entry
                .pointer(&format!("/attributes/{k}"))
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|v| !v.is_empty())
        };
        let name = attr("name")
            .or_else(|| entry.get("id").and_then(Value::as_str))
            .unwrap_or("(no name)");
        let name = cut(name, MAX_NAME);
        let kind = attr("typeKey").or_else(|| attr("type")).unwrap_or("");
        let Some(product) = product_of(kind) else {
            let kind = cut(kind, MAX_NAME);
            self.other_products
                .push(format!("{name}: not Jira or Confluence ({kind})"));
            return;
        };
        let host = attr("hostUrl");
        let site = match host.map(|h| site_of(h, product, sandbox)) {
            Some(Ok(site)) => site,
            Some(Err(why)) => return self.unread(&name, host, product, why),
            None => return self.unread(&name, None, product, "no hostUrl"),
        };
        let key = site.as_str().trim_end_matches('/').to_owned();
        match self
            .sites
            .iter_mut()
            .find(|(s, _)| s.as_str().trim_end_matches('/') == key)
        {
            Some((_, products)) if !products.contains(&product) => {
                products.push(product);
                products.sort_by_key(|p| *p != "jira");
            }
            Some(_) => {}
            None => self.sites.push((site, vec![product])),
        }
    }

    fn unread(&mut self, name: &str, host: Option<&str>, product: &'static str, why: &str) {
        let site = match host {
            Some(host) => cut(host, MAX_HOST),
            None => format!("workspace \"{name}\""),
        };
        let why = format!("not read: the org's workspace \"{name}\": {why}");
        self.unread.push(UnreadWorkspace { site, product, why });
    }
}

/// The product a workspace type key names, if autorekey reads its automation.
fn product_of(kind: &str) -> Option<&'static str> {
    let kind = kind.to_ascii_lowercase();
    if kind.starts_with("jira") {
        Some("jira")
    } else if kind == "confluence" || kind.starts_with("confluence-") {
        Some("confluence")
    } else {
        None
    }
}

/// A listed host as a site address: `https://` added when it has no scheme, nothing but
/// scheme, host and port kept (and Confluence's `/wiki` dropped), and refused when it is
/// not where the admin's credentials may go (a loopback site for a sandbox's org, an https
/// non-loopback one for a real org).
fn site_of(host: &str, product: &str, sandbox: bool) -> Result<Url, &'static str> {
    let text = if host.contains("://") {
        host.to_owned()
    } else {
        format!("https://{host}")
    };
    let mut url = Url::parse(&text).map_err(|_| "hostUrl is not an address")?;
    if url.host().is_none() || !url.username().is_empty() || url.password().is_some() {
        return Err("hostUrl is not a site's address");
    }
    let path = url.path().strip_suffix('/').unwrap_or(url.path());
    let base_path = path.is_empty() || (product == "confluence" && path == "/wiki");
    if url.query().is_some() || url.fragment().is_some() || !base_path {
        return Err("hostUrl holds more than a site's address");
    }
    url.set_path("/");
    if check_site_url(&url).is_err() || is_loopback(&url) != sandbox {
        return Err(match sandbox {
            true => "a sandbox's org may list only loopback sites",
            false => "hostUrl is not an https address of a real site",
        });
    }
    if !sandbox && !is_atlassian_site(&url) {
        // A custom domain may well be the org's, but only the admin can say so.
        return Err("hostUrl is not an Atlassian site (NAME.atlassian.net): name it with --site if it is yours");
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, kind: &str, host: &str) -> Value {
        json!({"id": name, "type": "workspace", "attributes": {"name": name, "typeKey": kind, "hostUrl": host, "status": "online"}})
    }

    #[test]
    fn workspaces_group_by_host_and_say_what_was_skipped() {
        let mut w = Workspaces::default();
        for e in [
            entry("a-conf", "confluence", "a.atlassian.net/wiki"),
            entry("a-jsw", "jira-software", "https://a.atlassian.net/"),
            entry("a-jsm", "jira-servicedesk", "https://a.atlassian.net"),
            entry("b", "jira", "https://b.atlassian.net"),
            entry("b-conf", "confluence", "https://b.atlassian.net/wiki/"),
            entry("wiki-jira", "jira", "https://h.atlassian.net/wiki"),
            entry("wiki-x", "confluence", "https://i.atlassian.net/wiki/x"),
            entry("loom", "loom", "https://loom.com"),
            entry("evil", "jira", "https://me:pw@c.atlassian.net"),
            entry("path", "jira", "https://d.atlassian.net/x"),
            entry("plain", "jira", "http://e.atlassian.net"),
            entry("local", "jira", "http://127.0.0.1:9"),
            entry("custom", "jira", "https://jira.attacker.example"),
            entry("port", "jira", "https://f.atlassian.net:8443"),
            entry(
                "lookalike",
                "jira",
                "https://g.atlassian.net.attacker.example",
            ),
            json!({"id": "no-host", "attributes": {"typeKey": "jira"}}),
        ] {
            w.add(&e, false);
        }
        let sites: Vec<(String, Vec<&str>)> = w
            .sites
            .iter()
            .map(|(u, p)| (u.to_string(), p.clone()))
            .collect();
        assert_eq!(
            sites,
            [
                (
                    "https://a.atlassian.net/".to_string(),
                    vec!["jira", "confluence"]
                ),
                (
                    "https://b.atlassian.net/".to_string(),
                    vec!["jira", "confluence"]
                ),
            ]
        );
        assert_eq!(w.other_products.len(), 1, "{:?}", w.other_products);
        assert!(w.other_products[0].starts_with("loom:"));
        let unread: Vec<(&str, &str)> = w
            .unread
            .iter()
            .map(|u| (u.site.as_str(), u.product))
            .collect();
        assert_eq!(unread.len(), 10, "{unread:?}");
        assert!(unread.contains(&("https://h.atlassian.net/wiki", "jira")));
        assert!(unread.contains(&("https://i.atlassian.net/wiki/x", "confluence")));
        assert!(unread.contains(&("workspace \"no-host\"", "jira")));
        assert!(
            w.unread
                .iter()
                .any(|u| u.why.contains("name it with --site")),
            "a custom domain is said: {:?}",
            w.unread
        );
        let mut sandbox = Workspaces::default();
        sandbox.add(&entry("local", "jira", "http://127.0.0.1:9"), true);
        sandbox.add(
            &entry("local", "confluence", "http://127.0.0.1:9/wiki"),
            true,
        );
        sandbox.add(&entry("real", "jira", "https://a.atlassian.net"), true);
        assert_eq!(sandbox.sites.len(), 1);
        assert_eq!(sandbox.sites[0].1, ["jira", "confluence"]);
        assert_eq!(sandbox.unread.len(), 1);
    }

    #[test]
    fn hostile_names_and_hosts_are_printable_and_cut() {
        let mut w = Workspaces::default();
        let long = format!("\u{1b}[2K{}", "n".repeat(5000));
        w.add(
            &entry(&long, "jira", &format!("https://{long}.example")),
            false,
        );
        w.add(&entry(&long, "loom", "https://loom.com"), false);
        let u = &w.unread[0];
        for text in [&u.site, &u.why, &w.other_products[0]] {
            assert!(!text.contains('\u{1b}'), "{text}");
            assert!(text.chars().count() < 400, "{text}");
        }
    }

    #[test]
    fn the_next_cursor_is_taken_byte_for_byte_or_from_a_link() {
        let page = |next: Value| json!({"data": [], "links": {"next": next}});
        assert_eq!(next_cursor(&page(json!("ab+c/="))), Some("ab+c/=".into()));
        assert_eq!(
            next_cursor(&page(json!("?cursor=ab%2Bc&limit=20"))),
            Some("ab+c".into())
        );
        assert_eq!(
            next_cursor(&page(json!("https://api.atlassian.com/x?cursor=z"))),
            Some("z".into())
        );
        assert_eq!(next_cursor(&page(Value::Null)), None);
        assert_eq!(next_cursor(&page(json!(""))), None);
    }
}
