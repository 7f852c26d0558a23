//! Parameter sweeps: many runs of one config, in parallel, sharded, resumable.
//!
//! A sweep computes every point of its `[sweep]` axes (or the points of its
//! shard) as a full `qbsim run` in memory and, when all are done, stacks the
//! points into one HDF5 file: every dataset gains a leading point axis
//! (`/master/energy_b` → `[n_points, n_save]`), every scalar attribute becomes a
//! `[n_points]` dataset of the same name, and `/sweep` holds the axes, the
//! point index map and the config fingerprint.
//!
//! Before the first point runs, every point of the shard is parsed and
//! validated as it will run, so an axis value the schema refuses stops the
//! sweep at once (exit 2) instead of hours in, and nothing is written.
//!
//! While it runs, each finished point is appended to a journal beside the
//! output (`OUT.journal`), which the sweep holds locked: a second sweep on the
//! same output is refused instead of computing the same points into the same
//! file. A stopped or killed sweep keeps its journal, and rerunning the same
//! command reuses the journaled points; `--force` discards them. Once the
//! stacked file is durably written the journal is removed (it is as large as
//! the result); rerunning a finished sweep then finds the complete output and
//! computes nothing. `qbsim merge` joins shard files after checking they share
//! one config fingerprint and cover every point exactly once.

pub mod journal;

use crate::config::sweep::{toml_number, SweepMode, SweepSpec};
use crate::config::{self, Config, ConfigError, Origin};
use crate::output::record::{Data, Item, Key, Record};
use crate::output::{self, OutputError, OutputFile};
use crate::run::{self, Provenance, RunError};
use crate::text::count;
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Output(#[from] OutputError),
    #[error("sweep point {index} ({params}): {source}")]
    Point { index: usize, params: String, source: Box<RunError> },
    #[error("journal {path:?}: {reason}")]
    Journal { path: PathBuf, reason: String },
    #[error("{0}")]
    Invalid(String),
    /// A point stopped by a signal: it is not journaled (it will be
    /// recomputed by the next run of the sweep).
    #[error("interrupted")]
    Interrupted,
}

impl SweepError {
    /// 2 for a refusal before any point ran (config, output path, invalid
    /// axis values, a locked journal), 1 for a failure while running.
    pub fn exit_code(&self) -> u8 {
        match self {
            // An input that cannot be read is refused before any work.
            SweepError::Config(_) | SweepError::Invalid(_) | SweepError::Output(OutputError::Read { .. }) => 2,
            SweepError::Point { source, .. } => source.exit_code(),
            SweepError::Output(_) | SweepError::Journal { .. } | SweepError::Interrupted => 1,
        }
    }
}

/// Shard `index` of `count` takes the points i with i mod count = index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// Parses `I/N` (I zero-based).
    pub fn parse(s: &str) -> Result<Shard, String> {
        let (i, n) = s.split_once('/').ok_or_else(|| format!("--shard {s}: expected I/N, e.g. 0/4"))?;
        let (index, count) = (i.trim().parse::<usize>(), n.trim().parse::<usize>());
        match (index, count) {
            (Ok(index), Ok(count)) if count >= 1 && index < count => Ok(Shard { index, count }),
            (Ok(index), Ok(count)) => Err(format!(
                "--shard {s}: the shard index must be in 0..{count} (zero-based) and N >= 1, got I = {index}, N = {count}"
            )),
            _ => Err(format!("--shard {s}: I and N must be non-negative integers")),
        }
    }

    /// The shard of this Slurm array task, if inside a job array
    /// (`None` when SLURM_ARRAY_TASK_ID is unset); see [`Shard::from_array_vars`].
    pub fn from_slurm() -> Option<Result<Shard, String>> {
        Shard::from_array_vars(|k| std::env::var(k).ok())
    }

    /// Maps a Slurm array task to its shard from the array variables that
    /// `get` looks up (the environment, or a table in tests).
    ///
    /// Slurm numbers tasks by the IDs of `--array`, not 0..N: `--array=0-14:2`
    /// runs IDs 0, 2, …, 14 with SLURM_ARRAY_TASK_STEP=2 and COUNT=8, so ID − MIN
    /// alone would give shards 0, 2, …, 14 "of 8" (half refused, half run, odd
    /// shards never). The task's shard is its position in the array,
    /// (ID − MIN) / STEP of COUNT, which is only well defined for an evenly
    /// stepped array; that is checked against every variable Slurm sets
    /// (MAX = MIN + (COUNT − 1)·STEP). Without STEP, step 1 is assumed only if
    /// COUNT = MAX − MIN + 1 (or MAX is unset too). Anything else — a list such
    /// as `--array=1,3,7`, values that contradict each other, non-numbers — is
    /// refused rather than guessed at, since a wrong guess silently leaves
    /// points uncomputed until the merge; the message asks for `--shard I/N`.
    pub fn from_array_vars(get: impl Fn(&str) -> Option<String>) -> Option<Result<Shard, String>> {
        const NAMES: [&str; 5] = [
            "SLURM_ARRAY_TASK_ID",
            "SLURM_ARRAY_TASK_MIN",
            "SLURM_ARRAY_TASK_MAX",
            "SLURM_ARRAY_TASK_STEP",
            "SLURM_ARRAY_TASK_COUNT",
        ];
        let raw: [Option<String>; 5] = NAMES.map(&get);
        raw[0].as_ref()?;
        let refuse = |why: String| {
            let vars: Vec<String> = NAMES
                .iter()
                .zip(&raw)
                .map(|(k, v)| match v {
                    Some(v) => format!("{k}={v:?}"),
                    None => format!("{k} unset"),
                })
                .collect();
            format!(
                "cannot tell which shard this Slurm array task is ({}): {why}. qbsim maps evenly stepped arrays \
                 (--array=A-B or --array=A-B:S) to shards; for any other array pass --shard I/N explicitly \
                 (I = 0..N-1 different in every task, the same N in all)",
                vars.join(", ")
            )
        };
        let num = |k: usize| -> Result<Option<u64>, String> {
            match &raw[k] {
                None => Ok(None),
                Some(v) => v
                    .trim()
                    .parse::<u64>()
                    .map(Some)
                    .map_err(|_| refuse(format!("{} = {v:?} is not a non-negative integer", NAMES[k]))),
            }
        };
        Some((|| {
            let (id, min, max, step, count) = (num(0)?, num(1)?, num(2)?, num(3)?, num(4)?);
            let id = id.ok_or_else(|| refuse("SLURM_ARRAY_TASK_ID is not set".into()))?;
            let min = min.ok_or_else(|| refuse("SLURM_ARRAY_TASK_MIN is not set although SLURM_ARRAY_TASK_ID is".into()))?;
            let count =
                count.ok_or_else(|| refuse("SLURM_ARRAY_TASK_COUNT is not set although SLURM_ARRAY_TASK_ID is".into()))?;
            if count == 0 {
                return Err(refuse("SLURM_ARRAY_TASK_COUNT is 0".into()));
            }
            if max.is_some_and(|max| max < min) {
                return Err(refuse("SLURM_ARRAY_TASK_MAX is below SLURM_ARRAY_TASK_MIN".into()));
            }
            let step = match (step, max) {
                (Some(0), _) => return Err(refuse("SLURM_ARRAY_TASK_STEP is 0".into())),
                (Some(step), _) => step,
                (None, Some(max)) if max - min + 1 == count => 1,
                (None, Some(max)) => {
                    return Err(refuse(format!(
                        "without SLURM_ARRAY_TASK_STEP the IDs {min}..={max} are not {count} consecutive tasks \
                         (a list such as --array=1,3,7?)"
                    )))
                }
                (None, None) => 1,
            };
            if let Some(max) = max {
                let last = (count - 1).checked_mul(step).and_then(|d| d.checked_add(min));
                if last != Some(max) {
                    return Err(refuse(format!(
                        "{count} tasks from {min} in steps of {step} would end at {}, not at SLURM_ARRAY_TASK_MAX = {max}: \
                         the IDs are not evenly stepped (a list such as --array=1,3,7?)",
                        last.map_or("an overflow".into(), |l| l.to_string())
                    )));
                }
            }
            let offset = id
                .checked_sub(min)
                .ok_or_else(|| refuse("SLURM_ARRAY_TASK_ID is below SLURM_ARRAY_TASK_MIN".into()))?;
            if offset % step != 0 {
                return Err(refuse(format!("the task ID is not MIN plus a multiple of the step {step}")));
            }
            let index = offset / step;
            if index >= count {
                return Err(refuse(format!(
                    "the task ID is past the last of the {count} tasks (position {index} counting from 0)"
                )));
            }
            let (index, count) = (usize::try_from(index), usize::try_from(count));
            match (index, count) {
                (Ok(index), Ok(count)) => Ok(Shard { index, count }),
                _ => Err(refuse("the array is too large for this platform".into())),
            }
        })())
    }

    /// The shard's file beside `out`: `name.shard-I-of-N.h5`.
    pub fn path(&self, out: &Path) -> PathBuf {
        let stem = out.file_stem().and_then(|s| s.to_str()).unwrap_or("sweep");
        out.with_file_name(format!("{stem}.shard-{}-of-{}.h5", self.index, self.count))
    }
}

