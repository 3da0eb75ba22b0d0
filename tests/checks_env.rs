//! `[preflight.env]` and `--require-env` / `--env-example`: variables set, not placeholders, of
//! the declared type; `.env.example` complete; secrets never printed.

mod common;

use std::process::Output;

use common::{Workdir, json_report, result, stderr, stdout};
use serde_json::Value;

/// Runs `shipgate preflight --format json <args>` in `w` with these process variables.
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

/// One typed variable `NAME` with `rule` (TOML lines) and `value` (None = unset): its result.
fn typed(rule: &str, value: Option<&str>) -> (i32, Value) {
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        &format!("[preflight.env.vars.SETTING]\n{rule}\n"),
    );
    let vars: Vec<(&str, &str)> = value.map(|v| ("SETTING", v)).into_iter().collect();
    let (out, report) = run(&w, &vars, &[]);
    (
        out.status.code().expect("exit code"),
        result(&report, "env.SETTING").clone(),
    )
}

fn assert_typed_pass(rule: &str, value: &str) {
    let (code, r) = typed(rule, Some(value));
    assert_eq!(r["status"], "pass", "{rule} with {value:?}: {r:#}");
    assert_eq!(code, 0, "{rule} with {value:?}: {r:#}");
}

/// Fails with exit 1, a message naming the variable and containing `expect`.
fn assert_typed_fail(rule: &str, value: &str, expect: &str) {
    let (code, r) = typed(rule, Some(value));
    assert_eq!(r["status"], "fail", "{rule} with {value:?}: {r:#}");
    assert_eq!(code, 1, "{rule} with {value:?}: {r:#}");
    let message = r["message"].as_str().unwrap();
    assert!(
        message.contains("SETTING"),
        "message does not name the variable: {message}"
    );
    assert!(
        message.contains(expect),
        "{rule} with {value:?}: expected {expect:?} in {message:?}"
    );
}

fn message(r: &Value) -> &str {
    r["message"].as_str().expect("message")
}

#[test]
fn required_variable_that_is_set_passes() {
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        "[preflight.env]\nrequired = [\"DEPLOY_REGION\"]\n",
    );
    let (out, report) = run(&w, &[("DEPLOY_REGION", "eu-west-1")], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let r = result(&report, "env.DEPLOY_REGION");
    assert_eq!(r["status"], "pass");
    assert_eq!(r["details"]["value"], "eu-west-1");
    assert_eq!(r["location"]["file"], "shipgate.toml");
    assert_eq!(r["location"]["line"], 2);
}

#[test]
fn required_variable_unset_fails_naming_it() {
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        "[preflight.env]\nrequired = [\"DEPLOY_REGION\", \"OTHER\"]\n",
    );
    let (out, report) = run(&w, &[("OTHER", "set")], &[]);
    assert_eq!(out.status.code(), Some(1));
    let r = result(&report, "env.DEPLOY_REGION");
    assert_eq!(r["status"], "fail");
    assert!(message(r).contains("DEPLOY_REGION is not set"), "{r:#}");
    assert_eq!(result(&report, "env.OTHER")["status"], "pass");
    assert_eq!(report["summary"]["failed"], 1);
}

#[test]
fn required_variable_empty_or_blank_fails() {
    for value in ["", "   "] {
        let w = Workdir::new();
        w.write(
            "shipgate.toml",
            "[preflight.env]\nrequired = [\"DEPLOY_REGION\"]\n",
        );
        let (out, report) = run(&w, &[("DEPLOY_REGION", value)], &[]);
        assert_eq!(out.status.code(), Some(1), "value {value:?}");
        let r = result(&report, "env.DEPLOY_REGION");
        assert_eq!(r["status"], "fail", "value {value:?}");
        assert!(message(r).contains("DEPLOY_REGION"), "{r:#}");
        assert!(
            message(r).contains("empty") || message(r).contains("not set"),
            "{r:#}"
        );
    }
}

