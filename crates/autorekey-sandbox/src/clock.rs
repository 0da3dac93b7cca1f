//! Wall-clock helpers in the two forms Atlassian uses: epoch seconds with a millisecond
//! fraction (rule `created`/`updated`) and ISO-8601 UTC (`X-RateLimit-Reset`).
//!
//! Hand-rolled rather than a date crate: these two conversions are all the sandbox needs.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn since_epoch(t: SystemTime) -> Duration {
    t.duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// Now as epoch seconds with a millisecond fraction, e.g. `1743568964.174`.
pub(crate) fn now_epoch_secs() -> serde_json::Value {
    let ms = since_epoch(SystemTime::now()).as_millis() as f64;
    serde_json::json!(ms / 1000.0)
}

/// `2025-04-02T04:42:44Z` for `t`.
pub(crate) fn iso8601(t: SystemTime) -> String {
    let secs = since_epoch(t).as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
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
