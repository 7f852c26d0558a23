//! `/trajectories`: the quantum-jump engine in a run, its shards
//! (`qbsim run --shard I/N` splits the trajectories, in whole chunks) and
//! their merge (`qbsim merge`, exact: the chunks' sums are kept).

use super::*;
use crate::output::record::{Data, Item, Key};
use crate::trajectories::{self as traj, Problem, Sums, TrajOptions, CHUNK, OBS};

/// Which trajectories a run computes: all, or shard `index` of `count`
/// (chunks c with c mod count = index).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrajShard {
    pub index: usize,
    pub count: usize,
}

/// The seed of a run: the config's, or one drawn now (printed and stored).
fn seed_of(cfg: &Config) -> (u64, bool) {
    match cfg.trajectories.seed {
        Some(s) => (s, false),
        None => {
            let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
            // 53 bits: a seed that survives a round trip through TOML and f64.
            ((t ^ (u64::from(std::process::id()) << 32)) & ((1 << 53) - 1), true)
        }
    }
}

fn options(cfg: &Config, p: &MicroParams, seed: u64, span: f64) -> TrajOptions {
    let (method, _) = master::choose_method(&p.lindblad_terms(), cfg.solver.method, span);
    TrajOptions { n: cfg.trajectories.n, seed, method, rtol: cfg.solver.rtol, atol: cfg.solver.atol }
}

/// Bytes the engine holds at its peak: per thread one trajectory's vectors
/// (O(d)), plus the chunk sums kept for merging.
pub(super) fn memory_need(cfg: &Config, p: &MicroParams, n_save: usize) -> usize {
    let d = p.space().dim();
    let threads = rayon::current_num_threads();
    let db = p.cutoffs[1];
    let per_thread = 24 * d * 16;
    let per_chunk = n_save * (2 * OBS.len() * 8 + db * db * 16);
    threads.saturating_mul(per_thread).saturating_add(traj::n_chunks(cfg.trajectories.n).saturating_mul(per_chunk).saturating_mul(3))
}

/// Runs the engine (all trajectories, or a shard's chunks) into `root`.
pub(super) fn run(cfg: &Config, p: &MicroParams, time: &TimeGrid, prov: &Provenance, root: &Group, text: &mut String) -> Result<bool, RunError> {
    let (seed, drawn) = seed_of(cfg);
    let times = time.times();
    let o = options(cfg, p, seed, time.t_end);
    let prob = Problem::new(&p.lindblad_terms(), &cfg.initial, &times, &o);
    let all = traj::n_chunks(o.n);
    let chunks: Vec<usize> = (0..all).filter(|c| prov.shard.is_none_or(|s| c % s.count == s.index)).collect();
    let mine: usize = chunks.iter().map(|&c| ((c + 1) * CHUNK).min(o.n) - c * CHUNK).sum();
    let bar = crate::progress::Bar::counting(mine as f64, "trajectories", prov.quiet);
    let start = std::time::Instant::now();
    let parts = traj::run_chunks(&prob, &chunks, &prov.stop, &|k| bar.set(k as f64));
    bar.finish();
    let parts = match parts {
        Ok(p) => p,
        // A stopped run keeps nothing of the trajectories: an ensemble mean
        // over the ones that happened to finish first would be biased.
        Err(e) if e == "interrupted" => {
            let _ = writeln!(text, "trajectories: interrupted; no ensemble written (rerun the command)");
            return Ok(true);
        }
        Err(e) => return Err(RunError::Protocol(e)),
    };
    let wall = start.elapsed().as_secs_f64();
    let label = prov.shard.map_or("all".to_string(), |s| format!("{}/{}", s.index, s.count));
    write(root, p, &times, &parts, seed, &o, &label, wall)?;
    let n_done: u64 = parts.iter().map(|(_, s)| s.n).sum();
    if drawn {
        let _ = writeln!(text, "trajectories: seed drawn at random: {seed} (set trajectories.seed = {seed} to repeat this run)");
    }
    let mut total = Sums::default();
    for (i, (_, s)) in parts.iter().enumerate() {
        if i == 0 {
            total = s.clone();
        } else {
            total.add(s);
        }
    }
    let e = traj::ensemble(&times, &total, p.cutoffs[1]);
    let k = times.len() - 1;
    let _ = writeln!(
        text,
        "trajectories: {} of {} ({}, {}), {:.3} ms per trajectory on {} threads; at t = {}: E_B = {:.6e} ± {:.1e}",
        n_done,
        o.n,
        if label == "all" { "all chunks".to_string() } else { format!("shard {label}") },
        o.method.name(),
        1e3 * wall * rayon::current_num_threads() as f64 / n_done.max(1) as f64,
        rayon::current_num_threads(),
        short(times[k]),
        e.series.energy_b[k],
        e.stderr[7].1[k]
    );
    Ok(false)
}

