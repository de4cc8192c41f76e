//! Message validation: the structure a message declares (MSH-9, MSH-12) resolved to a segment
//! grammar, its segment sequence matched against it, and required fields checked.
//!
//! Parse findings (line endings, segment ids, character set) come from [`Message::findings`];
//! this module adds what needs the standard's tables.

use super::finding::{Capped, Finding, Location, Severity};
use super::message::Message;
use super::structures::{self, Version};
use thiserror::Error;

const RULE_VERSION: &str = "HL7 v2.5.1 ch. 2, MSH-12 (version ID, HL7 table 0104)";
const RULE_STRUCTURE: &str = "HL7 v2.5.1 ch. 2, MSH-9 (message type, tables 0076/0003/0354)";

/// What to validate against when not what the message declares.
#[derive(Debug, Clone, Default)]
pub struct ValidateOptions {
    /// Message structure id (e.g. `ADT_A01`) instead of the one MSH-9 resolves to.
    pub structure: Option<String>,
    /// HL7 version instead of MSH-12.
    pub version: Option<Version>,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown message structure {name:?}{hint}; known: {known}")]
pub struct UnknownStructure {
    pub name: String,
    pub hint: String,
    pub known: String,
}

/// Fails with a "did you mean" when `name` is not a structure of the grammar table.
pub fn check_structure_name(name: &str) -> Result<(), UnknownStructure> {
    let known = structures::structure_ids();
    if known.contains(&name) {
        return Ok(());
    }
    let upper = name.to_ascii_uppercase().replace(['^', '-'], "_");
    let hint = known
        .iter()
        .find(|k| **k == upper)
        .map(|k| format!(" (did you mean {k}?)"))
        .unwrap_or_default();
    Err(UnknownStructure { name: name.to_string(), hint, known: known_like(&known, &upper) })
}

/// The known structures worth showing: those of the same message type when there are some
/// (there are several hundred in all), else the count and a few examples.
fn known_like(known: &[&str], upper: &str) -> String {
    let code = upper.get(..3).unwrap_or(upper);
    let same: Vec<&str> = known.iter().copied().filter(|k| k.starts_with(code)).collect();
    if same.is_empty() {
        format!("{} structures, e.g. ACK, ADT_A01, ORU_R01, SIU_S12", known.len())
    } else {
        same.join(", ")
    }
}

/// HL7 versions that exist (table 0104) but that the standard's tables do not cover: the
/// sources have no 2.7.1 (hl7apy skips it), and 2.8.1+ and before 2.3 are not generated.
const OTHER_HL7_VERSIONS: [&str; 9] =
    ["2.0", "2.0D", "2.1", "2.2", "2.7.1", "2.8.1", "2.8.2", "2.9", "2.9.1"];

/// Validates the message's structure and required fields.
pub fn validate(message: &Message<'_>, options: &ValidateOptions) -> Vec<Finding> {
    let mut findings = escape_findings(message);
    // Built only for a finding: most messages have none, and a location holds a `String`.
    let header = || Location::segment(1, "MSH");
    let declared_version = message.version();
    let version = match (options.version, declared_version) {
        (Some(v), _) => v,
        (None, Some(text)) => match Version::parse(text) {
            Some(v) => v,
            None => {
                let (code, severity, why) = if OTHER_HL7_VERSIONS.contains(&text) {
                    ("version-not-covered", Severity::Info, "is an HL7 version this harness has no segment grammars for (it has 2.3, 2.3.1, 2.4, 2.5, 2.5.1, 2.6, 2.7 and 2.8); structure not checked")
                } else {
                    ("unknown-version", Severity::Error, "is not an HL7 v2 version (table 0104)")
                };
                findings.push(Finding::new(
                    code,
                    severity,
                    header().with_field(12),
                    format!("MSH-12 {text:?} {why}"),
                    RULE_VERSION,
                ));
                return findings;
            }
        },
        (None, None) => {
            findings.push(Finding::new(
                "missing-required-field",
                Severity::Error,
                header().with_field(12),
                "MSH-12 (version ID, required) is empty; structure not checked",
                RULE_VERSION,
            ));
            return findings;
        }
    };

    check_fields(message, version, &mut findings);

    let Some(structure_id) = resolve_structure(message, options, version, &mut findings) else {
        return findings;
    };
    let Some(structure) = structures::structure(version, structure_id) else {
        findings.push(Finding::new(
            "unknown-structure",
            Severity::Warning,
            header().with_field(9),
            format!("no segment grammar for {structure_id} in v{version}; structure not checked"),
            RULE_STRUCTURE,
        ));
        return findings;
    };
    let ids: Vec<&str> = message.segments().map(|s| s.id()).collect();
    let grammar = structures::validate_segments(&ids, structure, version);
    // A segment whose id is malformed is already a parse finding (`invalid-segment-id`); saying
    // again that the grammar does not expect it would count one problem twice.
    let malformed = |index: usize| {
        message
            .findings()
            .iter()
            .any(|f| f.code == "invalid-segment-id" && f.location.segment_index == Some(index))
    };
    findings.extend(grammar.into_iter().filter(|f| {
        !(f.code == "unexpected-segment" && f.location.segment_index.is_some_and(malformed))
    }));
    findings
}

/// The structure id to validate against: the option, else MSH-9.3 when it names a known
/// structure, else the trigger event's structure from the event table.
fn resolve_structure<'o>(
    message: &Message<'_>,
    options: &'o ValidateOptions,
    version: Version,
    findings: &mut Vec<Finding>,
) -> Option<&'o str> {
    if let Some(s) = &options.structure {
        return Some(s);
    }
    let header = || Location::segment(1, "MSH").with_field(9);
    let code = message.message_code().unwrap_or("");
    let trigger = message.trigger_event().unwrap_or("");
    let declared = message.message_structure();
    let from_event = structures::structure_for_event(version, code, trigger, None);
    if let (Some(declared), Some(expected)) = (declared, from_event) {
        if declared != expected {
            findings.push(Finding::new(
                "message-structure-mismatch",
                Severity::Warning,
                header(),
                format!(
                    "MSH-9.3 says {declared} but {code}^{trigger} uses {expected} in v{version}"
                ),
                "HL7 v2.5.1 ch. 2, MSH-9.3 (message structure, table 0354)",
            ));
        }
    }
    // `structure_for_event(.., declared)` would try the event table again, then `declared`,
    // which is known not to name a structure here: `from_event` is its answer.
    let resolved = declared
        .and_then(|d| structures::structure(version, d))
        .map(|s| s.id.as_str())
        .or(from_event);
    if resolved.is_none() {
        let shown = match declared {
            Some(d) => format!("{code}^{trigger}^{d}"),
            None => format!("{code}^{trigger}"),
        };
        findings.push(Finding::new(
            "unknown-structure",
            Severity::Warning,
            header(),
            format!("MSH-9 {shown:?} names no message structure this harness knows for v{version}; structure not checked"),
            RULE_STRUCTURE,
        ));
    }
    resolved
}

