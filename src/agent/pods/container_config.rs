//! A container's runtime configuration from its pod spec and its image, combined exactly as
//! Kubernetes does: `command` replaces the image's Entrypoint (and drops its Cmd), `args`
//! replaces Cmd, container env overrides image env, `$(VAR)` references are expanded, the
//! user comes from the security context or the image (names looked up in the image's
//! /etc/passwd), and cpu/memory become cgroup limits.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::agent::image::oci::ImageConfig;
use crate::agent::runtime::{
    ContainerConfig, MountConfig, ProcessConfig, Resources, SandboxStatus,
};
use crate::api;

use super::naming;
use super::objects::ObjectSource;

/// The CFS period used with cpu limits, in microseconds (the kubelet's).
pub const CPU_PERIOD_US: u64 = 100_000;
/// Smallest CFS quota the kernel accepts, in microseconds.
const CPU_QUOTA_MIN_US: i64 = 1_000;

/// Why a container cannot be configured (reported as the container's start error).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("container {container}: neither the pod nor the image gives a command to run")]
    NoCommand { container: String },
    #[error("container {container}: env {name}: {reason}")]
    Env {
        container: String,
        name: String,
        reason: String,
    },
    #[error("container {container}: user {user:?} of the image: {reason}")]
    User {
        container: String,
        user: String,
        reason: String,
    },
    #[error("container {container} has runAsNonRoot and would run as root (uid 0)")]
    RunsAsRoot { container: String },
}

/// Everything outside the pod spec that a container's configuration depends on.
pub struct ConfigInputs<'a> {
    pub pod: &'a api::Pod,
    pub container: &'a api::Container,
    pub image: &'a ImageConfig,
    pub layers: Vec<PathBuf>,
    pub sandbox: &'a SandboxStatus,
    pub mounts: Vec<MountConfig>,
    pub objects: &'a dyn ObjectSource,
    pub node_name: &'a str,
    pub host_ip: Option<&'a str>,
    pub restart_count: u32,
    pub init: bool,
    pub logs_root: &'a Path,
}

