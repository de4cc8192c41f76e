//! Sign-off: ed25519 key files, `signature.json` and the verification of a report folder.
//!
//! Key files are text: a `-----BEGIN HL7-HARNESS ED25519 SIGNING KEY-----` (or `PUBLIC KEY`)
//! line, the 32 key bytes as 64 lowercase hex digits, and the matching `-----END …-----` line.
//!
//! The signature covers a statement, not only the manifest, so the signer, the time and the
//! verdict cannot be changed after signing:
//!
//! ```text
//! hl7-harness/signature/1
//! signer: <signer>
//! signed_at: <RFC 3339 UTC>
//! verdict: <conformant | not conformant>
//! manifest_sha256: <sha256 of manifest.json's bytes>
//! ```
//!
//! Each line ends in LF. The manifest's bytes are hashed exactly as on disk (it is written
//! once, by `run`, and never rewritten), so "canonical" means "the file's bytes".

use super::manifest::{compare, Change, Manifest, FILE, SIGNATURE_FILE};
use super::record::{hex, sha256_hex, CONFORMANT, NOT_CONFORMANT};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const SCHEMA: &str = "hl7-harness/signature/1";
const SIGNING_LABEL: &str = "HL7-HARNESS ED25519 SIGNING KEY";
const PUBLIC_LABEL: &str = "HL7-HARNESS ED25519 PUBLIC KEY";

/// Sign-off could not be done or checked.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not an hl7-harness {label} file ({reason})", path.display())]
    Key { path: PathBuf, label: &'static str, reason: String },
    #[error("{}: not a manifest or signature this version reads: {source}", path.display())]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("the report has changed since it was written ({}); it cannot be signed", list(.0))]
    Changed(Vec<Change>),
    #[error(
        "the run has {0} error-severity failure(s): it can only be signed as \"not conformant\""
    )]
    NotConformant(usize),
    #[error("the signer must be one line of text (e.g. \"Name, Organisation\")")]
    Signer,
    #[error("no random bytes from the operating system: {0}")]
    Random(String),
}

fn list(changes: &[Change]) -> String {
    changes.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

fn read(path: &Path) -> Result<Vec<u8>, SignError> {
    std::fs::read(path).map_err(|source| SignError::Io { path: path.to_path_buf(), source })
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), SignError> {
    std::fs::write(path, bytes).map_err(|source| SignError::Io { path: path.to_path_buf(), source })
}

fn key_text(label: &str, bytes: &[u8; 32]) -> String {
    format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", hex(bytes))
}

fn parse_key(path: &Path, label: &'static str) -> Result<[u8; 32], SignError> {
    let fail =
        |reason: &str| SignError::Key { path: path.to_path_buf(), label, reason: reason.into() };
    let text = String::from_utf8(read(path)?).map_err(|_| fail("not text"))?;
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let [begin, body, end] = lines.as_slice() else {
        return Err(fail("expected three lines: BEGIN, 64 hex digits, END"));
    };
    if *begin != format!("-----BEGIN {label}-----") || *end != format!("-----END {label}-----") {
        return Err(fail(&format!("expected -----BEGIN {label}----- and the END line")));
    }
    parse_hex32(body).ok_or_else(|| fail("the key is not 64 hex digits"))
}

fn parse_hex32(text: &str) -> Option<[u8; 32]> {
    let bytes = parse_hex(text)?;
    bytes.try_into().ok()
}

fn parse_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 || !text.is_ascii() {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok()).collect()
}

