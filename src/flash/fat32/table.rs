//! The file allocation table, held in memory: cluster chains, allocation and freeing, with the
//! changed sectors remembered so that only they are written back to every FAT copy.

use std::collections::BTreeSet;

use super::geometry::Geometry;
use super::FatError;

/// Entries are 28 bits; the top 4 bits are reserved and must be preserved on write.
const ENTRY_MASK: u32 = 0x0FFF_FFFF;
/// Values at or above this end a chain.
const END_OF_CHAIN_MIN: u32 = 0x0FFF_FFF8;
/// The end-of-chain value this code writes.
pub const END_OF_CHAIN: u32 = 0x0FFF_FFFF;
const BAD_CLUSTER: u32 = 0x0FFF_FFF7;
const FREE: u32 = 0;

/// One FAT copy in memory plus what changed since it was loaded.
#[derive(Debug, Clone)]
pub struct FatTable {
    entries: Vec<u32>,
    /// Sector indexes (within one FAT copy) that changed.
    dirty_sectors: BTreeSet<u32>,
    entries_per_sector: u32,
    /// Where the next allocation search starts (like FSInfo's "next free" hint).
    next_free_hint: u32,
    free_clusters: u32,
    cluster_count: u32,
}

impl FatTable {
    /// Decodes a FAT copy (`bytes` is the whole copy, as on disk).
    pub fn decode(bytes: &[u8], geometry: &Geometry) -> FatTable {
        let entries: Vec<u32> = bytes
            .chunks_exact(4)
            .map(|e| u32::from_le_bytes([e[0], e[1], e[2], e[3]]))
            .collect();
        let cluster_count = geometry.cluster_count;
        let free_clusters = (2..cluster_count + 2)
            .filter(|&c| entries[c as usize] & ENTRY_MASK == FREE)
            .count() as u32;
        FatTable {
            entries,
            dirty_sectors: BTreeSet::new(),
            entries_per_sector: geometry.bytes_per_sector / 4,
            next_free_hint: 2,
            free_clusters,
            cluster_count,
        }
    }

    /// Number of free data clusters.
    pub fn free_clusters(&self) -> u32 {
        self.free_clusters
    }

    /// The cluster where the next allocation would start looking.
    pub fn next_free_hint(&self) -> u32 {
        self.next_free_hint
    }

    fn get(&self, cluster: u32) -> u32 {
        self.entries[cluster as usize] & ENTRY_MASK
    }

    fn set(&mut self, cluster: u32, value: u32) {
        let slot = &mut self.entries[cluster as usize];
        let before = *slot & ENTRY_MASK;
        *slot = (*slot & !ENTRY_MASK) | (value & ENTRY_MASK);
        match (before == FREE, value == FREE) {
            (true, false) => self.free_clusters -= 1,
            (false, true) => self.free_clusters += 1,
            _ => {}
        }
        self.dirty_sectors.insert(cluster / self.entries_per_sector);
    }

    fn is_data(&self, cluster: u32) -> bool {
        (2..self.cluster_count + 2).contains(&cluster)
    }

    /// The clusters of the chain starting at `first`, in order. A chain that leaves the volume,
    /// reaches a free or bad cluster, or loops is reported as corruption.
    pub fn chain(&self, first: u32) -> Result<Vec<u32>, FatError> {
        let mut chain = Vec::new();
        let mut cluster = first;
        loop {
            if !self.is_data(cluster) {
                return Err(FatError::Corrupt {
                    cluster,
                    reason: "chain points outside the data area",
                });
            }
            if chain.len() > self.cluster_count as usize {
                return Err(FatError::Corrupt {
                    cluster,
                    reason: "chain loops",
                });
            }
            chain.push(cluster);
            let next = self.get(cluster);
            if next >= END_OF_CHAIN_MIN {
                return Ok(chain);
            }
            if next == FREE || next == BAD_CLUSTER {
                return Err(FatError::Corrupt {
                    cluster,
                    reason: "chain runs into a free or bad cluster",
                });
            }
            cluster = next;
        }
    }

    /// Allocates `count` clusters as one chain (first-fit from the hint) and returns them.
    /// Either all are allocated or none.
    pub fn allocate(&mut self, count: u32) -> Result<Vec<u32>, FatError> {
        if count > self.free_clusters {
            return Err(FatError::NoSpace {
                needed_clusters: count,
                free_clusters: self.free_clusters,
            });
        }
        let mut found = Vec::with_capacity(count as usize);
        let span = self.cluster_count;
        let start = if self.is_data(self.next_free_hint) {
            self.next_free_hint
        } else {
            2
        };
        for step in 0..span {
            if found.len() == count as usize {
                break;
            }
            let cluster = 2 + (start - 2 + step) % span;
            if self.get(cluster) == FREE {
                found.push(cluster);
            }
        }
        // free_clusters was checked above, so the scan found them all.
        for pair in found.windows(2) {
            self.set(pair[0], pair[1]);
        }
        if let Some(&last) = found.last() {
            self.set(last, END_OF_CHAIN);
            self.next_free_hint = if last + 1 < span + 2 { last + 1 } else { 2 };
        }
        Ok(found)
    }

    /// Appends `count` new clusters to the chain ending at `last` and returns them.
    pub fn extend(&mut self, last: u32, count: u32) -> Result<Vec<u32>, FatError> {
        let added = self.allocate(count)?;
        if let Some(&first) = added.first() {
            self.set(last, first);
        }
        Ok(added)
    }

    /// Marks every cluster of the chain starting at `first` free.
    pub fn free_chain(&mut self, first: u32) -> Result<(), FatError> {
        for cluster in self.chain(first)? {
            self.set(cluster, FREE);
        }
        Ok(())
    }

    /// The changed sectors of one FAT copy, as `(sector index within the FAT, bytes)`.
    pub fn dirty_sectors(&self) -> Vec<(u32, Vec<u8>)> {
        let per = self.entries_per_sector as usize;
        self.dirty_sectors
            .iter()
            .map(|&sector| {
                let from = sector as usize * per;
                let bytes = self.entries[from..from + per]
                    .iter()
                    .flat_map(|e| e.to_le_bytes())
                    .collect();
                (sector, bytes)
            })
            .collect()
    }

    /// Forgets the changed sectors after they were written.
    pub fn mark_clean(&mut self) {
        self.dirty_sectors.clear();
    }

    /// Every cluster that is in use, for consistency checks in tests.
    #[cfg(test)]
    pub fn used_clusters(&self) -> BTreeSet<u32> {
        (2..self.cluster_count + 2)
            .filter(|&c| self.get(c) != FREE)
            .collect()
    }
}
