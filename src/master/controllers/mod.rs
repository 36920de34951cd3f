//! The controllers: level-triggered, idempotent reconcilers that turn declared state
//! (Deployments, ReplicaSets, DaemonSets) into pods, as pure cores driven by a thin loop.
