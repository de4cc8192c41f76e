//! The through role's checks: the harness sent known inputs into an interface engine and
//! listened as its destinations; these judge what came out against what the case expects of
//! each input (which output, where, how many, how soon, or nothing at all), and the ACK the
//! engine gave each input against what it then did. Pure: the recorded inputs and arrivals
//! against the plan.
//!
//! An arrival is matched to an input by the case's key (MSH-10 by default: a pass-through
//! engine keeps it), then to the expected output of that input at that destination. An
//! arrival whose key matches no input is still matched when its content equals an expected
//! output at that destination (the key and MSH-7 left out): an engine that resends under a
//! new control ID delivers a copy the destination cannot recognise, and that copy must count
//! as a duplicate, not vanish into `through.unexpected`.

use super::catalogue::{
    THROUGH_CONTENT, THROUGH_DELIVERED, THROUGH_ENGINE_RAN, THROUGH_INPUT_ACK, THROUGH_LATENCY,
    THROUGH_ORDER, THROUGH_UNEXPECTED,
};
use super::{CasePlan, CheckResult};
use crate::hl7::ack::ReceivedAck;
use crate::hl7::{diff, Message, Path};
use crate::observation::{CaseObservation, ThroughArrival, ThroughObservation};
use std::time::Duration;

/// Differences shown per output in `through.content`'s evidence; the rest are counted.
const SHOWN_DIFFERENCES: usize = 8;
/// Items named in one check's evidence; the rest are counted.
const SHOWN_ITEMS: usize = 10;

/// What a through case expects of the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThroughExpectation {
    /// One per input, in the order they were sent (parallel to the observation's inputs).
    pub inputs: Vec<ThroughInputPlan>,
    /// The path arrivals are matched to inputs by (MSH-10 by default).
    pub key: Path,
    /// A destination may receive its outputs in another order than the inputs were sent.
    pub allow_reorder: bool,
}

/// What one input must give.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThroughInputPlan {
    pub label: String,
    /// Nothing may arrive anywhere for it (the engine filters it).
    pub filtered: bool,
    pub outputs: Vec<ExpectedOutput>,
}

/// One message that must arrive at a destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedOutput {
    pub destination: String,
    /// The expected message, as bytes (its delimiters and encoding need not be the engine's).
    pub message: Vec<u8>,
    /// Paths left out of the comparison (and everything below them).
    pub ignore: Vec<Path>,
    /// Paths whose decoded value must match a regular expression (whole value) instead of
    /// being equal; left out of the comparison otherwise.
    pub patterns: Vec<(Path, String)>,
    /// How many distinct copies must arrive (default 1).
    pub count: usize,
    /// The longest time from sending the input to the output's first arrival.
    pub within: Option<Duration>,
}

impl ExpectedOutput {
    /// The paths left out of the equality comparison: `ignore` and the pattern-matched ones.
    fn compared_without(&self) -> Vec<Path> {
        self.ignore.iter().chain(self.patterns.iter().map(|(p, _)| p)).cloned().collect()
    }
}

/// What a rendering of a through case's outputs needs of its plan to read the same on every
/// run (a baseline snapshot): the path that ties an output to its input, and, per destination,
/// the paths whose values legitimately change from run to run: the `ignore:` and `matches:`
/// paths of every output expected there (a generated id, a timestamp). The values themselves
/// are observations; only which of them to redact comes from the case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputRedaction {
    pub key: Path,
    /// Destination → paths redacted in whatever arrives there (with everything below them).
    pub volatile: std::collections::BTreeMap<String, Vec<Path>>,
}

impl ThroughExpectation {
    /// The redaction a snapshot of this case's outputs applies.
    pub fn redaction(&self) -> OutputRedaction {
        let mut volatile: std::collections::BTreeMap<String, Vec<Path>> =
            std::collections::BTreeMap::new();
        for output in self.inputs.iter().flat_map(|p| p.outputs.iter()) {
            let paths = volatile.entry(output.destination.clone()).or_default();
            for path in output.compared_without() {
                if !paths.contains(&path) {
                    paths.push(path);
                }
            }
        }
        OutputRedaction { key: self.key.clone(), volatile }
    }
}

/// Where one arrival went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Match {
    /// The output `output` of input `input`.
    Output { input: usize, output: usize },
    /// Input `input`'s, but the case expects nothing of it at that destination.
    Stray { input: usize },
    /// Of no input.
    Unknown,
}

