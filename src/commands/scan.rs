//! `autorekey scan`: the inventory of every credential embedded in automation rules.
//!
//! Read-only. Rules come from the site (read concurrently, each handed to the detector and
//! dropped, so memory holds findings, not rule bodies) or from a file or directory of rule
//! files. A rule that cannot be read is reported and the scan goes on; the scan then fails
//! at the end (exit 1) so a script never mistakes a partial inventory for a complete one.
//!
//! Several sites and products (see `scan_sites`) are read side by side, each into its own
//! collector whose rows name the site and product, then merged into one inventory in
//! target order: one verdict, one expiry join, and `--verify` asking each credential once,
//! of the site whose rule sends it there. A target that could not be read whole is named
//! in the summary and fails the scan at the end, as a rule that could not be read does.
//! Which credential is checked, where, and what a gateway-only answer means for a rule
//! that sends it to the site are [`crate::verify`]'s (pure); this command sends the checks.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use url::Url;

use crate::cli::{FailOn, Format, ScanArgs};
use crate::detect::{self, Finding, Status};
use crate::error::{CommandError, CommandResult};
use crate::expiry::{self, OwnerExpiry};
use crate::export;
use crate::fetch::{
    AutomationClient, CredentialCheck, FetchError, HostPolicy, ReadStats, Verified,
};
use crate::printable::printable;
use crate::report::{self, Inventory, Verification};
use crate::secret::{Credential, Fingerprint};
use crate::settings::{OrgSettings, SiteOptions};
use crate::ui::Ui;
use crate::verify::{
    check_where, sent_to_site_but_gateway_only, verify_key, CheckAt, Places, Target, VerifyKey,
};

use super::scan_sites::{self, Sites};

pub async fn run(options: &SiteOptions, args: &ScanArgs, ui: &Ui) -> CommandResult {
    // The same format on a terminal and in a pipe: `scan | grep dead` reads what a person
    // reads; scripts ask for `--format json`.
    let format = args.format;
    let verify = args.verify || args.fail_on.contains(&FailOn::Dead);
    let wants_expiry = args
        .fail_on
        .iter()
        .any(|f| matches!(f, FailOn::Expiring { .. }));
    if wants_expiry && args.org.org.is_none() {
        return Err(
            CommandError::usage("--fail-on expiring needs the organization's token list")
                .hint("pass --org ID with the org admin API key in AUTOREKEY_ORG_API_KEY (or --org-api-key-file)"),
        );
    }
    let (sites, org) = sites_and_org(options, args, verify, ui).await?;
    let mut collector = Collector::new(args.account.as_deref());
    let mut cut_short = None;
    match (&args.from_file, &sites) {
        (Some(path), _) => scan_path(path, &mut collector, ui)?,
        (None, Some(sites)) if sites.several => scan_several(sites, &mut collector, ui).await,
        (None, Some(sites)) => {
            let client = sites.clients()[0];
            cut_short = scan_site(client, &mut collector, true, ui).await?;
        }
        (None, None) => unreachable!("a site is resolved whenever there is no file"),
    }
    let unread = collector.inventory.summary.unread_targets();
    if let Some(e) = collector
        .unknown_account()
        .filter(|_| cut_short.is_none() && unread.is_empty())
    {
        return Err(e);
    }
    let (mut inventory, to_verify) = collector.into_inventory();
    inventory.finish();
    if let Some(sites) = sites.as_ref().filter(|_| verify && cut_short.is_none()) {
        verify_credentials(&sites.clients(), &to_verify, &mut inventory, ui).await;
    }
    let expiry = match &org {
        Some(org) => Some(token_expiry(org, &inventory, ui).await),
        None => None,
    };
    let rows = expiry.as_ref().and_then(|e| e.as_ref().ok());
    let text = render(format, &inventory, rows.map(Vec::as_slice), ui);
    match format {
        // JSON's own escaping protects a terminal; a consumer must see the real values.
        Format::Json => ui.out_data(text),
        Format::Text | Format::Csv | Format::Markdown => ui.out_raw(text),
    }
    if let Some(e) = cut_short {
        return Err(CommandError::from(e)
            .context("the scan stopped early: the inventory above is incomplete"));
    }
    if !unread.is_empty() {
        return Err(unread_targets(&unread, inventory.summary.targets.len()));
    }
    if let Some(Err(e)) = expiry {
        return Err(e);
    }
    outcome(&inventory, rows.map(Vec::as_slice), &args.fail_on)
}

