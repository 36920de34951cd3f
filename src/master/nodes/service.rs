//! The node service: the master's shell around the node cores. It holds the in-memory tables
//! (liveness, assignment generations, live pod status, pod CIDRs), answers the agent protocol
//! through [`super::http`], follows the store's changes, and runs the lifecycle tick that turns
//! silence into NotReady, taints and evictions.
//!
//! Disk writes happen only on changes: a join, a node status or condition that differs from
//! the stored one, a Ready ⇄ NotReady transition, an eviction, and batched pod status changes.
//! A heartbeat that changes nothing writes nothing.
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

use crate::store::{EventType, Object, WatchEvent};
use crate::wire::{
    Assignments, AssignmentsUnchanged, ConditionStatus, Epoch, Generation, Heartbeat, HeartbeatAck,
    Ipv4Cidr, JoinRequest, JoinResponse, NodeConditionKind, NodeName, PodStatusReport, Refusal,
    RefusalReason, RenewRequest, StatusAck,
};

use super::assignments::{self, AssignmentBook, Fingerprint, References};
use super::backend::{BackendError, NodeBackend};
use super::eviction::{self, BoundPod, EvictionDecision};
use super::join;
use super::lifecycle::{NodeLifecycle, NodeTimings, NotReadyCause, Transition};
use super::node_object;
use super::pod_cidr::{PodCidrAllocator, PodCidrError};
use super::pod_status::{PodKey, PodStatusTable};
use crate::master::tunnel::{Tunnel, TunnelConfig};

/// Attempts at a Node write that keeps losing races with other writers.
pub const NODE_WRITE_ATTEMPTS_MAX: u32 = 3;

/// Settings of the node service.
#[derive(Debug, Clone)]
pub struct NodesConfig {
    pub timings: NodeTimings,
    /// The cluster's pod network (default 10.88.0.0/16).
    pub cluster_cidr: Ipv4Cidr,
    /// Size of each node's share (default /24).
    pub node_prefix_len: u8,
    /// Lifetime of node certificates (30 days).
    pub node_cert_validity: Duration,
    /// Longest an assignments long-poll waits (30 s).
    pub long_poll_max: Duration,
    /// How often changed pod statuses are persisted, in one batch.
    pub status_flush_interval: Duration,
    /// How often the lifecycle looks at the clock.
    pub tick_interval: Duration,
}

impl Default for NodesConfig {
    fn default() -> NodesConfig {
        NodesConfig {
            timings: NodeTimings::default(),
            cluster_cidr: super::pod_cidr::CLUSTER_CIDR_DEFAULT
                .parse()
                .expect("valid default"),
            node_prefix_len: super::pod_cidr::NODE_PREFIX_LEN_DEFAULT,
            node_cert_validity: Duration::from_secs(30 * 24 * 3600),
            long_poll_max: Duration::from_secs(30),
            status_flush_interval: Duration::from_secs(1),
            tick_interval: Duration::from_millis(250),
        }
    }
}

