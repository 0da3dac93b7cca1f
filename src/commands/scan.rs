//! `autorekey scan`: the inventory of every credential embedded in automation rules.
//!
//! Read-only. Rules come from the site (read concurrently, each handed to the detector and
//! dropped, so memory holds findings, not rule bodies) or from a file or directory of rule
//! files. A rule that cannot be read is reported and the scan goes on; the scan then fails
//! at the end (exit 1) so a script never mistakes a partial inventory for a complete one.

use std::collections::BTreeMap;
use std::path::Path;

use url::Url;

use crate::cli::{FailOn, Format, GlobalArgs, ScanArgs};
use crate::detect::{self, Finding, Scheme, Status};
use crate::error::{CommandError, CommandResult, ErrorKind};
use crate::export;
use crate::fetch::{AutomationClient, CredentialCheck, HostPolicy};
use crate::report::{self, Inventory, Verification};
use crate::secret::Credential;
use crate::settings::SiteSettings;
use crate::ui::Ui;

pub async fn run(global: &GlobalArgs, args: &ScanArgs, ui: &Ui) -> CommandResult {
    let format = args.format.unwrap_or(if ui.stdout_is_terminal() {
        Format::Table
    } else {
        Format::Json
    });
    let verify = args.verify || args.fail_on.contains(&FailOn::Dead);
    let site = if args.from_file.is_none() || verify {
        let settings = SiteSettings::resolve(global, ui)?;
        let client = settings.connect(ui).await?;
        Some((settings, client))
    } else {
        None
    };
    let mut collector = Collector::new(args.account.as_deref());
    match (&args.from_file, &site) {
        (Some(path), _) => scan_path(path, &mut collector, ui)?,
        (None, Some((_, client))) => scan_site(client, &mut collector, ui).await?,
        (None, None) => unreachable!("a site is resolved whenever there is no file"),
    }
    let mut inventory = collector.inventory;
    inventory.finish();
    if let Some((settings, client)) = &site.filter(|_| verify) {
        verify_credentials(
            client,
            &settings.site,
            &collector.to_verify,
            &mut inventory,
            ui,
        )
        .await;
    }
    ui.out_raw(match format {
        Format::Table => report::render_table(&inventory),
        Format::Json => report::render_json(&inventory),
        Format::Csv => report::render_csv(&inventory),
    });
    outcome(&inventory, &args.fail_on)
}

/// Builds the inventory rule by rule, and remembers each distinct Atlassian-bound credential
/// (the only secrets kept in memory) in case `--verify` is asked for.
struct Collector<'a> {
    account: Option<&'a str>,
    inventory: Inventory,
    to_verify: BTreeMap<VerifyKey, Credential>,
}

/// One credential at one site: user, fingerprint, and where it is sent (`None`: the
/// configured site, as for `{{baseUrl}}`).
type VerifyKey = (String, String, Option<String>);

impl<'a> Collector<'a> {
    fn new(account: Option<&'a str>) -> Self {
        Collector {
            account,
            inventory: Inventory::default(),
            to_verify: BTreeMap::new(),
        }
    }

    fn add(&mut self, rule: &serde_json::Value) {
        let mut findings = detect::detect(rule);
        if let Some(account) = self.account {
            findings.retain(|f| {
                f.user
                    .as_deref()
                    .is_some_and(|u| u.eq_ignore_ascii_case(account))
            });
        }
        for f in &findings {
            if let (Some(cred), Some(key)) = (f.credential(), verify_key(f)) {
                self.to_verify.entry(key).or_insert(cred);
            }
        }
        self.inventory.add_rule(rule, &findings);
    }
}

/// Only Basic credentials whose user is an email can be checked against `/myself`.
fn verify_key(f: &Finding) -> Option<VerifyKey> {
    if f.scheme != Scheme::Basic || f.status != Status::Literal {
        return None;
    }
    let user = f.user.clone().filter(|u| u.contains('@'))?;
    let fp = f.fingerprint()?.to_string();
    let target = f
        .target_url
        .as_deref()
        .filter(|u| !u.trim_start().starts_with("{{"))
        .and_then(|u| Url::parse(u).ok())
        .map(|u| format!("{}://{}", u.scheme(), u.host_str().unwrap_or_default()));
    Some((user, fp, target))
}

