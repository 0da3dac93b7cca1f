//! Settings resolved once, before a command runs (as uv resolves its settings structs).
//!
//! Flags, environment variables and prompts are combined here into one [`SiteSettings`], so
//! commands never read the environment themselves and every "what is missing" message is
//! written in one place, with its hint.
//!
//! Several sites and products (`--site` repeated, `--sites-file`, `--product all`) resolve
//! to a list of [`Target`]s, and [`SiteSettings::resolve_all`] to one [`SiteSettings`] per
//! target: each still describes one site's one product, so every one-site code path works
//! unchanged, while the login and the admin token are read once for all of them.
//! [`SiteSettings::resolve`] is for the commands that work on one target and refuses more.

use std::time::Duration;

use url::Url;

use crate::cli::{OrgArgs, SiteArgs};
use crate::error::{CommandError, CommandResult};
use crate::fetch::{check_site_url, AutomationClient, ClientConfig, RetryPolicy, SiteLimit};
use crate::secret::Token;
use crate::token_input::{read_token, TokenSource, API_TOKEN_ENV};
use crate::ui::Ui;

/// Everything needed to talk to one site as one admin.
pub struct SiteSettings {
    pub site: Url,
    pub login: String,
    pub api_token: Token,
    pub product: String,
    pub api_base: Option<Url>,
    pub concurrency: usize,
    /// Most bytes read of one answer.
    pub max_body: u64,
    /// Atlassian's API gateway, when [`GATEWAY_ENV`] points it at a loopback sandbox.
    pub gateway: Option<Url>,
}

/// Points the gateway (`https://api.atlassian.com`, where scoped tokens log in) at a local
/// sandbox. Accepted for loopback addresses only: it exists for tests and rehearsals, and a
/// credential must never be sent to any other host on its say-so.
pub const GATEWAY_ENV: &str = "AUTOREKEY_GATEWAY_URL";

/// One product of one site: the unit a command reads (and, for rotate, writes), with its
/// own client, rate limit and lock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub site: Url,
    /// `jira` or `confluence` (never `all`: that is expanded here).
    pub product: String,
}

impl Target {
    /// `https://acme.atlassian.net jira`: how summaries and errors name a target.
    pub fn label(&self) -> String {
        format!(
            "{} {}",
            self.site.as_str().trim_end_matches('/'),
            self.product
        )
    }
}

/// The targets named by `--site` (repeatable, then each line of `--sites-file`) and
/// `--product` (`all`: Jira then Confluence), in the order given, each site and product
/// once (sites compared as parsed, without a trailing `/`). Empty when no site was named:
/// the caller says what is missing ([`SiteSettings::resolve_all`]) or discovers the sites
/// (`scan --org`).
pub fn resolve_targets(global: &SiteArgs) -> CommandResult<Vec<Target>> {
    let mut sites = Vec::new();
    for text in global.site.iter().filter(|s| !s.trim().is_empty()) {
        sites.push(parse_site(Some(text))?);
    }
    if let Some(path) = &global.sites_file {
        let text = crate::files::read_text_capped(
            path,
            crate::files::SITES_FILE_CAP,
            crate::files::Links::Follow,
        )
        .map_err(|e| {
            CommandError::input_file(
                "cannot read --sites-file",
                e,
                "it must be a text file of site URLs, one a line (`#` starts a comment)",
            )
        })?;
        sites.extend(parse_sites_text(&text)?);
    }
    Ok(targets_of(&sites, global.product.expand()))
}

/// Every (site, product) pair, sites outermost, each pair once.
pub fn targets_of(sites: &[Url], products: &[&str]) -> Vec<Target> {
    let mut targets: Vec<Target> = Vec::new();
    for site in sites {
        for product in products {
            let key = site.as_str().trim_end_matches('/');
            let seen = targets
                .iter()
                .any(|t| t.product == *product && t.site.as_str().trim_end_matches('/') == key);
            if !seen {
                targets.push(Target {
                    site: site.clone(),
                    product: (*product).to_string(),
                });
            }
        }
    }
    targets
}

