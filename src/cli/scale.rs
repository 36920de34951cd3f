//! `edgectl scale deployment/NAME --replicas N`: a merge patch of `spec.replicas`.
use hyper::Method;
use serde_json::json;

use super::client::MERGE_PATCH;
use super::{kind_from_cli, split_targets, Context};
use crate::api::Kind;
use crate::master::route::object_path;

#[derive(Debug, clap::Args)]
pub struct ScaleArgs {
    /// deployment/NAME or replicaset/NAME (or KIND NAME)
    #[arg(required = true, value_name = "KIND/NAME")]
    pub targets: Vec<String>,
    /// The number of replicas wanted
    #[arg(long)]
    pub replicas: u32,
}

pub async fn run(context: &Context, args: ScaleArgs) -> anyhow::Result<()> {
    let (_, named) = split_targets(&args.targets)?;
    if named.is_empty() {
        anyhow::bail!("scale needs a name: edgectl scale deployment/NAME --replicas N");
    }
    let client = context.client()?;
    let patch = json!({"spec": {"replicas": args.replicas}});
    for (word, name) in named {
        let kind = kind_from_cli(&word)?;
        if !matches!(kind, Kind::Deployment | Kind::ReplicaSet) {
            anyhow::bail!(
                "{} cannot be scaled; scale a deployment or a replica set",
                kind.resource_name()
            );
        }
        client
            .send_json(
                Method::PATCH,
                &object_path(kind, Some(context.namespace()), &name),
                MERGE_PATCH,
                &patch,
            )
            .await?;
        println!("{}/{name} scaled", kind.resource_name());
    }
    Ok(())
}
