//! Where a pod's ConfigMaps and Secrets come from: the manifest directory in standalone mode,
//! the master in a cluster. Looked up when a container starts (env) or a volume is prepared.
use std::collections::BTreeMap;
use std::sync::RwLock;

use crate::api;

/// Read access to the ConfigMaps and Secrets pods may reference.
pub trait ObjectSource: Send + Sync + 'static {
    fn config_map(&self, namespace: &str, name: &str) -> Option<api::ConfigMap>;
    fn secret(&self, namespace: &str, name: &str) -> Option<api::Secret>;
}

/// An in-memory set of objects, replaced whole (by the manifest watcher, or the cluster loop).
#[derive(Default)]
pub struct ObjectSet {
    config_maps: RwLock<BTreeMap<(String, String), api::ConfigMap>>,
    secrets: RwLock<BTreeMap<(String, String), api::Secret>>,
}

fn key(meta: &api::ObjectMeta) -> (String, String) {
    (meta.namespace_or_default().to_string(), meta.name.clone())
}

impl ObjectSet {
    pub fn replace(&self, config_maps: Vec<api::ConfigMap>, secrets: Vec<api::Secret>) {
        *self.config_maps.write().expect("objects lock") = config_maps
            .into_iter()
            .map(|c| (key(&c.metadata), c))
            .collect();
        *self.secrets.write().expect("objects lock") = secrets
            .into_iter()
            .map(|mut s| {
                s.merge_string_data();
                (key(&s.metadata), s)
            })
            .collect();
    }
}

impl ObjectSource for ObjectSet {
    fn config_map(&self, namespace: &str, name: &str) -> Option<api::ConfigMap> {
        self.config_maps
            .read()
            .expect("objects lock")
            .get(&(namespace.to_string(), name.to_string()))
            .cloned()
    }

    fn secret(&self, namespace: &str, name: &str) -> Option<api::Secret> {
        self.secrets
            .read()
            .expect("objects lock")
            .get(&(namespace.to_string(), name.to_string()))
            .cloned()
    }
}
