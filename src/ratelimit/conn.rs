//! The burst's transport: HTTP/1.1 connections to the one target host, each kept by the task
//! that sends on it (hyper's connection API, as load generators do), over TCP or rustls. A
//! burst is the one place where the per-request cost of a general client (pooling, redirects,
//! URL handling) is the bottleneck; every other HTTP call of shipgate goes through reqwest.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use reqwest::header::{HOST, HeaderMap, HeaderValue, USER_AGENT};
use rustls::pki_types::ServerName;

use crate::checks::http::error_chain;
use crate::checks::tls::CaFileError;

/// Why a URL cannot be sent to: found when the config is read, before any request.
#[derive(Debug)]
pub enum EndpointError {
    NoHost(reqwest::Url),
    NoPort(reqwest::Url),
    CaFile(CaFileError),
    ServerName {
        host: String,
        cause: rustls::pki_types::InvalidDnsNameError,
    },
    Credentials,
    HostHeader(String),
    Target {
        target: String,
        cause: http::uri::InvalidUri,
    },
}

impl fmt::Display for EndpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EndpointError::NoHost(url) => write!(f, "{url} has no host"),
            EndpointError::NoPort(url) => write!(f, "{url} has no port"),
            EndpointError::CaFile(e) => write!(f, "{e}"),
            EndpointError::ServerName { host, cause } => {
                write!(f, "`{host}` is not a TLS server name: {cause}")
            }
            EndpointError::Credentials => {
                f.write_str("the URL's credentials cannot be sent as a header")
            }
            EndpointError::HostHeader(authority) => {
                write!(f, "`{authority}` cannot be a Host header")
            }
            EndpointError::Target { target, cause } => {
                write!(f, "`{target}` is not a request target: {cause}")
            }
        }
    }
}

impl std::error::Error for EndpointError {}

impl From<CaFileError> for EndpointError {
    fn from(e: CaFileError) -> Self {
        EndpointError::CaFile(e)
    }
}

/// Why a request found no connection, or lost it: one sample's error in the report.
#[derive(Debug)]
pub enum ConnectError {
    Tcp {
        host: String,
        port: u16,
        cause: std::io::Error,
    },
    Tls {
        host: String,
        cause: std::io::Error,
    },
    Http(hyper::Error),
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::Tcp { host, port, cause } => {
                write!(f, "cannot connect to {host}:{port}: {cause}")
            }
            ConnectError::Tls { host, cause } => {
                write!(f, "TLS handshake with {host} failed: {cause}")
            }
            ConnectError::Http(e) => f.write_str(&error_chain(e)),
        }
    }
}

impl std::error::Error for ConnectError {}

/// A connection ready to send the next request on.
pub type Sender = SendRequest<Full<Bytes>>;

/// Where and how to connect, worked out once per burst.
pub struct Endpoint {
    host: String,
    port: u16,
    /// `Host` header value.
    authority: HeaderValue,
    /// Path and query, the request target of every request.
    target: http::Uri,
    tls: Option<(tokio_rustls::TlsConnector, ServerName<'static>)>,
    /// `Authorization: Basic …` from the URL's `user:password@`, as a browser or curl sends it.
    basic: Option<HeaderValue>,
}

impl Endpoint {
    /// `ca_file`: extra trusted CA certificates (PEM) for an https URL, besides the system's.
    pub fn new(
        url: &reqwest::Url,
        ca_file: Option<&std::path::Path>,
    ) -> Result<Endpoint, EndpointError> {
        let host = url
            .host_str()
            .ok_or_else(|| EndpointError::NoHost(url.clone()))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = url
            .port_or_known_default()
            .ok_or_else(|| EndpointError::NoPort(url.clone()))?;
        let authority = match url.port() {
            Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_string(),
        };
        let mut target = url.path().to_string();
        if let Some(query) = url.query() {
            target.push('?');
            target.push_str(query);
        }
        let tls = match url.scheme() {
            "https" => {
                crate::http_client::install_crypto_provider();
                let roots = crate::checks::tls::root_store(ca_file)?;
                let mut config = rustls::ClientConfig::builder()
                    .with_root_certificates(roots)
                    .with_no_client_auth();
                config.alpn_protocols = vec![b"http/1.1".to_vec()];
                let name = ServerName::try_from(host.clone()).map_err(|cause| {
                    EndpointError::ServerName {
                        host: host.clone(),
                        cause,
                    }
                })?;
                Some((tokio_rustls::TlsConnector::from(Arc::new(config)), name))
            }
            _ => None,
        };
        let basic = if url.username().is_empty() && url.password().is_none() {
            None
        } else {
            use base64::Engine;
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            };
            let pair = format!(
                "{}:{}",
                decode(url.username()),
                decode(url.password().unwrap_or(""))
            );
            let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
            let mut value = HeaderValue::from_str(&format!("Basic {encoded}"))
                .map_err(|_| EndpointError::Credentials)?;
            value.set_sensitive(true);
            Some(value)
        };
        Ok(Endpoint {
            basic,
            authority: HeaderValue::from_str(&authority)
                .map_err(|_| EndpointError::HostHeader(authority.clone()))?,
            target: target.parse().map_err(|cause| EndpointError::Target {
                target: target.clone(),
                cause,
            })?,
            host,
            port,
            tls,
        })
    }

