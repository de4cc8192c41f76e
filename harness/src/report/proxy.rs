//! The proxy's report folder: `faults.jsonl` (every event, appended while the proxy runs) and
//! `summary.md` (written at the end): what ran where with which seed and rules, how many
//! connections, frames and bytes went each way, and how often each fault and note occurred,
//! with the command that repeats the run.

use super::markdown::code;
use crate::proxy::event::EventLog;
use crate::proxy::server::Stats;
use crate::vocab::Seed;
use std::fmt::Write;

/// The events file in a report folder.
pub const EVENTS_FILE: &str = "faults.jsonl";
/// The summary in a report folder.
pub const SUMMARY_FILE: &str = "summary.md";

/// What the summary needs to know about the run besides the events.
pub struct RunInfo<'a> {
    pub listen: &'a str,
    pub upstream: &'a str,
    pub seed: Seed,
    pub started: &'a str,
    pub finished: &'a str,
    /// Every rule installed during the run, `(id, canonical spec)`, in order.
    pub rules: &'a [(u64, String)],
    /// The `--fault` specs given on the command line, to repeat the run.
    pub cli_specs: &'a [String],
    pub stats: Stats,
}

/// The `summary.md` document.
pub fn summary(info: &RunInfo<'_>, events: &EventLog) -> String {
    let mut out = String::new();
    let stats = info.stats;
    let _ = writeln!(out, "# hl7-harness proxy report\n");
    let _ = writeln!(out, "| | |\n|---|---|");
    for (name, value) in [
        ("Listen", code(info.listen)),
        ("Upstream", code(info.upstream)),
        ("Seed", info.seed.to_string()),
        ("Started", info.started.to_string()),
        ("Finished", info.finished.to_string()),
        ("Connections", stats.connections.to_string()),
        ("Frames up / down", format!("{} / {}", stats.frames[0], stats.frames[1])),
        ("Bytes up / down", format!("{} / {}", stats.bytes[0], stats.bytes[1])),
    ] {
        let _ = writeln!(out, "| {name} | {value} |");
    }
    let per_rule = events.per_rule();
    let _ = writeln!(out, "\n## Rules\n");
    if info.rules.is_empty() {
        let _ = writeln!(out, "No rule was installed: the proxy passed everything through.");
    } else {
        let _ = writeln!(out, "| rule | spec | faults injected |\n|---|---|---|");
        for (id, spec) in info.rules {
            let count = per_rule.get(id).copied().unwrap_or(0);
            let _ = writeln!(out, "| {id} | {} | {count} |", code(spec));
        }
    }
    let _ = writeln!(out, "\n## Events\n");
    let counts = events.counts();
    if counts.is_empty() {
        let _ = writeln!(out, "None.");
    } else {
        let _ = writeln!(out, "| kind | fault or note | count |\n|---|---|---|");
        for ((kind, fault), count) in &counts {
            let _ = writeln!(out, "| {kind} | {} | {count} |", code(fault));
        }
    }
    let _ = writeln!(
        out,
        "\nEvery event is one JSON line of `{EVENTS_FILE}`, in the order they happened (time, \
         connection, direction, frame index, MSH-9, MSH-10, MSA-1, MSA-2, fault, rule, spec, \
         detail). Message text is never recorded."
    );
    let mut command = format!(
        "hl7-harness proxy --listen {} --upstream {} --seed {}",
        info.listen, info.upstream, info.seed
    );
    for spec in info.cli_specs {
        command.push_str(&format!(" --fault '{spec}'"));
    }
    let _ = writeln!(out, "\nRepeat the run (same seed, same decisions for the same traffic):\n");
    let _ = writeln!(out, "```\n{command}\n```");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::event::{Event, EventKind};

    #[test]
    fn summary_lists_rules_counts_and_the_command() {
        let events = EventLog::new(false);
        let mut event = Event::note(1, None, "drop", "not forwarded".into());
        event.kind = EventKind::Fault;
        event.rule = Some(1);
        events.record(event.clone());
        events.record(event);
        events.record(Event::note(1, None, "connect", String::new()));
        let rules = [(1, "drop:dir=up,frame=3".to_string()), (2, "latency:ms=5,dir=both".into())];
        let specs = ["drop:dir=up,frame=3".to_string()];
        let info = RunInfo {
            listen: "127.0.0.1:2576",
            upstream: "mllp://127.0.0.1:2575",
            seed: Seed(9),
            started: "2026-11-26T10:00:00Z",
            finished: "2026-11-26T10:01:00Z",
            rules: &rules,
            cli_specs: &specs,
            stats: Stats { connections: 1, frames: [3, 2], bytes: [300, 200] },
        };
        let text = summary(&info, &events);
        assert!(text.contains("| 1 | `drop:dir=up,frame=3` | 2 |"), "{text}");
        assert!(text.contains("| 2 | `latency:ms=5,dir=both` | 0 |"), "{text}");
        assert!(text.contains("| fault | `drop` | 2 |"), "{text}");
        assert!(text.contains("| note | `connect` | 1 |"), "{text}");
        assert!(text.contains("| Frames up / down | 3 / 2 |"), "{text}");
        assert!(text.contains("--seed 9 --fault 'drop:dir=up,frame=3'"), "{text}");
    }
}
