//! Reading a target profile file (`run --target-profile FILE`, a pack's `target.profile`):
//! the same strict YAML as scenario files, with file:line:column errors, and its sha256.

use super::limits::{check_nesting, MAX_NESTING, MAX_SCENARIO_BYTES};
use super::load::{from_yaml, read_limited, yaml_error, LoadError};
use crate::profile::{LoadedProfile, TargetProfile};
use sha2::{Digest, Sha256};
use std::path::Path;

/// Reads, parses and hashes the target profile at `path`.
pub fn load_profile(path: &Path) -> Result<LoadedProfile, LoadError> {
    let whole = |message: String| LoadError { file: path.into(), line: 0, column: 0, message };
    // The limits of scenario YAML (size, nesting, alias expansion in `from_yaml`) hold here too.
    let bytes = read_limited(path, MAX_SCENARIO_BYTES)
        .map_err(|e| whole(format!("target profile: {e}")))?;
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        whole(format!("not UTF-8 text (byte {}); target profiles are UTF-8", e.valid_up_to()))
    })?;
    if let Err(line) = check_nesting(text) {
        return Err(LoadError {
            file: path.into(),
            line,
            column: 1,
            message: format!("nested more than {MAX_NESTING} levels deep; refused past that"),
        });
    }
    let profile: TargetProfile = if text.trim().is_empty() {
        TargetProfile::default()
    } else {
        from_yaml(text).map_err(|e| yaml_error(path, &e))?
    };
    let shape =
        crate::profile::message::check_shape(&profile.message_profiles, &profile.value_sets);
    if !shape.is_empty() {
        let listed: Vec<String> = shape.iter().map(|e| format!("  {e}")).collect();
        return Err(whole(format!(
            "{} problem(s) in message_profiles:\n{}",
            shape.len(),
            listed.join("\n")
        )));
    }
    let sha256 = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
    Ok(LoadedProfile { path: path.to_path_buf(), sha256, profile: std::sync::Arc::new(profile) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("hl7h-profile-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("profile.yaml");
        std::fs::write(&path, text).expect("write");
        path
    }

    #[test]
    fn message_profile_shape_errors_are_all_listed() {
        let path = write(
            "shape",
            "message_profiles:\n- message: ADT^A04\n  constraints:\n    PID-8: { value_set: nope }\n    PID-7: { usage: C }\n",
        );
        let error = load_profile(&path).expect_err("two problems").to_string();
        assert!(error.contains("2 problem(s)"), "{error}");
        assert!(error.contains("constraints PID-8") && error.contains("\"nope\""), "{error}");
        assert!(error.contains("constraints PID-7") && error.contains("predicate"), "{error}");
    }

    #[test]
    fn a_bad_predicate_names_its_line() {
        let path = write(
            "predicate",
            "message_profiles:\n- message: ADT^A04\n  constraints:\n    PID-7: { usage: C, predicate: 'PID-8 is vaguely' }\n",
        );
        let error = load_profile(&path).expect_err("bad predicate").to_string();
        assert!(error.contains(":4:"), "{error}");
        assert!(error.contains("column 10"), "{error}");
    }

    #[test]
    fn loads_and_hashes() {
        let path = write("ok", "versions: [\"2.5.1\"]\nmessages: any\n");
        let loaded = load_profile(&path).expect("loads");
        assert_eq!(loaded.sha256.len(), 64);
        assert_eq!(loaded.name(), "profile");
        assert!(loaded.profile.messages.is_some());
    }

    #[test]
    fn errors_name_the_line_and_key() {
        let path = write("bad", "versions: any\nacknowledgment_mode: [original]\n");
        let error = load_profile(&path).expect_err("unknown key");
        assert_eq!(error.line, 2, "{error}");
        assert!(error.to_string().contains("acknowledgment_mode"), "{error}");
    }
}
