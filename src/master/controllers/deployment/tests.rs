//! Deployment controller tests: the core driven step by step over a simulated store.
use crate::api::deployment::REVISION_ANNOTATION;
use crate::api::template_hash::POD_TEMPLATE_HASH_LABEL;
use crate::api::{ConditionStatus, Deployment, DeploymentStrategyType, Kind, Pod, ReplicaSet};
use crate::master::controllers::fixtures::deployment;
use crate::master::controllers::sim::{at, Sim};

use super::revision::REVISION_HISTORY_ANNOTATION;
use super::status::{reason, AVAILABLE, PROGRESSING};

/// The ReplicaSets of the simulation as `name: spec replicas`, oldest first.
fn replica_sets(sim: &Sim) -> Vec<(String, i32)> {
    let mut rss = sim.all::<ReplicaSet>();
    rss.sort_by_key(|rs| rs.metadata.creation_timestamp);
    rss.iter()
        .map(|rs| (rs.metadata.name.clone(), rs.replicas()))
        .collect()
}

fn set_image(sim: &mut Sim, name: &str, image: &str) {
    let mut d: Deployment = sim.get(name);
    d.spec.template.spec.containers[0].image = Some(image.to_string());
    sim.update(d.into()).unwrap();
}

fn set_replicas(sim: &mut Sim, name: &str, replicas: i32) {
    let mut d: Deployment = sim.get(name);
    d.spec.replicas = Some(replicas);
    sim.update(d.into()).unwrap();
}

fn progressing_reason(sim: &Sim, name: &str) -> Option<String> {
    sim.get::<Deployment>(name)
        .condition(PROGRESSING)
        .and_then(|c| c.reason.clone())
}

/// Steps until settled, making every pod ready after each step, like a healthy cluster.
fn roll_to_completion(sim: &mut Sim) {
    for _ in 0..100 {
        let writes = sim.step();
        sim.make_all_ready();
        if writes == 0 && sim.step() == 0 {
            return;
        }
    }
    panic!("the rollout did not complete");
}

#[test]
fn a_new_deployment_gets_one_replica_set_named_after_its_template_hash() {
    let mut sim = Sim::new();
    let d = sim.create(deployment("web", 3, "nginx:1.27", "25%", "25%"));
    sim.step();
    assert_eq!(
        progressing_reason(&sim, "web").as_deref(),
        Some(reason::NEW_REPLICA_SET_CREATED)
    );
    sim.settle();
    let hash = d.spec.template.hash(None);
    let rs: ReplicaSet = sim.get(&format!("web-{hash}"));
    assert_eq!(rs.replicas(), 3);
    assert_eq!(rs.metadata.labels[POD_TEMPLATE_HASH_LABEL], hash);
    assert_eq!(
        rs.spec.selector.as_ref().unwrap().match_labels[POD_TEMPLATE_HASH_LABEL],
        hash
    );
    assert_eq!(rs.metadata.annotations[REVISION_ANNOTATION], "1");
    assert_eq!(rs.metadata.controller_ref().unwrap().uid, d.metadata.uid);
    assert_eq!(sim.all::<Pod>().len(), 3);
    let d: Deployment = sim.get("web");
    assert_eq!(d.metadata.annotations[REVISION_ANNOTATION], "1");
    assert_eq!(
        sim.event_messages("ScalingReplicaSet"),
        [format!("Scaled up replica set web-{hash} from 0 to 3")]
    );
}

#[test]
fn a_complete_rollout_reports_available_and_new_replica_set_available() {
    let mut sim = Sim::new();
    sim.create(deployment("web", 3, "nginx:1.27", "25%", "25%"));
    roll_to_completion(&mut sim);
    let d: Deployment = sim.get("web");
    let status = d.status.clone().unwrap();
    assert_eq!(
        (
            status.replicas,
            status.updated_replicas,
            status.ready_replicas,
            status.available_replicas
        ),
        (3, 3, 3, 3)
    );
    assert_eq!(
        progressing_reason(&sim, "web").as_deref(),
        Some(reason::NEW_REPLICA_SET_AVAILABLE)
    );
    assert_eq!(
        d.condition(AVAILABLE).unwrap().status,
        ConditionStatus::True
    );
    assert_eq!(sim.step(), 0, "a settled deployment writes nothing");
}