/// Makes a key pair in `dir`: `signing.key` (owner-only on unix) and `signing.pub`. Existing
/// files are never overwritten. Returns both paths.
pub fn keygen(dir: &Path) -> Result<(PathBuf, PathBuf), SignError> {
    use rand::TryRngCore;
    let mut seed = [0u8; 32];
    rand::rngs::OsRng.try_fill_bytes(&mut seed).map_err(|e| SignError::Random(e.to_string()))?;
    let key = SigningKey::from_bytes(&seed);
    std::fs::create_dir_all(dir).map_err(|source| SignError::Io { path: dir.into(), source })?;
    let (secret, public) = (dir.join("signing.key"), dir.join("signing.pub"));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file =
        options.open(&secret).map_err(|source| SignError::Io { path: secret.clone(), source })?;
    std::io::Write::write_all(&mut file, key_text(SIGNING_LABEL, &seed).as_bytes())
        .map_err(|source| SignError::Io { path: secret.clone(), source })?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    let mut file =
        options.open(&public).map_err(|source| SignError::Io { path: public.clone(), source })?;
    std::io::Write::write_all(
        &mut file,
        key_text(PUBLIC_LABEL, key.verifying_key().as_bytes()).as_bytes(),
    )
    .map_err(|source| SignError::Io { path: public.clone(), source })?;
    Ok((secret, public))
}

/// `signature.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignatureFile {
    pub schema: String,
    pub algorithm: String,
    pub signer: String,
    pub signed_at: String,
    pub verdict: String,
    pub manifest_sha256: String,
    /// The signer's public key (hex), for information: verification uses the key given.
    pub public_key: String,
    pub signature: String,
}

impl SignatureFile {
    /// The bytes signed (see the module docs).
    pub fn statement(&self) -> String {
        format!(
            "{SCHEMA}\nsigner: {}\nsigned_at: {}\nverdict: {}\nmanifest_sha256: {}\n",
            self.signer, self.signed_at, self.verdict, self.manifest_sha256
        )
    }
}

fn read_manifest(dir: &Path) -> Result<(Vec<u8>, Manifest), SignError> {
    let path = dir.join(FILE);
    let bytes = read(&path)?;
    let manifest =
        serde_json::from_slice(&bytes).map_err(|source| SignError::Json { path, source })?;
    Ok((bytes, manifest))
}

/// Signs the report in `dir` with the key in `key_file`, writing `signature.json`. `verdict`
/// defaults to the run's; "conformant" is refused when an error-severity check failed. The
/// report must be unchanged since the run wrote it.
pub fn sign(
    dir: &Path,
    key_file: &Path,
    signer: &str,
    verdict: Option<&str>,
    now: std::time::SystemTime,
) -> Result<SignatureFile, SignError> {
    if signer.trim().is_empty() || signer.contains(['\n', '\r']) {
        return Err(SignError::Signer);
    }
    let key = SigningKey::from_bytes(&parse_key(key_file, SIGNING_LABEL)?);
    let (bytes, manifest) = read_manifest(dir)?;
    let changes =
        compare(dir, &manifest).map_err(|source| SignError::Io { path: dir.into(), source })?;
    if !changes.is_empty() {
        return Err(SignError::Changed(changes));
    }
    let verdict = verdict.unwrap_or(&manifest.verdict);
    let failing = manifest.error_failures > 0 || manifest.verdict != CONFORMANT;
    if verdict == CONFORMANT && failing {
        return Err(SignError::NotConformant(manifest.error_failures));
    }
    let mut file = SignatureFile {
        schema: SCHEMA.into(),
        algorithm: "ed25519".into(),
        signer: signer.trim().into(),
        signed_at: super::time::rfc3339(now),
        verdict: if verdict == CONFORMANT { CONFORMANT } else { NOT_CONFORMANT }.into(),
        manifest_sha256: sha256_hex(&bytes),
        public_key: hex(key.verifying_key().as_bytes()),
        signature: String::new(),
    };
    file.signature = hex(&key.sign(file.statement().as_bytes()).to_bytes());
    let mut text = serde_json::to_string_pretty(&file).expect("a signature serializes");
    text.push('\n');
    write(&dir.join(SIGNATURE_FILE), text.as_bytes())?;
    Ok(file)
}

/// The state of the signature of a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureState {
    /// Valid for the key given and the manifest on disk.
    Valid(SignatureFile),
    Missing,
    /// Present but not valid: why.
    Invalid(String),
}

