//! The engine's state and its accept path: routing and mapping an input, journaling it, queueing
//! its outputs, answering the source; and the restart that queues again every output the
//! outcome journal does not close.

use super::compact::{compact, OpenInputs};
use super::defect::{mangle_charset, mangle_escapes, EngineDefect, EngineDefects};
use super::forward::{DestinationQueue, Outgoing};
use super::mapping::{apply, MappingError};
use super::routes::{ControlIdMode, Routes};
use crate::hl7::ack::{AckBuilder, AckCode, AckError, AckMode, ErrorCondition};
use crate::hl7::edit::MessageBuf;
use crate::hl7::{Message, Path as FieldPath};
use crate::target::journal::{read_journal_sequenced, Journal, JournalError};
use crate::target::log::Log;
use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;
use thiserror::Error;

/// The file of accepted inputs in the journal folder.
pub const INBOX_FILE: &str = "inbox.journal";
/// The file of closed outputs (delivered or given up) in the journal folder.
pub const OUTCOMES_FILE: &str = "outcomes.journal";

#[derive(Debug, Error)]
pub enum EngineError {
    #[error("journal folder {path}: {source}")]
    Folder {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("{path}: outcome record {index} is not `delivered|dead SEQ N DEST`")]
    Outcome { path: String, index: usize },
}

/// What happened to one input, as the source's ACK says it and the log names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Journaled and queued for this many outputs (AA / CA).
    Accepted { sequence: u64, outputs: usize },
    /// No route takes its message type (AA / CA: a filter is the engine doing its job).
    Filtered,
    /// A mapping failed (AE / CE): nothing journaled or forwarded.
    MappingFailed(String),
    /// A destination's queue was full or the journal write failed (AR / CE): nothing kept, the
    /// source is to send it again.
    Refused(String),
    /// Answered AA and dropped (the `aa-then-drop` defect).
    Dropped,
}

/// Counters a test or the log reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineCounts {
    pub accepted: u64,
    pub filtered: u64,
    pub refused: u64,
    pub mapping_failed: u64,
    /// Outputs queued again from the journal at start.
    pub resumed: u64,
}

struct Journals {
    inbox: Journal,
    outcomes: Journal,
    /// The sequence number of the last input journaled.
    sequence: u64,
    /// Inputs a route took, for `aa-then-drop`'s every third.
    taken: u64,
    /// Journaled inputs with outputs still open, for compaction.
    open: OpenInputs,
    counts: EngineCounts,
}

/// The engine: its routes, journals and destination queues. Shared by the input connections
/// and the forwarders.
pub struct Engine {
    routes: Routes,
    defects: EngineDefects,
    log: Log,
    journals: Mutex<Journals>,
    queues: Vec<Arc<DestinationQueue>>,
    ack_counter: AtomicU64,
}

/// One output of an input, before it is queued.
struct Output {
    destination: usize,
    number: u32,
    payload: Vec<u8>,
    control_id: String,
}

