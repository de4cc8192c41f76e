//! The load section of every report form: the terminal account, `summary.md`'s "Load" section,
//! `report.html`'s section with latency and throughput over time drawn as inline SVG (no
//! script, no external asset), and the `load` array of `results.json`. Kept apart from the case
//! renderers: a run without a load phase renders exactly as before.

use super::html::escape;
use crate::checks::CheckResult;
use crate::load::{LoadPhase, Mode};
use serde_json::{json, Value};
use std::fmt::Write;

/// `results.json` → `load[]`: plan, target, the whole account (timeline and lost list included).
pub fn json(phase: &LoadPhase) -> Value {
    let plan = &phase.plan;
    let (mode, rate) = match plan.mode {
        Mode::Open { rate } => ("open", Some(rate)),
        Mode::Closed => ("closed", None),
    };
    json!({
        "pack": phase.pack,
        "scenario": phase.scenario,
        "name": phase.name,
        "target": phase.target,
        "mode": mode,
        "rate_per_s": rate,
        "connections": plan.connections,
        "duration_s": plan.duration.map(|d| d.as_secs_f64()),
        "count": plan.count,
        "warmup_s": plan.warmup.as_secs_f64(),
        "elapsed_s": phase.finished.elapsed.as_secs_f64(),
        "interrupted": phase.finished.interrupted,
        "thresholds": phase.thresholds,
        "account": phase.finished.account,
    })
}

fn ms(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

/// The account in lines of text, shared by the terminal and summary.md.
fn account_lines(phase: &LoadPhase) -> Vec<String> {
    let a = &phase.finished.account;
    let codes: Vec<String> = a.codes.iter().map(|(c, n)| format!("{c} {n}")).collect();
    let p = &a.latency;
    let mut lines = vec![
        format!("{} against {}", phase.describe(), phase.target),
        format!(
            "sent {}: acknowledged {}, rejected {}, lost {}{}",
            a.sent,
            a.acknowledged,
            a.rejected,
            a.lost,
            if a.balances() { "" } else { " (the account does not balance: a harness bug)" }
        ),
        format!("ACK codes: {}", if codes.is_empty() { "none".into() } else { codes.join(", ") }),
        format!(
            "timeouts {}, connection errors {}, not sent {}, stray ACKs {}, warmup messages {}",
            a.timeouts, a.connection_errors, a.not_sent, a.stray_acks, a.warmup
        ),
        format!(
            "latency ms: p50 {}, p90 {}, p99 {}, p99.9 {}, max {} (mean {}, {} answered)",
            ms(p.p50_ms),
            ms(p.p90_ms),
            ms(p.p99_ms),
            ms(p.p999_ms),
            ms(p.max_ms),
            ms(p.mean_ms),
            p.count
        ),
        format!("throughput: {:.1} messages/s over {:.1} s", a.throughput_per_s, a.measured_s),
    ];
    if matches!(phase.plan.mode, Mode::Open { .. }) {
        let lag = &a.schedule_lag;
        lines.push(format!(
            "schedule lag ms (sent after due): p50 {}, p99 {}, max {}",
            ms(lag.p50_ms),
            ms(lag.p99_ms),
            ms(lag.max_ms)
        ));
        if a.behind_schedule > 0 {
            lines.push(format!(
                "behind schedule {}: due before the end but never written (every connection was \
                 still waiting for an answer at the deadline)",
                a.behind_schedule
            ));
        }
    }
    if phase.finished.interrupted {
        lines.push("interrupted before the end (Ctrl-C)".into());
    }
    if a.lost > 0 {
        let shown: Vec<String> = a
            .lost_messages
            .iter()
            .take(20)
            .map(|l| format!("{} ({})", l.control_id, l.reason))
            .collect();
        let more = a.lost.saturating_sub(shown.len() as u64);
        let more = if more > 0 {
            format!(" and {more} more (results.json lists up to 100000)")
        } else {
            String::new()
        };
        lines.push(format!("lost: {}{more}", shown.join(", ")));
    }
    lines
}

/// What `hl7-harness load` prints.
pub fn terminal(phase: &LoadPhase, results: &[CheckResult]) -> String {
    let mut out = String::new();
    for line in account_lines(phase) {
        let _ = writeln!(out, "{line}");
    }
    for r in results {
        let verdict = if r.passed { "passed" } else { "FAILED" };
        let evidence =
            if r.evidence.is_empty() { String::new() } else { format!(": {}", r.evidence) };
        let _ = writeln!(out, "{verdict} {}{evidence}", r.id);
    }
    out
}

/// `summary.md`'s section.
pub fn markdown(phases: &[LoadPhase]) -> String {
    let mut out = String::from("\n## Load\n");
    for phase in phases {
        let _ = writeln!(out, "\n### {} › {}\n", phase.scenario, phase.name);
        for line in account_lines(phase) {
            let _ = writeln!(out, "- {line}");
        }
        let _ = writeln!(out, "\n| p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | msgs/s | lost |");
        let _ = writeln!(out, "|---|---|---|---|---|---|---|");
        let a = &phase.finished.account;
        let p = &a.latency;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {:.1} | {} |",
            ms(p.p50_ms),
            ms(p.p90_ms),
            ms(p.p99_ms),
            ms(p.p999_ms),
            ms(p.max_ms),
            a.throughput_per_s,
            a.lost
        );
    }
    out
}

