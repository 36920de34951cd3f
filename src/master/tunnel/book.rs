//! The tunnel's bookkeeping, without I/O: which nodes hold a requests poll open, what is
//! queued for each, what was handed out and what is being answered. The shell
//! ([`super::Tunnel`]) wraps it in a lock and adds the channels; time comes in as `now`.
use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use crate::wire::{NodeName, RequestId, TunnelCall, TunnelRequest};

/// The bounds of the tunnel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TunnelLimits {
    /// Requests waiting for a node's next poll.
    pub queue_per_node_max: usize,
    /// Requests of one node queued, handed out or being answered, together.
    pub in_flight_per_node_max: usize,
    /// A node whose poll ended this recently still counts as connected: its next poll is
    /// on its way.
    pub reconnect_grace: Duration,
}

impl Default for TunnelLimits {
    fn default() -> TunnelLimits {
        TunnelLimits {
            queue_per_node_max: 16,
            in_flight_per_node_max: 32,
            reconnect_grace: Duration::from_secs(5),
        }
    }
}

/// Why a request cannot be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueRefusal {
    /// The node holds no poll open and had none lately.
    NotConnected,
    /// The node has as many requests in flight as allowed.
    Busy { limit: usize },
}

/// Why an agent's answer is not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimRefusal {
    /// No request of that id was handed to this node (it was given up, or is another's).
    Unknown,
}

#[derive(Debug, Default)]
struct NodeLine {
    queue: VecDeque<TunnelRequest>,
    handed_out: HashSet<RequestId>,
    answering: HashSet<RequestId>,
    polls_open: u32,
    last_poll_end: Option<Instant>,
}

impl NodeLine {
    fn in_flight(&self) -> usize {
        self.queue.len() + self.handed_out.len() + self.answering.len()
    }

    fn idle(&self) -> bool {
        self.in_flight() == 0 && self.polls_open == 0
    }
}

/// Requests by node, from queued to answered.
#[derive(Debug, Default)]
pub struct TunnelBook {
    limits: TunnelLimits,
    next_id: u64,
    nodes: HashMap<NodeName, NodeLine>,
    owners: HashMap<RequestId, NodeName>,
}

impl TunnelBook {
    pub fn new(limits: TunnelLimits) -> TunnelBook {
        TunnelBook {
            limits,
            ..TunnelBook::default()
        }
    }

    pub fn limits(&self) -> TunnelLimits {
        self.limits
    }

    /// A poll of `node` started.
    pub fn poll_opened(&mut self, node: &NodeName) {
        self.nodes.entry(node.clone()).or_default().polls_open += 1;
    }

    /// A poll of `node` ended.
    pub fn poll_closed(&mut self, node: &NodeName, now: Instant) {
        if let Some(line) = self.nodes.get_mut(node) {
            line.polls_open = line.polls_open.saturating_sub(1);
            line.last_poll_end = Some(now);
        }
    }

    /// Whether `node` can be reached: a poll is open, or one ended within the grace.
    pub fn connected(&self, node: &NodeName, now: Instant) -> bool {
        self.nodes.get(node).is_some_and(|line| {
            line.polls_open > 0
                || line.last_poll_end.is_some_and(|end| {
                    now.saturating_duration_since(end) <= self.limits.reconnect_grace
                })
        })
    }

    /// Queues a call for `node`'s next poll.
    pub fn enqueue(
        &mut self,
        node: &NodeName,
        call: TunnelCall,
        now: Instant,
    ) -> Result<RequestId, QueueRefusal> {
        if !self.connected(node, now) {
            return Err(QueueRefusal::NotConnected);
        }
        let limits = self.limits;
        let line = self
            .nodes
            .get_mut(node)
            .expect("connected nodes have a line");
        if line.in_flight() >= limits.in_flight_per_node_max
            || line.queue.len() >= limits.queue_per_node_max
        {
            return Err(QueueRefusal::Busy {
                limit: limits.in_flight_per_node_max.min(limits.queue_per_node_max),
            });
        }
        self.next_id += 1;
        let id = RequestId(self.next_id);
        line.queue.push_back(TunnelRequest { id, call });
        self.owners.insert(id, node.clone());
        Ok(id)
    }

