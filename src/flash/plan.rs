//! Deciding every change to the boot partition before anything is written: architecture,
//! first-boot generation, the files, the new `cmdline.txt` and `config.txt`. Pure: what the
//! image holds and what the user asked come in, a `Plan` comes out.

use thiserror::Error;

use super::arch::{self, Arch, ArchError};
use super::cmdline::{self, CmdlineError};
use super::config_txt::{self, FragmentOptions};
use super::firstboot::{self, BootFile, Generation, NodeSettings};

/// What the boot partition of the base image holds, as far as flash cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootContents {
    /// Names in the partition's root directory.
    pub root_names: Vec<String>,
    /// `config.txt`, empty when absent.
    pub config_txt: String,
    /// `cmdline.txt`, raw.
    pub cmdline_txt: Option<Vec<u8>>,
    /// Names already in `flotilla/` (from an earlier flash).
    pub flotilla_names: Vec<String>,
}

/// What the user asked for, beyond the node settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Overrides {
    /// `--arch`: trust this instead of detecting.
    pub arch: Option<Arch>,
    /// `--first-boot`: trust this instead of detecting.
    pub generation: Option<Generation>,
    /// `--radios-off`.
    pub radios_off: bool,
    /// `--wifi` was given (Wi-Fi must stay on).
    pub wifi: bool,
}

