//! Hooks around the database steps (`[[migrate.hooks]]`, `[[rollback.hooks]]` with
//! `when = "before"`, `always = true`, `sql` hooks) and `rollback --app-only`, against the real
//! PostgreSQL: the order is proven by rows the hooks and the migrations write into one table.

mod common;

use std::process::Output;

use common::{TestDb, Workdir, json_report, result, stderr, stdout};
use serde_json::Value;
use sqlx::Connection;

/// The events table the hooks and migrations write to, in the order they ran.
fn events(db: &TestDb) -> Vec<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&db.url).await.unwrap();
        sqlx::query_scalar::<_, String>("SELECT what FROM events ORDER BY id")
            .fetch_all(&mut conn)
            .await
            .unwrap()
    })
}

fn setup() -> (Workdir, TestDb) {
    let w = Workdir::new();
    let db = TestDb::postgres();
    db.execute("CREATE TABLE events (id serial PRIMARY KEY, what text NOT NULL)");
    (w, db)
}

const MIGRATE_HOOKS: &str = r#"
[migrate]
dir = "migrations"

[[migrate.hooks]]
name = "maintenance-on"
when = "before"
sql = "INSERT INTO events (what) VALUES ('maintenance on')"

[[migrate.hooks]]
name = "refresh-views"
when = "after"
sql = "INSERT INTO events (what) VALUES ('views refreshed')"

[[migrate.hooks]]
name = "maintenance-off"
always = true
command = "touch maintenance-off"
"#;

fn run(w: &Workdir, db: &TestDb, args: &[&str]) -> (Output, Value) {
    let out = w
        .cmd()
        .args(args)
        .args(["--format", "json", "--database-url", &db.url])
        .output()
        .expect("run shipgate");
    let report = json_report(&out);
    (out, report)
}

fn both(out: &Output) -> String {
    format!("stdout:\n{}\nstderr:\n{}", stdout(out), stderr(out))
}

