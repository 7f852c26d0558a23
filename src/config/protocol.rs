//! `[[protocol.step]]` and `[[protocol.event]]`: the schema, its validation,
//! and the [`Protocol`] of a config (docs/physics.md §11, README "Protocols").
//!
//! A change (`set = { "model.delta" = [...] }`) is a list of `--set`
//! overrides of the config's own model section; the parameters after any
//! sequence of changes are those of the config with those overrides, parsed
//! and validated like any config — so a protocol can change exactly what a
//! config can say, with the same checks and messages.

use super::schema::{Config, MkErr};
use super::ConfigError;
use crate::engines::Engine;
use crate::model::{MicroParams, ReducedParams};
use crate::observables::series::Series;
use crate::protocol::{Action, Event, Params, Protocol, Step};
use crate::reduced::Trajectory;
use serde::Deserialize;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(expecting = "a table [protocol] with [[protocol.step]] and [[protocol.event]] entries")]
pub(super) struct RawProtocol {
    step: Option<Vec<RawStep>>,
    event: Option<Vec<RawEvent>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(expecting = "a [[protocol.step]] table (at, set, ramp)")]
struct RawStep {
    at: Option<f64>,
    set: Option<toml::Table>,
    ramp: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(expecting = "a [[protocol.event]] table (observable, above or below, set or action, repeat, name)")]
struct RawEvent {
    name: Option<String>,
    observable: Option<String>,
    above: Option<f64>,
    below: Option<f64>,
    set: Option<toml::Table>,
    action: Option<String>,
    repeat: Option<bool>,
}

/// One change: `(key, --set argument)` of every parameter it sets.
pub type Change = Vec<(String, String)>;

/// A validated protocol: steps and events with their changes as overrides.
#[derive(Debug, Clone, PartialEq)]
pub struct ProtocolSpec {
    pub steps: Vec<(f64, f64, Change)>,
    /// (name, observable, threshold, rising, change or None = stop, repeat).
    pub events: Vec<EventSpec>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EventSpec {
    pub name: String,
    pub observable: String,
    pub threshold: f64,
    pub rising: bool,
    /// `None`: `action = "stop"`.
    pub set: Option<Change>,
    pub repeat: bool,
}

impl EventSpec {
    /// `name: observable above threshold (repeating) -> what it sets, or stop`.
    pub fn describe(&self) -> String {
        let what = match &self.set {
            Some(c) => c.iter().map(|(_, a)| a.as_str()).collect::<Vec<_>>().join(", "),
            None => "stop".into(),
        };
        format!(
            "{}: {} {} {}{} -> {what}",
            self.name,
            self.observable,
            if self.rising { "above" } else { "below" },
            crate::text::short(self.threshold),
            if self.repeat { " (repeating)" } else { "" }
        )
    }
}

impl ProtocolSpec {
    /// All changes: the steps' in order, then the events' (the indices of
    /// [`Protocol`]'s steps and actions).
    pub fn changes(&self) -> Vec<&Change> {
        self.steps.iter().map(|s| &s.2).chain(self.events.iter().filter_map(|e| e.set.as_ref())).collect()
    }

    /// A short text per step, `model.delta=[1.2, -1.2, 0.0]` (the plot's labels).
    pub fn step_labels(&self) -> Vec<String> {
        self.steps.iter().map(|s| s.2.iter().map(|(_, a)| a.as_str()).collect::<Vec<_>>().join(", ")).collect()
    }

    fn shape(&self) -> (Vec<Step>, Vec<Event>) {
        let steps = self.steps.iter().enumerate().map(|(k, s)| Step { at: s.0, ramp: s.1, change: k }).collect();
        let mut next = self.steps.len();
        let events = self
            .events
            .iter()
            .map(|e| Event {
                name: e.name.clone(),
                observable: e.observable.clone(),
                threshold: e.threshold,
                rising: e.rising,
                action: match e.set {
                    Some(_) => {
                        next += 1;
                        Action::Set(next - 1)
                    }
                    None => Action::Stop,
                },
                repeat: e.repeat,
            })
            .collect();
        (steps, events)
    }
}

/// The real observables an engine records (what an event may watch).
pub fn observables(engine: Engine) -> &'static [&'static str] {
    match engine {
        Engine::Master | Engine::Moments | Engine::Trajectories => Series::observables(),
        Engine::Reduced => Trajectory::observables(),
    }
}

