//! Sweeps end to end: sharding and merging, crash and resume, refusals.

mod common;

use common::{compare, python, qbsim, repo, scratch};
use qbsim::output::record::Data;
use qbsim::sweep::journal;
use std::fs;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const REDUCED: &str = "[reduced]\ngamma_a = 1.5\ngamma_b = 0.5\ndelta_r = 0.0\n\n[time]\nt_end = 10.0\nn_save = 51\n\n[sweep]\n\"reduced.gamma_b\" = { linspace = [0.5, 2.5, 5] }\n\"reduced.delta_r\" = { linspace = [-2, 2, 21] }\n";

#[test]
fn three_shards_merged_equal_the_unsharded_sweep() {
    let d = scratch("shards");
    fs::write(d.join("s.toml"), REDUCED).unwrap();
    let full = qbsim(&["sweep", "s.toml", "-o", "full.h5", "-q", "--threads", "2"], &d);
    assert!(full.status.success(), "{}", String::from_utf8_lossy(&full.stderr));
    for i in 0..3 {
        let shard = format!("{i}/3");
        let o = qbsim(&["sweep", "s.toml", "-o", "part.h5", "-q", "--threads", "2", "--shard", &shard], &d);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let journals: Vec<_> =
        fs::read_dir(&d).unwrap().map(|e| e.unwrap().file_name()).filter(|n| n.to_string_lossy().ends_with(".journal")).collect();
    assert!(journals.is_empty(), "finished sweeps leave no journal: {journals:?}");
    let m = qbsim(&["merge", "part.shard-0-of-3.h5", "part.shard-1-of-3.h5", "part.shard-2-of-3.h5", "-o", "merged.h5"], &d);
    assert!(m.status.success(), "{}", String::from_utf8_lossy(&m.stderr));
    let c = compare(&d.join("full.h5"), &d.join("merged.h5"));
    assert!(c.status.success(), "{}", String::from_utf8_lossy(&c.stdout));
    // The same shards through Slurm's variables (what scripts/slurm/local-array.sh sets).
    let o = Command::new(env!("CARGO_BIN_EXE_qbsim"))
        .args(["sweep", "s.toml", "-o", "slurm.h5", "-q"])
        .env("SLURM_ARRAY_TASK_ID", "5")
        .env("SLURM_ARRAY_TASK_MIN", "4")
        .env("SLURM_ARRAY_TASK_COUNT", "3")
        .current_dir(&d)
        .output()
        .unwrap();
    assert!(o.status.success() && d.join("slurm.shard-1-of-3.h5").exists());
}

#[test]
fn merge_refuses_a_missing_shard_and_a_foreign_shard() {
    let d = scratch("refuse");
    fs::write(d.join("s.toml"), REDUCED).unwrap();
    fs::write(d.join("t.toml"), REDUCED.replace("gamma_a = 1.5", "gamma_a = 1.6")).unwrap();
    for (cfg, i) in [("s.toml", "0/2"), ("s.toml", "1/2"), ("t.toml", "1/2")] {
        let out = if cfg == "s.toml" { "a.h5" } else { "b.h5" };
        assert!(qbsim(&["sweep", cfg, "-o", out, "-q", "--shard", i], &d).status.success());
    }
    let m = qbsim(&["merge", "a.shard-0-of-2.h5", "-o", "m.h5"], &d);
    let err = String::from_utf8_lossy(&m.stderr);
    assert!(!m.status.success() && err.contains("missing") && err.contains("1, 3, 5"), "{err}");
    let m = qbsim(&["merge", "a.shard-0-of-2.h5", "b.shard-1-of-2.h5", "-o", "m.h5"], &d);
    let err = String::from_utf8_lossy(&m.stderr);
    assert!(!m.status.success() && err.contains("another config") && err.contains("b.shard-1-of-2.h5"), "{err}");
    let m = qbsim(&["merge", "a.shard-0-of-2.h5", "a.shard-0-of-2.h5", "a.shard-1-of-2.h5", "-o", "m.h5"], &d);
    assert!(String::from_utf8_lossy(&m.stderr).contains("more than once"));
    assert!(!d.join("m.h5").exists());
}

#[test]
fn a_killed_sweep_resumes_without_recomputing_finished_points() {
    let d = scratch("kill");
    // 24 master-equation points of ~tens of ms each.
    let cfg = "[model]\ncutoffs = [5, 5, 3]\ndelta = [0.3, 0.3, 0.3]\ndrive = 0.15\nkappa = [0.1, 0.1, 2.0]\ngamma = 1.0\n\n[time]\nt_end = 30.0\nn_save = 31\n\n[solver]\nrtol = 1e-10\natol = 1e-12\n\n[sweep]\n\"model.drive\" = { linspace = [0.05, 0.3, 24] }\n";
    fs::write(d.join("k.toml"), cfg).unwrap();
    let journal_path = d.join("k.h5.journal");
    let mut child = Command::new(env!("CARGO_BIN_EXE_qbsim"))
        .args(["sweep", "k.toml", "-o", "k.h5", "-q", "--threads", "1"])
        .current_dir(&d)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        let n = journal::read(&journal_path).map(|(e, _)| e.len()).unwrap_or(0);
        if n >= 3 || start.elapsed() > Duration::from_secs(60) {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let (before, _) = journal::read(&journal_path).unwrap();
    assert!(before.len() >= 3 && before.len() < 24, "{} points done before the kill", before.len());
    assert!(!d.join("k.h5").exists(), "no output file from a killed sweep");
    let wall = |rec: &qbsim::output::record::Record| {
        rec.items
            .iter()
            .find(|(k, _)| k.name == "wall_time_s" && k.group == "/sweep")
            .map(|(_, it)| it.data.clone())
            .unwrap()
    };
    let out = qbsim(&["sweep", "k.toml", "-o", "k.h5", "-q", "--threads", "1"], &d);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("{} from the journal", before.len())), "{text}");
    // The journal is gone once the result is written; the points computed
    // before the kill are in the result with their original wall times.
    assert!(!journal_path.exists(), "the journal of a finished sweep is removed");
    let result = qbsim::output::read::read_file(&d.join("k.h5")).unwrap();
    let dataset = |name: &str| {
        result
            .items
            .iter()
            .find(|(k, _)| k.group == "/sweep" && k.name == name && !k.attribute)
            .map(|(_, it)| it.data.clone())
            .unwrap()
    };
    let (Data::I64(index), Data::F64(walls)) = (dataset("index"), dataset("wall_time_s")) else { panic!("types") };
    assert_eq!(index, (0..24).collect::<Vec<i64>>());
    for e in &before {
        assert_eq!(wall(&e.record), Data::F64(vec![walls[e.index]]), "point {} was recomputed", e.index);
    }
    // Bit-identical to a sweep that was never interrupted.
    let once = qbsim(&["sweep", "k.toml", "-o", "once.h5", "-q", "--threads", "1"], &d);
    assert!(once.status.success(), "{}", String::from_utf8_lossy(&once.stderr));
    // (The master engine times itself too.)
    let c = python("compare_h5.py", &[&d.join("once.h5"), &d.join("k.h5")], &["--ignore", "sweep/wall_time_s", "master/wall_time_s"]);
    assert!(c.status.success(), "{}", String::from_utf8_lossy(&c.stdout));
    // A rerun of a finished sweep computes nothing and leaves no journal.
    let out = qbsim(&["sweep", "k.toml", "-o", "k.h5", "-q"], &d);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("0 computed now") && text.contains("already complete"), "{text}");
    assert!(!journal_path.exists());
}