/// The decoded text at `path`, when the bytes parse and the path is valued.
fn text_at(bytes: &[u8], path: &Path) -> Option<String> {
    let message = Message::parse(bytes).ok()?;
    let value = message.get(path)?;
    Some(message.text(&value).into_owned())
}

/// Differences of `arrived` from `expected`, leaving out `ignore` and the delimiters
/// themselves (MSH-1, MSH-2): an engine may write the same values with other delimiters.
fn differences(expected: &[u8], arrived: &[u8], ignore: &[Path]) -> Option<Vec<diff::Difference>> {
    let expected = Message::parse(expected).ok()?;
    let arrived = Message::parse(arrived).ok()?;
    let delimiters = ["MSH-1", "MSH-2"].into_iter().filter_map(|p| Path::parse(p).ok());
    let ignore: Vec<Path> = ignore.iter().cloned().chain(delimiters).collect();
    Some(diff::diff(&expected, &arrived, &ignore))
}

/// Matches every arrival to an output, an input, or nothing, in arrival order. Where several
/// outputs fit (inputs sharing a key such as PID-3.1, two routes to one destination), the one
/// with the fewest differences wins, then the one with the fewest arrivals so far: two equal
/// inputs get one copy each before either counts a duplicate.
fn assign(plan: &ThroughExpectation, seen: &ThroughObservation) -> Vec<Match> {
    let keys: Vec<Option<String>> =
        seen.inputs.iter().map(|input| text_at(&input.payload, &plan.key)).collect();
    let header = [Path::parse("MSH-7"), Path::parse("MSH-10")];
    let generated: Vec<Path> = header.into_iter().flatten().chain([plan.key.clone()]).collect();
    let mut taken: Vec<Vec<usize>> = plan.inputs.iter().map(|p| vec![0; p.outputs.len()]).collect();
    let mut matches = Vec::with_capacity(seen.arrivals.len());
    for ThroughArrival { destination, arrival } in &seen.arrivals {
        let key = text_at(&arrival.payload, &plan.key);
        // (input, output, its expected message) of every output at this destination.
        let here = |input: usize| {
            plan.inputs.get(input).into_iter().flat_map(move |p| {
                p.outputs
                    .iter()
                    .enumerate()
                    .filter(move |(_, o)| &o.destination == destination)
                    .map(move |(output, o)| (input, output, o))
            })
        };
        let by_key: Vec<usize> = (0..keys.len())
            .filter(|&i| key.is_some() && keys[i] == key && i < plan.inputs.len())
            .collect();
        let found = if by_key.is_empty() {
            // No input has this key: an output it equals but for the generated fields.
            (0..plan.inputs.len())
                .flat_map(here)
                .filter(|(_, _, o)| {
                    let mut ignore = o.compared_without();
                    ignore.extend(generated.iter().cloned());
                    differences(&o.message, &arrival.payload, &ignore).is_some_and(|d| d.is_empty())
                })
                .min_by_key(|&(i, o, _)| taken[i][o])
                .map(|(input, output, _)| Match::Output { input, output })
                .unwrap_or(Match::Unknown)
        } else {
            by_key
                .iter()
                .flat_map(|&i| here(i))
                .min_by_key(|&(i, o, expected)| {
                    let count = differences(
                        &expected.message,
                        &arrival.payload,
                        &expected.compared_without(),
                    )
                    .map_or(usize::MAX, |d| d.len());
                    (count, taken[i][o])
                })
                .map(|(input, output, _)| Match::Output { input, output })
                .unwrap_or(Match::Stray { input: by_key[0] })
        };
        if let Match::Output { input, output } = found {
            taken[input][output] += 1;
        }
        matches.push(found);
    }
    matches
}

/// How the report names an output.
fn output_name(plan: &ThroughExpectation, input: usize, output: usize) -> String {
    let label = plan.inputs.get(input).map_or("?", |p| p.label.as_str());
    let destination = plan
        .inputs
        .get(input)
        .and_then(|p| p.outputs.get(output))
        .map_or("?", |o| o.destination.as_str());
    format!("{label} at {destination}")
}

fn arrival_name(arrival: &ThroughArrival) -> String {
    let id = Message::parse(&arrival.arrival.payload)
        .ok()
        .and_then(|m| m.control_id().map(str::to_string))
        .unwrap_or_else(|| "not HL7".into());
    format!("MSH-10 {id} at {}", arrival.destination)
}

