//! The control plane: API server, scheduler, controllers.
