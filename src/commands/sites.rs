//! What the writing commands share when one run covers several sites and products
//! (`rotate --site A --site B`, `restore` of such a run): every target connected, and every
//! tenant's lock taken before anything is written.
//!
//! Why shaped so: a lock refused on one tenant must leave every tenant untouched, so all
//! locks are taken first, and in one fixed order (the lock keys sorted), so two runs over
//! overlapping sites can never each hold one lock and wait for the other's: the second
//! one is refused at its first busy lock and writes nothing anywhere. Each target is still
//! one [`SiteSettings`] and one client, so every one-site code path (the new token's check,
//! the read, the ownership confirmation, the writer) runs unchanged per target.

use url::Url;

use crate::backup::TargetRef;
use crate::cli::GlobalArgs;
use crate::error::{CommandError, CommandResult};
use crate::fetch::AutomationClient;
use crate::run::SiteLock;
use crate::settings::SiteSettings;
use crate::ui::Ui;

use super::interrupt::OnExit;
use super::rotation;

/// One site and product of the run, connected.
pub struct Target {
    pub target: TargetRef,
    pub settings: SiteSettings,
    pub client: AutomationClient,
}

impl Target {
    /// `https://a.example · jira`, for questions, progress lines and summaries.
    pub fn label(&self) -> String {
        self.target.label()
    }
}

/// The tag of one target's settings.
pub fn target_ref(settings: &SiteSettings) -> TargetRef {
    TargetRef {
        site: settings.site.to_string(),
        product: settings.product.clone(),
    }
}

/// Connect to every target, in order (the admin's login is checked on each).
pub async fn connect_all(all: Vec<SiteSettings>, ui: &Ui) -> CommandResult<Vec<Target>> {
    let mut targets = Vec::with_capacity(all.len());
    for settings in all {
        let client = settings.connect(ui).await?;
        targets.push(Target {
            target: target_ref(&settings),
            settings,
            client,
        });
    }
    Ok(targets)
}

/// Every tenant's lock for `command`, taken in the order of their keys (one lock per
/// tenant, however many targets name it); the first refused one refuses the run, and the
/// locks taken until then are released: nothing was written anywhere.
pub fn lock_all(
    targets: &[Target],
    command: &str,
    ui: &Ui,
) -> CommandResult<Vec<OnExit<SiteLock>>> {
    let mut clients: Vec<&AutomationClient> = targets.iter().map(|t| &t.client).collect();
    clients.sort_by_key(|c| rotation::lock_key(c));
    clients.dedup_by_key(|c| rotation::lock_key(c));
    clients
        .into_iter()
        .map(|client| rotation::lock_site(client, command, ui))
        .collect()
}

/// The settings of each of `targets` (a multi-site run's backup), from the admin's settings
/// for the first: the same login and token, each target's own site and product (a
/// `--api-base` names one site's API, so it is not carried to the others).
pub fn settings_for(base: SiteSettings, targets: &[TargetRef]) -> CommandResult<Vec<SiteSettings>> {
    targets
        .iter()
        .map(|t| {
            let site = Url::parse(&t.site).map_err(|e| {
                CommandError::usage(format!("the backup names a site that is not a URL: {e}"))
            })?;
            if !crate::fetch::policy::is_loopback(&site) {
                crate::settings::real_gateway(&site)?;
            }
            crate::fetch::check_site_url(&site).map_err(|e| CommandError::usage(e.to_string()))?;
            if !matches!(t.product.as_str(), "jira" | "confluence") {
                return Err(CommandError::usage(format!(
                    "the backup names a product autorekey does not know: {}",
                    crate::printable::printable(&t.product)
                )));
            }
            let same = base.site.origin() == site.origin() && base.product == t.product;
            Ok(SiteSettings {
                api_base: base.api_base.clone().filter(|_| same),
                site,
                product: t.product.clone(),
                login: base.login.clone(),
                api_token: base.api_token.clone(),
                concurrency: base.concurrency,
                max_body: base.max_body,
                gateway: base.gateway.clone(),
            })
        })
        .collect()
}

/// The sites the options name (`--site`, `AUTOREKEY_SITE`).
pub fn given_sites(global: &GlobalArgs) -> Vec<String> {
    global.site.iter().cloned().collect()
}

/// The options with `sites` as the sites named.
pub fn set_sites(global: &mut GlobalArgs, sites: Vec<String>) {
    global.site = sites.into_iter().next();
}
