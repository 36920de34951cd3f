//! `edgectl` commands, one file per verb, and the HTTPS client they share. The binary parses
//! [`Cli`] and calls [`run`]; errors reach it as `anyhow` errors and are printed on one line.
use std::path::PathBuf;

use clap::{Parser, Subcommand};

pub mod apply;
pub mod client;
pub mod completion;
pub mod config;
pub mod cordon;
pub mod create;
pub mod delete;
pub mod describe;
pub mod drain;
pub mod exec;
pub mod get;
pub mod logs;
pub mod manifest;
pub mod output;
pub mod rollout;
pub mod scale;
pub mod table;
pub mod token;
pub mod top;
pub mod version;

use client::Client;

/// `edgectl`: the command line for a Flotilla cluster.
#[derive(Debug, Parser)]
#[command(
    name = "edgectl",
    version = crate::version::LONG,
    about = "Control a Flotilla cluster",
    max_term_width = 100
)]
pub struct Cli {
    /// Credential file [default: $EDGECONFIG, ~/.config/flotilla/config, /etc/flotilla/admin.conf]
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Master URL, instead of the credential's (https://host:port)
    // Not global: `edgectl flash --server` (a flag: "make this node a server") is another option
    // of the same name, and clap cannot give one name two types. Give it before the command.
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// Namespace [default: default]
    #[arg(short = 'n', long, global = true, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create or update objects from files, directories or stdin
    Apply(apply::ApplyArgs),
    /// List objects as tables, JSON, YAML or names
    Get(get::GetArgs),
    /// Show an object in detail, with its events
    Describe(describe::DescribeArgs),
    /// Delete objects by file, name or label selector
    Delete(delete::DeleteArgs),
    /// Create an object from the command line
    Create(create::CreateArgs),
    /// Set the number of replicas of a deployment or replica set
    Scale(scale::ScaleArgs),
    /// Manage the rollout of a deployment: status, history, undo, restart, pause, resume
    Rollout(rollout::RolloutArgs),
    /// Mark nodes unschedulable: no new pods are placed there
    Cordon(cordon::CordonArgs),
    /// Mark nodes schedulable again
    Uncordon(cordon::CordonArgs),
    /// Cordon a node and evict its pods (DaemonSet pods stay)
    Drain(drain::DrainArgs),
    /// Print a container's log (through the master)
    Logs(logs::LogsArgs),
    /// Run a command in a container (through the master); exits with its status
    Exec(exec::ExecArgs),
    /// Show CPU and memory use of nodes or pods
    Top(top::TopArgs),
    /// Print the client and server versions
    Version(version::VersionArgs),
    /// Print a shell completion script
    Completion(completion::CompletionArgs),
    /// Manage join tokens for new nodes
    Token(token::TokenArgs),
    /// Write a Raspberry Pi image that boots straight into the cluster
    Flash(Box<crate::flash::cli::FlashArgs>),
}

/// A failure whose messages were already printed (like kubectl's per-object errors); the
/// process only has to exit with status 1.
#[derive(Debug, thiserror::Error)]
#[error("{count} error(s)")]
pub struct Reported {
    pub count: usize,
}

/// The process must end with this exit status, nothing printed (`edgectl exec` passing on
/// its command's status).
#[derive(Debug, thiserror::Error)]
#[error("exit status {0}")]
pub struct Exit(pub u8);

/// What every command shares: where the credential is, which server, which namespace.
#[derive(Debug, Clone)]
pub struct Context {
    pub config: Option<PathBuf>,
    pub server: Option<String>,
    pub namespace: Option<String>,
}

impl Context {
    /// A client for the configured master.
    pub fn client(&self) -> anyhow::Result<Client> {
        let credential = config::load(self.config.as_deref())?;
        Ok(Client::new(&credential, self.server.as_deref())?)
    }

    /// The namespace to use: `-n`, else `default`.
    pub fn namespace(&self) -> &str {
        self.namespace.as_deref().unwrap_or("default")
    }
}