    /// A new connection, its handshake driven by a task of its own.
    pub async fn connect(&self) -> Result<Sender, ConnectError> {
        let tcp = tokio::net::TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|cause| ConnectError::Tcp {
                host: self.host.clone(),
                port: self.port,
                cause,
            })?;
        // Small requests, answered at once: no waiting for a full segment.
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            None => handshake(tcp).await,
            Some((connector, name)) => {
                let stream = connector
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|cause| ConnectError::Tls {
                        host: self.host.clone(),
                        cause,
                    })?;
                handshake(stream).await
            }
        }
    }

    /// The headers every request carries: `Host`, `User-Agent`, then the user's (which win).
    /// Built once per burst; each request clones the map.
    pub fn headers(&self, given: &HeaderMap) -> HeaderMap {
        let mut h = HeaderMap::with_capacity(given.len() + 2);
        h.insert(HOST, self.authority.clone());
        h.insert(
            USER_AGENT,
            HeaderValue::from_static(concat!("shipgate/", env!("CARGO_PKG_VERSION"))),
        );
        if let Some(basic) = &self.basic {
            h.insert(http::header::AUTHORIZATION, basic.clone());
        }
        for (name, value) in given {
            h.insert(name, value.clone());
        }
        h
    }

    /// One request on `sender` (from [`Endpoint::ready`]) with `headers` (from [`Endpoint::headers`]): the status and
    /// headers, the body drained up to `max_body`. Returns the connection when it can carry the
    /// next request.
    pub async fn exchange(
        &self,
        mut sender: Sender,
        method: &http::Method,
        headers: &HeaderMap,
        body: Option<&Bytes>,
        max_body: usize,
    ) -> Result<(u16, HeaderMap, Option<Sender>), ConnectError> {
        let mut request = http::Request::new(Full::new(body.cloned().unwrap_or_default()));
        *request.method_mut() = method.clone();
        *request.uri_mut() = self.target.clone();
        *request.headers_mut() = headers.clone();
        let response = sender
            .send_request(request)
            .await
            .map_err(ConnectError::Http)?;
        let status = response.status().as_u16();
        // A server that closes after this answer (`Connection: close`, HTTP/1.0) cannot take
        // the next request on this connection.
        let closing = response.version() < http::Version::HTTP_11
            || response
                .headers()
                .get(http::header::CONNECTION)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let (parts, mut body) = response.into_parts();
        let mut drained = 0;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(ConnectError::Http)?;
            if let Some(data) = frame.data_ref() {
                drained += data.len();
                if drained > max_body {
                    // The rest is not read: this connection cannot carry another request.
                    return Ok((status, parts.headers, None));
                }
            }
        }
        let reusable = !closing && !sender.is_closed();
        Ok((status, parts.headers, reusable.then_some(sender)))
    }

    /// A connection ready for a request: `reused` if it still is (a server may close an idle
    /// connection at any time; nothing was sent on it yet, so no quota is spent), else a new one.
    pub async fn ready(&self, reused: Option<Sender>) -> Result<Sender, ConnectError> {
        if let Some(mut sender) = reused
            && sender.ready().await.is_ok()
        {
            return Ok(sender);
        }
        let mut sender = self.connect().await?;
        sender.ready().await.map_err(ConnectError::Http)?;
        Ok(sender)
    }
}

async fn handshake<S>(stream: S) -> Result<Sender, ConnectError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(ConnectError::Http)?;
    // Ends when the sender is dropped or the server closes the connection.
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}
