//! Case snapshots: each case's outcome as a normalized, human-readable transcript (what was
//! sent, by template and mutation; what came back, field by field; the verdicts), with the
//! values that change from run to run redacted, so two runs of the same packs against the same
//! target give the same text unless the target behaves differently. Written in insta's `.snap`
//! format, so `cargo insta review` can review them (see `baseline`).
//!
//! A through case adds every output of the engine (`snapshot_through`).
//!
//! Redacted: the control ids the harness generated (`[sent-N]`, numbered per case in order of
//! first use), the case's `{unique}` token, the ACK's own MSH-7 and MSH-10, host and port, and
//! every duration (a reply is within or after its ACK timeout; a case takes under 10 s,
//! 10 to 60 s or longer).

use super::json::verdict_name;
use crate::checks::Severity;
use crate::hl7::Message;
use crate::observation::{CanaryWhen, Outcome, Reply};
use crate::runner::{unique_token, CaseOutcome, RunOutcome};
use std::fmt::Write;
use std::time::Duration;

/// The `source:` written into every snapshot's header.
pub const SOURCE: &str = "hl7-harness run";
/// File extension of an accepted snapshot; a pending one adds `.new` (insta's convention).
pub const EXTENSION: &str = "snap";

/// One case's snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub pack: String,
    /// The file name without extension: `<scenario file stem>__<case name, slugged>`.
    pub name: String,
    /// `<scenario> › <case>`, the snapshot's `expression:` header.
    pub title: String,
    pub body: String,
}

impl Snapshot {
    /// `<pack>/<name>.snap`, relative to a baseline or report folder.
    pub fn path(&self) -> String {
        format!("{}/{}.{EXTENSION}", slug(&self.pack), self.name)
    }

    /// The snapshot file in insta's format: a YAML header between `---` lines, then the body.
    pub fn file_text(&self) -> String {
        format!(
            "---\nsource: {SOURCE}\nexpression: {}\n---\n{}\n",
            yaml_string(&self.title),
            self.body.trim_end()
        )
    }
}

/// The body of a snapshot file (everything after the header), or `None` when the text is not
/// in insta's format.
pub fn parse_body(text: &str) -> Option<&str> {
    let rest = text.strip_prefix("---\n").or_else(|| text.strip_prefix("---\r\n"))?;
    let end = rest
        .find("\n---\n")
        .map(|at| at + "\n---\n".len())
        .or_else(|| rest.find("\n---\r\n").map(|at| at + "\n---\r\n".len()))?;
    Some(rest[end..].trim_end())
}

/// A double-quoted YAML scalar (JSON strings are valid YAML).
fn yaml_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".into())
}

/// Lowercase ASCII letters and digits, everything else one `-`; at most 80 characters.
pub fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let trimmed: String = out.trim_matches('-').chars().take(80).collect();
    let trimmed = trimmed.trim_end_matches('-');
    if trimmed.is_empty() {
        "case".into()
    } else {
        trimmed.into()
    }
}

/// The snapshots of every case of `outcome`, in run order. Names are unique within a pack: a
/// second case with the same slug gets `-2`, and so on.
pub fn snapshots(outcome: &RunOutcome) -> Vec<Snapshot> {
    let mut out = Vec::new();
    for pack in &outcome.packs {
        let mut taken = std::collections::BTreeSet::new();
        for case in &pack.cases {
            let stem = case.file.file_stem().map(|s| s.to_string_lossy().into_owned());
            let base = format!("{}__{}", slug(&stem.unwrap_or_default()), slug(&case.name));
            let mut name = base.clone();
            for n in 2.. {
                if taken.insert(name.clone()) {
                    break;
                }
                name = format!("{base}-{n}");
            }
            out.push(Snapshot {
                pack: pack.name.clone(),
                name,
                title: format!("{} › {}", case.scenario, case.name),
                body: transcript(case),
            });
        }
    }
    out
}

/// A case's duration as a bucket wide enough to survive a noisy machine (the shipped cases
/// take well under 10 s; a case that hangs for a minute shows up).
fn bucket(duration: Duration) -> &'static str {
    if duration < Duration::from_secs(10) {
        "under 10 s"
    } else if duration < Duration::from_secs(60) {
        "10 to 60 s"
    } else {
        "60 s or more"
    }
}

/// A reply's time, judged against the exchange's ACK timeout: the only line that matters.
fn timing(elapsed: Duration, ack_timeout: Duration) -> &'static str {
    if elapsed <= ack_timeout {
        "within the ACK timeout"
    } else {
        "after the ACK timeout"
    }
}

/// Replaces the run-dependent values of one case in free text.
pub(super) struct Redactor {
    /// Generated control ids and their placeholders, longest first.
    replacements: Vec<(String, String)>,
}

