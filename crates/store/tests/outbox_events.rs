//! What the store writes into its outbox is what td-events encodes: run the store's write
//! path on SQLite, then encode and decode every outbox row.

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{json, Value};
use td_domain::TdStatus;
use td_events::{decode, encode, TicketDistributionStatus};
use td_store::outbox;
use td_store::record::{record_order_event, Origin};
use td_store::TransactionTrait;

#[test]
fn statuses_match_the_domain() {
    let domain: Vec<&str> = TdStatus::ALL.iter().map(|s| s.as_str()).collect();
    let events: Vec<&str> = TicketDistributionStatus::ALL
        .iter()
        .map(|s| s.as_str())
        .collect();
    assert_eq!(domain, events);
}

fn t(h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2027, 3, 1, h, 0, 0).unwrap()
}

/// Line L1 (two legs on two authorities) at `l1_version`, and line L2 (a zone ticket).
fn order_event(version: u32, l1_version: u32) -> td_domain::OrderEvent {
    let leg = |id: &str, authority: &str, dep: u32, arr: u32| {
        json!({
            "legId": id, "mode": "rail", "authorityRef": authority,
            "departureTime": t(dep), "arrivalTime": t(arr),
            "fromStopPlace": format!("NSR:StopPlace:{dep}"), "toStopPlace": format!("NSR:StopPlace:{arr}"),
        })
    };
    let value = json!({
        "eventId": uuid::Uuid::new_v4(), "type": "OrderConfirmed", "correlationId": format!("corr-{version}"),
        "timestamp": t(1),
        "order": {
            "id": "O-events", "version": version, "status": "CONFIRMED", "organisationId": 1,
            "contactInfo": {"contact": {"customerId": "C1", "email": "a@example.com"}},
            "travellers": [{"id": "T1", "name": "Kari", "userProfileRef": "ENT:UserProfile:Adult"}],
            "orderLines": [
                {
                    "id": "L1", "version": l1_version, "status": "CONFIRMED",
                    "fareProducts": [{"id": "P1", "ref": "VYG:PreassignedFareProduct:Standard", "name": "Standard", "kind": "MAIN", "travellerIds": ["T1"]}],
                    "legs": [leg("leg1", "VYG:Authority:VYG", 8, 10), leg("leg2", "SJN:Authority:SJN", 10, 12)],
                },
                {
                    "id": "L2", "version": 1, "status": "CONFIRMED",
                    "startOfValidity": t(6), "endOfValidity": t(20), "fareZones": ["RUT:FareZone:4"],
                    "fareProducts": [{"id": "P2", "ref": "RUT:PreassignedFareProduct:Single", "kind": "MAIN", "travellerIds": ["T1"]}],
                },
            ],
        }
    });
    td_domain::parse_order_event(value.to_string().as_bytes()).expect("valid test order")
}

#[tokio::test]
async fn every_event_the_store_writes_encodes_and_decodes_to_the_same_json() {
    let test_db = td_testkit::sqlite().await;
    let db = &test_db.db;
    // Version 2 changes line L1, so its old tickets are cancelled and new ones generated.
    for (version, l1_version) in [(1, 1), (2, 2)] {
        let txn = db.begin().await.unwrap();
        record_order_event(
            &txn,
            &order_event(version, l1_version),
            &Origin::default(),
            Utc::now(),
        )
        .await
        .unwrap();
        txn.commit().await.unwrap();
    }

    let rows = outbox::events_of_order(db, &"O-events".into())
        .await
        .unwrap();
    let mut types: Vec<String> = Vec::new();
    for row in &rows {
        let payload: &Value = &row.payload;
        let bytes = encode(&row.topic, payload)
            .unwrap_or_else(|e| panic!("outbox row {} ({}): {e}", row.id, row.event_type));
        let event = decode(&row.topic, &bytes).unwrap();
        assert_eq!(
            &serde_json::to_value(&event).unwrap(),
            payload,
            "row {}",
            row.id
        );
        types.push(row.event_type.clone());
    }
    for expected in [
        "TicketDistributionGroupCreated",
        "TicketDistributionAdded",
        "TicketDistributionCancelled",
        "AllTicketDistributionGroupsForOrderVersionGenerated",
    ] {
        assert!(
            types.iter().any(|t| t == expected),
            "no {expected} in {types:?}"
        );
    }
}
