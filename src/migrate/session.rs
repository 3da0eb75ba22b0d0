//! One migration session against one database: connect → bound the session → lock → (history,
//! plan) → apply, shared by `migrate` and `rollback`. It answers with typed outcomes and a typed
//! [`Error`]; the commands turn those into report rows. What differs between databases for this
//! sequence (how a transaction starts, whether DDL commits, what the lock is) is decided by
//! [`Dialect`], and only there.

use std::io::IsTerminal;
use std::time::Duration;

use sqlx::AnyConnection;

use super::adopt;
use super::apply::{self, Failure};
use super::history::{History, Row, Status as HistoryStatus};
use super::lock::{self, Acquired, Holder};
use super::plan::{self, Plan, State, title};
use super::revert::{self, Reverted, Step};
use super::source::{Migration, Source};
use super::step;
use crate::db::{self, Backend};
use crate::units::format_duration;

/// The per-database choices of a migration run.
pub trait Dialect: Copy {
    /// How a migration's transaction starts.
    fn begin(self) -> &'static str;
    /// Whether DDL ends the open transaction by itself (then a script with DDL cannot be atomic).
    fn commits_ddl(self) -> bool;
    /// Whether the server has a lock held for the whole session; else the run locks a file next
    /// to the database and each transaction takes the write lock.
    fn has_session_lock(self) -> bool;
    /// An identifier (a table or column name) written into SQL.
    fn quote_ident(self, ident: &str) -> String;
}

impl Dialect for Backend {
    fn begin(self) -> &'static str {
        match self {
            // The write lock now, not at the first write: a busy database fails within
            // busy_timeout instead of deadlocking half-way through a script.
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres | Backend::MySql => "BEGIN",
        }
    }

    fn commits_ddl(self) -> bool {
        self == Backend::MySql
    }

    fn has_session_lock(self) -> bool {
        self != Backend::Sqlite
    }

    fn quote_ident(self, ident: &str) -> String {
        match self {
            Backend::MySql => format!("`{}`", ident.replace('`', "``")),
            Backend::Postgres | Backend::Sqlite => format!("\"{}\"", ident.replace('"', "\"\"")),
        }
    }
}

/// Why a session could not go on. Each variant renders its message here, once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// No connection (`url` is the masked URL).
    Connect { url: String, cause: db::Error },
    /// The session's time limits could not be set.
    Limits(db::Error),
    /// The lock's key could not be derived (a query failed).
    LockKey(db::Error),
    /// The lock was not taken: held by another migrator past the timeout, or the query failed.
    Lock(lock::Error),
    /// The history table could not be read or created.
    History(db::Error),
    /// The rows adopted from another tool's history (or `--baseline`) could not be recorded.
    Adopt(adopt::Error),
}

