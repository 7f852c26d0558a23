//! Command-line definitions (clap) → typed commands. No physics here.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

const EXAMPLES: &str = "\
Examples:
  qbsim run configs/paper/fig3a.toml -o fig3a.h5
  qbsim run configs/paper/fig3a.toml --set reduced.delta_r=0.4 --set time.t_end=40
  qbsim phase configs/paper/fig6.toml -o fig6.h5
  qbsim run configs/master/bench.toml --set 'model.cutoffs=[8,8,4]'
  qbsim run configs/protocols/sm2_reduced.toml      (a protocol: event at E_max, detuning pulse)
  qbsim validate configs/validation/near_ep.toml
  qbsim map configs/validation/near_boundary.toml
  qbsim steady configs/steady/kerr.toml              (steady state of every engine)
  qbsim sweep configs/sweeps/delta_gamma.toml --threads 2
  qbsim sweep configs/sweeps/delta_gamma.toml --shard 0/3   (then 1/3, 2/3)
  qbsim merge delta_gamma.shard-*-of-3.h5 -o delta_gamma.h5

Rates are Lindblad rates; reduced-model quantities are in units of the coupling g
(time tau = g t). Output is HDF5 (see docs/output.md); read it with h5py.";

const RUN_EXAMPLES: &str = "\
Examples:
  qbsim run configs/paper/fig3a.toml -o fig3a.h5
  qbsim run configs/paper/fig3a.toml --set reduced.delta_r=0.4 --set time.t_end=40
  qbsim run configs/master/bench.toml --set 'model.cutoffs=[8,8,4]'
  qbsim run --resume bench.interrupted.h5       (continue a run stopped by Ctrl-C/SIGTERM)
  qbsim run configs/protocols/sm2_reduced.toml --set protocol.event.0.above=500
  qbsim run configs/trajectories/kerr.toml --shard 0/4   (trajectories: then 1/4..3/4, and qbsim merge)

Rates are Lindblad rates; reduced-model times are tau = g t. Paths (-o, [output] path,
[initial] from) are relative to the working directory. Output: docs/output.md.";

const PHASE_EXAMPLES: &str = "\
Examples:
  qbsim phase configs/paper/fig6.toml -o fig6.h5
  qbsim phase configs/paper/fig3a.toml --set phase.gamma_b=1.0";

const VALIDATE_EXAMPLES: &str = "\
Examples:
  qbsim validate configs/validation/near_ep.toml
  qbsim validate configs/validation/near_boundary.toml --ratios 10,100,1000 -o nb.h5
  qbsim validate configs/validation/map_fig3.toml          (a [sweep]: a validity map over (delta_r, alpha))
  qbsim validate configs/validation/map_fig3.toml --shard 0/4   (then 1/4..3/4, and qbsim merge)

