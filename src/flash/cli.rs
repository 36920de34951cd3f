//! The `edgectl flash` command: flags, the device confirmation, progress on stderr.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{ArgGroup, Args};

use super::arch::Arch;
use super::fat32::FatTimestamp;
use super::firstboot::{Generation, NodeSettings, Role, Wifi, SSH_KEYS_BYTES_MAX};
use super::plan::Overrides;
use super::{device, EdgedSource, FlashRequest, Target};

/// Progress is redrawn at most this often.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(200);

/// `edgectl flash`: write a Raspberry Pi image that boots straight into the cluster.
#[derive(Debug, Args)]
#[command(
    group(ArgGroup::new("role").required(true).args(["server", "master"])),
    group(ArgGroup::new("target").required(true).args(["out", "device"])),
    after_help = "Examples:\n  edgectl flash --image raspios-lite-arm64.img --hostname pi-1 --server --out pi-1.img\n  \
                  edgectl flash --image raspios-lite-arm64.img --hostname pi-2 \\\n      \
                  --master https://pi-1:7443 --join EDGE1.… --ssh-key ~/.ssh/id_ed25519.pub --device /dev/sdb"
)]
pub struct FlashArgs {
    /// The base image: Raspberry Pi OS (Bookworm or Trixie) or Ubuntu for Pi, uncompressed.
    #[arg(long, value_name = "BASE.img")]
    pub image: PathBuf,
    /// The node's hostname, also its name in the cluster (a DNS label).
    #[arg(long, value_name = "NAME")]
    pub hostname: String,
    /// Make the node a server (the first board: master and agent).
    #[arg(long)]
    pub server: bool,
    /// Make the node an agent joining the master at this URL (https://HOST:7443).
    #[arg(long, value_name = "URL", requires = "join")]
    pub master: Option<String>,
    /// The join token for --master (`edgectl token create`).
    #[arg(long, value_name = "TOKEN", requires = "master")]
    pub join: Option<String>,
    /// An OpenSSH public key file (authorized_keys format) for the login user.
    #[arg(long, value_name = "FILE")]
    pub ssh_key: Option<PathBuf>,
    /// The login user created on first boot (password locked: log in with --ssh-key).
    #[arg(long, value_name = "USER", default_value = "pi")]
    pub user: String,
    /// Join this Wi-Fi network.
    #[arg(long, value_name = "SSID", requires = "wifi_psk")]
    pub wifi: Option<String>,
    /// The Wi-Fi passphrase (or set FLOTILLA_WIFI_PSK to keep it out of the shell history).
    #[arg(
        long,
        value_name = "PSK",
        requires = "wifi",
        env = "FLOTILLA_WIFI_PSK",
        hide_env_values = true
    )]
    pub wifi_psk: Option<String>,
    /// Wi-Fi country (GB, US, DE …): Raspberry Pi OS keeps Wi-Fi blocked until one is set.
    #[arg(long, value_name = "CC", requires = "wifi")]
    pub wifi_country: Option<String>,
    /// The edged binary for the image's architecture (default: an edged next to edgectl).
    #[arg(long, value_name = "PATH")]
    pub edged: Option<PathBuf>,
    /// The image's architecture, when it cannot be told from its boot partition.
    #[arg(long, value_name = "aarch64|armv7")]
    pub arch: Option<Arch>,
    /// The first-boot mechanism, when the default guess is wrong.
    #[arg(long, value_name = "cloud-init|firstrun")]
    pub first_boot: Option<Generation>,
    /// Turn Bluetooth off, and Wi-Fi too unless --wifi is given.
    #[arg(long)]
    pub radios_off: bool,
    /// Write the result to this image file (sparse).
    #[arg(long, value_name = "OUT.img")]
    pub out: Option<PathBuf>,
    /// Write the result to this whole disk (an SD card: /dev/sdX, /dev/mmcblkN).
    #[arg(long, value_name = "/dev/sdX")]
    pub device: Option<PathBuf>,
    /// Do not ask for confirmation before overwriting --device.
    #[arg(long, short = 'y', requires = "device")]
    pub yes: bool,
}

/// Runs `edgectl flash`.
pub fn run(args: FlashArgs) -> anyhow::Result<()> {
    let request = request(&args)?;
    let prepared = super::prepare(&request)?;
    eprintln!(
        "{}: {} image, {} first boot, boot partition {}; edged from {}",
        args.image.display(),
        prepared.plan.arch,
        match prepared.plan.generation {
            Generation::CloudInit => "cloud-init",
            Generation::Firstrun => "firstrun.sh",
        },
        prepared.partition.index,
        prepared.edged_path.display()
    );
    let target = match (&args.out, &args.device) {
        (Some(out), _) => Target::File(out.clone()),
        (None, Some(dev)) => {
            let disk = device::inspect_disk(dev)?;
            let system = device::inspect_system()?;
            device::check(&disk, &system, prepared.image_bytes)?;
            if !args.yes {
                confirm(dev, &disk, prepared.image_bytes)?;
            }
            Target::Device(dev.clone())
        }
        (None, None) => bail!("give --out FILE or --device /dev/sdX"),
    };
    let mut progress = Progress::new(if matches!(target, Target::Device(_)) {
        "writing"
    } else {
        "copying"
    });
    let report = super::write(&prepared, &target, &mut |done, total| {
        progress.update(done, total)
    })?;
    progress.finish();
    eprintln!(
        "{}: {} MiB image ({} MiB written), {} files on the boot partition; {} boots as {}",
        target.path().display(),
        report.copy.total_bytes >> 20,
        report.copy.written_bytes >> 20,
        report.files_written,
        args.hostname,
        match request.settings.role() {
            Role::Server => "a server".to_string(),
            Role::Agent { master_url, .. } => format!("an agent of {master_url}"),
        }
    );
    Ok(())
}