fn scan_path(path: &Path, collector: &mut Collector, ui: &Ui) -> CommandResult {
    let files = if path.is_dir() {
        let mut files: Vec<_> = std::fs::read_dir(path)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        files
    } else {
        vec![path.to_path_buf()]
    };
    for file in files {
        export::for_each_rule(&file, |rule| collector.add(&rule)).map_err(|e| {
            CommandError::caused(
                ErrorKind::Failure,
                format!("cannot read {}", file.display()),
                e,
            )
            .hint("--from-file takes a UI export, a file of API envelopes, or a directory of them")
        })?;
        ui.verbose(format!("Read {}", file.display()));
    }
    Ok(())
}

async fn scan_site(
    client: &AutomationClient,
    collector: &mut Collector<'_>,
    ui: &Ui,
) -> CommandResult {
    ui.status(format!("Listing rules at {}", client.site()));
    let summaries = client.list_summaries().await?;
    let bar = ui.progress(summaries.len() as u64, "Reading rules");
    let uuids = summaries.iter().map(|s| s.uuid.clone()).collect();
    let stats = client
        .get_rules_concurrently(uuids, |uuid, result| {
            match result {
                Ok(envelope) => collector.add(&envelope["rule"]),
                Err(e) => collector.inventory.add_error(uuid, e.to_string()),
            }
            bar.inc(1);
        })
        .await;
    bar.finish_and_clear();
    ui.verbose(format!("Concurrency: {stats:?}"));
    Ok(())
}

/// Check each distinct credential once. Only the configured site and Atlassian hosts are
/// ever sent a credential; anything else is reported as not checked.
async fn verify_credentials(
    client: &AutomationClient,
    site: &Url,
    creds: &BTreeMap<VerifyKey, Credential>,
    inventory: &mut Inventory,
    ui: &Ui,
) {
    let policy = HostPolicy::new(site.clone());
    let bar = ui.progress(creds.len() as u64, "Verifying credentials");
    let mut verdicts: BTreeMap<(String, String), (Verification, String)> = BTreeMap::new();
    for ((user, fp, target), cred) in creds {
        let url = match target {
            None => Some(site.clone()),
            Some(origin) => Url::parse(origin).ok().filter(|u| policy.allows(u)),
        };
        let verdict = match url {
            Some(url) => match client.check_credential(&url, cred).await {
                CredentialCheck::Live { .. } => (Verification::Live, format!("accepted by {url}")),
                CredentialCheck::Dead { reason } => (Verification::Dead, reason),
                CredentialCheck::Unknown { reason } => (Verification::Unknown, reason),
            },
            None => (
                Verification::Unknown,
                "not checked: sent to a host that is neither the site nor Atlassian".into(),
            ),
        };
        // A credential checked at several sites keeps its worst verdict.
        let entry = verdicts
            .entry((user.to_ascii_lowercase(), fp.clone()))
            .or_insert(verdict.clone());
        if rank(verdict.0) > rank(entry.0) {
            *entry = verdict;
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    for row in &mut inventory.findings {
        let key = (
            row.email.clone().unwrap_or_default().to_ascii_lowercase(),
            row.fingerprint
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
        );
        if let Some((v, detail)) = verdicts.get(&key) {
            row.verification = Some(*v);
            row.verification_detail = Some(detail.clone());
        }
    }
    inventory.finish();
}

fn rank(v: Verification) -> u8 {
    match v {
        Verification::Live => 0,
        Verification::Unknown => 1,
        Verification::Dead => 2,
    }
}

/// Exit 1 when rules could not be read (the inventory is incomplete), 3 when a `--fail-on`
/// condition holds, 0 otherwise.
fn outcome(inv: &Inventory, fail_on: &[FailOn]) -> CommandResult {
    if inv.summary.rules_failed > 0 {
        return Err(CommandError::failure(format!(
            "{} rule(s) could not be read; the inventory above is incomplete",
            inv.summary.rules_failed
        ))
        .hint("each is listed with its error; rerun to retry them"));
    }
    let hits: Vec<&str> = fail_on
        .iter()
        .filter_map(|cond| {
            let (name, hit) = match cond {
                FailOn::Dead => (
                    "dead",
                    inv.findings
                        .iter()
                        .any(|r| r.verification == Some(Verification::Dead)),
                ),
                FailOn::Literal => (
                    "literal",
                    inv.findings.iter().any(|r| r.status == Status::Literal),
                ),
                FailOn::Unreadable => (
                    "unreadable",
                    inv.findings.iter().any(|r| r.status == Status::Masked),
                ),
            };
            hit.then_some(name)
        })
        .collect();
    if hits.is_empty() {
        Ok(())
    } else {
        Err(CommandError::partial(format!(
            "the scan found what --fail-on names: {}",
            hits.join(", ")
        )))
    }
}
