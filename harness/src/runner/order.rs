//! Reads the order in which the target applied a case's messages, for `history.order`: the
//! state endpoint's applied log (`GET {state}/applied`, a JSON object whose `applied` array
//! lists MSH-10s in the order the messages were applied; the built-in endpoint serves it). Only
//! read when the case sent two or more messages on one connection and keeps order; a target
//! without the log is recorded as such, so the check says it could not judge.

use super::exec::Context;
use super::observation::{AppliedOrder, CaseObservation};
use super::probe::http_get;
use crate::hl7::Message;
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
pub(super) async fn read_applied(ctx: &Context, obs: &mut CaseObservation) {
    let ids = sequenced_ids(obs);
    if obs.order == Order::Any || ids.is_empty() {
        return;
    }
    obs.applied = match &ctx.state {
        None => AppliedOrder::Unavailable(
            "the target has no state endpoint (give --state URL or target.state) to read its \
             applied log from"
                .into(),
        ),
        Some(state) => {
            let url = format!("{}/applied", state.trim_end_matches('/'));
            match tokio::time::timeout(READ_LIMIT, http_get(&url)).await {
                Err(_) => AppliedOrder::Unavailable(format!(
                    "GET {url}: no answer within {}ms",
                    READ_LIMIT.as_millis()
                )),
                Ok(Err(why)) => AppliedOrder::Unavailable(format!("GET {url}: {why}")),
                Ok(Ok((status, body))) => parse_applied(&url, status, &body, &ids),
            }
        }
    };
}

/// The case's own ids from an applied log, first application only.
fn parse_applied(url: &str, status: u16, body: &[u8], ids: &BTreeSet<String>) -> AppliedOrder {
    let value: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let Some(list) =
        value.as_ref().and_then(|v| v.get("applied")?.as_array()).filter(|_| status == 200)
    else {
        return AppliedOrder::Unavailable(format!(
            "GET {url}: HTTP {status}, no JSON object with an \"applied\" array"
        ));
    };
    let mut seen = BTreeSet::new();
    let log = list
        .iter()
        .filter_map(|v| v.as_str())
        .filter(|id| ids.contains(*id) && seen.insert(id.to_string()))
        .map(str::to_string)
        .collect();
    AppliedOrder::Log(log)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applied_log_keeps_the_cases_ids_once_in_order() {
        let ids: BTreeSet<String> = ["A", "B"].iter().map(|s| s.to_string()).collect();
        let body = br#"{"applied": ["X", "B", "A", "B"], "older_not_kept": 0}"#;
        assert_eq!(
            parse_applied("u", 200, body, &ids),
            AppliedOrder::Log(vec!["B".into(), "A".into()])
        );
        assert!(matches!(
            parse_applied("u", 404, b"nothing at /applied", &ids),
            AppliedOrder::Unavailable(why) if why.contains("HTTP 404")
        ));
        assert!(matches!(parse_applied("u", 200, b"[]", &ids), AppliedOrder::Unavailable(_)));
    }
}
