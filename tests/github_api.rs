//! GitHub's REST API as GitHub describes it (Prism serving @octokit/openapi, see
//! tests/common/prism.rs): the requests shipgate will send for check runs and issue comments
//! are accepted, and broken ones are refused, so a test that passes here means GitHub's
//! description agrees with us. The refusals pinned here are what later tests rely on to catch
//! our mistakes; should a new Prism or description stop enforcing one, these fail first.

mod common;

use common::prism::{Prism, Reply};
use serde_json::{Value, json};

const HEAD_SHA: &str = "0123456789abcdef0123456789abcdef01234567";

fn annotation(level: &str) -> Value {
    json!({
        "path": "shipgate.toml",
        "start_line": 3,
        "end_line": 3,
        "annotation_level": level,
        "message": "preflight.env: MISSING_VAR is not set",
    })
}

/// A check run as `shipgate verify` will report a failure, with `annotations`.
fn check_run(annotations: Vec<Value>) -> Value {
    json!({
        "name": "shipgate verify",
        "head_sha": HEAD_SHA,
        "status": "completed",
        "conclusion": "failure",
        "output": {
            "title": "1 check failed",
            "summary": "preflight.env failed",
            "annotations": annotations,
        },
    })
}

fn create_check_run(body: &Value) -> Reply {
    Prism::shared().send("POST", "/repos/acme/app/check-runs", Some(body))
}

#[track_caller]
fn assert_refused(reply: &Reply, code: &str) {
    assert_eq!(reply.status, 422, "expected a refusal: {reply}");
    assert!(
        reply.violation_codes().iter().any(|c| c == code),
        "expected a `{code}` violation: {reply}"
    );
}

#[test]
fn a_valid_check_run_is_created() {
    let reply = create_check_run(&check_run(vec![annotation("failure")]));
    assert_eq!(reply.status, 201, "{reply}");
    assert!(reply.violations().is_empty(), "{reply}");
    assert!(reply.json()["id"].is_u64(), "{reply}");
}

#[test]
fn an_annotation_level_github_does_not_know_is_refused() {
    // GitHub's levels are notice, warning and failure; "error" is the runner's word.
    let reply = create_check_run(&check_run(vec![annotation("error")]));
    assert_refused(&reply, "enum");
    assert_eq!(
        reply.violations()[0]["location"],
        json!(["body", "output", "annotations", "0", "annotation_level"]),
        "{reply}"
    );
}

#[test]
fn a_check_run_without_head_sha_is_refused() {
    let mut body = check_run(vec![]);
    body.as_object_mut().unwrap().remove("head_sha");
    assert_refused(&create_check_run(&body), "required");
}

#[test]
fn at_most_50_annotations_go_in_one_request() {
    let reply = create_check_run(&check_run(vec![annotation("warning"); 50]));
    assert_eq!(reply.status, 201, "{reply}");
    assert_refused(
        &create_check_run(&check_run(vec![annotation("warning"); 51])),
        "maxItems",
    );
}

#[test]
fn a_summary_holds_at_most_65535_characters() {
    let mut body = check_run(vec![]);
    body["output"]["summary"] = json!("x".repeat(65535));
    assert_eq!(create_check_run(&body).status, 201);
    body["output"]["summary"] = json!("x".repeat(65536));
    assert_refused(&create_check_run(&body), "maxLength");
}

#[test]
fn a_check_run_is_updated_with_patch() {
    let prism = Prism::shared();
    let body = json!({
        "status": "completed",
        "conclusion": "success",
        "output": {"title": "all checks passed", "summary": "12 checks passed"},
    });
    let reply = prism.send("PATCH", "/repos/acme/app/check-runs/4", Some(&body));
    assert_eq!(reply.status, 200, "{reply}");
    assert!(reply.json()["id"].is_u64(), "{reply}");

    let no_summary = json!({"output": {"title": "all checks passed"}});
    let reply = prism.send("PATCH", "/repos/acme/app/check-runs/4", Some(&no_summary));
    assert_refused(&reply, "required");
    let reply = prism.send("PATCH", "/repos/acme/app/check-runs/latest", Some(&body));
    assert_refused(&reply, "type");
}

#[test]
fn comments_are_listed_by_page() {
    let prism = Prism::shared();
    let reply = prism.send(
        "GET",
        "/repos/acme/app/issues/7/comments?per_page=100&page=1",
        None,
    );
    assert_eq!(reply.status, 200, "{reply}");
    let comments = reply.json();
    let first = &comments.as_array().expect("an array")[0];
    assert!(first["id"].is_u64() && first["body"].is_string(), "{reply}");
    // The example's next page is on api.github.com: tests must not follow it.
    let link = reply.header("link").unwrap_or_default();
    assert!(link.contains("https://api.github.com/"), "{link}");

    // Types are checked, GitHub's maximum of 100 is not (it is only in the prose).
    let reply = prism.send(
        "GET",
        "/repos/acme/app/issues/7/comments?per_page=all",
        None,
    );
    assert_refused(&reply, "type");
    let reply = prism.send(
        "GET",
        "/repos/acme/app/issues/7/comments?per_page=101",
        None,
    );
    assert_eq!(reply.status, 200, "{reply}");
}

#[test]
fn a_comment_is_created() {
    let prism = Prism::shared();
    let path = "/repos/acme/app/issues/7/comments";
    let reply = prism.send(
        "POST",
        path,
        Some(&json!({"body": "shipgate: 2 checks failed"})),
    );
    assert_eq!(reply.status, 201, "{reply}");
    assert!(reply.json()["id"].is_u64(), "{reply}");

    // GitHub documents a 422 here, so Prism answers with its example and puts the violations
    // in a header.
    let reply = prism.send("POST", path, Some(&json!({"text": "wrong field"})));
    assert_refused(&reply, "required");
    assert!(reply.header("sl-violations").is_some(), "{reply:?}");
}

