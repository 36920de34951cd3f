//! The thin shell around the controller cores and the scheduler: it lists and watches the
//! store into a [`Cache`], decides which objects need a pass (their own change, or a change of
//! something they own or select), runs the cores and writes their actions back, one store
//! batch per phase. Time-based conditions (`minReadySeconds`, progress deadlines, event
//! expiry) wake it exactly when they fall due ([`wake::next_wake`]); with nothing due it
//! sleeps without a timer, so an idle master neither writes nor even wakes up.
//!
//! A pass runs in phases — Deployments, ReplicaSets, DaemonSets, the scheduler — and each
//! phase's writes go into the cache before the next phase reads it, so one wake-up can take a
//! new Deployment all the way to bound pods with four durable commits, and no two phases ever
//! write the same object from the same version. Nothing outside the store matters across
//! passes; a restarted driver picks up from the store alone.
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::api::{
    ApiObject, DaemonSet, Deployment, Event, Kind, Node, Pod, ReplicaSet, Resource, Time,
};
use crate::master::scheduler;
use crate::store::{EventType, ObjectKey, Op, Store, StoreError, Watch, WatchEvent};

use super::action::{Action, ObjectRef};
use super::cache::{revision_of, Cache, WATCHED_KINDS};
use super::names::NameSource;
use super::{daemonset, deployment, events, replicaset, wake};

/// Slack added to a wake-up so that the second it waits for has surely begun.
pub const WAKE_SLACK_MS: u64 = 50;
/// Most store operations in one batch (one durable commit).
pub const BATCH_OPS_MAX: usize = 256;
/// Most passes run back to back after one wake-up before waiting for news again; a bound on
/// how long controllers that disagree could keep writing.
pub const PASSES_PER_WAKE_MAX: usize = 32;
/// Quiet time after the last pass before free heap memory is returned to the kernel.
pub const QUIET_BEFORE_RELEASE: Duration = Duration::from_secs(2);

/// Settings of the controller driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrainConfig {
    /// A blind resync of every workload at this period, on top of the exact wake-ups; `None`
    /// (the default) relies on the store's watch, which is in-process and lossless (a watcher
    /// that falls behind gets `Gone` and re-lists).
    pub resync_ms: Option<u64>,
    /// Seed of generated pod names; `None` picks one from the clock and process id.
    pub name_seed: Option<u64>,
    /// Events older than this are deleted (see [`events::EVENT_TTL_SECONDS`]).
    pub event_ttl_seconds: i64,
}

impl Default for BrainConfig {
    fn default() -> Self {
        BrainConfig {
            resync_ms: None,
            name_seed: None,
            event_ttl_seconds: events::EVENT_TTL_SECONDS,
        }
    }
}

/// Why the controllers stopped.
#[derive(Debug, thiserror::Error)]
pub enum BrainError {
    /// the store failed in a way a retry cannot fix
    #[error(transparent)]
    Store(#[from] StoreError),
    /// a blocking store call panicked or was cancelled
    #[error("store task: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Runs the scheduler and the controllers against `store` until `shutdown` completes (or the
/// store shuts down).
pub async fn run(
    store: Store,
    config: BrainConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), BrainError> {
    Brain::new(store, config).run(shutdown).await
}

/// Starts the scheduler and the controllers as a task that stops when `stopping` turns
/// true (the master's shutdown signal). The one call `master::run` makes.
pub fn spawn(
    store: Store,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let stopped = async move {
            let _ = stopping.wait_for(|stop| *stop).await;
        };
        match run(store, BrainConfig::default(), stopped).await {
            Ok(()) => tracing::debug!("controllers stopped"),
            Err(error) => tracing::error!(%error, "the scheduler and controllers stopped"),
        }
    })
}

/// Which objects need a pass.
#[derive(Debug, Default)]
struct Dirty {
    deployments: BTreeSet<ObjectRef>,
    replica_sets: BTreeSet<ObjectRef>,
    daemon_sets: BTreeSet<ObjectRef>,
    scheduler: bool,
    /// A wake-up or resync is due: also expire old events.
    resync: bool,
}

impl Dirty {
    fn any(&self) -> bool {
        !self.deployments.is_empty()
            || !self.replica_sets.is_empty()
            || !self.daemon_sets.is_empty()
            || self.scheduler
            || self.resync
    }
}

/// The controller driver: the store, the cache, and what needs a pass.
pub struct Brain {
    store: Store,
    config: BrainConfig,
    cache: Cache,
    names: NameSource,
    dirty: Dirty,
}

