//! The node's nftables table, rendered whole from the current port mappings and replaced
//! atomically with one `nft -f -`: masquerading of pod egress, `hostPort` DNAT (from outside
//! and from the host itself, 127.0.0.1 included) and forwarding through the bridge.
use std::net::Ipv4Addr;

use super::ipam::Ipv4Cidr;
use crate::agent::runtime::PortMapping;

/// A rendered `hostPort` rule: a mapping and the pod address it points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostPortRule {
    pub mapping: PortMapping,
    pub pod_ip: Ipv4Addr,
}

/// The nft script that replaces `table ip <table>` with the given rules.
pub fn render(table: &str, bridge: &str, cidr: Ipv4Cidr, rules: &[HostPortRule]) -> String {
    let mut dnat = String::new();
    for rule in rules {
        let protocol = rule.mapping.protocol.as_str();
        dnat.push_str(&format!(
            "    fib daddr type local {protocol} dport {} dnat to {}:{}\n",
            rule.mapping.host_port, rule.pod_ip, rule.mapping.container_port
        ));
    }
    // `table … {}` then `delete table` makes the replacement work whether or not it exists.
    format!(
        "table ip {table} {{}}\ndelete table ip {table}\ntable ip {table} {{\n  chain prerouting {{\n    type nat hook prerouting priority dstnat; policy accept;\n{dnat}  }}\n  chain output {{\n    type nat hook output priority -100; policy accept;\n{dnat}  }}\n  chain postrouting {{\n    type nat hook postrouting priority srcnat; policy accept;\n    ip saddr {cidr} ip daddr != {cidr} masquerade\n    ip saddr 127.0.0.0/8 oifname \"{bridge}\" masquerade\n  }}\n  chain forward {{\n    type filter hook forward priority filter; policy accept;\n    iifname \"{bridge}\" accept\n    oifname \"{bridge}\" accept\n  }}\n}}\n"
    )
}

/// The script that removes the table (agent shutdown with `--cleanup`, tests).
pub fn render_delete(table: &str) -> String {
    format!("table ip {table} {{}}\ndelete table ip {table}\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::runtime::Protocol;

    #[test]
    fn host_ports_become_dnat_rules_in_both_nat_chains() {
        let rules = [HostPortRule {
            mapping: PortMapping {
                protocol: Protocol::Tcp,
                host_port: 8080,
                container_port: 80,
            },
            pod_ip: Ipv4Addr::new(10, 88, 0, 2),
        }];
        let script = render("flotilla", "flot0", "10.88.0.0/24".parse().unwrap(), &rules);
        assert_eq!(
            script
                .matches("tcp dport 8080 dnat to 10.88.0.2:80")
                .count(),
            2
        );
        assert!(script.contains("ip saddr 10.88.0.0/24 ip daddr != 10.88.0.0/24 masquerade"));
    }
}