impl Error {
    /// The step of the session that failed, as the last part of its report row's id
    /// (`migrate.lock`, `rollback.database`) and the row's name.
    pub fn stage(&self) -> (&'static str, &'static str) {
        match self {
            Error::Connect { .. } | Error::Limits(_) => ("database", "database"),
            Error::LockKey(_) | Error::Lock(_) => ("lock", "lock"),
            Error::History(_) => ("history", "history table"),
            Error::Adopt(_) => ("adopt", "existing history"),
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Connect { url, cause } => write!(f, "cannot connect to {url}: {cause}"),
            Error::Limits(e) | Error::LockKey(e) | Error::History(e) => e.fmt(f),
            Error::Adopt(e) => e.fmt(f),
            Error::Lock(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Error {}

/// The lock, taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Locked {
    /// What was locked, in words ("PostgreSQL advisory lock 42").
    pub what: String,
    pub waited: Duration,
    /// Who held it while this run waited, if anyone did.
    pub held_by: Option<Holder>,
}

/// The history, made ready under the lock for a run that applies migrations.
#[derive(Debug)]
pub struct Prepared {
    /// Whether the table was there (else this run created it).
    pub existed: bool,
    /// What a first run recorded from another tool's history or `--baseline`, in words.
    pub adopted: Option<String>,
    /// Its rows, after that.
    pub rows: Vec<Row>,
}

/// An audited change of the history that a person asks for by flag, never a hand edit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Repair {
    /// `--accept-checksum`: the applied migration's file changed on purpose.
    AcceptChecksum,
    /// `--mark-resolved`: a person finished a partial migration by hand.
    MarkResolved,
}

impl Repair {
    pub fn flag(self) -> &'static str {
        match self {
            Repair::AcceptChecksum => "--accept-checksum",
            Repair::MarkResolved => "--mark-resolved",
        }
    }
}

/// What applying the runnable migrations of a plan came to: one outcome per item that ran, in
/// order, and the version that failed (nothing after it ran).
#[derive(Debug, Default)]
pub struct Applied {
    pub outcomes: Vec<(usize, Result<apply::Done, Failure>)>,
    pub failed: Option<String>,
}

/// A connection to the database a run migrates, and the lock while it holds it.
pub struct Session {
    conn: AnyConnection,
    backend: Backend,
    held: Option<Acquired>,
}

impl Session {
    /// Connects (`shown_url` is the masked URL, for messages).
    pub async fn connect(
        url: &str,
        shown_url: &str,
        backend: Backend,
        timeout: Duration,
    ) -> Result<Session, Error> {
        step::enter(format!("connecting to {shown_url}"));
        match db::connect(url, timeout).await {
            Ok(conn) => Ok(Session {
                conn,
                backend,
                held: None,
            }),
            Err(cause) => Err(Error::Connect {
                url: shown_url.to_string(),
                cause,
            }),
        }
    }

    /// Bounds lock waits and, with a deadline, every statement of the session.
    pub async fn limit(
        &mut self,
        lock_timeout: Duration,
        deadline: Option<Duration>,
    ) -> Result<(), Error> {
        step::enter("setting the session's time limits");
        let (conn, backend) = (&mut self.conn, self.backend);
        db::answered("setting the session's time limits", async {
            db::limit_lock_waits(conn, backend, lock_timeout).await?;
            db::limit_session(conn, backend, deadline).await
        })
        .await
        .map_err(Error::Limits)
    }

    pub fn conn(&mut self) -> &mut AnyConnection {
        &mut self.conn
    }

    /// Takes the one-migrator-at-a-time lock of this database and history `table`, waiting up
    /// to `timeout` for whoever holds it. Held until [`Session::unlock`] or the session ends.
    pub async fn lock(
        &mut self,
        table: &str,
        url: &str,
        timeout: Duration,
    ) -> Result<Locked, Error> {
        let key = db::answered(
            "the lock key query",
            lock::key(&mut self.conn, self.backend, table, url),
        )
        .await
        .map_err(Error::LockKey)?;
        step::enter(format!("waiting for the {}", key.describe()));
        let acquired = lock::acquire(&mut self.conn, key.clone(), timeout)
            .await
            .map_err(Error::Lock)?;
        let locked = Locked {
            what: key.describe(),
            waited: acquired.waited,
            held_by: acquired.held_by.clone(),
        };
        self.held = Some(acquired);
        Ok(locked)
    }

    /// The history as it is: `None` when the table does not exist yet.
    pub async fn read_history(&mut self, history: &History) -> Result<Option<Vec<Row>>, Error> {
        step::enter(format!("reading the history table {}", history.table));
        let conn = &mut self.conn;
        db::answered("the history query", async {
            if history.exists(conn).await? {
                history.rows(conn).await.map(Some)
            } else {
                Ok(None)
            }
        })
        .await
        .map_err(Error::History)
    }

