//! Secrets never reach any output: not stdout or stderr in any format, not an `--output` file,
//! not the GitHub step summary, step outputs or annotations, not an error message. The only
//! place a secret may appear is an `::add-mask::` line, which is how the runner learns it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Arc, Mutex};

use assert_cmd::Command;
use axum::http::{HeaderMap, StatusCode};
use common::{TestServer, Workdir, json_report, postgres_url, result, stderr, stdout};

const DB_PASSWORD: &str = "SENTINEL-PW-93f1";
const API_TOKEN: &str = "SENTINEL-TOKEN-7c2e";
const SESSION_SECRET: &str = "SENTINEL-SESSION-51ab";

/// The test server's PostgreSQL URL with the sentinel password (trust auth ignores it).
fn database_url() -> String {
    let mut url = url::Url::parse(&postgres_url()).unwrap();
    url.set_password(Some(DB_PASSWORD)).unwrap();
    url.to_string()
}

/// Nothing listens on port 1.
fn unreachable_database_url() -> String {
    format!("postgres://postgres:{DB_PASSWORD}@127.0.0.1:1/postgres")
}

fn show(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        stdout(out),
        stderr(out)
    )
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// No sentinel in stdout or stderr (but for `::add-mask::` lines) nor in any file of `dir`
/// other than the inputs the test wrote.
fn assert_no_leak(what: &str, out: &Output, dir: &Path, inputs: &[&str], sentinels: &[&str]) {
    for (stream, text) in [("stdout", stdout(out)), ("stderr", stderr(out))] {
        for line in text.split('\n') {
            if line.starts_with("::add-mask::") {
                continue;
            }
            for s in sentinels {
                assert!(
                    !line.contains(s),
                    "{what}: {s} printed on {stream}:\n{line}\n\n{}",
                    show(out)
                );
            }
        }
    }
    for file in files_under(dir) {
        let name = file
            .strip_prefix(dir)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if inputs.contains(&name.as_str()) {
            continue;
        }
        let bytes = std::fs::read(&file).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for s in sentinels {
            assert!(!text.contains(s), "{what}: {s} written to {name}:\n{text}");
        }
    }
}

/// GitHub Actions mode with its files inside the workdir.
fn github(cmd: &mut Command, w: &Workdir) {
    let temp = w.path().join("runner-temp");
    std::fs::create_dir_all(&temp).unwrap();
    cmd.env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", w.path().join("step-summary.md"))
        .env("GITHUB_OUTPUT", w.path().join("github-output.txt"))
        .env("RUNNER_TEMP", temp);
}

/// Every output of one run: stdout in `format`, all four `--output` files, GitHub files.
fn run_all_outputs(w: &Workdir, env: &[(&str, String)], format: &str, extra: &[&str]) -> Output {
    let mut cmd = w.cmd();
    github(&mut cmd, w);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.args(["preflight", "-v", "--format", format])
        .args([
            "--output",
            &format!("json=out-{format}.json"),
            "--output",
            &format!("junit=out-{format}.xml"),
            "--output",
            &format!("markdown=out-{format}.md"),
            "--output",
            &format!("human=out-{format}.txt"),
        ])
        .args(extra);
    cmd.output().unwrap()
}

/// An API that wants `Authorization: Bearer <API_TOKEN>` and records what it got.
fn api_server(seen: Arc<Mutex<Vec<String>>>) -> TestServer {
    TestServer::start(axum::Router::new().route(
        "/health",
        axum::routing::get(move |headers: HeaderMap| {
            let seen = Arc::clone(&seen);
            async move {
                let auth = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                let ok = auth == format!("Bearer {API_TOKEN}");
                seen.lock().unwrap().push(auth);
                if ok {
                    StatusCode::OK
                } else {
                    StatusCode::UNAUTHORIZED
                }
            }
        }),
    ))
}

