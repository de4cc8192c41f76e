//! `--redact-phi`: patient and provider identifiers and names replaced by stable placeholders
//! before any report is written, so no output file, and no file name, carries them.
//!
//! Redacted, by field (HL7 v2.5.1 chapters 3, 6, 7, 8 and 15; every repetition):
//! - identifiers, the ID number (first component of CX, XCN, CE, PI, DLN) → `[id-N]`: PID-2,
//!   PID-3, PID-4, PID-18, PID-19, PID-20, PID-21; NK1-12, NK1-33, NK1-37; PV1-19, PV1-50; MRG-1
//!   to MRG-6 (the prior identifiers of a merge); STF-1, MFE-4 and PRA-1 (the staff member's
//!   key in a master file update, its text component too, which is the person's name), STF-2;
//!   GT1-2, GT1-12; IN1-36, IN1-49; PRD-7;
//! - names, family, given and second names (XPN components 1–3) → `[name-N]`: PID-5, PID-6,
//!   PID-9; NK1-2, NK1-30; MRG-7; STF-3; GT1-3, GT1-4; IN1-16; PRD-2; CTD-2;
//! - persons as XCN (ID number, family, given, second names: components 1–4): PV1-7, PV1-8,
//!   PV1-9, PV1-17, PV1-52, PV2-13, PD1-4, ROL-4 (the role person, e.g. a provider), EVN-5,
//!   ORC-10, ORC-11, ORC-12, ORC-19, OBR-10, OBR-16, OBR-28, OBX-16, TXA-5, TXA-9, TXA-10,
//!   TXA-22, AIP-3, SCH-12, SCH-16, SCH-20, DG1-16, PR1-8, PR1-11, PR1-12;
//! - birth dates (whole field) → `[dob-N]`: PID-7, PID-29 (death), NK1-16, STF-6, GT1-8,
//!   IN1-18;
//! - addresses (street, other designation, city: XAD components 1–3) → `[address-N]`: PID-11,
//!   NK1-4, NK1-32, STF-11, GT1-5, IN1-19, ROL-11, PRD-3, CTD-3;
//! - telephone and e-mail (whole repetitions) → `[phone-N]`: PID-13, PID-14, NK1-5, NK1-6,
//!   NK1-31, STF-10, STF-15, GT1-6, GT1-7, ROL-12, PRD-5, CTD-5.
//!
//! N counts distinct values in order of appearance, so within one run the same value always
//! gets the same placeholder and a reader can still see that two messages were about the same
//! patient. Every message of the outcome is redacted field by field (sent, answered, stray,
//! canaries, and what a sender under test delivered), so every value is known; then each value
//! is replaced wherever else it appears, longest first: in its raw form, decoded per MSH-18 and
//! with its escape sequences resolved (so `Smith\F\Jones` is also found as `Smith|Jones`), and
//! each of its subcomponents. That covers evidence, probes, transport details, the output of a
//! sender under test, and case names, which a `vary: { values: … }` makes from the values
//! themselves (`… [PID-5.1=Doe]`): case names give the report's file names (snapshots) and the
//! names in junit.xml, summary.md, report.html, results.json and manifest.json; a `vary:` value
//! of one of the fields above is redacted even when it could not be written into the message
//! (the error that says so would name it). Values shorter
//! than three characters are replaced in the fields above, where their position says what they
//! are, and in a case name's `[FIELD=value]`, but not in other free text. A `reproduce:` line
//! filters on the case name up to its first placeholder (the values are gone, so the filter
//! matches every variant of the case).

use crate::hl7::charset::{decode, Charset};
use crate::hl7::delimiters::Delimiters;
use crate::hl7::escape::unescape;
use crate::observation::Reply;
use crate::runner::RunOutcome;
use std::collections::{HashMap, HashSet};

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

