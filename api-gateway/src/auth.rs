//! Bearer JWT authorisation: every `/v1` call carries `Authorization: Bearer <JWT>`, verified
//! with keys from the settings (a shared HS256 secret for local use; a JWKS document from a
//! file or URL for production, re-read periodically and when a token names a key id not
//! seen yet, so keys can rotate). The signature, `exp` (and `nbf`), the audience and, when
//! configured, the issuer are checked; the algorithm comes from the key, never from the
//! token, so `alg: none` and HS/RS confusion are refused. The caller's organisation comes
//! from a claim; a permission claim lets staff read across organisations.

use crate::caller::Caller;
use crate::error::{ApiError, ErrorCode};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::ExposeSecret;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use td_domain::ids::{OrganisationId, Scope};
use td_settings::{AuthMode, AuthSettings};

/// Why a token was refused. The caller is told only that the token is missing or invalid;
/// the reason is logged, never answered (it could name the key source or the claims).
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("no bearer token")]
    Missing,
    #[error("the token is not valid: {0}")]
    Invalid(String),
    #[error("the token's key id is unknown")]
    UnknownKey,
    #[error("the token carries no organisation (claim `{0}`)")]
    NoOrganisation(String),
    #[error("the token's organisation (claim `{0}`) is not a positive integer")]
    BadOrganisation(String),
    #[error("the signing keys could not be read: {0}")]
    Keys(String),
}

impl AuthError {
    /// What the caller is told.
    fn answer(&self) -> &'static str {
        match self {
            Self::Missing => "Send `Authorization: Bearer <JWT>`.",
            _ => "Invalid token.",
        }
    }
}

enum Keys {
    Secret(DecodingKey),
    Jwks(Jwks),
}

/// Where a JWKS document comes from.
#[derive(Debug, Clone)]
enum JwksSource {
    File(String),
    Url(String),
}

type KeySet = HashMap<String, (DecodingKey, Algorithm)>;

struct Jwks {
    source: JwksSource,
    /// The last key set read successfully; a failed read keeps it.
    keys: RwLock<Arc<KeySet>>,
    /// One read at a time; it also records when reads may happen again.
    reads: tokio::sync::Mutex<Reads>,
    refresh_every: Duration,
    http: reqwest::Client,
}

/// When the JWKS was read, and when it may be read again.
struct Reads {
    /// The last successful read.
    succeeded_at: Instant,
    /// The last read that ended, successful or not.
    ended_at: Instant,
    /// Reads that failed in a row since the last success.
    failures: u32,
    /// No read before this, after a failure.
    not_before: Instant,
}

/// A JWKS is not re-read for an unknown key id more often than this, so a flood of tokens
/// with made-up key ids cannot hammer the identity provider.
const MIN_REREAD: Duration = Duration::from_secs(10);
/// After failed reads the next waits 1 s, 2 s, 4 s, … up to this.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Why a read is wanted.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Want {
    /// The key set is older than `refresh_every`.
    Refresh,
    /// A token names a key id the key set lacks.
    UnknownKey,
}

impl Jwks {
    fn new(source: JwksSource, refresh_every: Duration, http: reqwest::Client) -> Self {
        let now = Instant::now();
        Self {
            source,
            keys: RwLock::new(Arc::new(HashMap::new())),
            reads: tokio::sync::Mutex::new(Reads {
                succeeded_at: now,
                ended_at: now,
                failures: 0,
                not_before: now,
            }),
            refresh_every,
            http,
        }
    }

