//! `edgectl rollout status|history|undo|restart|pause|resume deployment/NAME`, as kubectl
//! does them: status waits with kubectl's status logic, undo copies an old ReplicaSet's
//! template back into the Deployment (the controller then rolls to it), restart stamps the
//! template with `kubectl.kubernetes.io/restartedAt`, pause and resume flip `spec.paused`.
use std::collections::BTreeMap;
use std::time::Duration;

use hyper::Method;
use serde_json::json;

use super::client::{Client, ClientError, JSON, MERGE_PATCH};
use super::{kind_from_cli, split_targets, Context};
use crate::api::deployment::deployment_condition;
#[cfg(test)]
use crate::api::deployment::REVISION_ANNOTATION;
use crate::api::template_hash::POD_TEMPLATE_HASH_LABEL;
use crate::api::{
    DaemonSet, DaemonSetUpdateStrategyType, Deployment, Kind, ReplicaSet, Resource, Time,
};
use crate::master::controllers::deployment::{equal_ignore_hash, reason, revision};
use crate::master::route::object_path;

/// The template annotation `rollout restart` sets.
pub const RESTARTED_AT_ANNOTATION: &str = "kubectl.kubernetes.io/restartedAt";
/// The annotation `rollout history` shows as CHANGE-CAUSE.
pub const CHANGE_CAUSE_ANNOTATION: &str = "kubernetes.io/change-cause";
/// How often `rollout status` looks again.
pub const STATUS_POLL_MS: u64 = 500;
/// Attempts at `rollout undo` when the Deployment changes under it.
const UNDO_ATTEMPTS_MAX: usize = 5;

#[derive(Debug, clap::Args)]
pub struct RolloutArgs {
    #[command(subcommand)]
    pub command: RolloutCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum RolloutCommand {
    /// Wait until a rollout finishes (exit 0), fails its progress deadline or times out
    Status(StatusArgs),
    /// List the revisions of a deployment
    History(HistoryArgs),
    /// Roll a deployment back to the previous (or a given) revision
    Undo(UndoArgs),
    /// Replace every pod through a new rollout
    Restart(TargetArgs),
    /// Stop rolling out template changes of a deployment
    Pause(TargetArgs),
    /// Resume rolling out a paused deployment
    Resume(TargetArgs),
}

#[derive(Debug, clap::Args)]
pub struct TargetArgs {
    /// deployment/NAME (or KIND NAME)
    #[arg(required = true, num_args = 1..=2, value_name = "KIND/NAME")]
    pub target: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// deployment/NAME or daemonset/NAME (or KIND NAME)
    #[arg(required = true, num_args = 1..=2, value_name = "KIND/NAME")]
    pub target: Vec<String>,
    /// Give up after this long (`30s`, `5m`, `1h`); 0 waits forever
    #[arg(long, default_value = "0s", value_parser = parse_timeout)]
    pub timeout: Timeout,
    /// Wait for the rollout to finish; with --watch=false only report once
    #[arg(short = 'w', long, default_value_t = true, action = clap::ArgAction::Set)]
    pub watch: bool,
}

#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// deployment/NAME (or KIND NAME)
    #[arg(required = true, num_args = 1..=2, value_name = "KIND/NAME")]
    pub target: Vec<String>,
    /// Show the pod template of this revision
    #[arg(long)]
    pub revision: Option<i64>,
}

#[derive(Debug, clap::Args)]
pub struct UndoArgs {
    /// deployment/NAME (or KIND NAME)
    #[arg(required = true, num_args = 1..=2, value_name = "KIND/NAME")]
    pub target: Vec<String>,
    /// The revision to roll back to; 0 is the previous one
    #[arg(long, default_value_t = 0)]
    pub to_revision: i64,
}

/// How long `rollout status` waits; `None` is forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeout(pub Option<Duration>);

/// Parses `--timeout`: `0`/`0s` is no timeout, otherwise `30s`, `5m`, `1h30m`.
pub fn parse_timeout(text: &str) -> Result<Timeout, String> {
    if text.trim_end_matches('s').chars().all(|c| c == '0') && !text.is_empty() {
        return Ok(Timeout(None));
    }
    super::token::parse_ttl(text).map(|d| Timeout(Some(d)))
}

