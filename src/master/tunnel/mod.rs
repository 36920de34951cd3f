//! The reverse tunnel, master side: how `logs`, `exec` and `top` reach an agent that dialled
//! out. A requester queues a call ([`Tunnel::call`]); the node's agent, which keeps a requests
//! long-poll open over its own mTLS connection ([`Tunnel::poll`]), receives it and POSTs the
//! answer, whose body is handed to the requester as it streams ([`Tunnel::answer`]). The
//! agent's POST is answered only once the requester is done with the body, so a followed log
//! ends on the agent as soon as the client goes away.
//!
//! Everything is bounded: requests per node ([`book::TunnelLimits`]), the wait for an agent to
//! start answering ([`TunnelConfig::answer_start_timeout`]), the poll's length, frame sizes.
pub mod book;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::BodyExt;
use tokio::sync::{oneshot, watch};

use crate::wire::{
    tunnel::REQUESTS_PER_POLL_MAX, Epoch, FrameReader, NodeName, RequestId, TunnelCall,
    TunnelFrame, TunnelRequests, WireError,
};

pub use book::{ClaimRefusal, QueueRefusal, TunnelBook, TunnelLimits};

/// The body of an agent's answer, as the HTTP layer received it.
pub type AnswerBody = UnsyncBoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

/// Settings of the tunnel.
#[derive(Debug, Clone, Copy)]
pub struct TunnelConfig {
    pub limits: TunnelLimits,
    /// How long a requester waits for the agent to start answering (picking the request up
    /// with its next poll, then POSTing).
    pub answer_start_timeout: Duration,
    /// The longest a requests poll is held open.
    pub poll_max: Duration,
}

impl Default for TunnelConfig {
    fn default() -> TunnelConfig {
        TunnelConfig {
            limits: TunnelLimits::default(),
            answer_start_timeout: Duration::from_secs(10),
            poll_max: Duration::from_secs(30),
        }
    }
}

/// Why a call through the tunnel failed.
#[derive(Debug, thiserror::Error)]
pub enum TunnelError {
    /// the node's agent holds no requests poll open
    #[error("node {node} has no open connection to this master (is its agent running?)")]
    NotConnected { node: NodeName },
    /// the node has as many requests in flight as allowed
    #[error("node {node} is busy with {limit} requests; try again later")]
    Busy { node: NodeName, limit: usize },
    /// the agent did not start answering in time
    #[error("node {node} did not answer within {} s", waited.as_secs())]
    NoAnswer { node: NodeName, waited: Duration },
    /// the node was deleted while the request was in flight
    #[error("node {node} was deleted")]
    NodeGone { node: NodeName },
    /// the answer's body broke off or could not be read
    #[error("the answer from node {node} broke off: {problem}")]
    Broken { node: NodeName, problem: String },
}

/// What a requester receives: the agent's body and a signal that ends the agent's POST.
struct Answer {
    body: AnswerBody,
    done: oneshot::Sender<()>,
}

#[derive(Default)]
struct Shared {
    book: TunnelBook,
    /// A counter per node, bumped when something is queued for it, that its polls wait on.
    wakers: HashMap<NodeName, watch::Sender<u64>>,
    /// Requesters waiting for an agent to start answering, by request.
    waiting: HashMap<RequestId, oneshot::Sender<Answer>>,
}

/// The master's end of the reverse tunnel, shared by the REST handlers and the agent routes.
pub struct Tunnel {
    config: TunnelConfig,
    epoch: Epoch,
    shared: Mutex<Shared>,
}

/// Gives a request up (drops it from the book) when the requester goes away at any point.
struct InFlight<'a> {
    tunnel: &'a Tunnel,
    id: RequestId,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut shared = self.tunnel.shared();
        shared.book.finish(self.id);
        shared.waiting.remove(&self.id);
    }
}

