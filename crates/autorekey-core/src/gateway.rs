//! The gateway address form: `https://api.atlassian.com/ex/{product}/{cloudId}/...`.
//!
//! Scoped API tokens and service accounts' tokens work only through Atlassian's API gateway,
//! never through the site's own address. Two stages need to know that form: verification
//! (a rule calling the gateway tells whose site a credential is for) and the plan (a
//! migration to a service account moves a rule's request URL from `{site}/rest/...` to the
//! gateway). Both read and write the form here, in pure functions, so the rule of what
//! counts as "the gateway form of this site" lives in one place.

use url::Url;

/// Where Atlassian's API gateway lives.
pub const ATLASSIAN_GATEWAY: &str = "https://api.atlassian.com/";

/// Products whose REST APIs the gateway serves under `/ex/{product}/{cloudId}/`.
const PRODUCTS: [&str; 2] = ["jira", "confluence"];

/// The cloud id of a gateway-form URL (`{any origin}/ex/{jira|confluence}/{cloudId}/...`),
/// if `url` has that form. The origin is not checked here: the caller compares it with the
/// gateway it trusts.
pub fn cloud_id(url: &Url) -> Option<String> {
    let mut segments = url.path_segments()?;
    if segments.next()? != "ex" || !PRODUCTS.contains(&segments.next()?) {
        return None;
    }
    let id = segments.next()?;
    is_cloud_id(id).then(|| id.to_owned())
}

/// A cloud id is a UUID in practice; anything that could change a path's meaning is not.
pub fn is_cloud_id(id: &str) -> bool {
    !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// Where a migration sends a rule's requests: the site, and the gateway form of it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UrlRewrite {
    /// The site's origin as rules spell it, e.g. `https://acme.atlassian.net`.
    pub site: String,
    /// The gateway's origin, `https://api.atlassian.com` outside tests.
    pub gateway: String,
    pub product: String,
    pub cloud_id: String,
}

impl UrlRewrite {
    /// `text` (a rule's request URL) rewritten from `{site}/rest/...` (or `{{baseUrl}}/rest/...`,
    /// or Confluence's `{site}/wiki/rest/...`) to `{gateway}/ex/{product}/{cloudId}/rest/...`;
    /// `None` when it is not a URL of the site's REST API (left as it is). Only the prefix
    /// changes: the path, query and any smart values after it are kept byte for byte.
    pub fn rewrite(&self, text: &str) -> Option<String> {
        // A plan file carries this; a cloud id or product that could reshape the path
        // rewrites nothing.
        if !is_cloud_id(&self.cloud_id) || !PRODUCTS.contains(&self.product.as_str()) {
            return None;
        }
        let site = self.site.trim_end_matches('/');
        let lead = text.len() - text.trim_start().len();
        let (space, url) = text.split_at(lead);
        let rest =
            strip_prefix_ignore_case(url, site).or_else(|| url.strip_prefix("{{baseUrl}}"))?;
        let api = match self.product.as_str() {
            // Confluence's REST API sits under /wiki on the site and under the gateway.
            "confluence" => rest
                .strip_prefix("/wiki/rest/")
                .map(|r| format!("wiki/rest/{r}")),
            _ => rest.strip_prefix("/rest/").map(|r| format!("rest/{r}")),
        }?;
        let gateway = self.gateway.trim_end_matches('/');
        Some(format!(
            "{space}{gateway}/ex/{}/{}/{api}",
            self.product, self.cloud_id
        ))
    }

    /// Why this rewrite (from a plan file, so not trusted) must not be used on `site`, whose
    /// gateway is `gateway`, cloud id `cloud_id` and product `product`: it would move rules'
    /// requests, credentials included, to another host, tenant or product.
    pub fn mismatch(
        &self,
        site: &Url,
        gateway: &Url,
        cloud_id: &str,
        product: &str,
    ) -> Option<String> {
        let origin = |text: &str| Url::parse(text.trim()).ok().map(|u| u.origin());
        if origin(&self.site) != Some(site.origin()) {
            return Some(format!("it moves URLs of {}, not of this site", self.site));
        }
        if origin(&self.gateway) != Some(gateway.origin()) {
            return Some(format!(
                "it moves URLs to {}, not to Atlassian's gateway {}",
                self.gateway,
                gateway.origin().ascii_serialization()
            ));
        }
        if self.cloud_id != cloud_id || !is_cloud_id(&self.cloud_id) {
            return Some(format!(
                "its cloud id {} is not this site's ({cloud_id})",
                self.cloud_id
            ));
        }
        if self.product != product {
            return Some(format!("it is for {}, not {product}", self.product));
        }
        None
    }
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite(product: &str) -> UrlRewrite {
        UrlRewrite {
            site: "https://acme.atlassian.net".into(),
            gateway: "https://api.atlassian.com".into(),
            product: product.into(),
            cloud_id: "c0ffee-01".into(),
        }
    }

