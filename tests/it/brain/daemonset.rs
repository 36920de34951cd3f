//! DaemonSets in a real master: one pod per matching node, nodes joining.
use std::collections::BTreeMap;

use super::{until, Cluster};

const LOG_SHIPPER: &str = "\
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: log-shipper
spec:
  selector:
    matchLabels:
      app: log-shipper
  template:
    metadata:
      labels:
        app: log-shipper
    spec:
      nodeSelector:
        disk: ssd
      containers:
      - name: shipper
        image: fluent-bit:3.0
";

async fn pods_per_node(cluster: &Cluster) -> BTreeMap<String, usize> {
    let mut per_node = BTreeMap::new();
    for pod in cluster.pods("app=log-shipper").await {
        let node = pod
            .spec
            .node_name
            .map(|n| n.to_string())
            .unwrap_or_default();
        *per_node.entry(node).or_default() += 1;
    }
    per_node
}

#[tokio::test]
async fn a_daemon_set_runs_one_pod_on_each_matching_node() {
    let cluster = Cluster::start(&["pi-plain"]).await;
    cluster.add_node("pi-ssd-1", &[("disk", "ssd")]).await;
    cluster.add_node("pi-ssd-2", &[("disk", "ssd")]).await;
    cluster.apply(LOG_SHIPPER);
    let expected: BTreeMap<String, usize> =
        [("pi-ssd-1".to_string(), 1), ("pi-ssd-2".to_string(), 1)].into();
    until("one pod on each ssd node", || async {
        (pods_per_node(&cluster).await == expected).then_some(())
    })
    .await;

    cluster.add_node("pi-ssd-3", &[("disk", "ssd")]).await;
    let mut expected = expected;
    expected.insert("pi-ssd-3".to_string(), 1);
    until("a pod on the node that joined", || async {
        (pods_per_node(&cluster).await == expected).then_some(())
    })
    .await;

    until("the daemon set status", || async {
        cluster.report_all_ready("app=log-shipper").await;
        let status = cluster.edgectl(&[
            "rollout",
            "status",
            "daemonset/log-shipper",
            "--watch=false",
        ]);
        status.contains("successfully rolled out").then_some(())
    })
    .await;
}
