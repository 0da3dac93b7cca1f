//! The command line: every clap definition, and nothing that runs.
//!
//! Kept apart from the commands (as uv keeps `uv-cli` apart) so the whole interface, which
//! scripts depend on, can be read in one place. Doc comments here are the `--help` text.
//! Secrets never arrive as a flag's value (argv is world-readable): options name a file,
//! `-` for stdin, or an environment variable; a hidden prompt is the last resort.
//!
//! Two groups of options cross commands: "Global options" (`-v`, `-q`, `--color`) on every
//! command, and "Site options" ([`SiteArgs`]) only on the commands that talk to a site, so
//! `demo --help` does not list a `--site` it would ignore. clap cannot show an option under
//! some subcommands only while also accepting it before the subcommand name, so the site
//! options are defined at both levels and [`parse`] merges them (what is typed after the
//! name wins); typed before a command that ignores them, they are refused.

use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

pub use crate::ui::ColorChoice;
#[cfg(feature = "sandbox")]
pub use sandbox::SandboxArgs;

mod masked_error;
#[cfg(feature = "sandbox")]
mod sandbox;

pub use masked_error::masked_error_text;

/// Find and rotate Atlassian API tokens embedded in Jira Automation rules.
///
/// Jira Automation "Send web request" actions often carry
/// `Authorization: Basic base64(email:token)` headers typed in by hand. API tokens now
/// expire within a year: autorekey finds every embedded credential (`scan`), shows a redacted
/// diff, and rewrites the rules with the newly issued token (`rotate`), with backups, a
/// journal and a way back (`restore`). Try it with no site at all: `autorekey demo`.
#[derive(Debug, Parser)]
#[command(name = "autorekey", version, max_term_width = 100)]
pub struct Cli {
    /// Site options given before the command (`autorekey --site URL scan`); those given
    /// after it win. See [`parse`].
    #[command(flatten)]
    pub site_args: SiteArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options of every command: how much is said, and in which colours.
#[derive(Clone, Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct OutputArgs {
    /// More detail on stderr (repeatable; `-vv` also traces each request: method, path,
    /// status and time, never headers or bodies).
    #[arg(short, long, action = clap::ArgAction::Count, global = true, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Only results and errors; no status lines or progress.
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// When to colour the output. `auto` colours a terminal unless NO_COLOR is set
    /// (CLICOLOR=0 turns it off, CLICOLOR_FORCE=1 on even off a terminal).
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true, value_name = "WHEN")]
    pub color: ColorChoice,

    /// A team key for the fingerprints of secrets that are not Atlassian API tokens (shown
    /// as `k:` + 12 hex), read from this file (mode 0600): inventories made with the same key
    /// agree. Otherwise AUTOREKEY_FINGERPRINT_KEY, else this machine's key, made on first use
    /// in the data folder.
    #[arg(long, global = true, value_name = "PATH")]
    pub fingerprint_key_file: Option<PathBuf>,
}

/// Options of the commands that talk to a site (scan, rotate, apply, restore, tokens,
/// revoke), listed only in their help. They may also come before the command name, as scripts have always
/// written them: [`parse`] merges the two places.
#[derive(Clone, Debug, Args)]
#[command(next_help_heading = "Site options")]
pub struct SiteArgs {
    /// The Jira site, e.g. `https://acme.atlassian.net` (`http://` only for loopback
    /// addresses). Repeat the flag for several sites (`scan`, `rotate` and `revoke` take them
    /// all; other commands one); AUTOREKEY_SITE holds one site, and commas never split a value.
    #[arg(long, env = "AUTOREKEY_SITE", value_name = "URL", action = clap::ArgAction::Append)]
    pub site: Vec<String>,

    /// Read site URLs from this file, one a line (`#` starts a comment; blank lines are
    /// ignored), after any `--site`.
    #[arg(long, value_name = "PATH")]
    pub sites_file: Option<PathBuf>,

    /// The admin account autorekey acts as (a Jira global admin).
    #[arg(long, env = "AUTOREKEY_LOGIN", value_name = "EMAIL")]
    pub login: Option<String>,

    /// Read the admin's API token from this file (`-` for stdin). Otherwise it comes from
    /// AUTOREKEY_API_TOKEN, or a hidden prompt on a terminal.
    #[arg(long, value_name = "PATH")]
    pub api_token_file: Option<PathBuf>,

    /// Which product's automation rules (`all`: Jira and Confluence; `scan`, `rotate` and
    /// `revoke`).
    #[arg(long, value_enum, default_value_t = Product::Jira)]
    pub product: Product,

    /// Override the automation API base (default: the site's gateway address, with the cloud
    /// id discovered from /_edge/tenant_info).
    #[arg(long, value_name = "URL")]
    pub api_base: Option<String>,

    /// Most requests in flight at once, reads and writes alike (a rule's write is a re-read,
    /// the PUT and a read-back). It halves whenever the site throttles (429 or 503) and grows
    /// back slowly; beside it, requests are paced to the site's rate limit once it is known
    /// (from X-RateLimit-* headers or from its 429s), so a high start costs nothing.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,

    /// Largest answer read from the site, in MiB: a server sending more stops the command
    /// with an error instead of filling the memory.
    #[arg(long, env = "AUTOREKEY_MAX_RESPONSE_MB", default_value_t = 32, value_name = "MIB", value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub max_response_mb: u32,
}

