//! `--verify-backup`: a backup is only known good once it has been restored. The backup just
//! taken is restored into a throwaway database on the same server (PostgreSQL: `CREATE
//! DATABASE … TEMPLATE template0` and `pg_restore --no-owner`; MySQL/MariaDB: a schema the
//! `mysql` client reads the dump into), its tables and exact row counts are compared with the
//! source's, and the throwaway is dropped, whatever happened. SQLite: the backup file itself is
//! opened read-only, checked (`PRAGMA quick_check`) and counted.
//!
//! The source is counted before the dump and again after the restore: a table the application
//! wrote to meanwhile matches when its restored count lies between the two.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use sqlx::{AnyConnection, Connection};

use super::backup::{self, mysql_target, pg_target, run, run_reading};
use super::session::Dialect as _;
use super::step;
use crate::db::{self, Backend, describe_error};
use crate::units::format_duration;

/// Tables (`schema.name` on PostgreSQL, the name elsewhere) and their exact row counts.
pub type Counts = BTreeMap<String, i64>;

/// The longest the throwaway's drop may take, at most (a quarter of the time left when less).
const DROP_RESERVE: Duration = Duration::from_secs(15);

/// Why a backup did not restore into the same tables and rows; rendered here, once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// A restore tool failed, timed out or could not be run.
    Tool(backup::Error),
    /// The throwaway database could not be created (`refused`: for want of the privilege).
    Create {
        name: String,
        cause: String,
        refused: bool,
    },
    /// The restored copy (or SQLite backup file) could not be opened.
    Open { what: String, cause: String },
    /// Listing or counting tables failed (`of`: "the source", "the restored copy").
    Count { of: &'static str, cause: String },
    /// SQLite's `PRAGMA quick_check` found damage.
    Damaged { path: String, found: String },
    /// The restored copy does not hold what the source holds.
    Mismatch(Vec<Difference>),
    /// Restoring and counting did not finish in time.
    Timeout { after: Duration },
}

/// One way the restored copy differs from the source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Difference {
    /// A table of the source is not in the restored copy.
    Missing { table: String, rows: i64 },
    /// The restored copy has a table the source does not.
    Extra { table: String, rows: i64 },
    /// Row counts differ (`source`: before the dump and after the restore).
    Rows {
        table: String,
        source: (i64, i64),
        restored: i64,
    },
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Difference::Missing { table, rows } => {
                write!(f, "{table} ({rows} rows) is missing from the restored copy")
            }
            Difference::Extra { table, rows } => write!(
                f,
                "{table} ({rows} rows) is in the restored copy but not in the source"
            ),
            Difference::Rows {
                table,
                source: (before, after),
                restored,
            } => {
                let source = if before == after {
                    before.to_string()
                } else {
                    format!("{before}..{after}")
                };
                write!(
                    f,
                    "{table} has {restored} rows restored, {source} in the source"
                )
            }
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Tool(e) => write!(f, "the backup did not restore: {e}"),
            Error::Create {
                name,
                cause,
                refused: true,
            } => write!(
                f,
                "cannot create the throwaway database {name} to restore into: {cause}; --verify-backup needs the right to create a database (PostgreSQL: ALTER ROLE … CREATEDB; MySQL: CREATE and DROP on {name})"
            ),
            Error::Create { name, cause, .. } => {
                write!(f, "cannot create the throwaway database {name}: {cause}")
            }
            Error::Open { what, cause } => write!(f, "cannot open {what}: {cause}"),
            Error::Count { of, cause } => write!(f, "cannot count the rows of {of}: {cause}"),
            Error::Damaged { path, found } => {
                write!(
                    f,
                    "the backup {path} is damaged (PRAGMA quick_check: {found})"
                )
            }
            Error::Mismatch(differences) => {
                // A whole schema missing is thousands of lines: the first few say enough.
                const LISTED: usize = 5;
                let list: Vec<String> = differences
                    .iter()
                    .take(LISTED)
                    .map(|d| d.to_string())
                    .collect();
                let more = differences.len().saturating_sub(LISTED);
                write!(
                    f,
                    "the restored backup does not match the database: {}{}",
                    list.join("; "),
                    if more > 0 {
                        format!("; and {more} more")
                    } else {
                        String::new()
                    }
                )
            }
            Error::Timeout { after } => write!(
                f,
                "restoring and counting the backup did not finish within {}",
                format_duration(*after)
            ),
        }
    }
}

impl std::error::Error for Error {}

/// A restore that matched the source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// Every table and its restored row count.
    pub counts: Counts,
    /// Tables written to while the backup was taken (source counts differed before and after).
    pub changed: Vec<String>,
}

