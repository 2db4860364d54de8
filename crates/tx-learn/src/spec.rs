//! The settings of a `train` block, read and checked. Every rule accepts
//! the settings of every other rule (so that `--rule backprop` trains a
//! model written for `dtp` without editing it) but each value must make
//! sense; an unknown key or a wrong value is an error naming the setting.

use tx_ir::{Setting, TrainSpec};

use crate::feedback::Feedback;
use crate::optimizer::{Optimizer, Schedule};

/// Settings every rule understands.
const COMMON_KEYS: [&str; 7] = ["epochs", "batch", "optimizer", "lr_schedule", "weight_decay", "seed", "forward"];
/// Settings of the feedback-alignment rules (read by them; accepted by all).
const FEEDBACK_ALIGNMENT_KEYS: [&str; 2] = ["feedback_seed", "feedback_scale"];
/// Settings of the target-propagation rules (read by them; accepted by all).
const TARGET_PROPAGATION_KEYS: [&str; 4] = ["top_step", "noise", "schedule", "inverse"];

/// A problem with one setting (or with the block when `key` is `None`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecError {
    pub key: Option<String>,
    pub message: String,
}

/// What a `train` block asks for, with defaults filled in.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainConfig {
    pub rule: String,
    pub epochs: usize,
    pub batch: usize,
    /// The optimizer of the forward parameters: `optimizer`, else `forward`.
    pub optimizer: Optimizer,
    pub lr_schedule: Schedule,
    pub weight_decay: f64,
    pub seed: u64,
    /// The fixed random matrices of `fa` and `dfa`.
    pub feedback: Feedback,
}

impl TrainConfig {
    /// The defaults for a model without a `train` block.
    pub fn default_for(rule: &str) -> TrainConfig {
        TrainConfig {
            rule: rule.to_string(),
            epochs: 10,
            batch: 32,
            optimizer: Optimizer::Sgd { lr: 0.1 },
            lr_schedule: Schedule::Constant,
            weight_decay: 0.0,
            seed: 0,
            feedback: Feedback::default(),
        }
    }
}

/// Reads a `train` block; all problems are reported, not just the first.
pub fn read_spec(spec: &TrainSpec) -> Result<TrainConfig, Vec<SpecError>> {
    let mut config = TrainConfig::default_for(&spec.rule);
    let mut errors = Vec::new();
    let mut fail = |key: &str, message: String| errors.push(SpecError { key: Some(key.to_string()), message });
    for (key, value) in &spec.settings {
        let key = key.as_str();
        match key {
            "epochs" => match positive_int(value) {
                Some(n) => config.epochs = n,
                None => fail(key, format!("`epochs` must be a whole number of 1 or more, not {value}")),
            },
            "batch" => match positive_int(value) {
                Some(n) => config.batch = n,
                None => fail(key, format!("`batch` must be a whole number of 1 or more, not {value}")),
            },
            "seed" => match value {
                Setting::Int(n) if *n >= 0 => config.seed = *n as u64,
                _ => fail(key, format!("`seed` must be a whole number of 0 or more, not {value}")),
            },
            "feedback_seed" => match value {
                Setting::Int(n) if *n >= 0 => config.feedback.seed = *n as u64,
                _ => fail(key, format!("`feedback_seed` must be a whole number of 0 or more, not {value}")),
            },
            "feedback_scale" => match number(value) {
                Some(v) if v > 0.0 && v.is_finite() => config.feedback.scale = v,
                _ => fail(key, format!("`feedback_scale` must be a positive number, not {value}")),
            },
            "weight_decay" => match number(value) {
                Some(v) if v >= 0.0 => config.weight_decay = v,
                _ => fail(key, format!("`weight_decay` must be a number of 0 or more, not {value}")),
            },
            "optimizer" | "forward" | "inverse" => match Optimizer::from_setting(value) {
                Ok(optimizer) if key == "optimizer" || (key == "forward" && spec.get("optimizer").is_none()) => {
                    config.optimizer = optimizer;
                }
                Ok(_) => {}
                Err(message) => fail(key, message),
            },
            "lr_schedule" => match Schedule::from_setting(value) {
                Ok(schedule) => config.lr_schedule = schedule,
                Err(message) => fail(key, message),
            },
            "top_step" => {
                if !number(value).is_some_and(|v| v > 0.0) {
                    fail(key, format!("`top_step` must be a positive number, not {value}"));
                }
            }
            "noise" => {
                let ok = match value {
                    Setting::List(items) => items.iter().all(|i| number(i).is_some_and(|v| v >= 0.0)),
                    other => number(other).is_some_and(|v| v >= 0.0),
                };
                if !ok {
                    fail(key, format!("`noise` must be a number of 0 or more, or a list of them, not {value}"));
                }
            }
            "schedule" => {
                if !matches!(value, Setting::Name(n) if n == "alternating" || n == "parallel") {
                    fail(key, format!("`schedule` must be `alternating` or `parallel`, not {value}"));
                }
            }
            _ => {
                let known: Vec<&str> = COMMON_KEYS
                    .iter()
                    .chain(&FEEDBACK_ALIGNMENT_KEYS)
                    .chain(&TARGET_PROPAGATION_KEYS)
                    .copied()
                    .collect();
                fail(key, format!("unknown setting `{key}`; the settings are {}", known.join(", ")));
            }
        }
    }
    if errors.is_empty() { Ok(config) } else { Err(errors) }
}

