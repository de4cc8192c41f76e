//! Issue 17 item 1, the transports not covered in `through`: the through role listening as an
//! HLLP destination (`through.destinations.NAME.hllp`) of the reference engine, which forwards
//! to it over `hllp://`; the engine taking its inputs over HL7 over HTTP (`--listen-http`); and
//! the engine sending HTTP Basic credentials from the environment to an HTTP destination that
//! requires them. The real binary over real TCP on 127.0.0.1, every run bounded in time.

use super::support::{failed_error_ids, run_within, stderr, stdout, workspace};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const PACK: &str = "scenarios/through-engine/through.yaml";

/// A folder of its own for one test's scenario and route files (removed when dropped).
struct Pack(PathBuf);

impl Pack {
    fn new(name: &str) -> Pack {
        let dir = std::env::temp_dir()
            .join(format!("hl7-harness-through-hllp-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Pack(dir)
    }

    fn write(&self, file: &str, text: &str) -> String {
        let path = self.0.join(file);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }
}

impl Drop for Pack {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The shipped pack with its files named by absolute path, so it runs from another folder
/// (with `--allow-files-outside-pack`).
fn shipped_pack() -> String {
    let root = workspace();
    let dir = root.join("scenarios/through-engine");
    std::fs::read_to_string(root.join(PACK))
        .unwrap()
        .replace(
            "{scenario_dir}/engine.routes.yaml",
            &format!("{}/engine.routes.yaml", dir.display()),
        )
        .replace("file: ../../corpus/", &format!("file: {}/corpus/", root.display()))
        .replace("# yaml-language-server: $schema=../scenario.schema.json\n", "")
}

/// The failed error ids of a run of `file` (cases matching `filter`, `defect` on), deduplicated.
fn failures(file: &str, filter: &str, defect: Option<&str>) -> (Vec<String>, String) {
    let mut args = vec!["run", file, "--json", "--no-report", "--filter", filter];
    if let Some(defect) = defect {
        args.extend(["--sut-defect", defect]);
    }
    let output = run_within(&args, Duration::from_secs(120)).expect("the run ends within 120s");
    assert!(!stdout(&output).is_empty(), "no case ran: {}", stderr(&output));
    let mut ids = failed_error_ids(&output);
    ids.dedup();
    (ids, stdout(&output))
}

/// Every flow of the shipped pack passes with both destinations played over HLLP: the engine
/// forwards each output as a `D` block, the late ACK and the missing ACK of the pack's answers
/// are answered by its resends as over MLLP.
#[test]
fn the_shipped_flows_pass_over_hllp_destinations() {
    let pack = Pack::new("shipped");
    let scenario = shipped_pack()
        .replace("    client-register: {}\n", "    client-register: { hllp: {} }\n")
        .replace("    portal: {}\n", "    portal: { hllp: {} }\n")
        .replace("=mllp://{destination.", "=hllp://{destination.");
    assert_eq!(scenario.matches("hllp://{destination.").count(), 2, "{scenario}");
    let file = pack.write("through.yaml", &scenario);
    let output = run_within(
        &["run", &file, "--json", "--no-report", "--allow-files-outside-pack"],
        Duration::from_secs(120),
    )
    .expect("the run ends within 120s");
    let lines = stdout(&output);
    assert_eq!(lines.lines().count(), 5, "five cases: {lines}\n{}", stderr(&output));
    assert!(failed_error_ids(&output).is_empty(), "{lines}");
    assert!(output.status.success(), "{}", stderr(&output));
}

/// The route file of the small HLLP and HTTP packs: every ADT message to `portal`, MSH-5
/// mapped; the file's URL is replaced by the scenario's `--destination`.
const ROUTES: &str =
    "journal: journal\ndestinations:\n  portal:\n    url: mllp://127.0.0.1:1\n    \
     ack_timeout: 2s\n    backoff: 100ms\n    backoff_max: 200ms\nroutes:\n  - name: adt\n    \
     messages: [ADT]\n    to: [portal]\n    mappings:\n      - set: {path: MSH-5, value: PORTAL}\n";

/// Three admissions to an HLLP `portal` (aa-then-drop drops every third); one whose deliveries
/// the portal answers as a hostile receiver does, each of which the engine must answer by a
/// resend under the same MSH-10; one it never answers (duplicate-on-timeout's trigger).
const HLLP_CASE: &str = r#"role: through
through:
  destinations:
    portal: { hllp: { checksum: xor-decimal, span: data } }
  sut:
    command: ["{harness}", engine, "{scenario_dir}/routes.yaml", --listen, "{input}",
              --journal, "{workdir}/journal", --destination, "portal=hllp://{destination.portal}",
              "{defects}"]
  timeout: 10s
  quiet: 300ms
messages:
  admit: { text: "MSH|^~\\&|EHR|HOSP|ENGINE|HUB|20240101||ADT^A01^ADT_A01|X|P|2.5\rPID|1||P1^^^HOSP||Everyman^Adam\rPV1|1|I" }
flows:
  - name: three admissions over HLLP
    send:
      - { message: admit, expect: [{ to: portal, set: { MSH-5: PORTAL }, within: 3s }] }
      - { message: admit, expect: [{ to: portal, set: { MSH-5: PORTAL }, within: 3s }] }
      - { message: admit, expect: [{ to: portal, set: { MSH-5: PORTAL }, within: 3s }] }
  - name: hostile answers over HLLP are retried
    send:
      - { message: admit, expect: [{ to: portal, set: { MSH-5: PORTAL } }] }
      - { message: admit, expect: [{ to: portal, set: { MSH-5: PORTAL } }] }
    answers:
      portal: [close, { nak: AR }, reset, wrong_msa2, duplicate_ack]
  - name: an unanswered HLLP delivery is resent with its MSH-10
    send:
      - { message: admit, expect: [{ to: portal, set: { MSH-5: PORTAL } }] }
    answers:
      portal: [no_ack]
"#;

/// The correct engine passes every case (each hostile answer answered by a resend, the second
/// ACK of `duplicate_ack` taken as a stray); an engine that AAs an input and drops it, or
/// resends under a new MSH-10 after a timeout, is caught over HLLP as over MLLP.
#[test]
fn hostile_hllp_answers_are_retried_and_engine_defects_caught() {
    let pack = Pack::new("defects");
    pack.write("routes.yaml", ROUTES);
    let file = pack.write("case.yaml", HLLP_CASE);
    let (failed, text) = failures(&file, "", None);
    assert_eq!(failed, Vec::<String>::new(), "{text}");
    let (failed, text) = failures(&file, "three admissions", Some("aa-then-drop"));
    assert_eq!(failed, ["through.delivered", "through.input-ack"], "{text}");
    let (failed, text) = failures(&file, "unanswered", Some("duplicate-on-timeout"));
    assert!(failed.contains(&"through.delivered".to_string()), "{failed:?} {text}");
}

/// An engine writing another HLLP checksum than the destination reads: every block is
/// answered with an `N` block and not processed, so nothing is delivered, and the evidence
/// names the checksum.
#[test]
fn a_checksum_the_destination_cannot_verify_is_never_delivered() {
    let pack = Pack::new("checksum");
    pack.write("routes.yaml", ROUTES);
    let scenario = HLLP_CASE.replace("checksum: xor-decimal", "checksum: sum-mod256");
    let file = pack.write("case.yaml", &scenario);
    let (failed, text) = failures(&file, "three admissions", None);
    assert!(failed.contains(&"through.delivered".to_string()), "{failed:?} {text}");
    assert!(text.contains("N block (X): block checksum says"), "{text}");
}

/// The shipped pack's flows with the engine's input over HL7 over HTTP (`--listen-http`): each
/// input one post, its response the engine's ACK.
#[test]
fn the_shipped_flows_pass_with_the_input_over_http() {
    let pack = Pack::new("http-input");
    let scenario = shipped_pack()
        .replace(
            "through:\n  destinations:",
            "through:\n  input: \"http://{input}/hl7\"\n  destinations:",
        )
        .replace(
            "--listen, \"{input}\",",
            "--listen, \"127.0.0.1:0\", --listen-http, \"{input}\",",
        );
    assert!(scenario.contains("--listen-http"), "{scenario}");
    let file = pack.write("through.yaml", &scenario);
    let output = run_within(
        &["run", &file, "--json", "--no-report", "--allow-files-outside-pack"],
        Duration::from_secs(120),
    )
    .expect("the run ends within 120s");
    let lines = stdout(&output);
    assert_eq!(lines.lines().count(), 5, "five cases: {lines}\n{}", stderr(&output));
    assert!(failed_error_ids(&output).is_empty(), "{lines}");
}

/// Runs `hl7-harness` with `args` and the environment `envs`, killed after `limit`.
fn run_with_env(args: &[&str], envs: &[(&str, &str)], limit: Duration) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hl7-harness"))
        .args(args)
        .envs(envs.iter().copied())
        .current_dir(workspace())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the hl7-harness binary runs");
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if child.try_wait().expect("the child can be waited for").is_some() {
            return child.wait_with_output().expect("its output can be read");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the run did not end within {limit:?}");
}

/// A portal posted to over HTTP that requires Basic credentials; the engine's route file names
/// the user and the variable holding its password.
const BASIC_CASE: &str = r#"role: through
through:
  destinations:
    portal: { http: { path: /hl7/in, basic: { user: engine, password: "${HL7H_T17_PORTAL_PW}" } } }
  sut:
    command: ["{harness}", engine, "{scenario_dir}/routes.yaml", --listen, "{input}",
              --journal, "{workdir}/journal", --destination, "portal=http://{destination.portal}/hl7/in"]
  timeout: 4s
  quiet: 300ms
messages:
  admit: { text: "MSH|^~\\&|EHR|HOSP|ENGINE|HUB|20240101||ADT^A01^ADT_A01|X|P|2.5\rPID|1||P1^^^HOSP||Everyman^Adam\rPV1|1|I" }
flows:
  - name: an admission posted with credentials
    send:
      - { message: admit, expect: [{ to: portal, set: { MSH-5: PORTAL } }] }
"#;

/// The engine sends the credentials and delivers; with the wrong password every post gets 401,
/// which the engine retries, and `through.delivered` names the refusal. The password is in no
/// output of either run.
#[test]
fn an_http_destination_requiring_basic_gets_the_engines_credentials() {
    let pack = Pack::new("basic");
    let routes = ROUTES.replace(
        "    backoff_max: 200ms\n",
        "    backoff_max: 200ms\n    basic: { user: engine, password_env: HL7H_T17_ENGINE_PW }\n",
    );
    pack.write("routes.yaml", &routes);
    let file = pack.write("case.yaml", BASIC_CASE);
    let args = ["run", file.as_str(), "--json", "--no-report"];
    let limit = Duration::from_secs(60);
    let right = [("HL7H_T17_PORTAL_PW", "s3cret-portal"), ("HL7H_T17_ENGINE_PW", "s3cret-portal")];
    let output = run_with_env(&args, &right, limit);
    assert!(failed_error_ids(&output).is_empty(), "{}", stdout(&output));
    let wrong = [("HL7H_T17_PORTAL_PW", "s3cret-portal"), ("HL7H_T17_ENGINE_PW", "not-it-x")];
    let output = run_with_env(&args, &wrong, limit);
    let text = stdout(&output);
    let failed = failed_error_ids(&output);
    assert!(failed.contains(&"through.delivered".to_string()), "{failed:?} {text}");
    assert!(text.contains("401 Unauthorized: wrong HTTP Basic password for user"), "{text}");
    let everything = format!("{text}{}", stderr(&output));
    assert!(!everything.contains("s3cret-portal") && !everything.contains("not-it-x"), "{text}");
}
