//! `keyhold.v1.KeyService`: converts wire requests to node calls and node results to
//! wire responses, and records every call in the audit trail (`audited`) before it
//! answers. No logic beyond the conversion.

use std::sync::Arc;

use keyhold_proto::v1::key_service_server::KeyService;
use keyhold_proto::v1::{self as pb, sign_request::Input};
use tonic::{Request, Response, Status};

use super::audited::{audited, entry_for};
use super::deadline::caller_patience;
use super::status::to_status;
use crate::audit::{AuditLog, Entry};
use crate::error::Error;
use crate::keys::KeyRecord;
use crate::node::{Node, SignRequest};

/// The public key service.
pub struct KeyApi {
    node: Arc<Node>,
    audit: AuditLog,
}

impl KeyApi {
    /// Serves `node`, recording every call in `audit`.
    pub fn new(node: Arc<Node>, audit: AuditLog) -> Self {
        KeyApi { node, audit }
    }

    async fn audited<T: super::audited::AuditFacts>(
        &self,
        entry: Entry,
        call: impl Future<Output = Result<Response<T>, Status>>,
    ) -> Result<Response<T>, Status> {
        audited(&self.audit, self.node.id(), entry, call).await
    }
}

/// Public view of a record: everything but the wrapped material.
pub fn key_info(record: &KeyRecord) -> pb::KeyInfo {
    pb::KeyInfo {
        id: record.id.clone(),
        label: record.label.clone(),
        algorithm: record.algorithm.name().into(),
        usage: record.usage.name().into(),
        version: record.version,
        public_key_der: record.public_key_der.clone(),
        created_at: record.created_at,
        created_index: record.created_index,
        imported: record.imported,
    }
}

#[tonic::async_trait]
impl KeyService for KeyApi {
    async fn generate_key(
        &self,
        request: Request<pb::GenerateKeyRequest>,
    ) -> Result<Response<pb::KeyWriteResponse>, Status> {
        let mut e = entry_for("GenerateKey", &request);
        let r = request.get_ref();
        e.detail = r.algorithm.clone();
        self.audited(e, self.serve_generate_key(request)).await
    }

    async fn import_key(
        &self,
        request: Request<pb::ImportKeyRequest>,
    ) -> Result<Response<pb::KeyWriteResponse>, Status> {
        let e = entry_for("ImportKey", &request);
        self.audited(e, self.serve_import_key(request)).await
    }

    async fn get_key(
        &self,
        request: Request<pb::GetKeyRequest>,
    ) -> Result<Response<pb::GetKeyResponse>, Status> {
        let mut e = entry_for("GetKey", &request);
        let r = request.get_ref();
        e.key_id = r.key_id.clone();
        self.audited(e, self.serve_get_key(request)).await
    }

    async fn list_keys(
        &self,
        request: Request<pb::ListKeysRequest>,
    ) -> Result<Response<pb::ListKeysResponse>, Status> {
        let mut e = entry_for("ListKeys", &request);
        let r = request.get_ref();
        e.detail = r.label.clone();
        self.audited(e, self.serve_list_keys(request)).await
    }

    async fn destroy_key(
        &self,
        request: Request<pb::DestroyKeyRequest>,
    ) -> Result<Response<pb::DestroyKeyResponse>, Status> {
        let mut e = entry_for("DestroyKey", &request);
        let r = request.get_ref();
        e.key_id = r.key_id.clone();
        self.audited(e, self.serve_destroy_key(request)).await
    }

    async fn sign(
        &self,
        request: Request<pb::SignRequest>,
    ) -> Result<Response<pb::SignResponse>, Status> {
        let mut e = entry_for("Sign", &request);
        let r = request.get_ref();
        e.key_id = r.key_id.clone();
        e.detail = r.scheme.clone();
        self.audited(e, self.serve_sign(request)).await
    }

