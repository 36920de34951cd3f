//! `edgectl logs`, `exec`, `top` and `drain` through the master, with real processes: the
//! master reaches each agent only over the agent's own connection (the reverse tunnel).
//! `refusals` needs no agent (and no root); the others run a master with agents and busybox
//! containers as root.
mod drain;
mod harness;
mod pods;
mod refusals;
