//! The migration layouts teams already have, each applied end to end on SQLite (a file in the
//! test's temp dir; Prisma's on the real PostgreSQL, with its history table adopted): detected,
//! ordered, ids and recorded versions, only the up direction run.

mod common;

use std::process::Output;

use common::process::block;
use common::{Workdir, json_report, result, stderr, stdout};
use serde_json::Value;
use sqlx::Connection;

fn url(w: &Workdir, file: &str) -> String {
    format!("sqlite://{}?mode=rwc", w.path().join(file).display())
}

fn run(w: &Workdir, args: &[&str]) -> (Output, Value) {
    let out = w
        .cmd()
        .args([
            "migrate",
            "--format",
            "json",
            "--database-url",
            &url(w, "app.db"),
        ])
        .args(args)
        .output()
        .expect("run shipgate");
    let report = json_report(&out);
    (out, report)
}

fn run_raw(w: &Workdir, args: &[&str]) -> Output {
    w.cmd()
        .args(["migrate", "--database-url", &url(w, "app.db")])
        .args(args)
        .output()
        .expect("run shipgate")
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exit code")
}

fn both(out: &Output) -> String {
    format!("stdout:\n{}\nstderr:\n{}", stdout(out), stderr(out))
}

/// `(id, status)` of the `migration.*` results, in report order.
fn migrations(report: &Value) -> Vec<(String, String)> {
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

fn all_pass(ids: &[&str]) -> Vec<(String, String)> {
    ids.iter()
        .map(|id| (id.to_string(), "pass".to_string()))
        .collect()
}

fn layout(report: &Value) -> &str {
    result(report, "migrate.source")["details"]["layout"]
        .as_str()
        .expect("layout")
}

async fn open(w: &Workdir) -> sqlx::SqliteConnection {
    let path = w.path().join("app.db");
    assert!(path.exists(), "no database file");
    sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("open the SQLite file")
}

/// The tables, history table excluded, by name.
fn tables(w: &Workdir) -> Vec<String> {
    block(async {
        let mut conn = open(w).await;
        sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
             AND name <> 'shipgate_migrations' ORDER BY name",
        )
        .fetch_all(&mut conn)
        .await
        .expect("tables")
    })
}

fn columns(w: &Workdir, table: &str) -> Vec<String> {
    block(async {
        let mut conn = open(w).await;
        sqlx::query_scalar("SELECT name FROM pragma_table_info(?) ORDER BY cid")
            .bind(table)
            .fetch_all(&mut conn)
            .await
            .expect("columns")
    })
}

/// `(version, name, status)` of the history, in the order applied.
fn history(w: &Workdir) -> Vec<(String, String, String)> {
    block(async {
        let mut conn = open(w).await;
        sqlx::query_as("SELECT version, name, status FROM shipgate_migrations ORDER BY rowid")
            .fetch_all(&mut conn)
            .await
            .expect("history")
    })
}

fn recorded_versions(w: &Workdir) -> Vec<String> {
    history(w).into_iter().map(|(v, _, _)| v).collect()
}

/// Applies, checks a second run changes nothing.
fn apply_twice(w: &Workdir, args: &[&str]) -> Value {
    let (out, report) = run(w, args);
    assert_eq!(code(&out), 0, "{}", both(&out));
    let (out, again) = run(w, args);
    assert_eq!(code(&out), 0, "{}", both(&out));
    // The second run lists no migration on its own: all are in one `migrate.applied` row.
    assert_eq!(migrations(&again), vec![], "second run: {again:#}");
    let applied = result(&again, "migrate.applied");
    assert_eq!(applied["status"], "skip");
    assert_eq!(
        applied["details"]["count"].as_u64(),
        Some(migrations(&report).len() as u64),
        "second run: {again:#}"
    );
    report
}

