//! Sweeps end to end: sharding and merging, crash and resume, refusals.

mod common;

use common::{compare, qbsim, repo, scratch};
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
    let (after, _) = journal::read(&journal_path).unwrap();
    assert_eq!(after.len(), 24);
    for e in &before {
        let again = after.iter().find(|a| a.index == e.index).unwrap();
        assert_eq!(wall(&e.record), wall(&again.record), "point {} was recomputed", e.index);
    }
    // A rerun of a finished sweep computes nothing.
    let out = qbsim(&["sweep", "k.toml", "-o", "k.h5", "-q"], &d);
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 computed now"));
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
}
