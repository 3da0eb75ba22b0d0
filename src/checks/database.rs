//! Databases through sqlx: PostgreSQL, MySQL/MariaDB and SQLite. Connects (optionally waiting
//! for the server to come up), then checks version, tables, extensions, latency and connection
//! headroom on that one connection.

use std::time::{Duration, Instant};

use sqlx::{AnyConnection, Connection};

use super::{Finding, skipped_after};
use crate::db::{Backend, describe_error, table_exists};
use crate::report::Status;
use crate::secret::Secret;
use crate::units::{Version, format_duration};

/// The aspects a database unit reports, in order; `Connect` is always first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DbAspect {
    Connect,
    Version,
    Tables,
    Extensions,
    Latency,
    Connections,
    Migrations,
}

impl super::AspectKind for DbAspect {
    fn id_suffix(self) -> &'static str {
        match self {
            DbAspect::Connect => "",
            DbAspect::Version => ".version",
            DbAspect::Tables => ".tables",
            DbAspect::Extensions => ".extensions",
            DbAspect::Latency => ".latency",
            DbAspect::Connections => ".connections",
            DbAspect::Migrations => ".migrations",
        }
    }

    fn title(self) -> &'static str {
        match self {
            DbAspect::Connect => "connection",
            DbAspect::Version => "server version",
            DbAspect::Tables => "required tables",
            DbAspect::Extensions => "extensions",
            DbAspect::Latency => "SELECT 1 latency",
            DbAspect::Connections => "connection headroom",
            DbAspect::Migrations => "migrations",
        }
    }
}

/// A database URL left empty by its unset variables: the check's failure, not wrong input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmptyUrl {
    /// The variables that were not set.
    pub unset: Vec<String>,
}

impl std::fmt::Display for EmptyUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the database URL is empty")?;
        if !self.unset.is_empty() {
            write!(f, ": {} is not set", self.unset.join(", "))?;
        }
        Ok(())
    }
}

impl std::error::Error for EmptyUrl {}

/// Why a connected server gave no version: it does not answer queries.
#[derive(Debug)]
enum NoAnswer {
    Failed(sqlx::Error),
    Timeout(Duration),
}

impl std::fmt::Display for NoAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NoAnswer::Failed(e) => f.write_str(&describe_error(e)),
            NoAnswer::Timeout(d) => write!(f, "no answer within {}", format_duration(*d)),
        }
    }
}

#[derive(Debug)]
pub struct DatabaseProbe {
    pub name: String,
    pub url: Secret,
    /// The URL with its password masked, for messages.
    pub shown_url: String,
    /// The backend, or why the URL names none (reported as a failed connection).
    pub backend: Result<Backend, EmptyUrl>,
    pub wait: Duration,
    pub attempt_timeout: Duration,
    pub min_version: Option<Version>,
    pub tables: Vec<String>,
    pub extensions: Vec<String>,
    pub latency_warn: Duration,
    pub latency_fail: Duration,
    pub connections_warn_percent: u8,
    pub connections_fail_percent: u8,
    pub aspects: Vec<DbAspect>,
    /// Migrations to compare with the database's history.
    pub migrations: Option<(crate::migrate::Source, crate::migrate::History)>,
}

impl DatabaseProbe {
    /// The aspects to report for this configuration.
    pub fn plan(
        backend: Option<Backend>,
        min_version: bool,
        tables: bool,
        extensions: bool,
        migrations: bool,
    ) -> Vec<DbAspect> {
        let mut aspects = vec![DbAspect::Connect];
        if min_version {
            aspects.push(DbAspect::Version);
        }
        if tables {
            aspects.push(DbAspect::Tables);
        }
        if extensions {
            aspects.push(DbAspect::Extensions);
        }
        aspects.push(DbAspect::Latency);
        if backend != Some(Backend::Sqlite) {
            aspects.push(DbAspect::Connections);
        }
        if migrations {
            aspects.push(DbAspect::Migrations);
        }
        aspects
    }