/// The sites to read (none for `--from-file` without `--verify`), connected, and the org
/// whose token list is joined: the one discovery used, or `--org` beside the sites.
async fn sites_and_org(
    options: &SiteOptions,
    args: &ScanArgs,
    verify: bool,
    ui: &Ui,
) -> CommandResult<(Option<Sites>, Option<OrgSettings>)> {
    if args.from_file.is_some() && args.org_gateway.is_some() {
        return Err(CommandError::usage(
            "--org-gateway is for reading an org's sites, and --from-file reads no site",
        )
        .hint("drop --org-gateway"));
    }
    if args.from_file.is_some() && !verify {
        return Ok((None, OrgSettings::resolve(&args.org, None, options, ui)?));
    }
    let (sites, discovered) = scan_sites::connect(options, args, ui).await?;
    let org = match discovered {
        Some(org) => Some(org),
        None => OrgSettings::resolve(&args.org, sites.org_gateway()?.as_ref(), options, ui)?,
    };
    Ok((Some(sites), org))
}

/// Some sites or products could not be read (or only in part): the inventory is
/// incomplete, whatever it shows, so the scan fails (exit 1) naming each.
fn unread_targets(unread: &[String], of: usize) -> CommandError {
    CommandError::failure(format!(
        "{} of {of} sites and products could not be read whole: {}; the inventory above is incomplete",
        unread.len(),
        printable(&unread.join(", "))
    ))
    .hint("the summary above says why for each; fix that (or leave it out) and rerun")
}

/// Reads every target at once, each into its own collector (its rows named by site and
/// product), then merges them in target order, with a summary of each target's read; the
/// org's workspaces that cannot be read come last, as targets not read.
async fn scan_several(sites: &Sites, collector: &mut Collector<'_>, ui: &Ui) {
    let account = collector.account;
    let reads = sites.reads.iter().map(|read| async move {
        let mut own = Collector::new(account).at(&read.settings.site, &read.settings.product);
        let error = match &read.client {
            Err(why) => Some(why.clone()),
            Ok(client) => match scan_site(client, &mut own, false, ui).await {
                Ok(None) => None,
                Ok(Some(e)) => Some(client.masker().clean(&e.to_string())),
                Err(e) => Some(client.masker().clean(&scan_sites::one_line(&e))),
            },
        };
        own.close_target(error);
        own
    });
    for read in futures_util::future::join_all(reads).await {
        collector.absorb(read);
    }
    for unread in &sites.unread {
        let target = report::TargetSummary::not_read(
            unread.site.clone(),
            unread.product,
            unread.why.clone(),
        );
        collector.inventory.summary.targets.push(target);
    }
}

/// The org's token list joined to every email account whose credential the scan found.
async fn token_expiry(
    org: &OrgSettings,
    inventory: &Inventory,
    ui: &Ui,
) -> CommandResult<Vec<OwnerExpiry>> {
    let tokens = org.list_tokens(ui).await?;
    let owners: Vec<String> = inventory
        .findings
        .iter()
        .filter(|r| r.status == Status::Literal)
        .filter_map(|r| r.email.clone())
        .filter(|e| e.contains('@'))
        .collect();
    Ok(expiry::join_list(&owners, &tokens, now_epoch()))
}

/// Now, in seconds since the epoch: the clock of every expiry figure (scan's join, `tokens`,
/// revoke's guard), read through jiff as every other time is.
pub fn now_epoch() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// The inventory in `format`, with the expiry join after it (a `token_expiry` key in JSON;
/// CSV stays one row per finding, so the join is left out there and said so).
fn render(
    format: Format,
    inventory: &Inventory,
    expiry: Option<&[OwnerExpiry]>,
    ui: &Ui,
) -> String {
    match (format, expiry) {
        (Format::Text, None) => report::render_table(inventory),
        (Format::Text, Some(rows)) => report::render_table(inventory) + &expiry::render_table(rows),
        (Format::Json, None) => report::render_json(inventory),
        (Format::Json, Some(rows)) => {
            let mut v = serde_json::to_value(inventory).unwrap_or_default();
            v["token_expiry"] = serde_json::to_value(rows).unwrap_or_default();
            // Rule names and token labels may hold C1 and bidi characters serde writes raw.
            crate::printable::json_document(&v)
        }
        (Format::Markdown, rows) => {
            report::markdown::render_scan(inventory, rows.map(expiry::render_table).as_deref())
        }
        (Format::Csv, rows) => {
            if rows.is_some() {
                ui.status(
                    "The token expiry join is shown in the text, json and markdown formats, not in csv.",
                );
            }
            report::render_csv(inventory)
        }
    }
}

