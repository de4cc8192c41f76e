//! The command line that runs one case again with the same bytes.

use super::options::RunOptions;
use crate::scenario::LoadedScenario;
use crate::transport::userinfo::redact;

/// `text` as one POSIX shell word (single-quoted when it needs to be).
pub fn shell_quote(text: &str) -> String {
    if text.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=".contains(c)) {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// The command that runs one case again: the same file, case, seed, target (without
/// credentials), state endpoint, target profile, defects and exclusions, after the
/// environment variables the scenario read, with their values (a secret's only by name:
/// `NAME="$NAME"` takes it from the shell the command is pasted into).
pub(super) fn reproduce(scenario: &LoadedScenario, name: &str, options: &RunOptions) -> String {
    let mut parts: Vec<String> = scenario
        .environment
        .iter()
        .map(|read| match &read.value {
            Some(value) => format!("{}={}", read.name, shell_quote(value)),
            None => format!("{0}=\"${0}\"", read.name),
        })
        .collect();
    parts.extend([
        "hl7-harness run".to_string(),
        shell_quote(&scenario.path.display().to_string()),
        "--filter".into(),
        shell_quote(name),
        "--seed".into(),
        options.seed.to_string(),
    ]);
    for text in &options.exclude {
        parts.extend(["--exclude".into(), shell_quote(text)]);
    }
    if let Some(target) = &options.target {
        // Without userinfo: a password given in the URL is never repeated (README, "Targets").
        parts.extend(["--target".into(), shell_quote(&redact(target))]);
    }
    if let Some(state) = &options.state {
        parts.extend(["--state".into(), shell_quote(&redact(state))]);
    }
    if let Some(profile) = &options.profile {
        parts.extend(["--target-profile".into(), shell_quote(&profile.path.display().to_string())]);
    }
    for defect in options.defects.iter() {
        parts.extend(["--target-defect".into(), defect.name().to_string()]);
    }
    for defect in &options.sut_defects {
        parts.extend(["--sut-defect".into(), shell_quote(defect)]);
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::Seed;
    use std::path::PathBuf;
    use std::sync::Arc;

    const SCENARIO: &str = "
name: env
target:
  url: \"${HL7H_REPRO_TEST_URL:-http://127.0.0.1:9/hl7}\"
  state: \"${HL7H_REPRO_TEST_STATE:-http://reader:pw@127.0.0.1:9}\"
auth: { basic: { user: \"${HL7H_REPRO_TEST_USER:-u}\", password: \"${HL7H_REPRO_TEST_PW:-p}\" } }
messages:
  m: { text: \"MSH|^~\\\\&|S|SF|R|RF|20240101||ADT^A04^ADT_A01|X|P|2.5\" }
cases:
  - name: one
    send: m
";

    /// The reproduce line sets the environment the file read (a secret, or a value holding
    /// credentials, only by name), and repeats the target without its credentials, the
    /// profile and the exclusions.
    #[test]
    fn reproduce_sets_the_environment_and_never_shows_credentials() {
        let path = std::path::Path::new("env.yaml");
        let scenario =
            crate::scenario::load_text(path, SCENARIO, &[], crate::scenario::FileAccess::PackOnly)
                .unwrap();
        let options = RunOptions {
            seed: Seed(4),
            target: Some("mllp://op:hunter2@127.0.0.1:2575".into()),
            profile: Some(crate::profile::LoadedProfile {
                path: PathBuf::from("profiles/site.yaml"),
                sha256: String::new(),
                profile: Arc::default(),
            }),
            exclude: vec!["slow one".into()],
            ..RunOptions::default()
        };
        let line = reproduce(&scenario, "one", &options);
        assert_eq!(
            line,
            "HL7H_REPRO_TEST_URL=http://127.0.0.1:9/hl7 \
             HL7H_REPRO_TEST_STATE=\"$HL7H_REPRO_TEST_STATE\" HL7H_REPRO_TEST_USER=u \
             HL7H_REPRO_TEST_PW=\"$HL7H_REPRO_TEST_PW\" hl7-harness run env.yaml --filter one \
             --seed 4 --exclude 'slow one' --target mllp://127.0.0.1:2575 \
             --target-profile profiles/site.yaml"
        );
        assert!(!line.contains("hunter2") && !line.contains(":pw@") && !line.contains("=p "));
    }
}
