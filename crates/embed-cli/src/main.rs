//! The `embed` command line: turns arguments, the environment and `.env` into an
//! `embed_core::Config`, and prints embeddings. It knows only embed-core's public API.

mod config_cmd;
mod dotenv;
mod fetch;
mod hint;
mod input;
mod int8_warning;
mod models_cmd;
mod output;
mod serve;
mod settings;

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use anyhow::Context;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

#[derive(Parser)]
#[command(name = "embed", version, about = "Sentence embeddings identical to sentence-transformers, on ONNX Runtime")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Embed texts given as arguments, or one per line of a file (`-` for standard input).
    Embed(Box<EmbedArgs>),
    /// List the models embed knows: the variants fetched and their size, the engine that runs
    /// each, its prompts.
    Models(models_cmd::ModelArgs),
    /// Fetch models (and ONNX Runtime where one needs it) ahead of time, e.g. into a container
    /// image or by an init container, and print where each one is.
    Fetch(Box<fetch::FetchArgs>),
    /// Print the effective configuration and where each value came from.
    Config(Box<config_cmd::ConfigArgs>),
    /// Serve embeddings over HTTP (OpenAI, text-embeddings-inference and the Go original's endpoints).
    Serve(Box<serve::ServeArgs>),
}

#[derive(clap::Args)]
struct EmbedArgs {
    /// Texts to embed.
    texts: Vec<String>,
    /// Read texts from FILE (one per line; JSON Lines with a "text" field when it ends in .jsonl), or `-` for stdin.
    #[arg(long, value_name = "FILE")]
    input: Option<String>,
    /// Output format: `json` (an array of vectors) or `jsonl` (one {"index","embedding","tokens","truncated"} per line).
    #[arg(long, value_enum, default_value_t = output::Format::Json)]
    format: output::Format,
    /// Write to FILE instead of standard output.
    #[arg(long, value_name = "FILE")]
    output: Option<std::path::PathBuf>,
    /// Apply a named prompt of the model (e.g. `query` or `passage` for e5-large-v2).
    #[arg(long)]
    prompt: Option<String>,
    /// Treat each text (a whole --input file, or each "text" of a .jsonl file) as a long
    /// document: split it into chunks and print chunk vectors and a document vector.
    /// SPEC: `tokens[:SIZE[:OVERLAP]]`, `sentences[:MAX_TOKENS]` or `paragraphs[:MAX_TOKENS]`.
    #[arg(long, value_name = "SPEC")]
    chunk: Option<embed_core::Chunking>,
    #[command(flatten)]
    settings: settings::Settings,
}

fn main() -> ExitCode {
    // `.env` fills in what the environment lacks; flags override both.
    let from_dotenv = match dotenv::load(std::path::Path::new(".env")) {
        Ok(keys) => keys,
        Err(err) => {
            eprintln!("error: {err:#}");
            return ExitCode::FAILURE;
        }
    };
    let command = Cli::command();
    let matches = match command.clone().try_get_matches() {
        Ok(matches) => matches,
        Err(err) => dotenv::explain(err, &command, &from_dotenv).exit(),
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(err) => err.exit(),
    };
    let result = match cli.command {
        Command::Config(args) => match matches.subcommand_matches("config") {
            Some(config_matches) => config_cmd::run(&args, config_matches, &from_dotenv),
            None => Err(anyhow::anyhow!("internal error: no matches for `config`")),
        },
        Command::Embed(args) => run_embed(*args),
        Command::Models(args) => models_cmd::run(&args),
        Command::Fetch(args) => fetch::run(&args),
        Command::Serve(args) => serve::run(*args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            if let Some(hint) = hint::for_error(&err) {
                eprintln!("hint: {hint}");
            }
            ExitCode::FAILURE
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain()
        .any(|cause| cause.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe))
}

/// Texts embedded and written together: enough for batches of similar lengths, few enough
/// that their vectors take little memory (8,192 × 384 floats is 12 MB).
const TEXTS_PER_SLICE: usize = 8192;

/// Texts per slice while a progress bar is shown, so that it moves every few seconds: still
/// 32 batches of 32 to sort by length and share among the sessions.
const TEXTS_PER_PROGRESS_STEP: usize = 1024;

/// A bar of texts done, texts/s and time left on stderr, for an input of more than one
/// progress step, when stderr is a terminal and `--quiet` was not given.
fn progress_bar(texts: usize, quiet: bool) -> Option<indicatif::ProgressBar> {
    if quiet || texts <= TEXTS_PER_PROGRESS_STEP || !std::io::stderr().is_terminal() {
        return None;
    }
    let style =
        indicatif::ProgressStyle::with_template("{bar:30} {human_pos}/{human_len} texts  {rate} texts/s  {eta} left")
            .ok()?
            .with_key("rate", |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.0}", state.per_sec());
            });
    let bar = indicatif::ProgressBar::with_draw_target(Some(texts as u64), indicatif::ProgressDrawTarget::stderr());
    bar.set_style(style);
    Some(bar)
}

