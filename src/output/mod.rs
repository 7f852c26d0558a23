//! Typed HDF5 output layer.
//!
//! Results are written to a temporary file beside the requested target and
//! renamed onto it only in [`OutputFile::finish`]. A run that fails or panics
//! half-way therefore never leaves a truncated file at the output path and
//! never clobbers a previous result; the temporary file is removed on drop.
//!
//! Datasets and attributes go through [`Group`], whose writers fix the
//! on-disk types to what h5py/numpy read naturally: complex numbers as the
//! `{r, i}` float64 compound (numpy `complex128`), strings as variable-length
//! UTF-8 (Python `str`), booleans as `uint8` 0/1.

mod group;
pub mod read;
pub mod record;
pub mod schema;
mod time;

pub use group::Group;
pub use time::{iso8601_from_unix, iso8601_now_utc};

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Errors of the output layer. Every message names the target file, what was
/// being done and why it failed, so it can be shown to the user as is.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The target path is unusable (missing directory, is a directory, ...).
    #[error("cannot write output file {path:?}: {reason}")]
    Target { path: PathBuf, reason: String },
    /// A filesystem operation on the target or its temporary file failed.
    #[error("cannot write output file {path:?}: {op}: {source}")]
    Io {
        path: PathBuf,
        op: String,
        #[source]
        source: io::Error,
    },
    /// The HDF5 library rejected an operation (shown with the library's
    /// reason only, not its whole error stack).
    #[error("cannot write output file {path:?}: {op}: {}", brief(.source))]
    Hdf5 {
        path: PathBuf,
        op: String,
        #[source]
        source: hdf5::Error,
    },
    /// An input file (to merge, plot, resume or seed a run) cannot be read.
    #[error("cannot read input file {path:?}: {reason}")]
    Read { path: PathBuf, reason: String },
    /// Data that cannot be represented in the file (e.g. a NUL in a string).
    #[error("cannot write output file {path:?}: {op}: {reason}")]
    Invalid {
        path: PathBuf,
        op: String,
        reason: String,
    },
}

impl OutputError {
    fn target(path: &Path, reason: impl Into<String>) -> Self {
        Self::Target {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }
    fn io(path: &Path, op: impl Into<String>, source: io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            op: op.into(),
            source,
        }
    }
    fn hdf5(path: &Path, op: impl Into<String>, source: hdf5::Error) -> Self {
        Self::Hdf5 {
            path: path.to_path_buf(),
            op: op.into(),
            source,
        }
    }
}

/// The reason of an HDF5 error without the library's stack and details:
/// its operating-system message (`error message = '...'`) if it has one,
/// else the last clause (`file signature not found`).
pub fn brief(e: &hdf5::Error) -> String {
    let s = e.to_string();
    if let Some(i) = s.find("error message = '") {
        let rest = &s[i + "error message = '".len()..];
        return rest.split('\'').next().unwrap_or(rest).to_string();
    }
    let first_line = s.lines().next().unwrap_or(&s);
    first_line.rsplit(": ").next().unwrap_or(first_line).trim().to_string()
}

/// Makes temporary names unique within the process; the pid makes them
/// unique across concurrent runs writing into the same directory.
static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// `.<filename>.tmp-<pid>-<n>` in the target's directory. Same directory so
/// the final `rename` stays on one filesystem and is atomic; hidden so a
/// left-over from a killed process does not look like a result.
fn temp_path_for(dir: &Path, file_name: &str) -> PathBuf {
    let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    dir.join(format!(".{file_name}.tmp-{}-{n}", std::process::id()))
}

/// Validates `target` and returns (directory, file name) for temp files.
fn inspect_target(target: &Path) -> Result<(PathBuf, String), OutputError> {
    let file_name = match target.file_name() {
        Some(n) => n
            .to_str()
            .ok_or_else(|| OutputError::target(target, "file name is not valid UTF-8"))?,
        None => return Err(OutputError::target(target, "path does not name a file")),
    };
    // HDF5 takes paths as C strings; reject what it could not open later.
    if target.to_str().is_none() {
        return Err(OutputError::target(target, "path is not valid UTF-8"));
    }
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    match fs::metadata(&dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(OutputError::target(
                target,
                format!("{dir:?} is not a directory"),
            ))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(OutputError::target(
                target,
                format!("directory {dir:?} does not exist"),
            ))
        }
        Err(e) => {
            return Err(OutputError::io(
                target,
                format!("cannot access directory {dir:?}"),
                e,
            ))
        }
    }
    if fs::metadata(target).is_ok_and(|m| m.is_dir()) {
        return Err(OutputError::target(target, "path is a directory"));
    }
    Ok((dir, file_name.to_owned()))
}

