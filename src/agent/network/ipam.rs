//! Pod address management for one node's pod CIDR: the first host address is the bridge's
//! (the pods' gateway), the rest are handed to sandboxes. Pure: the network shell persists
//! the allocations (so addresses survive an agent restart with their pods).
use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An IPv4 network such as `10.88.0.0/24` (host bits must be zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Cidr {
    network: Ipv4Addr,
    prefix: u8,
}

/// Why a string is not a CIDR.
#[derive(Debug, thiserror::Error)]
#[error("invalid CIDR {value:?}: {reason}")]
pub struct InvalidCidr {
    value: String,
    reason: &'static str,
}

impl Ipv4Cidr {
    pub fn new(network: Ipv4Addr, prefix: u8) -> Option<Ipv4Cidr> {
        let cidr = Ipv4Cidr { network, prefix };
        (prefix <= 30 && u32::from(network) & !cidr.mask() == 0).then_some(cidr)
    }

    fn mask(self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - self.prefix)
        }
    }

    pub fn network(self) -> Ipv4Addr {
        self.network
    }

    pub fn prefix(self) -> u8 {
        self.prefix
    }

    pub fn contains(self, address: Ipv4Addr) -> bool {
        u32::from(address) & self.mask() == u32::from(self.network)
    }

    /// The first host address: the bridge and gateway.
    pub fn gateway(self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) + 1)
    }

    /// Host addresses pods may get (not the network, gateway or broadcast address).
    fn pod_range(self) -> (u32, u32) {
        let first = u32::from(self.network) + 2;
        let broadcast = u32::from(self.network) | !self.mask();
        (first, broadcast - 1)
    }

    pub fn capacity(self) -> u32 {
        let (first, last) = self.pod_range();
        last + 1 - first
    }
}

impl FromStr for Ipv4Cidr {
    type Err = InvalidCidr;

    fn from_str(value: &str) -> Result<Ipv4Cidr, InvalidCidr> {
        let invalid = |reason| InvalidCidr {
            value: value.to_string(),
            reason,
        };
        let (address, prefix) = value
            .split_once('/')
            .ok_or_else(|| invalid("expected ADDRESS/PREFIX"))?;
        let address: Ipv4Addr = address
            .parse()
            .map_err(|_| invalid("not an IPv4 address"))?;
        let prefix: u8 = prefix
            .parse()
            .map_err(|_| invalid("the prefix is not a number"))?;
        if prefix > 30 {
            return Err(invalid("the prefix must be at most 30"));
        }
        Ipv4Cidr::new(address, prefix).ok_or_else(|| invalid("host bits are set"))
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl Serialize for Ipv4Cidr {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Ipv4Cidr {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Ipv4Cidr, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// The allocation table: address → owner (a sandbox id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ipam {
    pub cidr: Ipv4Cidr,
    allocations: BTreeMap<Ipv4Addr, String>,
    /// Where the next search starts, so that a released address is not handed out again at
    /// once (connections to the old pod may still be in flight).
    next: u32,
}

/// The pod CIDR is full.
#[derive(Debug, thiserror::Error)]
#[error("no free address left in {cidr} ({capacity} pods)")]
pub struct Exhausted {
    pub cidr: Ipv4Cidr,
    pub capacity: u32,
}

impl Ipam {
    pub fn new(cidr: Ipv4Cidr) -> Ipam {
        Ipam {
            cidr,
            allocations: BTreeMap::new(),
            next: cidr.pod_range().0,
        }
    }

    /// The address of `owner`, allocating one if it has none.
    pub fn allocate(&mut self, owner: &str) -> Result<Ipv4Addr, Exhausted> {
        if let Some(address) = self.address_of(owner) {
            return Ok(address);
        }
        let (first, last) = self.cidr.pod_range();
        let span = last + 1 - first;
        let start = self.next.clamp(first, last);
        for offset in 0..span {
            let candidate = first + (start - first + offset) % span;
            let address = Ipv4Addr::from(candidate);
            if let std::collections::btree_map::Entry::Vacant(slot) =
                self.allocations.entry(address)
            {
                slot.insert(owner.to_string());
                self.next = if candidate == last {
                    first
                } else {
                    candidate + 1
                };
                return Ok(address);
            }
        }
        Err(Exhausted {
            cidr: self.cidr,
            capacity: span,
        })
    }

    pub fn address_of(&self, owner: &str) -> Option<Ipv4Addr> {
        self.allocations
            .iter()
            .find(|(_, o)| o.as_str() == owner)
            .map(|(a, _)| *a)
    }

    /// Frees the addresses of `owner`; returns whether it had one.
    pub fn release(&mut self, owner: &str) -> bool {
        let before = self.allocations.len();
        self.allocations.retain(|_, o| o != owner);
        before != self.allocations.len()
    }

    /// Owners holding addresses.
    pub fn owners(&self) -> impl Iterator<Item = &str> {
        self.allocations.values().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_skip_network_gateway_and_broadcast() {
        let cidr: Ipv4Cidr = "10.88.0.0/30".parse().unwrap();
        assert_eq!(cidr.gateway(), Ipv4Addr::new(10, 88, 0, 1));
        let mut ipam = Ipam::new(cidr);
        assert_eq!(ipam.allocate("a").unwrap(), Ipv4Addr::new(10, 88, 0, 2));
        assert!(ipam.allocate("b").is_err());
        assert_eq!(ipam.allocate("a").unwrap(), Ipv4Addr::new(10, 88, 0, 2));
    }

    #[test]
    fn a_released_address_is_not_reused_at_once() {
        let mut ipam = Ipam::new("10.88.0.0/24".parse().unwrap());
        let a = ipam.allocate("a").unwrap();
        assert!(ipam.release("a"));
        let b = ipam.allocate("b").unwrap();
        assert_ne!(a, b);
        assert!(!ipam.release("a"));
    }

    #[test]
    fn the_table_round_trips_through_json() {
        let mut ipam = Ipam::new("10.88.0.0/24".parse().unwrap());
        ipam.allocate("a").unwrap();
        let json = serde_json::to_string(&ipam).unwrap();
        assert_eq!(serde_json::from_str::<Ipam>(&json).unwrap(), ipam);
    }

    #[test]
    fn cidrs_with_host_bits_are_refused() {
        assert!("10.88.0.1/24".parse::<Ipv4Cidr>().is_err());
        assert!("10.88.0.0/31".parse::<Ipv4Cidr>().is_err());
        assert!("10.88.0.0".parse::<Ipv4Cidr>().is_err());
    }
}
