//! `tx train`: builds the training step (rule + optimizer, as update
//! graphs), then drives it on the JIT (or the reference interpreter):
//! seeded shuffled mini-batches, one line per epoch (train loss and
//! accuracy, test accuracy), or one JSON line at the end. A loss that is not
//! finite stops training with the first node that produced a NaN or an
//! infinity.
//!
//! The pieces are shared with `tx rules` (`rules.rs`), which trains one
//! model by several rules in turn: [`config_for`] picks a rule's settings,
//! [`step_graph`] builds its step and [`drive`] runs it.

use std::path::Path;
use std::time::Instant;

use tx_data::{Dataset, Split};
use tx_ir::{DType, Model, NodeId, Op};
use tx_learn::{LearnError, StepGraph, TrainConfig};
use tx_tensor::Tensor;
use tx_tensor::rng::Rng;

use crate::Failure;
use crate::args::{Backend, TrainArgs};
use crate::commands::Source;

/// Test examples evaluated at once.
const EVAL_BATCH: usize = 1000;

pub fn train(args: &TrainArgs, model: &Model, source: &Source) -> Result<(), Failure> {
    let file = source.name.as_str();
    let overrides = Overrides { epochs: args.run.epochs, batch: args.run.batch, seed: args.run.seed };
    let config = config_for(model, args.rule.as_deref(), overrides)?;
    let rule = rule_of(&config)?;
    if model.loss.is_none() {
        return Err(Failure::user(format!("error: `{file}` has no `loss` to train")));
    }
    let split = load(&args.run.data)?;
    let data = bind(model, &split, file)?;
    let step = step_graph(model, rule.as_ref(), &config, split.train.len())
        .map_err(|e| Failure::user(format!("error: {e}")))?;
    // A progress bar only where a person watches; pipes and logs get lines.
    let report = Report {
        bar: !args.json && std::io::IsTerminal::is_terminal(&std::io::stderr()),
        lines: if args.json { Lines::Off } else { Lines::Stdout },
    };
    let options = RunOptions {
        level: args.opt.level.level(),
        backend: args.backend.backend,
        checkpoint: args.checkpoint.as_deref(),
        resume: args.resume.as_deref(),
        plot: args.plot.as_deref(),
        report,
    };
    let trained = match drive(model, source, &config, &step, &data, &options)? {
        Ended::Trained(trained) => trained,
        Ended::Diverged(divergence) => return Err(Failure::user(divergence.message)),
    };
    if args.json {
        let last = &trained.last;
        let number = |v: Option<f64>| v.filter(|x| x.is_finite()).map_or("null".to_string(), |x| format!("{x}"));
        crate::commands::write_line(&format!(
            "{{\"epochs\": {}, \"train_loss\": {}, \"train_accuracy\": {}, \"test_accuracy\": {}, \"seconds\": {}, \"steps_per_second\": {}}}",
            last.epoch,
            number(Some(last.train_loss)),
            number(last.train_accuracy),
            number(last.test_accuracy),
            number(Some(trained.seconds)),
            number(Some(trained.steps_per_second())),
        ));
    }
    Ok(())
}

/// Settings the command line gives every rule alike, over those of the
/// `train` block.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Overrides {
    pub(crate) epochs: Option<usize>,
    pub(crate) batch: Option<usize>,
    pub(crate) seed: Option<u64>,
}

/// The settings of a run by `rule` (or, without one, by the rule of the
/// model's first `train` block): the block [`Model::train_block`] picks,
/// checked when the program was compiled, or the defaults; then the
/// overrides.
pub(crate) fn config_for(model: &Model, rule: Option<&str>, overrides: Overrides) -> Result<TrainConfig, Failure> {
    let mut config = match model.train_block(rule) {
        Some(spec) => tx_learn::read_spec(spec).map_err(|errors| {
            Failure::user(errors.into_iter().map(|e| format!("error: {}\n", e.message)).collect::<String>())
        })?,
        None => TrainConfig::default_for("backprop"),
    };
    if let Some(rule) = rule {
        config.rule = rule.to_string();
    }
    if let Some(epochs) = overrides.epochs {
        config.epochs = epochs.max(1);
    }
    if let Some(batch) = overrides.batch {
        config.batch = batch.max(1);
    }
    if let Some(seed) = overrides.seed {
        config.seed = seed;
    }
    Ok(config)
}