#[test]
fn bad_sweeps_are_refused_before_anything_is_written() {
    let d = scratch("badsweep");
    let cases = [
        (REDUCED.replace("\"reduced.delta_r\"", "\"reduced.delta_x\""), vec![], "reduced.delta_x"),
        (REDUCED.replace("linspace = [-2, 2, 21]", "values = []"), vec![], "empty axis"),
        (REDUCED.replace("[sweep]\n", "[sweep]\nmode = \"zip\"\n"), vec![], "equal length"),
        (REDUCED.to_string(), vec!["--shard", "3/3"], "0..3"),
        (REDUCED.replace("\"reduced.delta_r\"", "\"model.kappa[2]\""), vec![], "model.kappa[2]"),
        (REDUCED.replace("linspace = [0.5, 2.5, 5]", "values = [0.5, -1]"), vec![], "sweep point 21 of 42"),
        (format!("{REDUCED}\"time.t_end\" = {{ values = [10, -1] }}\n"), vec![], "sweep point 1 of 210"),
    ];
    for (k, (text, extra, needle)) in cases.iter().enumerate() {
        fs::write(d.join("b.toml"), text).unwrap();
        let mut args = vec!["sweep", "b.toml", "-o", "b.h5", "-q"];
        args.extend(extra.iter());
        let o = qbsim(&args, &d);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "case {k}: {err}");
        assert!(err.contains(needle), "case {k}: {err}");
        let left: Vec<_> = fs::read_dir(&d).unwrap().map(|e| e.unwrap().file_name()).filter(|n| n != "b.toml").collect();
        assert!(left.is_empty(), "case {k} left {left:?}");
    }
}

