//! `POST /api/v1/namespaces/{ns}/pods/{name}/exec?container=C&command=ARG&command=ARG…[&timeoutSeconds=S]`:
//! runs a command in a container, non-interactively, through the node's agent.
//!
//! The command comes as repeated `command` parameters, as Kubernetes sends it; the request
//! body is ignored. Interactive sessions (`stdin=true`, `tty=true`) are refused. The answer is
//! Flotilla's own, simple format, sent once the command has ended:
//!
//! - `200 OK`, `Content-Type: application/octet-stream`;
//! - `Flotilla-Exit-Code: N` when the command exited, `Flotilla-Exit-Signal: N` when a signal
//!   killed it, `Flotilla-Exec-Timed-Out: true` when it ran past `timeoutSeconds` (default 60,
//!   at most 3600) and was killed;
//! - `Flotilla-Output-Truncated: true` when the output was longer than 512 KiB and was cut;
//! - the body: what the command wrote to stdout and stderr, interleaved as written.
//!
//! Failures before the command ran (no such pod or container, node unreachable) are
//! Kubernetes `Status` documents as for every other request.
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use tokio::sync::mpsc;

use super::pod_log::{failure, first_frame, forward, ChunkStream, STREAM_BUFFER_CHUNKS};
use super::pod_target;
use super::{ApiState, ResponseBody};
use crate::master::error::ApiError;
use crate::master::tunnel::TunnelError;
use crate::wire::tunnel::{EXEC_OUTPUT_BYTES_MAX, EXEC_TIMEOUT_MAX_S};
use crate::wire::{ExecCall, TunnelCall, TunnelFrame};

/// The exec timeout when the request names none.
pub const EXEC_TIMEOUT_DEFAULT_S: u32 = 60;
/// Time the agent gets beyond the command's own timeout to report its end.
pub const EXEC_ANSWER_SLACK: Duration = Duration::from_secs(10);

/// Header with the command's exit code.
pub const EXIT_CODE_HEADER: &str = "flotilla-exit-code";
/// Header with the signal that killed the command.
pub const EXIT_SIGNAL_HEADER: &str = "flotilla-exit-signal";
/// Header present when the command ran past its timeout.
pub const TIMED_OUT_HEADER: &str = "flotilla-exec-timed-out";
/// Header present when the output was cut.
pub const TRUNCATED_HEADER: &str = "flotilla-output-truncated";

/// The query of an exec request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOptions {
    pub container: Option<String>,
    pub command: Vec<String>,
    pub timeout_s: u32,
}

impl ExecOptions {
    pub fn parse(query: Option<&str>) -> Result<ExecOptions, ApiError> {
        let mut options = ExecOptions {
            container: None,
            command: Vec::new(),
            timeout_s: EXEC_TIMEOUT_DEFAULT_S,
        };
        let interactive = |param: &'static str, value: &str| {
            if matches!(value, "true" | "1") {
                Err(ApiError::BadQuery {
                    param,
                    value: value.to_string(),
                    problem: "interactive exec is not supported: Flotilla runs commands without stdin or a terminal".to_string(),
                })
            } else {
                Ok(())
            }
        };
        for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            match key.as_ref() {
                "container" if !value.is_empty() => options.container = Some(value.into_owned()),
                "command" => options.command.push(value.into_owned()),
                "stdin" => interactive("stdin", &value)?,
                "tty" => interactive("tty", &value)?,
                "timeoutSeconds" => {
                    options.timeout_s = value
                        .parse()
                        .ok()
                        .filter(|s| (1..=EXEC_TIMEOUT_MAX_S).contains(s))
                        .ok_or_else(|| ApiError::BadQuery {
                            param: "timeoutSeconds",
                            value: value.to_string(),
                            problem: format!("expected 1 to {EXEC_TIMEOUT_MAX_S} seconds"),
                        })?
                }
                _ => {}
            }
        }
        if options.command.is_empty() {
            return Err(ApiError::BadQuery {
                param: "command",
                value: String::new(),
                problem: "you must specify at least one command for the container".to_string(),
            });
        }
        Ok(options)
    }
}

pub async fn exec(
    state: &ApiState,
    namespace: &str,
    name: &str,
    query: Option<&str>,
) -> Result<Response<ResponseBody>, ApiError> {
    let options = ExecOptions::parse(query)?;
    let target = pod_target::resolve(state, namespace, name, options.container.as_deref()).await?;
    let call = ExecCall::new(
        target.pod.clone(),
        target.container.clone(),
        options.command,
        options.timeout_s,
    )
    .map_err(|e| ApiError::BadQuery {
        param: "command",
        value: String::new(),
        problem: e.to_string(),
    })?;
    let mut stream = target
        .tunnel
        .call(&target.node, TunnelCall::Exec(call))
        .await?;
    let wait = Duration::from_secs(options.timeout_s.into()) + EXEC_ANSWER_SLACK;
    let first = first_frame(&mut stream, wait).await?;
    if let Some(error) = failure(target.node.as_str(), &first) {
        return Err(error);
    }
    let TunnelFrame::Exited(exit) = first else {
        return Err(TunnelError::Broken {
            node: target.node.clone(),
            problem: "an exec answer must start with how the command ended".to_string(),
        }
        .into());
    };
    let (tx, rx) = mpsc::channel(STREAM_BUFFER_CHUNKS);
    tokio::spawn(forward(
        stream,
        tx,
        state.shutdown.clone(),
        Some(EXEC_OUTPUT_BYTES_MAX),
    ));
    let mut response = Response::new(ChunkStream(rx).boxed());
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Some(code) = exit.exit_code {
        headers.insert(EXIT_CODE_HEADER, HeaderValue::from(code));
    }
    if let Some(signal) = exit.signal {
        headers.insert(EXIT_SIGNAL_HEADER, HeaderValue::from(signal));
    }
    if exit.timed_out {
        headers.insert(TIMED_OUT_HEADER, HeaderValue::from_static("true"));
    }
    if exit.output_truncated {
        headers.insert(TRUNCATED_HEADER, HeaderValue::from_static("true"));
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_comes_as_repeated_parameters() {
        let options = ExecOptions::parse(Some(
            "container=web&command=sh&command=-c&command=echo+hi%3B+exit+3&stdout=true&stderr=true",
        ))
        .unwrap();
        assert_eq!(options.container.as_deref(), Some("web"));
        assert_eq!(options.command, ["sh", "-c", "echo hi; exit 3"]);
        assert_eq!(options.timeout_s, EXEC_TIMEOUT_DEFAULT_S);
    }

    #[test]
    fn no_command_and_interactive_sessions_are_refused() {
        assert!(ExecOptions::parse(Some("container=web")).is_err());
        let error = ExecOptions::parse(Some("command=sh&stdin=true")).unwrap_err();
        assert!(error
            .to_string()
            .contains("interactive exec is not supported"));
        assert!(ExecOptions::parse(Some("command=sh&tty=true")).is_err());
        assert!(ExecOptions::parse(Some("command=sh&timeoutSeconds=0")).is_err());
        assert_eq!(
            ExecOptions::parse(Some("command=sh&timeoutSeconds=5"))
                .unwrap()
                .timeout_s,
            5
        );
    }
}
