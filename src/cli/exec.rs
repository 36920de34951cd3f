//! `edgectl exec POD [-c CONTAINER] [--timeout S] -- COMMAND [ARG…]`: runs a command in a
//! container through the master, non-interactively (no stdin, no terminal), prints its output
//! (stdout and stderr interleaved, on stdout) and exits with the command's exit status
//! (128 + N when signal N killed it, 124 when it ran past its timeout).
use std::io::Write;

use http_body_util::BodyExt;
use hyper::header::HeaderMap;
use hyper::Method;

use super::client::with_query;
use super::logs::pod_name;
use super::{Context, Exit};
use crate::api::Kind;
use crate::master::rest::pod_exec::{
    EXIT_CODE_HEADER, EXIT_SIGNAL_HEADER, TIMED_OUT_HEADER, TRUNCATED_HEADER,
};
use crate::master::route::object_path;

/// The exit status for a command killed at its timeout (as GNU `timeout` uses).
pub const TIMED_OUT_STATUS: u8 = 124;

#[derive(Debug, clap::Args)]
pub struct ExecArgs {
    /// The pod: NAME or pod/NAME
    #[arg(value_name = "POD")]
    pub pod: String,
    /// The container (default: the pod's only or default container)
    #[arg(short = 'c', long)]
    pub container: Option<String>,
    /// Seconds the command may run before it is killed (1 to 3600)
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub timeout: u32,
    /// Pass stdin to the command (not supported yet: commands run without stdin)
    #[arg(short = 'i', long)]
    pub stdin: bool,
    /// Allocate a terminal (not supported yet)
    #[arg(short = 't', long)]
    pub tty: bool,
    /// The command and its arguments, after --
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

/// The exec path with its query.
pub fn exec_path(namespace: &str, args: &ExecArgs) -> anyhow::Result<String> {
    let base = format!(
        "{}/exec",
        object_path(Kind::Pod, Some(namespace), pod_name(&args.pod)?)
    );
    let timeout = args.timeout.to_string();
    let mut params = Vec::new();
    if let Some(container) = &args.container {
        params.push(("container", container.as_str()));
    }
    for arg in &args.command {
        params.push(("command", arg.as_str()));
    }
    params.push(("timeoutSeconds", timeout.as_str()));
    Ok(with_query(&base, &params))
}

fn header_i32(headers: &HeaderMap, name: &str) -> Option<i32> {
    headers.get(name)?.to_str().ok()?.parse().ok()
}

/// The exit status edgectl ends with, from the answer's headers.
pub fn exit_status(headers: &HeaderMap) -> u8 {
    if headers.contains_key(TIMED_OUT_HEADER) {
        return TIMED_OUT_STATUS;
    }
    if let Some(code) = header_i32(headers, EXIT_CODE_HEADER) {
        return (code & 0xff) as u8;
    }
    if let Some(signal) = header_i32(headers, EXIT_SIGNAL_HEADER) {
        return (128 + signal).clamp(0, 255) as u8;
    }
    // The command's end is unknown (its runtime lost track of it).
    1
}

pub async fn run(context: &Context, args: ExecArgs) -> anyhow::Result<()> {
    if args.stdin || args.tty {
        anyhow::bail!(
            "interactive exec (-i, -t) is not supported yet: commands run without stdin or a terminal"
        );
    }
    let path = exec_path(context.namespace(), &args)?;
    let client = context.client()?;
    let (headers, mut body) = client.open(Method::POST, &path).await?;
    let mut stdout = std::io::stdout().lock();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| anyhow::anyhow!("the command's output broke off: {e}"))?;
        if let Ok(data) = frame.into_data() {
            if stdout
                .write_all(&data)
                .and_then(|()| stdout.flush())
                .is_err()
            {
                break;
            }
        }
    }
    if headers.contains_key(TRUNCATED_HEADER) {
        eprintln!("warning: the command's output was longer than the master passes on and was cut");
    }
    if headers.contains_key(TIMED_OUT_HEADER) {
        eprintln!(
            "error: the command ran longer than {} s and was killed",
            args.timeout
        );
    }
    match exit_status(&headers) {
        0 => Ok(()),
        code => Err(Exit(code).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    #[test]
    fn the_command_travels_as_repeated_parameters() {
        let args = ExecArgs {
            pod: "web-1".into(),
            container: Some("web".into()),
            timeout: 60,
            stdin: false,
            tty: false,
            command: vec!["sh".into(), "-c".into(), "echo a b; exit 3".into()],
        };
        assert_eq!(
            exec_path("default", &args).unwrap(),
            "/api/v1/namespaces/default/pods/web-1/exec?container=web&command=sh&command=-c&command=echo+a+b%3B+exit+3&timeoutSeconds=60"
        );
    }

    #[test]
    fn exit_statuses_follow_the_shell() {
        let mut headers = HeaderMap::new();
        headers.insert(EXIT_CODE_HEADER, HeaderValue::from(3));
        assert_eq!(exit_status(&headers), 3);
        let mut headers = HeaderMap::new();
        headers.insert(EXIT_SIGNAL_HEADER, HeaderValue::from(9));
        assert_eq!(exit_status(&headers), 137);
        headers.insert(TIMED_OUT_HEADER, HeaderValue::from_static("true"));
        assert_eq!(exit_status(&headers), TIMED_OUT_STATUS);
        assert_eq!(exit_status(&HeaderMap::new()), 1);
    }
}