/// Joins at most [`SHOWN_ITEMS`] items, counting the rest.
fn listed(items: &[String]) -> String {
    let mut text = items.iter().take(SHOWN_ITEMS).cloned().collect::<Vec<_>>().join("; ");
    if items.len() > SHOWN_ITEMS {
        text.push_str(&format!("; and {} more", items.len() - SHOWN_ITEMS));
    }
    text
}

fn verdict(def: super::CheckDef, problems: Vec<String>) -> CheckResult {
    if problems.is_empty() {
        CheckResult::pass(def, None)
    } else {
        CheckResult::fail(def, None, listed(&problems))
    }
}

/// Every through check of one case, when the case is a through case.
pub(super) fn through_case(plan: &CasePlan, case: &CaseObservation, out: &mut Vec<CheckResult>) {
    let (Some(expect), Some(seen)) = (&plan.through, &case.through) else { return };
    if let Some(sut) = &case.sut {
        out.push(engine_ran(sut));
    }
    out.extend(super::through_read::destination_read(seen));
    let matches = assign(expect, seen);
    // The arrivals of each expected output, in arrival order.
    let slots: Vec<Vec<Vec<usize>>> = expect
        .inputs
        .iter()
        .enumerate()
        .map(|(i, p)| {
            (0..p.outputs.len())
                .map(|o| {
                    let this = Match::Output { input: i, output: o };
                    (0..matches.len()).filter(|&a| matches[a] == this).collect()
                })
                .collect()
        })
        .collect();
    out.push(delivered(expect, seen, &slots));
    out.push(content(expect, seen, &slots));
    out.push(unexpected(expect, seen, &matches));
    if let Some(result) = order(expect, &slots) {
        out.push(result);
    }
    if let Some(result) = latency(expect, seen, &slots) {
        out.push(result);
    }
    out.push(input_ack(expect, seen, &slots, &matches));
}

/// The engine is a server: the harness stops it when the case ends, so being stopped is
/// right, and exiting on its own (or not starting) is not.
fn engine_ran(sut: &crate::observation::SutRun) -> CheckResult {
    let printed = |text: &str| {
        let cut: String =
            text.chars().rev().take(300).collect::<Vec<_>>().into_iter().rev().collect();
        if cut.trim().is_empty() {
            String::new()
        } else {
            format!("; it printed: {}", cut.trim())
        }
    };
    match (&sut.error, sut.killed, sut.exit) {
        (Some(error), _, _) => CheckResult::fail(
            THROUGH_ENGINE_RAN,
            None,
            format!("{}: could not start: {error}", sut.command),
        ),
        (None, true, _) => CheckResult::pass(THROUGH_ENGINE_RAN, None),
        (None, false, exit) => {
            let code = exit.map_or("by a signal".to_string(), |c| format!("with code {c}"));
            CheckResult::fail(
                THROUGH_ENGINE_RAN,
                None,
                format!(
                    "{}: exited {code} before the case ended{}",
                    sut.command,
                    printed(&sut.output)
                ),
            )
        }
    }
}

/// Copies of one output: its distinct control IDs, plus every accepted arrival of a control ID
/// beyond the first (a resend after an AA is a duplicate even under the same MSH-10).
fn copies(seen: &ThroughObservation, arrivals: &[usize]) -> (usize, Vec<String>) {
    let mut ids: Vec<(String, usize)> = Vec::new();
    for &a in arrivals {
        let arrival = &seen.arrivals[a].arrival;
        let id = Message::parse(&arrival.payload)
            .ok()
            .and_then(|m| m.control_id().map(str::to_string))
            .unwrap_or_default();
        match ids.iter_mut().find(|(known, _)| *known == id) {
            Some((_, accepted)) => *accepted += usize::from(arrival.accepted),
            None => ids.push((id, usize::from(arrival.accepted))),
        }
    }
    let extra: usize = ids.iter().map(|(_, accepted)| accepted.saturating_sub(1)).sum();
    (ids.len() + extra, ids.into_iter().map(|(id, _)| id).collect())
}

