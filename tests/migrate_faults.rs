//! Faults between shipgate and the database: a network that freezes mid-run. A proxy on loopback
//! forwards to the real PostgreSQL server, then stops forwarding (sockets left open) when the
//! client sends a marker. `--timeout` must end the run, say where it was, and leave the history
//! telling the truth; the lock must be free once the connection is gone.

mod common;

use std::process::Output;
use std::time::{Duration, Instant};

use common::freeze::FreezingProxy;
use common::process::{block, finish, spawn, wait_until};
use common::{TestDb, Workdir, json_report, result, stderr, stdout};
use sqlx::Connection;

/// Text that appears in one statement only; the proxy freezes when shipgate sends it.
const MARKER: &[u8] = b"shipgate-freeze-here";

/// The test database's URL, through the proxy.
fn via(proxy: &FreezingProxy, db: &TestDb) -> String {
    let mut url = url::Url::parse(&db.url).expect("test URL");
    url.set_port(Some(proxy.port)).expect("port");
    // In clear text, so the proxy can see the marker.
    url.query_pairs_mut().append_pair("sslmode", "disable");
    url.to_string()
}

/// host:port of the real server.
fn upstream(db: &TestDb) -> String {
    let url = url::Url::parse(&db.url).expect("test URL");
    format!(
        "{}:{}",
        url.host_str().expect("host"),
        url.port().unwrap_or(5432)
    )
}

fn scalar(db: &TestDb, sql: &str) -> i64 {
    block(async {
        let mut conn = sqlx::PgConnection::connect(&db.url)
            .await
            .expect("connect directly");
        sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_string()))
            .fetch_one(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    })
}

fn history(db: &TestDb) -> Vec<String> {
    block(async {
        let mut conn = sqlx::PgConnection::connect(&db.url)
            .await
            .expect("connect directly");
        sqlx::query_scalar("SELECT version::text FROM shipgate_migrations ORDER BY version")
            .fetch_all(&mut conn)
            .await
            .expect("read the history")
    })
}

fn table_exists(db: &TestDb, table: &str) -> bool {
    scalar(
        db,
        &format!("SELECT count(*) FROM pg_class WHERE oid = to_regclass('{table}')"),
    ) == 1
}

/// Advisory locks held in the test database (shipgate's migration lock is one).
fn advisory_locks(db: &TestDb) -> i64 {
    scalar(
        db,
        "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database \
         WHERE l.locktype = 'advisory' AND d.datname = current_database()",
    )
}

/// Runs shipgate through the proxy; returns its output and how long it took.
fn run_frozen(w: &Workdir, args: &[&str]) -> (Output, Duration) {
    let started = Instant::now();
    let child = spawn(w, args);
    // Today's bug: without a deadline the run hangs for ever; the test fails here, bounded.
    let out = finish(child, Duration::from_secs(30));
    (out, started.elapsed())
}

fn both(out: &Output) -> String {
    format!("stdout:\n{}\nstderr:\n{}", stdout(out), stderr(out))
}

#[test]
fn migrate_timeout_ends_a_run_whose_network_froze_and_the_history_stays_true() {
    let db = TestDb::postgres();
    let w = Workdir::new();
    w.write("migrations/001_first.sql", "CREATE TABLE first (id int);\n");
    w.write(
        "migrations/002_second.sql",
        "CREATE TABLE second (id int, note text DEFAULT 'shipgate-freeze-here');\n",
    );
    w.write("migrations/003_third.sql", "CREATE TABLE third (id int);\n");
    let proxy = FreezingProxy::start(&upstream(&db), MARKER);
    let url = via(&proxy, &db);
    let (out, took) = run_frozen(
        &w,
        &[
            "migrate",
            "--format",
            "json",
            "--timeout",
            "5s",
            "--database-url",
            &url,
        ],
    );
    assert!(
        proxy.frozen(),
        "the proxy never saw the marker: {}",
        both(&out)
    );
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    assert!(
        took >= Duration::from_millis(4900) && took < Duration::from_secs(8),
        "took {took:?}; --timeout 5s should end it at about 5 s"
    );
    let report = json_report(&out);
    let stopped = result(&report, "migrate.deadline");
    assert_eq!(stopped["status"], "fail");
    let message = stopped["message"].as_str().expect("message");
    assert!(
        message.contains("--timeout 5.0s")
            && message.contains("running statement 1 of migrations/002_second.sql (line 1)")
            && message.contains("1 migration applied before it stays recorded (001)")
            && message.contains("the migration it cut off was rolled back by the server"),
        "{message}"
    );
    assert_eq!(stopped["details"]["finished"], serde_json::json!(["001"]));

    // The network comes back (the proxy goes away, closing its sockets): the server ends the
    // session, rolling back 002's transaction and freeing the lock.
    drop(proxy);
    wait_until(
        "the server to free the migration lock",
        Duration::from_secs(10),
        || advisory_locks(&db) == 0,
    );
    assert_eq!(history(&db), vec!["001"], "only what committed is recorded");
    assert!(table_exists(&db, "first"));
    assert!(!table_exists(&db, "second"), "002 was rolled back");

    // And the next run finishes the job.
    let out = w
        .cmd()
        .args(["migrate", "--format", "json", "--database-url", &db.url])
        .output()
        .expect("run shipgate");
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert_eq!(history(&db), vec!["001", "002", "003"]);
}

