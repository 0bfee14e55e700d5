//! `embed serve` as a process, with the real model and ONNX Runtime: SIGTERM under concurrent
//! load. Every request the server accepted gets its vector (checked against the library's) or
//! a clean 503, none hangs, and the process exits with 0.
//!
//! Also the helpers the security checks share: starting the server on a free loopback port,
//! reading its log, and a small HTTP/1.1 client over a plain socket (so a request's fate is
//! seen exactly: refused, answered, closed without an answer, or hung).

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{cosine, models_dir};

/// A running `embed serve` and everything it wrote to stderr.
pub(crate) struct Served {
    pub(crate) child: Child,
    pub(crate) addr: String,
    pub(crate) log: Arc<Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

impl Served {
    /// Starts `embed serve --port 0` with `args` and waits until `/health` answers 200.
    pub(crate) fn start(args: &[&str], env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_embed"));
        command
            .current_dir(dir.path())
            .args(["serve", "--port", "0"])
            .args(args)
            .env("MODEL_CACHE_DIR", models_dir())
            .env_remove("DEFAULT_MODEL")
            .env_remove("EMBED_API_KEYS")
            .env_remove("EMBED_HOST")
            .env_remove("LOG_LEVEL")
            .env_remove("LOG_FORMAT")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if std::env::var_os("ONNXRUNTIME_LIB_PATH").is_none() {
            command.env_remove("ORT_DYLIB_PATH");
        }
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("start embed serve");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let lines = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let line = strip_ansi(&line);
                if line.contains("listening")
                    && let Some(addr) = line.split("addr=").nth(1)
                {
                    let _ = tx.send(addr.split_whitespace().next().unwrap_or("").to_string());
                }
                lines.lock().unwrap().push(line);
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                panic!("embed serve did not log its address:\n{}", log.lock().unwrap().join("\n"));
            }
        };
        let served = Self { child, addr, log, _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok((200, _)) = http(&served.addr, "GET", "/health", &[], b"", Duration::from_secs(5)) {
                break;
            }
            assert!(Instant::now() < deadline, "embed serve never became healthy");
            std::thread::sleep(Duration::from_millis(20));
        }
        served
    }

    /// Sends SIGTERM.
    pub(crate) fn terminate(&self) {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit; its exit code.
    pub(crate) fn wait(&mut self, limit: Duration) -> Option<i32> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("embed serve did not exit within {limit:?}:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Everything logged so far.
    pub(crate) fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `line` without terminal colour sequences.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// What became of one request.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The connection was refused: the server no longer accepts.
    Refused,
    /// Connected, but the connection closed before any byte of an answer.
    ClosedUnanswered(std::io::ErrorKind),
    /// No answer within the timeout.
    Hung,
}

/// One HTTP/1.1 request with `Connection: close`; the status and body.
pub(crate) fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> Result<(u16, String), Failure> {
    let mut stream = match TcpStream::connect(addr) {
        Ok(stream) => stream,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => return Err(Failure::Refused),
        Err(e) => return Err(Failure::ClosedUnanswered(e.kind())),
    };
    stream.set_read_timeout(Some(timeout)).unwrap();
    stream.set_write_timeout(Some(timeout)).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let sent = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(body));
    let mut response = Vec::new();
    let read = stream.read_to_end(&mut response);
    if response.is_empty() {
        return match (sent, read) {
            (_, Err(e)) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                Err(Failure::Hung)
            }
            (Err(e), _) | (_, Err(e)) => Err(Failure::ClosedUnanswered(e.kind())),
            (Ok(()), Ok(_)) => Err(Failure::ClosedUnanswered(std::io::ErrorKind::UnexpectedEof)),
        };
    }
    if let Err(e) = read
        && matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)
    {
        return Err(Failure::Hung);
    }
    let text = String::from_utf8_lossy(&response).to_string();
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Ok((status, body))
}

/// POSTs JSON.
pub(crate) fn post(addr: &str, path: &str, body: &Value, headers: &[(&str, &str)]) -> Result<(u16, String), Failure> {
    let mut all = vec![("Content-Type", "application/json")];
    all.extend_from_slice(headers);
    http(addr, "POST", path, &all, body.to_string().as_bytes(), Duration::from_secs(60))
}

