//! Reading zip archives (wheels, zipped snapshots): list members, extract one file, extract a folder.
//!
//! Every extracted file is written to a temporary file of this process's own beside it and
//! renamed, so a file under its final name is whole; member names that would escape the
//! destination are refused. This file must not know what the archives hold.

use std::fs::{self, File};
use std::io::{self, BufReader, Write};
use std::path::{Component, Path};

use crate::FetchError;

fn open(archive: &Path) -> Result<zip::ZipArchive<BufReader<File>>, FetchError> {
    let file = File::open(archive).map_err(FetchError::io("read", archive))?;
    zip::ZipArchive::new(BufReader::new(file)).map_err(|err| zip_error(archive, err))
}

fn zip_error(archive: &Path, err: zip::result::ZipError) -> FetchError {
    FetchError::Zip { path: archive.to_path_buf(), source: Box::new(err) }
}

/// The names of every member of a zip archive, in archive order (folders end with `/`).
pub fn members(archive: &Path) -> Result<Vec<String>, FetchError> {
    let zip = open(archive)?;
    Ok(zip.file_names().map(str::to_string).collect())
}

/// Extracts the file `member` of `archive` to `dest` (through a temporary file beside it).
pub fn extract_file(archive: &Path, member: &str, dest: &Path) -> Result<(), FetchError> {
    with_member(archive, member, |entry| write_atomically(entry, dest))
}

/// Opens `archive`, finds `member` and hands it to `use_member`.
fn with_member<T>(
    archive: &Path,
    member: &str,
    use_member: impl FnOnce(&mut dyn io::Read) -> Result<T, FetchError>,
) -> Result<T, FetchError> {
    let mut zip = open(archive)?;
    let mut entry = match zip.by_name(member) {
        Ok(entry) => entry,
        Err(zip::result::ZipError::FileNotFound) => {
            return Err(FetchError::MissingMember { archive: archive.to_path_buf(), member: member.to_string() });
        }
        Err(err) => return Err(zip_error(archive, err)),
    };
    use_member(&mut entry)
}

/// Extracts every file under the folder `folder` of `archive` (`""` for the whole archive) into
/// `dest_dir`, dropping the `folder/` prefix and skipping members for which `skip` says so
/// (it gets the path relative to `folder`). Files whose name ends in `.onnx` are written last.
/// Returns the relative paths written.
pub fn extract_folder(
    archive: &Path,
    folder: &str,
    dest_dir: &Path,
    skip: &dyn Fn(&str) -> bool,
) -> Result<Vec<String>, FetchError> {
    let mut zip = open(archive)?;
    let prefix = match folder.trim_matches('/') {
        "" => String::new(),
        folder => format!("{folder}/"),
    };
    let mut chosen: Vec<(usize, String)> = Vec::new();
    for index in 0..zip.len() {
        let entry = zip.by_index_raw(index).map_err(|err| zip_error(archive, err))?;
        let name = entry.name().to_string();
        if entry.is_dir() {
            continue;
        }
        let Some(relative) = name.strip_prefix(&prefix) else {
            continue;
        };
        if skip(relative) {
            continue;
        }
        if !is_safe_relative(relative) {
            return Err(FetchError::UnsafeMember { archive: archive.to_path_buf(), member: name });
        }
        chosen.push((index, relative.to_string()));
    }
    if chosen.is_empty() {
        return Err(FetchError::MissingMember { archive: archive.to_path_buf(), member: prefix });
    }
    // Stable: archive order, ONNX files last so a model dir never holds an ONNX file without its companions.
    chosen.sort_by_key(|(_, relative)| relative.ends_with(".onnx"));
    for (index, relative) in &chosen {
        let mut entry = zip.by_index(*index).map_err(|err| zip_error(archive, err))?;
        write_atomically(&mut entry, &dest_dir.join(relative))?;
    }
    Ok(chosen.into_iter().map(|(_, relative)| relative).collect())
}

/// Appends the file `member` of `archive` to `out`; returns the bytes copied.
pub fn copy_member(archive: &Path, member: &str, out: &mut dyn Write) -> Result<u64, FetchError> {
    with_member(archive, member, |entry| io::copy(entry, out).map_err(FetchError::io("extract", archive)))
}

/// The one top-level folder every member of the archive lives in, if there is one.
pub fn common_top_folder(archive: &Path) -> Result<Option<String>, FetchError> {
    Ok(common_top(&members(archive)?))
}

fn common_top(names: &[String]) -> Option<String> {
    let mut top: Option<&str> = None;
    for name in names {
        let (first, _) = name.split_once('/')?;
        match top {
            None => top = Some(first),
            Some(t) if t != first => return None,
            Some(_) => {}
        }
    }
    top.map(str::to_string)
}

