//! One migrator at a time. PostgreSQL: a session advisory lock, polled with
//! `pg_try_advisory_lock` (never the blocking form, which deadlocks with
//! `CREATE INDEX CONCURRENTLY`); MySQL: `GET_LOCK`, polled; SQLite: each migration takes the
//! write lock (`BEGIN IMMEDIATE`). While waiting, and when giving up, say who holds it.

use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use sqlx::AnyConnection;

use crate::db::{self, Backend, describe_error};
use crate::migrate::session::Dialect as _;
use crate::units::format_duration;

/// How often a held lock is asked for again.
const POLL: Duration = Duration::from_millis(200);

/// One poll of the lock: a server that accepts the query and never answers must not hang the run.
const POLL_QUERY_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the lock was not taken; each message is rendered here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// Another migrator held it for the whole timeout.
    Held {
        what: String,
        holder: Box<Holder>,
        waited: Duration,
    },
    /// Asking for the lock failed (the server's words).
    Query(String),
    /// The lock query got no answer within [`POLL_QUERY_TIMEOUT`].
    NoAnswer,
    /// SQLite's lock file could not be opened or locked.
    File(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Held {
                what,
                holder,
                waited,
            } => write!(
                f,
                "another migration holds the {what} ({}); gave up after {} (raise --lock-timeout, or wait for it to finish)",
                holder.describe(),
                format_duration(*waited)
            ),
            Error::Query(cause) => write!(f, "asking for the lock failed: {cause}"),
            Error::NoAnswer => write!(
                f,
                "the database did not answer the lock query within {}",
                format_duration(POLL_QUERY_TIMEOUT)
            ),
            Error::File(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for Error {}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Key {
    /// PostgreSQL advisory lock key.
    Advisory(i64),
    /// MySQL `GET_LOCK` name.
    Named(String),
    /// SQLite: an exclusive lock (`File::try_lock`: `flock` on Unix, `LockFileEx` on Windows) on
    /// `<database>.shipgate-lock` for the run (SQLite has no session lock; its write lock is
    /// per transaction).
    File(std::path::PathBuf),
    /// An in-memory SQLite database: nobody else can see it.
    WriteLock,
}

impl Key {
    pub fn describe(&self) -> String {
        match self {
            Key::Advisory(k) => format!("PostgreSQL advisory lock {k}"),
            Key::Named(n) => format!("MySQL lock `{n}`"),
            Key::File(path) => format!("SQLite lock file {}", path.display()),
            Key::WriteLock => "SQLite write lock (BEGIN IMMEDIATE per migration)".into(),
        }
    }
}

/// Who holds the lock, as the server tells it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Holder {
    pub pid: Option<i64>,
    /// The database user of the holding session.
    pub user: String,
    /// PostgreSQL's `application_name` (MySQL has none).
    pub application: String,
    pub client: String,
    /// What the server says about the session's time, in words: "connected since …"
    /// (PostgreSQL), "idle for 12s" or "running a statement for 3s" (MySQL, which does not say
    /// when a session connected or took a lock).
    pub since: String,
    /// How long this run saw the same session hold the lock: a lower bound of how long it has.
    pub held_for: Option<Duration>,
}

impl Holder {
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(pid) = self.pid {
            parts.push(format!("pid {pid}"));
        }
        if !self.user.is_empty() {
            parts.push(format!("user `{}`", self.user));
        }
        if !self.application.is_empty() {
            parts.push(format!("application `{}`", self.application));
        }
        if !self.client.is_empty() {
            parts.push(format!("from {}", self.client));
        }
        if !self.since.is_empty() {
            parts.push(self.since.clone());
        }
        if let Some(held) = self.held_for {
            parts.push(format!("holding it for at least {}", format_duration(held)));
        }
        if parts.is_empty() {
            "another session".into()
        } else {
            parts.join(", ")
        }
    }
}

/// What taking the lock came to. Keep it until the run ends: for SQLite it holds the lock file.
#[derive(Debug)]
pub struct Acquired {
    pub key: Key,
    pub waited: Duration,
    /// Who held it while we waited, if anyone did.
    pub held_by: Option<Holder>,
    /// The open, locked file (SQLite); closing it releases the lock.
    #[expect(dead_code, reason = "held for its Drop, which releases the lock")]
    pub file: Option<std::fs::File>,
}