/// The site options' ids, as clap knows them: each is merged by [`SiteArgs::take_given`].
const SITE_OPTION_IDS: [&str; 8] = [
    "site",
    "sites_file",
    "login",
    "api_token_file",
    "product",
    "api_base",
    "concurrency",
    "max_response_mb",
];

impl SiteArgs {
    /// Take from `before` each option typed before the command name and not after it.
    /// Only typed values count: an environment variable or a default is the same in both
    /// places and must not override what was typed.
    fn take_given(&mut self, after: &ArgMatches, before: SiteArgs, before_m: &ArgMatches) {
        let typed = |m: &ArgMatches, id: &str| m.value_source(id) == Some(ValueSource::CommandLine);
        let take = |id: &str| typed(before_m, id) && !typed(after, id);
        // One line per field, by name: clap's id of a flattened field is its name.
        macro_rules! merge {
            ($($field:ident),+) => {
                $(if take(stringify!($field)) {
                    self.$field = before.$field;
                })+
            };
        }
        merge!(
            site,
            sites_file,
            login,
            api_token_file,
            product,
            api_base,
            concurrency,
            max_response_mb
        );
    }
}

/// A duration as people write one (`7d`, `36h`, `1h 30m`, `2 days`; a day is 24 hours),
/// read by jiff's friendly format. A negative one is refused.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    const UNITS: &str = "give a number and a unit: s, m, h, d or w (e.g. 7d, 36h, 1h 30m); \
                         a month or a year has no fixed length";
    let text = text.trim();
    if text == "0" {
        return Ok(std::time::Duration::ZERO);
    }
    let span: jiff::Span = text.parse().map_err(|_| UNITS.to_string())?;
    let length = span
        .to_duration(jiff::SpanRelativeTo::days_are_24_hours())
        .map_err(|_| UNITS.to_string())?;
    std::time::Duration::try_from(length).map_err(|_| "a duration cannot be negative".into())
}

/// The command line as clap parses, documents and completes it (`--help`, `man`,
/// `completions`): [`Cli`] with every help line ending in a period (clap's derive drops the
/// one that closes a one-paragraph doc comment, and its own `--help` and `--version` have
/// none), and the site options hidden on `completions` and `man`, which ignore them.
pub fn command() -> clap::Command {
    let mut command = Cli::command();
    // Built first, so clap's own flags and the site options are there to be finished.
    command.build();
    finish_help(command)
}

fn finish_help(command: clap::Command) -> clap::Command {
    let quiet_command = matches!(command.get_name(), "completions" | "man");
    let about = command.get_about().map(|a| sentence(&a.to_string()));
    let long_about = command.get_long_about().map(|a| sentence(&a.to_string()));
    let mut command = command.mut_args(|mut arg| {
        if let Some(help) = arg.get_help().map(|h| sentence(&h.to_string())) {
            arg = arg.help(help);
        }
        if let Some(help) = arg.get_long_help().map(|h| sentence(&h.to_string())) {
            arg = arg.long_help(help);
        }
        let hide = arg.is_hide_set() || (quiet_command && arg.is_global_set());
        arg.hide(hide)
    });
    if let Some(about) = about {
        command = command.about(about);
    }
    if let Some(about) = long_about {
        command = command.long_about(about);
    }
    command.mut_subcommands(finish_help)
}

/// `text` ending with a full stop (or its own `?` or `!`).
fn sentence(text: &str) -> String {
    let text = text.trim_end();
    if text.ends_with(['.', '?', '!']) {
        text.to_string()
    } else {
        format!("{text}.")
    }
}

/// Parse the command line, exiting with clap's message (exit 2) on bad usage.
pub fn parse() -> Result<Cli, clap::Error> {
    try_parse_from(std::env::args_os())
}

/// Parse `args`, folding the site options typed before the command name into the
/// command's own: clap cannot list options under only some subcommands and also accept
/// them before the name, so they are defined in both places and merged here.
pub fn try_parse_from<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let mut command = command();
    let matches = command.try_get_matches_from_mut(args)?;
    let mut cli = Cli::from_arg_matches(&matches)?;
    let Some((name, sub_m)) = matches.subcommand() else {
        return Ok(cli);
    };
    let before = cli.site_args.clone();
    match cli.command.site_args_mut() {
        Some(site) => site.take_given(sub_m, before, &matches),
        None => {
            if let Some(id) = SITE_OPTION_IDS
                .iter()
                .find(|id| matches.value_source(id) == Some(ValueSource::CommandLine))
            {
                let flag = format!("--{}", id.replace('_', "-"));
                return Err(command.error(
                    clap::error::ErrorKind::ArgumentConflict,
                    format!("{flag} is not used by `autorekey {name}`"),
                ));
            }
        }
    }
    Ok(cli)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Product {
    Jira,
    Confluence,
    // Jira and Confluence, in that order (no doc comment: clap would turn the list of
    // possible values into a longer one, described per value).
    All,
}

