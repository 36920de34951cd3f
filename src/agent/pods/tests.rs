//! The pod manager and workers over the recording fake runtime: no root, no containers, the
//! calls a real runtime would get.
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::{ObjectSet, PodManager, StatusMap, WorkerContext};
use crate::agent::image::import::import_path;
use crate::agent::image::platform::HostPlatform;
use crate::agent::image::pull::Puller;
use crate::agent::image::registries::RegistriesConfig;
use crate::agent::image::service::ImageService;
use crate::agent::image::ImageStore;
use crate::agent::runtime::fake::{Call, FakeRuntime};
use crate::agent::runtime::ExitStatus;
use crate::api;

#[path = "../../../tests/fixtures/busybox_image.rs"]
mod fixture;

const IMAGE: &str = "flotilla.test/tiny:1";

fn manager(dir: &std::path::Path) -> (PodManager<FakeRuntime>, FakeRuntime) {
    let store = ImageStore::open(&dir.join("images"), HostPlatform::detect()).unwrap();
    let layout = dir.join("layout");
    let layer = fixture::LayerBuilder::new()
        .file("hello", 0o644, b"hi")
        .finish();
    fixture::write_layout(
        &layout,
        &[(
            IMAGE,
            &fixture::image_blobs(&fixture::ImageSpec::from_layers(vec![layer])),
        )],
    );
    import_path(&store, &layout).unwrap();
    let runtime = FakeRuntime::new();
    let (statuses, _) = watch::channel(StatusMap::new());
    let ctx = WorkerContext {
        runtime: runtime.clone(),
        images: Arc::new(ImageService::new(
            Arc::new(store),
            Puller::new(RegistriesConfig::default()),
        )),
        objects: Arc::new(ObjectSet::default()),
        node_name: "node-1".into(),
        host_ip: Some("192.0.2.1".into()),
        pods_dir: dir.join("pods"),
        logs_dir: dir.join("logs"),
        statuses,
    };
    (futures_block(PodManager::new(ctx)), runtime)
}

fn futures_block<F: std::future::Future>(f: F) -> F::Output {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(f))
}

fn pod(name: &str, uid: &str) -> api::Pod {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "namespace": "default", "uid": uid},
        "spec": {"terminationGracePeriodSeconds": 1, "containers": [{"name": "app", "image": IMAGE, "command": ["sleep", "1000"]}]},
    }))
    .unwrap()
}

async fn until(
    statuses: &mut watch::Receiver<StatusMap>,
    what: &str,
    done: impl Fn(&StatusMap) -> bool,
) {
    let wait = async {
        loop {
            if done(&statuses.borrow_and_update()) {
                return;
            }
            statuses.changed().await.unwrap();
        }
    };
    if tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .is_err()
    {
        let last: Vec<_> = statuses
            .borrow()
            .iter()
            .map(|(uid, v)| format!("{uid}: {:?}", v.status.container_statuses))
            .collect();
        panic!("timed out waiting for {what}; last statuses: {last:#?}");
    }
}

fn running(map: &StatusMap, uid: &str) -> bool {
    map.get(uid).is_some_and(|v| {
        v.status
            .container_statuses
            .iter()
            .all(|c| c.state.as_ref().is_some_and(|s| s.running.is_some()))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_desired_pod_gets_a_sandbox_and_its_containers_and_leaves_without_a_trace() {
    let dir = tempfile::tempdir().unwrap();
    let (manager, runtime) = manager(dir.path());
    let mut statuses = manager.statuses();
    // A long grace: the fake exits on SIGTERM at once, so a SIGKILL below would mean the exit
    // was missed, not that a loaded machine took more than a second to notice it.
    let mut web = pod("web", "uid-1");
    web.spec.termination_grace_period_seconds = Some(30);
    manager.set_desired(vec![web]).await;
    until(&mut statuses, "the pod running", |m| running(m, "uid-1")).await;
    let calls = runtime.calls();
    assert!(matches!(calls[0], Call::CreateSandbox(_)), "{calls:?}");
    assert!(
        matches!(&calls[1], Call::Start { args, .. } if args == &["sleep".to_string(), "1000".to_string()]),
        "{calls:?}"
    );
    assert_eq!(
        statuses.borrow()["uid-1"].status.pod_ip.as_deref(),
        Some("10.88.0.2")
    );
    runtime.clear_calls();
    manager.set_desired(vec![]).await;
    until(&mut statuses, "the pod gone", |m| m.is_empty()).await;
    let calls = runtime.calls();
    assert!(
        matches!(
            calls[0],
            Call::Signal {
                signal: libc::SIGTERM,
                ..
            }
        ),
        "{calls:?}"
    );
    assert!(matches!(calls[1], Call::Remove(_)), "{calls:?}");
    assert!(matches!(calls[2], Call::RemoveSandbox(_)), "{calls:?}");
    // The status leaves before the worker's task has finished unregistering itself.
    for _ in 0..1000 {
        if manager.worker_count().await == 0 {
            break;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    assert_eq!(manager.worker_count().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_container_is_restarted_by_its_worker() {
    let dir = tempfile::tempdir().unwrap();
    let (manager, runtime) = manager(dir.path());
    let mut statuses = manager.statuses();
    manager.set_desired(vec![pod("web", "uid-2")]).await;
    until(&mut statuses, "the pod running", |m| running(m, "uid-2")).await;
    let id = runtime.running("app").unwrap();
    runtime.exit(&id, ExitStatus::Code(1), false);
    until(&mut statuses, "a restart", |m| {
        m.get("uid-2").is_some_and(|v| {
            v.status.container_statuses[0].restart_count == 1 && running(m, "uid-2")
        })
    })
    .await;
    assert_ne!(runtime.running("app").unwrap(), id);
    manager.shutdown(Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_desired_again_while_being_removed_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let (manager, runtime) = manager(dir.path());
    // The container ignores SIGTERM: its removal takes the grace period.
    runtime.set_exit_on_signal(false);
    let mut statuses = manager.statuses();
    manager.set_desired(vec![pod("web", "uid-3")]).await;
    until(&mut statuses, "the pod running", |m| running(m, "uid-3")).await;
    manager.set_desired(vec![]).await;
    until(&mut statuses, "the pod terminating", |m| {
        m.get("uid-3").is_some_and(|v| v.deleting)
    })
    .await;
    manager.set_desired(vec![pod("web", "uid-3")]).await;
    until(&mut statuses, "the pod back", |m| {
        m.get("uid-3").is_some_and(|v| !v.deleting) && running(m, "uid-3")
    })
    .await;
    assert!(
        runtime
            .calls()
            .iter()
            .filter(|c| matches!(c, Call::CreateSandbox(_)))
            .count()
            == 2
    );
    runtime.set_exit_on_signal(true);
    manager.shutdown(Duration::from_secs(10)).await;
}
