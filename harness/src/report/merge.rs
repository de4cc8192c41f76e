//! `report merge`: joins the reports of the shards of one run (`run --shard K/N`) into one
//! report, as if the run had not been split. Each shard's `results.json` is read back (through
//! the same model that wrote it, [`ResultsFile`]) into the run's outcome and every report file is written anew, so the merged report has the same form
//! (and the same snapshots) as an unsplit run.
//!
//! A merge refuses what would not be one run: shards edited since they were written (checked
//! against their manifests), other harness versions, seeds, targets or pack contents, a shard
//! given twice or missing.

use super::baseline::Comparison;
use super::manifest::{compare, Manifest, FILE as MANIFEST};
use super::record::{PackInputs, RunRecord};
use super::results_model::{
    ArrivalEntry, CaseEntry, CheckEntry, MessageEntry, PackEntry, ReplyEntry, ResultsFile,
    ThroughEntry, WaitEntry,
};
use super::time::{parse_rfc3339, run_id};
use crate::checks::{CheckResult, Severity, CATALOGUE};
use crate::observation::{Arrival, Canary, CaseObservation, ConnectionAfter, Exchange, Reply};
use crate::observation::{ThroughArrival, ThroughInput, ThroughObservation};
use crate::runner::{CaseOutcome, PackOutcome, RunOutcome, Shard};
use base64::Engine;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The shards cannot be merged.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not a results file of this harness: {message}", path.display())]
    Results { path: PathBuf, message: String },
    #[error("{}: changed since the run ({changes}); a merged report must come from untouched shards", dir.display())]
    Changed { dir: PathBuf, changes: String },
    #[error("{}: {message}", dir.display())]
    Mismatch { dir: PathBuf, message: String },
    #[error("shard(s) {missing} of {count} not given; every shard of the run is needed")]
    Missing { missing: String, count: usize },
    #[error("{}: holds a report already; choose another folder", dir.display())]
    OutputExists { dir: PathBuf },
    #[error(transparent)]
    Write(#[from] super::ReportError),
}

/// One shard's report, read back.
struct ShardReport {
    dir: PathBuf,
    shard: Shard,
    results: ResultsFile,
}

fn read(path: &Path) -> Result<Vec<u8>, MergeError> {
    std::fs::read(path).map_err(|source| MergeError::Read { path: path.to_path_buf(), source })
}

fn results_error(path: &Path, message: impl Into<String>) -> MergeError {
    MergeError::Results { path: path.to_path_buf(), message: message.into() }
}

fn read_shard(dir: &Path) -> Result<ShardReport, MergeError> {
    let manifest_path = dir.join(MANIFEST);
    let manifest: Manifest = serde_json::from_slice(&read(&manifest_path)?)
        .map_err(|e| results_error(&manifest_path, e.to_string()))?;
    let changes = compare(dir, &manifest)
        .map_err(|source| MergeError::Read { path: dir.to_path_buf(), source })?;
    if !changes.is_empty() {
        let changes = changes.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
        return Err(MergeError::Changed { dir: dir.to_path_buf(), changes });
    }
    let path = dir.join("results.json");
    let results: ResultsFile =
        serde_json::from_slice(&read(&path)?).map_err(|e| results_error(&path, e.to_string()))?;
    if results.schema != super::json::SCHEMA {
        return Err(results_error(&path, format!("schema {:?}", results.schema)));
    }
    let shard = results.shard.as_deref().ok_or_else(|| MergeError::Mismatch {
        dir: dir.to_path_buf(),
        message: "not a shard (the run had no --shard K/N)".into(),
    })?;
    let shard = Shard::parse(shard).map_err(|e| results_error(&path, e.to_string()))?;
    Ok(ShardReport { dir: dir.to_path_buf(), shard, results })
}

