//! `shipgate verify`: the post-deployment checks of `[verify]` and the one-line flags (`--http`,
//! `--sql`). The same check kinds and engine as `preflight`, over another section, plus the
//! kinds only a deployed system has: metrics and logs.

use std::path::PathBuf;
use std::time::Duration;

use super::preflight::{Planner, from_flag, http_probe, text};
use super::{Inputs, Outcome};
use crate::checks::log::LogProbe;
use crate::checks::metrics::{MetricAssertion, MetricsProbe};
use crate::checks::{Aspect, Probe, Unit};
use crate::cli::{GlobalArgs, PreflightArgs, VerifyArgs};
use crate::config::Located;
use crate::config::preflight::{HttpConfig, LogConfig, MetricsConfig, ScalarText, SqlConfig};
use crate::error::InputError;

pub async fn run(
    global: &GlobalArgs,
    args: &VerifyArgs,
    inputs: &Inputs,
) -> Result<Outcome, InputError> {
    let section = inputs.config.config.verify.as_ref();
    super::preflight::run_checks(
        "verify",
        global,
        section,
        &PreflightArgs::default(),
        inputs,
        |plan| {
            plan.verify_flags(args)?;
            plan.sql_flags(args)
        },
    )
    .await
}

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
        let request = http_probe(&mut self.resolver, &http, url, self.check_timeout)?;
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

    pub(super) fn log(&mut self, log: &Located<LogConfig>) -> Result<(), InputError> {
        let loc = self.resolver.table_location(&log.span);
        let path = PathBuf::from(self.resolver.string(&log.path)?);
        if path.as_os_str().is_empty() {
            return Err(self
                .resolver
                .error(&log.path.span, "the log path is empty")
                .help("set `path` (its variable may be unset)"));
        }
        let default_name = path
            .file_stem()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "log".into());
        let needs = self.needs(&log.needs)?;
        let label = log.name.clone().unwrap_or(default_name);
        let name = self.claim("log", &label, log.name.is_some(), &log.span)?;
        let lines = self.resolver.value_or(log.lines.as_ref(), 100)?;
        if lines == 0 || lines > 1_000_000 {
            return Err(self
                .resolver
                .error(&log.span, format!("lines = {lines}: give 1 to 1000000")));
        }
        let pattern = self.resolver.regex(&log.pattern)?;
        let optional = self.resolver.value_or(log.optional.as_ref(), false)?;
        let ignore = log
            .ignore
            .as_ref()
            .map(|i| self.resolver.regex(i))
            .transpose()?;
        self.push(
            Unit {
                kind: "log",
                needs,
                aspects: vec![Aspect::new(
                    format!("log.{name}"),
                    format!("log {label}"),
                    loc,
                )],
                timeout: self.check_timeout,
                probe: Probe::Log(LogProbe {
                    path,
                    lines: lines as usize,
                    pattern,
                    ignore,
                    optional,
                }),
            },
            &label,
        );
        Ok(())
    }

    /// `--database-url URL --sql QUERY --expect VALUE`: each `--sql` one check, compared with
    /// the `--expect` in the same position.
    fn sql_flags(&mut self, args: &VerifyArgs) -> Result<(), InputError> {
        if args.sql.is_empty() {
            if !args.expect.is_empty() {
                return Err(InputError::new(
                    "--expect compares the result of a --sql, and none is given",
                )
                .key("--expect"));
            }
            if args.database_url.is_some() {
                return Err(InputError::new(
                    "--database-url is the database of --sql, and none is given",
                )
                .key("--database-url")
                .help("add --sql QUERY --expect VALUE; to check the database itself, use `shipgate preflight --database-url`"));
            }
            return Ok(());
        }
        let Some(url) = &args.database_url else {
            return Err(InputError::new("--sql needs --database-url").key("--sql"));
        };
        if args.expect.len() != args.sql.len() {
            return Err(InputError::new(format!(
                "{} --sql but {} --expect: give one --expect per --sql, in the same order",
                args.sql.len(),
                args.expect.len()
            ))
            .key("--expect"));
        }
        for (i, (query, expect)) in args.sql.iter().zip(&args.expect).enumerate() {
            let sql = SqlConfig {
                name: if args.sql.len() == 1 {
                    "query".into()
                } else {
                    format!("query-{}", i + 1)
                },
                url: text(url),
                query: text(query),
                expect: Some(ScalarText::Text(expect.clone())),
                expect_at_least: None,
                expect_rows: None,
                expect_empty: None,
                expect_error: None,
                timeout: None,
                needs: Vec::new(),
            };
            self.sql(&Located::unplaced(sql))
                .map_err(|e| from_flag(e, "--sql"))?;
        }
        Ok(())
    }
}
