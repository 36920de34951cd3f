//! A minimal FAT32 formatter for unit tests (the integration tests use `mkfs.vfat` instead), so
//! the read/write code is exercised without any external tool.

use super::geometry::FAT32_CLUSTERS_MIN;

/// Bytes per sector of the test volumes.
pub const SECTOR_BYTES: u32 = 512;

/// Formats `total_sectors` 512-byte sectors at the start of a new memory image, with one sector
/// per cluster, two FATs and an FSInfo sector, like `mkfs.vfat -F 32 -s 1` lays them out.
pub fn format(total_sectors: u32) -> Vec<u8> {
    let reserved = 32u32;
    let fats = 2u32;
    // Solve for the FAT size: each FAT sector maps 128 clusters.
    let mut sectors_per_fat = 1u32;
    loop {
        let clusters = total_sectors - reserved - fats * sectors_per_fat;
        if (clusters + 2).div_ceil(SECTOR_BYTES / 4) <= sectors_per_fat {
            assert!(clusters >= FAT32_CLUSTERS_MIN, "volume too small for FAT32");
            break;
        }
        sectors_per_fat += 1;
    }
    let mut image = vec![0u8; (total_sectors * SECTOR_BYTES) as usize];
    let boot = &mut image[..512];
    boot[0..3].copy_from_slice(&[0xEB, 0x58, 0x90]);
    boot[3..11].copy_from_slice(b"FLOTILLA");
    boot[11..13].copy_from_slice(&(SECTOR_BYTES as u16).to_le_bytes());
    boot[13] = 1;
    boot[14..16].copy_from_slice(&(reserved as u16).to_le_bytes());
    boot[16] = fats as u8;
    boot[21] = 0xF8;
    boot[32..36].copy_from_slice(&total_sectors.to_le_bytes());
    boot[36..40].copy_from_slice(&sectors_per_fat.to_le_bytes());
    boot[44..48].copy_from_slice(&2u32.to_le_bytes());
    boot[48..50].copy_from_slice(&1u16.to_le_bytes());
    boot[50..52].copy_from_slice(&6u16.to_le_bytes());
    boot[66] = 0x29;
    boot[71..82].copy_from_slice(b"BOOTFS     ");
    boot[82..90].copy_from_slice(b"FAT32   ");
    boot[510] = 0x55;
    boot[511] = 0xAA;
    let info = &mut image[512..1024];
    info[0..4].copy_from_slice(&0x4161_5252u32.to_le_bytes());
    info[484..488].copy_from_slice(&0x6141_7272u32.to_le_bytes());
    info[488..492].copy_from_slice(&0xFFFF_FFFFu32.to_le_bytes());
    info[492..496].copy_from_slice(&0xFFFF_FFFFu32.to_le_bytes());
    info[508..512].copy_from_slice(&0xAA55_0000u32.to_le_bytes());
    for copy in 0..fats {
        let at = ((reserved + copy * sectors_per_fat) * SECTOR_BYTES) as usize;
        image[at..at + 4].copy_from_slice(&0x0FFF_FFF8u32.to_le_bytes());
        image[at + 4..at + 8].copy_from_slice(&0x0FFF_FFFFu32.to_le_bytes());
        // The root directory occupies cluster 2, one cluster long.
        image[at + 8..at + 12].copy_from_slice(&0x0FFF_FFFFu32.to_le_bytes());
    }
    image
}

/// The smallest sector count that formats as FAT32 with one sector per cluster.
pub const SMALLEST_FAT32_SECTORS: u32 = 66_600;
