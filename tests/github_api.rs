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
