//! Loading scenario files and packs: the files of a pack, strict YAML into the raw types, then
//! [`super::resolve`] (cross-references, templates' messages, the resolved `Scenario`). Every
//! problem is one [`LoadError`] naming file, line and column, with a "did you mean" where one
//! helps.

use super::files::{check_pack_file, FileAccess};
use super::interpolate::Interpolation;
use super::interpolating::Interpolating;
use super::limits::{check_expansion, check_nesting, MAX_NESTING, MAX_SCENARIO_BYTES};
use super::raw::{ScenarioFile, Template};
use super::resolve::{resolve, LoadContext, Scenario};
use crate::hl7::batch::split_batch;
use crate::profile::LoadedProfile;
use std::fmt;
use std::path::{Path, PathBuf};

/// Largest template file read (a message file; anything larger is a mistake). Scenario files
/// have their own, smaller limit ([`MAX_SCENARIO_BYTES`]).
const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// A problem in a scenario file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    pub file: PathBuf,
    /// 1-based; 0 when the problem is the file as a whole.
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl std::error::Error for LoadError {}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(f, "{}:{}:{}: {}", self.file.display(), self.line, self.column, self.message)
        }
    }
}

/// One message a template stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateMessage {
    /// `file.hl7`, `file.hl7#2` for the second message of a file, or the template name.
    pub label: String,
    pub bytes: Vec<u8>,
    /// Not HL7: sent as it is, no edits, no generic ACK checks that need the sent message.
    pub raw: bool,
}

/// A scenario file, read and checked.
#[derive(Debug, Clone)]
pub struct LoadedScenario {
    pub path: PathBuf,
    pub name: String,
    /// The file, resolved: what the runner reads.
    pub file: Scenario,
    /// The file's bytes, for content hashes in reports.
    pub source: Vec<u8>,
    /// The environment variables its `${VAR}` interpolation read (for the reproduce line).
    pub environment: Vec<super::interpolate::VariableRead>,
    /// Under [`LoadOptions::unset_allowed`]: the variables it read that are not set and have
    /// no default, sorted, each once.
    pub unset: Vec<String>,
}

/// A directory of scenario files.
#[derive(Debug, Clone)]
pub struct Pack {
    pub name: String,
    pub dir: PathBuf,
    pub scenarios: Vec<LoadedScenario>,
}

/// Check ids a case may list in `skip_checks` (set by the runner from the checks catalogue).
pub type KnownChecks<'a> = &'a [&'a str];

/// Loads the packs named by `paths`: a `.yaml` file (a pack of one), a directory holding
/// `.yaml` files (a pack), or a directory of such directories (several packs). Collects every
/// error rather than stopping at the first.
/// `access` says whether the packs' file references may leave their folders (see
/// [`check_pack_file`]).
pub fn load_packs(
    paths: &[PathBuf],
    known_checks: KnownChecks,
    access: FileAccess,
) -> Result<Vec<Pack>, Vec<LoadError>> {
    load_packs_for(paths, known_checks, access, LoadOptions::default())
}

/// How files are read beyond their paths: what the command line says about interpolation.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadOptions<'a> {
    /// The target profile given on the command line (`--target-profile`): `${profile.NAME}` in
    /// every file reads its `site:` map rather than the file's own `target.profile`'s.
    pub profile: Option<&'a LoadedProfile>,
    /// `run --check`: a variable that is not set and has no default reads as
    /// [`super::UNSET_PLACEHOLDER`] and is listed in [`LoadedScenario::unset`] instead of
    /// refused (a pack is checked on a machine that does not hold the run's secrets).
    pub unset_allowed: bool,
}

/// [`load_packs`] with the command line's [`LoadOptions`].
pub fn load_packs_for(
    paths: &[PathBuf],
    known_checks: KnownChecks,
    access: FileAccess,
    options: LoadOptions,
) -> Result<Vec<Pack>, Vec<LoadError>> {
    let mut packs = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        let groups = match pack_files(path) {
            Ok(groups) => groups,
            Err(error) => {
                let message = error.to_string();
                errors.push(LoadError { file: path.clone(), line: 0, column: 0, message });
                continue;
            }
        };
        for (dir, files) in groups {
            let name = dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| dir.display().to_string());
            let mut scenarios = Vec::new();
            for file in files {
                match load_file_for(&file, known_checks, access, options) {
                    Ok(scenario) => scenarios.push(scenario),
                    Err(mut errs) => errors.append(&mut errs),
                }
            }
            packs.push(Pack { name, dir, scenarios });
        }
    }
    if errors.is_empty() {
        Ok(packs)
    } else {
        Err(errors)
    }
}

