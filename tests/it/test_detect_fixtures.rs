//! The detector against the hand-written oracle in `fixtures/expected-findings.json`.
//!
//! The oracle was derived by hand from the shared API notes, independently of the detector,
//! so agreement here is evidence the detector finds what an admin would, field by field.
//!
//! Elsewhere: the same oracle over HTTP through `scan`: test_scan_command; the detector on
//! random rules: test_properties.

use std::collections::BTreeMap;
use std::path::Path;

use crate::common;
use crate::common::project;
use autorekey::{detect, export, report::Row};
use serde_json::{json, Value};

fn detected(file: &Path) -> Vec<Value> {
    let mut rows = Vec::new();
    export::for_each_rule(file, |rule| {
        for f in detect::detect(&rule) {
            rows.push(project(&serde_json::to_value(Row::new(&rule, &f)).unwrap()));
        }
    })
    .unwrap();
    rows
}

#[test]
fn every_fixture_finding_matches_the_oracle() {
    // The oracle's keyed fingerprints (`k:…`) are under the tests' team key.
    autorekey::secret::fingerprint_key::install(Some(
        autorekey::secret::FingerprintKey::from_text(common::TEST_FINGERPRINT_KEY).unwrap(),
    ));
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let oracle: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("expected-findings.json")).unwrap(),
    )
    .unwrap();
    let mut expected: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for f in oracle["findings"].as_array().unwrap() {
        expected
            .entry(f["file"].as_str().unwrap().into())
            .or_default()
            .push(project(f));
    }
    for u in oracle["unchanged_rules"].as_array().unwrap() {
        expected
            .entry(u["file"].as_str().unwrap().into())
            .or_default();
    }
    let mut total = 0;
    for (file, mut want) in expected {
        let mut got = detected(&root.join(&file));
        let key = |v: &Value| v.to_string();
        want.sort_by_key(key);
        got.sort_by_key(key);
        assert_eq!(json!(got), json!(want), "findings differ in {file}");
        total += got.len();
    }
    assert_eq!(total, oracle["findings"].as_array().unwrap().len());
}
