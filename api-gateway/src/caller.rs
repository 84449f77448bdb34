//! Who is calling, as far as data scoping is concerned. The authorisation layer (when
//! enabled) inserts a `Caller`; with authorisation off every caller reads everything.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use std::convert::Infallible;
use td_domain::ids::OrganisationId;

#[derive(Debug, Clone, Default)]
pub struct Caller {
    /// The caller's organisation; `None` when the caller may read across organisations.
    pub organisation: Option<OrganisationId>,
    /// The client the token was issued to (`azp`, `client_id` or `sub`), when known.
    pub client: Option<String>,
}

impl Caller {
    /// The organisation every query is restricted to.
    pub fn scope(&self) -> Option<OrganisationId> {
        self.organisation
    }

    pub fn may_read(&self, organisation_id: i64) -> bool {
        self.organisation.is_none_or(|o| o.0 == organisation_id)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<Caller>()
            .cloned()
            .unwrap_or_default())
    }
}
