//! The settings of a `train` block, read and checked. Every rule accepts
//! the settings of every other rule (so that `--rule backprop` trains a
//! model written for `dtp` without editing it) but each value must make
//! sense; an unknown key or a wrong value is an error naming the setting.

use tx_ir::{Setting, TrainSpec};

use crate::feedback::Feedback;
use crate::optimizer::{Optimizer, PhaseSchedule, Schedule};
use crate::target::TargetSettings;

/// The learning rules a `train` block may name, in the order tables list
/// them: backprop, then the feedback-alignment and target-propagation
/// families.
pub const RULES: [&str; 7] = ["backprop", "fa", "dfa", "tp", "dtp", "sdtp", "ao_sdtp"];

/// Settings every rule understands.
const COMMON_KEYS: [&str; 7] = ["epochs", "batch", "optimizer", "lr_schedule", "weight_decay", "seed", "forward"];
/// Settings of the feedback-alignment rules (read by them; accepted by all).
const FEEDBACK_ALIGNMENT_KEYS: [&str; 2] = ["feedback_seed", "feedback_scale"];
/// Settings of the target-propagation rules (read by them; accepted by all).
const TARGET_PROPAGATION_KEYS: [&str; 7] =
    ["top_step", "noise", "schedule", "inverse", "noise_decay", "reference_quirks", "aux_units"];

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
    /// The optimizer of the forward parameters of backprop, `fa` and
    /// `dfa`: `optimizer`, else `forward`.
    pub optimizer: Optimizer,
    /// The optimizer of the forward parameters of the target-propagation
    /// rules: `forward`, else `optimizer` (a model may name both, one for
    /// its backprop baseline).
    pub forward: Optimizer,
    /// The optimizer of the inverse parameters: `inverse`, else `forward`.
    pub inverse: Optimizer,
    pub lr_schedule: Schedule,
    pub weight_decay: f64,
    pub seed: u64,
    /// The fixed random matrices of `fa` and `dfa` (and the random
    /// features of `ao_sdtp`).
    pub feedback: Feedback,
    /// The settings of the target-propagation rules.
    pub target: TargetSettings,
}

impl TrainConfig {
    /// The defaults for a model without a `train` block.
    pub fn default_for(rule: &str) -> TrainConfig {
        TrainConfig {
            rule: rule.to_string(),
            epochs: 10,
            batch: 32,
            optimizer: Optimizer::Sgd { lr: 0.1 },
            forward: Optimizer::Sgd { lr: 0.1 },
            inverse: Optimizer::Sgd { lr: 0.1 },
            lr_schedule: Schedule::Constant,
            weight_decay: 0.0,
            seed: 0,
            feedback: Feedback::default(),
            target: TargetSettings::default(),
        }
    }
}

/// Reads a `train` block; all problems are reported, not just the first.
pub fn read_spec(spec: &TrainSpec) -> Result<TrainConfig, Vec<SpecError>> {
    let mut config = TrainConfig::default_for(&spec.rule);
    let mut errors = Vec::new();
    // `optimizer`, `forward`, `inverse`: resolved once all are read.
    let mut optimizers: [Option<Optimizer>; 3] = [None, None, None];
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
                Ok(optimizer) => match key {
                    "optimizer" => optimizers[0] = Some(optimizer),
                    "forward" => optimizers[1] = Some(optimizer),
                    _ => optimizers[2] = Some(optimizer),
                },
                Err(message) => fail(key, message),
            },
            "lr_schedule" => match Schedule::from_setting(value) {
                Ok(schedule) => config.lr_schedule = schedule,
                Err(message) => fail(key, message),
            },
            "top_step" => match number(value) {
                Some(v) if v > 0.0 && v.is_finite() => config.target.top_step = v,
                _ => fail(key, format!("`top_step` must be a positive number, not {value}")),
            },
            "noise" => {
                let sigmas: Option<Vec<f64>> = match value {
                    Setting::List(items) if !items.is_empty() => items.iter().map(sigma).collect(),
                    Setting::List(_) => None,
                    other => sigma(other).map(|s| vec![s]),
                };
                match sigmas {
                    Some(sigmas) => config.target.noise = sigmas,
                    None => fail(key, format!("`noise` must be a number of 0 or more, or a list of them, not {value}")),
                }
            }
            "noise_decay" => match number(value) {
                Some(v) if v > 0.0 && v.is_finite() => config.target.noise_decay = Some(v),
                _ => fail(key, format!("`noise_decay` must be a positive number of epochs, not {value}")),
            },
            "schedule" => match value {
                Setting::Name(n) if n == "alternating" => config.target.schedule = PhaseSchedule::Alternating,
                Setting::Name(n) if n == "parallel" => config.target.schedule = PhaseSchedule::Parallel,
                _ => fail(key, format!("`schedule` must be `alternating` or `parallel`, not {value}")),
            },
            "reference_quirks" => match value {
                Setting::Bool(b) => config.target.reference_quirks = *b,
                _ => fail(key, format!("`reference_quirks` must be `true` or `false`, not {value}")),
            },
            "aux_units" => match positive_int(value) {
                Some(n) => config.target.aux_units = n,
                None => fail(key, format!("`aux_units` must be a whole number of 1 or more, not {value}")),
            },
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
    let [optimizer, forward, inverse] = optimizers;
    let default = config.optimizer.clone();
    config.optimizer = optimizer.clone().or_else(|| forward.clone()).unwrap_or_else(|| default.clone());
    config.forward = forward.or(optimizer).unwrap_or(default);
    config.inverse = inverse.unwrap_or_else(|| config.forward.clone());
    if errors.is_empty() { Ok(config) } else { Err(errors) }
}

