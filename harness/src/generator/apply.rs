//! Applying a [`Mutation`] to a message: seeded, byte-exact wherever the mutation does not
//! touch, never panicking on what it is given.
//!
//! Edits go through [`MessageBuf`] (escaping, character set, padding); whole-message rewrites
//! (separators, reordering, batches) rebuild the message from its parsed segments. Nothing here
//! does I/O.

use super::mutation::*;
use crate::hl7::edit::{EditError, MessageBuf};
use crate::hl7::structures::{self, grammar::Item, grammar::Node, Structure, Version};
use crate::hl7::{Delimiters, Message, ParseError, Path};
use crate::vocab::Seed;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use thiserror::Error;

/// A mutated message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mutated {
    pub bytes: Vec<u8>,
    /// One line for people: what changed, where, and why it carries its intent.
    pub description: String,
    pub intent: Intent,
}

/// Why a mutation could not be applied to a message.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum GenerateError {
    #[error("the base message does not parse: byte {offset}: {source}")]
    Parse {
        offset: usize,
        #[source]
        source: ParseError,
    },
    #[error(
        "the base starts with {found}, not MSH: mutate one message (batch_wrap makes batches)"
    )]
    NotOneMessage { found: String },
    #[error(
        "the base holds {count} MSH segments: mutate one message at a time (split the file first)"
    )]
    SeveralMessages { count: usize },
    #[error("the base holds the batch segment {segment} (segment {index}): mutate one message (batch_wrap makes batches)")]
    BatchSegment { segment: String, index: usize },
    #[error("{mutation}: {source}")]
    Edit {
        mutation: &'static str,
        #[source]
        source: EditError,
    },
    #[error("{mutation}: {reason}")]
    NotApplicable { mutation: &'static str, reason: String },
}

pub(super) type Result<T> = std::result::Result<T, GenerateError>;

/// Applies one mutation. The same base, mutation and seed give the same bytes on every
/// platform (ChaCha8, integer draws only).
pub fn apply(base: &[u8], mutation: &Mutation, seed: Seed) -> Result<Mutated> {
    let message = Message::parse(base)
        .map_err(|source| GenerateError::Parse { offset: source.offset(), source })?;
    let header = message.header();
    if header.id() != "MSH" {
        return Err(GenerateError::NotOneMessage { found: header.id().to_string() });
    }
    // Messages back to back parse as one message with several MSH segments; mutating that as
    // one would, for instance, wrap three messages in a batch that counts one.
    let headers = message.segments().filter(|s| s.id() == "MSH").count();
    if headers > 1 {
        return Err(GenerateError::SeveralMessages { count: headers });
    }
    // Likewise a batch segment inside: found by the fuzzer, an FTS amid the segments made
    // batch_wrap's output a batch with segments outside any message.
    let envelope = message.segments().find(|s| matches!(s.id(), "FHS" | "BHS" | "BTS" | "FTS"));
    if let Some(segment) = envelope {
        return Err(GenerateError::BatchSegment {
            segment: segment.id().to_string(),
            index: segment.index(),
        });
    }
    let mut cx = Cx { name: mutation.name(), message: &message, rng: seed.rng() };
    match mutation {
        Mutation::NonAscii(p) => cx.non_ascii(p),
        Mutation::CharsetMismatch(p) => cx.charset_mismatch(p),
        Mutation::EscapedDelimiters(p) => cx.escaped_delimiters(p),
        Mutation::CustomDelimiters(p) => cx.custom_delimiters(p),
        Mutation::PresentButNull(p) => cx.present_but_null(p),
        Mutation::EmptyRequired(p) => cx.empty_required(p),
        Mutation::TruncateFields(p) => cx.truncate_fields(p),
        Mutation::RemoveField(p) => cx.remove_field(p),
        Mutation::DropRequiredSegment(p) => cx.drop_required_segment(p),
        Mutation::ReorderSegments(p) => cx.reorder_segments(p),
        Mutation::DuplicateSegment(p) => cx.duplicate_segment(p),
        Mutation::UnknownSegment(p) => cx.unknown_segment(p),
        Mutation::ZSegment(p) => cx.z_segment(p),
        Mutation::TimestampVariants(p) => cx.timestamp_variants(p),
        Mutation::LfSeparators => Ok(cx.separators(b"\n", "LF")),
        Mutation::CrlfSeparators => Ok(cx.separators(b"\r\n", "CR LF")),
        Mutation::LongField(p) => cx.long_field(p),
        Mutation::ManyRepetitions(p) => cx.many_repetitions(p),
        Mutation::DuplicateControlId(p) => cx.duplicate_control_id(p),
        Mutation::UnknownMessageType(p) => cx.header_value(
            "MSH-9.1",
            p.code.as_deref().unwrap_or("XYZ"),
            "a message type not in table 0076: the receiver must reject it (AR/CR, error 200 unsupported message type, table 0357)",
        ),
        Mutation::UnknownTrigger(p) => cx.header_value(
            "MSH-9.2",
            p.trigger.as_deref().unwrap_or("X99"),
            "a trigger event not in table 0003: the receiver must reject it (AR/CR, error 201 unsupported event code)",
        ),
        Mutation::UnsupportedVersion(p) => cx.header_value(
            "MSH-12.1",
            p.version.as_deref().unwrap_or("9.9"),
            "a version the receiver does not support: it must reject it (AR/CR, error 203 unsupported version ID)",
        ),
        Mutation::BatchWrap(p) => cx.batch_wrap(p),
    }
}