/// Fields numbered below this are noted in one pass by `check_fields`; the standard's segments
/// have fewer, and a field beyond is looked up on its own.
const VALUED_FIELDS: usize = 256;
const VALUED_WORDS: usize = VALUED_FIELDS / 64;

/// Which of fields 1..=`last` of `segment` have a value, a bit each, found in one pass over
/// its field separators. (Walking [`Segment::fields`](super::message::Segment::fields) built and copied a value per field,
/// which cost more than finding them.) A header's fields 1 and 2, the delimiters, are
/// valued when present.
fn valued_fields(segment: &super::message::Segment<'_>, last: usize) -> [u64; VALUED_WORDS] {
    let mut valued = [0u64; VALUED_WORDS];
    let bytes = segment.as_bytes();
    let mut start = segment.id_len() + 1;
    let mut n = 1;
    if segment.is_header() && bytes.len() >= start {
        // MSH-1 is the field separator itself; MSH-2 runs to the next one.
        valued[0] |= 1 << 1;
        n = 2;
    }
    if n > last || start > bytes.len() {
        return valued;
    }
    // One pass over the bytes (fields are short: a `memchr` per field cost more to set up
    // than to search); field `n` runs from `start` to the next separator.
    let separator = segment.delimiters().field;
    for (at, &byte) in bytes.iter().enumerate().skip(start) {
        if byte == separator {
            if at > start {
                valued[n / 64] |= 1 << (n % 64);
            }
            start = at + 1;
            n += 1;
            if n > last {
                return valued;
            }
        }
    }
    if bytes.len() > start {
        valued[n / 64] |= 1 << (n % 64);
    }
    valued
}

