//! Settings resolved once, before a command runs (as uv resolves its settings structs, and
//! as ripgrep turns its `LowArgs` into `HiArgs`).
//!
//! Two steps, split by what they touch. [`SiteOptions::resolve`] runs in the dispatcher
//! (`commands::run`) for every command with site options, from flags and environment
//! alone: no secret, no prompt, no network. It parses the sites (`--site`, `--sites-file`)
//! and products into [`Target`]s, trims the login, and applies every rule that is a pure
//! function of them once: the site URL policy, `--api-base`, the loopback-only
//! [`GATEWAY_ENV`]. It never fails: an option that is wrong is kept with its error, raised
//! where a mode really uses it, so `scan --from-file`, `rotate --from-file`, `tokens` and
//! `revoke --check-gone`, which read no named site, are not refused for a site they ignore,
//! and each command's own cheap usage checks still come first, in the order they always had.
//!
//! The second step reads the admin's API token (a file, the environment or a hidden
//! prompt) and makes one [`SiteSettings`] per target: [`SiteSettings::resolve`],
//! [`SiteSettings::resolve_all`] or [`SiteSettings::for_targets`], called by each command
//! where it always read the token, so no prompt moves before a refusal that needs none.
//! Commands never read the environment themselves, and every "what is missing" message is
//! written in one place, with its hint.
//!
//! Several sites and products (`--site` repeated, `--sites-file`, `--product all`) resolve
//! to a list of [`Target`]s, and [`SiteSettings::resolve_all`] to one [`SiteSettings`] per
//! target: each still describes one site's one product, so every one-site code path works
//! unchanged, while the login and the admin token are read once for all of them.
//! [`SiteSettings::resolve`] is for the commands that work on one target and refuses more.

use std::path::PathBuf;

use url::Url;

use crate::cli::{OrgArgs, SiteArgs};
use crate::error::{CommandError, CommandResult};
use crate::fetch::org::TokenList;
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

/// A command's site options, resolved from flags and environment alone, once, before the
/// command runs (see the module doc). Nothing here is secret: the admin's token is read
/// later, by [`SiteSettings`]. An option that is wrong is kept with its error and raised
/// by the accessor that needs it, in the order the command asks.
pub struct SiteOptions {
    /// The targets named; empty when no site was.
    targets: CommandResult<Vec<Target>>,
    /// `--login`, trimmed; `None` when not given or blank.
    login: Option<String>,
    /// Where the admin's token is read from (a path or `-`, never the token).
    api_token_file: Option<PathBuf>,
    api_base: CommandResult<Option<Url>>,
    /// [`GATEWAY_ENV`], checked to be a loopback URL.
    gateway: CommandResult<Option<Url>>,
    /// The one `--site` of a command that uses it only to find the org admin API (`tokens`,
    /// `revoke --check-gone`): several are refused there, and a site that is not a URL is
    /// no site (as these commands have always read it).
    lone_site: CommandResult<Option<Url>>,
    concurrency: usize,
    /// Most bytes read of one answer.
    max_body: u64,
}

