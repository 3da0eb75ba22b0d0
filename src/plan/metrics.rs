//! `[[verify.metrics]]`: a Prometheus scrape (a GET of the HTTP kind) and assertions on it.

use std::time::Duration;

use super::Planner;
use crate::checks::metrics::{MetricAssertion, MetricsProbe};
use crate::checks::{Aspect, Probe, Unit};
use crate::config::Located;
use crate::config::checks::{HttpConfig, MetricsConfig};
use crate::error::InputError;

impl Planner<'_> {
    pub(super) fn metrics(&mut self, metrics: &Located<MetricsConfig>) -> Result<(), InputError> {
        let loc = self.resolver.table_location(&metrics.span);
        let needs = self.needs(&metrics.needs)?;
        let label = metrics.name.clone().unwrap_or_else(|| "metrics".into());
        let name = self.claim("metrics", &label, metrics.name.is_some(), &metrics.span)?;
        if metrics.expect.is_empty() {
            return Err(self
                .resolver
                .error(&metrics.span, "a metrics check needs at least one `expect`")
                .help(r#"e.g. expect = ['lp_health{component="database"} == 1']"#));
        }
        let mut assertions = Vec::new();
        for text in &metrics.expect {
            let value = self.resolver.string(text)?;
            assertions.push(
                MetricAssertion::parse(&value).map_err(|e| self.resolver.error(&text.span, e))?,
            );
        }
        // The scrape is a plain GET of the HTTP check kind, asking for the text format: an
        // endpoint that also speaks protobuf or OpenMetrics must not pick those.
        let mut http = HttpConfig::get(metrics.url.clone());
        http.headers = metrics.headers.clone();
        if !http
            .headers
            .keys()
            .any(|k| k.eq_ignore_ascii_case("accept"))
        {
            http.headers.insert(
                "Accept".into(),
                Located::unplaced("text/plain;version=0.0.4;q=1,*/*;q=0.1".into()),
            );
        }
        http.timeout = metrics.timeout.clone();
        let http = Located {
            value: http,
            span: metrics.span.clone(),
        };
        let url = self.resolver.text(&metrics.url)?;
        let request = super::http::http_probe(&mut self.resolver, &http, url, self.check_timeout)?;
        let timeout = request.timeout;
        self.push(
            Unit {
                kind: "metrics",
                needs,
                aspects: vec![Aspect::new(
                    format!("metrics.{name}"),
                    format!("metrics {label}"),
                    loc,
                )],
                // The headers, then the body: each within `timeout`.
                timeout: timeout * 2 + Duration::from_secs(1),
                probe: Probe::Metrics(MetricsProbe {
                    request,
                    assertions,
                }),
            },
            &label,
        );
        Ok(())
    }
}
