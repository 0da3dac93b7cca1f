//! `autorekey restore BACKUP`: put rules back as they were before a rotation.
//!
//! BACKUP is a run directory written by `rotate`/`apply` (or one rule file in it). Each rule
//! is read as it is now and compared with its backup; a rule already as backed up is left
//! alone; otherwise the redacted diff (now → backup) is shown and, once approved, the backup
//! is written through the same [`Writer`] as a rotation: the version it replaces is saved
//! first (to a new backup folder, so an edit made since the rotation is never lost), the
//! write is journalled in the restored run's journal (marked as the restore's), sent
//! without read-only fields and connections, and read back. A refused login stops it
//! (exit 1), like Ctrl-C.
//!
//! A backup is only trusted from a folder that is the user's alone (as `rotate` requires
//! when writing it), and each file only if it matches the checksum recorded when it was
//! saved and is not a link. A file that fails is named and skipped; the others are still
//! restored, and the command exits 3 at the end.

use std::path::{Path, PathBuf};

use crate::backup::{BackupRun, Manifest, SavedRule, TargetRef};
use crate::cli::{RestoreArgs, SummaryFormat};
use crate::confirm::{Answer, Approver};
use crate::error::{CommandError, CommandResult, ErrorKind};
use crate::fetch::FetchError;
use crate::journal::Journal;
use crate::outcome::{Failure, Kind, Outcome, Stop};
use crate::plan;
use crate::report;
use crate::rule::Rule;
use crate::settings::{SiteOptions, SiteSettings};
use crate::ui::Ui;
use crate::verdict;
use crate::write::{RestoreLog, Writer};

pub async fn run(options: &SiteOptions, args: &RestoreArgs, ui: &Ui) -> CommandResult {
    let (backup, rules, held) = selected_rules(args)?;
    let manifest = backup.manifest()?;
    if !manifest.targets.is_empty() {
        return several(options, args, (backup, manifest), ui).await;
    }
    let approver = Approver::new(args.yes, ui, "restore")?;
    let settings = SiteSettings::resolve(options, ui)?;
    same_site(&manifest, &settings)?;
    let client = settings.connect(ui).await?;
    let _lock = super::rotation::lock_site(&client, "restore", ui)?;
    super::interrupt::set_left(LEFT);
    let journal = open_journal(&backup)?;
    let log = RestoreLog {
        safety: safety_backup(&backup, &manifest)?,
        journal: &journal,
        target: None,
    };
    let writer = Writer::new(&client, &log);
    let mut restore = Restore {
        writer: &writer,
        approver,
        format: args.format,
        stop: None,
    };
    let outcomes = restore.all(rules, ui).await;
    record_end(&journal, &outcomes, held, ui);
    let safety = report_safety_backup(&log.safety, args.format, ui);
    let done = Restored {
        outcomes,
        safety_backup_dir: safety,
        login_refused: writer.login_refused(),
    };
    finish(&manifest, &[backup], done, args.format, ui)
}

/// What a Ctrl-C leaves once a restore writes.
const LEFT: &str = "a rule being restored may or may not have been written; run the same \
    restore again: a rule already as backed up is left alone";

fn open_journal(backup: &BackupRun) -> CommandResult<Journal> {
    Journal::open(&backup.dir().join("journal.jsonl")).map_err(|e| {
        CommandError::caused(ErrorKind::Failure, "cannot open the backup's journal", e)
            .hint("nothing was restored; journal.jsonl must be a plain file in the backup folder")
    })
}

