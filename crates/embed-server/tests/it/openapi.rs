//! The OpenAPI documents against the running server: `GET /openapi.json` describes every route,
//! and schemathesis fuzzes every operation from it (inputs the document allows and inputs it
//! does not), checking that no request gets a 5xx and that every response has a status, a
//! content type and a body the document declares. Then the same from text-embeddings-inference's
//! own document (`fixtures/tei/openapi.json`, 1.9.3): embed answers every operation of it as the
//! document says. schemathesis comes from the Python that `EMBED_CLIENTS_PYTHON` names (its
//! venv, as `cargo xtask test` makes it from `scripts/requirements-clients.txt`).

use std::path::PathBuf;
use std::process::Command;

use embed_server::ServerConfig;
use serde_json::{Value, json};

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

/// Runs schemathesis from `schema` (a URL or a file) against `base` (the server's URL where the
/// document names none) and checks the report: it passed, and it tested every operation, at
/// least `operations`.
async fn run_schemathesis(schemathesis: PathBuf, schema: String, base: Option<String>, operations: usize) {
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
    if let Some(base) = base {
        command.args(["--url", &base]);
    }
    let output = tokio::task::spawn_blocking(move || command.output()).await.unwrap().unwrap();
    let report = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    eprintln!("{report}");
    assert!(output.status.success(), "schemathesis failed ({}):\n{report}", output.status);
    // Every operation of the document was tested (schemathesis 4 reports `Selected: <n>/<n>`
    // and `Tested: <n>`).
    let total = report
        .lines()
        .find_map(|line| line.trim().strip_prefix("Selected: ").and_then(|s| s.split('/').nth(1)))
        .and_then(|n| n.trim().parse::<usize>().ok())
        .unwrap_or_else(|| panic!("no operation count in the report:\n{report}"));
    assert!(total >= operations, "{total} operations in the document:\n{report}");
    assert!(report.contains(&format!("Tested: {total}")), "not every one of {total} operations ran:\n{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_5xx_and_no_response_outside_the_document() {
    let Some(schemathesis) = schemathesis() else {
        eprintln!("EMBED_CLIENTS_PYTHON is not set: the schemathesis run did not happen");
        return;
    };
    let server = TestServer::start(ServerConfig::default()).await;
    // At least the embedding, tokenizer and ops routes.
    run_schemathesis(schemathesis, server.url("/openapi.json"), None, 16).await;
}

/// text-embeddings-inference's own OpenAPI document, amended in memory where the document
/// contradicts text-embeddings-inference itself (each amendment says how). Where the document
/// is looser than its server, nothing is amended; embed's answers fall within it:
///
/// - It lists 413 as the "batch size error" of every route; text-embeddings-inference answers
///   too many inputs (and a text too long with `truncate: false`) with 422 `Validation`, as
///   embed does. Both are in the document.
/// - Its examples write error types in lower case (`"error_type": "backend"`); its schema, and
///   its server, spell them `Backend`, `Validation`, ...: embed follows the schema.
/// - It gives booleans string defaults and examples (`"default": "true"`); schemathesis sends
///   some as strings, which text-embeddings-inference and embed refuse with 422.
/// - `truncate` is documented as defaulting to false; both servers default to their
///   `--auto-truncate` setting (embed: true, unless `--no-auto-truncate`).
/// - `GET /health` 200 is documented without a body; embed answers `{"status", "model"}`.
/// - `Input` allows one batch to mix texts and token-id lists; text-embeddings-inference embeds
///   such a batch, embed refuses it with 422 (a batch is texts or token ids).
fn tei_document() -> Value {
    let path = embed_test_support::workspace_root().join("fixtures/tei/openapi.json");
    let mut document: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(document["info"]["version"], "1.9.3", "{}", path.display());
    // The document says `/v1/embeddings` errors are `{"message", "code", "error_type"}`, but
    // text-embeddings-inference writes the type as `type` (a serde rename), so its own errors
    // do not match its document. embed answers OpenAI's envelope, which OpenAI's SDKs read:
    // `{"error": {"message", "type", "param", "code"}}`. The test holds it to that shape.
    document["components"]["schemas"]["OpenAICompatErrorResponse"] = json!({
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["message", "type", "param", "code"],
                "properties": {
                    "message": {"type": "string"},
                    "type": {"type": "string"},
                    "param": {"type": "string", "nullable": true},
                    "code": {"type": "string", "nullable": true}
                }
            }
        }
    });
    document
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_from_text_embeddings_inferences_own_document_finds_no_5xx_and_no_response_outside_it() {
    let Some(schemathesis) = schemathesis() else {
        eprintln!("EMBED_CLIENTS_PYTHON is not set: the schemathesis run did not happen");
        return;
    };
    let document = tei_document();
    let operations: usize = document["paths"].as_object().unwrap().values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(operations, 12, "text-embeddings-inference 1.9.3 documents 12 operations");
    let dir = tempfile::tempdir().unwrap();
    let schema = dir.path().join("tei-openapi.json");
    std::fs::write(&schema, serde_json::to_vec_pretty(&document).unwrap()).unwrap();
    // text-embeddings-inference answers `/v1/embeddings` whatever `model` names (its document
    // has no 404); embed answers OpenAI's 404 unless told to do as text-embeddings-inference
    // does, as here.
    let config = ServerConfig { any_model_name: true, ..ServerConfig::default() };
    let server = TestServer::start(config).await;
    run_schemathesis(schemathesis, schema.to_string_lossy().into_owned(), Some(server.url("")), operations).await;
}
