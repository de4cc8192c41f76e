//! The through role's part of a case snapshot: every output message of the engine, so a
//! baseline records what the engine sent and a changed mapping shows up as a diff naming the
//! destination, the message and the field (issue 17, "baselines of outputs").
//!
//! Per input, in the order sent: the engine's ACK and each arrival the input gave, grouped by
//! destination and numbered per destination in arrival order (`portal #1`). Every message is
//! listed as its decoded values, one line per non-empty leaf (`portal #1  PID-5.1 = "Everyman"`),
//! with the paths `hl7::diff` gives them: the listing does not depend on the delimiters, the
//! escapes or the character set the engine wrote with, only on the values. Each line names its
//! message, so a diff line alone says where it is. Redacted: MSH-7 and MSH-10 of every output
//! and ACK, the `ignore:` and `matches:` paths of the outputs expected at that destination
//! (they change from run to run by design), and in every value what the case snapshot redacts
//! (the harness's control ids, host and port, durations). Nothing here depends on timing but
//! the order of arrivals at one destination, which is the engine's to keep.

use super::snapshot::Redactor;
use crate::checks::OutputRedaction;
use crate::hl7::{diff, Message, Path};
use crate::observation::ThroughObservation;
use std::collections::{BTreeMap, HashSet};
use std::fmt::Write;

/// What replaces a value that changes from run to run by design.
const REDACTED: &str = "[redacted]";

/// An MSH with nothing but its delimiters: diffing a message against it lists every value
/// of the message, with the paths a diff names them by.
const EMPTY: &[u8] = b"MSH|^~\\&";

/// Paths that are never compared: the delimiters themselves (an engine may write other ones).
const DELIMITERS: [&str; 2] = ["MSH-1", "MSH-2"];
/// Paths every output and ACK has its own of: the time it was made and its control id.
const GENERATED: [&str; 2] = ["MSH-7", "MSH-10"];

fn paths(texts: &[&str]) -> Vec<Path> {
    texts.iter().filter_map(|t| Path::parse(t).ok()).collect()
}

/// Every non-empty value of `payload` as `PATH = "decoded"`, prefixed by `label`; values at
/// `volatile` paths (and below) as `[redacted]`. A payload that is not HL7 is one line.
fn listing(out: &mut String, label: &str, payload: &[u8], volatile: &[Path], redactor: &Redactor) {
    let message = match Message::parse(payload) {
        Ok(message) => message,
        Err(err) => {
            let shown: String = String::from_utf8_lossy(payload).chars().take(200).collect();
            let shown = redactor.apply(&shown);
            let _ = writeln!(out, "  {label}  not HL7 ({}): {shown:?}", err.code());
            return;
        }
    };
    let Ok(empty) = Message::parse(EMPTY) else { return };
    let delimiters = paths(&DELIMITERS);
    let mut hidden: Vec<Path> = delimiters.clone();
    hidden.extend(paths(&GENERATED));
    hidden.extend(volatile.iter().cloned());
    // The leaves left when the volatile paths are ignored too; the others are redacted.
    let mut kept: HashSet<String> = HashSet::new();
    diff::diff_each(&empty, &message, &hidden, &mut |d| {
        kept.insert(d.path);
    });
    diff::diff_each(&empty, &message, &delimiters, &mut |d| {
        let value = match (&d.right, kept.contains(&d.path)) {
            (Some(shown), true) => redactor.apply(&shown.to_string()),
            (Some(_), false) => REDACTED.to_string(),
            (None, _) => return,
        };
        let _ = writeln!(out, "  {label}  {} = {value}", d.path);
    });
}

/// The decoded text at `path` of `payload`, when it parses and the path is valued.
fn text_at(payload: &[u8], path: &Path) -> Option<String> {
    let message = Message::parse(payload).ok()?;
    let value = message.get(path)?;
    Some(message.text(&value).into_owned())
}

/// `ADT^A01^ADT_A01 [sent-1]`: what an input was, by its MSH-9 and (redacted) control id.
fn described(payload: &[u8], redactor: &Redactor) -> String {
    match Message::parse(payload) {
        Ok(message) => {
            let kind = message
                .header()
                .field(9)
                .map(|v| message.text(&v).into_owned())
                .unwrap_or_default();
            redactor.apply(&format!("{kind} {}", message.control_id().unwrap_or("")))
        }
        Err(err) => format!("not HL7 ({})", err.code()),
    }
}

