//! The read side of the REST API, against a real PostgreSQL database (and the embedded
//! SQLite default for the main path).

mod common;

use common::{spawn_postgres, spawn_sqlite, TestApp, EXAMPLES};
use serde_json::Value;

async fn demo_app(app: TestApp) -> TestApp {
    for example in EXAMPLES {
        app.record(example).await;
    }
    app
}

fn assert_api_error(body: &Value, status: u16, code: &str) {
    assert_eq!(body["status"], status, "{body}");
    assert_eq!(body["code"], code, "{body}");
    for field in [
        "error",
        "title",
        "message",
        "path",
        "timestamp",
        "correlationId",
    ] {
        assert!(body[field].is_string(), "ApiError lacks {field}: {body}");
    }
}

const GROUP_FIELDS: &[&str] = &[
    "id",
    "orderId",
    "orderVersion",
    "orderLineId",
    "orderLineVersion",
    "updatedForOrderLineVersion",
    "organisationId",
    "orderOwnerCustomerId",
    "distributionHolderCustomerId",
    "createdByDistributionChannel",
    "createdAt",
    "updatedAt",
    "ticketDistributions",
];
const TD_FIELDS: &[&str] = &[
    "id",
    "ticketDistributionGroupId",
    "status",
    "startOfValidity",
    "endOfValidity",
    "fareProductRef",
    "fareProductName",
    "userProfileRef",
    "travellerId",
    "topology",
    "legs",
    "seats",
    "supplementProducts",
    "distribution",
    "createdAt",
    "updatedAt",
];

async fn search_returns_groups_with_every_contract_field(app: TestApp) {
    let app = demo_app(app).await;
    let (status, body) = app
        .get_json("/v1/ticket-distribution-groups?orderId=in:DEMO0001,DEMO0002,DEMO0003")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["totalItems"], 4, "{body}");
    assert_eq!(body["totalPages"], 1);
    assert_eq!(body["page"], 1);
    assert_eq!(body["perPage"], 20);
    let items = body["items"].as_array().unwrap();
    for group in items {
        for f in GROUP_FIELDS {
            assert!(group.get(*f).is_some(), "group lacks {f}: {group}");
        }
        for td in group["ticketDistributions"].as_array().unwrap() {
            for f in TD_FIELDS {
                assert!(td.get(*f).is_some(), "ticket lacks {f}: {td}");
            }
            for f in [
                "fromStopPlace",
                "fromStopPlaceName",
                "toStopPlace",
                "toStopPlaceName",
                "fareZones",
            ] {
                assert!(td["topology"].get(f).is_some(), "topology lacks {f}");
            }
            for f in [
                "nodOrderGroupId",
                "mediaSerialNumberId",
                "distributedAt",
                "pickedUpAt",
                "distributedAsPdf",
            ] {
                assert!(
                    td["distribution"].get(f).is_some(),
                    "distribution lacks {f}"
                );
            }
        }
    }
    let rail = items.iter().find(|g| g["orderId"] == "DEMO0002").unwrap();
    let tds = rail["ticketDistributions"].as_array().unwrap();
    assert_eq!(
        tds.len(),
        2,
        "a change between two authorities is two tickets"
    );
    let leg = &tds[0]["legs"][0];
    for f in [
        "legId",
        "mode",
        "subMode",
        "authorityRef",
        "serviceJourneyRef",
        "datedServiceJourneyRef",
        "departureTime",
        "arrivalTime",
        "fromStopPlace",
        "toStopPlace",
    ] {
        assert!(leg.get(f).is_some(), "leg lacks {f}");
    }
    let family = items
        .iter()
        .find(|g| {
            g["orderId"] == "DEMO0003" && g["ticketDistributions"].as_array().unwrap().len() == 3
        })
        .expect("three travellers, three tickets");
    let with_supplement = family["ticketDistributions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|td| !td["supplementProducts"].as_array().unwrap().is_empty())
        .count();
    assert_eq!(with_supplement, 1);
    assert!(
        family["ticketDistributions"][0]["seats"]
            .as_array()
            .unwrap()
            .len()
            == 1
    );
}

