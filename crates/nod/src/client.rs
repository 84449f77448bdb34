//! `Nod` over HTTP. Each call is one logical operation that may take several attempts:
//! transient failures (429, 408, 5xx, connection errors, timeouts, unreadable answers) are
//! retried with backoff, NOD's final answers are returned at once. Retrying is safe because
//! every NOD operation is idempotent (placement is keyed on the client reference).

mod retry;
mod settings;

pub use settings::{NodClientSettings, RetrySettings};

use crate::error::{ClientBuildError, NodError, Transient};
use crate::model::{
    Cursor, ErrorBody, OrderGroup, OrderGroupId, PlaceRequest, Transaction, TransactionPage,
    ORDER_GROUP_NOT_FOUND,
};
use crate::Nod;
use backon::Retryable as _;
use futures::future::BoxFuture;
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct NodClient {
    http: reqwest::Client,
    base_url: Url,
    retry: RetrySettings,
}

/// One logical call, replayed as is on every attempt.
struct Call<'a> {
    /// What the call does, for metrics: `place`, `cancel`, `get`, `feed`.
    operation: &'static str,
    method: Method,
    url: Url,
    body: Option<Vec<u8>>,
    /// The group the call is about, so a 404 can say which group NOD does not know.
    group: Option<&'a OrderGroupId>,
}

impl NodClient {
    pub fn new(settings: &NodClientSettings) -> Result<Self, ClientBuildError> {
        let base_url = settings.validate()?;
        let http = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout())
            .timeout(settings.request_timeout())
            // NOD does not redirect; following one would turn a POST into a GET.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            http,
            base_url,
            retry: settings.retry.clone(),
        })
    }

    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base_url.clone();
        url.path_segments_mut()
            .expect("validated as an http(s) base URL")
            .pop_if_empty()
            .extend(segments);
        url
    }

    async fn send<T: DeserializeOwned>(&self, call: Call<'_>) -> Result<T, NodError> {
        let attempts = AtomicU32::new(0);
        let started = Instant::now();
        let budget = Duration::from_millis(self.retry.max_elapsed_ms);
        let result = (|| {
            attempts.fetch_add(1, Ordering::Relaxed);
            self.attempt(&call)
        })
        .retry(retry::backoff(&self.retry))
        .sleep(tokio::time::sleep)
        .when(NodError::is_transient)
        .adjust(|err, ceiling| {
            let retry_after = match err {
                NodError::Unavailable {
                    cause: Transient::RateLimited { retry_after },
                    ..
                } => *retry_after,
                _ => None,
            };
            retry::next_delay(
                ceiling,
                retry_after,
                fastrand::f64(),
                started.elapsed(),
                budget,
            )
        })
        .notify(|err, delay| {
            // Only a debug line: the caller logs the final error once, where it handles it.
            tracing::debug!(
                method = %call.method, url = %call.url, error = %err,
                delay_ms = delay.as_millis() as u64, "NOD call failed, retrying"
            );
        })
        .await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(NodError::Rejected { .. }) => "rejected",
            Err(NodError::NotFound { .. }) => "not_found",
            Err(NodError::Unavailable { .. }) => "unavailable",
        };
        metrics::counter!("td_nod_calls_total", "operation" => call.operation, "outcome" => outcome)
            .increment(1);
        metrics::counter!("td_nod_call_attempts_total", "operation" => call.operation)
            .increment(u64::from(attempts.load(Ordering::Relaxed)));
        metrics::histogram!("td_nod_call_duration_seconds", "operation" => call.operation)
            .record(started.elapsed().as_secs_f64());
        result.map_err(|err| match err {
            NodError::Unavailable { cause, .. } => NodError::Unavailable {
                cause,
                attempts: attempts.load(Ordering::Relaxed),
            },
            other => other,
        })
    }

    async fn attempt<T: DeserializeOwned>(&self, call: &Call<'_>) -> Result<T, NodError> {
        let mut request = self.http.request(call.method.clone(), call.url.clone());
        if let Some(body) = &call.body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        let response = request.send().await.map_err(transport_error)?;
        let status = response.status();
        let retry_after = retry::retry_after(response.headers(), chrono::Utc::now());
        let body = response.bytes().await.map_err(transport_error)?;
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|e| {
                NodError::transient(Transient::BadResponse(format!("HTTP {status}: {e}")))
            });
        }
        Err(classify(status, retry_after, &body, call.group))
    }
}

