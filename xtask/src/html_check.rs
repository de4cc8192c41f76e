//! `cargo xtask html-check [REPORT_DIR]...`: opens `report.html` in headless Chromium, driven
//! through chromedriver (WebDriver over HTTP on a loopback port), and checks what a person would
//! see: the page renders (title, summary table, one element per case), it opens on the overview
//! in order (verdict banner, summary, packs, check × pack matrix, failures, then the cases), the
//! failure view lists the failed cases first, then the warned ones, each with its failures and
//! reproduce line, the browser logs no console error, the filters (status, pack, check, search,
//! "only failed and warned cases", a click on a matrix count) show exactly the cases
//! `results.json` says they should, and the page fetches nothing (no resource requests, no
//! `src`, no `href` outside the page). Screenshots of each page as it opens, and of its failure
//! view, are kept under `target/xtask/html-check/` and their paths printed.
//!
//! Without REPORT_DIR it makes two reports itself with `hl7-harness run` (one passing, one with
//! passed, warned and failed cases), checks both, and then checks a deliberately broken copy
//! (a script that throws, an image from the network) that must fail, so the check is known to
//! be able to fail; the passing and the failing page's verdict banners must differ in colour.
//! Debian's `chromium` and `chromium-driver` are installed with apt-get when
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

/// The scenarios the default reports run: two packs, so the pack filter has something to tell
/// apart.
const SCENARIOS: &[&str] =
    &["scenarios/conformance-core/ack-protocol.yaml", "scenarios/adt-client-feed/"];
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
    let mut backgrounds = Vec::new();
    for (n, dir) in reports.iter().enumerate() {
        // Screenshots are kept as artefacts: `<work>/<report folder name>.<view>.png`.
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned());
        let shots = work.join(format!("{}.png", name.unwrap_or_else(|| format!("report-{n}"))));
        let checked = check_report(&session, dir, Some(&shots))?;
        backgrounds.push(checked.background);
        if checked.problems.is_empty() {
            continue;
        }
        eprintln!("--- html-check FAILED: {}", dir.display());
        for problem in &checked.problems {
            eprintln!("    {problem}");
        }
        failed.push(dir.display().to_string());
    }
    if dirs.is_empty() {
        // A passed run must look different from a failed one at first sight.
        ensure!(
            backgrounds[0] != backgrounds[1] && !backgrounds[0].is_empty(),
            "the verdict banners of the passing and the failing report look the same: {backgrounds:?}"
        );
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
    crate::process::apt_install(&["chromium", "chromium-driver"])?;
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
    // Where `cargo build` put it: CARGO_TARGET_DIR when set (relative to the root), else target/.
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(|dir| root.join(dir))
        .unwrap_or_else(|| root.join("target"));
    let harness = target.join("debug").join("hl7-harness");
    let mut reports = Vec::new();
    for (name, extra, exit) in [("passing", &[][..], 0), ("failing", DEFECTS, 1)] {
        let dir = work.join(name);
        let _ = std::fs::remove_dir_all(&dir);
        let mut command = std::process::Command::new(&harness);
        command.arg("run").args(SCENARIOS).args(["--seed", "7"]).args(extra);
        command.arg("--report-dir").arg(&dir);
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

/// What `results.json` says a page must show: counts, the verdict, and per case its pack,
/// verdict, name and per check its status (`failed`, `warned` or `passed`, the worst of its
/// results in the case, an info-severity failure counting as passed as in the verdict).
#[derive(Debug)]
struct Counts {
    run_id: String,
    verdict: String,
    cases: u64,
    passed: u64,
    warned: u64,
    failed: u64,
    listed: Vec<Case>,
}

#[derive(Debug)]
struct Case {
    pack: String,
    name: String,
    checks: Vec<(String, &'static str)>,
}

impl Counts {
    fn read(dir: &Path) -> anyhow::Result<Counts> {
        let path = dir.join("results.json");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let results: Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not JSON", path.display()))?;
        let count = |key: &str| results["counts"][key].as_u64().unwrap_or(0);
        let mut listed = Vec::new();
        for pack in results["packs"].as_array().into_iter().flatten() {
            for case in pack["cases"].as_array().into_iter().flatten() {
                let mut checks: Vec<(String, &'static str)> = Vec::new();
                for check in case["checks"].as_array().into_iter().flatten() {
                    let status = match (check["passed"].as_bool(), check["severity"].as_str()) {
                        (Some(false), Some("error")) => "failed",
                        (Some(false), Some("warning")) => "warned",
                        _ => "passed",
                    };
                    let rank =
                        |s: &str| ["passed", "warned", "failed"].iter().position(|x| *x == s);
                    let id = check["id"].as_str().unwrap_or_default().to_string();
                    match checks.iter_mut().find(|(seen, _)| *seen == id) {
                        Some((_, worst)) if rank(status) > rank(worst) => *worst = status,
                        Some(_) => {}
                        None => checks.push((id, status)),
                    }
                }
                listed.push(Case {
                    pack: pack["name"].as_str().unwrap_or_default().to_string(),
                    name: case["name"].as_str().unwrap_or_default().to_string(),
                    checks,
                });
            }
        }
        Ok(Counts {
            run_id: results["run_id"].as_str().unwrap_or_default().to_string(),
            verdict: results["verdict"].as_str().unwrap_or_default().to_string(),
            cases: count("cases"),
            passed: count("passed"),
            warned: count("warned"),
            failed: count("failed"),
            listed,
        })
    }

    /// Cases of `pack` (any, when `None`) in which `check` ended as `status`.
    fn with(&self, pack: Option<&str>, check: &str, status: &str) -> u64 {
        self.listed
            .iter()
            .filter(|c| pack.is_none_or(|p| c.pack == p))
            .filter(|c| c.checks.iter().any(|(id, s)| id == check && *s == status))
            .count() as u64
    }
}

/// Each case element's verdict, pack and whether it is rendered (hidden elements have no
/// boxes).
const CASES_SCRIPT: &str = "return Array.from(document.querySelectorAll('.case'))\
.map(function(c){return [c.dataset.verdict, c.dataset.pack||'', c.getClientRects().length > 0];});";

/// The summary table's row headings and its "Cases" cell.
const SUMMARY_SCRIPT: &str = "var t=document.querySelector('table');if(!t){return null;}\
var rows=Array.from(t.querySelectorAll('tr'));return rows.map(function(r){\
var th=r.querySelector('th'),td=r.querySelector('td');\
return [th?th.textContent:'',td?td.textContent:''];});";

/// The verdict banner (its word and colour), where each part of the overview starts, and the
/// failure view: per entry its verdict, how many failures it lists and its reproduce line.
const OVERVIEW_SCRIPT: &str = "var v=document.getElementById('verdict');\
var top=function(id){var e=document.getElementById(id);\
return e?e.getBoundingClientRect().top+window.scrollY:null;};\
return {verdict: v?v.dataset.verdict:null, background: v?getComputedStyle(v).backgroundColor:null,\
order: ['verdict','summary','packs','matrix','failures','cases','rules'].map(function(id){\
return [id, top(id)];}),\
failures: Array.from(document.querySelectorAll('#failures .failure')).map(function(f){\
var code=Array.from(f.querySelectorAll('p code')).map(function(c){return c.textContent;});\
return [f.dataset.verdict, f.querySelectorAll('li').length, code.join(' ')];})};";

/// Marks the first count of the matrix (unfolding the passed checks when nothing failed) and
/// says what it counts: [number, status, check, pack].
const MATRIX_SCRIPT: &str = "var n=document.querySelector('#matrix .n');\
if(!n){var d=document.querySelector('#matrix-rest');if(d){d.closest('details').open=true;}\
n=document.querySelector('#matrix-rest .n');}if(!n){return null;}n.id='html-check-count';\
var table=n.closest('table');return [parseInt(n.textContent,10), n.dataset.s, \
n.closest('tr').dataset.check, table.rows[0].cells[n.closest('td').cellIndex].dataset.pack];";

/// Resources the page fetched, and elements that point anywhere outside the page.
const NETWORK_SCRIPT: &str = "return {fetched: performance.getEntriesByType('resource')\
.map(function(e){return e.name;}), links: Array.from(document.querySelectorAll('[src],[href]'))\
.map(function(e){return e.getAttribute('src')||e.getAttribute('href');})\
.filter(function(v){return v.charAt(0)!=='#';})};";

/// A case element as [verdict, pack, shown].
type Shown = Vec<(String, String, bool)>;

fn shown(session: &Session) -> anyhow::Result<Shown> {
    Ok(serde_json::from_value(session.execute(CASES_SCRIPT)?).unwrap_or_default())
}

fn visible(cases: &Shown) -> Vec<&(String, String, bool)> {
    cases.iter().filter(|(_, _, seen)| *seen).collect()
}

/// Picks `value` in the `<select>` `css` as a person would: a click on its option.
fn choose(session: &Session, css: &str, value: &str) -> anyhow::Result<()> {
    let option = session.element(&format!("{css} option[value=\"{value}\"]"))?;
    session.post(&format!("element/{option}/click"), json!({}))?;
    Ok(())
}

/// What one page showed: what is wrong with it (empty when it passes) and its verdict
/// banner's background colour.
struct Checked {
    problems: Vec<String>,
    background: String,
}

/// Checks `dir/report.html`; with `shots`, saves screenshots named `shots.<view>.png` (the
/// page as it opens, and the failure view) and prints their paths.
fn check_report(session: &Session, dir: &Path, shots: Option<&Path>) -> anyhow::Result<Checked> {
    let started = Instant::now();
    let counts = Counts::read(dir)?;
    let page =
        dir.join("report.html").canonicalize().with_context(|| format!("{}", dir.display()))?;
    session.post("url", json!({ "url": format!("file://{}", page.display()) }))?;
    let mut problems = Vec::new();
    if let Some(shots) = shots {
        screenshot(session, &shots.with_extension("overview.png"))?;
    }

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
    for heading in ["Target", "Target profile"] {
        if !rows.iter().any(|(h, _)| h == heading) {
            problems.push(format!("the summary table has no {heading} row"));
        }
    }

    let overview = session.execute(OVERVIEW_SCRIPT)?;
    let background = overview["background"].as_str().unwrap_or_default().to_string();
    if overview["verdict"] != json!(counts.verdict) {
        problems.push(format!(
            "the verdict banner says {}, results.json {}",
            overview["verdict"], counts.verdict
        ));
    }
    // The overview in reading order: verdict, summary, packs, matrix, failures, then the cases.
    let order: Vec<(String, Option<f64>)> =
        serde_json::from_value(overview["order"].clone()).unwrap_or_default();
    let mut last = f64::MIN;
    for (id, top) in &order {
        match top {
            Some(top) if *top >= last => last = *top,
            Some(_) => problems.push(format!("#{id} is above where the overview order puts it")),
            None if id == "matrix" => {} // a table only when something failed or warned
            None => problems.push(format!("the page has no #{id}")),
        }
    }
    // The failure view: the failed cases first, then the warned ones, each with what failed
    // and the command that reproduces it.
    let failures: Vec<(String, u64, String)> =
        serde_json::from_value(overview["failures"].clone()).unwrap_or_default();
    let verdicts: Vec<&str> = failures.iter().map(|(v, _, _)| v.as_str()).collect();
    let expected: Vec<&str> = std::iter::repeat_n("failed", counts.failed as usize)
        .chain(std::iter::repeat_n("warned", counts.warned as usize))
        .collect();
    if verdicts != expected {
        problems.push(format!(
            "the failure view lists {verdicts:?}; expected the {} failed cases first, then the \
             {} warned",
            counts.failed, counts.warned
        ));
    }
    for (verdict, listed, reproduce) in &failures {
        if *listed == 0 || !reproduce.contains("hl7-harness run") {
            problems.push(format!(
                "a {verdict} case in the failure view lacks its failures ({listed}) or its \
                 reproduce line ({reproduce:?})"
            ));
        }
    }
    if let (Some(shots), false) = (shots, failures.is_empty()) {
        let view = session.element("#failures")?;
        session.execute("document.getElementById('failures').scrollIntoView();")?;
        let _ = view;
        screenshot(session, &shots.with_extension("failures.png"))?;
        session.execute("window.scrollTo(0,0);")?;
    }

    let all = shown(session)?;
    if all.len() as u64 != counts.cases {
        problems.push(format!("{} case elements for {} cases", all.len(), counts.cases));
    }
    for (verdict, expected) in
        [("passed", counts.passed), ("warned", counts.warned), ("failed", counts.failed)]
    {
        let found = all.iter().filter(|(v, _, _)| v == verdict).count() as u64;
        if found != expected {
            problems.push(format!("{found} {verdict} case elements, results.json has {expected}"));
        }
    }
    let hidden = |cases: &Shown| cases.iter().filter(|(_, _, seen)| !seen).count();
    if hidden(&all) > 0 {
        problems.push(format!("{} cases hidden before filtering", hidden(&all)));
    }

    let checkbox = session.element("#only-failures")?;
    session.post(&format!("element/{checkbox}/click"), json!({}))?;
    let filtered = shown(session)?;
    let wrong: Vec<&(String, String, bool)> =
        filtered.iter().filter(|(verdict, _, seen)| *seen == (verdict == "passed")).collect();
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

    filters(session, &counts, &mut problems)?;

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
            "--- html-check ok: {} ({}; {} cases: {} passed, {} warned, {} failed; the failure \
             view lists the failed first; the status, pack, check, search and matrix filters \
             show the right cases; no console errors; no requests) in {}",
            dir.display(),
            counts.verdict,
            counts.cases,
            counts.passed,
            counts.warned,
            counts.failed,
            seconds(started.elapsed())
        );
    }
    Ok(Checked { problems, background })
}

/// A problem unless exactly `wanted` cases are shown, each matching `each(verdict, pack)`.
fn expect(
    problems: &mut Vec<String>,
    what: String,
    cases: &Shown,
    wanted: u64,
    each: &dyn Fn(&str, &str) -> bool,
) {
    let seen = visible(cases);
    let stray: Vec<_> = seen.iter().filter(|(v, p, _)| !each(v, p)).collect();
    if seen.len() as u64 != wanted || !stray.is_empty() {
        problems.push(format!(
            "{what}: {} cases shown, expected {wanted}; shown but not matching: {stray:?}",
            seen.len()
        ));
    }
}

/// The status, pack, check, search and matrix filters, each against what results.json says
/// it must show; the page is left with every case shown.
fn filters(session: &Session, counts: &Counts, problems: &mut Vec<String>) -> anyhow::Result<()> {
    for (status, wanted) in
        [("failed", counts.failed), ("warned", counts.warned), ("passed", counts.passed)]
    {
        choose(session, "#status", status)?;
        expect(problems, format!("status {status}"), &shown(session)?, wanted, &|v, _| v == status);
    }
    choose(session, "#status", "")?;
    let mut packs: Vec<&str> = counts.listed.iter().map(|c| c.pack.as_str()).collect();
    packs.dedup();
    for pack in packs {
        let wanted = counts.listed.iter().filter(|c| c.pack == pack).count() as u64;
        choose(session, "#pack", pack)?;
        expect(problems, format!("pack {pack}"), &shown(session)?, wanted, &|_, p| p == pack);
    }
    choose(session, "#pack", "")?;
    // The check that failed in the most cases (any check when none failed), by its status.
    let mut ids: Vec<&str> =
        counts.listed.iter().flat_map(|c| c.checks.iter().map(|(id, _)| id.as_str())).collect();
    ids.sort_unstable();
    ids.dedup();
    if let Some(check) = ids.iter().max_by_key(|id| counts.with(None, id, "failed")) {
        choose(session, "#check", check)?;
        for status in ["failed", "warned", "passed"] {
            choose(session, "#status", status)?;
            let wanted = counts.with(None, check, status);
            expect(
                problems,
                format!("check {check}, status {status}"),
                &shown(session)?,
                wanted,
                &|_, _| true,
            );
        }
    }
    let clear = session.element("#clear")?;
    session.post(&format!("element/{clear}/click"), json!({}))?;
    if let Some(first) = counts.listed.first() {
        let search = session.element("#search")?;
        session.post(
            &format!("element/{search}/value"),
            json!({ "text": "html-check: no such text" }),
        )?;
        expect(problems, "a search nothing matches".into(), &shown(session)?, 0, &|_, _| false);
        session.post(&format!("element/{clear}/click"), json!({}))?;
        session.post(&format!("element/{search}/value"), json!({ "text": first.name }))?;
        let found = visible(&shown(session)?).len();
        if found == 0 {
            problems.push(format!("searching for the case {:?} shows no case", first.name));
        }
        session.post(&format!("element/{clear}/click"), json!({}))?;
    }
    // A count in the matrix lists exactly the cases it counts.
    let count = session.execute(MATRIX_SCRIPT)?;
    match serde_json::from_value::<(u64, String, String, String)>(count.clone()) {
        Ok((number, status, check, pack)) => {
            let marked = session.element("#html-check-count")?;
            session.post(&format!("element/{marked}/click"), json!({}))?;
            let wanted = counts.with(Some(&pack), &check, &status);
            if wanted != number {
                problems.push(format!(
                    "the matrix says {number} for {check} {status} in {pack}, results.json {wanted}"
                ));
            }
            expect(
                problems,
                format!("the matrix count {check} {status} in {pack}"),
                &shown(session)?,
                wanted,
                &|_, p| p == pack,
            );
        }
        Err(_) => problems.push(format!("no count to click in the check × pack matrix: {count}")),
    }
    session.post(&format!("element/{clear}/click"), json!({}))?;
    if visible(&shown(session)?).len() as u64 != counts.cases {
        problems.push("\"clear\" does not show every case again".to_string());
    }
    Ok(())
}

/// Saves the browser's viewport as a PNG and prints where.
fn screenshot(session: &Session, path: &Path) -> anyhow::Result<()> {
    let encoded = session.get("screenshot")?;
    let png = base64(encoded.as_str().context("the screenshot is not a string")?)?;
    std::fs::write(path, png).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("--- html-check screenshot: {}", path.display());
    Ok(())
}

/// Standard base64 (WebDriver's screenshots), padding and line breaks allowed.
fn base64(text: &str) -> anyhow::Result<Vec<u8>> {
    let value = |c: u8| -> anyhow::Result<u32> {
        Ok(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => bail!("not base64: {:?}", c as char),
        } as u32)
    };
    let digits: Vec<u8> = text.bytes().filter(|c| !matches!(c, b'=' | b'\n' | b'\r')).collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let mut bits = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            bits |= value(*c)? << (18 - 6 * i);
        }
        let bytes = bits.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Ok(out)
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
    let problems = check_report(session, &dir, None)?.problems;
    let found = |what: &str| problems.iter().any(|p| p.contains(what));
    ensure!(
        found("console error")
            && found("passed cases must be hidden")
            && found("status failed")
            && found("reaches outside"),
        "the broken control page was not caught; problems found: {problems:#?}"
    );
    eprintln!(
        "--- html-check control: a broken copy is rejected ({} problems: console error, filters, \
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
