//! The integration tests: one test binary for every file under tests/it/, as jj and
//! ripgrep do.
//!
//! Why it is shaped so:
//! - Cargo builds each `tests/*.rs` as its own crate, each linked against the library and
//!   every dev-dependency. With one crate rooted here the test suite links once, so a change
//!   to the library relinks one binary instead of fourteen, and `cargo test` runs all the
//!   integration tests on one harness (its threads are shared across files).
//! - One module per command, named as jj names them: `test_scan_command`,
//!   `test_rotate_command`, `test_apply_command`, `test_restore_command`,
//!   `test_backups_command`, `test_tokens_command`, `test_revoke_command`,
//!   `test_fingerprint_command`, `test_demo_command`, `test_sandbox_command`, and
//!   `test_help_and_docs` for help, completions and man. A test that runs several commands
//!   sits with the command its main assertion is about. Beside them, one module per
//!   concern that crosses commands: `test_global_options`, `test_security` (secrets never
//!   printed, hostile text, file modes), `test_several_sites`, `test_sandbox_api`,
//!   `test_fetch_client`, `test_detect_fixtures`, `test_properties` and the `#[ignore]`d
//!   `test_soak` (its own CI step). Each module's doc says what it covers and where the
//!   related tests are.
//! - A test's name says where it lives: run one module with `cargo test --test it
//!   test_scan_command::`, one test with `cargo test --test it
//!   test_scan_command::some_name`. Whole outputs an admin reads are inline
//!   snapshots in the test (`insta::assert_snapshot!(normalized(&out.stdout), @"…")`, with
//!   `common::snapshot` fixing ports, temp paths, dates and fingerprints; `cargo insta test
//!   --accept` rewrites them); long ones (help, the `--from-file` reports) are files
//!   named after the module path (`snapshots/it__test_scan_command__*.snap`). Proptest keeps failing seeds beside the
//!   source file (`test_properties.proptest-regressions`).
//! - The shared helpers (`common`, `rotate_support`, with a submodule for each family of
//!   helpers several modules use) are modules of the same crate and are compiled once. New
//!   tests go into the module of their command, or a new module declared below: a file put
//!   directly under tests/ becomes a binary of its own again.

mod common;
mod rotate_support;

mod test_apply_command;
mod test_backups_command;
mod test_demo_command;
mod test_detect_fixtures;
mod test_fetch_client;
mod test_fingerprint_command;
mod test_global_options;
mod test_help_and_docs;
mod test_properties;
mod test_restore_command;
mod test_revoke_command;
mod test_rotate_command;
mod test_sandbox_api;
mod test_sandbox_command;
mod test_scan_command;
mod test_security;
mod test_several_sites;
mod test_soak;
mod test_tokens_command;
