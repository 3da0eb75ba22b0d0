//! `shipgate migrate` against the real PostgreSQL server: one throwaway database and one temp
//! directory per test, migrations written into `<tmp>/migrations`.

mod common;

use std::process::{Command as StdCommand, Output};
use std::time::{Duration, Instant};

use common::process::{block, finish, pairs, spawn, wait_until};
use common::{TestDb, Workdir, applied_versions, json_report, result, stderr, stdout};
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::Connection;

// ---------------------------------------------------------------------------------------------
// Running shipgate

/// `shipgate migrate --format json --database-url <db> <args>` in the workdir.
fn migrate(w: &Workdir, db: &TestDb, args: &[&str]) -> (Output, Value) {
    migrate_env(w, db, args, &[])
}

fn migrate_env(w: &Workdir, db: &TestDb, args: &[&str], vars: &[(&str, &str)]) -> (Output, Value) {
    let mut cmd = w.cmd();
    cmd.args(["migrate", "--format", "json", "--database-url", &db.url])
        .args(args);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run shipgate");
    let report = json_report(&out);
    (out, report)
}

/// Any invocation, any output format.
fn shipgate(w: &Workdir, args: &[&str], vars: &[(&str, &str)]) -> Output {
    let mut cmd = w.cmd();
    cmd.args(args);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.output().expect("run shipgate")
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exit code")
}

fn both(out: &Output) -> String {
    format!("stdout:\n{}\nstderr:\n{}", stdout(out), stderr(out))
}

fn status<'a>(report: &'a Value, id: &str) -> &'a str {
    result(report, id)["status"].as_str().expect("status")
}

fn message<'a>(report: &'a Value, id: &str) -> &'a str {
    result(report, id)["message"].as_str().expect("message")
}

fn ids(report: &Value) -> Vec<&str> {
    report["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["id"].as_str().expect("id"))
        .collect()
}

/// `(id, status)` of every `migration.*` result, in report order.
fn has(report: &Value, id: &str) -> bool {
    report["results"]
        .as_array()
        .expect("results")
        .iter()
        .any(|r| r["id"] == id)
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

// ---------------------------------------------------------------------------------------------
// Looking into the database

async fn connect(db: &TestDb) -> sqlx::PgConnection {
    sqlx::PgConnection::connect(&db.url)
        .await
        .expect("connect to the test database")
}

fn scalar(db: &TestDb, sql: &str) -> i64 {
    block(async {
        let mut conn = connect(db).await;
        sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_string()))
            .fetch_one(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    })
}

fn table_exists(db: &TestDb, table: &str) -> bool {
    block(async {
        let mut conn = connect(db).await;
        sqlx::query_scalar::<_, bool>("SELECT to_regclass($1) IS NOT NULL")
            .bind(table)
            .fetch_one(&mut conn)
            .await
            .expect("to_regclass")
    })
}

/// A row of the history table.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HistoryRow {
    version: String,
    name: String,
    checksum: String,
    applied_by: String,
    shipgate_version: String,
    status: String,
    statements_done: Option<i64>,
}

/// A history row as read: version, name, checksum, applied_by, shipgate_version, status,
/// statements_done.
type HistoryTuple = (String, String, String, String, String, String, Option<i64>);

fn history_in(db: &TestDb, table: &str) -> Vec<HistoryRow> {
    let sql = format!(
        "SELECT version, name, checksum, applied_by, shipgate_version, status, statements_done \
         FROM {table} ORDER BY version"
    );
    block(async {
        let mut conn = connect(db).await;
        let rows: Vec<HistoryTuple> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut conn)
            .await
            .expect("read the history table");
        rows.into_iter()
            .map(
                |(
                    version,
                    name,
                    checksum,
                    applied_by,
                    shipgate_version,
                    status,
                    statements_done,
                )| {
                    HistoryRow {
                        version,
                        name,
                        checksum,
                        applied_by,
                        shipgate_version,
                        status,
                        statements_done,
                    }
                },
            )
            .collect()
    })
}

fn history(db: &TestDb) -> Vec<HistoryRow> {
    history_in(db, "shipgate_migrations")
}

fn versions(rows: &[HistoryRow]) -> Vec<&str> {
    rows.iter().map(|r| r.version.as_str()).collect()
}

