use super::*;
use hdf5::types::VarLenUnicode;
use ndarray::{Array2, Array3};
use num_complex::Complex64;

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!(
            "qbsim-output-{tag}-{}-{nanos}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    fn entries(&self) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn c(re: f64, im: f64) -> Complex64 {
    Complex64::new(re, im)
}

#[test]
fn roundtrip_all_kinds() {
    let dir = TempDir::new("roundtrip");
    let target = dir.0.join("out.h5");
    check_writable(&target).unwrap();
    assert!(
        dir.entries().is_empty(),
        "check_writable left {:?}",
        dir.entries()
    );

    let out = OutputFile::create(&target).unwrap();
    assert!(!target.exists(), "target must not appear before finish");
    // Runs fill an in-memory record with typed writers; the record is then
    // written through the file's shaped primitives.
    let rec = super::record::Record::new_root();
    rec.write_f64("f", &[1.0, -2.5, f64::NAN]).unwrap();
    rec.write_f64("empty", &[]).unwrap();
    let m = Array2::from_shape_fn((2, 3), |(i, j)| (10 * i + j) as f64);
    rec.write_f64_2d("m", &m).unwrap();
    // A transposed (non-contiguous) view must be written in logical order.
    rec.write_f64_2d("mt", m.t()).unwrap();
    rec.write_c64("z", &[c(1.0, 2.0), c(-0.5, 0.0)]).unwrap();
    let zm = Array2::from_shape_fn((2, 2), |(i, j)| c(i as f64, j as f64));
    rec.write_c64_2d("zm", &zm).unwrap();
    rec.write_u8("b", &[0, 1, 255]).unwrap();
    rec.write_u8_2d("b2", &Array2::from_shape_fn((2, 2), |(i, j)| (2 * i + j) as u8)).unwrap();
    rec.write_strings("s", &["alpha".to_string(), "β-γ".to_string(), String::new()]).unwrap();
    let sub = rec.group("sweep/params").unwrap();
    let rho = Array3::from_shape_fn((3, 2, 2), |(t, i, j)| c(t as f64, (i * 2 + j) as f64));
    sub.write_c64_3d("rho", &rho).unwrap();
    sub.write_c64_3d("rho0", &Array3::<Complex64>::zeros((0, 2, 2))).unwrap();
    rec.group("sweep").unwrap().attr_i64("count", 3).unwrap();
    rec.attr_f64("x", 0.25).unwrap();
    rec.attr_c64("zc", c(1.5, -2.0)).unwrap();
    rec.attr_i64("k", -7).unwrap();
    rec.attr_u8("u", 9).unwrap();
    rec.attr_str("status", "running").unwrap();
    rec.attr_f64_slice("grid", &[0.0, 0.5, 1.0]).unwrap();
    rec.attr_i64_slice("dims", &[2, 3]).unwrap();
    rec.record().write_to(&out).unwrap();

    // The file's primitives directly: any type and shape, groups nested.
    let root = out.root();
    root.write_shaped("n", &[3], &[i64::MIN, 0, 42]).unwrap();
    let params = out.group("sweep/params").unwrap();
    assert_eq!(params.path(), "/sweep/params");
    params
        .write_shaped("p", &[2, 1, 3], &[0., 1., 2., 100., 101., 102.])
        .unwrap();
    // Attributes are replaced; strings of any shape.
    root.strings_shaped("status", &[], &["complete ✓".to_string()], true).unwrap();

    // Duplicate dataset names are an error naming the dataset and file.
    let err = root.write_shaped("f", &[1], &[0.0]).unwrap_err().to_string();
    assert!(err.contains("\"/f\"") && err.contains("out.h5"), "{err}");
    // NUL cannot go into an HDF5 string.
    let err = root.strings_shaped("bad", &[], &["a\0b".to_string()], true).unwrap_err().to_string();
    assert!(err.contains("NUL") && err.contains("\"/bad\""), "{err}");

    assert_eq!(out.finish().unwrap(), target);
    assert_eq!(
        dir.entries(),
        vec!["out.h5".to_string()],
        "temp file must be gone"
    );

    let f = hdf5::File::open(&target).unwrap();
    let d = |n: &str| f.dataset(n).unwrap();
    let fv: Vec<f64> = d("f").read_raw().unwrap();
    assert_eq!(fv[..2], [1.0, -2.5]);
    assert!(fv[2].is_nan());
    assert_eq!(d("empty").shape(), vec![0]);
    assert_eq!(d("m").shape(), vec![2, 3]);
    assert_eq!(
        d("m").read_raw::<f64>().unwrap(),
        vec![0.0, 1.0, 2.0, 10.0, 11.0, 12.0]
    );
    assert_eq!(d("mt").shape(), vec![3, 2]);
    assert_eq!(
        d("mt").read_raw::<f64>().unwrap(),
        vec![0.0, 10.0, 1.0, 11.0, 2.0, 12.0]
    );
    assert_eq!(
        d("z").read_raw::<Complex64>().unwrap(),
        vec![c(1.0, 2.0), c(-0.5, 0.0)]
    );
    assert_eq!(
        d("zm").read_raw::<Complex64>().unwrap(),
        vec![c(0., 0.), c(0., 1.), c(1., 0.), c(1., 1.)]
    );
    assert_eq!(d("b").read_raw::<u8>().unwrap(), vec![0, 1, 255]);
    assert_eq!(d("b2").shape(), vec![2, 2]);
    assert_eq!(d("b2").read_raw::<u8>().unwrap(), vec![0, 1, 2, 3]);
    assert_eq!(d("n").read_raw::<i64>().unwrap(), vec![i64::MIN, 0, 42]);
    let s: Vec<String> = d("s")
        .read_raw::<VarLenUnicode>()
        .unwrap()
        .iter()
        .map(|v| v.to_string())
        .collect();
    assert_eq!(s, ["alpha", "β-γ", ""]);

    // The on-disk complex type is the h5py compound {r: f64, i: f64}.
    let td = d("z").dtype().unwrap().to_descriptor().unwrap();
    let hdf5::types::TypeDescriptor::Compound(ct) = td else {
        panic!("not compound: {td:?}")
    };
    let fields: Vec<_> = ct
        .fields
        .iter()
        .map(|f| (f.name.as_str(), f.offset, f.ty.size()))
        .collect();
    assert_eq!(fields, [("r", 0, 8), ("i", 8, 8)]);

    let rho_ds = d("sweep/params/rho");
    assert_eq!(rho_ds.shape(), vec![3, 2, 2]);
    assert_eq!(rho_ds.chunk(), Some(vec![1, 2, 2]));
    assert_eq!(
        rho_ds.read_raw::<Complex64>().unwrap(),
        rho.iter().copied().collect::<Vec<_>>()
    );
    assert_eq!(
        d("sweep/params/p").read_raw::<f64>().unwrap(),
        vec![0., 1., 2., 100., 101., 102.]
    );
    assert_eq!(d("sweep/params/rho0").shape(), vec![0, 2, 2]);
    assert_eq!(
        f.group("sweep")
            .unwrap()
            .attr("count")
            .unwrap()
            .read_scalar::<i64>()
            .unwrap(),
        3
    );

    let a = |n: &str| f.attr(n).unwrap();
    assert_eq!(a("x").read_scalar::<f64>().unwrap(), 0.25);
    assert_eq!(a("zc").read_scalar::<Complex64>().unwrap(), c(1.5, -2.0));
    assert_eq!(a("k").read_scalar::<i64>().unwrap(), -7);
    assert_eq!(a("u").read_scalar::<u8>().unwrap(), 9);
    assert_eq!(
        a("status").read_scalar::<VarLenUnicode>().unwrap().as_str(),
        "complete ✓"
    );
    assert_eq!(a("grid").read_raw::<f64>().unwrap(), vec![0.0, 0.5, 1.0]);
    assert_eq!(a("dims").read_raw::<i64>().unwrap(), vec![2, 3]);
    assert!(f.attr("bad").is_err());
}