/// Required fields (usage R in the standard's segment definitions) of every segment.
/// At most [`MAX_FINDINGS_PER_KIND`](super::finding::MAX_FINDINGS_PER_KIND) listed, the rest
/// counted.
fn check_fields(message: &Message<'_>, version: Version, findings: &mut Vec<Finding>) {
    let mut capped = Capped::default();
    for segment in message.segments() {
        let required = structures::required_fields(version, segment.id());
        let Some(&last) = required.last() else { continue };
        // One pass over the fields up to the last required one, rather than a search from the
        // segment's start for each required field.
        let valued = valued_fields(&segment, last.min(VALUED_FIELDS - 1));
        let present = |n: usize| match n {
            n if n < VALUED_FIELDS => valued[n / 64] >> (n % 64) & 1 == 1,
            n => segment.field(n).is_some_and(|v| !v.is_empty()),
        };
        if required.iter().all(|&n| present(n)) {
            continue;
        }
        for finding in
            structures::check_required_fields(segment.index(), segment.id(), version, present)
        {
            if capped.keep() {
                findings.push(finding);
            }
        }
    }
    findings.extend(capped.summary(
        "missing-required-field",
        Severity::Error,
        "empty required fields",
        "HL7 v2.5.1 ch. 2, 2.5.3 and the segment definition (usage R: required field)",
    ));
}