    pub async fn run(&self, aspect_count: usize) -> Vec<Finding> {
        let started = Instant::now();
        let backend = match &self.backend {
            Ok(b) => *b,
            Err(problem) => {
                let mut f = vec![Finding::fail(problem.to_string())];
                f.extend(skipped_after(
                    &format!("database {} has no usable URL", self.name),
                    aspect_count - 1,
                ));
                return f;
            }
        };
        let (mut conn, attempts) = match self.connect().await {
            Ok(c) => c,
            Err((error, attempts)) => {
                let mut error = error.to_string();
                if backend == Backend::Sqlite && error.contains("unable to open") {
                    error.push_str(" (does the file exist? shipgate never creates a database)");
                }
                let waited = if self.wait.is_zero() {
                    String::new()
                } else {
                    format!(
                        " after {attempts} attempts over {}",
                        format_duration(started.elapsed())
                    )
                };
                let mut f = vec![
                    Finding::fail(format!(
                        "cannot connect to {}{waited}: {error}",
                        self.shown_url
                    ))
                    .detail("url", self.shown_url.clone())
                    .detail("attempts", attempts)
                    .took(started.elapsed()),
                ];
                f.extend(skipped_after(
                    &format!("database {} is not reachable", self.name),
                    aspect_count - 1,
                ));
                return f;
            }
        };
        let connected_in = started.elapsed();
        // A server (or file) that accepts the connection but answers no query is not usable:
        // that is the connection failing, not every later check failing on its own.
        let version_query =
            tokio::time::timeout(self.attempt_timeout, server_version(&mut conn, backend));
        let version_text = match version_query
            .await
            .unwrap_or(Err(NoAnswer::Timeout(self.attempt_timeout)))
        {
            Ok(text) => text,
            Err(error) => {
                let mut f = vec![
                    Finding::fail(format!(
                        "connected to {}, but it does not answer queries: {error}",
                        self.shown_url
                    ))
                    .detail("url", self.shown_url.clone())
                    .took(started.elapsed()),
                ];
                f.extend(skipped_after(
                    &format!("database {} does not answer queries", self.name),
                    aspect_count - 1,
                ));
                return f;
            }
        };
        let product = product_name(backend, &version_text);
        let version = Version::find(&version_text);

        let mut findings = Vec::new();
        for aspect in &self.aspects {
            let t = Instant::now();
            let finding = match aspect {
                DbAspect::Connect => Finding::pass(format!(
                    "connected to {product} {} in {}",
                    version
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                    format_duration(connected_in)
                ))
                .detail("url", self.shown_url.clone())
                .detail("server", product)
                .detail("server_version", version_text.clone())
                .detail("attempts", attempts)
                .took(connected_in),
                DbAspect::Version => self.check_version(product, version.as_ref(), &version_text),
                DbAspect::Tables => self.bounded(self.check_tables(&mut conn, backend)).await,
                DbAspect::Extensions => {
                    self.bounded(self.check_extensions(&mut conn, backend))
                        .await
                }
                DbAspect::Latency => self.bounded(self.check_latency(&mut conn)).await,
                DbAspect::Migrations => {
                    self.bounded(self.check_migrations(&mut conn, backend))
                        .await
                }
                DbAspect::Connections => {
                    self.bounded(self.check_connections(&mut conn, backend))
                        .await
                }
            };
            findings.push(if finding.duration.is_some() {
                finding
            } else {
                finding.took(t.elapsed())
            });
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), conn.close()).await;
        findings
    }

    /// Each query after connecting gets the check's timeout of its own, so a hung query is
    /// reported on its aspect instead of as a failed connection.
    async fn bounded(&self, query: impl std::future::Future<Output = Finding>) -> Finding {
        tokio::time::timeout(self.attempt_timeout, query)
            .await
            .unwrap_or_else(|_| {
                Finding::fail(format!(
                    "no answer within {}",
                    format_duration(self.attempt_timeout)
                ))
            })
    }

    /// Connects, retrying with backoff until `wait` has passed (one attempt when it is zero).
    async fn connect(&self) -> Result<(AnyConnection, u32), (crate::db::Error, u32)> {
        let deadline = Instant::now() + self.wait;
        let mut delay = Duration::from_millis(100);
        let mut attempts = 0;
        loop {
            attempts += 1;
            let error = match crate::db::connect(self.url.expose(), self.attempt_timeout).await {
                Ok(conn) => return Ok((conn, attempts)),
                Err(e) => e,
            };
            let now = Instant::now();
            if now + delay >= deadline {
                return Err((error, attempts));
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(2));
        }
    }

    fn check_version(&self, product: &str, version: Option<&Version>, text: &str) -> Finding {
        let Some(min) = &self.min_version else {
            return Finding::pass("no minimum version set");
        };
        match version {
            Some(v) if v >= min => Finding::pass(format!("{product} {v} is at least {min}")),
            Some(v) => Finding::fail(format!(
                "{product} {v} is older than the required {min}; upgrade the server"
            )),
            None => Finding::fail(format!(
                "cannot find a version number in the server's answer `{text}`"
            )),
        }
        .detail("min_version", min.to_string())
        .detail("server_version", version.map(ToString::to_string))
    }

    async fn check_tables(&self, conn: &mut AnyConnection, backend: Backend) -> Finding {
        let mut missing = Vec::new();
        for table in &self.tables {
            match table_exists(conn, backend, table).await {
                Ok(true) => {}
                Ok(false) => missing.push(table.clone()),
                Err(e) => return Finding::fail(format!("cannot look up table {table}: {e}")),
            }
        }
        let finding = if missing.is_empty() {
            Finding::pass(format!(
                "all {} required tables exist: {}",
                self.tables.len(),
                self.tables.join(", ")
            ))
        } else {
            Finding::fail(format!(
                "required {} missing: {}; apply the migrations that create {}",
                if missing.len() == 1 {
                    "table is"
                } else {
                    "tables are"
                },
                missing.join(", "),
                if missing.len() == 1 { "it" } else { "them" }
            ))
        };
        finding
            .detail("required", self.tables.clone())
            .detail("missing", missing)
    }

    async fn check_extensions(&self, conn: &mut AnyConnection, backend: Backend) -> Finding {
        if backend != Backend::Postgres {
            return Finding::fail(
                "extensions are a PostgreSQL feature; remove `extensions` for this database",
            );
        }
        let installed: Vec<String> =
            match sqlx::query_scalar("SELECT extname::text FROM pg_extension")
                .fetch_all(&mut *conn)
                .await
            {
                Ok(v) => v,
                Err(e) => {
                    return Finding::fail(format!(
                        "cannot list extensions: {}",
                        describe_error(&e)
                    ));
                }
            };
        let missing: Vec<String> = self
            .extensions
            .iter()
            .filter(|e| !installed.iter().any(|i| i == *e))
            .cloned()
            .collect();
        let finding = if missing.is_empty() {
            Finding::pass(format!(
                "extensions installed: {}",
                self.extensions.join(", ")
            ))
        } else {
            Finding::fail(format!(
                "extensions not installed: {}; run CREATE EXTENSION as a superuser",
                missing.join(", ")
            ))
        };
        finding
            .detail("required", self.extensions.clone())
            .detail("missing", missing)
    }

    /// The median of three `SELECT 1` round trips, so one scheduling hiccup does not fail a deploy.
    async fn check_latency(&self, conn: &mut AnyConnection) -> Finding {
        let mut samples = Vec::with_capacity(3);
        for _ in 0..3 {
            let t = Instant::now();
            if let Err(e) = sqlx::query_scalar::<_, i32>("SELECT 1")
                .fetch_one(&mut *conn)
                .await
            {
                return Finding::fail(format!("SELECT 1 failed: {}", describe_error(&e)));
            }
            samples.push(t.elapsed());
        }
        samples.sort();
        let median = samples[1];
        let status = Finding::graded(median, self.latency_warn, self.latency_fail);
        let message = match status {
            Status::Pass => format!("SELECT 1 round trip {}", format_duration(median)),
            _ => format!(
                "SELECT 1 round trip {} is above the {} threshold of {}",
                format_duration(median),
                if status == Status::Fail {
                    "fail"
                } else {
                    "warn"
                },
                format_duration(if status == Status::Fail {
                    self.latency_fail
                } else {
                    self.latency_warn
                })
            ),
        };
        Finding::new(status, message)
            .detail("latency_ms", crate::units::millis(median))
            .detail("warn_ms", self.latency_warn.as_millis() as u64)
            .detail("fail_ms", self.latency_fail.as_millis() as u64)
    }

    /// Pending migrations are expected before a deploy; changed or half-applied ones are not.
    async fn check_migrations(&self, conn: &mut AnyConnection, backend: Backend) -> Finding {
        use crate::migrate::{Plan, PlanOptions as Options, State, initial_rows};
        let Some((source, history)) = &self.migrations else {
            return Finding::pass("no migrations configured");
        };
        // Without shipgate's history, what the first `migrate` starts from: another tool's
        // history (Prisma, Flyway, sqlx, ...) counts as applied here as it will there.
        let (rows, adoption) = match history.exists(conn).await {
            Ok(true) => match history.rows(conn).await {
                Ok(rows) => (rows, None),
                Err(e) => return Finding::fail(e.to_string()),
            },
            Ok(false) => match initial_rows(conn, backend, None, source).await {
                Ok(found) => found,
                Err(e) => return Finding::fail(e.to_string()),
            },
            Err(e) => return Finding::fail(e.to_string()),
        };
        let plan = match Plan::new(source, &rows, &Options::default()) {
            Ok(p) => p,
            Err(e) => return Finding::fail(e.to_string()),
        };
        let (pending, drifted) = (plan.pending(), plan.drifted());
        let partial = plan
            .items
            .iter()
            .filter(|i| matches!(i.state, State::Partial { .. } | State::Reverting { .. }))
            .count();
        let applied = plan
            .items
            .iter()
            .filter(|i| i.state == State::Applied)
            .count();
        let finding = if drifted + partial > 0 {
            Finding::fail(format!(
                "{drifted} applied migrations changed since, {partial} stopped part-way: run `shipgate migrate --check` for details"
            ))
        } else if pending > 0 {
            Finding::pass(format!(
                "{applied} applied, {pending} pending (shipgate migrate applies them)"
            ))
        } else {
            Finding::pass(format!("up to date: {applied} migrations applied"))
        };
        let finding = match &adoption {
            Some(how) => {
                let message = format!("{}; the first migrate will have {how}", finding.message);
                Finding { message, ..finding }
            }
            None => finding,
        };
        finding
            .detail("adoption", adoption)
            .detail("applied", applied)
            .detail("pending", pending)
            .detail("drifted", drifted)
            .detail("partial", partial)
            .detail("missing_files", plan.missing.len())
            .detail("table", history.table.clone())
    }

    async fn check_connections(&self, conn: &mut AnyConnection, backend: Backend) -> Finding {
        let counts = match backend {
            Backend::Postgres => {
                let used = sqlx::query_scalar::<_, i64>(
                    // Background workers are listed too but do not count against max_connections.
                    "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'",
                )
                .fetch_one(&mut *conn)
                .await;
                let max = sqlx::query_scalar::<_, i64>(
                    "SELECT setting::int8 FROM pg_settings WHERE name = 'max_connections'",
                )
                .fetch_one(&mut *conn)
                .await;
                used.and_then(|u| max.map(|m| (u, m)))
            }
            Backend::MySql => {
                let used = sqlx::query_as::<_, (String, String)>(
                    "SHOW GLOBAL STATUS LIKE 'Threads_connected'",
                )
                .fetch_one(&mut *conn)
                .await
                .map(|(_, v)| v.parse::<i64>().unwrap_or(0));
                let max = sqlx::query_scalar::<_, i64>("SELECT CAST(@@max_connections AS SIGNED)")
                    .fetch_one(&mut *conn)
                    .await;
                used.and_then(|u| max.map(|m| (u, m)))
            }
            Backend::Sqlite => return Finding::skip("SQLite has no connection limit"),
        };
        let (used, max) = match counts {
            Ok(c) => c,
            Err(e) => {
                return Finding::warn(format!(
                    "cannot read connection counts: {}",
                    describe_error(&e)
                ));
            }
        };
        let percent = if max > 0 {
            used as f64 * 100.0 / max as f64
        } else {
            0.0
        };
        let status = Finding::graded(
            percent,
            f64::from(self.connections_warn_percent),
            f64::from(self.connections_fail_percent),
        );
        let message = format!("{used} of {max} connections in use ({percent:.0}%)");
        let message = match status {
            Status::Pass => message,
            _ => format!(
                "{message}, above {}%; a deploy that opens new pools may be refused",
                if status == Status::Fail {
                    self.connections_fail_percent
                } else {
                    self.connections_warn_percent
                }
            ),
        };
        Finding::new(status, message)
            .detail("connections", used)
            .detail("max_connections", max)
            .detail("percent", (percent * 10.0).round() / 10.0)
    }
}

async fn server_version(conn: &mut AnyConnection, backend: Backend) -> Result<String, NoAnswer> {
    let sql = match backend {
        Backend::Postgres => "SHOW server_version",
        Backend::MySql => "SELECT VERSION()",
        Backend::Sqlite => "SELECT sqlite_version()",
    };
    sqlx::query_scalar::<_, String>(sql)
        .fetch_one(&mut *conn)
        .await
        .map_err(NoAnswer::Failed)
}

fn product_name(backend: Backend, version: &str) -> &'static str {
    match backend {
        Backend::Postgres => "PostgreSQL",
        Backend::MySql if version.to_ascii_lowercase().contains("mariadb") => "MariaDB",
        Backend::MySql => "MySQL",
        Backend::Sqlite => "SQLite",
    }
}
