//! Which CPU architecture an image runs, told from its boot partition, and which one an `edged`
//! binary was built for, told from its ELF header, so that flash never pairs the wrong two.

use thiserror::Error;

/// The architectures Flotilla ships binaries for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    /// 64-bit Raspberry Pi OS / Ubuntu (Pi 3, 4, 5, Zero 2): `aarch64-unknown-linux-musl`.
    Aarch64,
    /// 32-bit Raspberry Pi OS (armhf): `armv7-unknown-linux-gnueabihf`.
    Armv7,
}

impl Arch {
    /// The Rust target triple of the default build for this architecture.
    pub fn target_triple(self) -> &'static str {
        match self {
            Arch::Aarch64 => "aarch64-unknown-linux-musl",
            Arch::Armv7 => "armv7-unknown-linux-gnueabihf",
        }
    }
}

impl std::fmt::Display for Arch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Arch::Aarch64 => "aarch64",
            Arch::Armv7 => "armv7",
        })
    }
}

impl std::str::FromStr for Arch {
    type Err = ArchError;

    fn from_str(s: &str) -> Result<Arch, ArchError> {
        match s {
            "aarch64" | "arm64" => Ok(Arch::Aarch64),
            "armv7" | "armhf" | "arm" => Ok(Arch::Armv7),
            other => Err(ArchError::UnknownName { name: other.into() }),
        }
    }
}

/// Why an architecture could not be told.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ArchError {
    /// the boot partition has no kernel this code recognises
    #[error("cannot tell the image's architecture: no kernel8.img, kernel_2712.img, kernel7*.img or arm_64bit=1 on its boot partition; pass --arch aarch64|armv7")]
    UnknownImage,
    /// `--arch` was not a known name
    #[error("unknown architecture {name:?}: use aarch64 or armv7")]
    UnknownName { name: String },
    /// the binary is not an ELF file
    #[error("not an ELF executable")]
    NotElf,
    /// the binary is for another machine
    #[error("an ELF executable for {machine}, not for ARM")]
    WrongMachine { machine: String },
    /// a 32-bit ARM binary for soft-float
    #[error("a 32-bit ARM executable without the hard-float ABI (armhf images need gnueabihf)")]
    SoftFloat,
}

/// Kernels only 32-bit (armhf) images ship; 64-bit images have only `kernel8.img`/`kernel_2712.img`.
const KERNELS_32BIT: &[&str] = &["kernel.img", "kernel7.img", "kernel7l.img"];
/// 64-bit kernels. 32-bit images from Bookworm on also carry `kernel8.img` (a 64-bit kernel under
/// a 32-bit userland on Pi 4/5), which is why the 32-bit kernels are checked first.
const KERNELS_64BIT: &[&str] = &["kernel8.img", "kernel_2712.img", "vmlinuz"];

/// Tells the userland architecture of an image from the names in the root of its boot partition
/// and its `config.txt`.
pub fn detect_image(root_names: &[String], config_txt: &str) -> Result<Arch, ArchError> {
    let has = |wanted: &[&str]| {
        root_names
            .iter()
            .any(|n| wanted.iter().any(|w| n.eq_ignore_ascii_case(w)))
    };
    if has(KERNELS_32BIT) {
        return Ok(Arch::Armv7);
    }
    if has(KERNELS_64BIT) || super::config_txt::requests_64bit(config_txt) {
        return Ok(Arch::Aarch64);
    }
    Err(ArchError::UnknownImage)
}

const EM_ARM: u16 = 40;
const EM_AARCH64: u16 = 183;
const EF_ARM_ABI_FLOAT_HARD: u32 = 0x400;

/// The architecture of an ELF executable, from its first 52 bytes or more.
pub fn detect_elf(header: &[u8]) -> Result<Arch, ArchError> {
    if header.len() < 52 || header[..4] != *b"\x7fELF" || header[5] != 1 {
        return Err(ArchError::NotElf);
    }
    let machine = u16::from_le_bytes([header[18], header[19]]);
    match (header[4], machine) {
        (2, EM_AARCH64) => Ok(Arch::Aarch64),
        (1, EM_ARM) => {
            let flags = u32::from_le_bytes([header[36], header[37], header[38], header[39]]);
            if flags & EF_ARM_ABI_FLOAT_HARD != 0 {
                Ok(Arch::Armv7)
            } else {
                Err(ArchError::SoftFloat)
            }
        }
        (_, 62) => Err(ArchError::WrongMachine {
            machine: "x86-64".into(),
        }),
        (_, 3) => Err(ArchError::WrongMachine {
            machine: "x86".into(),
        }),
        (_, other) => Err(ArchError::WrongMachine {
            machine: format!("ELF machine {other}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn arm64_raspberry_pi_os_is_aarch64() {
        let root = names(&[
            "bootcode.bin",
            "kernel8.img",
            "kernel_2712.img",
            "config.txt",
        ]);
        assert_eq!(detect_image(&root, ""), Ok(Arch::Aarch64));
    }

    #[test]
    fn armhf_images_are_armv7_even_with_a_64_bit_kernel_aboard() {
        let root = names(&["kernel.img", "kernel7.img", "kernel7l.img", "KERNEL8.IMG"]);
        assert_eq!(detect_image(&root, "arm_64bit=1\n"), Ok(Arch::Armv7));
    }

    #[test]
    fn config_txt_alone_can_tell_64_bit() {
        assert_eq!(
            detect_image(&names(&["start4.elf"]), "arm_64bit=1\n"),
            Ok(Arch::Aarch64)
        );
        assert_eq!(
            detect_image(&names(&["start4.elf"]), ""),
            Err(ArchError::UnknownImage)
        );
    }

    fn elf(class: u8, machine: u16, flags: u32) -> Vec<u8> {
        let mut h = vec![0u8; 64];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = class;
        h[5] = 1;
        h[18..20].copy_from_slice(&machine.to_le_bytes());
        h[36..40].copy_from_slice(&flags.to_le_bytes());
        h
    }

    #[test]
    fn elf_headers_name_their_architecture() {
        assert_eq!(detect_elf(&elf(2, 183, 0)), Ok(Arch::Aarch64));
        assert_eq!(detect_elf(&elf(1, 40, 0x0500_0400)), Ok(Arch::Armv7));
        assert_eq!(
            detect_elf(&elf(1, 40, 0x0500_0200)),
            Err(ArchError::SoftFloat)
        );
        assert!(matches!(
            detect_elf(&elf(2, 62, 0)),
            Err(ArchError::WrongMachine { .. })
        ));
        assert_eq!(detect_elf(b"#!/bin/sh\n"), Err(ArchError::NotElf));
    }
}
