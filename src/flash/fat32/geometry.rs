//! The FAT32 boot sector (BIOS parameter block): where the FATs, the data area and the root
//! directory are, validated once so the rest of the code can trust the numbers.

use super::FatError;

/// FAT32 has at least this many clusters; fewer means FAT12 or FAT16 (Microsoft's FAT spec).
pub const FAT32_CLUSTERS_MIN: u32 = 65_525;
/// Largest cluster number a FAT32 entry can hold before the reserved values.
const FAT32_CLUSTERS_MAX: u32 = 0x0FFF_FFF5;
/// The whole FAT is held in memory; a boot partition's is about 1 MiB. Refuse absurd ones.
pub const FAT_BYTES_MAX: u64 = 64 * 1024 * 1024;

/// The validated layout of a FAT32 volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// 512, 1024, 2048 or 4096.
    pub bytes_per_sector: u32,
    /// A power of two from 1 to 128.
    pub sectors_per_cluster: u32,
    /// Sectors before the first FAT (boot sector, FSInfo, backup boot sector…).
    pub reserved_sectors: u32,
    /// Number of FAT copies, usually 2.
    pub fat_count: u32,
    /// Size of one FAT copy in sectors.
    pub sectors_per_fat: u32,
    /// Size of the volume in sectors.
    pub total_sectors: u32,
    /// First cluster of the root directory.
    pub root_cluster: u32,
    /// Sector of the FSInfo structure, when the volume has one.
    pub fsinfo_sector: Option<u32>,
    /// `Some(n)` when mirroring is off and only FAT `n` is in use; `None` when all copies mirror.
    pub active_fat: Option<u32>,
    /// Number of data clusters (numbered 2 ..= cluster_count + 1).
    pub cluster_count: u32,
}

fn le16(b: &[u8], at: usize) -> u32 {
    u32::from(u16::from_le_bytes([b[at], b[at + 1]]))
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl Geometry {
    /// Parses and validates a boot sector (at least 512 bytes) of a volume of `volume_bytes`.
    pub fn parse(boot: &[u8], volume_bytes: u64) -> Result<Geometry, FatError> {
        let bad = |reason: &'static str| FatError::BadBootSector { reason };
        if boot.len() < 512 {
            return Err(bad("shorter than 512 bytes"));
        }
        if boot[510] != 0x55 || boot[511] != 0xAA {
            return Err(bad("no 0x55AA signature"));
        }
        let bytes_per_sector = le16(boot, 11);
        if ![512, 1024, 2048, 4096].contains(&bytes_per_sector) {
            return Err(bad("bytes per sector is not 512, 1024, 2048 or 4096"));
        }
        let sectors_per_cluster = u32::from(boot[13]);
        if sectors_per_cluster == 0 || !sectors_per_cluster.is_power_of_two() {
            return Err(bad("sectors per cluster is not a power of two"));
        }
        if bytes_per_sector * sectors_per_cluster > 64 * 1024 {
            return Err(bad("clusters are larger than 64 KiB"));
        }
        let reserved_sectors = le16(boot, 14);
        if reserved_sectors == 0 {
            return Err(bad("no reserved sectors"));
        }
        let fat_count = u32::from(boot[16]);
        if !(1..=4).contains(&fat_count) {
            return Err(bad("number of FATs is not between 1 and 4"));
        }
        let root_entries = le16(boot, 17);
        let sectors_per_fat_16 = le16(boot, 22);
        let total_16 = le16(boot, 19);
        let total_sectors = if total_16 != 0 {
            total_16
        } else {
            le32(boot, 32)
        };
        let sectors_per_fat = if sectors_per_fat_16 != 0 {
            sectors_per_fat_16
        } else {
            le32(boot, 36)
        };
        let metadata_sectors =
            u64::from(reserved_sectors) + u64::from(fat_count) * u64::from(sectors_per_fat);
        if sectors_per_fat == 0 || metadata_sectors >= u64::from(total_sectors) {
            return Err(bad("the FATs do not fit in the volume"));
        }
        let cluster_count =
            ((u64::from(total_sectors) - metadata_sectors) / u64::from(sectors_per_cluster)) as u32;
        // FAT type is decided by the cluster count alone (Microsoft's rule), not by labels.
        if root_entries != 0 || sectors_per_fat_16 != 0 || cluster_count < FAT32_CLUSTERS_MIN {
            return Err(FatError::NotFat32 {
                clusters: cluster_count,
            });
        }
        if cluster_count > FAT32_CLUSTERS_MAX {
            return Err(bad("more clusters than FAT32 can address"));
        }
        let volume_needed = u64::from(total_sectors) * u64::from(bytes_per_sector);
        if volume_needed > volume_bytes {
            return Err(FatError::VolumeTooLarge {
                volume_bytes: volume_needed,
                partition_bytes: volume_bytes,
            });
        }
        let fat_bytes = u64::from(sectors_per_fat) * u64::from(bytes_per_sector);
        if fat_bytes > FAT_BYTES_MAX {
            return Err(bad("one FAT is larger than 64 MiB"));
        }
        if fat_bytes / 4 < u64::from(cluster_count) + 2 {
            return Err(bad("the FAT is too small for the number of clusters"));
        }
        let ext_flags = le16(boot, 40);
        let active_fat = if ext_flags & 0x80 != 0 {
            let n = ext_flags & 0x0F;
            if n >= fat_count {
                return Err(bad("the active FAT does not exist"));
            }
            Some(n)
        } else {
            None
        };
        if le16(boot, 42) != 0 {
            return Err(bad("unknown FAT32 version"));
        }
        let root_cluster = le32(boot, 44);
        if root_cluster < 2 || root_cluster > cluster_count + 1 {
            return Err(bad("the root directory cluster is out of range"));
        }
        let fsinfo = le16(boot, 48);
        let fsinfo_sector =
            (fsinfo != 0 && fsinfo != 0xFFFF && fsinfo < reserved_sectors).then_some(fsinfo);
        Ok(Geometry {
            bytes_per_sector,
            sectors_per_cluster,
            reserved_sectors,
            fat_count,
            sectors_per_fat,
            total_sectors,
            root_cluster,
            fsinfo_sector,
            active_fat,
            cluster_count,
        })
    }

    /// Bytes in one cluster.
    pub fn cluster_bytes(&self) -> u32 {
        self.bytes_per_sector * self.sectors_per_cluster
    }

    /// Bytes in one FAT copy.
    pub fn fat_bytes(&self) -> u64 {
        u64::from(self.sectors_per_fat) * u64::from(self.bytes_per_sector)
    }

    /// Offset of FAT copy `index` from the start of the volume.
    pub fn fat_offset_bytes(&self, index: u32) -> u64 {
        (u64::from(self.reserved_sectors) + u64::from(index) * u64::from(self.sectors_per_fat))
            * u64::from(self.bytes_per_sector)
    }

    /// Offset of data cluster `cluster` (2 or more) from the start of the volume.
    pub fn cluster_offset_bytes(&self, cluster: u32) -> u64 {
        let data_start = self.fat_offset_bytes(self.fat_count);
        data_start + u64::from(cluster - 2) * u64::from(self.cluster_bytes())
    }

    /// Whether `cluster` names a data cluster of this volume.
    pub fn is_data_cluster(&self, cluster: u32) -> bool {
        (2..=self.cluster_count + 1).contains(&cluster)
    }

    /// The FAT copies that must be written: all of them when mirrored, else the active one.
    pub fn fats_in_use(&self) -> std::ops::Range<u32> {
        match self.active_fat {
            Some(n) => n..n + 1,
            None => 0..self.fat_count,
        }
    }
}
