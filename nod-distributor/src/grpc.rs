//! `Distributor.Distribute` over gRPC, for the gateway's distribute endpoint: the FAILED
//! tickets of the given groups are placed again; other tickets are left alone.

use crate::jobs::{replace_failed, Streams};
use std::sync::Arc;
use td_domain::ids::{OrganisationId, TicketDistributionGroupId};
use td_jobs::JobQueue;
use td_proto::v1::distributor_server::Distributor;
use td_proto::v1::{DistributeRequest, DistributeResponse};
use td_proto::with_code;
use td_store::DatabaseConnection;
use tonic::{Request, Response, Status};

pub struct DistributorService {
    pub db: DatabaseConnection,
    pub queue: Arc<dyn JobQueue>,
    pub streams: Streams,
}

#[tonic::async_trait]
impl Distributor for DistributorService {
    async fn distribute(
        &self,
        request: Request<DistributeRequest>,
    ) -> Result<Response<DistributeResponse>, Status> {
        let req = request.into_inner();
        let mut groups = Vec::with_capacity(req.ticket_distribution_group_ids.len());
        for id in &req.ticket_distribution_group_ids {
            let parsed = id.parse().map_err(|_| {
                with_code(
                    Status::invalid_argument(format!("`{id}` is not a group id (a UUID)")),
                    "INVALID_PARAMETER",
                )
            })?;
            groups.push(TicketDistributionGroupId(parsed));
        }
        let scope = (req.organisation_id != 0).then_some(OrganisationId(req.organisation_id));
        let requeued = replace_failed(&self.db, self.queue.as_ref(), &self.streams, &groups, scope)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "distribute failed");
                Status::unavailable("the tickets could not be queued for placement; try again")
            })?;
        Ok(Response::new(DistributeResponse {
            ticket_distribution_group_ids: req.ticket_distribution_group_ids,
            requeued: u32::try_from(requeued).unwrap_or(u32::MAX),
        }))
    }
}
