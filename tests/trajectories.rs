//! The trajectories engine end to end: shards merge to the unsharded run bit
//! for bit, thread counts do not matter, and bad input is refused.

mod common;

use common::{python_code, qbsim, scratch};
use std::fs;

const CFG: &str = "[model]\ncutoffs = [4, 4, 3]\ndelta = [0.3, 0.3, 0.3]\ndrive = 0.4\nkappa = [0.1, 0.1, 2.0]\ngamma = 1.0\n\
                   n_th = [0.1, 0.05, 0.0]\nkerr = [0.0, 0.3, 0.0]\n\n[time]\nt_end = 4.0\nn_save = 9\n\n\
                   [solver]\nengines = [\"trajectories\"]\n\n[trajectories]\nn = 230\nseed = 11\n";

#[test]
fn four_shards_merged_equal_one_run_and_threads_do_not_matter() {
    let d = scratch("traj_shards");
    fs::write(d.join("t.toml"), CFG).unwrap();
    let one = qbsim(&["run", "t.toml", "-o", "one.h5", "-q", "--threads", "1"], &d);
    assert!(one.status.success(), "{}", String::from_utf8_lossy(&one.stderr));
    let two = qbsim(&["run", "t.toml", "-o", "two.h5", "-q", "--threads", "2"], &d);
    assert!(two.status.success());
    let ignore = ["--ignore", "trajectories/wall_time_s"];
    let c = common::python("compare_h5.py", &[&d.join("one.h5"), &d.join("two.h5")], &ignore);
    assert!(c.status.success(), "1 vs 2 threads: {}", String::from_utf8_lossy(&c.stdout));
    for i in 0..4 {
        let o = qbsim(&["run", "t.toml", "-o", "part.h5", "-q", "--threads", "2", "--shard", &format!("{i}/4")], &d);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let shards: Vec<String> = (0..4).map(|i| format!("part.shard-{i}-of-4.h5")).collect();
    let mut args: Vec<&str> = vec!["merge"];
    args.extend(shards.iter().map(String::as_str));
    args.extend(["-o", "merged.h5"]);
    let m = qbsim(&args, &d);
    assert!(m.status.success(), "{}", String::from_utf8_lossy(&m.stderr));
    let c = common::python("compare_h5.py", &[&d.join("one.h5"), &d.join("merged.h5")], &ignore);
    assert!(c.status.success(), "1 run vs 4 shards merged: {}", String::from_utf8_lossy(&c.stdout));
    let py = python_code(
        &d,
        "import h5py\nf = h5py.File('merged.h5')['trajectories']\nassert f.attrs['n_trajectories'] == 230 and f.attrs['shard'] == 'merged'\n\
         assert f['n_b_stderr'].attrs['units'] == 'quanta'\nassert f['jump_counts'][:].sum() > 0\nprint('ok')\n",
    );
    assert!(py.status.success(), "{}", String::from_utf8_lossy(&py.stderr));
    // A missing shard, and a shard of another seed, are refused.
    let m = qbsim(&["merge", &shards[0], &shards[1], &shards[2], "-o", "m2.h5"], &d);
    assert!(!m.status.success() && String::from_utf8_lossy(&m.stderr).contains("missing"));
    fs::write(d.join("s.toml"), CFG.replace("seed = 11", "seed = 12")).unwrap();
    assert!(qbsim(&["run", "s.toml", "-o", "other.h5", "-q", "--shard", "3/4"], &d).status.success());
    let m = qbsim(&["merge", &shards[0], &shards[1], &shards[2], "other.shard-3-of-4.h5", "-o", "m3.h5"], &d);
    let err = String::from_utf8_lossy(&m.stderr);
    assert!(!m.status.success() && err.contains("different seeds"), "{err}");
    fs::write(d.join("u.toml"), CFG.replace("drive = 0.4", "drive = 0.5")).unwrap();
    assert!(qbsim(&["run", "u.toml", "-o", "third.h5", "-q", "--shard", "3/4"], &d).status.success());
    let m = qbsim(&["merge", &shards[0], &shards[1], &shards[2], "third.shard-3-of-4.h5", "-o", "m4.h5"], &d);
    let err = String::from_utf8_lossy(&m.stderr);
    assert!(!m.status.success() && err.contains("another config"), "{err}");
    assert!(!d.join("m2.h5").exists() && !d.join("m3.h5").exists() && !d.join("m4.h5").exists());
}

#[test]
fn bad_trajectory_input_is_refused_before_work() {
    let d = scratch("traj_bad");
    fs::write(d.join("t.toml"), CFG).unwrap();
    for (set, key) in [("trajectories.n=0", "trajectories.n"), ("trajectories.seed=-3", "trajectories.seed")] {
        let o = qbsim(&["run", "t.toml", "-o", "x.h5", "--set", set], &d);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains(key), "{err}");
    }
    // Shards need a seed of their own and a trajectories-only run.
    fs::write(d.join("noseed.toml"), CFG.replace("seed = 11\n", "")).unwrap();
    let o = qbsim(&["run", "noseed.toml", "-o", "x.h5", "--shard", "0/2"], &d);
    assert!(o.status.code() == Some(2) && String::from_utf8_lossy(&o.stderr).contains("trajectories.seed"));
    let o = qbsim(&["run", "t.toml", "-o", "x.h5", "--shard", "0/2", "--set", "solver.engines=[\"trajectories\", \"master\"]"], &d);
    assert_eq!(o.status.code(), Some(2));
    assert!(!d.join("x.h5").exists() && !d.join("x.shard-0-of-2.h5").exists());
    // Without a seed one is drawn, printed and stored.
    let o = qbsim(&["run", "noseed.toml", "-o", "drawn.h5"], &d);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success() && out.contains("seed drawn at random"), "{out}");
    let seed: String = out.split("trajectories.seed = ").nth(1).unwrap().chars().take_while(|c| c.is_ascii_digit()).collect();
    let py = python_code(&d, &format!("import h5py\nassert h5py.File('drawn.h5')['trajectories'].attrs['seed'] == {seed}\nprint('ok')\n"));
    assert!(py.status.success(), "{}", String::from_utf8_lossy(&py.stderr));
}

#[test]
fn the_local_slurm_array_runs_trajectory_shards_and_merges_them() {
    let d = scratch("traj_slurm");
    fs::write(d.join("t.toml"), CFG).unwrap();
    let script = common::repo().join("scripts/slurm/local-array.sh");
    let o = std::process::Command::new("bash")
        .arg(&script)
        .args(["3", "t.toml", "arr.h5"])
        .env("JOB", "trajectories")
        .env("QBSIM", env!("CARGO_BIN_EXE_qbsim"))
        .current_dir(&d)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(qbsim(&["run", "t.toml", "-o", "one.h5", "-q"], &d).status.success());
    let c = common::python("compare_h5.py", &[&d.join("one.h5"), &d.join("arr.h5")], &["--ignore", "trajectories/wall_time_s"]);
    assert!(c.status.success(), "{}", String::from_utf8_lossy(&c.stdout));
}