/// CX, CE, PI, DLN and the like: the identifier is the first component.
const CX: Rule = &[(Kind::Id, &[1])];
/// A staff member's key (CE/CWE): the identifier and its text, which is the person's name.
const STAFF_KEY: Rule = &[(Kind::Id, &[1]), (Kind::Name, &[2])];
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
        (b"PID", 7 | 29) => DOB,
        (b"PID", 11) => XAD,
        (b"PID", 13 | 14) => XTN,
        (b"PD1", 4) => XCN,
        (b"NK1", 2 | 30) => XPN,
        (b"NK1", 4 | 32) => XAD,
        (b"NK1", 5 | 6 | 31) => XTN,
        (b"NK1", 12 | 33 | 37) => CX,
        (b"NK1", 16) => DOB,
        (b"PV1", 19 | 50) => CX,
        (b"PV1", 7 | 8 | 9 | 17 | 52) => XCN,
        (b"PV2", 13) => XCN,
        (b"MRG", 1..=6) => CX,
        (b"MRG", 7) => XPN,
        (b"ROL", 4) => XCN,
        (b"ROL", 11) => XAD,
        (b"ROL", 12) => XTN,
        (b"EVN", 5) => XCN,
        (b"STF", 1) | (b"MFE", 4) | (b"PRA", 1) => STAFF_KEY,
        (b"STF", 2) => CX,
        (b"STF", 3) => XPN,
        (b"STF", 6) => DOB,
        (b"STF", 10 | 15) => XTN,
        (b"STF", 11) => XAD,
        (b"GT1", 2 | 12) => CX,
        (b"GT1", 3 | 4) => XPN,
        (b"GT1", 5) => XAD,
        (b"GT1", 6 | 7) => XTN,
        (b"GT1", 8) => DOB,
        (b"IN1", 16) => XPN,
        (b"IN1", 18) => DOB,
        (b"IN1", 19) => XAD,
        (b"IN1", 36 | 49) => CX,
        (b"ORC", 10 | 11 | 12 | 19) => XCN,
        (b"OBR", 10 | 16 | 28) => XCN,
        (b"OBX", 16) => XCN,
        (b"TXA", 5 | 9 | 10 | 22) => XCN,
        (b"AIP", 3) => XCN,
        (b"SCH", 12 | 16 | 20) => XCN,
        (b"DG1", 16) => XCN,
        (b"PR1", 8 | 11 | 12) => XCN,
        (b"PRD" | b"CTD", 2) => XPN,
        (b"PRD" | b"CTD", 3) => XAD,
        (b"PRD" | b"CTD", 5) => XTN,
        (b"PRD", 7) => CX,
        _ => return None,
    })
}

/// How the message being redacted writes its values: its delimiters (MSH-1, MSH-2) and
/// character set (MSH-18).
#[derive(Debug, Clone, Copy)]
struct Encoding {
    delimiters: Delimiters,
    charset: Charset,
}

/// The placeholders of one run.
#[derive(Debug, Default)]
pub struct Redactor {
    placeholders: HashMap<Vec<u8>, String>,
    counts: HashMap<&'static str, usize>,
    /// Every text form of every value found (raw, decoded, unescaped, subcomponents), with
    /// its placeholder, in order of first appearance.
    texts: Vec<(String, String)>,
    seen: HashSet<String>,
    /// The raw bytes of every value found, for bytes that are not UTF-8 (e.g. ISO 8859-1).
    raw: Vec<(Vec<u8>, String)>,
}

impl Redactor {
    fn placeholder(&mut self, kind: Kind, value: &[u8], encoding: Encoding) -> String {
        let placeholder = match self.placeholders.get(value) {
            Some(known) => known.clone(),
            None => {
                let count = self.counts.entry(kind.label()).or_default();
                *count += 1;
                let placeholder = format!("[{}-{count}]", kind.label());
                self.placeholders.insert(value.to_vec(), placeholder.clone());
                placeholder
            }
        };
        self.remember(value, &placeholder, encoding);
        placeholder
    }

    /// Records the text forms `value` may take outside its field.
    fn remember(&mut self, value: &[u8], placeholder: &str, encoding: Encoding) {
        let mut parts = vec![value];
        if let Some(sub) = encoding.delimiters.subcomponent {
            let subs: Vec<&[u8]> = value.split(|&b| b == sub).collect();
            if subs.len() > 1 {
                parts.extend(subs);
            }
        }
        for part in &parts {
            if !self.raw.iter().any(|(known, _)| known == part) {
                self.raw.push((part.to_vec(), placeholder.to_string()));
            }
        }
        for part in parts {
            let unescaped = unescape(part, &encoding.delimiters).bytes;
            let forms = [
                String::from_utf8_lossy(part).into_owned(),
                decode(part, encoding.charset).into_owned(),
                decode(&unescaped, encoding.charset).into_owned(),
            ];
            for form in forms {
                if !form.is_empty() && form != "\"\"" && self.seen.insert(form.clone()) {
                    self.texts.push((form, placeholder.to_string()));
                }
            }
        }
    }

