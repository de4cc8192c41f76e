//! Dead peers at the packet level (the lab: a network namespace with nftables), with the
//! harness on either side: for each fault, the case passes against the correct reference
//! peer and is caught against the defect it exposes. Where the machine does not allow a
//! network namespace the tests say so and skip (CI sets HL7H_REQUIRE_NETLAB=1 where it
//! checked that it does, and then they fail instead), and the packs are skipped with that
//! reason, never failed.

use super::support::{failed_error_ids, lab_available, run, stderr, stdout};

const CLIENT: &str = "scenarios/hostile-network/dead-peer.yaml";
const RECEIVER: &str = "scenarios/outbound-sender/dead-peer.yaml";

/// Runs `case` of `file`; the client-role file is graded by the built-in endpoint's own
/// profile, which declares `concurrent_connections: true`: what follows the harness vanishing
/// from a connection is judged only with that declaration (a receiver serving one connection
/// at a time answers the resend once it drops the dead connection itself).
fn case_run(file: &str, case: &str, defect: Option<(&str, &str)>) -> std::process::Output {
    let profile = super::support::builtin_profile();
    let profile = profile.to_str().expect("a UTF-8 path");
    let mut args = vec!["run", file, "--seed", "5", "--no-report", "--json", "--filter", case];
    if file == CLIENT {
        args.extend(["--target-profile", profile]);
    }
    if let Some((flag, defect)) = defect {
        args.extend([flag, defect]);
    }
    run(&args)
}

/// Where the lab can be made: the case passes against the correct peer and fails `check` with
/// `defect` (`flag` says which peer has it: `--target-defect` or `--sut-defect`).
fn caught(file: &str, case: &str, flag: &str, defect: &str, check: &str) {
    if !lab_available() {
        return;
    }
    let correct = case_run(file, case, None);
    let text = stdout(&correct);
    assert_eq!(correct.status.code(), Some(0), "{text}{}", stderr(&correct));
    assert!(text.lines().count() >= 1, "no case matched {case:?}: {text}");
    assert!(failed_error_ids(&correct).is_empty(), "{text}");
    let defective = case_run(file, case, Some((flag, defect)));
    assert_eq!(defective.status.code(), Some(1), "{defect}: {}", stdout(&defective));
    let failed = failed_error_ids(&defective);
    assert!(failed.iter().any(|id| id == check), "{defect} on {case:?}: failed {failed:?}");
}

const AFTER_FRAME: &str = "vanishes after the frame";
const TARGET: &str = "--target-defect";
const SUT: &str = "--sut-defect";

#[test]
fn fault_blackhole_catches_applied_twice() {
    caught(CLIENT, AFTER_FRAME, TARGET, "applied-twice", "probe");
}

#[test]
fn fault_blackhole_catches_duplicate_unanswered() {
    caught(CLIENT, AFTER_FRAME, TARGET, "duplicate-unanswered", "history.duplicates");
}

#[test]
fn fault_blackhole_mid_frame_catches_one_connection_at_a_time() {
    let case = "vanishes inside the frame";
    caught(CLIENT, case, TARGET, "one-connection-at-a-time", "liveness.canary");
}

#[test]
fn receiver_fault_connect_hang_catches_no_retry() {
    caught(RECEIVER, "connect_hang", SUT, "no-retry", "sender.delivered");
}

#[test]
fn receiver_fault_silent_peer_catches_resend_on_same_connection() {
    caught(RECEIVER, "silent_peer", SUT, "resend-on-same-connection", "sender.delivered");
}

#[test]
fn receiver_fault_blackhole_catches_new_msh10_on_retry() {
    let case = "blackhole - the network";
    caught(RECEIVER, case, SUT, "new-msh10-on-retry", "sender.msh10-kept");
}

/// Without the lab (here: `ip` and `nft` not on PATH), the files are skipped with the reason,
/// and the run still passes on its other files: the default tier needs no privilege. A run in
/// which every file was skipped ran nothing, and does not pass.
#[test]
fn without_the_lab_the_dead_peer_files_are_skipped_saying_why() {
    let no_lab = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_hl7-harness"))
            .args(args)
            .current_dir(super::support::workspace())
            .env("PATH", "/nonexistent")
            .output()
            .expect("the hl7-harness binary runs")
    };
    let only = no_lab(&["run", CLIENT, RECEIVER, "--seed", "5", "--no-report"]);
    assert_eq!(only.status.code(), Some(2), "{}{}", stdout(&only), stderr(&only));
    assert!(stderr(&only).contains("every selected file was skipped"), "{}", stderr(&only));
    // The filter picks a case of each client file (the offset "chosen by the seed").
    let other = "scenarios/hostile-network/client-faults.yaml";
    let filter = "chosen by the seed";
    let output = no_lab(&["run", CLIENT, other, "--filter", filter, "--seed", "5", "--no-report"]);
    let text = format!("{}{}", stdout(&output), stderr(&output));
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(text.contains("dead-peer.yaml"), "{text}");
    assert!(text.contains("the packet-level tier is unavailable"), "{text}");
    assert!(text.contains("`ip` is not installed"), "{text}");
}