impl SiteOptions {
    /// The options `args` give, with every check that needs neither a secret nor the
    /// network made here, once. Never fails: see [`SiteOptions`].
    pub fn resolve(args: &SiteArgs) -> SiteOptions {
        let api_base = args
            .api_base
            .as_deref()
            .map(|u| {
                let base = parse_url(u, "--api-base")?;
                check_site_url(&base).map_err(|e| CommandError::usage(e.to_string()))?;
                Ok(base)
            })
            .transpose();
        SiteOptions {
            targets: resolve_targets(args),
            login: args
                .login
                .as_deref()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned),
            api_token_file: args.api_token_file.clone(),
            api_base,
            gateway: gateway_override(),
            lone_site: lone_site(args),
            concurrency: usize::from(args.concurrency),
            max_body: u64::from(args.max_response_mb) * 1024 * 1024,
        }
    }

    /// The targets named by `--site`, `--sites-file` and `--product`, in the order given,
    /// each once; empty when no site was named.
    pub fn targets(&self) -> CommandResult<&[Target]> {
        self.targets.as_deref().map_err(CommandError::replay)
    }

    /// The targets of a command that works on one site and product: several are a usage
    /// error, said before any token is read.
    pub fn one_target(&self) -> CommandResult<&[Target]> {
        let targets = self.targets()?;
        if targets.len() > 1 {
            return Err(one_target_only(targets));
        }
        Ok(targets)
    }

    /// The org gateway for the org key of a command that reads no site's rules (`tokens`,
    /// `revoke --check-gone`): a loopback site (the sandbox) is its own gateway, as the site
    /// client has it; any other site's org key goes to Atlassian's gateway, whatever
    /// [`GATEWAY_ENV`] says; no site, `None` (see [`OrgSettings::resolve`]).
    pub fn org_gateway(&self) -> CommandResult<Option<Url>> {
        let site = self.lone_site.as_ref().map_err(CommandError::replay)?;
        Ok(match site {
            Some(s) if crate::fetch::policy::is_loopback(s) => Some(s.clone()),
            Some(s) => Some(self.real_gateway(s)?),
            None => None,
        })
    }

    /// The admin's login: a usage error where a site is used without one.
    fn login(&self) -> CommandResult<&str> {
        self.login.as_deref().ok_or_else(|| {
            CommandError::usage("no admin login was given")
                .hint("pass --login EMAIL or set AUTOREKEY_LOGIN (a Jira global admin)")
        })
    }

    fn gateway(&self) -> CommandResult<Option<&Url>> {
        self.gateway
            .as_ref()
            .map(Option::as_ref)
            .map_err(CommandError::replay)
    }

    /// Atlassian's gateway, for a real (not loopback) `site`: a real site's credentials and
    /// org key go there only, never to whatever listens on a local port, so [`GATEWAY_ENV`]
    /// set beside one is a usage error.
    fn real_gateway(&self, site: &Url) -> CommandResult<Url> {
        if self.gateway()?.is_some() {
            return Err(CommandError::usage(format!(
                "{GATEWAY_ENV} is for a sandbox site on this machine, but the site is {site}"
            ))
            .hint(format!("unset {GATEWAY_ENV} to use a real site")));
        }
        Ok(atlassian_gateway())
    }

    /// Where the org admin key goes when no site is named (`tokens`, `scan --from-file
    /// --org`): Atlassian's gateway, and only there. [`GATEWAY_ENV`] aims it at a sandbox
    /// only beside a sandbox site named with `--site` (or `AUTOREKEY_SITE`), so an
    /// environment variable alone can never send the org's key, over plain HTTP, to
    /// whatever listens on a local port.
    fn org_gateway_without_site(&self) -> CommandResult<Url> {
        if self.gateway()?.is_some() {
            return Err(CommandError::usage(format!(
                "{GATEWAY_ENV} may point the org admin key at a sandbox only when the site is \
                 that sandbox, and no site was given"
            ))
            .hint(format!(
                "name the sandbox with --site (or AUTOREKEY_SITE), or unset {GATEWAY_ENV} to use {}",
                crate::fetch::ATLASSIAN_GATEWAY
            )));
        }
        Ok(atlassian_gateway())
    }
}

/// The one `--site` typed (or AUTOREKEY_SITE), for commands that use a site only to find
/// the org admin API; several sites or a sites file are refused there.
fn lone_site(args: &SiteArgs) -> CommandResult<Option<Url>> {
    if args.site.len() > 1 || args.sites_file.is_some() {
        return Err(
            CommandError::usage("this command takes one --site, and several were given")
                .hint("give one --site (the sandbox's, or none for a real organization)"),
        );
    }
    Ok(args.site.first().and_then(|s| Url::parse(s.trim()).ok()))
}

fn atlassian_gateway() -> Url {
    Url::parse(crate::fetch::ATLASSIAN_GATEWAY).expect("a valid constant URL")
}

