//! Never lose a result: signals on the real binary, resume, output-path
//! safety, limits enforced before work, non-finite results, exit codes.

mod common;

use common::{qbsim, repo, scratch};
use qbsim::output::read::read_file;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The benchmark point at (12,12,6): a few seconds, long enough to be
/// interrupted while it integrates.
fn long_model(t_end: f64, n_save: usize) -> String {
    format!(
        "[model]\ncutoffs = [12, 12, 6]\ndelta = [0.3, 0.3, 0.3]\ndrive = 0.15\nkappa = [0.1, 0.1, 2.0]\ngamma = 1.0\n\
         p_a = [0.8, 0.6]\n\n[time]\nt_end = {t_end}\nn_save = {n_save}\n"
    )
}

fn spawn(args: &[&str], cwd: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_qbsim"))
        .args(args)
        .current_dir(cwd)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill").args([sig, &child.id().to_string()]).status().unwrap();
    assert!(ok.success());
}

/// Waits until the child prints a plain progress line (stderr is not a
/// terminal): it is then well inside the integration. Returns the rest of
/// stderr's reader, drained in a thread.
fn wait_for_progress(child: &mut Child) -> std::thread::JoinHandle<String> {
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if line.starts_with("progress:") {
            break;
        }
    }
    assert!(seen.contains("progress:"), "no progress line on stderr: {seen}");
    std::thread::spawn(move || {
        let rest: Vec<String> = lines.map_while(Result::ok).collect();
        seen + &rest.join("\n")
    })
}

fn f64s(file: &Path, group: &str, name: &str) -> Vec<f64> {
    read_file(file).unwrap().f64s(group, name, false).unwrap().to_vec()
}

fn interrupted(file: &Path) -> i64 {
    read_file(file).unwrap().attr_int("/", "interrupted").unwrap()
}

#[test]
fn sigterm_keeps_the_saves_never_replaces_a_complete_result_and_resumes_to_the_same_result() {
    let d = scratch("sigterm");
    fs::write(d.join("m.toml"), long_model(20.0, 201)).unwrap();
    let out = qbsim(&["run", "m.toml", "-o", "good.h5", "--threads", "2"], &d);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let complete = fs::read(d.join("good.h5")).unwrap();

    // SIGTERM (Slurm's time limit) in the middle of a rerun onto the same path.
    let mut child = spawn(&["run", "m.toml", "-o", "good.h5", "--threads", "2"], &d);
    let stderr = wait_for_progress(&mut child);
    signal(&child, "-TERM");
    let status = child.wait().unwrap();
    let stderr = stderr.join().unwrap();
    let stdout = std::io::read_to_string(child.stdout.take().unwrap()).unwrap();
    assert_eq!(status.code(), Some(143), "{stdout}{stderr}");
    assert_eq!(fs::read(d.join("good.h5")).unwrap(), complete, "the complete result was replaced");
    let partial = d.join("good.interrupted.h5");
    assert_eq!(interrupted(&partial), 1);
    assert!(stdout.contains("good.interrupted.h5") && stdout.contains("--resume"), "{stdout}");
    let saved = f64s(&partial, "/master", "t").len();
    assert!(saved > 1 && saved < 201, "{saved} saves");

    // Resumed, it equals the uninterrupted run to the integrator's accuracy:
    // at rtol 1e-8 each run's global error in E_B (~4e-3 here) is ≤ 5e-10
    // against the exact solution (4.3e-10 measured at this point), so the
    // two may differ by up to ~1e-9; their step sequences differ after the
    // restart.
    let out = qbsim(&["run", "--resume", "good.interrupted.h5", "-o", "resumed.h5", "--threads", "2"], &d);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let resumed = d.join("resumed.h5");
    assert_eq!(interrupted(&resumed), 0);
    let (a, b) = (f64s(&d.join("good.h5"), "/master", "n_b"), f64s(&resumed, "/master", "n_b"));
    assert_eq!(a.len(), b.len());
    let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
    assert!(worst < 2e-9, "max |Δ n_b| = {worst}");
    assert_eq!(f64s(&d.join("good.h5"), "/master", "t"), f64s(&resumed, "/master", "t"));

    // Resuming a complete result is refused.
    let out = qbsim(&["run", "--resume", "good.h5"], &d);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to resume"));
}