/// `/trajectories`: means, standard errors, jump counts, and every chunk's
/// sums (`chunks/`), from which shards merge exactly.
#[allow(clippy::too_many_arguments)]
fn write(
    root: &Group,
    p: &MicroParams,
    times: &[f64],
    parts: &[(usize, Sums)],
    seed: u64,
    o: &TrajOptions,
    shard: &str,
    wall: f64,
) -> Result<(), OutputError> {
    let g = root.group(Engine::Trajectories.name())?;
    let db = p.cutoffs[1];
    let mut total: Option<Sums> = None;
    for (_, s) in parts {
        match &mut total {
            None => total = Some(s.clone()),
            Some(t) => t.add(s),
        }
    }
    let total = total.unwrap_or_default();
    let e = traj::ensemble(times, &total, db);
    write_series(&g, &e.series)?;
    let se = |name: &str| e.stderr.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone()).unwrap_or_default();
    for m in ["a", "b", "c"] {
        let (re, im) = (se(&format!("{m}_re")), se(&format!("{m}_im")));
        g.write_c64(&format!("{m}_stderr"), &re.iter().zip(&im).map(|(r, i)| C64::new(*r, *i)).collect::<Vec<_>>())?;
    }
    for m in ["n_a", "n_b", "n_c", "power_b", "work_in"] {
        g.write_f64(&format!("{m}_stderr"), &se(m))?;
    }
    g.write_f64("energy_b_stderr", &se("n_b"))?;
    let terms = p.lindblad_terms();
    g.write_strings("jump_names", &terms.jumps.iter().map(|j| j.name.as_str()).collect::<Vec<_>>())?;
    g.write_i64("jump_counts", &e.jumps.iter().map(|&c| c as i64).collect::<Vec<_>>())?;
    g.attr_i64("n_trajectories", e.n as i64)?;
    g.attr_i64("n_total", o.n as i64)?;
    g.attr_i64("seed", seed as i64)?;
    g.attr_i64("chunk", CHUNK as i64)?;
    g.attr_str("shard", shard)?;
    g.attr_str("method", o.method.name())?;
    g.attr_f64("rtol", o.rtol)?;
    g.attr_f64("atol", o.atol)?;
    g.attr_f64("wall_time_s", wall)?;
    write_micro_params(&g, p)?;
    // The chunks' sums, for `qbsim merge`.
    let c = g.group("chunks")?;
    let nc = parts.len();
    let ns = times.len();
    let no = OBS.len();
    c.write_i64("index", &parts.iter().map(|(i, _)| *i as i64).collect::<Vec<_>>())?;
    c.write_i64("count", &parts.iter().map(|(_, s)| s.n as i64).collect::<Vec<_>>())?;
    let flat = |f: &dyn Fn(&Sums) -> &Vec<f64>| parts.iter().flat_map(|(_, s)| f(s).iter().copied()).collect::<Vec<f64>>();
    c.write_f64_3d("sum", nc, ns, no, &flat(&|s| &s.s1))?;
    c.write_f64_3d("sum_sq", nc, ns, no, &flat(&|s| &s.s2))?;
    let rho: Vec<C64> = parts.iter().flat_map(|(_, s)| s.rho_b.iter().copied()).collect();
    c.write_c64_3d("rho_b", ndarray::ArrayView3::from_shape((nc, ns, db * db), &rho).expect("chunk sums"))?;
    let nj = terms.jumps.len();
    let jumps: Vec<i64> = parts.iter().flat_map(|(_, s)| s.jumps.iter().map(|&x| x as i64)).collect();
    c.write_i64_2d("jumps", nc, nj, &jumps)?;
    c.write_strings("observables", &OBS)?;
    Ok(())
}

/// Whether `rec` is a trajectory shard (it has `/trajectories/chunks`).
pub fn is_trajectory_file(rec: &Record) -> bool {
    rec.items.keys().any(|k| k.group == "/trajectories/chunks")
}

fn get<'a>(rec: &'a Record, group: &str, name: &str, attribute: bool) -> Option<&'a Item> {
    rec.items.get(&Key { group: group.into(), name: name.into(), attribute })
}

