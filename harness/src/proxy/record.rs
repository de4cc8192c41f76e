//! `proxy --record DIR`: what crossed the proxy, written as a pack `hl7-harness run` replays.
//! Each message the downstream client sent becomes `messages/NNNN.hl7` (its payload as the
//! client sent it, before any fault), the reply the upstream gave to it `acks/NNNN.hl7`, and
//! `recorded.yaml` one serial case per connection whose steps send those files byte for byte
//! (`exact: true`) after the recorded pause and expect the recorded reply (`replay.reply`).
//!
//! The forwarding loop only hands each frame to a [`Tap`]: a non-blocking send on a bounded
//! channel (a reference count of the frame's bytes, no copy). A writer thread does the
//! parsing, redaction and file I/O; when it falls behind, frames are dropped and counted, never
//! waited for, and the pack's header says how many. Writing is bounded by a [`RecordLimit`];
//! reaching it, or a write error, stops the recording (the proxy goes on) and is reported.
//! Redaction is the caller's (`--redact-phi` passes the reports' redactor): this module must
//! not render reports.

use super::frame::payload;
use crate::faults::Direction;
use crate::hl7::Message;
use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::mpsc;

/// Most messages recorded unless `--record-limit` says otherwise.
pub const DEFAULT_MAX_MESSAGES: u64 = 10_000;
/// Most bytes of messages and replies recorded unless `--record-limit` says otherwise.
pub const DEFAULT_MAX_BYTES: u64 = 100 * 1000 * 1000;
/// Frames the writer may lag behind before the tap drops them.
pub const QUEUE: usize = 4096;
/// Bytes of frames the writer may lag behind before the tap drops them: frames may be up to
/// the proxy's frame limit (16 MiB), so a count of frames alone would not bound memory.
pub const QUEUE_BYTES: u64 = 64 * 1024 * 1024;
/// The pack's scenario file.
pub const SCENARIO_FILE: &str = "recorded.yaml";
/// The scenario schema written beside it, for editors (`$schema=` in its first line).
pub const SCHEMA_FILE: &str = "scenario.schema.json";

/// How much a recording may write: messages, and bytes of messages and replies together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordLimit {
    pub messages: u64,
    pub bytes: u64,
}

impl Default for RecordLimit {
    fn default() -> Self {
        RecordLimit { messages: DEFAULT_MAX_MESSAGES, bytes: DEFAULT_MAX_BYTES }
    }
}

impl std::fmt::Display for RecordLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let bytes = self.bytes;
        let (size, unit) = [(1000 * 1000 * 1000, "GB"), (1000 * 1000, "MB"), (1000, "KB")]
            .into_iter()
            .find(|(scale, _)| bytes % scale == 0)
            .map_or((bytes, "B"), |(scale, unit)| (bytes / scale, unit));
        write!(f, "{},{size}{unit}", self.messages)
    }
}

/// `--record-limit` text that is not `N`, `SIZE` or `N,SIZE`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?}: expected a message count, a size or both (`10000`, `50MB`, `10000,50MB`; sizes in \
     B, KB, MB, GB), each at least 1"
)]
pub struct LimitError(pub String);

/// Parses `--record-limit`: `N` messages, a `SIZE` (`500KB`, `50MB`, `1GB`, `4096B`) or both,
/// `N,SIZE`; what is not given keeps its default.
pub fn parse_limit(text: &str) -> Result<RecordLimit, LimitError> {
    let bad = || LimitError(text.to_string());
    let mut limit = RecordLimit::default();
    for part in text.split(',') {
        let part = part.trim();
        let digits = part.find(|c: char| !c.is_ascii_digit()).unwrap_or(part.len());
        let (number, unit) = part.split_at(digits);
        let number: u64 = number.parse().map_err(|_| bad())?;
        let scale = match unit.to_ascii_uppercase().as_str() {
            "" => {
                limit.messages = number;
                if number == 0 {
                    return Err(bad());
                }
                continue;
            }
            "B" => 1,
            "KB" => 1000,
            "MB" => 1000 * 1000,
            "GB" => 1000 * 1000 * 1000,
            _ => return Err(bad()),
        };
        limit.bytes = number.checked_mul(scale).filter(|b| *b > 0).ok_or_else(bad)?;
    }
    Ok(limit)
}

