//! What a reader needs first, computed once for `report.html` and `summary.md` so both show
//! the same numbers in the same order: the counts per pack, the check × pack matrix (in how
//! many cases each check failed, warned or passed, per pack) and the cases to look at, failed
//! before warned. Pure: it only reads the outcome.

use crate::checks::{CheckResult, Severity};
use crate::runner::{CaseOutcome, PackOutcome, RunOutcome, Verdict};

/// How one check ended in one case: the worst of its results there. An info-severity failure
/// is something seen, not a fault (it does not change the case's verdict), so it counts as
/// passed here as it does in the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CheckStatus {
    Passed,
    Warned,
    Failed,
}

impl CheckStatus {
    /// `passed`, `warned` or `failed`: the words the HTML filters and classes use.
    pub fn name(self) -> &'static str {
        match self {
            CheckStatus::Passed => "passed",
            CheckStatus::Warned => "warned",
            CheckStatus::Failed => "failed",
        }
    }

    fn of(result: &CheckResult) -> CheckStatus {
        match (result.passed, result.severity) {
            (false, Severity::Error) => CheckStatus::Failed,
            (false, Severity::Warning) => CheckStatus::Warned,
            (true, _) | (false, Severity::Info) => CheckStatus::Passed,
        }
    }
}

/// Each check a case ran, once, in the order first run, with its status in that case.
pub fn case_checks(case: &CaseOutcome) -> Vec<(&'static str, CheckStatus)> {
    let mut out: Vec<(&'static str, CheckStatus)> = Vec::new();
    for result in &case.results {
        let status = CheckStatus::of(result);
        match out.iter_mut().find(|(id, _)| result.id == *id) {
            Some((_, seen)) => *seen = (*seen).max(status),
            None => out.push((result.id.as_str(), status)),
        }
    }
    out
}

/// The cases of a pack by verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub failed: usize,
    pub warned: usize,
    pub passed: usize,
}

impl Tally {
    fn add(&mut self, status: CheckStatus) {
        match status {
            CheckStatus::Failed => self.failed += 1,
            CheckStatus::Warned => self.warned += 1,
            CheckStatus::Passed => self.passed += 1,
        }
    }

    /// Cases counted.
    pub fn total(&self) -> usize {
        self.failed + self.warned + self.passed
    }

    /// The cases of `pack` by verdict.
    pub fn of_pack(pack: &PackOutcome) -> Tally {
        let mut tally = Tally::default();
        for case in &pack.cases {
            tally.add(match case.verdict() {
                Verdict::Failed => CheckStatus::Failed,
                Verdict::Warned => CheckStatus::Warned,
                Verdict::Passed => CheckStatus::Passed,
            });
        }
        tally
    }
}

/// One row of the matrix: a check and, per pack (in the outcome's order), its tally over the
/// cases that ran it; `None` where no case of the pack ran it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub id: &'static str,
    pub cells: Vec<Option<Tally>>,
}

impl Row {
    /// The row's tallies added up over the packs.
    pub fn total(&self) -> Tally {
        let mut sum = Tally::default();
        for cell in self.cells.iter().flatten() {
            sum.failed += cell.failed;
            sum.warned += cell.warned;
            sum.passed += cell.passed;
        }
        sum
    }
}

/// The check × pack matrix, rows ordered so the checks that failed in the most cases come
/// first, then those that warned in the most, then by id (stable from run to run).
pub fn matrix(outcome: &RunOutcome) -> Vec<Row> {
    let mut rows: Vec<Row> = Vec::new();
    let packs = outcome.packs.len();
    for (column, pack) in outcome.packs.iter().enumerate() {
        for case in &pack.cases {
            for (id, status) in case_checks(case) {
                let row = match rows.iter().position(|r| r.id == id) {
                    Some(at) => &mut rows[at],
                    None => {
                        rows.push(Row { id, cells: vec![None; packs] });
                        let last = rows.len() - 1;
                        &mut rows[last]
                    }
                };
                row.cells[column].get_or_insert_with(Tally::default).add(status);
            }
        }
    }
    rows.sort_by(|a, b| {
        let (ta, tb) = (a.total(), b.total());
        tb.failed.cmp(&ta.failed).then(tb.warned.cmp(&ta.warned)).then(a.id.cmp(b.id))
    });
    rows
}

/// The cases to look at first: every failed case, then every warned one, each in run order,
/// with its number in the run (1-based, the order the case list shows).
pub fn to_look_at(outcome: &RunOutcome) -> Vec<(usize, &CaseOutcome)> {
    let of = |verdict| {
        outcome
            .cases()
            .enumerate()
            .filter(move |(_, c)| c.verdict() == verdict)
            .map(|(n, c)| (n + 1, c))
    };
    of(Verdict::Failed).chain(of(Verdict::Warned)).collect()
}

