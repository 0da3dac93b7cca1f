//! `scan` over several sites and products: which ones (named with `--site`, a sites file
//! and `--product all`, or discovered from the org's workspaces with `--org` alone), each
//! connected, and how each read went.
//!
//! Every target gets its own client, connected concurrently; the clients of one site's
//! products share one request budget (the adaptive limiter and the rate pacer, through a
//! [`crate::fetch::SiteLimit`]), so reading Jira and Confluence at once never doubles the
//! load on a tenant, while different sites, which Atlassian limits apart, never wait for each
//! other. A target that cannot be reached or logged in to is not an error here: it is kept
//! with why, the others are read, and `scan` fails at the end naming it (as ripgrep goes on
//! past a file it cannot read). So is a Jira or Confluence workspace of the org's list that
//! cannot be used (no host, or one refused): an unread target, never a line said and
//! forgotten. One site and one product, named, is today's scan exactly: its failure is the
//! command's error. Two spellings of one tenant are refused, as `rotate` refuses them.

use url::Url;

use crate::cli::ScanArgs;
use crate::error::{CommandError, CommandResult};
use crate::fetch::org::UnreadWorkspace;
use crate::fetch::AutomationClient;
use crate::printable::printable;
use crate::settings::{
    sandbox_gateway, site_limits, targets_of, OrgSettings, SiteOptions, SiteSettings,
};
use crate::ui::Ui;

/// One target and its client, or why there is none.
pub(super) struct SiteRead {
    pub settings: SiteSettings,
    pub client: Result<AutomationClient, String>,
}

/// The targets of a scan that reads sites.
pub(super) struct Sites {
    /// Several targets (or discovered ones): rows name their site and product, and a
    /// target's failure is reported with the rest instead of ending the scan.
    pub several: bool,
    pub reads: Vec<SiteRead>,
    /// Workspaces of the org's list that name Jira or Confluence and cannot be read.
    pub unread: Vec<UnreadWorkspace>,
}

impl Sites {
    /// The connected clients, in target order.
    pub fn clients(&self) -> Vec<&AutomationClient> {
        self.reads
            .iter()
            .filter_map(|r| r.client.as_ref().ok())
            .collect()
    }

    /// Where the org admin key goes beside these sites: the first connected site's gateway
    /// (a loopback sandbox is its own, serving the org on its first port). A sandbox's
    /// gateway beside a real site is refused: the org key must not go to a local port on
    /// the word of a sandbox named among real sites.
    pub fn org_gateway(&self) -> CommandResult<Option<Url>> {
        let Some(first) = self.clients().first().map(|c| c.gateway().clone()) else {
            return Ok(None);
        };
        let loopback = crate::fetch::policy::is_loopback;
        if loopback(&first) && self.reads.iter().any(|r| !loopback(&r.settings.site)) {
            return Err(CommandError::usage(
                "--org cannot join a sandbox and a real site in one scan",
            )
            .hint("scan the sandbox and the real sites apart"));
        }
        Ok(Some(first))
    }
}

/// The targets `options` names (or, with `--org` and no site, the org's), connected. The
/// org settings come back when discovery needed them.
pub(super) async fn connect(
    options: &SiteOptions,
    args: &ScanArgs,
    ui: &Ui,
) -> CommandResult<(Sites, Option<OrgSettings>)> {
    let named = options.targets()?;
    if named.is_empty() && args.org.org.is_some() && args.from_file.is_none() {
        return discover(options, args, ui).await;
    }
    if args.org_gateway.is_some() {
        return Err(CommandError::usage(
            "--org-gateway is for reading an org's sites from a sandbox, without --site",
        )
        .hint("drop --org-gateway: beside a sandbox site, the org is asked of that site"));
    }
    if named.len() <= 1 {
        let settings = SiteSettings::resolve(options, ui)?;
        let client = settings.connect(ui).await?;
        let reads = vec![SiteRead {
            settings,
            client: Ok(client),
        }];
        return Ok((
            Sites {
                several: false,
                reads,
                unread: Vec::new(),
            },
            None,
        ));
    }
    let all = SiteSettings::for_targets(options, named.to_vec(), ui)?;
    Ok((connect_all(all, ui).await?, None))
}

