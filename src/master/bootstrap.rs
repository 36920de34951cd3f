//! What a master needs before it serves: its data directory, the cluster PKI, the admin
//! credential and the store with its permanent namespaces. Created on the first start, reused
//! on later ones (which then write nothing).
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::config::Config;
use super::namespaces;
use crate::pki::{Credential, Pki, PkiError, Role};
use crate::store::{Store, StoreError};

/// How long the admin credential made at first start is valid.
pub const ADMIN_CREDENTIAL_VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    /// the data directory could not be made
    #[error("cannot create the data directory {}: {source}", path.display())]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    /// the PKI could not be loaded or created
    #[error("cluster PKI in {}: {source}", path.display())]
    Pki { path: PathBuf, source: PkiError },
    /// the admin credential could not be written
    #[error("admin credential {}: {source}", path.display())]
    AdminCredential { path: PathBuf, source: PkiError },
    /// the store could not be opened
    #[error("store {}: {source}", path.display())]
    Store { path: PathBuf, source: StoreError },
}

/// The master's long-lived state, ready to serve.
pub struct Prepared {
    pub pki: Pki,
    pub store: Store,
}

/// The `https://host:port` URL clients use.
pub fn server_url(config: &Config, local: SocketAddr) -> String {
    let host = match &config.advertise_address {
        Some(address) => address.clone(),
        None if local.ip().is_unspecified() => "127.0.0.1".to_string(),
        None => local.ip().to_string(),
    };
    let host = match host.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => format!("[{v6}]"),
        _ => host,
    };
    format!("https://{host}:{}", local.port())
}

/// The names and addresses the serving certificate must cover.
pub fn serving_names(config: &Config, local: SocketAddr, interfaces: &[IpAddr]) -> Vec<String> {
    let mut names = Vec::new();
    if let Some(hostname) = hostname() {
        names.push(hostname);
    }
    names.push("localhost".to_string());
    if local.ip().is_unspecified() {
        names.extend(interfaces.iter().map(ToString::to_string));
    } else {
        names.push(local.ip().to_string());
    }
    names.extend(config.advertise_address.iter().cloned());
    names.extend(config.tls_sans.iter().cloned());
    let mut seen = std::collections::HashSet::new();
    names.retain(|n| seen.insert(n.clone()));
    names
}

fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
}

