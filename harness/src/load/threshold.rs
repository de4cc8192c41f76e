//! Load thresholds: `p99 < 200ms`, `lost == 0`, `throughput >= 50/s`. Each becomes a check
//! (`load.p99`, `load.lost`, …) judged on the run's account, so a broken threshold fails the
//! run like any other error-severity check.

use super::stats::Account;
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Cow;
use std::fmt;
use std::time::Duration;
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{text:?}: {why}; write e.g. `p99 < 200ms`, `lost == 0`, `throughput >= 50/s` (metrics: {METRICS})")]
pub struct ThresholdError {
    text: String,
    why: String,
}

const METRICS: &str = "p50 p90 p99 p999 max mean lost timeouts errors rejected throughput";

/// What a threshold measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Metric {
    P50,
    P90,
    P99,
    P999,
    Max,
    Mean,
    Lost,
    Timeouts,
    Errors,
    Rejected,
    Throughput,
}

impl Metric {
    fn parse(name: &str) -> Option<Metric> {
        Some(match name {
            "p50" => Metric::P50,
            "p90" => Metric::P90,
            "p99" => Metric::P99,
            "p999" | "p99.9" => Metric::P999,
            "max" => Metric::Max,
            "mean" => Metric::Mean,
            "lost" => Metric::Lost,
            "timeouts" => Metric::Timeouts,
            "errors" => Metric::Errors,
            "rejected" => Metric::Rejected,
            "throughput" => Metric::Throughput,
            _ => return None,
        })
    }

    /// The id of the check this metric is judged by (`load.p99`, `load.lost`, …).
    fn check_id(self) -> &'static str {
        match self {
            Metric::P50 => "load.p50",
            Metric::P90 => "load.p90",
            Metric::P99 => "load.p99",
            Metric::P999 => "load.p999",
            Metric::Max => "load.max",
            Metric::Mean => "load.mean",
            Metric::Lost => "load.lost",
            Metric::Timeouts => "load.timeouts",
            Metric::Errors => "load.errors",
            Metric::Rejected => "load.rejected",
            Metric::Throughput => "load.throughput",
        }
    }

    fn is_latency(self) -> bool {
        matches!(
            self,
            Metric::P50 | Metric::P90 | Metric::P99 | Metric::P999 | Metric::Max | Metric::Mean
        )
    }

    /// The measured value: milliseconds for latencies, messages per second for throughput, a
    /// count otherwise.
    fn value(self, a: &Account) -> f64 {
        match self {
            Metric::P50 => a.latency.p50_ms,
            Metric::P90 => a.latency.p90_ms,
            Metric::P99 => a.latency.p99_ms,
            Metric::P999 => a.latency.p999_ms,
            Metric::Max => a.latency.max_ms,
            Metric::Mean => a.latency.mean_ms,
            Metric::Lost => a.lost as f64,
            Metric::Timeouts => a.timeouts as f64,
            Metric::Errors => a.connection_errors as f64,
            Metric::Rejected => a.rejected as f64,
            Metric::Throughput => a.throughput_per_s,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
}

impl Op {
    fn holds(self, left: f64, right: f64) -> bool {
        match self {
            Op::Lt => left < right,
            Op::Le => left <= right,
            Op::Eq => left == right,
            Op::Ge => left >= right,
            Op::Gt => left > right,
        }
    }
}

/// One threshold, as written.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    text: String,
    metric: Metric,
    op: Op,
    /// Milliseconds, messages per second or a count, as the metric measures.
    limit: f64,
}

impl Threshold {
    pub fn parse(text: &str) -> Result<Threshold, ThresholdError> {
        let fail = |why: &str| ThresholdError { text: text.to_string(), why: why.to_string() };
        let trimmed = text.trim();
        let ops = [("<=", Op::Le), (">=", Op::Ge), ("==", Op::Eq), ("<", Op::Lt), (">", Op::Gt)];
        let (at, token, op) = ops
            .iter()
            .filter_map(|(token, op)| trimmed.find(token).map(|at| (at, *token, *op)))
            .min_by_key(|(at, token, _)| (*at, std::cmp::Reverse(token.len())))
            .ok_or_else(|| fail("no comparison (<, <=, ==, >=, >)"))?;
        let name = trimmed[..at].trim();
        let value = trimmed[at + token.len()..].trim();
        let metric =
            Metric::parse(name).ok_or_else(|| fail(&format!("unknown metric {name:?}")))?;
        let limit = if metric.is_latency() {
            let duration = parse_latency(value)
                .ok_or_else(|| fail(&format!("{value:?} is not a duration (e.g. 200ms, 1.5s)")))?;
            duration.as_secs_f64() * 1000.0
        } else {
            let number = if metric == Metric::Throughput {
                value.strip_suffix("/s").unwrap_or(value).trim()
            } else {
                value
            };
            number
                .parse::<f64>()
                .ok()
                .filter(|n| n.is_finite() && *n >= 0.0)
                .ok_or_else(|| fail(&format!("{value:?} is not a number")))?
        };
        Ok(Threshold { text: trimmed.to_string(), metric, op, limit })
    }