/// The sites of a `--sites-file`: one URL a line; blank lines and `#` comments (whole-line
/// or after the URL) are skipped. A bad line is named by its number, never echoed (it may
/// hold a password).
fn parse_sites_text(text: &str) -> CommandResult<Vec<Url>> {
    let mut sites = Vec::new();
    for (number, line) in text.lines().enumerate() {
        // A site's URL has no fragment (parse_url refuses one), so `#` always starts a comment.
        let site = line.split('#').next().unwrap_or_default().trim();
        if site.is_empty() {
            continue;
        }
        let flag = format!("--sites-file line {}", number + 1);
        let url = parse_url(site, &flag)?;
        check_site_url(&url).map_err(|e| {
            CommandError::usage(format!("{flag}: {e}"))
                .hint("use https:// (plain http:// is allowed only for loopback addresses)")
        })?;
        sites.push(url);
    }
    if sites.is_empty() {
        return Err(CommandError::usage("--sites-file names no site")
            .hint("write one site URL a line, e.g. https://acme.atlassian.net"));
    }
    Ok(sites)
}

/// The one `--site` typed (or AUTOREKEY_SITE), for commands that use a site only to find the
/// org admin API (`tokens`); several sites or a sites file are refused there.
pub fn one_site_arg(global: &SiteArgs) -> CommandResult<Option<&str>> {
    if global.site.len() > 1 || global.sites_file.is_some() {
        return Err(
            CommandError::usage("this command takes one --site, and several were given")
                .hint("give one --site (the sandbox's, or none for a real organization)"),
        );
    }
    Ok(global.site.first().map(String::as_str))
}

/// The targets of a command that works on one site and product: several are a usage
/// error, said before any file or token is read.
pub fn one_target(global: &SiteArgs) -> CommandResult<Vec<Target>> {
    let targets = resolve_targets(global)?;
    if targets.len() > 1 {
        return Err(one_target_only(&targets));
    }
    Ok(targets)
}

impl SiteSettings {
    /// The settings of the one target a command works on: several sites, or `--product
    /// all`, are a usage error (only `scan` reads several; see [`Self::resolve_all`]).
    pub fn resolve(global: &SiteArgs, ui: &Ui) -> CommandResult<SiteSettings> {
        let targets = one_target(global)?;
        let mut all = Self::for_targets(global, require_some(targets)?, ui)?;
        Ok(all.remove(0))
    }

    /// The settings of every target named (see [`resolve_targets`]), in order, sharing one
    /// login and one admin token read once. No site at all is a usage error.
    pub fn resolve_all(global: &SiteArgs, ui: &Ui) -> CommandResult<Vec<SiteSettings>> {
        let targets = require_some(resolve_targets(global)?)?;
        Self::for_targets(global, targets, ui)
    }

    /// The settings of `targets` (named, or discovered from the org) with the login, token
    /// and client options of `global`. `--api-base` names one target's API, so it is refused
    /// beside several.
    pub fn for_targets(
        global: &SiteArgs,
        targets: Vec<Target>,
        ui: &Ui,
    ) -> CommandResult<Vec<SiteSettings>> {
        let login = global
            .login
            .clone()
            .filter(|l| !l.trim().is_empty())
            .ok_or_else(|| {
                CommandError::usage("no admin login was given")
                    .hint("pass --login EMAIL or set AUTOREKEY_LOGIN (a Jira global admin)")
            })?;
        let api_base = global
            .api_base
            .as_deref()
            .map(|u| parse_url(u, "--api-base"))
            .transpose()?;
        if let Some(base) = &api_base {
            check_site_url(base).map_err(|e| CommandError::usage(e.to_string()))?;
            if targets.len() > 1 {
                return Err(CommandError::usage(format!(
                    "--api-base names one site's automation API, and {} sites or products were given",
                    targets.len()
                ))
                .hint("drop --api-base (each site's address is found from the site), or name one site and product"));
            }
        }
        let gateway = gateway_override()?;
        for target in &targets {
            if !crate::fetch::policy::is_loopback(&target.site) {
                real_gateway(&target.site)?;
            }
        }
        let api_token = read_token(
            TokenSource {
                what: "admin's API token",
                file: global.api_token_file.as_deref(),
                env: API_TOKEN_ENV,
                file_flag: "--api-token-file",
                confirm: false,
            },
            ui,
        )?;
        let login = login.trim().to_string();
        Ok(targets
            .into_iter()
            .map(|target| SiteSettings {
                site: target.site,
                login: login.clone(),
                api_token: api_token.clone(),
                product: target.product,
                api_base: api_base.clone(),
                concurrency: usize::from(global.concurrency),
                max_body: u64::from(global.max_response_mb) * 1024 * 1024,
                gateway: gateway.clone(),
            })
            .collect())
    }

