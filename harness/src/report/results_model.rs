//! The one model of `results.json` (schema `hl7-harness/results/1`): [`ResultsFile`] is built
//! from a finished run to write the file ([`super::json`]) and read back from a shard's file to
//! merge it ([`super::merge`]). A field is only ever added within a schema version, never
//! renamed or removed; fields added after the first release read back with their default, so
//! older reports still merge.
//!
//! Keys are written in alphabetical order at every level: the file has always been written
//! through `serde_json::Value` (whose maps sort their keys), and its bytes must not change.

use super::baseline::Comparison;
use super::json::verdict_name;
use super::record::{InputFile, RunRecord};
use crate::checks::{CheckResult, ContentFindings};
use crate::observation::{Attempt, CanaryWhen, HttpObservation, ProbeResult, SutRun};
use crate::observation::{Reply, TransportEvent, Wait, WaitKind};
use crate::profile::ProfileUsed;
use crate::runner::{CaseOutcome, Verdict};
use crate::vocab::Seed;
use base64::Engine;
use serde::{Deserialize, Serialize};

/// The whole file.
#[derive(Debug, Serialize, Deserialize)]
pub struct ResultsFile {
    pub schema: String,
    #[serde(default)]
    pub run_id: String,
    pub harness_version: String,
    pub target: String,
    pub seed: Seed,
    #[serde(default)]
    pub profiles: Vec<ProfileUsed>,
    pub started: String,
    pub finished: String,
    /// `conformant` or `not conformant`.
    #[serde(default)]
    pub verdict: String,
    pub unreachable: bool,
    #[serde(default)]
    pub phi_redacted: bool,
    /// `K/N` for a shard's report.
    #[serde(default)]
    pub shard: Option<String>,
    #[serde(default)]
    pub baseline: Option<Comparison>,
    #[serde(default)]
    pub counts: Counts,
    pub packs: Vec<PackEntry>,
    #[serde(default)]
    pub skipped: Vec<SkippedEntry>,
    /// The load phases' accounts, only in runs that have one (so other reports stay as they
    /// were). Written for people and dashboards; a merge does not read them back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load: Option<Vec<serde_json::Value>>,
}