#[test]
fn secrets_reach_no_output_of_any_format() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let server = api_server(Arc::clone(&seen));
    let w = Workdir::new();
    let config = format!(
        r#"[preflight.env]
required = ["SESSION_SECRET", "API_TOKEN"]

[preflight.env.vars.SESSION_SECRET]
pattern = "[0-9]+"

[[preflight.database]]
url = "${{DATABASE_URL}}"

[[preflight.http]]
name = "api"
url = "{}"
headers = {{ Authorization = "Bearer ${{API_TOKEN}}" }}

[[preflight.http]]
name = "api-strict"
url = "{}"
expect_status = [204]
headers = {{ Authorization = "Bearer ${{API_TOKEN}}" }}
"#,
        server.url("/health"),
        server.url("/health"),
    );
    w.write("shipgate.toml", &config);
    let env = [
        ("DATABASE_URL", database_url()),
        ("API_TOKEN", API_TOKEN.to_string()),
        ("SESSION_SECRET", SESSION_SECRET.to_string()),
    ];
    let unreachable = unreachable_database_url();
    let extra = ["--database-url", unreachable.as_str()];
    let sentinels = [DB_PASSWORD, API_TOKEN, SESSION_SECRET];

    for format in ["human", "json", "junit", "markdown"] {
        let out = run_all_outputs(&w, &env, format, &extra);
        assert_eq!(out.status.code(), Some(1), "{format}: {}", show(&out));
        assert_no_leak(format, &out, w.path(), &["shipgate.toml"], &sentinels);

        // The run did use the secrets, and told the runner to mask them.
        // Workflow commands share stdout only with the human view.
        let commands = if format == "human" {
            stdout(&out)
        } else {
            stderr(&out)
        };
        for s in sentinels {
            assert!(
                commands.contains(&format!("::add-mask::{s}\n")),
                "{format}: no mask for {s}:\n{}",
                show(&out)
            );
        }
        assert!(
            commands.contains("::error "),
            "{format}: failing checks are annotated:\n{}",
            show(&out)
        );
    }

    assert!(
        seen.lock()
            .unwrap()
            .iter()
            .any(|a| a == &format!("Bearer {API_TOKEN}")),
        "the API never got the token: {:?}",
        seen.lock().unwrap()
    );
    let report: serde_json::Value =
        serde_json::from_str(&w.read("out-json.json")).expect("JSON report");
    assert_eq!(result(&report, "http.api")["status"], "pass", "{report:#}");
    assert_eq!(result(&report, "http.api-strict")["status"], "fail");
    assert_eq!(result(&report, "database.main")["status"], "pass");
    assert_eq!(result(&report, "env.SESSION_SECRET")["status"], "fail");
    assert_eq!(result(&report, "env.API_TOKEN")["status"], "pass");
    // The flag's database is unreachable: its failure is reported, the password masked.
    let flag_db = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| {
            r["kind"] == "database"
                && r["status"] == "fail"
                && r["message"].as_str().unwrap().contains("127.0.0.1:1")
        })
        .unwrap_or_else(|| panic!("no failure for the --database-url:\n{report:#}"));
    let message = flag_db["message"].as_str().unwrap();
    assert!(
        message.contains("postgres://postgres:***@127.0.0.1:1"),
        "{message}"
    );
    assert!(
        flag_db["reproduce"]
            .as_str()
            .unwrap()
            .contains("--database-url"),
        "{flag_db:#}"
    );
}

#[test]
fn unreachable_database_from_config_does_not_print_the_password() {
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        "[[preflight.database]]\nurl = \"${DATABASE_URL}\"\ntables = [\"funds\"]\n",
    );
    let env = [("DATABASE_URL", unreachable_database_url())];
    for format in ["human", "json"] {
        let out = run_all_outputs(&w, &env, format, &[]);
        assert_eq!(out.status.code(), Some(1), "{}", show(&out));
        assert_no_leak(format, &out, w.path(), &["shipgate.toml"], &[DB_PASSWORD]);
    }
    let report: serde_json::Value = serde_json::from_str(&w.read("out-json.json")).unwrap();
    let db = result(&report, "database.main");
    assert_eq!(db["status"], "fail");
    assert!(
        db["message"].as_str().unwrap().contains("cannot connect"),
        "{db:#}"
    );
    assert_eq!(result(&report, "database.main.tables")["status"], "skip");
}

#[test]
fn database_url_checked_only_as_an_env_var_is_not_printed() {
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        "[preflight.env]\nrequired = [\"DATABASE_URL\"]\n",
    );
    let env = [("DATABASE_URL", database_url())];
    for format in ["human", "json", "markdown", "junit"] {
        let out = run_all_outputs(&w, &env, format, &[]);
        assert_eq!(out.status.code(), Some(0), "{}", show(&out));
        assert_no_leak(format, &out, w.path(), &["shipgate.toml"], &[DB_PASSWORD]);
    }
}

