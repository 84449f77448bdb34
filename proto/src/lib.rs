//! Generated tonic/prost code for the internal gRPC services (`proto/*.proto`). No logic:
//! the services are implemented by the workers that own them.

#![allow(clippy::all, missing_docs)]

pub mod v1 {
    tonic::include_proto!("ticketdistribution.v1");
}
