//! `embed config`: prints the effective configuration, each value with where it came from
//! (flag, environment, .env or default; a secret such as HF_TOKEN only as set or unset), the
//! Hugging Face cache those settings name, and with `--check` loads the model to prove it.

use std::collections::BTreeSet;

use clap::parser::ValueSource;

use crate::settings::Settings;

/// Arguments of `embed config`.
#[derive(clap::Args, Debug)]
pub struct ConfigArgs {
    /// Also load ONNX Runtime and the model, so that every value is proven usable
    /// (`EMBEDDING_DIMENSION` against the model, the library's version, the files).
    #[arg(long)]
    check: bool,
    #[command(flatten)]
    settings: Settings,
}

/// Prints each setting as `NAME = value  (source)`.
pub fn run(args: &ConfigArgs, matches: &clap::ArgMatches, from_dotenv: &BTreeSet<String>) -> anyhow::Result<()> {
    let command = <ConfigArgs as clap::Args>::augment_args(clap::Command::new("config"));
    for arg in command.get_arguments() {
        let id = arg.get_id().as_str();
        if matches!(id, "check" | "help") {
            continue;
        }
        let env = arg.get_env().map(|e| e.to_string_lossy().into_owned());
        let name = env.clone().unwrap_or_else(|| format!("--{}", arg.get_long().unwrap_or(id)));
        let value = matches
            .get_raw(id)
            .map(|values| values.map(|v| v.to_string_lossy().into_owned()).collect::<Vec<_>>().join(","))
            .map(|value| if arg.is_hide_env_values_set() { "(set, not shown)".to_string() } else { value })
            .unwrap_or_else(|| "(unset)".to_string());
        let source = match matches.value_source(id) {
            Some(ValueSource::CommandLine) => "flag".to_string(),
            Some(ValueSource::EnvVariable) => match &env {
                Some(var) if from_dotenv.contains(var) => ".env".to_string(),
                _ => "environment".to_string(),
            },
            Some(ValueSource::DefaultValue) => "default".to_string(),
            _ => "unset".to_string(),
        };
        println!("{name:<24} = {value:<32} ({source})");
    }
    println!(
        "{:<24} = {}  (where models named by hub id are)",
        "hub cache",
        args.settings.cache.hub_cache_dir().display()
    );
    if std::env::var_os("TOKENIZERS_LIB_PATH").is_some() {
        println!("TOKENIZERS_LIB_PATH      is set but not needed: the tokenizer is compiled into embed");
    }
    let config = args.settings.to_config();
    if args.check {
        let service = crate::fetch::open_service(config, &args.settings)?;
        let library = match service.onnxruntime() {
            Some(runtime) => format!("ONNX Runtime {} at {}", runtime.version, runtime.path.display()),
            None => "no ONNX Runtime needed".to_string(),
        };
        println!(
            "check: ok ({library}; model {} with {} dimensions, engine {} on {})",
            service.model().files().name,
            service.model().dimension(),
            service.model().engine(),
            service.model().device()
        );
    }
    Ok(())
}