pub async fn run(context: &Context, args: RolloutArgs) -> anyhow::Result<()> {
    match args.command {
        RolloutCommand::Status(args) => status(context, args).await,
        RolloutCommand::History(args) => history(context, args).await,
        RolloutCommand::Undo(args) => undo(context, args).await,
        RolloutCommand::Restart(args) => restart(context, args).await,
        RolloutCommand::Pause(args) => set_paused(context, args, true).await,
        RolloutCommand::Resume(args) => set_paused(context, args, false).await,
    }
}

/// The one `(kind, name)` a rollout command works on.
fn target(words: &[String], allowed: &[Kind]) -> anyhow::Result<(Kind, String)> {
    let (_, named) = split_targets(words)?;
    let [(word, name)] = named.as_slice() else {
        anyhow::bail!("expected exactly one KIND/NAME, e.g. deployment/web");
    };
    let kind = kind_from_cli(word)?;
    if !allowed.contains(&kind) {
        anyhow::bail!("no rollouts for {}: use a deployment", kind.resource_name());
    }
    Ok((kind, name.clone()))
}

async fn get_typed(
    client: &Client,
    kind: Kind,
    namespace: &str,
    name: &str,
) -> anyhow::Result<Resource> {
    let value = client
        .get_json(&object_path(kind, Some(namespace), name))
        .await?;
    Ok(Resource::from_value(value)?)
}

async fn get_deployment(
    client: &Client,
    namespace: &str,
    name: &str,
) -> anyhow::Result<Deployment> {
    get_typed(client, Kind::Deployment, namespace, name)
        .await?
        .downcast()
        .ok_or_else(|| {
            anyhow::anyhow!("the server answered with something other than a deployment")
        })
}

/// What `rollout status` says about a Deployment now: the line to print and whether the
/// rollout is done, or an error when it failed (kubectl's `DeploymentStatusViewer`).
pub fn deployment_status(d: &Deployment) -> Result<(String, bool), String> {
    let name = &d.metadata.name;
    let status = d.status.clone().unwrap_or_default();
    if d.metadata.generation > status.observed_generation.unwrap_or(0) {
        return Ok((
            "Waiting for deployment spec update to be observed...".to_string(),
            false,
        ));
    }
    let timed_out = d
        .condition(deployment_condition::PROGRESSING)
        .and_then(|c| c.reason.as_deref())
        == Some(reason::PROGRESS_DEADLINE_EXCEEDED);
    if timed_out {
        return Err(format!(
            "deployment {name:?} exceeded its progress deadline"
        ));
    }
    let replicas = d.replicas();
    if status.updated_replicas < replicas {
        return Ok((
            format!(
                "Waiting for deployment {name:?} rollout to finish: {} out of {replicas} new replicas have been updated...",
                status.updated_replicas
            ),
            false,
        ));
    }
    if status.replicas > status.updated_replicas {
        return Ok((
            format!(
                "Waiting for deployment {name:?} rollout to finish: {} old replicas are pending termination...",
                status.replicas - status.updated_replicas
            ),
            false,
        ));
    }
    if status.available_replicas < status.updated_replicas {
        return Ok((
            format!(
                "Waiting for deployment {name:?} rollout to finish: {} of {} updated replicas are available...",
                status.available_replicas, status.updated_replicas
            ),
            false,
        ));
    }
    Ok((format!("deployment {name:?} successfully rolled out"), true))
}

/// What `rollout status` says about a DaemonSet (kubectl's `DaemonSetStatusViewer`).
pub fn daemon_set_status(ds: &DaemonSet) -> Result<(String, bool), String> {
    let strategy = ds
        .spec
        .update_strategy
        .as_ref()
        .and_then(|s| s.type_)
        .unwrap_or_default();
    if strategy != DaemonSetUpdateStrategyType::RollingUpdate {
        return Err("rollout status is only available for RollingUpdate strategy type".into());
    }
    let name = &ds.metadata.name;
    let status = ds.status.clone().unwrap_or_default();
    if ds.metadata.generation > status.observed_generation.unwrap_or(0) {
        return Ok((
            "Waiting for daemon set spec update to be observed...".to_string(),
            false,
        ));
    }
    if status.updated_number_scheduled < status.desired_number_scheduled {
        return Ok((
            format!(
                "Waiting for daemon set {name:?} rollout to finish: {} out of {} new pods have been updated...",
                status.updated_number_scheduled, status.desired_number_scheduled
            ),
            false,
        ));
    }
    if status.number_available < status.desired_number_scheduled {
        return Ok((
            format!(
                "Waiting for daemon set {name:?} rollout to finish: {} of {} updated pods are available...",
                status.number_available, status.desired_number_scheduled
            ),
            false,
        ));
    }
    Ok((format!("daemon set {name:?} successfully rolled out"), true))
}

