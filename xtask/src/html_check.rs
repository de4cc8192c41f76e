//! `cargo xtask html-check [REPORT_DIR]...`: opens `report.html` in headless Chromium, driven
//! through chromedriver (WebDriver over HTTP on a loopback port), and checks what a person would
//! see: the page renders (title, summary table, one element per case), the browser logs no
//! console error, the "only failed and warned cases" checkbox hides exactly the passed cases
//! and shows them again, and the page fetches nothing (no resource requests, no `src`/`href`).
//!
//! Without REPORT_DIR it makes two reports itself with `hl7-harness run` (one passing, one with
//! passed, warned and failed cases), checks both, and then checks a deliberately broken copy
//! (a script that throws, an image from the network) that must fail, so the check is known to
//! be able to fail. Debian's `chromium` and `chromium-driver` are installed with apt-get when
//! missing. Every WebDriver call has a timeout, and chromedriver with its browser is killed at
//! the end, also on failure.

use crate::interop::output_within;
use crate::process::{seconds, Command};
use anyhow::{bail, ensure, Context};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Longest one WebDriver call may take (a page load included).
const CALL_LIMIT: Duration = Duration::from_secs(30);
/// Longest chromedriver may take to start answering.
const START_LIMIT: Duration = Duration::from_secs(30);
/// Longest one `hl7-harness run` may take.
const RUN_LIMIT: Duration = Duration::from_secs(180);

/// Chromium's flags: headless as root, and nothing that talks to the network on its own (this
/// machine's network is closed, and a report page must not need it).
const CHROMIUM_ARGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1024",
];

/// The scenario file the default reports run.
const SCENARIO: &str = "scenarios/conformance-core/ack-protocol.yaml";
/// Defects that make one case fail (AA to a frame that is not HL7: a false success) and most
/// others only warn (MSH-12 not echoed), while one case still passes. Without a target profile an
/// AE to non-ASCII text is a receiver's choice, so it no longer fails anything.
const DEFECTS: &[&str] =
    &["--target-defect", "aa-to-non-hl7", "--target-defect", "version-not-echoed"];

pub fn run(root: &Path, dirs: &[PathBuf]) -> anyhow::Result<()> {
    let start = Instant::now();
    ensure_browser()?;
    let work = root.join("target").join("xtask").join("html-check");
    std::fs::create_dir_all(&work)?;
    let reports = if dirs.is_empty() { make_reports(root, &work)? } else { dirs.to_vec() };

    let driver = Driver::start(&work)?;
    // A fresh profile each time (one left by a failed run is removed here).
    let profile = work.join("profile");
    let _ = std::fs::remove_dir_all(&profile);
    let session = driver.session(&profile)?;
    let mut failed = Vec::new();
    for dir in &reports {
        let problems = check_report(&session, dir)?;
        if problems.is_empty() {
            continue;
        }
        eprintln!("--- html-check FAILED: {}", dir.display());
        for problem in &problems {
            eprintln!("    {problem}");
        }
        failed.push(dir.display().to_string());
    }
    if dirs.is_empty() && failed.is_empty() {
        control(&session, &work, &reports[1])?;
    }
    drop(session);
    drop(driver);
    let _ = std::fs::remove_dir_all(&profile);
    ensure!(failed.is_empty(), "report.html failed the browser check: {}", failed.join(", "));
    eprintln!("--- html-check passed in {}", seconds(start.elapsed()));
    Ok(())
}

/// Installs Debian's chromium and chromium-driver when either is missing.
fn ensure_browser() -> anyhow::Result<()> {
    if Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists() {
        return Ok(());
    }
    let root_user = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0");
    let apt = |step: &str, args: &[&str]| {
        let command = if root_user {
            Command::new(step, "apt-get").args(args)
        } else {
            Command::new(step, "sudo").args(["apt-get"]).args(args)
        };
        command.env("DEBIAN_FRONTEND", "noninteractive").run()
    };
    apt("apt update", &["update", "-q"])?;
    apt("apt install", &["install", "-y", "-q", "chromium", "chromium-driver"])
        .context("installing Debian's chromium and chromium-driver")?;
    ensure!(
        Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists(),
        "{CHROMIUM} or {CHROMEDRIVER} still missing after apt-get install"
    );
    Ok(())
}