/// The rule `config` names, with its settings, or why it cannot train.
pub(crate) fn rule_of(config: &TrainConfig) -> Result<Box<dyn tx_learn::Rule>, Failure> {
    let name = config.rule.as_str();
    tx_learn::rule_for(config).ok_or_else(|| {
        let known = tx_learn::spec::RULES.join(", ");
        Failure::usage(format!("error: --rule {name}: unknown learning rule; expected one of {known}"))
    })
}

/// The training step of `rule` under `config`, for a run over `rows`
/// training examples (the learning-rate schedules count its steps).
pub(crate) fn step_graph(
    model: &Model,
    rule: &dyn tx_learn::Rule,
    config: &TrainConfig,
    rows: usize,
) -> Result<StepGraph, LearnError> {
    let run = tx_learn::RunShape { steps_per_epoch: rows.div_ceil(config.batch), epochs: config.epochs };
    tx_learn::build_steps(model, rule, config, run)
}

/// The data a run trains on, and the model's inputs that receive it.
pub(crate) struct Data<'a> {
    pub(crate) split: &'a Split,
    /// The features input and its element type.
    pub(crate) x: (String, DType),
    /// The labels input.
    pub(crate) y: String,
}

/// Binds the model's inputs to the data (see [`bind_inputs`]).
pub(crate) fn bind<'a>(model: &Model, split: &'a Split, file: &str) -> Result<Data<'a>, Failure> {
    let (x_name, y_name) = bind_inputs(model, &split.train, file)?;
    let x_dtype = input_dtype(model, &x_name);
    Ok(Data { split, x: (x_name, x_dtype), y: y_name })
}

/// How a run shows its progress.
pub(crate) struct Report {
    /// A progress bar on stderr, redrawn during each epoch.
    pub(crate) bar: bool,
    /// Where each epoch's line goes.
    pub(crate) lines: Lines,
}

/// Where a run writes one line per epoch.
pub(crate) enum Lines {
    Off,
    Stdout,
    /// On stderr, after a prefix (`tx rules`: the rule's name), so that
    /// stdout keeps only the results.
    Stderr(String),
}

/// What a run does besides training.
pub(crate) struct RunOptions<'a> {
    pub(crate) level: tx_opt::Level,
    pub(crate) backend: Backend,
    /// Parameters and optimizer state written after every epoch.
    pub(crate) checkpoint: Option<&'a Path>,
    /// A checkpoint the run continues from.
    pub(crate) resume: Option<&'a Path>,
    /// Learning curves drawn after every epoch.
    pub(crate) plot: Option<&'a Path>,
    pub(crate) report: Report,
}

/// How a run ended.
pub(crate) enum Ended {
    Trained(Trained),
    /// The loss stopped being finite.
    Diverged(Divergence),
}

/// A run that trained every epoch.
#[derive(Clone, Debug)]
pub(crate) struct Trained {
    /// The last epoch's numbers.
    pub(crate) last: Epoch,
    /// The time spent in the epochs (after compiling).
    pub(crate) seconds: f64,
    pub(crate) steps: usize,
}

impl Trained {
    pub(crate) fn steps_per_second(&self) -> f64 {
        self.steps as f64 / self.seconds.max(1e-9)
    }
}

/// Where a loss stopped being finite.
#[derive(Clone, Debug)]
pub(crate) struct Divergence {
    /// 1-based.
    pub(crate) epoch: usize,
    /// Steps done before it, over every phase.
    pub(crate) step: usize,
    pub(crate) loss: f64,
    /// The whole report: the epoch and step, and the first node that
    /// produced a NaN or an infinity, shown in the source.
    pub(crate) message: String,
}

