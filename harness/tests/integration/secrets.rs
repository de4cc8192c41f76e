//! Issue 14, "Secrets, patient data and access": a password written into a target URL
//! (`scheme://user:password@host:port`) is used as HTTP Basic credentials for http(s) and refused
//! for MLLP and HLLP, and in neither case ever repeated: not in stdout or stderr, not in any file
//! of a report folder (names included), not in a `reproduce:` line. `serve` runs as its own
//! process on loopback ports; every command runs as the real binary.

use crate::mllp::Server;
use crate::support::{run, stderr, stdout, workspace};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Output;

/// The password in every URL below: a value that appears nowhere else (not in a path, not in
/// a corpus file), so a match can only be a leak.
const PASSWORD: &str = "pw-Zq8xVt31";
const USER: &str = "alice";
const A04: &str = "corpus/adt/adt_a04_v26_utf8_latin.hl7";

/// `serve` on MLLP and HTTP, the HTTP side requiring `alice` and [`PASSWORD`]; also its HTTP
/// URL.
fn serve() -> (Server, String) {
    let args: Vec<&OsStr> = [
        "--http",
        "127.0.0.1:0",
        "--http-user",
        USER,
        "--http-password-env",
        "HL7_SECRETS_TEST_PASSWORD",
    ]
    .iter()
    .map(OsStr::new)
    .collect();
    let server = Server::with_args_env(&args, &[("HL7_SECRETS_TEST_PASSWORD", PASSWORD)]);
    let line = server.next_line();
    let http = line.trim().strip_prefix("listening on ").expect("listening on http://…");
    assert!(http.starts_with("http://"), "{line}");
    let http = http.to_string();
    (server, http)
}

/// `scheme://alice:PASSWORD@rest`.
fn with_password(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    format!("{scheme}://{USER}:{PASSWORD}@{rest}")
}

/// A fresh, empty folder for one test.
fn fresh(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hl7-secrets-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Neither stream of `output` holds the password.
fn assert_not_echoed(what: &str, output: &Output) {
    for (stream, text) in [("stdout", stdout(output)), ("stderr", stderr(output))] {
        assert!(!text.contains(PASSWORD), "{what}: the password is on {stream}:\n{text}");
    }
}

/// `value` as it may be written into a file: as is, and escaped for HTML or XML (report.html,
/// junit.xml).
fn written_forms(value: &str) -> Vec<String> {
    let markup = value
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;");
    let mut forms = vec![value.to_string()];
    for apostrophe in ["'", "&apos;", "&#39;", "&#x27;"] {
        let form = markup.replace('\'', apostrophe);
        if !forms.contains(&form) {
            forms.push(form);
        }
    }
    forms
}

/// No file name and no file under `dir` holds any of `needles` (in any of its
/// [`written_forms`]); returns how many files were read.
pub fn assert_folder_clean(dir: &Path, needles: &[&str]) -> usize {
    let forms: Vec<String> = needles.iter().flat_map(|n| written_forms(n)).collect();
    let needles: Vec<&str> = forms.iter().map(String::as_str).collect();
    let mut read = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder).unwrap().flatten() {
            let path = entry.path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            for needle in &needles {
                assert!(!name.contains(*needle), "{needle:?} in the file name {}", path.display());
            }
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            for needle in &needles {
                assert!(!text.contains(*needle), "{needle:?} in {}:\n{text}", path.display());
            }
            read += 1;
        }
    }
    read
}