impl Product {
    /// The products this choice stands for, in the order they are read.
    pub fn expand(self) -> &'static [&'static str] {
        match self {
            Product::Jira => &["jira"],
            Product::Confluence => &["confluence"],
            Product::All => &["jira", "confluence"],
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Scan(ScanArgs),
    Rotate(RotateArgs),
    Apply(ApplyArgs),
    Restore(RestoreArgs),
    Backups(BackupsArgs),
    Fingerprint(FingerprintArgs),
    Tokens(TokensArgs),
    Revoke(RevokeArgs),
    #[cfg(feature = "sandbox")]
    Sandbox(SandboxArgs),
    #[cfg(feature = "sandbox")]
    Demo(DemoArgs),
    Completions(CompletionsArgs),
    Man(ManArgs),
}

impl Command {
    /// The site options of a command that talks to a site; `None` for the others.
    pub fn site_args_mut(&mut self) -> Option<&mut SiteArgs> {
        match self {
            Command::Scan(a) => Some(&mut a.site_args),
            Command::Rotate(a) => Some(&mut a.site_args),
            Command::Apply(a) => Some(&mut a.site_args),
            Command::Restore(a) => Some(&mut a.site_args),
            Command::Tokens(a) => Some(&mut a.site_args),
            Command::Revoke(a) => Some(&mut a.site_args),
            #[cfg(feature = "sandbox")]
            Command::Sandbox(_) | Command::Demo(_) => None,
            Command::Backups(_)
            | Command::Fingerprint(_)
            | Command::Completions(_)
            | Command::Man(_) => None,
        }
    }
}

/// Inventory: which rules hold which credential, for which account, and is it alive.
///
/// Read-only. Prints no token: a credential is shown as its user and fingerprint (the first
/// 12 hex digits of SHA-256 of the token, or `k:` and a keyed hash for a secret that is not
/// an Atlassian credential; see `autorekey fingerprint`).
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Output format: the same on a terminal and in a pipe (`--format json` for scripts).
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,

    /// Only credentials of this account (case-insensitive), and every place that may hold
    /// one of its tokens: values that cannot be read (masked, a managed secret, a smart
    /// value) and raw copies. An account no rule names is an error (exit 2).
    #[arg(long, value_name = "EMAIL")]
    pub account: Option<String>,

    /// Read rules from a file instead of a site; no network. A UI export, an API envelope
    /// {"rule":..}, a bare rule, {"data"|"values":[..]}, an array or NDJSON of these, or a
    /// directory of .json/.ndjson/.jsonl files (every other entry is listed as skipped).
    #[arg(long, value_name = "PATH")]
    pub from_file: Option<PathBuf>,

    /// Check each distinct Atlassian credential once against /rest/api/3/myself of the site
    /// it is used for: live, dead or unknown. A 401 is never retried (repeated failed logins
    /// lock the account behind a CAPTCHA).
    #[arg(long)]
    pub verify: bool,

    /// Exit 3 when the scan finds this (for CI health checks): `dead` (a credential that
    /// failed verification; implies --verify), `literal` (any literal credential; an
    /// author's placeholder is none), `unreadable` (a value that may be an Atlassian token
    /// and cannot be read, as rotate counts them: masked, a managed secret or smart value,
    /// a Basic value that names no account), `expiring=30d` (a credential owner's
    /// earliest API token expires within 30 days; needs --org), `skipped` (a --from-file
    /// directory entry, or a workspace of the org, that was not read). Any value also fails
    /// on a skipped file or workspace.
    #[arg(long, value_name = "WHAT", value_parser = parse_fail_on)]
    pub fail_on: Vec<FailOn>,

    #[command(flatten)]
    pub org: OrgArgs,

    /// With --org and no site: the sandbox standing in for api.atlassian.com (a loopback
    /// address, as `autorekey sandbox` prints it), whose org lists the sites to read. Real
    /// orgs need no such flag: their sites are listed by api.atlassian.com.
    #[arg(long, value_name = "URL")]
    pub org_gateway: Option<String>,

    #[command(flatten)]
    pub site_args: SiteArgs,
}

/// The Atlassian organization whose admin API tells when API tokens expire, and revokes
/// them. Its API key never arrives as a flag's value.
#[derive(Clone, Debug, Args, Default)]
pub struct OrgArgs {
    /// The organization id (admin.atlassian.com > Settings > API keys shows it beside the
    /// key): its admin API lists each account's API tokens and when they expire (`scan`
    /// joins that to the credentials it finds).
    #[arg(long, env = "AUTOREKEY_ORG_ID", value_name = "ID")]
    pub org: Option<String>,

    /// Read the org admin API key (with read:tokens:admin, and
    /// read:service-accounts-tokens:admin for service accounts' tokens; `revoke` calls the User Management
    /// API, which a key created with selected scopes may not reach) from this file (`-` for
    /// stdin). Otherwise it comes from AUTOREKEY_ORG_API_KEY, or a hidden prompt on a terminal.
    #[arg(long, value_name = "PATH")]
    pub org_api_key_file: Option<PathBuf>,
}

/// How `restore` prints its closing summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum SummaryFormat {
    #[default]
    #[value(alias = "table", help = TEXT_SUMMARY)]
    Text,
    #[value(help = JSON_SUMMARY)]
    Json,
}

