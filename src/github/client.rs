//! Calls to GitHub's REST API through octocrab, bounded: each request has a timeout, a 5xx or a
//! dropped connection is retried a few times, and rate limiting is waited out when GitHub says
//! for how long (`Retry-After`, `x-ratelimit-reset`) and that is not too long.
//!
//! octocrab brings the authenticated client, GitHub Enterprise base URLs (path prefix kept) and
//! the request types; the raw `_get`/`_post`/`_patch` calls are used so status and headers can
//! be read before deciding what a failure means.

use crate::ratelimit::headers::RetryAfter;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, Method, StatusCode, Uri};
use http_body_util::BodyExt;
use octocrab::Octocrab;
use serde::Serialize;
use serde_json::Value;

use super::context::Context;

/// How hard a call tries.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Tries per call, the first included.
    pub attempts: u32,
    /// For one request, from connecting to the last byte of the answer.
    pub request_timeout: Duration,
    /// The longest wait for a rate limit to reset; beyond it the call gives up.
    pub max_wait: Duration,
    /// The first pause before a retry of a 5xx or a network error; doubled each time.
    pub backoff: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            attempts: 4,
            request_timeout: Duration::from_secs(30),
            max_wait: Duration::from_secs(60),
            backoff: Duration::from_secs(1),
        }
    }
}

/// Why a call failed, in words a CI log reader can act on.
#[derive(Debug, PartialEq, Eq)]
pub enum ApiError {
    /// 401: the token is wrong or expired.
    BadCredentials,
    /// 403 (not a rate limit): the token lacks a permission.
    Forbidden { message: String },
    /// 404: the repository, PR or object is not visible to the token.
    NotFound { message: String },
    /// Rate limited longer than we wait, or still after the retries.
    RateLimited { message: String },
    /// 4xx other than the above (422 validation and the like).
    Refused { status: u16, message: String },
    /// 5xx after every retry.
    Server { status: u16, attempts: u32 },
    /// No answer (connection, timeout) after every retry.
    Network { message: String, attempts: u32 },
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiError::BadCredentials => write!(
                f,
                "GitHub answered 401 Bad credentials: the token (GITHUB_TOKEN) is not valid or has expired"
            ),
            ApiError::Forbidden { message } => write!(f, "GitHub answered 403: {message}"),
            ApiError::NotFound { message } => write!(f, "GitHub answered 404: {message}"),
            ApiError::RateLimited { message } => write!(f, "rate limited by GitHub: {message}"),
            ApiError::Refused { status, message } => {
                write!(f, "GitHub refused the request ({status}): {message}")
            }
            ApiError::Server { status, attempts } => write!(
                f,
                "GitHub answered {status} (a server error) {attempts} times in a row"
            ),
            ApiError::Network { message, attempts } => {
                write!(f, "no answer from GitHub after {attempts} tries: {message}")
            }
        }
    }
}

/// A successful answer: its JSON, and whether a next page follows (`Link: …; rel="next"`).
#[derive(Debug)]
pub struct Answer {
    pub body: Value,
    pub has_next_page: bool,
}

/// Why no GitHub client could be set up: nothing is published.
#[derive(Debug)]
pub enum SetupError {
    NoToken,
    ApiUrl { url: String, cause: octocrab::Error },
    Build(octocrab::Error),
}

impl std::fmt::Display for SetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SetupError::NoToken => f.write_str(
                "GITHUB_TOKEN is not set (the action passes its github-token input as GITHUB_TOKEN)",
            ),
            SetupError::ApiUrl { url, cause } => {
                write!(f, "GITHUB_API_URL `{url}` is not a URL: {cause}")
            }
            SetupError::Build(cause) => write!(f, "cannot set up the GitHub client: {cause}"),
        }
    }
}

impl std::error::Error for SetupError {}

/// One attempt that got no answer: retried, then reported as [`ApiError::Network`].
#[derive(Debug)]
enum NoAnswer {
    Method(Method),
    Request(octocrab::Error),
    CutOff(octocrab::Error),
    Timeout(Duration),
}

impl std::fmt::Display for NoAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NoAnswer::Method(method) => write!(f, "{method} is not used"),
            NoAnswer::Request(e) => write!(f, "{e}"),
            NoAnswer::CutOff(e) => write!(f, "the answer was cut off: {e}"),
            NoAnswer::Timeout(d) => write!(f, "no answer within {}s", d.as_secs()),
        }
    }
}