/// The recording could not be set up, or stopped on a write error.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("--record {}: the folder is not empty; choose another", .0.display())]
    NotEmpty(PathBuf),
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the recorder thread could not start: {0}")]
    Thread(#[source] std::io::Error),
}

/// Redacts one message (`--redact-phi`: the reports' redactor, one for the whole recording so
/// a value keeps its placeholder across messages).
pub type Redact = Box<dyn FnMut(&[u8]) -> Vec<u8> + Send>;

/// What a recording needs besides the frames.
pub struct RecordOptions {
    pub dir: PathBuf,
    pub limit: RecordLimit,
    pub redact: Option<Redact>,
    /// Comment lines for the top of `recorded.yaml` (where, when, with which options).
    pub header: Vec<String>,
    /// The pack's `target.url` (the recorded upstream), when a plain URL can name it.
    pub target: Option<String>,
    /// The scenario JSON Schema, written as [`SCHEMA_FILE`].
    pub schema: Option<String>,
    /// Frames, and bytes of frames, the writer may lag behind ([`QUEUE`], [`QUEUE_BYTES`]).
    pub queue: usize,
    pub queue_bytes: u64,
}

/// One frame handed over by the forwarding loop.
enum Captured {
    Frame { conn: u64, dir: Direction, at: Instant, frame: bytes::Bytes },
    End,
}

/// The forwarding loop's end of the recording: never blocks, never copies a frame.
pub struct Tap {
    sender: mpsc::Sender<Captured>,
    /// Bytes handed over and not yet written; at most `queue_bytes`.
    queued: Arc<AtomicU64>,
    queue_bytes: u64,
    /// Shared with the writer, which states the count in the pack's header.
    dropped: Arc<AtomicU64>,
    /// No more messages are taken (limit reached, write error, or finished); replies to the
    /// messages recorded still are.
    full: Arc<AtomicBool>,
    ended: AtomicBool,
}

impl Tap {
    /// Hands a frame (with its MLLP envelope) over to the writer, or counts it as dropped when
    /// the writer is behind.
    pub fn frame(&self, conn: u64, dir: Direction, frame: &bytes::Bytes) {
        if self.ended.load(Ordering::Relaxed)
            || (dir == Direction::Up && self.full.load(Ordering::Relaxed))
        {
            return;
        }
        let len = frame.len() as u64;
        let before = self.queued.fetch_add(len, Ordering::Relaxed);
        let captured = Captured::Frame { conn, dir, at: Instant::now(), frame: frame.clone() };
        if before.saturating_add(len) > self.queue_bytes || self.sender.try_send(captured).is_err()
        {
            self.queued.fetch_sub(len, Ordering::Relaxed);
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// What a finished recording holds, for the proxy's last lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub messages: usize,
    pub replies: usize,
    pub connections: usize,
    /// Frames the tap dropped because the writer was behind.
    pub dropped: u64,
    /// Frames that were not HL7 messages, not recorded.
    pub not_hl7: u64,
    /// Why recording stopped before the end (limit reached, write error).
    pub stopped: Option<String>,
    /// The write error that stopped it, if any.
    pub error: Option<String>,
}

/// A recording in progress: the writer thread and the tap feeding it.
pub struct Recording {
    tap: Arc<Tap>,
    thread: std::thread::JoinHandle<Summary>,
}

/// Creates `DIR` (which must not hold files yet) with `messages/` and `acks/`, and starts the
/// writer thread; the tap goes to [`super::Proxy::record`].
pub fn start(
    options: RecordOptions,
    notify: Box<dyn FnMut(String) + Send>,
) -> Result<Recording, RecordError> {
    let dir = &options.dir;
    if std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some()) {
        return Err(RecordError::NotEmpty(dir.clone()));
    }
    for sub in ["messages", "acks"] {
        let path = dir.join(sub);
        std::fs::create_dir_all(&path).map_err(|source| RecordError::Write { path, source })?;
    }
    let (sender, receiver) = mpsc::channel(options.queue.max(1));
    let full = Arc::new(AtomicBool::new(false));
    let dropped = Arc::new(AtomicU64::new(0));
    let queued = Arc::new(AtomicU64::new(0));
    let tap = Arc::new(Tap {
        sender,
        queued: Arc::clone(&queued),
        queue_bytes: options.queue_bytes,
        dropped: Arc::clone(&dropped),
        full: Arc::clone(&full),
        ended: AtomicBool::new(false),
    });
    let mut writer = Writer::new(options, full, notify);
    writer.dropped = dropped;
    let thread = std::thread::Builder::new()
        .name("proxy-record".into())
        .spawn(move || {
            let mut receiver = receiver;
            while let Some(Captured::Frame { conn, dir, at, frame }) = receiver.blocking_recv() {
                writer.take(conn, dir, at, &frame);
                queued.fetch_sub(frame.len() as u64, Ordering::Relaxed);
            }
            writer.finish()
        })
        .map_err(RecordError::Thread)?;
    Ok(Recording { tap, thread })
}

impl Recording {
    pub fn tap(&self) -> Arc<Tap> {
        Arc::clone(&self.tap)
    }

