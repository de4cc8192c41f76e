//! A through pack recorded from a run (`run --record-through DIR`, issue 17 item 3): per
//! through case, the inputs as they were sent and every output as it arrived, written as a
//! scenario whose flows expect exactly those outputs. Run against a new version of the engine
//! (or after a configuration change), `through.content` then names every field that differs
//! from what the recorded run delivered, and `through.delivered`/`through.unexpected` every
//! output that went missing or appeared.
//!
//! Written per scenario file: `DIR/<pack>/<scenario file>.yaml` with the messages beside it
//! in `messages/<case>/` (`in-N.hl7` for input N, `in-N-<destination>-K.hl7` for its K-th
//! distinct output there). The `through:` block is the recorded scenario's, defaults applied,
//! with `{scenario_dir}` in the engine's command made the recorded scenario's folder (the route
//! file stays where it is). Each output ignores MSH-7 and MSH-10 and the paths the recorded
//! case ignored or matched at that destination; an input nothing arrived for is `filtered`.
//! The destinations answer as the recorded case said (`answers:`), so the engine's retries are
//! replayed too. A run with `--redact-phi` records the redacted messages.
//!
//! The scenario is written as YAML whose values are JSON strings and flow collections (JSON
//! is YAML), so no value can break the file whatever it holds.

use super::snapshot::slug;
use super::snapshot_through::owners;
use crate::hl7::Message;
use crate::runner::{CaseOutcome, RunOutcome};
use crate::scenario::{LoadedScenario, Pack, ThroughCase, ThroughSetup};
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// The recorded pack could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ThroughPackError {
    #[error("--record-through {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// One file of a recorded pack: its path relative to the pack folder, and its bytes.
pub type PackFile = (String, Vec<u8>);

/// A JSON string, which is a valid YAML double-quoted scalar.
fn quoted(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".into())
}

fn millis(duration: std::time::Duration) -> String {
    format!("{}ms", duration.as_millis())
}

/// The secrets the recorded scenario read, as (variable name, value now in the environment),
/// longest value first so that a value holding another is restored whole.
type SecretReads = Vec<(String, String)>;

fn secret_reads(scenario: &LoadedScenario) -> SecretReads {
    let mut reads: SecretReads = scenario
        .environment
        .iter()
        .filter(|r| r.value.is_none())
        .filter_map(|r| std::env::var(&r.name).ok().map(|v| (r.name.clone(), v)))
        .filter(|(_, value)| !value.is_empty())
        .collect();
    reads.sort_by_key(|(_, value)| std::cmp::Reverse(value.len()));
    reads
}

/// A value of the `through:` block as the recorded YAML must hold it. The setup holds values
/// after `${VAR}` interpolation, so a secret's value (a token on the engine's command line, a
/// URL with credentials) would be written into the pack: each is put back as `${VAR}`, read
/// again from the environment when the pack runs. A literal `${` left in a value becomes `$${`,
/// or the recorded pack would interpolate what the recorded run took literally.
fn recordable(text: &str, secrets: &SecretReads) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if let Some((name, value)) = secrets.iter().find(|(_, v)| rest.starts_with(v.as_str())) {
            let _ = write!(out, "${{{name}}}");
            rest = &rest[value.len()..];
        } else if rest.starts_with("${") {
            out.push_str("$${");
            rest = &rest[2..];
        } else {
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

/// The variable a secret's whole value was read from.
fn secret_name<'s>(value: &str, secrets: &'s SecretReads) -> Option<&'s str> {
    secrets.iter().find(|(_, v)| v == value).map(|(name, _)| name.as_str())
}

