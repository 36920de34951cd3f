//! What flash writes to the boot partition for the first boot: the node's settings as plain files
//! under `flotilla/`, the unit, the shared installer script, and the hook of the image's
//! generation (cloud-init `user-data`/`meta-data`/`network-config`, or Bookworm's `firstrun.sh`).
//!
//! Pure: settings in, files out. Every value is validated here, and the scripts never interpolate
//! a value into shell code: they read each one from its own file.

use thiserror::Error;

use super::arch::Arch;
use super::cmdline;

/// The installer shared by both generations (`flotilla/firstboot.sh` on the boot partition).
pub const FIRSTBOOT_SH: &str = include_str!("../../firmware-configs/raspberry-pi/firstboot.sh");
/// Bookworm's hook, run once through `systemd.run=` (`firstrun.sh` at the partition root).
pub const FIRSTRUN_SH: &str = include_str!("../../firmware-configs/raspberry-pi/firstrun.sh");
const USER_DATA: &str = include_str!("../../firmware-configs/raspberry-pi/user-data");
const META_DATA: &str = include_str!("../../firmware-configs/raspberry-pi/meta-data");
const NETWORK_CONFIG: &str = include_str!("../../firmware-configs/raspberry-pi/network-config");
const SERVER_UNIT: &str = include_str!("../../systemd/edged-server.service");
const AGENT_UNIT: &str = include_str!("../../systemd/edged-agent.service");

/// Directory on the boot partition that carries everything for the first boot.
pub const DIR: &str = "flotilla";
/// The parameters of the legacy hook (as Raspberry Pi Imager writes them for Bookworm).
pub const FIRSTRUN_PARAMS: &[&str] = &[
    "systemd.run=/boot/firstrun.sh",
    "systemd.run_success_action=reboot",
    "systemd.unit=kernel-command-line.target",
];
/// Files that mark an image whose first boot is driven by cloud-init.
const CLOUD_INIT_MARKERS: &[&str] = &["user-data", "meta-data", "network-config"];
/// An authorized_keys file larger than this is a mistake.
pub const SSH_KEYS_BYTES_MAX: u64 = 64 * 1024;

/// How an image configures itself on first boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generation {
    /// cloud-init's NoCloud data source on the boot partition (Raspberry Pi OS from Trixie on,
    /// Ubuntu for Pi).
    CloudInit,
    /// Raspberry Pi OS Bookworm and older: a script run once by `systemd.run=`.
    Firstrun,
}

impl Generation {
    /// Tells the generation from the names in the root of the boot partition.
    pub fn detect(root_names: &[String]) -> Generation {
        let cloud_init = root_names
            .iter()
            .any(|n| CLOUD_INIT_MARKERS.iter().any(|m| n.eq_ignore_ascii_case(m)));
        if cloud_init {
            Generation::CloudInit
        } else {
            Generation::Firstrun
        }
    }
}

impl std::str::FromStr for Generation {
    type Err = SettingsError;

    fn from_str(s: &str) -> Result<Generation, SettingsError> {
        match s {
            "cloud-init" => Ok(Generation::CloudInit),
            "firstrun" => Ok(Generation::Firstrun),
            _ => Err(SettingsError::Invalid {
                field: "--first-boot",
                reason: "use cloud-init or firstrun",
            }),
        }
    }
}

/// A setting that cannot be written safely.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SettingsError {
    /// the value breaks a rule
    #[error("{field}: {reason}")]
    Invalid {
        field: &'static str,
        reason: &'static str,
    },
}

fn invalid(field: &'static str, reason: &'static str) -> SettingsError {
    SettingsError::Invalid { field, reason }
}

/// What the node does once booted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// `edged server`: the first board of a cluster, master and agent in one.
    Server,
    /// `edged agent`, joining the master at `master_url` with a join token.
    Agent { master_url: String, token: String },
}

impl Role {
    /// Validates the URL (https, no spaces or quotes) and the token's characters.
    pub fn agent(master_url: &str, token: &str) -> Result<Role, SettingsError> {
        let url_ok = master_url.starts_with("https://")
            && master_url.len() > "https://".len()
            && master_url.len() <= 2048
            && master_url
                .bytes()
                .all(|b| b.is_ascii_graphic() && !b"\"'\\$`".contains(&b));
        if !url_ok {
            return Err(invalid(
                "--master",
                "must be an https:// URL without spaces or quotes",
            ));
        }
        let token_ok = !token.is_empty()
            && token.len() <= 1024
            && token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if !token_ok {
            return Err(invalid(
                "--join",
                "a join token has only letters, digits, '.', '_' and '-'",
            ));
        }
        Ok(Role::Agent {
            master_url: master_url.into(),
            token: token.into(),
        })
    }