    /// Stops taking frames, lets the writer catch up and write `recorded.yaml`.
    pub async fn finish(self) -> Summary {
        self.tap.ended.store(true, Ordering::Relaxed);
        let _ = self.tap.sender.send(Captured::End).await;
        let thread = self.thread;
        let joined = tokio::task::spawn_blocking(move || thread.join()).await;
        match joined {
            Ok(Ok(summary)) => summary,
            _ => Summary {
                error: Some("the recorder thread ended unexpectedly".into()),
                dropped: self.tap.dropped.load(Ordering::Relaxed),
                ..Summary::default()
            },
        }
    }
}

/// What became of a recorded message's reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReplyState {
    /// None seen (the upstream did not answer while the proxy ran).
    Awaited,
    Written,
    /// Seen but not written (limit or write error): nothing is expected of it.
    Lost,
}

struct Recorded {
    conn: u64,
    number: usize,
    control_id: Option<String>,
    /// Since the message before it (any connection); `None` for the first.
    pause: Option<Duration>,
    reply: ReplyState,
}

/// The writer's state: pure apart from the files it writes, so tests drive it frame by frame.
struct Writer {
    options: RecordOptions,
    full: Arc<AtomicBool>,
    notify: Box<dyn FnMut(String) + Send>,
    messages: Vec<Recorded>,
    /// Per connection, the messages (indexes) still awaiting their reply, oldest first.
    awaiting: HashMap<u64, VecDeque<usize>>,
    bytes: u64,
    last: Option<Instant>,
    summary: Summary,
    /// A write error: nothing more is written.
    broken: bool,
    /// The tap's count of frames dropped.
    dropped: Arc<AtomicU64>,
}

impl Writer {
    fn new(
        options: RecordOptions,
        full: Arc<AtomicBool>,
        notify: Box<dyn FnMut(String) + Send>,
    ) -> Writer {
        Writer {
            options,
            full,
            notify,
            messages: Vec::new(),
            awaiting: HashMap::new(),
            bytes: 0,
            last: None,
            summary: Summary::default(),
            broken: false,
            dropped: Arc::default(),
        }
    }

    fn stop(&mut self, why: String) {
        if self.summary.stopped.is_none() {
            (self.notify)(format!("recording stopped: {why}; the proxy goes on"));
            self.summary.stopped = Some(why);
        }
        self.full.store(true, Ordering::Relaxed);
    }

    fn write(&mut self, relative: &str, bytes: &[u8]) -> bool {
        let path = self.options.dir.join(relative);
        match std::fs::write(&path, bytes) {
            Ok(()) => true,
            Err(source) => {
                let error = RecordError::Write { path, source }.to_string();
                self.summary.error = Some(error.clone());
                self.broken = true;
                self.stop(error);
                false
            }
        }
    }

    /// Room for `len` more bytes; stops the recording when there is none.
    fn room(&mut self, len: usize) -> bool {
        if self.bytes.saturating_add(len as u64) > self.options.limit.bytes {
            let bytes = self.options.limit.bytes;
            self.stop(format!("the limit of {bytes} bytes (--record-limit) was reached"));
            return false;
        }
        self.bytes += len as u64;
        true
    }

    fn redacted(&mut self, payload: &[u8]) -> Vec<u8> {
        match self.options.redact.as_mut() {
            Some(redact) => redact(payload),
            None => payload.to_vec(),
        }
    }