/// The input each arrival belongs to, by the case's key (MSH-10 when `None`): the first input
/// whose key value it carries; `None` for an arrival of no input. One entry per arrival.
pub(super) fn owners(seen: &ThroughObservation, key: Option<&Path>) -> Vec<Option<usize>> {
    let msh10 = Path::parse("MSH-10").ok();
    let Some(key) = key.or(msh10.as_ref()) else { return vec![None; seen.arrivals.len()] };
    let keys: Vec<Option<String>> = seen.inputs.iter().map(|i| text_at(&i.payload, key)).collect();
    seen.arrivals
        .iter()
        .map(|arrival| {
            let own = text_at(&arrival.arrival.payload, key)?;
            keys.iter().position(|k| k.as_deref() == Some(own.as_str()))
        })
        .collect()
}

/// The through section of a case's transcript: per input its ACK and its outputs, then the
/// outputs of no input. `redaction` is `None` for a case judged without a plan (a report
/// from before it was kept): then only the generated header fields are redacted.
pub(super) fn section(
    out: &mut String,
    redactor: &Redactor,
    seen: &ThroughObservation,
    redaction: Option<&OutputRedaction>,
) {
    let owned = owners(seen, redaction.map(|r| &r.key));
    // (input it belongs to, destination, number at that destination, arrival index).
    let mut numbered: BTreeMap<&str, usize> = BTreeMap::new();
    let mut arrivals: Vec<(Option<usize>, &str, usize, usize)> = Vec::new();
    for (a, arrival) in seen.arrivals.iter().enumerate() {
        let number = numbered.entry(arrival.destination.as_str()).or_default();
        *number += 1;
        arrivals.push((owned[a], arrival.destination.as_str(), *number, a));
    }
    // Grouped by destination, then in arrival order there: how the arrivals at two
    // destinations interleave is timing, not output.
    arrivals.sort_by_key(|&(input, to, number, _)| (input.is_none(), input, to, number));
    let none: Vec<Path> = Vec::new();
    let volatile = |to: &str| {
        redaction.and_then(|r| r.volatile.get(to)).map_or(none.as_slice(), Vec::as_slice)
    };
    let outputs = |out: &mut String, of: Option<usize>| {
        for &(_, to, number, a) in arrivals.iter().filter(|(input, ..)| *input == of) {
            let arrival = &seen.arrivals[a].arrival;
            let label = format!("{to} #{number}");
            let _ = writeln!(out, "  {label} answered {}", redactor.apply(&arrival.answer));
            for (code, _) in &arrival.notes {
                let _ = writeln!(out, "  {label} framing note: {code}");
            }
            listing(out, &label, &arrival.payload, volatile(to), redactor);
        }
    };
    for (i, input) in seen.inputs.iter().enumerate() {
        let _ = writeln!(out, "{}: {}", input.label, described(&input.payload, redactor));
        match (&input.ack, &input.event) {
            (Some(ack), _) => listing(out, "ACK", ack, &[], redactor),
            (None, Some(event)) => {
                let _ = writeln!(out, "  ACK none: {}", redactor.apply(event));
            }
            (None, None) => out.push_str("  ACK none\n"),
        }
        if arrivals.iter().any(|(input, ..)| *input == Some(i)) {
            outputs(out, Some(i));
        } else {
            out.push_str("  delivered nowhere\n");
        }
    }
    if arrivals.iter().any(|(input, ..)| input.is_none()) {
        out.push_str("outputs of no input:\n");
        outputs(out, None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observation::{Arrival, ThroughArrival, ThroughInput};
    use std::time::Duration;

    const INPUT: &str = "MSH|^~\\&|EHR|HOSP|ENGINE|HUB|20240101120000||ADT^A01^ADT_A01|T1234560101|P|2.5\rPID|1||P1^^^HOSP||Everyman^Adam||19800101|M\rPV1|1|I\r";
    const FILTERED: &str = "MSH|^~\\&|EHR|HOSP|ENGINE|HUB|20240101120000||ADT^A28^ADT_A05|T1234560102|P|2.5\rPID|1||P2\r";

    fn ack(id: &str, when: &str) -> Vec<u8> {
        format!("MSH|^~\\&|ENGINE|HUB|EHR|HOSP|{when}||ACK^A01^ACK|E{when}|P|2.5\rMSA|AA|{id}\r")
            .into_bytes()
    }

    fn arrival(to: &str, payload: &str, received: u64) -> ThroughArrival {
        let mut arrival = Arrival::unanswered(
            1,
            payload.as_bytes().to_vec(),
            Vec::new(),
            Duration::from_millis(received),
        );
        arrival.answer = "AA".into();
        arrival.accepted = true;
        ThroughArrival { destination: to.into(), arrival }
    }

    /// The engine's outputs of one run: `register` gets the input mapped (MSH-5, PV1-2, a
    /// generated id in PID-2), the portal gets it with MSH-5 and other delimiters; the second
    /// input is filtered; `when` and `generated` are what differs between two runs.
    fn observation(when: &str, generated: &str, portal_first: bool) -> ThroughObservation {
        let register = format!(
            "MSH|^~\\&|EHR|HOSP|REGISTER|HUB|{when}||ADT^A01^ADT_A01|T1234560101|P|2.5\rPID|1|{generated}|P1^^^HOSP||Everyman^Adam||19800101|M\rPV1|1|INPATIENT\r"
        );
        let portal = format!(
            "MSH#*~\\&#EHR#HOSP#PORTAL#HUB#{when}##ADT*A01*ADT_A01#E{when}.1#P#2.5\rPID#1##P1***HOSP##Everyman*Adam##19800101#M\rPV1#1#I\r"
        );
        let mut arrivals = vec![arrival("register", &register, 10), arrival("portal", &portal, 20)];
        if portal_first {
            arrivals.reverse();
        }
        ThroughObservation {
            reads: Vec::new(),
            inputs: vec![
                ThroughInput {
                    label: "input 1 (admit)".into(),
                    payload: INPUT.as_bytes().to_vec(),
                    sent: Duration::from_millis(1),
                    ack: Some(ack("T1234560101", when)),
                    event: None,
                },
                ThroughInput {
                    label: "input 2 (demographics)".into(),
                    payload: FILTERED.as_bytes().to_vec(),
                    sent: Duration::from_millis(2),
                    ack: Some(ack("T1234560102", when)),
                    event: None,
                },
            ],
            arrivals,
        }
    }

    fn redaction() -> OutputRedaction {
        let mut volatile = BTreeMap::new();
        volatile.insert("register".to_string(), paths(&["PID-2"]));
        OutputRedaction { key: Path::parse("PID-3.1").unwrap(), volatile }
    }

    fn render(seen: &ThroughObservation) -> String {
        let redactor = Redactor::with(&[("T1234560101", "[sent-1]"), ("T1234560102", "[sent-2]")]);
        let mut out = String::new();
        section(&mut out, &redactor, seen, Some(&redaction()));
        out
    }

    #[test]
    fn every_output_field_by_field() {
        insta::assert_snapshot!("through-outputs", render(&observation("20260101", "G1", false)));
    }

    /// Timestamps, generated control ids, the `ignore:`d PID-2 and the interleaving of two
    /// destinations change from run to run; the text does not.
    #[test]
    fn what_changes_by_design_does_not_change_the_text() {
        let first = render(&observation("20260101", "G1", false));
        assert_eq!(first, render(&observation("20270202", "G2", true)));
    }

    /// A changed mapping changes exactly the line of that destination, message and field.
    #[test]
    fn a_changed_mapping_changes_one_line_naming_it() {
        let before = render(&observation("20260101", "G1", false));
        let mut changed = observation("20260101", "G1", false);
        let register = &mut changed.arrivals[0].arrival.payload;
        *register = String::from_utf8_lossy(register).replace("INPATIENT", "IN").into_bytes();
        let after = render(&changed);
        let lines = |text: &str| text.lines().map(str::to_string).collect::<HashSet<_>>();
        let (old, new) = (lines(&before), lines(&after));
        assert_eq!(
            old.difference(&new).collect::<Vec<_>>(),
            [&"  register #1  PV1-2 = \"INPATIENT\"".to_string()]
        );
        assert_eq!(
            new.difference(&old).collect::<Vec<_>>(),
            [&"  register #1  PV1-2 = \"IN\"".to_string()]
        );
    }

    /// A dropped segment removes its lines; an output that is not HL7 is one line.
    #[test]
    fn a_dropped_segment_and_bytes_that_are_not_hl7() {
        let mut changed = observation("20260101", "G1", false);
        let portal = &mut changed.arrivals[1].arrival.payload;
        let text = String::from_utf8_lossy(portal).into_owned();
        *portal = text.split_inclusive('\r').take(2).collect::<String>().into_bytes();
        let after = render(&changed);
        assert!(!after.contains("portal #1  PV1"), "{after}");
        assert!(after.contains("register #1  PV1-2"), "{after}");
        changed.arrivals[1].arrival.payload = b"garbage 127.0.0.1:4040".to_vec();
        let after = render(&changed);
        assert!(after.contains("  portal #1  not HL7 ("), "{after}");
        assert!(after.contains("[host:port]"), "{after}");
    }
}
