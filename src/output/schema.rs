//! The schema of qbsim's files is the tables of `docs/output.md`, compiled
//! in: every dataset written gets the `units` and `description` of its row as
//! attributes, so a file describes itself and cannot drift from the
//! documentation (a test checks that every dataset of every kind of file has
//! a row). Rows: `| path | kind | type | shape | units | meaning |`.

use std::sync::OnceLock;

static DOC: &str = include_str!("../../docs/output.md");

/// One documented dataset or attribute.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// `/master/n_b`, `/master/@steps`, `/sweep/params/<key>` (a `<...>`
    /// segment matches any name).
    pub path: String,
    pub attribute: bool,
    pub dtype: String,
    pub shape: String,
    pub units: String,
    pub description: String,
}

/// Every row of the documentation's tables, plus the rows of the event
/// samples: every `[n_save]` series of an engine group `/g` has a twin
/// `/g/events/<name>` (`[n_events]`, the same units) holding its values at
/// each event firing (docs/output.md, "Protocols").
pub fn entries() -> &'static [Entry] {
    static TABLE: OnceLock<Vec<Entry>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let rows: Vec<Entry> = DOC.lines().filter_map(parse_row).collect();
        let twins: Vec<Entry> = rows
            .iter()
            .filter(|e| !e.attribute && e.shape == "[n_save]" && EVENT_GROUPS.iter().any(|g| e.path.starts_with(&format!("{g}/"))))
            .map(|e| {
                let (group, name) = e.path.rsplit_once('/').unwrap_or(("", &e.path));
                Entry {
                    path: format!("{group}/events/{name}"),
                    shape: "[n_events]".into(),
                    description: format!("at each event firing: {}", e.description),
                    ..e.clone()
                }
            })
            .collect();
        rows.into_iter().chain(twins).collect()
    })
}

/// Engine groups whose series have event-sample twins.
const EVENT_GROUPS: [&str; 3] = ["/master", "/moments", "/reduced"];

/// Markdown inline code and emphasis removed, for plain-text attributes.
fn plain(cell: &str) -> String {
    cell.trim().replace('`', "")
}

fn parse_row(line: &str) -> Option<Entry> {
    let cells: Vec<&str> = line.strip_prefix('|')?.strip_suffix('|')?.split(" | ").collect();
    let [path, kind, dtype, shape, units, meaning @ ..] = cells.as_slice() else { return None };
    let path = path.trim().strip_prefix('`')?.strip_suffix('`')?;
    if !path.starts_with('/') || meaning.is_empty() {
        return None;
    }
    let attribute = match kind.trim() {
        "dataset" => false,
        "attribute" => true,
        _ => return None,
    };
    // An empty units cell: dimensionless, or text for strings.
    let units = match (plain(units), dtype.trim()) {
        (u, _) if !u.is_empty() => u,
        (_, "string") => "text".to_string(),
        _ => "1".to_string(),
    };
    Some(Entry {
        path: path.to_string(),
        attribute,
        dtype: dtype.trim().to_string(),
        shape: plain(shape),
        units,
        description: plain(&meaning.join(" | ")),
    })
}

fn matches(pattern: &str, path: &str) -> bool {
    let (p, q): (Vec<&str>, Vec<&str>) = (pattern.split('/').collect(), path.split('/').collect());
    p.len() == q.len() && p.iter().zip(&q).all(|(a, b)| a == b || (a.starts_with('<') && a.ends_with('>')))
}

/// The row that documents dataset `name` of `group`: its own, or — in a
/// sweep file, where every attribute `/g/@y` of a run became a dataset
/// `/g/y` (or `/g/y_attr`) with a leading point axis — that attribute's.
pub fn dataset(group: &str, name: &str) -> Option<&'static Entry> {
    let base = group.trim_end_matches('/');
    let path = format!("{base}/{name}");
    let find = |p: &str, attribute: bool| entries().iter().find(|e| e.attribute == attribute && matches(&e.path, p));
    find(&path, false)
        .or_else(|| find(&format!("{base}/@{name}"), true))
        .or_else(|| name.strip_suffix("_attr").and_then(|n| find(&format!("{base}/@{n}"), true)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_dataset_has_units_and_a_description() {
        let datasets: Vec<&Entry> = entries().iter().filter(|e| !e.attribute).collect();
        assert!(datasets.len() > 60, "only {} dataset rows parsed", datasets.len());
        for e in datasets {
            assert!(!e.units.is_empty() && !e.description.is_empty(), "{e:?}");
        }
    }

    #[test]
    fn lookup_finds_datasets_stacked_attributes_and_patterns() {
        assert_eq!(dataset("/master", "n_b").unwrap().units, "quanta");
        // A sweep file stacks /master/@steps into the dataset /master/steps.
        assert!(dataset("/master", "steps").unwrap().attribute);
        assert_eq!(dataset("/sweep/params", "model.kappa[2]").unwrap().path, "/sweep/params/<key>");
        assert!(dataset("/master", "no_such_thing").is_none());
    }
}
