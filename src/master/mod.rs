//! The control plane: API server, scheduler, controllers.
pub mod nodes;
