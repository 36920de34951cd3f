//! `edged`: the Flotilla daemon (`master`, `agent`, `server`, `check`, …).
fn main() {}