/// Fingerprint of the effective config (FNV-1a of [`canonical_config`]):
/// journals, shard files and merges of one sweep must carry the same.
pub fn config_hash(cfg: &Config) -> Result<u64, SweepError> {
    fingerprint(&cfg.effective_text, &cfg.file)
}

/// [`config_hash`] of a config text (`file` names it in errors).
pub fn fingerprint(text: &str, file: &Path) -> Result<u64, SweepError> {
    let canon = canonical_config(text).map_err(|e| {
        SweepError::Invalid(format!("{}: effective config is not valid TOML: {}", file.display(), e.message().trim()))
    })?;
    Ok(journal::fnv1a(canon.as_bytes()))
}

/// The parsed config written out in one canonical form, so the fingerprint
/// depends on the values alone: comments, whitespace, key order, quoting,
/// inline vs. standard tables and `20` vs `20.0` do not change it (editing a
/// comment must not invalidate a day's journal, nor make shards unmergeable),
/// while any change of a value does.
///
/// Tables are written with sorted keys; numbers as the `{:?}` of their f64
/// value (the shortest text that round-trips its exact bits), because the
/// schema reads integers and floats alike into f64 wherever both are allowed;
/// integers beyond 2^53, which f64 cannot hold exactly, keep their integer
/// text so that two of them never collide; strings and keys are quoted and
/// escaped; arrays keep their order. Every value carries a type tag.
pub fn canonical_config(text: &str) -> Result<String, toml::de::Error> {
    let table: toml::Table = toml::from_str(text)?;
    let mut out = String::from("qbsim-config-v1\n");
    canon_table(&table, &mut out);
    Ok(out)
}

fn canon_table(t: &toml::Table, out: &mut String) {
    let mut entries: Vec<(&String, &toml::Value)> = t.iter().collect();
    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    out.push('{');
    for (k, v) in entries {
        let _ = write!(out, "{k:?}=");
        canon_value(v, out);
        out.push(';');
    }
    out.push('}');
}

fn canon_value(v: &toml::Value, out: &mut String) {
    use toml::Value as V;
    const EXACT: u64 = 1 << f64::MANTISSA_DIGITS;
    let _ = match v {
        V::Integer(i) if i.unsigned_abs() <= EXACT => write!(out, "n{:?}", *i as f64),
        V::Integer(i) => write!(out, "i{i}"),
        V::Float(x) => write!(out, "n{x:?}"),
        V::String(s) => write!(out, "s{s:?}"),
        V::Boolean(b) => write!(out, "b{b}"),
        V::Datetime(d) => write!(out, "d{:?}", d.to_string()),
        V::Array(a) => {
            out.push('[');
            for x in a {
                canon_value(x, out);
                out.push(',');
            }
            out.push(']');
            Ok(())
        }
        V::Table(t) => {
            canon_table(t, out);
            Ok(())
        }
    };
}

/// What `qbsim sweep` did.
#[derive(Debug)]
pub struct SweepReport {
    pub text: String,
    pub output: Option<PathBuf>,
    pub interrupted: bool,
    /// Points computed in this invocation (the rest came from the journal).
    pub computed: usize,
}

pub struct SweepOptions {
    pub shard: Option<Shard>,
    pub force: bool,
    /// What every point computes.
    pub job: Job,
}

/// The computation a sweep runs at every point: the command it stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Job {
    /// `qbsim sweep`: a full `qbsim run`.
    #[default]
    Run,
    /// `qbsim steady` with a `[sweep]`: the steady states.
    Steady,
    /// `qbsim validate` with a `[sweep]`: a validity map.
    Validate,
}

