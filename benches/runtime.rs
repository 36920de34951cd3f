//! `cargo bench --bench runtime` (as root): the agent runtime against runc and crun, and the
//! standalone agent's latency, memory and idle disk writes. Prints one table.
//!
//! - Container lifecycle: create + start + wait + delete of `/bin/true`, median of
//!   `FLOTILLA_BENCH_RUNS` (default 20) runs after 2 warm-ups, through Flotilla's engine (overlay
//!   root, bundle, log pipes, helper process), `runc run` and `crun run` on the same config.json
//!   and root file system. crun refuses this hybrid host while cgroup2 holds a controller, so it
//!   runs with the cgroup2 mount hidden in a private mount namespace (done between fork and
//!   exec; the cost is inside its figure).
//! - Manifest → running: a manifest renamed into the watched directory until the container's
//!   first output line is read by the agent (its CRI timestamp), median of 10.
//! - Idle agent: RSS of the agent and of its helper with 0 and 10 pods; bytes the agent and the
//!   helper wrote to storage (`/proc/<pid>/io` write_bytes) over `FLOTILLA_BENCH_IDLE_SECONDS`
//!   (default 60) with 10 idle pods. `FLOTILLA_BENCH_EDGED=PATH` runs another `edged` build for
//!   these rows, e.g. a static `x86_64-unknown-linux-musl` one, linked as the boards' artefact is.
#[path = "../tests/fixtures/busybox_image.rs"]
mod busybox_image;

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use flotilla::agent::image::import::import_path;
use flotilla::agent::image::platform::HostPlatform;
use flotilla::agent::image::ImageStore;
use flotilla::agent::network::NetworkConfig;
use flotilla::agent::runtime::engine::{Engine, EngineConfig};
use flotilla::agent::runtime::{
    ContainerConfig, ContainerId, ContainerRuntime, ProcessConfig, Resources, SandboxConfig,
    SandboxId,
};

const IMAGE: &str = "flotilla.bench/busybox:1";

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn has_command(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(name).is_file()))
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn run_command(program: &str, args: &[&str]) {
    let _ = std::process::Command::new(program).args(args).output();
}

/// Time of `f`, in milliseconds.
fn timed<T>(f: impl FnOnce() -> T) -> (f64, T) {
    let start = Instant::now();
    let value = f();
    (start.elapsed().as_secs_f64() * 1000.0, value)
}

struct Row {
    what: String,
    value: String,
    note: String,
}

fn engine_config(dir: &Path, name: &str, subnet: u8) -> EngineConfig {
    let mut config = EngineConfig::new(&dir.join("data"));
    config.run_dir = PathBuf::from(format!("/run/flotilla-bench/{name}"));
    config.helper_program = PathBuf::from(env!("CARGO_BIN_EXE_edged"));
    config.cgroup_parent = format!("flotilla-bench/{name}");
    config.network = NetworkConfig {
        bridge: format!("fb{name}"),
        pod_cidr: format!("10.215.{subnet}.0/24").parse().unwrap(),
        nft_table: format!("flotilla_bench_{name}"),
        ..NetworkConfig::default()
    };
    config
}

fn teardown(config: &EngineConfig) {
    run_command("nft", &["delete", "table", "ip", &config.network.nft_table]);
    run_command("ip", &["link", "del", "dev", &config.network.bridge]);
    let _ = std::fs::remove_dir_all(&config.run_dir);
    for controller in std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        let dir = controller.path().join(&config.cgroup_parent);
        let _ = std::fs::remove_dir(&dir);
        let _ = std::fs::remove_dir(dir.parent().unwrap());
    }
}

