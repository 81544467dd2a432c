//! The dashboard over HTTP: the pages of [`kubevigil_dashboard`] on `--listen`, read from the
//! history store opened read-only for each request.
//!
//! At most [`MAX_RENDERS`] pages are made at once; more requests get 503 with `Retry-After`.
//! Read-only (GET only: any other method is 405), optionally behind a bearer token or basic
//! authentication read from a file (a mounted Secret), and sent with a Content-Security-Policy
//! that allows the dashboard's own style sheet and nothing else, `X-Content-Type-Options:
//! nosniff`, `Referrer-Policy: no-referrer`, `X-Frame-Options: DENY` and `Cache-Control:
//! no-store` (the pages name objects and actors).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path as UrlPath, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use kubevigil_dashboard::{Dashboard, FindingFilter, PageError};
use kubevigil_detect::rules::RuleDoc;
use kubevigil_store::SqliteStore;
use sha2::{Digest, Sha256};

/// The objects the monitor holds of the cluster, as of the last snapshot its evaluation
/// published (none without a cluster, or before every kind is listed).
#[derive(Default)]
pub struct LiveObjects(std::sync::Mutex<Option<Arc<kubevigil_model::Store>>>);

impl LiveObjects {
    pub fn publish(&self, store: kubevigil_model::Store) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(store));
    }

    pub fn latest(&self) -> Option<Arc<kubevigil_model::Store>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Who may read the dashboard.
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    /// Anyone who can reach `--listen` (loopback by default).
    None,
    /// `Authorization: Bearer <token>`.
    Bearer(String),
    /// `Authorization: Basic ...` with this user and password (RFC 7617): what a browser asks
    /// for by itself.
    Basic { user: String, password: String },
}

impl std::fmt::Debug for Auth {
    // Never the secret itself: options are logged.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::None => write!(f, "None"),
            Auth::Bearer(_) => write!(f, "Bearer(<redacted>)"),
            Auth::Basic { user, .. } => write!(f, "Basic({user:?}, <redacted>)"),
        }
    }
}

impl Auth {
    /// A bearer token from a file (`--dashboard-token-file`): its content, without the line
    /// end a Secret or an editor may add.
    pub fn bearer_from_file(path: &Path) -> std::io::Result<Auth> {
        let token = read_secret(path)?;
        if token.is_empty() || token.contains(char::is_whitespace) {
            return Err(std::io::Error::other(format!(
                "{}: a token must be one word, not empty",
                path.display()
            )));
        }
        Ok(Auth::Bearer(token))
    }

    /// `user:password` from a file (`--dashboard-basic-auth-file`).
    pub fn basic_from_file(path: &Path) -> std::io::Result<Auth> {
        let text = read_secret(path)?;
        match text.split_once(':') {
            Some((user, password)) if !user.is_empty() && !password.is_empty() => Ok(Auth::Basic {
                user: user.to_string(),
                password: password.to_string(),
            }),
            _ => Err(std::io::Error::other(format!(
                "{}: expected one line user:password, neither empty",
                path.display()
            ))),
        }
    }

    /// Whether `authorization` (the request's header) grants access.
    fn admits(&self, authorization: Option<&HeaderValue>) -> bool {
        let given = authorization.and_then(|h| h.to_str().ok()).unwrap_or("");
        match self {
            Auth::None => true,
            Auth::Bearer(token) => given
                .strip_prefix("Bearer ")
                .is_some_and(|t| same_secret(t.trim(), token)),
            Auth::Basic { user, password } => given
                .strip_prefix("Basic ")
                .and_then(|b| {
                    base64::engine::general_purpose::STANDARD
                        .decode(b.trim())
                        .ok()
                })
                .and_then(|d| String::from_utf8(d).ok())
                .is_some_and(|d| same_secret(&d, &format!("{user}:{password}"))),
        }
    }

    fn challenge(&self) -> &'static str {
        match self {
            Auth::Basic { .. } => "Basic realm=\"kubevigil\", charset=\"UTF-8\"",
            _ => "Bearer realm=\"kubevigil\"",
        }
    }
}