#[test]
fn placeholder_values_fail() {
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        "[preflight.env]\nrequired = [\"P1\", \"P2\", \"P3\", \"P4\", \"P5\", \"REAL\"]\nplaceholders = [\"replace-me\"]\n",
    );
    let vars = [
        ("P1", "changeme"),
        ("P2", "your_api_key_here"),
        ("P3", "xxx"),
        ("P4", "TODO"),
        ("P5", "REPLACE-ME"),
        ("REAL", "production"),
    ];
    let (out, report) = run(&w, &vars, &[]);
    assert_eq!(out.status.code(), Some(1));
    for (name, value) in &vars[..5] {
        let r = result(&report, &format!("env.{name}"));
        assert_eq!(r["status"], "fail", "{name}={value}: {r:#}");
        assert!(
            message(r).contains(name) && message(r).contains("placeholder"),
            "{r:#}"
        );
    }
    assert_eq!(result(&report, "env.REAL")["status"], "pass");
    assert_eq!(report["summary"]["failed"], 5);
}

/// The runbooks' own sample values, from an env file as a new user copies it, with the
/// spaces a hand-edited file leaves around a value.
#[test]
fn the_runbooks_sample_values_are_placeholders() {
    let w = Workdir::new();
    w.write(
        ".env",
        "SESSION_SECRET=your-secure-session-secret\n\
         SENTRY_DSN=\"your_dsn_here\"\n\
         DATABASE_URL=postgresql://user:password@host:port/database\n\
         JWT_SECRET=change-this-in-production\n\
         API_KEY=\"  changeme  \"\n\
         WEBHOOK_URL=https://hooks.example.com/services/T000\n",
    );
    w.write(
        "shipgate.toml",
        "[preflight.env]\nrequired = [\"SESSION_SECRET\", \"SENTRY_DSN\", \"DATABASE_URL\", \"JWT_SECRET\", \"API_KEY\", \"WEBHOOK_URL\"]\n",
    );
    let (out, report) = run(&w, &[], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    for name in [
        "SESSION_SECRET",
        "SENTRY_DSN",
        "DATABASE_URL",
        "JWT_SECRET",
        "API_KEY",
    ] {
        let r = result(&report, &format!("env.{name}"));
        assert_eq!(r["status"], "fail", "{name}: {r:#}");
        assert!(message(r).contains("placeholder"), "{r:#}");
    }
    assert_eq!(result(&report, "env.WEBHOOK_URL")["status"], "pass");
}

#[test]
fn values_that_merely_contain_placeholder_words_pass() {
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        "[preflight.env]\nrequired = [\"SERVICE\", \"FLAG\"]\n",
    );
    let (out, report) = run(&w, &[("SERVICE", "todo-list-service"), ("FLAG", "x")], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(result(&report, "env.SERVICE")["status"], "pass");
}

#[test]
fn integer_with_min_and_max() {
    let rule = "type = \"integer\"\nmin = 1\nmax = 64";
    assert_typed_pass(rule, "8");
    assert_typed_pass(rule, "1");
    assert_typed_pass(rule, "64");
    assert_typed_fail(rule, "0", "below the minimum 1");
    assert_typed_fail(rule, "65", "above the maximum 64");
    assert_typed_fail(rule, "eight", "is not an integer");
    let (_, r) = typed(rule, Some("0"));
    assert_eq!(r["details"]["type"], "integer");
}

#[test]
fn boolean() {
    let rule = "type = \"boolean\"";
    for ok in ["true", "FALSE", "1", "0", "yes", "off"] {
        assert_typed_pass(rule, ok);
    }
    assert_typed_fail(rule, "maybe", "is not a boolean");
}

#[test]
fn url_with_allowed_schemes() {
    let rule = "type = \"url\"\nschemes = [\"postgres\", \"postgresql\"]";
    assert_typed_pass(rule, "postgres://app@db:5432/app");
    assert_typed_pass(rule, "postgresql://db/app");
    assert_typed_fail(rule, "mysql://db/app", "scheme `mysql`");
    assert_typed_fail(rule, "not a url", "is not a URL");
    // Without `schemes` any URL passes.
    assert_typed_pass("type = \"url\"", "mysql://db/app");
}

#[test]
fn duration() {
    let rule = "type = \"duration\"";
    assert_typed_pass(rule, "30s");
    assert_typed_pass(rule, "1m 30s");
    assert_typed_fail(rule, "30", "no unit");
    assert_typed_fail(rule, "soon", "is not a duration");
}

#[test]
fn one_of() {
    let rule = "one_of = [\"staging\", \"production\"]";
    assert_typed_pass(rule, "production");
    assert_typed_fail(rule, "prod", "is not one of staging, production");
}

#[test]
fn pattern_must_match_the_whole_value() {
    let rule = "pattern = '[a-z]{2}-[a-z]+-\\d'";
    assert_typed_pass(rule, "eu-west-1");
    assert_typed_fail(rule, "eu-west-1x", "does not match the pattern");
    assert_typed_fail(rule, "xeu-west-1", "does not match the pattern");
}

#[test]
fn typed_variable_unset_fails_unless_optional() {
    let (code, r) = typed("type = \"integer\"", None);
    assert_eq!((code, r["status"].as_str()), (1, Some("fail")), "{r:#}");
    assert!(message(&r).contains("SETTING is not set"), "{r:#}");
    let (code, r) = typed("type = \"integer\"\nrequired = false", None);
    assert_eq!((code, r["status"].as_str()), (0, Some("pass")), "{r:#}");
    assert!(message(&r).contains("optional"), "{r:#}");
    // Optional but set: the type still applies.
    assert_typed_fail(
        "type = \"integer\"\nrequired = false",
        "many",
        "is not an integer",
    );
}

#[test]
fn min_max_on_a_non_integer_is_an_input_error() {
    let w = Workdir::new();
    w.write("shipgate.toml", "[preflight.env.vars.SETTING]\nmin = 1\n");
    let out = w
        .cmd()
        .args(["preflight", "--format", "json"])
        .env("SETTING", "5")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(stderr(&out).contains("SETTING"), "{}", stderr(&out));
}

#[test]
fn example_keys_all_set_pass() {
    let w = Workdir::new();
    w.write(
        ".env.example",
        "DATABASE_URL=postgres://user:pass@host/db\nWORKERS=4\n",
    );
    w.write("deploy.env", "WORKERS=8\n");
    w.write(
        "shipgate.toml",
        "[preflight.env]\nexample = \".env.example\"\n",
    );
    let (out, report) = run(
        &w,
        &[("DATABASE_URL", "postgres://db/app")],
        &["--env-file", "deploy.env"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let r = result(&report, "env.example");
    assert_eq!(r["status"], "pass", "{r:#}");
    assert!(message(r).contains("all 2 variables"), "{r:#}");
}

#[test]
fn example_key_missing_fails_naming_it() {
    let w = Workdir::new();
    w.write(".env.example", "DATABASE_URL=\nWORKERS=4\nREDIS_URL=\n");
    w.write("deploy.env", "WORKERS=8\n");
    w.write(
        "shipgate.toml",
        "[preflight.env]\nexample = \".env.example\"\n",
    );
    let (out, report) = run(
        &w,
        &[("DATABASE_URL", "postgres://db/app")],
        &["--env-file", "deploy.env"],
    );
    assert_eq!(out.status.code(), Some(1));
    let r = result(&report, "env.example");
    assert_eq!(r["status"], "fail");
    assert!(message(r).contains("REDIS_URL"), "{r:#}");
    assert!(!message(r).contains("WORKERS"), "{r:#}");
    assert_eq!(r["details"]["missing"], serde_json::json!(["REDIS_URL"]));
}

#[test]
fn example_key_with_a_placeholder_value_fails() {
    let w = Workdir::new();
    w.write(".env.example", "API_KEY=\n");
    w.write("deploy.env", "API_KEY=your_api_key_here\n");
    w.write(
        "shipgate.toml",
        "[preflight.env]\nexample = \".env.example\"\n",
    );
    let (out, report) = run(&w, &[], &["--env-file", "deploy.env"]);
    assert_eq!(out.status.code(), Some(1));
    let r = result(&report, "env.example");
    assert_eq!(r["status"], "fail");
    assert_eq!(r["details"]["placeholders"], serde_json::json!(["API_KEY"]));
}

#[test]
fn extras_in_the_env_file_warn() {
    let w = Workdir::new();
    w.write(".env.example", "WORKERS=4\n");
    w.write("deploy.env", "WORKERS=8\nLEGACY_FLAG=1\n");
    w.write(
        "shipgate.toml",
        "[preflight.env]\nexample = \".env.example\"\n",
    );
    let (out, report) = run(&w, &[], &["--env-file", "deploy.env"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "a warning alone passes: {}",
        stdout(&out)
    );
    let r = result(&report, "env.example");
    assert_eq!(r["status"], "warn");
    assert!(message(r).contains("LEGACY_FLAG"), "{r:#}");
    assert_eq!(r["details"]["extras"], serde_json::json!(["LEGACY_FLAG"]));
    let (out, _) = run(&w, &[], &["--env-file", "deploy.env", "--strict"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "--strict turns the warning into a failure"
    );
}

#[test]
fn flags_require_env_and_env_example() {
    let w = Workdir::new();
    w.write("example.env", "WORKERS=\nMODE=\n");
    let (out, report) = run(
        &w,
        &[("A", "1"), ("WORKERS", "2")],
        &["--require-env", "A,B", "--env-example", "example.env"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(result(&report, "env.A")["status"], "pass");
    let b = result(&report, "env.B");
    assert_eq!(b["status"], "fail");
    assert!(message(b).contains("B is not set"), "{b:#}");
    let example = result(&report, "env.example");
    assert_eq!(example["status"], "fail");
    assert_eq!(example["details"]["missing"], serde_json::json!(["MODE"]));
}

#[test]
fn values_come_from_the_env_file_and_the_process_wins() {
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        "[preflight.env.vars.APP_MODE]\none_of = [\"production\"]\n",
    );
    w.write("deploy.env", "APP_MODE=staging\n");
    // The file alone: its value is used (and is wrong).
    let (out, report) = run(&w, &[], &["--env-file", "deploy.env"]);
    assert_eq!(out.status.code(), Some(1));
    let r = result(&report, "env.APP_MODE");
    assert!(message(r).contains("`staging`"), "{r:#}");
    // The process has it too: the process wins.
    let (out, report) = run(
        &w,
        &[("APP_MODE", "production")],
        &["--env-file", "deploy.env"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(
        result(&report, "env.APP_MODE")["details"]["value"],
        "production"
    );
}

#[test]
fn default_dot_env_is_read() {
    let w = Workdir::new();
    w.write(".env", "DEPLOY_REGION=eu-west-1\n");
    let (out, report) = run(&w, &[], &["--require-env", "DEPLOY_REGION"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(
        result(&report, "env.DEPLOY_REGION")["details"]["value"],
        "eu-west-1"
    );
}

#[test]
fn missing_explicit_env_file_is_an_input_error() {
    let w = Workdir::new();
    let out = w
        .cmd()
        .args(["preflight", "--require-env", "A", "--env-file", "nope.env"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("nope.env"), "{}", stderr(&out));
}

const SECRET: &str = "s3cr3t-sentinel-value-42";

/// Neither stdout nor stderr of any format mentions `secret`.
fn assert_never_printed(w: &Workdir, vars: &[(&str, &str)], args: &[&str], secret: &str) {
    for format in [
        &["--format", "json"][..],
        &["--format", "human", "-v"],
        &["--format", "markdown"],
        &["--format", "junit"],
    ] {
        let mut cmd = w.cmd();
        cmd.arg("preflight").args(format).args(args);
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.code().is_some_and(|c| c < 2),
            "{format:?}: {}",
            stderr(&out)
        );
        let (o, e) = (stdout(&out), stderr(&out));
        assert!(
            !o.contains(secret),
            "{format:?} prints the secret on stdout:\n{o}"
        );
        assert!(
            !e.contains(secret),
            "{format:?} prints the secret on stderr:\n{e}"
        );
    }
}

#[test]
fn secret_named_variable_value_is_never_printed() {
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        "[preflight.env]\nrequired = [\"SESSION_SECRET\"]\n",
    );
    let (out, report) = run(&w, &[("SESSION_SECRET", SECRET)], &[]);
    assert_eq!(out.status.code(), Some(0));
    let r = result(&report, "env.SESSION_SECRET");
    assert_eq!(r["status"], "pass");
    assert!(message(r).contains("value hidden"), "{r:#}");
    assert!(r["details"].get("value").is_none(), "{r:#}");
    assert_never_printed(&w, &[("SESSION_SECRET", SECRET)], &[], SECRET);
}

#[test]
fn secret_value_from_the_env_file_is_never_printed() {
    let w = Workdir::new();
    w.write(".env.example", "SESSION_SECRET=\nAPI_TOKEN=\n");
    w.write(
        "deploy.env",
        &format!("SESSION_SECRET={SECRET}\nAPI_TOKEN=tok-{SECRET}\n"),
    );
    w.write(
        "shipgate.toml",
        "[preflight.env]\nrequired = [\"SESSION_SECRET\"]\nexample = \".env.example\"\n",
    );
    let (out, _) = run(&w, &[], &["--env-file", "deploy.env"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_never_printed(&w, &[], &["--env-file", "deploy.env"], SECRET);
}

#[test]
fn failing_secret_variable_hides_its_value() {
    let w = Workdir::new();
    // A type failure quotes the value for ordinary variables; not for secrets.
    w.write(
        "shipgate.toml",
        "[preflight.env.vars.SESSION_SECRET]\ntype = \"integer\"\n\n[preflight.env.vars.SIGNING_MATERIAL]\nsecret = true\none_of = [\"a\"]\n",
    );
    let other = "m4terial-sentinel-77";
    let vars = [("SESSION_SECRET", SECRET), ("SIGNING_MATERIAL", other)];
    let (out, report) = run(&w, &vars, &[]);
    assert_eq!(out.status.code(), Some(1));
    let r = result(&report, "env.SESSION_SECRET");
    assert_eq!(r["status"], "fail");
    assert!(
        message(r).contains("is not an integer") && message(r).contains("value hidden"),
        "{r:#}"
    );
    let r = result(&report, "env.SIGNING_MATERIAL");
    assert_eq!(r["status"], "fail");
    assert!(message(r).contains("value hidden"), "{r:#}");
    assert_never_printed(&w, &vars, &[], SECRET);
    assert_never_printed(&w, &vars, &[], other);
}

#[test]
fn secret_placeholder_is_not_quoted() {
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        "[preflight.env]\nrequired = [\"DB_PASSWORD\"]\n",
    );
    let (out, report) = run(&w, &[("DB_PASSWORD", "your_password_here")], &[]);
    assert_eq!(out.status.code(), Some(1));
    let r = result(&report, "env.DB_PASSWORD");
    assert!(message(r).contains("placeholder (value hidden)"), "{r:#}");
    assert!(
        !stdout(&out).contains("your_password_here"),
        "{}",
        stdout(&out)
    );
}

/// A variable holding a URL with a password (`DATABASE_URL`, `REDIS_URL`) is an ordinary
/// variable by name, but its password is masked like every URL password (`postgres://app:***@db/app`).
#[test]
fn url_password_inside_a_variable_is_never_printed() {
    let password = "hunter2-sentinel";
    let url = format!("postgres://app:{password}@db:5432/app");
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        "[preflight.env]\nrequired = [\"DATABASE_URL\"]\n\n[preflight.env.vars.REDIS_URL]\ntype = \"url\"\nschemes = [\"rediss\"]\n",
    );
    let redis = format!("redis://:{password}@cache:6379");
    let vars = [
        ("DATABASE_URL", url.as_str()),
        ("REDIS_URL", redis.as_str()),
    ];
    let (out, report) = run(&w, &vars, &[]);
    assert_eq!(out.status.code(), Some(1), "REDIS_URL has the wrong scheme");
    assert_eq!(result(&report, "env.DATABASE_URL")["status"], "pass");
    assert_eq!(result(&report, "env.REDIS_URL")["status"], "fail");
    assert_never_printed(&w, &vars, &[], password);
}

/// BUG: `--require-env A` next to a config that already requires A is refused as an input
/// error ("two env checks are named `A`", help: "give each a distinct `name`", though env
/// variables have no `name`). The planner means to de-duplicate flag names against the config
/// (`for name in &args.require_env { if !names.iter().any(..)`), but the config's `[preflight.env]`
/// and the flags are planned in two separate `env()` calls, so the check never sees the config's names.
#[test]
fn require_env_flag_repeating_a_config_variable_checks_it_once() {
    let w = Workdir::new();
    w.write("shipgate.toml", "[preflight.env]\nrequired = [\"A\"]\n");
    let (out, report) = {
        let out = w
            .cmd()
            .args(["preflight", "--format", "json", "--require-env", "A,B"])
            .env("A", "1")
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(1),
            "B is unset, A is set: {}",
            stderr(&out)
        );
        let report = json_report(&out);
        (out, report)
    };
    assert_eq!(
        result(&report, "env.A")["status"],
        "pass",
        "{}",
        stdout(&out)
    );
    assert_eq!(result(&report, "env.B")["status"], "fail");
    let a_count = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["id"] == "env.A")
        .count();
    assert_eq!(a_count, 1, "A is reported once");
}

/// BUG: `pattern` must match the whole value, but src/checks/env.rs `full_match` takes the
/// regex's *first* (leftmost-first) match and checks that it spans the value. When an earlier
/// alternative or a lazy quantifier matches a shorter prefix, a value the pattern matches as a
/// whole is refused: `eu|eu-west` rejects `eu-west`. Anchoring (`^(?:pattern)$`) is needed.
#[test]
fn pattern_alternatives_match_the_whole_value() {
    assert_typed_pass("pattern = \"eu|eu-west\"", "eu-west");
    assert_typed_pass("pattern = 'v\\d+?(\\.\\d+)*'", "v10.2");
    assert_typed_fail(
        "pattern = \"eu|eu-west\"",
        "eu-west-1",
        "does not match the pattern",
    );
}

#[test]
fn a_url_variable_shows_its_value_with_even_a_short_password_masked() {
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        "[preflight.env]\nrequired = [\"DATABASE_URL\"]\n",
    );
    let (out, report) = run(
        &w,
        &[("DATABASE_URL", "postgres://app:ab1@db.internal:5432/app")],
        &[],
    );
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(!all.contains(":ab1@"), "{all}");
    let r = result(&report, "env.DATABASE_URL");
    assert_eq!(r["status"], "pass");
    assert_eq!(
        r["details"]["value"],
        "postgres://app:***@db.internal:5432/app"
    );
}

#[test]
fn an_unreadable_env_example_is_placed_on_its_own_line() {
    let w = Workdir::new();
    w.write(
        ".env.example",
        "DATABASE_URL=\nSESSION_SECRET=\"unterminated\n",
    );
    w.write(
        "shipgate.toml",
        "[preflight.env]\nexample = \".env.example\"\n",
    );
    let out = w.cmd().args(["preflight"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("cannot use the env example .env.example"),
        "{err}"
    );
    assert!(err.contains(".env.example:2"), "{err}");
}
