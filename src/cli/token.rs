//! `edgectl token create|list|revoke`: join tokens for new nodes (admin only). The secret is
//! shown once, at creation; lists show id, expiry, uses and description.
use std::time::Duration;

use hyper::Method;
use serde_json::json;

use super::client::JSON;
use super::table::{age, human_duration, render, Table};
use super::Context;
use crate::master::route::TOKENS_PATH;

/// The longest lifetime a token may be given.
pub const TOKEN_TTL_MAX: Duration = Duration::from_secs(365 * 24 * 3600);

#[derive(Debug, clap::Args)]
pub struct TokenArgs {
    #[command(subcommand)]
    pub command: TokenCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum TokenCommand {
    /// Create a join token and print it
    Create {
        /// How long the token is valid (e.g. 30m, 24h, 7d, 1h30m)
        #[arg(long, default_value = "24h", value_parser = parse_ttl)]
        ttl: Duration,
        /// What the token is for
        #[arg(long, default_value = "")]
        description: String,
    },
    /// List join tokens (without their secrets)
    List,
    /// Revoke a join token by id
    Revoke {
        /// The token's id (the third part of EDGE1.<pin>.<id>.<secret>)
        id: String,
    },
}

/// Parses `30m`, `24h`, `7d`, `1h30m`, `90s`.
pub fn parse_ttl(text: &str) -> Result<Duration, String> {
    let mut total = 0u64;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            _ => {
                return Err(format!(
                    "invalid duration {text:?}: unknown unit {c:?} (use s, m, h or d)"
                ))
            }
        };
        let value: u64 = number
            .parse()
            .map_err(|_| format!("invalid duration {text:?}: a number must come before {c:?}"))?;
        total = total.saturating_add(value.saturating_mul(unit));
        number.clear();
    }
    if !number.is_empty() {
        return Err(format!(
            "invalid duration {text:?}: a unit (s, m, h or d) must follow {number}"
        ));
    }
    let ttl = Duration::from_secs(total);
    if ttl.is_zero() {
        return Err(format!(
            "invalid duration {text:?}: must be longer than zero"
        ));
    }
    if ttl > TOKEN_TTL_MAX {
        return Err(format!("invalid duration {text:?}: at most 365d"));
    }
    Ok(ttl)
}

pub async fn run(context: &Context, args: TokenArgs) -> anyhow::Result<()> {
    let client = context.client()?;
    match args.command {
        TokenCommand::Create { ttl, description } => {
            let body = json!({"ttlSeconds": ttl.as_secs(), "description": description});
            let (created, _) = client
                .send_json(Method::POST, TOKENS_PATH, JSON, &body)
                .await?;
            println!("{}", created["token"].as_str().unwrap_or(""));
        }
        TokenCommand::List => {
            let list = client.get_json(TOKENS_PATH).await?;
            let now_s = time::OffsetDateTime::now_utc().unix_timestamp();
            let items = list["items"].as_array().cloned().unwrap_or_default();
            if items.is_empty() {
                eprintln!("No tokens found");
                return Ok(());
            }
            let rows = items
                .iter()
                .map(|t| {
                    let expires = t["expires"].as_str().unwrap_or("");
                    let ttl = time::OffsetDateTime::parse(
                        expires,
                        &time::format_description::well_known::Rfc3339,
                    )
                    .map(|at| {
                        let left = at.unix_timestamp() - now_s;
                        if left <= 0 {
                            "<expired>".to_string()
                        } else {
                            human_duration(left)
                        }
                    })
                    .unwrap_or_else(|_| "<unknown>".to_string());
                    vec![
                        t["id"].as_str().unwrap_or("").to_string(),
                        ttl,
                        expires.to_string(),
                        t["uses"].as_u64().unwrap_or(0).to_string(),
                        age(t["created"].as_str().unwrap_or(""), now_s),
                        match t["description"].as_str().unwrap_or("") {
                            "" => "<none>".to_string(),
                            d => d.to_string(),
                        },
                    ]
                })
                .collect();
            let table = Table {
                headers: ["ID", "TTL", "EXPIRES", "USES", "AGE", "DESCRIPTION"]
                    .map(str::to_string)
                    .to_vec(),
                rows,
            };
            print!("{}", render(&table, true));
        }
        TokenCommand::Revoke { id } => {
            client
                .request(Method::DELETE, &format!("{TOKENS_PATH}/{id}"), None)
                .await?;
            println!("token \"{id}\" revoked");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_like_kubeadm_ttls() {
        assert_eq!(parse_ttl("24h"), Ok(Duration::from_secs(86400)));
        assert_eq!(parse_ttl("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_ttl("7d"), Ok(Duration::from_secs(7 * 86400)));
        assert!(parse_ttl("0s").is_err());
        assert!(parse_ttl("10").is_err());
        assert!(parse_ttl("5w").is_err());
        assert!(parse_ttl("400d").is_err());
    }
}
