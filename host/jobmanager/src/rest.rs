//! The REST API (HTTP/JSON). Every route needs `Authorization: Bearer <token>` when the cluster
//! has a token; a refused call is logged with its caller.
//!
//! - `GET /` the web dashboard (no token needed for the page; it asks for one)
//! - `GET /metrics` (Prometheus text format), `GET /v1/overview`, `GET /v1/taskmanagers`
//! - `GET /v1/blobs/{sha256}` (404 if absent), `PUT /v1/blobs/{sha256}` (verified before kept)
//! - `POST /v1/jobs[?from_savepoint=PATH]` (a JobGraph; its modules must be uploaded),
//!   `GET /v1/jobs`, `GET /v1/jobs/{id}`, `GET /v1/jobs/{id}/graph`, `POST /v1/jobs/{id}/cancel`
//! - `POST /v1/jobs/{id}/savepoints` (`{"dir": …, "stop": bool}`): the job's view then shows
//!   the savepoint's path once written

use super::Shared;
use crate::{JobManagerError, JobRequestError, RestorePoint};
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, any, get, post, put};
use axum::{Json, Router};
use std::net::SocketAddr;
use std::sync::Arc;
use weir_blob::BlobError;
use weir_proto::graph::JobGraph;
use weir_proto::rest::{SavepointRequest, Submitted};
use weir_state::checkpoint::Restore;

type Reply = Result<Response, (StatusCode, Json<serde_json::Value>)>;

fn refuse(status: StatusCode, message: impl Into<String>) -> (StatusCode, Json<serde_json::Value>) {
    (status, Json(serde_json::json!({ "error": message.into() })))
}

/// Every API route: its path and the methods it serves. The router is built from this table,
/// and a test compares it with `docs/openapi.yaml`.
const ROUTES: [(&str, &[&str]); 10] = [
    ("/metrics", &["get"]),
    ("/v1/openapi.yaml", &["get"]),
    ("/v1/overview", &["get"]),
    ("/v1/taskmanagers", &["get"]),
    ("/v1/blobs/{sha256}", &["get", "put"]),
    ("/v1/jobs", &["get", "post"]),
    ("/v1/jobs/{id}", &["get"]),
    ("/v1/jobs/{id}/graph", &["get"]),
    ("/v1/jobs/{id}/cancel", &["post"]),
    ("/v1/jobs/{id}/savepoints", &["post"]),
];

/// The dashboard page: outside the token check, it holds no data.
const PAGE: &str = "/";

/// The handler of `method` on `path`, one of [`ROUTES`].
fn handler(method: &str, path: &str) -> Option<MethodRouter<Arc<Shared>>> {
    Some(match (method, path) {
        ("get", "/metrics") => get(metrics),
        ("get", "/v1/openapi.yaml") => get(openapi),
        ("get", "/v1/overview") => get(overview),
        ("get", "/v1/taskmanagers") => get(taskmanagers),
        ("get", "/v1/blobs/{sha256}") => get(blob_exists),
        ("put", "/v1/blobs/{sha256}") => put(upload_blob),
        ("get", "/v1/jobs") => get(jobs),
        ("post", "/v1/jobs") => post(submit),
        ("get", "/v1/jobs/{id}") => get(job),
        ("get", "/v1/jobs/{id}/graph") => get(graph),
        ("post", "/v1/jobs/{id}/cancel") => post(cancel),
        ("post", "/v1/jobs/{id}/savepoints") => post(savepoint),
        _ => return None,
    })
}

async fn not_implemented() -> StatusCode {
    StatusCode::NOT_IMPLEMENTED
}

/// Serves the API on `listener` until the process stops.
pub(super) async fn serve(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
) -> Result<(), JobManagerError> {
    let body_limit = shared.blobs.max_bytes() as usize + 1024;
    let local = listener
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    let mut router = Router::new();
    for (path, methods) in ROUTES {
        let mut handlers = MethodRouter::new();
        for method in methods {
            // ROUTES and `handler` are one table (a unit test holds them together): a route
            // without a handler answers 501 rather than stopping the JobManager.
            handlers =
                handlers.merge(handler(method, path).unwrap_or_else(|| any(not_implemented)));
        }
        router = router.route(path, handlers);
    }
    let router = router
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            authorize,
        ))
        // The dashboard page holds no data: it asks for the token and calls the API with it.
        .route(PAGE, get(dashboard))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(shared);
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
    .map_err(|source| JobManagerError::Endpoint {
        endpoint: "REST",
        address: local,
        source,
    })
}

