//! The agent's side of the cluster loop, running until shutdown: it starts the pods of its
//! local copy at once (no master needed, including after a reboot), then heartbeats every
//! second, long-polls for assignments behind the epoch fence, reports pod status on change and
//! renews its certificate before two thirds of its life.
//!
//! Disk writes: the local copy when the assigned objects change, the fence when the master's
//! epoch rises, the credentials at renewal. Nothing per heartbeat or per poll.
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{watch, Notify};

use crate::wire::{Epoch, Generation, NodeName, NodeStatus};

use super::fence::{EpochFence, FenceError};
use super::heartbeat::HeartbeatState;
use super::identity::NodeIdentity;
use super::join;
use super::link::{LinkError, MasterLink, PollAnswer};
use super::local_copy::{desired_of, LocalCopy, LocalCopyError};
use super::node_info::{keep_transition_times, read_node_status, NodeInfoConfig};
use super::reporter::StatusReporter;
use super::runtime::PodRuntime;

/// Timings of the sync loop.
#[derive(Debug, Clone)]
pub struct SyncConfig {
    /// The agent's data directory (identity, fence, local copy).
    pub data_dir: PathBuf,
    /// 1 s (DESIGN.md §6).
    pub heartbeat_interval: Duration,
    /// How long one assignments long-poll may wait at the master (≤ 30 s).
    pub long_poll_wait: Duration,
    /// First pause after a failed poll, doubled up to `retry_max`.
    pub retry_min: Duration,
    pub retry_max: Duration,
    /// Safety net: statuses are compared this often even without a change signal.
    pub status_check_interval: Duration,
    /// How often the node's own status (memory, disk, addresses) is read again; heartbeats in
    /// between reuse the last reading, so an idle heartbeat reads no file.
    pub node_status_interval: Duration,
    /// Pause between renewal attempts that failed.
    pub renewal_retry: Duration,
    /// The highest master epoch the fence admitted, published for the tunnel's requests
    /// loop (`requests::run`), which refuses requests from older epochs.
    pub epoch_seen: watch::Sender<Epoch>,
}