impl Redactor {
    fn for_case(case: &CaseOutcome) -> Redactor {
        let mut replacements: Vec<(String, String)> = Vec::new();
        // The messages the harness generated: what it sent, and what the sender under test
        // sent with the ids the harness gave it (receiver role).
        let observation = &case.observation;
        let sent = observation.exchanges.iter().filter(|e| !e.raw).map(|e| &e.sent);
        // Through role: the inputs the harness sent into the engine (their MSH-10 comes back
        // in the engine's ACKs and in what a pass-through engine forwards).
        let inputs = observation.through.iter().flat_map(|t| t.inputs.iter().map(|i| &i.payload));
        for payload in sent.chain(observation.arrivals.iter().map(|a| &a.payload)).chain(inputs) {
            let Ok(message) = Message::parse(payload) else { continue };
            let Some(id) = message.control_id().filter(|id| id.len() >= 4) else { continue };
            if !replacements.iter().any(|(known, _)| known == id) {
                let placeholder = format!("[sent-{}]", replacements.len() + 1);
                replacements.push((id.to_string(), placeholder));
            }
        }
        replacements.push((unique_token(case.seed), "[unique]".into()));
        replacements.sort_by_key(|r| std::cmp::Reverse(r.0.len()));
        Redactor { replacements }
    }

    /// A redactor of the given values, for the renderers' tests.
    #[cfg(test)]
    pub(super) fn with(pairs: &[(&str, &str)]) -> Redactor {
        let replacements = pairs.iter().map(|(v, p)| (v.to_string(), p.to_string())).collect();
        Redactor { replacements }
    }

    pub(super) fn apply(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (value, placeholder) in &self.replacements {
            if out.contains(value.as_str()) {
                out = out.replace(value.as_str(), placeholder);
            }
        }
        redact_addresses(&redact_millis(&out))
    }
}

/// `2003ms` / `2003 ms` → `[ms]`: timings in evidence differ on every run.
fn redact_millis(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        let starts_number = bytes[i].is_ascii_digit() && (i == 0 || !is_word(bytes[i - 1]));
        if starts_number {
            let digits = bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
            let after = &text[i + digits..];
            let unit = if after.starts_with(" ms") {
                3
            } else if after.starts_with("ms") {
                2
            } else {
                0
            };
            let ends = after.as_bytes().get(unit).is_none_or(|b| !is_word(*b));
            if unit > 0 && ends {
                out.push_str("[ms]");
                i += digits + unit;
                continue;
            }
            out.push_str(&text[i..i + digits]);
            i += digits;
            continue;
        }
        let len = utf8_len(bytes[i]);
        out.push_str(&text[i..(i + len).min(text.len())]);
        i += len;
    }
    out
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

/// `scheme://host:port` → `scheme://[host:port]`, and loopback `127.0.0.1:N` / `[::1]:N` /
/// `localhost:N` → `[host:port]`: ports are picked by the system on every run.
fn redact_addresses(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let end =
            tail.find(|c: char| c == '/' || c.is_whitespace() || c == '"').unwrap_or(tail.len());
        out.push_str(if end > 0 { "[host:port]" } else { "" });
        rest = &tail[end..];
    }
    out.push_str(rest);
    for host in ["127.0.0.1:", "[::1]:", "localhost:"] {
        let mut redacted = String::with_capacity(out.len());
        let mut rest = out.as_str();
        while let Some(at) = rest.find(host) {
            let digits = rest[at + host.len()..].bytes().take_while(u8::is_ascii_digit).count();
            redacted.push_str(&rest[..at]);
            if digits > 0 {
                redacted.push_str("[host:port]");
                rest = &rest[at + host.len() + digits..];
            } else {
                redacted.push_str(host);
                rest = &rest[at + host.len()..];
            }
        }
        redacted.push_str(rest);
        out = redacted;
    }
    out
}

/// One reply, field by field: every non-empty field as `SEG-n value`, the ACK's own MSH-7 and
/// MSH-10 redacted; a reply that is not HL7 as escaped bytes.
fn reply(out: &mut String, redactor: &Redactor, label: &str, reply: &Reply, limit: Duration) {
    let _ = writeln!(out, "    {label} ({}):", timing(reply.elapsed, limit));
    for (code, offset) in &reply.notes {
        let _ = writeln!(out, "      framing note: {code} at byte {offset}");
    }
    match Message::parse(&reply.payload) {
        Ok(message) => {
            for segment in message.segments() {
                let id = segment.id();
                for (n, value) in segment.fields() {
                    if value.is_empty() {
                        continue;
                    }
                    let text = match (id, n) {
                        ("MSH", 7) => "[timestamp]".to_string(),
                        ("MSH", 10) => "[control id]".to_string(),
                        _ => redactor.apply(&String::from_utf8_lossy(value.as_bytes())),
                    };
                    let _ = writeln!(out, "      {id}-{n:<3} {text}");
                }
            }
        }
        Err(err) => {
            let shown: String = String::from_utf8_lossy(&reply.payload).chars().take(200).collect();
            let _ = writeln!(out, "      not HL7 ({}): {:?}", err.code(), redactor.apply(&shown));
        }
    }
}