async fn status_is_valid_for_a_live_ticket_and_404_for_unknown(app: TestApp) {
    let app = demo_app(app).await;
    let (_, body) = app
        .get_json("/v1/ticket-distribution-groups?orderId=DEMO0002")
        .await;
    let td_id = body["items"][0]["ticketDistributions"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, answer) = app
        .get_json(&format!("/v1/ticket-distributions/{td_id}/status"))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["valid"], true);
    assert_eq!(answer["status"], "GENERATED");
    assert_eq!(answer["reason"], Value::Null);
    assert_eq!(answer["orderId"], "DEMO0002");
    assert_eq!(answer["orderVersion"], 1);
    for f in [
        "ticketDistributionId",
        "ticketDistributionGroupId",
        "startOfValidity",
        "endOfValidity",
        "updatedAt",
    ] {
        assert!(answer[f].is_string(), "status lacks {f}");
    }

    let (status, body) = app
        .get_json("/v1/ticket-distributions/7c9e6679-7425-40de-944b-e07fc1f90ae7/status")
        .await;
    assert_eq!(status, 404);
    assert_api_error(&body, 404, "TICKET_DISTRIBUTION_NOT_FOUND");
    let (status, body) = app
        .get_json("/v1/ticket-distributions/not-a-uuid/status")
        .await;
    assert_eq!(status, 400);
    assert_api_error(&body, 400, "INVALID_PARAMETER");
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("ticketDistributionId"));
}

