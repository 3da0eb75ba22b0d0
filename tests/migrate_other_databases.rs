//! `shipgate migrate` on SQLite (a file in the test's temp dir) and on the real MariaDB server
//! (one throwaway database per test).

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use common::process::{block, finish, pairs, spawn};
use common::{TestDb, Workdir, applied_versions, json_report, result, stderr, stdout};
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::Connection;

fn run(w: &Workdir, url: &str, args: &[&str]) -> (Output, Value) {
    let out = w
        .cmd()
        .args(["migrate", "--format", "json", "--database-url", url])
        .args(args)
        .output()
        .expect("run shipgate");
    let report = json_report(&out);
    (out, report)
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exit code")
}

fn both(out: &Output) -> String {
    format!("stdout:\n{}\nstderr:\n{}", stdout(out), stderr(out))
}

/// Two migrators ran at once: each of 001–003 was applied by one, and the other found it
/// applied (its `migrate.applied` row) or saw it applied meanwhile (a skip row).
fn applied_by_exactly_one(a: &Value, b: &Value) {
    let row = |r: &Value, id: &str| {
        r["results"]
            .as_array()
            .expect("results")
            .iter()
            .find(|x| x["id"] == id)
            .map(|x| x["status"].as_str().unwrap_or_default().to_string())
    };
    for v in ["001", "002", "003"] {
        let id = format!("migration.{v}");
        let found = |r: &Value| applied_versions(r).iter().any(|a| a == v);
        let (sa, sb) = (row(a, &id), row(b, &id));
        let passed = [sa.as_deref(), sb.as_deref()]
            .iter()
            .filter(|s| **s == Some("pass"))
            .count();
        assert_eq!(passed, 1, "{id} applied by exactly one: {a:#} {b:#}");
        let other_saw_it = (sa.as_deref() == Some("pass")
            && (found(b) || sb.as_deref() == Some("skip")))
            || (sb.as_deref() == Some("pass") && (found(a) || sa.as_deref() == Some("skip")));
        assert!(other_saw_it, "{id}: {a:#} {b:#}");
    }
}

fn status<'a>(report: &'a Value, id: &str) -> &'a str {
    result(report, id)["status"].as_str().expect("status")
}

fn message<'a>(report: &'a Value, id: &str) -> &'a str {
    result(report, id)["message"].as_str().expect("message")
}