/// Builds the inventory rule by rule, and remembers each distinct Atlassian-bound credential
/// (the only secrets kept in memory) in case `--verify` is asked for.
#[derive(Default)]
struct Collector<'a> {
    account: Option<&'a str>,
    /// The file being read (`--from-file`), named on each of its rows.
    file: Option<String>,
    inventory: Inventory,
    to_verify: BTreeMap<VerifyKey, Uses>,
    /// With `--account`: literal secrets that name no user (a raw token in a comment),
    /// kept until the end, when those that may be the account's are shown too; `true` for
    /// an Atlassian-shaped token or a Bearer value that may go to Atlassian, which may
    /// belong to any account; and the token's identity.
    unnamed: Vec<(report::Row, bool, Option<Fingerprint>)>,
    /// With `--account`: the identities of the account's tokens. Matched by identity, not
    /// by the fingerprint shown: a raw copy may show a keyed one where the named shows plain.
    ours: BTreeSet<Fingerprint>,
    /// With `--account`: whether any place names it, and the users of the literal
    /// credentials seen (lower-cased), for the error when none does.
    named: bool,
    users: BTreeSet<String>,
    /// In a scan of several targets: the site (its origin) and product the rules come
    /// from, named on each row, and what `{{baseUrl}}` means in them.
    target: Option<(Url, String)>,
}

/// A credential, where the rules send it, and the fingerprints its rows show.
struct Uses {
    credential: Credential,
    targets: BTreeSet<Target>,
    shown: BTreeSet<String>,
}

impl<'a> Collector<'a> {
    fn new(account: Option<&'a str>) -> Self {
        Collector {
            account,
            ..Collector::default()
        }
    }

    /// A collector of one target's rules, in a scan of several.
    fn at(mut self, site: &Url, product: &str) -> Self {
        self.target = Some((site.clone(), product.to_owned()));
        self
    }

    /// The target's site and product as rows show them.
    fn target_label(&self) -> Option<(String, String)> {
        self.target.as_ref().map(|(site, product)| {
            let site = site.as_str().trim_end_matches('/').to_owned();
            (site, product.clone())
        })
    }

    /// After its target's read: its errors named by site and product, and the summary of
    /// how the read went (`error`: why it could not be read whole).
    fn close_target(&mut self, error: Option<String>) {
        let Some((site, product)) = self.target_label() else {
            return;
        };
        for e in &mut self.inventory.errors {
            e.site = Some(site.clone());
            e.product = Some(product.clone());
        }
        let s = &self.inventory.summary;
        let summary = report::TargetSummary {
            site,
            product,
            rules_read: s.rules_read,
            rules_failed: s.rules_failed,
            list_complete: s.list_complete,
            error: error.map(|e| printable(&e).into_owned()),
            skipped: false,
        };
        self.inventory.summary.targets.push(summary);
    }

    /// Takes in what `other` (another target's collector) gathered.
    fn absorb(&mut self, other: Collector) {
        self.inventory.absorb(other.inventory);
        for (key, uses) in other.to_verify {
            match self.to_verify.entry(key) {
                std::collections::btree_map::Entry::Vacant(v) => {
                    v.insert(uses);
                }
                std::collections::btree_map::Entry::Occupied(mut o) => {
                    o.get_mut().targets.extend(uses.targets);
                    o.get_mut().shown.extend(uses.shown);
                }
            }
        }
        self.unnamed.extend(other.unnamed);
        self.ours.extend(other.ours);
        self.named |= other.named;
        self.users.extend(other.users);
    }

    /// The server's text that the rows and errors quote, through the site's masker.
    fn clean_server_text(&mut self, client: &AutomationClient) {
        // A read that failed before another rule was read may quote that rule's token, and
        // an id (the server's text) may hold one: both are cleaned once every rule is in.
        let clean = |text: &str| client.masker().clean(text);
        for failed in &mut self.inventory.errors {
            failed.error = clean(&failed.error);
            failed.rule_uuid = clean(&failed.rule_uuid);
        }
        // Names and paths are the server's text too: one may hold a piece of the admin's token.
        for row in &mut self.inventory.findings {
            row.rule_uuid = clean(&row.rule_uuid);
            row.rule_name = clean(&row.rule_name);
            row.component_path = clean(&row.component_path);
        }
    }

