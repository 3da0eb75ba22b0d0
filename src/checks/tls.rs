//! The certificate a server presents: it verifies against the trusted roots, matches the host
//! name, and does not expire within the warn/fail day counts.
//!
//! One handshake answers all three: the verifier records rustls' verdict instead of aborting,
//! so a failing certificate can still be described (who issued it, when it expires).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::Finding;
use crate::report::Status;
use crate::units::format_duration;

/// Why no certificate could be judged: the handshake did not get as far as one.
#[derive(Debug)]
pub enum HandshakeError {
    CaFile(CaFileError),
    Verifier(rustls::client::VerifierBuilderError),
    Protocols(rustls::Error),
    HostName {
        host: String,
        cause: rustls::pki_types::InvalidDnsNameError,
    },
    Connect(std::io::Error),
    Tls(std::io::Error),
    Timeout(Duration),
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandshakeError::CaFile(e) => write!(f, "{e}"),
            HandshakeError::Verifier(e) => write!(f, "cannot build the certificate verifier: {e}"),
            HandshakeError::Protocols(e) => write!(f, "{e}"),
            HandshakeError::HostName { host, cause } => {
                write!(f, "`{host}` is not a valid host name: {cause}")
            }
            HandshakeError::Connect(e) => write!(f, "cannot connect: {e}"),
            HandshakeError::Tls(e) => write!(f, "{e}"),
            HandshakeError::Timeout(d) => write!(f, "no answer within {}", format_duration(*d)),
        }
    }
}

impl std::error::Error for HandshakeError {}

impl From<CaFileError> for HandshakeError {
    fn from(e: CaFileError) -> Self {
        HandshakeError::CaFile(e)
    }
}

/// Why a `ca_file` adds no trusted roots.
#[derive(Debug)]
pub enum CaFileError {
    Read {
        path: PathBuf,
        cause: rustls::pki_types::pem::Error,
    },
    Parse {
        path: PathBuf,
        cause: rustls::pki_types::pem::Error,
    },
    Unusable {
        path: PathBuf,
        cause: rustls::Error,
    },
}

impl fmt::Display for CaFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaFileError::Read { path, cause } => {
                write!(f, "cannot read ca_file {}: {cause}", path.display())
            }
            CaFileError::Parse { path, cause } => {
                write!(f, "cannot parse ca_file {}: {cause}", path.display())
            }
            CaFileError::Unusable { path, cause } => write!(
                f,
                "ca_file {} holds an unusable certificate: {cause}",
                path.display()
            ),
        }
    }
}

impl std::error::Error for CaFileError {}

/// Why the presented certificate does not verify; the handshake went on to describe it.
#[derive(Clone, Debug)]
enum Rejection {
    Invalid(rustls::Error),
    NoCertificate,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::Invalid(e) => f.write_str(&describe_tls_error(e)),
            Rejection::NoCertificate => f.write_str("the server presented no certificate"),
        }
    }
}

#[derive(Debug)]
pub struct TlsProbe {
    pub host: String,
    pub port: u16,
    pub ca_file: Option<PathBuf>,
    pub warn_days: u32,
    pub fail_days: u32,
    pub timeout: Duration,
}

impl TlsProbe {
    pub async fn run(&self) -> Finding {
        let started = Instant::now();
        let target = format!("{}:{}", self.host, self.port);
        let finding = match self.handshake().await {
            Ok((verdict, chain)) => self.judge(&target, verdict, &chain),
            Err(e) => Finding::fail(format!("TLS handshake with {target} failed: {e}")),
        };
        finding.detail("target", target).took(started.elapsed())
    }

