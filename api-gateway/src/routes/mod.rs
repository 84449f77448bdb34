//! One module per route.

pub mod groups;
pub mod status;
pub mod summary;