    /// The systemd unit this role runs under.
    pub fn unit_name(&self) -> &'static str {
        match self {
            Role::Server => "edged-server.service",
            Role::Agent { .. } => "edged-agent.service",
        }
    }

    fn unit_text(&self) -> &'static str {
        match self {
            Role::Server => SERVER_UNIT,
            Role::Agent { .. } => AGENT_UNIT,
        }
    }

    /// The `EnvironmentFile=` of the unit (installed with mode 0600: it holds the token).
    fn env_file(&self) -> String {
        let mut out = String::from(
            "# Written by `edgectl flash`; installed as /etc/flotilla/edged.env (mode 0600).\n",
        );
        if let Role::Agent { master_url, token } = self {
            out.push_str(&format!(
                "FLOTILLA_URL={master_url}\nFLOTILLA_TOKEN={token}\n"
            ));
        }
        out
    }
}

/// Wi-Fi settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wifi {
    ssid: String,
    psk: String,
    country: Option<String>,
}

impl Wifi {
    /// SSID 1–32 bytes, passphrase 8–63 printable ASCII characters (or 64 hex digits),
    /// country an ISO 3166 alpha-2 code.
    pub fn new(ssid: &str, psk: &str, country: Option<&str>) -> Result<Wifi, SettingsError> {
        if ssid.is_empty() || ssid.len() > 32 || ssid.chars().any(char::is_control) {
            return Err(invalid(
                "--wifi",
                "an SSID has 1 to 32 bytes and no control characters",
            ));
        }
        let hex = psk.len() == 64 && psk.bytes().all(|b| b.is_ascii_hexdigit());
        let passphrase =
            (8..=63).contains(&psk.len()) && psk.bytes().all(|b| (0x20..0x7F).contains(&b));
        if !hex && !passphrase {
            return Err(invalid(
                "--wifi-psk",
                "a WPA passphrase has 8 to 63 printable ASCII characters",
            ));
        }
        if let Some(c) = country {
            if c.len() != 2 || !c.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(invalid(
                    "--wifi-country",
                    "a country is two capital letters (GB, US, DE …)",
                ));
            }
        }
        Ok(Wifi {
            ssid: ssid.into(),
            psk: psk.into(),
            country: country.map(str::to_string),
        })
    }
}

/// Everything the first boot sets up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSettings {
    hostname: String,
    role: Role,
    user: String,
    ssh_keys: Option<String>,
    wifi: Option<Wifi>,
}

impl NodeSettings {
    /// Validates the hostname (a DNS label: the node's name in the cluster), the login user and
    /// the SSH public keys (`authorized_keys` lines).
    pub fn new(
        hostname: &str,
        role: Role,
        user: &str,
        ssh_keys: Option<&str>,
        wifi: Option<Wifi>,
    ) -> Result<NodeSettings, SettingsError> {
        let label_ok = (1..=63).contains(&hostname.len())
            && hostname
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !hostname.starts_with('-')
            && !hostname.ends_with('-');
        if !label_ok {
            return Err(invalid(
                "--hostname",
                "a node name is 1 to 63 lower-case letters, digits and '-', not starting or ending with '-'",
            ));
        }
        let user_ok = (1..=32).contains(&user.len())
            && user
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
            && user
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-".contains(&b));
        if !user_ok {
            return Err(invalid(
                "--user",
                "a user name is 1 to 32 of a-z, 0-9, '_' and '-', starting with a letter",
            ));
        }
        let ssh_keys = match ssh_keys {
            None => None,
            Some(text) => Some(validate_keys(text)?),
        };
        Ok(NodeSettings {
            hostname: hostname.into(),
            role,
            user: user.into(),
            ssh_keys,
            wifi,
        })
    }

    /// The node's hostname.
    pub fn hostname(&self) -> &str {
        &self.hostname
    }

    /// The node's role.
    pub fn role(&self) -> &Role {
        &self.role
    }
}

fn validate_keys(text: &str) -> Result<String, SettingsError> {
    let keys: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let looks_like_key = |l: &&str| {
        ["ssh-", "ecdsa-sha2-", "sk-ssh-", "sk-ecdsa-"]
            .iter()
            .any(|p| l.starts_with(p))
            && l.split_whitespace().count() >= 2
    };
    if keys.is_empty() || !keys.iter().all(looks_like_key) {
        return Err(invalid(
            "--ssh-key",
            "expected OpenSSH public keys (ssh-ed25519 AAAA… lines), not a private key",
        ));
    }
    Ok(keys.join("\n") + "\n")
}

