//! Generated tonic/prost code for the internal gRPC services (`proto/*.proto`). No logic:
//! the services are implemented by the workers that own them.

#![allow(clippy::all, missing_docs)]

pub mod v1 {
    tonic::include_proto!("ticketdistribution.v1");
}

/// gRPC metadata key carrying the stable error code (the gateway's `ApiError.code`).
pub const CODE_KEY: &str = "td-code";

/// A status that carries a stable error code in its metadata.
pub fn with_code(mut status: tonic::Status, code: &'static str) -> tonic::Status {
    status
        .metadata_mut()
        .insert(CODE_KEY, tonic::metadata::MetadataValue::from_static(code));
    status
}

/// The stable error code a status carries, if any.
pub fn code_of(status: &tonic::Status) -> Option<&str> {
    status.metadata().get(CODE_KEY)?.to_str().ok()
}
