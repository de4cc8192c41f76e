//! Issue 17, the through role end to end with the real binary over real TCP on 127.0.0.1: the
//! shipped pack `scenarios/through-engine/through.yaml` passes against the reference engine,
//! and each engine defect is caught by the check that names its effect. Every run is bounded
//! in time (`run_within`), every case by its scenario's timeout.

use super::support::{failed_error_ids, run_within, stderr, stdout};
use std::path::PathBuf;
use std::time::Duration;

const PACK: &str = "scenarios/through-engine/through.yaml";

/// A run of the pack (or of `file`) limited to the cases matching `filter`, with `defect` on;
/// the failed error ids of its cases, in order.
fn failures(file: &str, filter: &str, defect: Option<&str>) -> Vec<String> {
    let mut args = vec!["run", file, "--json", "--no-report", "--filter", filter];
    if let Some(defect) = defect {
        args.extend(["--sut-defect", defect]);
    }
    let output = run_within(&args, Duration::from_secs(90)).expect("the run ends within 90s");
    assert!(!stdout(&output).is_empty(), "no case ran: {}", stderr(&output));
    let mut ids = failed_error_ids(&output);
    ids.dedup();
    ids
}

#[test]
fn the_pack_passes_against_the_reference_engine() {
    let output = run_within(&["run", PACK, "--json", "--no-report"], Duration::from_secs(120))
        .expect("the run ends within 120s");
    let lines = stdout(&output);
    assert_eq!(lines.lines().count(), 5, "five cases: {lines}\n{}", stderr(&output));
    assert!(failed_error_ids(&output).is_empty(), "{lines}");
    assert!(output.status.success(), "{}", stderr(&output));
}

/// reorder: the newest waiting output goes first while the register is slow.
#[test]
fn reorder_fails_through_order() {
    assert_eq!(failures(PACK, "slow register", Some("reorder")), ["through.order"]);
}

/// aa-then-drop: every third routed input is answered AA and dropped.
#[test]
fn aa_then_drop_fails_through_delivered_and_input_ack() {
    let failed = failures(PACK, "slow register", Some("aa-then-drop"));
    assert_eq!(failed, ["through.delivered", "through.input-ack"]);
}

/// mangle-escape: `\F\` resolved in the forwarded bytes splits PID-5.
#[test]
fn mangle_escape_fails_through_content() {
    assert_eq!(failures(PACK, "escapes", Some("mangle-escape")), ["through.content"]);
}

/// mangle-charset: UTF-8 names double-encoded.
#[test]
fn mangle_charset_fails_through_content() {
    assert_eq!(failures(PACK, "escapes", Some("mangle-charset")), ["through.content"]);
}

/// duplicate-on-timeout: the destination answers the first delivery not at all; the engine
/// resends under a new MSH-10, a copy the destination cannot recognise. The correct engine's
/// resend keeps MSH-10 and passes (the pack's run above).
#[test]
fn duplicate_on_timeout_fails_through_delivered() {
    let failed = failures(PACK, "unanswered delivery", Some("duplicate-on-timeout"));
    assert!(failed.contains(&"through.delivered".to_string()), "{failed:?}");
}

/// A folder holding a route file with a queue of one and a through scenario that overfills
/// it (removed when dropped).
struct QueuePack(PathBuf);

