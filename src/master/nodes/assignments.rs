//! Per-node assignment generations and the assignment sets themselves, sans-IO.
//!
//! A node's generation is bumped when what it must run changes: a pod bound to it appears,
//! goes, or changes its spec, or a config map or secret one of its pods references changes.
//! Pod status writes do not count (they change a pod's `resourceVersion`, not its
//! `generation`), so a status change never wakes the node's long-poll.
use std::collections::{BTreeMap, BTreeSet};

use crate::store::Object;
use crate::wire::{Assignments, AssignmentsUnchanged, Epoch, Generation, NodeName, ObjectJson};

/// What makes up a node's assignment set, in a form cheap to compare: each pod's uid and
/// `metadata.generation` (plus whether it is being deleted), each referenced config map's and
/// secret's name and `resourceVersion`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fingerprint(BTreeSet<(String, String)>);

impl Fingerprint {
    /// The fingerprint of a node's pods and the objects they reference.
    pub fn of(pods: &[Object], config_maps: &[Object], secrets: &[Object]) -> Fingerprint {
        let meta = |o: &Object, k: &str| -> String {
            o.pointer(&format!("/metadata/{k}"))
                .map(|v| match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .unwrap_or_default()
        };
        let mut parts = BTreeSet::new();
        for pod in pods {
            let deleting = pod.pointer("/metadata/deletionTimestamp").is_some();
            parts.insert((
                format!("pod/{}", meta(pod, "uid")),
                format!(
                    "{}{}",
                    meta(pod, "generation"),
                    if deleting { "-" } else { "" }
                ),
            ));
        }
        for (kind, objects) in [("configmap", config_maps), ("secret", secrets)] {
            for o in objects {
                parts.insert((
                    format!("{kind}/{}/{}", meta(o, "namespace"), meta(o, "name")),
                    meta(o, "resourceVersion"),
                ));
            }
        }
        Fingerprint(parts)
    }
}

#[derive(Debug, Clone, Default)]
struct NodeBook {
    generation: Generation,
    fingerprint: Fingerprint,
}

/// Every node's assignment generation, in memory. Generations restart at 1 with every epoch:
/// agents compare `(epoch, generation)`, and a new epoch always gets a full answer.
#[derive(Debug, Clone)]
pub struct AssignmentBook {
    epoch: Epoch,
    nodes: BTreeMap<NodeName, NodeBook>,
}

impl AssignmentBook {
    pub fn new(epoch: Epoch) -> AssignmentBook {
        AssignmentBook {
            epoch,
            nodes: BTreeMap::new(),
        }
    }

    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    /// The node's current generation (0 before anything was recorded for it).
    pub fn generation(&self, node: &NodeName) -> Generation {
        self.nodes.get(node).map_or(Generation(0), |b| b.generation)
    }

    /// Records the node's current set; returns the new generation if it changed. The first
    /// record of a node in an epoch is generation 1, even when it has no pods.
    pub fn record(&mut self, node: &NodeName, fingerprint: Fingerprint) -> Option<Generation> {
        match self.nodes.get_mut(node) {
            Some(book) if book.fingerprint == fingerprint => None,
            Some(book) => {
                book.fingerprint = fingerprint;
                book.generation = book.generation.next();
                Some(book.generation)
            }
            None => {
                self.nodes.insert(
                    node.clone(),
                    NodeBook {
                        generation: Generation(1),
                        fingerprint,
                    },
                );
                Some(Generation(1))
            }
        }
    }

    /// Forgets a deleted node.
    pub fn forget(&mut self, node: &NodeName) {
        self.nodes.remove(node);
    }

    /// Whether an agent holding `(epoch_seen, after)` must get the set now rather than wait:
    /// it is behind, or it comes from another epoch.
    pub fn is_news(&self, node: &NodeName, epoch_seen: Epoch, after: Generation) -> bool {
        epoch_seen != self.epoch || after != self.generation(node)
    }

    /// The answer to a long-poll that found nothing new.
    pub fn unchanged(&self, node: &NodeName) -> AssignmentsUnchanged {
        AssignmentsUnchanged {
            epoch: self.epoch,
            generation: self.generation(node),
        }
    }
}

/// Names of the config maps and secrets a pod references, in its namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct References {
    pub config_maps: BTreeSet<String>,
    pub secrets: BTreeSet<String>,
}