    /// The row of one finding: its file, and whether it may hide the account's token.
    fn row(&self, rule: &serde_json::Value, f: &Finding) -> report::Row {
        let mut row = report::Row::new(rule, f);
        row.cannot_read = f.may_hide_token_of(self.account);
        row.file.clone_from(&self.file);
        if let Some((site, product)) = self.target_label() {
            row.site = Some(site);
            row.product = Some(product);
        }
        row
    }

    fn add(&mut self, rule: &serde_json::Value) {
        let mut findings = detect::detect(rule);
        if let Some(account) = self.account {
            self.users.extend(
                findings
                    .iter()
                    .filter(|f| f.status == Status::Literal)
                    .filter_map(|f| f.user.as_deref().map(str::to_lowercase)),
            );
            let names = |f: &Finding| {
                f.user
                    .as_deref()
                    .is_some_and(|u| u.trim().eq_ignore_ascii_case(account.trim()))
            };
            self.named |= findings.iter().any(names);
            let unnamed: Vec<_> = findings
                .iter()
                .filter(|f| f.user.is_none() && f.status == Status::Literal)
                .filter(|f| !f.may_hide_token_of(Some(account)))
                .map(|f| {
                    // What `revoke` holds on too: an Atlassian-shaped token anywhere, or a
                    // Bearer value that may go to Atlassian.
                    let atlassian = f.may_be_atlassian_credential();
                    (self.row(rule, f), atlassian, crate::plan::token_identity(f))
                })
                .collect();
            self.unnamed.extend(unnamed);
            // Every place that may hold one of its tokens: named, or unreadable.
            findings.retain(|f| names(f) || f.may_hide_token_of(Some(account)));
            self.ours.extend(
                findings
                    .iter()
                    .filter(|f| names(f))
                    .filter_map(crate::plan::token_identity),
            );
        }
        for f in &findings {
            if let (Some(credential), Some((key, mut target))) = (f.credential(), verify_key(f)) {
                // `{{baseUrl}}` is the rule's own site: among several, name it.
                if let Some((site, _)) = &self.target {
                    target = target.at_site(site);
                }
                let uses = self.to_verify.entry(key).or_insert_with(|| Uses {
                    credential,
                    targets: BTreeSet::new(),
                    shown: BTreeSet::new(),
                });
                uses.targets.insert(target);
                uses.shown.extend(f.fingerprint().map(|fp| fp.to_string()));
            }
        }
        let rows = findings.iter().map(|f| self.row(rule, f)).collect();
        self.inventory.add_rows(rows);
    }

    /// The inventory, with the unnamed secrets that may be the account's: `scan --account`
    /// must show every rule that may still hold one of its tokens, in whatever form. That
    /// is a copy of a token seen with the account's name, or any raw Atlassian token or
    /// Bearer value sent to Atlassian (which names no account: after a rotation the old
    /// token may survive only that way).
    fn into_inventory(mut self) -> (Inventory, BTreeMap<VerifyKey, Uses>) {
        let key = |r: &report::Row| {
            let (file, site, product, uuid) = r.rule_key();
            [file, site, product, uuid].map(str::to_owned)
        };
        let mut with_credentials: BTreeSet<[String; 4]> =
            self.inventory.findings.iter().map(key).collect();
        for (row, atlassian, identity) in self.unnamed {
            if atlassian || identity.is_some_and(|id| self.ours.contains(&id)) {
                if with_credentials.insert(key(&row)) {
                    self.inventory.summary.rules_with_credentials += 1;
                }
                self.inventory.findings.push(row);
            }
        }
        (self.inventory, self.to_verify)
    }

    /// With an `--account` no place names, after every rule was read: the error naming
    /// the accounts that are (a rule not read may be the one that names it).
    fn unknown_account(&self) -> Option<CommandError> {
        let account = self.account.filter(|_| !self.named)?;
        (self.inventory.summary.rules_failed == 0).then(|| no_such_account(account, &self.users))
    }
}