impl QueuePack {
    fn new() -> QueuePack {
        let dir =
            std::env::temp_dir().join(format!("hl7-harness-through-queue-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("queue.routes.yaml"),
            "listen: mllp://127.0.0.1:0\njournal: journal\ndestinations:\n  store:\n    \
             url: mllp://127.0.0.1:1\n    ack_timeout: 5s\n    max_queue: 1\n\
             routes:\n  - name: all\n    to: [store]\n",
        )
        .unwrap();
        let message = "MSH|^~\\\\&|S|SF|R|RF|20240101||ADT^A04^ADT_A01|X|P|2.5\\rPID|1||P1";
        let input = "      - message: m\n        expect: [{ to: store }]\n";
        std::fs::write(
            dir.join("queue.yaml"),
            format!(
                "role: through\nthrough:\n  destinations: {{ store: {{}} }}\n  sut:\n    \
                 command: [\"{{harness}}\", engine, \"{{scenario_dir}}/queue.routes.yaml\", \
                 --listen, \"{{input}}\", --journal, \"{{workdir}}/journal\", --destination, \
                 \"store=mllp://{{destination.store}}\", \"{{defects}}\"]\n  timeout: 4s\n\
                 messages:\n  m: {{ text: \"{message}\" }}\nflows:\n  - name: a full queue\n    \
                 send:\n{input}{input}{input}    answers:\n      store: [{{ late_ack: 1500ms }}]\n"
            ),
        )
        .unwrap();
        QueuePack(dir)
    }

    fn file(&self) -> String {
        self.0.join("queue.yaml").display().to_string()
    }
}

impl Drop for QueuePack {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// drop-on-full-queue: an input that finds the queue full is answered AA and never forwarded.
/// The correct engine answers it AR: still not delivered (the source must resend it), but no
/// false accept, so `through.input-ack` passes.
#[test]
fn drop_on_full_queue_fails_through_input_ack() {
    let pack = QueuePack::new();
    let correct = failures(&pack.file(), "full queue", None);
    assert_eq!(correct, ["through.delivered"], "the refused input is missing, answered AR");
    let defect = failures(&pack.file(), "full queue", Some("drop-on-full-queue"));
    assert_eq!(defect, ["through.delivered", "through.input-ack"]);
}

/// A folder with a route file and a through scenario whose engine journals to a full disk:
/// the command links `inbox.journal` to /dev/full (every write fails, ENOSPC) before it starts
/// the engine (removed when dropped).
struct FullDiskPack(PathBuf);

impl FullDiskPack {
    fn new() -> FullDiskPack {
        let dir =
            std::env::temp_dir().join(format!("hl7-harness-through-disk-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("disk.routes.yaml"),
            "listen: mllp://127.0.0.1:0\njournal: journal\ndestinations:\n  store:\n    \
             url: mllp://127.0.0.1:1\nroutes:\n  - name: all\n    to: [store]\n",
        )
        .unwrap();
        let message = "MSH|^~\\\\&|S|SF|R|RF|20240101||ADT^A04^ADT_A01|X|P|2.5\\rPID|1||P1";
        let script =
            "mkdir -p \\\"$1/journal\\\" && ln -s /dev/full \\\"$1/journal/inbox.journal\\\" \
                      && shift && exec \\\"$@\\\"";
        std::fs::write(
            dir.join("disk.yaml"),
            format!(
                "role: through\nthrough:\n  destinations: {{ store: {{}} }}\n  sut:\n    \
                 command: [sh, -c, \"{script}\", sh, \"{{workdir}}\", \"{{harness}}\", engine, \
                 \"{{scenario_dir}}/disk.routes.yaml\", --listen, \"{{input}}\", --journal, \
                 \"{{workdir}}/journal\", --destination, \"store=mllp://{{destination.store}}\", \
                 \"{{defects}}\"]\n  timeout: 3s\n\
                 messages:\n  m: {{ text: \"{message}\" }}\nflows:\n  - name: a full disk\n    \
                 send:\n      - message: m\n        expect: [{{ to: store }}]\n"
            ),
        )
        .unwrap();
        FullDiskPack(dir)
    }

    fn file(&self) -> String {
        self.0.join("disk.yaml").display().to_string()
    }
}

impl Drop for FullDiskPack {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// forward-before-journal: the journal write fails, the source is answered AR, yet the output
/// comes out. The correct engine answers AR and forwards nothing: the input is missing (the
/// source must resend it) but the engine's answer was true.
#[test]
fn forward_before_journal_fails_through_input_ack() {
    let pack = FullDiskPack::new();
    let correct = failures(&pack.file(), "full disk", None);
    assert_eq!(correct, ["through.delivered"], "refused with AR, nothing forwarded");
    let defect = failures(&pack.file(), "full disk", Some("forward-before-journal"));
    assert_eq!(defect, ["through.input-ack"]);
}

/// The route file of the baseline test: admissions to the portal with two mappings; `class` is
/// the value PV1-2 is set to (the mapping the test changes).
fn baseline_routes(class: &str) -> String {
    format!(
        "listen: mllp://127.0.0.1:0\njournal: journal\ndestinations:\n  portal:\n    \
         url: mllp://127.0.0.1:1\n    ack_timeout: 5s\nroutes:\n  - name: admissions\n    \
         messages: [ADT^A01]\n    to: [portal]\n    mappings:\n      \
         - set: {{path: MSH-5, value: PORTAL}}\n      - set: {{path: PV1-2, value: {class}}}\n"
    )
}

/// A through case whose outputs the baseline records rather than the case states
/// (`through.content` skipped): an admission mapped to the portal and a filtered input.
const BASELINE_CASE: &str = r#"role: through
through:
  destinations: { portal: {} }
  sut:
    command: ["{harness}", engine, "{scenario_dir}/outputs.routes.yaml", --listen, "{input}",
              --journal, "{workdir}/journal", --destination, "portal=mllp://{destination.portal}",
              "{defects}"]
  timeout: 8s
  quiet: 300ms
messages:
  admit: { text: "MSH|^~\\&|EHR|HOSP|ENGINE|HUB|20240101||ADT^A01^ADT_A01|X|P|2.5\rPID|1||P1^^^HOSP||Everyman^Adam\rPV1|1|I" }
  demographics: { text: "MSH|^~\\&|EHR|HOSP|ENGINE|HUB|20240101||ADT^A28^ADT_A05|X|P|2.5\rPID|1||P2" }
flows:
  - name: outputs recorded by the baseline
    send:
      - message: admit
        expect: [{ to: portal }]
      - message: demographics
        filtered: true
    skip_checks: [through.content]
"#;

/// Issue 17 item 2: the baseline records every output of a through case. Unchanged, a rerun
/// matches it; a changed mapping (one value in the route file) passes every check of the case
/// yet fails the run, with a diff naming the destination, the message and the field; `--accept`
/// makes it the baseline.
#[test]
fn a_changed_mapping_is_a_baseline_diff() {
    let pack = OutputsPack::new("baseline");
    let (dir, routes) = (&pack.0, pack.0.join("outputs.routes.yaml"));
    let (file, baseline) = (dir.join("outputs.yaml"), dir.join("baseline"));
    let (file, baseline) = (file.to_str().unwrap(), baseline.to_str().unwrap());
    let run = |extra: &[&str]| {
        let mut args = vec!["run", file, "--no-report", "--baseline", baseline];
        args.extend_from_slice(extra);
        let output = run_within(&args, Duration::from_secs(60)).expect("the run ends within 60s");
        (output.status.code(), format!("{}{}", stdout(&output), stderr(&output)))
    };

    let (code, text) = run(&["--accept"]);
    assert_eq!(code, Some(0), "{text}");
    let snaps = super::support::files(&dir.join("baseline"), "snap");
    assert_eq!(snaps.len(), 1, "{snaps:?}");
    let snapshot = std::fs::read_to_string(&snaps[0]).unwrap();
    for line in [
        "input 1 (admit): ADT^A01^ADT_A01 [sent-1]",
        "  ACK  MSA-1 = \"AA\"",
        "  ACK  MSA-2 = \"[sent-1]\"",
        "  portal #1  MSH-5 = \"PORTAL\"",
        "  portal #1  MSH-7 = [redacted]",
        "  portal #1  PID-5.1 = \"Everyman\"",
        "  portal #1  PV1-2 = \"INPATIENT\"",
        "input 2 (demographics): ADT^A28^ADT_A05 [sent-2]",
        "  delivered nowhere",
    ] {
        assert!(snapshot.lines().any(|l| l == line), "{line:?} not in\n{snapshot}");
    }

    let (code, text) = run(&[]);
    assert_eq!(code, Some(0), "an unchanged engine matches its baseline: {text}");
    assert!(text.contains("1 unchanged, 0 changed"), "{text}");

    std::fs::write(&routes, baseline_routes("IN-PATIENT")).unwrap();
    let (code, text) = run(&[]);
    assert_eq!(code, Some(1), "a changed mapping is a regression: {text}");
    assert!(text.contains("PASS: 1 case, 0 failed"), "every check passed: {text}");
    assert!(text.contains("CHANGED "), "{text}");
    assert!(text.contains("@@ input 1 (admit): ADT^A01^ADT_A01 [sent-1]"), "{text}");
    assert!(text.contains("-  portal #1  PV1-2 = \"INPATIENT\""), "{text}");
    assert!(text.contains("+  portal #1  PV1-2 = \"IN-PATIENT\""), "{text}");

    let (code, text) = run(&["--accept"]);
    assert_eq!(code, Some(0), "{text}");
    let (code, text) = run(&[]);
    assert_eq!(code, Some(0), "the accepted change is the baseline now: {text}");
}

/// A folder with the route file and the through case above (removed when dropped).
struct OutputsPack(PathBuf);

impl OutputsPack {
    fn new(name: &str) -> OutputsPack {
        let dir =
            std::env::temp_dir().join(format!("hl7-harness-through-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("outputs.routes.yaml"), baseline_routes("INPATIENT")).unwrap();
        std::fs::write(dir.join("outputs.yaml"), BASELINE_CASE).unwrap();
        OutputsPack(dir)
    }
}

impl Drop for OutputsPack {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Issue 17 item 3: a through run recorded with `--record-through` replays as a through case.
/// Against the same engine it passes; after a changed mapping `through.content` names the
/// field, though the recorded case itself skipped the content check.
#[test]
fn a_recorded_through_run_replays_as_a_through_case() {
    let pack = OutputsPack::new("record");
    let file = pack.0.join("outputs.yaml");
    let recorded = pack.0.join("recorded");
    let (file, recorded) = (file.to_str().unwrap(), recorded.to_str().unwrap());
    let run = |args: &[&str]| {
        let output = run_within(args, Duration::from_secs(60)).expect("the run ends within 60s");
        (output.status.code(), stdout(&output), stderr(&output))
    };
    let (code, out, err) = run(&["run", file, "--no-report", "--record-through", recorded]);
    assert_eq!(code, Some(0), "{out}{err}");
    let written: Vec<PathBuf> = super::support::files(&pack.0.join("recorded"), "yaml");
    assert_eq!(written.len(), 1, "{written:?}");
    assert!(out.contains(&format!("recorded through pack: {}", written[0].display())), "{out}");
    let messages = super::support::files(&pack.0.join("recorded"), "hl7");
    assert_eq!(messages.len(), 3, "two inputs, one output: {messages:?}");
    let replay = written[0].to_str().unwrap();

    let (code, out, err) = run(&["run", replay, "--no-report", "--json"]);
    assert_eq!(code, Some(0), "the recorded pack passes against the same engine: {out}{err}");

    std::fs::write(pack.0.join("outputs.routes.yaml"), baseline_routes("IN-PATIENT")).unwrap();
    let output = run_within(&["run", replay, "--no-report", "--json"], Duration::from_secs(60))
        .expect("the run ends within 60s");
    assert_eq!(failed_error_ids(&output), ["through.content"], "{}", stdout(&output));
    let text = stdout(&output);
    assert!(text.contains(r#"PV1-2: \"INPATIENT\" → \"IN-PATIENT\""#), "{text}");
}

/// The route file of the HTTP destination tests: every ADT message to `portal`, its MSH-5
/// mapped. The file's URL is MLLP; the scenario redirects it to the harness's HTTP listener.
const HTTP_ROUTES: &str = "listen: mllp://127.0.0.1:0\njournal: journal\ndestinations:\n  \
     portal:\n    url: mllp://127.0.0.1:1\n    ack_timeout: 3s\n    backoff: 100ms\n\
     routes:\n  - name: adt\n    messages: [ADT]\n    to: [portal]\n    mappings:\n      \
     - set: {path: MSH-5, value: PORTAL}\n";

/// Issue 17 item 1 over HTTP: the engine forwards to `portal` as HL7 over HTTP
/// (`http://{destination.portal}/hl7/in`), the harness answers as the receiver role's HTTP
/// server does. Three admissions (aa-then-drop drops every third), then one whose first post
/// is answered AR (resent under its MSH-10), and a filtered message; then one whose first post
/// gets no response (the engine's 3s ack_timeout passes; the resend keeps MSH-10).
const HTTP_DESTINATION_CASE: &str = r#"role: through
through:
  destinations:
    portal: { http: { path: /hl7/in } }
  sut:
    command: ["{harness}", engine, "{scenario_dir}/http.routes.yaml", --listen, "{input}",
              --journal, "{workdir}/journal", --destination, "portal=http://{destination.portal}/hl7/in",
              "{defects}"]
  timeout: 8s
  quiet: 300ms
messages:
  admit: { text: "MSH|^~\\&|EHR|HOSP|ENGINE|HUB|20240101||ADT^A01^ADT_A01|X|P|2.5\rPID|1||P1^^^HOSP||Everyman^Adam\rPV1|1|I" }
  result: { text: "MSH|^~\\&|LAB|HOSP|ENGINE|HUB|20240101||ORU^R01^ORU_R01|X|P|2.5\rPID|1||P1" }
flows:
  - name: three admissions posted to the portal
    send:
      - { message: admit, expect: [{ to: portal, set: { MSH-5: PORTAL }, within: 3s }] }
      - { message: admit, expect: [{ to: portal, set: { MSH-5: PORTAL }, within: 3s }] }
      - { message: admit, expect: [{ to: portal, set: { MSH-5: PORTAL }, within: 3s }] }
  - name: a portal that answers AR first gets the same message again
    send:
      - { message: result, filtered: true }
      - { message: admit, expect: [{ to: portal, set: { MSH-5: PORTAL } }] }
    answers:
      portal: [{ nak: AR }]
  - name: an unanswered post is resent with its MSH-10
    send:
      - { message: admit, expect: [{ to: portal, set: { MSH-5: PORTAL } }] }
    answers:
      portal: [no_ack]
"#;

/// A folder with a scenario and `http.routes.yaml` (removed when dropped).
struct HttpPack(PathBuf);

impl HttpPack {
    fn new(name: &str, scenario: &str) -> HttpPack {
        let dir =
            std::env::temp_dir().join(format!("hl7-harness-through-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("http.routes.yaml"), HTTP_ROUTES).unwrap();
        std::fs::write(dir.join("case.yaml"), scenario).unwrap();
        HttpPack(dir)
    }

    fn file(&self) -> String {
        self.0.join("case.yaml").display().to_string()
    }
}

impl Drop for HttpPack {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The correct engine passes over an HTTP destination (the AR and the missing response each
/// answered by a resend); an engine that AAs an input and drops it, or resends under a new
/// MSH-10 after a timeout, is caught there as over MLLP.
#[test]
fn an_http_destination_passes_and_catches_a_dropped_output() {
    let pack = HttpPack::new("http-destination", HTTP_DESTINATION_CASE);
    assert_eq!(failures(&pack.file(), "", None), Vec::<String>::new());
    let failed = failures(&pack.file(), "three admissions", Some("aa-then-drop"));
    assert_eq!(failed, ["through.delivered", "through.input-ack"]);
    let failed = failures(&pack.file(), "unanswered post", Some("duplicate-on-timeout"));
    assert!(failed.contains(&"through.delivered".to_string()), "{failed:?}");
}

/// The through role's input over HTTP (and HLLP): the "engine" is the reference endpoint, which
/// answers AA (the admission is complete for ADT_A01 v2.5) and forwards nothing. A filtered input passes (its AA is right); one that must
/// come out is missing, and its AA was a false accept.
fn endpoint_as_engine(input: &str, flag: &str) -> String {
    format!(
        r#"role: through
through:
  input: "{input}"
  destinations: {{ portal: {{ http: {{}} }} }}
  sut:
    command: ["{{harness}}", serve, --listen, "127.0.0.1:0", {flag}, "{{input}}"]
  ack_timeout: 3s
  timeout: 5s
  quiet: 200ms
messages:
  admit: {{ text: "MSH|^~\\&|EHR|HOSP|ENGINE|HUB|20240101||ADT^A01^ADT_A01|X|P|2.5\rEVN|A01|20240101\rPID|1||P1^^^HOSP||Everyman^Adam\rPV1|1|I" }}
flows:
  - name: filtered
    send: [{{ message: admit, filtered: true }}]
  - name: forwarded
    send: [{{ message: admit, expect: [{{ to: portal }}] }}]
"#
    )
}

#[test]
fn the_input_is_sent_over_http_and_hllp() {
    for (input, flag) in [("http://{input}/", "--http"), ("hllp://{input}", "--hllp")] {
        let pack = HttpPack::new("http-input", &endpoint_as_engine(input, flag));
        assert_eq!(failures(&pack.file(), "filtered", None), Vec::<String>::new(), "{input}");
        let failed = failures(&pack.file(), "forwarded", None);
        assert_eq!(failed, ["through.delivered", "through.input-ack"], "{input}");
    }
}

/// A reply other than 2xx carries no HL7 answer (HL7 over HTTP: every HL7 answer, AE and AR
/// included, is a successful exchange): an engine that wants credentials the harness does not
/// send (401) did not answer the input, and `through.input-ack` says so with the status.
#[test]
fn a_non_2xx_reply_is_no_answer() {
    let scenario = endpoint_as_engine("http://{input}/", "--http").replace(
        "[\"{harness}\", serve,",
        "[env, HL7H_T17=secret, \"{harness}\", serve, --http-user, u, --http-password-env, \
         HL7H_T17,",
    );
    let pack = HttpPack::new("http-401", &scenario);
    let file = pack.file();
    let args = ["run", file.as_str(), "--json", "--no-report", "--filter", "filtered"];
    let output = run_within(&args, Duration::from_secs(60)).expect("the run ends within 60s");
    assert_eq!(failed_error_ids(&output), ["through.input-ack"], "{}", stdout(&output));
    let text = stdout(&output);
    assert!(text.contains("HTTP status 401 from the engine: no HL7 answer"), "{text}");
}

/// An engine that posts to another path than the destination's: each post is refused (404,
/// recorded, never accepted); the engine resends (no HL7 answer) and the outputs count as not
/// delivered, with the refusal in the evidence.
#[test]
fn a_post_to_the_wrong_path_is_not_a_delivery() {
    let scenario = HTTP_DESTINATION_CASE.replace("/hl7/in\",", "/wrong\",");
    let pack = HttpPack::new("http-wrong-path", &scenario);
    let file = pack.file();
    let args = ["run", file.as_str(), "--json", "--no-report", "--filter", "three admissions"];
    let output = run_within(&args, Duration::from_secs(60)).expect("the run ends within 60s");
    let failed = failed_error_ids(&output);
    assert!(failed.contains(&"through.delivered".to_string()), "{}", stdout(&output));
    assert!(stdout(&output).contains("404"), "{}", stdout(&output));
}

/// A through run with an HTTP destination recorded with `--record-through` keeps the
/// destination's `http:` block, so the recorded pack replays over HTTP and passes.
#[test]
fn a_recorded_http_destination_replays_over_http() {
    let pack = HttpPack::new("http-record", HTTP_DESTINATION_CASE);
    let (file, recorded) = (pack.file(), pack.0.join("recorded"));
    let recorded = recorded.to_str().unwrap();
    let args = ["run", file.as_str(), "--no-report", "--filter", "three", "--record-through"];
    let mut args = args.to_vec();
    args.push(recorded);
    let output = run_within(&args, Duration::from_secs(60)).expect("the run ends within 60s");
    assert_eq!(output.status.code(), Some(0), "{}{}", stdout(&output), stderr(&output));
    let written: Vec<PathBuf> = super::support::files(&pack.0.join("recorded"), "yaml");
    assert_eq!(written.len(), 1, "{written:?}");
    let text = std::fs::read_to_string(&written[0]).unwrap();
    assert!(text.contains("http: { path: \"/hl7/in\""), "{text}");
    let replay = written[0].to_str().unwrap();
    let output = run_within(&["run", replay, "--no-report", "--json"], Duration::from_secs(60))
        .expect("the run ends within 60s");
    assert!(failed_error_ids(&output).is_empty(), "{}", stdout(&output));
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}