/// Expands `$(NAME)` from `env`; `$$` escapes a `$`; unknown names stay as written.
pub fn expand(text: &str, env: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(stripped) = after.strip_prefix('$') {
            out.push('$');
            rest = stripped;
        } else if let Some(inner) = after.strip_prefix('(') {
            match inner.find(')') {
                Some(end) => {
                    let name = &inner[..end];
                    match env.get(name) {
                        Some(value) => out.push_str(value),
                        None => {
                            out.push_str("$(");
                            out.push_str(name);
                            out.push(')');
                        }
                    }
                    rest = &inner[end + 1..];
                }
                None => {
                    out.push_str("$(");
                    rest = inner;
                }
            }
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// The process arguments Kubernetes runs for `container` with `image`.
pub fn arguments(container: &api::Container, image: &ImageConfig) -> Vec<String> {
    let image_entrypoint = image.config.entrypoint.clone().unwrap_or_default();
    let image_cmd = image.config.cmd.clone().unwrap_or_default();
    match (container.command.is_empty(), container.args.is_empty()) {
        (false, _) => container
            .command
            .iter()
            .chain(&container.args)
            .cloned()
            .collect(),
        (true, false) => image_entrypoint
            .into_iter()
            .chain(container.args.iter().cloned())
            .collect(),
        (true, true) => image_entrypoint.into_iter().chain(image_cmd).collect(),
    }
}

/// The value of a `fieldRef`.
fn field_value(
    pod: &api::Pod,
    path: &str,
    node_name: &str,
    pod_ip: Option<String>,
    host_ip: Option<&str>,
) -> Option<String> {
    let meta = &pod.metadata;
    let label_or_annotation = |prefix: &str, map: &BTreeMap<String, String>| {
        let key = path.strip_prefix(prefix)?.strip_suffix("']")?;
        Some(map.get(key).cloned().unwrap_or_default())
    };
    match path {
        "metadata.name" => Some(meta.name.clone()),
        "metadata.namespace" => Some(meta.namespace_or_default().to_string()),
        "metadata.uid" => Some(meta.uid.clone()),
        "spec.nodeName" => Some(node_name.to_string()),
        "spec.serviceAccountName" => Some("default".to_string()),
        "status.podIP" => Some(pod_ip.unwrap_or_default()),
        "status.hostIP" => Some(host_ip.unwrap_or_default().to_string()),
        _ => label_or_annotation("metadata.labels['", &meta.labels)
            .or_else(|| label_or_annotation("metadata.annotations['", &meta.annotations)),
    }
}

/// The container's environment: image env, then the container's (expanded in order).
pub fn environment(inputs: &ConfigInputs<'_>) -> Result<Vec<String>, ConfigError> {
    let container = inputs.container;
    let namespace = inputs.pod.metadata.namespace_or_default().to_string();
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut set = |env: &mut BTreeMap<String, String>, name: &str, value: String| {
        if env.insert(name.to_string(), value).is_none() {
            order.push(name.to_string());
        }
    };
    for entry in inputs.image.config.env.iter().flatten() {
        if let Some((name, value)) = entry.split_once('=') {
            set(&mut env, name, value.to_string());
        }
    }
    set(
        &mut env,
        "HOSTNAME",
        inputs.pod.metadata.name.chars().take(63).collect(),
    );
    let error = |name: &str, reason: String| ConfigError::Env {
        container: container.name.to_string(),
        name: name.to_string(),
        reason,
    };
    for var in &container.env {
        let value = if let Some(value) = &var.value {
            expand(value, &env)
        } else if let Some(from) = &var.value_from {
            if let Some(selector) = &from.config_map_key_ref {
                let optional = selector.optional.unwrap_or(false);
                match inputs
                    .objects
                    .config_map(&namespace, &selector.name)
                    .and_then(|c| c.data.get(&selector.key).cloned())
                {
                    Some(value) => value,
                    None if optional => continue,
                    None => {
                        return Err(error(
                            &var.name,
                            format!(
                                "key {:?} of ConfigMap {:?} not found",
                                selector.key, selector.name
                            ),
                        ))
                    }
                }
            } else if let Some(selector) = &from.secret_key_ref {
                let optional = selector.optional.unwrap_or(false);
                match inputs
                    .objects
                    .secret(&namespace, &selector.name)
                    .and_then(|s| s.data.get(&selector.key).cloned())
                {
                    Some(value) => String::from_utf8_lossy(value.as_bytes()).into_owned(),
                    None if optional => continue,
                    None => {
                        return Err(error(
                            &var.name,
                            format!(
                                "key {:?} of Secret {:?} not found",
                                selector.key, selector.name
                            ),
                        ))
                    }
                }
            } else if let Some(field) = &from.field_ref {
                let pod_ip = inputs.sandbox.ip.map(|ip| ip.to_string());
                field_value(
                    inputs.pod,
                    &field.field_path,
                    inputs.node_name,
                    pod_ip,
                    inputs.host_ip,
                )
                .ok_or_else(|| {
                    error(
                        &var.name,
                        format!("unsupported fieldPath {:?}", field.field_path),
                    )
                })?
            } else {
                String::new()
            }
        } else {
            String::new()
        };
        set(&mut env, &var.name, value);
    }
    Ok(order
        .into_iter()
        .map(|name| format!("{name}={}", env[&name]))
        .collect())
}

/// Finds a file in the image, top layer first (whiteouts are not followed: /etc/passwd is
/// never deleted by a later layer in practice).
fn read_from_layers(layers: &[PathBuf], relative: &str) -> Option<String> {
    layers
        .iter()
        .rev()
        .find_map(|layer| std::fs::read_to_string(layer.join(relative)).ok())
}

/// `name` or `uid` in a passwd/group file → (id, primary group for passwd).
fn lookup(file: &str, name: &str) -> Option<(u32, u32)> {
    file.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.len() >= 4 && fields[0] == name)
            .then(|| (fields[2].parse().ok(), fields[3].parse().ok()))
            .and_then(|(a, b)| Some((a?, b.unwrap_or(0))))
    })
}

