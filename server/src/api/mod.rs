//! The public gRPC API over mutual TLS: key service, cluster service, and the mapping
//! from errors to statuses.

pub mod cluster_service;
pub mod key_service;
pub mod status;

pub use cluster_service::ClusterApi;
pub use key_service::KeyApi;