/// The restore of a rotation across several sites and products: each target's rules go
/// back to their own site, through that site's client, with every tenant's lock taken
/// before the first write; one approver, one journal (each entry naming its site and
/// product), one closing summary.
async fn several(
    options: &SiteOptions,
    args: &RestoreArgs,
    (backup, manifest): (BackupRun, Manifest),
    ui: &Ui,
) -> CommandResult {
    let (parts, held) = selected_parts(&backup, args)?;
    let mut approver = Approver::new(args.yes, ui, "restore")?;
    let named: Vec<TargetRef> = parts.iter().map(|p| p.0.clone()).collect();
    let settings = super::sites::settings_for(options, &named, ui)?;
    let targets = super::sites::connect_all(settings, ui).await?;
    let _locks = super::sites::lock_all(&targets, "restore", ui)?;
    super::interrupt::set_left(LEFT);
    let journal = open_journal(&backup)?;
    let (mut outcomes, mut safety_dirs, mut stop) = (Vec::new(), Vec::new(), None);
    let mut login_refused = false;
    for (target, (part, rules)) in targets.iter().zip(parts.into_iter().map(|p| (p.1, p.2))) {
        let heading = crate::printable::printable(&format!(
            "Restoring {} at {}:",
            crate::words::count(rules.len(), "rule", "rules"),
            target.label()
        ))
        .into_owned();
        // Where each rule's line goes: two sites may hold rules of one id and name.
        match args.format {
            SummaryFormat::Text => ui.out(heading),
            SummaryFormat::Json => ui.status(heading),
        }
        let log = RestoreLog {
            safety: safety_backup(&part, &part.manifest()?)?,
            journal: &journal,
            target: Some(target.target.clone()),
        };
        let writer = Writer::new(&target.client, &log);
        let mut restore = Restore {
            writer: &writer,
            approver,
            format: args.format,
            stop,
        };
        outcomes.extend(restore.all(rules, ui).await);
        (approver, stop) = (restore.approver, restore.stop);
        login_refused |= writer.login_refused();
        stop = stop.or(writer.login_refused().then_some(Stop::LoginRefused));
        safety_dirs.extend(report_safety_backup(&log.safety, args.format, ui));
    }
    record_end(&journal, &outcomes, held, ui);
    let done = Restored {
        outcomes,
        safety_backup_dir: (!safety_dirs.is_empty()).then(|| safety_dirs.join(", ")),
        login_refused,
    };
    let backups: Vec<BackupRun> = backup.parts()?.into_iter().map(|p| p.1).collect();
    finish(&manifest, &backups, done, args.format, ui)
}

/// A target's backups and the rules of it the arguments select.
type Part = (TargetRef, BackupRun, Vec<SavedRule>);

/// Each target's backups (private, every file checked) and the rules the arguments select,
/// targets with none selected left out; and how many rules the run holds in all.
fn selected_parts(backup: &BackupRun, args: &RestoreArgs) -> CommandResult<(Vec<Part>, usize)> {
    let (mut parts, mut held) = (Vec::new(), Vec::new());
    for (target, part) in backup.parts().map_err(untrusted)? {
        part.check_private().map_err(untrusted)?;
        let all = part.checked_rules()?;
        held.extend(all.iter().map(|r| r.uuid.clone()));
        let rules: Vec<SavedRule> = all
            .into_iter()
            .filter(|r| args.rules.is_empty() || args.rules.contains(&r.uuid))
            .collect();
        if !rules.is_empty() {
            parts.push((target, part, rules));
        }
    }
    if parts.is_empty() {
        return Err(CommandError::usage("no backed-up rule matches")
            .hint(format!("the backup holds: {}", held.join(", "))));
    }
    Ok((parts, held.len()))
}

/// A restore under way: the one writer, and who approves.
struct Restore<'a> {
    writer: &'a Writer<'a>,
    approver: Approver,
    format: SummaryFormat,
    /// Why no further rule is started (a quit, Ctrl-C at a prompt), once it is so.
    stop: Option<Stop>,
}