async fn status(context: &Context, args: StatusArgs) -> anyhow::Result<()> {
    let (kind, name) = target(&args.target, &[Kind::Deployment, Kind::DaemonSet])?;
    let client = context.client()?;
    let namespace = context.namespace();
    let deadline = args.timeout.0.map(|t| tokio::time::Instant::now() + t);
    let mut last_line = String::new();
    loop {
        let resource = get_typed(&client, kind, namespace, &name).await?;
        let verdict = match &resource {
            Resource::Deployment(d) => deployment_status(d),
            Resource::DaemonSet(ds) => daemon_set_status(ds),
            _ => anyhow::bail!("the server answered with another kind than asked for"),
        };
        let (line, done) = verdict.map_err(|message| anyhow::anyhow!(message))?;
        if line != last_line {
            println!("{line}");
            last_line = line;
        }
        if done || !args.watch {
            return Ok(());
        }
        if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
            anyhow::bail!("timed out waiting for the condition");
        }
        tokio::time::sleep(Duration::from_millis(STATUS_POLL_MS)).await;
    }
}

/// The ReplicaSets the Deployment controls.
async fn owned_replica_sets(client: &Client, d: &Deployment) -> anyhow::Result<Vec<ReplicaSet>> {
    let namespace = d.metadata.namespace_or_default();
    let (items, _) = super::get::list(
        client,
        Kind::ReplicaSet,
        Some(namespace.as_str()),
        None,
        None,
    )
    .await?;
    Ok(items
        .into_iter()
        .filter_map(|item| Resource::from_value(item).ok()?.downcast::<ReplicaSet>())
        .filter(|rs| {
            rs.metadata
                .controller_ref()
                .is_some_and(|r| r.uid == d.metadata.uid)
        })
        .collect())
}

/// Revisions of `replica_sets`, oldest first, with their change causes.
pub fn revisions(replica_sets: &[ReplicaSet]) -> BTreeMap<i64, &ReplicaSet> {
    replica_sets
        .iter()
        .map(|rs| (revision::revision(rs), rs))
        .filter(|(revision, _)| *revision > 0)
        .collect()
}

/// kubectl's history table.
pub fn history_table(kind: Kind, name: &str, replica_sets: &[ReplicaSet]) -> String {
    let mut out = format!("{}/{name} \n", kind.resource_name());
    let mut rows = vec![("REVISION".to_string(), "CHANGE-CAUSE".to_string())];
    for (revision, rs) in revisions(replica_sets) {
        let cause = rs
            .metadata
            .annotations
            .get(CHANGE_CAUSE_ANNOTATION)
            .cloned()
            .unwrap_or_else(|| "<none>".to_string());
        rows.push((revision.to_string(), cause));
    }
    let width = rows.iter().map(|(r, _)| r.len()).max().unwrap_or(0) + 2;
    for (revision, cause) in rows {
        out.push_str(&format!("{revision:<width$}{cause}\n"));
    }
    out
}

/// The pod template of one revision, the way kubectl describes it.
pub fn revision_detail(kind: Kind, name: &str, revision: i64, rs: &ReplicaSet) -> String {
    let template = &rs.spec.template;
    let mut out = format!(
        "{}/{name} with revision #{revision}\nPod Template:\n",
        kind.resource_name()
    );
    let pairs = |map: &BTreeMap<String, String>| {
        if map.is_empty() {
            return "<none>".to_string();
        }
        map.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("\n\t")
    };
    out.push_str(&format!(
        "  Labels:\t{}\n",
        pairs(&template.metadata.labels)
    ));
    let cause = rs.metadata.annotations.get(CHANGE_CAUSE_ANNOTATION);
    let mut annotations = template.metadata.annotations.clone();
    if let Some(cause) = cause {
        annotations.insert(CHANGE_CAUSE_ANNOTATION.to_string(), cause.clone());
    }
    out.push_str(&format!("  Annotations:\t{}\n", pairs(&annotations)));
    out.push_str("  Containers:\n");
    for container in &template.spec.containers {
        out.push_str(&format!("   {}:\n", container.name));
        out.push_str(&format!(
            "    Image:\t{}\n",
            container.image.as_deref().unwrap_or("<none>")
        ));
        if !container.command.is_empty() {
            out.push_str(&format!("    Command:\t{}\n", container.command.join(" ")));
        }
        if !container.args.is_empty() {
            out.push_str(&format!("    Args:\t{}\n", container.args.join(" ")));
        }
    }
    out
}

