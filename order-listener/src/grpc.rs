//! `Generation.Generate` over gRPC, for the gateway's manual generate endpoint.
//!
//! Groups are generated in the same transaction that records a CONFIRMED order version, so
//! for a known confirmed order they already exist: Generate answers with them (idempotent)
//! and never creates a second set. Errors carry a stable code in the `td-code` metadata.

use td_domain::ids::{OrderId, OrganisationId};
use td_domain::order::OrderStatus;
use td_proto::v1::generation_server::Generation;
use td_proto::v1::{GenerateRequest, GenerateResponse};
use td_proto::with_code;
use td_store::{query, DatabaseConnection};
use tonic::{Request, Response, Status};

pub struct GenerationService {
    db: DatabaseConnection,
}

impl GenerationService {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

#[tonic::async_trait]
impl Generation for GenerationService {
    async fn generate(
        &self,
        request: Request<GenerateRequest>,
    ) -> Result<Response<GenerateResponse>, Status> {
        let req = request.into_inner();
        if req.order_id.trim().is_empty() {
            return Err(with_code(
                Status::invalid_argument("order_id is required"),
                "INVALID_PARAMETER",
            ));
        }
        let scope = (req.organisation_id != 0).then_some(OrganisationId(req.organisation_id));
        let order_id = OrderId(req.order_id.clone());
        let internal = |e: td_store::StoreError| {
            tracing::error!(error = %e, "generate failed");
            Status::internal("the order could not be read")
        };
        let order = query::order(&self.db, scope, &order_id)
            .await
            .map_err(internal)?
            .ok_or_else(|| {
                with_code(
                    Status::not_found(format!("no order {order_id}")),
                    "ORDER_NOT_FOUND",
                )
            })?;
        let confirmed = order.status == OrderStatus::Confirmed.as_str();
        let Some(version) = order.latest_confirmed_version.filter(|_| confirmed) else {
            return Err(with_code(
                Status::failed_precondition(format!(
                    "order {order_id} is {}, not CONFIRMED",
                    order.status
                )),
                "ORDER_NOT_CONFIRMED",
            ));
        };
        let ids = query::group_ids_of_version(&self.db, &order_id, version)
            .await
            .map_err(internal)?;
        Ok(Response::new(GenerateResponse {
            order_id: order_id.0,
            order_version: u32::try_from(version).unwrap_or_default(),
            ticket_distribution_group_ids: ids.iter().map(|id| id.to_string()).collect(),
            already_existed: true,
        }))
    }
}
