//! Optimizers as update graphs. Each optimizer's state (velocities,
//! moments, the step counter) is held in parameters of its own, named
//! `<param>.<slot>` (names a program cannot write), frozen so that no rule
//! trains them; every new value is a node computed from the values before
//! the step. The learning rate is computed in the graph from the step
//! counter, so schedules need nothing from the driver.

use tx_ir::{BinaryOp, DType, Graph, GraphError, Init, Model, NodeId, Op, Scalar, Setting, Shape, Type, UnaryOp};

use crate::LearnError;
use crate::rule::Rule;
use crate::spec::{TrainConfig, number};

/// How gradients become parameter steps.
#[derive(Clone, Debug, PartialEq)]
pub enum Optimizer {
    /// θ ← θ − lr·g
    Sgd { lr: f64 },
    /// v ← μv + g; θ ← θ − lr·v (Nesterov: θ ← θ − lr·(g + μv)).
    Momentum { lr: f64, momentum: f64, nesterov: bool },
    /// Adam with bias correction (Kingma and Ba).
    Adam { lr: f64, beta1: f64, beta2: f64, eps: f64 },
    /// s ← ρs + (1−ρ)g²; centred: a ← ρa + (1−ρ)g and the step divides by
    /// sqrt(s − a² + ε) (the variant of the original DTP code), else by
    /// sqrt(s + ε); with momentum the step goes through a velocity.
    RmsProp { lr: f64, decay: f64, eps: f64, momentum: f64, centered: bool },
}

impl Optimizer {
    pub fn lr(&self) -> f64 {
        match self {
            Optimizer::Sgd { lr }
            | Optimizer::Momentum { lr, .. }
            | Optimizer::Adam { lr, .. }
            | Optimizer::RmsProp { lr, .. } => *lr,
        }
    }

    /// `sgd(lr = 0.1)`, `momentum(lr = 0.1, momentum = 0.9, nesterov = true)`,
    /// `adam(lr = 0.001, beta1 = 0.9, beta2 = 0.999, eps = 1e-8)`,
    /// `rmsprop(lr = 0.01, decay = 0.9, eps = 1e-8, momentum = 0, centered = false)`.
    pub fn from_setting(value: &Setting) -> Result<Optimizer, String> {
        let (name, args) = match value {
            Setting::Call { name, args } => (name.as_str(), args.as_slice()),
            Setting::Name(name) => (name.as_str(), &[][..]),
            other => return Err(format!("an optimizer is a call such as `adam(lr = 0.001)`, not {other}")),
        };
        let params: &[&str] = match name {
            "sgd" => &["lr"],
            "momentum" => &["lr", "momentum", "nesterov"],
            "adam" => &["lr", "beta1", "beta2", "eps"],
            "rmsprop" => &["lr", "decay", "eps", "momentum", "centered"],
            _ => return Err(format!("unknown optimizer `{name}`; expected sgd, momentum, adam or rmsprop")),
        };
        let mut given: Vec<(&str, &Setting)> = Vec::new();
        for (i, (key, value)) in args.iter().enumerate() {
            let key = match key {
                Some(k) => k.as_str(),
                None => *params.get(i).ok_or_else(|| format!("`{name}` takes at most {} arguments", params.len()))?,
            };
            if !params.contains(&key) {
                return Err(format!("`{name}` has no setting `{key}`; its settings are {}", params.join(", ")));
            }
            given.push((key, value));
        }
        let get = |key: &str, default: f64, check: fn(f64) -> bool, what: &str| -> Result<f64, String> {
            match given.iter().find(|(k, _)| *k == key) {
                None => Ok(default),
                Some((_, v)) => match number(v) {
                    Some(x) if check(x) => Ok(x),
                    _ => Err(format!("`{key}` of `{name}` must be {what}, not {v}")),
                },
            }
        };
        let flag = |key: &str| -> Result<bool, String> {
            match given.iter().find(|(k, _)| *k == key) {
                None => Ok(false),
                Some((_, Setting::Bool(b))) => Ok(*b),
                Some((_, v)) => Err(format!("`{key}` of `{name}` must be `true` or `false`, not {v}")),
            }
        };
        let positive = |x: f64| x > 0.0;
        let fraction = |x: f64| (0.0..1.0).contains(&x);
        let default_lr = match name {
            "adam" => 0.001,
            "rmsprop" => 0.01,
            _ => 0.1,
        };
        let lr = get("lr", default_lr, positive, "a positive number")?;
        Ok(match name {
            "sgd" => Optimizer::Sgd { lr },
            "momentum" => Optimizer::Momentum {
                lr,
                momentum: get("momentum", 0.9, fraction, "a number in [0, 1)")?,
                nesterov: flag("nesterov")?,
            },
            "adam" => Optimizer::Adam {
                lr,
                beta1: get("beta1", 0.9, fraction, "a number in [0, 1)")?,
                beta2: get("beta2", 0.999, fraction, "a number in [0, 1)")?,
                eps: get("eps", 1e-8, positive, "a positive number")?,
            },
            _ => Optimizer::RmsProp {
                lr,
                decay: get("decay", 0.9, fraction, "a number in [0, 1)")?,
                eps: get("eps", 1e-8, positive, "a positive number")?,
                momentum: get("momentum", 0.0, fraction, "a number in [0, 1)")?,
                centered: flag("centered")?,
            },
        })
    }
}

