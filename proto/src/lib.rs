//! The internal gRPC contracts (`proto/*.proto`, compiled to tonic/prost code) and the one
//! table of error codes that workers answer with and the gateway maps to HTTP. No logic
//! beyond that table: the services are implemented by the workers that own them.

mod error_code;

pub use error_code::{ErrorCode, CODE_KEY};

#[allow(clippy::all, missing_docs)]
pub mod v1 {
    tonic::include_proto!("ticketdistribution.v1");

    impl Scope {
        /// One organisation's data.
        pub fn organisation(id: i64) -> Self {
            Self {
                kind: Some(scope::Kind::OrganisationId(id)),
            }
        }

        /// Every organisation's data.
        pub fn all_organisations() -> Self {
            Self {
                kind: Some(scope::Kind::AllOrganisations(true)),
            }
        }
    }
}
