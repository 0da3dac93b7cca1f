//! Command-line knobs of `autorekey sandbox`.
//!
//! The doc comments below are the `--help` text. Tokens are never accepted as flag values,
//! because any local user can read a process's argv: they come only from `--accounts FILE`,
//! and generated ones go to a private file whose path the caller prints.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::sandbox::{
    generate_rules, load_accounts_file, load_directory, load_rules_dir, Directory,
    RateLimitHeaders, RuleSelection, SandboxConfig,
};

/// Run a local stand-in for a Jira Cloud site's Automation API, to rehearse a rotation.
#[derive(Clone, Debug, clap::Args)]
pub struct SandboxArgs {
    /// Port to listen on, on 127.0.0.1 only; 0 picks a free port.
    #[arg(long, default_value_t = 0)]
    pub port: u16,

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

impl SandboxArgs {
    /// Loads files and generates rules into a config. Generated accounts (with tokens) are
    /// in `config.accounts`: the caller writes them with `write_accounts_file` and shows
    /// the path.
    pub fn into_config(self) -> Result<SandboxConfig, String> {
        let mut rules = Vec::new();
        for dir in &self.rules {
            let loaded =
                load_rules_dir(dir).map_err(|e| format!("--rules {}: {e}", dir.display()))?;
            rules.extend(loaded);
        }
        let mut accounts = match &self.accounts {
            Some(path) => load_accounts_file(path).map_err(|e| format!("--accounts: {e}"))?,
            None => Vec::new(),
        };
        let directory = match &self.accounts {
            Some(path) => load_directory(path).map_err(|e| format!("--accounts: {e}"))?,
            None => Directory::default(),
        };
        if let Some(n) = self.generate {
            let (generated, generated_accounts) = generate_rules(n, self.seed);
            rules.extend(generated);
            accounts.extend(generated_accounts);
        }
        if let Some(id) = &self.cloud_id {
            uuid::Uuid::parse_str(id).map_err(|_| format!("--cloud-id: {id:?} is not a UUID"))?;
        }
        let known: Vec<&str> = rules
            .iter()
            .filter_map(|r| r["rule"]["uuid"].as_str())
            .collect();
        let named = self
            .trap_mask_hidden
            .iter()
            .chain(&self.trap_foreign_connections)
            .chain(self.trap_edit_after_reads.iter().map(|(uuid, _)| uuid));
        for uuid in named {
            if !uuid.eq_ignore_ascii_case("all") && !known.contains(&uuid.as_str()) {
                return Err(format!(
                    "trap names rule {uuid}, which no --rules file or --generate holds"
                ));
            }
        }
        if self
            .trap_edit_after_reads
            .iter()
            .any(|(uuid, _)| uuid.eq_ignore_ascii_case("all"))
        {
            return Err("--trap-edit-after-reads takes one rule uuid per flag, not \"all\"".into());
        }
        Ok(SandboxConfig {
            port: self.port,
            rules,
            accounts,
            directory,
            cloud_id: self.cloud_id,
            latency: Duration::from_millis(self.latency_ms),
            rate_limit_per_sec: self.rate_limit,
            rate_limit_headers: self.rate_limit_headers,
            error_rate: self.error_rate,
            drop_rate: self.drop_rate,
            lost_put_rate: self.lost_put_rate,
            seed: self.seed,
            absolute_next_links: self.absolute_next_links,
            list_drift: self.list_drift,
            trap_mask_hidden: RuleSelection::from_values(&self.trap_mask_hidden),
            trap_foreign_connections: RuleSelection::from_values(&self.trap_foreign_connections),
            trap_edit_after_reads: self
                .trap_edit_after_reads
                .into_iter()
                .collect::<BTreeMap<_, _>>(),
            // Set per rule by a rule file's "sandbox" key (no flag: tests use it).
            trap_revert_after_reads: BTreeMap::new(),
            check_component_ids: !self.no_component_id_check,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: SandboxArgs,
    }

    fn config(argv: &[&str]) -> Result<SandboxConfig, String> {
        let cli = Cli::try_parse_from(std::iter::once("sandbox").chain(argv.iter().copied()))
            .map_err(|e| e.to_string())?;
        cli.args.into_config()
    }

    #[test]
    fn flags_become_config_and_traps_must_name_known_rules() {
        let c = config(&[
            "--generate",
            "5",
            "--seed",
            "9",
            "--latency-ms",
            "5",
            "--rate-limit",
            "20",
            "--rate-limit-headers",
            "on-429",
            "--error-rate",
            "0.1",
            "--trap-mask-hidden",
            "all",
            "--no-component-id-check",
        ])
        .unwrap();
        assert_eq!(
            (c.rules.len(), c.seed, c.latency),
            (5, 9, Duration::from_millis(5))
        );
        assert_eq!((c.rate_limit_per_sec, c.error_rate), (Some(20.0), 0.1));
        assert_eq!(c.rate_limit_headers, RateLimitHeaders::On429);
        assert_eq!(c.trap_mask_hidden, RuleSelection::All);
        assert!(!c.check_component_ids && c.accounts.iter().any(|a| a.admin));

        let uuid = c.rules[0]["rule"]["uuid"].as_str().unwrap().to_owned();
        let edit = format!("{uuid}=2");
        let c = config(&[
            "--generate",
            "5",
            "--seed",
            "9",
            "--trap-edit-after-reads",
            &edit,
        ])
        .unwrap();
        assert_eq!(c.trap_edit_after_reads.get(&uuid), Some(&2));

        assert_eq!(config(&["--list-drift", "5"]).unwrap().list_drift, 5);
        assert_eq!(config(&[]).unwrap().list_drift, 0);
        assert!(config(&["--trap-foreign-connections", "no-such-rule"]).is_err());
        assert!(config(&["--drop-rate", "1.5"]).is_err());
        assert!(config(&["--cloud-id", "not-a-uuid"]).is_err());
        assert!(config(&["--trap-edit-after-reads", "x=0"]).is_err());
    }
}
