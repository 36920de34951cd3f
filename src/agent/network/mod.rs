//! Pod networking on one node: the bridge (`flot0`), a veth pair per pod with an address from
//! the node's pod CIDR (allocations persisted so they survive restarts), the default route,
//! and the nftables table for masquerading and `hostPort`s. Links and addresses are set up with
//! `ip -batch` (two processes per pod), rules with `nft -f`.
pub mod command;
pub mod files;
pub mod ipam;
pub mod nft;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use tokio::sync::Mutex;

use crate::agent::runtime::PortMapping;
use ipam::{Ipam, Ipv4Cidr};

/// Why a network operation failed.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error("{command}: {message}")]
    Command { command: String, message: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Exhausted(#[from] ipam::Exhausted),
    #[error("host port {protocol}/{port} is already mapped to pod sandbox {owner}")]
    HostPortInUse {
        protocol: &'static str,
        port: u16,
        owner: String,
    },
}

/// The node's pod network settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkConfig {
    /// The bridge pods attach to (`flot0`).
    pub bridge: String,
    /// This node's pod CIDR (standalone default `10.88.0.0/24`).
    pub pod_cidr: Ipv4Cidr,
    /// The nftables table holding this node's rules.
    pub nft_table: String,
    /// Name servers for pods when the host's are loopback-only.
    pub fallback_dns: Vec<Ipv4Addr>,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            bridge: "flot0".to_string(),
            pod_cidr: "10.88.0.0/24".parse().expect("valid default CIDR"),
            nft_table: "flotilla".to_string(),
            fallback_dns: vec![Ipv4Addr::new(1, 1, 1, 1), Ipv4Addr::new(8, 8, 8, 8)],
        }
    }
}

struct State {
    ipam: Ipam,
    /// Port mappings by sandbox id, with the pod address they point at.
    ports: BTreeMap<String, (Ipv4Addr, Vec<PortMapping>)>,
}

/// The node's pod network. Cheap operations are serialised by one lock: pod churn is slow
/// next to two `ip` invocations.
pub struct PodNetwork {
    config: NetworkConfig,
    ipam_path: PathBuf,
    state: Mutex<State>,
}

/// The host end of a sandbox's veth pair: `vf` + 13 hex digits of a hash of the network
/// namespace's name (unique on the host, unlike sandbox ids of two agents), 15 bytes in all.
pub fn host_veth_name(netns_name: &str) -> String {
    let digest = crate::agent::image::Digest::of(netns_name.as_bytes());
    format!("vf{}", &digest.hex()[..13])
}

/// The host's primary IPv4 address (the source of its default route): the pod IP of
/// `hostNetwork` pods and the node's `hostIP`.
pub async fn host_ipv4() -> Option<Ipv4Addr> {
    let route = command::run("ip", &["-4", "-o", "route", "get", "1.1.1.1"], "")
        .await
        .ok()?;
    let mut words = route.split_whitespace();
    words.find(|w| *w == "src")?;
    words.next()?.parse().ok()
}

impl PodNetwork {
    /// Loads the allocation table from `state_dir` (creating it) for `config`.
    pub fn open(config: NetworkConfig, state_dir: &Path) -> Result<PodNetwork, NetworkError> {
        std::fs::create_dir_all(state_dir).map_err(|source| NetworkError::Io {
            path: state_dir.to_path_buf(),
            source,
        })?;
        let ipam_path = state_dir.join("ipam.json");
        let ipam = match std::fs::read(&ipam_path) {
            Ok(bytes) => match serde_json::from_slice::<Ipam>(&bytes) {
                // A changed pod CIDR starts a fresh table: old addresses are not routable.
                Ok(ipam) if ipam.cidr == config.pod_cidr => ipam,
                _ => Ipam::new(config.pod_cidr),
            },
            Err(_) => Ipam::new(config.pod_cidr),
        };
        Ok(PodNetwork {
            config,
            ipam_path,
            state: Mutex::new(State {
                ipam,
                ports: BTreeMap::new(),
            }),
        })
    }

    pub fn config(&self) -> &NetworkConfig {
        &self.config
    }

    fn save(&self, ipam: &Ipam) -> Result<(), NetworkError> {
        let tmp = self.ipam_path.with_extension("json.tmp");
        let io = |source| NetworkError::Io {
            path: self.ipam_path.clone(),
            source,
        };
        std::fs::write(&tmp, serde_json::to_vec(ipam).expect("ipam serialises")).map_err(io)?;
        std::fs::rename(&tmp, &self.ipam_path).map_err(|source| NetworkError::Io {
            path: self.ipam_path.clone(),
            source,
        })
    }

    /// Makes sure the bridge exists with the gateway address and is up, forwarding is on, and
    /// the nftables table is in place. Idempotent; called at start-up.
    pub async fn ensure_node(&self) -> Result<(), NetworkError> {
        let bridge = &self.config.bridge;
        let exists = command::run("ip", &["-o", "link", "show", "dev", bridge], "")
            .await
            .is_ok();
        let cidr = self.config.pod_cidr;
        let mut script = String::new();
        if !exists {
            script.push_str(&format!("link add {bridge} type bridge\n"));
        }
        let addresses = if exists {
            command::run("ip", &["-o", "-4", "addr", "show", "dev", bridge], "").await?
        } else {
            String::new()
        };
        let gateway = format!("{}/{}", cidr.gateway(), cidr.prefix());
        if !addresses.contains(&format!("inet {gateway} ")) {
            script.push_str(&format!("addr add {gateway} dev {bridge}\n"));
        }
        script.push_str(&format!("link set {bridge} up\n"));
        command::run("ip", &["-batch", "-"], &script).await?;
        for (path, value) in [
            ("/proc/sys/net/ipv4/ip_forward".to_string(), "1"),
            // hostPort from the node itself to 127.0.0.1 is DNATed out of the bridge.
            (
                format!("/proc/sys/net/ipv4/conf/{bridge}/route_localnet"),
                "1",
            ),
        ] {
            std::fs::write(&path, value).map_err(|source| NetworkError::Io {
                path: PathBuf::from(&path),
                source,
            })?;
        }
        let state = self.state.lock().await;
        self.apply_rules(&state).await
    }