/// Points drawn at most; longer timelines are merged (latency: the worst of each group).
const MAX_POINTS: usize = 600;

/// (start s, messages/s, p50 ms, p99 ms, max ms) per point.
fn points(phase: &LoadPhase) -> Vec<(f64, f64, f64, f64, f64)> {
    let a = &phase.finished.account;
    let group = a.timeline.len().div_ceil(MAX_POINTS).max(1);
    a.timeline
        .chunks(group)
        .map(|chunk| {
            let completed: u64 = chunk.iter().map(|i| i.completed).sum();
            let worst = |f: fn(&crate::load::stats::Interval) -> f64| {
                chunk.iter().map(f).fold(0.0, f64::max)
            };
            (
                chunk[0].start_s,
                completed as f64 / (a.slice_s * chunk.len() as f64),
                worst(|i| i.p50_ms),
                worst(|i| i.p99_ms),
                worst(|i| i.max_ms),
            )
        })
        .collect()
}

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 180.0;
const LEFT: f64 = 56.0;
const BOTTOM: f64 = 24.0;

/// One line of a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub name: &'static str,
    pub colour: &'static str,
    /// (x, y): seconds since the phase started, the value.
    pub points: Vec<(f64, f64)>,
}

/// One line chart over a phase's run.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    pub title: &'static str,
    pub unit: &'static str,
    /// The phase's length in seconds (the x axis).
    pub span: f64,
    pub lines: Vec<Line>,
}

/// One phase as `report.html` shows it: its account and its charts.
#[derive(Debug, Clone, PartialEq)]
pub struct PhaseSection {
    pub scenario: String,
    pub name: String,
    pub account: Vec<String>,
    /// Latency, then throughput, over time.
    pub charts: Vec<Chart>,
}

/// `report.html`'s load section as data, so the page places a typed section (not a string
/// made elsewhere) and tests can read the charts without parsing SVG.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadSection {
    pub phases: Vec<PhaseSection>,
}

impl LoadSection {
    pub fn of(phases: &[LoadPhase]) -> LoadSection {
        let phases = phases
            .iter()
            .map(|phase| {
                let points = points(phase);
                let a = &phase.finished.account;
                let span = a.timeline.len() as f64 * a.slice_s;
                let series = |f: fn(&(f64, f64, f64, f64, f64)) -> f64| -> Vec<(f64, f64)> {
                    // Each point in the middle of its interval.
                    points.iter().map(|p| (p.0 + a.slice_s / 2.0, f(p))).collect()
                };
                let line = |name, colour, points| Line { name, colour, points };
                PhaseSection {
                    scenario: phase.scenario.clone(),
                    name: phase.name.clone(),
                    account: account_lines(phase),
                    charts: vec![
                        Chart {
                            title: "Latency over time (ms, per interval)",
                            unit: "ms",
                            span,
                            lines: vec![
                                line("p50", "#1f77b4", series(|p| p.2)),
                                line("p99", "#d62728", series(|p| p.3)),
                                line("max", "#999999", series(|p| p.4)),
                            ],
                        },
                        Chart {
                            title: "Throughput over time (messages/s)",
                            unit: "/s",
                            span,
                            lines: vec![line("finished", "#2ca02c", series(|p| p.1))],
                        },
                    ],
                }
            })
            .collect();
        LoadSection { phases }
    }

    /// The section as HTML: the account and the charts as inline SVG.
    pub fn html(&self) -> String {
        let mut out = String::from("<h2>Load</h2>\n");
        for phase in &self.phases {
            let _ = writeln!(
                out,
                "<h3>{} › {}</h3>\n<ul>",
                escape(&phase.scenario),
                escape(&phase.name)
            );
            for line in &phase.account {
                let _ = writeln!(out, "<li>{}</li>", escape(line));
            }
            out.push_str("</ul>\n");
            for chart in &phase.charts {
                out.push_str(&chart.svg());
            }
        }
        out
    }
}

