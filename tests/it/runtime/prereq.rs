//! Prerequisites of the runtime tests: root, commands, kernel features. Under `CI=true` a
//! missing prerequisite fails the test; elsewhere the test is skipped with a loud message.
use std::path::Path;

/// Returns true when the prerequisite holds; otherwise panics under CI or prints why the test
/// is skipped and returns false.
pub fn require(ok: bool, what: &str) -> bool {
    if ok {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("missing test prerequisite under CI=true: {what}");
    }
    eprintln!("\n*** SKIPPED: missing test prerequisite: {what} ***\n");
    false
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

pub fn has_command(name: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(name).is_file()))
        .unwrap_or(false)
}

/// Root and Debian's busybox-static: what every container test needs.
pub fn containers() -> bool {
    require(
        is_root(),
        "root (containers, namespaces, cgroups, overlayfs)",
    ) && require(
        Path::new(super::busybox_image::BUSYBOX).is_file(),
        "/bin/busybox (apt install busybox-static)",
    )
}

/// Skips (or fails under CI) the calling test when `$check` is false.
#[macro_export]
macro_rules! require {
    ($check:expr) => {
        if !$check {
            return;
        }
    };
}
