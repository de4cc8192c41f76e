//! Reads the order in which the target applied a case's messages, for `history.order`: the
//! applied log the target profile's `state.applied` names (a JSON array of MSH-10s in the order
//! the messages were applied; the built-in endpoint serves `{state}/applied`). Only read when
//! the case sent two or more messages on one connection and keeps order. A target that declares
//! no applied log is recorded as such ([`AppliedOrder::Undeclared`]: the check says it did not
//! judge); one whose declared log cannot be read, as unavailable.

use super::exec::Context;
use super::probe::read_applied_log;
use crate::hl7::Message;
use crate::observation::{AppliedOrder, CaseObservation};
use crate::scenario::Order;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// The longest the applied log may take to come.
const READ_LIMIT: Duration = Duration::from_secs(5);

/// The case's control ids when some connection carried two different ones (in the order of the
/// exchanges); empty otherwise.
fn sequenced_ids(obs: &CaseObservation) -> BTreeSet<String> {
    let mut by_connection: BTreeMap<usize, BTreeSet<String>> = BTreeMap::new();
    for exchange in obs.exchanges.iter().filter(|e| !e.attempts.is_empty()) {
        let id =
            Message::parse(&exchange.sent).ok().and_then(|m| m.control_id().map(str::to_string));
        if let Some(id) = id {
            by_connection.entry(exchange.connection).or_default().insert(id);
        }
    }
    if by_connection.values().all(|ids| ids.len() < 2) {
        return BTreeSet::new();
    }
    by_connection.into_values().flatten().collect()
}

/// Fills `obs.applied` when there is an order to judge.
pub(super) async fn read_applied(ctx: &Context, order: Order, obs: &mut CaseObservation) {
    let ids = sequenced_ids(obs);
    if order == Order::Any || ids.is_empty() {
        return;
    }
    let Some((state, spec)) =
        ctx.effects.state.as_deref().and_then(|state| Some((state, state.applied.as_ref()?)))
    else {
        obs.applied = AppliedOrder::Undeclared(
            "the target profile names no applied log (state.applied), so the order the target \
             applied the messages in cannot be read"
                .into(),
        );
        return;
    };
    obs.applied = match read_applied_log(spec, state, READ_LIMIT).await {
        Err((what, why)) => AppliedOrder::Unavailable(format!("{what}: {why}")),
        Ok((_, log)) => AppliedOrder::Log(first_applications(&log, &ids)),
    };
}

/// The case's own ids from an applied log, first application only.
fn first_applications(log: &[String], ids: &BTreeSet<String>) -> Vec<String> {
    let mut seen = BTreeSet::new();
    log.iter().filter(|id| ids.contains(*id) && seen.insert(id.to_string())).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applied_log_keeps_the_cases_ids_once_in_order() {
        let ids: BTreeSet<String> = ["A", "B"].iter().map(|s| s.to_string()).collect();
        let log: Vec<String> = ["X", "B", "A", "B"].iter().map(|s| s.to_string()).collect();
        assert_eq!(first_applications(&log, &ids), vec!["B".to_string(), "A".to_string()]);
    }
}
