//! The simulator's HTTP face: NOD's back office, a travel app's client calls and the
//! simulator's own controls. Every error is a JSON `{code, message}`; bad input is a 400
//! that says what is wrong, never a 5xx.

use super::faults::{Faults, Injected};
use super::{Simulator, SimulatorError};
use crate::model::{Cursor, ErrorBody, OrderGroup, OrderGroupId, PlaceRequest, TransactionPage};
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{MatchedPath, Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

#[derive(Clone)]
struct App {
    sim: Simulator,
    /// Cancelled at shutdown, so injected latency does not hold shutdown up.
    stop: CancellationToken,
}

fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let body = ErrorBody {
        code: code.to_owned(),
        message: message.into(),
    };
    (status, Json(body)).into_response()
}

impl IntoResponse for SimulatorError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status()).expect("a valid status");
        error(status, self.code(), self.to_string())
    }
}

type Answer<T> = Result<Json<T>, SimulatorError>;

impl Simulator {
    /// A fresh simulator on the wall clock, serving on `addr` (port 0 picks a free port).
    pub async fn start(addr: SocketAddr) -> io::Result<RunningSimulator> {
        Self::new().serve(addr).await
    }

    /// Serves this simulator's state on `addr` until the handle shuts it down or is dropped.
    pub async fn serve(&self, addr: SocketAddr) -> io::Result<RunningSimulator> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
        let addr = listener.local_addr()?;
        let stop = CancellationToken::new();
        let router = self.router_with(stop.clone());
        let server =
            axum::serve(listener, router).with_graceful_shutdown(stop.clone().cancelled_owned());
        let task = tokio::spawn(async move { server.await });
        Ok(RunningSimulator {
            simulator: self.clone(),
            addr,
            stop,
            task: Some(task),
        })
    }

    /// The whole API as a router, for embedding in another server.
    pub fn router(&self) -> Router {
        self.router_with(CancellationToken::new())
    }

    fn router_with(&self, stop: CancellationToken) -> Router {
        let app = App {
            sim: self.clone(),
            stop,
        };
        let backoffice = Router::new()
            .route("/backoffice/order-groups", post(place))
            .route("/backoffice/order-groups/{id}", get(read))
            .route("/backoffice/order-groups/{id}/cancel", post(cancel))
            .route("/backoffice/transactions", get(feed))
            // Faults belong to NOD's back office only: the controls must keep working.
            .route_layer(middleware::from_fn_with_state(app.clone(), inject_faults));
        Router::new()
            .merge(backoffice)
            .route("/client/order-groups/{id}/pickup", post(pickup))
            .route("/client/order-groups/{id}/activate", post(activate))
            .route("/simulator/order-groups/{id}/cancel", post(cancel_outside))
            .route("/simulator/order-groups", get(order_groups))
            .route("/simulator/faults", get(read_faults).post(set_faults))
            .route("/simulator/requests", get(requests))
            // For process supervisors (`scripts/stack` waits on it).
            .route("/health/live", get(|| async { "ok" }))
            .route("/health/ready", get(|| async { "ok" }))
            // Outermost, so a request is counted even when a fault answers it.
            .route_layer(middleware::from_fn_with_state(app.clone(), count))
            .fallback(|| async { error(StatusCode::NOT_FOUND, "ROUTE_NOT_FOUND", "no such route") })
            .method_not_allowed_fallback(|| async {
                error(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "METHOD_NOT_ALLOWED",
                    "method not allowed here",
                )
            })
            .with_state(app)
    }
}

async fn count(
    State(app): State<App>,
    route: MatchedPath,
    request: Request,
    next: Next,
) -> Response {
    app.sim
        .count_request(format!("{} {}", request.method(), route.as_str()));
    next.run(request).await
}

