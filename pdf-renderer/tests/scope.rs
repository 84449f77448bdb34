//! The gRPC scope: a call names one organisation or, explicitly, all of them. A call without
//! a scope, or naming an organisation id that is not positive, is refused instead of reading
//! every organisation's tickets; a call for one organisation never gets another's.

use std::time::Duration;
use td_proto::v1::pdf_renderer_client::PdfRendererClient;
use td_proto::v1::{scope, CreateOrGetRequest, RenderRequest, Scope};
use td_settings::Settings;
use td_store::record::{record_order_event, Origin};
use td_store::TransactionTrait;
use tokio_util::sync::CancellationToken;

const ORGANISATION_1: &str = include_str!("../../examples/orders/zone-ticket.json");
const ORGANISATION_2: &str = include_str!("../../examples/orders/family-with-supplement.json");

fn ask(order_id: &str, scope: Option<Scope>) -> CreateOrGetRequest {
    CreateOrGetRequest {
        order_id: order_id.to_owned(),
        language: "eng".to_owned(),
        wait_ms: 1,
        scope,
        ..Default::default()
    }
}

#[tokio::test]
async fn no_scope_and_no_organisation_id_means_all_organisations() {
    let test_db = td_testkit::postgres().await;
    for json in [ORGANISATION_1, ORGANISATION_2] {
        let event = td_domain::parse_order_event(json.as_bytes()).unwrap();
        let txn = test_db.db.begin().await.unwrap();
        record_order_event(&txn, &event, &Origin::default(), chrono::Utc::now())
            .await
            .unwrap();
        txn.commit().await.unwrap();
    }
    let settings = Settings::load_from(
        None,
        [
            ("TD__DATABASE__URL", test_db.url.as_str()),
            ("TD__DATABASE__MIGRATE_ON_START", "false"),
            ("TD__PDF_RENDERER__HEALTH_ADDR", "127.0.0.1:0"),
            ("TD__PDF_RENDERER__GRPC_ADDR", "127.0.0.1:0"),
            ("TD__AUTH__MODE", "off"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    )
    .unwrap();
    let app = pdf_renderer::App::build(&settings).await.unwrap();
    let url = format!("http://{}", app.grpc_addr());
    let shutdown = CancellationToken::new();
    let _stop = shutdown.clone().drop_guard();
    tokio::spawn(app.run_until_stopped(shutdown));
    let mut client = PdfRendererClient::connect(url).await.unwrap();

    let refused = [
        ("no scope", None),
        ("an empty scope", Some(Scope { kind: None })),
        ("organisation 0", Some(Scope::organisation(0))),
        ("a negative organisation", Some(Scope::organisation(-2))),
        (
            "all_organisations false",
            Some(Scope {
                kind: Some(scope::Kind::AllOrganisations(false)),
            }),
        ),
    ];
    for (what, scope) in refused {
        let status = client
            .create_or_get(ask("DEMO0003", scope))
            .await
            .expect_err(what);
        assert_eq!(
            status.code(),
            tonic::Code::InvalidArgument,
            "{what}: {status:?}"
        );
        let status = client
            .render(RenderRequest {
                ticket_distribution_group_id: uuid::Uuid::new_v4().to_string(),
                language: "eng".into(),
                scope: ask("", None).scope,
            })
            .await
            .expect_err("render without a scope");
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    }

    // Organisation 1 does not see organisation 2's order: the same answer as for an order
    // that does not exist.
    let other = client
        .create_or_get(ask("DEMO0003", Some(Scope::organisation(1))))
        .await
        .unwrap_err();
    let missing = client
        .create_or_get(ask("NO-SUCH-ORDER", Some(Scope::organisation(1))))
        .await
        .unwrap_err();
    assert_eq!(other.code(), missing.code(), "{other:?} / {missing:?}");
    assert_eq!(
        other.metadata().get("td-code"),
        missing.metadata().get("td-code"),
        "{other:?} / {missing:?}"
    );
    assert_eq!(
        other.message().replace("DEMO0003", "?"),
        missing.message().replace("NO-SUCH-ORDER", "?"),
    );

    // Its own organisation, and an explicit all-organisations scope, get the PDFs.
    for scope in [Scope::organisation(2), Scope::all_organisations()] {
        let pdfs = tokio::time::timeout(
            Duration::from_secs(120),
            client.create_or_get(ask("DEMO0003", Some(scope))),
        )
        .await
        .expect("rendered in time")
        .unwrap_or_else(|e| panic!("{scope:?}: {e:?}"))
        .into_inner()
        .pdf_tickets;
        assert!(!pdfs.is_empty(), "{scope:?}");
        assert!(pdfs.iter().all(|p| p.organisation_id == 2), "{scope:?}");
        let group = pdfs[0].ticket_distribution_group_id.clone();
        let render = |scope: Scope| RenderRequest {
            ticket_distribution_group_id: group.clone(),
            language: "eng".into(),
            scope: Some(scope),
        };
        assert!(client.render(render(scope)).await.is_ok());
        let other = client
            .render(render(Scope::organisation(1)))
            .await
            .unwrap_err();
        assert_eq!(other.code(), tonic::Code::NotFound, "{other:?}");
    }
}
