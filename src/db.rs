//! What the database checks and the migration engine share: which backend a URL names, the
//! connection, and sqlx errors in words.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use sqlx::{AnyConnection, Connection};

use crate::units::format_duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    MySql,
    Sqlite,
}

/// Why a database URL names no backend. Never holds the URL's text: it may hold a password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UrlError {
    Empty,
    NotAUrl,
    /// A real scheme, but not one shipgate speaks.
    Scheme(String),
    /// A server URL that does not parse (`host:port` left from a template, a password with a
    /// raw `/` or `#`): why, and the text with its password masked (masking does not parse).
    Malformed {
        why: url::ParseError,
        masked: String,
    },
}

impl std::fmt::Display for UrlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UrlError::Empty => f.write_str("the database URL is empty"),
            UrlError::NotAUrl => f.write_str(
                "the database URL is not a URL (its text is not shown: it may hold a password); \
                 write postgres://user:password@host:5432/db, mysql://…, mariadb://… or sqlite://path",
            ),
            UrlError::Scheme(other) => write!(
                f,
                "the database URL has the scheme `{other}`; use postgres://, mysql://, mariadb:// or sqlite://"
            ),
            UrlError::Malformed { why, masked } => write!(
                f,
                "the database URL `{masked}` cannot be read: {why}; write \
                 postgres://user:password@host:5432/db, with `/`, `#`, `?` or `@` in the \
                 password percent-encoded (`/` is %2F, `#` is %23)"
            ),
        }
    }
}

impl std::error::Error for UrlError {}

/// Why a database call did not succeed; each message is rendered here, once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// The driver could not connect (its words; the URL is never part of them).
    Connect(String),
    /// No connection within the connect timeout.
    ConnectTimeout(Duration),
    /// A statement failed while shipgate was `doing` something ("cannot read the history table
    /// t"); `cause` is the server's words.
    Statement { doing: String, cause: String },
    /// A statement failed; the server's words are all there is to say.
    Server(String),
    /// The server refused a setting that bounds a frozen session.
    Limits { sql: String, cause: String },
    /// The server did not answer `what` within [`QUERY_TIMEOUT`].
    NoAnswer { what: String },
    /// Connecting failed for an earlier check of the same database; this one queued behind it.
    FailedEarlier(Box<Error>),
    /// The shared connections were closed (the run is ending).
    PoolClosed,
}

impl Error {
    /// A failed statement, with what shipgate was doing.
    pub fn statement(doing: impl Into<String>, e: &sqlx::Error) -> Error {
        Error::Statement {
            doing: doing.into(),
            cause: describe_error(e),
        }
    }

    /// A failed statement, in the server's words alone.
    pub fn server(e: &sqlx::Error) -> Error {
        Error::Server(describe_error(e))
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Connect(cause) | Error::Server(cause) => f.write_str(cause),
            Error::ConnectTimeout(after) => {
                write!(f, "no answer within {}", format_duration(*after))
            }
            Error::Statement { doing, cause } => write!(f, "{doing}: {cause}"),
            Error::Limits { sql, cause } => write!(
                f,
                "cannot set the session's time limits (`{sql}`): {cause}; a server or pooler that refuses this setting cannot bound a frozen session"
            ),
            Error::NoAnswer { what } => write!(
                f,
                "the database did not answer {what} within {}: check the server and the network, then re-run",
                format_duration(QUERY_TIMEOUT)
            ),
            Error::FailedEarlier(e) => {
                write!(f, "{e} (found by an earlier check of this database)")
            }
            Error::PoolClosed => f.write_str("the connection pool is closed"),
        }
    }
}

impl std::error::Error for Error {}

impl Backend {
    /// The backend a URL's scheme names, and the URL sqlx accepts for it.
    pub fn from_url(url: &str) -> Result<(Backend, String), UrlError> {
        if url.trim().is_empty() {
            return Err(UrlError::Empty);
        }
        // Only a real scheme is echoed: the text before a colon of something that is not a
        // URL (`host=db password=ab:cd`) may be a password.
        let scheme = url.split_once(':').map(|(s, _)| s).filter(|s| {
            s.starts_with(|c: char| c.is_ascii_alphabetic())
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c))
        });
        let Some(scheme) = scheme else {
            return Err(UrlError::NotAUrl);
        };
        // A server URL that cannot parse would fail every connection attempt the same way:
        // said once, before a `wait` retries it for its whole duration.
        if scheme != "sqlite" {
            url::Url::parse(url).map_err(|why| UrlError::Malformed {
                why,
                masked: crate::secret::mask_url(url),
            })?;
        }
        match scheme {
            "postgres" | "postgresql" => Ok((Backend::Postgres, url.to_string())),
            "mysql" => Ok((Backend::MySql, url.to_string())),
            // sqlx speaks the MySQL protocol MariaDB uses, under the `mysql` scheme.
            "mariadb" => Ok((Backend::MySql, format!("mysql{}", &url["mariadb".len()..]))),
            "sqlite" => Ok((Backend::Sqlite, url.to_string())),
            other => Err(UrlError::Scheme(other.to_string())),
        }
    }
}