/// `qbsim merge` of trajectory shards: the same config (and so seed),
/// every chunk exactly once; the merged file is what one unsharded run
/// writes, bit for bit (the chunks are summed in the same order).
pub fn merge(recs: &[(PathBuf, Record)], out: &Path, prov: &Provenance) -> Result<String, RunError> {
    let config = |r: &Record| r.attr_str("/", "config").map(str::to_string);
    let (p0, r0) = &recs[0];
    let text0 = config(r0).ok_or_else(|| RunError::Invalid(format!("{}: no /@config", p0.display())))?;
    let hash0 = crate::sweep::fingerprint(&text0, p0).map_err(|e| RunError::Invalid(e.to_string()))?;
    let seed_of = |r: &Record| r.attr_int("/trajectories", "seed");
    let mut parts: BTreeMap<usize, (Sums, &PathBuf)> = BTreeMap::new();
    for (path, r) in recs {
        if !is_trajectory_file(r) {
            return Err(RunError::Invalid(format!("{} is not a trajectory shard (no /trajectories/chunks)", path.display())));
        }
        if seed_of(r) != seed_of(r0) {
            return Err(RunError::Invalid(format!(
                "{} has seed {:?} but {} has seed {:?}: shards of different seeds are different ensembles; refusing to merge",
                path.display(),
                seed_of(r),
                p0.display(),
                seed_of(r0)
            )));
        }
        let text = config(r).unwrap_or_default();
        if crate::sweep::fingerprint(&text, path).map_err(|e| RunError::Invalid(e.to_string()))? != hash0 {
            return Err(RunError::Invalid(format!(
                "{} comes from another config than {}: refusing to merge",
                path.display(),
                p0.display()
            )));
        }
        let (Some(Item { data: Data::I64(index), .. }), Some(Item { data: Data::I64(count), .. })) =
            (get(r, "/trajectories/chunks", "index", false), get(r, "/trajectories/chunks", "count", false))
        else {
            return Err(RunError::Invalid(format!("{}: /trajectories/chunks is incomplete", path.display())));
        };
        let f64s = |name: &str| r.f64s("/trajectories/chunks", name, false).map(<[f64]>::to_vec).unwrap_or_default();
        let (s1, s2) = (f64s("sum"), f64s("sum_sq"));
        let rho = r.c64s("/trajectories/chunks", "rho_b", false).map(<[C64]>::to_vec).unwrap_or_default();
        let Some(Item { data: Data::I64(jumps), .. }) = get(r, "/trajectories/chunks", "jumps", false) else {
            return Err(RunError::Invalid(format!("{}: no /trajectories/chunks/jumps", path.display())));
        };
        let nc = index.len();
        if nc == 0 || s1.len() % nc != 0 || rho.len() % nc != 0 || jumps.len() % nc != 0 {
            return Err(RunError::Invalid(format!("{}: chunk sums of inconsistent sizes", path.display())));
        }
        let (ls, lr, lj) = (s1.len() / nc, rho.len() / nc, jumps.len() / nc);
        for (k, &c) in index.iter().enumerate() {
            let s = Sums {
                n: count[k] as u64,
                s1: s1[k * ls..(k + 1) * ls].to_vec(),
                s2: s2[k * ls..(k + 1) * ls].to_vec(),
                rho_b: rho[k * lr..(k + 1) * lr].to_vec(),
                jumps: jumps[k * lj..(k + 1) * lj].iter().map(|&x| x as u64).collect(),
            };
            if let Some((_, other)) = parts.insert(c as usize, (s, path)) {
                return Err(RunError::Invalid(format!(
                    "chunk {c} is in both {} and {}: a shard given more than once?",
                    other.display(),
                    path.display()
                )));
            }
        }
    }
    let cfg = crate::config::parse(&text0, p0, &[])?;
    let (Some(p), Some(time)) = (&cfg.model, cfg.time) else {
        return Err(RunError::Invalid(format!("{}: its config has no [model] and [time]", p0.display())));
    };
    let n_total = r0.attr_int("/trajectories", "n_total").unwrap_or(0) as usize;
    let all = traj::n_chunks(n_total);
    let missing: Vec<usize> = (0..all).filter(|c| !parts.contains_key(c)).collect();
    if !missing.is_empty() {
        return Err(RunError::Invalid(format!(
            "chunks {missing:?} of {all} are missing: merge every shard of the run ({} trajectories)",
            n_total
        )));
    }
    let seed = seed_of(r0).unwrap_or(0) as u64;
    let o = TrajOptions {
        n: n_total,
        seed,
        method: r0.attr_str("/trajectories", "method").and_then(Method::from_name).unwrap_or(Method::Dopri5),
        rtol: cfg.solver.rtol,
        atol: cfg.solver.atol,
    };
    let list: Vec<(usize, Sums)> = parts.into_iter().map(|(c, (s, _))| (c, s)).collect();
    let root = Record::new_root();
    write_provenance(&root, &cfg, prov)?;
    let wall: f64 = recs.iter().filter_map(|(_, r)| r.f64s("/trajectories", "wall_time_s", true).and_then(|v| v.first().copied())).sum();
    write(&root, p, &time.times(), &list, seed, &o, "merged", wall)?;
    root.attr_u8("interrupted", 0)?;
    let mut text = format!("merged {} trajectory shards ({n_total} trajectories, seed {seed})\n", recs.len());
    let file = OutputFile::create(out)?;
    root.record().write_to(&file)?;
    let path = file.finish()?;
    let _ = writeln!(text, "wrote {}", path.display());
    Ok(text)
}
