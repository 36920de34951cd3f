//! Test nodes: an `Engine` with its own data directory, run directory, bridge, pod subnet,
//! nftables table, netns prefix and cgroup parent, so that tests run in parallel (threads or
//! processes) without seeing each other; everything is removed when the node is dropped.
use std::fs;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use flotilla::agent::image::import::import_path;
use flotilla::agent::image::platform::HostPlatform;
use flotilla::agent::image::ImageStore;
use flotilla::agent::network::NetworkConfig;
use flotilla::agent::runtime::engine::{Engine, EngineConfig};

use super::busybox_image;

/// The busybox test image's name.
pub const BUSYBOX: &str = "flotilla.test/busybox:1";
const SUBNET_REGISTRY: &str = "/run/flotilla-test-subnets";

/// A pod subnet reserved for one test: `10.213.<n>.0/24`, held by a registry file naming the
/// owning process (reclaimed when that process is gone).
pub struct Subnet {
    pub n: u8,
    file: PathBuf,
}

impl Subnet {
    pub fn reserve() -> Subnet {
        fs::create_dir_all(SUBNET_REGISTRY).unwrap();
        loop {
            for n in 1..=250u8 {
                let file = Path::new(SUBNET_REGISTRY).join(n.to_string());
                if let Ok(owner) = fs::read_to_string(&file) {
                    let alive = owner
                        .trim()
                        .parse::<i32>()
                        .is_ok_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
                    if alive {
                        continue;
                    }
                    let _ = fs::remove_file(&file);
                }
                if let Ok(mut f) = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&file)
                {
                    let _ = write!(f, "{}", std::process::id());
                    return Subnet { n, file };
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    pub fn cidr(&self) -> String {
        format!("10.213.{}.0/24", self.n)
    }

    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 213, self.n, 1)
    }
}

impl Drop for Subnet {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.file);
    }
}

/// The busybox archive, built once per test process.
pub fn busybox_archive() -> PathBuf {
    static ARCHIVE: OnceLock<PathBuf> = OnceLock::new();
    ARCHIVE
        .get_or_init(|| {
            let dir =
                std::env::temp_dir().join(format!("flotilla-test-busybox-{}", std::process::id()));
            fs::create_dir_all(&dir).unwrap();
            busybox_image::busybox_archive(&dir, BUSYBOX)
        })
        .clone()
}

/// Names and places unique to one test node.
pub struct NodeSettings {
    pub name: String,
    pub subnet: Subnet,
    pub dir: tempfile::TempDir,
    pub engine: EngineConfig,
}

impl NodeSettings {
    pub fn new() -> NodeSettings {
        let subnet = Subnet::reserve();
        let name = format!("ft{}", subnet.n);
        let dir = tempfile::Builder::new()
            .prefix("flotilla-node-")
            .tempdir()
            .unwrap();
        let mut engine = EngineConfig::new(&dir.path().join("data"));
        engine.run_dir = PathBuf::from(format!("/run/flotilla-test/{name}-{}", std::process::id()));
        engine.helper_program = PathBuf::from(env!("CARGO_BIN_EXE_edged"));
        engine.cgroup_parent = format!("flotilla-test/{name}");
        engine.netns_prefix = format!("{name}-");
        engine.network = NetworkConfig {
            bridge: format!("{name}br"),
            pod_cidr: subnet.cidr().parse().unwrap(),
            nft_table: format!("flotilla_{name}"),
            fallback_dns: vec![Ipv4Addr::new(1, 1, 1, 1)],
        };
        NodeSettings {
            name,
            subnet,
            dir,
            engine,
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.engine.data_dir.clone()
    }

    /// Removes what the node left, even after a failed test: container processes (by
    /// cgroup), mounts under its directories and its `/run/netns` names, bridge, nftables
    /// table, run directory and cgroup parent.
    pub fn cleanup(&self) {
        let cgroup_root = Path::new("/sys/fs/cgroup");
        for controller in ["pids", "memory", "unified", ""] {
            kill_cgroup_tree(
                &cgroup_root
                    .join(controller)
                    .join(self.engine.cgroup_parent.trim_start_matches('/')),
            );
        }
        let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let netns_prefix = format!("/run/netns/{}", self.engine.netns_prefix);
        let mut targets: Vec<&str> = mountinfo
            .lines()
            .filter_map(|l| l.split_whitespace().nth(4))
            .filter(|t| {
                t.starts_with(self.dir.path().to_str().unwrap())
                    || t.starts_with(self.engine.run_dir.to_str().unwrap())
                    || t.starts_with(&netns_prefix)
            })
            .collect();
        targets.sort_by_key(|t| std::cmp::Reverse(t.len()));
        for target in targets {
            let _ = nix::mount::umount2(target, nix::mount::MntFlags::MNT_DETACH);
            if target.starts_with(&netns_prefix) {
                let _ = fs::remove_file(target);
            }
        }
        let network = &self.engine.network;
        let _ = std::process::Command::new("nft")
            .args(["delete", "table", "ip", &network.nft_table])
            .output();
        let _ = std::process::Command::new("ip")
            .args(["link", "del", "dev", &network.bridge])
            .output();
        let _ = fs::remove_dir_all(&self.engine.run_dir);
        for controller in [
            "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "systemd",
            "unified", "",
        ] {
            let dir = Path::new("/sys/fs/cgroup")
                .join(controller)
                .join(self.engine.cgroup_parent.trim_start_matches('/'));
            let _ = fs::remove_dir(&dir);
        }
    }
}

/// SIGKILLs every process in a cgroup directory tree.
fn kill_cgroup_tree(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            kill_cgroup_tree(&entry.path());
        }
    }
    for pid in fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
    {
        if let Ok(pid) = pid.trim().parse::<i32>() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

impl Drop for NodeSettings {
    fn drop(&mut self) {
        self.cleanup();
    }
}

/// An engine on a test node, with the busybox image imported.
pub struct TestEngine {
    pub engine: Arc<Engine>,
    pub images: ImageStore,
    pub settings: NodeSettings,
}

impl TestEngine {
    pub async fn start() -> TestEngine {
        let settings = NodeSettings::new();
        let images =
            ImageStore::open(&settings.data_dir().join("images"), HostPlatform::detect()).unwrap();
        import_path(&images, &busybox_archive()).unwrap();
        let engine = Engine::open(settings.engine.clone()).await.unwrap();
        TestEngine {
            engine,
            images,
            settings,
        }
    }

    /// Unpacked layers of the busybox image.
    pub fn busybox_layers(&self) -> Vec<PathBuf> {
        let record = self.images.resolve(&BUSYBOX.parse().unwrap()).unwrap();
        record
            .diff_ids
            .iter()
            .map(|d| self.images.layer_path(d))
            .collect()
    }
}

/// Runs `f` on a fresh multi-threaded runtime (what the agent uses).
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}