impl Job {
    pub fn command(self) -> &'static str {
        match self {
            Job::Run => "qbsim sweep",
            Job::Steady => "qbsim steady",
            Job::Validate => "qbsim validate",
        }
    }

    fn precheck(self, cfg: &Config) -> Result<(), RunError> {
        match self {
            Job::Run => run::precheck(cfg),
            Job::Steady => run::precheck_steady(cfg),
            Job::Validate => run::precheck_validate(cfg),
        }
    }

    fn compute(self, cfg: &Config, prov: &Provenance) -> Result<run::Computed, RunError> {
        match self {
            Job::Run => run::compute(cfg, prov),
            Job::Steady => run::compute_steady(cfg, prov),
            Job::Validate => run::compute_validate(cfg, prov),
        }
    }

    /// The fingerprint of a sweep of `cfg` running this job: journals and
    /// shards of one job never pass for another's (a run sweep keeps the
    /// plain config fingerprint).
    fn hash(self, cfg: &Config) -> Result<u64, SweepError> {
        let h = config_hash(cfg)?;
        Ok(match self {
            Job::Run => h,
            other => journal::fnv1a(format!("{h:016x} {}", other.command()).as_bytes()),
        })
    }
}

/// Runs (or resumes) a sweep; writes the stacked file when every point of
/// the shard is done, then removes the journal.
///
/// In order: every point is validated (nothing is written before that), the
/// journal is locked (a concurrent sweep on the same output is refused), a
/// complete output of the same config and shard ends the call with nothing to
/// do, and only then are the pending points computed.
pub fn run_sweep(cfg: &Config, out: &Path, opts: &SweepOptions, prov: &Provenance) -> Result<SweepReport, SweepError> {
    let spec = cfg.sweep.as_ref().ok_or_else(|| SweepError::Invalid(format!(
        "{}: no [sweep] section: add axes, e.g. \"reduced.delta_r\" = {{ linspace = [-2, 2, 401] }}",
        cfg.file.display()
    )))?;
    let out = match opts.shard {
        Some(s) => s.path(out),
        None => out.to_path_buf(),
    };
    let journal_path = PathBuf::from(format!("{}.journal", out.display()));
    let hash = opts.job.hash(cfg)?;
    let n = spec.n_points();
    let mine: Vec<usize> = (0..n).filter(|i| opts.shard.is_none_or(|s| i % s.count == s.index)).collect();
    let base = point_base(cfg)?;
    check_memory(cfg, spec, &base, &mine)?;
    validate_points(cfg, spec, &base, &mine, opts.job)?;
    prov.check_target(cfg, &out).map_err(|e| SweepError::Invalid(e.to_string()))?;
    let jerr = |reason: String| SweepError::Journal { path: journal_path.clone(), reason };
    let lock = match journal::Lock::acquire(&journal_path) {
        Ok(l) => l,
        Err(journal::LockError::Busy) => {
            return Err(SweepError::Invalid(format!(
                "another qbsim sweep is writing {} (journal {} is locked); wait for it or use another -o",
                out.display(),
                journal_path.display()
            )))
        }
        Err(journal::LockError::Io(e)) => return Err(jerr(format!("cannot open and lock it: {e}"))),
    };
    let mut notes = String::new();
    if let Some(e) = lock.unsupported() {
        let _ = writeln!(
            notes,
            "warning: {} could not be locked ({e}): on this file system nothing stops two sweeps on one output",
            journal_path.display()
        );
    }
    if !opts.force && finished_output(&out, hash, opts.shard, &mine, n) {
        // Finished already. A journal still there is left over from a sweep
        // that died between writing the output and removing it; one of
        // another config is somebody's unfinished work and stays.
        match journal::peek_hash(&journal_path) {
            Ok(Some(h)) if h != hash => {
                let _ = writeln!(notes, "note: {} holds points of another config; left in place", journal_path.display());
            }
            _ => lock.remove().map_err(|e| jerr(format!("cannot remove it: {e}")))?,
        }
        let shard_txt = opts.shard.map_or(String::new(), |s| format!(" (shard {}/{})", s.index, s.count));
        let _ = writeln!(
            notes,
            "sweep{shard_txt}: {} (0 computed now), already complete in {} with this config; --force recomputes",
            count(mine.len(), "point", "points"),
            out.display()
        );
        return Ok(SweepReport { text: notes, output: Some(out), interrupted: false, computed: 0 });
    }
    let mut result = compute_and_stack(cfg, spec, &base, &out, &journal_path, &mine, hash, opts, prov);
    let keep = match &result {
        Ok(r) if !r.interrupted => false,
        // Stopped or failed: a journal with finished points is what a rerun
        // resumes from; an empty one is clutter.
        _ => !lock.is_empty().unwrap_or(false),
    };
    if !keep {
        if let Err(e) = lock.remove() {
            // The result is complete and in place; a journal left behind is
            // removed by the next run of the same command.
            let _ = writeln!(notes, "warning: cannot remove {}: {e}", journal_path.display());
        }
    }
    if let Ok(r) = &mut result {
        r.text.insert_str(0, &notes);
    }
    result
}

