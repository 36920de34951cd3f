//! Node liveness and the node lifecycle, sans-IO: heartbeats and `now` in, transitions out.
//!
//! The table lives in memory only. A heartbeat updates an `Instant` and, at most, returns a
//! transition; it never causes a disk write by itself (DESIGN.md §4, the SD-card rule). Only a
//! transition (Ready ⇄ NotReady) is worth persisting, and that is the shell's choice.
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::wire::NodeName;

/// How long a node may stay silent. Defaults from DESIGN.md §4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeTimings {
    /// Silence after which a node is suspect: not yet acted on, but reported.
    pub suspect_after: Duration,
    /// Silence after which a node is NotReady: tainted unreachable, its pods evicted per
    /// their tolerations.
    pub not_ready_after: Duration,
}

impl Default for NodeTimings {
    fn default() -> NodeTimings {
        NodeTimings {
            suspect_after: Duration::from_millis(2_500),
            not_ready_after: Duration::from_millis(4_500),
        }
    }
}

/// Why a node is not ready, which decides its taint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotReadyCause {
    /// No heartbeat for `not_ready_after`: Ready is `Unknown`, taint
    /// `node.kubernetes.io/unreachable:NoExecute`.
    Unreachable,
    /// The agent heartbeats but reports Ready=False: taint `node.kubernetes.io/not-ready`.
    AgentNotReady,
}

impl NotReadyCause {
    /// The NoExecute taint key Kubernetes uses for this cause.
    pub fn taint_key(self) -> &'static str {
        match self {
            NotReadyCause::Unreachable => TAINT_UNREACHABLE,
            NotReadyCause::AgentNotReady => TAINT_NOT_READY,
        }
    }
}

/// Taint on a node that stopped heartbeating.
pub const TAINT_UNREACHABLE: &str = crate::api::node::taint_key::UNREACHABLE;
/// Taint on a node whose agent reports it is not ready.
pub const TAINT_NOT_READY: &str = crate::api::node::taint_key::NOT_READY;

/// Where a node stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Ready,
    /// Silent for more than `suspect_after` since `since` (its last heartbeat).
    Suspect {
        since: Instant,
    },
    /// Not ready since `since` for `cause`.
    NotReady {
        since: Instant,
        cause: NotReadyCause,
    },
}

/// A change the shell acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// Silent long enough to worry: log and count, no write.
    BecameSuspect { node: NodeName },
    /// Set the Ready condition (`Unknown` when unreachable, `False` when the agent says so),
    /// add the cause's NoExecute taint, mark the node's pods not ready, and start the eviction
    /// clock at `since`.
    BecameNotReady {
        node: NodeName,
        cause: NotReadyCause,
        since: Instant,
    },
    /// Ready again: Ready=True, remove the NoExecute taints.
    BecameReady { node: NodeName },
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    last_heartbeat: Instant,
    agent_ready: bool,
    health: Health,
}

/// The liveness table: every known node, its last heartbeat and its health.
#[derive(Debug, Clone)]
pub struct NodeLifecycle {
    timings: NodeTimings,
    nodes: BTreeMap<NodeName, Entry>,
}

impl NodeLifecycle {
    pub fn new(timings: NodeTimings) -> NodeLifecycle {
        NodeLifecycle {
            timings,
            nodes: BTreeMap::new(),
        }
    }

    /// Takes in a node found in the store at start-up, or a node that just joined, as if it
    /// had heartbeated at `now`: a restarted master gives every node the full grace period to
    /// reach it before declaring anything, so a master restart never evicts a pod.
    pub fn adopt(&mut self, node: NodeName, now: Instant) {
        self.nodes.entry(node).or_insert(Entry {
            last_heartbeat: now,
            agent_ready: true,
            health: Health::Ready,
        });
    }

    /// Forgets a deleted node.
    pub fn forget(&mut self, node: &NodeName) {
        self.nodes.remove(node);
    }

    /// Whether the node is known (adopted or heartbeating).
    pub fn knows(&self, node: &NodeName) -> bool {
        self.nodes.contains_key(node)
    }

    pub fn health(&self, node: &NodeName) -> Option<Health> {
        self.nodes.get(node).map(|e| e.health)
    }

    pub fn last_heartbeat(&self, node: &NodeName) -> Option<Instant> {
        self.nodes.get(node).map(|e| e.last_heartbeat)
    }