/// How the learning rate changes from epoch to epoch.
#[derive(Clone, Debug, PartialEq)]
pub enum Schedule {
    Constant,
    /// lr · gamma^⌊epoch / every⌋
    Step {
        every: usize,
        gamma: f64,
    },
    /// min_lr + (lr − min_lr)·(1 + cos(π·epoch/epochs))/2 over the run.
    Cosine {
        min_lr: f64,
    },
}

impl Schedule {
    /// `constant`, `step(every = 10, gamma = 0.5)`, `cosine(min_lr = 0)`.
    pub fn from_setting(value: &Setting) -> Result<Schedule, String> {
        let (name, args) = match value {
            Setting::Call { name, args } => (name.as_str(), args.as_slice()),
            Setting::Name(name) => (name.as_str(), &[][..]),
            other => {
                return Err(format!(
                    "a schedule is `constant`, `step(every = .., gamma = ..)` or `cosine(..)`, not {other}"
                ));
            }
        };
        let arg = |key: &str| args.iter().find(|(k, _)| k.as_deref() == Some(key)).map(|(_, v)| v);
        if let Some((Some(key), _)) =
            args.iter().find(|(k, _)| !matches!(k.as_deref(), Some("every" | "gamma" | "min_lr")))
        {
            return Err(format!("`{name}` has no setting `{key}`"));
        }
        match name {
            "constant" => Ok(Schedule::Constant),
            "step" => {
                let every = match arg("every") {
                    Some(Setting::Int(n)) if *n >= 1 => *n as usize,
                    None => 1,
                    Some(v) => return Err(format!("`every` of `step` must be a whole number of epochs, not {v}")),
                };
                let gamma = match arg("gamma").map(number) {
                    None => 0.1,
                    Some(Some(g)) if g > 0.0 => g,
                    Some(_) => return Err("`gamma` of `step` must be a positive number".to_string()),
                };
                Ok(Schedule::Step { every, gamma })
            }
            "cosine" => match arg("min_lr").map(number) {
                None => Ok(Schedule::Cosine { min_lr: 0.0 }),
                Some(Some(m)) if m >= 0.0 => Ok(Schedule::Cosine { min_lr: m }),
                Some(_) => Err("`min_lr` of `cosine` must be a number of 0 or more".to_string()),
            },
            _ => Err(format!("unknown learning-rate schedule `{name}`; expected constant, step or cosine")),
        }
    }
}

/// How a rule with inverse parameters interleaves their updates with the
/// forward ones.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PhaseSchedule {
    /// Each epoch, one full pass of inverse updates over the mini-batches,
    /// then one full pass of forward updates (Lee et al.'s code).
    #[default]
    Alternating,
    /// Both kinds of update at every mini-batch.
    Parallel,
}

