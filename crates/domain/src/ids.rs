//! Identifier newtypes. Order-side ids are the sales platform's strings; the ids this
//! service mints are UUIDs derived deterministically (v5) from what they stand for, so that
//! generating the same order version twice yields the same ids.

use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

macro_rules! string_id {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }
    };
}

macro_rules! uuid_id {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

string_id!(
    /// The sales platform's order id.
    OrderId
);
string_id!(
    /// An order line id, unique within its order.
    OrderLineId
);
string_id!(TravellerId);
string_id!(CustomerId);
string_id!(FareProductId);

uuid_id!(
    /// One group per order line (and line version).
    TicketDistributionGroupId
);
uuid_id!(
    /// One ticket: one MAIN product on one ticketing segment.
    TicketDistributionId
);

/// The operator (organisation) that owns an order. Organisation ids are positive: order
/// intake refuses others, and a token or an internal call naming one is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OrganisationId(pub i64);

impl OrganisationId {
    /// `raw` when it can be an organisation's id (positive), `None` otherwise.
    pub fn positive(raw: i64) -> Option<Self> {
        (raw > 0).then_some(Self(raw))
    }
}

/// Whose data a caller may read and change. No organisation id stands for "all": reading
/// across organisations is a scope of its own, which only the cross-organisation permission
/// (or authorisation switched off) gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// One organisation's data only.
    Organisation(OrganisationId),
    /// Every organisation's data.
    AllOrganisations,
}

impl Scope {
    /// The one organisation this scope is restricted to; `None` for
    /// [`Scope::AllOrganisations`].
    pub fn organisation(self) -> Option<OrganisationId> {
        match self {
            Self::Organisation(org) => Some(org),
            Self::AllOrganisations => None,
        }
    }

    /// Whether data of `organisation` is inside this scope.
    pub fn may_read(self, organisation: OrganisationId) -> bool {
        match self {
            Self::Organisation(org) => org == organisation,
            Self::AllOrganisations => true,
        }
    }
}

impl fmt::Display for OrganisationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Namespace for the v5 ids this service mints.
const NAMESPACE: Uuid = Uuid::from_u128(0x6c1f_7c9e_52a4_4a8e_9b0d_3f5e_2d41_a7c3);

impl TicketDistributionGroupId {
    /// The group of one version of one order line.
    pub fn derive(order: &OrderId, line: &OrderLineId, line_version: u32) -> Self {
        let name = format!("tdg/{}/{}/{}", order.0, line.0, line_version);
        Self(Uuid::new_v5(&NAMESPACE, name.as_bytes()))
    }
}

impl TicketDistributionId {
    /// The ticket of one MAIN product on one segment of a group.
    pub fn derive(
        group: TicketDistributionGroupId,
        segment: usize,
        product: &FareProductId,
    ) -> Self {
        let name = format!("td/{}/{}/{}", group.0, segment, product.0);
        Self(Uuid::new_v5(&NAMESPACE, name.as_bytes()))
    }
}
