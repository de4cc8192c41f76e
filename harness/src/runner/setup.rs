//! Setting a sender-role file up before its cases run: which target it runs against
//! (`--target`, the file's `target.url`, or a built-in endpoint started for it), the
//! packet-level lab, TLS and the state endpoint its effects are read from. The file's target
//! URL and timeouts come resolved, defaults applied ([`crate::scenario::Target`]). What it
//! builds is the [`Context`] every case of the file shares.

use super::options::RunOptions;
use super::outcome::RunError;
use super::{lab, probe, Builtin, Context, FileRuns, TargetUrl};
use crate::faults::{Fault, Host};
use crate::scenario::{LoadedScenario, Pack, Transport};
use crate::target::log::Log;
use crate::transport::connection::Timeouts;
use crate::transport::tls::ClientTls;
use crate::transport::userinfo::Credentials;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

/// A sender-role file made ready to run, or the reason it cannot run here.
pub(super) enum Setup {
    /// The file is skipped, and why (the lab is missing, the target is not reachable from it).
    Skipped(String),
    Ready(Prepared),
}

/// What the cases of a file run against.
pub(super) struct Prepared {
    pub ctx: Arc<Context>,
    /// The built-in endpoint started for the file: stopped when the file is done.
    pub builtin: Option<Builtin>,
    /// The file runs against a target other than the built-in endpoint.
    pub external: bool,
}

/// The file's target: `--target`, else the file's `target.url` (parsed when the file was
/// resolved; the built-in endpoint when it names none), with the credentials written into it.
pub(super) fn target(
    scenario: &LoadedScenario,
    options: &RunOptions,
) -> Result<(TargetUrl, Option<Credentials>), RunError> {
    let parsed = match &options.target {
        Some(text) => TargetUrl::parse_with_credentials(text),
        None => scenario.file.target.url.clone(),
    };
    parsed.map_err(|e| RunError::Target {
        file: scenario.path.display().to_string(),
        message: e.to_string(),
    })
}

/// Starts what the file needs (its lab, its built-in endpoint) and builds the context its cases
/// share. `url` is the file's target as [`target`] parsed it.
pub(super) async fn prepare(
    scenario: &LoadedScenario,
    options: &RunOptions,
    (url, url_credentials): (TargetUrl, Option<Credentials>),
) -> Result<Setup, RunError> {
    let spec = &scenario.file.target;
    let transport = spec.transport_or_default();
    let connect = spec.timeouts.connect;
    // Packet-level faults: a lab for the file, or the file is skipped, saying why.
    let lab = match lab::for_file(&scenario.file).await {
        Ok(lab) => lab,
        Err(reason) => return Ok(Setup::Skipped(reason.to_string())),
    };
    let (builtin, url, state) = match url {
        TargetUrl::Builtin => {
            let hllp = spec.hllp;
            let bind = lab
                .as_ref()
                .map_or(IpAddr::from(Ipv4Addr::LOCALHOST), |l| IpAddr::from(l.host_ip()));
            // The endpoint's lines are kept and told with the file's events, not printed
            // into the middle of the run's output.
            let log = Log::kept();
            let plays = spec
                .builtin
                .as_ref()
                .filter(|b| b.plays_profile)
                .and(profile_of(scenario, options))
                .map(|loaded| loaded.profile.as_ref());
            let builtin = Builtin::start_playing(
                &options.defects,
                spec.builtin.as_ref(),
                hllp,
                bind,
                log,
                plays,
            )
            .await
            .map_err(RunError::Builtin)?;
            let url = builtin.url(transport);
            let state = Some(builtin.state_url.clone());
            (Some(builtin), url, state)
        }
        other => {
            let declared =
                profile_of(scenario, options).and_then(|p| p.profile.state.as_ref()?.url.clone());
            let state = options.state.clone().or(declared).or_else(|| spec.state.clone());
            (None, other, state)
        }
    };
    let external = builtin.is_none();
    let effects = effects_of(profile_of(scenario, options), builtin.is_some(), &state);
    let url = match &lab {
        Some(lab) => {
            let through = lab::through_lab(url, lab.host_ip());
            let checked = match through {
                Ok(url) if builtin.is_none() => {
                    lab::reachable(lab, &url, connect).await.map(|()| url)
                }
                other => other,
            };
            match checked {
                Ok(url) => url,
                Err(reason) => {
                    if let Some(builtin) = builtin {
                        builtin.stop().await;
                    }
                    return Ok(Setup::Skipped(reason.to_string()));
                }
            }
        }
        None => url,
    };
    let tls = if url.uses_tls() {
        let spec_tls = spec.tls.as_ref().ok_or_else(|| RunError::Target {
            file: scenario.path.display().to_string(),
            message: "mllps:// and https:// targets need target.tls.ca (the CA that signs the \
                      server's certificate) in the scenario"
                .into(),
        })?;
        let client = ClientTls {
            ca_file: Some(spec_tls.ca.resolved.clone()),
            client_cert: spec_tls
                .client_cert
                .as_ref()
                .zip(spec_tls.client_key.as_ref())
                .map(|(c, k)| (c.resolved.clone(), k.resolved.clone())),
        };
        Some(client.connector().map_err(|e| RunError::Target {
            file: scenario.path.display().to_string(),
            message: e.to_string(),
        })?)
    } else {
        None
    };
    let timeouts = spec.timeouts;
    let ctx = Arc::new(Context {
        url,
        state,
        effects,
        timeouts: Timeouts { connect, read: timeouts.ack, write: timeouts.write },
        ack_timeout: timeouts.ack,
        linger: timeouts.linger,
        // Credentials in the target URL win over the file's auth.basic, as the URL itself does
        // when it comes from --target.
        basic: url_credentials.map(Credentials::into_pair).or_else(|| {
            scenario
                .file
                .auth
                .as_ref()
                .map(|a| (a.basic.user.0.clone(), a.basic.password.expose().to_string()))
        }),
        templates: scenario.file.templates.clone(),
        tls,
        lab,
        hllp: spec.hllp,
    });
    Ok(Setup::Ready(Prepared { ctx, builtin, external }))
}

