//! A real Prometheus (Debian's `prometheus`, which scripts/test installs) for one test: started
//! on a free loopback port, scraping itself (and any loopback exporters the test names) every
//! second, with one alerting rule that always fires; killed when the test ends.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The password of user `shipgate` on a secured server, and its bcrypt hash (cost 4) as
/// Prometheus' web config wants it.
pub const PASSWORD: &str = "shipgate-prom-secret";
const PASSWORD_BCRYPT: &str = "$2b$04$fyzSXLmZvSCrjh6kgbGxnu80japgEspSNBRzur2kgc9RsdFPlrYP6";

/// A Prometheus server of one test: its config, rules and data in a temporary directory; killed
/// when the test ends, panicking or not.
pub struct Prometheus {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Prometheus {
    pub fn binary() -> PathBuf {
        let debian = PathBuf::from("/usr/bin/prometheus");
        if debian.is_file() {
            return debian;
        }
        which::which("prometheus").unwrap_or_else(|_| {
            panic!(
                "prometheus is not installed (expected at {}): run scripts/test, which installs it, \
                 or `apt-get install prometheus`",
                debian.display()
            )
        })
    }

    /// A server scraping itself every second, with the always-firing alert, once it has data.
    pub fn start() -> Prometheus {
        Self::start_scraping(&[])
    }

    /// A server scraping itself and `targets` (`host:port` of loopback exporters, job
    /// `exporter`, path `/metrics`) every second, with the always-firing alert, once it has
    /// five samples of every target.
    pub fn start_scraping(targets: &[&str]) -> Prometheus {
        Self::start_scraping_with_rules(targets, &[])
    }

    /// As [`Prometheus::start_scraping`], with rule files of the test's own besides the
    /// always-firing alert: `(name, contents)`, each name ending in `.rules.yml`.
    pub fn start_scraping_with_rules(targets: &[&str], rules: &[(&str, &str)]) -> Prometheus {
        assert!(
            rules.iter().all(|(name, _)| name.ends_with(".rules.yml")),
            "rule files are loaded by the glob *.rules.yml"
        );
        let mut prometheus = Self::spawn(rules, targets);
        // Bounded: its own target scraped at least five times (the range test needs 3 s of
        // data), and the always-firing alert evaluated.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            prometheus.running();
            let wanted = 1 + targets.len();
            let scraped =
                prometheus.has_result(&format!("count(count_over_time(up[1m]) >= 5) == {wanted}"));
            if scraped && prometheus.has_result(r#"ALERTS{alertstate="firing"}"#) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "prometheus on port {} had no 5 samples of `up` and no firing alert after 60 s:\n{}",
                prometheus.port,
                prometheus.log()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
        prometheus
    }

    /// A server behind its own web config: TLS with `leaf`, and basic auth for user
    /// `shipgate` (password [`PASSWORD`]); ready once it says so in its log.
    pub fn start_secured(leaf: &super::tls::Leaf) -> Prometheus {
        let web = format!(
            "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n\
             basic_auth_users:\n  shipgate: {PASSWORD_BCRYPT}\n"
        );
        let files = [
            ("cert.pem", leaf.cert_pem.as_str()),
            ("key.pem", leaf.key_pem.as_str()),
            ("web.yml", web.as_str()),
        ];
        let mut prometheus = Self::spawn(&files, &[]);
        let deadline = Instant::now() + Duration::from_secs(60);
        while !prometheus
            .log()
            .contains("Server is ready to receive web requests")
        {
            prometheus.running();
            assert!(
                Instant::now() < deadline,
                "prometheus with TLS and basic auth was not ready after 60 s:\n{}",
                prometheus.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        prometheus
    }

    /// Starts the binary in a fresh directory holding `files`; `web.yml` among them becomes
    /// its `--web.config.file`. It scrapes itself (job `prometheus`) and `targets` (job
    /// `exporter`).
    fn spawn(files: &[(&str, &str)], targets: &[&str]) -> Prometheus {
        let binary = Self::binary();
        let dir = tempfile::tempdir().expect("tempdir");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free loopback port")
            .port();
        let exporters = if targets.is_empty() {
            String::new()
        } else {
            let list: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
            format!(
                "  - job_name: exporter\n    static_configs:\n      - targets: [{}]\n",
                list.join(", ")
            )
        };
        std::fs::write(
            dir.path().join("prometheus.yml"),
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 rule_files: [rules.yml, '*.rules.yml']\n\
                 scrape_configs:\n  - job_name: prometheus\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n{exporters}"
            ),
        )
        .expect("write prometheus.yml");
        std::fs::write(
            dir.path().join("rules.yml"),
            "groups:\n  - name: shipgate-test\n    rules:\n      - alert: ShipgateTestAlwaysFiring\n        expr: vector(1)\n        labels:\n          severity: test\n",
        )
        .expect("write rules.yml");
        let mut args = vec![
            "--config.file=prometheus.yml".to_string(),
            format!("--storage.tsdb.path={}", dir.path().join("data").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
        ];
        for (name, contents) in files {
            std::fs::write(dir.path().join(name), contents).expect("write a prometheus file");
            if *name == "web.yml" {
                args.push("--web.config.file=web.yml".into());
            }
        }
        let log = File::create(dir.path().join("prometheus.log")).expect("log file");
        let child = StdCommand::new(&binary)
            .current_dir(dir.path())
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        Prometheus { child, port, dir }
    }

    /// Panics with its log when the server has exited.
    pub fn running(&mut self) {
        if let Some(status) = self.child.try_wait().expect("try_wait") {
            panic!(
                "prometheus exited ({status}) before it was ready:\n{}",
                self.log()
            );
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// Whether an instant query returns at least one series (a plain HTTP/1.0 GET, so the wait
    /// needs no client of its own).
    pub fn has_result(&self, query: &str) -> bool {
        let encoded: String = url::form_urlencoded::byte_serialize(query.as_bytes()).collect();
        let Ok(mut stream) = TcpStream::connect_timeout(
            &([127, 0, 0, 1], self.port).into(),
            Duration::from_millis(500),
        ) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let request =
            format!("GET /api/v1/query?query={encoded} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
        if stream.write_all(request.as_bytes()).is_err() {
            return false;
        }
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response);
        let Some((_, body)) = response.split_once("\r\n\r\n") else {
            return false;
        };
        serde_json::from_str::<Value>(body)
            .ok()
            .and_then(|v| v["data"]["result"].as_array().map(|r| !r.is_empty()))
            .unwrap_or(false)
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
