//! A scenario's `load:` block, run after its cases against the same target: the load engine
//! with the file's templates, its thresholds judged as `load.*` checks on one case named
//! `load: …`, and the whole account kept for the report's load section.

use super::exec::Context;
use super::outcome::CaseOutcome;
use crate::checks::CheckResult;
use crate::load::{self, Client, LoadPhase, LoadTarget, MessageSource, Mode, Plan, SourceOptions};
use crate::observation::{CaseObservation, TransportEvent};
use crate::scenario::{Load, LoadedScenario};
use crate::vocab::Seed;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Runs the load phase of `scenario`; the case carries the threshold checks.
pub async fn run_load_phase(
    pack: &str,
    scenario: &LoadedScenario,
    spec: &Load,
    ctx: &Context,
    seed: Seed,
    reproduce: String,
) -> (CaseOutcome, LoadPhase) {
    let started = Instant::now();
    let names: Vec<&String> = if spec.send.is_empty() {
        ctx.templates.keys().collect()
    } else {
        spec.send.iter().collect()
    };
    let templates: Vec<(String, Vec<u8>)> = names
        .iter()
        .filter_map(|name| ctx.templates.get(*name))
        .flatten()
        .filter(|m| !m.raw)
        .map(|m| (m.label.clone(), m.bytes.clone()))
        .collect();
    let plan = spec.plan.clone();
    // Display form: no userinfo (the credentials travel in ctx.basic).
    let url = ctx.url.to_string();
    let options = SourceOptions { seed, patients: spec.patients, mutations: Vec::new() };
    let prepared =
        MessageSource::new(&templates, &options).map_err(|e| e.to_string()).and_then(|source| {
            let target =
                LoadTarget::from_url(&ctx.url, ctx.tls.clone(), ctx.basic.clone(), ctx.hllp)
                    .map_err(|e| e.to_string())?;
            Ok((source, target))
        });
    let name = format!("load: {}", describe_short(&plan));
    let mut phase = LoadPhase {
        pack: pack.to_string(),
        scenario: scenario.name.clone(),
        name: name.clone(),
        target: url,
        plan: plan.clone(),
        thresholds: spec.thresholds.clone(),
        finished: load::Finished {
            account: load::stats::Recorder::new(plan.slice).finish(Duration::ZERO),
            elapsed: Duration::ZERO,
            interrupted: false,
        },
    };
    let mut observation = CaseObservation::default();
    let results: Vec<CheckResult> = match prepared {
        Err(detail) => {
            observation.aborted =
                Some(TransportEvent { code: crate::vocab::ConnectionEvent::LoadSetup, detail });
            crate::checks::evaluate(&crate::checks::CasePlan::default(), &observation)
        }
        Ok((source, target)) => {
            let timeouts = ctx.timeouts;
            let (_stop, stopped) = tokio::sync::watch::channel(false);
            let connect = || Client::new(target.clone(), timeouts);
            let quiet: Arc<dyn Fn(&load::Progress) + Send + Sync> = Arc::new(|_| {});
            phase.finished = load::run(&plan, Arc::new(source), connect, stopped, quiet).await;
            let account = &phase.finished.account;
            if account.sent == 0 && account.not_sent > 0 {
                observation.aborted = Some(TransportEvent {
                    code: crate::vocab::ConnectionEvent::ConnectFailed,
                    detail: format!("no load message could be sent to {}", phase.target),
                });
                crate::checks::evaluate(&crate::checks::CasePlan::default(), &observation)
            } else {
                crate::checks::load::phase(&phase)
            }
        }
    };
    let case = CaseOutcome {
        pack: pack.to_string(),
        scenario: scenario.name.clone(),
        file: scenario.path.clone(),
        name,
        seed,
        sent: templates.iter().map(|(label, _)| label.clone()).collect(),
        results,
        observation,
        duration: started.elapsed(),
        reproduce,
        // After the file's cases; the runner sets the file's number.
        position: (0, usize::MAX),
        vary: None,
        output_redaction: None,
    };
    (case, phase)
}

/// `open loop 50/s` or `closed loop`, for the case name.
pub fn describe_short(plan: &Plan) -> String {
    match plan.mode {
        Mode::Open { rate } => format!("open loop {rate}/s"),
        Mode::Closed => "closed loop".into(),
    }
}
