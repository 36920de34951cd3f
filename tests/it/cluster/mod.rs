//! The cluster loop: the agent protocol over real mTLS between an in-process master and real
//! agent sync loops (`protocol`), and the network-namespace harness that runs masters and
//! agents as separate processes on one bridge (`netns`).
mod netns;
mod protocol;