/// Trains `model` by `step` (built from `config`) on `data`: each phase
/// of the step optimized and compiled once, then the epochs, each one
/// pass over seeded shuffled mini-batches per phase, with the test metric
/// after each.
pub(crate) fn drive(
    model: &Model,
    source: &Source,
    config: &TrainConfig,
    step: &StepGraph,
    data: &Data,
    options: &RunOptions,
) -> Result<Ended, Failure> {
    let file = source.name.as_str();
    let split = data.split;
    let (x_name, x_dtype) = (&data.x.0, data.x.1);
    let y_name = &data.y;
    let Some(loss) = model.loss else {
        return Err(Failure::user(format!("error: `{file}` has no `loss` to train")));
    };
    let n = split.train.len();
    let steps_per_epoch = n.div_ceil(config.batch);
    let mut params = tx_interp::init_params(&step.graph);
    let accuracy = model.metrics.iter().position(|(name, _)| name == "accuracy");
    // Each phase of the step and the test-set graph are optimized once,
    // before the loop.
    let level = options.level;
    let backend = options.backend;
    let runtime = |e: tx_interp::EvalError| Failure::user(format!("error: {e}"));
    let mut phases = Vec::with_capacity(step.phases.len());
    for phase in &step.phases {
        let updates = step.updates_of(phase).to_vec();
        let mut roots = vec![step.loss];
        roots.extend(step.metrics.iter().map(|(_, id)| *id));
        roots.extend(updates.iter().map(|(_, value)| *value));
        let live = step.graph.reachable_from(&roots);
        let noise = step.noise.iter().copied().filter(|id| live[id.index()]).collect();
        let optimized = crate::commands::optimize(&step.graph, &roots, level)?;
        phases.push(PhaseRun { updates, noise, optimized });
    }
    let mut engines = Vec::with_capacity(phases.len());
    for phase in &phases {
        let optimized = &phase.optimized;
        engines
            .push(crate::commands::Engine::new(backend, &optimized.graph, &optimized.roots, false).map_err(runtime)?);
    }
    let test_graph = match accuracy {
        Some(i) => Some(crate::commands::optimize(&model.graph, &[model.metrics[i].1], level)?),
        None => None,
    };
    let mut history: Vec<Epoch> = Vec::new();
    if let Some(path) = options.resume {
        history = resume(path, &mut params)?;
    }

    let mut test_engine = match &test_graph {
        Some(test) => Some(crate::commands::Engine::new(backend, &test.graph, &test.roots, false).map_err(runtime)?),
        None => None,
    };
    let started = Instant::now();
    let mut steps = 0usize;
    let show_progress = options.report.bar;
    let mut summary = history.last().cloned().unwrap_or_default();
    let phase_count = phases.len();
    for epoch in history.len()..config.epochs {
        // One generator per epoch: an epoch's order depends only on the seed
        // and the epoch's number. Every phase passes over the same order.
        let mut rng = Rng::new(config.seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let order = shuffled(n, &mut rng);
        // The train loss and accuracy are those of the last phase (the
        // forward updates, when the inverse ones run apart).
        let (mut loss_sum, mut accuracy_sum) = (0.0, 0.0);
        for (phase_index, (phase, engine)) in phases.iter().zip(&mut engines).enumerate() {
            (loss_sum, accuracy_sum) = (0.0, 0.0);
            for (batch_index, rows) in order.chunks(config.batch).enumerate() {
                if show_progress {
                    progress(
                        epoch + 1,
                        config.epochs,
                        phase_index * steps_per_epoch + batch_index,
                        phase_count * steps_per_epoch,
                        loss_sum / (batch_index * config.batch).max(1) as f64,
                    );
                }
                let batch = split.train.select(rows);
                let (x, y) = tensors(&batch, x_dtype);
                // Fresh noise for every step, from the seed and the step's
                // place in the run alone, so that a resumed run draws the
                // same numbers.
                let place = ((epoch * phase_count + phase_index) * steps_per_epoch + batch_index) as u64;
                let noise = noise_tensors(&step.graph, &phase.noise, rows.len(), config.seed, place);
                let refs: Vec<(&str, &Tensor)> = params.iter().map(|(n, t)| (n.as_str(), t)).collect();
                let mut inputs = vec![(x_name.as_str(), &x), (y_name.as_str(), &y)];
                inputs.extend(noise.iter().map(|(name, t)| (name.as_str(), t)));
                let values = engine
                    .run(&inputs, &refs)
                    .map_err(|e| Failure::user(format!("error: training step {steps}: {e}")))?;
                let batch_loss = scalar(&values[0]);
                if !batch_loss.is_finite() {
                    if show_progress {
                        crate::write_stderr("\r\x1b[2K");
                    }
                    let mut message = format!("error: the loss is {batch_loss} at epoch {}, step {steps}\n", epoch + 1);
                    // The graph as written names the primitive op at fault; the
                    // optimized one only when the graph as written stays finite.
                    let optimized = &phase.optimized;
                    let culprit = first_non_finite(&step.graph, &inputs, &refs, loss)
                        .map(|found| (&step.graph, found))
                        .or_else(|| {
                            first_non_finite(&optimized.graph, &inputs, &refs, optimized.roots[0])
                                .map(|found| (&optimized.graph, found))
                        });
                    if let Some((graph, (id, origin))) = culprit {
                        let node = graph.node(id);
                        let text =
                            format!("`{}` ({}) is the first to produce a NaN or an infinity", node.op.name(), node.ty);
                        message.push_str(&match origin {
                            Some(o) => {
                                let span = tx_syntax::ast::Span::new(o.start, o.end);
                                tx_syntax::render(&tx_syntax::Diagnostic::error(span, text), file, &source.text)
                            }
                            None => format!("note: node {id}, {text}\n"),
                        });
                    }
                    return Ok(Ended::Diverged(Divergence {
                        epoch: epoch + 1,
                        step: steps,
                        loss: batch_loss,
                        message,
                    }));
                }
                loss_sum += batch_loss * rows.len() as f64;
                if let Some(i) = accuracy {
                    accuracy_sum += scalar(&values[1 + i]) * rows.len() as f64;
                }
                let updates = values.into_iter().skip(1 + step.metrics.len());
                for ((target, _), value) in phase.updates.iter().zip(updates) {
                    if let Op::Param { name, .. } = &step.graph.node(*target).op
                        && let Some(slot) = params.iter_mut().find(|(n, _)| n == name)
                    {
                        slot.1 = value;
                    }
                }
                steps += 1;
            }
        }
        let test_accuracy = match &mut test_engine {
            Some(test) => Some(evaluate_metric(test, &params, &split.test, (x_name, y_name), x_dtype)?),
            None => None,
        };
        summary = Epoch {
            epoch: epoch + 1,
            train_loss: loss_sum / n as f64,
            train_accuracy: accuracy.map(|_| accuracy_sum / n as f64),
            test_accuracy,
        };
        if show_progress {
            crate::write_stderr("\r\x1b[2K");
        }
        history.push(summary.clone());
        if let Some(path) = options.checkpoint {
            save(path, &params, &history)?;
        }
        if let Some(path) = options.plot {
            let svg = crate::plot::learning_curves(&history);
            tx_data::npy::write_atomically(path, svg.as_bytes())
                .map_err(|e| Failure::user(format!("error: cannot write `{}`: {e}", path.display())))?;
        }
        let line = || {
            let seconds = started.elapsed().as_secs_f64();
            format!(
                "epoch {}/{}: train loss {:.4}{}{} ({seconds:.1} s)",
                summary.epoch,
                config.epochs,
                summary.train_loss,
                summary.train_accuracy.map_or(String::new(), |a| format!(", train accuracy {a:.4}")),
                summary.test_accuracy.map_or(String::new(), |a| format!(", test accuracy {a:.4}")),
            )
        };
        match &options.report.lines {
            Lines::Off => {}
            Lines::Stdout => crate::commands::write_line(&line()),
            Lines::Stderr(prefix) => crate::write_stderr(&format!("{prefix}{}\n", line())),
        }
    }
    Ok(Ended::Trained(Trained { last: summary, seconds: started.elapsed().as_secs_f64(), steps }))
}

/// One phase of the step, optimized: what it updates and the noise inputs
/// it reads.
struct PhaseRun {
    updates: Vec<(NodeId, NodeId)>,
    noise: Vec<NodeId>,
    optimized: tx_opt::Optimized,
}

/// Standard normal draws for each noise input of a step (`rows` examples
/// fill its symbolic batch dimension), from the run's seed and the step's
/// place in the run: the same step of a resumed run gets the same numbers.
fn noise_tensors(graph: &tx_ir::Graph, noise: &[NodeId], rows: usize, seed: u64, place: u64) -> Vec<(String, Tensor)> {
    let mut rng = Rng::new(seed ^ 0xD1B5_4A32_D192_ED03 ^ place.wrapping_mul(0xA24B_AED4_963E_E407));
    noise
        .iter()
        .filter_map(|&id| {
            let Op::Input { name, ty } = &graph.node(id).op else { return None };
            let shape: Vec<usize> = ty.shape.0.iter().map(|d| d.known().unwrap_or(rows)).collect();
            let count: usize = shape.iter().product();
            let mut values = Vec::with_capacity(count + 1);
            while values.len() < count {
                // Box-Muller, both values of each pair.
                let radius = (-2.0 * (1.0 - rng.uniform()).ln()).sqrt();
                let angle = 2.0 * std::f64::consts::PI * rng.uniform();
                values.push(radius * angle.cos());
                values.push(radius * angle.sin());
            }
            values.truncate(count);
            Tensor::from_f64s(ty.dtype, &shape, &values).map(|t| (name.clone(), t))
        })
        .collect()
}

/// What one epoch measured.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Epoch {
    pub(crate) epoch: usize,
    pub(crate) train_loss: f64,
    pub(crate) train_accuracy: Option<f64>,
    pub(crate) test_accuracy: Option<f64>,
}

