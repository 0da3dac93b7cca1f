//! Settings resolved once, before a command runs (as uv resolves its settings structs).
//!
//! Flags, environment variables and prompts are combined here into one [`SiteSettings`], so
//! commands never read the environment themselves and every "what is missing" message is
//! written in one place, with its hint.

use std::time::Duration;

use url::Url;

use crate::cli::{GlobalArgs, OrgArgs};
use crate::error::{CommandError, CommandResult};
use crate::fetch::{check_site_url, AutomationClient, ClientConfig, RetryPolicy};
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

impl SiteSettings {
    pub fn resolve(global: &GlobalArgs, ui: &Ui) -> CommandResult<SiteSettings> {
        let site = parse_site(global.site.as_deref())?;
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
        }
        let gateway = gateway_override()?;
        if !crate::fetch::policy::is_loopback(&site) {
            real_gateway(&site)?;
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
        Ok(SiteSettings {
            site,
            login: login.trim().to_string(),
            api_token,
            product: global.product.as_str().to_string(),
            api_base,
            concurrency: usize::from(global.concurrency),
            max_body: u64::from(global.max_response_mb) * 1024 * 1024,
            gateway,
        })
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
        ui.status(format!("Connecting to {} as {}", self.site, self.login));
        let client = AutomationClient::connect(self.client_config())
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

/// [`GATEWAY_ENV`], if set: a loopback URL, or a usage error.
fn gateway_override() -> CommandResult<Option<Url>> {
    let Some(text) = std::env::var(GATEWAY_ENV)
        .ok()
        .filter(|t| !t.trim().is_empty())
    else {
        return Ok(None);
    };
    let url = parse_url(text.trim(), GATEWAY_ENV)?;
    if !crate::fetch::policy::is_loopback(&url) || check_site_url(&url).is_err() {
        return Err(CommandError::usage(format!(
            "{GATEWAY_ENV} may point only at a loopback address (a sandbox)"
        ))
        .hint(format!(
            "unset {GATEWAY_ENV}: on a real site autorekey uses {}",
            crate::fetch::ATLASSIAN_GATEWAY
        )));
    }
    Ok(Some(url))
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

fn parse_site(site: Option<&str>) -> CommandResult<Url> {
    let text = site.filter(|s| !s.trim().is_empty()).ok_or_else(|| {
        CommandError::usage("no site was given").hint(
            "pass --site https://YOUR-SITE.atlassian.net or set AUTOREKEY_SITE \
             (or try `autorekey demo`, which needs no site)",
        )
    })?;
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
