//! An output file's contents in memory: what a run computed, before it is
//! written. Runs fill a [`Record`] through [`Group`] handles with the same
//! writers as the HDF5 [`super::Group`]; `qbsim run` then writes the record to
//! its file, and a sweep journals one record per point and stacks them.

use super::{OutputError, OutputFile};
use ndarray::{ArrayView, ArrayView2, ArrayView3, Dimension};
use num_complex::Complex64 as C64;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

/// Element data of one dataset or attribute.
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    F64(Vec<f64>),
    C64(Vec<C64>),
    U8(Vec<u8>),
    I8(Vec<i8>),
    I64(Vec<i64>),
    Str(Vec<String>),
}

impl Data {
    pub fn len(&self) -> usize {
        match self {
            Data::F64(v) => v.len(),
            Data::C64(v) => v.len(),
            Data::U8(v) => v.len(),
            Data::I8(v) => v.len(),
            Data::I64(v) => v.len(),
            Data::Str(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Same element type as `other`.
    pub fn same_kind(&self, other: &Data) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }
}

/// A dataset or attribute: row-major data with its shape (`[]` = scalar).
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub shape: Vec<usize>,
    pub data: Data,
}

/// Where an item lives: its group path ("/master"), name, and whether it is an
/// attribute of the group or a dataset in it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub group: String,
    pub name: String,
    pub attribute: bool,
}

/// Everything a run writes, in a deterministic (sorted) order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Record {
    pub items: BTreeMap<Key, Item>,
}

impl Record {
    /// A fresh record and a handle on its root group.
    pub fn new_root() -> Group {
        Group { rec: Rc::new(RefCell::new(Record::default())), path: "/".into() }
    }

    /// The dataset (or, with `attribute`, the attribute) `name` of `group`.
    pub fn get(&self, group: &str, name: &str, attribute: bool) -> Option<&Item> {
        self.items.get(&Key { group: group.into(), name: name.into(), attribute })
    }

    /// A float64 dataset's (or attribute's) elements.
    pub fn f64s(&self, group: &str, name: &str, attribute: bool) -> Option<&[f64]> {
        match self.get(group, name, attribute)? {
            Item { data: Data::F64(v), .. } => Some(v),
            _ => None,
        }
    }

    /// A complex dataset's (or attribute's) elements.
    pub fn c64s(&self, group: &str, name: &str, attribute: bool) -> Option<&[C64]> {
        match self.get(group, name, attribute)? {
            Item { data: Data::C64(v), .. } => Some(v),
            _ => None,
        }
    }

    /// A scalar string attribute.
    pub fn attr_str(&self, group: &str, name: &str) -> Option<&str> {
        match self.get(group, name, true)? {
            Item { data: Data::Str(v), .. } => v.first().map(String::as_str),
            _ => None,
        }
    }

    /// A scalar integer attribute (any of the integer types qbsim writes).
    pub fn attr_int(&self, group: &str, name: &str) -> Option<i64> {
        match self.get(group, name, true)? {
            Item { data: Data::I64(v), .. } => v.first().copied(),
            Item { data: Data::U8(v), .. } => v.first().map(|&x| i64::from(x)),
            Item { data: Data::I8(v), .. } => v.first().map(|&x| i64::from(x)),
            _ => None,
        }
    }

    /// Writes every item into `file` (groups created as needed).
    pub fn write_to(&self, file: &OutputFile) -> Result<(), OutputError> {
        for (k, it) in &self.items {
            let g = if k.group == "/" { file.root() } else { file.group(&k.group)? };
            let (name, shape) = (k.name.as_str(), it.shape.as_slice());
            match (&it.data, k.attribute) {
                (Data::F64(v), false) => g.write_shaped(name, shape, v)?,
                (Data::C64(v), false) => g.write_shaped(name, shape, v)?,
                (Data::U8(v), false) => g.write_shaped(name, shape, v)?,
                (Data::I8(v), false) => g.write_shaped(name, shape, v)?,
                (Data::I64(v), false) => g.write_shaped(name, shape, v)?,
                (Data::F64(v), true) => g.attr_shaped(name, shape, v)?,
                (Data::C64(v), true) => g.attr_shaped(name, shape, v)?,
                (Data::U8(v), true) => g.attr_shaped(name, shape, v)?,
                (Data::I8(v), true) => g.attr_shaped(name, shape, v)?,
                (Data::I64(v), true) => g.attr_shaped(name, shape, v)?,
                (Data::Str(v), a) => g.strings_shaped(name, shape, v, a)?,
            }
            if !k.attribute {
                if let Some(e) = super::schema::dataset(&k.group, name) {
                    g.describe_dataset(name, &e.units, &e.description)?;
                }
            }
        }
        Ok(())
    }
}

/// A group of a [`Record`] being filled (cheap to clone; single-threaded).
#[derive(Debug, Clone)]
pub struct Group {
    rec: Rc<RefCell<Record>>,
    path: String,
}

fn row_major<T: Clone, D: Dimension>(a: ArrayView<'_, T, D>) -> (Vec<usize>, Vec<T>) {
    (a.shape().to_vec(), a.iter().cloned().collect())
}

impl Group {
    /// The record this group belongs to (a copy of its current contents).
    pub fn record(&self) -> Record {
        self.rec.borrow().clone()
    }

    /// Subgroup `path` ("markers", "sweep/params"), relative to this group.
    pub fn group(&self, path: &str) -> Result<Group, OutputError> {
        let base = self.path.trim_end_matches('/');
        Ok(Group { rec: self.rec.clone(), path: format!("{base}/{}", path.trim_matches('/')) })
    }

