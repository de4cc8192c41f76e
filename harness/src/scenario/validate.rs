//! The cross-references serde cannot see, checked after strict YAML: template names, check
//! ids, step and probe shapes, receiver cases and the `load:` block. Each problem is reported
//! through a callback with the YAML text it concerns, so the loader can name its line.

use super::load::suggest;
use super::load::KnownChecks;
use super::raw::{
    network_faults, Case, LoadSpec, Probe, Resend, ScenarioFile, Template, Transport,
};
use super::receiver::ReceiverCase;
use crate::faults::{Fault, Host};

/// The `load:` block: templates that exist and are HL7, a way to end, sane numbers.
pub(super) fn check_load(
    load: &LoadSpec,
    file: &ScenarioFile,
    report: &mut dyn FnMut(&str, String),
) {
    let templates: Vec<&str> = file.messages.keys().map(String::as_str).collect();
    for name in &load.send {
        match file.messages.get(name) {
            None => {
                let hint = suggest(name, &templates)
                    .map(|s| format!("; did you mean {s:?}?"))
                    .unwrap_or_default();
                report(
                    name,
                    format!(
                        "load: no message template named {name:?}{hint} (defined: {})",
                        templates.join(", ")
                    ),
                );
            }
            Some(Template::Raw(_)) => report(
                name,
                format!("load: template {name:?} is raw bytes; load sends HL7 messages"),
            ),
            Some(_) => {}
        }
    }
    if load.send.is_empty() && templates.is_empty() {
        report("load:", "load: the file defines no message templates to send".into());
    }
    if load.duration.is_none() && load.count.is_none() {
        report("load:", "load: give a duration or a count (or both)".into());
    }
    if load.rate.is_some_and(|r| !(r.is_finite() && r > 0.0)) {
        report("rate:", "load: rate must be a positive number of messages per second".into());
    }
    if load.connections == Some(0) {
        report("connections:", "load: connections must be at least 1".into());
    }
}