async fn summary_lists_the_orders_tickets(app: TestApp) {
    let app = demo_app(app).await;
    let (status, body) = app
        .get_json("/v1/ticket-distributions/DEMO0003/summary")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["orderId"], "DEMO0003");
    let distributions = body["distributions"].as_array().unwrap();
    assert_eq!(
        distributions.len(),
        1,
        "nothing distributed yet: one distinct detail"
    );
    assert_eq!(distributions[0]["distributedAsPdf"], false);
    assert_eq!(
        distributions[0]["ticketDistributionIds"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    let (status, body) = app.get_json("/v1/ticket-distributions/NOPE/summary").await;
    assert_eq!(status, 404);
    assert_api_error(&body, 404, "ORDER_NOT_FOUND");
}

async fn bad_searches_are_400_naming_the_parameter(app: TestApp) {
    let app = demo_app(app).await;
    for (query, code, names) in [
        ("", "MISSING_FILTER", "orderId"),
        ("?page=2", "MISSING_FILTER", "orderId"),
        ("?orderId=DEMO0001&perPage=101", "INVALID_PAGING", "perPage"),
        ("?orderId=DEMO0001&page=0", "INVALID_PAGING", "page"),
        ("?colour=red", "UNKNOWN_PARAMETER", "colour"),
        ("?orderVersion=gtx:1", "UNKNOWN_OPERATOR", "orderVersion"),
        (
            "?createdAt=gte:2027-02-30T00:00:00Z",
            "INVALID_PARAMETER",
            "createdAt",
        ),
        (
            "?startOfValidity=yesterday",
            "INVALID_PARAMETER",
            "startOfValidity",
        ),
        ("?orderVersion=one", "INVALID_PARAMETER", "orderVersion"),
        ("?id=123", "INVALID_PARAMETER", "id"),
        (
            "?distributionStatus=LOST",
            "INVALID_PARAMETER",
            "distributionStatus",
        ),
    ] {
        let (status, body) = app
            .get_json(&format!("/v1/ticket-distribution-groups{query}"))
            .await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_api_error(&body, 400, code);
        assert!(
            body["message"].as_str().unwrap().contains(names),
            "{query}: {body}"
        );
        assert_eq!(body["path"], "/v1/ticket-distribution-groups");
    }
    // A search stays small: a parameter repeated at most 4 times (a range needs 2), at most
    // 16 filters, and pages of PDFs (each carrying its PDF) of at most 10.
    let range =
        "?orderId=DEMO0001&createdAt=gte:2000-01-01T00:00:00Z&createdAt=lt:2100-01-01T00:00:00Z";
    let (status, body) = app
        .get_json(&format!("/v1/ticket-distribution-groups{range}"))
        .await;
    assert_eq!(status, 200, "{body}");
    let five = "&orderId=DEMO0001".repeat(5);
    let sixteen: String = ["orderId", "orderLineId", "organisationId", "createdAt"]
        .iter()
        .flat_map(|name| {
            let value = if *name == "createdAt" {
                "gte:2000-01-01T00:00:00Z"
            } else if *name == "organisationId" {
                "gte:1"
            } else {
                "ne:x"
            };
            std::iter::repeat_n(format!("&{name}={value}"), 4)
        })
        .collect();
    let (status, body) = app
        .get_json(&format!("/v1/ticket-distribution-groups?{}", &sixteen[1..]))
        .await;
    assert_eq!(status, 200, "16 filters: {body}");
    for (path, names) in [
        (
            format!("/v1/ticket-distribution-groups?{}", &five[1..]),
            "orderId",
        ),
        (
            format!(
                "/v1/ticket-distribution-groups?{}&updatedAt=gte:2000-01-01T00:00:00Z",
                &sixteen[1..]
            ),
            "updatedAt",
        ),
        (
            "/v1/pdf-tickets?orderId=DEMO0001&perPage=11".to_owned(),
            "perPage",
        ),
    ] {
        let (status, body) = app.get_json(&path).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(
            body["message"].as_str().unwrap().contains(names),
            "{path}: {body}"
        );
    }
    let (status, body) = app
        .get_json("/v1/pdf-tickets?orderId=DEMO0001&perPage=10")
        .await;
    assert_eq!(
        (status, body["perPage"].as_u64()),
        (200, Some(10)),
        "{body}"
    );
    let (_, body) = app.get_json("/v1/pdf-tickets?orderId=DEMO0001").await;
    assert_eq!(body["perPage"], 5, "{body}");
}

async fn headers_rules_and_framework_errors_are_api_errors(app: TestApp) {
    let response = app
        .client
        .get(app.url("/v1/ticket-distribution-groups?orderId=X"))
        .header("X-Correlation-Id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(response.headers()["x-correlation-id"], "abc-123");
    let body: Value = response.json().await.unwrap();
    assert_api_error(&body, 400, "MISSING_CLIENT_NAME");
    assert_eq!(body["correlationId"], "abc-123");

    let response = app.get("/v1/ticket-distribution-groups?orderId=X").await;
    assert_eq!(response.status(), 200);
    let minted = response.headers()["x-correlation-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        uuid::Uuid::parse_str(&minted).is_ok(),
        "a correlation id is minted: {minted}"
    );

    let (status, body) = app.get_json("/v1/nothing-here").await;
    assert_eq!(status, 404);
    assert_api_error(&body, 404, "ROUTE_NOT_FOUND");
    let response = app
        .client
        .delete(app.url("/v1/ticket-distribution-groups?orderId=X"))
        .header("ET-Client-Name", "test-suite")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_api_error(&response.json().await.unwrap(), 405, "METHOD_NOT_ALLOWED");

    // Operational endpoints need no client name.
    let ready = app
        .client
        .get(app.url("/health/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let live = app
        .client
        .get(app.url("/health/live"))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), 200);
}

async fn openapi_describes_the_served_routes(app: TestApp) {
    let response = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let doc: Value = response.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/v1/ticket-distribution-groups",
        "/v1/ticket-distributions/{ticketDistributionId}/status",
        "/v1/ticket-distributions/{orderId}/summary",
    ] {
        assert!(paths.contains_key(path), "openapi lacks {path}");
    }
    let params = doc["paths"]["/v1/ticket-distribution-groups"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let names: Vec<&str> = params.iter().filter_map(|p| p["name"].as_str()).collect();
    for spec in api_gateway::routes::groups::FILTERS {
        assert!(
            names.contains(&spec.name),
            "openapi lacks filter {}",
            spec.name
        );
    }
    assert!(doc["components"]["schemas"]["ApiErrorBody"].is_object());
    // Client generators need one operation per operationId.
    let mut ids: Vec<&str> = paths
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .filter_map(|op| op["operationId"].as_str())
        .collect();
    let operations = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), operations, "operationIds repeat: {ids:?}");
    assert!(
        ids.contains(&"searchTicketDistributionGroupsUsingGET"),
        "{ids:?}"
    );
    assert!(ids.contains(&"searchPdfTicketsUsingGET"), "{ids:?}");
}

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            $(#[tokio::test] async fn $name() { super::$name(super::spawn_postgres().await).await; })*
        }
        mod sqlite {
            $(#[tokio::test] async fn $name() { super::$name(super::spawn_sqlite().await).await; })*
        }
    };
}

on_both!(
    search_returns_groups_with_every_contract_field,
    status_is_valid_for_a_live_ticket_and_404_for_unknown,
    summary_lists_the_orders_tickets,
    bad_searches_are_400_naming_the_parameter,
    headers_rules_and_framework_errors_are_api_errors,
    openapi_describes_the_served_routes,
);