impl Restore<'_> {
    /// Restore each rule in turn, past any that fails; stop starting new ones when the
    /// admin quits, presses Ctrl-C at a prompt, or the site refuses the admin's login.
    async fn all(&mut self, rules: Vec<SavedRule>, ui: &Ui) -> Vec<Outcome> {
        let mut outcomes = Vec::new();
        let total = rules.len();
        for (i, saved) in rules.into_iter().enumerate() {
            // A file that cannot be trusted is named by its id: its name is not read.
            let name = saved
                .rule
                .as_ref()
                .map_or(saved.uuid.as_str(), |r| r.name())
                .to_string();
            let halted = (self.stop).or(self.writer.login_refused().then_some(Stop::LoginRefused));
            let outcome = match (halted, saved.rule) {
                (Some(why), _) => Outcome::new(saved.uuid, name, Kind::NotAttempted { why }),
                // Named and skipped: one bad file must not keep the others from restoring.
                (None, Err(error)) => {
                    let file = saved.file.display().to_string();
                    let why = Failure::BackupUntrusted { file, error };
                    self.writer
                        .record(Outcome::new(saved.uuid, name, Kind::Failed { why }))
                }
                (None, Ok(rule)) => {
                    let kind = self.one(&saved.uuid, &rule, (i + 1, total), ui).await;
                    self.writer.record(Outcome::new(saved.uuid, name, kind))
                }
            };
            if let Kind::NotAttempted { why } = outcome.kind {
                self.stop = Some(why);
            }
            if self.format == SummaryFormat::Text {
                ui.out(restore_line(&outcome));
            }
            outcomes.push(outcome);
        }
        outcomes
    }

    /// Restore one rule (the `at`th of so many): read it as it is now, compare, show the
    /// diff, ask, then write it through the writer's protocol (backup of the current
    /// version, journal, PUT, lost answers settled, read-back).
    async fn one(&mut self, uuid: &str, wanted: &Rule, at: (usize, usize), ui: &Ui) -> Kind {
        let failed = |why| Kind::Failed { why };
        // The file name says which rule to write; the content must agree, or the wrong
        // rule would be overwritten (PUT takes the id from the path, not the body).
        if !wanted.body().is_object() || wanted.uuid() != uuid {
            return failed(Failure::BackupMismatch);
        }
        self.writer.keep_secret(&[wanted]);
        // A 401 here is journalled as this rule's failure (the writer notes it, and no
        // further rule is started): the record says why the restore stopped.
        let now = match self.writer.read(uuid).await {
            Ok(now) => now,
            Err(FetchError::NotFound { .. }) => return failed(Failure::Gone),
            Err(e) => {
                let error = e.to_string();
                return failed(Failure::Unreadable { error });
            }
        };
        // The writer sends to the id the answer carries: an answer for another rule would
        // put this backup over a rule it was never compared with (and save the wrong one).
        if now.uuid() != uuid {
            let error = format!(
                "the site answered with another rule ({})",
                crate::printable::printable(now.uuid())
            );
            return failed(Failure::Unreadable { error });
        }
        if plan::differences(wanted.body(), now.body()).is_empty() {
            return Kind::AlreadyCurrent;
        }
        if !crate::detect::masked_pointers(wanted.body()).is_empty() {
            return failed(Failure::BackupMasked);
        }
        self.show(&now, wanted, ui);
        let question = format!("({}/{}) Restore \"{}\"?", at.0, at.1, now.name());
        let why = match super::session::ask(&mut self.approver, &question, ui) {
            Answer::Yes | Answer::All => None,
            Answer::No => return Kind::Declined,
            Answer::Quit => Some(Stop::Quit),
            Answer::Interrupted => Some(Stop::Interrupted),
        };
        if let Some(why) = why {
            return Kind::NotAttempted { why };
        }
        // The rule as it is now may carry edits made since the rotation: the writer backs it
        // up first, so nothing anyone did is lost.
        let target = now.rewritten(wanted.body().clone());
        match self.writer.replace(&now, &target, None).await {
            Ok(()) => Kind::Restored,
            Err(kind) => kind,
        }
    }

    fn show(&self, now: &Rule, wanted: &Rule, ui: &Ui) {
        let name = now.name();
        // The backup's id (checked against its file name), not the one the server's answer
        // carries: server text, which must not start a line of its own.
        let uuid = crate::printable::printable(wanted.uuid());
        let heading = format!("Rule \"{name}\" ({uuid}): now → backup");
        let diff = plan::redacted_diff_between(
            now.body(),
            wanted.body(),
            &(format!("{name} (now)"), format!("{name} (backup)")),
        );
        ui.show_diff(&heading, &diff, self.format == SummaryFormat::Json);
    }
}

