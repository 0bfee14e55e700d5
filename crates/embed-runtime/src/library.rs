//! Finding and loading the ONNX Runtime shared library, once per process.
//!
//! The library is loaded at run time (no build-time download): the caller says where it is,
//! or names folders to search. A missing library or one too old for the `ort` crate is an
//! error naming the command that fixes it.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use crate::RuntimeError;

/// The ONNX Runtime minor version (1.x) this build needs at least.
pub const REQUIRED_ORT_MINOR: u32 = ort::MINOR_VERSION;

/// The platform's file name of the ONNX Runtime library (`libonnxruntime.so`,
/// `libonnxruntime.dylib`, `onnxruntime.dll`).
pub fn library_file_name() -> String {
    format!("{}onnxruntime{}", std::env::consts::DLL_PREFIX, std::env::consts::DLL_SUFFIX)
}

/// The loaded ONNX Runtime: its file, its version and the process-wide environment.
pub struct OnnxRuntime {
    path: PathBuf,
    version: String,
    pub(crate) environment: ort::environment::Environment,
    /// The process-wide CPU arena growing by what is asked (`kSameAsRequested`), registered
    /// with the environment on first use.
    same_as_requested_arena: OnceLock<Result<(), String>>,
}

impl std::fmt::Debug for OnnxRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnnxRuntime").field("path", &self.path).field("version", &self.version).finish()
    }
}

static LOADED: OnceLock<OnnxRuntime> = OnceLock::new();
static LOADING: Mutex<()> = Mutex::new(());

impl OnnxRuntime {
    /// Loads the library at `path` (once per process; later calls with the same file return
    /// the same runtime, a different file is an error).
    pub fn load(path: &Path) -> Result<&'static OnnxRuntime, RuntimeError> {
        let _guard = LOADING.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(loaded) = LOADED.get() {
            return if same_file(&loaded.path, path) {
                Ok(loaded)
            } else {
                Err(RuntimeError::LibraryConflict { loaded: loaded.path.clone(), requested: path.to_path_buf() })
            };
        }
        if !path.is_file() {
            return Err(RuntimeError::LibraryNotFound { looked: vec![path.to_path_buf()] });
        }
        let unusable = |message: String| RuntimeError::LibraryUnusable { path: path.to_path_buf(), message };
        let version = read_version(path).map_err(unusable)?;
        let minor = version.split('.').nth(1).and_then(|m| m.parse::<u32>().ok()).unwrap_or(0);
        if minor < REQUIRED_ORT_MINOR {
            return Err(unusable(format!(
                "it is version {version}, but this build needs 1.{REQUIRED_ORT_MINOR} or newer"
            )));
        }
        let builder = ort::init_from(path).map_err(|e| unusable(e.to_string()))?;
        let environment =
            builder.with_name("embed").with_telemetry(false).build().map_err(|e| unusable(e.to_string()))?;
        tracing::info!(path = %path.display(), %version, build = ort::info(), "loaded ONNX Runtime");
        Ok(LOADED.get_or_init(|| OnnxRuntime {
            path: path.to_path_buf(),
            version,
            environment,
            same_as_requested_arena: OnceLock::new(),
        }))
    }

    /// Loads `explicit` when given (the caller's choice, typically `ONNXRUNTIME_LIB_PATH` or
    /// `ORT_DYLIB_PATH`; never silently skipped), else the newest `onnxruntime-<version>/`
    /// found under the first of `libs_dirs` that has one.
    pub fn locate_and_load(
        explicit: Option<&Path>,
        libs_dirs: &[PathBuf],
    ) -> Result<&'static OnnxRuntime, RuntimeError> {
        if let Some(path) = explicit {
            return Self::load(path);
        }
        let mut looked = Vec::new();
        for dir in libs_dirs {
            match find_in_libs_dir(dir) {
                Some(path) => return Self::load(&path),
                None => looked.push(dir.join(format!("onnxruntime-*/{}", library_file_name()))),
            }
        }
        Err(RuntimeError::LibraryNotFound { looked })
    }

    /// The library file in use.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The library's version, as its build info states it.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Registers, once per process, a shared CPU arena that grows by exactly what is asked
    /// (`kSameAsRequested`), for sessions that opt into the environment's allocators.
    pub(crate) fn ensure_same_as_requested_arena(&self) -> Result<(), RuntimeError> {
        self.same_as_requested_arena
            .get_or_init(|| register_same_as_requested_arena(&self.environment))
            .clone()
            .map_err(|message| RuntimeError::InvalidOption {
                message: format!("the arena strategy kSameAsRequested: {message}"),
                source: None,
            })
    }

    /// Whether this ONNX Runtime build offers CoreML.
    pub fn has_coreml(&self) -> bool {
        use ort::ep::ExecutionProvider;
        ort::ep::CoreML::is_available().unwrap_or(false)
    }
}