/// A passing report and one with passed, warned and failed cases, under `work`.
fn make_reports(root: &Path, work: &Path) -> anyhow::Result<Vec<PathBuf>> {
    Command::new("html-check build", "cargo")
        .args(["build", "--quiet", "-p", "hl7-harness"])
        .current_dir(root)
        .run()?;
    let harness = root.join("target").join("debug").join("hl7-harness");
    let mut reports = Vec::new();
    for (name, extra, exit) in [("passing", &[][..], 0), ("failing", DEFECTS, 1)] {
        let dir = work.join(name);
        let _ = std::fs::remove_dir_all(&dir);
        let mut command = std::process::Command::new(&harness);
        command.args(["run", SCENARIO, "--seed", "7"]).args(extra).arg("--report-dir").arg(&dir);
        command.current_dir(root);
        eprintln!("==> [html-check report] {command:?}");
        let output = output_within(command, RUN_LIMIT, "hl7-harness run")?;
        ensure!(
            output.status.code() == Some(exit),
            "hl7-harness run ({name}) exited with {}, expected {exit}:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        reports.push(dir);
    }
    let counts = Counts::read(&reports[1])?;
    ensure!(
        counts.passed > 0 && counts.warned > 0 && counts.failed > 0,
        "the failing report must have passed, warned and failed cases to test the filter: {counts:?}"
    );
    Ok(reports)
}

/// Case counts from a report's `results.json`.
#[derive(Debug)]
struct Counts {
    run_id: String,
    cases: u64,
    passed: u64,
    warned: u64,
    failed: u64,
}

impl Counts {
    fn read(dir: &Path) -> anyhow::Result<Counts> {
        let path = dir.join("results.json");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let results: Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not JSON", path.display()))?;
        let count = |key: &str| results["counts"][key].as_u64().unwrap_or(0);
        Ok(Counts {
            run_id: results["run_id"].as_str().unwrap_or_default().to_string(),
            cases: count("cases"),
            passed: count("passed"),
            warned: count("warned"),
            failed: count("failed"),
        })
    }
}

/// Each case element's verdict and whether it is rendered (hidden elements have no boxes).
const CASES_SCRIPT: &str = "return Array.from(document.querySelectorAll('.case'))\
.map(function(c){return [c.dataset.verdict, c.getClientRects().length > 0];});";

/// The summary table's row headings and its "Cases" cell.
const SUMMARY_SCRIPT: &str = "var t=document.querySelector('table');if(!t){return null;}\
var rows=Array.from(t.querySelectorAll('tr'));return rows.map(function(r){\
var th=r.querySelector('th'),td=r.querySelector('td');\
return [th?th.textContent:'',td?td.textContent:''];});";

/// Resources the page fetched, and elements that point anywhere outside the page.
const NETWORK_SCRIPT: &str = "return {fetched: performance.getEntriesByType('resource')\
.map(function(e){return e.name;}), links: Array.from(document.querySelectorAll('[src],[href]'))\
.map(function(e){return e.getAttribute('src')||e.getAttribute('href');})\
.filter(function(v){return v.charAt(0)!=='#';})};";

/// Everything wrong with `dir/report.html`, as sentences; empty when it passes.
fn check_report(session: &Session, dir: &Path) -> anyhow::Result<Vec<String>> {
    let started = Instant::now();
    let counts = Counts::read(dir)?;
    let page =
        dir.join("report.html").canonicalize().with_context(|| format!("{}", dir.display()))?;
    session.post("url", json!({ "url": format!("file://{}", page.display()) }))?;
    let mut problems = Vec::new();

    let title = session.get("title")?;
    let expected = format!("hl7-harness report {}", counts.run_id);
    if title != json!(expected) {
        problems.push(format!("title is {title}, expected \"{expected}\""));
    }
    let summary = session.execute(SUMMARY_SCRIPT)?;
    let rows: Vec<(String, String)> = serde_json::from_value(summary).unwrap_or_default();
    let cases_row = rows.iter().find(|(heading, _)| heading == "Cases");
    match cases_row {
        Some((_, cell)) if cell.starts_with(&format!("{}:", counts.cases)) => {}
        Some((_, cell)) => {
            problems.push(format!("summary says \"{cell}\" for {} cases", counts.cases))
        }
        None => problems.push(format!("no summary table with a Cases row: {rows:?}")),
    }

    let shown = |session: &Session| -> anyhow::Result<Vec<(String, bool)>> {
        Ok(serde_json::from_value(session.execute(CASES_SCRIPT)?).unwrap_or_default())
    };
    let all = shown(session)?;
    if all.len() as u64 != counts.cases {
        problems.push(format!("{} case elements for {} cases", all.len(), counts.cases));
    }
    for (verdict, expected) in
        [("passed", counts.passed), ("warned", counts.warned), ("failed", counts.failed)]
    {
        let found = all.iter().filter(|(v, _)| v == verdict).count() as u64;
        if found != expected {
            problems.push(format!("{found} {verdict} case elements, results.json has {expected}"));
        }
    }
    let hidden = |cases: &[(String, bool)]| cases.iter().filter(|(_, seen)| !seen).count();
    if hidden(&all) > 0 {
        problems.push(format!("{} cases hidden before filtering", hidden(&all)));
    }

    let checkbox = session.element("#only-failures")?;
    session.post(&format!("element/{checkbox}/click"), json!({}))?;
    let filtered = shown(session)?;
    let wrong: Vec<&(String, bool)> =
        filtered.iter().filter(|(verdict, seen)| *seen == (verdict == "passed")).collect();
    if !wrong.is_empty() || filtered.len() != all.len() {
        problems.push(format!(
            "with \"only failed and warned cases\" checked, passed cases must be hidden and the \
             others shown; wrong: {wrong:?}"
        ));
    }
    session.post(&format!("element/{checkbox}/click"), json!({}))?;
    if hidden(&shown(session)?) > 0 {
        problems.push("unchecking the filter does not show every case again".to_string());
    }

    let network = session.execute(NETWORK_SCRIPT)?;
    for key in ["fetched", "links"] {
        if network[key].as_array().is_some_and(|items| !items.is_empty()) {
            problems.push(format!("the page reaches outside itself ({key}): {}", network[key]));
        }
    }
    for entry in session.browser_log()? {
        let level = entry["level"].as_str().unwrap_or_default();
        let message = entry["message"].as_str().unwrap_or_default();
        match level {
            "SEVERE" => problems.push(format!("console error: {message}")),
            _ => eprintln!("    console {level}: {message}"),
        }
    }
    if problems.is_empty() {
        eprintln!(
            "--- html-check ok: {} ({} cases: {} passed, {} warned, {} failed; the filter hides \
             the {} passed; no console errors; no requests) in {}",
            dir.display(),
            counts.cases,
            counts.passed,
            counts.warned,
            counts.failed,
            counts.passed,
            seconds(started.elapsed())
        );
    }
    Ok(problems)
}

/// A broken copy of a report must fail: its script throws instead of filtering and it loads an
/// image from a (loopback) server. Proves that each check can fail.
fn control(session: &Session, work: &Path, report: &Path) -> anyhow::Result<()> {
    let dir = work.join("control");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    std::fs::copy(report.join("results.json"), dir.join("results.json"))?;
    let html = std::fs::read_to_string(report.join("report.html"))?;
    let script = html.find("<script>").context("report.html has no <script>")?;
    let broken = format!(
        "{}<img src=\"http://127.0.0.1:9/control.png\"><script>\
         document.getElementById('only-failures').addEventListener('change',\
         function(){{throw new Error('html-check control');}});</script></body></html>\n",
        &html[..script]
    );
    std::fs::write(dir.join("report.html"), broken)?;
    let problems = check_report(session, &dir)?;
    let found = |what: &str| problems.iter().any(|p| p.contains(what));
    ensure!(
        found("console error") && found("passed cases must be hidden") && found("reaches outside"),
        "the broken control page was not caught; problems found: {problems:#?}"
    );
    eprintln!(
        "--- html-check control: a broken copy is rejected ({} problems: console error, filter, \
         network)",
        problems.len()
    );
    Ok(())
}

/// chromedriver on a loopback port; killed with its browser when dropped.
struct Driver {
    child: Child,
    base: String,
    agent: ureq::Agent,
    log: PathBuf,
}

impl Driver {
    fn start(work: &Path) -> anyhow::Result<Driver> {
        // A free port: bound, read and released; chromedriver binds it a moment later.
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let log = work.join("chromedriver.log");
        let mut command = std::process::Command::new(CHROMEDRIVER);
        command
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // Its own process group, so that the browsers it starts are killed with it.
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let child = command.spawn().with_context(|| format!("starting {CHROMEDRIVER}"))?;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(CALL_LIMIT))
            .http_status_as_error(false)
            .proxy(None)
            .build()
            .into();
        let mut driver = Driver { child, base: format!("http://127.0.0.1:{port}"), agent, log };
        let deadline = Instant::now() + START_LIMIT;
        loop {
            let ready = driver
                .agent
                .get(format!("{}/status", driver.base))
                .call()
                .ok()
                .and_then(|mut r| r.body_mut().read_json::<Value>().ok())
                .is_some_and(|status| status["value"]["ready"] == json!(true));
            if ready {
                break;
            }
            if let Some(status) = driver.child.try_wait()? {
                bail!("chromedriver exited ({status}); see {}", driver.log.display());
            }
            ensure!(Instant::now() < deadline, "chromedriver not ready within {START_LIMIT:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(driver)
    }

    /// One WebDriver call; a WebDriver error (`value.error`) is an `Err` naming the call.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.base);
        let response = match (method, body) {
            ("GET", _) => self.agent.get(&url).call(),
            ("DELETE", _) => self.agent.delete(&url).call(),
            (_, body) => self.agent.post(&url).send_json(body.unwrap_or(json!({}))),
        };
        let mut response =
            response.with_context(|| format!("WebDriver {method} {path}: no answer"))?;
        let reply: Value = response
            .body_mut()
            .read_json()
            .with_context(|| format!("WebDriver {method} {path}: not JSON"))?;
        if let Some(error) = reply["value"]["error"].as_str() {
            bail!(
                "WebDriver {method} {path}: {error}: {} (chromedriver log: {})",
                reply["value"]["message"].as_str().unwrap_or_default(),
                self.log.display()
            );
        }
        Ok(reply)
    }

    /// A new browser session with a fresh profile in `profile`.
    fn session(&self, profile: &Path) -> anyhow::Result<Session<'_>> {
        let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|a| a.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let limit = CALL_LIMIT.as_millis() as u64;
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
            "goog:loggingPrefs": { "browser": "ALL" },
            "timeouts": { "pageLoad": limit, "script": limit, "implicit": 0 },
        }}});
        let reply = self.call("POST", "/session", Some(capabilities))?;
        let id = reply["value"]["sessionId"].as_str().context("no sessionId")?.to_string();
        let version = reply["value"]["capabilities"]["browserVersion"].as_str().unwrap_or("?");
        eprintln!("--- html-check: Chromium {version} through {CHROMEDRIVER}");
        Ok(Session { driver: self, id })
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        #[cfg(unix)]
        {
            let group = format!("-{}", self.child.id());
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &group])
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A browser session; closed (browser quit) when dropped.
struct Session<'a> {
    driver: &'a Driver,
    id: String,
}