    fn take(&mut self, conn: u64, dir: Direction, at: Instant, frame: &[u8]) {
        if self.broken {
            return;
        }
        let payload = payload(frame);
        let Ok(message) = Message::parse(payload) else {
            self.summary.not_hl7 += 1;
            return;
        };
        match dir {
            Direction::Up => {
                let control_id = message.control_id().map(str::to_string);
                self.message(conn, at, control_id, payload)
            }
            Direction::Down => {
                let msa2 = crate::hl7::ack::msa_raw(&message, 2);
                self.reply(conn, msa2, payload)
            }
        }
    }

    fn message(&mut self, conn: u64, at: Instant, control_id: Option<String>, payload: &[u8]) {
        if self.summary.stopped.is_some() {
            return;
        }
        if self.messages.len() as u64 >= self.options.limit.messages {
            let n = self.options.limit.messages;
            return self.stop(format!("the limit of {n} messages (--record-limit) was reached"));
        }
        let bytes = self.redacted(payload);
        if !self.room(bytes.len()) {
            return;
        }
        let number = self.messages.len() + 1;
        if !self.write(&format!("messages/{number:04}.hl7"), &bytes) {
            return;
        }
        let pause = self.last.map(|last| at.saturating_duration_since(last));
        self.last = Some(at);
        self.awaiting.entry(conn).or_default().push_back(self.messages.len());
        self.messages.push(Recorded {
            conn,
            number,
            control_id,
            pause,
            reply: ReplyState::Awaited,
        });
    }

    /// A reply goes with the awaiting message of its connection whose MSH-10 its MSA-2 names,
    /// or else with the oldest awaiting one (an answer with a wrong MSA-2 is still the answer
    /// the system gave, and replaying it shows the difference).
    fn reply(&mut self, conn: u64, msa2: Option<String>, payload: &[u8]) {
        let Some(queue) = self.awaiting.get_mut(&conn) else { return };
        let at = queue
            .iter()
            .position(|&i| msa2.is_some() && self.messages[i].control_id == msa2)
            .unwrap_or(0);
        let Some(index) = queue.remove(at) else { return };
        let bytes = self.redacted(payload);
        if !self.room(bytes.len()) {
            self.messages[index].reply = ReplyState::Lost;
            return;
        }
        let number = self.messages[index].number;
        self.messages[index].reply = if self.write(&format!("acks/{number:04}.hl7"), &bytes) {
            ReplyState::Written
        } else {
            ReplyState::Lost
        };
    }

    fn finish(mut self) -> Summary {
        self.summary.dropped = self.dropped.load(Ordering::Relaxed);
        self.summary.messages = self.messages.len();
        self.summary.replies =
            self.messages.iter().filter(|m| m.reply == ReplyState::Written).count();
        let mut connections: Vec<u64> = self.messages.iter().map(|m| m.conn).collect();
        connections.sort_unstable();
        connections.dedup();
        self.summary.connections = connections.len();
        if self.broken {
            return self.summary;
        }
        if let Some(schema) = self.options.schema.take() {
            self.write(SCHEMA_FILE, schema.as_bytes());
        }
        let yaml = self.scenario(&connections);
        self.write(SCENARIO_FILE, yaml.as_bytes());
        self.summary
    }

