//! Taking over a database another tool migrated, baselines, and the audited repairs
//! (`--accept-checksum`, `--mark-resolved`), against the real PostgreSQL.

mod common;

use std::process::Output;

use common::{TestDb, Workdir, applied_versions, json_report, result, stderr, stdout};
use serde_json::Value;
use sqlx::Connection;

fn migrate(w: &Workdir, db: &TestDb, args: &[&str]) -> (Output, Value) {
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
        .args(args)
        .output()
        .expect("run shipgate");
    let report = json_report(&out);
    (out, report)
}

fn both(out: &Output) -> String {
    format!("stdout:\n{}\nstderr:\n{}", stdout(out), stderr(out))
}

fn query_strings(db: &TestDb, sql: &str) -> Vec<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&db.url).await.unwrap();
        sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql.to_string()))
            .fetch_all(&mut conn)
            .await
            .unwrap()
    })
}

/// Versions and statuses of shipgate's history, in version order.
fn history(db: &TestDb) -> Vec<String> {
    query_strings(
        db,
        "SELECT version || ':' || status FROM shipgate_migrations ORDER BY version",
    )
}

/// Three migrations; the first two are "already applied" by another tool (their tables exist).
fn three_migrations(w: &Workdir, db: &TestDb) {
    w.write("migrations/001_a.sql", "CREATE TABLE a (x int);\n");
    w.write("migrations/002_b.sql", "CREATE TABLE b (x int);\n");
    w.write("migrations/003_c.sql", "CREATE TABLE c (x int);\n");
    db.execute("CREATE TABLE a (x int); CREATE TABLE b (x int);");
}

