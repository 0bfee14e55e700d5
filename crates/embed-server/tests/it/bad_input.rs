//! The HTTP rows of docs/bad-input.md: every input endpoint given bad input answers with its
//! documented status and its own error shape (OpenAI's envelope, TEI's `{"error","error_type"}`,
//! the Go original's `{"error","code"}`), never a panic, a hang or a wrong vector; and after
//! each bad request the next good one to the same endpoint gets the library's vector.

use std::path::Path;

use embed_core::Config;
use embed_server::ServerConfig;
use serde_json::{Value, json};

use super::{MODEL, TestServer, assert_close, config, floats, library, new_service, walk};

/// An input endpoint: its path and the field that holds its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    OpenAi,
    Tei,
    Legacy,
    LegacyBatch,
}

const ENDPOINTS: [Endpoint; 4] = [Endpoint::OpenAi, Endpoint::Tei, Endpoint::Legacy, Endpoint::LegacyBatch];

impl Endpoint {
    fn path(self) -> &'static str {
        match self {
            Self::OpenAi => "/v1/embeddings",
            Self::Tei => "/embed",
            Self::Legacy => "/api/v1/embed",
            Self::LegacyBatch => "/api/v1/embed/batch",
        }
    }

    fn field(self) -> &'static str {
        match self {
            Self::OpenAi => "input",
            Self::Tei => "inputs",
            Self::Legacy => "text",
            Self::LegacyBatch => "texts",
        }
    }

    /// A body carrying one text as this endpoint takes it.
    fn one(self, text: &str) -> Value {
        match self {
            Self::LegacyBatch => json!({ "texts": [text] }),
            other => json!({ other.field(): text }),
        }
    }

    /// The vectors of a 200 response.
    fn vectors(self, body: &Value) -> Vec<Vec<f32>> {
        match self {
            Self::OpenAi => body["data"].as_array().unwrap().iter().map(|d| floats(&d["embedding"])).collect(),
            Self::Tei => body.as_array().unwrap().iter().map(floats).collect(),
            Self::Legacy => vec![floats(&body["embedding"])],
            Self::LegacyBatch => body["embeddings"].as_array().unwrap().iter().map(floats).collect(),
        }
    }

    /// Checks an error body: this endpoint's shape, the kind of error, and a message that
    /// says what is wrong (`fragment`).
    fn assert_error(self, status: u16, body: &Value, kind: Kind, fragment: &str, what: &str) {
        let message = match self {
            Self::OpenAi => {
                let error = &body["error"];
                let (code, kind_name) = match kind {
                    Kind::Invalid | Kind::Empty => (Value::Null, "invalid_request_error"),
                    Kind::TooLarge | Kind::TooMany => (json!("request_too_large"), "invalid_request_error"),
                    Kind::UnknownModel => (json!("model_not_found"), "invalid_request_error"),
                    Kind::Unavailable => (json!("unavailable"), "server_error"),
                };
                assert_eq!(error["code"], code, "{what}: {body}");
                assert_eq!(error["type"], kind_name, "{what}: {body}");
                assert!(error.get("param").is_some(), "{what}: {body}");
                error["message"].as_str()
            }
            Self::Tei => {
                let error_type = match kind {
                    Kind::Invalid | Kind::TooLarge | Kind::TooMany | Kind::UnknownModel => "Validation",
                    Kind::Empty => "Empty",
                    Kind::Unavailable => "Unhealthy",
                };
                assert_eq!(body["error_type"], error_type, "{what}: {body}");
                body["error"].as_str()
            }
            Self::Legacy | Self::LegacyBatch => {
                assert_eq!(body["code"], status, "{what}: {body}");
                body["error"].as_str()
            }
        };
        let message = message.unwrap_or_else(|| panic!("{what}: no message in {body}"));
        assert!(message.contains(fragment), "{what}: `{fragment}` not in `{message}`");
    }
}

/// What a bad request is, as its status says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// 400; text-embeddings-inference's 422.
    Invalid,
    /// No input or an empty one: 400.
    Empty,
    /// A body over the limit: 413.
    TooLarge,
    /// More inputs than a request may carry: 413; text-embeddings-inference's 422.
    TooMany,
    /// 404.
    UnknownModel,
    /// 503.
    Unavailable,
}