/// The uid and gid the container runs as.
fn user(inputs: &ConfigInputs<'_>) -> Result<(u32, u32), ConfigError> {
    let container = inputs.container;
    let pod_context = inputs.pod.spec.security_context.as_ref();
    let context = container.security_context.as_ref();
    let run_as_user = context
        .and_then(|c| c.run_as_user)
        .or_else(|| pod_context.and_then(|c| c.run_as_user));
    let run_as_group = context
        .and_then(|c| c.run_as_group)
        .or_else(|| pod_context.and_then(|c| c.run_as_group));
    let error = |user: &str, reason: &str| ConfigError::User {
        container: container.name.to_string(),
        user: user.to_string(),
        reason: reason.to_string(),
    };
    let (uid, mut gid) = match run_as_user {
        Some(uid) => {
            let passwd = read_from_layers(&inputs.layers, "etc/passwd").unwrap_or_default();
            let primary = passwd.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() >= 4 && f[2] == uid.to_string()).then(|| f[3].parse().unwrap_or(0))
            });
            (uid as u32, primary.unwrap_or(0))
        }
        None => {
            let image_user = inputs.image.config.user.clone().unwrap_or_default();
            if image_user.is_empty() {
                (0, 0)
            } else {
                let (user_part, group_part) = match image_user.split_once(':') {
                    Some((u, g)) => (u.to_string(), Some(g.to_string())),
                    None => (image_user.clone(), None),
                };
                let (uid, primary) = match user_part.parse::<u32>() {
                    Ok(uid) => (uid, 0),
                    Err(_) => {
                        let passwd = read_from_layers(&inputs.layers, "etc/passwd")
                            .ok_or_else(|| error(&image_user, "the image has no /etc/passwd"))?;
                        lookup(&passwd, &user_part)
                            .ok_or_else(|| error(&image_user, "not in the image's /etc/passwd"))?
                    }
                };
                let gid = match group_part {
                    None => primary,
                    Some(group) => match group.parse::<u32>() {
                        Ok(gid) => gid,
                        Err(_) => {
                            let groups = read_from_layers(&inputs.layers, "etc/group")
                                .ok_or_else(|| error(&image_user, "the image has no /etc/group"))?;
                            lookup(&groups, &group).map(|(gid, _)| gid).ok_or_else(|| {
                                error(&image_user, "group not in the image's /etc/group")
                            })?
                        }
                    },
                };
                (uid, gid)
            }
        }
    };
    if let Some(group) = run_as_group {
        gid = group as u32;
    }
    let non_root = context
        .and_then(|c| c.run_as_non_root)
        .or_else(|| pod_context.and_then(|c| c.run_as_non_root));
    if non_root == Some(true) && uid == 0 {
        return Err(ConfigError::RunsAsRoot {
            container: container.name.to_string(),
        });
    }
    Ok((uid, gid))
}

/// cgroup limits from requests and limits (the kubelet's conversions).
pub fn resources(requirements: &api::ResourceRequirements) -> Resources {
    let cpu_request = requirements
        .requests
        .get("cpu")
        .or_else(|| requirements.limits.get("cpu"))
        .map(|q| q.milli_value());
    Resources {
        memory_limit_bytes: requirements.memory_limit_bytes().filter(|b| *b > 0),
        cpu_shares: cpu_request.map(|milli| ((milli as u64) * 1024 / 1000).max(2)),
        cpu_quota_us: requirements
            .cpu_limit_milli()
            .filter(|m| *m > 0)
            .map(|milli| (milli * CPU_PERIOD_US as i64 / 1000).max(CPU_QUOTA_MIN_US)),
        cpu_period_us: CPU_PERIOD_US,
    }
}

/// The image's stop signal as a number (SIGTERM when absent or unknown).
pub fn stop_signal(image: &ImageConfig) -> i32 {
    let Some(name) = image.config.stop_signal.as_deref() else {
        return libc::SIGTERM;
    };
    if let Ok(number) = name.parse::<i32>() {
        return number;
    }
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    full.parse::<nix::sys::signal::Signal>()
        .map(|s| s as i32)
        .unwrap_or(libc::SIGTERM)
}

