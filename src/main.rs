//! Thin binary: parse arguments, call the library, print errors nicely.

mod cli;

use clap::Parser;
use cli::{Cli, Command, RunArgs};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Arc;
use qbsim::run::{self, Provenance};
use qbsim::sweep::{Job, Shard, SweepOptions};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = configure_threads(cli.threads) {
        return fail(e, 2);
    }
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let prov = Provenance { command, quiet: cli.quiet, overwrite: cli.overwrite, ..Default::default() };
    let caught = watch_signals(prov.stop.clone());
    let code = dispatch(&cli, prov);
    // After a signal the command has kept what it finished; the exit code is
    // the shell's for that signal (130 SIGINT, 143 SIGTERM).
    match (code, caught.load(Ordering::SeqCst)) {
        (Outcome::Interrupted, 0) => ExitCode::from(130),
        (Outcome::Interrupted, sig) => ExitCode::from((128 + sig) as u8),
        (Outcome::Code(c), _) => c,
    }
}

enum Outcome {
    /// Stopped early by a signal; what was done is kept.
    Interrupted,
    Code(ExitCode),
}

/// The one dispatch over subcommands.
fn dispatch(cli: &Cli, prov: Provenance) -> Outcome {
    let config_of = |path: &Path, set: &[String]| qbsim::config::load(path, set);
    match &cli.command {
        Command::Merge { shards, output } => match qbsim::sweep::merge(shards, output, &prov) {
            Ok(text) => done(&text, false),
            Err(e) => fail_with(e.exit_code(), e),
        },
        Command::Plot { file, output, format, x, y } => Outcome::Code(plot_command(file, output, format, x, y)),
        Command::Run(RunArgs { resume: Some(file), output, .. }) => report(run::resume(file, output.as_deref(), &prov)),
        Command::Run(RunArgs { config: Some(config), output, set, shard, .. }) => match config_of(config, set) {
            Ok(cfg) => {
                let mut out = run::output_path(output.as_deref(), &cfg);
                let mut prov = prov;
                let shard = match shard.as_deref().map(Shard::parse).or_else(|| trajectory_shard_from_slurm(&cfg)).transpose() {
                    Ok(s) => s,
                    Err(e) => return fail_with(2, e),
                };
                if let Some(s) = shard {
                    use qbsim::config::Engine;
                    if cfg.solver.engines != [Engine::Trajectories] {
                        return fail_with(2, "--shard splits the trajectories of a run: it needs solver.engines = [\"trajectories\"]");
                    }
                    if cfg.trajectories.seed.is_none() {
                        return fail_with(2, "--shard needs trajectories.seed: shards of a randomly drawn seed could not be merged");
                    }
                    out = s.path(&out);
                    prov.shard = Some(run::TrajShard { index: s.index, count: s.count });
                }
                report(run::run(&cfg, &out, &prov))
            }
            Err(e) => fail_with(2, e),
        },
        Command::Run(RunArgs { config: None, resume: None, .. }) => fail_with(2, "give a config file or --resume FILE"),
        Command::Phase(c) => match config_of(&c.config, &c.set) {
            Ok(cfg) => report(run::phase(&cfg, &run::output_path(c.output.as_deref(), &cfg), &prov)),
            Err(e) => fail_with(2, e),
        },
        Command::Validate { common: c, ratios, shard, force } => {
            // --ratios is `validate.ratios`: an override like any other, so that
            // it is in the effective config (and in every point of a sweep).
            let mut set = c.set.clone();
            if let Some(r) = ratios {
                set.push(format!("validate.ratios=[{}]", r.iter().map(|x| format!("{x:?}")).collect::<Vec<_>>().join(", ")));
            }
            let cfg = match config_of(&c.config, &set) {
                Ok(cfg) => cfg,
                Err(e) => return fail_with(2, e),
            };
            let out = run::output_path(c.output.as_deref(), &cfg);
            if cfg.sweep.is_none() {
                if shard.is_some() {
                    return fail_with(2, "--shard needs a [sweep] section in the config");
                }
                return report(run::validate(&cfg, &out, &prov));
            }
            sweep_job(&cfg, &out, shard.as_deref(), *force, Job::Validate, &prov)
        }
        Command::Steady { common: c, shard, force } => {
            let cfg = match config_of(&c.config, &c.set) {
                Ok(cfg) => cfg,
                Err(e) => return fail_with(2, e),
            };
            let out = run::output_path(c.output.as_deref(), &cfg);
            if cfg.sweep.is_none() {
                if shard.is_some() {
                    return fail_with(2, "--shard needs a [sweep] section in the config");
                }
                return report(run::steady(&cfg, &out, &prov));
            }
            sweep_job(&cfg, &out, shard.as_deref(), *force, Job::Steady, &prov)
        }
        Command::Sweep { common: c, shard, force } => {
            let cfg = match config_of(&c.config, &c.set) {
                Ok(cfg) => cfg,
                Err(e) => return fail_with(2, e),
            };
            let out = run::output_path(c.output.as_deref(), &cfg);
            sweep_job(&cfg, &out, shard.as_deref(), *force, Job::Run, &prov)
        }
        Command::Check(c) => match config_of(&c.config, &c.set) {
            Ok(cfg) => {
                let (text, refusal) = run::check(&cfg, &run::output_path(c.output.as_deref(), &cfg), &prov);
                print!("{text}");
                match refusal {
                    None => Outcome::Code(ExitCode::SUCCESS),
                    Some(e) => fail_with(e.exit_code(), e),
                }
            }
            Err(e) => fail_with(2, e),
        },
        Command::Map { config, set, ratios } => match config_of(config, set) {
            Ok(cfg) => match run::map_table(&cfg, ratios.as_deref()) {
                Ok(text) => done(&text, false),
                Err(e) => fail_with(e.exit_code(), e),
            },
            Err(e) => fail_with(2, e),
        },
    }
}

