//! The reverse tunnel, agent side: the agent keeps a requests long-poll open on its master
//! (over its own mTLS connection, so a node behind NAT is reachable), serves each request it
//! receives in a task of its own and streams the answer back as frames (`wire::tunnel`).
//!
//! Requests pass the same epoch fence as assignments: a batch stamped with an epoch older than
//! the highest one the sync admitted (a deposed master) is refused request by request, never
//! served.
//!
//! An answer ends when the handler is done or when the master no longer wants it (the
//! client of a followed log went away): the master then answers the agent's POST, the
//! link returns, and [`FrameSink::closed`] tells the handler to stop.
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, watch, Semaphore};

use crate::wire::tunnel::{encode_frame, OUTPUT_CHUNK_BYTES_MAX};
use crate::wire::{
    Epoch, FailureReason, NodeName, RequestId, TunnelCall, TunnelFailure, TunnelFrame,
    TunnelRequest, TunnelRequests,
};

use super::link::LinkError;

/// Encoded frames buffered between a handler and the connection carrying its answer.
pub const ANSWER_BUFFER_FRAMES: usize = 4;

/// Settings of the requests loop.
#[derive(Debug, Clone, Copy)]
pub struct RequestsConfig {
    /// How long one poll waits at the master (the master caps it at 30 s).
    pub poll_wait: Duration,
    /// First pause after a failed poll, doubled up to `retry_max`.
    pub retry_min: Duration,
    pub retry_max: Duration,
    /// Answers served at once; more are refused as busy.
    pub answers_max: usize,
}

impl Default for RequestsConfig {
    fn default() -> RequestsConfig {
        RequestsConfig {
            poll_wait: Duration::from_secs(30),
            retry_min: Duration::from_millis(250),
            retry_max: Duration::from_secs(5),
            answers_max: 16,
        }
    }
}

/// The calls of the tunnel, as a trait so that the loop is tested without a network.
pub trait TunnelLink: Send + Sync + 'static {
    /// Waits up to `wait` for requests.
    fn poll_requests(
        &self,
        node: &NodeName,
        wait: Duration,
    ) -> impl Future<Output = Result<TunnelRequests, LinkError>> + Send;

    /// Streams encoded frames as the answer to request `id`; returns when the master has
    /// answered (the requester is done) or the connection failed.
    fn answer(
        &self,
        node: &NodeName,
        id: RequestId,
        frames: mpsc::Receiver<Bytes>,
    ) -> impl Future<Output = Result<(), LinkError>> + Send;
}

/// Serves tunnel calls; implemented over the agent daemon by `answers::AgentAnswers`.
pub trait RequestHandler: Send + Sync + 'static {
    /// Serves `call`, writing its answer to `out`. Must return soon after `out` closes.
    fn serve(&self, call: TunnelCall, out: FrameSink) -> impl Future<Output = ()> + Send;
}

/// The master no longer reads this answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the master no longer reads this answer")]
pub struct AnswerClosed;

/// Where a handler writes its answer.
pub struct FrameSink {
    frames: mpsc::Sender<Bytes>,
    stopped: watch::Receiver<bool>,
}

impl FrameSink {
    /// A sink feeding `frames` until `stopped` turns true.
    pub fn new(frames: mpsc::Sender<Bytes>, stopped: watch::Receiver<bool>) -> FrameSink {
        FrameSink { frames, stopped }
    }

    /// Sends one frame.
    pub async fn send(&self, frame: TunnelFrame) -> Result<(), AnswerClosed> {
        if *self.stopped.borrow() {
            return Err(AnswerClosed);
        }
        let bytes = match encode_frame(frame) {
            Ok(bytes) => bytes,
            Err(error) => {
                tracing::warn!(%error, "a tunnel frame could not be encoded");
                return Err(AnswerClosed);
            }
        };
        self.frames
            .send(Bytes::from(bytes))
            .await
            .map_err(|_| AnswerClosed)
    }

    /// Sends output in chunks; always at least one frame, so an empty output still says
    /// that the request went well.
    pub async fn output(&self, bytes: &[u8]) -> Result<(), AnswerClosed> {
        if bytes.is_empty() {
            return self.send(TunnelFrame::Output(Vec::new())).await;
        }
        for chunk in bytes.chunks(OUTPUT_CHUNK_BYTES_MAX) {
            self.send(TunnelFrame::Output(chunk.to_vec())).await?;
        }
        Ok(())
    }

    /// Sends a failure.
    pub async fn fail(&self, reason: FailureReason, message: impl Into<String>) {
        let _ = self
            .send(TunnelFrame::Failed(TunnelFailure::new(reason, message)))
            .await;
    }

