//! `[[preflight.tls]]` and `--tls-host` against a TLS server on loopback presenting certificates
//! from a CA made for each test.

mod common;

use std::process::Output;
use std::time::Duration;

use common::tls::{TestCa, TlsServer};
use common::{Workdir, json_report, result, stdout};
use serde_json::Value;

const DAY: Duration = Duration::from_secs(86_400);

/// A server for `names` expiring in `expires_in` (plus an hour, so whole days count as such),
/// and a workdir holding the CA as `ca.pem`.
fn setup(names: &[&str], expires_in: Duration) -> (TlsServer, Workdir) {
    let ca = TestCa::new();
    let server = TlsServer::start(ca.leaf(names, expires_in + Duration::from_secs(3600)));
    let w = Workdir::new();
    w.write("ca.pem", &ca.cert_pem);
    (server, w)
}

fn config(w: &Workdir, port: u16, extra: &str) {
    w.write(
        "shipgate.toml",
        &format!("[[preflight.tls]]\nhost = \"localhost\"\nport = {port}\n{extra}\n"),
    );
}

fn run(w: &Workdir, args: &[&str]) -> (Output, Value) {
    let out = w
        .cmd()
        .args(["preflight", "--format", "json"])
        .args(args)
        .output()
        .expect("run shipgate");
    let report = json_report(&out);
    (out, report)
}

fn message(r: &Value) -> &str {
    r["message"].as_str().expect("message")
}

#[test]
fn certificate_from_a_trusted_ca_passes() {
    let (server, w) = setup(&["localhost", "127.0.0.1"], 365 * DAY);
    config(&w, server.port, "ca_file = \"ca.pem\"");
    let (out, report) = run(&w, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let r = result(&report, "tls.localhost");
    assert_eq!(r["status"], "pass", "{r:#}");
    assert!(message(r).contains("verifies"), "{r:#}");
    assert_eq!(r["details"]["days_left"], 365);
    assert_eq!(r["details"]["target"], format!("localhost:{}", server.port));
}

#[test]
fn certificate_from_an_unknown_ca_fails() {
    let (server, w) = setup(&["localhost"], 365 * DAY);
    config(&w, server.port, "");
    let (out, report) = run(&w, &[]);
    assert_eq!(out.status.code(), Some(1));
    let r = result(&report, "tls.localhost");
    assert_eq!(r["status"], "fail");
    assert!(message(r).contains("not signed by a trusted CA"), "{r:#}");
    // The certificate is still described.
    assert!(
        r["details"]["issuer"]
            .as_str()
            .unwrap()
            .contains("shipgate test CA"),
        "{r:#}"
    );
}

#[test]
fn another_ca_does_not_help() {
    let (server, w) = setup(&["localhost"], 365 * DAY);
    w.write("other-ca.pem", &TestCa::new().cert_pem);
    config(&w, server.port, "ca_file = \"other-ca.pem\"");
    let (out, report) = run(&w, &[]);
    assert_eq!(out.status.code(), Some(1));
    let r = result(&report, "tls.localhost");
    assert!(message(r).contains("not signed by a trusted CA"), "{r:#}");
}

#[test]
fn tls_host_flag_uses_system_roots_only() {
    let (server, w) = setup(&["localhost"], 365 * DAY);
    let (out, report) = run(&w, &["--tls-host", &format!("localhost:{}", server.port)]);
    assert_eq!(out.status.code(), Some(1));
    let r = result(&report, "tls.localhost");
    assert_eq!(r["status"], "fail");
    assert!(message(r).contains("not signed by a trusted CA"), "{r:#}");
}

#[test]
fn expiring_within_warn_days_warns() {
    let (server, w) = setup(&["localhost"], 10 * DAY);
    config(&w, server.port, "ca_file = \"ca.pem\"");
    let (out, report) = run(&w, &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "a warning alone passes: {}",
        stdout(&out)
    );
    let r = result(&report, "tls.localhost");
    assert_eq!(r["status"], "warn", "{r:#}");
    assert!(message(r).contains("expires in 10 days"), "{r:#}");
    assert_eq!(r["details"]["warn_days"], 30);
    assert_eq!(r["details"]["fail_days"], 7);
    let (out, _) = run(&w, &["--strict"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn expiring_within_fail_days_fails() {
    let (server, w) = setup(&["localhost"], 3 * DAY);
    config(&w, server.port, "ca_file = \"ca.pem\"");
    let (out, report) = run(&w, &[]);
    assert_eq!(out.status.code(), Some(1));
    let r = result(&report, "tls.localhost");
    assert_eq!(r["status"], "fail", "{r:#}");
    assert!(message(r).contains("expires in 3 days"), "{r:#}");
}

#[test]
fn custom_day_thresholds() {
    let (server, w) = setup(&["localhost"], 10 * DAY);
    config(
        &w,
        server.port,
        "ca_file = \"ca.pem\"\nwarn_days = 5\nfail_days = 2",
    );
    let (out, report) = run(&w, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(result(&report, "tls.localhost")["status"], "pass");
    config(
        &w,
        server.port,
        "ca_file = \"ca.pem\"\nwarn_days = 60\nfail_days = 20",
    );
    let (out, report) = run(&w, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(result(&report, "tls.localhost")["status"], "fail");
}

#[test]
fn fail_days_above_warn_days_is_an_input_error() {
    let w = Workdir::new();
    config(&w, 443, "warn_days = 5\nfail_days = 10");
    let out = w.cmd().arg("preflight").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn wrong_host_name_fails_naming_the_problem() {
    let (server, w) = setup(&["other.example"], 365 * DAY);
    config(&w, server.port, "ca_file = \"ca.pem\"");
    let (out, report) = run(&w, &[]);
    assert_eq!(out.status.code(), Some(1));
    let r = result(&report, "tls.localhost");
    assert_eq!(r["status"], "fail", "{r:#}");
    let m = message(r);
    assert!(m.contains("not valid for"), "{r:#}");
    assert!(
        m.contains("localhost") && m.contains("other.example"),
        "names both the host and the certificate's names: {r:#}"
    );
}

#[test]
fn nothing_listening_fails() {
    let w = Workdir::new();
    config(&w, 1, "");
    let (out, report) = run(&w, &[]);
    assert_eq!(out.status.code(), Some(1));
    let r = result(&report, "tls.localhost");
    assert_eq!(r["status"], "fail");
    assert!(message(r).contains("cannot connect"), "{r:#}");
}

#[test]
fn missing_ca_file_fails_naming_it() {
    let (server, w) = setup(&["localhost"], 365 * DAY);
    config(&w, server.port, "ca_file = \"nope.pem\"");
    let (out, report) = run(&w, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(message(result(&report, "tls.localhost")).contains("nope.pem"));
}

#[test]
fn ip_address_host_matches_an_ip_name() {
    let (server, w) = setup(&["localhost", "127.0.0.1"], 365 * DAY);
    w.write(
        "shipgate.toml",
        &format!("[[preflight.tls]]\nname = \"ip\"\nhost = \"127.0.0.1\"\nport = {}\nca_file = \"ca.pem\"\n", server.port),
    );
    let (out, report) = run(&w, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(result(&report, "tls.ip")["status"], "pass");
    // A certificate that names only the host name does not cover the address.
    let (server, w) = setup(&["localhost"], 365 * DAY);
    w.write(
        "shipgate.toml",
        &format!("[[preflight.tls]]\nname = \"ip\"\nhost = \"127.0.0.1\"\nport = {}\nca_file = \"ca.pem\"\n", server.port),
    );
    let (out, report) = run(&w, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(message(result(&report, "tls.ip")).contains("not valid for"));
}
