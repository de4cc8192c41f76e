//! The harness as a misbehaving client (`scenarios/hostile-network/`): for each fault
//! primitive, the case that applies it passes against the correct reference endpoint and is
//! caught against an endpoint with the defect the fault exposes (an error-severity check, or
//! only a warning when the defect is behaviour the standard permits). Real loopback sockets;
//! the rows run four at a time.

use super::support::workspace;
use hl7_harness::checks::Severity;
use hl7_harness::observation::Outcome;
use hl7_harness::runner::{run as run_packs, RunOptions};
use hl7_harness::scenario::{load_packs, FileAccess};
use hl7_harness::target::defect::{Defect, Defects};
use hl7_harness::vocab::Seed;
use std::collections::BTreeSet;
use std::sync::Arc;

/// Fault primitive, the case filter, the defect, and the check that must fail.
const TABLE: &[(&str, &str, Defect, &str)] = &[
    ("fragment", "fragment - chunks", Defect::FragmentedFrameDropped, "ack.received"),
    ("slow", "slow -", Defect::SlowFrameDropped, "history.nothing-lost"),
    ("coalesce", "coalesce -", Defect::FirstOfCoalescedOnly, "history.nothing-lost"),
    ("pipeline", "pipeline -", Defect::DuplicateAck, "ack.one-per-message"),
    ("close_before_ack", "close_before_ack", Defect::DuplicateUnanswered, "history.duplicates"),
    ("close_before_ack", "close_before_ack", Defect::AppliedTwice, "probe"),
    ("reset", "reset - RST after", Defect::StopsAfterReset, "liveness.canary"),
    ("reset_mid_frame", "reset - RST inside", Defect::StopsAfterReset, "liveness.canary"),
    // Whether the resend's connection is still served depends on when the endpoint notices the
    // reset; the canary after the case always comes after that.
    ("reset_after_acks", "reset after_acks - RST once", Defect::StopsAfterReset, "liveness.canary"),
    ("reset_after_acks", "reset after_acks - one at", Defect::StopsAfterReset, "liveness.canary"),
    // Closing is permitted, and the clean resend is answered; but the builtin's profile
    // declares `bytes_outside_blocks: skip`, which the close contradicts.
    (
        "bytes_before_frame",
        "bytes_before_frame",
        Defect::ClosesOnBytesOutsideFrame,
        "connection.bytes-outside-blocks",
    ),
    (
        "bytes_between_frames",
        "bytes_between_frames",
        Defect::JunkJoinsNextFrame,
        "history.nothing-lost",
    ),
    (
        "missing_trailer_cr",
        "missing_trailer_cr",
        Defect::EatsByteAfterEndBlock,
        "history.nothing-lost",
    ),
    ("lf_segments", "lf_segments", Defect::LfSegmentsUnanswered, "ack.received"),
    ("oversized", "oversized", Defect::DiesOnOversizedFrame, "liveness.canary"),
    ("unterminated", "unterminated", Defect::FrameEndedBySilence, "expect.ack"),
    ("unterminated", "unterminated", Defect::OneConnectionAtATime, "liveness.canary"),
    ("idle", "idle -", Defect::OneConnectionAtATime, "liveness.canary"),
    ("idle", "idle -", Defect::IdleConnectionDroppedEarly, "connection.open"),
    ("storm", "storm -", Defect::StopsAfterConnectionStorm, "liveness.canary"),
    ("concurrent", "concurrent -", Defect::OneConnectionAtATime, "ack.received"),
    ("retransmission", "retransmission", Defect::DuplicateUnanswered, "history.duplicates"),
    ("retransmission", "retransmission", Defect::AppliedTwice, "probe"),
    ("no_false_success", "pipeline -", Defect::WrongMsa2, "history.no-false-success"),
    ("order", "order - three", Defect::AppliesOutOfOrder, "history.order"),
    ("coalesce_ack_order", "coalesce -", Defect::AnswersCoalescedInReverse, "history.order"),
    (
        "hllp_bad_checksum",
        "bad_checksum",
        Defect::HllpChecksumIgnored,
        "hllp.damaged-block-refused",
    ),
    // The HLLP canaries: during the damaged block's wait, and after the case.
    ("hllp_bad_checksum", "bad_checksum", Defect::OneConnectionAtATime, "liveness.canary"),
    ("hllp_bad_checksum", "bad_checksum", Defect::HllpStopsAfterDamagedBlock, "liveness.canary"),
    // The sum-mod256 file's case alone: its settings reach both sides.
    (
        "hllp_sum_mod256",
        "damaged sum-mod256",
        Defect::HllpChecksumIgnored,
        "hllp.damaged-block-refused",
    ),
];

