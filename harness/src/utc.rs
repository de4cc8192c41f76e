//! Calendar parts of a point in time in UTC, without a date crate: the harness only writes
//! whole-second UTC timestamps (HL7 DTM in ACKs, RFC 3339 and run ids in reports).

use std::time::{SystemTime, UNIX_EPOCH};

/// A point in time in UTC, whole seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utc {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u64,
    pub minute: u64,
    pub second: u64,
}

impl Utc {
    /// `time` in UTC; times before 1970 count as 1970-01-01.
    pub fn of(time: SystemTime) -> Utc {
        let seconds = time.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let (days, rest) = (seconds / 86_400, seconds % 86_400);
        let (year, month, day) = civil_from_days(days as i64);
        Utc { year, month, day, hour: rest / 3600, minute: rest % 3600 / 60, second: rest % 60 }
    }
}

/// A proleptic Gregorian date to days since 1970-01-01 (the inverse of `civil_from_days`).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let mp = i64::from(if month > 2 { month - 3 } else { month + 9 });
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
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

/// `YYYYMMDDHHMMSS+0000` (HL7 DTM in UTC) for a point in time.
pub fn hl7_timestamp(time: SystemTime) -> String {
    let t = Utc::of(time);
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}+0000",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    )
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dates_across_leap_years_and_eras() {
        let at = |s: u64| Utc::of(UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(0), Utc { year: 1970, month: 1, day: 1, hour: 0, minute: 0, second: 0 });
        let leap = at(951_782_400); // 2000-02-29T00:00:00Z
        assert_eq!((leap.year, leap.month, leap.day), (2000, 2, 29));
        assert_eq!(days_from_civil(2000, 2, 29), 951_782_400 / 86_400);
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        for days in [0, 59, 365, 11_016, 20_414, 100_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        let t = at(1_795_314_905); // 2026-11-22T02:35:05Z
        assert_eq!((t.year, t.month, t.day, t.hour, t.minute, t.second), (2026, 11, 22, 2, 35, 5));
    }

    #[test]
    fn timestamps() {
        assert_eq!(hl7_timestamp(std::time::UNIX_EPOCH), "19700101000000+0000");
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_709_251_199); // 2024-02-29 23:59:59 UTC
        assert_eq!(hl7_timestamp(t), "20240229235959+0000");
    }
}