/// A relative path with only normal components.
fn is_safe_relative(path: &str) -> bool {
    !path.is_empty() && !path.contains('\\') && Path::new(path).components().all(|c| matches!(c, Component::Normal(_)))
}

fn write_atomically(reader: &mut dyn io::Read, dest: &Path) -> Result<(), FetchError> {
    let mut out = private_temp_file(dest)?;
    let part = out.path().to_path_buf();
    io::copy(reader, &mut out).map_err(FetchError::io("extract to", &part))?;
    out.flush().map_err(FetchError::io("write", &part))?;
    out.as_file().sync_all().map_err(FetchError::io("write", &part))?;
    out.persist(dest).map_err(|err| FetchError::Io {
        action: "rename to its final name",
        path: part,
        source: err.error,
    })?;
    Ok(())
}

/// A temporary file of this process's own beside `dest` (`.<name>.<random>.partial`),
/// removed unless it is persisted; `dest`'s folder is created where missing.
pub(crate) fn private_temp_file(dest: &Path) -> Result<tempfile::NamedTempFile, FetchError> {
    let parent = dest.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(FetchError::io("create", parent))?;
    let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".partial");
    // The file keeps the mode a plain create gives (0666 less the umask), not a temporary
    // file's owner-only one: a shared cache is read by other users.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    builder.tempfile_in(parent).map_err(FetchError::io("create a temporary file in", parent))
}

#[cfg(test)]
mod tests {
    use super::*;
    use zip::write::SimpleFileOptions;

    fn make_zip(path: &Path, files: &[(&str, &[u8])]) {
        let mut zip = zip::ZipWriter::new(File::create(path).unwrap());
        for (name, data) in files {
            if name.ends_with('/') {
                zip.add_directory(*name, SimpleFileOptions::default()).unwrap();
            } else {
                zip.start_file(*name, SimpleFileOptions::default()).unwrap();
                zip.write_all(data).unwrap();
            }
        }
        zip.finish().unwrap();
    }

    #[test]
    fn extracts_a_folder_with_onnx_last() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("a.whl");
        make_zip(
            &archive,
            &[
                ("pkg/__init__.py", b""),
                ("pkg/model/onnx/model.onnx", b"onnx"),
                ("pkg/model/tokenizer.json", b"{}"),
                ("pkg/model/1_Pooling/config.json", b"{}"),
                ("pkg-0.1.dist-info/RECORD", b""),
            ],
        );
        let out = dir.path().join("out");
        let written = extract_folder(&archive, "pkg/model", &out, &|_| false).unwrap();
        assert_eq!(written, ["tokenizer.json", "1_Pooling/config.json", "onnx/model.onnx"]);
        assert_eq!(fs::read(out.join("onnx/model.onnx")).unwrap(), b"onnx");
        assert!(!out.join("__init__.py").exists());
    }

    #[test]
    fn extracts_one_file_and_names_a_missing_one() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("a.whl");
        make_zip(&archive, &[("pkg/model.onnx", b"onnx")]);
        extract_file(&archive, "pkg/model.onnx", &dir.path().join("m.onnx")).unwrap();
        assert_eq!(fs::read(dir.path().join("m.onnx")).unwrap(), b"onnx");
        let err = extract_file(&archive, "pkg/other.onnx", &dir.path().join("o")).unwrap_err();
        assert!(err.to_string().ends_with("has no member `pkg/other.onnx`"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn an_extracted_file_has_the_mode_of_a_plain_create() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("a.whl");
        make_zip(&archive, &[("pkg/model.onnx", b"onnx")]);
        extract_file(&archive, "pkg/model.onnx", &dir.path().join("m.onnx")).unwrap();
        File::create(dir.path().join("plain")).unwrap();
        let mode = |name: &str| fs::metadata(dir.path().join(name)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode("m.onnx"), mode("plain"));
    }

    #[test]
    fn refuses_members_that_escape() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("a.zip");
        make_zip(&archive, &[("top/../../evil", b"x")]);
        let err = extract_folder(&archive, "top", &dir.path().join("out"), &|_| false).unwrap_err();
        assert!(matches!(err, FetchError::UnsafeMember { .. }), "{err}");
    }

    #[test]
    fn finds_a_common_top_folder() {
        let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(common_top(&names(&["m/", "m/a", "m/b/c"])), Some("m".to_string()));
        assert_eq!(common_top(&names(&["m/a", "n/b"])), None);
        assert_eq!(common_top(&names(&["a", "m/b"])), None);
    }
}