    /// Under the lock, before applying: creates the history table if it is missing and, on a
    /// database shipgate never migrated (or with `--baseline` on an empty history), records
    /// what another tool's history or the baseline says is applied.
    pub async fn prepare_history(
        &mut self,
        history: &History,
        source: &Source,
        baseline: Option<&str>,
        applied_by: &str,
    ) -> Result<Prepared, Error> {
        let existed = self.read_history(history).await?.is_some();
        if !existed {
            history
                .create(&mut self.conn)
                .await
                .map_err(Error::History)?;
        }
        let mut rows = self.read_history(history).await?.unwrap_or_default();
        let mut adopted = None;
        if !existed || (rows.is_empty() && baseline.is_some()) {
            adopted = adopt::record_initial(&mut self.conn, baseline, source, history, applied_by)
                .await
                .map_err(Error::Adopt)?;
            if adopted.is_some() {
                rows = self.read_history(history).await?.unwrap_or_default();
            }
        }
        Ok(Prepared {
            existed,
            adopted,
            rows,
        })
    }

    /// Writes a [`Repair`] of `m`'s history row, with the reason and who asked in its note.
    /// `Ok(false)`: there was nothing to repair (not applied; no partial row).
    pub async fn repair(
        &mut self,
        history: &History,
        m: &Migration,
        repair: Repair,
        reason: &str,
        applied_by: &str,
    ) -> Result<bool, db::Error> {
        let at = humantime::format_rfc3339_seconds(std::time::SystemTime::now());
        let conn = &mut self.conn;
        match repair {
            Repair::AcceptChecksum => {
                let entry = format!(
                    "[{at}] checksum {} accepted by {applied_by}: {reason}",
                    m.checksum
                );
                history
                    .accept_checksum(conn, &m.version, &m.checksum, &entry)
                    .await
            }
            Repair::MarkResolved => {
                let entry =
                    format!("[{at}] partial migration marked resolved by {applied_by}: {reason}");
                history.mark_resolved(conn, &m.version, &entry).await
            }
        }
    }

    /// Which of `tables` do not exist (a table whose query failed is listed with why).
    pub async fn missing_tables(&mut self, tables: &[String]) -> Vec<String> {
        step::enter("checking the required tables");
        let mut missing = Vec::new();
        for table in tables {
            match db::answered(
                "a required-table query",
                db::table_exists(&mut self.conn, self.backend, table),
            )
            .await
            {
                Ok(true) => {}
                Ok(false) => missing.push(table.clone()),
                Err(e) => missing.push(format!("{table} ({e})")),
            }
        }
        missing
    }

    /// Releases the lock, if held.
    pub async fn unlock(&mut self) {
        if let Some(acquired) = self.held.take() {
            step::enter("releasing the lock");
            lock::release(&mut self.conn, &acquired.key).await;
            drop(acquired);
        }
    }

    /// Applies what `plan` runs, in order, stopping at the first failure; with `resume`, also
    /// continues the migrations that stopped part-way, after their last completed statement.
    pub async fn apply(
        &mut self,
        history: &History,
        source: &Source,
        plan: &Plan,
        resume: bool,
        applied_by: &str,
    ) -> Applied {
        let progress = std::io::stderr().is_terminal();
        let mut applied = Applied::default();
        let mut runnable: Vec<usize> = plan.to_apply.clone();
        if resume {
            for (i, item) in plan.items.iter().enumerate() {
                if matches!(item.state, State::Partial { .. }) {
                    runnable.push(i);
                }
            }
            runnable.sort_by_key(|i| plan.items[*i].index);
        }
        for item_index in runnable {
            if applied.failed.is_some() {
                break;
            }
            let item = &plan.items[item_index];
            let m = &source.migrations[item.index];
            let resume_from = match item.state {
                State::Partial { statements_done } => statements_done.max(0) as usize,
                _ => 0,
            };
            if progress {
                eprint!("applying {} … ", title(m));
            }
            step::enter(format!("applying {}", title(m)));
            let outcome = apply::apply(&mut self.conn, history, m, applied_by, resume_from).await;
            if outcome.is_ok() {
                step::finished(m.version.clone());
            }
            if progress {
                match &outcome {
                    Ok(done) => eprintln!("ok ({})", format_duration(done.duration)),
                    Err(f) => eprintln!("failed at {}:{}", f.location.file, f.location.line),
                }
            }
            if outcome.is_err() {
                applied.failed = Some(m.version.clone());
            }
            applied.outcomes.push((item_index, outcome));
        }
        applied
    }