#[test]
fn drop_without_finish_removes_temp_and_keeps_existing_target() {
    let dir = TempDir::new("drop");
    let target = dir.0.join("result.h5");
    fs::write(&target, b"previous result").unwrap();
    {
        let out = OutputFile::create(&target).unwrap();
        out.root().write_shaped("x", &[100], &[1.0; 100]).unwrap();
        assert_eq!(
            dir.entries().len(),
            2,
            "temp file beside the target: {:?}",
            dir.entries()
        );
        assert!(
            dir.entries()[0].starts_with(".result.h5.tmp-"),
            "{:?}",
            dir.entries()
        );
    }
    assert_eq!(dir.entries(), vec!["result.h5".to_string()]);
    assert_eq!(fs::read(&target).unwrap(), b"previous result");

    // A panic while writing behaves the same.
    let t = target.clone();
    let r = std::panic::catch_unwind(move || {
        let out = OutputFile::create(&t).unwrap();
        out.root().write_shaped("x", &[1], &[1.0]).unwrap();
        panic!("simulated failure");
    });
    assert!(r.is_err());
    assert_eq!(dir.entries(), vec!["result.h5".to_string()]);
    assert_eq!(fs::read(&target).unwrap(), b"previous result");

    // finish() does replace it.
    let out = OutputFile::create(&target).unwrap();
    out.root().attr_shaped("v", &[], &[2i64]).unwrap();
    out.finish().unwrap();
    let f = hdf5::File::open(&target).unwrap();
    assert_eq!(f.attr("v").unwrap().read_scalar::<i64>().unwrap(), 2);
}