/// Lifecycle medians: (flotilla, runc, crun) in milliseconds.
fn lifecycle(dir: &Path, archive: &Path, runs: usize) -> (f64, Option<f64>, Option<f64>) {
    let config = engine_config(dir, "life", 1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = ImageStore::open(&config.data_dir.join("images"), HostPlatform::detect()).unwrap();
    import_path(&store, archive).unwrap();
    let record = store.resolve(&IMAGE.parse().unwrap()).unwrap();
    let layers: Vec<PathBuf> = record
        .diff_ids
        .iter()
        .map(|d| store.layer_path(d))
        .collect();
    let engine = runtime.block_on(Engine::open(config.clone())).unwrap();
    let sandbox = runtime
        .block_on(engine.create_sandbox(&SandboxConfig {
            id: SandboxId::new("bench").unwrap(),
            hostname: "bench".into(),
            host_network: false,
            port_mappings: vec![],
            host_aliases: vec![],
            labels: BTreeMap::new(),
        }))
        .unwrap();
    let container = |id: &str| ContainerConfig {
        id: ContainerId::new(id).unwrap(),
        sandbox: sandbox.clone(),
        layers: layers.clone(),
        process: ProcessConfig {
            args: vec!["/bin/true".into()],
            env: vec!["PATH=/bin".into()],
            cwd: "/".into(),
            uid: 0,
            gid: 0,
            additional_gids: vec![],
            privileged: false,
            capabilities_add: vec![],
            capabilities_drop: vec![],
            no_new_privileges: false,
        },
        mounts: vec![],
        resources: Resources {
            cpu_period_us: 100_000,
            ..Default::default()
        },
        read_only_root: false,
        log_path: config.data_dir.join(format!("logs/{id}.log")),
        labels: BTreeMap::new(),
    };
    let mut flotilla = Vec::new();
    for i in 0..runs + 2 {
        let config = container(&format!("flot-{i}"));
        let (ms, ()) = timed(|| {
            runtime.block_on(async {
                engine.start_container(&config).await.unwrap();
                engine.wait(&config.id).await.unwrap();
                engine.remove_container(&config.id).await.unwrap();
            })
        });
        if i >= 2 {
            flotilla.push(ms);
        }
    }
    // The same config.json and root file system for runc and crun.
    let bundle = dir.join("bundle");
    let rootfs = bundle.join("rootfs");
    let (upper, work) = (dir.join("upper"), dir.join("work"));
    for d in [&rootfs, &upper, &work] {
        std::fs::create_dir_all(d).unwrap();
    }
    let lowers: Vec<String> = layers
        .iter()
        .rev()
        .map(|l| l.display().to_string())
        .collect();
    let options = format!(
        "lowerdir={},upperdir={},workdir={}",
        lowers.join(":"),
        upper.display(),
        work.display()
    );
    nix::mount::mount(
        Some("overlay"),
        &rootfs,
        Some("overlay"),
        nix::mount::MsFlags::empty(),
        Some(options.as_str()),
    )
    .unwrap();
    let external = |program: &str, private_mounts: bool| -> Option<f64> {
        if !has_command(program) {
            return None;
        }
        let state = dir.join(format!("{program}-state"));
        let mut times = Vec::new();
        for i in 0..runs + 2 {
            let id = format!("{program}-{i}");
            let spec = flotilla::agent::runtime::bundle::spec(
                &container(&id),
                &format!("/{}/{id}", config.cgroup_parent),
                false,
            );
            std::fs::write(
                bundle.join("config.json"),
                serde_json::to_vec(&spec).unwrap(),
            )
            .unwrap();
            let mut command = std::process::Command::new(program);
            command
                .arg("--root")
                .arg(&state)
                .args(["run", "--bundle"])
                .arg(&bundle)
                .arg(&id)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped());
            if private_mounts {
                // SAFETY: only system calls between fork and exec.
                unsafe {
                    command.pre_exec(|| {
                        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)?;
                        nix::mount::mount(
                            None::<&str>,
                            "/",
                            None::<&str>,
                            nix::mount::MsFlags::MS_REC | nix::mount::MsFlags::MS_PRIVATE,
                            None::<&str>,
                        )?;
                        let _ = nix::mount::umount2(
                            "/sys/fs/cgroup/unified",
                            nix::mount::MntFlags::MNT_DETACH,
                        );
                        Ok(())
                    });
                }
            }
            let (ms, output) = timed(|| command.output().unwrap());
            if !output.status.success() {
                eprintln!(
                    "{program} run failed: {}",
                    String::from_utf8_lossy(&output.stderr)
                );
                return None;
            }
            if i >= 2 {
                times.push(ms);
            }
        }
        Some(median(times))
    };
    let runc = external("runc", false);
    let crun = external("crun", true);
    let _ = nix::mount::umount2(&rootfs, nix::mount::MntFlags::MNT_DETACH);
    runtime
        .block_on(engine.remove_sandbox(&sandbox.id))
        .unwrap();
    drop(engine);
    teardown(&config);
    (median(flotilla), runc, crun)
}

