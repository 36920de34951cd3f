//! `edgectl version`: this binary's version, then the master's.
use super::Context;
use crate::master::version::{self, VersionInfo};

#[derive(Debug, clap::Args)]
pub struct VersionArgs {
    /// Print only the client version
    #[arg(long)]
    pub client: bool,
}

pub async fn run(context: &Context, args: VersionArgs) -> anyhow::Result<()> {
    let client_version = version::current();
    println!("Client Version: {}", client_version.git_version);
    if args.client {
        return Ok(());
    }
    let server: VersionInfo =
        serde_json::from_value(context.client()?.get_json("/version").await?)?;
    println!("Server Version: {}", server.git_version);
    Ok(())
}