/// A scenario file: `.yaml` or `.yml`, but not a target profile kept beside the packs
/// (`NAME.profile.yaml`, read with `--target-profile` or a scenario's `target.profile`) nor a
/// reference engine's route file (`NAME.routes.yaml`, read by `hl7-harness engine`).
fn is_yaml(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
        && !name.ends_with(".profile.yaml")
        && !name.ends_with(".profile.yml")
        && !name.ends_with(".routes.yaml")
        && !name.ends_with(".routes.yml")
}

/// Why a path given to `run` or `load` holds no pack.
#[derive(Debug, thiserror::Error)]
pub enum PackError {
    #[error("cannot read directory: {0}")]
    Directory(#[source] std::io::Error),
    #[error("a target profile, not a scenario file: give it with --target-profile")]
    Profile,
    #[error("not a scenario file (expected .yaml or .yml)")]
    NotYaml,
    #[error("no such file or directory")]
    Missing,
    #[error("no scenario files (*.yaml) here or in its subdirectories")]
    Empty,
}

/// Why a file (a scenario, a profile, a template's messages) could not be read whole.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{len} bytes is more than the {max}-byte limit")]
    TooLarge { len: u64, max: u64 },
}

/// Why a template stands for no messages. Names paths and offsets, never a file's bytes.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("bad glob {pattern:?}: {source}")]
    BadGlob {
        pattern: String,
        #[source]
        source: glob::PatternError,
    },
    #[error("{0}")]
    GlobEntry(#[from] glob::GlobError),
    #[error("{0}")]
    Refused(#[from] super::files::FileRefused),
    #[error("glob {pattern:?} matches no file (looked in {})", dir.display())]
    NoMatch { pattern: String, dir: PathBuf },
    #[error("{shown}: {source}")]
    Read {
        shown: String,
        #[source]
        source: ReadError,
    },
    #[error("{shown}: byte {offset}: not a usable HL7 v2 message ({code})")]
    NotHl7 { shown: String, offset: usize, code: &'static str },
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, PackError> {
    let entries = std::fs::read_dir(dir).map_err(PackError::Directory)?;
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    Ok(paths)
}

/// Groups the scenario files under `path` by pack directory.
fn pack_files(path: &Path) -> Result<Vec<(PathBuf, Vec<PathBuf>)>, PackError> {
    if path.is_file() {
        if path.to_string_lossy().contains(".profile.y") {
            return Err(PackError::Profile);
        }
        if !is_yaml(path) {
            return Err(PackError::NotYaml);
        }
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        return Ok(vec![(dir, vec![path.to_path_buf()])]);
    }
    if !path.is_dir() {
        return Err(PackError::Missing);
    }
    let entries = sorted_entries(path)?;
    let files: Vec<PathBuf> =
        entries.iter().filter(|p| p.is_file() && is_yaml(p)).cloned().collect();
    if !files.is_empty() {
        return Ok(vec![(path.to_path_buf(), files)]);
    }
    let mut groups = Vec::new();
    for sub in entries.iter().filter(|p| p.is_dir()) {
        let files: Vec<PathBuf> =
            sorted_entries(sub)?.into_iter().filter(|p| p.is_file() && is_yaml(p)).collect();
        if !files.is_empty() {
            groups.push((sub.clone(), files));
        }
    }
    if groups.is_empty() {
        return Err(PackError::Empty);
    }
    Ok(groups)
}

/// Reads at most `max` bytes, refusing a larger file before reading it (and one that grew
/// while read).
pub(super) fn read_limited(path: &Path, max: u64) -> Result<Vec<u8>, ReadError> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    if len > max {
        return Err(ReadError::TooLarge { len, max });
    }
    let mut bytes = Vec::new();
    file.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(ReadError::TooLarge { len: bytes.len() as u64, max });
    }
    Ok(bytes)
}

/// Reads and checks one scenario file.
pub fn load_file(
    path: &Path,
    known_checks: KnownChecks,
    access: FileAccess,
) -> Result<LoadedScenario, Vec<LoadError>> {
    load_file_for(path, known_checks, access, LoadOptions::default())
}

/// [`load_file`] with the command line's [`LoadOptions`].
pub fn load_file_for(
    path: &Path,
    known_checks: KnownChecks,
    access: FileAccess,
    options: LoadOptions,
) -> Result<LoadedScenario, Vec<LoadError>> {
    let whole =
        |message: String| vec![LoadError { file: path.into(), line: 0, column: 0, message }];
    let source = read_limited(path, MAX_SCENARIO_BYTES).map_err(|e| whole(e.to_string()))?;
    let text = std::str::from_utf8(&source).map_err(|e| {
        whole(format!("not UTF-8 text (byte {}); scenario files are UTF-8", e.valid_up_to()))
    })?;
    load_text_for(path, text, known_checks, access, options)
}

/// Checks scenario text as if it were the file `path` (file references resolve beside it).
pub fn load_text(
    path: &Path,
    text: &str,
    known_checks: KnownChecks,
    access: FileAccess,
) -> Result<LoadedScenario, Vec<LoadError>> {
    load_text_for(path, text, known_checks, access, LoadOptions::default())
}

/// [`load_text`] with the command line's [`LoadOptions`].
pub fn load_text_for(
    path: &Path,
    text: &str,
    known_checks: KnownChecks,
    access: FileAccess,
    options: LoadOptions,
) -> Result<LoadedScenario, Vec<LoadError>> {
    let cli_profile = options.profile;
    let whole = |line: usize, message: String| {
        vec![LoadError { file: path.into(), line, column: usize::from(line > 0), message }]
    };
    if text.len() as u64 > MAX_SCENARIO_BYTES {
        let message =
            format!("{} bytes is more than the {MAX_SCENARIO_BYTES}-byte limit", text.len());
        return Err(whole(0, message));
    }
    if let Err(line) = check_nesting(text) {
        let message = format!(
            "nested more than {MAX_NESTING} levels deep; a scenario file is refused past that"
        );
        return Err(whole(line, message));
    }
    let source = text.as_bytes().to_vec();
    let dir = path.parent().unwrap_or(Path::new("."));
    // `${profile.NAME}` reads the site map of the profile this file will be graded against:
    // the command line's, else the file's own `target.profile` (read ahead of the rest).
    let own = match cli_profile {
        Some(_) => None,
        None => own_profile(text, dir, access, options.unset_allowed),
    };
    // Keys the profile leaves out (or all of them, with no profile) take the built-in
    // endpoint's values: it is the default target, and a system with another policy declares
    // it in its profile's site:.
    let mut site = crate::profile::builtin_site();
    if let Some(profile) = cli_profile.or(own.as_ref()) {
        site.extend(profile.profile.site.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    let interpolation = Interpolation::new(Some(site), options.unset_allowed);
    let file = from_yaml_with::<ScenarioFile>(text, &interpolation);
    let (environment, unset) = interpolation.finish();
    let file = file.map_err(|e| vec![yaml_error(path, &e)])?;
    let context = LoadContext { path, text, access, known_checks };
    let name = file.name.clone().unwrap_or_else(|| {
        path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
    });
    let file = resolve(file, &context).map_err(|errors| errors.0)?;
    Ok(LoadedScenario { path: path.to_path_buf(), name, file, source, environment, unset })
}

/// The profile a scenario file names in `target.profile`, read before the file itself so that
/// `${profile.NAME}` can be filled in; `None` when it names none or it cannot be read (the full
/// read then reports why, with the line).
fn own_profile(
    text: &str,
    dir: &Path,
    access: FileAccess,
    unset_allowed: bool,
) -> Option<LoadedProfile> {
    // Through `from_yaml`, so the alias and size limits hold for this first read too; a path
    // the pack may not read is left for the full load to report.
    let value: serde_yaml::Value = from_yaml(text).ok()?;
    let written = value.get("target")?.get("profile")?.as_str()?;
    let written = Interpolation::new(None, unset_allowed).interpolate(written).ok()?;
    let path = check_pack_file(dir, &written, access).ok()?;
    super::profile::load_profile(&path).ok()
}

/// Reads YAML the way scenario files are written: enums as single-key maps (`file: x.hl7`,
/// `non_ascii: {…}`) or plain strings for the ones without parameters (`half_close`). A first
/// pass counts the values with aliases expanded and refuses a document past the limits of
/// [`super::limits`] before anything is built from it.
/// `${VAR}` in it is filled in from the environment alone.
pub fn from_yaml<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, serde_yaml::Error> {
    from_yaml_with(text, &Interpolation::default())
}

/// [`from_yaml`] with `${…}` filled in by `interpolation` (a scenario file's site map and
/// rules), which records what it read.
pub(super) fn from_yaml_with<T: serde::de::DeserializeOwned>(
    text: &str,
    interpolation: &Interpolation,
) -> Result<T, serde_yaml::Error> {
    check_expansion(serde_yaml::Deserializer::from_str(text))?;
    let de = Interpolating { de: serde_yaml::Deserializer::from_str(text), ctx: interpolation };
    serde_yaml::with::singleton_map_recursive::deserialize(de)
}

/// Writes YAML the way [`from_yaml`] reads it back (enums as single-key maps), leaving out keys
/// whose value is empty (`null`, `{}`): in the files this crate writes (target profiles) an
/// absent key and an empty one mean the same, and the shorter file is the one people read.
pub fn to_yaml<T: serde::Serialize>(value: &T) -> Result<String, serde_yaml::Error> {
    let mut tree =
        serde_yaml::with::singleton_map_recursive::serialize(value, serde_yaml::value::Serializer)?;
    prune(&mut tree);
    serde_yaml::to_string(&tree)
}

/// Drops mapping entries whose value is `null` or an empty mapping, at every depth.
fn prune(value: &mut serde_yaml::Value) {
    match value {
        serde_yaml::Value::Mapping(map) => {
            for (_, v) in map.iter_mut() {
                prune(v);
            }
            map.retain(|_, v| {
                !(v.is_null() || v.as_mapping().is_some_and(serde_yaml::Mapping::is_empty))
            });
        }
        serde_yaml::Value::Sequence(items) => items.iter_mut().for_each(prune),
        _ => {}
    }
}

/// The messages a template stands for.
pub(super) fn template_messages(
    name: &str,
    template: &Template,
    dir: &Path,
    access: FileAccess,
) -> Result<Vec<TemplateMessage>, TemplateError> {
    match template {
        Template::Text(text) => {
            let bytes =
                text.trim_end_matches(['\n', '\r']).replace("\r\n", "\r").replace('\n', "\r");
            Ok(vec![TemplateMessage {
                label: name.to_string(),
                bytes: bytes.into_bytes(),
                raw: false,
            }])
        }
        Template::Raw(text) => Ok(vec![TemplateMessage {
            label: name.to_string(),
            bytes: text.clone().into_bytes(),
            raw: true,
        }]),
        Template::File(file) => file_messages(&file.resolved, &file.written),
        Template::Glob(pattern) => {
            let full = dir.join(pattern);
            let paths = glob::glob(&full.to_string_lossy())
                .map_err(|source| TemplateError::BadGlob { pattern: pattern.clone(), source })?;
            let mut out = Vec::new();
            for entry in paths {
                let path = entry?;
                let shown = path.strip_prefix(dir).unwrap_or(&path).display().to_string();
                let path = check_pack_file(dir, &shown, access)?;
                out.extend(file_messages(&path, &shown)?);
            }
            if out.is_empty() {
                return Err(TemplateError::NoMatch { pattern: pattern.clone(), dir: dir.into() });
            }
            Ok(out)
        }
    }
}

/// The messages of one file (several for batches and back-to-back messages). An error names
/// the file, the byte offset and what is wrong, never the file's bytes: the file may be
/// anything the pack pointed at.
fn file_messages(path: &Path, shown: &str) -> Result<Vec<TemplateMessage>, TemplateError> {
    let bytes = read_limited(path, MAX_FILE_BYTES)
        .map_err(|source| TemplateError::Read { shown: shown.into(), source })?;
    let split = split_batch(&bytes).map_err(|e| TemplateError::NotHl7 {
        shown: shown.into(),
        offset: e.offset(),
        code: e.code(),
    })?;
    let many = split.messages.len() > 1;
    Ok(split
        .messages
        .iter()
        .enumerate()
        .map(|(i, m)| TemplateMessage {
            label: if many { format!("{shown}#{}", i + 1) } else { shown.to_string() },
            bytes: bytes[m.clone()].to_vec(),
            raw: false,
        })
        .collect())
}

/// Turns a serde_yaml error into file:line:col plus a "did you mean" for unknown keys.
pub(super) fn yaml_error(path: &Path, err: &serde_yaml::Error) -> LoadError {
    let (line, column) = err.location().map(|l| (l.line(), l.column())).unwrap_or((0, 0));
    let mut message = err.to_string();
    if let Some(i) = message.rfind(" at line ") {
        message.truncate(i);
    }
    if let Some(hint) = unknown_name_hint(&message) {
        message.push_str(&hint);
    }
    LoadError { file: path.into(), line, column, message }
}

/// For serde's "unknown field `x`, expected one of `a`, `b`" (and variants).
fn unknown_name_hint(message: &str) -> Option<String> {
    let start = message
        .find("unknown field `")
        .map(|i| i + 15)
        .or_else(|| message.find("unknown variant `").map(|i| i + 17))?;
    let given = &message[start..start + message[start..].find('`')?];
    let expected = &message[message.find("expected")?..];
    let options: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    if let Some(hint) = crate::faults::foreign_word_hint(given, &options) {
        return Some(hint);
    }
    suggest(given, &options).map(|s| format!(" (did you mean `{s}`?)"))
}

/// The closest of `options` to `given`, when it is close enough to be a typo.
pub fn suggest<'a>(given: &str, options: &[&'a str]) -> Option<&'a str> {
    let given = given.to_ascii_lowercase();
    options
        .iter()
        .map(|o| (edit_distance(&given, &o.to_ascii_lowercase()), *o))
        .filter(|(d, o)| *d <= 2.max(o.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, o)| o)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

/// 1-based line and column of the first occurrence of `needle`, or (0, 0).
pub(super) fn locate(text: &str, needle: &str) -> (usize, usize) {
    let Some(offset) = text.find(needle) else { return (0, 0) };
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line = text[..offset].matches('\n').count() + 1;
    (line, text[line_start..offset].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_are_close_names_only() {
        assert_eq!(suggest("exepct", &["expect", "send", "name"]), Some("expect"));
        assert_eq!(suggest("zzzzzz", &["expect", "send"]), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(locate("a\n  bc: d\n", "bc:"), (2, 3));
        assert_eq!(locate("abc", "zz"), (0, 0));
    }

    /// Every file a scenario names is resolved after the YAML is read, and every refusal is
    /// reported at once with the line it stands on.
    #[test]
    fn every_missing_file_is_reported_at_once() {
        let dir = std::env::temp_dir().join(format!("hl7h-filerefs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("s.yaml");
        let text = "target: { url: builtin, profile: nowhere.profile.yaml }\n\
                    messages:\n  a: { file: missing-a.hl7 }\n  b: { file: missing-b.hl7 }\n\
                    cases:\n  - name: x\n    send: a\n";
        let Err(errors) =
            load_text_for(&path, text, &[], FileAccess::default(), LoadOptions::default())
        else {
            panic!("a scenario naming missing files must be refused");
        };
        let _ = std::fs::remove_dir_all(&dir);
        let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [1, 3, 4], "{errors:?}");
        let keys: Vec<&str> =
            errors.iter().filter_map(|e| e.message.split(": file ").next()).collect();
        assert_eq!(keys, ["target.profile", "messages.a", "messages.b"], "{errors:?}");
        assert!(errors[1].message.contains("missing-a.hl7"), "{errors:?}");
    }
}
