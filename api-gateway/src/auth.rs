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
use td_domain::ids::OrganisationId;
use td_settings::{AuthMode, AuthSettings};

/// Why a token was refused. The text is safe to show the caller: it never echoes the token.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("Send `Authorization: Bearer <JWT>`.")]
    Missing,
    #[error("The token is not valid: {0}.")]
    Invalid(String),
    #[error("The token's key id is unknown.")]
    UnknownKey,
    #[error("The token carries no organisation (claim `{0}`).")]
    NoOrganisation(String),
    #[error("The signing keys could not be read: {0}.")]
    Keys(String),
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

struct Jwks {
    source: JwksSource,
    keys: RwLock<HashMap<String, (DecodingKey, Algorithm)>>,
    read_at: RwLock<Instant>,
    refresh_every: Duration,
    http: reqwest::Client,
}

/// A JWKS is not re-read for an unknown key id more often than this, so a flood of tokens
/// with made-up key ids cannot hammer the identity provider.
const MIN_REREAD: Duration = Duration::from_secs(10);

impl Jwks {
    async fn read(&self) -> Result<(), AuthError> {
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
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = keys;
        *self.read_at.write().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        Ok(())
    }

    fn lookup(&self, kid: &str) -> Option<(DecodingKey, Algorithm)> {
        self.keys
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(kid)
            .cloned()
    }

    fn age(&self) -> Duration {
        self.read_at
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .elapsed()
    }

    /// The key for `kid`, re-reading the document when it is old, or when the key id is
    /// new and the document was not read within `MIN_REREAD`.
    async fn key(&self, kid: &str) -> Result<(DecodingKey, Algorithm), AuthError> {
        if self.age() >= self.refresh_every {
            if let Err(err) = self.read().await {
                tracing::warn!(error = %err, "re-reading the JWKS failed; keeping the keys read before");
            }
        }
        if let Some(found) = self.lookup(kid) {
            return Ok(found);
        }
        if self.age() >= MIN_REREAD {
            self.read().await?;
        }
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
            let jwks = Jwks {
                source,
                keys: RwLock::new(HashMap::new()),
                read_at: RwLock::new(Instant::now()),
                refresh_every: Duration::from_millis(settings.jwks_refresh_ms),
                http: reqwest::Client::builder()
                    .timeout(Duration::from_secs(5))
                    .build()?,
            };
            jwks.read().await?;
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
            Some(Value::Number(n)) => n.as_i64(),
            Some(Value::String(s)) => s.parse().ok(),
            _ => None,
        };
        let client = ["azp", "client_id", "sub"]
            .iter()
            .find_map(|c| claims.get(*c).and_then(Value::as_str))
            .map(str::to_owned);
        match (organisation, across) {
            (_, true) => Ok(Caller {
                organisation: None,
                client,
            }),
            (Some(org), false) => Ok(Caller {
                organisation: Some(OrganisationId(org)),
                client,
            }),
            (None, false) => Err(AuthError::NoOrganisation(self.organisation_claim.clone())),
        }
    }
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

/// The layer: a `/v1` call without a valid bearer token is a 401 `UNAUTHENTICATED`; with
/// one, the handlers see its `Caller`.
pub async fn authorise(
    State(authoriser): State<Arc<Authoriser>>,
    mut req: Request,
    next: Next,
) -> Response {
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
            if let AuthError::Keys(reason) = &err {
                tracing::error!(%reason, "cannot verify tokens");
            }
            ApiError::new(ErrorCode::Unauthenticated, err.to_string()).into_response()
        }
    }
}