fn read_secret(path: &Path) -> std::io::Result<String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    Ok(text.trim_end_matches(['\n', '\r']).to_string())
}

/// Compares digests, so that the time taken says nothing of where the strings differ or of
/// the secret's length.
fn same_secret(given: &str, expected: &str) -> bool {
    let (a, b) = (Sha256::digest(given), Sha256::digest(expected));
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

struct Pages {
    dashboard: Dashboard,
    db: PathBuf,
    auth: Auth,
    live: Arc<LiveObjects>,
    /// The checks' configuration the cluster is evaluated with (`None` without a cluster).
    config: Option<Arc<kubevigil_checks::Config>>,
    /// What that configuration suppresses in the last snapshot, worked out at the first
    /// request after each snapshot.
    suppressed: std::sync::Mutex<Option<Suppressed>>,
    /// Pages being rendered: at most [`MAX_RENDERS`] at once, the rest answered 503, so that
    /// requests cannot pile up work (a page reads the whole history).
    renders: Arc<tokio::sync::Semaphore>,
}

/// Pages rendered at once.
pub const MAX_RENDERS: usize = 4;

/// A snapshot and what a scan of it suppresses.
type Suppressed = (
    Arc<kubevigil_model::Store>,
    Arc<Vec<kubevigil_checks::Suppressed>>,
);

impl Pages {
    /// What exemptions and annotations suppress in the latest snapshot (`None` without one).
    fn suppressed(&self) -> Option<Arc<Vec<kubevigil_checks::Suppressed>>> {
        let live = self.live.latest()?;
        let config = self.config.as_ref()?;
        let mut cache = self.suppressed.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((seen, found)) = &*cache
            && Arc::ptr_eq(seen, &live)
        {
            return Some(found.clone());
        }
        let objects = live.objects().cloned().collect();
        let (_, outcome) = kubevigil_checks::scan_objects(objects, config, None);
        let found = Arc::new(outcome.suppressed);
        *cache = Some((live, found.clone()));
        Some(found)
    }
}

/// The dashboard's routes: `/`, `/findings`, `/findings/{fingerprint}`, `/alerts`, `/compliance`,
/// `/pod-security`, `/network`, `/rbac` (the last three over the cluster's objects), the style
/// sheet, and an HTML 404 for any other path.
pub fn router(
    state_dir: &Path,
    rules: impl IntoIterator<Item = RuleDoc>,
    auth: Auth,
    live: Arc<LiveObjects>,
    config: Option<Arc<kubevigil_checks::Config>>,
) -> Router {
    let pages = Arc::new(Pages {
        dashboard: Dashboard::new(rules),
        db: state_dir.join(kubevigil_store::DB_FILE),
        auth,
        live,
        config,
        suppressed: std::sync::Mutex::new(None),
        renders: Arc::new(tokio::sync::Semaphore::new(MAX_RENDERS)),
    });
    Router::new()
        .route("/", get(overview))
        .route("/findings", get(findings))
        .route("/findings/{fingerprint}", get(finding))
        .route("/alerts", get(alerts))
        .route("/compliance", get(compliance))
        .route("/pod-security", get(pod_security))
        .route("/network", get(network))
        .route("/rbac", get(rbac))
        .route(kubevigil_dashboard::STYLE_PATH, get(style))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(pages.clone(), guard))
        .with_state(pages)
}

