//! `edged image import|pull|ls|rm`: the node's image store, used directly (the agent sees the
//! changes at its next lookup).
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;

use crate::agent::image::import::import_path;
use crate::agent::image::platform::HostPlatform;
use crate::agent::image::pull::{PullProgress, Puller};
use crate::agent::image::registries::RegistriesConfig;
use crate::agent::image::store::LockMode;
use crate::agent::image::{ImageRef, ImageStore};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The agent's data directory.
    #[arg(long, default_value = "/var/lib/flotilla/agent", global = true)]
    pub data_dir: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Import an OCI layout directory, an OCI archive or a `docker save` archive (plain, gzip or zstd).
    Import { file: PathBuf },
    /// Pull an image from its registry (or the mirrors in registries.yaml).
    Pull {
        reference: String,
        #[arg(long, default_value = crate::agent::image::registries::DEFAULT_PATH)]
        registries: PathBuf,
    },
    /// List the node's images.
    Ls,
    /// Forget an image; its layers are deleted when no other image uses them. An image that a
    /// container on this node was created from is kept unless `--force` is given.
    Rm {
        reference: String,
        /// Remove it even though containers use it (their root file systems break).
        #[arg(long)]
        force: bool,
    },
}

fn open_store(args: &Args) -> anyhow::Result<ImageStore> {
    ImageStore::open(&args.data_dir.join("images"), HostPlatform::detect())
        .with_context(|| format!("opening the image store in {}", args.data_dir.display()))
}

fn human_bytes(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1}GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1}MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1}KiB", b as f64 / 1024.0),
        b => format!("{b}B"),
    }
}

/// Fails, naming the containers, when removing `reference` would delete the layers under
/// containers of this node (running, or exited and due to restart): overlayfs lower
/// directories must not change under a mounted root. Another tag of the same image keeps them.
fn refuse_in_use(
    data_dir: &std::path::Path,
    store: &ImageStore,
    reference: &ImageRef,
) -> anyhow::Result<()> {
    let Some(record) = store.resolve(reference) else {
        // `remove` names the missing image.
        return Ok(());
    };
    let other_tag = store
        .list()
        .iter()
        .any(|r| r.config == record.config && r.reference != record.reference);
    if other_tag {
        return Ok(());
    }
    let users: Vec<String> = crate::agent::runtime::engine::recorded_containers(data_dir)
        .into_iter()
        .filter(|(_, labels)| {
            labels
                .get(crate::agent::pods::naming::LABEL_IMAGE_ID)
                .and_then(|id| id.parse::<crate::agent::image::Digest>().ok())
                .is_some_and(|id| id == record.config)
        })
        .map(
            |(id, labels)| match labels.get(crate::agent::pods::naming::LABEL_POD) {
                Some(pod) => format!("{id} (pod {pod})"),
                None => id.to_string(),
            },
        )
        .collect();
    if users.is_empty() {
        return Ok(());
    }
    anyhow::bail!(
        "image {reference} is used by {} container(s) on this node: {}; delete their pods first, or pass --force",
        users.len(),
        users.join(", ")
    )
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let store = Arc::new(open_store(&args)?);
    match &args.command {
        Command::Import { file } => {
            let (store, file) = (store.clone(), file.clone());
            let records = tokio::task::spawn_blocking(move || import_path(&store, &file)).await??;
            for record in records {
                println!("imported {} ({})", record.reference, record.config.short());
            }
        }
        Command::Pull {
            reference,
            registries,
        } => {
            let reference: ImageRef = reference.parse()?;
            let puller = Puller::new(RegistriesConfig::load(registries)?);
            // Kept until the image is recorded: the agent's collector does not sweep the
            // blobs meanwhile.
            let lock_store = store.clone();
            let _lock =
                tokio::task::spawn_blocking(move || lock_store.lock(LockMode::Shared, true))
                    .await??;
            let interactive = std::io::IsTerminal::is_terminal(&std::io::stderr());
            let last = std::sync::Mutex::new(0u64);
            let report = move |p: PullProgress| {
                let mut last = last.lock().expect("progress lock");
                // One line per MiB at most.
                if interactive
                    && (p.bytes_done >= *last + (1 << 20) || p.bytes_done == p.bytes_total)
                {
                    *last = p.bytes_done;
                    eprint!(
                        "\r{} / {}   ",
                        human_bytes(p.bytes_done),
                        human_bytes(p.bytes_total)
                    );
                }
            };
            let record = puller.pull(&store, &reference, Some(&report)).await?;
            if interactive {
                eprintln!();
            }
            println!(
                "pulled {} ({}, {})",
                record.reference,
                record.manifest,
                human_bytes(record.size_bytes)
            );
        }
        Command::Ls => {
            use std::io::Write;
            let mut out = tabwriter::TabWriter::new(std::io::stdout())
                .minwidth(3)
                .padding(3);
            writeln!(out, "IMAGE\tIMAGE ID\tSIZE")?;
            for record in store.list() {
                writeln!(
                    out,
                    "{}\t{}\t{}",
                    record.reference,
                    record.config.short(),
                    human_bytes(record.size_bytes)
                )?;
            }
            out.flush()?;
        }
        Command::Rm { reference, force } => {
            let reference: ImageRef = reference.parse()?;
            if !force {
                refuse_in_use(&args.data_dir, &store, &reference)?;
            }
            store.remove(&reference)?;
            let store_gc = store.clone();
            // Sweep what no image uses any more, once no pull or import is under way.
            tokio::task::spawn_blocking(move || {
                let _lock = store_gc.lock(LockMode::Exclusive, true)?;
                store_gc.sweep()
            })
            .await??;
            println!("removed {reference}");
        }
    }
    Ok(())
}