/// Builds the runtime configuration of one container instance.
pub fn container_config(inputs: &ConfigInputs<'_>) -> Result<ContainerConfig, ConfigError> {
    let container = inputs.container;
    let name = container.name.to_string();
    let env = environment(inputs)?;
    let env_map: BTreeMap<String, String> = env
        .iter()
        .filter_map(|e| e.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let args: Vec<String> = arguments(container, inputs.image)
        .iter()
        .map(|a| expand(a, &env_map))
        .collect();
    if args.is_empty() {
        return Err(ConfigError::NoCommand { container: name });
    }
    let (uid, gid) = user(inputs)?;
    let context = container.security_context.clone().unwrap_or_default();
    let pod_context = inputs.pod.spec.security_context.clone().unwrap_or_default();
    let mut additional_gids: Vec<u32> = pod_context
        .supplemental_groups
        .iter()
        .map(|g| *g as u32)
        .collect();
    if let Some(fs_group) = pod_context.fs_group {
        additional_gids.push(fs_group as u32);
    }
    let capabilities = context.capabilities.clone().unwrap_or_default();
    let uid_label = &inputs.pod.metadata.uid;
    let labels = BTreeMap::from([
        (naming::LABEL_POD_UID.to_string(), uid_label.clone()),
        (naming::LABEL_POD.to_string(), naming::pod_key(inputs.pod)),
        (naming::LABEL_CONTAINER.to_string(), name.clone()),
        (naming::LABEL_INIT.to_string(), inputs.init.to_string()),
        (
            naming::LABEL_RESTART.to_string(),
            inputs.restart_count.to_string(),
        ),
        (
            naming::LABEL_STOP_SIGNAL.to_string(),
            stop_signal(inputs.image).to_string(),
        ),
    ]);
    Ok(ContainerConfig {
        id: naming::container_id(uid_label, &name, inputs.restart_count),
        sandbox: inputs.sandbox.clone(),
        layers: inputs.layers.clone(),
        process: ProcessConfig {
            args,
            env,
            cwd: container
                .working_dir
                .clone()
                .or_else(|| {
                    inputs
                        .image
                        .config
                        .working_dir
                        .clone()
                        .filter(|d| !d.is_empty())
                })
                .unwrap_or_else(|| "/".to_string()),
            uid,
            gid,
            additional_gids,
            privileged: context.privileged.unwrap_or(false),
            capabilities_add: capabilities.add,
            capabilities_drop: capabilities.drop,
            no_new_privileges: context.allow_privilege_escalation == Some(false),
        },
        mounts: inputs.mounts.clone(),
        resources: resources(&container.resources),
        read_only_root: context.read_only_root_filesystem.unwrap_or(false),
        log_path: naming::log_path(inputs.logs_root, inputs.pod, &name, inputs.restart_count),
        labels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::image::oci::RunConfig;

    fn container(command: &[&str], args: &[&str]) -> api::Container {
        let mut c = api::Container::new(api::ContainerName::new("c").unwrap(), "busybox");
        c.command = command.iter().map(|s| s.to_string()).collect();
        c.args = args.iter().map(|s| s.to_string()).collect();
        c
    }

    fn image(entrypoint: &[&str], cmd: &[&str]) -> ImageConfig {
        ImageConfig {
            config: RunConfig {
                entrypoint: Some(entrypoint.iter().map(|s| s.to_string()).collect()),
                cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn command_and_args_combine_with_the_image_as_kubernetes_does() {
        let img = image(&["/entry"], &["--default"]);
        assert_eq!(
            arguments(&container(&[], &[]), &img),
            ["/entry", "--default"]
        );
        assert_eq!(arguments(&container(&[], &["x"]), &img), ["/entry", "x"]);
        assert_eq!(arguments(&container(&["/cmd"], &[]), &img), ["/cmd"]);
        assert_eq!(
            arguments(&container(&["/cmd"], &["y"]), &img),
            ["/cmd", "y"]
        );
    }

    #[test]
    fn dollar_references_expand_and_escape() {
        let env = BTreeMap::from([("A".to_string(), "1".to_string())]);
        assert_eq!(expand("$(A)-$(B)-$$(A)-$", &env), "1-$(B)-$(A)-$");
    }

    #[test]
    fn cpu_and_memory_become_cgroup_limits() {
        let requirements: api::ResourceRequirements =
            serde_json::from_value(serde_json::json!({"requests": {"cpu": "250m"}, "limits": {"cpu": "500m", "memory": "32Mi"}})).unwrap();
        let r = resources(&requirements);
        assert_eq!(r.cpu_shares, Some(256));
        assert_eq!(r.cpu_quota_us, Some(50_000));
        assert_eq!(r.memory_limit_bytes, Some(32 * 1024 * 1024));
    }

    #[test]
    fn stop_signals_are_read_by_name_or_number() {
        let mut img = ImageConfig::default();
        assert_eq!(stop_signal(&img), libc::SIGTERM);
        img.config.stop_signal = Some("SIGQUIT".into());
        assert_eq!(stop_signal(&img), libc::SIGQUIT);
        img.config.stop_signal = Some("INT".into());
        assert_eq!(stop_signal(&img), libc::SIGINT);
    }

    #[test]
    fn image_users_are_found_in_the_image_passwd() {
        assert_eq!(
            lookup(
                "root:x:0:0::/:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n",
                "nobody"
            ),
            Some((65534, 65534))
        );
        assert_eq!(lookup("root:x:0:0::/:/bin/sh\n", "www"), None);
    }
}