/// One file to write on the boot partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootFile {
    /// Path from the partition root, `/`-separated.
    pub path: String,
    /// Contents.
    pub contents: Vec<u8>,
}

fn file(path: &str, contents: impl Into<Vec<u8>>) -> BootFile {
    BootFile {
        path: path.into(),
        contents: contents.into(),
    }
}

fn in_dir(name: &str, contents: impl Into<Vec<u8>>) -> BootFile {
    file(&format!("{DIR}/{name}"), contents)
}

/// The files for `settings` on an image of `generation` (the `edged` binary is added by the
/// caller, at `flotilla/edged`).
pub fn render(settings: &NodeSettings, generation: Generation) -> Vec<BootFile> {
    let role = &settings.role;
    let mut files = vec![
        in_dir("firstboot.sh", FIRSTBOOT_SH),
        in_dir("unit", format!("{}\n", role.unit_name())),
        in_dir(role.unit_name(), role.unit_text()),
        in_dir("edged.env", role.env_file()),
    ];
    if settings.ssh_keys.is_some() {
        files.push(in_dir("enable-ssh", "1\n"));
    }
    if let Some(country) = settings.wifi.as_ref().and_then(|w| w.country.as_ref()) {
        files.push(in_dir("wifi-country", format!("{country}\n")));
    }
    match generation {
        Generation::CloudInit => {
            files.push(file("user-data", user_data(settings)));
            files.push(file(
                "meta-data",
                fill(META_DATA, &[("hostname", &settings.hostname)]),
            ));
            files.push(file(
                "network-config",
                network_config(settings.wifi.as_ref()),
            ));
        }
        Generation::Firstrun => {
            files.push(file("firstrun.sh", FIRSTRUN_SH));
            files.push(in_dir("hostname", format!("{}\n", settings.hostname)));
            files.push(in_dir("user", format!("{}\n", settings.user)));
            if let Some(keys) = &settings.ssh_keys {
                files.push(in_dir("authorized_keys", keys.as_str()));
            }
            if let Some(wifi) = &settings.wifi {
                files.push(in_dir("wifi-ssid", format!("{}\n", wifi.ssid)));
                files.push(in_dir("wifi-psk", format!("{}\n", wifi.psk)));
            }
        }
    }
    files
}

/// The kernel parameters an image needs: the cgroup flags, and the hook for Bookworm.
pub fn cmdline_params(generation: Generation, arch: Arch) -> Vec<&'static str> {
    let mut params = cmdline::CGROUP_PARAMS.to_vec();
    if arch == Arch::Armv7 {
        params.extend_from_slice(cmdline::CGROUP_PARAMS_32BIT);
    }
    if generation == Generation::Firstrun {
        params.extend_from_slice(FIRSTRUN_PARAMS);
    }
    params
}

fn user_data(settings: &NodeSettings) -> String {
    let keys = match &settings.ssh_keys {
        None => "[]".to_string(),
        Some(keys) => {
            let quoted: Vec<String> = keys.lines().map(yaml_quote).collect();
            format!("[{}]", quoted.join(", "))
        }
    };
    fill(
        USER_DATA,
        &[
            ("hostname", &settings.hostname),
            ("user", &settings.user),
            ("ssh_authorized_keys", &keys),
        ],
    )
}

fn network_config(wifi: Option<&Wifi>) -> String {
    let wifis = match wifi {
        None => String::new(),
        Some(w) => {
            let mut block =
                String::from("  wifis:\n    wlan0:\n      dhcp4: true\n      optional: true\n");
            if let Some(country) = &w.country {
                block.push_str(&format!(
                    "      regulatory-domain: {}\n",
                    yaml_quote(country)
                ));
            }
            block.push_str(&format!(
                "      access-points:\n        {}:\n          password: {}\n",
                yaml_quote(&w.ssid),
                yaml_quote(&w.psk)
            ));
            block
        }
    };
    fill(NETWORK_CONFIG, &[("wifis", wifis.trim_end_matches('\n'))])
}

/// Replaces each `{{name}}` of `template`. A placeholder left over is a bug in the templates,
/// which the tests catch.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = template.to_string();
    for (name, value) in values {
        out = out.replace(&format!("{{{{{name}}}}}"), value);
    }
    out
}