/// What `report verify` found.
#[derive(Debug, Clone)]
pub struct Verification {
    pub manifest: Manifest,
    /// The files that changed since signing (or since the run, unsigned), as far as the
    /// signature lets it be told: a `manifest.json` edited after signing is named itself.
    pub changes: Vec<Change>,
    /// Files whose bytes differ from the hashes a manifest edited after signing records: the
    /// manifest is to blame and says nothing reliable about them, so they are listed apart.
    pub unreliable: Vec<Change>,
    pub signature: SignatureState,
}

impl Verification {
    /// Untouched and signed with the key given.
    pub fn ok(&self) -> bool {
        self.changes.is_empty()
            && self.unreliable.is_empty()
            && matches!(self.signature, SignatureState::Valid(_))
    }
}

/// Checks every hash of the report in `dir` and its signature against `public_key_file`, and
/// only that key: the public key `signature.json` carries is compared with it, never used.
pub fn verify(dir: &Path, public_key_file: &Path) -> Result<Verification, SignError> {
    let key_bytes = parse_key(public_key_file, PUBLIC_LABEL)?;
    let key = VerifyingKey::from_bytes(&key_bytes).map_err(|e| SignError::Key {
        path: public_key_file.into(),
        label: PUBLIC_LABEL,
        reason: e.to_string(),
    })?;
    let (bytes, manifest) = read_manifest(dir)?;
    let files =
        compare(dir, &manifest).map_err(|source| SignError::Io { path: dir.into(), source })?;
    let path = dir.join(SIGNATURE_FILE);
    let mut found = Verification {
        manifest,
        changes: files,
        unreliable: Vec::new(),
        signature: SignatureState::Missing,
    };
    if path.exists() {
        found.signature = match serde_json::from_slice::<SignatureFile>(&read(&path)?) {
            Err(e) => {
                found.changes.push(Change::Changed(SIGNATURE_FILE.into()));
                SignatureState::Invalid(format!("{SIGNATURE_FILE} is not readable: {e}"))
            }
            Ok(file) => check_signature(&file, &key, &bytes, &mut found),
        };
    }
    found.changes.sort();
    found.changes.dedup();
    Ok(found)
}

/// The first 16 hex digits of a key, for messages.
fn short(key_hex: &str) -> String {
    format!("{}…", key_hex.get(..16).unwrap_or(key_hex))
}