    /// The target these settings describe.
    pub fn target(&self) -> Target {
        Target {
            site: self.site.clone(),
            product: self.product.clone(),
        }
    }

    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new(self.site.clone(), &self.login, self.api_token.clone());
        config.api_base = self.api_base.clone();
        config.product = self.product.clone();
        config.concurrency = self.concurrency;
        config.timeout = Duration::from_secs(30);
        config.retry = RetryPolicy::default().no_delay_from_env();
        config.max_body = self.max_body;
        if let Some(gateway) = &self.gateway {
            config.gateway = gateway.clone();
        }
        config
    }

    /// Connect (discovering the cloud id) and check the admin's own login once, so a wrong
    /// token fails in one request with a clear message instead of in a hundred.
    pub async fn connect(&self, ui: &Ui) -> CommandResult<AutomationClient> {
        self.connect_limited(None, ui).await
    }

    /// [`Self::connect`], counting requests against `limit` when given: the site's budget,
    /// shared by the clients of its products (see [`site_limits`]).
    pub async fn connect_limited(
        &self,
        limit: Option<&SiteLimit>,
        ui: &Ui,
    ) -> CommandResult<AutomationClient> {
        match limit {
            None => ui.status(format!("Connecting to {} as {}", self.site, self.login)),
            // One of several: which product, too.
            Some(_) => ui.status(format!(
                "Connecting to {} ({}) as {}",
                self.site, self.product, self.login
            )),
        }
        let mut config = self.client_config();
        config.site_limit = limit.cloned();
        let client = AutomationClient::connect(config)
            .await
            .map_err(|e| CommandError::from(e).context(format!("cannot reach {}", self.site)))?;
        let me = client.myself().await.map_err(|e| {
            CommandError::from(e).context(format!("cannot log in as {}", self.login))
        })?;
        ui.verbose(format!(
            "Logged in to {} as {} (automation API: {})",
            self.site,
            me.email_address.as_deref().unwrap_or(&self.login),
            client.api_base()
        ));
        Ok(client)
    }
}

/// One [`SiteLimit`] per entry of `all`, the same one for entries of the same site (its
/// Jira and Confluence): one site's products are read under one request budget.
pub fn site_limits(all: &[SiteSettings]) -> Vec<SiteLimit> {
    let mut by_site: Vec<(String, SiteLimit)> = Vec::new();
    all.iter()
        .map(|s| {
            let key = s.site.as_str().trim_end_matches('/').to_owned();
            if let Some((_, limit)) = by_site.iter().find(|(k, _)| *k == key) {
                return limit.clone();
            }
            let no_delay = RetryPolicy::default().no_delay_from_env().no_delay;
            let limit = SiteLimit::new(s.concurrency, no_delay);
            by_site.push((key, limit.clone()));
            limit
        })
        .collect()
}

/// [`GATEWAY_ENV`], if set: a loopback URL, or a usage error.
fn gateway_override() -> CommandResult<Option<Url>> {
    let Some(text) = std::env::var(GATEWAY_ENV)
        .ok()
        .filter(|t| !t.trim().is_empty())
    else {
        return Ok(None);
    };
    sandbox_gateway(text.trim(), GATEWAY_ENV, &format!("unset {GATEWAY_ENV}")).map(Some)
}