/// The results of `case` a reader acts on: error failures, then warnings, each in check order.
pub fn failures(case: &CaseOutcome) -> Vec<&CheckResult> {
    let of = |severity| case.failures().filter(move |r| r.severity == severity);
    of(Severity::Error).chain(of(Severity::Warning)).collect()
}

/// Each check id that ran, once, with the distinct rule texts its results carry (one, unless a
/// check words its rule differently for some results), sorted by id.
pub fn rules(outcome: &RunOutcome) -> Vec<(&'static str, Vec<&'static str>)> {
    let mut out: Vec<(&'static str, Vec<&'static str>)> = Vec::new();
    for result in outcome.cases().flat_map(|c| c.results.iter()) {
        match out.iter_mut().find(|(id, _)| result.id == *id) {
            Some((_, texts)) if !texts.contains(&result.rule) => texts.push(result.rule),
            Some(_) => {}
            None => out.push((result.id.as_str(), vec![result.rule])),
        }
    }
    out.sort_by_key(|(id, _)| *id);
    out
}

#[cfg(test)]
pub(crate) mod fixture {
    //! A small run for the renderers' tests: two packs; a failed, a warned and a passed case.

    use crate::checks::{CheckResult, Severity};
    use crate::observation::{CaseObservation, Exchange, Reply};
    use crate::runner::{CaseOutcome, PackOutcome, RunOutcome};
    use crate::vocab::Seed;
    use std::path::PathBuf;
    use std::time::Duration;

