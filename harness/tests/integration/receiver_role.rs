//! Issue 19, receiver-role usability, end to end with the real binary: a failing sender's
//! stderr tail in the terminal and summary.md (secrets hidden), `--sut-defect` names passed to
//! any sender, `$${` as a literal `${` in a command, `{messages_dir}` in sending order,
//! `expect.delivered` as a count, and `run --check` without the run's secrets.

use super::support::{stderr, stdout, workspace};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A scenario folder of its own (removed when dropped).
struct Pack(PathBuf);

impl Pack {
    fn new(name: &str, scenario: &str) -> Pack {
        let dir = std::env::temp_dir()
            .join(format!("hl7-harness-receiver-role-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("receiver.yaml"), scenario).unwrap();
        Pack(dir)
    }

    fn file(&self) -> String {
        self.0.join("receiver.yaml").display().to_string()
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Pack {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `hl7-harness` with `args` and `env`, from the workspace root.
fn run_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hl7-harness"));
    command.args(args).current_dir(workspace());
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("the hl7-harness binary runs")
}

/// One single-segment message named `name`, told apart by MSH-3.
fn message(name: &str) -> String {
    format!(
        "  {name}: {{ text: \"MSH|^~\\\\&|{name}|SF|R|RF|20240101||ADT^A04^ADT_A01|X|P|2.5\" }}\n"
    )
}

const TOKEN: &str = "tok-Zr81qPw";

/// A sender that fails prints why on stderr; the terminal and summary.md show the end of it,
/// with the scenario's secrets (here a token in its command line) replaced by `***`.
#[test]
fn a_failing_senders_stderr_tail_is_in_the_terminal_and_summary() {
    let scenario = format!(
        "role: receiver\nreceiver:\n  sut: {{ command: [\"{{harness}}\", send, \"--bogus-${{HL7H_RR_TOKEN}}\"] }}\n  \
         timeout: 5s\nmessages:\n{}receive:\n  - name: broken sender\n    send: [m]\n    expect: {{ sut_exit: 0 }}\n",
        message("m")
    );
    let pack = Pack::new("stderr", &scenario);
    let report = pack.path().join("report");
    let report_text = report.display().to_string();
    let args = ["run", &pack.file(), "--seed", "1", "--report-dir", &report_text];
    let output = run_env(&args, &[("HL7H_RR_TOKEN", TOKEN)]);
    let shown = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{shown}{}", stderr(&output));
    assert!(shown.contains("sender stderr (last"), "{shown}");
    assert!(shown.contains("    | error: unexpected argument '--bogus-***' found"), "{shown}");
    let summary = std::fs::read_to_string(report.join("summary.md")).unwrap();
    assert!(summary.contains("- sender stderr (last"), "{summary}");
    assert!(summary.contains("\n```text\nerror: unexpected argument '--bogus-***'"), "{summary}");
    for file in ["summary.md", "results.json", "report.html", "junit.xml"] {
        let text = std::fs::read_to_string(report.join(file)).unwrap();
        assert!(!text.contains(TOKEN), "{file} shows the token");
    }
    assert!(!shown.contains(TOKEN) && !stderr(&output).contains(TOKEN));
}

/// `--sut-defect` takes any name for a sender that is not the reference sender: the command
/// gets them as `HL7H_SUT_DEFECTS` and as `--defect NAME` pairs where it says `{defects}`. The
/// sender here is `sh`, checking both and exiting 0 only when they are right. `$${` is a
/// literal `${` for that shell.
#[test]
fn sut_defect_names_reach_an_external_sender_and_dollar_brace_escapes() {
    let check = "test \\\"$${HL7H_SUT_DEFECTS}\\\" = drops-acks,slow.v2 && test \\\"$*\\\" = \
                 '--defect drops-acks --defect slow.v2'";
    let scenario = format!(
        "role: receiver\nreceiver:\n  sut: {{ command: [sh, -c, \"{check}\", sh, \"{{defects}}\"] }}\n  \
         timeout: 5s\nmessages:\n{}receive:\n  - name: names passed\n    send: [m]\n    \
         expect: {{ delivered: 0, sut_exit: 0 }}\n",
        message("m")
    );
    let pack = Pack::new("defects", &scenario);
    let args = ["run", &pack.file(), "--seed", "1", "--no-report", "--json"];
    let defects = ["--sut-defect", "drops-acks", "--sut-defect", "slow.v2"];
    let output = run_env(&[&args[..], &defects[..]].concat(), &[]);
    assert_eq!(output.status.code(), Some(0), "{}{}", stdout(&output), stderr(&output));
    // Without the names the same sender exits 1: the check above can fail.
    let output = run_env(&args, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    assert!(stdout(&output).contains("expect.sut-exit"), "{}", stdout(&output));
}

/// The reference sender takes only its own defects: an unknown name is a usage error before
/// anything runs.
#[test]
fn the_reference_sender_refuses_an_unknown_sut_defect() {
    let output = run_env(
        &["run", "scenarios/outbound-sender/reference-sender.yaml", "--sut-defect", "nope"],
        &[],
    );
    assert_eq!(output.status.code(), Some(2), "{}", stdout(&output));
    assert!(stderr(&output).contains("unknown sender defect \"nope\""), "{}", stderr(&output));
}

/// `{messages_dir}` holds the case's messages named so that a plain sort is the sending order:
/// eleven messages through a shell glob (`…/*`, sorted) to the reference sender arrive in
/// order (with names 1, 10, 11, 2, … they would not).
#[test]
fn messages_dir_files_sort_in_sending_order() {
    let names: Vec<String> = (1..=11).map(|n| format!("m{n}")).collect();
    let messages: String = names.iter().map(|n| message(n)).collect();
    let scenario = format!(
        "role: receiver\nreceiver:\n  sut:\n    command: [sh, -c, 'exec \"$0\" send \"$1\"/* --target \"mllp://$2\"', \
         \"{{harness}}\", \"{{messages_dir}}\", \"{{listen}}\"]\n  timeout: 20s\nmessages:\n{messages}\
         receive:\n  - name: eleven in order\n    send: [{}]\n    expect: {{ sut_exit: 0, max_arrivals: 11 }}\n",
        names.join(", ")
    );
    let pack = Pack::new("messages-dir", &scenario);
    let output = run_env(&["run", &pack.file(), "--seed", "1", "--no-report", "--json"], &[]);
    let shown = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{shown}{}", stderr(&output));
    let case: serde_json::Value = serde_json::from_str(shown.trim()).unwrap();
    assert_eq!(case["failures"].as_array().map(Vec::len), Some(0), "{case}");
    assert!(case["checks"].as_u64().unwrap_or(0) >= 4, "sender.order among them: {case}");
}

/// `expect.delivered: 0`: a sender that sends nothing (here `hl7-harness --version`) passes.
#[test]
fn expect_delivered_zero_passes_with_nothing_delivered() {
    let scenario = format!(
        "role: receiver\nreceiver:\n  sut: {{ command: [\"{{harness}}\", --version] }}\n  timeout: 5s\n  \
         quiet: 50ms\nmessages:\n{}receive:\n  - name: nothing needed\n    send: [m]\n    \
         expect: {{ delivered: 0, sut_exit: 0 }}\n  - name: one needed\n    send: [m]\n    \
         expect: {{ delivered: 1 }}\n",
        message("m")
    );
    let pack = Pack::new("delivered", &scenario);
    let output = run_env(&["run", &pack.file(), "--seed", "1", "--no-report", "--json"], &[]);
    let shown = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{shown}");
    for line in shown.lines() {
        let case: serde_json::Value = serde_json::from_str(line).unwrap();
        let failed: Vec<&str> =
            case["failures"].as_array().unwrap().iter().filter_map(|f| f["id"].as_str()).collect();
        match case["case"].as_str().unwrap() {
            "nothing needed" => assert!(failed.is_empty(), "{case}"),
            _ => assert_eq!(failed, ["sender.delivered"], "{case}"),
        }
    }
}

/// `run --check` needs none of the run's secrets: the variables are listed, set or not; the
/// run itself still refuses to start without them.
#[test]
fn run_check_works_without_the_runs_secrets_and_lists_them() {
    let scenario = format!(
        "role: receiver\nreceiver:\n  sut: {{ command: [\"{{harness}}\", send, \"{{messages}}\", --target, \
         \"mllp://${{HL7H_RR_USER:-op}}:${{HL7H_RR_PASSWORD}}@{{listen}}\", \"${{HL7H_RR_ALSO_UNSET}}\"] }}\n\
         messages:\n{}receive:\n  - name: x\n    send: [m]\n",
        message("m")
    );
    let pack = Pack::new("check", &scenario);
    let output = run_env(&["run", &pack.file(), "--check"], &[]);
    let shown = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{shown}{}", stderr(&output));
    assert!(shown.contains("ok: 1 pack(s), 1 scenario file(s), 1 case(s)"), "{shown}");
    assert!(
        shown.contains(
            "environment the run needs, not set here: HL7H_RR_ALSO_UNSET, HL7H_RR_PASSWORD"
        ),
        "{shown}"
    );
    assert!(shown.contains("HL7H_RR_USER (not set: its default is used)"), "{shown}");
    let output = run_env(&["run", &pack.file(), "--no-report"], &[]);
    assert_eq!(output.status.code(), Some(2), "{}", stdout(&output));
    assert!(stderr(&output).contains("HL7H_RR_PASSWORD is not set"), "{}", stderr(&output));
}
