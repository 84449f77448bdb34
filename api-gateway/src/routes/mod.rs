//! One module per route.

pub mod distribute;
pub mod generate;
pub mod groups;
pub mod pdf;
pub mod send;
pub mod status;
pub mod summary;