/// Derives the key from the database and the history table, so two projects sharing a server
/// do not block each other.
pub async fn key(
    conn: &mut AnyConnection,
    backend: Backend,
    table: &str,
    url: &str,
) -> Result<Key, db::Error> {
    if !backend.has_session_lock() {
        return Ok(sqlite_lock_path(url).map_or(Key::WriteLock, Key::File));
    }
    let database: String = match backend {
        Backend::Postgres => {
            sqlx::query_scalar("SELECT current_database()::text")
                .fetch_one(&mut *conn)
                .await
        }
        Backend::MySql => {
            sqlx::query_scalar("SELECT COALESCE(DATABASE(), '')")
                .fetch_one(&mut *conn)
                .await
        }
        Backend::Sqlite => return Ok(Key::WriteLock),
    }
    .map_err(|e| db::Error::statement("cannot read the database name", &e))?;
    let digest = Sha256::digest(format!("shipgate:{database}:{table}").as_bytes());
    Ok(match backend {
        Backend::Postgres => {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(&digest[..8]);
            Key::Advisory(i64::from_be_bytes(bytes))
        }
        _ => Key::Named(format!(
            "shipgate_{}",
            digest[..12]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        )),
    })
}

/// `<database file>.shipgate-lock`, or none for an in-memory database.
fn sqlite_lock_path(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or("");
    (!path.is_empty() && path != ":memory:")
        .then(|| std::path::PathBuf::from(format!("{path}.shipgate-lock")))
}

/// Tries the lock file once.
fn try_lock_file(path: &std::path::Path) -> Result<Option<std::fs::File>, Error> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| Error::File(format!("cannot open the lock file {}: {e}", path.display())))?;
    // Exclusive and non-blocking: `flock(LOCK_EX | LOCK_NB)` on Unix, `LockFileEx` with
    // `LOCKFILE_FAIL_IMMEDIATELY` on Windows. Closing the file (or the process ending) releases it.
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(Error::File(format!("cannot lock {}: {e}", path.display())))
        }
    }
}

/// Takes the lock within `timeout`, polling; the last try is at the deadline itself, so a
/// waiter gives up after the whole `timeout`, not a poll interval before. On giving up, the
/// error names the holder.
pub async fn acquire(
    conn: &mut AnyConnection,
    key: Key,
    timeout: Duration,
) -> Result<Acquired, Error> {
    let started = Instant::now();
    let deadline = started + timeout;
    // Who held it when we first found it taken, and when.
    let mut held_by: Option<(Holder, Instant)> = None;
    // Each pass sleeps at least a millisecond (or gives up), and the deadline is fixed: bounded.
    loop {
        let mut file = None;
        let got = match &key {
            Key::File(path) => {
                file = try_lock_file(path)?;
                file.is_some()
            }
            Key::Advisory(k) => {
                bounded(
                    sqlx::query_scalar::<_, bool>("SELECT pg_try_advisory_lock($1)")
                        .bind(*k)
                        .fetch_one(&mut *conn),
                )
                .await?
            }
            Key::Named(n) => {
                let r: Option<i64> = bounded(
                    sqlx::query_scalar("SELECT CAST(GET_LOCK(?, 0) AS SIGNED)")
                        .bind(n.clone())
                        .fetch_one(&mut *conn),
                )
                .await?;
                r == Some(1)
            }
            Key::WriteLock => true,
        };
        if got {
            return Ok(Acquired {
                key,
                waited: started.elapsed(),
                held_by: held_by.map(|(h, _)| h),
                file,
            });
        }
        if held_by.is_none() {
            held_by = holder(conn, &key).await.map(|h| (h, Instant::now()));
        }
        let now = Instant::now();
        if now >= deadline {
            // Asked again: the holder may have changed, and its state has.
            let who = match (holder(conn, &key).await, &held_by) {
                (Some(mut last), Some((first, seen))) if last.pid == first.pid => {
                    last.held_for = Some(seen.elapsed());
                    last
                }
                (Some(last), _) => last,
                (None, first) => first.clone().map(|(h, _)| h).unwrap_or_default(),
            };
            return Err(Error::Held {
                what: key.describe(),
                holder: Box::new(who),
                waited: started.elapsed(),
            });
        }
        tokio::time::sleep(POLL.min(deadline - now).max(Duration::from_millis(1))).await;
    }
}