/// `text` (named `what`) as a sandbox standing in for Atlassian's gateway: a loopback URL,
/// or a usage error whose hint starts with `undo` (how to stop asking for one).
pub fn sandbox_gateway(text: &str, what: &str, undo: &str) -> CommandResult<Url> {
    let url = parse_url(text, what)?;
    if !crate::fetch::policy::is_loopback(&url) || check_site_url(&url).is_err() {
        return Err(CommandError::usage(format!(
            "{what} may point only at a loopback address (a sandbox)"
        ))
        .hint(format!(
            "{undo}: on a real site autorekey uses {}",
            crate::fetch::ATLASSIAN_GATEWAY
        )));
    }
    Ok(url)
}

/// Where the org admin key goes when no site is named (`tokens`, `scan --from-file --org`):
/// Atlassian's gateway, and only there. [`GATEWAY_ENV`] aims it at a sandbox only beside a
/// sandbox site named with `--site` (or `AUTOREKEY_SITE`), so an environment variable alone
/// can never send the org's key, over plain HTTP, to whatever listens on a local port.
fn org_gateway_without_site() -> CommandResult<Url> {
    if gateway_override()?.is_some() {
        return Err(CommandError::usage(format!(
            "{GATEWAY_ENV} may point the org admin key at a sandbox only when the site is that \
             sandbox, and no site was given"
        ))
        .hint(format!(
            "name the sandbox with --site (or AUTOREKEY_SITE), or unset {GATEWAY_ENV} to use {}",
            crate::fetch::ATLASSIAN_GATEWAY
        )));
    }
    Ok(Url::parse(crate::fetch::ATLASSIAN_GATEWAY).expect("a valid constant URL"))
}

/// Atlassian's gateway, for a real (not loopback) `site`: a real site's credentials and org
/// key go there only, never to whatever listens on a local port, so [`GATEWAY_ENV`] set
/// beside one is a usage error.
pub fn real_gateway(site: &Url) -> CommandResult<Url> {
    if gateway_override()?.is_some() {
        return Err(CommandError::usage(format!(
            "{GATEWAY_ENV} is for a sandbox site on this machine, but the site is {site}"
        ))
        .hint(format!("unset {GATEWAY_ENV} to use a real site")));
    }
    Ok(Url::parse(crate::fetch::ATLASSIAN_GATEWAY).expect("a valid constant URL"))
}

/// The env var that holds the org admin API key when no file is given.
pub const ORG_API_KEY_ENV: &str = "AUTOREKEY_ORG_API_KEY";

/// Everything needed to call the organization admin API.
pub struct OrgSettings {
    pub org_id: String,
    pub key: Token,
    /// api.atlassian.com, or the sandbox standing in for it.
    pub gateway: Url,
}

impl OrgSettings {
    /// `None` without `--org`; otherwise the org id and its key (file, env or prompt).
    /// `gateway` is the client's when there is one (a loopback site is its own gateway).
    pub fn resolve(
        args: &OrgArgs,
        gateway: Option<&Url>,
        ui: &Ui,
    ) -> CommandResult<Option<OrgSettings>> {
        let Some(org_id) = args.org.as_deref().map(str::trim).filter(|o| !o.is_empty()) else {
            return Ok(None);
        };
        let gateway = match gateway {
            Some(g) => g.clone(),
            None => org_gateway_without_site()?,
        };
        let key = read_token(
            TokenSource {
                what: "org admin API key",
                file: args.org_api_key_file.as_deref(),
                env: ORG_API_KEY_ENV,
                file_flag: "--org-api-key-file",
                confirm: false,
            },
            ui,
        )?;
        Ok(Some(OrgSettings {
            org_id: org_id.to_owned(),
            key,
            gateway,
        }))
    }

    /// `resolve`, for commands that cannot work without an org.
    pub fn require(args: &OrgArgs, gateway: Option<&Url>, ui: &Ui) -> CommandResult<OrgSettings> {
        Self::resolve(args, gateway, ui)?.ok_or_else(|| {
            CommandError::usage("no organization was given").hint(
                "pass --org ID or set AUTOREKEY_ORG_ID (admin.atlassian.com > Settings > API keys)",
            )
        })
    }