pub struct Client {
    octo: Octocrab,
    limits: Limits,
}

impl Client {
    /// A client for the context's API URL and token; `Err` says what is wrong with them.
    pub fn new(context: &Context, limits: Limits) -> Result<Client, SetupError> {
        crate::http_client::install_crypto_provider();
        let token = context.token.as_ref().ok_or(SetupError::NoToken)?;
        let octo = Octocrab::builder()
            .personal_token(token.expose().to_string())
            .base_uri(context.api_url.as_str())
            .map_err(|cause| SetupError::ApiUrl {
                url: context.api_url.clone(),
                cause,
            })?
            .add_header(
                http::header::ACCEPT,
                "application/vnd.github+json, application/json".to_string(),
            )
            .set_connect_timeout(Some(Duration::from_secs(10)))
            .set_read_timeout(Some(limits.request_timeout))
            .set_write_timeout(Some(limits.request_timeout))
            .build()
            .map_err(SetupError::Build)?;
        Ok(Client { octo, limits })
    }

    /// One API call (`route` is a path like `/repos/o/r/check-runs`, with its query), retried
    /// as the module says.
    pub async fn send<B: Serialize + ?Sized>(
        &self,
        method: Method,
        route: &str,
        body: Option<&B>,
    ) -> Result<Answer, ApiError> {
        let uri = Uri::from_str(route).map_err(|e| ApiError::Refused {
            status: 0,
            message: format!("bad route {route}: {e}"),
        })?;
        let mut backoff = self.limits.backoff;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt >= self.limits.attempts;
            let sent = tokio::time::timeout(
                self.limits.request_timeout,
                self.once(&method, uri.clone(), body),
            )
            .await
            .unwrap_or(Err(NoAnswer::Timeout(self.limits.request_timeout)));
            let (status, headers, text) = match sent {
                Ok(answer) => answer,
                Err(e) if last => {
                    return Err(ApiError::Network {
                        message: e.to_string(),
                        attempts: attempt,
                    });
                }
                Err(_) => {
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                    continue;
                }
            };
            if status.is_success() {
                let body = if text.trim().is_empty() {
                    Value::Null
                } else {
                    serde_json::from_str(&text).map_err(|e| ApiError::Refused {
                        status: status.as_u16(),
                        message: format!("the answer is not JSON: {e}"),
                    })?
                };
                return Ok(Answer {
                    body,
                    has_next_page: has_next_page(&headers),
                });
            }
            let message = github_message(&text);
            if let Some(wait) = rate_limit_wait(status, &headers, &message, SystemTime::now()) {
                if last || wait > self.limits.max_wait {
                    return Err(ApiError::RateLimited {
                        message: format!(
                            "{message} (GitHub asks to wait {}s{}); the report is in the job summary and the JSON report",
                            wait.as_secs(),
                            if last {
                                ""
                            } else {
                                ", longer than shipgate waits"
                            }
                        ),
                    });
                }
                tokio::time::sleep(wait).await;
                continue;
            }
            if status.is_server_error() {
                if last {
                    return Err(ApiError::Server {
                        status: status.as_u16(),
                        attempts: attempt,
                    });
                }
                tokio::time::sleep(backoff).await;
                backoff *= 2;
                continue;
            }
            return Err(match status {
                StatusCode::UNAUTHORIZED => ApiError::BadCredentials,
                StatusCode::FORBIDDEN => ApiError::Forbidden { message },
                StatusCode::NOT_FOUND => ApiError::NotFound { message },
                other => ApiError::Refused {
                    status: other.as_u16(),
                    message,
                },
            });
        }
    }

    async fn once<B: Serialize + ?Sized>(
        &self,
        method: &Method,
        uri: Uri,
        body: Option<&B>,
    ) -> Result<(StatusCode, HeaderMap, String), NoAnswer> {
        let response = match *method {
            Method::GET => self.octo._get(uri).await,
            Method::POST => self.octo._post(uri, body).await,
            Method::PATCH => self.octo._patch(uri, body).await,
            _ => return Err(NoAnswer::Method(method.clone())),
        }
        .map_err(NoAnswer::Request)?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(NoAnswer::CutOff)?
            .to_bytes();
        Ok((
            status,
            headers,
            String::from_utf8_lossy(&bytes).into_owned(),
        ))
    }
}