/// An http(s) URL's userinfo is the Basic credentials: the endpoint, which requires them,
/// accepts the message (AA), so they were sent; MLLP and HLLP URLs with userinfo are refused
/// as usage errors. The password is in no output.
#[test]
fn issue14_send_takes_url_credentials_for_http_and_never_echoes_them() {
    let (server, http) = serve();
    let output = run(&["send", A04, "--target", &with_password(&format!("{http}/hl7"))]);
    assert_not_echoed("send http", &output);
    assert_eq!(output.status.code(), Some(0), "{}{}", stdout(&output), stderr(&output));
    assert!(stdout(&output).contains("AA, MSA-2 matches"), "{}", stdout(&output));

    // Without them the same endpoint answers 401: the AA above came from the URL's userinfo.
    let output = run(&["send", A04, "--target", &format!("{http}/hl7"), "--retries", "0"]);
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));

    let hllp = server.url.replace("mllp://", "hllp://");
    for url in [server.url.clone(), server.url.replace("mllp://", "mllps://"), hllp] {
        let output = run(&["send", A04, "--target", &with_password(&url)]);
        assert_not_echoed(&url, &output);
        assert_eq!(output.status.code(), Some(2), "{url}: {}", stderr(&output));
        assert!(stderr(&output).contains("takes no user or password"), "{}", stderr(&output));
        assert!(stderr(&output).contains(&url), "the error names the URL: {}", stderr(&output));
    }
    // Not a URL at all: still never repeated.
    let output = run(&["send", A04, "--target", &format!("{USER}:{PASSWORD}@127.0.0.1:1")]);
    assert_not_echoed("no scheme", &output);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
}

/// `load` against http with userinfo: every message acknowledged (so the credentials were
/// used), and neither the terminal nor any file of its report holds the password; an MLLP URL
/// with userinfo is refused.
#[test]
fn issue14_load_report_never_holds_the_url_password() {
    let (server, http) = serve();
    let dir = fresh("load");
    let report = dir.join("report");
    let target = with_password(&format!("{http}/hl7"));
    let output = run(&[
        "load",
        A04,
        "--target",
        &target,
        "--count",
        "5",
        "--report-dir",
        report.to_str().unwrap(),
    ]);
    assert_not_echoed("load http", &output);
    assert_eq!(output.status.code(), Some(0), "{}{}", stdout(&output), stderr(&output));
    let results = std::fs::read_to_string(report.join("results.json")).unwrap();
    assert!(results.contains("\"AA\": 5"), "{results}");
    assert!(results.contains(&format!("--target {http}/hl7")), "reproduce line: {results}");
    assert!(assert_folder_clean(&report, &[PASSWORD]) >= 5);

    let output = run(&["load", A04, "--target", &with_password(&server.url), "--count", "1"]);
    assert_not_echoed("load mllp", &output);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `proxy --upstream mllp://user:password@…` is refused without repeating the password.
#[test]
fn issue14_proxy_refuses_an_upstream_password_without_echoing_it() {
    let (server, _) = serve();
    let output = run(&[
        "proxy",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        &with_password(&server.url),
        "--duration",
        "1s",
    ]);
    assert_not_echoed("proxy", &output);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("takes no user or password"), "{}", stderr(&output));
}

/// A pack whose one case sends the A04 over HTTP (and one case that fails, so a `reproduce:`
/// line is printed), with `target_url` as its target.url.
fn http_pack(dir: &Path, target_url: &str) -> PathBuf {
    let pack = dir.join("pack");
    std::fs::create_dir_all(&pack).unwrap();
    std::fs::copy(workspace().join(A04), pack.join("a04.hl7")).unwrap();
    let yaml = format!(
        "name: url-credentials\n\
         target: {{ url: \"{target_url}\", transport: http, ack_timeout: 3s }}\n\
         messages:\n  register: {{ file: a04.hl7 }}\n\
         cases:\n\
         \x20 - name: accepted with the URL's credentials\n    send: register\n    expect: {{ ack: AA }}\n\
         \x20 - name: expects a reject to fail on purpose\n    send: register\n    expect: {{ ack: AR }}\n"
    );
    std::fs::write(pack.join("pack.yaml"), yaml).unwrap();
    pack
}

