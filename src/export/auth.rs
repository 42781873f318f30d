//! `exporter.basic_auth` enforced: every path but the probes' needs the configured user and
//! password, checked against the bcrypt hash as Prometheus's exporter-toolkit does.
//!
//! [`protect`] wraps the finished router, fallback included, so a page added to it later is
//! protected with nothing more to do and an unknown path answers 401, not 404, to a stranger.
//! Only [`OPEN`] passes without credentials: orchestrators probe `/health` and `/ready` without
//! any.
//!
//! bcrypt is slow on purpose (tens of milliseconds at cost 10) and Prometheus scrapes every
//! 15 s, so credentials that verified once are remembered, as exporter-toolkit does; but as an
//! HMAC-SHA256 tag under a key drawn at start, never as the password, and a repeat is compared
//! with the tag in constant time. The user name is compared in constant time too, and bcrypt
//! runs whatever the name, so timing tells nothing about which part was wrong. Verifications
//! run one at a time on the blocking pool: a flood of wrong passwords costs one core at most and
//! never stalls the probes or a remembered scraper.

use std::sync::{Arc, PoisonError, RwLock};

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine;
use ring::hmac;
use tokio::sync::Semaphore;

use crate::config::BasicAuthConfig;

/// The liveness probe's path.
pub const HEALTH: &str = "/health";
/// The readiness probe's path.
pub const READY: &str = "/ready";
/// The only paths served without credentials.
const OPEN: [&str; 2] = [HEALTH, READY];

/// What a 401 asks the client for.
const CHALLENGE: &str = "Basic realm=\"slostream\", charset=\"UTF-8\"";

/// `app` with every path but [`OPEN`] behind `auth`; `app` unchanged when `auth` is `None`.
pub fn protect(app: Router, auth: Option<&BasicAuthConfig>) -> Router {
    match auth {
        None => app,
        Some(auth) => app.layer(middleware::from_fn_with_state(Arc::new(Guard::new(auth)), check)),
    }
}

async fn check(State(guard): State<Arc<Guard>>, request: Request, next: Next) -> Response {
    if OPEN.contains(&request.uri().path()) || guard.admits(request.headers()).await {
        return next.run(request).await;
    }
    (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, CHALLENGE)], "unauthorized\n").into_response()
}

/// The configured user, and the credentials already verified.
struct Guard {
    /// Drawn at start; keys the tags below, so they are worthless outside this process.
    key: hmac::Key,
    /// The tag of the configured user name.
    username: hmac::Tag,
    password_hash: String,
    /// The tag of the last `user:password` that verified.
    verified: RwLock<Option<hmac::Tag>>,
    /// One bcrypt at a time.
    bcrypt: Semaphore,
}

impl Guard {
    fn new(auth: &BasicAuthConfig) -> Guard {
        let key = hmac::Key::generate(hmac::HMAC_SHA256, &ring::rand::SystemRandom::new())
            .expect("the system random generator");
        Guard {
            username: hmac::sign(&key, auth.username.as_bytes()),
            key,
            password_hash: auth.password_hash().to_string(),
            verified: RwLock::new(None),
            bcrypt: Semaphore::new(1),
        }
    }

    async fn admits(self: &Arc<Self>, headers: &HeaderMap) -> bool {
        let Some(credentials) = credentials(headers) else { return false };
        if self.remembered(&credentials) {
            return true;
        }
        let Ok(_one_at_a_time) = self.bcrypt.acquire().await else { return false };
        // Another request may have verified the same credentials while this one waited.
        if self.remembered(&credentials) {
            return true;
        }
        let guard = self.clone();
        tokio::task::spawn_blocking(move || guard.verify(&credentials)).await.unwrap_or(false)
    }

    fn remembered(&self, credentials: &[u8]) -> bool {
        let verified = self.verified.read().unwrap_or_else(PoisonError::into_inner);
        verified.as_ref().is_some_and(|tag| hmac::verify(&self.key, credentials, tag.as_ref()).is_ok())
    }

    /// The bcrypt check of `user:password`; remembers it when it passes.
    fn verify(&self, credentials: &[u8]) -> bool {
        let (user, password) = match credentials.iter().position(|&b| b == b':') {
            Some(colon) => (&credentials[..colon], &credentials[colon + 1..]),
            None => (credentials, &[][..]),
        };
        let user_ok = hmac::verify(&self.key, user, self.username.as_ref()).is_ok();
        let password_ok = bcrypt::verify(password, &self.password_hash).unwrap_or(false);
        if user_ok && password_ok {
            let tag = hmac::sign(&self.key, credentials);
            *self.verified.write().unwrap_or_else(PoisonError::into_inner) = Some(tag);
        }
        user_ok && password_ok
    }
}

