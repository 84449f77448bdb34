//! Who is calling, as far as data scoping is concerned. The authorisation layer (when
//! enabled) inserts a `Caller`; with authorisation off every caller reads everything.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use std::convert::Infallible;
use td_domain::ids::{OrganisationId, Scope};

#[derive(Debug, Clone)]
pub struct Caller {
    /// Whose data the caller reads: one organisation, or every organisation for a token
    /// with the cross-organisation permission (and for every caller while authorisation is
    /// off).
    pub scope: Scope,
    /// The client the token was issued to (`azp`, `client_id` or `sub`), when known.
    pub client: Option<String>,
}

impl Default for Caller {
    /// The caller while authorisation is off.
    fn default() -> Self {
        Self {
            scope: Scope::AllOrganisations,
            client: None,
        }
    }
}

impl Caller {
    /// The scope every query is restricted to.
    pub fn scope(&self) -> Scope {
        self.scope
    }

    pub fn may_read(&self, organisation_id: i64) -> bool {
        self.scope.may_read(OrganisationId(organisation_id))
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
