//! Who may see it: with `exporter.basic_auth`, the real `slostream run` answers 401 (with a
//! `WWW-Authenticate: Basic` challenge) on `/metrics` and on any other path without the right
//! credentials, 200 with them, while `/health` and `/ready` stay open for probes; with
//! `exporter.tls`, it serves HTTPS with the configured certificate (generated here) and a plain
//! HTTP request gets no answer. Neither the password nor its hash ever appears in what the
//! process or `slostream check` prints, even at debug level. A bad certificate refuses the
//! start with exit code 2 naming the key. The broker is librdkafka's mock cluster in this
//! process: `/ready` needs partitions, nothing here needs a real broker.

use std::fs;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, Response};
use reqwest::StatusCode;
use slostream::names;

use crate::harness::mock::MockKafka;
use crate::harness::{free_port, http_client, Deployment, Metrics, Served, Slostream};

const USER: &str = "prometheus";
const PASSWORD: &str = "correct-horse-battery-staple";
const WRONG_PASSWORD: &str = "correct-horse-battery-stable";
/// The log level of these runs: what hyper, rustls and slostream log at debug must not show a
/// credential either.
const DEBUG: &str = "debug,librdkafka=warn";

/// The password's bcrypt hash at cost 4: the cheapest, and what a test needs.
fn password_hash() -> String {
    bcrypt::hash(PASSWORD, 4).expect("bcrypt")
}

/// A [`Deployment`] on a mock cluster whose topic exists, so that it gets ready.
fn deployment(kafka: &MockKafka, name: &str) -> Deployment {
    let d = Deployment::new(name).brokers(&kafka.bootstrap);
    kafka.create_topic(d.topic(), 1);
    d
}

/// A self-signed certificate for `localhost` written as `cert.pem` and `key.pem` into the
/// deployment's directory; returns the two paths and the certificate's PEM.
fn certificate(d: &Deployment) -> (String, String, String) {
    let c = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("generate a certificate");
    let (cert, key) = (d.dir.join("cert.pem"), d.dir.join("key.pem"));
    fs::write(&cert, c.cert.pem()).expect("write cert.pem");
    fs::write(&key, c.signing_key.serialize_pem()).expect("write key.pem");
    (cert.display().to_string(), key.display().to_string(), c.cert.pem())
}

/// A running slostream seen through `base` (`http://` or `https://localhost:PORT`) with `http`,
/// sending `credentials` on every request: [`Served`], so the harness's waits and scrapes work
/// through TLS and authentication.
struct Seen<'a> {
    app: &'a mut Slostream,
    http: Client,
    base: String,
    credentials: Option<(&'static str, &'static str)>,
}

impl Seen<'_> {
    fn request(&self, path: &str, credentials: Option<(&str, &str)>) -> reqwest::Result<Response> {
        let request = self.http.get(format!("{}{path}", self.base));
        match credentials {
            Some((user, password)) => request.basic_auth(user, Some(password)),
            None => request,
        }
        .send()
    }

    /// The status of `GET path` with `credentials`, and its `WWW-Authenticate` header.
    fn status(&self, path: &str, credentials: Option<(&str, &str)>) -> (StatusCode, Option<String>) {
        let response = self.request(path, credentials).unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let challenge = response.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_string());
        (response.status(), challenge)
    }

    /// Every request below must answer `want` (and a 401 must carry a Basic challenge).
    fn expect(&self, want: StatusCode, requests: &[(&str, Option<(&str, &str)>)]) {
        for (path, credentials) in requests {
            let (status, challenge) = self.status(path, *credentials);
            let who = credentials.map_or("no credentials".into(), |(u, p)| format!("{u}:{p}"));
            assert_eq!(status, want, "GET {path} with {who}");
            if want == StatusCode::UNAUTHORIZED {
                let challenge = challenge.unwrap_or_default();
                assert!(challenge.starts_with("Basic "), "GET {path}: WWW-Authenticate {challenge:?}");
            }
        }
    }
}

impl Served for Seen<'_> {
    fn get(&self, path: &str) -> Option<(u16, String)> {
        let response = self.request(path, self.credentials).ok()?;
        Some((response.status().as_u16(), response.text().ok()?))
    }

    fn assert_running(&mut self) {
        self.app.assert_running();
    }

    fn context(&self) -> String {
        self.app.context()
    }
}

/// A client that trusts only `cert_pem` and reaches `localhost` at 127.0.0.1.
fn trusting(cert_pem: &str, port: u16) -> Client {
    Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(cert_pem.as_bytes()).expect("the test certificate"))
        .resolve("localhost", ([127, 0, 0, 1], port).into())
        .build()
        .expect("https client")
}

/// Neither the password nor the hash in anything `d`'s process or its `slostream check` printed.
fn assert_secrets_never_shown(d: &Deployment, app: &Slostream, hash: &str) {
    for (what, bytes) in [("slostream run", app.output_bytes()), ("slostream check", d.check_output())] {
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.is_empty(), "{what} printed nothing: the check below would prove nothing");
        for secret in [PASSWORD, WRONG_PASSWORD, hash] {
            assert!(!text.contains(secret), "{what} printed {secret:?}:\n{text}");
        }
    }
}