fn request(args: &FlashArgs) -> anyhow::Result<FlashRequest> {
    let role = match (&args.master, &args.join) {
        (Some(url), Some(token)) if !args.server => Role::agent(url, token)?,
        _ => Role::Server,
    };
    let ssh_keys = match &args.ssh_key {
        None => None,
        Some(path) => {
            let meta =
                std::fs::metadata(path).with_context(|| format!("--ssh-key {}", path.display()))?;
            if meta.len() > SSH_KEYS_BYTES_MAX {
                bail!(
                    "--ssh-key {}: larger than {SSH_KEYS_BYTES_MAX} bytes",
                    path.display()
                );
            }
            Some(
                std::fs::read_to_string(path)
                    .with_context(|| format!("--ssh-key {}", path.display()))?,
            )
        }
    };
    let wifi = match (&args.wifi, &args.wifi_psk) {
        (Some(ssid), Some(psk)) => Some(Wifi::new(ssid, psk, args.wifi_country.as_deref())?),
        _ => None,
    };
    if wifi.is_some() && args.wifi_country.is_none() {
        eprintln!("warning: no --wifi-country: Raspberry Pi OS keeps Wi-Fi blocked until a country is set");
    }
    let settings = NodeSettings::new(&args.hostname, role, &args.user, ssh_keys.as_deref(), wifi)?;
    let edged = match &args.edged {
        Some(path) => EdgedSource::Path(path.clone()),
        None => EdgedSource::Search(edged_candidates()),
    };
    Ok(FlashRequest {
        image: args.image.clone(),
        settings,
        edged,
        overrides: Overrides {
            arch: args.arch,
            generation: args.first_boot,
            radios_off: args.radios_off,
            wifi: args.wifi.is_some(),
        },
        now: now(),
    })
}

/// Where an `edged` may sit relative to this `edgectl`: beside it (a release archive), or in
/// cargo's cross-build directories (`target/<triple>/release/edged` from `target/release/`).
fn edged_candidates() -> Vec<PathBuf> {
    let Ok(exe) = std::env::current_exe() else {
        return Vec::new();
    };
    let Some(dir) = exe.parent() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for arch in [Arch::Aarch64, Arch::Armv7] {
        let triple = arch.target_triple();
        out.push(dir.join(format!("edged-{triple}")));
        if let Some(target_dir) = dir.parent() {
            out.push(target_dir.join(triple).join("release").join("edged"));
        }
    }
    out.push(dir.join("edged"));
    out
}

fn now() -> FatTimestamp {
    let t = time::OffsetDateTime::now_utc();
    FatTimestamp::new(
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
    )
}

fn confirm(
    path: &std::path::Path,
    disk: &device::DiskInfo,
    image_bytes: u64,
) -> anyhow::Result<()> {
    eprint!(
        "This ERASES {} ({}{} GB) and writes a {} MiB image to it.\nType 'yes' to continue: ",
        path.display(),
        if disk.model.is_empty() {
            String::new()
        } else {
            format!("{}, ", disk.model)
        },
        disk.size_bytes / 1_000_000_000,
        image_bytes >> 20
    );
    std::io::stderr().flush().ok();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if answer.trim() != "yes" {
        bail!("not confirmed; nothing was written");
    }
    Ok(())
}

/// A one-line progress display on stderr, only when stderr is a terminal.
struct Progress {
    label: &'static str,
    terminal: bool,
    last: Option<Instant>,
    started: Instant,
}

impl Progress {
    fn new(label: &'static str) -> Progress {
        Progress {
            label,
            terminal: std::io::stderr().is_terminal(),
            last: None,
            started: Instant::now(),
        }
    }

    fn update(&mut self, done: u64, total: u64) {
        if !self.terminal {
            return;
        }
        let now = Instant::now();
        if self.last.is_some_and(|l| now - l < PROGRESS_INTERVAL) && done < total {
            return;
        }
        self.last = Some(now);
        let secs = (now - self.started).as_secs_f64().max(0.001);
        eprint!(
            "\r{} {} / {} MiB ({}%), {:.1} MiB/s   ",
            self.label,
            done >> 20,
            total >> 20,
            (done * 100).checked_div(total).unwrap_or(100),
            (done as f64 / 1_048_576.0) / secs
        );
    }

    fn finish(&mut self) {
        if self.terminal && self.last.is_some() {
            eprintln!();
        }
    }
}