/// How `rotate` and `apply` print their closing summary: [`SummaryFormat`] and a report
/// for the change ticket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    #[default]
    #[value(alias = "table", help = TEXT_SUMMARY)]
    Text,
    #[value(help = JSON_SUMMARY)]
    Json,
    #[value(
        help = "For a change ticket: what was found, what changed, what to keep and revoke, and what needs a person, as Markdown on stdout (diffs and progress go to stderr)."
    )]
    Markdown,
}

const TEXT_SUMMARY: &str = "For people: counts, every rule that needs you with why, next steps.";
const JSON_SUMMARY: &str =
    "For scripts: the same summary as one JSON object on stdout (diffs and progress go to stderr).";

/// How `scan` prints its inventory. Every command calls its format for people `text` (the
/// default, on a terminal and in a pipe alike, as gh and kubectl do); `table`, its old
/// name in `scan`, `tokens` and `backups`, is still accepted so scripts keep working.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    #[default]
    #[value(
        alias = "table",
        help = "For people: each credential with the rules that use it, then what could not be inspected."
    )]
    Text,
    #[value(help = "For scripts: one JSON document.")]
    Json,
    #[value(help = "For spreadsheets: one row per finding.")]
    Csv,
    #[value(help = "For a change ticket: the findings as Markdown, ready to paste.")]
    Markdown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailOn {
    Dead,
    Literal,
    Unreadable,
    /// An owner's earliest token expires within this many days.
    Expiring {
        days: u32,
    },
    /// A `--from-file` directory entry was not read.
    Skipped,
}

fn parse_fail_on(text: &str) -> Result<FailOn, String> {
    match text.trim() {
        "dead" => Ok(FailOn::Dead),
        "literal" => Ok(FailOn::Literal),
        "unreadable" => Ok(FailOn::Unreadable),
        "skipped" => Ok(FailOn::Skipped),
        other => other
            .strip_prefix("expiring=")
            .and_then(|d| parse_days(d).ok())
            .map(|days| FailOn::Expiring { days })
            .ok_or_else(|| {
                "expected dead, literal, unreadable, skipped or expiring=DAYSd (e.g. expiring=30d)"
                    .into()
            }),
    }
}

/// A window of whole days, `30d` or `30`: the one spelling `--fail-on expiring=30d` and
/// `tokens --expiring 30d` share.
pub fn parse_days(text: &str) -> Result<u32, String> {
    Some(text.strip_suffix('d').unwrap_or(text))
        .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|d| d.parse::<u32>().ok())
        .ok_or_else(|| "expected whole days, e.g. 30d".into())
}

/// How the new token is given. Never as a flag's value.
#[derive(Debug, Args)]
pub struct NewTokenArgs {
    /// Read the new token from this file (`-` for stdin). Otherwise it comes from
    /// AUTOREKEY_NEW_TOKEN, or a hidden prompt asked twice on a terminal.
    #[arg(long, value_name = "PATH")]
    pub new_token_file: Option<PathBuf>,

    /// Read the account's old token from this file (`-` for stdin), or from
    /// AUTOREKEY_OLD_TOKEN: rules holding it (in any encoding) are confirmed as the
    /// account's. Without it an old value is rewritten only when it logs in as the account,
    /// its fingerprint is named with --fingerprint, or you confirm it at the prompt.
    #[arg(long, value_name = "PATH")]
    pub old_token_file: Option<PathBuf>,
}

/// How changes are approved and where backups go.
#[derive(Debug, Args)]
pub struct WriteArgs {
    /// Approve every rule without asking (for scripts and CI). It never confirms an old
    /// value as the account's token: use --old-token-file or --fingerprint for that.
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// Where to save each rule as read before writing it (0600 files in a 0700 directory).
    /// It must be yours alone, as must the folders above it. Default: autorekey/backups
    /// under your data directory (required when there is none).
    #[arg(long, value_name = "DIR")]
    pub backup_dir: Option<PathBuf>,

    /// The closing summary's format.
    #[arg(long, value_enum, default_value_t)]
    pub format: ReportFormat,
}

/// Rewrite every embedded credential of an account with its new token, safely.
///
/// Only an old value confirmed as the account's token is replaced: the one given with
/// --old-token-file, one whose fingerprint is named with --fingerprint, one that logs in as
/// the account (at most two failed logins a run), or one you confirm at the prompt; every
/// other value is left alone, listed, and holds back the revoke advice (a rule editor may
/// have planted it). Checks the new token first, shows a redacted diff per rule, asks (or takes --yes), backs
/// each rule up, re-reads it just before writing, writes, reads it back, and reads every
/// rotated rule once more at the end. A rerun carries on an interrupted rotation in the same
/// backup folder; a second writing run on the same site is refused. The summary says whether
/// the old token may be revoked, naming the fingerprints to keep and to revoke. Exit 3 when
/// it may not yet (rules left alone, failed, declined, not attempted because you quit, or
/// to check, each listed with why); exit 1 when stopped by Ctrl-C (at a prompt or
/// not) or by the site refusing the admin's login, or when the run itself fails (rerun: it
/// does only what is left); exit 2 when --account or --fingerprint matches nothing, or the
/// "new" token is already in the rules; a --dry-run or --out run exits 0. `--format json`
/// prints the summary as one JSON object on stdout, `--format markdown` as a report for the
/// change ticket.
#[derive(Debug, Args)]
pub struct RotateArgs {
    /// The account whose credentials to rotate (case-insensitive).
    #[arg(long, value_name = "EMAIL")]
    pub account: String,

