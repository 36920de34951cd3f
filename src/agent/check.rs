//! `edged check`: can this host run pods? Facts are gathered from the host (`gather`), then
//! judged by a pure function (`evaluate`) so that every verdict — a Raspberry Pi whose firmware
//! disabled the memory cgroup above all — is unit-tested.
use std::path::{Path, PathBuf};

use crate::agent::runtime::cgroup::CgroupSetup;

/// What the check looked at.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HostFacts {
    pub is_root: bool,
    pub kernel: String,
    pub cgroups: Option<CgroupSetup>,
    pub controllers: Vec<String>,
    /// The kernel command line in force (`/proc/cmdline`).
    pub cmdline: String,
    /// `/proc/device-tree/model`, on boards that have one.
    pub board_model: Option<String>,
    /// The Raspberry Pi `cmdline.txt` found, with its content.
    pub cmdline_txt: Option<(PathBuf, String)>,
    pub filesystems: Vec<String>,
    /// Kernel modules loaded, built in or available to load.
    pub modules: Vec<String>,
    pub has_ip: bool,
    pub has_nft: bool,
    /// `nft list tables` worked (nf_tables usable, as root).
    pub nft_works: bool,
    /// The kernel supports seccomp filters.
    pub seccomp: bool,
    pub swap_accounting: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    Warn,
    Fail,
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub name: &'static str,
    pub verdict: Verdict,
    pub detail: String,
    /// What to do about it.
    pub fix: Option<String>,
}

fn finding(name: &'static str, verdict: Verdict, detail: impl Into<String>, fix: Option<String>) -> Finding {
    Finding { name, verdict, detail: detail.into(), fix }
}

/// The kernel flags that enable the memory cgroup on a Raspberry Pi.
pub const PI_MEMORY_FLAGS: &str = "cgroup_enable=memory cgroup_memory=1";

fn is_pi(facts: &HostFacts) -> bool {
    facts.board_model.as_deref().is_some_and(|m| m.contains("Raspberry Pi")) || facts.cmdline_txt.is_some()
}

/// The memory cgroup finding, with Raspberry Pi advice when it is off.
fn memory_cgroup(facts: &HostFacts) -> Finding {
    if facts.controllers.iter().any(|c| c == "memory") {
        return finding("memory cgroup", Verdict::Ok, "enabled", None);
    }
    let disabled_by_cmdline = facts.cmdline.split_whitespace().any(|w| w == "cgroup_disable=memory");
    let mut detail = String::from("disabled: memory limits cannot be enforced and OOM kills cannot be reported");
    let fix = if is_pi(facts) {
        let (path, content) = facts
            .cmdline_txt
            .clone()
            .unwrap_or_else(|| (PathBuf::from("/boot/firmware/cmdline.txt"), String::new()));
        let injected = disabled_by_cmdline && !content.split_whitespace().any(|w| w == "cgroup_disable=memory");
        if injected {
            detail.push_str(&format!(
                "; `cgroup_disable=memory` is on the kernel command line but not in {}: the firmware or kernel adds it",
                path.display()
            ));
        } else if disabled_by_cmdline {
            detail.push_str(&format!("; {} contains `cgroup_disable=memory`", path.display()));
        }
        Some(format!(
            "add `{PI_MEMORY_FLAGS}` to the end of the single line in {}{} and reboot (a later flag overrides the injected one)",
            path.display(),
            if !injected && disabled_by_cmdline { ", remove `cgroup_disable=memory`" } else { "" }
        ))
    } else if disabled_by_cmdline {
        Some("remove `cgroup_disable=memory` from the kernel command line (or add `cgroup_enable=memory`) and reboot".to_string())
    } else {
        Some("enable CONFIG_MEMCG in the kernel, or add `cgroup_enable=memory` to the kernel command line".to_string())
    };
    finding("memory cgroup", Verdict::Fail, detail, fix)
}

