//! Files describe themselves: every dataset of every kind of file carries the
//! `units` and `description` of its docs/output.md row, and the phase is
//! encoded one way (int8 codes with their table) in every group.

mod common;

use common::{python, qbsim, repo, scratch};
use std::fs;
use std::path::PathBuf;

const MODEL: &str = "[model]\ncutoffs = [4, 4, 3]\ndelta = [0.05, -0.05, 0.0]\ndrive = 0.02\nkappa = [0.1, 0.1, 20.0]\ngamma = 10.0\np_a = [0.8, 0.6]\n\n[time]\nt_end = 2.0\nn_save = 5\n\n[solver]\nengines = [\"master\", \"moments\", \"reduced\"]\n\n[output]\nsave_state = \"all\"\n";

#[test]
fn every_dataset_of_every_kind_of_file_has_units_and_description() {
    let d = scratch("schema");
    let cfg = |name: &str| repo().join("configs").join(name).to_str().unwrap().to_string();
    fs::write(d.join("m.toml"), MODEL).unwrap();
    let sweep = format!(
        "{}\n[sweep]\n\"reduced.delta_r\" = {{ values = [0.1, 0.2, 0.3] }}\n",
        "[reduced]\ngamma_a = 1.5\ngamma_b = 0.5\ndelta_r = 0.2\n\n[time]\nt_end = 4.0\nn_save = 5\n"
    );
    fs::write(d.join("s.toml"), sweep).unwrap();
    // A protocol with a step, a ramp and an event on all three engines.
    let protocol = "\n[[protocol.step]]\nat = 0.5\nramp = 0.5\nset = { \"model.drive\" = 0.01 }\n\n\
                    [[protocol.event]]\nobservable = \"energy_b\"\nabove = 1e-9\nset = { \"model.delta\" = [0.0, 0.0, 0.0] }\n";
    fs::write(d.join("mp.toml"), format!("{MODEL}{protocol}")).unwrap();
    fs::write(d.join("ss.toml"), format!("{MODEL}\n[sweep]\n\"model.drive\" = {{ values = [0.01, 0.02] }}\n")).unwrap();
    let runs: Vec<Vec<String>> = vec![
        vec!["run".into(), cfg("paper/fig3a.toml"), "-o".into(), "fig3a.h5".into()],
        vec!["phase".into(), cfg("paper/fig6.toml"), "-o".into(), "fig6.h5".into()],
        vec!["run".into(), "m.toml".into(), "-o".into(), "m.h5".into()],
        vec!["validate".into(), cfg("validation/near_ep.toml"), "--ratios".into(), "10,31.6".into(), "--set".into(), "time.n_save=11".into(), "-o".into(), "v.h5".into()],
        vec!["validate".into(), cfg("validation/fig3d_broken.toml"), "-o".into(), "vu.h5".into()],
        vec!["sweep".into(), "s.toml".into(), "-o".into(), "s.h5".into()],
        vec!["sweep".into(), "s.toml".into(), "-o".into(), "p.h5".into(), "--shard".into(), "0/2".into()],
        vec!["sweep".into(), "s.toml".into(), "-o".into(), "p.h5".into(), "--shard".into(), "1/2".into()],
        vec!["merge".into(), "p.shard-0-of-2.h5".into(), "p.shard-1-of-2.h5".into(), "-o".into(), "merged.h5".into()],
        vec!["run".into(), cfg("protocols/sm2_reduced.toml"), "-o".into(), "sm2.h5".into()],
        vec!["run".into(), "mp.toml".into(), "-o".into(), "mp.h5".into()],
        vec!["steady".into(), "m.toml".into(), "-o".into(), "st.h5".into(), "--set".into(), "output.save_state=\"final\"".into()],
        vec!["steady".into(), "ss.toml".into(), "-o".into(), "sts.h5".into()],
    ];
    for args in &runs {
        let a: Vec<&str> = args.iter().map(String::as_str).chain(["-q"]).collect();
        let o = qbsim(&a, &d);
        assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
    }
    let files: Vec<PathBuf> =
        ["fig3a.h5", "fig6.h5", "m.h5", "v.h5", "vu.h5", "s.h5", "merged.h5", "sm2.h5", "mp.h5", "st.h5", "sts.h5"].iter().map(|f| d.join(f)).collect();
    let refs: Vec<&std::path::Path> = files.iter().map(PathBuf::as_path).collect();
    let o = python("check_self_describing.py", &refs, &[]);
    assert!(o.status.success(), "{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
}
