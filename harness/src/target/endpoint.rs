//! The reference endpoint's message handling, transport-independent: every received message is
//! appended to the journal (written and synced before the ACK is sent, so "nothing lost" can be
//! checked across restarts), answered by [`responder`](super::responder) and, when accepted,
//! applied to the [`ClientFeed`]. A restart replays the journal, so state and duplicate
//! detection survive it.

use super::brief_lock::lock_brief;
use super::client_feed::{ClientFeed, Effect, Reading, TextMode};
use super::defect::{Defect, Defects};
pub use super::group_commit::SyncMode;
use super::group_commit::{GroupJournal, Pending};
use super::journal::unix_millis;
pub use super::journal::{read_journal, JournalError};
use super::plays::Played;
use super::receipts::{Applied, Receipts, Received};
pub use super::receipts::{Receipt, MAX_RECEIPTS};
use super::responder::{
    acknowledge, acknowledge_original, cap_errors, decide, wants_ack, Decision, ResponderConfig,
};
use crate::hl7::ack::{msa_raw, AckBuilder, AckCode, AckError, AckMode, ErrorCondition};
use crate::hl7::edit::MessageBuf;
use crate::hl7::encode::{decode_segments, encode_segments};
use crate::hl7::Delimiters;
use crate::hl7::{Message, Path as Hl7Path};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::SystemTime;

/// What handling one payload produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handled {
    /// The acknowledgment to send, if any.
    pub ack: Option<Vec<u8>>,
    pub decision: Option<Decision>,
    pub effects: Vec<Effect>,
    /// Why no acknowledgment could be built (the payload is not an HL7 message).
    pub unreadable: Option<String>,
}

pub struct Endpoint {
    config: ResponderConfig,
    /// The client feed and the log of what was applied to it, under one lock: a message is
    /// applied and logged as applied at once, so the log's order is the order of application.
    /// On cache lines of its own (as is `sequence`): every message writes them, and the
    /// fields read with every message (the config, the defects) must not share a line that
    /// another core has just written. A message takes it with [`lock_brief`], which yields
    /// the core rather than sleeping while another connection's thread holds it.
    state: OwnLines<Mutex<State>>,
    /// How the feed reads values ([`ClientFeed::text_mode`]), known without its lock so that
    /// a message is read before the feed is locked.
    text_mode: TextMode,
    journal: Option<GroupJournal>,
    sequence: OwnLines<AtomicU64>,
    /// Acknowledgments about to be sent over MLLP, for `drops-every-tenth-ack`.
    answers: AtomicU64,
    defects: Defects,
    /// Where the servers of this endpoint log (standard error unless the caller chose).
    log: super::log::Log,
    /// The judge of the message profiles it plays (`serve --profile`), if any.
    played: Option<Played>,
}

/// A value on cache lines of its own (128 bytes: the pair of lines a core fetches together),
/// so that writing it does not take from another core a line that holds what that core reads.
#[derive(Debug, Default)]
#[repr(align(128))]
struct OwnLines<T>(T);

impl<T> std::ops::Deref for OwnLines<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> std::ops::DerefMut for OwnLines<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

/// What messages change: the feed, the MSH-10 of every message applied to it (in the order it
/// was applied) and the receipt of every message received. One lock for all three: a message
/// takes it once, to be applied and receipted, because on a few cores serving many connections
/// taking a lock another core held last costs as much as the work under it (on 2026-12-04's
/// two cores, 16 connections: a second lock per message with nothing done under it cost the
/// threaded endpoint about 7% of its rate, keeping the receipt under it about 7% more).
#[derive(Debug, Default)]
struct State {
    feed: ClientFeed,
    applied: Applied,
    receipts: Receipts,
}

/// A connection's message that an endpoint with `applies-out-of-order` acknowledged but has not
/// applied yet; the correct endpoint never holds one.
#[derive(Debug, Default)]
pub struct Held(Option<Vec<u8>>);

impl State {
    /// Applies `message`, read as `reading`, to the feed and logs `control_id` as applied
    /// unless it was a resend.
    fn apply(
        &mut self,
        message: &Message<'_>,
        reading: Reading<'_>,
        control_id: &str,
    ) -> Vec<Effect> {
        let effects = self.feed.apply_read(message, reading);
        if !effects.contains(&Effect::Duplicate) {
            self.applied.log(control_id);
        }
        effects
    }
}

