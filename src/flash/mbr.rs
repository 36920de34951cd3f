//! The MBR (DOS) partition table of a Raspberry Pi image: four primary entries in sector 0.
//!
//! Raspberry Pi OS and Ubuntu for Pi images use MBR with a FAT32 boot partition first and an ext4
//! root partition second. GPT images are refused with a clear error rather than misread.

use thiserror::Error;

/// Sector size that MBR LBA addresses are counted in. Pi images always use 512.
pub const SECTOR_BYTES: u64 = 512;

const TABLE_OFFSET: usize = 446;
const ENTRY_BYTES: usize = 16;
const PROTECTIVE_GPT: u8 = 0xEE;
const FAT32_CHS: u8 = 0x0B;
const FAT32_LBA: u8 = 0x0C;
const FAT16_KINDS: [u8; 4] = [0x04, 0x06, 0x0E, 0x01];
const EXTENDED_KINDS: [u8; 3] = [0x05, 0x0F, 0x85];

/// What is wrong with a partition table.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum MbrError {
    /// the image is smaller than one sector
    #[error("the image is {len_bytes} bytes, too small to hold a partition table")]
    TooSmall { len_bytes: u64 },
    /// sector 0 does not end in 0x55AA
    #[error("sector 0 has no MBR signature (0x55AA): not a disk image")]
    MissingSignature,
    /// the image uses GPT
    #[error("the image has a GPT partition table; only MBR images (Raspberry Pi OS, Ubuntu for Pi) are supported")]
    Gpt,
    /// an entry points past the end of the image
    #[error("partition {index} ends at byte {end_bytes}, past the end of the image ({image_bytes} bytes)")]
    OutsideImage {
        index: u8,
        end_bytes: u64,
        image_bytes: u64,
    },
    /// no FAT partition at all
    #[error("no FAT32 partition in the partition table (found types: {kinds})")]
    NoBootPartition { kinds: String },
    /// the boot partition is FAT12/16
    #[error("partition {index} is FAT12/FAT16 (type {kind:#04x}); only FAT32 boot partitions are supported")]
    Fat16 { index: u8, kind: u8 },
}

/// One used primary partition entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionEntry {
    /// 1 to 4, as `fdisk` numbers them.
    pub index: u8,
    /// The partition type byte (0x0C: FAT32 LBA, 0x83: Linux).
    pub kind: u8,
    /// The boot flag (0x80).
    pub bootable: bool,
    /// First sector, in 512-byte sectors.
    pub first_lba: u32,
    /// Length, in 512-byte sectors.
    pub sectors: u32,
}

impl PartitionEntry {
    /// Byte offset of the partition in the image.
    pub fn start_bytes(&self) -> u64 {
        u64::from(self.first_lba) * SECTOR_BYTES
    }

    /// Length of the partition in bytes.
    pub fn len_bytes(&self) -> u64 {
        u64::from(self.sectors) * SECTOR_BYTES
    }

    fn is_fat32(&self) -> bool {
        self.kind == FAT32_LBA || self.kind == FAT32_CHS
    }
}

/// The used primary entries of an MBR, in table order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mbr {
    /// Entries whose type is not 0 (empty).
    pub partitions: Vec<PartitionEntry>,
}

impl Mbr {
    /// Parses sector 0 of an image of `image_bytes` bytes.
    pub fn parse(sector0: &[u8], image_bytes: u64) -> Result<Mbr, MbrError> {
        if sector0.len() < SECTOR_BYTES as usize || image_bytes < SECTOR_BYTES {
            return Err(MbrError::TooSmall {
                len_bytes: image_bytes.min(sector0.len() as u64),
            });
        }
        if sector0[510] != 0x55 || sector0[511] != 0xAA {
            return Err(MbrError::MissingSignature);
        }
        let mut partitions = Vec::new();
        for slot in 0..4u8 {
            let at = TABLE_OFFSET + usize::from(slot) * ENTRY_BYTES;
            let raw = &sector0[at..at + ENTRY_BYTES];
            let kind = raw[4];
            if kind == 0 {
                continue;
            }
            if kind == PROTECTIVE_GPT {
                return Err(MbrError::Gpt);
            }
            let entry = PartitionEntry {
                index: slot + 1,
                kind,
                bootable: raw[0] & 0x80 != 0,
                first_lba: u32::from_le_bytes([raw[8], raw[9], raw[10], raw[11]]),
                sectors: u32::from_le_bytes([raw[12], raw[13], raw[14], raw[15]]),
            };
            let end_bytes = entry.start_bytes() + entry.len_bytes();
            // Extended containers may legitimately be described loosely; only check real ones.
            if !EXTENDED_KINDS.contains(&kind) && end_bytes > image_bytes {
                return Err(MbrError::OutsideImage {
                    index: entry.index,
                    end_bytes,
                    image_bytes,
                });
            }
            partitions.push(entry);
        }
        Ok(Mbr { partitions })
    }

