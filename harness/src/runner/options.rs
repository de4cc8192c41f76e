//! How a run is done: the `run` command's flags as the runner reads them, and `--shard K/N`.

use crate::target::defect::Defects;
use crate::vocab::Seed;
use std::path::PathBuf;

/// How a run is done (the `run` command's flags). The default runs everything against the
/// built-in endpoint with seed 0, 8 cases at a time.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Overrides every scenario's `target.url`.
    pub target: Option<String>,
    /// Defects of the built-in endpoint (self-tests of the harness).
    pub defects: Defects,
    pub seed: Seed,
    pub jobs: usize,
    /// Only cases whose full name contains this text.
    pub filter: Option<String>,
    /// Leave out cases whose full name contains any of these texts (`--exclude`).
    pub exclude: Vec<String>,
    /// Overrides every scenario's `target.state` (the base URL probes read).
    pub state: Option<String>,
    /// Run only this shard's share of the cases (`--shard K/N`).
    pub shard: Option<Shard>,
    /// Defects of the reference sender for receiver-role scenarios (`{defects}` in a SUT
    /// command, `--sut-defect`).
    pub sut_defects: Vec<String>,
    /// The target profile given on the command line (`--target-profile`): it overrides every
    /// scenario's `target.profile`.
    pub profile: Option<crate::profile::LoadedProfile>,
    /// The hl7-harness binary `{harness}` stands for in a SUT command (default: this
    /// executable; tests running the runner in-process name the real binary).
    pub harness: Option<PathBuf>,
}

/// `--shard K/N`: the K-th of N disjoint parts of a run's cases (1-based), so a CI matrix can
/// split a large pack over N machines and `report merge` can join the reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl RunOptions {
    /// Whether the case (or load phase) named `name` runs: it matches `--filter` and no
    /// `--exclude`.
    pub fn wants(&self, name: &str) -> bool {
        self.filter.as_deref().is_none_or(|f| name.contains(f))
            && !self.exclude.iter().any(|x| name.contains(x.as_str()))
    }
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            target: None,
            defects: Defects::default(),
            seed: Seed(0),
            jobs: 8,
            filter: None,
            exclude: Vec::new(),
            state: None,
            shard: None,
            sut_defects: Vec::new(),
            profile: None,
            harness: None,
        }
    }
}

/// Why a `--shard` text (or a shard's `results.json`) names no shard.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    #[error("{text:?}: expected K/N, e.g. 2/4")]
    NoSlash { text: String },
    #[error("{text:?}: {part:?} is not a number")]
    NotANumber { text: String, part: String },
    #[error("{text:?}: K must be between 1 and N (N at least 1)")]
    OutOfRange { text: String },
}

impl Shard {
    /// Parses `K/N` with 1 <= K <= N.
    pub fn parse(text: &str) -> Result<Shard, ShardError> {
        let (k, n) =
            text.split_once('/').ok_or_else(|| ShardError::NoSlash { text: text.into() })?;
        let number = |part: &str| {
            part.trim()
                .parse::<usize>()
                .map_err(|_| ShardError::NotANumber { text: text.into(), part: part.into() })
        };
        let (index, count) = (number(k)?, number(n)?);
        if count == 0 || index == 0 || index > count {
            return Err(ShardError::OutOfRange { text: text.into() });
        }
        Ok(Shard { index, count })
    }

    /// Whether unit `unit` (0-based, counted over the whole run) belongs to this shard.
    pub(super) fn owns(&self, unit: usize) -> bool {
        unit % self.count == self.index - 1
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclude_leaves_out_cases_after_the_filter() {
        let options = RunOptions {
            filter: Some("v2".into()),
            exclude: vec!["v2.3".into(), "v2.6".into()],
            ..RunOptions::default()
        };
        let wanted: Vec<&str> =
            ["a v2.3 message", "a v2.4 message", "a v2.6 message", "an ADT message"]
                .into_iter()
                .filter(|name| options.wants(name))
                .collect();
        assert_eq!(wanted, ["a v2.4 message"]);
    }

    #[test]
    fn shard_errors_name_the_text_as_before() {
        let error = |text| Shard::parse(text).map_err(|e| e.to_string());
        assert_eq!(error("2/4"), Ok(Shard { index: 2, count: 4 }));
        assert_eq!(error("2"), Err(r#""2": expected K/N, e.g. 2/4"#.into()));
        assert_eq!(error("a/4"), Err(r#""a/4": "a" is not a number"#.into()));
        assert_eq!(error("5/4"), Err(r#""5/4": K must be between 1 and N (N at least 1)"#.into()));
    }
}