/// Checks, before any computation, that `target` can later be written by
/// [`OutputFile::create`]: its directory exists and accepts new files, and
/// the target is not a directory. Writability is probed by creating and
/// removing an empty temporary file, which is the only reliable test
/// (permission bits lie for root, ACLs, read-only mounts).
pub fn check_writable(target: &Path) -> Result<(), OutputError> {
    let (dir, name) = inspect_target(target)?;
    let probe = temp_path_for(&dir, &name);
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .map_err(|e| {
            OutputError::io(
                target,
                format!("cannot create files in directory {dir:?}"),
                e,
            )
        })?;
    // Best effort: a stale empty hidden file is harmless.
    let _ = fs::remove_file(&probe);
    Ok(())
}

/// What is at an output path before a result is written there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Nothing: the path is free.
    Absent,
    /// A complete qbsim result (root attribute `interrupted` = 0).
    Complete,
    /// The partial result of an interrupted qbsim run.
    Interrupted,
    /// A regular file that is not a qbsim output, replaceable only because
    /// the caller allowed it (`--overwrite`).
    Foreign,
}

/// How a result may be written to its output path (see [`check_target`]).
#[derive(Debug, Clone, Default)]
pub struct TargetPolicy {
    /// Files the command reads (config, shards, a file to resume from): the
    /// output may be none of them.
    pub inputs: Vec<PathBuf>,
    /// Replace an existing regular file even if it is not a qbsim output.
    pub overwrite: bool,
}

/// Whether `path` holds a file written by qbsim (its root attribute
/// `qbsim_version`), and if so whether that result is complete.
pub fn inspect_existing(path: &Path) -> Option<Existing> {
    let f = hdf5::File::open(path).ok()?;
    f.attr("qbsim_version").ok()?;
    let interrupted = f.attr("interrupted").ok().and_then(|a| a.read_scalar::<u8>().ok()).unwrap_or(0);
    Some(if interrupted != 0 { Existing::Interrupted } else { Existing::Complete })
}

/// Same file (device and inode), so that `-o ./cfg.toml`, a hard link or a
/// path with `..` are all recognised.
fn same_file(a: &fs::Metadata, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(b).is_ok_and(|m| m.dev() == a.dev() && m.ino() == a.ino())
}

/// Checks, before any work, that a result may be written to `target`, and
/// says what is there now. Refused: everything [`check_writable`] refuses; a
/// target that is one of `policy.inputs`; a target that exists and is not a
/// regular file (a symbolic link, a device such as `/dev/null`, a FIFO, a
/// socket); an existing regular file that is not a qbsim output, unless
/// `policy.overwrite`. A qbsim output there may be replaced (atomically, when
/// the new result is complete).
pub fn check_target(target: &Path, policy: &TargetPolicy) -> Result<Existing, OutputError> {
    let meta = match fs::symlink_metadata(target) {
        Ok(m) => Some(m),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(OutputError::io(target, "cannot inspect the existing path", e)),
    };
    let existing = match &meta {
        None => Existing::Absent,
        Some(m) => {
            if let Some(input) = policy.inputs.iter().find(|i| same_file(m, i)) {
                return Err(OutputError::target(
                    target,
                    format!("it is the input file {input:?} of this command; choose another output path"),
                ));
            }
            let kind = m.file_type();
            if kind.is_symlink() {
                return Err(OutputError::target(
                    target,
                    "it is a symbolic link; qbsim replaces only regular files (give the path the link points to)",
                ));
            }
            if kind.is_dir() {
                return Err(OutputError::target(target, "path is a directory"));
            }
            if !kind.is_file() {
                return Err(OutputError::target(
                    target,
                    "it is not a regular file (a device, FIFO or socket); qbsim writes only regular files",
                ));
            }
            match inspect_existing(target) {
                Some(e) => e,
                None if policy.overwrite => Existing::Foreign,
                None => {
                    return Err(OutputError::target(
                        target,
                        "the file exists and is not a qbsim output; refusing to replace it \
                         (choose another path, or pass --overwrite to replace it)",
                    ))
                }
            }
        }
    };
    check_writable(target)?;
    Ok(existing)
}