/// Why a scenario written for one transport cannot run against `url`, if it cannot.
pub(super) fn mismatch(url: &TargetUrl, declared: Option<Transport>) -> Option<String> {
    let offered = match url {
        TargetUrl::Builtin => return None,
        TargetUrl::Mllp(_) | TargetUrl::Mllps(_) => Transport::Mllp,
        TargetUrl::Http(_) | TargetUrl::Https(_) => Transport::Http,
        TargetUrl::Hllp(_) => Transport::Hllp,
    };
    // A file that names no transport is an MLLP scenario; only HLLP files run over HLLP.
    let wanted = match (declared, offered) {
        (Some(wanted), _) => wanted,
        (None, Transport::Hllp) => Transport::Mllp,
        (None, _) => return None,
    };
    (offered != wanted).then(|| {
        let (name, example) = match wanted {
            Transport::Mllp => ("MLLP", "mllp://HOST:PORT"),
            Transport::Http => ("HTTP", "http(s)://HOST:PORT/PATH"),
            Transport::Hllp => ("HLLP", "hllp://HOST:PORT"),
        };
        format!("written for an {name} target; give --target {example} to run it")
    })
}

/// Why a file cannot run against `url` because the client connection to it cannot carry out
/// one of its `network:` faults (a file that names no transport, run against an HTTP target):
/// a fault is never silently left out of a case. The file's own transport is checked when it
/// is loaded.
pub(super) fn unapplied_fault(url: &TargetUrl, scenario: &LoadedScenario) -> Option<String> {
    let host = match url {
        TargetUrl::Builtin => return None,
        TargetUrl::Mllp(_) | TargetUrl::Mllps(_) => Host::MllpClient,
        TargetUrl::Http(_) | TargetUrl::Https(_) => Host::HttpClient,
        TargetUrl::Hllp(_) => Host::HllpClient,
    };
    scenario.file.cases.iter().find_map(|case| {
        case.network_faults().map(|f| Fault::Client(f.clone())).find_map(|fault| {
            let refused = host.check(&fault).err()?;
            Some(format!("case {:?}: {refused}", case.name))
        })
    })
}

/// The profile a scenario's cases are graded by: `--target-profile`, else the file's own.
pub(super) fn profile_of<'a>(
    scenario: &'a LoadedScenario,
    options: &'a RunOptions,
) -> Option<&'a crate::profile::LoadedProfile> {
    options.profile.as_ref().or(scenario.file.profile.as_ref())
}