#[test]
fn an_image_change_rolls_out_one_surge_pod_at_a_time() {
    let mut sim = Sim::new();
    sim.create(deployment("web", 3, "nginx:1.27", "1", "0"));
    roll_to_completion(&mut sim);
    let old = replica_sets(&sim)[0].0.clone();
    set_image(&mut sim, "web", "nginx:1.28");

    sim.settle();
    let rss = replica_sets(&sim);
    let new = rss[1].0.clone();
    assert_eq!(rss, [(old.clone(), 3), (new.clone(), 1)]);
    assert_eq!(sim.all::<Pod>().len(), 4);

    // Nothing moves until the surge pod is ready.
    assert_eq!(sim.step(), 0);
    for (old_replicas, new_replicas) in [(2, 2), (1, 3), (0, 3)] {
        sim.make_all_ready();
        sim.settle();
        assert_eq!(
            replica_sets(&sim),
            [(old.clone(), old_replicas), (new.clone(), new_replicas)]
        );
        assert!(sim.all::<Pod>().len() <= 4);
    }
    let d: Deployment = sim.get("web");
    assert_eq!(d.metadata.annotations[REVISION_ANNOTATION], "2");
    assert_eq!(
        progressing_reason(&sim, "web").as_deref(),
        Some(reason::NEW_REPLICA_SET_AVAILABLE)
    );
}

#[test]
fn rolling_back_reuses_the_old_replica_set_with_a_new_revision() {
    let mut sim = Sim::new();
    sim.create(deployment("web", 2, "nginx:1.27", "1", "0"));
    roll_to_completion(&mut sim);
    let first = replica_sets(&sim)[0].0.clone();
    set_image(&mut sim, "web", "nginx:1.28");
    roll_to_completion(&mut sim);
    set_image(&mut sim, "web", "nginx:1.27");
    roll_to_completion(&mut sim);

    assert_eq!(sim.all::<ReplicaSet>().len(), 2, "no third replica set");
    let rs: ReplicaSet = sim.get(&first);
    assert_eq!(rs.replicas(), 2);
    assert_eq!(rs.metadata.annotations[REVISION_ANNOTATION], "3");
    assert_eq!(rs.metadata.annotations[REVISION_HISTORY_ANNOTATION], "1");
    let d: Deployment = sim.get("web");
    assert_eq!(d.metadata.annotations[REVISION_ANNOTATION], "3");
}

#[test]
fn recreate_removes_every_old_pod_before_creating_new_ones() {
    let mut sim = Sim::new();
    let mut d = deployment("web", 2, "nginx:1.27", "1", "0");
    d.spec.strategy = Some(crate::api::DeploymentStrategy {
        type_: Some(DeploymentStrategyType::Recreate),
        rolling_update: None,
    });
    sim.create(d);
    roll_to_completion(&mut sim);
    let old = replica_sets(&sim)[0].0.clone();
    set_image(&mut sim, "web", "nginx:1.28");

    sim.step();
    assert_eq!(replica_sets(&sim), [(old.clone(), 0)]);
    assert!(sim.all::<Pod>().is_empty());
    sim.settle();
    let rss = replica_sets(&sim);
    assert_eq!(rss.len(), 2);
    assert_eq!(rss[1].1, 2);
}

