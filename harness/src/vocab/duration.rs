//! Durations as people write them, on the command line and in scenarios: `50us`, `500ms`,
//! `10s`, `2m`, `1h`.

use std::time::Duration;

pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: u64 = number
        .parse()
        .map_err(|_| format!("{text:?}: expected a number and a unit, e.g. 500ms, 10s, 2m"))?;
    let seconds = |per: u64| {
        value.checked_mul(per).map(Duration::from_secs).ok_or_else(|| format!("{text:?}: too long"))
    };
    match unit {
        "us" => Ok(Duration::from_micros(value)),
        "ms" => Ok(Duration::from_millis(value)),
        "s" | "" => seconds(1),
        "m" => seconds(60),
        "h" => seconds(3600),
        other => Err(format!("{text:?}: unknown unit {other:?}; use us, ms, s, m or h")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert!(parse_duration("10 parsecs").is_err());
        assert!(parse_duration("s").is_err());
        assert_eq!(parse_duration("50us"), Ok(Duration::from_micros(50)));
        assert_eq!(parse_duration("0us"), Ok(Duration::ZERO));
        let huge = format!("{}h", u64::MAX / 60);
        assert_eq!(parse_duration(&huge), Err(format!("{huge:?}: too long")), "no overflow");
    }
}
