//! The OpenAPI document against the running server: `GET /openapi.json` describes every route,
//! and schemathesis fuzzes every operation from it (inputs the document allows and inputs it
//! does not), checking that no request gets a 5xx and that every response has a status, a
//! content type and a body the document declares. schemathesis comes from the Python that
//! `EMBED_CLIENTS_PYTHON` names (its venv, as `cargo xtask test` makes it from
//! `scripts/requirements-clients.txt`).

use std::path::PathBuf;
use std::process::Command;

use embed_server::ServerConfig;
use serde_json::Value;

use super::TestServer;

/// Test cases per operation and phase: enough to reach every schema branch, few enough that
/// the real model answers them in seconds.
const EXAMPLES_PER_OPERATION: &str = "25";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_is_served_and_describes_every_route() {
    let server = TestServer::start(ServerConfig::default()).await;
    let response = server.client.get(server.url("/openapi.json")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let document: Value = response.json().await.unwrap();
    assert!(document["openapi"].as_str().is_some_and(|v| v.starts_with("3.")), "{document}");
    let paths = document["paths"].as_object().unwrap();
    for path in ["/v1/embeddings", "/embed", "/", "/api/v1/embed", "/api/v1/embed/batch", "/v1/models", "/health"] {
        assert!(paths.contains_key(path), "{path} is not described");
    }
}

/// The schemathesis executable beside the Python of `EMBED_CLIENTS_PYTHON`.
fn schemathesis() -> Option<PathBuf> {
    let python = PathBuf::from(std::env::var_os("EMBED_CLIENTS_PYTHON").filter(|p| !p.is_empty())?);
    let name = if cfg!(windows) { "schemathesis.exe" } else { "schemathesis" };
    let executable = python.with_file_name(name);
    assert!(
        executable.is_file(),
        "EMBED_CLIENTS_PYTHON's venv has no {} (scripts/requirements-clients.txt lists it)",
        executable.display()
    );
    Some(executable)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_5xx_and_no_response_outside_the_document() {
    let Some(schemathesis) = schemathesis() else {
        eprintln!("EMBED_CLIENTS_PYTHON is not set: the schemathesis run did not happen");
        return;
    };
    let server = TestServer::start(ServerConfig::default()).await;
    let schema = server.url("/openapi.json");
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(&schemathesis);
    command
        .current_dir(dir.path())
        .args(["run", &schema, "--no-color", "--seed", "14", "--generation-database", "none"])
        .args(["--max-examples", EXAMPLES_PER_OPERATION, "--workers", "2", "--request-timeout", "60"])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        ]);
    let output = tokio::task::spawn_blocking(move || command.output()).await.unwrap().unwrap();
    let report = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    eprintln!("{report}");
    assert!(output.status.success(), "schemathesis failed ({}):\n{report}", output.status);
    // Every operation of the document was tested (schemathesis 4 reports `Selected: <n>/<n>`
    // and `Tested: <n>`), and there are at least the eight of the embedding and ops routes.
    let total = report
        .lines()
        .find_map(|line| line.trim().strip_prefix("Selected: ").and_then(|s| s.split('/').nth(1)))
        .and_then(|n| n.trim().parse::<usize>().ok())
        .unwrap_or_else(|| panic!("no operation count in the report:\n{report}"));
    assert!(total >= 8, "{total} operations in the document:\n{report}");
    assert!(report.contains(&format!("Tested: {total}")), "not every one of {total} operations ran:\n{report}");
}