    /// Reverts one step of a rollback with `m`'s down script; a step whose rollback stopped
    /// part-way continues after its last completed down statement. One step at a time, so the
    /// command reports each as it ends (a run cut off by its deadline keeps those rows).
    pub async fn revert(
        &mut self,
        history: &History,
        m: &Migration,
        step: &Step,
    ) -> Result<Reverted, Failure> {
        let resume = (step.row.status == HistoryStatus::Reverting).then(|| step.resume_from());
        step::enter(format!("reverting {}", title(m)));
        let outcome = revert::revert(&mut self.conn, history, m, &step.row.version, resume).await;
        if outcome.is_ok() {
            step::finished(m.version.clone());
        }
        outcome
    }
}

/// Whether the plan may not run before the lock: drift and refused out-of-order migrations. A
/// `partial` row may be a migration running right now in another process: only under the lock
/// does it mean one that stopped.
pub fn blocked_before_lock(plan: &Plan, opts: &plan::Options) -> bool {
    plan.blockers(opts)
        .iter()
        .any(|i| !matches!(i.state, State::Partial { .. } | State::Reverting { .. }))
}

/// Whether the plan may not run under the lock: drift, refused out-of-order migrations, and
/// partial ones unless resuming.
pub fn blocked(plan: &Plan, opts: &plan::Options, resume: bool) -> bool {
    plan.blockers(opts)
        .iter()
        .any(|i| !(resume && matches!(i.state, State::Partial { .. })))
}

#[cfg(test)]
mod tests {
    //! The session's state machine against a real SQLite database in a temporary file.

    use super::*;
    use crate::migrate::history::{self, Row};
    use crate::migrate::source;

    /// How long a test waits for a lock another session holds: short, it is meant to fail.
    const NO_WAIT: Duration = Duration::from_millis(300);
    /// Opening the file and SQLite's own busy waits: generous, a loaded machine is slow.
    const CONNECT: Duration = Duration::from_secs(10);

    struct Db {
        dir: tempfile::TempDir,
        url: String,
        history: History,
    }

    impl Db {
        fn new() -> Db {
            let dir = tempfile::tempdir().expect("temp dir");
            std::fs::create_dir(dir.path().join("migrations")).expect("migrations dir");
            let url = format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("db.sqlite").display()
            );
            let history = History::new("shipgate_migrations", Backend::Sqlite).expect("table");
            Db { dir, url, history }
        }

        fn write(&self, name: &str, sql: &str) {
            std::fs::write(self.dir.path().join("migrations").join(name), sql).expect("write");
        }

        fn source(&self) -> Source {
            source::load(&self.dir.path().join("migrations"), None).expect("migrations")
        }

        async fn session(&self) -> Session {
            let mut s = Session::connect(&self.url, "db.sqlite", Backend::Sqlite, CONNECT)
                .await
                .expect("connect");
            s.limit(CONNECT, None).await.expect("limits");
            s
        }

        async fn rows(&self, s: &mut Session) -> Vec<Row> {
            if !self.history.exists(s.conn()).await.expect("exists") {
                self.history.create(s.conn()).await.expect("create");
            }
            self.history.rows(s.conn()).await.expect("rows")
        }

        /// Plans against the history as it is now, and applies what the plan allows.
        async fn migrate(&self, s: &mut Session, resume: bool) -> (Plan, Option<Applied>) {
            let source = self.source();
            let rows = self.rows(s).await;
            let opts = opts();
            let plan = Plan::new(&source, &rows, &opts).expect("plan");
            if blocked(&plan, &opts, resume) {
                return (plan, None);
            }
            let applied = s.apply(&self.history, &source, &plan, resume, "test").await;
            (plan, Some(applied))
        }

        async fn table_exists(&self, s: &mut Session, table: &str) -> bool {
            db::table_exists(s.conn(), Backend::Sqlite, table)
                .await
                .expect("table query")
        }
    }