    pub fn client(&self) -> CommandResult<crate::fetch::org::OrgClient> {
        crate::fetch::org::OrgClient::new(
            self.gateway.clone(),
            &self.org_id,
            self.key.clone(),
            RetryPolicy::default().no_delay_from_env(),
        )
        .map_err(|e| CommandError::from(e).context("cannot use the organization admin API"))
    }
}

/// `targets`, or the "no site was given" usage error when there are none.
fn require_some(targets: Vec<Target>) -> CommandResult<Vec<Target>> {
    if targets.is_empty() {
        return Err(no_site());
    }
    Ok(targets)
}

fn no_site() -> CommandError {
    CommandError::usage("no site was given").hint(
        "pass --site https://YOUR-SITE.atlassian.net or set AUTOREKEY_SITE \
         (or try `autorekey demo`, which needs no site)",
    )
}

fn one_target_only(targets: &[Target]) -> CommandError {
    let named: Vec<String> = targets.iter().map(Target::label).collect();
    CommandError::usage(format!(
        "this command works on one site and product at a time, and {} were given: {}",
        targets.len(),
        named.join(", ")
    ))
    .hint("give one --site and --product jira or confluence (run it once per site); `scan`, `rotate` and `revoke` take several at once")
}

fn parse_site(site: Option<&str>) -> CommandResult<Url> {
    let text = site.filter(|s| !s.trim().is_empty()).ok_or_else(no_site)?;
    let url = parse_url(text.trim(), "--site (or AUTOREKEY_SITE)")?;
    check_site_url(&url).map_err(|e| {
        CommandError::usage(e.to_string())
            .hint("use https:// (plain http:// is allowed only for loopback addresses)")
    })?;
    Ok(url)
}

