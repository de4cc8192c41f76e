//! One destination of the through role: the receiver role's answering server (the same
//! `CaseState`, connection handler and answer rules) listening as one of an engine's
//! destinations, over MLLP, HL7 over HTTP (`runner::receiver::http`, as `receiver.http`) or
//! HLLP (`runner::receiver::hllp`), recording each arrival with the answer it got.

use super::{serve_connection, CaseState};
use crate::faults::{Answer, AnswerRules};
use crate::observation::Arrival;
use crate::scenario::HttpListening;
use crate::transport::hllp::HllpOptions;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio::time::Instant;

/// A destination being played: its acceptor runs until [`Destination::stop`] or `deadline`.
pub struct Destination {
    state: Arc<CaseState>,
    acceptor: tokio::task::JoinHandle<()>,
}

/// What a destination speaks.
#[derive(Debug, Clone)]
pub enum Speaks {
    Mllp,
    /// An HL7-over-HTTP receiver (`http:`).
    Http(Arc<HttpListening>),
    /// An HLLP receiver (`hllp:`) with these block settings.
    Hllp(HllpOptions),
}

impl Speaks {
    /// `http:` or `hllp:` of a destination, MLLP without either.
    pub fn of(http: Option<&HttpListening>, hllp: Option<HllpOptions>) -> Speaks {
        match (http, hllp) {
            (Some(http), _) => Speaks::Http(Arc::new(http.clone())),
            (None, Some(options)) => Speaks::Hllp(options),
            (None, None) => Speaks::Mllp,
        }
    }
}

impl Destination {
    /// Accepts on `listener` and answers every arrival as `answers` say (AA after the list),
    /// over whichever transport `speaks` names; times taken from `started`, until `deadline`.
    pub fn answer_speaking(
        listener: TcpListener,
        answers: &[Answer],
        speaks: Speaks,
        (started, deadline): (Instant, Instant),
    ) -> Destination {
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
        let state = Arc::new(CaseState {
            started,
            arrivals: Mutex::new(Vec::new()),
            next_arrival: Mutex::new(0),
            next_connection: Mutex::new(0),
            answers: AnswerRules::from_list(answers),
            behaviours: Vec::new(),
            lab: None,
            port,
            cuts: Mutex::new(Vec::new()),
            judge: None,
            held: Mutex::new(Vec::new()),
        });
        let accept_state = Arc::clone(&state);
        let acceptor = tokio::spawn(async move {
            let mut handlers = tokio::task::JoinSet::new();
            while let Ok(Ok((stream, _))) =
                tokio::time::timeout_at(deadline, listener.accept()).await
            {
                let state = Arc::clone(&accept_state);
                match &speaks {
                    Speaks::Http(http) => handlers.spawn(super::http::serve_connection(
                        state,
                        stream,
                        deadline,
                        Arc::clone(http),
                    )),
                    Speaks::Hllp(options) => handlers
                        .spawn(super::hllp::serve_connection(state, stream, deadline, *options)),
                    Speaks::Mllp => handlers.spawn(serve_connection(state, stream, deadline)),
                };
            }
            handlers.shutdown().await;
        });
        Destination { state, acceptor }
    }

    /// Arrivals answered with a correct accept so far.
    pub fn accepted(&self) -> usize {
        let arrivals = self.state.arrivals.lock().unwrap_or_else(|e| e.into_inner());
        arrivals.iter().filter(|(_, a)| a.accepted).count()
    }

    /// The waits this destination required so far: answers it held back (`late_ack`).
    pub fn held(&self) -> Vec<crate::observation::Wait> {
        self.state.held()
    }

    /// Stops listening (open connections are dropped) and gives the arrivals in order.
    pub async fn stop(self) -> Vec<Arrival> {
        self.acceptor.abort();
        let _ = self.acceptor.await;
        let mut arrivals =
            std::mem::take(&mut *self.state.arrivals.lock().unwrap_or_else(|e| e.into_inner()));
        arrivals.sort_by_key(|(n, _)| *n);
        arrivals.into_iter().map(|(_, a)| a).collect()
    }
}