    /// Only the old tokens with these fingerprints (or fingerprint prefixes), as `scan`
    /// shows them: plain (`3f9c0a1b2c4d`) or keyed (`k:1a2b3c4d5e6f`). A whole fingerprint
    /// also confirms that token as the account's (a prefix only selects).
    #[arg(long, value_name = "FP")]
    pub fingerprint: Vec<String>,

    /// Move the credentials to another account, typically a service account
    /// (`...@serviceaccount.atlassian.com`): each rule's `email:token` becomes this account's
    /// email and the new token (which must belong to it). Only Basic credentials move.
    #[arg(long, value_name = "EMAIL")]
    pub to_account: Option<String>,

    /// Also move the URL of each web request that sends a rewritten credential from the
    /// site's REST address (`{site}/rest/...`, `{{baseUrl}}/rest/...`) to the gateway form
    /// scoped tokens need (`https://api.atlassian.com/ex/jira/{cloudId}/rest/...`).
    #[arg(long)]
    pub rewrite_urls: bool,

    /// Show the diffs and write nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Save the plan (no secrets) to this new file and write nothing; `autorekey apply`
    /// carries it out later. An existing file is never replaced.
    #[arg(long, value_name = "PLAN.json")]
    pub out: Option<PathBuf>,

    /// Rotate a UI export file offline instead of a site (needs --write).
    #[arg(long, value_name = "EXPORT.json", requires = "write")]
    pub from_file: Option<PathBuf>,

    /// Where to write the rotated export (with --from-file), for re-import.
    #[arg(long, value_name = "NEW_EXPORT.json", requires = "from_file")]
    pub write: Option<PathBuf>,

    #[command(flatten)]
    pub new_token: NewTokenArgs,

    #[command(flatten)]
    pub write_args: WriteArgs,

    #[command(flatten)]
    pub site_args: SiteArgs,
}

/// Carry out a plan saved by `rotate --out`, exactly: the same rules, the same credentials.
///
/// Rules that changed since the plan was made are re-planned on their current content when
/// the planned credentials are still at the planned places (and nowhere else), and shown
/// again. A plan edited after it was saved is refused. Every rule of the site is read, so
/// the summary and its exit status are those of `rotate`: 0 when every rule was rotated,
/// 3 when the old token may not be revoked yet, 1 when stopped (Ctrl-C, a refused login)
/// or when the run itself fails. `--format json` prints the summary as one JSON object on
/// stdout, `--format markdown` as a report for the change ticket.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The plan file.
    #[arg(value_name = "PLAN.json")]
    pub plan: PathBuf,

    #[command(flatten)]
    pub new_token: NewTokenArgs,

    #[command(flatten)]
    pub write_args: WriteArgs,

    #[command(flatten)]
    pub site_args: SiteArgs,
}

/// Put rules back as they were before a rotation, from the backups rotate wrote.
///
/// Each rule is read as it is now, compared with its backup, and (once approved) written
/// through the same protocol as a rotation: the current version is saved first, into a
/// new backup folder beside the one restored, and the write is journalled and read back.
/// A backup file that fails its checksum is named and skipped. Exit 3 when a rule could
/// not be restored as backed up, or you quit or said no to one; exit 1 when stopped by Ctrl-C or by the site refusing the
/// admin's login (rerun: rules already restored are skipped). `--format json` prints the
/// summary as one JSON object on stdout.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// A backup directory written by rotate (or one backup file in it).
    #[arg(value_name = "BACKUP")]
    pub backup: PathBuf,

    /// Only these rules (repeatable).
    #[arg(long = "rule", value_name = "UUID")]
    pub rules: Vec<String>,

    /// Restore without asking.
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// The closing summary's format.
    #[arg(long, value_enum, default_value_t)]
    pub format: SummaryFormat,

    #[command(flatten)]
    pub site_args: SiteArgs,
}

/// Print the fingerprints of a token read on stdin, to match it against `scan`'s inventory.
///
/// Two lines, the fingerprint first on each: the plain one (first 12 hex of SHA-256), which
/// Atlassian credentials show everywhere, then the keyed one (`k:` + 12 hex of HMAC-SHA256
/// under this machine's or the team's key), which other secrets show, so that a weak
/// password cannot be guessed back from an inventory.
#[derive(Debug, Args)]
pub struct FingerprintArgs {}

/// List API tokens from the organization admin API: an account's, or every one that
/// expires soon.
///
/// `--account EMAIL` lists that account's tokens; `--expiring 30d` every token of the
/// organization, users' and service accounts', that expires within 30 days or has expired:
/// owner, kind, label, id, created, expires (with days left), last active, scoped or
/// classic. Never a token's value: Atlassian shows that only once, at creation.
///
/// With --expiring, for a nightly job: exit 0 when no token expires within the window, 3
/// when any does (or already has), or when some tokens could not be listed (a service
/// account's, without read:service-accounts-tokens:admin: unknown, never fine); 1 when the
/// list could not be read, 2 for a wrong command line.
#[derive(Debug, Args)]
pub struct TokensArgs {
    /// The account whose tokens to list (case-insensitive). With --expiring, only its
    /// tokens in the window.
    #[arg(long, value_name = "EMAIL", required_unless_present = "expiring")]
    pub account: Option<String>,

