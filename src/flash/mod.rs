//! `edgectl flash`: edits a Raspberry Pi OS image (MBR + FAT32 boot partition) without root.

pub mod fat32;
pub mod mbr;
pub mod storage;