/// The addresses of this host's network interfaces.
pub fn interface_addresses() -> Vec<IpAddr> {
    let mut addresses = Vec::new();
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list` with a linked list that we only read and then free with
    // freeifaddrs; on failure it returns -1 and leaves nothing to free.
    if unsafe { libc::getifaddrs(&mut list) } != 0 {
        return addresses;
    }
    let mut cursor = list;
    while !cursor.is_null() {
        // SAFETY: `cursor` is a non-null node of the list getifaddrs returned, alive until
        // freeifaddrs below.
        let entry = unsafe { &*cursor };
        if !entry.ifa_addr.is_null() {
            // SAFETY: ifa_addr is non-null and points to a sockaddr whose family tells its
            // real type; we read the matching struct only.
            let family = i32::from(unsafe { (*entry.ifa_addr).sa_family });
            if family == libc::AF_INET {
                // SAFETY: the family is AF_INET, so the sockaddr is a sockaddr_in.
                let v4 = unsafe { &*(entry.ifa_addr as *const libc::sockaddr_in) };
                addresses.push(IpAddr::from(u32::from_be(v4.sin_addr.s_addr).to_be_bytes()));
            } else if family == libc::AF_INET6 {
                // SAFETY: the family is AF_INET6, so the sockaddr is a sockaddr_in6.
                let v6 = unsafe { &*(entry.ifa_addr as *const libc::sockaddr_in6) };
                let ip = std::net::Ipv6Addr::from(v6.sin6_addr.s6_addr);
                // Link-local addresses need a zone and are no use in a certificate.
                if ip.segments()[0] & 0xffc0 != 0xfe80 {
                    addresses.push(IpAddr::V6(ip));
                }
            }
        }
        cursor = entry.ifa_next;
    }
    // SAFETY: `list` came from a successful getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(list) };
    addresses.sort();
    addresses.dedup();
    addresses
}

/// Writes the admin credential to `primary` (in the data directory) when it is missing, and to
/// `copy` (the system-wide `/etc/flotilla/admin.conf`) then too, replacing a stale copy from an
/// earlier cluster; a later start only restores a missing copy from `primary`.
fn write_admin_credential(
    pki: &Pki,
    server: &str,
    primary: &Path,
    copy: Option<&Path>,
) -> Result<(), BootstrapError> {
    let credential_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| BootstrapError::AdminCredential { path, source }
    };
    let credential = if primary.exists() {
        match copy {
            Some(copy) if !copy.exists() => {
                Credential::load(primary).map_err(credential_error(primary))?
            }
            _ => return Ok(()),
        }
    } else {
        let credential: Credential = pki
            .credential(&Role::Admin, server, ADMIN_CREDENTIAL_VALIDITY)
            .map_err(credential_error(primary))?;
        credential
            .save(primary)
            .map_err(credential_error(primary))?;
        tracing::info!(path = %primary.display(), "wrote the admin credential");
        credential
    };
    if let Some(copy) = copy {
        if let Some(parent) = copy.parent() {
            std::fs::create_dir_all(parent).map_err(|source| BootstrapError::DataDir {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        credential.save(copy).map_err(credential_error(copy))?;
        tracing::info!(path = %copy.display(), "wrote the admin credential");
    }
    Ok(())
}

/// Creates or loads everything under the data directory. Blocking.
pub fn prepare(config: &Config, local: SocketAddr) -> Result<Prepared, BootstrapError> {
    create_private_dir(&config.data_dir)?;
    let pki_dir = config.pki_dir();
    create_private_dir(&pki_dir)?;
    let names = serving_names(config, local, &interface_addresses());
    let pki = Pki::load_or_create(&pki_dir, &names).map_err(|source| BootstrapError::Pki {
        path: pki_dir.clone(),
        source,
    })?;
    let server = server_url(config, local);
    write_admin_credential(
        &pki,
        &server,
        &config.admin_conf(),
        config.admin_conf_copy.as_deref(),
    )?;
    let store_file = config.store_file();
    let store_error = |source| BootstrapError::Store {
        path: store_file.clone(),
        source,
    };
    let store = Store::open(&store_file).map_err(store_error)?;
    namespaces::ensure_permanent(&store).map_err(store_error)?;
    Ok(Prepared { pki, store })
}

fn create_private_dir(path: &Path) -> Result<(), BootstrapError> {
    use std::os::unix::fs::DirBuilderExt;
    if path.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|source| BootstrapError::DataDir {
            path: path.to_path_buf(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_url_uses_loopback_for_a_wildcard_listen() {
        let config = Config::new("/tmp/x", "0.0.0.0:7443".parse().unwrap());
        assert_eq!(server_url(&config, config.listen), "https://127.0.0.1:7443");
        let config = Config {
            advertise_address: Some("pi-1".into()),
            ..config
        };
        assert_eq!(server_url(&config, config.listen), "https://pi-1:7443");
        let v6 = Config::new("/tmp/x", "[::1]:7443".parse().unwrap());
        assert_eq!(server_url(&v6, v6.listen), "https://[::1]:7443");
    }

    #[test]
    fn serving_names_cover_interfaces_for_a_wildcard_listen() {
        let config = Config {
            tls_sans: vec!["pi-1.lan".into()],
            ..Config::new("/tmp/x", "0.0.0.0:7443".parse().unwrap())
        };
        let interfaces = ["10.0.0.5".parse().unwrap()];
        let names = serving_names(&config, config.listen, &interfaces);
        assert!(names.contains(&"10.0.0.5".to_string()));
        assert!(names.contains(&"pi-1.lan".to_string()));
        assert!(!names.contains(&"0.0.0.0".to_string()));
    }

    #[test]
    fn a_first_start_replaces_a_stale_system_copy_and_later_starts_restore_a_missing_one() {
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join("etc/admin.conf");
        let config = Config {
            admin_conf_copy: Some(copy.clone()),
            ..Config::new(dir.path().join("data"), "127.0.0.1:0".parse().unwrap())
        };
        std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
        std::fs::write(&copy, "stale credential of another cluster").unwrap();
        let local = "127.0.0.1:7443".parse().unwrap();
        prepare(&config, local).unwrap();
        let primary = std::fs::read_to_string(config.admin_conf()).unwrap();
        assert_eq!(std::fs::read_to_string(&copy).unwrap(), primary);
        std::fs::remove_file(&copy).unwrap();
        prepare(&config, local).unwrap();
        assert_eq!(std::fs::read_to_string(&copy).unwrap(), primary);
        assert_eq!(
            std::fs::read_to_string(config.admin_conf()).unwrap(),
            primary
        );
    }

    #[test]
    fn interface_addresses_include_loopback() {
        assert!(interface_addresses().contains(&"127.0.0.1".parse().unwrap()));
    }
}
