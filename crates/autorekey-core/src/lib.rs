//! autorekey's core: pure functions over rule JSON, with no network, no terminal and no
//! files (the compiler holds it to that: this crate depends on no HTTP client, no async
//! runtime and no terminal crate).
//!
//! - [`rule`]: a rule read once from any shape it comes in;
//! - [`detect`]: walks a rule and finds every embedded credential;
//! - [`plan`]: the rewrite, the redacted diff and the plan file, and which old values are
//!   confirmed as the account's; [`gateway`]: the `api.atlassian.com/ex/...` address form;
//! - [`verdict`]: whether the old token may be revoked, decided once for every command;
//!   [`revoke_proof`]: whether `revoke` may delete a given token (and [`revoke_proof::rules`]:
//!   whether any rule may still need it); [`verify`]: which credential `scan --verify`
//!   checks, once, where;
//! - [`outcome`]: what became of a rule, typed;
//! - [`secret`]: tokens that never print, fingerprints, the masker for server echoes;
//! - [`printable`]: the one escape for everything shown to a person; [`words`]: counts in
//!   English.

pub mod detect;
pub mod gateway;
pub mod outcome;
pub mod plan;
pub mod printable;
pub mod revoke_proof;
pub mod rule;
pub mod secret;
pub mod verdict;
pub mod verify;
pub mod words;