/// The `through:` block of the recorded scenario.
fn through_block(
    out: &mut String,
    setup: &ThroughSetup,
    scenario_dir: &Path,
    secrets: &SecretReads,
) {
    // Values of the block are interpolated when the pack loads; destination names are keys.
    let text = |value: &str| quoted(&recordable(value, secrets));
    out.push_str("through:\n");
    let _ = writeln!(out, "  input: {}", text(&setup.input));
    out.push_str("  destinations:\n");
    for (name, destination) in &setup.destinations {
        let listen = text(&destination.listen);
        match &destination.http {
            Some(http) => {
                let basic = http.basic.as_ref().map(|b| (b, secret_name(&b.password, secrets)));
                // The password is written as the variable it was read from, never as its
                // value; a password of a `:-default` (no variable set) cannot be, so the
                // destination is recorded without credentials and says so.
                if let Some((_, None)) = basic {
                    out.push_str(
                        "    # basic: not recorded (the password was not read from a variable \
                         set in the environment); add it by hand\n",
                    );
                }
                let basic = match basic {
                    Some((b, Some(variable))) => format!(
                        ", basic: {{ user: {}, password: {} }}",
                        text(&b.user),
                        quoted(&format!("${{{variable}}}"))
                    ),
                    _ => String::new(),
                };
                let _ = writeln!(
                    out,
                    "    {}: {{ listen: {listen}, http: {{ path: {}, max_body_bytes: {}, header_timeout: {}{basic} }} }}",
                    quoted(name),
                    text(&http.path),
                    http.max_body_bytes,
                    millis(http.header_timeout)
                );
            }
            None => {
                let _ = writeln!(out, "    {}: {{ listen: {listen} }}", quoted(name));
            }
        }
    }
    if let Some(command) = &setup.command {
        let dir = scenario_dir.display().to_string();
        let args: Vec<String> =
            command.iter().map(|a| text(&a.replace("{scenario_dir}", &dir))).collect();
        let _ = writeln!(out, "  sut:\n    command: [{}]", args.join(", "));
    }
    let _ = writeln!(out, "  key: {}", quoted(&setup.key.to_string()));
    let _ = writeln!(out, "  ack_timeout: {}", millis(setup.ack_timeout));
    let _ = writeln!(out, "  timeout: {}", millis(setup.timeout));
    let _ = writeln!(out, "  quiet: {}", millis(setup.quiet));
}

/// One case as a flow, and its messages (names and files) added to `messages`.
fn flow(
    out: &mut String,
    messages: &mut Vec<(String, String, Vec<u8>)>,
    number: usize,
    case: &CaseOutcome,
    recorded: Option<&ThroughCase>,
) {
    let Some(seen) = &case.observation.through else { return };
    let redaction = case.output_redaction.as_ref();
    let owned = owners(seen, redaction.map(|r| &r.key));
    let folder = format!("messages/{}", slug(&case.name));
    let _ = writeln!(out, "  - name: {}\n    send:", quoted(&case.name));
    for (i, input) in seen.inputs.iter().enumerate() {
        let name = format!("f{number}-in{}", i + 1);
        let _ = writeln!(out, "      - message: {}", quoted(&name));
        messages.push((name.clone(), format!("{folder}/in-{}.hl7", i + 1), input.payload.clone()));
        // Distinct outputs per destination: a resend under the same MSH-10 is one copy.
        let mut outputs: Vec<(&str, String, &[u8])> = Vec::new();
        for (a, arrival) in seen.arrivals.iter().enumerate() {
            if owned[a] != Some(i) {
                continue;
            }
            let id = Message::parse(&arrival.arrival.payload)
                .ok()
                .and_then(|m| m.control_id().map(str::to_string))
                .unwrap_or_default();
            let to = arrival.destination.as_str();
            if !outputs.iter().any(|(d, known, _)| *d == to && *known == id) {
                outputs.push((to, id, &arrival.arrival.payload));
            }
        }
        if outputs.is_empty() {
            out.push_str("        filtered: true\n");
            continue;
        }
        out.push_str("        expect:\n");
        let mut per_destination: std::collections::BTreeMap<&str, usize> = Default::default();
        for (to, _, payload) in outputs {
            let k = per_destination.entry(to).or_default();
            *k += 1;
            let output = format!("{name}-{}-{k}", slug(to));
            let file = format!("{folder}/in-{}-{}-{k}.hl7", i + 1, slug(to));
            messages.push((output.clone(), file, payload.to_vec()));
            let mut ignore = vec![quoted("MSH-7"), quoted("MSH-10")];
            for path in redaction.and_then(|r| r.volatile.get(to)).into_iter().flatten() {
                let path = quoted(&path.to_string());
                if !ignore.contains(&path) {
                    ignore.push(path);
                }
            }
            let _ = writeln!(
                out,
                "          - {{ to: {}, output: {}, ignore: [{}] }}",
                quoted(to),
                quoted(&output),
                ignore.join(", ")
            );
        }
    }
    let Some(recorded) = recorded else { return };
    if !recorded.answers.is_empty() {
        let answers = serde_json::to_string(&recorded.answers).unwrap_or_else(|_| "{}".into());
        let _ = writeln!(out, "    answers: {answers}");
    }
    if recorded.allow_reorder {
        out.push_str("    allow_reorder: true\n");
    }
    // The recorded pack exists to compare content: a skipped `through.content` is not copied.
    let skipped: Vec<String> = recorded
        .skip_checks
        .iter()
        .filter(|id| id.as_str() != "through.content")
        .map(|id| quoted(id))
        .collect();
    if !skipped.is_empty() {
        let _ = writeln!(out, "    skip_checks: [{}]", skipped.join(", "));
    }
}

