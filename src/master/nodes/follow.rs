//! Feeds the node service every change of the store: the one task that connects the API's
//! writes (pods bound by the scheduler, config maps, node deletions) to the agents' assignments.
use std::sync::Arc;

use tokio::sync::watch;

use crate::store::Store;

use super::service::NodesService;
use super::store_backend::StoreBackend;

/// Follows the store from `revision` until `shutdown` turns true. When the watch falls too far
/// behind (the store's history moved on), every known node is refreshed from the store and the
/// watch starts again from the current revision.
pub async fn follow(
    service: Arc<NodesService<StoreBackend>>,
    store: Store,
    mut revision: u64,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let mut events = match store.watch(None, None, revision) {
            Ok(events) => events,
            Err(error) => {
                tracing::warn!(%error, "node service lost its store watch; refreshing every node");
                revision = store.revision();
                service.refresh_all();
                continue;
            }
        };
        loop {
            let event = tokio::select! {
                event = events.next() => event,
                _ = shutdown.changed() => return,
            };
            match event {
                Some(Ok(event)) => service.on_store_event(&event),
                Some(Err(error)) => {
                    tracing::warn!(%error, "node service fell behind the store; refreshing every node");
                    revision = store.revision();
                    service.refresh_all();
                    break;
                }
                None => return,
            }
        }
    }
}