/// The work of [`run_sweep`] under the journal lock: computes the pending
/// points into the journal, then stacks the shard into `out`.
#[allow(clippy::too_many_arguments)]
fn compute_and_stack(
    cfg: &Config,
    spec: &SweepSpec,
    base: &str,
    out: &Path,
    journal_path: &Path,
    mine: &[usize],
    hash: u64,
    opts: &SweepOptions,
    prov: &Provenance,
) -> Result<SweepReport, SweepError> {
    let n = spec.n_points();
    let mut text = String::new();
    let jerr = |reason: String| SweepError::Journal { path: journal_path.to_path_buf(), reason };
    // --force starts from an empty journal: truncated under the lock, never
    // deleted, so that a concurrent sweep cannot slip in between.
    let (entries, valid) = if opts.force {
        (Vec::new(), 0)
    } else {
        journal::read(journal_path).map_err(|e| jerr(e.to_string()))?
    };
    if let Some(e) = entries.iter().find(|e| e.hash != hash) {
        return Err(jerr(format!(
            "written for another config (fingerprint {:016x}, this one {hash:016x}); rerun with --force to start over",
            e.hash
        )));
    }
    // Only which points are done matters now; their records are read once,
    // with the new ones, when stacking.
    let done: std::collections::BTreeSet<usize> = entries.iter().map(|e| e.index).collect();
    drop(entries);
    let pending: Vec<usize> = mine.iter().copied().filter(|i| !done.contains(i)).collect();
    let writer = Mutex::new(journal::Writer::open(journal_path, valid).map_err(|e| jerr(e.to_string()))?);
    let bar = crate::progress::Bar::counting(mine.len() as f64, "points", prov.quiet);
    let finished = AtomicUsize::new(mine.len() - pending.len());
    // Points see the sweep's stop flag: a signal stops the points in flight
    // within one integrator step; they are not journaled.
    let point_prov = Provenance { command: String::new(), quiet: true, stop: prov.stop.clone(), ..Default::default() };
    let failure: Mutex<Option<SweepError>> = Mutex::new(None);
    pending.par_iter().for_each(|&i| {
        if prov.stop.load(Ordering::Relaxed) || failure.lock().map_or(true, |f| f.is_some()) {
            return;
        }
        match compute_point(cfg, spec, base, i, &point_prov, opts.job) {
            Ok(rec) => {
                let appended = writer.lock().map_err(|_| "journal lock poisoned".to_string()).and_then(|mut w| {
                    w.append(i, hash, &rec).map_err(|e| e.to_string())
                });
                match appended {
                    Ok(()) => {
                        let k = finished.fetch_add(1, Ordering::Relaxed) + 1;
                        bar.set(k as f64);
                    }
                    Err(e) => {
                        if let Ok(mut f) = failure.lock() {
                            f.get_or_insert(jerr(e));
                        }
                    }
                }
            }
            Err(SweepError::Interrupted) => {}
            Err(e) => {
                if let Ok(mut f) = failure.lock() {
                    f.get_or_insert(e);
                }
            }
        }
    });
    bar.finish();
    if let Ok(w) = writer.lock() {
        w.sync().map_err(|e| jerr(e.to_string()))?;
    }
    if let Some(e) = failure.into_inner().ok().flatten() {
        return Err(e);
    }
    let computed = finished.load(Ordering::Relaxed) - (mine.len() - pending.len());
    let shard_txt = opts.shard.map_or(String::new(), |s| format!(" (shard {}/{})", s.index, s.count));
    if prov.stop.load(Ordering::Relaxed) {
        let _ = writeln!(
            text,
            "sweep{shard_txt} stopped: {} of {} points done and kept in {}; rerun the same command to continue",
            finished.load(Ordering::Relaxed),
            mine.len(),
            journal_path.display()
        );
        return Ok(SweepReport { text, output: None, interrupted: true, computed });
    }
    // Every point of the shard is in the journal now: read it back and stack.
    let (entries, _) = journal::read(journal_path).map_err(|e| jerr(e.to_string()))?;
    let done: BTreeMap<usize, Record> = entries.into_iter().map(|e| (e.index, e.record)).collect();
    let records: Vec<(usize, &Record)> = mine.iter().filter_map(|i| done.get(i).map(|r| (*i, r))).collect();
    if records.len() != mine.len() {
        return Err(jerr(format!("{} of {} points are missing after the run", mine.len() - records.len(), mine.len())));
    }
    let mut stacked = stack(&records)?;
    add_sweep_meta(&mut stacked, cfg, spec, mine, hash, n, opts.shard, prov);
    let file = OutputFile::create(out)?;
    stacked.write_to(&file)?;
    // `finish` syncs the file and renames it into place: only after that may
    // the caller delete the journal.
    let path = file.finish()?;
    let _ = writeln!(
        text,
        "sweep{shard_txt}: {} ({} computed now, {} from the journal), {}, mode {}",
        count(mine.len(), "point", "points"),
        computed,
        mine.len() - computed,
        count(spec.axes.len(), "axis", "axes"),
        if spec.mode == SweepMode::Grid { "grid" } else { "zip" }
    );
    let _ = writeln!(text, "wrote {}", path.display());
    Ok(SweepReport { text, output: Some(path), interrupted: false, computed })
}

/// The effective config without its `[sweep]` table: the text every point is
/// parsed from. A point needs none of the axes, and reading them again for
/// every point would make n points cost O(n × axis length): with a `values`
/// list of 251 numbers, validating 10^5 points took 20 s instead of 0.75 s.
fn point_base(cfg: &Config) -> Result<String, SweepError> {
    let mut doc: toml_edit::DocumentMut = cfg.effective_text.parse().map_err(|e: toml_edit::TomlError| {
        SweepError::Invalid(format!("{}: effective config is not valid TOML: {}", cfg.file.display(), e.message().trim()))
    })?;
    doc.remove("sweep");
    Ok(doc.to_string())
}

/// Parses every point of `mine` exactly as it will run, so that an axis value
/// the schema refuses (a negative damping, `t_end <= 0`, a cutoff of 0, …)
/// stops the sweep before any point is computed and before the journal
/// exists, instead of failing hours in with an error that blames a `--set`
/// the user never typed. The lowest failing point is reported.
///
/// Parsing is pure and independent per point, so it runs in parallel. It
/// costs ~15 µs a point on one core: 0.1 s for the 8421 points of
/// configs/sweeps/delta_gamma.toml, 1.5 s for 10^5 points.
fn validate_points(cfg: &Config, spec: &SweepSpec, base: &str, mine: &[usize], job: Job) -> Result<(), SweepError> {
    let bad = mine.par_iter().find_map_first(|&i| match config::parse_point(base, &cfg.file, &spec.overrides(i)) {
        Err(e) => Some((i, Err(e))),
        Ok(pcfg) => job.precheck(&pcfg).err().map(|e| (i, Ok(e))),
    });
    match bad {
        None => Ok(()),
        Some((i, Err(e))) => Err(invalid_point(cfg, spec, i, &e)),
        // Refused by the run itself (no effective coupling, a superoperator
        // too large, ...): named with the point's axis values.
        Some((i, Ok(e))) => Err(SweepError::Invalid(format!(
            "{}: sweep point {i} of {} ({}): {e}; nothing was computed",
            cfg.file.display(),
            spec.n_points(),
            spec.overrides(i).join(", ")
        ))),
    }
}

/// Refuses a sweep whose points' records (held in memory while stacking,
/// plus the stacked copy) and one point's run do not fit in memory.
fn check_memory(cfg: &Config, spec: &SweepSpec, base: &str, mine: &[usize]) -> Result<(), SweepError> {
    let Some(&first) = mine.first() else { return Ok(()) };
    let pcfg = config::parse_point(base, &cfg.file, &spec.overrides(first))?;
    let records = run::record_bytes(&pcfg).saturating_mul(mine.len());
    run::check_memory(&pcfg, records).map_err(|e| SweepError::Invalid(format!("{}: {} sweep points: {e}", cfg.file.display(), mine.len())))
}

/// The message for a point that does not validate, worded for the `[sweep]`
/// axes (the override machinery reports axis values as `--set`s).
fn invalid_point(cfg: &Config, spec: &SweepSpec, i: usize, e: &ConfigError) -> SweepError {
    let params: Vec<String> =
        spec.axes.iter().zip(spec.point(i)).map(|(a, v)| format!("{} = {}", a.key, toml_number(v))).collect();
    let what = match &e.key {
        Some(k) => format!("`{k}`: {}", e.message),
        None => e.message.clone(),
    };
    let axis = match &e.origin {
        Origin::Override(arg) => arg.split_once('=').map(|(k, _)| k.trim().to_string()),
        _ => None,
    };
    let why = match axis {
        Some(axis) => format!("the value comes from the [sweep] axis \"{axis}\"; change that axis's values"),
        None => "this combination of [sweep] axis values is refused; change the axes".to_string(),
    };
    SweepError::Invalid(format!(
        "{}: sweep point {i} of {} ({}): {what} ({why}); nothing was computed",
        cfg.file.display(),
        spec.n_points(),
        params.join(", ")
    ))
}