/// Malformed escape sequences in any field (ch. 2, 2.7), each with its absolute byte offset.
/// MSH-1 and MSH-2 hold the delimiters themselves and are not text.
pub fn escape_findings(message: &Message<'_>) -> Vec<Finding> {
    let delimiters = message.delimiters();
    let Some(escape_char) = delimiters.escape else { return Vec::new() };
    // Most messages hold no escape character but the one MSH-2 declares: one scan of the
    // whole message says so, instead of one per segment.
    let header = message.header();
    let encoding = header.as_bytes().get(header.id_len() + 1..).unwrap_or_default();
    let encoding =
        &encoding[..memchr::memchr(delimiters.field, encoding).unwrap_or(encoding.len())];
    let declared = memchr::memchr_iter(escape_char, encoding).count();
    if memchr::memchr_iter(escape_char, message.as_bytes()).nth(declared).is_none() {
        return Vec::new();
    }
    let mut findings = Vec::new();
    let mut capped = Capped::default();
    for segment in message.segments() {
        // A header's MSH-2 holds the escape character itself: look only past it, so that a
        // header without escape sequences is not walked field by field.
        let bytes = segment.as_bytes();
        let text = match segment.is_header() {
            true => {
                let after_id = bytes.get(segment.id_len() + 1..).unwrap_or_default();
                memchr::memchr(delimiters.field, after_id).map_or(&[][..], |at| &after_id[at..])
            }
            false => bytes,
        };
        if memchr::memchr(escape_char, text).is_none() {
            continue;
        }
        for (n, field) in segment.fields() {
            if field.level() == super::value::Level::Opaque {
                continue;
            }
            for issue in super::escape::unescape(field.as_bytes(), delimiters).issues {
                if !capped.keep() {
                    continue;
                }
                let mut finding = issue.to_finding(field.offset());
                finding.location =
                    finding.location.with_segment(segment.index(), segment.id()).with_field(n);
                findings.push(finding);
            }
        }
    }
    findings.extend(capped.summary(
        "bad-escape-sequence",
        Severity::Warning,
        "malformed escape sequences",
        super::escape::ESCAPE_RULE,
    ));
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structure_names() {
        assert!(check_structure_name("ADT_A01").is_ok());
        assert!(check_structure_name("OMG_O19").is_ok());
        let e = check_structure_name("adt^a01").expect_err("not as written");
        assert_eq!(e.hint, " (did you mean ADT_A01?)");
        assert!(e.known.starts_with("ADT_A01, ADT_A02, "), "{}", e.known);
        let e = check_structure_name("XYZ").expect_err("unknown");
        assert!(
            e.known.ends_with("structures, e.g. ACK, ADT_A01, ORU_R01, SIU_S12"),
            "{}",
            e.known
        );
    }

    /// The finding codes and locations of validating `segments` (joined with CR) as written.
    fn check(segments: &[&str], expected: &[&str]) {
        let text = segments.join("\r");
        let message = Message::parse(text.as_bytes()).expect("parses");
        let found: Vec<String> = validate(&message, &ValidateOptions::default())
            .iter()
            .map(|f| format!("{} at {}: {}", f.code, f.location, f.message))
            .collect();
        assert_eq!(found, expected, "{text}");
    }

    /// `validate` as it was before its lookups were keyed by bytes, its header fields indexed
    /// at parse and its matcher's bookkeeping moved to arrays: the header walked for each
    /// value, required fields looked up by name and read one by one, the event table's key
    /// formatted, and the hash-map matcher ([`structures::matcher::reference`]). Kept as what
    /// the faster code must agree with, finding for finding.
    fn reference_validate(message: &Message<'_>, options: &ValidateOptions) -> Vec<Finding> {
        use crate::hl7::standard;
        use crate::hl7::structures::matcher::{reference, ZSegments};
        let text = |field: usize, component: usize| {
            let value = message.header().field(field)?.component(component)?;
            let text = std::str::from_utf8(value.as_bytes()).ok()?.trim();
            (!text.is_empty()).then_some(text)
        };
        let mut findings = escape_findings(message);
        let header = Location::segment(1, "MSH");
        let version = match (options.version, text(12, 1)) {
            (Some(v), _) => v,
            (None, Some(text)) => match Version::parse(text) {
                Some(v) => v,
                None => {
                    let (code, severity, why) = if OTHER_HL7_VERSIONS.contains(&text) {
                        ("version-not-covered", Severity::Info, "is an HL7 version this harness has no segment grammars for (it has 2.3, 2.3.1, 2.4, 2.5, 2.5.1, 2.6, 2.7 and 2.8); structure not checked")
                    } else {
                        (
                            "unknown-version",
                            Severity::Error,
                            "is not an HL7 v2 version (table 0104)",
                        )
                    };
                    let message = format!("MSH-12 {text:?} {why}");
                    findings.push(Finding::new(
                        code,
                        severity,
                        header.with_field(12),
                        message,
                        RULE_VERSION,
                    ));
                    return findings;
                }
            },
            (None, None) => {
                let message = "MSH-12 (version ID, required) is empty; structure not checked";
                let finding = Finding::new(
                    "missing-required-field",
                    Severity::Error,
                    header.with_field(12),
                    message,
                    RULE_VERSION,
                );
                findings.push(finding);
                return findings;
            }
        };
        let mut capped = Capped::default();
        for segment in message.segments() {
            let id = segment.id();
            let required = standard::segment(version, id).map_or(&[][..], |s| &s.required);
            for &n in required {
                if segment.field(n).is_some_and(|v| !v.is_empty()) || !capped.keep() {
                    continue;
                }
                findings.push(Finding::new(
                    "missing-required-field",
                    Severity::Error,
                    Location::segment(segment.index(), id).with_field(n),
                    format!("{id}-{n} is required in v{version} and is empty"),
                    "HL7 v2.5.1 ch. 2, 2.5.3 and the segment definition (usage R: required field)",
                ));
            }
        }
        findings.extend(capped.summary(
            "missing-required-field",
            Severity::Error,
            "empty required fields",
            "HL7 v2.5.1 ch. 2, 2.5.3 and the segment definition (usage R: required field)",
        ));
        let structure_id = match &options.structure {
            Some(s) => Some(s.clone()),
            None => {
                let header = header.clone().with_field(9);
                let code = text(9, 1).unwrap_or("");
                let trigger = text(9, 2).unwrap_or("");
                let declared = text(9, 3);
                let from_event = structures::structure_for_event(version, code, trigger, None);
                if let (Some(declared), Some(expected)) = (declared, from_event) {
                    if declared != expected {
                        findings.push(Finding::new(
                            "message-structure-mismatch",
                            Severity::Warning,
                            header.clone(),
                            format!("MSH-9.3 says {declared} but {code}^{trigger} uses {expected} in v{version}"),
                            "HL7 v2.5.1 ch. 2, MSH-9.3 (message structure, table 0354)",
                        ));
                    }
                }
                let resolved = declared
                    .filter(|d| structures::structure(version, d).is_some())
                    .map(str::to_string)
                    .or_else(|| {
                        structures::structure_for_event(version, code, trigger, declared)
                            .map(str::to_string)
                    });
                if resolved.is_none() {
                    let shown = match declared {
                        Some(d) => format!("{code}^{trigger}^{d}"),
                        None => format!("{code}^{trigger}"),
                    };
                    findings.push(Finding::new(
                        "unknown-structure",
                        Severity::Warning,
                        header,
                        format!("MSH-9 {shown:?} names no message structure this harness knows for v{version}; structure not checked"),
                        RULE_STRUCTURE,
                    ));
                }
                resolved
            }
        };
        let Some(structure_id) = structure_id else { return findings };
        let Some(structure) = structures::structure(version, &structure_id) else {
            findings.push(Finding::new(
                "unknown-structure",
                Severity::Warning,
                header.with_field(9),
                format!(
                    "no segment grammar for {structure_id} in v{version}; structure not checked"
                ),
                RULE_STRUCTURE,
            ));
            return findings;
        };
        let ids: Vec<&str> = message.segments().map(|s| s.id()).collect();
        let malformed: std::collections::HashSet<usize> = message
            .findings()
            .iter()
            .filter(|f| f.code == "invalid-segment-id")
            .filter_map(|f| f.location.segment_index)
            .collect();
        let automaton = structure.automaton();
        let grammar = reference::match_segments(
            &ids,
            automaton,
            &structure.id,
            version,
            ZSegments::AllowedAnywhere,
        );
        findings.extend(grammar.into_iter().filter(|f| {
            !(f.code == "unexpected-segment"
                && f.location.segment_index.is_some_and(|i| malformed.contains(&i)))
        }));
        findings
    }

    /// Every message of `corpus/` and of the shared public corpus (when present).
    fn corpus_messages() -> &'static [Vec<u8>] {
        static MESSAGES: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
        MESSAGES.get_or_init(|| {
            fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
                let Ok(entries) = std::fs::read_dir(dir) else { return };
                let mut paths: Vec<_> = entries.filter_map(|e| Some(e.ok()?.path())).collect();
                paths.sort();
                for path in paths {
                    if path.is_dir() {
                        walk(&path, out);
                    } else if path.extension().is_some_and(|e| e == "hl7") {
                        out.push(path);
                    }
                }
            }
            let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
            let mut paths = Vec::new();
            walk(&root.join("../corpus"), &mut paths);
            walk(&root.join("../../shared/corpus-public"), &mut paths);
            let mut messages = Vec::new();
            for path in paths {
                let bytes = std::fs::read(&path).expect("corpus file reads");
                let Ok(batch) = crate::hl7::split_batch(&bytes) else { continue };
                messages.extend(batch.messages.into_iter().map(|r| bytes[r].to_vec()));
            }
            messages
        })
    }

    /// Both ways on one message, with the options the callers use.
    fn check_against_reference(bytes: &[u8]) {
        let Ok(message) = Message::parse(bytes) else { return };
        for options in [
            ValidateOptions::default(),
            ValidateOptions { structure: Some("ADT_A01".into()), version: None },
            ValidateOptions { structure: Some("ORU_R01".into()), version: Some(Version::V2_3) },
            ValidateOptions { structure: None, version: Some(Version::V2_8) },
        ] {
            assert_eq!(
                validate(&message, &options),
                reference_validate(&message, &options),
                "{options:?} {:?}",
                String::from_utf8_lossy(bytes)
            );
        }
    }

    #[test]
    fn corpus_findings_are_those_of_the_reference() {
        let messages = corpus_messages();
        assert!(messages.len() > 80, "{} corpus messages", messages.len());
        for bytes in messages {
            check_against_reference(bytes);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(400))]
        /// Corpus messages with their segments shuffled, left out, repeated and renamed (to
        /// Z-segments, unknown and malformed ids) validate exactly as the reference says.
        #[test]
        fn mutated_corpus_findings_are_those_of_the_reference(
            which in proptest::prelude::any::<proptest::sample::Index>(),
            edits in proptest::collection::vec(
                (0u8..5, proptest::prelude::any::<proptest::sample::Index>(), proptest::prelude::any::<proptest::sample::Index>()),
                0..8,
            ),
        ) {
            let bytes = which.get(corpus_messages());
            let mut segments: Vec<Vec<u8>> = bytes.split(|&b| b == b'\r').map(<[u8]>::to_vec).collect();
            for (kind, a, b) in edits {
                // The header stays first: without it there is no message to validate.
                if segments.len() < 2 {
                    break;
                }
                let (a, b) = (1 + a.index(segments.len() - 1), 1 + b.index(segments.len() - 1));
                match kind {
                    0 => segments.swap(a, b),
                    1 => {
                        segments.remove(a);
                    }
                    2 => {
                        let copy = segments[b].clone();
                        segments.insert(a, copy);
                    }
                    3 => {
                        let moved = segments.remove(a);
                        segments.insert(b.min(segments.len()), moved);
                    }
                    _ => {
                        let ids: [&[u8]; 4] = [b"ZXX", b"QQQ", b"pid", b"AB"];
                        let id = ids[b % ids.len()];
                        let end = segments[a].iter().position(|&c| c == b'|').unwrap_or(segments[a].len());
                        segments[a] = [id, &segments[a][end..]].concat();
                    }
                }
            }
            check_against_reference(&segments.join(&b'\r'));
        }
    }

    const MSH_28: &str = "MSH|^~\\&|A|B|C|D|20240101120000||ADT^A04^ADT_A01|1|P|2.8";

    #[test]
    fn v2_8_structures_and_fields() {
        let pid = "PID|1||42^^^H^MR||Doe^Jane";
        let pv1 = "PV1|1|O";
        check(&[MSH_28, "EVN||20240101120000", pid, pv1], &[]);
        // OBX-4 is conditional in v2.8 (hl7apy says required): no finding without it.
        check(&[MSH_28, "EVN||20240101120000", pid, pv1, "OBX|1|ST|X^Y||v||||||F"], &[]);
        // EVN-2 is v2.8's required recorded date/time (hl7apy's list leaves out EVN-1).
        check(
            &[MSH_28, "EVN|A04", pid, pv1],
            &["missing-required-field at segment 2 (EVN), EVN-2: EVN-2 is required in v2.8 and is empty"],
        );
        check(
            &[MSH_28, "EVN||20240101120000", pid],
            &["missing-required-segment at : PV1 is required after segment 3 in ADT_A01 v2.8"],
        );
    }

    /// The header's own escape character (MSH-2) is not looked at, but a malformed escape in
    /// any later header field is still found where it is.
    #[test]
    fn header_escapes_are_checked_past_msh2() {
        let clean = b"MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|2.5\rPID|1\r";
        assert!(escape_findings(&Message::parse(clean).unwrap()).is_empty());
        for (header, field) in
            [("MSH|^~\\&|A\\Q|B|", 3), ("MSH|^~\\&|A|B|C|D|2024||ADT^A01|1\\|", 10)]
        {
            let text = format!("{header}\rPID|1\r");
            let findings = escape_findings(&Message::parse(text.as_bytes()).unwrap());
            let fields: Vec<_> = findings.iter().map(|f| f.location.field).collect();
            assert_eq!(fields, [Some(field)], "{text:?}: {findings:?}");
        }
        // Only MSH-1 and MSH-2: nothing past the delimiters to look at.
        assert!(escape_findings(&Message::parse(b"MSH|^~\\&").unwrap()).is_empty());
    }

    /// The one pass that notes which fields have a value says what reading each field does,
    /// in every segment of the repository's corpus and in headers and segments cut short.
    #[test]
    fn valued_fields_are_those_read_non_empty() {
        let inputs = crate::hl7::message::tests::corpus_after(&[
            b"MSH|",
            b"MSH|^~\\&",
            b"MSH|^~\\&|\rPID\rPV1|\rEVN||x|",
        ]);
        let mut compared = 0;
        for input in &inputs {
            let Ok(message) = Message::parse(input) else { continue };
            for segment in message.segments() {
                let valued = valued_fields(&segment, 60);
                for n in 0..VALUED_FIELDS {
                    let read =
                        (1..=60).contains(&n) && segment.field(n).is_some_and(|v| !v.is_empty());
                    assert_eq!(
                        valued[n / 64] >> (n % 64) & 1 == 1,
                        read,
                        "{n} of {:?}",
                        segment.as_bytes()
                    );
                }
                compared += 1;
            }
        }
        assert!(compared > 300, "{compared}");
    }

    /// The one scan that lets a message without escape characters through does not let one
    /// through that has them past the header, well formed or not.
    #[test]
    fn escapes_past_the_header_are_checked() {
        let header = "MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|2.5\r";
        for (body, found) in [("PID|1||X\\Q||\r", 1), ("PID|1||X\\T\\Y\r", 0), ("PID|1\r", 0)] {
            let text = format!("{header}{body}");
            let findings = escape_findings(&Message::parse(text.as_bytes()).unwrap());
            assert_eq!(findings.len(), found, "{text:?}: {findings:?}");
            if found > 0 {
                assert_eq!(findings[0].location.field, Some(3), "{findings:?}");
            }
        }
    }
}
