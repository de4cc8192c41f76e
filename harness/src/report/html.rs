//! `report.html`: the report in one self-contained page (inline CSS and inline JavaScript, no
//! network, no external assets). It opens on the overview a reader acts on: the verdict (a
//! green or a red banner), target and target profile, the counts per pack, the check × pack
//! matrix and the failed, then warned, cases with their evidence and reproduce line. Below:
//! the baseline diff and the load charts when the run has them, the cases (folded, with
//! search and filters by status, pack and check; a click on a matrix count filters to its
//! cases) and, once, the rule of each check that ran.
//!
//! Size matters (a full run has thousands of check results and hundreds of messages): a passed
//! check is its id in a list, each rule's text appears only in the rules table, and the
//! messages are written as copies from earlier ones (`message_table`) that the script puts
//! back into their `<pre>` when the page loads.
//!
//! The ids and data attributes below are what `cargo xtask html-check` drives: `#verdict`,
//! the first table (the summary, with its "Cases" row), `#matrix`, `#failures` with
//! `.failure[data-verdict]`, `.case[data-verdict][data-pack][data-checks][data-f][data-w]`,
//! `#search`, `#status`, `#pack`, `#check`, `#only-failures` and `#shown`.

use super::json::verdict_name;
use super::message_table::MessageTable;
use super::overview::{self, CheckStatus, Row, Tally};
use super::record::{RunRecord, CONFORMANT, HARNESS_VERSION};
use crate::checks::Severity;
use crate::runner::{CaseOutcome, Verdict};
use std::fmt::Write;