/// Authentication first, then the headers every dashboard response carries.
async fn guard(State(pages): State<Arc<Pages>>, req: Request, next: Next) -> Response {
    let mut res = if pages.auth.admits(req.headers().get(header::AUTHORIZATION)) {
        next.run(req).await
    } else {
        let mut res = (StatusCode::UNAUTHORIZED, "authentication required\n").into_response();
        res.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(pages.auth.challenge()),
        );
        res
    };
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(kubevigil_dashboard::CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

/// A page made from the store, off the async threads (SQLite blocks).
async fn render(
    pages: Arc<Pages>,
    page: impl FnOnce(&Dashboard, &SqliteStore, i64) -> Result<Response, PageError> + Send + 'static,
) -> Response {
    let Ok(permit) = pages.renders.clone().try_acquire_owned() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "1")],
            "the dashboard is busy; try again\n",
        )
            .into_response();
    };
    let done = tokio::task::spawn_blocking(move || {
        // Held until the page is made, even if the client has gone.
        let _permit = permit;
        let now = kubevigil_store::now_ms();
        let store = SqliteStore::open_read_only(&pages.db)?;
        page(&pages.dashboard, &store, now)
    })
    .await;
    let now = kubevigil_store::now_ms();
    match done {
        Ok(Ok(res)) => res,
        Ok(Err(PageError::BadRequest(e))) => html(
            StatusCode::BAD_REQUEST,
            kubevigil_dashboard::bad_request(&e.to_string(), now),
        ),
        Ok(Err(PageError::Store(e))) => {
            tracing::error!(error = %e, "dashboard: history store");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "the history store cannot be read; see the monitor's log\n",
            )
                .into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "dashboard: page failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page failed; see the monitor's log\n",
            )
                .into_response()
        }
    }
}

async fn overview(State(pages): State<Arc<Pages>>) -> Response {
    let live = pages.live.latest();
    render(pages, move |d, store, now| {
        Ok(html(
            StatusCode::OK,
            d.overview(store, live.as_deref(), now)?,
        ))
    })
    .await
}

async fn findings(
    State(pages): State<Arc<Pages>>,
    Query(filter): Query<FindingFilter>,
) -> Response {
    let p = pages.clone();
    render(pages, move |d, store, now| {
        let suppressed = if filter.status.trim() == "suppressed" {
            p.suppressed()
        } else {
            None
        };
        Ok(html(
            StatusCode::OK,
            d.findings(
                store,
                suppressed.as_deref().map(Vec::as_slice),
                &filter,
                now,
            )?,
        ))
    })
    .await
}

async fn finding(
    State(pages): State<Arc<Pages>>,
    UrlPath(fingerprint): UrlPath<String>,
) -> Response {
    render(pages, move |d, store, now| {
        Ok(match d.finding(store, &fingerprint, now)? {
            Some(page) => html(StatusCode::OK, page),
            None => html(
                StatusCode::NOT_FOUND,
                kubevigil_dashboard::not_found(
                    &format!("No finding has the fingerprint {fingerprint}."),
                    now,
                ),
            ),
        })
    })
    .await
}

async fn pod_security(State(pages): State<Arc<Pages>>) -> Response {
    let live = pages.live.latest();
    render(pages, move |d, _, now| {
        Ok(html(StatusCode::OK, d.pod_security(live.as_deref(), now)))
    })
    .await
}

async fn network(State(pages): State<Arc<Pages>>) -> Response {
    let live = pages.live.latest();
    render(pages, move |d, _, now| {
        Ok(html(StatusCode::OK, d.network(live.as_deref(), now)))
    })
    .await
}

async fn rbac(State(pages): State<Arc<Pages>>) -> Response {
    let live = pages.live.latest();
    render(pages, move |d, store, now| {
        Ok(html(StatusCode::OK, d.rbac(live.as_deref(), store, now)?))
    })
    .await
}

async fn compliance(State(pages): State<Arc<Pages>>) -> Response {
    render(pages, |d, store, now| {
        Ok(html(StatusCode::OK, d.compliance(store, now)?))
    })
    .await
}

#[derive(serde::Deserialize)]
struct AlertsQuery {
    days: Option<u32>,
}

async fn alerts(State(pages): State<Arc<Pages>>, Query(q): Query<AlertsQuery>) -> Response {
    // At most the default retention: older alerts are pruned anyway.
    let days = q.days.unwrap_or(7).clamp(1, 90);
    render(pages, move |d, store, now| {
        Ok(html(StatusCode::OK, d.alerts(store, days, now)?))
    })
    .await
}

async fn style() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        kubevigil_dashboard::STYLE,
    )
        .into_response()
}

async fn not_found(req: Request) -> Response {
    html(
        StatusCode::NOT_FOUND,
        kubevigil_dashboard::not_found(
            &format!("Nothing is served at {}.", req.uri().path()),
            kubevigil_store::now_ms(),
        ),
    )
}
