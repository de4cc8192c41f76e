//! The receiver role against the reference sender (`hl7-harness send`): the outbound-sender
//! pack passes against the correct sender, and each of the sender's known defects is caught by
//! the receiver fault that exposes it, with the check the standard gives for it.

use super::support::{failed_error_ids as failed_checks, lab_available, run, stderr, stdout};

const PACK: &str = "scenarios/outbound-sender";

fn case_run(case: &str, defect: Option<&str>) -> std::process::Output {
    let mut args = vec!["run", PACK, "--seed", "3", "--no-report", "--json", "--filter", case];
    if let Some(defect) = defect {
        args.extend(["--sut-defect", defect]);
    }
    run(&args)
}

/// The fault (case) passes against the correct sender and fails `check` with `defect`.
fn caught(case: &str, defect: &str, check: &str) {
    let correct = case_run(case, None);
    assert_eq!(correct.status.code(), Some(0), "{}{}", stdout(&correct), stderr(&correct));
    assert!(failed_checks(&correct).is_empty());
    let defective = case_run(case, Some(defect));
    assert_eq!(defective.status.code(), Some(1), "{defect}: {}", stdout(&defective));
    let failed = failed_checks(&defective);
    assert!(failed.iter().any(|id| id == check), "{defect} on {case:?}: failed {failed:?}");
}

#[test]
fn the_outbound_pack_passes_against_the_reference_sender() {
    let output = run(&["run", PACK, "--seed", "11", "--no-report"]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}{}", stderr(&output));
    // The three dead-receiver cases need the packet-level lab; without it they are skipped.
    let cases = if lab_available() { 15 } else { 12 };
    assert!(text.contains(&format!("PASS: {cases} cases, 0 failed")), "{text}");
}

#[test]
fn receiver_fault_no_ack_catches_no_retry() {
    caught("no ACK - the sender retransmits", "no-retry", "sender.delivered");
}

#[test]
fn receiver_fault_no_ack_catches_new_msh10_on_retry() {
    caught("no ACK - the sender retransmits", "new-msh10-on-retry", "sender.msh10-kept");
}

#[test]
fn receiver_fault_wrong_msa2_catches_ignores_msa2() {
    caught("an ACK with a wrong MSA-2", "ignores-msa2", "sender.delivered");
}

#[test]
fn receiver_fault_duplicate_ack_catches_ignores_msa2() {
    caught("a duplicate ACK is not taken", "ignores-msa2", "sender.delivered");
}

#[test]
fn receiver_fault_close_catches_no_reconnect() {
    caught("the connection closes before the ACK", "no-reconnect", "sender.delivered");
}

#[test]
fn receiver_fault_reset_catches_no_reconnect() {
    caught("the connection is reset before the ACK", "no-reconnect", "sender.delivered");
}

#[test]
fn receiver_fault_close_catches_retry_without_delay() {
    caught("the connection closes before the ACK", "retry-without-delay", "expect.retry-interval");
}

#[test]
fn receiver_fault_refused_connections_catch_retry_without_delay() {
    caught("connections refused for a while", "retry-without-delay", "sender.delivered");
}

#[test]
fn receiver_ordered_messages_catch_no_wait_for_ack() {
    caught("three messages arrive in order", "no-wait-for-ack", "sender.waits-for-ack");
}

#[test]
fn receiver_fault_late_ack_catches_new_msh10_on_retry() {
    caught("a late ACK", "new-msh10-on-retry", "sender.msh10-kept");
}

/// The faults with no sender defect of their own still have to be survivable: the correct
/// sender delivers through each of them (the whole pack passes above); this names them.
#[test]
fn receiver_faults_nak_slow_read_are_survived_by_the_correct_sender() {
    for case in ["AE - the message", "AR - the message", "slow reads"] {
        let output = case_run(case, None);
        assert_eq!(output.status.code(), Some(0), "{case}: {}", stdout(&output));
        assert!(failed_checks(&output).is_empty(), "{case}");
    }
}

#[test]
fn a_sut_that_cannot_start_fails_sut_ran() {
    let dir = std::env::temp_dir().join(format!("hl7-harness-sut-missing-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let scenario = dir.join("missing.yaml");
    // The message beside the scenario: a pack reads files in its own folder (issue 14).
    let corpus = super::support::workspace().join("corpus/adt/adt_a04_v26_utf8_latin.hl7");
    std::fs::copy(&corpus, dir.join("m.hl7")).unwrap();
    std::fs::write(
        &scenario,
        "role: receiver\nreceiver:\n  sut: { command: [/nonexistent/sender, \"{messages}\"] }\n  timeout: 2s\n\
         messages:\n  m: { file: m.hl7 }\nreceive:\n  - name: x\n    send: [m]\n",
    )
    .unwrap();
    let output = run(&["run", scenario.to_str().unwrap(), "--no-report", "--json", "--seed", "1"]);
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    let failed = failed_checks(&output);
    assert!(failed.contains(&"sut.ran".to_string()), "{failed:?}");
    assert!(failed.contains(&"sender.delivered".to_string()), "{failed:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn receiver_scenario_errors_name_the_line() {
    let dir = std::env::temp_dir().join(format!("hl7-harness-receiver-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let scenario = dir.join("bad.yaml");
    std::fs::write(
        &scenario,
        "role: receiver\nmessages: {}\nreceive:\n  - name: x\n    send: [nothere]\n    connections: [{ slow_read: { bytes: 0, every: 1ms } }]\n",
    )
    .unwrap();
    let output = run(&["run", scenario.to_str().unwrap(), "--check"]);
    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    assert!(text.contains("bad.yaml:5:"), "{text}");
    assert!(text.contains("no message template named \"nothere\""), "{text}");
    assert!(text.contains("slow_read: bytes must be at least 1"), "{text}");
    std::fs::write(
        &scenario,
        "role: receiver\nreceiver: { sut: { command: [] } }\nmessages: {}\nreceive:\n  - name: x\n    expect: { delivered: 1 }\n",
    )
    .unwrap();
    let output = run(&["run", scenario.to_str().unwrap(), "--check"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("sut.command is empty"), "{}", stderr(&output));
    std::fs::write(&scenario, "role: receiver\ncases: []\n").unwrap();
    let output = run(&["run", scenario.to_str().unwrap(), "--check"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("needs at least one under receive:"), "{}", stderr(&output));
    let _ = std::fs::remove_dir_all(&dir);
}
