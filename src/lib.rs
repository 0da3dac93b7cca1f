//! autorekey: find and rotate Atlassian API tokens embedded in Jira Automation rules.
//!
//! The crate is a pipeline, one module per stage, so a reader can find any behaviour by name:
//!
//! - [`fetch`]: the HTTP client for the Automation rule-management API (pagination, retries,
//!   rate limits, the host policy that decides where a credential may be sent);
//! - [`detect`]: pure functions that walk a rule document and find embedded credentials;
//! - [`plan`]: pure functions that rewrite a rule with a new token and render a redacted diff;
//! - `confirm`, `apply`, `report`: the interactive and I/O shell around the pure core;
//! - [`sandbox`]: a local, faithful stand-in for a Jira Cloud site, used by `demo`, the tests
//!   and admins rehearsing a rotation.
//!
//! The core ([`detect`], [`plan`], [`secret`]) does no I/O and prints nothing; the command
//! layer ([`commands`]) parses arguments, resolves settings and calls the stages.

pub mod detect;
pub mod fetch;
pub mod plan;
pub mod sandbox;
pub mod secret;