#[test]
fn scaling_mid_rollout_is_spread_in_proportion() {
    let mut sim = Sim::new();
    sim.create(deployment("web", 10, "nginx:1.27", "3", "2"));
    roll_to_completion(&mut sim);
    set_image(&mut sim, "web", "nginx:1.28");
    sim.settle();
    // New pods never become ready: the rollout stops part-way.
    let before = replica_sets(&sim);
    assert_eq!(before.iter().map(|(_, r)| r).sum::<i32>(), 13);
    set_replicas(&mut sim, "web", 20);
    sim.settle();
    let after = replica_sets(&sim);
    assert_eq!(after.iter().map(|(_, r)| r).sum::<i32>(), 23);
    for ((_, was), (_, now)) in before.iter().zip(&after) {
        assert!(now >= was, "{before:?} -> {after:?}");
    }
    assert_eq!((after[0].1, after[1].1), (14, 9));
}

#[test]
fn plain_scaling_changes_only_the_replica_set_size() {
    let mut sim = Sim::new();
    sim.create(deployment("web", 3, "nginx:1.27", "25%", "25%"));
    roll_to_completion(&mut sim);
    for replicas in [10, 2] {
        set_replicas(&mut sim, "web", replicas);
        roll_to_completion(&mut sim);
        assert_eq!(sim.all::<ReplicaSet>().len(), 1);
        assert_eq!(sim.all::<Pod>().len(), replicas as usize);
    }
}

