//! One contract suite for both `Nod`s, so the embedded default cannot drift from what runs
//! against the served API: every check below runs (a) through `NodClient` against the
//! simulator served over HTTP, with the travel app's and outside world's actions also
//! sent over HTTP, and (b) against the in-process simulator directly. Time is a
//! `ManualClock`, so expiry needs no sleeping.

use chrono::{DateTime, Duration, Utc};
use futures::future::BoxFuture;
use std::sync::Arc;
use td_nod::{
    Clock, Cursor, ManualClock, Nod, NodClient, NodClientSettings, NodError, Order, OrderGroup,
    OrderGroupId, OrderGroupState, PlaceRequest, RetrySettings, RunningSimulator, Simulator,
    Transaction, TransactionKind,
};

/// What happens to an order group outside the back office.
#[derive(Clone, Copy)]
enum Action {
    Pickup,
    Activate,
    CancelOutside,
}

/// A refused action: HTTP status and error code.
type Refusal = (u16, String);

trait Control: Send + Sync {
    fn act<'a>(
        &'a self,
        action: Action,
        id: &'a OrderGroupId,
    ) -> BoxFuture<'a, Result<OrderGroup, Refusal>>;
}

impl Control for Simulator {
    fn act<'a>(
        &'a self,
        action: Action,
        id: &'a OrderGroupId,
    ) -> BoxFuture<'a, Result<OrderGroup, Refusal>> {
        let result = match action {
            Action::Pickup => self.pickup(id),
            Action::Activate => self.activate(id),
            Action::CancelOutside => self.cancel_outside(id),
        };
        Box::pin(async move { result.map_err(|e| (e.status(), e.code().to_owned())) })
    }
}

/// The travel app and customer service, over the simulator's HTTP routes.
struct HttpControl {
    http: reqwest::Client,
    base_url: String,
}

impl Control for HttpControl {
    fn act<'a>(
        &'a self,
        action: Action,
        id: &'a OrderGroupId,
    ) -> BoxFuture<'a, Result<OrderGroup, Refusal>> {
        let path = match action {
            Action::Pickup => format!("client/order-groups/{id}/pickup"),
            Action::Activate => format!("client/order-groups/{id}/activate"),
            Action::CancelOutside => format!("simulator/order-groups/{id}/cancel"),
        };
        Box::pin(async move {
            let response = self
                .http
                .post(format!("{}/{path}", self.base_url))
                .send()
                .await
                .expect("simulator answers");
            let status = response.status().as_u16();
            let body: serde_json::Value = response.json().await.expect("a JSON body");
            if status == 200 {
                Ok(serde_json::from_value(body).expect("an order group"))
            } else {
                Err((status, body["code"].as_str().unwrap_or_default().to_owned()))
            }
        })
    }
}

struct Fixture {
    nod: Box<dyn Nod>,
    control: Box<dyn Control>,
    clock: ManualClock,
    _server: Option<RunningSimulator>,
}

fn start_time() -> DateTime<Utc> {
    "2030-01-01T08:00:00Z".parse().unwrap()
}

fn in_process() -> Fixture {
    let clock = ManualClock::new(start_time());
    let simulator = Simulator::with_clock(Arc::new(clock.clone()));
    Fixture {
        nod: Box::new(simulator.clone()),
        control: Box::new(simulator),
        clock,
        _server: None,
    }
}

