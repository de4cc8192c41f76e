//! The messages a load run sends: templates (files, a directory, a scenario's templates), each
//! optionally mutated once by the generator, then stamped per message with a fresh MSH-10 and,
//! when asked, a patient id (PID-3.1) from a fixed pool, so every message is unique and its
//! answer can be matched by MSA-2. Stamping splices bytes into a template cut once at load, so
//! building a message costs a copy, not a parse.

use crate::generator::{apply_all, Mutation};
use crate::hl7::edit::MessageBuf;
use crate::hl7::Path;
use crate::vocab::Seed;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum SourceError {
    #[error("no messages to send")]
    Empty,
    #[error("{label}: not an HL7 message: {detail}")]
    NotHl7 { label: String, detail: String },
    #[error("{label}: {detail}")]
    Mutation { label: String, detail: String },
}

/// A place in a template where a per-message value goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    ControlId,
    PatientId,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Bytes(Vec<u8>),
    Slot(Slot),
}

/// One template, cut at its slots.
#[derive(Debug, Clone)]
struct Stamped {
    label: String,
    parts: Vec<Part>,
}

/// Markers set into the slots before cutting: bytes no HL7 text holds (NUL), unique per slot.
const CONTROL_MARK: &[u8] = b"\x00hl7-harness-msh10\x00";
const PATIENT_MARK: &[u8] = b"\x00hl7-harness-pid3\x00";

impl Stamped {
    fn new(label: &str, bytes: &[u8], patients: bool) -> Result<Stamped, SourceError> {
        let not_hl7 = |detail: String| SourceError::NotHl7 { label: label.into(), detail };
        let mut buf = MessageBuf::new(bytes.to_vec()).map_err(|e| not_hl7(e.to_string()))?;
        let set = |buf: &mut MessageBuf, path: &str, mark: &[u8]| {
            let path = Path::parse(path).map_err(|e| not_hl7(e.to_string()))?;
            buf.set_raw(&path, mark).map_err(|e| not_hl7(e.to_string()))
        };
        set(&mut buf, "MSH-10", CONTROL_MARK)?;
        let has_pid = buf.message().segments().any(|s| s.id() == "PID");
        if patients && has_pid {
            set(&mut buf, "PID-3.1", PATIENT_MARK)?;
        }
        let mut parts = Vec::new();
        let mut rest = buf.as_bytes();
        while let Some((at, mark, slot)) =
            [(CONTROL_MARK, Slot::ControlId), (PATIENT_MARK, Slot::PatientId)]
                .iter()
                .filter_map(|(mark, slot)| find(rest, mark).map(|at| (at, *mark, *slot)))
                .min_by_key(|(at, _, _)| *at)
        {
            parts.push(Part::Bytes(rest[..at].to_vec()));
            parts.push(Part::Slot(slot));
            rest = &rest[at + mark.len()..];
        }
        parts.push(Part::Bytes(rest.to_vec()));
        Ok(Stamped { label: label.to_string(), parts })
    }
}

/// A byte buffer as a `fmt::Write` target: a number formatted straight into the message.
struct Bytes<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Bytes<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(haystack, needle)
}

/// How messages are made unique.
#[derive(Debug, Clone, Default)]
pub struct SourceOptions {
    /// Seeds the MSH-10 prefix, the patient ids and the mutations.
    pub seed: Seed,
    /// Patient ids (PID-3.1) cycle through this many values; 0 keeps the template's.
    pub patients: u64,
    /// Generator mutations applied to every template once, before stamping.
    pub mutations: Vec<Mutation>,
}

/// Every message of the run, by sequence number.
#[derive(Debug, Clone)]
pub struct MessageSource {
    templates: Vec<Stamped>,
    prefix: String,
    seed: Seed,
    patients: u64,
}

impl MessageSource {
    /// `templates` are (label, bytes) pairs, sent in turn.
    pub fn new(
        templates: &[(String, Vec<u8>)],
        options: &SourceOptions,
    ) -> Result<MessageSource, SourceError> {
        if templates.is_empty() {
            return Err(SourceError::Empty);
        }
        let mut stamped = Vec::new();
        for (label, bytes) in templates {
            let bytes = if options.mutations.is_empty() {
                bytes.clone()
            } else {
                apply_all(bytes, &options.mutations, options.seed)
                    .map_err(|e| SourceError::Mutation {
                        label: label.clone(),
                        detail: e.to_string(),
                    })?
                    .bytes
            };
            stamped.push(Stamped::new(label, &bytes, options.patients > 0)?);
        }
        Ok(MessageSource {
            templates: stamped,
            // At most 7 characters, leaving 13 digits of sequence within MSH-10's 20.
            prefix: format!("L{:X}-", options.seed.0 & 0xF_FFFF),
            seed: options.seed,
            patients: options.patients,
        })
    }