    #[test]
    fn a_cloud_id_cannot_carry_path_query_fragment_or_userinfo() {
        assert!(is_cloud_id("5b1e2c7a-0d4f-4e8b-9a61-3c2d1e0f9a88"));
        for bad in [
            "", "..", ".", "a/b", "a?b", "a#b", "u@evil", "a%2Fb", "a\\b", "a b", "é",
        ] {
            assert!(!is_cloud_id(bad), "{bad}");
        }
    }

    #[test]
    fn cloud_ids_are_read_from_gateway_urls_only() {
        let id = |u: &str| cloud_id(&Url::parse(u).unwrap());
        assert_eq!(
            id("https://api.atlassian.com/ex/jira/abc-1/rest/api/3/issue"),
            Some("abc-1".into())
        );
        assert_eq!(
            id("https://api.atlassian.com/ex/confluence/abc-1/wiki/rest/api/content"),
            Some("abc-1".into())
        );
        assert_eq!(id("https://api.atlassian.com/ex/bitbucket/abc/x"), None);
        assert_eq!(id("https://acme.atlassian.net/rest/api/3/issue"), None);
        assert_eq!(id("https://api.atlassian.com/ex/jira/a%2Fb/x"), None);
    }

    #[test]
    fn site_rest_urls_move_to_the_gateway_and_nothing_else_does() {
        let r = rewrite("jira");
        assert_eq!(
            r.rewrite("https://acme.atlassian.net/rest/api/3/issue/{{issue.key}}/comment?x=1")
                .as_deref(),
            Some("https://api.atlassian.com/ex/jira/c0ffee-01/rest/api/3/issue/{{issue.key}}/comment?x=1")
        );
        assert_eq!(
            r.rewrite("{{baseUrl}}/rest/api/2/search").as_deref(),
            Some("https://api.atlassian.com/ex/jira/c0ffee-01/rest/api/2/search")
        );
        assert_eq!(
            r.rewrite("HTTPS://ACME.atlassian.net/rest/x").as_deref(),
            Some("https://api.atlassian.com/ex/jira/c0ffee-01/rest/x")
        );
        for kept in [
            "https://acme.atlassian.net.evil.example/rest/api/3/issue",
            "https://acme.atlassian.net/browse/X-1",
            "https://hooks.example.com/rest/api",
            "https://api.atlassian.com/ex/jira/c0ffee-01/rest/api/3/issue",
        ] {
            assert_eq!(r.rewrite(kept), None, "{kept}");
        }
        let mut hostile = rewrite("jira");
        for id in ["../../evil", "x?y=", "x#", "u@evil.example", ""] {
            hostile.cloud_id = id.into();
            assert_eq!(
                hostile.rewrite("https://acme.atlassian.net/rest/x"),
                None,
                "{id}"
            );
        }
        hostile = rewrite("bitbucket/../../x");
        assert_eq!(hostile.rewrite("https://acme.atlassian.net/rest/x"), None);
        assert_eq!(
            rewrite("confluence")
                .rewrite("https://acme.atlassian.net/wiki/rest/api/content")
                .as_deref(),
            Some("https://api.atlassian.com/ex/confluence/c0ffee-01/wiki/rest/api/content")
        );
    }

    #[test]
    fn a_planned_rewrite_must_name_this_site_gateway_cloud_and_product() {
        let url = |u: &str| Url::parse(u).unwrap();
        let (site, gw) = (
            url("https://acme.atlassian.net/"),
            url("https://api.atlassian.com/"),
        );
        let ok = rewrite("jira");
        assert_eq!(ok.mismatch(&site, &gw, "c0ffee-01", "jira"), None);
        let with = |f: &dyn Fn(&mut UrlRewrite)| {
            let mut r = rewrite("jira");
            f(&mut r);
            r.mismatch(&site, &gw, "c0ffee-01", "jira")
        };
        assert!(with(&|r| r.gateway = "https://collector.example.com".into()).is_some());
        assert!(with(&|r| r.site = "https://other.atlassian.net".into()).is_some());
        assert!(with(&|r| r.cloud_id = "another-cloud".into()).is_some());
        assert!(with(&|r| r.product = "confluence".into()).is_some());
    }
}