#[test]
fn sqlx_simple_files() {
    let w = Workdir::new();
    w.write(
        "migrations/20240101000000_create_users.sql",
        "CREATE TABLE users (id INTEGER PRIMARY KEY);\n",
    );
    w.write(
        "migrations/20240102000000_add_email.sql",
        "ALTER TABLE users ADD COLUMN email TEXT;\n",
    );
    w.write(
        "migrations/20240103000000_notes.sql",
        "-- no-transaction\nCREATE TABLE notes (body TEXT);\n",
    );
    w.write("migrations/README.md", "not a migration\n");

    let report = apply_twice(&w, &[]);
    assert_eq!(layout(&report), "sqlx");
    assert_eq!(
        migrations(&report),
        all_pass(&[
            "migration.20240101000000",
            "migration.20240102000000",
            "migration.20240103000000"
        ])
    );
    assert_eq!(
        result(&report, "migration.20240101000000")["name"],
        "20240101000000 (create users)"
    );
    assert_eq!(
        result(&report, "migration.20240103000000")["details"]["transaction"],
        false
    );
    assert_eq!(columns(&w, "users"), ["id", "email"]);
    assert_eq!(
        history(&w),
        [
            (
                "20240101000000".into(),
                "create users".into(),
                "applied".into()
            ),
            (
                "20240102000000".into(),
                "add email".into(),
                "applied".into()
            ),
            ("20240103000000".into(), "notes".into(), "applied".into()),
        ]
    );
}

#[test]
fn sqlx_files_are_ordered_by_number_not_by_name() {
    let w = Workdir::new();
    w.write(
        "migrations/10_second.sql",
        "ALTER TABLE t ADD COLUMN b TEXT;\n",
    );
    w.write("migrations/9_first.sql", "CREATE TABLE t (a TEXT);\n");

    let report = apply_twice(&w, &[]);
    assert_eq!(
        migrations(&report),
        all_pass(&["migration.9", "migration.10"])
    );
    assert_eq!(recorded_versions(&w), ["9", "10"]);
}