/// Judges `file` with `key` alone and says which file changed: a statement the key verifies is
/// authentic (signer, time, verdict and the manifest's hash as signed), so a manifest that does
/// not hash to it was edited; a statement it verifies only with the manifest's actual hash had
/// that hash edited in `signature.json`.
fn check_signature(
    file: &SignatureFile,
    key: &VerifyingKey,
    manifest_bytes: &[u8],
    found: &mut Verification,
) -> SignatureState {
    let Some(bytes) = parse_hex(&file.signature).and_then(|b| <[u8; 64]>::try_from(b).ok()) else {
        found.changes.push(Change::Changed(SIGNATURE_FILE.into()));
        return SignatureState::Invalid("the signature is not 128 hex digits".into());
    };
    let signature = Signature::from_bytes(&bytes);
    let given = hex(key.as_bytes());
    let embedded_differs = file.public_key != given;
    let actual = sha256_hex(manifest_bytes);
    let verifies = |statement: &SignatureFile| {
        key.verify(statement.statement().as_bytes(), &signature).is_ok()
    };
    if verifies(file) {
        if actual != file.manifest_sha256 {
            // The manifest is not the one signed: its hashes prove nothing about the files.
            found.unreliable = std::mem::take(&mut found.changes);
            found.changes.push(Change::Changed(FILE.into()));
            return SignatureState::Invalid(format!(
                "{FILE} is not the manifest that was signed (edited after signing)"
            ));
        }
        if embedded_differs {
            found.changes.push(Change::Changed(SIGNATURE_FILE.into()));
            return SignatureState::Invalid(format!(
                "{SIGNATURE_FILE} names public key {} but the key given is {}: its public_key \
                 was edited",
                short(&file.public_key),
                short(&given)
            ));
        }
        // The rule `sign` enforces, checked again: a signature made by other means does not
        // make a failing run conformant.
        if file.verdict == CONFORMANT && found.manifest.error_failures > 0 {
            return SignatureState::Invalid(format!(
                "signed \"conformant\" but the run has {} error-severity failure(s)",
                found.manifest.error_failures
            ));
        }
        return SignatureState::Valid(file.clone());
    }
    let with_actual = SignatureFile { manifest_sha256: actual.clone(), ..file.clone() };
    if actual != file.manifest_sha256 && verifies(&with_actual) {
        found.changes.push(Change::Changed(SIGNATURE_FILE.into()));
        return SignatureState::Invalid(format!(
            "{SIGNATURE_FILE}'s manifest_sha256 was edited ({FILE} is the manifest that was \
             signed)"
        ));
    }
    if embedded_differs {
        return SignatureState::Invalid(format!(
            "not signed with the key given ({}; {SIGNATURE_FILE} names another public key, {})",
            short(&given),
            short(&file.public_key)
        ));
    }
    // It names the key given, yet that key does not verify it: edited, whichever field.
    found.changes.push(Change::Changed(SIGNATURE_FILE.into()));
    SignatureState::Invalid(format!(
        "the signature does not verify with the key given: {SIGNATURE_FILE}'s signer, time, \
         verdict, manifest hash or public key was edited"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::Seed;

    /// A signature made outside `sign` that calls a failing run conformant is not valid.
    #[test]
    fn a_failing_run_signed_conformant_by_hand_does_not_verify() {
        let dir =
            std::env::temp_dir().join(format!("hl7-harness-sign-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (secret, public) = keygen(&dir.join("keys")).unwrap();
        let manifest = Manifest {
            schema: super::super::manifest::SCHEMA.into(),
            run_id: "r".into(),
            harness_version: "0".into(),
            target: "builtin".into(),
            seed: Seed(1),
            profiles: Vec::new(),
            started: String::new(),
            finished: String::new(),
            verdict: NOT_CONFORMANT.into(),
            error_failures: 1,
            phi_redacted: false,
            files: Vec::new(),
            packs: Vec::new(),
        };
        let report = dir.join("report");
        std::fs::create_dir_all(&report).unwrap();
        std::fs::write(report.join(FILE), manifest.to_bytes()).unwrap();
        let key = SigningKey::from_bytes(&parse_key(&secret, SIGNING_LABEL).unwrap());
        let mut file = SignatureFile {
            schema: SCHEMA.into(),
            algorithm: "ed25519".into(),
            signer: "Mallory".into(),
            signed_at: "2026-01-01T00:00:00Z".into(),
            verdict: CONFORMANT.into(),
            manifest_sha256: sha256_hex(&manifest.to_bytes()),
            public_key: hex(key.verifying_key().as_bytes()),
            signature: String::new(),
        };
        file.signature = hex(&key.sign(file.statement().as_bytes()).to_bytes());
        std::fs::write(report.join(SIGNATURE_FILE), serde_json::to_vec(&file).unwrap()).unwrap();
        let found = verify(&report, &public).unwrap();
        assert!(
            matches!(&found.signature, SignatureState::Invalid(why) if why.contains("error-severity")),
            "{:?}",
            found.signature
        );
        assert!(!found.ok());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn hex_round_trip() {
        assert_eq!(parse_hex("00ff10"), Some(vec![0, 255, 16]));
        assert_eq!(parse_hex("0"), None);
        assert_eq!(parse_hex("zz"), None);
        assert_eq!(parse_hex32(&hex(&[7u8; 32])), Some([7u8; 32]));
    }

    #[test]
    fn statement_lines() {
        let file = SignatureFile {
            schema: SCHEMA.into(),
            algorithm: "ed25519".into(),
            signer: "A, B".into(),
            signed_at: "2026-01-01T00:00:00Z".into(),
            verdict: NOT_CONFORMANT.into(),
            manifest_sha256: "ab".into(),
            public_key: String::new(),
            signature: String::new(),
        };
        assert_eq!(
            file.statement(),
            "hl7-harness/signature/1\nsigner: A, B\nsigned_at: 2026-01-01T00:00:00Z\n\
             verdict: not conformant\nmanifest_sha256: ab\n"
        );
    }
}