async fn over_http() -> Fixture {
    let clock = ManualClock::new(start_time());
    let simulator = Simulator::with_clock(Arc::new(clock.clone()));
    let server = simulator
        .serve("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    // Generous timeouts: nothing here is slow on purpose, and a busy machine must not
    // turn a slow answer into a failed check.
    let client = NodClient::new(&NodClientSettings {
        base_url: server.base_url(),
        connect_timeout_ms: 5_000,
        request_timeout_ms: 10_000,
        retry: RetrySettings {
            max_attempts: 3,
            initial_delay_ms: 5,
            max_delay_ms: 20,
            max_elapsed_ms: 20_000,
        },
    })
    .unwrap();
    Fixture {
        nod: Box::new(client),
        control: Box::new(HttpControl {
            http: reqwest::Client::new(),
            base_url: server.base_url(),
        }),
        clock,
        _server: Some(server),
    }
}

impl Fixture {
    fn request(&self, reference: &str, valid_for: Duration) -> PlaceRequest {
        let now = self.clock.now();
        PlaceRequest {
            client_reference: reference.to_owned(),
            orders: vec![Order::mobile_single_ticket(
                format!("ticket {reference}").as_bytes(),
            )],
            valid_from: now,
            valid_to: now + valid_for,
        }
    }

    async fn place(&self, reference: &str) -> OrderGroup {
        self.nod
            .place(&self.request(reference, Duration::days(30)))
            .await
            .unwrap()
    }

    async fn act(&self, action: Action, group: &OrderGroup) -> OrderGroup {
        self.control.act(action, &group.id).await.unwrap()
    }

    /// The whole feed, read in small pages so paging is exercised on every read.
    async fn feed(&self) -> Vec<Transaction> {
        let mut all = Vec::new();
        let mut after: Option<Cursor> = None;
        loop {
            let page = self.nod.transactions(after.as_ref(), 2).await.unwrap();
            let Some(last) = page.last() else {
                return all;
            };
            after = Some(last.cursor.clone());
            all.extend(page);
        }
    }
}

fn kinds_of(feed: &[Transaction], group: &OrderGroup) -> Vec<TransactionKind> {
    feed.iter()
        .filter(|t| t.order_group_id == group.id)
        .map(|t| t.kind)
        .collect()
}

fn assert_rejected(result: Result<impl std::fmt::Debug, NodError>, status: u16, code: &str) {
    match result {
        Err(NodError::Rejected {
            status: s, code: c, ..
        }) if s == status && c == code => {}
        other => panic!("expected a {status} {code} rejection, got {other:?}"),
    }
}

async fn place_is_idempotent_on_client_reference(fx: &Fixture) {
    let request = fx.request("td-1", Duration::hours(2));
    let first = fx.nod.place(&request).await.unwrap();
    assert_eq!(first.state, OrderGroupState::Distributed);
    assert_eq!(first.client_reference, "td-1");
    assert_eq!(first.orders, request.orders);
    assert_eq!(
        (first.valid_from, first.valid_to),
        (request.valid_from, request.valid_to)
    );

    assert_eq!(fx.nod.place(&request).await.unwrap(), first);
    let mut changed = request.clone();
    changed.orders = vec![Order::mobile_single_ticket(b"regenerated")];
    assert_eq!(
        fx.nod.place(&changed).await.unwrap(),
        first,
        "the first placement wins"
    );
    let other = fx.place("td-2").await;
    assert_ne!(other.id, first.id);
    assert_eq!(fx.nod.get(&first.id).await.unwrap(), first);
}

async fn cancel_is_idempotent_and_not_echoed_in_the_feed(fx: &Fixture) {
    let group = fx.place("td-1").await;
    let cancelled = fx.nod.cancel(&group.id).await.unwrap();
    assert_eq!(cancelled.state, OrderGroupState::Cancelled);
    assert_eq!(fx.nod.cancel(&group.id).await.unwrap(), cancelled);
    assert_eq!(fx.nod.get(&group.id).await.unwrap(), cancelled);
    assert_eq!(
        fx.nod
            .place(&fx.request("td-1", Duration::days(30)))
            .await
            .unwrap(),
        cancelled,
        "a repeated placement finds the cancelled group, it does not revive it"
    );
    assert!(
        fx.feed().await.is_empty(),
        "our own cancellation is not news"
    );
}

async fn unknown_groups_are_not_found(fx: &Fixture) {
    let id = OrderGroupId::new("no-such-group");
    let not_found = NodError::NotFound { id: id.clone() };
    assert_eq!(fx.nod.get(&id).await.unwrap_err(), not_found);
    assert_eq!(fx.nod.cancel(&id).await.unwrap_err(), not_found);
    assert_eq!(
        fx.control.act(Action::Pickup, &id).await.unwrap_err(),
        (404, "ORDER_GROUP_NOT_FOUND".to_owned())
    );
}

async fn invalid_placements_are_rejected_for_good(fx: &Fixture) {
    let valid = fx.request("td-1", Duration::hours(2));
    let mut empty_reference = valid.clone();
    empty_reference.client_reference = "  ".into();
    let mut backwards = valid.clone();
    backwards.valid_to = backwards.valid_from - Duration::minutes(1);
    let mut bad_base64 = valid.clone();
    bad_base64.orders[0].description = "not base64!".into();
    let mut no_orders = valid.clone();
    no_orders.orders.clear();
    for request in [empty_reference, backwards, bad_base64, no_orders] {
        assert_rejected(fx.nod.place(&request).await, 400, "INVALID_REQUEST");
    }
    assert!(
        fx.nod.place(&valid).await.is_ok(),
        "nothing was stored by the refusals"
    );
}

async fn the_feed_is_ordered_and_pages_with_after(fx: &Fixture) {
    let mut groups = Vec::new();
    for n in 0..5 {
        let group = fx.place(&format!("td-{n}")).await;
        fx.act(Action::Pickup, &group).await;
        groups.push(group);
    }
    let all = fx.nod.transactions(None, 100).await.unwrap();
    assert_eq!(all.len(), 5);
    let order: Vec<_> = all.iter().map(|t| t.order_group_id.clone()).collect();
    let placed: Vec<_> = groups.iter().map(|g| g.id.clone()).collect();
    assert_eq!(order, placed, "feed order is the order things happened");
    for pair in all.windows(2) {
        assert!(
            pair[0].cursor.as_str() < pair[1].cursor.as_str(),
            "cursors increase"
        );
    }

    assert_eq!(fx.feed().await, all, "paging gives the same entries");
    let after_second = fx.nod.transactions(Some(&all[1].cursor), 2).await.unwrap();
    assert_eq!(after_second, all[2..4]);
    let last = &all[4].cursor;
    assert!(fx
        .nod
        .transactions(Some(last), 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        fx.nod.transactions(None, 100).await.unwrap(),
        all,
        "rereading is stable"
    );
}

async fn lifecycle_changes_appear_in_the_feed_once_each(fx: &Fixture) {
    let used = fx.place("td-used").await;
    let cancelled = fx.place("td-cancelled").await;
    let short = fx
        .nod
        .place(&fx.request("td-short", Duration::hours(1)))
        .await
        .unwrap();

    assert_eq!(
        fx.act(Action::Pickup, &used).await.state,
        OrderGroupState::PickedUp
    );
    assert_eq!(
        fx.act(Action::Activate, &used).await.state,
        OrderGroupState::Activated
    );
    assert_eq!(
        fx.act(Action::CancelOutside, &cancelled).await.state,
        OrderGroupState::Cancelled
    );
    fx.clock.advance(Duration::hours(2));

    let feed = fx.feed().await;
    use TransactionKind::*;
    assert_eq!(kinds_of(&feed, &used), vec![PickedUp, Activated]);
    assert_eq!(kinds_of(&feed, &cancelled), vec![Cancelled]);
    assert_eq!(kinds_of(&feed, &short), vec![Expired]);
    assert_eq!(feed.len(), 4);
    let expiry = feed.iter().find(|t| t.kind == Expired).unwrap();
    assert_eq!(
        (expiry.client_reference.as_str(), expiry.at),
        ("td-short", fx.clock.now())
    );

    let state = |g: &OrderGroup| {
        let id = g.id.clone();
        async move { fx.nod.get(&id).await.unwrap().state }
    };
    assert_eq!(state(&used).await, OrderGroupState::Activated);
    assert_eq!(state(&cancelled).await, OrderGroupState::Cancelled);
    assert_eq!(state(&short).await, OrderGroupState::Expired);
    assert_eq!(fx.feed().await, feed, "rereading adds nothing");
}

async fn refused_transitions_change_nothing(fx: &Fixture) {
    let group = fx.place("td-1").await;
    let conflict = (409, "INVALID_TRANSITION".to_owned());
    let refused = |action| fx.control.act(action, &group.id);
    assert_eq!(refused(Action::Activate).await.unwrap_err(), conflict);
    fx.act(Action::Pickup, &group).await;
    assert_eq!(refused(Action::Pickup).await.unwrap_err(), conflict);
    fx.nod.cancel(&group.id).await.unwrap();
    assert_eq!(refused(Action::Activate).await.unwrap_err(), conflict);
    assert_eq!(refused(Action::CancelOutside).await.unwrap_err(), conflict);
    assert_eq!(
        kinds_of(&fx.feed().await, &group),
        vec![TransactionKind::PickedUp]
    );
}

async fn expiry_ends_a_group_once_and_cancel_leaves_it_expired(fx: &Fixture) {
    let group = fx
        .nod
        .place(&fx.request("td-1", Duration::minutes(10)))
        .await
        .unwrap();
    fx.act(Action::Pickup, &group).await;
    fx.clock.advance(Duration::minutes(10));
    assert_eq!(
        fx.nod.get(&group.id).await.unwrap().state,
        OrderGroupState::Expired,
        "validity ends at validTo"
    );
    assert_eq!(
        fx.nod.cancel(&group.id).await.unwrap().state,
        OrderGroupState::Expired
    );
    fx.clock.advance(Duration::days(1));
    use TransactionKind::*;
    assert_eq!(kinds_of(&fx.feed().await, &group), vec![PickedUp, Expired]);

    let late = fx
        .nod
        .place(&PlaceRequest {
            valid_from: fx.clock.now() - Duration::hours(2),
            valid_to: fx.clock.now() - Duration::hours(1),
            ..fx.request("td-late", Duration::hours(1))
        })
        .await
        .unwrap();
    assert_eq!(
        late.state,
        OrderGroupState::Expired,
        "an ended validity expires at once"
    );
    assert_eq!(kinds_of(&fx.feed().await, &late), vec![Expired]);
}

async fn bad_feed_requests_are_rejected(fx: &Fixture) {
    assert_rejected(fx.nod.transactions(None, 0).await, 400, "INVALID_REQUEST");
    assert_rejected(
        fx.nod.transactions(None, 1_001).await,
        400,
        "INVALID_REQUEST",
    );
    let garbage = Cursor::new("yesterday");
    assert_rejected(
        fx.nod.transactions(Some(&garbage), 10).await,
        400,
        "INVALID_REQUEST",
    );
    assert!(fx.nod.transactions(None, 1_000).await.unwrap().is_empty());
}

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod in_process {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(&super::in_process()).await;
                }
            )*
        }
        mod over_http {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(&super::over_http().await).await;
                }
            )*
        }
    };
}

contract!(
    place_is_idempotent_on_client_reference,
    cancel_is_idempotent_and_not_echoed_in_the_feed,
    unknown_groups_are_not_found,
    invalid_placements_are_rejected_for_good,
    the_feed_is_ordered_and_pages_with_after,
    lifecycle_changes_appear_in_the_feed_once_each,
    refused_transitions_change_nothing,
    expiry_ends_a_group_once_and_cancel_leaves_it_expired,
    bad_feed_requests_are_rejected,
);
