//! `embed serve`: builds the service from the shared settings and runs the HTTP server on a
//! tokio runtime until SIGINT or SIGTERM. Knows embed-core's and embed-server's public APIs
//! only.
//!
//! `--model` may be given several times: the first is the default model, the others are
//! preloaded (as `--preload-models` would).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::Context;
use clap::builder::BoolishValueParser;
use clap::{ArgAction, ArgMatches, Args, Command, FromArgMatches};

use crate::settings::{self, Settings};

/// Arguments of `embed serve`.
#[derive(Debug)]
pub struct ServeArgs {
    settings: Settings,
    server: ServerFlags,
    /// Every `--model`, in order.
    models: Vec<String>,
}

/// The server's own flags.
#[derive(clap::Args, Debug)]
struct ServerFlags {
    /// Address to listen on (loopback by default; 0.0.0.0 for every interface).
    #[arg(long, env = "EMBED_HOST", default_value_t = defaults().addr.ip())]
    host: IpAddr,
    /// Port to listen on.
    #[arg(long, env = "EMBED_PORT", default_value_t = defaults().addr.port())]
    port: u16,
    /// Most texts the batcher gathers across requests into one run, which then runs as
    /// inference calls of at most --batch-size texts (default: --batch-size, one call per run;
    /// 1 with --batch-wait-ms 0: one request per inference).
    #[arg(long, env = "MAX_BATCH_SIZE", value_parser = clap::value_parser!(u32).range(1..))]
    max_batch_size: Option<u32>,
    /// Longest wait, in milliseconds, for more requests while the queue holds less than a run.
    #[arg(long, env = "BATCH_WAIT_MS", default_value_t = defaults().batch_wait.as_millis() as u64)]
    batch_wait_ms: u64,
    /// Most inputs in one request (more: 413).
    #[arg(long, env = "MAX_INPUTS_PER_REQUEST", default_value_t = defaults().max_inputs_per_request as u32, value_parser = clap::value_parser!(u32).range(1..))]
    max_inputs_per_request: u32,
    /// Most inputs waiting in the queue (more: 429 with Retry-After).
    #[arg(long, env = "MAX_QUEUED_INPUTS", default_value_t = defaults().max_queued_inputs as u32, value_parser = clap::value_parser!(u32).range(1..))]
    max_queued_inputs: u32,
    /// Largest request body, e.g. 2MiB (more: 413).
    #[arg(long, env = "MAX_BODY_SIZE", default_value_t = defaults().max_body_bytes as u64, value_parser = parse_size)]
    max_body_size: u64,
    /// Seconds a request may take, queueing included (more: 504, and its work is dropped).
    #[arg(long, env = "REQUEST_TIMEOUT", default_value_t = defaults().request_timeout.as_secs_f64(), value_parser = parse_seconds)]
    request_timeout: f64,
    /// Seconds requests already accepted get to finish after SIGINT or SIGTERM.
    #[arg(long, env = "SHUTDOWN_TIMEOUT", default_value_t = defaults().shutdown_timeout.as_secs_f64(), value_parser = parse_seconds)]
    shutdown_timeout: f64,
    /// Threads running inference, each one run at a time (default: as many runs as the model's
    /// engine runs side by side).
    #[arg(long, env = "INFERENCE_WORKERS", value_parser = clap::value_parser!(u32).range(1..))]
    workers: Option<u32>,
    /// An accepted API key (`Authorization: Bearer KEY`); repeatable. /health and /metrics stay open.
    #[arg(long = "api-key", env = "EMBED_API_KEYS", value_delimiter = ',', hide_env_values = true)]
    api_keys: Vec<String>,
    /// On text-embeddings-inference's routes (/embed, /embed_all, /similarity), refuse texts
    /// over the model's maximum length (422) unless the request sends `truncate: true`, as
    /// text-embeddings-inference does without --auto-truncate.
    #[arg(long)]
    no_auto_truncate: bool,
    /// Another name for a served model, ALIAS=MODEL (text-embedding-3-small=all-MiniLM-L6-v2):
    /// requests naming ALIAS get MODEL; repeatable, or comma-separated in the variable.
    #[arg(long = "model-alias", env = "EMBED_MODEL_ALIASES", value_delimiter = ',', value_name = "ALIAS=MODEL", value_parser = parse_alias)]
    model_aliases: Vec<(String, String)>,
    /// Answer requests naming a model the server does not serve with the default model, as
    /// text-embeddings-inference does, instead of 404 (OpenAI's answer).
    #[arg(long, env = "EMBED_ANY_MODEL_NAME", value_parser = BoolishValueParser::new(), num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false")]
    any_model_name: bool,
}

