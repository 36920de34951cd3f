//! The driver's in-memory copy of the objects the controllers read, kept current from the
//! store's watch and from the results of the driver's own writes. Each object is replaced only
//! by a newer revision of itself, and a deleted object stays deleted against late events, so
//! the two sources can arrive in any order.
use std::collections::{BTreeMap, HashMap};

use crate::api::{ApiObject, Kind, Resource};

use super::action::ObjectRef;

/// Kinds the controllers and the scheduler read (namespaces: to create nothing in one that
/// is being deleted).
pub const WATCHED_KINDS: [Kind; 7] = [
    Kind::Namespace,
    Kind::Node,
    Kind::Pod,
    Kind::ReplicaSet,
    Kind::Deployment,
    Kind::DaemonSet,
    Kind::Event,
];

/// Components whose events the cache keeps (to fold repeats into); other events are not the
/// controllers' business and would only cost memory.
pub const OWN_EVENT_SOURCES: [&str; 4] = [
    crate::master::scheduler::COMPONENT,
    super::replicaset::COMPONENT,
    super::deployment::COMPONENT,
    super::daemonset::COMPONENT,
];

/// Objects by kind, namespace and name.
#[derive(Debug, Default)]
pub struct Cache {
    objects: BTreeMap<ObjectRef, Resource>,
    /// Deleted objects and the revision of their deletion, until the watch has passed it.
    tombstones: HashMap<ObjectRef, u64>,
    /// The newest revision the watch delivered (or the listing reflected).
    watched_revision: u64,
}

/// The revision an object carries in `metadata.resourceVersion`.
pub fn revision_of(resource: &Resource) -> u64 {
    resource.meta().resource_version.parse().unwrap_or(0)
}

impl Cache {
    /// Whether the cache keeps objects like `resource`.
    pub fn wants(resource: &Resource) -> bool {
        match resource {
            Resource::Event(event) => event
                .source
                .as_ref()
                .is_some_and(|s| OWN_EVENT_SOURCES.contains(&s.component.as_str())),
            other => WATCHED_KINDS.contains(&other.kind()),
        }
    }

    pub fn watched_revision(&self) -> u64 {
        self.watched_revision
    }

    /// Records that the watch has delivered everything up to `revision`; tombstones older
    /// than that can no longer be contradicted and are dropped.
    pub fn advance(&mut self, revision: u64) {
        if revision > self.watched_revision {
            self.watched_revision = revision;
            self.tombstones.retain(|_, deleted| *deleted > revision);
        }
    }

    /// Stores `resource` if it is newer than what the cache has. Returns whether it changed
    /// the cache.
    pub fn put(&mut self, resource: Resource) -> bool {
        if !Cache::wants(&resource) {
            return false;
        }
        let key = ObjectRef::of_resource(&resource);
        let revision = revision_of(&resource);
        if self
            .tombstones
            .get(&key)
            .is_some_and(|deleted| *deleted >= revision)
        {
            return false;
        }
        if let Some(current) = self.objects.get(&key) {
            if revision_of(current) >= revision {
                return false;
            }
        }
        self.tombstones.remove(&key);
        self.objects.insert(key, resource);
        true
    }

    /// Removes the object deleted at `revision`, unless the cache holds a newer one (created
    /// again after that deletion). Returns the removed object.
    pub fn remove(&mut self, key: &ObjectRef, revision: u64) -> Option<Resource> {
        if self
            .objects
            .get(key)
            .is_some_and(|current| revision_of(current) > revision)
        {
            return None;
        }
        if revision > self.watched_revision {
            self.tombstones.insert(key.clone(), revision);
        }
        self.objects.remove(key)
    }

    /// Forgets everything (before a re-list).
    pub fn clear(&mut self) {
        self.objects.clear();
        self.tombstones.clear();
        self.watched_revision = 0;
    }

    pub fn get(&self, key: &ObjectRef) -> Option<&Resource> {
        self.objects.get(key)
    }

