//! Which manifest of a multi-architecture index this node runs: os, architecture and, for ARM,
//! the variant (v6, v7, v8) told apart — the resolver oci-client ships ignores the variant.
use super::oci::{Descriptor, Platform};

/// The platform of the node, normalised to OCI names (`arm64`/`v8`, `arm`/`v7`, `amd64`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPlatform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl HostPlatform {
    /// The platform this binary runs on. For 32-bit ARM the variant comes from the CPU
    /// (`/proc/cpuinfo`'s "CPU architecture"), since an armv7 binary may run on an ARMv6 board's
    /// kernel only if the board is one.
    pub fn detect() -> HostPlatform {
        let architecture = normalise_arch(std::env::consts::ARCH).to_string();
        let variant = match architecture.as_str() {
            "arm64" => Some("v8".to_string()),
            "arm" => Some(
                std::fs::read_to_string("/proc/cpuinfo")
                    .ok()
                    .and_then(|info| arm_variant_from_cpuinfo(&info))
                    .unwrap_or_else(|| "v7".to_string()),
            ),
            _ => None,
        };
        HostPlatform {
            os: "linux".to_string(),
            architecture,
            variant,
        }
    }

    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> HostPlatform {
        HostPlatform {
            os: os.to_string(),
            architecture: normalise_arch(architecture).to_string(),
            variant: variant.map(str::to_string),
        }
    }
}

impl std::fmt::Display for HostPlatform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

/// `CPU architecture: 7` → `v7`; an ARMv8 CPU running a 32-bit userland runs v7 code.
fn arm_variant_from_cpuinfo(cpuinfo: &str) -> Option<String> {
    let line = cpuinfo
        .lines()
        .find(|l| l.starts_with("CPU architecture"))?;
    let value = line.split(':').nth(1)?.trim();
    let number: u32 = value
        .trim_start_matches('v')
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .ok()?;
    Some(format!("v{}", number.min(7)))
}

fn normalise_arch(arch: &str) -> &str {
    match arch {
        "x86_64" | "x86-64" => "amd64",
        "aarch64" => "arm64",
        "armhf" | "armel" | "armv7l" | "armv6l" => "arm",
        "i386" | "i686" | "x86" => "386",
        "powerpc64" | "powerpc64le" => "ppc64le",
        other => other,
    }
}

/// The variant an entry means, with the defaults registries leave implicit.
fn entry_variant(platform: &Platform) -> Option<u32> {
    let arch = normalise_arch(&platform.architecture);
    let implicit = match (platform.architecture.as_str(), arch) {
        ("armel", _) => Some(6),
        ("armhf", _) => Some(7),
        (_, "arm") => Some(7),
        (_, "arm64") => Some(8),
        (_, "amd64") => Some(1),
        _ => None,
    };
    platform
        .variant
        .as_deref()
        .and_then(|v| v.trim_start_matches('v').parse().ok())
        .or(implicit)
}

/// How well an index entry fits the host: `None` if it cannot run, higher is better.
fn fitness(host: &HostPlatform, platform: &Platform) -> Option<u32> {
    if platform.os != host.os || normalise_arch(&platform.architecture) != host.architecture {
        return None;
    }
    let host_variant = host
        .variant
        .as_deref()
        .and_then(|v| v.trim_start_matches('v').parse::<u32>().ok());
    match (
        host.architecture.as_str(),
        host_variant,
        entry_variant(platform),
    ) {
        // ARM: a v7 board runs v7, v6 and v5 code, never v8; the closest variant wins.
        ("arm", Some(host_v), Some(entry_v)) => (entry_v <= host_v).then_some(entry_v),
        ("arm64", _, Some(entry_v)) => (entry_v == 8).then_some(1),
        (_, Some(host_v), Some(entry_v)) => (entry_v <= host_v).then_some(entry_v),
        (_, None, Some(entry_v)) => (entry_v <= 1).then_some(1),
        (_, _, None) => Some(1),
    }
}

/// Picks the entry of an index this host should run, or `None` when no entry fits.
pub fn choose<'a>(host: &HostPlatform, manifests: &'a [Descriptor]) -> Option<&'a Descriptor> {
    manifests
        .iter()
        .filter_map(|d| {
            d.platform
                .as_ref()
                .and_then(|p| fitness(host, p))
                .map(|score| (score, d))
        })
        // First best wins: indexes list preferred entries first.
        .fold(None::<(u32, &Descriptor)>, |best, (score, d)| match best {
            Some((s, _)) if s >= score => best,
            _ => Some((score, d)),
        })
        .map(|(_, d)| d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::image::digest::Digest;

    fn entry(arch: &str, variant: Option<&str>, marker: u8) -> Descriptor {
        Descriptor {
            media_type: super::super::oci::MEDIA_TYPE_OCI_MANIFEST.to_string(),
            digest: Digest::of(&[marker]),
            size: 1,
            platform: Some(Platform {
                architecture: arch.to_string(),
                os: "linux".to_string(),
                variant: variant.map(str::to_string),
            }),
            annotations: Default::default(),
        }
    }

    fn chosen(host: HostPlatform, index: &[Descriptor]) -> Option<u8> {
        choose(&host, index).map(|d| index.iter().position(|e| e == d).unwrap() as u8)
    }

    #[test]
    fn arm_variants_are_told_apart() {
        let index = [
            entry("amd64", None, 0),
            entry("arm", Some("v6"), 1),
            entry("arm", Some("v7"), 2),
            entry("arm64", Some("v8"), 3),
        ];
        assert_eq!(
            chosen(HostPlatform::new("linux", "arm", Some("v7")), &index),
            Some(2)
        );
        assert_eq!(
            chosen(HostPlatform::new("linux", "arm", Some("v6")), &index),
            Some(1)
        );
        assert_eq!(
            chosen(HostPlatform::new("linux", "arm64", Some("v8")), &index),
            Some(3)
        );
        assert_eq!(
            chosen(HostPlatform::new("linux", "amd64", None), &index),
            Some(0)
        );
    }

    #[test]
    fn an_armv6_board_never_gets_a_v7_image() {
        let index = [entry("arm", Some("v7"), 0), entry("arm64", None, 1)];
        assert_eq!(
            chosen(HostPlatform::new("linux", "arm", Some("v6")), &index),
            None
        );
    }

    #[test]
    fn arm_without_variant_means_v7_and_unknown_entries_are_skipped() {
        let mut attestation = entry("unknown", None, 9);
        attestation.platform.as_mut().unwrap().os = "unknown".to_string();
        let index = [attestation, entry("arm", None, 1)];
        assert_eq!(
            chosen(HostPlatform::new("linux", "arm", Some("v7")), &index),
            Some(1)
        );
        assert_eq!(
            chosen(HostPlatform::new("linux", "arm", Some("v6")), &index),
            None
        );
    }

    #[test]
    fn cpuinfo_architecture_gives_the_arm_variant() {
        assert_eq!(
            arm_variant_from_cpuinfo("CPU architecture: 7\n").as_deref(),
            Some("v7")
        );
        assert_eq!(
            arm_variant_from_cpuinfo("CPU architecture: 8\n").as_deref(),
            Some("v7")
        );
        assert_eq!(
            arm_variant_from_cpuinfo("model name: ARMv6-compatible\nCPU architecture: 6")
                .as_deref(),
            Some("v6")
        );
    }
}