    /// Whether anything waits for `node`'s poll.
    pub fn has_queued(&self, node: &NodeName) -> bool {
        self.nodes.get(node).is_some_and(|l| !l.queue.is_empty())
    }

    /// Hands out up to `max` queued requests of `node`, oldest first.
    pub fn take(&mut self, node: &NodeName, max: usize) -> Vec<TunnelRequest> {
        let Some(line) = self.nodes.get_mut(node) else {
            return Vec::new();
        };
        let count = line.queue.len().min(max);
        let taken: Vec<TunnelRequest> = line.queue.drain(..count).collect();
        line.handed_out.extend(taken.iter().map(|r| r.id));
        taken
    }

    /// The agent of `node` starts answering request `id`.
    pub fn claim(&mut self, node: &NodeName, id: RequestId) -> Result<(), ClaimRefusal> {
        if self.owners.get(&id) != Some(node) {
            return Err(ClaimRefusal::Unknown);
        }
        let line = self.nodes.get_mut(node).ok_or(ClaimRefusal::Unknown)?;
        if !line.handed_out.remove(&id) {
            return Err(ClaimRefusal::Unknown);
        }
        line.answering.insert(id);
        Ok(())
    }

    /// Request `id` is over (answered, given up or failed), wherever it was.
    pub fn finish(&mut self, id: RequestId) {
        let Some(node) = self.owners.remove(&id) else {
            return;
        };
        if let Some(line) = self.nodes.get_mut(&node) {
            line.queue.retain(|r| r.id != id);
            line.handed_out.remove(&id);
            line.answering.remove(&id);
            if line.idle() && line.last_poll_end.is_none() {
                self.nodes.remove(&node);
            }
        }
    }

    /// Forgets a deleted node; returns the requests it had in flight.
    pub fn forget_node(&mut self, node: &NodeName) -> Vec<RequestId> {
        let Some(line) = self.nodes.remove(node) else {
            return Vec::new();
        };
        let ids: Vec<RequestId> = line
            .queue
            .iter()
            .map(|r| r.id)
            .chain(line.handed_out)
            .chain(line.answering)
            .collect();
        for id in &ids {
            self.owners.remove(id);
        }
        ids
    }

    /// Requests of `node` queued, handed out or being answered.
    pub fn in_flight(&self, node: &NodeName) -> usize {
        self.nodes.get(node).map_or(0, NodeLine::in_flight)
    }