/// Why the node service could not start.
#[derive(Debug, thiserror::Error)]
pub enum NodesError {
    #[error("node service: {0}")]
    Backend(#[from] BackendError),
    #[error("node service: {0}")]
    PodCidr(#[from] PodCidrError),
}

type ObjectRef = (&'static str, String, String);

/// A node's pods, config maps and secrets.
type NodeObjects = (Vec<Object>, Vec<Object>, Vec<Object>);

#[derive(Default)]
struct NodeFacts {
    /// Pods bound to the node, by key, with their uid: a node may report status only for these.
    pods: BTreeMap<PodKey, String>,
    /// Config maps and secrets its pods reference, to know whom a change concerns.
    references: BTreeSet<ObjectRef>,
    /// Wall-clock time of the last heartbeat, for reads.
    heartbeat_unix_s: i64,
    /// Whether the agent sent its whole status since this master started.
    status_seen: bool,
    waiter: Option<watch::Sender<Generation>>,
}

struct Core {
    lifecycle: NodeLifecycle,
    book: AssignmentBook,
    statuses: PodStatusTable,
    cidrs: PodCidrAllocator,
    facts: HashMap<NodeName, NodeFacts>,
    last_flush: Option<Instant>,
}

/// The master's view of its nodes. Shared by the HTTP handlers, the store follower and the
/// lifecycle tick through an `Arc`.
pub struct NodesService<B> {
    backend: B,
    config: NodesConfig,
    epoch: Epoch,
    core: Mutex<Core>,
    /// The reverse tunnel to the agents (logs, exec, statistics).
    tunnel: Arc<Tunnel>,
    /// Wakes the lifecycle loop when the first node appears (with none it sleeps: an idle
    /// master without nodes makes no wake-ups at all).
    node_appeared: tokio::sync::Notify,
}

fn unix_s(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn unavailable(e: BackendError) -> Refusal {
    Refusal::new(RefusalReason::Unavailable, e.to_string())
}

fn node_name_of(object: &Object, pointer: &str) -> Option<NodeName> {
    object
        .pointer(pointer)
        .and_then(|n| n.as_str())
        .and_then(|n| NodeName::new(n).ok())
}

fn pod_key(object: &Object) -> Option<PodKey> {
    Some((
        object.pointer("/metadata/namespace")?.as_str()?.to_string(),
        object.pointer("/metadata/name")?.as_str()?.to_string(),
    ))
}

impl<B: NodeBackend> NodesService<B> {
    /// Rebuilds the tables from the store: every node is adopted with a full grace period,
    /// pod CIDRs restored, generations computed and stored pod statuses seeded.
    pub fn start(
        backend: B,
        config: NodesConfig,
        epoch: Epoch,
        now: Instant,
    ) -> Result<Arc<NodesService<B>>, NodesError> {
        let mut core = Core {
            lifecycle: NodeLifecycle::new(config.timings),
            book: AssignmentBook::new(epoch),
            statuses: PodStatusTable::default(),
            cidrs: PodCidrAllocator::new(config.cluster_cidr, config.node_prefix_len)?,
            facts: HashMap::new(),
            last_flush: None,
        };
        let mut names = Vec::new();
        for node in backend.list_nodes()? {
            let Some(name) = node_name_of(&node, "/metadata/name") else {
                continue;
            };
            if let Some(cidr) = node_object::pod_cidr(&node) {
                core.cidrs.restore(name.clone(), cidr)?;
            }
            core.lifecycle.adopt(name.clone(), now);
            core.facts.insert(name.clone(), NodeFacts::default());
            names.push(name);
        }
        for pod in backend.bound_pods()? {
            core.statuses.seed(&pod);
        }
        let service = Arc::new(NodesService {
            backend,
            config,
            epoch,
            core: Mutex::new(core),
            tunnel: Arc::new(Tunnel::new(epoch, TunnelConfig::default())),
            node_appeared: tokio::sync::Notify::new(),
        });
        for name in names {
            service.refresh(&name)?;
        }
        Ok(service)
    }

    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    pub fn backend(&self) -> &B {
        &self.backend
    }

    pub fn config(&self) -> &NodesConfig {
        &self.config
    }

    /// The reverse tunnel to this master's agents.
    pub fn tunnel(&self) -> &Arc<Tunnel> {
        &self.tunnel
    }

    fn core(&self) -> MutexGuard<'_, Core> {
        // A panic while holding the lock leaves tables that are still consistent enough to
        // serve (each update is a single insert); keep going rather than poison every request.
        self.core.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The CA certificate, PEM, for agents about to join.
    pub fn ca_pem(&self) -> String {
        self.backend.ca_pem()
    }

    /// A join: token, CSR and name claim checked, certificate signed, pod CIDR allocated,
    /// Node object written (the one write of a join).
    pub fn join(
        &self,
        request: &JoinRequest,
        now: Instant,
        now_wall: SystemTime,
    ) -> Result<JoinResponse, Refusal> {
        let existing = self.backend.get_node(&request.node).map_err(unavailable)?;
        struct Tokens<'a, B>(&'a B);
        impl<B: NodeBackend> join::JoinTokens for Tokens<'_, B> {
            fn consume_token(
                &self,
                id: &crate::wire::TokenId,
                secret: &crate::wire::TokenSecret,
                now: SystemTime,
            ) -> Result<(), join::TokenRejection> {
                // A store failure must not pass for a valid token: it reads as unknown here
                // and is logged by the store.
                self.0
                    .consume_token(id, secret, now)
                    .unwrap_or(Err(join::TokenRejection::Unknown))
            }
        }
        let plan = join::validate_join(
            request,
            &Tokens(&self.backend),
            existing.as_ref().and_then(node_object::key_claim),
            now_wall,
        )?;
        self.admit(plan, &request.csr_pem, existing, now, now_wall)
    }

    /// A renewal over mTLS by the node itself.
    pub fn renew(
        &self,
        request: &RenewRequest,
        now: Instant,
        now_wall: SystemTime,
    ) -> Result<JoinResponse, Refusal> {
        let plan = join::validate_renewal(&request.node, &request.csr_pem)?;
        let existing = self.backend.get_node(&request.node).map_err(unavailable)?;
        if existing.is_none() {
            return Err(Refusal::new(
                RefusalReason::Forbidden,
                format!("node {} was deleted; join again with a token", request.node),
            ));
        }
        self.admit(plan, &request.csr_pem, existing, now, now_wall)
    }

    fn admit(
        &self,
        plan: join::JoinPlan,
        csr_pem: &str,
        existing: Option<Object>,
        now: Instant,
        now_wall: SystemTime,
    ) -> Result<JoinResponse, Refusal> {
        let cidr = self
            .core()
            .cidrs
            .allocate(&plan.node)
            .map_err(|e| Refusal::new(RefusalReason::Unavailable, e.to_string()))?;
        let cert = self
            .backend
            .sign_node_csr(csr_pem, &plan.node, self.config.node_cert_validity)
            .map_err(|e| Refusal::new(RefusalReason::CsrInvalid, e.to_string()))?;
        let mut node = existing.unwrap_or_else(|| node_object::new_node(&plan.node));
        let before = node.clone();
        node_object::apply_join(&mut node, &plan.key_sha256, cidr);
        if node != before {
            self.backend.put_node(node).map_err(unavailable)?;
        }
        {
            let mut core = self.core();
            core.lifecycle.adopt(plan.node.clone(), now);
            self.node_appeared.notify_one();
            core.facts
                .entry(plan.node.clone())
                .or_default()
                .heartbeat_unix_s = unix_s(now_wall);
        }
        self.refresh(&plan.node).map_err(unavailable)?;
        Ok(JoinResponse {
            node_cert_pem: cert,
            ca_pem: self.backend.ca_pem(),
            pod_cidr: cidr,
            epoch: self.epoch,
        })
    }

    /// A heartbeat: liveness in memory; a write only if the node's status or a condition
    /// changed, or the node came back from NotReady.
    pub fn heartbeat(
        &self,
        heartbeat: &Heartbeat,
        now: Instant,
        now_wall: SystemTime,
    ) -> Result<HeartbeatAck, Refusal> {
        let node = &heartbeat.node;
        let agent_ready = heartbeat
            .changed_conditions
            .iter()
            .chain(heartbeat.status.iter().flat_map(|s| s.conditions.iter()))
            .find(|c| c.kind == NodeConditionKind::Ready)
            .map(|c| c.status == ConditionStatus::True);
        let (transition, resync, generation) = {
            let mut core = self.core();
            if !core.lifecycle.knows(node) {
                return Err(Refusal::new(
                    RefusalReason::Forbidden,
                    format!(
                        "node {node} is not registered (it was deleted); join again with a token"
                    ),
                ));
            }
            let facts = core.facts.entry(node.clone()).or_default();
            facts.heartbeat_unix_s = unix_s(now_wall);
            if heartbeat.status.is_some() {
                facts.status_seen = true;
            }
            let resync = !facts.status_seen;
            let transition = core.lifecycle.heartbeat(node, agent_ready, now);
            (transition, resync, core.book.generation(node))
        };
        let has_news = heartbeat.status.is_some() || !heartbeat.changed_conditions.is_empty();
        if has_news || transition.is_some() {
            self.update_node(node, now_wall, |object, now_s| {
                if let Some(status) = &heartbeat.status {
                    node_object::apply_status(object, status, now_s);
                }
                for condition in &heartbeat.changed_conditions {
                    node_object::set_condition(object, condition, now_s);
                }
                if let Some(t) = &transition {
                    Self::apply_transition(object, t, now_s);
                }
            })
            .map_err(unavailable)?;
        }
        Ok(HeartbeatAck {
            epoch: self.epoch,
            generation,
            resync,
        })
    }

    /// Reads, edits and writes a Node object, writing only if the edit changed it. A write
    /// that lost a race with another writer is redone on the fresh object, a few times.
    fn update_node(
        &self,
        node: &NodeName,
        now_wall: SystemTime,
        edit: impl Fn(&mut Object, i64),
    ) -> Result<(), BackendError> {
        let mut attempt = 1;
        loop {
            let Some(mut object) = self.backend.get_node(node)? else {
                return Ok(());
            };
            let before = object.clone();
            edit(&mut object, unix_s(now_wall));
            if object == before {
                return Ok(());
            }
            match self.backend.put_node(object) {
                Err(e) if e.conflict && attempt < NODE_WRITE_ATTEMPTS_MAX => attempt += 1,
                other => return other,
            }
        }
    }

    fn apply_transition(object: &mut Object, transition: &Transition, now_s: i64) {
        use super::lifecycle::{TAINT_NOT_READY, TAINT_UNREACHABLE};
        match transition {
            Transition::BecameSuspect { .. } => {}
            Transition::BecameNotReady { cause, .. } => {
                if *cause == NotReadyCause::Unreachable {
                    node_object::set_condition(
                        object,
                        &node_object::unreachable_condition(now_s),
                        now_s,
                    );
                }
                let other = match cause {
                    NotReadyCause::Unreachable => TAINT_NOT_READY,
                    NotReadyCause::AgentNotReady => TAINT_UNREACHABLE,
                };
                node_object::set_no_execute_taint(object, other, false, now_s);
                node_object::set_no_execute_taint(object, cause.taint_key(), true, now_s);
            }
            Transition::BecameReady { .. } => {
                let ready = object
                    .pointer("/status/conditions")
                    .and_then(|c| c.as_array())
                    .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
                    .is_some_and(|c| c["status"] == "True");
                if !ready {
                    node_object::set_condition(
                        object,
                        &crate::wire::NodeCondition::new(
                            NodeConditionKind::Ready,
                            ConditionStatus::True,
                            "AgentReady",
                            "Flotilla agent is posting ready status.",
                            now_s,
                        ),
                        now_s,
                    );
                }
                node_object::set_no_execute_taint(object, TAINT_UNREACHABLE, false, now_s);
                node_object::set_no_execute_taint(object, TAINT_NOT_READY, false, now_s);
            }
        }
    }

    /// A pod status report from `report.node`, for a pod bound to it.
    pub fn pod_status(&self, report: &PodStatusReport) -> Result<StatusAck, Refusal> {
        let mut core = self.core();
        let key = (
            report.pod.namespace().to_string(),
            report.pod.name().to_string(),
        );
        let bound = core
            .facts
            .get(&report.node)
            .and_then(|f| f.pods.get(&key))
            .is_some_and(|uid| uid == report.pod.uid());
        if !bound {
            return Err(Refusal::new(
                RefusalReason::Forbidden,
                format!(
                    "pod {} (uid {}) is not bound to node {}",
                    report.pod,
                    report.pod.uid(),
                    report.node
                ),
            ));
        }
        core.statuses.record(report);
        Ok(StatusAck { epoch: self.epoch })
    }

    /// Waits until the node's assignments differ from what the agent holds, or the poll's
    /// time is up.
    pub async fn assignments(
        &self,
        node: &NodeName,
        after: Generation,
        epoch_seen: Epoch,
        wait: Duration,
    ) -> Result<Result<Assignments, AssignmentsUnchanged>, Refusal> {
        let wait = wait.min(self.config.long_poll_max);
        let mut receiver = {
            let mut core = self.core();
            if !core.lifecycle.knows(node) {
                return Err(Refusal::new(
                    RefusalReason::Forbidden,
                    format!("node {node} is not registered"),
                ));
            }
            let generation = core.book.generation(node);
            let facts = core.facts.entry(node.clone()).or_default();
            let sender = facts
                .waiter
                .get_or_insert_with(|| watch::channel(generation).0);
            sender.subscribe()
        };
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let news = self.core().book.is_news(node, epoch_seen, after);
            if news {
                return self.build_assignments(node).map(Ok).map_err(unavailable);
            }
            match tokio::time::timeout_at(deadline, receiver.changed()).await {
                Ok(Ok(())) => continue,
                // Timed out, or the node was deleted and its sender dropped.
                _ => return Ok(Err(self.core().book.unchanged(node))),
            }
        }
    }

    fn build_assignments(&self, node: &NodeName) -> Result<Assignments, BackendError> {
        let (pods, config_maps, secrets) = self.node_objects(node)?;
        // Generation and objects must agree: record what was just read (bumping if it moved
        // since the last refresh) and send that generation.
        let generation = {
            let mut core = self.core();
            core.book
                .record(node, Fingerprint::of(&pods, &config_maps, &secrets));
            core.book.generation(node)
        };
        Ok(assignments::build(
            self.epoch,
            generation,
            &pods,
            &config_maps,
            &secrets,
        ))
    }

    /// The node's pods and the config maps and secrets they reference (those that exist).
    fn node_objects(&self, node: &NodeName) -> Result<NodeObjects, BackendError> {
        let pods = self.backend.pods_on_node(node)?;
        let mut config_maps = Vec::new();
        let mut secrets = Vec::new();
        let mut seen = BTreeSet::new();
        for pod in &pods {
            let ns = pod
                .pointer("/metadata/namespace")
                .and_then(|n| n.as_str())
                .unwrap_or("default")
                .to_string();
            let refs = References::of_pod(pod);
            for name in refs.config_maps {
                if seen.insert(("configmap", ns.clone(), name.clone())) {
                    config_maps.extend(self.backend.get_config_map(&ns, &name)?);
                }
            }
            for name in refs.secrets {
                if seen.insert(("secret", ns.clone(), name.clone())) {
                    secrets.extend(self.backend.get_secret(&ns, &name)?);
                }
            }
        }
        Ok((pods, config_maps, secrets))
    }

    /// Recomputes a node's assignment generation from the store and wakes its long-poll if it
    /// changed.
    pub fn refresh(&self, node: &NodeName) -> Result<(), BackendError> {
        let (pods, config_maps, secrets) = self.node_objects(node)?;
        let mut refs = BTreeSet::new();
        for (kind, list) in [("configmap", &config_maps), ("secret", &secrets)] {
            for o in list.iter() {
                if let Some((ns, name)) = pod_key(o) {
                    refs.insert((kind, ns, name));
                }
            }
        }
        let bound: BTreeMap<PodKey, String> = pods
            .iter()
            .filter_map(|p| {
                let uid = p.pointer("/metadata/uid")?.as_str()?.to_string();
                Some((pod_key(p)?, uid))
            })
            .collect();
        let mut core = self.core();
        let changed = core
            .book
            .record(node, Fingerprint::of(&pods, &config_maps, &secrets));
        let facts = core.facts.entry(node.clone()).or_default();
        facts.pods = bound;
        facts.references = refs;
        if let (Some(generation), Some(waiter)) = (changed, &facts.waiter) {
            waiter.send_replace(generation);
        }
        Ok(())
    }

    /// Refreshes every known node from the store (after the store watch fell behind).
    pub fn refresh_all(&self) {
        let names: Vec<NodeName> = self.core().facts.keys().cloned().collect();
        for name in names {
            if let Err(e) = self.refresh(&name) {
                tracing::warn!(node = %name, error = %e, "could not refresh a node's assignments");
            }
        }
    }

    /// Follows the store: pods bound to a node, config maps and secrets they reference, and
    /// node deletions. Feed it every event of a store watch over all kinds.
    pub fn on_store_event(&self, event: &WatchEvent) {
        let kind = event
            .object
            .get("kind")
            .and_then(|k| k.as_str())
            .unwrap_or_default();
        let result = match kind {
            "Pod" => {
                if event.event_type == EventType::Deleted {
                    if let Some(key) = pod_key(&event.object) {
                        self.core().statuses.forget(&key);
                    }
                }
                match node_name_of(&event.object, "/spec/nodeName") {
                    Some(node) if self.core().lifecycle.knows(&node) => self.refresh(&node),
                    _ => Ok(()),
                }
            }
            "ConfigMap" | "Secret" => {
                let kind = if kind == "ConfigMap" {
                    "configmap"
                } else {
                    "secret"
                };
                let Some((ns, name)) = pod_key(&event.object) else {
                    return;
                };
                let concerned: Vec<NodeName> = {
                    let core = self.core();
                    core.facts
                        .iter()
                        .filter(|(_, f)| f.references.contains(&(kind, ns.clone(), name.clone())))
                        .map(|(n, _)| n.clone())
                        .collect()
                };
                // A newly created object may be one a pod was waiting for: refresh nodes with
                // pods in that namespace too.
                let waiting: Vec<NodeName> = if event.event_type == EventType::Added {
                    let core = self.core();
                    core.facts
                        .iter()
                        .filter(|(_, f)| f.pods.keys().any(|(pns, _)| *pns == ns))
                        .map(|(n, _)| n.clone())
                        .collect()
                } else {
                    Vec::new()
                };
                concerned
                    .iter()
                    .chain(waiting.iter())
                    .try_for_each(|node| self.refresh(node))
            }
            "Node" => {
                let Some(node) = node_name_of(&event.object, "/metadata/name") else {
                    return;
                };
                let mut core = self.core();
                match event.event_type {
                    EventType::Deleted => {
                        core.lifecycle.forget(&node);
                        core.book.forget(&node);
                        core.cidrs.release(&node);
                        // Dropping the sender ends this node's long-polls.
                        core.facts.remove(&node);
                        self.tunnel.forget_node(&node);
                    }
                    EventType::Added if !core.lifecycle.knows(&node) => {
                        // A Node created through the API (not by a join) is adopted like one
                        // found at start-up: it gets the grace period to heartbeat.
                        core.lifecycle.adopt(node.clone(), Instant::now());
                        core.facts.entry(node).or_default();
                        self.node_appeared.notify_one();
                    }
                    _ => {}
                }
                Ok(())
            }
            _ => Ok(()),
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "node service could not follow a store change");
        }
    }