/// The section a protocol of this config may change.
fn section(model: bool) -> &'static str {
    if model {
        "model"
    } else {
        "reduced"
    }
}

fn change(table: Option<toml::Table>, key: &str, model: bool, err: MkErr) -> Result<Change, ConfigError> {
    let table = table.ok_or_else(|| err(key, "missing `set = { \"section.key\" = value, ... }`".into()))?;
    if table.is_empty() {
        return Err(err(key, "sets nothing; give at least one \"section.key\" = value".into()));
    }
    let want = section(model);
    let mut out = Vec::new();
    for (k, v) in table {
        let prefix = k.split('.').next().unwrap_or("");
        if prefix != want {
            return Err(err(
                &format!("{key}.\"{k}\""),
                format!(
                    "a protocol of this config changes [{want}] parameters (\"{want}.<key>\"); `{k}` is not one{}",
                    if prefix == "model" || prefix == "reduced" { " (the other section's key)" } else { "" }
                ),
            ));
        }
        if k == "model.cutoffs" || k.starts_with("model.cutoffs[") {
            return Err(err(&format!("{key}.\"{k}\""), "a protocol cannot change the Fock cutoffs (the state space)".into()));
        }
        out.push((k.clone(), format!("{k}={v}")));
    }
    Ok(out)
}

pub(super) fn validate_protocol(
    raw: RawProtocol,
    model: bool,
    t_end: Option<f64>,
    engines: &[Engine],
    err: MkErr,
) -> Result<Option<ProtocolSpec>, ConfigError> {
    let mut steps = Vec::new();
    for (k, s) in raw.step.unwrap_or_default().into_iter().enumerate() {
        let key = format!("protocol.step[{k}]");
        let at = s.at.ok_or_else(|| err(&format!("{key}.at"), "missing: the time of the step".into()))?;
        if !(at.is_finite() && at >= 0.0) {
            return Err(err(&format!("{key}.at"), format!("value {at} must be a finite time >= 0")));
        }
        if let Some(t_end) = t_end {
            if at > t_end {
                return Err(err(&format!("{key}.at"), format!("value {at} is past t_end = {t_end}")));
            }
        }
        let ramp = s.ramp.unwrap_or(0.0);
        if !(ramp.is_finite() && ramp >= 0.0) {
            return Err(err(&format!("{key}.ramp"), format!("value {ramp} must be a finite duration >= 0")));
        }
        if let Some(&(prev, prev_ramp, _)) = steps.last() {
            if at <= prev {
                return Err(err(&format!("{key}.at"), format!("value {at}: step times must increase (the previous step is at {prev})")));
            }
            if prev + prev_ramp > at {
                return Err(err(
                    &format!("{key}.at"),
                    format!("value {at}: the previous step's ramp runs until {}; steps may not overlap", prev + prev_ramp),
                ));
            }
        }
        if let Some(t_end) = t_end {
            if at + ramp > t_end {
                return Err(err(&format!("{key}.ramp"), format!("the ramp ends at {} past t_end = {t_end}", at + ramp)));
            }
        }
        steps.push((at, ramp, change(s.set, &format!("{key}.set"), model, err)?));
    }
    let mut events = Vec::new();
    for (k, e) in raw.event.unwrap_or_default().into_iter().enumerate() {
        let key = format!("protocol.event[{k}]");
        let observable = e.observable.ok_or_else(|| err(&format!("{key}.observable"), "missing: the observable to watch".into()))?;
        for &engine in engines {
            let names = observables(engine);
            if !names.contains(&observable.as_str()) {
                return Err(err(
                    &format!("{key}.observable"),
                    format!("\"{observable}\" is not a real observable of engine \"{}\" (one of: {})", engine.name(), names.join(", ")),
                ));
            }
        }
        let (threshold, rising) = match (e.above, e.below) {
            (Some(x), None) => (x, true),
            (None, Some(x)) => (x, false),
            (Some(_), Some(_)) => return Err(err(&key, "give one of `above` and `below`, not both".into())),
            (None, None) => return Err(err(&key, "missing `above = ...` or `below = ...`: the threshold".into())),
        };
        if !threshold.is_finite() {
            return Err(err(&format!("{key}.{}", if rising { "above" } else { "below" }), format!("value {threshold} must be finite")));
        }
        let set = match (e.set, e.action.as_deref()) {
            (Some(t), None) => Some(change(Some(t), &format!("{key}.set"), model, err)?),
            (None, Some("stop")) => None,
            (None, Some(other)) => return Err(err(&format!("{key}.action"), format!("\"{other}\" is not an action (the action is \"stop\")"))),
            (Some(_), Some(_)) => return Err(err(&key, "give one of `set` and `action`, not both".into())),
            (None, None) => return Err(err(&key, "missing `set = { ... }` or `action = \"stop\"`: what the event does".into())),
        };
        let name = e.name.unwrap_or_else(|| format!("event{k}"));
        events.push(EventSpec { name, observable, threshold, rising, set, repeat: e.repeat.unwrap_or(false) });
    }
    Ok((!steps.is_empty() || !events.is_empty()).then_some(ProtocolSpec { steps, events }))
}

