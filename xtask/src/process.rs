//! Running external commands as named steps: each prints what it runs and how long it took,
//! and a failure names the step.

use anyhow::{bail, Context};
use std::ffi::OsStr;
use std::path::Path;
use std::time::{Duration, Instant};

/// A command with the name of the step it implements.
pub struct Command {
    step: String,
    inner: std::process::Command,
}

impl Command {
    pub fn new(step: impl Into<String>, program: impl AsRef<OsStr>) -> Self {
        Command { step: step.into(), inner: std::process::Command::new(program) }
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.inner.args(args);
        self
    }

    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Self {
        self.inner.env(key, value);
        self
    }

    pub fn current_dir(mut self, dir: &Path) -> Self {
        self.inner.current_dir(dir);
        self
    }

    pub fn stdout(mut self, out: impl Into<std::process::Stdio>) -> Self {
        self.inner.stdout(out);
        self
    }

    pub fn stderr(mut self, out: impl Into<std::process::Stdio>) -> Self {
        self.inner.stderr(out);
        self
    }

    /// The command line as a person would type it.
    pub fn display(&self) -> String {
        let envs = self.inner.get_envs().filter_map(|(key, value)| {
            Some(format!("{}={}", key.to_string_lossy(), value?.to_string_lossy()))
        });
        let program = std::iter::once(self.inner.get_program().to_string_lossy().into_owned());
        let args = self.inner.get_args().map(|a| a.to_string_lossy().into_owned());
        envs.chain(program).chain(args).collect::<Vec<_>>().join(" ")
    }

    /// Runs the step with a header and its duration; fails naming the step.
    pub fn run(self) -> anyhow::Result<()> {
        self.run_timed().map(|_| ())
    }

    pub fn run_timed(mut self) -> anyhow::Result<Duration> {
        eprintln!("==> [{}] {}", self.step, self.display());
        let start = Instant::now();
        let status = self.inner.status().with_context(|| {
            format!("step `{}`: could not start `{}`", self.step, self.display())
        })?;
        let elapsed = start.elapsed();
        if !status.success() {
            bail!("step `{}` failed ({status}) after {}", self.step, seconds(elapsed));
        }
        eprintln!("<== [{}] ok in {}", self.step, seconds(elapsed));
        Ok(elapsed)
    }

    /// Runs quietly and reports only whether it succeeded (for probes like `--version`).
    pub fn succeeds(mut self) -> bool {
        self.inner
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    }
}

/// Installs Debian `packages` with apt-get (through sudo when not root); fails when it cannot.
pub fn apt_install(packages: &[&str]) -> anyhow::Result<()> {
    let root_user = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0");
    let apt = |step: &str, args: &[&str]| {
        let command = if root_user {
            Command::new(step, "apt-get").args(args)
        } else {
            Command::new(step, "sudo").args(["apt-get"]).args(args)
        };
        command.env("DEBIAN_FRONTEND", "noninteractive").run()
    };
    apt("apt update", &["update", "-q"])?;
    apt("apt install", &[&["install", "-y", "-q"][..], packages].concat())
        .with_context(|| format!("installing Debian's {}", packages.join(", ")))
}

pub fn seconds(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}