/// A training step: the model's graph with gradients and update nodes
/// appended. Running it means evaluating `loss`, the metrics and the
/// updates of a phase from the current parameters, then assigning them.
#[derive(Clone, Debug)]
pub struct StepGraph {
    pub graph: Graph,
    /// (parameter, its next value): model parameters and optimizer state,
    /// phase after phase.
    pub updates: Vec<(NodeId, NodeId)>,
    /// The phases in the order they run: each epoch is one full pass over
    /// the mini-batches per phase. A rule without inverse parameters (or
    /// with the `parallel` schedule) has one phase, `step`.
    pub phases: Vec<Phase>,
    /// Inputs the rule added (named `noise.<layer>`) that the driver fills
    /// with fresh standard normal draws before every step; the graph scales
    /// them. Random ops would give the same values at every step.
    pub noise: Vec<NodeId>,
    pub loss: NodeId,
    pub metrics: Vec<(String, NodeId)>,
}

/// One phase of a step: a name and its range of `StepGraph::updates`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Phase {
    pub name: &'static str,
    pub updates: std::ops::Range<usize>,
}

impl StepGraph {
    /// The updates `phase` assigns.
    pub fn updates_of(&self, phase: &Phase) -> &[(NodeId, NodeId)] {
        &self.updates[phase.updates.clone()]
    }
}

/// What a step needs to know about the run (for schedules).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunShape {
    pub steps_per_epoch: usize,
    pub epochs: usize,
}

/// Builds the training step of `model` under `rule` and `optimizer`, the
/// one optimizer of every parameter; the phases are the rule's.
pub fn build_step(
    model: &Model,
    rule: &dyn Rule,
    optimizer: &Optimizer,
    schedule: &Schedule,
    weight_decay: f64,
    run: RunShape,
) -> Result<StepGraph, LearnError> {
    let settings = StepSettings { forward: optimizer, inverse: optimizer, lr_schedule: schedule, weight_decay, run };
    assemble(model, rule, &settings)
}

/// Builds the training step of `model` under `rule` with the optimizers of
/// `config`: `optimizer` for backprop, `fa` and `dfa`; `forward` and
/// `inverse` for the target-propagation rules.
pub fn build_steps(
    model: &Model,
    rule: &dyn Rule,
    config: &TrainConfig,
    run: RunShape,
) -> Result<StepGraph, LearnError> {
    let forward = if rule.trains_inverses() { &config.forward } else { &config.optimizer };
    let settings = StepSettings {
        forward,
        inverse: &config.inverse,
        lr_schedule: &config.lr_schedule,
        weight_decay: config.weight_decay,
        run,
    };
    assemble(model, rule, &settings)
}

struct StepSettings<'a> {
    forward: &'a Optimizer,
    inverse: &'a Optimizer,
    lr_schedule: &'a Schedule,
    weight_decay: f64,
    run: RunShape,
}