#[test]
fn a_comment_is_updated_with_patch_not_post() {
    let prism = Prism::shared();
    let path = "/repos/acme/app/issues/comments/1";
    let body = json!({"body": "shipgate: all checks passed"});
    let reply = prism.send("PATCH", path, Some(&body));
    assert_eq!(reply.status, 200, "{reply}");
    assert!(reply.json()["id"].is_u64(), "{reply}");
    assert_refused(&prism.send("PATCH", path, Some(&json!({}))), "required");

    // octocrab's update_comment sends POST, which GitHub tolerates but does not document.
    let reply = prism.send("POST", path, Some(&body));
    assert_eq!(reply.status, 405, "{reply}");
}

#[test]
fn prism_checks_accept_but_not_credentials() {
    let prism = Prism::shared();
    let path = "/repos/acme/app/issues/7/comments";
    let body = json!({"body": "hello"});
    // No security scheme in the description: a missing token cannot be caught here.
    let reply = prism.send_with("POST", path, Some(&body), &[]);
    assert_eq!(reply.status, 201, "{reply}");
    // The description names application/json only, so GitHub's own media type alone is
    // refused: a client sending it cannot be tested against Prism.
    let github_media = [("accept", "application/vnd.github+json")];
    let reply = prism.send_with("POST", path, Some(&body), &github_media);
    assert_eq!(reply.status, 406, "{reply}");
    let both = [("accept", "application/vnd.github+json, application/json")];
    let reply = prism.send_with("POST", path, Some(&body), &both);
    assert_eq!(reply.status, 201, "{reply}");
}

#[test]
fn an_endpoint_github_lacks_is_not_found() {
    let reply = Prism::shared().send("POST", "/repos/acme/app/check-run", Some(&json!({})));
    assert_eq!(reply.status, 404, "{reply}");
}

// ------------------------------------------------------- shipgate's own calls, through Prism --

/// `shipgate preflight` publishing to Prism as if it were GitHub, on a pull request.
fn publish_through_prism(config: &str, args: &[&str]) -> std::process::Output {
    let w = common::Workdir::new();
    w.write("shipgate.toml", config);
    w.write(
        "event.json",
        &json!({"number": 7, "pull_request": {"number": 7,
            "head": {"sha": HEAD_SHA, "repo": {"full_name": "acme/app", "fork": false}},
            "base": {"repo": {"full_name": "acme/app"}}}})
        .to_string(),
    );
    w.cmd()
        .arg("preflight")
        .args(args)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_REPOSITORY", "acme/app")
        .env("GITHUB_EVENT_NAME", "pull_request")
        .env("GITHUB_EVENT_PATH", w.path().join("event.json"))
        .env("GITHUB_SHA", "ffffffffffffffffffffffffffffffffffffffff")
        .env("GITHUB_API_URL", Prism::shared().url())
        .env("GITHUB_TOKEN", "ghs_prism_test_token")
        .env("GITHUB_WORKSPACE", w.path())
        .env("RUNNER_TEMP", w.path())
        .output()
        .expect("run shipgate")
}

fn missing_dirs(count: usize, name_length: usize) -> String {
    (0..count)
        .map(|i| {
            format!(
                "[[preflight.path]]\nname = \"gone{i}-{}\"\npath = \"no/such/{}{i}\"\n\n",
                "n".repeat(name_length),
                "d".repeat(name_length)
            )
        })
        .collect()
}

#[test]
fn shipgates_check_run_and_comment_requests_match_githubs_description() {
    // 60 failures: a create with 50 annotations and an update with 10; then the comment.
    let out = publish_through_prism(
        &format!(
            "[[preflight.path]]\nname = \"here\"\npath = \".\"\nusage_warn_percent = 100\nusage_fail_percent = 100\n\n{}",
            missing_dirs(60, 4)
        ),
        &["--check-run", "--pr-comment", "always"],
    );
    let err = common::stderr(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{err}\n{}",
        Prism::shared().log()
    );
    assert!(!err.contains("warning:"), "Prism refused a request:\n{err}");
    assert!(
        err.contains("github: check run `shipgate preflight` (failure, 60 annotations)"),
        "{err}"
    );
    // Prism's example comment carries no marker, so a new comment is posted.
    assert!(
        err.contains("github: commented on pull request #7"),
        "{err}"
    );
}

#[test]
fn a_report_over_githubs_size_limits_is_cut_to_fit_them() {
    // 400 failures with long names: the summary would pass 65,535 characters and the comment
    // 65,536; annotations go in 8 requests.
    let out = publish_through_prism(
        &missing_dirs(400, 150),
        &["--check-run", "--pr-comment", "always"],
    );
    let err = common::stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!err.contains("warning:"), "Prism refused a request:\n{err}");
    assert!(err.contains("(failure, 400 annotations)"), "{err}");
}

#[test]
fn a_passing_run_with_a_warning_is_neutral_and_accepted() {
    let out = publish_through_prism(
        "[[preflight.path]]\nname = \"here\"\npath = \".\"\nusage_warn_percent = 1\n",
        &["--check-run=deploy gate"],
    );
    let err = common::stderr(&out);
    assert!(!err.contains("warning: "), "{err}");
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("github: check run `deploy gate` (neutral, 1 annotations)"),
        "{err}"
    );
}
