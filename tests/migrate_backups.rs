//! `migrate --backup DIR` and `--verify-backup` against the real servers (PostgreSQL, MariaDB)
//! and SQLite: the backup is taken even when nothing is pending, a backup is restored into a
//! throwaway database and compared before anything changes, the throwaway never stays behind,
//! and a backup that does not restore stops the run before any migration.

mod common;

use std::path::Path;
use std::process::Output;

use common::{TestDb, Workdir, json_report, result, stderr, stdout};
use serde_json::Value;
use sqlx::Connection;

fn both(out: &Output) -> String {
    format!("stdout:\n{}\nstderr:\n{}", stdout(out), stderr(out))
}

fn migrate(w: &Workdir, url: &str, args: &[&str]) -> (Output, Value) {
    let out = w
        .cmd()
        .args(["migrate", "--format", "json", "--database-url", url])
        .args(args)
        .output()
        .expect("run shipgate");
    let report = json_report(&out);
    (out, report)
}

fn message(r: &Value) -> &str {
    r["message"].as_str().expect("message")
}

fn strings(url: &str, sql: &str) -> Vec<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
        sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql.to_string()))
            .fetch_all(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    })
}

/// The files in `dir` (names), sorted.
fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// One migration creating `items` with three rows, and a second one, `002`, to apply later.
fn migrations(w: &Workdir) {
    w.write(
        "migrations/001_items.sql",
        "CREATE TABLE items (id int PRIMARY KEY, label varchar(20));\nINSERT INTO items VALUES (1, 'a'), (2, 'b'), (3, 'c');\n",
    );
}

fn second(w: &Workdir) {
    w.write(
        "migrations/002_more.sql",
        "CREATE TABLE more_items (id int);\n",
    );
}

fn history(url: &str) -> Vec<String> {
    strings(
        url,
        "SELECT CAST(version AS CHAR(64)) FROM shipgate_migrations ORDER BY version",
    )
}

fn history_pg(url: &str) -> Vec<String> {
    strings(
        url,
        "SELECT version::text FROM shipgate_migrations ORDER BY version",
    )
}

/// Whether the throwaway database a report names still exists on the server.
fn throwaway_left(report: &Value, admin_url: &str, postgres: bool) -> bool {
    let verify = result(report, "migrate.backup-verify");
    let name = verify["details"]["throwaway"]
        .as_str()
        .unwrap_or_else(|| panic!("the row names its throwaway: {verify:#}"));
    assert!(name.starts_with("shipgate_verify_"), "{name}");
    let names = if postgres {
        strings(admin_url, "SELECT datname::text FROM pg_database")
    } else {
        strings(
            admin_url,
            "SELECT CAST(schema_name AS CHAR) FROM information_schema.schemata",
        )
    };
    names.iter().any(|n| n == name)
}

/// The index of a result in the report.
fn position(report: &Value, id: &str) -> usize {
    report["results"]
        .as_array()
        .unwrap()
        .iter()
        .position(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("no {id} in {report:#}"))
}