/// The transcript of one case.
pub fn transcript(case: &CaseOutcome) -> String {
    let redactor = Redactor::for_case(case);
    let observation = &case.observation;
    let mut out = String::new();
    let _ = writeln!(out, "case: {}", case.name);
    let _ = writeln!(out, "scenario: {}", case.scenario);
    let _ = writeln!(out, "verdict: {}", verdict_name(case.verdict()));
    let _ = writeln!(out, "duration: {}", bucket(case.duration));
    out.push_str("sent:\n");
    for sent in &case.sent {
        let _ = writeln!(out, "  - {}", redactor.apply(sent));
    }
    if let Some(event) = &observation.aborted {
        let _ = writeln!(out, "aborted: {} ({})", event.code, redactor.apply(&event.detail));
    }
    for exchange in &observation.exchanges {
        let _ = writeln!(out, "step {}, connection {}:", exchange.step, exchange.connection);
        if exchange.raw {
            out.push_str("  sent: raw bytes (not HL7)\n");
        } else if let Ok(message) = Message::parse(&exchange.sent) {
            let _ = writeln!(
                out,
                "  sent: {} {} v{}",
                message
                    .header()
                    .field(9)
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                    .unwrap_or_default(),
                redactor.apply(message.control_id().unwrap_or("")),
                message.version().unwrap_or("?"),
            );
        }
        if !exchange.faults.is_empty() {
            let _ = writeln!(out, "  faults: {}", exchange.faults.join(", "));
        }
        if let Some(http) = &exchange.http {
            let _ = writeln!(
                out,
                "  http: {} {}",
                http.status,
                http.content_type.as_deref().unwrap_or("(no content type)")
            );
        }
        if exchange.replies.is_empty() {
            out.push_str("  no reply\n");
        }
        for (i, answer) in exchange.replies.iter().enumerate() {
            let label = format!("reply {}", i + 1);
            reply(&mut out, &redactor, &label, answer, exchange.ack_timeout);
        }
        if let Some(event) = &exchange.event {
            let _ = writeln!(out, "  then: {} ({})", event.code, redactor.apply(&event.detail));
        }
        let noted = |a: &crate::observation::Attempt| a.event.is_some() || a.commit.is_some();
        if exchange.attempts.len() > 1 || exchange.attempts.iter().any(noted) {
            let attempts: Vec<String> = exchange
                .attempts
                .iter()
                .map(|a| {
                    let outcome = match a.outcome {
                        Outcome::Ok => "ok",
                        Outcome::Fail => "fail",
                        Outcome::Indeterminate => "indeterminate",
                    };
                    let shown = match &a.event {
                        Some(event) => format!("{outcome} ({event})"),
                        None => outcome.to_string(),
                    };
                    match a.commit {
                        // The commit block is a note beside the outcome, never the ACK.
                        Some(commit) if a.event.as_deref() != Some("commit-nak") => {
                            format!("{shown} after a {}", commit.name())
                        }
                        _ => shown,
                    }
                })
                .collect();
            let _ = writeln!(out, "  attempts: {}", attempts.join(", "));
        }
    }
    for canary in &observation.canaries {
        let when = match canary.when {
            CanaryWhen::During => "during",
            CanaryWhen::After => "after",
        };
        let answer = match (&canary.reply, &canary.event) {
            (Some(reply), _) => Outcome::of(&canary.sent, Some(&reply.payload)),
            (None, _) => Outcome::Indeterminate,
        };
        let shown = match (answer, &canary.event) {
            (Outcome::Ok, _) => "answered by its own accept ACK".to_string(),
            (Outcome::Fail, _) => "answered by its own reject ACK".to_string(),
            (Outcome::Indeterminate, Some(event)) => format!("no ACK of its own ({})", event.code),
            (Outcome::Indeterminate, None) => "no ACK of its own".to_string(),
        };
        let _ = writeln!(out, "canary {when} the faults: {shown}");
    }
    for (i, arrival) in observation.arrivals.iter().enumerate() {
        let what = match Message::parse(&arrival.payload) {
            Ok(message) => format!(
                "{} {}",
                message
                    .header()
                    .field(9)
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                    .unwrap_or_default(),
                message.control_id().unwrap_or("")
            ),
            Err(err) => format!("not HL7 ({})", err.code()),
        };
        let _ = writeln!(
            out,
            "arrival {}, connection {}: {} -> {}",
            i + 1,
            arrival.connection,
            redactor.apply(&what),
            arrival.answer
        );
    }
    if let Some(through) = &observation.through {
        super::snapshot_through::section(
            &mut out,
            &redactor,
            through,
            case.output_redaction.as_ref(),
        );
    }
    if let Some(sut) = &observation.sut {
        // The engine of a through case is a server the harness stops when the case ends.
        let (who, stopped) = match observation.through {
            Some(_) => ("engine", "stopped when the case ended"),
            None => ("sender under test", "stopped at the case timeout"),
        };
        let ended = match (&sut.error, sut.killed, sut.exit) {
            (Some(_), _, _) => "could not start".to_string(),
            (None, true, _) => stopped.to_string(),
            (None, false, Some(code)) => format!("exit {code}"),
            (None, false, None) => "ended by a signal".to_string(),
        };
        let _ = writeln!(out, "{who}: {ended}");
    }
    let limit = observation.exchanges.iter().map(|e| e.ack_timeout).max().unwrap_or_default();
    if !observation.stray.is_empty() {
        out.push_str("stray frames:\n");
    }
    for (i, stray) in observation.stray.iter().enumerate() {
        reply(&mut out, &redactor, &format!("stray {}", i + 1), stray, limit);
    }
    if !observation.connections_after.is_empty() {
        let states: Vec<&str> = observation.connections_after.iter().map(|c| c.name()).collect();
        let _ = writeln!(out, "connections after: {}", states.join(", "));
    }
    for probe in &observation.probes {
        let result = match (&probe.failure, probe.unavailable) {
            (_, true) => "unavailable".to_string(),
            (None, false) => "passed".to_string(),
            (Some(failure), false) => format!("failed: {}", redactor.apply(failure)),
        };
        let _ =
            writeln!(out, "probe (step {}): {}: {result}", probe.step, redactor.apply(&probe.what));
    }
    checks(&mut out, &redactor, case);
    out
}