/// The same run in every shard: version, seed, target, redaction, number of shards, packs.
fn check_consistent(shards: &[ShardReport]) -> Result<(), MergeError> {
    let first = &shards[0];
    for other in &shards[1..] {
        let mismatch = |what: &str, a: &dyn std::fmt::Display, b: &dyn std::fmt::Display| {
            MergeError::Mismatch {
                dir: other.dir.clone(),
                message: format!("{what} {b}, but {} has {a}", first.dir.display()),
            }
        };
        let (a, b) = (&first.results, &other.results);
        if a.harness_version != b.harness_version {
            return Err(mismatch("harness version", &a.harness_version, &b.harness_version));
        }
        if a.seed != b.seed {
            return Err(mismatch("seed", &a.seed, &b.seed));
        }
        if a.target != b.target {
            return Err(mismatch("target", &a.target, &b.target));
        }
        if a.profiles != b.profiles {
            let show = |p: &[crate::profile::ProfileUsed]| crate::profile::ProfileUsed::describe(p);
            return Err(mismatch("target profile", &show(&a.profiles), &show(&b.profiles)));
        }
        if a.phi_redacted != b.phi_redacted {
            return Err(mismatch("phi_redacted", &a.phi_redacted, &b.phi_redacted));
        }
        if first.shard.count != other.shard.count {
            return Err(mismatch("shard", &first.shard, &other.shard));
        }
        for pack in &b.packs {
            let known = a.packs.iter().find(|p| p.name == pack.name);
            if let Some(known) = known.filter(|k| k.sha256 != pack.sha256) {
                let show = |s: &Option<String>| s.clone().unwrap_or_else(|| "none".into());
                let what = format!("pack {} sha256", pack.name);
                return Err(mismatch(&what, &show(&known.sha256), &show(&pack.sha256)));
            }
        }
    }
    let count = first.shard.count;
    let mut given = vec![None::<&Path>; count];
    for shard in shards {
        let slot = &mut given[shard.shard.index - 1];
        if let Some(earlier) = slot {
            return Err(MergeError::Mismatch {
                dir: shard.dir.clone(),
                message: format!("shard {} given twice (also {})", shard.shard, earlier.display()),
            });
        }
        *slot = Some(&shard.dir);
    }
    let missing: Vec<String> = given
        .iter()
        .enumerate()
        .filter(|(_, d)| d.is_none())
        .map(|(i, _)| (i + 1).to_string())
        .collect();
    if !missing.is_empty() {
        return Err(MergeError::Missing { missing: missing.join(", "), count });
    }
    Ok(())
}

fn bytes(path: &Path, message: &MessageEntry) -> Result<Vec<u8>, MergeError> {
    match &message.base64 {
        Some(encoded) => base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|e| results_error(path, format!("bad base64 message: {e}"))),
        None => Ok(message.text.clone().into_bytes()),
    }
}

fn reply(path: &Path, entry: &ReplyEntry) -> Result<Reply, MergeError> {
    Ok(Reply {
        payload: bytes(path, &entry.message)?,
        notes: entry.notes.iter().map(|n| (n.code.clone(), n.offset)).collect(),
        elapsed: Duration::from_millis(entry.elapsed_ms),
    })
}

fn arrival(path: &Path, a: &ArrivalEntry) -> Result<Arrival, MergeError> {
    Ok(Arrival {
        connection: a.connection,
        payload: bytes(path, &a.message)?,
        notes: a.notes.iter().map(|n| (n.code.clone(), n.offset)).collect(),
        received: Duration::from_millis(a.received_ms),
        answer: a.answer.clone(),
        answered: a.answered_ms.map(Duration::from_millis),
        accepted: a.accepted,
        rejected: a.rejected,
    })
}

/// A through case's inputs and arrivals read back.
fn through(path: &Path, t: &ThroughEntry) -> Result<ThroughObservation, MergeError> {
    let inputs = t
        .inputs
        .iter()
        .map(|i| {
            Ok(ThroughInput {
                label: i.label.clone(),
                payload: bytes(path, &i.message)?,
                sent: Duration::from_millis(i.sent_ms),
                ack: i.ack.as_ref().map(|m| bytes(path, m)).transpose()?,
                event: i.event.clone(),
            })
        })
        .collect::<Result<_, MergeError>>()?;
    let arrivals = t
        .arrivals
        .iter()
        .map(|a| {
            let arrival = arrival(path, &a.arrival)?;
            Ok(ThroughArrival { destination: a.destination.clone(), arrival })
        })
        .collect::<Result<_, MergeError>>()?;
    Ok(ThroughObservation { inputs, arrivals, reads: t.reads.clone() })
}

/// A through case's snapshot redaction read back; `None` for a report written before it
/// was kept.
fn output_redaction(
    path: &Path,
    t: &ThroughEntry,
) -> Result<Option<crate::checks::OutputRedaction>, MergeError> {
    let parse = |text: &str| {
        crate::hl7::Path::parse(text)
            .map_err(|e| results_error(path, format!("through path {text:?}: {}", e.reason)))
    };
    let Some(key) = &t.key else { return Ok(None) };
    let mut volatile = std::collections::BTreeMap::new();
    for (to, paths) in &t.redacted {
        let parsed = paths.iter().map(|p| parse(p)).collect::<Result<Vec<_>, _>>()?;
        volatile.insert(to.clone(), parsed);
    }
    Ok(Some(crate::checks::OutputRedaction { key: parse(key)?, volatile }))
}

