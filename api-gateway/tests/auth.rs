//! Authorisation: a bearer JWT decides whose data a caller sees. A token for one
//! organisation never sees another's groups, statuses, summaries, PDFs or sends, through any
//! endpoint or filter (404, not 403, for another organisation's resource); staff with the
//! cross-organisation permission see all; a missing, expired, wrongly signed, wrong-audience
//! or `alg: none` token is a 401; keys come from a shared secret or a JWKS that may rotate.

mod common;

use chrono::Utc;
use common::{spawn_with_auth, TestApp, EXAMPLES};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use std::time::Duration;
use td_store::entity::pdf_ticket;
use td_store::mail::{self, CreateOutcome, NewSend};
use td_store::pdf::{self as pdf_store, StoredPdf};

const SECRET: &str = "a-shared-secret-for-tests-only-0123456789";
const AUDIENCE: &str = "ticket-distribution";
const ALL_ORGANISATIONS: &str = "ticket-distribution:all-organisations";

fn claims(organisation: Option<i64>, permissions: &[&str], exp_in_s: i64) -> Value {
    let mut c = json!({
        "sub": "test-client",
        "aud": AUDIENCE,
        "exp": Utc::now().timestamp() + exp_in_s,
        "permissions": permissions,
    });
    if let Some(org) = organisation {
        c["organisationId"] = json!(org);
    }
    c
}

fn hs256(claims: &Value, secret: &str) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn org_token(org: i64) -> String {
    hs256(&claims(Some(org), &[], 600), SECRET)
}

fn staff_token() -> String {
    hs256(&claims(None, &[ALL_ORGANISATIONS], 600), SECRET)
}

