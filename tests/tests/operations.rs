//! Operating the distributed stack: one order's path through the five processes is one
//! trace at a real OTLP receiver, with the correlation id on the spans of that path; every
//! process serves Prometheus metrics about what it did; internal gRPC refuses callers
//! without the shared token.

use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::Duration;
use td_e2e::otlp::{Receiver, Span};
use td_e2e::stack::Stack;
use td_e2e::{prometheus_samples, sample, Sample};
use td_testkit::smtp::SmtpServer;

const FAMILY: &str = include_str!("../../examples/orders/family-with-supplement.json");
const WAIT: Duration = Duration::from_secs(60);
const SERVICES: [&str; 5] = [
    "api-gateway",
    "order-listener",
    "nod-distributor",
    "pdf-renderer",
    "mailer",
];

async fn post(stack: &Stack, path: &str, body: Value, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{}{path}", stack.gateway))
        .header("ET-Client-Name", "e2e-test")
        .json(&body);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = request.send().await.expect("gateway answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn metrics(stack: &Stack, process: &str) -> Vec<Sample> {
    let addr = &stack.health[process];
    let response = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .expect("metrics answer");
    assert_eq!(response.status(), 200, "{process} /metrics");
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    prometheus_samples(&response.text().await.unwrap())
}

/// Polls `process`'s metrics until every check holds (gauges are sampled every few seconds).
/// A metric's name, some of its labels, and the least value it must have.
type Check<'a> = (&'a str, &'a [(&'a str, &'a str)], f64);

async fn wait_for_metrics(stack: &Stack, process: &str, checks: &[Check<'_>]) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let samples = metrics(stack, process).await;
        let missing: Vec<String> = checks
            .iter()
            .filter(|(name, labels, at_least)| {
                sample(&samples, name, labels).is_none_or(|v| v < *at_least)
            })
            .map(|(name, labels, at_least)| format!("{name}{labels:?} >= {at_least}"))
            .collect();
        if missing.is_empty() {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{process} /metrics lacks {missing:?}; it has {:?}",
            samples
                .iter()
                .map(|s| format!("{}{:?}={}", s.name, s.labels, s.value))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn named<'a>(spans: &'a [Span], service: &str, name: &str) -> Vec<&'a Span> {
    spans
        .iter()
        .filter(|s| s.service == service && s.name == name)
        .collect()
}

#[tokio::test]
async fn one_order_is_one_trace_through_the_five_processes_and_each_counts_its_work() {
    let otlp = Receiver::start().await;
    let smtp = SmtpServer::start(&[]);
    let mut stack = Stack::start_with(
        true,
        vec![
            ("TD__TELEMETRY__OTLP_ENDPOINT", otlp.endpoint.clone()),
            // Export spans every 100 ms instead of every 5 s.
            ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
        ],
    )
    .await;
    stack.start_mailer(&smtp.url(), &[]).await;

    // The order event arrives with the producer's trace context.
    let trace_id = uuid::Uuid::new_v4().simple().to_string();
    let parent = &uuid::Uuid::new_v4().simple().to_string()[..16];
    let traceparent = format!("00-{trace_id}-{parent}-01");
    let order_id = format!("OPS{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let mut event: Value = serde_json::from_str(&FAMILY.replace("DEMO0003", &order_id)).unwrap();
    event["eventId"] = json!(uuid::Uuid::new_v4());
    let event_correlation = format!("order-{order_id}");
    event["correlationId"] = json!(event_correlation);
    stack
        .produce_with_headers(
            &Stack::producer(),
            &order_id,
            event.to_string().as_bytes(),
            &[("traceparent", &traceparent)],
        )
        .await;
    let tickets = stack
        .wait_for_statuses(&order_id, "DISTRIBUTED", WAIT)
        .await;
    let ids: Vec<&str> = tickets.iter().map(|t| t["id"].as_str().unwrap()).collect();

    // The sales client continues the same trace when it asks for the PDFs and the e-mail.
    let request_correlation = format!("client-{order_id}");
    let headers = [
        ("traceparent", traceparent.as_str()),
        ("X-Correlation-Id", request_correlation.as_str()),
    ];
    let (status, pdfs) = post(
        &stack,
        &format!("/v1/pdf-tickets/{order_id}/createOrGet"),
        json!({ "language": "nob" }),
        &headers,
    )
    .await;
    assert_eq!(status, 200, "{pdfs}");
    let (status, accepted) = post(
        &stack,
        &format!("/v1/pdf-tickets/{order_id}/send"),
        json!({ "emailAddress": "kari@example.no", "ticketDistributionIds": ids, "language": "eng" }),
        &headers,
    )
    .await;
    assert_eq!(status, 202, "{accepted}");
    let send_id = accepted["id"].as_str().unwrap().to_owned();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (_, send) = stack.get(&format!("/v1/pdf-tickets/sends/{send_id}")).await;
        if send["status"] == "SENT" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "not SENT: {send}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // One trace holds spans of all five processes.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let spans = loop {
        let spans = otlp.trace(&trace_id);
        let services: BTreeSet<&str> = spans.iter().map(|s| s.service.as_str()).collect();
        if SERVICES.iter().all(|s| services.contains(s))
            && !named(&spans, "pdf-renderer", "grpc").is_empty()
            && !named(&spans, "mailer", "mail.send").is_empty()
        {
            break spans;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "trace {trace_id} has spans of {services:?} only; all spans received: {:#?}",
            otlp.spans()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    // The intake and the NOD placements carry the order event's correlation id ...
    let intake = named(&spans, "order-listener", "order.event");
    assert_eq!(intake.len(), 1, "{spans:#?}");
    assert_eq!(intake[0].attributes["order_id"], order_id);
    assert_eq!(intake[0].attributes["correlation_id"], event_correlation);
    let placements = named(&spans, "nod-distributor", "nod.job");
    assert!(placements.len() >= tickets.len(), "{spans:#?}");
    for span in &placements {
        assert_eq!(span.attributes["correlation_id"], event_correlation);
        assert_eq!(span.attributes["order_id"], order_id);
    }
    // ... and the client's requests, the renderer's calls and the mail carry the client's.
    let requests = named(&spans, "api-gateway", "request");
    assert!(requests.len() >= 2, "{spans:#?}");
    for span in &requests {
        assert_eq!(span.attributes["correlation_id"], request_correlation);
    }
    let renders = named(&spans, "pdf-renderer", "grpc");
    for span in &renders {
        assert_eq!(span.attributes["correlation_id"], request_correlation);
        assert_eq!(
            span.attributes["rpc"],
            "/ticketdistribution.v1.PdfRenderer/CreateOrGet"
        );
    }
    // The gateway's call and the mailer's call are both children of spans in this trace.
    let span_ids: BTreeSet<&str> = spans.iter().map(|s| s.span_id.as_str()).collect();
    assert!(
        renders
            .iter()
            .all(|s| span_ids.contains(s.parent_span_id.as_str())),
        "each render call's parent is a span of the trace: {spans:#?}"
    );
    assert!(
        renders.len() >= 2,
        "createOrGet and the mailer's fetch: {spans:#?}"
    );
    let mails = named(&spans, "mailer", "mail.send");
    assert_eq!(mails.len(), 1, "{spans:#?}");
    assert_eq!(mails[0].attributes["correlation_id"], request_correlation);
    assert_eq!(mails[0].attributes["send_id"], send_id);

    // Every process counts what it did.
    let env = stack.env.clone();
    let orders_topic = stack.topic("order-events");
    let nod_stream = format!("nod-jobs-{env}");
    let mail_stream = format!("mail-jobs-{env}");
    wait_for_metrics(
        &stack,
        "api-gateway",
        &[
            (
                "td_http_requests_total",
                &[
                    ("method", "POST"),
                    ("route", "/v1/pdf-tickets/{id}/createOrGet"),
                    ("status", "200"),
                ],
                1.0,
            ),
            (
                "td_http_request_duration_seconds_count",
                &[("method", "POST"), ("route", "/v1/pdf-tickets/{id}/send")],
                1.0,
            ),
        ],
    )
    .await;
    wait_for_metrics(
        &stack,
        "order-listener",
        &[
            ("td_order_events_total", &[("outcome", "applied")], 1.0),
            (
                "td_kafka_consumer_lag",
                &[("topic", orders_topic.as_str())],
                0.0,
            ),
            ("td_outbox_backlog", &[], 0.0),
            ("td_outbox_oldest_age_seconds", &[], 0.0),
            ("td_outbox_published_total", &[], 1.0),
        ],
    )
    .await;
    wait_for_metrics(
        &stack,
        "nod-distributor",
        &[
            (
                "td_nod_calls_total",
                &[("operation", "place"), ("outcome", "ok")],
                tickets.len() as f64,
            ),
            (
                "td_nod_call_duration_seconds_count",
                &[("operation", "place")],
                1.0,
            ),
            (
                "td_job_queue_depth",
                &[("stream", nod_stream.as_str()), ("state", "ready")],
                0.0,
            ),
            (
                "td_job_dead_letters",
                &[("stream", nod_stream.as_str())],
                0.0,
            ),
        ],
    )
    .await;
    wait_for_metrics(
        &stack,
        "pdf-renderer",
        &[
            (
                "td_pdf_render_duration_seconds_count",
                &[("outcome", "ok")],
                2.0,
            ),
            (
                "td_grpc_requests_total",
                &[
                    ("method", "/ticketdistribution.v1.PdfRenderer/CreateOrGet"),
                    ("code", "0"),
                ],
                2.0,
            ),
        ],
    )
    .await;
    wait_for_metrics(
        &stack,
        "mailer",
        &[
            ("td_mail_deliveries_total", &[("outcome", "sent")], 1.0),
            (
                "td_job_queue_depth",
                &[("stream", mail_stream.as_str()), ("state", "pending")],
                0.0,
            ),
            (
                "td_job_dead_letters",
                &[("stream", mail_stream.as_str())],
                0.0,
            ),
        ],
    )
    .await;
    // Nothing was dead-lettered.
    let listener = metrics(&stack, "order-listener").await;
    assert_eq!(
        sample(
            &listener,
            "td_order_events_total",
            &[("outcome", "dead_lettered")]
        ),
        None
    );
}

#[tokio::test]
async fn internal_grpc_refuses_calls_without_the_shared_token() {
    use td_proto::v1::pdf_renderer_client::PdfRendererClient;
    use td_proto::v1::CreateOrGetRequest;

    let stack = Stack::start().await;
    let request = || CreateOrGetRequest {
        order_id: "ANY".to_owned(),
        language: "nob".to_owned(),
        scope: Some(td_proto::v1::Scope::organisation(1)),
        ..Default::default()
    };
    let url = format!("http://{}", stack.pdf_grpc);
    let mut client = PdfRendererClient::connect(url.clone()).await.unwrap();
    let refused = client.create_or_get(request()).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{refused:?}");

    let mut wrong = tonic::Request::new(request());
    wrong.metadata_mut().insert(
        "authorization",
        "Bearer not-the-token-of-this-stack".parse().unwrap(),
    );
    let refused = client.create_or_get(wrong).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{refused:?}");

    // With the stack's token the call is served (the order does not exist: NOT_FOUND or a
    // bounded wait, but not UNAUTHENTICATED).
    let token = stack
        .common_env
        .iter()
        .find(|(k, _)| *k == "TD__GRPC__TOKEN")
        .map(|(_, v)| v.clone())
        .unwrap();
    let mut right = tonic::Request::new(CreateOrGetRequest {
        wait_ms: 1,
        ..request()
    });
    right
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    match client.create_or_get(right).await {
        Ok(_) => {}
        Err(status) => assert_ne!(status.code(), tonic::Code::Unauthenticated, "{status:?}"),
    }

    // The health service stays open to probes.
    let (code, _) = stack.get("/health/ready").await;
    assert_eq!(code, 200);
    let channel = tonic::transport::Endpoint::from_shared(url)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let serving = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(serving.status, 1, "SERVING");
}