type Failed = (BTreeSet<&'static str>, BTreeSet<&'static str>);

/// Runs the hostile pack's cases matching `filter` against the endpoint with `defects`;
/// returns the ids of the failed error and warning checks, and how many cases ran.
async fn failed(filter: &str, defects: Defects) -> (Failed, usize) {
    let known = hl7_harness::checks::generic_ids();
    let dir = workspace().join("scenarios").join("hostile-network");
    let packs = load_packs(&[dir], &known, FileAccess::PackOnly).expect("the hostile pack loads");
    // The endpoint's own profile: a defect is caught when the receiver declares what it is
    // supposed to do (e.g. `concurrent_connections: true` for one-connection-at-a-time).
    let profile = hl7_harness::scenario::load_profile(&super::support::builtin_profile())
        .expect("the builtin profile loads");
    let options = RunOptions {
        defects,
        seed: Seed(11),
        jobs: 4,
        filter: Some(filter.to_string()),
        profile: Some(profile),
        ..RunOptions::default()
    };
    let outcome = run_packs(&packs, &options, &|_| {}).await.expect("run starts");
    let ids = |severity| super::support::failed_ids(&outcome, severity);
    ((ids(Severity::Error), ids(Severity::Warning)), outcome.cases().count())
}

#[test]
fn every_fault_passes_the_correct_endpoint_and_catches_its_defect() {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let rows = runtime.block_on(async {
        let limit = Arc::new(tokio::sync::Semaphore::new(4));
        let mut tasks = tokio::task::JoinSet::new();
        for (i, &(fault, filter, defect, check)) in TABLE.iter().enumerate() {
            let limit = Arc::clone(&limit);
            tasks.spawn(async move {
                let _permit = limit.acquire_owned().await;
                let (correct, cases) = failed(filter, Defects::none()).await;
                let (defective, _) = failed(filter, Defects::of([defect])).await;
                (i, fault, defect, check, cases, correct, defective)
            });
        }
        let mut rows = Vec::new();
        while let Some(row) = tasks.join_next().await {
            rows.push(row.expect("row finishes"));
        }
        rows.sort_by_key(|r| r.0);
        rows
    });
    let mut wrong = Vec::new();
    for (_, fault, defect, check, cases, (errors, _), (bad_errors, bad_warnings)) in &rows {
        let name = format!("fault_{fault}_catches_{}", defect.name().replace('-', "_"));
        if *cases == 0 {
            wrong.push(format!("{name}: no case matched"));
        }
        if !errors.is_empty() {
            wrong.push(format!("fault_{fault}_correct_endpoint_passes: failed {errors:?}"));
        }
        // Graded by the builtin's profile: a permitted behaviour that breaks a declaration of
        // that profile (one connection at a time against `concurrent_connections: true`) is an
        // error there; one that breaks none is at most a warning.
        let caught = bad_errors.contains(check)
            || (defect.is_permitted_behaviour()
                && bad_errors.is_empty()
                && bad_warnings.contains(check));
        if !caught {
            wrong.push(format!(
                "{name}: expected {check} to fail; errors {bad_errors:?}, warnings {bad_warnings:?}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Runs `file` of the hostile pack against an HLLP endpoint of its own, served with `served`
/// block settings; returns the ids of the failed error checks and how many cases ran.
async fn against_hllp_endpoint(
    file: &str,
    served: hl7_harness::transport::hllp::HllpOptions,
) -> (BTreeSet<&'static str>, usize) {
    use hl7_harness::target::endpoint::Endpoint;
    use hl7_harness::target::responder::ResponderConfig;
    use hl7_harness::target::server::{serve_hllp, HllpServerOptions};
    use hl7_harness::transport::connection::Timeouts;
    let endpoint = Arc::new(Endpoint::new(ResponderConfig::default()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let options = HllpServerOptions { hllp: served, timeouts: Timeouts::default() };
    let server = tokio::spawn(serve_hllp(listener, endpoint, options, async {
        let _ = stopped.await;
    }));
    let known = hl7_harness::checks::generic_ids();
    let path = workspace().join("scenarios").join("hostile-network").join(file);
    let packs = load_packs(&[path], &known, FileAccess::PackOnly).expect("the file loads");
    let options = RunOptions {
        target: Some(format!("hllp://{addr}")),
        seed: Seed(12),
        jobs: 2,
        ..RunOptions::default()
    };
    let outcome = run_packs(&packs, &options, &|_| {}).await.expect("run starts");
    let _ = stop.send(());
    let _ = server.await;
    (super::support::failed_ids(&outcome, Severity::Error), outcome.cases().count())
}

/// `target.hllp` reaches the harness's side of an `hllp://` target: the sum-mod256 file passes
/// against an endpoint served with its settings and fails against one with the default XOR
/// checksum (every good block refused), and the other way round for the default file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hllp_settings_of_the_scenario_reach_the_harness_side() {
    use hl7_harness::transport::hllp::{Checksum, ChecksumSpan, HllpOptions};
    let sum = HllpOptions {
        checksum: Checksum::SumMod256,
        span: ChecksumSpan::StartBlockToData,
        ..HllpOptions::default()
    };
    let xor = HllpOptions::default();
    let (failed, cases) = against_hllp_endpoint("hllp-sum-mod256.yaml", sum).await;
    assert_eq!((failed, cases), (BTreeSet::new(), 2), "same settings on both sides");
    let (failed, _) = against_hllp_endpoint("hllp-sum-mod256.yaml", xor).await;
    assert!(failed.contains("history.nothing-lost"), "XOR endpoint refuses sum blocks: {failed:?}");
    assert!(failed.contains("liveness.canary"), "{failed:?}");
    let (failed, _) = against_hllp_endpoint("hllp-blocks.yaml", sum).await;
    assert!(failed.contains("history.nothing-lost"), "{failed:?}");
    assert_eq!(against_hllp_endpoint("hllp-blocks.yaml", xor).await.0, BTreeSet::new());
}

/// `target.hllp.max_block_bytes` reaches the built-in endpoint's HLLP listener: a limit below
/// the message's block makes it drop the connection (the message is lost), the default passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hllp_block_limit_of_the_scenario_reaches_the_builtin_endpoint() {
    let dir = std::env::temp_dir().join(format!("hl7h-hllp-limit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // The message beside the scenario: a pack reads files in its own folder (issue 14).
    let corpus = workspace().join("corpus/adt/adt_a04_v26_utf8_latin.hl7");
    std::fs::copy(&corpus, dir.join("m.hl7")).unwrap();
    let mut failed = Vec::new();
    for limit in [64, 16_777_216] {
        let path = dir.join(format!("limit-{limit}.yaml"));
        let text = format!(
            "target: {{ transport: hllp, ack_timeout: 1s, hllp: {{ max_block_bytes: {limit} }} }}\n\
             messages:\n  m: {{ file: m.hl7 }}\ncases:\n  - {{ name: one block, send: m }}\n"
        );
        std::fs::write(&path, text).unwrap();
        let packs = load_packs(&[path], &hl7_harness::checks::generic_ids(), FileAccess::PackOnly)
            .expect("loads");
        let options = RunOptions { seed: Seed(13), jobs: 1, ..RunOptions::default() };
        let outcome = run_packs(&packs, &options, &|_| {}).await.expect("run starts");
        let events: Vec<String> = outcome
            .cases()
            .flat_map(|c| &c.observation.exchanges)
            .filter_map(|e| e.event.as_ref().map(|e| e.code.to_string()))
            .collect();
        failed.push((super::support::failed_ids(&outcome, Severity::Error), events));
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failed[0].0.contains("history.nothing-lost"), "64-byte limit: {:?}", failed[0]);
    // The endpoint closed the connection on the block (not the harness refusing a large ACK).
    assert_eq!(failed[0].1, ["peer-closed"]);
    assert_eq!(failed[1], (BTreeSet::new(), Vec::new()), "the default limit");
}

/// Where the harness pipelined (which MLLP does not let a sender do; here two frames in one
/// write, so the defect applies both before the second ACK), messages applied out of order are
/// only a warning; where the scenario allows any order, `history.order` is not judged.
#[test]
fn history_order_pipelined_warns_and_order_any_is_not_judged() {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let defect = || Defects::of([Defect::AppliesOutOfOrder]);
        let (((errors, warnings), _), ((any_errors, any_warnings), cases)) =
            tokio::join!(failed("coalesce -", defect()), failed("order any -", defect()));
        assert!(!errors.contains("history.order"), "{errors:?}");
        assert!(warnings.contains("history.order"), "{warnings:?}");
        assert_eq!(cases, 1);
        assert!(
            any_errors.is_empty() && any_warnings.is_empty(),
            "{any_errors:?} {any_warnings:?}"
        );
    });
}

/// `reset: { after_acks: 1 }` fires on the first ACK read, an event, so it hits the same place
/// on every run: the messages behind that ACK are cut once (indeterminate, reset by the
/// harness) and answered when they come again; the one answered before is sent once.
#[test]
fn reset_after_acks_cuts_exactly_the_unanswered_messages() {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let known = hl7_harness::checks::generic_ids();
    let dir = workspace().join("scenarios").join("hostile-network");
    let packs = load_packs(&[dir], &known, FileAccess::PackOnly).expect("the hostile pack loads");
    for seed in [3, 4] {
        let options = RunOptions {
            seed: Seed(seed),
            filter: Some("reset after_acks".into()),
            ..RunOptions::default()
        };
        let outcome = runtime.block_on(run_packs(&packs, &options, &|_| {})).expect("run starts");
        let mut shapes = Vec::new();
        for case in outcome.cases() {
            let shape: Vec<Vec<(Outcome, Option<String>)>> = case
                .observation
                .exchanges
                .iter()
                .map(|e| e.attempts.iter().map(|a| (a.outcome, a.event.clone())).collect())
                .collect();
            shapes.push(shape);
        }
        let ok = || (Outcome::Ok, None);
        let cut = || (Outcome::Indeterminate, Some("reset-by-harness".to_string()));
        assert_eq!(
            shapes,
            vec![
                vec![vec![ok()], vec![cut(), ok()], vec![cut(), ok()]],
                vec![vec![ok()], vec![cut(), ok()]],
            ],
            "seed {seed}"
        );
    }
}

/// A receiver that closes on the harness's half-close without answering loses nothing: the
/// harness resends the message on a new connection, without the half-close, and grades that
/// resend (issue 13: after a fault the harness itself caused, a message is lost only if its
/// resend on a clean connection goes unanswered too). No error in the `half_close` case; the
/// first attempt shows the close. (The defect still fails `close_before_ack`'s journal probe:
/// it drops the complete message it read, so the resend is no duplicate there.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_on_the_harness_half_close_is_resent_not_lost() {
    let known = hl7_harness::checks::generic_ids();
    let dir = workspace().join("scenarios").join("hostile-network");
    let packs = load_packs(&[dir], &known, FileAccess::PackOnly).expect("the hostile pack loads");
    let options = RunOptions {
        defects: Defects::of([Defect::ClosesOnHalfClose]),
        seed: Seed(14),
        filter: Some("half_close -".into()),
        ..RunOptions::default()
    };
    let outcome = run_packs(&packs, &options, &|_| {}).await.expect("run starts");
    assert_eq!(super::support::failed_ids(&outcome, Severity::Error), BTreeSet::new());
    let case = outcome.cases().next().expect("the half_close case ran");
    let exchange = &case.observation.exchanges[0];
    let attempts: Vec<(Outcome, Option<&str>)> =
        exchange.attempts.iter().map(|a| (a.outcome, a.event.as_deref())).collect();
    assert_eq!(attempts, [(Outcome::Indeterminate, Some("peer-closed")), (Outcome::Ok, None)]);
}

/// A fault the file's client connection cannot carry out is refused when the file is loaded,
/// naming the fault and the connection, never skipped while the case runs: `bad_checksum` is
/// HLLP's, the other `network:` faults shape MLLP frames, and an HTTP exchange takes none.
#[test]
fn a_fault_the_transport_cannot_apply_is_refused_at_load() {
    use super::support::{run, stderr};
    let dir = std::env::temp_dir().join(format!("hl7-harness-hosts-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("m.hl7"), b"MSH|^~\\&|A|B|C|D|2024||ADT^A04|1|P|2.5\rPID|1||X\r")
        .unwrap();
    let cases = [
        ("", "bad_checksum", "`bad_checksum` is a client fault; the client connection over MLLP"),
        (
            "target: { transport: hllp }\n",
            "coalesce",
            "`coalesce` is a client fault; the client connection over HLLP",
        ),
        (
            "target: { transport: http }\n",
            "half_close",
            "`half_close` is a client fault; the client connection over HTTP",
        ),
    ];
    for (target, fault, words) in cases {
        let file = dir.join(format!("{fault}.yaml"));
        let text =
            format!("{target}messages:\n  m: {{ file: m.hl7 }}\ncases:\n  - name: x\n    send: m\n    network: [{fault}]\n");
        std::fs::write(&file, text).unwrap();
        let output = run(&["run", "--no-report", "--check", file.to_str().unwrap()]);
        assert_eq!(output.status.code(), Some(2), "{fault}: {}", stderr(&output));
        assert!(stderr(&output).contains(words), "{fault}: {}", stderr(&output));
        assert!(stderr(&output).contains("cannot apply it"), "{}", stderr(&output));
    }
    // A fault of another host in a YAML list is named as such, not only as an unknown word.
    let foreign = [
        (
            "messages:\n  m: { file: m.hl7 }\ncases:\n  - name: x\n    send: m\n    network: [drop]\n",
            "(`drop` is a proxy fault; the client connection cannot apply it)",
        ),
        (
            "role: receiver\nmessages:\n  m: { file: m.hl7 }\nreceive:\n  - name: x\n    send: [m]\n    answers: [coalesce]\n",
            "(`coalesce` is a client fault; the receiver role's answering server cannot apply it)",
        ),
    ];
    for (text, words) in foreign {
        let file = dir.join("foreign.yaml");
        std::fs::write(&file, text).unwrap();
        let output = run(&["run", "--no-report", "--check", file.to_str().unwrap()]);
        assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
        assert!(stderr(&output).contains(words), "{}", stderr(&output));
    }
    // A file that names no transport is MLLP's; run against an HTTP target, a file with faults
    // is skipped saying which fault the HTTP exchange cannot carry (nothing is connected to).
    let file = dir.join("coalesce.yaml");
    let text = "messages:\n  m: { file: m.hl7 }\ncases:\n  - name: x\n    send: m\n    network: [coalesce]\n";
    std::fs::write(&file, text).unwrap();
    let target = "http://127.0.0.1:9/hl7";
    let output = run(&["run", "--no-report", "--target", target, file.to_str().unwrap()]);
    let shown = format!("{}{}", super::support::stdout(&output), stderr(&output));
    assert_eq!(output.status.code(), Some(2), "{shown}");
    assert!(
        shown.contains(
            "case \"x\": `coalesce` is a client fault; the client connection over HTTP cannot apply it"
        ),
        "{shown}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
