//! `shipgate migrate --lint` (and the lint rows of `--check` and `--dry-run`) against the real
//! PostgreSQL server: Squawk's findings at the migration's file:line:column, weighed against
//! the tables they touch in the database they will run on.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Output;

use common::{TestDb, Workdir, both, code, json_report, result, stderr, stdout};
use serde_json::Value;

fn shipgate(w: &Workdir, db: &TestDb, args: &[&str]) -> (Output, Value) {
    let out = w
        .cmd()
        .args(["migrate", "--format", "json", "--database-url", &db.url])
        .args(args)
        .output()
        .expect("run shipgate");
    let report = json_report(&out);
    (out, report)
}

fn lint_rows(report: &Value) -> Vec<&Value> {
    report["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|r| r["id"].as_str().unwrap().starts_with("lint."))
        .collect()
}

fn status<'a>(report: &'a Value, id: &str) -> &'a str {
    result(report, id)["status"].as_str().expect("status")
}

fn message<'a>(report: &'a Value, id: &str) -> &'a str {
    result(report, id)["message"].as_str().expect("message")
}

fn location(report: &Value, id: &str) -> (String, u64, u64) {
    let l = &result(report, id)["location"];
    (
        l["file"].as_str().expect("location.file").to_string(),
        l["line"].as_u64().unwrap(),
        l["column"].as_u64().unwrap(),
    )
}

fn exists(db: &TestDb, relation: &str) -> bool {
    common::process::block(async {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
        sqlx::query_scalar::<_, bool>("SELECT to_regclass($1) IS NOT NULL")
            .bind(relation)
            .fetch_one(&mut conn)
            .await
            .unwrap()
    })
}

/// `orders` with `rows` rows, analyzed (so `reltuples` holds the estimate, as in production).
fn orders(db: &TestDb, rows: u32) {
    db.execute(&format!(
        "CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint, note text); \
         INSERT INTO orders SELECT g, g % 1000, 'n' FROM generate_series(1, {rows}) g; \
         ANALYZE orders;"
    ));
}

const INDEX_ID: &str = "lint.20240201000000.require-concurrent-index-creation";