#[test]
fn sigint_with_two_save_times_stops_within_one_step() {
    // n_save = 2: no save time between start and end, so a stop that waited
    // for the next save would run to the end (tens of seconds here).
    let d = scratch("sigint2");
    fs::write(d.join("m.toml"), long_model(400.0, 2)).unwrap();
    let mut child = spawn(&["run", "m.toml", "-o", "m.h5", "--threads", "2"], &d);
    std::thread::sleep(Duration::from_millis(1500));
    let sent = Instant::now();
    signal(&child, "-INT");
    let status = child.wait().unwrap();
    let took = sent.elapsed();
    assert_eq!(status.code(), Some(130));
    assert!(took < Duration::from_secs(5), "took {took:?} to stop");
    let rec = read_file(&d.join("m.h5")).unwrap();
    let t_final = rec.f64s("/master", "t_final", true).unwrap()[0];
    assert!(t_final > 0.0 && t_final < 400.0, "t_final {t_final}");
    assert!(rec.get("/master", "rho_final", false).is_some());
}

#[test]
fn initial_from_a_stored_state_continues_the_dynamics() {
    // Semigroup property: 0 → 2 from vacuum, then 0 → 2 from that final
    // state, equals 0 → 4 at the same times (up to integrator tolerance).
    let d = scratch("from");
    let small = "[model]\ncutoffs = [6, 6, 4]\ndelta = [0.3, -0.2, 0.1]\ndrive = 0.2\nkappa = [0.1, 0.1, 2.0]\ngamma = 1.0\n\
                 p_a = [0.8, 0.3]\nn_th = [0.05, 0.0, 0.0]\n\n[time]\nt_end = 4.0\nn_save = 21\n\n[output]\nsave_state = \"final\"\n";
    fs::write(d.join("whole.toml"), small).unwrap();
    fs::write(d.join("half.toml"), small.replace("t_end = 4.0\nn_save = 21", "t_end = 2.0\nn_save = 11")).unwrap();
    fs::write(
        d.join("second.toml"),
        small.replace("t_end = 4.0\nn_save = 21", "t_end = 2.0\nn_save = 11").replace("[output]", "[initial]\nfrom = \"half.h5\"\n\n[output]"),
    )
    .unwrap();
    for (cfg, out) in [("whole.toml", "whole.h5"), ("half.toml", "half.h5"), ("second.toml", "second.h5")] {
        let o = qbsim(&["run", cfg, "-o", out, "-q"], &d);
        assert!(o.status.success(), "{cfg}: {}", String::from_utf8_lossy(&o.stderr));
    }
    let whole = f64s(&d.join("whole.h5"), "/master", "n_b");
    let second = f64s(&d.join("second.h5"), "/master", "n_b");
    let worst = second.iter().zip(&whole[10..]).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
    assert!(worst < 1e-8, "{worst}");
    // The seed must match the cutoffs.
    let o = qbsim(&["run", "second.toml", "-o", "x.h5", "--set", "model.cutoffs=[6,6,3]"], &d);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cutoffs"));
}

const REDUCED: &str = "[reduced]\ngamma_a = 1.5\ngamma_b = 0.5\ndelta_r = 0.2\n\n[time]\nt_end = 10.0\nn_save = 11\n";

#[test]
fn outputs_that_are_inputs_links_devices_or_foreign_files_are_refused() {
    let d = scratch("targets");
    fs::write(d.join("c.toml"), REDUCED).unwrap();
    fs::write(d.join("notes.txt"), b"precious").unwrap();
    assert!(qbsim(&["run", "c.toml", "-o", "real.h5"], &d).status.success());
    std::os::unix::fs::symlink("real.h5", d.join("link.h5")).unwrap();
    assert!(Command::new("mkfifo").arg(d.join("fifo.h5")).status().unwrap().success());
    let real_before = fs::read(d.join("real.h5")).unwrap();
    for (out, needle) in [
        ("c.toml", "input file"),
        ("./c.toml", "input file"),
        ("link.h5", "symbolic link"),
        ("fifo.h5", "not a regular file"),
        ("notes.txt", "not a qbsim output"),
    ] {
        let o = qbsim(&["run", "c.toml", "-o", out], &d);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{out}: {err}");
        assert!(err.contains(needle), "{out}: {err}");
    }
    assert_eq!(fs::read(d.join("c.toml")).unwrap(), REDUCED.as_bytes());
    assert_eq!(fs::read(d.join("notes.txt")).unwrap(), b"precious");
    assert!(fs::symlink_metadata(d.join("link.h5")).unwrap().file_type().is_symlink());
    assert_eq!(fs::read(d.join("real.h5")).unwrap(), real_before);
    // A qbsim result is replaced; a foreign file only with --overwrite.
    assert!(qbsim(&["run", "c.toml", "-o", "real.h5"], &d).status.success());
    assert!(qbsim(&["run", "c.toml", "-o", "notes.txt", "--overwrite"], &d).status.success());
    assert_eq!(interrupted(&d.join("notes.txt")), 0);
    // The sweep's config and merge's own inputs.
    let sweep = format!("{REDUCED}\n[sweep]\n\"reduced.delta_r\" = {{ values = [0.1, 0.2] }}\n");
    fs::write(d.join("s.toml"), &sweep).unwrap();
    let o = qbsim(&["sweep", "s.toml", "-o", "s.toml"], &d);
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(fs::read_to_string(d.join("s.toml")).unwrap(), sweep);
    assert!(qbsim(&["sweep", "s.toml", "-o", "p.h5", "--shard", "0/1", "-q"], &d).status.success());
    let shard = "p.shard-0-of-1.h5";
    let before = fs::read(d.join(shard)).unwrap();
    let o = qbsim(&["merge", shard, "-o", shard], &d);
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("input file"));
    assert_eq!(fs::read(d.join(shard)).unwrap(), before);
}