    /// `message` with the PHI of the fields above replaced. Delimiters come from MSH-1 and
    /// MSH-2, the character set from MSH-18 (segments end in CR; LF is tolerated as well).
    pub fn message(&mut self, message: &[u8]) -> Vec<u8> {
        let Some(start) = message.windows(3).position(|w| w == b"MSH") else {
            return message.to_vec();
        };
        let header = &message[start..];
        let (Some(&field_sep), Some(&component_sep)) = (header.get(3), header.get(4)) else {
            return message.to_vec();
        };
        let repetition_sep = header.get(5).copied().unwrap_or(b'~');
        let special = |i: usize| header.get(i).copied().filter(|&b| b != field_sep);
        let delimiters = Delimiters {
            field: field_sep,
            component: component_sep,
            repetition: repetition_sep,
            escape: special(6),
            subcomponent: special(7),
            truncation: None,
        };
        let msh18 = header
            .split(|&b| b == b'\r' || b == b'\n')
            .next()
            .and_then(|msh| msh.split(|&b| b == field_sep).nth(17))
            .and_then(|field| field.split(|&b| b == repetition_sep).next())
            .unwrap_or_default();
        let charset = Charset::from_msh18(msh18).unwrap_or(Charset::Ascii);
        let encoding = Encoding { delimiters, charset };
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
                            .map(|rep| self.repetition(rep, rule, encoding))
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

    fn repetition(&mut self, repetition: &[u8], rule: Rule, encoding: Encoding) -> Vec<u8> {
        let component_sep = encoding.delimiters.component;
        let mut components: Vec<Vec<u8>> =
            repetition.split(|&b| b == component_sep).map(<[u8]>::to_vec).collect();
        for (kind, which) in rule {
            if which.is_empty() {
                if repetition.is_empty() || repetition == b"\"\"" {
                    return repetition.to_vec();
                }
                return self.placeholder(*kind, repetition, encoding).into_bytes();
            }
            for &c in *which {
                if let Some(component) = components.get_mut(c - 1) {
                    if !component.is_empty() && component.as_slice() != b"\"\"" {
                        *component = self.placeholder(*kind, component, encoding).into_bytes();
                    }
                }
            }
        }
        components.join(&component_sep)
    }

    /// `text` with every value found so far (three characters or longer) replaced.
    pub fn text(&self, text: &str) -> String {
        let mut values: Vec<&(String, String)> =
            self.texts.iter().filter(|(value, _)| value.chars().count() >= 3).collect();
        values.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        let mut out = text.to_string();
        for (value, placeholder) in values {
            if out.contains(value.as_str()) {
                out = out.replace(value.as_str(), placeholder);
            }
        }
        out
    }

    /// A case name: a `vary:` value (`… [PID-5.1=Li]`) is replaced whatever its length, then
    /// [`Redactor::text`].
    pub fn case_name(&self, name: &str) -> String {
        let mut out = name.to_string();
        for (value, placeholder) in &self.texts {
            let written = format!("={value}]");
            if out.contains(&written) {
                out = out.replace(&written, &format!("={placeholder}]"));
            }
        }
        self.text(&out)
    }

    /// [`Redactor::text`] on bytes that are UTF-8; other bytes get the raw values (three bytes
    /// or longer) replaced, byte for byte.
    fn bytes(&self, bytes: &mut Vec<u8>) {
        if let Ok(text) = std::str::from_utf8(bytes) {
            *bytes = self.text(text).into_bytes();
            return;
        }
        let mut values: Vec<&(Vec<u8>, String)> =
            self.raw.iter().filter(|(value, _)| value.len() >= 3).collect();
        values.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        for (value, placeholder) in values {
            *bytes = replace_bytes(bytes, value, placeholder.as_bytes());
        }
    }

    fn reply(&mut self, reply: &mut Reply) {
        reply.payload = self.message(&reply.payload);
    }

    /// The start of a redacted case name, up to its first placeholder: what a `--filter` can
    /// still match.
    fn filter_prefix(&self, redacted: &str) -> String {
        let cut = self
            .texts
            .iter()
            .filter_map(|(_, placeholder)| redacted.find(placeholder.as_str()))
            .min()
            .unwrap_or(redacted.len());
        let prefix = redacted[..cut].trim_end();
        prefix.strip_suffix('=').map_or(prefix, |p| p).to_string()
    }
}

/// `haystack` with every non-overlapping `needle` replaced by `with`.
fn replace_bytes(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut rest = haystack;
    while let Some(at) = rest.windows(needle.len()).position(|w| w == needle) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(with);
        rest = &rest[at + needle.len()..];
    }
    out.extend_from_slice(rest);
    out
}

