//! Progress on stderr for runs longer than about a second: on a terminal an
//! indicatif bar (position, elapsed time, ETA); otherwise (Slurm logs,
//! pipes, `nohup`) a plain line every 10 % of the work or every 30 s,
//! whichever comes first, so a batch log shows that a long job is alive.
//! Silent with `--quiet`.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Mutex;
use crate::text::short;
use std::time::{Duration, Instant};

pub struct Bar {
    bar: Option<ProgressBar>,
    /// Plain lines instead of a bar (stderr is not a terminal).
    log: Option<Mutex<LogState>>,
    start: Instant,
    total: f64,
    scale: f64,
    /// What the position counts: "t" (simulated time) or e.g. "points".
    what: &'static str,
}

struct LogState {
    last_line: Instant,
    last_fraction: f64,
}

/// Resolution of the bar: positions are in 1/1000 of the final time.
const TICKS: u64 = 1000;
/// Progress appears only once a run has taken this long.
const SHOW_AFTER: Duration = Duration::from_secs(1);
/// Plain progress lines: one per this fraction of the work ...
const LOG_FRACTION: f64 = 0.1;
/// ... or after this long without one.
const LOG_INTERVAL: Duration = Duration::from_secs(30);

impl Bar {
    /// Progress over simulated time 0..t_end.
    pub fn new(t_end: f64, quiet: bool) -> Self {
        Self::counting(t_end, "t", quiet)
    }

    /// Progress over `total` units of `what` ("t", "points", "ratios").
    pub fn counting(total: f64, what: &'static str, quiet: bool) -> Self {
        let terminal = std::io::stderr().is_terminal();
        let bar = (!quiet && terminal).then(|| {
            let b = ProgressBar::with_draw_target(Some(TICKS), ProgressDrawTarget::hidden());
            let template = format!("{{bar:40}} {what} = {{msg}} [{{elapsed_precise}}, ETA {{eta}}]");
            let style = ProgressStyle::with_template(&template).unwrap_or_else(|_| ProgressStyle::default_bar());
            b.set_style(style);
            b
        });
        let log = (!quiet && !terminal).then(|| Mutex::new(LogState { last_line: Instant::now(), last_fraction: 0.0 }));
        Self { bar, log, start: Instant::now(), total, scale: if total > 0.0 { TICKS as f64 / total } else { 0.0 }, what }
    }

    /// Position reached (simulated time, or units done).
    pub fn set(&self, t: f64) {
        let elapsed = self.start.elapsed();
        if let Some(b) = &self.bar {
            if b.is_hidden() && elapsed >= SHOW_AFTER {
                b.set_draw_target(ProgressDrawTarget::stderr_with_hz(4));
            }
            b.set_message(format!("{t:.4}"));
            b.set_position(((t * self.scale) as u64).min(TICKS));
        }
        if let Some(log) = &self.log {
            let Ok(mut s) = log.lock() else { return };
            let fraction = if self.total > 0.0 { (t / self.total).clamp(0.0, 1.0) } else { 1.0 };
            let due = fraction - s.last_fraction >= LOG_FRACTION || s.last_line.elapsed() >= LOG_INTERVAL;
            if elapsed >= SHOW_AFTER && due && fraction < 1.0 {
                let eta = if fraction > 0.0 { elapsed.as_secs_f64() * (1.0 - fraction) / fraction } else { f64::NAN };
                eprintln!(
                    "progress: {} = {} of {} ({:.0} %), elapsed {:.0} s, ETA {:.0} s",
                    self.what,
                    short(t),
                    short(self.total),
                    100.0 * fraction,
                    elapsed.as_secs_f64(),
                    eta
                );
                s.last_line = Instant::now();
                s.last_fraction = fraction;
            }
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
