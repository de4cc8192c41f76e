//! Regression baselines (`run --baseline/--accept`) and shards (`run --shard`, `report merge`),
//! end to end with the real binary against the built-in endpoint.

use super::report::TempDir;
use super::support::{run, stderr, stdout};
use std::path::Path;

const PACK: &str = "scenarios/conformance-core/ack-protocol.yaml";

fn baseline_run(baseline: &TempDir, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["run", PACK, "--no-report", "--baseline", baseline.path()];
    args.extend_from_slice(extra);
    run(&args)
}

fn snap_files(dir: &Path, suffix: &str) -> Vec<String> {
    let ext = suffix.rsplit('.').next().unwrap_or(suffix);
    let mut out: Vec<String> = super::support::files(dir, ext)
        .into_iter()
        .map(|p| p.strip_prefix(dir).unwrap().to_string_lossy().replace('\\', "/"))
        .filter(|p| p.ends_with(suffix))
        .collect();
    out.sort();
    out
}

#[test]
fn baseline_accept_then_rerun_has_no_diff() {
    let baseline = TempDir::new("baseline-accept");
    let first = baseline_run(&baseline, &["--seed", "7", "--accept"]);
    assert_eq!(first.status.code(), Some(0), "{}{}", stdout(&first), stderr(&first));
    assert!(stdout(&first).contains("(accepted)"), "{}", stdout(&first));
    let accepted = snap_files(&baseline.0, ".snap");
    assert_eq!(accepted.len(), 13, "{accepted:?}");
    assert!(accepted.iter().all(|p| p.starts_with("conformance-core/ack-protocol__")));
    assert!(baseline.read("baseline.json").contains("\"seed\": 7"));

    // No --seed: the baseline's seed is used, so the generated values are the same.
    let again = baseline_run(&baseline, &[]);
    let text = stdout(&again);
    assert_eq!(again.status.code(), Some(0), "{text}{}", stderr(&again));
    assert!(text.contains("13 unchanged, 0 changed, 0 new, 0 missing"), "{text}");
    assert!(text.contains("; seed 7"), "{text}");
    assert!(snap_files(&baseline.0, ".snap.new").is_empty());
}

/// A permitted behaviour (closing after the ACK) passes every error-severity check, yet the
/// nightly regression must show it: the snapshots change and the run fails until accepted.
#[test]
fn a_defect_in_the_endpoint_changes_snapshots_and_fails_the_run() {
    let baseline = TempDir::new("baseline-defect");
    let accepted = baseline_run(&baseline, &["--seed", "7", "--accept"]);
    assert_eq!(accepted.status.code(), Some(0), "{}", stderr(&accepted));

    let changed = baseline_run(&baseline, &["--target-defect", "closes-after-ack"]);
    let text = stdout(&changed);
    assert_eq!(changed.status.code(), Some(1), "{text}");
    assert!(text.contains("0 failed"), "no error-severity failure: {text}");
    assert!(text.contains("CHANGED conformance-core/ack-protocol__"), "{text}");
    assert!(text.contains("-connections after: open\n  +connections after: closed"), "{text}");
    assert!(text.contains("cargo insta review --workspace-root"), "{text}");
    let pending = snap_files(&baseline.0, ".snap.new");
    assert!(!pending.is_empty(), "pending snapshots for cargo insta review");
    let body = std::fs::read_to_string(baseline.0.join(&pending[0])).unwrap();
    assert!(body.starts_with("---\nsource: hl7-harness run\nexpression: "), "{body}");
    // cargo-insta finds snapshots through Cargo metadata: the marker manifest must be valid.
    let metadata = std::process::Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline", "--manifest-path"])
        .arg(baseline.0.join("Cargo.toml"))
        .output()
        .expect("cargo runs");
    assert!(metadata.status.success(), "{}", String::from_utf8_lossy(&metadata.stderr));

    // Accepting makes the new behaviour the baseline and clears the pending files.
    let accept = baseline_run(&baseline, &["--target-defect", "closes-after-ack", "--accept"]);
    assert_eq!(accept.status.code(), Some(0), "{}", stdout(&accept));
    assert!(snap_files(&baseline.0, ".snap.new").is_empty());
    let rerun = baseline_run(&baseline, &["--target-defect", "closes-after-ack"]);
    assert_eq!(rerun.status.code(), Some(0), "{}", stdout(&rerun));
}