/// The decoded `user:password` of an `Authorization: Basic ...` header.
fn credentials(headers: &HeaderMap) -> Option<Vec<u8>> {
    let value = headers.get(header::AUTHORIZATION)?.as_bytes();
    let (scheme, encoded) = value.split_at(value.iter().position(|&b| b == b' ')?);
    if !scheme.eq_ignore_ascii_case(b"basic") {
        return None;
    }
    base64::engine::general_purpose::STANDARD.decode(encoded.trim_ascii()).ok()
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;

    /// `hunter2` at cost 4 (`htpasswd -nbBC 4 "" hunter2`).
    const YAML: &str =
        r#"{ username: prometheus, password_hash: "$2y$04$AOgl9VdymsrQW/EQIYm.LOSsK7B3ddoRUBQUDTcax2Sykh5ruJXqq" }"#;

    fn auth() -> BasicAuthConfig {
        let example = include_str!("../../config/example.yaml");
        let yaml = example.replacen("exporter:\n", &format!("exporter:\n  basic_auth: {YAML}\n"), 1);
        assert_ne!(yaml, example, "the example has no exporter section");
        crate::config::Config::from_yaml(&yaml, "x.yaml").unwrap().exporter.basic_auth.unwrap()
    }

    /// The probes, `/metrics`, and pages added later: all but the probes need credentials.
    fn app() -> Router {
        let page = || get(|| async { "page\n" });
        let routes = Router::new()
            .route(HEALTH, page())
            .route(READY, page())
            .route("/metrics", page())
            .route("/", page())
            .route("/api/v1/slos/{name}", page());
        protect(routes, Some(&auth()))
    }

    fn basic(credentials: &str) -> String {
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(credentials))
    }

    async fn status(app: &Router, path: &str, authorization: Option<&str>) -> (StatusCode, Option<String>) {
        let mut request = Request::builder().uri(path);
        if let Some(a) = authorization {
            request = request.header(header::AUTHORIZATION, a);
        }
        let response = app.clone().oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
        let challenge = response.headers().get(header::WWW_AUTHENTICATE).map(|v| v.to_str().unwrap().to_string());
        (response.status(), challenge)
    }

    #[tokio::test]
    async fn every_path_but_the_probes_needs_the_right_credentials() {
        let app = app();
        let right = basic("prometheus:hunter2");
        for path in ["/metrics", "/", "/api/v1/slos/checkout", "/no-such-page"] {
            for wrong in [None, Some(basic("prometheus:hunter3")), Some(basic("grafana:hunter2"))] {
                let got = status(&app, path, wrong.as_deref()).await;
                assert_eq!(got, (StatusCode::UNAUTHORIZED, Some(CHALLENGE.into())), "{path} {wrong:?}");
            }
            let want = if path == "/no-such-page" { StatusCode::NOT_FOUND } else { StatusCode::OK };
            assert_eq!(status(&app, path, Some(&right)).await, (want, None), "{path}");
        }
        for path in [HEALTH, READY] {
            assert_eq!(status(&app, path, None).await, (StatusCode::OK, None), "{path}");
        }
        // Only the exact probe paths are open.
        assert_eq!(status(&app, "/health/../metrics", None).await.0, StatusCode::UNAUTHORIZED);
        assert_eq!(status(&app, "/ready/", None).await.0, StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn malformed_headers_are_refused() {
        let app = app();
        let encoded = base64::engine::general_purpose::STANDARD.encode("prometheus:hunter2");
        for header in [
            format!("Bearer {encoded}"),
            format!("Basic{encoded}"),
            "Basic !!!".to_string(),
            basic("prometheus"),
            basic("prometheus:"),
            basic(":hunter2"),
            basic("prometheus:hunter2:"),
        ] {
            assert_eq!(status(&app, "/metrics", Some(&header)).await.0, StatusCode::UNAUTHORIZED, "{header}");
        }
        // The scheme is case-insensitive (RFC 7617).
        assert_eq!(status(&app, "/metrics", Some(&format!("basic {encoded}"))).await.0, StatusCode::OK);
    }

    #[test]
    fn verified_credentials_are_remembered_as_a_tag_not_the_password() {
        let guard = Guard::new(&auth());
        assert!(!guard.remembered(b"prometheus:hunter2"));
        assert!(!guard.verify(b"prometheus:hunter3"));
        assert!(guard.verified.read().unwrap().is_none(), "a failure is not remembered");
        assert!(guard.verify(b"prometheus:hunter2"));
        assert!(guard.remembered(b"prometheus:hunter2"));
        assert!(!guard.remembered(b"prometheus:hunter3"));
        assert!(!guard.remembered(b"prometheus:hunter2 "));
        let tag = guard.verified.read().unwrap().as_ref().map(|t| t.as_ref().to_vec()).unwrap();
        assert_eq!(tag.len(), 32);
        assert!(!tag.windows(7).any(|w| w == b"hunter2"));
    }
}
