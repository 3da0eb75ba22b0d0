//! `[[verify.prometheus]]`: a PromQL query POSTed to a Prometheus server's HTTP API (a request
//! of the HTTP kind) and what its result must be.

use std::time::Duration;

use super::Planner;
use crate::checks::prometheus::{Expect, Expectation, MAX_POINTS, PrometheusProbe, Window};
use crate::checks::{Aspect, Probe, Unit};
use crate::config::Located;
use crate::config::checks::{HttpConfig, PrometheusConfig};
use crate::config::interp::Interpolated;
use crate::error::InputError;
use crate::secret::mask_url;
use crate::units::format_duration;

impl Planner<'_> {
    pub(super) fn prometheus(
        &mut self,
        prom: &Located<PrometheusConfig>,
    ) -> Result<(), InputError> {
        let loc = self.resolver.table_location(&prom.span);
        let needs = self.needs(&prom.needs)?;
        let label = prom.name.clone().unwrap_or_else(|| "prometheus".into());
        let name = self.claim("prometheus", &label, prom.name.is_some(), &prom.span)?;
        let query = self.resolver.string(&prom.query)?;
        if query.trim().is_empty() {
            return Err(self
                .resolver
                .error(&prom.query.span, "the PromQL query is empty")
                .help(r#"e.g. query = 'sum(rate(http_requests_total{code=~"5.."}[5m])) / sum(rate(http_requests_total[5m]))'"#));
        }
        let expect = self.prometheus_expect(prom)?;
        let window = self.prometheus_window(prom)?;
        let url = self.resolver.text(&prom.url)?;
        let shown_url = mask_url(&url.value);
        let endpoint = if window.is_some() {
            "query_range"
        } else {
            "query"
        };
        let api = self.prometheus_api_url(prom, url, endpoint)?;
        // The query goes as a form in a POST, as Prometheus' own UI sends it: a long expression
        // does not run into URL length limits. A range's start and end are added when it is sent.
        let mut http = HttpConfig::get(prom.url.clone());
        http.method = Some("POST".into());
        http.headers = prom.headers.clone();
        if !http
            .headers
            .keys()
            .any(|k| k.eq_ignore_ascii_case("content-type"))
        {
            http.headers.insert(
                "Content-Type".into(),
                Located::unplaced("application/x-www-form-urlencoded".into()),
            );
        }
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("query", &query)
            .finish();
        http.body = Some(Located::unplaced(form));
        http.timeout = prom.timeout.clone();
        http.ca_file = prom.ca_file.clone();
        http.insecure = prom.insecure.clone();
        http.retry = prom.retry.clone();
        let http = Located {
            value: http,
            span: prom.span.clone(),
        };
        let request = super::http::http_probe(&mut self.resolver, &http, api, self.check_timeout)?;
        let timeout = request.timeout;
        self.push(
            Unit {
                kind: "prometheus",
                needs,
                aspects: vec![Aspect::new(
                    format!("prometheus.{name}"),
                    format!("prometheus {label}"),
                    loc,
                )],
                // The retry window, then one last request: the headers, then the body, each
                // within `timeout`.
                timeout: request.retry.as_ref().map_or(Duration::ZERO, |r| r.timeout)
                    + timeout * 2
                    + Duration::from_secs(1),
                probe: Probe::Prometheus(PrometheusProbe {
                    request,
                    shown_url,
                    query,
                    window,
                    expect,
                }),
            },
            &label,
        );
        Ok(())
    }

    /// `expect`, `expect_empty = true`, or `expect_empty = false` alone (at least one series).
    fn prometheus_expect(
        &mut self,
        prom: &Located<PrometheusConfig>,
    ) -> Result<Expect, InputError> {
        let empty = self.resolver.optional(prom.expect_empty.as_ref())?;
        match (prom.expect.is_empty(), empty) {
            (false, Some(true)) => Err(self
                .resolver
                .error(
                    &prom.span,
                    "`expect` compares the values of the result, and `expect_empty = true` wants none",
                )
                .help("keep one of them")),
            (true, None) => Err(self
                .resolver
                .error(
                    &prom.span,
                    "a prometheus check needs `expect` or `expect_empty`",
                )
                .help(r#"e.g. expect = ["< 0.01"], or expect_empty = true for a query that must return nothing (firing alerts)"#)),
            (true, Some(true)) => Ok(Expect::Empty),
            (true, Some(false)) => Ok(Expect::NotEmpty),
            (false, _) => {
                let mut list = Vec::new();
                for text in &prom.expect {
                    let value = self.resolver.string(text)?;
                    list.push(
                        Expectation::parse(&value)
                            .map_err(|e| self.resolver.error(&text.span, e))?,
                    );
                }
                Ok(Expect::Values(list))
            }
        }
    }

    /// `for` and `step`: the window a range query judges.
    fn prometheus_window(
        &mut self,
        prom: &Located<PrometheusConfig>,
    ) -> Result<Option<Window>, InputError> {
        let Some(for_text) = &prom.for_ else {
            if let Some(step) = &prom.step {
                return Err(self
                    .resolver
                    .error(
                        &step.span,
                        "`step` is the resolution of a `for` window, and `for` is not set",
                    )
                    .help(r#"add e.g. for = "5m", or remove `step`"#));
            }
            return Ok(None);
        };
        let length = self.resolver.duration(for_text)?;
        if length.is_zero() {
            return Err(self
                .resolver
                .error(
                    &for_text.span,
                    "`for` is zero: give the time the values must hold, e.g. \"5m\"",
                )
                .help("without `for`, the check looks at the values now"));
        }
        let step = match &prom.step {
            Some(text) => {
                let step = self.resolver.duration(text)?;
                if step.is_zero() || step > length {
                    return Err(self
                        .resolver
                        .error(
                            &text.span,
                            format!(
                                "step = {}: give more than zero and at most `for` ({})",
                                format_duration(step),
                                format_duration(length)
                            ),
                        )
                        .help(
                            "the time between two evaluated points of the window, e.g. \"15s\"",
                        ));
                }
                step
            }
            None => Window::default_step(length),
        };
        let window = Window { length, step };
        if window.points() > MAX_POINTS {
            return Err(self
                .resolver
                .error(
                    &prom.span,
                    format!(
                        "for = {} at a step of {} is {} points; Prometheus answers at most {MAX_POINTS} per series",
                        format_duration(length),
                        format_duration(step),
                        window.points()
                    ),
                )
                .help("raise `step`"));
        }
        Ok(Some(window))
    }

    /// `<base>/api/v1/<endpoint>` from the server's base URL (which may have a path prefix,
    /// as behind a proxy). A URL that is already an API endpoint is refused: it is the base
    /// that is asked for.
    fn prometheus_api_url(
        &self,
        prom: &Located<PrometheusConfig>,
        mut url: Interpolated,
        endpoint: &str,
    ) -> Result<Interpolated, InputError> {
        // An empty or broken URL is left to the HTTP request builder, which says why.
        let Ok(mut parsed) = url::Url::parse(&url.value) else {
            return Ok(url);
        };
        let path = parsed.path().trim_end_matches('/').to_string();
        if path.ends_with("/api/v1") || path.contains("/api/v1/") {
            return Err(self
                .resolver
                .error(
                    &prom.url.span,
                    format!(
                        "`{}` is an API path: give the Prometheus server's base URL",
                        mask_url(&url.value)
                    ),
                )
                .help("e.g. url = \"http://prometheus:9090\"; shipgate adds /api/v1/query"));
        }
        parsed.set_path(&format!("{path}/api/v1/{endpoint}"));
        url.value = parsed.to_string();
        Ok(url)
    }
}