impl Brain {
    pub fn new(store: Store, config: BrainConfig) -> Brain {
        let seed = config.name_seed.unwrap_or_else(|| {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            nanos ^ (u64::from(std::process::id()) << 32)
        });
        Brain {
            store,
            config,
            cache: Cache::default(),
            names: NameSource::new(seed),
            dirty: Dirty::default(),
        }
    }

    /// The loop: converge, then wait for a change, a wake-up or shutdown.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) -> Result<(), BrainError> {
        let mut watch = self.relist().await?;
        let resync = self.config.resync_ms.map(Duration::from_millis);
        let mut next_resync = resync.map(|period| tokio::time::Instant::now() + period);
        // After a burst of passes, once quiet for a moment, the heap is handed back.
        let mut release_memory = None;
        tokio::pin!(shutdown);
        loop {
            for _ in 0..PASSES_PER_WAKE_MAX {
                if !self.dirty.any() {
                    break;
                }
                self.pass().await?;
                release_memory = Some(tokio::time::Instant::now() + QUIET_BEFORE_RELEASE);
            }
            let wake = self.next_wake();
            tokio::select! {
                _ = &mut shutdown => return Ok(()),
                _ = sleep_until(release_memory) => {
                    release_memory = None;
                    crate::memory::release_free_memory();
                }
                _ = sleep_until(wake) => self.mark_everything(),
                _ = sleep_until(next_resync) => {
                    next_resync = resync.map(|period| tokio::time::Instant::now() + period);
                    self.mark_everything();
                }
                event = watch.next() => {
                    let mut next = event;
                    // Take every event already waiting, so a burst is one pass.
                    loop {
                        match next {
                            None => return Ok(()),
                            Some(Ok(event)) => self.on_watch(event),
                            Some(Err(StoreError::Gone { .. })) => {
                                watch = self.relist().await?;
                                break;
                            }
                            Some(Err(error)) => return Err(error.into()),
                        }
                        next = tokio::select! {
                            biased;
                            event = watch.next() => event,
                            _ = std::future::ready(()) => break,
                        };
                    }
                }
            }
        }
    }

    /// When time next matters to a controller, as a deadline on tokio's clock.
    fn next_wake(&self) -> Option<tokio::time::Instant> {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let now = Time::from_unix_seconds((now_ms / 1000) as i64)?;
        let objects = wake::Timed {
            deployments: self.cache.all().collect(),
            replica_sets: self.cache.all().collect(),
            daemon_sets: self.cache.all().collect(),
            pods: self.cache.all().collect(),
            events: self.cache.all().collect(),
        };
        let at = wake::next_wake(&objects, now, self.config.event_ttl_seconds)?;
        let at_ms = (at.unix_seconds().max(0) as u64) * 1000 + WAKE_SLACK_MS;
        Some(tokio::time::Instant::now() + Duration::from_millis(at_ms.saturating_sub(now_ms)))
    }

    /// Loads every watched kind afresh and starts a watch from where the listing began.
    async fn relist(&mut self) -> Result<Watch, BrainError> {
        let store = self.store.clone();
        let (revision, listed) = tokio::task::spawn_blocking(move || {
            let revision = store.revision();
            let mut listed = Vec::new();
            for kind in WATCHED_KINDS {
                listed.extend(store.list(kind, None)?.0);
            }
            Ok::<_, StoreError>((revision, listed))
        })
        .await??;
        self.cache.clear();
        for value in listed {
            match Resource::from_value(value) {
                Ok(resource) => {
                    self.cache.put(resource);
                }
                Err(error) => tracing::warn!(%error, "skipping an object the model cannot read"),
            }
        }
        self.cache.advance(revision);
        self.mark_everything();
        tracing::debug!(
            objects = self.cache.len(),
            revision,
            "controllers listed the store"
        );
        Ok(self.store.watch(None, None, revision)?)
    }

    fn on_watch(&mut self, event: WatchEvent) {
        let WatchEvent {
            event_type,
            object,
            revision,
        } = event;
        let is_watched_kind =
            crate::api::kind_of_value(&object).is_ok_and(|kind| WATCHED_KINDS.contains(&kind));
        if is_watched_kind {
            match Resource::from_value(object) {
                Ok(resource) => {
                    let key = ObjectRef::of_resource(&resource);
                    match event_type {
                        EventType::Added | EventType::Modified => {
                            if self.cache.put(resource.clone()) {
                                self.mark(&resource);
                            }
                        }
                        EventType::Deleted => {
                            if let Some(removed) = self.cache.remove(&key, revision) {
                                self.mark(&removed);
                            }
                        }
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "skipping a watch event the model cannot read")
                }
            }
        }
        self.cache.advance(revision);
    }

    fn mark_everything(&mut self) {
        self.dirty.deployments = self.cache.all::<Deployment>().map(ObjectRef::of).collect();
        self.dirty.replica_sets = self.cache.all::<ReplicaSet>().map(ObjectRef::of).collect();
        self.dirty.daemon_sets = self.cache.all::<DaemonSet>().map(ObjectRef::of).collect();
        self.dirty.scheduler = true;
        self.dirty.resync = true;
    }

    /// Marks what a change of `resource` concerns: itself, its controller, and for orphans
    /// every controller in the namespace that might adopt it.
    fn mark(&mut self, resource: &Resource) {
        let namespace = resource.namespace().map(str::to_string);
        let owner = |kind: Kind| {
            resource
                .meta()
                .controller_ref()
                .filter(|r| r.kind == kind.name())
                .map(|r| ObjectRef {
                    kind,
                    namespace: namespace.clone(),
                    name: r.name.clone(),
                })
        };
        match resource {
            Resource::Pod(_) => {
                self.dirty.scheduler = true;
                if let Some(rs) = owner(Kind::ReplicaSet) {
                    self.dirty.replica_sets.insert(rs);
                } else if let Some(ds) = owner(Kind::DaemonSet) {
                    self.dirty.daemon_sets.insert(ds);
                } else if resource.meta().controller_ref().is_none() {
                    let namespace = namespace.clone().unwrap_or_default();
                    let rss: Vec<ObjectRef> = self
                        .cache
                        .in_namespace::<ReplicaSet>(&namespace)
                        .map(ObjectRef::of)
                        .collect();
                    let dss: Vec<ObjectRef> = self
                        .cache
                        .in_namespace::<DaemonSet>(&namespace)
                        .map(ObjectRef::of)
                        .collect();
                    self.dirty.replica_sets.extend(rss);
                    self.dirty.daemon_sets.extend(dss);
                }
            }
            Resource::ReplicaSet(rs) => {
                self.dirty.replica_sets.insert(ObjectRef::of(rs));
                if let Some(d) = owner(Kind::Deployment) {
                    self.dirty.deployments.insert(d);
                } else if rs.metadata.controller_ref().is_none() {
                    let namespace = namespace.clone().unwrap_or_default();
                    let ds: Vec<ObjectRef> = self
                        .cache
                        .in_namespace::<Deployment>(&namespace)
                        .map(ObjectRef::of)
                        .collect();
                    self.dirty.deployments.extend(ds);
                }
            }
            Resource::Deployment(d) => {
                self.dirty.deployments.insert(ObjectRef::of(d));
            }
            Resource::DaemonSet(ds) => {
                self.dirty.daemon_sets.insert(ObjectRef::of(ds));
            }
            Resource::Node(_) => {
                self.dirty.scheduler = true;
                let dss: Vec<ObjectRef> =
                    self.cache.all::<DaemonSet>().map(ObjectRef::of).collect();
                self.dirty.daemon_sets.extend(dss);
            }
            _ => {}
        }
    }

    /// One pass: every phase over what is marked, each phase's writes cached before the next.
    async fn pass(&mut self) -> Result<(), BrainError> {
        let now = Time::new(time::OffsetDateTime::now_utc());

        let marked = std::mem::take(&mut self.dirty.deployments);
        let mut actions = Vec::new();
        for key in &marked {
            let Some(d) = self.cache.get_as::<Deployment>(key) else {
                continue;
            };
            let namespace = key.namespace.as_deref().unwrap_or_default();
            let rss: Vec<&ReplicaSet> = self.cache.in_namespace(namespace).collect();
            let pods: Vec<&Pod> = self.cache.in_namespace(namespace).collect();
            actions.extend(deployment::reconcile(d, &rss, &pods, now));
        }
        self.execute(actions, now).await?;

        let marked = std::mem::take(&mut self.dirty.replica_sets);
        let mut actions = Vec::new();
        for key in &marked {
            let Some(rs) = self.cache.get_as::<ReplicaSet>(key) else {
                continue;
            };
            let namespace = key.namespace.as_deref().unwrap_or_default();
            let pods: Vec<&Pod> = self.cache.in_namespace(namespace).collect();
            actions.extend(replicaset::reconcile(rs, &pods, now, &mut self.names));
        }
        self.execute(actions, now).await?;

        let marked = std::mem::take(&mut self.dirty.daemon_sets);
        let mut actions = Vec::new();
        for key in &marked {
            let Some(ds) = self.cache.get_as::<DaemonSet>(key) else {
                continue;
            };
            let namespace = key.namespace.as_deref().unwrap_or_default();
            let nodes: Vec<&Node> = self.cache.all().collect();
            let pods: Vec<&Pod> = self.cache.in_namespace(namespace).collect();
            actions.extend(daemonset::reconcile(
                ds,
                &nodes,
                &pods,
                now,
                &mut self.names,
            ));
        }
        self.execute(actions, now).await?;

        if std::mem::take(&mut self.dirty.scheduler) {
            let nodes: Vec<&Node> = self.cache.all().collect();
            let pods: Vec<&Pod> = self.cache.all().collect();
            let actions = scheduler::schedule(&nodes, &pods, now);
            self.execute(actions, now).await?;
        }

        if std::mem::take(&mut self.dirty.resync) {
            let actions = events::expired(
                self.cache.all::<Event>(),
                now,
                self.config.event_ttl_seconds,
            );
            self.execute(actions, now).await?;
        }
        Ok(())
    }

    /// Writes `actions` (events folded into Event objects) in batches; a batch that fails is
    /// retried one operation at a time, and an operation that fails refreshes its object.
    async fn execute(&mut self, actions: Vec<Action>, now: Time) -> Result<(), BrainError> {
        if actions.is_empty() {
            return Ok(());
        }
        let mut ops = Vec::with_capacity(actions.len());
        let mut folded: BTreeMap<ObjectRef, (Event, bool)> = BTreeMap::new();
        for action in actions {
            tracing::debug!(%action, "controller action");
            if let Action::Create(resource) = &action {
                if resource
                    .namespace()
                    .is_some_and(|ns| self.cache.terminating(ns))
                {
                    // Like the API server, create nothing in a namespace being deleted.
                    continue;
                }
            }
            match action {
                Action::Create(resource) => ops.push(Op::Create(
                    store_key(&ObjectRef::of_resource(&resource)),
                    resource.to_value(),
                )),
                Action::Update(resource) => ops.push(Op::Update(
                    store_key(&ObjectRef::of_resource(&resource)),
                    resource.to_value(),
                )),
                Action::Delete {
                    object,
                    resource_version,
                } => ops.push(Op::Delete(store_key(&object), resource_version)),
                Action::Event(record) => {
                    let key = ObjectRef {
                        kind: Kind::Event,
                        namespace: Some(events::event_namespace(&record)),
                        name: events::event_name(&record),
                    };
                    let (existing, stored) = match folded.get(&key) {
                        Some((event, stored)) => (Some(event.clone()), *stored),
                        None => match self.cache.get_as::<Event>(&key) {
                            Some(event) => (Some(event.clone()), true),
                            None => (None, false),
                        },
                    };
                    let event = events::fold(existing.as_ref(), &record, now);
                    folded.insert(key, (event, stored));
                }
            }
        }
        for (key, (mut event, stored)) in folded {
            if stored {
                // Events are not worth a conflict: the newest count wins.
                event.metadata.resource_version.clear();
                ops.push(Op::Update(store_key(&key), event.to_value()));
            } else {
                ops.push(Op::Create(store_key(&key), event.to_value()));
            }
        }

        while !ops.is_empty() {
            let rest = ops.split_off(ops.len().min(BATCH_OPS_MAX));
            let chunk = std::mem::replace(&mut ops, rest);
            let store = self.store.clone();
            let attempt = chunk.clone();
            match tokio::task::spawn_blocking(move || store.batch(attempt)).await? {
                Ok(results) => {
                    for (op, result) in chunk.iter().zip(results) {
                        self.written(op, result);
                    }
                }
                Err(error) => {
                    tracing::debug!(%error, "a controller batch failed; writing one by one");
                    for op in chunk {
                        self.execute_one(op).await?;
                    }
                }
            }
        }
        Ok(())
    }

    async fn execute_one(&mut self, op: Op) -> Result<(), BrainError> {
        let store = self.store.clone();
        let attempt = op.clone();
        match tokio::task::spawn_blocking(move || store.batch(vec![attempt])).await? {
            Ok(mut results) => {
                if let Some(result) = results.pop() {
                    self.written(&op, result);
                }
                Ok(())
            }
            Err(
                error @ (StoreError::Conflict { .. }
                | StoreError::NotFound(_)
                | StoreError::AlreadyExists(_)),
            ) => {
                // Someone else changed the object; read it back, and the next pass decides
                // again from what is there.
                tracing::debug!(%error, "controller write lost a race");
                self.refresh(op_key(&op)).await
            }
            Err(StoreError::Invalid(message)) => {
                tracing::warn!(%message, "the store refused a controller write");
                Ok(())
            }
            Err(error) => Err(error.into()),
        }
    }

    async fn refresh(&mut self, key: ObjectKey) -> Result<(), BrainError> {
        let store = self.store.clone();
        let lookup = key.clone();
        let found = tokio::task::spawn_blocking(move || {
            let revision = store.revision();
            (store.get(&lookup), revision)
        })
        .await?;
        match found {
            (Ok(value), _) => {
                if let Ok(resource) = Resource::from_value(value) {
                    if self.cache.put(resource.clone()) {
                        self.mark(&resource);
                    }
                }
            }
            (Err(StoreError::NotFound(_)), revision) => {
                let key = ObjectRef {
                    kind: key.kind,
                    namespace: key.namespace,
                    name: key.name,
                };
                if let Some(removed) = self.cache.remove(&key, revision) {
                    self.mark(&removed);
                }
            }
            (Err(error), _) => return Err(error.into()),
        }
        Ok(())
    }

    /// Takes a write's result into the cache, marking what it concerns.
    fn written(&mut self, op: &Op, result: crate::store::Object) {
        let Ok(resource) = Resource::from_value(result) else {
            return;
        };
        match op {
            Op::Delete(..) => {
                let key = ObjectRef::of_resource(&resource);
                if let Some(removed) = self.cache.remove(&key, revision_of(&resource)) {
                    self.mark(&removed);
                }
            }
            Op::Create(..) | Op::Update(..) => {
                if self.cache.put(resource.clone()) {
                    self.mark(&resource);
                }
            }
        }
    }
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