/// One line of progress, redrawn in place on the terminal.
fn progress(epoch: usize, epochs: usize, done: usize, total: usize, loss: f64) {
    const WIDTH: usize = 30;
    let filled = WIDTH * done / total.max(1);
    let loss = if done == 0 { String::new() } else { format!(" loss {loss:.4}") };
    crate::write_stderr(&format!(
        "\repoch {epoch}/{epochs} [{}{}] {done}/{total}{loss}",
        "#".repeat(filled),
        "-".repeat(WIDTH - filled)
    ));
}

/// Checkpoint names that are not parameters (a program's names have no dots).
const EPOCHS: &str = "tx.epochs";
const CURVES: &str = "tx.curves";

/// Every parameter and optimizer state by name, the epochs done, and the
/// curves so far (rows: train loss, train accuracy, test accuracy; NaN for
/// a metric the model lacks).
fn save(path: &Path, params: &[(String, Tensor)], history: &[Epoch]) -> Result<(), Failure> {
    let epochs = Tensor::I64(ndarray::ArrayD::from_elem(ndarray::IxDyn(&[]), history.len() as i64));
    let mut curves = Vec::with_capacity(3 * history.len());
    curves.extend(history.iter().map(|e| e.train_loss));
    curves.extend(history.iter().map(|e| e.train_accuracy.unwrap_or(f64::NAN)));
    curves.extend(history.iter().map(|e| e.test_accuracy.unwrap_or(f64::NAN)));
    let curves = Tensor::F64(
        ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&[3, history.len()]), curves).expect("three rows of epochs"),
    );
    let mut arrays: Vec<(&str, &Tensor)> = params.iter().map(|(n, t)| (n.as_str(), t)).collect();
    arrays.push((EPOCHS, &epochs));
    arrays.push((CURVES, &curves));
    tx_data::npz::write_file(path, &arrays).map_err(|e| Failure::user(format!("error: {e}")))
}

