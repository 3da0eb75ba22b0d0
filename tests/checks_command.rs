//! `[[…command]]` checks and `[[verify.log]]` read from a command, end to end through the real
//! binary. The programs are `sh`, `printf` and small scripts the tests write into a temporary
//! directory: everything runs locally, each bounded by a timeout.
//!
//! Unix only: the scripts are shell scripts made executable with mode bits.
#![cfg(unix)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Output;
use std::time::{Duration, Instant};

use common::{Workdir, json_report, result, stderr, stdout};
use serde_json::Value;

/// Writes an executable shell script `name` running `body`.
fn script(w: &Workdir, name: &str, body: &str) {
    let path = w.write(name, &format!("#!/bin/sh\n{body}\n"));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn run(w: &Workdir, command: &str, args: &[&str], vars: &[(&str, &str)]) -> Output {
    let mut cmd = w.cmd();
    cmd.args([command, "--format", "json"]).args(args);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// `shipgate verify` that produced a report: its exit code, the report, stdout + stderr.
fn verify(w: &Workdir, args: &[&str], vars: &[(&str, &str)]) -> (Option<i32>, Value, String) {
    let out = run(w, "verify", args, vars);
    let all = format!("{}{}", stdout(&out), stderr(&out));
    (out.status.code(), json_report(&out), all)
}

fn message(r: &Value) -> &str {
    r["message"].as_str().expect("message")
}

// ------------------------------------------------------------------------------- command --

#[test]
fn a_wrong_exit_status_fails_with_the_code_and_the_output_tail() {
    let w = Workdir::new();
    script(
        &w,
        "validate.sh",
        "for i in $(seq 1 30); do echo \"checked table $i\"; done\necho 'lp_reports: 3 rows missing' >&2\nexit 3",
    );
    w.write(
        "shipgate.toml",
        "[[verify.command]]\nname = \"validate\"\ncommand = \"./validate.sh\"\n",
    );
    let (code, report, all) = verify(&w, &[], &[]);
    assert_eq!(code, Some(1), "{all}");
    let r = result(&report, "command.validate");
    assert_eq!(r["kind"], "command");
    assert_eq!(r["status"], "fail", "{r:#}");
    assert_eq!(
        message(r),
        "`./validate.sh` exited with 3 (expected 0): lp_reports: 3 rows missing"
    );
    assert_eq!(r["details"]["exit_code"], 3);
    // The tail of the output, bounded: the last 20 of 30 lines.
    let out = r["details"]["stdout"].as_str().unwrap();
    assert_eq!(out.lines().count(), 20, "{out}");
    assert!(out.starts_with("checked table 11\n"), "{out}");
    assert!(out.ends_with("checked table 30"), "{out}");
    assert_eq!(r["details"]["stderr"], "lp_reports: 3 rows missing");
    assert_eq!(r["location"]["line"], 1, "{r:#}");

    // The same code listed in expect_exit passes.
    w.write(
        "shipgate.toml",
        "[[verify.command]]\nname = \"validate\"\ncommand = \"./validate.sh\"\nexpect_exit = [0, 3]\n",
    );
    let (code, report, all) = verify(&w, &[], &[]);
    assert_eq!(code, Some(0), "{all}");
    let r = result(&report, "command.validate");
    assert!(
        message(r).starts_with("`./validate.sh` exited 3 in "),
        "{r:#}"
    );
}

#[test]
fn stdout_contains_and_matches() {
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        r#"[[preflight.command]]
name = "rollout"
command = "printf 'deployment \"api\" successfully rolled out\nreplicas: 3\n'"
stdout_contains = ["successfully rolled out"]
stdout_matches = ['replicas: [1-9]']
stderr_matches = ['^$']
"#,
    );
    let out = run(&w, "preflight", &[], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let report = json_report(&out);
    let r = result(&report, "command.rollout");
    assert_eq!(r["status"], "pass", "{r:#}");
    assert!(message(r).starts_with("`printf "), "{r:#}");

    w.write(
        "shipgate.toml",
        r#"[[preflight.command]]
name = "rollout"
command = "printf 'Waiting for deployment \"api\" rollout to finish: 1 of 3 updated replicas are available...\n'"
stdout_contains = ["successfully rolled out"]
stdout_matches = ['replicas: [1-9]']
"#,
    );
    let out = run(&w, "preflight", &[], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let report = json_report(&out);
    let r = result(&report, "command.rollout");
    assert_eq!(r["status"], "fail");
    let m = message(r);
    assert!(m.contains("exited 0 in "), "{m}");
    assert!(
        m.contains(
            "but stdout does not contain `successfully rolled out`; stdout does not match `replicas: [1-9]`"
        ),
        "{m}"
    );
    assert!(
        r["details"]["stdout"]
            .as_str()
            .unwrap()
            .contains("1 of 3 updated"),
        "{r:#}"
    );
}

#[test]
fn expect_json_on_a_command_printing_json() {
    let w = Workdir::new();
    script(
        &w,
        "health.sh",
        r#"printf '{"status": "degraded", "checks": [{"name": "db", "ok": true}, {"name": "cache", "ok": false}], "version": "2.4.1"}'"#,
    );
    let config = |assertions: &str| {
        format!(
            "[[verify.command]]\nname = \"health\"\ncommand = \"./health.sh\"\nexpect_json = [{assertions}]\n"
        )
    };
    w.write(
        "shipgate.toml",
        &config(r#"'$.checks length == 2', '$.version matches "^2\\."', '$.checks[0].ok == true'"#),
    );
    let (code, report, all) = verify(&w, &[], &[]);
    assert_eq!(code, Some(0), "{all}");
    assert_eq!(result(&report, "command.health")["status"], "pass");

    w.write(
        "shipgate.toml",
        &config(r#"'$.status == "healthy"', '$.checks[?@.ok == false] absent'"#),
    );
    let (code, report, all) = verify(&w, &[], &[]);
    assert_eq!(code, Some(1), "{all}");
    let r = result(&report, "command.health");
    let failures: Vec<&str> = r["details"]["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert_eq!(failures.len(), 2, "{r:#}");
    assert!(
        failures[0].contains(r#"$.status == "healthy""#) && failures[0].contains("degraded"),
        "{failures:?}"
    );
    assert!(failures[1].contains("absent"), "{failures:?}");

    // Output that is not JSON says so.
    script(&w, "health.sh", "echo 'all good'");
    w.write("shipgate.toml", &config(r#"'$.status == "ok"'"#));
    let (code, report, all) = verify(&w, &[], &[]);
    assert_eq!(code, Some(1), "{all}");
    assert!(
        message(result(&report, "command.health")).contains("stdout is not JSON"),
        "{report:#}"
    );
}

#[test]
fn a_timeout_kills_the_command_and_says_so() {
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        "[[verify.command]]\nname = \"slow\"\ncommand = \"sh -c 'echo waiting for rollout; sleep 5; touch finished'\"\ntimeout = \"500ms\"\n",
    );
    let started = Instant::now();
    let (code, report, all) = verify(&w, &[], &[]);
    let took = started.elapsed();
    assert_eq!(code, Some(1), "{all}");
    let r = result(&report, "command.slow");
    assert_eq!(r["status"], "fail");
    assert_eq!(
        message(r),
        "`sh -c 'echo waiting for rollout; sleep 5; touch finished'` did not finish within 500ms and was killed"
    );
    assert!(took < Duration::from_secs(4), "took {took:?}");
    // What it printed before it was killed is kept: often why it hung.
    assert_eq!(r["details"]["stdout"], "waiting for rollout", "{r:#}");
    // Killed, not left running: the sleep's successor never runs.
    std::thread::sleep(
        Duration::from_secs(5) - took.min(Duration::from_secs(5)) + Duration::from_millis(500),
    );
    assert!(
        !w.path().join("finished").exists(),
        "the command outlived its timeout"
    );
}

#[test]
fn retry_until_consecutive_passes() {
    let w = Workdir::new();
    // Fails on runs 1 and 2, passes from the 3rd: a counter in a file.
    script(
        &w,
        "rollout.sh",
        "n=$(cat count 2>/dev/null || echo 0)\nn=$((n + 1))\necho $n > count\nif [ $n -ge 3 ]; then echo ready; else echo \"run $n: not ready\"; exit 1; fi",
    );
    w.write(
        "shipgate.toml",
        "[[verify.command]]\nname = \"rollout\"\ncommand = \"./rollout.sh\"\nstdout_contains = [\"ready\"]\nretry = { timeout = \"10s\", interval = \"100ms\" }\nconsecutive = 2\n",
    );
    let (code, report, all) = verify(&w, &[], &[]);
    assert_eq!(code, Some(0), "{all}");
    let r = result(&report, "command.rollout");
    assert_eq!(r["status"], "pass", "{r:#}");
    // Runs 1 and 2 fail, 3 and 4 pass in a row.
    assert_eq!(r["details"]["attempts"], 4, "{r:#}");
    assert!(message(r).contains("(4 attempts over "), "{r:#}");
    assert_eq!(w.read("count").trim(), "4");

    // Without retry one failed run is the verdict.
    std::fs::remove_file(w.path().join("count")).unwrap();
    w.write(
        "shipgate.toml",
        "[[verify.command]]\nname = \"rollout\"\ncommand = \"./rollout.sh\"\n",
    );
    let (code, report, all) = verify(&w, &[], &[]);
    assert_eq!(code, Some(1), "{all}");
    let r = result(&report, "command.rollout");
    assert_eq!(
        message(r),
        "`./rollout.sh` exited with 1 (expected 0): run 1: not ready"
    );
    assert_eq!(w.read("count").trim(), "1");
}

#[test]
fn shell_true_runs_through_sh_and_says_so() {
    let w = Workdir::new();
    w.write("a.txt", "one\ntwo\nthree\n");
    w.write(
        "shipgate.toml",
        "[[verify.command]]\nname = \"lines\"\ncommand = \"cat a.txt | wc -l && echo done\"\nshell = true\nstdout_matches = ['(?m)^\\s*3\\s*$']\n",
    );
    let (code, report, all) = verify(&w, &[], &[]);
    assert_eq!(code, Some(0), "{all}");
    let r = result(&report, "command.lines");
    assert_eq!(r["status"], "pass", "{r:#}");
    assert!(
        message(r).starts_with(
            "`sh -c 'cat a.txt | wc -l && echo done'` (through a shell: shell = true) exited 0"
        ),
        "{r:#}"
    );
    assert_eq!(r["details"]["shell"], true);

    // Without the shell the pipe is an argument of `cat` (the message quotes it as one), and
    // `cat` refuses `-l`: no shell was used.
    w.write(
        "shipgate.toml",
        "[[verify.command]]\nname = \"lines\"\ncommand = \"cat a.txt | wc -l\"\n",
    );
    let (code, report, all) = verify(&w, &[], &[]);
    assert_eq!(code, Some(1), "{all}");
    let r = result(&report, "command.lines");
    assert!(
        message(r).starts_with("`cat a.txt '|' wc -l` exited with 1"),
        "{r:#}"
    );
    assert_eq!(r["details"]["shell"], false);
}

#[test]
fn secrets_in_env_and_argv_never_reach_the_report() {
    let w = Workdir::new();
    // The program prints what it was given, in argv and in its environment.
    script(
        &w,
        "leak.sh",
        "echo \"arg: $1\"\necho \"env: $API_TOKEN $DEPLOY_PASSWORD\"\necho \"env on stderr: $API_TOKEN\" >&2\nexit 4",
    );
    w.write(
        "shipgate.toml",
        r#"[[verify.command]]
name = "leak"
command = "./leak.sh --token=${API_TOKEN}"
env = { API_TOKEN = "${API_TOKEN}", DEPLOY_PASSWORD = "literal-pass-9431" }
stdout_contains = ["${API_TOKEN}"]
"#,
    );
    let token = "tok-6f1e2d3c4b5a";
    for extra in [&[][..], &["--dry-run"][..]] {
        let (code, report, all) = verify(&w, extra, &[("API_TOKEN", token)]);
        assert!(!all.contains(token), "the token leaked:\n{all}");
        assert!(
            !all.contains("literal-pass-9431"),
            "the password leaked:\n{all}"
        );
        let r = result(&report, "command.leak");
        if extra.is_empty() {
            assert_eq!(code, Some(1), "{all}");
            assert!(
                r["details"]["stdout"]
                    .as_str()
                    .unwrap()
                    .contains("arg: --token=***"),
                "{r:#}"
            );
            assert!(
                r["details"]["stderr"]
                    .as_str()
                    .unwrap()
                    .contains("env on stderr: ***"),
                "{r:#}"
            );
        } else {
            assert_eq!(code, Some(0), "{all}");
            assert!(message(r).contains("--token=***"), "{r:#}");
        }
    }
}

#[test]
fn dry_run_runs_nothing_and_shows_the_command() {
    let w = Workdir::new();
    w.write(
        "shipgate.toml",
        "[[verify.command]]\nname = \"touch\"\ncommand = \"touch side-effect\"\nenv = { MODE = \"x\" }\n\n\
         [[verify.command]]\nname = \"shell\"\ncommand = \"touch shell-effect\"\nshell = true\n\n\
         [[verify.log]]\nname = \"logs\"\ncommand = \"sh -c 'touch log-effect; echo ok'\"\nmust_contain = \"ok\"\n",
    );
    let (code, report, all) = verify(&w, &["--dry-run"], &[]);
    assert_eq!(code, Some(0), "{all}");
    for (id, file, says) in [
        (
            "command.touch",
            "side-effect",
            "dry run: would run `touch side-effect` with MODE set",
        ),
        (
            "command.shell",
            "shell-effect",
            "dry run: would run `sh -c 'touch shell-effect'` (through a shell: shell = true)",
        ),
        (
            "log.logs",
            "log-effect",
            "dry run: would run `sh -c 'touch log-effect; echo ok'` and read the last 100 lines of its output",
        ),
    ] {
        let r = result(&report, id);
        assert_eq!(r["status"], "skip", "{r:#}");
        assert_eq!(message(r), says);
        assert!(!w.path().join(file).exists(), "{id} ran under --dry-run");
    }
    // Without --dry-run they do run: the files above prove a real run would have made them.
    let (code, _, all) = verify(&w, &[], &[]);
    assert_eq!(code, Some(0), "{all}");
    for file in ["side-effect", "shell-effect", "log-effect"] {
        assert!(w.path().join(file).exists(), "{file}");
    }
}

#[test]
fn cwd_env_and_needs() {
    let w = Workdir::new();
    w.write("deploy/marker", "");
    w.write(
        "shipgate.toml",
        "[[verify.command]]\nname = \"first\"\ncommand = \"false\"\n\n\
         [[verify.command]]\nname = \"where\"\ncommand = \"sh -c 'ls; echo region=$REGION'\"\ncwd = \"deploy\"\nenv = { REGION = \"eu-west-1\" }\nstdout_contains = [\"marker\", \"region=eu-west-1\"]\n\n\
         [[verify.command]]\nname = \"after\"\ncommand = \"true\"\nneeds = [\"first\"]\n",
    );
    let (code, report, all) = verify(&w, &[], &[]);
    assert_eq!(code, Some(1), "{all}");
    assert_eq!(
        result(&report, "command.where")["status"],
        "pass",
        "{report:#}"
    );
    let after = result(&report, "command.after");
    assert_eq!(after["status"], "skip");
    assert_eq!(
        message(after),
        "skipped: needs command.first, which did not pass"
    );
}

// ------------------------------------------------------------------------- log: command --

#[test]
fn log_from_a_command_with_pattern_and_must_contain() {
    let w = Workdir::new();
    let mut lines: Vec<String> = (1..=300).map(|i| format!("GET /api/{i} 200")).collect();
    lines.insert(10, "ERROR old failure, out of range".into());
    lines.push("Listening on :8080".into());
    lines.push("GET /health 200".into());
    w.write("pods.log", &(lines.join("\n") + "\n"));
    script(&w, "fake-kubectl", "cat pods.log");
    let config = |keys: &str| {
        format!(
            "[[verify.log]]\nname = \"api\"\ncommand = \"./fake-kubectl logs -l app=api --since=10m\"\n{keys}\n"
        )
    };
    w.write(
        "shipgate.toml",
        &config("pattern = \"(?i)error\"\nmust_contain = \"Listening on\""),
    );
    let (code, report, all) = verify(&w, &[], &[]);
    assert_eq!(code, Some(0), "{all}");
    let r = result(&report, "log.api");
    assert_eq!(r["status"], "pass", "{r:#}");
    assert_eq!(
        message(r),
        "no line matches `(?i)error`; `Listening on` found 2 from the end: Listening on :8080 in the last 100 lines of the output of `./fake-kubectl logs -l app=api --since=10m`"
    );
    assert_eq!(
        r["details"]["command"],
        "./fake-kubectl logs -l app=api --since=10m"
    );

    // Reading further back reaches the error.
    w.write(
        "shipgate.toml",
        &config("pattern = \"(?i)error\"\nlines = 1000"),
    );
    let (code, report, all) = verify(&w, &[], &[]);
    assert_eq!(code, Some(1), "{all}");
    assert!(
        message(result(&report, "log.api")).starts_with(
            "1 of the last 303 lines of the output of `./fake-kubectl logs -l app=api --since=10m` matches `(?i)error`; first: ERROR old failure"
        ),
        "{report:#}"
    );

    // must_contain alone: absent fails, saying what it looked for and where.
    w.write(
        "shipgate.toml",
        &config("must_contain = \"migrations complete\""),
    );
    let (code, report, all) = verify(&w, &[], &[]);
    assert_eq!(code, Some(1), "{all}");
    let r = result(&report, "log.api");
    assert_eq!(r["status"], "fail");
    assert_eq!(
        message(r),
        "no line matches `migrations complete` in the last 100 lines of the output of `./fake-kubectl logs -l app=api --since=10m` (must_contain)"
    );
}

#[test]
fn must_contain_on_a_file() {
    let w = Workdir::new();
    w.write("worker.log", "starting\nconnected to redis\njob 1 done\n");
    w.write(
        "shipgate.toml",
        "[[verify.log]]\npath = \"worker.log\"\nmust_contain = \"connected to (redis|postgres)\"\n",
    );
    let (code, report, all) = verify(&w, &[], &[]);
    assert_eq!(code, Some(0), "{all}");
    let r = result(&report, "log.worker");
    assert_eq!(
        message(r),
        "`connected to (redis|postgres)` found 2 from the end: connected to redis in the last 3 lines of worker.log"
    );

    w.write("worker.log", "starting\nretrying redis\n");
    let (code, report, all) = verify(&w, &[], &[]);
    assert_eq!(code, Some(1), "{all}");
    assert_eq!(result(&report, "log.worker")["status"], "fail");
}

#[test]
fn a_failing_log_command_fails_or_warns_when_optional() {
    let w = Workdir::new();
    let config = |extra: &str| {
        format!(
            "[[verify.log]]\nname = \"api\"\ncommand = \"sh -c 'echo No resources found >&2; exit 1'\"\npattern = \"(?i)error\"\n{extra}"
        )
    };
    w.write("shipgate.toml", &config(""));
    let (code, report, all) = verify(&w, &[], &[]);
    assert_eq!(code, Some(1), "{all}");
    let r = result(&report, "log.api");
    assert_eq!(r["status"], "fail");
    assert_eq!(
        message(r),
        "`sh -c 'echo No resources found >&2; exit 1'` exited with 1: No resources found"
    );
    w.write("shipgate.toml", &config("optional = true\n"));
    let (code, report, all) = verify(&w, &[], &[]);
    assert_eq!(code, Some(0), "{all}");
    assert_eq!(result(&report, "log.api")["status"], "warn");
}

#[test]
fn programs_see_the_env_file_as_a_shell_that_sourced_it_would() {
    // `./scripts/verify-env.sh` in the runbook reads the variables of `.env.production`.
    let w = Workdir::new();
    script(
        &w,
        "verify-env.sh",
        "echo \"region=$DEPLOY_REGION stage=$DEPLOY_STAGE\"\n[ -n \"$API_TOKEN\" ] || exit 3\necho \"token=$API_TOKEN\"",
    );
    w.write(
        ".env.production",
        "DEPLOY_REGION=eu-west-1\nDEPLOY_STAGE=from-file\nAPI_TOKEN=tok-envfile-SENTINEL-77\n",
    );
    w.write(
        "shipgate.toml",
        "[[verify.command]]\nname = \"verify-env\"\ncommand = \"./verify-env.sh\"\n\
         stdout_contains = [\"region=eu-west-1 stage=from-ci\"]\n\n\
         [[verify.log]]\nname = \"env\"\ncommand = \"./verify-env.sh\"\nmust_contain = \"region=eu-west-1\"\n\
         pattern = \"stage=from-file\"\n",
    );
    // The deploy system's own value wins over the file's, as everywhere else.
    let (code, report, all) = verify(
        &w,
        &["--env-file", ".env.production"],
        &[("DEPLOY_STAGE", "from-ci")],
    );
    assert_eq!(code, Some(0), "{all}");
    assert_eq!(result(&report, "command.verify-env")["status"], "pass");
    assert_eq!(result(&report, "log.env")["status"], "pass");
    assert!(
        !all.contains("tok-envfile-SENTINEL-77"),
        "the file's token leaked:\n{all}"
    );
    // Without the file the script finds no token.
    let (code, report, _) = verify(&w, &[], &[("DEPLOY_STAGE", "from-ci")]);
    assert_eq!(code, Some(1));
    assert!(
        message(result(&report, "command.verify-env")).contains("exited with 3"),
        "{report:#}"
    );
}
