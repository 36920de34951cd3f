//! A lab of nodes for cluster tests: each node is a network namespace with one veth link to a
//! bridge that lives in a "switch" namespace of its own, so nothing touches the host's network.
//! Processes run inside a node by entering its network namespace only (a `setns` between fork
//! and exec), not with `ip netns exec`: that one also unshares the mount namespace and remounts
//! /sys, so the container mounts an agent makes would live in a private mount namespace that a
//! restarted agent, and the test's cleanup, never see. Faults are injected by taking a node's
//! link down on the switch side, pausing processes (SIGSTOP) and killing them. Everything is
//! removed when the lab is dropped. Needs root and `ip` (iproute2); under `CI=true` a missing
//! prerequisite fails the test instead of skipping it.
use std::ffi::OsStr;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// The lab network: node `i` gets 192.0.2.(i+1)/24 (TEST-NET-1, only inside the lab).
pub const LAB_NETWORK: [u8; 3] = [192, 0, 2];
pub const LAB_PREFIX_LEN: u8 = 24;

/// Why the lab cannot run here.
pub fn missing_prerequisite() -> Option<String> {
    if unsafe { libc::geteuid() } != 0 {
        return Some("cluster lab tests need root (network namespaces)".into());
    }
    if Command::new("ip").arg("-V").output().is_err() {
        return Some("cluster lab tests need `ip` (iproute2)".into());
    }
    None
}

/// Returns true when the test may go on; under `CI=true` a missing prerequisite panics.
pub fn prerequisites_met() -> bool {
    match missing_prerequisite() {
        None => true,
        Some(why) if std::env::var("CI").as_deref() == Ok("true") => panic!("{why}"),
        Some(why) => {
            eprintln!("skipping outside CI: {why}");
            false
        }
    }
}

fn ip(args: &[&str]) {
    let output = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        output.status.success(),
        "ip {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
}

static LABS: AtomicU32 = AtomicU32::new(0);

/// One node of the lab.
pub struct LabNode {
    /// The namespace name (`ip netns exec <netns> …`).
    pub netns: String,
    /// The node's address on the lab network.
    pub address: Ipv4Addr,
    /// The switch-side end of its link, taken down to cut the node off.
    switch_end: String,
}

/// A process started inside a node, killed on drop.
pub struct LabProcess {
    pub child: Child,
}

impl LabProcess {
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }
    /// SIGSTOP: the process stops answering without its sockets closing.
    pub fn pause(&self) {
        unsafe { libc::kill(self.pid(), libc::SIGSTOP) };
    }
    pub fn resume(&self) {
        unsafe { libc::kill(self.pid(), libc::SIGCONT) };
    }
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for LabProcess {
    fn drop(&mut self) {
        self.resume();
        self.kill();
    }
}

/// Nodes on one bridge.
pub struct Lab {
    switch: String,
    pub nodes: Vec<LabNode>,
}

impl Lab {
    /// Builds a lab of `count` nodes (at most 200).
    pub fn new(count: usize) -> Lab {
        assert!(count <= 200, "at most 200 lab nodes");
        // Interface names are at most 15 bytes: "fl" + 4 hex of the pid + 2 hex of the lab
        // number + "v" + node number fits.
        let prefix = format!(
            "fl{:04x}{:02x}",
            std::process::id() & 0xffff,
            LABS.fetch_add(1, Ordering::SeqCst) & 0xff
        );
        let switch = format!("{prefix}-sw");
        let mut lab = Lab {
            switch: switch.clone(),
            nodes: Vec::new(),
        };
        ip(&["netns", "add", &switch]);
        ip(&["-n", &switch, "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", &switch, "link", "set", "br0", "up"]);
        for i in 0..count {
            let netns = format!("{prefix}-n{i}");
            let node_end = format!("{prefix}v{i}");
            let switch_end = format!("{prefix}s{i}");
            ip(&["netns", "add", &netns]);
            ip(&["-n", &netns, "link", "set", "lo", "up"]);
            ip(&[
                "link",
                "add",
                &node_end,
                "type",
                "veth",
                "peer",
                "name",
                &switch_end,
            ]);
            ip(&["link", "set", &node_end, "netns", &netns]);
            ip(&["link", "set", &switch_end, "netns", &switch]);
            ip(&["-n", &netns, "link", "set", &node_end, "name", "eth0"]);
            let address =
                Ipv4Addr::new(LAB_NETWORK[0], LAB_NETWORK[1], LAB_NETWORK[2], i as u8 + 1);
            ip(&[
                "-n",
                &netns,
                "addr",
                "add",
                &format!("{address}/{LAB_PREFIX_LEN}"),
                "dev",
                "eth0",
            ]);
            ip(&["-n", &netns, "link", "set", "eth0", "up"]);
            ip(&["-n", &switch, "link", "set", &switch_end, "master", "br0"]);
            ip(&["-n", &switch, "link", "set", &switch_end, "up"]);
            lab.nodes.push(LabNode {
                netns,
                address,
                switch_end,
            });
        }
        lab
    }

