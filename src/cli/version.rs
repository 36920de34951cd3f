//! `edgectl version`: this binary's version and build (commit, target, profile), then the
//! master's version.
use super::Context;
use crate::master::version::VersionInfo;

#[derive(Debug, clap::Args)]
pub struct VersionArgs {
    /// Print only the client version
    #[arg(long)]
    pub client: bool,
}

/// The client lines: kubectl's `Client Version:` and the build facts.
pub fn client_lines() -> String {
    use crate::version::{GIT_COMMIT, PROFILE, TARGET, VERSION};
    format!(
        "Client Version: v{VERSION}\ncommit: {GIT_COMMIT}\ntarget: {TARGET}\nprofile: {PROFILE}\n"
    )
}

pub async fn run(context: &Context, args: VersionArgs) -> anyhow::Result<()> {
    print!("{}", client_lines());
    if args.client {
        return Ok(());
    }
    let server: VersionInfo =
        serde_json::from_value(context.client()?.get_json("/version").await?)?;
    match server.git_commit.as_str() {
        "" => println!("Server Version: {}", server.git_version),
        commit => println!("Server Version: {} (commit {commit})", server.git_version),
    }
    Ok(())
}