/// The targets named by `--site` (repeatable, then each line of `--sites-file`) and
/// `--product` (`all`: Jira then Confluence), in the order given, each site and product
/// once (sites compared as parsed, without a trailing `/`). Empty when no site was named:
/// the caller says what is missing ([`SiteSettings::resolve_all`]) or discovers the sites
/// (`scan --org`).
fn resolve_targets(site_args: &SiteArgs) -> CommandResult<Vec<Target>> {
    let mut sites = Vec::new();
    for text in site_args.site.iter().filter(|s| !s.trim().is_empty()) {
        sites.push(parse_site(text)?);
    }
    if let Some(path) = &site_args.sites_file {
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
    Ok(targets_of(&sites, site_args.product.expand()))
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

impl SiteSettings {
    /// The settings of the one target a command works on: several sites, or `--product
    /// all`, are a usage error (only `scan` reads several; see [`Self::resolve_all`]).
    /// Reads the admin's token.
    pub fn resolve(options: &SiteOptions, ui: &Ui) -> CommandResult<SiteSettings> {
        let targets = options.one_target()?.to_vec();
        let mut all = Self::for_targets(options, require_some(targets)?, ui)?;
        Ok(all.remove(0))
    }

    /// The settings of every target named (see [`SiteOptions::targets`]), in order, sharing
    /// one login and one admin token read once. No site at all is a usage error.
    pub fn resolve_all(options: &SiteOptions, ui: &Ui) -> CommandResult<Vec<SiteSettings>> {
        let targets = require_some(options.targets()?.to_vec())?;
        Self::for_targets(options, targets, ui)
    }

    /// The settings of `targets` (named, or discovered from the org) with the login, token
    /// and client options of `options`. `--api-base` names one target's API, so it is
    /// refused beside several. The admin's token is read last, after every refusal.
    pub fn for_targets(
        options: &SiteOptions,
        targets: Vec<Target>,
        ui: &Ui,
    ) -> CommandResult<Vec<SiteSettings>> {
        let login = options.login()?;
        let api_base = options.api_base.as_ref().map_err(CommandError::replay)?;
        if api_base.is_some() && targets.len() > 1 {
            return Err(CommandError::usage(format!(
                "--api-base names one site's automation API, and {} sites or products were given",
                targets.len()
            ))
            .hint("drop --api-base (each site's address is found from the site), or name one site and product"));
        }
        let gateway = options.gateway()?;
        for target in &targets {
            if !crate::fetch::policy::is_loopback(&target.site) {
                options.real_gateway(&target.site)?;
            }
        }
        let api_token = read_token(
            TokenSource {
                what: "admin's API token",
                file: options.api_token_file.as_deref(),
                env: API_TOKEN_ENV,
                file_flag: "--api-token-file",
                confirm: false,
            },
            ui,
        )?;
        Ok(targets
            .into_iter()
            .map(|target| SiteSettings {
                site: target.site,
                login: login.to_owned(),
                api_token: api_token.clone(),
                product: target.product,
                api_base: api_base.clone(),
                concurrency: options.concurrency,
                max_body: options.max_body,
                gateway: gateway.cloned(),
            })
            .collect())
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
        // The time-out (30 s) and the retry policy (AUTOREKEY_NO_RETRY_DELAY applied) are
        // the client's own defaults.
        let mut config = ClientConfig::new(self.site.clone(), &self.login, self.api_token.clone());
        config.api_base = self.api_base.clone();
        config.product = self.product.clone();
        config.concurrency = self.concurrency;
        config.max_body = self.max_body;
        if let Some(gateway) = &self.gateway {
            config.gateway = gateway.clone();
        }
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
    /// Without `gateway`, Atlassian's (never a sandbox on the word of the environment alone).
    pub fn resolve(
        args: &OrgArgs,
        gateway: Option<&Url>,
        options: &SiteOptions,
        ui: &Ui,
    ) -> CommandResult<Option<OrgSettings>> {
        let Some(org_id) = args.org.as_deref().map(str::trim).filter(|o| !o.is_empty()) else {
            return Ok(None);
        };
        let gateway = match gateway {
            Some(g) => g.clone(),
            None => options.org_gateway_without_site()?,
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
    pub fn require(
        args: &OrgArgs,
        gateway: Option<&Url>,
        options: &SiteOptions,
        ui: &Ui,
    ) -> CommandResult<OrgSettings> {
        Self::resolve(args, gateway, options, ui)?.ok_or_else(|| {
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

    /// Every token the org key can list (users' and service accounts'), said as it is read.
    pub async fn list_tokens(&self, ui: &Ui) -> CommandResult<TokenList> {
        ui.status(format!(
            "Reading the API tokens of organization {}",
            self.org_id
        ));
        self.client()?
            .list_tokens()
            .await
            .map_err(CommandError::org_list_failed)
    }
}

/// `targets`, or the "no site was given" usage error when there are none.
fn require_some(targets: Vec<Target>) -> CommandResult<Vec<Target>> {
    if targets.is_empty() {
        return Err(CommandError::usage("no site was given").hint(
            "pass --site https://YOUR-SITE.atlassian.net or set AUTOREKEY_SITE \
             (or try `autorekey demo`, which needs no site)",
        ));
    }
    Ok(targets)
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

fn parse_site(text: &str) -> CommandResult<Url> {
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

    fn site_args(sites: &[&str], file: Option<std::path::PathBuf>, product: Product) -> SiteArgs {
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
        let g = site_args(
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
        let g = site_args(&["https://a.atlassian.net"], None, Product::Confluence);
        assert_eq!(
            labels(&resolve_targets(&g).unwrap()),
            ["https://a.atlassian.net confluence"]
        );
        assert!(resolve_targets(&site_args(&[], None, Product::Jira))
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
        let g = site_args(&["https://a.atlassian.net"], Some(path), Product::Jira);
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
        let g = site_args(&[], Some(dir.path().join("missing")), Product::Jira);
        assert!(resolve_targets(&g).is_err());
    }

    #[test]
    fn one_target_commands_refuse_several_before_reading_a_token() {
        let ui = Ui::new(-1, ColorChoice::Never);
        for g in [
            site_args(
                &["https://a.atlassian.net", "https://b.atlassian.net"],
                None,
                Product::Jira,
            ),
            site_args(&["https://a.atlassian.net"], None, Product::All),
        ] {
            let err = SiteSettings::resolve(&SiteOptions::resolve(&g), &ui)
                .err()
                .unwrap()
                .render();
            assert!(err.contains("one site and product at a time"), "{err}");
            assert!(
                err.contains("`scan`, `rotate` and `revoke` take several"),
                "{err}"
            );
        }
        let err = SiteSettings::resolve_all(&options(&[], Product::All), &ui)
            .err()
            .unwrap()
            .render();
        assert!(err.contains("no site was given"), "{err}");
        let mut g = site_args(
            &["https://a.atlassian.net", "https://b.atlassian.net"],
            None,
            Product::Jira,
        );
        g.api_base = Some("https://api.atlassian.com/x".into());
        let err = SiteSettings::resolve_all(&SiteOptions::resolve(&g), &ui)
            .err()
            .unwrap()
            .render();
        assert!(err.contains("--api-base names one site"), "{err}");
    }

    #[test]
    fn a_sites_products_share_one_limit_and_sites_do_not() {
        let ui = Ui::new(-1, ColorChoice::Never);
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, "FAKE-settings-test-token").unwrap();
        let mut g = site_args(
            &["https://a.atlassian.net", "https://b.atlassian.net"],
            None,
            Product::All,
        );
        g.api_token_file = Some(token);
        let all = SiteSettings::resolve_all(&SiteOptions::resolve(&g), &ui).unwrap();
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
    fn tokens_takes_at_most_one_site_and_reads_a_bad_one_as_none() {
        let org_gateway = |sites: &[&str]| options(sites, Product::Jira).org_gateway();
        assert_eq!(
            org_gateway(&["http://127.0.0.1:9/"]).unwrap(),
            Some(Url::parse("http://127.0.0.1:9/").unwrap()),
            "a sandbox is its own gateway"
        );
        assert_eq!(org_gateway(&[]).unwrap(), None);
        assert_eq!(org_gateway(&["not a url"]).unwrap(), None);
        let err = org_gateway(&["https://a.atlassian.net", "https://b.atlassian.net"])
            .unwrap_err()
            .render();
        assert!(err.contains("takes one --site"), "{err}");
    }

    fn options(sites: &[&str], product: Product) -> SiteOptions {
        SiteOptions::resolve(&site_args(sites, None, product))
    }

    fn quiet() -> Ui {
        Ui::new(-1, ColorChoice::Never)
    }

    #[test]
    fn options_are_resolved_from_flags_alone_and_keep_errors_for_the_mode_that_needs_a_site() {
        let mut g = site_args(&["not a url s3cr3t"], None, Product::Jira);
        g.login = Some("  admin@x.example \n".into());
        g.concurrency = 7;
        g.max_response_mb = 3;
        g.api_base = Some("http://api.example/x".into());
        let o = SiteOptions::resolve(&g);
        assert_eq!(o.login().unwrap(), "admin@x.example");
        assert_eq!((o.concurrency, o.max_body), (7, 3 * 1024 * 1024));
        // The bad site is said each time a site is asked for, the same way, never echoed.
        let first = o.targets().unwrap_err().render();
        assert!(
            first.contains("--site (or AUTOREKEY_SITE) is not a valid URL"),
            "{first}"
        );
        assert!(!first.contains("s3cr3t"), "{first}");
        assert_eq!(o.targets().unwrap_err().render(), first);
        assert_eq!(o.one_target().unwrap_err().render(), first);
        // A mode that reads no named site is not refused for it.
        assert_eq!(o.org_gateway().unwrap(), None);
        // The site comes first, as it always did; then the login, then --api-base.
        let err = SiteSettings::resolve(&o, &quiet()).err().unwrap().render();
        assert_eq!(err, first);
        let mut g = site_args(&["https://a.atlassian.net"], None, Product::Jira);
        g.login = Some(" ".into());
        g.api_base = Some("http://api.example/x".into());
        let err = SiteSettings::resolve(&SiteOptions::resolve(&g), &quiet())
            .err()
            .unwrap()
            .render();
        assert!(err.contains("no admin login was given"), "{err}");
        g.login = Some("admin@x.example".into());
        let err = SiteSettings::resolve(&SiteOptions::resolve(&g), &quiet())
            .err()
            .unwrap()
            .render();
        assert!(
            err.contains("plain http is allowed only for loopback addresses"),
            "the site URL policy, for --api-base: {err}"
        );
    }

    #[test]
    fn a_sites_file_error_is_said_whole_each_time_it_is_raised() {
        let dir = tempfile::tempdir().unwrap();
        let g = site_args(&[], Some(dir.path().join("missing")), Product::Jira);
        let o = SiteOptions::resolve(&g);
        let direct = resolve_targets(&g).unwrap_err();
        let raised = o.targets().unwrap_err();
        assert_eq!(raised.render(), direct.render());
        assert!(
            raised.render().contains("Caused by: "),
            "{}",
            raised.render()
        );
        assert_eq!(raised.kind, direct.kind);
        assert_eq!(format!("{:#}", raised.error), format!("{:#}", direct.error));
    }

    #[test]
    fn a_sandbox_gateway_is_refused_beside_a_real_site_before_any_token_is_read() {
        let sandbox = Url::parse("http://127.0.0.1:9/").unwrap();
        let with_gateway = |sites: &[&str]| {
            let mut o = options(sites, Product::Jira);
            o.gateway = Ok(Some(sandbox.clone()));
            o
        };
        // No token file and no terminal: reaching the token read would say so instead.
        let err = SiteSettings::resolve(&with_gateway(&["https://a.atlassian.net"]), &quiet())
            .err()
            .unwrap()
            .render();
        assert!(
            err.contains("is for a sandbox site on this machine"),
            "{err}"
        );
        let err = with_gateway(&["https://a.atlassian.net"])
            .org_gateway()
            .unwrap_err()
            .render();
        assert!(
            err.contains("but the site is https://a.atlassian.net/"),
            "{err}"
        );
        assert_eq!(
            with_gateway(&["http://127.0.0.1:9/"])
                .org_gateway()
                .unwrap(),
            Some(sandbox.clone())
        );
        let err = with_gateway(&[])
            .org_gateway_without_site()
            .unwrap_err()
            .render();
        assert!(err.contains("no site was given"), "{err}");
        assert_eq!(
            options(&[], Product::Jira)
                .org_gateway_without_site()
                .unwrap(),
            atlassian_gateway()
        );
    }
}