/// An answer being read: frames as they arrive.
pub struct AnswerStream {
    node: NodeName,
    body: AnswerBody,
    reader: FrameReader,
    ended: bool,
    /// Dropped with the stream: the agent's POST is then answered.
    _done: oneshot::Sender<()>,
    /// Takes the request out of the book when the stream is dropped.
    _finish: FinishGuard,
}

struct FinishGuard {
    tunnel: Arc<Tunnel>,
    id: RequestId,
}

impl Drop for FinishGuard {
    fn drop(&mut self) {
        self.tunnel.shared().book.finish(self.id);
    }
}

impl AnswerStream {
    /// The next frame; `None` at the end of the answer.
    pub async fn next_frame(&mut self) -> Result<Option<TunnelFrame>, TunnelError> {
        loop {
            match self.reader.next_frame() {
                Ok(Some(frame)) => return Ok(Some(frame)),
                Ok(None) => {}
                Err(e) => return Err(self.broken(e)),
            }
            if self.ended {
                return match self.reader.finish() {
                    Ok(()) => Ok(None),
                    Err(e) => Err(self.broken(e)),
                };
            }
            match self.body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.reader.push(&data);
                    }
                }
                Some(Err(e)) => {
                    return Err(TunnelError::Broken {
                        node: self.node.clone(),
                        problem: e.to_string(),
                    })
                }
                None => self.ended = true,
            }
        }
    }

    fn broken(&self, error: WireError) -> TunnelError {
        TunnelError::Broken {
            node: self.node.clone(),
            problem: error.to_string(),
        }
    }

    /// The node answering.
    pub fn node(&self) -> &NodeName {
        &self.node
    }
}

impl Tunnel {
    pub fn new(epoch: Epoch, config: TunnelConfig) -> Tunnel {
        Tunnel {
            config,
            epoch,
            shared: Mutex::new(Shared {
                book: TunnelBook::new(config.limits),
                ..Shared::default()
            }),
        }
    }

    pub fn config(&self) -> &TunnelConfig {
        &self.config
    }

    fn shared(&self) -> MutexGuard<'_, Shared> {
        // Each update is a few map operations that leave the tables consistent: serve on.
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `node`'s agent can be reached now.
    pub fn connected(&self, node: &NodeName) -> bool {
        self.shared().book.connected(node, Instant::now())
    }