#[test]
fn absurd_resource_requests_are_refused_before_work() {
    let d = scratch("limits");
    fs::write(d.join("c.toml"), REDUCED).unwrap();
    let start = Instant::now();
    let o = qbsim(&["run", "c.toml", "--threads", "100000"], &d);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("100000 threads"));
    assert!(start.elapsed() < Duration::from_secs(5));
    let o = Command::new(env!("CARGO_BIN_EXE_qbsim"))
        .args(["run", "c.toml"])
        .env("SLURM_CPUS_PER_TASK", "abc")
        .current_dir(&d)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("SLURM_CPUS_PER_TASK"));
    // Above the core count: a warning, and the run goes ahead.
    let cores = std::thread::available_parallelism().unwrap().get();
    let o = qbsim(&["run", "c.toml", "--threads", &(cores + 1).to_string(), "-o", "w.h5"], &d);
    assert!(o.status.success() && String::from_utf8_lossy(&o.stderr).contains("oversubscribed"));
    // Saved times beyond the hard limit, and a run whose stored observables
    // cannot fit in memory (10^3 marker traces x 10^7 saves = 160 GB).
    let o = qbsim(&["run", "c.toml", "--set", "time.n_save=100000000"], &d);
    assert_eq!(o.status.code(), Some(2));
    let markers: Vec<String> = (0..1000).map(|k| format!("[{}, 0.0]", k as f64 * 1e-3)).collect();
    let phase = format!(
        "[phase]\ngamma_b = 1.5\ndelta_r = {{ start = -1, stop = 1, n = 3 }}\nalpha = {{ start = 0, stop = 1, n = 3 }}\nmarkers = [{}]\n\n[time]\nt_end = 1.0\nn_save = 10000000\n",
        markers.join(", ")
    );
    fs::write(d.join("p.toml"), phase).unwrap();
    let start = Instant::now();
    let o = qbsim(&["phase", "p.toml", "-o", "p.h5"], &d);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("GB") && err.contains("available"), "{err}");
    assert!(start.elapsed() < Duration::from_secs(5) && !d.join("p.h5").exists());
    // A missing output directory is a refusal too.
    let o = qbsim(&["run", "c.toml", "-o", "no/such/dir/x.h5"], &d);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn non_finite_results_are_reported_not_printed() {
    let d = scratch("nonfinite");
    let fig3a = repo().join("configs/paper/fig3a.toml");
    let o = qbsim(&["run", fig3a.to_str().unwrap(), "--set", "time.t_end=1000", "-o", "x.h5"], &d);
    let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert_eq!(o.status.code(), Some(2), "{out}{err}");
    assert!(!out.contains("inf") && !out.contains("NaN"), "{out}");
    assert!(err.contains("tau =") && err.contains("broken"), "{err}");
    assert!(!d.join("x.h5").exists());
    // A convergence slope needs two distinct ratios.
    let near_ep = repo().join("configs/validation/near_ep.toml");
    for ratios in ["10", "10,10"] {
        let o = qbsim(&["validate", near_ep.to_str().unwrap(), "--ratios", ratios, "-o", "v.h5"], &d);
        assert_eq!(o.status.code(), Some(2), "{ratios}");
        assert!(String::from_utf8_lossy(&o.stderr).contains("two distinct"));
    }
}

#[test]
fn validate_and_map_agree_on_an_unrealizable_point() {
    let d = scratch("unreal");
    let cfg = repo().join("configs/validation/fig3d_broken.toml");
    let v = qbsim(&["validate", cfg.to_str().unwrap(), "-o", "v.h5"], &d);
    let m = qbsim(&["map", cfg.to_str().unwrap()], &d);
    assert_eq!(v.status.code(), m.status.code());
    assert_eq!(m.status.code(), Some(0));
    let text = String::from_utf8_lossy(&m.stdout);
    assert!(text.contains("no passive three-mode system") && text.contains("nearest realizable point"), "{text}");
}