/// A YAML double-quoted scalar: safe for any SSID or passphrase.
fn yaml_quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBx7 admin@laptop";

    fn agent() -> Role {
        Role::agent("https://pi-1:7443", "EDGE1.abc.def.ghi").unwrap()
    }

    fn settings(wifi: Option<Wifi>) -> NodeSettings {
        NodeSettings::new("pi-2", agent(), "pi", Some(KEY), wifi).unwrap()
    }

    fn find<'a>(files: &'a [BootFile], path: &str) -> &'a str {
        let f = files
            .iter()
            .find(|f| f.path == path)
            .unwrap_or_else(|| panic!("{path} missing"));
        std::str::from_utf8(&f.contents).unwrap()
    }

    #[test]
    fn generation_is_cloud_init_when_its_seed_files_are_present() {
        let names = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            Generation::detect(&names(&["config.txt", "user-data"])),
            Generation::CloudInit
        );
        assert_eq!(
            Generation::detect(&names(&["META-DATA"])),
            Generation::CloudInit
        );
        assert_eq!(
            Generation::detect(&names(&["config.txt", "issue.txt"])),
            Generation::Firstrun
        );
    }

    #[test]
    fn cloud_init_files_carry_the_settings_and_no_placeholder_is_left() {
        let wifi = Wifi::new("Home \"5G\"", "correct horse", Some("GB")).unwrap();
        let files = render(&settings(Some(wifi)), Generation::CloudInit);
        for f in &files {
            let text = String::from_utf8_lossy(&f.contents);
            assert!(!text.contains("{{"), "{} keeps a placeholder", f.path);
        }
        let user_data = find(&files, "user-data");
        assert!(user_data.starts_with("#cloud-config\n"));
        assert!(user_data.contains("hostname: pi-2\n"));
        assert!(user_data.contains(&format!("[\"{KEY}\"]")));
        assert!(
            !user_data.contains("EDGE1"),
            "the token stays out of user-data"
        );
        let network = find(&files, "network-config");
        assert!(network.contains("\"Home \\\"5G\\\"\":"), "{network}");
        assert!(network.contains("password: \"correct horse\""));
        assert!(find(&files, "meta-data").contains("pi-2"));
        assert!(find(&files, "flotilla/edged.env").contains("FLOTILLA_TOKEN=EDGE1.abc.def.ghi\n"));
        assert_eq!(find(&files, "flotilla/unit"), "edged-agent.service\n");
        assert!(find(&files, "flotilla/edged-agent.service").contains("Type=notify"));
        assert!(!files.iter().any(|f| f.path == "firstrun.sh"));
    }

    #[test]
    fn firstrun_images_get_the_hook_and_plain_value_files() {
        let wifi = Wifi::new("home", "correct horse", None).unwrap();
        let files = render(&settings(Some(wifi)), Generation::Firstrun);
        assert!(find(&files, "firstrun.sh").starts_with("#!/bin/sh"));
        assert_eq!(find(&files, "flotilla/hostname"), "pi-2\n");
        assert_eq!(find(&files, "flotilla/wifi-ssid"), "home\n");
        assert_eq!(find(&files, "flotilla/authorized_keys"), format!("{KEY}\n"));
        assert!(!files.iter().any(|f| f.path == "user-data"));
    }

    #[test]
    fn server_has_no_token_and_runs_the_server_unit() {
        let s = NodeSettings::new("pi-1", Role::Server, "pi", None, None).unwrap();
        let files = render(&s, Generation::Firstrun);
        assert_eq!(find(&files, "flotilla/unit"), "edged-server.service\n");
        assert!(!find(&files, "flotilla/edged.env").contains("FLOTILLA_TOKEN"));
        assert!(!files.iter().any(|f| f.path.ends_with("authorized_keys")));
    }

    #[test]
    fn bookworm_gets_the_hook_parameters_and_32_bit_gets_cpuset() {
        let p = cmdline_params(Generation::Firstrun, Arch::Armv7);
        assert!(p.contains(&"cgroup_enable=cpuset"));
        assert!(p.contains(&"systemd.run=/boot/firstrun.sh"));
        let p = cmdline_params(Generation::CloudInit, Arch::Aarch64);
        assert_eq!(p, vec!["cgroup_memory=1", "cgroup_enable=memory"]);
    }

    #[test]
    fn unsafe_values_are_refused_naming_the_flag() {
        let bad_host = NodeSettings::new("Pi_2", Role::Server, "pi", None, None).unwrap_err();
        assert!(bad_host.to_string().starts_with("--hostname:"));
        assert!(Role::agent("http://pi-1:7443", "t").is_err());
        assert!(Role::agent("https://pi-1:7443/$(reboot)", "t").is_err());
        assert!(Role::agent("https://pi-1:7443", "tok en").is_err());
        assert!(Wifi::new("x", "short", None).is_err());
        assert!(Wifi::new("x", "long enough", Some("gb")).is_err());
        let private = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n";
        assert!(NodeSettings::new("pi-2", Role::Server, "pi", Some(private), None).is_err());
        assert!(NodeSettings::new("pi-2", Role::Server, "Root!", None, None).is_err());
    }
}
