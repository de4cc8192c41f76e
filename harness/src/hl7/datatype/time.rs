//! The points in time: DT, TM, DTM and the time of TS. One parser for all three shapes, driven
//! by a [`Layout`], so that a rule (months 01..12, the fraction after the seconds, the zone)
//! is written once.

use super::Problem;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// What one of the time types allows.
struct Layout {
    /// Digit counts allowed before a fraction or zone, i.e. the precisions.
    precisions: &'static [usize],
    precisions_text: &'static str,
    /// Whether the digits start with the date (`YYYYMMDD`) or with the hour.
    date: bool,
    /// Whether the type carries time: a fraction after the seconds and a `+/-ZZZZ` zone.
    time: bool,
    format: &'static str,
}

/// DT: v2.3 ch. 2 and v2.5.1 ch. 2A.3.21, "YYYY[MM[DD]]" (as of v2.3 month and day optional).
const DATE: Layout = Layout {
    precisions: &[4, 6, 8],
    precisions_text: "4, 6 or 8",
    date: true,
    time: false,
    format: "YYYY[MM[DD]]",
};

/// TM: v2.3 on, "HH[MM[SS[.S[S[S[S]]]]]][+/-ZZZZ]" (as of v2.3 minutes optional).
const TIME: Layout = Layout {
    precisions: &[2, 4, 6],
    precisions_text: "2, 4 or 6",
    date: false,
    time: true,
    format: "HH[MM[SS[.S[S[S[S]]]]]][+/-ZZZZ]",
};

/// DTM: v2.5.1 ch. 2A.3.22, "YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]"; also the time of
/// TS in 2.3 and 2.4, read with hour-only precision (see the module doc).
const DATE_TIME: Layout = Layout {
    precisions: &[4, 6, 8, 10, 12, 14],
    precisions_text: "4, 6, 8, 10, 12 or 14",
    date: true,
    time: true,
    format: "YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]",
};

pub(super) fn check_date(value: &str) -> Result<(), Problem> {
    check_point(value, &DATE)
}

pub(super) fn check_time(value: &str) -> Result<(), Problem> {
    check_point(value, &TIME)
}

pub(super) fn check_date_time(value: &str) -> Result<(), Problem> {
    check_point(value, &DATE_TIME)
}

fn check_point(value: &str, layout: &Layout) -> Result<(), Problem> {
    // The zone starts at the first sign: neither a date nor a time holds one elsewhere.
    let (body, zone) = match value.find(['+', '-']) {
        Some(at) if layout.time => (&value[..at], Some(&value[at..])),
        _ => (value, None),
    };
    let digits = body.bytes().take_while(u8::is_ascii_digit).count();
    // Everything before `digits` is ASCII, so byte and character positions agree.
    let rest = &body[digits..];
    let fraction = match rest.strip_prefix('.') {
        Some(after) if layout.time => Some(after),
        _ => {
            if let Some(found) = rest.chars().next() {
                return Err(Problem::Unexpected {
                    position: digits + 1,
                    found,
                    expected: if layout.time { "a digit, '.', '+' or '-'" } else { "a digit" },
                    format: layout.format,
                });
            }
            None
        }
    };
    if !layout.precisions.contains(&digits) {
        return Err(Problem::DigitCount {
            found: digits,
            allowed: layout.precisions_text,
            format: layout.format,
        });
    }
    if let Some(fraction) = fraction {
        let last = layout.precisions.last().copied().unwrap_or_default();
        if digits != last {
            return Err(Problem::FractionWithoutSeconds);
        }
        let count = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if let Some(found) = fraction[count..].chars().next() {
            return Err(Problem::Unexpected {
                position: digits + 1 + count + 1,
                found,
                expected: "a digit, '+' or '-'",
                format: layout.format,
            });
        }
        if !(1..=4).contains(&count) {
            return Err(Problem::FractionDigits(count));
        }
    }
    check_fields(&body.as_bytes()[..digits], layout)?;
    match zone {
        Some(zone) => check_zone(zone),
        None => Ok(()),
    }
}

/// The calendar and the clock: each two-digit field present must exist.
fn check_fields(digits: &[u8], layout: &Layout) -> Result<(), Problem> {
    let number = |from: usize, len: usize| -> Option<u32> {
        digits.get(from..from + len).map(|d| d.iter().fold(0, |n, b| n * 10 + u32::from(b - b'0')))
    };
    let clock_from = if layout.date {
        let year = number(0, 4).unwrap_or_default();
        if let Some(month) = number(4, 2) {
            if !(1..=12).contains(&month) {
                return Err(Problem::Month(month));
            }
            if let Some(day) = number(6, 2) {
                let last = days_in_month(year, month);
                if !(1..=last).contains(&day) {
                    return Err(Problem::Day { day, last, year, month });
                }
            }
        }
        8
    } else {
        0
    };
    if let Some(hour) = number(clock_from, 2) {
        if hour > 23 {
            return Err(Problem::Hour(hour));
        }
    }
    if let Some(minute) = number(clock_from + 2, 2) {
        if minute > 59 {
            return Err(Problem::Minute(minute));
        }
    }
    if let Some(second) = number(clock_from + 4, 2) {
        if second > 60 {
            return Err(Problem::Second(second));
        }
    }
    Ok(())
}

