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
            address_key: "kari@example.no".into(),
            language: "eng".into(),
            ticket_distribution_ids: vec![their_ticket.parse().unwrap()],
            correlation_id: None,
            traceparent: None,
        },
        None,
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
            ("TD__GATEWAY__RATE_LIMIT_UNAUTHENTICATED_PER_SECOND", "1"),
            ("TD__GATEWAY__RATE_LIMIT_UNAUTHENTICATED_BURST", "3"),
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
    // Another application name does not make another bucket: the principal is who counts.
    for name in ["acme-other-app", "acme-third-app", "x-y"] {
        assert_eq!(get_as(&app, Some(&a), name).await.status(), 429, "{name}");
    }

    // Another principal of the token issuer has a bucket of its own.
    let b = client_token("client-b");
    assert_eq!(get_as(&app, Some(&b), "acme-app").await.status(), 200);
    // Callers without a valid token: 401 up to their own (per address) burst, then 429.
    let statuses: Vec<u16> = futures::future::join_all(
        (0..6).map(|n| get_as(&app, None, ["acme-app", "evil-rotating"][n % 2])),
    )
    .await
    .iter()
    .map(|r| r.status().as_u16())
    .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        3,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        3,
        "{statuses:?}"
    );
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

#[tokio::test]
async fn without_authorisation_the_peer_address_is_the_bucket() {
    let app = common::spawn_with_env(
        td_testkit::postgres().await.db,
        &[
            ("TD__GATEWAY__RATE_LIMIT_PER_SECOND", "1"),
            ("TD__GATEWAY__RATE_LIMIT_BURST", "3"),
        ],
    )
    .await;
    let names: Vec<String> = (0..6).map(|n| format!("rotating-name-{n}")).collect();
    let statuses: Vec<u16> =
        futures::future::join_all(names.iter().map(|name| get_as(&app, None, name)))
            .await
            .iter()
            .map(|r| r.status().as_u16())
            .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        3,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        3,
        "{statuses:?}"
    );
}