/// Applies mutations in order, mutation `i` with seed `seed + i`. Descriptions are joined with
/// "; " and the intent is the strongest (Invalid > Either > Valid). `batch_wrap` must come
/// last, since the others mutate one message. No mutations: the base as given, `Valid`.
pub fn apply_all(base: &[u8], mutations: &[Mutation], seed: Seed) -> Result<Mutated> {
    let mut current =
        Mutated { bytes: base.to_vec(), description: String::new(), intent: Intent::Valid };
    let mut descriptions = Vec::with_capacity(mutations.len());
    for (i, mutation) in mutations.iter().enumerate() {
        if matches!(mutation, Mutation::BatchWrap(_)) && i + 1 != mutations.len() {
            return Err(GenerateError::NotApplicable {
                mutation: mutation.name(),
                reason: "must be the last mutation: the others change one message, not a batch"
                    .into(),
            });
        }
        let next = apply(&current.bytes, mutation, seed.offset(i as u64))?;
        descriptions.push(next.description);
        current.bytes = next.bytes;
        current.intent = current.intent.strongest(next.intent);
    }
    current.description =
        if descriptions.is_empty() { "no mutation".into() } else { descriptions.join("; ") };
    Ok(current)
}

pub(super) const LATIN1: &[&str] =
    &["Müller", "Søren", "Gómez", "François", "Ærøskøbing", "Zoë", "Åsa"];
pub(super) const GREEK: &[&str] = &["Παπαδόπουλος", "Ελένη", "Γιώργος", "Αθηνά"];
pub(super) const CJK: &[&str] = &["山田", "太郎", "王小明", "佐藤", "李华"];
pub(super) const EMOJI: &[&str] = &["😀", "Anna 🏥", "🙂🙂", "Zoë 👩‍⚕️"];

/// Name-like fields tried in order when a text mutation is given no fields.
pub(super) const TEXT_FIELDS: &[&str] =
    &["PID-5.1", "PID-5.2", "STF-3.1", "STF-3.2", "NK1-2.1", "NTE-3"];
/// Optional fields tried in order by `present_but_null`.
pub(super) const OPTIONAL_FIELDS: &[&str] = &["PID-8", "PID-7", "PV1-3", "NK1-3", "STF-5", "MSH-8"];

/// Bytes that may serve as delimiters in a random set: printable ASCII punctuation.
pub(super) const DELIMITER_POOL: &[u8] = b"!#$%&()*+,-./:;<=>?@[\\]^_`{|}~";

/// Largest message a mutation writes (many_repetitions, batch_wrap): a bound on memory, far
/// above any real interface's limit.
pub(super) const MAX_OUTPUT: usize = 64 * 1024 * 1024;

/// Dates with fewer digits are replaced by this one.
pub(super) const FALLBACK_TIMESTAMP: &str = "20240101120000";

/// One application: the mutation's name (for errors), the parsed base and the seeded RNG.
pub(super) struct Cx<'m, 'a> {
    pub(super) name: &'static str,
    pub(super) message: &'m Message<'a>,
    pub(super) rng: ChaCha8Rng,
}

impl<'m, 'a> Cx<'m, 'a> {
    pub(super) fn fail<T>(&self, reason: impl Into<String>) -> Result<T> {
        Err(GenerateError::NotApplicable { mutation: self.name, reason: reason.into() })
    }

    pub(super) fn edit_error(&self) -> impl Fn(EditError) -> GenerateError {
        let mutation = self.name;
        move |source| GenerateError::Edit { mutation, source }
    }

    /// A uniform index below `len` (> 0), drawn as u64 so every platform draws the same.
    pub(super) fn index(&mut self, len: usize) -> usize {
        self.rng.random_range(0..len as u64) as usize
    }

