//! autorekey: find and rotate Atlassian API tokens embedded in Jira Automation rules.
//!
//! The crate is a pipeline, one module per stage, so a reader can find any behaviour by name:
//!
//! - [`fetch`]: the HTTP client for the Automation rule-management API (pagination, retries,
//!   rate limits, the host policy that decides where a credential may be sent);
//! - [`detect`]: pure functions that walk a rule document and find embedded credentials;
//! - [`plan`]: pure functions that decide and rewrite a rule with a new token and render a
//!   redacted diff; its `Planner` is the one way every command plans ([`gateway`]: the
//!   `api.atlassian.com/ex/{product}/{cloudId}` address form it and verification share);
//! - [`confirm`]: who approves each rule (`--yes`, a question on a terminal, or a refusal
//!   without one); the asking itself is the [`ui`]'s;
//! - [`write`](mod@write): the one write protocol of `rotate`, `apply` and `restore`:
//!   backup, re-read, write, read back, each step journalled (a rerun, not the journal,
//!   finishes an interrupted run: it re-reads every rule), with [`backup`] (each rule saved
//!   as read) and [`journal`] (the record of each rule's steps);
//! - [`report`]: the inventory and the closing summary, as table, JSON or CSV, and every
//!   sentence about an outcome ([`expiry`]: API token expiry dates from the org admin API,
//!   joined to the credentials found);
//! - [`verdict`]: whether the old token may be revoked, decided once for every command
//!   ([`revoke_proof`]: whether `revoke` may delete a given token: quiet, and shown not to
//!   be the one the rules hold; [`revoke_proof::rules`]: whether a rule may still need it);
//!   [`verify`]: which credential `scan --verify` checks, once, where;
//! - [`rotation_store`]: a rotation's backup directory and journal (shared by resumed runs),
//!   and [`site_lock`]: the per-site lock that keeps two writing runs apart;
//! - [`sandbox`]: a local, faithful stand-in for a Jira Cloud site, used by `demo`, the tests
//!   and admins rehearsing a rotation.
//!
//! The stages pass [`rule::Rule`]s (every shape of rule read once) and
//! [`outcome::Outcome`]s (what became of each, typed). The core ([`detect`], [`plan`],
//! [`rule`], [`outcome`], [`secret`]) prints nothing and does no I/O, but for [`secret`]
//! making or reading this machine's fingerprint key. No module depends on another that
//! depends on it. The core, the clients, the local files and the sandbox are crates of their
//! own (`crates/`), so the compiler keeps the core free of the network and the terminal;
//! this crate re-exports them under the module names used throughout. The shell around it: [`cli`] (every clap definition), [`settings`] (flags, env and prompts resolved
//! once), [`token_input`] (how secrets enter), [`ui`] (where output goes, made
//! [`printable`]), [`error`] (exit statuses and hints), [`export`] (rule files on disk),
//! [`files`] (how local files are read and written safely), [`run_history`] (the backup
//! runs, read only), [`harden`] (core dumps off before any secret is read), [`words`] (counts said in
//! English) and [`commands`] (one file
//! each).

pub mod backup;
pub mod cli;
pub mod commands;
pub mod confirm;
pub mod error;
pub mod expiry;
pub mod export;
pub mod fingerprint_key_file;
pub mod harden;
pub mod journal;
pub mod report;
pub mod rotation_store;
pub mod run_history;
pub mod settings;
pub mod site_lock;
pub mod token_input;
pub mod ui;
pub mod write;

// The pipeline's crates, under the names the shell has always used for them.
pub use autorekey_client as fetch;
pub use autorekey_core::{
    detect, gateway, outcome, plan, printable, revoke_proof, rule, secret, verdict, verify, words,
};
pub use autorekey_files as files;
#[cfg(feature = "sandbox")]
pub use autorekey_sandbox as sandbox;
