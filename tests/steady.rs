//! `qbsim steady` end to end: the file it writes, sweeps sharded and merged,
//! and a solve that does not converge (exit 1, nothing written).

mod common;

use common::{compare, python_code as python, qbsim, scratch};
use std::fs;

const LINEAR: &str = "[model]\ncutoffs = [6, 6, 4]\ndrive = 0.1\nkappa = [0.05, 0.05, 50.0]\ngamma = 10.0\nn_th = [0.02, 0.01, 0.0]\n\n[solver]\nengines = [\"master\", \"moments\"]\n";

#[test]
fn steady_writes_every_engine_and_master_agrees_with_the_moments() {
    let d = scratch("steady_one");
    fs::write(d.join("s.toml"), format!("{LINEAR}\n[output]\nsave_state = \"final\"\n")).unwrap();
    let o = qbsim(&["steady", "s.toml", "-o", "s.h5", "-q"], &d);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("GMRES") && out.contains("wrote s.h5"), "{out}");
    // Truncation at (6, 6, 4) is ~1e-9 in n_b here: the engines agree to 1e-8.
    let py = python(
        &d,
        "import h5py, numpy as np\n\
         f = h5py.File('s.h5')\n\
         m, x = f['steady/master'], f['steady/moments']\n\
         assert m['exists'][()] == 1 and x['exists'][()] == 1\n\
         for k in ['n_a', 'n_b', 'n_c', 'ergotropy_b', 'entropy_b', 'purity_b']:\n    assert abs(m[k][()] - x[k][()]) < 1e-8, (k, m[k][()], x[k][()])\n\
         assert abs(m['b'][()] - x['b'][()]) < 1e-8\n\
         assert m['residual'][()] < 1e-12 and 0 < m['iterations'][()] < 200\n\
         rho = m['rho'][()]\n\
         assert rho.shape == (144, 144) and abs(np.trace(rho) - 1) < 1e-12\n\
         assert m['n_b'].attrs['units'] == 'quanta'\n\
         print('ok')\n",
    );
    assert!(py.status.success(), "{}", String::from_utf8_lossy(&py.stderr));
}

#[test]
fn a_steady_sweep_sharded_and_merged_equals_the_unsharded_one() {
    let d = scratch("steady_sweep");
    fs::write(d.join("s.toml"), format!("{LINEAR}\n[sweep]\n\"model.kappa[2]\" = {{ values = [20.0, 50.0, 200.0, 1000.0] }}\n")).unwrap();
    let full = qbsim(&["steady", "s.toml", "-o", "full.h5", "-q", "--threads", "2"], &d);
    assert!(full.status.success(), "{}", String::from_utf8_lossy(&full.stderr));
    for i in 0..3 {
        let o = qbsim(&["steady", "s.toml", "-o", "part.h5", "-q", "--threads", "2", "--shard", &format!("{i}/3")], &d);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let m = qbsim(&["merge", "part.shard-0-of-3.h5", "part.shard-1-of-3.h5", "part.shard-2-of-3.h5", "-o", "merged.h5"], &d);
    assert!(m.status.success(), "{}", String::from_utf8_lossy(&m.stderr));
    let c = compare(&d.join("full.h5"), &d.join("merged.h5"));
    assert!(c.status.success(), "{}", String::from_utf8_lossy(&c.stdout));
    let py = python(
        &d,
        "import h5py\nf = h5py.File('full.h5')\nassert f['steady/master/n_b'].shape == (4,)\nassert list(f['sweep/params/model.kappa[2]'][:]) == [20.0, 50.0, 200.0, 1000.0]\nprint('ok')\n",
    );
    assert!(py.status.success(), "{}", String::from_utf8_lossy(&py.stderr));
}

#[test]
fn a_solve_that_does_not_converge_exits_1_and_keeps_the_old_file() {
    let d = scratch("steady_fail");
    fs::write(d.join("s.toml"), LINEAR).unwrap();
    assert!(qbsim(&["steady", "s.toml", "-o", "s.h5", "-q"], &d).status.success());
    let before = fs::read(d.join("s.h5")).unwrap();
    let o = qbsim(&["steady", "s.toml", "-o", "s.h5", "-q", "--set", "steady.max_iterations=3", "--set", "steady.restart=2"], &d);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("did not converge") && err.contains("residual") && err.contains("nothing was written"), "{err}");
    assert_eq!(fs::read(d.join("s.h5")).unwrap(), before, "the old result is kept byte for byte");
    // Bad settings are refused before any work, naming the key.
    let o = qbsim(&["steady", "s.toml", "-o", "t.h5", "--set", "steady.restart=1"], &d);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("steady.restart") && !d.join("t.h5").exists(), "{err}");
}

#[test]
fn the_reduced_steady_state_is_none_in_the_broken_phase() {
    let d = scratch("steady_broken");
    fs::write(d.join("r.toml"), "[reduced]\ngamma_a = 0.5\ngamma_b = 0.5\ndelta_r = 0.0\n").unwrap();
    let o = qbsim(&["steady", "r.toml", "-o", "r.h5", "-q"], &d);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("none") && out.contains("broken"), "{out}");
    let py = python(&d, "import h5py, math\nf = h5py.File('r.h5')\ng = f['steady/reduced']\nassert g['exists'][()] == 0 and math.isnan(g['energy_b'][()])\nassert abs(g['growth_rate'][()] - 0.5) < 1e-12\nprint('ok')\n");
    assert!(py.status.success(), "{}", String::from_utf8_lossy(&py.stderr));
}