/// What became of the throwaway database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cleanup {
    /// SQLite: the backup file was read in place; nothing to drop.
    Nothing,
    Dropped {
        name: String,
    },
    /// The drop failed: the name, to drop by hand.
    Failed {
        name: String,
        cause: String,
    },
}

/// The whole outcome: the verdict, and the throwaway's fate (reported either way).
#[derive(Clone, Debug)]
pub struct Verification {
    pub outcome: Result<Verified, Error>,
    pub cleanup: Cleanup,
}

/// Where a backend restores to, for a dry run and for messages.
pub fn throwaway_kind(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "a throwaway database shipgate_verify_<random> on the same server",
        Backend::MySql => "a throwaway schema shipgate_verify_<random> on the same server",
        Backend::Sqlite => "the backup file, opened read-only",
    }
}

/// Every table of the database `conn` is connected to (MySQL: of `schema`, else the current
/// one) and its exact `count(*)`. The history table is data: it is counted too.
pub async fn count_tables(
    conn: &mut AnyConnection,
    backend: Backend,
    schema: Option<&str>,
) -> Result<Counts, String> {
    let failed = |e: sqlx::Error| describe_error(&e);
    let tables: Vec<(String, String)> = match backend {
        Backend::Postgres => {
            let rows: Vec<(String, String)> = sqlx::query_as(
                "SELECT n.nspname::text, c.relname::text FROM pg_class c \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition \
                   AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
                   AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%' \
                 ORDER BY 1, 2",
            )
            .fetch_all(&mut *conn)
            .await
            .map_err(failed)?;
            rows.into_iter()
                .map(|(s, n)| {
                    let sql = format!("{}.{}", backend.quote_ident(&s), backend.quote_ident(&n));
                    (format!("{s}.{n}"), sql)
                })
                .collect()
        }
        Backend::MySql => {
            let names: Vec<String> = sqlx::query_scalar(
                "SELECT CAST(table_name AS CHAR) FROM information_schema.tables \
                 WHERE table_schema = COALESCE(?, DATABASE()) AND table_type = 'BASE TABLE' \
                 ORDER BY 1",
            )
            .bind(schema)
            .fetch_all(&mut *conn)
            .await
            .map_err(failed)?;
            names
                .into_iter()
                .map(|n| {
                    let sql = match schema {
                        Some(s) => {
                            format!("{}.{}", backend.quote_ident(s), backend.quote_ident(&n))
                        }
                        None => backend.quote_ident(&n),
                    };
                    (n, sql)
                })
                .collect()
        }
        Backend::Sqlite => {
            let names: Vec<String> = sqlx::query_scalar(
                "SELECT name FROM sqlite_master WHERE type = 'table' \
                 AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
            )
            .fetch_all(&mut *conn)
            .await
            .map_err(failed)?;
            names
                .into_iter()
                .map(|n| {
                    let sql = backend.quote_ident(&n);
                    (n, sql)
                })
                .collect()
        }
    };
    let mut counts = Counts::new();
    for (shown, sql) in tables {
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {sql}")))
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| format!("{shown}: {}", describe_error(&e)))?;
        counts.insert(shown, n);
    }
    Ok(counts)
}

/// Compares what was restored with the source counted `before` the dump and `after` the
/// restore.
pub fn compare(before: &Counts, after: &Counts, restored: &Counts) -> Result<Verified, Error> {
    let mut differences = Vec::new();
    let mut changed = Vec::new();
    // A table the source had both before and after must be restored; one created or dropped
    // meanwhile may be there or not; one the source never had must not.
    for (table, &a) in after {
        let b = before.get(table).copied();
        match (b, restored.get(table).copied()) {
            (Some(b), Some(r)) => {
                let (lo, hi) = (b.min(a), b.max(a));
                if r < lo || r > hi {
                    differences.push(Difference::Rows {
                        table: table.clone(),
                        source: (b, a),
                        restored: r,
                    });
                } else if b != a {
                    changed.push(table.clone());
                }
            }
            (Some(_), None) => differences.push(Difference::Missing {
                table: table.clone(),
                rows: a,
            }),
            (None, _) => {}
        }
    }
    for (table, &r) in restored {
        if !after.contains_key(table) && !before.contains_key(table) {
            differences.push(Difference::Extra {
                table: table.clone(),
                rows: r,
            });
        }
    }
    if differences.is_empty() {
        Ok(Verified {
            counts: restored.clone(),
            changed,
        })
    } else {
        Err(Error::Mismatch(differences))
    }
}

