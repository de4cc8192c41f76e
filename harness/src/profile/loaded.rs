//! A profile as loaded from its file (path and sha256, which reports print), and its JSON Schema.

use super::TargetProfile;
use std::path::PathBuf;

/// A profile as read from its file: reports name it by path and sha256, so a signed report
/// certifies a system against exactly these declarations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedProfile {
    pub path: PathBuf,
    /// Hex sha256 of the file's bytes.
    pub sha256: String,
    pub profile: std::sync::Arc<TargetProfile>,
}

impl LoadedProfile {
    /// The profile's name: its `name:`, else the file name.
    pub fn name(&self) -> String {
        self.profile.name.clone().unwrap_or_else(|| {
            self.path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
        })
    }
}

/// A profile as a report names it: name, path and sha256.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProfileUsed {
    pub name: String,
    /// The profile's own `version:` (of the interface specification), when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The path as the run was given it, `/` separators.
    pub path: String,
    pub sha256: String,
}

impl ProfileUsed {
    /// `name (path, sha256 …)` for each, or what an empty list means.
    pub fn describe(profiles: &[ProfileUsed]) -> String {
        if profiles.is_empty() {
            return "none (graded by the standard's most permissive reading)".into();
        }
        let shown: Vec<String> = profiles
            .iter()
            .map(|p| match &p.version {
                Some(v) => format!("{} version {v} ({}, sha256 {})", p.name, p.path, p.sha256),
                None => format!("{} ({}, sha256 {})", p.name, p.path, p.sha256),
            })
            .collect();
        shown.join("; ")
    }
}

impl From<&LoadedProfile> for ProfileUsed {
    fn from(loaded: &LoadedProfile) -> ProfileUsed {
        ProfileUsed {
            name: loaded.name(),
            version: loaded.profile.version.clone(),
            path: loaded.path.display().to_string().replace('\\', "/"),
            sha256: loaded.sha256.clone(),
        }
    }
}

/// The JSON Schema of the target profile format, generated from the types serde reads.
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(TargetProfile)).unwrap_or(serde_json::Value::Null)
}