/// `+/-HHMM`: a sign and exactly four digits, hours 00..14, minutes 00..59 (module doc).
fn check_zone(zone: &str) -> Result<(), Problem> {
    let shown = || zone.chars().take(12).collect::<String>();
    let digits = &zone.as_bytes()[1..];
    if digits.len() != 4 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(Problem::ZoneFormat(shown()));
    }
    let hours = u32::from(digits[0] - b'0') * 10 + u32::from(digits[1] - b'0');
    let minutes = u32::from(digits[2] - b'0') * 10 + u32::from(digits[3] - b'0');
    if hours > 14 || minutes > 59 {
        return Err(Problem::ZoneRange(shown()));
    }
    Ok(())
}

/// Days of a month in the proleptic Gregorian calendar.
fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        _ => 31,
    }
}

pub(super) fn sample_date(rng: &mut ChaCha8Rng) -> String {
    let mut out = String::new();
    let digits = DATE.precisions[rng.random_range(0..DATE.precisions.len())];
    push_date(rng, &mut out, digits);
    out
}

pub(super) fn sample_time(rng: &mut ChaCha8Rng) -> String {
    let mut out = String::new();
    // 1..=3: hours, minutes, seconds; 4 adds a fraction.
    let precision = rng.random_range(1..=4);
    push_clock(rng, &mut out, precision.min(3));
    if precision == 4 {
        push_fraction(rng, &mut out);
    }
    push_zone(rng, &mut out);
    out
}

pub(super) fn sample_date_time(rng: &mut ChaCha8Rng) -> String {
    let mut out = String::new();
    // 0..=2: the date to year, month, day; 3..=5 adds hours, minutes, seconds; 6 a fraction.
    let precision = rng.random_range(0..=6);
    push_date(rng, &mut out, 4 + 2 * precision.min(2));
    if precision >= 3 {
        push_clock(rng, &mut out, precision.min(5) - 2);
    }
    if precision == 6 {
        push_fraction(rng, &mut out);
    }
    push_zone(rng, &mut out);
    out
}

/// `YYYY`, `YYYYMM` or `YYYYMMDD` (`digits`), a real date; one in ten a 29 February.
fn push_date(rng: &mut ChaCha8Rng, out: &mut String, digits: usize) {
    let (year, month, day) = if rng.random_bool(0.1) {
        (2000 + 4 * rng.random_range(0..25u32), 2, 29)
    } else {
        let (year, month) = (rng.random_range(1900..=2099), rng.random_range(1..=12));
        (year, month, rng.random_range(1..=days_in_month(year, month)))
    };
    let full = format!("{year:04}{month:02}{day:02}");
    out.push_str(&full[..digits]);
}

/// `HH`, `HHMM` or `HHMMSS` for `fields` 1, 2 or 3.
fn push_clock(rng: &mut ChaCha8Rng, out: &mut String, fields: usize) {
    let parts = [rng.random_range(0..24u32), rng.random_range(0..60), rng.random_range(0..60)];
    for part in &parts[..fields] {
        out.push_str(&format!("{part:02}"));
    }
}

fn push_fraction(rng: &mut ChaCha8Rng, out: &mut String) {
    out.push('.');
    for _ in 0..rng.random_range(1..=4) {
        out.push(char::from(b'0' + rng.random_range(0..10u8)));
    }
}

/// Half the time a zone of today's legal shape: hours 00..14, minutes 00, 30 or 45.
fn push_zone(rng: &mut ChaCha8Rng, out: &mut String) {
    if rng.random_bool(0.5) {
        let sign = if rng.random_bool(0.5) { '+' } else { '-' };
        let minutes = [0, 30, 45][rng.random_range(0..3)];
        out.push_str(&format!("{sign}{:02}{minutes:02}", rng.random_range(0..=14u32)));
    }
}

#[cfg(test)]
mod tests {
    use super::super::check_primitive;
    use super::*;

    /// `expected`: `None` passes, `Some(problem)` fails with it.
    fn check(datatype: &str, value: &str, expected: Option<Problem>) {
        for version in ["2.3", "2.4", "2.5.1", "2.8.2", "9"] {
            let got = check_primitive(datatype, value, version).err().map(|v| v.problem);
            assert_eq!(got, expected, "{datatype} {version} {value:?}");
        }
    }

    fn digit_count(found: usize, layout: &Layout) -> Option<Problem> {
        Some(Problem::DigitCount { found, allowed: layout.precisions_text, format: layout.format })
    }

