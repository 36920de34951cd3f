//! Editing `cmdline.txt`, the kernel command line on the Pi's boot partition: one line of
//! space-separated parameters, to which flash adds its parameters exactly once.

use thiserror::Error;

/// A `cmdline.txt` larger than this is not a kernel command line (the kernel's limit is 4 KiB
/// on arm64; leave room).
pub const CMDLINE_BYTES_MAX: u64 = 16 * 1024;

/// Parameters that enable the cgroup controllers the agent needs. The Raspberry Pi kernel leaves
/// the memory controller disabled unless asked (`cgroup_disable=memory` built in).
pub const CGROUP_PARAMS: &[&str] = &["cgroup_memory=1", "cgroup_enable=memory"];
/// Older 32-bit Raspberry Pi kernels also shipped with the cpuset controller off.
pub const CGROUP_PARAMS_32BIT: &[&str] = &["cgroup_enable=cpuset"];
/// Parameters that disable what the ones above enable; removed so that the last word is ours.
const CONFLICTING: &[&str] = &["cgroup_disable=memory", "cgroup_disable=cpuset"];
/// Keys whose value is replaced rather than duplicated (the legacy first-boot hook).
const REPLACED_KEYS: &[&str] = &["systemd.run", "systemd.run_success_action", "systemd.unit"];

/// What is wrong with a `cmdline.txt`.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum CmdlineError {
    /// not UTF-8
    #[error("cmdline.txt is not UTF-8 text")]
    NotText,
    /// empty
    #[error("cmdline.txt is empty: the image's kernel command line is missing")]
    Empty,
    /// more than one line
    #[error("cmdline.txt: line {line}: the kernel command line must be a single line")]
    MultipleLines { line: usize },
}

/// Returns `text` with every parameter of `wanted` present exactly once. Parameters already
/// there keep their place; missing ones are appended in order. For `systemd.run`-style keys in
/// `wanted`, other values of the same key are removed. Running it twice changes nothing.
pub fn add_params(text: &[u8], wanted: &[&str]) -> Result<String, CmdlineError> {
    let mut tokens = tokens(text)?;
    let wanted_keys: Vec<&str> = wanted.iter().map(|w| key(w)).collect();
    tokens.retain(|t| {
        let k = key(t);
        let replaced =
            REPLACED_KEYS.contains(&k) && wanted_keys.contains(&k) && !wanted.contains(&t.as_str());
        !replaced && !CONFLICTING.contains(&t.as_str())
    });
    for w in wanted {
        let mut seen = false;
        tokens.retain(|t| {
            if t != w {
                return true;
            }
            let keep = !seen;
            seen = true;
            keep
        });
        if !seen {
            tokens.push((*w).to_string());
        }
    }
    Ok(tokens.join(" ") + "\n")
}

/// Returns `text` without the parameters whose key is one of `keys` (used to clean a hook away).
pub fn remove_keys(text: &[u8], keys: &[&str]) -> Result<String, CmdlineError> {
    let mut tokens = tokens(text)?;
    tokens.retain(|t| !keys.contains(&key(t)));
    Ok(tokens.join(" ") + "\n")
}

fn key(token: &str) -> &str {
    token.split_once('=').map_or(token, |(k, _)| k)
}

fn tokens(text: &[u8]) -> Result<Vec<String>, CmdlineError> {
    let text = std::str::from_utf8(text).map_err(|_| CmdlineError::NotText)?;
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let (_, line) = lines.next().ok_or(CmdlineError::Empty)?;
    if let Some((index, _)) = lines.next() {
        return Err(CmdlineError::MultipleLines { line: index + 1 });
    }
    Ok(line.split_whitespace().map(str::to_string).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOOKWORM: &str = "console=serial0,115200 console=tty1 root=PARTUUID=4e639091-02 \
                            rootfstype=ext4 fsck.repair=yes rootwait quiet init=/usr/lib/raspberrypi-sys-mods/firstboot\n";

    #[test]
    fn cgroup_flags_are_appended_once_and_a_second_run_changes_nothing() {
        let once = add_params(BOOKWORM.as_bytes(), CGROUP_PARAMS).unwrap();
        assert!(
            once.ends_with("firstboot cgroup_memory=1 cgroup_enable=memory\n"),
            "{once}"
        );
        let twice = add_params(once.as_bytes(), CGROUP_PARAMS).unwrap();
        assert_eq!(once, twice);
    }

    #[test]
    fn duplicated_flags_are_reduced_to_one_in_place() {
        let text = "root=/dev/mmcblk0p2 cgroup_memory=1 quiet cgroup_memory=1\n";
        let out = add_params(text.as_bytes(), CGROUP_PARAMS).unwrap();
        assert_eq!(
            out,
            "root=/dev/mmcblk0p2 cgroup_memory=1 quiet cgroup_enable=memory\n"
        );
    }

    #[test]
    fn cgroup_disable_memory_is_removed() {
        let out = add_params(b"root=x cgroup_disable=memory", CGROUP_PARAMS).unwrap();
        assert_eq!(out, "root=x cgroup_memory=1 cgroup_enable=memory\n");
    }

    #[test]
    fn different_cgroup_enable_values_coexist() {
        let out = add_params(b"root=x cgroup_enable=cpuset", CGROUP_PARAMS).unwrap();
        assert_eq!(
            out,
            "root=x cgroup_enable=cpuset cgroup_memory=1 cgroup_enable=memory\n"
        );
    }

    #[test]
    fn an_older_first_boot_hook_is_replaced_not_duplicated() {
        let hook = [
            "systemd.run=/boot/firstrun.sh",
            "systemd.run_success_action=reboot",
        ];
        let text = "root=x systemd.run=/boot/other.sh systemd.run_success_action=none\n";
        let out = add_params(text.as_bytes(), &hook).unwrap();
        assert_eq!(
            out,
            "root=x systemd.run=/boot/firstrun.sh systemd.run_success_action=reboot\n"
        );
    }

    #[test]
    fn removing_the_hook_leaves_the_rest() {
        let text =
            "root=x systemd.run=/boot/firstrun.sh systemd.unit=kernel-command-line.target quiet";
        let out = remove_keys(text.as_bytes(), &["systemd.run", "systemd.unit"]).unwrap();
        assert_eq!(out, "root=x quiet\n");
    }

    #[test]
    fn a_second_line_is_an_error_naming_it() {
        let err = add_params(b"root=x\n\nquiet\n", CGROUP_PARAMS).unwrap_err();
        assert_eq!(err, CmdlineError::MultipleLines { line: 3 });
        assert_eq!(
            add_params(b"  \n", CGROUP_PARAMS).unwrap_err(),
            CmdlineError::Empty
        );
        assert_eq!(
            add_params(&[0xFF, 0xFE], CGROUP_PARAMS).unwrap_err(),
            CmdlineError::NotText
        );
    }
}
