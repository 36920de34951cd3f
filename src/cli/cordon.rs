//! `edgectl cordon NODE…` and `edgectl uncordon NODE…`: set or clear `spec.unschedulable`, so
//! that the scheduler places no new pods there (pods already on it keep running).
use hyper::Method;
use serde_json::json;

use super::client::MERGE_PATCH;
use super::Context;
use crate::api::{Kind, Node, Resource};
use crate::master::route::object_path;

#[derive(Debug, clap::Args)]
pub struct CordonArgs {
    /// The nodes
    #[arg(required = true, value_name = "NODE")]
    pub nodes: Vec<String>,
}

/// What a cordon or uncordon of a node does, and what kubectl prints for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cordon {
    /// `spec.unschedulable: true`
    Cordon,
    /// `spec.unschedulable` removed
    Uncordon,
}

impl Cordon {
    fn unschedulable(self) -> bool {
        self == Cordon::Cordon
    }

    fn verb(self) -> &'static str {
        match self {
            Cordon::Cordon => "cordoned",
            Cordon::Uncordon => "uncordoned",
        }
    }

    /// The line printed for `node`, given whether it was already in the wanted state.
    pub fn line(self, node: &str, already: bool) -> String {
        if already {
            format!("node/{node} already {}", self.verb())
        } else {
            format!("node/{node} {}", self.verb())
        }
    }
}

/// Cordons or uncordons every node named.
pub async fn run(context: &Context, args: CordonArgs, cordon: Cordon) -> anyhow::Result<()> {
    let client = context.client()?;
    for name in &args.nodes {
        let path = object_path(Kind::Node, None, name);
        let node: Node = Resource::from_value(client.get_json(&path).await?)?
            .downcast()
            .ok_or_else(|| {
                anyhow::anyhow!("the server answered with something other than a node")
            })?;
        if node.spec.unschedulable == cordon.unschedulable() {
            println!("{}", cordon.line(name, true));
            continue;
        }
        let value = if cordon.unschedulable() {
            json!(true)
        } else {
            json!(null)
        };
        client
            .send_json(
                Method::PATCH,
                &path,
                MERGE_PATCH,
                &json!({"spec": {"unschedulable": value}}),
            )
            .await?;
        println!("{}", cordon.line(name, false));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_like_kubectl() {
        assert_eq!(Cordon::Cordon.line("pi-2", false), "node/pi-2 cordoned");
        assert_eq!(
            Cordon::Cordon.line("pi-2", true),
            "node/pi-2 already cordoned"
        );
        assert_eq!(Cordon::Uncordon.line("pi-2", false), "node/pi-2 uncordoned");
    }
}
