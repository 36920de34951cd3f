//! Running probes. `httpGet` and `tcpSocket` connect from inside the pod's network namespace
//! (a short-lived thread joins it with `setns`, so even a server bound to the pod IP only is
//! reachable on a host without routes to the pod); `exec` runs the command in the container.
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::agent::runtime::{ContainerId, ContainerRuntime, ExitStatus};
use crate::api;

/// Bytes of an HTTP response read to find its status line (the kubelet reads 10 KiB).
const HTTP_RESPONSE_BYTES_MAX: usize = 10 * 1024;

/// A probe's outcome: success and a message for failures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeOutcome {
    pub success: bool,
    pub message: Option<String>,
}

impl ProbeOutcome {
    fn ok() -> ProbeOutcome {
        ProbeOutcome {
            success: true,
            message: None,
        }
    }

    fn failed(message: impl Into<String>) -> ProbeOutcome {
        ProbeOutcome {
            success: false,
            message: Some(message.into()),
        }
    }
}

/// Resolves a probe port: a number, or the name of one of the container's ports.
pub fn resolve_port(port: &api::IntOrString, container: &api::Container) -> Option<u16> {
    match port {
        api::IntOrString::Int(n) => u16::try_from(*n).ok(),
        api::IntOrString::String(name) => match name.parse::<u16>() {
            Ok(n) => Some(n),
            Err(_) => container
                .ports
                .iter()
                .find(|p| p.name.as_deref() == Some(name.as_str()))
                .and_then(|p| u16::try_from(p.container_port).ok()),
        },
    }
}

/// Runs `f` on a thread that first joins the network namespace at `netns` (the host's if
/// `None`), with the whole probe bounded by the caller's timeout.
async fn in_netns<T: Send + 'static>(
    netns: Option<PathBuf>,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("probe".into())
        .spawn(move || {
            if let Some(path) = netns {
                let file = match std::fs::File::open(&path) {
                    Ok(file) => file,
                    Err(e) => {
                        let _ = tx.send(Err(format!("{}: {e}", path.display())));
                        return;
                    }
                };
                // Only this thread moves: setns applies to the calling thread, which exits
                // right after the probe.
                if let Err(e) =
                    nix::sched::setns(file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
                {
                    let _ = tx.send(Err(format!("joining the pod network: {e}")));
                    return;
                }
            }
            let _ = tx.send(Ok(f()));
        })
        .map_err(|e| format!("starting a probe thread: {e}"))?;
    rx.await
        .map_err(|_| "probe thread ended without a result".to_string())?
}

