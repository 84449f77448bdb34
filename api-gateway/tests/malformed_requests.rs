//! No input yields a 5xx: hundreds of generated malformed requests, each answered with a
//! 4xx `ApiError` (or a 200 where the request happens to be valid).

mod common;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("orderId".to_owned()),
        Just("orderVersion".to_owned()),
        Just("id".to_owned()),
        Just("createdAt".to_owned()),
        Just("distributionStatus".to_owned()),
        Just("perPage".to_owned()),
        Just("page".to_owned()),
        Just("startOfValidity".to_owned()),
        Just("in:".to_owned()),
        Just("gte:".to_owned()),
        Just("zz:".to_owned()),
        Just("=".to_owned()),
        Just("&".to_owned()),
        Just(",".to_owned()),
        Just("%".to_owned()),
        Just("%00".to_owned()),
        Just("%ff".to_owned()),
        Just("2027-01-01T00:00:00Z".to_owned()),
        Just("99999999999999999999".to_owned()),
        Just("-1".to_owned()),
        "[a-zA-Z0-9:_.+-]{0,12}",
        any::<String>().prop_map(|s| s.chars().take(8).collect()),
    ]
}

fn request() -> impl Strategy<Value = (String, String)> {
    let query = prop::collection::vec(fragment(), 0..10).prop_map(|parts| parts.concat());
    let path = prop_oneof![
        Just("/v1/ticket-distribution-groups".to_owned()),
        "[a-zA-Z0-9%-]{0,40}".prop_map(|id| format!("/v1/ticket-distributions/{id}/status")),
        "[a-zA-Z0-9%-]{0,40}".prop_map(|id| format!("/v1/ticket-distributions/{id}/summary")),
        "[a-zA-Z0-9/%.-]{0,30}".prop_map(|p| format!("/v1/{p}")),
    ];
    (path, query)
}

#[test]
fn generated_malformed_requests_never_get_a_5xx() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let app = rt.block_on(async {
        let app = common::spawn_postgres().await;
        for example in common::EXAMPLES {
            app.record(example).await;
        }
        app
    });
    let mut runner = TestRunner::new(Config {
        cases: 400,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&request(), |(path, query)| {
            let url = format!("{}?{}", app.url(&path), query);
            let Ok(url) = reqwest::Url::parse(&url) else {
                return Ok(()); // not expressible as a request at all
            };
            let (status, body) = rt.block_on(async {
                let response = app
                    .client
                    .get(url)
                    .header("ET-Client-Name", "fuzz-test")
                    .send()
                    .await
                    .expect("the server answers");
                let status = response.status().as_u16();
                (status, response.text().await.unwrap_or_default())
            });
            prop_assert!(status < 500, "{path}?{query} -> {status}: {body}");
            if status >= 400 {
                let json: serde_json::Value = serde_json::from_str(&body).map_err(|e| {
                    TestCaseError::fail(format!("{path}?{query}: not JSON: {e}: {body}"))
                })?;
                prop_assert_eq!(json["status"].as_u64(), Some(status as u64));
                prop_assert!(json["code"].is_string());
            }
            Ok(())
        })
        .unwrap();
}

#[tokio::test]
async fn control_characters_in_an_order_id_or_filter_are_a_400_naming_the_parameter() {
    let app = common::spawn_postgres().await;
    for (method, path) in [
        ("GET", "/v1/ticket-distributions/A%00B/summary"),
        ("POST", "/v1/ticket-distributions/A%0AB/generate"),
        ("POST", "/v1/pdf-tickets/%00/createOrGet"),
        ("POST", "/v1/pdf-tickets/A%1BB/send"),
        ("GET", "/v1/ticket-distribution-groups?orderId=A%00B"),
    ] {
        let request = match method {
            "GET" => app.client.get(app.url(path)),
            _ => app.client.post(app.url(path)).json(&serde_json::json!({})),
        };
        let response = request
            .header("ET-Client-Name", "fuzz-test")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{method} {path}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["code"], "INVALID_PARAMETER", "{method} {path}: {body}");
        assert!(
            body["message"].as_str().unwrap().contains("orderId"),
            "{method} {path}: {body}"
        );
    }
}