async fn authorize(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(caller): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(token) = &shared.token {
        let presented = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let why = match presented {
            None => Some("no bearer token"),
            Some(presented) if !constant_time_eq(presented.as_bytes(), token.as_bytes()) => {
                Some("a wrong bearer token")
            }
            Some(_) => None,
        };
        if let Some(why) = why {
            tracing::warn!(%caller, method = %request.method(), path = %request.uri().path(), "refused a REST call with {why}");
            return refuse(
                StatusCode::UNAUTHORIZED,
                format!("{why}: this JobManager requires `Authorization: Bearer <token>` (the token is in the cluster directory's rest-token file)"),
            )
            .into_response();
        }
    }
    next.run(request).await
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The API's description (`docs/openapi.yaml`, compiled in).
const OPENAPI: &str = include_str!("../../../docs/openapi.yaml");

async fn openapi() -> Reply {
    Ok(([(header::CONTENT_TYPE, "application/yaml")], OPENAPI).into_response())
}

/// The web dashboard: one page, its data from the API.
async fn dashboard() -> Response {
    let page = include_str!("dashboard/index.html");
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response()
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Reply {
    let text = shared.read(crate::metrics::jobmanager_metrics);
    Ok((
        [(header::CONTENT_TYPE, weir_runtime::exposition::CONTENT_TYPE)],
        text,
    )
        .into_response())
}

async fn overview(State(shared): State<Arc<Shared>>) -> Reply {
    Ok(Json(shared.read(|state, _| state.overview())).into_response())
}

async fn taskmanagers(State(shared): State<Arc<Shared>>) -> Reply {
    Ok(Json(shared.read(|state, now| state.taskmanagers(now))).into_response())
}

async fn blob_exists(State(shared): State<Arc<Shared>>, Path(sha256): Path<String>) -> Reply {
    if shared.blobs.contains(&sha256) {
        Ok(Json(serde_json::json!({ "sha256": sha256 })).into_response())
    } else {
        Err(refuse(StatusCode::NOT_FOUND, format!("no module {sha256}")))
    }
}

async fn upload_blob(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(caller): ConnectInfo<SocketAddr>,
    Path(sha256): Path<String>,
    body: Bytes,
) -> Reply {
    match shared.blobs.put(&sha256, &body) {
        Ok(_) => {
            tracing::info!(%caller, sha256, bytes = body.len(), "module uploaded");
            Ok((
                StatusCode::CREATED,
                Json(serde_json::json!({ "sha256": sha256 })),
            )
                .into_response())
        }
        Err(error) => {
            tracing::warn!(%caller, %error, "refused a module upload");
            let status = match error {
                BlobError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                BlobError::Io { .. } => StatusCode::INTERNAL_SERVER_ERROR,
                _ => StatusCode::BAD_REQUEST,
            };
            Err(refuse(status, error.to_string()))
        }
    }
}

async fn jobs(State(shared): State<Arc<Shared>>) -> Reply {
    Ok(Json(shared.read(|state, now| state.jobs(now))).into_response())
}

async fn job(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Reply {
    match shared.read(|state, now| state.job(&id, now)) {
        Some(view) => Ok(Json(view).into_response()),
        None => Err(refuse(StatusCode::NOT_FOUND, format!("no job `{id}`"))),
    }
}

/// The query of a submission.
#[derive(serde::Deserialize)]
struct SubmitQuery {
    /// A checkpoint or savepoint (on the JobManager's and TaskManagers' filesystem) to resume
    /// from.
    from_savepoint: Option<String>,
}

async fn graph(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Reply {
    match shared.read(|state, _| state.graph(&id)) {
        Some(view) => Ok(Json(view).into_response()),
        None => Err(refuse(StatusCode::NOT_FOUND, format!("no job `{id}`"))),
    }
}

async fn submit(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<SubmitQuery>,
    body: Bytes,
) -> Reply {
    let graph: JobGraph = serde_json::from_slice(&body)
        .map_err(|e| refuse(StatusCode::BAD_REQUEST, format!("not a JobGraph: {e}")))?;
    let restore = match &query.from_savepoint {
        None => None,
        Some(path) => {
            let restore = Restore::open(std::path::Path::new(path))
                .map_err(|e| refuse(StatusCode::BAD_REQUEST, e.to_string()))?;
            restore
                .check(&graph)
                .map_err(|e| refuse(StatusCode::BAD_REQUEST, e.to_string()))?;
            Some(RestorePoint {
                dir: restore.dir().to_path_buf(),
                id: restore.metadata.id,
            })
        }
    };
    if graph.vertices.is_empty() {
        return Err(refuse(StatusCode::BAD_REQUEST, "the job has no vertices"));
    }
    for module in graph.modules.values() {
        if !shared.blobs.contains(&module.sha256) {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                format!(
                    "module `{}` ({}) has not been uploaded: PUT it to /v1/blobs/{} first",
                    module.name, module.sha256, module.sha256
                ),
            ));
        }
    }
    let id = new_job_id().map_err(|e| refuse(StatusCode::INTERNAL_SERVER_ERROR, e))?;
    tracing::info!(job = id, name = graph.name, "job submitted");
    shared.update(|state, now| ((), state.submit_resuming(id.clone(), graph, restore, now)));
    Ok((StatusCode::ACCEPTED, Json(Submitted { id })).into_response())
}

async fn cancel(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Reply {
    let result = shared.update(|state, now| match state.cancel(&id, now) {
        Ok(out) => (Ok(()), out),
        Err(e) => (Err(e), Vec::new()),
    });
    match result {
        Ok(()) => Ok((StatusCode::ACCEPTED, Json(serde_json::json!({ "id": id }))).into_response()),
        Err(e @ JobRequestError::NoSuchJob(_)) => Err(refuse(StatusCode::NOT_FOUND, e.to_string())),
        Err(e @ JobRequestError::Refused(_)) => Err(refuse(StatusCode::CONFLICT, e.to_string())),
    }
}

async fn savepoint(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Reply {
    let request: SavepointRequest = match body.is_empty() {
        true => SavepointRequest {
            dir: None,
            stop: false,
        },
        false => serde_json::from_slice(&body).map_err(|e| {
            refuse(
                StatusCode::BAD_REQUEST,
                format!("not a savepoint request: {e}"),
            )
        })?,
    };
    let dir = request.dir.map(std::path::PathBuf::from);
    let result = shared.update(|state, _| match state.savepoint(&id, dir, request.stop) {
        Ok((savepoint, out)) => (Ok(savepoint), out),
        Err(e) => (Err(e), Vec::new()),
    });
    match result {
        Ok(savepoint) => Ok((
            StatusCode::ACCEPTED,
            Json(serde_json::json!({ "id": id, "savepoint": savepoint })),
        )
            .into_response()),
        Err(e @ JobRequestError::NoSuchJob(_)) => Err(refuse(StatusCode::NOT_FOUND, e.to_string())),
        Err(e @ JobRequestError::Refused(_)) => Err(refuse(StatusCode::CONFLICT, e.to_string())),
    }
}

fn new_job_id() -> Result<String, String> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).map_err(|e| format!("no system randomness: {e}"))?;
    Ok(hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    /// (method, path) of every route the router is built with.
    fn served() -> BTreeSet<(String, String)> {
        super::ROUTES
            .iter()
            .flat_map(|(path, methods)| methods.iter().map(|m| (m.to_string(), path.to_string())))
            .chain([("get".to_string(), super::PAGE.to_string())])
            .collect()
    }

    /// (method, path) of every operation in the OpenAPI document.
    fn documented() -> BTreeSet<(String, String)> {
        let document: serde_norway::Value =
            serde_norway::from_str(super::OPENAPI).expect("docs/openapi.yaml parses");
        let paths = document["paths"].as_mapping().expect("paths");
        let mut routes = BTreeSet::new();
        for (path, item) in paths {
            let path = path.as_str().expect("a path").to_string();
            for method in ["get", "put", "post", "delete"] {
                if item.get(method).is_some() {
                    routes.insert((method.to_string(), path.clone()));
                }
            }
        }
        routes
    }

    #[test]
    fn the_openapi_document_lists_exactly_the_routes_served() {
        let (served, documented) = (served(), documented());
        assert_eq!(
            served,
            documented,
            "served but undocumented: {:?}; documented but not served: {:?}",
            served.difference(&documented).collect::<Vec<_>>(),
            documented.difference(&served).collect::<Vec<_>>()
        );
    }

    #[test]
    fn every_route_has_its_handler() {
        for (path, methods) in super::ROUTES {
            for method in methods {
                assert!(super::handler(method, path).is_some(), "{method} {path}");
            }
        }
        assert!(super::handler("delete", "/v1/jobs").is_none());
    }
}