    /// `recorded.yaml`: a header saying where, when and how it was recorded and what is
    /// missing, the message files as templates and one serial case per connection.
    fn scenario(&self, connections: &[u64]) -> String {
        let s = &self.summary;
        let mut out = String::new();
        let _ = writeln!(out, "# yaml-language-server: $schema={SCHEMA_FILE}");
        for line in &self.options.header {
            let _ = writeln!(out, "# {}", line.replace(['\r', '\n'], " "));
        }
        let finished = crate::utc::rfc3339(SystemTime::now());
        let _ = writeln!(out, "# Finished {finished}.");
        let _ = writeln!(
            out,
            "# {} message(s) on {} connection(s), {} reply(ies); each connection is one serial \
             case, replayed one after another.",
            s.messages, s.connections, s.replies
        );
        if s.dropped > 0 {
            let _ = writeln!(
                out,
                "# INCOMPLETE: {} frame(s) dropped because the recorder fell behind the traffic; \
                 messages missing, and replies may be unpaired.",
                s.dropped
            );
        }
        if let Some(why) = &s.stopped {
            let _ = writeln!(out, "# INCOMPLETE: recording stopped early: {why}.");
        }
        if s.not_hl7 > 0 {
            let _ =
                writeln!(out, "# {} frame(s) that were not HL7 messages not recorded.", s.not_hl7);
        }
        let _ = writeln!(
            out,
            "# Each step sends its file byte for byte (exact) after the recorded pause and \
             expects the recorded reply (replay.reply; a reply's delimiters, MSH-7 and MSH-10 \
             are never compared)."
        );
        let _ = writeln!(out, "name: recorded");
        let _ = writeln!(out, "description: Traffic recorded by hl7-harness proxy --record.");
        if let Some(url) = &self.options.target {
            let _ = writeln!(out, "target:\n  url: {}", yaml_string(url));
        }
        if self.messages.is_empty() {
            // A pack needs a case: one that says nothing was recorded fails loudly at load
            // rather than passing empty.
            let _ = writeln!(out, "cases: []");
            return out;
        }
        let _ = writeln!(out, "messages:");
        for m in &self.messages {
            let _ = writeln!(out, "  m{:04}: {{ file: messages/{:04}.hl7 }}", m.number, m.number);
        }
        let _ = writeln!(out, "cases:");
        let reply_unknown = s.dropped > 0;
        for (n, conn) in connections.iter().enumerate() {
            let _ = writeln!(out, "  - name: connection {}", n + 1);
            let _ = writeln!(out, "    serial: true");
            let _ = writeln!(out, "    steps:");
            for m in self.messages.iter().filter(|m| m.conn == *conn) {
                let _ = writeln!(out, "      - send: m{:04}", m.number);
                let _ = writeln!(out, "        exact: true");
                if let Some(pause) = m.pause.filter(|p| p.as_millis() > 0) {
                    let _ = writeln!(out, "        wait: {}ms", pause.as_millis());
                }
                match m.reply {
                    ReplyState::Written => {
                        let _ = writeln!(
                            out,
                            "        expect: {{ reply: {{ file: acks/{:04}.hl7, ignore: [MSH-7, MSH-10] }} }}",
                            m.number
                        );
                    }
                    ReplyState::Awaited if !reply_unknown && s.stopped.is_none() => {
                        let _ = writeln!(out, "        expect: {{ ack: none }}");
                    }
                    ReplyState::Awaited | ReplyState::Lost => {}
                }
            }
        }
        out
    }
}

/// A YAML double-quoted string.
fn yaml_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".into())
}