    fn opts() -> plan::Options {
        plan::Options {
            to: None,
            allow_out_of_order: false,
        }
    }

    fn states(plan: &Plan) -> Vec<State> {
        plan.items.iter().map(|i| i.state.clone()).collect()
    }

    #[test]
    fn the_dialects_choices() {
        assert_eq!(Backend::Sqlite.begin(), "BEGIN IMMEDIATE");
        assert_eq!(Backend::Postgres.begin(), "BEGIN");
        assert!(Backend::MySql.commits_ddl() && !Backend::Postgres.commits_ddl());
        assert!(!Backend::Sqlite.has_session_lock() && Backend::MySql.has_session_lock());
        assert_eq!(Backend::MySql.quote_ident("a`b"), "`a``b`");
        assert_eq!(Backend::Sqlite.quote_ident("a\"b"), "\"a\"\"b\"");
    }

    #[tokio::test]
    async fn an_unreachable_database_is_a_connect_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("none/db.sqlite").display());
        let e = Session::connect(&url, "none/db.sqlite", Backend::Sqlite, NO_WAIT)
            .await
            .err()
            .expect("no database there");
        assert!(
            matches!(&e, Error::Connect { url, .. } if url == "none/db.sqlite"),
            "{e:?}"
        );
        assert!(
            e.to_string()
                .starts_with("cannot connect to none/db.sqlite: "),
            "{e}"
        );
    }

    #[tokio::test]
    async fn the_lock_held_by_another_is_refused_then_taken_once_that_session_is_lost() {
        let db = Db::new();
        let mut first = db.session().await;
        let locked = first
            .lock("shipgate_migrations", &db.url, NO_WAIT)
            .await
            .expect("first lock");
        assert!(locked.what.starts_with("SQLite lock file "), "{locked:?}");
        assert_eq!(locked.held_by, None);

        let mut second = db.session().await;
        let e = second
            .lock("shipgate_migrations", &db.url, NO_WAIT)
            .await
            .expect_err("held by the first session");
        assert!(matches!(e, Error::Lock(_)), "{e:?}");

        // SQLite's lock is the database file's: a second history table in it waits too.
        let mut other = db.session().await;
        assert!(other.lock("other_history", &db.url, NO_WAIT).await.is_err());
        drop(other);

        // A migrator that dies (its session dropped without unlocking) frees the lock.
        drop(first);
        second
            .lock("shipgate_migrations", &db.url, NO_WAIT)
            .await
            .expect("free once the holder is gone");
        second.unlock().await;
        let mut third = db.session().await;
        assert!(
            third
                .lock("shipgate_migrations", &db.url, NO_WAIT)
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn a_failing_down_script_leaves_the_step_as_it_was() {
        let db = Db::new();
        db.write("001_a.up.sql", "CREATE TABLE a (x INT);\n");
        db.write("001_a.down.sql", "DROP TABLE a;\n");
        db.write("002_b.up.sql", "CREATE TABLE b (x INT);\n");
        db.write("002_b.down.sql", "DROP TABLE b;\nDROP TABLE nope;\n");
        let mut s = db.session().await;
        let (_, applied) = db.migrate(&mut s, false).await;
        assert_eq!(applied.expect("fresh").failed, None);
        let source = db.source();
        let rows = db.rows(&mut s).await;
        let steps = revert::select(&source, &rows, &revert::Range::All).expect("steps");
        let [newest, _] = &steps[..] else {
            panic!("two steps: {steps:?}");
        };
        let m = &source.migrations[newest.index.expect("has a file")];
        let f = s
            .revert(&db.history, m, newest)
            .await
            .expect_err("its down script fails");
        assert!(!f.partial && f.statement == 2, "{f:?}");
        // Its transaction rolled back, and 001 was not touched.
        assert!(db.table_exists(&mut s, "b").await && db.table_exists(&mut s, "a").await);
        assert_eq!(db.rows(&mut s).await.len(), 2);
    }

    #[tokio::test]
    async fn preparing_the_history_creates_it_once_and_records_a_baseline_only_on_a_first_run() {
        let db = Db::new();
        db.write("001_a.sql", "CREATE TABLE a (x INT);\n");
        db.write("002_b.sql", "CREATE TABLE b (x INT);\n");
        db.write("003_c.sql", "CREATE TABLE c (x INT);\n");
        let source = db.source();
        let mut s = db.session().await;
        assert_eq!(s.read_history(&db.history).await, Ok(None));

        let first = s
            .prepare_history(&db.history, &source, Some("002"), "test")
            .await
            .expect("prepared");
        assert!(!first.existed);
        assert!(first.adopted.is_some(), "{first:?}");
        let versions: Vec<&str> = first.rows.iter().map(|r| r.version.as_str()).collect();
        assert_eq!(versions, ["001", "002"]);
        assert!(
            first
                .rows
                .iter()
                .all(|r| r.status == history::Status::Baseline)
        );

        // The table exists and holds rows: nothing is adopted again, the rows are the truth.
        let second = s
            .prepare_history(&db.history, &source, None, "test")
            .await
            .expect("prepared again");
        assert!(second.existed && second.adopted.is_none());
        assert_eq!(second.rows, first.rows);
        let plan = Plan::new(&source, &second.rows, &opts()).expect("plan");
        assert!(matches!(
            states(&plan)[..],
            [State::Applied, State::Applied, State::Pending]
        ));
    }

    #[tokio::test]
    async fn a_repair_changes_only_the_row_it_names_and_keeps_the_reason() {
        let db = Db::new();
        db.write("001_a.sql", "CREATE TABLE a (x INT);\n");
        let mut s = db.session().await;
        db.migrate(&mut s, false).await;
        db.write("001_a.sql", "CREATE TABLE a (x INT); -- reformatted\n");
        let source = db.source();
        let m = &source.migrations[0];
        let (plan, _) = db.migrate(&mut s, false).await;
        assert!(matches!(states(&plan)[..], [State::Drifted { .. }]));

        let written = s
            .repair(
                &db.history,
                m,
                Repair::AcceptChecksum,
                "comment only",
                "ana",
            )
            .await;
        assert_eq!(written, Ok(true));
        let rows = db.rows(&mut s).await;
        assert_eq!(rows[0].checksum, m.checksum);
        let note = rows[0].note.as_deref().unwrap_or_default();
        assert!(note.contains("accepted by ana: comment only"), "{note}");
        let (plan, _) = db.migrate(&mut s, false).await;
        assert!(
            matches!(states(&plan)[..], [State::Applied]),
            "drift accepted"
        );

        // Only a partial migration can be marked resolved: an applied one is left as it is.
        let written = s
            .repair(&db.history, m, Repair::MarkResolved, "by hand", "ana")
            .await;
        assert_eq!(written, Ok(false));
        assert_eq!(db.rows(&mut s).await[0].status, history::Status::Applied);
    }

    #[tokio::test]
    async fn missing_tables_names_each_one_that_is_not_there() {
        let db = Db::new();
        let mut s = db.session().await;
        sqlx::Executor::execute(s.conn(), "CREATE TABLE present (x INT)")
            .await
            .expect("create");
        let asked = ["present".to_string(), "absent".to_string()];
        assert_eq!(s.missing_tables(&asked).await, ["absent"]);
    }

    #[test]
    fn a_session_error_names_the_step_that_failed() {
        let connect = Error::Connect {
            url: "u".into(),
            cause: db::Error::Connect("refused".into()),
        };
        assert_eq!(connect.stage(), ("database", "database"));
        assert_eq!(connect.to_string(), "cannot connect to u: refused");
        assert_eq!(Error::Lock(lock::Error::NoAnswer).stage(), ("lock", "lock"));
        let read = db::Error::Server("no such table".into());
        assert_eq!(Error::History(read.clone()).stage().0, "history");
        assert_eq!(Error::History(read).to_string(), "no such table");
        let dirty = adopt::Error::Dirty("7".into());
        assert_eq!(Error::Adopt(dirty).stage().0, "adopt");
    }

    #[tokio::test]
    async fn a_changed_applied_migration_blocks_the_run() {
        let db = Db::new();
        db.write("001_a.sql", "CREATE TABLE a (x INT);\n");
        let mut s = db.session().await;
        let (_, applied) = db.migrate(&mut s, false).await;
        let applied = applied.expect("nothing blocks a fresh database");
        assert_eq!(applied.failed, None);
        assert!(matches!(&applied.outcomes[..], [(0, Ok(done))] if done.statements == 1));

        db.write("001_a.sql", "CREATE TABLE a (x INT, y INT);\n");
        db.write("002_b.sql", "CREATE TABLE b (x INT);\n");
        let (plan, applied) = db.migrate(&mut s, false).await;
        assert!(applied.is_none(), "drift must stop the run");
        assert!(
            matches!(&states(&plan)[..], [State::Drifted { .. }, State::Pending]),
            "{:?}",
            states(&plan)
        );
        assert!(blocked_before_lock(&plan, &opts()));
        // `--resume` continues partial migrations; it does not excuse drift.
        assert!(blocked(&plan, &opts(), true));
        assert!(
            !db.table_exists(&mut s, "b").await,
            "nothing after drift ran"
        );
    }

    #[tokio::test]
    async fn a_partial_migration_blocks_until_resumed_after_its_last_completed_statement() {
        let db = Db::new();
        db.write(
            "001_split.sql",
            "-- shipgate:no-transaction\nCREATE TABLE a (x INT);\nINSERT INTO later VALUES (1);\nCREATE TABLE b (x INT);\n",
        );
        db.write("002_after.sql", "CREATE TABLE c (x INT);\n");
        let mut s = db.session().await;
        let (_, applied) = db.migrate(&mut s, false).await;
        let applied = applied.expect("a fresh database is not blocked");
        assert_eq!(applied.failed.as_deref(), Some("001"));
        let [(0, Err(f))] = &applied.outcomes[..] else {
            panic!("one failure, nothing after it: {:?}", applied.outcomes);
        };
        assert!(f.partial && f.completed == 1 && f.statement == 2, "{f:?}");
        assert!(
            db.table_exists(&mut s, "a").await,
            "the completed statement stays"
        );
        assert!(
            !db.table_exists(&mut s, "c").await,
            "nothing after the failure ran"
        );
        let rows = db.rows(&mut s).await;
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(rows[0].status, history::Status::Partial);
        assert_eq!(rows[0].statements_done, Some(1));

        // Under the lock a partial row is a migration that stopped: blocked without --resume.
        let (plan, applied) = db.migrate(&mut s, false).await;
        assert!(applied.is_none());
        assert!(matches!(
            states(&plan)[..],
            [State::Partial { statements_done: 1 }, State::Pending]
        ));
        // Before the lock it may be one running now elsewhere: not a reason to stop yet.
        assert!(!blocked_before_lock(&plan, &opts()));

        // The cause fixed, --resume runs the rest of it (not the CREATE TABLE a again, which
        // would fail), then what follows.
        sqlx::Executor::execute(s.conn(), "CREATE TABLE later (x INT)")
            .await
            .expect("fix the cause");
        let (_, applied) = db.migrate(&mut s, true).await;
        let applied = applied.expect("resume continues a partial migration");
        assert_eq!(applied.failed, None, "{:?}", applied.outcomes);
        let ran: Vec<usize> = applied.outcomes.iter().map(|(i, _)| *i).collect();
        assert_eq!(ran, vec![0, 1]);
        assert!(db.table_exists(&mut s, "b").await && db.table_exists(&mut s, "c").await);
        let rows = db.rows(&mut s).await;
        assert!(
            rows.iter().all(|r| r.status == history::Status::Applied),
            "{rows:?}"
        );
        let (plan, _) = db.migrate(&mut s, false).await;
        assert!(plan.to_apply.is_empty() && plan.blockers(&opts()).is_empty());
    }
}