    async fn fetch(&self) -> Result<KeySet, AuthError> {
        let text = match &self.source {
            JwksSource::File(path) => tokio::fs::read_to_string(path)
                .await
                .map_err(|e| AuthError::Keys(format!("{path}: {e}")))?,
            JwksSource::Url(url) => self
                .http
                .get(url)
                .send()
                .await
                .and_then(|r| r.error_for_status())
                .map_err(|e| AuthError::Keys(format!("{url}: {e}")))?
                .text()
                .await
                .map_err(|e| AuthError::Keys(format!("{url}: {e}")))?,
        };
        let set: JwkSet = serde_json::from_str(&text)
            .map_err(|e| AuthError::Keys(format!("not a JWKS document: {e}")))?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let (Some(kid), Some(alg)) = (&jwk.common.key_id, jwk.common.key_algorithm) else {
                continue;
            };
            let Ok(alg) = alg.to_string().parse::<Algorithm>() else {
                continue;
            };
            if let Ok(key) = DecodingKey::from_jwk(jwk) {
                keys.insert(kid.clone(), (key, alg));
            }
        }
        if keys.is_empty() {
            return Err(AuthError::Keys(
                "the JWKS has no usable key (each needs `kid` and `alg`)".into(),
            ));
        }
        Ok(keys)
    }

    /// The first read, at start-up: its failure stops start-up.
    async fn read_first(&self) -> Result<(), AuthError> {
        let keys = self.fetch().await?;
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(keys);
        Ok(())
    }

    /// Reads the JWKS when `want` justifies it now: one read at a time (a caller that
    /// waited for another's read uses its result), a refresh only when the key set is old,
    /// an unknown key id at most every `MIN_REREAD`, and nothing while the backoff after a
    /// failure lasts. A failed read keeps the keys read before.
    async fn read(&self, want: Want) {
        let asked_at = Instant::now();
        let mut reads = match want {
            // A refresh is not worth waiting for: the current keys still verify.
            Want::Refresh => match self.reads.try_lock() {
                Ok(reads) => reads,
                Err(_) => return,
            },
            Want::UnknownKey => self.reads.lock().await,
        };
        let now = Instant::now();
        let due = match want {
            Want::Refresh => now.duration_since(reads.succeeded_at) >= self.refresh_every,
            Want::UnknownKey => {
                reads.ended_at < asked_at && now.duration_since(reads.ended_at) >= MIN_REREAD
            }
        };
        if !due || now < reads.not_before {
            return;
        }
        let result = self.fetch().await;
        let now = Instant::now();
        reads.ended_at = now;
        match result {
            Ok(keys) => {
                *self.keys.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(keys);
                reads.succeeded_at = now;
                reads.failures = 0;
                reads.not_before = now;
            }
            Err(err) => {
                reads.failures = reads.failures.saturating_add(1);
                let wait = Duration::from_secs(1)
                    .saturating_mul(1 << (reads.failures - 1).min(16))
                    .min(MAX_BACKOFF);
                reads.not_before = now + wait;
                tracing::warn!(error = %err, failures = reads.failures, retry_in_ms = wait.as_millis() as u64,
                    "reading the JWKS failed; keeping the keys read before");
            }
        }
    }

    fn lookup(&self, kid: &str) -> Option<(DecodingKey, Algorithm)> {
        self.keys
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(kid)
            .cloned()
    }

    /// The key for `kid`.
    async fn key(&self, kid: &str) -> Result<(DecodingKey, Algorithm), AuthError> {
        self.read(Want::Refresh).await;
        if let Some(found) = self.lookup(kid) {
            return Ok(found);
        }
        self.read(Want::UnknownKey).await;
        self.lookup(kid).ok_or(AuthError::UnknownKey)
    }
}

/// Verifies bearer tokens; shared by every request.
pub struct Authoriser {
    keys: Keys,
    audience: String,
    issuer: Option<String>,
    leeway_s: u64,
    organisation_claim: String,
    cross_organisation_permission: String,
}

impl Authoriser {
    /// `None` when authorisation is off. Reads a JWKS once at start, so that a wrong
    /// location stops start-up instead of refusing every call.
    pub async fn from_settings(settings: &AuthSettings) -> anyhow::Result<Option<Arc<Self>>> {
        if settings.mode == AuthMode::Off {
            return Ok(None);
        }
        let keys = if let Some(secret) = &settings.hs256_secret {
            Keys::Secret(DecodingKey::from_secret(secret.expose_secret().as_bytes()))
        } else {
            let source = match (&settings.jwks_file, &settings.jwks_url) {
                (Some(file), _) => JwksSource::File(file.clone()),
                (None, Some(url)) => JwksSource::Url(url.clone()),
                (None, None) => anyhow::bail!(
                    "authorisation is on (auth.mode = jwt) but no key is configured: set \
                     TD__AUTH__JWKS_URL, TD__AUTH__JWKS_FILE or TD__AUTH__HS256_SECRET, or \
                     TD__AUTH__MODE=off"
                ),
            };
            let jwks = Jwks::new(
                source,
                Duration::from_millis(settings.jwks_refresh_ms),
                reqwest::Client::builder()
                    .timeout(Duration::from_secs(5))
                    .build()?,
            );
            jwks.read_first().await?;
            Keys::Jwks(jwks)
        };
        Ok(Some(Arc::new(Self {
            keys,
            audience: settings.audience.clone(),
            issuer: settings.issuer.clone(),
            leeway_s: settings.leeway_s,
            organisation_claim: settings.organisation_claim.clone(),
            cross_organisation_permission: settings.cross_organisation_permission.clone(),
        })))
    }