fn http_get(
    address: SocketAddr,
    host_header: String,
    path: String,
    headers: Vec<(String, String)>,
    timeout: Duration,
) -> ProbeOutcome {
    let mut stream = match TcpStream::connect_timeout(&address, timeout) {
        Ok(stream) => stream,
        Err(e) => {
            return ProbeOutcome::failed(format!(
                "Get \"http://{address}{path}\": dial tcp {address}: {e}"
            ))
        }
    };
    let _ = stream.set_read_timeout(Some(timeout));
    let _ = stream.set_write_timeout(Some(timeout));
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: flotilla-probe/1.0\r\nAccept: */*\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    if let Err(e) = stream.write_all(request.as_bytes()) {
        return ProbeOutcome::failed(format!("Get \"http://{address}{path}\": {e}"));
    }
    let mut response = Vec::new();
    let mut chunk = [0u8; 2048];
    while response.len() < HTTP_RESPONSE_BYTES_MAX && !response.windows(2).any(|w| w == b"\r\n") {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => response.extend_from_slice(&chunk[..n]),
            Err(e) => return ProbeOutcome::failed(format!("Get \"http://{address}{path}\": {e}")),
        }
    }
    let line = String::from_utf8_lossy(&response);
    let status: Option<u16> = line.split_whitespace().nth(1).and_then(|s| s.parse().ok());
    match status {
        // Kubernetes: 200 ≤ status < 400 succeeds.
        Some(code) if (200..400).contains(&code) => ProbeOutcome::ok(),
        Some(code) => ProbeOutcome::failed(format!("HTTP probe failed with statuscode: {code}")),
        None => ProbeOutcome::failed(format!(
            "Get \"http://{address}{path}\": malformed HTTP response"
        )),
    }
}

/// What a probe needs to know about the pod and container it checks.
pub struct ProbeTarget<'a> {
    pub container: &'a api::Container,
    pub id: &'a ContainerId,
    pub pod_ip: Option<IpAddr>,
    pub netns: Option<&'a Path>,
}

/// Runs one probe with its timeout.
pub async fn run<R: ContainerRuntime>(
    runtime: &R,
    probe: &api::Probe,
    target: ProbeTarget<'_>,
    timeout_ms: u64,
) -> ProbeOutcome {
    let timeout = Duration::from_millis(timeout_ms);
    let host = |host: &Option<String>| -> Result<IpAddr, String> {
        match host.as_deref().filter(|h| !h.is_empty()) {
            Some(h) => h
                .parse()
                .map_err(|_| format!("probe host {h:?} is not an IP address")),
            None => target
                .pod_ip
                .ok_or_else(|| "the pod has no IP yet".to_string()),
        }
    };
    if let Some(exec) = &probe.exec {
        return match runtime.exec(target.id, &exec.command, timeout_ms).await {
            Ok(result) => match result.status {
                Some(ExitStatus::Code(0)) => ProbeOutcome::ok(),
                Some(status) => {
                    let output = String::from_utf8_lossy(&result.output).trim().to_string();
                    let code = status.code().unwrap_or(-1);
                    ProbeOutcome::failed(if output.is_empty() {
                        format!("command exited with {code}")
                    } else {
                        output
                    })
                }
                None => {
                    ProbeOutcome::failed(format!("command timed out after {}s", timeout_ms / 1000))
                }
            },
            Err(e) => ProbeOutcome::failed(e.to_string()),
        };
    }
    let netns = target.netns.map(Path::to_path_buf);
    if let Some(http) = &probe.http_get {
        let Some(port) = resolve_port(&http.port, target.container) else {
            return ProbeOutcome::failed(format!("unknown port {:?}", http.port));
        };
        let ip = match host(&http.host) {
            Ok(ip) => ip,
            Err(e) => return ProbeOutcome::failed(e),
        };
        if http.scheme == Some(api::UriScheme::Https) {
            return ProbeOutcome::failed("HTTPS probes are not supported by Flotilla yet");
        }
        let path = http
            .path
            .clone()
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "/".to_string());
        let path = if path.starts_with('/') {
            path
        } else {
            format!("/{path}")
        };
        let headers: Vec<(String, String)> = http
            .http_headers
            .iter()
            .map(|h| (h.name.clone(), h.value.clone()))
            .collect();
        let host_header = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("host"))
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| format!("{ip}:{port}"));
        let headers: Vec<(String, String)> = headers
            .into_iter()
            .filter(|(n, _)| !n.eq_ignore_ascii_case("host"))
            .collect();
        let address = SocketAddr::new(ip, port);
        return in_netns(netns, move || {
            http_get(address, host_header, path, headers, timeout)
        })
        .await
        .unwrap_or_else(ProbeOutcome::failed);
    }
    if let Some(tcp) = &probe.tcp_socket {
        let Some(port) = resolve_port(&tcp.port, target.container) else {
            return ProbeOutcome::failed(format!("unknown port {:?}", tcp.port));
        };
        let ip = match host(&tcp.host) {
            Ok(ip) => ip,
            Err(e) => return ProbeOutcome::failed(e),
        };
        let address = SocketAddr::new(ip, port);
        return in_netns(netns, move || {
            match TcpStream::connect_timeout(&address, timeout) {
                Ok(_) => ProbeOutcome::ok(),
                Err(e) => ProbeOutcome::failed(format!("dial tcp {address}: {e}")),
            }
        })
        .await
        .unwrap_or_else(ProbeOutcome::failed);
    }
    ProbeOutcome::failed("the probe has no handler (exec, httpGet or tcpSocket)")
}
