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
use crate::error::{CommandError, CommandResult};
use crate::fetch::AutomationClient;
use crate::settings::{SiteOptions, SiteSettings, Target};
use crate::site_lock::SiteLock;
use crate::ui::Ui;

use super::interrupt::OnExit;
use super::rotation;

/// One site and product of the run, connected.
pub struct Connected {
    pub target: TargetRef,
    pub settings: SiteSettings,
    pub client: AutomationClient,
}

impl Connected {
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
pub async fn connect_all(all: Vec<SiteSettings>, ui: &Ui) -> CommandResult<Vec<Connected>> {
    let mut targets = Vec::with_capacity(all.len());
    for settings in all {
        let client = settings.connect(ui).await?;
        targets.push(Connected {
            target: target_ref(&settings),
            settings,
            client,
        });
    }
    Ok(targets)
}

/// Two targets that are one tenant (two spellings of one site's address) would read and
/// write the same rules twice: refused before anything is read.
pub fn refuse_same_tenant(targets: &[Connected]) -> CommandResult {
    refuse_same_tenant_of(targets.iter().map(|t| (t.label(), &t.client)))
}

/// [`refuse_same_tenant`] over labelled clients (a scan's, some of whose targets may not
/// have connected).
pub fn refuse_same_tenant_of<'a>(
    clients: impl IntoIterator<Item = (String, &'a AutomationClient)>,
) -> CommandResult {
    let mut seen: Vec<(String, crate::site_lock::LockKey)> = Vec::new();
    for (label, client) in clients {
        let key = rotation::lock_key(client);
        if let Some((other, _)) = seen.iter().find(|(_, k)| *k == key) {
            return Err(CommandError::usage(format!(
                "{other} and {label} are the same site and product"
            ))
            .hint("name each site once"));
        }
        seen.push((label, key));
    }
    Ok(())
}

/// Every tenant's lock for `command`, taken in the order of their keys (one lock per
/// tenant, however many targets name it); the first refused one refuses the run, and the
/// locks taken until then are released: nothing was written anywhere.
pub fn lock_all(
    targets: &[Connected],
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

/// The settings of each of `targets` (a run's backup of several sites), from the site
/// options: the same login and token, read once, each target's own site and product. A
/// site named in the options must be one of the backup's: a backup goes back only where
/// it was taken from.
pub fn settings_for(
    options: &SiteOptions,
    targets: &[TargetRef],
    ui: &Ui,
) -> CommandResult<Vec<SiteSettings>> {
    let of_backup: Vec<String> = targets.iter().map(TargetRef::label).collect();
    for given in options.targets()? {
        if !targets
            .iter()
            .any(|t| t.is(given.site.as_str(), &t.product))
        {
            return Err(CommandError::usage(format!(
                "this backup is of {}, but the site {} was given",
                of_backup.join(", "),
                given.site
            ))
            .hint(
                "leave out --site: a backup of several sites goes back to each of its own sites",
            ));
        }
    }
    let mut named = Vec::new();
    for t in targets {
        let site = Url::parse(&t.site).map_err(|e| {
            CommandError::usage(format!("the backup names a site that is not a URL: {e}"))
        })?;
        if !matches!(t.product.as_str(), "jira" | "confluence") {
            return Err(CommandError::usage(format!(
                "the backup names a product autorekey does not know: {}",
                crate::printable::printable(&t.product)
            )));
        }
        crate::fetch::check_site_url(&site).map_err(|e| CommandError::usage(e.to_string()))?;
        named.push(Target {
            site,
            product: t.product.clone(),
        });
    }
    SiteSettings::for_targets(options, named, ui)
}