/// The step graph: the rule's gradients, then one group of updates per
/// optimizer, each phase with a step counter of its own (`optimizer.step`
/// for the forward updates, `inverse.step` for an inverse phase), so the
/// learning-rate schedules count the phase's own steps.
fn assemble(model: &Model, rule: &dyn Rule, settings: &StepSettings) -> Result<StepGraph, LearnError> {
    let loss = model.loss.ok_or_else(|| LearnError::Model("the model has no `loss` to train".to_string()))?;
    let mut graph = model.graph.clone();
    let forward = rule.gradients(&mut graph, model)?;
    let mut b = Updates { graph, updates: Vec::new() };
    let mut phases = Vec::new();
    let schedule = if rule.trains_inverses() { Some(rule.schedule()) } else { None };
    match schedule {
        None => {
            if forward.is_empty() {
                return Err(LearnError::Model("the model has no trainable parameters".to_string()));
            }
            let step = b.state("optimizer.step", DType::F32, Shape::scalar())?;
            b.group(settings.forward, &forward, step, settings)?;
            b.count(step)?;
            phases.push(Phase { name: "step", updates: 0..b.updates.len() });
        }
        Some(PhaseSchedule::Parallel) => {
            let step = b.state("optimizer.step", DType::F32, Shape::scalar())?;
            let epoch = b.epoch(step, settings.run)?;
            let inverse = rule.inverse_gradients(&mut b.graph, model, epoch)?;
            if forward.is_empty() && inverse.is_empty() {
                return Err(LearnError::Model("the model has no trainable parameters".to_string()));
            }
            b.group(settings.forward, &forward, step, settings)?;
            b.group(settings.inverse, &inverse, step, settings)?;
            b.count(step)?;
            phases.push(Phase { name: "step", updates: 0..b.updates.len() });
        }
        Some(PhaseSchedule::Alternating) => {
            // Without inverses to train, the counter would be a parameter
            // of no use: the graph goes back to what it was.
            let before = b.graph.clone();
            let inverse_step = b.state("inverse.step", DType::F32, Shape::scalar())?;
            let epoch = b.epoch(inverse_step, settings.run)?;
            let inverse = rule.inverse_gradients(&mut b.graph, model, epoch)?;
            if forward.is_empty() && inverse.is_empty() {
                return Err(LearnError::Model("the model has no trainable parameters".to_string()));
            }
            if inverse.is_empty() {
                b.graph = before;
            } else {
                b.group(settings.inverse, &inverse, inverse_step, settings)?;
                b.count(inverse_step)?;
                phases.push(Phase { name: "inverse", updates: 0..b.updates.len() });
            }
            if !forward.is_empty() {
                let start = b.updates.len();
                let step = b.state("optimizer.step", DType::F32, Shape::scalar())?;
                b.group(settings.forward, &forward, step, settings)?;
                b.count(step)?;
                phases.push(Phase { name: "forward", updates: start..b.updates.len() });
            }
        }
    }
    let noise = b.graph.inputs().iter().copied().filter(|id| id.index() >= model.graph.len()).collect();
    Ok(StepGraph { graph: b.graph, updates: b.updates, phases, noise, loss, metrics: model.metrics.clone() })
}

/// Appends update nodes, with graph errors as internal errors.
struct Updates {
    graph: Graph,
    updates: Vec<(NodeId, NodeId)>,
}

fn internal(e: GraphError) -> LearnError {
    LearnError::Internal(e.message)
}

impl Updates {
    fn add(&mut self, op: Op, inputs: &[NodeId]) -> Result<NodeId, LearnError> {
        self.graph.add(op, inputs).map_err(internal)
    }

    fn op(&mut self, op: BinaryOp, a: NodeId, b: NodeId) -> Result<NodeId, LearnError> {
        self.add(Op::Binary(op), &[a, b])
    }

    fn unary(&mut self, op: UnaryOp, x: NodeId) -> Result<NodeId, LearnError> {
        self.add(Op::Unary(op), &[x])
    }

    fn constant(&mut self, value: f64, dtype: DType) -> Result<NodeId, LearnError> {
        self.add(Op::Constant { value: Scalar::Float(value), dtype }, &[])
    }

    /// A scalar constant of `like`'s element type.
    fn scalar(&mut self, value: f64, like: NodeId) -> Result<NodeId, LearnError> {
        let dtype = self.graph.ty(like).dtype;
        self.constant(value, dtype)
    }

    /// `x` (a scalar of another float type) in `like`'s element type.
    fn like(&mut self, x: NodeId, like: NodeId) -> Result<NodeId, LearnError> {
        let dtype = self.graph.ty(like).dtype;
        if self.graph.ty(x).dtype == dtype { Ok(x) } else { self.add(Op::Cast { dtype }, &[x]) }
    }

    /// A new optimizer-state parameter, zero at the start.
    fn state(&mut self, name: &str, dtype: DType, shape: Shape) -> Result<NodeId, LearnError> {
        self.graph.param(name, Type::new(dtype, shape), Init::Fill(0.0), true).map_err(internal)
    }

