//! Image garbage collection in a running agent. On a file system of known size (a tmpfs
//! mounted as the node's data directory), `edged agent --standalone`: nothing is removed below
//! the high mark; above it, unused images go least recently used first until the low mark, and
//! images of running containers and of desired pods that have not started yet stay. On the
//! host's disk, the `Agent` the cluster loop drives collects by itself too.
use std::fs;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use flotilla::agent::daemon::{Agent, AgentConfig};
use flotilla::agent::image::gc::{DiskUsage, GcPolicy};
use flotilla::agent::image::import::import_path;
use flotilla::agent::image::platform::HostPlatform;
use flotilla::agent::image::ImageStore;

use super::busybox_image::{self as fixture, ImageSpec, LayerBuilder};
use super::harness::{
    block_on, busybox_archive, container, is_running, NodeSettings, TestAgent, BUSYBOX,
};
use super::prereq;
use crate::require;

const MIB: usize = 1024 * 1024;
/// The data directory's size.
const TMPFS_MIB: usize = 128;
/// Each test image adds a layer of this much incompressible data, stored twice (blob and
/// unpacked layer): about 12.5 % of the file system per image.
const PADDING_MIB: usize = 8;
const HIGH_PERCENT: u8 = 70;
const LOW_PERCENT: u8 = 56;
/// The ballast brings usage here: above the high mark; removing one image leaves it above the
/// low mark (62.5 %), removing two below it (50 %).
const BALLAST_TARGET_PERCENT: usize = 75;

/// Pseudo-random bytes (xorshift), distinct per seed: stored as they are, compressed or not.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Imports `name`: the busybox layer plus a layer of `PADDING_MIB` of noise seeded by `seed`.
fn import_padded_image(store: &ImageStore, work: &Path, name: &str, seed: u64) {
    let padding = LayerBuilder::new()
        .file("padding", 0o644, &noise(seed, PADDING_MIB * MIB))
        .finish();
    let mut spec = ImageSpec::from_layers(vec![fixture::busybox_layer(), padding]);
    spec.env = vec!["PATH=/bin".to_string()];
    let layout = work.join(format!("layout-{seed}"));
    fixture::write_layout(&layout, &[(name, &fixture::image_blobs(&spec))]);
    import_path(store, &layout).unwrap();
    fs::remove_dir_all(&layout).unwrap();
}