/// The server's defaults, written once in embed-server.
fn defaults() -> embed_server::ServerConfig {
    embed_server::ServerConfig::default()
}

fn parse_size(value: &str) -> Result<u64, String> {
    embed_core::parse_bytes(value).map_err(|e| e.to_string())
}

fn parse_alias(value: &str) -> Result<(String, String), String> {
    match value.split_once('=') {
        Some((alias, model)) if !alias.trim().is_empty() && !model.trim().is_empty() => {
            Ok((alias.trim().to_string(), model.trim().to_string()))
        }
        _ => Err(format!("expected ALIAS=MODEL, found `{value}`")),
    }
}

fn parse_seconds(value: &str) -> Result<f64, String> {
    let seconds: f64 = value.trim_end_matches('s').parse().map_err(|_| format!("expected seconds, found `{value}`"))?;
    if seconds.is_finite() && seconds > 0.0 {
        Ok(seconds)
    } else {
        Err(format!("expected a positive number of seconds, found `{value}`"))
    }
}

impl FromArgMatches for ServeArgs {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let models = matches.get_many::<String>("model").map(|v| v.cloned().collect()).unwrap_or_default();
        Ok(Self {
            settings: Settings::from_arg_matches(matches)?,
            server: ServerFlags::from_arg_matches(matches)?,
            models,
        })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl Args for ServeArgs {
    fn augment_args(cmd: Command) -> Command {
        let cmd = ServerFlags::augment_args(Settings::augment_args(cmd));
        cmd.mut_arg("model", |arg| {
            arg.action(ArgAction::Append).help(
                "Model to serve; repeatable: the first is the default, the others are preloaded (a known name with an optional variant, or a directory)",
            )
        })
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

/// Runs the server until SIGINT or SIGTERM.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    settings::init_logging(&args.settings);
    let mut config = args.settings.to_config();
    if let Some((first, rest)) = args.models.split_first() {
        config.model = first.clone();
        for model in rest {
            if !config.memory.preload_models.contains(model) {
                config.memory.preload_models.push(model.clone());
            }
        }
    }
    let flags = args.server;
    let server = embed_server::ServerConfig {
        addr: SocketAddr::new(flags.host, flags.port),
        max_batch_size: flags.max_batch_size.map(|size| size as usize),
        batch_wait: Duration::from_millis(flags.batch_wait_ms),
        max_inputs_per_request: flags.max_inputs_per_request as usize,
        max_queued_inputs: flags.max_queued_inputs as usize,
        max_body_bytes: usize::try_from(flags.max_body_size).context("--max-body-size is too large")?,
        request_timeout: Duration::from_secs_f64(flags.request_timeout),
        shutdown_timeout: Duration::from_secs_f64(flags.shutdown_timeout),
        workers: flags.workers.map(|workers| workers as usize),
        api_keys: flags.api_keys.into_iter().map(|k| k.trim().to_string()).filter(|k| !k.is_empty()).collect(),
        auto_truncate: !flags.no_auto_truncate,
        model_aliases: flags.model_aliases.into_iter().collect(),
        any_model_name: flags.any_model_name,
    };
    let service = crate::fetch::open_service(config, &args.settings)?;
    for preload in service.preload_results() {
        if let Some(error) = &preload.error {
            eprintln!("warning: cannot preload `{}`: {error}", preload.model);
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("embed-http")
        .build()
        .context("cannot start the async runtime")?;
    let addr = server.addr;
    runtime
        .block_on(embed_server::serve(service, server, shutdown_signal()))
        .with_context(|| format!("the server on {addr} failed"))?;
    Ok(())
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