#[test]
fn migrate_timeout_names_the_lock_wait_when_the_network_froze_before_it() {
    // The freeze hits the first poll of the lock, before any migration.
    let db = TestDb::postgres();
    let w = Workdir::new();
    w.write("migrations/001_first.sql", "CREATE TABLE first (id int);\n");
    let proxy = FreezingProxy::start(&upstream(&db), b"pg_try_advisory_lock");
    let url = via(&proxy, &db);
    let (out, took) = run_frozen(
        &w,
        &[
            "migrate",
            "--format",
            "json",
            "--timeout",
            "3s",
            "--database-url",
            &url,
        ],
    );
    assert!(proxy.frozen(), "{}", both(&out));
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    assert!(took < Duration::from_secs(6), "took {took:?}");
    let report = json_report(&out);
    let message = result(&report, "migrate.deadline")["message"]
        .as_str()
        .expect("message");
    assert!(
        message.contains("while waiting for the PostgreSQL advisory lock")
            && message.contains("no migration was applied before it")
            && !message.contains("cut off"),
        "{message}"
    );
    drop(proxy);
    assert!(!table_exists(&db, "first"));
}

#[test]
fn rollback_timeout_ends_a_run_whose_network_froze_and_the_history_stays_true() {
    let db = TestDb::postgres();
    let w = Workdir::new();
    w.write(
        "migrations/001_first.up.sql",
        "CREATE TABLE first (id int);\n",
    );
    w.write(
        "migrations/001_first.down.sql",
        "DROP TABLE first;\nSELECT 'shipgate-freeze-here';\n",
    );
    w.write(
        "migrations/002_second.up.sql",
        "CREATE TABLE second (id int);\n",
    );
    w.write("migrations/002_second.down.sql", "DROP TABLE second;\n");
    let out = w
        .cmd()
        .args(["migrate", "--format", "json", "--database-url", &db.url])
        .output()
        .expect("run shipgate");
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));

    // The data-loss guard first tries the down scripts in a transaction it rolls back (the
    // marker's first pass); the network freezes when the rollback itself runs 001's down.
    let proxy = FreezingProxy::start_at(&upstream(&db), MARKER, 2);
    let url = via(&proxy, &db);
    let (out, took) = run_frozen(
        &w,
        &[
            "rollback",
            "--all",
            "--format",
            "json",
            "--timeout",
            "5s",
            "--database-url",
            &url,
        ],
    );
    assert!(proxy.frozen(), "{}", both(&out));
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    assert!(
        took >= Duration::from_millis(4900) && took < Duration::from_secs(8),
        "took {took:?}"
    );
    let report = json_report(&out);
    assert_eq!(result(&report, "rollback.002")["status"], "pass");
    let message = result(&report, "rollback.deadline")["message"]
        .as_str()
        .expect("message");
    assert!(
        message.contains("running statement 2 of migrations/001_first.down.sql (line 2)")
            && message.contains("1 migration reverted before it stays recorded (002)"),
        "{message}"
    );

    drop(proxy);
    wait_until(
        "the server to free the migration lock",
        Duration::from_secs(10),
        || advisory_locks(&db) == 0,
    );
    assert_eq!(history(&db), vec!["001"], "002 reverted, 001 rolled back");
    assert!(table_exists(&db, "first"), "001's DROP was rolled back");
    assert!(!table_exists(&db, "second"));
}

/// A deadline during the guard's trial of the down scripts cut off a trial, not a rollback: the
/// message says so (no "--resume", which would not apply) and nothing changed.
#[test]
fn rollback_timeout_during_the_guard_trial_says_it_was_a_trial() {
    let db = TestDb::postgres();
    let w = Workdir::new();
    w.write(
        "migrations/001_first.up.sql",
        "CREATE TABLE first (id int);\n",
    );
    w.write(
        "migrations/001_first.down.sql",
        "DROP TABLE first;\nSELECT 'shipgate-freeze-here';\n",
    );
    let out = w
        .cmd()
        .args(["migrate", "--format", "json", "--database-url", &db.url])
        .output()
        .expect("run shipgate");
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));

    // The marker's first pass is the guard's trial.
    let proxy = FreezingProxy::start_at(&upstream(&db), MARKER, 1);
    let url = via(&proxy, &db);
    let (out, _took) = run_frozen(
        &w,
        &[
            "rollback",
            "--all",
            "--format",
            "json",
            "--timeout",
            "3s",
            "--database-url",
            &url,
        ],
    );
    assert!(proxy.frozen(), "{}", both(&out));
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    let report = json_report(&out);
    let message = result(&report, "rollback.deadline")["message"]
        .as_str()
        .expect("message");
    assert!(
        message.contains(
            "trying statement 2 of migrations/001_first.down.sql (line 2) for the data-loss guard"
        ) && message.contains("no migration was reverted before it")
            && !message.contains("--resume"),
        "{message}"
    );
    drop(proxy);
    wait_until(
        "the server to free the migration lock",
        Duration::from_secs(10),
        || advisory_locks(&db) == 0,
    );
    assert_eq!(history(&db), vec!["001"]);
    assert!(
        table_exists(&db, "first"),
        "the trial's DROP was rolled back"
    );
}