#[test]
fn database_url_from_the_env_file_is_not_printed() {
    let w = Workdir::new();
    w.write(".env", &format!("DATABASE_URL={}\n", database_url()));
    w.write(
        "shipgate.toml",
        "[[preflight.database]]\nurl = \"${DATABASE_URL}\"\n",
    );
    let out = run_all_outputs(&w, &[], "human", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_no_leak(
        "env file",
        &out,
        w.path(),
        &["shipgate.toml", ".env"],
        &[DB_PASSWORD],
    );
    assert!(stdout(&out).contains(&format!("::add-mask::{DB_PASSWORD}")));
}

#[test]
fn session_secret_is_never_printed() {
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        r#"[preflight.env]
required = ["SESSION_SECRET"]
"#,
    );
    // Set: passes without showing the value.
    let env = [("SESSION_SECRET", SESSION_SECRET.to_string())];
    for format in ["human", "json", "junit", "markdown"] {
        let out = run_all_outputs(&w, &env, format, &[]);
        assert_eq!(out.status.code(), Some(0), "{}", show(&out));
        assert_no_leak(
            format,
            &out,
            w.path(),
            &["shipgate.toml"],
            &[SESSION_SECRET],
        );
    }
    let out = w
        .cmd()
        .env("SESSION_SECRET", SESSION_SECRET)
        .args(["preflight", "--format", "json"])
        .output()
        .unwrap();
    let report = json_report(&out);
    let r = result(&report, "env.SESSION_SECRET");
    assert_eq!(r["status"], "pass");
    assert!(r["message"].as_str().unwrap().contains("hidden"), "{r:#}");

    // A placeholder fails, still without the value.
    let placeholder = "your_SENTINEL_session_secret_here";
    let env = [("SESSION_SECRET", placeholder.to_string())];
    let out = run_all_outputs(&w, &env, "human", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert_no_leak(
        "placeholder",
        &out,
        w.path(),
        &["shipgate.toml"],
        &[placeholder],
    );
    assert!(stdout(&out).contains("placeholder"), "{}", show(&out));
}

#[test]
fn secret_in_a_config_error_is_not_printed() {
    // A secret-named variable interpolated where a duration belongs: exit 2 and no value.
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        r#"[[preflight.path]]
path = "made"
create = true

[[preflight.database]]
url = "postgres://postgres@127.0.0.1:5432/postgres"
wait = "${DB_PASSWORD}"
"#,
    );
    let out = w
        .cmd()
        .env("DB_PASSWORD", DB_PASSWORD)
        .env("GITHUB_ACTIONS", "true")
        .arg("preflight")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = stderr(&out);
    assert!(err.contains("shipgate.toml:7:"), "{err}");
    assert!(err.contains("preflight.database.wait"), "{err}");
    assert_no_leak(
        "config error",
        &out,
        w.path(),
        &["shipgate.toml"],
        &[DB_PASSWORD],
    );
    assert!(!w.path().join("made").exists(), "a check ran");

    // A URL with a password in a variable whose name is not secret.
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        "[preflight]\ntimeout = \"${DATABASE_URL}\"\n\n[[preflight.path]]\npath = \"made\"\ncreate = true\n",
    );
    let out = w
        .cmd()
        .env("DATABASE_URL", database_url())
        .arg("preflight")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(stderr(&out).contains("shipgate.toml:2:"), "{}", show(&out));
    assert_no_leak(
        "URL in a duration",
        &out,
        w.path(),
        &["shipgate.toml"],
        &[DB_PASSWORD],
    );
    assert!(!w.path().join("made").exists(), "a check ran");
}

#[test]
fn secret_in_a_failing_typed_variable_is_not_printed() {
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        r#"[preflight.env.vars.API_TOKEN]
type = "integer"

[preflight.env.vars.SIGNING_SALT]
secret = true
one_of = ["a", "b"]
"#,
    );
    let salt = "SENTINEL-SALT-0d9e";
    let env = [
        ("API_TOKEN", API_TOKEN.to_string()),
        ("SIGNING_SALT", salt.to_string()),
    ];
    for format in ["human", "json", "junit", "markdown"] {
        let out = run_all_outputs(&w, &env, format, &[]);
        assert_eq!(out.status.code(), Some(1), "{}", show(&out));
        assert_no_leak(
            format,
            &out,
            w.path(),
            &["shipgate.toml"],
            &[API_TOKEN, salt],
        );
    }
}