    /// Every token of the organization (users and service accounts) that expires within
    /// this many days, expired ones included: `30d` (or `30`), as `scan --fail-on
    /// expiring=30d` reads it.
    #[arg(long, value_name = "DAYS", value_parser = parse_days)]
    pub expiring: Option<u32>,

    /// With --expiring: an `autorekey scan --format json` inventory (one site or several)
    /// to say, per expiring token, which rules hold a credential of its owner.
    #[arg(long, value_name = "PATH", requires = "expiring")]
    pub scan: Option<PathBuf>,

    /// Output format: the same on a terminal and in a pipe (`--format json` for scripts).
    /// csv and markdown need --expiring.
    #[arg(long, value_enum, default_value_t)]
    pub format: TokensFormat,

    #[command(flatten)]
    pub org: OrgArgs,

    #[command(flatten)]
    pub site_args: SiteArgs,
}

/// Revoke one API token through the organization admin API, once no rule can need it.
///
/// First a fresh scan of every rule of the site: if any rule holds a credential of the
/// account other than the token to keep (--keep, the new token's fingerprint), or anything
/// that might be one (a masked value, a smart value or managed secret, a raw Atlassian
/// token with no user beside it), or a rule cannot be read, or the site's two rule listings
/// disagree, nothing is revoked (exit 3) and each is listed. The token must also be quiet
/// (see --quiet-for) and, while rules use the kept token, shown not to be it: a rotation on
/// this machine moved the rules to it after this token was last used (exit 3 otherwise).
/// Then it asks (or takes --yes), holding the site's lock as rotate does, reads every rule
/// again right before `DELETE /users/{accountId}/manage/api-tokens/{tokenId}`, and revokes
/// nothing if that read finds a new reason not to. Revoking cannot be undone.
///
/// A service account's token is never revoked here (the API's only delete for them
/// revokes all of the account's tokens, the new one included): once the rules are proven
/// clean it says where in admin.atlassian.com to revoke that one token, waits on a terminal
/// until you have (no or Ctrl-C: exit 3), then lists the account's tokens again: exit 0
/// when it is gone, 3 while it is still listed. Scripts poll with --check-gone.
#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The account whose token to revoke (case-insensitive); the token must be its.
    #[arg(long, value_name = "EMAIL")]
    pub account: String,

    /// The token's id, as `autorekey tokens --account EMAIL` lists it.
    #[arg(long, value_name = "ID")]
    pub token_id: String,

    /// The fingerprint (all 12 hex digits) of the account's token that rules may keep: the
    /// new one after a rotation. Without it, no rule may hold any credential of the account.
    #[arg(long, value_name = "FP")]
    pub keep: Option<String>,

    /// How long a token must have gone unused (its lastActiveAt, from the org) when no
    /// rotation on this machine took it out of the rules: `7d`, `36h`, `2w`. After such a
    /// rotation it must not have been used since the rotation ended instead; while rules use
    /// the kept token, not since the rotation to it began. A token whose lastActiveAt is
    /// not given is never revoked: "never used" cannot be told from "not reported yet", as
    /// for a new token in rules that have not run.
    #[arg(long, value_name = "DURATION", default_value = "7d", value_parser = parse_duration)]
    pub quiet_for: std::time::Duration,

    /// The backup root whose rotation journals show which rotation moved the rules to the
    /// kept token, and when, and where a service account's token left to revoke by hand is
    /// recorded for --check-gone (default: autorekey/backups under your data directory).
    #[arg(long, value_name = "DIR")]
    pub backup_dir: Option<PathBuf>,

    /// Revoke without asking.
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// Revoke nothing and read no rule: only list the account's tokens again and say
    /// whether this one is gone (exit 0) or still listed (exit 3), for a script to poll
    /// after a service account's token was revoked by hand at admin.atlassian.com. "Gone"
    /// only for an id listed as revoked or left to a person by an earlier `revoke` here; an
    /// id known nowhere (a typo) is exit 2.
    #[arg(long, conflicts_with_all = ["keep", "yes"])]
    pub check_gone: bool,

    #[command(flatten)]
    pub org: OrgArgs,

    #[command(flatten)]
    pub site_args: SiteArgs,
}

/// Walk through the main job against a built-in sandbox: no Atlassian site needed.
///
/// Starts the sandbox with the fixtures built into autorekey and runs the real commands
/// against it: an inventory, a dry run, the rotation, a second run that finds only the
/// rules it must leave alone, a restore and a scan that shows the result; then, on a second
/// small site with an organization, it finds an expiring token, rotates its rules and
/// revokes it. Needs no terminal and no input.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Load the fixtures from this directory (its rules/, export/ and accounts.json, and
    /// org/ for the expiry steps) instead of the ones built into autorekey.
    #[arg(long, value_name = "DIR")]
    pub fixtures: Option<PathBuf>,
}

/// List the backup runs rotate and restore wrote, newest first: run id, site, account,
/// when, how many rules, and whether the run finished (per its journal).
///
/// Read-only. Use it to find the BACKUP directory `autorekey restore` takes.
#[derive(Debug, Args)]
pub struct BackupsArgs {
    /// The backup root to list (default: autorekey/backups under your data directory).
    #[arg(long, value_name = "DIR")]
    pub backup_dir: Option<PathBuf>,

