//! Which cases a run runs: each scenario file's cases expanded (templates with several
//! messages, `vary:`), then `--filter`, `--exclude` and `--shard` applied. Pure: no I/O.

use super::options::RunOptions;
use super::{CaseRun, ReceiverRun, ThroughRun};
use crate::scenario::{LoadedScenario, Pack, Vary};
use crate::vocab::Seed;

/// The cases of one scenario file as they will run.
#[derive(Debug, Clone)]
pub enum FileRuns {
    /// The cases, and whether this run does the file's `load:` phase.
    Sender(Vec<CaseRun>, bool),
    Receiver(Vec<ReceiverRun>),
    Through(Vec<ThroughRun>),
}

impl FileRuns {
    pub fn len(&self) -> usize {
        match self {
            FileRuns::Sender(runs, load) => runs.len() + usize::from(*load),
            FileRuns::Receiver(runs) => runs.len(),
            FileRuns::Through(runs) => runs.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The case runs of every scenario file of `packs` (indexed like the run numbers files: in
/// order, skipped files included) after `--filter` and `--shard`. Sharding deals units out in
/// turn over the whole run: the serial cases of a file are one unit (they run in order, and
/// may rely on it), every other case is a unit of its own. The same packs, filter and N always
/// give the same split, and the N shards together run every case exactly once.
pub fn select(packs: &[Pack], options: &RunOptions) -> Vec<FileRuns> {
    // Units are numbered in run order; a shard takes every N-th.
    let mut unit = 0usize;
    let mut next_unit = || {
        unit += 1;
        unit - 1
    };
    let owns = |u: usize| options.shard.is_none_or(|shard| shard.owns(u));
    let wanted = |name: &str| options.wants(name);
    let mut selected = Vec::new();
    for (file, scenario) in packs.iter().flat_map(|p| p.scenarios.iter()).enumerate() {
        if scenario.file.role == crate::scenario::Role::Through {
            let runs = expand_through(scenario, options.seed, file)
                .into_iter()
                .filter(|r| wanted(&r.name))
                .filter(|_| owns(next_unit()))
                .collect();
            selected.push(FileRuns::Through(runs));
            continue;
        }
        if scenario.file.role == crate::scenario::Role::Receiver {
            let runs = expand_receiver(scenario, options.seed, file)
                .into_iter()
                .filter(|r| wanted(&r.name))
                .filter(|_| owns(next_unit()))
                .collect();
            selected.push(FileRuns::Receiver(runs));
            continue;
        }
        let runs: Vec<CaseRun> =
            expand(scenario, options.seed, file).into_iter().filter(|r| wanted(&r.name)).collect();
        // The serial cases are one unit, numbered where the first of them is met.
        let serial_unit = runs.iter().any(|r| r.case.serial).then(&mut next_unit);
        let runs = runs
            .into_iter()
            .filter(
                |r| if r.case.serial { serial_unit.is_some_and(owns) } else { owns(next_unit()) },
            )
            .collect();
        // A load phase is a unit of its own, dealt after the file's cases.
        let load = scenario.file.load.is_some() && owns(next_unit());
        selected.push(FileRuns::Sender(runs, load));
    }
    selected
}

/// The receiver-role case runs of one scenario file, in file order.
pub fn expand_receiver(scenario: &LoadedScenario, run_seed: Seed, file: usize) -> Vec<ReceiverRun> {
    scenario
        .file
        .receive
        .iter()
        .enumerate()
        .map(|(index, case)| ReceiverRun {
            index,
            name: case.name.clone(),
            case: case.clone(),
            seed: part_seed(run_seed, &scenario.name, &case.name),
            file,
        })
        .collect()
}

/// The through-role case runs of one scenario file, in file order.
pub fn expand_through(scenario: &LoadedScenario, run_seed: Seed, file: usize) -> Vec<ThroughRun> {
    scenario
        .file
        .flows
        .iter()
        .enumerate()
        .map(|(index, case)| ThroughRun {
            index,
            name: case.name.clone(),
            case: case.clone(),
            seed: part_seed(run_seed, &scenario.name, &case.name),
            file,
        })
        .collect()
}

/// The seed of part `part` (a case, the load phase) of scenario file `file`: the run seed
/// mixed with the hash of `file/part`, so a case keeps its seed whatever else the run selects.
pub(super) fn part_seed(run_seed: Seed, file: &str, part: &str) -> Seed {
    run_seed.mix(stable_hash(&format!("{file}/{part}")))
}

/// FNV-1a: a stable hash for per-case seeds (the same on every platform and version).
fn stable_hash(text: &str) -> u64 {
    text.bytes()
        .fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

/// One `vary:` choice: an extra mutation or a field value, and its label.
type Variant = (
    Option<crate::generator::Mutation>,
    Option<(crate::scenario::FieldPath, String)>,
    Option<String>,
);

/// The case runs of one scenario file, in file order.
pub fn expand(scenario: &LoadedScenario, run_seed: Seed, file: usize) -> Vec<CaseRun> {
    let mut runs = Vec::new();
    for case in &scenario.file.cases {
        let messages = case
            .first_send()
            .and_then(|t| scenario.file.templates.get(t))
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let picks: Vec<(usize, Option<String>)> = if messages.len() > 1 {
            messages.iter().enumerate().map(|(i, m)| (i, Some(m.label.clone()))).collect()
        } else {
            vec![(0, None)]
        };
        let variants: Vec<Variant> = match &case.vary {
            None => vec![(None, None, None)],
            // Numbered: the same mutation may appear with other parameters.
            Some(Vary::Mutation(list)) => list
                .iter()
                .enumerate()
                .map(|(i, m)| (Some(m.clone()), None, Some(format!("{} #{}", m.name(), i + 1))))
                .collect(),
            Some(Vary::Values { field, values }) => values
                .iter()
                .map(|v| (None, Some((field.clone(), v.clone())), Some(format!("{field}={v}"))))
                .collect(),
        };
        for (pick, label) in &picks {
            for (mutation, value, variant) in &variants {
                let mut name = case.name.clone();
                for part in [label, variant].into_iter().flatten() {
                    name.push_str(&format!(" [{part}]"));
                }
                let seed = part_seed(run_seed, &scenario.name, &name);
                runs.push(CaseRun {
                    index: runs.len(),
                    name,
                    case: case.clone(),
                    pick: *pick,
                    extra_mutation: mutation.clone(),
                    vary_value: value.clone(),
                    seed,
                    run_seed,
                    file,
                });
            }
        }
    }
    runs
}
