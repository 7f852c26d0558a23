//! Thin binary: parse arguments, call the library, print errors nicely.

mod cli;

use clap::Parser;
use cli::{Cli, Command};
use qbsim::run::{self, Provenance};
use qbsim::sweep::{Shard, SweepOptions};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = configure_threads(cli.threads) {
        return fail(e, 2);
    }
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let prov = Provenance { command, quiet: cli.quiet, ..Default::default() };
    // Ctrl-C: the first stops the run at its next save time and keeps the
    // results so far; a second one exits at once.
    let stop = prov.stop.clone();
    let _ = ctrlc::set_handler(move || {
        if stop.swap(true, std::sync::atomic::Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\ninterrupt: stopping (a run at its next save time, a sweep after the points in flight); Ctrl-C again aborts");
    });
    if let Command::Merge { shards, output } = &cli.command {
        return match qbsim::sweep::merge(shards, output, &prov.command) {
            Ok(text) => done(&text, false),
            Err(e) => fail(e, 2),
        };
    }
    if let Command::Plot { file, output, format, x, y } = &cli.command {
        return plot_command(file, output, format, x, y);
    }
    let (config, set) = match &cli.command {
        Command::Run(c) | Command::Phase(c) | Command::Validate { common: c, .. } | Command::Sweep { common: c, .. } => {
            (&c.config, &c.set)
        }
        Command::Map { config, set, .. } => (config, set),
        Command::Merge { .. } | Command::Plot { .. } => unreachable!("handled above"),
    };
    let cfg = match qbsim::config::load(config, set) {
        Ok(c) => c,
        Err(e) => return fail(e, 2),
    };
    let result = match &cli.command {
        Command::Run(c) => run::run(&cfg, &run::output_path(c.output.as_deref(), &cfg), &prov),
        Command::Phase(c) => run::phase(&cfg, &run::output_path(c.output.as_deref(), &cfg), &prov),
        Command::Validate { common, ratios } => {
            run::validate(&cfg, &run::output_path(common.output.as_deref(), &cfg), &prov, ratios.as_deref())
        }
        Command::Sweep { common, shard, force } => {
            let shard = match shard.as_deref().map(Shard::parse).or_else(Shard::from_slurm).transpose() {
                Ok(s) => s,
                Err(e) => return fail(e, 2),
            };
            let out = run::output_path(common.output.as_deref(), &cfg);
            return match qbsim::sweep::run_sweep(&cfg, &out, &SweepOptions { shard, force: *force }, &prov) {
                Ok(r) => done(&r.text, r.interrupted),
                Err(e) => {
                    let code = match e {
                        qbsim::sweep::SweepError::Config(_) | qbsim::sweep::SweepError::Invalid(_) => 2,
                        _ => 1,
                    };
                    fail(e, code)
                }
            };
        }
        Command::Merge { .. } | Command::Plot { .. } => unreachable!("handled above"),
        Command::Map { ratios, .. } => match run::map_table(&cfg, ratios.as_deref()) {
            Ok(text) => {
                print!("{text}");
                return ExitCode::SUCCESS;
            }
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(report) => done(&report.text, report.interrupted),
        Err(e) => {
            let code = match e {
                run::RunError::Config(_) | run::RunError::Map(_) => 2,
                _ => 1,
            };
            fail(e, code)
        }
    }
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

/// Prints a command's summary; exit 130 when it was interrupted (Ctrl-C), as
/// shells report a SIGINT, with the results so far kept.
fn done(text: &str, interrupted: bool) -> ExitCode {
    print!("{text}");
    if interrupted {
        ExitCode::from(130)
    } else {
        ExitCode::SUCCESS
    }
}

/// One error line on stderr; exit 2 for bad input (nothing was done), 1 for a
/// failure while working.
fn fail(e: impl std::fmt::Display, code: u8) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(code)
}

/// One rayon pool for the whole process, sized by --threads, else by Slurm's
/// allocation, else all cores (no hidden oversubscription on shared nodes).
fn configure_threads(cli: Option<usize>) -> Result<(), String> {
    let from_slurm = || std::env::var("SLURM_CPUS_PER_TASK").ok().and_then(|v| v.trim().parse::<usize>().ok());
    let n = match cli {
        Some(0) => return Err("--threads must be at least 1".into()),
        Some(n) => Some(n),
        None => from_slurm().filter(|&n| n > 0),
    };
    if let Some(n) = n {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .map_err(|e| format!("cannot start {n} threads: {e}"))?;
    }
    Ok(())
}