/// Judges the facts. The node can run pods when no finding is `Fail`.
pub fn evaluate(facts: &HostFacts) -> Vec<Finding> {
    let mut findings = Vec::new();
    findings.push(match facts.cgroups {
        Some(setup) => finding("cgroups", Verdict::Ok, format!("{}; controllers: {}", setup.name(), facts.controllers.join(", ")), None),
        None => finding("cgroups", Verdict::Fail, "no cgroup file system at /sys/fs/cgroup", Some("mount cgroup2 on /sys/fs/cgroup (systemd does)".into())),
    });
    findings.push(memory_cgroup(facts));
    for (controller, why) in [("cpu", "cpu requests and limits"), ("pids", "process counts"), ("cpuset", "cpu pinning")] {
        if !facts.controllers.iter().any(|c| c == controller) && facts.cgroups.is_some() {
            findings.push(finding("cgroup controller", Verdict::Warn, format!("{controller} missing: {why} are not enforced"), None));
        }
    }
    if facts.cgroups.is_some() && !facts.swap_accounting {
        findings.push(finding(
            "swap accounting",
            Verdict::Warn,
            "swap is not limited per container: a container over its memory limit may swap instead of being OOM-killed",
            Some("add `swapaccount=1` to the kernel command line, or disable swap".into()),
        ));
    }
    findings.push(if facts.filesystems.iter().any(|f| f == "overlay") || facts.modules.iter().any(|m| m == "overlay") {
        finding("overlayfs", Verdict::Ok, "available", None)
    } else {
        finding("overlayfs", Verdict::Fail, "not available: container root file systems cannot be mounted", Some("modprobe overlay (and add it to /etc/modules)".into()))
    });
    for (module, why) in [("bridge", "the pod bridge"), ("veth", "pod network links"), ("nf_tables", "masquerading and hostPort")] {
        // A working `nft` proves nf_tables whatever the module lists say.
        let proven = module == "nf_tables" && facts.nft_works;
        if !proven && !facts.modules.iter().any(|m| m == module) {
            findings.push(finding("kernel module", Verdict::Warn, format!("{module} not found loaded, built in or installed ({why}); it may still be built in"), None));
        }
    }
    findings.push(if facts.has_ip {
        finding("ip", Verdict::Ok, "found", None)
    } else {
        finding("ip", Verdict::Fail, "the `ip` command (iproute2) is missing", Some("apt install iproute2".into()))
    });
    findings.push(match (facts.has_nft, facts.nft_works, facts.is_root) {
        (false, _, _) => finding("nftables", Verdict::Fail, "the `nft` command is missing", Some("apt install nftables".into())),
        (true, true, _) => finding("nftables", Verdict::Ok, "nft works", None),
        (true, false, false) => finding("nftables", Verdict::Warn, "not checked (needs root)", None),
        (true, false, true) => finding("nftables", Verdict::Fail, "`nft list tables` failed: nf_tables is not usable", Some("modprobe nf_tables nft_chain_nat nft_masq".into())),
    });
    findings.push(finding(
        "seccomp",
        Verdict::Warn,
        format!(
            "kernel {}; this build of Flotilla does not apply seccomp profiles (libcontainer without libseccomp) and, on cgroup v2, does not enforce device rules",
            if facts.seccomp { "supports seccomp" } else { "has no seccomp" }
        ),
        None,
    ));
    if !facts.is_root {
        findings.push(finding("privileges", Verdict::Warn, "not running as root: some checks were skipped; the agent must run as root", None));
    }
    findings
}

fn command_exists(name: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(name).is_file()))
}