/// `run --target http://user:password@…` and a scenario's target.url with userinfo: the cases
/// pass with the credentials, and the terminal, every report file (results.json,
/// manifest.json, summary.md, report.html, junit.xml, snapshots) and the reproduce lines hold
/// no password. `run --target mllp://user:password@…` is refused.
#[test]
fn issue14_run_report_never_holds_the_url_password() {
    let (server, http) = serve();
    let dir = fresh("run");
    let target = with_password(&format!("{http}/hl7"));
    for (name, pack_url, flag) in
        [("flag", "builtin", Some(target.as_str())), ("file", target.as_str(), None)]
    {
        let pack = http_pack(&dir.join(name), pack_url);
        let report = dir.join(name).join("report");
        let mut args =
            vec!["run", pack.to_str().unwrap(), "--report-dir", report.to_str().unwrap()];
        if let Some(flag) = flag {
            args.extend(["--target", flag]);
        }
        let output = run(&args);
        assert_not_echoed(name, &output);
        // One case passes (the credentials were sent), the other fails on purpose.
        assert_eq!(output.status.code(), Some(1), "{name}: {}{}", stdout(&output), stderr(&output));
        let text = stdout(&output);
        assert!(text.contains("reproduce:"), "{text}");
        let results = std::fs::read_to_string(report.join("results.json")).unwrap();
        let results: serde_json::Value = serde_json::from_str(&results).unwrap();
        assert_eq!(results["counts"]["passed"], 1, "{name}: {results}");
        assert!(assert_folder_clean(&report, &[PASSWORD]) >= 6, "{name}: a full report");
    }

    let output =
        run(&["run", "scenarios/conformance-core", "--target", &with_password(&server.url)]);
    assert_not_echoed("run mllp", &output);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("takes no user or password"), "{}", stderr(&output));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A message with patient, next of kin, visit, provider (ROL-4, PD1-4), operator (EVN-5) and
/// merge (MRG) identifiers and names.
const PATIENT: &str = "MSH|^~\\&|SYNTH|HOSP|HARNESS|FAC|20240101||ADT^A04^ADT_A01|M1|P|2.5.1\r\
EVN|A04|20240101|||OPR77^Bediener^Karla\r\
PID|1||PAT-771^^^H^MR~SSN-881^^^US^SS||Zwartkop^Hendrika^Maria||19610203|F|||Lindenlaan 12^^Zeeburg^^1000AA||^PRN^PH^^31^20^5550111|||||ACC-5512\r\
PD1|||HOSP|PCP-118^Kuipers^Ties\r\
ROL|1|AD|PP^Primary care provider|PROV-4471^Huisarts^Ingeborg|20240101\r\
NK1|1|Zwartkop^Gerrit|SPO|Lindenlaan 12^^Zeeburg|^PRN^PH^^31^20^5550112\r\
PV1|1|O|CLIN||||DOC-31^Vermeulen^Saskia|DOC-32^Bakkers^Olof||||||||||VIS-9921\r\
MRG|OLD-3391^^^H||||||Zwartkop-Oud^Hendrika\r";

/// The `vary:` values, surnames and provider ids: each becomes part of a case name.
const VARIED_NAMES: [&str; 4] = ["Wu", "Smith|Jones", "Ødegård-Ørn", "van Zanten"];
const VARIED_PROVIDERS: [&str; 2] = ["PROV-9001", "PROV-9002"];

/// (segment, field, components; empty = the whole repetition) of every identifier, name,
/// birth date, address and telephone field [`PATIENT`] and the shipped client feed use.
const PHI_FIELDS: &[(&str, usize, &[usize])] = &[
    ("PID", 2, &[1]),
    ("PID", 3, &[1]),
    ("PID", 4, &[1]),
    ("PID", 5, &[1, 2, 3]),
    ("PID", 6, &[1, 2, 3]),
    ("PID", 7, &[]),
    ("PID", 9, &[1, 2, 3]),
    ("PID", 11, &[1, 2, 3]),
    ("PID", 13, &[]),
    ("PID", 14, &[]),
    ("PID", 18, &[1]),
    ("PID", 19, &[1]),
    ("PD1", 4, &[1, 2, 3, 4]),
    ("NK1", 2, &[1, 2, 3]),
    ("NK1", 4, &[1, 2, 3]),
    ("NK1", 5, &[]),
    ("NK1", 6, &[]),
    ("PV1", 7, &[1, 2, 3, 4]),
    ("PV1", 8, &[1, 2, 3, 4]),
    ("PV1", 9, &[1, 2, 3, 4]),
    ("PV1", 17, &[1, 2, 3, 4]),
    ("PV1", 19, &[1]),
    ("PV1", 50, &[1]),
    ("ROL", 4, &[1, 2, 3, 4]),
    ("EVN", 5, &[1, 2, 3, 4]),
    ("MRG", 1, &[1]),
    ("MRG", 7, &[1, 2, 3]),
    ("MFE", 4, &[1, 2]),
    ("STF", 1, &[1, 2]),
    ("STF", 2, &[1]),
    ("STF", 3, &[1, 2, 3]),
    ("STF", 10, &[]),
    ("STF", 15, &[]),
    ("PRA", 1, &[1]),
];

