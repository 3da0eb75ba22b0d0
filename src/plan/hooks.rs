//! What rollback hooks need from the planner: an `http` hook is a request of the HTTP check
//! kind, bounded by the hook's own timeout rather than a check's.

use std::time::Duration;

use crate::checks::http::HttpProbe;
use crate::config::checks::HttpConfig;
use crate::config::{Located, Resolver};
use crate::error::InputError;

/// The probe of an `http` hook: every request attempt is bounded by `timeout`.
pub fn http_probe(
    resolver: &mut Resolver<'_>,
    http: &Located<HttpConfig>,
    timeout: Duration,
) -> Result<HttpProbe, InputError> {
    let url = resolver.text(&http.url)?;
    let mut probe = super::http::http_probe(resolver, http, url, timeout)?;
    probe.timeout = timeout;
    Ok(probe)
}