impl References {
    /// Collects references from volumes (incl. projected sources), `env[].valueFrom` and
    /// `envFrom` of init and app containers.
    pub fn of_pod(pod: &Object) -> References {
        let mut refs = References::default();
        let name = |v: Option<&serde_json::Value>, key: &str| {
            v.and_then(|v| v.get(key))
                .and_then(|n| n.as_str())
                .map(String::from)
        };
        let add_volume = |refs: &mut References, v: &serde_json::Value| {
            refs.config_maps.extend(name(v.get("configMap"), "name"));
            refs.secrets.extend(name(v.get("secret"), "secretName"));
            refs.secrets.extend(name(v.get("secret"), "name"));
        };
        let spec = pod.get("spec");
        for volume in array(spec, "volumes") {
            add_volume(&mut refs, volume);
            for source in array(volume.get("projected"), "sources") {
                add_volume(&mut refs, source);
            }
        }
        let containers = array(spec, "containers").chain(array(spec, "initContainers"));
        for container in containers {
            for env in array(Some(container), "env") {
                let from = env.get("valueFrom");
                refs.config_maps
                    .extend(name(from.and_then(|f| f.get("configMapKeyRef")), "name"));
                refs.secrets
                    .extend(name(from.and_then(|f| f.get("secretKeyRef")), "name"));
            }
            for env_from in array(Some(container), "envFrom") {
                refs.config_maps
                    .extend(name(env_from.get("configMapRef"), "name"));
                refs.secrets.extend(name(env_from.get("secretRef"), "name"));
            }
        }
        refs
    }
}

fn array<'a>(
    parent: Option<&'a serde_json::Value>,
    key: &str,
) -> impl Iterator<Item = &'a serde_json::Value> {
    parent
        .and_then(|p| p.get(key))
        .and_then(|a| a.as_array())
        .into_iter()
        .flatten()
}

/// A pod as an agent needs it: without `status` (the agent is its source) and without
/// `metadata.resourceVersion` (status writes move it), so the same desired pod always encodes
/// to the same bytes and the agent's local copy is rewritten only when the pod really changed.
pub fn desired_pod(pod: &Object) -> Object {
    let mut pod = pod.clone();
    if let Some(object) = pod.as_object_mut() {
        object.remove("status");
    }
    if let Some(meta) = pod.get_mut("metadata").and_then(|m| m.as_object_mut()) {
        meta.remove("resourceVersion");
        meta.remove("managedFields");
    }
    pod
}