impl Endpoint {
    /// An endpoint without a journal.
    pub fn new(config: ResponderConfig) -> Endpoint {
        Endpoint {
            config,
            state: OwnLines(Mutex::new(State::default())),
            text_mode: TextMode::default(),
            journal: None,
            sequence: OwnLines(AtomicU64::new(0)),
            answers: AtomicU64::new(0),
            defects: Defects::none(),
            log: super::log::Log::default(),
            played: None,
        }
    }

    /// An endpoint journaling to `path`; messages already in the journal are applied again
    /// (without new entries) so the state is what it was before the restart.
    /// Records that arrive together share a sync (group commit).
    pub fn with_journal(config: ResponderConfig, path: &Path) -> Result<Endpoint, JournalError> {
        Endpoint::with_journal_syncing(config, path, SyncMode::Group)
    }

    /// As [`Endpoint::with_journal`], making records durable as `mode` says.
    pub fn with_journal_syncing(
        config: ResponderConfig,
        path: &Path,
        mode: SyncMode,
    ) -> Result<Endpoint, JournalError> {
        let mut endpoint = Endpoint::new(config);
        endpoint.open_journal(path, mode)?;
        Ok(endpoint)
    }

    /// Opens the journal at `path` and applies what it holds again (without new entries).
    fn open_journal(&mut self, path: &Path, mode: SyncMode) -> Result<(), JournalError> {
        let (journal, previous) = GroupJournal::open(path, mode)?;
        self.journal = Some(journal);
        self.sequence = OwnLines(AtomicU64::new(previous.len() as u64));
        for (i, payload) in previous.iter().enumerate() {
            self.process(i as u64 + 1, payload, None);
        }
        Ok(())
    }

    /// An endpoint journaling to `journal` (a journal whose syncs a test makes fail).
    #[cfg(test)]
    fn journaling_to(config: ResponderConfig, journal: GroupJournal) -> Endpoint {
        Endpoint { journal: Some(journal), ..Endpoint::new(config) }
    }

    /// The endpoint playing the interface `profile` declares ([`super::plays`]): its
    /// versions, messages and processing ids accepted, its message profiles judged.
    pub fn playing(profile: &crate::profile::TargetProfile) -> Endpoint {
        let mut endpoint = Endpoint::new(super::plays::responder_config(profile));
        endpoint.played = Played::new(profile);
        endpoint
    }

    /// As [`Endpoint::playing`], journaling to `path` (see [`Endpoint::with_journal`]).
    pub fn playing_with_journal(
        profile: &crate::profile::TargetProfile,
        path: &Path,
    ) -> Result<Endpoint, JournalError> {
        let mut endpoint = Endpoint::new(super::plays::responder_config(profile));
        endpoint.played = Played::new(profile);
        endpoint.open_journal(path, SyncMode::Group)?;
        Ok(endpoint)
    }

    /// Switches on known bugs and permitted behaviours (for the harness's self-tests); the
    /// built-in endpoint has none.
    pub fn with_defects(mut self, defects: Defects) -> Endpoint {
        if defects.has(Defect::AcceptsEveryMessage) {
            self.config = self.config.accepting_everything();
        }
        if defects.has(Defect::AcceptsMissingRequired) {
            self.config.accept_missing_required = true;
        }
        {
            let feed = &mut self.state.get_mut().unwrap_or_else(|p| p.into_inner()).feed;
            feed.reapply_duplicates = defects.has(Defect::AppliedTwice);
            feed.text_mode = if defects.has(Defect::StoredEscaped) {
                TextMode::Raw
            } else if defects.has(Defect::WrongCharset) {
                TextMode::Latin1
            } else {
                TextMode::Decoded
            };
            self.text_mode = feed.text_mode;
        }
        self.defects = defects;
        self
    }

    pub fn defects(&self) -> &Defects {
        &self.defects
    }

    /// Sends the log lines of the servers of this endpoint to `log` instead of standard error.
    pub fn with_log(mut self, log: super::log::Log) -> Endpoint {
        self.log = log;
        self
    }

    /// Where the servers of this endpoint log.
    pub fn log(&self) -> &super::log::Log {
        &self.log
    }

    /// What the endpoint accepts, with the permitted behaviours switched on.
    pub fn config(&self) -> &ResponderConfig {
        &self.config
    }