/// Where the pack's message and reply files lie, for tests and the proxy's last lines.
pub fn message_file(dir: &Path, number: usize) -> PathBuf {
    dir.join(format!("messages/{number:04}.hl7"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    const MESSAGE: &[u8] =
        b"\x0bMSH|^~\\&|S|F|R|F|2026||ADT^A04|M1|P|2.5\rPID|||12345||Doe^John\r\x1c\r";
    const MESSAGE2: &[u8] =
        b"\x0bMSH|^~\\&|S|F|R|F|2026||ADT^A08|M2|P|2.5\rPID|||12345||Doe^John\r\x1c\r";
    const ACK1: &[u8] = b"\x0bMSH|^~\\&|R|F|S|F|2026||ACK^A04|A1|P|2.5\rMSA|AA|M1\r\x1c\r";
    const ACK2: &[u8] = b"\x0bMSH|^~\\&|R|F|S|F|2026||ACK^A08|A2|P|2.5\rMSA|AE|M2\r\x1c\r";

    struct Fixture {
        dir: PathBuf,
        notes: Arc<Mutex<Vec<String>>>,
    }

    fn fixture(name: &str) -> Fixture {
        let dir = std::env::temp_dir().join(format!("hl7-record-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Fixture { dir, notes: Arc::default() }
    }

    fn writer(f: &Fixture, limit: RecordLimit) -> Writer {
        std::fs::create_dir_all(f.dir.join("messages")).unwrap();
        std::fs::create_dir_all(f.dir.join("acks")).unwrap();
        let options = RecordOptions {
            dir: f.dir.clone(),
            limit,
            redact: None,
            header: vec!["Recorded in a test".into()],
            target: Some("mllp://127.0.0.1:2575".into()),
            schema: None,
            queue: 8,
            queue_bytes: QUEUE_BYTES,
        };
        let notes = Arc::clone(&f.notes);
        let notify = Box::new(move |n: String| notes.lock().unwrap().push(n));
        Writer::new(options, Arc::new(AtomicBool::new(false)), notify)
    }

    fn read(f: &Fixture, relative: &str) -> String {
        String::from_utf8_lossy(&std::fs::read(f.dir.join(relative)).unwrap()).into_owned()
    }

    #[test]
    fn messages_and_their_replies_become_files_and_steps() {
        let f = fixture("pairs");
        let mut w = writer(&f, RecordLimit::default());
        let t0 = Instant::now();
        w.take(1, Direction::Up, t0, MESSAGE);
        w.take(1, Direction::Down, t0, ACK1);
        w.take(1, Direction::Up, t0 + Duration::from_millis(250), MESSAGE2);
        w.take(1, Direction::Up, t0, b"\x0bnot hl7\x1c\r");
        let summary = w.finish();
        assert_eq!((summary.messages, summary.replies, summary.not_hl7), (2, 1, 1));
        assert_eq!(std::fs::read(message_file(&f.dir, 1)).unwrap(), payload(MESSAGE));
        assert_eq!(read(&f, "acks/0001.hl7").as_bytes(), payload(ACK1));
        let yaml = read(&f, SCENARIO_FILE);
        assert!(yaml.starts_with("# yaml-language-server: $schema=scenario.schema.json\n"));
        assert!(yaml.contains("# Recorded in a test\n"), "{yaml}");
        assert!(yaml.contains("reply: { file: acks/0001.hl7"), "{yaml}");
        assert!(yaml.contains("wait: 250ms\n        expect: { ack: none }"), "{yaml}");
        let _ = std::fs::remove_dir_all(&f.dir);
    }

    #[test]
    fn a_reply_pairs_with_the_message_its_msa2_names() {
        let f = fixture("msa2");
        let mut w = writer(&f, RecordLimit::default());
        let t0 = Instant::now();
        w.take(1, Direction::Up, t0, MESSAGE);
        w.take(1, Direction::Up, t0, MESSAGE2);
        w.take(1, Direction::Down, t0, ACK2);
        w.take(2, Direction::Down, t0, ACK1);
        let summary = w.finish();
        assert_eq!(summary.replies, 1, "a reply on another connection pairs with nothing");
        assert_eq!(read(&f, "acks/0002.hl7").as_bytes(), payload(ACK2));
        let _ = std::fs::remove_dir_all(&f.dir);
    }

    #[test]
    fn the_limit_stops_recording_and_says_so() {
        let f = fixture("limit");
        let mut w = writer(&f, RecordLimit { messages: 1, bytes: DEFAULT_MAX_BYTES });
        let t0 = Instant::now();
        w.take(1, Direction::Up, t0, MESSAGE);
        w.take(1, Direction::Up, t0, MESSAGE2);
        assert!(w.full.load(Ordering::Relaxed), "the tap takes no more messages");
        let summary = w.finish();
        assert_eq!(summary.messages, 1);
        assert!(summary.stopped.as_deref().unwrap().contains("limit of 1 messages"));
        assert!(f.notes.lock().unwrap()[0].starts_with("recording stopped"));
        assert!(read(&f, SCENARIO_FILE).contains("# INCOMPLETE: recording stopped early"));
        assert!(!message_file(&f.dir, 2).exists());

        let f = fixture("bytes");
        let mut w = writer(&f, RecordLimit { messages: 10, bytes: 80 });
        w.take(1, Direction::Up, t0, MESSAGE);
        w.take(1, Direction::Down, t0, ACK1);
        let summary = w.finish();
        assert_eq!((summary.messages, summary.replies), (1, 0));
        assert!(summary.stopped.unwrap().contains("80 bytes"));
        let yaml = read(&f, SCENARIO_FILE);
        assert!(!yaml.contains("expect:"), "a reply not written expects nothing: {yaml}");
        let _ = std::fs::remove_dir_all(&f.dir);
    }

    #[test]
    fn a_write_error_is_reported_not_a_panic() {
        let f = fixture("broken");
        let mut w = writer(&f, RecordLimit::default());
        std::fs::remove_dir_all(f.dir.join("messages")).unwrap();
        std::fs::write(f.dir.join("messages"), b"a file where the folder was").unwrap();
        w.take(1, Direction::Up, Instant::now(), MESSAGE);
        w.take(1, Direction::Up, Instant::now(), MESSAGE2);
        let summary = w.finish();
        assert_eq!(summary.messages, 0);
        assert!(summary.error.as_deref().unwrap().contains("messages/0001.hl7"), "{summary:?}");
        assert_eq!(f.notes.lock().unwrap().len(), 1);
        assert!(!f.dir.join(SCENARIO_FILE).exists());
        let _ = std::fs::remove_dir_all(&f.dir);
    }

    #[test]
    fn redaction_applies_to_messages_and_replies() {
        let f = fixture("redact");
        let mut w = writer(&f, RecordLimit::default());
        w.options.redact =
            Some(Box::new(|b: &[u8]| String::from_utf8_lossy(b).replace("Doe", "[name-1]").into()));
        w.take(1, Direction::Up, Instant::now(), MESSAGE);
        w.finish();
        assert!(read(&f, "messages/0001.hl7").contains("[name-1]^John"));
        let _ = std::fs::remove_dir_all(&f.dir);
    }

    #[tokio::test]
    async fn the_tap_drops_and_counts_when_the_writer_is_behind() {
        let f = fixture("tap");
        let options =
            RecordOptions { dir: f.dir.clone(), schema: Some("{}".into()), ..options_for_test() };
        let recording = start(options, Box::new(|_| {})).unwrap();
        let tap = recording.tap();
        let frame = bytes::Bytes::from_static(MESSAGE);
        for _ in 0..2000 {
            tap.frame(1, Direction::Up, &frame);
        }
        let summary = recording.finish().await;
        assert_eq!(summary.messages as u64 + summary.dropped, 2000, "{summary:?}");
        assert!(summary.dropped > 0, "a queue of one cannot keep up: {summary:?}");
        assert!(read(&f, SCENARIO_FILE).contains("frame(s) dropped"));
        assert_eq!(tap.queued.load(Ordering::Relaxed), 0, "every byte handed over is accounted");

        // Room for 1000 frames but not for two of them in bytes: the byte bound drops.
        let bytes = fixture("tap-bytes").dir;
        let options = RecordOptions {
            dir: bytes.clone(),
            queue: 1000,
            queue_bytes: MESSAGE.len() as u64 + 1,
            ..options_for_test()
        };
        let recording = start(options, Box::new(|_| {})).unwrap();
        let tap = recording.tap();
        for _ in 0..2000 {
            tap.frame(1, Direction::Up, &frame);
        }
        let summary = recording.finish().await;
        assert_eq!(summary.messages as u64 + summary.dropped, 2000, "{summary:?}");
        assert!(summary.dropped > 0, "{summary:?}");
        let _ = std::fs::remove_dir_all(&bytes);
        assert_eq!(read(&f, SCHEMA_FILE), "{}");
        let again = RecordOptions { dir: f.dir.clone(), schema: None, ..options_for_test() };
        assert!(matches!(start(again, Box::new(|_| {})), Err(RecordError::NotEmpty(_))));
        let _ = std::fs::remove_dir_all(&f.dir);
    }

    fn options_for_test() -> RecordOptions {
        RecordOptions {
            dir: PathBuf::new(),
            limit: RecordLimit::default(),
            redact: None,
            header: Vec::new(),
            target: None,
            schema: None,
            queue: 1,
            queue_bytes: QUEUE_BYTES,
        }
    }

    #[test]
    fn limits() {
        let check = |text: &str, expected: Option<(u64, u64)>| {
            let got = parse_limit(text).ok().map(|l| (l.messages, l.bytes));
            assert_eq!(got, expected, "{text}");
        };
        check("500", Some((500, DEFAULT_MAX_BYTES)));
        check("2MB", Some((DEFAULT_MAX_MESSAGES, 2_000_000)));
        check("10,4096b", Some((10, 4096)));
        check("0", None);
        check("10,5TB", None);
        check("", None);
        check("99999999999GB", None);
        let shown = |messages, bytes| RecordLimit { messages, bytes }.to_string();
        assert_eq!(shown(10_000, DEFAULT_MAX_BYTES), "10000,100MB");
        assert_eq!(shown(5, 4096), "5,4096B");
    }
}