impl Kind {
    fn status(self, endpoint: Endpoint) -> u16 {
        match (self, endpoint) {
            (Self::Invalid | Self::TooMany, Endpoint::Tei) => 422,
            (Self::Invalid | Self::Empty, _) => 400,
            (Self::TooLarge | Self::TooMany, _) => 413,
            (Self::UnknownModel, _) => 404,
            (Self::Unavailable, _) => 503,
        }
    }
}

/// A request body: JSON, or bytes as they are.
enum Body {
    Json(Value),
    Raw(Vec<u8>),
}

/// One bad request and its documented answer.
struct Case {
    what: String,
    endpoint: Endpoint,
    body: Body,
    kind: Kind,
    fragment: &'static str,
}

fn case(what: &str, endpoint: Endpoint, body: Value, kind: Kind, fragment: &'static str) -> Case {
    Case { what: format!("{what} ({})", endpoint.path()), endpoint, body: Body::Json(body), kind, fragment }
}

fn raw(what: &str, endpoint: Endpoint, body: &[u8], kind: Kind, fragment: &'static str) -> Case {
    Case { what: format!("{what} ({})", endpoint.path()), endpoint, body: Body::Raw(body.to_vec()), kind, fragment }
}

async fn send(server: &TestServer, endpoint: Endpoint, body: &Body) -> (u16, Value) {
    let request = server.client.post(server.url(endpoint.path())).header("content-type", "application/json");
    let request = match body {
        Body::Json(value) => request.body(serde_json::to_vec(value).unwrap()),
        Body::Raw(bytes) => request.body(bytes.clone()),
    };
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}")))
}

const GOOD: &str = "the next good request";

/// Sends each case, checks its status and error body, then sends a good request to the same
/// endpoint and checks that its vector is the library's.
async fn run_cases(server: &TestServer, cases: Vec<Case>) {
    let expected = library(&[GOOD]).remove(0);
    for case in cases {
        let (status, body) = send(server, case.endpoint, &case.body).await;
        assert_eq!(status, case.kind.status(case.endpoint), "{}: {body}", case.what);
        case.endpoint.assert_error(status, &body, case.kind, case.fragment, &case.what);
        let (status, body) = send(server, case.endpoint, &Body::Json(case.endpoint.one(GOOD))).await;
        assert_eq!(status, 200, "after {}: {body}", case.what);
        assert_close(&case.endpoint.vectors(&body)[0], &expected, &format!("after {}", case.what));
    }
}