#[test]
fn local_slurm_array_script_runs_shards_and_merges() {
    let d = scratch("local-array");
    fs::write(d.join("s.toml"), REDUCED).unwrap();
    let o = Command::new("bash")
        .arg(repo().join("scripts/slurm/local-array.sh"))
        .args(["3", "s.toml", "arr.h5"])
        .env("QBSIM", env!("CARGO_BIN_EXE_qbsim"))
        .current_dir(&d)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(qbsim(&["sweep", "s.toml", "-o", "ref.h5", "-q"], &d).status.success());
    let c = compare(&d.join("ref.h5"), &d.join("arr.h5"));
    assert!(c.status.success(), "{}", String::from_utf8_lossy(&c.stdout));
    // The same as a stepped array (task IDs 0, 2, 4).
    let o = Command::new("bash")
        .arg(repo().join("scripts/slurm/local-array.sh"))
        .args(["3", "s.toml", "step.h5", "2"])
        .env("QBSIM", env!("CARGO_BIN_EXE_qbsim"))
        .current_dir(&d)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    let c = compare(&d.join("ref.h5"), &d.join("step.h5"));
    assert!(c.status.success(), "{}", String::from_utf8_lossy(&c.stdout));
}

#[test]
fn stepped_slurm_array_tasks_cover_every_shard_once() {
    // sbatch --array=0-14:2 runs task IDs 0, 2, …, 14 with these variables.
    let d = scratch("stepped-array");
    fs::write(d.join("s.toml"), REDUCED).unwrap();
    for id in (0..=14).step_by(2) {
        let o = Command::new(env!("CARGO_BIN_EXE_qbsim"))
            .args(["sweep", "s.toml", "-o", "arr.h5", "-q", "--threads", "1"])
            .env("SLURM_ARRAY_TASK_ID", id.to_string())
            .env("SLURM_ARRAY_TASK_MIN", "0")
            .env("SLURM_ARRAY_TASK_MAX", "14")
            .env("SLURM_ARRAY_TASK_STEP", "2")
            .env("SLURM_ARRAY_TASK_COUNT", "8")
            .current_dir(&d)
            .output()
            .unwrap();
        assert!(o.status.success(), "task {id}: {}", String::from_utf8_lossy(&o.stderr));
        assert!(d.join(format!("arr.shard-{}-of-8.h5", id / 2)).exists(), "task {id}");
    }
    let shards: Vec<String> = (0..8).map(|i| format!("arr.shard-{i}-of-8.h5")).collect();
    let mut args = vec!["merge"];
    args.extend(shards.iter().map(String::as_str));
    args.extend(["-o", "merged.h5"]);
    let m = qbsim(&args, &d);
    assert!(m.status.success(), "{}", String::from_utf8_lossy(&m.stderr));
    assert!(qbsim(&["sweep", "s.toml", "-o", "ref.h5", "-q"], &d).status.success());
    let c = compare(&d.join("ref.h5"), &d.join("merged.h5"));
    assert!(c.status.success(), "{}", String::from_utf8_lossy(&c.stdout));
    // A sparse list (--array=1,3,7) is refused, pointing at --shard.
    let o = Command::new(env!("CARGO_BIN_EXE_qbsim"))
        .args(["sweep", "s.toml", "-o", "sparse.h5", "-q"])
        .env("SLURM_ARRAY_TASK_ID", "3")
        .env("SLURM_ARRAY_TASK_MIN", "1")
        .env("SLURM_ARRAY_TASK_MAX", "7")
        .env("SLURM_ARRAY_TASK_STEP", "1")
        .env("SLURM_ARRAY_TASK_COUNT", "3")
        .current_dir(&d)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("--shard I/N") && err.contains("SLURM_ARRAY_TASK_MAX=\"7\""), "{err}");
    assert!(!d.join("sparse.h5").exists() && !d.join("sparse.h5.journal").exists());
}

#[test]
fn a_second_sweep_on_a_busy_output_is_refused_at_once() {
    let d = scratch("busy");
    // 120 master-equation points on one thread: several seconds of work.
    let cfg = "[model]\ncutoffs = [5, 5, 3]\ndelta = [0.3, 0.3, 0.3]\ndrive = 0.15\nkappa = [0.1, 0.1, 2.0]\ngamma = 1.0\n\n[time]\nt_end = 30.0\nn_save = 31\n\n[solver]\nrtol = 1e-10\natol = 1e-12\n\n[sweep]\n\"model.drive\" = { linspace = [0.05, 0.3, 120] }\n";
    fs::write(d.join("k.toml"), cfg).unwrap();
    let journal_path = d.join("k.h5.journal");
    let first = Command::new(env!("CARGO_BIN_EXE_qbsim"))
        .args(["sweep", "k.toml", "-o", "k.h5", "-q", "--threads", "1"])
        .current_dir(&d)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !journal_path.exists() && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(journal_path.exists(), "the first sweep never started");
    for extra in [&[][..], &["--force"][..]] {
        let mut args = vec!["sweep", "k.toml", "-o", "k.h5", "-q", "--threads", "1"];
        args.extend(extra);
        let t = Instant::now();
        let second = qbsim(&args, &d);
        let err = String::from_utf8_lossy(&second.stderr);
        assert_eq!(second.status.code(), Some(2), "{extra:?}: {err}");
        assert!(
            err.contains("another qbsim sweep is writing k.h5 (journal k.h5.journal is locked); wait for it or use another -o"),
            "{extra:?}: {err}"
        );
        assert!(t.elapsed() < Duration::from_secs(5), "refused after {:?}", t.elapsed());
        assert!(journal_path.exists(), "{extra:?}: the refused sweep must not touch the journal");
    }
    let out = first.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("120 points (120 computed now, 0 from the journal)"), "the first sweep was disturbed: {text}");
    assert!(d.join("k.h5").exists() && !journal_path.exists());
}