    /// The object at `key` if it is of type `T`.
    pub fn get_as<T: ApiObject>(&self, key: &ObjectRef) -> Option<&T> {
        self.objects.get(key).and_then(|r| r.downcast_ref::<T>())
    }

    /// Every object of type `T`.
    pub fn all<T: ApiObject + 'static>(&self) -> impl Iterator<Item = &T> {
        let start = ObjectRef {
            kind: T::KIND,
            namespace: None,
            name: String::new(),
        };
        self.objects
            .range(start..)
            .take_while(|(key, _)| key.kind == T::KIND)
            .filter_map(|(_, resource)| resource.downcast_ref::<T>())
    }

    /// Objects of type `T` in `namespace`.
    pub fn in_namespace<'a, T: ApiObject + 'static>(
        &'a self,
        namespace: &'a str,
    ) -> impl Iterator<Item = &'a T> + 'a {
        let start = ObjectRef {
            kind: T::KIND,
            namespace: Some(namespace.to_string()),
            name: String::new(),
        };
        self.objects
            .range(start..)
            .take_while(move |(key, _)| {
                key.kind == T::KIND && key.namespace.as_deref() == Some(namespace)
            })
            .filter_map(|(_, resource)| resource.downcast_ref::<T>())
    }

    /// Whether `namespace` is being deleted (its phase is `Terminating`).
    pub fn terminating(&self, namespace: &str) -> bool {
        let key = ObjectRef {
            kind: Kind::Namespace,
            namespace: None,
            name: namespace.to_string(),
        };
        self.get_as::<crate::api::Namespace>(&key)
            .and_then(|n| n.status.as_ref())
            .and_then(|s| s.phase)
            == Some(crate::api::NamespacePhase::Terminating)
    }

    /// The namespaces that hold objects of type `T`.
    pub fn namespaces<T: ApiObject + 'static>(&self) -> Vec<String> {
        let mut namespaces: Vec<String> = self
            .all::<T>()
            .filter_map(|o| o.meta().namespace.as_ref().map(|n| n.to_string()))
            .collect();
        namespaces.dedup();
        namespaces
    }

    pub fn len(&self) -> usize {
        self.objects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::master::controllers::fixtures::pod;

    fn at_revision(name: &str, revision: u64) -> Resource {
        let mut p = pod(name, "web");
        p.metadata.resource_version = revision.to_string();
        p.into()
    }

    #[test]
    fn an_older_revision_never_replaces_a_newer_one() {
        let mut cache = Cache::default();
        assert!(cache.put(at_revision("a", 5)));
        assert!(!cache.put(at_revision("a", 4)));
        assert!(!cache.put(at_revision("a", 5)));
        assert!(cache.put(at_revision("a", 6)));
    }

    #[test]
    fn a_late_event_does_not_bring_a_deleted_object_back() {
        let mut cache = Cache::default();
        cache.put(at_revision("a", 5));
        let key = ObjectRef::of_resource(&at_revision("a", 5));
        assert!(cache.remove(&key, 9).is_some());
        assert!(
            !cache.put(at_revision("a", 7)),
            "the watch is behind our delete"
        );
        cache.advance(9);
        assert!(cache.put(at_revision("a", 12)), "created again later");
    }

    #[test]
    fn objects_are_listed_by_kind_and_namespace() {
        let mut cache = Cache::default();
        cache.put(at_revision("a", 1));
        cache.put(at_revision("b", 2));
        let mut other = pod("c", "web");
        other.metadata.namespace = Some(crate::api::NamespaceName::new("edge").unwrap());
        other.metadata.resource_version = "3".into();
        cache.put(other.into());
        assert_eq!(cache.all::<crate::api::Pod>().count(), 3);
        assert_eq!(cache.in_namespace::<crate::api::Pod>("default").count(), 2);
        assert_eq!(cache.namespaces::<crate::api::Pod>(), ["default", "edge"]);
    }
}
