//! `shipgate rollback` end to end, against the real PostgreSQL and MariaDB servers: one
//! throwaway database and one temp directory per test, up/down pair migrations written into
//! `<tmp>/migrations` and applied with `shipgate migrate` before each rollback.

mod common;

use std::process::{Child, Command as StdCommand, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use common::process::{block, finish, pairs, spawn, wait_until};
use common::{TestDb, TestServer, Workdir, json_report, result, stderr, stdout};
use serde_json::{Value, json};
use sqlx::Connection;

// ---------------------------------------------------------------------------------------------
// Running shipgate

/// `shipgate rollback --format json --database-url <url> <args>` in the workdir.
fn rollback_url(w: &Workdir, url: &str, args: &[&str], vars: &[(&str, &str)]) -> (Output, Value) {
    let mut cmd = w.cmd();
    cmd.args(["rollback", "--format", "json", "--database-url", url])
        .args(args);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run shipgate");
    let report = json_report(&out);
    (out, report)
}

/// `shipgate rollback --format json --database-url <db> --dir migrations <args>`.
fn rollback(w: &Workdir, db: &TestDb, args: &[&str]) -> (Output, Value) {
    let mut all = vec!["--dir", "migrations"];
    all.extend_from_slice(args);
    rollback_url(w, &db.url, &all, &[])
}

/// `shipgate migrate --database-url <url> --dir migrations <args>`: must pass.
fn migrate_url(w: &Workdir, url: &str, args: &[&str]) {
    let out = w
        .cmd()
        .args([
            "migrate",
            "--format",
            "json",
            "--database-url",
            url,
            "--dir",
            "migrations",
        ])
        .args(args)
        .output()
        .expect("run shipgate migrate");
    assert_eq!(code(&out), 0, "migrate failed:\n{}", both(&out));
}

fn migrate(w: &Workdir, db: &TestDb, args: &[&str]) {
    migrate_url(w, &db.url, args);
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

fn has(report: &Value, id: &str) -> bool {
    ids(report).contains(&id)
}

/// `(id, status)` of every result, in report order.
fn statuses(report: &Value) -> Vec<(String, String)> {
    report["results"]
        .as_array()
        .expect("results")
        .iter()
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

async fn connect(url: &str) -> sqlx::PgConnection {
    sqlx::PgConnection::connect(url)
        .await
        .expect("connect to the test database")
}

fn scalar(db: &TestDb, sql: &str) -> i64 {
    block(async {
        let mut conn = connect(&db.url).await;
        sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_string()))
            .fetch_one(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    })
}

/// Whether `to_regclass(name)` finds the table (pass `"\"MixedCase\""` for a quoted name).
fn table_exists(db: &TestDb, table: &str) -> bool {
    block(async {
        let mut conn = connect(&db.url).await;
        sqlx::query_scalar::<_, bool>("SELECT to_regclass($1) IS NOT NULL")
            .bind(table)
            .fetch_one(&mut conn)
            .await
            .expect("to_regclass")
    })
}

fn column_exists(db: &TestDb, table: &str, column: &str) -> bool {
    scalar(
        db,
        &format!(
            "SELECT count(*) FROM information_schema.columns \
             WHERE table_schema = 'public' AND table_name = '{table}' AND column_name = '{column}'"
        ),
    ) == 1
}

/// The versions the history table lists, by version.
fn history_in(db: &TestDb, table: &str) -> Vec<String> {
    let sql = format!("SELECT version::text FROM {table} ORDER BY version");
    block(async {
        let mut conn = connect(&db.url).await;
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut conn)
            .await
            .expect("read the history table")
    })
}

fn history(db: &TestDb) -> Vec<String> {
    history_in(db, "shipgate_migrations")
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
fn with_password(url: &str, password: &str) -> String {
    let mut url = url::Url::parse(url).expect("test URL");
    url.set_password(Some(password)).expect("set password");
    url.to_string()
}

// ---------------------------------------------------------------------------------------------
// Migrations

const LP: [&str; 3] = ["001-lp-base", "002-lp-commitments", "003-lp-reports"];

/// The LP reporting migrations of examples/lp-reporting, up and down, into `<tmp>/migrations`.
fn write_lp_migrations(w: &Workdir) {
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join("lp-reporting")
        .join("migrations");
    for version in LP {
        for kind in ["up", "down"] {
            let name = format!("{version}.{kind}.sql");
            let text = std::fs::read_to_string(examples.join(&name))
                .unwrap_or_else(|e| panic!("read examples/lp-reporting/migrations/{name}: {e}"));
            w.write(&format!("migrations/{name}"), &text);
        }
    }
}

/// `funds` (which the LP migrations need), the three LP migrations, applied.
fn applied_lp(w: &Workdir, db: &TestDb) {
    db.execute("CREATE TABLE funds (id bigserial primary key, name text)");
    write_lp_migrations(w);
    migrate(w, db, &[]);
    assert_eq!(history(db), LP, "the setup applied 001-003");
    for table in ["limited_partners", "lp_fund_commitments", "lp_reports"] {
        assert!(table_exists(db, table), "the setup created {table}");
    }
}

/// One LP with one report: `lp_reports` (dropped by 003's down) holds a row.
fn insert_report(db: &TestDb) {
    db.execute(
        "INSERT INTO limited_partners (name, email, entity_type) VALUES ('Ada', 'ada@example.com', 'individual');
         INSERT INTO lp_reports (limited_partner_id, report_type, format)
           SELECT id, 'quarterly', 'pdf' FROM limited_partners;",
    );
}

fn write_pair(w: &Workdir, version: &str, up: &str, down: Option<&str>) {
    w.write(&format!("migrations/{version}.up.sql"), up);
    if let Some(down) = down {
        w.write(&format!("migrations/{version}.down.sql"), down);
    }
}

// ---------------------------------------------------------------------------------------------
// Ranges

#[test]
fn to_reverts_the_newer_migrations_newest_first_and_keeps_the_target() {
    let w = Workdir::new();
    let db = TestDb::postgres();
    applied_lp(&w, &db);

    let (out, report) = rollback(&w, &db, &["--to", "001-lp-base"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert_eq!(report["command"], "rollback");
    assert_eq!(
        statuses(&report),
        pairs(&[
            ("rollback.lock", "pass"),
            ("rollback.plan", "pass"),
            ("rollback.data-loss", "pass"),
            ("rollback.003-lp-reports", "pass"),
            ("rollback.002-lp-commitments", "pass"),
            ("rollback.verify", "pass"),
        ]),
        "{report:#}"
    );
    assert_eq!(
        result(&report, "rollback.plan")["details"]["versions"],
        json!(["003-lp-reports", "002-lp-commitments"])
    );
    assert!(
        message(&report, "rollback.plan").contains("003-lp-reports, 002-lp-commitments"),
        "{}",
        message(&report, "rollback.plan")
    );
    assert!(
        message(&report, "rollback.003-lp-reports").contains("003-lp-reports.down.sql"),
        "{}",
        message(&report, "rollback.003-lp-reports")
    );
    assert_eq!(
        result(&report, "rollback.verify")["details"]["remaining"],
        json!(["001-lp-base"])
    );

    assert!(!table_exists(&db, "lp_reports"));
    assert!(!table_exists(&db, "lp_fund_commitments"));
    assert!(table_exists(&db, "limited_partners"), "001 stays applied");
    assert!(table_exists(&db, "funds"));
    assert_eq!(history(&db), ["001-lp-base"]);

    // The way back: migrate applies 002 and 003 again.
    migrate(&w, &db, &[]);
    assert_eq!(history(&db), LP);
    assert!(table_exists(&db, "lp_reports"));
}

#[test]
fn to_the_newest_version_has_nothing_to_roll_back() {
    let w = Workdir::new();
    let db = TestDb::postgres();
    applied_lp(&w, &db);

    let (out, report) = rollback(&w, &db, &["--to", "003-lp-reports"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert_eq!(
        ids(&report),
        ["rollback.lock", "rollback.plan"],
        "{report:#}"
    );
    assert!(message(&report, "rollback.plan").contains("nothing to roll back"));
    assert_eq!(history(&db), LP);

    // A bare number names a version by its order.
    let (out, report) = rollback(&w, &db, &["--to", "2", "--dry-run"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert_eq!(
        result(&report, "rollback.plan")["details"]["versions"],
        json!(["003-lp-reports"])
    );
}

#[test]
fn steps_then_all_then_nothing_left() {
    let w = Workdir::new();
    let db = TestDb::postgres();
    applied_lp(&w, &db);

    let (out, report) = rollback(&w, &db, &["--steps", "1"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert_eq!(
        statuses(&report),
        pairs(&[
            ("rollback.lock", "pass"),
            ("rollback.plan", "pass"),
            ("rollback.data-loss", "pass"),
            ("rollback.003-lp-reports", "pass"),
            ("rollback.verify", "pass"),
        ]),
        "{report:#}"
    );
    assert!(!table_exists(&db, "lp_reports"));
    assert!(table_exists(&db, "lp_fund_commitments"));
    assert_eq!(history(&db), ["001-lp-base", "002-lp-commitments"]);

    let (out, report) = rollback(&w, &db, &["--all"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert_eq!(
        statuses(&report),
        pairs(&[
            ("rollback.lock", "pass"),
            ("rollback.plan", "pass"),
            ("rollback.data-loss", "pass"),
            ("rollback.002-lp-commitments", "pass"),
            ("rollback.001-lp-base", "pass"),
            ("rollback.verify", "pass"),
        ]),
        "{report:#}"
    );
    for table in ["limited_partners", "lp_fund_commitments", "lp_reports"] {
        assert!(!table_exists(&db, table), "{table} was dropped");
    }
    assert!(
        table_exists(&db, "funds"),
        "funds is not the migrations' own"
    );
    assert!(history(&db).is_empty());

    // An empty history: nothing to do, and that is a success.
    let (out, report) = rollback(&w, &db, &["--all"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert_eq!(
        ids(&report),
        ["rollback.lock", "rollback.plan"],
        "{report:#}"
    );
    assert_eq!(status(&report, "rollback.plan"), "pass");
    assert!(
        message(&report, "rollback.plan").contains("nothing to roll back"),
        "{}",
        message(&report, "rollback.plan")
    );
    let human = shipgate(
        &w,
        &[
            "rollback",
            "--all",
            "--database-url",
            &db.url,
            "--dir",
            "migrations",
        ],
        &[],
    );
    assert_eq!(code(&human), 0, "{}", both(&human));
    assert!(
        stdout(&human).contains("nothing to roll back"),
        "{}",
        both(&human)
    );
}

#[test]
fn all_on_a_database_without_history_has_nothing_to_roll_back() {
    let w = Workdir::new();
    let db = TestDb::postgres();
    write_lp_migrations(&w);

    let (out, report) = rollback(&w, &db, &["--all"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert_eq!(
        ids(&report),
        ["rollback.lock", "rollback.plan"],
        "{report:#}"
    );
    assert!(message(&report, "rollback.plan").contains("nothing to roll back"));
    assert!(
        !table_exists(&db, "shipgate_migrations"),
        "a rollback creates no history table"
    );
}

#[test]
fn steps_larger_than_the_history_reverts_everything() {
    let w = Workdir::new();
    let db = TestDb::postgres();
    applied_lp(&w, &db);

    let (out, report) = rollback(&w, &db, &["--steps", "10"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert_eq!(
        result(&report, "rollback.plan")["details"]["versions"],
        json!(["003-lp-reports", "002-lp-commitments", "001-lp-base"])
    );
    assert!(history(&db).is_empty());
}

#[test]
fn versions_with_dots_get_id_safe_result_ids() {
    let w = Workdir::new();
    let db = TestDb::postgres();
    w.write(
        "migrations/V1__accounts.sql",
        "CREATE TABLE accounts (id int primary key);\n",
    );
    w.write("migrations/U1__accounts.sql", "DROP TABLE accounts;\n");
    w.write(
        "migrations/V1.1__nickname.sql",
        "ALTER TABLE accounts ADD COLUMN nickname text;\n",
    );
    w.write(
        "migrations/U1.1__nickname.sql",
        "ALTER TABLE accounts DROP COLUMN nickname;\n",
    );
    migrate(&w, &db, &[]);
    assert_eq!(history(&db), ["1", "1.1"]);

    let (out, report) = rollback(&w, &db, &["--steps", "1"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert_eq!(status(&report, "rollback.1-1"), "pass", "{report:#}");
    assert!(!column_exists(&db, "accounts", "nickname"));
    assert!(table_exists(&db, "accounts"));
    assert_eq!(history(&db), ["1"]);
}

// ---------------------------------------------------------------------------------------------
// Dry run

#[test]
fn dry_run_changes_nothing_and_shows_the_sql_of_each_step() {
    let w = Workdir::new();
    let db = TestDb::postgres();
    db.execute("CREATE TABLE funds (id bigserial primary key, name text)");
    write_lp_migrations(&w);
    migrate(&w, &db, &["--table", "lp_reporting_migrations"]);
    let before = schema_dump(&db);
    let history_before = history_in(&db, "lp_reporting_migrations");
    assert_eq!(history_before, LP);

    let (out, report) = rollback(
        &w,
        &db,
        &[
            "--dry-run",
            "--to",
            "001-lp-base",
            "--table",
            "lp_reporting_migrations",
        ],
    );
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert_eq!(
        statuses(&report),
        pairs(&[
            ("rollback.plan", "pass"),
            ("rollback.data-loss", "pass"),
            ("rollback.003-lp-reports", "skip"),
            ("rollback.002-lp-commitments", "skip"),
        ]),
        "a dry run takes no lock and verifies nothing: {report:#}"
    );
    let sql3 = result(&report, "rollback.003-lp-reports")["details"]["sql"]
        .as_str()
        .expect("details.sql")
        .to_string();
    assert!(sql3.contains("DROP TABLE lp_reports;"), "{sql3}");
    assert!(
        sql3.contains("DELETE FROM lp_reporting_migrations WHERE version = '003-lp-reports';"),
        "{sql3}"
    );
    assert!(
        sql3.find("DROP TABLE").unwrap() < sql3.find("DELETE FROM").unwrap(),
        "the down SQL, then the bookkeeping: {sql3}"
    );
    let sql2 = result(&report, "rollback.002-lp-commitments")["details"]["sql"]
        .as_str()
        .expect("details.sql");
    assert!(sql2.contains("DROP TABLE lp_fund_commitments;"), "{sql2}");
    assert!(
        sql2.contains("DELETE FROM lp_reporting_migrations WHERE version = '002-lp-commitments';"),
        "{sql2}"
    );
    assert!(!sql2.contains("lp_reports"), "only its own step: {sql2}");
    let location = &result(&report, "rollback.003-lp-reports")["location"];
    assert!(
        location["file"]
            .as_str()
            .unwrap()
            .ends_with("003-lp-reports.down.sql"),
        "{location}"
    );

    // The human report of a dry run shows the SQL too.
    let human = shipgate(
        &w,
        &[
            "rollback",
            "--dry-run",
            "--to",
            "001-lp-base",
            "--table",
            "lp_reporting_migrations",
            "--database-url",
            &db.url,
            "--dir",
            "migrations",
        ],
        &[],
    );
    assert_eq!(code(&human), 0, "{}", both(&human));
    assert!(
        stdout(&human).contains("DELETE FROM lp_reporting_migrations"),
        "{}",
        both(&human)
    );

    assert_eq!(schema_dump(&db), before, "a dry run changes no schema");
    assert_eq!(history_in(&db, "lp_reporting_migrations"), history_before);
    for table in ["limited_partners", "lp_fund_commitments", "lp_reports"] {
        assert!(table_exists(&db, table), "{table} is still there");
    }
}

// ---------------------------------------------------------------------------------------------
// Refusals before anything changes

#[test]
fn migrations_without_down_scripts_refuse_the_whole_rollback() {
    let w = Workdir::new();
    let db = TestDb::postgres();
    write_pair(
        &w,
        "001-accounts",
        "CREATE TABLE accounts (id int primary key);\n",
        Some("DROP TABLE accounts;\n"),
    );
    write_pair(&w, "002-audit", "CREATE TABLE audit (id int);\n", None);
    write_pair(&w, "003-tags", "CREATE TABLE tags (id int);\n", None);
    write_pair(
        &w,
        "004-notes",
        "CREATE TABLE notes (id int);\n",
        Some("DROP TABLE notes;\n"),
    );
    migrate(&w, &db, &[]);
    let before = schema_dump(&db);

    let (out, report) = rollback(&w, &db, &["--to", "001-accounts"]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    assert_eq!(status(&report, "rollback.003-tags"), "fail", "{report:#}");
    assert_eq!(status(&report, "rollback.002-audit"), "fail", "{report:#}");
    for (id, version) in [
        ("rollback.003-tags", "003-tags"),
        ("rollback.002-audit", "002-audit"),
    ] {
        let msg = message(&report, id);
        assert!(msg.contains(version), "{msg}");
        assert!(msg.contains("no down script"), "{msg}");
    }
    assert!(
        has(&report, "rollback.lock"),
        "refused under the lock, nothing changed: {report:#}"
    );
    assert!(
        !has(&report, "rollback.004-notes") || status(&report, "rollback.004-notes") != "pass",
        "004 has a down script but must not run: {report:#}"
    );
    assert!(!has(&report, "rollback.verify"), "{report:#}");

    assert!(table_exists(&db, "notes"), "004 was not reverted");
    assert_eq!(
        history(&db),
        ["001-accounts", "002-audit", "003-tags", "004-notes"]
    );
    assert_eq!(schema_dump(&db), before);

    // The human report names both.
    let human = shipgate(
        &w,
        &[
            "rollback",
            "--to",
            "001-accounts",
            "--database-url",
            &db.url,
            "--dir",
            "migrations",
        ],
        &[],
    );
    assert_eq!(code(&human), 1, "{}", both(&human));
    let text = stdout(&human);
    assert!(
        text.contains("002-audit") && text.contains("003-tags"),
        "{text}"
    );
}

#[test]
fn an_applied_migration_whose_file_is_gone_is_refused() {
    let w = Workdir::new();
    let db = TestDb::postgres();
    applied_lp(&w, &db);
    std::fs::remove_file(w.path().join("migrations/003-lp-reports.up.sql")).unwrap();
    std::fs::remove_file(w.path().join("migrations/003-lp-reports.down.sql")).unwrap();

    let (out, report) = rollback(&w, &db, &["--steps", "2"]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    assert_eq!(status(&report, "rollback.003-lp-reports"), "fail");
    assert!(
        message(&report, "rollback.003-lp-reports").contains("no file"),
        "{}",
        message(&report, "rollback.003-lp-reports")
    );
    // Decided under the lock (taken first), and nothing changed.
    assert!(has(&report, "rollback.lock"), "{report:#}");
    assert_eq!(history(&db), LP);
    assert!(table_exists(&db, "lp_fund_commitments"), "002 not reverted");
    assert!(table_exists(&db, "lp_reports"));
}

#[test]
fn a_partial_migration_is_refused() {
    let w = Workdir::new();
    let db = TestDb::postgres();
    write_pair(
        &w,
        "001-accounts",
        "CREATE TABLE accounts (id int primary key);\n",
        Some("DROP TABLE accounts;\n"),
    );
    write_pair(
        &w,
        "002-half",
        "-- shipgate:no-transaction\nCREATE TABLE half (id int);\nSELECT 1/0;\n",
        Some("DROP TABLE IF EXISTS half;\n"),
    );
    let out = shipgate(
        &w,
        &[
            "migrate",
            "--format",
            "json",
            "--database-url",
            &db.url,
            "--dir",
            "migrations",
        ],
        &[],
    );
    assert_eq!(code(&out), 1, "002 stops part-way: {}", both(&out));
    assert!(table_exists(&db, "half"));

    let (out, report) = rollback(&w, &db, &["--all"]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    assert_eq!(status(&report, "rollback.002-half"), "fail", "{report:#}");
    assert!(
        message(&report, "rollback.002-half").contains("part-way"),
        "{}",
        message(&report, "rollback.002-half")
    );
    assert!(table_exists(&db, "accounts"), "001 not reverted");
    assert!(table_exists(&db, "half"));
    assert_eq!(history(&db), ["001-accounts", "002-half"]);
}

// ---------------------------------------------------------------------------------------------
// The data-loss guard

#[test]
fn a_big_table_at_risk_is_counted_only_up_to_the_cap() {
    let w = Workdir::new();
    let db = TestDb::postgres();
    applied_lp(&w, &db);
    db.execute(
        "INSERT INTO limited_partners (name, email, entity_type)
           SELECT 'LP ' || n, 'lp' || n || '@example.com', 'individual' FROM generate_series(1, 12000) n;
         INSERT INTO lp_reports (limited_partner_id, report_type, format)
           SELECT id, 'quarterly', 'pdf' FROM limited_partners;",
    );
    let (out, report) = rollback(&w, &db, &["--to", "001-lp-base"]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    let msg = message(&report, "rollback.data-loss");
    assert!(
        msg.contains("would destroy data in 1 table: lp_reports (more than 10000 rows);"),
        "{msg}"
    );
    assert_eq!(scalar(&db, "SELECT count(*) FROM lp_reports"), 12000);
}

#[test]
fn dropping_a_table_with_rows_is_refused_unless_allowed() {
    let w = Workdir::new();
    let db = TestDb::postgres();
    applied_lp(&w, &db);
    insert_report(&db);
    let before = schema_dump(&db);

    let (out, report) = rollback(&w, &db, &["--to", "001-lp-base"]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    assert_eq!(status(&report, "rollback.data-loss"), "fail", "{report:#}");
    let msg = message(&report, "rollback.data-loss");
    assert!(
        msg.starts_with("would destroy data in 1 table: lp_reports (1 row);"),
        "{msg}"
    );
    assert!(msg.contains("--allow-data-loss"), "{msg}");
    assert!(
        !msg.contains("lp_fund_commitments"),
        "an empty table is no loss: {msg}"
    );
    assert_eq!(
        result(&report, "rollback.data-loss")["details"]["tables"],
        json!([{"table": "lp_reports", "rows": 1, "dropped": true}])
    );
    // Decided under the lock (taken first), and nothing changed.
    assert!(has(&report, "rollback.lock"), "{report:#}");
    assert!(!has(&report, "rollback.003-lp-reports"), "{report:#}");
    assert_eq!(schema_dump(&db), before, "nothing reverted");
    assert_eq!(history(&db), LP);
    assert_eq!(scalar(&db, "SELECT count(*) FROM lp_reports"), 1);

    let (out, report) = rollback(&w, &db, &["--to", "001-lp-base", "--allow-data-loss"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert_eq!(status(&report, "rollback.data-loss"), "warn", "{report:#}");
    assert!(
        message(&report, "rollback.data-loss").contains("lp_reports (1 row)"),
        "{}",
        message(&report, "rollback.data-loss")
    );
    assert_eq!(status(&report, "rollback.003-lp-reports"), "pass");
    assert_eq!(status(&report, "rollback.002-lp-commitments"), "pass");
    assert_eq!(status(&report, "rollback.verify"), "pass");
    assert!(!table_exists(&db, "lp_reports"));
    assert_eq!(history(&db), ["001-lp-base"]);
}

#[test]
fn rows_in_every_dropped_table_are_counted() {
    let w = Workdir::new();
    let db = TestDb::postgres();
    applied_lp(&w, &db);
    insert_report(&db);
    db.execute(
        "INSERT INTO funds (name) VALUES ('Fund I'), ('Fund II');
         INSERT INTO lp_fund_commitments (limited_partner_id, fund_id, commitment_amount_cents, committed_at)
           SELECT lp.id, f.id, 100, DATE '2026-01-01' FROM limited_partners lp, funds f;",
    );

    let (out, report) = rollback(&w, &db, &["--all"]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    let msg = message(&report, "rollback.data-loss");
    assert!(msg.contains("3 tables"), "{msg}");
    assert!(msg.contains("lp_reports (1 row)"), "{msg}");
    assert!(msg.contains("lp_fund_commitments (2 rows)"), "{msg}");
    assert!(msg.contains("limited_partners (1 row)"), "{msg}");
    assert_eq!(history(&db), LP);
}

#[test]
fn dropping_a_column_with_values_is_refused() {
    let w = Workdir::new();
    let db = TestDb::postgres();
    write_pair(
        &w,
        "001-accounts",
        "CREATE TABLE accounts (id int primary key);\n",
        Some("DROP TABLE accounts;\n"),
    );
    write_pair(
        &w,
        "002-nickname",
        "ALTER TABLE accounts ADD COLUMN nickname text;\n",
        Some("ALTER TABLE accounts DROP COLUMN nickname;\n"),
    );
    migrate(&w, &db, &[]);
    db.execute("INSERT INTO accounts (id, nickname) VALUES (1, NULL), (2, NULL)");

    // Only NULLs: nothing is lost.
    let (out, report) = rollback(&w, &db, &["--steps", "1", "--dry-run"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert_eq!(status(&report, "rollback.data-loss"), "pass", "{report:#}");

    db.execute("UPDATE accounts SET nickname = 'ada' WHERE id = 1");
    let (out, report) = rollback(&w, &db, &["--steps", "1"]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    assert_eq!(status(&report, "rollback.data-loss"), "fail", "{report:#}");
    let msg = message(&report, "rollback.data-loss");
    assert!(
        msg.contains("1 column: accounts.nickname (1 value);"),
        "{msg}"
    );
    assert!(column_exists(&db, "accounts", "nickname"));
    assert_eq!(history(&db), ["001-accounts", "002-nickname"]);

    let (out, report) = rollback(&w, &db, &["--steps", "1", "--allow-data-loss"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert_eq!(status(&report, "rollback.data-loss"), "warn");
    assert_eq!(status(&report, "rollback.002-nickname"), "pass");
    assert!(!column_exists(&db, "accounts", "nickname"));
    assert_eq!(scalar(&db, "SELECT count(*) FROM accounts"), 2);
    assert_eq!(history(&db), ["001-accounts"]);
}

#[test]
fn truncating_a_table_with_rows_is_refused_and_an_empty_one_passes() {
    let w = Workdir::new();
    let db = TestDb::postgres();
    write_pair(
        &w,
        "001-settings",
        "CREATE TABLE settings (key text primary key, value text);\n",
        Some("DROP TABLE settings;\n"),
    );
    write_pair(
        &w,
        "002-seed",
        "INSERT INTO settings VALUES ('a', '1'), ('b', '2');\n",
        Some("-- remove the seed\nTRUNCATE TABLE settings;\n"),
    );
    migrate(&w, &db, &[]);

    let (out, report) = rollback(&w, &db, &["--steps", "1"]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    assert_eq!(status(&report, "rollback.data-loss"), "fail", "{report:#}");
    let msg = message(&report, "rollback.data-loss");
    assert!(msg.contains("1 table: settings (2 rows)"), "{msg}");
    assert_eq!(scalar(&db, "SELECT count(*) FROM settings"), 2);
    assert_eq!(history(&db), ["001-settings", "002-seed"]);

    db.execute("DELETE FROM settings");
    let (out, report) = rollback(&w, &db, &["--steps", "1"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert_eq!(status(&report, "rollback.data-loss"), "pass", "{report:#}");
    assert_eq!(status(&report, "rollback.002-seed"), "pass");
    assert_eq!(history(&db), ["001-settings"]);
}

#[test]
fn if_exists_cascade_and_quoted_names_are_guarded_too() {
    let w = Workdir::new();
    let db = TestDb::postgres();
    write_pair(
        &w,
        "001-events",
        "CREATE TABLE events (id int primary key);\n",
        Some("DROP TABLE IF EXISTS \"events\" CASCADE;\n"),
    );
    migrate(&w, &db, &[]);
    db.execute("INSERT INTO events VALUES (1), (2), (3)");

    let (out, report) = rollback(&w, &db, &["--all"]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    let msg = message(&report, "rollback.data-loss");
    assert!(msg.contains("1 table: events (3 rows)"), "{msg}");
    assert!(table_exists(&db, "events"));
}

/// A quoted mixed-case table name (what ORMs such as Prisma create) must be counted like any
/// other: its rows are lost all the same.
#[test]
fn a_quoted_mixed_case_table_with_rows_is_refused() {
    let w = Workdir::new();
    let db = TestDb::postgres();
    write_pair(
        &w,
        "001-report",
        "CREATE TABLE \"LpReport\" (id int primary key);\n",
        Some("DROP TABLE \"LpReport\";\n"),
    );
    migrate(&w, &db, &[]);
    db.execute("INSERT INTO \"LpReport\" VALUES (1)");

    let (out, report) = rollback(&w, &db, &["--all"]);
    let kept = table_exists(&db, "\"LpReport\"");
    assert_eq!(
        code(&out),
        1,
        "DROP TABLE \"LpReport\" destroys 1 row but the guard let it through \
         (table still there: {kept}):\n{}",
        both(&out)
    );
    assert_eq!(status(&report, "rollback.data-loss"), "fail", "{report:#}");
    assert!(
        message(&report, "rollback.data-loss").contains("LpReport"),
        "{}",
        message(&report, "rollback.data-loss")
    );
    assert!(kept, "the table and its row must survive the refusal");
}

// ---------------------------------------------------------------------------------------------
// A down script that fails

#[test]
fn a_failing_down_script_stops_at_that_step_and_leaves_it_as_it_was() {
    let w = Workdir::new();
    let db = TestDb::postgres();
    applied_lp(&w, &db);
    // 002's down fails at its second statement, after dropping its table.
    w.write(
        "migrations/002-lp-commitments.down.sql",
        "-- undo 002\nDROP TABLE lp_fund_commitments;\nDROP TABLE does_not_exist;\n",
    );

    // The guard tries the down scripts first: it finds the failure before anything changed.
    let before = schema_dump(&db);
    let (out, report) = rollback(&w, &db, &["--all"]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    assert_eq!(status(&report, "rollback.data-loss"), "fail", "{report:#}");
    let msg = message(&report, "rollback.data-loss");
    assert!(
        msg.contains("002-lp-commitments failed at")
            && msg.contains("002-lp-commitments.down.sql:3"),
        "{msg}"
    );
    assert!(!has(&report, "rollback.003-lp-reports"), "{report:#}");
    assert_eq!(schema_dump(&db), before, "nothing reverted");

    // Told to go ahead, the run stops at the failing step.
    let (out, report) = rollback(&w, &db, &["--all", "--allow-data-loss"]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    assert_eq!(
        statuses(&report),
        pairs(&[
            ("rollback.lock", "pass"),
            ("rollback.plan", "pass"),
            ("rollback.data-loss", "warn"),
            ("rollback.003-lp-reports", "pass"),
            ("rollback.002-lp-commitments", "fail"),
            ("rollback.001-lp-base", "skip"),
            ("rollback.verify", "pass"),
        ]),
        "{report:#}"
    );
    let failed = result(&report, "rollback.002-lp-commitments");
    // A rollback's own rows say so, the failed step's too.
    assert_eq!(failed["kind"], "rollback", "{failed:#}");
    let msg = failed["message"].as_str().unwrap();
    assert!(msg.contains("does_not_exist"), "{msg}");
    assert!(msg.contains("statement 2"), "{msg}");
    assert!(msg.contains("42P01"), "{msg}");
    assert_eq!(failed["details"]["sqlstate"], "42P01");
    let location = &failed["location"];
    assert!(
        location["file"]
            .as_str()
            .unwrap()
            .ends_with("migrations/002-lp-commitments.down.sql"),
        "{location}"
    );
    assert_eq!(location["line"], 3, "{location}");
    assert!(
        message(&report, "rollback.001-lp-base").contains("002-lp-commitments failed"),
        "{}",
        message(&report, "rollback.001-lp-base")
    );
    assert_eq!(
        result(&report, "rollback.verify")["details"]["remaining"],
        json!(["001-lp-base", "002-lp-commitments"])
    );

    assert!(!table_exists(&db, "lp_reports"), "003 was reverted");
    assert!(
        table_exists(&db, "lp_fund_commitments"),
        "002's first statement was rolled back with the step"
    );
    assert!(table_exists(&db, "limited_partners"), "001 was not run");
    assert_eq!(history(&db), ["001-lp-base", "002-lp-commitments"]);
}

// ---------------------------------------------------------------------------------------------
// The lock

/// A `shipgate migrate` applying a slow 004 holds the lock for a few seconds.
fn start_slow_migrate(w: &Workdir, db: &TestDb, seconds: u32) -> Child {
    write_pair(
        w,
        "004-lp-exports",
        &format!("SELECT pg_sleep({seconds});\nCREATE TABLE lp_exports (id int);\n"),
        Some("DROP TABLE lp_exports;\n"),
    );
    let child = spawn(
        w,
        &[
            "migrate",
            "--format",
            "json",
            "--database-url",
            &db.url,
            "--dir",
            "migrations",
        ],
    );
    wait_until(
        "the migrator to hold the lock",
        Duration::from_secs(20),
        || {
            scalar(
                db,
                "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
                 WHERE l.locktype = 'advisory' AND l.granted AND a.datname = current_database()",
            ) > 0
        },
    );
    child
}

#[test]
fn a_held_lock_makes_the_rollback_give_up_after_lock_timeout() {
    let w = Workdir::new();
    let db = TestDb::postgres();
    applied_lp(&w, &db);
    let migrator = start_slow_migrate(&w, &db, 4);

    let started = Instant::now();
    let (out, report) = rollback(&w, &db, &["--steps", "1", "--lock-timeout", "1s"]);
    let took = started.elapsed();
    assert_eq!(code(&out), 1, "{}", both(&out));
    assert_eq!(status(&report, "rollback.lock"), "fail", "{report:#}");
    assert!(
        message(&report, "rollback.lock").contains("--lock-timeout"),
        "{}",
        message(&report, "rollback.lock")
    );
    assert!(took < Duration::from_secs(4), "gave up after {took:?}");
    assert!(table_exists(&db, "lp_reports"), "nothing reverted");

    let done = finish(migrator, Duration::from_secs(30));
    assert_eq!(code(&done), 0, "{}", both(&done));
    assert_eq!(
        history(&db),
        [LP[0], LP[1], LP[2], "004-lp-exports"],
        "003 still applied, 004 applied meanwhile"
    );
}

/// The range is chosen before the lock is taken. A migrator that applies 004 while the
/// rollback waits for the lock makes 004 the newest; `--steps 1` must then not revert 003 out
/// from under it (revert 004, or refuse, but never 003).
#[test]
fn the_range_is_decided_under_the_lock() {
    let w = Workdir::new();
    let db = TestDb::postgres();
    applied_lp(&w, &db);
    let migrator = start_slow_migrate(&w, &db, 3);

    let (out, report) = rollback(&w, &db, &["--steps", "1"]);
    let done = finish(migrator, Duration::from_secs(30));
    assert_eq!(code(&done), 0, "{}", both(&done));
    let after = history(&db);
    assert!(
        after.contains(&"003-lp-reports".to_string()) && table_exists(&db, "lp_reports"),
        "rollback --steps 1 reverted 003 while 004 (applied while it waited for the lock) \
         is the newest migration; history now {after:?}, exit {}:\n{report:#}",
        code(&out)
    );
    // Either it reverted 004 (the newest once it held the lock) or it refused; it did not crash.
    match code(&out) {
        0 => {
            assert!(
                !after.iter().any(|v| v.starts_with("004")),
                "{after:?}\n{report:#}"
            );
            assert_eq!(status(&report, "rollback.lock"), "pass", "{report:#}");
        }
        1 => assert_eq!(
            report["summary"]["errors"], 0,
            "a refusal, not a crash:\n{report:#}"
        ),
        other => panic!("exit {other}:\n{}", both(&out)),
    }
}

// ---------------------------------------------------------------------------------------------
// Hooks

/// One request the test server received.
#[derive(Clone, Debug)]
struct Received {
    method: String,
    path: String,
    authorization: Option<String>,
    body: String,
    /// When it arrived: had the database steps already been committed?
    lp_reports_gone: Option<bool>,
}

#[derive(Clone)]
struct Recorder {
    requests: Arc<Mutex<Vec<Received>>>,
    /// A database to look into when a request arrives.
    db_url: Option<String>,
}

async fn record(
    State(rec): State<Recorder>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> StatusCode {
    let lp_reports_gone = match &rec.db_url {
        Some(url) => {
            let mut conn = connect(url).await;
            let gone: bool = sqlx::query_scalar("SELECT to_regclass('lp_reports') IS NULL")
                .fetch_one(&mut conn)
                .await
                .expect("look into the database");
            Some(gone)
        }
        None => None,
    };
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    rec.requests.lock().unwrap().push(Received {
        method: method.to_string(),
        path: uri.path().to_string(),
        authorization: header("authorization"),
        body,
        lp_reports_gone,
    });
    if uri.path().contains("broken") {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    }
}

fn flag_server(db: Option<&TestDb>) -> (TestServer, Arc<Mutex<Vec<Received>>>) {
    let requests = Arc::new(Mutex::new(Vec::new()));
    let router = Router::new().fallback(record).with_state(Recorder {
        requests: Arc::clone(&requests),
        db_url: db.map(|d| d.url.clone()),
    });
    (TestServer::start(router), requests)
}

const TOKEN: &str = "adm-SENTINEL-TOKEN-5150";

fn flag_hook(server: &TestServer, name: &str, path: &str) -> String {
    format!(
        "[[rollback.hooks]]\nname = \"{name}\"\nhttp = {{ method = \"PUT\", url = \"{}\", body = '{{\"enabled\": false}}', headers = {{ Authorization = \"Bearer ${{ADMIN_TOKEN}}\" }}, expect_status = [200] }}\n\n",
        server.url(path)
    )
}

fn command_hook(name: &str, command: &str, timeout: Option<&str>) -> String {
    let mut text = format!("[[rollback.hooks]]\nname = \"{name}\"\ncommand = \"{command}\"\n");
    if let Some(t) = timeout {
        text.push_str(&format!("timeout = \"{t}\"\n"));
    }
    text.push('\n');
    text
}

fn write_config(w: &Workdir, hooks: &[String]) {
    let mut text = String::from("[migrate]\ndir = \"migrations\"\n\n");
    for h in hooks {
        text.push_str(h);
    }
    w.write("shipgate.toml", &text);
}

/// `shipgate rollback --format json --database-url <db> <args>`, the dir from the config, the
/// admin token in the environment.
fn rollback_with_hooks(w: &Workdir, db: &TestDb, args: &[&str]) -> (Output, Value) {
    rollback_url(w, &db.url, args, &[("ADMIN_TOKEN", TOKEN)])
}

fn hook_ids(report: &Value) -> Vec<&str> {
    ids(report)
        .into_iter()
        .filter(|id| id.starts_with("hook."))
        .collect()
}

#[test]
fn hooks_run_after_the_database_steps() {
    let w = Workdir::new();
    let db = TestDb::postgres();
    applied_lp(&w, &db);
    let (server, requests) = flag_server(Some(&db));
    write_config(
        &w,
        &[
            flag_hook(&server, "disable-flag", "/api/flags/LP_DASHBOARD_ENABLED"),
            command_hook("notify", "sh -c 'echo rolled back; exit 0'", None),
        ],
    );

    let (out, report) = rollback_with_hooks(&w, &db, &["--steps", "1"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    let order = ids(&report);
    assert_eq!(
        &order[order.len() - 3..],
        ["rollback.verify", "hook.disable-flag", "hook.notify"],
        "hooks come after the database steps, in config order: {report:#}"
    );
    assert_eq!(status(&report, "hook.disable-flag"), "pass", "{report:#}");
    assert_eq!(status(&report, "hook.notify"), "pass", "{report:#}");
    assert_eq!(result(&report, "hook.notify")["kind"], "hook");
    let notify = &result(&report, "hook.notify")["details"];
    assert!(
        notify["stdout"]
            .as_str()
            .unwrap_or("")
            .contains("rolled back"),
        "{notify}"
    );
    assert!(!table_exists(&db, "lp_reports"));

    {
        let got = requests.lock().unwrap();
        assert_eq!(got.len(), 1, "{got:?}");
        let r = &got[0];
        assert_eq!(r.method, "PUT");
        assert_eq!(r.path, "/api/flags/LP_DASHBOARD_ENABLED");
        assert_eq!(r.body, r#"{"enabled": false}"#);
        assert_eq!(
            r.authorization.as_deref(),
            Some(&*format!("Bearer {TOKEN}"))
        );
        assert_eq!(
            r.lp_reports_gone,
            Some(true),
            "the hook ran after 003's revert was committed"
        );
    }
    let shown = format!("{}{}", stdout(&out), stderr(&out));
    assert!(!shown.contains(TOKEN), "the token leaked:\n{shown}");
    assert!(!shown.contains("SENTINEL-TOKEN"), "{shown}");

    // The human report, verbose: details shown, the token still not.
    let human = shipgate(
        &w,
        &["rollback", "-v", "--steps", "1", "--database-url", &db.url],
        &[("ADMIN_TOKEN", TOKEN)],
    );
    assert_eq!(code(&human), 0, "{}", both(&human));
    assert!(stdout(&human).contains("disable-flag"), "{}", both(&human));
    assert!(!both(&human).contains("SENTINEL-TOKEN"), "{}", both(&human));
    assert_eq!(requests.lock().unwrap().len(), 2);
    assert_eq!(history(&db), ["001-lp-base"]);
}

#[test]
fn a_failing_hook_fails_the_run_with_its_exit_code_and_output() {
    let w = Workdir::new();
    let db = TestDb::postgres();
    applied_lp(&w, &db);
    let (server, requests) = flag_server(None);
    write_config(
        &w,
        &[
            command_hook("undo-deploy", "sh -c 'echo boom >&2; exit 3'", None),
            flag_hook(&server, "flag-service", "/api/broken/LP_DASHBOARD_ENABLED"),
        ],
    );

    let (out, report) = rollback_with_hooks(&w, &db, &["--steps", "1"]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    assert_eq!(status(&report, "rollback.003-lp-reports"), "pass");
    assert_eq!(status(&report, "rollback.verify"), "pass");
    let hook = result(&report, "hook.undo-deploy");
    assert_eq!(hook["status"], "fail", "{hook:#}");
    assert_eq!(hook["details"]["exit_code"], 3, "{hook:#}");
    let msg = hook["message"].as_str().unwrap();
    let stderr_detail = hook["details"]["stderr"].as_str().unwrap_or("");
    assert!(
        msg.contains("boom") || stderr_detail.contains("boom"),
        "{hook:#}"
    );
    assert!(msg.contains("boom"), "the message says why: {msg}");
    assert!(msg.contains('3'), "{msg}");

    // An HTTP hook answered with 503 where 200 is expected fails too.
    assert_eq!(status(&report, "hook.flag-service"), "fail", "{report:#}");
    assert!(
        message(&report, "hook.flag-service").contains("503"),
        "{}",
        message(&report, "hook.flag-service")
    );
    assert_eq!(requests.lock().unwrap().len(), 1);
    assert!(!both(&out).contains("SENTINEL-TOKEN"));

    // The database part stays done: a hook does not undo it.
    assert!(!table_exists(&db, "lp_reports"));
    assert_eq!(history(&db), ["001-lp-base", "002-lp-commitments"]);
}

#[test]
fn a_hook_is_stopped_at_its_timeout() {
    let w = Workdir::new();
    let db = TestDb::postgres();
    applied_lp(&w, &db);
    write_config(&w, &[command_hook("slow", "sleep 10", Some("1s"))]);

    let started = Instant::now();
    let (out, report) = rollback_with_hooks(&w, &db, &["--steps", "1"]);
    let took = started.elapsed();
    assert_eq!(code(&out), 1, "{}", both(&out));
    let hook = result(&report, "hook.slow");
    assert_eq!(hook["status"], "fail", "{hook:#}");
    assert!(
        hook["message"]
            .as_str()
            .unwrap()
            .contains("did not finish within"),
        "{hook:#}"
    );
    let ms = hook["duration_ms"].as_u64().unwrap();
    assert!((900..4000).contains(&ms), "the hook took {ms} ms");
    assert!(took < Duration::from_secs(7), "the run took {took:?}");
    assert!(
        !table_exists(&db, "lp_reports"),
        "the rollback itself is done"
    );
}

#[test]
fn hooks_are_skipped_and_not_run_when_the_rollback_is_refused() {
    let w = Workdir::new();
    let db = TestDb::postgres();
    applied_lp(&w, &db);
    insert_report(&db);
    let (server, requests) = flag_server(None);
    write_config(
        &w,
        &[
            flag_hook(&server, "disable-flag", "/api/flags/LP_DASHBOARD_ENABLED"),
            command_hook("notify", "touch hook-ran", None),
        ],
    );

    let (out, report) = rollback_with_hooks(&w, &db, &["--to", "001-lp-base"]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    assert_eq!(status(&report, "rollback.data-loss"), "fail");
    assert_eq!(hook_ids(&report), ["hook.disable-flag", "hook.notify"]);
    for id in ["hook.disable-flag", "hook.notify"] {
        assert_eq!(status(&report, id), "skip", "{report:#}");
        assert!(message(&report, id).contains("not run"), "{report:#}");
    }
    assert!(requests.lock().unwrap().is_empty(), "no request was sent");
    assert!(
        !w.path().join("hook-ran").exists(),
        "the command hook did not run"
    );
    assert_eq!(history(&db), LP);
}

#[test]
fn hooks_are_skipped_in_a_dry_run() {
    let w = Workdir::new();
    let db = TestDb::postgres();
    applied_lp(&w, &db);
    let (server, requests) = flag_server(None);
    write_config(
        &w,
        &[
            flag_hook(&server, "disable-flag", "/api/flags/LP_DASHBOARD_ENABLED"),
            command_hook("notify", "touch hook-ran", None),
        ],
    );

    let (out, report) = rollback_with_hooks(&w, &db, &["--dry-run", "--all"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    for id in ["hook.disable-flag", "hook.notify"] {
        assert_eq!(status(&report, id), "skip", "{report:#}");
    }
    // Each says what it would do, as the rest of the dry run does.
    assert!(
        message(&report, "hook.notify").contains("dry run: would run `touch hook-ran`"),
        "{report:#}"
    );
    assert!(
        message(&report, "hook.disable-flag").contains("dry run: would send "),
        "{report:#}"
    );
    assert!(requests.lock().unwrap().is_empty(), "no request was sent");
    assert!(!w.path().join("hook-ran").exists());
    assert_eq!(history(&db), LP);
}

// ---------------------------------------------------------------------------------------------
// Wrong input

#[test]
fn an_unknown_or_unapplied_to_version_is_an_input_error() {
    let w = Workdir::new();
    let db = TestDb::postgres();
    db.execute("CREATE TABLE funds (id bigserial primary key, name text)");
    write_lp_migrations(&w);
    migrate(&w, &db, &["--to", "002-lp-commitments"]);

    let (url, dir) = (db.url.as_str(), "migrations");
    let out = shipgate(
        &w,
        &[
            "rollback",
            "--to",
            "999-nope",
            "--database-url",
            url,
            "--dir",
            dir,
        ],
        &[],
    );
    assert_eq!(code(&out), 2, "{}", both(&out));
    assert!(stderr(&out).contains("999-nope"), "{}", both(&out));

    let out = shipgate(
        &w,
        &[
            "rollback",
            "--to",
            "003-lp-reports",
            "--database-url",
            url,
            "--dir",
            dir,
        ],
        &[],
    );
    assert_eq!(code(&out), 2, "{}", both(&out));
    assert!(stderr(&out).contains("not applied"), "{}", both(&out));

    assert_eq!(history(&db), ["001-lp-base", "002-lp-commitments"]);
}

#[test]
fn a_range_flag_is_required_and_exclusive() {
    let w = Workdir::new();
    for args in [
        &["rollback"][..],
        &["rollback", "--allow-data-loss"],
        &["rollback", "--to", "001", "--all"],
        &["rollback", "--steps", "1", "--all"],
        &["rollback", "--steps", "0"],
        &["rollback", "--steps", "many"],
    ] {
        let out = shipgate(&w, args, &[]);
        assert_eq!(code(&out), 2, "{args:?}: {}", both(&out));
        assert!(stdout(&out).is_empty(), "{args:?}: {}", both(&out));
    }
    let out = shipgate(&w, &["rollback", "--all", "--only", "rollback.plan"], &[]);
    assert_eq!(code(&out), 2, "{}", both(&out));
    assert!(stderr(&out).contains("--only"), "{}", both(&out));
    let out = shipgate(&w, &["rollback"], &[]);
    let err = stderr(&out);
    assert!(
        err.contains("--to") && err.contains("--steps") && err.contains("--all"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// MariaDB

async fn mysql(db: &TestDb) -> sqlx::MySqlConnection {
    sqlx::MySqlConnection::connect(&db.url)
        .await
        .expect("connect to the MariaDB test database")
}

fn mysql_tables(db: &TestDb) -> Vec<String> {
    block(async {
        let mut conn = mysql(db).await;
        sqlx::query_scalar(
            "SELECT CAST(table_name AS CHAR) FROM information_schema.tables \
             WHERE table_schema = DATABASE() ORDER BY table_name",
        )
        .fetch_all(&mut conn)
        .await
        .expect("list tables")
    })
}

fn mysql_history(db: &TestDb) -> Vec<String> {
    block(async {
        let mut conn = mysql(db).await;
        sqlx::query_scalar("SELECT CAST(version AS CHAR) FROM shipgate_migrations ORDER BY version")
            .fetch_all(&mut conn)
            .await
            .expect("read the history")
    })
}

#[test]
fn mariadb_steps_one_reverts_the_newest_and_cleans_the_history() {
    let w = Workdir::new();
    let db = TestDb::mysql();
    write_pair(
        &w,
        "001-accounts",
        "CREATE TABLE accounts (id INT PRIMARY KEY);\n",
        Some("DROP TABLE accounts;\n"),
    );
    write_pair(
        &w,
        "002-notes",
        "CREATE TABLE notes (id INT PRIMARY KEY, body TEXT);\n",
        Some("DROP TABLE notes;\n"),
    );
    migrate(&w, &db, &[]);
    assert_eq!(mysql_history(&db), ["001-accounts", "002-notes"]);
    db.execute("INSERT INTO notes VALUES (1, 'keep me')");

    // The guard works on MariaDB too.
    let (out, report) = rollback(&w, &db, &["--steps", "1"]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    assert!(
        message(&report, "rollback.data-loss").contains("1 table: notes (1 row)"),
        "{report:#}"
    );
    assert!(mysql_tables(&db).contains(&"notes".to_string()));

    db.execute("DELETE FROM notes");
    let (out, report) = rollback(&w, &db, &["--steps", "1"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert_eq!(
        statuses(&report),
        pairs(&[
            ("rollback.lock", "pass"),
            ("rollback.plan", "pass"),
            ("rollback.data-loss", "pass"),
            ("rollback.002-notes", "pass"),
            ("rollback.verify", "pass"),
        ]),
        "{report:#}"
    );
    assert!(
        message(&report, "rollback.lock").contains("MySQL lock"),
        "{}",
        message(&report, "rollback.lock")
    );
    let tables = mysql_tables(&db);
    assert!(!tables.contains(&"notes".to_string()), "{tables:?}");
    assert!(tables.contains(&"accounts".to_string()), "{tables:?}");
    assert_eq!(mysql_history(&db), ["001-accounts"]);
}

// ---------------------------------------------------------------------------------------------
// --backup

#[test]
fn backup_is_taken_under_the_lock_before_any_step() {
    const PASSWORD: &str = "SENTINEL-RB-BACKUP-31";
    let w = Workdir::new();
    let db = TestDb::postgres();
    applied_lp(&w, &db);
    insert_report(&db);
    let url = with_password(&db.url, PASSWORD);

    // A dry run and a refused rollback take no backup.
    let (out, report) = rollback_url(
        &w,
        &url,
        &[
            "--dir",
            "migrations",
            "--to",
            "001-lp-base",
            "--backup",
            "backups",
            "--dry-run",
            "--allow-data-loss",
        ],
        &[],
    );
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert!(!has(&report, "rollback.backup"), "{report:#}");
    let (out, report) = rollback_url(
        &w,
        &url,
        &[
            "--dir",
            "migrations",
            "--to",
            "001-lp-base",
            "--backup",
            "backups",
        ],
        &[],
    );
    assert_eq!(code(&out), 1, "{}", both(&out));
    assert!(!has(&report, "rollback.backup"), "{report:#}");
    let backups = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(w.path().join("backups"))
            .map(|d| d.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default()
    };
    assert!(backups().is_empty(), "{:?}", backups());

    let (out, report) = rollback_url(
        &w,
        &url,
        &[
            "--dir",
            "migrations",
            "--to",
            "001-lp-base",
            "--allow-data-loss",
            "--backup",
            "backups",
        ],
        &[],
    );
    assert_eq!(code(&out), 0, "{}", both(&out));
    let order = ids(&report);
    let at = |id: &str| {
        order
            .iter()
            .position(|i| *i == id)
            .unwrap_or_else(|| panic!("no {id}: {report:#}"))
    };
    assert!(at("rollback.lock") < at("rollback.backup"), "{order:?}");
    assert!(
        at("rollback.backup") < at("rollback.003-lp-reports"),
        "{order:?}"
    );
    assert_eq!(status(&report, "rollback.backup"), "pass", "{report:#}");
    assert_eq!(result(&report, "rollback.backup")["kind"], "rollback");
    assert!(!both(&out).contains(PASSWORD), "{}", both(&out));
    assert!(!table_exists(&db, "lp_reports"));

    let files = backups();
    assert_eq!(files.len(), 1, "{files:?}");
    let path = &files[0];
    assert_eq!(
        result(&report, "rollback.backup")["details"]["path"]
            .as_str()
            .map(|p| w.path().join(p)),
        Some(path.clone())
    );
    assert!(
        path.to_string_lossy().ends_with("-before-rollback.dump"),
        "{path:?}"
    );
    // The dump holds the row the rollback destroyed.
    let restored = StdCommand::new("pg_restore")
        .args(["--data-only", "--table", "lp_reports", "-f", "-"])
        .arg(path)
        .output()
        .expect("run pg_restore");
    assert!(restored.status.success(), "{}", both(&restored));
    assert!(
        stdout(&restored).contains("quarterly"),
        "{}",
        stdout(&restored)
    );
}

// ---------------------------------------------------------------------------------------------
// Secrets

#[test]
fn the_database_password_never_appears_in_any_output() {
    const PASSWORD: &str = "SENTINEL-RB-77";
    let w = Workdir::new();
    let db = TestDb::postgres();
    applied_lp(&w, &db);
    insert_report(&db);
    let url = with_password(&db.url, PASSWORD);
    let mut outputs = Vec::new();

    // Refused (data loss), JSON and human.
    let (out, report) = rollback_url(&w, &url, &["--dir", "migrations", "--all"], &[]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    assert_eq!(status(&report, "rollback.data-loss"), "fail");
    outputs.push(out);
    outputs.push(shipgate(
        &w,
        &[
            "rollback",
            "-v",
            "--all",
            "--database-url",
            &url,
            "--dir",
            "migrations",
        ],
        &[],
    ));
    // A dry run (verbose human output with SQL), and a real run.
    outputs.push(shipgate(
        &w,
        &[
            "rollback",
            "--dry-run",
            "--steps",
            "1",
            "--allow-data-loss",
            "--database-url",
            &url,
            "--dir",
            "migrations",
        ],
        &[],
    ));
    let (out, report) = rollback_url(
        &w,
        &url,
        &["--dir", "migrations", "--steps", "1", "--allow-data-loss"],
        &[],
    );
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert_eq!(status(&report, "rollback.verify"), "pass");
    outputs.push(out);
    // The URL from DATABASE_URL rather than the flag.
    let out = shipgate(
        &w,
        &[
            "rollback",
            "--format",
            "json",
            "--steps",
            "1",
            "--dir",
            "migrations",
        ],
        &[("DATABASE_URL", &url)],
    );
    assert_eq!(code(&out), 0, "{}", both(&out));
    outputs.push(out);
    // Wrong input (exit 2) and an unreachable server.
    let out = shipgate(
        &w,
        &[
            "rollback",
            "--to",
            "999-nope",
            "--database-url",
            &url,
            "--dir",
            "migrations",
        ],
        &[],
    );
    assert_eq!(code(&out), 2, "{}", both(&out));
    outputs.push(out);
    let unreachable = format!("postgres://postgres:{PASSWORD}@127.0.0.1:1/nowhere");
    let (out, report) = rollback_url(&w, &unreachable, &["--dir", "migrations", "--all"], &[]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    assert_eq!(status(&report, "rollback.database"), "fail", "{report:#}");
    outputs.push(out);

    for out in &outputs {
        assert!(
            !both(out).contains(PASSWORD),
            "the password leaked:\n{}",
            both(out)
        );
    }
    assert_eq!(history(&db), ["001-lp-base"]);
}

#[test]
fn a_migration_changed_since_it_was_applied_is_not_rolled_back() {
    let w = Workdir::new();
    let db = TestDb::postgres();
    applied_lp(&w, &db);
    let path = "migrations/003-lp-reports.up.sql";
    let changed = format!(
        "{}\n-- edited after it ran\n",
        std::fs::read_to_string(w.path().join(path)).unwrap()
    );
    w.write(path, &changed);
    let (out, report) = rollback(&w, &db, &["--steps", "1"]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    assert!(
        message(&report, "rollback.003-lp-reports").contains("changed after it was applied"),
        "{report:#}"
    );
    assert_eq!(history(&db), LP, "nothing reverted");
}

#[test]
fn mariadb_a_rollback_that_stops_part_way_is_resumed_not_repeated() {
    // MySQL commits DDL implicitly: the down script runs statement by statement, its progress
    // recorded, so a re-run continues after the last statement that completed.
    let w = Workdir::new();
    let db = TestDb::mysql();
    w.write(
        "migrations/001_two.up.sql",
        "CREATE TABLE a (x INT);\nCREATE TABLE b (x INT);\n",
    );
    w.write(
        "migrations/001_two.down.sql",
        "DROP TABLE a;\nDROP TABLE does_not_exist;\nDROP TABLE b;\n",
    );
    migrate(&w, &db, &[]);
    let (out, report) = rollback(&w, &db, &["--all"]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    assert_eq!(status(&report, "rollback.001"), "fail");

    // Without --resume the half-done rollback is refused, and migrate is blocked too.
    w.write(
        "migrations/001_two.down.sql",
        "DROP TABLE a;\nDROP TABLE b;\n",
    );
    let (out, report) = rollback(&w, &db, &["--all"]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    assert!(
        message(&report, "rollback.001").contains("--resume"),
        "{report:#}"
    );

    // Resumed: DROP TABLE a (already done) is not run again, DROP TABLE b is.
    let (out, report) = rollback(&w, &db, &["--all", "--resume"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert_eq!(status(&report, "rollback.verify"), "pass");
    assert!(mysql_history(&db).is_empty());
}

/// A file renamed after it ran keeps its history row (matched by number): it is the same
/// migration under its new name, for `--to` as for the order of the others.
#[test]
fn a_renamed_migration_is_reverted_in_its_place() {
    let w = Workdir::new();
    let db = TestDb::postgres();
    write_pair(
        &w,
        "001-a",
        "CREATE TABLE a (x int);",
        Some("DROP TABLE a;"),
    );
    write_pair(
        &w,
        "002-b",
        "CREATE TABLE b (x int);",
        Some("DROP TABLE b;"),
    );
    write_pair(
        &w,
        "003-c",
        "CREATE TABLE c (x int);",
        Some("DROP TABLE c;"),
    );
    migrate(&w, &db, &[]);
    for suffix in ["up", "down"] {
        std::fs::rename(
            w.path().join(format!("migrations/002-b.{suffix}.sql")),
            w.path().join(format!("migrations/002-bee.{suffix}.sql")),
        )
        .unwrap();
    }
    // Named as the file is named now: it is applied (its row says 002-b).
    let (out, report) = rollback(&w, &db, &["--to", "002-bee"]);
    assert_eq!(code(&out), 0, "{}\n{report:#}", both(&out));
    assert_eq!(history(&db), ["001-a", "002-b"]);
    assert!(table_exists(&db, "b") && !table_exists(&db, "c"));

    let (out, report) = rollback(&w, &db, &["--to", "001-a"]);
    assert_eq!(code(&out), 0, "{}\n{report:#}", both(&out));
    assert_eq!(history(&db), ["001-a"]);
    assert!(table_exists(&db, "a") && !table_exists(&db, "b"));
}

// ---------------------------------------------------------------------------------------------
// The data-loss guard measures (PostgreSQL, SQLite) and reads quoted names (MariaDB)

/// One migration whose up script is `setup` and whose down script is `down`, applied, then
/// `data` inserted: the rollback of it must be refused, naming `names`, and change nothing.
fn refused_on_postgres(case: &str, setup: &str, data: &str, down: &str, names: &[&str]) {
    let w = Workdir::new();
    let db = TestDb::postgres();
    write_pair(&w, "001-setup", setup, Some(down));
    migrate(&w, &db, &[]);
    db.execute(data);
    let before = schema_dump(&db);
    let (out, report) = rollback(&w, &db, &["--all"]);
    assert_eq!(
        code(&out),
        1,
        "{case}: the guard let `{down}` through:\n{}",
        both(&out)
    );
    assert_eq!(
        status(&report, "rollback.data-loss"),
        "fail",
        "{case}: {report:#}"
    );
    let msg = message(&report, "rollback.data-loss");
    assert!(msg.starts_with("would destroy data in "), "{case}: {msg}");
    for name in names {
        assert!(msg.contains(name), "{case}: {name} missing from: {msg}");
    }
    assert_eq!(schema_dump(&db), before, "{case}: nothing reverted");
    assert_eq!(history(&db), ["001-setup"], "{case}");
}

#[test]
fn postgres_shapes_the_patterns_missed_are_measured() {
    let orders = "CREATE TABLE orders (id int primary key, note text);\n";
    let rows = "INSERT INTO orders VALUES (1, 'a'), (2, 'b')";
    let weird = "CREATE TABLE \"Weird Table\" (id int primary key, c text);\n";
    refused_on_postgres(
        "quoted table, DROP COLUMN",
        weird,
        "INSERT INTO \"Weird Table\" VALUES (1, 'x')",
        "ALTER TABLE \"Weird Table\" DROP COLUMN c;\n",
        &["1 column: Weird Table.c (1 value)"],
    );
    refused_on_postgres(
        "schema-qualified quoted table",
        "CREATE SCHEMA app;\nCREATE TABLE app.\"Weird Table\" (id int primary key, c text);\n",
        "INSERT INTO app.\"Weird Table\" VALUES (1, 'x')",
        "ALTER TABLE app.\"Weird Table\" DROP COLUMN c;\n",
        &["app.Weird Table.c (1 value)"],
    );
    refused_on_postgres(
        "data-modifying CTE",
        orders,
        rows,
        "WITH gone AS (DELETE FROM orders WHERE id > 0 RETURNING id) SELECT count(*) FROM gone;\n",
        &["1 table: orders (2 rows)"],
    );
    refused_on_postgres(
        "DO block",
        orders,
        rows,
        "DO $$ BEGIN DELETE FROM orders WHERE id = 2; END $$;\n",
        &["orders (1 row)"],
    );
    refused_on_postgres(
        "DROP SCHEMA CASCADE",
        "CREATE SCHEMA app;\nCREATE TABLE app.orders (id int primary key);\n",
        "INSERT INTO app.orders VALUES (1), (2), (3)",
        "DROP SCHEMA app CASCADE;\n",
        &["app.orders (3 rows)"],
    );
    refused_on_postgres(
        "rename, then drop",
        orders,
        rows,
        "ALTER TABLE orders RENAME TO orders_old;\nDROP TABLE orders_old;\n",
        &["orders (2 rows)"],
    );
    refused_on_postgres(
        "UPDATE … SET c = NULL",
        orders,
        rows,
        "UPDATE orders SET note = NULL;\n",
        &["1 column: orders.note (2 values)"],
    );
    refused_on_postgres(
        "UPDATE … SET c = NULL in some rows",
        orders,
        rows,
        "UPDATE orders SET note = NULL WHERE id = 1;\n",
        &["1 column: orders.note (1 value)"],
    );
}

#[test]
fn postgres_a_rename_keeps_data_and_passes() {
    let w = Workdir::new();
    let db = TestDb::postgres();
    write_pair(
        &w,
        "001-orders",
        "CREATE TABLE orders (id int primary key, note text);\n",
        Some(
            "ALTER TABLE orders RENAME TO orders_archive;\nALTER TABLE orders_archive RENAME COLUMN note TO remark;\n",
        ),
    );
    migrate(&w, &db, &[]);
    db.execute("INSERT INTO orders VALUES (1, 'a'), (2, 'b')");
    let (out, report) = rollback(&w, &db, &["--all"]);
    assert_eq!(code(&out), 0, "a rename is no loss: {}", both(&out));
    assert_eq!(status(&report, "rollback.data-loss"), "pass", "{report:#}");
    assert!(
        message(&report, "rollback.data-loss").contains("rolled it back"),
        "{}",
        message(&report, "rollback.data-loss")
    );
    assert_eq!(scalar(&db, "SELECT count(remark) FROM orders_archive"), 2);
}

/// A column that a later migration dropped, whose down script re-adds it empty before an older
/// down script drops it again: it holds nothing now, and nothing is lost (a real 247-migration
/// history was refused 25 times for such columns: "cannot count … column does not exist").
#[test]
fn postgres_a_column_re_added_by_a_down_script_holds_no_data() {
    let w = Workdir::new();
    let db = TestDb::postgres();
    write_pair(
        &w,
        "001-accounts",
        "CREATE TABLE accounts (id int primary key);\n",
        Some("DROP TABLE accounts;\n"),
    );
    write_pair(
        &w,
        "002-email",
        "ALTER TABLE accounts ADD COLUMN email text;\n",
        Some("ALTER TABLE accounts DROP COLUMN email;\n"),
    );
    write_pair(
        &w,
        "003-drop-email",
        "ALTER TABLE accounts DROP COLUMN email;\n",
        Some("ALTER TABLE accounts ADD COLUMN email text;\n"),
    );
    migrate(&w, &db, &[]);

    // Empty tables: the whole history rolls back. The dry run reads the statements (it tries
    // nothing), the real run measures; both see no loss.
    let (out, report) = rollback(&w, &db, &["--all", "--dry-run"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert_eq!(status(&report, "rollback.data-loss"), "pass", "{report:#}");
    assert!(
        message(&report, "rollback.data-loss").contains("a dry run does not try them"),
        "{}",
        message(&report, "rollback.data-loss")
    );
    assert_eq!(
        history(&db),
        ["001-accounts", "002-email", "003-drop-email"]
    );
    let (out, report) = rollback(&w, &db, &["--all"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert_eq!(status(&report, "rollback.data-loss"), "pass", "{report:#}");
    assert!(
        message(&report, "rollback.data-loss").contains("tried the down scripts in a transaction"),
        "{}",
        message(&report, "rollback.data-loss")
    );
    assert!(history(&db).is_empty());
    migrate(&w, &db, &[]);

    // With rows: back to 001 loses nothing (email is re-added empty, then dropped), read or
    // measured ...
    db.execute("INSERT INTO accounts VALUES (1), (2)");
    let (out, report) = rollback(&w, &db, &["--to", "001-accounts", "--dry-run"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert_eq!(status(&report, "rollback.data-loss"), "pass", "{report:#}");
    let (out, report) = rollback(&w, &db, &["--to", "001-accounts"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert_eq!(status(&report, "rollback.data-loss"), "pass", "{report:#}");
    assert_eq!(history(&db), ["001-accounts"]);
    // ... and --all is refused for the table's rows alone, not for a phantom column.
    let (out, report) = rollback(&w, &db, &["--all"]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    let guard = result(&report, "rollback.data-loss");
    assert_eq!(
        guard["message"],
        "would destroy data in 1 table: accounts (2 rows); refused: back it up and pass --allow-data-loss to go ahead"
    );
    assert_eq!(
        guard["details"]["tables"],
        json!([{"table": "accounts", "rows": 2, "dropped": true}])
    );
    assert_eq!(guard["details"]["columns"], json!([]));
    assert_eq!(history(&db), ["001-accounts"]);
}

#[test]
fn the_refusal_is_short_and_the_details_hold_every_table() {
    let w = Workdir::new();
    let db = TestDb::postgres();
    let tables: Vec<String> = (1..=8).map(|i| format!("t{i}")).collect();
    let up: String = tables
        .iter()
        .map(|t| format!("CREATE TABLE {t} (id int primary key, c text);\n"))
        .collect();
    let down: String = tables
        .iter()
        .map(|t| format!("DROP TABLE {t};\n"))
        .collect();
    write_pair(&w, "001-many", &up, Some(&down));
    migrate(&w, &db, &[]);
    for t in &tables {
        db.execute(&format!("INSERT INTO {t} VALUES (1, 'x')"));
    }
    let (out, report) = rollback(&w, &db, &["--all"]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    let guard = result(&report, "rollback.data-loss");
    assert_eq!(
        guard["message"],
        "would destroy data in 8 tables: t1 (1 row), t2 (1 row), t3 (1 row), t4 (1 row), t5 (1 row) and 3 more; \
         refused: back it up and pass --allow-data-loss to go ahead"
    );
    assert_eq!(guard["details"]["tables"].as_array().unwrap().len(), 8);
}

/// A role that may change a table but not read it: the guard cannot count what would be lost.
struct Role(String);

impl Drop for Role {
    fn drop(&mut self) {
        let sql = format!("DROP ROLE IF EXISTS {}", self.0);
        block(async {
            let mut conn = connect(&common::postgres_url()).await;
            let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut conn)
                .await;
        });
    }
}

#[test]
fn a_count_that_fails_refuses_the_rollback_instead_of_passing() {
    let role = Role(format!("shipgate_guard_{}", uuid::Uuid::new_v4().simple()));
    let db = TestDb::postgres();
    let w = Workdir::new();
    db.execute(&format!(
        "CREATE ROLE {0} LOGIN; GRANT ALL ON SCHEMA public TO {0}",
        role.0
    ));
    let mut url = url::Url::parse(&db.url).unwrap();
    url.set_username(&role.0).unwrap();
    let url = url.to_string();
    write_pair(
        &w,
        "001-accounts",
        "CREATE TABLE accounts (id int primary key, nickname text);\n",
        Some("DROP TABLE accounts;\n"),
    );
    write_pair(
        &w,
        "002-secret",
        "CREATE TABLE secrets (id int primary key);\n",
        Some("ALTER TABLE accounts DROP COLUMN nickname;\nDROP TABLE secrets;\n"),
    );
    migrate_url(&w, &url, &[]);
    db.execute(&format!(
        "INSERT INTO accounts VALUES (1, 'ada'); REVOKE SELECT ON accounts FROM {}",
        role.0
    ));

    let (out, report) = rollback_url(&w, &url, &["--dir", "migrations", "--steps", "1"], &[]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    assert_eq!(status(&report, "rollback.data-loss"), "fail", "{report:#}");
    let msg = message(&report, "rollback.data-loss");
    assert!(
        msg.contains("cannot count")
            && msg.contains("accounts")
            && msg.contains("permission denied"),
        "{msg}"
    );
    assert!(!has(&report, "rollback.002-secret"), "{report:#}");
    assert_eq!(history(&db), ["001-accounts", "002-secret"]);
    assert!(column_exists(&db, "accounts", "nickname"));
}

#[test]
fn sqlite_down_scripts_are_measured_and_a_dry_run_reads_them() {
    let w = Workdir::new();
    let url = format!("sqlite://{}/app.db?mode=rwc", w.path().display());
    write_pair(
        &w,
        "001-notes",
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);\n",
        Some("DROP TABLE notes;\n"),
    );
    write_pair(
        &w,
        "002-blank",
        "SELECT 1;\n",
        Some(
            "WITH doomed AS (SELECT id FROM notes) UPDATE notes SET body = NULL WHERE id IN (SELECT id FROM doomed);\n",
        ),
    );
    migrate_url(&w, &url, &[]);
    block(async {
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::raw_sql("INSERT INTO notes VALUES (1, 'keep me')")
            .execute(&mut conn)
            .await
            .unwrap();
    });
    let (out, report) = rollback_url(&w, &url, &["--dir", "migrations", "--steps", "1"], &[]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    assert!(
        message(&report, "rollback.data-loss")
            .starts_with("would destroy data in 1 column: notes.body (1 value)"),
        "{report:#}"
    );
    // Read-only, a dry run cannot try the scripts: it reads them, and says what it cannot judge.
    let (out, report) = rollback_url(
        &w,
        &url,
        &["--dir", "migrations", "--steps", "1", "--dry-run"],
        &[],
    );
    assert_eq!(code(&out), 1, "{}", both(&out));
    let msg = message(&report, "rollback.data-loss");
    assert!(
        msg.contains("cannot tell what 1 statement would destroy"),
        "{msg}"
    );
    assert!(msg.contains("002-blank.down.sql:1"), "{msg}");
}

#[test]
fn mariadb_backtick_names_are_read_and_counted() {
    let w = Workdir::new();
    let db = TestDb::mysql();
    write_pair(
        &w,
        "001-weird",
        "CREATE TABLE `Weird Table` (id INT PRIMARY KEY, c TEXT);\n",
        Some("DROP TABLE `Weird Table`;\n"),
    );
    write_pair(
        &w,
        "002-prune",
        "SELECT 1;\n",
        Some("DELETE FROM `Weird Table` WHERE id > 1;\n"),
    );
    write_pair(
        &w,
        "003-drop-c",
        "SELECT 1;\n",
        Some("ALTER TABLE `Weird Table` DROP COLUMN `c`;\n"),
    );
    migrate(&w, &db, &[]);
    db.execute("INSERT INTO `Weird Table` VALUES (1, 'x'), (2, NULL)");

    let (out, report) = rollback(&w, &db, &["--to", "001-weird"]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    let msg = message(&report, "rollback.data-loss");
    assert!(
        msg.starts_with("would destroy data in 1 table and 1 column: Weird Table (2 rows), Weird Table.c (1 value)"),
        "{msg}"
    );
    assert_eq!(mysql_history(&db), ["001-weird", "002-prune", "003-drop-c"]);

    // Statements it cannot judge are not let through.
    write_pair(
        &w,
        "004-call",
        "SELECT 1;\n",
        Some("CALL prune_everything();\n"),
    );
    migrate(&w, &db, &[]);
    let (out, report) = rollback(&w, &db, &["--steps", "1"]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    let msg = message(&report, "rollback.data-loss");
    assert!(
        msg.contains("cannot tell what 1 statement would destroy")
            && msg.contains("CALL prune_everything()"),
        "{msg}"
    );
}

/// A no-transaction down script cannot run inside the measuring transaction: the scripts
/// before it (in rollback order) are measured, it and those after it are read, and the result
/// says which were read.
#[test]
fn postgres_a_no_transaction_down_script_is_read_and_the_others_measured() {
    let w = Workdir::new();
    let db = TestDb::postgres();
    write_pair(
        &w,
        "001-orders",
        "CREATE TABLE orders (id int primary key, note text);\n",
        Some("DROP TABLE orders;\n"),
    );
    write_pair(
        &w,
        "002-index",
        "-- shipgate:no-transaction\nCREATE INDEX CONCURRENTLY orders_note ON orders (note);\n",
        Some("-- shipgate:no-transaction\nDROP INDEX CONCURRENTLY orders_note;\n"),
    );
    write_pair(
        &w,
        "003-purge",
        "SELECT 1;\n",
        Some("DO $$ BEGIN DELETE FROM orders; END $$;\n"),
    );
    migrate(&w, &db, &[]);

    // 003's DO block is measured (a reader could not judge it); 002's script is read.
    db.execute("INSERT INTO orders VALUES (1, 'a')");
    let (out, report) = rollback(&w, &db, &["--steps", "2"]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    assert!(
        message(&report, "rollback.data-loss")
            .starts_with("would destroy data in 1 table: orders (1 row)"),
        "{report:#}"
    );
    assert_eq!(
        result(&report, "rollback.data-loss")["details"]["read_instead"],
        json!(["002-index"])
    );
    assert_eq!(scalar(&db, "SELECT count(*) FROM orders"), 1);

    // Nothing to lose: it passes, saying what was read.
    db.execute("DELETE FROM orders");
    let (out, report) = rollback(&w, &db, &["--steps", "2"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    let guard = result(&report, "rollback.data-loss");
    assert_eq!(guard["status"], "pass", "{report:#}");
    assert!(
        guard["message"]
            .as_str()
            .unwrap()
            .contains("the no-transaction down scripts of 002-index were read, not tried"),
        "{report:#}"
    );
    assert_eq!(history(&db), ["001-orders"]);
}

#[test]
fn mariadb_a_count_that_waits_out_the_lock_timeout_refuses() {
    let w = Workdir::new();
    let db = TestDb::mysql();
    write_pair(
        &w,
        "001-notes",
        "CREATE TABLE notes (id INT PRIMARY KEY, body TEXT);\n",
        Some("DROP TABLE notes;\n"),
    );
    migrate(&w, &db, &[]);
    block(async {
        // Another session holds the table: the guard's count waits, then gives up.
        let mut holder = mysql(&db).await;
        sqlx::raw_sql("LOCK TABLES notes WRITE")
            .execute(&mut holder)
            .await
            .expect("lock the table");
        let started = Instant::now();
        let (out, report) = rollback(&w, &db, &["--all", "--lock-timeout", "1s"]);
        assert_eq!(code(&out), 1, "{}", both(&out));
        assert!(started.elapsed() < Duration::from_secs(30));
        let msg = message(&report, "rollback.data-loss");
        assert!(
            msg.starts_with("cannot tell what the down scripts destroy: cannot count")
                && msg.contains("notes"),
            "{msg}"
        );
        assert!(!has(&report, "rollback.001-notes"), "{report:#}");
        sqlx::raw_sql("UNLOCK TABLES")
            .execute(&mut holder)
            .await
            .expect("unlock");
    });
    assert_eq!(mysql_history(&db), ["001-notes"]);
}

/// MariaDB cannot try the scripts: the reader follows renames to the original name, and a column
/// that no longer exists (a later migration dropped it; its down script re-adds it) holds nothing.
#[test]
fn mariadb_renames_are_followed_and_re_added_columns_hold_nothing() {
    let w = Workdir::new();
    let db = TestDb::mysql();
    write_pair(
        &w,
        "001-accounts",
        "CREATE TABLE accounts (id INT PRIMARY KEY, nick TEXT);\n",
        Some("DROP TABLE accounts;\n"),
    );
    write_pair(
        &w,
        "002-email",
        "ALTER TABLE accounts ADD COLUMN email TEXT;\n",
        Some("ALTER TABLE accounts DROP COLUMN email;\n"),
    );
    write_pair(
        &w,
        "003-drop-email",
        "ALTER TABLE accounts DROP COLUMN email;\n",
        Some("ALTER TABLE accounts ADD COLUMN email TEXT;\n"),
    );
    write_pair(
        &w,
        "004-archive",
        "SELECT 1;\n",
        Some(
            "ALTER TABLE accounts CHANGE nick handle TEXT;\n\
             ALTER TABLE accounts DROP COLUMN handle;\n\
             RENAME TABLE accounts TO accounts_old;\n\
             DROP TABLE accounts_old;\n",
        ),
    );
    migrate(&w, &db, &[]);
    db.execute("INSERT INTO accounts (id, nick) VALUES (1, 'ada'), (2, NULL)");

    let (out, report) = rollback(&w, &db, &["--all", "--dry-run"]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    let guard = result(&report, "rollback.data-loss");
    assert_eq!(
        guard["message"],
        "would destroy data in 1 table: accounts (2 rows); refused: back it up and pass --allow-data-loss to go ahead",
        "{report:#}"
    );
    assert_eq!(guard["details"]["columns"], json!([]), "{report:#}");

    // Without 004 (which renames and drops), the re-added email is no loss and 001 is kept.
    w.write("migrations/004-archive.down.sql", "SELECT 1;\n");
    let (out, report) = rollback(&w, &db, &["--to", "001-accounts"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert_eq!(status(&report, "rollback.data-loss"), "pass", "{report:#}");
    assert_eq!(mysql_history(&db), ["001-accounts"]);
}

/// A down script that re-creates an index concurrently, killed during the build: `--resume`
/// finds the index the server finished, counts the statement done, and says so.
#[test]
fn a_killed_concurrent_index_build_in_a_down_script_is_resumed_as_done() {
    let w = Workdir::new();
    let db = TestDb::postgres();
    write_pair(
        &w,
        "001-big",
        "CREATE TABLE big AS SELECT g AS id, md5(g::text) AS h FROM generate_series(1, 1500000) g;\n",
        Some("DROP TABLE big;\n"),
    );
    write_pair(
        &w,
        "002-no-index",
        "-- shipgate:no-transaction\nDROP INDEX CONCURRENTLY IF EXISTS big_h;\n",
        Some("-- shipgate:no-transaction\nCREATE INDEX CONCURRENTLY big_h ON big (h, id);\n"),
    );
    migrate(&w, &db, &[]);
    let mut child = spawn(
        &w,
        &[
            "rollback",
            "--format",
            "json",
            "--database-url",
            &db.url,
            "--dir",
            "migrations",
            "--steps",
            "1",
        ],
    );
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
    // The server finishes the build, or cancels it once it notices the client is gone (the
    // session's client_connection_check_interval): on a loaded machine either comes first.
    // Whichever it was, --resume must say so and end with the index built.
    wait_until("the build to end", Duration::from_secs(60), || {
        scalar(
            &db,
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND state = 'active' AND query LIKE 'CREATE INDEX CONCURRENTLY%'",
        ) == 0
    });
    let built = scalar(
        &db,
        "SELECT count(*) FROM pg_index WHERE indexrelid = 'big_h'::regclass AND indisvalid",
    ) == 1;

    let (out, report) = rollback(&w, &db, &["--steps", "1", "--resume"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    let msg = message(&report, "rollback.002-no-index");
    let expected = if built {
        "index big_h already built by the interrupted run"
    } else {
        "index big_h was left INVALID by the interrupted run; dropped and rebuilt"
    };
    assert!(msg.contains(expected), "{msg}");
    assert_eq!(
        scalar(
            &db,
            "SELECT count(*) FROM pg_index WHERE indexrelid = 'big_h'::regclass AND indisvalid"
        ),
        1
    );
    assert_eq!(history(&db), ["001-big"]);
}

/// Past the count cap, rows a down script deletes from a big table are still seen (PostgreSQL
/// records the deletions of the transaction), and counted exactly.
#[test]
fn postgres_rows_deleted_from_a_table_past_the_cap_are_counted_exactly() {
    let w = Workdir::new();
    let db = TestDb::postgres();
    write_pair(
        &w,
        "001-events",
        "CREATE TABLE events (id int primary key);\n",
        Some("DROP TABLE events;\n"),
    );
    write_pair(
        &w,
        "002-seed",
        "INSERT INTO events SELECT g FROM generate_series(1, 12000) g;\n",
        Some("DELETE FROM events WHERE id <= 5;\n"),
    );
    migrate(&w, &db, &[]);
    let (out, report) = rollback(&w, &db, &["--steps", "1"]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    assert!(
        message(&report, "rollback.data-loss")
            .starts_with("would destroy data in 1 table: events (5 rows);"),
        "{report:#}"
    );
    assert_eq!(scalar(&db, "SELECT count(*) FROM events"), 12000);
}

/// A dry run tries no down script, not even in a transaction it rolls back: a sequence a down
/// script advances would keep its new value, and its locks would stall live traffic.
#[test]
fn postgres_a_dry_run_runs_no_down_script() {
    let w = Workdir::new();
    let db = TestDb::postgres();
    write_pair(
        &w,
        "001-seq",
        "CREATE SEQUENCE invoice_no;\n",
        Some("SELECT nextval('invoice_no');\nDROP SEQUENCE invoice_no;\n"),
    );
    migrate(&w, &db, &[]);
    let before = scalar(&db, "SELECT nextval('invoice_no')");
    let (out, _) = rollback(&w, &db, &["--all", "--dry-run"]);
    assert!(code(&out) == 0 || code(&out) == 1, "{}", both(&out));
    assert_eq!(
        scalar(&db, "SELECT nextval('invoice_no')"),
        before + 1,
        "the dry run advanced the sequence"
    );
}

/// `ABORT` (PostgreSQL's ROLLBACK) and `PREPARE TRANSACTION` would end the transaction each
/// down script runs in: refused like COMMIT, before anything runs.
#[test]
fn transaction_control_in_a_down_script_is_refused_in_every_spelling() {
    for statement in ["ABORT;", "PREPARE TRANSACTION 'x';"] {
        let w = Workdir::new();
        let db = TestDb::postgres();
        write_pair(
            &w,
            "001-t",
            "CREATE TABLE t (id int);\n",
            Some(&format!("DROP TABLE t;\n{statement}\n")),
        );
        migrate(&w, &db, &[]);
        let out = w
            .cmd()
            .args([
                "rollback",
                "--all",
                "--dir",
                "migrations",
                "--database-url",
                &db.url,
            ])
            .output()
            .unwrap();
        assert_eq!(code(&out), 2, "{statement}: {}", both(&out));
        assert_eq!(history(&db), ["001-t"], "{statement}");
    }
}
