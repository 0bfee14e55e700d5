//! `.env` handling: fills in variables the environment lacks (the environment wins, flags win
//! over both) and remembers which ones it set, so `embed config` can say where a value came
//! from and errors can name their source.

use std::collections::BTreeSet;
use std::path::Path;

/// Loads `path` when it exists, setting each variable the environment lacks; returns the
/// names it set.
pub fn load(path: &Path) -> anyhow::Result<BTreeSet<String>> {
    let entries = match dotenvy::from_path_iter(path) {
        Ok(entries) => entries,
        Err(err) if err.not_found() => return Ok(BTreeSet::new()),
        Err(err) => anyhow::bail!("cannot read {}: {err}", path.display()),
    };
    let mut set = BTreeSet::new();
    for entry in entries {
        let (key, value) = entry.map_err(|err| anyhow::anyhow!("cannot read {}: {err}", path.display()))?;
        if std::env::var_os(&key).is_none() {
            // SAFETY: called at the start of `main`, before any other thread exists.
            unsafe { std::env::set_var(&key, value) };
            set.insert(key);
        }
    }
    Ok(set)
}

/// Rewrites clap's message for a bad value that came from a variable so that it names the
/// variable and where it was set (clap names only the flag).
pub fn explain(err: clap::Error, command: &clap::Command, from_dotenv: &BTreeSet<String>) -> clap::Error {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if !matches!(err.kind(), ErrorKind::InvalidValue | ErrorKind::ValueValidation) {
        return err;
    }
    let Some(ContextValue::String(value)) = err.get(ContextKind::InvalidValue) else { return err };
    let Some(ContextValue::String(arg)) = err.get(ContextKind::InvalidArg) else { return err };
    let flag = arg.split_whitespace().next().unwrap_or(arg);
    let env = command
        .get_subcommands()
        .chain(std::iter::once(command))
        .flat_map(|c| c.get_arguments())
        .filter(|a| a.get_long().is_some_and(|l| flag == format!("--{l}")))
        .find_map(|a| a.get_env().map(|e| e.to_string_lossy().into_owned()));
    let Some(env) = env else { return err };
    // Only when the bad value is the variable's (a flag given on the command line wins).
    if std::env::var(&env).ok().as_deref() != Some(value.as_str()) || std::env::args().any(|a| a.starts_with(flag)) {
        return err;
    }
    let source = if from_dotenv.contains(&env) { ".env" } else { "the environment" };
    let rendered = err.render().to_string();
    let detail = rendered.lines().next().unwrap_or_default().trim_start_matches("error: ");
    // clap lists the valid values of a choice on a line of its own: keep them.
    let valid = match err.get(ContextKind::ValidValue) {
        Some(ContextValue::Strings(values)) if !values.is_empty() => {
            format!(" [possible values: {}]", values.join(", "))
        }
        _ => String::new(),
    };
    clap::Error::raw(ErrorKind::ValueValidation, format!("{env}={value:?} (from {source}): {detail}{valid}\n"))
}
