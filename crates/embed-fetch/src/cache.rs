//! Where downloads are cached: one rule, and one name for each of its folders, shared by the
//! CLI, the Python package and xtask. The caller passes the environment lookup in, so this
//! library reads no variables itself.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The ONNX Runtime version fetched by default (`ort` 2.0.0-rc.15 needs 1.31 or later).
pub const DEFAULT_ORT_VERSION: &str = "1.31.1";

/// The cache folder outside any clone: `EMBED_CACHE_DIR`, else `$XDG_CACHE_HOME/embed`, else
/// `~/.cache/embed` (`%USERPROFILE%\.cache\embed` on Windows). `var` looks a variable up
/// (pass `std::env::var_os`).
pub fn cache_dir(var: impl Fn(&str) -> Option<OsString>) -> PathBuf {
    let set = |name: &str| var(name).filter(|v| !v.is_empty());
    if let Some(dir) = set("EMBED_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = set("XDG_CACHE_HOME") {
        return PathBuf::from(dir).join("embed");
    }
    let home = set("HOME").or_else(|| set("USERPROFILE")).unwrap_or_default();
    PathBuf::from(home).join(".cache").join("embed")
}

/// Where downloaded wheels are kept in the cache folder `cache`.
pub fn downloads_dir(cache: &Path) -> PathBuf {
    cache.join("downloads")
}

/// Where applications fetch ONNX Runtime to in the cache folder `cache` (see [`crate::fetch_ort`]).
pub fn libs_dir(cache: &Path) -> PathBuf {
    cache.join("libs")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_variable_set_wins() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| OsString::from(v))
        };
        assert_eq!(cache_dir(env(&[("EMBED_CACHE_DIR", "/c"), ("HOME", "/h")])), PathBuf::from("/c"));
        assert_eq!(cache_dir(env(&[("EMBED_CACHE_DIR", ""), ("XDG_CACHE_HOME", "/x")])), PathBuf::from("/x/embed"));
        assert_eq!(cache_dir(env(&[("HOME", "/h")])), PathBuf::from("/h/.cache/embed"));
    }
}