#[test]
fn old_replica_sets_beyond_the_history_limit_are_deleted() {
    let mut sim = Sim::new();
    let mut d = deployment("web", 1, "nginx:1.25", "1", "0");
    d.spec.revision_history_limit = Some(1);
    sim.create(d);
    roll_to_completion(&mut sim);
    for image in ["nginx:1.26", "nginx:1.27", "nginx:1.28"] {
        set_image(&mut sim, "web", image);
        roll_to_completion(&mut sim);
    }
    let revisions: Vec<String> = sim
        .all::<ReplicaSet>()
        .iter()
        .map(|rs| rs.metadata.annotations[REVISION_ANNOTATION].clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(revisions, ["3", "4"]);
}

#[test]
fn a_paused_deployment_does_not_roll_out_until_resumed() {
    let mut sim = Sim::new();
    sim.create(deployment("web", 2, "nginx:1.27", "1", "0"));
    roll_to_completion(&mut sim);
    let mut d: Deployment = sim.get("web");
    d.spec.paused = true;
    sim.update(d.into()).unwrap();
    set_image(&mut sim, "web", "nginx:1.28");
    roll_to_completion(&mut sim);
    assert_eq!(sim.all::<ReplicaSet>().len(), 1);
    assert_eq!(
        progressing_reason(&sim, "web").as_deref(),
        Some(reason::DEPLOYMENT_PAUSED)
    );
    let mut d: Deployment = sim.get("web");
    d.spec.paused = false;
    sim.update(d.into()).unwrap();
    roll_to_completion(&mut sim);
    assert_eq!(
        replica_sets(&sim)
            .iter()
            .map(|(_, r)| *r)
            .collect::<Vec<_>>(),
        [0, 2]
    );
}

#[test]
fn a_rollout_without_progress_exceeds_its_deadline() {
    let mut sim = Sim::new();
    let mut d = deployment("web", 2, "nginx:1.27", "1", "0");
    d.spec.progress_deadline_seconds = Some(30);
    sim.create(d);
    roll_to_completion(&mut sim);
    set_image(&mut sim, "web", "nginx:broken");
    sim.settle();
    sim.now = at(sim.now.unix_seconds() + 20);
    sim.settle();
    assert_eq!(
        progressing_reason(&sim, "web").as_deref(),
        Some(reason::REPLICA_SET_UPDATED)
    );
    sim.now = at(sim.now.unix_seconds() + 20);
    sim.settle();
    let d: Deployment = sim.get("web");
    let progressing = d.condition(PROGRESSING).unwrap();
    assert_eq!(progressing.status, ConditionStatus::False);
    assert_eq!(
        progressing.reason.as_deref(),
        Some(reason::PROGRESS_DEADLINE_EXCEEDED)
    );
    assert!(progressing
        .message
        .as_deref()
        .unwrap()
        .ends_with("has timed out progressing."));
    assert_eq!(sim.step(), 0, "a failed rollout is reported once");
}

#[test]
fn a_deployment_adopts_a_matching_orphan_replica_set() {
    let mut sim = Sim::new();
    let d = deployment("web", 1, "nginx:1.27", "1", "0");
    let hash = d.spec.template.hash(None);
    let mut orphan =
        crate::master::controllers::fixtures::replica_set(&format!("web-{hash}"), "web", 1);
    orphan.spec.template = d.spec.template.clone();
    orphan.metadata.labels = orphan.spec.template.metadata.labels.clone();
    orphan
        .spec
        .template
        .metadata
        .labels
        .insert(POD_TEMPLATE_HASH_LABEL.into(), hash.clone());
    sim.create(orphan);
    let d = sim.create(d);
    sim.settle();
    let rss = sim.all::<ReplicaSet>();
    assert_eq!(rss.len(), 1);
    assert_eq!(
        rss[0].metadata.controller_ref().unwrap().uid,
        d.metadata.uid
    );
    assert_eq!(sim.names(Kind::Pod).len(), 1);
}

mod invariants {
    //! Property: a rolling update never runs more than replicas + maxSurge pods, and once the
    //! Deployment was available never has fewer than replicas − maxUnavailable available
    //! pods, whatever order the new pods become ready in; and it always completes.
    use proptest::prelude::*;

    use super::*;
    use crate::api::IntOrString;
    use crate::master::controllers::deployment::resolve_fenceposts;
    use crate::master::controllers::fixtures::deployment;

    fn fencepost() -> impl Strategy<Value = IntOrString> {
        prop_oneof![
            (0i32..4).prop_map(IntOrString::Int),
            (0i32..=100).prop_map(IntOrString::percent),
        ]
    }

    /// A tiny deterministic generator for which pods turn ready in a step.
    struct Coin(u64);
    impl Coin {
        fn flip(&mut self, chance_percent: u64) -> bool {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 33) % 100 < chance_percent
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]
        #[test]
        fn rolling_updates_stay_within_surge_and_unavailability(
            replicas in 1i32..9,
            surge in fencepost(),
            unavailable in fencepost(),
            seed in any::<u64>(),
            chance in 5u64..100,
        ) {
            let mut sim = Sim::new();
            let mut d = deployment("web", replicas, "nginx:1.27", "0", "0");
            let rolling = d.spec.strategy.as_mut().unwrap().rolling_update.as_mut().unwrap();
            rolling.max_surge = Some(surge.clone());
            rolling.max_unavailable = Some(unavailable.clone());
            sim.create(d);
            roll_to_completion(&mut sim);
            let (max_surge, max_unavailable) =
                resolve_fenceposts(Some(&surge), Some(&unavailable), replicas);
            let max_unavailable = max_unavailable.min(replicas);

            set_image(&mut sim, "web", "nginx:1.28");
            let new_hash = sim.get::<Deployment>("web").spec.template.hash(None);
            let mut coin = Coin(seed);
            let mut done = false;
            for _ in 0..400 {
                let writes = sim.step();
                let pods = sim.all::<Pod>();
                let available = pods.iter().filter(|p| p.is_ready()).count() as i32;
                prop_assert!(
                    pods.len() as i32 <= replicas + max_surge,
                    "{} pods with {replicas} replicas and maxSurge {max_surge}", pods.len()
                );
                prop_assert!(
                    available >= replicas - max_unavailable,
                    "{available} available with {replicas} replicas and maxUnavailable {max_unavailable}"
                );
                let complete = pods.len() as i32 == replicas
                    && pods.iter().all(|p| {
                        p.is_ready()
                            && p.metadata.labels.get(POD_TEMPLATE_HASH_LABEL) == Some(&new_hash)
                    });
                if complete && writes == 0 {
                    done = true;
                    break;
                }
                for pod in pods.iter().filter(|p| !p.is_ready()) {
                    if coin.flip(chance) {
                        sim.set_ready(&pod.metadata.name, true);
                    }
                }
            }
            prop_assert!(done, "the rollout completed: {:?}", replica_sets(&sim));
        }
    }
}