/// A lock query within [`POLL_QUERY_TIMEOUT`], its error in words.
async fn bounded<T>(
    query: impl std::future::Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, Error> {
    match tokio::time::timeout(POLL_QUERY_TIMEOUT, query).await {
        Ok(r) => r.map_err(|e| Error::Query(describe_error(&e))),
        Err(_) => Err(Error::NoAnswer),
    }
}

/// Releases the lock; a server that does not answer releases it anyway when the session ends.
pub async fn release(conn: &mut AnyConnection, key: &Key) {
    let _ = match key {
        Key::Advisory(k) => bounded(
            sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(*k)
                .execute(&mut *conn),
        )
        .await
        .map(|_| ()),
        Key::Named(n) => bounded(
            sqlx::query("SELECT RELEASE_LOCK(?)")
                .bind(n.clone())
                .execute(&mut *conn),
        )
        .await
        .map(|_| ()),
        Key::File(_) | Key::WriteLock => Ok(()),
    };
}

/// Who holds the lock now (best effort: the server may not let us see).
pub async fn holder(conn: &mut AnyConnection, key: &Key) -> Option<Holder> {
    match key {
        Key::Advisory(k) => {
            // An advisory bigint key is stored as classid (high 32 bits) and objid (low 32 bits).
            let (high, low) = ((*k >> 32) & 0xffff_ffff, *k & 0xffff_ffff);
            let row: Option<(i64, String, String, String, String)> = sqlx::query_as(
                "SELECT a.pid::int8, COALESCE(a.usename::text, ''), COALESCE(a.application_name, ''), \
                 COALESCE(a.backend_start::text, ''), COALESCE(a.client_addr::text, '') \
                 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
                 WHERE l.locktype = 'advisory' AND l.granted AND l.classid::int8 = $1 AND l.objid::int8 = $2 AND l.objsubid = 1 \
                 LIMIT 1",
            )
            .bind(high)
            .bind(low)
            .fetch_optional(&mut *conn)
            .await
            .ok()
            .flatten();
            row.map(|(pid, user, application, since, client)| Holder {
                pid: Some(pid),
                user,
                application,
                since: if since.is_empty() {
                    since
                } else {
                    format!("connected since {since}")
                },
                client,
                held_for: None,
            })
        }
        Key::Named(n) => {
            let id: Option<i64> = sqlx::query_scalar("SELECT CAST(IS_USED_LOCK(?) AS SIGNED)")
                .bind(n.clone())
                .fetch_one(&mut *conn)
                .await
                .ok()
                .flatten();
            let id = id?;
            // TIME is how long the session has been in its current state (idle, or running one
            // statement), not how long it has held the lock: MySQL keeps no such time.
            let row: Option<(String, String, String, i64)> = sqlx::query_as(
                "SELECT CAST(USER AS CHAR), CAST(HOST AS CHAR), CAST(COMMAND AS CHAR), CAST(TIME AS SIGNED) \
                 FROM information_schema.PROCESSLIST WHERE ID = ?",
            )
            .bind(id)
            .fetch_optional(&mut *conn)
            .await
            .ok()
            .flatten();
            Some(match row {
                Some((user, host, command, seconds)) => Holder {
                    pid: Some(id),
                    user,
                    since: if command == "Sleep" {
                        format!("idle for {seconds}s")
                    } else {
                        format!("running a statement for {seconds}s")
                    },
                    client: host,
                    ..Holder::default()
                },
                None => Holder {
                    pid: Some(id),
                    ..Holder::default()
                },
            })
        }
        Key::File(_) => Some(Holder {
            application: "another shipgate run on this SQLite database".into(),
            ..Holder::default()
        }),
        Key::WriteLock => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_lock_files() {
        assert_eq!(
            sqlite_lock_path("sqlite:///data/app.db?mode=rwc"),
            Some("/data/app.db.shipgate-lock".into())
        );
        assert_eq!(sqlite_lock_path("sqlite::memory:"), None);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.shipgate-lock");
        let first = try_lock_file(&path).unwrap();
        assert!(first.is_some());
        assert!(try_lock_file(&path).unwrap().is_none(), "held by the first");
        drop(first);
        assert!(
            try_lock_file(&path).unwrap().is_some(),
            "released when closed"
        );
    }

    #[test]
    fn holder_descriptions() {
        let h = Holder {
            pid: Some(42),
            user: "deploy".into(),
            application: "shipgate migrate".into(),
            since: "connected since 2026-11-21 10:00:00+00".into(),
            client: "10.0.0.5".into(),
            held_for: Some(Duration::from_secs(2)),
        };
        assert_eq!(
            h.describe(),
            "pid 42, user `deploy`, application `shipgate migrate`, from 10.0.0.5, connected since 2026-11-21 10:00:00+00, holding it for at least 2.0s"
        );
        assert_eq!(Holder::default().describe(), "another session");
    }
}
