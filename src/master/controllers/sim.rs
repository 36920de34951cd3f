//! A test double of the store and the driver: objects in a map with the store's metadata
//! rules (uid, resourceVersion, generation bumped on spec changes, creation time, conflicts on
//! stale versions), and a step that runs every core once over everything. The controllers
//! keep nothing between steps, exactly as in the real driver.
use std::collections::BTreeMap;

use crate::api::pod::pod_condition;
use crate::api::{
    ApiObject, ConditionStatus, DaemonSet, Deployment, Kind, Node, Pod, PodCondition, PodPhase,
    PodStatus, ReplicaSet, Resource, Time,
};
use crate::master::scheduler;

use super::action::{Action, EventRecord, ObjectRef};
use super::names::NameSource;
use super::{daemonset, deployment, replicaset};

/// A whole cluster's objects and a clock.
pub struct Sim {
    pub now: Time,
    pub objects: BTreeMap<ObjectRef, Resource>,
    pub events: Vec<EventRecord>,
    revision: u64,
    names: NameSource,
}

pub fn at(secs: i64) -> Time {
    Time::from_unix_seconds(secs).expect("a valid time")
}

impl Sim {
    pub fn new() -> Sim {
        Sim {
            now: at(1_800_000_000),
            objects: BTreeMap::new(),
            events: Vec::new(),
            revision: 0,
            names: NameSource::new(42),
        }
    }

    /// Creates `object` as the store would.
    pub fn create<T: ApiObject>(&mut self, object: T) -> T {
        let resource = self.stamp_create(object.into());
        T::from_resource(resource).expect("the kind it was")
    }

    fn stamp_create(&mut self, mut resource: Resource) -> Resource {
        self.revision += 1;
        let key = ObjectRef::of_resource(&resource);
        assert!(!self.objects.contains_key(&key), "{key} already exists");
        let meta = resource.meta_mut();
        meta.uid = format!("uid-{}-{}", key.name, self.revision);
        meta.resource_version = self.revision.to_string();
        meta.generation = 1;
        meta.creation_timestamp = Some(self.now);
        self.objects.insert(key, resource.clone());
        resource
    }

    /// Replaces an object as the store would: stale versions conflict, no-ops write nothing.
    pub fn update(&mut self, mut resource: Resource) -> Result<(), String> {
        let key = ObjectRef::of_resource(&resource);
        let current = self
            .objects
            .get(&key)
            .ok_or_else(|| format!("{key} not found"))?
            .clone();
        let given = &resource.meta().resource_version;
        if !given.is_empty() && *given != current.meta().resource_version {
            return Err(format!("{key}: conflict"));
        }
        {
            let meta = resource.meta_mut();
            meta.uid = current.meta().uid.clone();
            meta.creation_timestamp = current.meta().creation_timestamp;
            meta.generation = current.meta().generation;
            meta.resource_version = current.meta().resource_version.clone();
        }
        if resource == current {
            return Ok(());
        }
        let spec_changed = resource.to_value().get("spec") != current.to_value().get("spec");
        self.revision += 1;
        let meta = resource.meta_mut();
        if spec_changed {
            meta.generation += 1;
        }
        meta.resource_version = self.revision.to_string();
        self.objects.insert(key, resource);
        Ok(())
    }

    /// Applies actions in order; a failing one is reported and skipped (the next step
    /// retries from the objects).
    pub fn apply(&mut self, actions: Vec<Action>) -> usize {
        let mut writes = 0;
        for action in actions {
            match action {
                Action::Create(resource) => {
                    self.stamp_create(resource);
                    writes += 1;
                }
                Action::Update(resource) => {
                    let before = self.revision;
                    self.update(resource)
                        .expect("no conflicts in a serial simulation");
                    writes += usize::from(self.revision != before);
                }
                Action::Delete { object, .. } => {
                    self.objects.remove(&object);
                    writes += 1;
                }
                Action::Event(event) => self.events.push(event),
            }
        }
        writes
    }

    pub fn all<T: ApiObject>(&self) -> Vec<T> {
        self.objects
            .values()
            .filter_map(|r| r.downcast_ref::<T>().cloned())
            .collect()
    }

    pub fn get<T: ApiObject>(&self, name: &str) -> T {
        self.all::<T>()
            .into_iter()
            .find(|o| o.meta().name == name)
            .unwrap_or_else(|| panic!("no {} {name}", T::KIND))
    }

    /// Runs every controller and the scheduler once; returns the writes made.
    pub fn step(&mut self) -> usize {
        let now = self.now;
        let mut writes = 0;
        for d in self.all::<Deployment>() {
            let rss = self.all::<ReplicaSet>();
            let pods = self.all::<Pod>();
            let actions = deployment::reconcile(
                &d,
                &rss.iter().collect::<Vec<_>>(),
                &pods.iter().collect::<Vec<_>>(),
                now,
            );
            writes += self.apply(actions);
        }
        for rs in self.all::<ReplicaSet>() {
            let pods = self.all::<Pod>();
            let actions =
                replicaset::reconcile(&rs, &pods.iter().collect::<Vec<_>>(), now, &mut self.names);
            writes += self.apply(actions);
        }
        for ds in self.all::<DaemonSet>() {
            let nodes = self.all::<Node>();
            let pods = self.all::<Pod>();
            let actions = daemonset::reconcile(
                &ds,
                &nodes.iter().collect::<Vec<_>>(),
                &pods.iter().collect::<Vec<_>>(),
                now,
                &mut self.names,
            );
            writes += self.apply(actions);
        }
        let nodes = self.all::<Node>();
        if !nodes.is_empty() {
            let pods = self.all::<Pod>();
            let actions = scheduler::schedule(
                &nodes.iter().collect::<Vec<_>>(),
                &pods.iter().collect::<Vec<_>>(),
                now,
            );
            writes += self.apply(actions);
        }
        writes
    }

    /// Steps until nothing is written (at most 100 steps).
    pub fn settle(&mut self) {
        for _ in 0..100 {
            if self.step() == 0 {
                return;
            }
        }
        panic!("the controllers did not settle in 100 steps");
    }

    /// Marks a pod Running and Ready (or not ready) since now, as an agent would.
    pub fn set_ready(&mut self, name: &str, ready: bool) {
        let mut pod: Pod = self.get(name);
        let status = pod.status.get_or_insert_with(PodStatus::default);
        status.phase = Some(PodPhase::Running);
        status
            .conditions
            .retain(|c| c.type_ != pod_condition::READY);
        status.conditions.push(PodCondition {
            type_: pod_condition::READY.to_string(),
            status: ConditionStatus::from_bool(ready),
            last_transition_time: Some(self.now),
            ..PodCondition::default()
        });
        self.update(pod.into()).expect("pod status update");
    }

    /// Makes every pod that is not ready ready.
    pub fn make_all_ready(&mut self) {
        for pod in self.all::<Pod>() {
            if !pod.is_ready() {
                self.set_ready(&pod.metadata.name, true);
            }
        }
    }

    /// Names of the objects of `kind`, sorted.
    pub fn names(&self, kind: Kind) -> Vec<String> {
        self.objects
            .keys()
            .filter(|k| k.kind == kind)
            .map(|k| k.name.clone())
            .collect()
    }

    /// Reasons and messages of the events recorded so far.
    pub fn event_messages(&self, reason: &str) -> Vec<String> {
        self.events
            .iter()
            .filter(|e| e.reason == reason)
            .map(|e| e.message.clone())
            .collect()
    }
}