impl Chart {
    fn svg(&self) -> String {
        let (title, unit, span) = (self.title, self.unit, self.span);
        let series = &self.lines;
        let x_max =
            series.iter().flat_map(|s| s.points.iter().map(|p| p.0)).fold(span.max(1e-3), f64::max);
        let y_max =
            series.iter().flat_map(|s| s.points.iter().map(|p| p.1)).fold(0.0, f64::max).max(1e-3)
                * 1.1;
        let (w, h) = (WIDTH - LEFT - 8.0, HEIGHT - BOTTOM - 8.0);
        let x = |v: f64| LEFT + v / x_max * w;
        let y = |v: f64| 8.0 + h - v / y_max * h;
        let mut svg = format!(
            "<figure><figcaption>{}</figcaption><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" role=\"img\" aria-label=\"{}\">",
            escape(title),
            escape(title)
        );
        let _ = write!(svg, "<rect x=\"{LEFT}\" y=\"8\" width=\"{w}\" height=\"{h}\" fill=\"#fafafa\" stroke=\"#ccc\"/>");
        for tick in 0..=4 {
            let value = y_max * f64::from(tick) / 4.0;
            let _ = write!(
                svg,
                "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"end\">{} {unit}</text>",
                LEFT - 4.0,
                y(value) + 3.0,
                ms(value)
            );
        }
        let _ = write!(
            svg,
            "<text x=\"{LEFT}\" y=\"{:.1}\" font-size=\"10\">0 s</text><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"end\">{x_max:.0} s</text>",
            HEIGHT - 6.0,
            WIDTH - 8.0,
            HEIGHT - 6.0
        );
        for (i, Line { name, colour, points }) in series.iter().enumerate() {
            let path: Vec<String> =
                points.iter().map(|(px, py)| format!("{:.1},{:.1}", x(*px), y(*py))).collect();
            let _ = write!(
                svg,
                "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\" points=\"{}\"/>",
                path.join(" ")
            );
            let _ = write!(
                svg,
                "<text x=\"{:.1}\" y=\"20\" font-size=\"11\" fill=\"{colour}\">{}</text>",
                LEFT + 8.0 + 70.0 * i as f64,
                escape(name)
            );
        }
        svg.push_str("</svg></figure>\n");
        svg
    }
}

/// `report.html`'s section: the account and the charts.
pub fn html(phases: &[LoadPhase]) -> String {
    LoadSection::of(phases).html()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::stats::{Ending, Recorder};
    use crate::load::{Finished, Plan};
    use std::time::Duration;

    fn phase(lost: u64) -> LoadPhase {
        let mut r = Recorder::new(Duration::from_secs(1));
        for s in 0..5u64 {
            let at = Some(Duration::from_secs(s));
            r.record("M", Ending::Answered { code: "AA".into() }, Duration::from_millis(2 + s), at);
        }
        for n in 0..lost {
            r.record(
                &format!("L{n}"),
                Ending::Lost { reason: "read-timeout" },
                Duration::ZERO,
                None,
            );
        }
        LoadPhase {
            pack: "load".into(),
            scenario: "load".into(),
            name: "load".into(),
            target: "mllp://127.0.0.1:1".into(),
            plan: Plan {
                mode: Mode::Open { rate: 1.0 },
                connections: 1,
                duration: Some(Duration::from_secs(5)),
                count: None,
                warmup: Duration::ZERO,
                slice: Duration::from_secs(1),
            },
            thresholds: Vec::new(),
            finished: Finished {
                account: r.finish(Duration::from_secs(5)),
                elapsed: Duration::from_secs(5),
                interrupted: false,
            },
        }
    }

    #[test]
    fn sections_show_the_account_and_the_charts() {
        let p = phase(2);
        let text = terminal(&p, &crate::checks::load::phase(&p));
        assert!(text.contains("sent 7: acknowledged 5, rejected 0, lost 2"), "{text}");
        assert!(text.contains("lost: L0 (read-timeout), L1 (read-timeout)"), "{text}");
        assert!(text.contains("FAILED load.lost"), "{text}");
        let md = markdown(std::slice::from_ref(&p));
        assert!(md.starts_with("\n## Load\n") && md.contains("| p50 ms |"), "{md}");
        let page = html(std::slice::from_ref(&p));
        assert_eq!(page.matches("<svg").count(), 2);
        assert_eq!(page.matches("<polyline").count(), 4);
        assert!(!page.contains("<script"));
        let value = json(&p);
        assert_eq!(value["account"]["lost"], 2);
        assert_eq!(value["account"]["timeline"].as_array().map(Vec::len), Some(5));
        assert_eq!(value["mode"], "open");
    }
}