impl Backend {
    /// The placeholder of the `n`th (1-based) bind parameter in this backend's SQL.
    pub fn param(self, n: usize) -> String {
        match self {
            Backend::Postgres => format!("${n}"),
            Backend::MySql | Backend::Sqlite => "?".to_string(),
        }
    }
}

/// A SQLite URL that cannot create or change the file (`mode=ro`), for runs that promise to
/// change nothing.
pub fn sqlite_read_only(url: &str) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let path = base
        .strip_prefix("sqlite://")
        .or_else(|| base.strip_prefix("sqlite:"))
        .unwrap_or(base);
    if path != ":memory:" && !std::path::Path::new(path).exists() {
        // Not created yet: what a run would see is an empty database.
        return "sqlite::memory:".to_string();
    }
    let mut params: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("mode="))
        .collect();
    params.push("mode=ro");
    format!("{base}?{}", params.join("&"))
}

/// Bounds how long a statement waits for a lock held by someone else: an `ALTER TABLE` queued
/// behind a long transaction would otherwise wait for ever, and on PostgreSQL make every later
/// query on that table queue behind it.
pub async fn limit_lock_waits(
    conn: &mut AnyConnection,
    backend: Backend,
    timeout: Duration,
) -> Result<(), Error> {
    let ms = timeout.as_millis().max(1);
    let sql = match backend {
        Backend::Postgres => format!("SET lock_timeout = {ms}"),
        // lock_wait_timeout covers metadata locks (ALTER, DROP); row locks of UPDATE and DELETE
        // wait on innodb_lock_wait_timeout.
        Backend::MySql => format!(
            "SET SESSION lock_wait_timeout = {0}, SESSION innodb_lock_wait_timeout = {0}",
            ms.div_ceil(1000)
        ),
        Backend::Sqlite => format!("PRAGMA busy_timeout = {ms}"),
    };
    sqlx::Executor::execute(&mut *conn, sqlx::AssertSqlSafe(sql))
        .await
        .map(|_| ())
        .map_err(|e| Error::statement("cannot set the lock wait timeout", &e))
}

/// A session that shipgate never leaves idle inside a transaction: the server ends it after this
/// long idle in one (its client froze or vanished mid-migration), which rolls the migration back
/// and frees the migration lock for the next run.
const IDLE_IN_TRANSACTION: Duration = Duration::from_secs(60);

/// How often PostgreSQL (14+) checks, during a long statement, that the client is still there.
const CLIENT_CHECK: Duration = Duration::from_secs(5);

/// Server-side bounds of a migrate or rollback session, so that what a client which stopped
/// answering left behind ends too: no statement outlives the run's `deadline`, an abandoned
/// transaction is rolled back (PostgreSQL), and the server's reads and writes to the client are
/// bounded (MySQL). Client-side, the run's deadline bounds every wait.
pub async fn limit_session(
    conn: &mut AnyConnection,
    backend: Backend,
    deadline: Option<Duration>,
) -> Result<(), Error> {
    let mut required = Vec::new();
    let mut optional = Vec::new();
    match backend {
        Backend::Postgres => {
            required.push(format!(
                "SET idle_in_transaction_session_timeout = {}",
                IDLE_IN_TRANSACTION.as_millis()
            ));
            if let Some(d) = deadline {
                // The server's setting is an int of milliseconds: a longer deadline is "none".
                let ms = d.as_millis().clamp(1, i32::MAX as u128);
                required.push(format!("SET statement_timeout = {ms}"));
            }
            // PostgreSQL 14+; older servers only notice a gone client when they next write.
            optional.push(format!(
                "SET client_connection_check_interval = {}",
                CLIENT_CHECK.as_millis()
            ));
        }
        Backend::MySql => {
            required
                .push("SET SESSION net_read_timeout = 30, SESSION net_write_timeout = 60".into());
            if let Some(d) = deadline {
                // MariaDB; MySQL has no equivalent for DDL (its max_execution_time is for SELECT).
                optional.push(format!(
                    "SET SESSION max_statement_time = {:.3}",
                    d.as_secs_f64().max(0.001)
                ));
            }
        }
        Backend::Sqlite => {}
    }
    for sql in required {
        sqlx::Executor::execute(&mut *conn, sqlx::AssertSqlSafe(sql.clone()))
            .await
            .map_err(|e| Error::Limits {
                sql: sql.clone(),
                cause: describe_error(&e),
            })?;
    }
    for sql in optional {
        let _ = sqlx::Executor::execute(&mut *conn, sqlx::AssertSqlSafe(sql)).await;
    }
    Ok(())
}

