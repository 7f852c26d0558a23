//! Reads a file written by qbsim back into a [`Record`] (for `qbsim merge`
//! and for resuming): every dataset and attribute, of the types qbsim writes.

use super::record::{Data, Item, Key, Record};
use super::OutputError;
use hdf5::types::{FloatSize, IntSize, TypeDescriptor, VarLenUnicode};
use num_complex::Complex64 as C64;
use std::path::Path;

fn err(path: &Path, op: String, e: hdf5::Error) -> OutputError {
    OutputError::Read { path: path.to_path_buf(), reason: format!("{op}: {}", super::brief(&e)) }
}

/// Reads a container (dataset or attribute) of a known qbsim type.
fn read_item(c: &hdf5::Container, path: &Path, what: &str) -> Result<Item, OutputError> {
    let op = || format!("reading {what}");
    let desc = c.dtype().and_then(|t| t.to_descriptor()).map_err(|e| err(path, op(), e))?;
    let shape = c.shape();
    let data = match desc {
        TypeDescriptor::Float(FloatSize::U8) => Data::F64(c.read_raw::<f64>().map_err(|e| err(path, op(), e))?),
        TypeDescriptor::Compound(_) => Data::C64(c.read_raw::<C64>().map_err(|e| err(path, op(), e))?),
        TypeDescriptor::Unsigned(IntSize::U1) => Data::U8(c.read_raw::<u8>().map_err(|e| err(path, op(), e))?),
        TypeDescriptor::Integer(IntSize::U1) => Data::I8(c.read_raw::<i8>().map_err(|e| err(path, op(), e))?),
        TypeDescriptor::Integer(IntSize::U8) => Data::I64(c.read_raw::<i64>().map_err(|e| err(path, op(), e))?),
        TypeDescriptor::VarLenUnicode => Data::Str(
            c.read_raw::<VarLenUnicode>()
                .map_err(|e| err(path, op(), e))?
                .into_iter()
                .map(|s| s.as_str().to_string())
                .collect(),
        ),
        other => {
            return Err(OutputError::Invalid {
                path: path.to_path_buf(),
                op: op(),
                reason: format!("type {other:?} is not one qbsim writes"),
            })
        }
    };
    Ok(Item { shape, data })
}

fn read_group(g: &hdf5::Group, group: &str, path: &Path, rec: &mut Record) -> Result<(), OutputError> {
    for name in g.attr_names().map_err(|e| err(path, format!("listing attributes of {group}"), e))? {
        let a = g.attr(&name).map_err(|e| err(path, format!("opening attribute {name} of {group}"), e))?;
        let item = read_item(&a, path, &format!("attribute {name} of {group}"))?;
        rec.items.insert(Key { group: group.to_string(), name, attribute: true }, item);
    }
    for name in g.member_names().map_err(|e| err(path, format!("listing {group}"), e))? {
        let child = if group == "/" { format!("/{name}") } else { format!("{group}/{name}") };
        if let Ok(sub) = g.group(&name) {
            read_group(&sub, &child, path, rec)?;
        } else {
            let d = g.dataset(&name).map_err(|e| err(path, format!("opening {child}"), e))?;
            let item = read_item(&d, path, &child)?;
            rec.items.insert(Key { group: group.to_string(), name, attribute: false }, item);
        }
    }
    Ok(())
}

/// Every dataset and attribute of an HDF5 file written by qbsim.
pub fn read_file(path: &Path) -> Result<Record, OutputError> {
    let unreadable = |reason: String| OutputError::Read { path: path.to_path_buf(), reason };
    // The operating system's reason first (missing, permission, a directory).
    std::fs::File::open(path).map_err(|e| unreadable(e.to_string()))?;
    if std::fs::metadata(path).is_ok_and(|m| m.is_dir()) {
        return Err(unreadable("it is a directory".into()));
    }
    let f = hdf5::File::open(path)
        .map_err(|e| unreadable(format!("not an HDF5 file, or a damaged one ({})", super::brief(&e))))?;
    let mut rec = Record::default();
    let root = f.group("/").map_err(|e| err(path, "opening /".into(), e))?;
    read_group(&root, "/", path, &mut rec)?;
    Ok(rec)
}