#[test]
fn finish_closes_lingering_group_handles() {
    let dir = TempDir::new("linger");
    let target = dir.0.join("a.h5");
    let out = OutputFile::create(&target).unwrap();
    let g = out.group("g").unwrap();
    let root = out.root();
    g.write_shaped("x", &[1], &[1.0]).unwrap();
    out.finish().unwrap();
    // The file is really closed: writing through the stale handle fails...
    assert!(g.write_shaped("y", &[1], &[2.0]).is_err());
    assert!(root.attr_shaped("late", &[], &[1i64]).is_err());
    drop(root);
    drop(g);
    // ...and the renamed file is complete and readable.
    let f = hdf5::File::open(&target).unwrap();
    assert_eq!(
        f.dataset("g/x").unwrap().read_raw::<f64>().unwrap(),
        vec![1.0]
    );
}

#[test]
fn bad_targets_are_reported_with_path() {
    let dir = TempDir::new("bad");
    let missing = dir.0.join("nope").join("x.h5");
    for err in [
        check_writable(&missing).unwrap_err(),
        OutputFile::create(&missing).unwrap_err(),
    ] {
        let msg = err.to_string();
        assert!(msg.contains(&format!("{missing:?}")), "{msg}");
        assert!(msg.contains("does not exist"), "{msg}");
    }

    let err = check_writable(&dir.0).unwrap_err().to_string();
    assert!(err.contains("is a directory"), "{err}");

    let file = dir.0.join("plain");
    fs::write(&file, b"").unwrap();
    let err = check_writable(&file.join("x.h5")).unwrap_err().to_string();
    assert!(err.contains("is not a directory"), "{err}");

    let err = check_writable(Path::new("/")).unwrap_err().to_string();
    assert!(err.contains("does not name a file"), "{err}");

    // Relative names resolve against the current directory.
    check_writable(Path::new("qbsim-output-probe.h5")).unwrap();
    assert!(!Path::new("qbsim-output-probe.h5").exists());

    assert_eq!(dir.entries(), vec!["plain".to_string()]);
}

#[cfg(unix)]
#[test]
fn read_only_directory_is_rejected() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("ro");
    let ro = dir.0.join("ro");
    fs::create_dir(&ro).unwrap();
    fs::set_permissions(&ro, fs::Permissions::from_mode(0o555)).unwrap();
    let target = ro.join("x.h5");
    // Root ignores permission bits; only check when they are enforced.
    let enforced = fs::File::create(ro.join("probe")).is_err();
    let res = check_writable(&target);
    let res2 = OutputFile::create(&target).map(|_| ());
    fs::set_permissions(&ro, fs::Permissions::from_mode(0o755)).unwrap();
    if !enforced {
        return;
    }
    let msg = res.unwrap_err().to_string();
    assert!(
        msg.contains(&format!("{target:?}")) && msg.contains("cannot create files"),
        "{msg}"
    );
    assert!(res2
        .unwrap_err()
        .to_string()
        .contains(&format!("{target:?}")));
}