    pub(super) fn pick<'t, T>(&mut self, items: &'t [T]) -> &'t T {
        &items[self.index(items.len())]
    }

    pub(super) fn buf(&self) -> MessageBuf {
        MessageBuf::from_message(self.message)
    }

    pub(super) fn done(
        &self,
        buf: MessageBuf,
        description: String,
        intent: Intent,
    ) -> Result<Mutated> {
        Ok(Mutated { bytes: buf.into_bytes(), description, intent })
    }

    /// Fails unless the path names a field of a segment the message has.
    pub(super) fn check_field(&self, path: &Path) -> Result<()> {
        if path.field.is_none() {
            return self.fail(format!("{path}: name a field, e.g. {path}-1"));
        }
        if path.is_delimiter_field() {
            return self.fail(format!("{path}: MSH-1 and MSH-2 are the delimiters, not values"));
        }
        self.check_segment(path)
    }

    pub(super) fn check_segment(&self, path: &Path) -> Result<()> {
        let wanted = path.occurrence_or_first();
        if self.message.find_segment(path.segment_id(), wanted).is_none() {
            let count = self.message.segments().filter(|s| s.id() == path.segment_id()).count();
            return self.fail(format!(
                "{path}: the message has {count} {} segment(s), not {wanted}",
                path.segment_id()
            ));
        }
        Ok(())
    }

    /// The given fields, checked; else the first `n` of `candidates` whose segment is present.
    pub(super) fn fields_or_default(
        &self,
        given: &[Path],
        candidates: &[&str],
        n: usize,
    ) -> Result<Vec<Path>> {
        if !given.is_empty() {
            for path in given {
                self.check_field(path)?;
            }
            return Ok(given.to_vec());
        }
        let found: Vec<Path> = candidates
            .iter()
            .filter_map(|c| Path::parse(c).ok())
            .filter(|p| self.message.find_segment(p.segment_id(), 1).is_some())
            .take(n)
            .collect();
        if found.is_empty() {
            return self.fail(format!(
                "no fields given and the message has none of {}: name them with fields: [...]",
                candidates.join(", ")
            ));
        }
        Ok(found)
    }

    pub(super) fn version(&self) -> Option<Version> {
        self.message.version().and_then(Version::parse)
    }

    pub(super) fn is_required(&self, segment: &str, field: usize) -> bool {
        self.version().is_some_and(|v| structures::required_fields(v, segment).contains(&field))
    }

    /// The message's structure, by MSH-9 and MSH-12.
    pub(super) fn structure(&self) -> Option<&'static Structure> {
        let version = self.version()?;
        let code = self.message.message_code().unwrap_or("");
        let trigger = self.message.trigger_event().unwrap_or("");
        let declared = self.message.message_structure();
        let id = structures::structure_for_event(version, code, trigger, declared)?;
        structures::structure(version, id)
    }

    /// Grammar finding codes for a segment sequence; `None` without a known structure.
    pub(super) fn grammar_codes(&self, ids: &[&str]) -> Option<Vec<&'static str>> {
        let structure = self.structure()?;
        let findings = structures::validate_segments(ids, structure, structure.version);
        let mut codes: Vec<&'static str> = findings.iter().map(|f| f.code).collect();
        codes.sort_unstable();
        codes.dedup();
        Some(codes)
    }

    pub(super) fn segment_ids(&self) -> Vec<&'a str> {
        self.message.segments().map(|s| s.id()).collect()
    }

    // --- text in fields ---
}

/// Segment ids a grammar requires: required segments, in required groups too; choices are
/// skipped, since no single alternative is required.
pub(super) fn required_segments(items: &[Item], out: &mut Vec<String>) {
    for item in items.iter().filter(|i| !i.optional) {
        match &item.node {
            Node::Segment(id) => out.push(id.clone()),
            Node::Group { items, .. } => required_segments(items, out),
            Node::Choice(_) => {}
        }
    }
}

/// `ID|a|b` with the message's field separator, no terminator. Values are plain ASCII.
pub(super) fn segment_bytes(id: &str, d: &Delimiters, fields: &[&str]) -> Vec<u8> {
    let mut out = id.as_bytes().to_vec();
    for f in fields {
        out.push(d.field);
        out.extend_from_slice(f.as_bytes());
    }
    out
}

pub(super) fn describe_values(fields: &[Path], texts: &[&str]) -> String {
    fields.iter().zip(texts).map(|(p, t)| format!("{p} = {t:?}")).collect::<Vec<_>>().join(", ")
}

