//! Wrong input: each mistake exits 2, says where (`shipgate.toml:LINE:COL`) and which key,
//! and nothing runs. Every config below also asks for a directory to be created: that it was
//! not proves no check ran.

mod common;

use std::process::Output;

use common::{Workdir, stderr, stdout};

/// Comes first in every config: running any check would create `made/`.
const CREATES: &str = "[[preflight.path]]\npath = \"made\"\ncreate = true\n\n";

fn show(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        stdout(out),
        stderr(out)
    )
}

/// Writes `CREATES` + `rest` as shipgate.toml, runs `shipgate preflight` with `env`, and
/// checks the common promises: exit 2, nothing on stdout, `made/` not created.
fn input_error(rest: &str, env: &[(&str, &str)]) -> (Workdir, String) {
    input_error_of("preflight", CREATES, rest, env)
}

/// The same for `shipgate verify`, whose config creates `made/` in `[verify]`.
fn verify_input_error(rest: &str) -> (Workdir, String) {
    input_error_of("verify", VERIFY_CREATES, rest, &[])
}

/// Comes first in every `verify` config: running any check would create `made/`.
const VERIFY_CREATES: &str = "[[verify.path]]\npath = \"made\"\ncreate = true\n\n";

fn input_error_of(
    command: &str,
    creates: &str,
    rest: &str,
    env: &[(&str, &str)],
) -> (Workdir, String) {
    let w = Workdir::new();
    w.write("shipgate.toml", &format!("{creates}{rest}"));
    let mut cmd = w.cmd();
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.arg(command).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(stdout(&out).is_empty(), "{}", show(&out));
    assert!(
        !w.path().join("made").exists(),
        "a check ran despite the error:\n{}",
        show(&out)
    );
    let err = stderr(&out);
    assert!(err.starts_with("error: "), "{err}");
    (w, err)
}

/// The 1-based line in the written config (after `CREATES`) of the first line holding `needle`.
fn line_of(rest: &str, needle: &str) -> usize {
    line_of_in(CREATES, rest, needle)
}

fn line_of_in(creates: &str, rest: &str, needle: &str) -> usize {
    let text = format!("{creates}{rest}");
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle} not in config"))
        + 1
}

fn assert_place(err: &str, line: usize) {
    let prefix = format!("error: shipgate.toml:{line}:");
    assert!(
        err.starts_with(&prefix),
        "expected the error at {prefix}…, got:\n{err}"
    );
    let col: String = err[prefix.len()..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    assert!(
        col.parse::<u32>().is_ok_and(|c| c >= 1),
        "no column after {prefix}:\n{err}"
    );
}

#[test]
fn a_valid_config_does_create_the_directory() {
    // The control for every test below: without the mistake the check runs and creates `made/`.
    let w = Workdir::new();
    w.write("shipgate.toml", CREATES);
    let out = w.cmd().arg("preflight").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(w.path().join("made").is_dir());
}

#[test]
fn unknown_key_suggests_the_right_one() {
    let rest = "[[preflight.database]]\nurl = \"postgres://localhost/app\"\ntabels = [\"funds\"]\n";
    let (_, err) = input_error(rest, &[]);
    assert_place(&err, line_of(rest, "tabels"));
    assert!(err.contains("`preflight.database.tabels`"), "{err}");
    assert!(err.contains("did you mean `tables`?"), "{err}");
}

#[test]
fn unknown_key_at_the_top_of_preflight() {
    let rest = "[preflight]\ntimout = \"2m\"\n";
    let (_, err) = input_error(rest, &[]);
    assert_place(&err, line_of(rest, "timout"));
    assert!(err.contains("`preflight.timout`"), "{err}");
    assert!(err.contains("did you mean `timeout`?"), "{err}");
}

#[test]
fn unknown_section_is_named_whole() {
    let rest = "[preflight.databse]\nurl = \"postgres://localhost/app\"\n";
    let (_, err) = input_error(rest, &[]);
    assert_place(&err, line_of(rest, "[preflight.databse]"));
    assert!(
        err.contains("`preflight.databse`"),
        "the key should be `preflight.databse`:\n{err}"
    );
    assert!(
        !err.contains("preflight..") && !err.contains("[preflight.]"),
        "a mangled table name:\n{err}"
    );
    assert!(
        err.contains("database"),
        "suggests or lists `database`:\n{err}"
    );
}

#[test]
fn unknown_top_level_section_is_named_whole() {
    let rest = "[deploy]\nsteps = 1\n";
    let (_, err) = input_error(rest, &[]);
    assert_place(&err, line_of(rest, "[deploy]"));
    assert!(err.contains("`deploy`"), "{err}");
    assert!(
        !err.contains("`.deploy`") && !err.contains("[]"),
        "a mangled key:\n{err}"
    );
    assert!(
        err.contains("preflight"),
        "lists the allowed sections:\n{err}"
    );
}

#[test]
fn wrong_type_names_the_key() {
    let rest = "[[preflight.redis]]\nurl = \"redis://127.0.0.1:6379\"\noptional = \"yes\"\n";
    let (_, err) = input_error(rest, &[]);
    assert_place(&err, line_of(rest, "optional"));
    assert!(err.contains("`preflight.redis.optional`"), "{err}");
    assert!(
        err.contains("boolean"),
        "says what type is expected:\n{err}"
    );
}

#[test]
fn required_variable_shows_its_message() {
    let rest = "[[preflight.database]]\nurl = \"${APP_DB_URL:?ask the ops team for the URL}\"\n";
    let (_, err) = input_error(rest, &[]);
    assert_place(&err, line_of(rest, "APP_DB_URL"));
    assert!(err.contains("`preflight.database.url`"), "{err}");
    assert!(err.contains("APP_DB_URL"), "{err}");
    assert!(err.contains("ask the ops team for the URL"), "{err}");

    // Set, it passes the planning stage (and the check itself runs).
    let w = Workdir::new();
    w.write("shipgate.toml", &format!("{CREATES}{rest}"));
    let out = w
        .cmd()
        .env("APP_DB_URL", common::postgres_url())
        .arg("preflight")
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(2), "{}", show(&out));
    assert!(w.path().join("made").is_dir());
}

