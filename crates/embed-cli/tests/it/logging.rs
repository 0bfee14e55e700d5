//! What `embed` writes to stderr besides its output: log settings are checked (a bad
//! `LOG_LEVEL` or `LOG_FORMAT` is an error naming the valid values), no colour escapes reach
//! a stderr that is not a terminal, and a long input shows no progress bar there.

#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::process::{Command, Stdio};

use super::{models_dir, stderr, stdout};

fn embed_with_env(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let models = models_dir();
    let mut command = Command::new(env!("CARGO_BIN_EXE_embed"));
    command.current_dir(dir.path()).args(args).env("MODEL_CACHE_DIR", models).env_remove("DEFAULT_MODEL");
    command.env_remove("LOG_LEVEL").env_remove("LOG_FORMAT").env_remove("NO_COLOR");
    if std::env::var_os("ONNXRUNTIME_LIB_PATH").is_none() {
        command.env_remove("ORT_DYLIB_PATH");
    }
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().unwrap()
}

#[test]
fn an_invalid_log_level_or_format_is_an_error_naming_the_valid_values() {
    let out = embed_with_env(&["embed", "x"], &[("LOG_LEVEL", "loud")]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: LOG_LEVEL=\"loud\" (from the environment): invalid value 'loud' for '--log-level <LOG_LEVEL>': \
         expected off, error, warn, info, debug, trace (or directives such as warn,embed_core=debug), found `loud`\n"
    );
    let out = embed_with_env(&["embed", "x"], &[("LOG_LEVEL", "warn,embed_core=loud")]);
    assert_eq!(out.status.code(), Some(2));
    let out = embed_with_env(&["embed", "x"], &[("LOG_FORMAT", "xml")]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("error: LOG_FORMAT=\"xml\" (from the environment): invalid value 'xml'"), "{err}");
    assert!(err.contains("[possible values: plain, json]"), "{err}");
    // Levels in any case, and directives, are accepted.
    let out = embed_with_env(&["embed", "x"], &[("LOG_LEVEL", "WARN,embed_core=debug")]);
    assert_eq!(stdout(&out).matches('[').count(), 2);
}

#[test]
fn logs_on_a_stderr_that_is_not_a_terminal_carry_no_colour() {
    for env in [vec![("LOG_LEVEL", "info")], vec![("LOG_LEVEL", "info"), ("NO_COLOR", "1")]] {
        let out = embed_with_env(&["embed", "x"], &env);
        stdout(&out);
        let log = String::from_utf8_lossy(&out.stderr);
        assert!(log.contains("model ready"), "{log}");
        assert!(!log.contains('\u{1b}'), "{log:?}");
    }
    // An error too.
    let err = stderr(&embed_with_env(&["embed", "--model", "nope", "x"], &[]));
    assert!(!err.contains('\u{1b}'), "{err:?}");
}

#[test]
fn a_long_input_shows_no_progress_on_a_stderr_that_is_not_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let models = models_dir();
    let mut child = Command::new(env!("CARGO_BIN_EXE_embed"))
        .current_dir(dir.path())
        .args(["embed", "--input", "-", "--format", "jsonl"])
        .env("MODEL_CACHE_DIR", models)
        .env_remove("DEFAULT_MODEL")
        .env_remove("LOG_LEVEL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let input: String = (0..3000).map(|i| format!("text number {i}\n")).collect();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(stdout(&out).lines().count(), 3000);
    assert_eq!(String::from_utf8_lossy(&out.stderr), "", "nothing but the output");
}
