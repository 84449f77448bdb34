//! One module per route.

pub mod distribute;
pub mod generate;
pub mod groups;
pub mod pdf;
pub mod send;
pub mod status;
pub mod summary;

use crate::error::{ApiError, ErrorCode};
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};

/// Longest order id accepted in a path.
const MAX_ORDER_ID_LEN: usize = 200;

/// An `{orderId}` path segment that can be an order id: 1 to 200 characters, none of them a
/// control character (a NUL could not even be stored). Anything else is a 400 naming the
/// parameter, never a failed query.
pub struct OrderIdPath(pub String);

impl<S: Send + Sync> FromRequestParts<S> for OrderIdPath {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        if id.is_empty() || id.chars().count() > MAX_ORDER_ID_LEN {
            return Err(ApiError::new(
                ErrorCode::InvalidParameter,
                format!("Path parameter `orderId` must have 1 to {MAX_ORDER_ID_LEN} characters."),
            )
            .into_response());
        }
        if id.chars().any(char::is_control) {
            return Err(ApiError::new(
                ErrorCode::InvalidParameter,
                "Path parameter `orderId` must not contain control characters.",
            )
            .into_response());
        }
        Ok(Self(id))
    }
}