async fn history(context: &Context, args: HistoryArgs) -> anyhow::Result<()> {
    let (kind, name) = target(&args.target, &[Kind::Deployment])?;
    let client = context.client()?;
    let d = get_deployment(&client, context.namespace(), &name).await?;
    let replica_sets = owned_replica_sets(&client, &d).await?;
    match args.revision {
        None => print!("{}", history_table(kind, &name, &replica_sets)),
        Some(wanted) => {
            let all = revisions(&replica_sets);
            let rs = all
                .get(&wanted)
                .ok_or_else(|| anyhow::anyhow!("unable to find the specified revision"))?;
            print!("{}", revision_detail(kind, &name, wanted, rs));
        }
    }
    Ok(())
}

/// The ReplicaSet to roll back to: revision `to_revision`, or with 0 the one before the
/// newest (kubectl's `deploymentRevision`).
pub fn rollback_target(
    replica_sets: &[ReplicaSet],
    to_revision: i64,
    deployment: &str,
) -> Result<ReplicaSet, String> {
    if to_revision < 0 {
        return Err(format!(
            "unable to find specified revision {to_revision} in history"
        ));
    }
    let all = revisions(replica_sets);
    if to_revision > 0 {
        return all
            .get(&to_revision)
            .map(|rs| (*rs).clone())
            .ok_or_else(|| format!("unable to find specified revision {to_revision} in history"));
    }
    all.values()
        .rev()
        .nth(1)
        .map(|rs| (*rs).clone())
        .ok_or_else(|| format!("no rollout history found for deployment {deployment:?}"))
}