    /// A state slot shaped like `param`, named `<param>.<slot>`.
    fn slot(&mut self, param: NodeId, slot: &str) -> Result<NodeId, LearnError> {
        let name = match &self.graph.node(param).op {
            Op::Param { name, .. } => format!("{name}.{slot}"),
            _ => return Err(LearnError::Internal("only parameters are optimized".to_string())),
        };
        let ty = self.graph.ty(param).clone();
        self.state(&name, ty.dtype, ty.shape)
    }

    /// `decay·old + (1 − decay)·new`.
    fn average(&mut self, old: NodeId, new: NodeId, decay: f64) -> Result<NodeId, LearnError> {
        let d = self.scalar(decay, old)?;
        let rest = self.scalar(1.0 - decay, old)?;
        let kept = self.op(BinaryOp::Mul, d, old)?;
        let added = self.op(BinaryOp::Mul, rest, new)?;
        self.op(BinaryOp::Add, kept, added)
    }

    /// The updates of a group of parameters under one optimizer, whose
    /// learning rate comes from the counter `step`.
    fn group(
        &mut self,
        optimizer: &Optimizer,
        gradients: &[(NodeId, NodeId)],
        step: NodeId,
        settings: &StepSettings,
    ) -> Result<(), LearnError> {
        if gradients.is_empty() {
            return Ok(());
        }
        let lr = self.learning_rate(optimizer.lr(), settings.lr_schedule, step, settings.run)?;
        for &(param, gradient) in gradients {
            let gradient = if settings.weight_decay > 0.0 {
                let decay = self.scalar(settings.weight_decay, param)?;
                let term = self.op(BinaryOp::Mul, decay, param)?;
                self.op(BinaryOp::Add, gradient, term)?
            } else {
                gradient
            };
            self.optimize(optimizer, param, gradient, lr, step)?;
        }
        Ok(())
    }

    /// The counter's next value, `step + 1`.
    fn count(&mut self, step: NodeId) -> Result<(), LearnError> {
        let one = self.constant(1.0, DType::F32)?;
        let next_step = self.op(BinaryOp::Add, step, one)?;
        self.updates.push((step, next_step));
        Ok(())
    }

    /// The epoch of the counter `step`: ⌊step / steps_per_epoch⌋, in f32
    /// (casts truncate, and the counter is never negative).
    fn epoch(&mut self, step: NodeId, run: RunShape) -> Result<NodeId, LearnError> {
        let per_epoch = self.constant(run.steps_per_epoch.max(1) as f64, DType::F32)?;
        let ratio = self.op(BinaryOp::Div, step, per_epoch)?;
        let whole = self.add(Op::Cast { dtype: DType::I64 }, &[ratio])?;
        self.add(Op::Cast { dtype: DType::F32 }, &[whole])
    }

    /// The learning rate of the current step, from the step counter.
    fn learning_rate(
        &mut self,
        lr: f64,
        schedule: &Schedule,
        step: NodeId,
        run: RunShape,
    ) -> Result<NodeId, LearnError> {
        let base = self.constant(lr, DType::F32)?;
        let epoch = |b: &mut Updates| b.epoch(step, run);
        match schedule {
            Schedule::Constant => Ok(base),
            Schedule::Step { every, gamma } => {
                let e = epoch(self)?;
                let every = self.constant(*every as f64, DType::F32)?;
                let stages = self.op(BinaryOp::Div, e, every)?;
                let stages = self.add(Op::Cast { dtype: DType::I64 }, &[stages])?;
                let stages = self.add(Op::Cast { dtype: DType::F32 }, &[stages])?;
                let gamma = self.constant(*gamma, DType::F32)?;
                let factor = self.op(BinaryOp::Pow, gamma, stages)?;
                self.op(BinaryOp::Mul, base, factor)
            }
            Schedule::Cosine { min_lr } => {
                let e = epoch(self)?;
                let scale = self.constant(std::f64::consts::PI / run.epochs.max(1) as f64, DType::F32)?;
                let angle = self.op(BinaryOp::Mul, e, scale)?;
                let cos = self.unary(UnaryOp::Cos, angle)?;
                let one = self.constant(1.0, DType::F32)?;
                let half = self.constant(0.5 * (lr - min_lr), DType::F32)?;
                let rise = self.op(BinaryOp::Add, one, cos)?;
                let swing = self.op(BinaryOp::Mul, half, rise)?;
                let floor = self.constant(*min_lr, DType::F32)?;
                self.op(BinaryOp::Add, floor, swing)
            }
        }
    }