#[test]
fn rollback_timeout_bounds_the_hooks_too() {
    let db = TestDb::postgres();
    let w = Workdir::new();
    w.write(
        "migrations/001_first.up.sql",
        "CREATE TABLE first (id int);\n",
    );
    w.write("migrations/001_first.down.sql", "DROP TABLE first;\n");
    w.write(
        "shipgate.toml",
        "[[rollback.hooks]]\nname = \"slow\"\ncommand = \"sleep 30\"\n",
    );
    let out = w
        .cmd()
        .args(["migrate", "--format", "json", "--database-url", &db.url])
        .output()
        .expect("run shipgate");
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    let (out, took) = run_frozen(
        &w,
        &[
            "rollback",
            "--all",
            "--format",
            "json",
            "--timeout",
            "2s",
            "--database-url",
            &db.url,
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    assert!(took < Duration::from_secs(5), "took {took:?}");
    let report = json_report(&out);
    assert_eq!(result(&report, "rollback.001")["status"], "pass");
    let message = result(&report, "rollback.deadline")["message"]
        .as_str()
        .expect("message");
    assert!(
        message.contains("while running the rollback hooks")
            && message.contains("1 migration reverted before it stays recorded (001)"),
        "{message}"
    );
    assert_eq!(history(&db), Vec::<String>::new());
}

#[test]
#[cfg(unix)] // a shell script stands in for pg_dump
fn migrate_timeout_kills_a_backup_that_hangs() {
    use std::os::unix::fs::PermissionsExt;
    let db = TestDb::postgres();
    let w = Workdir::new();
    w.write("migrations/001_first.sql", "CREATE TABLE first (id int);\n");
    // A pg_dump (and pg_restore) that answers --version, then hangs, noting its pid.
    let pid_file = w.path().join("pg_dump.pid");
    for tool in ["pg_dump", "pg_restore"] {
        let script = w.write(
            &format!("bin/{tool}"),
            &format!(
                "#!/bin/sh\nif [ \"$1\" = --version ]; then echo '{tool} (PostgreSQL) 99.0'; exit 0; fi\necho $$ > '{}'\nexec sleep 60\n",
                pid_file.display()
            ),
        );
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let path = format!(
        "{}:{}",
        w.path().join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let started = Instant::now();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_shipgate"))
        .current_dir(w.path())
        .env_clear()
        .env("PATH", path)
        .args([
            "migrate",
            "--format",
            "json",
            "--timeout",
            "3s",
            "--backup",
            "backups",
        ])
        .args(["--database-url", &db.url])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn shipgate");
    let out = finish(child, Duration::from_secs(30));
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    assert!(took < Duration::from_secs(6), "took {took:?}");
    let report = json_report(&out);
    let message = result(&report, "migrate.deadline")["message"]
        .as_str()
        .expect("message");
    assert!(
        message.contains("while backing the database up into backups")
            && message.contains("no migration was applied before it"),
        "{message}"
    );
    // The dump was killed with the run, not left behind.
    let pid = std::fs::read_to_string(&pid_file).expect("the fake pg_dump ran");
    let alive = || {
        std::process::Command::new("kill")
            .args(["-0", pid.trim()])
            .status()
            .expect("kill -0")
            .success()
    };
    wait_until(
        "the hanging pg_dump to be killed",
        Duration::from_secs(5),
        || !alive(),
    );
    assert!(
        !table_exists(&db, "first"),
        "nothing ran without its backup"
    );
}

#[test]
fn a_wrong_migration_file_is_exit_2_at_once_even_with_a_silent_server() {
    // The files are read while the database is opened; a wrong one must not wait for the
    // connection (here: a server that never answers, 30 s connect bound).
    let (_listener, port) = common::silent_server();
    let w = Workdir::new();
    w.write("migrations/001_first.sql", "CREATE TABLE first (id int);\n");
    w.write("migrations/notes.sql", "-- not a migration\n");
    let url = format!("postgres://postgres@127.0.0.1:{port}/x");
    let (out, took) = run_frozen(&w, &["migrate", "--database-url", &url]);
    assert_eq!(out.status.code(), Some(2), "{}", both(&out));
    assert!(stderr(&out).contains("notes.sql"), "{}", both(&out));
    assert!(took < Duration::from_secs(5), "took {took:?}");
}
