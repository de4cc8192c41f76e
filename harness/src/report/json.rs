//! `results.json`: the run for machines. Schema `hl7-harness/results/1` (documented in the user
//! guide, docs/guide/reports.md, "Reports and sign-off"); a field is only ever added within a
//! schema version, never renamed or removed.

use super::record::RunRecord;
use crate::observation::Reply;
use crate::runner::{CaseOutcome, Verdict};
use base64::Engine;
use serde_json::{json, Value};

/// The schema id written into `results.json`.
pub const SCHEMA: &str = "hl7-harness/results/1";

pub fn verdict_name(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Passed => "passed",
        Verdict::Warned => "warned",
        Verdict::Failed => "failed",
    }
}

/// Message bytes as text (HL7 segments end in `\r`); bytes that are not UTF-8 are also given
/// exactly as base64 so nothing is lost.
fn message(bytes: &[u8]) -> Value {
    match std::str::from_utf8(bytes) {
        Ok(text) => json!({ "text": text }),
        Err(_) => json!({
            "text": String::from_utf8_lossy(bytes),
            "base64": base64::engine::general_purpose::STANDARD.encode(bytes),
        }),
    }
}

fn reply(reply: &Reply) -> Value {
    json!({
        "message": message(&reply.payload),
        "elapsed_ms": reply.elapsed.as_millis() as u64,
        "notes": reply.notes.iter().map(|(code, offset)| json!({"code": code, "offset": offset})).collect::<Vec<_>>(),
    })
}

fn case(case: &CaseOutcome) -> Value {
    let observation = &case.observation;
    let exchanges: Vec<Value> = observation
        .exchanges
        .iter()
        .map(|e| {
            json!({
                "step": e.step,
                "connection": e.connection,
                "raw": e.raw,
                "sent": message(&e.sent),
                "faults": e.faults,
                "replies": e.replies.iter().map(reply).collect::<Vec<_>>(),
                "ack_timeout_ms": e.ack_timeout.as_millis() as u64,
                "event": e.event,
                "http": e.http,
                "attempts": e.attempts,
            })
        })
        .collect();
    let connections: Vec<&str> = observation.connections_after.iter().map(|c| c.name()).collect();
    json!({
        "scenario": case.scenario,
        "file": case.file.display().to_string().replace('\\', "/"),
        "name": case.name,
        "verdict": verdict_name(case.verdict()),
        "seed": case.seed,
        "duration_ms": case.duration.as_millis() as u64,
        "sent": case.sent,
        "checks": case.results,
        "exchanges": exchanges,
        "stray": observation.stray.iter().map(reply).collect::<Vec<_>>(),
        "probes": observation.probes,
        "connections_after": connections,
        "canaries": observation.canaries.iter().map(|c| json!({
            "when": c.when,
            "sent": message(&c.sent),
            "reply": c.reply.as_ref().map(reply),
            "event": c.event,
        })).collect::<Vec<_>>(),
        "aborted": observation.aborted,
        "reproduce": case.reproduce,
        "position": { "file": case.position.0, "case": case.position.1 },
        "arrivals": observation.arrivals.iter().map(|a| json!({
            "connection": a.connection,
            "message": message(&a.payload),
            "notes": a.notes.iter().map(|(code, offset)| json!({"code": code, "offset": offset})).collect::<Vec<_>>(),
            "received_ms": a.received.as_millis() as u64,
            "answer": a.answer,
            "answered_ms": a.answered.map(|d| d.as_millis() as u64),
            "accepted": a.accepted,
            "rejected": a.rejected,
        })).collect::<Vec<_>>(),
        "sut": observation.sut,
    })
}

/// The counts of a set of cases: cases, passed, warned, failed, checks run.
pub fn counts<'a>(cases: impl Iterator<Item = &'a CaseOutcome>) -> Value {
    let (mut total, mut passed, mut warned, mut failed, mut checks) = (0, 0, 0, 0, 0);
    for case in cases {
        total += 1;
        checks += case.results.len();
        match case.verdict() {
            Verdict::Passed => passed += 1,
            Verdict::Warned => warned += 1,
            Verdict::Failed => failed += 1,
        }
    }
    json!({"cases": total, "passed": passed, "warned": warned, "failed": failed, "checks": checks})
}

/// The `results.json` document.
pub fn results(record: &RunRecord) -> Value {
    let outcome = record.outcome;
    let packs: Vec<Value> = outcome
        .packs
        .iter()
        .map(|pack| {
            let inputs = record.pack(&pack.name);
            json!({
                "name": pack.name,
                "sha256": inputs.map(|i| i.sha256.as_str()),
                "files": inputs.map(|i| i.files.as_slice()).unwrap_or_default(),
                "counts": counts(pack.cases.iter()),
                "cases": pack.cases.iter().map(case).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "schema": SCHEMA,
        "run_id": record.run_id,
        "harness_version": super::record::HARNESS_VERSION,
        "target": outcome.target,
        "seed": outcome.seed,
        "profiles": outcome.profiles,
        "started": super::time::rfc3339(record.started),
        "finished": super::time::rfc3339(record.finished),
        "verdict": record.verdict(),
        "unreachable": outcome.unreachable,
        "phi_redacted": record.phi_redacted,
        "shard": outcome.shard.map(|s| s.to_string()),
        "baseline": record.baseline,
        "counts": counts(outcome.cases()),
        "packs": packs,
        "skipped": outcome.skipped.iter().map(|(file, reason)| json!({
            "file": file.display().to_string().replace('\\', "/"),
            "reason": reason,
        })).collect::<Vec<_>>(),
    })
}