#[test]
fn invalid_duration() {
    let rest = "[[preflight.database]]\nurl = \"postgres://localhost/app\"\nwait = \"soon\"\n";
    let (_, err) = input_error(rest, &[]);
    assert_place(&err, line_of(rest, "wait"));
    assert!(err.contains("`preflight.database.wait`"), "{err}");
    assert!(err.contains("soon"), "{err}");
}

#[test]
fn duration_without_unit() {
    let rest = "[preflight]\ncheck_timeout = \"30\"\n";
    let (_, err) = input_error(rest, &[]);
    assert_place(&err, line_of(rest, "check_timeout"));
    assert!(err.contains("`preflight.check_timeout`"), "{err}");
    assert!(err.contains("30s"), "suggests a unit:\n{err}");
}

#[test]
fn invalid_regex() {
    let rest = "[[preflight.tool]]\nname = \"git\"\npattern = \"version (\\\\d+\"\n";
    let (_, err) = input_error(rest, &[]);
    assert_place(&err, line_of(rest, "pattern"));
    assert!(err.contains("`preflight.tool.pattern`"), "{err}");
    assert!(err.contains("regular expression"), "{err}");
}

#[test]
fn invalid_regex_of_an_env_var() {
    let rest = "[preflight.env.vars.APP_ENV]\npattern = \"(prod|staging\"\n";
    let (_, err) = input_error(rest, &[]);
    assert_place(&err, line_of(rest, "pattern"));
    assert!(err.contains("preflight.env.vars.APP_ENV.pattern"), "{err}");
}

#[test]
fn invalid_version() {
    let rest =
        "[[preflight.database]]\nurl = \"postgres://localhost/app\"\nmin_version = \"latest\"\n";
    let (_, err) = input_error(rest, &[]);
    assert_place(&err, line_of(rest, "min_version"));
    assert!(err.contains("`preflight.database.min_version`"), "{err}");
    assert!(err.contains("latest"), "{err}");
}

#[test]
fn bad_octal_mode() {
    let rest = "[[preflight.path]]\npath = \"other\"\ncreate = true\nmode = \"rwxr-xr-x\"\n";
    let (w, err) = input_error(rest, &[]);
    assert_place(&err, line_of(rest, "mode"));
    assert!(err.contains("`preflight.path.mode`"), "{err}");
    assert!(err.contains("octal"), "{err}");
    assert!(!w.path().join("other").exists());

    let rest = "[[preflight.path]]\npath = \"other\"\ncreate = true\nmode = \"789\"\n";
    let (_, err) = input_error(rest, &[]);
    assert_place(&err, line_of(rest, "mode"));
}