/// A standalone agent process for the latency and footprint figures.
struct Agent {
    child: std::process::Child,
    config: EngineConfig,
    manifests: PathBuf,
}

impl Agent {
    fn start(dir: &Path, archive: &Path) -> Agent {
        let config = engine_config(dir, "agent", 2);
        let import = config.data_dir.join("images/import");
        std::fs::create_dir_all(&import).unwrap();
        std::fs::copy(archive, import.join("busybox.tar")).unwrap();
        let manifests = dir.join("manifests");
        std::fs::create_dir_all(&manifests).unwrap();
        let socket = dir.join("agent.sock");
        let child = std::process::Command::new(edged_program())
            .args(["agent", "--standalone", "--manifests"])
            .arg(&manifests)
            .arg("--data-dir")
            .arg(&config.data_dir)
            .arg("--run-dir")
            .arg(&config.run_dir)
            .arg("--socket")
            .arg(&socket)
            .args([
                "--node-name",
                "bench",
                "--bridge",
                &config.network.bridge,
                "--pod-cidr",
                &config.network.pod_cidr.to_string(),
            ])
            .args([
                "--nft-table",
                &config.network.nft_table,
                "--cgroup-parent",
                &config.cgroup_parent,
            ])
            .arg("--registries")
            .arg(dir.join("registries.yaml"))
            .env("FLOTILLA_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        while !socket.exists() {
            std::thread::sleep(Duration::from_millis(10));
        }
        Agent {
            child,
            config,
            manifests,
        }
    }

    fn pod(&self, name: &str, command: &str) {
        let yaml = format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: app\n    image: {IMAGE}\n    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; {command}\"]\n"
        );
        let tmp = self.manifests.join(format!(".{name}"));
        std::fs::write(&tmp, yaml).unwrap();
        std::fs::rename(&tmp, self.manifests.join(format!("{name}.yaml"))).unwrap();
    }

    /// The first log line of pod `name`'s container, once there is one.
    fn first_line(&self, name: &str) -> String {
        let logs = self.config.data_dir.join("logs");
        loop {
            let dir = std::fs::read_dir(&logs)
                .into_iter()
                .flatten()
                .flatten()
                .find(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .starts_with(&format!("default_{name}_"))
                });
            if let Some(text) =
                dir.and_then(|d| std::fs::read_to_string(d.path().join("app/0.log")).ok())
            {
                if let Some(line) = text.lines().next() {
                    return line.to_string();
                }
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn wait_gone(&self, name: &str) {
        let logs = self.config.data_dir.join("logs");
        while std::fs::read_dir(&logs)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with(&format!("default_{name}_"))
            })
        {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn helper_pid(&self) -> Option<i32> {
        std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let ppid: u32 = stat[stat.rfind(')')? + 2..]
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            let cmdline = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).ok()?;
            (ppid == self.child.id() && cmdline.contains("runtime-helper")).then_some(pid)
        })
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        for entry in std::fs::read_dir(&self.manifests)
            .into_iter()
            .flatten()
            .flatten()
        {
            let _ = std::fs::remove_file(entry.path());
        }
        let logs = self.config.data_dir.join("logs");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::fs::read_dir(&logs)
            .map(|d| d.count() > 0)
            .unwrap_or(false)
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        teardown(&self.config);
    }
}

/// The `field:   N kB` line of a `/proc` file, in KiB; 0 when absent.
fn proc_kib(path: &str, field: &str) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Proportional set size: shared pages divided among the processes that map them.
fn pss_kib(pid: i32) -> u64 {
    proc_kib(&format!("/proc/{pid}/smaps_rollup"), "Pss")
}