/// Cross-references of one case.
pub(super) fn check_case(
    case: &Case,
    file: &ScenarioFile,
    known_checks: KnownChecks,
    report: &mut dyn FnMut(&str, String),
) {
    let template = |name: &str, report: &mut dyn FnMut(&str, String)| {
        if !file.messages.contains_key(name) {
            let templates: Vec<&str> = file.messages.keys().map(String::as_str).collect();
            let hint = suggest(name, &templates)
                .map(|s| format!("; did you mean {s:?}?"))
                .unwrap_or_default();
            report(
                &format!("send: {name}"),
                format!(
                    "case {:?}: no message template named {name:?}{hint} (defined: {})",
                    case.name,
                    templates.join(", ")
                ),
            );
        }
    };
    match (&case.send, case.steps.is_empty()) {
        (Some(name), true) => template(name, report),
        (None, false) => {
            for (i, step) in case.steps.iter().enumerate() {
                let number = i + 1;
                match (&step.send, step.resend) {
                    (Some(name), None) => template(name, report),
                    (None, Some(Resend::Previous)) if i > 0 => {}
                    (None, Some(Resend::Step(n))) if n < number => {}
                    (None, Some(_)) => report(
                        "resend:",
                        format!("case {:?}, step {number}: resend names no earlier step", case.name),
                    ),
                    (Some(_), Some(_)) => report(
                        &case.name,
                        format!("case {:?}, step {number}: give send or resend, not both", case.name),
                    ),
                    (None, None) if step.probe.is_some() || step.wait.is_some() => {}
                    (None, None) => report(
                        &case.name,
                        format!(
                            "case {:?}, step {number}: nothing to do (give send, resend, probe or wait)",
                            case.name
                        ),
                    ),
                }
            }
        }
        (Some(_), false) => {
            report(&case.name, format!("case {:?}: give send or steps, not both", case.name))
        }
        (None, true) => report(
            &case.name,
            format!("case {:?}: nothing to send (give send or steps)", case.name),
        ),
    }
    if !case.steps.is_empty()
        && (!case.set.is_empty() || !case.mutate.is_empty() || case.probe.is_some())
    {
        report(
            &case.name,
            format!("case {:?}: with steps, put set, mutate and probe in the steps", case.name),
        );
    }
    for (i, step) in case.steps.iter().enumerate() {
        if step.exact && (!step.set.is_empty() || !step.mutate.is_empty() || step.resend.is_some())
        {
            report(
                "exact:",
                format!(
                    "case {:?}, step {}: exact sends the template as it is; it takes no set, \
                     mutate or resend",
                    case.name,
                    i + 1
                ),
            );
        }
    }
    if case.steps.iter().any(|s| s.expect.order.is_some()) {
        report(
            "order",
            format!(
                "case {:?}: order is a rule for the whole case; put it in the case's expect",
                case.name
            ),
        );
    }
    if case.connections == Some(0) {
        report("connections:", format!("case {:?}: connections must be at least 1", case.name));
    }
    let faults = || network_faults(&case.network, &case.steps);
    let mut names = Vec::new();
    // The client connection the file is written for states which faults it can carry out.
    let host = match file.target.transport {
        Some(Transport::Hllp) => Host::HllpClient,
        Some(Transport::Http) => Host::HttpClient,
        Some(Transport::Mllp) | None => Host::MllpClient,
    };
    for fault in faults() {
        if let Err(message) = fault.validate() {
            report(fault.name(), format!("case {:?}: {message}", case.name));
        }
        if let Err(refused) = host.check(&Fault::Client(fault.clone())) {
            report(fault.name(), format!("case {:?}: {refused}", case.name));
        }
        names.push(fault.name());
    }
    // A vanished host sends nothing more: it cannot also have written the other frames.
    if names.contains(&"blackhole") {
        for other in ["coalesce", "pipeline", "reset", "close_before_ack", "unterminated"] {
            if names.contains(&other) {
                report(
                    "blackhole",
                    format!("case {:?}: blackhole cannot be combined with {other}", case.name),
                );
            }
        }
    }
    // An ACK-count trigger that can never fire would pass the case without the fault.
    let messages = if case.steps.is_empty() {
        1
    } else {
        case.steps.iter().filter(|s| s.send.is_some() || s.resend.is_some()).count()
    };
    if let Some(acks) = crate::faults::ack_trigger(&faults().cloned().collect::<Vec<_>>()) {
        if acks as usize >= messages {
            report(
                "after_acks",
                format!(
                    "case {:?}: reset after_acks {acks} never fires: the case sends \
                     {messages} message(s) on its connection, it needs more than {acks}",
                    case.name
                ),
            );
        }
    }
    // Placeholders inside probe JSON are strings serde does not look into: check them here.
    let probes = case.probe.iter().chain(case.steps.iter().filter_map(|s| s.probe.as_ref()));
    for probe in probes.clone() {
        if let Err(why) = check_probe(probe) {
            report("probe:", format!("case {:?}, probe: {why}", case.name));
        }
    }
    let fields = probes.clone().filter_map(|p| p.fields.as_ref()).flat_map(|f| f.values());
    for json in probes.filter_map(|p| p.json.as_ref()).chain(fields) {
        let mut texts = Vec::new();
        json_strings(json, &mut texts);
        for text in texts {
            if let Err(why) = super::text::Pattern::parse(text) {
                report(text, format!("case {:?}, probe json: {why}", case.name));
            }
        }
    }
    check_skip_ids(&case.name, &case.skip_checks, known_checks, report);
}

/// Why a probe's keys do not make one probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProbeShapeError {
    #[error("give exactly one of http_get, command, record and applied")]
    NotOneKind,
    #[error("a record probe needs id: (e.g. \"{{PID-3.1}}\")")]
    RecordWithoutId,
    #[error("fields: and absent: true contradict each other")]
    FieldsAndAbsent,
    #[error("json: and status: belong to http_get probes (a record has fields:)")]
    HttpKeysOnRecord,
    #[error("id, fields and absent belong to record probes")]
    RecordKeysElsewhere,
}

/// A probe does one thing: reads a URL, runs a command, reads a record the target profile maps,
/// or reads the applied log; the keys it carries belong to that kind.
fn check_probe(probe: &Probe) -> Result<(), ProbeShapeError> {
    let kinds = [
        probe.http_get.is_some(),
        probe.command.is_some(),
        probe.record.is_some(),
        probe.applied.is_some(),
    ];
    if kinds.iter().filter(|k| **k).count() != 1 {
        return Err(ProbeShapeError::NotOneKind);
    }
    let record_keys = probe.id.is_some() || probe.fields.is_some() || probe.absent.is_some();
    if probe.record.is_some() {
        if probe.id.is_none() {
            return Err(ProbeShapeError::RecordWithoutId);
        }
        if probe.fields.is_some() && probe.absent == Some(true) {
            return Err(ProbeShapeError::FieldsAndAbsent);
        }
        if probe.json.is_some() || probe.status.is_some() {
            return Err(ProbeShapeError::HttpKeysOnRecord);
        }
    } else if record_keys {
        return Err(ProbeShapeError::RecordKeysElsewhere);
    }
    Ok(())
}