    /// Whether the node is registered (joined, or found in the store at start-up).
    pub fn is_registered(&self, node: &NodeName) -> bool {
        self.core().lifecycle.knows(node)
    }

    /// Whether the node's agent sent its whole status since this master started (until then
    /// its heartbeats are answered with a resync request).
    pub fn has_status(&self, node: &NodeName) -> bool {
        self.core().facts.get(node).is_some_and(|f| f.status_seen)
    }

    /// Shows live status in an API read of a pod.
    pub fn overlay_pod(&self, pod: &mut Object) {
        self.core().statuses.overlay(pod);
    }

    /// Shows the live heartbeat time in an API read of a node.
    pub fn overlay_node(&self, node: &mut Object) {
        let Some(name) = node_name_of(node, "/metadata/name") else {
            return;
        };
        if let Some(facts) = self.core().facts.get(&name) {
            if facts.heartbeat_unix_s > 0 {
                node_object::overlay_heartbeat(node, facts.heartbeat_unix_s);
            }
        }
    }

    /// One lifecycle step: silent nodes become suspect or NotReady (tainted, their pods marked
    /// not ready), pods due for eviction are deleted, and changed pod statuses are flushed
    /// when the flush interval has passed.
    pub fn tick(&self, now: Instant, now_wall: SystemTime) {
        let (transitions, not_ready) = {
            let mut core = self.core();
            let transitions = core.lifecycle.tick(now);
            for t in &transitions {
                if let Transition::BecameNotReady { node, .. } = t {
                    core.statuses.mark_node_not_ready(node, unix_s(now_wall));
                }
            }
            let not_ready: Vec<(NodeName, Instant, NotReadyCause)> = core
                .lifecycle
                .not_ready()
                .map(|(n, s, c)| (n.clone(), s, c))
                .collect();
            (transitions, not_ready)
        };
        for t in &transitions {
            match t {
                Transition::BecameSuspect { node } => {
                    tracing::info!(%node, "node is suspect: no heartbeat for {:?}", self.config.timings.suspect_after);
                }
                Transition::BecameNotReady { node, cause, .. } => {
                    tracing::warn!(%node, ?cause, "node is NotReady");
                    if let Err(e) =
                        self.update_node(node, now_wall, |o, s| Self::apply_transition(o, t, s))
                    {
                        tracing::warn!(%node, error = %e, "could not mark the node NotReady");
                    }
                }
                Transition::BecameReady { .. } => {}
            }
        }
        for (node, since, cause) in not_ready {
            self.evict_due(&node, since, cause, now);
        }
        self.flush_statuses(now, false);
    }