    /// Counts one acknowledgment about to be sent and returns its number (1, 2, …), across all
    /// connections, so that `drops-every-tenth-ack` drops exactly every tenth.
    pub fn count_answer(&self) -> u64 {
        self.answers.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Journals, decides, applies and acknowledges one received payload.
    pub fn handle(&self, payload: &[u8]) -> Result<Handled, JournalError> {
        self.handle_on(payload, None)
    }

    /// [`handle`](Self::handle) for a message of an MLLP connection whose held message (under
    /// `applies-out-of-order`) is `held`.
    pub fn handle_on(
        &self,
        payload: &[u8],
        held: Option<&mut Held>,
    ) -> Result<Handled, JournalError> {
        let sequence = match self.journaled(payload)? {
            Journaled::Unjournaled(sequence) => sequence,
            Journaled::Pending(journal, pending) => {
                journal.durable_blocking(&pending)?;
                pending.sequence
            }
        };
        Ok(self.handle_stored(sequence, payload, held))
    }

    /// [`handle_on`](Self::handle_on) for a caller on an async runtime: while its record
    /// waits for the sync it shares with other connections' records (group commit), the thread
    /// serves other connections. The message is decided, applied and answered only once its
    /// record is durable.
    pub async fn handle_async(
        &self,
        payload: &[u8],
        held: Option<&mut Held>,
    ) -> Result<Handled, JournalError> {
        let sequence = match self.journaled(payload)? {
            Journaled::Unjournaled(sequence) => sequence,
            Journaled::Pending(journal, pending) => {
                journal.durable(&pending).await?;
                pending.sequence
            }
        };
        Ok(self.handle_stored(sequence, payload, held))
    }

    /// Numbers `payload` and writes it to the journal, if there is one. The journal numbers
    /// its records under its lock, so a message that could not be stored gives its number back
    /// and the journal's numbers stay those of a replay.
    fn journaled(&self, payload: &[u8]) -> Result<Journaled<'_>, JournalError> {
        match &self.journal {
            None => Ok(Journaled::Unjournaled(self.sequence.fetch_add(1, Ordering::SeqCst) + 1)),
            Some(journal) => Ok(Journaled::Pending(journal, journal.append(payload)?)),
        }
    }

    /// Decides, applies and records a message already stored as number `sequence`.
    fn handle_stored(&self, sequence: u64, payload: &[u8], held: Option<&mut Held>) -> Handled {
        self.process(sequence, payload, held)
    }

    /// The answer to a message that could not be journaled: never an accept, since an AA (or
    /// CA) says the receiver took responsibility for a message it did not store. HL7 v2.5
    /// ch. 2, 2.9.2.2 c): a message the receiving application fails to process "for reasons
    /// unrelated to its content or format (system down, internal error, etc.)" is answered AR,
    /// and "it is likely that the responding system will be able to accept the same message at
    /// a later time". In enhanced mode the accept acknowledgment for a message not committed to
    /// safe storage "for any other reason" is CE (2.9.3). ERR-3 is 207 (application internal
    /// error, table 0357). `None` when the payload is not HL7 or MSH-15 asked for no answer.
    pub fn refusal(&self, payload: &[u8]) -> Option<Vec<u8>> {
        let message = Message::parse(payload).ok()?;
        let error = AckError::new(ErrorCondition::ApplicationInternalError)
            .with_text("the message could not be stored and was not applied; send it again");
        let decision = Decision::Reject(vec![error.clone()]);
        if !wants_ack(&message, &decision) {
            return None;
        }
        let code = match AckMode::of(&message) {
            AckMode::Original => AckCode::ApplicationReject,
            AckMode::Enhanced => AckCode::CommitError,
        };
        let control_id = format!("NS{:08}", self.received());
        let timestamp = crate::utc::hl7_timestamp(SystemTime::now());
        Some(AckBuilder::new(&message, code, control_id, timestamp).error(error).build())
    }