    /// Requests in flight on every node.
    pub fn total_in_flight(&self) -> usize {
        self.owners.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pi(n: u32) -> NodeName {
        NodeName::new(format!("pi-{n}")).unwrap()
    }

    fn book() -> (TunnelBook, Instant) {
        (TunnelBook::new(TunnelLimits::default()), Instant::now())
    }

    #[test]
    fn a_node_that_never_polled_is_not_connected() {
        let (mut book, t0) = book();
        assert!(!book.connected(&pi(1), t0));
        assert_eq!(
            book.enqueue(&pi(1), TunnelCall::Stats, t0),
            Err(QueueRefusal::NotConnected)
        );
    }

    #[test]
    fn a_node_stays_connected_between_polls_for_the_grace_only() {
        let (mut book, t0) = book();
        book.poll_opened(&pi(1));
        assert!(book.connected(&pi(1), t0 + Duration::from_secs(600)));
        book.poll_closed(&pi(1), t0);
        assert!(book.connected(&pi(1), t0 + Duration::from_secs(5)));
        assert!(!book.connected(&pi(1), t0 + Duration::from_secs(6)));
    }

    #[test]
    fn requests_go_from_queue_to_agent_to_answer_to_done() {
        let (mut book, t0) = book();
        book.poll_opened(&pi(1));
        let a = book.enqueue(&pi(1), TunnelCall::Stats, t0).unwrap();
        let b = book.enqueue(&pi(1), TunnelCall::Stats, t0).unwrap();
        assert_ne!(a, b);
        assert!(book.has_queued(&pi(1)));
        let taken = book.take(&pi(1), 1);
        assert_eq!(taken.iter().map(|r| r.id).collect::<Vec<_>>(), [a]);
        assert_eq!(book.take(&pi(1), 8).len(), 1);
        assert!(!book.has_queued(&pi(1)));
        book.claim(&pi(1), a).unwrap();
        assert_eq!(book.in_flight(&pi(1)), 2);
        book.finish(a);
        book.finish(b);
        assert_eq!(book.in_flight(&pi(1)), 0);
        assert_eq!(book.total_in_flight(), 0);
    }

    #[test]
    fn an_answer_is_taken_once_and_only_from_the_node_it_was_handed_to() {
        let (mut book, t0) = book();
        book.poll_opened(&pi(1));
        book.poll_opened(&pi(2));
        let id = book.enqueue(&pi(1), TunnelCall::Stats, t0).unwrap();
        assert_eq!(
            book.claim(&pi(1), id),
            Err(ClaimRefusal::Unknown),
            "not handed out yet"
        );
        book.take(&pi(1), 8);
        assert_eq!(book.claim(&pi(2), id), Err(ClaimRefusal::Unknown));
        assert_eq!(book.claim(&pi(1), id), Ok(()));
        assert_eq!(book.claim(&pi(1), id), Err(ClaimRefusal::Unknown));
    }

    #[test]
    fn a_request_given_up_before_the_agent_answers_cannot_be_claimed() {
        let (mut book, t0) = book();
        book.poll_opened(&pi(1));
        let id = book.enqueue(&pi(1), TunnelCall::Stats, t0).unwrap();
        book.take(&pi(1), 8);
        book.finish(id);
        assert_eq!(book.claim(&pi(1), id), Err(ClaimRefusal::Unknown));
    }

    #[test]
    fn a_node_has_a_bounded_number_of_requests_in_flight() {
        let limits = TunnelLimits {
            queue_per_node_max: 2,
            in_flight_per_node_max: 3,
            reconnect_grace: Duration::from_secs(5),
        };
        let mut book = TunnelBook::new(limits);
        let t0 = Instant::now();
        book.poll_opened(&pi(1));
        book.enqueue(&pi(1), TunnelCall::Stats, t0).unwrap();
        book.enqueue(&pi(1), TunnelCall::Stats, t0).unwrap();
        assert!(matches!(
            book.enqueue(&pi(1), TunnelCall::Stats, t0),
            Err(QueueRefusal::Busy { .. })
        ));
        book.take(&pi(1), 8);
        book.enqueue(&pi(1), TunnelCall::Stats, t0).unwrap();
        assert!(matches!(
            book.enqueue(&pi(1), TunnelCall::Stats, t0),
            Err(QueueRefusal::Busy { .. })
        ));
    }

    #[test]
    fn a_deleted_node_gives_back_everything_it_had_in_flight() {
        let (mut book, t0) = book();
        book.poll_opened(&pi(1));
        let a = book.enqueue(&pi(1), TunnelCall::Stats, t0).unwrap();
        let b = book.enqueue(&pi(1), TunnelCall::Stats, t0).unwrap();
        book.take(&pi(1), 1);
        book.claim(&pi(1), a).unwrap();
        let mut gone = book.forget_node(&pi(1));
        gone.sort();
        assert_eq!(gone, [a, b]);
        assert_eq!(book.total_in_flight(), 0);
        assert!(!book.connected(&pi(1), t0));
    }
}