#[test]
fn over_tls_only_the_probes_answer_without_the_right_credentials() {
    let kafka = MockKafka::start();
    let d = deployment(&kafka, "access-tls");
    let (cert_file, key_file, cert_pem) = certificate(&d);
    let hash = password_hash();
    let d = d.exporter_tls(&cert_file, &key_file).basic_auth(USER, &hash).env("RUST_LOG", DEBUG);
    let mut app = d.start();
    let port = app.port;
    let mut seen = Seen {
        http: trusting(&cert_pem, port),
        base: format!("https://localhost:{port}"),
        credentials: None,
        app: &mut app,
    };
    seen.wait_ready(Duration::from_secs(60));

    let right = Some((USER, PASSWORD));
    let wrong = Some((USER, WRONG_PASSWORD));
    let stranger = Some(("grafana", PASSWORD));
    seen.expect(StatusCode::OK, &[("/health", None), ("/ready", None), ("/health", wrong), ("/metrics", right)]);
    seen.expect(
        StatusCode::UNAUTHORIZED,
        &[
            ("/metrics", None),
            ("/metrics", wrong),
            ("/metrics", stranger),
            ("/metrics", Some((USER, ""))),
            // The status page and its API are behind the same check, and so is an unknown path:
            // 401 to a stranger, and only then 404.
            ("/", None),
            ("/api/v1/slos", wrong),
            ("/api/v1/reports?format=csv", None),
            ("/slo/book-a-ride", None),
            ("/health/", None),
            ("/no-such-page", None),
        ],
    );
    seen.expect(
        StatusCode::OK,
        &[("/", right), ("/api/v1/slos", right), ("/api/v1/reports?format=csv", right), ("/slo/book-a-ride", right)],
    );
    seen.expect(StatusCode::NOT_FOUND, &[("/no-such-page", right), ("/api/v1/slos/no-such-slo", right)]);

    seen.credentials = right;
    let m: Metrics = seen.scrape();
    assert_eq!(m.get(names::STATE_READY.name, &[]), Some(1.0), "the scrape with credentials is the real /metrics");

    // Plain HTTP to the TLS listener gets no HTTP answer; a client that does not trust the
    // certificate gets none either.
    let plain = http_client().get(format!("http://127.0.0.1:{port}/health")).send();
    assert!(plain.is_err(), "plain HTTP answered: {:?}", plain.map(|r| r.status()));
    let untrusting = Client::builder().no_proxy().tls_built_in_root_certs(false).build().unwrap();
    assert!(untrusting.get(format!("https://127.0.0.1:{port}/health")).send().is_err());
    // The listener still serves after those failed handshakes.
    seen.expect(StatusCode::OK, &[("/health", None), ("/metrics", right)]);

    app.stop();
    assert_secrets_never_shown(&d, &app, &hash);
}

#[test]
fn over_plain_http_a_hash_from_the_environment_protects_metrics_and_is_never_shown() {
    let kafka = MockKafka::start();
    let hash = password_hash();
    let d = deployment(&kafka, "access-http")
        .basic_auth(USER, "${SLOSTREAM_SCRAPE_HASH}")
        .env("SLOSTREAM_SCRAPE_HASH", &hash)
        .env("RUST_LOG", DEBUG);
    let mut app = d.start();
    let port = app.port;
    let mut seen =
        Seen { http: http_client(), base: format!("http://127.0.0.1:{port}"), credentials: None, app: &mut app };
    seen.wait_ready(Duration::from_secs(60));
    seen.expect(StatusCode::UNAUTHORIZED, &[("/metrics", None), ("/metrics", Some((USER, WRONG_PASSWORD)))]);
    seen.expect(StatusCode::OK, &[("/health", None), ("/ready", None)]);

    // The first right request pays for bcrypt; the ones after it are checked against the
    // remembered tag. Timed for the record (a debug build, cost 4).
    let timed = |seen: &Seen| {
        let started = Instant::now();
        seen.expect(StatusCode::OK, &[("/metrics", Some((USER, PASSWORD)))]);
        started.elapsed()
    };
    let first = timed(&seen);
    let mut repeats: Vec<Duration> = (0..20).map(|_| timed(&seen)).collect();
    repeats.sort();
    eprintln!("[it] access: first verified /metrics {:?}, remembered median {:?}", first, repeats[10]);

    app.stop();
    assert_secrets_never_shown(&d, &app, &hash);
}

#[test]
fn a_key_that_cannot_be_read_refuses_the_start_with_exit_code_2() {
    let kafka = MockKafka::start();
    let d = deployment(&kafka, "access-bad-key");
    let (cert_file, _, _) = certificate(&d);
    let missing = d.dir.join("missing-key.pem").display().to_string();
    let config = d.dir.join("slostream.yaml");
    fs::write(&config, d.exporter_tls(&cert_file, &missing).render(free_port())).expect("write config");
    let out = Command::new(env!("CARGO_BIN_EXE_slostream"))
        .args(["run", "--config"])
        .arg(&config)
        .stdin(Stdio::null())
        .output()
        .expect("run slostream");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let want =
        format!("slostream: invalid config: {}: exporter.tls.key_file: cannot read {missing:?}: ", config.display());
    assert!(stderr.contains(&want), "expected {want:?} in:\n{stderr}");
}