#[test]
fn long_runs_print_plain_progress_lines_into_logs() {
    let d = scratch("progress");
    fs::write(d.join("m.toml"), long_model(20.0, 201)).unwrap();
    let o = qbsim(&["run", "m.toml", "-o", "m.h5", "--threads", "2"], &d);
    assert!(o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("progress: t = ")).collect();
    assert!(!lines.is_empty() && lines.len() <= 10, "{err}");
    assert!(lines[0].contains(" of 20 (") && lines[0].contains("ETA"), "{err}");
    // --quiet silences them.
    let o = qbsim(&["run", "m.toml", "-o", "m.h5", "-q", "--threads", "2"], &d);
    assert!(!String::from_utf8_lossy(&o.stderr).contains("progress:"));
}

#[test]
fn sweeps_refuse_what_cannot_fit_and_report_progress_in_logs() {
    let d = scratch("sweeplimits");
    // 10^6 points x 10^5 saves of the reduced model: terabytes of records.
    let huge = "[reduced]\ngamma_a = 1.5\ngamma_b = 0.5\ndelta_r = 0.2\n\n[time]\nt_end = 10.0\nn_save = 100000\n\n[sweep]\n\
                \"reduced.gamma_b\" = { linspace = [0.5, 2.5, 1000] }\n\"reduced.delta_r\" = { linspace = [-2, 2, 1000] }\n";
    fs::write(d.join("huge.toml"), huge).unwrap();
    let start = Instant::now();
    let o = qbsim(&["sweep", "huge.toml", "-o", "huge.h5"], &d);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("1000000 sweep points") && err.contains("GB"), "{err}");
    assert!(start.elapsed() < Duration::from_secs(10));
    assert!(!d.join("huge.h5").exists() && !d.join("huge.h5.journal").exists());
    // A master-equation sweep of a few seconds prints plain progress lines
    // when stderr is a log file, counting points.
    let cfg = repo().join("configs/sweeps/master_kappa_c.toml");
    let o = qbsim(&["sweep", cfg.to_str().unwrap(), "-o", "kc.h5", "--threads", "1"], &d);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.lines().any(|l| l.starts_with("progress: points = ") && l.contains(" of 8 (")), "{err}");
}

/// Unmounts the scratch tmpfs when the test ends, pass or fail.
struct Mount(std::path::PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_fails_the_run_and_keeps_the_old_result() {
    // A 256 KiB tmpfs (needs root, as CI and the dev machines have): a small
    // complete result fits, a 10^5-save rerun does not.
    let d = scratch("fulldisk");
    let mnt = d.join("mnt");
    fs::create_dir(&mnt).unwrap();
    let mounted = Command::new("mount").args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"]).arg(&mnt).status();
    if !mounted.is_ok_and(|s| s.success()) {
        eprintln!("a_full_disk_fails_the_run_and_keeps_the_old_result: cannot mount a tmpfs here (not root?); not checked");
        return;
    }
    let _guard = Mount(mnt.clone());
    fs::write(d.join("c.toml"), REDUCED).unwrap();
    let out = mnt.join("r.h5");
    let o = qbsim(&["run", "c.toml", "-o", out.to_str().unwrap()], &d);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let before = fs::read(&out).unwrap();
    let o = qbsim(&["run", "c.toml", "-o", out.to_str().unwrap(), "--set", "time.n_save=100000"], &d);
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(fs::read(&out).unwrap(), before, "the old result was damaged");
    let left: Vec<_> = fs::read_dir(&mnt).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left.len(), 1, "temporary files left: {left:?}");
}

#[test]
fn sigterm_stops_a_sweep_keeping_its_finished_points_for_the_rerun() {
    let d = scratch("sweepterm");
    let cfg = repo().join("configs/sweeps/master_kappa_c.toml");
    let cfg = cfg.to_str().unwrap();
    let mut child = spawn(&["sweep", cfg, "-o", "kc.h5", "--threads", "1"], &d);
    let stderr = wait_for_progress(&mut child);
    signal(&child, "-TERM");
    let status = child.wait().unwrap();
    let _ = stderr.join();
    let stdout = std::io::read_to_string(child.stdout.take().unwrap()).unwrap();
    assert_eq!(status.code(), Some(143), "{stdout}");
    assert!(stdout.contains("stopped") && d.join("kc.h5.journal").exists() && !d.join("kc.h5").exists(), "{stdout}");
    let o = qbsim(&["sweep", cfg, "-o", "kc.h5", "--threads", "1", "-q"], &d);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success() && !out.contains(", 0 from the journal"), "{out}");
    assert!(d.join("kc.h5").exists() && !d.join("kc.h5.journal").exists());
}