    /// The id of the check that judges this threshold (`load.p99`, …).
    pub fn check_id(&self) -> &'static str {
        self.metric.check_id()
    }

    /// Whether this threshold holds on `account`: `Err` carries the evidence of a breach
    /// (what was measured, and the lost MSH-10s for `lost`). `checks::load` turns it into a check.
    pub fn holds(&self, account: &Account) -> Result<(), String> {
        let value = self.metric.value(account);
        if self.op.holds(value, self.limit) {
            return Ok(());
        }
        let shown = if self.metric.is_latency() {
            format!("{value:.3} ms")
        } else if self.metric == Metric::Throughput {
            format!("{value:.1}/s")
        } else {
            format!("{value}")
        };
        let mut evidence = format!("{}: measured {shown}", self.text);
        if self.metric == Metric::Lost && !account.lost_messages.is_empty() {
            let ids: Vec<&str> =
                account.lost_messages.iter().take(10).map(|l| l.control_id.as_str()).collect();
            evidence.push_str(&format!(
                " (MSH-10 {}{})",
                ids.join(", "),
                if account.lost > 10 { ", …" } else { "" }
            ));
        }
        Err(evidence)
    }

    /// Whether this threshold judges lost messages (a run without one gets `lost == 0`).
    pub fn is_lost(&self) -> bool {
        self.metric == Metric::Lost
    }
}

/// `200ms`, `1.5s`, `2s`, `1m`: fractions allowed, a unit required.
fn parse_latency(text: &str) -> Option<Duration> {
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok().filter(|n: &f64| n.is_finite() && *n >= 0.0)?;
    let secs = match unit.trim() {
        "us" | "µs" => number / 1e6,
        "ms" => number / 1e3,
        "s" => number,
        "m" => number * 60.0,
        _ => return None,
    };
    Some(Duration::from_secs_f64(secs))
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for Threshold {
    type Err = ThresholdError;
    fn from_str(text: &str) -> Result<Threshold, ThresholdError> {
        Threshold::parse(text)
    }
}

impl Serialize for Threshold {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Threshold {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Threshold::parse(&text).map_err(de::Error::custom)
    }
}

impl JsonSchema for Threshold {
    fn schema_name() -> Cow<'static, str> {
        "LoadThreshold".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^\\s*(p50|p90|p99|p999|p99\\.9|max|mean|lost|timeouts|errors|rejected|throughput)\\s*(<=|>=|==|<|>)\\s*[0-9.]+\\s*(us|ms|s|m|/s)?\\s*$",
            "description": "A load threshold: `p99 < 200ms`, `lost == 0`, `throughput >= 50/s`"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::stats::{Ending, Recorder};

    fn account(latencies_ms: &[u64], lost: u64) -> Account {
        let mut r = Recorder::new(Duration::from_secs(1));
        for ms in latencies_ms {
            let ending = Ending::Answered { code: "AA".into() };
            r.record("M", ending, Duration::from_millis(*ms), Some(Duration::ZERO));
        }
        for n in 0..lost {
            let ending = Ending::Lost { reason: "read-timeout" };
            r.record(&format!("L{n}"), ending, Duration::ZERO, Some(Duration::ZERO));
        }
        r.finish(Duration::from_secs(1))
    }

    fn check(threshold: &str, account: &Account) -> Result<(), String> {
        let parsed = Threshold::parse(threshold).map_err(|e| e.to_string())?;
        parsed.holds(account).map_err(|evidence| format!("{}: {evidence}", parsed.check_id()))
    }

    #[test]
    fn thresholds_pass_and_fail() {
        let fast = account(&[5, 6, 7], 0);
        let slow = account(&[5, 6, 700], 2);
        assert_eq!(check("p99 < 200ms", &fast), Ok(()));
        assert!(check("p99 < 200ms", &slow)
            .unwrap_err()
            .starts_with("load.p99: p99 < 200ms: measured 700"));
        assert_eq!(check("lost == 0", &fast), Ok(()));
        let lost = check("lost == 0", &slow).unwrap_err();
        assert!(lost.contains("load.lost") && lost.contains("MSH-10 L0, L1"), "{lost}");
        assert_eq!(check("max <= 1s", &slow), Ok(()));
        assert_eq!(check("throughput >= 3/s", &fast), Ok(()));
        assert!(check("throughput > 3/s", &fast).is_err());
        assert_eq!(check("p99.9 < 0.5s", &fast), Ok(()));
    }

    #[test]
    fn bad_thresholds_say_why() {
        for (text, why) in [
            ("p99 200ms", "no comparison"),
            ("p98 < 200ms", "unknown metric \"p98\""),
            ("p99 < 200", "not a duration"),
            ("lost == none", "not a number"),
        ] {
            let err = Threshold::parse(text).unwrap_err().to_string();
            assert!(err.contains(why), "{text}: {err}");
        }
    }
}