fn sigma(value: &Setting) -> Option<f64> {
    number(value).filter(|v| *v >= 0.0 && v.is_finite())
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
    fn reads_the_target_propagation_settings() {
        let defaults = read_spec(&spec(vec![])).unwrap();
        assert_eq!(defaults.target, TargetSettings::default());
        let config = read_spec(&spec(vec![
            ("top_step", Setting::Float(0.3277)),
            ("noise", Setting::List(vec![Setting::Float(0.1), Setting::Int(0)])),
            ("noise_decay", Setting::Int(50)),
            ("schedule", Setting::Name("parallel".into())),
            ("reference_quirks", Setting::Bool(true)),
            ("aux_units", Setting::Int(16)),
        ]))
        .unwrap();
        let expected = TargetSettings {
            top_step: 0.3277,
            noise: vec![0.1, 0.0],
            noise_decay: Some(50.0),
            schedule: PhaseSchedule::Parallel,
            reference_quirks: true,
            aux_units: 16,
        };
        assert_eq!(config.target, expected);
        let errors = read_spec(&spec(vec![
            ("top_step", Setting::Int(0)),
            ("noise", Setting::List(vec![])),
            ("noise_decay", Setting::Float(-1.0)),
            ("reference_quirks", Setting::Int(1)),
            ("aux_units", Setting::Float(2.5)),
        ]))
        .unwrap_err();
        let messages: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(messages.len(), 5, "{messages:?}");
        assert!(messages[0].contains("`top_step` must be a positive number"));
        assert!(messages[1].contains("`noise` must be a number of 0 or more"));
        assert!(messages[2].contains("`noise_decay` must be a positive number of epochs"));
        assert!(messages[3].contains("`reference_quirks` must be `true` or `false`"));
        assert!(messages[4].contains("`aux_units` must be a whole number"));
    }

    /// `optimizer` is backprop's, `forward` target propagation's; each
    /// stands in for the other, and `inverse` defaults to the forward one.
    #[test]
    fn each_rule_family_reads_its_optimizer() {
        let sgd = |lr: f64| call("sgd", vec![("lr", Setting::Float(lr))]);
        let both =
            read_spec(&spec(vec![("forward", sgd(0.2)), ("optimizer", sgd(0.1)), ("inverse", sgd(0.3))])).unwrap();
        assert_eq!(
            (both.optimizer, both.forward, both.inverse),
            (Optimizer::Sgd { lr: 0.1 }, Optimizer::Sgd { lr: 0.2 }, Optimizer::Sgd { lr: 0.3 })
        );
        let only = read_spec(&spec(vec![("optimizer", sgd(0.1))])).unwrap();
        assert_eq!((only.forward.clone(), only.inverse), (Optimizer::Sgd { lr: 0.1 }, Optimizer::Sgd { lr: 0.1 }));
        let forward = read_spec(&spec(vec![("forward", sgd(0.2))])).unwrap();
        assert_eq!((forward.optimizer, forward.inverse), (Optimizer::Sgd { lr: 0.2 }, Optimizer::Sgd { lr: 0.2 }));
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