/// The files of the pack recorded from `cases` (through cases of `scenario`): the scenario
/// file first, then its messages. `scenario_dir` is what `{scenario_dir}` becomes. `None` when
/// the scenario is not a through scenario or none of its cases ran.
pub fn recorded_files(
    scenario: &LoadedScenario,
    scenario_dir: &Path,
    cases: &[&CaseOutcome],
    seed: crate::vocab::Seed,
) -> Option<Vec<PackFile>> {
    let setup = scenario.file.through.as_ref()?;
    if cases.is_empty() {
        return None;
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Recorded by `hl7-harness run --record-through` from {} (seed {seed}): each flow sends\n\
         # the inputs as they were sent and expects exactly the outputs that arrived then, MSH-7,\n\
         # MSH-10 and the recorded case's ignore:/matches: paths ignored. Run it against a new\n\
         # version of the engine to see every field that changed.",
        scenario.path.display()
    );
    let _ =
        writeln!(out, "name: {}\nrole: through", quoted(&format!("{} (recorded)", scenario.name)));
    through_block(&mut out, setup, scenario_dir, &secret_reads(scenario));
    let mut flows = String::from("flows:\n");
    let mut messages = Vec::new();
    for (n, case) in cases.iter().enumerate() {
        let recorded = scenario.file.flows.iter().find(|f| f.name == case.name);
        flow(&mut flows, &mut messages, n + 1, case, recorded);
    }
    out.push_str("messages:\n");
    for (name, file, _) in &messages {
        let _ = writeln!(out, "  {}: {{ file: {} }}", quoted(name), quoted(file));
    }
    out.push_str(&flows);
    let stem = scenario.path.file_stem().map(|s| s.to_string_lossy().into_owned());
    let mut files = vec![(format!("{}.yaml", slug(&stem.unwrap_or_default())), out.into_bytes())];
    files.extend(messages.into_iter().map(|(_, file, bytes)| (file, bytes)));
    Some(files)
}

