//! The REST API against a real JobManager with a TaskManager (issue 7): every operation of
//! `docs/openapi.yaml` is called, each answer's status is one the document lists for it and
//! its JSON has the fields the document requires; every route but the dashboard refuses a
//! call without the token. A route documented but not exercised here fails the test.

use crate::harness::{job_file, repo, udf};
use crate::live_cluster::LiveCluster;
use serde_norway::Value as Yaml;
use std::collections::BTreeSet;
use std::time::Duration;

struct Api {
    agent: ureq::Agent,
    base: String,
    token: String,
    document: Yaml,
    exercised: BTreeSet<(String, String)>,
}

/// One answer: status and body.
struct Answer {
    status: u16,
    body: String,
}

impl Api {
    /// Calls `method template` (the documented path) as `path`, with or without the token;
    /// checks the status against the document and returns the answer.
    fn call(
        &mut self,
        (method, template): (&str, &str),
        path: &str,
        body: Option<&[u8]>,
        authorized: bool,
    ) -> Answer {
        let url = format!("{}{path}", self.base);
        let request = ureq::http::Request::builder()
            .method(method.to_uppercase().as_str())
            .uri(&url);
        let request = match authorized {
            true => request.header("Authorization", format!("Bearer {}", self.token)),
            false => request,
        };
        let request = request
            .header("Content-Type", "application/json")
            .body(body.unwrap_or_default().to_vec())
            .expect("request");
        let mut response = self.agent.run(request).expect("the JobManager answers");
        let status = response.status().as_u16();
        let body = response.body_mut().read_to_string().unwrap_or_default();
        let operation = &self.document["paths"][template][method];
        assert!(
            !operation.is_null(),
            "{method} {template} is not in docs/openapi.yaml"
        );
        let documented: Vec<String> = operation["responses"]
            .as_mapping()
            .expect("responses")
            .keys()
            .filter_map(|k| k.as_str().map(str::to_string))
            .collect();
        assert!(
            documented.contains(&status.to_string()),
            "{method} {path} answered {status} ({body}); docs/openapi.yaml lists {documented:?}"
        );
        self.exercised
            .insert((method.to_string(), template.to_string()));
        Answer { status, body }
    }

    /// Checks `body` against schema `name`'s required fields (`array`: each item's).
    fn conforms(&self, body: &str, name: &str, array: bool) -> serde_json::Value {
        let value: serde_json::Value = serde_json::from_str(body).expect("JSON answer");
        let schema = &self.document["components"]["schemas"][name];
        let required: Vec<&str> = schema["required"]
            .as_sequence()
            .expect("required")
            .iter()
            .filter_map(Yaml::as_str)
            .collect();
        let items: Vec<&serde_json::Value> = match array {
            true => value.as_array().expect("an array").iter().collect(),
            false => vec![&value],
        };
        for item in items {
            for field in &required {
                assert!(item.get(field).is_some(), "{name} lacks `{field}`: {item}");
            }
        }
        value
    }
}

