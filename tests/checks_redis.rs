//! `[[preflight.redis]]` and `--redis-url` against the real Redis server.

mod common;

use std::process::Output;

use common::{Workdir, json_report, redis_url, result, stderr, stdout};
use serde_json::Value;

const CLOSED: &str = "redis://127.0.0.1:1";

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

/// A config with one `[[preflight.redis]]` reading its URL from `REDIS_URL`, plus `extra` lines.
fn config(w: &Workdir, extra: &str) {
    w.write(
        "shipgate.toml",
        &format!("[[preflight.redis]]\nurl = \"${{REDIS_URL}}\"\n{extra}\n"),
    );
}

fn message(r: &Value) -> &str {
    r["message"].as_str().expect("message")
}

/// `CONFIG GET key` on the test server, read directly (not through shipgate).
fn server_config(key: &str) -> String {
    let client = redis::Client::open(redis_url()).expect("redis URL");
    let mut conn = client.get_connection().expect("connect to the test Redis");
    let pair: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg(key)
        .query(&mut conn)
        .expect("CONFIG GET");
    pair.get(1).cloned().unwrap_or_default()
}

#[test]
fn ping_with_the_flag() {
    let w = Workdir::new();
    let (out, report) = run(&w, &[], &["--redis-url", &redis_url()]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let r = result(&report, "redis.cache");
    assert_ne!(r["status"], "fail", "{r:#}");
    assert!(message(r).contains("PONG"), "{r:#}");
    assert!(r["details"]["latency_ms"].as_f64().is_some(), "{r:#}");
}

#[test]
fn ping_from_config_with_a_name() {
    let w = Workdir::new();
    config(
        &w,
        "name = \"sessions\"\nlatency_warn = \"5s\"\nlatency_fail = \"10s\"",
    );
    let (out, report) = run(&w, &[("REDIS_URL", &redis_url())], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let r = result(&report, "redis.sessions");
    assert_eq!(r["status"], "pass", "{r:#}");
    assert_eq!(r["kind"], "redis");
    assert_eq!(r["location"]["line"], 1);
}

#[test]
fn unreachable_fails() {
    let w = Workdir::new();
    config(&w, "min_version = \"6\"");
    let (out, report) = run(&w, &[("REDIS_URL", CLOSED)], &[]);
    assert_eq!(out.status.code(), Some(1));
    let r = result(&report, "redis.cache");
    assert_eq!(r["status"], "fail");
    assert!(
        message(r).contains("redis://127.0.0.1:1 unreachable"),
        "{r:#}"
    );
    let v = result(&report, "redis.cache.version");
    assert_eq!(v["status"], "skip", "{v:#}");
    assert!(message(v).contains("not reachable"), "{v:#}");
}

#[test]
fn unreachable_optional_warns_and_passes() {
    let w = Workdir::new();
    config(&w, "optional = true");
    let (out, report) = run(&w, &[("REDIS_URL", CLOSED)], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let r = result(&report, "redis.cache");
    assert_eq!(r["status"], "warn");
    assert!(message(r).contains("optional"), "{r:#}");
    let (out, _) = run(&w, &[("REDIS_URL", CLOSED)], &["--strict"]);
    assert_eq!(out.status.code(), Some(1));
    // The flag form.
    let (out, report) = run(
        &Workdir::new(),
        &[],
        &["--redis-url", CLOSED, "--redis-optional"],
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(result(&report, "redis.cache")["status"], "warn");
    let (out, report) = run(&Workdir::new(), &[], &["--redis-url", CLOSED]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(result(&report, "redis.cache")["status"], "fail");
}

#[test]
fn unset_url_variable_fails_naming_it() {
    let w = Workdir::new();
    config(&w, "");
    let (out, report) = run(&w, &[], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let r = result(&report, "redis.cache");
    assert_eq!(r["status"], "fail");
    assert!(message(r).contains("REDIS_URL is not set"), "{r:#}");
    config(&w, "optional = true");
    let (out, report) = run(&w, &[], &[]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(result(&report, "redis.cache")["status"], "warn");
}

#[test]
fn latency_over_the_warn_threshold_warns_and_strict_fails() {
    let w = Workdir::new();
    config(&w, "latency_warn = \"0ms\"\nlatency_fail = \"10s\"");
    let (out, report) = run(&w, &[("REDIS_URL", &redis_url())], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let r = result(&report, "redis.cache");
    assert_eq!(r["status"], "warn", "{r:#}");
    assert!(message(r).contains("above"), "{r:#}");
    assert_eq!(r["details"]["warn_ms"], 0);
    let (out, report) = run(&w, &[("REDIS_URL", &redis_url())], &["--strict"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(report["strict"], true);
}

#[test]
fn latency_over_the_fail_threshold_fails() {
    let w = Workdir::new();
    config(&w, "latency_warn = \"0ms\"\nlatency_fail = \"0ms\"");
    let (out, report) = run(&w, &[("REDIS_URL", &redis_url())], &[]);
    assert_eq!(out.status.code(), Some(1));
    let r = result(&report, "redis.cache");
    assert_eq!(r["status"], "fail", "{r:#}");
    assert!(message(r).contains("fail threshold"), "{r:#}");
}

#[test]
fn min_version_pass_and_fail() {
    let w = Workdir::new();
    config(&w, "min_version = \"2\"");
    let (out, report) = run(&w, &[("REDIS_URL", &redis_url())], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let r = result(&report, "redis.cache.version");
    assert_eq!(r["status"], "pass", "{r:#}");
    assert!(message(r).contains("is at least 2"), "{r:#}");

    config(&w, "min_version = \"99.1\"");
    let (out, report) = run(&w, &[("REDIS_URL", &redis_url())], &[]);
    assert_eq!(out.status.code(), Some(1));
    let r = result(&report, "redis.cache.version");
    assert_eq!(r["status"], "fail");
    assert!(message(r).contains("older than the required 99.1"), "{r:#}");
}

#[test]
fn maxmemory_policy_matches_the_server() {
    let actual = server_config("maxmemory-policy");
    assert!(!actual.is_empty());
    let other = if actual == "allkeys-lru" {
        "noeviction"
    } else {
        "allkeys-lru"
    };

    let w = Workdir::new();
    config(&w, &format!("maxmemory_policy = \"{actual}\""));
    let (out, report) = run(&w, &[("REDIS_URL", &redis_url())], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let r = result(&report, "redis.cache.maxmemory-policy");
    assert_eq!(r["status"], "pass", "{r:#}");
    assert_eq!(r["details"]["maxmemory_policy"], actual.as_str());

    config(&w, &format!("maxmemory_policy = \"{other}\""));
    let (out, report) = run(&w, &[("REDIS_URL", &redis_url())], &[]);
    assert_eq!(out.status.code(), Some(1));
    let r = result(&report, "redis.cache.maxmemory-policy");
    assert_eq!(r["status"], "fail");
    assert!(
        message(r).contains(&format!("maxmemory-policy is {actual}, expected {other}")),
        "{r:#}"
    );
}

#[test]
fn persistence_matches_the_server() {
    let rdb = !server_config("save").trim().is_empty();
    let aof = server_config("appendonly") == "yes";
    // An expectation this server meets, and one it does not.
    let (good, bad) = match (rdb, aof) {
        (false, false) => ("none", "aof"),
        (true, false) => ("rdb", "aof"),
        (false, true) => ("aof", "rdb"),
        (true, true) => ("any", "none"),
    };
    let w = Workdir::new();
    config(&w, &format!("persistence = \"{good}\""));
    let (out, report) = run(&w, &[("REDIS_URL", &redis_url())], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let r = result(&report, "redis.cache.persistence");
    assert_eq!(r["status"], "pass", "{r:#}");
    assert_eq!(r["details"]["rdb"], rdb);
    assert_eq!(r["details"]["aof"], aof);

    config(&w, &format!("persistence = \"{bad}\""));
    let (out, report) = run(&w, &[("REDIS_URL", &redis_url())], &[]);
    assert_eq!(out.status.code(), Some(1));
    let r = result(&report, "redis.cache.persistence");
    assert_eq!(r["status"], "fail");
    assert!(message(r).contains(&format!("expected {bad}")), "{r:#}");
}

#[test]
fn all_aspects_in_order() {
    let w = Workdir::new();
    config(
        &w,
        "min_version = \"2\"\nmaxmemory_policy = \"x\"\npersistence = \"any\"",
    );
    let (_, report) = run(&w, &[("REDIS_URL", &redis_url())], &[]);
    let ids: Vec<&str> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "redis.cache",
            "redis.cache.version",
            "redis.cache.maxmemory-policy",
            "redis.cache.persistence"
        ]
    );
}

#[test]
fn password_in_the_url_is_never_printed() {
    let password = "sentinelpw123";
    let url = {
        let mut u = url::Url::parse(&redis_url()).unwrap();
        u.set_password(Some(password)).unwrap();
        u.to_string()
    };
    assert!(url.contains(password));
    let w = Workdir::new();
    config(&w, "min_version = \"2\"");
    // From the config (through a variable), then from the flag.
    for from_flag in [false, true] {
        let args: Vec<&str> = if from_flag {
            vec!["--redis-url", &url]
        } else {
            vec![]
        };
        for format in ["json", "human", "markdown", "junit"] {
            let mut cmd = w.cmd();
            cmd.args(["preflight", "-v", "--format", format])
                .args(&args);
            if !from_flag {
                cmd.env("REDIS_URL", &url);
            }
            let out = cmd.output().unwrap();
            assert!(out.status.code().is_some_and(|c| c < 2), "{}", stderr(&out));
            assert!(
                !stdout(&out).contains(password),
                "{format} {args:?}:\n{}",
                stdout(&out)
            );
            assert!(
                !stderr(&out).contains(password),
                "{format} {args:?}:\n{}",
                stderr(&out)
            );
        }
    }
}

/// A throwaway `redis-server` speaking only TLS on a free loopback port, stopped on drop.
struct TlsRedis {
    child: std::process::Child,
    port: u16,
}

impl TlsRedis {
    fn start(w: &Workdir, leaf: &common::tls::Leaf, ca_pem: &str) -> TlsRedis {
        let cert = w.write("redis-cert.pem", &leaf.cert_pem);
        let key = w.write("redis-key.pem", &leaf.key_pem);
        let ca = w.write("redis-ca.pem", ca_pem);
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                "0",
                "--bind",
                "127.0.0.1",
                "--tls-port",
                &port.to_string(),
            ])
            .arg("--tls-cert-file")
            .arg(&cert)
            .arg("--tls-key-file")
            .arg(&key)
            .arg("--tls-ca-cert-file")
            .arg(&ca)
            .args([
                "--tls-auth-clients",
                "no",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .current_dir(w.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("redis-server is installed (scripts/test installs it)");
        // Bounded wait for the TLS port: 50 x 100 ms.
        for _ in 0..50 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return TlsRedis { child, port };
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let mut server = TlsRedis { child, port };
        let _ = server.child.kill();
        let _ = server.child.wait();
        panic!("redis-server did not open its TLS port {}", server.port);
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn rediss_with_a_private_ca_passes_only_when_the_ca_is_trusted() {
    let w = Workdir::new();
    let ca = common::tls::TestCa::new();
    let leaf = ca.leaf(
        &["localhost", "127.0.0.1"],
        std::time::Duration::from_secs(90 * 86_400),
    );
    let server = TlsRedis::start(&w, &leaf, &ca.cert_pem);
    let url = format!("rediss://localhost:{}", server.port);

    config(&w, "ca_file = \"redis-ca.pem\"");
    let (out, report) = run(&w, &[("REDIS_URL", &url)], &[]);
    let ping = result(&report, "redis.cache");
    assert_eq!(ping["status"], "pass", "{ping:#}\n{}", stderr(&out));
    assert_eq!(out.status.code(), Some(0));

    // The system roots do not know the test CA: the handshake must be refused.
    config(&w, "");
    let (out, report) = run(&w, &[("REDIS_URL", &url)], &[]);
    let ping = result(&report, "redis.cache");
    assert_eq!(ping["status"], "fail", "{ping:#}");
    assert_eq!(out.status.code(), Some(1));
    let m = message(ping).to_lowercase();
    assert!(
        m.contains("certificate") || m.contains("unknownissuer") || m.contains("tls"),
        "{m}"
    );
}