/// `--account` names no credential in the rules: exit 2, naming the accounts found. A
/// mistyped `--account` must never read as an all-clear ("0 findings", exit 0).
fn no_such_account(account: &str, users: &BTreeSet<String>) -> CommandError {
    let account = printable(account);
    let err = CommandError::usage(format!("no rule holds a credential of {account}"));
    if users.is_empty() {
        return err.hint("the rules hold no credential that names an account; `autorekey scan` without --account shows what there is");
    }
    let shown: Vec<String> = users
        .iter()
        .take(10)
        .map(|u| printable(u).into_owned())
        .collect();
    let more = match users.len() - shown.len() {
        0 => String::new(),
        n => format!(" and {n} more"),
    };
    err.hint(format!(
        "check the spelling of --account; the rules hold credentials of: {}{more}",
        shown.join(", ")
    ))
}

/// Scan a file, or every rule file of a directory. A file named directly must be a rule
/// file (an error names it otherwise); in a directory, every entry not read as rules is
/// listed with why, since "0 rules" from a file nobody looked at would hide its tokens.
fn scan_path(path: &Path, collector: &mut Collector, ui: &Ui) -> CommandResult {
    let cannot = |e| {
        let msg = format!("cannot read {} as rules", path.display());
        CommandError::input_file(msg, e, FILE_SHAPES_HINT)
    };
    if !path.is_dir() {
        collector.file = Some(path.display().to_string());
        return export::for_each_rule(path, |rule| collector.add(&rule))
            .map(|_| ())
            .map_err(cannot);
    }
    let mut entries: Vec<_> = std::fs::read_dir(path)
        .map_err(cannot)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    require_rule_files(path, &entries)?;
    for file in entries {
        let reason = read_entry(&file, collector);
        // A file name is anyone's text: a newline in it would print a line of its own.
        let path = file.display().to_string();
        let shown = printable(&path);
        match reason {
            Some(reason) => {
                ui.warn(format!("skipped {shown}: {}", printable(&reason)));
                collector
                    .inventory
                    .skipped_files
                    .push(report::SkippedFile { path, reason });
            }
            None => ui.verbose(format!("Read {shown}")),
        }
    }
    Ok(())
}

/// A folder with no rule file in it is a wrong path, not a clean site: "0 findings"
/// would pass a check that read nothing.
fn require_rule_files(path: &Path, entries: &[PathBuf]) -> CommandResult {
    if entries
        .iter()
        .any(|f| !f.is_dir() && export::is_rule_file_name(f))
    {
        return Ok(());
    }
    Err(CommandError::usage(format!(
        "{} holds no rule files (*.json, *.ndjson, *.jsonl); nothing was scanned",
        path.display()
    ))
    .hint(format!(
        "check the --from-file path ({} entries there; subfolders are not scanned)",
        entries.len()
    )))
}

/// One entry of a directory, read into the collector when it is a rule file; `Some(why)`
/// when it is skipped: not a rule file, or one that could not be read to its end.
fn read_entry(file: &Path, collector: &mut Collector) -> Option<String> {
    if file.is_dir() {
        return Some("a directory (subdirectories are not scanned)".to_string());
    }
    if !export::is_rule_file_name(file) {
        return Some("not a .json, .ndjson or .jsonl file".to_string());
    }
    let mut read = 0usize;
    collector.file = Some(file.display().to_string());
    match export::for_each_rule(file, |rule| {
        read += 1;
        collector.add(&rule)
    }) {
        Ok(_) => None,
        Err(e) if read > 0 => Some(format!(
            "read {}, then stopped: {e}",
            report::count(read, "rule", "rules")
        )),
        Err(e) => Some(e.to_string()),
    }
}

const FILE_SHAPES_HINT: &str = "--from-file takes a rule ({\"trigger\", \"components\", ...}), an \
    envelope {\"rule\": ...}, a UI export {\"rules\": [...]}, {\"data\"|\"values\": [...]}, an \
    array or NDJSON of these, or a directory of such files";

