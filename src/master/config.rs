//! `edged master` flags and the configuration they build.
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::master::nodes::NodeTimings;

/// The data directory of a default install.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/flotilla/master";
/// Where a default install also puts the admin credential.
pub const SYSTEM_ADMIN_CONF: &str = "/etc/flotilla/admin.conf";
/// The API port Flotilla listens on by default.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:7443";

/// `edged master`: run the control plane (API server and store).
#[derive(Debug, Clone, clap::Args)]
pub struct MasterArgs {
    /// Where the store, the cluster CA and admin.conf live [default: /var/lib/flotilla/master,
    /// and admin.conf is also written to /etc/flotilla/admin.conf]
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address and port the API server listens on.
    #[arg(long, value_name = "ADDR", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    /// Extra name or address for the serving certificate (repeatable).
    #[arg(long = "tls-san", value_name = "NAME")]
    pub tls_sans: Vec<String>,
    /// Name or address that clients use to reach this master; it goes into admin.conf and the
    /// serving certificate.
    #[arg(long, value_name = "ADDR")]
    pub advertise_address: Option<String>,
    /// Serve the API and store only: run no scheduler and no controllers (like a
    /// kube-apiserver without its controller manager; used to test the API surface alone).
    #[arg(long)]
    pub api_only: bool,
    /// The cluster's pod network; each node gets a /24 of it.
    #[arg(long, value_name = "CIDR", default_value = crate::master::nodes::pod_cidr::CLUSTER_CIDR_DEFAULT)]
    pub cluster_cidr: crate::wire::Ipv4Cidr,
    /// How long a node may go without a heartbeat before it is NotReady and its pods are
    /// replaced elsewhere (Kubernetes' flag of the same name; its default is 50s). A node is
    /// reported suspect at 5/9 of it.
    #[arg(long, value_name = "DURATION", default_value = "4.5s", value_parser = parse_grace_period)]
    pub node_monitor_grace_period: Duration,
}

/// `4.5s`, `4500ms`, `1m`: a decimal number and a unit (ms, s, m), at least 500ms.
fn parse_grace_period(text: &str) -> Result<Duration, String> {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| format!("{text:?} has no unit (use ms, s or m, e.g. 4.5s)"))?;
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} does not start with a number"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        _ => return Err(format!("{text:?}: unknown unit {unit:?} (use ms, s or m)")),
    };
    if !(0.5..=3600.0).contains(&seconds) {
        return Err(format!("{text:?} is outside 500ms..60m"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// What a master runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Store, PKI and admin.conf.
    pub data_dir: PathBuf,
    /// The address the API server listens on (the listener itself is passed to `run`).
    pub listen: SocketAddr,
    /// Extra names for the serving certificate.
    pub tls_sans: Vec<String>,
    /// The name clients use; `None` derives it from the listen address.
    pub advertise_address: Option<String>,
    /// A second place for the admin credential (`/etc/flotilla/admin.conf` on a default install).
    pub admin_conf_copy: Option<PathBuf>,
    /// Whether the scheduler and controllers run (`--api-only` turns them off).
    pub controllers: bool,
    /// The cluster's pod network, shared out to nodes.
    pub cluster_cidr: crate::wire::Ipv4Cidr,
    /// Node liveness timings.
    pub node_timings: NodeTimings,
}

impl MasterArgs {
    pub fn into_config(self) -> Config {
        let (data_dir, admin_conf_copy) = match self.data_dir {
            Some(dir) => (dir, None),
            None => (
                PathBuf::from(DEFAULT_DATA_DIR),
                Some(PathBuf::from(SYSTEM_ADMIN_CONF)),
            ),
        };
        Config {
            data_dir,
            listen: self.listen,
            tls_sans: self.tls_sans,
            advertise_address: self.advertise_address,
            admin_conf_copy,
            controllers: !self.api_only,
            cluster_cidr: self.cluster_cidr,
            node_timings: NodeTimings {
                suspect_after: self.node_monitor_grace_period * 5 / 9,
                not_ready_after: self.node_monitor_grace_period,
            },
        }
    }
}

impl Config {
    /// A configuration for a master in `data_dir` listening on `listen`, as tests and embedders
    /// need it.
    pub fn new(data_dir: impl Into<PathBuf>, listen: SocketAddr) -> Config {
        Config {
            data_dir: data_dir.into(),
            listen,
            tls_sans: Vec::new(),
            advertise_address: None,
            admin_conf_copy: None,
            controllers: true,
            cluster_cidr: crate::master::nodes::pod_cidr::CLUSTER_CIDR_DEFAULT
                .parse()
                .expect("valid default"),
            node_timings: NodeTimings::default(),
        }
    }

    /// The admin credential in the data directory.
    pub fn admin_conf(&self) -> PathBuf {
        self.data_dir.join("admin.conf")
    }

    /// The store file.
    pub fn store_file(&self) -> PathBuf {
        self.data_dir.join("store.redb")
    }

    /// The PKI directory.
    pub fn pki_dir(&self) -> PathBuf {
        self.data_dir.join("pki")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        master: MasterArgs,
    }

    #[test]
    fn default_install_writes_the_system_admin_conf_too() {
        let config = Cli::parse_from(["edged"]).master.into_config();
        assert_eq!(config.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
        assert_eq!(
            config.admin_conf_copy,
            Some(PathBuf::from(SYSTEM_ADMIN_CONF))
        );
        assert_eq!(config.listen.port(), 7443);
    }

    #[test]
    fn an_explicit_data_dir_keeps_everything_inside_it() {
        let config = Cli::parse_from([
            "edged",
            "--data-dir",
            "/tmp/m",
            "--listen",
            "127.0.0.1:9443",
            "--tls-san",
            "pi-1",
            "--tls-san",
            "10.0.0.5",
        ])
        .master
        .into_config();
        assert_eq!(config.admin_conf(), PathBuf::from("/tmp/m/admin.conf"));
        assert_eq!(config.admin_conf_copy, None);
        assert_eq!(config.tls_sans, ["pi-1", "10.0.0.5"]);
    }

    #[test]
    fn the_node_monitor_grace_period_sets_when_nodes_are_suspect_and_not_ready() {
        let config = Cli::parse_from(["edged"]).master.into_config();
        assert_eq!(config.node_timings, NodeTimings::default());
        let config = Cli::parse_from(["edged", "--node-monitor-grace-period", "9s"])
            .master
            .into_config();
        assert_eq!(config.node_timings.not_ready_after, Duration::from_secs(9));
        assert_eq!(config.node_timings.suspect_after, Duration::from_secs(5));
        assert_eq!(
            parse_grace_period("1500ms"),
            Ok(Duration::from_millis(1500))
        );
        assert_eq!(parse_grace_period("2m"), Ok(Duration::from_secs(120)));
        for bad in ["4.5", "4.5h", "s", "0.1s", "-1s"] {
            let error = parse_grace_period(bad).unwrap_err();
            assert!(error.contains(bad), "{bad}: {error}");
        }
    }
}