#[test]
fn new_and_missing_snapshots_fail_and_a_filtered_run_does_not_judge_missing() {
    let baseline = TempDir::new("baseline-missing");
    let accepted = baseline_run(&baseline, &["--seed", "7", "--accept"]);
    assert_eq!(accepted.status.code(), Some(0), "{}", stderr(&accepted));
    let snaps = snap_files(&baseline.0, ".snap");
    // One accepted snapshot removed (its case is new) and one without a case (missing).
    std::fs::remove_file(baseline.0.join(&snaps[0])).unwrap();
    let orphan = baseline.0.join("conformance-core/ack-protocol__a-case-that-was-removed.snap");
    std::fs::copy(baseline.0.join(&snaps[1]), &orphan).unwrap();

    let output = baseline_run(&baseline, &[]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("0 changed, 1 new, 1 missing"), "{text}");
    assert!(text.contains(&format!("NEW {}", snaps[0])), "{text}");
    assert!(text.contains("MISSING conformance-core/ack-protocol__a-case-that-was-removed.snap"));

    let filtered = baseline_run(&baseline, &["--filter", "v2.4"]);
    let text = stdout(&filtered);
    assert_eq!(filtered.status.code(), Some(0), "{text}");
    assert!(text.contains("missing not judged"), "{text}");

    let accept = baseline_run(&baseline, &["--accept"]);
    assert_eq!(accept.status.code(), Some(0), "{}", stdout(&accept));
    assert!(!orphan.exists(), "--accept removes snapshots whose case is gone");
}

#[test]
fn a_broken_baseline_is_a_clear_error() {
    let baseline = TempDir::new("baseline-broken");
    std::fs::create_dir_all(baseline.0.join("conformance-core")).unwrap();
    std::fs::write(baseline.0.join("baseline.json"), "{ not json").unwrap();
    let output = baseline_run(&baseline, &[]);
    assert_eq!(output.status.code(), Some(2), "{}", stdout(&output));
    assert!(stderr(&output).contains("baseline.json"), "{}", stderr(&output));
}

/// The transcript of one case as written into the report (and the baseline), redacted so
/// that it is the same on every run.
#[test]
fn case_snapshot_transcript() {
    let dir = TempDir::new("snapshot-transcript");
    let output = super::report::report_run(&dir, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let name =
        "snapshots/conformance-core/ack-protocol__a-v2-4-message-is-acknowledged-in-v2-4.snap";
    insta::assert_snapshot!("case-snapshot", dir.read(name));
}

fn manifest_is_intact(dir: &Path) {
    let text = std::fs::read_to_string(dir.join("manifest.json")).unwrap();
    let manifest: hl7_harness::report::manifest::Manifest = serde_json::from_str(&text).unwrap();
    let changes = hl7_harness::report::manifest::compare(dir, &manifest).unwrap();
    assert!(changes.is_empty(), "{changes:?}");
}

fn case_names(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("results.json")).unwrap();
    let results: serde_json::Value = serde_json::from_str(&text).unwrap();
    results["packs"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["cases"].as_array().unwrap().iter())
        .map(|c| format!("{} | {}", c["scenario"].as_str().unwrap(), c["name"].as_str().unwrap()))
        .collect()
}

