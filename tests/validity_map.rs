//! Validity maps (`qbsim validate` with a `[sweep]`): a map equals its points
//! run one by one, shards merge to the unsharded map, a killed map resumes,
//! and the fitted slopes and r_needed agree with the stored error tables.

mod common;

use common::{compare, python_code, qbsim, scratch};
use qbsim::sweep::journal;
use std::fs;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A 5 × 5 map over (δ_r, α) at γ_b = 1.5 with two unrealizable rows (α < −5/12).
const MAP: &str = "[reduced]\ngamma_b = 1.5\nalpha = 0.0\ndelta_r = 0.0\n\n[time]\nt_end = 12.0\nn_save = 41\n\n\
                   [validate]\nengines = [\"moments\"]\nratios = [10.0, 100.0, 1000.0, 10000.0]\ntarget = 0.01\n\n\
                   [sweep]\n\"reduced.alpha\" = { values = [-0.7, -0.5, 0.0, 0.5, 1.2] }\n\"reduced.delta_r\" = { values = [-1.8, -0.6, 0.3, 1.0, 1.7] }\n";

#[test]
fn a_map_equals_its_points_run_one_by_one_and_its_shards_merged() {
    let d = scratch("vmap");
    fs::write(d.join("m.toml"), MAP).unwrap();
    let o = qbsim(&["validate", "m.toml", "-o", "map.h5", "-q", "--threads", "2"], &d);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Every point as its own `qbsim validate` (the sweep's row-major order:
    // the last axis, δ_r, fastest).
    let single = MAP.split("[sweep]").next().unwrap();
    let (alphas, deltas) = ([-0.7, -0.5, 0.0, 0.5, 1.2], [-1.8, -0.6, 0.3, 1.0, 1.7]);
    let mut k = 0;
    for a in alphas {
        for dr in deltas {
            fs::write(d.join(format!("p{k}.toml")), single).unwrap();
            let o = qbsim(
                &["validate", &format!("p{k}.toml"), "-o", &format!("p{k}.h5"), "-q", "--threads", "2",
                  "--set", &format!("reduced.alpha={a:?}"), "--set", &format!("reduced.delta_r={dr:?}")],
                &d,
            );
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            k += 1;
        }
    }
    let py = python_code(
        &d,
        "import h5py, numpy as np\n\
         m = h5py.File('map.h5')['validation']\n\
         n = 0\n\
         for i in range(25):\n\
         \x20   p = h5py.File(f'p{i}.h5')['validation']\n\
         \x20   for k in ['err_moments_reduced', 'ratio', 'gamma', 'kappa', 'traces/energy_moments', 'traces/energy_reduced']:\n\
         \x20       a, b = m[k][i], p[k][()]\n\
         \x20       assert a.shape == b.shape and (a.tobytes() == b.tobytes()), (i, k)\n\
         \x20   for k in ['slope', 'r_needed', 'realizable', 'gamma_product', 'nearest_gamma_a']:\n\
         \x20       a, b = m[k][i], p.attrs[k]\n\
         \x20       assert np.asarray(a).tobytes() == np.asarray(b).tobytes(), (i, k, a, b)\n\
         \x20   n += 1\n\
         print(n, 'points identical')\n",
    );
    assert!(py.status.success(), "{}{}", String::from_utf8_lossy(&py.stdout), String::from_utf8_lossy(&py.stderr));
    for i in 0..3 {
        let o = qbsim(&["validate", "m.toml", "-o", "part.h5", "-q", "--threads", "2", "--shard", &format!("{i}/3")], &d);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let m = qbsim(&["merge", "part.shard-0-of-3.h5", "part.shard-1-of-3.h5", "part.shard-2-of-3.h5", "-o", "merged.h5"], &d);
    assert!(m.status.success(), "{}", String::from_utf8_lossy(&m.stderr));
    let c = compare(&d.join("map.h5"), &d.join("merged.h5"));
    assert!(c.status.success(), "{}", String::from_utf8_lossy(&c.stdout));
    // The acceptance on the physics: unrealizable rows never run; slope −1 ± 0.1
    // on realizable points; the error interpolated from the table at r_needed
    // is the target to 10 %.
    let py = python_code(
        &d,
        "import h5py, numpy as np\n\
         v = h5py.File('map.h5')['validation']\n\
         re, sl, rn, err, r = v['realizable'][:], v['slope'][:], v['r_needed'][:], v['err_moments_reduced'][:], v['ratio'][0]\n\
         assert list(re) == [0] * 10 + [1] * 15, re\n\
         assert np.all(np.isnan(err[:10])) and np.all(np.isnan(rn[:10]))\n\
         assert np.all(np.abs(sl[10:] + 1) < 0.1), sl\n\
         for i in range(10, 25):\n\
         \x20   x = np.interp(np.log(rn[i]), np.log(r), np.log(err[i]))\n\
         \x20   assert abs(np.exp(x) / 0.01 - 1) < 0.1, (i, rn[i], np.exp(x))\n\
         print('ok')\n",
    );
    assert!(py.status.success(), "{}{}", String::from_utf8_lossy(&py.stdout), String::from_utf8_lossy(&py.stderr));
}

#[test]
fn a_killed_map_resumes_without_recomputing_finished_points() {
    let d = scratch("vmap_kill");
    // With the master equation: points of ~0.1 s each, so the kill lands mid-map.
    let cfg = MAP.replace("engines = [\"moments\"]", "engines = [\"moments\", \"master\"]").replace("ratios = [10.0, 100.0, 1000.0, 10000.0]", "ratios = [10.0, 100.0]");
    fs::write(d.join("k.toml"), cfg).unwrap();
    let journal_path = d.join("k.h5.journal");
    let mut child = Command::new(env!("CARGO_BIN_EXE_qbsim"))
        .args(["validate", "k.toml", "-o", "k.h5", "-q", "--threads", "1"])
        .current_dir(&d)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        let n = journal::read(&journal_path).map(|(e, _)| e.len()).unwrap_or(0);
        if n >= 8 || start.elapsed() > Duration::from_secs(60) {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let (before, _) = journal::read(&journal_path).unwrap();
    assert!(before.len() >= 8 && before.len() < 25, "{} points done before the kill", before.len());
    assert!(!d.join("k.h5").exists());
    let out = qbsim(&["validate", "k.toml", "-o", "k.h5", "-q", "--threads", "1"], &d);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("{} computed now, {} from the journal", 25 - before.len(), before.len())), "{text}");
    let once = qbsim(&["validate", "k.toml", "-o", "once.h5", "-q", "--threads", "1"], &d);
    assert!(once.status.success());
    let c = compare(&d.join("once.h5"), &d.join("k.h5"));
    assert!(c.status.success(), "{}", String::from_utf8_lossy(&c.stdout));
}

#[test]
fn a_map_runs_as_a_local_slurm_array() {
    let d = scratch("vmap_slurm");
    fs::write(d.join("m.toml"), MAP).unwrap();
    let o = Command::new("bash")
        .arg(common::repo().join("scripts/slurm/local-array.sh"))
        .args(["3", "m.toml", "arr.h5"])
        .env("QBSIM_SUBCOMMAND", "validate")
        .env("QBSIM", env!("CARGO_BIN_EXE_qbsim"))
        .current_dir(&d)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(qbsim(&["validate", "m.toml", "-o", "one.h5", "-q"], &d).status.success());
    let c = compare(&d.join("one.h5"), &d.join("arr.h5"));
    assert!(c.status.success(), "{}", String::from_utf8_lossy(&c.stdout));
}