/// Record in the journal how many of the backup's `held` rules are as backed up now, so
/// `backups` calls the run restored only when all of them are.
fn record_end(journal: &Journal, outcomes: &[Outcome], held: usize, ui: &Ui) {
    let as_backed_up = outcomes
        .iter()
        .filter(|o| matches!(o.kind, Kind::Restored | Kind::AlreadyCurrent))
        .count();
    if let Err(e) = journal.end_restore(as_backed_up, held) {
        ui.warn(format!(
            "could not record the restore's end in the journal: {e}"
        ));
    }
}

/// What a restore did: each rule's outcome, where the versions it replaced went, and
/// whether the site refused the admin's login (even at the last rule's write, with no rule
/// after it left "not attempted").
struct Restored {
    outcomes: Vec<Outcome>,
    safety_backup_dir: Option<String>,
    login_refused: bool,
}

/// One line per rule, as it is restored (one line whatever the rule or the site says).
fn restore_line(o: &Outcome) -> String {
    let uuid = crate::printable::printable(o.uuid());
    let line = match &o.kind {
        Kind::AlreadyCurrent => format!("\"{}\" ({uuid}) is already as in the backup", o.name()),
        Kind::Failed {
            why: why @ Failure::BackupUntrusted { .. },
        } => format!(
            "Not restored: {}",
            report::reason(&Kind::Failed { why: why.clone() }).unwrap_or_default()
        ),
        _ => format!("{} ({uuid})", report::outcome_line(o)),
    };
    crate::printable::printable(&line).into_owned()
}

/// The closing lines of a restore (or its JSON), the verdict, and the exit status: 1 when
/// stopped (Ctrl-C, a refused login), 3 when a rule could not be restored, else 0.
fn finish(
    manifest: &Manifest,
    backup: &[BackupRun],
    done: Restored,
    format: SummaryFormat,
    ui: &Ui,
) -> CommandResult {
    let outcomes = &done.outcomes;
    let old = old_fingerprints(backup, manifest);
    let new: crate::secret::Fingerprint =
        serde_json::from_value(serde_json::json!(manifest.new_fingerprint))
            .unwrap_or_else(|_| crate::secret::Fingerprint::of(""));
    let facts = verdict::Facts::restore(&old, &new);
    let advice = verdict::advise(&facts);
    match format {
        SummaryFormat::Text => ui.out_raw(format!(
            "\n{}\n{}",
            restore_counts(outcomes),
            verdict::render(&advice, &facts, &manifest.account)
        )),
        SummaryFormat::Json => ui.out_data(report::render_restore_json(
            &report::RestoreSummary {
                account: &manifest.account,
                outcomes,
                safety_backup_dir: done.safety_backup_dir.as_deref(),
                old: &old,
                new: &new,
            },
            &advice,
        )),
    }
    let count = |pick: fn(&Kind) -> bool| outcomes.iter().filter(|o| pick(&o.kind)).count();
    let stopped = count(Kind::stopped);
    if done.login_refused && stopped == 0 {
        return Err(CommandError::failure(
            "the site refused the admin's login (401) mid-restore",
        )
        .hint("check the admin's token, then run the same restore again: it skips rules already restored"));
    }
    if stopped > 0 {
        return Err(CommandError::failure(format!(
            "stopped with {} not restored",
            crate::words::count(stopped, "rule", "rules")
        ))
        .hint("check the admin's token if the site refused it, then run the same restore again: it skips rules already restored"));
    }
    let failed = count(|k| matches!(k, Kind::Failed { .. } | Kind::Attention { .. }));
    if failed > 0 {
        return Err(CommandError::partial(format!(
            "{} not be restored as backed up (listed above)",
            crate::words::count(failed, "rule could", "rules could")
        )));
    }
    // As `rotate` after a quit: rules were left as they are, which a person must know.
    match count(|k| matches!(k, Kind::NotAttempted { .. } | Kind::Declined)) {
        0 => Ok(()),
        n => Err(CommandError::partial(format!(
            "{} not restored: you quit or said no (listed above)",
            crate::words::count(n, "rule was", "rules were")
        ))
        .hint("run the same restore again to restore them: it skips rules already restored")),
    }
}

/// Selects the outcomes one row of the counts counts.
type Pick = fn(&Kind) -> bool;