/// A JWKS endpoint that counts its reads and can be made to fail.
struct JwksServer {
    url: String,
    reads: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    failing: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

async fn jwks_server(document: String) -> JwksServer {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;
    let reads = Arc::new(AtomicUsize::new(0));
    let failing = Arc::new(AtomicBool::new(false));
    let (r, f) = (reads.clone(), failing.clone());
    let router = axum::Router::new().route(
        "/jwks.json",
        axum::routing::get(move || {
            let (r, f, document) = (r.clone(), f.clone(), document.clone());
            async move {
                r.fetch_add(1, Ordering::SeqCst);
                if f.load(Ordering::SeqCst) {
                    (axum::http::StatusCode::BAD_GATEWAY, String::new())
                } else {
                    (axum::http::StatusCode::OK, document)
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    JwksServer {
        url,
        reads,
        failing,
    }
}

#[tokio::test]
async fn a_failing_jwks_is_read_once_at_a_time_with_backoff_and_the_last_keys_keep_verifying() {
    use std::sync::atomic::Ordering;
    let server = jwks_server(std::fs::read_to_string(keys_dir().join("jwks1.json")).unwrap()).await;
    let test_db = td_testkit::postgres().await;
    let app = spawn_with_auth(
        test_db.db,
        &[
            ("TD__AUTH__JWKS_URL", &server.url),
            ("TD__AUTH__JWKS_REFRESH_MS", "200"),
        ],
    )
    .await;
    let path = "/v1/ticket-distribution-groups?orderId=DEMO0001";
    let good = rs256(&claims(Some(1), &[], 600), 1);
    assert_eq!(get(&app, path, Some(&good)).await.0, 200);
    assert_eq!(server.reads.load(Ordering::SeqCst), 1, "read once at start");

    server.failing.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(300)).await; // the key set is due a refresh
    let calls = (0..50).map(|_| get(&app, path, Some(&good)));
    let answers = futures::future::join_all(calls).await;
    assert!(
        answers.iter().all(|(status, _)| *status == 200),
        "the keys read before keep verifying: {:?}",
        answers.iter().map(|a| a.0).collect::<Vec<_>>()
    );
    let after_refreshes = server.reads.load(Ordering::SeqCst);
    assert!(
        after_refreshes <= 2,
        "50 calls while the JWKS fails read it {} times",
        after_refreshes - 1
    );

    // Tokens naming key ids nobody published: refused, and they do not make reads either
    // while the backoff lasts.
    let unknown = (0..50).map(|n| {
        let pem = std::fs::read(keys_dir().join("rsa1.pem")).unwrap();
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(format!("made-up-{n}"));
        let token = encode(
            &header,
            &claims(Some(1), &[], 600),
            &EncodingKey::from_rsa_pem(&pem).unwrap(),
        )
        .unwrap();
        let app = &app;
        async move { get(app, path, Some(&token)).await }
    });
    for (status, body) in futures::future::join_all(unknown).await {
        assert_eq!(status, 401);
        assert_eq!(body["code"], "UNAUTHENTICATED", "{body}");
        assert_eq!(body["message"], "Invalid token.", "{body}");
    }
    assert_eq!(
        server.reads.load(Ordering::SeqCst),
        after_refreshes,
        "unknown key ids during the backoff read nothing"
    );

    // Once the JWKS answers again it is read after the backoff, and the keys stay in use.
    server.failing.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(get(&app, path, Some(&good)).await.0, 200);
    let recovered = server.reads.load(Ordering::SeqCst);
    assert!(recovered > after_refreshes, "read again after the backoff");
    assert!(recovered <= after_refreshes + 2, "{recovered}");
}

#[tokio::test]
async fn organisation_claims_that_are_not_positive_integers_are_401() {
    let test_db = td_testkit::postgres().await;
    let app = spawn_with_auth(test_db.db, &[("TD__AUTH__HS256_SECRET", SECRET)]).await;
    app.record(EXAMPLES[0]).await; // organisation 1
    let path = "/v1/ticket-distribution-groups?orderId=DEMO0001";
    let with = |organisation: Value, permissions: &[&str]| {
        let mut c = claims(None, permissions, 600);
        c["organisationId"] = organisation;
        hs256(&c, SECRET)
    };
    assert_eq!(get(&app, path, Some(&with(json!(1), &[]))).await.0, 200);
    assert_eq!(get(&app, path, Some(&with(json!("1"), &[]))).await.0, 200);
    for bad in [
        json!(0),
        json!("0"),
        json!(-1),
        json!("-1"),
        json!(1.5),
        json!("1.5"),
        json!(" 1"),
        json!("+1"),
        json!(u64::MAX),
        json!("9223372036854775808"),
        json!(null),
        json!([1]),
        json!(""),
    ] {
        for permissions in [&[][..], &[ALL_ORGANISATIONS][..]] {
            let (status, body) = get(&app, path, Some(&with(bad.clone(), permissions))).await;
            assert_eq!(
                (status, body["message"].as_str()),
                (401, Some("Invalid token.")),
                "organisationId {bad} with {permissions:?}: {body}"
            );
        }
    }
}

/// The value of `filter` on organisation 2's data, as the group search shows it.
fn group_filter_value(name: &str, group: &Value) -> Option<String> {
    let ticket = &group["ticketDistributions"][0];
    let text = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    match name {
        "id"
        | "orderId"
        | "orderVersion"
        | "orderLineId"
        | "organisationId"
        | "createdAt"
        | "updatedAt"
        | "orderOwnerCustomerId"
        | "distributionHolderCustomerId" => text(&group[name]),
        "ticketDistributionId" => text(&ticket["id"]),
        "distributionStatus" => text(&ticket["status"]),
        "startOfValidity" | "endOfValidity" => text(&ticket[name]),
        "mediaSerialNumberId" => text(&ticket["distribution"]["mediaSerialNumberId"]),
        other => panic!("the test does not know the filter `{other}` yet: add it"),
    }
}

#[tokio::test]
async fn every_search_filter_keeps_to_the_callers_organisation() {
    use api_gateway::routes::{groups, pdf};
    use api_gateway::search::ValueKind;
    let test_db = td_testkit::postgres().await;
    let app = spawn_with_auth(test_db.db, &[("TD__AUTH__HS256_SECRET", SECRET)]).await;
    for example in EXAMPLES {
        app.record(example).await; // DEMO0001 and DEMO0002 of organisation 1, DEMO0003 of 2
    }
    let (one, staff) = (org_token(1), staff_token());
    let (_, theirs) = get(
        &app,
        "/v1/ticket-distribution-groups?orderId=DEMO0003",
        Some(&staff),
    )
    .await;
    let group = theirs["items"][0].clone();
    assert_eq!(group["organisationId"], 2, "{theirs}");

    let mut checked = 0;
    for filter in groups::FILTERS {
        let value = group_filter_value(filter.name, &group);
        let queries: Vec<String> = match (&value, filter.kind) {
            (Some(v), ValueKind::Time) => {
                vec![format!("eq:{v}"), format!("gte:{v}"), format!("lte:{v}")]
            }
            (Some(v), _) => vec![format!("eq:{v}"), format!("in:{v},{v}")],
            (None, _) => vec!["ne:none".into()],
        };
        for q in queries {
            let path = format!(
                "/v1/ticket-distribution-groups?{}={}&perPage=100",
                filter.name,
                urlencode(&q)
            );
            let (status, seen) = get(&app, &path, Some(&one)).await;
            assert_eq!(status, 200, "{path}: {seen}");
            let items = seen["items"].as_array().unwrap();
            assert!(
                items.iter().all(|g| g["organisationId"] == 1),
                "{path}: organisation 1 got another organisation's group: {seen}"
            );
            assert_eq!(
                seen["totalItems"].as_u64(),
                Some(items.len() as u64),
                "{path}: the count holds only what organisation 1 may see"
            );
            if value.is_some() && !q.starts_with("ne:") {
                let (_, all) = get(&app, &path, Some(&staff)).await;
                assert!(
                    all["items"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|g| g["id"] == group["id"]),
                    "{path}: the filter does match organisation 2's group: {all}"
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= groups::FILTERS.len());

    // PDFs of both organisations, and every PDF filter.
    let mine = get(
        &app,
        "/v1/ticket-distribution-groups?orderId=DEMO0001",
        Some(&one),
    )
    .await
    .1["items"][0]
        .clone();
    let mut theirs_pdf = None;
    for (group, organisation) in [(&group, 2), (&mine, 1)] {
        let stored = StoredPdf {
            pdf: pdf_ticket::Model {
                id: uuid::Uuid::new_v4(),
                group_id: group["id"].as_str().unwrap().parse().unwrap(),
                order_id: group["orderId"].as_str().unwrap().into(),
                order_version: 1,
                order_line_id: group["orderLineId"].as_str().unwrap().into(),
                order_line_version: 1,
                organisation_id: organisation,
                language: "eng".into(),
                content: b"%PDF-1.7 test".to_vec(),
                created_at: Utc::now(),
                delete_at: Utc::now() + chrono::Duration::days(1),
            },
            ticket_distribution_ids: vec![group["ticketDistributions"][0]["id"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap()],
        };
        if organisation == 2 {
            theirs_pdf = Some(stored.pdf.id);
        }
        pdf_store::insert_if_absent(&app.db, stored).await.unwrap();
    }
    let theirs_pdf = theirs_pdf.unwrap().to_string();
    for filter in pdf::FILTERS {
        let value = match filter.name {
            "id" => theirs_pdf.clone(),
            "ticketDistributionId" => group["ticketDistributions"][0]["id"]
                .as_str()
                .unwrap()
                .to_owned(),
            "organisationId" => "2".into(),
            name => group[name].as_str().unwrap().to_owned(),
        };
        let path = format!("/v1/pdf-tickets?{}={}", filter.name, urlencode(&value));
        let (_, seen) = get(&app, &path, Some(&one)).await;
        assert_eq!(seen["totalItems"], 0, "{path}: {seen}");
        assert_eq!(seen["items"], json!([]), "{path}");
        let (_, all) = get(&app, &path, Some(&staff)).await;
        assert_eq!(
            all["totalItems"], 1,
            "{path}: the filter matches organisation 2's PDF"
        );
    }
}

fn urlencode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b':' | b',' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
