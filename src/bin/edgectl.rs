//! `edgectl`: the command line for a Flotilla cluster.
fn main() {}