    fn evict_due(&self, node: &NodeName, since: Instant, cause: NotReadyCause, now: Instant) {
        let pods = match self.backend.pods_on_node(node) {
            Ok(pods) => pods,
            Err(e) => {
                tracing::warn!(%node, error = %e, "could not list pods for eviction");
                return;
            }
        };
        for pod in pods.iter().filter_map(BoundPod::from_object) {
            if eviction::decide(&pod, cause.taint_key(), since, now) == EvictionDecision::EvictNow {
                let key = (pod.namespace.clone(), pod.name.clone());
                tracing::info!(%node, pod = %format!("{}/{}", key.0, key.1), "evicting pod from NotReady node");
                if let Err(e) = self.backend.delete_pod(&key, &pod.uid) {
                    tracing::warn!(%node, error = %e, "could not evict pod");
                }
            }
        }
    }

    /// Persists changed pod statuses in one batch, if the interval passed or `force`.
    pub fn flush_statuses(&self, now: Instant, force: bool) {
        let batch = {
            let mut core = self.core();
            let due = force
                || core.last_flush.is_none_or(|t| {
                    now.saturating_duration_since(t) >= self.config.status_flush_interval
                });
            if !due || !core.statuses.has_dirty() {
                return;
            }
            core.last_flush = Some(now);
            core.statuses.take_dirty()
        };
        if let Err(e) = self.backend.write_pod_statuses(batch) {
            tracing::warn!(error = %e, "could not persist pod statuses; they stay live in memory");
        }
    }