/// Builds the message for a node. Objects that cannot be serialised are impossible here
/// (they came out of the store as JSON objects), so they are skipped rather than failing the
/// whole set.
pub fn build(
    epoch: Epoch,
    generation: Generation,
    pods: &[Object],
    config_maps: &[Object],
    secrets: &[Object],
) -> Assignments {
    let encode = |objects: &[Object]| -> Vec<ObjectJson> {
        objects
            .iter()
            .filter_map(|o| ObjectJson::from_value(o).ok())
            .collect()
    };
    let pods: Vec<Object> = pods.iter().map(desired_pod).collect();
    Assignments {
        epoch,
        generation,
        pods: encode(&pods),
        config_maps: encode(config_maps),
        secrets: encode(secrets),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pi() -> NodeName {
        NodeName::new("pi-2").unwrap()
    }

    fn pod(uid: &str, generation: u64, rv: u64) -> Object {
        json!({"metadata": {"name": uid, "namespace": "default", "uid": uid,
                             "generation": generation, "resourceVersion": rv.to_string()},
               "spec": {"nodeName": "pi-2"}})
    }

    #[test]
    fn the_first_record_of_a_node_is_generation_one() {
        let mut book = AssignmentBook::new(Epoch(3));
        assert_eq!(
            book.record(&pi(), Fingerprint::of(&[], &[], &[])),
            Some(Generation(1))
        );
    }

    #[test]
    fn a_new_pod_on_the_node_bumps_its_generation() {
        let mut book = AssignmentBook::new(Epoch(3));
        book.record(&pi(), Fingerprint::of(&[pod("a", 1, 10)], &[], &[]));
        assert_eq!(
            book.record(
                &pi(),
                Fingerprint::of(&[pod("a", 1, 10), pod("b", 1, 11)], &[], &[])
            ),
            Some(Generation(2))
        );
    }

    #[test]
    fn a_pod_status_write_does_not_bump_the_generation() {
        let mut book = AssignmentBook::new(Epoch(3));
        book.record(&pi(), Fingerprint::of(&[pod("a", 1, 10)], &[], &[]));
        assert_eq!(
            book.record(&pi(), Fingerprint::of(&[pod("a", 1, 57)], &[], &[])),
            None
        );
    }

    #[test]
    fn a_spec_change_or_a_deletion_mark_bumps_the_generation() {
        let mut book = AssignmentBook::new(Epoch(3));
        book.record(&pi(), Fingerprint::of(&[pod("a", 1, 10)], &[], &[]));
        assert!(book
            .record(&pi(), Fingerprint::of(&[pod("a", 2, 11)], &[], &[]))
            .is_some());
        let mut deleting = pod("a", 2, 12);
        deleting["metadata"]["deletionTimestamp"] = json!("2026-11-22T04:00:00Z");
        assert_eq!(
            book.record(&pi(), Fingerprint::of(&[deleting], &[], &[])),
            Some(Generation(3))
        );
    }

    #[test]
    fn a_changed_config_map_bumps_the_generation() {
        let mut book = AssignmentBook::new(Epoch(3));
        let cm = |rv: &str| json!({"metadata": {"name": "conf", "namespace": "default", "resourceVersion": rv}});
        book.record(&pi(), Fingerprint::of(&[pod("a", 1, 10)], &[cm("5")], &[]));
        assert!(book
            .record(&pi(), Fingerprint::of(&[pod("a", 1, 10)], &[cm("6")], &[]))
            .is_some());
    }

    #[test]
    fn an_agent_behind_or_from_another_epoch_gets_an_answer_at_once() {
        let mut book = AssignmentBook::new(Epoch(3));
        book.record(&pi(), Fingerprint::of(&[], &[], &[]));
        assert!(!book.is_news(&pi(), Epoch(3), Generation(1)));
        assert!(book.is_news(&pi(), Epoch(3), Generation(0)));
        assert!(book.is_news(&pi(), Epoch(2), Generation(1)));
        assert_eq!(
            book.unchanged(&pi()),
            AssignmentsUnchanged {
                epoch: Epoch(3),
                generation: Generation(1)
            }
        );
    }

    #[test]
    fn references_come_from_volumes_env_and_env_from() {
        let pod = json!({"spec": {
            "volumes": [
                {"name": "a", "configMap": {"name": "cm-vol"}},
                {"name": "b", "secret": {"secretName": "sec-vol"}},
                {"name": "c", "projected": {"sources": [{"configMap": {"name": "cm-proj"}}]}}
            ],
            "initContainers": [{"name": "i", "envFrom": [{"secretRef": {"name": "sec-init"}}]}],
            "containers": [{"name": "c", "env": [
                {"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cm-env", "key": "x"}}},
                {"name": "Y", "valueFrom": {"secretKeyRef": {"name": "sec-env", "key": "y"}}},
                {"name": "Z", "value": "plain"}
            ], "envFrom": [{"configMapRef": {"name": "cm-from"}}]}]
        }});
        let refs = References::of_pod(&pod);
        assert_eq!(
            refs.config_maps.into_iter().collect::<Vec<_>>(),
            ["cm-env", "cm-from", "cm-proj", "cm-vol"]
        );
        assert_eq!(
            refs.secrets.into_iter().collect::<Vec<_>>(),
            ["sec-env", "sec-init", "sec-vol"]
        );
    }

    #[test]
    fn pods_are_sent_without_status_or_resource_version() {
        let mut p = pod("a", 1, 10);
        p["status"] = json!({"phase": "Running"});
        let set = build(Epoch(3), Generation(2), &[p], &[], &[]);
        let sent = set.pods[0].to_value().unwrap();
        assert!(sent.get("status").is_none());
        assert!(sent["metadata"].get("resourceVersion").is_none());
        assert_eq!(sent["metadata"]["generation"], 1);
    }

    #[test]
    fn a_built_set_carries_the_fence_and_every_object() {
        let set = build(Epoch(3), Generation(2), &[pod("a", 1, 1)], &[], &[]);
        assert_eq!(
            (set.epoch, set.generation, set.pods.len()),
            (Epoch(3), Generation(2), 1)
        );
        assert_eq!(set.pods[0].to_value().unwrap()["metadata"]["uid"], "a");
    }
}