/// Runs migrate after another tool's history says 001 and 002 are applied: nothing runs twice
/// (re-running 001 would fail on "relation a already exists"), 003 runs, and the rows say how.
fn assert_adopted(w: &Workdir, db: &TestDb, from: &str) {
    let (out, report) = migrate(w, db, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    let adopt = result(&report, "migrate.adopt");
    assert_eq!(adopt["status"], "pass", "{adopt:#}");
    assert!(
        adopt["message"].as_str().unwrap().contains(from),
        "{adopt:#}"
    );
    assert_eq!(result(&report, "migration.003")["status"], "pass");
    assert_eq!(history(db), ["001:adopted", "002:adopted", "003:applied"]);
}

#[test]
fn adopts_sqlx_history() {
    let (w, db) = (Workdir::new(), TestDb::postgres());
    three_migrations(&w, &db);
    db.execute(
        "CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL, \
         installed_on TIMESTAMPTZ NOT NULL DEFAULT now(), success BOOLEAN NOT NULL, checksum BYTEA NOT NULL, \
         execution_time BIGINT NOT NULL); \
         INSERT INTO _sqlx_migrations VALUES (1, 'a', now(), true, '\\x00', 1), (2, 'b', now(), true, '\\x00', 1);",
    );
    assert_adopted(&w, &db, "_sqlx_migrations");
}

#[test]
fn adopts_golang_migrate_history_and_refuses_a_dirty_one() {
    let (w, db) = (Workdir::new(), TestDb::postgres());
    three_migrations(&w, &db);
    db.execute("CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL); INSERT INTO schema_migrations VALUES (2, true);");
    let (out, report) = migrate(&w, &db, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    let adopt = result(&report, "migrate.adopt");
    assert!(
        adopt["message"]
            .as_str()
            .unwrap()
            .contains("dirty at version 2"),
        "{adopt:#}"
    );
    assert!(
        query_strings(&db, "SELECT COALESCE(to_regclass('c')::text, '')")
            .iter()
            .all(String::is_empty),
        "nothing ran on a dirty database"
    );

    db.execute("UPDATE schema_migrations SET dirty = false");
    assert_adopted(&w, &db, "schema_migrations");
}

#[test]
fn adopts_dbmate_history() {
    let (w, db) = (Workdir::new(), TestDb::postgres());
    three_migrations(&w, &db);
    db.execute("CREATE TABLE schema_migrations (version varchar(128) PRIMARY KEY); INSERT INTO schema_migrations VALUES ('001'), ('002');");
    assert_adopted(&w, &db, "schema_migrations");
}

#[test]
fn adopts_diesel_history() {
    let (w, db) = (Workdir::new(), TestDb::postgres());
    three_migrations(&w, &db);
    db.execute("CREATE TABLE __diesel_schema_migrations (version VARCHAR(50) PRIMARY KEY, run_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP); INSERT INTO __diesel_schema_migrations (version) VALUES ('1'), ('2');");
    assert_adopted(&w, &db, "__diesel_schema_migrations");
}

#[test]
fn adopts_flyway_history() {
    let (w, db) = (Workdir::new(), TestDb::postgres());
    three_migrations(&w, &db);
    db.execute(
        "CREATE TABLE flyway_schema_history (installed_rank INT PRIMARY KEY, version VARCHAR(50), description VARCHAR(200), \
         type VARCHAR(20), script VARCHAR(1000), checksum INTEGER, installed_by VARCHAR(100), installed_on TIMESTAMP DEFAULT now(), \
         execution_time INTEGER, success BOOLEAN); \
         INSERT INTO flyway_schema_history (installed_rank, version, success) VALUES (1, '1', true), (2, '2', true), (3, NULL, true);",
    );
    assert_adopted(&w, &db, "flyway_schema_history");
}

#[test]
fn check_and_dry_run_show_the_adoption_without_writing_it() {
    let (w, db) = (Workdir::new(), TestDb::postgres());
    three_migrations(&w, &db);
    db.execute("CREATE TABLE schema_migrations (version varchar(128) PRIMARY KEY); INSERT INTO schema_migrations VALUES ('001'), ('002');");
    let (out, report) = migrate(&w, &db, &["--check"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "one migration is pending: {}",
        both(&out)
    );
    assert_eq!(result(&report, "migrate.adopt")["status"], "skip");
    assert_eq!(result(&report, "migrate.applied")["status"], "pass");
    assert_eq!(applied_versions(&report), ["001", "002"]);
    assert_eq!(result(&report, "migration.003")["status"], "fail");
    let (out, _) = migrate(&w, &db, &["--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert!(
        query_strings(
            &db,
            "SELECT COALESCE(to_regclass('shipgate_migrations')::text, '')"
        )
        .iter()
        .all(String::is_empty),
        "nothing written"
    );
}

#[test]
fn baseline_records_without_running_and_only_on_an_empty_history() {
    let (w, db) = (Workdir::new(), TestDb::postgres());
    three_migrations(&w, &db);
    let (out, report) = migrate(&w, &db, &["--baseline", "002"]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert!(
        result(&report, "migrate.adopt")["message"]
            .as_str()
            .unwrap()
            .contains("baseline")
    );
    assert_eq!(
        history(&db),
        ["001:baseline", "002:baseline", "003:applied"]
    );
    let out = w
        .cmd()
        .args([
            "migrate",
            "--database-url",
            &db.url,
            "--dir",
            "migrations",
            "--baseline",
            "002",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "a baseline needs an empty history: {}",
        both(&out)
    );
    assert!(
        stderr(&out).contains("already records 3 migrations"),
        "{}",
        both(&out)
    );
}

#[test]
fn accept_checksum_is_audited_and_requires_a_reason() {
    let (w, db) = (Workdir::new(), TestDb::postgres());
    w.write("migrations/001_a.sql", "CREATE TABLE a (x int);\n");
    let (out, _) = migrate(&w, &db, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    w.write(
        "migrations/001_a.sql",
        "CREATE TABLE a (x int); -- reviewed\n",
    );
    let (out, report) = migrate(&w, &db, &[]);
    assert_eq!(out.status.code(), Some(1), "drift refused: {}", both(&out));
    assert!(
        result(&report, "migration.001")["message"]
            .as_str()
            .unwrap()
            .contains("--accept-checksum 001")
    );

    let out = w
        .cmd()
        .args([
            "migrate",
            "--database-url",
            &db.url,
            "--dir",
            "migrations",
            "--accept-checksum",
            "001",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "--reason is required: {}",
        both(&out)
    );

    let (out, report) = migrate(
        &w,
        &db,
        &[
            "--accept-checksum",
            "001",
            "--reason",
            "comment added, SQL unchanged",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert_eq!(result(&report, "migrate.accept-checksum")["status"], "pass");
    assert_eq!(
        result(&report, "migrate.accept-checksum")["message"],
        "001 now records the checksum of migrations/001_a.sql (comment added, SQL unchanged)"
    );
    let note = query_strings(
        &db,
        "SELECT note FROM shipgate_migrations WHERE version = '001'",
    );
    assert!(
        note[0].contains("comment added, SQL unchanged") && note[0].contains("accepted by"),
        "{note:?}"
    );
    let (out, _) = migrate(&w, &db, &["--check"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "up to date after accepting: {}",
        both(&out)
    );
}

#[test]
fn mark_resolved_unblocks_a_partial_migration() {
    let (w, db) = (Workdir::new(), TestDb::postgres());
    w.write(
        "migrations/001_idx.sql",
        "-- shipgate:no-transaction\nCREATE TABLE t (x int);\nCREATE INDEX CONCURRENTLY t_x ON nope (x);\nCREATE TABLE u (x int);\n",
    );
    let (out, report) = migrate(&w, &db, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    assert!(
        result(&report, "migration.001")["message"]
            .as_str()
            .unwrap()
            .contains("statement 2")
    );
    // A person finishes it by hand, then records why.
    db.execute("CREATE TABLE u (x int)");
    let (out, report) = migrate(
        &w,
        &db,
        &[
            "--mark-resolved",
            "001",
            "--reason",
            "index built by hand on the replica",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert_eq!(result(&report, "migrate.mark-resolved")["status"], "pass");
    assert_eq!(
        result(&report, "migrate.mark-resolved")["message"],
        "001 is recorded as resolved (index built by hand on the replica)"
    );
    assert_eq!(history(&db), ["001:resolved"]);
    let (out, _) = migrate(&w, &db, &["--check"]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
}

#[test]
fn backup_before_migrating_is_a_readable_dump() {
    let (w, db) = (Workdir::new(), TestDb::postgres());
    w.write("migrations/001_a.sql", "CREATE TABLE a (x int);\n");
    db.execute("CREATE TABLE keep (x int); INSERT INTO keep VALUES (42);");
    let (out, report) = migrate(&w, &db, &["--backup", "backups"]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    let backup = result(&report, "migrate.backup");
    let path = backup["details"]["path"].as_str().unwrap();
    assert!(backup["details"]["bytes"].as_u64().unwrap() > 0);
    let listing = std::process::Command::new("pg_restore")
        .arg("--list")
        .arg(w.path().join(path))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&listing.stdout).contains("TABLE public keep"),
        "{}",
        String::from_utf8_lossy(&listing.stdout)
    );
    // Nothing pending: the backup asked for is still taken, and the row says so (issue 12.7).
    let (out, report) = migrate(&w, &db, &["--backup", "backups"]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    let again = result(&report, "migrate.backup");
    assert!(
        again["message"]
            .as_str()
            .unwrap()
            .starts_with("nothing to apply; backup taken: "),
        "{again:#}"
    );
    assert_ne!(again["details"]["path"], backup["details"]["path"]);
}

#[test]
fn a_missing_pg_dump_stops_the_run_before_anything_changes() {
    let (w, db) = (Workdir::new(), TestDb::postgres());
    w.write("migrations/001_a.sql", "CREATE TABLE a (x int);\n");
    let out = w
        .cmd()
        .env("PATH", "/nonexistent")
        .args([
            "migrate",
            "--format",
            "json",
            "--database-url",
            &db.url,
            "--dir",
            "migrations",
            "--backup",
            "b",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    let report = json_report(&out);
    let backup = result(&report, "migrate.backup");
    assert!(
        backup["message"].as_str().unwrap().contains("pg_dump"),
        "{backup:#}"
    );
    assert!(
        query_strings(&db, "SELECT COALESCE(to_regclass('a')::text, '')")
            .iter()
            .all(String::is_empty),
        "nothing was changed"
    );
}

#[test]
fn an_emptied_history_is_not_adopted_again() {
    // After `rollback --all` the table exists and is empty: the old tool's history is stale.
    let (w, db) = (Workdir::new(), TestDb::postgres());
    three_migrations(&w, &db);
    db.execute("CREATE TABLE schema_migrations (version varchar(128) PRIMARY KEY); INSERT INTO schema_migrations VALUES ('001'), ('002');");
    let (out, _) = migrate(&w, &db, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    db.execute("DELETE FROM shipgate_migrations; DROP TABLE a; DROP TABLE b; DROP TABLE c;");
    let (out, report) = migrate(&w, &db, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert!(
        report["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["id"] != "migrate.adopt"),
        "{report:#}"
    );
    assert_eq!(
        history(&db),
        ["001:applied", "002:applied", "003:applied"],
        "all three ran again"
    );
}

#[test]
fn a_script_with_its_own_commit_is_refused_before_anything_runs() {
    let (w, db) = (Workdir::new(), TestDb::postgres());
    w.write(
        "migrations/001_a.sql",
        "BEGIN;\nCREATE TABLE a (x int);\nCOMMIT;\n",
    );
    let out = w
        .cmd()
        .args(["migrate", "--database-url", &db.url, "--dir", "migrations"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", both(&out));
    let err = stderr(&out);
    assert!(
        err.contains("migrations/001_a.sql:1:1") && err.contains("own transaction"),
        "{err}"
    );
    assert!(
        query_strings(&db, "SELECT COALESCE(to_regclass('a')::text, '')")
            .iter()
            .all(String::is_empty),
        "nothing ran"
    );
    // Marked no-transaction, the same file is the author's to control.
    w.write(
        "migrations/001_a.sql",
        "-- shipgate:no-transaction\nBEGIN;\nCREATE TABLE a (x int);\nCOMMIT;\n",
    );
    let (out, _) = migrate(&w, &db, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
}

#[test]
fn repair_flags_check_their_version_first_and_do_nothing_else() {
    let (w, db) = (Workdir::new(), TestDb::postgres());
    w.write("migrations/001_a.sql", "CREATE TABLE a (x int);\n");
    w.write("migrations/002_b.sql", "CREATE TABLE b (x int);\n");
    let out = w
        .cmd()
        .args([
            "migrate",
            "--database-url",
            &db.url,
            "--dir",
            "migrations",
            "--accept-checksum",
            "009",
            "--reason",
            "x",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", both(&out));
    assert!(
        stderr(&out).contains("--accept-checksum 009"),
        "{}",
        both(&out)
    );

    let (out, _) = migrate(&w, &db, &["--to", "001"]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    // Not partial: nothing to resolve, and 002 is not applied by a repair run.
    let (out, report) = migrate(&w, &db, &["--mark-resolved", "001", "--reason", "x"]);
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    assert_eq!(result(&report, "migrate.mark-resolved")["status"], "fail");
    assert_eq!(
        result(&report, "migrate.mark-resolved")["message"],
        "--mark-resolved 001: it has no history row"
    );
    assert_eq!(history(&db), ["001:applied"]);
}

#[test]
fn mariadb_backup_before_migrating() {
    let w = Workdir::new();
    let db = TestDb::mysql();
    w.write("migrations/001_a.sql", "CREATE TABLE a (x INT);\n");
    db.execute("CREATE TABLE keep (x INT); INSERT INTO keep VALUES (42);");
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
            "--backup",
            "backups",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    let report = json_report(&out);
    let path = w.path().join(
        result(&report, "migrate.backup")["details"]["path"]
            .as_str()
            .unwrap(),
    );
    let dump = std::fs::read_to_string(&path).unwrap();
    assert!(
        dump.contains("CREATE TABLE `keep`") && dump.contains("(42)"),
        "{}",
        &dump[..dump.len().min(500)]
    );
    assert!(!path.display().to_string().ends_with(".partial"));
}

#[test]
fn a_password_given_as_a_query_parameter_does_not_reach_pg_dump_arguments() {
    // Trust auth ignores it; what matters is that the run works and never shows it.
    let (w, db) = (Workdir::new(), TestDb::postgres());
    w.write("migrations/001_a.sql", "CREATE TABLE a (x int);\n");
    let url = format!("{}?password=QUERY-SENTINEL-55", db.url);
    let out = w
        .cmd()
        .args([
            "migrate",
            "--format",
            "json",
            "--database-url",
            &url,
            "--dir",
            "migrations",
            "--backup",
            "b",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert!(!both(&out).contains("QUERY-SENTINEL-55"), "{}", both(&out));
}
