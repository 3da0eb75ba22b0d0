//! `[[preflight.database]]` and `--database-url`: PostgreSQL, MariaDB/MySQL and SQLite against the
//! real servers, one throwaway database per test.

mod common;

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use common::{TestDb, Workdir, json_report, result, stderr, stdout};
use serde_json::Value;

/// A closed port on loopback: connections are refused at once.
const UNREACHABLE: &str = "postgres://postgres@127.0.0.1:1/app";

fn run(w: &Workdir, vars: &[(&str, &str)], args: &[&str]) -> (Output, Value) {
    let mut cmd = w.cmd();
    cmd.args(["preflight", "--format", "json"]).args(args);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run shipgate");
    let report = json_report(&out);
    (out, report)
}

/// Writes a config with one `[[preflight.database]]` whose URL comes from `DATABASE_URL`.
fn config(w: &Workdir, extra: &str) {
    w.write(
        "shipgate.toml",
        &format!("[[preflight.database]]\nurl = \"${{DATABASE_URL}}\"\n{extra}\n"),
    );
}

fn message(r: &Value) -> &str {
    r["message"].as_str().expect("message")
}

fn ids(report: &Value) -> Vec<&str> {
    report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect()
}

fn pgcrypto_available(db: &TestDb) -> bool {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("connect");
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_available_extensions WHERE name = 'pgcrypto'",
        )
        .fetch_one(&mut conn)
        .await
        .expect("query available extensions");
        n > 0
    })
}

/// Creates a SQLite database file at `path` holding the table `users`.
fn sqlite_with_users_table(path: &Path) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use sqlx::Connection;
        let opts = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true);
        let mut conn = sqlx::SqliteConnection::connect_with(&opts)
            .await
            .expect("create sqlite file");
        sqlx::raw_sql("CREATE TABLE users (id INTEGER PRIMARY KEY)")
            .execute(&mut conn)
            .await
            .expect("create table");
        conn.close().await.expect("close sqlite");
    });
}