/// Every check on its own line (so a diff names the check that changed): `ok`, `FAILED` with
/// the severity and the evidence, or `seen` for what the profile leaves unjudged.
fn checks(out: &mut String, redactor: &Redactor, case: &CaseOutcome) {
    out.push_str("checks:\n");
    for result in &case.results {
        let step = result.step.map_or("case".to_string(), |s| format!("step {s}"));
        if result.passed {
            let _ = writeln!(out, "  {step}: ok {}", result.id);
            continue;
        }
        let evidence = redactor.apply(&result.evidence);
        let severity = match result.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            // A result graded down because the target profile does not declare what it
            // depends on: what was seen, not a failure.
            Severity::Info => {
                let _ = writeln!(out, "  {step}: seen {} (not judged): {evidence}", result.id);
                continue;
            }
        };
        let _ = writeln!(out, "  {step}: FAILED {} ({severity}): {evidence}", result.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(slug("A04 creates the client [v2.4]"), "a04-creates-the-client-v2-4");
        assert_eq!(slug("--Ελένη--"), "case");
        assert_eq!(slug(&"x".repeat(200)).len(), 80);
    }

    #[test]
    fn millis_are_redacted_words_are_not() {
        assert_eq!(
            redact_millis("answered after 2003ms, limit 500 ms"),
            "answered after [ms], limit [ms]"
        );
        assert_eq!(redact_millis("item2ms 12msx 7 msg"), "item2ms 12msx 7 msg");
        assert_eq!(redact_millis("Ελένη 5ms"), "Ελένη [ms]");
    }

    #[test]
    fn addresses_are_redacted() {
        assert_eq!(
            redact_addresses("GET http://127.0.0.1:43921/clients/x from 127.0.0.1:5 and [::1]:80 port 127.0.0.1:"),
            "GET http://[host:port]/clients/x from [host:port] and [host:port] port 127.0.0.1:"
        );
    }

    #[test]
    fn snap_file_round_trip() {
        let snapshot = Snapshot {
            pack: "Core Pack".into(),
            name: "acks__plain".into(),
            title: "acks › \"quoted\" ---".into(),
            body: "case: x\n---\nmore\n".into(),
        };
        let text = snapshot.file_text();
        assert!(text.starts_with(
            "---\nsource: hl7-harness run\nexpression: \"acks › \\\"quoted\\\" ---\"\n---\n"
        ));
        assert_eq!(parse_body(&text), Some("case: x\n---\nmore"));
        assert_eq!(snapshot.path(), "core-pack/acks__plain.snap");
        assert_eq!(parse_body("no header"), None);
    }
}