impl Engine {
    /// Opens (or creates) the journal folder and queues again every output that was accepted
    /// but neither delivered nor given up before.
    pub fn open(
        routes: Routes,
        journal_dir: &Path,
        defects: EngineDefects,
        log: Log,
    ) -> Result<Engine, EngineError> {
        std::fs::create_dir_all(journal_dir).map_err(|source| EngineError::Folder {
            path: journal_dir.display().to_string(),
            source,
        })?;
        let inbox_path = journal_dir.join(INBOX_FILE);
        let outcomes_path = journal_dir.join(OUTCOMES_FILE);
        let inputs = read_sequenced(&inbox_path)?;
        let closed = read_outcomes(&outcomes_path)?;
        let queues = routes
            .destinations
            .iter()
            .map(|d| Arc::new(DestinationQueue::new(d.clone())))
            .collect();
        let sequence = inputs.last().map_or(0, |(s, _)| *s);
        let mut resumed_outputs = Vec::new();
        let mut open = OpenInputs::default();
        for (sequence, payload) in &inputs {
            match outputs_of(&routes, &defects, *sequence, payload) {
                Ok(outputs) => {
                    let left: Vec<Output> = outputs
                        .into_iter()
                        .filter(|o| !closed.contains(&(*sequence, o.number)))
                        .collect();
                    open.opened(*sequence, u32::try_from(left.len()).unwrap_or(u32::MAX));
                    resumed_outputs.extend(left.into_iter().map(|o| (*sequence, o)));
                }
                Err(err) => {
                    // Kept in the journal (never compacted away): the route file may be
                    // mended and the engine started again.
                    open.opened(*sequence, 1);
                    log.line(format_args!(
                        "engine: journaled input {sequence} no longer maps ({err}); not forwarded"
                    ));
                }
            }
        }
        // More than the last input closed: drop them before this run appends to the files.
        if inputs.len() > open.open_count() + 1 {
            let done = compact(&inbox_path, &outcomes_path, &mut open)?;
            log.line(format_args!(
                "engine: journal compacted: {} closed input(s) and {} outcome record(s) dropped, {} input(s) kept",
                done.inputs_dropped, done.outcomes_dropped, done.inputs_kept
            ));
        }
        let (inbox, _) = Journal::open(&inbox_path)?;
        let (outcomes, _) = Journal::open(&outcomes_path)?;
        let resumed = resumed_outputs.len() as u64;
        let engine = Engine {
            routes,
            defects,
            log,
            journals: Mutex::new(Journals {
                inbox,
                outcomes,
                sequence,
                taken: 0,
                open,
                counts: EngineCounts { resumed, ..EngineCounts::default() },
            }),
            queues,
            ack_counter: AtomicU64::new(0),
        };
        for (sequence, output) in resumed_outputs {
            engine.queues[output.destination].push(engine.outgoing(sequence, output));
        }
        if resumed > 0 {
            engine
                .log
                .line(format_args!("engine: {resumed} output(s) queued again from the journal"));
        }
        Ok(engine)
    }

    pub fn routes(&self) -> &Routes {
        &self.routes
    }

    pub fn defects(&self) -> &EngineDefects {
        &self.defects
    }

    pub fn log(&self) -> &Log {
        &self.log
    }

    pub fn queues(&self) -> &[Arc<DestinationQueue>] {
        &self.queues
    }

    pub fn counts(&self) -> EngineCounts {
        self.lock().counts.clone()
    }