#[test]
fn postgres_connects_and_reports_latency_and_connections() {
    let db = TestDb::postgres();
    let w = Workdir::new();
    config(
        &w,
        "latency_warn = \"5s\"\nlatency_fail = \"10s\"\nconnections_warn_percent = 100\nconnections_fail_percent = 100",
    );
    let (out, report) = run(&w, &[("DATABASE_URL", &db.url)], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(
        ids(&report),
        [
            "database.main",
            "database.main.latency",
            "database.main.connections"
        ]
    );
    let main = result(&report, "database.main");
    assert_eq!(main["status"], "pass");
    assert!(message(main).contains("PostgreSQL"), "{main:#}");
    assert_eq!(main["details"]["server"], "PostgreSQL");
    assert_eq!(main["details"]["attempts"], 1);
    let latency = result(&report, "database.main.latency");
    assert_eq!(latency["status"], "pass");
    assert!(latency["details"]["latency_ms"].as_f64().unwrap() >= 0.0);
    let conns = result(&report, "database.main.connections");
    assert_eq!(conns["status"], "pass", "{conns:#}");
    assert!(
        conns["details"]["connections"].as_i64().unwrap() >= 1,
        "{conns:#}"
    );
    assert!(
        conns["details"]["max_connections"].as_i64().unwrap() > 0,
        "{conns:#}"
    );
}

#[test]
fn latency_and_connection_thresholds_warn() {
    let db = TestDb::postgres();
    let w = Workdir::new();
    config(
        &w,
        "latency_warn = \"0ms\"\nlatency_fail = \"10s\"\nconnections_warn_percent = 0\nconnections_fail_percent = 100",
    );
    let (out, report) = run(&w, &[("DATABASE_URL", &db.url)], &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "warnings alone pass: {}",
        stdout(&out)
    );
    let latency = result(&report, "database.main.latency");
    assert_eq!(latency["status"], "warn", "{latency:#}");
    assert!(
        message(latency).contains("warn threshold of"),
        "{latency:#}"
    );
    let conns = result(&report, "database.main.connections");
    assert_eq!(conns["status"], "warn", "{conns:#}");
    assert!(message(conns).contains("above 0%"), "{conns:#}");
    let (out, _) = run(&w, &[("DATABASE_URL", &db.url)], &["--strict"]);
    assert_eq!(out.status.code(), Some(1), "--strict fails on warnings");
}

#[test]
fn postgres_required_tables_exist() {
    let db = TestDb::postgres();
    db.execute("CREATE TABLE users (id int); CREATE TABLE orders (id int)");
    let w = Workdir::new();
    config(&w, "tables = [\"users\", \"orders\"]");
    let (out, report) = run(&w, &[("DATABASE_URL", &db.url)], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let r = result(&report, "database.main.tables");
    assert_eq!(r["status"], "pass", "{r:#}");
    assert_eq!(r["details"]["missing"], serde_json::json!([]));
}

#[test]
fn postgres_missing_table_fails_naming_it() {
    let db = TestDb::postgres();
    db.execute("CREATE TABLE users (id int)");
    let w = Workdir::new();
    config(&w, "tables = [\"users\", \"lp_reports\"]");
    let (out, report) = run(&w, &[("DATABASE_URL", &db.url)], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(result(&report, "database.main")["status"], "pass");
    let r = result(&report, "database.main.tables");
    assert_eq!(r["status"], "fail");
    assert!(message(r).contains("lp_reports"), "{r:#}");
    assert!(!message(r).contains("users"), "{r:#}");
    assert_eq!(r["details"]["missing"], serde_json::json!(["lp_reports"]));
    assert_eq!(
        r["location"]["line"], 1,
        "points at the [[preflight.database]] entry: {r:#}"
    );
}

#[test]
fn postgres_schema_qualified_table() {
    let db = TestDb::postgres();
    db.execute("CREATE SCHEMA billing; CREATE TABLE billing.invoices (id int)");
    let w = Workdir::new();
    config(&w, "tables = [\"billing.invoices\"]");
    let (out, report) = run(&w, &[("DATABASE_URL", &db.url)], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(result(&report, "database.main.tables")["status"], "pass");
    // The same name outside its schema (not on the search_path) is missing.
    config(&w, "tables = [\"invoices\", \"billing.payments\"]");
    let (out, report) = run(&w, &[("DATABASE_URL", &db.url)], &[]);
    assert_eq!(out.status.code(), Some(1));
    let r = result(&report, "database.main.tables");
    assert_eq!(
        r["details"]["missing"],
        serde_json::json!(["invoices", "billing.payments"]),
        "{r:#}"
    );
}

#[test]
fn postgres_table_names_with_capitals_as_orms_create_them() {
    // Prisma creates `"Member"`; `tables = ["Member"]` means that table, quoted or not.
    let db = TestDb::postgres();
    db.execute(
        r#"CREATE SCHEMA app; CREATE TABLE "Member" (id int); CREATE TABLE app."Fund" (id int)"#,
    );
    let w = Workdir::new();
    config(&w, r#"tables = ["Member", '"Member"', "app.Fund"]"#);
    let (out, report) = run(&w, &[("DATABASE_URL", &db.url)], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(result(&report, "database.main.tables")["status"], "pass");
    // Quoted means exactly that name: `"member"` is not `"Member"`.
    config(&w, r#"tables = ['"member"', "Members"]"#);
    let (out, report) = run(&w, &[("DATABASE_URL", &db.url)], &[]);
    assert_eq!(out.status.code(), Some(1));
    let r = result(&report, "database.main.tables");
    assert_eq!(
        r["details"]["missing"],
        serde_json::json!(["\"member\"", "Members"]),
        "{r:#}"
    );
}

#[test]
fn postgres_extension_missing_fails() {
    let db = TestDb::postgres();
    let w = Workdir::new();
    config(&w, "extensions = [\"pgcrypto\"]");
    let (out, report) = run(&w, &[("DATABASE_URL", &db.url)], &[]);
    assert_eq!(out.status.code(), Some(1));
    let r = result(&report, "database.main.extensions");
    assert_eq!(r["status"], "fail");
    assert!(message(r).contains("pgcrypto"), "{r:#}");
    assert_eq!(r["details"]["missing"], serde_json::json!(["pgcrypto"]));
}

#[test]
fn postgres_extension_installed_passes() {
    let db = TestDb::postgres();
    // plpgsql is in every database; pgcrypto is the realistic case when the server ships it.
    let extension = if pgcrypto_available(&db) {
        db.execute("CREATE EXTENSION pgcrypto");
        "pgcrypto"
    } else {
        eprintln!("pgcrypto is not available on this server; checking plpgsql instead");
        "plpgsql"
    };
    let w = Workdir::new();
    config(&w, &format!("extensions = [\"{extension}\"]"));
    let (out, report) = run(&w, &[("DATABASE_URL", &db.url)], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let r = result(&report, "database.main.extensions");
    assert_eq!(r["status"], "pass", "{r:#}");
    assert!(message(r).contains(extension), "{r:#}");
}

#[test]
fn min_version_pass_and_fail() {
    let db = TestDb::postgres();
    let w = Workdir::new();
    config(&w, "min_version = \"9\"");
    let (out, report) = run(&w, &[("DATABASE_URL", &db.url)], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let r = result(&report, "database.main.version");
    assert_eq!(r["status"], "pass", "{r:#}");
    assert!(message(r).contains("is at least 9"), "{r:#}");

    config(&w, "min_version = \"99\"");
    let (out, report) = run(&w, &[("DATABASE_URL", &db.url)], &[]);
    assert_eq!(out.status.code(), Some(1));
    let r = result(&report, "database.main.version");
    assert_eq!(r["status"], "fail");
    assert!(message(r).contains("older than the required 99"), "{r:#}");
    assert_eq!(r["details"]["min_version"], "99");
}

#[test]
fn flags_database_url_require_table_and_min_version() {
    let db = TestDb::postgres();
    db.execute("CREATE TABLE users (id int)");
    let w = Workdir::new();
    let (out, report) = run(
        &w,
        &[],
        &[
            "--database-url",
            &db.url,
            "--require-table",
            "users,sessions",
            "--db-min-version",
            "9",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(result(&report, "database.main.version")["status"], "pass");
    let r = result(&report, "database.main.tables");
    assert_eq!(r["status"], "fail");
    assert!(message(r).contains("sessions"), "{r:#}");
}

#[test]
fn unreachable_server_fails_and_skips_the_rest() {
    let w = Workdir::new();
    config(&w, "tables = [\"users\"]\nmin_version = \"13\"");
    let started = Instant::now();
    let (out, report) = run(&w, &[("DATABASE_URL", UNREACHABLE)], &[]);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "a refused connection is not retried without wait"
    );
    assert_eq!(out.status.code(), Some(1));
    let main = result(&report, "database.main");
    assert_eq!(main["status"], "fail");
    assert!(
        message(main).contains("cannot connect to postgres://postgres@127.0.0.1:1/app"),
        "{main:#}"
    );
    for id in [
        "database.main.version",
        "database.main.tables",
        "database.main.latency",
        "database.main.connections",
    ] {
        let r = result(&report, id);
        assert_eq!(r["status"], "skip", "{r:#}");
        assert!(
            message(r).contains("not reachable"),
            "the skip gives its reason: {r:#}"
        );
    }
    assert_eq!(
        report["summary"]["failed"], 1,
        "one failure, not one per aspect"
    );
}

#[test]
fn only_a_dependent_aspect_still_shows_the_failed_prerequisite() {
    let w = Workdir::new();
    config(&w, "tables = [\"users\"]");
    let (out, report) = run(
        &w,
        &[("DATABASE_URL", UNREACHABLE)],
        &["--only", "database.main.tables"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert_eq!(ids(&report), ["database.main", "database.main.tables"]);
    assert_eq!(result(&report, "database.main")["status"], "fail");
    assert_eq!(result(&report, "database.main.tables")["status"], "skip");
}

#[test]
fn only_a_dependent_aspect_of_a_healthy_database() {
    let db = TestDb::postgres();
    db.execute("CREATE TABLE users (id int)");
    let w = Workdir::new();
    config(&w, "tables = [\"users\"]");
    let (out, report) = run(
        &w,
        &[("DATABASE_URL", &db.url)],
        &["--only", "database.main.tables"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(ids(&report), ["database.main.tables"]);
}

#[test]
fn wait_retries_until_the_deadline() {
    let w = Workdir::new();
    config(&w, "wait = \"2s\"");
    let started = Instant::now();
    let (out, report) = run(&w, &[("DATABASE_URL", UNREACHABLE)], &[]);
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(1));
    let main = result(&report, "database.main");
    assert_eq!(main["status"], "fail");
    let attempts = main["details"]["attempts"].as_u64().unwrap();
    assert!(attempts > 1, "retried: {main:#}");
    assert!(
        message(main).contains(&format!("after {attempts} attempts")),
        "{main:#}"
    );
    assert!(
        took >= Duration::from_millis(1400),
        "gave up after {took:?}, before the 2s wait"
    );
    assert!(took < Duration::from_secs(10), "kept going for {took:?}");
}

#[test]
fn unset_url_variable_fails_naming_it() {
    let w = Workdir::new();
    config(&w, "tables = [\"users\"]");
    let (out, report) = run(&w, &[], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let main = result(&report, "database.main");
    assert_eq!(main["status"], "fail");
    assert!(
        message(main).contains("DATABASE_URL is not set"),
        "{main:#}"
    );
    assert_eq!(result(&report, "database.main.tables")["status"], "skip");
}

#[test]
fn unknown_scheme_is_wrong_input_naming_it() {
    // Not a database shipgate speaks: the input is wrong, and nothing runs (exit 2), placed
    // on the config line that names the URL.
    let w = Workdir::new();
    config(&w, "");
    let out = w
        .cmd()
        .env("DATABASE_URL", "mongodb://127.0.0.1/app")
        .args(["preflight", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains("`mongodb`") && err.contains("shipgate.toml:"),
        "{err}"
    );
}

#[test]
fn url_password_is_never_printed() {
    let db = TestDb::postgres();
    let password = "pw-sentinel-93571";
    let url = db
        .url
        .replacen("postgres@", &format!("postgres:{password}@"), 1);
    assert!(url.contains(password), "{url}");
    let w = Workdir::new();
    config(&w, "tables = [\"missing_table\"]");
    for args in [
        &[][..],
        &["--database-url", &url, "--require-table", "nope"],
    ] {
        for format in ["json", "human", "markdown", "junit"] {
            let mut cmd = w.cmd();
            cmd.args(["preflight", "-v", "--format", format])
                .args(args)
                .env("DATABASE_URL", &url);
            let out = cmd.output().unwrap();
            assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
            assert!(
                !stdout(&out).contains(password),
                "{format} {args:?}:\n{}",
                stdout(&out)
            );
            assert!(
                !stderr(&out).contains(password),
                "{format} {args:?}:\n{}",
                stderr(&out)
            );
        }
    }
    // Unreachable too: driver errors must not leak it either.
    let bad = format!("postgres://postgres:{password}@127.0.0.1:1/app");
    let (out, report) = run(&w, &[("DATABASE_URL", &bad)], &[]);
    assert!(!stdout(&out).contains(password) && !stderr(&out).contains(password));
    assert_eq!(
        result(&report, "database.main")["details"]["url"],
        "postgres://postgres:***@127.0.0.1:1/app"
    );
}

#[test]
fn mariadb_with_mysql_and_mariadb_schemes() {
    let db = TestDb::mysql();
    db.execute("CREATE TABLE users (id int)");
    assert!(db.url.starts_with("mysql://"), "{}", db.url);
    let mariadb_url = db.url.replacen("mysql://", "mariadb://", 1);
    for url in [&db.url, &mariadb_url] {
        let w = Workdir::new();
        config(
            &w,
            "tables = [\"users\"]\nmin_version = \"5\"\nlatency_warn = \"5s\"\nlatency_fail = \"10s\"\nconnections_warn_percent = 100\nconnections_fail_percent = 100",
        );
        let (out, report) = run(&w, &[("DATABASE_URL", url)], &[]);
        assert_eq!(out.status.code(), Some(0), "{url}: {}", stdout(&out));
        let main = result(&report, "database.main");
        let server = main["details"]["server"].as_str().unwrap();
        assert!(server == "MariaDB" || server == "MySQL", "{main:#}");
        for id in [
            "database.main.version",
            "database.main.tables",
            "database.main.latency",
            "database.main.connections",
        ] {
            assert_eq!(
                result(&report, id)["status"],
                "pass",
                "{url} {id}: {report:#}"
            );
        }
    }
}

#[test]
fn mariadb_missing_table_fails_naming_it() {
    let db = TestDb::mysql();
    db.execute("CREATE TABLE users (id int)");
    let w = Workdir::new();
    config(&w, "tables = [\"users\", \"lp_reports\"]");
    let url = db.url.replacen("mysql://", "mariadb://", 1);
    let (out, report) = run(&w, &[("DATABASE_URL", &url)], &[]);
    assert_eq!(out.status.code(), Some(1));
    let r = result(&report, "database.main.tables");
    assert_eq!(r["status"], "fail");
    assert!(message(r).contains("lp_reports"), "{r:#}");
    assert_eq!(r["details"]["missing"], serde_json::json!(["lp_reports"]));
}

#[test]
fn mariadb_extensions_are_refused() {
    let db = TestDb::mysql();
    let w = Workdir::new();
    config(&w, "extensions = [\"pgcrypto\"]");
    let (out, report) = run(&w, &[("DATABASE_URL", &db.url)], &[]);
    assert_eq!(out.status.code(), Some(1));
    let r = result(&report, "database.main.extensions");
    assert_eq!(r["status"], "fail");
    assert!(message(r).contains("PostgreSQL feature"), "{r:#}");
}

#[test]
fn sqlite_file_with_table() {
    let w = Workdir::new();
    sqlite_with_users_table(&w.path().join("app.db"));
    config(
        &w,
        "tables = [\"users\"]\nlatency_warn = \"5s\"\nlatency_fail = \"10s\"",
    );
    let (out, report) = run(&w, &[("DATABASE_URL", "sqlite://app.db")], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(
        ids(&report),
        [
            "database.main",
            "database.main.tables",
            "database.main.latency"
        ]
    );
    assert_eq!(
        result(&report, "database.main")["details"]["server"],
        "SQLite"
    );
    assert_eq!(result(&report, "database.main.tables")["status"], "pass");

    config(&w, "tables = [\"users\", \"orders\"]");
    let (out, report) = run(&w, &[("DATABASE_URL", "sqlite://app.db")], &[]);
    assert_eq!(out.status.code(), Some(1));
    let r = result(&report, "database.main.tables");
    assert_eq!(
        r["details"]["missing"],
        serde_json::json!(["orders"]),
        "{r:#}"
    );
}

#[test]
fn sqlite_missing_file_fails_and_is_not_created() {
    let w = Workdir::new();
    config(&w, "tables = [\"users\"]");
    let (out, report) = run(&w, &[("DATABASE_URL", "sqlite://missing.db")], &[]);
    assert_eq!(out.status.code(), Some(1));
    let main = result(&report, "database.main");
    assert_eq!(main["status"], "fail", "{main:#}");
    assert!(message(main).contains("sqlite://missing.db"), "{main:#}");
    assert_eq!(result(&report, "database.main.tables")["status"], "skip");
    assert!(
        !w.path().join("missing.db").exists(),
        "a check must not create the database file"
    );
}

#[test]
fn two_databases_get_distinct_ids_in_config_order() {
    let pg = TestDb::postgres();
    let my = TestDb::mysql();
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        "[[preflight.database]]\nname = \"reports\"\nurl = \"${PG_URL}\"\n\n[[preflight.database]]\nurl = \"${MY_URL}\"\n",
    );
    let (out, report) = run(&w, &[("PG_URL", &pg.url), ("MY_URL", &my.url)], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let mains: Vec<&str> = ids(&report)
        .into_iter()
        .filter(|id| id.matches('.').count() == 1)
        .collect();
    assert_eq!(mains, ["database.reports", "database.main"]);
    assert_eq!(
        result(&report, "database.reports")["details"]["server"],
        "PostgreSQL"
    );
}

/// BUG: a SQLite URL pointing at a file that is not a database "connects" (`database.main`
/// passes with the message "connected to SQLite  in 1.2ms", the version left blank because
/// `SELECT sqlite_version()` failed), then every later aspect fails on its own with "file is not
/// a database". The connection aspect is the prerequisite: it should fail with that reason and
/// the rest be skipped, as for an unreachable server.
#[test]
fn sqlite_file_that_is_not_a_database_fails_the_connection() {
    let w = Workdir::new();
    w.write(
        "junk.db",
        "this is not a SQLite database, just text long enough to have a header\n",
    );
    config(&w, "tables = [\"users\"]");
    let (out, report) = run(&w, &[("DATABASE_URL", "sqlite://junk.db")], &[]);
    assert_eq!(out.status.code(), Some(1));
    let main = result(&report, "database.main");
    assert_eq!(main["status"], "fail", "{main:#}");
    assert!(message(main).contains("not a database"), "{main:#}");
    assert_eq!(result(&report, "database.main.tables")["status"], "skip");
    assert_eq!(
        report["summary"]["failed"], 1,
        "one failure, not one per aspect"
    );
}

#[test]
fn db_wait_flag_retries() {
    let w = Workdir::new();
    let started = Instant::now();
    let (out, report) = run(&w, &[], &["--database-url", UNREACHABLE, "--db-wait", "1s"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "{:?}",
        started.elapsed()
    );
    assert!(
        result(&report, "database.main")["details"]["attempts"]
            .as_u64()
            .unwrap()
            > 1
    );
}

#[test]
fn migrations_aspect_counts_pending_and_fails_on_a_changed_file() {
    let w = Workdir::new();
    let db_path = w.path().join("app.db");
    let url = format!("sqlite://{}?mode=rwc", db_path.display());
    w.write("migrations/001_a.sql", "CREATE TABLE a (x int);\n");
    w.write("migrations/002_b.sql", "CREATE TABLE b (x int);\n");
    let out = w
        .cmd()
        .args(["migrate", "--database-url", &url, "--to", "001", "-q"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    w.write(
        "shipgate.toml",
        &format!("[[preflight.database]]\nurl = \"{url}\"\nmigrations = \"migrations\"\n"),
    );
    let check = || {
        let out = w
            .cmd()
            .args(["preflight", "--format", "json"])
            .output()
            .unwrap();
        (out.status.code(), json_report(&out))
    };
    let (code, report) = check();
    let m = result(&report, "database.main.migrations");
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(m["status"], "pass");
    assert_eq!(m["details"]["pending"], 1);
    assert_eq!(m["details"]["applied"], 1);

    w.write("migrations/001_a.sql", "CREATE TABLE a (x bigint);\n");
    let (code, report) = check();
    let m = result(&report, "database.main.migrations");
    assert_eq!(code, Some(1), "{report:#}");
    assert_eq!(m["status"], "fail");
    assert!(m["message"].as_str().unwrap().contains("changed"), "{m:#}");
}

#[test]
fn a_template_url_is_refused_at_once_not_retried_for_the_whole_wait() {
    // The investment-platform guide's `DATABASE_URL=postgresql://user:password@host:port/database`,
    // copied as written: every attempt would fail the same way, so `wait` must not retry it.
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        "[[preflight.database]]\nname = \"main\"\nurl = \"${DATABASE_URL}\"\nwait = \"30s\"\n",
    );
    let started = Instant::now();
    let out = w
        .cmd()
        .arg("preflight")
        .env(
            "DATABASE_URL",
            "postgresql://app:hunter2-db@host:port/database",
        )
        .output()
        .unwrap();
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{text}{}", stdout(&out));
    assert!(started.elapsed() < Duration::from_secs(10), "it waited");
    assert!(
        text.contains("shipgate.toml:3") && text.contains("invalid port number"),
        "{text}"
    );
    assert!(!text.contains("hunter2-db"), "{text}");
}