/// The thread layout for the texts at hand, unless `INFERENCE_SESSIONS` chose one: more than
/// one batch of texts runs fastest with one single-threaded session per thread, batches side
/// by side (measured: about 1.2× the texts/s of one session using every thread, for some
/// 100 MiB more with all-MiniLM-L6-v2); fewer keep one session with every thread, which
/// answers a single batch soonest. `INTRA_OP_THREADS`, when set, is then the threads in all.
fn prefer_sessions_for_many_texts(config: &mut embed_core::Config, texts: usize) {
    if config.runtime.sessions.is_some() || texts <= config.batching.max_texts {
        return;
    }
    let threads = config
        .runtime
        .intra_op_threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get));
    if threads > 1 {
        config.runtime.sessions = Some(threads);
        config.runtime.intra_op_threads = Some(1);
        tracing::debug!(sessions = threads, texts, "many texts: one single-threaded session per thread");
    }
}

fn run_embed(args: EmbedArgs) -> anyhow::Result<()> {
    settings::init_logging(&args.settings);
    let mut texts = args.texts;
    if let Some(input) = &args.input {
        // With --chunk a plain-text file is one document; otherwise one text per line.
        if args.chunk.is_some() && !input.ends_with(".jsonl") {
            texts.push(input::read_document(input)?);
        } else {
            texts.extend(input::read_texts(input)?);
        }
    }
    if texts.is_empty() && args.input.is_none() {
        anyhow::bail!("no text given: pass texts as arguments or use --input FILE");
    }
    let mut config = args.settings.to_config();
    if args.chunk.is_none() {
        prefer_sessions_for_many_texts(&mut config, texts.len());
    }
    let service = fetch::open_service(config, &args.settings)?;
    let mut options = service.default_options().clone();
    options.prompt = args.prompt;
    let mut sink: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    match &args.chunk {
        None => {
            // A slice at a time, so a long input never holds all its vectors in memory.
            let mut writer = output::Writer::new(&mut sink, args.format);
            let progress = progress_bar(texts.len(), args.settings.sources.quiet);
            let per_slice = if progress.is_some() { TEXTS_PER_PROGRESS_STEP } else { TEXTS_PER_SLICE };
            // A failure past the first slice leaves what was written before it, and says where.
            let sliced = texts.len() > per_slice;
            for (n, slice) in texts.chunks(per_slice).enumerate() {
                let first = n * per_slice;
                let embeddings = service.embed_with(slice, &options);
                let embeddings = match embeddings {
                    Ok(embeddings) => embeddings,
                    Err(err) => {
                        // The bar stays where it stopped; the error is printed once, below it.
                        if let Some(bar) = &progress {
                            bar.abandon();
                        }
                        let err = anyhow::Error::from(err);
                        return Err(if sliced {
                            err.context(format!("texts {} to {}", first + 1, first + slice.len()))
                        } else {
                            err
                        });
                    }
                };
                writer.write(&embeddings)?;
                if let Some(bar) = &progress {
                    bar.inc(slice.len() as u64);
                }
            }
            if let Some(bar) = &progress {
                bar.finish_and_clear();
            }
            writer.finish()?;
        }
        Some(chunking) => {
            let documents = texts
                .iter()
                .enumerate()
                .map(|(i, text)| {
                    service.embed_document(text, chunking, &options).with_context(|| format!("document {i}"))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            output::write_documents(&mut sink, args.format, &documents)?;
        }
    }
    sink.flush()?;
    Ok(())
}
