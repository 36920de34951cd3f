//! The per-pod `/etc/hosts` and `/etc/resolv.conf`, as the kubelet writes them.
use std::net::Ipv4Addr;

/// `/etc/hosts` for a pod: localhost entries, the pod's own name, host aliases.
pub fn hosts(pod_ip: Option<Ipv4Addr>, hostname: &str, aliases: &[(Ipv4Addr, String)]) -> String {
    let mut out = String::from(
        "# Kubernetes-managed hosts file (Flotilla).\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n",
    );
    if let Some(ip) = pod_ip {
        out.push_str(&format!("{ip}\t{hostname}\n"));
    }
    for (ip, name) in aliases {
        out.push_str(&format!("{ip}\t{name}\n"));
    }
    out
}

/// A pod's resolv.conf from the host's: loopback name servers (systemd-resolved's stub, a
/// local dnsmasq) cannot be reached from a pod's network namespace, so they are replaced by
/// `fallback` (the upstream servers) when nothing else is left.
pub fn resolv_conf(host_resolv: &str, fallback: &[Ipv4Addr]) -> String {
    let mut out = String::new();
    let mut servers = 0;
    for line in host_resolv.lines() {
        let trimmed = line.trim();
        if let Some(server) = trimmed.strip_prefix("nameserver") {
            let server = server.trim();
            if server.starts_with("127.") || server == "::1" {
                continue;
            }
            servers += 1;
        }
        if trimmed.starts_with("nameserver")
            || trimmed.starts_with("search")
            || trimmed.starts_with("options")
        {
            out.push_str(trimmed);
            out.push('\n');
        }
    }
    if servers == 0 {
        for server in fallback {
            out.push_str(&format!("nameserver {server}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_name_servers_are_replaced() {
        let conf = resolv_conf(
            "nameserver 127.0.0.53\nsearch lan\n",
            &[Ipv4Addr::new(1, 1, 1, 1)],
        );
        assert_eq!(conf, "search lan\nnameserver 1.1.1.1\n");
        let conf = resolv_conf(
            "# c\nnameserver 192.168.1.1\n",
            &[Ipv4Addr::new(1, 1, 1, 1)],
        );
        assert_eq!(conf, "nameserver 192.168.1.1\n");
    }

    #[test]
    fn the_pod_name_resolves_to_its_ip() {
        let hosts = hosts(Some(Ipv4Addr::new(10, 88, 0, 2)), "web", &[]);
        assert!(hosts.ends_with("10.88.0.2\tweb\n"));
    }
}