    async fn decrypt(
        &self,
        request: Request<pb::DecryptRequest>,
    ) -> Result<Response<pb::DecryptResponse>, Status> {
        let mut e = entry_for("Decrypt", &request);
        let r = request.get_ref();
        e.key_id = r.key_id.clone();
        e.detail = r.scheme.clone();
        self.audited(e, self.serve_decrypt(request)).await
    }
}

impl KeyApi {
    async fn serve_generate_key(
        &self,
        request: Request<pb::GenerateKeyRequest>,
    ) -> Result<Response<pb::KeyWriteResponse>, Status> {
        let patience = caller_patience(request.metadata());
        let r = request.into_inner();
        let new = self
            .node
            .generate_key(&r.algorithm, &r.label, &r.usage, patience)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::KeyWriteResponse {
            key: Some(key_info(&new.record)),
            index: new.index,
        }))
    }

    async fn serve_import_key(
        &self,
        request: Request<pb::ImportKeyRequest>,
    ) -> Result<Response<pb::KeyWriteResponse>, Status> {
        let patience = caller_patience(request.metadata());
        let r = request.into_inner();
        let new = self
            .node
            .import_key(r.private_key, &r.label, &r.usage, patience)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::KeyWriteResponse {
            key: Some(key_info(&new.record)),
            index: new.index,
        }))
    }

    async fn serve_get_key(
        &self,
        request: Request<pb::GetKeyRequest>,
    ) -> Result<Response<pb::GetKeyResponse>, Status> {
        let r = request.into_inner();
        let record = self
            .node
            .key_info(&r.key_id, r.min_index)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::GetKeyResponse {
            key: Some(key_info(&record)),
        }))
    }

    async fn serve_list_keys(
        &self,
        request: Request<pb::ListKeysRequest>,
    ) -> Result<Response<pb::ListKeysResponse>, Status> {
        let r = request.into_inner();
        let (keys, next_page_token) = self
            .node
            .list_keys(r.page_size, &r.page_token, &r.label, r.min_index)
            .await
            .map_err(to_status)?;
        let keys = keys.iter().map(key_info).collect();
        Ok(Response::new(pb::ListKeysResponse {
            keys,
            next_page_token,
        }))
    }

    async fn serve_destroy_key(
        &self,
        request: Request<pb::DestroyKeyRequest>,
    ) -> Result<Response<pb::DestroyKeyResponse>, Status> {
        let patience = caller_patience(request.metadata());
        let index = self
            .node
            .destroy_key(&request.get_ref().key_id, patience)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::DestroyKeyResponse { index }))
    }

    async fn serve_sign(
        &self,
        request: Request<pb::SignRequest>,
    ) -> Result<Response<pb::SignResponse>, Status> {
        let r = request.into_inner();
        let (input, is_digest) = match r.input {
            Some(Input::Message(m)) => (m, false),
            Some(Input::Digest(d)) => (d, true),
            None => return Err(to_status(Error::invalid("input", "set message or digest"))),
        };
        let req = SignRequest {
            key_id: r.key_id,
            scheme: r.scheme,
            input,
            is_digest,
            min_index: r.min_index,
        };
        let out = self.node.sign(req).await.map_err(to_status)?;
        Ok(Response::new(pb::SignResponse {
            signature: out.signature,
            node_id: out.node_id,
        }))
    }

    async fn serve_decrypt(
        &self,
        request: Request<pb::DecryptRequest>,
    ) -> Result<Response<pb::DecryptResponse>, Status> {
        let r = request.into_inner();
        let plaintext = self
            .node
            .decrypt(&r.key_id, &r.scheme, r.ciphertext, r.min_index)
            .await
            .map_err(to_status)?;
        // The plaintext leaves zeroizing memory here: the caller asked for it.
        Ok(Response::new(pb::DecryptResponse {
            plaintext: plaintext.to_vec(),
            node_id: self.node.id(),
        }))
    }
}
