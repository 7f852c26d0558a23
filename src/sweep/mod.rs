//! Parameter sweeps: many runs of one config, in parallel, sharded, resumable.
//!
//! A sweep computes every point of its `[sweep]` axes (or the points of its
//! shard) as a full `qbsim run` in memory, appends each finished point to a
//! journal beside the output (`OUT.journal`) and, when all are done, stacks the
//! points into one HDF5 file: every dataset gains a leading point axis
//! (`/master/energy_b` → `[n_points, n_save]`), every scalar attribute becomes a
//! `[n_points]` dataset of the same name, and `/sweep` holds the axes, the
//! point index map and the config fingerprint. Rerunning the same command
//! reuses the journaled points; `--force` discards them. `qbsim merge` joins
//! shard files after checking they share one config and cover every point
//! exactly once.

pub mod journal;

use crate::config::sweep::{SweepMode, SweepSpec};
use crate::config::{self, Config, ConfigError};
use crate::output::record::{Data, Item, Key, Record};
use crate::output::{self, OutputError, OutputFile};
use crate::run::{self, Provenance, RunError};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
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

    /// From a Slurm job array (SLURM_ARRAY_TASK_ID/MIN/COUNT), if inside one.
    pub fn from_slurm() -> Option<Result<Shard, String>> {
        let get = |k: &str| std::env::var(k).ok();
        let id = get("SLURM_ARRAY_TASK_ID")?;
        let parse = |k: &str, v: Option<String>| -> Result<usize, String> {
            v.ok_or_else(|| format!("{k} is not set although SLURM_ARRAY_TASK_ID is"))?
                .trim()
                .parse()
                .map_err(|_| format!("{k} is not a non-negative integer"))
        };
        Some((|| {
            let id = parse("SLURM_ARRAY_TASK_ID", Some(id))?;
            let min = parse("SLURM_ARRAY_TASK_MIN", get("SLURM_ARRAY_TASK_MIN"))?;
            let count = parse("SLURM_ARRAY_TASK_COUNT", get("SLURM_ARRAY_TASK_COUNT"))?;
            let index = id.checked_sub(min).ok_or("SLURM_ARRAY_TASK_ID < SLURM_ARRAY_TASK_MIN")?;
            Shard::parse(&format!("{index}/{count}"))
        })())
    }

    /// The shard's file beside `out`: `name.shard-I-of-N.h5`.
    pub fn path(&self, out: &Path) -> PathBuf {
        let stem = out.file_stem().and_then(|s| s.to_str()).unwrap_or("sweep");
        out.with_file_name(format!("{stem}.shard-{}-of-{}.h5", self.index, self.count))
    }
}

/// Fingerprint of the effective config (hex FNV-1a): shards and journals of
/// one sweep carry the same.
pub fn config_hash(cfg: &Config) -> u64 {
    journal::fnv1a(cfg.effective_text.as_bytes())
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
}

