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
        "min_version = \"2\"\nmaxmemory_policy = \"x\"\npersistence = \"any\"\n\
         keys_absent = [\"shipgate-test:never\"]\ninfo = ['connected_clients >= 1']",
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
            "redis.cache.persistence",
            "redis.cache.info",
            "redis.cache.keys"
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

// INFO assertions: `info = ['keyspace_hit_ratio >= 0.8', 'connected_clients < 500', …]`.

/// A connection to a Redis server, not through shipgate.
fn direct(url: &str) -> redis::Connection {
    redis::Client::open(url)
        .expect("redis URL")
        .get_connection()
        .expect("connect to the test Redis")
}

/// A numeric field of `INFO` on a server, read directly.
fn info_number(conn: &mut redis::Connection, field: &str) -> u64 {
    let info: String = redis::cmd("INFO").query(conn).expect("INFO");
    info.lines()
        .find_map(|l| l.trim().strip_prefix(field)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("INFO has no {field}"))
        .trim()
        .parse()
        .expect("a number")
}

/// Three hits and one miss, on keys no other test uses (the server is shared: no FLUSHALL).
fn hits_and_a_miss(conn: &mut redis::Connection) {
    let unique = format!(
        "shipgate-test:info:{}:{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let _: () = redis::cmd("SET")
        .arg(&unique)
        .arg("1")
        .arg("EX")
        .arg(60)
        .query(conn)
        .expect("SET");
    for _ in 0..3 {
        let hit: Option<String> = redis::cmd("GET").arg(&unique).query(conn).expect("GET");
        assert_eq!(hit.as_deref(), Some("1"));
    }
    let miss: Option<String> = redis::cmd("GET")
        .arg(format!("{unique}:missing"))
        .query(conn)
        .expect("GET");
    assert_eq!(miss, None);
    let _: () = redis::cmd("DEL").arg(&unique).query(conn).expect("DEL");
}

fn info_config(w: &Workdir, section: &str, assertions: &[&str]) {
    let list: Vec<String> = assertions.iter().map(|a| format!("'{a}'")).collect();
    w.write(
        "shipgate.toml",
        &format!(
            "[[{section}.redis]]\nurl = \"${{REDIS_URL}}\"\ninfo = [{}]\n",
            list.join(", ")
        ),
    );
}

fn run_command(w: &Workdir, command: &str, url: &str, args: &[&str]) -> (Output, Value) {
    let out = w
        .cmd()
        .args([command, "--format", "json"])
        .args(args)
        .env("REDIS_URL", url)
        .output()
        .expect("run shipgate");
    let report = json_report(&out);
    (out, report)
}

#[test]
fn info_assertions_hold_on_the_shared_server_in_preflight_and_verify() {
    let w = Workdir::new();
    let mut conn = direct(&redis_url());
    hits_and_a_miss(&mut conn);
    // Other tests share the server: bounds that hold whatever they do.
    info_config(
        &w,
        "verify",
        &[
            "keyspace_hit_ratio >= 0",
            "keyspace_hit_ratio <= 1",
            "connected_clients >= 1",
            "connected_clients < 100000",
            "used_memory < 64GiB",
            "used_memory > 1KiB",
            "evicted_keys >= 0",
        ],
    );
    let (out, report) = run_command(&w, "verify", &redis_url(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let r = result(&report, "redis.cache.info");
    assert_eq!(r["status"], "pass", "{r:#}");
    assert_eq!(r["name"], "redis cache: INFO");
    assert_eq!(r["location"]["line"], 1, "{r:#}");
    let m = message(r);
    assert!(
        m.starts_with("7 INFO assertions hold: keyspace_hit_ratio "),
        "{m}"
    );
    assert!(m.contains(", connected_clients "), "{m}");
    assert_eq!(r["details"]["assertions"].as_array().unwrap().len(), 7);

    // The same under preflight.
    info_config(&w, "preflight", &["connected_clients >= 1"]);
    let (out, report) = run_command(&w, "preflight", &redis_url(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(result(&report, "redis.cache.info")["status"], "pass");
}

#[test]
fn info_assertions_that_do_not_hold_fail_with_the_values_found() {
    let w = Workdir::new();
    let mut conn = direct(&redis_url());
    let hits_before = info_number(&mut conn, "keyspace_hits");
    let misses_before = info_number(&mut conn, "keyspace_misses");
    hits_and_a_miss(&mut conn);
    info_config(
        &w,
        "preflight",
        &[
            "keyspace_hit_ratio > 1",
            "connected_clients < 1",
            "used_memory < 1KiB",
            "connected_clients >= 1",
        ],
    );
    let (out, report) = run_command(&w, "preflight", &redis_url(), &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let r = result(&report, "redis.cache.info");
    assert_eq!(r["status"], "fail", "{r:#}");
    let failures: Vec<&str> = r["details"]["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert_eq!(failures.len(), 3, "the fourth holds: {r:#}");
    assert!(
        failures[0].starts_with("keyspace_hit_ratio is "),
        "{failures:?}"
    );
    assert!(failures[0].ends_with("(expected > 1)"), "{failures:?}");
    // Our three hits and one miss are in the counters it read.
    let counter = |name: &str| -> u64 {
        let after = failures[0].split(&format!("{name} ")).nth(1).unwrap();
        after
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(counter("keyspace_hits") >= hits_before + 3, "{failures:?}");
    assert!(counter("keyspace_misses") > misses_before, "{failures:?}");
    assert!(
        failures[1].starts_with("connected_clients is ") && failures[1].ends_with("(expected < 1)"),
        "{failures:?}"
    );
    assert!(
        failures[2].starts_with("used_memory is ")
            && failures[2].contains("MiB)")
            && failures[2].ends_with("(expected < 1KiB)"),
        "{failures:?}"
    );
    assert_eq!(message(r), failures.join("; "));
}

#[test]
fn an_unknown_info_field_fails_naming_the_close_ones() {
    let w = Workdir::new();
    info_config(
        &w,
        "preflight",
        &["connected_client < 500", "used_memroy < 2GiB"],
    );
    let (out, report) = run_command(&w, "preflight", &redis_url(), &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let r = result(&report, "redis.cache.info");
    assert_eq!(r["status"], "fail", "{r:#}");
    let m = message(r);
    assert!(
        m.contains("INFO has no field `connected_client` (did you mean connected_clients"),
        "{m}"
    );
    assert!(
        m.contains("INFO has no field `used_memroy` (did you mean used_memory"),
        "{m}"
    );
}

#[test]
fn an_info_assertion_that_does_not_parse_is_a_config_error_at_its_line() {
    for (assertion, expected, help) in [
        (
            "used_memory < lots",
            "`lots` is neither a number nor a size",
            "a size takes a unit",
        ),
        (
            "connected_clients is 5",
            "is not an INFO assertion",
            "fields are INFO's numeric `name:value` lines",
        ),
    ] {
        let w = Workdir::new();
        w.write(
            "shipgate.toml",
            &format!(
                "[[preflight.path]]\npath = \"made\"\ncreate = true\n\n[[preflight.redis]]\nurl = \"${{REDIS_URL}}\"\ninfo = [\n  'connected_clients < 500',\n  '{assertion}',\n]\n"
            ),
        );
        let out = w
            .cmd()
            .arg("preflight")
            .env("REDIS_URL", redis_url())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        let err = stderr(&out);
        assert!(err.starts_with("error: shipgate.toml:9:"), "{err}");
        assert!(err.contains(expected), "{err}");
        assert!(err.contains(&format!("help: {help}")), "{err}");
        assert!(stdout(&out).is_empty(), "nothing ran: {}", stdout(&out));
        assert!(!w.path().join("made").exists(), "nothing ran");
    }
}

/// A throwaway plain `redis-server` on a free loopback port, its statistics its own.
struct FreshRedis {
    child: std::process::Child,
    url: String,
}

impl FreshRedis {
    fn start(w: &Workdir, maxmemory: &str) -> FreshRedis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--maxmemory", maxmemory])
            .current_dir(w.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("redis-server is installed (scripts/test installs it)");
        let mut server = FreshRedis {
            child,
            url: format!("redis://127.0.0.1:{port}"),
        };
        // Bounded wait for the port: 50 x 100 ms.
        for _ in 0..50 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = server.child.kill();
        panic!("redis-server did not open its port {port}");
    }
}

impl Drop for FreshRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn derived_ratios_on_a_fresh_server_warn_until_they_exist_then_are_exact() {
    let w = Workdir::new();
    let server = FreshRedis::start(&w, "64mb");
    info_config(
        &w,
        "preflight",
        &["keyspace_hit_ratio >= 0.8", "used_memory_ratio < 0.5"],
    );

    // No traffic yet: nothing to judge the hit ratio by, a warning (exit 0; --strict fails).
    let (out, report) = run_command(&w, "preflight", &server.url, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let r = result(&report, "redis.cache.info");
    assert_eq!(r["status"], "warn", "{r:#}");
    assert_eq!(
        message(r),
        "keyspace_hit_ratio: no hits or misses yet (keyspace_hits and keyspace_misses are 0), nothing to judge by"
    );
    let (out, _) = run_command(&w, "preflight", &server.url, &["--strict"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));

    // Three hits and a miss: exactly 0.75, under 0.8. The check's own GET (a miss: the key is
    // not there) comes after INFO and is not counted.
    let mut conn = direct(&server.url);
    hits_and_a_miss(&mut conn);
    w.write(
        "shipgate.toml",
        "[[preflight.redis]]\nurl = \"${REDIS_URL}\"\nkey_equals = { \"shipgate-test:absent\" = \"x\" }\n\
         info = ['keyspace_hit_ratio >= 0.8', 'used_memory_ratio < 0.5']\n",
    );
    let (out, report) = run_command(&w, "preflight", &server.url, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let r = result(&report, "redis.cache.info");
    assert_eq!(
        message(r),
        "keyspace_hit_ratio is 0.75 (keyspace_hits 3, keyspace_misses 1) (expected >= 0.8)",
        "{r:#}"
    );
    assert_eq!(result(&report, "redis.cache.keys")["status"], "fail");
    assert_eq!(
        info_number(&mut conn, "keyspace_misses"),
        2,
        "the check's GET came after"
    );
    assert_eq!(
        r["details"]["held"][0].as_str().unwrap().split(' ').next(),
        Some("used_memory_ratio")
    );

    // A tiny memory use of 64 MiB is under half; maxmemory 0 (no limit) has no ratio.
    info_config(
        &w,
        "preflight",
        &["used_memory_ratio < 0.5", "used_memory_ratio > 0.5"],
    );
    let (_, report) = run_command(&w, "preflight", &server.url, &[]);
    let r = result(&report, "redis.cache.info");
    assert_eq!(r["status"], "fail", "{r:#}");
    assert!(
        message(r).starts_with("used_memory_ratio is 0.")
            && message(r).contains(", maxmemory 64.0 MiB) (expected > 0.5)"),
        "{r:#}"
    );
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg("0")
        .query(&mut conn)
        .expect("CONFIG SET");
    let (out, report) = run_command(&w, "preflight", &server.url, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let r = result(&report, "redis.cache.info");
    assert_eq!(r["status"], "warn", "{r:#}");
    assert!(
        message(r).contains("used_memory_ratio: maxmemory is 0 (no limit), so there is no ratio"),
        "{r:#}"
    );
}