/// Text safe in HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t') => {
                let _ = write!(out, "[0x{:02X}]", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// A message as shown: one segment per line, other control characters as `[0xNN]`.
fn display(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes).replace("\r\n", "\n").replace('\r', "\n");
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t') => {
                let _ = write!(out, "[0x{:02X}]", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// A `<pre>` the script fills with message `bytes` from the page's message table.
fn message(table: &mut MessageTable, bytes: &[u8]) -> String {
    format!("<pre data-m=\"{}\"></pre>", table.add(&display(bytes)))
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;max-width:90em}\
table{border-collapse:collapse;margin:.3em 0}td,th{border:1px solid #ccc;padding:.2em .5em;\
text-align:left;vertical-align:top}\
.passed{color:#176f2c}.warned{color:#8a6100}.failed{color:#b00020}.info{color:#555}\
#verdict{font-size:1.6em;font-weight:bold;padding:.4em .8em;border-radius:.3em;color:#fff}\
#verdict.passed{background:#176f2c}#verdict.failed{background:#b00020}\
pre{background:#f6f6f6;padding:.5em;overflow-x:auto;margin:.2em 0}code{font-size:.9em}\
.case{border-top:1px solid #ddd;padding:.2em 0}.case summary{cursor:pointer}\
.case>details>*:not(summary){margin-left:1.5em}\
.failure{border-left:4px solid #b00020;padding:.1em .8em;margin:.6em 0}\
.failure[data-verdict=warned]{border-color:#8a6100}.failure h3{margin:.2em 0}\
#matrix td,#matrix-rest td{white-space:nowrap}.n{cursor:pointer;margin-right:.4em}\
.n:hover{text-decoration:underline}.dim{color:#666;font-weight:normal;font-size:.9em}\
#filters{position:sticky;top:0;background:#fff;padding:.4em 0;border-bottom:1px solid #ccc}\
#filters>*{margin-right:.6em}";

/// The filters: a case is shown when it matches every one set. With a check chosen, the
/// status is that check's in the case (what a matrix count counts); without, the case's.
const SCRIPT: &str = "(function(){\
var $=function(i){return document.getElementById(i);};\
var M=JSON.parse($('messages').textContent),T=[];M.forEach(function(e,i){\
if(typeof e==='string'){T[i]=e;return;}var b=T[e[0]],t='';for(var k=1;k<e.length;k++){\
var x=e[k];if(typeof x==='string'){t+=x;continue;}var n=e[++k];if(x>=0){t+=b.slice(x,x+n);\
continue;}x=-1-x;while(n>0){var p=t.slice(x,x+n);if(!p.length){break;}t+=p;x+=p.length;\
n-=p.length;}}T[i]=t;});\
document.querySelectorAll('pre[data-m]').forEach(function(p){p.textContent=T[+p.dataset.m];});\
var cases=[].slice.call(document.querySelectorAll('.case'));\
function has(c,k,id){return (' '+(c.dataset[k]||'')+' ').indexOf(' '+id+' ')>=0;}\
function status(c,k){return has(c,'f',k)?'failed':has(c,'w',k)?'warned':\
has(c,'checks',k)?'passed':'';}\
function apply(){var q=$('search').value.toLowerCase(),s=$('status').value,p=$('pack').value,\
k=$('check').value,only=$('only-failures').checked,n=0;\
cases.forEach(function(c){var v=k?status(c,k):c.dataset.verdict;\
var ok=(!only||c.dataset.verdict!=='passed')&&(!p||c.dataset.pack===p)&&v!==''&&(!s||v===s)\
&&(!q||c.textContent.toLowerCase().indexOf(q)>=0);c.hidden=!ok;if(ok){n++;}});\
document.querySelectorAll('.pack').forEach(function(g){\
g.hidden=!g.querySelector('.case:not([hidden])');});\
$('shown').textContent=n+' of '+cases.length+' cases shown';}\
['search','status','pack','check','only-failures'].forEach(function(i){\
$(i).addEventListener(i==='search'?'input':'change',apply);});\
$('clear').addEventListener('click',function(){['search','status','pack','check'].forEach(\
function(i){$(i).value='';});$('only-failures').checked=false;apply();});\
$('expand').addEventListener('click',function(){var open=this.dataset.open!=='1';\
this.dataset.open=open?'1':'';this.textContent=open?'fold all':'unfold all';\
cases.forEach(function(c){c.querySelector('details').open=open;});});\
document.addEventListener('click',function(e){var t=e.target;\
if(t.classList.contains('n')){var table=t.closest('table');\
$('check').value=t.closest('tr').dataset.check;\
$('pack').value=table.rows[0].cells[t.closest('td').cellIndex].dataset.pack;\
$('status').value=t.dataset.s;$('search').value='';$('only-failures').checked=false;apply();\
$('cases').scrollIntoView();}\
var a=t.closest('a.jump');if(a){var c=document.querySelector(a.getAttribute('href'));\
if(c){c.hidden=false;c.querySelector('details').open=true;}}});\
apply();})();";

/// Attribute-safe, space-separated check ids.
fn ids<'a>(list: impl Iterator<Item = &'a str>) -> String {
    escape(&list.collect::<Vec<_>>().join(" "))
}

fn title(case: &CaseOutcome) -> String {
    format!("{} › {}", escape(&case.scenario), escape(&case.name))
}

fn verdict_badge(verdict: Verdict) -> String {
    let name = verdict_name(verdict);
    format!("<span class=\"{name}\">{}</span>", name.to_uppercase())
}

/// The verdict banner and the summary table (the first table: html-check reads its rows).
fn summary(out: &mut String, record: &RunRecord) {
    let outcome = record.outcome;
    let passed = record.verdict() == CONFORMANT;
    let (class, mark) = if passed { ("passed", "✓") } else { ("failed", "✗") };
    let _ = writeln!(
        out,
        "<p id=\"verdict\" class=\"{class}\" data-verdict=\"{}\">{mark} {}</p>",
        record.verdict(),
        record.verdict().to_uppercase()
    );
    let count = |v: Verdict| outcome.cases().filter(|c| c.verdict() == v).count();
    let checks: usize = outcome.cases().map(|c| c.results.len()).sum();
    let failed_checks = |s: Severity| {
        outcome.cases().flat_map(|c| c.failures()).filter(|r| r.severity == s).count()
    };
    let mut rows = vec![
        ("Target", outcome.target.clone()),
        ("Target profile", crate::profile::ProfileUsed::describe(&outcome.profiles)),
        (
            "Cases",
            format!(
                "{}: {} passed, {} passed with warnings, {} failed",
                outcome.cases().count(),
                count(Verdict::Passed),
                count(Verdict::Warned),
                count(Verdict::Failed)
            ),
        ),
        (
            "Checks",
            format!(
                "{checks} run: {} error failures, {} warnings",
                failed_checks(Severity::Error),
                failed_checks(Severity::Warning)
            ),
        ),
        ("Run", record.run_id.clone()),
        ("Harness", format!("hl7-harness {HARNESS_VERSION}")),
        ("Seed", outcome.seed.to_string()),
        ("Started", super::time::rfc3339(record.started)),
        ("Finished", super::time::rfc3339(record.finished)),
        ("Patient data", if record.phi_redacted { "redacted" } else { "as sent" }.to_string()),
    ];
    if outcome.unreachable {
        rows.push(("Target reachable", "no: no case could connect".to_string()));
    }
    if !outcome.skipped.is_empty() {
        // What did not run belongs in the overview of a sign-off, not only at its end.
        let files = outcome.skipped.len();
        let files =
            if files == 1 { "1 scenario file".into() } else { format!("{files} scenario files") };
        rows.push(("Skipped", format!("{files} not run (listed at the end, with why)")));
    }
    if let Some(shard) = outcome.shard {
        rows.push(("Shard", format!("{shard} (report merge joins the shards)")));
    }
    out.push_str("<table id=\"summary\">\n");
    for (key, value) in rows {
        let _ = writeln!(out, "<tr><th>{key}</th><td>{}</td></tr>", escape(&value));
    }
    out.push_str("</table>\n");
}

fn packs(out: &mut String, record: &RunRecord) {
    out.push_str(
        "<h2>Packs</h2>\n<table id=\"packs\"><tr><th>pack</th><th>sha256</th>\
<th>cases</th><th>passed</th><th>with warnings</th><th>failed</th><th>checks run</th></tr>\n",
    );
    for pack in &record.outcome.packs {
        let sha = record.pack(&pack.name).map(|p| p.sha256.as_str()).unwrap_or("");
        let tally = Tally::of_pack(pack);
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td class=\"passed\">{}</td>\
<td class=\"warned\">{}</td><td class=\"failed\">{}</td><td>{}</td></tr>",
            escape(&pack.name),
            escape(sha),
            tally.total(),
            tally.passed,
            tally.warned,
            tally.failed,
            pack.cases.iter().map(|c| c.results.len()).sum::<usize>()
        );
    }
    out.push_str("</table>\n");
}

/// One matrix table: a header of packs (`data-pack`, read by the click filter) and its rows.
fn matrix_table(out: &mut String, id: &str, record: &RunRecord, rows: &[&Row]) {
    let _ = write!(out, "<table id=\"{id}\"><tr><th>check</th>");
    for pack in &record.outcome.packs {
        let name = escape(&pack.name);
        let _ = write!(out, "<th data-pack=\"{name}\">{name}</th>");
    }
    out.push_str("</tr>\n");
    for row in rows {
        let id = escape(row.id);
        let _ = write!(out, "<tr data-check=\"{id}\"><th><a href=\"#rule-{id}\">{id}</a></th>");
        for cell in &row.cells {
            let Some(tally) = cell else {
                out.push_str("<td class=\"dim\">–</td>");
                continue;
            };
            out.push_str("<td>");
            for (count, status, mark) in [
                (tally.failed, CheckStatus::Failed, "✗"),
                (tally.warned, CheckStatus::Warned, "!"),
                (tally.passed, CheckStatus::Passed, "✓"),
            ] {
                if count > 0 {
                    let name = status.name();
                    let _ = write!(
                        out,
                        "<span class=\"n {name}\" data-s=\"{name}\" title=\"{count} {name}\">\
{count}{mark}</span>"
                    );
                }
            }
            out.push_str("</td>");
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
}

/// The check × pack matrix: checks that failed or warned anywhere in the open, the ones that
/// passed everywhere folded below.
fn matrix(out: &mut String, record: &RunRecord) {
    let rows = overview::matrix(record.outcome);
    let (bad, good): (Vec<&Row>, Vec<&Row>) = rows.iter().partition(|r| {
        let total = r.total();
        total.failed + total.warned > 0
    });
    out.push_str(
        "<h2>Checks × packs</h2>\n<p class=\"dim\">In how many cases of each pack a check \
failed (✗), warned (!) or passed (✓); – where no case of the pack ran it. Click a count to \
list those cases.</p>\n",
    );
    if bad.is_empty() {
        out.push_str("<p class=\"passed\">No check failed or warned in any case.</p>\n");
    } else {
        matrix_table(out, "matrix", record, &bad);
    }
    if !good.is_empty() {
        let _ = writeln!(
            out,
            "<details><summary>{} passed in every case that ran {}</summary>",
            if good.len() == 1 { "1 check".to_string() } else { format!("{} checks", good.len()) },
            if good.len() == 1 { "it" } else { "them" }
        );
        matrix_table(out, "matrix-rest", record, &good);
        out.push_str("</details>\n");
    }
}

/// The failed, then the warned, cases: what failed, the evidence, the reproduce line.
fn failures(out: &mut String, record: &RunRecord) {
    let cases = overview::to_look_at(record.outcome);
    out.push_str("<h2>Failures and warnings</h2>\n<div id=\"failures\">\n");
    if cases.is_empty() {
        out.push_str("<p class=\"passed\">None: every case passed.</p>\n");
    }
    for (number, case) in cases {
        let verdict = verdict_name(case.verdict());
        let _ = writeln!(
            out,
            "<div class=\"failure\" data-verdict=\"{verdict}\"><h3>{} {} › {}</h3><ul>",
            verdict_badge(case.verdict()),
            escape(&case.pack),
            title(case)
        );
        for result in overview::failures(case) {
            let class = if result.severity == Severity::Error { "failed" } else { "warned" };
            let step = result.step.map(|s| format!(" step {s}")).unwrap_or_default();
            let id = escape(&result.id);
            let _ = writeln!(
                out,
                "<li><span class=\"{class}\">{}</span> <a href=\"#rule-{id}\"><code>{id}</code>\
</a>{step}: <code>{}</code></li>",
                result.severity,
                escape(&result.evidence)
            );
        }
        let _ = writeln!(
            out,
            "</ul><p>reproduce: <code>{}</code> · <a class=\"jump\" href=\"#case-{number}\">\
messages and every check</a></p></div>",
            escape(&case.reproduce)
        );
    }
    out.push_str("</div>\n");
}

fn baseline(out: &mut String, comparison: &super::baseline::Comparison) {
    let _ = writeln!(out, "<h2>Baseline</h2>\n<p>{}</p>", escape(&comparison.headline()));
    for changed in &comparison.changed {
        let _ = writeln!(
            out,
            "<h3>Changed: {} ({})</h3>\n<pre>{}</pre>",
            escape(&changed.path),
            escape(&changed.title),
            escape(&changed.diff)
        );
    }
    for (label, list) in [("New", &comparison.new), ("Missing", &comparison.missing)] {
        for path in list {
            let _ = writeln!(out, "<p>{label}: <code>{}</code></p>", escape(path));
        }
    }
}

/// The search box and the filters; the options are the packs and the checks that ran.
fn filters(out: &mut String, record: &RunRecord, checks: &[(&'static str, Vec<&'static str>)]) {
    out.push_str(
        "<div id=\"filters\"><input type=\"search\" id=\"search\" placeholder=\"search cases, \
checks, evidence, messages\" size=\"32\">\
<select id=\"status\" title=\"the case's status, or the chosen check's in the case\">\
<option value=\"\">any status</option><option value=\"failed\">failed</option>\
<option value=\"warned\">warned</option><option value=\"passed\">passed</option></select>\
<select id=\"pack\"><option value=\"\">every pack</option>",
    );
    for pack in &record.outcome.packs {
        let name = escape(&pack.name);
        let _ = write!(out, "<option value=\"{name}\">{name}</option>");
    }
    out.push_str("</select><select id=\"check\"><option value=\"\">every check</option>");
    for (id, _) in checks {
        let id = escape(id);
        let _ = write!(out, "<option value=\"{id}\">{id}</option>");
    }
    out.push_str(
        "</select><label><input type=\"checkbox\" id=\"only-failures\"> only failed and warned \
cases</label><button type=\"button\" id=\"clear\">clear</button>\
<button type=\"button\" id=\"expand\">unfold all</button><span id=\"shown\"></span></div>\n",
    );
}

/// One case, folded: its verdict and counts in the summary line; inside, the results that did
/// not pass (with evidence), the ids of those that did, the messages and the reproduce line.
fn case(out: &mut String, case: &CaseOutcome, number: usize, table: &mut MessageTable) {
    let verdict = verdict_name(case.verdict());
    let checks = overview::case_checks(case);
    let with =
        |status: CheckStatus| ids(checks.iter().filter(|(_, s)| *s == status).map(|(id, _)| *id));
    let _ = writeln!(
        out,
        "<div class=\"case\" data-verdict=\"{verdict}\" id=\"case-{number}\" data-pack=\"{}\" \
data-checks=\"{}\" data-f=\"{}\" data-w=\"{}\">",
        escape(&case.pack),
        ids(checks.iter().map(|(id, _)| *id)),
        with(CheckStatus::Failed),
        with(CheckStatus::Warned)
    );
    let not_passed: Vec<_> = case.results.iter().filter(|r| !r.passed).collect();
    let _ = writeln!(
        out,
        "<details><summary>{} {} <span class=\"dim\">{} checks, {} not passed · {} ms</span>\
</summary>",
        verdict_badge(case.verdict()),
        title(case),
        case.results.len(),
        not_passed.len(),
        case.duration.as_millis()
    );
    for sent in &case.sent {
        let _ = writeln!(out, "<p>sent: <code>{}</code></p>", escape(sent));
    }
    if !not_passed.is_empty() {
        out.push_str(
            "<table><tr><th>check</th><th>severity</th><th>step</th><th>evidence</th></tr>\n",
        );
        for result in not_passed {
            let class = match result.severity {
                Severity::Error => "failed",
                Severity::Warning => "warned",
                Severity::Info => "info",
            };
            let _ = writeln!(
                out,
                "<tr><td><code>{}</code></td><td class=\"{class}\">{}</td><td>{}</td>\
<td>{}</td></tr>",
                escape(&result.id),
                result.severity,
                result.step.map(|s| s.to_string()).unwrap_or_default(),
                escape(&result.evidence)
            );
        }
        out.push_str("</table>\n");
    }
    let passed: Vec<&str> =
        checks.iter().filter(|(_, s)| *s == CheckStatus::Passed).map(|(id, _)| *id).collect();
    if !passed.is_empty() {
        let _ = writeln!(out, "<p class=\"passed\">passed: {}</p>", escape(&passed.join(", ")));
    }
    messages(out, case, table);
    let _ =
        writeln!(out, "<p>reproduce: <code>{}</code></p></details></div>", escape(&case.reproduce));
}

/// What went over the wire, folded inside the case.
fn messages(out: &mut String, case: &CaseOutcome, table: &mut MessageTable) {
    let observation = &case.observation;
    if observation.exchanges.is_empty()
        && observation.arrivals.is_empty()
        && observation.sut.is_none()
        && observation.through.is_none()
    {
        return;
    }
    out.push_str("<details><summary>messages and timings</summary>\n");
    for exchange in &observation.exchanges {
        let _ = writeln!(
            out,
            "<p>step {}, connection {}{}</p>{}",
            exchange.step,
            exchange.connection,
            if exchange.faults.is_empty() {
                String::new()
            } else {
                format!(", faults: {}", escape(&exchange.faults.join(", ")))
            },
            message(table, &exchange.sent)
        );
        for reply in &exchange.replies {
            let _ = writeln!(
                out,
                "<p>reply after {} ms</p>{}",
                reply.elapsed.as_millis(),
                message(table, &reply.payload)
            );
        }
        if let Some(event) = &exchange.event {
            let _ = writeln!(
                out,
                "<p>{}: {}</p>",
                escape(&event.code.to_string()),
                escape(&event.detail)
            );
        }
        if let Some(http) = &exchange.http {
            let _ = writeln!(out, "<p>HTTP {}</p>", http.status);
        }
    }
    for arrival in &observation.arrivals {
        let answered = arrival
            .answered
            .map(|a| format!(", answered at {} ms", a.as_millis()))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "<p>arrived at {} ms on connection {}: answer {}{answered}</p>{}",
            arrival.received.as_millis(),
            arrival.connection,
            escape(&arrival.answer),
            message(table, &arrival.payload)
        );
    }
    if let Some(through) = &observation.through {
        through_messages(out, through, table);
    }
    if let Some(sut) = &observation.sut {
        // An engine (through role) is a server, stopped when the case ends.
        let (who, stopped) = match observation.through {
            Some(_) => ("engine", "stopped when the case ended"),
            None => ("sender under test", "stopped at the case timeout"),
        };
        let ended = match (&sut.error, sut.killed, sut.exit) {
            (Some(error), _, _) => format!("could not start: {error}"),
            (None, true, _) => stopped.into(),
            (None, false, Some(code)) => format!("exit {code}"),
            (None, false, None) => "ended by a signal".into(),
        };
        let _ = writeln!(
            out,
            "<p>{who}: <code>{}</code>: {}</p><pre>{}</pre>",
            escape(&sut.command),
            escape(&ended),
            escape(&sut.output)
        );
    }
    out.push_str("</details>\n");
}

/// Through role: each input with the engine's answer, then what arrived at each destination.
fn through_messages(
    out: &mut String,
    through: &crate::observation::ThroughObservation,
    table: &mut MessageTable,
) {
    for input in &through.inputs {
        let _ = writeln!(
            out,
            "<p>{} sent at {} ms{}</p>{}",
            escape(&input.label),
            input.sent.as_millis(),
            input.event.as_deref().map(|e| format!(": {}", escape(e))).unwrap_or_default(),
            message(table, &input.payload)
        );
        if let Some(ack) = &input.ack {
            let _ = writeln!(out, "<p>the engine answered</p>{}", message(table, ack));
        }
    }
    for arrival in &through.arrivals {
        let _ = writeln!(
            out,
            "<p>arrived at {} at {} ms on connection {}: answer {}</p>{}",
            escape(&arrival.destination),
            arrival.arrival.received.as_millis(),
            arrival.arrival.connection,
            escape(&arrival.arrival.answer),
            message(table, &arrival.arrival.payload)
        );
    }
}

/// Each rule's text once, keyed by check id (the matrix and the failures link here).
fn rules(out: &mut String, rules: &[(&'static str, Vec<&'static str>)]) {
    out.push_str("<h2>Rules</h2>\n<table id=\"rules\"><tr><th>check</th><th>rule</th></tr>\n");
    for (id, texts) in rules {
        let id = escape(id);
        let texts: Vec<String> = texts.iter().map(|t| escape(t)).collect();
        let _ = writeln!(
            out,
            "<tr id=\"rule-{id}\"><td><code>{id}</code></td><td>{}</td></tr>",
            texts.join("<br>")
        );
    }
    out.push_str("</table>\n");
}

/// The `report.html` document.
pub fn html(record: &RunRecord) -> String {
    let outcome = record.outcome;
    let mut out =
        String::from("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n");
    let _ = writeln!(out, "<title>hl7-harness report {}</title>", escape(&record.run_id));
    let _ = writeln!(out, "<style>{STYLE}</style></head><body>");
    out.push_str("<h1>hl7-harness conformance report</h1>\n");
    summary(&mut out, record);
    packs(&mut out, record);
    matrix(&mut out, record);
    failures(&mut out, record);
    if let Some(section) = super::message_profile::Section::of(outcome) {
        out.push_str(&section.html());
    }
    if let Some(comparison) = &record.baseline {
        baseline(&mut out, comparison);
    }
    if !outcome.load.is_empty() {
        out.push_str(&super::load::LoadSection::of(&outcome.load).html());
    }
    let checks = overview::rules(outcome);
    out.push_str("<h2 id=\"cases\">Cases</h2>\n");
    filters(&mut out, record, &checks);
    // Numbered in run order, as the failure list links to them.
    let mut number = 0;
    let mut table = MessageTable::default();
    for pack in &outcome.packs {
        let _ = writeln!(
            out,
            "<section class=\"pack\" data-pack=\"{0}\"><h3>{0}</h3>",
            escape(&pack.name)
        );
        for c in &pack.cases {
            number += 1;
            case(&mut out, c, number, &mut table);
        }
        out.push_str("</section>\n");
    }
    rules(&mut out, &checks);
    if !outcome.skipped.is_empty() {
        // What did not run belongs in a sign-off as much as what passed.
        out.push_str("<h2>Skipped</h2>\n<table><tr><th>file</th><th>why</th></tr>\n");
        for (file, reason) in &outcome.skipped {
            let _ = writeln!(
                out,
                "<tr><td><code>{}</code></td><td>{}</td></tr>",
                escape(&file.display().to_string()),
                escape(reason)
            );
        }
        out.push_str("</table>\n");
    }
    let _ = writeln!(
        out,
        "<script type=\"application/json\" id=\"messages\">{}</script>",
        table.to_script_json()
    );
    let _ = writeln!(out, "<script>{SCRIPT}</script>\n</body></html>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::overview::fixture;
    use crate::vocab::Seed;

    fn check(input: &str, expected: &str) {
        assert_eq!(escape(input), expected);
    }

    #[test]
    fn escapes() {
        check("<script>&\"'", "&lt;script&gt;&amp;&quot;&#39;");
        check("\u{0b}MSH\u{1c}", "[0x0B]MSH[0x1C]");
    }

    fn page(failing: bool) -> String {
        page_with(failing, None)
    }

    fn page_with(failing: bool, baseline: Option<crate::report::baseline::Comparison>) -> String {
        let outcome = fixture::outcome(failing);
        html(&fixture::record(&outcome, baseline))
    }

    /// The page without its constant style and script, which the snapshot need not repeat.
    fn body(page: &str) -> String {
        page.replace(STYLE, "[style]").replace(SCRIPT, "[script]")
    }

    #[test]
    fn a_failing_run_opens_on_its_failures() {
        let page = page(true);
        insta::assert_snapshot!("html-failing", body(&page));
        let at = |what: &str| page.find(what).unwrap_or_else(|| panic!("no {what}"));
        assert!(at("id=\"verdict\" class=\"failed\"") < at("id=\"matrix\""));
        assert!(
            at("id=\"matrix\"") < at("id=\"failures\"")
                && at("id=\"failures\"") < at("id=\"cases\"")
        );
        // Each rule once, though three cases ran the check.
        assert_eq!(page.matches("MSA-2 message control ID").count(), 1);
    }

    #[test]
    fn a_passing_run_looks_different() {
        let page = page(false);
        insta::assert_snapshot!("html-passing", body(&page));
        assert!(page.contains("id=\"verdict\" class=\"passed\""));
        assert!(page.contains("None: every case passed."));
    }

    #[test]
    fn the_page_reaches_nothing_outside() {
        for page in [page(true), page(false)] {
            for external in ["src=", "<link", "@import", "url(", "http://", "https://"] {
                assert!(!page.contains(external), "{external}");
            }
            assert_eq!(page.matches("href=").count(), page.matches("href=\"#").count());
            assert_eq!(page.matches("<div").count(), page.matches("</div>").count());
            assert_eq!(page.matches("<details").count(), page.matches("</details>").count());
            assert_eq!(page.matches("<table").count(), page.matches("</table>").count());
        }
    }

    #[test]
    fn the_baseline_diff_comes_after_the_failures_before_the_cases() {
        let comparison = crate::report::baseline::Comparison {
            dir: "reports/baseline".to_string(),
            baseline_seed: Some(Seed(7)),
            unchanged: 2,
            new: vec!["hostile-network/split-frame.snap".to_string()],
            changed: vec![crate::report::baseline::Changed {
                path: "conformance-core/a-v2-4.snap".to_string(),
                title: "a v2.4 message is acknowledged".to_string(),
                diff: "-MSA|AA|MSG-1\n+MSA|AA|MSG-1-WRONG\n".to_string(),
            }],
            missing: Vec::new(),
            complete: true,
            accepted: false,
        };
        let page = page_with(true, Some(comparison));
        let at = |what: &str| page.find(what).unwrap_or_else(|| panic!("no {what}"));
        assert!(at("id=\"failures\"") < at("<h2>Baseline</h2>"));
        assert!(at("<h2>Baseline</h2>") < at("id=\"cases\""));
        assert!(page.contains("<pre>-MSA|AA|MSG-1\n+MSA|AA|MSG-1-WRONG\n</pre>"));
        assert!(page.contains("New: <code>hostile-network/split-frame.snap</code>"));
    }

    #[test]
    fn the_message_profile_section_comes_after_the_failures_before_the_cases() {
        let outcome = crate::report::message_profile::fixture::outcome(true);
        let page = html(&fixture::record(&outcome, None));
        let at = |what: &str| page.find(what).unwrap_or_else(|| panic!("no {what}"));
        assert!(at("id=\"failures\"") < at("id=\"message-profile\""));
        assert!(at("id=\"message-profile\"") < at("id=\"cases\""));
        assert!(page.contains("<td><code>PID[1]-13</code></td>"));
        assert!(page.contains("<td class=\"warned\">3 / 5</td>"));
        assert_eq!(page.matches("<table").count(), page.matches("</table>").count());
        assert!(!page.contains("<b>"), "a peer's value is escaped");
        assert!(!html(&fixture::record(&fixture::outcome(true), None)).contains("message-profile"));
    }
}