/// Loads a checkpoint into `params` (every one must be there, with its
/// type) and returns the epochs already done.
fn resume(path: &Path, params: &mut [(String, Tensor)]) -> Result<Vec<Epoch>, Failure> {
    let arrays = tx_data::npz::read_file(path).map_err(|e| Failure::user(format!("error: --resume: {e}")))?;
    let find = |name: &str| arrays.iter().find(|(n, _)| n == name).map(|(_, t)| t);
    let mismatch =
        |why: String| Failure::user(format!("error: --resume `{}` does not fit this model: {why}", path.display()));
    for (name, value) in params.iter_mut() {
        let saved = find(name).ok_or_else(|| mismatch(format!("it has no `{name}`")))?;
        if saved.ty() != value.ty() {
            return Err(mismatch(format!(
                "`{name}` is {} in the model but {} in the checkpoint",
                value.ty(),
                saved.ty()
            )));
        }
        *value = saved.clone();
    }
    let epochs = match find(EPOCHS) {
        Some(Tensor::I64(a)) if a.len() == 1 && a.iter().all(|&e| e >= 0) => {
            a.iter().next().copied().unwrap_or(0) as usize
        }
        _ => return Err(mismatch(format!("it has no `{EPOCHS}` count"))),
    };
    let curves = match find(CURVES) {
        Some(t @ Tensor::F64(_)) if t.shape() == [3, epochs] => t.to_f64s(),
        _ => return Err(mismatch(format!("its `{CURVES}` are not 3 rows of {epochs} epochs"))),
    };
    let metric = |v: f64| (!v.is_nan()).then_some(v);
    Ok((0..epochs)
        .map(|e| Epoch {
            epoch: e + 1,
            train_loss: curves[e],
            train_accuracy: metric(curves[epochs + e]),
            test_accuracy: metric(curves[2 * epochs + e]),
        })
        .collect())
}

