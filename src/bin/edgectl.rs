//! `edgectl`: the command line for a Flotilla cluster.
use clap::{Parser, Subcommand};

/// The command line for a Flotilla cluster.
#[derive(Debug, Parser)]
#[command(name = "edgectl", version = flotilla::version::LONG)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a Raspberry Pi image that boots straight into the cluster.
    Flash(Box<flotilla::flash::cli::FlashArgs>),
    /// Print the version, git commit, target and build profile.
    Version,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Flash(args) => flotilla::flash::cli::run(*args),
        Command::Version => {
            print!("{}", flotilla::version::report("edgectl"));
            Ok(())
        }
    }
}
