//! The calls into youki's libcontainer — the only code in Flotilla that imports it. Every
//! function here runs inside a forked child of the single-threaded runtime helper, never in
//! the agent (see `helper`).
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, Instant};

use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::Container;
use libcontainer::syscall::syscall::SyscallType;
use libcontainer::workload::default::DefaultExecutor;

use super::helper::{CreateRequest, ExecOutcome, ExecRequest};
use super::process::PidFd;

/// The OCI spec types, for the bundle writer.
pub use libcontainer::oci_spec::runtime as spec;

fn open_fifo(path: &Path) -> Result<std::fs::File, String> {
    // Read-write: the container holds a reader too, so its writes never fail with EPIPE while
    // the agent (the real reader) restarts; they block once the pipe buffer is full instead.
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| format!("opening log pipe {}: {e}", path.display()))
}

/// Creates and starts the container; returns its init pid.
pub fn create_and_start(request: &CreateRequest) -> Result<i32, String> {
    let stdin = std::fs::File::open("/dev/null").map_err(|e| format!("/dev/null: {e}"))?;
    let stdout = open_fifo(&request.stdout)?;
    let stderr = open_fifo(&request.stderr)?;
    let built = ContainerBuilder::new(request.id.clone(), SyscallType::Linux)
        .with_executor(DefaultExecutor {})
        .with_root_path(&request.state_root)
        .map_err(|e| format!("state root {}: {e}", request.state_root.display()))?
        .with_stdin(OwnedFd::from(stdin))
        .with_stdout(OwnedFd::from(stdout))
        .with_stderr(OwnedFd::from(stderr))
        .as_init(&request.bundle)
        .with_systemd(false)
        .with_detach(true)
        .build();
    let mut container = match built {
        Ok(container) => container,
        Err(e) => {
            // A failed build may leave a state directory behind; remove it so the id is free.
            let _ = delete(&request.state_root, &request.id);
            return Err(format!("creating container {}: {e}", request.id));
        }
    };
    if let Err(e) = container.start() {
        let _ = container.delete(true);
        return Err(format!("starting container {}: {e}", request.id));
    }
    container
        .pid()
        .map(|pid| pid.as_raw())
        .ok_or_else(|| format!("container {} started without a pid", request.id))
}

/// Deletes a container (killing what is left of it) and its cgroup and state directory. A
/// container that no longer exists is not an error.
pub fn delete(state_root: &Path, id: &str) -> Result<(), String> {
    let dir = state_root.join(id);
    if !dir.exists() {
        return Ok(());
    }
    let mut container =
        Container::load(dir.clone()).map_err(|e| format!("loading container {id}: {e}"))?;
    container
        .delete(true)
        .map_err(|e| format!("deleting container {id}: {e}"))
}

/// Runs `args` in the running container, capturing up to `output_bytes_max` bytes of stdout
/// and stderr, killing it after the timeout.
pub fn exec(request: &ExecRequest) -> Result<(ExecOutcome, Vec<u8>), String> {
    let (read_end, write_end) = nix::unistd::pipe().map_err(|e| format!("pipe: {e}"))?;
    let stderr = write_end.try_clone().map_err(|e| format!("dup: {e}"))?;
    let stdin = std::fs::File::open("/dev/null").map_err(|e| format!("/dev/null: {e}"))?;
    let pid = ContainerBuilder::new(request.id.clone(), SyscallType::Linux)
        .with_executor(DefaultExecutor {})
        .with_root_path(&request.state_root)
        .map_err(|e| format!("state root: {e}"))?
        .with_stdin(OwnedFd::from(stdin))
        .with_stdout(write_end)
        .with_stderr(stderr)
        .as_tenant()
        .with_container_args(request.args.clone())
        .with_user(Some(request.uid))
        .with_group(Some(request.gid))
        .with_detach(true)
        .build()
        .map_err(|e| format!("exec in {}: {e}", request.id))?;
    let pidfd = PidFd::open(pid.as_raw()).map_err(|e| format!("pidfd: {e}"))?;
    let mut output = Vec::new();
    let mut reader = std::fs::File::from(read_end);
    let deadline = Instant::now() + Duration::from_millis(request.timeout_ms);
    let mut pipe_open = true;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            let _ = pidfd.signal(libc::SIGKILL);
            let _ = nix::sys::wait::waitpid(pid, None);
            return Ok((ExecOutcome::TimedOut, output));
        }
        let mut fds = [
            libc::pollfd {
                fd: reader.as_raw_fd(),
                events: if pipe_open { libc::POLLIN } else { 0 },
                revents: 0,
            },
            libc::pollfd {
                fd: pidfd_raw(&pidfd),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: two valid pollfds; timeout bounded by the deadline.
        unsafe {
            libc::poll(
                fds.as_mut_ptr(),
                2,
                remaining.as_millis().min(i32::MAX as u128) as i32,
            )
        };
        if pipe_open && fds[0].revents != 0 {
            let mut chunk = [0u8; 4096];
            match reader.read(&mut chunk) {
                Ok(0) | Err(_) => pipe_open = false,
                Ok(n) => {
                    let room = (request.output_bytes_max as usize).saturating_sub(output.len());
                    output.extend_from_slice(&chunk[..n.min(room)]);
                }
            }
        }
        if fds[1].revents != 0 {
            let status =
                nix::sys::wait::waitpid(pid, None).map_err(|e| format!("waiting for exec: {e}"))?;
            // Drain what is left without blocking on descendants that kept the pipe open.
            let _ = nix::fcntl::fcntl(
                reader.as_raw_fd(),
                nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
            );
            let mut chunk = [0u8; 4096];
            while let Ok(n) = reader.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                let room = (request.output_bytes_max as usize).saturating_sub(output.len());
                output.extend_from_slice(&chunk[..n.min(room)]);
            }
            let exit = match status {
                nix::sys::wait::WaitStatus::Exited(_, code) => {
                    super::process::ExitStatus::Code(code)
                }
                nix::sys::wait::WaitStatus::Signaled(_, signal, _) => {
                    super::process::ExitStatus::Signal(signal as i32)
                }
                _ => super::process::ExitStatus::Unknown,
            };
            return Ok((ExecOutcome::Exited(exit), output));
        }
    }
}

fn pidfd_raw(pidfd: &PidFd) -> i32 {
    pidfd.as_raw_fd()
}