/// Read every rule of the site into the collector. When the site fails part way (it stopped
/// answering, or refused a later page), what was read is kept and the error is returned
/// beside it, so the partial inventory is still shown before the scan fails.
async fn scan_site(
    client: &AutomationClient,
    collector: &mut Collector<'_>,
    show_bar: bool,
    ui: &Ui,
) -> CommandResult<Option<FetchError>> {
    let bar = listing_bar(client, show_bar, ui);
    let stats = client
        .read_all_rules(|read| {
            bar.set_length(read.listed as u64);
            match read.result {
                Ok(rule) => collector.add(rule.body()),
                Err(e) => collector
                    .inventory
                    .add_error(read.summary.uuid, e.to_string()),
            }
            bar.inc(1);
        })
        .await;
    bar.finish_and_clear();
    collector.clean_server_text(client);
    let read = collector.inventory.summary.rules_read + collector.inventory.summary.rules_failed;
    match stats {
        Ok(stats) => {
            say_how_listed(&stats, ui);
            collector.inventory.summary.list_complete = Some(stats.list_complete());
            if read == 0 {
                ui.status(format!(
                    "{} lists no Automation rules: there is nothing to scan",
                    client.site()
                ));
            }
            Ok(None)
        }
        Err(e) if read > 0 => Ok(Some(e)),
        Err(e) => Err(e.into()),
    }
}

/// The status line that the listing starts, and the bar of the rules read.
fn listing_bar(client: &AutomationClient, show_bar: bool, ui: &Ui) -> indicatif::ProgressBar {
    // Rules are read while the list is still paging: the bar grows with the listing. Sites
    // read side by side would draw over each other's bars: they have none, and say which
    // product they list.
    match show_bar {
        true => {
            ui.status(format!("Listing rules at {}", client.site()));
            ui.progress(0, "Reading rules")
        }
        false => {
            let (site, product) = (client.site(), client.product());
            ui.status(format!("Listing {product} rules at {site}"));
            indicatif::ProgressBar::hidden()
        }
    }
}

/// How the site's rules were read (with `-v`), and a warning when its two listings
/// disagreed.
fn say_how_listed(stats: &ReadStats, ui: &Ui) {
    ui.verbose(format!("Concurrency: {}", stats.concurrency));
    ui.verbose(format!("Pacing: {}", stats.pacing));
    if let Some(warning) = stats.listing.warning() {
        ui.warn(warning);
    }
    if let Some(note) = stats.listing.note() {
        ui.verbose(note);
    }
}

/// Check each distinct credential once. An API token belongs to the account, not to a
/// site, so one verdict settles it: asked of the configured site (classic form, then the
/// gateway form a scoped token needs) when any rule sends the credential there or to the
/// site's gateway address, else of the gateway form of another cloud id or of an
/// Atlassian host a rule sends it to. A credential sent only elsewhere is never sent
/// anywhere by autorekey, and stays unchecked.
async fn verify_credentials(
    clients: &[&AutomationClient],
    creds: &BTreeMap<VerifyKey, Uses>,
    inventory: &mut Inventory,
    ui: &Ui,
) {
    let sites = CheckSites::new(clients).await;
    let bar = ui.progress(creds.len() as u64, "Verifying credentials");
    // By (user, fingerprint shown), which is what a row carries.
    let mut verdicts: BTreeMap<VerifyKey, (Verification, String)> = BTreeMap::new();
    for (key, uses) in creds {
        let verdict = sites.verdict(uses).await;
        for shown in &uses.shown {
            verdicts.insert((key.0.clone(), shown.clone()), verdict.clone());
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    mark_rows(inventory, &verdicts);
    inventory.finish();
}

/// The sites `--verify` may check a credential at: each one's client, host policy and
/// cloud id.
struct CheckSites<'c> {
    clients: &'c [&'c AutomationClient],
    policies: Vec<HostPolicy>,
    clouds: Vec<Option<String>>,
}

impl<'c> CheckSites<'c> {
    /// Every site's host policy, then its cloud id, read site by site.
    async fn new(clients: &'c [&'c AutomationClient]) -> Self {
        let policies = clients
            .iter()
            .map(|c| HostPolicy::new(c.site().clone()))
            .collect();
        // Without it, gateway targets of this very site are checked by their cloud id alone.
        let mut clouds = Vec::new();
        for client in clients {
            clouds.push(client.cloud_id().await.ok());
        }
        CheckSites {
            clients,
            policies,
            clouds,
        }
    }

    /// The client that checks a credential the rules send to `targets`, and where, if any.
    fn check_at(&self, targets: &BTreeSet<Target>) -> Option<(&'c AutomationClient, CheckAt)> {
        let places = self
            .clients
            .iter()
            .zip(&self.policies)
            .zip(&self.clouds)
            .map(|((c, p), cloud)| {
                let places = Places {
                    site: c.site(),
                    gateway: c.gateway(),
                    own_cloud: cloud.as_deref(),
                };
                (*c, c.site(), places.check_at(targets, |u| p.allows(u)))
            });
        check_where(places)
    }

    /// The verdict on one credential, with what it means for a rule sending it to the site.
    async fn verdict(&self, uses: &Uses) -> (Verification, String) {
        let Some((client, at)) = self.check_at(&uses.targets) else {
            return (
                Verification::NotChecked,
                "not checked: no rule sends it to the site or an Atlassian host".into(),
            );
        };
        let verified = client.verify(&at, &uses.credential).await;
        let site_refuses = sent_to_site_but_gateway_only(
            verified.check.is_live(),
            verified.url.as_ref(),
            client.site(),
            &uses.targets,
        );
        let (v, mut detail) = verdict_of(verified);
        if site_refuses {
            detail.push_str(
                "; it works only through the gateway, yet a rule sends it to the site's \
                 own address, which refuses it: `rotate --rewrite-urls` moves those URLs",
            );
        }
        (v, detail)
    }
}