    /// Runs the lifecycle tick until `shutdown` turns true, then flushes pending statuses.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut interval = tokio::time::interval(self.config.tick_interval);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            if self.core().facts.is_empty() {
                // Nothing to watch over: sleep until a node joins or is created.
                self.flush_statuses(Instant::now(), true);
                tokio::select! {
                    _ = self.node_appeared.notified() => interval.reset(),
                    changed = shutdown.changed() => {
                        if changed.is_err() || *shutdown.borrow() {
                            break;
                        }
                    }
                }
                continue;
            }
            tokio::select! {
                _ = interval.tick() => self.tick(Instant::now(), SystemTime::now()),
                changed = shutdown.changed() => {
                    if changed.is_err() || *shutdown.borrow() {
                        break;
                    }
                }
            }
        }
        self.flush_statuses(Instant::now(), true);
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use serde_json::json;

    use super::*;
    use crate::master::nodes::memory::MemoryBackend;
    use crate::wire::{
        NodeCondition, NodeStatus, PodConditionKind, PodPhase, PodRef, Resources, TokenId,
        TokenSecret,
    };

    type Service = Arc<NodesService<Arc<MemoryBackend>>>;

    fn pi(n: u8) -> NodeName {
        NodeName::new(format!("pi-{n}")).unwrap()
    }

    fn csr() -> String {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        rcgen::CertificateParams::new(Vec::<String>::new())
            .unwrap()
            .serialize_request(&key)
            .unwrap()
            .pem()
            .unwrap()
    }

    fn join_request(node: NodeName, csr_pem: String) -> JoinRequest {
        JoinRequest {
            token_id: TokenId::new("abc123").unwrap(),
            token_secret: TokenSecret::new("0123456789abcdef").unwrap(),
            node,
            csr_pem,
        }
    }

    fn setup() -> (Arc<MemoryBackend>, Service, Instant) {
        let backend = Arc::new(MemoryBackend::ephemeral().unwrap());
        backend.add_token("abc123", "0123456789abcdef", Duration::from_secs(3600));
        let t0 = Instant::now();
        let service =
            NodesService::start(backend.clone(), NodesConfig::default(), Epoch(7), t0).unwrap();
        (backend, service, t0)
    }

    fn joined(n: u8) -> (Arc<MemoryBackend>, Service, Instant) {
        let (backend, service, t0) = setup();
        service
            .join(&join_request(pi(n), csr()), t0, SystemTime::now())
            .unwrap();
        (backend, service, t0)
    }

    fn status() -> NodeStatus {
        let mut s = NodeStatus {
            capacity: Resources {
                cpu_milli: 4000,
                memory_bytes: 4 << 30,
                pods: 110,
            },
            allocatable: Resources {
                cpu_milli: 4000,
                memory_bytes: 4 << 30,
                pods: 110,
            },
            architecture: "arm64".into(),
            operating_system: "linux".into(),
            kernel_version: "6.6".into(),
            os_image: "Debian".into(),
            agent_version: "0.1.0".into(),
            boot_id: "b".into(),
            addresses: heapless::Vec::new(),
            conditions: heapless::Vec::new(),
            labels: heapless::Vec::new(),
            taints: heapless::Vec::new(),
        };
        s.conditions
            .push(NodeCondition::new(
                NodeConditionKind::Ready,
                ConditionStatus::True,
                "AgentReady",
                "ok",
                1,
            ))
            .unwrap();
        s.labels
            .push(("kubernetes.io/arch".into(), "arm64".into()))
            .unwrap();
        s
    }

    fn heartbeat(node: NodeName, sequence: u64, with_status: bool) -> Heartbeat {
        let mut hb = Heartbeat::idle(node, Epoch(7), sequence);
        if with_status {
            hb.status = Some(Box::new(status()));
        }
        hb
    }

    fn pod(name: &str, node: &str, tolerations: serde_json::Value) -> Object {
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}"),
                         "generation": 1,
                         "ownerReferences": [{"kind": "ReplicaSet", "name": "web", "controller": true}]},
            "spec": {"nodeName": node, "tolerations": tolerations,
                     "containers": [{"name": "c", "image": "busybox"}]}
        })
    }

    fn pod_event(pod: &Object) -> WatchEvent {
        WatchEvent {
            event_type: EventType::Added,
            object: pod.clone(),
            revision: 1,
        }
    }

    fn report(node: NodeName, name: &str, ready: bool) -> PodStatusReport {
        let mut conditions = heapless::Vec::new();
        conditions
            .push(crate::wire::PodCondition {
                kind: PodConditionKind::Ready,
                status: if ready {
                    ConditionStatus::True
                } else {
                    ConditionStatus::False
                },
                reason: None,
                message: None,
                last_transition_unix_s: 1,
            })
            .unwrap();
        let mut pod_ips = heapless::Vec::new();
        pod_ips
            .push(IpAddr::V4(Ipv4Addr::new(10, 88, 0, 9)))
            .unwrap();
        PodStatusReport {
            node,
            pod: PodRef::new("default", name, format!("uid-{name}")).unwrap(),
            phase: PodPhase::Running,
            conditions,
            init_container_statuses: vec![],
            container_statuses: vec![],
            pod_ips,
            host_ip: None,
            start_time_unix_s: Some(1),
            reason: None,
            message: None,
        }
    }

    #[test]
    fn a_join_writes_the_node_once_with_its_pod_cidr_and_key_claim() {
        let (backend, service, t0) = setup();
        let answer = service
            .join(&join_request(pi(1), csr()), t0, SystemTime::now())
            .unwrap();
        assert_eq!(answer.pod_cidr.to_string(), "10.88.0.0/24");
        assert_eq!(answer.epoch, Epoch(7));
        assert!(answer.node_cert_pem.contains("BEGIN CERTIFICATE"));
        assert_eq!(backend.writes(), 1);
        let node = backend.get_node(&pi(1)).unwrap().unwrap();
        assert_eq!(node["spec"]["podCIDR"], "10.88.0.0/24");
        assert!(node_object::key_claim(&node).is_some());
    }

    #[test]
    fn a_second_agent_with_another_key_is_refused_the_name_until_the_node_is_deleted() {
        let (backend, service, t0) = joined(1);
        let refusal = service
            .join(&join_request(pi(1), csr()), t0, SystemTime::now())
            .unwrap_err();
        assert_eq!(refusal.reason, RefusalReason::NodeNameTaken);
        let node = backend.nodes.lock().unwrap().remove("pi-1").unwrap();
        service.on_store_event(&WatchEvent {
            event_type: EventType::Deleted,
            object: node,
            revision: 2,
        });
        assert!(service
            .join(&join_request(pi(1), csr()), t0, SystemTime::now())
            .is_ok());
    }

    #[test]
    fn idle_heartbeats_write_nothing() {
        let (backend, service, t0) = joined(1);
        let first = service
            .heartbeat(&heartbeat(pi(1), 1, true), t0, SystemTime::now())
            .unwrap();
        assert!(!first.resync);
        let writes = backend.writes();
        for s in 2..=60u64 {
            let now = t0 + Duration::from_secs(s);
            let ack = service
                .heartbeat(&heartbeat(pi(1), s, false), now, SystemTime::now())
                .unwrap();
            assert_eq!(ack.epoch, Epoch(7));
            service.tick(now, SystemTime::now());
        }
        assert_eq!(
            backend.writes(),
            writes,
            "60 idle seconds wrote to the store"
        );
    }

    #[test]
    fn the_first_heartbeat_without_status_asks_for_a_resync() {
        let (_, service, t0) = joined(1);
        let ack = service
            .heartbeat(&heartbeat(pi(1), 1, false), t0, SystemTime::now())
            .unwrap();
        assert!(ack.resync);
    }

    #[test]
    fn a_full_status_lands_in_the_node_object() {
        let (backend, service, t0) = joined(1);
        service
            .heartbeat(&heartbeat(pi(1), 1, true), t0, SystemTime::now())
            .unwrap();
        let node = backend.get_node(&pi(1)).unwrap().unwrap();
        assert_eq!(node["status"]["capacity"]["cpu"], "4");
        assert_eq!(node["status"]["capacity"]["memory"], "4194304Ki");
        assert_eq!(node["status"]["nodeInfo"]["architecture"], "arm64");
        assert_eq!(node["metadata"]["labels"]["kubernetes.io/arch"], "arm64");
        assert_eq!(node["status"]["conditions"][0]["status"], "True");
    }

    #[test]
    fn a_heartbeat_from_an_unknown_node_is_refused() {
        let (_, service, t0) = setup();
        let refusal = service
            .heartbeat(&heartbeat(pi(9), 1, false), t0, SystemTime::now())
            .unwrap_err();
        assert_eq!(refusal.reason, RefusalReason::Forbidden);
    }

    #[test]
    fn a_silent_node_is_tainted_and_its_controlled_pods_are_evicted_unless_they_tolerate_it() {
        let (backend, service, t0) = joined(1);
        service
            .heartbeat(&heartbeat(pi(1), 1, true), t0, SystemTime::now())
            .unwrap();
        backend.put_pod(pod("web-a", "pi-1", json!([])));
        backend.put_pod(pod(
            "sensor",
            "pi-1",
            json!([{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"}]),
        ));
        backend.put_pod(pod(
            "slow",
            "pi-1",
            json!([{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "tolerationSeconds": 10}]),
        ));
        service.tick(t0 + Duration::from_millis(4_000), SystemTime::now());
        assert_eq!(backend.pods.lock().unwrap().len(), 3, "not yet NotReady");
        service.tick(t0 + Duration::from_millis(4_500), SystemTime::now());
        let node = backend.get_node(&pi(1)).unwrap().unwrap();
        assert_eq!(node["status"]["conditions"][0]["status"], "Unknown");
        assert_eq!(
            node["spec"]["taints"][0]["key"],
            "node.kubernetes.io/unreachable"
        );
        let left: Vec<String> = backend
            .pods
            .lock()
            .unwrap()
            .keys()
            .map(|(_, n)| n.clone())
            .collect();
        assert_eq!(left, ["sensor", "slow"]);
        service.tick(t0 + Duration::from_millis(14_500), SystemTime::now());
        let left: Vec<String> = backend
            .pods
            .lock()
            .unwrap()
            .keys()
            .map(|(_, n)| n.clone())
            .collect();
        assert_eq!(left, ["sensor"]);
    }

    #[test]
    fn a_node_that_comes_back_is_ready_and_untainted() {
        let (backend, service, t0) = joined(1);
        service
            .heartbeat(&heartbeat(pi(1), 1, true), t0, SystemTime::now())
            .unwrap();
        service.tick(t0 + Duration::from_secs(5), SystemTime::now());
        service
            .heartbeat(
                &heartbeat(pi(1), 2, false),
                t0 + Duration::from_secs(6),
                SystemTime::now(),
            )
            .unwrap();
        let node = backend.get_node(&pi(1)).unwrap().unwrap();
        assert_eq!(node["status"]["conditions"][0]["status"], "True");
        assert!(node["spec"].get("taints").is_none());
    }

    #[test]
    fn pod_status_is_live_in_reads_and_persisted_once_per_change() {
        let (backend, service, t0) = joined(1);
        let p = pod("web-a", "pi-1", json!([]));
        backend.put_pod(p.clone());
        service.on_store_event(&pod_event(&p));
        service.pod_status(&report(pi(1), "web-a", true)).unwrap();
        let mut read = p.clone();
        service.overlay_pod(&mut read);
        assert_eq!(read["status"]["podIP"], "10.88.0.9");
        let writes = backend.writes();
        service.tick(t0 + Duration::from_millis(100), SystemTime::now());
        assert_eq!(backend.writes(), writes + 1);
        // The same report again (an agent resyncing) is not a change.
        service.pod_status(&report(pi(1), "web-a", true)).unwrap();
        service.tick(t0 + Duration::from_secs(2), SystemTime::now());
        assert_eq!(backend.writes(), writes + 1);
    }

    #[test]
    fn a_node_may_not_report_status_for_a_pod_bound_elsewhere() {
        let (backend, service, t0) = joined(1);
        service
            .join(&join_request(pi(2), csr()), t0, SystemTime::now())
            .unwrap();
        let p = pod("web-a", "pi-2", json!([]));
        backend.put_pod(p.clone());
        service.on_store_event(&pod_event(&p));
        let refusal = service
            .pod_status(&report(pi(1), "web-a", true))
            .unwrap_err();
        assert_eq!(refusal.reason, RefusalReason::Forbidden);
    }

    #[tokio::test(start_paused = true)]
    async fn a_long_poll_answers_at_once_when_the_agent_is_behind_and_wakes_on_a_new_pod() {
        let (backend, service, _) = joined(1);
        let now = service
            .assignments(&pi(1), Generation(0), Epoch(7), Duration::from_secs(30))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (now.epoch, now.generation, now.pods.len()),
            (Epoch(7), Generation(1), 0)
        );
        let waiter = {
            let service = service.clone();
            tokio::spawn(async move {
                service
                    .assignments(&pi(1), Generation(1), Epoch(7), Duration::from_secs(30))
                    .await
            })
        };
        tokio::time::sleep(Duration::from_secs(1)).await;
        let p = pod("web-a", "pi-1", json!([]));
        backend.put_pod(p.clone());
        service.on_store_event(&pod_event(&p));
        let set = waiter.await.unwrap().unwrap().unwrap();
        assert_eq!(set.generation, Generation(2));
        assert_eq!(set.pods.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_long_poll_with_nothing_new_returns_unchanged_after_its_timeout() {
        let (_, service, _) = joined(1);
        let answer = service
            .assignments(&pi(1), Generation(1), Epoch(7), Duration::from_secs(90))
            .await
            .unwrap();
        assert_eq!(
            answer.unwrap_err(),
            AssignmentsUnchanged {
                epoch: Epoch(7),
                generation: Generation(1)
            }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_agent_from_an_older_epoch_gets_the_full_set_at_once() {
        let (_, service, _) = joined(1);
        let set = service
            .assignments(&pi(1), Generation(1), Epoch(6), Duration::from_secs(30))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(set.epoch, Epoch(7));
    }

    #[test]
    fn assignments_carry_the_config_maps_and_secrets_pods_reference() {
        let (backend, service, _) = joined(1);
        backend.config_maps.lock().unwrap().insert(
            ("default".into(), "conf".into()),
            json!({"kind": "ConfigMap", "metadata": {"name": "conf", "namespace": "default", "resourceVersion": "3"}, "data": {"a": "b"}}),
        );
        let mut p = pod("web-a", "pi-1", json!([]));
        p["spec"]["volumes"] = json!([{"name": "c", "configMap": {"name": "conf"}}]);
        backend.put_pod(p.clone());
        service.on_store_event(&pod_event(&p));
        let set = service.build_assignments(&pi(1)).unwrap();
        assert_eq!(set.config_maps.len(), 1);
        // A change of the config map wakes the node.
        let before = service.core().book.generation(&pi(1));
        backend.config_maps.lock().unwrap().insert(
            ("default".into(), "conf".into()),
            json!({"kind": "ConfigMap", "metadata": {"name": "conf", "namespace": "default", "resourceVersion": "4"}, "data": {"a": "c"}}),
        );
        service.on_store_event(&WatchEvent {
            event_type: EventType::Modified,
            object: json!({"kind": "ConfigMap", "metadata": {"name": "conf", "namespace": "default"}}),
            revision: 9,
        });
        assert_eq!(service.core().book.generation(&pi(1)), before.next());
    }

    #[test]
    fn a_restarted_master_adopts_its_nodes_evicts_nothing_and_writes_nothing_for_resent_statuses() {
        let (backend, service, t0) = joined(1);
        service
            .heartbeat(&heartbeat(pi(1), 1, true), t0, SystemTime::now())
            .unwrap();
        let p = pod("web-a", "pi-1", json!([]));
        backend.put_pod(p.clone());
        service.on_store_event(&pod_event(&p));
        service.pod_status(&report(pi(1), "web-a", true)).unwrap();
        service.flush_statuses(t0, true);
        drop(service);

        let t1 = t0 + Duration::from_secs(60);
        let restarted =
            NodesService::start(backend.clone(), NodesConfig::default(), Epoch(8), t1).unwrap();
        let writes = backend.writes();
        restarted.tick(t1 + Duration::from_secs(2), SystemTime::now());
        let ack = restarted
            .heartbeat(
                &heartbeat(pi(1), 1, false),
                t1 + Duration::from_secs(2),
                SystemTime::now(),
            )
            .unwrap();
        assert!(ack.resync);
        assert_eq!(ack.epoch, Epoch(8));
        restarted
            .heartbeat(
                &heartbeat(pi(1), 2, true),
                t1 + Duration::from_secs(3),
                SystemTime::now(),
            )
            .unwrap();
        restarted.pod_status(&report(pi(1), "web-a", true)).unwrap();
        restarted.tick(t1 + Duration::from_secs(4), SystemTime::now());
        assert_eq!(backend.pods.lock().unwrap().len(), 1);
        assert_eq!(
            backend.writes(),
            writes,
            "the restart rewrote unchanged state"
        );
    }

    #[test]
    fn pods_on_a_not_ready_node_show_not_ready_in_reads() {
        let (backend, service, t0) = joined(1);
        let mut p = pod("sensor", "pi-1", json!([{"operator": "Exists"}]));
        p["metadata"]["ownerReferences"] = json!([]);
        backend.put_pod(p.clone());
        service.on_store_event(&pod_event(&p));
        service.pod_status(&report(pi(1), "sensor", true)).unwrap();
        service.tick(t0 + Duration::from_secs(5), SystemTime::now());
        let mut read = p.clone();
        service.overlay_pod(&mut read);
        let ready = read["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "Ready")
            .unwrap()
            .clone();
        assert_eq!(ready["status"], "False");
        assert_eq!(ready["reason"], "NodeNotReady");
    }
}
