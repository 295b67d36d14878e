//! The client side of the JobManager's REST API: upload modules the JobManager lacks, submit a
//! JobGraph, read and cancel jobs. Every failure names the JobManager and what it said.

use serde::de::DeserializeOwned;
use std::time::Duration;
use weir_proto::graph::JobGraph;
use weir_proto::rest::{JobSummary, JobView, Overview, Submitted, TaskManagerView};

/// Why a REST call failed.
#[derive(Debug, thiserror::Error)]
pub enum RestError {
    /// The JobManager could not be reached.
    #[error(
        "cannot reach the JobManager at {url}: {detail}\n  hint: is `weir jobmanager` running there? (--jobmanager URL or WEIR_JOBMANAGER)"
    )]
    Unreachable {
        /// The URL called.
        url: String,
        /// What the transport said.
        detail: String,
    },
    /// The JobManager answered with an error.
    #[error("the JobManager refused {what} ({status}): {message}")]
    Refused {
        /// What was asked.
        what: String,
        /// The HTTP status.
        status: u16,
        /// The JobManager's message.
        message: String,
    },
    /// The answer was not what the API promises.
    #[error("the JobManager's answer to {what} is not valid: {detail}")]
    BadAnswer {
        /// What was asked.
        what: String,
        /// What was wrong.
        detail: String,
    },
    /// A module of the job could not be read from its file here.
    #[error("module `{module}`: cannot read {path}: {source}")]
    ModuleFile {
        /// The module's name in the job.
        module: String,
        /// Its file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// A connection to one JobManager's REST API.
pub struct RestClient {
    agent: ureq::Agent,
    base: String,
    token: Option<String>,
}

impl RestClient {
    /// A client of the JobManager at `base` (e.g. `http://127.0.0.1:8081`), sending `token`.
    pub fn new(base: &str, token: Option<String>) -> Self {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build();
        RestClient {
            agent: ureq::Agent::new_with_config(config),
            base: base.trim_end_matches('/').to_string(),
            token,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn authorize<B>(&self, request: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        match &self.token {
            Some(token) => request.header("Authorization", &format!("Bearer {token}")),
            None => request,
        }
    }

    fn answer<T: DeserializeOwned>(
        &self,
        what: &str,
        url: &str,
        response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<T, RestError> {
        let mut response = response.map_err(|e| RestError::Unreachable {
            url: url.to_string(),
            detail: e.to_string(),
        })?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_string()
            .map_err(|e| RestError::BadAnswer {
                what: what.to_string(),
                detail: e.to_string(),
            })?;
        if status >= 400 {
            let message = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_string))
                .unwrap_or(text);
            return Err(RestError::Refused {
                what: what.to_string(),
                status,
                message,
            });
        }
        serde_json::from_str(&text).map_err(|e| RestError::BadAnswer {
            what: what.to_string(),
            detail: e.to_string(),
        })
    }

    fn get<T: DeserializeOwned>(&self, what: &str, path: &str) -> Result<T, RestError> {
        let url = self.url(path);
        let response = self.authorize(self.agent.get(&url)).call();
        self.answer(what, &url, response)
    }

    fn post<T: DeserializeOwned>(
        &self,
        what: &str,
        path: &str,
        body: &[u8],
    ) -> Result<T, RestError> {
        let url = self.url(path);
        let response = self
            .authorize(self.agent.post(&url))
            .header("Content-Type", "application/json")
            .send(body);
        self.answer(what, &url, response)
    }

    /// Whether the JobManager holds module `sha256`.
    pub fn has_module(&self, sha256: &str) -> Result<bool, RestError> {
        match self.get::<serde_json::Value>("a module lookup", &format!("/v1/blobs/{sha256}")) {
            Ok(_) => Ok(true),
            Err(RestError::Refused { status: 404, .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Uploads module bytes announced as `sha256` (the JobManager checks them).
    pub fn upload_module(&self, sha256: &str, bytes: &[u8]) -> Result<(), RestError> {
        let url = self.url(&format!("/v1/blobs/{sha256}"));
        let response = self
            .authorize(self.agent.put(&url))
            .header("Content-Type", "application/wasm")
            .send(bytes);
        self.answer::<serde_json::Value>(&format!("the upload of module {sha256}"), &url, response)
            .map(|_| ())
    }

    /// Uploads every module of `graph` the JobManager lacks; returns how many were sent.
    pub fn upload_modules(&self, graph: &JobGraph) -> Result<usize, RestError> {
        let mut missing = Vec::new();
        for module in graph.modules.values() {
            if !self.has_module(&module.sha256)? {
                let size = std::fs::metadata(&module.path).map_or(0, |m| m.len());
                missing.push((module, size));
            }
        }
        let total = missing.iter().map(|(_, size)| size).sum();
        let progress = super::progress::bytes(total, "uploading modules");
        for (module, size) in &missing {
            progress.set_message(format!("uploading module `{}`", module.name));
            let bytes = std::fs::read(&module.path).map_err(|source| RestError::ModuleFile {
                module: module.name.clone(),
                path: module.path.clone(),
                source,
            })?;
            self.upload_module(&module.sha256, &bytes)?;
            progress.inc(*size);
        }
        progress.finish_and_clear();
        Ok(missing.len())
    }

    /// Submits `graph`, resuming from the checkpoint or savepoint at `from_savepoint` (a
    /// path the JobManager reads) if given; returns the job's id.
    pub fn submit(
        &self,
        graph: &JobGraph,
        from_savepoint: Option<&str>,
    ) -> Result<String, RestError> {
        let body = serde_json::to_vec(graph).map_err(|e| RestError::BadAnswer {
            what: "the submission".into(),
            detail: e.to_string(),
        })?;
        let path = match from_savepoint {
            None => "/v1/jobs".to_string(),
            Some(from) => format!("/v1/jobs?from_savepoint={}", percent_encode(from)),
        };
        self.post::<Submitted>("the job submission", &path, &body)
            .map(|s| s.id)
    }

    /// Asks for a savepoint of job `id` into `dir` (the cluster's default when `None`),
    /// stopping the job once it is written when `stop`; returns the savepoint's id. Its path
    /// shows in the job's view once written.
    pub fn savepoint(&self, id: &str, dir: Option<&str>, stop: bool) -> Result<u64, RestError> {
        let body = serde_json::json!({ "dir": dir, "stop": stop }).to_string();
        let answer: serde_json::Value = self.post(
            &format!("a savepoint of job {id}"),
            &format!("/v1/jobs/{id}/savepoints"),
            body.as_bytes(),
        )?;
        answer["savepoint"]
            .as_u64()
            .ok_or_else(|| RestError::BadAnswer {
                what: format!("a savepoint of job {id}"),
                detail: format!("no savepoint id in {answer}"),
            })
    }

    /// One job.
    pub fn job(&self, id: &str) -> Result<JobView, RestError> {
        self.get(
            &format!("the status of job {id}"),
            &format!("/v1/jobs/{id}"),
        )
    }

    /// Every job.
    pub fn jobs(&self) -> Result<Vec<JobSummary>, RestError> {
        self.get("the job list", "/v1/jobs")
    }

    /// Every TaskManager.
    pub fn taskmanagers(&self) -> Result<Vec<TaskManagerView>, RestError> {
        self.get("the TaskManager list", "/v1/taskmanagers")
    }

    /// The cluster at a glance.
    pub fn overview(&self) -> Result<Overview, RestError> {
        self.get("the overview", "/v1/overview")
    }

    /// Asks job `id` to stop.
    pub fn cancel(&self, id: &str) -> Result<(), RestError> {
        self.post::<serde_json::Value>(
            &format!("cancelling job {id}"),
            &format!("/v1/jobs/{id}/cancel"),
            b"",
        )
        .map(|_| ())
    }
}

/// `text` for a URL query: unreserved characters and `/` as they are, the rest `%XX`.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