/// Runs one command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let context = Context {
        config: cli.config,
        server: cli.server,
        namespace: cli.namespace,
    };
    match cli.command {
        Command::Apply(args) => apply::run(&context, args).await,
        Command::Get(args) => get::run(&context, args).await,
        Command::Describe(args) => describe::run(&context, args).await,
        Command::Delete(args) => delete::run(&context, args).await,
        Command::Create(args) => create::run(&context, args).await,
        Command::Scale(args) => scale::run(&context, args).await,
        Command::Rollout(args) => rollout::run(&context, args).await,
        Command::Cordon(args) => cordon::run(&context, args, cordon::Cordon::Cordon).await,
        Command::Uncordon(args) => cordon::run(&context, args, cordon::Cordon::Uncordon).await,
        Command::Drain(args) => drain::run(&context, args).await,
        Command::Logs(args) => logs::run(&context, args).await,
        Command::Exec(args) => exec::run(&context, args).await,
        Command::Top(args) => top::run(&context, args).await,
        Command::Version(args) => version::run(&context, args).await,
        Command::Completion(args) => completion::run(args),
        Command::Token(args) => token::run(&context, args).await,
        Command::Flash(args) => crate::flash::cli::run(*args),
    }
}

/// The line to print for a failed command, or `None` when it was reported already. Server
/// statuses read as kubectl prints them (`Error from server (NotFound): …`); everything else
/// is `error: …`.
pub fn error_line(error: &anyhow::Error) -> Option<String> {
    if error.downcast_ref::<Reported>().is_some() || error.downcast_ref::<Exit>().is_some() {
        return None;
    }
    if let Some(client::ClientError::Status(_)) = error.downcast_ref::<client::ClientError>() {
        return Some(error.to_string());
    }
    // A manifest with several problems reports each on its own `error:` line.
    let text = format!("{error:#}");
    Some(
        text.lines()
            .map(|line| format!("error: {line}"))
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

/// `(kind word, name)` pairs named on the command line.
pub type Named = Vec<(String, String)>;

/// Splits `KIND NAME…` or `KIND/NAME…` arguments into kind words (when no names are given) and
/// (kind word, name) pairs.
pub fn split_targets(args: &[String]) -> anyhow::Result<(Vec<String>, Named)> {
    let Some(first) = args.first() else {
        anyhow::bail!("you must specify the type of resource");
    };
    if first.contains('/') {
        let mut pairs = Vec::new();
        for arg in args {
            let Some((kind, name)) = arg.split_once('/') else {
                anyhow::bail!(
                    "there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'edgectl get resource/<resource_name>' instead of 'edgectl get resource resource/<resource_name>')"
                );
            };
            pairs.push((kind.to_string(), name.to_string()));
        }
        return Ok((Vec::new(), pairs));
    }
    let kinds: Vec<String> = first.split(',').map(str::to_string).collect();
    let names = &args[1..];
    if names.is_empty() {
        return Ok((kinds, Vec::new()));
    }
    if kinds.len() > 1 {
        anyhow::bail!("names can only be given with a single resource type");
    }
    Ok((
        Vec::new(),
        names
            .iter()
            .map(|n| (kinds[0].clone(), n.clone()))
            .collect(),
    ))
}

/// Resolves a kind word the way kubectl does.
pub fn kind_from_cli(word: &str) -> anyhow::Result<crate::api::Kind> {
    crate::api::Kind::from_cli(word)
        .ok_or_else(|| anyhow::anyhow!("the server doesn't have a resource type \"{word}\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn targets_split_in_both_forms() {
        let (kinds, names) = split_targets(&strings(&["po,svc"])).unwrap();
        assert_eq!(kinds, ["po", "svc"]);
        assert!(names.is_empty());
        let (_, names) = split_targets(&strings(&["deploy", "a", "b"])).unwrap();
        assert_eq!(
            names,
            [("deploy".into(), "a".into()), ("deploy".into(), "b".into())]
        );
        let (_, names) = split_targets(&strings(&["pod/a", "svc/b"])).unwrap();
        assert_eq!(
            names,
            [("pod".into(), "a".into()), ("svc".into(), "b".into())]
        );
        assert!(split_targets(&strings(&["pod/a", "b"])).is_err());
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
