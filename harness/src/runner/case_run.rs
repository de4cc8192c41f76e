//! A case ready to run ([`CaseRun`]: the expanded case, its seed and position) and the run-wide
//! [`Context`] it runs in (target, timeouts, templates, TLS, lab).

use super::target::TargetUrl;
use crate::faults::{ClientFaults, NetworkFault};
use crate::generator::Mutation;
use crate::netlab::{Lab, LabError};
use crate::scenario::{Case, FieldPath, Step, TemplateMessage};
use crate::transport::connection::Timeouts;
use crate::transport::dial::{Dialed, Dialer, Route};
use crate::vocab::Seed;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// The value of `{unique}` in a case with seed `seed`: 8 hex digits, so ids made with it fit
/// the fields they go into. Reports redact it (it changes with the run's seed).
pub fn unique_token(seed: Seed) -> String {
    let Seed(seed) = seed;
    format!("{:08x}", (seed ^ (seed >> 32)) as u32)
}

/// What a case runs against, shared by the cases of one scenario file.
pub struct Context {
    pub url: TargetUrl,
    /// What `{state}` stands for in probes.
    pub state: Option<String>,
    /// How the target's effects are read (its profile's `state:` mapping).
    pub effects: super::probe::Effects,
    pub timeouts: Timeouts,
    pub ack_timeout: Duration,
    pub linger: Duration,
    pub basic: Option<(String, String)>,
    /// For `mllps://` and `https://`.
    pub tls: Option<tokio_rustls::TlsConnector>,
    /// For `hllp://`: the scenario's block settings.
    pub hllp: crate::transport::hllp::HllpOptions,
    pub templates: BTreeMap<String, Vec<TemplateMessage>>,
    /// The packet-level lab, for files with faults that need it: every MLLP connection of the
    /// file then starts inside its network namespace.
    pub lab: Option<Arc<Lab>>,
}

/// One case as it will run: the scenario's case plus the variant picked by expansion.
#[derive(Debug, Clone)]
pub struct CaseRun {
    /// Position in the scenario file's run list; part of every control id.
    pub index: usize,
    pub name: String,
    pub case: Case,
    /// Which message of a multi-message template.
    pub pick: usize,
    /// From `vary: { mutation: … }`.
    pub extra_mutation: Option<Mutation>,
    /// From `vary: { values: … }`.
    pub vary_value: Option<(FieldPath, String)>,
    pub seed: Seed,
    pub run_seed: Seed,
    /// Which scenario file of the run (0-based): part of every control id, so that files
    /// sharing one target never reuse an MSH-10.
    pub file: usize,
}

impl Context {
    /// Where the file's client connections start: inside the lab's namespace when the file has
    /// a lab (it is for plain MLLP only: `lab::through_lab` refuses other targets), else here.
    pub(super) fn route(&self) -> Route {
        match &self.lab {
            Some(lab) => Route::Via(Arc::new(LabDialer(Arc::clone(lab)))),
            None => Route::Direct,
        }
    }
}

/// The lab as the client connect's way of obtaining a stream.
struct LabDialer(Arc<Lab>);

impl Dialer for LabDialer {
    fn dial<'a>(&'a self, addr: &'a str, wait: Duration) -> Dialed<'a> {
        Box::pin(async move {
            let target: std::net::SocketAddr = addr
                .parse()
                .map_err(|_| std::io::Error::other("the lab connects to an IP address and port"))?;
            match self.0.connect(target, wait).await {
                Ok(stream) => Ok(stream),
                // A timeout stays one (the client connect names it so); other errors keep the
                // lab's words.
                Err(LabError::Socket(e)) if e.kind() == std::io::ErrorKind::TimedOut => Err(e),
                Err(err) => Err(std::io::Error::other(err.to_string())),
            }
        })
    }
}

impl CaseRun {
    /// The case's `network:` faults as the client connection's rules (the case's for every
    /// frame, each step's for its own), drawn from the case seed.
    pub fn faults(&self) -> ClientFaults {
        let steps = self.steps();
        let lists: Vec<&[NetworkFault]> = steps.iter().map(|s| s.network.as_slice()).collect();
        ClientFaults::new(&self.case.network, &lists, self.seed)
    }

    /// The case's steps (a single-message case was made one step when the file was resolved).
    pub fn steps(&self) -> Vec<Step> {
        self.case.steps.clone()
    }

    pub(super) fn unique(&self) -> String {
        unique_token(self.seed)
    }

    pub(super) fn control_id(&self, step: usize, connection: usize) -> String {
        // At most 16 characters (MSH-10 is 20 in v2.3): H, seed, file, case, step, connection.
        format!(
            "H{:04X}{:02}{:04}{:02}{}",
            self.run_seed.0 & 0xFFFF,
            self.file % 100,
            self.index % 10_000,
            step % 100,
            connection % 10
        )
    }
}
