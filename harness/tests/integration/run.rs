//! `hl7-harness run`: the shipped packs pass against the correct reference endpoint, every
//! defect of the endpoint is caught by an error-severity check, scenario errors name file, line
//! and column, and the exit codes follow the design.

use super::support::{run, stderr, stdout, workspace};
use hl7_harness::checks::Severity;
use hl7_harness::runner::{run as run_packs, RunOptions};
use hl7_harness::scenario::{load_packs, FileAccess};
use hl7_harness::target::defect::{Defect, Defects};
use hl7_harness::vocab::Seed;
use std::path::PathBuf;
use std::sync::Arc;

/// Run options against the built-in endpoint graded by its own profile: a defect is caught
/// when the endpoint declares what it is supposed to do.
fn options(defects: Defects) -> RunOptions {
    RunOptions {
        defects,
        seed: Seed(7),
        profile: Some(
            hl7_harness::scenario::load_profile(&super::support::builtin_profile())
                .expect("the builtin profile loads"),
        ),
        // `{harness}` in receiver-role scenarios: the real binary, not this test binary.
        harness: Some(env!("CARGO_BIN_EXE_hl7-harness").into()),
        ..RunOptions::default()
    }
}

#[test]
fn shipped_packs_pass_against_the_correct_endpoint() {
    let output = run(&["run", "--no-report", "scenarios/", "--seed", "7"]);
    assert_eq!(output.status.code(), Some(0), "{}{}", stdout(&output), stderr(&output));
    assert!(stdout(&output).contains("PASS:"), "{}", stdout(&output));
    // Graded by the standard's most permissive reading, except the pack that brings its own
    // interface specification (the e-health sender pack's message profiles).
    assert!(
        stdout(&output).contains("target profile: e-health platform ADT/MFN (seed 001)"),
        "{}",
        stdout(&output)
    );
    // And graded by what the endpoint declares.
    let profile = super::support::builtin_profile();
    let output = run(&[
        "run",
        "--no-report",
        "scenarios/",
        "--seed",
        "7",
        "--target-profile",
        profile.to_str().expect("UTF-8 path"),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}{}", stdout(&output), stderr(&output));
    assert!(
        stdout(&output).contains("target profile: hl7-harness builtin ("),
        "{}",
        stdout(&output)
    );
}

/// Runs every pack against the endpoint with each defect (violation) switched on, four at a
/// time, graded by the built-in endpoint's own target profile (`scenarios/builtin.profile.yaml`:
/// a defect is caught when the receiver declares what it is supposed to do), and requires at
/// least one error-severity failure for each. The permitted behaviours have their own matrix
/// (`permitted.rs`): they must pass with no error.
#[test]
fn every_defect_is_caught_by_an_error_check() {
    let known: Vec<&str> = hl7_harness::checks::generic_ids();
    let mut packs = load_packs(&[workspace().join("scenarios")], &known, FileAccess::PackOnly)
        .expect("packs load");
    // Receiver-role scenarios test a sender, through-role ones an engine, not the endpoint: no
    // endpoint defect reaches them.
    for pack in &mut packs {
        pack.scenarios.retain(|s| s.file.role == hl7_harness::scenario::Role::Sender);
    }
    let packs = Arc::new(packs);
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let caught = runtime.block_on(async {
        let limit = Arc::new(tokio::sync::Semaphore::new(4));
        let mut tasks = tokio::task::JoinSet::new();
        for defect in Defect::VIOLATIONS.iter().copied() {
            let (packs, limit) = (Arc::clone(&packs), Arc::clone(&limit));
            tasks.spawn(async move {
                let _permit = limit.acquire_owned().await;
                let outcome = run_packs(&packs, &options(Defects::of([defect])), &|_| {})
                    .await
                    .expect("run starts");
                let failed = |severity| super::support::failed_ids(&outcome, severity);
                (defect, failed(Severity::Error), failed(Severity::Warning))
            });
        }
        let mut caught = Vec::new();
        while let Some(done) = tasks.join_next().await {
            caught.push(done.expect("defect run finishes"));
        }
        caught.sort();
        caught
    });
    for (defect, errors, warnings) in &caught {
        eprintln!("{defect}: errors {errors:?}, warnings {warnings:?}");
    }
    // A violation of the standard must fail an error-severity check.
    let missed: Vec<&str> = caught
        .iter()
        .filter(|(_, errors, _)| errors.is_empty())
        .map(|(d, _, _)| d.name())
        .collect();
    assert!(missed.is_empty(), "defects no error check caught: {missed:?}");
    assert_eq!(caught.len(), Defect::VIOLATIONS.len());
}

#[test]
fn summary_names_the_check_evidence_rule_and_reproduce_command() {
    let output = run(&[
        "run",
        "--no-report",
        "scenarios/conformance-core/ack-protocol.yaml",
        "--seed",
        "7",
        "--target-defect",
        "wrong-msa2",
        "--filter",
        "v2.4",
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    insta::assert_snapshot!("run-summary-wrong-msa2", stdout(&output));
}

/// `--exclude TEXT` (repeatable) leaves out the cases whose name contains it, after --filter.
#[test]
fn exclude_leaves_out_cases_by_name() {
    let output = run(&[
        "run",
        "--no-report",
        "--json",
        "scenarios/conformance-core/ack-protocol.yaml",
        "--seed",
        "7",
        "--filter",
        "message is",
        "--exclude",
        "v2.3",
        "--exclude",
        "v2.6",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let names: Vec<String> = stdout(&output)
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap()["case"].to_string())
        .collect();
    assert_eq!(names, ["\"a v2.4 message is acknowledged in v2.4\""]);
}

#[test]
fn same_seed_same_control_ids() {
    let args = [
        "run",
        "--no-report",
        "scenarios/conformance-core/ack-protocol.yaml",
        "--seed",
        "42",
        "--target-defect",
        "wrong-msa2",
        "--filter",
        "v2.3",
    ];
    let (a, b) = (run(&args), run(&args));
    assert_eq!(stdout(&a), stdout(&b));
    assert!(stdout(&a).contains("-WRONG"), "{}", stdout(&a));
}

fn scenario_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hl7-harness-run-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("m.hl7"), b"MSH|^~\\&|A|B|C|D|2024||ADT^A04|1|P|2.5\rPID|1||X\r")
        .unwrap();
    dir
}

#[test]
fn scenario_errors_name_file_line_and_column() {
    let dir = scenario_dir("errors");
    let files = [
        ("a-unknown-key.yaml", "cases:\n  - name: x\n    send: m\n    exepct: { ack: AA }\nmessages:\n  m: { file: m.hl7 }\n"),
        ("b-bad-path.yaml", "messages:\n  m: { file: m.hl7 }\ncases:\n  - name: x\n    send: m\n    set: { PID-55.x: y }\n"),
        ("c-missing-file.yaml", "messages:\n  m: { file: nowhere.hl7 }\ncases:\n  - name: x\n    send: m\n"),
        ("d-unknown-template.yaml", "messages:\n  register: { file: m.hl7 }\ncases:\n  - name: x\n    send: registr\n"),
        ("e-missing-env.yaml", "target: { url: \"${HL7H_TEST_SURELY_UNSET}\" }\nmessages:\n  m: { file: m.hl7 }\ncases:\n  - name: x\n    send: m\n"),
        ("f-literal-secret.yaml", "auth: { basic: { user: u, password: hunter2 } }\nmessages:\n  m: { file: m.hl7 }\ncases:\n  - name: x\n    send: m\n"),
        ("g-bad-ack.yaml", "messages:\n  m: { file: m.hl7 }\ncases:\n  - name: x\n    send: m\n    expect: { ack: [AA, OK] }\n"),
        ("h-wrong-type.yaml", "messages:\n  m: { file: m.hl7 }\ncases:\n  - name: x\n    send: m\n    connections: many\n"),
        ("i-unknown-check.yaml", "messages:\n  m: { file: m.hl7 }\ncases:\n  - name: x\n    send: m\n    skip_checks: [ack.msa2-echoo]\n"),
        ("j-unknown-fault.yaml", "messages:\n  m: { file: m.hl7 }\ncases:\n  - name: x\n    send: m\n    network: [half_closed]\n"),
        ("k-no-cases.yaml", "messages:\n  m: { file: m.hl7 }\ncases: []\n"),
        ("l-not-yaml.yaml", "cases: [\n"),
        ("m-probe-placeholder.yaml", "messages:\n  m: { file: m.hl7 }\ncases:\n  - name: x\n    send: m\n    probe: { http_get: \"{state}/x\", json: { family: \"{PID-55.x}\" } }\n"),
        ("n-ack-trigger.yaml", "messages:\n  m: { file: m.hl7 }\ncases:\n  - name: x\n    send: m\n    network: [pipeline, { reset: { after_acks: 1 } }]\n"),
        ("o-step-order.yaml", "messages:\n  m: { file: m.hl7 }\ncases:\n  - name: x\n    steps:\n      - { send: m, expect: { order: any } }\n"),
    ];
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let output = run(&["run", "--no-report", "--check", dir.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    let shown = stderr(&output).replace(dir.to_str().unwrap(), "<dir>");
    insta::assert_snapshot!("run-scenario-errors", shown);
    // --check needs none of the run's environment (issue 19); the run itself refuses to start
    // without it, naming file, line and column.
    let missing = dir.join("e-missing-env.yaml");
    let output = run(&["run", "--no-report", missing.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    let shown = stderr(&output).replace(dir.to_str().unwrap(), "<dir>");
    assert!(
        shown.contains(
            "<dir>/e-missing-env.yaml:1:9: target: environment variable HL7H_TEST_SURELY_UNSET \
             is not set (write ${HL7H_TEST_SURELY_UNSET:-default} for a default)"
        ),
        "{shown}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_schema_and_list_checks() {
    let output = run(&["run", "--no-report", "--check", "scenarios/"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stdout(&output).starts_with("ok: "), "{}", stdout(&output));

    let output = run(&["schema"]);
    assert_eq!(output.status.code(), Some(0));
    let schema: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("the schema is JSON");
    assert!(schema["properties"]["cases"].is_object(), "{schema}");
    assert!(schema.to_string().contains("max_ack_time"));

    let output = run(&["run", "--no-report", "--list-checks"]);
    assert!(stdout(&output).contains("ack.msa2-echo"));
    assert!(stdout(&output).contains("versions: v2.x"), "{}", stdout(&output));
}

/// The rulebook (the check catalogue as one table) is generated: docs/rulebook.md, a page of
/// the user guide, is what `run --list-checks --markdown` prints; `cargo xtask schema` rewrites
/// it.
#[test]
fn committed_rulebook_is_current() {
    let output = run(&["run", "--list-checks", "--markdown"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let committed = std::fs::read_to_string(workspace().join("docs/rulebook.md"))
        .expect("docs/rulebook.md exists");
    assert!(stdout(&output) == committed, "docs/rulebook.md is stale: run `cargo xtask schema`");
}

/// The user guide's reference pages (commands, scenario and profile keys, defects, faults) are
/// generated from the code: each committed page under docs/reference/ is what
/// `hl7-harness reference PAGE` prints, and no other page lies there.
#[test]
fn committed_reference_pages_are_current() {
    use hl7_harness::cli::reference::PAGES;
    let dir = workspace().join("docs/reference");
    for name in PAGES {
        let output = run(&["reference", name]);
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        let committed = std::fs::read_to_string(dir.join(name))
            .unwrap_or_else(|e| panic!("docs/reference/{name}: {e}: run `cargo xtask schema`"));
        assert!(
            stdout(&output) == committed,
            "docs/reference/{name} is stale: run `cargo xtask schema`"
        );
    }
    let mut present: Vec<String> = std::fs::read_dir(&dir)
        .expect("docs/reference/")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    present.sort();
    let mut expected: Vec<String> = PAGES.iter().map(|p| p.to_string()).collect();
    expected.sort();
    assert_eq!(present, expected, "docs/reference/ holds only generated pages");
}

/// The completion script and the man page come from the same clap definitions as the parser.
#[test]
fn completions_and_man_page() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let output = run(&["completions", shell]);
        assert_eq!(output.status.code(), Some(0), "{shell}: {}", stderr(&output));
        assert!(stdout(&output).contains("target-profile"), "{shell}");
    }
    let output = run(&["completions", "tcsh"]);
    assert_eq!(output.status.code(), Some(2));
    let output = run(&["man"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let page = stdout(&output);
    assert!(page.contains(".TH hl7-harness 1"), "{page}");
    assert!(page.contains("hl7\\-harness\\-run(1)"), "{page}");
}

#[test]
fn unreachable_target_and_empty_filter_have_their_exit_codes() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let target = format!("mllp://127.0.0.1:{port}");
    let output = run(&[
        "run",
        "--no-report",
        "scenarios/conformance-core/ack-protocol.yaml",
        "--target",
        &target,
        "--seed",
        "1",
    ]);
    assert_eq!(output.status.code(), Some(3), "{}{}", stdout(&output), stderr(&output));

    let output = run(&["run", "--no-report", "scenarios/", "--filter", "no case has this name"]);
    assert_eq!(output.status.code(), Some(2));
    let output = run(&["run", "--no-report", "scenarios/", "--target", "ftp://x"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("unknown target"), "{}", stderr(&output));
}

/// `run` against a separate `serve` over MLLP-over-TLS and HTTPS, trusting the test CA named in
/// the scenario; a CA that did not sign the server's certificate fails every case with the TLS
/// reason.
#[test]
fn run_over_mllps_and_https() {
    let pki = crate::tls::pki("run");
    let (cert, key) = (pki.path("server.pem"), pki.path("server.key"));
    let server = crate::mllp::Server::with_args(&[
        std::ffi::OsStr::new("--tls-cert"),
        std::ffi::OsStr::new(&cert),
        std::ffi::OsStr::new("--tls-key"),
        std::ffi::OsStr::new(&key),
        std::ffi::OsStr::new("--https"),
        std::ffi::OsStr::new("127.0.0.1:0"),
    ]);
    let https = format!("{}/hl7", server.next_line().trim().strip_prefix("listening on ").unwrap());
    assert!(https.starts_with("https://"), "{https}");
    // The message beside the scenario: a pack reads files in its own folder (issue 14).
    let a04 = workspace().join("corpus/adt/adt_a04_v26_utf8_latin.hl7");
    std::fs::copy(&a04, pki.dir.join("m.hl7")).unwrap();
    let scenario = |ca: &str| {
        format!(
            "target: {{ tls: {{ ca: {ca} }} }}\nmessages:\n  m: {{ file: m.hl7 }}\ncases:\n  - name: accepted over TLS\n    send: m\n    expect: {{ ack: AA }}\n"
        )
    };
    let good = pki.dir.join("good.yaml");
    std::fs::write(&good, scenario("ca.pem")).unwrap();
    let bad = pki.dir.join("bad.yaml");
    std::fs::write(&bad, scenario("other-ca.pem")).unwrap();
    for url in [server.url.as_str(), https.as_str()] {
        let output =
            run(&["run", "--no-report", good.to_str().unwrap(), "--target", url, "--seed", "1"]);
        assert_eq!(output.status.code(), Some(0), "{url}: {}{}", stdout(&output), stderr(&output));
        let output =
            run(&["run", "--no-report", bad.to_str().unwrap(), "--target", url, "--seed", "1"]);
        assert_eq!(output.status.code(), Some(1), "{url}: {}", stdout(&output));
        assert!(stdout(&output).contains("tls-handshake-failed"), "{url}: {}", stdout(&output));
    }
}

/// The committed schema (for editors) is what `hl7-harness schema` prints; `cargo xtask schema`
/// rewrites it.
#[test]
fn committed_schema_is_current() {
    let output = run(&["schema"]);
    let committed = std::fs::read_to_string(workspace().join("scenarios/scenario.schema.json"))
        .expect("scenarios/scenario.schema.json exists");
    assert!(stdout(&output) == committed, "stale: run `cargo xtask schema`");
    let output = run(&["schema", "--profile"]);
    let committed =
        std::fs::read_to_string(workspace().join("scenarios/target-profile.schema.json"))
            .expect("scenarios/target-profile.schema.json exists");
    assert!(stdout(&output) == committed, "stale: run `cargo xtask schema`");
}

/// A command probe checks exit code and output, with placeholders from the message sent.
#[test]
fn command_probes() {
    let dir = scenario_dir("command");
    let text = "messages:\n  m: { file: m.hl7 }\ncases:\n  - name: output holds the value sent\n    send: m\n    probe: { command: [sh, -c, \"echo stored {PID-3}\"], stdout_contains: \"stored {PID-3}\" }\n  - name: exit code differs\n    send: m\n    probe: { command: [sh, -c, \"exit 3\"], exit: 0 }\n  - name: missing text\n    send: m\n    probe: { command: [sh, -c, \"echo nothing\"], stdout_contains: \"{PID-3}\" }\n";
    std::fs::write(dir.join("probe.yaml"), text).unwrap();
    let output =
        run(&["run", "--no-report", dir.join("probe.yaml").to_str().unwrap(), "--seed", "1"]);
    let shown = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{shown}");
    assert!(shown.contains("FAIL") && shown.contains("exit code differs"), "{shown}");
    assert!(shown.contains("exit Some(3), expected 0"), "{shown}");
    assert!(shown.contains("stdout does not contain \"X\""), "{shown}");
    assert!(!shown.contains("› output holds the value sent"), "{shown}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The shipped packs against `serve` as a separate process (an external target): the MLLP packs
/// pass, the HTTP pack is skipped with the reason, and without a target profile mapping its
/// state the probes are not judged (an info), not failed.
#[test]
fn shipped_packs_pass_against_serve_as_an_external_target() {
    let server = crate::mllp::Server::with_args(&[
        std::ffi::OsStr::new("--state"),
        std::ffi::OsStr::new("127.0.0.1:0"),
    ]);
    let state =
        server.next_line().trim().strip_prefix("state on ").expect("state line").to_string();
    let output = run(&[
        "run",
        "--no-report",
        "scenarios/",
        "--target",
        &server.url,
        "--state",
        &state,
        "--seed",
        "9",
    ]);
    let shown = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{shown}{}", stderr(&output));
    assert!(
        shown.contains("SKIPPED scenarios/http-partner/partner.yaml: written for an HTTP target"),
        "{shown}"
    );
    // `serve` listens on loopback only: the dead-peer files cannot reach it from the lab (or
    // there is no lab here); either way they are skipped, saying why.
    let why = if crate::support::lab_available() {
        "make it listen on all addresses"
    } else {
        "the packet-level tier is unavailable"
    };
    let line = shown.lines().find(|l| l.contains("hostile-network/dead-peer.yaml"));
    assert!(line.is_some_and(|l| l.contains("SKIPPED") && l.contains(why)), "{shown}");

    let output = run(&[
        "run",
        "--no-report",
        "scenarios/adt-client-feed",
        "--target",
        &server.url,
        "--seed",
        "10",
        "--json",
    ]);
    let shown = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{shown}");
    // No target profile, so no state: mapping: the probes are not judged (an info), not failed.
    let unavailable: Vec<&str> =
        shown.lines().filter(|l| l.contains("\"probe.unavailable\"")).collect();
    assert!(!unavailable.is_empty(), "{shown}");
    assert!(unavailable.iter().all(|l| l.contains("\"severity\":\"info\"")), "{shown}");
    assert!(shown.contains("not judged"), "{shown}");

    // With its profile (the built-in endpoint's mapping) and its state URL, every probe and
    // the applied log are read and judged.
    let output = run(&[
        "run",
        "--no-report",
        "scenarios/adt-client-feed",
        "--target",
        &server.url,
        "--target-profile",
        "scenarios/builtin.profile.yaml",
        "--state",
        &state,
        "--seed",
        "10",
        "--json",
    ]);
    let shown = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{shown}");
    assert!(!shown.contains("probe.unavailable"), "{shown}");
}

/// A correct partner endpoint with another alias policy than the built-in endpoint's (`serve`
/// with other `--http-alias` values, user and password) passes the shipped `http-partner` pack
/// unedited once its profile's `site:` says so; its `state:` maps the probes to its state API.
/// Without the profile the pack sends the built-in endpoint's aliases, which this partner
/// refuses: the site policy really comes from the profile.
#[test]
fn http_partner_passes_another_alias_policy_declared_in_the_profile() {
    let server = crate::mllp::Server::with_args_env(
        &[
            "--http".as_ref(),
            "127.0.0.1:0".as_ref(),
            "--state".as_ref(),
            "127.0.0.1:0".as_ref(),
            "--http-user".as_ref(),
            "acme_feed".as_ref(),
            "--http-password-env".as_ref(),
            "ACME_PASSWORD".as_ref(),
            "--http-alias".as_ref(),
            "mailco".as_ref(),
        ],
        &[("ACME_PASSWORD", "acme-secret")],
    );
    let http = server.next_line().trim().strip_prefix("listening on ").expect("http").to_string();
    let state = server.next_line().trim().strip_prefix("state on ").expect("state").to_string();
    let dir = std::env::temp_dir().join(format!("hl7h-partner-site-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let profile = dir.join("partner.profile.yaml");
    std::fs::write(
        &profile,
        format!(
            "name: acme partner\n\
             site:\n  connecting_alias: mailco\n  data_controller_alias: trust\n  \
             other_data_controller_alias: clinic2\n  unknown_alias: trustalias\n  \
             partner_user: acme_feed\n\
             state:\n  url: {state}\n  auth: {{ user_env: ACME_USER, password_env: HL7_PARTNER_PASSWORD }}\n  records:\n    client:\n      \
             url: \"{{state}}/clients/{{id}}\"\n      fields: {{ family: /family }}\n"
        ),
    )
    .unwrap();
    let run_partner = |profile: Option<&std::path::Path>| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_hl7-harness"));
        command
            .args(["run", "--no-report", "scenarios/http-partner", "--seed", "4", "--verbose"])
            .args(["--target", &format!("{http}/hl7")])
            .env("HL7_PARTNER_PASSWORD", "acme-secret")
            .env("ACME_USER", "acme_feed")
            .current_dir(workspace());
        if let Some(profile) = profile {
            command.arg("--target-profile").arg(profile);
        }
        command.output().expect("run")
    };
    let output = run_partner(Some(&profile));
    let shown = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{shown}{}", stderr(&output));
    // 7 cases against the partner endpoint, and the 7 of sender.yaml (the receiver role: the
    // harness plays the PHR for the reference sender, whatever --target says).
    assert!(shown.contains("PASS: 14 cases"), "{shown}");
    assert!(!shown.contains("probe.unavailable"), "the probes read its state: {shown}");

    let output = run_partner(None);
    let shown = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{shown}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The case progress bar stays out of piped output and CI logs. That it shows on a terminal
/// needs a pseudo-terminal (util-linux's `script`), a system package: `cargo xtask
/// system-checks` checks that half.
#[test]
fn progress_bar_not_in_piped_output() {
    let args =
        ["run", "scenarios/conformance-core/ack-protocol.yaml", "--seed", "1", "--no-report"];
    let piped = run(&args);
    assert!(
        !stderr(&piped).contains("cases") && !stdout(&piped).contains('█'),
        "{}",
        stderr(&piped)
    );
}