    /// The receipt of message number `sequence`, but for whether it was a resend (known once
    /// it is applied). Built before the state is locked; its text is copied in under the lock.
    fn receipt<'m>(
        &self,
        sequence: u64,
        payload: &[u8],
        facts: Facts<'m>,
        ack: Option<&[u8]>,
    ) -> Received<'m> {
        let outcome = match (ack, facts.outcome) {
            (None, _) if facts.unreadable => "unreadable".into(),
            (None, _) => "none".into(),
            (Some(_), Some(code)) => code.into(),
            // An ACK a defect rewrote: read back what it says.
            (Some(ack), None) => Message::parse(ack)
                .ok()
                .and_then(|a| msa_raw(&a, 1))
                .map_or_else(|| "?".into(), Into::into),
        };
        Received {
            sequence,
            unix_millis: unix_millis(),
            bytes: payload.len(),
            control_id: facts.control_id,
            message_type: facts.message_type,
            outcome,
            duplicate: false,
        }
    }

    /// Applies `message` (when given) and keeps `receipt`, under one taking of the state's
    /// lock. What the feed needs of the message is read before the lock is taken, so it is
    /// held only while the state changes (and the logs' text is copied in).
    fn commit(&self, message: Option<&Message<'_>>, mut receipt: Received<'_>) -> Vec<Effect> {
        let reading = message.map(|message| {
            let control_id = message.control_id().unwrap_or_default();
            (message, Reading::of(message, self.text_mode), control_id)
        });
        let mut state = lock_brief(&self.state);
        let effects = match reading {
            Some((message, reading, control_id)) => state.apply(message, reading, control_id),
            None => Vec::new(),
        };
        receipt.duplicate = effects.contains(&Effect::Duplicate);
        state.receipts.keep(receipt);
        effects
    }

    /// What `GET /journal` serves: every receipt kept, in order, and how many older ones were
    /// let go.
    pub fn journal_json(&self) -> serde_json::Value {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        serde_json::json!({
            "received": self.received(),
            "older_not_kept": state.receipts.dropped,
            "entries": state.receipts.kept,
        })
    }

    /// Applies the message a connection's `held` kept back (when it ends).
    pub fn release(&self, held: &mut Held) {
        if let Some(payload) = held.0.take() {
            if let Ok(message) = Message::parse(&payload) {
                self.apply(&message);
            }
        }
    }

    /// What `GET /applied` serves: the MSH-10 of every message applied to the state, in the
    /// order it was applied (a resend recognised as a duplicate is not applied again), and how
    /// many older ones were let go. `history.order` compares it with the order of sending.
    pub fn applied_json(&self) -> serde_json::Value {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let applied = &state.applied;
        serde_json::json!({ "applied": applied.kept, "older_not_kept": applied.dropped })
    }

    /// Applies an accepted message to the state and logs it as applied (for a held message,
    /// which has its receipt already).
    fn apply(&self, message: &Message<'_>) -> Vec<Effect> {
        let reading = Reading::of(message, self.text_mode);
        let control_id = message.control_id().unwrap_or_default();
        let mut state = lock_brief(&self.state);
        state.apply(message, reading, control_id)
    }

    /// The handling of message number `sequence`: decided, answered, applied and receipted.
    /// The ACK is built before the message is applied: it says what was decided, not what
    /// applying did, and building it outside the state's lock keeps the lock short.
    fn process(&self, sequence: u64, payload: &[u8], held: Option<&mut Held>) -> Handled {
        let control_id = ack_control_id(sequence);
        let timestamp = timestamp_now();
        let message = match Message::parse(payload) {
            Ok(message) => message,
            Err(err) => {
                let ack = self.defects.has(Defect::AaToNonHl7).then(|| {
                    format!("MSH|^~\\&|HARNESS|HARNESS|||{timestamp}||ACK|{control_id}|P|2.5\rMSA|AA|\r").into_bytes()
                });
                let facts =
                    Facts { unreadable: true, control_id: None, message_type: None, outcome: None };
                self.commit(None, self.receipt(sequence, payload, facts, ack.as_deref()));
                return Handled {
                    ack,
                    decision: None,
                    effects: Vec::new(),
                    unreadable: Some(err.to_string()),
                };
            }
        };
        let header = |n: usize| Some(message.lossy_piece(message.header_bytes(n)?));
        let decision = self.judged(&message, decide(&message, &self.config));
        let decision = self.defective(&message, payload, decision);
        let ack = if self.defects.has(Defect::EnhancedModeIgnored) {
            Some(acknowledge_original(&message, &decision, &control_id, &timestamp))
        } else {
            acknowledge(&message, &decision, &control_id, &timestamp)
        };
        // MSA-1 as built; an ACK a defect may rewrite is read back in `receipt`.
        let outcome = (self.defects.is_empty() && ack.is_some())
            .then(|| decision.code(self.ack_mode(&message)).as_str());
        let ack = ack.map(|ack| self.mangle(&message, &decision, ack));
        let facts =
            Facts { unreadable: false, control_id: header(10), message_type: header(9), outcome };
        let receipt = self.receipt(sequence, payload, facts, ack.as_deref());
        let effects = match held.filter(|_| self.defects.has(Defect::AppliesOutOfOrder)) {
            _ if !decision.is_accept() => self.commit(None, receipt),
            // The defect: acknowledged now, applied only after the connection's next message.
            Some(Held(slot @ None)) => {
                *slot = Some(payload.to_vec());
                self.commit(None, receipt)
            }
            Some(held) => {
                let effects = self.commit(Some(&message), receipt);
                self.release(held);
                effects
            }
            None => self.commit(Some(&message), receipt),
        };
        Handled { ack, decision: Some(decision), effects, unreadable: None }
    }

    /// The acknowledgment mode the ACK is built in.
    fn ack_mode(&self, message: &Message<'_>) -> AckMode {
        if self.defects.has(Defect::EnhancedModeIgnored) {
            AckMode::Original
        } else {
            AckMode::of(message)
        }
    }

    /// The decision with the played message profiles' errors (AE) added to an acceptance.
    fn judged(&self, message: &Message<'_>, decision: Decision) -> Decision {
        match &self.played {
            Some(played) if decision.is_accept() => {
                let errors = played.errors(message);
                if errors.is_empty() {
                    decision
                } else {
                    Decision::Error(cap_errors(errors.into_iter()))
                }
            }
            _ => decision,
        }
    }

    /// The decision as the message-level defects would make it.
    fn defective(&self, message: &Message<'_>, payload: &[u8], decision: Decision) -> Decision {
        let d = &self.defects;
        let error = |condition, text: &str| vec![AckError::new(condition).with_text(text)];
        if d.has(Defect::AeOnNonAscii) && payload.iter().any(|&b| b >= 0x80) {
            return Decision::Error(error(ErrorCondition::DataTypeError, "non-ASCII byte"));
        }
        let escape = message.delimiters().escape;
        let body = &payload[message.header().as_bytes().len().min(payload.len())..];
        if d.has(Defect::AeOnEscapes) && escape.is_some_and(|e| body.contains(&e)) {
            return Decision::Error(error(ErrorCondition::DataTypeError, "escape sequence"));
        }
        if d.has(Defect::ArOnZSegments) && message.segments().any(|s| s.id().starts_with('Z')) {
            return Decision::Reject(error(ErrorCondition::SegmentSequenceError, "Z-segment"));
        }
        if d.has(Defect::AaToAdtWithoutPid) && matches!(decision, Decision::Error(_)) {
            return Decision::Accept;
        }
        decision
    }

    /// The ACK as the ACK-level defects would write it.
    fn mangle(&self, message: &Message<'_>, decision: &Decision, ack: Vec<u8>) -> Vec<u8> {
        let d = &self.defects;
        // The correct endpoint (no defect) sends the ACK as built: no copy, no second parse.
        if d.is_empty() {
            return ack;
        }
        let Ok(mut buf) = MessageBuf::new(ack.clone()) else { return ack };
        let set = |buf: &mut MessageBuf, path: &str, raw: &[u8]| {
            if let Ok(path) = Hl7Path::parse(path) {
                let _ = buf.set_raw(&path, raw);
            }
        };
        let original = |n: usize| message.header_bytes(n).map(<[u8]>::to_vec).unwrap_or_default();
        if d.has(Defect::WrongMsa2) {
            let mut wrong = original(10);
            wrong.extend_from_slice(b"-WRONG");
            set(&mut buf, "MSA-2", &wrong);
        }
        if d.has(Defect::NoMsa2) {
            set(&mut buf, "MSA-2", b"");
        }
        if d.has(Defect::NoSwap) {
            for n in 3..=6 {
                set(&mut buf, &format!("MSH-{n}"), &original(n));
            }
        }
        if d.has(Defect::ReceiverNamesItself) {
            set(&mut buf, "MSH-3", RECEIVER_APPLICATION.as_bytes());
            set(&mut buf, "MSH-4", RECEIVER_FACILITY.as_bytes());
        }
        if d.has(Defect::PlainAckMsh9) && version_before_2_4(message) {
            set(&mut buf, "MSH-9", b"ACK");
        }
        if d.has(Defect::MfkForMfn) {
            if let Some(mfk) = master_file_acknowledgment(message, decision) {
                let component = message.delimiters().component;
                set(
                    &mut buf,
                    "MSH-9",
                    &[b"MFK".as_slice(), &[component], b"M02", &[component], b"MFK_M01"].concat(),
                );
                let mut bytes = buf.into_bytes();
                bytes.extend_from_slice(&mfk);
                match MessageBuf::new(bytes) {
                    Ok(with_mfi) => buf = with_mfi,
                    Err(_) => return ack,
                }
            }
        }
        if d.has(Defect::WrongMsh9) {
            let component = message.delimiters().component;
            set(&mut buf, "MSH-9", &[b"ADT".as_slice(), &[component], b"A01"].concat());
        }
        if d.has(Defect::EmptyMsh10) {
            set(&mut buf, "MSH-10", b"");
        }
        if d.has(Defect::InvalidMsa1) {
            set(&mut buf, "MSA-1", b"OK");
        }
        if d.has(Defect::BadMsh7) {
            set(&mut buf, "MSH-7", b"YESTERDAY");
        }
        if d.has(Defect::ProcessingIdNotEchoed) {
            set(&mut buf, "MSH-11", b"T");
        }
        if d.has(Defect::VersionNotEchoed) {
            set(&mut buf, "MSH-12", b"2.5");
        }
        if d.has(Defect::NoErrSegment) {
            if let Ok(err) = Hl7Path::parse("ERR") {
                while buf.remove(&err).unwrap_or(false) {}
            }
        }
        if d.has(Defect::StandardDelimiters) {
            let segments = decode_segments(&buf.message());
            if let Ok(bytes) = encode_segments(&Delimiters::default(), &segments) {
                if let Ok(standard) = MessageBuf::new(bytes) {
                    buf = standard;
                }
            }
        }
        let mut bytes = buf.into_bytes();
        if d.has(Defect::LfSegmentSeparators) {
            for b in bytes.iter_mut().filter(|b| **b == b'\r') {
                *b = b'\n';
            }
        }
        bytes
    }

    /// The state as the JSON the state endpoint serves.
    pub fn state_json(&self) -> serde_json::Value {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        serde_json::to_value(&state.feed).unwrap_or(serde_json::Value::Null)
    }

    /// Number of messages received (journaled) so far, restarts included.
    pub fn received(&self) -> u64 {
        match &self.journal {
            Some(journal) => journal.written(),
            None => self.sequence.load(Ordering::SeqCst),
        }
    }
}