/// Each row gets the verdict on its credential; a literal one with none was not one
/// autorekey can check, and says so.
fn mark_rows(inventory: &mut Inventory, verdicts: &BTreeMap<VerifyKey, (Verification, String)>) {
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
        } else if row.status == Status::Literal && row.fingerprint.is_some() {
            row.verification = Some(Verification::NotChecked);
            row.verification_detail =
                Some("not checked: only Basic credentials of an email user can be".into());
        }
    }
}

fn verdict_of(verified: Verified) -> (Verification, String) {
    let at = verified.url.map(|u| format!(" by {u}")).unwrap_or_default();
    match verified.check {
        CredentialCheck::Live { .. } => (Verification::Live, format!("accepted{at}")),
        CredentialCheck::LiveScopeLimited { reason } => {
            (Verification::Live, format!("{reason}{at}"))
        }
        CredentialCheck::Dead { reason } => (Verification::Dead, reason),
        CredentialCheck::Unknown { reason } => (Verification::Unknown, reason),
    }
}

/// Exit 1 when rules could not be read (the inventory is incomplete), 3 when a `--fail-on`
/// condition holds, 0 otherwise.
fn outcome(inv: &Inventory, expiry: Option<&[OwnerExpiry]>, fail_on: &[FailOn]) -> CommandResult {
    if inv.summary.rules_failed > 0 {
        return Err(CommandError::failure(format!(
            "{} could not be read; the inventory above is incomplete",
            report::count(inv.summary.rules_failed, "rule", "rules")
        ))
        .hint("each is listed with its error; rerun to retry them"));
    }
    let skipped = !inv.skipped_files.is_empty() || inv.summary.targets.iter().any(|t| t.skipped);
    let mut hits: Vec<&str> = fail_on
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
                // The one notion of "cannot read" a rotation's verdict has too.
                FailOn::Unreadable => ("unreadable", inv.findings.iter().any(|r| r.cannot_read)),
                FailOn::Expiring { days } => (
                    "expiring",
                    expiry.is_some_and(|rows| expiry::expiring_within(rows, *days)),
                ),
                FailOn::Skipped => ("skipped", skipped),
            };
            hit.then_some(name)
        })
        .collect();
    // Any --fail-on gates CI on the inventory, which a skipped file or workspace or a rule
    // list the site's two listings disagreed on leaves incomplete.
    if !fail_on.is_empty() && skipped && !hits.contains(&"skipped") {
        hits.push("skipped");
    }
    if !fail_on.is_empty() && inv.summary.list_complete == Some(false) {
        hits.push("an unconfirmed rule list");
    }
    if hits.is_empty() {
        Ok(())
    } else {
        Err(CommandError::partial(format!(
            "the scan found what --fail-on names: {}",
            hits.join(", ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_on_skipped_counts_a_workspace_that_could_not_be_read() {
        let mut inv = Inventory::default();
        assert!(outcome(&inv, None, &[FailOn::Skipped]).is_ok());
        let why = "not read: the org's workspace \"x\": no hostUrl".to_string();
        let target = report::TargetSummary::not_read("workspace \"x\"".into(), "jira", why);
        inv.summary.targets.push(target);
        for fail_on in [FailOn::Skipped, FailOn::Literal] {
            let err = outcome(&inv, None, &[fail_on]).expect_err("a skipped workspace fails");
            assert!(format!("{:#}", err.error).contains("skipped"));
        }
        assert!(
            outcome(&inv, None, &[]).is_ok(),
            "the unread target is its own error"
        );
    }
}