    /// Sends `call` to `node`'s agent and waits until it starts answering.
    pub async fn call(
        self: &Arc<Self>,
        node: &NodeName,
        call: TunnelCall,
    ) -> Result<AnswerStream, TunnelError> {
        let kind = call.kind();
        let (id, answer) = {
            let mut shared = self.shared();
            let id = shared
                .book
                .enqueue(node, call, Instant::now())
                .map_err(|refusal| match refusal {
                    QueueRefusal::NotConnected => TunnelError::NotConnected { node: node.clone() },
                    QueueRefusal::Busy { limit } => TunnelError::Busy {
                        node: node.clone(),
                        limit,
                    },
                })?;
            let (tx, rx) = oneshot::channel();
            shared.waiting.insert(id, tx);
            if let Some(waker) = shared.wakers.get(node) {
                waker.send_modify(|n| *n = n.wrapping_add(1));
            }
            (id, rx)
        };
        tracing::debug!(%node, %id, kind, "tunnel request queued");
        let in_flight = InFlight { tunnel: self, id };
        let waited = self.config.answer_start_timeout;
        let answer = match tokio::time::timeout(waited, answer).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => return Err(TunnelError::NodeGone { node: node.clone() }),
            Err(_) => {
                return Err(TunnelError::NoAnswer {
                    node: node.clone(),
                    waited,
                })
            }
        };
        // From here the stream's guard finishes the request.
        std::mem::forget(in_flight);
        Ok(AnswerStream {
            node: node.clone(),
            body: answer.body,
            reader: FrameReader::default(),
            ended: false,
            _done: answer.done,
            _finish: FinishGuard {
                tunnel: self.clone(),
                id,
            },
        })
    }

    /// The agent's requests poll: what is queued for `node`, waiting up to `wait` (at most
    /// [`TunnelConfig::poll_max`]) for something to arrive.
    pub async fn poll(&self, node: &NodeName, wait: Duration) -> TunnelRequests {
        let wait = wait.min(self.config.poll_max);
        let mut woken = {
            let mut shared = self.shared();
            shared.book.poll_opened(node);
            shared
                .wakers
                .entry(node.clone())
                .or_insert_with(|| watch::channel(0).0)
                .subscribe()
        };
        struct Open<'a>(&'a Tunnel, &'a NodeName);
        impl Drop for Open<'_> {
            fn drop(&mut self) {
                self.0.shared().book.poll_closed(self.1, Instant::now());
            }
        }
        let _open = Open(self, node);
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let requests = self.shared().book.take(node, REQUESTS_PER_POLL_MAX);
            if !requests.is_empty() {
                return TunnelRequests {
                    epoch: self.epoch,
                    requests,
                };
            }
            match tokio::time::timeout_at(deadline, woken.changed()).await {
                Ok(Ok(())) => continue,
                _ => {
                    return TunnelRequests {
                        epoch: self.epoch,
                        requests: Vec::new(),
                    }
                }
            }
        }
    }

    /// The agent of `node` answers request `id` with `body`. Returns once the requester is
    /// done with the body (read to its end, or given up because its client went away).
    pub async fn answer(
        &self,
        node: &NodeName,
        id: RequestId,
        body: AnswerBody,
    ) -> Result<(), ClaimRefusal> {
        let waiter = {
            let mut shared = self.shared();
            shared.book.claim(node, id)?;
            shared.waiting.remove(&id)
        };
        let Some(waiter) = waiter else {
            self.shared().book.finish(id);
            return Err(ClaimRefusal::Unknown);
        };
        let (done, finished) = oneshot::channel();
        if waiter.send(Answer { body, done }).is_err() {
            // The requester went away between the claim and now.
            self.shared().book.finish(id);
            return Err(ClaimRefusal::Unknown);
        }
        // Resolves (with an error) when the requester drops its stream.
        let _ = finished.await;
        Ok(())
    }

    /// Forgets a deleted node: its requesters get [`TunnelError::NodeGone`] and its polls end.
    pub fn forget_node(&self, node: &NodeName) {
        let mut shared = self.shared();
        for id in shared.book.forget_node(node) {
            shared.waiting.remove(&id);
        }
        shared.wakers.remove(node);
    }

    /// Requests in flight on every node (for metrics and tests).
    pub fn in_flight(&self) -> usize {
        self.shared().book.total_in_flight()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::tunnel::encode_frame;
    use http_body_util::Full;

    fn pi(n: u32) -> NodeName {
        NodeName::new(format!("pi-{n}")).unwrap()
    }

    fn body(frames: Vec<TunnelFrame>) -> AnswerBody {
        let bytes: Vec<u8> = frames
            .into_iter()
            .flat_map(|f| encode_frame(f).unwrap())
            .collect();
        Full::new(Bytes::from(bytes))
            .map_err(|never| match never {})
            .boxed_unsync()
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_to_a_node_without_a_poll_fails_at_once_with_its_name() {
        let tunnel = Arc::new(Tunnel::new(Epoch(1), TunnelConfig::default()));
        let error = tunnel.call(&pi(2), TunnelCall::Stats).await.err().unwrap();
        assert_eq!(
            error.to_string(),
            "node pi-2 has no open connection to this master (is its agent running?)"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_queued_call_wakes_the_poll_and_the_answer_streams_back() {
        let tunnel = Arc::new(Tunnel::new(Epoch(4), TunnelConfig::default()));
        let poll = {
            let tunnel = tunnel.clone();
            tokio::spawn(async move { tunnel.poll(&pi(1), Duration::from_secs(30)).await })
        };
        tokio::task::yield_now().await;
        let caller = {
            let tunnel = tunnel.clone();
            tokio::spawn(async move {
                let mut stream = tunnel.call(&pi(1), TunnelCall::Stats).await.unwrap();
                let mut frames = Vec::new();
                while let Some(frame) = stream.next_frame().await.unwrap() {
                    frames.push(frame);
                }
                frames
            })
        };
        let handed = poll.await.unwrap();
        assert_eq!(handed.epoch, Epoch(4));
        assert_eq!(handed.requests.len(), 1);
        let id = handed.requests[0].id;
        let frames = vec![
            TunnelFrame::Output(b"a".to_vec()),
            TunnelFrame::Output(b"b".to_vec()),
        ];
        tunnel
            .answer(&pi(1), id, body(frames.clone()))
            .await
            .unwrap();
        assert_eq!(caller.await.unwrap(), frames);
        assert_eq!(tunnel.in_flight(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_the_agent_never_answers_times_out_and_leaves_nothing_behind() {
        let tunnel = Arc::new(Tunnel::new(Epoch(1), TunnelConfig::default()));
        let poll = {
            let tunnel = tunnel.clone();
            tokio::spawn(async move { tunnel.poll(&pi(1), Duration::from_secs(30)).await })
        };
        tokio::task::yield_now().await;
        let error = tunnel.call(&pi(1), TunnelCall::Stats).await.err().unwrap();
        assert!(matches!(error, TunnelError::NoAnswer { .. }), "{error}");
        let id = poll.await.unwrap().requests[0].id;
        assert_eq!(tunnel.in_flight(), 0);
        assert_eq!(
            tunnel.answer(&pi(1), id, body(vec![])).await,
            Err(ClaimRefusal::Unknown)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_empty_poll_ends_after_its_wait_and_the_node_stays_connected_for_the_grace() {
        let tunnel = Tunnel::new(Epoch(1), TunnelConfig::default());
        let answer = tunnel.poll(&pi(1), Duration::from_secs(90)).await;
        assert!(answer.requests.is_empty());
        assert!(tunnel.connected(&pi(1)));
    }

    #[tokio::test(start_paused = true)]
    async fn the_agents_post_ends_when_the_requester_drops_the_stream() {
        let tunnel = Arc::new(Tunnel::new(Epoch(1), TunnelConfig::default()));
        let poll = {
            let tunnel = tunnel.clone();
            tokio::spawn(async move { tunnel.poll(&pi(1), Duration::from_secs(30)).await })
        };
        tokio::task::yield_now().await;
        let caller = {
            let tunnel = tunnel.clone();
            tokio::spawn(async move {
                let mut stream = tunnel.call(&pi(1), TunnelCall::Stats).await.unwrap();
                // Reads one frame and goes away, like a client that disconnects.
                stream.next_frame().await.unwrap()
            })
        };
        let id = poll.await.unwrap().requests[0].id;
        // An endless body: the answer returns only because the requester dropped it.
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(1);
        let first = encode_frame(TunnelFrame::Output(b"x".to_vec())).unwrap();
        tx.send(Bytes::from(first)).await.unwrap();
        struct Endless(tokio::sync::mpsc::Receiver<Bytes>);
        impl hyper::body::Body for Endless {
            type Data = Bytes;
            type Error = Box<dyn std::error::Error + Send + Sync>;
            fn poll_frame(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>>
            {
                self.0
                    .poll_recv(cx)
                    .map(|b| b.map(|b| Ok(hyper::body::Frame::data(b))))
            }
        }
        tunnel
            .answer(&pi(1), id, Endless(rx).boxed_unsync())
            .await
            .unwrap();
        assert_eq!(
            caller.await.unwrap(),
            Some(TunnelFrame::Output(b"x".to_vec()))
        );
        assert_eq!(tunnel.in_flight(), 0);
        drop(tx);
    }
}