async fn get(app: &TestApp, path: &str, token: Option<&str>) -> (u16, Value) {
    let mut request = app
        .client
        .get(app.url(path))
        .header("ET-Client-Name", "test-suite");
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn ticket_ids(search: &Value) -> Vec<String> {
    search["items"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["ticketDistributions"].as_array().unwrap().clone())
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_token_sees_its_own_organisation_only_through_every_endpoint() {
    let test_db = td_testkit::postgres().await;
    let app = spawn_with_auth(test_db.db, &[("TD__AUTH__HS256_SECRET", SECRET)]).await;
    app.record(EXAMPLES[0]).await; // DEMO0001, organisation 1
    app.record(EXAMPLES[2]).await; // DEMO0003, organisation 2
    let one = org_token(1);
    let two = org_token(2);
    let staff = staff_token();

    let both = "/v1/ticket-distribution-groups?orderId=in:DEMO0001,DEMO0003";
    let (status, all) = get(&app, both, Some(&staff)).await;
    assert_eq!(
        (status, all["totalItems"].as_u64()),
        (200, Some(3)),
        "{all}"
    );
    let (_, mine) = get(&app, both, Some(&one)).await;
    assert_eq!(mine["totalItems"], 1, "{mine}");
    assert!(mine["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|g| g["orderId"] == "DEMO0001"));
    // Asking for the other organisation by filter finds nothing for a caller of one.
    let (_, filtered) = get(
        &app,
        "/v1/ticket-distribution-groups?orderId=DEMO0003&organisationId=2",
        Some(&one),
    )
    .await;
    assert_eq!(filtered["totalItems"], 0, "{filtered}");
    let (_, staff_filtered) = get(
        &app,
        "/v1/ticket-distribution-groups?orderId=in:DEMO0001,DEMO0003&organisationId=2",
        Some(&staff),
    )
    .await;
    assert_eq!(staff_filtered["totalItems"], 2, "{staff_filtered}");

    let (_, theirs) = get(
        &app,
        "/v1/ticket-distribution-groups?orderId=DEMO0003",
        Some(&two),
    )
    .await;
    let their_ticket = ticket_ids(&theirs)[0].clone();
    let status_path = format!("/v1/ticket-distributions/{their_ticket}/status");
    assert_eq!(get(&app, &status_path, Some(&two)).await.0, 200);
    let (status, body) = get(&app, &status_path, Some(&one)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("TICKET_DISTRIBUTION_NOT_FOUND"))
    );
    assert_eq!(
        get(
            &app,
            "/v1/ticket-distributions/DEMO0003/summary",
            Some(&two)
        )
        .await
        .0,
        200
    );
    assert_eq!(
        get(
            &app,
            "/v1/ticket-distributions/DEMO0003/summary",
            Some(&one)
        )
        .await
        .0,
        404
    );

    // A stored PDF and a send of organisation 2.
    let group = &theirs["items"][0];
    let pdf_id = uuid::Uuid::new_v4();
    pdf_store::insert_if_absent(
        &app.db,
        StoredPdf {
            pdf: pdf_ticket::Model {
                id: pdf_id,
                group_id: group["id"].as_str().unwrap().parse().unwrap(),
                order_id: "DEMO0003".into(),
                order_version: 1,
                order_line_id: group["orderLineId"].as_str().unwrap().into(),
                order_line_version: 1,
                organisation_id: 2,
                language: "eng".into(),
                content: b"%PDF-1.7 test".to_vec(),
                created_at: Utc::now(),
                delete_at: Utc::now() + chrono::Duration::days(1),
            },
            ticket_distribution_ids: vec![their_ticket.parse().unwrap()],
        },
    )
    .await
    .unwrap();
    let pdfs = "/v1/pdf-tickets?orderId=DEMO0003";
    assert_eq!(get(&app, pdfs, Some(&two)).await.1["totalItems"], 1);
    assert_eq!(get(&app, pdfs, Some(&one)).await.1["totalItems"], 0);
    let content = format!("/v1/pdf-tickets/{pdf_id}/content");
    assert_eq!(get(&app, &content, Some(&two)).await.0, 200);
    assert_eq!(get(&app, &content, Some(&one)).await.0, 404);

    let CreateOutcome::Created(send) = mail::create_send(
        &app.db,
        NewSend {
            id: uuid::Uuid::new_v4(),
            order_id: "DEMO0003".into(),
            organisation_id: 2,
            email_address: "kari@example.no".into(),
            language: "eng".into(),
            ticket_distribution_ids: vec![their_ticket.parse().unwrap()],
            correlation_id: None,
            traceparent: None,
        },
        None,
        Utc::now(),
    )
    .await
    .unwrap() else {
        panic!("created")
    };
    let send_path = format!("/v1/pdf-tickets/sends/{}", send.id);
    assert_eq!(get(&app, &send_path, Some(&two)).await.0, 200);
    assert_eq!(get(&app, &send_path, Some(&one)).await.0, 404);
    // Nor can organisation 1 send organisation 2's tickets.
    let response = app
        .client
        .post(app.url("/v1/pdf-tickets/DEMO0003/send"))
        .header("ET-Client-Name", "test-suite")
        .bearer_auth(&one)
        .json(&json!({"emailAddress": "evil@example.com", "ticketDistributionIds": [their_ticket]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);
}

#[tokio::test]
async fn missing_expired_forged_and_unsigned_tokens_are_401() {
    let test_db = td_testkit::postgres().await;
    let app = spawn_with_auth(test_db.db, &[("TD__AUTH__HS256_SECRET", SECRET)]).await;
    app.record(EXAMPLES[0]).await;
    let path = "/v1/ticket-distribution-groups?orderId=DEMO0001";
    assert_eq!(get(&app, path, Some(&org_token(1))).await.0, 200);

    let none_header = base64_url(br#"{"alg":"none","typ":"JWT"}"#);
    let none_claims = base64_url(claims(Some(1), &[], 600).to_string().as_bytes());
    let cases = [
        ("expired", hs256(&claims(Some(1), &[], -3600), SECRET)),
        (
            "wrong secret",
            hs256(
                &claims(Some(1), &[], 600),
                "another-secret-of-at-least-32-bytes!!",
            ),
        ),
        ("alg none", format!("{none_header}.{none_claims}.")),
        (
            "wrong audience",
            hs256(
                &json!({"organisationId": 1, "aud": "someone-else", "exp": Utc::now().timestamp() + 600}),
                SECRET,
            ),
        ),
        (
            "no audience",
            hs256(
                &json!({"organisationId": 1, "exp": Utc::now().timestamp() + 600}),
                SECRET,
            ),
        ),
        ("no organisation", hs256(&claims(None, &[], 600), SECRET)),
        ("garbage", "not.a.token".to_owned()),
    ];
    for (what, token) in cases {
        let response = app
            .client
            .get(app.url(path))
            .header("ET-Client-Name", "test-suite")
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 401, "{what}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer", "{what}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "UNAUTHENTICATED", "{what}: {body}");
        assert!(
            !body["message"].as_str().unwrap().contains(&token),
            "{what}: the token is not echoed"
        );
    }
    let (status, body) = get(&app, path, None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("UNAUTHENTICATED"))
    );
    let basic = app
        .client
        .get(app.url(path))
        .header("ET-Client-Name", "test-suite")
        .header("Authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status().as_u16(), 401);
    // Operational endpoints need no token.
    assert_eq!(
        app.client
            .get(app.url("/health/ready"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        app.client
            .get(app.url("/openapi.json"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn keys_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/keys")
}

fn rs256(claims: &Value, key: u8) -> String {
    let pem = std::fs::read(keys_dir().join(format!("rsa{key}.pem"))).unwrap();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(format!("test-{key}"));
    encode(&header, claims, &EncodingKey::from_rsa_pem(&pem).unwrap()).unwrap()
}

#[tokio::test]
async fn keys_from_a_jwks_file_are_used_and_a_rotated_key_is_picked_up() {
    let dir = tempfile::tempdir().unwrap();
    let jwks = dir.path().join("jwks.json");
    std::fs::copy(keys_dir().join("jwks1.json"), &jwks).unwrap();
    let test_db = td_testkit::postgres().await;
    let jwks_path = jwks.display().to_string();
    let app = spawn_with_auth(
        test_db.db,
        &[
            ("TD__AUTH__JWKS_FILE", &jwks_path),
            ("TD__AUTH__JWKS_REFRESH_MS", "200"),
        ],
    )
    .await;
    app.record(EXAMPLES[0]).await;
    let path = "/v1/ticket-distribution-groups?orderId=DEMO0001";
    let claims = claims(Some(1), &[], 600);
    let (status, body) = get(&app, path, Some(&rs256(&claims, 1))).await;
    assert_eq!(
        (status, body["totalItems"].as_u64()),
        (200, Some(1)),
        "{body}"
    );

    // The public key used as an HMAC secret (algorithm confusion) is refused.
    let jwk: Value = serde_json::from_str(&std::fs::read_to_string(&jwks).unwrap()).unwrap();
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("test-1".into());
    let confused = encode(
        &header,
        &claims,
        &EncodingKey::from_secret(jwk["keys"][0]["n"].as_str().unwrap().as_bytes()),
    )
    .unwrap();
    assert_eq!(get(&app, path, Some(&confused)).await.0, 401);

    // A key not published yet is refused; once the JWKS publishes it, it is accepted.
    assert_eq!(get(&app, path, Some(&rs256(&claims, 2))).await.0, 401);
    let mut both: Value =
        serde_json::from_str(&std::fs::read_to_string(keys_dir().join("jwks1.json")).unwrap())
            .unwrap();
    let second: Value =
        serde_json::from_str(&std::fs::read_to_string(keys_dir().join("jwks2.json")).unwrap())
            .unwrap();
    both["keys"]
        .as_array_mut()
        .unwrap()
        .push(second["keys"][0].clone());
    std::fs::write(&jwks, both.to_string()).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(get(&app, path, Some(&rs256(&claims, 2))).await.0, 200);
    assert_eq!(get(&app, path, Some(&rs256(&claims, 1))).await.0, 200);
}

fn client_token(client: &str) -> String {
    let mut c = claims(Some(1), &[], 600);
    c["sub"] = json!(client);
    hs256(&c, SECRET)
}

async fn get_as(app: &TestApp, token: Option<&str>, client_name: &str) -> reqwest::Response {
    let mut request = app
        .client
        .get(app.url("/v1/ticket-distribution-groups?orderId=NONE"))
        .header("ET-Client-Name", client_name);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn a_client_over_its_rate_gets_429_with_retry_after_and_others_are_served() {
    let test_db = td_testkit::postgres().await;
    let app = spawn_with_auth(
        test_db.db,
        &[
            ("TD__AUTH__HS256_SECRET", SECRET),
            ("TD__GATEWAY__RATE_LIMIT_PER_SECOND", "1"),
            ("TD__GATEWAY__RATE_LIMIT_BURST", "2"),
        ],
    )
    .await;
    let a = client_token("client-a");
    for _ in 0..2 {
        assert_eq!(get_as(&app, Some(&a), "acme-app").await.status(), 200);
    }
    let limited = get_as(&app, Some(&a), "acme-app").await;
    assert_eq!(limited.status(), 429);
    assert_eq!(limited.headers()["retry-after"], "1");
    let body: Value = limited.json().await.unwrap();
    assert_eq!(body["code"], "TOO_MANY_REQUESTS", "{body}");

    // Another client of the token issuer, and the same client under another application
    // name, have buckets of their own.
    let b = client_token("client-b");
    assert_eq!(get_as(&app, Some(&b), "acme-app").await.status(), 200);
    assert_eq!(get_as(&app, Some(&a), "acme-other-app").await.status(), 200);
    // A caller without a valid token is refused before it is counted.
    assert_eq!(get_as(&app, None, "acme-app").await.status(), 401);
    // Health checks are not limited.
    for _ in 0..5 {
        let live = app
            .client
            .get(app.url("/health/live"))
            .send()
            .await
            .unwrap();
        assert_eq!(live.status(), 200);
    }

    // Once the bucket refills, the client is served again.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(get_as(&app, Some(&a), "acme-app").await.status(), 200);
}
