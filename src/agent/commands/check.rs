//! `edged check`: whether this host can run pods, and what to change when it cannot. Exits
//! non-zero when a check fails.
use std::io::Write;

use crate::agent::check::{evaluate, gather, Verdict};

#[derive(Debug, clap::Args)]
pub struct Args {}

pub async fn run(_args: Args) -> anyhow::Result<()> {
    let facts = gather();
    let findings = evaluate(&facts);
    let mut out = tabwriter::TabWriter::new(std::io::stdout()).minwidth(3).padding(3);
    writeln!(out, "CHECK\tRESULT\tDETAIL")?;
    for finding in &findings {
        let verdict = match finding.verdict {
            Verdict::Ok => "ok",
            Verdict::Warn => "warning",
            Verdict::Fail => "FAIL",
        };
        writeln!(out, "{}\t{verdict}\t{}", finding.name, finding.detail)?;
        if let Some(fix) = &finding.fix {
            writeln!(out, "\t\tfix: {fix}")?;
        }
    }
    out.flush()?;
    let failed = findings.iter().filter(|f| f.verdict == Verdict::Fail).count();
    if failed > 0 {
        anyhow::bail!("this node cannot run pods ({failed} check{} failed)", if failed == 1 { "" } else { "s" });
    }
    println!("\nthis node can run pods (kernel {})", facts.kernel);
    Ok(())
}
