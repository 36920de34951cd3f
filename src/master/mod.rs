//! The control plane: API server, scheduler, controllers.
pub mod controllers;
pub mod scheduler;
