//! Report: what `scan` found (the inventory, in `report/inventory.rs`: a table for people,
//! JSON for scripts and CSV for spreadsheets), and the closing summary of a rotation and
//! every sentence about a rule's outcome (`report/rotation.rs`).
//!
//! `report/markdown.rs` renders both for a change ticket (`--format markdown`);
//! `report/expiring.rs` is the organization's expiry watch (`tokens --expiring`).
//!
//! The two halves share nothing but the name: the inventory renders rows that are safe to
//! print; the rotation summary turns a run's outcomes into counts, where the backups are and
//! whether the old token may be revoked yet. Each is read and changed alone, in its own file.

pub mod expiring;
mod inventory;
pub mod markdown;
mod rotation;
mod sites;

pub use inventory::{
    count, render_csv, render_json, render_table, Inventory, Row, SkippedFile, TargetSummary,
    Verification,
};
pub use rotation::{
    id_note, outcome_line, reason, render_restore_json, render_rotation, render_rotation_json,
    RestoreSummary, RotationSummary,
};
pub use sites::{render_sites, render_sites_json, render_sites_markdown, SitesSummary};