fn no_op_backup(url: &str, w: &Workdir, history: fn(&str) -> Vec<String>) {
    migrations(w);
    let (out, _) = migrate(w, url, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    let (out, report) = migrate(w, url, &["--backup", "backups"]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    let backup = result(&report, "migrate.backup");
    assert_eq!(backup["status"], "pass", "{backup:#}");
    assert!(
        message(backup).starts_with("nothing to apply; backup taken: "),
        "{backup:#}"
    );
    let path = backup["details"]["path"].as_str().expect("path");
    assert!(
        std::fs::metadata(w.path().join(path))
            .expect("the backup file")
            .len()
            > 0,
        "{path}"
    );
    assert_eq!(files(&w.path().join("backups")).len(), 1);
    assert_eq!(history(url), ["001"]);
    // Without --backup, the no-op run takes none.
    let (out, report) = migrate(w, url, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert!(
        report["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["id"] != "migrate.backup"),
        "{report:#}"
    );
    assert_eq!(files(&w.path().join("backups")).len(), 1);
}

#[test]
fn a_no_op_run_with_backup_takes_it_on_postgres() {
    let db = TestDb::postgres();
    no_op_backup(&db.url, &Workdir::new(), history_pg);
}

#[test]
fn a_no_op_run_with_backup_takes_it_on_mariadb() {
    let db = TestDb::mysql();
    no_op_backup(&db.url, &Workdir::new(), history);
}

#[test]
fn a_no_op_run_with_backup_takes_it_on_sqlite() {
    let w = Workdir::new();
    let url = format!("sqlite://{}/app.db?mode=rwc", w.path().display());
    no_op_backup(&url, &w, history);
}

/// 001 applied, 002 pending: `--verify-backup` restores and compares, then 002 applies.
fn verify_passes(url: &str, w: &Workdir, history: fn(&str) -> Vec<String>) -> Value {
    migrations(w);
    let (out, _) = migrate(w, url, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    second(w);
    let (out, report) = migrate(w, url, &["--backup", "backups", "--verify-backup"]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    let verify = result(&report, "migrate.backup-verify");
    assert_eq!(verify["status"], "pass", "{verify:#}");
    let tables = verify["details"]["tables"].as_object().expect("tables");
    let items = tables
        .iter()
        .find(|(t, _)| t.ends_with("items"))
        .unwrap_or_else(|| panic!("items counted: {verify:#}"));
    assert_eq!(items.1, 3, "{verify:#}");
    assert!(
        tables.keys().any(|t| t.ends_with("shipgate_migrations")),
        "the history is data, counted too: {verify:#}"
    );
    assert!(
        message(verify).contains("2 tables and 4 rows as in the database"),
        "{verify:#}"
    );
    // Before any migration ran.
    assert!(position(&report, "migrate.backup") < position(&report, "migrate.backup-verify"));
    assert!(
        position(&report, "migrate.backup-verify") < position(&report, "migration.002"),
        "{report:#}"
    );
    assert_eq!(history(url), ["001", "002"]);
    report
}

#[test]
fn verify_backup_restores_compares_and_drops_on_postgres() {
    let db = TestDb::postgres();
    let report = verify_passes(&db.url, &Workdir::new(), history_pg);
    let verify = result(&report, "migrate.backup-verify");
    assert!(
        message(verify).contains("; dropped shipgate_verify_"),
        "{verify:#}"
    );
    assert!(!throwaway_left(&report, &common::postgres_url(), true));
}

#[test]
fn verify_backup_restores_compares_and_drops_on_mariadb() {
    let db = TestDb::mysql();
    let report = verify_passes(&db.url, &Workdir::new(), history);
    assert!(!throwaway_left(&report, &common::mysql_url(), false));
}

#[test]
fn verify_backup_reads_the_sqlite_file() {
    let w = Workdir::new();
    let url = format!("sqlite://{}/app.db?mode=rwc", w.path().display());
    let report = verify_passes(&url, &w, history);
    let verify = result(&report, "migrate.backup-verify");
    assert!(
        message(verify).contains("PRAGMA quick_check ok"),
        "{verify:#}"
    );
}

#[test]
fn verify_backup_needs_backup_and_dry_run_says_what_it_would_do() {
    let w = Workdir::new();
    migrations(&w);
    let url = format!("sqlite://{}/app.db?mode=rwc", w.path().display());
    let out = w
        .cmd()
        .args(["migrate", "--database-url", &url, "--verify-backup"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", both(&out));
    assert!(stderr(&out).contains("--backup"), "{}", both(&out));
    let (out, report) = migrate(
        &w,
        &url,
        &["--backup", "backups", "--verify-backup", "--dry-run"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    let verify = result(&report, "migrate.backup-verify");
    assert_eq!(verify["status"], "skip");
    assert!(
        message(verify).contains("would restore the backup"),
        "{verify:#}"
    );
    assert!(
        !w.path().join("backups").exists(),
        "a dry run writes nothing"
    );
    assert!(
        !w.path().join("app.db").exists(),
        "a dry run creates nothing"
    );
}

/// A directory holding `name`, a script standing in for a tool; the PATH with it first.
#[cfg(unix)]
fn fake_tool(w: &Workdir, name: &str, script: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = w.write(&format!("bin/{name}"), script);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    format!(
        "{}:{}",
        w.path().join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

#[test]
#[cfg(unix)]
fn a_postgres_backup_without_its_rows_fails_verification_before_any_migration() {
    let db = TestDb::postgres();
    let w = Workdir::new();
    migrations(&w);
    let (out, _) = migrate(&w, &db.url, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    second(&w);
    // A pg_dump that loses the data: a valid archive (pg_restore --list reads it) of the schema only.
    let real = which("pg_dump");
    let path = fake_tool(
        &w,
        "pg_dump",
        &format!(
            "#!/bin/sh\nif [ \"$1\" = --version ]; then exec '{real}' --version; fi\nexec '{real}' --schema-only \"$@\"\n"
        ),
    );
    let out = w
        .cmd()
        .env("PATH", path)
        .args(["migrate", "--format", "json", "--database-url", &db.url])
        .args(["--backup", "backups", "--verify-backup"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    let report = json_report(&out);
    assert_eq!(result(&report, "migrate.backup")["status"], "pass");
    let verify = result(&report, "migrate.backup-verify");
    assert_eq!(verify["status"], "fail", "{verify:#}");
    let text = message(verify);
    assert!(
        text.contains("public.items has 0 rows restored, 3 in the source"),
        "{text}"
    );
    assert!(text.contains("no migration ran"), "{text}");
    assert_eq!(history_pg(&db.url), ["001"], "002 did not run");
    assert!(!throwaway_left(&report, &common::postgres_url(), true));
}

#[test]
#[cfg(unix)]
fn a_mariadb_backup_that_does_not_restore_fails_verification_before_any_migration() {
    let db = TestDb::mysql();
    let w = Workdir::new();
    migrations(&w);
    let (out, _) = migrate(&w, &db.url, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    second(&w);
    // A mysqldump that writes garbage where the dump should be.
    let path = fake_tool(
        &w,
        "mysqldump",
        "#!/bin/sh\nif [ \"$1\" = --version ]; then echo 'mysqldump  Ver 10.19 Distrib 10.11.0-MariaDB'; exit 0; fi\nfor a in \"$@\"; do case \"$a\" in --result-file=*) printf 'CREATE TABLE items (id int);\\nTHIS IS NOT SQL AT ALL;\\n' > \"${a#--result-file=}\";; esac; done\n",
    );
    let out = w
        .cmd()
        .env("PATH", path)
        .args(["migrate", "--format", "json", "--database-url", &db.url])
        .args(["--backup", "backups", "--verify-backup"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    let report = json_report(&out);
    let verify = result(&report, "migrate.backup-verify");
    assert_eq!(verify["status"], "fail", "{verify:#}");
    let text = message(verify);
    assert!(
        text.contains("the backup did not restore: mysql failed"),
        "{text}"
    );
    assert!(text.contains("; dropped shipgate_verify_"), "{text}");
    assert_eq!(history(&db.url), ["001"], "002 did not run");
    assert!(!throwaway_left(&report, &common::mysql_url(), false));
}

#[cfg(unix)]
fn which(tool: &str) -> String {
    let out = std::process::Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .unwrap();
    let found = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(!found.is_empty(), "{tool} is installed (scripts/test)");
    found
}

#[test]
fn verify_backup_without_createdb_is_refused_before_anything_changes() {
    let db = TestDb::postgres();
    let w = Workdir::new();
    migrations(&w);
    let role = format!(
        "shipgate_nocreatedb_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    db.execute(&format!("CREATE ROLE {role} LOGIN NOCREATEDB"));
    db.execute(&format!("GRANT ALL ON SCHEMA public TO {role}"));
    let url = db.url.replacen("postgres@", &format!("{role}@"), 1);
    let (out, report) = migrate(&w, &url, &["--backup", "backups", "--verify-backup"]);
    db.execute(&format!("DROP OWNED BY {role}; DROP ROLE {role}"));
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    let backup = result(&report, "migrate.backup");
    assert_eq!(backup["status"], "fail");
    assert!(message(backup).contains("lacks CREATEDB"), "{backup:#}");
    assert!(
        message(backup).contains("nothing was changed"),
        "{backup:#}"
    );
    assert!(!w.path().join("backups").exists(), "no dump was taken");
    let tables = strings(
        &db.url,
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'",
    );
    assert!(tables.is_empty(), "nothing ran: {tables:?}");
}

#[test]
#[cfg(unix)]
fn a_restore_that_hangs_is_cut_within_timeout_and_its_throwaway_still_dropped() {
    let db = TestDb::postgres();
    let w = Workdir::new();
    migrations(&w);
    let (out, _) = migrate(&w, &db.url, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    second(&w);
    // pg_restore answers --version and --list (the backup's own check), then hangs restoring.
    let real = which("pg_restore");
    let path = fake_tool(
        &w,
        "pg_restore",
        &format!(
            "#!/bin/sh\ncase \"$1\" in --version|--list) exec '{real}' \"$@\";; esac\nexec sleep 60\n"
        ),
    );
    let started = std::time::Instant::now();
    let out = w
        .cmd()
        .env("PATH", path)
        .args(["migrate", "--format", "json", "--database-url", &db.url])
        .args(["--backup", "backups", "--verify-backup", "--timeout", "12s"])
        .output()
        .unwrap();
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    assert!(took < std::time::Duration::from_secs(12), "took {took:?}");
    let report = json_report(&out);
    let verify = result(&report, "migrate.backup-verify");
    assert_eq!(verify["status"], "fail", "{verify:#}");
    let text = message(verify);
    assert!(text.contains("did not finish within"), "{text}");
    assert!(text.contains("; dropped shipgate_verify_"), "{text}");
    assert_eq!(history_pg(&db.url), ["001"], "002 did not run");
    assert!(!throwaway_left(&report, &common::postgres_url(), true));
}
