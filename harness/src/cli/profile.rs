//! `hl7-harness profile import|show`: XML message profiles into the target profile, and a
//! profile as tables. The reading (with its size limit) is here; the importing and rendering
//! are `profile_import`'s.

use super::exit;
use crate::profile::TargetProfile;
use crate::profile_import::{
    self, Companion, Format, ImportError, Imported, Source, MAX_XML_BYTES,
};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Args)]
pub struct ProfileArgs {
    #[command(subcommand)]
    pub command: ProfileCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum ProfileCommand {
    /// Import an XML message profile into a target profile (YAML): the HL7 v2.x format
    /// (`HL7v2xConformanceProfile`, as HAPI reads it) or a NIST/IGAMT export
    /// (`ConformanceProfile`, with ValueSets.xml, ValueSetBindings.xml and Constraints.xml found
    /// beside it unless given). What the target profile cannot carry as written is printed to
    /// stderr as `FILE:LINE: <Element> note`; with --strict any note is an error (exit 2).
    Import(ImportArgs),
    /// Print a profile's message constraints as tables, one row per group, segment, field,
    /// component and sub-component (usage, cardinality, length, data type, value set, fixed
    /// value, pattern, predicate). Reads a target profile (YAML) or an XML message profile.
    Show(ShowArgs),
    /// Generate a receiver pack from a profile's message profiles: valid messages expected to
    /// be accepted (AA) and one broken variant per constraint, answered as the profile's
    /// `missing_required` / `invalid_values` declare (see docs/guide/profile-pack.md).
    Pack(super::profile_pack::PackArgs),
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The XML message profile (e.g. Profile.xml).
    pub file: PathBuf,
    /// The value set library of a NIST export [default: ValueSets.xml beside FILE].
    #[arg(long, value_name = "FILE")]
    pub value_sets: Option<PathBuf>,
    /// The value set bindings of a NIST export [default: ValueSetBindings.xml or Bindings.xml
    /// beside FILE].
    #[arg(long, value_name = "FILE")]
    pub bindings: Option<PathBuf>,
    /// The conformance context of a NIST export [default: Constraints.xml beside FILE].
    #[arg(long, value_name = "FILE")]
    pub constraints: Option<PathBuf>,
    /// Write the target profile here instead of to stdout.
    #[arg(short, long, value_name = "OUT.yaml")]
    pub out: Option<PathBuf>,
    /// Fail (exit 2, nothing written) when the import gives any note.
    #[arg(long)]
    pub strict: bool,
}

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// A target profile (.yaml) or an XML message profile (.xml; its notes go to stderr).
    pub file: PathBuf,
}

pub fn run(args: &ProfileArgs, out: &mut dyn Write) -> anyhow::Result<i32> {
    match &args.command {
        ProfileCommand::Import(a) => import(a, out),
        ProfileCommand::Show(a) => show(a, out),
        ProfileCommand::Pack(a) => super::profile_pack::run(a, out),
    }
}

/// Exit 0 when imported (notes on stderr), 2 when unreadable, or with --strict when any note.
fn import(args: &ImportArgs, out: &mut dyn Write) -> anyhow::Result<i32> {
    let explicit = [
        (Companion::ValueSets, args.value_sets.as_deref()),
        (Companion::Bindings, args.bindings.as_deref()),
        (Companion::Constraints, args.constraints.as_deref()),
    ];
    let imported = read_and_import(&args.file, &explicit)?;
    for note in &imported.notes {
        eprintln!("hl7-harness: note: {note}");
    }
    if args.strict && !imported.notes.is_empty() {
        eprintln!(
            "hl7-harness: error: --strict: {} note(s); nothing written",
            imported.notes.len()
        );
        return Ok(exit::USAGE);
    }
    let yaml = profile_import::to_yaml(&imported, &args.file.display().to_string())?;
    check_loads_back(&yaml)?;
    match &args.out {
        Some(path) => {
            std::fs::write(path, &yaml)
                .map_err(|e| anyhow::anyhow!("{}: cannot write: {e}", path.display()))?;
        }
        None => out.write_all(yaml.as_bytes())?,
    }
    Ok(exit::OK)
}

fn show(args: &ShowArgs, out: &mut dyn Write) -> anyhow::Result<i32> {
    let is_xml = args.file.extension().is_some_and(|e| e.eq_ignore_ascii_case("xml"));
    let profile: TargetProfile = if is_xml {
        let imported = read_and_import(&args.file, &[])?;
        for note in &imported.notes {
            eprintln!("hl7-harness: note: {note}");
        }
        imported.profile
    } else {
        let loaded = crate::scenario::load_profile(&args.file)?;
        (*loaded.profile).clone()
    };
    out.write_all(profile_import::show(&profile).as_bytes())?;
    Ok(exit::OK)
}

/// Reads `file` and the NIST companions (given, or by their usual names beside it).
fn read_and_import(
    file: &Path,
    explicit: &[(Companion, Option<&Path>)],
) -> anyhow::Result<Imported> {
    let main = read_source(file)?;
    let folder = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut companion = |which: Companion| -> Result<Option<Source>, ImportError> {
        if let Some((_, Some(path))) = explicit.iter().find(|(w, _)| *w == which) {
            return read_source(path).map(Some);
        }
        for name in which.usual_names() {
            let beside = folder.join(name);
            if beside.is_file() && beside != file {
                return read_source(&beside).map(Some);
            }
        }
        Ok(None)
    };
    let imported = profile_import::import(&main, &mut companion)?;
    if imported.format == Format::Hl7v2x {
        for (_, path) in explicit.iter().filter(|(_, p)| p.is_some()) {
            if let Some(path) = path {
                eprintln!(
                    "hl7-harness: note: {}: not read (only NIST exports have companion files)",
                    path.display()
                );
            }
        }
    }
    Ok(imported)
}

/// A file's text, refused past [`MAX_XML_BYTES`] before it is read whole; a UTF-8 byte order
/// mark is dropped.
fn read_source(path: &Path) -> Result<Source, ImportError> {
    let name = path.display().to_string();
    let fail = |message: String| ImportError::Read { file: name.clone(), message };
    let file = std::fs::File::open(path).map_err(|e| fail(format!("cannot open: {e}")))?;
    let mut bytes = Vec::new();
    file.take(MAX_XML_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(format!("cannot read: {e}")))?;
    if bytes.len() > MAX_XML_BYTES {
        return Err(ImportError::TooLarge { file: name, bytes: bytes.len(), limit: MAX_XML_BYTES });
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        fail(format!(
            "not UTF-8 text (byte {}); convert the file to UTF-8 first",
            e.utf8_error().valid_up_to()
        ))
    })?;
    let text = text.strip_prefix('\u{feff}').map(str::to_string).unwrap_or(text);
    Ok(Source { name, text })
}

/// The written YAML must read back as a target profile with no shape problem: an import that
/// wrote a file `run` then refuses would be a bug of the importer, reported here.
fn check_loads_back(yaml: &str) -> anyhow::Result<()> {
    let profile: TargetProfile = crate::scenario::from_yaml(yaml)
        .map_err(|e| anyhow::anyhow!("the imported profile does not read back: {e}"))?;
    let shape =
        crate::profile::message::check_shape(&profile.message_profiles, &profile.value_sets);
    if let Some(first) = shape.first() {
        anyhow::bail!(
            "the imported profile does not read back ({} problem(s)): {first}",
            shape.len()
        );
    }
    Ok(())
}