/// Restores `backup` (just taken from the database `conn` is connected to, at `url`) and
/// compares it with the source, counted `before` the dump; within `budget` in all, the drop of
/// the throwaway included (it always runs, and its own failure is reported).
pub async fn verify(
    conn: &mut AnyConnection,
    backend: Backend,
    url: &str,
    backup: &Path,
    before: &Counts,
    budget: Duration,
) -> Verification {
    let reserve = DROP_RESERVE.min(budget / 4);
    let work = budget.saturating_sub(reserve);
    if backend == Backend::Sqlite {
        step::enter(format!("verifying the backup {}", backup.display()));
        let outcome = tokio::time::timeout(work, verify_sqlite(conn, backup, before))
            .await
            .unwrap_or(Err(Error::Timeout { after: work }));
        return Verification {
            outcome,
            cleanup: Cleanup::Nothing,
        };
    }
    let name = format!(
        "shipgate_verify_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let quoted = backend.quote_ident(&name);
    step::enter(format!("creating the throwaway database {name}"));
    let create = match backend {
        Backend::Postgres => format!("CREATE DATABASE {quoted} TEMPLATE template0"),
        _ => format!("CREATE DATABASE {quoted}"),
    };
    // One deadline for creating, restoring and counting, so that the drop's reserve is left
    // within the budget (the run's own deadline) whatever step is slow.
    let until = tokio::time::Instant::now() + work;
    let created = tokio::time::timeout_at(
        until,
        sqlx::raw_sql(sqlx::AssertSqlSafe(create)).execute(&mut *conn),
    )
    .await;
    match created {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            // 42501: insufficient_privilege (PostgreSQL); 1044: access denied (MySQL).
            let refused = match &e {
                sqlx::Error::Database(d) => {
                    matches!(d.code().as_deref(), Some("42501") | Some("42000"))
                        || d.message().contains("denied")
                }
                _ => false,
            };
            return Verification {
                outcome: Err(Error::Create {
                    name,
                    cause: describe_error(&e),
                    refused,
                }),
                cleanup: Cleanup::Nothing,
            };
        }
        Err(_) => {
            // It may exist now: dropped below like any other.
            let cleanup = drop_throwaway(conn, backend, &name, reserve).await;
            return Verification {
                outcome: Err(Error::Timeout { after: work }),
                cleanup,
            };
        }
    }
    step::enter(format!(
        "restoring the backup into the throwaway database {name}"
    ));
    let left = until.saturating_duration_since(tokio::time::Instant::now());
    let outcome = tokio::time::timeout_at(
        until,
        restore_and_count(conn, backend, url, backup, &name, before, left),
    )
    .await
    .unwrap_or(Err(Error::Timeout { after: work }));
    step::enter(format!("dropping the throwaway database {name}"));
    let cleanup = drop_throwaway(conn, backend, &name, reserve).await;
    Verification { outcome, cleanup }
}

async fn restore_and_count(
    conn: &mut AnyConnection,
    backend: Backend,
    url: &str,
    backup: &Path,
    name: &str,
    before: &Counts,
    timeout: Duration,
) -> Result<Verified, Error> {
    let mut parsed = url::Url::parse(url).map_err(|e| Error::Open {
        what: "the database URL".into(),
        cause: e.to_string(),
    })?;
    parsed.set_path(&format!("/{name}"));
    let restored = match backend {
        Backend::Postgres => {
            let (target, password) = pg_target(&parsed);
            let mut cmd = tokio::process::Command::new("pg_restore");
            cmd.args(["--no-owner", "--exit-on-error", "--no-password", "-d"])
                .arg(target)
                .arg(backup);
            if let Some(p) = password {
                cmd.env("PGPASSWORD", p);
            }
            run(cmd, "pg_restore", timeout).await.map_err(Error::Tool)?;
            let mut copy = db::connect(parsed.as_str(), Duration::from_secs(30))
                .await
                .map_err(|e| Error::Open {
                    what: format!("the restored copy {name}"),
                    cause: e.to_string(),
                })?;
            let counted = count_tables(&mut copy, backend, None).await;
            let _ = copy.close().await;
            counted.map_err(|cause| Error::Count {
                of: "the restored copy",
                cause,
            })?
        }
        _ => {
            let file = std::fs::File::open(backup).map_err(|e| Error::Open {
                what: format!("the backup {}", backup.display()),
                cause: e.to_string(),
            })?;
            let mut cmd = tokio::process::Command::new("mysql");
            mysql_target(&parsed, &mut cmd);
            cmd.arg("--batch").arg(format!("--database={name}"));
            run_reading(cmd, "mysql", timeout, file.into())
                .await
                .map_err(Error::Tool)?;
            count_tables(conn, backend, Some(name))
                .await
                .map_err(|cause| Error::Count {
                    of: "the restored copy",
                    cause,
                })?
        }
    };
    step::enter("counting the source's rows again");
    let after = count_tables(conn, backend, None)
        .await
        .map_err(|cause| Error::Count {
            of: "the source",
            cause,
        })?;
    compare(before, &after, &restored)
}