/// `name.interrupted.h5` beside `target`: where a partial result goes when
/// `target` holds a complete one.
pub fn interrupted_path(target: &Path) -> PathBuf {
    let stem = target.file_stem().and_then(|s| s.to_str()).unwrap_or("qbsim");
    target.with_file_name(format!("{stem}.interrupted.h5"))
}

/// An HDF5 file being written to a temporary path; see the module docs.
///
/// Object handles ([`Group`]) obtained from it do not borrow it, so they can
/// be stored freely. The file is opened with the "strong" close degree, so
/// [`finish`](Self::finish) closes any handles still alive; writing through
/// them afterwards returns an error instead of silently keeping the file open.
#[derive(Debug)]
pub struct OutputFile {
    file: Option<hdf5::File>,
    /// `/` opened as a group object of its own. Cloning the `File` handle
    /// instead would share (and keep alive) the file id itself, so `close`
    /// would not actually close the file while a root `Group` exists.
    root: Option<Group>,
    /// Temporary path; `None` once it has been renamed onto the target.
    tmp: Option<PathBuf>,
    target: Arc<Path>,
}

impl OutputFile {
    /// Checks the target (as [`check_writable`]) and opens a fresh HDF5
    /// file at a temporary path beside it. The target itself is untouched
    /// until [`finish`](Self::finish).
    pub fn create(target: &Path) -> Result<OutputFile, OutputError> {
        let (dir, name) = inspect_target(target)?;
        let tmp = temp_path_for(&dir, &name);
        let existed = tmp.exists(); // never remove a file we did not create
        let file = hdf5::File::with_options()
            .with_fapl(|p| p.fclose_degree(hdf5::file::FileCloseDegree::Strong))
            .create_excl(&tmp)
            .map_err(|e| {
                // HDF5 may have created the file before failing.
                if !existed {
                    let _ = fs::remove_file(&tmp);
                }
                OutputError::hdf5(target, format!("cannot create temporary file {tmp:?}"), e)
            })?;
        // Assembled first so that an error below also removes the temp file.
        let mut out = OutputFile {
            file: Some(file),
            root: None,
            tmp: Some(tmp),
            target: Arc::from(target),
        };
        let root = out.file.as_ref().expect("just opened").group("/");
        let root = root.map_err(|e| OutputError::hdf5(target, "opening root group", e))?;
        out.root = Some(Group::new(root, out.target.clone()));
        Ok(out)
    }

    /// The final output path.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// The root group `/`.
    pub fn root(&self) -> Group {
        self.root.clone().expect("root group is open until finish")
    }

    /// Creates or opens the group at `path` (e.g. `"sweep/params"`),
    /// creating intermediate groups as needed.
    pub fn group(&self, path: &str) -> Result<Group, OutputError> {
        self.root().group(path)
    }

    /// Flushes and closes the HDF5 file, fsyncs it, and atomically renames
    /// it onto the target, replacing any existing file there. Returns the
    /// target path. On error the temporary file is removed (by `Drop`).
    pub fn finish(mut self) -> Result<PathBuf, OutputError> {
        let target = self.target.clone();
        let tmp = self
            .tmp
            .clone()
            .expect("temporary path exists until finish");
        let file = self.file.take().expect("file is open until finish");
        // Release our handle; the strong close degree takes care of any
        // clones the caller still holds.
        self.root = None;
        file.flush()
            .map_err(|e| OutputError::hdf5(&target, "flushing HDF5 file", e))?;
        file.close()
            .map_err(|e| OutputError::hdf5(&target, "closing HDF5 file", e))?;
        // Make the data durable before the rename makes it visible, so a
        // crash cannot leave an empty or partial file under the final name.
        fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(|e| OutputError::io(&target, format!("syncing temporary file {tmp:?}"), e))?;
        fs::rename(&tmp, &target).map_err(|e| {
            OutputError::io(
                &target,
                format!("renaming temporary file {tmp:?} onto it"),
                e,
            )
        })?;
        self.tmp = None;
        // Persist the directory entry too; failure here does not undo the
        // (already visible) result, so it is not reported.
        if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = fs::File::open(dir).and_then(|d| d.sync_all());
        }
        Ok(target.to_path_buf())
    }
}

impl Drop for OutputFile {
    fn drop(&mut self) {
        // Close before unlinking so HDF5 does not write to a removed inode.
        self.root = None;
        drop(self.file.take());
        if let Some(tmp) = self.tmp.take() {
            let _ = fs::remove_file(tmp);
        }
    }
}

#[cfg(test)]
mod tests;
