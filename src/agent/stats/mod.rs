//! CPU and memory statistics of the node and its containers, read from cgroup files on
//! request (`edgectl top`): nothing is sampled while nobody asks. CPU use is a rate, so a
//! request compares the counters with the previous request's when that one is recent
//! (1 s to 60 s old), and otherwise reads them twice, one second apart.
//!
//! Where the numbers come from: containers from their own cgroups (v1 `cpuacct.usage`,
//! `memory.usage_in_bytes` and `memory.stat`; v2 `cpu.stat`, `memory.current` and
//! `memory.stat`), memory as the kubelet's working set; the node's CPU from the root cgroup
//! (`/proc/stat` when the root has no counter) and its memory from the root memory cgroup on
//! v1, `/proc/meminfo` on v2 (whose root has no `memory.current`).
pub mod counters;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::agent::runtime::cgroup::CgroupSetup;
use crate::api::ContainerName;
use crate::wire::tunnel::{ContainerUsage, NodeUsage, PodUsage};
use crate::wire::PodRef;

/// The window of a fresh sample.
pub const SAMPLE_WINDOW: Duration = Duration::from_secs(1);
/// A previous sample younger than this is too close for a meaningful rate.
const PREVIOUS_AGE_MIN: Duration = Duration::from_millis(500);
/// A previous sample older than this would average over too long.
const PREVIOUS_AGE_MAX: Duration = Duration::from_secs(60);
/// Clock ticks per second in `/proc/stat` (`USER_HZ`, fixed at 100 for user space).
const USER_HZ: u64 = 100;

/// A running container whose cgroup is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerTarget {
    pub pod: PodRef,
    pub name: ContainerName,
    /// As in config.json: `/<cgroup parent>/<container id>`.
    pub cgroup_path: String,
}

#[derive(Debug, Clone, Default)]
struct Reading {
    node_cpu_ns: Option<u64>,
    node_memory_bytes: Option<u64>,
    /// CPU counter and working set per cgroup path.
    containers: HashMap<String, (u64, u64)>,
}

#[derive(Debug, Clone)]
struct Sample {
    at: Instant,
    reading: Reading,
}

/// Reads the counters; keeps the last reading for the next request's rate.
pub struct Sampler {
    setup: CgroupSetup,
    cgroup_root: PathBuf,
    proc_root: PathBuf,
    previous: Mutex<Option<Sample>>,
}

fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

impl Sampler {
    /// A sampler of the host's cgroups (`/sys/fs/cgroup`) and `/proc`.
    pub fn new(setup: CgroupSetup) -> Sampler {
        Sampler::at(
            setup,
            Path::new(crate::agent::runtime::cgroup::CGROUP_ROOT),
            Path::new("/proc"),
        )
    }

    /// A sampler of other roots (tests).
    pub fn at(setup: CgroupSetup, cgroup_root: &Path, proc_root: &Path) -> Sampler {
        Sampler {
            setup,
            cgroup_root: cgroup_root.to_path_buf(),
            proc_root: proc_root.to_path_buf(),
            previous: Mutex::new(None),
        }
    }

    fn v2(&self) -> bool {
        self.setup == CgroupSetup::Unified
    }

    fn dir(&self, controller: &str, cgroup_path: &str) -> PathBuf {
        let relative = cgroup_path.trim_start_matches('/');
        if self.v2() {
            self.cgroup_root.join(relative)
        } else {
            self.cgroup_root.join(controller).join(relative)
        }
    }

    fn container_cpu_ns(&self, cgroup_path: &str) -> Option<u64> {
        if self.v2() {
            counters::cpu_stat_usage_ns(&read(&self.dir("cpu", cgroup_path).join("cpu.stat"))?)
        } else {
            counters::cpuacct_usage_ns(&read(
                &self.dir("cpuacct", cgroup_path).join("cpuacct.usage"),
            )?)
        }
    }

    fn memory_working_set(&self, cgroup_path: &str) -> Option<u64> {
        let dir = self.dir("memory", cgroup_path);
        let usage_file = if self.v2() {
            "memory.current"
        } else {
            "memory.usage_in_bytes"
        };
        let usage: u64 = read(&dir.join(usage_file))?.trim().parse().ok()?;
        let stat = read(&dir.join("memory.stat")).unwrap_or_default();
        Some(counters::working_set_bytes(usage, &stat, self.v2()))
    }

