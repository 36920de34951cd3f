//! A pod's shared namespaces (network, IPC, UTS): created by a helper child with `unshare`, the
//! hostname set and `lo` brought up (libcontainer does neither), then pinned by bind-mounting
//! the nsfs files so that they outlive the creating process and every container can join them
//! by path. Removing them is an unmount and an unlink.
use std::io;
use std::path::Path;

use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;

use super::helper::NamespacesRequest;

/// Creates and pins the namespaces of a request (runs in a helper child, which may change its
/// own namespaces freely: it exits right after).
pub fn create(request: &NamespacesRequest) -> Result<(), String> {
    let mut flags = CloneFlags::CLONE_NEWIPC;
    if request.net.is_some() {
        flags |= CloneFlags::CLONE_NEWNET;
    }
    if request.uts.is_some() {
        flags |= CloneFlags::CLONE_NEWUTS;
    }
    nix::sched::unshare(flags).map_err(|e| format!("unshare: {e}"))?;
    if request.uts.is_some() {
        nix::unistd::sethostname(&request.hostname)
            .map_err(|e| format!("sethostname {:?}: {e}", request.hostname))?;
    }
    if request.net.is_some() {
        loopback_up().map_err(|e| format!("bringing lo up: {e}"))?;
    }
    let mut pinned = Vec::new();
    let pins = [
        ("net", request.net.as_deref()),
        ("ipc", Some(request.ipc.as_path())),
        ("uts", request.uts.as_deref()),
    ];
    for (kind, target) in pins {
        let Some(target) = target else { continue };
        if let Err(e) = pin(kind, target) {
            for done in pinned {
                let _ = unpin(done);
            }
            return Err(e);
        }
        pinned.push(target);
    }
    Ok(())
}

fn pin(kind: &str, target: &Path) -> Result<(), String> {
    // A pin left by a crashed agent would make the create fail (nsfs refuses writes).
    let _ = unpin(target);
    std::fs::File::create(target).map_err(|e| format!("{}: {e}", target.display()))?;
    let source = format!("/proc/self/ns/{kind}");
    nix::mount::mount(
        Some(source.as_str()),
        target,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| format!("pinning {kind} namespace on {}: {e}", target.display()))
}

/// Releases a pinned namespace file. Missing or already unmounted files are fine.
pub fn unpin(target: &Path) -> io::Result<()> {
    match nix::mount::umount2(target, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
        Err(e) => return Err(e.into()),
    }
    match std::fs::remove_file(target) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// `ip link set lo up`, with two ioctls on a socket of the current network namespace.
fn loopback_up() -> io::Result<()> {
    // SAFETY: plain socket(2) call.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the fd was just created and is owned here.
    let socket = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    use std::os::fd::AsRawFd;
    // SAFETY: ifreq is plain old data; zero is a valid initial value.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (slot, byte) in request.ifr_name.iter_mut().zip(b"lo\0") {
        *slot = *byte as libc::c_char;
    }
    // SAFETY: valid socket and ifreq pointer; SIOCGIFFLAGS fills ifru_flags.
    if unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFFLAGS as _, &mut request) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: reading and writing the flags member of the union SIOCGIFFLAGS just filled.
    unsafe { request.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    // SAFETY: as above, SIOCSIFFLAGS reads ifru_flags.
    if unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCSIFFLAGS as _, &request) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