/// The store's image names, sorted, read from its reference table as `edged image ls` would.
fn image_names(data_dir: &Path) -> Vec<String> {
    let refs: serde_json::Value =
        serde_json::from_slice(&fs::read(data_dir.join("images/refs.json")).unwrap()).unwrap();
    let mut names: Vec<String> = refs["images"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    names.sort();
    names
}

fn sleeper(name: &str, image: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: app\n    image: {image}\n    imagePullPolicy: Never\n    command: [\"sleep\", \"3600\"]\n"
    )
}

#[test]
fn above_the_high_mark_unused_images_go_least_recently_used_first_until_the_low_mark() {
    require!(prereq::containers());
    let mut agent = TestAgent::prepare(false);
    let data = agent.settings.data_dir();
    fs::create_dir_all(&data).unwrap();
    nix::mount::mount(
        Some("tmpfs"),
        &data,
        Some("tmpfs"),
        nix::mount::MsFlags::empty(),
        Some(format!("size={TMPFS_MIB}m").as_str()),
    )
    .unwrap();
    let work = tempfile::tempdir().unwrap();
    let store = ImageStore::open(&data.join("images"), HostPlatform::detect()).unwrap();
    import_path(&store, &busybox_archive()).unwrap();
    import_padded_image(&store, work.path(), "flotilla.test/pending:1", 1);
    import_padded_image(&store, work.path(), "flotilla.test/used:1", 2);
    agent.extra_args = [
        "--image-gc-high-percent",
        &HIGH_PERCENT.to_string(),
        "--image-gc-low-percent",
        &LOW_PERCENT.to_string(),
        "--image-gc-interval-seconds",
        "1",
        "--image-gc-min-age-seconds",
        "0",
    ]
    .map(str::to_string)
    .to_vec();
    agent.write_manifest("keeper.yaml", &sleeper("keeper", BUSYBOX));
    agent.write_manifest("user.yaml", &sleeper("user", "flotilla.test/used:1"));
    // A pod that waits on its init container: its app's image is in use although no
    // container was made from it, and it is the least recently used image of all.
    agent.write_manifest(
        "pending.yaml",
        &format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: pending\nspec:\n  terminationGracePeriodSeconds: 1\n  initContainers:\n  - name: wait\n    image: {BUSYBOX}\n    command: [\"sleep\", \"3600\"]\n  containers:\n  - name: app\n    image: flotilla.test/pending:1\n    imagePullPolicy: Never\n    command: [\"sleep\", \"3600\"]\n"
        ),
    );
    agent.spawn();
    agent.wait_for("the pods running", 60, |pods| {
        is_running(&container(pods, "keeper", "app"))
            && is_running(&container(pods, "user", "app"))
            && is_running(&container(pods, "pending", "wait"))
    });
    agent.remove_manifest("user.yaml");
    agent.wait_for("the user pod and its container gone", 60, |pods| {
        pods.iter().all(|p| p.pod.metadata.name != "user")
    });
    // Two images no pod uses, recorded after every other image was last used (imported by
    // another process while the agent runs, as `edged image import` does).
    import_padded_image(&store, work.path(), "flotilla.test/unused-older:1", 3);
    import_padded_image(&store, work.path(), "flotilla.test/unused-newer:1", 4);
    let usage = DiskUsage::measure(&data).unwrap();
    assert!(
        usage.used_percent() < HIGH_PERCENT - 5,
        "the images alone must leave room below the high mark: {usage:?}"
    );
    assert_eq!(
        image_names(&data),
        [
            BUSYBOX,
            "flotilla.test/pending:1",
            "flotilla.test/unused-newer:1",
            "flotilla.test/unused-older:1",
            "flotilla.test/used:1"
        ],
        "below the high mark nothing is collected"
    );

    // Fill the disk above the high mark.
    let used = (usage.capacity_bytes - usage.available_bytes) as usize;
    let target = usage.capacity_bytes as usize * BALLAST_TARGET_PERCENT / 100;
    let mut ballast = fs::File::create(data.join("ballast")).unwrap();
    let chunk = vec![0x5a; MIB];
    let mut written = 0;
    while used + written < target {
        ballast.write_all(&chunk).unwrap();
        written += MIB;
    }
    ballast.sync_all().unwrap();
    drop(ballast);
    assert!(DiskUsage::measure(&data).unwrap().used_percent() >= HIGH_PERCENT);

    // Wait for the collection's closing log line, not for the reference table: the agent
    // rewrites the table before it deletes the image's blobs and layers, so the disk usage is
    // only final once the collection reports it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !agent.log_text().contains("freed_bytes=") {
        assert!(
            std::time::Instant::now() < deadline,
            "the least recently used images were not collected:\n{}",
            agent.log_text()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(
        image_names(&data),
        [
            BUSYBOX,
            "flotilla.test/pending:1",
            "flotilla.test/unused-newer:1"
        ],
        "the two least recently used unused images go, the next one stays (the low mark is \
         reached) and images in use stay\n{}",
        agent.log_text()
    );
    let usage = DiskUsage::measure(&data).unwrap();
    assert!(
        usage.used_percent() <= LOW_PERCENT,
        "{usage:?}\n{}",
        agent.log_text()
    );
    // The removed images' own layers are gone from disk; the shared busybox layer is not.
    let layers = fs::read_dir(data.join("images/layers")).unwrap().count();
    assert_eq!(layers, 3, "busybox and the padding layers of two images");
    // The pods were not disturbed.
    let pods = agent.ps();
    assert!(is_running(&container(&pods, "keeper", "app")));
    assert!(is_running(&container(&pods, "pending", "wait")));
    agent.remove_manifest("keeper.yaml");
    agent.remove_manifest("pending.yaml");
    agent.wait_for("the pods gone", 60, |pods| pods.is_empty());
}

/// The `Agent` the cluster loop drives (`set_desired`), in this process, with a high mark so
/// low that the host's disk counts as full: it collects by itself, keeping the desired pod's
/// image and removing the unused one.
#[test]
fn the_agent_the_cluster_loop_drives_collects_unused_images_by_itself() {
    require!(prereq::containers());
    let settings = NodeSettings::new();
    let work = tempfile::tempdir().unwrap();
    let store =
        ImageStore::open(&settings.data_dir().join("images"), HostPlatform::detect()).unwrap();
    import_path(&store, &busybox_archive()).unwrap();
    import_padded_image(&store, work.path(), "flotilla.test/unused:1", 5);
    let mut config = AgentConfig::new(&settings.name, &settings.data_dir());
    config.engine = settings.engine.clone();
    config.socket = settings.dir.path().join("agent.sock");
    config.registries = settings.dir.path().join("registries.yaml");
    config.image_gc = GcPolicy::new(1, 0, Duration::from_secs(1), Duration::ZERO).unwrap();
    let pod: flotilla::api::Pod = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "keeper", "namespace": "default", "uid": "6c1f0c1e-gc-keeper"},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "app", "image": BUSYBOX, "command": ["sleep", "3600"]}],
        },
    }))
    .unwrap();
    let data = settings.data_dir();
    block_on(async move {
        let agent = Agent::start(config).await.unwrap();
        agent.set_desired(vec![pod]).await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while image_names(&data) != [BUSYBOX] {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the unused image was not collected: {:?}",
                image_names(&data)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        agent.manager.shutdown(Duration::from_secs(30)).await;
        agent.stop().await;
    });
    // Only the unused image's own layer went; busybox's is whole.
    assert_eq!(
        fs::read_dir(settings.data_dir().join("images/layers"))
            .unwrap()
            .count(),
        1
    );
}