/// A hook prints variables the config never mentions: a token and a URL with a password.
/// Every secret of the environment and the env file is masked, in every format and file.
#[test]
fn secrets_a_hook_prints_from_the_environment_are_masked_everywhere() {
    const HOOK_TOKEN: &str = "SENTINEL-HOOK-TOKEN-0d4c";
    const REDIS_PASSWORD: &str = "SENTINEL-REDIS-PW-e81a";
    const FILE_SECRET: &str = "SENTINEL-FILE-SECRET-77b0";
    let w = Workdir::new();
    w.write(
        "migrations/001_init.up.sql",
        "CREATE TABLE t (id integer);\n",
    );
    w.write("migrations/001_init.down.sql", "DROP TABLE t;\n");
    w.write(".env", &format!("WEBHOOK_SECRET={FILE_SECRET}\n"));
    w.write(
        "shipgate.toml",
        "[migrate]\ndir = \"migrations\"\n\n[[rollback.hooks]]\nname = \"announce\"\n\
         command = \"sh -c 'echo token=$API_TOKEN cache=$CACHE_URL; cat .env; exit 1'\"\n",
    );
    let db = format!("sqlite://{}?mode=rwc", w.path().join("app.db").display());
    let vars = [
        ("API_TOKEN", HOOK_TOKEN.to_string()),
        (
            "CACHE_URL",
            format!("redis://:{REDIS_PASSWORD}@127.0.0.1:6379/0"),
        ),
    ];
    let sentinels = [HOOK_TOKEN, REDIS_PASSWORD, FILE_SECRET];
    for format in ["human", "json", "junit", "markdown"] {
        let migrated = w
            .cmd()
            .args(["migrate", "--database-url", &db])
            .output()
            .unwrap();
        assert_eq!(migrated.status.code(), Some(0), "{}", show(&migrated));
        let mut cmd = w.cmd();
        github(&mut cmd, &w);
        for (k, v) in &vars {
            cmd.env(k, v);
        }
        let out = cmd
            .args([
                "rollback",
                "--all",
                "-v",
                "--database-url",
                &db,
                "--format",
                format,
            ])
            .args(["--output", &format!("json=rb-{format}.json")])
            .args(["--output", &format!("markdown=rb-{format}.md")])
            .args(["--output", &format!("junit=rb-{format}.xml")])
            .output()
            .unwrap();
        // The hook failed, so the run did: its output is in the report, masked.
        assert_eq!(out.status.code(), Some(1), "{format}: {}", show(&out));
        assert_no_leak(
            format,
            &out,
            w.path(),
            &["shipgate.toml", ".env", "app.db"],
            &sentinels,
        );
        let report: serde_json::Value =
            serde_json::from_str(&w.read(&format!("rb-{format}.json"))).unwrap();
        let hook = result(&report, "hook.announce");
        assert_eq!(hook["status"], "fail", "{hook:#}");
        let printed = hook["details"]["stdout"].as_str().unwrap();
        assert!(
            printed.contains("token=*** cache=redis://:***@127.0.0.1:6379/0\nWEBHOOK_SECRET=***"),
            "{printed}"
        );
    }
}

/// URL passwords with a raw `@`, percent-encoded passwords (both spellings) and secret query
/// parameters are masked end to end, in every format, even when the check fails and quotes
/// the URL.
#[test]
fn url_passwords_in_every_spelling_and_secret_query_values_are_masked() {
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        r#"[[preflight.database]]
name = "raw-at"
url = "${RAW_AT_URL}"
wait = "0s"
timeout = "1s"

[[preflight.database]]
name = "encoded"
url = "${ENCODED_URL}"
wait = "0s"
timeout = "1s"

[[preflight.http]]
name = "keyed"
url = "http://127.0.0.1:1/health?region=eu&api_key=SENTINEL-QUERY-KEY-31"
timeout = "1s"
"#,
    );
    let env = [
        (
            "RAW_AT_URL",
            "postgres://app:p@ss-SENTINEL-RAW-9a@127.0.0.1:1/app".to_string(),
        ),
        (
            "ENCODED_URL",
            "postgres://app:SENTINEL%2FENC%40pw-44@127.0.0.1:1/app".to_string(),
        ),
    ];
    let sentinels = [
        "ss-SENTINEL-RAW-9a",
        "SENTINEL%2FENC%40pw-44",
        "SENTINEL/ENC@pw-44",
        "SENTINEL-QUERY-KEY-31",
    ];
    for format in ["human", "json", "junit", "markdown"] {
        let out = run_all_outputs(&w, &env, format, &[]);
        assert_eq!(out.status.code(), Some(1), "{format}: {}", show(&out));
        assert_no_leak(format, &out, w.path(), &["shipgate.toml"], &sentinels);
    }
    let report: serde_json::Value =
        serde_json::from_str(&w.read("out-json.json")).expect("JSON report");
    let raw = result(&report, "database.raw-at")["message"]
        .as_str()
        .unwrap();
    assert!(raw.contains("postgres://app:***@127.0.0.1:1"), "{raw}");
    let keyed = result(&report, "http.keyed")["message"].as_str().unwrap();
    assert!(keyed.contains("region=eu&api_key=***"), "{keyed}");
}