async fn inject_faults(State(app): State<App>, request: Request, next: Next) -> Response {
    let (latency, injected) = app.sim.draw_fault();
    if !latency.is_zero() {
        tokio::select! {
            () = tokio::time::sleep(latency) => {}
            () = app.stop.cancelled() => {
                return error(StatusCode::SERVICE_UNAVAILABLE, "SHUTTING_DOWN", "simulator is stopping");
            }
        }
    }
    match injected {
        None => next.run(request).await,
        Some(Injected::RateLimited {
            retry_after_seconds,
        }) => {
            let mut response = error(
                StatusCode::TOO_MANY_REQUESTS,
                "RATE_LIMITED",
                "slow down (injected)",
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, retry_after_seconds.into());
            response
        }
        Some(Injected::Unavailable) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            "temporarily unavailable (injected)",
        ),
        Some(Injected::Rejected) => error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "REJECTED",
            "order group rejected (injected)",
        ),
        Some(Injected::AnswerLost) => {
            // Carried out, then the answer is lost on its way back.
            drop(next.run(request).await);
            error(
                StatusCode::GATEWAY_TIMEOUT,
                "ANSWER_LOST",
                "the request was carried out but its answer was lost (injected)",
            )
        }
    }
}

fn invalid_json(rejection: JsonRejection) -> SimulatorError {
    SimulatorError::Invalid(rejection.body_text())
}

async fn place(
    State(app): State<App>,
    body: Result<Json<PlaceRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<OrderGroup>), SimulatorError> {
    let Json(request) = body.map_err(invalid_json)?;
    let (group, created) = app.sim.place_group(&request)?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(group)))
}

async fn read(State(app): State<App>, Path(id): Path<String>) -> Answer<OrderGroup> {
    app.sim.read_group(&OrderGroupId::new(id)).map(Json)
}

async fn cancel(State(app): State<App>, Path(id): Path<String>) -> Answer<OrderGroup> {
    app.sim.cancel_group(&OrderGroupId::new(id)).map(Json)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FeedQuery {
    after: Option<String>,
    limit: Option<u32>,
}

async fn feed(
    State(app): State<App>,
    query: Result<Query<FeedQuery>, QueryRejection>,
) -> Answer<TransactionPage> {
    let Query(query) = query.map_err(|r| SimulatorError::Invalid(r.body_text()))?;
    let after = query.after.map(Cursor::new);
    let limit = query.limit.unwrap_or(super::state::DEFAULT_FEED_LIMIT);
    let transactions = app.sim.read_feed(after.as_ref(), limit)?;
    Ok(Json(TransactionPage { transactions }))
}

async fn pickup(State(app): State<App>, Path(id): Path<String>) -> Answer<OrderGroup> {
    app.sim.pickup(&OrderGroupId::new(id)).map(Json)
}

async fn activate(State(app): State<App>, Path(id): Path<String>) -> Answer<OrderGroup> {
    app.sim.activate(&OrderGroupId::new(id)).map(Json)
}

async fn cancel_outside(State(app): State<App>, Path(id): Path<String>) -> Answer<OrderGroup> {
    app.sim.cancel_outside(&OrderGroupId::new(id)).map(Json)
}

async fn order_groups(State(app): State<App>) -> Json<Vec<OrderGroup>> {
    Json(app.sim.order_groups())
}

async fn read_faults(State(app): State<App>) -> Json<Faults> {
    Json(app.sim.faults())
}

async fn set_faults(
    State(app): State<App>,
    body: Result<Json<Faults>, JsonRejection>,
) -> Answer<Faults> {
    let Json(faults) = body.map_err(invalid_json)?;
    app.sim.set_faults(faults)?;
    Ok(Json(app.sim.faults()))
}

async fn requests(State(app): State<App>) -> Json<BTreeMap<String, u64>> {
    Json(app.sim.requests())
}

/// A simulator serving HTTP. Dropping it stops the server too; `shutdown` also waits for
/// the requests in flight to finish.
pub struct RunningSimulator {
    simulator: Simulator,
    addr: SocketAddr,
    stop: CancellationToken,
    task: Option<JoinHandle<io::Result<()>>>,
}

impl RunningSimulator {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`, ready for `NodClientSettings::base_url`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The state behind the server, for controlling it without HTTP.
    pub fn simulator(&self) -> &Simulator {
        &self.simulator
    }

    pub async fn shutdown(mut self) -> io::Result<()> {
        self.stop.cancel();
        match self.task.take() {
            Some(task) => task.await.map_err(io::Error::other)?,
            None => Ok(()),
        }
    }
}

impl Drop for RunningSimulator {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