    fn node_cpu_ns(&self) -> Option<u64> {
        self.container_cpu_ns("/")
            .or_else(|| counters::proc_stat_busy_ns(&read(&self.proc_root.join("stat"))?, USER_HZ))
    }

    fn node_memory_bytes(&self) -> Option<u64> {
        let cgroup = if self.v2() {
            None
        } else {
            self.memory_working_set("/")
        };
        cgroup.or_else(|| counters::meminfo_used_bytes(&read(&self.proc_root.join("meminfo"))?))
    }

    fn read_all(&self, targets: &[ContainerTarget]) -> Reading {
        let mut reading = Reading {
            node_cpu_ns: self.node_cpu_ns(),
            node_memory_bytes: self.node_memory_bytes(),
            containers: HashMap::new(),
        };
        for target in targets {
            let path = &target.cgroup_path;
            if let (Some(cpu), Some(memory)) =
                (self.container_cpu_ns(path), self.memory_working_set(path))
            {
                reading.containers.insert(path.clone(), (cpu, memory));
            }
        }
        reading
    }

    /// The usage of the node and of `targets`, over a window of one second or more.
    pub async fn usage(&self, targets: &[ContainerTarget]) -> NodeUsage {
        let now = Instant::now();
        let previous = self
            .previous
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .filter(|p| {
                let age = now.saturating_duration_since(p.at);
                (PREVIOUS_AGE_MIN..=PREVIOUS_AGE_MAX).contains(&age)
            });
        let (before, after) = match previous {
            Some(previous)
                if targets
                    .iter()
                    .all(|t| previous.reading.containers.contains_key(&t.cgroup_path)) =>
            {
                let after = Sample {
                    at: Instant::now(),
                    reading: self.read_all(targets),
                };
                (previous, after)
            }
            _ => {
                let before = Sample {
                    at: Instant::now(),
                    reading: self.read_all(targets),
                };
                tokio::time::sleep(SAMPLE_WINDOW).await;
                let after = Sample {
                    at: Instant::now(),
                    reading: self.read_all(targets),
                };
                (before, after)
            }
        };
        let usage = rates(targets, &before, &after);
        *self.previous.lock().unwrap_or_else(|p| p.into_inner()) = Some(after);
        usage
    }
}

