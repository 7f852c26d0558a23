//! Continuing from a file qbsim wrote: `qbsim run --resume FILE` picks up an
//! interrupted master-equation run where it stopped, and `[initial] from =
//! "FILE"` starts a new run from the final state stored in FILE.
//!
//! An interrupted run always stores the state it reached (`/master/rho_final`
//! at `/master/@t_final`) beside the saves done so far. Resuming reads both
//! back, integrates from `t_final` over the save times not yet done, and
//! appends: the result equals an uninterrupted run to within the integrator's
//! tolerance (the step sequence differs after the restart, nothing else).

use crate::master::MasterResult;
use crate::observables::series::Series;
use crate::output::{self, read, record::Record, OutputError};
use num_complex::Complex64 as C64;
use std::path::{Path, PathBuf};

/// Why a file cannot be resumed or used as an initial state.
#[derive(Debug, thiserror::Error)]
pub enum ResumeError {
    #[error("{0}")]
    Read(#[from] OutputError),
    #[error("{file:?}: {reason}")]
    Unusable { file: PathBuf, reason: String },
}

fn unusable(file: &Path, reason: impl Into<String>) -> ResumeError {
    ResumeError::Unusable { file: file.to_path_buf(), reason: reason.into() }
}

/// A master-equation run to continue: what was saved and where it stopped.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// The effective config of the interrupted run (root attribute `config`).
    pub config_text: String,
    /// The saves done so far, with their statistics.
    pub done: MasterResult,
    /// The state reached (full d×d, row-major) and its time.
    pub rho: Vec<C64>,
    pub t: f64,
}

/// Reads a qbsim output file, refusing anything else.
fn read_qbsim(file: &Path) -> Result<Record, ResumeError> {
    if output::inspect_existing(file).is_none() {
        return Err(unusable(file, "not a file written by qbsim (or not readable as HDF5)"));
    }
    Ok(read::read_file(file)?)
}

/// The final density matrix of `/master` (d×d for `cutoffs`) and its time.
fn final_state(rec: &Record, file: &Path, cutoffs: [usize; 3]) -> Result<(Vec<C64>, f64), ResumeError> {
    let d: usize = cutoffs.iter().product();
    let item = rec.get("/master", "rho_final", false).ok_or_else(|| {
        unusable(
            file,
            "has no /master/rho_final (the state is stored when a run is interrupted, or with \
             [output] save_state = \"final\" or \"all\")",
        )
    })?;
    if item.shape != [d, d] {
        return Err(unusable(
            file,
            format!("/master/rho_final is {:?}, but cutoffs {cutoffs:?} need [{d}, {d}]", item.shape),
        ));
    }
    let rho = rec.c64s("/master", "rho_final", false).ok_or_else(|| unusable(file, "/master/rho_final is not complex"))?;
    let t = rec
        .f64s("/master", "t_final", true)
        .and_then(|v| v.first().copied())
        .or_else(|| rec.f64s("/master", "t", false).and_then(|t| t.last().copied()))
        .ok_or_else(|| unusable(file, "no /master/@t_final"))?;
    Ok((rho.to_vec(), t))
}

/// The cutoffs recorded in `/master/@cutoffs`.
fn stored_cutoffs(rec: &Record, file: &Path) -> Result<[usize; 3], ResumeError> {
    match rec.get("/master", "cutoffs", true).map(|i| &i.data) {
        Some(output::record::Data::I64(v)) if v.len() == 3 && v.iter().all(|&n| n >= 1) => {
            Ok([v[0] as usize, v[1] as usize, v[2] as usize])
        }
        _ => Err(unusable(file, "no master-equation result (/master/@cutoffs) in this file")),
    }
}

/// The checkpoint of an interrupted run in `file`.
pub fn checkpoint(file: &Path) -> Result<Checkpoint, ResumeError> {
    let rec = read_qbsim(file)?;
    if rec.attr_int("/", "interrupted") != Some(1) {
        return Err(unusable(file, "holds a complete result: there is nothing to resume"));
    }
    let config_text = rec.attr_str("/", "config").ok_or_else(|| unusable(file, "no root attribute `config`"))?.to_string();
    let dims = stored_cutoffs(&rec, file)?;
    let (rho, t) = final_state(&rec, file, dims)?;
    let real = |name: &str| rec.f64s("/master", name, false).map(<[f64]>::to_vec);
    let complex = |name: &str| rec.c64s("/master", name, false).map(<[C64]>::to_vec);
    let series = Series::from_columns(real, complex)
        .map_err(|name| unusable(file, format!("/master/{name} is missing or has the wrong length")))?;
    let n = series.len();
    let trace = real("trace").filter(|v| v.len() == n).ok_or_else(|| unusable(file, "/master/trace is missing"))?;
    let top = real("top_level").filter(|v| v.len() == 3 * n).ok_or_else(|| unusable(file, "/master/top_level is missing"))?;
    let int = |name: &str| rec.attr_int("/master", name).unwrap_or(0).max(0) as usize;
    // W at t_final, from which the work integral continues (W at the last
    // save is not W at t_final when a stop took effect between saves).
    let work_final = rec
        .f64s("/master", "work_final", true)
        .and_then(|v| v.first().copied())
        .ok_or_else(|| unusable(file, "no /master/@work_final (written by an older qbsim?)"))?;
    let mut done = MasterResult {
        work_final,
        series,
        trace,
        top_level: top.chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect(),
        rho_all: rec.c64s("/master", "rho", false).map(<[C64]>::to_vec),
        t_final: t,
        interrupted: true,
        ..Default::default()
    };
    done.stats.steps = int("steps");
    done.stats.rejected = int("rejected_steps");
    done.stats.rhs_evals = int("rhs_evals");
    done.stats.wall_time_s = rec.f64s("/master", "wall_time_s", true).and_then(|v| v.first().copied()).unwrap_or(0.0);
    Ok(Checkpoint { config_text, done, rho, t })
}

/// The final state stored in `file`, as the initial state of a new run with
/// `cutoffs` (`[initial] from`).
pub fn initial_state(file: &Path, cutoffs: [usize; 3]) -> Result<Vec<C64>, ResumeError> {
    let rec = read_qbsim(file)?;
    let stored = stored_cutoffs(&rec, file)?;
    if stored != cutoffs {
        return Err(unusable(file, format!("its state has cutoffs {stored:?}, this run has {cutoffs:?}")));
    }
    Ok(final_state(&rec, file, cutoffs)?.0)
}

/// Where `qbsim run --resume FILE` writes by default: `name.h5` for
/// `name.interrupted.h5` (the complete result kept beside it is replaced only
/// once the resumed run is complete), else FILE itself.
pub fn default_output(file: &Path) -> PathBuf {
    match file.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".interrupted.h5")) {
        Some(stem) => file.with_file_name(format!("{stem}.h5")),
        None => file.to_path_buf(),
    }
}
