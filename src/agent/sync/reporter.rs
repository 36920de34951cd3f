//! Pod status reporting, sans-IO: the runtime's current statuses in, the ones the master has
//! not seen yet out. After a master resync everything is reported again.
use std::collections::HashMap;

use crate::wire::{PodRef, PodStatusReport};

/// What the master has acknowledged, per pod.
#[derive(Debug, Default)]
pub struct StatusReporter {
    acked: HashMap<PodRef, PodStatusReport>,
}

impl StatusReporter {
    /// Reports that differ from the acknowledged ones. Pods no longer reported are forgotten.
    pub fn pending(&mut self, current: Vec<PodStatusReport>) -> Vec<PodStatusReport> {
        let live: std::collections::HashSet<&PodRef> = current.iter().map(|r| &r.pod).collect();
        self.acked.retain(|pod, _| live.contains(pod));
        current
            .into_iter()
            .filter(|r| self.acked.get(&r.pod) != Some(r))
            .collect()
    }

    /// The master accepted this report.
    pub fn acknowledged(&mut self, report: PodStatusReport) {
        self.acked.insert(report.pod.clone(), report);
    }

    /// The master lost its state: report everything again.
    pub fn resync(&mut self) {
        self.acked.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{NodeName, PodPhase};

    fn report(name: &str, phase: PodPhase) -> PodStatusReport {
        PodStatusReport {
            node: NodeName::new("pi-2").unwrap(),
            pod: PodRef::new("default", name, format!("uid-{name}")).unwrap(),
            phase,
            conditions: heapless::Vec::new(),
            init_container_statuses: vec![],
            container_statuses: vec![],
            pod_ips: heapless::Vec::new(),
            host_ip: None,
            start_time_unix_s: None,
            reason: None,
            message: None,
        }
    }

    #[test]
    fn only_changed_statuses_are_pending() {
        let mut r = StatusReporter::default();
        let pending = r.pending(vec![report("a", PodPhase::Pending)]);
        assert_eq!(pending.len(), 1);
        r.acknowledged(pending[0].clone());
        assert!(r.pending(vec![report("a", PodPhase::Pending)]).is_empty());
        assert_eq!(r.pending(vec![report("a", PodPhase::Running)]).len(), 1);
    }

    #[test]
    fn an_unacknowledged_report_stays_pending() {
        let mut r = StatusReporter::default();
        r.pending(vec![report("a", PodPhase::Running)]);
        assert_eq!(r.pending(vec![report("a", PodPhase::Running)]).len(), 1);
    }

    #[test]
    fn a_resync_makes_everything_pending_again() {
        let mut r = StatusReporter::default();
        r.acknowledged(report("a", PodPhase::Running));
        r.resync();
        assert_eq!(r.pending(vec![report("a", PodPhase::Running)]).len(), 1);
    }
}
