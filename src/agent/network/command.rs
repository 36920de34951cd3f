//! Running `ip` and `nft` with a script on stdin, optionally inside a pinned network namespace,
//! turning a failure into an error that quotes the command and its stderr.
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::Stdio;

use tokio::io::AsyncWriteExt;

use super::NetworkError;

/// Runs `program args…` with `script` on stdin; fails with its stderr.
pub async fn run(program: &str, args: &[&str], script: &str) -> Result<String, NetworkError> {
    run_in(None, program, args, script).await
}

/// Like `run`, inside the network namespace pinned at `netns`: the child joins it between fork
/// and exec, so no name under /run/netns is needed.
pub async fn run_in(
    netns: Option<&Path>,
    program: &str,
    args: &[&str],
    script: &str,
) -> Result<String, NetworkError> {
    let command_line = format!("{program} {}", args.join(" "));
    let fail = |message: String| NetworkError::Command {
        command: command_line.clone(),
        message,
    };
    let netns_file = match netns {
        Some(path) => {
            Some(std::fs::File::open(path).map_err(|e| fail(format!("{}: {e}", path.display())))?)
        }
        None => None,
    };
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(file) = &netns_file {
        let fd = file.as_raw_fd();
        // SAFETY: the closure runs in the forked child before exec and only makes the setns
        // system call (async-signal-safe) on an fd the parent keeps open until after spawn.
        unsafe {
            command.pre_exec(move || {
                if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let mut child = command.spawn().map_err(|e| fail(e.to_string()))?;
    drop(netns_file);
    let mut stdin = child.stdin.take().expect("piped stdin");
    let script = script.to_string();
    let writer = tokio::spawn(async move {
        let _ = stdin.write_all(script.as_bytes()).await;
    });
    let output = child
        .wait_with_output()
        .await
        .map_err(|e| fail(e.to_string()))?;
    let _ = writer.await;
    if !output.status.success() {
        return Err(fail(
            String::from_utf8_lossy(&output.stderr).trim().to_string(),
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