pub(crate) fn load(data: &str) -> Result<Split, Failure> {
    if data == "digits" {
        return tx_data::digits_split().map_err(|e| Failure::user(format!("error: {e}")));
    }
    let loaded = if let Some(dir) = data.strip_prefix("mnist:") {
        tx_data::mnist::mnist(Path::new(dir))
    } else if let Some(path) = data.strip_prefix("csv:") {
        tx_data::tables::csv(Path::new(path))
    } else if let Some(path) = data.strip_prefix("npz:") {
        tx_data::tables::npz(Path::new(path))
    } else {
        return Err(Failure::usage(format!(
            "error: --data {data}: expected `digits`, `mnist:DIR`, `csv:PATH` or `npz:PATH`"
        )));
    };
    loaded.map_err(|e| Failure::user(format!("error: --data {data}: {e}")))
}

/// The model's features input (a float `[B, F]` with F the data's feature
/// count) and labels input (an i64 `[B]`), checked before training starts.
fn bind_inputs(model: &Model, data: &Dataset, file: &str) -> Result<(String, String), Failure> {
    let graph = &model.graph;
    let inputs: Vec<(&str, &tx_ir::Type)> = graph
        .inputs()
        .iter()
        .filter_map(|&id| match &graph.node(id).op {
            Op::Input { name, ty } => Some((name.as_str(), ty)),
            _ => None,
        })
        .collect();
    let features: Vec<_> = inputs.iter().filter(|(_, t)| t.dtype.is_float()).collect();
    let labels: Vec<_> = inputs.iter().filter(|(_, t)| t.dtype == DType::I64).collect();
    let ([(x, x_ty)], [(y, y_ty)]) = (features.as_slice(), labels.as_slice()) else {
        return Err(Failure::user(format!(
            "error: `{file}` must declare two inputs to train on a data set: features (f32[B, F]) and integer labels (i64[B])"
        )));
    };
    let width = data.x.ncols();
    let fits_x = x_ty.rank() == 2 && x_ty.shape.0[1] == tx_ir::Dim::Known(width) && x_ty.shape.0[0].known().is_none();
    if !fits_x {
        return Err(Failure::user(format!(
            "error: the data has {width} features per example, but input `{x}` is {x_ty}; declare it as {}[B, {width}]",
            x_ty.dtype
        )));
    }
    if y_ty.rank() != 1 || y_ty.shape.0[0] != x_ty.shape.0[0] {
        return Err(Failure::user(format!(
            "error: input `{y}` holds one label per example and must be i64[{}], but it is {y_ty}",
            x_ty.shape.0[0]
        )));
    }
    Ok((x.to_string(), y.to_string()))
}

