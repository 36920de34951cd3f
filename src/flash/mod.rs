//! `edgectl flash`: edits a Raspberry Pi OS image (MBR + FAT32 boot partition) without root.