fn parse_url(text: &str, flag: &str) -> CommandResult<Url> {
    let url = Url::parse(text)
        // The text is not echoed: a mistyped URL may carry a password.
        .map_err(|e| {
            CommandError::usage(format!("{flag} is not a valid URL: {e}"))
                .hint("give the whole address with its scheme, e.g. https://acme.atlassian.net")
        })?;
    if url.host().is_none() || url.cannot_be_a_base() {
        // `user:password@host` without a scheme parses so, with the user as the scheme: say
        // nothing of what was typed.
        return Err(
            CommandError::usage(format!("{flag} has no host: it must start with https://"))
                .hint("give the whole address with its scheme, e.g. https://acme.atlassian.net; the login goes in --login, the token in a file, env or prompt"),
        );
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(CommandError::usage(format!(
            "{flag} must be the site's address alone, without ?query or #fragment"
        ))
        .hint("for example https://acme.atlassian.net"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            CommandError::usage(format!("{flag} must not carry a user name or password"))
                .hint("give the login with --login and the token by file, env or prompt"),
        );
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{ColorChoice, Product};

    fn global(sites: &[&str], file: Option<std::path::PathBuf>, product: Product) -> SiteArgs {
        SiteArgs {
            site: sites.iter().map(|s| s.to_string()).collect(),
            sites_file: file,
            login: Some("admin@x.example".into()),
            api_token_file: None,
            product,
            api_base: None,
            concurrency: 4,
            max_response_mb: 1,
        }
    }

    fn labels(targets: &[Target]) -> Vec<String> {
        targets.iter().map(Target::label).collect()
    }

    #[test]
    fn sites_and_products_expand_in_order_each_pair_once() {
        let g = global(
            &[
                "https://b.atlassian.net",
                "https://A.atlassian.net/",
                "https://b.atlassian.net/",
            ],
            None,
            Product::All,
        );
        assert_eq!(
            labels(&resolve_targets(&g).unwrap()),
            [
                "https://b.atlassian.net jira",
                "https://b.atlassian.net confluence",
                "https://a.atlassian.net jira",
                "https://a.atlassian.net confluence",
            ]
        );
        let g = global(&["https://a.atlassian.net"], None, Product::Confluence);
        assert_eq!(
            labels(&resolve_targets(&g).unwrap()),
            ["https://a.atlassian.net confluence"]
        );
        assert!(resolve_targets(&global(&[], None, Product::Jira))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn a_sites_file_skips_comments_and_blanks_and_follows_the_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sites.txt");
        std::fs::write(
            &path,
            "# our sites\n\n  https://b.atlassian.net  # the big one\nhttps://a.atlassian.net\n\
             https://c.atlassian.net\r\n",
        )
        .unwrap();
        let g = global(&["https://a.atlassian.net"], Some(path), Product::Jira);
        assert_eq!(
            labels(&resolve_targets(&g).unwrap()),
            [
                "https://a.atlassian.net jira",
                "https://b.atlassian.net jira",
                "https://c.atlassian.net jira",
            ]
        );
    }

    #[test]
    fn a_bad_sites_file_line_is_named_by_number_never_echoed() {
        for (text, says) in [
            (
                "https://a.atlassian.net\nhttps://me:s3cr3t@b.atlassian.net\n",
                "line 2",
            ),
            ("https://a.atlassian.net\n\nhttp://c.example\n", "line 3"),
            ("not a url s3cr3t\n", "line 1"),
            ("https://a.atlassian.net/?x=s3cr3t\n", "line 1"),
        ] {
            let err = parse_sites_text(text).unwrap_err().render();
            assert!(err.contains(says), "{text:?}: {err}");
            assert!(!err.contains("s3cr3t"), "{err}");
        }
        let err = parse_sites_text("# nothing\n\n").unwrap_err().render();
        assert!(err.contains("names no site"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let g = global(&[], Some(dir.path().join("missing")), Product::Jira);
        assert!(resolve_targets(&g).is_err());
    }

    #[test]
    fn one_target_commands_refuse_several_before_reading_a_token() {
        let ui = Ui::new(-1, ColorChoice::Never);
        for g in [
            global(
                &["https://a.atlassian.net", "https://b.atlassian.net"],
                None,
                Product::Jira,
            ),
            global(&["https://a.atlassian.net"], None, Product::All),
        ] {
            let err = SiteSettings::resolve(&g, &ui).err().unwrap().render();
            assert!(err.contains("one site and product at a time"), "{err}");
            assert!(
                err.contains("`scan`, `rotate` and `revoke` take several"),
                "{err}"
            );
        }
        let err = SiteSettings::resolve_all(&global(&[], None, Product::All), &ui)
            .err()
            .unwrap()
            .render();
        assert!(err.contains("no site was given"), "{err}");
        let mut g = global(
            &["https://a.atlassian.net", "https://b.atlassian.net"],
            None,
            Product::Jira,
        );
        g.api_base = Some("https://api.atlassian.com/x".into());
        let err = SiteSettings::resolve_all(&g, &ui).err().unwrap().render();
        assert!(err.contains("--api-base names one site"), "{err}");
    }

    #[test]
    fn a_sites_products_share_one_limit_and_sites_do_not() {
        let ui = Ui::new(-1, ColorChoice::Never);
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, "FAKE-settings-test-token").unwrap();
        let mut g = global(
            &["https://a.atlassian.net", "https://b.atlassian.net"],
            None,
            Product::All,
        );
        g.api_token_file = Some(token);
        let all = SiteSettings::resolve_all(&g, &ui).unwrap();
        assert_eq!(all.len(), 4);
        let limits = site_limits(&all);
        assert!(
            limits[0].is_shared_with(&limits[1]),
            "a's Jira and Confluence"
        );
        assert!(
            limits[2].is_shared_with(&limits[3]),
            "b's Jira and Confluence"
        );
        assert!(!limits[1].is_shared_with(&limits[2]), "a and b");
        assert!(all.iter().all(|s| s.api_token == all[0].api_token));
    }

    #[test]
    fn tokens_takes_at_most_one_site() {
        let g = global(&["https://a.atlassian.net"], None, Product::Jira);
        assert_eq!(one_site_arg(&g).unwrap(), Some("https://a.atlassian.net"));
        let g = global(
            &["https://a.atlassian.net", "https://b.atlassian.net"],
            None,
            Product::Jira,
        );
        assert!(one_site_arg(&g).is_err());
    }
}
