//! Editing `config.txt`, the Pi firmware's configuration: a block of Flotilla settings between
//! marker lines, replaced as a whole on every run so that flashing twice changes nothing.

use super::arch::Arch;

/// The documented fragment, shipped in `firmware-configs/raspberry-pi/config.txt`.
pub const FRAGMENT: &str = include_str!("../../firmware-configs/raspberry-pi/config.txt");
/// A `config.txt` larger than this is not a firmware configuration.
pub const CONFIG_TXT_BYTES_MAX: u64 = 256 * 1024;

const BEGIN: &str = "# >>> flotilla (managed by edgectl flash)";
const END: &str = "# <<< flotilla";

/// Options that change the fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragmentOptions {
    /// The image's architecture: the 64-bit kernel line only goes into 64-bit images.
    pub arch: Arch,
    /// Turn Bluetooth (and Wi-Fi unless `wifi`) off.
    pub radios_off: bool,
    /// The node uses Wi-Fi, so it must stay on.
    pub wifi: bool,
}

/// The fragment with its optional lines decided, between the markers.
pub fn block(options: FragmentOptions) -> String {
    let mut out = format!("{BEGIN}\n");
    for line in FRAGMENT.lines() {
        let line = match line {
            "arm_64bit=1" if options.arch != Arch::Aarch64 => continue,
            "#dtoverlay=disable-bt" if options.radios_off => "dtoverlay=disable-bt",
            "#dtoverlay=disable-wifi" if options.radios_off && !options.wifi => {
                "dtoverlay=disable-wifi"
            }
            other => other,
        };
        out.push_str(line);
        out.push('\n');
    }
    out.push_str(END);
    out.push('\n');
    out
}

/// `config.txt` with the Flotilla block appended, or put in place of an earlier one.
pub fn apply(config: &str, options: FragmentOptions) -> String {
    let mut kept = String::new();
    let mut inside = false;
    for line in config.lines() {
        if line.trim_end() == BEGIN {
            inside = true;
            continue;
        }
        if inside {
            if line.trim_end() == END {
                inside = false;
            }
            continue;
        }
        kept.push_str(line);
        kept.push('\n');
    }
    while kept.ends_with("\n\n") {
        kept.pop();
    }
    if !kept.is_empty() {
        kept.push('\n');
    }
    kept + &block(options)
}

/// Whether `config.txt` asks for the 64-bit kernel (`arm_64bit=1` in effect for all boards).
pub fn requests_64bit(config: &str) -> bool {
    config
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .any(|l| l.replace(' ', "") == "arm_64bit=1")
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTIONS: FragmentOptions = FragmentOptions {
        arch: Arch::Aarch64,
        radios_off: false,
        wifi: false,
    };

    #[test]
    fn block_is_appended_once_and_replaced_on_a_second_run() {
        let stock = "dtparam=audio=on\n[cm4]\notg_mode=1\n\n[all]\n";
        let once = apply(stock, OPTIONS);
        assert!(once.starts_with(stock));
        assert_eq!(once.matches(BEGIN).count(), 1);
        assert!(once.contains("\narm_64bit=1\n"));
        let twice = apply(&once, OPTIONS);
        assert_eq!(once, twice);
        let radios = apply(
            &once,
            FragmentOptions {
                radios_off: true,
                ..OPTIONS
            },
        );
        assert_eq!(radios.matches(BEGIN).count(), 1);
        assert!(radios.contains("\ndtoverlay=disable-bt\n"));
        assert!(radios.contains("\ndtoverlay=disable-wifi\n"));
    }

    #[test]
    fn thirty_two_bit_images_do_not_get_the_64_bit_kernel() {
        let out = apply(
            "",
            FragmentOptions {
                arch: Arch::Armv7,
                ..OPTIONS
            },
        );
        assert!(!out.contains("\narm_64bit=1"));
        assert!(out.contains("\ngpu_mem=16\n"));
    }

    #[test]
    fn wifi_stays_on_when_the_node_uses_it() {
        let out = block(FragmentOptions {
            radios_off: true,
            wifi: true,
            ..OPTIONS
        });
        assert!(out.contains("\ndtoverlay=disable-bt\n"));
        assert!(out.contains("\n#dtoverlay=disable-wifi\n"));
    }

    #[test]
    fn sixty_four_bit_request_ignores_comments() {
        assert!(requests_64bit("# Run in 64-bit mode\narm_64bit=1\n"));
        assert!(!requests_64bit("#arm_64bit=1\n"));
        assert!(!requests_64bit("arm_64bit=0\n"));
    }
}