/// Why the image cannot be flashed as asked.
#[derive(Debug, Error)]
pub enum PlanError {
    /// architecture unknown or mismatched
    #[error(transparent)]
    Arch(#[from] ArchError),
    /// the edged binary is for another architecture
    #[error("--edged is built for {binary}, but the image runs {image}; use the {triple} build")]
    EdgedMismatch {
        binary: Arch,
        image: Arch,
        triple: &'static str,
    },
    /// no cmdline.txt
    #[error("the boot partition has no cmdline.txt: not a Raspberry Pi boot partition")]
    NoCmdline,
    /// cmdline.txt unusable
    #[error(transparent)]
    Cmdline(#[from] CmdlineError),
}

/// Every change, decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The image's architecture.
    pub arch: Arch,
    /// How the image does its first boot.
    pub generation: Generation,
    /// Files to write (created or replaced), including `cmdline.txt`, `config.txt` and
    /// `flotilla/edged`.
    pub files: Vec<BootFile>,
    /// Files of an earlier flash in `flotilla/` that this one does not write (e.g. a Wi-Fi
    /// passphrase no longer wanted): removed.
    pub stale: Vec<String>,
}

/// Decides the changes. `edged` is the binary's contents; its ELF header must match the image.
pub fn plan(
    boot: &BootContents,
    settings: &NodeSettings,
    overrides: Overrides,
    edged: Vec<u8>,
) -> Result<Plan, PlanError> {
    let arch = match overrides.arch {
        Some(a) => a,
        None => arch::detect_image(&boot.root_names, &boot.config_txt)?,
    };
    let binary = arch::detect_elf(&edged)?;
    if binary != arch {
        return Err(PlanError::EdgedMismatch {
            binary,
            image: arch,
            triple: arch.target_triple(),
        });
    }
    let generation = overrides
        .generation
        .unwrap_or_else(|| Generation::detect(&boot.root_names));
    let cmdline_in = boot.cmdline_txt.as_deref().ok_or(PlanError::NoCmdline)?;
    let params = firstboot::cmdline_params(generation, arch);
    let cmdline = cmdline::add_params(cmdline_in, &params)?;
    let config = config_txt::apply(
        &boot.config_txt,
        FragmentOptions {
            arch,
            radios_off: overrides.radios_off,
            wifi: overrides.wifi,
        },
    );
    let mut files = firstboot::render(settings, generation);
    files.push(BootFile {
        path: format!("{}/edged", firstboot::DIR),
        contents: edged,
    });
    files.push(BootFile {
        path: "cmdline.txt".into(),
        contents: cmdline.into_bytes(),
    });
    files.push(BootFile {
        path: "config.txt".into(),
        contents: config.into_bytes(),
    });
    let stale = boot
        .flotilla_names
        .iter()
        .map(|n| format!("{}/{n}", firstboot::DIR))
        .filter(|p| !files.iter().any(|f| f.path.eq_ignore_ascii_case(p)))
        .collect();
    Ok(Plan {
        arch,
        generation,
        files,
        stale,
    })
}

/// Total bytes the plan writes, to check the partition has room before copying anything.
pub fn bytes_needed(plan: &Plan) -> u64 {
    plan.files.iter().map(|f| f.contents.len() as u64).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flash::firstboot::Role;

    fn elf(machine: u16, class: u8) -> Vec<u8> {
        let mut h = vec![0u8; 64];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = class;
        h[5] = 1;
        h[18..20].copy_from_slice(&machine.to_le_bytes());
        h[36..40].copy_from_slice(&0x400u32.to_le_bytes());
        h
    }

    fn bookworm_arm64() -> BootContents {
        BootContents {
            root_names: vec![
                "kernel8.img".into(),
                "config.txt".into(),
                "cmdline.txt".into(),
            ],
            config_txt: "arm_64bit=1\n".into(),
            cmdline_txt: Some(b"console=tty1 root=PARTUUID=1-02 rootwait\n".to_vec()),
            flotilla_names: vec!["wifi-psk".into(), "edged".into()],
        }
    }

    fn settings() -> NodeSettings {
        NodeSettings::new("pi-2", Role::Server, "pi", None, None).unwrap()
    }

    #[test]
    fn bookworm_arm64_gets_firstrun_cgroups_and_the_binary() {
        let plan = plan(
            &bookworm_arm64(),
            &settings(),
            Overrides::default(),
            elf(183, 2),
        )
        .unwrap();
        assert_eq!(plan.arch, Arch::Aarch64);
        assert_eq!(plan.generation, Generation::Firstrun);
        let cmdline = plan.files.iter().find(|f| f.path == "cmdline.txt").unwrap();
        let cmdline = String::from_utf8(cmdline.contents.clone()).unwrap();
        assert!(
            cmdline.contains(" cgroup_memory=1 cgroup_enable=memory systemd.run=/boot/firstrun.sh")
        );
        assert!(plan.files.iter().any(|f| f.path == "flotilla/edged"));
        assert_eq!(plan.stale, vec!["flotilla/wifi-psk".to_string()]);
    }

    #[test]
    fn an_edged_for_the_wrong_architecture_is_refused_by_name() {
        let err = plan(
            &bookworm_arm64(),
            &settings(),
            Overrides::default(),
            elf(40, 1),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "--edged is built for armv7, but the image runs aarch64; use the aarch64-unknown-linux-musl build"
        );
        let err = plan(
            &bookworm_arm64(),
            &settings(),
            Overrides::default(),
            elf(62, 2),
        )
        .unwrap_err();
        assert!(err.to_string().contains("x86-64"), "{err}");
    }

    #[test]
    fn overrides_win_over_detection() {
        let overrides = Overrides {
            arch: Some(Arch::Armv7),
            generation: Some(Generation::CloudInit),
            ..Overrides::default()
        };
        let plan = plan(&bookworm_arm64(), &settings(), overrides, elf(40, 1)).unwrap();
        assert_eq!(plan.generation, Generation::CloudInit);
        assert!(plan.files.iter().any(|f| f.path == "user-data"));
    }

    #[test]
    fn a_partition_without_cmdline_txt_is_not_a_pi_boot_partition() {
        let mut boot = bookworm_arm64();
        boot.cmdline_txt = None;
        let err = plan(&boot, &settings(), Overrides::default(), elf(183, 2)).unwrap_err();
        assert!(matches!(err, PlanError::NoCmdline));
    }
}