#[test]
fn an_axis_value_the_schema_refuses_stops_the_sweep_before_any_point() {
    let d = scratch("badpoint");
    let text = REDUCED.replace("linspace = [0.5, 2.5, 5]", "values = [0.5, 1.0, -1.0, 2.0]");
    fs::write(d.join("b.toml"), text).unwrap();
    let o = qbsim(&["sweep", "b.toml", "-o", "b.h5", "-q"], &d);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    // Point 42 = gamma_b[2] with delta_r[0] (row-major, last axis fastest).
    assert!(err.contains("sweep point 42 of 84 (reduced.gamma_b = -1, reduced.delta_r = -2)"), "{err}");
    assert!(err.contains("`reduced.gamma_b`: value -1") && err.contains("[sweep] axis \"reduced.gamma_b\""), "{err}");
    assert!(!err.contains("--set"), "the user typed no --set: {err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let left: Vec<_> = fs::read_dir(&d).unwrap().map(|e| e.unwrap().file_name()).filter(|n| n != "b.toml").collect();
    assert!(left.is_empty(), "left {left:?}");
    // The same through a shard that holds the point.
    let o = qbsim(&["sweep", "b.toml", "-o", "b.h5", "-q", "--shard", "0/2"], &d);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("sweep point 42 of 84"));
    assert!(!d.join("b.shard-0-of-2.h5.journal").exists());
}

/// A sweep over a protocol parameter (an event threshold and a step time, by
/// the `protocol.event.0.above` key syntax) runs, shards and merges like any
/// other; the event lists, of different lengths per point, are padded.
#[test]
fn a_sweep_over_protocol_parameters_shards_and_merges() {
    let d = scratch("protocol-sweep");
    let cfg = "[reduced]\ngamma_a = 0.5\ngamma_b = 0.5\ndelta_r = 0.0\n\n[time]\nt_end = 10.0\nn_save = 101\n\n\
               [[protocol.step]]\nat = 9.0\nset = { \"reduced.drive_r\" = 0.0 }\n\n\
               [[protocol.event]]\nobservable = \"energy_b\"\nabove = 1000.0\nset = { \"reduced.delta_r\" = 2.0 }\n\n\
               [sweep]\n\"protocol.event.0.above\" = { values = [10.0, 1000.0, 1e12] }\n\"protocol.step.0.at\" = { values = [8.0, 9.0] }\n";
    fs::write(d.join("s.toml"), cfg).unwrap();
    let full = qbsim(&["sweep", "s.toml", "-o", "full.h5", "-q"], &d);
    assert!(full.status.success(), "{}", String::from_utf8_lossy(&full.stderr));
    for i in 0..2 {
        let o = qbsim(&["sweep", "s.toml", "-o", "part.h5", "-q", "--shard", &format!("{i}/2")], &d);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let m = qbsim(&["merge", "part.shard-0-of-2.h5", "part.shard-1-of-2.h5", "-o", "merged.h5"], &d);
    assert!(m.status.success(), "{}", String::from_utf8_lossy(&m.stderr));
    let c = compare(&d.join("full.h5"), &d.join("merged.h5"));
    assert!(c.status.success(), "{}", String::from_utf8_lossy(&c.stdout));
    // Per point: the event fires at the exact critical time of its threshold,
    // or never (1e12 is not reached by t = 10).
    let rec = qbsim::output::read::read_file(&d.join("full.h5")).unwrap();
    let item = rec.get("/reduced", "event_times", false).unwrap();
    assert_eq!(item.shape, vec![6, 1]);
    let Data::F64(t) = &item.data else { panic!() };
    let crit = |e: f64| qbsim::reduced::ReducedModel::new(qbsim::model::ReducedParams::from_alpha(0.0, 0.5, 0.0, 1.0)).critical_time(e).unwrap();
    let fired: Vec<f64> = t.iter().copied().filter(|x| x.is_finite()).collect();
    assert_eq!(fired.len(), 4, "{t:?}");
    for x in fired {
        assert!((x - crit(10.0)).abs() < 1e-9 || (x - crit(1000.0)).abs() < 1e-9, "{x}");
    }
}