/// Re-parses the config with overrides (for the resolver).
type Reparse = Arc<dyn Fn(&[String]) -> Result<Config, ConfigError> + Send + Sync>;

/// The protocol of `cfg` for parameters `P` taken from each re-parsed config by `pick`.
fn build<P: Params + 'static>(
    cfg: &Config,
    pick: fn(&Config) -> Option<P>,
) -> Option<Protocol<P>> {
    let spec = cfg.protocol.as_ref()?;
    let (steps, events) = spec.shape();
    let changes: Vec<Change> = spec.changes().into_iter().cloned().collect();
    let text = cfg.effective_text.clone();
    let file: PathBuf = cfg.file.clone();
    let reparse: Reparse = Arc::new(move |ov| super::parse_point(&text, &file, ov));
    let cache: Mutex<HashMap<Vec<usize>, P>> = Mutex::new(HashMap::new());
    let resolve = Arc::new(move |applied: &[usize]| -> Result<P, String> {
        if let Some(p) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(applied) {
            return Ok(p.clone());
        }
        let ov: Vec<String> = applied.iter().flat_map(|&c| changes[c].iter().map(|(_, a)| a.clone())).collect();
        let c = reparse(&ov).map_err(|e| format!("protocol: the parameters after {} are invalid: {}", describe(&ov), e.message))?;
        let p = pick(&c).ok_or_else(|| "protocol: the changed config has no parameters".to_string())?;
        cache.lock().unwrap_or_else(|e| e.into_inner()).insert(applied.to_vec(), p.clone());
        Ok(p)
    });
    Some(Protocol::new(steps, events, resolve))
}

fn describe(ov: &[String]) -> String {
    if ov.is_empty() {
        "no change".into()
    } else {
        ov.join(", ")
    }
}

impl Config {
    /// The protocol of a `[model]` config (constant if it has none).
    pub fn micro_protocol(&self) -> Option<Protocol<MicroParams>> {
        let p = self.model?;
        Some(build(self, |c| c.model).unwrap_or_else(|| Protocol::constant(p)))
    }

    /// The protocol of a `[reduced]` config (constant if it has none).
    pub fn reduced_protocol(&self) -> Option<Protocol<ReducedParams>> {
        let p = self.reduced?;
        Some(build(self, |c| c.reduced).unwrap_or_else(|| Protocol::constant(p)))
    }
}
