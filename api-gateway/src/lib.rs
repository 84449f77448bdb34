//! The public REST API (CONTRACT.md section 1) on axum and tower. Thin: it validates,
//! scopes to the caller, reads the query model, and records commands for the worker that
//! owns them (a send for the mailer, FAILED tickets to place again for nod-distributor) or
//! calls pdf-renderer over gRPC, mapping its refusals through the one error-code table. It
//! never renders PDFs and never talks to NOD or SMTP.

pub mod auth;
pub mod caller;
pub mod dto;
pub mod error;
pub mod middleware;
pub mod openapi;
pub mod rate_limit;
pub mod routes;
pub mod search;
pub mod state;
pub mod status_cache;

use anyhow::Context;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use secrecy::ExposeSecret;
use state::AppState;
use status_cache::StatusCache;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use td_proto::v1::pdf_renderer_client::PdfRendererClient;
use td_runtime::{health_routes, probe_routes, HttpServer};
use td_settings::{GatewaySettings, Settings};
use td_store::{ConnectionTrait, DatabaseConnection, DbBackend};
use tokio_util::sync::CancellationToken;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use utoipa::OpenApi;

/// Where the workers the gateway calls are reached.
#[derive(Debug, Clone)]
pub struct Upstreams {
    /// pdf-renderer's gRPC endpoint, e.g. `http://127.0.0.1:50053`.
    pub pdf_renderer: String,
    /// The shared token of internal calls.
    pub token: td_runtime::InternalToken,
}

impl Upstreams {
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        Ok(Self {
            pdf_renderer: settings.pdf_renderer_url(),
            token: td_runtime::InternalToken::new(settings.grpc_token())?,
        })
    }
}

pub struct App {
    server: HttpServer,
    /// `/health/*` and `/metrics` on the operations port.
    ops: HttpServer,
    state: AppState,
}

impl App {
    /// Connects to the database named in settings and binds the listener.
    pub async fn build(settings: &Settings) -> anyhow::Result<Self> {
        settings.check_secrets_fit_for_use()?;
        let db = td_store::open_with_statement_timeout(
            settings.database.url.expose_secret(),
            settings.database.max_connections,
            settings.database.connect_timeout(),
            settings.database.migrate_on_start,
            Some(Duration::from_millis(settings.gateway.statement_timeout_ms)),
        )
        .await
        .context("opening the database")?;
        let auth = auth::Authoriser::from_settings(&settings.auth)
            .await
            .context("the authorisation settings (TD__AUTH__*)")?;
        if auth.is_none() {
            tracing::warn!("AUTHORISATION IS OFF (TD__AUTH__MODE=off): every caller reads every organisation. Do not expose this gateway.");
        }
        Self::build_with(
            &settings.gateway,
            auth,
            db,
            Upstreams::from_settings(settings)?,
            Router::new(),
        )
        .await
    }

    /// Binds the listener on an existing pool, with the workers at their default
    /// addresses (tests of the read side).
    pub async fn build_with_db(
        settings: &GatewaySettings,
        db: DatabaseConnection,
    ) -> anyhow::Result<Self> {
        let defaults = Settings::load_from(None, std::iter::empty())?;
        Self::build_with(
            settings,
            None,
            db,
            Upstreams::from_settings(&defaults)?,
            Router::new(),
        )
        .await
    }

    /// Binds the listener on an existing pool with the given workers; `extra` routes are
    /// served behind the same layers (the embedded default's intake). Without `auth`, every
    /// caller reads every organisation.
    pub async fn build_with(
        settings: &GatewaySettings,
        auth: Option<Arc<auth::Authoriser>>,
        db: DatabaseConnection,
        upstreams: Upstreams,
        extra: Router,
    ) -> anyhow::Result<Self> {
        let status_cache = (db.get_database_backend() == DbBackend::Postgres).then(|| {
            StatusCache::new(
                Duration::from_millis(settings.status_cache_ttl_ms),
                settings.status_cache_capacity,
            )
        });
        let pdf_renderer = PdfRendererClient::new(td_runtime::internal_channel(
            &upstreams.pdf_renderer,
            "pdf-renderer",
            &upstreams.token,
        )?)
        .max_decoding_message_size(64 * 1024 * 1024);
        let state = AppState {
            db,
            status_cache,
            pdf_renderer,
            pdf_wait_ms: settings.pdf_wait_ms,
            mail_limits: state::MailLimits {
                per_order_per_hour: settings.mail_sends_per_order_per_hour,
                per_address_per_hour: settings.mail_sends_per_address_per_hour,
            },
        };
        let server = HttpServer::bind(settings.addr, router(state.clone(), auth, settings, extra))
            .await?
            .with_header_read_timeout(Duration::from_millis(settings.header_read_timeout_ms));
        let ops = HttpServer::bind(settings.ops_addr, health_routes(readiness(&state)))
            .await
            .context("the operations port (TD__GATEWAY__OPS_ADDR)")?;
        Ok(Self { server, ops, state })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// Where `/health/*` and `/metrics` are served for the cluster (not the public).
    pub fn ops_addr(&self) -> SocketAddr {
        self.ops.local_addr()
    }

    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        if let Some(cache) = &self.state.status_cache {
            let pool = self.state.db.get_postgres_connection_pool().clone();
            cache.spawn_listener(pool, shutdown.clone());
        }
        tracing::info!(addr = %self.local_addr(), ops = %self.ops_addr(), "api-gateway listening");
        tokio::try_join!(
            self.server.run_until_stopped(shutdown.clone()),
            self.ops.run_until_stopped(shutdown),
        )?;
        Ok(())
    }
}