    /// The firmware's boot partition: the first FAT32 partition.
    pub fn boot_partition(&self) -> Result<PartitionEntry, MbrError> {
        if let Some(entry) = self.partitions.iter().find(|p| p.is_fat32()) {
            return Ok(*entry);
        }
        if let Some(entry) = self
            .partitions
            .iter()
            .find(|p| FAT16_KINDS.contains(&p.kind))
        {
            return Err(MbrError::Fat16 {
                index: entry.index,
                kind: entry.kind,
            });
        }
        let kinds = self
            .partitions
            .iter()
            .map(|p| format!("{:#04x}", p.kind))
            .collect::<Vec<_>>()
            .join(", ");
        Err(MbrError::NoBootPartition {
            kinds: if kinds.is_empty() {
                "none".into()
            } else {
                kinds
            },
        })
    }
}

/// Builds sector 0 with the given `(kind, first_lba, sectors)` entries, for tests and fixtures.
pub fn encode(entries: &[(u8, u32, u32)]) -> [u8; 512] {
    let mut sector = [0u8; 512];
    for (slot, (kind, first_lba, sectors)) in entries.iter().take(4).enumerate() {
        let at = TABLE_OFFSET + slot * ENTRY_BYTES;
        sector[at + 4] = *kind;
        sector[at + 8..at + 12].copy_from_slice(&first_lba.to_le_bytes());
        sector[at + 12..at + 16].copy_from_slice(&sectors.to_le_bytes());
    }
    sector[510] = 0x55;
    sector[511] = 0xAA;
    sector
}

#[cfg(test)]
mod tests {
    use super::*;

    const IMAGE_BYTES: u64 = 100 * 1024 * 1024;

    #[test]
    fn raspberry_pi_layout_yields_the_fat32_partition_as_boot() {
        let sector = encode(&[(0x0C, 8192, 1_048_576), (0x83, 1_056_768, 4096)]);
        let mbr = Mbr::parse(&sector, 1_056_768 * 512 + 4096 * 512).unwrap();
        assert_eq!(mbr.partitions.len(), 2);
        let boot = mbr.boot_partition().unwrap();
        assert_eq!(boot.index, 1);
        assert_eq!(boot.start_bytes(), 8192 * 512);
        assert_eq!(boot.len_bytes(), 512 * 1024 * 1024);
    }

    #[test]
    fn missing_signature_is_not_an_image() {
        let mut sector = encode(&[(0x0C, 2048, 2048)]);
        sector[511] = 0;
        assert_eq!(
            Mbr::parse(&sector, IMAGE_BYTES),
            Err(MbrError::MissingSignature)
        );
    }

    #[test]
    fn gpt_images_are_refused() {
        let sector = encode(&[(0xEE, 1, 0xFFFF_FFFF)]);
        assert_eq!(Mbr::parse(&sector, IMAGE_BYTES), Err(MbrError::Gpt));
    }

    #[test]
    fn partition_past_the_end_names_its_index() {
        let sector = encode(&[(0x0C, 2048, 2048), (0x83, 4096, 1_000_000)]);
        let err = Mbr::parse(&sector, 4096 * 512).unwrap_err();
        assert!(
            matches!(err, MbrError::OutsideImage { index: 2, .. }),
            "{err}"
        );
    }

    #[test]
    fn fat16_boot_partition_is_reported_as_unsupported() {
        let sector = encode(&[(0x0E, 2048, 2048), (0x83, 4096, 2048)]);
        let mbr = Mbr::parse(&sector, IMAGE_BYTES).unwrap();
        assert_eq!(
            mbr.boot_partition(),
            Err(MbrError::Fat16 {
                index: 1,
                kind: 0x0E
            })
        );
    }

    #[test]
    fn image_without_fat_lists_the_types_it_found() {
        let sector = encode(&[(0x83, 2048, 2048)]);
        let mbr = Mbr::parse(&sector, IMAGE_BYTES).unwrap();
        let err = mbr.boot_partition().unwrap_err();
        assert_eq!(
            err.to_string(),
            "no FAT32 partition in the partition table (found types: 0x83)"
        );
    }
}
