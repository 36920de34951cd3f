//! Why a pod fits nowhere, in kube-scheduler's words: "0/3 nodes are available: 1 node(s) had
//! untolerated taint {dedicated: gpu}, 2 Insufficient memory." The reasons are counted per
//! node class and sorted as strings, count first, exactly like Kubernetes' `FitError`.
use std::collections::BTreeMap;
use std::fmt;

/// The outcome of a pod that no node accepts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FitError {
    /// How many nodes were considered.
    pub nodes_total: usize,
    /// How many nodes gave each reason (one node may give several, e.g. cpu and memory).
    pub reasons: BTreeMap<String, u32>,
}

impl FitError {
    /// Counts one more node giving `reason`.
    pub fn add(&mut self, reason: String) {
        *self.reasons.entry(reason).or_default() += 1;
    }
}

impl fmt::Display for FitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.nodes_total == 0 {
            return f.write_str("no nodes available to schedule pods");
        }
        write!(f, "0/{} nodes are available:", self.nodes_total)?;
        let mut lines: Vec<String> = self
            .reasons
            .iter()
            .map(|(reason, count)| format!("{count} {reason}"))
            .collect();
        lines.sort();
        if !lines.is_empty() {
            write!(f, " {}.", lines.join(", "))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(nodes_total: usize, reasons: &[(&str, u32)], expected: &str) {
        let error = FitError {
            nodes_total,
            reasons: reasons
                .iter()
                .map(|(reason, count)| (reason.to_string(), *count))
                .collect(),
        };
        assert_eq!(error.to_string(), expected);
    }

    #[test]
    fn reasons_are_counted_and_sorted_like_kubernetes() {
        check(
            3,
            &[
                ("Insufficient memory", 2),
                ("node(s) had untolerated taint {dedicated: gpu}", 1),
            ],
            "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, \
             2 Insufficient memory.",
        );
    }

    #[test]
    fn an_empty_cluster_says_there_are_no_nodes() {
        check(0, &[], "no nodes available to schedule pods");
    }
}
