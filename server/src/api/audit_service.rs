//! `keyhold.v1.AuditService`: pages through this node's audit trail. A read is itself
//! recorded, after it is served.

use keyhold_proto::v1 as pb;
use keyhold_proto::v1::audit_service_server::AuditService;
use tonic::{Request, Response, Status};

use super::audited::{audited, entry_for};
use super::status::to_status;
use crate::audit::{AuditError, AuditLog};
use crate::error::Error;

/// Events per page when the request does not say.
const DEFAULT_LIMIT: u32 = 100;
/// Most events per page.
const MAX_LIMIT: u32 = 1000;

/// The public audit service of one node.
pub struct AuditApi {
    node_id: u64,
    audit: AuditLog,
}

impl AuditApi {
    /// Serves `audit`, the trail of node `node_id`.
    pub fn new(node_id: u64, audit: AuditLog) -> Self {
        AuditApi { node_id, audit }
    }

    async fn read(&self, request: &pb::ReadAuditRequest) -> Result<pb::ReadAuditResponse, Error> {
        let limit = match request.limit {
            0 => DEFAULT_LIMIT,
            n if n > MAX_LIMIT => {
                let reason = format!("{n} is above the maximum of {MAX_LIMIT}");
                return Err(Error::invalid("limit", reason));
            }
            n => n,
        };
        let from = request.from_seq.max(1);
        let (events, last_seq) = self
            .audit
            .read(from, limit as usize)
            .await
            .map_err(|err| self.unreadable(err))?;
        Ok(pb::ReadAuditResponse {
            events: events.iter().map(|e| e.to_wire()).collect(),
            last_seq,
            node_id: self.node_id,
        })
    }

    fn unreadable(&self, err: AuditError) -> Error {
        tracing::error!(cause = %err, "audit trail unreadable");
        Error::AuditUnavailable {
            node_id: self.node_id,
            acted: false,
        }
    }
}

#[tonic::async_trait]
impl AuditService for AuditApi {
    async fn read_audit(
        &self,
        request: Request<pb::ReadAuditRequest>,
    ) -> Result<Response<pb::ReadAuditResponse>, Status> {
        let mut entry = entry_for("ReadAudit", &request);
        entry.detail = format!("from {}", request.get_ref().from_seq);
        let read = async {
            let result = self.read(request.get_ref()).await;
            result.map(Response::new).map_err(to_status)
        };
        audited(&self.audit, self.node_id, entry, read).await
    }
}