fn nested(depth: usize) -> String {
    format!("{}\"x\"{}", "[".repeat(depth), "]".repeat(depth))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_bodies_and_wrong_types_are_400_in_each_endpoints_shape() {
    let server = TestServer::start(ServerConfig::default()).await;
    let mut cases = Vec::new();
    for e in ENDPOINTS {
        let f = e.field();
        cases.push(raw("an empty body", e, b"", Kind::Invalid, "invalid JSON body: EOF while parsing"));
        cases.push(case("no input field", e, json!({}), Kind::Invalid, f));
        cases.push(raw("malformed JSON", e, format!("{{\"{f}\": [\"a\",").as_bytes(), Kind::Invalid, "invalid JSON"));
        let deep = format!("{{\"{f}\": {}}}", nested(10_000));
        // The Go endpoints refuse the first `[` where a string must be.
        let too_deep = if matches!(e, Endpoint::Legacy | Endpoint::LegacyBatch) {
            "expected a string"
        } else {
            "recursion limit exceeded"
        };
        cases.push(raw("JSON nested 10,000 deep", e, deep.as_bytes(), Kind::Invalid, too_deep));
        let surrogate = format!("{{\"{f}\": \"\\ud800 alone\"}}");
        cases.push(raw("a lone surrogate", e, surrogate.as_bytes(), Kind::Invalid, "invalid JSON body"));
        let low = format!("{{\"{f}\": [\"\\udc00\"]}}");
        cases.push(raw("a lone low surrogate", e, low.as_bytes(), Kind::Invalid, "invalid JSON body"));
        let mut utf8 = format!("{{\"{f}\": \"broken ").into_bytes();
        utf8.extend_from_slice(b"\xff\xfe\"}");
        cases.push(raw("invalid UTF-8", e, &utf8, Kind::Invalid, "invalid JSON body"));
        let mut nul = format!("{{\"{f}\": \"raw ").into_bytes();
        nul.extend_from_slice(b"\0 byte\"}");
        cases.push(raw("a raw NUL byte", e, &nul, Kind::Invalid, "control character"));
        cases.push(case("a number as input", e, json!({ f: 5 }), Kind::Invalid, f));
        cases.push(case("an object as input", e, json!({ f: {"a": 1} }), Kind::Invalid, f));
        cases.push(case("null as input", e, json!({ f: null }), Kind::Invalid, f));
        let mut model = e.one("x");
        model["model"] = json!(5);
        cases.push(case("a number as model", e, model, Kind::Invalid, "`model`: invalid type"));
    }
    let (oa, tei) = (Endpoint::OpenAi, Endpoint::Tei);
    cases.push(case("a float token id", oa, json!({"input": [1.5]}), Kind::Invalid, "`input`"));
    cases.push(case("mixed types", oa, json!({"input": ["a", 1]}), Kind::Invalid, "`input`"));
    cases.push(case(
        "encoding_format 1",
        oa,
        json!({"input": "x", "encoding_format": 1}),
        Kind::Invalid,
        "`encoding_format`: invalid type",
    ));
    cases.push(case(
        "normalize \"yes\"",
        tei,
        json!({"inputs": "x", "normalize": "yes"}),
        Kind::Invalid,
        "`normalize`: invalid type",
    ));
    cases.push(case(
        "truncate \"no\"",
        tei,
        json!({"inputs": "x", "truncate": "no"}),
        Kind::Invalid,
        "`truncate`: invalid type",
    ));
    let up = json!({"inputs": "x", "truncation_direction": "Up"});
    cases.push(case("truncation_direction Up", tei, up, Kind::Invalid, "`truncation_direction`: unknown variant `Up`"));
    cases.push(case(
        "prompt_name 3",
        tei,
        json!({"inputs": "x", "prompt_name": 3}),
        Kind::Invalid,
        "`prompt_name`: invalid type",
    ));
    let batch = Endpoint::LegacyBatch;
    cases.push(case("a list as text", Endpoint::Legacy, json!({"text": ["a"]}), Kind::Invalid, "`text`: invalid type"));
    cases.push(case("a string as texts", batch, json!({"texts": "a"}), Kind::Invalid, "`texts`: invalid type"));
    cases.push(case("numbers as texts", batch, json!({"texts": [1]}), Kind::Invalid, "`texts[0]`: invalid type"));
    run_cases(&server, cases).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_input_and_empty_strings_are_400_and_whitespace_or_nul_gets_the_library_vector() {
    let server = TestServer::start(ServerConfig::default()).await;
    let (oa, tei, legacy, batch) = (Endpoint::OpenAi, Endpoint::Tei, Endpoint::Legacy, Endpoint::LegacyBatch);
    let cases = vec![
        case("an empty list", oa, json!({"input": []}), Kind::Empty, "`input` cannot be empty"),
        case("an empty list", tei, json!({"inputs": []}), Kind::Empty, "`inputs` cannot be empty"),
        case("an empty list", batch, json!({"texts": []}), Kind::Empty, "`texts` cannot be empty"),
        case("an empty string", oa, json!({"input": ""}), Kind::Empty, "`input` cannot be an empty string"),
        case("an empty string", tei, json!({"inputs": ""}), Kind::Empty, "`inputs` cannot be an empty string"),
        case("an empty string", legacy, json!({"text": ""}), Kind::Empty, "`text` cannot be empty"),
        case("an empty string", batch, json!({"texts": ["a", ""]}), Kind::Empty, "empty string at index 1"),
        case("an empty string", oa, json!({"input": ["a", ""]}), Kind::Empty, "empty string at index 1"),
        case("an empty token list", oa, json!({"input": [[1], []]}), Kind::Empty, "empty list of token ids"),
    ];
    run_cases(&server, cases).await;
    // Whitespace only, and NUL (escaped in JSON), are texts: the library's vectors, which are
    // sentence-transformers' (the normalizer drops NUL; whitespace alone is [CLS] [SEP]).
    let texts = ["   \t\n ", "a\0b\0 c", "\0"];
    let expected = library(&texts);
    for e in ENDPOINTS {
        for (text, expected) in texts.iter().zip(&expected) {
            let (status, body) = send(&server, e, &Body::Json(e.one(text))).await;
            assert_eq!(status, 200, "{text:?} ({}): {body}", e.path());
            assert_close(&e.vectors(&body)[0], expected, &format!("{text:?} ({})", e.path()));
        }
    }
    assert_close(&expected[1], &library(&["ab c"])[0], "NUL is dropped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_10_mb_text_and_a_million_texts_are_413() {
    let server = TestServer::start(ServerConfig::default()).await;
    let ten_mb = "ten megabytes ".repeat(10 * 1024 * 1024 / 14 + 1);
    let million: Vec<&str> = vec!["a"; 1_000_000];
    let mut cases = Vec::new();
    for e in ENDPOINTS {
        let limit = "larger than the limit of 2097152 bytes";
        cases.push(case("a 10 MB text", e, e.one(&ten_mb), Kind::TooLarge, limit));
        if e != Endpoint::Legacy {
            let body = json!({ e.field(): million });
            cases.push(case("a million texts (4 MB)", e, body, Kind::TooLarge, limit));
        }
    }
    run_cases(&server, cases).await;

    // With a body limit that lets them in, the inputs limit answers.
    let config = ServerConfig { max_body_bytes: 64 * 1024 * 1024, ..ServerConfig::default() };
    let server = TestServer::start(config).await;
    let cases = [Endpoint::OpenAi, Endpoint::Tei, Endpoint::LegacyBatch]
        .into_iter()
        .map(|e| {
            let body = json!({ e.field(): million });
            case("a million texts", e, body, Kind::TooMany, "batch size 1000000 > maximum allowed batch size 2048")
        })
        .collect();
    run_cases(&server, cases).await;
    // The 10 MB text itself is cut to the model's maximum, as the library cuts it.
    let started = std::time::Instant::now();
    let (status, body) = send(&server, Endpoint::OpenAi, &Body::Json(Endpoint::OpenAi.one(&ten_mb))).await;
    assert_eq!(status, 200, "{body}");
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "{:?}", started.elapsed());
    assert_eq!(body["usage"]["prompt_tokens"], 256);
    assert_close(&Endpoint::OpenAi.vectors(&body)[0], &library(&[&ten_mb])[0], "10 MB text");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dimensions_out_of_range_or_of_the_wrong_type_are_400() {
    let server = TestServer::start(ServerConfig::default()).await;
    let mut cases = Vec::new();
    for e in [Endpoint::OpenAi, Endpoint::Tei] {
        for d in [json!(-1), json!(0), json!(385), json!(i64::MAX)] {
            let mut body = e.one("x");
            body["dimensions"] = d.clone();
            let what = format!("dimensions {d}");
            cases.push(case(&what, e, body, Kind::Invalid, "`dimensions` must be between 1 and 384"));
        }
        for d in [json!(9_223_372_036_854_775_808u64), json!(1e30), json!(1.5), json!("8"), json!([8])] {
            let mut body = e.one("x");
            body["dimensions"] = d.clone();
            cases.push(case(&format!("dimensions {d}"), e, body, Kind::Invalid, "invalid JSON body: `dimensions`: "));
        }
    }
    run_cases(&server, cases).await;
    // The Go endpoints have no `dimensions`: like any field they do not know, it is ignored.
    for e in [Endpoint::Legacy, Endpoint::LegacyBatch] {
        let mut body = e.one(GOOD);
        body["dimensions"] = json!(-1);
        let (status, body) = send(&server, e, &Body::Json(body)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(e.vectors(&body)[0].len(), 384);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_models_variants_and_path_like_names_are_404_and_never_read() {
    let server = TestServer::start(ServerConfig::default()).await;
    let names = [
        "no-such-model",
        "all-MiniLM-L6-v2:fp8",
        "all-MiniLM-L6-v2:../../etc",
        "../../etc",
        "../../../../../../etc/passwd",
        "/etc",
        "all-MiniLM-L6-v2/../../etc",
        "./all-MiniLM-L6-v2",
        "..\\..\\windows",
        "..",
        "~/.cache",
        "models/all-MiniLM-L6-v2",
    ];
    let mut cases = Vec::new();
    for e in ENDPOINTS {
        for name in names {
            let mut body = e.one("x");
            body["model"] = json!(name);
            cases.push(case(
                &format!("model {name}"),
                e,
                body,
                Kind::UnknownModel,
                "does not exist or is not available",
            ));
        }
    }
    run_cases(&server, cases).await;
    // Nothing was loaded for any of them.
    let stats = super::service().pool_stats();
    assert!(stats.models.iter().all(|m| !m.name.contains("..") && !m.name.contains('/')), "{stats:#?}");
}

/// A model cache of links to the real files, where the default model is whole, its int8 ONNX
/// file is cut in half, and all-mpnet-base-v2's `tokenizer.json` does not parse.
fn cache_with_broken_models(root: &Path) {
    let models = embed_test_support::models_dir();
    for name in [MODEL, "all-mpnet-base-v2"] {
        let source = models.join(name);
        for file in walk(&source) {
            let relative = file.strip_prefix(&source).unwrap();
            let target = root.join(name).join(relative);
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            if name == MODEL && relative == Path::new("onnx/model_int8.onnx") {
                let bytes = std::fs::read(&file).unwrap();
                std::fs::write(&target, &bytes[..bytes.len() / 2]).unwrap();
            } else if name != MODEL && relative == Path::new("tokenizer.json") {
                std::fs::write(&target, b"{ this is not a tokenizer").unwrap();
            } else {
                std::os::unix::fs::symlink(&file, &target).unwrap();
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_model_or_a_broken_tokenizer_is_503_naming_only_the_model() {
    let cache = tempfile::tempdir().unwrap();
    cache_with_broken_models(cache.path());
    let service = new_service(Config { model_cache_dir: cache.path().to_path_buf(), ..config(MODEL) });
    let server = TestServer::start_with(service, ServerConfig::default()).await;
    let mut cases = Vec::new();
    for e in ENDPOINTS {
        for model in ["all-MiniLM-L6-v2:int8", "all-mpnet-base-v2"] {
            let mut body = e.one("x");
            body["model"] = json!(model);
            cases.push(case(&format!("model {model}"), e, body, Kind::Unavailable, model));
        }
    }
    // The default model keeps serving after each.
    run_cases(&server, cases).await;
    let (_, body) =
        send(&server, Endpoint::OpenAi, &Body::Json(json!({"input": "x", "model": "all-mpnet-base-v2"}))).await;
    let message = body["error"]["message"].as_str().unwrap();
    let dir = cache.path().to_string_lossy();
    assert!(!message.contains(dir.as_ref()) && !message.contains("tokenizer.json"), "the path leaked: {message}");
}

/// Sends `head` and then `body` over a plain socket as a slow client would, and returns the
/// status line of the answer (or the error that ended the read).
fn raw_exchange(addr: &str, head: &str, body: &[u8]) -> String {
    use std::io::{BufRead, BufReader, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(std::time::Duration::from_secs(30))).unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    // The whole body goes out before the answer is read, as most clients do.
    if let Err(error) = stream.write_all(body) {
        return format!("write failed: {error}");
    }
    let mut status = String::new();
    match BufReader::new(stream).read_line(&mut status) {
        Ok(_) => status.trim_end().to_string(),
        Err(error) => format!("read failed: {error}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_limit_is_read_to_its_end_and_answered_413() {
    let server = TestServer::start(ServerConfig::default()).await;
    let addr = server.base.trim_start_matches("http://").to_string();
    // 10 MB with a Content-Length, and 10 MB in chunks without one.
    let text = "ten megabytes ".repeat(10 * 1024 * 1024 / 14 + 1);
    let json = serde_json::to_vec(&json!({ "input": text })).unwrap();
    let with_length = format!(
        "POST /v1/embeddings HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        json.len()
    );
    let chunked = format!(
        "POST /v1/embeddings HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
    );
    let mut chunks = Vec::new();
    for piece in json.chunks(64 * 1024) {
        chunks.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        chunks.extend_from_slice(piece);
        chunks.extend_from_slice(b"\r\n");
    }
    chunks.extend_from_slice(b"0\r\n\r\n");
    for (what, head, body) in [("content-length", with_length, json.clone()), ("chunked", chunked, chunks)] {
        let addr = addr.clone();
        let status = tokio::task::spawn_blocking(move || raw_exchange(&addr, &head, &body)).await.unwrap();
        assert_eq!(status, "HTTP/1.1 413 Payload Too Large", "{what}");
        let (status, body) = send(&server, Endpoint::OpenAi, &Body::Json(Endpoint::OpenAi.one(GOOD))).await;
        assert_eq!(status, 200, "after {what}: {body}");
        assert_close(&Endpoint::OpenAi.vectors(&body)[0], &library(&[GOOD])[0], what);
    }
}
