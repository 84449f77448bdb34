//! The structured input of the ticket template: what one PDF shows, already formatted for
//! its language and time zone, built from a group and its tickets. Only valid tickets get a
//! sheet.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use std::collections::BTreeMap;
use td_domain::{DistributionDetails, Language};
use td_store::entity::ticket_distribution as td;
use td_store::query::GroupWithDistributions;

/// One PDF: one sheet per ticket, in the group's ticket order. The template gets one sheet
/// at a time (see `render`).
#[derive(Debug, Clone, PartialEq)]
pub struct TicketDocument {
    pub language: Language,
    pub order_id: String,
    pub tickets: Vec<TicketSheet>,
}

/// One A4 sheet. Absent values are empty strings (the template leaves their rows out).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TicketSheet {
    pub ticket_id: String,
    pub operator: String,
    pub product: String,
    pub traveller: String,
    pub user_profile: String,
    pub from: String,
    pub to: String,
    pub zones: String,
    pub valid_from: String,
    pub valid_to: String,
    pub supplements: String,
    pub legs: Vec<SheetLeg>,
    pub seats: Vec<SheetSeat>,
    /// What the sheet's QR code encodes (see [`qr_payload`]); not shown as text.
    #[serde(skip)]
    pub qr_payload: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SheetLeg {
    pub mode: String,
    pub from: String,
    pub to: String,
    pub departure: String,
    pub arrival: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SheetSeat {
    pub railcar: String,
    pub seat: String,
}

/// What a ticket's QR code carries: a compact JSON object that an inspection app reads to
/// look the ticket up (`GET /v1/ticket-distributions/{id}/status`) and to show its validity
/// offline. Format version 1: `{"v":1,"td":<ticket id>,"order":<order id>,"validTo":<RFC 3339>}`.
pub fn qr_payload(ticket_id: &str, order_id: &str, valid_to: DateTime<Utc>) -> String {
    serde_json::json!({
        "v": 1,
        "td": ticket_id,
        "order": order_id,
        "validTo": valid_to.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    })
    .to_string()
}

/// How sheets are worded: the time zone for times and the display name of each
/// organisation (the operator), with the tickets' authority as the fallback.
#[derive(Debug, Clone)]
pub struct Presentation {
    pub time_zone: Tz,
    pub operator_names: BTreeMap<i64, String>,
}

impl Default for Presentation {
    fn default() -> Self {
        Self {
            time_zone: chrono_tz::Europe::Oslo,
            operator_names: BTreeMap::new(),
        }
    }
}

impl Presentation {
    fn time(&self, t: DateTime<Utc>, language: Language) -> String {
        let local = t.with_timezone(&self.time_zone);
        match language {
            Language::Eng => local.format("%-d %b %Y, %H:%M").to_string(),
            Language::Nob | Language::Nno => local.format("%d.%m.%Y kl. %H:%M").to_string(),
        }
    }
}

/// Whether a ticket gets a sheet in a PDF made now: it is live and its validity has not
/// ended (the group being rendered belongs to the version asked for).
pub fn is_printable(t: &td::Model, now: DateTime<Utc>) -> bool {
    t.validity(true, now).is_ok_and(|v| v.valid)
}

impl TicketDocument {
    /// The document for a group: one sheet per printable ticket (none when no ticket is).
    pub fn for_group(
        group: &GroupWithDistributions,
        language: Language,
        presentation: &Presentation,
        now: DateTime<Utc>,
    ) -> Self {
        let tickets = group
            .distributions
            .iter()
            .filter(|t| is_printable(t, now))
            .map(|t| sheet(group, t, language, presentation))
            .collect();
        TicketDocument {
            language,
            order_id: group.group.order_id.clone(),
            tickets,
        }
    }
}

fn sheet(
    group: &GroupWithDistributions,
    t: &td::Model,
    language: Language,
    presentation: &Presentation,
) -> TicketSheet {
    let details: DistributionDetails =
        serde_json::from_value(t.details.clone()).unwrap_or_default();
    let topology = &details.topology;
    let operator = presentation
        .operator_names
        .get(&group.group.organisation_id)
        .cloned()
        .or_else(|| details.legs.first().map(|l| l.authority_ref.clone()))
        .unwrap_or_default();
    let stop = |name: &Option<String>, id: &Option<String>| {
        name.clone().or_else(|| id.clone()).unwrap_or_default()
    };
    let legs = details
        .legs
        .iter()
        .map(|l| SheetLeg {
            mode: match &l.sub_mode {
                Some(sub) => format!("{} ({sub})", l.mode),
                None => l.mode.clone(),
            },
            from: l.from_stop_place.clone(),
            to: l.to_stop_place.clone(),
            departure: presentation.time(l.departure_time, language),
            arrival: presentation.time(l.arrival_time, language),
        })
        .collect();
    let seats = details
        .seats
        .iter()
        .map(|s| SheetSeat {
            railcar: s.railcar_number.clone().unwrap_or_default(),
            seat: s.seat_number.clone(),
        })
        .collect();
    let supplements = details
        .supplement_products
        .iter()
        .map(|s| s.name.clone().unwrap_or_else(|| s.reference.clone()))
        .collect::<Vec<_>>()
        .join(", ");
    let ticket_id = t.id.to_string();
    TicketSheet {
        qr_payload: qr_payload(&ticket_id, &t.order_id, t.end_of_validity),
        ticket_id,
        operator,
        product: t
            .fare_product_name
            .clone()
            .unwrap_or_else(|| t.fare_product_ref.clone()),
        traveller: details
            .traveller_name
            .clone()
            .or_else(|| t.traveller_id.clone())
            .unwrap_or_default(),
        user_profile: t.user_profile_ref.clone().unwrap_or_default(),
        from: stop(&topology.from_stop_place_name, &topology.from_stop_place),
        to: stop(&topology.to_stop_place_name, &topology.to_stop_place),
        zones: topology.fare_zones.join(", "),
        valid_from: presentation.time(t.start_of_validity, language),
        valid_to: presentation.time(t.end_of_validity, language),
        supplements,
        legs,
        seats,
    }
}