    #[test]
    fn date_permitted_edges_pass() {
        for value in ["2024", "202402", "20240229", "20000229", "19991231", "0001"] {
            check("DT", value, None);
        }
    }

    #[test]
    fn date_defects_fail() {
        check("DT", "20240230", Some(Problem::Day { day: 30, last: 29, year: 2024, month: 2 }));
        check("DT", "19000229", Some(Problem::Day { day: 29, last: 28, year: 1900, month: 2 }));
        check("DT", "20230431", Some(Problem::Day { day: 31, last: 30, year: 2023, month: 4 }));
        check("DT", "20240100", Some(Problem::Day { day: 0, last: 31, year: 2024, month: 1 }));
        check("DT", "202413", Some(Problem::Month(13)));
        check("DT", "202400", Some(Problem::Month(0)));
        check("DT", "20241", digit_count(5, &DATE));
        check("DT", "24", digit_count(2, &DATE));
        check("DT", "202401011200", digit_count(12, &DATE));
        let dash = Problem::Unexpected {
            position: 5,
            found: '-',
            expected: "a digit",
            format: DATE.format,
        };
        check("DT", "2024-01-01", Some(dash));
        let zone = Problem::Unexpected {
            position: 9,
            found: '+',
            expected: "a digit",
            format: DATE.format,
        };
        check("DT", "20240101+0100", Some(zone));
    }

    #[test]
    fn time_permitted_edges_pass() {
        for value in ["13", "0000", "2359", "235959+1100", "093544.2312", "235960", "12-0000"] {
            check("TM", value, None);
        }
        check("TM", "0800+1400", None);
    }

    #[test]
    fn time_defects_fail() {
        check("TM", "2400", Some(Problem::Hour(24)));
        check("TM", "1260", Some(Problem::Minute(60)));
        check("TM", "235961", Some(Problem::Second(61)));
        check("TM", "123", digit_count(3, &TIME));
        check("TM", "1230.5", Some(Problem::FractionWithoutSeconds));
        check("TM", "123000.12345", Some(Problem::FractionDigits(5)));
        check("TM", "123000.", Some(Problem::FractionDigits(0)));
        check("TM", "1230+01", Some(Problem::ZoneFormat("+01".to_string())));
        check("TM", "1230+1500", Some(Problem::ZoneRange("+1500".to_string())));
        check("TM", "1230+0160", Some(Problem::ZoneRange("+0160".to_string())));
        let colon = Problem::Unexpected {
            position: 3,
            found: ':',
            expected: "a digit, '.', '+' or '-'",
            format: TIME.format,
        };
        check("TM", "12:30", Some(colon));
    }

    #[test]
    fn date_time_permitted_edges_pass() {
        for value in [
            "2024",
            "202412",
            "2024123123",
            "20241231235959.1234+0100",
            "20241231235959-0000",
            "20160101235960",
            "2024+0100",
            "19760704010159-0500",
        ] {
            check("DTM", value, None);
            check("TS", value, None);
        }
    }

    #[test]
    fn date_time_defects_fail() {
        check("DTM", "20240230", Some(Problem::Day { day: 30, last: 29, year: 2024, month: 2 }));
        check("DTM", "20241301", Some(Problem::Month(13)));
        check("DTM", "2024010125", Some(Problem::Hour(25)));
        check("DTM", "202401011261", Some(Problem::Minute(61)));
        check("DTM", "202401011200.5", Some(Problem::FractionWithoutSeconds));
        check("DTM", "20240101120000.", Some(Problem::FractionDigits(0)));
        check("DTM", "202401011", digit_count(9, &DATE_TIME));
        check("DTM", "2024010112000000", digit_count(16, &DATE_TIME));
        check("DTM", "2024-01-01", Some(Problem::ZoneFormat("-01-01".to_string())));
        check("DTM", "20240101+01:00", Some(Problem::ZoneFormat("+01:00".to_string())));
        check("TS", "20240230", Some(Problem::Day { day: 30, last: 29, year: 2024, month: 2 }));
        let t = Problem::Unexpected {
            position: 9,
            found: 'T',
            expected: "a digit, '.', '+' or '-'",
            format: DATE_TIME.format,
        };
        check("DTM", "20240101T1200", Some(t));
        let junk = Problem::Unexpected {
            position: 17,
            found: 'Z',
            expected: "a digit, '+' or '-'",
            format: DATE_TIME.format,
        };
        check("DTM", "20240101120000.1Z", Some(junk));
    }

    #[test]
    fn non_ascii_input_is_judged_not_panicked_on() {
        check(
            "DTM",
            "2024é",
            Some(Problem::Unexpected {
                position: 5,
                found: 'é',
                expected: "a digit, '.', '+' or '-'",
                format: DATE_TIME.format,
            }),
        );
        check("TM", "12+é", Some(Problem::ZoneFormat("+é".to_string())));
        check("TM", "12-", Some(Problem::ZoneFormat("-".to_string())));
    }
}