/// The rows of a restore's counts, in order (a row with nothing to count is not shown).
const RESTORE_COUNTS: [(&str, Pick); 6] = [
    ("restored", |k| matches!(k, Kind::Restored)),
    ("already as backed up", |k| {
        matches!(k, Kind::AlreadyCurrent)
    }),
    ("needs attention", |k| matches!(k, Kind::Attention { .. })),
    ("failed", |k| matches!(k, Kind::Failed { .. })),
    ("declined", |k| matches!(k, Kind::Declined)),
    ("not attempted", |k| matches!(k, Kind::NotAttempted { .. })),
];

/// `Restore of 12 rules:` and a count of each outcome, as a rotation's summary counts.
fn restore_counts(outcomes: &[Outcome]) -> String {
    let rules = crate::words::count(outcomes.len(), "rule", "rules");
    let mut out = format!("Restore of {rules}:\n");
    for (label, pick) in RESTORE_COUNTS {
        let n = outcomes.iter().filter(|o| pick(&o.kind)).count();
        if n > 0 {
            out.push_str(&format!("  {label:<22} {n}\n"));
        }
    }
    out
}

/// The old tokens the restored rules use again (those of the backup's account).
fn old_fingerprints(
    backups: &[BackupRun],
    manifest: &Manifest,
) -> std::collections::BTreeSet<String> {
    let selector = plan::Selector::new(manifest.account.clone(), vec![]);
    backups
        .iter()
        .flat_map(|b| b.saved_rules().unwrap_or_default())
        .collect::<Vec<_>>()
        .iter()
        .flat_map(|saved| crate::detect::detect(saved.body()))
        .filter(|f| selector.is_account(f))
        .filter_map(|f| f.fingerprint().map(|fp| fp.to_string()))
        .collect()
}

/// A backup is restored only to the site it was taken from.
fn same_site(manifest: &Manifest, settings: &SiteSettings) -> CommandResult {
    if url::Url::parse(&manifest.site).map(|u| u.origin()) == Ok(settings.site.origin()) {
        return Ok(());
    }
    Err(CommandError::usage(format!(
        "this backup is of {}, but the site is {}",
        manifest.site, settings.site
    ))
    .hint(format!(
        "set AUTOREKEY_SITE (or --site) to {}",
        manifest.site
    )))
}

/// Where restore saves each rule's current version before overwriting it: a new run
/// directory beside the one being restored, so nothing anyone did is lost.
fn safety_backup(restoring: &BackupRun, manifest: &Manifest) -> CommandResult<BackupRun> {
    // A target of a run of several sites is `<run>/sites/<target>`: the copy goes beside
    // the run, not into it.
    let mut root = restoring.dir().parent().unwrap_or(restoring.dir());
    if root.file_name() == Some(std::ffi::OsStr::new(crate::backup::SITES)) {
        root = root.parent().and_then(Path::parent).unwrap_or(root);
    }
    let safety = Manifest {
        started_at: crate::backup::now_rfc3339(),
        tool: format!("autorekey {} restore", env!("CARGO_PKG_VERSION")),
        ..manifest.clone()
    };
    BackupRun::create(root, &safety).map_err(|e| {
        let msg = "cannot create a backup of the rules' current versions; nothing was restored";
        CommandError::caused(ErrorKind::Failure, msg, e)
            .hint("check the backup directory's permissions")
    })
}

/// Where the versions the restore replaced were saved, if it replaced any; the folder is
/// removed when unused. Said on stdout with the text summary, on stderr beside JSON (which
/// carries it as `safety_backup_dir`).
fn report_safety_backup(safety: &BackupRun, format: SummaryFormat, ui: &Ui) -> Option<String> {
    let used = safety.saved_rules().map(|r| !r.is_empty()).unwrap_or(true);
    if !used {
        let _ = std::fs::remove_dir_all(safety.dir());
        return None;
    }
    let dir = safety.dir().display().to_string();
    let line = format!(
        "The versions replaced by the restore were saved to {dir} (restore them the same way)."
    );
    match format {
        SummaryFormat::Text => ui.out(line),
        SummaryFormat::Json => ui.status(line),
    }
    Some(dir)
}

