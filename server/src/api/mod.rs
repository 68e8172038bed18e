//! The public gRPC API over mutual TLS: key service, cluster service, the mapping from
//! errors to statuses, and the caller's deadline (`deadline`).

pub mod cluster_service;
pub mod deadline;
pub mod key_service;
pub mod status;

pub use cluster_service::ClusterApi;
pub use key_service::KeyApi;