[validate] ratios, target (relative error for r_needed, default 0.01), engines
([\"moments\", \"master\"] by default; [\"moments\"] alone for maps: exact for this linear model).";

const SWEEP_EXAMPLES: &str = "\
Examples:
  qbsim sweep configs/sweeps/delta_gamma.toml --threads 2
  qbsim sweep configs/sweeps/delta_gamma.toml --shard 0/3   (then 1/3, 2/3)
  sbatch --array=0-15 scripts/slurm/sweep.sbatch configs/sweeps/master_kappa_c.toml out/kc.h5";

const STEADY_EXAMPLES: &str = "\
Examples:
  qbsim steady configs/steady/kerr.toml -o kerr_ss.h5
  qbsim steady configs/master/stiff.toml --set 'solver.engines=[\"master\",\"moments\",\"reduced\"]'
  qbsim steady configs/steady/kerr_sweep.toml --shard 0/2   (a [sweep]: then 1/2, and qbsim merge)

Reduced model: closed form (none in the broken phase, with the growth rate). Moments: direct
solve of the moment equations. Master equation: GMRES on L with the trace condition
([steady] tol, restart, max_iterations); a solve that does not converge exits 1 and writes
nothing. Output /steady/<engine>/ (docs/output.md).";

const MERGE_EXAMPLES: &str = "\
Examples:
  qbsim merge delta_gamma.shard-*-of-3.h5 -o delta_gamma.h5";

const MAP_EXAMPLES: &str = "\
Examples:
  qbsim map configs/validation/near_boundary.toml
  qbsim map configs/validation/near_ep.toml --ratios 10,1000";

#[derive(Debug, Parser)]
#[command(name = "qbsim", version, about = "Simulator for reservoir-engineered exceptional-point quantum batteries", after_help = EXAMPLES)]
pub struct Cli {
    /// Worker threads for parallel work (default: SLURM_CPUS_PER_TASK, else all cores).
    #[arg(long, global = true, value_name = "N")]
    pub threads: Option<usize>,
    /// No progress bar on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Replace an existing output file even if it is not a qbsim result
    /// (a qbsim result is replaced without it; inputs, links and devices never).
    #[arg(long, global = true)]
    pub overwrite: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the configured model: the reduced model's time trace ([reduced]),
    /// the three-mode master equation ([model]), and the phase diagram if the
    /// config has a [phase] section. Ctrl-C or SIGTERM stops within one
    /// integrator step and keeps the saves done so far and the state reached
    /// (continue with --resume).
    #[command(after_help = RUN_EXAMPLES)]
    Run(RunArgs),
    /// Phase diagram over (delta_r, alpha), exceptional points, critical times.
    #[command(after_help = PHASE_EXAMPLES)]
    Phase(Common),
    /// Is the reduced model valid here? Realize the reduced point at increasing
    /// elimination ratios and compare master equation, exact moments and reduced model;
    /// with a [sweep], at every point (a validity map; resumable, shardable).
    #[command(after_help = VALIDATE_EXAMPLES)]
    Validate {
        #[command(flatten)]
        common: Common,
        /// Elimination ratios r = |M_cc|/max(|M_aa|,|M_bb|) (default: validate.ratios,
        /// else 10, 31.6, ..., 1e5); the same as --set 'validate.ratios=[R1, R2, ...]'.
        #[arg(long, value_delimiter = ',', value_name = "R1,R2,...")]
        ratios: Option<Vec<f64>>,
        /// With a [sweep] (a validity map): run shard I of N, as `qbsim sweep --shard`.
        #[arg(long, value_name = "I/N")]
        shard: Option<String>,
        /// With a [sweep]: recompute every point (discard the journal).
        #[arg(long)]
        force: bool,
    },
    /// Run the config's [sweep]: every point a full run, in parallel; resumable
    /// (finished points are journaled in OUT.journal); shardable for job arrays.
    #[command(after_help = SWEEP_EXAMPLES)]
    Sweep {
        #[command(flatten)]
        common: Common,
        /// Run shard I of N (zero-based): the points i with i mod N = I, written to
        /// OUT.shard-I-of-N.h5. Inside a Slurm job array the shard comes from
        /// SLURM_ARRAY_TASK_ID/MIN/COUNT.
        #[arg(long, value_name = "I/N")]
        shard: Option<String>,
        /// Recompute every point (discard the journal of an earlier run).
        #[arg(long)]
        force: bool,
    },
    /// Steady state of every configured engine, into /steady/<engine>/; a config
    /// with a [sweep] computes it at every point (resumable, shardable, like sweep).
    #[command(after_help = STEADY_EXAMPLES)]
    Steady {
        #[command(flatten)]
        common: Common,
        /// With a [sweep]: run shard I of N (zero-based), as `qbsim sweep --shard`.
        #[arg(long, value_name = "I/N")]
        shard: Option<String>,
        /// With a [sweep]: recompute every point (discard the journal).
        #[arg(long)]
        force: bool,
    },
    /// Merge the shard files of one sweep into one file (checks that they come
    /// from the same config and cover every point exactly once).
    #[command(after_help = MERGE_EXAMPLES)]
    Merge {
        /// Shard files written by `qbsim sweep --shard`.
        #[arg(required = true)]
        shards: Vec<PathBuf>,
        /// Merged output file.
        #[arg(short, long, value_name = "OUT")]
        output: PathBuf,
    },
    /// Draw labelled figures of a qbsim output file (time traces, phase diagram,
    /// eigenvalues, critical time, validation, sweeps: whatever the file holds),
    /// one image per figure, named <stem>_<figure>.<format>.
    #[command(after_help = "Examples:
  qbsim plot fig3a.h5 -o figures      (figures/fig3a_traces.png, fig3a_phase.png, ...)
  qbsim plot fig6.h5 --format svg
  qbsim plot delta_gamma.h5 --y growth_rate --x reduced.gamma_b

Text is drawn with DejaVu Sans compiled into qbsim: no font packages are needed.")]
    Plot {
        /// HDF5 file written by qbsim.
        file: PathBuf,
        /// Directory for the figures (default: beside FILE).
        #[arg(short, long, value_name = "DIR")]
        output: Option<PathBuf>,
        /// Image format.
        #[arg(long, default_value = "png", value_parser = ["png", "svg"])]
        format: String,
        /// Sweep files: the swept key on the horizontal axis (/sweep/params/<KEY>).
        #[arg(long, value_name = "KEY")]
        x: Option<String>,
        /// Sweep files: the scalar to plot, e.g. energy_b_final (last save of
        /// /<engine>/energy_b) or any [n_points] dataset; `group/name` picks one group.
        #[arg(long, value_name = "NAME")]
        y: Option<String>,
    },
    /// Check a config without computing: print the effective config, the
    /// engines, the memory estimate and the output path (and what is there);
    /// exit 2 with the reason if `qbsim run` (or `sweep`) would refuse it.
    #[command(after_help = "Examples:
  qbsim check configs/master/bench.toml
  qbsim check configs/master/bench.toml --set 'model.cutoffs=[20,20,6]' -o big.h5
  qbsim check configs/sweeps/delta_gamma.toml")]
    Check(Common),
    /// Print the microscopic <-> reduced parameter map of a config, both directions.
    #[command(after_help = MAP_EXAMPLES)]
    Map {
        /// TOML config file ([model] and/or [reduced]).
        config: PathBuf,
        /// Override a config key (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Elimination ratios for the reduced -> microscopic direction.
        #[arg(long, value_delimiter = ',', value_name = "R1,R2,...")]
        ratios: Option<Vec<f64>>,
    },
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// TOML config file (not with --resume: the file's own config is used).
    #[arg(required_unless_present = "resume", conflicts_with = "resume")]
    pub config: Option<PathBuf>,
    /// Continue the interrupted run stored in FILE (default output: NAME.h5
    /// for NAME.interrupted.h5, else FILE itself).
    #[arg(long, value_name = "FILE", conflicts_with = "set")]
    pub resume: Option<PathBuf>,
    /// Output HDF5 file (default: [output] path, else <config name>.h5).
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// Override a config key, e.g. --set reduced.delta_r=0.4 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Engine "trajectories" only: run shard I of N of the trajectories (whole
    /// chunks of 50), written to OUT.shard-I-of-N.h5; join them with qbsim merge.
    #[arg(long, value_name = "I/N", conflicts_with = "resume")]
    pub shard: Option<String>,
}

#[derive(Debug, Args)]
pub struct Common {
    /// TOML config file.
    pub config: PathBuf,
    /// Output HDF5 file (default: [output] path, else <config name>.h5).
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// Override a config key, e.g. --set reduced.delta_r=0.4 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}
