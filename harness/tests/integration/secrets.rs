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

/// No file name and no file under `dir` holds the password; returns how many files were read.
pub fn assert_folder_clean(dir: &Path, needles: &[&str]) -> usize {
    let mut read = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder).unwrap().flatten() {
            let path = entry.path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            for needle in needles {
                assert!(!name.contains(needle), "{needle:?} in the file name {}", path.display());
            }
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            for needle in needles {
                assert!(!text.contains(needle), "{needle:?} in {}:\n{text}", path.display());
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
        let mut args = vec!["run", pack.to_str().unwrap(), "--report-dir", report.to_str().unwrap()];
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

    let output = run(&["run", "scenarios/conformance-core", "--target", &with_password(&server.url)]);
    assert_not_echoed("run mllp", &output);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("takes no user or password"), "{}", stderr(&output));
    let _ = std::fs::remove_dir_all(&dir);
}