/// How long one bookkeeping query (history, lock key, session settings) may take when the run
/// has no deadline: reading even a long history takes well under a second, so a query this slow
/// means a server or network that stopped answering. Migration statements are not bounded by
/// it (a large one may rightly run for hours): `--timeout` bounds them.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(60);

/// `work` (one bookkeeping query) within [`QUERY_TIMEOUT`]; the error says what did not answer.
pub async fn answered<T>(
    what: &str,
    work: impl std::future::Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    match tokio::time::timeout(QUERY_TIMEOUT, work).await {
        Ok(r) => r,
        Err(_) => Err(Error::NoAnswer {
            what: what.to_string(),
        }),
    }
}

/// sqlx's Any driver needs its drivers registered once per process.
pub fn install_drivers() {
    static ONCE: Once = Once::new();
    ONCE.call_once(sqlx::any::install_default_drivers);
}

/// One connection, within `timeout`.
pub async fn connect(url: &str, timeout: Duration) -> Result<AnyConnection, Error> {
    install_drivers();
    match tokio::time::timeout(timeout, AnyConnection::connect(url)).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(Error::Connect(describe_error(&e))),
        Err(_) => Err(Error::ConnectTimeout(timeout)),
    }
}

/// Connections that checks of one run share, by URL: twenty SQL checks against one database
/// open at most `PER_URL` connections between them instead of twenty (each a server process,
/// and often a TLS handshake). A check holds one for its whole transaction; a connection comes
/// back only when the check ended cleanly (rolled back in time).
#[derive(Clone, Default)]
pub struct SharedConnections(Arc<Mutex<HashMap<String, Arc<Slot>>>>);

struct Slot {
    idle: Mutex<Vec<AnyConnection>>,
    permits: Arc<tokio::sync::Semaphore>,
    /// Why connecting failed, once it has: the checks queued behind are told at once instead
    /// of each waiting out its own connect timeout.
    failed: Mutex<Option<Error>>,
}

/// A connection taken from [`SharedConnections`]; dropped without `give_back`, it is closed.
pub struct Lease {
    pub conn: AnyConnection,
    slot: Arc<Slot>,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

/// URLs only: they may hold passwords, and connections say nothing useful.
impl std::fmt::Debug for SharedConnections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let slots = self.0.lock().unwrap_or_else(|e| e.into_inner());
        f.debug_set()
            .entries(slots.keys().map(|url| crate::secret::mask_url(url)))
            .finish()
    }
}

impl SharedConnections {
    /// Connections open at once per URL.
    pub const PER_URL: usize = 4;

    /// An idle connection to `url`, or a new one; waits while `PER_URL` are in use.
    pub async fn take(&self, url: &str, timeout: Duration) -> Result<Lease, Error> {
        let slot = {
            let mut slots = self.0.lock().unwrap_or_else(|e| e.into_inner());
            Arc::clone(slots.entry(url.to_string()).or_insert_with(|| {
                Arc::new(Slot {
                    idle: Mutex::default(),
                    permits: Arc::new(tokio::sync::Semaphore::new(Self::PER_URL)),
                    failed: Mutex::default(),
                })
            }))
        };
        let permit = Arc::clone(&slot.permits)
            .acquire_owned()
            .await
            .map_err(|_| Error::PoolClosed)?;
        if let Some(why) = slot
            .failed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        {
            return Err(Error::FailedEarlier(Box::new(why)));
        }
        let idle = slot.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => connect(url, timeout).await.inspect_err(|why| {
                *slot.failed.lock().unwrap_or_else(|e| e.into_inner()) = Some(why.clone());
            })?,
        };
        Ok(Lease {
            conn,
            slot,
            _permit: permit,
        })
    }
}

impl Lease {
    /// Returns the connection for the next check to use.
    pub fn give_back(self) {
        let Lease { conn, slot, .. } = self;
        slot.idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(conn);
    }
}

/// sqlx's error, in the words a person needs (the URL is never part of it).
pub fn describe_error(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Database(db) => db.message().to_string(),
        other => other.to_string(),
    }
}