impl SyncConfig {
    pub fn new(data_dir: PathBuf) -> SyncConfig {
        SyncConfig {
            data_dir,
            heartbeat_interval: Duration::from_secs(1),
            long_poll_wait: Duration::from_secs(30),
            retry_min: Duration::from_millis(250),
            retry_max: Duration::from_secs(5),
            status_check_interval: Duration::from_secs(5),
            node_status_interval: Duration::from_secs(10),
            renewal_retry: Duration::from_secs(60),
            epoch_seen: watch::channel(Epoch(0)).0,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("cannot start the cluster sync: {0}")]
    Fence(#[from] FenceError),
    #[error("cannot start the cluster sync: {0}")]
    LocalCopy(#[from] LocalCopyError),
}

struct State {
    fence: EpochFence,
    copy: LocalCopy,
    /// The generation held in the current epoch; 0 until the master answered once.
    generation: Generation,
    /// Whether the runtime got a set from this run (the local copy or the master).
    applied: bool,
    heartbeat: HeartbeatState,
    reporter: StatusReporter,
    last_status: Option<NodeStatus>,
    reachable: Option<bool>,
}

struct Shared<L, R> {
    link: Arc<L>,
    runtime: Arc<R>,
    node: NodeName,
    info: NodeInfoConfig,
    config: SyncConfig,
    state: Mutex<State>,
    /// Wakes the status loop for a resync.
    resync: Notify,
}

impl<L, R> Shared<L, R> {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Logs reachability changes only, so a dead master is one line, not one per second.
    fn reachability(&self, reachable: bool, error: Option<&LinkError>) {
        let mut state = self.state();
        if state.reachable != Some(reachable) {
            state.reachable = Some(reachable);
            match error {
                Some(e) => {
                    tracing::warn!(error = %e, "master unreachable; pods keep running from the local copy")
                }
                None => tracing::info!("master reachable"),
            }
        }
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Runs the sync until `shutdown` turns true. The pods of the local copy are handed to the
/// runtime before anything touches the network.
pub async fn run<L: MasterLink, R: PodRuntime>(
    link: Arc<L>,
    runtime: Arc<R>,
    identity: NodeIdentity,
    info: NodeInfoConfig,
    config: SyncConfig,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), SyncError> {
    let mut fence = EpochFence::load(&config.data_dir)?;
    fence.publish_to(config.epoch_seen.clone());
    let copy = match LocalCopy::open(&config.data_dir) {
        Ok(copy) => copy,
        Err(LocalCopyError::Corrupt { path, source }) => {
            tracing::warn!(path = %path.display(), error = %source, "ignoring an unreadable local copy of the assignments");
            std::fs::remove_file(&path).ok();
            LocalCopy::open(&config.data_dir)?
        }
        Err(e) => return Err(e.into()),
    };
    let applied = match copy.desired() {
        Some(desired) => {
            tracing::info!(
                pods = desired.pods.len(),
                "starting the pods of the local copy"
            );
            runtime.set_desired(desired);
            true
        }
        None => false,
    };
    let shared = Arc::new(Shared {
        link,
        runtime,
        node: identity.node.clone(),
        info,
        config,
        state: Mutex::new(State {
            fence,
            copy,
            generation: Generation(0),
            applied,
            heartbeat: HeartbeatState::new(identity.node.clone()),
            reporter: StatusReporter::default(),
            last_status: None,
            reachable: None,
        }),
        resync: Notify::new(),
    });
    tokio::select! {
        _ = heartbeat_loop(shared.clone()) => {}
        _ = poll_loop(shared.clone()) => {}
        _ = status_loop(shared.clone()) => {}
        _ = renewal_loop(shared.clone(), identity) => {}
        _ = async {
            while shutdown.changed().await.is_ok() {
                if *shutdown.borrow() {
                    break;
                }
            }
        } => {}
    }
    Ok(())
}

async fn heartbeat_loop<L: MasterLink, R: PodRuntime>(shared: Arc<Shared<L, R>>) {
    let mut interval = tokio::time::interval(shared.config.heartbeat_interval);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut read_at: Option<tokio::time::Instant> = None;
    loop {
        interval.tick().await;
        let due = read_at.is_none_or(|at| at.elapsed() >= shared.config.node_status_interval);
        let fresh = due.then(|| {
            read_at = Some(tokio::time::Instant::now());
            read_node_status(&shared.info, unix_now())
        });
        let outgoing = {
            let mut state = shared.state();
            if let Some(mut current) = fresh {
                if let Some(previous) = &state.last_status {
                    keep_transition_times(previous, &mut current);
                }
                state.last_status = Some(current);
            }
            let current = state.last_status.clone().expect("read on the first tick");
            let epoch = state.fence.highest();
            state.heartbeat.next(&current, epoch)
        };
        match shared.link.heartbeat(outgoing.heartbeat.clone()).await {
            Ok(ack) => {
                shared.reachability(true, None);
                let resync = {
                    let mut state = shared.state();
                    if let Err(e) = state.fence.admit(ack.epoch) {
                        tracing::warn!(error = %e, "ignoring a heartbeat answer");
                        continue;
                    }
                    let resync = state.heartbeat.acknowledged(outgoing, &ack);
                    if resync {
                        state.reporter.resync();
                    }
                    resync
                };
                if resync {
                    shared.resync.notify_one();
                }
            }
            Err(e) => shared.reachability(false, Some(&e)),
        }
    }
}

async fn poll_loop<L: MasterLink, R: PodRuntime>(shared: Arc<Shared<L, R>>) {
    let mut pause = shared.config.retry_min;
    loop {
        let (after, epoch) = {
            let state = shared.state();
            (state.generation, state.fence.highest())
        };
        let answer = shared
            .link
            .assignments(&shared.node, after, epoch, shared.config.long_poll_wait)
            .await;
        match answer {
            Ok(PollAnswer::Changed(set)) => {
                pause = shared.config.retry_min;
                let apply = {
                    let mut state = shared.state();
                    if let Err(e) = state.fence.admit(set.epoch) {
                        tracing::warn!(error = %e, "ignoring assignments");
                        None
                    } else {
                        if set.epoch > epoch {
                            tracing::info!(epoch = %set.epoch, "following a new master epoch");
                        }
                        state.generation = set.generation;
                        match state.copy.keep(&set) {
                            Ok(changed) if changed || !state.applied => {
                                state.applied = true;
                                Some(desired_of(&set))
                            }
                            Ok(_) => None,
                            Err(e) => {
                                // Still run what the master says; only the copy is stale.
                                tracing::warn!(error = %e, "could not keep the local copy of the assignments");
                                state.applied = true;
                                Some(desired_of(&set))
                            }
                        }
                    }
                };
                if let Some(desired) = apply {
                    tracing::info!(generation = %set.generation, pods = desired.pods.len(), "new assignments");
                    shared.runtime.set_desired(desired);
                }
            }
            Ok(PollAnswer::Unchanged(fence)) => {
                pause = shared.config.retry_min;
                if let Err(e) = shared.state().fence.admit(fence.epoch) {
                    tracing::warn!(error = %e, "ignoring an assignments answer");
                }
            }
            Err(e) => {
                if let LinkError::Refused(refusal) = &e {
                    tracing::warn!(%refusal, "the master refused the assignments poll");
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(shared.config.retry_max);
            }
        }
    }
}

async fn status_loop<L: MasterLink, R: PodRuntime>(shared: Arc<Shared<L, R>>) {
    let mut changes = shared.runtime.status_changes();
    loop {
        let pending = {
            let statuses = shared.runtime.statuses();
            shared.state().reporter.pending(statuses)
        };
        for mut report in pending {
            report.node = shared.node.clone();
            match shared.link.pod_status(report.clone()).await {
                Ok(ack) => {
                    let mut state = shared.state();
                    if state.fence.admit(ack.epoch).is_ok() {
                        state.reporter.acknowledged(report);
                    }
                }
                Err(LinkError::Refused(refusal)) => {
                    // The master does not hold this pod for this node (evicted, replaced): it
                    // stops with the next assignments. Do not retry until it changes again.
                    tracing::debug!(%refusal, pod = %report.pod, "pod status refused");
                    shared.state().reporter.acknowledged(report);
                }
                Err(_) => break,
            }
        }
        tokio::select! {
            changed = changes.changed() => {
                if changed.is_err() {
                    // The runtime went away; fall back to the periodic check.
                    tokio::time::sleep(shared.config.status_check_interval).await;
                }
            }
            _ = shared.resync.notified() => {}
            _ = tokio::time::sleep(shared.config.status_check_interval) => {}
        }
    }
}

async fn renewal_loop<L: MasterLink, R: PodRuntime>(
    shared: Arc<Shared<L, R>>,
    mut identity: NodeIdentity,
) {
    loop {
        let wait = match identity.renew_at() {
            Ok(at) => at
                .duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the node certificate's validity; not renewing");
                std::future::pending::<()>().await;
                return;
            }
        };
        tokio::time::sleep(wait).await;
        match join::renew(shared.link.as_ref(), &identity, &shared.config.data_dir).await {
            Ok(renewed) => match shared.link.reload(&renewed) {
                Ok(()) => {
                    tracing::info!("node certificate renewed");
                    identity = renewed;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "renewed certificate cannot be used");
                    tokio::time::sleep(shared.config.renewal_retry).await;
                }
            },
            Err(e) => {
                tracing::warn!(error = %e, "node certificate renewal failed; retrying");
                tokio::time::sleep(shared.config.renewal_retry).await;
            }
        }
    }
}
