//! Wall-clock helpers in the two forms Atlassian uses: epoch seconds with a millisecond
//! fraction (rule `created`/`updated`) and ISO-8601 UTC (`X-RateLimit-Reset`).
//!
//! The calendar is jiff's, as everywhere in autorekey.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn since_epoch(t: SystemTime) -> Duration {
    t.duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// Now as epoch seconds with a millisecond fraction, e.g. `1743568964.174`.
pub(crate) fn now_epoch_secs() -> serde_json::Value {
    let ms = since_epoch(SystemTime::now()).as_millis() as f64;
    serde_json::json!(ms / 1000.0)
}

/// `2025-04-02T04:42:44Z` for `t` (whole seconds, UTC).
pub(crate) fn iso8601(t: SystemTime) -> String {
    let secs = i64::try_from(since_epoch(t).as_secs()).unwrap_or(i64::MAX);
    jiff::Timestamp::from_second(secs)
        .unwrap_or(jiff::Timestamp::MAX)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_matches_known_instants() {
        assert_eq!(iso8601(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_743_568_964);
        assert_eq!(iso8601(t), "2025-04-02T04:42:44Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(iso8601(leap), "2000-02-29T00:00:00Z");
    }
}