pub(super) fn join_paths(paths: &[Path]) -> String {
    paths.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

/// Rewrites raw segment bytes from `old` to `new` delimiters, byte by byte, so that each value
/// unescapes to the same bytes as before.
///
/// Not [`crate::hl7::encode`]'s tree: it holds decoded text, which would re-encode non-UTF-8
/// messages as UTF-8 and escape the escape character of pass-through sequences (`\H\`,
/// `\.br\`, `\Cxxyy\`), changing what they mean. Here delimiters map to delimiters, a
/// delimiter escape (`\F\`) becomes the byte it stood for, written as the new set requires,
/// other well-formed sequences keep their content with the new escape character, and data bytes
/// that the new set makes special are escaped.
pub(super) fn transcode(bytes: &[u8], old: &Delimiters, new: &Delimiters, out: &mut Vec<u8>) {
    let mapped = |b: u8| -> Option<u8> {
        if b == old.field {
            Some(new.field)
        } else if b == old.component {
            Some(new.component)
        } else if b == old.repetition {
            Some(new.repetition)
        } else if Some(b) == old.subcomponent {
            new.subcomponent
        } else {
            None
        }
    };
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if let Some(d) = mapped(b) {
            out.push(d);
            i += 1;
            continue;
        }
        if Some(b) == old.escape {
            let rest = &bytes[i + 1..];
            let close = rest.iter().position(|&c| Some(c) == old.escape || mapped(c).is_some());
            if let Some(len) = close.filter(|&n| Some(rest[n]) == old.escape && n > 0) {
                let content = &rest[..len];
                // A delimiter escape stands for the old delimiter byte, which is data now: it
                // is written as the new set requires (often as itself, unescaped).
                let literal = match content {
                    b"F" => Some(old.field),
                    b"S" => Some(old.component),
                    b"R" => Some(old.repetition),
                    b"E" => old.escape,
                    b"T" => old.subcomponent,
                    b"P" => old.truncation,
                    _ => None,
                };
                if let Some(byte) = literal {
                    match crate::hl7::escape::escape(&[byte], new) {
                        Ok(escaped) => out.extend_from_slice(&escaped),
                        Err(_) => out.push(byte),
                    }
                    i += len + 2;
                    continue;
                }
                let clean =
                    content.iter().all(|c| !new.is_special(*c) && Some(*c) != new.truncation);
                if clean {
                    out.push(new.escape.unwrap_or(b'\\'));
                    out.extend_from_slice(content);
                    out.push(new.escape.unwrap_or(b'\\'));
                    i += len + 2;
                    continue;
                }
            }
        }
        let single = [b];
        match crate::hl7::escape::escape(&single, new) {
            Ok(escaped) => out.extend_from_slice(&escaped),
            Err(_) => out.push(b),
        }
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hl7::encode::decode_segments;
    use crate::hl7::validate::{validate, ValidateOptions};

    const BASE: &[u8] = b"MSH|^~\\&|SEND|FAC|RECV|FAC|20240101120000||ADT^A04^ADT_A01|MSG1|P|2.5\rEVN|A04|20240101120000\rPID|1||123^^^HOSP^MR||Doe^John||19800101|M\rPV1|1|O\r";
    const LATIN1_BASE: &[u8] = b"MSH|^~\\&|SEND|FAC|RECV|FAC|20240101120000||ADT^A04^ADT_A01|MSG1|P|2.5||||||8859/1\rEVN|A04|20240101120000\rPID|1||123^^^HOSP^MR||D\xF8e^John||19800101|M\rPV1|1|O\r";

    fn mutation(yaml: &str) -> Mutation {
        serde_yaml::from_str(yaml).unwrap_or_else(|e| panic!("{yaml}: {e}"))
    }

    /// Applies `yaml` to `base` with seed 0; checks the intent and that every expected finding
    /// code is reported by the parser or validator (none of severity error when empty).
    fn check(base: &[u8], yaml: &str, intent: Intent, codes: &[&str]) -> Mutated {
        let mutated =
            apply(base, &mutation(yaml), Seed(0)).unwrap_or_else(|e| panic!("{yaml}: {e}"));
        assert_eq!(mutated.intent, intent, "{yaml}: {}", mutated.description);
        assert!(!mutated.description.is_empty() && !mutated.description.contains('\n'));
        let message = Message::parse(&mutated.bytes).unwrap();
        let findings: Vec<_> = message
            .findings()
            .iter()
            .cloned()
            .chain(validate(&message, &ValidateOptions::default()))
            .collect();
        let found: Vec<&str> = findings.iter().map(|f| f.code).collect();
        if codes.is_empty() {
            let errors: Vec<_> =
                findings.iter().filter(|f| f.severity == crate::hl7::Severity::Error).collect();
            assert!(errors.is_empty(), "{yaml}: {errors:?}");
        }
        for code in codes {
            assert!(found.contains(code), "{yaml}: expected {code}, found {found:?}");
        }
        mutated
    }

    fn text(bytes: &[u8], path: &str) -> String {
        let message = Message::parse(bytes).unwrap();
        let value = message.get(&Path::parse(path).unwrap()).unwrap();
        message.text(&value).into_owned()
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    /// Every text value of a message, MSH-1 and MSH-2 left out, with both escape characters
    /// written `<E>` so that pass-through sequences (`\H\`) compare across delimiter sets.
    fn values(bytes: &[u8], escapes: [char; 2]) -> Vec<String> {
        let message = Message::parse(bytes).unwrap();
        let mut tree = decode_segments(&message);
        let n = 2.min(tree[0].fields.len());
        tree[0].fields.drain(..n);
        let leaves = tree.into_iter().flat_map(|s| {
            let id = s.id;
            s.fields.into_iter().flatten().flatten().flatten().map(move |v| format!("{id}:{v}"))
        });
        leaves.map(|v| v.replace(escapes, "<E>")).collect()
    }

    fn error(base: &[u8], yaml: &str) -> String {
        apply(base, &mutation(yaml), Seed(0)).unwrap_err().to_string()
    }

    #[test]
    fn non_ascii() {
        let m = check(BASE, "non_ascii: { fields: [PID-5.1], script: greek }", Intent::Valid, &[]);
        assert!(GREEK.contains(&text(&m.bytes, "PID-5.1").as_str()), "{}", m.description);
        assert_eq!(text(&m.bytes, "MSH-18"), "UNICODE UTF-8");
        assert!(m.description.contains("re-encoded as UNICODE UTF-8"), "{}", m.description);

        // 8859/1 holds Latin-1 text: MSH-18 stays, the old text is untouched.
        let m = check(
            LATIN1_BASE,
            "non_ascii: { fields: [PID-5.2], script: latin1 }",
            Intent::Valid,
            &[],
        );
        assert_eq!(text(&m.bytes, "MSH-18"), "8859/1");
        assert!(LATIN1.contains(&text(&m.bytes, "PID-5.2").as_str()));
        assert_eq!(text(&m.bytes, "PID-5.1"), "Døe");

        // 8859/1 cannot hold CJK: re-encoded as UTF-8, old text still reads the same.
        let m =
            check(LATIN1_BASE, "non_ascii: { fields: [PID-5.2], script: cjk }", Intent::Valid, &[]);
        assert_eq!(text(&m.bytes, "MSH-18"), "UNICODE UTF-8");
        assert_eq!(text(&m.bytes, "PID-5.1"), "Døe");

        let err =
            error(LATIN1_BASE, "non_ascii: { fields: [PID-5.2], script: emoji, unmappable: fail }");
        assert!(err.starts_with("non_ascii: PID-5.2:") && err.contains("8859/1"), "{err}");
        // Short form and defaults: PID-5.1 and PID-5.2.
        let m = check(BASE, "non_ascii: [PID-5.1]", Intent::Valid, &[]);
        assert!(m.description.starts_with("PID-5.1 = "), "{}", m.description);
        let m = check(BASE, "non_ascii: {}", Intent::Valid, &[]);
        assert!(m.description.contains("PID-5.2 = "), "{}", m.description);
    }

    #[test]
    fn charset_mismatch() {
        let m =
            check(BASE, "charset_mismatch: [PID-5.1]", Intent::Invalid, &["charset-invalid-byte"]);
        assert_eq!(text(&m.bytes, "MSH-18"), "UNICODE UTF-8");
        check(
            LATIN1_BASE,
            "charset_mismatch: [PID-5.2]",
            Intent::Invalid,
            &["charset-invalid-byte"],
        );
    }

    #[test]
    fn escaped_delimiters() {
        let m = check(BASE, "escaped_delimiters: [PID-5.1]", Intent::Valid, &[]);
        assert_eq!(text(&m.bytes, "PID-5.1"), "A|B^C~D\\E&F");
        assert!(
            m.bytes.windows(5).any(|w| w == b"A\\F\\B"),
            "{}",
            String::from_utf8_lossy(&m.bytes)
        );
        assert_eq!(text(&m.bytes, "PID-5.2"), "John");
    }

    #[test]
    fn custom_delimiters_never_escape_coded_header_values() {
        let utf8 = b"MSH|^~\\&|S|F|R|F|20240101120000+0100||ADT^A04^ADT_A01|M-1|P|2.5.1||||||UNICODE UTF-8\rPID|1||1||Doe^Jo\r";
        for seed in 0..200 {
            let m =
                apply(utf8, &mutation("custom_delimiters: { random: true }"), Seed(seed)).unwrap();
            let after = Message::parse(&m.bytes).unwrap();
            assert_eq!(after.character_set(), Some(&b"UNICODE UTF-8"[..]), "seed {seed}");
            assert_eq!(after.version(), Some("2.5.1"), "seed {seed}");
        }
        let clash = error(utf8, "custom_delimiters: { delimiters: \"$%#!-\" }");
        assert!(clash.contains("coded MSH value"), "{clash}");
    }

    #[test]
    fn custom_delimiters_keep_every_value() {
        let escapes = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../corpus/edge/escapes_all_v25.hl7"
        ))
        .unwrap();
        for base in [BASE, LATIN1_BASE, &escapes] {
            for (yaml, seed) in [
                ("custom_delimiters: {}", 0),
                ("custom_delimiters: { random: true }", 7),
                ("custom_delimiters: { delimiters: \"#*@%!\" }", 0),
            ] {
                let m = apply(base, &mutation(yaml), Seed(seed)).unwrap();
                assert_eq!(m.intent, Intent::Valid);
                let before = Message::parse(base).unwrap();
                let after = Message::parse(&m.bytes).unwrap();
                assert_ne!(before.delimiters(), after.delimiters(), "{yaml}");
                let e = after.delimiters().escape.unwrap() as char;
                assert_eq!(values(base, ['\\', e]), values(&m.bytes, ['\\', e]), "{yaml}");
            }
        }
        let m = apply(BASE, &mutation("custom_delimiters: {}"), Seed(0)).unwrap();
        assert!(m.bytes.starts_with(b"MSH$%#!($SEND$"), "{}", String::from_utf8_lossy(&m.bytes));
        assert!(error(BASE, "custom_delimiters: { delimiters: \"$%#!(\", random: true }")
            .contains("not both"));
    }

    #[test]
    fn present_but_null() {
        let m = check(BASE, "present_but_null: [PID-8]", Intent::Valid, &[]);
        assert_eq!(text(&m.bytes, "PID-8"), "\"\"");
        check(BASE, "present_but_null: [PID-3]", Intent::Either, &[]);
        let m = check(BASE, "present_but_null: {}", Intent::Valid, &[]);
        assert!(m.description.starts_with("PID-8"), "{}", m.description);
    }

    #[test]
    fn empty_required() {
        let m = check(BASE, "empty_required: PID-3", Intent::Invalid, &["missing-required-field"]);
        assert!(m.description.starts_with("PID-3 emptied"), "{}", m.description);
        for seed in 0..8 {
            let m = apply(BASE, &mutation("empty_required: {}"), Seed(seed)).unwrap();
            assert_eq!(m.intent, Intent::Invalid);
            let message = Message::parse(&m.bytes).unwrap();
            let codes: Vec<_> = validate(&message, &ValidateOptions::default())
                .into_iter()
                .map(|f| f.code)
                .collect();
            assert!(codes.contains(&"missing-required-field"), "{}: {codes:?}", m.description);
        }
        assert!(error(BASE, "empty_required: PID-8").contains("not a required field in v2.5"));
    }

    #[test]
    fn truncate_fields() {
        let m = check(
            BASE,
            "truncate_fields: { segment: PID, keep: 2 }",
            Intent::Invalid,
            &["missing-required-field"],
        );
        assert!(contains(&m.bytes, b"\rPID|1|\r"), "{}", String::from_utf8_lossy(&m.bytes));
        let m = check(BASE, "truncate_fields: { segment: PID, keep: 5 }", Intent::Valid, &[]);
        assert!(contains(&m.bytes, b"\rPID|1||123^^^HOSP^MR||Doe^John\r"));
        assert!(!m.bytes.windows(8).any(|w| w == b"19800101"));
        assert!(
            error(BASE, "truncate_fields: { segment: PID, keep: 8 }").contains("keep from 1 to 7")
        );
    }

    #[test]
    fn remove_field() {
        let m = check(BASE, "remove_field: PID-1", Intent::Invalid, &["missing-required-field"]);
        assert_eq!(text(&m.bytes, "PID-2"), "123^^^HOSP^MR");
        assert!(error(BASE, "remove_field: PID-8").contains("nothing after it would shift"));
        for seed in 0..8 {
            let m = apply(BASE, &mutation("remove_field: {}"), Seed(seed)).unwrap();
            assert_eq!(m.intent, Intent::Invalid);
            assert!(m.bytes.len() < BASE.len() || m.description.contains("removed"));
        }
    }

    #[test]
    fn drop_required_segment() {
        let m = check(
            BASE,
            "drop_required_segment: PID",
            Intent::Invalid,
            &["missing-required-segment"],
        );
        assert!(!m.bytes.windows(4).any(|w| w == b"PID|"));
        check(BASE, "drop_required_segment: {}", Intent::Invalid, &["missing-required-segment"]);
        let err = error(BASE, "drop_required_segment: PV2");
        assert!(err.contains("not a required segment") && err.contains("EVN PID PV1"), "{err}");
    }

    #[test]
    fn segment_order_and_copies() {
        let m =
            check(BASE, "reorder_segments: EVN", Intent::Invalid, &["missing-required-segment"]);
        assert!(m.description.starts_with("EVN and PID swapped"), "{}", m.description);
        let m = check(BASE, "duplicate_segment: PID", Intent::Either, &[]);
        assert_eq!(m.bytes.windows(4).filter(|w| w == b"PID|").count(), 2);
        let m = check(BASE, "duplicate_segment: {}", Intent::Either, &[]);
        assert!(m.description.contains("may not repeat"), "{}", m.description);
        let m = check(BASE, "unknown_segment: {}", Intent::Either, &[]);
        assert!(m.bytes.windows(4).any(|w| w == b"XQX|"));
        assert!(error(BASE, "unknown_segment: ZAB").contains("use z_segment"));
        assert!(error(BASE, "unknown_segment: NK1").contains("the standard defines"));
        let m = check(BASE, "z_segment: ZPI", Intent::Valid, &[]);
        assert!(
            m.bytes.starts_with(BASE)
                && m.bytes[BASE.len()..].starts_with(b"ZPI|1|harness^generated^")
        );
        assert!(error(BASE, "z_segment: PID").contains("not a Z-segment"));
    }

    #[test]
    fn timestamp_variants() {
        let cases = [
            ("reduced_precision", Intent::Valid, "202401011200"),
            ("time_zone", Intent::Valid, "20240101120000-0500"),
            ("fraction", Intent::Valid, "20240101120000."),
            ("components", Intent::Either, "20240101120000^S"),
        ];
        for (variant, intent, prefix) in cases {
            let yaml = format!("timestamp_variants: {{ variant: {variant} }}");
            let m = apply(BASE, &mutation(&yaml), Seed(1)).unwrap();
            assert_eq!(m.intent, intent, "{variant}");
            let message = Message::parse(&m.bytes).unwrap();
            let raw = message.get(&Path::parse("MSH-7").unwrap()).unwrap().as_bytes().to_vec();
            let raw = String::from_utf8(raw).unwrap();
            if variant == "time_zone" {
                assert!(raw.len() == 19 && raw.starts_with("20240101120000"), "{raw}");
            } else {
                assert!(raw.starts_with(prefix), "{variant}: {raw}");
            }
        }
        let m = check(
            BASE,
            "timestamp_variants: { field: PID-7, variant: reduced_precision }",
            Intent::Valid,
            &[],
        );
        assert_eq!(text(&m.bytes, "PID-7"), "19800101");
    }

    #[test]
    fn separators() {
        let m = check(BASE, "lf_separators", Intent::Invalid, &["lf-segment-separator"]);
        assert!(!m.bytes.contains(&b'\r') && m.bytes.ends_with(b"\n"));
        let m = check(BASE, "crlf_separators", Intent::Invalid, &["crlf-segment-separator"]);
        assert_eq!(m.bytes.windows(2).filter(|w| w == b"\r\n").count(), 4);
    }

    #[test]
    fn long_values_and_repetitions() {
        let m = check(BASE, "long_field: { length: 1000 }", Intent::Either, &[]);
        assert_eq!(text(&m.bytes, "PID-5.1").len(), 1000);
        assert!(error(BASE, "long_field: { length: 0 }").contains("between 1 and"));
        let m = check(BASE, "many_repetitions: { field: PID-3, count: 5 }", Intent::Either, &[]);
        assert_eq!(text(&m.bytes, "PID-3[5].4"), "HOSP");
        let message = Message::parse(&m.bytes).unwrap();
        assert_eq!(message.get(&Path::parse("PID-3").unwrap()).unwrap().repetitions().count(), 5);
    }

    #[test]
    fn header_values() {
        let m = check(BASE, "duplicate_control_id: { control_id: OLD-1 }", Intent::Either, &[]);
        assert_eq!(text(&m.bytes, "MSH-10"), "OLD-1");
        let m = check(BASE, "duplicate_control_id: {}", Intent::Either, &[]);
        assert_eq!(m.bytes, BASE);
        let m = check(BASE, "unknown_message_type: {}", Intent::Invalid, &[]);
        assert_eq!(text(&m.bytes, "MSH-9"), "XYZ^A04^ADT_A01");
        let m = check(BASE, "unknown_trigger: { trigger: A99 }", Intent::Invalid, &[]);
        assert_eq!(text(&m.bytes, "MSH-9"), "ADT^A99^ADT_A01");
        let m = check(BASE, "unsupported_version: {}", Intent::Invalid, &["unknown-version"]);
        assert_eq!(text(&m.bytes, "MSH-12"), "9.9");
    }

    #[test]
    fn batch_wrap() {
        let m = apply(BASE, &mutation("batch_wrap: { messages: 3 }"), Seed(0)).unwrap();
        assert_eq!(m.intent, Intent::Either);
        let batch = crate::hl7::split_batch(&m.bytes).unwrap();
        assert_eq!(batch.messages.len(), 3);
        assert!(batch.findings.is_empty(), "{:?}", batch.findings);
        let ids: Vec<String> =
            batch.messages.iter().map(|r| text(&m.bytes[r.clone()], "MSH-10")).collect();
        assert_eq!(ids, ["MSG1", "MSG1-2", "MSG1-3"]);
        assert!(m.bytes.starts_with(b"FHS|^~\\&|SEND|FAC|RECV|FAC|20240101120000\rBHS|"));
        assert!(m.bytes.ends_with(b"BTS|3\rFTS|1\r"));
        let m = apply(BASE, &mutation("batch_wrap: { file_header: false }"), Seed(0)).unwrap();
        assert!(m.bytes.starts_with(b"BHS|") && m.bytes.ends_with(b"BTS|1\r"));
        let err = apply(&m.bytes, &Mutation::LfSeparators, Seed(0)).unwrap_err().to_string();
        assert!(err.contains("starts with BHS"), "{err}");
    }

    #[test]
    fn apply_all_joins_and_takes_the_strongest_intent() {
        let list: Vec<Mutation> =
            serde_yaml::from_str("[z_segment: {}, long_field: { length: 10 }, lf_separators]")
                .unwrap();
        let m = apply_all(BASE, &list, Seed(5)).unwrap();
        assert_eq!(m.intent, Intent::Invalid);
        assert_eq!(m.description.split("; ").count(), 3, "{}", m.description);
        assert_eq!(apply_all(BASE, &list[..2], Seed(5)).unwrap().intent, Intent::Either);
        assert_eq!(
            apply_all(BASE, &list[..1], Seed(5)).unwrap(),
            apply(BASE, &list[0], Seed(5)).unwrap()
        );
        let wrapped = [Mutation::from_name("batch_wrap").unwrap(), Mutation::LfSeparators];
        assert!(apply_all(BASE, &wrapped, Seed(0))
            .unwrap_err()
            .to_string()
            .contains("must be the last"));
        assert_eq!(apply_all(BASE, &[], Seed(0)).unwrap().bytes, BASE);
    }

    #[test]
    fn errors_name_the_mutation_and_path() {
        let err = error(BASE, "non_ascii: [NK1-2]");
        assert_eq!(err, "non_ascii: NK1-2: the message has 0 NK1 segment(s), not 1");
        assert!(error(BASE, "escaped_delimiters: [MSH-2]").contains("MSH-1 and MSH-2"));
        assert!(error(BASE, "present_but_null: [PID]").contains("name a field"));
        let two = [BASE, BASE].concat();
        let err = apply(&two, &Mutation::LfSeparators, Seed(0)).unwrap_err().to_string();
        assert!(err.starts_with("the base holds 2 MSH segments"), "{err}");
        let inner_fts = [BASE, b"FTS|1\rNTE|1\r"].concat();
        let err = apply(&inner_fts, &Mutation::LfSeparators, Seed(0)).unwrap_err().to_string();
        assert!(err.starts_with("the base holds the batch segment FTS (segment 5)"), "{err}");
        let err = apply(b"hello", &Mutation::LfSeparators, Seed(0)).unwrap_err().to_string();
        assert!(err.starts_with("the base message does not parse"), "{err}");
    }

    #[test]
    fn same_seed_same_bytes() {
        for (name, _) in CATALOGUE {
            let m = Mutation::from_name(name).unwrap();
            let a = apply(BASE, &m, Seed(42));
            assert_eq!(a, apply(BASE, &m, Seed(42)), "{name}");
        }
        let m = mutation("non_ascii: {}");
        let scripts: std::collections::BTreeSet<String> =
            (0..32).map(|seed| apply(BASE, &m, Seed(seed)).unwrap().description).collect();
        assert!(scripts.len() > 4, "the seed varies the text");
    }
}