/// Whether `out` already holds this shard's finished sweep: same config
/// fingerprint, same shard, same point indices. Any doubt (no file, not a
/// sweep file, unreadable) means no, and the sweep runs and replaces it.
fn finished_output(out: &Path, hash: u64, shard: Option<Shard>, mine: &[usize], n_total: usize) -> bool {
    if !out.is_file() {
        return false;
    }
    let label = shard.map_or("all".to_string(), |s| format!("{}/{}", s.index, s.count));
    let check = || -> hdf5::Result<bool> {
        let f = hdf5::File::open(out)?;
        let g = f.group("sweep")?;
        let string = |name: &str| -> hdf5::Result<Option<String>> {
            let v = g.attr(name)?.read_raw::<hdf5::types::VarLenUnicode>()?;
            Ok(v.first().map(|s| s.as_str().to_string()))
        };
        let total = g.attr("n_points_total")?.read_raw::<i64>()?;
        let index = g.dataset("index")?.read_raw::<i64>()?;
        Ok(string("config_hash")?.as_deref() == Some(format!("{hash:016x}").as_str())
            && string("shard")?.as_deref() == Some(label.as_str())
            && total.first().copied() == i64::try_from(n_total).ok()
            && index.len() == mine.len()
            && index.iter().zip(mine).all(|(&a, &b)| usize::try_from(a).is_ok_and(|a| a == b)))
    };
    check().unwrap_or(false)
}

/// One point as a full run in memory, without the per-run provenance (the
/// sweep file has its own) and with its wall time.
fn compute_point(cfg: &Config, spec: &SweepSpec, base: &str, i: usize, prov: &Provenance, job: Job) -> Result<Record, SweepError> {
    let sets = spec.overrides(i);
    let params = sets.join(", ");
    let point_err = |e: RunError| SweepError::Point { index: i, params: params.clone(), source: Box::new(e) };
    let pcfg = config::parse_point(base, &cfg.file, &sets).map_err(|e| point_err(e.into()))?;
    let start = Instant::now();
    let computed = job.compute(&pcfg, prov).map_err(point_err)?;
    if computed.interrupted {
        return Err(SweepError::Interrupted);
    }
    let mut rec = computed.record;
    rec.items.retain(|k, _| k.group != "/");
    rec.items.insert(
        Key { group: "/sweep".into(), name: "wall_time_s".into(), attribute: true },
        Item { shape: vec![], data: Data::F64(vec![start.elapsed().as_secs_f64()]) },
    );
    Ok(rec)
}

/// Concatenates `rows` (index, data) of one item along a new leading axis.
fn concat(items: &[&Item]) -> Option<Data> {
    let first = &items[0].data;
    macro_rules! cat {
        ($variant:ident) => {{
            let mut v = Vec::new();
            for it in items {
                match &it.data {
                    Data::$variant(x) => v.extend_from_slice(x),
                    _ => return None,
                }
            }
            Data::$variant(v)
        }};
    }
    Some(match first {
        Data::F64(_) => cat!(F64),
        Data::C64(_) => cat!(C64),
        Data::U8(_) => cat!(U8),
        Data::I8(_) => cat!(I8),
        Data::I64(_) => cat!(I64),
        Data::Str(_) => cat!(Str),
    })
}

/// The per-event datasets (`event_times`, `event_names`, `<engine>/events/*`),
/// whose length differs between points: stacked padded to the longest.
fn is_ragged(key: &Key) -> bool {
    !key.attribute && (key.name == "event_times" || key.name == "event_names" || key.group.ends_with("/events"))
}

/// 1-D items of different lengths as one `[n, max_len]` block, padded with
/// NaN (numbers) or empty strings.
fn pad(items: &[&Item]) -> Option<(Data, Vec<usize>)> {
    let len = items.iter().map(|it| it.data.len()).max().unwrap_or(0);
    macro_rules! padded {
        ($variant:ident, $fill:expr) => {{
            let mut v = Vec::with_capacity(items.len() * len);
            for it in items {
                match &it.data {
                    Data::$variant(x) => {
                        v.extend_from_slice(x);
                        v.extend(std::iter::repeat_n($fill, len - x.len()));
                    }
                    _ => return None,
                }
            }
            Data::$variant(v)
        }};
    }
    let data = match &items.first()?.data {
        Data::F64(_) => padded!(F64, f64::NAN),
        Data::C64(_) => padded!(C64, num_complex::Complex64::new(f64::NAN, f64::NAN)),
        Data::Str(_) => padded!(Str, String::new()),
        _ => return None,
    };
    Some((data, vec![len]))
}