/// A check result read back: the id must be one this harness knows, with the same rule.
fn check(path: &Path, entry: &CheckEntry) -> Result<CheckResult, MergeError> {
    let def = CATALOGUE
        .iter()
        .find(|d| d.id == entry.id.as_str())
        .ok_or_else(|| results_error(path, format!("unknown check id {:?}", entry.id)))?;
    // An error check may grade one result down to a warning (ack.msh9 before v2.4, history.order
    // under pipelining); never up.
    let downgraded = def.severity == Severity::Error && entry.severity == "warning";
    if def.rule != entry.rule || (def.severity.to_string() != entry.severity && !downgraded) {
        return Err(results_error(
            path,
            format!("check {:?} differs from this harness's", entry.id),
        ));
    }
    let mut result = if entry.passed {
        CheckResult::pass(*def, entry.step)
    } else {
        CheckResult::fail(*def, entry.step, entry.evidence.clone())
    };
    if downgraded {
        result = result.with_severity(Severity::Warning);
    }
    result.evidence = entry.evidence.clone();
    result.content = entry.content.clone().map(Box::new);
    Ok(result)
}

fn case(path: &Path, pack: &str, entry: &CaseEntry) -> Result<CaseOutcome, MergeError> {
    let mut exchanges = Vec::new();
    for e in &entry.exchanges {
        exchanges.push(Exchange {
            step: e.step,
            connection: e.connection,
            sent: bytes(path, &e.sent)?,
            raw: e.raw,
            replies: e.replies.iter().map(|r| reply(path, r)).collect::<Result<_, _>>()?,
            ack_timeout: Duration::from_millis(e.ack_timeout_ms),
            event: e.event.clone(),
            http: e.http.clone(),
            intent: None,
            faults: e.faults.clone(),
            attempts: e.attempts.clone(),
            reply_order: Vec::new(),
            after_outside_bytes: false,
            waits: e.waits.iter().map(WaitEntry::wait).collect(),
        });
    }
    let connections_after = entry
        .connections_after
        .iter()
        .map(|c| match c.as_str() {
            "open" => ConnectionAfter::Open,
            "closed" => ConnectionAfter::Closed,
            "reset" => ConnectionAfter::Reset,
            _ => ConnectionAfter::Unknown,
        })
        .collect();
    Ok(CaseOutcome {
        pack: pack.to_string(),
        scenario: entry.scenario.clone(),
        file: PathBuf::from(&entry.file),
        name: entry.name.clone(),
        seed: entry.seed,
        sent: entry.sent.clone(),
        results: entry.checks.iter().map(|c| check(path, c)).collect::<Result<_, _>>()?,
        observation: CaseObservation {
            exchanges,
            connections_after,
            stray: entry.stray.iter().map(|r| reply(path, r)).collect::<Result<_, _>>()?,
            probes: entry.probes.clone(),
            aborted: entry.aborted.clone(),
            arrivals: entry.arrivals.iter().map(|a| arrival(path, a)).collect::<Result<_, _>>()?,
            sut: entry.sut.clone(),
            through: entry.through.as_ref().map(|t| through(path, t)).transpose()?,
            canaries: entry
                .canaries
                .iter()
                .map(|c| {
                    Ok(Canary {
                        when: c.when,
                        sent: bytes(path, &c.sent)?,
                        reply: c.reply.as_ref().map(|r| reply(path, r)).transpose()?,
                        event: c.event.clone(),
                    })
                })
                .collect::<Result<_, MergeError>>()?,
            waits: entry.waits.iter().map(WaitEntry::wait).collect(),
            ..CaseObservation::default()
        },
        duration: Duration::from_millis(entry.duration_ms),
        reproduce: entry.reproduce.clone(),
        position: (entry.position.file, entry.position.case),
        // Not in results.json: its value is part of the case name already.
        vary: None,
        output_redaction: match &entry.through {
            Some(t) => output_redaction(path, t)?,
            None => None,
        },
    })
}

fn time(path: &Path, text: &str) -> Result<SystemTime, MergeError> {
    parse_rfc3339(text).ok_or_else(|| results_error(path, format!("bad time {text:?}")))
}

fn pack_inputs(entry: &PackEntry) -> PackInputs {
    PackInputs {
        name: entry.name.clone(),
        sha256: entry.sha256.clone().unwrap_or_default(),
        files: entry.files.clone(),
    }
}