#[test]
fn shards_split_the_cases_and_merge_into_the_unsplit_report() {
    let packs = "scenarios/conformance-core";
    let whole = TempDir::new("shard-whole");
    let output = run(&["run", packs, "--seed", "9", "--report-dir", whole.path()]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let shards: Vec<TempDir> = (1..=3).map(|k| TempDir::new(&format!("shard-{k}"))).collect();
    let mut counts = Vec::new();
    for (k, dir) in shards.iter().enumerate() {
        let shard = format!("{}/3", k + 1);
        let output =
            run(&["run", packs, "--seed", "9", "--shard", &shard, "--report-dir", dir.path()]);
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        assert!(stdout(&output).contains(&format!("shard {shard}")));
        assert!(dir.read("summary.md").contains(&format!("| Shard | {shard}")));
        counts.push(case_names(&dir.0).len());
    }
    let all = case_names(&whole.0);
    assert_eq!(counts.iter().sum::<usize>(), all.len(), "every case in exactly one shard");
    assert!(counts.iter().all(|&n| n.abs_diff(all.len() / 3) <= 2), "balanced: {counts:?}");

    let merged = TempDir::new("shard-merged");
    // Any order of the shard folders.
    let output = run(&[
        "report",
        "merge",
        "--out",
        merged.path(),
        shards[2].path(),
        shards[0].path(),
        shards[1].path(),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}{}", stdout(&output), stderr(&output));
    assert!(stdout(&output).contains("merged 3 shard report(s)"));
    assert_eq!(case_names(&merged.0), all, "same cases in the same order");
    let whole_snaps = snap_files(&whole.0, ".snap");
    assert_eq!(snap_files(&merged.0, ".snap"), whole_snaps);
    for snap in &whole_snaps {
        assert_eq!(whole.read(snap), merged.read(snap), "{snap}");
    }
    manifest_is_intact(&merged.0);
    assert!(!merged.read("summary.md").contains("| Shard |"));
}

#[test]
fn merge_refuses_what_is_not_one_run() {
    let pack = PACK;
    let make = |name: &str, seed: &str, shard: &str| {
        let dir = TempDir::new(name);
        let output =
            run(&["run", pack, "--seed", seed, "--shard", shard, "--report-dir", dir.path()]);
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        dir
    };
    let one = make("merge-bad-1", "5", "1/2");
    let two = make("merge-bad-2", "5", "2/2");
    let other_seed = make("merge-bad-3", "6", "2/2");
    let out = TempDir::new("merge-bad-out");
    let merge = |dirs: &[&TempDir]| {
        let mut args = vec!["report", "merge", "--out", out.path()];
        args.extend(dirs.iter().map(|d| d.path()));
        run(&args)
    };
    let expect = |output: std::process::Output, needle: &str| {
        assert_eq!(output.status.code(), Some(2), "{}", stdout(&output));
        assert!(stderr(&output).contains(needle), "{needle}: {}", stderr(&output));
    };
    expect(merge(&[&one]), "shard(s) 2 of 2 not given");
    expect(merge(&[&one, &one]), "given twice");
    expect(merge(&[&one, &other_seed]), "seed 6, but");
    let unsharded = TempDir::new("merge-bad-unsharded");
    let output = run(&["run", pack, "--seed", "5", "--report-dir", unsharded.path()]);
    assert_eq!(output.status.code(), Some(0));
    expect(merge(&[&one, &unsharded]), "not a shard");
    std::fs::write(two.0.join("summary.md"), "edited").unwrap();
    expect(merge(&[&one, &two]), "changed: summary.md");
    assert!(!out.0.join("manifest.json").exists(), "nothing written on a refused merge");
}

#[test]
fn bad_shard_specs_are_usage_errors() {
    for spec in ["0/3", "4/3", "3", "a/b", "1/0"] {
        let output = run(&["run", PACK, "--shard", spec, "--check"]);
        assert_eq!(output.status.code(), Some(2), "{spec}");
        assert!(stderr(&output).contains("--shard"), "{spec}: {}", stderr(&output));
    }
}