/// GitHub's error body is `{"message": …, "errors": [...], "documentation_url": …}`.
fn github_message(text: &str) -> String {
    let Ok(body) = serde_json::from_str::<Value>(text) else {
        let text = text.trim();
        return if text.is_empty() {
            "no message".into()
        } else {
            text.chars().take(200).collect()
        };
    };
    let mut message = body["message"].as_str().unwrap_or("no message").to_string();
    if let Some(errors) = body["errors"].as_array() {
        let details: Vec<String> = errors
            .iter()
            .take(5)
            .map(|e| match e {
                Value::String(s) => s.clone(),
                other => other["message"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| other.to_string()),
            })
            .collect();
        if !details.is_empty() {
            message.push_str(&format!(" ({})", details.join("; ")));
        }
    }
    message
}

/// How long GitHub asks us to wait, when the answer is a rate limit: a 429, or a 403 whose
/// `x-ratelimit-remaining` is 0 or whose message says so (secondary limits). `Retry-After`
/// (seconds) first, else until `x-ratelimit-reset` (epoch seconds), else a minute — GitHub's
/// advice for secondary limits without a header.
pub fn rate_limit_wait(
    status: StatusCode,
    headers: &HeaderMap,
    message: &str,
    now: SystemTime,
) -> Option<Duration> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let limited = status == StatusCode::TOO_MANY_REQUESTS
        || (status == StatusCode::FORBIDDEN
            && (header("x-ratelimit-remaining") == Some("0")
                || header("retry-after").is_some()
                || message.to_ascii_lowercase().contains("rate limit")));
    if !limited {
        return None;
    }
    if let Some(after) = header("retry-after").and_then(RetryAfter::parse) {
        return Some(after.delay(now));
    }
    if let Some(reset) = header("x-ratelimit-reset").and_then(|v| v.trim().parse::<u64>().ok()) {
        let now = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        return Some(Duration::from_secs(reset.saturating_sub(now).max(1)));
    }
    Some(Duration::from_secs(60))
}

fn has_next_page(headers: &HeaderMap) -> bool {
    headers
        .get_all(http::header::LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|link| link.contains("rel=\"next\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn rate_limits_are_told_apart_from_missing_permissions() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        assert_eq!(
            rate_limit_wait(
                StatusCode::TOO_MANY_REQUESTS,
                &headers(&[("retry-after", "7")]),
                "",
                now
            ),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            rate_limit_wait(
                StatusCode::FORBIDDEN,
                &headers(&[
                    ("x-ratelimit-remaining", "0"),
                    ("x-ratelimit-reset", "1030")
                ]),
                "API rate limit exceeded",
                now
            ),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            rate_limit_wait(
                StatusCode::FORBIDDEN,
                &HeaderMap::new(),
                "You have exceeded a secondary rate limit",
                now
            ),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            rate_limit_wait(
                StatusCode::FORBIDDEN,
                &headers(&[("x-ratelimit-remaining", "4999")]),
                "Resource not accessible by integration",
                now
            ),
            None
        );
    }

    #[test]
    fn github_error_bodies_become_one_line() {
        assert_eq!(
            github_message(
                r#"{"message":"Validation Failed","errors":[{"resource":"CheckRun","code":"invalid","message":"annotation_level is invalid"}],"documentation_url":"https://docs.github.com"}"#
            ),
            "Validation Failed (annotation_level is invalid)"
        );
        assert_eq!(
            github_message("<html>bad gateway</html>"),
            "<html>bad gateway</html>"
        );
        assert_eq!(github_message(""), "no message");
    }

    #[test]
    fn next_pages_are_found_in_the_link_header() {
        assert!(has_next_page(&headers(&[(
            "link",
            r#"<https://api.github.com/repositories/1/issues/2/comments?page=2>; rel="next", <https://api.github.com/repositories/1/issues/2/comments?page=3>; rel="last""#
        )])));
        assert!(!has_next_page(&headers(&[(
            "link",
            r#"<https://api.github.com/repositories/1/issues/2/comments?page=1>; rel="prev""#
        )])));
    }
}