fn input_dtype(model: &Model, name: &str) -> DType {
    model.graph.input_named(name).map_or(DType::F32, |id| model.graph.ty(id).dtype)
}

fn tensors(data: &Dataset, x_dtype: DType) -> (Tensor, Tensor) {
    let x = Tensor::F32(data.x.clone().into_dyn()).cast(x_dtype);
    (x, Tensor::I64(data.y.clone().into_dyn()))
}

fn scalar(t: &Tensor) -> f64 {
    t.to_f64s().first().copied().unwrap_or(f64::NAN)
}

fn shuffled(n: usize, rng: &mut Rng) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        order.swap(i, j);
    }
    order
}

/// A metric of the forward graph over a whole data set, in batches,
/// weighted by batch size.
fn evaluate_metric(
    engine: &mut crate::commands::Engine,
    params: &[(String, Tensor)],
    data: &Dataset,
    (x_name, y_name): (&str, &str),
    x_dtype: DType,
) -> Result<f64, Failure> {
    let refs: Vec<(&str, &Tensor)> = params.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let mut total = 0.0;
    for start in (0..data.len()).step_by(EVAL_BATCH) {
        let rows: Vec<usize> = (start..(start + EVAL_BATCH).min(data.len())).collect();
        let (x, y) = tensors(&data.select(&rows), x_dtype);
        let value = engine
            .run(&[(x_name, &x), (y_name, &y)], &refs)
            .map_err(|e| Failure::user(format!("error: evaluating the test set: {e}")))?;
        total += scalar(&value[0]) * rows.len() as f64;
    }
    Ok(total / data.len().max(1) as f64)
}

/// The first node (in evaluation order) of the loss's graph whose value
/// holds a NaN or an infinity, with where it came from: Theano's
/// NanGuardMode, run only once training has gone wrong.
fn first_non_finite(
    graph: &tx_ir::Graph,
    inputs: &[(&str, &Tensor)],
    params: &[(&str, &Tensor)],
    loss: NodeId,
) -> Option<(NodeId, Option<tx_ir::Origin>)> {
    let live = graph.reachable_from(&[loss]);
    let nodes: Vec<NodeId> = graph.ids().filter(|id| live[id.index()] && graph.ty(*id).dtype.is_float()).collect();
    let values = tx_interp::evaluate(graph, inputs, params, &nodes).ok()?;
    nodes.iter().zip(values).find_map(|(id, value)| {
        let bad = match &value {
            Tensor::F32(a) => a.iter().any(|v| !v.is_finite()),
            Tensor::F64(a) => a.iter().any(|v| !v.is_finite()),
            Tensor::I64(_) | Tensor::Bool(_) => false,
        };
        bad.then(|| (*id, graph.origin(*id)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each step draws its own noise, the same for the same step of any run.
    #[test]
    fn noise_is_fresh_at_every_step_and_the_same_when_repeated() {
        let mut graph = tx_ir::Graph::new();
        let ty = tx_ir::Type::new(DType::F32, tx_ir::Shape(vec![tx_ir::Dim::sym("B"), tx_ir::Dim::Known(3)]));
        let a = graph.input("noise.h2", ty.clone()).unwrap();
        let b = graph.input("noise.h3", ty).unwrap();
        let draw = |place| noise_tensors(&graph, &[a, b], 5, 7, place);
        let first = draw(0);
        assert_eq!(
            first.iter().map(|(n, t)| (n.as_str(), t.shape().to_vec())).collect::<Vec<_>>(),
            [("noise.h2", vec![5, 3]), ("noise.h3", vec![5, 3])]
        );
        assert_eq!(first, draw(0));
        assert_ne!(first, draw(1));
        assert_ne!(first[0].1, first[1].1, "each input its own numbers");
        assert_ne!(first, noise_tensors(&graph, &[a, b], 5, 8, 0), "another seed");
        let values: Vec<f64> = (0..200).flat_map(draw).flat_map(|(_, t)| t.to_f64s()).collect();
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64;
        assert!(mean.abs() < 0.05 && (variance - 1.0).abs() < 0.05, "standard normal: {mean} {variance}");
    }
}