    async fn handshake(
        &self,
    ) -> Result<(Result<(), Rejection>, Vec<CertificateDer<'static>>), HandshakeError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = Arc::new(self.roots()?);
        let inner = WebPkiServerVerifier::builder_with_provider(roots, Arc::clone(&provider))
            .build()
            .map_err(HandshakeError::Verifier)?;
        let verifier = Arc::new(RecordingVerifier {
            inner,
            verdict: Mutex::new(None),
        });
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(HandshakeError::Protocols)?
            .dangerous()
            .with_custom_certificate_verifier(verifier.clone())
            .with_no_client_auth();
        let server_name =
            ServerName::try_from(self.host.clone()).map_err(|cause| HandshakeError::HostName {
                host: self.host.clone(),
                cause,
            })?;
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let work = async {
            let tcp = tokio::net::TcpStream::connect((self.host.as_str(), self.port))
                .await
                .map_err(HandshakeError::Connect)?;
            let tls = connector
                .connect(server_name, tcp)
                .await
                .map_err(HandshakeError::Tls)?;
            let chain: Vec<CertificateDer<'static>> = tls
                .get_ref()
                .1
                .peer_certificates()
                .map(|c| c.iter().map(|c| c.clone().into_owned()).collect())
                .unwrap_or_default();
            Ok::<_, HandshakeError>(chain)
        };
        let chain = tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| HandshakeError::Timeout(self.timeout))??;
        let verdict = verifier
            .verdict
            .lock()
            .expect("verdict lock")
            .clone()
            .unwrap_or(Err(Rejection::NoCertificate));
        Ok((verdict, chain))
    }

    fn roots(&self) -> Result<RootCertStore, CaFileError> {
        root_store(self.ca_file.as_deref())
    }

    fn judge(
        &self,
        target: &str,
        verdict: Result<(), Rejection>,
        chain: &[CertificateDer<'_>],
    ) -> Finding {
        let Some(leaf) = chain.first() else {
            return Finding::fail(format!("{target} presented no certificate"));
        };
        let Ok((_, cert)) = x509_parser::parse_x509_certificate(leaf.as_ref()) else {
            return Finding::fail(format!(
                "{target} presented a certificate that cannot be parsed"
            ));
        };
        let not_after = cert.validity().not_after.timestamp();
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let days_left = (not_after - now).div_euclid(86_400);
        let expires = cert
            .validity()
            .not_after
            .to_rfc2822()
            .unwrap_or_else(|_| not_after.to_string());
        let subject = cert.subject().to_string();
        let issuer = cert.issuer().to_string();
        let names: Vec<String> = cert
            .subject_alternative_name()
            .ok()
            .flatten()
            .map(|san| {
                san.value
                    .general_names
                    .iter()
                    .map(|n| n.to_string())
                    .collect()
            })
            .unwrap_or_default();

        let (status, message) = match verdict {
            Err(reason) => (
                Status::Fail,
                format!("the certificate of {target} does not verify: {reason}"),
            ),
            Ok(()) if days_left < i64::from(self.fail_days) => (
                Status::Fail,
                format!(
                    "the certificate of {target} expires in {days_left} days ({expires}); renew it now"
                ),
            ),
            Ok(()) if days_left < i64::from(self.warn_days) => (
                Status::Warn,
                format!(
                    "the certificate of {target} expires in {days_left} days ({expires}); renew it soon"
                ),
            ),
            Ok(()) => (
                Status::Pass,
                format!(
                    "the certificate of {target} verifies and is valid for {days_left} more days"
                ),
            ),
        };
        Finding::new(status, message)
            .detail("subject", subject)
            .detail("issuer", issuer)
            .detail("names", names)
            .detail("not_after", expires)
            .detail("days_left", days_left)
            .detail("warn_days", self.warn_days)
            .detail("fail_days", self.fail_days)
    }
}

/// Asks the standard verifier, remembers its answer, and lets the handshake finish either way.
#[derive(Debug)]
struct RecordingVerifier {
    inner: Arc<WebPkiServerVerifier>,
    verdict: Mutex<Option<Result<(), Rejection>>>,
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verdict = self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            .map(|_| ())
            .map_err(Rejection::Invalid);
        *self.verdict.lock().expect("verdict lock") = Some(verdict);
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The system's trusted roots, plus those of a CA file. Missing or unreadable system roots only
/// narrow what verifies; a CA file can still help.
pub fn root_store(ca_file: Option<&Path>) -> Result<RootCertStore, CaFileError> {
    let mut roots = RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if let Some(path) = ca_file {
        let certs = CertificateDer::pem_file_iter(path).map_err(|cause| CaFileError::Read {
            path: path.to_path_buf(),
            cause,
        })?;
        for cert in certs {
            let cert = cert.map_err(|cause| CaFileError::Parse {
                path: path.to_path_buf(),
                cause,
            })?;
            roots.add(cert).map_err(|cause| CaFileError::Unusable {
                path: path.to_path_buf(),
                cause,
            })?;
        }
    }
    Ok(roots)
}

fn describe_tls_error(e: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    match e {
        rustls::Error::InvalidCertificate(C::UnknownIssuer) => {
            "it is not signed by a trusted CA (add the CA with `ca_file`)".into()
        }
        rustls::Error::InvalidCertificate(C::Expired) => "it has expired".into(),
        rustls::Error::InvalidCertificate(C::ExpiredContext { time, not_after }) => {
            let days = time.as_secs().saturating_sub(not_after.as_secs()) / 86_400;
            format!("it expired {days} days ago")
        }
        rustls::Error::InvalidCertificate(C::NotValidForName) => {
            "it is not valid for this host name".into()
        }
        rustls::Error::InvalidCertificate(C::NotValidForNameContext {
            expected,
            presented,
        }) => {
            format!(
                "it is not valid for {expected:?} (it names {})",
                presented.join(", ")
            )
        }
        rustls::Error::InvalidCertificate(C::NotValidYet) => "it is not valid yet".into(),
        rustls::Error::InvalidCertificate(C::BadSignature) => {
            "its signature does not verify against the trusted CA of that name (was the CA key rotated? check ca_file)"
                .into()
        }
        other => other.to_string(),
    }
}