/// Inside a Slurm job array, a trajectories-only run takes its shard from
/// the array variables (as sweeps do).
fn trajectory_shard_from_slurm(cfg: &qbsim::config::Config) -> Option<Result<Shard, String>> {
    (cfg.solver.engines == [qbsim::config::Engine::Trajectories] && cfg.trajectories.seed.is_some()).then(Shard::from_slurm).flatten()
}

/// A `[sweep]` running `job` at every point (`qbsim sweep`, `qbsim steady`).
fn sweep_job(cfg: &qbsim::config::Config, out: &Path, shard: Option<&str>, force: bool, job: Job, prov: &Provenance) -> Outcome {
    let shard = match shard.map(Shard::parse).or_else(Shard::from_slurm).transpose() {
        Ok(s) => s,
        Err(e) => return fail_with(2, e),
    };
    match qbsim::sweep::run_sweep(cfg, out, &SweepOptions { shard, force, job }, prov) {
        Ok(r) => done(&r.text, r.interrupted),
        Err(e) => fail_with(e.exit_code(), e),
    }
}

fn report(result: Result<run::Report, run::RunError>) -> Outcome {
    match result {
        Ok(r) => done(&r.text, r.interrupted),
        Err(e) => fail_with(e.exit_code(), e),
    }
}

/// SIGINT and SIGTERM (Ctrl-C, Slurm's time limit, `scancel`, `timeout`):
/// the first sets `stop` — a run stops within one integrator step and keeps
/// its saves and state, a sweep keeps its journaled points — and is
/// remembered for the exit code; a second one exits at once.
fn watch_signals(stop: Arc<AtomicBool>) -> Arc<AtomicI32> {
    let caught = Arc::new(AtomicI32::new(0));
    let seen = caught.clone();
    match Signals::new([SIGINT, SIGTERM]) {
        Ok(mut signals) => {
            std::thread::spawn(move || {
                for sig in signals.forever() {
                    let _ = seen.compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst);
                    if stop.swap(true, Ordering::SeqCst) {
                        std::process::exit(128 + sig);
                    }
                    let name = if sig == SIGTERM { "SIGTERM" } else { "interrupt" };
                    eprintln!(
                        "\n{name}: stopping (a run within one integrator step, keeping its saves and state; a sweep \
                         keeping its finished points); a second signal aborts at once"
                    );
                }
            });
        }
        Err(e) => eprintln!("warning: cannot watch for SIGINT/SIGTERM ({e}); a signal will end qbsim at once"),
    }
    caught
}

/// `qbsim plot`: figures of an output file; prints each file written.
fn plot_command(
    file: &std::path::Path,
    output: &Option<std::path::PathBuf>,
    format: &str,
    x: &Option<String>,
    y: &Option<String>,
) -> ExitCode {
    let result = format.parse::<qbsim::plot::Format>().and_then(|format| {
        let opts = qbsim::plot::PlotOptions { out_dir: output.clone(), format, x: x.clone(), y: y.clone() };
        qbsim::plot::plot_file(file, &opts)
    });
    match result {
        Ok(paths) => {
            for p in paths {
                println!("wrote {}", p.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            let code = e.exit_code();
            fail(e, code)
        }
    }
}

/// Prints a command's summary.
fn done(text: &str, interrupted: bool) -> Outcome {
    print!("{text}");
    if interrupted {
        Outcome::Interrupted
    } else {
        Outcome::Code(ExitCode::SUCCESS)
    }
}

fn fail_with(code: u8, e: impl std::fmt::Display) -> Outcome {
    Outcome::Code(fail(e, code))
}

/// One error line on stderr; exit 2 for bad input (nothing was done), 1 for a
/// failure while working.
fn fail(e: impl std::fmt::Display, code: u8) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(code)
}

/// More threads than this many per core are refused as a mistake (they
/// only add overhead); more than one per core is allowed with a warning.
const MAX_THREADS_PER_CORE: usize = 8;
/// ... but never fewer than this many are allowed.
const MAX_THREADS_FLOOR: usize = 64;

/// One rayon pool for the whole process, sized by --threads, else by Slurm's
/// allocation (SLURM_CPUS_PER_TASK), else all cores available to the
/// process (no hidden oversubscription on shared nodes).
fn configure_threads(cli: Option<usize>) -> Result<(), String> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (n, source) = match (cli, std::env::var("SLURM_CPUS_PER_TASK")) {
        (Some(n), _) => (n, "--threads".to_string()),
        (None, Ok(v)) => match v.trim().parse::<usize>() {
            Ok(n) if n > 0 => (n, format!("SLURM_CPUS_PER_TASK={v}")),
            _ => {
                return Err(format!(
                    "SLURM_CPUS_PER_TASK={v:?} is not a positive integer (Slurm sets it from --cpus-per-task); \
                     fix or unset it, or pass --threads N"
                ))
            }
        },
        (None, Err(_)) => return Ok(()),
    };
    let limit = (MAX_THREADS_PER_CORE * cores).max(MAX_THREADS_FLOOR);
    if n == 0 {
        return Err("--threads must be at least 1".into());
    }
    if n > limit {
        return Err(format!(
            "{source} asks for {n} threads, but this machine has {cores} cores available: at most {limit} \
             threads are accepted (more only add overhead)"
        ));
    }
    if n > cores {
        eprintln!("warning: {source}: {n} threads on {cores} available cores (oversubscribed: slower, not faster)");
    }
    rayon::ThreadPoolBuilder::new().num_threads(n).build_global().map_err(|e| format!("cannot start {n} threads: {e}"))
}