/// MSH-10 of the ACK to message number `sequence`: `ACK` and the number, at least eight digits
/// (`format!("ACK{sequence:08}")`, written without the formatting machinery, which cost the
/// threaded endpoint nearly as much as writing the whole ACK).
fn ack_control_id(sequence: u64) -> String {
    let mut digits = [b'0'; 20];
    let mut rest = sequence;
    let mut start = digits.len();
    while rest > 0 || start > digits.len() - 8 {
        start -= 1;
        digits[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    let mut id = String::with_capacity(3 + digits.len() - start);
    id.push_str("ACK");
    id.extend(digits[start..].iter().map(|&d| char::from(d)));
    id
}

/// MSH-7 of an ACK sent now: written once a second per thread, not per message, and shared
/// (a count, not a copy) by the messages of that second.
fn timestamp_now() -> std::rc::Rc<str> {
    thread_local! {
        static LAST: std::cell::RefCell<(u64, std::rc::Rc<str>)> =
            std::cell::RefCell::new((u64::MAX, std::rc::Rc::from("")));
    }
    let now = SystemTime::now();
    let second = now.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    LAST.with_borrow_mut(|(at, text)| {
        if *at != second {
            *text = crate::utc::hl7_timestamp(now).into();
            *at = second;
        }
        std::rc::Rc::clone(text)
    })
}

/// A message numbered, and written to the journal when there is one.
enum Journaled<'a> {
    Unjournaled(u64),
    Pending(&'a GroupJournal, Pending),
}

/// What a receipt says of a message, taken while it is parsed for handling (not parsed again).
struct Facts<'m> {
    /// The payload is not an HL7 message.
    unreadable: bool,
    /// MSH-10 and MSH-9 as sent; `None` when the payload is not HL7.
    control_id: Option<std::borrow::Cow<'m, str>>,
    message_type: Option<std::borrow::Cow<'m, str>>,
    /// MSA-1 of the ACK as built; `None` when a defect may have rewritten it.
    outcome: Option<&'static str>,
}

/// MSH-3 and MSH-4 of the ACK under `receiver-names-itself`: the receiver's own names, which
/// HL7 v2 ch. 2 (MSH-3/4, "the sending application/facility") allows as well as the swapped
/// MSH-5/6 of the message (a message may be addressed to an alias).
const RECEIVER_APPLICATION: &str = "HL7HARNESS";
const RECEIVER_FACILITY: &str = "REFERENCE";

/// MSH-12 before v2.4, where MSH-9 had no message structure component (plain `ACK`, or
/// `ACK^<trigger>`, both seen in v2.3 and v2.3.1 receivers).
fn version_before_2_4(message: &Message<'_>) -> bool {
    matches!(message.version().map(str::trim), Some("2.1" | "2.2" | "2.3" | "2.3.1"))
}

/// The MFK segments that follow MSA (and ERR) in the answer to an MFN^M02 (HL7 v2.5.1 ch. 8,
/// 8.7.1: the application acknowledgment is MFK^M02^MFK_M01, MSH MSA [ERR] MFI [{MFA}]; the
/// ACK the built-in endpoint sends is the general acknowledgment of ch. 2, which receivers
/// also send): the message's MFI, and one MFA per MFE
/// as MFI-6 (response level code, table 0179) asks: AL always, NE never, ER only when the
/// message is not accepted, SU only when it is. MFA-4 is S (successful posting) or U (table
/// 0181); MFA-1, -2, -5 and -6 repeat MFE-1, -2, -4 and -5. `None` for any other message, or an
/// MFN without MFI (answered with a plain ACK).
fn master_file_acknowledgment(message: &Message<'_>, decision: &Decision) -> Option<Vec<u8>> {
    if message.message_code() != Some("MFN") || message.trigger_event() != Some("M02") {
        return None;
    }
    let field_separator = message.delimiters().field;
    let mfi = message.segments().find(|s| s.id() == "MFI")?;
    let mut out = mfi.as_bytes().to_vec();
    out.push(b'\r');
    let raw = |segment: &crate::hl7::Segment<'_>, n: usize| {
        segment.field(n).map(|v| v.as_bytes().to_vec()).unwrap_or_default()
    };
    let level = raw(&mfi, 6);
    let accepted = decision.is_accept();
    let records = match level.as_slice() {
        b"NE" => false,
        b"ER" => !accepted,
        b"SU" => accepted,
        _ => true,
    };
    if records {
        let status: &[u8] = if accepted { b"S" } else { b"U" };
        for mfe in message.segments().filter(|s| s.id() == "MFE") {
            let fields = [
                raw(&mfe, 1),
                raw(&mfe, 2),
                Vec::new(),
                status.to_vec(),
                raw(&mfe, 4),
                raw(&mfe, 5),
            ];
            out.extend_from_slice(b"MFA");
            for field in fields {
                out.push(field_separator);
                out.extend_from_slice(&field);
            }
            out.push(b'\r');
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What every message writes (the state, the message counter) shares no cache line (nor
    /// the line fetched with it) with the fields every message reads.
    #[test]
    fn what_every_message_writes_is_on_lines_of_its_own() {
        let lines = |offset: usize, size: usize| (offset / 128, (offset + size - 1) / 128);
        let written = [
            lines(std::mem::offset_of!(Endpoint, state), size_of::<OwnLines<Mutex<State>>>()),
            lines(std::mem::offset_of!(Endpoint, sequence), size_of::<OwnLines<AtomicU64>>()),
        ];
        let read = [
            lines(std::mem::offset_of!(Endpoint, config), size_of::<ResponderConfig>()),
            lines(std::mem::offset_of!(Endpoint, defects), size_of::<Defects>()),
            lines(std::mem::offset_of!(Endpoint, text_mode), size_of::<TextMode>()),
            lines(std::mem::offset_of!(Endpoint, journal), size_of::<Option<GroupJournal>>()),
            lines(std::mem::offset_of!(Endpoint, played), size_of::<Option<Played>>()),
        ];
        for (first, last) in written {
            for (from, to) in read {
                assert!(last < from || to < first, "{first}..={last} overlaps {from}..={to}");
            }
        }
        assert_eq!(std::mem::align_of::<Endpoint>() % 128, 0);
    }

    const A04: &[u8] = b"MSH|^~\\&|EHR|HOSP|H|F|20240101||ADT^A04^ADT_A01|M1|P|2.6\rEVN|A04|20240101\rPID|1||C1^^^EHR^PI||Doe^Jo||19800101|F|||||^NET^Internet^jo@example.invalid\rPV1|1|O\r";

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_messages_are_journaled_then_acknowledged_and_a_failed_sync_accepts_none() {
        let dir = std::env::temp_dir().join(format!("hl7-endpoint-group-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("journal");
        let _ = std::fs::remove_file(&path);
        let (journal, failing) =
            crate::target::group_commit::tests::failing_syncs(&path, SyncMode::Group);
        let endpoint =
            std::sync::Arc::new(Endpoint::journaling_to(ResponderConfig::default(), journal));
        let message = |n: usize| String::from_utf8_lossy(A04).replace("|M1|", &format!("|M{n}|"));
        let send_all = |from: usize| {
            let tasks: Vec<_> = (from..from + 16)
                .map(|n| {
                    let endpoint = std::sync::Arc::clone(&endpoint);
                    let payload = message(n);
                    tokio::spawn(async move {
                        let handled = endpoint.handle_async(payload.as_bytes(), None).await;
                        (n, handled.map(|h| String::from_utf8_lossy(&h.ack.unwrap()).into_owned()))
                    })
                })
                .collect();
            async move {
                let mut answers = Vec::new();
                for task in tasks {
                    answers.push(task.await.unwrap());
                }
                answers
            }
        };
        for (n, ack) in send_all(0).await {
            let ack = ack.unwrap();
            assert!(ack.contains(&format!("MSA|AA|M{n}\r")), "{ack}");
        }
        assert_eq!(read_journal(&path).unwrap().len(), 16, "every acknowledged message stored");
        failing.store(true, std::sync::atomic::Ordering::SeqCst);
        for (n, handled) in send_all(100).await {
            // Not stored, so not accepted: the server answers the refusal (AR) instead.
            let err = handled.unwrap_err();
            assert!(err.to_string().contains("injected fsync failure"), "{err}");
            let refusal = endpoint.refusal(message(n).as_bytes()).unwrap();
            assert!(String::from_utf8_lossy(&refusal).contains("MSA|AR|"));
        }
        assert_eq!(read_journal(&path).unwrap().len(), 16, "none of the failed batch kept");
        assert_eq!(endpoint.received(), 16, "their numbers given back");
        assert_eq!(endpoint.journal_json()["entries"].as_array().unwrap().len(), 16);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn ack_control_ids_are_numbered_as_format_writes_them() {
        for sequence in [0, 1, 42, 99_999_999, 100_000_000, 123_456_789_012, u64::MAX] {
            assert_eq!(ack_control_id(sequence), format!("ACK{sequence:08}"));
        }
    }

    #[test]
    fn journal_survives_restart_and_keeps_duplicates_out() {
        let dir = std::env::temp_dir().join(format!("hl7-endpoint-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("journal");
        let _ = std::fs::remove_file(&path);
        {
            let endpoint = Endpoint::with_journal(ResponderConfig::default(), &path).unwrap();
            let handled = endpoint.handle(A04).unwrap();
            assert!(String::from_utf8_lossy(&handled.ack.unwrap()).contains("MSA|AA|M1"));
            assert_eq!(handled.effects, vec![Effect::ClientCreated { id: "C1".into() }]);
            let garbage = endpoint.handle(b"\xff\x00 not hl7").unwrap();
            assert!(garbage.ack.is_none() && garbage.unreadable.is_some());
        }
        assert_eq!(read_journal(&path).unwrap(), vec![A04.to_vec(), b"\xff\x00 not hl7".to_vec()]);
        let endpoint = Endpoint::with_journal(ResponderConfig::default(), &path).unwrap();
        assert_eq!(endpoint.received(), 2);
        assert_eq!(endpoint.state_json()["clients"]["C1"]["email"], "jo@example.invalid");
        let again = endpoint.handle(A04).unwrap();
        assert_eq!(again.effects, vec![Effect::Duplicate], "resent after a restart: applied once");
        assert!(
            String::from_utf8_lossy(&again.ack.unwrap()).contains("MSA|AA|M1"),
            "and acknowledged again"
        );
        // GET /journal: the replayed receipts and the new one, the resend marked as such.
        let journal = endpoint.journal_json();
        let entries = journal["entries"].as_array().unwrap();
        assert_eq!(journal["received"], 3);
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0]["control_id"], "M1");
        assert_eq!(entries[0]["outcome"], "AA");
        assert_eq!(entries[1]["outcome"], "unreadable");
        assert_eq!(
            (entries[2]["sequence"].as_u64(), &entries[2]["duplicate"]),
            (Some(3), &serde_json::json!(true))
        );
        std::fs::write(&path, b"hl7-journal 1 1 0 99\nshort").unwrap();
        let err = Endpoint::with_journal(ResponderConfig::default(), &path).err().unwrap();
        assert!(err.to_string().contains("record shorter than its length"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
