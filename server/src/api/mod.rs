//! The public gRPC API over mutual TLS: key, cluster and audit services, what each call
//! records in the audit trail (`audited`), the mapping from errors to statuses, and the
//! caller's deadline (`deadline`).

pub mod audit_service;
pub mod audited;
pub mod cluster_service;
pub mod deadline;
pub mod key_service;
pub mod status;

pub use audit_service::AuditApi;
pub use cluster_service::ClusterApi;
pub use key_service::KeyApi;