    /// Nodes currently NotReady, with since when and why.
    pub fn not_ready(&self) -> impl Iterator<Item = (&NodeName, Instant, NotReadyCause)> {
        self.nodes.iter().filter_map(|(name, e)| match e.health {
            Health::NotReady { since, cause } => Some((name, since, cause)),
            _ => None,
        })
    }

    /// A heartbeat from `node`. `agent_ready` is the agent's own Ready condition when the
    /// heartbeat carried it (a change), `None` when it did not.
    pub fn heartbeat(
        &mut self,
        node: &NodeName,
        agent_ready: Option<bool>,
        now: Instant,
    ) -> Option<Transition> {
        let entry = self.nodes.entry(node.clone()).or_insert(Entry {
            last_heartbeat: now,
            agent_ready: true,
            health: Health::Ready,
        });
        entry.last_heartbeat = now;
        if let Some(ready) = agent_ready {
            entry.agent_ready = ready;
        }
        let wanted = if entry.agent_ready {
            Health::Ready
        } else {
            match entry.health {
                Health::NotReady {
                    cause: NotReadyCause::AgentNotReady,
                    ..
                } => entry.health,
                _ => Health::NotReady {
                    since: now,
                    cause: NotReadyCause::AgentNotReady,
                },
            }
        };
        Self::move_to(node, entry, wanted)
    }

    /// Advances the clock: nodes silent too long become suspect, then NotReady.
    pub fn tick(&mut self, now: Instant) -> Vec<Transition> {
        let timings = self.timings;
        let mut transitions = Vec::new();
        for (node, entry) in self.nodes.iter_mut() {
            let silent = now.saturating_duration_since(entry.last_heartbeat);
            let wanted = if silent >= timings.not_ready_after {
                match entry.health {
                    Health::NotReady {
                        cause: NotReadyCause::Unreachable,
                        ..
                    } => entry.health,
                    _ => Health::NotReady {
                        since: entry.last_heartbeat + timings.not_ready_after,
                        cause: NotReadyCause::Unreachable,
                    },
                }
            } else if silent >= timings.suspect_after {
                match entry.health {
                    // Suspicion does not lift a NotReady the agent itself reported.
                    Health::Ready => Health::Suspect {
                        since: entry.last_heartbeat,
                    },
                    other => other,
                }
            } else {
                entry.health
            };
            transitions.extend(Self::move_to(node, entry, wanted));
        }
        transitions
    }