impl Redactor {
    /// A `vary:` value written into `path` (e.g. `PID-5.1`, `ROL-4.1`), when that field and
    /// component are patient data: known even if it never reached a message (a value the
    /// message's character set cannot hold fails the case, and the error names it).
    fn vary(&mut self, path: &str, value: &str) {
        let Ok(path) = crate::hl7::Path::parse(path) else { return };
        let Some(rule) = path.field.and_then(|f| rule(path.segment_id().as_bytes(), f)) else {
            return;
        };
        let kind = rule
            .iter()
            .find(|(_, components)| {
                components.is_empty() || path.component.is_none_or(|c| components.contains(&c))
            })
            .map(|(kind, _)| *kind);
        if let Some(kind) = kind.filter(|_| !value.is_empty()) {
            let encoding =
                Encoding { delimiters: Delimiters::default(), charset: Charset::UnicodeUtf8 };
            self.placeholder(kind, value.as_bytes(), encoding);
        }
    }
}

/// `outcome` with its PHI replaced (see the module docs): messages first, field by field, so
/// every value is known, then the free text and the case names.
pub fn redact(outcome: &RunOutcome) -> RunOutcome {
    let mut redactor = Redactor::default();
    let mut outcome = outcome.clone();
    for case in outcome.packs.iter_mut().flat_map(|p| p.cases.iter_mut()) {
        if let Some((path, value)) = case.vary.take() {
            redactor.vary(&path, &value);
        }
        let observation = &mut case.observation;
        for exchange in &mut observation.exchanges {
            // Raw frames too: bytes that are not a message are left as they are.
            exchange.sent = redactor.message(&exchange.sent);
            exchange.replies.iter_mut().for_each(|r| redactor.reply(r));
        }
        observation.stray.iter_mut().for_each(|r| redactor.reply(r));
        for canary in &mut observation.canaries {
            canary.sent = redactor.message(&canary.sent);
            canary.reply.iter_mut().for_each(|r| redactor.reply(r));
        }
        for arrival in &mut observation.arrivals {
            arrival.payload = redactor.message(&arrival.payload);
        }
        // Through role: the inputs, the engine's ACKs and what came out at each destination.
        if let Some(through) = &mut observation.through {
            for input in &mut through.inputs {
                input.payload = redactor.message(&input.payload);
                input.ack = input.ack.as_deref().map(|ack| redactor.message(ack));
            }
            for arrival in &mut through.arrivals {
                arrival.arrival.payload = redactor.message(&arrival.arrival.payload);
            }
        }
    }
    for case in outcome.packs.iter_mut().flat_map(|p| p.cases.iter_mut()) {
        let name = redactor.case_name(&case.name);
        if name != case.name {
            let filter = redactor.filter_prefix(&name);
            case.reproduce = case.reproduce.replace(
                &crate::runner::shell_quote(&case.name),
                &crate::runner::shell_quote(&filter),
            );
            case.name = name;
        }
        case.reproduce = redactor.text(&case.reproduce);
        case.sent = case.sent.iter().map(|label| redactor.text(label)).collect();
        for result in &mut case.results {
            result.evidence = redactor.text(&result.evidence);
            // A violation's text quotes the values it is about (a value outside its set).
            for message in result.content.iter_mut().flat_map(|c| c.messages.iter_mut()) {
                message.unparsed = message.unparsed.as_deref().map(|u| redactor.text(u));
                for violation in &mut message.violations {
                    violation.message = redactor.text(&violation.message);
                }
            }
        }
        let observation = &mut case.observation;
        for probe in &mut observation.probes {
            probe.what = redactor.text(&probe.what);
            probe.failure = probe.failure.as_deref().map(|f| redactor.text(f));
        }
        for reply in &mut observation.stray {
            redactor.bytes(&mut reply.payload);
        }
        if let Some(aborted) = &mut observation.aborted {
            aborted.detail = redactor.text(&aborted.detail);
        }
        for exchange in &mut observation.exchanges {
            if let Some(event) = &mut exchange.event {
                event.detail = redactor.text(&event.detail);
            }
            for attempt in &mut exchange.attempts {
                attempt.event = attempt.event.as_deref().map(|e| redactor.text(e));
            }
            exchange.faults = exchange.faults.iter().map(|f| redactor.text(f)).collect();
            // The same values elsewhere in the messages (OBX, NTE, Z-segments, raw frames).
            redactor.bytes(&mut exchange.sent);
            for reply in &mut exchange.replies {
                redactor.bytes(&mut reply.payload);
            }
        }
        for canary in &mut observation.canaries {
            redactor.bytes(&mut canary.sent);
            if let Some(reply) = &mut canary.reply {
                redactor.bytes(&mut reply.payload);
            }
            if let Some(event) = &mut canary.event {
                event.detail = redactor.text(&event.detail);
            }
        }
        for arrival in &mut observation.arrivals {
            redactor.bytes(&mut arrival.payload);
            arrival.answer = redactor.text(&arrival.answer);
        }
        if let Some(through) = &mut observation.through {
            for input in &mut through.inputs {
                redactor.bytes(&mut input.payload);
                input.label = redactor.text(&input.label);
                input.event = input.event.as_deref().map(|e| redactor.text(e));
            }
            for arrival in &mut through.arrivals {
                redactor.bytes(&mut arrival.arrival.payload);
            }
        }
        if let Some(sut) = &mut observation.sut {
            sut.output = redactor.text(&sut.output);
            sut.stderr = redactor.text(&sut.stderr);
            sut.error = sut.error.as_deref().map(|e| redactor.text(e));
        }
    }
    for (_, reason) in &mut outcome.skipped {
        *reason = redactor.text(reason);
    }
    for phase in &mut outcome.load {
        phase.name = redactor.case_name(&phase.name);
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

    /// Issue 14: the provider in ROL-4, the operator in EVN-5, a merge's prior identifiers and
    /// name, and a master file's staff key and name.
    #[test]
    fn providers_operators_merges_and_staff() {
        check(
            "MSH|^~\\&|A\rEVN|A04|2024|||OPR01^Operator^Test\rROL|1|AD|PP^Primary|PRO-7^Arts^Anna\rMRG|OLD-9^^^H||||||Oud^Piet\r",
            "MSH|^~\\&|A\rEVN|A04|2024|||[id-1]^[name-1]^[name-2]\rROL|1|AD|PP^Primary|[id-2]^[name-3]^[name-4]\rMRG|[id-3]^^^H||||||[name-5]^[name-6]\r",
        );
        check(
            "MSH|^~\\&|A\rMFE|MAD|1||PRO-8^Jansen\rSTF|PRO-8^Jansen|U1|Jansen^Jan\r",
            "MSH|^~\\&|A\rMFE|MAD|1||[id-1]^[name-1]\rSTF|[id-1]^[name-1]|[id-2]|[name-1]^[name-2]\r",
        );
    }

    /// A value is also found as text in its decoded and unescaped forms and by its
    /// subcomponents: a case name or probe holds `Smith|Jones`, not `Smith\F\Jones`.
    #[test]
    fn values_are_found_decoded_and_unescaped() {
        let mut redactor = Redactor::default();
        redactor.message(
            b"MSH|^~\\&|A|||||||||||||||8859/1\rPID|1||X1||Smith\\F\\Jones^M\xfcller^de&Vries\r",
        );
        assert_eq!(redactor.text("family Smith|Jones"), "family [name-1]");
        assert_eq!(redactor.text("given M\u{fc}ller"), "given [name-2]");
        assert_eq!(redactor.text("prefix Vries"), "prefix [name-3]");
        let mut latin1 = b"NTE|1||M\xfcller\r".to_vec();
        redactor.bytes(&mut latin1);
        assert_eq!(latin1, b"NTE|1||[name-2]\r");
    }

    /// A `vary:` value in a case name goes whatever its length; the reproduce filter stops at
    /// the first placeholder.
    #[test]
    fn case_names_and_their_filter() {
        let mut redactor = Redactor::default();
        redactor.message(b"MSH|^~\\&|A\rPID|1||X1||Li^Wu\r");
        let name = redactor.case_name("surname variants [PID-5.1=Li]");
        assert_eq!(name, "surname variants [PID-5.1=[name-1]]");
        assert_eq!(redactor.filter_prefix(&name), "surname variants [PID-5.1");
        assert_eq!(redactor.case_name("Lisa [x]"), "Lisa [x]", "short values only as [F=v]");
    }

    #[test]
    fn not_hl7_is_left_alone() {
        check("this is not an HL7 message", "this is not an HL7 message");
    }

    /// A violation's text quotes the value it is about: redacted as evidence is.
    #[test]
    fn sender_content_findings_are_redacted() {
        let mut outcome = crate::report::message_profile::fixture::outcome(true);
        let case = &mut outcome.packs[2].cases[0];
        case.observation.arrivals.push(crate::observation::Arrival {
            connection: 1,
            payload: b"MSH|^~\\&|A|B|C|D|20240101||ADT^A04|MSG-2|P|2.6\rPID|1||X1||Smithers^Jane\r"
                .to_vec(),
            notes: Vec::new(),
            received: std::time::Duration::ZERO,
            answer: "AA".into(),
            answered: None,
            accepted: true,
            rejected: false,
        });
        let content = case.results[0].content.as_mut().expect("findings");
        content.messages[0].violations[0].message = "\"Smithers\" is too long".into();
        let redacted = redact(&outcome);
        let content = redacted.packs[2].cases[0].results[0].content.as_deref().expect("findings");
        assert_eq!(content.messages[0].violations[0].message, "\"[name-1]\" is too long");
    }

    /// Through role: the values of the inputs and of what came out are learned, so the
    /// field-level diff of `through.content` quotes no patient data.
    #[test]
    fn through_observations_and_their_diff_are_redacted() {
        use crate::observation::{ThroughArrival, ThroughInput, ThroughObservation};
        let mut outcome = crate::report::message_profile::fixture::outcome(true);
        let case = &mut outcome.packs[2].cases[0];
        let message = |name: &str| {
            format!("MSH|^~\\&|A|B|C|D|20240101||ADT^A04|M1|P|2.6\rPID|1||X1||{name}^Jane\r")
                .into_bytes()
        };
        let arrival = crate::observation::Arrival {
            connection: 1,
            payload: message("Smithersen"),
            notes: Vec::new(),
            received: std::time::Duration::ZERO,
            answer: "AA".into(),
            answered: None,
            accepted: true,
            rejected: false,
        };
        case.observation.through = Some(ThroughObservation {
            reads: Vec::new(),
            inputs: vec![ThroughInput {
                label: "input 1".into(),
                payload: message("Smithers"),
                sent: std::time::Duration::ZERO,
                ack: None,
                event: None,
            }],
            arrivals: vec![ThroughArrival { destination: "portal".into(), arrival }],
        });
        case.results[0].evidence = "PID-5.1: \"Smithers\" → \"Smithersen\"".into();
        let redacted = redact(&outcome);
        let case = &redacted.packs[2].cases[0];
        assert!(!case.results[0].evidence.contains("Smithers"), "{}", case.results[0].evidence);
        let through = case.observation.through.as_ref().expect("through");
        let shown = String::from_utf8_lossy(&through.inputs[0].payload).into_owned()
            + &String::from_utf8_lossy(&through.arrivals[0].arrival.payload);
        assert!(!shown.contains("Smithers"), "{shown}");
    }
}