async fn verify_sqlite(
    conn: &mut AnyConnection,
    backup: &Path,
    before: &Counts,
) -> Result<Verified, Error> {
    const RAW: &percent_encoding::AsciiSet =
        &percent_encoding::CONTROLS.add(b'%').add(b'?').add(b'#');
    let shown = backup.display().to_string();
    let url = format!(
        "sqlite://{}?mode=ro",
        percent_encoding::utf8_percent_encode(&shown, RAW)
    );
    let mut copy = db::connect(&url, Duration::from_secs(30))
        .await
        .map_err(|e| Error::Open {
            what: format!("the backup {shown}"),
            cause: e.to_string(),
        })?;
    let checked: Result<Vec<String>, sqlx::Error> = sqlx::query_scalar("PRAGMA quick_check")
        .fetch_all(&mut copy)
        .await;
    let result = match checked {
        Ok(found) if found.len() == 1 && found[0] == "ok" => {
            count_tables(&mut copy, Backend::Sqlite, None)
                .await
                .map_err(|cause| Error::Count {
                    of: "the backup",
                    cause,
                })
        }
        Ok(found) => Err(Error::Damaged {
            path: shown.clone(),
            found: found.join("; "),
        }),
        Err(e) => Err(Error::Damaged {
            path: shown.clone(),
            found: describe_error(&e),
        }),
    };
    let _ = copy.close().await;
    let restored = result?;
    let after = count_tables(conn, Backend::Sqlite, None)
        .await
        .map_err(|cause| Error::Count {
            of: "the source",
            cause,
        })?;
    compare(before, &after, &restored)
}

/// Drops the throwaway within `timeout` (PostgreSQL: ending any session still in it).
async fn drop_throwaway(
    conn: &mut AnyConnection,
    backend: Backend,
    name: &str,
    timeout: Duration,
) -> Cleanup {
    let quoted = backend.quote_ident(name);
    let timeout = timeout.max(Duration::from_secs(1));
    let dropped = tokio::time::timeout(timeout, async {
        let plain = format!("DROP DATABASE IF EXISTS {quoted}");
        if backend == Backend::Postgres {
            let forced = format!("{plain} WITH (FORCE)");
            // WITH (FORCE) is PostgreSQL 13+; older servers get the plain form.
            if sqlx::raw_sql(sqlx::AssertSqlSafe(forced))
                .execute(&mut *conn)
                .await
                .is_ok()
            {
                return Ok(());
            }
        }
        sqlx::raw_sql(sqlx::AssertSqlSafe(plain))
            .execute(&mut *conn)
            .await
            .map(|_| ())
            .map_err(|e| describe_error(&e))
    })
    .await;
    match dropped {
        Ok(Ok(())) => Cleanup::Dropped {
            name: name.to_string(),
        },
        Ok(Err(cause)) => Cleanup::Failed {
            name: name.to_string(),
            cause,
        },
        Err(_) => Cleanup::Failed {
            name: name.to_string(),
            cause: format!("no answer within {}", format_duration(timeout)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(pairs: &[(&str, i64)]) -> Counts {
        pairs.iter().map(|(t, n)| (t.to_string(), *n)).collect()
    }

    #[test]
    fn equal_counts_match_and_a_table_written_meanwhile_matches_within_its_range() {
        let before = counts(&[("a", 3), ("b", 10)]);
        let after = counts(&[("a", 3), ("b", 12)]);
        let v = compare(&before, &after, &counts(&[("a", 3), ("b", 11)])).unwrap();
        assert_eq!(v.changed, vec!["b".to_string()]);
        assert_eq!(v.counts.len(), 2);
    }

    #[test]
    fn missing_tables_extra_tables_and_other_counts_are_each_named() {
        let source = counts(&[("a", 3), ("b", 10)]);
        let e = compare(&source, &source, &counts(&[("a", 2), ("c", 1)])).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("a has 2 rows restored, 3 in the source"),
            "{text}"
        );
        assert!(text.contains("b (10 rows) is missing"), "{text}");
        assert!(
            text.contains("c (1 rows) is in the restored copy"),
            "{text}"
        );
    }
}