/// How a file's target has its effects read. The built-in endpoint: its own mapping
/// ([`StateSpec::builtin`]) at its state URL, and `duplicates: apply-once` unless the profile
/// declares otherwise. Any other target: its profile's `state:` with `url` filled in from
/// `--state` or `target.state` when the profile leaves it out; no mapping without a profile.
///
/// [`StateSpec::builtin`]: crate::profile::StateSpec::builtin
pub(super) fn effects_of(
    profile: Option<&crate::profile::LoadedProfile>,
    builtin: bool,
    state_url: &Option<String>,
) -> probe::Effects {
    use crate::profile::{DuplicatePolicy, StateSpec};
    let declared = profile.map(|p| &*p.profile);
    let mapping =
        if builtin { Some(StateSpec::builtin()) } else { declared.and_then(|p| p.state.clone()) };
    let duplicates =
        declared.and_then(|p| p.duplicates).or(builtin.then_some(DuplicatePolicy::ApplyOnce));
    probe::Effects {
        state: mapping.map(|mut spec| {
            spec.url = state_url.clone().or(spec.url);
            Arc::new(spec)
        }),
        duplicates,
    }
}

/// Every profile the selected files are graded by, once each, in file order.
pub(super) fn profiles_used(
    packs: &[Pack],
    options: &RunOptions,
) -> Vec<crate::profile::ProfileUsed> {
    let mut used: Vec<crate::profile::ProfileUsed> = Vec::new();
    for scenario in packs.iter().flat_map(|p| p.scenarios.iter()) {
        if let Some(profile) = profile_of(scenario, options) {
            let entry = crate::profile::ProfileUsed::from(profile);
            if !used.contains(&entry) {
                used.push(entry);
            }
        }
    }
    used
}

/// Whether the file's target may be given several connections at once. MLLP leaves it to the
/// receiver to serve one connection at a time (release 1 says nothing of concurrency), so only
/// a target whose profile declares `concurrent_connections: true` gets cases side by side,
/// and the built-in endpoint, whose behaviour the harness knows (every file starts its own,
/// which serves connections concurrently unless `one-connection-at-a-time` is switched on).
pub(super) fn serves_side_by_side(scenario: &LoadedScenario, options: &RunOptions) -> bool {
    if let Some(declared) =
        profile_of(scenario, options).and_then(|p| p.profile.concurrent_connections)
    {
        return declared;
    }
    on_own_builtin(scenario, options)
        && !options.defects.has(crate::target::defect::Defect::OneConnectionAtATime)
}

/// The file runs against a built-in endpoint of its own (started for the file).
pub(super) fn on_own_builtin(scenario: &LoadedScenario, options: &RunOptions) -> bool {
    matches!(target(scenario, options), Ok((TargetUrl::Builtin, _)))
}

/// Whether a file may run at the same time as others. A file that needs the packet-level lab
/// may: its namespace, address block, firewall table and the built-in endpoint bound for it
/// are its own (labs of one process are made one at a time, so no two share a block), and its
/// cases' sockets are made on threads of their own inside it. Not when it measures load
/// (others would skew it), shares a target that may serve one connection at a time (another
/// file's cases would hold it), or holds an address other files could want: a receiver file
/// on a fixed port, a through file whose engine or destinations are not each case's own
/// ([`super::through::side_by_side`]). A receiver file's sender under test has its retry
/// timing judged, but the file already runs its own cases side by side (`--jobs`), and its
/// bounds (`retry_interval`) are the sender's own timers, far above the moments other cases'
/// work takes from it.
pub(super) fn runs_alongside(
    scenario: &LoadedScenario,
    runs: &FileRuns,
    options: &RunOptions,
) -> bool {
    match runs {
        FileRuns::Sender(_, load) => {
            !load && (on_own_builtin(scenario, options) || serves_side_by_side(scenario, options))
        }
        FileRuns::Receiver(_) => scenario.file.receiver.listen.ends_with(":0"),
        FileRuns::Through(_) => {
            scenario.file.through.as_ref().is_some_and(super::through::side_by_side)
        }
    }
}