    /// Resolves when the master no longer reads the answer.
    pub async fn closed(&self) {
        let mut stopped = self.stopped.clone();
        tokio::select! {
            _ = self.frames.closed() => {}
            _ = stopped.wait_for(|stop| *stop) => {}
        }
    }
}

/// Serves one request: the handler and the answer's connection side by side.
async fn serve_one<L: TunnelLink, H: RequestHandler>(
    link: Arc<L>,
    handler: Arc<H>,
    node: NodeName,
    request: TunnelRequest,
) {
    let TunnelRequest { id, call } = request;
    let kind = call.kind();
    let (frames, body) = mpsc::channel(ANSWER_BUFFER_FRAMES);
    let (stop, stopped) = watch::channel(false);
    let sink = FrameSink::new(frames, stopped);
    let answering = async {
        let result = link.answer(&node, id, body).await;
        stop.send_replace(true);
        result
    };
    let ((), answered) = tokio::join!(handler.serve(call, sink), answering);
    match answered {
        Ok(()) => tracing::info!(%id, kind, "tunnel request answered"),
        Err(error) => tracing::info!(%id, kind, %error, "tunnel answer failed"),
    }
}

/// Answers a request with a failure instead of serving it.
async fn refuse<L: TunnelLink>(link: Arc<L>, node: NodeName, id: RequestId, message: String) {
    let (frames, body) = mpsc::channel(1);
    let (_stop, stopped) = watch::channel(false);
    FrameSink::new(frames, stopped)
        .fail(FailureReason::Unavailable, message)
        .await;
    let _ = link.answer(&node, id, body).await;
}