/// The verdicts of a set of cases.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub cases: usize,
    pub passed: usize,
    pub warned: usize,
    pub failed: usize,
    pub checks: usize,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct SkippedEntry {
    /// `/` separators.
    pub file: String,
    pub reason: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct PackEntry {
    pub name: String,
    pub sha256: Option<String>,
    #[serde(default)]
    pub files: Vec<InputFile>,
    #[serde(default)]
    pub counts: Counts,
    pub cases: Vec<CaseEntry>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct CaseEntry {
    pub scenario: String,
    /// `/` separators.
    pub file: String,
    pub name: String,
    /// `passed`, `warned` or `failed`.
    #[serde(default)]
    pub verdict: String,
    pub seed: Seed,
    pub duration_ms: u64,
    pub sent: Vec<String>,
    pub checks: Vec<CheckEntry>,
    pub exchanges: Vec<ExchangeEntry>,
    pub stray: Vec<ReplyEntry>,
    pub probes: Vec<ProbeResult>,
    /// `open`, `closed`, `reset` or `unknown`.
    pub connections_after: Vec<String>,
    #[serde(default)]
    pub canaries: Vec<CanaryEntry>,
    pub aborted: Option<TransportEvent>,
    pub reproduce: String,
    pub position: PositionEntry,
    #[serde(default)]
    pub arrivals: Vec<ArrivalEntry>,
    #[serde(default)]
    pub sut: Option<SutRun>,
    /// Through role: the inputs with the engine's answers, and what arrived where.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub through: Option<ThroughEntry>,
    /// The waits the case required outside its exchanges: steps' pauses, idle connections,
    /// answers held back, quiet periods, peers' timeouts it made expire (added within
    /// `hl7-harness/results/1`; absent when none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waits: Vec<WaitEntry>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ThroughEntry {
    pub inputs: Vec<ThroughInputEntry>,
    pub arrivals: Vec<ThroughArrivalEntry>,
    /// The path that ties an output to its input (`MSH-10`), for the case's snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Per destination, the paths the case's snapshot redacts (its `ignore:` and `matches:`),
    /// so a merged report's snapshots are an unsplit run's.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub redacted: std::collections::BTreeMap<String, Vec<String>>,
    /// The destinations read rather than listened as (`read:`): how, how often, and what could
    /// not be read, so a merged report keeps the evidence of `through.destination-read`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reads: Vec<crate::observation::DestinationRead>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ThroughInputEntry {
    pub label: String,
    pub message: MessageEntry,
    pub sent_ms: u64,
    pub ack: Option<MessageEntry>,
    pub event: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ThroughArrivalEntry {
    pub destination: String,
    #[serde(flatten)]
    pub arrival: ArrivalEntry,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct CanaryEntry {
    pub when: CanaryWhen,
    pub sent: MessageEntry,
    pub reply: Option<ReplyEntry>,
    pub event: Option<TransportEvent>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ArrivalEntry {
    pub connection: usize,
    pub message: MessageEntry,
    pub notes: Vec<NoteEntry>,
    pub received_ms: u64,
    pub answer: String,
    pub answered_ms: Option<u64>,
    pub accepted: bool,
    pub rejected: bool,
}

/// Where the case stands in the run, so shard reports merge back into run order.
#[derive(Debug, Serialize, Deserialize)]
pub struct PositionEntry {
    pub file: usize,
    pub case: usize,
}

/// A check result as written: ids, severities and rules as text, checked against this
/// harness's catalogue when read back.
#[derive(Debug, Serialize, Deserialize)]
pub struct CheckEntry {
    pub id: String,
    pub severity: String,
    pub rule: String,
    pub step: Option<usize>,
    pub passed: bool,
    pub evidence: String,
    /// `sender.content` only: its findings per message and the rules the case's messages
    /// exercised, as data (added within `hl7-harness/results/1`; absent elsewhere).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<ContentFindings>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ExchangeEntry {
    pub step: usize,
    pub connection: usize,
    pub raw: bool,
    pub sent: MessageEntry,
    pub faults: Vec<String>,
    pub replies: Vec<ReplyEntry>,
    pub ack_timeout_ms: u64,
    pub event: Option<TransportEvent>,
    pub http: Option<HttpObservation>,
    #[serde(default)]
    pub attempts: Vec<Attempt>,
    /// The waits this exchange's faults required (added within `hl7-harness/results/1`;
    /// absent when none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waits: Vec<WaitEntry>,
}

/// A wait a case required (`observation::Wait`): its kind (`pause`, `fault-delay`, `idle`,
/// `silence`, `outage`, `answer-delay`, `refused`, `quiet`, `peer-timeout`), its step when it
/// belongs to one, and its length. What `cargo xtask bench run` holds a run's wall time against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitEntry {
    pub kind: WaitKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<usize>,
    pub ms: u64,
}

impl WaitEntry {
    pub fn of(wait: &Wait) -> WaitEntry {
        WaitEntry { kind: wait.kind, step: wait.step, ms: millis(wait.duration) }
    }

    /// The wait read back.
    pub fn wait(&self) -> Wait {
        Wait {
            kind: self.kind,
            step: self.step,
            duration: std::time::Duration::from_millis(self.ms),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ReplyEntry {
    pub message: MessageEntry,
    pub elapsed_ms: u64,
    pub notes: Vec<NoteEntry>,
}

/// A note the decoder made about a frame: its code and the byte offset.
#[derive(Debug, Serialize, Deserialize)]
pub struct NoteEntry {
    pub code: String,
    pub offset: u64,
}

/// Message bytes as text (HL7 segments end in `\r`); bytes that are not UTF-8 are also given
/// exactly as base64 so nothing is lost.
#[derive(Debug, Serialize, Deserialize)]
pub struct MessageEntry {
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base64: Option<String>,
}

impl MessageEntry {
    pub fn of(bytes: &[u8]) -> MessageEntry {
        match std::str::from_utf8(bytes) {
            Ok(text) => MessageEntry { text: text.to_string(), base64: None },
            Err(_) => MessageEntry {
                text: String::from_utf8_lossy(bytes).into_owned(),
                base64: Some(base64::engine::general_purpose::STANDARD.encode(bytes)),
            },
        }
    }
}

fn notes(notes: &[(String, u64)]) -> Vec<NoteEntry> {
    notes.iter().map(|(code, offset)| NoteEntry { code: code.clone(), offset: *offset }).collect()
}

fn millis(duration: std::time::Duration) -> u64 {
    duration.as_millis() as u64
}

impl ReplyEntry {
    pub fn of(reply: &Reply) -> ReplyEntry {
        ReplyEntry {
            message: MessageEntry::of(&reply.payload),
            elapsed_ms: millis(reply.elapsed),
            notes: notes(&reply.notes),
        }
    }
}

impl CheckEntry {
    pub fn of(result: &CheckResult) -> CheckEntry {
        CheckEntry {
            id: result.id.to_string(),
            severity: result.severity.to_string(),
            rule: result.rule.to_string(),
            step: result.step,
            passed: result.passed,
            evidence: result.evidence.clone(),
            content: result.content.as_deref().cloned(),
        }
    }
}

impl Counts {
    /// The counts of a set of cases.
    pub fn of<'a>(cases: impl Iterator<Item = &'a CaseOutcome>) -> Counts {
        let mut counts = Counts::default();
        for case in cases {
            counts.cases += 1;
            counts.checks += case.results.len();
            match case.verdict() {
                Verdict::Passed => counts.passed += 1,
                Verdict::Warned => counts.warned += 1,
                Verdict::Failed => counts.failed += 1,
            }
        }
        counts
    }
}

/// A path as reports write it: `/` separators on every platform.
fn slashed(path: &std::path::Path) -> String {
    path.display().to_string().replace('\\', "/")
}

impl CaseEntry {
    pub fn of(case: &CaseOutcome) -> CaseEntry {
        let observation = &case.observation;
        CaseEntry {
            scenario: case.scenario.clone(),
            file: slashed(&case.file),
            name: case.name.clone(),
            verdict: verdict_name(case.verdict()).into(),
            seed: case.seed,
            duration_ms: millis(case.duration),
            sent: case.sent.clone(),
            checks: case.results.iter().map(CheckEntry::of).collect(),
            exchanges: observation
                .exchanges
                .iter()
                .map(|e| ExchangeEntry {
                    step: e.step,
                    connection: e.connection,
                    raw: e.raw,
                    sent: MessageEntry::of(&e.sent),
                    faults: e.faults.clone(),
                    replies: e.replies.iter().map(ReplyEntry::of).collect(),
                    ack_timeout_ms: millis(e.ack_timeout),
                    event: e.event.clone(),
                    http: e.http.clone(),
                    attempts: e.attempts.clone(),
                    waits: e.waits.iter().map(WaitEntry::of).collect(),
                })
                .collect(),
            stray: observation.stray.iter().map(ReplyEntry::of).collect(),
            probes: observation.probes.clone(),
            connections_after: observation
                .connections_after
                .iter()
                .map(|c| c.name().to_string())
                .collect(),
            canaries: observation
                .canaries
                .iter()
                .map(|c| CanaryEntry {
                    when: c.when,
                    sent: MessageEntry::of(&c.sent),
                    reply: c.reply.as_ref().map(ReplyEntry::of),
                    event: c.event.clone(),
                })
                .collect(),
            aborted: observation.aborted.clone(),
            reproduce: case.reproduce.clone(),
            position: PositionEntry { file: case.position.0, case: case.position.1 },
            arrivals: observation.arrivals.iter().map(ArrivalEntry::of).collect(),
            sut: observation.sut.clone(),
            through: observation.through.as_ref().map(|t| ThroughEntry {
                inputs: t
                    .inputs
                    .iter()
                    .map(|i| ThroughInputEntry {
                        label: i.label.clone(),
                        message: MessageEntry::of(&i.payload),
                        sent_ms: millis(i.sent),
                        ack: i.ack.as_deref().map(MessageEntry::of),
                        event: i.event.clone(),
                    })
                    .collect(),
                arrivals: t
                    .arrivals
                    .iter()
                    .map(|a| ThroughArrivalEntry {
                        destination: a.destination.clone(),
                        arrival: ArrivalEntry::of(&a.arrival),
                    })
                    .collect(),
                key: case.output_redaction.as_ref().map(|r| r.key.to_string()),
                redacted: case
                    .output_redaction
                    .iter()
                    .flat_map(|r| r.volatile.iter())
                    .map(|(to, paths)| (to.clone(), paths.iter().map(|p| p.to_string()).collect()))
                    .collect(),
                reads: t.reads.clone(),
            }),
            waits: observation.waits.iter().map(WaitEntry::of).collect(),
        }
    }
}

impl ArrivalEntry {
    fn of(a: &crate::observation::Arrival) -> ArrivalEntry {
        ArrivalEntry {
            connection: a.connection,
            message: MessageEntry::of(&a.payload),
            notes: notes(&a.notes),
            received_ms: millis(a.received),
            answer: a.answer.clone(),
            answered_ms: a.answered.map(millis),
            accepted: a.accepted,
            rejected: a.rejected,
        }
    }
}

impl ResultsFile {
    /// The file of a finished run.
    pub fn of(record: &RunRecord) -> ResultsFile {
        let outcome = record.outcome;
        let packs = outcome
            .packs
            .iter()
            .map(|pack| {
                let inputs = record.pack(&pack.name);
                PackEntry {
                    name: pack.name.clone(),
                    sha256: inputs.map(|i| i.sha256.clone()),
                    files: inputs.map(|i| i.files.clone()).unwrap_or_default(),
                    counts: Counts::of(pack.cases.iter()),
                    cases: pack.cases.iter().map(CaseEntry::of).collect(),
                }
            })
            .collect();
        ResultsFile {
            schema: super::json::SCHEMA.into(),
            run_id: record.run_id.clone(),
            harness_version: super::record::HARNESS_VERSION.into(),
            target: outcome.target.clone(),
            seed: outcome.seed,
            profiles: outcome.profiles.clone(),
            started: super::time::rfc3339(record.started),
            finished: super::time::rfc3339(record.finished),
            verdict: record.verdict().into(),
            unreachable: outcome.unreachable,
            phi_redacted: record.phi_redacted,
            shard: outcome.shard.map(|s| s.to_string()),
            baseline: record.baseline.clone(),
            counts: Counts::of(outcome.cases()),
            packs,
            skipped: outcome
                .skipped
                .iter()
                .map(|(file, reason)| SkippedEntry { file: slashed(file), reason: reason.clone() })
                .collect(),
            load: (!outcome.load.is_empty())
                .then(|| outcome.load.iter().map(super::load::json).collect()),
        }
    }
}