/// Whether a table (or view) exists; `schema.table` allowed. PostgreSQL resolves the name as
/// the server would (search_path, quoting).
pub async fn table_exists(
    conn: &mut AnyConnection,
    backend: Backend,
    table: &str,
) -> Result<bool, Error> {
    // PostgreSQL reads the name as SQL (quotes keep case); the others compare plain names.
    let plain = |s: &str| s.trim().trim_matches('"').trim_matches('`').to_string();
    let (schema, name) = match table.rsplit_once('.') {
        Some((s, n)) => (Some(plain(s)), plain(n)),
        None => (None, plain(table)),
    };
    let count: Result<i64, sqlx::Error> = match backend {
        Backend::Postgres => {
            // `Member` as SQL reads it is `member`; Prisma and other ORMs create `"Member"`.
            // A name written with capitals and no quotes also finds the table of that exact
            // name, as the person who wrote it meant.
            let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
            let exact = match &schema {
                Some(s) => format!("{}.{}", quote(s), quote(&name)),
                None => quote(&name),
            };
            let unquoted_capitals = !table.contains('"') && table != table.to_lowercase();
            sqlx::query_scalar(
                "SELECT count(*) FROM pg_class WHERE relkind IN ('r','p','v','m','f') \
                 AND (oid = to_regclass($1) OR ($2 AND oid = to_regclass($3)))",
            )
            .bind(table)
            .bind(unquoted_capitals)
            .bind(exact)
            .fetch_one(&mut *conn)
            .await
        }
        Backend::MySql => {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = COALESCE(?, DATABASE()) AND table_name = ?",
            )
            .bind(schema)
            .bind(name)
            .fetch_one(&mut *conn)
            .await
        }
        Backend::Sqlite => {
            sqlx::query_scalar("SELECT count(*) FROM sqlite_master WHERE type IN ('table','view') AND name = ?")
                .bind(name)
                .fetch_one(&mut *conn)
                .await
        }
    };
    count.map(|c| c > 0).map_err(|e| Error::server(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dsn_that_is_not_a_url_is_refused_without_echoing_it() {
        let err = Backend::from_url("host=db user=app password=ab:cd")
            .unwrap_err()
            .to_string();
        assert!(err.contains("is not a URL"), "{err}");
        assert!(!err.contains("password=ab"), "{err}");
        assert_eq!(Backend::from_url("  ").unwrap_err(), UrlError::Empty);
        // The runbook's template, `host:port` left as written: said at once, never retried.
        let err = Backend::from_url("postgresql://user:s3cret@host:port/database").unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(
                err,
                UrlError::Malformed {
                    why: url::ParseError::InvalidPort,
                    ..
                }
            ),
            "{text}"
        );
        assert!(text.contains("invalid port number"), "{text}");
        assert!(
            text.contains("postgresql://user:***@host:port/database"),
            "{text}"
        );
        assert!(!text.contains("s3cret"), "{text}");
        assert!(Backend::from_url("postgres:///app?host=/var/run/postgresql").is_ok());
        assert!(Backend::from_url("sqlite:app.db").is_ok());
        assert!(
            Backend::from_url("oracle://x")
                .unwrap_err()
                .to_string()
                .contains("the scheme `oracle`")
        );
    }

    #[test]
    fn sqlite_urls_made_read_only() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("a.db");
        std::fs::write(&db, "").unwrap();
        let url = format!("sqlite://{}", db.display());
        assert_eq!(
            sqlite_read_only(&format!("{url}?mode=rwc")),
            format!("{url}?mode=ro")
        );
        assert_eq!(sqlite_read_only(&url), format!("{url}?mode=ro"));
        assert_eq!(
            sqlite_read_only(&format!("{url}?cache=shared&mode=rwc")),
            format!("{url}?cache=shared&mode=ro")
        );
        assert_eq!(
            sqlite_read_only("sqlite://does-not-exist.db?mode=rwc"),
            "sqlite::memory:"
        );
    }

    #[test]
    fn backends_from_schemes() {
        assert_eq!(
            Backend::from_url("postgresql://x/y").unwrap().0,
            Backend::Postgres
        );
        let (b, url) = Backend::from_url("mariadb://root@127.0.0.1/test").unwrap();
        assert_eq!(
            (b, url.as_str()),
            (Backend::MySql, "mysql://root@127.0.0.1/test")
        );
        assert_eq!(
            Backend::from_url("sqlite://app.db").unwrap().0,
            Backend::Sqlite
        );
        assert!(
            Backend::from_url("mongodb://x")
                .unwrap_err()
                .to_string()
                .contains("`mongodb`")
        );
        assert_eq!(Backend::from_url("").unwrap_err(), UrlError::Empty);
    }
}