    fn move_to(node: &NodeName, entry: &mut Entry, wanted: Health) -> Option<Transition> {
        let before = entry.health;
        entry.health = wanted;
        match (before, wanted) {
            (a, b) if a == b => None,
            (Health::Ready, Health::Suspect { .. }) => {
                Some(Transition::BecameSuspect { node: node.clone() })
            }
            (Health::Suspect { .. }, Health::Ready) => None,
            (_, Health::NotReady { since, cause }) => Some(Transition::BecameNotReady {
                node: node.clone(),
                cause,
                since,
            }),
            (Health::NotReady { .. }, Health::Ready) => {
                Some(Transition::BecameReady { node: node.clone() })
            }
            // NotReady → Suspect cannot be asked for (tick keeps NotReady); the rest are no-ops.
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pi() -> NodeName {
        NodeName::new("pi-2").unwrap()
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn table(t0: Instant) -> NodeLifecycle {
        let mut table = NodeLifecycle::new(NodeTimings::default());
        assert_eq!(table.heartbeat(&pi(), Some(true), t0), None);
        table
    }

    #[test]
    fn a_node_that_heartbeats_stays_ready_and_produces_no_transition() {
        let t0 = Instant::now();
        let mut table = table(t0);
        for s in 1..100 {
            let now = t0 + Duration::from_secs(s);
            assert_eq!(table.heartbeat(&pi(), None, now), None);
            assert!(table.tick(now + ms(999)).is_empty());
        }
        assert_eq!(table.health(&pi()), Some(Health::Ready));
    }

    #[test]
    fn a_node_silent_for_two_and_a_half_seconds_becomes_suspect() {
        let t0 = Instant::now();
        let mut table = table(t0);
        assert!(table.tick(t0 + ms(2_499)).is_empty());
        assert_eq!(
            table.tick(t0 + ms(2_500)),
            vec![Transition::BecameSuspect { node: pi() }]
        );
        assert!(table.tick(t0 + ms(2_600)).is_empty(), "reported once");
    }

    #[test]
    fn a_node_silent_for_four_and_a_half_seconds_becomes_not_ready_unreachable() {
        let t0 = Instant::now();
        let mut table = table(t0);
        table.tick(t0 + ms(3_000));
        assert_eq!(
            table.tick(t0 + ms(4_500)),
            vec![Transition::BecameNotReady {
                node: pi(),
                cause: NotReadyCause::Unreachable,
                since: t0 + ms(4_500),
            }]
        );
        assert!(table.tick(t0 + ms(9_000)).is_empty(), "reported once");
    }

    #[test]
    fn a_late_tick_dates_not_ready_from_the_deadline_not_from_the_tick() {
        let t0 = Instant::now();
        let mut table = table(t0);
        let transitions = table.tick(t0 + ms(60_000));
        assert_eq!(
            transitions,
            vec![Transition::BecameNotReady {
                node: pi(),
                cause: NotReadyCause::Unreachable,
                since: t0 + ms(4_500),
            }]
        );
    }

    #[test]
    fn a_suspect_node_that_heartbeats_again_is_ready_without_a_write() {
        let t0 = Instant::now();
        let mut table = table(t0);
        table.tick(t0 + ms(3_000));
        assert_eq!(table.heartbeat(&pi(), None, t0 + ms(3_100)), None);
        assert_eq!(table.health(&pi()), Some(Health::Ready));
    }

    #[test]
    fn a_not_ready_node_that_heartbeats_again_becomes_ready() {
        let t0 = Instant::now();
        let mut table = table(t0);
        table.tick(t0 + ms(5_000));
        assert_eq!(
            table.heartbeat(&pi(), None, t0 + ms(6_000)),
            Some(Transition::BecameReady { node: pi() })
        );
    }

    #[test]
    fn an_agent_reporting_not_ready_makes_its_node_not_ready_at_once() {
        let t0 = Instant::now();
        let mut table = table(t0);
        assert_eq!(
            table.heartbeat(&pi(), Some(false), t0 + ms(1_000)),
            Some(Transition::BecameNotReady {
                node: pi(),
                cause: NotReadyCause::AgentNotReady,
                since: t0 + ms(1_000),
            })
        );
        // Later heartbeats without a change keep it there, without new transitions.
        assert_eq!(table.heartbeat(&pi(), None, t0 + ms(2_000)), None);
        assert_eq!(
            table.heartbeat(&pi(), Some(true), t0 + ms(3_000)),
            Some(Transition::BecameReady { node: pi() })
        );
    }

    #[test]
    fn a_not_ready_agent_that_then_goes_silent_becomes_unreachable() {
        let t0 = Instant::now();
        let mut table = table(t0);
        table.heartbeat(&pi(), Some(false), t0);
        assert_eq!(
            table.tick(t0 + ms(4_500)),
            vec![Transition::BecameNotReady {
                node: pi(),
                cause: NotReadyCause::Unreachable,
                since: t0 + ms(4_500),
            }]
        );
    }

    #[test]
    fn nodes_adopted_at_master_start_get_the_full_grace_period() {
        let start = Instant::now();
        let mut table = NodeLifecycle::new(NodeTimings::default());
        table.adopt(pi(), start);
        assert!(table.tick(start + ms(2_000)).is_empty());
        assert_eq!(table.heartbeat(&pi(), None, start + ms(2_100)), None);
        assert_eq!(table.health(&pi()), Some(Health::Ready));
    }

    #[test]
    fn timings_are_configurable() {
        let t0 = Instant::now();
        let mut table = NodeLifecycle::new(NodeTimings {
            suspect_after: ms(100),
            not_ready_after: ms(200),
        });
        table.heartbeat(&pi(), None, t0);
        assert_eq!(table.tick(t0 + ms(200)).len(), 1);
        assert!(matches!(table.health(&pi()), Some(Health::NotReady { .. })));
    }

    #[test]
    fn a_forgotten_node_produces_nothing() {
        let t0 = Instant::now();
        let mut table = table(t0);
        table.forget(&pi());
        assert!(table.tick(t0 + ms(10_000)).is_empty());
        assert!(!table.knows(&pi()));
    }
}