/// The values of [`PHI_FIELDS`] in one sent message, as text (decoded per MSH-18, escape
/// sequences resolved).
fn phi_values(message: &[u8]) -> Vec<String> {
    use hl7_harness::hl7::{Message, Path};
    let Ok(parsed) = Message::parse(message) else { return Vec::new() };
    let mut out = Vec::new();
    for &(segment, field, components) in PHI_FIELDS {
        for occurrence in 1..=4 {
            for repetition in 1..=4 {
                let paths: Vec<String> = if components.is_empty() {
                    vec![format!("{segment}[{occurrence}]-{field}[{repetition}]")]
                } else {
                    components
                        .iter()
                        .map(|c| format!("{segment}[{occurrence}]-{field}[{repetition}].{c}"))
                        .collect()
                };
                for path in paths {
                    let Ok(path) = Path::parse(&path) else { continue };
                    if let Some(value) = parsed.get(&path) {
                        let text = parsed.text(&value).into_owned();
                        if !text.is_empty() && text != "\"\"" {
                            out.push(text);
                        }
                    }
                }
            }
        }
    }
    out
}

/// Every message a run sent, from its results.json (base64 when the bytes are not UTF-8).
fn sent_messages(results: &serde_json::Value) -> Vec<Vec<u8>> {
    use base64::Engine;
    let mut out = Vec::new();
    for case in
        results["packs"].as_array().unwrap().iter().flat_map(|p| p["cases"].as_array().unwrap())
    {
        for exchange in case["exchanges"].as_array().unwrap() {
            let sent = &exchange["sent"];
            let bytes = match sent["base64"].as_str() {
                Some(b64) => base64::engine::general_purpose::STANDARD.decode(b64).unwrap(),
                None => sent["text"].as_str().unwrap_or_default().as_bytes().to_vec(),
            };
            out.push(bytes);
        }
    }
    out
}

/// Every base64 blob in a results.json, decoded: a message that is not UTF-8 is kept there.
fn base64_blobs(value: &serde_json::Value, out: &mut Vec<Vec<u8>>) {
    use base64::Engine;
    match value {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value.as_str()) {
                    ("base64", Some(b64)) => {
                        out.push(base64::engine::general_purpose::STANDARD.decode(b64).unwrap())
                    }
                    _ => base64_blobs(value, out),
                }
            }
        }
        serde_json::Value::Array(list) => list.iter().for_each(|v| base64_blobs(v, out)),
        _ => {}
    }
}

