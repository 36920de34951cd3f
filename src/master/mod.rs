//! The control plane: the API server over mTLS and the store behind it (and, in their own
//! modules, the scheduler and controllers). Entry point: [`run`].
use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

pub mod admission;
pub mod apply;
pub mod authz;
pub mod bootstrap;
pub mod codec;
pub mod config;
pub mod controllers;
pub mod error;
pub mod field_selector;
pub mod gc;
pub mod merge_patch;
pub mod metrics;
pub mod namespaces;
pub mod nodes;
pub mod object;
pub mod query;
pub mod rest;
pub mod route;
pub mod scheduler;
pub mod server;
pub mod status;
pub mod tunnel;
pub mod version;

pub use config::{Config, MasterArgs};

/// Why a master could not start.
#[derive(Debug, thiserror::Error)]
pub enum MasterError {
    #[error(transparent)]
    Bootstrap(#[from] bootstrap::BootstrapError),
    /// the listener has no local address
    #[error("listener: {0}")]
    Listener(#[source] std::io::Error),
    /// the TLS configuration could not be built
    #[error("TLS configuration: {0}")]
    Tls(#[source] crate::pki::PkiError),
    #[error(transparent)]
    Epoch(#[from] nodes::epoch::EpochError),
    #[error(transparent)]
    Nodes(#[from] nodes::NodesError),
}

/// Runs a master on `listener` until `shutdown` completes: loads or creates the data directory
/// (PKI, admin credential, store), then serves the API. Returns after open requests finished
/// (or the grace period ran out).
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), MasterError> {
    let local = listener.local_addr().map_err(MasterError::Listener)?;
    let controllers_enabled = config.controllers;
    let nodes_config = nodes::NodesConfig {
        cluster_cidr: config.cluster_cidr,
        timings: config.node_timings,
        ..nodes::NodesConfig::default()
    };
    let data_dir = config.data_dir.clone();
    let prepared = tokio::task::spawn_blocking(move || bootstrap::prepare(&config, local))
        .await
        .expect("bootstrap does not panic")?;
    // Joining agents have no certificate yet: the TLS layer lets them in without one, and the
    // routes refuse every request without a role except fetching the CA and joining.
    let mut tls = (*prepared
        .pki
        .server_config_with(crate::pki::ClientAuth::Optional)
        .map_err(MasterError::Tls)?)
    .clone();
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let (stop, stopping) = watch::channel(false);
    let pki = Arc::new(prepared.pki);
    let store = prepared.store;
    let nodes = if controllers_enabled {
        let epoch = nodes::bump_epoch(&data_dir)?;
        let revision = store.revision();
        let backend = nodes::StoreBackend {
            store: store.clone(),
            pki: pki.clone(),
        };
        let service =
            nodes::NodesService::start(backend, nodes_config, epoch, std::time::Instant::now())?;
        tokio::spawn(service.clone().run(stopping.clone()));
        tokio::spawn(nodes::follow::follow(
            service.clone(),
            store.clone(),
            revision,
            stopping.clone(),
        ));
        tracing::info!(epoch = epoch.0, "node service started");
        Some(service)
    } else {
        None
    };
    let state = Arc::new(rest::ApiState {
        store,
        metrics: metrics::Metrics::new(),
        shutdown: stopping,
        watch_permits: Arc::new(Semaphore::new(rest::WATCHES_MAX)),
        ca_pin: pki.ca_pin(),
        nodes,
    });
    let brain = controllers_enabled
        .then(|| controllers::spawn(state.store.clone(), state.shutdown.clone()));
    tracing::info!(address = %local, "API server listening");
    crate::systemd::notify_ready(&format!("serving the API on {local}"));
    let shutdown = async {
        shutdown.await;
        crate::systemd::notify_stopping("stopping the API server");
    };
    server::serve(listener, Arc::new(tls), state, stop, shutdown).await;
    if let Some(brain) = brain {
        let _ = brain.await;
    }
    tracing::info!("API server stopped");
    Ok(())
}