/// SHA-256 (hex) of what a person sees in the file: no BOM, LF line endings.
fn sha256(text: &str) -> String {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    Sha256::digest(text.replace("\r\n", "\n").as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `pg_dump --schema-only --no-owner` of the test database, without the per-run random
/// `\restrict` key lines newer pg_dump versions write.
fn schema_dump(db: &TestDb) -> String {
    let out = StdCommand::new("pg_dump")
        .args(["--schema-only", "--no-owner", "--dbname", &db.url])
        .output()
        .expect("run pg_dump");
    assert!(out.status.success(), "pg_dump failed: {}", stderr(&out));
    stdout(&out)
        .lines()
        .filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The URL of the test database with a password in it (trust auth ignores it).
fn with_password(db: &TestDb, password: &str) -> String {
    let mut url = url::Url::parse(&db.url).expect("test URL");
    url.set_password(Some(password)).expect("set password");
    url.to_string()
}

// ---------------------------------------------------------------------------------------------
// Applying

#[test]
fn a_no_op_run_over_many_applied_migrations_is_one_row_in_every_format() {
    let w = Workdir::new();
    let db = TestDb::postgres();
    for i in 1..=300 {
        w.write(
            &format!("migrations/{i:04}_t{i}.sql"),
            &format!("CREATE TABLE t{i} (id int);\n"),
        );
    }
    w.write(
        "migrations/0301_later.sql",
        "CREATE TABLE later (id int);\n",
    );
    let (out, _) = migrate(&w, &db, &["--to", "0300"]);
    assert_eq!(code(&out), 0, "{}", both(&out));

    // Applied migrations are one row; what is pending keeps its own.
    let (out, report) = migrate(&w, &db, &["--to", "0300"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert_eq!(
        migration_statuses(&report),
        pairs(&[("migration.0301", "skip")])
    );
    assert_eq!(
        message(&report, "migrate.applied"),
        "300 migrations already applied, the newest 0300"
    );
    let applied = applied_versions(&report);
    assert_eq!((applied.len(), applied[0].as_str()), (300, "0001"));
    assert!(
        result(&report, "migrate.applied")["details"]["applied"][0]
            .as_str()
            .unwrap()
            .starts_with("0001 at 20"),
        "each with when it was applied: {report:#}"
    );

    let url = db.url.clone();
    let human = shipgate(
        &w,
        &["migrate", "--database-url", &url, "--to", "0300"],
        &[],
    );
    let lines = stdout(&human).lines().count();
    assert!(lines < 12, "{lines} lines:\n{}", stdout(&human));
    assert!(!stdout(&human).contains("0001 at"), "the list only with -v");
    let verbose = shipgate(
        &w,
        &["migrate", "--database-url", &url, "--to", "0300", "-v"],
        &[],
    );
    assert!(
        stdout(&verbose).contains("0300 at 20"),
        "{}",
        stdout(&verbose)
    );
    let junit = shipgate(
        &w,
        &[
            "migrate",
            "--database-url",
            &url,
            "--to",
            "0300",
            "--format",
            "junit",
        ],
        &[],
    );
    let cases = stdout(&junit).matches("<testcase ").count();
    assert!(cases < 10, "{cases} JUnit cases");
    let markdown = shipgate(
        &w,
        &[
            "migrate",
            "--database-url",
            &url,
            "--to",
            "0300",
            "--format",
            "markdown",
        ],
        &[],
    );
    assert!(
        stdout(&markdown).len() < 3000,
        "{} bytes of Markdown",
        stdout(&markdown).len()
    );
}

#[test]
fn applies_pending_migrations_then_a_second_run_changes_nothing() {
    let w = Workdir::new();
    let db = TestDb::postgres();
    let files = [
        (
            "migrations/001_create_funds.sql",
            "CREATE TABLE funds (id int PRIMARY KEY, name text NOT NULL);\n",
        ),
        (
            "migrations/002_seed_fund.sql",
            "INSERT INTO funds VALUES (1, 'Fund I');\n",
        ),
        (
            "migrations/003_commitments.sql",
            "CREATE TABLE commitments (\n  fund_id int REFERENCES funds (id),\n  amount numeric\n);\nCREATE INDEX commitments_fund ON commitments (fund_id);\n",
        ),
    ];
    for (name, text) in files {
        w.write(name, text);
    }

    let (out, report) = migrate_env(&w, &db, &[], &[("USER", "deployer")]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert_eq!(
        migration_statuses(&report),
        pairs(&[
            ("migration.001", "pass"),
            ("migration.002", "pass"),
            ("migration.003", "pass")
        ])
    );
    assert_eq!(result(&report, "migration.003")["details"]["statements"], 2);
    assert_eq!(
        result(&report, "migration.003")["details"]["transaction"],
        true
    );
    assert_eq!(status(&report, "migrate.lock"), "pass");
    assert!(
        message(&report, "migrate.history")
            .contains("created the history table shipgate_migrations"),
        "{}",
        message(&report, "migrate.history")
    );
    assert_eq!(report["summary"]["failed"], 0);

    let rows = history(&db);
    assert_eq!(versions(&rows), ["001", "002", "003"]);
    for (row, (_, text)) in rows.iter().zip(files) {
        assert_eq!(row.status, "applied", "{row:?}");
        assert_eq!(row.checksum, sha256(text), "{row:?}");
        assert_eq!(row.statements_done, None, "{row:?}");
        assert!(row.applied_by.starts_with("deployer@"), "{row:?}");
        assert_eq!(row.shipgate_version, env!("CARGO_PKG_VERSION"));
    }
    assert_eq!(rows[0].name, "create funds");
    assert_eq!(scalar(&db, "SELECT count(*) FROM funds"), 1);

    // Again: nothing to do, nothing re-run.
    let (out, report) = migrate(&w, &db, &[]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    // One row for the three, not one each; the list is in its details.
    assert_eq!(migration_statuses(&report), vec![], "{report:#}");
    assert_eq!(status(&report, "migrate.applied"), "skip");
    assert_eq!(
        message(&report, "migrate.applied"),
        "3 migrations already applied, the newest 003"
    );
    assert_eq!(applied_versions(&report), ["001", "002", "003"]);
    assert!(
        message(&report, "migrate.history").contains("3 applied"),
        "{}",
        message(&report, "migrate.history")
    );
    assert_eq!(
        scalar(&db, "SELECT count(*) FROM funds"),
        1,
        "the INSERT ran once"
    );
    assert_eq!(history(&db), rows, "the history is untouched");
}

#[test]
fn dry_run_changes_nothing_and_shows_the_sql() {
    let w = Workdir::new();
    let db = TestDb::postgres();
    db.execute("CREATE TABLE existing (id int)");
    w.write("migrations/001_funds.sql", "CREATE TABLE funds (id int);\n");
    w.write(
        "migrations/002_seed.sql",
        "INSERT INTO funds VALUES (1);\nINSERT INTO funds VALUES (2);\n",
    );
    let before = schema_dump(&db);

    let (out, report) = migrate(&w, &db, &["--dry-run"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert_eq!(schema_dump(&db), before, "a dry run changed the schema");
    assert!(!table_exists(&db, "shipgate_migrations"));
    assert!(!table_exists(&db, "funds"));

    assert_eq!(status(&report, "migrate.history"), "skip");
    assert!(message(&report, "migrate.history").contains("would create"));
    let create = result(&report, "migrate.history")["details"]["sql"]
        .as_str()
        .unwrap();
    assert!(
        create.contains("CREATE TABLE IF NOT EXISTS shipgate_migrations"),
        "{create}"
    );

    let sql = result(&report, "migration.001")["details"]["sql"]
        .as_str()
        .unwrap();
    assert!(sql.contains("CREATE TABLE funds (id int);"), "{sql}");
    assert!(sql.contains("INSERT INTO shipgate_migrations"), "{sql}");
    assert!(sql.contains("'001'"), "{sql}");
    let sql = result(&report, "migration.002")["details"]["sql"]
        .as_str()
        .unwrap();
    assert!(
        sql.contains("INSERT INTO funds VALUES (1);\nINSERT INTO funds VALUES (2);"),
        "{sql}"
    );
    assert!(sql.contains("INSERT INTO shipgate_migrations"), "{sql}");
    assert!(
        sql.contains(&sha256(
            "INSERT INTO funds VALUES (1);\nINSERT INTO funds VALUES (2);\n"
        )),
        "the checksum it would record: {sql}"
    );
    assert!(
        sql.starts_with("BEGIN;") && sql.trim_end().ends_with("COMMIT;"),
        "{sql}"
    );
    assert_eq!(status(&report, "migration.002"), "skip");
    assert!(message(&report, "migration.002").contains("would apply 2 statements"));

    // The human dry run shows the SQL without being asked.
    let out = shipgate(
        &w,
        &["migrate", "--dry-run", "--database-url", &db.url],
        &[],
    );
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert!(
        stdout(&out).contains("INSERT INTO funds VALUES (2);"),
        "{}",
        stdout(&out)
    );
    assert_eq!(schema_dump(&db), before);
}

#[test]
fn a_failing_migration_rolls_back_and_says_where() {
    let w = Workdir::new();
    let db = TestDb::postgres();
    w.write("migrations/001_t.sql", "CREATE TABLE t (id int);\n");
    w.write("migrations/002_seed.sql", "INSERT INTO t VALUES (1);\n");
    w.write(
        "migrations/003_broken.sql",
        "CREATE TABLE created_then_rolled_back (x int);\nINSERT INTO t VALUES (2);\n\n-- a typo\nSELECT id,\n       nope FROM t;\n",
    );
    w.write("migrations/004_later.sql", "CREATE TABLE later (x int);\n");

    let (out, _) = migrate(&w, &db, &["--to", "002"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    let before_third = schema_dump(&db);

    let (out, report) = migrate(&w, &db, &[]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    assert_eq!(
        migration_statuses(&report),
        pairs(&[("migration.003", "fail"), ("migration.004", "skip")])
    );
    assert_eq!(applied_versions(&report), ["001", "002"]);
    let failed = result(&report, "migration.003");
    assert_eq!(failed["location"]["file"], "migrations/003_broken.sql");
    assert_eq!(failed["location"]["line"], 6);
    assert_eq!(failed["location"]["column"], 8);
    assert_eq!(failed["details"]["sqlstate"], "42703");
    assert_eq!(failed["details"]["statement"], 3);
    let msg = failed["message"].as_str().unwrap();
    assert!(msg.contains("column \"nope\" does not exist"), "{msg}");
    assert!(msg.contains("nothing of it was applied"), "{msg}");
    let frame = failed["details"]["code_frame"]
        .as_str()
        .expect("code_frame");
    assert!(
        frame.contains("6 |        nope FROM t;\n  |        ^"),
        "caret under `nope`:\n{frame}"
    );
    assert!(
        message(&report, "migration.004").contains("003"),
        "{report:#}"
    );

    assert_eq!(versions(&history(&db)), ["001", "002"]);
    assert!(!table_exists(&db, "created_then_rolled_back"));
    assert!(!table_exists(&db, "later"));
    assert_eq!(scalar(&db, "SELECT count(*) FROM t"), 1);
    assert_eq!(
        schema_dump(&db),
        before_third,
        "the schema is as before 003"
    );

    // The human report shows the same place.
    let out = shipgate(&w, &["migrate", "--database-url", &db.url], &[]);
    assert_eq!(code(&out), 1);
    assert!(
        stdout(&out).contains("migrations/003_broken.sql:6:8"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn error_position_counts_characters_after_a_bom_crlf_and_multibyte_text() {
    let w = Workdir::new();
    let db = TestDb::postgres();
    let text = "\u{feff}-- café ☕ 日本語 🚀 setup\r\n\
                CREATE TABLE t (id int, label text);\r\n\
                INSERT INTO t VALUES (1, 'é日本😀');\r\n\
                SELECT 'é', '日本', '😀', label, nope\r\n\
                \x20 FROM t;\r\n";
    w.write("migrations/001_unicode.sql", text);

    let (out, report) = migrate(&w, &db, &[]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    let failed = result(&report, "migration.001");
    assert_eq!(failed["details"]["sqlstate"], "42703");
    assert_eq!(failed["details"]["statement"], 3);
    // `nope` is on line 4 after 30 characters: SELECT 'é', '日本', '😀', label,␠
    assert_eq!(failed["location"]["line"], 4, "{failed:#}");
    assert_eq!(failed["location"]["column"], 31, "{failed:#}");
    let frame = failed["details"]["code_frame"].as_str().unwrap();
    // The caret is placed by display width: 日本 and 😀 take two cells each.
    let expected = format!(
        "4 | SELECT 'é', '日本', '😀', label, nope\n  | {}^\n5 |   FROM t;",
        " ".repeat(33)
    );
    assert!(frame.contains(&expected), "{frame}");
    assert!(
        !frame.contains('\r') && !frame.contains('\u{feff}'),
        "{frame:?}"
    );
    assert!(!table_exists(&db, "t"));
}

#[test]
fn error_position_on_the_first_line_after_a_bom() {
    let w = Workdir::new();
    let db = TestDb::postgres();
    w.write("migrations/001_bom.sql", "\u{feff}SELECT 'ü', nope;\r\n");

    let (out, report) = migrate(&w, &db, &[]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    let failed = result(&report, "migration.001");
    assert_eq!(failed["details"]["sqlstate"], "42703");
    assert_eq!(failed["location"]["line"], 1);
    assert_eq!(failed["location"]["column"], 13, "the BOM is not a column");
}

#[test]
fn an_error_without_a_position_points_at_the_failing_statement() {
    let w = Workdir::new();
    let db = TestDb::postgres();
    w.write(
        "migrations/001_users.sql",
        "CREATE TABLE users (email text UNIQUE);\nINSERT INTO users VALUES ('a@example.com');\n\n-- the same address again\n  INSERT INTO users\n    VALUES ('a@example.com');\n",
    );

    let (out, report) = migrate(&w, &db, &[]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    let failed = result(&report, "migration.001");
    assert_eq!(failed["details"]["sqlstate"], "23505");
    assert_eq!(failed["details"]["statement"], 3);
    assert_eq!(failed["location"]["file"], "migrations/001_users.sql");
    assert_eq!(failed["location"]["line"], 5, "{failed:#}");
    assert_eq!(failed["location"]["column"], 3, "{failed:#}");
    let detail = failed["details"]["detail"].as_str().expect("detail");
    assert!(
        detail.contains("(email)=(a@example.com) already exists"),
        "{detail}"
    );
    assert!(!table_exists(&db, "users"), "rolled back");
    assert!(history(&db).is_empty());
}

#[test]
fn function_bodies_and_quoted_semicolons_are_one_statement_each() {
    let w = Workdir::new();
    let db = TestDb::postgres();
    w.write(
        "migrations/001_functions.sql",
        "CREATE TABLE audit (msg text);\n\
         -- a comment; with a semicolon\n\
         CREATE FUNCTION log_it(m text) RETURNS void AS $$\n\
         BEGIN\n\
         \x20 INSERT INTO audit VALUES (m || ';');\n\
         END;\n\
         $$ LANGUAGE plpgsql;\n\
         CREATE FUNCTION twice(x int) RETURNS int LANGUAGE sql\n\
         BEGIN ATOMIC\n\
         \x20 SELECT x * 2;\n\
         END;\n\
         DO $body$ BEGIN PERFORM log_it('a;b'); END $body$;\n\
         INSERT INTO audit VALUES ('it''s; fine'), (E'back\\\\slash;');\n\
         /* block; comment */ SELECT log_it(\"left\"('x;y', 3));\n",
    );
    w.write(
        "migrations/002_after.sql",
        "SELECT twice(2);\nSELECT 1,\n  2 +;\n",
    );

    let (out, report) = migrate(&w, &db, &[]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    assert_eq!(status(&report, "migration.001"), "pass", "{report:#}");
    assert_eq!(result(&report, "migration.001")["details"]["statements"], 6);
    assert_eq!(scalar(&db, "SELECT count(*) FROM audit"), 4);
    assert_eq!(
        scalar(
            &db,
            "SELECT count(*) FROM audit WHERE msg IN ('a;b;', 'it''s; fine', 'back\\slash;', 'x;y;')"
        ),
        4
    );
    // A syntax error at the end of a statement: after the `+` on line 3.
    let failed = result(&report, "migration.002");
    assert_eq!(failed["details"]["sqlstate"], "42601");
    assert_eq!(failed["location"]["line"], 3, "{failed:#}");
    assert_eq!(failed["location"]["column"], 6, "{failed:#}");
}

#[test]
fn a_recorded_migration_without_its_file_is_a_warning() {
    let w = Workdir::new();
    let db = TestDb::postgres();
    w.write("migrations/001_a.sql", "CREATE TABLE a (x int);\n");
    let gone = w.write("migrations/002_b.sql", "CREATE TABLE b (x int);\n");
    let (out, _) = migrate(&w, &db, &[]);
    assert_eq!(code(&out), 0, "{}", both(&out));

    std::fs::remove_file(gone).unwrap();
    let (out, report) = migrate(&w, &db, &[]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert_eq!(status(&report, "migration.002"), "warn");
    assert!(
        message(&report, "migration.002").contains("has no file"),
        "{}",
        message(&report, "migration.002")
    );
    let (out, _) = migrate(&w, &db, &["--strict"]);
    assert_eq!(
        code(&out),
        1,
        "warnings fail under --strict: {}",
        both(&out)
    );
}

// ---------------------------------------------------------------------------------------------
// Two migrators

#[test]
fn two_migrators_at_once_apply_each_migration_once() {
    let w = Workdir::new();
    let db = TestDb::postgres();
    w.write("migrations/001_t.sql", "CREATE TABLE t (id int);\n");
    w.write("migrations/002_slow.sql", "SELECT pg_sleep(1);\n");
    w.write("migrations/003_row.sql", "INSERT INTO t VALUES (1);\n");
    let args = ["migrate", "--format", "json", "--database-url", &db.url];

    let a = spawn(&w, &args);
    let b = spawn(&w, &args);
    let a = finish(a, Duration::from_secs(60));
    let b = finish(b, Duration::from_secs(60));
    assert_eq!(code(&a), 0, "{}", both(&a));
    assert_eq!(code(&b), 0, "{}", both(&b));

    assert_eq!(scalar(&db, "SELECT count(*) FROM t"), 1);
    assert_eq!(scalar(&db, "SELECT count(*) FROM shipgate_migrations"), 3);
    assert_eq!(versions(&history(&db)), ["001", "002", "003"]);

    let (ra, rb) = (json_report(&a), json_report(&b));
    // Each migration is applied by exactly one; the other found it applied (in its
    // `migrate.applied` row) or saw it applied meanwhile.
    let passed = |r: &Value, id: &str| has(r, id) && status(r, id) == "pass";
    for id in ["migration.001", "migration.002", "migration.003"] {
        assert!(
            passed(&ra, id) != passed(&rb, id),
            "{id} applied by exactly one: {ra:#} {rb:#}"
        );
    }
    let loser = if passed(&ra, "migration.001") {
        &rb
    } else {
        &ra
    };
    let waited = message(loser, "migrate.lock").contains("after waiting");
    let saw_applied = ["001", "002", "003"].iter().all(|v| {
        let id = format!("migration.{v}");
        applied_versions(loser).iter().any(|a| a == v)
            || (has(loser, &id) && message(loser, &id).contains("applied meanwhile"))
    });
    assert!(saw_applied, "{loser:#}");
    if waited {
        assert!(
            message(loser, "migrate.lock").contains("shipgate migrate"),
            "names who held it: {}",
            message(loser, "migrate.lock")
        );
    }
}

#[test]
fn a_lock_held_too_long_fails_naming_the_holder() {
    let w = Workdir::new();
    let db = TestDb::postgres();
    w.write("migrations/001_slow.sql", "SELECT pg_sleep(6);\n");

    let first = spawn(
        &w,
        &["migrate", "--format", "json", "--database-url", &db.url],
    );
    let holder_pid = || {
        scalar(
            &db,
            "SELECT COALESCE(max(a.pid), 0)::int8 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
             WHERE l.locktype = 'advisory' AND l.granted AND a.datname = current_database() \
             AND a.application_name = 'shipgate migrate'",
        )
    };
    wait_until(
        "the first migrator to hold the lock",
        Duration::from_secs(20),
        || holder_pid() != 0,
    );
    let pid = holder_pid();

    let started = Instant::now();
    let (out, report) = migrate(&w, &db, &["--lock-timeout", "2s"]);
    let took = started.elapsed();
    assert_eq!(code(&out), 1, "{}", both(&out));
    assert_eq!(status(&report, "migrate.lock"), "fail");
    let msg = message(&report, "migrate.lock");
    assert!(msg.contains(&format!("pid {pid}")), "{msg}");
    assert!(msg.contains("user `postgres`"), "{msg}");
    assert!(msg.contains("application `shipgate migrate`"), "{msg}");
    assert!(msg.contains("holding it for at least 2.0s"), "{msg}");
    assert!(msg.contains("--lock-timeout"), "{msg}");
    // The whole --lock-timeout, not a poll interval less (it gave up at ~1.8 s).
    let waited = result(&report, "migrate.lock")["duration_ms"]
        .as_u64()
        .unwrap();
    assert!(
        (2000..2300).contains(&waited),
        "waited {waited} ms for a 2 s lock timeout"
    );
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(3),
        "gave up after {took:?}, not after ~2s"
    );
    assert!(
        !ids(&report).iter().any(|id| id.starts_with("migration.")),
        "ran nothing: {report:#}"
    );

    let first = finish(first, Duration::from_secs(60));
    assert_eq!(code(&first), 0, "{}", both(&first));
    assert_eq!(versions(&history(&db)), ["001"]);
}

// ---------------------------------------------------------------------------------------------
// No-transaction migrations

#[test]
fn a_killed_no_transaction_migration_resumes_where_it_stopped() {
    let w = Workdir::new();
    let db = TestDb::postgres();
    w.write("migrations/001_base.sql", "CREATE TABLE base (x int);\n");
    w.write(
        "migrations/002_steps.sql",
        "-- shipgate:no-transaction\nCREATE TABLE a (x int);\nSELECT pg_sleep(3);\nCREATE TABLE b (x int);\n",
    );

    let mut child = spawn(
        &w,
        &["migrate", "--format", "json", "--database-url", &db.url],
    );
    // Statement 2 running means statement 1 completed and its progress was recorded.
    wait_until("the sleep in 002 to run", Duration::from_secs(30), || {
        scalar(
            &db,
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND state = 'active' AND query LIKE 'SELECT pg_sleep(3)%'",
        ) > 0
    });
    child.kill().expect("kill -9");
    let _ = child.wait();
    assert!(table_exists(&db, "a"));
    assert!(!table_exists(&db, "b"));
    let row = history(&db)
        .into_iter()
        .find(|r| r.version == "002")
        .expect("a row for 002");
    assert_eq!(
        (row.status.as_str(), row.statements_done),
        ("partial", Some(1))
    );

    // A plain re-run refuses and says how to go on.
    let (out, report) = migrate(&w, &db, &[]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    assert_eq!(status(&report, "migration.002"), "fail");
    let msg = message(&report, "migration.002");
    assert!(msg.contains("stopped after 1 of 3 statements"), "{msg}");
    assert!(msg.contains("--resume"), "{msg}");
    let location = &result(&report, "migration.002")["location"];
    assert_eq!(location["file"], "migrations/002_steps.sql");
    assert_eq!(location["line"], 3, "the statement that did not complete");
    assert!(!table_exists(&db, "b"));

    // --resume continues from statement 2; re-running statement 1 would fail ("already exists").
    let (out, report) = migrate(&w, &db, &["--resume"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert_eq!(status(&report, "migration.002"), "pass", "{report:#}");
    assert!(
        applied_versions(&report).contains(&"001".to_string()),
        "{report:#}"
    );
    assert!(table_exists(&db, "b"));
    let row = history(&db)
        .into_iter()
        .find(|r| r.version == "002")
        .unwrap();
    assert_eq!(
        (row.status.as_str(), row.statements_done),
        ("applied", None)
    );

    let (out, report) = migrate(&w, &db, &[]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert_eq!(applied_versions(&report), ["001", "002"], "{report:#}");
}

/// Kills `shipgate migrate` while it builds an index concurrently on a table big enough for
/// the build to take a while, and (with `terminate_build`) the server's build too, which then
/// leaves the index INVALID. Returns the report of `migrate --resume`.
fn resume_after_a_killed_concurrent_index_build(terminate_build: bool) -> (TestDb, Output, Value) {
    let w = Workdir::new();
    let db = TestDb::postgres();
    w.write(
        "migrations/001_big.sql",
        "CREATE TABLE big AS SELECT g AS id, md5(g::text) AS h FROM generate_series(1, 1500000) g;\n",
    );
    w.write(
        "migrations/002_index.sql",
        "-- shipgate:no-transaction\nCREATE TABLE before_index (x int);\n\
         CREATE INDEX CONCURRENTLY big_h ON big (h, id);\nCREATE TABLE after_index (x int);\n",
    );
    let (out, _) = migrate(&w, &db, &["--to", "001"]);
    assert_eq!(code(&out), 0, "{}", both(&out));

    let mut child = spawn(
        &w,
        &["migrate", "--format", "json", "--database-url", &db.url],
    );
    // The index is in the catalog (INVALID until the build ends) while the statement runs.
    wait_until(
        "the concurrent index build",
        Duration::from_secs(60),
        || {
            scalar(
                &db,
                "SELECT count(*) FROM pg_stat_activity a, pg_class c WHERE a.datname = current_database() \
             AND a.state = 'active' AND a.query LIKE 'CREATE INDEX CONCURRENTLY%' AND c.relname = 'big_h'",
            ) > 0
        },
    );
    child.kill().expect("kill -9");
    let _ = child.wait();
    if !terminate_build {
        // Left alone, the server either finishes the build or, once it notices its client is
        // gone (client_connection_check_interval), stops it and leaves the index INVALID. This
        // case is the first: wait for the build to end, then make sure the index is built.
        wait_until("the build to end", Duration::from_secs(60), || {
            scalar(
                &db,
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                 AND query LIKE 'CREATE INDEX CONCURRENTLY%'",
            ) == 0
        });
        db.execute("REINDEX INDEX big_h");
        assert_eq!(
            scalar(
                &db,
                "SELECT count(*) FROM pg_index WHERE indexrelid = 'big_h'::regclass AND indisvalid"
            ),
            1,
            "the index is built, as the interrupted run's server finished it"
        );
    }
    if terminate_build {
        scalar(
            &db,
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = current_database() AND query LIKE 'CREATE INDEX CONCURRENTLY%'",
        );
        wait_until("the build to end", Duration::from_secs(30), || {
            scalar(
                &db,
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                 AND query LIKE 'CREATE INDEX CONCURRENTLY%'",
            ) == 0
        });
        assert_eq!(
            scalar(
                &db,
                "SELECT count(*) FROM pg_index WHERE indexrelid = 'big_h'::regclass AND NOT indisvalid"
            ),
            1,
            "the stopped build left the index INVALID"
        );
    }
    let row = history(&db)
        .into_iter()
        .find(|r| r.version == "002")
        .expect("a row for 002");
    assert_eq!(
        (row.status.as_str(), row.statements_done),
        ("partial", Some(1))
    );
    let (out, report) = migrate(&w, &db, &["--resume"]);
    (db, out, report)
}

#[test]
fn a_killed_concurrent_index_build_that_the_server_finished_is_resumed_as_done() {
    let (db, out, report) = resume_after_a_killed_concurrent_index_build(false);
    assert_eq!(code(&out), 0, "{}", both(&out));
    let msg = message(&report, "migration.002");
    assert!(
        msg.contains("index big_h already built by the interrupted run"),
        "{msg}"
    );
    assert_eq!(
        result(&report, "migration.002")["details"]["resumed"],
        "index big_h already built by the interrupted run"
    );
    assert_eq!(
        scalar(
            &db,
            "SELECT count(*) FROM pg_index WHERE indexrelid = 'big_h'::regclass AND indisvalid"
        ),
        1
    );
    assert!(table_exists(&db, "after_index"));
    let row = history(&db)
        .into_iter()
        .find(|r| r.version == "002")
        .unwrap();
    assert_eq!(
        (row.status.as_str(), row.statements_done),
        ("applied", None)
    );
}

#[test]
fn a_killed_concurrent_index_build_left_invalid_is_dropped_and_rebuilt() {
    let (db, out, report) = resume_after_a_killed_concurrent_index_build(true);
    assert_eq!(code(&out), 0, "{}", both(&out));
    let msg = message(&report, "migration.002");
    assert!(
        msg.contains("index big_h was left INVALID by the interrupted run; dropped and rebuilt"),
        "{msg}"
    );
    assert_eq!(
        scalar(
            &db,
            "SELECT count(*) FROM pg_index WHERE indexrelid = 'big_h'::regclass AND indisvalid"
        ),
        1,
        "rebuilt, valid"
    );
    assert!(table_exists(&db, "after_index"));
}

#[test]
fn a_second_migrator_waits_for_a_no_transaction_migration_in_progress() {
    // A no-transaction migration records a `partial` row as it goes. A second migrator started
    // meanwhile (another deploy) must wait for the lock and then find it applied, not report it
    // as stopped half-way and tell the user to --resume.
    let w = Workdir::new();
    let db = TestDb::postgres();
    w.write(
        "migrations/001_steps.sql",
        "-- shipgate:no-transaction\nCREATE TABLE a (x int);\nSELECT pg_sleep(3);\n",
    );

    let first = spawn(
        &w,
        &["migrate", "--format", "json", "--database-url", &db.url],
    );
    wait_until("the sleep in 001 to run", Duration::from_secs(30), || {
        scalar(
            &db,
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND state = 'active' AND query LIKE 'SELECT pg_sleep(3)%'",
        ) > 0
    });
    let (out, report) = migrate(&w, &db, &[]);
    let first = finish(first, Duration::from_secs(60));
    assert_eq!(code(&first), 0, "{}", both(&first));
    assert_eq!(
        code(&out),
        0,
        "the second migrator failed while the first was still running:\n{}",
        both(&out)
    );
    assert!(
        applied_versions(&report).contains(&"001".to_string()),
        "{report:#}"
    );
    assert!(
        message(&report, "migrate.lock").contains("after waiting"),
        "{report:#}"
    );
    let row = history(&db).into_iter().next().unwrap();
    assert_eq!(row.status, "applied");
}

#[test]
fn create_index_concurrently_in_a_no_transaction_migration() {
    let w = Workdir::new();
    let db = TestDb::postgres();
    w.write(
        "migrations/001_orders.sql",
        "CREATE TABLE orders (id int, customer int);\nINSERT INTO orders SELECT g, g % 7 FROM generate_series(1, 1000) g;\n",
    );
    w.write(
        "migrations/002_indexes.sql",
        "-- shipgate:no-transaction\n\
         CREATE INDEX CONCURRENTLY orders_customer ON orders (customer);\n\
         ANALYZE orders;\n\
         CREATE UNIQUE INDEX CONCURRENTLY orders_id ON orders (id);\n",
    );

    let (out, report) = migrate(&w, &db, &[]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    let r = result(&report, "migration.002");
    assert_eq!(r["status"], "pass");
    assert_eq!(r["details"]["transaction"], false);
    assert_eq!(r["details"]["statements"], 3);
    assert_eq!(
        scalar(
            &db,
            "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
             WHERE c.relname IN ('orders_customer', 'orders_id') AND i.indisvalid"
        ),
        2
    );
    let row = history(&db)
        .into_iter()
        .find(|r| r.version == "002")
        .unwrap();
    assert_eq!(row.status, "applied");
}

#[test]
fn create_index_concurrently_in_a_transaction_fails_with_the_server_reason() {
    let w = Workdir::new();
    let db = TestDb::postgres();
    w.write(
        "migrations/001_orders.sql",
        "CREATE TABLE orders (id int);\nCREATE INDEX CONCURRENTLY orders_id ON orders (id);\n",
    );

    let (out, report) = migrate(&w, &db, &[]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    let r = result(&report, "migration.001");
    assert_eq!(r["details"]["sqlstate"], "25001", "{r:#}");
    assert_eq!(r["location"]["line"], 2);
    assert!(!table_exists(&db, "orders"));
}

// ---------------------------------------------------------------------------------------------
// What the plan refuses

#[test]
fn an_applied_file_that_changed_stops_the_run_but_line_endings_do_not() {
    let w = Workdir::new();
    let db = TestDb::postgres();
    let original = "CREATE TABLE funds (id int);\nCREATE TABLE notes (body text);\n";
    w.write("migrations/001_funds.sql", original);
    w.write(
        "migrations/002_more.sql",
        "ALTER TABLE funds ADD COLUMN name text;\n",
    );
    let (out, _) = migrate(&w, &db, &[]);
    assert_eq!(code(&out), 0, "{}", both(&out));

    // One character changed in an applied file, and a new migration pending.
    w.write(
        "migrations/001_funds.sql",
        "CREATE TABLE funds (id int);\nCREATE TABLE notes (body txt);\n",
    );
    w.write(
        "migrations/003_pending.sql",
        "CREATE TABLE pending (x int);\n",
    );
    let (out, report) = migrate(&w, &db, &[]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    let r = result(&report, "migration.001");
    assert_eq!(r["status"], "fail");
    let msg = r["message"].as_str().unwrap();
    assert!(msg.contains("changed after it was applied"), "{msg}");
    assert!(msg.contains("migrations/001_funds.sql"), "{msg}");
    assert_eq!(r["location"]["file"], "migrations/001_funds.sql");
    assert_eq!(r["details"]["recorded_checksum"], sha256(original));
    assert!(
        applied_versions(&report).contains(&"002".to_string()),
        "{report:#}"
    );
    assert_ne!(status(&report, "migration.003"), "pass");
    assert!(
        !table_exists(&db, "pending"),
        "nothing pending ran in a drifted run"
    );
    assert_eq!(versions(&history(&db)), ["001", "002"]);

    // The same text with CRLF line endings and a BOM is the same migration.
    w.write(
        "migrations/001_funds.sql",
        &format!("\u{feff}{}", original.replace('\n', "\r\n")),
    );
    let (out, report) = migrate(&w, &db, &[]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert!(
        applied_versions(&report).contains(&"001".to_string()),
        "{report:#}"
    );
    assert_eq!(status(&report, "migration.003"), "pass");
    assert!(table_exists(&db, "pending"));
}

#[test]
fn an_older_pending_migration_is_refused_unless_allowed() {
    let w = Workdir::new();
    let db = TestDb::postgres();
    w.write("migrations/001_a.sql", "CREATE TABLE a (x int);\n");
    w.write("migrations/003_c.sql", "CREATE TABLE c (x int);\n");
    let (out, _) = migrate(&w, &db, &[]);
    assert_eq!(code(&out), 0, "{}", both(&out));

    w.write("migrations/002_b.sql", "CREATE TABLE b (x int);\n");
    let (out, report) = migrate(&w, &db, &[]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    assert_eq!(status(&report, "migration.002"), "fail");
    let msg = message(&report, "migration.002");
    assert!(
        msg.contains("older than a migration already applied"),
        "{msg}"
    );
    assert!(msg.contains("--allow-out-of-order"), "{msg}");
    assert_eq!(
        result(&report, "migration.002")["location"]["file"],
        "migrations/002_b.sql"
    );
    assert!(!table_exists(&db, "b"));

    let (out, report) = migrate(&w, &db, &["--allow-out-of-order"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert_eq!(status(&report, "migration.002"), "pass");
    assert!(table_exists(&db, "b"));
    assert_eq!(versions(&history(&db)), ["001", "002", "003"]);
}

#[test]
fn allow_out_of_order_in_the_config_is_honoured() {
    let w = Workdir::new();
    let db = TestDb::postgres();
    w.write("migrations/001_a.sql", "CREATE TABLE a (x int);\n");
    w.write("migrations/003_c.sql", "CREATE TABLE c (x int);\n");
    let (out, _) = migrate(&w, &db, &[]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    w.write("migrations/002_b.sql", "CREATE TABLE b (x int);\n");
    w.write("shipgate.toml", "[migrate]\nallow_out_of_order = false\n");
    let (out, _) = migrate(&w, &db, &[]);
    assert_eq!(code(&out), 1, "false keeps the refusal: {}", both(&out));
    assert!(!table_exists(&db, "b"));

    w.write("shipgate.toml", "[migrate]\nallow_out_of_order = true\n");
    let (out, report) = migrate(&w, &db, &[]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert_eq!(status(&report, "migration.002"), "pass", "{report:#}");
    assert!(table_exists(&db, "b"));
    assert_eq!(versions(&history(&db)), ["001", "002", "003"]);
}

#[test]
fn a_partial_migration_whose_file_changed_is_not_resumed_until_accepted() {
    let w = Workdir::new();
    let db = TestDb::postgres();
    let path = "migrations/001_steps.sql";
    w.write(
        path,
        "-- shipgate:no-transaction\nCREATE TABLE a (x int);\nSELECT 1/0;\nCREATE TABLE b (x int);\n",
    );
    let (out, _) = migrate(&w, &db, &[]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    let row = history(&db)
        .into_iter()
        .find(|r| r.version == "001")
        .unwrap();
    assert_eq!(
        (row.status.as_str(), row.statements_done),
        ("partial", Some(1))
    );

    // The file is edited: the statement already run may not be the one now counted as done.
    w.write(
        path,
        "-- shipgate:no-transaction\nCREATE TABLE a (x int);\nSELECT 1;\nCREATE TABLE b (x int);\n",
    );
    let (out, report) = migrate(&w, &db, &["--resume"]);
    assert_eq!(code(&out), 1, "resumed a changed file: {}", both(&out));
    let msg = message(&report, "migration.001");
    assert!(msg.contains("changed after it was applied"), "{msg}");
    assert!(msg.contains("--accept-checksum"), "{msg}");
    assert!(!table_exists(&db, "b"));
    let row = history(&db)
        .into_iter()
        .find(|r| r.version == "001")
        .unwrap();
    assert_eq!(
        (row.status.as_str(), row.statements_done),
        ("partial", Some(1))
    );

    // Accepted on purpose, it resumes after the statement that completed.
    let (out, _) = migrate(
        &w,
        &db,
        &["--accept-checksum", "001", "--reason", "fixed the division"],
    );
    assert_eq!(code(&out), 0, "{}", both(&out));
    let (out, report) = migrate(&w, &db, &["--resume"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert_eq!(status(&report, "migration.001"), "pass", "{report:#}");
    assert!(table_exists(&db, "b"));
}

#[test]
fn check_reports_pending_work_and_changes_nothing() {
    let w = Workdir::new();
    let db = TestDb::postgres();
    w.write("migrations/001_a.sql", "CREATE TABLE a (x int);\n");
    let before = schema_dump(&db);

    let (out, report) = migrate(&w, &db, &["--check"]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    assert_eq!(status(&report, "migrate.status"), "fail");
    assert!(
        message(&report, "migrate.status").contains("1 pending"),
        "{}",
        message(&report, "migrate.status")
    );
    assert_eq!(status(&report, "migration.001"), "fail");
    assert!(
        !table_exists(&db, "shipgate_migrations"),
        "--check created the history table"
    );
    assert!(!table_exists(&db, "a"));
    assert_eq!(schema_dump(&db), before);

    let (out, _) = migrate(&w, &db, &[]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    let (out, report) = migrate(&w, &db, &["--check"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert_eq!(status(&report, "migrate.status"), "pass");
    assert!(message(&report, "migrate.status").contains("up to date"));
    assert!(
        applied_versions(&report).contains(&"001".to_string()),
        "{report:#}"
    );
    assert_eq!(status(&report, "migrate.applied"), "pass");

    // A changed applied file fails the check too.
    w.write("migrations/001_a.sql", "CREATE TABLE a (x bigint);\n");
    let (out, report) = migrate(&w, &db, &["--check"]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    assert_eq!(status(&report, "migration.001"), "fail");
    assert_eq!(
        report["results"].as_array().unwrap().last().unwrap()["id"],
        "migrate.status"
    );
}

#[test]
fn to_stops_after_the_named_version() {
    let w = Workdir::new();
    let db = TestDb::postgres();
    w.write("migrations/001_a.sql", "CREATE TABLE a (x int);\n");
    w.write("migrations/002_b.sql", "CREATE TABLE b (x int);\n");
    w.write("migrations/003_c.sql", "CREATE TABLE c (x int);\n");

    let (out, report) = migrate(&w, &db, &["--to", "002"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert_eq!(
        migration_statuses(&report),
        pairs(&[
            ("migration.001", "pass"),
            ("migration.002", "pass"),
            ("migration.003", "skip"),
        ])
    );
    assert!(
        message(&report, "migration.003").contains("--to"),
        "{}",
        message(&report, "migration.003")
    );
    assert_eq!(versions(&history(&db)), ["001", "002"]);
    assert!(!table_exists(&db, "c"));

    let out = shipgate(
        &w,
        &["migrate", "--database-url", &db.url, "--to", "999"],
        &[],
    );
    assert_eq!(code(&out), 2, "{}", both(&out));
    assert!(stderr(&out).contains("999"), "{}", stderr(&out));
    assert!(!table_exists(&db, "c"));

    // By number: `--to 3` finds 003.
    let (out, _) = migrate(&w, &db, &["--to", "3"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert!(table_exists(&db, "c"));
}

// ---------------------------------------------------------------------------------------------
// Configuration

#[test]
fn migrate_config_table_dir_required_tables_and_url() {
    let w = Workdir::new();
    let db = TestDb::postgres();
    let other = TestDb::postgres();
    w.write(
        "shipgate.toml",
        "[migrate]\n\
         database_url = \"${DATABASE_URL}\"\n\
         dir = \"db/migrations\"\n\
         table = \"lp_reporting_migrations\"\n\
         require_tables = [\"funds\"]\n",
    );
    w.write(
        "db/migrations/001_reporting.sql",
        "CREATE TABLE fund_reports (fund_id int);\n",
    );
    let run = |vars: &[(&str, &str)], args: &[&str]| {
        let mut all = vec!["migrate", "--format", "json"];
        all.extend_from_slice(args);
        let out = shipgate(&w, &all, vars);
        let report = json_report(&out);
        (out, report)
    };

    let (out, report) = run(&[("DATABASE_URL", &db.url)], &[]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    assert_eq!(status(&report, "migrate.require-tables"), "fail");
    assert!(
        message(&report, "migrate.require-tables").contains("Required table funds is missing"),
        "{}",
        message(&report, "migrate.require-tables")
    );
    assert!(!ids(&report).contains(&"migration.001"), "{report:#}");
    assert!(!table_exists(&db, "lp_reporting_migrations"));
    assert!(!table_exists(&db, "shipgate_migrations"));
    assert!(!table_exists(&db, "fund_reports"));

    db.execute("CREATE TABLE funds (id int)");
    let (out, report) = run(&[("DATABASE_URL", &db.url)], &[]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert_eq!(status(&report, "migrate.require-tables"), "pass");
    assert_eq!(status(&report, "migration.001"), "pass");
    assert_eq!(
        result(&report, "migrate.source")["details"]["dir"],
        "db/migrations"
    );
    assert!(message(&report, "migrate.history").contains("lp_reporting_migrations"));
    assert_eq!(
        versions(&history_in(&db, "lp_reporting_migrations")),
        ["001"]
    );
    assert!(!table_exists(&db, "shipgate_migrations"));
    assert!(table_exists(&db, "fund_reports"));

    // --database-url wins over DATABASE_URL.
    other.execute("CREATE TABLE funds (id int)");
    let (out, report) = run(
        &[("DATABASE_URL", &db.url)],
        &["--database-url", &other.url],
    );
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert_eq!(status(&report, "migration.001"), "pass");
    assert!(table_exists(&other, "fund_reports"));
    assert_eq!(
        versions(&history_in(&other, "lp_reporting_migrations")),
        ["001"]
    );
    assert_eq!(
        versions(&history_in(&db, "lp_reporting_migrations")),
        ["001"]
    );

    // Without any URL: an input error saying where to put one.
    let out = shipgate(&w, &["migrate"], &[]);
    assert_eq!(code(&out), 2, "{}", both(&out));
}

#[test]
fn table_flag_names_the_history_table_schema_included() {
    let w = Workdir::new();
    let db = TestDb::postgres();
    db.execute("CREATE SCHEMA ops");
    w.write("migrations/001_a.sql", "CREATE TABLE a (x int);\n");

    let (out, report) = migrate(&w, &db, &["--table", "ops.schema_history"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert!(message(&report, "migrate.history").contains("ops.schema_history"));
    assert_eq!(versions(&history_in(&db, "ops.schema_history")), ["001"]);
    assert!(!table_exists(&db, "shipgate_migrations"));
    let (out, report) = migrate(&w, &db, &["--table", "ops.schema_history"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert!(
        applied_versions(&report).contains(&"001".to_string()),
        "{report:#}"
    );

    // Another history table is another history: 001 is pending there (and fails: `a` exists).
    let (out, report) = migrate(&w, &db, &["--check"]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    assert_eq!(status(&report, "migration.001"), "fail");
}

#[test]
fn migrate_config_url_from_its_own_variable() {
    let w = Workdir::new();
    let db = TestDb::postgres();
    w.write(
        "shipgate.toml",
        "[migrate]\ndatabase_url = \"${REPORTING_DATABASE_URL}\"\nlock_timeout = \"5s\"\n",
    );
    w.write("migrations/001_a.sql", "CREATE TABLE a (x int);\n");
    let out = shipgate(
        &w,
        &["migrate", "--format", "json"],
        &[("REPORTING_DATABASE_URL", &db.url)],
    );
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert!(table_exists(&db, "a"));
}

// ---------------------------------------------------------------------------------------------
// Secrets

#[test]
fn the_database_password_never_appears_in_any_output() {
    let w = Workdir::new();
    let db = TestDb::postgres();
    const SENTINEL: &str = "SENTINEL-PW-4411";
    let url = with_password(&db, SENTINEL);
    assert!(url.contains(SENTINEL));
    w.write("migrations/001_a.sql", "CREATE TABLE a (x int);\n");
    w.write("migrations/002_bad.sql", "SELECT nope FROM a;\n");
    w.write("shipgate.toml", "[migrate]\ndatabase_url = \"${APP_DB}\"\n");
    let unreachable = {
        let mut u = url::Url::parse(&url).expect("test URL");
        u.set_port(Some(1)).expect("a port can be set");
        u.to_string()
    };
    assert!(unreachable.contains(":1/") && unreachable.contains(SENTINEL));

    type Run<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>);
    let runs: Vec<Run> = vec![
        (vec!["migrate", "--database-url", &url, "--dry-run"], vec![]),
        (
            vec![
                "migrate",
                "--database-url",
                &url,
                "--dry-run",
                "--format",
                "json",
            ],
            vec![],
        ),
        (
            vec!["migrate", "--database-url", &url, "--check", "-v"],
            vec![],
        ),
        (vec!["migrate", "--database-url", &url, "-v"], vec![]),
        (
            vec!["migrate", "--database-url", &url, "--format", "json"],
            vec![],
        ),
        (
            vec!["migrate", "--database-url", &url, "--format", "markdown"],
            vec![],
        ),
        (
            vec!["migrate", "--database-url", &url, "--format", "junit"],
            vec![],
        ),
        (
            vec!["migrate", "--format", "json"],
            vec![("DATABASE_URL", url.as_str())],
        ),
        (vec!["migrate", "-v"], vec![("APP_DB", url.as_str())]),
        (
            vec!["migrate", "--database-url", &url, "--to", "999"],
            vec![],
        ),
        (
            vec![
                "migrate",
                "--database-url",
                &unreachable,
                "--format",
                "json",
            ],
            vec![],
        ),
        (vec!["migrate", "--database-url", &unreachable], vec![]),
    ];
    for (args, vars) in &runs {
        let out = shipgate(&w, args, vars);
        assert!(
            code(&out) != 0 || args.contains(&"--dry-run"),
            "{args:?}: {}",
            both(&out)
        );
        let text = both(&out);
        assert!(
            !text.contains(SENTINEL),
            "{args:?} {vars:?} printed the password:\n{text}"
        );
        assert!(
            text.contains("***") || code(&out) == 2,
            "{args:?}: the URL is shown masked:\n{text}"
        );
    }

    // A two-character password is masked in URLs too, reproduce lines included.
    let url = with_password(&db, "pw");
    let short_runs: Vec<Vec<&str>> = vec![
        vec!["migrate", "--database-url", &url, "--format", "json"],
        vec!["migrate", "--database-url", &url, "-v"],
        vec!["migrate", "--database-url", &url, "--dry-run"],
    ];
    for args in &short_runs {
        let out = shipgate(&w, args, &[]);
        let text = both(&out);
        assert!(text.contains("reproduce"), "{args:?}: {text}");
        assert!(
            !text.contains("postgres:pw@"),
            "{args:?} printed the password:\n{text}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Bad input

#[test]
fn bad_migration_files_exit_2_naming_the_files() {
    let w = Workdir::new();
    let db = TestDb::postgres();
    // (directory, files in it, what the error must say)
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a [&'a str]);
    let cases: &[Case] = &[
        (
            "duplicate",
            &[("1_a.sql", "SELECT 1;"), ("001_b.sql", "SELECT 2;")],
            &["duplicate migration version", "1_a.sql", "001_b.sql"],
        ),
        (
            "orphan",
            &[("1_a.up.sql", "SELECT 1;"), ("2_b.down.sql", "SELECT 2;")],
            &["2_b.down.sql", "without an up"],
        ),
        (
            "mixed",
            &[
                ("1_a.up.sql", "SELECT 1;"),
                ("1_a.down.sql", "SELECT 1;"),
                ("2_b.sql", "SELECT 2;"),
            ],
            &["mixes layouts", "2_b.sql", "1_a."],
        ),
        (
            "misnamed",
            &[
                ("001_a.sql", "SELECT 1;"),
                ("create_users.sql", "SELECT 2;"),
            ],
            &["create_users.sql", "version number"],
        ),
        ("empty", &[("README.md", "notes")], &["no migrations in"]),
    ];
    for (dir, files, expected) in cases {
        for (name, text) in *files {
            w.write(&format!("{dir}/{name}"), text);
        }
        for format in ["human", "json"] {
            let out = shipgate(
                &w,
                &[
                    "migrate",
                    "--database-url",
                    &db.url,
                    "--dir",
                    dir,
                    "--format",
                    format,
                ],
                &[],
            );
            assert_eq!(code(&out), 2, "{dir}: {}", both(&out));
            for e in *expected {
                assert!(
                    stderr(&out).contains(e),
                    "{dir}: expected `{e}` in:\n{}",
                    stderr(&out)
                );
            }
        }
    }

    std::fs::create_dir_all(w.path().join("not-utf8")).unwrap();
    std::fs::write(w.path().join("not-utf8/001_a.sql"), [0x53, 0xff, 0xfe]).unwrap();
    let out = shipgate(
        &w,
        &["migrate", "--database-url", &db.url, "--dir", "not-utf8"],
        &[],
    );
    assert_eq!(code(&out), 2, "{}", both(&out));
    assert!(
        stderr(&out).contains("001_a.sql") && stderr(&out).contains("UTF-8"),
        "{}",
        stderr(&out)
    );

    let out = shipgate(
        &w,
        &["migrate", "--database-url", &db.url, "--dir", "nope"],
        &[],
    );
    assert_eq!(code(&out), 2, "{}", both(&out));
    assert!(
        stderr(&out).contains("cannot read the migrations directory nope"),
        "{}",
        stderr(&out)
    );

    let out = shipgate(&w, &["migrate", "--database-url", &db.url], &[]);
    assert_eq!(code(&out), 2, "no ./migrations: {}", both(&out));
    assert!(stderr(&out).contains("migrations"), "{}", stderr(&out));

    let out = shipgate(
        &w,
        &[
            "migrate",
            "--database-url",
            &db.url,
            "--dir",
            "duplicate",
            "--table",
            "bad name;",
        ],
        &[],
    );
    assert_eq!(code(&out), 2, "{}", both(&out));

    assert_eq!(
        scalar(
            &db,
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        ),
        0,
        "bad input ran nothing"
    );
}

#[test]
fn only_does_not_apply_more_than_it_names() {
    // Every result's `reproduce` line is `shipgate migrate … --only <id>`: running it must not
    // apply migrations the id does not name.
    let w = Workdir::new();
    let db = TestDb::postgres();
    w.write("migrations/001_a.sql", "CREATE TABLE a (x int);\n");
    w.write("migrations/002_b.sql", "CREATE TABLE b (x int);\n");
    let (_, report) = migrate(&w, &db, &["--dry-run"]);
    let reproduce = result(&report, "migration.001")["reproduce"]
        .as_str()
        .unwrap();
    // Migrations run in order: the reproduce line is the same command, never `--only`.
    assert!(!reproduce.contains("--only"), "{reproduce}");
    assert!(reproduce.contains("--dry-run"), "{reproduce}");

    let out = shipgate(
        &w,
        &[
            "migrate",
            "--database-url",
            &db.url,
            "--only",
            "migration.001",
        ],
        &[],
    );
    assert_eq!(
        code(&out),
        2,
        "--only is refused for migrate:\n{}",
        both(&out)
    );
    assert!(stderr(&out).contains("--to VERSION"), "{}", both(&out));
    assert!(
        !table_exists(&db, "a") && !table_exists(&db, "b"),
        "nothing ran"
    );
}