    /// The MSH-10 of message `seq`.
    pub fn control_id(&self, seq: u64) -> String {
        format!("{}{seq}", self.prefix)
    }

    /// The label of the template message `seq` is made from.
    pub fn label(&self, seq: u64) -> &str {
        &self.templates[(seq % self.templates.len() as u64) as usize].label
    }

    /// Message `seq`: its MSH-10 and its bytes. The same seed and sequence give the same bytes.
    pub fn message(&self, seq: u64) -> (String, Vec<u8>) {
        let (mut control_id, mut bytes) = (String::new(), Vec::new());
        self.write_message(seq, &mut control_id, &mut bytes);
        (control_id, bytes)
    }

    /// Message `seq` as [`MessageSource::message`] makes it, written into buffers the caller
    /// keeps (cleared first), so a connection sending thousands of messages a second reuses
    /// two allocations instead of making three per message.
    pub fn write_message(&self, seq: u64, control_id: &mut String, bytes: &mut Vec<u8>) {
        use std::fmt::Write;
        control_id.clear();
        bytes.clear();
        // Writing into a String cannot fail.
        let _ = write!(control_id, "{}{seq}", self.prefix);
        let template = &self.templates[(seq % self.templates.len() as u64) as usize];
        for part in &template.parts {
            match part {
                Part::Bytes(b) => bytes.extend_from_slice(b),
                Part::Slot(Slot::ControlId) => bytes.extend_from_slice(control_id.as_bytes()),
                Part::Slot(Slot::PatientId) => {
                    let patient = self.seed.offset(seq).0 % self.patients.max(1);
                    let _ = write!(Bytes(bytes), "LP{patient}");
                }
            }
        }
    }

    pub fn templates(&self) -> usize {
        self.templates.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hl7::Message;

    const A04: &str = "MSH|^~\\&|EHR|HOSP|HARNESS|FAC|20240101||ADT^A04^ADT_A01|M1|P|2.6\rEVN|A04|20240101\rPID|1||C1^^^EHR^PI||Doe^Jo\rPV1|1|O\r";

    fn get(bytes: &[u8], path: &str) -> String {
        let m = Message::parse(bytes).unwrap();
        let v = m.get(&Path::parse(path).unwrap()).unwrap();
        m.text(&v).into_owned()
    }

    fn source(patients: u64) -> MessageSource {
        let options = SourceOptions { seed: Seed(7), patients, mutations: Vec::new() };
        MessageSource::new(&[("a04".into(), A04.as_bytes().to_vec())], &options).unwrap()
    }

    #[test]
    fn each_message_gets_a_fresh_control_id_and_a_pooled_patient() {
        let s = source(3);
        let (id1, m1) = s.message(1);
        let (id2, m2) = s.message(2);
        assert_eq!((id1.as_str(), id2.as_str()), ("L7-1", "L7-2"));
        assert_eq!(get(&m1, "MSH-10"), "L7-1");
        assert_eq!(get(&m2, "MSH-10"), "L7-2");
        assert_eq!(get(&m1, "PID-3.1"), "LP2");
        assert_eq!(get(&m1, "PID-3.4"), "EHR", "only PID-3.1 changes");
        assert_eq!(get(&s.message(4).1, "PID-3.1"), "LP2", "the pool cycles");
        assert_eq!(s.message(1).1, m1, "same seed, same bytes");
        let (mut id, mut bytes) = ("stale".to_string(), b"stale".to_vec());
        s.write_message(2, &mut id, &mut bytes);
        assert_eq!((id, bytes), (id2, m2), "reused buffers give the same message");
        assert!(s.control_id(u64::MAX / 1000).len() <= 20);
    }

    #[test]
    fn patients_zero_keeps_the_template_id() {
        assert_eq!(get(&source(0).message(5).1, "PID-3.1"), "C1");
    }

    #[test]
    fn rejects_empty_and_non_hl7_input() {
        let options = SourceOptions::default();
        assert!(matches!(MessageSource::new(&[], &options), Err(SourceError::Empty)));
        let junk = [("junk".to_string(), b"hello".to_vec())];
        assert!(MessageSource::new(&junk, &options).unwrap_err().to_string().contains("junk"));
    }
}