fn migration_statuses(report: &Value) -> Vec<(String, String)> {
    report["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|r| r["id"].as_str().unwrap().starts_with("migration."))
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_string(),
                r["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn sha256(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `(version, checksum, status, statements_done)` of the history, by version.
type Recorded = (String, String, String, Option<i64>);

const HISTORY: &str =
    "SELECT version, checksum, status, statements_done FROM shipgate_migrations ORDER BY version";

// ---------------------------------------------------------------------------------------------
// SQLite

struct Sqlite {
    path: PathBuf,
    /// What shipgate is given: creates the file when missing.
    url: String,
}

impl Sqlite {
    fn in_dir(w: &Workdir) -> Sqlite {
        let path = w.path().join("app.db");
        Sqlite {
            url: format!("sqlite://{}?mode=rwc", path.display()),
            path,
        }
    }

    async fn connect(&self) -> sqlx::SqliteConnection {
        assert!(self.path.exists(), "{} does not exist", self.path.display());
        sqlx::SqliteConnection::connect(&format!("sqlite://{}", self.path.display()))
            .await
            .expect("open the SQLite file")
    }

    fn scalar(&self, sql: &str) -> i64 {
        block(async {
            let mut conn = self.connect().await;
            sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_string()))
                .fetch_one(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
        })
    }

    fn execute(&self, sql: &str) {
        block(async {
            let mut conn = sqlx::SqliteConnection::connect(&self.url)
                .await
                .expect("open");
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
                .execute(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        })
    }

    fn tables(&self) -> Vec<String> {
        block(async {
            let mut conn = self.connect().await;
            sqlx::query_scalar(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
            )
            .fetch_all(&mut conn)
            .await
            .expect("list tables")
        })
    }

    fn history(&self) -> Vec<Recorded> {
        block(async {
            let mut conn = self.connect().await;
            sqlx::query_as(HISTORY)
                .fetch_all(&mut conn)
                .await
                .expect("history")
        })
    }
}

fn file_bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

#[test]
fn sqlite_applies_then_a_second_run_changes_nothing() {
    let w = Workdir::new();
    let db = Sqlite::in_dir(&w);
    let first = "CREATE TABLE funds (id INTEGER PRIMARY KEY, name TEXT NOT NULL);\n";
    w.write("migrations/001_funds.sql", first);
    w.write(
        "migrations/002_seed.sql",
        "INSERT INTO funds (name) VALUES ('Fund I');\n",
    );
    w.write(
        "migrations/003_index.sql",
        "CREATE INDEX funds_name ON funds (name);\nCREATE TABLE notes (body TEXT);\n",
    );

    let (out, report) = run(&w, &db.url, &[]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert_eq!(
        migration_statuses(&report),
        pairs(&[
            ("migration.001", "pass"),
            ("migration.002", "pass"),
            ("migration.003", "pass"),
        ])
    );
    assert!(
        message(&report, "migrate.lock").contains("SQLite"),
        "{}",
        message(&report, "migrate.lock")
    );
    let history = db.history();
    assert_eq!(
        history.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(),
        ["001", "002", "003"]
    );
    assert!(
        history.iter().all(|r| r.2 == "applied" && r.3.is_none()),
        "{history:?}"
    );
    assert_eq!(history[0].1, sha256(first));
    assert_eq!(db.scalar("SELECT count(*) FROM funds"), 1);

    let (out, report) = run(&w, &db.url, &[]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert_eq!(
        migration_statuses(&report),
        vec![],
        "one row for all: {report:#}"
    );
    assert_eq!(status(&report, "migrate.applied"), "skip");
    assert_eq!(applied_versions(&report), ["001", "002", "003"]);
    assert_eq!(db.scalar("SELECT count(*) FROM funds"), 1);
    assert_eq!(db.history(), history);
}

/// A migration file saved before its SQL was written (empty, or only comments) is not applied
/// silently: the dry run and the run warn at the file, and `--strict` fails.
#[test]
fn sqlite_an_empty_migration_is_a_warning_at_its_file() {
    let w = Workdir::new();
    let db = Sqlite::in_dir(&w);
    w.write(
        "migrations/001_funds.sql",
        "CREATE TABLE funds (id INTEGER);\n",
    );
    w.write("migrations/002_todo.sql", "");
    w.write("migrations/003_later.sql", "-- fill in: add the index\n\n");

    let (out, report) = run(&w, &db.url, &["--dry-run"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    for id in ["migration.002", "migration.003"] {
        assert_eq!(status(&report, id), "warn", "{report:#}");
        assert!(
            message(&report, id).contains("holds no statement"),
            "{report:#}"
        );
    }

    let (out, report) = run(&w, &db.url, &["--strict"]);
    assert_eq!(
        code(&out),
        1,
        "--strict fails on the warning: {}",
        both(&out)
    );
    assert_eq!(status(&report, "migration.001"), "pass");
    let empty = result(&report, "migration.002");
    assert_eq!(empty["status"], "warn", "{report:#}");
    assert!(
        empty["location"]["file"]
            .as_str()
            .unwrap()
            .ends_with("002_todo.sql"),
        "{empty:#}"
    );
    assert!(message(&report, "migration.003").contains("recorded as applied"));
}

#[test]
fn sqlite_a_failing_migration_is_rolled_back() {
    let w = Workdir::new();
    let db = Sqlite::in_dir(&w);
    w.write(
        "migrations/001_funds.sql",
        "CREATE TABLE funds (id INTEGER);\n",
    );
    w.write(
        "migrations/002_broken.sql",
        "CREATE TABLE rolled_back (x INTEGER);\nINSERT INTO funds VALUES (1);\n\n-- no such table\nINSERT INTO nope\n  VALUES (1);\n",
    );

    let (out, report) = run(&w, &db.url, &[]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    assert_eq!(status(&report, "migration.001"), "pass");
    let failed = result(&report, "migration.002");
    assert_eq!(failed["status"], "fail");
    assert!(
        failed["message"]
            .as_str()
            .unwrap()
            .contains("no such table: nope"),
        "{failed:#}"
    );
    assert_eq!(failed["details"]["statement"], 3);
    assert_eq!(failed["location"]["file"], "migrations/002_broken.sql");
    assert_eq!(
        failed["location"]["line"], 5,
        "the failing statement's first line"
    );
    assert_eq!(failed["location"]["column"], 1);

    assert_eq!(db.tables(), ["funds", "shipgate_migrations"]);
    assert_eq!(db.scalar("SELECT count(*) FROM funds"), 0);
    assert_eq!(db.history().len(), 1);
}

#[test]
fn sqlite_dry_run_leaves_the_file_as_it_was() {
    let w = Workdir::new();
    let db = Sqlite::in_dir(&w);
    db.execute("CREATE TABLE existing (id INTEGER); INSERT INTO existing VALUES (1);");
    w.write(
        "migrations/001_funds.sql",
        "CREATE TABLE funds (id INTEGER);\n",
    );
    let before = file_bytes(&db.path);

    let (out, report) = run(&w, &db.url, &["--dry-run"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    let sql = result(&report, "migration.001")["details"]["sql"]
        .as_str()
        .unwrap();
    assert!(sql.starts_with("BEGIN IMMEDIATE;"), "{sql}");
    assert!(sql.contains("CREATE TABLE funds (id INTEGER);"), "{sql}");
    assert!(sql.contains("INSERT INTO shipgate_migrations"), "{sql}");
    assert_eq!(status(&report, "migrate.history"), "skip");

    assert_eq!(file_bytes(&db.path), before, "the database file changed");
    assert_eq!(db.tables(), ["existing"]);

    let (out, _) = run(&w, &db.url, &["--check"]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    assert_eq!(file_bytes(&db.path), before);
}

#[test]
fn sqlite_dry_run_and_check_do_not_create_the_database_file() {
    // `--dry-run` promises to change nothing; `mode=rwc` asks for the file to be created when
    // migrating, which a dry run or a check does not do.
    let w = Workdir::new();
    let db = Sqlite::in_dir(&w);
    w.write(
        "migrations/001_funds.sql",
        "CREATE TABLE funds (id INTEGER);\n",
    );

    let (out, _) = run(&w, &db.url, &["--dry-run"]);
    assert!(code(&out) != 2, "{}", both(&out));
    assert!(!db.path.exists(), "--dry-run created {}", db.path.display());

    let (out, _) = run(&w, &db.url, &["--check"]);
    assert!(code(&out) != 2, "{}", both(&out));
    assert!(!db.path.exists(), "--check created {}", db.path.display());
}

#[test]
fn sqlite_two_migrators_at_once_apply_each_migration_once() {
    let w = Workdir::new();
    let db = Sqlite::in_dir(&w);
    w.write("migrations/001_t.sql", "CREATE TABLE t (id INTEGER);\n");
    w.write(
        "migrations/002_slow.sql",
        "CREATE TABLE counted AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000) SELECT count(*) AS n FROM c;\n",
    );
    w.write("migrations/003_row.sql", "INSERT INTO t VALUES (1);\n");
    let args = ["migrate", "--format", "json", "--database-url", &db.url];

    let a = spawn(&w, &args);
    let b = spawn(&w, &args);
    let a = finish(a, Duration::from_secs(60));
    let b = finish(b, Duration::from_secs(60));
    assert_eq!(code(&a), 0, "{}", both(&a));
    assert_eq!(code(&b), 0, "{}", both(&b));
    assert_eq!(db.scalar("SELECT count(*) FROM t"), 1);
    assert_eq!(
        db.history()
            .iter()
            .map(|r| r.0.as_str())
            .collect::<Vec<_>>(),
        ["001", "002", "003"]
    );
    let (ra, rb) = (json_report(&a), json_report(&b));
    applied_by_exactly_one(&ra, &rb);
}

#[test]
fn sqlite_a_held_lock_file_makes_the_migrator_wait_then_give_up() {
    let w = Workdir::new();
    let db = Sqlite::in_dir(&w);
    w.write("migrations/001_t.sql", "CREATE TABLE t (id INTEGER);\n");
    // Another process's lock, taken the way std takes it (flock on Unix, LockFileEx on
    // Windows), as another shipgate run would.
    let lock_path = w.path().join("app.db.shipgate-lock");
    let held = std::fs::File::create(&lock_path).expect("create the lock file");
    held.try_lock().expect("take the lock");

    let started = Instant::now();
    let (out, report) = run(&w, &db.url, &["--lock-timeout", "1s"]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    assert!(started.elapsed() >= Duration::from_secs(1), "it waited");
    assert_eq!(status(&report, "migrate.lock"), "fail");
    let msg = message(&report, "migrate.lock");
    assert!(
        msg.contains("another migration holds the SQLite lock file")
            && msg.contains("app.db.shipgate-lock")
            && msg.contains("gave up after 1"),
        "{msg}"
    );
    assert_eq!(
        db.scalar("SELECT count(*) FROM sqlite_master WHERE name IN ('t', 'shipgate_migrations')"),
        0,
        "nothing applied, no history table"
    );

    drop(held);
    let (out, report) = run(&w, &db.url, &["--lock-timeout", "1s"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert!(
        message(&report, "migrate.lock").starts_with("took the SQLite lock file"),
        "{}",
        message(&report, "migrate.lock")
    );
    assert_eq!(db.history().len(), 1);
}

// ---------------------------------------------------------------------------------------------
// MariaDB

async fn mysql(db: &TestDb) -> sqlx::MySqlConnection {
    sqlx::MySqlConnection::connect(&db.url)
        .await
        .expect("connect to the test database")
}

fn my_scalar(db: &TestDb, sql: &str) -> i64 {
    block(async {
        let mut conn = mysql(db).await;
        sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_string()))
            .fetch_one(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    })
}

fn my_tables(db: &TestDb) -> Vec<String> {
    block(async {
        let mut conn = mysql(db).await;
        sqlx::query_scalar(
            "SELECT CAST(table_name AS CHAR) FROM information_schema.tables WHERE table_schema = DATABASE() ORDER BY table_name",
        )
        .fetch_all(&mut conn)
        .await
        .expect("list tables")
    })
}

fn my_history(db: &TestDb) -> Vec<Recorded> {
    block(async {
        let mut conn = mysql(db).await;
        sqlx::query_as(HISTORY)
            .fetch_all(&mut conn)
            .await
            .expect("history")
    })
}

#[test]
fn mariadb_applies_then_a_second_run_changes_nothing() {
    let w = Workdir::new();
    let db = TestDb::mysql();
    let first = "CREATE TABLE funds (\n  id INT PRIMARY KEY,\n  name VARCHAR(100) NOT NULL\n);\n";
    w.write("migrations/001_funds.sql", first);
    w.write(
        "migrations/002_seed.sql",
        "INSERT INTO funds VALUES (1, 'Fund I');\nCREATE INDEX funds_name ON funds (name);\n",
    );

    let (out, report) = run(&w, &db.url, &[]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert_eq!(
        migration_statuses(&report),
        pairs(&[("migration.001", "pass"), ("migration.002", "pass")])
    );
    assert_eq!(result(&report, "migration.002")["details"]["statements"], 2);
    assert_eq!(
        result(&report, "migration.002")["details"]["transaction"],
        false
    );
    assert!(
        message(&report, "migrate.lock").contains("MySQL lock"),
        "{}",
        message(&report, "migrate.lock")
    );
    let history = my_history(&db);
    assert_eq!(
        history,
        [
            ("001".into(), sha256(first), "applied".into(), None),
            (
                "002".into(),
                sha256(
                    "INSERT INTO funds VALUES (1, 'Fund I');\nCREATE INDEX funds_name ON funds (name);\n"
                ),
                "applied".into(),
                None
            ),
        ]
    );
    assert_eq!(my_scalar(&db, "SELECT COUNT(*) FROM funds"), 1);

    let (out, report) = run(&w, &db.url, &[]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert_eq!(
        migration_statuses(&report),
        vec![],
        "one row for all: {report:#}"
    );
    assert_eq!(
        message(&report, "migrate.applied"),
        "2 migrations already applied, the newest 002"
    );
    assert_eq!(my_scalar(&db, "SELECT COUNT(*) FROM funds"), 1);
    assert_eq!(my_history(&db), history);
}

#[test]
fn mariadb_a_failing_statement_keeps_the_progress_and_resumes() {
    let w = Workdir::new();
    let db = TestDb::mysql();
    w.write("migrations/001_funds.sql", "CREATE TABLE funds (id INT);\n");
    w.write(
        "migrations/002_steps.sql",
        "CREATE TABLE m1 (x INT);\n\nINSERT INTO audit_log VALUES (1);\nCREATE TABLE m2 (x INT);\n",
    );

    let (out, report) = run(&w, &db.url, &[]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    let failed = result(&report, "migration.002");
    assert_eq!(failed["status"], "fail");
    let msg = failed["message"].as_str().unwrap();
    assert!(msg.contains("at statement 2"), "{msg}");
    assert!(msg.contains("audit_log"), "{msg}");
    assert!(msg.contains("--resume"), "says how to go on: {msg}");
    assert_eq!(failed["details"]["sqlstate"], "42S02");
    assert_eq!(failed["details"]["statement"], 2);
    assert_eq!(failed["location"]["file"], "migrations/002_steps.sql");
    assert_eq!(failed["location"]["line"], 3);

    // MySQL committed the CREATE TABLE before the failure: that is what happened, and the
    // history says how far it got.
    assert_eq!(my_tables(&db), ["funds", "m1", "shipgate_migrations"]);
    let row = my_history(&db)
        .into_iter()
        .find(|r| r.0 == "002")
        .expect("a row for 002");
    assert_eq!((row.2.as_str(), row.3), ("partial", Some(1)));

    // A plain re-run refuses, naming the statement that did not complete.
    let (out, report) = run(&w, &db.url, &[]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    let msg = message(&report, "migration.002");
    assert!(msg.contains("stopped after 1 of 3 statements"), "{msg}");
    assert_eq!(result(&report, "migration.002")["location"]["line"], 3);

    // The cause fixed, --resume runs statements 2 and 3 only (re-running 1 would fail).
    db.execute("CREATE TABLE audit_log (x INT)");
    let (out, report) = run(&w, &db.url, &["--resume"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert_eq!(status(&report, "migration.002"), "pass");
    assert_eq!(my_scalar(&db, "SELECT COUNT(*) FROM audit_log"), 1);
    assert_eq!(
        my_tables(&db),
        ["audit_log", "funds", "m1", "m2", "shipgate_migrations"]
    );
    let row = my_history(&db).into_iter().find(|r| r.0 == "002").unwrap();
    assert_eq!((row.2.as_str(), row.3), ("applied", None));
}

#[test]
fn mariadb_check_after_a_partial_migration_is_not_up_to_date() {
    let w = Workdir::new();
    let db = TestDb::mysql();
    w.write(
        "migrations/001_steps.sql",
        "CREATE TABLE m1 (x INT);\nINSERT INTO audit_log VALUES (1);\n",
    );
    let (out, _) = run(&w, &db.url, &[]);
    assert_eq!(code(&out), 1, "{}", both(&out));

    let (out, report) = run(&w, &db.url, &["--check"]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    assert_eq!(status(&report, "migration.001"), "fail");
    let summary = message(&report, "migrate.status");
    assert_eq!(
        status(&report, "migrate.status"),
        "fail",
        "a migration stopped half-way, yet: {summary}"
    );
    assert!(!summary.contains("up to date"), "{summary}");
}

#[test]
fn mariadb_dry_run_notes_the_implicit_ddl_commit_and_creates_nothing() {
    let w = Workdir::new();
    let db = TestDb::mysql();
    w.write(
        "migrations/001_funds.sql",
        "CREATE TABLE funds (id INT);\nINSERT INTO funds VALUES (1);\n",
    );

    let (out, report) = run(&w, &db.url, &["--dry-run"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    let r = result(&report, "migration.001");
    assert_eq!(r["status"], "skip");
    let msg = r["message"].as_str().unwrap();
    assert!(msg.contains("MySQL commits DDL implicitly"), "{msg}");
    assert_eq!(r["details"]["transaction"], false);
    let sql = r["details"]["sql"].as_str().unwrap();
    assert!(
        !sql.contains("BEGIN") && !sql.contains("COMMIT"),
        "no transaction promised: {sql}"
    );
    assert!(
        sql.contains("CREATE TABLE funds (id INT);\nINSERT INTO funds VALUES (1);"),
        "{sql}"
    );
    assert!(sql.contains("INSERT INTO shipgate_migrations"), "{sql}");
    assert!(my_tables(&db).is_empty(), "{:?}", my_tables(&db));
}

#[test]
fn mariadb_two_migrators_at_once_apply_each_migration_once() {
    let w = Workdir::new();
    let db = TestDb::mysql();
    w.write("migrations/001_t.sql", "CREATE TABLE t (id INT);\n");
    w.write("migrations/002_slow.sql", "SELECT SLEEP(1);\n");
    w.write("migrations/003_row.sql", "INSERT INTO t VALUES (1);\n");
    let args = ["migrate", "--format", "json", "--database-url", &db.url];

    let a = spawn(&w, &args);
    let b = spawn(&w, &args);
    let a = finish(a, Duration::from_secs(60));
    let b = finish(b, Duration::from_secs(60));
    assert_eq!(code(&a), 0, "{}", both(&a));
    assert_eq!(code(&b), 0, "{}", both(&b));
    assert_eq!(my_scalar(&db, "SELECT COUNT(*) FROM t"), 1);
    assert_eq!(
        my_history(&db)
            .iter()
            .map(|r| r.0.as_str())
            .collect::<Vec<_>>(),
        ["001", "002", "003"]
    );
    let (ra, rb) = (json_report(&a), json_report(&b));
    applied_by_exactly_one(&ra, &rb);
}

#[test]
fn mariadb_a_lock_held_too_long_fails_naming_the_holder() {
    let w = Workdir::new();
    let db = TestDb::mysql();
    w.write("migrations/001_a.sql", "CREATE TABLE a (x INT);\n");
    let (out, report) = run(&w, &db.url, &[]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    // "took the MySQL lock `shipgate_…`": the name this database's migrators share.
    let took = message(&report, "migrate.lock");
    let name = took
        .split('`')
        .nth(1)
        .unwrap_or_else(|| panic!("no lock name in {took}"))
        .to_string();
    assert!(name.starts_with("shipgate_"), "{took}");

    w.write("migrations/002_b.sql", "CREATE TABLE b (x INT);\n");
    let (out, report, holder) = block(async {
        let mut conn = mysql(&db).await;
        let got: i64 = sqlx::query_scalar("SELECT CAST(GET_LOCK(?, 0) AS SIGNED)")
            .bind(&name)
            .fetch_one(&mut conn)
            .await
            .expect("GET_LOCK");
        assert_eq!(got, 1, "the lock is free");
        let holder: i64 = sqlx::query_scalar("SELECT CAST(CONNECTION_ID() AS SIGNED)")
            .fetch_one(&mut conn)
            .await
            .expect("CONNECTION_ID");
        let started = Instant::now();
        let (out, report) = run(&w, &db.url, &["--lock-timeout", "2s"]);
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(1900) && took < Duration::from_secs(3),
            "gave up after {took:?}, not after ~2s"
        );
        (out, report, holder)
    });
    assert_eq!(code(&out), 1, "{}", both(&out));
    assert_eq!(status(&report, "migrate.lock"), "fail");
    let msg = message(&report, "migrate.lock");
    // The whole --lock-timeout, not a poll interval less (it gave up at ~1.8 s).
    let waited = result(&report, "migrate.lock")["duration_ms"]
        .as_u64()
        .unwrap();
    assert!(
        (2000..2300).contains(&waited),
        "waited {waited} ms for a 2 s lock timeout"
    );
    assert!(msg.contains(&format!("pid {holder}")), "{msg}");
    // The real user (it said "application `root`") and what the server knows of its time
    // (it said "since 0s ago").
    assert!(msg.contains("user `root`"), "{msg}");
    assert!(!msg.contains("application"), "{msg}");
    assert!(
        msg.contains("idle for 2s") || msg.contains("idle for 3s"),
        "{msg}"
    );
    assert!(msg.contains("holding it for at least 2.0s"), "{msg}");
    assert!(msg.contains(&name), "{msg}");
    assert!(msg.contains("--lock-timeout"), "{msg}");
    assert!(!my_tables(&db).contains(&"b".to_string()));

    // Released (the session ended): the next run applies 002.
    let (out, report) = run(&w, &db.url, &[]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert_eq!(status(&report, "migration.002"), "pass");
}

#[test]
fn mariadb_a_second_migrator_waits_for_a_migration_in_progress() {
    // MySQL runs every migration statement by statement and records a `partial` row before its
    // first statement. A second migrator started meanwhile must wait for the lock and then find
    // the migration applied, not report it as stopped half-way.
    let w = Workdir::new();
    let db = TestDb::mysql();
    w.write(
        "migrations/001_slow.sql",
        "CREATE TABLE a (x INT);\nSELECT SLEEP(3);\n",
    );

    let first = spawn(
        &w,
        &["migrate", "--format", "json", "--database-url", &db.url],
    );
    let database = db.url.rsplit('/').next().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(20);
    while my_scalar(
        &db,
        &format!(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = '{database}' AND INFO LIKE 'SELECT SLEEP(3)%'"
        ),
    ) == 0
    {
        assert!(
            Instant::now() < deadline,
            "the first migrator never ran its sleep"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let (out, report) = run(&w, &db.url, &[]);
    let first = finish(first, Duration::from_secs(60));
    assert_eq!(code(&first), 0, "{}", both(&first));
    assert_eq!(
        code(&out),
        0,
        "the second migrator failed while the first was still running:\n{}",
        both(&out)
    );
    assert_eq!(applied_versions(&report), ["001"], "{report:#}");
    let row = my_history(&db).into_iter().find(|r| r.0 == "001").unwrap();
    assert_eq!(row.2, "applied");
}

#[test]
fn mariadb_a_data_only_migration_is_all_or_nothing() {
    // No DDL, so no implicit commit: MySQL gives it a transaction like PostgreSQL does.
    let db = TestDb::mysql();
    let w = Workdir::new();
    w.write(
        "migrations/001_t.sql",
        "CREATE TABLE t (id INT PRIMARY KEY);\n",
    );
    w.write(
        "migrations/002_rows.sql",
        "INSERT INTO t VALUES (1);\nINSERT INTO t VALUES (2);\nINSERT INTO t VALUES (1);\n",
    );
    let out = w
        .cmd()
        .args([
            "migrate",
            "--format",
            "json",
            "--database-url",
            &db.url,
            "--dir",
            "migrations",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report = json_report(&out);
    let failed = result(&report, "migration.002");
    assert!(
        failed["message"]
            .as_str()
            .unwrap()
            .contains("nothing of it was applied"),
        "{failed:#}"
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let count: i64 = rt.block_on(async {
        sqlx::any::install_default_drivers();
        let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&db.url)
            .await
            .unwrap();
        sqlx::query_scalar("SELECT COUNT(*) FROM t")
            .fetch_one(&mut conn)
            .await
            .unwrap()
    });
    assert_eq!(
        count, 0,
        "the two inserts before the failure were rolled back"
    );
}

/// Prisma's history on MariaDB (its MySQL DDL): finished rows adopted by folder name, an
/// unfinished one refused until Prisma's `migrate resolve` marks it.
#[test]
fn mariadb_adopts_prisma_history_only_when_every_migration_finished() {
    let (w, db) = (Workdir::new(), TestDb::mysql());
    w.write(
        "prisma/migrations/migration_lock.toml",
        "provider = \"mysql\"\n",
    );
    w.write(
        "prisma/migrations/20240101120000_init/migration.sql",
        "-- CreateTable\nCREATE TABLE `User` (`id` INTEGER NOT NULL AUTO_INCREMENT, PRIMARY KEY (`id`));\n",
    );
    w.write(
        "prisma/migrations/20240102093000_add_posts/migration.sql",
        "-- CreateTable\nCREATE TABLE `Post` (`id` INTEGER NOT NULL AUTO_INCREMENT, PRIMARY KEY (`id`));\n",
    );
    db.execute("CREATE TABLE `User` (`id` INTEGER NOT NULL AUTO_INCREMENT, PRIMARY KEY (`id`))");
    db.execute(
        "CREATE TABLE `_prisma_migrations` (
    `id`                    VARCHAR(36) PRIMARY KEY NOT NULL,
    `checksum`              VARCHAR(64) NOT NULL,
    `finished_at`           DATETIME(3),
    `migration_name`        VARCHAR(255) NOT NULL,
    `logs`                  TEXT,
    `rolled_back_at`        DATETIME(3),
    `started_at`            DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    `applied_steps_count`   INTEGER UNSIGNED NOT NULL DEFAULT 0
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
    );
    db.execute(
        "INSERT INTO `_prisma_migrations` (id, checksum, finished_at, migration_name, applied_steps_count) VALUES \
         ('1', REPEAT('a', 64), NOW(3), '20240101120000_init', 1), \
         ('2', REPEAT('b', 64), NULL, '20240102093000_add_posts', 0)",
    );

    let (out, report) = run(&w, &db.url, &[]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    assert!(
        message(&report, "migrate.adopt")
            .contains("records 20240102093000_add_posts as started but not finished"),
        "{report:#}"
    );
    // Sorted here: the server's collation orders names without regard to case.
    let sorted = |mut names: Vec<String>| {
        names.sort();
        names
    };
    assert_eq!(
        sorted(my_tables(&db)),
        ["User", "_prisma_migrations"],
        "nothing ran"
    );

    db.execute("UPDATE `_prisma_migrations` SET rolled_back_at = NOW(3) WHERE id = '2'");
    let (out, report) = run(&w, &db.url, &[]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert_eq!(status(&report, "migrate.adopt"), "pass", "{report:#}");
    assert_eq!(status(&report, "migration.20240102093000"), "pass");
    assert_eq!(
        sorted(my_tables(&db)),
        ["Post", "User", "_prisma_migrations", "shipgate_migrations"]
    );
}