/// `--redact-phi` (issue 14): a pack whose `vary:` values are surnames and provider ids, with
/// ROL-4, PD1-4, EVN-5 and MRG, beside the shipped client feed (ISO 8859-1 and CJK names,
/// master files). The same run without redaction says what was sent; with it, no value of an
/// identifier or name field (three characters or longer) is in any file or file name of the
/// report, nor in the terminal output, nor in the messages kept as base64; the two-letter
/// surname is in no case name or file name.
#[test]
fn issue14_redact_phi_leaves_no_sent_identifier_or_name_in_the_report() {
    let dir = fresh("phi");
    let pack = dir.join("pack");
    std::fs::create_dir_all(&pack).unwrap();
    std::fs::write(pack.join("patient.hl7"), PATIENT).unwrap();
    let quoted = |values: &[&str]| {
        values.iter().map(|v| serde_json::to_string(v).unwrap()).collect::<Vec<_>>().join(", ")
    };
    let yaml = format!(
        "name: phi\n\
         messages:\n  patient: {{ file: patient.hl7 }}\n\
         cases:\n\
         \x20 - name: surnames\n    send: patient\n    vary: {{ values: {{ field: PID-5.1, values: [ {} ] }} }}\n    expect: {{ ack: AA }}\n\
         \x20 - name: providers\n    send: patient\n    vary: {{ values: {{ field: ROL-4.1, values: [ {} ] }} }}\n    expect: {{ ack: AA }}\n",
        quoted(&VARIED_NAMES),
        quoted(&VARIED_PROVIDERS),
    );
    std::fs::write(pack.join("phi.yaml"), yaml).unwrap();
    let feed = workspace().join("scenarios/adt-client-feed");
    let run_to = |name: &str, redact: bool| {
        let report = dir.join(name);
        let mut args = vec![
            "run",
            pack.to_str().unwrap(),
            feed.to_str().unwrap(),
            "--seed",
            "14",
            "--report-dir",
            report.to_str().unwrap(),
        ];
        if redact {
            args.push("--redact-phi");
        }
        let output = run(&args);
        assert!(output.status.code().is_some_and(|c| c <= 1), "{}", stderr(&output));
        (report, output)
    };
    let (plain, _) = run_to("plain", false);
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(plain.join("results.json")).unwrap())
            .unwrap();
    let mut values: Vec<String> =
        sent_messages(&results).iter().flat_map(|m| phi_values(m)).collect();
    values.extend(VARIED_NAMES.iter().chain(&VARIED_PROVIDERS).map(|v| v.to_string()));
    values.sort();
    values.dedup();
    // The fixture must really carry what the test looks for.
    for expected in ["PROV-4471", "Huisarts", "Kuipers", "OPR77", "Zwartkop-Oud", "Bäckström-Testa"]
    {
        assert!(values.iter().any(|v| v == expected), "{expected} not collected: {values:?}");
    }
    let long: Vec<&str> =
        values.iter().map(String::as_str).filter(|v| v.chars().count() >= 3).collect();
    let plain_text = std::fs::read_to_string(plain.join("junit.xml")).unwrap();
    assert!(plain_text.contains("Zanten"), "without --redact-phi the names are there");

    let (redacted, output) = run_to("redacted", true);
    assert_not_echoed_any(&output, &long);
    let files = assert_folder_clean(&redacted, &long);
    assert!(files >= 20, "a full report: {files} files");
    // File names hold case names as slugs: no value's slug either.
    let slugs: Vec<String> = long
        .iter()
        .map(|v| hl7_harness::report::snapshot::slug(v))
        .filter(|s| s.len() >= 5)
        .collect();
    let slugs: Vec<&str> = slugs.iter().map(String::as_str).collect();
    let mut names = Vec::new();
    collect_names(&redacted, &mut names);
    for name in &names {
        for slug in &slugs {
            assert!(!name.contains(slug), "{slug:?} in the file name {name}");
        }
        assert!(!name.contains("-wu"), "the two-letter surname in the file name {name}");
    }
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(redacted.join("results.json")).unwrap())
            .unwrap();
    let mut blobs = Vec::new();
    base64_blobs(&results, &mut blobs);
    for blob in &blobs {
        let text = String::from_utf8_lossy(blob);
        for value in &long {
            assert!(!text.contains(value), "{value:?} in a base64 message: {text}");
        }
    }
    for case in
        results["packs"].as_array().unwrap().iter().flat_map(|p| p["cases"].as_array().unwrap())
    {
        let name = case["name"].as_str().unwrap();
        assert!(!name.contains("=Wu]"), "the two-letter surname in {name}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Neither stream of `output` holds any of `values`.
fn assert_not_echoed_any(output: &Output, values: &[&str]) {
    for (stream, text) in [("stdout", stdout(output)), ("stderr", stderr(output))] {
        for value in values {
            assert!(!text.contains(value), "{value:?} on {stream}:\n{text}");
        }
    }
}

/// The names of every file and folder under `dir`, lowercase.
fn collect_names(dir: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        out.push(entry.file_name().to_string_lossy().to_lowercase());
        if entry.path().is_dir() {
            collect_names(&entry.path(), out);
        }
    }
}