/// Sorts a non-success answer into final and transient.
fn classify(
    status: StatusCode,
    retry_after: Option<Duration>,
    body: &[u8],
    group: Option<&OrderGroupId>,
) -> NodError {
    let error = serde_json::from_slice::<ErrorBody>(body).unwrap_or_else(|_| ErrorBody {
        code: format!("HTTP_{}", status.as_u16()),
        message: String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
    });
    match status {
        StatusCode::TOO_MANY_REQUESTS => {
            NodError::transient(Transient::RateLimited { retry_after })
        }
        s if s.is_server_error() || s == StatusCode::REQUEST_TIMEOUT => {
            NodError::transient(Transient::Server {
                status: s.as_u16(),
                message: error.message,
            })
        }
        StatusCode::NOT_FOUND if error.code == ORDER_GROUP_NOT_FOUND && group.is_some() => {
            NodError::NotFound {
                id: group.cloned().expect("checked above"),
            }
        }
        s => NodError::Rejected {
            status: s.as_u16(),
            code: error.code,
            message: error.message,
        },
    }
}

fn transport_error(err: reqwest::Error) -> NodError {
    if err.is_timeout() {
        return NodError::transient(Transient::Timeout);
    }
    // reqwest's own message is generic ("error sending request"); the cause is below it.
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    NodError::transient(Transient::Connection(text))
}

impl Nod for NodClient {
    fn place<'a>(
        &'a self,
        request: &'a PlaceRequest,
    ) -> BoxFuture<'a, Result<OrderGroup, NodError>> {
        Box::pin(async move {
            let body = serde_json::to_vec(request).expect("a PlaceRequest always serialises");
            self.send(Call {
                operation: "place",
                method: Method::POST,
                url: self.url(&["backoffice", "order-groups"]),
                body: Some(body),
                group: None,
            })
            .await
        })
    }

    fn cancel<'a>(&'a self, id: &'a OrderGroupId) -> BoxFuture<'a, Result<OrderGroup, NodError>> {
        Box::pin(self.send(Call {
            operation: "cancel",
            method: Method::POST,
            url: self.url(&["backoffice", "order-groups", id.as_str(), "cancel"]),
            body: None,
            group: Some(id),
        }))
    }

    fn get<'a>(&'a self, id: &'a OrderGroupId) -> BoxFuture<'a, Result<OrderGroup, NodError>> {
        Box::pin(self.send(Call {
            operation: "get",
            method: Method::GET,
            url: self.url(&["backoffice", "order-groups", id.as_str()]),
            body: None,
            group: Some(id),
        }))
    }

    fn transactions<'a>(
        &'a self,
        after: Option<&'a Cursor>,
        limit: u32,
    ) -> BoxFuture<'a, Result<Vec<Transaction>, NodError>> {
        Box::pin(async move {
            let mut url = self.url(&["backoffice", "transactions"]);
            {
                let mut query = url.query_pairs_mut();
                if let Some(after) = after {
                    query.append_pair("after", after.as_str());
                }
                query.append_pair("limit", &limit.to_string());
            }
            let page: TransactionPage = self
                .send(Call {
                    operation: "feed",
                    method: Method::GET,
                    url,
                    body: None,
                    group: None,
                })
                .await?;
            Ok(page.transactions)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_sort_into_final_and_transient() {
        let id = OrderGroupId::new("g1");
        let body = br#"{"code":"ORDER_GROUP_NOT_FOUND","message":"no"}"#;
        assert_eq!(
            classify(StatusCode::NOT_FOUND, None, body, Some(&id)),
            NodError::NotFound { id: id.clone() }
        );
        let wrong_path = classify(StatusCode::NOT_FOUND, None, b"<html>", Some(&id));
        assert!(
            matches!(wrong_path, NodError::Rejected { status: 404, ref code, .. } if code == "HTTP_404")
        );
        for status in [502, 503, 504, 408, 429] {
            let status = StatusCode::from_u16(status).unwrap();
            assert!(classify(status, None, b"", None).is_transient(), "{status}");
        }
        for status in [400, 401, 403, 409, 422] {
            let status = StatusCode::from_u16(status).unwrap();
            assert!(
                !classify(status, None, b"", None).is_transient(),
                "{status}"
            );
        }
    }

    #[test]
    fn paths_keep_a_base_path_and_escape_ids() {
        let client = NodClient::new(&NodClientSettings {
            base_url: "http://nod.local/api/".into(),
            ..Default::default()
        })
        .unwrap();
        let url = client.url(&["backoffice", "order-groups", "a/b c"]);
        assert_eq!(
            url.as_str(),
            "http://nod.local/api/backoffice/order-groups/a%2Fb%20c"
        );
    }
}