    /// The updates of one parameter (and its state) for a gradient.
    fn optimize(
        &mut self,
        optimizer: &Optimizer,
        param: NodeId,
        g: NodeId,
        lr: NodeId,
        step: NodeId,
    ) -> Result<(), LearnError> {
        let lr = self.like(lr, param)?;
        let direction = match *optimizer {
            Optimizer::Sgd { .. } => g,
            Optimizer::Momentum { momentum, nesterov, .. } => {
                let v = self.slot(param, "velocity")?;
                let mu = self.scalar(momentum, param)?;
                let kept = self.op(BinaryOp::Mul, mu, v)?;
                let v_next = self.op(BinaryOp::Add, kept, g)?;
                self.updates.push((v, v_next));
                if nesterov {
                    let ahead = self.op(BinaryOp::Mul, mu, v_next)?;
                    self.op(BinaryOp::Add, g, ahead)?
                } else {
                    v_next
                }
            }
            Optimizer::Adam { beta1, beta2, eps, .. } => {
                let m = self.slot(param, "m")?;
                let v = self.slot(param, "v")?;
                let m_next = self.average(m, g, beta1)?;
                let g2 = self.unary(UnaryOp::Square, g)?;
                let v_next = self.average(v, g2, beta2)?;
                self.updates.push((m, m_next));
                self.updates.push((v, v_next));
                // Bias correction with t = step + 1.
                let one = self.constant(1.0, DType::F32)?;
                let t = self.op(BinaryOp::Add, step, one)?;
                let t = self.like(t, param)?;
                let correct = |b: &mut Updates, beta: f64, x: NodeId| -> Result<NodeId, LearnError> {
                    let beta = b.scalar(beta, param)?;
                    let power = b.op(BinaryOp::Pow, beta, t)?;
                    let one = b.scalar(1.0, param)?;
                    let denominator = b.op(BinaryOp::Sub, one, power)?;
                    b.op(BinaryOp::Div, x, denominator)
                };
                let m_hat = correct(self, beta1, m_next)?;
                let v_hat = correct(self, beta2, v_next)?;
                let root = self.unary(UnaryOp::Sqrt, v_hat)?;
                let eps = self.scalar(eps, param)?;
                let denominator = self.op(BinaryOp::Add, root, eps)?;
                self.op(BinaryOp::Div, m_hat, denominator)?
            }
            Optimizer::RmsProp { decay, eps, momentum, centered, .. } => {
                let s = self.slot(param, "square_average")?;
                let g2 = self.unary(UnaryOp::Square, g)?;
                let s_next = self.average(s, g2, decay)?;
                self.updates.push((s, s_next));
                let variance = if centered {
                    let a = self.slot(param, "average")?;
                    let a_next = self.average(a, g, decay)?;
                    self.updates.push((a, a_next));
                    let a2 = self.unary(UnaryOp::Square, a_next)?;
                    self.op(BinaryOp::Sub, s_next, a2)?
                } else {
                    s_next
                };
                let eps = self.scalar(eps, param)?;
                let shifted = self.op(BinaryOp::Add, variance, eps)?;
                let root = self.unary(UnaryOp::Sqrt, shifted)?;
                let scaled = self.op(BinaryOp::Div, g, root)?;
                if momentum > 0.0 {
                    let buffer = self.slot(param, "velocity")?;
                    let mu = self.scalar(momentum, param)?;
                    let kept = self.op(BinaryOp::Mul, mu, buffer)?;
                    let next = self.op(BinaryOp::Add, kept, scaled)?;
                    self.updates.push((buffer, next));
                    next
                } else {
                    scaled
                }
            }
        };
        let delta = self.op(BinaryOp::Mul, lr, direction)?;
        let next = self.op(BinaryOp::Sub, param, delta)?;
        self.updates.push((param, next));
        Ok(())
    }
}
