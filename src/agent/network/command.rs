//! Running `ip` and `nft` with a script on stdin, turning a failure into an error that quotes
//! the command and its stderr.
use std::process::Stdio;

use tokio::io::AsyncWriteExt;

use super::NetworkError;

/// Runs `program args…` with `script` on stdin; fails with its stderr.
pub async fn run(program: &str, args: &[&str], script: &str) -> Result<String, NetworkError> {
    let command_line = format!("{program} {}", args.join(" "));
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| NetworkError::Command {
            command: command_line.clone(),
            message: e.to_string(),
        })?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    let script = script.to_string();
    let writer = tokio::spawn(async move {
        let _ = stdin.write_all(script.as_bytes()).await;
    });
    let output = child
        .wait_with_output()
        .await
        .map_err(|e| NetworkError::Command {
            command: command_line.clone(),
            message: e.to_string(),
        })?;
    let _ = writer.await;
    if !output.status.success() {
        return Err(NetworkError::Command {
            command: command_line,
            message: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