/// The newest `onnxruntime-<version>/<library>` under `dir`, as `cargo xtask fetch-ort` lays it out.
pub fn find_in_libs_dir(dir: &Path) -> Option<PathBuf> {
    let mut found: Vec<(Vec<u32>, PathBuf)> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let version = name.strip_prefix("onnxruntime-")?;
            let key = version.split('.').map(|p| p.parse().ok()).collect::<Option<Vec<u32>>>()?;
            let lib = entry.path().join(library_file_name());
            lib.is_file().then_some((key, lib))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, path)| path)
}

/// Reads the library's version through `OrtGetApiBase()->GetVersionString()`, without
/// handing the library to `ort` (which cannot be undone).
fn read_version(path: &Path) -> Result<String, String> {
    type GetApiBase = unsafe extern "C" fn() -> *const ort::sys::OrtApiBase;
    // SAFETY: loading a shared library runs its initialisers; the file is the ONNX Runtime
    // library the user pointed at, which is what this process is about to use anyway.
    let library = unsafe { libloading::Library::new(path) }.map_err(|e| match std::error::Error::source(&e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    })?;
    // SAFETY: `OrtGetApiBase` has this signature in every ONNX Runtime release.
    let get_api_base = unsafe { library.get::<GetApiBase>(b"OrtGetApiBase") }
        .map_err(|_| "it does not export OrtGetApiBase: not an ONNX Runtime library".to_string())?;
    // SAFETY: the function takes no arguments and returns a pointer to a static struct.
    let base = unsafe { get_api_base() };
    if base.is_null() {
        return Err("OrtGetApiBase returned nothing".into());
    }
    // SAFETY: `base` is non-null and points to the library's static `OrtApiBase`, whose
    // `GetVersionString` returns a static NUL-terminated string.
    let version = unsafe { std::ffi::CStr::from_ptr(((*base).GetVersionString)()) };
    Ok(version.to_string_lossy().into_owned())
}

fn register_same_as_requested_arena(environment: &ort::environment::Environment) -> Result<(), String> {
    use ort::AsPointer;
    use ort::memory::{AllocationDevice, AllocatorType, MemoryInfo, MemoryType};
    let api = ort::api();
    // SAFETY (for the block): each call follows the ONNX Runtime C API's contract; the
    // statuses are read and released here, the arena config is released after registration
    // (ONNX Runtime copies it), and the environment outlives the process's sessions.
    unsafe {
        let check = |status: ort::sys::OrtStatusPtr| -> Result<(), String> {
            if status.0.is_null() {
                return Ok(());
            }
            let message = std::ffi::CStr::from_ptr((api.GetErrorMessage)(status.0)).to_string_lossy().into_owned();
            (api.ReleaseStatus)(status.0);
            Err(message)
        };
        // 0 = kNextPowerOfTwo, 1 = kSameAsRequested.
        let keys = [c"arena_extend_strategy".as_ptr()];
        let values = [1usize];
        let mut config = std::ptr::null_mut();
        check((api.CreateArenaCfgV2)(keys.as_ptr(), values.as_ptr(), keys.len(), &mut config))?;
        let info = MemoryInfo::new(AllocationDevice::CPU, 0, AllocatorType::Arena, MemoryType::Default)
            .map_err(|e| e.to_string())?;
        let registered = check((api.CreateAndRegisterAllocator)(environment.ptr().cast_mut(), info.ptr(), config));
        (api.ReleaseArenaCfg)(config);
        registered
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}
