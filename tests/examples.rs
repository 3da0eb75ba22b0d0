//! The shipped examples work as the README says.

mod common;

use std::path::Path;

use common::{TestDb, json_report, result, shipgate, stderr, stdout};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn quickstart_passes_with_no_server() {
    let out = shipgate(repo())
        .args([
            "preflight",
            "--config",
            "examples/quickstart/shipgate.toml",
            "--env-file",
            "examples/quickstart/.env",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let text = stdout(&out);
    assert!(text.contains("database.main.tables"), "{text}");
    assert!(text.contains("(value hidden)"), "{text}");
    assert!(
        !text.contains("quickstart-only-not-a-real-secret"),
        "{text}"
    );
    assert!(
        text.lines()
            .last()
            .unwrap()
            .starts_with("preflight: 12 passed (12 checks)"),
        "{text}"
    );
}

#[test]
fn lp_reporting_example_runs_the_runbook_checks() {
    let db = TestDb::postgres();
    let storage = tempfile::tempdir().unwrap();
    let storage_path = storage.path().join("lp-reports");
    // The example asks for node >= 18; the test must not depend on this machine's Node.
    let bin = tempfile::tempdir().unwrap();
    let node = bin.path().join("node");
    std::fs::write(&node, "#!/bin/sh\necho v20.11.1\n").unwrap();
    std::fs::set_permissions(&node, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = |db_url: &str| {
        shipgate(repo())
            .env("PATH", &path)
            .args([
                "preflight",
                "--config",
                "examples/lp-reporting/shipgate.toml",
                "--format",
                "json",
            ])
            .env("DATABASE_URL", db_url)
            .env("SESSION_SECRET", "lp-session-secret-value")
            .env("LP_REPORT_STORAGE_PATH", &storage_path)
            .env("LP_REPORT_MAX_SIZE_MB", "50")
            .env("LP_CACHE_TTL_SECONDS", "300")
            .env("LP_RATE_LIMIT_MAX", "100")
            .env("LP_RATE_LIMIT_WINDOW_MS", "60000")
            .output()
            .unwrap()
    };
    // Before the core migrations: the funds table is missing, as the runbook warns.
    let out = run(&db.url);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report = json_report(&out);
    let tables = result(&report, "database.main.tables");
    assert_eq!(tables["status"], "fail");
    assert!(tables["message"].as_str().unwrap().contains("funds"));
    assert_eq!(
        tables["location"]["file"],
        "examples/lp-reporting/shipgate.toml"
    );
    // Redis is optional and REDIS_URL unset: a warning, not a failure.
    assert_eq!(result(&report, "redis.cache")["status"], "warn");

    db.execute("CREATE TABLE funds (id serial PRIMARY KEY, name text)");
    let out = run(&db.url);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let report = json_report(&out);
    assert_eq!(result(&report, "path.lp-reports")["status"], "pass");
    let migrations = result(&report, "database.main.migrations");
    assert_eq!(migrations["status"], "pass", "{migrations:#}");
    assert_eq!(migrations["details"]["pending"], 3, "{migrations:#}");
    assert!(
        storage_path.is_dir(),
        "the report storage directory was created"
    );
}
