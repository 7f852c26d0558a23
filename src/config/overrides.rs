//! `--set KEY=VALUE` overrides applied to the TOML document.
//!
//! KEY is a dotted path with optional array indices (`model.kappa[2]`); VALUE is
//! any TOML value (`0.4`, `[1, 2]`, `{ start = 0, stop = 1, n = 5 }`), and a bare
//! word that is not valid TOML is taken as a string (`output.path=run.h5`).

use toml_edit::{DocumentMut, Item, Value};

/// (key, `--set` argument) of every override applied.
pub type Applied = Vec<(String, String)>;

/// Returns the effective TOML text and, for every override, (key, argument);
/// an error is (the offending argument, the reason).
pub fn apply(text: &str, overrides: &[String]) -> Result<(String, Applied), (String, String)> {
    let mut doc: DocumentMut = text.parse().map_err(|e| (String::new(), format!("config is not valid TOML: {e}")))?;
    let mut seen = Vec::new();
    for arg in overrides {
        let err = |m: String| (arg.clone(), m);
        let (key, value) =
            arg.split_once('=').ok_or_else(|| err("expected KEY=VALUE, e.g. --set reduced.delta_r=0.4".into()))?;
        let key = key.trim();
        let value = parse_value(value.trim());
        set_path(doc.as_item_mut(), key, value).map_err(err)?;
        seen.push((key.split('[').next().unwrap_or(key).to_string(), arg.clone()));
    }
    Ok((doc.to_string(), seen))
}

fn parse_value(s: &str) -> Value {
    match s.parse::<Value>() {
        Ok(v) => v,
        Err(_) => Value::from(s),
    }
}

/// One path segment: a key with optional indices, `kappa[2]` → ("kappa", [2]).
fn split_segment(seg: &str) -> Result<(&str, Vec<usize>), String> {
    let mut parts = seg.split('[');
    let name = parts.next().unwrap_or("");
    if name.is_empty() {
        return Err(format!("empty key segment in `{seg}`"));
    }
    let idx = parts
        .map(|p| {
            p.strip_suffix(']')
                .and_then(|n| n.trim().parse::<usize>().ok())
                .ok_or_else(|| format!("bad index `[{p}` in `{seg}` (expected e.g. kappa[2])"))
        })
        .collect::<Result<_, _>>()?;
    Ok((name, idx))
}

/// Sets `path` inside `root`, creating tables on the way; arrays must exist.
/// A numeric segment indexes an array of tables (`protocol.event.0.above`).
pub fn set_path(root: &mut Item, path: &str, value: Value) -> Result<(), String> {
    let segs: Vec<&str> = path.split('.').collect();
    if segs.iter().any(|s| s.trim().is_empty()) {
        return Err(format!("bad key `{path}`"));
    }
    let table = root.as_table_like_mut().ok_or_else(|| "the config is not a table".to_string())?;
    set_in(table, &segs, 0, path, value)
}

fn set_in(table: &mut dyn toml_edit::TableLike, segs: &[&str], i: usize, path: &str, value: Value) -> Result<(), String> {
    let (name, idx) = split_segment(segs[i].trim())?;
    let last = i + 1 == segs.len();
    if last && idx.is_empty() {
        let decor_keep = table.get(name).and_then(|it| it.as_value()).map(|v| v.decor().clone());
        let mut v = value;
        if let Some(d) = decor_keep {
            *v.decor_mut() = d;
        }
        table.insert(name, Item::Value(v));
        return Ok(());
    }
    // `name.N.rest`: entry N of an array of tables.
    if let Some(n) = segs.get(i + 1).and_then(|s| s.trim().parse::<usize>().ok()).filter(|_| idx.is_empty()) {
        let item = table.get_mut(name).ok_or_else(|| format!("`{name}` is not set in the config, so `{name}.{n}` does not exist"))?;
        if i + 2 == segs.len() {
            return Err(format!("`{path}`: give a key inside entry {n} of `{name}`, e.g. `{name}.{n}.at`"));
        }
        let count = item.as_array_of_tables().map(|a| a.len());
        let entry = item
            .as_array_of_tables_mut()
            .ok_or_else(|| format!("`{name}` is not an array of tables ([[{name}]]), cannot index it"))?
            .get_mut(n)
            .ok_or_else(|| format!("index {n} out of range: `{name}` has {} entries (from 0)", count.unwrap_or(0)))?;
        return set_in(entry, segs, i + 2, path, value);
    }
    if table.get(name).is_none() {
        if !idx.is_empty() {
            return Err(format!("`{name}` is not set in the config, so `{}` cannot be indexed", segs[i]));
        }
        table.insert(name, Item::Table(toml_edit::Table::new()));
    }
    let item = table.get_mut(name).ok_or_else(|| format!("cannot reach `{name}`"))?;
    if let Some(&ix) = idx.first() {
        if !last || idx.len() > 1 {
            return Err(format!("only the last key may be indexed (`{path}`)"));
        }
        let arr = item.as_array_mut().ok_or_else(|| format!("`{name}` is not an array, cannot index it"))?;
        let len = arr.len();
        let decor = arr.get(ix).map(|v| v.decor().clone()).ok_or_else(|| format!("index {ix} out of range: `{name}` has {len} elements"))?;
        let mut v = value;
        *v.decor_mut() = decor;
        arr.replace(ix, v);
        return Ok(());
    }
    let next = item.as_table_like_mut().ok_or_else(|| format!("`{}` is not a table", segs[..=i].join(".")))?;
    set_in(next, segs, i + 1, path, value)
}