fn modules(kernel: &str) -> Vec<String> {
    let mut found: Vec<String> = std::fs::read_dir("/sys/module")
        .map(|entries| entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    let base = Path::new("/lib/modules").join(kernel);
    let builtin = std::fs::read_to_string(base.join("modules.builtin")).unwrap_or_default();
    let available = std::fs::read_to_string(base.join("modules.dep")).unwrap_or_default();
    for line in builtin.lines().chain(available.lines().filter_map(|l| l.split(':').next())) {
        if let Some(name) = Path::new(line).file_name().and_then(|n| n.to_str()) {
            let name = name.split('.').next().unwrap_or(name).replace('-', "_");
            found.push(name);
        }
    }
    found.sort();
    found.dedup();
    found
}

/// Reads the facts from this host.
pub fn gather() -> HostFacts {
    let kernel = nix::sys::utsname::uname().map(|u| u.release().to_string_lossy().into_owned()).unwrap_or_default();
    let mounted = Path::new("/sys/fs/cgroup/cgroup.controllers").exists() || Path::new("/sys/fs/cgroup/memory").exists() || Path::new("/sys/fs/cgroup/cpu").exists();
    let cgroups = mounted.then(CgroupSetup::detect);
    let is_root = nix::unistd::geteuid().is_root();
    let has_nft = command_exists("nft");
    let nft_works = has_nft && is_root && std::process::Command::new("nft").args(["list", "tables"]).output().is_ok_and(|o| o.status.success());
    let cmdline_txt = ["/boot/firmware/cmdline.txt", "/boot/cmdline.txt"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok().map(|content| (PathBuf::from(p), content)));
    HostFacts {
        is_root,
        controllers: cgroups.map(|c| c.controllers()).unwrap_or_default(),
        swap_accounting: cgroups.is_some_and(|c| c.swap_limit_supported()),
        cgroups,
        cmdline: std::fs::read_to_string("/proc/cmdline").unwrap_or_default(),
        board_model: std::fs::read_to_string("/proc/device-tree/model").ok().map(|m| m.trim_end_matches('\0').trim().to_string()),
        cmdline_txt,
        filesystems: std::fs::read_to_string("/proc/filesystems")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_whitespace().last())
            .map(str::to_string)
            .collect(),
        modules: modules(&kernel),
        kernel,
        has_ip: command_exists("ip"),
        has_nft,
        nft_works,
        seccomp: std::fs::read_to_string("/proc/self/status").is_ok_and(|s| s.contains("Seccomp:")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn healthy() -> HostFacts {
        HostFacts {
            is_root: true,
            kernel: "6.6.0".into(),
            cgroups: Some(CgroupSetup::Unified),
            controllers: ["cpuset", "cpu", "io", "memory", "pids"].map(String::from).to_vec(),
            cmdline: "console=tty1 root=PARTUUID=1 rootwait".into(),
            board_model: None,
            cmdline_txt: None,
            filesystems: vec!["overlay".into()],
            modules: ["bridge", "veth", "nf_tables", "overlay"].map(String::from).to_vec(),
            has_ip: true,
            has_nft: true,
            nft_works: true,
            seccomp: true,
            swap_accounting: true,
        }
    }

    fn fails(findings: &[Finding]) -> Vec<&'static str> {
        findings.iter().filter(|f| f.verdict == Verdict::Fail).map(|f| f.name).collect()
    }

    #[test]
    fn a_healthy_host_has_no_failure() {
        assert!(fails(&evaluate(&healthy())).is_empty());
    }

    #[test]
    fn a_pi_whose_firmware_disables_the_memory_cgroup_gets_the_exact_fix() {
        let mut facts = healthy();
        facts.controllers.retain(|c| c != "memory");
        facts.board_model = Some("Raspberry Pi 4 Model B Rev 1.5".into());
        facts.cmdline = "coherent_pool=1M cgroup_disable=memory console=tty1 root=PARTUUID=1 rootwait".into();
        facts.cmdline_txt = Some(("/boot/firmware/cmdline.txt".into(), "console=tty1 root=PARTUUID=1 rootwait\n".into()));
        let findings = evaluate(&facts);
        assert_eq!(fails(&findings), vec!["memory cgroup"]);
        let memory = findings.iter().find(|f| f.name == "memory cgroup").unwrap();
        assert!(memory.detail.contains("the firmware or kernel adds it"), "{}", memory.detail);
        let fix = memory.fix.as_deref().unwrap();
        assert!(fix.contains("/boot/firmware/cmdline.txt") && fix.contains(PI_MEMORY_FLAGS), "{fix}");
    }

    #[test]
    fn a_pi_whose_cmdline_txt_disables_it_is_told_to_remove_the_flag() {
        let mut facts = healthy();
        facts.controllers.retain(|c| c != "memory");
        facts.cmdline = "cgroup_disable=memory root=x".into();
        facts.cmdline_txt = Some(("/boot/cmdline.txt".into(), "cgroup_disable=memory root=x".into()));
        let memory = evaluate(&facts).into_iter().find(|f| f.name == "memory cgroup").unwrap();
        assert!(memory.fix.unwrap().contains("remove `cgroup_disable=memory`"));
    }

    #[test]
    fn missing_overlayfs_or_nft_fail_the_node() {
        let mut facts = healthy();
        facts.filesystems.clear();
        facts.modules.retain(|m| m != "overlay");
        facts.has_nft = false;
        assert_eq!(fails(&evaluate(&facts)), vec!["overlayfs", "nftables"]);
    }
}
