//! The PDF ticket endpoints: `POST /v1/pdf-tickets/{orderId}/createOrGet` (through
//! pdf-renderer over gRPC, which waits for the order's groups and renders what is missing),
//! `GET /v1/pdf-tickets` (search) and `GET /v1/pdf-tickets/{id}/content` (the PDF itself).

use crate::caller::Caller;
use crate::dto::{PdfTicket, PdfTicketPage};
use crate::error::{ApiError, ApiErrorBody, ErrorCode};
use crate::search::{self, FilterSpec, ValueKind};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use std::time::Duration;
use td_domain::ids::Scope;
use td_domain::limits::MAX_VERSION;
use td_domain::Language;
use td_proto::v1::CreateOrGetRequest;
use td_store::pdf::{self, PdfField};
use utoipa::ToSchema;

/// Most order lines one createOrGet may name.
const MAX_LINES: usize = 100;

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateOrGetBody {
    /// The order version whose groups to return; default the latest confirmed one.
    pub order_version: Option<u32>,
    /// Only the groups of these order lines; default all.
    #[serde(default)]
    pub order_line_ids: Vec<String>,
    /// nob, nno or eng for PDFs made by this call; default the `Accept-Language` header,
    /// else nob. A PDF that exists already is returned in the language it was made in.
    pub language: Option<String>,
}

/// The language a request asks for: the body's, else `Accept-Language` (or the misspelt
/// `Accepts-Language`), else nob.
pub(crate) fn requested_language(
    body: Option<&str>,
    headers: &HeaderMap,
) -> Result<Language, ApiError> {
    if let Some(raw) = body {
        return raw.parse().map_err(|_| {
            ApiError::new(
                ErrorCode::InvalidBody,
                format!("language `{raw}` is not one of nob, nno, eng."),
            )
        });
    }
    Ok(["accept-language", "accepts-language"]
        .iter()
        .filter_map(|h| headers.get(*h)?.to_str().ok())
        .find_map(Language::negotiate)
        .unwrap_or_default())
}

/// Return one PDF per ticket distribution group of the order, making the missing ones.
///
/// Waits (bounded by the gateway's `pdf_wait_ms`) until the order's groups exist, so it
/// may be called right after the order is confirmed. Only valid tickets get a sheet.
#[utoipa::path(
    post,
    path = "/v1/pdf-tickets/{orderId}/createOrGet",
    tag = "pdf-tickets",
    params(
        ("ET-Client-Name" = String, Header, description = "`<company>-<application>`"),
        ("Accept-Language" = Option<String>, Header, description = "nob, nno or eng (default nob)"),
        ("orderId" = String, Path),
    ),
    request_body(content = Option<CreateOrGetBody>, description = "optional; `{}` when absent"),
    responses(
        (status = 200, body = Vec<PdfTicket>, description = "one PDF per group (groups without a valid ticket are left out)"),
        (status = 400, body = ApiErrorBody, description = "malformed body or language"),
        (status = 404, body = ApiErrorBody, description = "the order has no such version (ORDER_NOT_FOUND)"),
        (status = 409, body = ApiErrorBody, description = "the order is not CONFIRMED (ORDER_NOT_CONFIRMED)"),
        (status = 504, body = ApiErrorBody, description = "the groups did not appear in time (GENERATION_TIMEOUT); retry"),
        (status = 429, body = ApiErrorBody, description = "too many createOrGets wait for tickets right now (TOO_MANY_REQUESTS); retry after the time in Retry-After"),
        (status = 503, body = ApiErrorBody, description = "pdf-renderer or the database unavailable or busy (SERVICE_UNAVAILABLE); retry after the time in Retry-After"),
    )
)]
pub async fn create_or_get(
    State(state): State<AppState>,
    caller: Caller,
    axum::Extension(correlation): axum::Extension<crate::middleware::CorrelationId>,
    super::OrderIdPath(order_id): super::OrderIdPath,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Vec<PdfTicket>>, ApiError> {
    let body: CreateOrGetBody = if body.iter().all(u8::is_ascii_whitespace) {
        CreateOrGetBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::new(
                ErrorCode::InvalidBody,
                format!("The body is not valid: {e}."),
            )
        })?
    };
    if body.order_line_ids.len() > MAX_LINES {
        return Err(ApiError::new(
            ErrorCode::InvalidBody,
            format!("orderLineIds may name at most {MAX_LINES} lines."),
        ));
    }
    // Intake refuses versions beyond these, so none can ever be recorded.
    if body
        .order_version
        .is_some_and(|v| !(1..=MAX_VERSION).contains(&v))
    {
        return Err(ApiError::new(
            ErrorCode::InvalidBody,
            format!("orderVersion must be 1 to {MAX_VERSION}."),
        ));
    }
    let language = requested_language(body.language.as_deref(), &headers)?;
    let wait = Duration::from_millis(state.pdf_wait_ms);
    let mut client = state.pdf_renderer.clone();
    let mut request = tonic::Request::new(CreateOrGetRequest {
        order_id,
        order_version: body.order_version,
        order_line_ids: body.order_line_ids,
        language: language.as_str().to_owned(),
        scope: Some(match caller.scope() {
            Scope::Organisation(org) => td_proto::v1::Scope::organisation(org.0),
            Scope::AllOrganisations => td_proto::v1::Scope::all_organisations(),
        }),
        wait_ms: u32::try_from(wait.as_millis()).unwrap_or(u32::MAX),
        correlation_id: correlation.0.clone(),
    });
    // Room for the wait and for rendering after it.
    request.set_timeout(wait + Duration::from_secs(30));
    let response = client
        .create_or_get(request)
        .await
        .map_err(|status| ApiError::upstream(&status, "PDF"))?;
    response
        .into_inner()
        .pdf_tickets
        .into_iter()
        .map(|p| PdfTicket::from_proto(p).ok_or_else(|| ApiError::internal("malformed PdfTicket")))
        .collect::<Result<Vec<_>, _>>()
        .map(Json)
}