/// `RssAnon` of `/proc/<pid>/status`: the heap and stacks, without the mapped binary.
fn anon_kib(pid: i32) -> u64 {
    proc_kib(&format!("/proc/{pid}/status"), "RssAnon")
}

/// The `edged` whose agent is measured: `FLOTILLA_BENCH_EDGED`, or this build's.
fn edged_program() -> PathBuf {
    std::env::var_os("FLOTILLA_BENCH_EDGED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_edged")))
}

fn rss_kib(pid: i32) -> u64 {
    flotilla::agent::runtime::process::rss_bytes(pid).unwrap_or(0) / 1024
}

fn write_bytes(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/io"))
        .ok()
        .and_then(|io| {
            io.lines().find_map(|l| {
                l.strip_prefix("write_bytes: ")
                    .and_then(|v| v.trim().parse().ok())
            })
        })
        .unwrap_or(0)
}

fn cri_time_ns(line: &str) -> i128 {
    let stamp = line.split_whitespace().next().unwrap();
    time::OffsetDateTime::parse(stamp, &time::format_description::well_known::Rfc3339)
        .unwrap()
        .unix_timestamp_nanos()
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is accepted.
    if !nix::unistd::geteuid().is_root() || !Path::new(busybox_image::BUSYBOX).is_file() {
        eprintln!("the runtime benchmark needs root and /bin/busybox (apt install busybox-static)");
        std::process::exit(if std::env::var("CI").as_deref() == Ok("true") {
            1
        } else {
            0
        });
    }
    let runs = env_number("FLOTILLA_BENCH_RUNS", 20).max(1) as usize;
    let idle_seconds = env_number("FLOTILLA_BENCH_IDLE_SECONDS", 60);
    let dir = tempfile::Builder::new()
        .prefix("flotilla-bench-")
        .tempdir()
        .unwrap();
    let archive = busybox_image::busybox_archive(dir.path(), IMAGE);
    let mut rows = Vec::new();

    let (flotilla, runc, crun) = lifecycle(&dir.path().join("lifecycle"), &archive, runs);
    let ratio = |a: f64, b: Option<f64>| b.map_or("n/a".to_string(), |b| format!("{:.2}", a / b));
    let ms = |v: Option<f64>| {
        v.map_or("n/a (not installed or failed)".to_string(), |v| {
            format!("{v:.1} ms")
        })
    };
    rows.push(Row {
        what: format!("/bin/true create+start+wait+delete, Flotilla engine (median of {runs})"),
        value: format!("{flotilla:.1} ms"),
        note: String::new(),
    });
    rows.push(Row {
        what: format!("/bin/true, `runc run` (median of {runs})"),
        value: ms(runc),
        note: String::new(),
    });
    rows.push(Row {
        what: format!("/bin/true, `crun run`, cgroup2 hidden (median of {runs})"),
        value: ms(crun),
        note: String::new(),
    });
    rows.push(Row {
        what: "ratio Flotilla / crun".into(),
        value: ratio(flotilla, crun),
        note: "goal <= 1.0".into(),
    });
    rows.push(Row {
        what: "ratio Flotilla / runc".into(),
        value: ratio(flotilla, runc),
        note: String::new(),
    });
    rows.push(Row {
        what: "ratio runc / crun".into(),
        value: runc.map_or("n/a".into(), |r| ratio(r, crun)),
        note: String::new(),
    });

    let agent = Agent::start(&dir.path().join("agent"), &archive);
    std::thread::sleep(Duration::from_secs(3));
    let agent_pid = agent.child.id() as i32;
    let helper = agent.helper_pid();
    let rss_0 = (rss_kib(agent_pid), helper.map_or(0, rss_kib));
    let anon_0 = anon_kib(agent_pid);
    let mut latencies = Vec::new();
    for i in 0..10 {
        let name = format!("latency-{i}");
        let t0 = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as i128;
        agent.pod(&name, "echo up; sleep 1000");
        let t1 = cri_time_ns(&agent.first_line(&name));
        latencies.push((t1 - t0) as f64 / 1e6);
        std::fs::remove_file(agent.manifests.join(format!("{name}.yaml"))).unwrap();
        agent.wait_gone(&name);
    }
    rows.push(Row {
        what: "manifest written -> container running, cached image (median of 10)".into(),
        value: format!("{:.1} ms", median(latencies)),
        note: "goal <= 100 ms".into(),
    });
    for i in 0..10 {
        let name = format!("idle-{i}");
        agent.pod(&name, "echo up; while true; do sleep 3600; done");
        agent.first_line(&name);
    }
    std::thread::sleep(Duration::from_secs(5));
    let helper = agent.helper_pid().or(helper);
    let rss_10 = (rss_kib(agent_pid), helper.map_or(0, rss_kib));
    let pss_10 = (pss_kib(agent_pid), helper.map_or(0, pss_kib));
    let anon_10 = (anon_kib(agent_pid), helper.map_or(0, anon_kib));
    let written_before = write_bytes(agent_pid) + helper.map_or(0, write_bytes);
    std::thread::sleep(Duration::from_secs(idle_seconds));
    // The kernel adds a reaped child's counters to its parent's: when the agent closes the idle
    // helper, the helper's earlier writes move into the agent's count. Agent + live helper,
    // before and after, counts them once.
    let helper_settled = agent.helper_pid();
    let written_after = write_bytes(agent_pid) + helper_settled.map_or(0, write_bytes);
    let written = written_after - written_before;
    let rss_settled = (rss_kib(agent_pid), helper_settled.map_or(0, rss_kib));
    rows.push(Row {
        what: "agent RSS idle, 0 pods (agent + helper)".into(),
        value: format!("{} KiB + {} KiB", rss_0.0, rss_0.1),
        note: "goal <= 8 MiB".into(),
    });
    rows.push(Row {
        what: "  of which anonymous (heap, stacks; the rest is the mapped binary)".into(),
        value: format!("{anon_0} KiB"),
        note: String::new(),
    });
    rows.push(Row {
        what: "agent RSS idle, 10 pods (agent + helper, containers excluded)".into(),
        value: format!("{} KiB + {} KiB", rss_10.0, rss_10.1),
        note: "goal <= 12 MiB".into(),
    });
    rows.push(Row {
        what: "  the same as PSS (pages of the binary both map counted once)".into(),
        value: format!("{} KiB + {} KiB", pss_10.0, pss_10.1),
        note: String::new(),
    });
    rows.push(Row {
        what: "  of which anonymous".into(),
        value: format!("{} KiB + {} KiB", anon_10.0, anon_10.1),
        note: String::new(),
    });
    rows.push(Row {
        what: format!(
            "agent RSS idle, 10 pods, {idle_seconds} s later (helper closed after {} s idle)",
            flotilla::agent::runtime::helper::HELPER_IDLE_CLOSE.as_secs()
        ),
        value: format!(
            "{} KiB + {}",
            rss_settled.0,
            helper_settled.map_or("no helper".to_string(), |_| format!(
                "{} KiB",
                rss_settled.1
            ))
        ),
        note: "goal <= 12 MiB".into(),
    });
    rows.push(Row {
        what: format!("bytes written to storage by the idle agent in {idle_seconds} s, 10 pods"),
        value: format!("{written} B"),
        note: "goal 0".into(),
    });
    drop(agent);

    let width = rows.iter().map(|r| r.what.len()).max().unwrap_or(0);
    println!(
        "\nFlotilla runtime benchmark ({}; {})",
        std::env::consts::ARCH,
        flotilla::agent::runtime::cgroup::CgroupSetup::detect().name()
    );
    let edged = edged_program();
    println!(
        "  agent rows: {} ({} bytes)",
        edged.display(),
        std::fs::metadata(&edged).map_or(0, |m| m.len())
    );
    for row in rows {
        println!("  {:<width$}  {:>22}  {}", row.what, row.value, row.note);
    }
}
