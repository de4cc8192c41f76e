//! UTC timestamps for reports (RFC 3339, `2026-11-22T02:19:15Z`) and run ids
//! (`20261122-021915-<seed>`), without a date crate: reports only need whole seconds in UTC.

use crate::utc::Utc;
use std::time::SystemTime;

/// RFC 3339 in UTC, whole seconds.
pub fn rfc3339(time: SystemTime) -> String {
    let t = Utc::of(time);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    )
}

/// Reads back what `rfc3339` writes (`2026-11-22T02:19:15Z`); `None` for anything else.
pub fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let bytes = text.as_bytes();
    let shape_ok = bytes.len() == 20
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes[10] == b'T'
        && bytes[13] == b':'
        && bytes[16] == b':'
        && bytes[19] == b'Z';
    if !shape_ok {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u64> {
        let part = text.get(range)?;
        part.bytes().all(|b| b.is_ascii_digit()).then(|| part.parse().ok())?
    };
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let days = crate::utc::days_from_civil(year as i64, month as u32, day as u32);
    let seconds = u64::try_from(days).ok()? * 86_400 + hour * 3600 + minute * 60 + second;
    Some(std::time::UNIX_EPOCH + std::time::Duration::from_secs(seconds))
}

/// The id of a run: its start time in UTC and the seed, e.g. `20261122-021915-7`.
pub fn run_id(started: SystemTime, seed: u64) -> String {
    let t = Utc::of(started);
    format!(
        "{:04}{:02}{:02}-{:02}{:02}{:02}-{seed}",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn check(seconds: u64, expected: &str) {
        assert_eq!(rfc3339(UNIX_EPOCH + Duration::from_secs(seconds)), expected);
    }

    #[test]
    fn formats() {
        check(0, "1970-01-01T00:00:00Z");
        check(951_782_400, "2000-02-29T00:00:00Z");
        check(1_795_314_955, "2026-11-22T02:35:55Z");
        for seconds in [0, 951_782_400, 1_795_314_955] {
            let time = UNIX_EPOCH + Duration::from_secs(seconds);
            assert_eq!(parse_rfc3339(&rfc3339(time)), Some(time));
        }
        for bad in ["", "2026-11-22 02:35:55Z", "2026-13-22T02:35:55Z", "2026-11-22T02:35:5xZ"] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
        assert_eq!(run_id(UNIX_EPOCH + Duration::from_secs(1_795_314_955), 7), "20261122-023555-7");
    }
}