/// Writes the pack recorded from every through case of `outcome` into `dir/<pack>/`; returns
/// the scenario files written.
pub fn write(
    dir: &Path,
    packs: &[Pack],
    outcome: &RunOutcome,
) -> Result<Vec<PathBuf>, ThroughPackError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ThroughPackError::Io { path, source }
    };
    let mut written = Vec::new();
    for pack in packs {
        for scenario in &pack.scenarios {
            let cases: Vec<&CaseOutcome> = outcome
                .cases()
                .filter(|c| c.pack == pack.name && c.file == scenario.path)
                .filter(|c| c.observation.through.is_some())
                .collect();
            let parent = scenario.path.parent().unwrap_or(Path::new("."));
            let scenario_dir = std::fs::canonicalize(parent).map_err(io(parent))?;
            let Some(files) = recorded_files(scenario, &scenario_dir, &cases, outcome.seed) else {
                continue;
            };
            let folder = dir.join(slug(&pack.name));
            for (n, (relative, bytes)) in files.iter().enumerate() {
                let path = folder.join(relative);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(io(parent))?;
                }
                std::fs::write(&path, bytes).map_err(io(&path))?;
                if n == 0 {
                    written.push(path);
                }
            }
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observation::{Arrival, ThroughArrival, ThroughInput, ThroughObservation};
    use crate::scenario::{load_text, FileAccess};
    use std::time::Duration;

    const SCENARIO: &str = r#"role: through
through:
  destinations: { portal: {} }
  sut:
    command: ["{harness}", engine, "{scenario_dir}/r.yaml", --listen, "{input}"]
  quiet: 300ms
messages:
  admit: { text: "MSH|^~\\&|A|B|C|D|20240101||ADT^A01^ADT_A01|X|P|2.5\rPID|1||P1" }
flows:
  - name: "an admission: \"mapped\""
    send:
      - message: admit
        expect: [{ to: portal, ignore: [PID-2] }]
      - message: admit
        filtered: true
    answers: { portal: [no_ack, { late_ack: 300ms }] }
    skip_checks: [through.content, through.order]
"#;

    fn loaded(text: &str, name: &str) -> LoadedScenario {
        let known = crate::checks::generic_ids();
        load_text(Path::new(name), text, &known, FileAccess::default()).expect("loads")
    }

    fn arrival(payload: &str) -> ThroughArrival {
        let arrival =
            Arrival::unanswered(1, payload.as_bytes().to_vec(), Vec::new(), Duration::ZERO);
        ThroughArrival { destination: "portal".into(), arrival }
    }

    fn case(scenario: &LoadedScenario) -> CaseOutcome {
        let mut case = crate::report::overview::fixture::outcome(false).packs[0].cases[0].clone();
        case.name = scenario.file.flows[0].name.clone();
        let input = |id: &str| ThroughInput {
            label: "input".into(),
            payload: format!("MSH|^~\\&|A|B|C|D|20240101||ADT^A01^ADT_A01|{id}|P|2.5\rPID|1||P1")
                .into_bytes(),
            sent: Duration::ZERO,
            ack: None,
            event: None,
        };
        let out = "MSH|^~\\&|A|B|PORTAL|D|20240102||ADT^A01^ADT_A01|T1|P|2.5\rPID|1|G7|P1";
        // The second arrival is a resend of the first (same MSH-10): one expected output.
        case.observation.through = Some(ThroughObservation {
            inputs: vec![input("T1"), input("T2")],
            arrivals: vec![arrival(out), arrival(out)],
        });
        case.output_redaction = Some(crate::checks::OutputRedaction {
            key: crate::hl7::Path::parse("MSH-10").expect("a path"),
            volatile: [("portal".into(), vec![crate::hl7::Path::parse("PID-2").expect("a path")])]
                .into(),
        });
        case
    }

    /// The recorded scenario loads as a through scenario that expects the recorded output,
    /// filters the input nothing came of, and keeps the answers, but not a skipped content check.
    #[test]
    fn the_recorded_pack_is_a_through_scenario_of_the_recorded_outputs() {
        let scenario = loaded(SCENARIO, "/packs/engine/flows.yaml");
        let case = case(&scenario);
        let files =
            recorded_files(&scenario, Path::new("/packs/engine"), &[&case], crate::vocab::Seed(7))
                .expect("a through scenario");
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        let folder = "messages/an-admission-mapped";
        assert_eq!(
            names,
            [
                "flows.yaml",
                &format!("{folder}/in-1.hl7"),
                &format!("{folder}/in-1-portal-1.hl7"),
                &format!("{folder}/in-2.hl7")
            ]
        );
        let text = String::from_utf8(files[0].1.clone()).expect("utf-8");
        assert!(text.contains("\"/packs/engine/r.yaml\""), "{text}");
        // Loaded with the messages as text instead of the files they name.
        let mut inline = text.clone();
        for (name, bytes) in &files[1..] {
            let json = quoted(&String::from_utf8_lossy(bytes));
            inline = inline.replace(&format!("file: {}", quoted(name)), &format!("text: {json}"));
        }
        let replayed = loaded(&inline, "/recorded/flows.yaml");
        let flow = &replayed.file.flows[0];
        assert_eq!(flow.name, "an admission: \"mapped\"");
        assert_eq!(flow.send.len(), 2);
        let expect = &flow.send[0].expect;
        assert_eq!(expect.len(), 1, "{text}");
        assert_eq!(expect[0].to, "portal");
        let ignored: Vec<String> = expect[0].ignore.iter().map(|p| p.path.to_string()).collect();
        assert_eq!(ignored, ["MSH-7", "MSH-10", "PID-2"]);
        assert!(flow.send[1].filtered);
        assert_eq!(flow.answers, scenario.file.flows[0].answers);
        assert_eq!(flow.skip_checks, ["through.order"]);
        let setup = replayed.file.through.expect("a through setup");
        assert_eq!(setup.quiet, Duration::from_millis(300));
        assert_eq!(setup.destinations.keys().collect::<Vec<_>>(), ["portal"]);
    }

    /// A secret the scenario read (a token on the engine's command line, a destination's Basic
    /// password) is written back as its variable, never as its value, and a literal `${` stays
    /// literal: the recorded pack loads to the same engine command and credentials.
    #[test]
    fn secrets_are_recorded_as_their_variables_and_literals_stay_literal() {
        std::env::set_var("HL7H_THROUGH_PACK_TEST_TOKEN", "tok-4f9a2c71");
        std::env::set_var("HL7H_THROUGH_PACK_TEST_PASSWORD", "pw-8b3e5d02");
        let through = "role: through\nthrough:\n  destinations:\n    portal:\n      http:\n        \
             path: /in\n        basic: { user: feed, password: \"${HL7H_THROUGH_PACK_TEST_PASSWORD}\" }\n  \
             sut:\n    command: [\"{harness}\", engine, --token, \"${HL7H_THROUGH_PACK_TEST_TOKEN}\", \
             \"$${literal}\"]\n";
        let text =
            SCENARIO.replace(&SCENARIO[..SCENARIO.find("  quiet:").expect("quiet")], through);
        let scenario = loaded(&text, "/packs/engine/flows.yaml");
        let case = case(&scenario);
        let files =
            recorded_files(&scenario, Path::new("/packs/engine"), &[&case], crate::vocab::Seed(7))
                .expect("a through scenario");
        let recorded = String::from_utf8(files[0].1.clone()).expect("utf-8");
        for secret in ["tok-4f9a2c71", "pw-8b3e5d02"] {
            assert!(!recorded.contains(secret), "{secret} written: {recorded}");
        }
        assert!(recorded.contains("\"${HL7H_THROUGH_PACK_TEST_TOKEN}\""), "{recorded}");
        assert!(recorded.contains("\"$${literal}\""), "{recorded}");
        let mut inline = recorded.clone();
        for (name, bytes) in &files[1..] {
            let json = quoted(&String::from_utf8_lossy(bytes));
            inline = inline.replace(&format!("file: {}", quoted(name)), &format!("text: {json}"));
        }
        let replayed = loaded(&inline, "/recorded/flows.yaml");
        let (was, now) =
            (scenario.file.through.expect("setup"), replayed.file.through.expect("setup"));
        assert_eq!(now.command, was.command);
        assert_eq!(now.command.as_ref().map(|c| c[3].as_str()), Some("tok-4f9a2c71"));
        assert_eq!(now.command.as_ref().map(|c| c[4].as_str()), Some("${literal}"));
        let password = |s: &ThroughSetup| {
            s.destinations["portal"]
                .http
                .as_ref()
                .and_then(|h| h.basic.as_ref())
                .map(|b| b.password.clone())
        };
        assert_eq!(password(&now).as_deref(), Some("pw-8b3e5d02"));
        assert_eq!(password(&now), password(&was));
    }

    #[test]
    fn a_scenario_of_another_role_records_nothing() {
        let other = "target: { url: builtin }\nmessages: { m: { text: \"MSH|^~\\\\&|A|B|C|D|20240101||ADT^A01|X|P|2.5\" } }\ncases: [{ name: x, send: m }]\n";
        let scenario = loaded(other, "/packs/x.yaml");
        let case = case(&loaded(SCENARIO, "/packs/engine/flows.yaml"));
        assert!(recorded_files(&scenario, Path::new("/packs"), &[&case], crate::vocab::Seed(7))
            .is_none());
    }
}