fn positive_int(value: &Setting) -> Option<usize> {
    match value {
        Setting::Int(n) if *n >= 1 => usize::try_from(*n).ok(),
        _ => None,
    }
}

pub(crate) fn number(value: &Setting) -> Option<f64> {
    match value {
        Setting::Int(n) => Some(*n as f64),
        Setting::Float(v) => Some(*v),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(settings: Vec<(&str, Setting)>) -> TrainSpec {
        TrainSpec { rule: "backprop".into(), settings: settings.into_iter().map(|(k, v)| (k.to_string(), v)).collect() }
    }

    fn call(name: &str, args: Vec<(&str, Setting)>) -> Setting {
        Setting::Call { name: name.into(), args: args.into_iter().map(|(k, v)| (Some(k.to_string()), v)).collect() }
    }

    #[test]
    fn reads_settings_with_defaults() {
        let config = read_spec(&spec(vec![
            ("epochs", Setting::Int(3)),
            ("optimizer", call("adam", vec![("lr", Setting::Float(0.01))])),
            ("lr_schedule", call("step", vec![("every", Setting::Int(2)), ("gamma", Setting::Float(0.5))])),
            ("noise", Setting::List(vec![Setting::Float(0.1)])),
        ]))
        .unwrap();
        assert_eq!(config.epochs, 3);
        assert_eq!(config.batch, 32);
        assert_eq!(config.optimizer, Optimizer::Adam { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8 });
        assert_eq!(config.lr_schedule, Schedule::Step { every: 2, gamma: 0.5 });
    }

    #[test]
    fn reads_the_feedback_matrices_settings() {
        assert_eq!(read_spec(&spec(vec![])).unwrap().feedback, Feedback { seed: 0, scale: 1.0 });
        let config =
            read_spec(&spec(vec![("feedback_seed", Setting::Int(9)), ("feedback_scale", Setting::Float(0.5))]))
                .unwrap();
        assert_eq!(config.feedback, Feedback { seed: 9, scale: 0.5 });
        let errors =
            read_spec(&spec(vec![("feedback_seed", Setting::Float(1.5)), ("feedback_scale", Setting::Int(0))]))
                .unwrap_err();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].message.contains("`feedback_seed` must be a whole number"));
        assert!(errors[1].message.contains("`feedback_scale` must be a positive number"));
    }

    #[test]
    fn forward_is_the_optimizer_when_none_is_named() {
        let forward = call("rmsprop", vec![("lr", Setting::Float(0.01)), ("centered", Setting::Bool(true))]);
        let config = read_spec(&spec(vec![("forward", forward)])).unwrap();
        assert!(matches!(config.optimizer, Optimizer::RmsProp { centered: true, .. }));
    }

    #[test]
    fn reports_every_bad_setting() {
        let errors = read_spec(&spec(vec![
            ("epochs", Setting::Int(0)),
            ("optimizer", call("adamw", vec![])),
            ("lrate", Setting::Float(0.1)),
            ("schedule", Setting::Name("sometimes".into())),
        ]))
        .unwrap_err();
        let messages: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(messages.len(), 4, "{messages:?}");
        assert!(messages[0].contains("`epochs` must be"));
        assert!(messages[1].contains("unknown optimizer `adamw`"));
        assert!(messages[2].contains("unknown setting `lrate`"));
        assert!(messages[3].contains("`alternating` or `parallel`"));
    }
}