/// Polls for requests and serves them until `shutdown` turns true. `epoch_seen` is the
/// highest master epoch the sync's fence admitted.
pub async fn run<L: TunnelLink, H: RequestHandler>(
    link: Arc<L>,
    handler: Arc<H>,
    node: NodeName,
    config: RequestsConfig,
    epoch_seen: watch::Receiver<Epoch>,
    mut shutdown: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(config.answers_max));
    let mut pause = config.retry_min;
    loop {
        let polled = tokio::select! {
            polled = link.poll_requests(&node, config.poll_wait) => polled,
            _ = shutdown.wait_for(|stop| *stop) => return,
        };
        let requests = match polled {
            Ok(requests) => {
                pause = config.retry_min;
                requests
            }
            Err(error) => {
                if let LinkError::Refused(refusal) = &error {
                    tracing::warn!(%refusal, "the master refused the requests poll");
                }
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = shutdown.wait_for(|stop| *stop) => return,
                }
                pause = (pause * 2).min(config.retry_max);
                continue;
            }
        };
        let highest = *epoch_seen.borrow();
        if requests.epoch < highest {
            tracing::warn!(
                got = %requests.epoch,
                %highest,
                "refusing tunnel requests from an older master epoch (a deposed master?)"
            );
            for request in requests.requests {
                let message = format!(
                    "node {node} refuses a request from master epoch {}: epoch {highest} was already seen (a deposed master?)",
                    requests.epoch
                );
                tokio::spawn(refuse(link.clone(), node.clone(), request.id, message));
            }
            continue;
        }
        for request in requests.requests {
            let (link, node) = (link.clone(), node.clone());
            match slots.clone().try_acquire_owned() {
                Ok(permit) => {
                    let handler = handler.clone();
                    tokio::spawn(async move {
                        let _permit = permit;
                        serve_one(link, handler, node, request).await;
                    });
                }
                Err(_) => {
                    let message = format!(
                        "node {node} is serving {} requests already; try again later",
                        config.answers_max
                    );
                    tokio::spawn(refuse(link, node, request.id, message));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Epoch, FrameReader};
    use std::collections::HashMap;
    use std::sync::Mutex;

    /// A link that hands out given requests once, then waits; answers are read to the end,
    /// or up to `read_frames` frames before it "goes away".
    struct ScriptedLink {
        pending: Mutex<Vec<TunnelRequest>>,
        answers: Mutex<HashMap<RequestId, Vec<TunnelFrame>>>,
        read_frames: usize,
        done: tokio::sync::Notify,
    }

    impl TunnelLink for ScriptedLink {
        async fn poll_requests(
            &self,
            _node: &NodeName,
            wait: Duration,
        ) -> Result<TunnelRequests, LinkError> {
            let requests = std::mem::take(&mut *self.pending.lock().unwrap());
            if requests.is_empty() {
                tokio::time::sleep(wait).await;
            }
            Ok(TunnelRequests {
                epoch: Epoch(1),
                requests,
            })
        }

        async fn answer(
            &self,
            _node: &NodeName,
            id: RequestId,
            mut frames: mpsc::Receiver<Bytes>,
        ) -> Result<(), LinkError> {
            let mut reader = FrameReader::default();
            let mut got = Vec::new();
            while got.len() < self.read_frames {
                let Some(bytes) = frames.recv().await else {
                    break;
                };
                reader.push(&bytes);
                while let Some(frame) = reader.next_frame().unwrap() {
                    got.push(frame);
                }
            }
            self.answers.lock().unwrap().insert(id, got);
            self.done.notify_one();
            Ok(())
        }
    }

    /// Writes "tick" frames forever (a followed log), counting how many it wrote.
    struct Endless(Arc<Mutex<usize>>);

    impl RequestHandler for Endless {
        async fn serve(&self, _call: TunnelCall, out: FrameSink) {
            loop {
                tokio::select! {
                    sent = out.output(b"tick\n") => if sent.is_err() { return },
                    _ = out.closed() => return,
                }
                *self.0.lock().unwrap() += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }

    fn link(requests: Vec<TunnelRequest>, read_frames: usize) -> Arc<ScriptedLink> {
        Arc::new(ScriptedLink {
            pending: Mutex::new(requests),
            answers: Mutex::new(HashMap::new()),
            read_frames,
            done: tokio::sync::Notify::new(),
        })
    }

    #[tokio::test(start_paused = true)]
    async fn a_followed_answer_stops_when_the_master_stops_reading() {
        let request = TunnelRequest {
            id: RequestId(7),
            call: TunnelCall::Stats,
        };
        let link = link(vec![request], 3);
        let written = Arc::new(Mutex::new(0));
        let (stop, shutdown) = watch::channel(false);
        let node = NodeName::new("pi-1").unwrap();
        let task = tokio::spawn(run(
            link.clone(),
            Arc::new(Endless(written.clone())),
            node,
            RequestsConfig::default(),
            watch::channel(Epoch(1)).1,
            shutdown,
        ));
        link.done.notified().await;
        assert_eq!(link.answers.lock().unwrap()[&RequestId(7)].len(), 3);
        tokio::time::sleep(Duration::from_secs(5)).await;
        let after_stop = *written.lock().unwrap();
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(
            *written.lock().unwrap(),
            after_stop,
            "the handler kept going"
        );
        assert!(after_stop <= 3 + ANSWER_BUFFER_FRAMES + 1);
        stop.send_replace(true);
        task.await.unwrap();
    }

    /// Answers with one output frame per call.
    struct Once;

    impl RequestHandler for Once {
        async fn serve(&self, _call: TunnelCall, out: FrameSink) {
            let _ = out.output(b"").await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn requests_beyond_the_limit_are_refused_as_busy() {
        let requests: Vec<TunnelRequest> = (1..=3)
            .map(|n| TunnelRequest {
                id: RequestId(n),
                call: TunnelCall::Stats,
            })
            .collect();
        let link = link(requests, 1);
        let (stop, shutdown) = watch::channel(false);
        let config = RequestsConfig {
            answers_max: 0,
            ..RequestsConfig::default()
        };
        let node = NodeName::new("pi-1").unwrap();
        let epoch_seen = watch::channel(Epoch(1)).1;
        let task = tokio::spawn(run(
            link.clone(),
            Arc::new(Once),
            node,
            config,
            epoch_seen,
            shutdown,
        ));
        while link.answers.lock().unwrap().len() < 3 {
            link.done.notified().await;
        }
        for frames in link.answers.lock().unwrap().values() {
            assert!(matches!(
                &frames[0],
                TunnelFrame::Failed(TunnelFailure {
                    reason: FailureReason::Unavailable,
                    ..
                })
            ));
        }
        stop.send_replace(true);
        task.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn requests_from_an_older_master_epoch_are_refused_unserved() {
        let request = TunnelRequest {
            id: RequestId(9),
            call: TunnelCall::Stats,
        };
        // The link stamps its batches with epoch 1; the sync has admitted epoch 2 since.
        let link = link(vec![request], 1);
        let served = Arc::new(Mutex::new(0));
        let (stop, shutdown) = watch::channel(false);
        let node = NodeName::new("pi-1").unwrap();
        let task = tokio::spawn(run(
            link.clone(),
            Arc::new(Endless(served.clone())),
            node,
            RequestsConfig::default(),
            watch::channel(Epoch(2)).1,
            shutdown,
        ));
        link.done.notified().await;
        match &link.answers.lock().unwrap()[&RequestId(9)][0] {
            TunnelFrame::Failed(failure) => {
                assert_eq!(failure.reason, FailureReason::Unavailable);
                assert!(
                    failure.message.contains("epoch 1") && failure.message.contains("epoch 2"),
                    "{}",
                    failure.message
                );
            }
            other => panic!("a stale request was answered with {other:?}"),
        }
        assert_eq!(*served.lock().unwrap(), 0, "the stale request was served");
        stop.send_replace(true);
        task.await.unwrap();
    }
}
