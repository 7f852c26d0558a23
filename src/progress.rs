//! Progress bar on stderr for runs longer than about a second (indicatif):
//! time reached, elapsed time and ETA. Silent with `--quiet` or when stderr is
//! not a terminal (batch jobs, pipes), so logs stay clean.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

pub struct Bar {
    bar: Option<ProgressBar>,
    start: Instant,
    scale: f64,
}

/// Resolution of the bar: positions are in 1/1000 of the final time.
const TICKS: u64 = 1000;
/// The bar appears only once a run has taken this long.
const SHOW_AFTER: Duration = Duration::from_secs(1);

impl Bar {
    /// A bar over simulated time 0..t_end.
    pub fn new(t_end: f64, quiet: bool) -> Self {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let b = ProgressBar::with_draw_target(Some(TICKS), ProgressDrawTarget::hidden());
            let style = ProgressStyle::with_template("{bar:40} t = {msg} [{elapsed_precise}, ETA {eta}]")
                .unwrap_or_else(|_| ProgressStyle::default_bar());
            b.set_style(style);
            b
        });
        Self { bar, start: Instant::now(), scale: if t_end > 0.0 { TICKS as f64 / t_end } else { 0.0 } }
    }

    /// Simulated time reached.
    pub fn set(&self, t: f64) {
        if let Some(b) = &self.bar {
            if b.is_hidden() && self.start.elapsed() >= SHOW_AFTER {
                b.set_draw_target(ProgressDrawTarget::stderr_with_hz(4));
            }
            b.set_message(format!("{t:.4}"));
            b.set_position(((t * self.scale) as u64).min(TICKS));
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
