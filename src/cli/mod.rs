//! `edgectl` commands, one file per verb, and the HTTPS client they share.