fn store_key(object: &ObjectRef) -> ObjectKey {
    ObjectKey {
        kind: object.kind,
        namespace: object.namespace.clone(),
        name: object.name.clone(),
    }
}

fn op_key(op: &Op) -> ObjectKey {
    match op {
        Op::Create(key, _) | Op::Update(key, _) | Op::Delete(key, _) => key.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::pod::pod_condition;
    use crate::api::{ConditionStatus, PodCondition, PodPhase};
    use crate::master::controllers::fixtures::{deployment, node};

    /// Polling bound for convergence; a failure bound, not a speed requirement.
    const CONVERGE_TIMEOUT_MS: u64 = 20_000;

    fn key_of(resource: &Resource) -> ObjectKey {
        store_key(&ObjectRef::of_resource(resource))
    }

    fn create(store: &Store, resource: impl Into<Resource>) {
        let resource = resource.into();
        store
            .create(&key_of(&resource), resource.to_value())
            .unwrap();
    }

    fn list<T: ApiObject>(store: &Store) -> Vec<T> {
        store
            .list(T::KIND, None)
            .unwrap()
            .0
            .into_iter()
            .filter_map(|v| Resource::from_value(v).ok()?.downcast())
            .collect()
    }

    /// Marks every pod Running and Ready, as agents would.
    fn make_pods_ready(store: &Store) {
        for mut pod in list::<Pod>(store) {
            if pod.is_ready() || pod.spec.node_name.is_none() {
                continue;
            }
            let status = pod.status.get_or_insert_with(Default::default);
            status.phase = Some(PodPhase::Running);
            status.conditions.push(PodCondition {
                type_: pod_condition::READY.into(),
                status: ConditionStatus::True,
                last_transition_time: Some(Time::new(time::OffsetDateTime::now_utc())),
                ..PodCondition::default()
            });
            let resource: Resource = pod.into();
            let _ = store.update(&key_of(&resource), resource.to_value());
        }
    }

    async fn until(what: &str, mut check: impl FnMut() -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(CONVERGE_TIMEOUT_MS);
        while !check() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting: {what}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn start(
        store: &Store,
    ) -> (
        tokio::task::JoinHandle<()>,
        tokio::sync::oneshot::Sender<()>,
    ) {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let config = BrainConfig {
            name_seed: Some(7),
            ..BrainConfig::default()
        };
        let store = store.clone();
        let task = tokio::spawn(async move {
            run(store, config, async {
                let _ = stopped.await;
            })
            .await
            .expect("the controllers run until stopped");
        });
        (task, stop)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_deployment_becomes_bound_pods_and_an_idle_cluster_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store.redb")).unwrap();
        for name in ["pi-1", "pi-2", "pi-3"] {
            create(&store, node(name));
        }
        create(&store, deployment("web", 3, "nginx:1.27", "1", "0"));
        let (task, stop) = start(&store);

        until("three bound pods", || {
            let pods = list::<Pod>(&store);
            pods.len() == 3 && pods.iter().all(|p| p.spec.node_name.is_some())
        })
        .await;
        let mut nodes: Vec<String> = list::<Pod>(&store)
            .iter()
            .map(|p| p.spec.node_name.clone().unwrap().to_string())
            .collect();
        nodes.sort();
        assert_eq!(nodes, ["pi-1", "pi-2", "pi-3"]);

        until("the deployment is available", || {
            make_pods_ready(&store);
            list::<Deployment>(&store)[0]
                .status
                .as_ref()
                .is_some_and(|s| s.available_replicas == 3)
        })
        .await;
        // Let the last status writes land, then watch the revision over many resyncs.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let idle = store.revision();
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        assert_eq!(store.revision(), idle, "an idle cluster writes nothing");
        stop.send(()).unwrap();
        task.await.unwrap();

        // A restarted driver finds nothing to do either.
        let (task, stop) = start(&store);
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        assert_eq!(
            store.revision(),
            idle,
            "a restart over a settled cluster writes nothing"
        );
        stop.send(()).unwrap();
        task.await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_restarted_driver_finishes_a_rollout_without_duplicating_pods() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store.redb")).unwrap();
        for name in ["pi-1", "pi-2", "pi-3"] {
            create(&store, node(name));
        }
        create(&store, deployment("web", 4, "nginx:1.27", "1", "1"));
        let (task, stop) = start(&store);
        until("available", || {
            make_pods_ready(&store);
            list::<Deployment>(&store)[0]
                .status
                .as_ref()
                .is_some_and(|s| s.available_replicas == 4)
        })
        .await;

        let mut d = list::<Deployment>(&store).remove(0);
        d.spec.template.spec.containers[0].image = Some("nginx:1.28".into());
        let resource: Resource = d.into();
        store
            .update(&key_of(&resource), resource.to_value())
            .unwrap();
        until("the rollout started", || {
            list::<ReplicaSet>(&store).len() == 2
        })
        .await;
        stop.send(()).unwrap();
        task.await.unwrap();

        // A new driver knows nothing but the store.
        let (task, stop) = start(&store);
        let mut steps = 0;
        loop {
            make_pods_ready(&store);
            let pods = list::<Pod>(&store);
            assert!(pods.len() <= 5, "never more than replicas + maxSurge pods");
            let rss = list::<ReplicaSet>(&store);
            let done = pods.len() == 4
                && rss.iter().filter(|rs| rs.replicas() > 0).count() == 1
                && list::<Deployment>(&store)[0]
                    .status
                    .as_ref()
                    .is_some_and(|s| s.updated_replicas == 4 && s.available_replicas == 4);
            if done {
                break;
            }
            steps += 1;
            assert!(steps < 1_000, "the rollout finished: {rss:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        stop.send(()).unwrap();
        task.await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn nothing_is_created_in_a_namespace_being_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store.redb")).unwrap();
        let namespace = crate::api::Namespace {
            metadata: crate::api::ObjectMeta::named("edge", None),
            spec: Default::default(),
            status: Some(crate::api::NamespaceStatus {
                phase: Some(crate::api::NamespacePhase::Terminating),
            }),
        };
        create(&store, namespace);
        let mut doomed = deployment("web", 2, "nginx:1.27", "1", "0");
        doomed.metadata.namespace = Some(crate::api::NamespaceName::new("edge").unwrap());
        create(&store, doomed);
        create(&store, deployment("web", 1, "nginx:1.27", "1", "0"));
        let (task, stop) = start(&store);
        until("the live namespace's replica set", || {
            !list::<ReplicaSet>(&store).is_empty()
        })
        .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let namespaces: Vec<String> = list::<ReplicaSet>(&store)
            .iter()
            .map(|rs| rs.metadata.namespace_or_default().to_string())
            .collect();
        assert_eq!(namespaces, ["default"]);
        stop.send(()).unwrap();
        task.await.unwrap();
    }
}