impl Session<'_> {
    fn get(&self, command: &str) -> anyhow::Result<Value> {
        Ok(self.driver.call("GET", &format!("/session/{}/{command}", self.id), None)?["value"]
            .take())
    }

    fn post(&self, command: &str, body: Value) -> anyhow::Result<Value> {
        let path = format!("/session/{}/{command}", self.id);
        Ok(self.driver.call("POST", &path, Some(body))?["value"].take())
    }

    fn execute(&self, script: &str) -> anyhow::Result<Value> {
        self.post("execute/sync", json!({ "script": script, "args": [] }))
    }

    /// The WebDriver id of the element `css` selects.
    fn element(&self, css: &str) -> anyhow::Result<String> {
        let element = self.post("element", json!({ "using": "css selector", "value": css }))?;
        // The reply is `{"element-6066-…": id}`; the key is fixed by the W3C spec.
        element
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .map(str::to_string)
            .with_context(|| format!("no element {css}: {element}"))
    }

    /// Browser console entries since the last call (chromedriver's log endpoint).
    fn browser_log(&self) -> anyhow::Result<Vec<Value>> {
        let entries = self.post("se/log", json!({ "type": "browser" }))?;
        Ok(entries.as_array().cloned().unwrap_or_default())
    }
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        let _ = self.driver.call("DELETE", &format!("/session/{}", self.id), None);
    }
}
