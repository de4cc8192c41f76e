//! What the proxy did, as events: every fault it injects (with the rule and the frame it
//! touched) and every note a reader of the run needs (connections, bytes outside frames, bytes
//! that could not be delivered). Each event is one line on stdout and one JSON line in the log
//! file and the report's `faults.jsonl`; the last [`RECENT`] stay in memory for `GET /events`.
//! Events carry control ids and message types, never message text.

use super::frame::FrameIds;
use crate::faults::Direction;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::io::Write;
use std::sync::Mutex;
use std::time::SystemTime;

/// How many events `GET /events` can return.
pub const RECENT: usize = 1000;

/// `fault` for an injected fault, `note` for everything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    Fault,
    Note,
}

/// One event, as written to the log (schema in the user guide, docs/howto/proxy.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    /// RFC 3339, UTC, milliseconds.
    pub time: String,
    pub kind: EventKind,
    /// Connection id (1, 2, … in accept order); 0 for events of the whole proxy.
    pub conn: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dir: Option<&'static str>,
    /// Index of the frame in its direction over the run (1-based).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frame: Option<u64>,
    #[serde(flatten)]
    pub ids: FrameIds,
    /// The fault kind (`drop`, `reset`, …) or the note's code (`connect`, `unframed-bytes`, …).
    pub fault: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spec: Option<String>,
    pub detail: String,
}

impl Event {
    pub fn note(conn: u64, dir: Option<Direction>, code: &str, detail: String) -> Event {
        Event {
            time: rfc3339_millis(SystemTime::now()),
            kind: EventKind::Note,
            conn,
            dir: dir.map(Direction::name),
            frame: None,
            ids: FrameIds::default(),
            fault: code.to_string(),
            rule: None,
            spec: None,
            detail,
        }
    }

    /// The line printed on stdout.
    pub fn line(&self) -> String {
        let mut line = format!("{} conn={}", self.time, self.conn);
        if let Some(dir) = self.dir {
            line.push_str(&format!(" {dir}"));
        }
        if let Some(frame) = self.frame {
            line.push_str(&format!(" frame={frame}"));
        }
        for (name, value) in [
            ("msh9", &self.ids.msh9),
            ("msh10", &self.ids.msh10),
            ("msa1", &self.ids.msa1),
            ("msa2", &self.ids.msa2),
        ] {
            if let Some(value) = value {
                line.push_str(&format!(" {name}={value}"));
            }
        }
        let label = match self.kind {
            EventKind::Fault => "FAULT",
            EventKind::Note => "note",
        };
        line.push_str(&format!(" {label} {}", self.fault));
        if let (Some(rule), Some(spec)) = (self.rule, &self.spec) {
            line.push_str(&format!(" rule={rule} [{spec}]"));
        }
        if !self.detail.is_empty() {
            line.push_str(&format!(": {}", self.detail));
        }
        line
    }
}

/// RFC 3339 in UTC with milliseconds, e.g. `2026-11-26T10:12:03.123Z`.
pub fn rfc3339_millis(time: SystemTime) -> String {
    let seconds = crate::utc::rfc3339(time);
    let millis = time.duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_millis()).unwrap_or(0);
    format!("{}.{millis:03}Z", seconds.trim_end_matches('Z'))
}

/// Where events go. Writing is best effort: a full disk or a closed stdout must not stop the
/// proxy, but the first failure of each sink is reported on stderr.
pub struct EventLog {
    inner: Mutex<Inner>,
    print: bool,
}

struct Inner {
    recent: VecDeque<Event>,
    sinks: Vec<Sink>,
    /// Events per `(kind, fault)`, for the summary.
    counts: BTreeMap<(String, String), u64>,
    /// Faults per rule id.
    per_rule: BTreeMap<u64, u64>,
}

struct Sink {
    name: String,
    file: std::io::BufWriter<std::fs::File>,
    failed: bool,
}

impl EventLog {
    /// A log that prints each event on stdout when `print` is set.
    pub fn new(print: bool) -> EventLog {
        let inner = Inner {
            recent: VecDeque::new(),
            sinks: Vec::new(),
            counts: BTreeMap::new(),
            per_rule: BTreeMap::new(),
        };
        EventLog { inner: Mutex::new(inner), print }
    }

    /// Appends every later event to `path` as a JSON line (the file is created when missing).
    pub fn add_file(&self, path: &std::path::Path) -> std::io::Result<()> {
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        let sink = Sink {
            name: path.display().to_string(),
            file: std::io::BufWriter::new(file),
            failed: false,
        };
        self.lock().sinks.push(sink);
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn record(&self, event: Event) {
        let json = serde_json::to_string(&event).unwrap_or_default();
        let mut inner = self.lock();
        for sink in &mut inner.sinks {
            let written = writeln!(sink.file, "{json}").and_then(|()| sink.file.flush());
            if let Err(err) = written {
                if !sink.failed {
                    eprintln!("hl7-harness proxy: cannot write the event log {}: {err}", sink.name);
                }
                sink.failed = true;
            }
        }
        if self.print {
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            let _ = writeln!(out, "{}", event.line());
            let _ = out.flush();
        }
        let key = (format!("{:?}", event.kind).to_lowercase(), event.fault.clone());
        *inner.counts.entry(key).or_insert(0) += 1;
        if let (EventKind::Fault, Some(rule)) = (event.kind, event.rule) {
            *inner.per_rule.entry(rule).or_insert(0) += 1;
        }
        if inner.recent.len() == RECENT {
            inner.recent.pop_front();
        }
        inner.recent.push_back(event);
    }

    /// The last events, oldest first.
    pub fn recent(&self) -> Vec<Event> {
        self.lock().recent.iter().cloned().collect()
    }

    /// Events per `(kind, fault)` so far.
    pub fn counts(&self) -> BTreeMap<(String, String), u64> {
        self.lock().counts.clone()
    }

    /// Faults injected per rule id so far.
    pub fn per_rule(&self) -> BTreeMap<u64, u64> {
        self.lock().per_rule.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn time_has_milliseconds() {
        let t = UNIX_EPOCH + Duration::from_millis(1_795_314_955_042);
        assert_eq!(rfc3339_millis(t), "2026-11-22T02:35:55.042Z");
    }

    #[test]
    fn line_json_and_memory() {
        let mut event = Event::note(3, Some(Direction::Down), "x", String::new());
        event.kind = EventKind::Fault;
        event.fault = "drop".into();
        event.frame = Some(2);
        event.rule = Some(1);
        event.spec = Some("drop:dir=down,frame=2".into());
        event.ids.msa2 = Some("MSG1".into());
        event.detail = "not forwarded".into();
        let line = event.line();
        assert!(line.ends_with(
            " conn=3 down frame=2 msa2=MSG1 FAULT drop rule=1 [drop:dir=down,frame=2]: not forwarded"
        ), "{line}");
        let json: serde_json::Value = serde_json::to_value(&event).unwrap();
        assert_eq!(json["msa2"], "MSG1");
        assert_eq!(json["kind"], "fault");
        assert!(json.get("msh10").is_none());
        let log = EventLog::new(false);
        for _ in 0..RECENT + 5 {
            log.record(event.clone());
        }
        assert_eq!(log.recent().len(), RECENT);
        assert_eq!(log.per_rule()[&1], (RECENT + 5) as u64);
        assert_eq!(log.counts()[&("fault".to_string(), "drop".to_string())], (RECENT + 5) as u64);
    }
}
