//! "Which confirmed version does this call mean", as the generate endpoint and createOrGet
//! both ask it, on histories written straight into `orders` and `order_versions`.

use chrono::Utc;
use sea_orm::{ActiveValue::Set, EntityTrait};
use td_domain::ids::{OrderId, OrganisationId, Scope};
use td_store::entity::{order, order_version};
use td_store::query::{confirmed_version, ConfirmedVersion};
use td_store::DatabaseConnection;

/// Records `versions` (version, status) of an order of organisation 7; the order row says
/// what the last of them says, as the write path leaves it.
async fn history(db: &DatabaseConnection, id: &str, versions: &[(i32, &str)]) {
    let now = Utc::now();
    for (version, status) in versions {
        order_version::Entity::insert(order_version::ActiveModel {
            order_id: Set(id.to_owned()),
            version: Set(*version),
            event_type: Set("OrderUpdated".to_owned()),
            organisation_id: Set(7),
            status: Set((*status).to_owned()),
            event_id: Set(uuid::Uuid::new_v4()),
            correlation_id: Set(None),
            traceparent: Set(None),
            snapshot: Set(serde_json::json!({})),
            recorded_at: Set(now),
            all_distributed_at: Set(None),
        })
        .exec(db)
        .await
        .unwrap();
    }
    let (latest, status) = *versions.last().unwrap();
    let latest_confirmed = versions
        .iter()
        .filter(|(_, s)| *s == "CONFIRMED")
        .map(|(v, _)| *v)
        .max();
    order::Entity::insert(order::ActiveModel {
        order_id: Set(id.to_owned()),
        organisation_id: Set(7),
        latest_version: Set(latest),
        latest_confirmed_version: Set(latest_confirmed),
        status: Set(status.to_owned()),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .exec(db)
    .await
    .unwrap();
}

async fn ask(db: &DatabaseConnection, id: &str, requested: Option<u32>) -> ConfirmedVersion {
    confirmed_version(
        db,
        Scope::AllOrganisations,
        &OrderId(id.to_owned()),
        requested,
    )
    .await
    .unwrap()
}

async fn suite(db: &DatabaseConnection) {
    use ConfirmedVersion::*;
    // v1 DRAFT, v2 and v4 CONFIRMED (v3 never arrived).
    history(
        db,
        "CONF",
        &[(1, "DRAFT"), (2, "CONFIRMED"), (4, "CONFIRMED")],
    )
    .await;
    assert_eq!(ask(db, "CONF", None).await, Confirmed(4));
    assert_eq!(ask(db, "CONF", Some(4)).await, Confirmed(4));
    assert_eq!(ask(db, "CONF", Some(2)).await, Confirmed(2));
    assert_eq!(ask(db, "CONF", Some(1)).await, NoSuchVersion, "DRAFT");
    assert_eq!(
        ask(db, "CONF", Some(3)).await,
        NoSuchVersion,
        "never recorded"
    );
    assert_eq!(ask(db, "CONF", Some(5)).await, NotRecordedYet);
    assert_eq!(ask(db, "CONF", Some(u32::MAX)).await, NotRecordedYet);

    // Confirmed at v1, cancelled at v2: final for any version recorded, not for v3.
    history(db, "GONE", &[(1, "CONFIRMED"), (2, "CANCELLED")]).await;
    let cancelled = NotConfirmed {
        status: "CANCELLED".to_owned(),
    };
    assert_eq!(ask(db, "GONE", None).await, cancelled);
    assert_eq!(ask(db, "GONE", Some(1)).await, cancelled);
    assert_eq!(ask(db, "GONE", Some(2)).await, cancelled);
    assert_eq!(ask(db, "GONE", Some(3)).await, NotRecordedYet);

    assert_eq!(ask(db, "NONE", None).await, UnknownOrder);
    let other = confirmed_version(
        db,
        Scope::Organisation(OrganisationId(8)),
        &OrderId("CONF".into()),
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        other, UnknownOrder,
        "another organisation's order is unknown"
    );
    let own = confirmed_version(
        db,
        Scope::Organisation(OrganisationId(7)),
        &OrderId("CONF".into()),
        None,
    )
    .await
    .unwrap();
    assert_eq!(own, Confirmed(4));
}

#[tokio::test]
async fn confirmed_version_on_sqlite() {
    let t = td_testkit::sqlite().await;
    suite(&t.db).await;
}

#[tokio::test]
async fn confirmed_version_on_postgres() {
    let t = td_testkit::postgres().await;
    suite(&t.db).await;
}