fn delivered(
    expect: &ThroughExpectation,
    seen: &ThroughObservation,
    slots: &[Vec<Vec<usize>>],
) -> CheckResult {
    let mut problems = Vec::new();
    for (i, input) in slots.iter().enumerate() {
        for (o, arrivals) in input.iter().enumerate() {
            let want = expect.inputs[i].outputs[o].count.max(1);
            let name = output_name(expect, i, o);
            let (got, ids) = copies(seen, arrivals);
            // Arrived is not delivered: an arrival the destination did not answer (no ACK, a
            // close, a reset, an ACK with another MSA-2) left the engine not knowing, and only
            // a resend delivers it. A correct AE/AR is an answer: whether to send it again is
            // the engine's choice (HL7 v2.5.1 ch. 2, 2.9.2), so it counts as arrived.
            let answered = arrivals.iter().any(|&a| {
                let arrival = &seen.arrivals[a].arrival;
                arrival.accepted || arrival.rejected
            });
            if got == 0 {
                problems.push(format!("missing: {name} never arrived"));
            } else if !answered {
                // The same answer to every resend is shown once, with its count: an engine
                // that resends for the whole case would otherwise fill the evidence.
                let mut counted: Vec<(&str, usize)> = Vec::new();
                for &a in arrivals {
                    let answer = seen.arrivals[a].arrival.answer.as_str();
                    match counted.iter_mut().find(|(known, _)| *known == answer) {
                        Some((_, n)) => *n += 1,
                        None => counted.push((answer, 1)),
                    }
                }
                let answers: Vec<String> = counted
                    .into_iter()
                    .map(|(answer, n)| match n {
                        1 => answer.to_string(),
                        n => format!("{answer} ×{n}"),
                    })
                    .collect();
                problems.push(format!(
                    "missing: {name} arrived {} time(s), never acknowledged by the destination \
                     ({}), and was not sent again",
                    arrivals.len(),
                    answers.join(", ")
                ));
            } else if got > want {
                problems.push(format!(
                    "duplicated: {name} arrived as {got} copies (MSH-10 {}), expected {want}",
                    ids.join(", ")
                ));
            } else if got < want {
                problems.push(format!("missing: {name} arrived {got} of {want} times"));
            }
        }
    }
    verdict(THROUGH_DELIVERED, problems)
}

fn content(
    expect: &ThroughExpectation,
    seen: &ThroughObservation,
    slots: &[Vec<Vec<usize>>],
) -> CheckResult {
    let mut problems = Vec::new();
    for (i, input) in slots.iter().enumerate() {
        for (o, arrivals) in input.iter().enumerate() {
            let wanted = &expect.inputs[i].outputs[o];
            let mut judged: Vec<&[u8]> = Vec::new();
            for &a in arrivals {
                let payload = seen.arrivals[a].arrival.payload.as_slice();
                if judged.contains(&payload) {
                    continue;
                }
                judged.push(payload);
                let name = output_name(expect, i, o);
                for (path, pattern) in &wanted.patterns {
                    let value = text_at(payload, path).unwrap_or_default();
                    let matched = regex::Regex::new(&format!("^(?:{pattern})$"))
                        .is_ok_and(|re| re.is_match(&value));
                    if !matched {
                        problems
                            .push(format!("{name}: {path}: {value:?} does not match /{pattern}/"));
                    }
                }
                match differences(&wanted.message, payload, &wanted.compared_without()) {
                    None => problems.push(format!("{name}: not readable as HL7")),
                    Some(found) if found.is_empty() => {}
                    Some(found) => {
                        let mut shown: Vec<String> =
                            found.iter().take(SHOWN_DIFFERENCES).map(|d| d.to_string()).collect();
                        if found.len() > SHOWN_DIFFERENCES {
                            shown.push(format!("{} more", found.len() - SHOWN_DIFFERENCES));
                        }
                        problems.push(format!("{name}: {}", shown.join(", ")));
                    }
                }
            }
        }
    }
    verdict(THROUGH_CONTENT, problems)
}

fn unexpected(
    expect: &ThroughExpectation,
    seen: &ThroughObservation,
    matches: &[Match],
) -> CheckResult {
    let problems = matches
        .iter()
        .zip(&seen.arrivals)
        .filter_map(|(m, arrival)| match m {
            Match::Output { .. } => None,
            Match::Stray { input } => {
                let label = expect.inputs.get(*input).map_or("?", |p| p.label.as_str());
                let why = if expect.inputs.get(*input).is_some_and(|p| p.filtered) {
                    "filtered"
                } else {
                    "not expected there"
                };
                Some(format!("{} ({label}, {why})", arrival_name(arrival)))
            }
            Match::Unknown => Some(format!("{} (of no input)", arrival_name(arrival))),
        })
        .collect();
    verdict(THROUGH_UNEXPECTED, problems)
}

