//! `--redact-phi`: patient data in PID, NK1 and PV1 replaced by stable placeholders before any
//! report is written, so no output file carries it.
//!
//! Redacted, by field (HL7 v2.5.1 ch. 3): identifiers — the ID number (first component) of
//! PID-2, PID-3, PID-4, PID-18, PID-19, PID-20, PID-21, NK1-12, NK1-33, PV1-19, PV1-50 and of the
//! doctors PV1-7, PV1-8, PV1-9, PV1-17 → `[id-N]`; names — family, given and middle name of
//! PID-5, PID-6, PID-9, NK1-2, NK1-30 and of those doctors → `[name-N]`; PID-7 birth date →
//! `[dob-N]`; street, other designation and city of PID-11 and NK1-4 → `[address-N]`; the
//! telephone fields PID-13, PID-14, NK1-5, NK1-6 (whole repetitions) → `[phone-N]`. Every
//! repetition is redacted. N counts distinct values in order of appearance, so within one run
//! the same value always gets the same placeholder and a reader can still see that two messages
//! were about the same patient. The values found are then also replaced wherever else they
//! appear in the outcome (evidence, probe results, other segments of the messages), longest
//! first; values shorter than three characters are only redacted in the fields above, where
//! their position says what they are.

use crate::runner::observation::Reply;
use crate::runner::RunOutcome;
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Id,
    Name,
    BirthDate,
    Address,
    Phone,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Id => "id",
            Kind::Name => "name",
            Kind::BirthDate => "dob",
            Kind::Address => "address",
            Kind::Phone => "phone",
        }
    }
}

/// What to redact in a field: `(kind, components (1-based); empty = the whole repetition)`.
type Rule = &'static [(Kind, &'static [usize])];

const CX: Rule = &[(Kind::Id, &[1])];
const XPN: Rule = &[(Kind::Name, &[1, 2, 3])];
/// XCN: ID number, family, given, middle.
const XCN: Rule = &[(Kind::Id, &[1]), (Kind::Name, &[2, 3, 4])];
const XAD: Rule = &[(Kind::Address, &[1, 2, 3])];
const XTN: Rule = &[(Kind::Phone, &[])];
const DOB: Rule = &[(Kind::BirthDate, &[])];

fn rule(segment: &[u8], field: usize) -> Option<Rule> {
    Some(match (segment, field) {
        (b"PID", 2 | 3 | 4 | 18 | 19 | 20 | 21) => CX,
        (b"PID", 5 | 6 | 9) => XPN,
        (b"PID", 7) => DOB,
        (b"PID", 11) => XAD,
        (b"PID", 13 | 14) => XTN,
        (b"NK1", 2 | 30) => XPN,
        (b"NK1", 4) => XAD,
        (b"NK1", 5 | 6) => XTN,
        (b"NK1", 12 | 33) => CX,
        (b"PV1", 19 | 50) => CX,
        (b"PV1", 7 | 8 | 9 | 17) => XCN,
        _ => return None,
    })
}

/// The placeholders of one run.
#[derive(Debug, Default)]
pub struct Redactor {
    placeholders: HashMap<Vec<u8>, String>,
    counts: HashMap<&'static str, usize>,
    /// In order of first appearance.
    found: Vec<(Vec<u8>, String)>,
}

impl Redactor {
    fn placeholder(&mut self, kind: Kind, value: &[u8]) -> String {
        if let Some(known) = self.placeholders.get(value) {
            return known.clone();
        }
        let count = self.counts.entry(kind.label()).or_default();
        *count += 1;
        let placeholder = format!("[{}-{count}]", kind.label());
        self.placeholders.insert(value.to_vec(), placeholder.clone());
        self.found.push((value.to_vec(), placeholder.clone()));
        placeholder
    }

    /// `message` with the PHI of its PID, NK1 and PV1 segments replaced. Delimiters come from
    /// MSH-1 and MSH-2 (segments end in CR; LF is tolerated as well).
    pub fn message(&mut self, message: &[u8]) -> Vec<u8> {
        let Some(start) = message.windows(3).position(|w| w == b"MSH") else {
            return message.to_vec();
        };
        let header = &message[start..];
        let (Some(&field_sep), Some(&component_sep)) = (header.get(3), header.get(4)) else {
            return message.to_vec();
        };
        let repetition_sep = header.get(5).copied().unwrap_or(b'~');
        let mut out = Vec::with_capacity(message.len());
        let mut offset = 0;
        for (i, segment) in message.split(|&b| b == b'\r' || b == b'\n').enumerate() {
            if i > 0 {
                // Keep the exact terminator byte.
                out.push(message[offset - 1]);
            }
            offset += segment.len() + 1;
            let id = segment.get(..3).unwrap_or(segment);
            let fields: Vec<&[u8]> = segment.split(|&b| b == field_sep).collect();
            let mut redacted: Vec<Vec<u8>> = Vec::with_capacity(fields.len());
            for (n, field) in fields.iter().enumerate() {
                match rule(id, n) {
                    Some(rule) if n > 0 => {
                        let repetitions: Vec<Vec<u8>> = field
                            .split(|&b| b == repetition_sep)
                            .map(|rep| self.repetition(rep, rule, component_sep))
                            .collect();
                        redacted.push(repetitions.join(&repetition_sep));
                    }
                    _ => redacted.push(field.to_vec()),
                }
            }
            out.extend(redacted.join(&field_sep));
        }
        out
    }

