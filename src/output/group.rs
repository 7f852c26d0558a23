//! Dataset and attribute writers on an HDF5 group: any stored type with an
//! explicit shape (runs fill an in-memory `record::Record` with typed writers
//! and write it through these).

use std::path::Path;
use std::sync::Arc;

use hdf5::types::VarLenUnicode;
use hdf5::H5Type;

use super::OutputError;

/// A group in an [`OutputFile`](super::OutputFile), with writers whose
/// on-disk types are what h5py reads naturally (see the module docs of `output`).
///
/// Datasets are created once: writing a dataset name that already exists is
/// an error, which catches two code paths writing the same result. Attribute
/// writers replace an existing attribute, like h5py's `attrs[name] = value`,
/// so metadata such as a completion status can be updated.
///
/// Arrays are taken as `ndarray` views of any memory layout (`&Array2`,
/// `arr.view()`, transposed views...) and written in logical row-major
/// order, so numpy sees the same indices as Rust.
#[derive(Debug, Clone)]
pub struct Group {
    inner: hdf5::Group,
    /// Target path of the output file, for error messages (the HDF5 file
    /// itself lives under a temporary name).
    target: Arc<Path>,
}

impl Group {
    pub(super) fn new(inner: hdf5::Group, target: Arc<Path>) -> Self {
        Self { inner, target }
    }

    /// Absolute path of this group inside the file, e.g. `/sweep`.
    pub fn path(&self) -> String {
        self.inner.name()
    }

    /// The underlying `hdf5` handle, for anything not covered here.
    pub fn as_hdf5(&self) -> &hdf5::Group {
        &self.inner
    }

    fn child_path(&self, name: &str) -> String {
        join(&self.inner.name(), name)
    }

    fn hdf5_err(&self, op: String) -> impl FnOnce(hdf5::Error) -> OutputError + '_ {
        move |e| OutputError::hdf5(&self.target, op, e)
    }

    /// Creates or opens the subgroup at the relative `path` (components
    /// separated by `/`, e.g. `"sweep/params"`), creating missing parents.
    pub fn group(&self, path: &str) -> Result<Group, OutputError> {
        let mut g = self.inner.clone();
        for part in path.split('/').filter(|p| !p.is_empty()) {
            let op = format!("opening group {:?}", join(&g.name(), part));
            g = if g.link_exists(part) {
                g.group(part)
            } else {
                g.create_group(part)
            }
            .map_err(self.hdf5_err(op))?;
        }
        Ok(Group::new(g, self.target.clone()))
    }

    // ---- datasets -------------------------------------------------------

    /// Creates dataset `name` with the given shape and contents (row-major).
    fn write_raw<T: H5Type>(
        &self,
        name: &str,
        shape: &[usize],
        chunk: Option<Vec<usize>>,
        data: &[T],
    ) -> Result<(), OutputError> {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len());
        let op = || format!("writing dataset {:?}", self.child_path(name));
        // HDF5 reports this as an opaque "unknown library error"; say it.
        if self.inner.link_exists(name) {
            return Err(OutputError::Invalid {
                path: self.target.to_path_buf(),
                op: op(),
                reason: "an object of that name already exists".into(),
            });
        }
        let mut builder = self.inner.new_dataset::<T>();
        if let Some(chunk) = chunk {
            builder = builder.chunk(chunk);
        }
        let ds = builder
            .shape(shape)
            .create(name)
            .map_err(self.hdf5_err(op()))?;
        // Nothing to transfer for zero-sized datasets.
        if !data.is_empty() {
            ds.as_writer()
                .write_raw(data)
                .map_err(self.hdf5_err(op()))?;
        }
        Ok(())
    }

    fn varlen(&self, s: &str, op: impl FnOnce() -> String) -> Result<VarLenUnicode, OutputError> {
        s.parse::<VarLenUnicode>()
            .map_err(|_| OutputError::Invalid {
                path: self.target.to_path_buf(),
                op: op(),
                reason: format!("string {s:?} contains a NUL character"),
            })
    }

    // ---- attributes -----------------------------------------------------

    /// Writes attribute `name` with the given shape (`[]` = scalar),
    /// replacing an existing one.
    fn put_attr<T: H5Type>(
        &self,
        name: &str,
        shape: &[usize],
        data: &[T],
    ) -> Result<(), OutputError> {
        let op = || format!("writing attribute {:?} of {:?}", name, self.path());
        if self
            .inner
            .attr_names()
            .map_err(self.hdf5_err(op()))?
            .iter()
            .any(|n| n == name)
        {
            self.inner.delete_attr(name).map_err(self.hdf5_err(op()))?;
        }
        let attr = self
            .inner
            .new_attr::<T>()
            .shape(shape)
            .create(name)
            .map_err(self.hdf5_err(op()))?;
        if !data.is_empty() {
            attr.as_writer()
                .write_raw(data)
                .map_err(self.hdf5_err(op()))?;
        }
        Ok(())
    }

    /// Dataset of any stored type with an explicit row-major shape (rank-3
    /// data is chunked one leading index per chunk, as in `write_c64_3d`).
    pub fn write_shaped<T: H5Type>(&self, name: &str, shape: &[usize], data: &[T]) -> Result<(), OutputError> {
        let chunk = (shape.len() == 3 && !data.is_empty()).then(|| vec![1, shape[1], shape[2]]);
        self.write_raw(name, shape, chunk, data)
    }

    /// Attribute of any stored type with an explicit shape (`[]` = scalar).
    pub fn attr_shaped<T: H5Type>(&self, name: &str, shape: &[usize], data: &[T]) -> Result<(), OutputError> {
        self.put_attr(name, shape, data)
    }

    /// The `units` and `description` attributes of dataset `name` (what makes
    /// a file self-describing; the texts come from [`super::schema`]).
    pub fn describe_dataset(&self, name: &str, units: &str, description: &str) -> Result<(), OutputError> {
        let op = || format!("describing {:?}", self.child_path(name));
        let ds = self.inner.dataset(name).map_err(self.hdf5_err(op()))?;
        for (key, text) in [("units", units), ("description", description)] {
            let v = self.varlen(text, op)?;
            let attr = ds.new_attr::<VarLenUnicode>().shape(()).create(key).map_err(self.hdf5_err(op()))?;
            attr.as_writer().write_raw(&[v]).map_err(self.hdf5_err(op()))?;
        }
        Ok(())
    }

    /// Strings of any shape (variable-length UTF-8), as dataset or attribute.
    pub fn strings_shaped(&self, name: &str, shape: &[usize], data: &[String], attribute: bool) -> Result<(), OutputError> {
        let op = || format!("writing {:?}", self.child_path(name));
        let v = data.iter().map(|s| self.varlen(s, op)).collect::<Result<Vec<_>, _>>()?;
        if attribute {
            self.put_attr(name, shape, &v)
        } else {
            self.write_raw(name, shape, None, &v)
        }
    }

}

fn join(base: &str, name: &str) -> String {
    if base.ends_with('/') {
        format!("{base}{name}")
    } else {
        format!("{base}/{name}")
    }
}