#[test]
fn an_index_built_without_concurrently_on_a_large_table_fails_at_its_line_and_nothing_is_applied() {
    let db = TestDb::postgres();
    orders(&db, 200_000);
    let w = Workdir::new();
    w.write(
        "migrations/20240201000000_index_orders.sql",
        "-- orders by user, for the account page\nCREATE INDEX orders_user_id_idx ON orders (user_id);\n",
    );
    let (out, report) = shipgate(&w, &db, &["--lint"]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    assert_eq!(status(&report, INDEX_ID), "fail");
    assert_eq!(
        location(&report, INDEX_ID),
        (
            "migrations/20240201000000_index_orders.sql".to_string(),
            2,
            1
        )
    );
    let text = message(&report, INDEX_ID);
    assert!(text.contains("orders (about 200 k rows"), "{text}");
    assert!(text.contains("blocks writes for the build"), "{text}");
    assert!(
        text.contains("CREATE INDEX concurrently orders_user_id_idx ON orders (user_id)"),
        "the safe rewrite: {text}"
    );
    let details = &result(&report, INDEX_ID)["details"];
    assert_eq!(details["table"], "orders");
    assert_eq!(details["table_rows"], 200_000);
    // --lint applies nothing: no index, no history table.
    assert!(!exists(&db, "orders_user_id_idx"));
    assert!(!exists(&db, "shipgate_migrations"));

    // The same file on a small table: a warning that says why it is one.
    let small = TestDb::postgres();
    orders(&small, 500);
    let (out, report) = shipgate(&w, &small, &["--lint"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert_eq!(status(&report, INDEX_ID), "warn");
    assert!(
        message(&report, INDEX_ID).contains("large from 100000 rows"),
        "{}",
        message(&report, INDEX_ID)
    );
}

#[test]
fn the_threshold_and_the_level_come_from_migrate_lint() {
    let db = TestDb::postgres();
    orders(&db, 500);
    let w = Workdir::new();
    w.write(
        "migrations/20240201000000_index_orders.sql",
        "CREATE INDEX orders_user_id_idx ON orders (user_id);\n",
    );
    w.write("shipgate.toml", "[migrate.lint]\nlarge_table_rows = 400\n");
    let (out, report) = shipgate(&w, &db, &["--lint"]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    assert_eq!(status(&report, INDEX_ID), "fail");
    w.write(
        "shipgate.toml",
        "[migrate.lint]\nlarge_table_rows = 400\nlevel = \"warn\"\n",
    );
    let (out, report) = shipgate(&w, &db, &["--lint"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert_eq!(status(&report, INDEX_ID), "warn");
    // A misspelt rule is an input error at its line, with the name meant.
    w.write(
        "shipgate.toml",
        "[migrate.lint]\ndisable = [\n  \"prefer-text-fields\",\n]\n",
    );
    let out = w
        .cmd()
        .args(["migrate", "--lint", "--database-url", &db.url])
        .output()
        .unwrap();
    assert_eq!(code(&out), 2, "{}", both(&out));
    let err = stderr(&out);
    assert!(err.contains("shipgate.toml:3"), "{err}");
    assert!(err.contains("did you mean `prefer-text-field`"), "{err}");
    // A rule turned off finds nothing.
    w.write(
        "shipgate.toml",
        "[migrate.lint]\ndisable = [\"require-concurrent-index-creation\"]\n",
    );
    let (out, report) = shipgate(&w, &db, &["--lint"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert!(lint_rows(&report).is_empty(), "{report:#}");
}

#[test]
fn an_index_on_a_table_the_pending_set_creates_passes_and_says_why() {
    let db = TestDb::postgres();
    let w = Workdir::new();
    w.write(
        "migrations/20240101000000_create_items.sql",
        "CREATE TABLE items (id bigint PRIMARY KEY, order_id bigint);\n",
    );
    w.write(
        "migrations/20240201000000_index_items.sql",
        "CREATE INDEX items_order_id_idx ON items (order_id);\n",
    );
    let (out, report) = shipgate(&w, &db, &["--lint"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    let id = "lint.20240201000000.require-concurrent-index-creation";
    assert_eq!(status(&report, id), "pass");
    assert!(
        message(&report, id).contains("items is created by 20240101000000 in this same run"),
        "{}",
        message(&report, id)
    );
    // Once the table is applied (and so in use), the same index is weighed against it.
    let (out, _) = shipgate(&w, &db, &["--to", "20240101000000"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    db.execute("INSERT INTO items SELECT g, g FROM generate_series(1, 300000) g; ANALYZE items;");
    let (out, report) = shipgate(&w, &db, &["--lint"]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    assert_eq!(status(&report, id), "fail");
    assert!(
        message(&report, id).contains("items (about 300 k rows"),
        "{}",
        message(&report, id)
    );
}

#[test]
fn not_null_without_a_default_fails_on_a_table_with_rows() {
    let db = TestDb::postgres();
    orders(&db, 10);
    let w = Workdir::new();
    w.write(
        "migrations/20240301000000_order_status.sql",
        "ALTER TABLE orders ADD COLUMN status text NOT NULL;\n",
    );
    let (out, report) = shipgate(&w, &db, &["--lint"]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    let id = "lint.20240301000000.adding-required-field";
    assert_eq!(status(&report, id), "fail");
    let text = message(&report, id);
    assert!(text.contains("orders (about 10 rows"), "{text}");
    assert!(text.contains("has rows, so the statement fails"), "{text}");
    assert_eq!(location(&report, id).1, 1);
    // With a default, nothing to say (PostgreSQL 11+ adds a constant default without a rewrite).
    w.write(
        "migrations/20240301000000_order_status.sql",
        "ALTER TABLE orders ADD COLUMN status text NOT NULL DEFAULT 'new';\n",
    );
    let (out, report) = shipgate(&w, &db, &["--lint"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert!(lint_rows(&report).is_empty(), "{report:#}");
}

#[test]
fn squawk_ignore_and_config_ignores_silence_one_rule_each_and_are_counted() {
    let db = TestDb::postgres();
    orders(&db, 10);
    let w = Workdir::new();
    w.write(
        "migrations/20240401000000_cleanup.sql",
        "-- squawk-ignore ban-drop-column\nALTER TABLE orders DROP COLUMN note;\n\
         ALTER TABLE orders ADD COLUMN memo varchar(200);\n\
         ALTER TABLE orders DROP COLUMN user_id;\n",
    );
    let (out, report) = shipgate(&w, &db, &["--lint"]);
    // Dropping a column breaks the clients that still read it: a failure.
    assert_eq!(code(&out), 1, "{}", both(&out));
    assert_eq!(
        status(&report, "lint.20240401000000.ban-drop-column"),
        "fail"
    );
    assert_eq!(
        status(&report, "lint.20240401000000.prefer-text-field"),
        "warn"
    );
    let rows: Vec<&str> = lint_rows(&report)
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    // The comment silences line 2 only; line 4's drop is still reported.
    assert_eq!(
        rows,
        [
            "lint.20240401000000.prefer-text-field",
            "lint.20240401000000.ban-drop-column"
        ]
    );
    assert_eq!(
        location(&report, "lint.20240401000000.ban-drop-column").1,
        4
    );
    let summary = message(&report, "migrate.lint");
    assert!(
        summary.contains("1 suppressed (1 by -- squawk-ignore)"),
        "{summary}"
    );
    let suppressed = &result(&report, "migrate.lint")["details"]["suppressed"];
    assert_eq!(suppressed[0]["rule"], "ban-drop-column");
    assert_eq!(suppressed[0]["line"], 2);
    assert_eq!(suppressed[0]["by"], "comment");

    w.write(
        "shipgate.toml",
        "[migrate.lint]\nignore = [\"prefer-text-field\", \"20240401000000:ban-drop-column\"]\n",
    );
    let (out, report) = shipgate(&w, &db, &["--lint"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert!(lint_rows(&report).is_empty(), "{report:#}");
    let summary = message(&report, "migrate.lint");
    assert!(
        summary.contains("3 suppressed (1 by -- squawk-ignore, 2 by [migrate.lint] ignore)"),
        "{summary}"
    );
}

#[test]
fn check_and_dry_run_carry_the_lint_rows_and_fail_on_a_lint_failure() {
    let db = TestDb::postgres();
    orders(&db, 200_000);
    let w = Workdir::new();
    w.write(
        "migrations/20240201000000_index_orders.sql",
        "CREATE INDEX orders_user_id_idx ON orders (user_id);\n",
    );
    // --dry-run: would apply, but the lint says what it would do to orders.
    let (out, report) = shipgate(&w, &db, &["--dry-run"]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    assert_eq!(status(&report, INDEX_ID), "fail");
    let (out, report) = shipgate(&w, &db, &["--dry-run", "--no-lint"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert!(lint_rows(&report).is_empty());
    assert!(!exists(&db, "orders_user_id_idx"));
    // --no-lint where no lint would run is refused, not ignored.
    let out = w
        .cmd()
        .args(["migrate", "--no-lint", "--database-url", &db.url])
        .output()
        .unwrap();
    assert_eq!(code(&out), 2, "{}", both(&out));
    assert!(
        stderr(&out).contains("--no-lint leaves the lint rows out"),
        "{}",
        both(&out)
    );
    assert!(!exists(&db, "orders_user_id_idx"));

    // Applied (an operator accepted it in a quiet hour): --check passes, as nothing is pending,
    // until --lint-all lints the applied file too.
    let (out, _) = shipgate(&w, &db, &[]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    let (out, report) = shipgate(&w, &db, &["--check"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert!(
        message(&report, "migrate.lint").contains("nothing to lint"),
        "{report:#}"
    );
    let (out, report) = shipgate(&w, &db, &["--check", "--lint-all"]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    assert_eq!(status(&report, INDEX_ID), "fail");
}

#[test]
fn positions_are_exact_under_a_bom_crlf_and_multibyte_text() {
    let db = TestDb::postgres();
    orders(&db, 10);
    let w = Workdir::new();
    w.write(
        "migrations/20240501000000_labels.sql",
        "\u{feff}-- ラベル\r\nALTER TABLE orders ADD COLUMN label text; /* 名前 🙂 */ ALTER TABLE orders ADD COLUMN code varchar(8);\r\n",
    );
    let (out, report) = shipgate(&w, &db, &["--lint"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    let (_, line, column) = location(&report, "lint.20240501000000.prefer-text-field");
    // Line 2; the column counts characters: `varchar` starts at character 94.
    let line_text = "ALTER TABLE orders ADD COLUMN label text; /* 名前 🙂 */ ALTER TABLE orders ADD COLUMN code varchar(8);";
    let expected = line_text[..line_text.find("varchar").unwrap()]
        .chars()
        .count() as u64
        + 1;
    assert_eq!((line, column), (2, expected));
}

#[test]
fn mysql_migrations_are_not_linted_and_the_report_says_so() {
    let db = TestDb::mysql();
    let w = Workdir::new();
    w.write(
        "migrations/20240101000000_t.sql",
        "CREATE TABLE t (id int PRIMARY KEY);\n",
    );
    let (out, report) = shipgate(&w, &db, &["--lint"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert_eq!(status(&report, "migrate.lint"), "skip");
    assert!(
        message(&report, "migrate.lint").contains("PostgreSQL only"),
        "{report:#}"
    );
}

/// The corpus of `tests/lint_corpus/` (six sets, one per layout; `EXPECTED.md` explains every
/// finding): on an empty database every file is pending, and shipgate finds exactly what the
/// `squawk` CLI 2.68 finds, at the same places (`expected.json`, in shipgate's positions).
#[test]
fn the_corpus_lints_without_a_panic_and_finds_what_squawk_finds() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lint_corpus");
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(corpus.join("expected.json")).unwrap())
            .unwrap();
    for (set, layout) in [
        ("sqlx", "sqlx"),
        ("pairs", "up-down"),
        ("diesel", "diesel"),
        ("dbmate", "dbmate"),
        ("flyway", "flyway"),
        ("prisma", "prisma"),
    ] {
        let db = TestDb::postgres();
        let w = Workdir::new();
        let dir = corpus.join(set);
        let (out, report) = shipgate(
            &w,
            &db,
            &["--lint", "--dir", dir.to_str().unwrap(), "--layout", layout],
        );
        assert!(
            code(&out) <= 1,
            "{set}: exit {}: {}",
            code(&out),
            both(&out)
        );
        let found: BTreeSet<(String, String, u64, u64)> = lint_rows(&report)
            .iter()
            .map(|r| {
                let file = r["location"]["file"].as_str().unwrap();
                let relative = Path::new(file)
                    .strip_prefix(&corpus)
                    .unwrap_or_else(|_| panic!("{file} is not in the corpus"));
                (
                    relative.display().to_string(),
                    r["details"]["rule"].as_str().unwrap().to_string(),
                    r["location"]["line"].as_u64().unwrap(),
                    r["location"]["column"].as_u64().unwrap(),
                )
            })
            .collect();
        let wanted: BTreeSet<(String, String, u64, u64)> = expected
            .as_object()
            .unwrap()
            .iter()
            .filter(|(file, _)| file.starts_with(&format!("{set}/")))
            .flat_map(|(file, findings)| {
                findings.as_array().unwrap().iter().map(move |f| {
                    (
                        file.clone(),
                        f["rule"].as_str().unwrap().to_string(),
                        f["line"].as_u64().unwrap(),
                        f["column"].as_u64().unwrap(),
                    )
                })
            })
            .collect();
        assert_eq!(
            found.difference(&wanted).collect::<Vec<_>>(),
            Vec::<&(String, String, u64, u64)>::new(),
            "{set}: found and not expected"
        );
        assert_eq!(
            wanted.difference(&found).collect::<Vec<_>>(),
            Vec::<&(String, String, u64, u64)>::new(),
            "{set}: expected and not found"
        );
    }
}

#[test]
fn a_rewrite_of_a_large_table_sharing_its_transaction_fails_on_its_own_rule() {
    let db = TestDb::postgres();
    orders(&db, 200_000);
    let w = Workdir::new();
    w.write(
        "migrations/20240601000000_widen.sql",
        "ALTER TABLE orders ALTER COLUMN user_id TYPE numeric;\n\
         CREATE TABLE order_notes (id bigint PRIMARY KEY, body text);\n",
    );
    let (out, report) = shipgate(&w, &db, &["--lint"]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    assert_eq!(
        status(&report, "lint.20240601000000.changing-column-type"),
        "fail"
    );
    let id = "lint.20240601000000.rewrite-in-shared-transaction";
    assert_eq!(status(&report, id), "fail");
    let text = message(&report, id);
    assert!(
        text.contains(
            "holds its ACCESS EXCLUSIVE lock until the migration commits, through 1 more statement"
        ),
        "{text}"
    );
    assert_eq!(location(&report, id).1, 1);
    // Alone in its migration, the rewrite is still a finding, but no longer this one.
    w.write(
        "migrations/20240601000000_widen.sql",
        "ALTER TABLE orders ALTER COLUMN user_id TYPE numeric;\n",
    );
    let (_, report) = shipgate(&w, &db, &["--lint"]);
    assert_eq!(
        status(&report, "lint.20240601000000.changing-column-type"),
        "fail"
    );
    assert!(
        !lint_rows(&report).iter().any(|r| r["id"] == id),
        "{report:#}"
    );
}

#[test]
fn without_a_database_every_file_is_linted_unweighed_and_the_report_says_so() {
    let w = Workdir::new();
    w.write(
        "migrations/20240101000000_create_items.sql",
        "CREATE TABLE items (id bigint PRIMARY KEY, order_id bigint);\n",
    );
    w.write(
        "migrations/20240201000000_index_items.sql",
        "CREATE INDEX items_order_id_idx ON items (order_id);\n",
    );
    let out = w
        .cmd()
        .env_remove("DATABASE_URL")
        .args(["migrate", "--lint", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 1, "{}", both(&out));
    let report = json_report(&out);
    let id = "lint.20240201000000.require-concurrent-index-creation";
    assert_eq!(status(&report, id), "fail");
    assert!(
        message(&report, id).contains("no database to weigh items against"),
        "{}",
        message(&report, id)
    );
    let summary = message(&report, "migrate.lint");
    assert!(
        summary.contains("linted 2 migrations without a database"),
        "{summary}"
    );
    // --to: the files up to that version.
    let out = w
        .cmd()
        .args([
            "migrate",
            "--lint",
            "--to",
            "20240101000000",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert!(
        message(&json_report(&out), "migrate.lint").contains("linted 1 migration without"),
        "{}",
        both(&out)
    );
    // Flags about a database there is not: refused, naming the flag.
    for flag in [
        &["--table", "app_migrations"][..],
        &["--lock-timeout", "5s"],
        &["--allow-out-of-order"],
    ] {
        let out = w
            .cmd()
            .args(["migrate", "--lint"])
            .args(flag)
            .output()
            .unwrap();
        assert_eq!(code(&out), 2, "{flag:?}: {}", both(&out));
        assert!(
            stderr(&out).contains(&format!("{} needs a database", flag[0])),
            "{}",
            both(&out)
        );
    }
    // Applying still needs one.
    let out = w
        .cmd()
        .env_remove("DATABASE_URL")
        .args(["migrate"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 2, "{}", both(&out));
    assert!(stderr(&out).contains("no database given"), "{}", both(&out));
}

/// In GitHub Actions each finding is annotated on the migration's line, so the pull request's
/// diff shows it at the statement.
#[test]
fn findings_are_annotated_on_the_migration_line_in_github_actions() {
    let w = Workdir::new();
    w.write(
        "migrations/20240201000000_index_items.sql",
        "-- by order\nCREATE INDEX items_order_id_idx ON items (order_id);\n",
    );
    let out = w
        .cmd()
        .env_remove("DATABASE_URL")
        .env("GITHUB_ACTIONS", "true")
        .args(["migrate", "--lint"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 1, "{}", both(&out));
    let text = stdout(&out);
    assert!(
        text.lines().any(|l| l.starts_with(
            "::error file=migrations/20240201000000_index_items.sql,line=2,col=1,\
             title=20240201000000 require-concurrent-index-creation::"
        ) && l.contains("CREATE INDEX concurrently")),
        "{text}"
    );
}

/// A table never analyzed has no row estimate (`reltuples` = -1): it is counted, by the name
/// PostgreSQL quotes for it (`"Order Lines"`: a space, capitals).
#[test]
fn a_table_never_analyzed_is_counted_under_its_quoted_name() {
    let db = TestDb::postgres();
    db.execute(
        "CREATE TABLE \"Order Lines\" (id bigint PRIMARY KEY, \"userId\" bigint) \
         WITH (autovacuum_enabled = false); \
         INSERT INTO \"Order Lines\" SELECT g, g % 100 FROM generate_series(1, 150000) g;",
    );
    let w = Workdir::new();
    w.write(
        "migrations/20240701000000_index.sql",
        "CREATE INDEX \"Order_Lines_userId_idx\" ON \"Order Lines\" (\"userId\");\n",
    );
    let (out, report) = shipgate(&w, &db, &["--lint"]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    let id = "lint.20240701000000.require-concurrent-index-creation";
    assert_eq!(status(&report, id), "fail");
    // Counted, so not "about".
    let text = message(&report, id);
    assert!(text.contains("\"Order Lines\" (150 k rows"), "{text}");
    assert_eq!(result(&report, id)["details"]["rows_estimated"], false);
}