/// A page of PDFs carries the PDFs themselves (the partner API's `PdfTicket` shape, base64),
/// a few hundred kB each: pages are short so that one answer stays a few MB.
pub const PAGING: search::Paging = search::Paging {
    default_per_page: 5,
    max_per_page: 10,
};

pub const FILTERS: &[FilterSpec<PdfField>] = &[
    FilterSpec {
        name: "id",
        field: PdfField::Id,
        kind: ValueKind::Uuid,
    },
    FilterSpec {
        name: "orderId",
        field: PdfField::OrderId,
        kind: ValueKind::Text,
    },
    FilterSpec {
        name: "orderLineId",
        field: PdfField::OrderLineId,
        kind: ValueKind::Text,
    },
    FilterSpec {
        name: "organisationId",
        field: PdfField::OrganisationId,
        kind: ValueKind::Int,
    },
    FilterSpec {
        name: "ticketDistributionId",
        field: PdfField::TicketDistributionId,
        kind: ValueKind::Uuid,
    },
];

/// Search PDF tickets (same syntax as the group search).
#[utoipa::path(
    get,
    path = "/v1/pdf-tickets",
    operation_id = "searchPdfTicketsUsingGET",
    tag = "pdf-tickets",
    params(
        ("ET-Client-Name" = String, Header, description = "`<company>-<application>`"),
        ("id" = Option<String>, Query, description = "PDF id (UUID)"),
        ("orderId" = Option<String>, Query),
        ("orderLineId" = Option<String>, Query),
        ("organisationId" = Option<String>, Query, description = "only for callers allowed to read across organisations"),
        ("ticketDistributionId" = Option<String>, Query, description = "PDFs with a sheet for this ticket"),
        ("page" = Option<u64>, Query, description = "from 1, default 1"),
        ("perPage" = Option<u64>, Query, description = "1 to 10, default 5: each item carries its PDF (also at `/v1/pdf-tickets/{id}/content`)"),
    ),
    responses(
        (status = 200, body = PdfTicketPage),
        (status = 400, body = ApiErrorBody, description = "no filter, unknown filter or operator, malformed value, bad paging"),
    )
)]
pub async fn search(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<PdfTicketPage>, ApiError> {
    let request = search::parse_paged(raw.as_deref(), FILTERS, PAGING)?;
    let page = pdf::search(&state.db, caller.scope(), request.filters, request.page).await?;
    let total_pages = page.total_pages();
    Ok(Json(PdfTicketPage {
        items: page.items.iter().map(PdfTicket::from_stored).collect(),
        total_items: page.total_items,
        total_pages,
        page: page.page,
        per_page: page.per_page,
    }))
}

/// Download a PDF ticket.
#[utoipa::path(
    get,
    path = "/v1/pdf-tickets/{id}/content",
    tag = "pdf-tickets",
    params(
        ("ET-Client-Name" = String, Header, description = "`<company>-<application>`"),
        ("id" = String, Path, description = "PDF id (UUID)"),
    ),
    responses(
        (status = 200, content_type = "application/pdf", body = Vec<u8>, description = "the PDF"),
        (status = 400, body = ApiErrorBody, description = "the id is not a UUID"),
        (status = 404, body = ApiErrorBody, description = "no such PDF (PDF_TICKET_NOT_FOUND)"),
    )
)]
pub async fn content(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let uuid = uuid::Uuid::parse_str(&id).map_err(|_| {
        ApiError::new(
            ErrorCode::InvalidParameter,
            format!("`{id}` is not a PDF ticket id (a UUID)."),
        )
    })?;
    let bytes = pdf::content(&state.db, caller.scope(), uuid)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::PdfTicketNotFound,
                format!("No PDF ticket has id {uuid}."),
            )
        })?;
    let disposition = format!("inline; filename=\"ticket-{uuid}.pdf\"");
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/pdf"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition).map_err(ApiError::internal)?,
            ),
        ],
        bytes,
    )
        .into_response())
}