fn rates(targets: &[ContainerTarget], before: &Sample, after: &Sample) -> NodeUsage {
    let window = after.at.saturating_duration_since(before.at);
    let window_ns = window.as_nanos().min(u128::from(u64::MAX)) as u64;
    let rate = |b: Option<u64>, a: Option<u64>| match (b, a) {
        (Some(b), Some(a)) => counters::nano_cores(b, a, window_ns),
        _ => 0,
    };
    let mut pods: Vec<PodUsage> = Vec::new();
    for target in targets {
        let (Some(&(cpu_before, _)), Some(&(cpu_after, memory))) = (
            before.reading.containers.get(&target.cgroup_path),
            after.reading.containers.get(&target.cgroup_path),
        ) else {
            continue;
        };
        let usage = ContainerUsage {
            name: target.name.clone(),
            cpu_nano_cores: counters::nano_cores(cpu_before, cpu_after, window_ns),
            memory_working_set_bytes: memory,
        };
        match pods.iter_mut().find(|p| p.pod == target.pod) {
            Some(pod) => {
                // A pod never has more containers than the wire carries (the API caps them).
                let _ = pod.containers.push(usage);
            }
            None => {
                let mut containers = heapless::Vec::new();
                let _ = containers.push(usage);
                pods.push(PodUsage {
                    pod: target.pod.clone(),
                    containers,
                });
            }
        }
    }
    NodeUsage {
        window_ms: window.as_millis().min(u128::from(u32::MAX)) as u32,
        cpu_nano_cores: rate(before.reading.node_cpu_ns, after.reading.node_cpu_ns),
        memory_working_set_bytes: after.reading.node_memory_bytes.unwrap_or(0),
        pods,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn target() -> ContainerTarget {
        ContainerTarget {
            pod: PodRef::new("default", "web-1", "u1").unwrap(),
            name: ContainerName::new("web").unwrap(),
            cgroup_path: "/flotilla/abc-web-0".into(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn v1_containers_are_read_from_cpuacct_and_memory() {
        let root = tempfile::tempdir().unwrap();
        let (cg, proc) = (root.path().join("cg"), root.path().join("proc"));
        let container = cg.join("cpuacct/flotilla/abc-web-0/cpuacct.usage");
        write(&container, "1000000000\n");
        write(
            &cg.join("memory/flotilla/abc-web-0/memory.usage_in_bytes"),
            "10485760\n",
        );
        write(
            &cg.join("memory/flotilla/abc-web-0/memory.stat"),
            "total_inactive_file 2097152\n",
        );
        write(&cg.join("cpuacct/cpuacct.usage"), "5000000000\n");
        write(&cg.join("memory/memory.usage_in_bytes"), "1073741824\n");
        write(&cg.join("memory/memory.stat"), "total_inactive_file 0\n");
        let sampler = Sampler::at(CgroupSetup::Hybrid, &cg, &proc);
        // The first request samples twice; the counters do not move while time is paused,
        // so write the second reading from a task that runs during the window.
        let bump = {
            let container = container.clone();
            let node = cg.join("cpuacct/cpuacct.usage");
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(10)).await;
                write(&container, "1250000000\n");
                write(&node, "6000000000\n");
            })
        };
        let usage = sampler.usage(&[target()]).await;
        bump.await.unwrap();
        assert_eq!(usage.pods.len(), 1);
        let web = &usage.pods[0].containers[0];
        assert_eq!(web.memory_working_set_bytes, 8 << 20);
        assert!(web.cpu_nano_cores > 0, "{usage:?}");
        assert!(usage.cpu_nano_cores > 0);
        assert_eq!(usage.memory_working_set_bytes, 1 << 30);
    }

    #[tokio::test(start_paused = true)]
    async fn v2_containers_are_read_from_cpu_stat_and_memory_current() {
        let root = tempfile::tempdir().unwrap();
        let (cg, proc) = (root.path().join("cg"), root.path().join("proc"));
        write(
            &cg.join("flotilla/abc-web-0/cpu.stat"),
            "usage_usec 1000\nuser_usec 1000\n",
        );
        write(&cg.join("flotilla/abc-web-0/memory.current"), "4096000\n");
        write(
            &cg.join("flotilla/abc-web-0/memory.stat"),
            "inactive_file 96000\n",
        );
        write(&proc.join("stat"), "cpu  100 0 100 1000 0 0 0 0 0 0\n");
        write(
            &proc.join("meminfo"),
            "MemTotal: 2000 kB\nMemAvailable: 1000 kB\n",
        );
        let sampler = Sampler::at(CgroupSetup::Unified, &cg, &proc);
        let usage = sampler.usage(&[target()]).await;
        assert_eq!(
            usage.pods[0].containers[0].memory_working_set_bytes,
            4_000_000
        );
        assert_eq!(usage.memory_working_set_bytes, 1000 * 1024);
        assert_eq!(usage.window_ms, 1000);
    }

    #[tokio::test(start_paused = true)]
    async fn a_recent_previous_sample_spares_the_second_reading() {
        let root = tempfile::tempdir().unwrap();
        let cg = root.path().join("cg");
        write(&cg.join("flotilla/abc-web-0/cpu.stat"), "usage_usec 0\n");
        write(&cg.join("flotilla/abc-web-0/memory.current"), "1\n");
        let sampler = Sampler::at(CgroupSetup::Unified, &cg, root.path());
        sampler.usage(&[target()]).await;
        tokio::time::sleep(Duration::from_secs(5)).await;
        let started = tokio::time::Instant::now();
        let usage = sampler.usage(&[target()]).await;
        assert_eq!(started.elapsed(), Duration::ZERO);
        assert_eq!(usage.window_ms, 5000);
    }

    #[tokio::test(start_paused = true)]
    async fn a_container_without_a_cgroup_is_left_out() {
        let root = tempfile::tempdir().unwrap();
        let sampler = Sampler::at(CgroupSetup::Unified, root.path(), root.path());
        assert!(sampler.usage(&[target()]).await.pods.is_empty());
    }
}
