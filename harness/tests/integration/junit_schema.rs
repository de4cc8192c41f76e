//! `junit.xml` against the JUnit schema CI tools read (`junit.xsd` beside this file, our own
//! rendering of the Ant/Jenkins format), validated by libxml2's `xmllint`; plus the counts the
//! schema cannot check (`tests`, `failures`, `errors` against the elements they count).
//!
//! xmllint comes from Debian's `libxml2-utils`, which `.ci/run` installs. Without it these tests
//! fail and say so: a schema check that silently did not run would look like a pass.

use super::report::{report_run, TempDir};
use super::support::{stderr, TempFile};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Longest one xmllint run may take; it validates a few hundred kilobytes in milliseconds.
const XMLLINT_LIMIT: Duration = Duration::from_secs(60);

fn schema() -> String {
    format!("{}/tests/integration/junit.xsd", env!("CARGO_MANIFEST_DIR"))
}

/// `Ok` when `document` is valid against the schema, else xmllint's diagnostics.
fn validate(document: &str, name: &str) -> Result<(), String> {
    let file = TempFile::new(name, document.as_bytes());
    let mut child = match Command::new("xmllint")
        .args(["--noout", "--nonet", "--schema", &schema(), file.path()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => panic!(
            "cannot run xmllint ({e}): the JUnit schema test needs it; install Debian's \
             libxml2-utils (`apt-get install libxml2-utils`; .ci/run does)"
        ),
    };
    let deadline = Instant::now() + XMLLINT_LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("xmllint status") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("xmllint did not finish within {XMLLINT_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut diagnostics = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        use std::io::Read;
        let _ = pipe.read_to_string(&mut diagnostics);
    }
    match status.code() {
        Some(0) => Ok(()),
        // 3: the document is well-formed but not valid; 1: not even well-formed XML. Anything
        // else (5: the schema does not compile, 4: a file unreadable) is the test's fault.
        Some(1 | 3) => Err(diagnostics),
        _ => panic!("xmllint could not validate ({status}): {diagnostics}"),
    }
}

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
fn junit_of_a_passing_run_is_valid_against_the_schema() {
    let junit = junit_of("xsd-pass", false, &[], 0);
    if let Err(diagnostics) = validate(&junit, "pass-junit.xml") {
        panic!("junit.xml of a passing run is not valid:\n{diagnostics}\n{junit}");
    }
    let counts = check_counts(&junit);
    assert!(counts.tests > 1 && counts.failures == 0, "{counts:?}");
}

#[test]
fn junit_of_a_failing_run_is_valid_against_the_schema() {
    // The whole pack: raw non-HL7 frames and mutated messages put control characters and markup
    // into the evidence.
    let junit = junit_of("xsd-fail", true, &["--target-defect", "wrong-msa2"], 1);
    if let Err(diagnostics) = validate(&junit, "fail-junit.xml") {
        panic!("junit.xml of a failing run is not valid:\n{diagnostics}");
    }
    let counts = check_counts(&junit);
    assert!(counts.failures > 0, "{counts:?}");
    assert!(junit.contains("<failure type=\"ack.msa2-echo\""), "{junit}");
}

#[test]
fn the_schema_rejects_broken_junit() {
    let junit = junit_of("xsd-broken", false, &["--target-defect", "wrong-msa2"], 1);
    validate(&junit, "good-junit.xml").expect("the unbroken document is valid");
    let first_case = junit.find("<testcase ").expect("a testcase");
    let name_at = first_case + junit[first_case..].find(" name=\"").expect("a name");
    let name_end = name_at + 7 + junit[name_at + 7..].find('"').expect("name ends");
    let nameless = format!("{}{}", &junit[..name_at], &junit[name_end + 1..]);
    let stray_failure = junit.replacen(
        "</properties>",
        "</properties>\n    <failure message=\"outside\">not in a testcase</failure>",
        1,
    );
    let bad_count = junit.replacen(
        "<testsuite name=\"conformance-core\" tests=\"",
        "<testsuite name=\"conformance-core\" tests=\"many",
        1,
    );
    let bare_case = "<testcase name=\"alone\"/>\n".to_string();
    let failure_in_failure = junit.replacen("</failure>", "<failure/></failure>", 1);
    for (what, broken, expected) in [
        ("a testcase without a name", nameless, "'name' is required"),
        ("a failure outside a testcase", stray_failure, "'failure': This element is not expected"),
        ("a test count that is not a number", bad_count, "'tests'"),
        ("a testcase as the root", bare_case, "No matching global declaration"),
        ("markup inside a failure", failure_in_failure, "'failure'"),
    ] {
        assert_ne!(broken, junit, "{what}: the document was not changed");
        match validate(&broken, "broken-junit.xml") {
            Ok(()) => panic!("{what}: accepted by the schema"),
            Err(diagnostics) => assert!(diagnostics.contains(expected), "{what}: {diagnostics}"),
        }
    }
}

/// A run that differs from its baseline adds a `baseline` testsuite whose regressions fail:
/// still valid, and the counts still add up.
#[test]
fn junit_with_baseline_regressions_is_valid_against_the_schema() {
    let baseline = TempDir::new("xsd-baseline");
    let accept = ["--baseline", baseline.path(), "--accept", "--no-report"];
    let output = super::support::run(
        &[&["run", "scenarios/conformance-core/ack-protocol.yaml", "--seed", "7"][..], &accept[..]]
            .concat(),
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let changed = ["--baseline", baseline.path(), "--target-defect", "closes-after-ack"];
    let junit = junit_of("xsd-regression", true, &changed, 1);
    if let Err(diagnostics) = validate(&junit, "baseline-junit.xml") {
        panic!("junit.xml with a baseline suite is not valid:\n{diagnostics}");
    }
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
    if let Err(diagnostics) = validate(&junit, "skipped-junit.xml") {
        panic!("junit.xml with a skipped file is not valid:\n{diagnostics}\n{junit}");
    }
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