/// The baselines compared by the shards, as one comparison (missing snapshots are not judged
/// by a shard, so not here either).
fn merged_baseline(shards: &[ShardReport]) -> Option<Comparison> {
    let compared: Vec<&Comparison> =
        shards.iter().filter_map(|s| s.results.baseline.as_ref()).collect();
    let first = compared.first()?;
    Some(Comparison {
        dir: first.dir.clone(),
        baseline_seed: first.baseline_seed,
        unchanged: compared.iter().map(|c| c.unchanged).sum(),
        new: compared.iter().flat_map(|c| c.new.iter().cloned()).collect(),
        changed: compared.iter().flat_map(|c| c.changed.iter().cloned()).collect(),
        missing: Vec::new(),
        complete: false,
        accepted: compared.iter().all(|c| c.accepted),
    })
}

/// What a merge made.
pub struct Merged {
    pub outcome: RunOutcome,
    pub baseline: Option<Comparison>,
    pub run_id: String,
}

/// Merges the shard reports in `dirs` into a new report in `out`.
pub fn merge(out: &Path, dirs: &[PathBuf]) -> Result<Merged, MergeError> {
    if out.join(MANIFEST).exists() {
        return Err(MergeError::OutputExists { dir: out.to_path_buf() });
    }
    let shards: Vec<ShardReport> = dirs.iter().map(|d| read_shard(d)).collect::<Result<_, _>>()?;
    if shards.is_empty() {
        return Err(MergeError::Missing { missing: "all".into(), count: 0 });
    }
    check_consistent(&shards)?;
    let mut packs: Vec<PackOutcome> = Vec::new();
    let mut inputs: Vec<PackInputs> = Vec::new();
    let mut skipped: Vec<(PathBuf, String)> = Vec::new();
    let (mut started, mut finished) = (None::<SystemTime>, None::<SystemTime>);
    let mut reached_any = false;
    for shard in &shards {
        let path = shard.dir.join("results.json");
        let results = &shard.results;
        let (s, f) = (time(&path, &results.started)?, time(&path, &results.finished)?);
        started = Some(started.map_or(s, |t| t.min(s)));
        finished = Some(finished.map_or(f, |t| t.max(f)));
        let cases: usize = results.packs.iter().map(|p| p.cases.len()).sum();
        reached_any |= cases > 0 && !results.unreachable;
        for entry in &results.skipped {
            let item = (PathBuf::from(&entry.file), entry.reason.clone());
            if !skipped.contains(&item) {
                skipped.push(item);
            }
        }
        for entry in &results.packs {
            if !inputs.iter().any(|i| i.name == entry.name) {
                inputs.push(pack_inputs(entry));
            }
            let index = match packs.iter().position(|p| p.name == entry.name) {
                Some(index) => index,
                None => {
                    packs.push(PackOutcome { name: entry.name.clone(), cases: Vec::new() });
                    packs.len() - 1
                }
            };
            for case_entry in &entry.cases {
                packs[index].cases.push(case(&path, &entry.name, case_entry)?);
            }
        }
    }
    for pack in &mut packs {
        pack.cases.sort_by_key(|c| c.position);
    }
    let first = &shards[0].results;
    let any_case = packs.iter().any(|p| !p.cases.is_empty());
    let outcome = RunOutcome {
        packs,
        seed: first.seed,
        target: first.target.clone(),
        unreachable: any_case && !reached_any,
        skipped,
        shard: None,
        // The load phases' accounts are not in results.json in a form that reads back; their
        // checks are (on the `load: …` cases), so the merged verdict still counts them.
        load: Vec::new(),
        profiles: first.profiles.clone(),
    };
    let started = started.unwrap_or(SystemTime::UNIX_EPOCH);
    let merged_id = format!("{}-merged", run_id(started, first.seed));
    let baseline = merged_baseline(&shards);
    let record = RunRecord {
        outcome: &outcome,
        run_id: merged_id.clone(),
        started,
        finished: finished.unwrap_or(started),
        packs: inputs,
        phi_redacted: first.phi_redacted,
        baseline: baseline.clone(),
    };
    super::write_report(out, &record)?;
    Ok(Merged { outcome, baseline, run_id: merged_id })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::HISTORY_ORDER;

    #[test]
    fn a_result_graded_down_to_a_warning_reads_back_as_one() {
        let entry = |severity: &str| CheckEntry {
            id: HISTORY_ORDER.id.to_string(),
            severity: severity.into(),
            rule: HISTORY_ORDER.rule.into(),
            step: None,
            passed: false,
            evidence: "could not judge".into(),
            content: None,
        };
        let path = Path::new("results.json");
        assert_eq!(check(path, &entry("warning")).unwrap().severity, Severity::Warning);
        assert_eq!(check(path, &entry("error")).unwrap().severity, Severity::Error);
        assert!(check(path, &entry("info")).is_err(), "never graded to something else");
    }

    #[test]
    fn sender_content_findings_read_back_as_data() {
        let content = crate::report::message_profile::fixture::content();
        let written = CheckResult::fail(crate::checks::SENDER_CONTENT, None, "2 finding(s)")
            .with_content(content.clone());
        let json = serde_json::to_string(&CheckEntry::of(&written)).expect("serialize");
        let entry: CheckEntry = serde_json::from_str(&json).expect("read back");
        let read = check(Path::new("results.json"), &entry).expect("known check");
        assert_eq!(read.content.as_deref(), Some(&content));
        assert_eq!(read, written);
    }

    /// A through case's inputs, the engine's answers, the destinations' arrivals and the read
    /// destinations' records survive results.json, so a merged report shows and judges them as the shard did.
    #[test]
    fn through_observations_read_back() {
        let mut outcome = crate::report::message_profile::fixture::outcome(true);
        let mut case = outcome.packs[2].cases.remove(0);
        let arrival = Arrival {
            connection: 2,
            payload: b"MSH|^~\\&|A|B|PORTAL|D|20240101||ADT^A01|M1|P|2.6\r".to_vec(),
            notes: Vec::new(),
            received: Duration::from_millis(40),
            answer: "no ACK".into(),
            answered: None,
            accepted: false,
            rejected: false,
        };
        // A destination read rather than listened as keeps its record and problems too.
        let store = crate::observation::DestinationRead {
            destination: "store".into(),
            how: "folder /var/engine/out".into(),
            reads: 7,
            problems: vec!["a.hl7: larger than 4194304 bytes (read.max_bytes)".into()],
        };
        let through = ThroughObservation {
            reads: vec![store],
            inputs: vec![ThroughInput {
                label: "input 1 (admit)".into(),
                payload: b"MSH|^~\\&|A|B|C|D|20240101||ADT^A01|M1|P|2.6\r".to_vec(),
                sent: Duration::from_millis(12),
                ack: Some(b"MSH|^~\\&|C|D|A|B|20240101||ACK|X|P|2.6\rMSA|AA|M1\r".to_vec()),
                event: None,
            }],
            arrivals: vec![ThroughArrival { destination: "portal".into(), arrival }],
        };
        case.observation.through = Some(through.clone());
        // What the case's snapshot redacts survives too, so the merged snapshot is the shard's.
        let path = |p: &str| crate::hl7::Path::parse(p).expect("a path");
        let redaction = crate::checks::OutputRedaction {
            key: path("PID-3.1"),
            volatile: [("portal".to_string(), vec![path("PID-2"), path("OBX[2]-5.1")])].into(),
        };
        case.output_redaction = Some(redaction.clone());
        let json = serde_json::to_string(&CaseEntry::of(&case)).expect("serialize");
        let entry: CaseEntry = serde_json::from_str(&json).expect("read back");
        let read = super::case(Path::new("results.json"), "pack", &entry).expect("reads");
        assert_eq!(read.observation.through, Some(through));
        assert_eq!(read.output_redaction, Some(redaction));
        let snapshot = |c: &CaseOutcome| crate::report::snapshot::transcript(c);
        assert_eq!(snapshot(&read), snapshot(&case));
    }

    /// A case's waits and its exchanges' read back as written; a kind this harness does not
    /// know is refused, not dropped.
    #[test]
    fn required_waits_read_back() {
        use crate::observation::{Wait, WaitKind};
        let mut outcome = crate::report::message_profile::fixture::outcome(true);
        let mut case = outcome.packs[0].cases.remove(0);
        // The fixture's checks are not this harness's catalogue; the waits are what is read.
        case.results.clear();
        let ms = Duration::from_millis;
        let quiet = Wait { kind: WaitKind::Quiet, step: None, duration: ms(200) };
        let pause = Wait { kind: WaitKind::Pause, step: Some(2), duration: ms(50) };
        let delay = Wait { kind: WaitKind::FaultDelay, step: Some(1), duration: ms(35) };
        case.observation.waits = vec![quiet, pause];
        case.observation.exchanges[0].waits = vec![delay];
        let json = serde_json::to_string(&CaseEntry::of(&case)).expect("serialize");
        let entry: CaseEntry = serde_json::from_str(&json).expect("read back");
        let read = super::case(Path::new("results.json"), "pack", &entry).expect("reads");
        assert_eq!(read.observation.waits, [quiet, pause]);
        assert_eq!(read.observation.exchanges[0].waits, [delay]);
        let unknown = json.replace("\"fault-delay\"", "\"nap\"");
        assert!(serde_json::from_str::<CaseEntry>(&unknown).is_err(), "{unknown}");
    }
}
