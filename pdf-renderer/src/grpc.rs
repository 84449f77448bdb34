//! `PdfRenderer.CreateOrGet` and `PdfRenderer.Render` over gRPC, for the gateway (and the
//! mailer). Every refusal is a `td_proto::ErrorCode` (its stable code in the `td-code`
//! metadata).

use crate::service::{CreateOrGet, PdfError, PdfService};
use std::time::Duration;
use td_domain::ids::{OrganisationId, Scope};
use td_domain::limits::MAX_VERSION;
use td_domain::Language;
use td_proto::v1::pdf_renderer_server::PdfRenderer;
use td_proto::v1::scope::Kind;
use td_proto::v1::{
    CreateOrGetRequest, CreateOrGetResponse, PdfTicket, RenderRequest, RenderResponse,
};
use td_proto::ErrorCode;
use td_store::pdf::StoredPdf;
use tonic::{Request, Response, Status};

pub struct PdfRendererService {
    pub service: PdfService,
}

fn language(raw: &str) -> Result<Language, Status> {
    if raw.is_empty() {
        return Ok(Language::default());
    }
    raw.parse().map_err(|_| {
        ErrorCode::InvalidParameter.status(format!("language `{raw}` is not one of nob, nno, eng"))
    })
}

/// The call's scope; a call without one, or naming an organisation id that is not
/// positive, is refused.
fn scope(scope: Option<td_proto::v1::Scope>) -> Result<Scope, Status> {
    match scope.and_then(|s| s.kind) {
        Some(Kind::OrganisationId(raw)) => OrganisationId::positive(raw)
            .map(Scope::Organisation)
            .ok_or_else(|| {
                ErrorCode::InvalidParameter
                    .status(format!("scope: {raw} is not an organisation id (they are positive)"))
            }),
        Some(Kind::AllOrganisations(true)) => Ok(Scope::AllOrganisations),
        Some(Kind::AllOrganisations(false)) | None => Err(ErrorCode::InvalidParameter.status(
            "scope is required: one organisation id, or all_organisations for a caller that may read across organisations",
        )),
    }
}

fn status(err: PdfError) -> Status {
    status_of(&err)
}

fn status_of(err: &PdfError) -> Status {
    let code = match err {
        PdfError::InvalidArgument(_) => ErrorCode::InvalidParameter,
        PdfError::NotConfirmed(..) => ErrorCode::OrderNotConfirmed,
        PdfError::NoSuchVersion(..) => ErrorCode::OrderNotFound,
        PdfError::GroupNotFound(_) => ErrorCode::GroupNotFound,
        PdfError::Timeout(..) => ErrorCode::GenerationTimeout,
        PdfError::NothingToPrint(_) => ErrorCode::NoValidTickets,
        PdfError::Busy(_) => ErrorCode::TooManyRequests,
        PdfError::Shared(inner) => return status_of(inner),
        PdfError::ShuttingDown => {
            return ErrorCode::Unavailable.status("pdf-renderer is shutting down")
        }
        // The database is out of reach or its pool is exhausted: worth a retry shortly.
        PdfError::Store(store) if store.is_transient() => {
            tracing::warn!(error = %err, "PDF request failed for now");
            return ErrorCode::Unavailable.status("the PDF store is not reachable right now");
        }
        PdfError::Store(_) | PdfError::Render(_) => {
            tracing::error!(error = %err, "PDF request failed");
            return ErrorCode::Internal.status("the PDF could not be made");
        }
    };
    code.status(err.to_string())
}

pub fn to_proto(p: StoredPdf) -> PdfTicket {
    let m = p.pdf;
    PdfTicket {
        id: m.id.to_string(),
        order_id: m.order_id,
        order_version: u32::try_from(m.order_version).unwrap_or_default(),
        order_line_id: m.order_line_id,
        order_line_version: u32::try_from(m.order_line_version).unwrap_or_default(),
        ticket_distribution_group_id: m.group_id.to_string(),
        ticket_distribution_ids: p
            .ticket_distribution_ids
            .iter()
            .map(|id| id.to_string())
            .collect(),
        organisation_id: m.organisation_id,
        language: m.language,
        pdf: m.content,
        created_at: m.created_at.to_rfc3339(),
        delete_at: m.delete_at.to_rfc3339(),
    }
}

#[tonic::async_trait]
impl PdfRenderer for PdfRendererService {
    async fn create_or_get(
        &self,
        request: Request<CreateOrGetRequest>,
    ) -> Result<Response<CreateOrGetResponse>, Status> {
        let req = request.into_inner();
        if req
            .order_version
            .is_some_and(|v| !(1..=MAX_VERSION).contains(&v))
        {
            return Err(ErrorCode::InvalidParameter
                .status(format!("order_version must be 1 to {MAX_VERSION}")));
        }
        let ask = CreateOrGet {
            language: language(&req.language)?,
            order_id: req.order_id,
            order_version: req.order_version,
            order_line_ids: req.order_line_ids,
            scope: scope(req.scope)?,
            wait: Duration::from_millis(u64::from(req.wait_ms)),
        };
        let pdfs = self.service.create_or_get(ask).await.map_err(status)?;
        Ok(Response::new(CreateOrGetResponse {
            pdf_tickets: pdfs.into_iter().map(to_proto).collect(),
        }))
    }

    async fn render(
        &self,
        request: Request<RenderRequest>,
    ) -> Result<Response<RenderResponse>, Status> {
        let req = request.into_inner();
        let group_id = uuid::Uuid::parse_str(&req.ticket_distribution_group_id).map_err(|_| {
            ErrorCode::InvalidParameter.status("ticket_distribution_group_id must be a UUID")
        })?;
        let (pdf, pages) = self
            .service
            .render_group(group_id, language(&req.language)?, scope(req.scope)?)
            .await
            .map_err(status)?;
        Ok(Response::new(RenderResponse {
            pdf,
            pages: pages as u32,
        }))
    }
}
