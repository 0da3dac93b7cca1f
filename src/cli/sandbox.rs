//! Command-line knobs of `autorekey sandbox`: the clap definitions and their value
//! parsers, nothing that runs. `commands/sandbox.rs` turns them into a sandbox.
//!
//! The doc comments below are the `--help` text. Tokens are never accepted as flag values,
//! because any local user can read a process's argv: they come only from `--accounts FILE`,
//! and generated ones go to a private file whose path the caller prints.

use std::path::PathBuf;

use crate::sandbox::RateLimitHeaders;

/// Run a local stand-in for a Jira Cloud site's Automation API, to rehearse a rotation.
#[derive(Clone, Debug, clap::Args)]
pub struct SandboxArgs {
    /// Port to listen on, on 127.0.0.1 only; 0 picks a free port.
    #[arg(long, default_value_t = 0)]
    pub port: u16,

    /// Serve this many sites of one org, on as many ports (from --port on, or free ones),
    /// one URL a line on stdout: each serves the rules whose file says `"sandbox": {"site":
    /// N}` for it and those that name no site, with its own cloud id (--cloud-id is the
    /// first's), rate limit and faults. The first also serves the org admin API, whose
    /// workspaces list names every site.
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=16))]
    pub sites: u16,

    /// Directory of rule files to serve (repeatable): GET envelopes
    /// {"rule":..,"connections":..} or Automation UI exports {"cloud":..,"rules":[..]}.
    /// An envelope's optional "sandbox" key sets traps for that rule.
    #[arg(long = "rules", value_name = "DIR")]
    pub rules: Vec<PathBuf>,

    /// Also serve N generated rules (about a third hold Basic credentials of generated
    /// service accounts, whose tokens go to a private accounts file).
    #[arg(long, value_name = "N")]
    pub generate: Option<usize>,

    /// Seed for generated rules and for the fault RNG: same seed, same site, same faults.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// JSON file of accounts allowed to log in:
    /// {"accounts":[{"email","account_id"?,"admin"?,"tokens":[..],"revoked_tokens"?:[..]}]},
    /// optionally with "scoped_tokens" (valid only through /ex/{product}/{cloudId}) and an
    /// "org" (its admin API key and token expiry dates; see fixtures/org/accounts.json).
    /// The only way to give the sandbox a token or key.
    #[arg(long, value_name = "FILE")]
    pub accounts: Option<PathBuf>,

    /// Cloud id the site answers with (a UUID); random when not given.
    #[arg(long, value_name = "UUID")]
    pub cloud_id: Option<String>,

    /// Delay added to every request (except /_edge/tenant_info), in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub latency_ms: u64,

    /// Allow at most this many requests per second (token bucket, burst of one second);
    /// beyond it answer 429 with an integer-second Retry-After and X-RateLimit-* headers.
    #[arg(long, value_name = "REQ_PER_SEC", value_parser = parse_positive)]
    pub rate_limit: Option<f64>,

    /// Which answers carry X-RateLimit-* under --rate-limit: `always` (Limit and Remaining
    /// on every answer, NearLimit under 20 % left), `on-429` (only the 429s, as Jira Cloud
    /// does) or `never` (a 429 carries Retry-After alone).
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = RateLimitHeaders::Always)]
    pub rate_limit_headers: RateLimitHeaders,

    /// Share of requests (0 to 1) answered 500 or 503 (503 with Retry-After).
    #[arg(long, value_name = "SHARE", default_value_t = 0.0, value_parser = parse_share)]
    pub error_rate: f64,

    /// Share of requests (0 to 1) whose connection is closed without any answer.
    #[arg(long, value_name = "SHARE", default_value_t = 0.0, value_parser = parse_share)]
    pub drop_rate: f64,

    /// Share of rule updates (0 to 1) that are applied but whose answer is lost (the
    /// connection closes), so the client cannot tell whether its write landed.
    #[arg(long, value_name = "SHARE", default_value_t = 0.0, value_parser = parse_share)]
    pub lost_put_rate: f64,

    /// Serve summary pages' links.next as an absolute URL (an older API form) instead of
    /// a query string.
    #[arg(long)]
    pub absolute_next_links: bool,

    /// GET rule/summary pages drift as the live API's have been measured to: every odd
    /// page starts N rules late (skipping N rules), every even page N early (repeating N).
    /// The search (POST rule/summary) lists correctly, so a client that lists both ways
    /// can notice.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub list_drift: usize,

    /// Both listing forms skip the first rule of their second page when paged N rules a
    /// page (0: at every page size): the two listings agree and both miss that rule.
    #[arg(long, value_name = "N")]
    pub list_skip_at: Option<usize>,

    /// Trap: GET answers hidden header values and webhook tokens as "***" even without
    /// redaction, and a PUT of "***" stores "***" (the secret is lost). A rule uuid or
    /// "all"; repeatable.
    #[arg(long, value_name = "UUID|all")]
    pub trap_mask_hidden: Vec<String>,

    /// Trap: the rule's connections belong to another account, so a PUT that sends
    /// "connections" back stores the rule but disables it. A rule uuid or "all"; repeatable.
    #[arg(long, value_name = "UUID|all")]
    pub trap_foreign_connections: Vec<String>,

    /// Trap: after the Nth GET of rule UUID, another admin edits it (description, labels,
    /// updated), so a client that writes an older read overwrites that edit. Repeatable.
    #[arg(long, value_name = "UUID=N", value_parser = parse_edit_after_reads)]
    pub trap_edit_after_reads: Vec<(String, u32)>,

    /// Accept PUTs whose component ids differ from the stored rule's (a real site refuses
    /// them with 400; the check is on by default).
    #[arg(long)]
    pub no_component_id_check: bool,
}

fn parse_share(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("expected a share between 0 and 1, got {text:?}")),
    }
}

fn parse_positive(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        _ => Err(format!("expected a positive number, got {text:?}")),
    }
}

fn parse_edit_after_reads(text: &str) -> Result<(String, u32), String> {
    let (uuid, n) = text
        .split_once('=')
        .ok_or_else(|| format!("expected UUID=N, got {text:?}"))?;
    let n = n
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("expected a read count of at least 1 in {text:?}"))?;
    Ok((uuid.trim().to_owned(), n))
}