    fn put(&self, name: &str, attribute: bool, shape: Vec<usize>, data: Data) -> Result<(), OutputError> {
        let key = Key { group: self.path.clone(), name: name.to_string(), attribute };
        self.rec.borrow_mut().items.insert(key, Item { shape, data });
        Ok(())
    }

    pub fn write_f64(&self, name: &str, data: &[f64]) -> Result<(), OutputError> {
        self.put(name, false, vec![data.len()], Data::F64(data.to_vec()))
    }
    pub fn write_c64(&self, name: &str, data: &[C64]) -> Result<(), OutputError> {
        self.put(name, false, vec![data.len()], Data::C64(data.to_vec()))
    }
    pub fn write_u8(&self, name: &str, data: &[u8]) -> Result<(), OutputError> {
        self.put(name, false, vec![data.len()], Data::U8(data.to_vec()))
    }
    pub fn write_strings<S: AsRef<str>>(&self, name: &str, data: &[S]) -> Result<(), OutputError> {
        let v: Vec<String> = data.iter().map(|s| s.as_ref().to_string()).collect();
        self.put(name, false, vec![v.len()], Data::Str(v))
    }
    pub fn write_f64_2d<'a>(&self, name: &str, a: impl Into<ArrayView2<'a, f64>>) -> Result<(), OutputError> {
        let (shape, v) = row_major(a.into());
        self.put(name, false, shape, Data::F64(v))
    }
    pub fn write_c64_2d<'a>(&self, name: &str, a: impl Into<ArrayView2<'a, C64>>) -> Result<(), OutputError> {
        let (shape, v) = row_major(a.into());
        self.put(name, false, shape, Data::C64(v))
    }
    pub fn write_u8_2d<'a>(&self, name: &str, a: impl Into<ArrayView2<'a, u8>>) -> Result<(), OutputError> {
        let (shape, v) = row_major(a.into());
        self.put(name, false, shape, Data::U8(v))
    }
    pub fn write_i8_nd<D: Dimension>(&self, name: &str, a: ArrayView<'_, i8, D>) -> Result<(), OutputError> {
        let (shape, v) = row_major(a);
        self.put(name, false, shape, Data::I8(v))
    }
    pub fn write_c64_3d<'a>(&self, name: &str, a: impl Into<ArrayView3<'a, C64>>) -> Result<(), OutputError> {
        let (shape, v) = row_major(a.into());
        self.put(name, false, shape, Data::C64(v))
    }
    pub fn write_i64(&self, name: &str, data: &[i64]) -> Result<(), OutputError> {
        self.put(name, false, vec![data.len()], Data::I64(data.to_vec()))
    }
    /// A row-major `[n0, n1]` int64 dataset.
    pub fn write_i64_2d(&self, name: &str, n0: usize, n1: usize, data: &[i64]) -> Result<(), OutputError> {
        self.put(name, false, vec![n0, n1], Data::I64(data.to_vec()))
    }
    /// A row-major `[n0, n1, n2]` float64 dataset.
    pub fn write_f64_3d(&self, name: &str, n0: usize, n1: usize, n2: usize, data: &[f64]) -> Result<(), OutputError> {
        self.put(name, false, vec![n0, n1, n2], Data::F64(data.to_vec()))
    }
    /// A scalar dataset (shape `[]`; a sweep stacks it into `[n_points]`).
    pub fn write_scalar_f64(&self, name: &str, v: f64) -> Result<(), OutputError> {
        self.put(name, false, vec![], Data::F64(vec![v]))
    }
    pub fn write_scalar_c64(&self, name: &str, v: C64) -> Result<(), OutputError> {
        self.put(name, false, vec![], Data::C64(vec![v]))
    }
    pub fn write_scalar_u8(&self, name: &str, v: u8) -> Result<(), OutputError> {
        self.put(name, false, vec![], Data::U8(vec![v]))
    }
    pub fn write_scalar_i64(&self, name: &str, v: i64) -> Result<(), OutputError> {
        self.put(name, false, vec![], Data::I64(vec![v]))
    }
    pub fn attr_f64(&self, name: &str, v: f64) -> Result<(), OutputError> {
        self.put(name, true, vec![], Data::F64(vec![v]))
    }
    pub fn attr_c64(&self, name: &str, v: C64) -> Result<(), OutputError> {
        self.put(name, true, vec![], Data::C64(vec![v]))
    }
    pub fn attr_i64(&self, name: &str, v: i64) -> Result<(), OutputError> {
        self.put(name, true, vec![], Data::I64(vec![v]))
    }
    pub fn attr_i8(&self, name: &str, v: i8) -> Result<(), OutputError> {
        self.put(name, true, vec![], Data::I8(vec![v]))
    }
    pub fn write_i8(&self, name: &str, data: &[i8]) -> Result<(), OutputError> {
        self.put(name, false, vec![data.len()], Data::I8(data.to_vec()))
    }
    pub fn attr_u8(&self, name: &str, v: u8) -> Result<(), OutputError> {
        self.put(name, true, vec![], Data::U8(vec![v]))
    }
    pub fn attr_str(&self, name: &str, v: &str) -> Result<(), OutputError> {
        self.put(name, true, vec![], Data::Str(vec![v.to_string()]))
    }
    pub fn attr_f64_slice(&self, name: &str, v: &[f64]) -> Result<(), OutputError> {
        self.put(name, true, vec![v.len()], Data::F64(v.to_vec()))
    }
    pub fn attr_c64_slice(&self, name: &str, v: &[C64]) -> Result<(), OutputError> {
        self.put(name, true, vec![v.len()], Data::C64(v.to_vec()))
    }
    pub fn attr_i64_slice(&self, name: &str, v: &[i64]) -> Result<(), OutputError> {
        self.put(name, true, vec![v.len()], Data::I64(v.to_vec()))
    }
}