fn ids(report: &Value) -> Vec<&str> {
    report["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["id"].as_str().expect("id"))
        .collect()
}

fn position(report: &Value, id: &str) -> usize {
    ids(report)
        .iter()
        .position(|i| *i == id)
        .unwrap_or_else(|| panic!("no {id} in {:?}", ids(report)))
}

#[test]
fn migrate_hooks_run_before_and_after_the_migrations_in_order() {
    let (w, db) = setup();
    w.write("shipgate.toml", MIGRATE_HOOKS);
    w.write(
        "migrations/001_first.sql",
        "INSERT INTO events (what) VALUES ('migration 001');\n",
    );
    w.write(
        "migrations/002_second.sql",
        "INSERT INTO events (what) VALUES ('migration 002');\n",
    );
    let (out, report) = run(&w, &db, &["migrate"]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert_eq!(
        events(&db),
        [
            "maintenance on",
            "migration 001",
            "migration 002",
            "views refreshed"
        ]
    );
    assert!(w.path().join("maintenance-off").exists());
    // The report tells it in the same order, each hook a row of kind "hook".
    let on = position(&report, "hook.maintenance-on");
    assert!(on < position(&report, "migration.001"));
    assert!(position(&report, "migration.002") < position(&report, "hook.refresh-views"));
    let refresh = result(&report, "hook.refresh-views");
    assert_eq!(refresh["status"], "pass", "{refresh}");
    assert_eq!(refresh["kind"], "hook");
    assert!(
        refresh["message"]
            .as_str()
            .unwrap()
            .contains("ran 1 statement on postgres://"),
        "{refresh}"
    );

    // Nothing to apply: maintenance mode is not toggled for nothing.
    std::fs::remove_file(w.path().join("maintenance-off")).unwrap();
    let (out, report) = run(&w, &db, &["migrate"]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert_eq!(events(&db).len(), 4, "no hook ran");
    assert!(!w.path().join("maintenance-off").exists());
    for id in [
        "hook.maintenance-on",
        "hook.refresh-views",
        "hook.maintenance-off",
    ] {
        let r = result(&report, id);
        assert_eq!(r["status"], "skip", "{r}");
        assert_eq!(r["message"], "not run: nothing to apply", "{r}");
    }
}

#[test]
fn a_failed_migration_skips_the_after_hooks_but_not_those_marked_always() {
    let (w, db) = setup();
    w.write("shipgate.toml", MIGRATE_HOOKS);
    w.write(
        "migrations/001_first.sql",
        "INSERT INTO events (what) VALUES ('migration 001');\n",
    );
    w.write(
        "migrations/002_broken.sql",
        "INSERT INTO nope VALUES (1);\n",
    );
    let (out, report) = run(&w, &db, &["migrate"]);
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    assert_eq!(events(&db), ["maintenance on", "migration 001"]);
    let refresh = result(&report, "hook.refresh-views");
    assert_eq!(refresh["status"], "skip");
    assert_eq!(refresh["message"], "not run: 002 failed");
    // Maintenance mode is switched off again even so.
    assert_eq!(result(&report, "hook.maintenance-off")["status"], "pass");
    assert!(w.path().join("maintenance-off").exists());
}

#[test]
fn a_failed_before_hook_stops_the_migrations_and_runs_only_the_always_hooks() {
    let (w, db) = setup();
    w.write(
        "shipgate.toml",
        &MIGRATE_HOOKS.replace(
            "VALUES ('maintenance on')",
            "VALUES ('maintenance on'); INSERT INTO missing_table VALUES (1)",
        ),
    );
    w.write(
        "migrations/001_first.sql",
        "INSERT INTO events (what) VALUES ('migration 001');\n",
    );
    let (out, report) = run(&w, &db, &["migrate"]);
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    // The hook's own transaction rolled back, and no migration ran.
    assert!(events(&db).is_empty(), "{:?}", events(&db));
    let on = result(&report, "hook.maintenance-on");
    assert_eq!(on["status"], "fail");
    let message = on["message"].as_str().unwrap();
    assert!(
        message.contains("statement 2 failed") && message.contains("rolled back"),
        "{on}"
    );
    assert_eq!(result(&report, "migration.001")["status"], "skip");
    assert_eq!(
        result(&report, "hook.refresh-views")["message"],
        "not run: a hook before the migrations failed"
    );
    assert_eq!(result(&report, "hook.maintenance-off")["status"], "pass");
}

#[test]
fn a_dry_run_shows_the_hooks_around_the_migrations_and_runs_none() {
    let (w, db) = setup();
    w.write("shipgate.toml", MIGRATE_HOOKS);
    w.write(
        "migrations/001_first.sql",
        "INSERT INTO events (what) VALUES ('migration 001');\n",
    );
    let (out, report) = run(&w, &db, &["--dry-run", "migrate"]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert!(events(&db).is_empty());
    assert!(!w.path().join("maintenance-off").exists());
    let on = result(&report, "hook.maintenance-on");
    assert_eq!(on["status"], "skip");
    let message = on["message"].as_str().unwrap();
    assert!(
        message.starts_with("dry run: would run `INSERT INTO events")
            && message.ends_with("and commit, before the database steps"),
        "{on}"
    );
    assert!(position(&report, "hook.maintenance-on") < position(&report, "migration.001"));
    let off = result(&report, "hook.maintenance-off");
    assert_eq!(
        off["message"],
        "dry run: would run `touch maintenance-off`, after the database steps"
    );
}

#[test]
fn rollback_runs_its_before_hooks_ahead_of_the_down_scripts() {
    let (w, db) = setup();
    w.write(
        "migrations/001_first.up.sql",
        "INSERT INTO events (what) VALUES ('up');\n",
    );
    w.write(
        "migrations/001_first.down.sql",
        "INSERT INTO events (what) VALUES ('down');\n",
    );
    w.write("shipgate.toml", "[migrate]\ndir = \"migrations\"\n");
    let (out, _) = run(&w, &db, &["migrate"]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    w.write(
        "shipgate.toml",
        r#"
[migrate]
dir = "migrations"

[[rollback.hooks]]
name = "after"
sql = "INSERT INTO events (what) VALUES ('after')"

[[rollback.hooks]]
name = "before"
when = "before"
sql = "INSERT INTO events (what) VALUES ('before')"
"#,
    );
    let (out, report) = run(&w, &db, &["rollback", "--all", "--allow-data-loss"]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert_eq!(events(&db), ["up", "before", "down", "after"]);
    assert!(position(&report, "hook.before") < position(&report, "rollback.001"));
    assert!(position(&report, "rollback.verify") < position(&report, "hook.after"));
}

#[test]
fn app_only_rollback_runs_the_hooks_with_no_database() {
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        r#"
[[rollback.hooks]]
name = "scale-down"
when = "before"
command = "touch scaled-down"

[[rollback.hooks]]
name = "undo-deployment"
command = "touch undone"
"#,
    );
    // No database URL anywhere: none is needed.
    let out = w
        .cmd()
        .args(["rollback", "--app-only", "--format", "json"])
        .env_remove("DATABASE_URL")
        .output()
        .expect("run shipgate");
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    let report = json_report(&out);
    assert_eq!(ids(&report), ["hook.scale-down", "hook.undo-deployment"]);
    assert!(w.path().join("scaled-down").exists() && w.path().join("undone").exists());

    // A dry run runs neither.
    std::fs::remove_file(w.path().join("undone")).unwrap();
    let out = w
        .cmd()
        .args(["--dry-run", "rollback", "--app-only", "--format", "json"])
        .output()
        .expect("run shipgate");
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert!(!w.path().join("undone").exists());
}

#[test]
fn app_only_refuses_when_it_has_nothing_to_run_or_a_database_flag() {
    let w = Workdir::new();
    let out = w
        .cmd()
        .args(["rollback", "--app-only"])
        .output()
        .expect("run shipgate");
    assert_eq!(out.status.code(), Some(2), "{}", both(&out));
    assert!(
        stderr(&out).contains("--app-only runs the [[rollback.hooks]], and the config has none"),
        "{}",
        both(&out)
    );
    for extra in [
        &["--to", "001"][..],
        &["--allow-data-loss"][..],
        &["--database-url", "postgres://x@127.0.0.1/db"][..],
    ] {
        let out = w
            .cmd()
            .args(["rollback", "--app-only"])
            .args(extra)
            .output()
            .expect("run shipgate");
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {}", both(&out));
        assert!(
            stderr(&out).contains("cannot be used with"),
            "{}",
            both(&out)
        );
    }
}

#[test]
fn hook_config_mistakes_are_refused_with_their_line() {
    let w = Workdir::new();
    let cases = [
        (
            "[[rollback.hooks]]\nname = \"db\"\nsql = \"UPDATE flags SET on = false\"\n",
            &["rollback", "--app-only"][..],
            "sql hook `db` has no database to run on",
        ),
        (
            "[[migrate.hooks]]\nname = \"x\"\nwhen = \"before\"\nalways = true\ncommand = \"true\"\n",
            &["migrate", "--database-url", "sqlite://db.sqlite"][..],
            "hook `x`: `always` is for `after` hooks",
        ),
        (
            "[[migrate.hooks]]\nname = \"two\"\ncommand = \"true\"\nsql = \"SELECT 1\"\n",
            &["migrate", "--database-url", "sqlite://db.sqlite"][..],
            "hook `two` needs exactly one of `http`, `command`, `sql` or `redis`",
        ),
        (
            "[[migrate.hooks]]\nname = \"w\"\nwhen = \"during\"\ncommand = \"true\"\n",
            &["migrate", "--database-url", "sqlite://db.sqlite"][..],
            "unknown variant `during`, expected `before` or `after`",
        ),
    ];
    for (config, args, expected) in cases {
        w.write("shipgate.toml", config);
        let out = w.cmd().args(args).output().expect("run shipgate");
        assert_eq!(out.status.code(), Some(2), "{config}: {}", both(&out));
        let err = stderr(&out);
        assert!(err.contains(expected), "{config}: {err}");
        assert!(err.contains("shipgate.toml:"), "{config}: {err}");
    }
}

#[test]
fn redis_hooks_send_their_command_in_order() {
    let w = Workdir::new();
    let key = format!("shipgate_test:hook:{}", std::process::id());
    w.write(
        "shipgate.toml",
        &format!(
            r#"
[[rollback.hooks]]
name = "flag-on"
when = "before"
redis = "SET {key} on EX 60"
url = "${{REDIS_URL}}"

[[rollback.hooks]]
name = "flag-off"
redis = "APPEND {key} -off"
url = "${{REDIS_URL}}"
"#
        ),
    );
    let out = w
        .cmd()
        .args(["rollback", "--app-only", "--format", "json"])
        .env("REDIS_URL", common::redis_url())
        .output()
        .expect("run shipgate");
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    let report = json_report(&out);
    let on = result(&report, "hook.flag-on");
    assert_eq!(on["status"], "pass", "{on}");
    assert!(on["message"].as_str().unwrap().ends_with(": OK"), "{on}");
    let mut conn = redis::Client::open(common::redis_url())
        .expect("redis URL")
        .get_connection()
        .expect("connect to redis");
    let value: String = redis::cmd("GET").arg(&key).query(&mut conn).expect("GET");
    assert_eq!(value, "on-off", "before, then after");
    let _: () = redis::cmd("DEL").arg(&key).query(&mut conn).expect("DEL");

    // Without its url, or with one left empty, the hook is refused before anything runs.
    w.write(
        "shipgate.toml",
        "[[rollback.hooks]]\nname = \"r\"\nredis = \"PING\"\nurl = \"${UNSET_REDIS_URL}\"\n",
    );
    let out = w
        .cmd()
        .args(["rollback", "--app-only"])
        .output()
        .expect("run shipgate");
    assert_eq!(out.status.code(), Some(2), "{}", both(&out));
    assert!(
        stderr(&out).contains("redis hook `r`: `url` is empty"),
        "{}",
        both(&out)
    );
}

#[test]
fn a_webhook_url_in_a_hook_is_never_shown() {
    // A Slack webhook's path is its credential; the hook is refused (404) and says so without it.
    use axum::Router;
    use axum::http::StatusCode;
    use axum::routing::post;
    let slack = common::TestServer::start(
        Router::new().route("/services/T0/B0/other", post(|| async { StatusCode::OK })),
    );
    let (w, db) = setup();
    w.write("migrations/001_a.sql", "CREATE TABLE a (id int);\n");
    w.write(
        "shipgate.toml",
        r#"
[migrate]
dir = "migrations"

[[migrate.hooks]]
name = "announce"
when = "before"
http = { method = "POST", url = "${SLACK_WEBHOOK}", json = { text = "Starting" }, expect_status = [200] }
"#,
    );
    let hook = slack.url("/services/T0/B0/xoxb-webhook-path-SENTINEL");
    let out = w
        .cmd()
        .args(["migrate", "--format", "json", "--database-url", &db.url])
        .env("SLACK_WEBHOOK", &hook)
        .output()
        .expect("run shipgate");
    let all = both(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    let report = json_report(&out);
    let announce = result(&report, "hook.announce");
    assert_eq!(announce["status"], "fail", "{announce:#}");
    assert!(
        announce["message"].as_str().unwrap().contains("404"),
        "{announce:#}"
    );
    assert!(!all.contains("SENTINEL"), "the webhook leaked:\n{all}");
}