    /// Output format: the same on a terminal and in a pipe (`--format json` for scripts).
    #[arg(long, value_enum, default_value_t)]
    pub format: ListFormat,
}

/// How `tokens` prints its list: [`Format`]'s words, said of tokens.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum TokensFormat {
    #[default]
    #[value(alias = "table", help = "For people: one line per token.")]
    Text,
    #[value(help = "For scripts: one JSON document.")]
    Json,
    #[value(help = "For spreadsheets: one row per token, with a header (--expiring).")]
    Csv,
    #[value(help = "For a ticket or a CI summary: a Markdown table (--expiring).")]
    Markdown,
}

/// How `backups` prints its list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    #[default]
    #[value(alias = "table", help = "For people: one line per item.")]
    Text,
    #[value(help = "For scripts: one JSON document.")]
    Json,
}

/// Print a shell completion script on stdout.
///
/// For example: `autorekey completions bash > ~/.local/share/bash-completion/completions/autorekey`,
/// `autorekey completions zsh > ~/.zfunc/_autorekey`, or
/// `autorekey completions fish > ~/.config/fish/completions/autorekey.fish`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

/// Print every man page on stdout, or write them as files to a directory.
///
/// The pages are autorekey.1, with EXIT STATUS, ENVIRONMENT, FILES and SEE ALSO (every
/// command's page), then one per command (autorekey-scan.1, ...), each pointing back to
/// autorekey(1). For example: `autorekey man | man -l -` shows them one after
/// the other; `autorekey man --dir ~/.local/share/man/man1` installs them for `man autorekey`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write the pages as files (autorekey.1, autorekey-scan.1, ...) into this existing
    /// directory instead.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn durations_read_as_people_write_them_and_months_are_refused_plainly() {
        let d = |t: &str| parse_duration(t);
        assert_eq!(d("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(d("1h 30m"), Ok(Duration::from_secs(5_400)));
        assert_eq!(d("2 days"), Ok(Duration::from_secs(2 * 86_400)));
        assert_eq!(d("1w"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(d("0"), Ok(Duration::ZERO));
        assert_eq!(d("0s"), Ok(Duration::ZERO));
        for bad in ["1M", "1y", "30", "soon"] {
            let why = d(bad).unwrap_err();
            assert!(
                why.contains("s, m, h, d or w") && !why.contains("jiff"),
                "{bad}: {why}"
            );
        }
        assert_eq!(d("-1h"), Err("a duration cannot be negative".into()));
    }

    #[test]
    fn fail_on_expiring_takes_whole_days_only() {
        assert_eq!(
            parse_fail_on("expiring=30d"),
            Ok(FailOn::Expiring { days: 30 })
        );
        assert_eq!(
            parse_fail_on("expiring=7"),
            Ok(FailOn::Expiring { days: 7 })
        );
        assert_eq!(parse_fail_on(" dead "), Ok(FailOn::Dead));
        for bad in [
            "expiring=30dd",
            "expiring=d",
            "expiring=",
            "expiring=+30d",
            "expiring=-1d",
            "expiring=30 d",
            "expiring=1.5d",
            "expiring=99999999999d",
            "expiring=30w",
            "Expiring=30d",
        ] {
            assert!(parse_fail_on(bad).is_err(), "{bad}");
        }
    }

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        try_parse_from(std::iter::once("autorekey").chain(args.iter().copied()))
    }

    fn site_of(cli: Cli) -> SiteArgs {
        match cli.command {
            Command::Scan(a) => a.site_args,
            Command::Rotate(a) => a.site_args,
            other => panic!("not a site command: {other:?}"),
        }
    }

    /// Every command, the main one included, with its path (`autorekey scan`).
    fn every_command() -> Vec<(String, clap::Command)> {
        fn walk(path: String, c: &clap::Command, out: &mut Vec<(String, clap::Command)>) {
            for sub in c.get_subcommands() {
                walk(format!("{path} {}", sub.get_name()), sub, out);
            }
            out.push((path, c.clone()));
        }
        let mut out = Vec::new();
        walk("autorekey".into(), &command(), &mut out);
        // `help scan` is clap's way to reach `scan --help`, not a command of its own.
        out.retain(|(path, _)| path != "autorekey help" && !path.starts_with("autorekey help "));
        out
    }

    #[test]
    fn every_help_line_ends_with_a_period() {
        let mut missing = Vec::new();
        let mut check = |what: String, text: Option<String>| {
            if let Some(text) = text.filter(|t| !t.trim_end().ends_with(['.', '?', '!'])) {
                missing.push(format!("{what}: {text}"));
            }
        };
        for (path, c) in every_command() {
            check(
                format!("{path} about"),
                c.get_about().map(|t| t.to_string()),
            );
            check(
                format!("{path} long about"),
                c.get_long_about().map(|t| t.to_string()),
            );
            for a in c.get_arguments() {
                let id = format!("{path} {}", a.get_id());
                check(id.clone(), a.get_help().map(|t| t.to_string()));
                check(id.clone(), a.get_long_help().map(|t| t.to_string()));
                for v in a.get_possible_values() {
                    let value = format!("{id}={}", v.get_name());
                    check(value, v.get_help().map(|t| t.to_string()));
                }
            }
        }
        assert!(missing.is_empty(), "{}", missing.join("\n"));
    }

    /// One word for the format people read, in every command that has `--format`: `text`,
    /// the default; `table`, its old name in scan, tokens and backups, still parses to it but
    /// is not offered.
    #[test]
    fn every_format_option_says_text_json_and_hides_table() {
        let mut with_format = Vec::new();
        for (path, c) in every_command() {
            let Some(format) = c.get_arguments().find(|a| a.get_id() == "format") else {
                continue;
            };
            with_format.push(path.clone());
            let shown: Vec<String> = format
                .get_possible_values()
                .iter()
                .filter(|v| !v.is_hide_set())
                .map(|v| v.get_name().to_string())
                .collect();
            assert_eq!(shown[..2], ["text", "json"], "{path}");
            let default: Vec<_> = format.get_default_values().iter().collect();
            assert_eq!(
                default,
                ["text"],
                "{path}: text on a terminal and in a pipe alike"
            );
            assert!(
                format
                    .get_possible_values()
                    .iter()
                    .any(|v| v.matches("table", false)),
                "{path}: `table` must still parse"
            );
        }
        assert_eq!(with_format.len(), 6, "{with_format:?}");
    }

    #[test]
    fn the_global_options_are_hidden_where_they_do_nothing() {
        for (path, c) in every_command() {
            let shown = c
                .get_arguments()
                .any(|a| a.get_id() == "color" && !a.is_hide_set());
            let quiet = path.ends_with(" completions") || path.ends_with(" man");
            assert_eq!(shown, !quiet, "{path}");
        }
    }

    #[test]
    fn the_clap_definition_is_valid() {
        Cli::command().debug_assert();
    }

    #[test]
    fn site_options_work_before_and_after_the_command() {
        let before = [
            "--site",
            "https://a.atlassian.net",
            "--login",
            "a@x.example",
            "--api-token-file",
            "t",
            "--product",
            "confluence",
            "--api-base",
            "https://api.atlassian.com/x",
            "--concurrency",
            "3",
            "--max-response-mb",
            "7",
        ];
        let mut args: Vec<&str> = before.to_vec();
        args.push("scan");
        let from_before = site_of(parse(&args).unwrap());
        let mut args = vec!["scan"];
        args.extend(before);
        let from_after = site_of(parse(&args).unwrap());
        for g in [from_before, from_after] {
            assert_eq!(g.site, ["https://a.atlassian.net"]);
            assert_eq!(g.login.as_deref(), Some("a@x.example"));
            assert_eq!(g.api_token_file, Some(PathBuf::from("t")));
            assert_eq!(g.product, Product::Confluence);
            assert_eq!(g.api_base.as_deref(), Some("https://api.atlassian.com/x"));
            assert_eq!((g.concurrency, g.max_response_mb), (3, 7));
        }
    }

    #[test]
    fn an_option_after_the_command_wins_and_defaults_do_not_override() {
        let g = site_of(
            parse(&[
                "--concurrency",
                "3",
                "--site",
                "https://a.atlassian.net",
                "rotate",
                "--account",
                "x@y.example",
                "--site",
                "https://b.atlassian.net",
            ])
            .unwrap(),
        );
        assert_eq!(g.site, ["https://b.atlassian.net"]);
        assert_eq!(
            g.concurrency, 3,
            "the default after the command must not undo --concurrency 3"
        );
    }

    #[test]
    fn site_repeats_and_product_takes_all() {
        let g = site_of(
            parse(&[
                "scan",
                "--site",
                "https://a.atlassian.net",
                "--site",
                "https://b.atlassian.net,https://c.atlassian.net",
                "--sites-file",
                "sites.txt",
                "--product",
                "all",
            ])
            .unwrap(),
        );
        assert_eq!(
            g.site,
            [
                "https://a.atlassian.net",
                "https://b.atlassian.net,https://c.atlassian.net"
            ],
            "commas never split a site"
        );
        assert_eq!(g.sites_file, Some(PathBuf::from("sites.txt")));
        assert_eq!(g.product.expand(), ["jira", "confluence"]);
        // Sites typed before the command are taken whole when none are typed after it.
        let g = site_of(
            parse(&[
                "--site",
                "https://a.atlassian.net",
                "--site",
                "https://b.atlassian.net",
                "scan",
            ])
            .unwrap(),
        );
        assert_eq!(g.site.len(), 2);
    }

    #[test]
    fn every_site_option_is_merged() {
        let ids: Vec<String> = SiteArgs::augment_args(clap::Command::new("x"))
            .get_arguments()
            .map(|a| a.get_id().to_string())
            .collect();
        assert_eq!(ids, SITE_OPTION_IDS.map(String::from));
    }

    #[test]
    fn a_site_option_before_a_command_that_ignores_it_is_refused() {
        let err = parse(&["--site", "https://a.atlassian.net", "demo"]).unwrap_err();
        assert!(
            err.to_string()
                .contains("--site is not used by `autorekey demo`"),
            "{err}"
        );
        assert!(parse(&["-v", "--color", "never", "demo"]).is_ok());
    }
}