    /// The record the renderers render: `outcome` with fixed times, one pack hash per pack.
    pub fn record(
        outcome: &RunOutcome,
        baseline: Option<crate::report::baseline::Comparison>,
    ) -> crate::report::record::RunRecord<'_> {
        use std::time::UNIX_EPOCH;
        crate::report::record::RunRecord {
            outcome,
            run_id: "run-1".to_string(),
            started: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            finished: UNIX_EPOCH + Duration::from_secs(1_700_000_002),
            packs: outcome
                .packs
                .iter()
                .map(|p| crate::report::record::PackInputs {
                    name: p.name.clone(),
                    sha256: "cd".repeat(32),
                    files: vec![],
                })
                .collect(),
            phi_redacted: false,
            baseline,
        }
    }

    const ECHO: &str = "HL7 v2.5.1 ch. 2, MSA-2 message control ID: the MSH-10 of the message \
                        acknowledged";
    const VERSION: &str = "HL7 v2.5.1 ch. 2, MSH-12: the ACK's version is the message's";
    const FRAME: &str = "MLLP release 2: a block ends with 0x1C 0x0D";

    fn result(
        id: &'static str,
        rule: &'static str,
        severity: Severity,
        evidence: &str,
    ) -> CheckResult {
        CheckResult {
            id: crate::vocab::CheckId(id),
            severity,
            rule,
            step: Some(1),
            passed: evidence.is_empty(),
            evidence: evidence.to_string(),
            content: None,
        }
    }

    fn case(pack: &str, name: &str, results: Vec<CheckResult>) -> CaseOutcome {
        let sent = b"MSH|^~\\&|A|B|C|D|20240101000000||ADT^A04|MSG-1|P|2.4\rPID|1||X".to_vec();
        let ack = b"MSH|^~\\&|C|D|A|B|20240101000001||ACK|ACK-1|P|2.4\rMSA|AA|MSG-1".to_vec();
        CaseOutcome {
            pack: pack.to_string(),
            scenario: "ack-protocol".to_string(),
            file: PathBuf::from(format!("scenarios/{pack}/ack-protocol.yaml")),
            name: name.to_string(),
            seed: Seed(7),
            sent: vec!["adt_a04.hl7".to_string()],
            results,
            observation: CaseObservation {
                exchanges: vec![Exchange {
                    step: 1,
                    connection: 1,
                    sent,
                    raw: false,
                    replies: vec![Reply {
                        payload: ack,
                        notes: Vec::new(),
                        elapsed: Duration::from_millis(3),
                    }],
                    ack_timeout: Duration::from_secs(10),
                    event: None,
                    http: None,
                    intent: None,
                    faults: Vec::new(),
                    after_outside_bytes: false,
                    attempts: Vec::new(),
                    reply_order: Vec::new(),
                    waits: Vec::new(),
                }],
                ..CaseObservation::default()
            },
            duration: Duration::from_millis(4),
            reproduce: format!(
                "hl7-harness run scenarios/{pack}/ack-protocol.yaml --filter '{name}' --seed 7"
            ),
            position: (0, 0),
            vary: None,
            output_redaction: None,
        }
    }

    /// `failing`: one failed, one warned and one passed case over two packs; otherwise every
    /// case passes.
    pub fn outcome(failing: bool) -> RunOutcome {
        let (echo, version) = if failing {
            ("MSA-2 \"MSG-1-WRONG\", sent MSH-10 \"MSG-1\" <&>", "MSH-12 \"2.5\", sent \"2.4\"")
        } else {
            ("", "")
        };
        let core = PackOutcome {
            name: "conformance-core".to_string(),
            cases: vec![
                case(
                    "conformance-core",
                    "a v2.4 message is acknowledged",
                    vec![
                        result("ack.msa2-echo", ECHO, Severity::Error, echo),
                        result("ack.version", VERSION, Severity::Warning, version),
                        result("mllp.frame", FRAME, Severity::Error, ""),
                    ],
                ),
                case(
                    "conformance-core",
                    "a v2.3 message is acknowledged",
                    vec![
                        result("ack.msa2-echo", ECHO, Severity::Error, ""),
                        result("ack.version", VERSION, Severity::Warning, version),
                        result("mllp.frame", FRAME, Severity::Error, ""),
                    ],
                ),
            ],
        };
        let network = PackOutcome {
            name: "hostile-network".to_string(),
            cases: vec![case(
                "hostile-network",
                "split frame",
                vec![
                    result("ack.msa2-echo", ECHO, Severity::Error, ""),
                    result("mllp.frame", FRAME, Severity::Error, ""),
                ],
            )],
        };
        RunOutcome {
            packs: vec![core, network],
            seed: Seed(7),
            target: "builtin".to_string(),
            unreachable: false,
            skipped: Vec::new(),
            shard: None,
            load: Vec::new(),
            profiles: vec![crate::profile::ProfileUsed {
                name: "site".to_string(),
                version: None,
                path: "profiles/site.yaml".to_string(),
                sha256: "ab".repeat(32),
            }],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The matrix as lines: the check id, then per pack `failed/warned/passed` or `-`.
    fn check(failing: bool, expected: &[&str]) {
        let outcome = fixture::outcome(failing);
        let rows: Vec<String> = matrix(&outcome)
            .iter()
            .map(|r| {
                let cells = r.cells.iter().map(|c| match c {
                    Some(t) => format!("{}/{}/{}", t.failed, t.warned, t.passed),
                    None => "-".to_string(),
                });
                std::iter::once(r.id.to_string()).chain(cells).collect::<Vec<_>>().join(" ")
            })
            .collect();
        assert_eq!(rows, expected);
    }

    #[test]
    fn matrix_counts_cases_per_check_and_pack_failures_first() {
        check(
            true,
            &["ack.msa2-echo 1/0/1 0/0/1", "ack.version 0/2/0 -", "mllp.frame 0/0/2 0/0/1"],
        );
        check(
            false,
            &["ack.msa2-echo 0/0/2 0/0/1", "ack.version 0/0/2 -", "mllp.frame 0/0/2 0/0/1"],
        );
    }

    #[test]
    fn failed_cases_come_before_warned_ones() {
        let outcome = fixture::outcome(true);
        let names: Vec<(usize, &str)> =
            to_look_at(&outcome).iter().map(|(n, c)| (*n, c.name.as_str())).collect();
        assert_eq!(
            names,
            [(1, "a v2.4 message is acknowledged"), (2, "a v2.3 message is acknowledged")]
        );
        let first = failures(to_look_at(&outcome)[0].1);
        assert_eq!(
            first.iter().map(|r| r.id).collect::<Vec<_>>(),
            ["ack.msa2-echo", "ack.version"]
        );
        assert!(to_look_at(&fixture::outcome(false)).is_empty());
    }

    #[test]
    fn each_rule_once() {
        let rules = rules(&fixture::outcome(true));
        let ids: Vec<&str> = rules.iter().map(|(id, _)| *id).collect();
        assert_eq!(ids, ["ack.msa2-echo", "ack.version", "mllp.frame"]);
        assert!(rules.iter().all(|(_, texts)| texts.len() == 1));
    }

    #[test]
    fn a_check_takes_its_worst_status_in_a_case() {
        let mut case = fixture::outcome(true).packs[0].cases[0].clone();
        let mut again = case.results[0].clone();
        again.passed = true;
        case.results.push(again);
        let info = CheckResult { severity: Severity::Info, ..case.results[1].clone() };
        case.results[1] = info;
        assert_eq!(
            case_checks(&case),
            [
                ("ack.msa2-echo", CheckStatus::Failed),
                ("ack.version", CheckStatus::Passed),
                ("mllp.frame", CheckStatus::Passed)
            ]
        );
    }
}