    fn repetition(&mut self, repetition: &[u8], rule: Rule, component_sep: u8) -> Vec<u8> {
        let mut components: Vec<Vec<u8>> =
            repetition.split(|&b| b == component_sep).map(<[u8]>::to_vec).collect();
        for (kind, which) in rule {
            if which.is_empty() {
                if repetition.is_empty() || repetition == b"\"\"" {
                    return repetition.to_vec();
                }
                return self.placeholder(*kind, repetition).into_bytes();
            }
            for &c in *which {
                if let Some(component) = components.get_mut(c - 1) {
                    if !component.is_empty() && component.as_slice() != b"\"\"" {
                        *component = self.placeholder(*kind, component).into_bytes();
                    }
                }
            }
        }
        components.join(&component_sep)
    }

    /// `text` with every value found so far (three characters or longer) replaced.
    pub fn text(&self, text: &str) -> String {
        let mut values: Vec<(String, &String)> = self
            .found
            .iter()
            .filter(|(value, _)| value.len() >= 3)
            .map(|(value, placeholder)| (String::from_utf8_lossy(value).into_owned(), placeholder))
            .collect();
        values.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        let mut out = text.to_string();
        for (value, placeholder) in values {
            out = out.replace(&value, placeholder);
        }
        out
    }

    /// [`Redactor::text`] on bytes that are UTF-8 (others keep their field-by-field redaction).
    fn bytes(&self, bytes: &mut Vec<u8>) {
        if let Ok(text) = std::str::from_utf8(bytes) {
            *bytes = self.text(text).into_bytes();
        }
    }

    fn reply(&mut self, reply: &mut Reply) {
        reply.payload = self.message(&reply.payload);
    }
}

/// `outcome` with its PHI replaced (see the module docs): messages first, field by field, so
/// every value is known, then the free text.
pub fn redact(outcome: &RunOutcome) -> RunOutcome {
    let mut redactor = Redactor::default();
    let mut outcome = outcome.clone();
    for case in outcome.packs.iter_mut().flat_map(|p| p.cases.iter_mut()) {
        let observation = &mut case.observation;
        for exchange in &mut observation.exchanges {
            if !exchange.raw {
                exchange.sent = redactor.message(&exchange.sent);
            }
            exchange.replies.iter_mut().for_each(|r| redactor.reply(r));
        }
        observation.stray.iter_mut().for_each(|r| redactor.reply(r));
    }
    for case in outcome.packs.iter_mut().flat_map(|p| p.cases.iter_mut()) {
        for result in &mut case.results {
            result.evidence = redactor.text(&result.evidence);
        }
        for probe in &mut case.observation.probes {
            probe.what = redactor.text(&probe.what);
            probe.failure = probe.failure.as_deref().map(|f| redactor.text(f));
        }
        for reply in &mut case.observation.stray {
            redactor.bytes(&mut reply.payload);
        }
        if let Some(aborted) = &mut case.observation.aborted {
            aborted.detail = redactor.text(&aborted.detail);
        }
        for exchange in &mut case.observation.exchanges {
            if let Some(event) = &mut exchange.event {
                event.detail = redactor.text(&event.detail);
            }
            // The same values elsewhere in the messages (ROL, OBX, Z-segments, raw frames).
            redactor.bytes(&mut exchange.sent);
            for reply in &mut exchange.replies {
                redactor.bytes(&mut reply.payload);
            }
        }
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: &str) {
        let mut redactor = Redactor::default();
        let out = redactor.message(input.as_bytes());
        assert_eq!(String::from_utf8(out).unwrap(), expected);
    }

    #[test]
    fn pid_names_and_identifiers() {
        check(
            "MSH|^~\\&|A|B|C|D|20240101||ADT^A04|1|P|2.5\rPID|1||CL-1^^^EHR^PI~X9^^^H||Doe^Jane^Q^^Dr||19800101|F|||1 Main St^^Town^^12345\r",
            "MSH|^~\\&|A|B|C|D|20240101||ADT^A04|1|P|2.5\rPID|1||[id-1]^^^EHR^PI~[id-2]^^^H||[name-1]^[name-2]^[name-3]^^Dr||[dob-1]|F|||[address-1]^^[address-2]^^12345\r",
        );
    }

    #[test]
    fn same_value_same_placeholder_and_custom_delimiters() {
        check(
            "MSH#$~\\&#A\nPID#1##P1$$$H##Doe$Ann\nNK1#1#Doe$Bob\nPV1#1#O#####D7$Who$Al############V1\n",
            "MSH#$~\\&#A\nPID#1##[id-1]$$$H##[name-1]$[name-2]\nNK1#1#[name-1]$[name-3]\nPV1#1#O#####[id-2]$[name-4]$[name-5]############[id-3]\n",
        );
    }

    #[test]
    fn free_text_uses_the_values_found() {
        let mut redactor = Redactor::default();
        redactor.message(b"MSH|^~\\&|A\rPID|1||CL-10003||Voorbeeld^Daan\r");
        assert_eq!(
            redactor.text("PID-5.1 \"Voorbeeld\" for CL-10003 (M)"),
            "PID-5.1 \"[name-1]\" for [id-1] (M)"
        );
    }

    #[test]
    fn not_hl7_is_left_alone() {
        check("this is not an HL7 message", "this is not an HL7 message");
    }
}