    async fn apply_rules(&self, state: &State) -> Result<(), NetworkError> {
        let rules: Vec<nft::HostPortRule> = state
            .ports
            .values()
            .flat_map(|(ip, mappings)| {
                mappings.iter().map(|m| nft::HostPortRule {
                    mapping: *m,
                    pod_ip: *ip,
                })
            })
            .collect();
        let script = nft::render(
            &self.config.nft_table,
            &self.config.bridge,
            self.config.pod_cidr,
            &rules,
        );
        command::run("nft", &["-f", "-"], &script).await.map(|_| ())
    }

    /// Connects the network namespace pinned at `/run/netns/<netns_name>` to the bridge and
    /// gives it an address and a default route. Returns the address.
    pub async fn attach(
        &self,
        sandbox_id: &str,
        netns_name: &str,
    ) -> Result<Ipv4Addr, NetworkError> {
        let veth = host_veth_name(netns_name);
        let address = {
            let mut state = self.state.lock().await;
            let address = state.ipam.allocate(sandbox_id)?;
            self.save(&state.ipam)?;
            address
        };
        // A veth of this name is a leftover of a crashed agent: its namespace is gone.
        if command::run("ip", &["-o", "link", "show", "dev", &veth], "")
            .await
            .is_ok()
        {
            command::run("ip", &["link", "del", "dev", &veth], "").await?;
        }
        let bridge = &self.config.bridge;
        let host_side = format!("link add {veth} type veth peer name eth0 netns {netns_name}\nlink set {veth} master {bridge} up\n");
        if let Err(e) = command::run("ip", &["-batch", "-"], &host_side).await {
            self.detach(sandbox_id, netns_name).await.ok();
            return Err(e);
        }
        let cidr = self.config.pod_cidr;
        let pod_side = format!(
            "addr add {address}/{} dev eth0\nlink set eth0 up\nroute add default via {}\n",
            cidr.prefix(),
            cidr.gateway()
        );
        if let Err(e) = command::run("ip", &["-n", netns_name, "-batch", "-"], &pod_side).await {
            self.detach(sandbox_id, netns_name).await.ok();
            return Err(e);
        }
        Ok(address)
    }

    /// Removes a sandbox's veth (its peer goes with it), port mappings and address. Parts
    /// already gone are skipped.
    pub async fn detach(&self, sandbox_id: &str, netns_name: &str) -> Result<(), NetworkError> {
        let veth = host_veth_name(netns_name);
        if command::run("ip", &["-o", "link", "show", "dev", &veth], "")
            .await
            .is_ok()
        {
            command::run("ip", &["link", "del", "dev", &veth], "").await?;
        }
        let mut state = self.state.lock().await;
        if state.ports.remove(sandbox_id).is_some() {
            self.apply_rules(&state).await?;
        }
        if state.ipam.release(sandbox_id) {
            self.save(&state.ipam)?;
        }
        Ok(())
    }

    /// Installs the `hostPort` mappings of a sandbox. A port another sandbox holds is refused.
    pub async fn map_ports(
        &self,
        sandbox_id: &str,
        pod_ip: Ipv4Addr,
        mappings: &[PortMapping],
    ) -> Result<(), NetworkError> {
        let mut state = self.state.lock().await;
        for mapping in mappings {
            for (owner, (_, theirs)) in &state.ports {
                if owner != sandbox_id
                    && theirs
                        .iter()
                        .any(|t| t.host_port == mapping.host_port && t.protocol == mapping.protocol)
                {
                    return Err(NetworkError::HostPortInUse {
                        protocol: mapping.protocol.as_str(),
                        port: mapping.host_port,
                        owner: owner.clone(),
                    });
                }
            }
        }
        state
            .ports
            .insert(sandbox_id.to_string(), (pod_ip, mappings.to_vec()));
        self.apply_rules(&state).await
    }

    /// Forgets addresses of sandboxes not in `live` (left by pods deleted while the agent was
    /// down), returning them.
    pub async fn release_unknown(&self, live: &[String]) -> Result<Vec<String>, NetworkError> {
        let mut state = self.state.lock().await;
        let stale: Vec<String> = state
            .ipam
            .owners()
            .filter(|o| !live.iter().any(|l| l == o))
            .map(str::to_string)
            .collect();
        for owner in &stale {
            state.ipam.release(owner);
        }
        if !stale.is_empty() {
            self.save(&state.ipam)?;
        }
        Ok(stale)
    }

    /// Removes the bridge and the nftables table (tests, uninstall).
    pub async fn teardown_node(&self) -> Result<(), NetworkError> {
        command::run(
            "nft",
            &["-f", "-"],
            &nft::render_delete(&self.config.nft_table),
        )
        .await?;
        if command::run(
            "ip",
            &["-o", "link", "show", "dev", &self.config.bridge],
            "",
        )
        .await
        .is_ok()
        {
            command::run("ip", &["link", "del", "dev", &self.config.bridge], "").await?;
        }
        Ok(())
    }
}
