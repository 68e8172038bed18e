//! The mock's `AuditService`: serves the events a test put in `State::audit`, from the
//! requested sequence number on, at most the requested count (100 when 0), and counts the
//! call like every other.

use keyhold_proto::v1::audit_service_server::AuditService;
use keyhold_proto::v1::{ReadAuditRequest, ReadAuditResponse};
use tonic::{Request, Response, Status};

use super::Service;

#[tonic::async_trait]
impl AuditService for Service {
    async fn read_audit(
        &self,
        request: Request<ReadAuditRequest>,
    ) -> Result<Response<ReadAuditResponse>, Status> {
        let request = request.into_inner();
        self.0.key_call("read_audit").await?;
        let limit = match request.limit {
            0 => 100,
            limit => limit as usize,
        };
        let audit = self.0.audit.lock().unwrap();
        let events = audit
            .iter()
            .filter(|event| event.seq >= request.from_seq)
            .take(limit)
            .cloned()
            .collect();
        let last_seq = audit.last().map_or(0, |event| event.seq);
        Ok(Response::new(ReadAuditResponse {
            events,
            last_seq,
            node_id: self.0.id,
        }))
    }
}
