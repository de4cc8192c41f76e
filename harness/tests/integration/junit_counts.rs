//! `junit.xml` as CI tools read it: the counts XSD cannot check (`tests`, `failures`, `errors`
//! against the elements they count) and what the suites hold, for a passing run, a failing
//! run, baseline regressions and a skipped file.
//!
//! Validation against the JUnit schema (`xtask/junit.xsd`) needs libxml2's `xmllint`, a system
//! package, so it is not here (`cargo test` needs nothing but Rust): `cargo xtask system-checks`
//! runs it, in CI, on the same four kinds of report.

use super::report::{report_run, TempDir};
use super::support::stderr;
use std::process::Command;

/// The counts of one `<testsuites>` or `<testsuite>` element against the elements below it.
#[derive(Debug, Default, PartialEq)]
struct Counts {
    tests: u64,
    failures: u64,
    errors: u64,
}

fn attribute(tag: &quick_xml::events::BytesStart, name: &str) -> u64 {
    tag.try_get_attribute(name)
        .expect("attributes parse")
        .map(|a| {
            let value = String::from_utf8_lossy(&a.value).into_owned();
            value.parse().unwrap_or_else(|_| panic!("{name}=\"{value}\" is not a count"))
        })
        .unwrap_or(0)
}

/// Checks that each suite's and the root's `tests`, `failures` and `errors` equal the number of
/// `<testcase>`, `<failure>` and `<error>` elements they cover; returns the root's counts.
fn check_counts(document: &str) -> Counts {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(document);
    let (mut root_declared, mut suite_declared) = (Counts::default(), Counts::default());
    let (mut root_seen, mut suite_seen) = (Counts::default(), Counts::default());
    loop {
        let (tag, closes) = match reader.read_event().expect("junit.xml is well-formed") {
            Event::Start(tag) => (tag, false),
            Event::Empty(tag) => (tag, true),
            Event::End(end) if end.name().as_ref() == b"testsuite" => {
                assert_eq!(suite_seen, suite_declared, "a <testsuite>'s counts");
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        let declared = || Counts {
            tests: attribute(&tag, "tests"),
            failures: attribute(&tag, "failures"),
            errors: attribute(&tag, "errors"),
        };
        match tag.name().as_ref() {
            b"testsuites" => root_declared = declared(),
            b"testsuite" => {
                suite_declared = declared();
                suite_seen = Counts::default();
                assert!(!closes, "an empty <testsuite/>");
            }
            b"testcase" => {
                suite_seen.tests += 1;
                root_seen.tests += 1;
            }
            b"failure" => {
                suite_seen.failures += 1;
                root_seen.failures += 1;
            }
            b"error" => {
                suite_seen.errors += 1;
                root_seen.errors += 1;
            }
            _ => {}
        }
    }
    assert_eq!(root_seen, root_declared, "<testsuites>'s counts");
    root_seen
}

/// A report of `scenarios/conformance-core/ack-protocol.yaml` (the v2.4 case, or all of it),
/// with `extra` flags; returns its `junit.xml`.
fn junit_of(name: &str, whole_pack: bool, extra: &[&str], exit: i32) -> String {
    let dir = TempDir::new(name);
    let output = if whole_pack {
        let mut args = vec!["run", "scenarios/conformance-core/ack-protocol.yaml", "--seed", "7"];
        args.extend_from_slice(&["--report-dir", dir.path()]);
        args.extend_from_slice(extra);
        super::support::run(&args)
    } else {
        report_run(&dir, extra)
    };
    assert_eq!(output.status.code(), Some(exit), "{}", stderr(&output));
    dir.read("junit.xml")
}

#[test]
fn junit_of_a_passing_run_counts_add_up() {
    let junit = junit_of("xsd-pass", false, &[], 0);
    let counts = check_counts(&junit);
    assert!(counts.tests > 1 && counts.failures == 0, "{counts:?}");
}

#[test]
fn junit_of_a_failing_run_counts_add_up() {
    // The whole pack: raw non-HL7 frames and mutated messages put control characters and markup
    // into the evidence.
    let junit = junit_of("xsd-fail", true, &["--target-defect", "wrong-msa2"], 1);
    let counts = check_counts(&junit);
    assert!(counts.failures > 0, "{counts:?}");
    assert!(junit.contains("<failure type=\"ack.msa2-echo\""), "{junit}");
}

/// A run that differs from its baseline adds a `baseline` testsuite whose regressions fail,
/// and the counts still add up.
#[test]
fn junit_with_baseline_regressions_counts_add_up() {
    let baseline = TempDir::new("xsd-baseline");
    let accept = ["--baseline", baseline.path(), "--accept", "--no-report"];
    let output = super::support::run(
        &[&["run", "scenarios/conformance-core/ack-protocol.yaml", "--seed", "7"][..], &accept[..]]
            .concat(),
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let changed = ["--baseline", baseline.path(), "--target-defect", "closes-after-ack"];
    let junit = junit_of("xsd-regression", true, &changed, 1);
    let counts = check_counts(&junit);
    assert!(counts.failures > 0, "{counts:?}");
    assert!(junit.contains("<testsuite name=\"baseline\""), "{junit}");
    assert!(junit.contains("<failure type=\"regression\""), "{junit}");
}

/// A file that did not run (here the dead-peer file, with `ip` and `nft` off the PATH) is a
/// skipped testcase with its reason, so a CI dashboard shows what was not tested; report.html
/// lists it too.
#[test]
fn junit_lists_skipped_files_with_the_reason() {
    let dir = TempDir::new("xsd-skipped");
    let output = Command::new(env!("CARGO_BIN_EXE_hl7-harness"))
        .args(["run", "scenarios/conformance-core/ack-protocol.yaml"])
        .args(["scenarios/hostile-network/dead-peer.yaml", "--seed", "7"])
        .args(["--report-dir", dir.path()])
        .current_dir(super::support::workspace())
        .env("PATH", "/nonexistent")
        .output()
        .expect("the hl7-harness binary runs");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let junit = dir.read("junit.xml");
    check_counts(&junit);
    assert!(
        junit.contains("<testcase name=\"scenarios/hostile-network/dead-peer.yaml\"")
            && junit.contains("<skipped message=\"the packet-level tier is unavailable"),
        "{junit}"
    );
    // The sign-off page says so too.
    let html = dir.read("report.html");
    assert!(html.contains("<h2>Skipped</h2>"), "{html}");
    assert!(html.contains("<code>scenarios/hostile-network/dead-peer.yaml</code>"), "{html}");
}