#[test]
fn up_down_pairs_with_seed_style_ids() {
    let w = Workdir::new();
    w.write(
        "migrations/001-lp-base.up.sql",
        "CREATE TABLE funds (id INTEGER);\n",
    );
    w.write("migrations/001-lp-base.down.sql", "DROP TABLE funds;\n");
    w.write(
        "migrations/002-lp-commitments.up.sql",
        "CREATE TABLE commitments (fund_id INTEGER);\n",
    );
    w.write(
        "migrations/002-lp-commitments.down.sql",
        "DROP TABLE commitments;\n",
    );

    let report = apply_twice(&w, &[]);
    assert_eq!(layout(&report), "up-down");
    assert_eq!(
        migrations(&report),
        all_pass(&["migration.001-lp-base", "migration.002-lp-commitments"])
    );
    assert_eq!(recorded_versions(&w), ["001-lp-base", "002-lp-commitments"]);
    assert_eq!(tables(&w), ["commitments", "funds"], "no down ran");

    // `--to` takes the full id, or the number.
    let w = Workdir::new();
    w.write(
        "migrations/001-lp-base.up.sql",
        "CREATE TABLE funds (id INTEGER);\n",
    );
    w.write(
        "migrations/002-lp-commitments.up.sql",
        "CREATE TABLE commitments (x INTEGER);\n",
    );
    let (out, _) = run(&w, &["--to", "001-lp-base"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert_eq!(recorded_versions(&w), ["001-lp-base"]);
    let (out, _) = run(&w, &["--to", "2"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert_eq!(recorded_versions(&w), ["001-lp-base", "002-lp-commitments"]);
}

#[test]
fn golang_migrate_files() {
    let w = Workdir::new();
    w.write(
        "migrations/000001_create_users_table.up.sql",
        "CREATE TABLE users (id INTEGER);\n",
    );
    w.write(
        "migrations/000001_create_users_table.down.sql",
        "DROP TABLE users;\n",
    );
    w.write(
        "migrations/000002_add_index.up.sql",
        "CREATE INDEX users_id ON users (id);\n",
    );
    w.write(
        "migrations/000002_add_index.down.sql",
        "DROP INDEX users_id;\n",
    );

    let report = apply_twice(&w, &["--layout", "golang-migrate"]);
    assert_eq!(layout(&report), "up-down");
    assert_eq!(
        migrations(&report),
        all_pass(&["migration.000001", "migration.000002"])
    );
    assert_eq!(
        history(&w),
        [
            (
                "000001".into(),
                "create users table".into(),
                "applied".into()
            ),
            ("000002".into(), "add index".into(), "applied".into()),
        ]
    );
    assert_eq!(tables(&w), ["users"]);
}

#[test]
fn diesel_directories() {
    let w = Workdir::new();
    w.write(
        "migrations/2015-12-19-180527_create_users/up.sql",
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);\n",
    );
    w.write(
        "migrations/2015-12-19-180527_create_users/down.sql",
        "DROP TABLE users;\n",
    );
    w.write(
        "migrations/2016-01-02-030405_create_posts/up.sql",
        "CREATE TABLE posts (id INTEGER, user_id INTEGER);\n",
    );
    w.write(
        "migrations/2016-01-02-030405_create_posts/down.sql",
        "DROP TABLE posts;\n",
    );
    w.write(
        "migrations/2016-01-03-000000_posts_index/up.sql",
        "CREATE INDEX posts_user ON posts (user_id);\n",
    );
    w.write(
        "migrations/2016-01-03-000000_posts_index/metadata.toml",
        "run_in_transaction = false\n",
    );

    let report = apply_twice(&w, &[]);
    assert_eq!(layout(&report), "diesel");
    assert_eq!(
        migrations(&report),
        all_pass(&[
            "migration.20151219180527",
            "migration.20160102030405",
            "migration.20160103000000"
        ])
    );
    assert_eq!(
        result(&report, "migration.20160103000000")["details"]["transaction"],
        false
    );
    assert_eq!(
        recorded_versions(&w),
        ["20151219180527", "20160102030405", "20160103000000"]
    );
    assert_eq!(tables(&w), ["posts", "users"]);
}

#[test]
fn diesel_failure_points_at_up_sql() {
    let w = Workdir::new();
    w.write(
        "migrations/2015-12-19-180527_create_users/up.sql",
        "CREATE TABLE users (id INTEGER);\n\nINSERT INTO nope VALUES (1);\n",
    );
    let (out, report) = run(&w, &[]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    let failed = result(&report, "migration.20151219180527");
    assert_eq!(
        failed["location"]["file"],
        "migrations/2015-12-19-180527_create_users/up.sql"
    );
    assert_eq!(failed["location"]["line"], 3);
    assert!(tables(&w).is_empty(), "rolled back");
}

#[test]
fn dbmate_single_file_runs_only_the_up_section() {
    let w = Workdir::new();
    w.write(
        "migrations/20240101120000_create_users.sql",
        "-- migrate:up\nCREATE TABLE users (id INTEGER);\nINSERT INTO users VALUES (1);\n\n-- migrate:down\nDROP TABLE users;\n",
    );
    w.write(
        "migrations/20240102120000_create_posts.sql",
        "-- migrate:up transaction:false\nCREATE TABLE posts (id INTEGER);\n\n-- migrate:down\nDROP TABLE posts;\nDROP TABLE users;\n",
    );

    let report = apply_twice(&w, &[]);
    assert_eq!(layout(&report), "dbmate");
    assert_eq!(
        migrations(&report),
        all_pass(&["migration.20240101120000", "migration.20240102120000"])
    );
    assert_eq!(
        result(&report, "migration.20240101120000")["details"]["statements"],
        2,
        "the up section only"
    );
    assert_eq!(
        result(&report, "migration.20240102120000")["details"]["transaction"],
        false
    );
    assert_eq!(tables(&w), ["posts", "users"], "no down section ran");
    assert_eq!(recorded_versions(&w), ["20240101120000", "20240102120000"]);
}

#[test]
fn dbmate_failure_points_at_the_line_in_the_file() {
    let w = Workdir::new();
    w.write(
        "migrations/20240101120000_broken.sql",
        "-- migrate:up\nCREATE TABLE users (id INTEGER);\n\nINSERT INTO nope VALUES (1);\n\n-- migrate:down\nDROP TABLE users;\n",
    );
    let (out, report) = run(&w, &[]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    let failed = result(&report, "migration.20240101120000");
    assert_eq!(
        failed["location"]["file"],
        "migrations/20240101120000_broken.sql"
    );
    assert_eq!(
        failed["location"]["line"], 4,
        "a line of the file, not of the section"
    );
    assert_eq!(failed["details"]["statement"], 2);
    assert!(tables(&w).is_empty());
}

#[test]
fn dbmate_dry_run_shows_only_the_up_section() {
    let w = Workdir::new();
    w.write(
        "migrations/20240101120000_create_users.sql",
        "-- migrate:up\nCREATE TABLE users (id INTEGER);\n\n-- migrate:down\nDROP TABLE users;\n",
    );
    let (out, report) = run(&w, &["--dry-run"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    let r = result(&report, "migration.20240101120000");
    let sql = r["details"]["sql"].as_str().unwrap();
    assert!(sql.contains("CREATE TABLE users (id INTEGER);"), "{sql}");
    assert!(!sql.contains("DROP TABLE"), "{sql}");
    assert_eq!(r["location"]["line"], 2, "the up section starts on line 2");
}

#[test]
fn flyway_versioned_files() {
    let w = Workdir::new();
    w.write(
        "migrations/V1__init.sql",
        "CREATE TABLE funds (id INTEGER);\n",
    );
    w.write("migrations/U1__init.sql", "DROP TABLE funds;\n");
    w.write(
        "migrations/V1.1__more.sql",
        "ALTER TABLE funds ADD COLUMN b TEXT;\n",
    );
    w.write(
        "migrations/V1.9__ninth.sql",
        "ALTER TABLE funds ADD COLUMN c TEXT;\n",
    );
    w.write(
        "migrations/V1.10__tenth.sql",
        "ALTER TABLE funds ADD COLUMN d TEXT;\n",
    );
    w.write(
        "migrations/V2__add_notes.sql",
        "CREATE TABLE notes (body TEXT);\n",
    );

    let report = apply_twice(&w, &[]);
    assert_eq!(layout(&report), "flyway");
    assert_eq!(
        migrations(&report),
        all_pass(&[
            "migration.1",
            "migration.1-1",
            "migration.1-9",
            "migration.1-10",
            "migration.2"
        ])
    );
    assert_eq!(result(&report, "migration.2")["name"], "2 (add notes)");
    assert_eq!(recorded_versions(&w), ["1", "1.1", "1.9", "1.10", "2"]);
    assert_eq!(
        columns(&w, "funds"),
        ["id", "b", "c", "d"],
        "applied in version order"
    );
    assert_eq!(
        tables(&w),
        ["funds", "notes"],
        "the undo script did not run"
    );
}

#[test]
fn a_forced_layout_that_does_not_match_is_an_input_error() {
    let w = Workdir::new();
    w.write(
        "migrations/001_users.sql",
        "CREATE TABLE users (id INTEGER);\n",
    );

    for (flag, expected) in [
        ("flyway", "but --layout is flyway"),
        ("diesel", "but --layout is diesel"),
        ("up-down", "but --layout is up-down"),
    ] {
        let out = run_raw(&w, &["--layout", flag]);
        assert_eq!(code(&out), 2, "{flag}: {}", both(&out));
        let err = stderr(&out);
        assert!(err.contains(expected), "{flag}: {err}");
        assert!(
            err.contains("001_users.sql"),
            "{flag}: names the file: {err}"
        );
    }

    let out = run_raw(&w, &["--layout", "liquibase"]);
    assert_eq!(code(&out), 2, "{}", both(&out));
    assert!(stderr(&out).contains("liquibase"), "{}", stderr(&out));

    // The config's `layout` too.
    w.write("shipgate.toml", "[migrate]\nlayout = \"dbmate\"\n");
    let out = run_raw(&w, &[]);
    assert_eq!(code(&out), 2, "{}", both(&out));
    assert!(
        stderr(&out).contains("but --layout is dbmate"),
        "{}",
        stderr(&out)
    );

    assert!(!w.path().join("app.db").exists(), "nothing ran");

    // The matching layout, forced, works.
    std::fs::remove_file(w.path().join("shipgate.toml")).unwrap();
    let (out, report) = run(&w, &["--layout", "sqlx"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert_eq!(layout(&report), "sqlx");
}

/// A failing migration in GitHub Actions: annotated on the file, at the line and column.
#[test]
fn a_failure_is_annotated_on_the_migration_file_in_github_actions() {
    let w = Workdir::new();
    w.write("migrations/001_ok.sql", "CREATE TABLE a (x INTEGER);\n");
    w.write(
        "migrations/002_bad.sql",
        "-- second\nCREATE TABLE b (x INTEGER);\nSELECT nope FROM a;\n",
    );
    let url = format!("sqlite://{}/app.db?mode=rwc", w.path().display());
    let out = w
        .cmd()
        .env("GITHUB_ACTIONS", "true")
        .args(["migrate", "--database-url", &url, "--dir", "migrations"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.lines()
            .any(|l| l
                .starts_with("::error file=migrations/002_bad.sql,line=3,col=1,title=002 (bad)::")),
        "{text}"
    );
}

/// On a terminal, a progress line per migration on stderr.
#[test]
fn progress_line_per_migration_on_a_terminal() {
    let w = Workdir::new();
    w.write("migrations/001_a.sql", "CREATE TABLE a (x INTEGER);\n");
    w.write("migrations/002_b.sql", "CREATE TABLE b (x INTEGER);\n");
    let url = format!("sqlite://{}/app.db?mode=rwc", w.path().display());
    let text = common::process::run_in_terminal(
        &w,
        &[
            "migrate",
            "--database-url",
            &url,
            "--dir",
            "migrations",
            "-q",
        ],
        &[],
    );
    assert!(text.contains("applying 001 (a) … ok"), "{text}");
    assert!(text.contains("applying 002 (b) … ok"), "{text}");
}

// Prisma: `prisma/migrations/<timestamp>_<name>/migration.sql`, on the real PostgreSQL.

/// Prisma's own history table, as its schema engine creates it on PostgreSQL.
const PRISMA_MIGRATIONS_DDL: &str = "CREATE TABLE _prisma_migrations (
    id                      VARCHAR(36) PRIMARY KEY NOT NULL,
    checksum                VARCHAR(64) NOT NULL,
    finished_at             TIMESTAMPTZ,
    migration_name          VARCHAR(255) NOT NULL,
    logs                    TEXT,
    rolled_back_at          TIMESTAMPTZ,
    started_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    applied_steps_count     INTEGER NOT NULL DEFAULT 0
);";

const PRISMA_INIT: &str = "-- CreateTable
CREATE TABLE \"User\" (
    \"id\" SERIAL NOT NULL,
    \"name\" TEXT NOT NULL,

    CONSTRAINT \"User_pkey\" PRIMARY KEY (\"id\")
);
";
const PRISMA_POSTS: &str = "-- CreateTable
CREATE TABLE \"Post\" (
    \"id\" SERIAL NOT NULL,
    \"authorId\" INTEGER NOT NULL,

    CONSTRAINT \"Post_pkey\" PRIMARY KEY (\"id\")
);

-- AddForeignKey
ALTER TABLE \"Post\" ADD CONSTRAINT \"Post_authorId_fkey\" FOREIGN KEY (\"authorId\") REFERENCES \"User\"(\"id\") ON DELETE RESTRICT ON UPDATE CASCADE;
";
const PRISMA_INDEX: &str = "-- CreateIndex
CREATE INDEX \"Post_authorId_idx\" ON \"Post\"(\"authorId\");
";

/// A Prisma project: `prisma/schema.prisma`, the lock file and three migration folders.
fn prisma_project(w: &Workdir) {
    w.write(
        "prisma/schema.prisma",
        "datasource db {\n  provider = \"postgresql\"\n  url = env(\"DATABASE_URL\")\n}\n",
    );
    w.write(
        "prisma/migrations/migration_lock.toml",
        "# Please do not edit this file manually\nprovider = \"postgresql\"\n",
    );
    w.write(
        "prisma/migrations/20240101120000_init/migration.sql",
        PRISMA_INIT,
    );
    w.write(
        "prisma/migrations/20240102093000_add_posts/migration.sql",
        PRISMA_POSTS,
    );
    w.write(
        "prisma/migrations/20240103150000_post_author_index/migration.sql",
        PRISMA_INDEX,
    );
}

/// `shipgate <command> --format json --database-url <db> <args>` in the project's root.
fn on_postgres(w: &Workdir, db: &common::TestDb, command: &str, args: &[&str]) -> (Output, Value) {
    let out = w
        .cmd()
        .args([command, "--format", "json", "--database-url", &db.url])
        .args(args)
        .output()
        .expect("run shipgate");
    let report = json_report(&out);
    (out, report)
}

fn pg_strings(db: &common::TestDb, sql: &str) -> Vec<String> {
    block(async {
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&db.url)
            .await
            .expect("connect");
        sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql.to_string()))
            .fetch_all(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    })
}

/// The application's tables (history tables excluded), by name.
fn pg_tables(db: &common::TestDb) -> Vec<String> {
    pg_strings(
        db,
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' \
         AND table_name NOT IN ('shipgate_migrations', '_prisma_migrations') ORDER BY table_name",
    )
}

fn pg_history(db: &common::TestDb) -> Vec<String> {
    pg_strings(
        db,
        "SELECT version || ':' || status FROM shipgate_migrations ORDER BY version",
    )
}

#[test]
fn prisma_folders_are_detected_and_applied_on_postgres() {
    let (w, db) = (Workdir::new(), common::TestDb::postgres());
    prisma_project(&w);

    // No --dir: a project with prisma/migrations and no migrations/ is read from there.
    let (out, report) = on_postgres(&w, &db, "migrate", &[]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert_eq!(layout(&report), "prisma");
    assert_eq!(
        result(&report, "migrate.source")["details"]["dir"],
        "prisma/migrations"
    );
    assert_eq!(
        migrations(&report),
        all_pass(&[
            "migration.20240101120000",
            "migration.20240102093000",
            "migration.20240103150000"
        ])
    );
    assert_eq!(
        result(&report, "migration.20240102093000")["name"],
        "20240102093000 (add posts)"
    );
    assert_eq!(pg_tables(&db), ["Post", "User"]);
    assert_eq!(
        pg_strings(
            &db,
            "SELECT indexname::text FROM pg_indexes WHERE tablename = 'Post' ORDER BY indexname"
        ),
        ["Post_authorId_idx", "Post_pkey"]
    );
    assert_eq!(
        pg_history(&db),
        [
            "20240101120000:applied",
            "20240102093000:applied",
            "20240103150000:applied"
        ]
    );

    // Forced, with the directory named: nothing left to do.
    let (out, again) = on_postgres(
        &w,
        &db,
        "migrate",
        &["--layout", "prisma", "--dir", "prisma/migrations"],
    );
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert_eq!(migrations(&again), vec![], "{again:#}");
    assert_eq!(result(&again, "migrate.applied")["details"]["count"], 3);

    // A Prisma folder forced as another layout is an input error naming it.
    let out = w
        .cmd()
        .args(["migrate", "--database-url", &db.url, "--layout", "diesel"])
        .output()
        .expect("run shipgate");
    assert_eq!(code(&out), 2, "{}", both(&out));
    assert!(
        stderr(&out).contains("20240101120000_init is a prisma migration, but --layout is diesel"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn prisma_history_is_adopted_only_for_finished_migrations() {
    let (w, db) = (Workdir::new(), common::TestDb::postgres());
    prisma_project(&w);
    // What `prisma migrate deploy` left: init applied; add_posts failed once (rolled back with
    // `prisma migrate resolve --rolled-back`), then applied; post_author_index started and
    // never finished.
    db.execute(PRISMA_INIT);
    db.execute(PRISMA_POSTS);
    db.execute(PRISMA_MIGRATIONS_DDL);
    db.execute(
        "INSERT INTO _prisma_migrations (id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at, applied_steps_count) VALUES \
         ('6f1c0c52-0000-4000-8000-000000000001', repeat('a', 64), now(), '20240101120000_init', NULL, NULL, now() - interval '3 days', 1), \
         ('6f1c0c52-0000-4000-8000-000000000002', repeat('b', 64), NULL, '20240102093000_add_posts', 'relation \"User\" does not exist', now() - interval '1 day', now() - interval '2 days', 0), \
         ('6f1c0c52-0000-4000-8000-000000000003', repeat('b', 64), now(), '20240102093000_add_posts', NULL, NULL, now() - interval '1 day', 1), \
         ('6f1c0c52-0000-4000-8000-000000000004', repeat('c', 64), NULL, '20240103150000_post_author_index', NULL, NULL, now(), 0);",
    );

    // The unfinished one is refused: nothing is recorded, nothing runs.
    let (out, report) = on_postgres(&w, &db, "migrate", &[]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    let adopt = result(&report, "migrate.adopt");
    assert_eq!(adopt["status"], "fail", "{adopt:#}");
    let message = adopt["message"].as_str().unwrap();
    assert!(
        message.contains(
            "_prisma_migrations records 20240103150000_post_author_index as started but not finished"
        ),
        "{message}"
    );
    assert!(
        message.contains("prisma migrate resolve --applied 20240103150000_post_author_index"),
        "{message}"
    );
    assert!(
        pg_strings(
            &db,
            "SELECT indexname::text FROM pg_indexes WHERE indexname = 'Post_authorId_idx'"
        )
        .is_empty(),
        "nothing ran"
    );
    let history_table = pg_strings(
        &db,
        "SELECT COALESCE(to_regclass('shipgate_migrations')::text, '')",
    );
    if history_table != [""] {
        assert_eq!(pg_history(&db), Vec::<String>::new(), "nothing recorded");
    }

    // Resolved as Prisma does it (`prisma migrate resolve --rolled-back …`): the two finished
    // migrations are adopted, by folder name, and the third runs.
    db.execute(
        "UPDATE _prisma_migrations SET rolled_back_at = now() WHERE migration_name = '20240103150000_post_author_index'",
    );
    let (out, report) = on_postgres(&w, &db, "migrate", &[]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    let adopt = result(&report, "migrate.adopt");
    assert_eq!(adopt["status"], "pass", "{adopt:#}");
    assert!(
        adopt["message"]
            .as_str()
            .unwrap()
            .contains("adopted 2 applied migrations from _prisma_migrations"),
        "{adopt:#}"
    );
    assert_eq!(
        result(&report, "migration.20240103150000")["status"],
        "pass"
    );
    assert_eq!(
        pg_history(&db),
        [
            "20240101120000:adopted",
            "20240102093000:adopted",
            "20240103150000:applied"
        ]
    );
}

#[test]
fn rolling_back_a_prisma_migration_is_refused_with_the_reason() {
    let (w, db) = (Workdir::new(), common::TestDb::postgres());
    prisma_project(&w);
    let (out, _) = on_postgres(&w, &db, "migrate", &[]);
    assert_eq!(code(&out), 0, "{}", both(&out));

    let (out, report) = on_postgres(&w, &db, "rollback", &["--steps", "1"]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    let refused = result(&report, "rollback.20240103150000");
    assert_eq!(refused["status"], "fail", "{refused:#}");
    let message = refused["message"].as_str().unwrap();
    assert!(
        message.contains(
            "20240103150000 (post author index) is a Prisma migration, and Prisma writes no down script"
        ),
        "{message}"
    );
    assert!(
        message.contains(
            "write a new migration that reverses it (`prisma migrate dev --create-only`)"
        ),
        "{message}"
    );
    assert_eq!(
        pg_strings(
            &db,
            "SELECT indexname::text FROM pg_indexes WHERE indexname = 'Post_authorId_idx'"
        ),
        ["Post_authorId_idx"],
        "nothing was rolled back"
    );
    assert_eq!(pg_history(&db).len(), 3);
}