/// Per destination, the outputs by first arrival must follow the input order.
fn order(expect: &ThroughExpectation, slots: &[Vec<Vec<usize>>]) -> Option<CheckResult> {
    if expect.allow_reorder {
        return None;
    }
    let mut destinations: Vec<&str> = expect
        .inputs
        .iter()
        .flat_map(|p| p.outputs.iter().map(|o| o.destination.as_str()))
        .collect();
    destinations.sort_unstable();
    destinations.dedup();
    let mut judged = false;
    let mut problems = Vec::new();
    for destination in destinations {
        // (first arrival, input) of every output at this destination that arrived.
        let mut firsts: Vec<(usize, usize)> = Vec::new();
        let mut expected_here = 0;
        for (i, input) in slots.iter().enumerate() {
            for (o, arrivals) in input.iter().enumerate() {
                if expect.inputs[i].outputs[o].destination != destination {
                    continue;
                }
                expected_here += 1;
                if let Some(&first) = arrivals.first() {
                    firsts.push((first, i));
                }
            }
        }
        if expected_here < 2 {
            continue;
        }
        judged = true;
        firsts.sort_unstable();
        let got: Vec<&str> = firsts.iter().map(|&(_, i)| expect.inputs[i].label.as_str()).collect();
        if firsts.windows(2).any(|w| w[0].1 > w[1].1) {
            problems.push(format!("{destination} received {}", got.join(", ")));
        }
    }
    judged.then(|| verdict(THROUGH_ORDER, problems))
}

fn latency(
    expect: &ThroughExpectation,
    seen: &ThroughObservation,
    slots: &[Vec<Vec<usize>>],
) -> Option<CheckResult> {
    let mut judged = false;
    let mut problems = Vec::new();
    for (i, input) in slots.iter().enumerate() {
        for (o, arrivals) in input.iter().enumerate() {
            let Some(within) = expect.inputs[i].outputs[o].within else { continue };
            judged = true;
            let (Some(&first), Some(sent)) = (arrivals.first(), seen.inputs.get(i)) else {
                continue;
            };
            let took = seen.arrivals[first].arrival.received.saturating_sub(sent.sent);
            if took > within {
                problems.push(format!(
                    "{} took {} ms, allowed {} ms",
                    output_name(expect, i, o),
                    took.as_millis(),
                    within.as_millis()
                ));
            }
        }
    }
    judged.then(|| verdict(THROUGH_LATENCY, problems))
}

fn input_ack(
    expect: &ThroughExpectation,
    seen: &ThroughObservation,
    slots: &[Vec<Vec<usize>>],
    matches: &[Match],
) -> CheckResult {
    let mut problems = Vec::new();
    for (i, (plan, sent)) in expect.inputs.iter().zip(&seen.inputs).enumerate() {
        let answer = sent.ack.as_deref().and_then(ReceivedAck::parse);
        let Some(answer) = answer else {
            let why = sent.event.as_deref().unwrap_or("no acknowledgment");
            problems.push(format!("{}: the engine did not answer ({why})", plan.label));
            continue;
        };
        let arrived_somewhere = matches.iter().any(|m| match m {
            Match::Output { input, .. } | Match::Stray { input } => *input == i,
            Match::Unknown => false,
        });
        if answer.is_accept() {
            if plan.filtered {
                continue;
            }
            let missing: Vec<&str> = slots[i]
                .iter()
                .zip(&plan.outputs)
                .filter(|(arrivals, _)| arrivals.is_empty())
                .map(|(_, o)| o.destination.as_str())
                .collect();
            if !missing.is_empty() {
                problems.push(format!(
                    "{}: answered {}, then never delivered to {}",
                    plan.label,
                    answer.msa1,
                    missing.join(", ")
                ));
            }
        } else if arrived_somewhere {
            problems.push(format!(
                "{}: answered {} (refused), yet it came out of the engine",
                plan.label, answer.msa1
            ));
        }
    }
    verdict(THROUGH_INPUT_ACK, problems)
}

#[cfg(test)]
mod tests;