/// Runs (or resumes) a sweep; writes the stacked file when every point of
/// the shard is done.
pub fn run_sweep(cfg: &Config, out: &Path, opts: &SweepOptions, prov: &Provenance) -> Result<SweepReport, SweepError> {
    let spec = cfg.sweep.as_ref().ok_or_else(|| SweepError::Invalid(format!(
        "{}: no [sweep] section: add axes, e.g. \"reduced.delta_r\" = {{ linspace = [-2, 2, 401] }}",
        cfg.file.display()
    )))?;
    let out = match opts.shard {
        Some(s) => s.path(out),
        None => out.to_path_buf(),
    };
    output::check_writable(&out)?;
    let journal_path = PathBuf::from(format!("{}.journal", out.display()));
    let hash = config_hash(cfg);
    let n = spec.n_points();
    let mine: Vec<usize> = (0..n).filter(|i| opts.shard.is_none_or(|s| i % s.count == s.index)).collect();
    if opts.force {
        let _ = std::fs::remove_file(&journal_path);
    }
    let jerr = |reason: String| SweepError::Journal { path: journal_path.clone(), reason };
    let (entries, valid) = journal::read(&journal_path).map_err(|e| jerr(e.to_string()))?;
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
    let writer = Mutex::new(journal::Writer::open(&journal_path, valid).map_err(|e| jerr(e.to_string()))?);
    let bar = crate::progress::Bar::new(mine.len() as f64, prov.quiet);
    let finished = AtomicUsize::new(mine.len() - pending.len());
    let point_prov = Provenance { command: String::new(), quiet: true, stop: Arc::new(AtomicBool::new(false)) };
    let failure: Mutex<Option<SweepError>> = Mutex::new(None);
    pending.par_iter().for_each(|&i| {
        if prov.stop.load(Ordering::Relaxed) || failure.lock().map_or(true, |f| f.is_some()) {
            return;
        }
        match compute_point(cfg, spec, i, &point_prov) {
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
    let mut text = String::new();
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
    let (entries, _) = journal::read(&journal_path).map_err(|e| jerr(e.to_string()))?;
    let done: BTreeMap<usize, Record> = entries.into_iter().map(|e| (e.index, e.record)).collect();
    let records: Vec<(usize, &Record)> = mine.iter().filter_map(|i| done.get(i).map(|r| (*i, r))).collect();
    if records.len() != mine.len() {
        return Err(jerr(format!("{} of {} points are missing after the run", mine.len() - records.len(), mine.len())));
    }
    let mut stacked = stack(&records)?;
    add_sweep_meta(&mut stacked, cfg, spec, &mine, hash, n, opts.shard, prov);
    let file = OutputFile::create(&out)?;
    stacked.write_to(&file)?;
    let path = file.finish()?;
    let _ = writeln!(
        text,
        "sweep{shard_txt}: {} points ({} computed now, {} from the journal), {} axes, mode {:?}",
        mine.len(),
        computed,
        mine.len() - computed,
        spec.axes.len(),
        spec.mode
    );
    let _ = writeln!(text, "wrote {}", path.display());
    Ok(SweepReport { text, output: Some(path), interrupted: false, computed })
}

/// One point as a full run in memory, without the per-run provenance (the
/// sweep file has its own) and with its wall time.
fn compute_point(cfg: &Config, spec: &SweepSpec, i: usize, prov: &Provenance) -> Result<Record, SweepError> {
    let sets = spec.overrides(i);
    let params = sets.join(", ");
    let point_err = |e: RunError| SweepError::Point { index: i, params: params.clone(), source: Box::new(e) };
    let pcfg = config::parse_point(&cfg.effective_text, &cfg.file, &sets).map_err(|e| point_err(e.into()))?;
    let start = Instant::now();
    let computed = run::compute(&pcfg, prov).map_err(point_err)?;
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

/// Stacks per-point records (sorted by index) into one: datasets gain a
/// leading point axis; attributes become datasets of the same name (with
/// `_attr` appended if a dataset already has that name).
pub fn stack(records: &[(usize, &Record)]) -> Result<Record, SweepError> {
    let mut out = Record::default();
    let Some((i0, first)) = records.first() else { return Ok(out) };
    for (key, item0) in &first.items {
        let mut items = Vec::with_capacity(records.len());
        for (i, r) in records {
            let it = r.items.get(key).ok_or_else(|| {
                SweepError::Invalid(format!("point {i} has no {}/{} (point {i0} has): engines differ between points", key.group, key.name))
            })?;
            if it.shape != item0.shape || !it.data.same_kind(&item0.data) {
                return Err(SweepError::Invalid(format!(
                    "{}/{} has shape {:?} at point {i} but {:?} at point {i0}: an axis changes the shape of the results \
                     (e.g. time.n_save or the cutoffs with save_state), which cannot be stacked",
                    key.group, key.name, it.shape, item0.shape
                )));
            }
            items.push(it);
        }
        let data = concat(&items).ok_or_else(|| SweepError::Invalid(format!("{}/{}: mixed types", key.group, key.name)))?;
        let mut shape = vec![records.len()];
        shape.extend_from_slice(&item0.shape);
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
pub fn merge(shards: &[PathBuf], out: &Path, command: &str) -> Result<String, SweepError> {
    if shards.is_empty() {
        return Err(SweepError::Invalid("merge needs at least one shard file".into()));
    }
    output::check_writable(out)?;
    let recs = shards.iter().map(|p| output::read::read_file(p).map(|r| (p, r))).collect::<Result<Vec<_>, _>>()?;
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
    Ok(format!("merged {} shards, {n_total} points\nwrote {}\n", shards.len(), path.display()))
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