/// The backup, the saved rules the arguments select, each checked (see
/// [`BackupRun::checked_rules`]), and how many rules it holds; the folder itself must be
/// private.
fn selected_rules(args: &RestoreArgs) -> CommandResult<(BackupRun, Vec<SavedRule>, usize)> {
    let (run_dir, only_file) = locate(&args.backup)?;
    // One site's folder of a run of several: its journal is the run's, one level up.
    let sites = run_dir
        .parent()
        .filter(|p| p.ends_with(crate::backup::SITES));
    if let Some(run) = sites
        .and_then(Path::parent)
        .filter(|r| r.join("manifest.json").is_file())
    {
        return Err(CommandError::usage(format!(
            "{} is one site's part of the backup {}",
            args.backup.display(),
            run.display()
        ))
        .hint(format!(
            "pass the run itself: autorekey restore {} (add --rule UUID for one rule)",
            run.display()
        )));
    }
    let backup = BackupRun::open(&run_dir).map_err(|e| not_a_backup(&run_dir, e))?;
    backup.check_private().map_err(untrusted)?;
    let all = backup.checked_rules()?;
    let held: Vec<String> = all.iter().map(|r| r.uuid.clone()).collect();
    let rules: Vec<SavedRule> = all
        .into_iter()
        .filter(|r| only_file.as_ref().is_none_or(|f| *f == r.uuid))
        .filter(|r| args.rules.is_empty() || args.rules.contains(&r.uuid))
        .collect();
    // A run of several sites keeps its rules in its targets' folders (`selected_parts`).
    let several = backup.manifest().is_ok_and(|m| !m.targets.is_empty());
    if rules.is_empty() && !several {
        return Err(CommandError::usage("no backed-up rule matches")
            .hint(format!("the backup holds: {}", held.join(", "))));
    }
    Ok((backup, rules, held.len()))
}

/// A backup folder (or one above it) that is not the user's alone.
fn untrusted(e: impl std::error::Error + Send + Sync + 'static) -> CommandError {
    CommandError::caused(ErrorKind::Failure, "the backup cannot be trusted", e).hint(
        "nothing was restored; another user could have changed these backups. Check the \
         files, make the folder yours alone (`chmod 700` it and the folders above it), \
         then run restore again",
    )
}

fn not_a_backup(run_dir: &Path, e: std::io::Error) -> CommandError {
    if e.kind() != std::io::ErrorKind::NotFound {
        let msg = format!("cannot read the backup in {}", run_dir.display());
        return CommandError::caused(ErrorKind::Failure, msg, e)
            .hint("nothing was restored; its manifest.json or rules.sha256 is damaged or not a plain file");
    }
    let msg = format!(
        "{} is not an autorekey backup (no manifest.json)",
        run_dir.display()
    );
    let runs = backup_runs_in(run_dir);
    let hint = if runs.is_empty() {
        "pass the directory that rotate printed after \"Backups\"".to_string()
    } else {
        format!(
            "that is the folder of backups: pass one of the runs in it: {}",
            runs.join(", ")
        )
    };
    CommandError::usage(msg).hint(hint)
}

/// The backup runs directly inside `dir`, for a hint.
fn backup_runs_in(dir: &Path) -> Vec<String> {
    let mut runs: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter(|e| e.path().join("manifest.json").is_file())
        .map(|e| e.path().display().to_string())
        .collect();
    runs.sort();
    runs
}

/// A run directory, or one rule file inside its `rules/` folder.
fn locate(path: &Path) -> CommandResult<(PathBuf, Option<String>)> {
    if path.is_file() {
        let uuid = path.file_stem().map(|s| s.to_string_lossy().into_owned());
        let run = path.parent().and_then(Path::parent).map(Path::to_path_buf);
        return match run {
            Some(dir) => Ok((dir, uuid)),
            None => Err(CommandError::usage(format!(
                "{} is not inside a backup",
                path.display()
            ))),
        };
    }
    if path.is_dir() {
        return Ok((path.to_path_buf(), None));
    }
    Err(
        CommandError::usage(format!("{} does not exist", path.display()))
            .hint("pass the backup directory that rotate printed after \"Backups\""),
    )
}
