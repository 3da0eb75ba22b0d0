//! The burst's transport: HTTP/1.1 connections to the one target host, each kept by the task
//! that sends on it (hyper's connection API, as load generators do), over TCP or rustls. A
//! burst is the one place where the per-request cost of a general client (pooling, redirects,
//! URL handling) is the bottleneck; every other HTTP call of shipgate goes through reqwest.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use reqwest::header::{HOST, HeaderMap, HeaderValue, USER_AGENT};
use rustls::pki_types::ServerName;

use crate::checks::http::error_chain;

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
}

impl Endpoint {
    pub fn new(url: &reqwest::Url) -> Result<Endpoint, String> {
        let host = url
            .host_str()
            .ok_or_else(|| format!("{url} has no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = url
            .port_or_known_default()
            .ok_or_else(|| format!("{url} has no port"))?;
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
                crate::commands::install_crypto_provider();
                let roots = crate::checks::tls::root_store(None)?;
                let mut config = rustls::ClientConfig::builder()
                    .with_root_certificates(roots)
                    .with_no_client_auth();
                config.alpn_protocols = vec![b"http/1.1".to_vec()];
                let name = ServerName::try_from(host.clone())
                    .map_err(|e| format!("`{host}` is not a TLS server name: {e}"))?;
                Some((tokio_rustls::TlsConnector::from(Arc::new(config)), name))
            }
            _ => None,
        };
        Ok(Endpoint {
            authority: HeaderValue::from_str(&authority)
                .map_err(|_| format!("`{authority}` cannot be a Host header"))?,
            target: target
                .parse()
                .map_err(|e| format!("`{target}` is not a request target: {e}"))?,
            host,
            port,
            tls,
        })
    }

    /// A new connection, its handshake driven by a task of its own.
    pub async fn connect(&self) -> Result<Sender, String> {
        let tcp = tokio::net::TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| format!("cannot connect to {}:{}: {e}", self.host, self.port))?;
        // Small requests, answered at once: no waiting for a full segment.
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            None => handshake(tcp).await,
            Some((connector, name)) => {
                let stream = connector
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|e| format!("TLS handshake with {} failed: {e}", self.host))?;
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
        for (name, value) in given {
            h.insert(name, value.clone());
        }
        h
    }

    /// One request on `sender` with `headers` (from [`Endpoint::headers`]): the status and
    /// headers, the body drained up to `max_body`. Returns the connection when it can carry the
    /// next request.
    pub async fn exchange(
        &self,
        mut sender: Sender,
        method: &http::Method,
        headers: &HeaderMap,
        body: Option<&Bytes>,
        max_body: usize,
    ) -> Result<(u16, HeaderMap, Option<Sender>), String> {
        let mut request = http::Request::new(Full::new(body.cloned().unwrap_or_default()));
        *request.method_mut() = method.clone();
        *request.uri_mut() = self.target.clone();
        *request.headers_mut() = headers.clone();
        sender.ready().await.map_err(|e| error_chain(&e))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| error_chain(&e))?;
        let status = response.status().as_u16();
        let (parts, mut body) = response.into_parts();
        let mut drained = 0;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| error_chain(&e))?;
            if let Some(data) = frame.data_ref() {
                drained += data.len();
                if drained > max_body {
                    // The rest is not read: this connection cannot carry another request.
                    return Ok((status, parts.headers, None));
                }
            }
        }
        Ok((status, parts.headers, Some(sender)))
    }
}

async fn handshake<S>(stream: S) -> Result<Sender, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| error_chain(&e))?;
    // Ends when the sender is dropped or the server closes the connection.
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}