/// The library's vectors for `texts`, all-MiniLM-L6-v2, as the server computes them.
fn library(texts: &[String]) -> Vec<Vec<f32>> {
    let service = embed_core::Service::new(embed_core::Config {
        model_cache_dir: models_dir(),
        onnxruntime: embed_core::OrtLibrary {
            path: embed_test_support::ort_library_path(),
            search_dirs: embed_test_support::ort_search_dirs(),
        },
        ..embed_core::Config::default()
    })
    .unwrap();
    service.embed_batch(texts).unwrap()
}

#[test]
fn sigterm_under_load_answers_every_accepted_request_and_exits_0() {
    let texts: Vec<String> =
        (0..40).map(|i| format!("shutdown test {i}: {}", "a few more words ".repeat(1 + (i * 5) % 23))).collect();
    let expected = library(&texts);
    let mut served = Served::start(&["--log-level", "info", "--shutdown-timeout", "30"], &[]);
    let addr = served.addr.clone();
    let answered = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..16)
        .map(|c| {
            let (addr, texts, answered, stop) = (addr.clone(), texts.clone(), Arc::clone(&answered), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut outcomes = Vec::new();
                for n in 0.. {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let i = (c * 7 + n) % texts.len();
                    let sent = Instant::now();
                    let outcome = post(&addr, "/v1/embeddings", &json!({"input": texts[i]}), &[]);
                    let refused = matches!(outcome, Err(Failure::Refused));
                    if outcome.is_ok() {
                        answered.fetch_add(1, Ordering::SeqCst);
                    }
                    outcomes.push((i, sent.elapsed(), outcome));
                    if refused {
                        break;
                    }
                }
                outcomes
            })
        })
        .collect();
    // Load first, then the signal while requests are in flight.
    let deadline = Instant::now() + Duration::from_secs(60);
    while answered.load(Ordering::SeqCst) < 40 {
        assert!(Instant::now() < deadline, "the server answered too few requests under load");
        std::thread::sleep(Duration::from_millis(10));
    }
    let before_signal = answered.load(Ordering::SeqCst);
    served.terminate();
    let code = served.wait(Duration::from_secs(60));
    stop.store(true, Ordering::SeqCst);

    let (mut ok, mut unavailable, mut refused, mut unanswered) = (0, 0, 0, Vec::new());
    for client in clients {
        for (i, elapsed, outcome) in client.join().unwrap() {
            match outcome {
                Ok((200, body)) => {
                    let body: Value = serde_json::from_str(&body).unwrap();
                    let vector: Vec<f32> = body["data"][0]["embedding"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|x| x.as_f64().unwrap() as f32)
                        .collect();
                    let c = cosine(&vector, &expected[i]);
                    assert!(c >= 0.99999, "text {i}: cosine {c}");
                    ok += 1;
                }
                Ok((503, body)) => {
                    let body: Value = serde_json::from_str(&body).unwrap();
                    assert_eq!(body["error"]["code"], "unavailable", "{body}");
                    unavailable += 1;
                }
                Ok((status, body)) => panic!("text {i}: unexpected status {status}: {body}"),
                Err(Failure::Hung) => panic!("text {i}: no answer after {elapsed:?}"),
                Err(Failure::Refused) => refused += 1,
                Err(Failure::ClosedUnanswered(kind)) => unanswered.push((i, kind)),
            }
        }
    }
    let log = served.log();
    eprintln!(
        "{ok} answered 200 ({before_signal} before the signal), {unavailable} 503, {refused} refused after the signal, {} closed unanswered",
        unanswered.len()
    );
    assert_eq!(code, Some(0), "exit code; log:\n{log}");
    assert!(ok > before_signal, "requests in flight at the signal were answered: {ok} vs {before_signal}");
    assert!(unanswered.is_empty(), "requests closed without an answer: {unanswered:?}\n{log}");
    assert!(log.contains("shutdown signal received"), "{log}");
    assert!(log.contains("stopped"), "{log}");
    assert!(!log.contains("shutdown deadline passed"), "{log}");
}