    /// A command that runs `program` in node `i`'s network namespace (and in the test's mount
    /// namespace, cgroups and everything else).
    pub fn command(&self, i: usize, program: impl AsRef<OsStr>) -> Command {
        let path = format!("/run/netns/{}", self.nodes[i].netns);
        let ns = std::fs::File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
        let mut command = Command::new(program);
        // SAFETY: between fork and exec the closure only makes the setns system call on a
        // descriptor the parent keeps open (it is close-on-exec, so the program does not
        // inherit it); it allocates nothing and takes no lock.
        unsafe {
            command.pre_exec(move || {
                if libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        command
    }

    /// Starts `program args…` inside node `i`, with its output going to the test's output.
    pub fn spawn(&self, i: usize, program: &str, args: &[&str]) -> LabProcess {
        let child = self
            .command(i, program)
            .args(args)
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {program} in {}: {e}", self.nodes[i].netns));
        LabProcess { child }
    }

    /// Takes node `i`'s link down at the switch: the node is cut off, its processes run on.
    pub fn cut(&self, i: usize) {
        ip(&[
            "-n",
            &self.switch,
            "link",
            "set",
            &self.nodes[i].switch_end,
            "down",
        ]);
    }

    /// Brings node `i`'s link back.
    pub fn heal(&self, i: usize) {
        ip(&[
            "-n",
            &self.switch,
            "link",
            "set",
            &self.nodes[i].switch_end,
            "up",
        ]);
    }

    /// Runs `f` on a thread that has entered node `i`'s network namespace (sockets it opens
    /// live in that node).
    pub fn within<T: Send + 'static>(&self, i: usize, f: impl FnOnce() -> T + Send + 'static) -> T {
        self.spawn_within(i, f).join().expect("lab thread panicked")
    }

    /// Starts a thread that enters node `i`'s network namespace and runs `f`.
    pub fn spawn_within<T: Send + 'static>(
        &self,
        i: usize,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> std::thread::JoinHandle<T> {
        let path = format!("/run/netns/{}", self.nodes[i].netns);
        let ns = std::fs::File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
        std::thread::spawn(move || {
            nix::sched::setns(ns.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
                .unwrap_or_else(|e| panic!("enter {path}: {e}"));
            f()
        })
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Deleting a namespace deletes the veth ends in it, and with them their peers.
        for node in &self.nodes {
            let _ = Command::new("ip")
                .args(["netns", "del", &node.netns])
                .status();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.switch])
            .status();
    }
}

/// Whether a TCP connection from node `from` to `to:port` succeeds within `patience`.
fn connects(lab: &Lab, from: usize, to: SocketAddr, patience: Duration) -> bool {
    lab.within(from, move || {
        TcpStream::connect_timeout(&to, patience).is_ok()
    })
}

#[test]
fn the_lab_connects_nodes_through_one_bridge_and_cuts_and_heals_links() {
    if !prerequisites_met() {
        return;
    }
    let lab = Lab::new(3);
    let listener = lab.within(0, || TcpListener::bind("0.0.0.0:7443").unwrap());
    let target = SocketAddr::from((lab.nodes[0].address, 7443));
    let patience = Duration::from_secs(2);
    assert!(
        connects(&lab, 1, target, patience),
        "node 1 cannot reach node 0"
    );
    assert!(
        connects(&lab, 2, target, patience),
        "node 2 cannot reach node 0"
    );

    lab.cut(2);
    assert!(
        !connects(&lab, 2, target, Duration::from_millis(500)),
        "a cut node still connects"
    );
    assert!(
        connects(&lab, 1, target, patience),
        "cutting node 2 cut node 1 too"
    );

    lab.heal(2);
    assert!(
        connects(&lab, 2, target, patience),
        "a healed node cannot connect"
    );
    drop(listener);
}

#[test]
fn processes_run_inside_their_node_and_can_be_paused() {
    if !prerequisites_met() {
        return;
    }
    let lab = Lab::new(1);
    let output = lab
        .command(0, "ip")
        .args(["-4", "-o", "addr", "show", "eth0"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&output.stdout).contains("192.0.2.1/24"));
    // Only the network namespace is the node's: mounts stay shared with the test.
    let ns = |pid: u32, kind: &str| std::fs::read_link(format!("/proc/{pid}/ns/{kind}")).unwrap();
    let mut sleeper = lab.spawn(0, "sleep", &["30"]);
    let me = std::process::id();
    assert_ne!(ns(sleeper.child.id(), "net"), ns(me, "net"));
    assert_eq!(ns(sleeper.child.id(), "mnt"), ns(me, "mnt"));
    sleeper.pause();
    // A stop is delivered asynchronously, hence the wait for state T.
    let state = |pid: i32| {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        stat.rsplit(')')
            .next()
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while state(sleeper.pid()) != "T" {
        assert!(
            std::time::Instant::now() < deadline,
            "the process never stopped"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    sleeper.resume();
    sleeper.kill();
}

#[test]
fn a_dropped_lab_leaves_no_namespace_behind() {
    if !prerequisites_met() {
        return;
    }
    let names: Vec<String> = {
        let lab = Lab::new(2);
        let mut names: Vec<String> = lab.nodes.iter().map(|n| n.netns.clone()).collect();
        names.push(lab.switch.clone());
        names
    };
    let listed = String::from_utf8(
        Command::new("ip")
            .args(["netns", "list"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    for name in names {
        assert!(!listed.contains(&name), "{name} left behind");
    }
}
