//! UTC timestamps for reports (RFC 3339, `2026-11-22T02:19:15Z`) and run ids
//! (`20261122-021915-<seed>`), without a date crate: reports only need whole seconds in UTC.

use crate::utc::Utc;
use crate::vocab::Seed;
use std::time::SystemTime;

pub use crate::utc::{parse_rfc3339, rfc3339};

/// The id of a run: its start time in UTC and the seed, e.g. `20261122-021915-7`.
pub fn run_id(started: SystemTime, seed: Seed) -> String {
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
        assert_eq!(
            run_id(UNIX_EPOCH + Duration::from_secs(1_795_314_955), Seed(7)),
            "20261122-023555-7"
        );
    }
}