/// Stacks per-point records (sorted by index) into one: datasets gain a
/// leading point axis; attributes become datasets of the same name (with
/// `_attr` appended if a dataset already has that name); the per-event
/// datasets are padded to the most firings of any point (`is_ragged`).
pub fn stack(records: &[(usize, &Record)]) -> Result<Record, SweepError> {
    let mut out = Record::default();
    let Some((i0, first)) = records.first() else { return Ok(out) };
    for (key, item0) in &first.items {
        let mut items = Vec::with_capacity(records.len());
        let mut padded = Vec::new();
        for (i, r) in records {
            let it = r.items.get(key).ok_or_else(|| {
                SweepError::Invalid(format!("point {i} has no {}/{} (point {i0} has): engines differ between points", key.group, key.name))
            })?;
            if is_ragged(key) {
                padded.push(it);
                continue;
            }
            if it.shape != item0.shape || !it.data.same_kind(&item0.data) {
                return Err(SweepError::Invalid(format!(
                    "{}/{} has shape {:?} at point {i} but {:?} at point {i0}: an axis changes the shape of the results \
                     (e.g. time.n_save or the cutoffs with save_state), which cannot be stacked",
                    key.group, key.name, it.shape, item0.shape
                )));
            }
            items.push(it);
        }
        let (data, inner) = if padded.is_empty() {
            (concat(&items).ok_or_else(|| SweepError::Invalid(format!("{}/{}: mixed types", key.group, key.name)))?, item0.shape.clone())
        } else {
            pad(&padded).ok_or_else(|| SweepError::Invalid(format!("{}/{}: mixed types", key.group, key.name)))?
        };
        let mut shape = vec![records.len()];
        shape.extend_from_slice(&inner);
        let mut name = key.name.clone();
        if key.attribute && first.items.contains_key(&Key { group: key.group.clone(), name: name.clone(), attribute: false }) {
            name.push_str("_attr");
        }
        out.items.insert(Key { group: key.group.clone(), name, attribute: false }, Item { shape, data });
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn add_sweep_meta(
    rec: &mut Record,
    cfg: &Config,
    spec: &SweepSpec,
    indices: &[usize],
    hash: u64,
    n_total: usize,
    shard: Option<Shard>,
    prov: &Provenance,
) {
    let mut put = |group: &str, name: &str, attribute: bool, shape: Vec<usize>, data: Data| {
        rec.items.insert(Key { group: group.into(), name: name.into(), attribute }, Item { shape, data });
    };
    let n = indices.len();
    put("/sweep", "index", false, vec![n], Data::I64(indices.iter().map(|&i| i as i64).collect()));
    for (k, axis) in spec.axes.iter().enumerate() {
        let vals = indices.iter().map(|&i| spec.point(i)[k]).collect();
        put("/sweep/params", &axis.key, false, vec![n], Data::F64(vals));
    }
    put("/sweep", "axes", true, vec![spec.axes.len()], Data::Str(spec.axes.iter().map(|a| a.key.clone()).collect()));
    put("/sweep", "mode", true, vec![], Data::Str(vec![if spec.mode == SweepMode::Grid { "grid" } else { "zip" }.into()]));
    let shape = spec.shape();
    put("/sweep", "shape", true, vec![shape.len()], Data::I64(shape.iter().map(|&s| s as i64).collect()));
    put("/sweep", "n_points_total", true, vec![], Data::I64(vec![n_total as i64]));
    put("/sweep", "config_hash", true, vec![], Data::Str(vec![format!("{hash:016x}")]));
    put("/sweep", "shard", true, vec![], Data::Str(vec![shard.map_or("all".into(), |s| format!("{}/{}", s.index, s.count))]));
    put("/", "qbsim_version", true, vec![], Data::Str(vec![env!("CARGO_PKG_VERSION").into()]));
    put("/", "created", true, vec![], Data::Str(vec![output::iso8601_now_utc()]));
    put("/", "command", true, vec![], Data::Str(vec![prov.command.clone()]));
    put("/", "config", true, vec![], Data::Str(vec![cfg.effective_text.clone()]));
}

/// `qbsim merge`: joins shard files of one sweep into one file in point order.
pub fn merge(shards: &[PathBuf], out: &Path, prov: &Provenance) -> Result<String, SweepError> {
    let command = prov.command.as_str();
    if shards.is_empty() {
        return Err(SweepError::Invalid("merge needs at least one shard file".into()));
    }
    let policy = output::TargetPolicy { inputs: shards.to_vec(), overwrite: prov.overwrite };
    output::check_target(out, &policy).map_err(|e| SweepError::Invalid(e.to_string()))?;
    let recs = shards.iter().map(|p| output::read::read_file(p).map(|r| (p, r))).collect::<Result<Vec<_>, _>>()?;
    // Shards of a trajectory run combine sums, not points.
    if recs.first().is_some_and(|(_, r)| run::trajectories::is_trajectory_file(r)) {
        let owned: Vec<(PathBuf, Record)> = recs.into_iter().map(|(p, r)| (p.clone(), r)).collect();
        return run::trajectories::merge(&owned, out, prov).map_err(|e| SweepError::Invalid(e.to_string()));
    }
    let attr_str = |r: &Record, name: &str| match r.items.get(&Key { group: "/sweep".into(), name: name.into(), attribute: true }) {
        Some(Item { data: Data::Str(v), .. }) => v.first().cloned(),
        _ => None,
    };
    let total = |r: &Record| match r.items.get(&Key { group: "/sweep".into(), name: "n_points_total".into(), attribute: true }) {
        Some(Item { data: Data::I64(v), .. }) => v.first().map(|&x| x as usize),
        _ => None,
    };
    let (p0, r0) = &recs[0];
    let hash0 = attr_str(r0, "config_hash").ok_or_else(|| SweepError::Invalid(format!("{}: not a qbsim sweep file (no /sweep/@config_hash)", p0.display())))?;
    let n_total = total(r0).ok_or_else(|| SweepError::Invalid(format!("{}: no /sweep/@n_points_total", p0.display())))?;
    let mut owner: BTreeMap<usize, Vec<&PathBuf>> = BTreeMap::new();
    let mut rows: Vec<(usize, usize, usize)> = Vec::new(); // (point, shard, row)
    for (s, (p, r)) in recs.iter().enumerate() {
        let h = attr_str(r, "config_hash").unwrap_or_default();
        if h != hash0 {
            return Err(SweepError::Invalid(format!(
                "{} comes from another config (fingerprint {h}) than {} ({hash0}): refusing to merge",
                p.display(),
                p0.display()
            )));
        }
        let Some(Item { data: Data::I64(idx), .. }) = r.items.get(&Key { group: "/sweep".into(), name: "index".into(), attribute: false }) else {
            return Err(SweepError::Invalid(format!("{}: no /sweep/index", p.display())));
        };
        for (row, &i) in idx.iter().enumerate() {
            owner.entry(i as usize).or_default().push(p);
            rows.push((i as usize, s, row));
        }
    }
    let dup: Vec<String> = owner.iter().filter(|(_, v)| v.len() > 1).map(|(i, v)| format!("{i} (in {})", v.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))).collect();
    if !dup.is_empty() {
        return Err(SweepError::Invalid(format!("points given more than once: {}", dup.join("; "))));
    }
    let missing: Vec<usize> = (0..n_total).filter(|i| !owner.contains_key(i)).collect();
    if !missing.is_empty() {
        let shown: Vec<String> = missing.iter().take(20).map(|i| i.to_string()).collect();
        return Err(SweepError::Invalid(format!(
            "{} of {n_total} points are missing (a shard is absent?): {}{}",
            missing.len(),
            shown.join(", "),
            if missing.len() > 20 { ", …" } else { "" }
        )));
    }
    rows.sort_unstable();
    // Every dataset has a leading point axis; attributes are per-file metadata.
    let mut merged = Record::default();
    for (key, item0) in &r0.items {
        if key.attribute {
            merged.items.insert(key.clone(), item0.clone());
            continue;
        }
        let row_len = item0.shape.iter().skip(1).product::<usize>();
        let mut items = Vec::with_capacity(rows.len());
        for &(_, s, row) in &rows {
            let it = recs[s].1.items.get(key).ok_or_else(|| SweepError::Invalid(format!("{} lacks {}/{}", recs[s].0.display(), key.group, key.name)))?;
            items.push(slice_row(it, row, row_len));
        }
        let refs: Vec<&Item> = items.iter().collect();
        let data = concat(&refs).ok_or_else(|| SweepError::Invalid(format!("{}/{}: mixed types across shards", key.group, key.name)))?;
        let mut shape = item0.shape.clone();
        shape[0] = rows.len();
        merged.items.insert(key.clone(), Item { shape, data });
    }
    for (name, v) in [("shard", "merged".to_string()), ("command", command.to_string()), ("created", output::iso8601_now_utc())] {
        let group = if name == "shard" { "/sweep" } else { "/" };
        merged.items.insert(Key { group: group.into(), name: name.into(), attribute: true }, Item { shape: vec![], data: Data::Str(vec![v]) });
    }
    let file = OutputFile::create(out)?;
    merged.write_to(&file)?;
    let path = file.finish()?;
    Ok(format!(
        "merged {}, {}\nwrote {}\n",
        count(shards.len(), "shard", "shards"),
        count(n_total, "point", "points"),
        path.display()
    ))
}

fn slice_row(it: &Item, row: usize, len: usize) -> Item {
    let r = row * len..(row + 1) * len;
    let data = match &it.data {
        Data::F64(v) => Data::F64(v[r].to_vec()),
        Data::C64(v) => Data::C64(v[r].to_vec()),
        Data::U8(v) => Data::U8(v[r].to_vec()),
        Data::I8(v) => Data::I8(v[r].to_vec()),
        Data::I64(v) => Data::I64(v[r].to_vec()),
        Data::Str(v) => Data::Str(v[r].to_vec()),
    };
    Item { shape: it.shape[1..].to_vec(), data }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Looks the Slurm variables up in a table, as the environment would.
    fn vars<'a>(table: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k: &str| table.iter().find(|(name, _)| *name == k).map(|(_, v)| v.to_string())
    }

    /// The shard of task `id` in an array given by MIN, MAX, STEP, COUNT
    /// (`None` = unset).
    fn shard_of(id: &str, min: &str, max: Option<&str>, step: Option<&str>, count: &str) -> Result<Shard, String> {
        let mut t = vec![("SLURM_ARRAY_TASK_ID", id), ("SLURM_ARRAY_TASK_MIN", min), ("SLURM_ARRAY_TASK_COUNT", count)];
        t.extend(max.map(|m| ("SLURM_ARRAY_TASK_MAX", m)));
        t.extend(step.map(|s| ("SLURM_ARRAY_TASK_STEP", s)));
        Shard::from_array_vars(vars(&t)).expect("inside an array")
    }

    /// Every task of an evenly stepped array gets a different shard of COUNT,
    /// and together they are all of them.
    fn check_array(ids: impl Iterator<Item = u64>, min: u64, max: u64, step: u64, count: usize) {
        let mut seen = vec![0; count];
        for id in ids {
            let (id, min, max, step, n) = (id.to_string(), min.to_string(), max.to_string(), step.to_string(), count.to_string());
            let s = shard_of(&id, &min, Some(&max), Some(&step), &n).unwrap_or_else(|e| panic!("task {id}: {e}"));
            assert_eq!(s.count, count);
            seen[s.index] += 1;
        }
        assert!(seen.iter().all(|&k| k == 1), "shards hit {seen:?}");
    }

    #[test]
    fn outside_a_job_array_there_is_no_shard() {
        assert!(Shard::from_array_vars(|_| None).is_none());
        assert!(Shard::from_array_vars(vars(&[("SLURM_ARRAY_TASK_COUNT", "4")])).is_none());
    }

    #[test]
    fn contiguous_and_offset_arrays_map_to_id_minus_min() {
        check_array(0..=7, 0, 7, 1, 8); // --array=0-7
        check_array(4..=6, 4, 6, 1, 3); // --array=4-6
        assert_eq!(shard_of("5", "4", Some("6"), Some("1"), "3"), Ok(Shard { index: 1, count: 3 }));
        // Without STEP (older Slurm, or set by hand): step 1 when COUNT fits MIN..=MAX.
        assert_eq!(shard_of("6", "4", Some("6"), None, "3"), Ok(Shard { index: 2, count: 3 }));
        assert_eq!(shard_of("5", "4", None, None, "3"), Ok(Shard { index: 1, count: 3 }));
    }

    #[test]
    fn stepped_arrays_map_every_task_to_its_own_shard() {
        // --array=0-14:2: IDs 0, 2, …, 14 are shards 0..8, each once.
        check_array((0..=14).step_by(2), 0, 14, 2, 8);
        assert_eq!(shard_of("14", "0", Some("14"), Some("2"), "8"), Ok(Shard { index: 7, count: 8 }));
        assert_eq!(shard_of("2", "0", Some("14"), Some("2"), "8"), Ok(Shard { index: 1, count: 8 }));
        // --array=3-15:4: IDs 3, 7, 11, 15.
        check_array((3..=15).step_by(4), 3, 15, 4, 4);
        assert_eq!(shard_of("11", "3", Some("15"), Some("4"), "4"), Ok(Shard { index: 2, count: 4 }));
        // STEP without MAX is enough.
        assert_eq!(shard_of("7", "3", None, Some("4"), "4"), Ok(Shard { index: 1, count: 4 }));
    }

    #[test]
    fn arrays_that_are_not_evenly_stepped_are_refused() {
        // --array=1,3,7, whatever Slurm says the step is (or if it says nothing).
        for step in [Some("1"), Some("2"), None] {
            for id in ["1", "3", "7"] {
                let e = shard_of(id, "1", Some("7"), step, "3").expect_err("a sparse list");
                assert!(e.contains("--shard I/N") && e.contains("SLURM_ARRAY_TASK_MAX=\"7\""), "{e}");
                assert!(e.contains(&format!("SLURM_ARRAY_TASK_ID=\"{id}\"")), "{e}");
                assert!(e.contains("evenly stepped") || e.contains("consecutive"), "{e}");
            }
        }
    }

    #[test]
    fn tasks_off_the_step_or_outside_the_range_are_refused() {
        let e = shard_of("3", "0", Some("14"), Some("2"), "8").expect_err("off the step");
        assert!(e.contains("multiple of the step 2") && e.contains("--shard"), "{e}");
        let e = shard_of("16", "0", Some("14"), Some("2"), "8").expect_err("past the end");
        assert!(e.contains("past the last") && e.contains("SLURM_ARRAY_TASK_ID=\"16\""), "{e}");
        let e = shard_of("16", "0", None, Some("2"), "8").expect_err("past the end, no MAX");
        assert!(e.contains("past the last"), "{e}");
        let e = shard_of("2", "4", Some("6"), Some("1"), "3").expect_err("below MIN");
        assert!(e.contains("below SLURM_ARRAY_TASK_MIN"), "{e}");
        let e = shard_of("9", "4", None, None, "3").expect_err("past the end");
        assert!(e.contains("past the last"), "{e}");
    }

    #[test]
    fn unparsable_or_contradictory_variables_are_refused() {
        /// ID, MIN, MAX, STEP, COUNT, and what the refusal must say.
        type Case<'a> = (&'a str, &'a str, Option<&'a str>, Option<&'a str>, &'a str, &'a str);
        let cases: [Case; 9] = [
            ("x", "0", None, None, "4", "SLURM_ARRAY_TASK_ID = \"x\" is not a non-negative integer"),
            ("-1", "0", None, None, "4", "SLURM_ARRAY_TASK_ID = \"-1\""),
            ("", "0", None, None, "4", "SLURM_ARRAY_TASK_ID = \"\""),
            ("1", "zero", None, None, "4", "SLURM_ARRAY_TASK_MIN = \"zero\""),
            ("1", "0", Some("3.5"), None, "4", "SLURM_ARRAY_TASK_MAX = \"3.5\""),
            ("1", "0", Some("3"), Some("two"), "4", "SLURM_ARRAY_TASK_STEP = \"two\""),
            ("1", "0", Some("3"), Some("0"), "4", "STEP is 0"),
            ("1", "0", Some("3"), Some("1"), "0", "COUNT is 0"),
            ("1", "2", Some("1"), Some("1"), "1", "MAX is below"),
        ];
        for (id, min, max, step, count, needle) in cases {
            let e = shard_of(id, min, max, step, count).expect_err(needle);
            assert!(e.contains(needle) && e.contains("--shard I/N"), "{needle}: {e}");
        }
        let e = Shard::from_array_vars(vars(&[("SLURM_ARRAY_TASK_ID", "1")])).expect("in an array").expect_err("no MIN");
        assert!(e.contains("SLURM_ARRAY_TASK_MIN is not set") && e.contains("SLURM_ARRAY_TASK_COUNT unset"), "{e}");
        // MAX that contradicts COUNT and STEP.
        let e = shard_of("2", "0", Some("20"), Some("2"), "8").expect_err("inconsistent");
        assert!(e.contains("would end at 14, not at SLURM_ARRAY_TASK_MAX = 20"), "{e}");
    }

    fn hash(text: &str) -> u64 {
        fingerprint(text, Path::new("t.toml")).expect("valid TOML")
    }

    const BASE: &str = "[reduced]\ngamma_a = 1.5\ngamma_b = 0.5\ndelta_r = 0.0\n\n[time]\nt_end = 20.0\nn_save = 201\n\n\
                        [sweep]\n\"reduced.delta_r\" = { linspace = [-2, 2, 401] }\n";

    #[test]
    fn the_fingerprint_ignores_comments_and_whitespace() {
        let h = hash(BASE);
        let commented = BASE.replace("[time]\n", "# the time grid\n[time]   # save times\n");
        assert_eq!(hash(&commented), h);
        let spaced = BASE.replace("gamma_a = 1.5", "gamma_a=1.5").replace("n_save = 201", "  n_save   =   201  ");
        assert_eq!(hash(&spaced), h);
        assert_eq!(hash(&format!("\n\n{BASE}\n\n")), h);
        let crlf = BASE.replace('\n', "\r\n");
        assert_eq!(hash(&crlf), h);
    }

    #[test]
    fn the_fingerprint_ignores_key_and_table_order_and_table_style() {
        let h = hash(BASE);
        let keys = BASE.replace("gamma_a = 1.5\ngamma_b = 0.5\n", "gamma_b = 0.5\ngamma_a = 1.5\n");
        assert_eq!(hash(&keys), h);
        let tables = "[time]\nn_save = 201\nt_end = 20.0\n\n[sweep]\n\"reduced.delta_r\" = { linspace = [-2, 2, 401] }\n\n\
                      [reduced]\ndelta_r = 0.0\ngamma_b = 0.5\ngamma_a = 1.5\n";
        assert_eq!(hash(tables), h);
        // The [time] table written inline, or as dotted keys (both before the
        // first header, where they belong to the root table).
        let no_time = BASE.replace("[time]\nt_end = 20.0\nn_save = 201\n", "");
        assert_eq!(hash(&format!("time = {{ n_save = 201, t_end = 20 }}\n{no_time}")), h);
        assert_eq!(hash(&format!("time.t_end = 20.0\ntime.n_save = 201\n{no_time}")), h);
        let quoted = BASE.replace("gamma_a = 1.5", "\"gamma_a\" = 1.5");
        assert_eq!(hash(&quoted), h);
    }

    #[test]
    fn the_fingerprint_treats_integers_and_equal_floats_alike() {
        let h = hash(BASE);
        assert_eq!(hash(&BASE.replace("t_end = 20.0", "t_end = 20")), h);
        assert_eq!(hash(&BASE.replace("t_end = 20.0", "t_end = 2e1")), h);
        assert_eq!(hash(&BASE.replace("n_save = 201", "n_save = 201.0")), h);
        assert_eq!(hash(&BASE.replace("[-2, 2, 401]", "[-2.0, 2.0, 401.0]")), h);
        assert_eq!(hash(&BASE.replace("gamma_a = 1.5", "gamma_a = 1.500")), h);
        assert_eq!(hash(&BASE.replace("n_save = 201", "n_save = 2_01")), h);
    }

    #[test]
    fn any_change_of_a_value_changes_the_fingerprint() {
        let h = hash(BASE);
        let changed = [
            BASE.replace("gamma_a = 1.5", "gamma_a = 1.6"),
            BASE.replace("gamma_a = 1.5", "gamma_a = 1.5000000000000002"),
            BASE.replace("t_end = 20.0", "t_end = \"20\""),
            BASE.replace("delta_r = 0.0", "delta_r = -0.0"),
            BASE.replace("[-2, 2, 401]", "[2, -2, 401]"),
            BASE.replace("[-2, 2, 401]", "[-2, 2, 401, 1]"),
            BASE.replace("linspace", "logspace"),
            BASE.replace("\"reduced.delta_r\"", "\"reduced.gamma_b\""),
            BASE.replace("gamma_a", "gamma_x"),
            format!("{BASE}[output]\npath = \"x.h5\"\n"),
            format!("{BASE}[solver]\nengines = [\"reduced\"]\n"),
        ];
        for (k, text) in changed.iter().enumerate() {
            assert_ne!(hash(text), h, "change {k} kept the fingerprint:\n{text}");
        }
        // Strings are compared as strings, with escapes resolved.
        let a = format!("{BASE}[output]\npath = \"a\\u0062.h5\"\n");
        let b = format!("{BASE}[output]\npath = 'ab.h5'\n");
        assert_eq!(hash(&a), hash(&b));
        // Integers f64 cannot hold exactly stay distinct.
        assert_ne!(hash("x = 9007199254740993"), hash("x = 9007199254740992"));
    }
}