/// Ready while the database answers.
fn readiness(state: &AppState) -> td_runtime::ReadinessCheck {
    td_runtime::ready_while(
        state.db.clone(),
        |db| async move { td_store::ping(&db).await },
    )
}

async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(openapi::ApiDoc::openapi())
}

/// The whole HTTP surface. Layers, outermost first:
pub fn router(
    state: AppState,
    auth: Option<Arc<auth::Authoriser>>,
    settings: &GatewaySettings,
    extra: Router,
) -> Router {
    let v1 = Router::new()
        .route("/ticket-distribution-groups", get(routes::groups::search))
        .route(
            "/ticket-distribution-groups/distribute",
            post(routes::distribute::distribute),
        )
        // One parameter name per path segment (the router requires it); the OpenAPI
        // document names it after what each route takes.
        .route(
            "/ticket-distributions/{id}/status",
            get(routes::status::status),
        )
        .route(
            "/ticket-distributions/{id}/summary",
            get(routes::summary::summary),
        )
        .route(
            "/ticket-distributions/{id}/generate",
            post(routes::generate::generate),
        )
        .route("/pdf-tickets", get(routes::pdf::search))
        .route(
            "/pdf-tickets/{id}/createOrGet",
            post(routes::pdf::create_or_get),
        )
        .route("/pdf-tickets/{id}/content", get(routes::pdf::content))
        .route("/pdf-tickets/{id}/send", post(routes::send::send))
        .route("/pdf-tickets/sends/{id}", get(routes::send::send_status))
        // Inside /v1 only: operational endpoints need no client name and no token.
        .route_layer(axum::middleware::from_fn(middleware::require_client_name))
        .with_state(state.clone());
    // Counted per caller after authentication (which names the principal), before any work.
    let v1 =
        match rate_limit::RateLimit::new(settings.rate_limit_per_second, settings.rate_limit_burst)
        {
            Some(limit) => v1.route_layer(axum::middleware::from_fn_with_state(
                limit,
                rate_limit::limit,
            )),
            None => v1,
        };
    let v1 = match auth {
        // Outside the client-name check: an unauthenticated call learns nothing else.
        Some(authoriser) => {
            let layer = auth::AuthLayer {
                authoriser,
                unauthenticated: rate_limit::RateLimit::new(
                    settings.rate_limit_unauthenticated_per_second,
                    settings.rate_limit_unauthenticated_burst,
                ),
            };
            v1.route_layer(axum::middleware::from_fn_with_state(layer, auth::authorise))
        }
        None => v1,
    };

    Router::new()
        .nest("/v1", v1)
        .route("/openapi.json", get(openapi_json))
        // The probes also answer here, for load balancers; `/metrics` only on the ops port.
        .merge(probe_routes(readiness(&state)))
        .merge(extra)
        .fallback(|| async { StatusCode::NOT_FOUND })
        .method_not_allowed_fallback(|| async { StatusCode::METHOD_NOT_ALLOWED })
        // Innermost: bodies above the limit never reach a handler (413).
        .layer(DefaultBodyLimit::max(settings.body_limit_bytes))
        .layer(RequestBodyLimitLayer::new(settings.body_limit_bytes))
        // A request that outlives the deadline (a slow body included) is answered 408,
        // freeing its connection.
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_millis(settings.request_timeout_ms),
        ))
        // A bug must answer 500 with an ApiError, not drop the connection.
        .layer(CatchPanicLayer::new())
        // Outermost: the correlation id exists before anything can fail, and every error
        // from the layers above is rendered as an ApiError carrying it.
        .layer(axum::middleware::from_fn(middleware::edge))
}
