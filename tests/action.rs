//! The GitHub Action (`action.yml`): its install script against a loopback release server, and
//! its run step under a simulated runner environment. The scripts run as the runner runs them
//! (`bash action/install.sh`, `bash action/run.sh`), with only the variables a runner sets.
#![cfg(unix)]

mod common;

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use common::{TestServer, Workdir, parse_github_output, stderr, stdout};
use sha2::{Digest, Sha256};

const VERSION: &str = "9.9.9";
const TARGET: &str = "x86_64-unknown-linux-musl";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn archive_name() -> String {
    format!("shipgate-{VERSION}-{TARGET}.tar.gz")
}

/// Release files served at `/<tag>/<name>`, counting every request.
#[derive(Clone, Default)]
struct Releases {
    files: Arc<HashMap<String, Vec<u8>>>,
    requests: Arc<AtomicUsize>,
}

impl Releases {
    fn start(files: HashMap<String, Vec<u8>>) -> (TestServer, Releases) {
        let releases = Releases {
            files: Arc::new(files),
            requests: Arc::default(),
        };
        let router =
            axum::Router::new()
                .route(
                    "/{tag}/{name}",
                    axum::routing::get(
                        |State(r): State<Releases>,
                         UrlPath((tag, name)): UrlPath<(String, String)>| async move {
                            r.requests.fetch_add(1, Ordering::SeqCst);
                            match r.files.get(&format!("{tag}/{name}")) {
                                Some(bytes) => (StatusCode::OK, bytes.clone()),
                                None => (StatusCode::NOT_FOUND, b"Not Found".to_vec()),
                            }
                        },
                    ),
                )
                .with_state(releases.clone());
        (TestServer::start(router), releases)
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// A `.tar.gz` holding `shipgate` (the given executable) and a README at its top level, as the
/// release workflow packs it.
fn archive_of(w: &Workdir, executable: &Path) -> Vec<u8> {
    let stage = w.path().join("stage");
    std::fs::create_dir_all(&stage).unwrap();
    std::fs::copy(executable, stage.join("shipgate")).unwrap();
    std::fs::write(stage.join("README.md"), "shipgate\n").unwrap();
    let out = w.path().join("archive.tar.gz");
    let status = Command::new("tar")
        .arg("-czf")
        .arg(&out)
        .arg("-C")
        .arg(&stage)
        .args(["shipgate", "README.md"])
        .status()
        .expect("run tar");
    assert!(status.success());
    std::fs::read(out).unwrap()
}

fn sha256_line(bytes: &[u8], name: &str) -> Vec<u8> {
    let hex: String = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{hex}  {name}\n").into_bytes()
}

/// A release of the real binary, and its checksum.
fn good_release(w: &Workdir) -> HashMap<String, Vec<u8>> {
    let archive = archive_of(w, &assert_cmd::cargo::cargo_bin("shipgate"));
    let name = archive_name();
    HashMap::from([
        (
            format!("v{VERSION}/{name}.sha256"),
            sha256_line(&archive, &name),
        ),
        (format!("v{VERSION}/{name}"), archive),
    ])
}

/// The runner's per-job folders and files, under one temporary directory.
struct Runner {
    w: Workdir,
}

impl Runner {
    fn new() -> Runner {
        let w = Workdir::new();
        for dir in ["tool-cache", "temp"] {
            std::fs::create_dir_all(w.path().join(dir)).unwrap();
        }
        Runner { w }
    }

    fn tool_cache(&self) -> PathBuf {
        self.w.path().join("tool-cache")
    }

    fn file(&self, name: &str) -> String {
        std::fs::read_to_string(self.w.path().join(name)).unwrap_or_default()
    }

    fn outputs(&self) -> HashMap<String, String> {
        parse_github_output(&self.file("github_output")).0
    }

    /// `bash action/install.sh` as the composite action's first step runs it; `env` adds to (or
    /// overrides) the runner's variables.
    fn install(&self, env: &[(&str, &str)], path: Option<&str>) -> Output {
        let mut cmd = Command::new("bash");
        cmd.arg(repo().join("action/install.sh"))
            .current_dir(self.w.path())
            .env_clear()
            .env(
                "PATH",
                path.map(str::to_string)
                    .unwrap_or_else(|| std::env::var("PATH").unwrap_or_default()),
            )
            .env("HOME", self.w.path())
            .env("GITHUB_ACTIONS", "true")
            .env("RUNNER_OS", "Linux")
            .env("RUNNER_ARCH", "X64")
            .env("RUNNER_TOOL_CACHE", self.tool_cache())
            .env("RUNNER_TEMP", self.w.path().join("temp"))
            .env("GITHUB_PATH", self.w.path().join("github_path"))
            .env("GITHUB_OUTPUT", self.w.path().join("github_output"))
            .env("GITHUB_ACTION_PATH", repo());
        for (k, v) in env {
            cmd.env(k, v);
        }
        run_bounded(cmd)
    }
}

fn run_bounded(mut cmd: Command) -> Output {
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    common::process::finish(child, Duration::from_secs(120))
}

fn both(out: &Output) -> String {
    format!("stdout:\n{}\nstderr:\n{}", stdout(out), stderr(out))
}

/// A `cargo` that records how it was called and "builds" by copying the real binary into
/// `--root`/bin, so the source path is tested without minutes of compiling.
fn fake_cargo(w: &Workdir) -> String {
    let bin = w.path().join("fake-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let script = bin.join("cargo");
    std::fs::write(
        &script,
        format!(
            "#!/usr/bin/env bash\nprintf '%s\\n' \"$@\" > {log}\nroot=\"${{@: -1}}\"\nmkdir -p \"$root/bin\"\ncp {real} \"$root/bin/shipgate\"\necho '   Installed package `shipgate` (fake cargo)' >&2\n",
            log = w.path().join("cargo-args").display(),
            real = assert_cmd::cargo::cargo_bin("shipgate").display(),
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    format!("{}:/usr/bin:/bin", bin.display())
}

// ---------------------------------------------------------------------------------- install --

#[test]
fn installs_a_verified_release_and_the_next_use_takes_it_from_the_tool_cache() {
    let runner = Runner::new();
    let (server, releases) = Releases::start(good_release(&runner.w));
    let base = server.url("");
    let env = [
        ("SHIPGATE_DOWNLOAD_URL", base.as_str()),
        ("SHIPGATE_VERSION", VERSION),
    ];

    let out = runner.install(&env, None);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    let installed = runner.tool_cache().join(format!("shipgate/{VERSION}/x64"));
    let binary = installed.join("shipgate");
    assert_eq!(
        runner.outputs()["path"],
        binary.display().to_string(),
        "{}",
        both(&out)
    );
    assert_eq!(
        runner.file("github_path").trim(),
        installed.display().to_string()
    );
    assert!(
        runner
            .tool_cache()
            .join(format!("shipgate/{VERSION}/x64.complete"))
            .exists()
    );
    // The first run of the installed binary is part of the install: it proves it runs here.
    assert!(
        stdout(&out).contains(&format!("shipgate {}", env!("CARGO_PKG_VERSION"))),
        "{}",
        both(&out)
    );
    assert!(stderr(&out).contains("SHA-256"), "{}", both(&out));
    assert_eq!(releases.requests(), 2, "the checksum and the archive");

    // A second use in the same job: nothing downloaded.
    std::fs::remove_file(runner.w.path().join("github_output")).unwrap();
    let out = runner.install(&env, None);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert!(
        stderr(&out).contains("from the tool cache"),
        "{}",
        both(&out)
    );
    assert_eq!(releases.requests(), 2, "no new download");
    assert_eq!(runner.outputs()["path"], binary.display().to_string());
}

#[test]
fn at_a_moving_version_tag_it_downloads_the_release_of_the_actions_own_source() {
    let runner = Runner::new();
    let (server, releases) = Releases::start(good_release(&runner.w));
    // The action's checkout at `@v9`: its Cargo.toml names the release it was tagged from.
    let action = runner.w.write(
        "action-checkout/Cargo.toml",
        &format!("[package]\nname = \"shipgate\"\nversion = \"{VERSION}\"\n"),
    );
    let action = action.parent().unwrap().display().to_string();
    let base = server.url("/");
    let out = runner.install(
        &[
            ("SHIPGATE_DOWNLOAD_URL", base.as_str()),
            ("GITHUB_ACTION_REF", "v9"),
            ("GITHUB_ACTION_PATH", action.as_str()),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert_eq!(releases.requests(), 2);
    assert!(runner.outputs()["path"].ends_with(&format!("shipgate/{VERSION}/x64/shipgate")));
}

#[test]
fn a_download_that_does_not_match_its_checksum_is_refused_and_nothing_runs() {
    let runner = Runner::new();
    // The tampered archive's "shipgate" leaves a mark when anything runs it.
    let mark = runner.w.path().join("it-ran");
    let evil = runner.w.write(
        "evil/shipgate",
        &format!("#!/bin/sh\ntouch {}\n", mark.display()),
    );
    std::fs::set_permissions(&evil, std::fs::Permissions::from_mode(0o755)).unwrap();
    let tampered = archive_of(&runner.w, &evil);
    let genuine = good_release(&runner.w);
    let name = archive_name();
    let mut files = genuine.clone();
    files.insert(format!("v{VERSION}/{name}"), tampered);
    let (server, _releases) = Releases::start(files);
    let base = server.url("");

    let out = runner.install(
        &[
            ("SHIPGATE_DOWNLOAD_URL", base.as_str()),
            ("SHIPGATE_VERSION", VERSION),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("checksum mismatch for {name}"))
            && err.contains("Nothing was installed or run"),
        "{}",
        both(&out)
    );
    assert!(
        err.contains("::error title=shipgate install::checksum mismatch"),
        "{err}"
    );
    assert!(!mark.exists(), "the tampered binary ran");
    assert!(
        !runner
            .tool_cache()
            .join("shipgate")
            .join(VERSION)
            .join("x64")
            .exists()
    );
    assert_eq!(runner.file("github_path"), "");
    assert!(!runner.outputs().contains_key("path"));
    // Nothing left behind in the runner's temp folder either.
    assert_eq!(
        std::fs::read_dir(runner.w.path().join("temp"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn a_checksum_file_that_holds_no_checksum_is_refused() {
    let runner = Runner::new();
    let mut files = good_release(&runner.w);
    let name = archive_name();
    files.insert(
        format!("v{VERSION}/{name}.sha256"),
        b"<html>rate limited</html>\n".to_vec(),
    );
    let (server, _releases) = Releases::start(files);
    let base = server.url("");
    let out = runner.install(
        &[
            ("SHIPGATE_DOWNLOAD_URL", base.as_str()),
            ("SHIPGATE_VERSION", VERSION),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    assert!(
        stderr(&out).contains("does not hold a SHA-256"),
        "{}",
        both(&out)
    );
    assert!(!runner.outputs().contains_key("path"));
}

#[test]
fn a_platform_without_a_release_binary_builds_from_source_and_says_so() {
    let runner = Runner::new();
    let path = fake_cargo(&runner.w);
    let out = runner.install(
        &[("RUNNER_ARCH", "ARM"), ("GITHUB_ACTION_REF", "v1")],
        Some(&path),
    );
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert!(
        stderr(&out).contains("no release binary is built for Linux ARM: building from source"),
        "{}",
        both(&out)
    );
    let root = runner.w.path().join("temp/shipgate-from-source");
    assert_eq!(
        runner.w.read("cargo-args").lines().collect::<Vec<_>>(),
        [
            "install",
            "--locked",
            "--path",
            &repo().display().to_string(),
            "--root",
            &root.display().to_string()
        ]
    );
    assert_eq!(
        runner.outputs()["path"],
        root.join("bin/shipgate").display().to_string()
    );
    assert_eq!(
        runner.file("github_path").trim(),
        root.join("bin").display().to_string()
    );
}

#[test]
fn a_branch_or_commit_ref_builds_from_source_and_a_tag_without_release_too() {
    let runner = Runner::new();
    let path = fake_cargo(&runner.w);
    let out = runner.install(&[("GITHUB_ACTION_REF", "main")], Some(&path));
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert!(
        stderr(&out)
            .contains("the action is used at main, which has no release: building from source"),
        "{}",
        both(&out)
    );

    // A version tag whose release is not published (yet): built, and said so.
    let (server, releases) = Releases::start(HashMap::new());
    let base = server.url("");
    let out = runner.install(
        &[
            ("GITHUB_ACTION_REF", "v9.9.9"),
            ("SHIPGATE_DOWNLOAD_URL", base.as_str()),
        ],
        Some(&path),
    );
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert!(
        stderr(&out).contains("no release 9.9.9 is published for x86_64-unknown-linux-musl (yet): building from source"),
        "{}",
        both(&out)
    );
    assert_eq!(releases.requests(), 1);

    // An explicit version that does not exist is the user's mistake: no silent build.
    let out = runner.install(
        &[
            ("SHIPGATE_VERSION", "9.9.8"),
            ("SHIPGATE_DOWNLOAD_URL", base.as_str()),
        ],
        Some(&path),
    );
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    assert!(
        stderr(&out).contains("there is no release 9.9.8"),
        "{}",
        both(&out)
    );
}

#[test]
fn building_from_source_without_cargo_says_what_to_do() {
    let runner = Runner::new();
    let out = runner.install(&[("GITHUB_ACTION_REF", "main")], Some("/usr/bin:/bin"));
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    assert!(
        stderr(&out).contains(
            "needs cargo (Rust), which this runner lacks: use the action at a release tag"
        ),
        "{}",
        both(&out)
    );
}

#[test]
fn a_bad_version_input_is_refused() {
    let runner = Runner::new();
    let out = runner.install(&[("SHIPGATE_VERSION", "latest; rm -rf /")], None);
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    assert!(
        stderr(&out).contains("use a release version like 1.4.0"),
        "{}",
        both(&out)
    );
}

// -------------------------------------------------------------------------------------- run --

/// `bash action/run.sh` as the composite action's second step runs it.
fn run_step(w: &Workdir, inputs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new("bash");
    cmd.arg(repo().join("action/run.sh"))
        .current_dir(w.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GITHUB_ACTIONS", "true")
        .env("RUNNER_TEMP", w.path())
        .env("GITHUB_OUTPUT", w.path().join("github_output"))
        .env("GITHUB_STEP_SUMMARY", w.path().join("summary.md"))
        .env("SHIPGATE_BIN", assert_cmd::cargo::cargo_bin("shipgate"));
    for (k, v) in inputs {
        cmd.env(k, v);
    }
    run_bounded(cmd)
}

#[test]
fn the_run_step_runs_the_command_and_writes_every_output() {
    let w = Workdir::new();
    w.write(
        "deploy/shipgate.toml",
        "[[preflight.path]]\nname = \"reports\"\npath = \"reports\"\n\n[[preflight.path]]\nname = \"missing\"\npath = \"no such dir\"\n",
    );
    std::fs::create_dir(w.path().join("reports")).unwrap();
    std::fs::create_dir(w.path().join("dir with space")).unwrap();
    let out = run_step(
        &w,
        &[
            ("INPUT_COMMAND", "preflight"),
            ("INPUT_CONFIG", "deploy/shipgate.toml"),
            // Quotes group words; shell syntax stays text (no file `pwned` is made).
            (
                "INPUT_ARGS",
                "--skip path.missing --writable-dir 'dir with space' --writable-dir \"$(touch pwned)\"",
            ),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    assert!(
        !w.path().join("pwned").exists(),
        "args went through a shell"
    );
    let outputs = parse_github_output(&w.read("github_output")).0;
    assert_eq!(outputs["status"], "fail", "{outputs:?}");
    assert_eq!(outputs["exit-code"], "1");
    // reports and "dir with space": exists, writable, space each (the free-space check warns
    // on a disk fuller than its threshold: this machine's, not the action's, business).
    let count = |name: &str| outputs[name].parse::<u32>().unwrap();
    assert_eq!(count("passed") + count("warnings"), 6, "{}", both(&out));
    assert_eq!(outputs["failed"], "1", "{}", both(&out));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&outputs["report"]).unwrap()).unwrap();
    assert_eq!(report["command"], "preflight");
    let messages: Vec<(&str, &str)> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["status"].as_str().unwrap(),
                r["message"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(
        messages
            .iter()
            .any(|(s, m)| *s == "fail" && m.contains("$(touch pwned)")),
        "{messages:?}"
    );
    assert!(
        !messages.iter().any(|(_, m)| m.contains("no such dir")),
        "--skip path.missing was not honoured: {messages:?}"
    );
    assert!(w.read("summary.md").contains("preflight"));
}

#[test]
fn the_run_step_passes_and_reports_exit_code_zero() {
    let w = Workdir::new();
    let out = run_step(
        &w,
        &[
            ("INPUT_COMMAND", "preflight"),
            ("INPUT_ARGS", "--require-env PATH"),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    let outputs = parse_github_output(&w.read("github_output")).0;
    assert_eq!(outputs["status"], "pass");
    assert_eq!(outputs["exit-code"], "0");
}

#[test]
fn wrong_inputs_exit_2_with_an_annotation_and_still_set_exit_code() {
    let w = Workdir::new();
    for (inputs, says) in [
        (
            vec![("INPUT_COMMAND", "deploy")],
            "`command` input is `deploy`",
        ),
        (
            vec![
                ("INPUT_COMMAND", "verify"),
                ("INPUT_ARGS", "--http 'http://x"),
            ],
            "unclosed quote",
        ),
        (
            vec![
                ("INPUT_COMMAND", "verify"),
                ("INPUT_ARGS", "--no-such-flag"),
            ],
            "--no-such-flag",
        ),
        (
            vec![
                ("INPUT_COMMAND", "verify"),
                ("INPUT_PR_COMMENT", "sometimes"),
            ],
            "invalid value 'sometimes' for '--pr-comment <WHEN>'",
        ),
    ] {
        let _ = std::fs::remove_file(w.path().join("github_output"));
        let out = run_step(&w, &inputs);
        assert_eq!(out.status.code(), Some(2), "{inputs:?}: {}", both(&out));
        let all = format!("{}{}", stdout(&out), stderr(&out));
        assert!(all.contains(says), "{inputs:?}: {all}");
        let outputs = parse_github_output(&w.read("github_output")).0;
        assert_eq!(outputs["exit-code"], "2");
    }
    // The annotation for bad input, on the step.
    let out = run_step(&w, &[("INPUT_COMMAND", "deploy")]);
    assert!(
        format!("{}{}", stdout(&out), stderr(&out))
            .contains("::error title=shipgate%3A invalid input::"),
        "{}",
        both(&out)
    );
}

#[test]
fn github_action_takes_no_options_of_its_own() {
    let w = Workdir::new();
    let out = w
        .cmd()
        .args(["github-action", "--dry-run"])
        .env("INPUT_COMMAND", "preflight")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", both(&out));
    assert!(stderr(&out).contains("takes no options"), "{}", both(&out));
}

#[test]
fn an_unreachable_release_server_is_named_with_what_to_check() {
    let runner = Runner::new();
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let out = runner.install(
        &[
            ("SHIPGATE_DOWNLOAD_URL", base.as_str()),
            ("SHIPGATE_VERSION", VERSION),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    assert!(
        stderr(&out).contains(&format!("could not reach {base}/v{VERSION}/"))
            && stderr(&out).contains("set download-url"),
        "{}",
        both(&out)
    );
    assert!(!runner.outputs().contains_key("path"));
    assert_eq!(
        std::fs::read_dir(runner.w.path().join("temp"))
            .unwrap()
            .count(),
        0
    );
}