#[test]
fn toml_syntax_error() {
    let rest = "[[preflight.path]]\npath = \"other\ncreate = true\n";
    let (_, err) = input_error(rest, &[]);
    assert_place(&err, line_of(rest, "path = \"other"));
}

#[test]
fn duplicate_check_names() {
    let rest = "[[preflight.path]]\nname = \"data\"\npath = \"a\"\n\n[[preflight.path]]\nname = \"data\"\npath = \"b\"\n";
    let (_, err) = input_error(rest, &[]);
    let second = format!("{CREATES}{rest}")
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains("name = \"data\""))
        .nth(1)
        .map(|(i, _)| i + 1)
        .unwrap();
    let line: usize = err
        .strip_prefix("error: shipgate.toml:")
        .and_then(|r| r.split(':').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no place in:\n{err}"));
    assert!(
        (second - 1..=second + 1).contains(&line),
        "the second entry is at line {second}:\n{err}"
    );
    assert!(err.contains("preflight.path"), "{err}");
    assert!(err.contains("`data`"), "{err}");
}

#[test]
fn missing_config_file() {
    let w = Workdir::new();
    w.write("shipgate.toml", CREATES);
    let out = w
        .cmd()
        .args(["preflight", "--config", "missing.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(stderr(&out).contains("missing.toml"), "{}", show(&out));
    assert!(stdout(&out).is_empty());
    assert!(
        !w.path().join("made").exists(),
        "ran the default config instead"
    );
}

#[test]
fn unknown_output_format_is_a_usage_error() {
    let w = Workdir::new();
    w.write("shipgate.toml", CREATES);
    let out = w
        .cmd()
        .args(["preflight", "--output", "xml=report.xml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = stderr(&out);
    assert!(err.contains("--output"), "{err}");
    assert!(err.contains("xml"), "{err}");
    assert!(err.contains("json"), "lists the formats:\n{err}");
    assert!(!w.path().join("made").exists());
    assert!(!w.path().join("report.xml").exists());

    let out = w
        .cmd()
        .args(["preflight", "--output", "report.xml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(stderr(&out).contains("FORMAT=PATH"), "{}", show(&out));
    assert!(!w.path().join("made").exists());
}

// ----------------------------------------------------------------------------------- .env --

/// Runs with a `.env` holding `env` next to a config that creates `made/`.
fn env_file_error(env: &str) -> String {
    let w = Workdir::new();
    w.write("shipgate.toml", CREATES);
    w.write(".env", env);
    let out = w.cmd().arg("preflight").output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(stdout(&out).is_empty(), "{}", show(&out));
    assert!(!w.path().join("made").exists(), "a check ran");
    stderr(&out)
}

#[test]
fn env_file_bad_key_names_the_line_not_the_value() {
    let err = env_file_error("APP_ENV=production\nBAD KEY=SENTINEL-ENV-1f2a\nPORT=8080\n");
    assert!(err.contains(".env:2:"), "{err}");
    assert!(!err.contains("SENTINEL"), "the value is shown:\n{err}");
}

#[test]
fn env_file_value_with_spaces_names_the_line_not_the_value() {
    let err =
        env_file_error("APP_ENV=production\nPORT=8080\nAPI_SECRET=SENTINEL part two\nLOG=info\n");
    assert!(!err.contains("SENTINEL"), "the value is shown:\n{err}");
    assert!(err.contains(".env:3:"), "the bad line is 3:\n{err}");
}

#[test]
fn env_file_unterminated_quote_names_its_line() {
    let err = env_file_error(
        "APP_ENV=production\nPORT=8080\nDB_PASSWORD=\"SENTINEL-unterminated\nLOG=info\n",
    );
    assert!(!err.contains("SENTINEL"), "the value is shown:\n{err}");
    assert!(err.contains(".env:3:"), "the bad line is 3:\n{err}");
}

#[test]
fn env_file_stray_line_is_not_printed() {
    // A token pasted on a line of its own: not a NAME=value line, and not to be shown either.
    let err = env_file_error("APP_ENV=production\nghp_SENTINEL0123456789abcdef\nPORT=8080\n");
    assert!(err.contains(".env:2:"), "{err}");
    assert!(
        !err.contains("SENTINEL"),
        "the line's content is shown:\n{err}"
    );
}

#[test]
fn explicit_env_file_that_does_not_exist() {
    let w = Workdir::new();
    w.write("shipgate.toml", CREATES);
    let out = w
        .cmd()
        .args(["preflight", "--env-file", "prod.env"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(stderr(&out).contains("prod.env"), "{}", show(&out));
    assert!(!w.path().join("made").exists());
}

// ---------------------------------------------------------------------------------------------
// Bad input that used to crash, hang or run (issue 9): each exits 2, at its line, at once.

#[test]
fn a_backoff_or_threshold_that_is_no_number_is_refused() {
    let rest = "[[preflight.http]]\nurl = \"http://127.0.0.1:1/\"\nretry = { timeout = \"5s\", backoff = nan }\n";
    let (_, err) = input_error(rest, &[]);
    assert_place(&err, line_of(rest, "backoff"));
    assert!(err.contains("not a finite number"), "{err}");

    let rest = "[[verify.sql]]\nname = \"q\"\nurl = \"postgres://127.0.0.1:1/x\"\nquery = \"select 1\"\nexpect_at_least = nan\n";
    let (_, err) = verify_input_error(rest);
    assert_place(&err, line_of_in(VERIFY_CREATES, rest, "expect_at_least"));
    assert!(err.contains("not a finite number"), "{err}");

    let rest = "[[preflight.http]]\nurl = \"http://127.0.0.1:1/\"\nretry = { timeout = \"5s\", backoff = 50 }\n";
    let (_, err) = input_error(rest, &[]);
    assert!(err.contains("backoff = 50: give 1 to 10"), "{err}");
}

#[test]
fn verify_only_kinds_under_preflight_are_refused_at_their_table() {
    let tables = [
        (
            "sql",
            "name = \"q\"\nurl = \"sqlite://x.db\"\nquery = \"select 1\"\nexpect = 1\n",
        ),
        (
            "metrics",
            "url = \"http://127.0.0.1:1/metrics\"\nexpect = ['up == 1']\n",
        ),
        (
            "prometheus",
            "url = \"http://127.0.0.1:1\"\nquery = \"up\"\nexpect = ['== 1']\n",
        ),
        ("log", "path = \"app.log\"\npattern = \"ERROR\"\n"),
    ];
    for (kind, keys) in tables {
        let rest = format!(
            "[[preflight.http]]\nurl = \"http://127.0.0.1:1/\"\n\n# below\n[[preflight.{kind}]]\n{keys}"
        );
        let (_, err) = input_error(&rest, &[]);
        assert_place(&err, line_of(&rest, &format!("[[preflight.{kind}]]")));
        assert!(
            err.contains(&format!("[[preflight.{kind}]] belongs in [verify]")),
            "{err}"
        );
        assert!(err.contains(&format!("[[verify.{kind}]]")), "{err}");
    }
}

#[test]
fn a_retry_interval_below_the_floor_is_refused() {
    let rest = "[[preflight.http]]\nurl = \"http://127.0.0.1:1/\"\nretry = { timeout = \"2s\", interval = \"0s\" }\n";
    let (_, err) = input_error(rest, &[]);
    assert_place(&err, line_of(rest, "interval"));
    assert!(err.contains("below the floor of 100ms"), "{err}");
}

#[test]
fn urls_that_are_not_urls_are_input_errors_not_failing_checks() {
    let rest = "[[preflight.http]]\nname = \"v6\"\nurl = \"http://[::1\"\n";
    let (_, err) = input_error(rest, &[]);
    assert_place(&err, line_of(rest, "[::1"));
    assert!(err.contains("is not a URL"), "{err}");

    let rest = "[[preflight.database]]\nurl = \"${APP_DB}\"\n";
    let (_, err) = input_error(rest, &[("APP_DB", "::::")]);
    assert_place(&err, line_of(rest, "APP_DB"));
    assert!(err.contains("not a URL"), "{err}");

    let rest = "[[preflight.redis]]\nurl = \"http://127.0.0.1:6379\"\n";
    let (_, err) = input_error(rest, &[]);
    assert!(err.contains("is not a Redis URL"), "{err}");

    // The same from flags.
    for args in [
        &["preflight", "--database-url", "::::"][..],
        &["preflight", "--http-url", "http://[::1"][..],
        &["verify", "--http", "http://[::1"][..],
        &["migrate", "--database-url", "::::"][..],
    ] {
        let w = Workdir::new();
        let out = w.cmd().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", show(&out));
    }
}

#[test]
fn config_and_env_files_must_be_regular_files_of_sane_size() {
    let w = Workdir::new();
    let fifo = w.path().join("pipe.toml");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let huge = w.path().join("huge.toml");
    let file = std::fs::File::create(&huge).unwrap();
    file.set_len(64 * 1024 * 1024).unwrap(); // sparse: no disk used
    for (flag, path, says) in [
        ("--config", "/dev/zero", "a device, not a regular file"),
        ("--env-file", "/dev/zero", "a device, not a regular file"),
        ("--config", fifo.to_str().unwrap(), "a FIFO"),
        ("--env-file", fifo.to_str().unwrap(), "a FIFO"),
        ("--config", huge.to_str().unwrap(), "larger than"),
    ] {
        let started = std::time::Instant::now();
        let out = w
            .cmd()
            .timeout(std::time::Duration::from_secs(10))
            .args(["preflight", flag, path])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{flag} {path}: {}", show(&out));
        assert!(stderr(&out).contains(says), "{flag} {path}: {}", show(&out));
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }
}

#[test]
fn a_fifo_among_the_migrations_is_refused_not_waited_on() {
    let w = Workdir::new();
    w.write("migrations/001_init.sql", "CREATE TABLE t (id integer);\n");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(w.path().join("migrations/002_pipe.sql"))
            .status()
            .unwrap()
            .success()
    );
    let db = format!("sqlite://{}?mode=rwc", w.path().join("app.db").display());
    let out = w
        .cmd()
        .timeout(std::time::Duration::from_secs(10))
        .args(["migrate", "--dir", "migrations", "--database-url", &db])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(stderr(&out).contains("002_pipe.sql"), "{}", show(&out));
    assert!(stderr(&out).contains("FIFO"), "{}", show(&out));
}

#[test]
fn max_requests_past_the_ceiling_is_refused_at_once() {
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        "[rate_limit]\nmax_requests = 4294967295\n\n[[rate_limit.target]]\nurl = \"http://127.0.0.1:1/\"\nrequests = 4294967295\n",
    );
    let out = w
        .cmd()
        .timeout(std::time::Duration::from_secs(10))
        .arg("rate-limit-test")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(stderr(&out).contains("above the ceiling"), "{}", show(&out));
    assert!(stderr(&out).contains("shipgate.toml:2:"), "{}", show(&out));
}

// ---------------------------------------------------------------------------------------------
// Values from variables (issue 9): numbers and booleans from `"${VAR}"`, and `${` refused where
// a key is taken as written.

#[test]
fn a_number_from_a_variable_that_is_not_one_is_refused_at_its_line() {
    let rest = "[[preflight.tls]]\nhost = \"127.0.0.1\"\nport = \"${TLS_PORT}\"\n";
    let (_, err) = input_error(rest, &[("TLS_PORT", "eighty")]);
    assert_place(&err, line_of(rest, "TLS_PORT"));
    assert!(
        err.contains("`${TLS_PORT}` is `eighty`: expected a whole number"),
        "{err}"
    );
}

#[test]
fn a_variable_in_a_key_taken_as_written_is_refused() {
    let rest = "[[preflight.http]]\nname = \"${SERVICE}\"\nurl = \"http://127.0.0.1:1/\"\n";
    let (_, err) = input_error(rest, &[("SERVICE", "api")]);
    assert_place(&err, line_of(rest, "SERVICE"));
    assert!(err.contains("`name` is taken as written"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Command checks and log sources (issue 12).

#[test]
fn a_log_reads_a_path_or_a_command_not_both_nor_neither() {
    let both = "[[verify.log]]\npath = \"api.log\"\ncommand = \"kubectl logs -l app=api\"\npattern = \"ERROR\"\n";
    let (_, err) = verify_input_error(both);
    assert_place(&err, line_of_in(VERIFY_CREATES, both, "[[verify.log]]"));
    assert!(err.contains("reads `path` or `command`, not both"), "{err}");
    assert!(err.contains("keep one"), "{err}");

    let neither = "[[verify.log]]\nname = \"api\"\npattern = \"ERROR\"\n";
    let (_, err) = verify_input_error(neither);
    assert_place(&err, line_of_in(VERIFY_CREATES, neither, "[[verify.log]]"));
    assert!(err.contains("needs `path` or `command`"), "{err}");
}

#[test]
fn a_log_needs_pattern_or_must_contain() {
    let rest = "[[verify.http]]\nurl = \"http://127.0.0.1:1/\"\n\n[[verify.log]]\nname = \"api\"\ncommand = \"kubectl logs -l app=api\"\nlines = 50\n";
    let (_, err) = verify_input_error(rest);
    assert_place(&err, line_of_in(VERIFY_CREATES, rest, "[[verify.log]]"));
    assert!(
        err.contains(
            "needs `pattern` (no line may match it) or `must_contain` (a line must match it)"
        ),
        "{err}"
    );
    assert!(err.contains("must_contain = \"server started\""), "{err}");
}

#[test]
fn a_command_that_cannot_be_split_or_has_no_exit_code_is_refused() {
    let rest = "[[preflight.command]]\nname = \"x\"\ncommand = \"sh -c 'echo unbalanced\"\n";
    let (_, err) = input_error(rest, &[]);
    assert_place(&err, line_of(rest, "command = "));
    assert!(err.contains("cannot split the command"), "{err}");
    assert!(err.contains("shell = true"), "{err}");

    let rest = "[[preflight.command]]\nname = \"x\"\ncommand = \"true\"\nexpect_exit = []\n";
    let (_, err) = input_error(rest, &[]);
    assert_place(&err, line_of(rest, "[[preflight.command]]"));
    assert!(err.contains("no exit code would pass"), "{err}");

    let rest =
        "[[preflight.command]]\nname = \"x\"\ncommand = \"true\"\nstdout_matches = ['(unclosed']\n";
    let (_, err) = input_error(rest, &[]);
    assert_place(&err, line_of(rest, "stdout_matches"));
    assert!(err.contains("invalid regular expression"), "{err}");
}

#[test]
fn an_exit_code_no_program_can_return_is_refused() {
    let rest = "[[preflight.command]]\nname = \"x\"\ncommand = \"true\"\nexpect_exit = [0, 256]\n";
    let (_, err) = input_error(rest, &[]);
    assert_place(&err, line_of(rest, "[[preflight.command]]"));
    assert!(
        err.contains("expect_exit = 256: a program exits with 0 to 255"),
        "{err}"
    );
}

#[test]
fn notify_mistakes_stop_the_run_at_their_line() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "[[notify]]\nurl = \"${SLACK_WEBHOOK_URL}\"\nformat = \"teams\"\n",
            "format",
            "unknown variant `teams`",
        ),
        (
            "[[notify]]\nurl = \"${SLACK_WEBHOOK_URL}\"\non = [\"failure\"]\n",
            "failure",
            "unknown variant `failure`",
        ),
        (
            "[[notify]]\nurl = \"${SLACK_WEBHOOK_URL}\"\nwhen = [\"fail\"]\n",
            "when",
            "unknown key `when` in [notify]",
        ),
        (
            "[[notify]]\nurl = \"${SLACK_WEBHOOK_URL}\"\ntimeout = \"soon\"\n",
            "timeout",
            "timeout",
        ),
        (
            "[[notify]]\nurl = \"smtp://mail.example.com\"\n",
            "smtp",
            "notifications are sent over http:// or https://",
        ),
        (
            "[[notify]]\nurl = \"https://hooks.example.com/x\"\nheaders = { \"Bad Header\" = \"1\" }\n",
            "Bad Header",
            "is not a valid HTTP header name",
        ),
    ];
    for (rest, needle, message) in cases {
        let (_, err) = input_error(rest, &[]);
        assert_place(&err, line_of(rest, needle));
        assert!(err.contains(message), "{rest}\n{err}");
    }
}