/// The Deployment rolled back to `rs`: its template without the hash label, and its
/// annotations except the Deployment's own bookkeeping (kubectl's rollback patch). `None`
/// when the template is already that revision's.
pub fn rolled_back(d: &Deployment, rs: &ReplicaSet) -> Option<Deployment> {
    if equal_ignore_hash(&rs.spec.template, &d.spec.template) {
        return None;
    }
    let mut template = rs.spec.template.clone();
    template.metadata.labels.remove(POD_TEMPLATE_HASH_LABEL);
    let mut annotations: BTreeMap<String, String> = d
        .metadata
        .annotations
        .iter()
        .filter(|(k, _)| revision::skip_copy(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (k, v) in &rs.metadata.annotations {
        if !revision::skip_copy(k) {
            annotations.insert(k.clone(), v.clone());
        }
    }
    let mut rolled = d.clone();
    rolled.spec.template = template;
    rolled.metadata.annotations = annotations;
    Some(rolled)
}

async fn undo(context: &Context, args: UndoArgs) -> anyhow::Result<()> {
    let (kind, name) = target(&args.target, &[Kind::Deployment])?;
    let client = context.client()?;
    let namespace = context.namespace();
    for _ in 0..UNDO_ATTEMPTS_MAX {
        let d = get_deployment(&client, namespace, &name).await?;
        if d.spec.paused {
            anyhow::bail!(
                "you cannot rollback a paused deployment; resume it first with 'edgectl rollout resume' and try again"
            );
        }
        let replica_sets = owned_replica_sets(&client, &d).await?;
        let rs = rollback_target(&replica_sets, args.to_revision, &name)
            .map_err(|message| anyhow::anyhow!(message))?;
        let Some(rolled) = rolled_back(&d, &rs) else {
            println!(
                "{}/{name} skipped rollback (current template already matches revision {})",
                kind.resource_name(),
                revision::revision(&rs)
            );
            return Ok(());
        };
        // A replace carrying the resourceVersion read: a concurrent change is a conflict,
        // and the rollback is decided again from what is there.
        let resource: Resource = rolled.into();
        let written = client
            .send_json(
                Method::PUT,
                &object_path(kind, Some(namespace), &name),
                JSON,
                &resource.to_value(),
            )
            .await;
        match written {
            Ok(_) => {
                println!("{}/{name} rolled back", kind.resource_name());
                return Ok(());
            }
            Err(ClientError::Status(status)) if status.code == 409 => continue,
            Err(error) => return Err(error.into()),
        }
    }
    anyhow::bail!("the deployment kept changing; try again")
}

async fn restart(context: &Context, args: TargetArgs) -> anyhow::Result<()> {
    let (kind, name) = target(&args.target, &[Kind::Deployment, Kind::DaemonSet])?;
    let client = context.client()?;
    let namespace = context.namespace();
    if kind == Kind::Deployment {
        let d = get_deployment(&client, namespace, &name).await?;
        if d.spec.paused {
            anyhow::bail!("can't restart paused deployment (run rollout resume first)");
        }
    }
    let now = Time::new(time::OffsetDateTime::now_utc());
    let patch = json!({"spec": {"template": {"metadata": {"annotations": {
        RESTARTED_AT_ANNOTATION: now.to_string()
    }}}}});
    client
        .send_json(
            Method::PATCH,
            &object_path(kind, Some(namespace), &name),
            MERGE_PATCH,
            &patch,
        )
        .await?;
    println!("{}/{name} restarted", kind.resource_name());
    Ok(())
}

async fn set_paused(context: &Context, args: TargetArgs, paused: bool) -> anyhow::Result<()> {
    let (kind, name) = target(&args.target, &[Kind::Deployment])?;
    let client = context.client()?;
    let namespace = context.namespace();
    let d = get_deployment(&client, namespace, &name).await?;
    let resource = kind.resource_name();
    if d.spec.paused == paused {
        if paused {
            println!("{resource}/{name} already paused");
        } else {
            println!("{resource}/{name} is not paused");
        }
        return Ok(());
    }
    let patch = if paused {
        json!({"spec": {"paused": true}})
    } else {
        json!({"spec": {"paused": null}})
    };
    client
        .send_json(
            Method::PATCH,
            &object_path(kind, Some(namespace), &name),
            MERGE_PATCH,
            &patch,
        )
        .await?;
    println!(
        "{resource}/{name} {}",
        if paused { "paused" } else { "resumed" }
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{ConditionStatus, DeploymentCondition, DeploymentStatus};
    use crate::master::controllers::fixtures::{deployment, replica_set};

    fn with_status(status: DeploymentStatus, generation: i64) -> Deployment {
        let mut d = deployment("web", 3, "nginx:1.27", "25%", "25%");
        d.metadata.generation = generation;
        d.status = Some(status);
        d
    }

    fn check(d: &Deployment, expected: Result<(&str, bool), &str>) {
        let got = deployment_status(d);
        let expected = expected
            .map(|(line, done)| (line.to_string(), done))
            .map_err(str::to_string);
        assert_eq!(got, expected);
    }

    #[test]
    fn status_waits_for_the_spec_to_be_observed() {
        check(
            &with_status(
                DeploymentStatus {
                    observed_generation: Some(1),
                    ..DeploymentStatus::default()
                },
                2,
            ),
            Ok((
                "Waiting for deployment spec update to be observed...",
                false,
            )),
        );
    }

    #[test]
    fn status_reports_updated_old_and_available_replicas_like_kubectl() {
        let status = |updated, replicas, available| DeploymentStatus {
            observed_generation: Some(1),
            updated_replicas: updated,
            replicas,
            available_replicas: available,
            ..DeploymentStatus::default()
        };
        check(
            &with_status(status(1, 4, 3), 1),
            Ok((
                "Waiting for deployment \"web\" rollout to finish: 1 out of 3 new replicas have been updated...",
                false,
            )),
        );
        check(
            &with_status(status(3, 4, 3), 1),
            Ok((
                "Waiting for deployment \"web\" rollout to finish: 1 old replicas are pending termination...",
                false,
            )),
        );
        check(
            &with_status(status(3, 3, 2), 1),
            Ok((
                "Waiting for deployment \"web\" rollout to finish: 2 of 3 updated replicas are available...",
                false,
            )),
        );
        check(
            &with_status(status(3, 3, 3), 1),
            Ok(("deployment \"web\" successfully rolled out", true)),
        );
    }

    #[test]
    fn status_fails_when_the_progress_deadline_is_exceeded() {
        let status = DeploymentStatus {
            observed_generation: Some(1),
            conditions: vec![DeploymentCondition {
                type_: "Progressing".into(),
                status: ConditionStatus::False,
                reason: Some(reason::PROGRESS_DEADLINE_EXCEEDED.into()),
                ..DeploymentCondition::default()
            }],
            ..DeploymentStatus::default()
        };
        check(
            &with_status(status, 1),
            Err("deployment \"web\" exceeded its progress deadline"),
        );
    }

    fn at_revision(name: &str, image: &str, revision: i64) -> ReplicaSet {
        let mut rs = replica_set(name, "web", 0);
        rs.spec.template.spec.containers[0].image = Some(image.into());
        rs.spec
            .template
            .metadata
            .labels
            .insert(POD_TEMPLATE_HASH_LABEL.into(), name.into());
        rs.metadata
            .annotations
            .insert(REVISION_ANNOTATION.into(), revision.to_string());
        rs
    }

    #[test]
    fn undo_goes_to_the_revision_before_the_newest_or_the_one_asked_for() {
        let rss = [
            at_revision("web-a", "nginx:1.25", 1),
            at_revision("web-c", "nginx:1.27", 3),
            at_revision("web-b", "nginx:1.26", 2),
        ];
        assert_eq!(
            rollback_target(&rss, 0, "web").unwrap().metadata.name,
            "web-b"
        );
        assert_eq!(
            rollback_target(&rss, 1, "web").unwrap().metadata.name,
            "web-a"
        );
        assert_eq!(
            rollback_target(&rss, 7, "web").unwrap_err(),
            "unable to find specified revision 7 in history"
        );
        assert_eq!(
            rollback_target(&rss[..1], 0, "web").unwrap_err(),
            "no rollout history found for deployment \"web\""
        );
    }

    #[test]
    fn undo_copies_the_template_without_its_hash_and_keeps_the_deployments_bookkeeping() {
        let mut d = deployment("web", 3, "nginx:1.27", "25%", "25%");
        d.metadata
            .annotations
            .insert(REVISION_ANNOTATION.into(), "3".into());
        let mut old = at_revision("web-a", "nginx:1.25", 1);
        old.metadata
            .annotations
            .insert(CHANGE_CAUSE_ANNOTATION.into(), "first".into());
        let rolled = rolled_back(&d, &old).unwrap();
        assert_eq!(
            rolled.spec.template.spec.containers[0].image.as_deref(),
            Some("nginx:1.25")
        );
        assert!(!rolled
            .spec
            .template
            .metadata
            .labels
            .contains_key(POD_TEMPLATE_HASH_LABEL));
        assert_eq!(rolled.metadata.annotations[REVISION_ANNOTATION], "3");
        assert_eq!(
            rolled.metadata.annotations[CHANGE_CAUSE_ANNOTATION],
            "first"
        );
        let current = at_revision("web-c", "nginx:1.27", 3);
        assert!(rolled_back(&d, &current).is_none());
    }

    #[test]
    fn history_lists_revisions_with_their_change_cause() {
        let mut second = at_revision("web-b", "nginx:1.26", 2);
        second
            .metadata
            .annotations
            .insert(CHANGE_CAUSE_ANNOTATION.into(), "bump to 1.26".into());
        let table = history_table(
            Kind::Deployment,
            "web",
            &[second, at_revision("web-a", "nginx:1.25", 1)],
        );
        assert_eq!(
            table,
            "deployment.apps/web \nREVISION  CHANGE-CAUSE\n1         <none>\n2         bump to 1.26\n"
        );
    }

    #[test]
    fn timeouts_of_zero_wait_forever() {
        assert_eq!(parse_timeout("0s"), Ok(Timeout(None)));
        assert_eq!(parse_timeout("0"), Ok(Timeout(None)));
        assert_eq!(
            parse_timeout("90s"),
            Ok(Timeout(Some(Duration::from_secs(90))))
        );
        assert!(parse_timeout("soon").is_err());
    }

    #[derive(Debug, clap::Parser)]
    struct Line {
        #[command(subcommand)]
        command: RolloutCommand,
    }

    #[test]
    fn command_lines_parse_like_kubectls() {
        use clap::Parser;
        let line = Line::try_parse_from([
            "rollout",
            "status",
            "deployment/web",
            "--timeout",
            "30s",
            "--watch=false",
        ])
        .unwrap();
        let RolloutCommand::Status(args) = line.command else {
            panic!("not status");
        };
        assert_eq!(args.timeout, Timeout(Some(Duration::from_secs(30))));
        assert!(!args.watch);
        let line =
            Line::try_parse_from(["rollout", "undo", "deployment", "web", "--to-revision", "2"])
                .unwrap();
        let RolloutCommand::Undo(args) = line.command else {
            panic!("not undo");
        };
        assert_eq!((args.target.len(), args.to_revision), (2, 2));
        let line = Line::try_parse_from(["rollout", "status", "deployment/web"]).unwrap();
        let RolloutCommand::Status(args) = line.command else {
            panic!("not status");
        };
        assert_eq!((args.timeout, args.watch), (Timeout(None), true));
    }
}
