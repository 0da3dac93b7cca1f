//! The integration tests: one test binary for every file under tests/it/, as jj and
//! ripgrep do.
//!
//! Why it is shaped so:
//! - Cargo builds each `tests/*.rs` as its own crate, each linked against the library and
//!   every dev-dependency. With one crate rooted here the test suite links once, so a change
//!   to the library relinks one binary instead of fourteen, and `cargo test` runs all the
//!   integration tests on one harness (its threads are shared across files).
//! - Each former file is a module, so a test's name says where it lives: run one file with
//!   `cargo test --test it scan_e2e::`, one test with `cargo test --test it
//!   scan_e2e::some_name`. Snapshots are named after the module path
//!   (`snapshots/it__scan_e2e__*.snap`), proptest keeps failing seeds beside the source
//!   file (`properties.proptest-regressions`).
//! - The shared helpers (`common`, `rotate_support`) are modules of the same crate and are
//!   compiled once. New tests go into an existing module, or into a new module declared
//!   below: a file put directly under tests/ becomes a binary of its own again.

mod common;
mod rotate_support;

mod cli;
mod test_detect_fixtures;
mod test_fetch_client;
mod files_e2e;
mod hostile_out;
mod org_e2e;
mod ownership_e2e;
mod test_properties;
mod rotate_e2e;
mod rotate_pty;
mod rotate_sites_e2e;
mod test_sandbox_api;
mod scan_e2e;
mod scoped_e2e;
mod sites_e2e;
mod test_soak;
mod verdict_e2e;