    /// The caller a token speaks for.
    pub async fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| AuthError::Invalid(e.to_string()))?;
        let (key, algorithm) = match &self.keys {
            Keys::Secret(key) => (key.clone(), Algorithm::HS256),
            Keys::Jwks(jwks) => {
                let kid = header
                    .kid
                    .as_deref()
                    .ok_or_else(|| AuthError::Invalid("no key id (`kid`)".into()))?;
                jwks.key(kid).await?
            }
        };
        // Only the key's algorithm is accepted: a token naming another (`none`, or HS256
        // signed with an RSA public key) fails in `decode`.
        let mut validation = Validation::new(algorithm);
        validation.set_audience(&[&self.audience]);
        validation.leeway = self.leeway_s;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "aud"]);
        if let Some(issuer) = &self.issuer {
            validation.set_issuer(&[issuer]);
        }
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)
            .map_err(|e| AuthError::Invalid(e.to_string()))?
            .claims;
        let across = permissions(&claims)
            .iter()
            .any(|p| *p == self.cross_organisation_permission);
        let organisation = match claims.get(&self.organisation_claim) {
            None => None,
            Some(claim) => Some(
                organisation(claim)
                    .ok_or_else(|| AuthError::BadOrganisation(self.organisation_claim.clone()))?,
            ),
        };
        let client = ["azp", "client_id", "sub"]
            .iter()
            .find_map(|c| claims.get(*c).and_then(Value::as_str))
            .map(str::to_owned);
        let scope = match (organisation, across) {
            (_, true) => Scope::AllOrganisations,
            (Some(org), false) => Scope::Organisation(org),
            (None, false) => {
                return Err(AuthError::NoOrganisation(self.organisation_claim.clone()))
            }
        };
        Ok(Caller { scope, client })
    }
}

/// An organisation claim: a positive integer, as a JSON number or a string of digits.
fn organisation(claim: &Value) -> Option<OrganisationId> {
    let raw = match claim {
        Value::Number(n) => n.as_i64()?,
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()?
        }
        _ => return None,
    };
    OrganisationId::positive(raw)
}

/// Permissions from a `permissions` array or a space-separated `scope`.
fn permissions(claims: &Map<String, Value>) -> Vec<&str> {
    let mut out: Vec<&str> = claims
        .get("permissions")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if let Some(scope) = claims.get("scope").and_then(Value::as_str) {
        out.extend(scope.split_whitespace());
    }
    out
}

/// What the authorisation layer needs: the verifier, and the limit on requests without a
/// valid token (per peer address; `None` when rate limits are off).
#[derive(Clone)]
pub struct AuthLayer {
    pub authoriser: Arc<Authoriser>,
    pub unauthenticated: Option<Arc<crate::rate_limit::RateLimit>>,
}

/// The layer: a `/v1` call without a valid bearer token is a 401 `UNAUTHENTICATED` (a 429
/// once its peer has made more such calls than the unauthenticated limit allows); with
/// one, the handlers see its `Caller`.
pub async fn authorise(State(layer): State<AuthLayer>, mut req: Request, next: Next) -> Response {
    let authoriser = &layer.authoriser;
    let token = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let verified = match token {
        Some(token) => authoriser.verify(token).await,
        None => Err(AuthError::Missing),
    };
    match verified {
        Ok(caller) => {
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        Err(err) => {
            if let Some(limit) = &layer.unauthenticated {
                if let Err(wait) = limit.check(&crate::rate_limit::peer_key(&req)) {
                    return crate::rate_limit::too_many(wait);
                }
            }
            match &err {
                AuthError::Keys(_) => tracing::error!(error = %err, "cannot verify tokens"),
                _ => tracing::debug!(error = %err, "token refused"),
            }
            ApiError::new(ErrorCode::Unauthenticated, err.answer()).into_response()
        }
    }
}