/// The names that appear more than once, at their second appearance.
pub(super) fn repeated<'a>(names: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen = std::collections::HashSet::new();
    names.filter(|name| !seen.insert(*name)).collect()
}

/// Cross-references of one receiver case: templates, behaviours, check ids.
pub(super) fn check_receiver_case(
    case: &ReceiverCase,
    file: &ScenarioFile,
    known_checks: KnownChecks,
    report: &mut dyn FnMut(&str, String),
) {
    for name in &case.send {
        if !file.messages.contains_key(name) {
            let templates: Vec<&str> = file.messages.keys().map(String::as_str).collect();
            let hint = suggest(name, &templates)
                .map(|s| format!("; did you mean {s:?}?"))
                .unwrap_or_default();
            report(name, format!("case {:?}: no message template named {name:?}{hint}", case.name));
        }
    }
    let has_command = file.receiver.as_ref().is_some_and(|r| r.sut.is_some());
    if file.receiver.as_ref().and_then(|r| r.sut.as_ref()).is_some_and(|s| s.command.is_empty()) {
        report("command:", "sut.command is empty: give the program and its arguments".into());
    }
    if has_command && case.send.is_empty() {
        report(&case.name, format!("case {:?}: send lists nothing for the SUT to send", case.name));
    }
    if !has_command && case.send.is_empty() && case.expect.delivered.is_none() {
        report(
            &case.name,
            format!(
                "case {:?}: say what the sender delivers (send or expect.delivered)",
                case.name
            ),
        );
    }
    for behaviour in &case.connections {
        if let Err(message) = behaviour.validate() {
            report("slow_read", format!("case {:?}: {message}", case.name));
        }
    }
    if file.receiver.as_ref().is_some_and(|r| r.http.is_some()) {
        check_http_case(case, report);
    }
    check_skip_ids(&case.name, &case.skip_checks, known_checks, report);
}

/// Over HTTP, a case may use only what an HTTP exchange can carry: the answers the HTTP
/// answering server applies (refused by name, through `faults::Host`), and connections read
/// normally or never (a slow reader shapes MLLP reads).
fn check_http_case(case: &ReceiverCase, report: &mut dyn FnMut(&str, String)) {
    use crate::faults::{Fault, Host};
    for answer in &case.answers {
        if let Err(refused) = Host::HttpAnswering.check(&Fault::Answer(answer.clone())) {
            report(answer.name(), format!("case {:?}: {refused}", case.name));
        }
    }
    if case
        .connections
        .iter()
        .any(|c| matches!(c, super::receiver::ConnectionBehaviour::SlowRead { .. }))
    {
        report(
            "slow_read",
            format!(
                "case {:?}: slow_read shapes MLLP reads; the receiver role's HTTP listener \
                 cannot apply it",
                case.name
            ),
        );
    }
}

/// What serde cannot check in `receiver.http`.
pub(super) fn check_http_listen(
    http: &super::receiver::HttpListen,
    report: &mut dyn FnMut(&str, String),
) {
    if http.path.as_ref().is_some_and(|p| !p.0.starts_with('/')) {
        report("path", "receiver.http.path must start with /".into());
    }
    if http.max_body_bytes == Some(0) {
        report("max_body_bytes", "receiver.http.max_body_bytes must be at least 1".into());
    }
}

/// The ids of a case's `skip_checks` must be checks the harness has.
pub(super) fn check_skip_ids(
    case: &str,
    ids: &[String],
    known_checks: KnownChecks,
    report: &mut dyn FnMut(&str, String),
) {
    for id in ids {
        if !known_checks.contains(&id.as_str()) {
            let hint = suggest(id, known_checks)
                .map(|s| format!("; did you mean {s}?"))
                .unwrap_or_default();
            report(id, format!("case {case:?}: unknown check {id:?} in skip_checks{hint}"));
        }
    }
}

/// Every string inside a JSON value.
fn json_strings<'a>(value: &'a serde_json::Value, out: &mut Vec<&'a str>) {
    match value {
        serde_json::Value::String(text) => out.push(text),
        serde_json::Value::Array(items) => items.iter().for_each(|v| json_strings(v, out)),
        serde_json::Value::Object(map) => map.values().for_each(|v| json_strings(v, out)),
        _ => {}
    }
}
