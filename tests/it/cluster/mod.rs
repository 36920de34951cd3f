//! The cluster loop: the agent protocol over real mTLS between an in-process master and real
//! agent sync loops (`protocol`), the network-namespace lab (`netns`), and real clusters on it
//! (`harness`): `edged master` and `edged agent` processes in separate nodes, with joins,
//! placement, node loss, master loss, agent reboots, rolling updates and idle writes tested.
mod harness;
mod http;
mod idle;
mod master_loss;
mod netns;
mod node_loss;
mod protocol;
mod reboot;
mod rolling;
mod spread;
