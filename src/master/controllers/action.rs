//! What the cores ask the driver to do: the whole vocabulary of effects, as one enum
//! (firecracker's "the API is one enum of actions"). The driver turns them into store writes.
use std::fmt;

use crate::api::{ApiObject, EventType, Kind, ObjectReference, Resource};

/// Where an object lives, without depending on the store's key type (cores sit above the
/// shells).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectRef {
    pub kind: Kind,
    /// `None` for cluster-scoped kinds.
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectRef {
    /// The reference of a typed object.
    pub fn of<T: ApiObject>(object: &T) -> ObjectRef {
        let meta = object.meta();
        ObjectRef {
            kind: T::KIND,
            namespace: meta.namespace.as_ref().map(|n| n.to_string()),
            name: meta.name.clone(),
        }
    }

    /// The reference of an object of any kind.
    pub fn of_resource(resource: &Resource) -> ObjectRef {
        ObjectRef {
            kind: resource.kind(),
            namespace: resource.namespace().map(str::to_string),
            name: resource.name().to_string(),
        }
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(namespace) => write!(f, "{} {namespace}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// One effect a core wants.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Create the object (its name is set).
    Create(Resource),
    /// Replace the object. It carries the `resourceVersion` it was computed from, so that a
    /// change made meanwhile by someone else is a conflict rather than lost.
    Update(Resource),
    /// Delete the object, only if it is still at `resource_version` when one is given.
    Delete {
        object: ObjectRef,
        resource_version: Option<u64>,
    },
    /// Record that something happened (folded into an existing identical Event).
    Event(EventRecord),
}

impl Action {
    /// Replaces `object` (see [`Action::Update`]).
    pub fn update<T: ApiObject>(object: T) -> Action {
        Action::Update(object.into())
    }

    /// Creates `object`.
    pub fn create<T: ApiObject>(object: T) -> Action {
        Action::Create(object.into())
    }

    /// Deletes `object` as it was seen (its resourceVersion is the precondition).
    pub fn delete<T: ApiObject>(object: &T) -> Action {
        Action::Delete {
            object: ObjectRef::of(object),
            resource_version: object.meta().resource_version.parse().ok(),
        }
    }

    /// The object written, for actions that write one.
    pub fn target(&self) -> Option<ObjectRef> {
        match self {
            Action::Create(resource) | Action::Update(resource) => {
                Some(ObjectRef::of_resource(resource))
            }
            Action::Delete { object, .. } => Some(object.clone()),
            Action::Event(_) => None,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Create(resource) => write!(f, "create {}", ObjectRef::of_resource(resource)),
            Action::Update(resource) => write!(f, "update {}", ObjectRef::of_resource(resource)),
            Action::Delete { object, .. } => write!(f, "delete {object}"),
            Action::Event(event) => write!(f, "event {} {}", event.reason, event.message),
        }
    }
}

/// An event before it is folded into the Event objects: what happened to which object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord {
    pub involved: ObjectReference,
    pub event_type: EventType,
    /// Short CamelCase reason (`SuccessfulCreate`).
    pub reason: String,
    pub message: String,
    /// The component reporting it (`replicaset-controller`).
    pub component: &'static str,
}

impl EventRecord {
    /// A `Normal` event about `object`.
    pub fn normal<T: ApiObject>(
        object: &T,
        component: &'static str,
        reason: &str,
        message: String,
    ) -> EventRecord {
        EventRecord {
            involved: reference(object),
            event_type: EventType::Normal,
            reason: reason.to_string(),
            message,
            component,
        }
    }

    /// A `Warning` event about `object`.
    pub fn warning<T: ApiObject>(
        object: &T,
        component: &'static str,
        reason: &str,
        message: String,
    ) -> EventRecord {
        EventRecord {
            event_type: EventType::Warning,
            ..EventRecord::normal(object, component, reason, message)
        }
    }
}

/// The `involvedObject` reference of `object`.
pub fn reference<T: ApiObject>(object: &T) -> ObjectReference {
    let meta = object.meta();
    ObjectReference {
        api_version: T::KIND.api_version().to_string(),
        kind: T::KIND.name().to_string(),
        namespace: meta.namespace.as_ref().map(|n| n.to_string()),
        name: meta.name.clone(),
        uid: meta.uid.clone(),
        resource_version: String::new(),
        field_path: String::new(),
    }
}
