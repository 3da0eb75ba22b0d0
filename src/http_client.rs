//! The one HTTP client of a run, and the process-wide rustls crypto provider that every TLS
//! user (reqwest, the rate-limit sender, octocrab) needs installed first.

use std::sync::Once;
use std::time::Duration;

/// The one HTTP client of a run: rustls with the system's roots, a connect timeout so no
/// request can hang on a dead host, and no redirects followed: like curl in a runbook, a
/// `/health` that redirects to a login page must not pass as the login page's 200.
pub fn client() -> reqwest::Client {
    client_with(&ClientOptions::default()).expect("the HTTP client builds with static settings")
}

/// What an HTTP check may change in its client.
#[derive(Default)]
pub struct ClientOptions {
    /// Redirects to follow; 0 follows none.
    pub redirects: u8,
    /// Extra trusted CA certificates (PEM), besides the system's.
    pub extra_roots: Vec<reqwest::Certificate>,
    /// Accept any certificate.
    pub insecure: bool,
}

pub fn client_with(options: &ClientOptions) -> Result<reqwest::Client, reqwest::Error> {
    install_crypto_provider();
    let redirect = match options.redirects {
        0 => reqwest::redirect::Policy::none(),
        n => reqwest::redirect::Policy::limited(n.into()),
    };
    reqwest::Client::builder()
        .user_agent(concat!("shipgate/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10))
        .redirect(redirect)
        .tls_certs_merge(options.extra_roots.iter().cloned())
        .danger_accept_invalid_certs(options.insecure)
        .build()
}

/// rustls needs one process-wide crypto provider; shipgate uses ring everywhere.
pub fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
