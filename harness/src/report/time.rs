//! UTC timestamps for reports (RFC 3339, `2026-11-22T02:19:15Z`) and run ids
//! (`20261122-021915-<seed>`), without a date crate: reports only need whole seconds in UTC.

use std::time::{SystemTime, UNIX_EPOCH};

/// Calendar parts of `time` in UTC: (year, month, day, hour, minute, second).
fn parts(time: SystemTime) -> (i64, u32, u32, u64, u64, u64) {
    let seconds = time.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    (year, month, day, rest / 3600, rest % 3600 / 60, rest % 60)
}

/// RFC 3339 in UTC, whole seconds.
pub fn rfc3339(time: SystemTime) -> String {
    let (y, mo, d, h, mi, s) = parts(time);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// The id of a run: its start time in UTC and the seed, e.g. `20261122-021915-7`.
pub fn run_id(started: SystemTime, seed: u64) -> String {
    let (y, mo, d, h, mi, s) = parts(started);
    format!("{y:04}{mo:02}{d:02}-{h:02}{mi:02}{s:02}-{seed}")
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn check(seconds: u64, expected: &str) {
        assert_eq!(rfc3339(UNIX_EPOCH + Duration::from_secs(seconds)), expected);
    }

    #[test]
    fn formats() {
        check(0, "1970-01-01T00:00:00Z");
        check(951_782_400, "2000-02-29T00:00:00Z");
        check(1_795_314_955, "2026-11-22T02:35:55Z");
        assert_eq!(run_id(UNIX_EPOCH + Duration::from_secs(1_795_314_955), 7), "20261122-023555-7");
    }
}
