//! `edgectl create namespace NAME`.
use hyper::Method;
use serde_json::json;

use super::client::JSON;
use super::Context;
use crate::api::Kind;
use crate::master::route::collection_path;

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    #[command(subcommand)]
    pub what: CreateWhat,
}

#[derive(Debug, clap::Subcommand)]
pub enum CreateWhat {
    /// Create a namespace
    #[command(visible_alias = "ns")]
    Namespace {
        /// The namespace's name
        name: String,
    },
}

pub async fn run(context: &Context, args: CreateArgs) -> anyhow::Result<()> {
    let client = context.client()?;
    match args.what {
        CreateWhat::Namespace { name } => {
            let namespace = json!({
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": name},
            });
            client
                .send_json(
                    Method::POST,
                    &collection_path(Kind::Namespace, None),
                    JSON,
                    &namespace,
                )
                .await?;
            println!("namespace/{name} created");
        }
    }
    Ok(())
}
