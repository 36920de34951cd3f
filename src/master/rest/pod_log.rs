//! `GET /api/v1/namespaces/{ns}/pods/{name}/log?container=&follow=&tailLines=&previous=&timestamps=`:
//! a container's log, read by the node's agent and streamed back through the reverse tunnel
//! as `text/plain`. With `follow=true` the stream stays open until the container stops or the
//! client goes away (the agent stops reading then).
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use tokio::sync::mpsc;

use super::pod_target;
use super::{ApiState, ResponseBody};
use crate::master::error::ApiError;
use crate::master::tunnel::{AnswerStream, TunnelError};
use crate::wire::{LogsCall, TunnelCall, TunnelFrame};

/// Chunks of output buffered between the agent's answer and the client.
pub const STREAM_BUFFER_CHUNKS: usize = 8;

/// The query of a log request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogOptions {
    pub container: Option<String>,
    pub follow: bool,
    pub previous: bool,
    pub tail_lines: Option<u64>,
    pub timestamps: bool,
}

fn flag(param: &'static str, value: &str) -> Result<bool, ApiError> {
    match value {
        "true" | "1" | "" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(ApiError::BadQuery {
            param,
            value: value.to_string(),
            problem: "expected true or false".to_string(),
        }),
    }
}

impl LogOptions {
    /// Parses the query string; unknown parameters are ignored, as Kubernetes does.
    pub fn parse(query: Option<&str>) -> Result<LogOptions, ApiError> {
        let mut options = LogOptions::default();
        for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            match key.as_ref() {
                "container" if !value.is_empty() => options.container = Some(value.into_owned()),
                "follow" => options.follow = flag("follow", &value)?,
                "previous" => options.previous = flag("previous", &value)?,
                "timestamps" => options.timestamps = flag("timestamps", &value)?,
                "tailLines" => {
                    // kubectl sends -1 for "all lines".
                    let lines: i64 = value.parse().map_err(|_| ApiError::BadQuery {
                        param: "tailLines",
                        value: value.to_string(),
                        problem: "expected an integer".to_string(),
                    })?;
                    options.tail_lines = u64::try_from(lines).ok();
                }
                _ => {}
            }
        }
        Ok(options)
    }
}

/// A response body fed by a task, one chunk at a time.
pub struct ChunkStream(pub mpsc::Receiver<Bytes>);

impl Body for ChunkStream {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|b| Ok(Frame::data(b))))
    }
}

/// The error an agent's first frame reports, if it reports one.
pub fn failure(node: &str, frame: &TunnelFrame) -> Option<ApiError> {
    match frame {
        TunnelFrame::Failed(failure) => Some(ApiError::OnNode {
            node: node.to_string(),
            reason: failure.reason,
            message: failure.message.clone(),
        }),
        _ => None,
    }
}

/// Forwards the `Output` frames of `stream` to `sink` until the answer ends, the client goes
/// away (the sink closes) or the server shuts down; at most `limit_bytes` when given.
pub async fn forward(
    mut stream: AnswerStream,
    sink: mpsc::Sender<Bytes>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
    limit_bytes: Option<usize>,
) {
    let mut sent = 0usize;
    loop {
        let frame = tokio::select! {
            frame = stream.next_frame() => frame,
            _ = sink.closed() => return,
            _ = shutdown.wait_for(|stop| *stop) => return,
        };
        match frame {
            Ok(Some(TunnelFrame::Output(bytes))) => {
                let mut bytes = Bytes::from(bytes);
                if let Some(limit) = limit_bytes {
                    let room = limit.saturating_sub(sent);
                    bytes.truncate(room);
                }
                sent += bytes.len();
                if !bytes.is_empty() && sink.send(bytes).await.is_err() {
                    return;
                }
            }
            Ok(Some(_)) => {}
            Ok(None) => return,
            Err(error) => {
                tracing::debug!(node = %stream.node(), %error, "answer broke off");
                return;
            }
        }
    }
}

/// Waits up to `wait` for the first frame of an answer; an answer without frames is broken.
pub async fn first_frame(
    stream: &mut AnswerStream,
    wait: std::time::Duration,
) -> Result<TunnelFrame, ApiError> {
    let node = stream.node().clone();
    match tokio::time::timeout(wait, stream.next_frame()).await {
        Err(_) => Err(TunnelError::NoAnswer { node, waited: wait }.into()),
        Ok(Err(error)) => Err(error.into()),
        Ok(Ok(None)) => Err(TunnelError::Broken {
            node,
            problem: "the answer ended before its first frame".to_string(),
        }
        .into()),
        Ok(Ok(Some(frame))) => Ok(frame),
    }
}

pub async fn log(
    state: &ApiState,
    namespace: &str,
    name: &str,
    query: Option<&str>,
) -> Result<Response<ResponseBody>, ApiError> {
    let options = LogOptions::parse(query)?;
    let target = pod_target::resolve(state, namespace, name, options.container.as_deref()).await?;
    let call = TunnelCall::Logs(LogsCall {
        pod: target.pod.clone(),
        container: target.container.clone(),
        follow: options.follow,
        previous: options.previous,
        tail_lines: options.tail_lines,
        timestamps: options.timestamps,
    });
    let mut stream = target.tunnel.call(&target.node, call).await?;
    // The agent starts every log answer with a frame (an empty `Output` when there is nothing
    // to show yet), so that errors arrive before the response's headers.
    let wait = target.tunnel.config().answer_start_timeout;
    let first = first_frame(&mut stream, wait).await?;
    if let Some(error) = failure(target.node.as_str(), &first) {
        return Err(error);
    }
    let (tx, rx) = mpsc::channel(STREAM_BUFFER_CHUNKS);
    if let TunnelFrame::Output(bytes) = first {
        if !bytes.is_empty() {
            let _ = tx.try_send(Bytes::from(bytes));
        }
    }
    tokio::spawn(forward(stream, tx, state.shutdown.clone(), None));
    let mut response = Response::new(ChunkStream(rx).boxed());
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_options_read_like_kubectl_sends_them() {
        let options = LogOptions::parse(Some(
            "container=web&follow=true&tailLines=20&previous=false",
        ))
        .unwrap();
        assert_eq!(
            options,
            LogOptions {
                container: Some("web".into()),
                follow: true,
                previous: false,
                tail_lines: Some(20),
                timestamps: false,
            }
        );
        assert_eq!(
            LogOptions::parse(Some("tailLines=-1")).unwrap().tail_lines,
            None
        );
        assert!(LogOptions::parse(Some("follow=maybe")).is_err());
        assert!(LogOptions::parse(Some("tailLines=ten")).is_err());
        assert_eq!(LogOptions::parse(None).unwrap(), LogOptions::default());
    }
}
