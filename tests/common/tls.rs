//! TLS test support: a throwaway CA (rcgen), leaf certificates signed by it, and a TLS server
//! on 127.0.0.1 (tokio-rustls) that completes handshakes until the test ends.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::AsyncWriteExt;

const DAY: Duration = Duration::from_secs(86_400);

/// Valid from a day ago until `expires_in` from now (without naming the `time` crate's types).
fn set_validity(params: &mut CertificateParams, expires_in: Duration) {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("clock after 1970");
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    params.not_before = epoch + (now - DAY);
    params.not_after = epoch + (now + expires_in);
}

/// A certificate authority made for one test.
pub struct TestCa {
    /// The CA certificate, PEM, for a check's `ca_file`.
    pub cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

/// A leaf certificate and its key, ready to serve.
pub struct Leaf {
    pub cert: CertificateDer<'static>,
    pub key: PrivateKeyDer<'static>,
    /// The same certificate and key as PEM, for servers configured by file (redis-server).
    pub cert_pem: String,
    pub key_pem: String,
}

impl TestCa {
    pub fn new() -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        // A name of its own: two test CAs must not look like one CA with a rotated key.
        let name = format!("shipgate test CA {}", uuid::Uuid::new_v4().simple());
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        set_validity(&mut params, 3650 * DAY);
        let key = KeyPair::generate().expect("CA key");
        let cert = params.self_signed(&key).expect("self-signed CA");
        TestCa {
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A server certificate for `names` (DNS names or IP addresses) that expires
    /// `expires_in` from now.
    pub fn leaf(&self, names: &[&str], expires_in: Duration) -> Leaf {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names.clone()).expect("leaf params");
        params
            .distinguished_name
            .push(DnType::CommonName, names[0].as_str());
        params.use_authority_key_identifier_extension = true;
        params.key_usages.push(KeyUsagePurpose::DigitalSignature);
        params
            .extended_key_usages
            .push(ExtendedKeyUsagePurpose::ServerAuth);
        set_validity(&mut params, expires_in);
        let key = KeyPair::generate().expect("leaf key");
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("leaf signed by the CA");
        Leaf {
            cert: cert.der().clone(),
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }
}

/// Server-side TLS presenting one certificate.
fn acceptor(leaf: Leaf) -> tokio_rustls::TlsAcceptor {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(vec![leaf.cert], leaf.key)
        .expect("server certificate");
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

/// A runtime of its own for a server, and a listener on a free loopback port.
fn loopback_runtime() -> (tokio::runtime::Runtime, tokio::net::TcpListener) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("server runtime");
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind loopback");
    (runtime, listener)
}

/// A TLS server on 127.0.0.1 presenting one certificate, for the test's life.
pub struct TlsServer {
    pub port: u16,
    _runtime: tokio::runtime::Runtime,
}

impl TlsServer {
    pub fn start(leaf: Leaf) -> TlsServer {
        let acceptor = acceptor(leaf);
        let (runtime, listener) = loopback_runtime();
        let port = listener.local_addr().expect("local addr").port();
        runtime.spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // The handshake is all a check needs; errors (a client that hangs up) are fine.
                    if let Ok(mut tls) = acceptor.accept(tcp).await {
                        let _ = tls.shutdown().await;
                    }
                });
            }
        });
        TlsServer {
            port,
            _runtime: runtime,
        }
    }
}

/// Accepts TLS connections for axum: each TCP connection's handshake, then HTTP over it.
struct TlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            // A client that rejects the certificate ends its handshake: wait for the next one.
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// An HTTPS server on 127.0.0.1 running an axum router with one certificate, for the test's life.
pub struct HttpsServer {
    pub port: u16,
    _runtime: tokio::runtime::Runtime,
}

impl HttpsServer {
    pub fn start(leaf: Leaf, router: axum::Router) -> HttpsServer {
        let (runtime, tcp) = loopback_runtime();
        let port = tcp.local_addr().expect("local addr").port();
        let listener = TlsListener {
            tcp,
            acceptor: acceptor(leaf),
        };
        runtime.spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        HttpsServer {
            port,
            _runtime: runtime,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.port)
    }
}
