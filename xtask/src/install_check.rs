//! `cargo xtask install-check`: the documented install, `cargo install --locked --path harness`,
//! into a temporary root, then the installed binary's `--version` and one small run from the
//! shipped packs. It proves that the package installs from the lock file and that the binary
//! it installs works outside `cargo run`.

use crate::process::Command;
use anyhow::Context;
use std::path::{Path, PathBuf};

pub fn run(root: &Path) -> anyhow::Result<()> {
    let install_root = root.join("target").join("xtask").join("install");
    let _ = std::fs::remove_dir_all(&install_root);
    // The build reuses the workspace's target directory, and `--debug` its dev profile, so
    // that CI, which has just built everything for the tests, does not compile the harness a
    // third time in release; what is checked is the install path, not the optimiser.
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    Command::new("install", "cargo")
        .args(["install", "--locked", "--debug", "--path", "harness", "--root"])
        .args([&install_root])
        .args(["--target-dir"])
        .args([&target_dir])
        .current_dir(root)
        .run()?;
    let binary = install_root.join("bin").join("hl7-harness");
    anyhow::ensure!(binary.is_file(), "cargo install wrote no {}", binary.display());
    let version = std::process::Command::new(&binary)
        .arg("--version")
        .output()
        .with_context(|| format!("running {} --version", binary.display()))?;
    let shown = String::from_utf8_lossy(&version.stdout);
    anyhow::ensure!(
        version.status.success() && shown.starts_with("hl7-harness "),
        "{} --version printed {shown:?}",
        binary.display()
    );
    eprintln!("installed {}", shown.trim());
    Command::new("installed-run", &binary)
        .args(["run", "--no-report", "--seed", "1", "scenarios/conformance-core/ack-protocol.yaml"])
        .current_dir(root)
        .stdout(std::process::Stdio::null())
        .run()?;
    let _ = std::fs::remove_dir_all(&install_root);
    Ok(())
}
