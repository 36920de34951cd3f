//! Pod network allocation: one subnet per node out of the cluster CIDR (default 10.88.0.0/16,
//! a /24 per node). The allocation is durable in each Node object's `spec.podCIDR`; this
//! allocator is rebuilt from those at start-up and holds nothing else.
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use crate::wire::{Ipv4Cidr, NodeName};

/// The default cluster pod network.
pub const CLUSTER_CIDR_DEFAULT: &str = "10.88.0.0/16";

/// The default size of one node's pod network.
pub const NODE_PREFIX_LEN_DEFAULT: u8 = 24;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PodCidrError {
    /// every subnet of the cluster CIDR is taken
    #[error("no pod CIDR left in {cluster}: all {subnets} /{prefix_len} subnets are assigned to nodes; delete a node or use a larger --cluster-cidr")]
    Exhausted {
        cluster: Ipv4Cidr,
        prefix_len: u8,
        subnets: u64,
    },
    /// the node prefix does not fit the cluster CIDR
    #[error("node pod CIDR size /{node_prefix_len} must be longer than the cluster CIDR {cluster} and at most /30")]
    BadPrefix {
        cluster: Ipv4Cidr,
        node_prefix_len: u8,
    },
    /// a Node object in the store has a pod CIDR outside the cluster CIDR or taken twice
    #[error("node {node} has pod CIDR {cidr}, which is outside {cluster} or already assigned to {other}")]
    Conflict {
        node: NodeName,
        cidr: Ipv4Cidr,
        cluster: Ipv4Cidr,
        other: String,
    },
}

/// Hands out node subnets, lowest free first, so a standalone node and the first node of a
/// cluster both get 10.88.0.0/24.
#[derive(Debug, Clone)]
pub struct PodCidrAllocator {
    cluster: Ipv4Cidr,
    node_prefix_len: u8,
    by_cidr: BTreeMap<Ipv4Cidr, NodeName>,
    by_node: BTreeMap<NodeName, Ipv4Cidr>,
}

impl PodCidrAllocator {
    pub fn new(cluster: Ipv4Cidr, node_prefix_len: u8) -> Result<PodCidrAllocator, PodCidrError> {
        if node_prefix_len <= cluster.prefix_len() || node_prefix_len > 30 {
            return Err(PodCidrError::BadPrefix {
                cluster,
                node_prefix_len,
            });
        }
        Ok(PodCidrAllocator {
            cluster,
            node_prefix_len,
            by_cidr: BTreeMap::new(),
            by_node: BTreeMap::new(),
        })
    }

    fn subnets(&self) -> u64 {
        1u64 << (self.node_prefix_len - self.cluster.prefix_len())
    }

    /// Records an allocation found in the store (a Node's `spec.podCIDR`).
    pub fn restore(&mut self, node: NodeName, cidr: Ipv4Cidr) -> Result<(), PodCidrError> {
        let conflict = |other: String| PodCidrError::Conflict {
            node: node.clone(),
            cidr,
            cluster: self.cluster,
            other,
        };
        if !self.cluster.contains(cidr) || cidr.prefix_len() != self.node_prefix_len {
            return Err(conflict(
                "no node (it is not a subnet of the cluster CIDR)".into(),
            ));
        }
        if let Some(other) = self.by_cidr.get(&cidr) {
            if *other != node {
                return Err(conflict(other.to_string()));
            }
        }
        self.by_cidr.insert(cidr, node.clone());
        self.by_node.insert(node, cidr);
        Ok(())
    }

    /// The node's subnet: the one it has, or the lowest free one.
    pub fn allocate(&mut self, node: &NodeName) -> Result<Ipv4Cidr, PodCidrError> {
        if let Some(cidr) = self.by_node.get(node) {
            return Ok(*cidr);
        }
        let base = u32::from(self.cluster.network());
        let step = 1u32 << (32 - u32::from(self.node_prefix_len));
        for index in 0..self.subnets() {
            let network = Ipv4Addr::from(base + step * index as u32);
            let cidr = Ipv4Cidr::new(network, self.node_prefix_len).expect("aligned subnet");
            if let std::collections::btree_map::Entry::Vacant(slot) = self.by_cidr.entry(cidr) {
                slot.insert(node.clone());
                self.by_node.insert(node.clone(), cidr);
                return Ok(cidr);
            }
        }
        Err(PodCidrError::Exhausted {
            cluster: self.cluster,
            prefix_len: self.node_prefix_len,
            subnets: self.subnets(),
        })
    }

    /// Frees a deleted node's subnet.
    pub fn release(&mut self, node: &NodeName) {
        if let Some(cidr) = self.by_node.remove(node) {
            self.by_cidr.remove(&cidr);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(n: &str) -> NodeName {
        NodeName::new(n).unwrap()
    }

    fn allocator() -> PodCidrAllocator {
        PodCidrAllocator::new(
            CLUSTER_CIDR_DEFAULT.parse().unwrap(),
            NODE_PREFIX_LEN_DEFAULT,
        )
        .unwrap()
    }

    #[test]
    fn the_first_node_gets_the_standalone_subnet() {
        let mut alloc = allocator();
        assert_eq!(
            alloc.allocate(&name("pi-1")).unwrap().to_string(),
            "10.88.0.0/24"
        );
        assert_eq!(
            alloc.allocate(&name("pi-2")).unwrap().to_string(),
            "10.88.1.0/24"
        );
    }

    #[test]
    fn a_node_keeps_its_subnet_when_it_joins_again() {
        let mut alloc = allocator();
        let first = alloc.allocate(&name("pi-1")).unwrap();
        alloc.allocate(&name("pi-2")).unwrap();
        assert_eq!(alloc.allocate(&name("pi-1")).unwrap(), first);
    }

    #[test]
    fn a_released_subnet_is_reused_lowest_first() {
        let mut alloc = allocator();
        alloc.allocate(&name("pi-1")).unwrap();
        alloc.allocate(&name("pi-2")).unwrap();
        alloc.release(&name("pi-1"));
        assert_eq!(
            alloc.allocate(&name("pi-3")).unwrap().to_string(),
            "10.88.0.0/24"
        );
    }

    #[test]
    fn restored_allocations_are_not_handed_out_again() {
        let mut alloc = allocator();
        alloc
            .restore(name("pi-1"), "10.88.0.0/24".parse().unwrap())
            .unwrap();
        assert_eq!(
            alloc.allocate(&name("pi-2")).unwrap().to_string(),
            "10.88.1.0/24"
        );
        assert!(matches!(
            alloc.restore(name("pi-9"), "10.88.1.0/24".parse().unwrap()),
            Err(PodCidrError::Conflict { .. })
        ));
        assert!(alloc
            .restore(name("pi-9"), "10.99.0.0/24".parse().unwrap())
            .is_err());
    }

    #[test]
    fn an_exhausted_cluster_cidr_says_so() {
        let mut alloc = PodCidrAllocator::new("10.88.0.0/23".parse().unwrap(), 24).unwrap();
        alloc.allocate(&name("a")).unwrap();
        alloc.allocate(&name("b")).unwrap();
        let err = alloc.allocate(&name("c")).unwrap_err();
        assert!(err
            .to_string()
            .starts_with("no pod CIDR left in 10.88.0.0/23"));
    }

    #[test]
    fn a_node_prefix_shorter_than_the_cluster_is_refused() {
        assert!(PodCidrAllocator::new("10.88.0.0/16".parse().unwrap(), 16).is_err());
    }
}
