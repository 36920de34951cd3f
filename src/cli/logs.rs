//! `edgectl logs POD [-c CONTAINER] [-f] [--tail N] [--previous] [--timestamps]`: a
//! container's log, read by its node's agent and streamed through the master (the master
//! reaches the agent over the agent's own connection, so nodes behind NAT work too).
use std::io::Write;

use http_body_util::BodyExt;
use hyper::Method;

use super::client::with_query;
use super::Context;
use crate::api::Kind;
use crate::master::route::object_path;

#[derive(Debug, clap::Args)]
pub struct LogsArgs {
    /// The pod: NAME or pod/NAME
    #[arg(value_name = "POD")]
    pub pod: String,
    /// The container (needed when the pod has several)
    #[arg(short = 'c', long)]
    pub container: Option<String>,
    /// Keep printing new lines until the container stops (or Ctrl-C)
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Only the last N lines (-1: all)
    #[arg(long, value_name = "N", allow_negative_numbers = true, default_value_t = -1)]
    pub tail: i64,
    /// The previous instance of the container (before its last restart)
    #[arg(short = 'p', long)]
    pub previous: bool,
    /// Prefix each line with its RFC 3339 time
    #[arg(long)]
    pub timestamps: bool,
}

/// `NAME` or `pod/NAME` (`po/`, `pods/`): the pod's name.
pub fn pod_name(arg: &str) -> anyhow::Result<&str> {
    match arg.split_once('/') {
        None => Ok(arg),
        Some((kind, name)) if Kind::from_cli(kind) == Some(Kind::Pod) => Ok(name),
        Some((kind, _)) => anyhow::bail!("only pods have logs and run commands, not {kind}"),
    }
}

/// The log path with its query.
pub fn log_path(namespace: &str, args: &LogsArgs) -> anyhow::Result<String> {
    let base = format!(
        "{}/log",
        object_path(Kind::Pod, Some(namespace), pod_name(&args.pod)?)
    );
    let tail = args.tail.to_string();
    let mut params = Vec::new();
    if let Some(container) = &args.container {
        params.push(("container", container.as_str()));
    }
    if args.follow {
        params.push(("follow", "true"));
    }
    if args.tail >= 0 {
        params.push(("tailLines", tail.as_str()));
    }
    if args.previous {
        params.push(("previous", "true"));
    }
    if args.timestamps {
        params.push(("timestamps", "true"));
    }
    Ok(with_query(&base, &params))
}

pub async fn run(context: &Context, args: LogsArgs) -> anyhow::Result<()> {
    let path = log_path(context.namespace(), &args)?;
    let client = context.client()?;
    let (_, mut body) = client.open(Method::GET, &path).await?;
    let mut stdout = std::io::stdout().lock();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| anyhow::anyhow!("the log stream broke off: {e}"))?;
        if let Ok(data) = frame.into_data() {
            if stdout
                .write_all(&data)
                .and_then(|()| stdout.flush())
                .is_err()
            {
                // The reader went away (a closed pipe): stop quietly, like kubectl.
                return Ok(());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(pod: &str) -> LogsArgs {
        LogsArgs {
            pod: pod.into(),
            container: None,
            follow: false,
            tail: -1,
            previous: false,
            timestamps: false,
        }
    }

    #[test]
    fn the_log_path_carries_kubectls_parameters() {
        assert_eq!(
            log_path("default", &args("web-1")).unwrap(),
            "/api/v1/namespaces/default/pods/web-1/log"
        );
        let mut all = args("pod/web-1");
        all.container = Some("side".into());
        all.follow = true;
        all.tail = 5;
        all.previous = true;
        assert_eq!(
            log_path("prod", &all).unwrap(),
            "/api/v1/namespaces/prod/pods/web-1/log?container=side&follow=true&tailLines=5&previous=true"
        );
        assert!(log_path("default", &args("deploy/web")).is_err());
    }
}