#[test]
fn every_documented_operation_answers_as_documented_and_refuses_without_the_token() {
    let mut cluster = LiveCluster::start(1, &[]);
    cluster.add_taskmanager(None, &["--slots", "2"], 1);
    let work = tempfile::tempdir().expect("temp dir");
    let job = job_file(
        work.path(),
        "api.yaml",
        &format!(
            "name: api\nparallelism: 1\ncheckpointing: {{ interval_ms: 100 }}\nmodules:\n  count: {{ path: {:?} }}\npipeline:\n  - source: {{ datagen: {{ mode: sequence, rate: 5000, keys: 10 }} }}\n  - key_by: {{ field: key }}\n  - map: {{ module: count }}\n    name: counter\n  - sink: {{ blackhole: {{}} }}\n",
            udf("running_count")
        ),
    );
    let loaded = weir_client::spec::load(&job, &|_| None).expect("spec");
    let graph = weir_client::job_graph(
        &loaded,
        &weir_client::udf::UdfBuilder::new(crate::harness::weir_home()),
    )
    .expect("graph");
    let module = graph.modules.values().next().expect("a module").clone();
    let bytes = std::fs::read(&module.path).expect("module bytes");
    let text = std::fs::read_to_string(repo().join("docs/openapi.yaml")).expect("openapi.yaml");
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build();
    let mut api = Api {
        agent: ureq::Agent::new_with_config(config),
        base: cluster.rest.clone(),
        token: cluster.token(),
        document: serde_norway::from_str(&text).expect("openapi.yaml parses"),
        exercised: BTreeSet::new(),
    };

    let page = api.call(("get", "/"), "/", None, false);
    assert!(page.status == 200 && page.body.contains("<svg id=\"graph\""));
    let metrics = api.call(("get", "/metrics"), "/metrics", None, true);
    assert!(metrics.body.contains("# TYPE weir_taskmanagers gauge"));
    let served = api.call(("get", "/v1/openapi.yaml"), "/v1/openapi.yaml", None, true);
    assert_eq!(
        served.body, text,
        "the server serves the file in the repository"
    );
    let overview = api.call(("get", "/v1/overview"), "/v1/overview", None, true);
    assert_eq!(
        api.conforms(&overview.body, "Overview", false)["taskmanagers"],
        1
    );
    let tms = api.call(("get", "/v1/taskmanagers"), "/v1/taskmanagers", None, true);
    api.conforms(&tms.body, "TaskManager", true);

    let blob = ("/v1/blobs/{sha256}", format!("/v1/blobs/{}", module.sha256));
    let missing = api.call(("get", blob.0), &blob.1, None, true);
    assert_eq!(missing.status, 404, "not uploaded yet");
    let wrong = format!("/v1/blobs/{}", "0".repeat(64));
    assert_eq!(
        api.call(("put", blob.0), &wrong, Some(&bytes), true).status,
        400
    );
    assert_eq!(
        api.call(("put", blob.0), &blob.1, Some(&bytes), true)
            .status,
        201
    );
    assert_eq!(api.call(("get", blob.0), &blob.1, None, true).status, 200);

    let body = serde_json::to_vec(&graph).expect("graph JSON");
    assert_eq!(
        api.call(("post", "/v1/jobs"), "/v1/jobs", Some(b"{}"), true)
            .status,
        400
    );
    let submitted = api.call(("post", "/v1/jobs"), "/v1/jobs", Some(&body), true);
    assert_eq!(submitted.status, 202);
    let id = api.conforms(&submitted.body, "Submitted", false)["id"]
        .as_str()
        .expect("id")
        .to_string();
    let jobs = api.call(("get", "/v1/jobs"), "/v1/jobs", None, true);
    assert_eq!(
        api.conforms(&jobs.body, "JobSummary", true)[0]["id"],
        id.as_str()
    );
    cluster.wait_for("a checkpoint", Duration::from_secs(60), |c| {
        c.client().job(&id).is_ok_and(|v| v.checkpoints >= 1)
    });
    cluster.wait_for("a live rate", Duration::from_secs(60), |c| {
        c.client()
            .job(&id)
            .is_ok_and(|v| v.progress.vertices[0].records_in_per_second > 0.0)
    });
    let status = cluster.rest(&["status", &id]).expect_code(0).stdout;
    assert!(
        status.contains("IN/S") && status.contains("running"),
        "weir status shows rates: {status}"
    );
    let job_path = ("/v1/jobs/{id}", format!("/v1/jobs/{id}"));
    let view = api.call(("get", job_path.0), &job_path.1, None, true);
    assert_eq!(api.conforms(&view.body, "Job", false)["status"], "running");
    assert_eq!(
        api.call(("get", job_path.0), "/v1/jobs/nope", None, true)
            .status,
        404
    );
    let graph_path = ("/v1/jobs/{id}/graph", format!("/v1/jobs/{id}/graph"));
    let drawn = api.call(("get", graph_path.0), &graph_path.1, None, true);
    let drawn = api.conforms(&drawn.body, "Graph", false);
    assert_eq!(
        drawn["vertices"].as_array().map(Vec::len),
        Some(graph.vertices.len())
    );
    assert_eq!(
        api.call(("get", graph_path.0), "/v1/jobs/nope/graph", None, true)
            .status,
        404
    );

    let savepoints = work.path().join("savepoints");
    let request = serde_json::json!({ "dir": savepoints, "stop": false }).to_string();
    let savepoint_path = (
        "/v1/jobs/{id}/savepoints",
        format!("/v1/jobs/{id}/savepoints"),
    );
    let started = api.call(
        ("post", savepoint_path.0),
        &savepoint_path.1,
        Some(request.as_bytes()),
        true,
    );
    assert_eq!(started.status, 202, "{}", started.body);
    cluster.wait_for("the savepoint", Duration::from_secs(60), |c| {
        c.client().job(&id).is_ok_and(|v| v.savepoint.is_some())
    });
    let unknown = api.call(
        ("post", savepoint_path.0),
        "/v1/jobs/nope/savepoints",
        Some(b"{}"),
        true,
    );
    assert_eq!(unknown.status, 404);

    let cancel = ("/v1/jobs/{id}/cancel", format!("/v1/jobs/{id}/cancel"));
    assert_eq!(
        api.call(("post", cancel.0), &cancel.1, None, true).status,
        202
    );
    cluster.wait_for("the job to end", Duration::from_secs(60), |c| {
        c.client()
            .job(&id)
            .is_ok_and(|v| v.summary.status.is_terminal())
    });
    assert_eq!(
        api.call(("post", cancel.0), &cancel.1, None, true).status,
        409
    );
    assert_eq!(
        api.call(("post", cancel.0), "/v1/jobs/nope/cancel", None, true)
            .status,
        404
    );
    let ended = api.call(
        ("post", savepoint_path.0),
        &savepoint_path.1,
        Some(b"{}"),
        true,
    );
    assert_eq!(ended.status, 409, "no savepoint of an ended job");

    // Without the token, every route but the dashboard page says 401.
    let routes: Vec<(String, String)> = api.exercised.iter().cloned().collect();
    for (method, template) in routes.iter().filter(|(_, t)| t != "/") {
        let path = template
            .replace("{id}", &id)
            .replace("{sha256}", &module.sha256);
        let refused = api.call((method, template), &path, Some(b"{}"), false);
        assert_eq!(refused.status, 401, "{method} {path} without the token");
    }
    let documented: BTreeSet<(String, String)> = api.document["paths"]
        .as_mapping()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            let path = path.as_str().expect("path").to_string();
            ["get", "put", "post", "delete"]
                .into_iter()
                .filter(move |m| item.get(*m).is_some())
                .map(move |m| (m.to_string(), path.clone()))
        })
        .collect();
    assert_eq!(
        api.exercised, documented,
        "every documented operation is exercised"
    );
}