/// Connects every target: sites at once, each site's products under one budget. A site's
/// first product logs in first and the others only once it did, so a refused login costs
/// one failed attempt per site, as a scan of each site alone would (repeated failures lock
/// the account behind a CAPTCHA); the others share its error without asking. Two targets
/// that turn out to be one tenant are refused: its rules would be read twice.
async fn connect_all(all: Vec<SiteSettings>, ui: &Ui) -> CommandResult<Sites> {
    let limits = site_limits(&all);
    // Indexes of `all` per site, in order; a site's entries share one limit.
    let mut sites: Vec<Vec<usize>> = Vec::new();
    for i in 0..all.len() {
        match sites
            .iter_mut()
            .find(|s| limits[s[0]].is_shared_with(&limits[i]))
        {
            Some(site) => site.push(i),
            None => sites.push(vec![i]),
        }
    }
    let connect = |i: usize| all[i].connect_limited(Some(&limits[i]), ui);
    let per_site = sites.iter().map(|indexes| async move {
        let first = connect(indexes[0]).await.map_err(|e| one_line(&e));
        let rest = match &first {
            Ok(_) => {
                let others = indexes[1..].iter().map(|&i| connect(i));
                futures_util::future::join_all(others)
                    .await
                    .into_iter()
                    .map(|c| c.map_err(|e| one_line(&e)))
                    .collect()
            }
            Err(why) => vec![Err(why.clone()); indexes.len() - 1],
        };
        indexes
            .iter()
            .copied()
            .zip(std::iter::once(first).chain(rest))
            .collect::<Vec<_>>()
    });
    let mut clients: Vec<(usize, Result<AutomationClient, String>)> =
        futures_util::future::join_all(per_site)
            .await
            .into_iter()
            .flatten()
            .collect();
    clients.sort_by_key(|(i, _)| *i);
    let reads = all
        .into_iter()
        .zip(clients)
        .map(|(settings, (_, client))| SiteRead { settings, client })
        .collect::<Vec<_>>();
    super::sites::refuse_same_tenant_of(reads.iter().filter_map(|r| {
        let client = r.client.as_ref().ok()?;
        Some((super::sites::target_ref(&r.settings).label(), client))
    }))?;
    Ok(Sites {
        several: true,
        reads,
        unread: Vec::new(),
    })
}

/// An error as one printable line: its message and causes.
pub(super) fn one_line(e: &CommandError) -> String {
    printable(&format!("{:#}", e.error)).into_owned()
}

/// `scan --org ID` with no site: the org's Jira and Confluence sites from its workspaces
/// list, each read for the products listed for it.
async fn discover(
    options: &SiteOptions,
    args: &ScanArgs,
    ui: &Ui,
) -> CommandResult<(Sites, Option<OrgSettings>)> {
    let gateway = args
        .org_gateway
        .as_deref()
        .map(|g| sandbox_gateway(g.trim(), "--org-gateway", "drop --org-gateway"))
        .transpose()?;
    let org = OrgSettings::require(&args.org, gateway.as_ref(), options, ui)?;
    ui.status(format!("Listing the sites of organization {}", org.org_id));
    let found = org.client()?.list_workspaces().await.map_err(|e| {
        CommandError::from(e)
            .context("cannot list the organization's sites (its workspaces)")
            .hint("the org API key needs read:workspaces:admin; or name the sites with --site or --sites-file")
    })?;
    for other in &found.other_products {
        ui.verbose(format!("Left out (from the org's workspaces): {other}"));
    }
    for unread in &found.unread {
        ui.warn(format!(
            "{} {}: {}",
            unread.site, unread.product, unread.why
        ));
    }
    let targets: Vec<_> = found
        .sites
        .iter()
        .flat_map(|(site, products)| targets_of(std::slice::from_ref(site), products))
        .collect();
    if targets.is_empty() {
        return Err(no_site_to_read(&org.org_id, &found.unread));
    }
    let labels: Vec<String> = targets.iter().map(|t| t.label()).collect();
    ui.status(format!("Found {}", labels.join(", ")));
    let all = SiteSettings::for_targets(options, targets, ui)?;
    let mut sites = connect_all(all, ui).await?;
    sites.unread = found.unread;
    Ok((sites, Some(org)))
}

/// The org lists no site that can be read: none at all, or only ones that cannot be.
fn no_site_to_read(org_id: &str, unread: &[UnreadWorkspace]) -> CommandError {
    let message =
        match unread.len() {
            0 => format!("organization {org_id} lists no Jira or Confluence site"),
            n => {
                format!(
            "organization {org_id} lists {} and none that can be read (each is named above)",
            crate::words::count(n, "Jira or Confluence workspace", "Jira or Confluence workspaces")
        )
            }
        };
    CommandError::failure(message).hint("name the sites with --site or --sites-file")
}