    fn lock(&self) -> MutexGuard<'_, Journals> {
        self.journals.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes one input and returns the ACK for the source (`None` when the bytes are not an HL7
    /// message: without an MSH there is nothing to address an ACK to) and what was done.
    pub fn accept(&self, payload: &[u8]) -> (Option<Vec<u8>>, Verdict) {
        let Ok(message) = Message::parse(payload) else {
            self.log.line(format_args!("engine: input is not an HL7 message; not answered"));
            return (None, Verdict::Refused("not an HL7 message".into()));
        };
        let verdict = self.route(payload);
        let control = message.control_id().unwrap_or_default().to_string();
        self.log.line(format_args!("engine: input {control:?}: {verdict:?}"));
        let mode = AckMode::of(&message);
        let (code, error) = match &verdict {
            Verdict::Accepted { .. } | Verdict::Filtered | Verdict::Dropped => {
                (accept_code(mode), None)
            }
            Verdict::MappingFailed(text) => (
                error_code(mode, AckCode::ApplicationError),
                Some(AckError::new(ErrorCondition::ApplicationInternalError).with_text(text)),
            ),
            Verdict::Refused(text) => (
                error_code(mode, AckCode::ApplicationReject),
                Some(AckError::new(ErrorCondition::ApplicationInternalError).with_text(text)),
            ),
        };
        let id = format!("ENG{:08}", self.ack_counter.fetch_add(1, Ordering::Relaxed) + 1);
        let timestamp = crate::utc::hl7_timestamp(SystemTime::now());
        let mut builder = AckBuilder::new(&message, code, id, timestamp);
        if let Some(error) = error {
            builder = builder.error(error);
        }
        (Some(builder.build()), verdict)
    }

    fn route(&self, payload: &[u8]) -> Verdict {
        let mut journals = self.lock();
        let sequence = journals.sequence + 1;
        let outputs = match self.outputs(sequence, payload) {
            Ok(outputs) if outputs.is_empty() => {
                journals.counts.filtered += 1;
                return Verdict::Filtered;
            }
            Ok(outputs) => outputs,
            Err(err) => {
                journals.counts.mapping_failed += 1;
                return Verdict::MappingFailed(err.to_string());
            }
        };
        journals.taken += 1;
        if self.defects.has(EngineDefect::AaThenDrop) && journals.taken % 3 == 0 {
            return Verdict::Dropped;
        }
        // Room in every queue first: an input is kept whole or not at all.
        let full: Vec<usize> =
            outputs.iter().map(|o| o.destination).filter(|&d| self.queues[d].is_full()).collect();
        let dropping = self.defects.has(EngineDefect::DropOnFullQueue);
        if !full.is_empty() && !dropping {
            journals.counts.refused += 1;
            let names: Vec<_> =
                full.iter().map(|&d| self.routes.destinations[d].name.as_str()).collect();
            return Verdict::Refused(format!(
                "queue full for {}; send it again later",
                names.join(", ")
            ));
        }
        let count = outputs.len();
        let queue = |outputs: Vec<Output>| {
            for output in outputs {
                if !full.contains(&output.destination) {
                    self.queues[output.destination].push(self.outgoing(sequence, output));
                }
            }
        };
        let early = self.defects.has(EngineDefect::ForwardBeforeJournal);
        let mut outputs = Some(outputs);
        if early {
            queue(outputs.take().unwrap_or_default());
        }
        if let Err(err) = journals.inbox.append(sequence, payload) {
            journals.counts.refused += 1;
            self.log.line(format_args!("engine: {err}"));
            return Verdict::Refused(format!("the message could not be journaled: {err}"));
        }
        journals.sequence = sequence;
        journals.counts.accepted += 1;
        journals.open.opened(sequence, u32::try_from(count).unwrap_or(u32::MAX));
        if let Some(outputs) = outputs {
            queue(outputs);
        }
        Verdict::Accepted { sequence, outputs: count }
    }

    fn outgoing(&self, sequence: u64, output: Output) -> Outgoing {
        Outgoing {
            sequence,
            number: output.number,
            payload: output.payload,
            control_id: output.control_id,
        }
    }

    fn outputs(&self, sequence: u64, payload: &[u8]) -> Result<Vec<Output>, MappingError> {
        outputs_of(&self.routes, &self.defects, sequence, payload)
    }

    /// Journals that an output was delivered (`dead`: given up) so a restart does not send it
    /// again. A failed write is logged: the output is then sent again after a restart, which a
    /// destination recognises by its MSH-10 (at least once, never lost).
    pub fn close_output(&self, destination: usize, item: &Outgoing, dead: bool) {
        let word = if dead { "dead" } else { "delivered" };
        let name = &self.routes.destinations[destination].name;
        let record = format!("{word} {} {} {name}", item.sequence, item.number);
        let mut journals = self.lock();
        if let Err(err) = journals.outcomes.append(item.sequence, record.as_bytes()) {
            self.log.line(format_args!("engine: {err}"));
            return;
        }
        if journals.open.output_closed(item.sequence) {
            self.compact(&mut journals);
        }
    }

    /// Drops closed inputs from both journals and opens the rewritten files for appending.
    /// A failure leaves the old files (each is replaced whole) and is logged: the engine goes
    /// on appending to whichever files are in place.
    fn compact(&self, journals: &mut Journals) {
        let inbox = journals.inbox.path().to_path_buf();
        let outcomes = journals.outcomes.path().to_path_buf();
        let result = compact(&inbox, &outcomes, &mut journals.open).and_then(|done| {
            journals.inbox = Journal::open(&inbox)?.0;
            journals.outcomes = Journal::open(&outcomes)?.0;
            Ok(done)
        });
        match result {
            Ok(done) => self.log.line(format_args!(
                "engine: journal compacted: {} closed input(s) and {} outcome record(s) dropped, {} input(s) kept",
                done.inputs_dropped, done.outcomes_dropped, done.inputs_kept
            )),
            Err(err) => self.log.line(format_args!("engine: journal compaction failed: {err}")),
        }
    }
}

/// Every output of an input: per route that takes it (in file order), per destination of the
/// route (in the route's order). Pure.
fn outputs_of(
    routes: &Routes,
    defects: &EngineDefects,
    sequence: u64,
    payload: &[u8],
) -> Result<Vec<Output>, MappingError> {
    let message = Message::parse(payload).map_err(|e| MappingError::Unreadable(e.to_string()))?;
    let (code, event) = (message.message_code(), message.trigger_event());
    let mut outputs = Vec::new();
    let mut number = 0u32;
    for route in &routes.routes {
        let takes =
            route.messages.is_empty() || route.messages.iter().any(|m| m.matches(code, event));
        if !takes {
            continue;
        }
        let mapped = apply(&route.mappings, payload)?;
        for &destination in &route.to {
            number += 1;
            let (payload, control_id) = match routes.control_id {
                ControlIdMode::Keep => {
                    let id = Message::parse(&mapped)
                        .ok()
                        .and_then(|m| m.control_id().map(str::to_string))
                        .unwrap_or_default();
                    (mapped.clone(), id)
                }
                ControlIdMode::Engine => {
                    let id = format!("E{sequence}.{number}");
                    (with_control_id(&mapped, &id), id)
                }
            };
            let payload = mangled(defects, payload);
            outputs.push(Output { destination, number, payload, control_id });
        }
    }
    Ok(outputs)
}

/// The output bytes as the `mangle-*` defects spoil them (unchanged without them).
fn mangled(defects: &EngineDefects, payload: Vec<u8>) -> Vec<u8> {
    let payload = match defects.has(EngineDefect::MangleEscape) {
        true => mangle_escapes(&payload),
        false => payload,
    };
    match defects.has(EngineDefect::MangleCharset) {
        true => mangle_charset(&payload),
        false => payload,
    }
}

/// `payload` with MSH-10 set to `id` (the payload unchanged when that cannot be done, which a
/// mapped message that parsed never hits).
pub fn with_control_id(payload: &[u8], id: &str) -> Vec<u8> {
    let (Ok(mut buf), Ok(path)) = (MessageBuf::new(payload.to_vec()), FieldPath::parse("MSH-10"))
    else {
        return payload.to_vec();
    };
    match buf.set(&path, id) {
        Ok(()) => buf.into_bytes(),
        Err(_) => payload.to_vec(),
    }
}

fn accept_code(mode: AckMode) -> AckCode {
    match mode {
        AckMode::Original => AckCode::ApplicationAccept,
        AckMode::Enhanced => AckCode::CommitAccept,
    }
}

/// The negative code: `original` in original mode, CE in enhanced mode (the engine's answer is
/// the accept acknowledgment: it commits to deliver, it does not process).
fn error_code(mode: AckMode, original: AckCode) -> AckCode {
    match mode {
        AckMode::Original => original,
        AckMode::Enhanced => AckCode::CommitError,
    }
}

/// The records of a journal file with their sequence numbers (none when it does not exist).
fn read_sequenced(path: &Path) -> Result<Vec<(u64, Vec<u8>)>, EngineError> {
    if !path.is_file() {
        return Ok(Vec::new());
    }
    Ok(read_journal_sequenced(path)?)
}

/// The (sequence, output number) pairs the outcome journal closes.
fn read_outcomes(path: &Path) -> Result<HashSet<(u64, u32)>, EngineError> {
    let mut closed = HashSet::new();
    for (index, (_, record)) in read_sequenced(path)?.into_iter().enumerate() {
        let text = String::from_utf8_lossy(&record);
        let mut words = text.splitn(4, ' ');
        let word = words.next();
        let sequence = words.next().and_then(|w| w.parse().ok());
        let number = words.next().and_then(|w| w.parse().ok());
        match (word, sequence, number) {
            (Some("delivered" | "dead"), Some(s), Some(n)) => {
                closed.insert((s, n));
            }
            _ => return Err(EngineError::Outcome { path: path.display().to_string(), index }),
        }
    }
    Ok(closed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::engine::routes::parse_routes;

    const ROUTES: &str = "destinations:\n  A: {url: mllp://127.0.0.1:9}\nroutes:\n  - name: adt\n    \
                          messages: [ADT]\n    to: [A]\n    mappings:\n      - set: {path: PID-5, value: \"\u{f8}\"}\n";

    fn engine(name: &str) -> Engine {
        let dir =
            std::env::temp_dir().join(format!("hl7-engine-core-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let routes = parse_routes(ROUTES, "r.yaml").unwrap();
        Engine::open(routes, &dir, EngineDefects::default(), Log::kept()).unwrap()
    }

    fn check(engine: &Engine, message: &str, msa1: Option<&str>, verdict: fn(&Verdict) -> bool) {
        let (ack, got) = engine.accept(message.as_bytes());
        let code = ack.and_then(|a| crate::hl7::ack::ReceivedAck::parse(&a)).map(|a| a.msa1);
        assert_eq!(code.as_deref(), msa1, "{message}");
        assert!(verdict(&got), "{got:?}");
    }

    #[test]
    fn each_input_gets_the_answer_its_verdict_calls_for() {
        let e = engine("verdicts");
        // ø cannot be written in ASCII (no MSH-18): the mapping fails, AE, nothing kept.
        let adt = "MSH|^~\\&|A|B|C|D|20240101||ADT^A01|M1|P|2.5\rPID|1||X||Doe\r";
        check(&e, adt, Some("AE"), |v| matches!(v, Verdict::MappingFailed(_)));
        let utf8 = adt.replace("|2.5\r", "|2.5||||||UNICODE UTF-8\r");
        check(&e, &utf8, Some("AA"), |v| {
            matches!(v, Verdict::Accepted { sequence: 1, outputs: 1 })
        });
        // Enhanced mode: the engine's answer is the accept acknowledgment.
        let enhanced = utf8.replace("|2.5||||||", "|2.5|||AL|NE||");
        check(&e, &enhanced, Some("CA"), |v| matches!(v, Verdict::Accepted { sequence: 2, .. }));
        let oru = "MSH|^~\\&|A|B|C|D|20240101||ORU^R01|M2|P|2.5\rPID|1\r";
        check(&e, oru, Some("AA"), |v| *v == Verdict::Filtered);
        check(&e, "not hl7", None, |v| matches!(v, Verdict::Refused(_)));
        assert_eq!(e.queues()[0].len(), 2);
        let counts = e.counts();
        assert_eq!((counts.accepted, counts.filtered, counts.mapping_failed), (2, 1, 1));
    }

    #[test]
    fn a_damaged_outcome_record_stops_the_start() {
        let dir = std::env::temp_dir().join(format!("hl7-engine-core-{}-bad", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (mut outcomes, _) = Journal::open(&dir.join(OUTCOMES_FILE)).unwrap();
        outcomes.append(1, b"delivered x").unwrap();
        let routes = parse_routes(ROUTES, "r.yaml").unwrap();
        let err = Engine::open(routes, &dir, EngineDefects::default(), Log::kept()).err().unwrap();
        assert!(err.to_string().contains("outcome record 0"), "{err}");
    }

    #[test]
    fn a_start_drops_closed_inputs_and_resumes_only_open_outputs() {
        let dir =
            std::env::temp_dir().join(format!("hl7-engine-core-{}-compact", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let routes = || parse_routes(ROUTES, "r.yaml").unwrap();
        let utf8 = |id: &str| {
            format!("MSH|^~\\&|A|B|C|D|20240101||ADT^A01|{id}|P|2.5||||||UNICODE UTF-8\rPID|1\r")
        };
        {
            let engine =
                Engine::open(routes(), &dir, EngineDefects::default(), Log::kept()).unwrap();
            for id in ["M1", "M2", "M3", "M4"] {
                let (_, verdict) = engine.accept(utf8(id).as_bytes());
                assert!(matches!(verdict, Verdict::Accepted { .. }), "{verdict:?}");
            }
            // 1, 2 and 4 delivered; 3 still open.
            let queue = &engine.queues()[0];
            let items: Vec<Outgoing> = (0..4).filter_map(|_| queue.pop_now()).collect();
            assert_eq!(items.len(), 4);
            for item in items.iter().filter(|i| i.sequence != 3) {
                engine.close_output(0, item, false);
            }
        }
        let engine = Engine::open(routes(), &dir, EngineDefects::default(), Log::kept()).unwrap();
        assert_eq!(engine.counts().resumed, 1, "only input 3's output is queued again");
        let inbox = read_journal_sequenced(&dir.join(INBOX_FILE)).unwrap();
        let kept: Vec<u64> = inbox.iter().map(|(s, _)| *s).collect();
        assert_eq!(kept, [3, 4], "closed inputs dropped; the last kept for its sequence");
        let outcomes = read_journal_sequenced(&dir.join(OUTCOMES_FILE)).unwrap();
        assert_eq!(outcomes.len(), 1, "only input 4's outcome is still needed");
        // A new input continues the numbering.
        let (_, verdict) = engine.accept(utf8("M5").as_bytes());
        assert!(matches!(verdict, Verdict::Accepted { sequence: 5, .. }), "{verdict:?}");
    }
}
